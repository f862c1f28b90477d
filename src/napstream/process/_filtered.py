"""Lazy pipelines: a filtered (or convolved) signal whose rows are computed when they are read.

Filtering a lazy signal returns a series over a :class:`FilteredArray`: nothing is computed or
written then. A read of rows ``[a, b)`` (and, for 2-D data, of a column range) reads the source
rows with the kernel's margins, clipped to the epoch they belong to, and runs the kernel on them.
Whatever consumes the series - ``iter_chunks``, ``apply``, ``threshold``, a Welch PSD, band power,
the engine split along channels - therefore runs fused with the filter, one source read per chunk
it reads, and the whole signal is never written anywhere. The planner counts the margin rows and
the kernel's working memory of such a base (``read_margin``, ``work_row_nbytes``).

:func:`write_series` writes a lazy series to an HDF5 file when that is what you want (e.g. to
read the filtered signal many times), in the dtype you ask for (``float32`` halves the file),
after checking the disk has room for it.

Examples
--------
>>> import numpy as np, napstream as nap
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> raw = np.random.default_rng(0).normal(size=(5000, 3))
>>> sig = nap.TsdFrame(t=RegularTimeIndex(0.0, 1000.0, 5000), d=LazyArray(raw))
>>> hp = nap.apply_highpass_filter(sig, 20.0)          # nothing computed yet
>>> type(hp.lazy_data.base).__name__
'FilteredArray'
>>> rms = sum((c.values ** 2).sum(0) for c in hp.iter_chunks(max_memory="2MB"))  # fused, chunk by chunk
>>> rms.shape
(3,)
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from typing import Any

import numpy as np

from ..config import config, format_bytes
from ..core.chunked import H5Sink
from ..core.chunking import as_margin, epoch_segments
from ..core.lazy import LazyArray
from ..core.readahead import announce_lazy, with_margins
from ..engine.executors import resolve_executor
from ..engine.planner import plan, series_parts
from ..errors import InvalidInputError, InvalidTypeError, NapstreamError
from ._continuous import _WritesRows

__all__ = ["FilteredArray", "lazy_rows", "write_series", "DiskSpaceError"]

log = logging.getLogger("napstream")


class DiskSpaceError(NapstreamError, OSError):
    """Writing a result needs more disk than the folder has free."""


class FilteredArray:
    """Array-like rows of ``kernel`` over ``source``, computed epoch by epoch when read.

    Parameters
    ----------
    kernel : row kernel
        Has ``margin`` (rows each side) and ``transform(block, core_slice) -> rows``.
    source : LazyArray
        The signal's logical rows (what the series holds).
    segments : (k, 2) int array
        Rows ``[start, stop)`` of each epoch: margins never cross them; rows outside are zeros.
    shape, dtype
        Of the output.
    """

    def __init__(self, kernel: Any, source: Any, segments: np.ndarray, shape: tuple[int, ...], dtype: Any) -> None:
        self.kernel = kernel
        self.source = source
        self.segments = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.margin = as_margin(getattr(kernel, "margin", 0))
        #: rows read beyond each side of a read (the planner counts them)
        self.read_margin = max(self.margin)
        #: working bytes per output element while the kernel runs, beyond the output itself (the
        #: planner counts them): the source rows read, the kernel's other float64 buffers
        n_in = int(np.prod(source.shape[1:], dtype=np.int64)) or 1
        n_out = int(np.prod(self.shape[1:], dtype=np.int64)) or 1
        per_in = np.dtype(source.dtype).itemsize + 8 * max(getattr(kernel, "row_factor", 2.0) - 1.0, 0.0)
        self.work_row_nbytes = int(np.ceil(per_in * n_in / n_out))
        rows = getattr(source, "chunk_rows", None)
        base_chunks = getattr(getattr(source, "base", None), "chunks", None)
        cols = base_chunks[1] if isinstance(base_chunks, tuple) and len(base_chunks) == 2 and len(self.shape) == 2 \
            and not getattr(source, "post", ()) else None
        self.chunks = None if not rows else ((rows, cols) if cols else (rows,) + self.shape[1:])
        self.name = f"{type(kernel).__name__} of {getattr(getattr(source, 'base', None), 'name', 'a signal')}"
        # a linear kernel that takes the scale itself reads the stored values (no scaled copy)
        self.raw, self.scale, self.offset = source, None, 0.0
        takes_scale = "scale" in getattr(kernel.transform, "__code__", _NO_CODE).co_varnames
        if takes_scale and isinstance(source, LazyArray) and not source.post and source.ndim <= 2:
            s = source.scale
            if s is None or s.ndim == 0 or (source.ndim == 2 and s.shape == (source.shape[1],)):
                self.raw, self.scale, self.offset = source._replace(scale=None, offset=0.0), s, source.offset

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reserve_decoded_cache(self, budget: int) -> int:
        """The decoded-chunk cache of the stored source (see ``core.chunking.decoded_cache_nbytes``)."""
        reserve = getattr(getattr(self.source, "base", None), "reserve_decoded_cache", None)
        return int(reserve(int(budget))) if callable(reserve) else 0

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<FilteredArray {self.name} {self.shape} {self.dtype}>"

    def _key(self, key: Any) -> tuple[int, int, slice | None, tuple]:
        parts = key if isinstance(key, tuple) else (key,)
        rows = parts[0] if parts else slice(None)
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise InvalidInputError("a FilteredArray is read by row ranges (wrap it in a LazyArray)")
        a, b, _ = rows.indices(self.shape[0])
        rest = tuple(parts[1:])
        cols = None
        if self.source.ndim == 2 and rest and isinstance(rest[0], slice) and rest[0].step in (None, 1):
            cols, rest = rest[0], rest[1:]
        return a, max(a, b), cols, rest

    def __getitem__(self, key: Any) -> np.ndarray:
        a, b, cols, rest = self._key(key)
        width = None if cols is None else len(range(*cols.indices(self.shape[1])))
        trailing = self.shape[1:] if width is None else (width,) + self.shape[2:]
        block = self._block_rows(int(np.prod(trailing, dtype=np.int64)) or 1)
        left, right = self.margin
        c_lo, c_hi = (0, 0) if cols is None else cols.indices(self.shape[1])[:2]
        scale = self.scale if self.scale is None or self.scale.ndim == 0 or cols is None else self.scale[c_lo:c_hi]
        parts = []
        for s0, s1 in self.segments:
            c0, c1 = max(a, int(s0)), min(b, int(s1))
            for k0 in range(c0, c1, block):  # one read per call unless it is larger than the budget
                k1 = min(c1, k0 + block)
                r0, r1 = max(int(s0), k0 - left), min(int(s1), k1 + right)
                view = self.raw.select([[r0, r1]])
                if cols is not None:
                    view = view.select_columns(c_lo, c_hi)
                parts.append((k0 - a, k1 - a, self._transform(view.read(0, r1 - r0), slice(k0 - r0, k1 - r0), scale)))
        if len(parts) == 1 and parts[0][:2] == (0, b - a):
            out = parts[0][2]  # the common case: one block, used as computed (column-major)
        else:
            out = np.zeros((b - a,) + trailing, dtype=self.dtype, order="F" if len(trailing) == 1 else "C")
            for i, j, values in parts:
                out[i:j] = values
        return out[(slice(None),) + rest] if rest else out

    def will_read(self, segments: Any, max_bytes: int, requests: Any = None, cols: Any = None) -> list:
        """Read-ahead hint (:mod:`napstream.core.readahead`): announce the source rows (with the
        kernel's margins, within the epochs) that reading these rows will read."""
        return announce_lazy(self.raw, with_margins(segments, self.segments, self.margin), max_bytes, requests, cols)

    def _transform(self, x: np.ndarray, core: slice, scale: Any) -> np.ndarray:
        """The kernel on one block; read outside the engine's workers (``iter_chunks``, ``.values``),
        channels are spread on ``config.n_workers`` threads unless ``config.executor`` is serial."""
        if self.raw is self.source:
            return self.kernel.transform(x, core)
        pool = None
        if (config.executor != "serial" and config.n_workers > 1
                and not threading.current_thread().name.startswith("napstream")):
            pool = _pool(int(config.n_workers))
        return self.kernel.transform(x, core, pool=pool, scale=scale, offset=self.offset)

    def _block_rows(self, n_el: int) -> int:
        """Rows computed at once: a read the planner sized is one block; ``.values`` of a long
        signal is computed in blocks of the memory budget (the output is what was asked for)."""
        per_row = n_el * (self.work_row_nbytes + 8)
        return max(int(config.memory_budget) // max(per_row, 1) - sum(self.margin), 4096)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


_NO_CODE = (lambda: None).__code__
_POOL: list = []  # [(n_workers, executor)]
_POOL_LOCK = threading.Lock()


def _pool(n_workers: int) -> Any:
    """A shared pool of ``n_workers`` threads named ``napstream-filter-*`` (made once)."""
    import concurrent.futures as cf

    with _POOL_LOCK:
        if not _POOL or _POOL[0][0] != n_workers:
            if _POOL:
                _POOL.pop()[1].shutdown(wait=False)
            _POOL.append((n_workers, cf.ThreadPoolExecutor(n_workers, thread_name_prefix="napstream-filter")))
        return _POOL[0][1]


class _Itself:
    """``ref`` of a LazyArray over a FilteredArray: pickles the FilteredArray (its source pickles
    through its own ``ref``), so the lazy result travels to dask workers."""

    def __init__(self, base: FilteredArray) -> None:
        self.base = base

    def open(self) -> FilteredArray:
        return self.base


def lazy_rows(kernel: Any, sig: Any, shape: tuple[int, ...], dtype: Any, engine: dict) -> LazyArray:
    """A LazyArray over ``FilteredArray(kernel, sig)`` on ``sig``'s time support; the engine
    settings are validated now (a budget too small for one chunk raises MemoryBudgetError here)."""
    t, d, support = series_parts(sig)
    segments = epoch_segments(t, np.asarray(support.start), np.asarray(support.end))
    base = FilteredArray(kernel, d, segments, shape, dtype)
    lazy = LazyArray(base, ref=_Itself(base))
    resolve_executor(engine.get("executor"), engine.get("n_workers"), kernel)
    plan(sig, kernel, ep=support, max_memory=engine.get("max_memory"))  # what one read of the filter needs
    return lazy


class CopyRows(_WritesRows):
    """Writes the rows it reads (a lazy series' computed rows) into a sink, in ``out_dtype``."""

    preferred_executor = "threads"
    margin = 0

    def __init__(self, out_dtype: Any) -> None:
        self.out_dtype = np.dtype(out_dtype)
        self.row_factor = 1.0 + self.out_dtype.itemsize / 8

    def transform(self, d: np.ndarray, core: slice) -> np.ndarray:
        return np.asarray(d[core]).astype(self.out_dtype, copy=False)


def write_series(
    sig: Any, path: str | os.PathLike | None = None, dtype: Any = None, *, max_memory: int | str | None = None,
    executor: Any = None, n_workers: int | None = None, progress: bool | None = None,
) -> Any:
    """Write a (lazy) series to an HDF5 file chunk by chunk and return it lazy over that file.

    Use it to keep a filtered signal you will read many times: filters on lazy data return lazy
    series computed when read, never written unless you ask here. Before anything is written, the
    size (rows x columns x the dtype's bytes) is compared with the free space of the folder.

    Parameters
    ----------
    sig : Tsd, TsdFrame or TsdTensor
        In memory or lazy (e.g. the result of ``apply_bandpass_filter`` on a lazy signal).
    path : path, optional
        HDF5 file to create (dataset ``data``); default a temporary file removed with its last user.
    dtype : numpy dtype, optional
        Stored dtype (default ``sig.dtype``); ``"float32"`` halves a float64 signal.
    max_memory, executor, n_workers, progress : optional
        Chunk engine settings (see ``napstream.engine.runner.run``).

    Returns
    -------
    Same class as ``sig``, lazy over the file.

    Raises
    ------
    DiskSpaceError
        The folder has less free space than the file needs (the message gives both).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> from napstream.process._filtered import write_series
    >>> from napstream.core import LazyArray, RegularTimeIndex
    >>> sig = nap.TsdFrame(t=RegularTimeIndex(0.0, 1000.0, 4000),
    ...                    d=LazyArray(np.random.default_rng(0).normal(size=(4000, 2))))
    >>> saved = write_series(nap.apply_lowpass_filter(sig, 50.0), dtype="float32")
    >>> saved.is_lazy, saved.dtype == np.float32
    (True, True)
    """
    from ..engine.runner import run
    from ._continuous import check_series

    check_series(sig, tensor=True)
    t, d, support = series_parts(sig)
    try:
        out_dtype = np.dtype(d.dtype if dtype is None else dtype)
    except TypeError as err:
        raise InvalidTypeError(f"dtype must be a numpy dtype such as 'float32', got {dtype!r}") from err
    need = int(np.prod(d.shape, dtype=np.int64)) * out_dtype.itemsize
    folder = os.path.dirname(os.path.abspath(os.fspath(path))) if path is not None else (
        config.cache_dir or tempfile.gettempdir())
    os.makedirs(folder, exist_ok=True)
    free = shutil.disk_usage(folder).free
    where = os.fspath(path) if path is not None else f"a temporary file in {folder}"
    if need > free:
        raise DiskSpaceError(
            f"writing {d.shape} {out_dtype} values to {where} needs {format_bytes(need)}; {folder} has "
            f"{format_bytes(free)} free (pass dtype='float32' to halve float64, restrict the series, or "
            "reduce it chunk by chunk with iter_chunks / apply instead of writing it)"
        )
    log.info("writing %s of %s values to %s (%s free)", format_bytes(need), out_dtype, where, format_bytes(free))
    algo = CopyRows(out_dtype)
    algo.sink = H5Sink(tuple(d.shape), out_dtype, path, getattr(d, "chunk_rows", None))
    sink = run(algo, sig, ep=support, max_memory=max_memory, executor=executor, n_workers=n_workers,
               progress=progress)
    return sig._result_like(t, sink.result(), support)
