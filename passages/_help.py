"""Clean ``--help`` pages: value names (``FILE``, ``SLUG``), never type markers like ``<path>``.

Typer shows each option's type as ``<str>``, ``<bool>`` or ``<list[Path]>`` unless the
option has a ``metavar``. The command classes here give every parameter without one a
plain name: none for a flag (``--offline``, ``--help``), the option's own name in capitals
otherwise (``--role ROLE``), and write required arguments as ``FILE`` rather than ``{file}``
in the usage line. ``passages.cli`` names the values of its own options (``--area SLUG``).
"""

from __future__ import annotations

from typing import Any

from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["CleanCommand", "CleanGroup", "plain_metavar"]


def plain_metavar(param: Any) -> None:
    """Give ``param`` a plain value name in place of its type marker (nothing for a flag)."""
    if getattr(param, "metavar", None) is not None:
        pass
    elif isinstance(param, TyperOption) and (param.is_flag or param.count):
        param.metavar = ""
    elif isinstance(param, TyperOption | TyperArgument):
        name = param.name or "value"
        param.metavar = name.upper().replace("_", "-")
    if isinstance(param, TyperArgument):
        # an argument's help row shows its value name and, beside it, its type: not the type
        param.display_type_rich = _no_type  # type: ignore[method-assign]


def _no_type(ctx: _click.Context) -> None:
    return None


class CleanCommand(TyperCommand):
    """A Typer command whose help shows value names, never ``<type>`` markers."""

    def get_params(self, ctx: _click.Context) -> list[Any]:
        """Return the parameters (with ``--help``), each given a plain value name."""
        params: list[Any] = super().get_params(ctx)
        for param in params:
            plain_metavar(param)
        return params

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        """Return the usage line's pieces: ``[OPTIONS]`` then each argument by its value name."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class CleanGroup(TyperGroup):
    """A Typer group whose own help shows value names, never ``<type>`` markers."""

    def get_params(self, ctx: _click.Context) -> list[Any]:
        """Return the group's parameters (with ``--help``), each given a plain value name."""
        params: list[Any] = super().get_params(ctx)
        for param in params:
            plain_metavar(param)
        return params
