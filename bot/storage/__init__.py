"""Shared state behind one interface, on SQLite (the embedded default) or PostgreSQL.

    from bot.storage import connect, Store
    db = connect(config.database_url or path)      # bot/storage/db.py: the thin DB-API layer
    open_storage(config) -> Storage                # every store of a deployment (bot/storage/stores.py)

Each store (sessions, question log, curated answers, staff inbox, saved profiles, WeChat dedupe, rate
limits) is one class written against `Database`, with its schema as migrations for each backend
(`Schema`: sqlite-utils migrations; SQL files under bot/storage/postgresql/<name>/). With
PZ_DATABASE_URL unset every store keeps its own SQLite file in the data dir, as before; with a
postgresql:// URL they all share that database, so several workers (and machines) behave as one.
"""
from __future__ import annotations

from pathlib import Path

from bot.storage.db import POSTGRESQL, SQLITE, Database, Result, Schema, connect, is_postgres_url

__all__ = ["POSTGRESQL", "SQLITE", "Database", "Result", "Schema", "Store", "connect", "exists", "is_postgres_url",
           "location"]

# each store's SQLite file in the data dir when no shared database is configured
SQLITE_FILES = {
    "sessions": "sessions.sqlite",
    "question_log": "questions.sqlite",
    "curated_answers": "curated.sqlite",
    "inbox": "inbox.sqlite",
    "profiles": "profiles.sqlite",
    "worker_state": "state.sqlite",
}


def location(config, store: str) -> "str | Path":
    """Where `store` lives: the shared database (PZ_DATABASE_URL) or its SQLite file in the data dir."""
    url = getattr(config, "database_url", None)
    return url if url else config.data_dir / SQLITE_FILES[store]


def exists(config, store: str) -> bool:
    """Whether there is anything to read yet (a shared database always is; a SQLite file once made)."""
    where = location(config, store)
    return isinstance(where, str) or Path(where).exists()


class Store:
    """A store on a database: `target` is a Database (shared, not closed by the store) or a path/URL
    (opened here, closed by `close()`). Its migrations are applied on opening."""
    schema: Schema

    def __init__(self, target: "Database | str | Path"):
        self._owns_db = not isinstance(target, Database)
        self.database = connect(target)
        try:
            self.migrated = self.database.migrate(self.schema)     # the migrations applied just now
        except BaseException:
            if self._owns_db:
                self.database.close()
            raise

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        p = getattr(self.database, "path", None)
        return Path(p) if p and p != ":memory:" else None

    def close(self) -> None:
        if self._owns_db:
            self.database.close()
