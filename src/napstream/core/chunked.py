"""Segment processing of time series in bounded memory: ``iter_chunks``, ``apply``, chunked reductions.

:class:`ChunkedMixin` is inherited by the time series classes. It only uses the pure planning of
:mod:`napstream.core.chunking` (core never imports the engine); the same reduction algorithms
(:class:`EpochStats`, :class:`BinAverage`) run on any executor through ``napstream.engine.run``.

Outputs as large as the input are never materialised behind the user's back: an in-memory input
gives an in-memory result, a lazy input a result written to an HDF5 file (see :func:`make_sink`).

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> from napstream.core.chunking import epoch_segments, plan_tasks, run_serial
>>> t, d = RegularTimeIndex(0.0, 10.0, 100), LazyArray(np.arange(100.0))
>>> tasks = plan_tasks(t, d, epoch_segments(t, np.array([0.0]), np.array([9.9])), rows=30)
>>> mean, std, count = run_serial(EpochStats(1), tasks)
>>> float(mean[0]), int(count[0])
(49.5, 100)
"""

from __future__ import annotations

import os
import tempfile
import uuid
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..config import config, parse_bytes
from ..errors import InvalidInputError, InvalidTypeError, MemoryBudgetError
from ._series_kernels import epoch_bins
from .chunking import (
    Chunk, epoch_segments, plan_tasks, read_cost, rows_for_budget, run_serial, with_read_margin, working_row_nbytes,
)
from . import readahead
from .lazy import LazyArray

__all__ = ["ChunkedMixin", "EpochStats", "BinAverage", "ThresholdCrossings", "make_sink", "H5DatasetRef", "ArraySink", "H5Sink"]


# ---------------------------------------------------------------------------------------------- sinks
class H5DatasetRef:
    """Picklable reference to a dataset of a local HDF5 file; ``open()`` returns the dataset."""

    def __init__(self, path: str, name: str) -> None:
        self.path, self.name = str(path), name

    def open(self) -> Any:
        import h5py

        return h5py.File(self.path, "r")[self.name]

    def __repr__(self) -> str:
        return f"H5DatasetRef({self.path!r}, {self.name!r})"


class ArraySink:
    """Rows written into an in-memory array."""

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.array = np.zeros(shape, dtype=dtype)

    def write(self, a: int, b: int, values: np.ndarray, cols: tuple[int, int] | None = None) -> None:
        if cols is None:
            self.array[a:b] = values
        else:
            self.array[a:b, cols[0]:cols[1]] = values

    def result(self) -> np.ndarray:
        return self.array


class H5Sink:
    """Rows written into a chunked HDF5 dataset; ``result()`` is a LazyArray over it."""

    def __init__(self, shape: tuple[int, ...], dtype: Any, path: Any = None, chunk_rows: int | None = None) -> None:
        import h5py

        self.temporary = path is None
        if path is None:
            folder = config.cache_dir or tempfile.gettempdir()
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"napstream-result-{uuid.uuid4().hex}.h5")
        self.path, self.name = os.fspath(path), "data"
        rows = max(1, min(chunk_rows or 65536, shape[0] or 1))
        self.file = h5py.File(self.path, "w")
        self.dset = self.file.create_dataset(self.name, shape=shape, dtype=dtype, chunks=(rows,) + tuple(shape[1:]))

    def write(self, a: int, b: int, values: np.ndarray, cols: tuple[int, int] | None = None) -> None:
        if cols is None:
            self.dset[a:b] = values
        else:
            self.dset[a:b, cols[0]:cols[1]] = values

    def result(self) -> LazyArray:
        """A LazyArray over the written dataset; a temporary file is deleted with its last user."""
        self.file.close()
        ref = H5DatasetRef(self.path, self.name)
        dset = ref.open()
        if self.temporary:
            weakref.finalize(dset, _remove_quietly, self.path)
        return LazyArray(dset, ref=ref)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # pragma: no cover - already gone, or still open elsewhere (Windows)
        pass


def make_sink(shape: tuple[int, ...], dtype: Any, lazy: bool, path: Any = None, chunk_rows: int | None = None) -> Any:
    """An :class:`ArraySink` for in-memory inputs, an :class:`H5Sink` (file) for lazy ones or when ``path``."""
    if lazy or path is not None:
        return H5Sink(shape, dtype, path, chunk_rows)
    return ArraySink(shape, dtype)


# ---------------------------------------------------------------------------------------------- reductions
class EpochStats:
    """Per-epoch mean, standard deviation (ddof=0) and count, merged with Chan's parallel formula."""

    margin = 0
    row_factor = 3.0
    fixed_nbytes = 0

    def __init__(self, n_epochs: int) -> None:
        self.n_epochs = int(n_epochs)

    def init(self) -> dict:
        return {}

    def update(self, state: dict, chunk: Chunk) -> dict:
        x = np.asarray(chunk.d[chunk.core_slice], dtype=np.float64)
        if len(x):
            part = (len(x), x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0))
            state[chunk.segment] = _chan(state.get(chunk.segment), part)
        return state

    def merge(self, states: list[dict]) -> dict:
        out: dict = {}
        for s in states:
            for k, part in s.items():
                out[k] = _chan(out.get(k), part)
        return out

    def finalize(self, state: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        shape = next((np.shape(v[1]) for v in state.values()), ())
        mean = np.full((self.n_epochs,) + shape, np.nan)
        std = np.full((self.n_epochs,) + shape, np.nan)
        count = np.zeros(self.n_epochs, dtype=np.int64)
        for k, (n, m, m2) in state.items():
            mean[k], std[k], count[k] = m, np.sqrt(m2 / n), n
        return mean, std, count


def _chan(a: Any, b: Any) -> Any:
    if a is None:
        return b
    na, ma, qa = a
    nb, mb, qb = b
    n = na + nb
    delta = mb - ma
    return n, ma + delta * (nb / n), qa + qb + delta ** 2 * (na * nb / n)


class BinAverage:
    """pynapple's ``bin_average`` chunk by chunk: sums and counts per bin, divided at the end."""

    margin = 0
    row_factor = 3.0
    fixed_nbytes = 0

    def __init__(self, starts: np.ndarray, ends: np.ndarray, bin_size: float) -> None:
        self.centers, self.rbounds, self.offsets = [], [], [0]
        for s, e in zip(np.asarray(starts, float), np.asarray(ends, float)):
            c, rb = epoch_bins(float(s), float(e), float(bin_size))
            self.centers.append(c)
            self.rbounds.append(rb)
            self.offsets.append(self.offsets[-1] + len(c))

    def init(self) -> list:
        return []

    def update(self, state: list, chunk: Chunk) -> list:
        t = chunk.t[chunk.core_slice]
        x = np.asarray(chunk.d[chunk.core_slice], dtype=np.float64)
        rb = self.rbounds[chunk.segment]
        b = np.searchsorted(rb, t, side="right")
        keep = b < len(rb)
        b, x = b[keep], x[keep]
        if len(b):
            lo, hi = int(b[0]), int(b[-1]) + 1
            sums = np.zeros((hi - lo,) + x.shape[1:])
            np.add.at(sums, b - lo, x)
            counts = np.bincount(b - lo, minlength=hi - lo).astype(np.float64)
            state.append((self.offsets[chunk.segment] + lo, sums, counts))
        return state

    def merge(self, states: list[list]) -> list:
        return [p for s in states for p in s]

    def finalize(self, state: list) -> tuple[np.ndarray, np.ndarray]:
        centers = np.concatenate(self.centers) if self.centers else np.zeros(0)
        first = next((p[1] for p in state), np.zeros((0,)))
        sums = np.zeros((len(centers),) + first.shape[1:])
        counts = np.zeros(len(centers))
        for off, s, c in state:
            sums[off:off + len(c)] += s
            counts[off:off + len(c)] += c
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = sums / counts.reshape((-1,) + (1,) * (sums.ndim - 1))
        return centers, avg


_OPS = {"above": np.greater, "below": np.less, "aboveequal": np.greater_equal, "belowequal": np.less_equal}


class ThresholdCrossings:
    """pynapple's ``Tsd.threshold`` chunk by chunk: passing samples and the epochs they form.

    Inside an epoch a run starts/ends halfway between the samples around the crossing; at epoch
    edges it starts/ends on the samples. One row of margin each side tells a chunk whether its
    first/last core row is an epoch edge and gives the previous sample.
    """

    margin = (1, 1)
    row_factor = 3.0
    fixed_nbytes = 0

    def __init__(self, thr: float, method: str = "above") -> None:
        if method not in _OPS:
            raise InvalidInputError(f"method must be one of {sorted(_OPS)}, got {method!r}")
        self.thr, self.method = float(thr), method

    def init(self) -> list:
        return []

    def update(self, state: list, chunk: Chunk) -> list:
        t, d = chunk.t, np.asarray(chunk.d)
        a, b = chunk.core_slice.start, chunk.core_slice.stop
        ix = _OPS[self.method](d, self.thr)
        rows = np.arange(a, b)
        first = rows == 0  # the chunk read no row before: an epoch's first row
        last = rows == len(t) - 1  # ... no row after: an epoch's last row
        prev = np.where(first, False, ix[np.maximum(rows - 1, 0)])
        cur = ix[a:b]
        half = t[rows] - (t[rows] - t[np.maximum(rows - 1, 0)]) / 2
        starts = np.where(first, t[rows], half)[cur & (first | ~prev)]
        end_mask = (prev & ~cur) | (cur & last)
        ends = np.where(cur & last, t[rows], half)[end_mask]
        state.append((t[a:b][cur], d[a:b][cur], starts, ends))
        return state

    def merge(self, states: list[list]) -> list:
        return [p for s in states for p in s]

    def finalize(self, state: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not state:
            z = np.zeros(0)
            return z, z, z, z
        return tuple(np.concatenate([p[i] for p in state]) for i in range(4))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- the mixin
def _rows_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"{name} must be a non-negative integer number of rows, got {value!r}")
    return int(value)


def _readahead_workers(data: Any) -> int:
    """Threads reading pieces ahead for ``iter_chunks``: ``config.n_workers`` for data computed when
    read (a lazy filter: its reads are the computation), unless ``config.executor`` is serial."""
    if read_cost(data)[0] == 0 or config.executor == "serial" or int(config.n_workers) < 2:
        return 0
    return int(config.n_workers)


def _loaded(tasks: list, workers: int) -> Iterator[Chunk]:
    """The tasks' chunks in order; with ``workers``, up to ``workers`` are read ahead on threads."""
    if not workers:
        for task in tasks:
            yield task.load()
        return
    import concurrent.futures as cf

    pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="napstream-readahead")
    pending: list = []
    try:
        for task in tasks:
            pending.append(pool.submit(task.load))
            if len(pending) >= workers:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


class ChunkedMixin:
    """``iter_chunks`` and ``apply`` for time series holding ``_t`` (TimeIndex), ``_d`` and ``time_support``."""

    def _chunk_like(self, t: np.ndarray, d: np.ndarray, time_support: Any) -> Any:
        """A new in-memory series of the same class (overridable by the time series classes)."""
        kwargs: dict[str, Any] = {}
        columns = getattr(self, "columns", None)
        if columns is not None and np.ndim(d) == 2:
            kwargs["columns"] = columns
        return type(self)(t=t, d=d, time_support=time_support, **kwargs)

    def _chunk_tasks(self, max_memory: Any, overlap: int, ep: Any, window: int | None = None,
                     in_flight: int = 1) -> tuple[list, readahead.ReadAheadJob]:
        """The pieces' tasks and the read-ahead of their reads (see :mod:`napstream.core.readahead`):
        a lazy series holds ``ReadAheadJob.share`` piece's worth of the budget back for pinned bytes
        (local or remote alike: the same pieces), unless the budget is too small to share."""
        from .interval_set import IntervalSet

        ep = self.time_support if ep is None else ep
        if not isinstance(ep, IntervalSet):
            raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
        budget = config.memory_budget if max_memory is None else parse_bytes(max_memory, "max_memory")
        align = getattr(self._d, "chunk_rows", None)
        pin = readahead.reserve(budget, in_flight) if readahead.is_lazy(self._t, self._d) else 0
        try:
            rows = rows_for_budget(working_row_nbytes(self._d), budget - pin, with_read_margin(self._d, overlap),
                                   align, in_flight=in_flight)
        except MemoryBudgetError:
            if not pin:
                raise
            pin = 0  # too small to share: pieces first, no read-ahead
            rows = rows_for_budget(working_row_nbytes(self._d), budget, with_read_margin(self._d, overlap), align,
                                   in_flight=in_flight)
        if window is not None:
            rows = max(1, min(rows, _rows_arg(window, "window")))
        segments = epoch_segments(self._t, np.asarray(ep.start), np.asarray(ep.end))
        tasks = plan_tasks(self._t, self._d, segments, rows, overlap)
        pin = readahead.pin_limit(pin, self._d, rows, (overlap, overlap))
        return tasks, readahead.ReadAheadJob(tasks, pin, readahead.hinted_parts(self._t, self._d))

    def iter_chunks(self, max_memory: int | str | None = None, overlap: int = 0, ep: Any = None) -> Iterator[Any]:
        """Yield the series piece by piece, each piece in memory and within ``max_memory``.

        Parameters
        ----------
        max_memory : int or str, optional
            Budget for one piece ("64MB"); default ``napstream.config.memory_budget``.
        overlap : int
            Rows each piece shares with its neighbours on both sides (within an epoch).
        ep : IntervalSet, optional
            Epochs to cover (default: the time support); pieces never straddle two epochs.

        Yields
        ------
        Tsd, TsdFrame or TsdTensor
            In-memory pieces whose time support is their own time range.

        Examples
        --------
        >>> import napstream as nap, numpy as np
        >>> tsd = nap.Tsd(t=np.arange(100) / 10, d=np.arange(100.0))
        >>> [len(c) for c in tsd.iter_chunks(max_memory=800, overlap=2)]
        [23, 25, 25, 25, 18]
        """
        from .interval_set import IntervalSet

        overlap = _rows_arg(overlap, "overlap")
        workers = _readahead_workers(self._d)
        try:
            tasks, ahead = self._chunk_tasks(max_memory, overlap, ep, in_flight=workers + 1)
        except MemoryBudgetError:
            if not workers:
                raise
            workers, (tasks, ahead) = 0, self._chunk_tasks(max_memory, overlap, ep)  # no room to read ahead
        # the pieces' remote reads are announced now and cancelled when the loop ends, however it
        # ends (an error, Ctrl-C, a consumer that breaks out: the generator is closed)
        with ahead:
            for c in _loaded(tasks, workers):
                yield self._chunk_like(c.t, c.d, IntervalSet(c.t[0], c.t[-1]))

    def apply(
        self,
        func: Callable[[Any], Any],
        window: int | None = None,
        overlap: int = 0,
        ep: Any = None,
        max_memory: int | str | None = None,
        out: str | os.PathLike | None = None,
    ) -> Any:
        """Apply ``func`` to consecutive pieces (with ``overlap`` rows of context) and stitch the result.

        ``func`` receives an in-memory piece (same class) and returns an array or series with one
        row per row of the piece; the overlap rows are dropped from each result. The result is in
        memory when ``self`` is, else written to an HDF5 file (``out``, or a temporary file) and
        returned lazy.

        Parameters
        ----------
        func : callable
            piece -> array-like with ``len(piece)`` rows.
        window : int, optional
            Maximum rows per piece (default: as many as fit ``max_memory``).
        overlap : int
            Context rows read on each side of a piece (e.g. a filter's length).
        ep : IntervalSet, optional
            Epochs to cover (default: the time support).
        max_memory : int or str, optional
            Budget per piece.
        out : path, optional
            Write the result to this HDF5 file (dataset ``data``).

        Examples
        --------
        >>> import napstream as nap, numpy as np
        >>> tsd = nap.Tsd(t=np.arange(100) / 10, d=np.arange(100.0))
        >>> doubled = tsd.apply(lambda piece: piece.values * 2, window=30)
        >>> float(doubled.values[-1])
        198.0
        """
        from .interval_set import IntervalSet

        if not callable(func):
            raise InvalidTypeError(f"func must be callable, got {type(func).__name__}")
        overlap = _rows_arg(overlap, "overlap")
        ep = self.time_support if ep is None else ep
        tasks, ahead = self._chunk_tasks(max_memory, overlap, ep, window)
        with ahead:
            sink, rows = self._apply_tasks(func, tasks, out)
        if sink is None:
            return self._chunk_like(np.zeros(0), np.zeros((0,) + tuple(self._d.shape[1:])), ep)
        return self._result_like(self._t.select(rows), sink.result(), ep)

    def _apply_tasks(self, func: Callable[[Any], Any], tasks: list, out: Any) -> tuple[Any, np.ndarray]:
        """Run ``func`` on each task's piece and write the core rows into a sink."""
        from .interval_set import IntervalSet

        sink = None
        for task in tasks:
            c = task.load()
            res = func(self._chunk_like(c.t, c.d, IntervalSet(c.t[0], c.t[-1])))
            res = np.asarray(getattr(res, "values", res))
            if len(res) != len(c.t):
                raise InvalidInputError(f"func must return {len(c.t)} rows for a piece of {len(c.t)} rows, got {len(res)}")
            if sink is None:
                n = int(sum(t.rows.core_stop - t.rows.core_start for t in tasks))
                sink = make_sink((n,) + res.shape[1:], res.dtype, not isinstance(self._d, np.ndarray), out,
                                 getattr(self._d, "chunk_rows", None))
                pos = 0
            sink.write(pos, pos + (c.core_stop - c.core_start), res[c.core_slice])
            pos += c.core_stop - c.core_start
        rows = np.array([[t.rows.core_start, t.rows.core_stop] for t in tasks], dtype=np.int64)
        return sink, rows

    # -- chunked reductions for the time series methods (serial, within the memory budget) --------
    def _chunked_reduce(self, algorithm: Any, ep: Any = None, max_memory: int | str | None = None) -> Any:
        """Run a chunk algorithm (see ``napstream.engine.protocol``) over ``ep`` serially, in budget."""
        from .chunking import as_margin
        from .interval_set import IntervalSet

        ep = self.time_support if ep is None else ep
        if not isinstance(ep, IntervalSet):
            raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
        budget = config.memory_budget if max_memory is None else parse_bytes(max_memory, "max_memory")
        margin = as_margin(getattr(algorithm, "margin", 0))
        pin = readahead.reserve(budget, 1) if readahead.is_lazy(self._t, self._d) else 0

        def rows_within(room: int) -> int:
            return rows_for_budget(working_row_nbytes(self._d, getattr(algorithm, "row_factor", 2.0)), room,
                                   with_read_margin(self._d, margin),
                                   getattr(self._d, "chunk_rows", None), getattr(algorithm, "fixed_nbytes", 0))
        try:
            rows = rows_within(budget - pin)
        except MemoryBudgetError:
            if not pin:
                raise
            pin, rows = 0, rows_within(budget)  # too small to share: chunks first, no read-ahead
        segments = epoch_segments(self._t, np.asarray(ep.start), np.asarray(ep.end))
        tasks = plan_tasks(self._t, self._d, segments, rows, margin)
        pin = readahead.pin_limit(pin, self._d, rows, margin)
        with readahead.ReadAheadJob(tasks, pin, readahead.hinted_parts(self._t, self._d)):
            return run_serial(algorithm, tasks)

    def _chunked_bin_average(self, bin_size: float, ep: Any = None, max_memory: Any = None) -> tuple:
        """``(centers, averages)`` of pynapple's ``bin_average`` (bin_size in seconds), streamed."""
        ep = self.time_support if ep is None else ep
        return self._chunked_reduce(BinAverage(np.asarray(ep.start), np.asarray(ep.end), bin_size), ep, max_memory)

    def _chunked_threshold(self, thr: float, method: str = "above", max_memory: Any = None) -> tuple:
        """``(t, d, new_starts, new_ends)`` of pynapple's ``threshold``, streamed over the time support."""
        return self._chunked_reduce(ThresholdCrossings(thr, method), None, max_memory)

    def _chunked_epoch_stats(self, ep: Any = None, max_memory: Any = None) -> tuple:
        """Per-epoch ``(mean, std, count)`` (ddof=0) of the data, streamed."""
        ep = self.time_support if ep is None else ep
        return self._chunked_reduce(EpochStats(len(ep)), ep, max_memory)

    def _result_like(self, time_index: Any, data: Any, time_support: Any) -> Any:
        kwargs: dict[str, Any] = {}
        columns = getattr(self, "columns", None)
        if columns is not None and np.ndim(data) == 2 and data.shape[1] == len(columns):
            kwargs["columns"] = columns
        cls = type(self)
        if np.ndim(data) == 1 and cls.__name__ != "Tsd":
            from . import time_series

            cls = time_series.Tsd
        return cls(t=time_index, d=data, time_support=time_support, **kwargs)
