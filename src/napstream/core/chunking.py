"""Pure chunk planning: how many rows fit a memory budget, where chunks start and stop.

Nothing here reads data. The engine (``napstream.engine``) and :class:`~napstream.core.chunked.ChunkedMixin`
use these functions to cut row *segments* (sorted, disjoint ``[start, stop)`` logical rows, one per
epoch) into chunks that

* hold at most ``rows`` rows plus a *margin* on each side (the overlap filters need so that results at
  the seams are exact), the margin being clipped to the segment (epoch edges are real edges);
* start on storage-chunk boundaries of the underlying dataset when it is chunked, so each storage chunk
  is decompressed once.

Examples
--------
>>> rows_for_budget(row_nbytes=128, budget=1_000_000, margin=(0, 0), align=1000)
7000
>>> [(c.read_start, c.core_start, c.core_stop, c.read_stop) for c in plan_row_chunks([[0, 25]], 10, margin=2)]
[(0, 0, 10, 12), (8, 10, 20, 22), (18, 20, 25, 25)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import format_bytes
from ..errors import InvalidInputError, MemoryBudgetError

__all__ = [
    "RowChunk", "as_margin", "rows_for_budget", "plan_row_chunks", "Chunk", "ChunkTask", "epoch_segments",
    "plan_tasks", "working_row_nbytes", "run_serial", "read_cost", "with_read_margin", "taper_cuts", "ramp_cuts",
]


@dataclass(frozen=True)
class RowChunk:
    """One chunk of logical rows: read ``[read_start, read_stop)``, own ``[core_start, core_stop)``.

    ``segment`` is the position of the row segment (epoch) the chunk belongs to; margins never
    cross a segment's edges.
    """

    read_start: int
    read_stop: int
    core_start: int
    core_stop: int
    segment: int = 0

    @property
    def n_read(self) -> int:
        return self.read_stop - self.read_start

    @property
    def core_slice(self) -> slice:
        """Position of the core rows inside the rows read."""
        return slice(self.core_start - self.read_start, self.core_stop - self.read_start)


def as_margin(margin: Any, name: str = "margin") -> tuple[int, int]:
    """Normalise a margin given as ``m`` or ``(left, right)`` to a pair of non-negative ints.

    >>> as_margin(3), as_margin((0, 5))
    ((3, 3), (0, 5))
    """
    pair = (margin, margin) if np.ndim(margin) == 0 else tuple(margin)
    if len(pair) != 2:
        raise InvalidInputError(f"{name} must be an int or a (left, right) pair, got {margin!r}")
    out = []
    for m in pair:
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
            raise InvalidInputError(f"{name} must be non-negative integers of rows, got {margin!r}")
        out.append(int(m))
    return out[0], out[1]


def rows_for_budget(
    row_nbytes: int,
    budget: int,
    margin: Any = 0,
    align: int | None = None,
    fixed_nbytes: int = 0,
    in_flight: int = 1,
) -> int:
    """Rows per chunk so that ``in_flight`` chunks (with margins) fit in ``budget`` bytes.

    Parameters
    ----------
    row_nbytes : int
        Working bytes one row costs while a chunk is processed (all buffers, not only the read).
    budget : int
        Memory budget in bytes.
    margin : int or (int, int)
        Extra rows read on each side of a chunk.
    align : int, optional
        Storage chunk rows; the result is rounded down to a multiple when at least one fits.
    fixed_nbytes : int
        Bytes the computation holds whatever the chunk size (accumulators, kernels).
    in_flight : int
        Chunks held at once (threads/dask workers plus one being merged).

    Raises
    ------
    MemoryBudgetError
        When the budget cannot hold one row plus the margins (the message gives the minimum).
    """
    left, right = as_margin(margin)
    row_nbytes = max(int(row_nbytes), 1)
    in_flight = max(int(in_flight), 1)
    per_chunk = (budget - fixed_nbytes) // in_flight
    rows = per_chunk // row_nbytes - left - right
    if rows < 1:
        minimum = fixed_nbytes + in_flight * row_nbytes * (1 + left + right)
        raise MemoryBudgetError(
            f"max_memory / memory_budget of {budget} bytes is too small: one chunk with its margin "
            f"({left}+{right} rows of {row_nbytes} bytes) needs at least {minimum} bytes "
            f"({format_bytes(minimum)})"
        )
    if align and rows >= align:
        rows -= rows % align
    return int(rows)


def plan_row_chunks(
    segments: Any,
    rows: int,
    margin: Any = 0,
    align: int | None = None,
    base_offsets: Any = None,
    tail_split: int = 0,
    taper: bool = False,
    least: int = 1,
) -> list[RowChunk]:
    """Cut row ``segments`` into chunks of at most ``rows`` core rows, with margins.

    Parameters
    ----------
    segments : array-like (k, 2)
        Sorted, disjoint ``[start, stop)`` logical rows (one per epoch).
    rows : int
        Maximum core rows per chunk.
    margin : int or (int, int)
        Rows read before and after the core, clipped to the segment.
    align : int, optional
        Storage chunk rows: interior chunk boundaries fall where ``base_offset + row`` is a
        multiple of ``align`` (the first chunk of a segment may be shorter).
    base_offsets : array-like (k,), optional
        Row of the storage that the first row of each segment maps to (default: the segment start).
    tail_split : int
        Cut the last ``tail_split`` chunks in halves (when there are more than twice as many
        chunks): with several workers, the last chunks finish closer together.
    taper : bool
        Cut the end of the last segment into pieces that shrink towards the end (see
        :func:`taper_cuts`; replaces ``tail_split``): the compute left once the last piece's
        rows are read is a small piece's, and several workers finish together. The start of the
        first segment is cut the same way, mirrored (:func:`ramp_cuts`, where the end leaves
        room): the first pieces' rows are read soon, so the compute starts early.
    least : int
        Fewest rows of a tapered piece (e.g. a megabyte's worth: smaller pieces cost more per
        piece than they save).
    """
    if isinstance(rows, bool) or int(rows) < 1:
        raise InvalidInputError(f"rows must be a positive integer, got {rows!r}")
    rows = int(rows)
    left, right = as_margin(margin)
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    offsets = seg[:, 0] if base_offsets is None else np.asarray(base_offsets, dtype=np.int64)
    out: list[RowChunk] = []
    step = rows - rows % align if align and rows >= align else rows
    filled = [k for k, (a, b) in enumerate(seg) if b > a]
    ends = (filled[0], filled[-1]) if filled else (-1, -1)  # the job's first and last segments
    for k, (a, b) in enumerate(seg):
        a, b = int(a), int(b)
        if b <= a:
            continue
        first = a + step
        if align and rows >= align:
            base = int(offsets[k])
            first = a + ((align - base % align) % align or align)
        bounds = [a] + list(range(first, b, step)) + [b]
        bounds = sorted(set(min(x, b) for x in bounds))
        if taper:
            grid = (align, int(offsets[k]) - a) if align and rows >= align else None
            smallest = max(step // TAPER_SMALLEST, align or 1, left + right, int(least), 1)
            end = b
            if k == ends[1]:
                bounds, end = _tapered(bounds, step, smallest, grid)
            if k == ends[0]:
                bounds = _ramped(bounds, step, smallest, grid, end)
        for c0, c1 in zip(bounds[:-1], bounds[1:]):
            out.append(RowChunk(max(a, c0 - left), min(b, c1 + right), c0, c1, k))
    if not taper and tail_split > 0 and len(out) > 2 * tail_split:
        out = out[:-tail_split] + [half for rc in out[-tail_split:] for half in _halves(rc, seg, left, right, align)]
    return out


#: a tapered job's last pieces grow by this ratio from its end backwards (see :func:`taper_cuts`)
TAPER_RATIO = 1.3
#: ... starting from a piece of ``rows // TAPER_SMALLEST`` rows (at least a storage chunk, the
#: margins and ``TAPER_LEAST_BYTES`` of stored data: smaller pieces cost more than they save)
TAPER_SMALLEST = 8
TAPER_LEAST_BYTES = 2**20


def taper_cuts(a: int, b: int, rows: int, smallest: int, ratio: float = TAPER_RATIO,
               grid: tuple[int, int] | None = None) -> list[int]:
    """Cut points of the end of the rows ``[a, b)`` into pieces that grow from ``b`` backwards.

    The last piece has ``smallest`` rows, each one before it ``ratio`` times more, up to the
    first that would reach ``rows`` (a full chunk). With ``grid = (align, phase)`` every cut is
    moved down to a row ``r`` where ``(r + phase) % align == 0`` (a storage chunk's first row).
    Returns the cuts in increasing order (each ``a < cut < b``); empty when nothing is cut.

    >>> taper_cuts(0, 1000, rows=400, smallest=50, ratio=2.0)
    [650, 850, 950]
    >>> taper_cuts(0, 1000, rows=400, smallest=50, ratio=2.0, grid=(100, 0))
    [600, 800, 900]
    """
    cuts: list[int] = []
    size, end = float(max(int(smallest), 1)), int(b)
    while size < rows:
        cut = int(round(end - size))
        if grid is not None:
            align, phase = grid
            cut -= (cut + phase) % align
            if end - cut > rows:  # moved down past a chunk's worth: the next grid row instead
                cut += align
        if cut <= a or cut >= end:
            break
        cuts.append(cut)
        end = cut
        size *= ratio
    return cuts[::-1]


def ramp_cuts(a: int, b: int, rows: int, smallest: int, ratio: float = TAPER_RATIO,
              grid: tuple[int, int] | None = None) -> list[int]:
    """Cut points of the start of the rows ``[a, b)`` into pieces that grow from ``a`` onwards:
    :func:`taper_cuts` mirrored (cuts moved up to the grid).

    >>> ramp_cuts(0, 1000, rows=400, smallest=50, ratio=2.0)
    [50, 150, 350]
    >>> ramp_cuts(0, 1000, rows=400, smallest=50, ratio=2.0, grid=(100, 0))
    [100, 200, 400]
    """
    cuts: list[int] = []
    size, start = float(max(int(smallest), 1)), int(a)
    while size < rows:
        cut = int(round(start + size))
        if grid is not None:
            align, phase = grid
            cut += -(cut + phase) % align
            if cut - start > rows:  # moved up past a chunk's worth: the grid row before
                cut -= align
        if cut >= b or cut <= start:
            break
        cuts.append(cut)
        start = cut
        size *= ratio
    return cuts


def _tapered(bounds: list[int], rows: int, smallest: int, grid: tuple[int, int] | None) -> tuple[list[int], int]:
    """Chunk ``bounds`` of a segment with its end cut by :func:`taper_cuts` (the work left after
    the job's last bytes land is a small piece's, and the workers finish together), and the row
    where the tapered pieces start."""
    a, b = bounds[0], bounds[-1]
    cuts = taper_cuts(a, b, rows, smallest, TAPER_RATIO, grid)
    if not cuts:
        return bounds, b
    keep = [v for v in bounds[:-1] if v < cuts[0]]
    if (cuts[1] if len(cuts) > 1 else b) - keep[-1] <= rows:
        cuts = cuts[1:]  # the part of the chunk across the first cut joins the first piece
        return keep + cuts + [b], keep[-1]
    return keep + cuts + [b], cuts[0]  # else that chunk keeps its part before the first cut


def _ramped(bounds: list[int], rows: int, smallest: int, grid: tuple[int, int] | None, end: int) -> list[int]:
    """Chunk ``bounds`` of a segment with its start, up to ``end`` (where a tapered end starts),
    cut by :func:`ramp_cuts`: the first pieces' bytes land soon, so the workers start early."""
    a = bounds[0]
    cuts = ramp_cuts(a, end, rows, smallest, TAPER_RATIO, grid)
    if not cuts:
        return bounds
    after = [v for v in bounds if v > cuts[-1]]
    if after[0] - (cuts[-2] if len(cuts) > 1 else a) <= rows:
        cuts = cuts[:-1]  # the part of the chunk across the last cut joins the last piece
    return [a] + cuts + [v for v in bounds if v > (cuts[-1] if cuts else a)]


def _halves(rc: RowChunk, seg: np.ndarray, left: int, right: int, align: int | None) -> list[RowChunk]:
    """``rc`` cut in two at a storage-aligned middle of its core (itself when too short)."""
    a, b = (int(x) for x in seg[rc.segment])
    unit = align or 1  # interior chunks start on a storage boundary: so does the cut
    mid = rc.core_start + ((rc.core_stop - rc.core_start) // 2 // unit) * unit
    if not rc.core_start < mid < rc.core_stop:
        return [rc]
    return [
        RowChunk(max(a, rc.core_start - left), min(b, mid + right), rc.core_start, mid, rc.segment),
        RowChunk(max(a, mid - left), min(b, rc.core_stop + right), mid, rc.core_stop, rc.segment),
    ]


# ---------------------------------------------------------------------------------------------
# chunks of a time series: what the engine hands to algorithms
# ---------------------------------------------------------------------------------------------
@dataclass
class Chunk:
    """Rows of a time series in memory: ``t`` (float64 seconds) and ``d`` (numpy), with margins.

    ``start_row``/``stop_row`` are the rows read (in the series' logical rows), ``core_slice`` the
    positions inside ``t``/``d`` that this chunk owns (margins excluded), ``segment`` the epoch.
    """

    t: np.ndarray
    d: np.ndarray
    start_row: int
    stop_row: int
    core_slice: slice
    segment: int = 0
    #: ``(first, stop)`` columns of the series that ``d`` holds when the job is split along
    #: channels (None: all of them)
    cols: tuple[int, int] | None = None

    @property
    def core_start(self) -> int:
        """First owned row (logical row of the series)."""
        return self.start_row + self.core_slice.start

    @property
    def core_stop(self) -> int:
        return self.start_row + self.core_slice.stop


def _view(x: Any, a: int, b: int, cols: tuple[int, int] | None = None) -> Any:
    """Rows [a, b) (and columns ``cols``) of an index or array without I/O (a view, or a lazy selection)."""
    if isinstance(x, np.ndarray):
        return x[a:b] if cols is None else x[a:b, cols[0]:cols[1]]
    view = x.select([[a, b]])
    return view if cols is None else view.select_columns(*cols)


@dataclass
class ChunkTask:
    """A serialisable description of one chunk: lazy (or small numpy) views of time and data.

    ``cols``: the columns ``[first, stop)`` of the series that ``d`` already holds when the job
    is split along channels (None: all).
    """

    t: Any
    d: Any
    rows: RowChunk
    cols: tuple[int, int] | None = None

    def load(self) -> Chunk:
        """Read the rows of this task (the only place data are read)."""
        t = self.t.read(0, len(self.t)) if hasattr(self.t, "read") else np.asarray(self.t)
        d = self.d.read(0, len(self.d)) if hasattr(self.d, "read") else np.asarray(self.d)
        r = self.rows
        return Chunk(np.asarray(t, dtype=np.float64), np.asarray(d), r.read_start, r.read_stop, r.core_slice,
                     r.segment, self.cols)


def epoch_segments(time_index: Any, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Logical rows ``[searchsorted(start, left), searchsorted(end, right))`` of each epoch.

    One segment per epoch (empty ones kept, so segment ``k`` is epoch ``k``); overlaps from
    touching epochs are clipped so segments stay disjoint.
    """
    if len(starts) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    a = np.asarray(time_index.searchsorted(np.asarray(starts, dtype=np.float64), "left"), dtype=np.int64)
    b = np.asarray(time_index.searchsorted(np.asarray(ends, dtype=np.float64), "right"), dtype=np.int64)
    if len(a) > 1:
        a[1:] = np.maximum(a[1:], b[:-1])
    b = np.maximum(a, b)
    return np.stack([a, b], axis=1)


def plan_tasks(
    time_index: Any,
    data: Any,
    segments: np.ndarray,
    rows: int,
    margin: Any = 0,
    tail_split: int = 0,
    cols: tuple[int, int] | None = None,
    taper: bool | None = None,
) -> list[ChunkTask]:
    """Chunk tasks over ``segments`` of (time_index, data), aligned to the data's storage chunks.

    ``tail_split``, ``taper``: see :func:`plan_row_chunks`; ``taper=None`` (the default) tapers
    data read on demand (a LazyArray: its bytes arrive while earlier chunks are analysed), not
    in-memory arrays. ``cols``: only these columns ``[first, stop)`` of
    2-D data (read from storage alone).
    """
    align = getattr(data, "chunk_rows", None)
    offsets = None
    if align and hasattr(data, "base_rows") and len(segments):
        firsts = [data.base_rows([[a, a + 1]])[0, 0] if b > a else 0 for a, b in segments]
        offsets = np.asarray(firsts, dtype=np.int64)
    if taper is None:
        taper = not isinstance(data, np.ndarray)
    least = 1
    if taper:
        shape = tuple(getattr(data, "shape", ()))[1:]
        if cols is not None and len(shape) == 1:
            shape = (cols[1] - cols[0],)  # the group's columns: the bytes its pieces read
        stored = getattr(getattr(data, "base", data), "dtype", getattr(data, "dtype", np.float64))
        try:
            row = int(np.prod(shape, dtype=np.int64)) * np.dtype(stored).itemsize
        except TypeError:
            row = int(np.prod(shape, dtype=np.int64)) * 8
        least = -(-TAPER_LEAST_BYTES // max(row, 1))
    tasks = []
    for rc in plan_row_chunks(segments, rows, margin, align, offsets, tail_split, taper, least):
        a, b = rc.read_start, rc.read_stop
        tasks.append(ChunkTask(_view(time_index, a, b), _view(data, a, b, cols), rc, cols))
    return tasks


def working_row_nbytes(data: Any, row_factor: float = 2.0) -> int:
    """Working bytes per row: the row as read, ``row_factor`` float64 copies of it, and its time
    (and what a computed base, e.g. a lazy filter, holds per row while it computes a read)."""
    shape = tuple(data.shape[1:])
    n_el = int(np.prod(shape, dtype=np.int64)) if shape else 1
    raw = n_el * np.dtype(data.dtype).itemsize
    return int(raw + row_factor * 8 * n_el + 8 + read_cost(data)[1] * n_el)


def read_cost(data: Any) -> tuple[int, int]:
    """``(rows, bytes)``: rows a computed base reads beyond each side of a read (a filter's margin)
    and its working bytes per element; ``(0, 0)`` for stored data."""
    base = getattr(data, "base", None)
    return int(getattr(base, "read_margin", 0)), int(getattr(base, "work_row_nbytes", 0))


#: bytes of decoded storage chunks a dataset keeps for reads not aligned to its chunks (at most this,
#: and at most an eighth of the job's budget), and the fewest chunks that make keeping them worthwhile
DECODED_CACHE_BYTES = 64 * 2**20
MIN_CACHED_CHUNKS = 3


def decoded_cache_limit(budget: int, chunk_nbytes: int, most: int = DECODED_CACHE_BYTES) -> int:
    """Bytes of decoded chunks of ``chunk_nbytes`` kept in a job of ``budget`` bytes (0: too large).

    >>> decoded_cache_limit(256 * 2**20, 3_840_000), decoded_cache_limit(8 * 2**20, 3_840_000)
    (33554432, 0)
    """
    limit = min(int(most), int(budget) // 8)
    return limit if int(chunk_nbytes) * MIN_CACHED_CHUNKS <= limit else 0


def decoded_cache_nbytes(data: Any, budget: int) -> int:
    """Bytes of decoded storage chunks the reads of ``data`` may keep in a job of ``budget`` bytes
    (a chunked dataset napstream decodes keeps its recently decoded chunks: see
    ``napstream.nwb.chunk_codec``); 0 for other data.

    A chunked dataset h5py reads (a local file) is counted the same, so a local and a remote read
    of one file plan the same chunks and give bit-identical results.
    """
    base = getattr(data, "base", None)
    reserve = getattr(base, "reserve_decoded_cache", None)
    if callable(reserve):
        return int(reserve(int(budget)))
    try:
        chunks, dtype = getattr(base, "chunks", None), getattr(base, "dtype", None)
        if not chunks or dtype is None or not getattr(base, "shape", None):
            return 0
        return decoded_cache_limit(budget, int(np.prod(chunks, dtype=np.int64)) * np.dtype(dtype).itemsize)
    except Exception:  # noqa: BLE001 - an array-like without storage chunks
        return 0


def with_read_margin(data: Any, margin: Any) -> tuple[int, int]:
    """``margin`` (a pair) plus the rows a computed base reads beyond each side of a read."""
    left, right = as_margin(margin)
    extra = read_cost(data)[0]
    return left + extra, right + extra


def run_serial(algorithm: Any, tasks: list[ChunkTask]) -> Any:
    """Run a chunk algorithm (init/update/merge/finalize) over tasks, one after the other."""
    acc = algorithm.init()
    for task in tasks:
        part = algorithm.update(algorithm.init(), task.load())
        acc = algorithm.merge([acc, part])
    return algorithm.finalize(acc)
