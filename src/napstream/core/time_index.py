"""Time indexes: sorted timestamps in seconds, in memory, lazy, or regular.

Three kinds share one interface (:class:`TimeIndex`):

* :class:`ArrayTimeIndex` over an in-memory ``np.ndarray`` - what pynapple has;
* :class:`ArrayTimeIndex` over a :class:`~napstream.core.lazy.LazyArray` - explicit timestamps in a
  file; searches are batched binary searches that read a few small slices, once the whole order was
  checked (when the file was opened, or by one streamed pass before the first search by time);
* :class:`RegularTimeIndex` - ``start + i / rate`` for ``i`` in a set of row segments; never
  allocates a timestamps array, and searches are arithmetic.

Every index supports ``len``, :meth:`searchsorted`, :meth:`read` (rows ``[i, j)`` as float64),
:meth:`select` (row segments -> a new index, no I/O for lazy/regular ones), ``first``/``last``
and :meth:`load`.

Examples
--------
>>> idx = RegularTimeIndex(start=10.0, rate=1000.0, n=10**9)   # a 10**9-sample clock: 0 bytes
>>> int(idx.searchsorted(11.0))
1000
>>> sub = idx.select([[1000, 1005]])
>>> sub.load()
array([11.   , 11.001, 11.002, 11.003, 11.004])
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

import threading
import weakref

from ..errors import (
    InvalidInputError,
    InvalidTypeError,
    NapstreamError,
    UnknownFormatError,
    UnsortedTimestampsError,
)
from .lazy import LazyArray, normalize_segments

__all__ = ["TimeIndex", "ArrayTimeIndex", "RegularTimeIndex", "TsIndex", "as_time_index", "SEARCH_BLOCK",
           "ORDER_CHECK_ROWS"]

#: rows per probe block for binary searches on lazy timestamps (when the data are not chunked)
SEARCH_BLOCK = 4096
#: most rows read per block when lazy timestamps are checked in order before a search by time (8 MB;
#: fewer under a small ``memory_budget``)
ORDER_CHECK_ROWS = 1 << 20


class TsIndex(np.ndarray):
    """Timestamps in seconds as a read-only numpy array: pynapple's ``TsIndex`` (what ``obj.index`` is).

    Built from any 1-D array of times (converted from ``time_units``, sorted with pynapple's
    "timestamps are not sorted" warning when needed). It is a plain in-memory array; napstream's
    lazy objects keep their timestamps in a :class:`TimeIndex` and build a ``TsIndex`` only when
    ``.index`` is asked for.

    Examples
    --------
    >>> idx = TsIndex(np.array([1.0, 2.0]))
    >>> idx.in_units("ms")
    array([1000., 2000.])
    >>> idx.to_numpy()
    array([1., 2.])
    """

    def __new__(cls, t: Any, time_units: str = "s") -> TsIndex:
        arr = np.asarray(t)
        if arr.ndim != 1:
            raise InvalidInputError(f"t should be 1 dimensional, got shape {arr.shape}")
        arr = TsIndex.sort_timestamps(TsIndex.format_timestamps(arr.astype(np.float64), time_units))
        return np.asarray(arr).view(cls)

    @staticmethod
    def format_timestamps(t: Any, units: str = "s") -> np.ndarray:
        """Times given in ``units`` ('s', 'ms', 'us') converted to seconds (rounded to 9 decimals)."""
        if units not in ("s", "ms", "us"):
            raise InvalidInputError("unrecognized time units type")
        from .units import to_seconds
        return to_seconds(t, units)

    @staticmethod
    def return_timestamps(t: Any, units: str = "s") -> np.ndarray:
        """Times in seconds converted to ``units`` ('s', 'ms', 'us')."""
        if units not in ("s", "ms", "us"):
            raise InvalidInputError("unrecognized time units type")
        from .units import from_seconds
        return from_seconds(t, units)

    @staticmethod
    def sort_timestamps(t: Any, give_warning: bool = True) -> np.ndarray:
        """``t`` sorted, warning "timestamps are not sorted" when it was not (pynapple's rule)."""
        t = np.asarray(t)
        if t.size > 1 and not (np.diff(t) >= 0).all():
            warn_unsorted(give_warning)
            t = np.sort(t)
        return t

    @property
    def values(self) -> np.ndarray:
        """The timestamps as a plain numpy array (seconds)."""
        return np.asarray(self)

    def to_numpy(self) -> np.ndarray:
        """The timestamps as a plain numpy array (seconds); what matplotlib reads for the x axis."""
        return np.asarray(self)

    def in_units(self, time_units: str = "s") -> np.ndarray:
        """The timestamps in ``time_units`` ('s', 'ms', 'us')."""
        return TsIndex.return_timestamps(np.asarray(self), time_units)

    def __setitem__(self, *args: Any, **kwargs: Any) -> None:
        raise ImmutableIndexError("TsIndex object is not mutable.")


class ImmutableIndexError(NapstreamError, RuntimeError):
    """Raised when writing into a TsIndex (a RuntimeError, as in pynapple)."""


def warn_unsorted(give_warning: bool = True) -> None:
    """pynapple's "timestamps are not sorted" warning, unless switched off in the config."""
    from ..config import config

    if give_warning and not config.suppress_time_index_sorting_warnings:
        warnings.warn("timestamps are not sorted", UserWarning, stacklevel=4)


class TimeIndex:
    """Interface of all time indexes (see the module docstring)."""

    is_regular: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def is_lazy(self) -> bool:
        """True when the timestamps are not all held in memory."""
        raise NotImplementedError

    def searchsorted(self, t: Any, side: str = "left") -> Any:
        """Positions where ``t`` would be inserted to keep order (like ``np.searchsorted``)."""
        if side not in ("left", "right"):
            raise InvalidInputError(f"side must be 'left' or 'right', got {side!r}")
        scalar = np.ndim(t) == 0
        q = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = self._searchsorted(q, side) if len(self) else np.zeros(q.shape, dtype=np.int64)
        return int(out[0]) if scalar else out

    def _searchsorted(self, q: np.ndarray, side: str) -> np.ndarray:
        raise NotImplementedError

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Timestamps of rows ``[start, stop)`` as a float64 array."""
        raise NotImplementedError

    def select(self, segments: Any) -> TimeIndex:
        """The index restricted to row segments ``[[start, stop), ...]`` (sorted, disjoint)."""
        raise NotImplementedError

    def load(self) -> np.ndarray:
        """All timestamps as a float64 numpy array (materialises)."""
        return self.read(0, len(self))

    @property
    def order_checked(self) -> bool:
        """True when the rows are known to be in increasing time order (in-memory and regular
        indexes always; lazy timestamps once :meth:`check_order` has passed)."""
        return True

    def check_order(self) -> None:
        """Make sure the rows are in increasing time order before a search by time (see
        :class:`ArrayTimeIndex`); a no-op for in-memory and regular indexes."""

    @property
    def first(self) -> float:
        """The earliest time (the first row, once the order is known)."""
        self.check_order()
        return float(self.read(0, 1)[0])

    @property
    def last(self) -> float:
        """The latest time (the last row, once the order is known)."""
        self.check_order()
        n = len(self)
        return float(self.read(n - 1, n)[0])

    @property
    def nbytes(self) -> int:
        """Bytes the timestamps would take once loaded."""
        return 8 * len(self)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"index {int(key)} is out of bounds for a time index of {len(self)}")
            return float(self.read(i, i + 1)[0])
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                return self.select([[start, max(start, stop)]])
            return ArrayTimeIndex(self._gather(np.arange(len(self))[key]), check=False)
        return ArrayTimeIndex(self._gather(np.arange(len(self))[key]), check=False)

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return np.empty(0, dtype=np.float64)
        lo, hi = int(idx.min()), int(idx.max()) + 1
        return self.read(lo, hi)[idx - lo]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)})"


class ArrayTimeIndex(TimeIndex):
    """Explicit timestamps held in memory (``np.ndarray``) or in a file (:class:`LazyArray`).

    Lazy timestamps are not scanned when the index is built. Every read checks the rows it reads
    (and the seam with the rows read just before); anything that finds rows by time (searches,
    ``first``/``last``, hence ``restrict``, ``get``, ``count``, time supports...) first runs
    :meth:`check_order`: one streamed pass over the index's rows in blocks of
    :data:`ORDER_CHECK_ROWS` (bounded memory), remembered for the dataset, which raises
    :class:`~napstream.errors.UnsortedTimestampsError` on any disorder. A search never answers
    from unsorted timestamps.

    Parameters
    ----------
    values : np.ndarray or LazyArray
        Sorted timestamps in seconds, 1-D.
    check : bool, default True
        Validate in-memory values (finite, sorted). Lazy values are not scanned.
    order_checked : bool, default False
        Lazy values only: their order was already checked (e.g. scanned when the file was opened).
    what : str, optional
        Lazy values only: what the timestamps are (error messages name it).
    fix : str, optional
        Lazy values only: what to do when they are found unsorted (appended to the error message).

    Examples
    --------
    >>> from napstream.core.lazy import LazyArray
    >>> idx = ArrayTimeIndex(LazyArray(np.array([0.0, 2.0, 1.0, 3.0])), check=False)
    >>> idx.read(0, 2)                      # a read of some rows checks those rows only
    array([0., 2.])
    >>> idx.searchsorted(1.5)               # a search by time checks the whole order first
    Traceback (most recent call last):
    ...
    napstream.errors.UnsortedTimestampsError: timestamps stored in the file must be sorted in increasing order; ...
    """

    def __init__(self, values: Any, check: bool = True, *, order_checked: bool = False, what: str | None = None,
                 fix: str | None = None) -> None:
        self._order_checked = True
        self._what, self._fix = what, fix
        self._seam: tuple[int, float] | None = None  # (row, time) where the last read ended
        if isinstance(values, LazyArray):
            if values.ndim != 1:
                raise InvalidInputError(f"timestamps must be 1-D, got shape {values.shape}")
            self.values: np.ndarray | LazyArray = values
            self._order_checked = bool(order_checked) or _known_sorted(values)
        else:
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim != 1:
                raise InvalidInputError(f"timestamps must be 1-D, got shape {arr.shape}")
            if check:
                check_timestamps(arr)
            self.values = arr
        self._probes: dict[int, float] = {}

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.values, LazyArray)

    @property
    def order_checked(self) -> bool:
        return self._order_checked

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = len(self) if stop is None else stop
        if isinstance(self.values, LazyArray):
            out = np.asarray(self.values.read(start, stop), dtype=np.float64)
            _check_stored(out, start, self._what, self._fix)
            if out.size and not self._order_checked:
                seam = self._seam  # a stream of consecutive reads checks the joins between them too
                if seam is not None and seam[0] == start - 1 and out[0] < seam[1]:
                    _raise_unsorted("decreasing", seam[0], seam[1], float(out[0]), self._what, self._fix)
                self._seam = (start + out.size - 1, float(out[-1]))
                if start <= 0 and out.size >= len(self):
                    self._mark_sorted()  # every row read and checked
            return out
        return self.values[max(start, 0):stop]

    def check_order(self) -> None:
        """Check, once, that lazy timestamps are finite and in increasing order (see the class).

        Raises
        ------
        UnsortedTimestampsError
            Naming the rows out of order and what to do.
        """
        if self._order_checked:
            return
        values = self.values
        assert isinstance(values, LazyArray)
        if _known_sorted(values):
            self._order_checked = True
            return
        from ..config import config

        if config.trust_timestamp_order:  # the user's choice: searches check only what they read
            return

        n = len(self)
        step = max(1024, min(ORDER_CHECK_ROWS, int(config.memory_budget) // 64))  # within the memory budget
        prev: float | None = None
        for a in range(0, n, step):
            b = min(n, a + step)
            block = np.asarray(values.read(a, b), dtype=np.float64).reshape(-1)
            _check_stored(block, a, self._what, self._fix)
            if prev is not None and block.size and block[0] < prev:
                _raise_unsorted("decreasing", a - 1, prev, float(block[0]), self._what, self._fix)
            if block.size:
                prev = float(block[-1])
        self._mark_sorted()

    def _mark_sorted(self) -> None:
        self._order_checked = True
        if isinstance(self.values, LazyArray):
            _remember_sorted(self.values)

    def select(self, segments: Any) -> ArrayTimeIndex:
        seg = normalize_segments(segments, len(self))
        if isinstance(self.values, LazyArray):
            return ArrayTimeIndex(self.values.select(seg), check=False, order_checked=self._order_checked,
                                  what=self._what, fix=self._fix)
        if len(seg) == 1:
            return ArrayTimeIndex(self.values[seg[0, 0]:seg[0, 1]], check=False)
        parts = [self.values[a:b] for a, b in seg]
        return ArrayTimeIndex(np.concatenate(parts) if parts else np.empty(0), check=False)

    def _searchsorted(self, q: np.ndarray, side: str) -> np.ndarray:
        if not isinstance(self.values, LazyArray):
            return np.searchsorted(self.values, q, side=side).astype(np.int64)
        return self._lazy_searchsorted(q, side)

    # -- batched binary search over blocks of a lazy array ---------------------------------
    def _probe(self, row: int) -> float:
        if row not in self._probes:
            if len(self._probes) > 100_000:
                self._probes.clear()
            self._probes[row] = float(np.asarray(self.values.read(row, row + 1))[0])
        return self._probes[row]

    def _check_probes(self) -> None:
        """The rows a search probed must hold increasing times (an unsorted file is refused, not searched)."""
        if len(self._probes) < 2:
            return
        rows = np.fromiter(sorted(self._probes), dtype=np.int64)
        vals = np.array([self._probes[int(r)] for r in rows])
        bad = np.flatnonzero(np.diff(vals) < 0)
        if bad.size:
            i = int(bad[0])
            raise UnsortedTimestampsError(
                f"timestamps stored in the file must be sorted in increasing order; row {rows[i + 1]} "
                f"({vals[i + 1]!r}) < row {rows[i]} ({vals[i]!r}); load the series (lazy_loading=False) "
                "to have it sorted"
            )

    def _lazy_searchsorted(self, q: np.ndarray, side: str) -> np.ndarray:
        self.check_order()  # a binary search over unsorted times would answer wrong silently
        n = len(self)
        block = self.values.chunk_rows or SEARCH_BLOCK
        block = max(1, min(block, 1 << 16))
        nblocks = -(-n // block)
        order = np.argsort(q, kind="stable")
        qs = q[order]
        # before(v, t): is element value v counted before query t?
        if side == "left":
            def before(v: float, t: np.ndarray) -> np.ndarray:
                return v < t
        else:
            def before(v: float, t: np.ndarray) -> np.ndarray:
                return v <= t
        # K[i] = last block whose first element is 'before' query i (-1 if none)
        K = np.full(len(qs), -1, dtype=np.int64)
        stack = [(0, nblocks, 0, len(qs))]  # block range [lo, hi), query range [qa, qb)
        while stack:
            lo, hi, qa, qb = stack.pop()
            if qa >= qb:
                continue
            if hi - lo == 1:
                v = self._probe(lo * block)
                sub = qs[qa:qb]
                K[qa:qb] = np.where(before(v, sub), lo, lo - 1)
                continue
            mid = (lo + hi) // 2
            v = self._probe(mid * block)
            # queries are sorted: those with 'before' true are a suffix
            split = qa + int(np.count_nonzero(~before(v, qs[qa:qb])))
            stack.append((lo, mid, qa, split))
            stack.append((mid, hi, split, qb))
        out = np.zeros(len(qs), dtype=np.int64)
        for k in np.unique(K):
            sel = K == k
            if k < 0:
                out[sel] = 0
                continue
            a = int(k) * block
            vals = np.asarray(self.values.read(a, min(a + block, n)), dtype=np.float64)
            _check_stored(vals, a)  # a binary search over unsorted times would answer wrong silently
            out[sel] = a + np.searchsorted(vals, qs[sel], side=side)
        self._check_probes()
        res = np.empty_like(out)
        res[order] = out
        return res


class RegularTimeIndex(TimeIndex):
    """Timestamps ``start + i / rate`` for ``i`` in row segments of ``range(n)``; arithmetic only.

    Parameters
    ----------
    start : float
        Time of sample 0 in seconds.
    rate : float
        Sampling rate in Hz (> 0).
    n : int
        Number of samples of the underlying clock.
    segments : array-like (k, 2), optional
        Rows of the clock that are present (default: all).
    """

    is_regular = True

    def __init__(self, start: float, rate: float, n: int, segments: Any = None) -> None:
        if not (isinstance(rate, (int, float, np.number)) and math.isfinite(rate) and rate > 0):
            raise InvalidInputError(f"rate must be a positive finite number of Hz, got {rate!r}")
        if not math.isfinite(float(start)):
            raise InvalidInputError(f"start must be finite, got {start!r}")
        if int(n) < 0:
            raise InvalidInputError(f"n must be >= 0, got {n!r}")
        self.start = float(start)
        self.rate = float(rate)
        self.n = int(n)
        self.segments = (
            np.array([[0, self.n]], dtype=np.int64) if segments is None else normalize_segments(segments, self.n)
        )
        if self.n == 0:
            self.segments = np.zeros((0, 2), dtype=np.int64)
        lengths = self.segments[:, 1] - self.segments[:, 0]
        self._cum = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self._cum[-1])

    @property
    def is_lazy(self) -> bool:
        return True

    @property
    def is_contiguous(self) -> bool:
        """True when the present rows are one run of the clock (so t = t0 + i / rate exactly)."""
        return len(self.segments) <= 1

    def _clock(self, p: np.ndarray) -> np.ndarray:
        # the same formula pynwb uses: np.arange(n) / rate + starting_time
        return np.asarray(p, dtype=np.float64) / self.rate + self.start

    def _base_rows(self, i: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self._cum, i, side="right") - 1
        k = np.clip(k, 0, max(len(self.segments) - 1, 0))
        return self.segments[k, 0] + (i - self._cum[k])

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        n = len(self)
        stop = n if stop is None else min(int(stop), n)
        start = max(int(start), 0)
        if stop <= start:
            return np.empty(0, dtype=np.float64)
        i = np.arange(start, stop, dtype=np.int64)
        if len(self.segments) == 1:
            return self._clock(i + self.segments[0, 0])
        return self._clock(self._base_rows(i))

    def select(self, segments: Any) -> RegularTimeIndex:
        seg = normalize_segments(segments, len(self))
        base = []
        for a, b in seg:
            k = int(np.searchsorted(self._cum, a, side="right")) - 1
            while a < b:
                s = self.segments[k, 0] + (a - self._cum[k])
                take = min(b, self._cum[k + 1]) - a
                base.append((s, s + take))
                a += take
                k += 1
        return RegularTimeIndex(self.start, self.rate, self.n, np.array(base, dtype=np.int64).reshape(-1, 2))

    def _clock_searchsorted(self, q: np.ndarray, side: str) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            est = np.ceil((q - self.start) * self.rate)
        est = np.nan_to_num(est, nan=0.0, posinf=self.n, neginf=0.0)
        p = np.clip(est, 0, self.n).astype(np.int64)
        # exact fix-up around the arithmetic estimate: p = number of clock values before q
        # ("before" is < for side="left", <= for side="right")
        before = np.less if side == "left" else np.less_equal
        for _ in range(4):
            down = (p > 0) & ~before(self._clock(p - 1), q)
            up = (p < self.n) & before(self._clock(p), q)
            if not (down.any() or up.any()):
                break
            p = p - down + up
        return p

    def _searchsorted(self, q: np.ndarray, side: str) -> np.ndarray:
        p = self._clock_searchsorted(q, side)
        if len(self.segments) == 1 and self.segments[0, 0] == 0 and self.segments[0, 1] == self.n:
            return p
        a, b = self.segments[:, 0], self.segments[:, 1]
        j = np.searchsorted(a, p, side="right") - 1
        jc = np.clip(j, 0, len(a) - 1)
        logical = self._cum[jc] + np.minimum(p - a[jc], b[jc] - a[jc])
        return np.where(j < 0, 0, logical).astype(np.int64)

    def __repr__(self) -> str:
        return f"RegularTimeIndex(start={self.start}, rate={self.rate}, n={len(self)})"


def _first_disorder(t: np.ndarray) -> tuple[str, int] | None:
    """("nonfinite", i) or ("decreasing", i) for the first bad row of ``t`` (i: t[i+1] < t[i]), else None."""
    if t.size == 0:
        return None
    finite = np.isfinite(t)
    if not finite.all():
        return "nonfinite", int(np.flatnonzero(~finite)[0])
    d = np.diff(t)
    if (d < 0).any():
        return "decreasing", int(np.flatnonzero(d < 0)[0])
    return None


def check_timestamps(t: np.ndarray, name: str = "t") -> None:
    """Raise a clear ValueError if in-memory timestamps are not finite or not sorted."""
    bad = _first_disorder(t)
    if bad is None:
        return
    kind, i = bad
    if kind == "nonfinite":
        raise InvalidInputError(f"{name} must be finite; found {t[i]} at position {i}")
    raise InvalidInputError(
        f"{name} must be sorted in increasing order; {name}[{i + 1}]={t[i + 1]!r} < "
        f"{name}[{i}]={t[i]!r} (sort your times, e.g. np.sort)"
    )


def _check_stored(t: np.ndarray, start: int, what: str | None = None, fix: str | None = None) -> None:
    """Lazily read timestamps are checked as they arrive (a damaged file must not give wrong numbers)."""
    bad = _first_disorder(t)
    if bad is None:
        return
    kind, i = bad
    if kind == "nonfinite":
        _raise_unsorted(kind, start + i, float(t[i]), float("nan"), what, fix)
    _raise_unsorted(kind, start + i, float(t[i]), float(t[i + 1]), what, fix)


def _raise_unsorted(kind: str, row: int, before: float, after: float, what: str | None, fix: str | None) -> None:
    """UnsortedTimestampsError: ``row`` holds ``before``, the next row ``after`` (or ``before`` is not finite)."""
    where = f" ({what})" if what else ""
    if kind == "nonfinite":
        msg = (f"timestamps stored in the file must be finite{where}; found {before} at row {row}; the file is "
               "damaged; " + (fix or "to use the other rows, load the times and values into memory and keep the "
                                     "rows where np.isfinite(times)"))
    else:
        msg = (f"timestamps stored in the file must be sorted in increasing order{where}; row {row + 1} "
               f"({after!r}) < row {row} ({before!r}); napstream does not search by time in unsorted timestamps "
               f"(the answer would be wrong)")
        msg += "; " + (fix or "load them into memory, sort them (np.argsort) and build the object from the sorted "
                              "times and values")
    raise UnsortedTimestampsError(msg)


# ---------------------------------------------------------------- order checked, remembered per dataset
# base object (an open dataset) -> base-row ranges [a, b) known to hold increasing times
_SORTED_RANGES: weakref.WeakKeyDictionary[Any, list[tuple[int, int]]] = weakref.WeakKeyDictionary()
_SORTED_LOCK = threading.Lock()


def _increasing_transform(lazy: LazyArray) -> bool:
    """Whether the LazyArray's ``raw * scale + offset`` keeps the stored order (scale > 0 or none)."""
    scale = lazy.scale
    return scale is None or (np.ndim(scale) == 0 and float(scale) > 0)


def _known_sorted(lazy: LazyArray) -> bool:
    """Whether every row of ``lazy`` lies within one base-row range already checked sorted."""
    if not _increasing_transform(lazy) or not len(lazy):
        return not len(lazy)
    seg = lazy.segments
    lo, hi = int(seg[:, 0].min()), int(seg[:, 1].max())
    try:
        with _SORTED_LOCK:
            ranges = list(_SORTED_RANGES.get(lazy.base, ()))
    except TypeError:  # a base that cannot be weakly referenced: nothing remembered
        return False
    return any(a <= lo and hi <= b for a, b in ranges)


def _remember_sorted(lazy: LazyArray) -> None:
    """Record that the rows of ``lazy`` hold increasing times (each segment; overlapping ranges merge)."""
    if not _increasing_transform(lazy):
        return
    try:
        with _SORTED_LOCK:
            ranges = list(_SORTED_RANGES.get(lazy.base, ()))
            for a, b in lazy.segments.tolist():
                if b <= a:
                    continue
                # ranges sharing a row with [a, b) are increasing on their union
                keep = [(c, d) for c, d in ranges if d <= a or c >= b]
                joined = [(c, d) for c, d in ranges if not (d <= a or c >= b)]
                a = min([a] + [c for c, _ in joined])
                b = max([b] + [d for _, d in joined])
                ranges = keep + [(a, b)]
            _SORTED_RANGES[lazy.base] = ranges
    except TypeError:
        return


def as_time_index(t: Any, time_units: str = "s", name: str = "t") -> TimeIndex:
    """Build a TimeIndex from user input (array-like, LazyArray, TimeIndex), validating it.

    In-memory times are converted to float64 seconds and must be finite and sorted.
    """
    from .units import to_seconds

    if isinstance(t, TimeIndex):
        return t
    if isinstance(t, LazyArray):
        if time_units != "s":
            t = t.with_transform(scale=1.0 / {"ms": 1e3, "us": 1e6}[time_units])
        return ArrayTimeIndex(t, check=False)
    if isinstance(t, (str, bytes)) or t is None:
        raise UnknownFormatError(f"Unknown format for {name}. Accepted formats are numpy.ndarray, list, tuple "
                                 f"or any array-like objects (got {type(t).__name__}).")
    try:
        arr = np.asarray(t)
    except Exception as err:  # noqa: BLE001 - re-raise with a clear message
        raise InvalidTypeError(f"{name} must be an array of times, got {type(t).__name__}") from err
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidTypeError(f"{name} must be numeric times, got an array of dtype {arr.dtype}")
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    arr = np.asarray(to_seconds(arr.astype(np.float64), time_units), dtype=np.float64)
    check_timestamps(arr, name)
    return ArrayTimeIndex(arr, check=False)


def as_time_index_sorting(t: Any, time_units: str = "s", name: str = "t") -> tuple[TimeIndex, np.ndarray | None]:
    """Like :func:`as_time_index`, but unsorted in-memory times are sorted (stable) with pynapple's
    "timestamps are not sorted" warning instead of rejected; returns ``(index, order)`` where
    ``order`` (or None when already sorted) is the permutation to apply to the values."""
    if isinstance(t, (TimeIndex, LazyArray)):
        return as_time_index(t, time_units, name), None
    if not isinstance(t, (str, bytes)) and t is not None and not isinstance(t, np.ndarray):
        from .utils import is_array_like, warn_conversion

        if is_array_like(t) and not isinstance(t, (list, tuple)):
            warn_conversion(t, name)
            t = np.asarray(t)
    try:
        return as_time_index(t, time_units, name), None
    except InvalidInputError:
        arr = np.atleast_1d(np.asarray(t))
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number):
            raise
        sec = np.asarray(to_seconds_any(arr.astype(np.float64), time_units), dtype=np.float64)
        if not np.isfinite(sec).all():
            raise
        warn_unsorted()
        order = np.argsort(sec, kind="stable")
        return ArrayTimeIndex(sec[order], check=False), order


def to_seconds_any(t: np.ndarray, time_units: str) -> np.ndarray:
    from .units import to_seconds

    return to_seconds(t, time_units)
