"""What every command that opens a memory shares: the ``--db`` option and opening it.

``--db`` takes a memory folder (as for ``Memory.default``), ``sqlite:///folder`` or a
PostgreSQL URL (``postgresql://user@host/db``); :func:`open_memory` opens either through
``Memory.from_url``, so a command never cares which one it got.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
from pathlib import Path
from typing import Any

from agentmem._errors import UserError

__all__ = ["DB_HELP", "add_db_argument", "is_postgres", "open_memory"]

DB_HELP = "the memory: a folder, sqlite:///folder, or postgresql://user@host/db"


def add_db_argument(
    parser: argparse.ArgumentParser, *, required: bool = True, help: str | None = None
) -> None:
    """Add ``--db`` (a memory folder or URL) to ``parser``."""
    parser.add_argument("--db", required=required, metavar="PATH|URL", help=help or DB_HELP)


def is_postgres(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL database."""
    return db.startswith(("postgresql://", "postgres://"))


def _folder(db: str) -> Path:
    text = db.removeprefix("sqlite:///") if db.startswith("sqlite:///") else db
    return Path(text).expanduser()


def open_memory(
    args: argparse.Namespace | str,
    *,
    must_exist: bool = True,
    embedder: str | Any = None,
    **options: Any,
) -> Any:
    """Open the memory named by ``args.db`` (or the string given) with ``Memory.from_url``.

    Args:
        args: parsed arguments with ``db``, or the folder/URL itself.
        must_exist: refuse a folder that holds no memory yet (a typo would create one).
        embedder: ``None`` or ``"default"`` for the bundled model, ``"hash"`` for the
            hashing embedder the memory was built with, or an embedder object.
        options: further keywords for ``Memory.from_url`` (``clock=``, ``policies=``...).
    """
    from agentmem import Memory

    db = args if isinstance(args, str) else str(args.db)
    if not is_postgres(db):
        folder = _folder(db)
        if must_exist and not (folder / "vector.sqlite").exists():
            msg = f"no memory at {folder} (expected {folder / 'vector.sqlite'})"
            raise UserError(msg)
        db = str(folder)
    chosen: Any = embedder
    if embedder == "hash":
        chosen = _hash_embedder(db)
    elif embedder == "default":
        chosen = None
    return Memory.from_url(db, embedder=chosen, **options)


def _hash_embedder(db: str) -> Any:
    """The hashing embedder with the dimension and seed the memory at ``db`` was built with."""
    from agentmem.testing import HashEmbedder

    if is_postgres(db):
        from agentmem.stores.postgres import stored_embedder

        name = stored_embedder(db) or ""
    elif not (Path(db) / "vector.sqlite").exists():
        name = ""
    else:
        path = Path(db) / "vector.sqlite"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        finally:
            conn.close()
        name = "" if row is None else str(row[0])
    if not name:
        return HashEmbedder(64)  # a new memory: the hashing embedder's usual size
    match = re.fullmatch(r"hash-(\d+)-(\d+)", name)
    if match is None:
        msg = f"the memory at {db} was built with the embedder {name!r}; drop --embedder hash"
        raise UserError(msg)
    return HashEmbedder(int(match.group(1)), seed=int(match.group(2)))
