"""Languages of the outputs people read: English and Spanish, from gettext catalogues.

Spanish is the first language of most families around the CSP sites, so every output meant
for them comes in both. The words live in gettext catalogues, not in code:
``passages/locale/passages.pot`` (the English messages, extracted from the code with
``pybabel extract``: see ``passages/locale/README.md``) and one
``passages/locale/<lang>/LC_MESSAGES/passages.po`` per language, read with Babel.

Code marks a message by calling the function :func:`translator` returns, named ``_`` so
that ``pybabel extract`` finds it (a constant defined before any language is known is
marked with :func:`N_` and translated where it is shown)::

    _ = translator(lang)
    title = _("Safe Passages")
    note = _("{n} schools").format(n=3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from passages._errors import InputError

#: Languages offered (ISO 639-1); the first is the language of the code's messages.
LANGUAGES = ("en", "es")

#: Where the catalogues are.
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

#: The gettext domain (file name of the catalogues).
DOMAIN = "passages"


def check_lang(lang: str | None) -> str:
    """Return a language code of :data:`LANGUAGES` (default English); InputError for another one."""
    code = (lang or LANGUAGES[0]).strip().lower()
    if code not in LANGUAGES:
        raise InputError(f"language {lang!r} is not offered", field="lang",
                         fix=f"Give one of: {', '.join(LANGUAGES)}.")
    return code


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """Return the translations of one language: English message -> translated message.

    English has none (its messages are the code's). A message without a translation in
    the catalogue is left out, so it reads in English.
    """
    from babel.messages.pofile import read_po  # only when a translated output is made

    code = check_lang(lang)
    if code == LANGUAGES[0]:
        return {}
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        read = read_po(handle, locale=code, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in read if m.id and isinstance(m.id, str) and m.string
            and not m.fuzzy}


def translator(lang: str | None) -> Callable[[str], str]:
    """Return the function that translates a message into ``lang`` (English: as it is)."""
    table = catalogue(check_lang(lang))
    if not table:
        return str
    return lambda message: table.get(message, message)


def N_(message: str) -> str:  # noqa: N802 (the gettext name pybabel looks for)
    """Mark a message for the catalogues where it is defined (a constant); translate it where it is shown."""
    return message


def english_messages() -> set[str]:
    """Return every message of the template catalogue (the English words of all outputs)."""
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as handle:
        return {str(m.id) for m in read_po(handle) if m.id and isinstance(m.id, str)}
