"""Helpers the commands share: asking before a destructive step, and folder arguments."""

from __future__ import annotations

import sys
from pathlib import Path

from agentmem._errors import UserError

__all__ = ["check_db", "confirm", "memory_folder", "stored_embedder"]


def confirm(question: str, *, yes: bool) -> bool:
    """Ask ``question`` on the terminal; True if the answer is yes (or ``yes`` is set).

    Refuses with a UserError when stdin is not a terminal: a destructive command run from
    a script must say ``--yes``.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        msg = "refusing to do this without --yes: no terminal to ask for confirmation"
        raise UserError(msg)
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def memory_folder(path: str, *, must_exist: bool = False, marker: str = "vector.sqlite") -> Path:
    """The folder ``--db`` names, checked: not a file; with ``must_exist``, holding a memory."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        msg = f"--db {path} is a file, but a memory is a folder; give a folder path"
        raise UserError(msg)
    if must_exist and not (folder / marker).exists():
        msg = f"no memory at {folder} (expected {folder / marker})"
        raise UserError(msg)
    return folder


def check_db(db: str) -> str:
    """``--db`` as given, after refusing a file where a memory folder is expected."""
    if not db.startswith(("postgresql://", "postgres://")):
        memory_folder(db.removeprefix("sqlite:///"))
    return db


def stored_embedder(db: str) -> str:
    """``hash`` for a folder built with the hashing test embedder, else ``default``.

    ``default`` is the bundled model (also for PostgreSQL URLs).
    """
    import re
    import sqlite3

    path = Path(db.removeprefix("sqlite:///")).expanduser() / "vector.sqlite"
    if db.startswith(("postgresql://", "postgres://")) or not path.is_file():
        return "default"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    name = "" if row is None else str(row[0])
    return "hash" if re.fullmatch(r"hash-\d+-\d+", name) else "default"
