"""Starting the service: the store migrated, the first admin made, the web server run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from passages import settings
from passages.web.config import ServiceConfig


def serve(*, host: str = "127.0.0.1", port: int = 8000, database: str = "sqlite:///data/passages.db",
          data_dir: Path | None = None, demo: bool = False, workers: int | None = None) -> None:
    """Run the planning service until it is stopped (Ctrl-C or SIGTERM).

    At the first start the store is created and an account ``admin`` is made, with a
    one-time password printed once.
    """
    import uvicorn

    from passages.web.app import create_app
    from passages.web.commands import ensure_first_admin
    from passages.web.store import Store

    config = ServiceConfig(database_url=database, data_dir=data_dir or settings.shared_data_dir(), demo=demo)
    if workers:
        config = dataclasses.replace(config, workers=workers)
    store = Store(config.database_url)
    store.migrate()
    password = ensure_first_admin(store)
    if password is not None:
        print(f"first start: account 'admin', one-time password {password} (shown once; change it at first login)")
    print(f"passages service on http://{host}:{port}/  (store: {store.safe_url})", flush=True)
    uvicorn.run(create_app(config, store), host=host, port=port, log_level="warning")
