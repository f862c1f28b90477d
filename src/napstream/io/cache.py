"""Persistent on-disk block cache shared across processes and sessions, plus a memory LRU.

Layout under the cache folder (``cache_dir=``, ``config.cache_dir`` / ``NAPSTREAM_CACHE_DIR``, or
the platform's user cache folder)::

    v1/<key[:2]>/<key>/meta.json          url (no query string), size, version of the remote file
    v1/<key[:2]>/<key>/<block_size>-<i>   block i: its bytes + a CRC32 trailer
    v1/seen/<sha256 of the URL>/key       this URL was opened before: the key it had then

``key`` is a SHA-256 of (URL without query string, size, ETag or Last-Modified): a remote file
whose size or validator changed gets a new key. A server whose validators do not change with the
content cannot be caught that way: see :class:`~napstream.io.http.HTTPSource` for the content checks
that cover it, and the user guide for exactly what is guaranteed. No file name contains URL parts.
Blocks are written to a temporary file and moved into place with :func:`os.replace`, so a killed
process never leaves a partial block; length and checksum are verified on every read. Past
``config.cache_size`` the least recently used blocks are evicted (a hit refreshes the block's
mtime, so the order is shared by all processes). A cache that cannot be written (read-only
folder, full disk) warns once and the source carries on without it.

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
>>> cache.put(key, 4, 0, b"abcd")
>>> cache.get(key, 4, 0, expected_length=4)
b'abcd'
>>> cache_info(cache.directory)["files"]
1
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import queue
import random
import re
import stat
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
_HEX2 = re.compile(r"[0-9a-f]{2}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_BLOCK_NAME = re.compile(r"(\d+)-(\d+)\Z")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _scandir(path: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


def _read_regular(path: str | Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (never a link, FIFO or device), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_regular(path: str | Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _own_entries(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """(key, entry) of every entry of the key folders ``root/<xx>/<key>/``, links never followed."""
    out = []
    for top in _scandir(root):
        if not _HEX2.match(top.name) or not top.is_dir(follow_symlinks=False):
            continue
        for folder in _scandir(top.path):
            if _HEX64.match(folder.name) and folder.is_dir(follow_symlinks=False):
                out.extend((folder.name, entry) for entry in _scandir(folder.path))
    return out


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
        self._disk_lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, scanned lazily
        self._warned = False
        self._meta: dict[str, bytes] = {}
        self._pending: dict[Path, bytes] = {}  # blocks queued for the writer thread
        self._folders: dict[str, Path] = {}  # key -> its folder (paths are built for every block)
        #: folder -> when it was last found a real folder (made, not a link): writes into it within
        #: :attr:`recheck_seconds` skip the checks (a few system calls per block otherwise)
        self._checked: dict[Path, float] = {}
        self.recheck_seconds = 1.0
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
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
        self._write_atomic(self._seen_path(url) / "key", key.encode())
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
        """``(block_size, index, length)`` of the intact-looking block files of ``key`` on disk."""
        out = []
        for entry in _scandir(self._folder(key)):
            match = _BLOCK_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                try:
                    length = entry.stat(follow_symlinks=False).st_size - _TRAILER.size
                except OSError:
                    continue
                if length > 0:
                    out.append((int(match.group(1)), int(match.group(2)), length))
        return out

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
            if _BLOCK_NAME.match(entry.name):
                self._discard(Path(entry.path))
        with self._lock:
            self._size = None

    def _write_meta(self, key: str) -> None:
        folder = self._folder(key)
        if self._recently_checked(folder):  # the meta was looked at with the folder's check
            return
        meta = folder / "meta.json"
        if key in self._meta and not meta.exists():
            self._write_atomic(meta, self._meta[key])

    def _recently_checked(self, folder: Path) -> bool:
        at = self._checked.get(folder)
        return at is not None and time.monotonic() - at < self.recheck_seconds

    def get(self, key: str, block_size: int, index: int, expected_length: int, touch: bool = True) -> bytes | None:
        """The block's bytes if cached intact (exact length and checksum), else None."""
        if not self.enabled:
            return None
        path = self._block_path(key, block_size, index)
        data = self._pending.get(path)
        if data is not None and len(data) == expected_length:
            return data
        raw = _read_regular(path)  # a link, FIFO or device planted there is a miss
        if raw is None:
            return None
        data, trailer = raw[:-_TRAILER.size], raw[-_TRAILER.size:]
        if len(raw) != expected_length + _TRAILER.size or _TRAILER.unpack(trailer)[0] != zlib.crc32(data):
            self._discard(path)
            return None
        if not touch:
            return data
        try:
            os.utime(path, follow_symlinks=False)  # LRU order, shared by every process using this folder
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
            st = os.lstat(path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size == expected_length + _TRAILER.size

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

    #: niceness added to the writer thread (Linux: threads are scheduled apart): the block writes
    #: (a file created per block) yield the cores to the decoding and analysis of the same job
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
                        return
                continue
            self._run_job(job)

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

    def _linked(self, folder: Path) -> bool:
        """True when ``folder`` or a folder between it and the cache's root is a symbolic link."""
        while True:
            if folder.is_symlink():
                return True
            if folder == self._root or folder.parent == folder or self._root not in folder.parents:
                return False
            folder = folder.parent

    def _write_atomic(self, path: Path, payload: bytes, disable: bool = True) -> bool:
        # one write at a time (the writer thread and readers past max_pending both write): once a
        # write fails and disables the cache, no other write has started behind its back
        with self._disk_lock:
            return self._write_atomic_locked(path, payload, disable)

    def _write_atomic_locked(self, path: Path, payload: bytes, disable: bool) -> bool:
        if not self.enabled:
            return False
        folder = path.parent
        tmp = folder / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
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
                with open(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, path)
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
        """(mtime, bytes, path) of every block file; removes stale temporary files.

        Only regular files named as napstream names them, in folders named as napstream names
        them, are considered; symbolic links are never followed.
        """
        out = []
        now = time.time()
        for _, entry in _own_entries(self._root):
            own_tmp = entry.name.startswith(_TMP_PREFIX)
            if not (own_tmp or _BLOCK_NAME.match(entry.name)) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if own_tmp:
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
            self._evict_locked()

    def _room(self) -> int:
        """Bytes the LRU may hold now (subclasses holding other bytes give less)."""
        return self.max_bytes

    def _evict_locked(self) -> None:
        """Drop the oldest entries past :meth:`_room` (the lock is held)."""
        room = self._room()
        while self._bytes > room and self._items:
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
    folders: dict[str, dict[str, Any]] = {}
    for key, entry in _own_entries(directory / _LAYOUT):
        item = folders.setdefault(key, {"key": key, "meta": None, "blocks": 0, "cached_bytes": 0})
        if not entry.is_file(follow_symlinks=False):
            continue
        if entry.name == "meta.json":
            item["meta"] = entry.path
        elif _BLOCK_NAME.match(entry.name):
            item["blocks"] += 1
            item["cached_bytes"] += _file_size(entry)
    entries = []
    for key in sorted(folders):
        item = folders[key]
        if item["meta"] is None:
            continue
        try:
            record = json.loads(_read_regular(item["meta"]) or b"{}")
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        entries.append({
            "key": key,
            "url": record.get("url"),
            "size": record.get("size"),
            "version": record.get("version"),
            "blocks": item["blocks"],
            "cached_bytes": item["cached_bytes"],
        })
    return {
        "dir": str(directory),
        "size": sum(e["cached_bytes"] for e in entries),
        "max_size": config.cache_size,
        "files": len(entries),
        "entries": entries,
    }


def _file_size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)  # only when empty
    except OSError:
        pass


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> int:
    """Delete every cached block (only the regular files napstream wrote; links are never followed).

    Returns the number of bytes freed.

    Examples
    --------
    >>> import tempfile, napstream as nap
    >>> nap.clear_cache(tempfile.mkdtemp())
    0
    """
    directory = _as_dir(cache_dir)
    freed = cache_info(directory)["size"]  # flushes the queued writes first
    root = directory / _LAYOUT
    own = re.compile(rf"meta\.json\Z|{_BLOCK_NAME.pattern}|{re.escape(_TMP_PREFIX)}[0-9a-f]+\Z")
    for key, entry in _own_entries(root):
        if own.match(entry.name):
            BlockCache._discard(Path(entry.path))
    for seen in _scandir(root / _SEEN):
        if _HEX64.match(seen.name) and seen.is_dir(follow_symlinks=False):
            BlockCache._discard(Path(seen.path) / "key")
    for top in [*_scandir(root), *_scandir(root / _SEEN)]:  # empty folders of ours only
        if (_HEX2.match(top.name) or top.name == _SEEN) and top.is_dir(follow_symlinks=False):
            for sub in _scandir(top.path):
                if _HEX64.match(sub.name) and sub.is_dir(follow_symlinks=False):
                    _rmdir(sub.path)
            _rmdir(top.path)
        elif _HEX64.match(top.name) and top.is_dir(follow_symlinks=False):
            _rmdir(top.path)
    with _CACHES_LOCK:
        for (folder, _), cache in _CACHES.items():
            if folder == str(directory):
                with cache._lock:
                    cache._size = None
                cache._checked.clear()  # its folders are gone: check (and make) them again
                try:
                    cache._root.mkdir(parents=True, exist_ok=True)
                except OSError:
                    pass
    return freed
