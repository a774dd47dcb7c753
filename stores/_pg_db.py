"""A PostgreSQL database for memory: the connection pool, transactions and the tenant setting.

Every store call and every audit write runs in a transaction taken from one psycopg 3
pool. A transaction first sets ``agentmem.user_id`` (``SET LOCAL``) to the user it acts
for, or to ``*`` for an operation that is not about one user (a count of everything, a
lookup by id); with row-level security on (see :mod:`agentmem.stores._pg_schema`) the
database itself hides every other user's rows. A database bound to one tenant never
uses ``*``: it sees that user's rows and nothing else, whatever a query asks.

Transactions nest through a context variable: inside ``with db.transaction():``, every
call on the same database in the same thread (or task) joins the open transaction, so
an item change and its audit event commit together.

psycopg is imported here and only here, lazily; without it, opening a database raises
an ImportError that names the extra to install.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agentmem._errors import ClosedError, InvalidInputError, MissingDependencyError, StoreError

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["ALL_USERS", "PgDatabase", "import_psycopg", "redact", "split_schema"]

logger = logging.getLogger(__name__)

ALL_USERS = "*"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def import_psycopg() -> tuple[Any, Any]:
    """Import psycopg and psycopg_pool, or say how to install them."""
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # pragma: no cover - the test extra installs them
        raise MissingDependencyError.for_extra(
            exc.name or "psycopg", "postgres", "PostgreSQL support"
        ) from exc
    return psycopg, psycopg_pool


def split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema=`` query parameter, and that parameter's value.

    libpq knows no such parameter; agentmem reads it so that one URL names one memory
    (``postgresql://host/db?schema=team_a``).
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in pairs if key == "schema"]
    if not schemas:
        return url, None
    rest = urlencode([(k, v) for k, v in pairs if k != "schema"], safe="/")
    return urlunsplit(parts._replace(query=rest)), schemas[-1]


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class PgDatabase:
    """A pool of connections to one PostgreSQL database, with a schema of its own.

    Args:
        url: a libpq connection string or ``postgresql://`` URL.
        schema: the PostgreSQL schema holding the tables (several memories can share one
            database under different schemas).
        tenant: bind every transaction to this user: the database then never sees
            another user's rows (with row-level security on).
        min_size: connections the pool keeps open.
        max_size: connections the pool may open at most.
        timeout: seconds to wait for a free connection or for the server.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "agentmem",
        tenant: str | None = None,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 30.0,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            msg = (
                f"schema must be a lower-case PostgreSQL identifier (letters, digits, _), "
                f"got {schema!r}"
            )
            raise InvalidInputError(msg)
        if tenant is not None and (not tenant.strip() or tenant == ALL_USERS):
            msg = f"tenant must be a user id, got {tenant!r}"
            raise InvalidInputError(msg)
        psycopg_module, pool_module = import_psycopg()
        self.url = url
        self.schema = schema
        self.tenant = tenant
        digest = hashlib.sha256(f"agentmem-index:{schema}".encode()).digest()
        self._index_key = int.from_bytes(digest[:8], "big", signed=True)
        self._psycopg = psycopg_module
        self._active: contextvars.ContextVar[Any] = contextvars.ContextVar(
            f"agentmem_pg_{id(self)}", default=None
        )
        self._ensure_extension(timeout)
        self._pool: psycopg_pool.ConnectionPool[Any] | None = pool_module.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            configure=self._configure,
            open=False,
            name=f"agentmem-{schema}",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            self._pool.close()
            self._pool = None
            msg = f"cannot connect to PostgreSQL at {redact(url)}: {exc}"
            raise StoreError(msg) from exc

    def _ensure_extension(self, timeout: float) -> None:
        """Create pgvector in the database if it is missing (needs the right to do so)."""
        psycopg = self._psycopg
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(timeout))
            ) as conn:
                found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
                if found.fetchone() is None:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege as exc:
            msg = (
                "the pgvector extension is not installed in this database and this role may "
                "not create it; ask an administrator to run CREATE EXTENSION vector"
            )
            raise StoreError(msg) from exc
        except psycopg.Error as exc:
            msg = f"cannot connect to PostgreSQL at {redact(self.url)}: {exc}"
            raise StoreError(msg) from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(f"SET search_path TO {self.schema}, public")
        # Filtered nearest-neighbour scans go on past ef_search until LIMIT rows pass.
        conn.execute("SET hnsw.iterative_scan = relaxed_order")

    @property
    def pool(self) -> psycopg_pool.ConnectionPool[Any]:
        """The open pool; raises ClosedError after ``close``."""
        if self._pool is None:
            msg = "this PostgreSQL store is closed; open a new one"
            raise ClosedError(msg)
        return self._pool

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._pool is None

    def ensure_open(self) -> None:
        """Raise ClosedError if the database was closed."""
        _ = self.pool

    @contextmanager
    def transaction(self, user: str | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A transaction acting for ``user`` (``None``: every user).

        Commits when the block ends without an error, rolls back otherwise. Re-entrant:
        a block opened inside another (same thread or task) is a savepoint of it, acting
        for the outer block's user unless that one acts for everyone.
        """
        active = self._active.get()
        if active is not None:
            conn, acting = active
            wanted = self._acting(user)
            narrow = acting == ALL_USERS and wanted != ALL_USERS
            with conn.transaction():
                if narrow:
                    conn.execute("SELECT set_config('agentmem.user_id', %s, true)", (wanted,))
                    token = self._active.set((conn, wanted))
                try:
                    yield conn
                finally:
                    if narrow:
                        self._active.reset(token)
                if narrow:  # on an error the savepoint's rollback restores the setting
                    conn.execute("SELECT set_config('agentmem.user_id', %s, true)", (acting,))
            return
        psycopg = self._psycopg
        acting = self._acting(user)
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SELECT set_config('agentmem.user_id', %s, true)", (acting,))
                token = self._active.set((conn, acting))
                try:
                    yield conn
                finally:
                    self._active.reset(token)
        except psycopg.OperationalError as exc:
            msg = f"PostgreSQL at {redact(self.url)} failed: {exc}"
            raise StoreError(msg) from exc

    def guard_index_writes(self, conn: psycopg.Connection[Any]) -> None:
        """Hold off :meth:`vacuum` until the caller's transaction ends (call before writing).

        pgvector's HNSW ``VACUUM`` zeroes the vectors of deleted graph elements while an
        insert running at the same moment may still compare its new vector with them
        (``different vector dimensions 64 and 0``). Writers take this lock shared (they
        never wait for each other); :meth:`vacuum` takes it exclusively.
        """
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self._index_key,))

    def vacuum(self, tables: Sequence[str]) -> None:
        """``VACUUM`` each table, while no writer is inside a transaction on this schema."""
        if self.in_transaction:
            msg = "vacuum cannot run inside a transaction; call it after the block"
            raise StoreError(msg)
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (self._index_key,))
            try:
                for table in tables:
                    conn.execute(f"VACUUM {self.schema}.{table}")
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self._index_key,))

    @property
    def in_transaction(self) -> bool:
        """Whether this thread (or task) has a transaction open on this database."""
        return self._active.get() is not None

    def _acting(self, user: str | None) -> str:
        if self.tenant is not None:
            return self.tenant
        return ALL_USERS if user is None else user

    def close(self) -> None:
        """Close every connection (idempotent)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
