"""The in-memory dense index behind HybridStore: one block of vectors per user.

A search always names a user, so each user's vectors live in their own contiguous block
and a scoped search touches only that user's rows (no per-query selector over the whole
index). A block answers exactly (one matrix product) up to ``exact_limit`` rows; past it
the block builds a faiss HNSW graph and answers from it, over-fetching and filtering.
HNSW cannot remove vectors, so deletes and re-embedded texts leave tombstones that are
filtered at query time; a block past ``tombstone_ratio`` is compacted and its graph rebuilt
(in a background thread when it has a graph). ``save``/``load`` keep the blocks and graphs
in a folder so a reopened store need not rebuild them; :meth:`DenseIndex.save_as` and
:meth:`DenseIndex.load_current` do so atomically, under a key that says which data the
saved index reflects. The row attributes (:class:`RowAttrs`) live in :mod:`._block`.

It is over 500 lines because the index's lifecycle is one piece: maintenance (graph
builds, tombstones, background compaction and the swap that carries writes over) and
persistence (the atomic, key-checked save and load) change the same blocks under the same
lock, and are read together when one of them changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from agentmem._models import Filters, Kind, MemoryItem
from agentmem._time import to_micros
from agentmem.stores._block import ARRAYS, OPEN, Block, RowAttrs, exact_search, faiss_threads

__all__ = [
    "DenseIndex",
    "IndexSettings",
    "RowAttrs",
    "faiss_threads",
    "item_attrs",
    "kind_code",
    "row_filter",
]

_MANIFEST = "manifest.json"
_KEY = "key.json"
_KINDS = list(Kind)
_FORMAT = 1

logger = logging.getLogger(__name__)

RowFilter = Callable[[Block, NDArray[np.int64]], NDArray[np.bool_]]


@dataclass(frozen=True)
class IndexSettings:
    """How the dense index is built.

    Args:
        exact_limit: a user's block answers exactly up to this many rows, then by HNSW.
        hnsw_m: HNSW graph degree.
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search-time beam width (raised to the over-fetch depth if larger).
        tombstone_ratio: compact a block (and rebuild its graph) once this share of its
            rows are tombstones.
        background_compaction: compact a block that has an HNSW graph in a background
            thread (searches go on against the old block, filtering its tombstones, until
            the compacted one is swapped in); ``False`` compacts in the calling thread.
            Blocks without a graph are always compacted in place (a cheap array copy).
    """

    exact_limit: int = 20_000
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 96
    tombstone_ratio: float = 0.25
    background_compaction: bool = True


class DenseIndex:
    """Per-user blocks of vectors, exact or HNSW, with tombstones.

    Args:
        dim: the vector dimension.
        settings: when to switch to HNSW and when to compact.
        lock: the lock that guards every read and write of the index (the store's).
    """

    def __init__(
        self,
        dim: int,
        settings: IndexSettings | None = None,
        *,
        lock: threading.RLock | None = None,
    ) -> None:
        self.dim = dim
        self.settings = settings or IndexSettings()
        self.lock = lock or threading.RLock()
        self._blocks: dict[str, Block] = {}
        self._user_of: dict[int, str] = {}
        self._compacting: dict[str, threading.Thread] = {}

    @property
    def size(self) -> int:
        """How many live vectors the index holds."""
        return sum(block.live for block in self._blocks.values())

    def count_keys(self, *, below: int) -> int:
        """How many live rows have a key (vid) below ``below``."""
        with self.lock:
            return sum(1 for vid in self._user_of if vid < below)

    def holds_keys(self, user: str, *, at_least: int) -> bool:
        """Whether ``user``'s block has a live row whose key (vid) is ``at_least`` or more."""
        with self.lock:
            block = self._blocks.get(user)
            if block is None or block.live == 0:
                return False
            rows = slice(0, block.n)
            return bool(np.any((block.vids[rows] >= at_least) & block.alive[rows]))

    @property
    def tombstones(self) -> int:
        """How many dead rows wait for the next compaction."""
        return sum(block.dead for block in self._blocks.values())

    def uses_hnsw(self, user: str) -> bool:
        """Whether ``user``'s block answers from an HNSW graph."""
        block = self._blocks.get(user)
        return block is not None and block.hnsw is not None

    def add(
        self,
        user: str,
        vids: list[int],
        vectors: NDArray[np.float32],
        attrs: list[RowAttrs],
        *,
        maintain: bool = True,
    ) -> None:
        """Add (or replace) rows for ``user``; ``maintain=False`` defers HNSW builds."""
        if not vids:
            return
        with self.lock:
            for vid in vids:
                previous = self._user_of.get(vid)
                if previous is not None and previous != user:
                    self.remove([vid])
            block = self._blocks.setdefault(user, Block(self.dim))
            block.append(vids, vectors, attrs)
            for vid in vids:
                self._user_of[vid] = user
            if maintain:
                self._maintain(user, block)

    def sync(
        self, user: str, vids: list[int], vectors: NDArray[np.float32], attrs: list[RowAttrs]
    ) -> None:
        """Bring rows to their stored state (a process catching up on the change log).

        A row whose owner and vector are unchanged gets its attributes set in place; any
        other is (re)added. Graph maintenance is left to :meth:`maintain`.
        """
        with self.lock:
            fresh: list[int] = []
            for position, vid in enumerate(vids):
                block = self._blocks.get(user) if self._user_of.get(vid) == user else None
                row = None if block is None else block.row_of.get(vid)
                if block is not None and row is not None:
                    if np.array_equal(block.vectors[row], vectors[position]):
                        block.set_attrs(vid, attrs[position])
                        continue
                fresh.append(position)
            if fresh:
                self.add(
                    user,
                    [vids[p] for p in fresh],
                    vectors[fresh],
                    [attrs[p] for p in fresh],
                    maintain=False,
                )

    def maintain(self, users: Iterable[str]) -> None:
        """Compact and build graphs where due, for these users' blocks."""
        with self.lock:
            for user in users:
                block = self._blocks.get(user)
                if block is not None:
                    self._maintain(user, block)

    def purge(self) -> bool:
        """Compact every block now and drop the empty ones; False if one is compacting.

        After an erasure: a saved index then holds neither an erased vector (tombstones
        keep them until compaction) nor the id of a user who has no memory left. A block
        being compacted in the background is left to it: call :meth:`wait` (without
        holding the lock) and purge again.
        """
        with self.lock:
            complete = True
            for user, block in list(self._blocks.items()):
                if user in self._compacting:
                    complete = False
                    continue
                if block.live == 0:
                    del self._blocks[user]
                    continue
                if block.dead:
                    block.compact()
                    self._maintain(user, block)
            return complete

    def maintain_all(self) -> None:
        """Compact and build graphs where due (after a bulk load)."""
        with self.lock:
            for user, block in list(self._blocks.items()):
                self._maintain(user, block)

    def set_attrs(self, vid: int, attrs: RowAttrs) -> bool:
        """Change a row's kind and times in place; False if the row is unknown."""
        with self.lock:
            user = self._user_of.get(vid)
            if user is None:
                return False
            self._blocks[user].set_attrs(vid, attrs)
            return True

    def user_of(self, vid: int) -> str | None:
        """The user whose block holds ``vid``."""
        return self._user_of.get(vid)

    def remove(self, vids: list[int]) -> None:
        """Tombstone rows; a block past the tombstone ratio is compacted."""
        with self.lock:
            touched: set[str] = set()
            for vid in vids:
                user = self._user_of.pop(vid, None)
                if user is not None:
                    self._blocks[user].kill(vid)
                    touched.add(user)
            for user in touched:
                self._maintain(user, self._blocks[user])

    def _maintain(self, user: str, block: Block) -> None:
        settings = self.settings
        if user in self._compacting:
            return  # the compacted block is maintained when it is swapped in
        if block.n and block.dead > settings.tombstone_ratio * block.n:
            logger.info(
                "compacting the index of user %r: %d of %d rows are tombstones",
                user,
                block.dead,
                block.n,
            )
            if settings.background_compaction and block.hnsw is not None:
                self._compact_later(user, block)
                return
            block.compact()
        if block.hnsw is None and block.live > settings.exact_limit:
            logger.info(
                "building an HNSW graph for user %r (%d vectors, past exact_limit=%d)",
                user,
                block.live,
                settings.exact_limit,
            )
            block.build_hnsw(settings)
        elif block.hnsw is not None and block.live <= settings.exact_limit // 2:
            block.hnsw = None

    # -- background compaction ---------------------------------------------------------
    @property
    def compacting(self) -> bool:
        """Whether a background compaction is running."""
        with self.lock:
            return bool(self._compacting)

    def wait(self) -> None:
        """Block until every background compaction has finished and been swapped in."""
        while True:
            with self.lock:
                threads = list(self._compacting.values())
            if not threads:
                return
            for thread in threads:
                thread.join()

    def _compact_later(self, user: str, block: Block) -> None:
        """Compact ``block`` in a thread; call with the lock held."""
        snapshot = block.n
        keep = np.flatnonzero(block.alive[:snapshot])
        # Rows below the snapshot are never rewritten while the block is being compacted
        # (appends go past it and a bigger array is a new one), so the thread may read them
        # without the lock.
        vectors = block.vectors
        thread = threading.Thread(
            target=self._compact_worker,
            args=(user, block, snapshot, keep, vectors),
            name=f"agentmem-compact-{user}",
            daemon=True,
        )
        self._compacting[user] = thread
        thread.start()

    def _compact_worker(
        self,
        user: str,
        block: Block,
        snapshot: int,
        keep: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        try:
            fresh = Block(self.dim)
            fresh._grow(len(keep))
            fresh.vectors[: len(keep)] = vectors[keep]
            fresh.n = len(keep)
            if fresh.n > self.settings.exact_limit:
                fresh.build_hnsw(self.settings)  # faiss releases the GIL while it builds
        except Exception:
            logger.exception("background compaction of user %r failed; keeping the old block", user)
            with self.lock:
                self._compacting.pop(user, None)
            return
        with self.lock:
            try:
                self._swap(user, block, fresh, snapshot, keep)
            finally:
                self._compacting.pop(user, None)
            self._maintain(user, self._blocks[user])

    def _swap(
        self, user: str, old: Block, fresh: Block, snapshot: int, keep: NDArray[np.int64]
    ) -> None:
        """Bring ``fresh`` up to date with ``old`` (kills, attribute changes, new rows)."""
        for name in ARRAYS:
            getattr(fresh, name)[: fresh.n] = getattr(old, name)[keep]
        tail = slice(snapshot, old.n)
        count = old.n - snapshot
        if count:
            start = fresh.n
            fresh._grow(start + count)
            fresh.vectors[start : start + count] = old.vectors[tail]
            for name in ARRAYS:
                getattr(fresh, name)[start : start + count] = getattr(old, name)[tail]
            fresh.n += count
            if fresh.hnsw is not None:
                fresh.hnsw.add(np.ascontiguousarray(old.vectors[tail]))
        alive = fresh.alive[: fresh.n]
        fresh.dead = int(fresh.n - alive.sum())
        fresh.row_of = {int(fresh.vids[r]): int(r) for r in np.flatnonzero(alive)}
        self._blocks[user] = fresh
        logger.info(
            "swapped in the compacted index of user %r (%d rows, %d tombstones)",
            user,
            fresh.n,
            fresh.dead,
        )

    # -- persistence -------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write every block (rows, attributes, HNSW graph) into ``folder`` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        users: list[dict[str, object]] = []
        with self.lock:
            for number, (user, block) in enumerate(self._blocks.items()):
                arrays = {name: getattr(block, name)[: block.n] for name in ARRAYS}
                if block.hnsw is None:
                    arrays["vectors"] = block.vectors[: block.n]
                else:
                    faiss.write_index(block.hnsw, str(folder / f"{number}.hnsw"))
                with (folder / f"{number}.npz").open("wb") as out:
                    np.savez(out, **arrays)
                users.append({"user": user, "file": number, "hnsw": block.hnsw is not None})
            manifest = {"format": _FORMAT, "dim": self.dim, "users": users}
            (folder / _MANIFEST).write_text(json.dumps(manifest))

    @classmethod
    def load(
        cls,
        folder: Path,
        dim: int,
        settings: IndexSettings | None = None,
        *,
        lock: threading.RLock | None = None,
    ) -> DenseIndex:
        """Read an index written by :meth:`save`; raises ``ValueError`` if it does not fit."""
        manifest = json.loads((folder / _MANIFEST).read_text())
        if manifest.get("format") != _FORMAT or manifest.get("dim") != dim:
            msg = (
                f"saved dense index has format {manifest.get('format')}, dim {manifest.get('dim')}"
            )
            raise ValueError(msg)
        index = cls(dim, settings, lock=lock)
        for entry in manifest["users"]:
            user, number = str(entry["user"]), int(entry["file"])
            block = Block(dim)
            with np.load(folder / f"{number}.npz") as data:
                n = len(data["vids"])
                block._grow(n)
                for name in ARRAYS:
                    getattr(block, name)[:n] = data[name]
                if not entry["hnsw"]:
                    block.vectors[:n] = data["vectors"]
            block.n = n
            if entry["hnsw"]:
                block.hnsw = faiss.read_index(str(folder / f"{number}.hnsw"))
                if block.hnsw.ntotal != n:
                    msg = f"saved graph of user {user!r} has {block.hnsw.ntotal} rows, not {n}"
                    raise ValueError(msg)
                block.vectors[:n] = block.hnsw.reconstruct_n(0, n)
            alive = np.flatnonzero(block.alive[:n])
            block.dead = n - len(alive)
            block.row_of = {int(block.vids[r]): int(r) for r in alive}
            index._blocks[user] = block
            index._user_of.update(dict.fromkeys(block.row_of, user))
        return index

    @staticmethod
    def settings_key(settings: IndexSettings) -> dict[str, object]:
        """The settings a saved graph depends on (a change means rebuilding)."""
        key = asdict(settings)
        return {k: key[k] for k in ("hnsw_m", "ef_construction")}

    def save_as(self, folder: Path, key: dict[str, Any]) -> None:
        """Save into ``folder`` atomically, tagged with ``key`` and each file's checksum.

        The files are written in a temporary folder private to this process, fsynced,
        and renamed into place under an exclusive file lock (several processes may close
        the same memory at once). :meth:`load_current` uses the save only when its key
        equals the caller's and every checksum holds.
        """
        final, old = folder, folder.with_name(folder.name + ".old")
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        with self.lock, _folder_lock(folder.with_name(folder.name + ".lock")):
            for stale in (tmp, old):
                shutil.rmtree(stale, ignore_errors=True)
            self.save(tmp)
            files = {path.name: _digest(path) for path in sorted(tmp.iterdir())}
            (tmp / _KEY).write_text(json.dumps({**key, "files": files}))
            for path in tmp.iterdir():
                _fsync(path)
            _fsync(tmp)
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            _fsync(final.parent)
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_key(folder: Path) -> dict[str, Any] | None:
        """The key a saved index was written with (without checksums), or None."""
        try:
            saved = json.loads((folder / _KEY).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict):
            return None
        saved.pop("files", None)
        return saved

    @classmethod
    def load_current(
        cls,
        folder: Path,
        key: dict[str, Any],
        settings: IndexSettings | None = None,
        *,
        lock: threading.RLock | None = None,
    ) -> DenseIndex | None:
        """The index saved by :meth:`save_as` if its key is ``key``; ``None`` if stale or bad.

        ``key["dim"]`` is the expected dimension. A stale save, a file whose checksum does
        not match (truncated, overwritten) or anything unreadable is logged and ``None``
        returned: the caller rebuilds from its source of truth. Opening never fails
        because of a saved index.
        """
        key_path = folder / _KEY
        if not key_path.exists():
            return None
        try:
            saved = json.loads(key_path.read_text())
            files = saved.pop("files", None)
            if saved != key:
                logger.info("the saved dense index is stale (%s); rebuilding it", saved)
                return None
            if not isinstance(files, dict) or any(
                _digest(folder / str(name)) != digest for name, digest in files.items()
            ):
                logger.warning(
                    "the saved dense index is unreadable (a checksum fails); rebuilding it"
                )
                return None
            index = cls.load(folder, int(key["dim"]), settings, lock=lock)
        except Exception as exc:  # noqa: BLE001 - a bad save is rebuilt, never trusted
            logger.warning("the saved dense index is unreadable (%s); rebuilding it", exc)
            return None
        logger.info("loaded the saved dense index (%d vectors)", index.size)
        return index

    def search(
        self,
        user: str,
        query: NDArray[np.float32],
        k: int,
        keep: RowFilter,
        *,
        only_vids: list[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` best ``(vid, score)`` of ``user`` whose rows pass ``keep``.

        ``only_vids`` restricts the search to those rows (answered exactly).
        """
        with self.lock:
            return self._search(user, query, k, keep, only_vids)

    def _search(
        self,
        user: str,
        query: NDArray[np.float32],
        k: int,
        keep: RowFilter,
        only_vids: list[int] | None,
    ) -> list[tuple[int, float]]:
        block = self._blocks.get(user)
        if block is None or block.live == 0:
            return []
        q = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        if only_vids is not None:
            rows = np.asarray(
                [block.row_of[v] for v in only_vids if v in block.row_of], dtype=np.int64
            )
            return exact_search(block, q, k, keep, rows)
        index = block.ann()
        fetch = max(4 * k, 32)
        while True:
            if block.hnsw is not None:
                block.hnsw.hnsw.efSearch = max(self.settings.ef_search, fetch)
            scores, labels = index.search(q.reshape(1, -1), min(fetch, block.n))
            rows = labels[0][labels[0] >= 0].astype(np.int64)
            found = scores[0][labels[0] >= 0]
            ok = block.alive[rows] & keep(block, rows)
            if int(ok.sum()) >= k or fetch >= block.n:
                rows, found = rows[ok][:k], found[ok][:k]
                return [(int(block.vids[r]), float(s)) for r, s in zip(rows, found, strict=True)]
            if fetch * 4 > block.n // 4:
                # The filter keeps few rows: one exact pass over the block is cheaper.
                return exact_search(block, q, k, keep, None)
            fetch *= 4


def item_attrs(item: MemoryItem) -> RowAttrs:
    """What the index keeps of ``item`` to filter without the database."""
    return RowAttrs(
        _KINDS.index(item.kind),
        to_micros(item.created_at),
        to_micros(item.valid_from or item.created_at),
        None if item.valid_to is None else to_micros(item.valid_to),
    )


def kind_code(kind: Kind | str) -> int:
    """The small integer a row's kind is kept as."""
    return _KINDS.index(Kind(kind))


def row_filter(filters: Filters | None, as_of: datetime | None) -> RowFilter:
    """The rows a search may return: valid now (or at ``as_of``), of the filters' kinds.

    The creation window of ``filters`` applies too; metadata filters are not seen here
    (the store narrows a search to row ids for them).
    """
    moment = None if as_of is None else to_micros(as_of)
    kinds = (
        None
        if filters is None or filters.kinds is None
        else np.asarray([_KINDS.index(k) for k in filters.kinds], dtype=np.int8)
    )
    after = None if filters is None or filters.created_after is None else filters.created_after
    before = None if filters is None or filters.created_before is None else filters.created_before
    after_us = None if after is None else to_micros(after)
    before_us = None if before is None else to_micros(before)

    def keep(block: Block, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        if moment is None:
            ok = block.valid_to[rows] == OPEN
        else:
            ok = (block.valid_from[rows] <= moment) & (block.valid_to[rows] > moment)
        if kinds is not None:
            ok &= np.isin(block.kind[rows], kinds)
        if after_us is not None:
            ok &= block.created[rows] >= after_us
        if before_us is not None:
            ok &= block.created[rows] < before_us
        return np.asarray(ok, dtype=bool)

    return keep


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (POSIX ``flock``; none elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: renames are the only guard
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
