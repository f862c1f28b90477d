"""The files of the block cache (see :mod:`napstream.io.cache`): names, run files, folder scans.

A *run file* holds a contiguous run of blocks of one remote file, named
``<block_size>-<first index>-<count>-<data bytes>``::

    b"NSR3" | count (uint32) | block_size (uint64) | first (uint64) | CRC32 of each block
    (count x uint32) | zeros up to a multiple of 64 bytes | the blocks' bytes, in order
                                                                          (little-endian)

All blocks but the last are ``block_size`` long (only the remote file's last block is short), so
block ``first + k`` starts at ``header_size(count) + k * block_size``: one block is read with two
``pread`` calls without reading its neighbours. The header is padded so that the blocks start on
64-byte boundaries in the file: a block is then copied between memory and the page cache (or
into the page-aligned buffer of an ``O_DIRECT`` write, see :func:`write_parts`) at cache-line
aligned addresses, 2-10x cheaper than at the 56-byte offset of an unpadded 8-block header.
A file whose size is not exactly the header
plus the named data bytes, whose header does not match its name (a file renamed to other blocks),
or whose block fails its CRC is damaged: none of its blocks is served. The earlier layouts (``v2``:
the same run files without the padding; ``v1``: one file per block named ``<block_size>-<index>``,
its bytes + a CRC32 trailer) are no longer read; eviction, :func:`~napstream.io.cache.cache_info`
and :func:`~napstream.io.cache.clear_cache` still count and delete their files.

Examples
--------
>>> name = run_name(4, 10, 3, 10)
>>> name, parse_run(name), block_length(parse_run(name), 2)
('4-10-3-10', (4, 10, 3, 10), 2)
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no direct writes
    fcntl = None  # type: ignore[assignment]

try:  # ISA-L's CRC32: the same checksum as zlib's, ~4x faster (a block is checksummed on every write and read)
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib's is the same CRC
    from zlib import crc32

__all__ = ["LAYOUT", "OLD_LAYOUTS", "RunIndex", "run_name", "parse_run", "block_length", "run_header",
           "read_block", "write_parts", "crc32"]

LAYOUT = "v3"
OLD_LAYOUTS = ("v2", "v1")
#: layouts whose block files are run files (named by :func:`run_name`)
RUN_LAYOUTS = ("v3", "v2")
SEEN = "seen"
TMP_PREFIX = ".tmp-"
MAGIC = b"NSR3"
#: the header is padded to a multiple of this (the blocks start on cache-line boundaries)
HEADER_ALIGN = 64
_HEAD = struct.Struct("<4sIQQ")
_CRC = struct.Struct("<I")
#: runs longer than this are not ours (a name planted in the folder cannot make us allocate much)
MAX_RUN_BLOCKS = 4096
RUN_NAME = re.compile(r"(\d{1,12})-(\d{1,12})-(\d{1,5})-(\d{1,15})\Z")
V1_BLOCK_NAME = re.compile(r"(\d+)-(\d+)\Z")
V1_TRAILER = 4
HEX2 = re.compile(r"[0-9a-f]{2}\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_IOV_MAX = 512

#: (block_size, first index, count, data bytes) of a run file
Run = tuple[int, int, int, int]


def header_size(count: int) -> int:
    """Bytes before the first block of a run file of ``count`` blocks (a multiple of 64)."""
    return -(-crc_end(count) // HEADER_ALIGN) * HEADER_ALIGN


def crc_end(count: int) -> int:
    """Bytes of a run file's header up to the end of its CRC32s (the padding follows)."""
    return _HEAD.size + _CRC.size * count


def run_name(block_size: int, first: int, count: int, nbytes: int) -> str:
    """File name of a run of ``count`` blocks from ``first`` holding ``nbytes`` data bytes."""
    return f"{int(block_size)}-{int(first)}-{int(count)}-{int(nbytes)}"


def parse_run(name: str) -> Run | None:
    """The run a file name describes, or None when it is not a consistent run name."""
    match = RUN_NAME.match(name)
    if match is None:
        return None
    bs, first, count, nbytes = (int(g) for g in match.groups())
    if bs <= 0 or not 1 <= count <= MAX_RUN_BLOCKS or not (count - 1) * bs < nbytes <= count * bs:
        return None
    return bs, first, count, nbytes


def block_length(run: Run, k: int) -> int:
    """Bytes of the ``k``-th block of ``run`` (only the last may be short)."""
    bs, _, count, nbytes = run
    return bs if k < count - 1 else nbytes - (count - 1) * bs


def run_header(block_size: int, first: int, crcs: Sequence[int]) -> bytes:
    """The header of a run file of blocks ``first, first + 1, ...`` with these CRC32s (padded)."""
    head = _HEAD.pack(MAGIC, len(crcs), block_size, first) + struct.pack(f"<{len(crcs)}I", *crcs)
    return head + bytes(header_size(len(crcs)) - len(head))


#: ``O_DIRECT`` (Linux): a write straight to the disk, bypassing the page cache
DIRECT = getattr(os, "O_DIRECT", 0) if fcntl is not None else 0
#: alignment of the memory, file offset and length of a direct write (covers 512 and 4096-byte sectors)
ALIGN = 4096
#: writes of [DIRECT_MIN, DIRECT_MAX] bytes go straight to the disk (see :func:`write_parts`)
DIRECT_MIN = 1 << 20
DIRECT_MAX = 64 << 20
#: set False to write every file through the page cache
direct_writes = True
_scratch_lock = threading.Lock()
_scratch: list[mmap.mmap] = []  # the page-aligned buffer of direct writes (at most one)
_no_direct: set[int] = set()  # st_dev of file systems that refused a direct write (or are slow)
#: a direct write slower than this (bytes/s) is a strike against its disk; DIRECT_STRIKES in a row
#: and the disk gets buffered writes (the page cache absorbs what a slow disk would make wait)
DIRECT_MIN_RATE = 100e6
DIRECT_STRIKES = 3
_strikes: dict[int, int] = {}


def write_parts(fd: int, parts: Sequence[bytes]) -> None:
    """Write ``parts`` one after the other to the new, empty file ``fd`` (partial writes continued).

    A file of ``DIRECT_MIN`` to ``DIRECT_MAX`` bytes (a run file) is written with ``O_DIRECT``
    where the file system takes it: copied once into a reused page-aligned buffer and sent to the
    disk from there, instead of being copied into newly allocated page-cache pages (the main CPU
    cost of the cache: 0.3-1.7 CPU-s per 488 MB against ~0.2 s this way, on a VM). The data is then
    not in the page cache; a later read fetches it from the disk. Anywhere else (small files, no
    ``O_DIRECT``, a file system refusing it, a disk slower than ``DIRECT_MIN_RATE``, the buffer
    in use by another thread) the parts are
    written through the page cache without a joined copy.
    """
    total = sum(len(p) for p in parts)
    if direct_writes and DIRECT and DIRECT_MIN <= total <= DIRECT_MAX and _write_direct(fd, parts, total):
        return
    todo = [memoryview(p).cast("B") for p in parts if len(p)]
    if not hasattr(os, "writev"):  # pragma: no cover - Windows
        for view in todo:
            while len(view):
                view = view[os.write(fd, view):]
        return
    while todo:
        n = os.writev(fd, todo[:_IOV_MAX])
        while n and todo:
            if n >= len(todo[0]):
                n -= len(todo.pop(0))
            else:
                todo[0], n = todo[0][n:], 0


def _write_direct(fd: int, parts: Sequence[bytes], total: int) -> bool:
    """Write ``parts`` (``total`` bytes) to the empty file ``fd`` with ``O_DIRECT``; False when not
    done that way (the file is then left empty, for a write through the page cache)."""
    if not _scratch_lock.acquire(blocking=False):
        return False
    try:
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        if st.st_dev in _no_direct or st.st_size:
            return False
        padded = -(-total // ALIGN) * ALIGN
        if not _scratch or len(_scratch[0]) < padded:
            release_scratch(locked=True)
            _scratch.append(mmap.mmap(-1, max(padded, 8 << 20)))
        view = memoryview(_scratch[0])
        try:
            at = 0
            for part in parts:
                n = len(part)
                view[at: at + n] = memoryview(part).cast("B")
                at += n
            view[total:padded] = bytes(padded - total)  # no bytes of an earlier file in the padding
            flags = fcntl_flags(fd)
            done = 0
            try:
                _set_flags(fd, flags | DIRECT)
                t0 = time.perf_counter()
                while done < padded:
                    done += os.pwrite(fd, view[done:padded], done)
                _pace(st.st_dev, padded, time.perf_counter() - t0)
            except OSError as err:
                if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                    raise
                _no_direct.add(st.st_dev)  # this file system does not take direct writes
                _set_flags(fd, flags)
                os.ftruncate(fd, 0)
                return False
            _set_flags(fd, flags)
            os.ftruncate(fd, total)
            return True
        finally:
            view.release()
    finally:
        _scratch_lock.release()


def _pace(dev: int, nbytes: int, seconds: float) -> None:
    """Count a slow direct write against disk ``dev``; too many in a row: no more direct writes there."""
    if nbytes < seconds * DIRECT_MIN_RATE:
        _strikes[dev] = _strikes.get(dev, 0) + 1
        if _strikes[dev] >= DIRECT_STRIKES:
            _no_direct.add(dev)
    else:
        _strikes.pop(dev, None)


def fcntl_flags(fd: int) -> int:
    """The status flags of ``fd``."""
    return fcntl.fcntl(fd, fcntl.F_GETFL)


def _set_flags(fd: int, flags: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def release_scratch(locked: bool = False) -> None:
    """Free the buffer of direct writes (the writer thread ends; the next direct write makes one)."""
    if not locked and not _scratch_lock.acquire(blocking=False):
        return
    try:
        while _scratch:
            _scratch.pop().close()
    finally:
        if not locked:
            _scratch_lock.release()


#: outcomes of :func:`read_block` besides the bytes
MISSING, DAMAGED = "missing", "damaged"


def read_block(path: str, run: Run, k: int, header: bytes | None = None) -> tuple[bytes | None, str, bytes | None]:
    """Block ``k`` of the run file at ``path``: ``(bytes, "", header)`` when intact.

    ``(None, MISSING, None)`` when there is no regular file there (a link, FIFO or device planted at
    the path is never opened for reading past ``open``: no blocking read), ``(None, DAMAGED, None)``
    when the file's size, header or the block's checksum is wrong. ``header`` is the run's header
    read before (the CRC32s do not change for a name): one ``pread`` fewer.
    """
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | _NONBLOCK)
    except OSError:
        return None, MISSING, None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, MISSING, None
        bs, first, count, nbytes = run
        hsize = header_size(count)
        if st.st_size != hsize + nbytes:
            return None, DAMAGED, None
        if header is None:  # the CRC32s (the padding is not read)
            header = os.pread(fd, crc_end(count), 0)
            if len(header) != crc_end(count) or _HEAD.unpack_from(header) != (MAGIC, count, bs, first):
                return None, DAMAGED, None
        length = block_length(run, k)
        data = os.pread(fd, length, hsize + k * bs)
        if len(data) != length or _CRC.unpack_from(header, _HEAD.size + _CRC.size * k)[0] != crc32(data):
            return None, DAMAGED, None
        return data, "", header
    except OSError:
        return None, MISSING, None
    finally:
        os.close(fd)


def scandir(path: str | Path) -> list[os.DirEntry[str]]:
    """Entries of ``path`` ([] when it cannot be listed)."""
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError:
        return []


def read_regular(path: str | Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (never a link, FIFO or device), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | _NONBLOCK)
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


def is_regular(path: str | Path) -> bool:
    """True when ``path`` is a regular file (links are not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def own_entries(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """(key, entry) of every entry of the key folders ``root/<xx>/<key>/``, links never followed."""
    out = []
    for top in scandir(root):
        if not HEX2.match(top.name) or not top.is_dir(follow_symlinks=False):
            continue
        for folder in scandir(top.path):
            if HEX64.match(folder.name) and folder.is_dir(follow_symlinks=False):
                out.extend((folder.name, entry) for entry in scandir(folder.path))
    return out


def is_own_file(layout: str, name: str) -> bool:
    """True for the names napstream writes in a key folder of ``layout`` (blocks, temporary files)."""
    if name.startswith(TMP_PREFIX):
        return True
    return parse_run(name) is not None if layout in RUN_LAYOUTS else V1_BLOCK_NAME.match(name) is not None


def blocks_in(layout: str, name: str) -> int:
    """Blocks held by an own block file of ``layout`` (0 for other names)."""
    if layout in RUN_LAYOUTS:
        run = parse_run(name)
        return run[2] if run else 0
    return 1 if V1_BLOCK_NAME.match(name) else 0


class RunIndex:
    """Which run file of one key folder holds which block: this process's view of the folder.

    Filled by one ``scandir`` of the folder (:meth:`rescan`, on a miss) and by this process's own
    writes (:meth:`add`); a file found missing or damaged on read is dropped (:meth:`drop`). Only
    regular files with run names count; the files themselves are checked on every read.
    The caller serialises the methods that change it (lookups may run concurrently).
    """

    __slots__ = ("folder", "runs", "blocks", "headers", "scanned")

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.runs: dict[str, Run] = {}
        self.blocks: dict[tuple[int, int], str] = {}
        self.headers: dict[str, bytes] = {}
        self.scanned = -float("inf")  # time.monotonic() of the last scan

    def find(self, block_size: int, index: int) -> tuple[str, Run] | None:
        """(name, run) of a file holding block ``index`` of size ``block_size``, or None."""
        name = self.blocks.get((block_size, index))
        if name is None:
            return None
        run = self.runs.get(name)
        return None if run is None else (name, run)

    def add(self, name: str, run: Run, header: bytes | None = None) -> None:
        """Record a run file (written here, or found by a scan)."""
        self.runs[name] = run
        if header is not None:
            self.headers[name] = header
        bs, first, count, _ = run
        for i in range(first, first + count):
            self.blocks[(bs, i)] = name

    def drop(self, name: str) -> None:
        """Forget a run file (gone or damaged); its blocks fall back on other files holding them."""
        run = self.runs.pop(name, None)
        self.headers.pop(name, None)
        if run is None:
            return
        bs, first, count, _ = run
        lost = [i for i in range(first, first + count) if self.blocks.get((bs, i)) == name]
        for i in lost:
            del self.blocks[(bs, i)]
        for other, (obs, ofirst, ocount, _) in self.runs.items():
            if obs == bs and ofirst < first + count and first < ofirst + ocount:
                for i in lost:
                    if ofirst <= i < ofirst + ocount:
                        self.blocks.setdefault((bs, i), other)

    def clear(self) -> None:
        """Forget everything (the next miss scans the folder)."""
        self.runs.clear()
        self.blocks.clear()
        self.headers.clear()
        self.scanned = -float("inf")

    def rescan(self) -> None:
        """Bring the index in line with the folder's run files (one ``scandir``)."""
        self.scanned = time.monotonic()
        names = {e.name for e in scandir(self.folder) if e.is_file(follow_symlinks=False)}
        for name in [n for n in self.runs if n not in names]:
            self.drop(name)
        for name in names.difference(self.runs):
            run = parse_run(name)
            if run is not None:
                self.add(name, run)
