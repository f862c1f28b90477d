"""Persistent on-disk block cache shared across processes and sessions, plus a memory LRU.

Layout under the cache folder (``cache_dir=``, ``config.cache_dir`` / ``NAPSTREAM_CACHE_DIR``, or
the platform's user cache folder)::

    v3/<key[:2]>/<key>/meta.json                        url (no query string), size, version
    v3/<key[:2]>/<key>/<block_size>-<first>-<n>-<bytes>  a run of n contiguous blocks (see below)
    v3/seen/<sha256 of the URL>/key                     this URL was opened before: its key then

``key`` is a SHA-256 of (URL without query string, size, ETag or Last-Modified): a remote file
whose size or validator changed gets a new key. A server whose validators do not change with the
content cannot be caught that way: see :class:`~napstream.io.http.HTTPSource` for the content checks
that cover it, and the user guide for exactly what is guaranteed. No file name contains URL parts.

The blocks fetched together (one request's run) are stored in one *run file*: a header with each
block's CRC32 padded to 64 bytes, then the blocks (:mod:`napstream.io.cache_files`); a run
file of 1 MiB or more is written with ``O_DIRECT`` where the file system allows it (no page-cache
copy: :func:`~napstream.io.cache_files.write_parts`). One file per run instead of one
per block: creating a file is the dominant cost of the cache (0.1-0.9 ms of CPU on a VM). Run files
are written to a temporary file and moved into place with :func:`os.replace`, so a killed process
never leaves a partial run; the size, the header and the block's checksum are verified on every
read, and a damaged file serves nothing. A process finds a block's run file through its index of
the key's folder (:class:`~napstream.io.cache_files.RunIndex`), refreshed by one ``scandir`` on a
miss (at most every :attr:`BlockCache.rescan_seconds`), so blocks another process stored become
visible within that delay. Past ``config.cache_size`` the least recently used run files are evicted
(a hit refreshes the file's mtime, at most once per :attr:`BlockCache.touch_seconds`, so the order
is shared by all processes). A cache that cannot be written (read-only folder, full disk) warns
once and the source carries on without it. The older layouts (``v2``: run files without the
header padding; ``v1``: a file per block) are not read any more; their files still count in the size, are evicted first (never refreshed) and are
deleted by :func:`clear_cache`.

The folder may be shared and is not trusted: the cache never follows a symbolic link inside it,
reads only regular files (a FIFO or device at a cache path is a miss, never a blocking read),
and deletes (eviction, :func:`clear_cache`) only regular files with the names it writes itself.
The writer thread of a folder ends after a second without work.

Examples
--------
>>> import tempfile
>>> from napstream.io.cache import BlockCache, cache_info
>>> cache = BlockCache(tempfile.mkdtemp())
>>> key = cache.register("https://example.org/f.nwb?sig=1", size=10, version='"etag1"')
>>> cache.put_run(key, 4, 0, [b"abcd", b"efgh"])
>>> cache.get(key, 4, 1, expected_length=4)
b'efgh'
>>> cache.flush(); cache_info(cache.directory)["entries"][0]["blocks"]
2
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import json
import os
import queue
import random
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..config import config
from ..errors import InvalidTypeError
from . import cache_files as cf
from .cache_files import HEX64 as _HEX64, NOFOLLOW as _NOFOLLOW
from .cache_files import is_regular as _is_regular, own_entries as _own_entries, read_regular as _read_regular
from .cache_files import scandir as _scandir
from .memory_lru import MemoryLRU
from .retry import safe_url

__all__ = ["BlockCache", "MemoryLRU", "get_cache", "default_cache_dir", "cache_info", "clear_cache"]

_LAYOUT = cf.LAYOUT
_LAYOUTS = (cf.LAYOUT, *cf.OLD_LAYOUTS)
_SEEN = cf.SEEN
_TMP_PREFIX = cf.TMP_PREFIX
_STALE_TMP_SECONDS = 3600.0


_COUNTER = itertools.count()


def _unique() -> str:
    """A name no other write uses (process, counter, random bits: no system call, unlike uuid4)."""
    return f"{os.getpid():x}{next(_COUNTER):x}{random.getrandbits(48):012x}"


def default_cache_dir() -> Path:
    """``config.cache_dir`` (NAPSTREAM_CACHE_DIR) or the platform's user cache folder.

    >>> default_cache_dir().name in ("napstream", "cache") or True
    True
    """
    if config.cache_dir:
        return Path(config.cache_dir).expanduser()
    env = os.environ.get("NAPSTREAM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("napstream"))


def _as_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise InvalidTypeError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}")
    return Path(cache_dir).expanduser()


class BlockCache:
    """Blocks of remote files on disk (see the module docstring).

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder (default: :func:`default_cache_dir`).
    max_size : int or str, optional
        Size cap in bytes (default ``config.cache_size``); LRU eviction past it.
    """

    #: at most this many blocks per run file (a longer run is split; eviction frees whole files)
    max_run_blocks = 32
    #: seconds between two scans of a key's folder for blocks other processes stored (on misses)
    rescan_seconds = 0.25
    #: a hit refreshes its run file's mtime (the LRU order) at most once per this many seconds
    touch_seconds = 1.0

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, max_size: int | str | None = None) -> None:
        self.directory = _as_dir(cache_dir)
        self._max_size = None if max_size is None else config._validate("cache_size", max_size)
        self._root = self.directory / _LAYOUT
        self._lock = threading.Lock()
        self._disk_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, scanned lazily
        self._warned = False
        self._meta: dict[str, bytes] = {}
        #: blocks queued for the writer thread, by (key, block_size, index)
        self._pending: dict[tuple[str, int, int], bytes] = {}
        self._folders: dict[str, Path] = {}  # key -> its folder
        self._indexes: dict[str, cf.RunIndex] = {}  # key -> which run file holds which block
        self._touched: dict[str, float] = {}  # run file -> time.monotonic() of its last mtime refresh
        #: folder -> when it was last found a real folder (made, not a link): writes into it within
        #: :attr:`recheck_seconds` skip the checks (a few system calls per file otherwise)
        self._checked: dict[Path, float] = {}
        self.recheck_seconds = 1.0
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._local = threading.local()  # .batch: the puts of this thread's open batch()
        self._writer: threading.Thread | None = None
        #: blocks waiting for the writer; past that a caller writes its run itself
        self.max_pending = 32
        #: seconds without work after which the writer thread ends (a new one starts when needed)
        self.idle_seconds = 1.0
        self.enabled = True
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self._disable(err)

    @property
    def max_size(self) -> int:
        """Size cap in bytes."""
        return self._max_size if self._max_size is not None else config.cache_size

    @staticmethod
    def file_key(url: str, size: int, version: str | None) -> str:
        """Hash of (URL without query string, size, ETag/Last-Modified) naming a remote file.

        >>> BlockCache.file_key("https://h/f?a=1", 10, "e") == BlockCache.file_key("https://h/f?a=2", 10, "e")
        True
        """
        text = f"{safe_url(url)}\x00{int(size)}\x00{version or ''}"
        return hashlib.sha256(text.encode()).hexdigest()

    def _folder(self, key: str) -> Path:
        folder = self._folders.get(key)
        if folder is None:
            if len(self._folders) > 4096:
                self._folders.clear()
            folder = self._folders[key] = self._root / key[:2] / key
        return folder

    def _index(self, key: str) -> cf.RunIndex:
        index = self._indexes.get(key)
        if index is None:
            with self._index_lock:
                index = self._indexes.get(key)
                if index is None:
                    if len(self._indexes) > 1024:
                        self._indexes.clear()
                    index = self._indexes[key] = cf.RunIndex(str(self._folder(key)))
        return index

    def _find(self, key: str, block_size: int, index: int, rescan: bool = True) -> tuple[cf.RunIndex, Any]:
        """(the key's index, (name, run) of a file holding the block or None); scans on a miss."""
        idx = self._index(key)
        hit = idx.find(block_size, index)
        if hit is None and rescan and time.monotonic() - idx.scanned >= self.rescan_seconds:
            with self._index_lock:
                if time.monotonic() - idx.scanned >= self.rescan_seconds:
                    idx.rescan()
            hit = idx.find(block_size, index)
        return idx, hit

    def _disable(self, err: BaseException) -> None:
        self.enabled = False
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"napstream block cache in {self.directory} is not usable ({err}); continuing without it",
                RuntimeWarning,
                stacklevel=3,
            )

    def register(self, url: str, size: int, version: str | None) -> str:
        """Record a remote file (``meta.json``) and return its key."""
        key = self.file_key(url, size, version)
        if not self.enabled:
            return key
        record = {"url": safe_url(url), "size": int(size), "version": version, "created": time.time()}
        self._meta[key] = json.dumps(record).encode()
        self._write_meta(key)
        self._write_atomic(self._seen_path(url) / "key", [key.encode()])
        return key

    def _seen_path(self, url: str) -> Path:
        digest = hashlib.sha256(safe_url(url).encode()).hexdigest()
        return self._root / _SEEN / digest

    def seen(self, url: str) -> bool:
        """True when a file at this URL (query string ignored) was registered here before.

        A remote source opening a URL it has never seen fetches its first and last blocks at
        once (nothing cached to validate); a known URL is validated with one HEAD first.

        >>> import tempfile
        >>> cache = BlockCache(tempfile.mkdtemp())
        >>> before = cache.seen("https://h/f.nwb")
        >>> _ = cache.register("https://h/f.nwb?sig=1", 10, "e")
        >>> before, cache.seen("https://h/f.nwb?sig=2")
        (False, True)
        """
        return self.enabled and self._seen_path(url).is_dir()

    def last_key(self, url: str) -> str | None:
        """The key this URL had when it was last registered here (None if unknown)."""
        raw = _read_regular(self._seen_path(url) / "key") if self.enabled else None
        text = raw.decode("ascii", "replace") if raw else ""
        return text if _HEX64.match(text) else None

    def blocks_of(self, key: str) -> list[tuple[int, int, int]]:
        """``(block_size, index, length)`` of the blocks of ``key`` in intact-looking run files on disk."""
        idx = self._index(key)
        with self._index_lock:
            idx.rescan()
            runs = list(idx.runs.values())
        seen: set[tuple[int, int]] = set()
        out = []
        for run in runs:
            bs, first, count, _ = run
            for k in range(count):
                if (bs, first + k) not in seen:
                    seen.add((bs, first + k))
                    out.append((bs, first + k, cf.block_length(run, k)))
        return sorted(out)

    def sample(self, key: str, n: int, width: int = 32) -> list[tuple[int, bytes]]:
        """Up to ``n`` random ``(file offset, bytes)`` pieces of ``key``'s cached blocks (for a content check).

        >>> import tempfile
        >>> cache = BlockCache(tempfile.mkdtemp())
        >>> cache.put("0" * 64, 4, 1, b"abcd"); cache.flush()
        >>> cache.sample("0" * 64, 3, width=2)[0][1] in (b"ab", b"bc", b"cd")
        True
        """
        blocks = self.blocks_of(key)
        out = []
        for block_size, index, length in random.sample(blocks, min(n, len(blocks))):
            data = self.get(key, block_size, index, length, touch=False)
            if data:
                at = random.randrange(max(len(data) - width, 0) + 1)
                out.append((block_size * index + at, data[at: at + width]))
        return out

    def purge(self, key: str) -> None:
        """Forget every cached block of ``key`` (the remote file changed under the same validators)."""
        self.flush()
        for entry in _scandir(self._folder(key)):
            if cf.parse_run(entry.name) is not None:
                self._discard(Path(entry.path))
        with self._index_lock:
            self._index(key).clear()
        with self._lock:
            self._size = None

    def _write_meta(self, key: str) -> None:
        folder = self._folder(key)
        if self._recently_checked(folder):  # the meta was looked at with the folder's check
            return
        meta = folder / "meta.json"
        if key in self._meta and not meta.exists():
            self._write_atomic(meta, [self._meta[key]])

    def _recently_checked(self, folder: Path) -> bool:
        at = self._checked.get(folder)
        return at is not None and time.monotonic() - at < self.recheck_seconds

    def get(self, key: str, block_size: int, index: int, expected_length: int, touch: bool = True) -> bytes | None:
        """The block's bytes if cached intact (exact length and checksum), else None."""
        if not self.enabled:
            return None
        data = self._pending.get((key, block_size, index))
        if data is not None and len(data) == expected_length:
            return data
        for _ in range(3):  # a damaged or vanished file is dropped; another may hold the block
            idx, hit = self._find(key, block_size, index)
            if hit is None:
                return None
            name, run = hit
            k = index - run[1]
            if cf.block_length(run, k) != expected_length:
                return None
            path = f"{idx.folder}{os.sep}{name}"
            data, trouble, header = cf.read_block(path, run, k, idx.headers.get(name))
            if data is not None:
                if header is not None and name not in idx.headers:
                    idx.headers[name] = header
                if touch:
                    self._touch(path)
                return data
            if trouble == cf.DAMAGED:
                self._discard(Path(path))
            with self._index_lock:
                idx.drop(name)
        return None

    def _touch(self, path: str) -> None:
        """Refresh a run file's mtime: the LRU order, shared by every process using this folder."""
        now = time.monotonic()
        last = self._touched.get(path)
        if last is not None and now - last < self.touch_seconds:
            return
        if len(self._touched) > 65536:
            self._touched.clear()
        self._touched[path] = now
        try:
            os.utime(path, follow_symlinks=False)
        except OSError:
            pass

    def has(self, key: str, block_size: int, index: int, expected_length: int) -> bool:
        """True when the block is in a run file with the right length (the file is checked on read).

        Answered from this process's index of the folder: no system call unless it scans the folder.
        """
        if not self.enabled:
            return False
        data = self._pending.get((key, block_size, index))
        if data is not None and len(data) == expected_length:
            return True
        _, hit = self._find(key, block_size, index)
        return hit is not None and cf.block_length(hit[1], index - hit[1][1]) == expected_length

    def put(self, key: str, block_size: int, index: int, data: bytes) -> None:
        """Store one block (a run of one: see :meth:`put_run`; inside :meth:`batch`, a part of a run)."""
        held = getattr(self._local, "batch", None)
        if held is not None:
            held.append((key, block_size, index, data))
        else:
            self.put_run(key, block_size, index, [data])

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Blocks this thread :meth:`put` inside the ``with`` are stored on leaving it, each
        contiguous run of them as one file (:meth:`put_run`): one file per request, not per block.

        >>> import tempfile
        >>> cache = BlockCache(tempfile.mkdtemp())
        >>> with cache.batch():
        ...     for i in (3, 4, 5, 9):
        ...         cache.put("0" * 64, 2, i, b"ab")
        >>> cache.flush(); sorted(cache._index("0" * 64).runs)
        ['2-3-3-6', '2-9-1-2']
        """
        local = self._local
        if getattr(local, "batch", None) is not None:  # nested: the outer batch stores
            yield
            return
        local.batch = held = []
        try:
            yield
        finally:
            local.batch = None
            run: list[bytes] = []
            for n, (key, bs, i, data) in enumerate(held):
                run.append(data)
                nxt = held[n + 1] if n + 1 < len(held) else None
                if nxt is None or nxt[:2] != (key, bs) or nxt[2] != i + 1 or len(data) != bs:
                    self.put_run(key, bs, i - len(run) + 1, run)
                    run = []

    def put_run(self, key: str, block_size: int, first: int, blocks: Sequence[bytes]) -> None:
        """Store blocks ``first, first + 1, ...`` of ``key`` atomically, in one file (a no-op once disabled).

        Every block but the last must be ``block_size`` long. The run is written by a background
        thread, off the reader's critical path (at most ``max_pending`` blocks wait; past that the
        caller writes itself). Until it lands on disk :meth:`get` and :meth:`has` serve it from
        memory; :meth:`flush` waits for the writes.

        >>> import tempfile
        >>> cache = BlockCache(tempfile.mkdtemp())
        >>> cache.put_run("0" * 64, 4, 10, [b"abcd", b"ef"]); cache.flush()
        >>> cache.blocks_of("0" * 64)
        [(4, 10, 4), (4, 11, 2)]
        """
        if not self.enabled or not blocks:
            return
        blocks = list(blocks)
        if len(self._pending) >= self.max_pending:  # the disk is slower than the network: write here
            if self._write_run(key, block_size, first, blocks):
                self._over_cap()
        else:
            pending = self._pending  # dict and SimpleQueue operations: no Python-level lock taken
            for k, data in enumerate(blocks):
                pending[(key, block_size, first + k)] = data
            self._jobs.put((key, block_size, first, blocks))
        writer = self._writer
        if writer is None or not writer.is_alive():
            self._start_writer()

    def flush(self) -> None:
        """Wait until every block handed to :meth:`put` is on disk (or dropped by a disabled cache)."""
        writer = self._writer
        if writer is None or not writer.is_alive() or writer is threading.current_thread():
            self._drain()
            return
        done = threading.Event()
        self._jobs.put(done)
        while not done.wait(0.5):
            if not writer.is_alive():  # the writer died (interpreter exit): write here
                self._drain()
                return

    def _start_writer(self) -> None:
        with _WRITERS_LOCK:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="napstream-cache-writer", daemon=True)
                self._writer.start()
                _FLUSH_AT_EXIT.add(self)

    #: niceness added to the writer thread (Linux: threads are scheduled apart): the file writes
    #: yield the cores to the decoding and analysis of the same job
    writer_niceness = 5

    def _write_loop(self) -> None:
        if self.writer_niceness and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                               os.getpriority(os.PRIO_PROCESS, 0) + self.writer_niceness)
            except OSError:  # not allowed here: write at the same priority
                pass
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with _WRITERS_LOCK:  # a put() enqueues first, then looks for a live writer
                    if self._jobs.empty():
                        if self._writer is threading.current_thread():
                            self._writer = None
                        cf.release_scratch()  # the buffer of direct writes: freed while idle
                        return
                continue
            self._run_jobs([job, *self._take(255)])

    def _take(self, n: int) -> list[Any]:
        """Up to ``n`` queued jobs, without waiting."""
        jobs = []
        while len(jobs) < n:
            try:
                jobs.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _drain(self) -> None:
        """Run the queued jobs in this thread (no writer thread running)."""
        while True:
            jobs = self._take(256)
            if not jobs:
                return
            self._run_jobs(jobs)

    def _run_jobs(self, jobs: list[Any]) -> None:
        """Runs to write (contiguous ones queued together share a file) and flush markers (set
        once everything queued before them is written)."""
        runs: list[tuple[str, int, int, list[bytes]]] = []
        for job in jobs:
            if isinstance(job, threading.Event):
                self._write_runs(runs)
                runs = []
                job.set()
            else:
                runs.append(job)
        self._write_runs(runs)

    def _write_runs(self, runs: list[tuple[str, int, int, list[bytes]]]) -> None:
        """Write queued runs, joining contiguous ones of one file; evicts past the cap."""
        written = 0
        merged: list[tuple[str, int, int, list[bytes]]] = []
        for key, bs, first, blocks in sorted(runs, key=lambda r: (r[0], r[1], r[2])):
            last = merged[-1] if merged else None
            if (last is not None and last[:2] == (key, bs) and last[2] + len(last[3]) == first
                    and len(last[3][-1]) == bs):
                last[3].extend(blocks)
            else:
                merged.append((key, bs, first, list(blocks)))
        for key, bs, first, blocks in merged:
            written += self._write_run(key, bs, first, blocks)
        if written:
            self._over_cap()

    def _run_length(self, block_size: int) -> int:
        """Blocks per run file: :attr:`max_run_blocks`, fewer when the cap is small (eviction frees files)."""
        return max(1, min(self.max_run_blocks, self.max_size // 16 // max(block_size, 1)))

    def _write_run(self, key: str, block_size: int, first: int, blocks: list[bytes]) -> int:
        """Write a run in run files of at most :meth:`_run_length` blocks; returns the bytes written."""
        written = 0
        try:
            if not self.enabled:
                return 0
            self._write_meta(key)
            longest = self._run_length(block_size)
            start = 0
            while start < len(blocks):
                end = start + 1  # a run file holds full blocks, only its last may be short
                while end < len(blocks) and end - start < longest and len(blocks[end - 1]) == block_size:
                    end += 1
                nbytes = self._write_file(key, block_size, first + start, blocks[start:end])
                if not nbytes:
                    break
                written += nbytes
                start = end
            return written
        finally:
            pending = self._pending
            for k, data in enumerate(blocks):
                at = (key, block_size, first + k)
                if pending.get(at) is data:
                    pending.pop(at, None)

    def _write_file(self, key: str, block_size: int, first: int, blocks: list[bytes]) -> int:
        """One run file, atomically; recorded in the index. Returns its bytes (0 if not written)."""
        nbytes = sum(len(b) for b in blocks)
        if not blocks or len(blocks[-1]) == 0 or len(blocks[-1]) > block_size:
            return 0
        header = cf.run_header(block_size, first, [cf.crc32(b) for b in blocks])
        name = cf.run_name(block_size, first, len(blocks), nbytes)
        if not self._write_atomic(self._folder(key) / name, [header, *blocks], counted=True):
            return 0
        run = (int(block_size), int(first), len(blocks), nbytes)
        idx = self._index(key)
        with self._index_lock:
            idx.add(name, run, header[: cf.crc_end(len(blocks))])
        return len(header) + nbytes

    def _over_cap(self) -> None:
        """Evict when the files on disk exceed the cap."""
        if self._current_size() > self.max_size:
            self.evict()

    def _linked(self, folder: Path) -> bool:
        """True when ``folder`` or a folder between it and the cache's root is a symbolic link."""
        while True:
            if folder.is_symlink():
                return True
            if folder == self._root or folder.parent == folder or self._root not in folder.parents:
                return False
            folder = folder.parent

    def _write_atomic(self, path: Path, parts: Sequence[bytes], disable: bool = True, counted: bool = False) -> bool:
        """Write ``path`` atomically (a temporary file moved into place); ``counted``: a block file,
        whose bytes the size bookkeeping adds as it appears (a size scan then sees it or not)."""
        # one write at a time (the writer thread and readers past max_pending both write): once a
        # write fails and disables the cache, no other write has started behind its back
        with self._disk_lock:
            return self._write_atomic_locked(path, parts, disable, counted)

    def _write_atomic_locked(self, path: Path, parts: Sequence[bytes], disable: bool, counted: bool) -> bool:
        if not self.enabled:
            return False
        folder = path.parent
        tmp = folder / f"{_TMP_PREFIX}{_unique()}"
        try:
            for attempt in (0, 1):
                if attempt or not self._recently_checked(folder):
                    folder.mkdir(parents=True, exist_ok=True)
                    if self._linked(folder):
                        self._checked.pop(folder, None)
                        return False  # never write through a link
                    self._checked[folder] = time.monotonic()
                if os.path.lexists(path) and not _is_regular(path):
                    return False  # never replace what napstream did not write
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
                except FileNotFoundError:  # the folder went away since it was checked (a cache clear)
                    self._checked.pop(folder, None)
                    if attempt:
                        raise
                    continue
                try:
                    _write_parts(fd, parts)
                finally:
                    os.close(fd)
                if not counted:
                    os.replace(tmp, path)
                    return True
                with self._lock:
                    os.replace(tmp, path)
                    if self._size is not None:
                        self._size += sum(len(p) for p in parts)
                return True
            return False
        except OSError as err:
            self._discard(tmp)
            if disable:
                self._disable(err)
            return False

    @staticmethod
    def _discard(path: Path) -> None:
        """Delete ``path`` if it is a regular file (a link, folder, FIFO... is left alone)."""
        if _is_regular(path):
            try:
                path.unlink()
            except OSError:
                pass

    def _scan(self) -> list[tuple[float, int, Path]]:
        """(mtime, bytes, path) of every block file of every layout; removes stale temporary files.

        Only regular files named as napstream names them, in folders named as napstream names
        them, are considered; symbolic links are never followed.
        """
        out = []
        now = time.time()
        for layout in _LAYOUTS:
            for _, entry in _own_entries(self.directory / layout):
                if not cf.is_own_file(layout, entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.startswith(_TMP_PREFIX):
                    if now - st.st_mtime > _STALE_TMP_SECONDS:
                        self._discard(Path(entry.path))
                else:
                    out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _current_size(self) -> int:
        with self._lock:
            if self._size is None:
                self._size = sum(s for _, s, _ in self._scan())
            return self._size

    def evict(self, target: int | None = None) -> int:
        """Delete least recently used run files until the cache holds at most ``target`` bytes.

        ``target`` defaults to 90% of :attr:`max_size`. Returns the bytes freed.
        """
        target = int(self.max_size * 0.9) if target is None else int(target)
        gone = []
        with self._lock:
            files = sorted(self._scan(), key=lambda b: b[0])
            total = sum(s for _, s, _ in files)
            freed = 0
            for _, nbytes, path in files:
                if total - freed <= target:
                    break
                self._discard(path)
                gone.append(path)
                freed += nbytes
            self._size = total - freed
        with self._index_lock:
            for path in gone:
                idx = self._indexes.get(path.parent.name)
                if idx is not None:
                    idx.drop(path.name)
        return freed

    def _forget_all(self) -> None:
        """Drop what this process knows of the folder (cleared behind its back)."""
        with self._lock:
            self._size = None
        self._checked.clear()  # its folders are gone: check (and make) them again
        with self._index_lock:
            for idx in self._indexes.values():
                idx.clear()
        self._touched.clear()


def _write_parts(fd: int, parts: Sequence[bytes]) -> None:
    cf.write_parts(fd, parts)


_CACHES: dict[tuple[str, int | None], BlockCache] = {}
_CACHES_LOCK = threading.Lock()
_WRITERS_LOCK = threading.Lock()
_FLUSH_AT_EXIT: "weakref.WeakSet[BlockCache]" = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """Blocks still queued at interpreter exit are written before the writer threads stop."""
    for cache in list(_FLUSH_AT_EXIT):
        try:
            cache.flush()
        except Exception:  # noqa: BLE001 - exiting must not raise
            pass


def _caches_of(directory: Path) -> list[BlockCache]:
    with _CACHES_LOCK:
        caches = [c for (folder, _), c in _CACHES.items() if folder == str(directory)]
    return caches + [c for c in list(_FLUSH_AT_EXIT) if c.directory == directory and c not in caches]


def _flush_folder(directory: Path) -> None:
    for cache in _caches_of(directory):
        cache.flush()


def get_cache(cache_dir: str | os.PathLike[str] | None = None) -> BlockCache:
    """The process-wide :class:`BlockCache` of a folder (one per folder, shared by sources)."""
    directory = _as_dir(cache_dir)
    with _CACHES_LOCK:
        cache = _CACHES.get((str(directory), None))
        if cache is None:  # a disabled cache stays disabled: one warning per folder and process
            cache = _CACHES[(str(directory), None)] = BlockCache(directory)
        return cache


from .cache_admin import cache_info, clear_cache  # noqa: E402 - they use the names above
