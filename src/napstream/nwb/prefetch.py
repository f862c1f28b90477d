"""Planned reads of HDF5 datasets: fetch exactly the storage chunks a selection touches.

:func:`wrap_dataset` wraps an ``h5py.Dataset`` of a remote file. Before a row selection is read,
the wrapper asks HDF5 for the byte ranges of the storage chunks it touches (the chunk index is
built once per dataset with ``chunk_iter``; contiguous datasets use their offset and storage
size; compact datasets live in the metadata), coalesces nearby ranges, lets the byte source fetch
them concurrently into its cache (``source.prefetch``) and only then lets h5py decode them - every
h5py read is then a cache hit. Selections larger than the source's ``prefetch_limit`` are read in
row batches so memory stays bounded. Large row reads of gzip/shuffle-compressed datasets skip
h5py's decoding: napstream inflates the fetched chunk bytes itself (:mod:`.chunk_codec`), without
h5py's global lock, so several threads decode at once.

Datasets of local files are returned unchanged, except compressed chunked ones, which get the same
direct decoding for large row reads (:class:`LocalChunkedDataset`, bytes read with ``os.pread``).

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
>>> with h5py.File(path, "w") as f:
...     _ = f.create_dataset("x", data=np.arange(100.0), chunks=(10,))
>>> f = h5py.File(path, "r")
>>> isinstance(wrap_dataset(f["x"], None), h5py.Dataset)   # local, not compressed: unchanged
True
>>> ranges = ChunkIndex(f["x"]).ranges(15, 31)   # rows 15..30 touch chunks 1, 2 and 3
>>> len(ranges), [b - a for a, b in ranges]        # raw chunks: just rows 15..19, 20..29 and 30
(3, [40, 80, 8])
>>> f.close()
"""

from __future__ import annotations

import collections
import functools
import itertools
import os
import threading
from typing import Any

import h5py
import numpy as np

from ..core.chunking import decoded_cache_limit
from ..errors import FileFormatError, InvalidTypeError
from ..io.ranges import coalesce_ranges
from .chunk_codec import ChunkCodec, ChunkTable

__all__ = ["wrap_dataset", "PrefetchingDataset", "LocalChunkedDataset", "ChunkIndex", "row_span",
           "read_ahead_rows", "fetch_chunk_btree"]

_COALESCE_GAP = 64 * 1024


class ChunkIndex:
    """Byte ranges of a dataset's storage, looked up by rows (no data read).

    A selection touching at most ``lookup_limit`` storage chunks asks HDF5 for just those chunks
    (``get_chunk_info_by_coord``: a walk from the root of the chunk B-tree, a few cached metadata
    reads); a larger one builds the full index once with ``chunk_iter`` and keeps it.

    Parameters
    ----------
    dset : h5py.Dataset
        Any dataset (chunked, contiguous or compact).
    lookup_limit : int
        Largest number of chunks looked up one by one before the full index is built.
    source : ByteSource, optional
        The remote source of the dataset's file: before ``chunk_iter`` lists the chunks, the
        nodes of the chunk index are fetched a level per round trip (:meth:`table`).
    """

    #: read raw chunks' rows with napstream (see ``raw_row_bytes``); False: whole chunks, by h5py
    read_raw = True

    def __init__(self, dset: h5py.Dataset, lookup_limit: int = 16, source: Any = None) -> None:
        self.shape = dset.shape
        self.source = source if getattr(source, "is_remote", False) else None
        self.kind = "chunked" if dset.chunks is not None else _unchunked_kind(dset)
        self.chunk_rows = int(dset.chunks[0]) if dset.chunks is not None and dset.shape else 0
        self.lookup_limit = lookup_limit
        self.offset: int | None = None
        self.row_bytes = 0
        self._dset = dset
        self._full: ChunkTable | None = None
        self._table_lock = threading.Lock()
        self._known: dict[tuple[int, ...], tuple[int, int] | None] = {}
        #: bytes of one row inside a stored chunk when the chunks are stored raw (no filter) and too
        #: big for HDF5's chunk cache (so HDF5 reads only the selected rows of them): rows past a
        #: selection, e.g. the unused rows of the last chunk, need not be fetched (0: whole chunks)
        self.raw_row_bytes = 0
        if self.kind == "chunked":
            self._trailing = [range(0, n, c) for n, c in zip(dset.shape[1:], dset.chunks[1:])]
            self.raw_row_bytes = _raw_row_bytes(dset) if self.read_raw else 0
        elif self.kind == "contiguous":
            self.offset = dset.id.get_offset()
            n_rows = max(int(dset.shape[0]), 1) if dset.shape else 1
            self.row_bytes = int(dset.id.get_storage_size()) // n_rows

    def n_chunks(self, start: int, stop: int) -> int:
        """Storage chunks (all columns) holding rows ``[start, stop)``; 0 when not chunked."""
        if self.kind != "chunked" or stop <= start:
            return 0
        rows = -(-stop // self.chunk_rows) - start // self.chunk_rows
        return rows * int(np.prod([len(t) for t in self._trailing]))

    def is_small(self, start: int, stop: int) -> bool:
        """True for a chunked selection of at most ``lookup_limit`` chunks while the full index is
        not built: HDF5's own B-tree search finds those chunks in a few metadata reads, whereas
        listing them first (``get_chunk_info_by_coord``) walks the B-tree leaves in order - one
        remote round trip per leaf before the selection."""
        if self.kind != "chunked" or self._full is not None or self.n_chunks(start, stop) > self.lookup_limit:
            return False
        first = (start // self.chunk_rows) * self.chunk_rows
        coords = itertools.product(range(first, stop, self.chunk_rows), *self._trailing)
        return not all(c in self._known for c in coords)  # already listed: planning is free

    @property
    def is_full(self) -> bool:
        """True once the whole chunk index has been read."""
        return self._full is not None

    def table(self) -> ChunkTable:
        """Every allocated chunk (built once with ``chunk_iter``, then kept).

        Over a remote source the index's nodes are fetched first, all the nodes of a level in one
        round trip (:func:`fetch_chunk_btree`): h5py's walk, a node at a time, then finds each
        node held instead of waiting for it.
        """
        with self._table_lock:
            if self._full is None:
                table = None
                if self.source is not None:
                    from .index_warmup import settle

                    table = settle(self.source, self._dset.name)  # walked in the background already?
                    if table is None:
                        fetch_chunk_btree(self.source, self._dset)
                self._full = table if table is not None else ChunkTable.build(self._dset)
            return self._full

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first row, byte offset, size) of every allocated chunk, sorted by row (built once)."""
        t = self.table()
        return t.rows, t.starts, t.sizes

    rows = property(lambda self: self._index()[0], doc="First row of every chunk (builds the full index).")
    starts = property(lambda self: self._index()[1], doc="Byte offset of every chunk.")
    sizes = property(lambda self: self._index()[2], doc="Stored size of every chunk.")

    def _lookup(self, first: int, stop: int) -> list[tuple[int, int, int]] | None:
        """(first row, begin, end) of the chunks of rows ``[first, stop)`` one by one, or None when
        too many."""
        row_starts = range(first, stop, self.chunk_rows)
        n = len(row_starts) * int(np.prod([len(t) for t in self._trailing]))
        if self._full is not None or n > self.lookup_limit or not hasattr(self._dset.id, "get_chunk_info_by_coord"):
            return None
        out = []
        for coord in itertools.product(row_starts, *self._trailing):
            if coord not in self._known:
                info = self._dset.id.get_chunk_info_by_coord(coord)
                self._known[coord] = None if info.byte_offset is None else (info.byte_offset, info.size)
            found = self._known[coord]
            if found is not None:
                out.append((int(coord[0]), int(found[0]), int(found[0] + found[1])))
        return out

    def _trim(self, chunks: list[tuple[int, int, int]], start: int, stop: int) -> list[tuple[int, int]]:
        """Byte ranges of ``(first row, begin, end)`` chunks, cut to rows ``[start, stop)`` (and to
        the dataset's rows) where chunks are stored raw (``raw_row_bytes``)."""
        rb, n = self.raw_row_bytes, self.chunk_rows
        if not rb:
            return [(a, e) for _, a, e in chunks]
        stop = min(stop, int(self.shape[0]))
        out = []
        for r0, a, e in chunks:
            if e - a != n * rb:  # not a whole raw chunk: leave it whole
                out.append((a, e))
                continue
            lo, hi = max(start, r0) - r0, min(stop, r0 + n) - r0
            if hi > lo:
                out.append((a + lo * rb, a + hi * rb))
        return out

    def ranges(self, start: int, stop: int) -> list[tuple[int, int]]:
        """Byte ranges ``[(begin, end), ...]`` holding rows ``[start, stop)`` (all columns)."""
        if stop <= start:
            return []
        if self.kind == "chunked":
            first = (start // self.chunk_rows) * self.chunk_rows
            looked_up = self._lookup(first, stop)
            if looked_up is None:
                rows, starts, sizes = self._index()
                lo, hi = np.searchsorted(rows, [first, stop], side="left")
                looked_up = [(int(r), int(a), int(a + s)) for r, a, s in zip(rows[lo:hi], starts[lo:hi], sizes[lo:hi])]
            return self._trim(looked_up, start, stop)
        if self.kind == "contiguous" and self.offset is not None:
            if not self.shape:
                return [(self.offset, self.offset + self.row_bytes)]
            return [(self.offset + start * self.row_bytes, self.offset + stop * self.row_bytes)]
        return []

    def column_ranges(self, start: int, stop: int, c0: int, c1: int) -> list[tuple[int, int]]:
        """Byte ranges of the chunks of a 2-D chunked dataset holding rows ``[start, stop)`` of
        columns ``[c0, c1)`` (builds the full index)."""
        if stop <= start or c1 <= c0:
            return []
        t = self.table()
        sl = t.between(start, stop, self.chunk_rows)
        width = int(self._dset.chunks[1])
        first = t.coords[sl, 1]
        keep = (first < c1) & (first + width > c0)
        return [(int(a), int(a + n)) for a, n in zip(t.starts[sl][keep], t.sizes[sl][keep])]

    def batches(self, start: int, stop: int, limit: int) -> list[tuple[int, int]]:
        """Split rows ``[start, stop)`` at chunk boundaries into pieces of about ``limit`` bytes."""
        if self.kind == "chunked":
            rows, _, sizes = self._index()
            step = self.chunk_rows
            per_rows = max(int(sizes.sum()) // max(len(np.unique(rows)), 1), 1)  # bytes per chunk row
        else:
            step, per_rows = 1, max(self.row_bytes, 1)
        rows_per_batch = max(step, (limit // per_rows) * step)
        out, a = [], start
        while a < stop:
            b = min(((a // step) * step) + rows_per_batch, stop)
            out.append((a, b))
            a = b
        return out


def fetch_chunk_btree(source: Any, dset: h5py.Dataset, exact: bool = False, lanes: int | None = None) -> int | None:
    """Fetch the nodes of ``dset``'s chunk index from ``source``, one round trip per level, on its
    small grid; returns the round trips, None when napstream left (part of) the walk to h5py.

    Only version 1 B-trees (h5py's and pynwb's default) are walked; the newer indexes of files
    written with ``libver="latest"``, a node that does not parse or an index too large to hold
    are left to h5py, which reads them node by node as before. The walk only fetches: the chunk
    list is h5py's own (``chunk_iter``), read from the fetched bytes.

    ``exact``: each node is fetched as its own bytes and held in memory
    (``prefetch_exact_nodes``: the background walk of :mod:`.index_warmup`), not on the small grid,
    ``lanes`` batches of requests at once (None: the source's ``walk_lanes``).
    """
    from ..io.btree import walk_chunk_btree
    from .h5meta import chunk_btree_root

    fetch = getattr(source, "prefetch_exact_nodes" if exact else "prefetch_nodes", None)
    if fetch is None or dset.chunks is None:
        return None
    if exact and lanes is not None:
        fetch = functools.partial(fetch, lanes=lanes)
    try:  # (h5o.get_info would walk the whole index for its storage size: not that one)
        number = h5py.h5g.get_objinfo(dset.id).objno
    except Exception:  # noqa: BLE001 - no address (an odd driver): h5py walks as before
        return None
    if number[1]:
        return None
    header = int(number[0])
    root = chunk_btree_root(source, header)
    if root is None:
        return None
    limit = int(getattr(source, "exact_nodes_bytes" if exact else "node_fetch_limit", 0) or 0)
    grid = 1 if exact else int(getattr(source, "small_grid", None) or getattr(source, "block_size", 1) or 1)
    return walk_chunk_btree(root[0], root[1], root[2], int(source.size), source.peek, fetch, limit, grid, root[3])


def _raw_row_bytes(dset: h5py.Dataset) -> int:
    """Bytes of one row of a stored chunk when napstream reads ``dset``'s row slices itself, else 0.

    That is when its chunks are stored raw (no filter), span whole rows (every axis but the first
    in one chunk) and hold plain numbers: rows ``[a, b)`` of such a chunk are consecutive bytes
    of the file, so a read fetches and decodes just them (h5py would read the whole chunk into its
    chunk cache, and the unused rows of the last chunk are often megabytes).
    """
    try:
        if dset.chunks is None or tuple(dset.chunks[1:]) != tuple(dset.shape[1:]):
            return 0
        if dset.dtype.kind not in "iuf" or dset.dtype.metadata or dset.id.get_create_plist().get_nfilters() != 0:
            return 0
        return int(np.prod(dset.chunks[1:], dtype=np.int64)) * dset.dtype.itemsize
    except Exception:  # noqa: BLE001 - an unusual dataset: whole chunks, read by h5py
        return 0


def _unchunked_kind(dset: h5py.Dataset) -> str:
    try:
        layout = dset.id.get_create_plist().get_layout()
    except Exception:  # noqa: BLE001 - virtual / external: let h5py read as usual
        return "other"
    if layout == h5py.h5d.COMPACT:
        return "compact"
    if layout == h5py.h5d.CONTIGUOUS:
        return "contiguous"
    return "other"


def row_span(key: Any, n_rows: int) -> tuple[int, int] | None:
    """Rows ``[a, b)`` covering a numpy-style ``key`` on axis 0 (None: the whole array).

    >>> row_span((slice(5, 9), 0), 100), row_span(-1, 10), row_span([3, 7, 4], 10)
    ((5, 9), (9, 10), (3, 8))
    """
    first = key[0] if isinstance(key, tuple) and key else key
    if isinstance(key, tuple) and not key or first is Ellipsis:
        return None
    if isinstance(first, slice):
        r = range(*first.indices(n_rows))
        return (min(r[0], r[-1]), max(r[0], r[-1]) + 1) if len(r) else (0, 0)
    if isinstance(first, (int, np.integer)) and not isinstance(first, bool):
        i = int(first) + (n_rows if first < 0 else 0)
        return (i, i + 1) if 0 <= i < n_rows else (0, 0)
    arr = np.asarray(first)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    if arr.dtype.kind in "iu" and arr.size:
        arr = np.where(arr < 0, arr + n_rows, arr)
        return (int(max(arr.min(), 0)), int(min(arr.max() + 1, n_rows)))
    return None


class _WrappedDataset:
    """An ``h5py.Dataset`` stand-in: every attribute not defined here comes from the dataset."""

    def __init__(self, dset: h5py.Dataset) -> None:
        self.dataset = dset
        self._index: ChunkIndex | None = None
        self._codec: ChunkCodec | None | bool = False  # False: not looked at yet
        self._lock = threading.Lock()

    shape = property(lambda self: self.dataset.shape)
    dtype = property(lambda self: self.dataset.dtype)
    ndim = property(lambda self: self.dataset.ndim)
    size = property(lambda self: self.dataset.size)
    chunks = property(lambda self: self.dataset.chunks)
    name = property(lambda self: self.dataset.name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[()]
        return np.asarray(out, dtype=dtype)

    @property
    def index(self) -> ChunkIndex:
        """The dataset's chunk index (built on first use, then kept)."""
        with self._lock:
            if self._index is None:
                self._index = ChunkIndex(self.dataset, source=getattr(self, "source", None))
            return self._index

    @property
    def codec(self) -> ChunkCodec | None:
        """How to decode this dataset's chunks without h5py (None: h5py decodes)."""
        with self._lock:
            if self._codec is False:
                self._codec = ChunkCodec.for_dataset(self.dataset)
            return self._codec  # type: ignore[return-value]

    def reserve_decoded_cache(self, budget: int) -> int:
        """Bytes the decoded-chunk cache may hold in a job of memory ``budget`` (the planner
        counts them; 0 when napstream does not decode this dataset)."""
        codec = self.codec
        if codec is not None:
            return codec.reserve(budget)
        # h5py decodes it: reserved all the same, as for the same dataset in a local file (the
        # planner's rule), so local and remote reads plan the same chunks
        chunks = self.dataset.chunks
        if not chunks:
            return 0
        return decoded_cache_limit(budget, int(np.prod(chunks, dtype=np.int64)) * self.dataset.dtype.itemsize)

    def _direct(self, key: Any, start: int, stop: int, fetch: Any) -> np.ndarray | None:
        """Rows ``[start, stop)`` decoded by napstream, with ``key``'s trailing part applied."""
        rest = _simple_row_slice(key)
        codec = self.codec
        if rest is None or codec is None:
            return None
        cols = _column_window(rest, codec.shape)
        if cols is not None:  # only the chunks of those columns are decoded
            return codec.read_rows(self.index.table(), start, stop, fetch, cols)
        rows = codec.read_rows(self.index.table(), start, stop, fetch)
        if rows is None:
            return None
        return rows[(slice(None),) + rest] if rest else rows


class LocalChunkedDataset(_WrappedDataset):
    """A compressed chunked dataset of a local file whose large row reads napstream decodes itself.

    The stored chunks are read with ``os.pread`` on the file's own descriptor (no h5py lock held)
    and inflated by :mod:`napstream.nwb.chunk_codec`. Reads of a single chunk before the chunk
    table exists (building it walks the whole chunk index once), other selections and anything
    the codec does not handle go to h5py.
    """

    def __repr__(self) -> str:
        return f"<LocalChunkedDataset {self.name!r} {self.shape} {self.dtype}>"

    def __getitem__(self, key: Any) -> Any:
        shape = self.dataset.shape
        span = row_span(key, shape[0]) if shape else None
        index = self.index
        if span is not None and self.dataset.id.valid and (index.is_full or index.n_chunks(*span) >= 2):
            try:
                fd = self.dataset.file.id.get_vfd_handle()
            except Exception:  # noqa: BLE001 - no descriptor to read from: h5py reads
                fd = None
            if isinstance(fd, int):
                out = self._direct(key, span[0], span[1], lambda ranges: (os.pread(fd, b - a, a) for a, b in ranges))
                if out is not None:
                    return out
        return self.dataset[key]


class PrefetchingDataset(_WrappedDataset):
    """An ``h5py.Dataset`` of a remote file whose reads prefetch their storage chunks first.

    Large row reads of deflate/shuffle-compressed datasets are decoded by napstream from the
    fetched chunk bytes (see :mod:`napstream.nwb.chunk_codec`); others are decoded by h5py from
    the warmed cache (see the module docstring).
    """

    #: a partial read of a dataset holding at most this many bytes fetches all of it at once: a
    #: search over its rows (the binary search of a timestamps array) then waits on the network
    #: once, not once per probe
    whole_dataset_bytes = 2 * 2**20

    #: bytes of raw chunks' rows kept for small reads (:meth:`_cached_raw_rows`; HDF5's default
    #: chunk cache is as large)
    raw_cache_bytes = 8 * 2**20
    #: rows of raw chunks are read and kept in pages of about this many bytes
    raw_page_bytes = 256 * 2**10

    def __init__(self, dset: h5py.Dataset, source: Any) -> None:
        super().__init__(dset)
        self.source = source
        self._raw_chunks: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._whole: bool | None = None  # None: not decided yet; True once fetched whole

    def __repr__(self) -> str:
        return f"<PrefetchingDataset {self.name!r} {self.shape} {self.dtype} over {self.source.description}>"

    def prefetch_rows(self, start: int, stop: int) -> int:
        """Fetch the storage of rows ``[start, stop)`` into the source's cache; returns bytes."""
        ranges = coalesce_ranges(self._inside(self.index.ranges(start, stop)), max_gap=_COALESCE_GAP)
        if ranges:
            from .speculate import await_speculated

            await_speculated(self.source, ranges)  # bytes the speculation is bringing: not fetched twice
            self.source.prefetch(ranges)
        return sum(b - a for a, b in ranges)

    def _inside(self, ranges: Any) -> Any:
        """``ranges`` if they lie inside the file, else a FileFormatError naming the dataset."""
        size = self.source.size
        for a, b in ranges:
            if a < 0 or b > size or b < a:
                raise FileFormatError(
                    f"{self.source.description}: the file is damaged: dataset {self.name!r} has storage at bytes "
                    f"[{a}, {b}), past the end of the file ({size} bytes); the file may be truncated or corrupt"
                )
        return ranges

    def _read_ranges(self, ranges: Any) -> Any:
        return self.source.read_ranges(self._inside(list(ranges)))

    def _read_stored(self, ranges: Any) -> Any:
        """Stored chunks for the codec to inflate: views of the cached blocks where the source
        gives them (no copy); inflating makes new bytes, so no view outlives the read."""
        codec = self.codec
        views = getattr(self.source, "read_views", None) if codec is not None and codec.deflate else None
        return self._read_ranges(ranges) if views is None else views(self._inside(list(ranges)))

    def will_read(self, segments: Any, max_bytes: int, requests: int | None = None,
                  cols: tuple[int, int] | None = None) -> Any:
        """Announce the row ``segments`` (``[[start, stop), ...]``, in reading order) read next.

        The read-ahead hint of lazy array bases (see :mod:`napstream.core.readahead`): the
        storage chunks of those rows (of columns ``cols = (c0, c1)`` only, for a 2-D chunked
        dataset read by channel groups) are fetched in the background, in order, and pinned until
        read, at most ``max_bytes`` at once (see :mod:`napstream.io.pinned`). Returns a handle
        to ``cancel()`` when the reads end, or None when there is nothing to read ahead.
        """
        if not self.dataset.shape or self._fetch_whole():
            return None  # small: already fetched whole
        _yield_speculation(self.source, self.name)  # a job's planned reads come first
        rows = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
        index = self.index
        if index.kind == "chunked" and (cols is not None or
                                        sum(index.n_chunks(int(a), int(b)) for a, b in rows) > index.lookup_limit):
            index.table()  # one walk of the chunk index rather than one lookup per chunk
        if cols is not None and index.kind == "chunked" and len(self.dataset.shape) == 2:
            ranges = [r for a, b in rows for r in index.column_ranges(int(a), int(b), *cols)]
        else:
            ranges = [r for a, b in rows for r in index.ranges(int(a), int(b))]
        if not ranges:
            return None
        read_ahead = getattr(self.source, "read_ahead", None)
        return None if read_ahead is None else read_ahead(ranges, max_bytes, requests)

    def _read(self, key: Any, a: int, b: int) -> Any:
        """Rows ``[a, b)`` of ``key``: fetched concurrently, then decoded by napstream or h5py."""
        _yield_speculation(self.source, self.name)  # a planned read: the speculation makes way
        out = self._cached_raw_rows(key, a, b)
        if out is None:
            self.prefetch_rows(a, b)
            out = self._raw_rows(key, a, b)
        if out is None:
            out = self._direct(key, a, b, self._read_stored)
        return self.dataset[key] if out is None else out

    def _page(self, row: int) -> tuple[int, int]:
        """Rows ``[r0, r1)`` of the page of raw rows holding ``row``: a chunk's valid rows cut in
        pages of about ``raw_page_bytes`` (pages never straddle chunks)."""
        index = self.index
        n, total = index.chunk_rows, int(self.dataset.shape[0])
        pages = max(1, round(n * index.raw_row_bytes / self.raw_page_bytes))
        step = -(-n // pages)
        c0 = (row // n) * n
        r0 = c0 + ((row - c0) // step) * step
        return r0, min(r0 + step, c0 + n, total)

    def _cached_raw_rows(self, key: Any, a: int, b: int) -> np.ndarray | None:
        """Rows ``[a, b)`` of ``key`` from raw chunks, kept in pages of about ``raw_page_bytes``
        (as h5py keeps chunks in its chunk cache: a search's probes read a few rows each, often
        near each other), or None when the span is larger than that cache or h5py must read it.

        A page not kept yet comes with the rest of its chunk's rows, as h5py reads whole chunks
        (a search probes a chunk several times), except while a read-ahead brings this dataset's
        rows (:func:`read_ahead_rows`): a probe then waits only for its own page's bytes.
        """
        index = self.index
        rest = _simple_row_slice(key) if index.raw_row_bytes and b > a else None
        if rest is None or (b - a) * index.raw_row_bytes > self.raw_cache_bytes // 4:
            return None
        parts, r0 = [], a
        while r0 < b:
            p0, p1 = self._page(r0)
            with self._lock:
                rows = self._raw_chunks.get(p0)
                if rows is not None:
                    self._raw_chunks.move_to_end(p0)
            if rows is None and not self._load_pages(p0, p1):
                return None
            with self._lock:
                rows = self._raw_chunks.get(p0)
            if rows is None:  # evicted at once (a tiny cache): read the page itself
                rows = self._raw_rows(slice(p0, p1), p0, p1)
                if rows is None:
                    return None
            parts.append(rows[max(a - p0, 0):b - p0])
            r0 = p1
        out = np.concatenate(parts) if len(parts) > 1 else np.array(parts[0])
        return out[(slice(None),) + rest] if rest else out

    def _load_pages(self, p0: int, p1: int) -> bool:
        """Read the page ``[p0, p1)`` (or its whole chunk's valid rows, see
        :meth:`_cached_raw_rows`) into the kept pages; False when h5py must read it."""
        index = self.index
        n, total = index.chunk_rows, int(self.dataset.shape[0])
        lo, hi = p0, p1
        if not _rows_ahead(self.source, self.name):
            c0 = (p0 // n) * n
            c1 = min(c0 + n, total)
            if (c1 - c0) * index.raw_row_bytes <= self.raw_cache_bytes // 2:
                lo, hi = c0, c1
                self.prefetch_rows(lo, hi)
        rows = self._raw_rows(slice(lo, hi), lo, hi)
        if rows is None:
            return False
        pages, r0 = [], lo
        while r0 < hi:
            pages.append(self._page(r0))
            r0 = pages[-1][1]
        with self._lock:
            for q0, q1 in pages:
                self._raw_chunks[q0] = rows[q0 - lo:q1 - lo]
                self._raw_chunks.move_to_end(q0)
            while len(self._raw_chunks) * self.raw_page_bytes > self.raw_cache_bytes:
                self._raw_chunks.popitem(last=False)
        return True

    def _raw_rows(self, key: Any, a: int, b: int) -> np.ndarray | None:
        """Rows ``[a, b)`` of ``key`` from raw chunks (``ChunkIndex.raw_row_bytes``) read from the
        source (after ``prefetch_rows``: from its cache), or None when h5py must read them."""
        index = self.index
        rest = _simple_row_slice(key) if index.raw_row_bytes and b > a else None
        if rest is None:
            return None
        ranges = index.ranges(a, b)
        if len(ranges) != -(-b // index.chunk_rows) - a // index.chunk_rows:
            return None  # a chunk never written (its fill value): h5py knows it
        buf = bytearray(sum(e - s for s, e in ranges))
        at = 0
        for part in self._read_ranges(ranges):
            buf[at:at + len(part)] = part
            at += len(part)
        out = np.frombuffer(buf, dtype=self.dataset.dtype).reshape((b - a,) + tuple(self.dataset.shape[1:]))
        return out[(slice(None),) + rest] if rest else out

    def _fetch_whole(self) -> bool:
        """Fetch the whole dataset once if it is small (see ``whole_dataset_bytes``); True if here."""
        if self._whole is None:
            # the size of the values, not of the storage: asking HDF5 for the storage size of a
            # chunked dataset walks its whole chunk index (remote round trips for a big one)
            nbytes = int(np.prod(self.dataset.shape, dtype=np.int64)) * self.dataset.dtype.itemsize
            small = 0 < nbytes <= self.whole_dataset_bytes
            if small:
                self.prefetch_rows(0, int(self.dataset.shape[0]))
            self._whole = small
        return self._whole

    def __getitem__(self, key: Any) -> Any:
        shape = self.dataset.shape
        if not shape:
            self.prefetch_rows(0, 1)
            return self.dataset[key]
        span = row_span(key, shape[0]) or (0, shape[0])
        if self._fetch_whole():  # small: every row is here now, h5py decodes from the cache
            out = self._raw_rows(key, *span)
            if out is None and span[1] - span[0] > 1:
                out = self._direct(key, *span, self._read_stored)
            return self.dataset[key] if out is None else out
        index = self.index
        if index.is_small(*span):  # a few chunks: h5py finds them itself (forward reads are read ahead)
            out = self._cached_raw_rows(key, *span)  # raw chunks: their rows, kept like h5py's chunk cache
            if out is None:
                out = self._raw_rows(key, *span)
            return self.dataset[key] if out is None else out
        limit = getattr(self.source, "prefetch_limit", None)
        total = sum(b - a for a, b in index.ranges(*span))
        if limit is None or total <= limit:
            return self._read(key, *span)
        rest = _simple_row_slice(key)
        if rest is None:  # too big to prefetch at once and not a plain row slice: read as is
            return self.dataset[key]
        batches = index.batches(span[0], span[1], limit)
        # the next batches are fetched while one is decoded (at most one batch pinned ahead); a
        # column selection reads only some chunks of a batch: no read-ahead of whole rows then
        whole_rows = all(isinstance(k, slice) and k == slice(None) for k in rest)
        ahead = self.will_read(batches[1:], limit) if whole_rows and len(batches) > 1 else None
        try:
            parts = [self._read((slice(a, b),) + rest, a, b) for a, b in batches]
        finally:
            if ahead is not None:
                ahead.cancel()
        return np.concatenate(parts, axis=0)


_AHEAD: collections.Counter[tuple[int, str]] = collections.Counter()  # (id(source), dataset) -> read-aheads
_AHEAD_LOCK = threading.Lock()


def _rows_ahead(source: Any, name: str) -> bool:
    """True while :func:`read_ahead_rows` brings rows of dataset ``name`` of ``source``."""
    return (id(source), name) in _AHEAD


class _RowsAhead:
    """A read-ahead handle of :func:`read_ahead_rows` (``cancel()`` also forgets the dataset)."""

    def __init__(self, handle: Any, key: tuple[int, str]) -> None:
        self.handle, self.key, self._done = handle, key, False

    def wait(self, timeout: float = 30.0) -> bool:
        return bool(self.handle.wait(timeout))

    def cancel(self) -> None:
        with _AHEAD_LOCK:
            if self._done:
                return
            self._done = True
            _AHEAD[self.key] -= 1
            if _AHEAD[self.key] <= 0:
                del _AHEAD[self.key]
        self.handle.cancel()


def read_ahead_rows(source: Any, dset: h5py.Dataset, spans: list[tuple[int, int]]) -> Any:
    """Fetch the storage of row ``spans`` of ``dset`` in the background, in that order, pinned
    until read (the source's read-ahead); returns the handle to ``cancel()`` once they are read.

    For a build that reads those rows one span after the other (a units table's units): it
    works on the first spans while the next ones arrive, instead of waiting for all of them.
    None (nothing started) when the source has no read-ahead, the rows are more than its
    ``prefetch_limit``, or nothing needs fetching.
    """
    read_ahead = getattr(source, "read_ahead", None)
    limit = getattr(source, "prefetch_limit", None)
    if read_ahead is None or limit is None or not spans:
        return None
    try:
        index = ChunkIndex(dset, source=source)
        ranges = [r for a, b in spans for r in index.ranges(int(a), int(b))]
    except (OSError, RuntimeError, ValueError):
        return None
    ranges = coalesce_ranges(ranges, max_gap=_COALESCE_GAP)
    total = sum(b - a for a, b in ranges)
    if not ranges or total > limit:
        return None
    from .speculate import await_speculated

    await_speculated(source, ranges)  # bytes the speculation is bringing: not fetched twice
    block = int(getattr(source, "block_size", 0) or 0)
    handle = read_ahead(ranges, total + 2 * block * len(ranges))
    if handle is None:
        return None
    key = (id(source), dset.name)
    with _AHEAD_LOCK:
        _AHEAD[key] += 1
    return _RowsAhead(handle, key)


def _yield_speculation(source: Any, name: str) -> None:
    """Stop the background speculation on ``source`` unless it fetches dataset ``name`` (see
    :mod:`napstream.nwb.speculate`)."""
    from .speculate import yield_to

    yield_to(source, name)


def _wrap_local(dset: Any) -> Any:
    """A LocalChunkedDataset for a compressed chunked dataset of a plain local file, else ``dset``."""
    try:
        plain_file = isinstance(dset, h5py.Dataset) and dset.file.driver == "sec2"
    except Exception:  # noqa: BLE001 - closed or unusual file: leave it to h5py
        plain_file = False
    codec = ChunkCodec.for_dataset(dset) if plain_file else None
    if codec is None or not codec.deflate:
        return dset
    return LocalChunkedDataset(dset)


def _column_window(rest: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int, int] | None:
    """``(c0, c1)`` when ``rest`` is one step-1 column slice of a 2-D dataset, else None."""
    if len(shape) != 2 or len(rest) != 1 or not isinstance(rest[0], slice):
        return None
    c0, c1, step = rest[0].indices(shape[1])
    return (c0, max(c0, c1)) if step == 1 else None


def _simple_row_slice(key: Any) -> tuple[Any, ...] | None:
    """The keys on the other axes when ``key`` is a step-1 slice on axis 0, else None."""
    parts = key if isinstance(key, tuple) else (key,)
    if not parts or not isinstance(parts[0], slice) or parts[0].step not in (None, 1):
        return None
    if any(isinstance(p, (list, np.ndarray)) for p in parts[1:]):
        return None
    return tuple(parts[1:])


def wrap_dataset(dset: Any, source: Any) -> Any:
    """Wrap a dataset so reads fetch exactly the storage chunks they touch and decode them fast.

    Parameters
    ----------
    dset : h5py.Dataset
        A dataset of a file opened over ``source``.
    source : ByteSource or None
        The file's byte source; None or a local source wraps only compressed chunked datasets of
        plain local files (:class:`LocalChunkedDataset`) and returns others unchanged.

    Returns
    -------
    h5py.Dataset, LocalChunkedDataset or PrefetchingDataset
        An array-like with ``shape``, ``dtype``, ``chunks``, ``name`` and ``__getitem__``.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
    >>> with h5py.File(path, "w") as f:
    ...     f["x"] = np.arange(5)
    >>> with h5py.File(path, "r") as f:
    ...     print(type(wrap_dataset(f["x"], None)).__name__)
    Dataset
    """
    if isinstance(dset, _WrappedDataset):
        return dset
    if source is None or not getattr(source, "is_remote", False):
        return _wrap_local(dset)
    if not isinstance(dset, h5py.Dataset):
        raise InvalidTypeError(f"dset must be an h5py.Dataset, got {type(dset).__name__}")
    return PrefetchingDataset(dset, source)
