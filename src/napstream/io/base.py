"""The ByteSource protocol and the block-cached base class of remote sources.

A *byte source* is a read-only sequence of ``size`` bytes: ``read_range(start, end)``,
``read_ranges([...])`` (one concurrent round trip for many ranges), ``prefetch(ranges)`` (warm
the cache, return nothing), ``stats`` (:class:`~napstream.io.stats.IOStats`), ``close()`` and a
``description`` that is safe to print (no query string, no credentials).

:class:`BlockedSource` implements everything on top of one transport method,
``_fetch_ranges(ranges) -> list[bytes]`` (fetch byte ranges concurrently): reads are split into
``block_size`` blocks looked up in a memory LRU, then in the persistent
:class:`~napstream.io.cache.BlockCache`, and the missing blocks are fetched in contiguous runs in
one concurrent batch.

Small scattered pieces (a file's metadata, as :mod:`napstream.nwb.h5meta` finds it) are fetched with
:meth:`BlockedSource.prefetch_small` on a finer grid of ``small_block_size`` blocks, at most
``max_concurrency`` requests per round trip: a few kilobytes around each piece instead of whole
blocks. Both grids share the memory LRU's limits and the persistent cache (a block's file name holds
its grid), and every read looks in both: bytes held on either grid are never fetched again.

Examples
--------
>>> from napstream.io.base import BlockedSource
>>> class Fake(BlockedSource):
...     def __init__(self, data):
...         self.data = data
...         super().__init__(len(data), block_size=4, description="fake")
...     def _fetch_ranges(self, ranges):
...         return [self.data[a:b] for a, b in ranges]
>>> src = Fake(b"0123456789")
>>> src.read_range(2, 7), src.read_ranges([(0, 1), (8, 10)])
(b'23456', [b'0', b'89'])
>>> [bytes(v) for v in src.read_views([(1, 3), (2, 7)])]  # (1, 3): a view of block 0, no copy
[b'12', b'23456']
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidInputError, InvalidTypeError
from . import trace as _trace
from .btree import IndexNodes, SiblingWalk
from .cache import BlockCache, MemoryLRU
from .gcpause import gc_paused  # (io/pinned.py imports it from here too)
from .pinned import PinnedLRU, ReadAhead, ReadAheadHandle
from .ranges import ByteRange, block_bounds, blocks_for, check_range, normalize_ranges
from .small_grid import SmallGrid
from .stats import IOStats

__all__ = ["ByteSource", "BaseSource", "BlockedSource"]

_MiB = 2**20
_log = logging.getLogger(__name__)

@runtime_checkable
class ByteSource(Protocol):
    """What napstream needs of a file's bytes (see the module docstring)."""

    size: int
    stats: IOStats
    description: str

    def read_range(self, start: int, end: int) -> bytes: ...

    def read_ranges(self, ranges: Iterable[tuple[int, int]]) -> list[bytes]: ...

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None: ...

    def close(self) -> None: ...


class BaseSource:
    """Validation, stats, context manager and ``repr`` shared by every source.

    Subclasses set ``size`` and implement ``_read(range)``; they may override ``_read_many`` and
    ``_prefetch``.
    """

    is_remote = False
    size: int
    description: str
    locator: str
    """What :func:`~napstream.io.open_source` was given (may contain a query string; not for display)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.stats = IOStats.for_source()
        self.io_options: dict[str, Any] = {}
        self._closed = False

    # -- public API --------------------------------------------------------------------------
    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the file.

        Examples
        --------
        >>> import tempfile, os
        >>> from napstream.io.local import LocalSource
        >>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
        >>> _ = open(path, "wb").write(b"hello world")
        >>> LocalSource(path).read_range(6, 11)
        b'world'
        """
        self._check_open()
        return self._read(check_range(start, end, self.size))

    def read_unplanned(self, start: int, end: int) -> bytes:
        """:meth:`read_range` for reads nobody planned: h5py's own reads through
        :class:`~napstream.io.fileobj.FileObject` (metadata). A remote source may bring along the
        blocks such a walk usually wants next."""
        self._check_open()
        return self._read_unplanned(check_range(start, end, self.size))

    def peek(self, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` if they can be had without a network request, else None.

        A local file always has them; a remote source has them when every block of the range is
        in its memory or disk cache. Nothing is fetched and no statistics are counted.

        Examples
        --------
        >>> import napstream.io.base as this_module
        >>> from napstream.io.local import LocalSource
        >>> LocalSource(this_module.__file__).peek(3, 18)  # the first words of this file's docstring
        b'The ByteSource '
        """
        self._check_open()
        return self._peek(check_range(start, end, self.size))

    def read_ranges(self, ranges: Iterable[tuple[int, int]]) -> list[bytes]:
        """Bytes of many ranges, in the order given (fetched concurrently by remote sources)."""
        self._check_open()
        return self._read_many(normalize_ranges(ranges, self.size))

    def read_views(self, ranges: Iterable[tuple[int, int]]) -> list[bytes | memoryview]:
        """:meth:`read_ranges` for a reader that only looks at the bytes (a decoder): a range inside
        one cached block comes as a read-only ``memoryview`` of that block, not a copy.

        Examples
        --------
        See the module docstring.
        """
        self._check_open()
        return self._read_views(normalize_ranges(ranges, self.size))

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Warm the cache with these ranges (no-op for local files)."""
        self._check_open()
        self._prefetch(normalize_ranges(ranges, self.size))

    def prefetch_small(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Warm the cache with small scattered ranges (metadata) in one round trip (no-op for local files)."""
        self._check_open()
        self._prefetch_small(normalize_ranges(ranges, self.size))

    def prefetch_nodes(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Warm the cache with many scattered small pieces (a chunk index's nodes) at once, in one
        round trip where the source can (no-op for local files)."""
        self._check_open()
        self._prefetch_nodes(normalize_ranges(ranges, self.size))

    def close(self) -> None:
        """Release the file handle or network session (idempotent)."""
        self._closed = True

    def read_ahead(self, ranges: Iterable[tuple[int, int]], max_bytes: int, requests: int | None = None) -> Any:
        """Background read-ahead of planned ranges; None here (local files need none)."""
        return None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def prefetch_limit(self) -> int | None:
        """Bytes worth prefetching at once (None: no limit, or no point prefetching)."""
        return None

    # -- hooks -------------------------------------------------------------------------------
    def _read(self, r: ByteRange) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_unplanned(self, r: ByteRange) -> bytes:
        return self._read(r)

    def _peek(self, r: ByteRange) -> bytes | None:
        return None

    def _read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        return [self._read(r) for r in ranges]

    def _read_views(self, ranges: Sequence[ByteRange]) -> list[bytes | memoryview]:
        return list(self._read_many(ranges))

    def _prefetch(self, ranges: Sequence[ByteRange]) -> None:
        return None

    def _prefetch_small(self, ranges: Sequence[ByteRange]) -> None:
        self._prefetch(ranges)

    def _prefetch_nodes(self, ranges: Sequence[ByteRange]) -> None:
        self._prefetch_small(ranges)

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInputError(f"the byte source {self.description} is closed")

    def __enter__(self) -> "BaseSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description} ({self.size} bytes)>"


class BlockedSource(SmallGrid, IndexNodes, BaseSource):
    """Block-cached reads over a concurrent range transport (see the module docstring).

    Parameters
    ----------
    size : int
        File size in bytes.
    block_size : int
        Size of cached blocks.
    description : str
        Safe display name.
    cache : BlockCache, optional
        Persistent block cache (None: memory LRU only).
    cache_key : str, optional
        Key of this file in ``cache`` (see :meth:`BlockCache.file_key`).
    max_concurrency : int
        Concurrent requests per batch (used to split large runs).
    memory_bytes : int, optional
        Byte limit of the in-memory block LRU (default ``max(64 MiB, 8 blocks)``).
    """

    is_remote = True
    #: largest request: contiguous missing blocks are fetched in runs of at most this many bytes
    max_run_bytes = 16 * _MiB
    #: blocks fetched ahead of an unplanned miss that continues a forward scan (h5py walking
    #: metadata that is not prefetched); 0 turns read-ahead off
    readahead_blocks = 3
    #: the finer grid of :meth:`prefetch_small` (metadata pieces); used only when it divides
    #: ``block_size`` into at least two blocks and the source's answers carry validators (a change
    #: of the file is then caught on every answer), else small pieces are fetched as whole blocks
    small_block_size = 16 * 1024
    #: byte limit of the memory LRU of small blocks
    small_memory_bytes = 16 * _MiB
    #: reads up to this size look for their bytes on both grids before fetching whole blocks
    small_read_max = 1 * _MiB

    def __init__(
        self,
        size: int,
        block_size: int,
        description: str,
        cache: BlockCache | None = None,
        cache_key: str | None = None,
        max_concurrency: int = 8,
        memory_bytes: int | None = None,
    ) -> None:
        super().__init__(description)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise InvalidInputError(f"block_size must be a positive integer, got {block_size!r}")
        if cache is not None and not isinstance(cache, BlockCache):
            raise InvalidTypeError(f"cache must be a BlockCache or None, got {type(cache).__name__}")
        self.size = int(size)
        self.block_size = block_size
        self.max_concurrency = max_concurrency
        self.cache = cache
        self.cache_key = cache_key
        self.memory = PinnedLRU(memory_bytes if memory_bytes is not None else max(64 * _MiB, 8 * block_size))
        self._ahead: ReadAhead | None = None  # background read-ahead of planned reads (io/pinned.py)
        #: (block index, start, bytes): the already fetched end of an incomplete block (from the
        #: suffix request at open), joined to the rest of that block when it is fetched
        self._fragment: tuple[int, int, bytes] | None = None
        #: blocks a thread is fetching now -> set when that fetch ends (other threads wait for it
        #: instead of fetching the same block again)
        self._inflight: dict[int, threading.Event] = {}
        self._inflight_lock = threading.Lock()
        self._small = MemoryLRU(self.small_memory_bytes)  # blocks of the small grid, by index
        self._walk: SiblingWalk | None = None  # h5py's walks of chunk indexes (io/btree.py)
        self._exact_nodes: dict[int, bytes] = {}  # index nodes fetched whole, by address (io/btree.py)

    def close(self) -> None:
        """Close the source; blocks still queued for the disk cache are written first."""
        ahead = self._ahead
        if ahead is not None:
            ahead.stop()
        super().close()
        disk = self._disk
        if disk is not None:
            disk.flush()

    def read_ahead(self, ranges: Iterable[tuple[int, int]], max_bytes: int,
                   requests: int | None = None) -> ReadAheadHandle | None:
        """Fetch ``ranges`` in the background, in order, and pin them until read (see :mod:`.pinned`).

        At most ``max_bytes`` are pinned at once (the caller counts them in its memory budget)
        and ``requests`` (default ``max_concurrency``) requests are in flight. Cancel the
        returned handle when the reads are done or abandoned. Local sources return None.
        """
        self._check_open()
        if max_bytes < self.block_size:
            return None
        todo = normalize_ranges(ranges, self.size)
        if not todo:
            return None
        if self._ahead is None:
            self._ahead = ReadAhead(self)
        n = self.max_concurrency if requests is None else min(int(requests), self.max_concurrency)
        return self._ahead.announce(todo, max_bytes, max(1, n))

    @property
    def prefetch_limit(self) -> int:
        """Bytes per prefetch batch: bounded by the memory LRU when there is no disk cache."""
        if self._disk is not None:
            return max(256 * _MiB, 4 * self.block_size)
        return max(self.memory.max_bytes // 2, self.block_size)

    @property
    def _disk(self) -> BlockCache | None:
        cache = self.cache
        return cache if cache is not None and cache.enabled and self.cache_key else None

    # -- transport hook ------------------------------------------------------------------------
    def _fetch_ranges(self, ranges: Sequence[ByteRange]) -> list[bytes]:  # pragma: no cover
        raise NotImplementedError

    # -- blocks --------------------------------------------------------------------------------
    def _block_len(self, index: int) -> int:
        return block_bounds(index, self.block_size, self.size).length

    def _lookup(self, index: int, want_data: bool = True) -> bytes | None:
        data = self.memory.get(index)
        if data is None and self._disk is not None:
            data = self._disk.get(self.cache_key, self.block_size, index, self._block_len(index))  # type: ignore[arg-type]
            if data is not None and want_data:
                self.memory.put(index, data)
        return data

    def _runs(self, missing: list[int]) -> list[list[int]]:
        """Group sorted block indices into contiguous runs, split for concurrency."""
        per_worker = math.ceil(len(missing) / max(self.max_concurrency, 1))
        cap = max(1, min(self.max_run_bytes // self.block_size, per_worker))
        runs: list[list[int]] = []
        for i in missing:
            if runs and runs[-1][-1] == i - 1 and len(runs[-1]) < cap:
                runs[-1].append(i)
            else:
                runs.append([i])
        return runs

    def _fetch_blocks(self, missing: list[int], keep: dict[int, bytes] | None) -> None:
        """Fetch ``missing`` blocks in one concurrent batch; store them in the caches."""
        runs = self._runs(missing)
        ranges = [ByteRange(block_bounds(r[0], self.block_size, self.size).start,
                            block_bounds(r[-1], self.block_size, self.size).end) for r in runs]
        t0 = time.perf_counter()
        with gc_paused():
            bodies = self._fetch_runs([r[-1] for r in runs], ranges)
        self.stats.add(round_trips=1, wait_seconds=time.perf_counter() - t0)
        with self._storing():
            for run, rng, body in zip(runs, ranges, bodies):
                for i in run:
                    lo = block_bounds(i, self.block_size, self.size)
                    block = body[lo.start - rng.start: lo.end - rng.start]
                    self._store(i, block)
                    if keep is not None:
                        keep[i] = block

    def _fragment_tails(self, lasts: Sequence[int], ranges: Sequence[ByteRange]) -> list[bytes]:
        """For block runs ``ranges`` ending at blocks ``lasts``: the end of each that the open's
        suffix request brought already (``b""`` where none)."""
        frag = self._fragment
        return [frag[2] if frag is not None and last == frag[0] and rng.start < frag[1] else b""
                for last, rng in zip(lasts, ranges)]

    def _fetch_runs(self, lasts: Sequence[int], ranges: Sequence[ByteRange]) -> list[bytes]:
        """Bodies of block runs ``ranges`` (ending at blocks ``lasts``), whole, without asking again
        for the end of the file the open's suffix request brought (:meth:`_fragment_tails`)."""
        tails = self._fragment_tails(lasts, ranges)
        bodies = self._fetch_unheld([ByteRange(rng.start, rng.end - len(t)) for rng, t in zip(ranges, tails)])
        if any(tails):  # the fragment's bytes were fetched at open: they come from memory now
            bodies = [body + t if t else body for body, t in zip(bodies, tails)]
            self.stats.add(bytes_from_cache=sum(len(t) for t in tails))
            self._fragment = None
        return bodies

    def _storing(self) -> Any:
        """Context in which the blocks :meth:`_store` gets go to the disk cache a run per file."""
        disk = self._disk
        return disk.batch() if disk is not None else contextlib.nullcontext()

    def _store(self, index: int, block: bytes) -> None:
        """Keep a complete block in the memory LRU and the persistent cache."""
        self.memory.put(index, block)
        disk = self._disk
        if disk is not None:
            disk.put(self.cache_key, self.block_size, index, block)  # type: ignore[arg-type]

    def _get_blocks(self, wanted_ranges: Sequence[ByteRange], unplanned: bool = False) -> dict[int, bytes]:
        """Blocks covering ``wanted_ranges``: from memory, disk, then one network batch."""
        indices = {i for r in wanted_ranges for i in blocks_for(r.start, r.end, self.block_size)}
        found: dict[int, bytes] = {}
        missing = []
        for i in sorted(set(indices)):
            data = self._lookup(i)
            if data is None:
                missing.append(i)
            else:
                found[i] = data
        hit_bytes = 0
        for r in wanted_ranges:
            for i in blocks_for(r.start, r.end, self.block_size):
                if i in found:
                    lo = block_bounds(i, self.block_size, self.size)
                    hit_bytes += min(r.end, lo.end) - max(r.start, lo.start)
        self.stats.add(cache_hits=len(found), cache_misses=len(missing), bytes_from_cache=hit_bytes)
        if missing:
            kinds = self._trace_kinds(missing, unplanned) if _trace.on else None
            t0 = _trace.now() if kinds else 0.0
            ahead = self._ahead
            if ahead is not None and not unplanned:  # caught up with the read-ahead: it hurries
                ahead.hurry(missing)  # these for us (claimed: we wait for them below)
            mine, theirs = self._claim(sorted({*missing, *self._readahead(missing, unplanned)}), found)
            if ahead is not None:
                if unplanned:
                    ahead.taken(mine)  # h5py's own read fetches these: the read-ahead drops them
                elif theirs:
                    ahead.waiting()  # waiting for the read-ahead's requests: the link is not full yet
            try:
                if mine:
                    with _trace.role("meta" if unplanned else "reader"):
                        self._fetch_blocks(mine, found)
            finally:
                self._release(mine)
            self._await(theirs, set(missing), found)
            if kinds:
                _trace.wait("+".join(sorted(kinds)), t0, _trace.now(), len(missing))
        return found

    def _trace_kinds(self, missing: list[int], unplanned: bool) -> dict[str, int]:
        """Why each missing block was missing (NAPSTREAM_TRACE only): queued by the read-ahead and
        not started, in flight (another thread fetches it), or never announced."""
        ahead = self._ahead
        queued = ahead._queued if ahead is not None else set()
        kinds: dict[str, int] = {}
        with self._inflight_lock:
            for i in missing:
                kind = "in flight" if i in self._inflight else "queued" if i in queued else (
                    "unplanned" if unplanned else "unannounced")
                kinds[kind] = kinds.get(kind, 0) + 1
        for kind, n in kinds.items():
            _trace.count(f"missing {kind}", n)
        return kinds

    # -- blocks fetched by another thread --------------------------------------------------------
    #: seconds to wait for another thread's fetch of a block before fetching it again
    inflight_wait = 600.0

    def _claim(self, wanted: list[int], found: dict[int, bytes]) -> tuple[list[int], list[tuple[int, threading.Event]]]:
        """Split ``wanted`` into blocks this thread fetches and blocks another thread is fetching."""
        mine: list[int] = []
        theirs: list[tuple[int, threading.Event]] = []
        with self._inflight_lock:
            for i in wanted:
                event = self._inflight.get(i)
                if event is not None:
                    theirs.append((i, event))
                    continue
                data = self.memory.get(i)  # fetched since our lookup
                if data is not None:
                    found[i] = data
                    continue
                self._inflight[i] = threading.Event()
                mine.append(i)
        return mine, theirs

    def _release(self, mine: list[int]) -> None:
        with self._inflight_lock:
            for i in mine:
                event = self._inflight.pop(i, None)
                if event is not None:
                    event.set()

    def _await(self, theirs: list[tuple[int, threading.Event]], needed: set[int], found: dict[int, bytes]) -> None:
        """Blocks another thread was fetching (only those this read needs); fetched here if that failed."""
        again = []
        for i, event in theirs:
            if i not in needed:
                continue  # read-ahead that another thread brings anyway
            event.wait(self.inflight_wait)
            data = self._lookup(i)
            if data is None:
                again.append(i)
            else:
                found[i] = data
        if again:
            mine, _ = self._claim(again, found)
            try:
                if mine:
                    self._fetch_blocks(mine, found)
            finally:
                self._release(mine)
            for i in again:
                if i not in found:  # claimed again by a third thread meanwhile: read it as it lands
                    self._fetch_blocks([i], found)

    def _present(self, index: int) -> bool:
        if self.memory.contains(index):  # a look: a get would unpin a read-ahead block before its read
            return True
        disk = self._disk
        return disk is not None and disk.has(self.cache_key, self.block_size, index, self._block_len(index))  # type: ignore[arg-type]

    def _readahead(self, missing: list[int], unplanned: bool = False) -> list[int]:
        """Blocks to fetch along with ``missing`` when an unplanned read continues a forward scan.

        Unplanned reads are h5py's own reads (metadata the NWB layer did not prefetch; data reads
        are planned from the chunk index first). h5py walks such metadata mostly forward: when the
        block before the first miss is already here, the next few blocks are likely wanted soon,
        and fetching them in the same round trip saves one round trip each. Planned reads
        (``read_range``, ``read_ranges``, ``prefetch``) never read ahead.
        """
        first, last = missing[0], missing[-1]
        if not unplanned or self.readahead_blocks < 1 or first == 0 or not self._present(first - 1):
            return []
        n_blocks = -(-self.size // self.block_size)
        ahead = range(last + 1, min(n_blocks, last + 1 + self.readahead_blocks))
        return [i for i in ahead if not self._present(i)]

    def _assemble(self, r: ByteRange, blocks: dict[int, bytes]) -> bytes:
        """Bytes ``r`` out of its ``blocks``, copied once."""
        view = self._view(r, blocks)
        return view if isinstance(view, bytes) else bytes(view)

    def _view(self, r: ByteRange, blocks: dict[int, bytes]) -> bytes | memoryview:
        """Bytes ``r`` out of its ``blocks``: a view of the block when ``r`` lies inside one (no
        copy), else the pieces joined (one copy)."""
        size = self.block_size
        i = r.start // size
        lo = i * size
        if r.end <= r.start:
            return b""
        if r.end - lo <= size:
            return memoryview(blocks[i])[r.start - lo: r.end - lo]
        return b"".join([memoryview(blocks[i])[max(r.start - i * size, 0): r.end - i * size]
                         for i in blocks_for(r.start, r.end, size)])

    # -- BaseSource hooks ------------------------------------------------------------------------
    def _peek(self, r: ByteRange) -> bytes | None:
        return self._held_bytes(r)

    def _read_unplanned(self, r: ByteRange) -> bytes:
        data = self._read(r, unplanned=True)
        if data[:4] == b"TREE" and self.walk_siblings:  # a chunk index node: h5py may be walking it
            self._node_read(r.start, data)
        return data

    def _read(self, r: ByteRange, unplanned: bool = False) -> bytes:
        size = self.block_size
        index = r.start // size
        if r.end > r.start and (r.end - 1) // size == index:  # fast path: one block in memory
            block = self.memory.get(index)
            if block is not None:
                self.stats.add(cache_hits=1, bytes_from_cache=r.end - r.start)
                offset = index * size
                return block[r.start - offset: r.end - offset]
        if self._small_size is not None and r.end - r.start <= self.small_read_max:
            data = self._held_bytes(r)  # metadata fetched on the small grid, or blocks on disk
            if data is not None:
                self.stats.add(cache_hits=1, bytes_from_cache=len(data))
                return data
        return self._assemble(r, self._get_blocks([r], unplanned))

    def _read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        blocks = self._get_blocks(ranges)
        return [self._assemble(r, blocks) for r in ranges]

    def _read_views(self, ranges: Sequence[ByteRange]) -> list[bytes | memoryview]:
        blocks = self._get_blocks(ranges)
        return [self._view(r, blocks) for r in ranges]

    def prefetch_behind(self, ranges: Iterable[tuple[int, int]], before: Callable[[], None] | None = None,
                        name: str = "napstream-prefetch-behind") -> threading.Thread | None:
        """Fetch ``ranges`` in a background thread whose blocks are claimed *now*, in the caller's
        thread: a read of them from this call on waits for that fetch rather than fetching them again
        (before, a read made before the thread had claimed them raced it and fetched them twice).
        Blocks a read-ahead plan wants are left to it: once the thread fetched its own, it runs
        ``before`` (e.g. waiting for a speculation), then hurries those still queued
        (:meth:`prefetch`). Returns the thread, or None when nothing is missing.

        >>> class Fake(BlockedSource):
        ...     def __init__(self, data):
        ...         self.data, self.asked = data, []
        ...         super().__init__(len(data), block_size=4, description="fake")
        ...     def _fetch_ranges(self, ranges):
        ...         self.asked += [(r.start, r.end) for r in ranges]
        ...         return [self.data[r.start:r.end] for r in ranges]
        >>> src = Fake(bytes(range(16)))
        >>> thread = src.prefetch_behind([(0, 8)])
        >>> src.read_range(0, 8) == bytes(range(8))   # waits for the thread's fetch, no request of its own
        True
        >>> thread.join(); sum(b - a for a, b in src.asked)   # every byte once, by the thread
        8
        """
        self._check_open()
        todo = normalize_ranges(ranges, self.size)
        wanted = sorted({i for r in todo for i in blocks_for(r.start, r.end, self.block_size)})
        memory = self.memory
        is_wanted = getattr(memory, "is_wanted", None)
        absent = [i for i in wanted if not self._present(i)]
        queued = [i for i in absent if is_wanted is not None and is_wanted(i)]  # a read-ahead's
        mine, _ = self._claim([i for i in absent if not (is_wanted is not None and is_wanted(i))], {})
        if not mine and not queued:
            return None
        per_batch = self._prefetch_batch_blocks()

        def fetch() -> None:
            try:
                # no collection until the blocks are stored and released: a reader waiting for them
                # may hold h5py's global lock, which freeing an h5py object here would wait for
                with gc_paused():
                    for k in range(0, len(mine), per_batch):
                        part = mine[k: k + per_batch]
                        try:
                            with _trace.role("prefetch"):
                                self._fetch_blocks(part, None)
                        finally:
                            self._release(part)
                    if queued:
                        if before is not None:
                            before()
                        self._prefetch(todo)  # a read-ahead's blocks still queued: fetched next
            except Exception as err:  # noqa: BLE001 - a hint only: the reads fetch what is missing
                _log.debug("background fetch of %s failed: %r", self.description, err)
            finally:
                self._release(mine)  # whatever is left (a failure): its readers fetch it themselves

        thread = threading.Thread(target=fetch, name=name, daemon=True)
        try:
            thread.start()
        except BaseException:
            self._release(mine)
            raise
        return thread

    def _prefetch_batch_blocks(self) -> int:
        """Blocks fetched per batch by a prefetch: the bodies of one batch are held in memory until
        written to the caches, so batches stay modest."""
        batch_bytes = min(self.prefetch_limit, max(32 * _MiB, 2 * self.max_concurrency * self.block_size))
        return max(1, batch_bytes // self.block_size)

    def _prefetch(self, ranges: Sequence[ByteRange]) -> None:
        wanted = sorted({i for r in ranges for i in blocks_for(r.start, r.end, self.block_size)})
        missing = []
        for i in wanted:
            # a look, not a read: a get would unpin the read-ahead's blocks here, and the small LRU
            # (it gives way to the pins) would drop them before the read that follows
            if self.memory.contains(i) or (
                self._disk is not None
                and self._disk.has(self.cache_key, self.block_size, i, self._block_len(i))  # type: ignore[arg-type]
            ):
                continue
            missing.append(i)
        self.stats.add(cache_hits=len(wanted) - len(missing), cache_misses=len(missing))
        if not missing:
            return
        kinds = self._trace_kinds(missing, False) if _trace.on else None
        t0 = _trace.now() if kinds else 0.0
        ahead = self._ahead
        if ahead is not None:  # blocks the read-ahead queued: it fetches them next, for this reader
            ahead.hurry(missing)
        per_batch = self._prefetch_batch_blocks()
        for k in range(0, len(missing), per_batch):
            # blocks another thread (a reader, the read-ahead) is fetching now are not fetched twice:
            # the read that follows waits for them
            mine, _ = self._claim(missing[k: k + per_batch], {})
            try:
                if mine:
                    with _trace.role("prefetch"):
                        self._fetch_blocks(mine, None)
            finally:
                self._release(mine)
        if kinds:
            _trace.wait("prefetch: " + "+".join(sorted(kinds)), t0, _trace.now(), len(missing))
