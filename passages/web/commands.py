"""``passages serve`` and ``passages users``: the service from the command line.

The commands import the web stack only when they run, so the rest of ``passages`` starts
as fast as before.
"""

from __future__ import annotations

from typing import Annotated

import typer

users_app = typer.Typer(help="Accounts of the planning service: add, list, disable, enable, reset.",
                        no_args_is_help=True)

Database = Annotated[str, typer.Option("--database", envvar="PASSAGES_DATABASE", show_envvar=True,
                                       help="Store URL: sqlite:///data/passages.db (default) or "
                                            "postgresql+psycopg://user@host/db.")]
DEFAULT_DATABASE = "sqlite:///data/passages.db"


def _store(database: str):  # type: ignore[no-untyped-def]
    from passages.web.store import Store

    store = Store(database)
    store.migrate()
    return store


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="1-64 letters, digits, '.', '_' or '-'.")],
    role: Annotated[str, typer.Option("--role", help="admin, planner, command or officer.")],
    area: Annotated[list[str] | None, typer.Option("--area", help="An area an officer is assigned to; repeatable.")]
    = None,
    database: Database = DEFAULT_DATABASE,
) -> None:
    """Add an account and print its one-time password (shown once; changed at first login)."""
    from passages.areas import load_areas
    from passages.web import auth

    known = load_areas()
    for slug in area or []:
        if slug not in known:
            from passages._errors import UnknownAreaError

            raise UnknownAreaError(f"unknown area {slug!r}", field="--area", fix="See 'passages areas'.")
    store = _store(database)
    with store.session() as session:
        _user, password = auth.add_user(session, username, role, areas=tuple(area or ()), by="command line")
    typer.echo(f"added {username} ({role}); one-time password: {password}")


@users_app.command("list")
def users_list(database: Database = DEFAULT_DATABASE) -> None:
    """List the accounts: name, role, areas, state."""
    from sqlalchemy import select

    from passages.web.models import User

    store = _store(database)
    with store.session() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        for user in users:
            state = "disabled" if user.disabled else ("locked" if user.locked_until else "active")
            areas = ",".join(user.area_slugs) or "-"
            typer.echo(f"{user.username}\t{user.role}\t{areas}\t{state}")


@users_app.command("disable")
def users_disable(username: str, database: Database = DEFAULT_DATABASE) -> None:
    """Disable an account and end its sessions."""
    from passages.web import auth

    with _store(database).session() as session:
        auth.set_disabled(session, username, True, by="command line")
    typer.echo(f"disabled {username}")


@users_app.command("enable")
def users_enable(username: str, database: Database = DEFAULT_DATABASE) -> None:
    """Enable a disabled account."""
    from passages.web import auth

    with _store(database).session() as session:
        auth.set_disabled(session, username, False, by="command line")
    typer.echo(f"enabled {username}")


@users_app.command("reset")
def users_reset(username: str, database: Database = DEFAULT_DATABASE) -> None:
    """Give an account a new one-time password (printed once), lift its lock, end its sessions."""
    from passages.web import auth

    with _store(database).session() as session:
        password = auth.reset_password(session, username, by="command line")
    typer.echo(f"reset {username}; one-time password: {password}")


def ensure_first_admin(store: object) -> str | None:
    """Create the account ``admin`` if the store has no admin; return its one-time password (else ``None``)."""
    from sqlalchemy import select

    from passages.web import auth
    from passages.web.models import User
    from passages.web.store import Store

    assert isinstance(store, Store)
    with store.session() as session:
        if session.scalar(select(User).where(User.role == "admin")) is not None:
            return None
        _user, password = auth.add_user(session, "admin", "admin", by="first start")
    return password

