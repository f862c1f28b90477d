"""Decode deflate/shuffle-compressed HDF5 chunks without HDF5's filter pipeline.

h5py decodes chunks one at a time while holding its global lock, with zlib. For the datasets
NWB writers produce most (chunked, ``gzip`` with or without ``shuffle``), napstream instead reads
each chunk's stored bytes at the offset HDF5's chunk index gives, inflates them with libdeflate
(the ``deflate`` package; the standard ``zlib`` module when it is missing), undoes the byte
shuffle with numpy and copies the rows into the output. No lock is held: several threads decode
at once, and inflating alone is about twice as fast as zlib.

Anything this module does not handle (other filters, a chunk whose filters were skipped, a chunk
that was never written, big-endian or compound types, a file with a user block) makes
:meth:`ChunkCodec.for_dataset` return None or :meth:`ChunkCodec.read_rows` return None: the caller
then lets h5py read as usual.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
>>> data = np.arange(2000, dtype=np.int16).reshape(500, 4)
>>> with h5py.File(path, "w") as f:
...     _ = f.create_dataset("x", data=data, chunks=(64, 4), compression="gzip", shuffle=True)
>>> f = h5py.File(path, "r")
>>> codec = ChunkCodec.for_dataset(f["x"])
>>> fd = f.id.get_vfd_handle()
>>> rows = codec.read_rows(ChunkTable.build(f["x"]), 10, 300, lambda ranges: [os.pread(fd, b - a, a) for a, b in ranges])
>>> bool(np.array_equal(rows, data[10:300]))
True
>>> f.close()
"""

from __future__ import annotations

import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import h5py
import numpy as np

from ..core.chunking import DECODED_CACHE_BYTES, decoded_cache_limit
from ..errors import FileFormatError

try:  # libdeflate: about 2x zlib's inflate speed, releases the GIL
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - the dependency is declared; keep working without it
    _libdeflate = None

__all__ = ["ChunkCodec", "ChunkTable", "inflate", "unshuffle"]

_DEFLATE, _SHUFFLE = h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE

Fetch = Callable[[Sequence[tuple[int, int]]], Iterable[bytes]]


def inflate(raw: bytes, nbytes: int) -> bytes:
    """Inflate one zlib stream known to hold ``nbytes`` bytes (libdeflate, else zlib).

    >>> inflate(zlib.compress(b"abc" * 10), 30) == b"abc" * 10
    True
    """
    if _libdeflate is not None:
        try:
            return _libdeflate.zlib_decompress(raw, nbytes)
        except Exception:  # noqa: BLE001 - an odd stream (e.g. size mismatch): let zlib say what it is
            pass
    try:
        out = zlib.decompress(raw)
    except zlib.error as err:
        raise FileFormatError(f"a compressed HDF5 chunk could not be inflated ({err}); the file may be corrupt") from err
    if len(out) != nbytes:
        raise FileFormatError(
            f"a compressed HDF5 chunk holds {len(out)} bytes where {nbytes} were expected; the file may be corrupt"
        )
    return out


def unshuffle(data: bytes, itemsize: int) -> np.ndarray:
    """Undo HDF5's shuffle filter: ``itemsize`` planes (every element's first bytes, then every
    element's second bytes, ...) -> the elements' bytes in order, as a flat uint8 array.

    One pass per byte plane (for 2-byte elements, on little-endian machines: one shift and one
    OR): the copy of the transposed planes (``ascontiguousarray(planes.T)``) this replaces
    iterated over rows of ``itemsize`` bytes, ~18x slower on a 160 kB chunk of int16.

    >>> unshuffle(bytes([1, 2, 3, 10, 20, 30]), 2).tolist()
    [1, 10, 2, 20, 3, 30]
    """
    planes = np.frombuffer(data, dtype=np.uint8).reshape(itemsize, -1)
    if itemsize == 2 and sys.byteorder == "little":
        out = np.empty(planes.shape[1], dtype=np.uint16)
        np.left_shift(planes[1], 8, out=out, dtype=np.uint16)
        np.bitwise_or(out, planes[0], out=out)
        return out.view(np.uint8)
    out = np.empty((planes.shape[1], itemsize), dtype=np.uint8)
    for i in range(itemsize):
        out[:, i] = planes[i]
    return out.reshape(-1)


class ChunkTable:
    """Every allocated chunk of a dataset: first row, all coordinates, byte offset, size, filter mask.

    Built once with ``chunk_iter`` (one walk of the chunk B-tree) and sorted by first row.
    """

    def __init__(self, coords: np.ndarray, starts: np.ndarray, sizes: np.ndarray, masks: np.ndarray) -> None:
        order = np.lexsort(coords.T[::-1]) if len(coords) else np.zeros(0, dtype=np.int64)
        self.coords = coords[order]
        self.starts = starts[order]
        self.sizes = sizes[order]
        self.masks = masks[order]
        self.rows = self.coords[:, 0] if len(self.coords) else np.zeros(0, dtype=np.int64)

    @classmethod
    def build(cls, dset: h5py.Dataset) -> ChunkTable:
        """List the chunks of a chunked dataset (metadata reads only)."""
        coords: list[tuple[int, ...]] = []
        starts: list[int] = []
        sizes: list[int] = []
        masks: list[int] = []

        def visit(info: Any) -> None:
            coords.append(tuple(info.chunk_offset))
            starts.append(info.byte_offset)
            sizes.append(info.size)
            masks.append(info.filter_mask)

        if hasattr(dset.id, "chunk_iter"):
            dset.id.chunk_iter(visit)
        else:  # pragma: no cover - h5py < 3.8
            for i in range(dset.id.get_num_chunks()):
                visit(dset.id.get_chunk_info(i))
        ndim = max(len(dset.shape), 1)
        as_int = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
        return cls(as_int(coords).reshape(-1, ndim), as_int(starts), as_int(sizes), as_int(masks))

    def on_grid(self, chunks: tuple[int, ...], shape: tuple[int, ...]) -> bool:
        """True when every chunk sits where HDF5 looks for one: each coordinate a multiple of the
        chunk size, inside the dataset's extent, no two chunks at one place. A damaged index (a
        chunk key overwritten) breaks that: HDF5 then finds no chunk there and reads the fill
        value, which only h5py knows, so :meth:`ChunkCodec.read_rows` leaves the dataset to h5py
        (it would otherwise count the misplaced chunk as present and leave its rows unwritten).
        Checked once per table."""
        key = (tuple(chunks), tuple(shape))
        known = getattr(self, "_on_grid", None)
        if known is not None and known[0] == key:
            return known[1]
        ok = True
        if len(self.coords):
            c = self.coords
            step = np.asarray(chunks, dtype=np.int64)[:c.shape[1]]
            extent = np.asarray(shape, dtype=np.int64)[:c.shape[1]]
            ok = bool((c >= 0).all() and (c % step == 0).all() and (c < extent).all())
            if ok and len(c) > 1:  # sorted lexicographically: a repeat sits next to its twin
                ok = not bool((c[1:] == c[:-1]).all(axis=1).any())
        self._on_grid = (key, ok)
        return ok

    def between(self, start: int, stop: int, chunk_rows: int) -> slice:
        """Positions of the chunks whose first row is in ``[start // chunk_rows * chunk_rows, stop)``."""
        first = (start // chunk_rows) * chunk_rows
        lo, hi = np.searchsorted(self.rows, [first, stop], side="left")
        return slice(int(lo), int(hi))


class ChunkCodec:
    """How to turn one stored chunk of a dataset into an array (see the module docstring)."""

    def __init__(self, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: np.dtype, shuffle: bool, deflate: bool) -> None:
        self.shape = shape
        self.chunks = chunks
        self.dtype = dtype
        self.shuffle = shuffle
        self.deflate = deflate
        self.chunk_nbytes = int(np.prod(chunks, dtype=np.int64)) * dtype.itemsize
        self._lock = threading.Lock()
        # recently decoded chunks (LRU): a read that is not aligned to the chunks (a filter's
        # margins, pieces shorter than a chunk of rows) finds its neighbours' chunks here
        self._decoded: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._decoded_nbytes = 0
        # chunks being decoded right now by one read; a concurrent read needing one waits for it
        # instead of decoding it again (neighbouring chunk tasks share the chunks of their margins)
        self._pending: dict[tuple[int, ...], threading.Event] = {}

    @classmethod
    def for_dataset(cls, dset: Any) -> ChunkCodec | None:
        """A codec for ``dset``, or None when its storage is not one this module decodes."""
        try:
            if not isinstance(dset, h5py.Dataset) or dset.chunks is None or not dset.shape:
                return None
            dtype = dset.dtype
            if dtype.kind not in "iuf" or not dtype.isnative or dset.file.userblock_size != 0:
                return None
            plist = dset.id.get_create_plist()
            codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        except Exception:  # noqa: BLE001 - anything unusual: h5py reads it
            return None
        if codes not in ([], [_DEFLATE], [_SHUFFLE, _DEFLATE], [_SHUFFLE]):
            return None
        return cls(tuple(int(s) for s in dset.shape), tuple(int(c) for c in dset.chunks), dtype,
                   _SHUFFLE in codes, _DEFLATE in codes)

    def decode(self, raw: bytes) -> np.ndarray:
        """One stored chunk -> array of the full chunk shape."""
        data = inflate(raw, self.chunk_nbytes) if self.deflate else raw
        if len(data) != self.chunk_nbytes:
            raise FileFormatError(
                f"an HDF5 chunk holds {len(data)} bytes where {self.chunk_nbytes} were expected; the file may be corrupt"
            )
        if self.shuffle and self.dtype.itemsize > 1:
            return unshuffle(data, self.dtype.itemsize).view(self.dtype).reshape(self.chunks)
        return np.frombuffer(data, dtype=self.dtype).reshape(self.chunks)

    def read_rows(
        self, table: ChunkTable, start: int, stop: int, fetch: Fetch, cols: tuple[int, int] | None = None,
    ) -> np.ndarray | None:
        """Rows ``[start, stop)`` (all trailing columns, or columns ``cols`` of a 2-D dataset: then
        only the chunks holding them are read), or None when h5py must read them.

        ``fetch(ranges)`` returns the stored bytes of each ``(begin, end)`` range, in order (it may
        be a generator, so only one chunk's bytes need be held at a time).
        """
        start, stop = max(int(start), 0), min(int(stop), self.shape[0])
        window = cols is not None and len(self.shape) == 2
        c_lo, c_hi = cols if window else (0, 0)  # type: ignore[misc]
        trailing = (max(c_hi - c_lo, 0),) if window else self.shape[1:]
        out = np.empty((max(stop - start, 0),) + trailing, dtype=self.dtype)
        if stop <= start:
            return out
        if not table.on_grid(self.chunks, self.shape):
            return None  # a misplaced chunk (a damaged index): h5py reads what HDF5 finds
        sel = table.between(start, stop, self.chunks[0])
        coords, masks = table.coords[sel], table.masks[sel]
        per_row = int(np.prod([-(-n // c) for n, c in zip(self.shape[1:], self.chunks[1:])], dtype=np.int64))
        n_row_chunks = -(-stop // self.chunks[0]) - start // self.chunks[0]
        if len(coords) != n_row_chunks * per_row or masks.any():
            return None  # a chunk never written (fill value) or with skipped filters: h5py knows
        starts, sizes = table.starts[sel], table.sizes[sel]
        if window:  # the chunks overlapping the columns only
            keep = (coords[:, 1] < c_hi) & (coords[:, 1] + self.chunks[1] > c_lo)
            coords, starts, sizes = coords[keep], starts[keep], sizes[keep]
        keys = [tuple(int(c) for c in coord) for coord in coords]
        shared = self._cacheable()
        with self._lock:
            hits = {k: self._decoded[k] for k in keys if k in self._decoded}
            for k in hits:
                self._decoded.move_to_end(k)
            mine, theirs = [], []  # chunks this call decodes / another thread is decoding now
            for i, k in enumerate(keys):
                if k in hits:
                    continue
                event = self._pending.get(k) if shared else None
                if event is None:
                    mine.append(i)
                    if shared:
                        self._pending[k] = threading.Event()
                else:
                    theirs.append((i, event))
        try:
            ranges = [(int(starts[i]), int(starts[i] + sizes[i])) for i in mine]
            for i, raw in zip(mine, fetch(ranges)):
                chunk = self.decode(raw)
                self._remember(keys[i], chunk)
                self._release(keys[i])
                self._place(out, start, stop, coords[i], chunk, c_lo)
        finally:
            for i in mine:  # an error: threads waiting for the rest decode them themselves
                self._release(keys[i])
        for i, k in enumerate(keys):
            if k in hits:
                self._place(out, start, stop, coords[i], hits[k], c_lo)
        for i, event in theirs:  # decoded by another read in flight (a neighbour's margin): wait
            event.wait()
            with self._lock:
                chunk = self._decoded.get(keys[i])
            if chunk is None:  # evicted already, or its decoder failed: decode it here
                rng = [(int(starts[i]), int(starts[i] + sizes[i]))]
                chunk = self.decode(next(iter(fetch(rng))))
            self._place(out, start, stop, coords[i], chunk, c_lo)
        return out

    def _release(self, key: tuple[int, ...]) -> None:
        with self._lock:
            event = self._pending.pop(key, None)
        if event is not None:
            event.set()

    #: bytes of decoded chunks kept (per dataset) for reads that are not aligned to the chunks:
    #: at most this, and at most an eighth of the memory budget (the planner counts it in the
    #: budget of a job: see :meth:`reserve`; else an eighth of ``napstream.config.memory_budget``)
    decoded_cache_bytes = DECODED_CACHE_BYTES

    def cache_limit(self, budget: int) -> int:
        """Bytes of decoded chunks kept under a memory ``budget`` (0: chunks too large to keep;
        the rule is ``napstream.core.chunking.decoded_cache_limit``, which the planner also
        applies to a local file's chunked datasets)."""
        return decoded_cache_limit(budget, self.chunk_nbytes, self.decoded_cache_bytes)

    def reserve(self, budget: int) -> int:
        """Hold the decoded-chunk cache to :meth:`cache_limit` of ``budget`` (a job's budget, which
        counts the returned bytes) until the next reservation."""
        self._reserved = self.cache_limit(budget)
        with self._lock:
            while self._decoded_nbytes > self._reserved and self._decoded:
                self._decoded.popitem(last=False)
                self._decoded_nbytes -= self.chunk_nbytes
        return self._reserved

    def _limit(self) -> int:
        reserved = getattr(self, "_reserved", None)
        if reserved is not None:
            return reserved
        from ..config import config

        return self.cache_limit(int(config.memory_budget))

    def _cacheable(self) -> bool:
        return self._limit() > 0

    def _remember(self, key: tuple[int, ...], chunk: np.ndarray) -> None:
        limit = self._limit()
        if limit <= 0:
            return
        with self._lock:
            if key not in self._decoded:
                self._decoded[key] = chunk
                self._decoded_nbytes += self.chunk_nbytes
            while self._decoded_nbytes > limit:
                self._decoded.popitem(last=False)
                self._decoded_nbytes -= self.chunk_nbytes

    def _place(self, out: np.ndarray, start: int, stop: int, coord: np.ndarray, chunk: np.ndarray,
               col0: int = 0) -> None:
        r0 = int(coord[0])
        a, b = max(r0, start), min(r0 + self.chunks[0], stop)
        dst: list[slice] = [slice(a - start, b - start)]
        src: list[slice] = [slice(a - r0, b - r0)]
        for axis, (c0, c, n) in enumerate(zip(coord[1:], self.chunks[1:], self.shape[1:])):
            c0 = int(c0)
            lo, hi = c0, min(c0 + c, n)
            shift = col0 if axis == 0 else 0  # columns [col0, col0 + width) of the dataset
            lo, hi = max(lo, shift), min(hi, shift + out.shape[axis + 1])
            dst.append(slice(lo - shift, hi - shift))
            src.append(slice(lo - c0, hi - c0))
        out[tuple(dst)] = chunk[tuple(src)]
