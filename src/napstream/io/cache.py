"""Persistent on-disk block cache shared across processes and sessions, plus a memory LRU.

Layout under the cache folder (``cache_dir=``, ``config.cache_dir`` / ``NAPSTREAM_CACHE_DIR``, or
the platform's user cache folder)::

    v1/<key[:2]>/<key>/meta.json          url (no query string), size, version of the remote file
    v1/<key[:2]>/<key>/<block_size>-<i>   block i: its bytes + a CRC32 trailer
    v1/seen/<sha256 of the URL>/          empty folder: this URL was opened before

``key`` is a SHA-256 of (URL without query string, size, ETag or Last-Modified), so a changed
remote file gets a new key and is never served stale; no file name contains URL parts. Blocks
are written to a temporary file and moved into place with :func:`os.replace`, so a killed process
never leaves a partial block; length and checksum are verified on every read. Past
``config.cache_size`` the least recently used blocks are evicted (a hit refreshes the block's
mtime, so the order is shared by all processes). A cache that cannot be written (read-only
folder, full disk) warns once and the source carries on without it.

Examples
--------
>>> import tempfile
>>> from napstream.io.cache import BlockCache, cache_info
>>> cache = BlockCache(tempfile.mkdtemp())
>>> key = cache.register("https://example.org/f.nwb?sig=1", size=10, version='"etag1"')
>>> cache.put(key, 4, 0, b"abcd")
>>> cache.get(key, 4, 0, expected_length=4)
b'abcd'
>>> cache_info(cache.directory)["files"]
1
"""

from __future__ import annotations

import hashlib
import json
import atexit
import os
import queue
import shutil
import struct
import threading
import time
import uuid
import warnings
import weakref
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..config import config
from ..errors import InvalidInputError, InvalidTypeError
from .retry import safe_url

__all__ = ["BlockCache", "MemoryLRU", "get_cache", "default_cache_dir", "cache_info", "clear_cache"]

_LAYOUT = "v1"
_SEEN = "seen"
_TRAILER = struct.Struct("<I")
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600.0


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

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, max_size: int | str | None = None) -> None:
        self.directory = _as_dir(cache_dir)
        self._max_size = None if max_size is None else config._validate("cache_size", max_size)
        self._root = self.directory / _LAYOUT
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, scanned lazily
        self._warned = False
        self._meta: dict[str, bytes] = {}
        self._pending: dict[Path, bytes] = {}  # blocks queued for the writer thread
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self.max_pending = 32
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
        return self._root / key[:2] / key

    def _block_path(self, key: str, block_size: int, index: int) -> Path:
        return self._folder(key) / f"{int(block_size)}-{int(index)}"

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
        try:  # an empty folder: nothing a block scan or a partial write could trip on
            self._seen_path(url).mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
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

    def _write_meta(self, key: str) -> None:
        meta = self._folder(key) / "meta.json"
        if key in self._meta and not meta.exists():
            self._write_atomic(meta, self._meta[key])

    def get(self, key: str, block_size: int, index: int, expected_length: int) -> bytes | None:
        """The block's bytes if cached intact (exact length and checksum), else None."""
        if not self.enabled:
            return None
        path = self._block_path(key, block_size, index)
        data = self._pending.get(path)
        if data is not None and len(data) == expected_length:
            return data
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            return None
        data, trailer = raw[:-_TRAILER.size], raw[-_TRAILER.size:]
        if len(raw) != expected_length + _TRAILER.size or _TRAILER.unpack(trailer)[0] != zlib.crc32(data):
            self._discard(path)
            return None
        try:
            os.utime(path)  # LRU order, shared by every process using this folder
        except OSError:
            pass
        return data

    def has(self, key: str, block_size: int, index: int, expected_length: int) -> bool:
        """True when the block file exists with the right length (checksum is checked on read)."""
        if not self.enabled:
            return False
        path = self._block_path(key, block_size, index)
        data = self._pending.get(path)
        if data is not None and len(data) == expected_length:
            return True
        try:
            return path.stat().st_size == expected_length + _TRAILER.size
        except OSError:
            return False

    def put(self, key: str, block_size: int, index: int, data: bytes) -> None:
        """Store one block atomically (a no-op once the cache is disabled).

        The block is written by a background thread, off the reader's critical path (at most
        ``max_pending`` blocks wait; past that the caller writes itself). Until it lands on disk
        :meth:`get` and :meth:`has` serve it from memory; :meth:`flush` waits for the writes.
        """
        if not self.enabled:
            return
        path = self._block_path(key, block_size, index)
        if len(self._pending) >= self.max_pending:  # the disk is slower than the network: write here,
            nbytes = self._write_block(key, path, data)  # leave the size bookkeeping to the writer
            self._jobs.put(nbytes)
        else:
            self._pending[path] = data  # dict and SimpleQueue operations: no Python-level lock taken
            self._jobs.put((key, path, data))
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

    def _write_loop(self) -> None:
        while True:
            self._run_job(self._jobs.get())

    def _drain(self) -> None:
        """Run the queued jobs in this thread (no writer thread running)."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            self._run_job(job)

    def _run_job(self, job: Any) -> None:
        """A block to write, bytes written by a reader (bookkeeping only), or a flush marker."""
        if isinstance(job, threading.Event):
            job.set()
        elif isinstance(job, int):
            if job:
                self._grew(job)
        else:
            nbytes = self._write_block(*job)
            if nbytes:
                self._grew(nbytes)

    def _write_block(self, key: str, path: Path, data: bytes) -> int:
        """Write one block file atomically; returns the bytes written (0 if not written)."""
        try:
            if not self.enabled:
                return 0
            self._write_meta(key)
            payload = bytes(data) + _TRAILER.pack(zlib.crc32(data))
            return len(payload) if self._write_atomic(path, payload) else 0
        finally:
            if self._pending.get(path) is data:
                self._pending.pop(path, None)

    def _grew(self, nbytes: int) -> None:
        with self._lock:
            if self._size is not None:
                self._size += nbytes
        if self._current_size() > self.max_size:
            self.evict()

    def _write_atomic(self, path: Path, payload: bytes) -> bool:
        tmp = path.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, path)
            return True
        except OSError as err:
            self._discard(tmp)
            self._disable(err)
            return False

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def _scan(self) -> list[tuple[float, int, Path]]:
        """(mtime, bytes, path) of every block file; removes stale temporary files."""
        out = []
        now = time.time()
        for folder in self._root.glob("*/*"):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if entry.name.startswith(_TMP_PREFIX):
                    if now - st.st_mtime > _STALE_TMP_SECONDS:
                        self._discard(Path(entry.path))
                elif entry.name != "meta.json":
                    out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _current_size(self) -> int:
        with self._lock:
            if self._size is None:
                self._size = sum(s for _, s, _ in self._scan())
            return self._size

    def evict(self, target: int | None = None) -> int:
        """Delete least recently used blocks until the cache holds at most ``target`` bytes.

        ``target`` defaults to 90% of :attr:`max_size`. Returns the bytes freed.
        """
        target = int(self.max_size * 0.9) if target is None else int(target)
        with self._lock:
            blocks = sorted(self._scan(), key=lambda b: b[0])
            total = sum(s for _, s, _ in blocks)
            freed = 0
            for _, nbytes, path in blocks:
                if total - freed <= target:
                    break
                self._discard(path)
                freed += nbytes
            self._size = total - freed
        return freed


class MemoryLRU:
    """A thread-safe in-memory LRU of blocks with a byte limit.

    >>> lru = MemoryLRU(max_bytes=8)
    >>> lru.put("a", b"1234"); lru.put("b", b"5678"); lru.put("c", b"9")
    >>> lru.get("a") is None, lru.get("c")
    (True, b'9')
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise InvalidInputError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        """The value, refreshed as most recent, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: bytes) -> None:
        """Insert ``value``; evicts the oldest entries past the byte limit."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return self._bytes


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


def _flush_folder(directory: Path) -> None:
    with _CACHES_LOCK:
        caches = [c for (folder, _), c in _CACHES.items() if folder == str(directory)]
    for cache in caches + [c for c in list(_FLUSH_AT_EXIT) if c.directory == directory and c not in caches]:
        cache.flush()


def get_cache(cache_dir: str | os.PathLike[str] | None = None) -> BlockCache:
    """The process-wide :class:`BlockCache` of a folder (one per folder, shared by sources)."""
    directory = _as_dir(cache_dir)
    with _CACHES_LOCK:
        cache = _CACHES.get((str(directory), None))
        if cache is None:  # a disabled cache stays disabled: one warning per folder and process
            cache = _CACHES[(str(directory), None)] = BlockCache(directory)
        return cache


def cache_info(cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Describe the block cache: folder, bytes used, number of remote files, per-file entries.

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder (default: ``config.cache_dir`` or the platform's user cache folder).

    Returns
    -------
    dict
        ``{"dir", "size", "max_size", "files", "entries"}``; each entry has ``url`` (no query
        string), ``size`` (remote size), ``version`` (ETag/Last-Modified), ``cached_bytes``,
        ``blocks`` and ``key``.

    Examples
    --------
    >>> import tempfile, napstream as nap
    >>> info = nap.cache_info(tempfile.mkdtemp())
    >>> info["files"], info["size"]
    (0, 0)
    """
    directory = _as_dir(cache_dir)
    _flush_folder(directory)
    entries = []
    for meta in sorted((directory / _LAYOUT).glob("*/*/meta.json")):
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            record = {}
        blocks = [p for p in meta.parent.iterdir() if p.name != "meta.json" and not p.name.startswith(_TMP_PREFIX)]
        entries.append({
            "key": meta.parent.name,
            "url": record.get("url"),
            "size": record.get("size"),
            "version": record.get("version"),
            "blocks": len(blocks),
            "cached_bytes": sum(_file_size(p) for p in blocks),
        })
    return {
        "dir": str(directory),
        "size": sum(e["cached_bytes"] for e in entries),
        "max_size": config.cache_size,
        "files": len(entries),
        "entries": entries,
    }


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> int:
    """Delete every cached block (only napstream's own layout inside the folder).

    Returns the number of bytes freed.

    Examples
    --------
    >>> import tempfile, napstream as nap
    >>> nap.clear_cache(tempfile.mkdtemp())
    0
    """
    directory = _as_dir(cache_dir)
    freed = cache_info(directory)["size"]  # flushes the queued writes first
    shutil.rmtree(directory / _LAYOUT, ignore_errors=True)
    with _CACHES_LOCK:
        for (folder, _), cache in _CACHES.items():
            if folder == str(directory):
                with cache._lock:
                    cache._size = None
                try:
                    cache._root.mkdir(parents=True, exist_ok=True)
                except OSError:
                    pass
    return freed
