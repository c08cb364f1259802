"""A thin DB-API layer with two backends, so each store is written once.

    db = connect("var/sessions.sqlite")              # SQLite (the embedded default)
    db = connect("postgresql://user@host/dbname")     # PostgreSQL (psycopg 3, a connection pool)
    db.execute(sql, args) -> Result                   # one statement, committed at once
    with db.transaction() as tx: tx.execute(...)      # several statements, all or nothing
    db.insert(table, row) -> id

SQL is written once with `?` placeholders and in the dialect both engines share (INSERT … ON CONFLICT,
RETURNING, TRUE). A `Result` is read in full before the connection goes back to the pool.

SQLite: one connection per database object, shared by the answering threads under a lock, in WAL mode
with secure_delete (deleted rows are overwritten); several processes on one machine may open the same
file. PostgreSQL: a pool of autocommit connections; a text value cannot hold NUL there, so NULs in text
parameters become U+FFFD.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

SQLITE, POSTGRESQL = "sqlite", "postgresql"
_PG_URL = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://", re.I)


@dataclass
class Result:
    rows: list[tuple] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rowcount: int = -1

    def fetchall(self) -> list[tuple]:
        return self.rows

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def scalar(self, default: Any = None) -> Any:
        return self.rows[0][0] if self.rows else default

    def dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and bool(_PG_URL.match(target))


def connect(target: "str | Path | Database", **options) -> "Database":
    """The database at `target`: a PostgreSQL URL (postgresql://…), a `sqlite:///path` URL, a file path
    or ":memory:". A Database passed in is returned as it is."""
    if isinstance(target, Database):
        return target
    if is_postgres_url(target):
        return PostgresDatabase(str(target), **options)
    text = str(target)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):] or ":memory:"
    return SqliteDatabase(text)


class Database:
    kind: str

    def execute(self, sql: str, args: Sequence = ()) -> Result:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator["Database"]:
        raise NotImplementedError

    def insert(self, table: str, row: dict) -> int:
        """Insert one row; returns its id (the table's `id` column)."""
        cols = list(row)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING id")
        return self.execute(sql, [row[c] for c in cols]).scalar()

    def migrate(self, schema: "Schema") -> list[str]:
        """Apply the migrations of `schema` not applied yet; returns their names."""
        raise NotImplementedError

    def pending(self, schema: "Schema") -> list[str]:
        raise NotImplementedError

    def scrub(self) -> None:
        """After deleting personal data: make sure the deleted bytes are gone from the files where the
        engine allows it (SQLite: out of the WAL too)."""

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock named `name` across every process using this database (one conversation's turns
        one at a time, whichever worker takes them). Not reentrant."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Schema:
    """The migrations of one store: sqlite-utils `Migrations` for SQLite, SQL files under
    bot/storage/postgresql/<name>/ (NNN_what.sql, applied in name order) for PostgreSQL."""
    name: str
    sqlite: Any              # sqlite_utils.Migrations

    @property
    def postgresql_dir(self) -> Path:
        return Path(__file__).resolve().parent / "postgresql" / self.name


# ---------------------------------------------------------------------------------------------- SQLite
class SqliteDatabase(Database):
    kind = SQLITE

    def __init__(self, path: str):
        import sqlite_utils
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.utils = sqlite_utils.Database(self.conn)      # what the sqlite-utils migrations are given
        self.conn.execute("PRAGMA busy_timeout=5000")
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            # in WAL mode NORMAL never corrupts the file; a power cut may lose the last moments' writes.
            # FULL would fsync every commit: ~3 ms each, a turn makes four, all queued on the file's lock
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA secure_delete=ON")
        self.lock = threading.RLock()
        self._in_tx = threading.local()

    def execute(self, sql: str, args: Sequence = ()) -> Result:
        with self.lock:
            cur = self.conn.execute(sql, list(args))
            rows = cur.fetchall() if cur.description else []
            return Result(rows, [c[0] for c in cur.description or ()], cur.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self.lock:
            if getattr(self._in_tx, "on", False):       # nested: part of the outer one
                yield self
                return
            self.conn.execute("BEGIN IMMEDIATE")          # take the write lock now: no upgrade deadlock
            self._in_tx.on = True
            try:
                yield self
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._in_tx.on = False

    def migrate(self, schema: Schema) -> list[str]:
        with self.lock:
            if not schema.sqlite.pending(self.utils):
                return []
            # processes starting together: the write lock first, then look again (one applies them)
            with self.transaction():
                todo = [m.name for m in schema.sqlite.pending(self.utils)]
                schema.sqlite.apply(self.utils)     # nested in ours: each one a savepoint
            return todo

    def pending(self, schema: Schema) -> list[str]:
        with self.lock:
            return [m.name for m in schema.sqlite.pending(self.utils)]

    def scrub(self) -> None:
        with self.lock:
            if self.path != ":memory:":
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    LOCK_FILES = 256

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # processes on one machine: an flock on one of LOCK_FILES files in .locks/ beside the database, chosen by
        # the name's hash (two names may share a file: they then wait for each other, which is harmless)
        if self.path == ":memory:":
            yield
            return
        import fcntl
        import zlib
        db = Path(self.path)
        d = db.parent / ".locks"
        d.mkdir(exist_ok=True)
        bucket = zlib.crc32(name.encode("utf-8", "surrogatepass")) % self.LOCK_FILES
        with open(d / f"{db.name}.{bucket:03d}", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __repr__(self) -> str:
        return f"SqliteDatabase({self.path!r})"


# ------------------------------------------------------------------------------------------ PostgreSQL
def _pg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _pg_arg(value):
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


class PostgresDatabase(Database):
    """PostgreSQL through a psycopg_pool.ConnectionPool (autocommit connections)."""
    kind = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 30.0):
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as e:       # pragma: no cover - pinned in requirements.txt
            raise RuntimeError("PZ_DATABASE_URL names PostgreSQL but psycopg is not installed "
                               "(pip install -r requirements.txt)") from e
        self.url = url
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, timeout=timeout,
                                   kwargs={"autocommit": True}, open=False, name="pz-storage")
        self.pool.open(wait=True, timeout=timeout)
        self._tx = threading.local()
        # a lock held by `exclusive` keeps a connection: at most half the pool, so statements always find one
        self._lock_slots = threading.BoundedSemaphore(max(1, max_size // 2))

    @contextmanager
    def _conn(self):
        conn = getattr(self._tx, "conn", None)
        if conn is not None:          # inside transaction(): the same connection
            yield conn
            return
        with self.pool.connection() as conn:
            yield conn

    def execute(self, sql: str, args: Sequence = ()) -> Result:
        with self._conn() as conn:
            cur = conn.execute(_pg_sql(sql), [_pg_arg(a) for a in args])
            rows = cur.fetchall() if cur.description else []
            return Result(rows, [c.name for c in cur.description or ()], cur.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        if getattr(self._tx, "conn", None) is not None:
            yield self
            return
        with self.pool.connection() as conn:
            with conn.transaction():
                self._tx.conn = conn
                try:
                    yield self
                finally:
                    self._tx.conn = None

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # a session-level advisory lock on a connection kept for the duration; it goes if the connection does
        with self._lock_slots, self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [name])
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])

    def _applied(self, schema: Schema) -> set[str]:
        if self.execute("SELECT to_regclass('schema_migrations')").scalar() is None:
            return set()
        return {r[0] for r in self.execute("SELECT name FROM schema_migrations WHERE migration_set = ?",
                                           [schema.name]).rows}

    @staticmethod
    def _files(schema: Schema) -> list[Path]:
        return sorted(schema.postgresql_dir.glob("*.sql"))

    def pending(self, schema: Schema) -> list[str]:
        done = self._applied(schema)
        return [p.stem for p in self._files(schema) if p.stem not in done]

    def migrate(self, schema: Schema) -> list[str]:
        files = self._files(schema)
        if not files:
            raise RuntimeError(f"no PostgreSQL migrations for {schema.name!r} in {schema.postgresql_dir}")
        if not self.pending(schema):
            return []
        applied = []
        with self.transaction():
            # workers starting together: one applies, the others wait here and then find nothing to do
            self.execute("SELECT pg_advisory_xact_lock(hashtext('pz-migrations'))")
            self.execute("CREATE TABLE IF NOT EXISTS schema_migrations (migration_set text NOT NULL, "
                         "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
                         "PRIMARY KEY (migration_set, name))")
            done = self._applied(schema)
            for path in files:
                if path.stem in done:
                    continue
                with self._conn() as conn:
                    conn.execute(path.read_text(encoding="utf-8"))     # a file may hold several statements
                self.execute("INSERT INTO schema_migrations (migration_set, name) VALUES (?, ?)",
                             [schema.name, path.stem])
                applied.append(path.stem)
        return applied

    def close(self) -> None:
        self.pool.close()

    def __repr__(self) -> str:
        return f"PostgresDatabase({_redact(self.url)!r})"


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
