"""The store of the planning service: one SQLAlchemy engine, migrated by Alembic.

SQLite is the embedded default (one file under ``data/``, write-ahead log, foreign keys on,
a busy timeout so the worker processes and the web process can share it); PostgreSQL is
the scale-up (``postgresql+psycopg://...``) with the same models and migrations. SQL is
only ever built by SQLAlchemy with bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from passages._errors import InputError

__all__ = ["Store", "migration_config"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migration_config(url: str) -> Config:
    """Return the Alembic configuration of the service's migrations for the database ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """The service's database: an engine, sessions, and the schema kept up to date.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///data/passages.db`` or ``postgresql+psycopg://...``.

    Raises
    ------
    InputError
        The URL is not one SQLAlchemy can use (the message never repeats a password).
    """

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InputError("not a database URL", field="--database",
                             fix="Give sqlite:///data/passages.db or postgresql+psycopg://user@host/db.") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise InputError(f"database {parsed.get_backend_name()!r} is not supported", field="--database",
                             fix="Use SQLite (the default) or PostgreSQL.")
        self.url = url
        self.safe_url = parsed.render_as_string(hide_password=True)
        options: dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **options)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic ``upgrade head``).

        Raises
        ------
        InputError
            The database cannot be reached or opened.
        """
        try:
            with self.engine.begin() as connection:
                config = migration_config(self.url)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise InputError(f"cannot open the database {self.safe_url} ({exc.orig})", field="--database",
                             fix="Check the database URL and that the server is running.") from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session; commit when the block ends, roll back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection (before a fork, and at shutdown)."""
        self.engine.dispose()
