"""Helpers the commands share: asking before a destructive step, and folder arguments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agentmem._errors import UserError

__all__ = ["confirm", "memory_folder", "open_memory"]


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


def open_memory(path: str) -> Any:
    """The memory at ``--db``, opened with the embedder it was built with.

    A store built with :class:`~agentmem.testing.HashEmbedder` (tests, replays) is opened
    with the same hashing; anything else with the bundled model, loaded only if
    something must be embedded.
    """
    import re
    import sqlite3

    from agentmem import Memory

    folder = memory_folder(path, must_exist=True)
    conn = sqlite3.connect(f"file:{folder / 'vector.sqlite'}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    match = re.fullmatch(r"hash-(\d+)-(\d+)", "" if row is None else str(row[0]))
    if match is None:
        return Memory.default(folder)
    from agentmem.testing import HashEmbedder

    return Memory.default(folder, embedder=HashEmbedder(int(match[1]), seed=int(match[2])))
