"""The base class shared by Ts, Tsd, TsdFrame and TsdTensor: time index, support, selection.

``_TimeSeriesBase`` holds what every time series has - ``_t`` (a
:class:`~napstream.core.time_index.TimeIndex`) and ``time_support`` (an IntervalSet) - and
implements, once, every method that only needs times: ``restrict``, ``get``, ``count``,
``value_from``, ``find_support``, ``times``, ``rate``... Selections (``restrict``, ``get``,
step-1 slices) compute row segments with ``TimeIndex.searchsorted`` and call ``select`` on the
index (and the data), so they never read data from a lazy object.

Classes are built through one funnel, :meth:`_TimeSeriesBase._wrap`, which picks the output
class from the number of dimensions of the values (pynapple's rule: 1 -> Tsd, 2 -> TsdFrame,
more -> TsdTensor, none -> Ts).

Examples
--------
>>> import napstream as nap
>>> ts = nap.Ts(t=[0.5, 1.0, 2.5, 4.0])
>>> ts.restrict(nap.IntervalSet(0, 2)).t
array([0.5, 1. ])
"""

from __future__ import annotations

import shutil
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import config
from ..errors import ArgumentRuntimeError, InvalidInputError, InvalidTypeError, UnknownFormatError, missing_dependency
from . import _series_kernels as kern
from .chunked import ChunkedMixin
from .interval_set import IntervalSet
from .lazy import LazyArray, is_array_like, normalize_segments
from .time_index import ArrayTimeIndex, TimeIndex, TsIndex
from .units import check_units, from_seconds, to_seconds

__all__ = ["_TimeSeriesBase", "TsIndexView", "register_classes"]

#: concrete classes, filled by time_series.py (avoids an import cycle): 'Ts', 'Tsd', 'TsdFrame', 'TsdTensor'
CLASSES: dict[str, type] = {}


def register_classes(**classes: type) -> None:
    """Register the concrete classes the funnel builds (called once by ``time_series``)."""
    CLASSES.update(classes)


#: the type of ``obj.index`` (pynapple's TsIndex; the old name is kept for existing imports)
TsIndexView = TsIndex


def check_iset(iset: Any, name: str = "iset") -> IntervalSet:
    """Raise a clear TypeError unless ``iset`` is an IntervalSet."""
    if not isinstance(iset, IntervalSet):
        lead = {"iset": "Argument should be IntervalSet", "ep argument": "ep argument should be of type IntervalSet",
                "epochs": "epochs should be an object of type IntervalSet"}.get(name)  # pynapple's wording
        detail = f"{name} must be an IntervalSet, got {type(iset).__name__}"
        raise InvalidTypeError(f"{lead}: {detail}" if lead else detail)
    return iset


def check_number(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Number):
        raise InvalidTypeError(f"{name} must be an int or a float, got {type(x).__name__}")
    return float(x)  # type: ignore[arg-type]


def select_data(d: Any, seg: np.ndarray, copy: bool = False) -> Any:
    """Rows ``seg`` of in-memory or lazy data (lazy stays lazy; one segment of numpy is a view)."""
    if isinstance(d, LazyArray):
        return d.select(seg)
    if len(seg) == 1 and not copy:
        return d[seg[0, 0]:seg[0, 1]]
    if len(seg) == 0:
        return d[:0].copy()
    return np.concatenate([d[a:b] for a, b in seg], axis=0)


def as_support(time_support: Any) -> IntervalSet | None:
    """Validate a ``time_support`` argument (an IntervalSet or None)."""
    if time_support is not None and not isinstance(time_support, IntervalSet):
        raise InvalidTypeError(f"time_support must be an IntervalSet or None, got {type(time_support).__name__}")
    return time_support


def file_array(a: Any) -> bool:
    """1-D array-like not in memory (h5py dataset, zarr array...): kept lazy with load_array=False."""
    return (not isinstance(a, (np.ndarray, list, tuple, LazyArray, TimeIndex, pd.Series, pd.Index))
            and is_array_like(a) and len(getattr(a, "shape", ())) == 1)


def as_data(d: Any, load_array: bool) -> Any:
    """User data -> np.ndarray or LazyArray (pynapple's ``load_array`` rule)."""
    if isinstance(d, LazyArray):
        return d
    if isinstance(d, np.memmap) and not load_array:
        return LazyArray(d)
    if isinstance(d, np.ndarray):
        return d
    if isinstance(d, (pd.Series, pd.DataFrame)):
        return d.to_numpy()
    if isinstance(d, Number):
        return np.array([d])
    if isinstance(d, (list, tuple)):
        return np.array(d)
    if is_array_like(d):
        if not load_array:
            return LazyArray(d)
        from .utils import warn_conversion

        warn_conversion(d, "d")
        return np.asarray(d[()] if not len(d.shape) else d[...])
    raise UnknownFormatError(
        "Unknown format for d. Accepted formats are numpy.ndarray, list, tuple or any array-like objects "
        f"(numpy array, list, h5py dataset, LazyArray...; got {type(d).__name__})."
    )


def key_is_ordered(key: Any) -> bool:
    """True when indexing rows with ``key`` keeps them in order (positive slices, boolean masks)."""
    rows = key[0] if isinstance(key, tuple) and key else key
    if isinstance(rows, slice):
        return rows.step is None or rows.step > 0
    return isinstance(rows, np.ndarray) and rows.dtype == bool


class _DeferredSupport:
    """``[first, last]`` of lazy timestamps whose order is not checked yet (see ``time_support``).

    Building an object over timestamps kept in a file reads nothing; its default time support
    needs the earliest and latest times, which only a check of the whole order can vouch for.
    Objects derived from it (slices, columns) share the deferred support.
    """

    __slots__ = ("index", "_value")

    def __init__(self, index: TimeIndex) -> None:
        self.index = index
        self._value: IntervalSet | None = None

    def resolve(self) -> IntervalSet:
        if self._value is None:
            self._value = IntervalSet(start=self.index.first, end=self.index.last)
        return self._value

    def __reduce__(self) -> Any:  # sent to another process: as an IntervalSet, or still deferred
        if self._value is not None:
            return (_resolved, (self._value,))
        return (_DeferredSupport, (self.index,))


def _resolved(value: IntervalSet) -> IntervalSet:
    return value


class _TimeSeriesBase(ChunkedMixin):
    """Shared implementation of Ts/Tsd/TsdFrame/TsdTensor (see the module docstring)."""

    _t: TimeIndex
    _d: Any = None

    # ------------------------------------------------------------------ construction
    def _setup(self, t: TimeIndex, d: Any, time_support: IntervalSet | None, restrict: bool, **extra: Any) -> None:
        """Set the state; with ``restrict`` drop the rows outside ``time_support`` (no data read)."""
        self.__dict__["_initialized"] = False
        self._t, self._d = t, d
        n = len(t)
        if isinstance(time_support, _DeferredSupport) and (time_support.index.order_checked or restrict):
            time_support = time_support.resolve()
        if time_support is not None and restrict and n:
            seg = self._rows_in(time_support)
            if not (len(seg) == 1 and seg[0, 0] == 0 and seg[0, 1] == n):
                self._t = t.select(seg)
                self._d = None if d is None else select_data(d, seg, copy=True)
        if isinstance(time_support, _DeferredSupport):
            pass  # [first, last] of lazy timestamps not checked in order yet: computed on first use
        elif time_support is None or (len(self._t) == 0 and time_support.tot_length() <= 0):
            if len(self._t) and not self._t.order_checked:
                time_support = _DeferredSupport(self._t)
            elif len(self._t):
                time_support = IntervalSet(start=self._t.first, end=self._t.last)
            elif time_support is None or len(time_support) == 0:
                time_support = IntervalSet(start=[], end=[])
        self.__dict__["_time_support"] = time_support
        self._setup_extra(**extra)
        self.__dict__["_initialized"] = True

    @property
    def time_support(self) -> IntervalSet:
        """The epochs the object is defined on (pynapple's ``time_support``).

        Without one given, ``[first, last]`` of the timestamps; for lazy timestamps whose order is
        not checked yet, computed (after the check) when first asked for.
        """
        support = self.__dict__["_time_support"]
        if isinstance(support, _DeferredSupport):
            support = support.resolve()
            self.__dict__["_time_support"] = support
        return support

    @time_support.setter
    def time_support(self, value: IntervalSet) -> None:
        self.__dict__["_time_support"] = value

    def _support_or_deferred(self) -> Any:
        """The time support, or its deferred form (passed on without checking the timestamps' order)."""
        return self.__dict__["_time_support"]

    def _setup_extra(self, **extra: Any) -> None:
        if extra:
            raise InvalidTypeError(f"unexpected arguments {sorted(extra)}")

    @classmethod
    def _raw(cls, t: TimeIndex, d: Any, time_support: IntervalSet | None, restrict: bool = False, **extra: Any) -> Any:
        """Build an instance from validated parts (no validation, no copy)."""
        obj = cls.__new__(cls)
        obj._setup(t, d, time_support, restrict, **extra)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_initialized", False) and not name.startswith("_"):
            raise RuntimeError(f"Changing directly attributes is not permitted for {type(self).__name__}.")
        object.__setattr__(self, name, value)

    def _wrap(self, values: Any, t: TimeIndex | None = None, time_support: IntervalSet | None = None,
              drop_metadata: bool = False, **extra: Any) -> Any:
        """The construction funnel: values -> Ts/Tsd/TsdFrame/TsdTensor sharing ``t`` (default: self's)."""
        t = self._t if t is None else t
        time_support = self._support_or_deferred() if time_support is None else time_support
        if values is None:
            return CLASSES["Ts"]._raw(t, None, time_support)
        if not (isinstance(values, (np.ndarray, LazyArray)) or hasattr(values, "shape")):
            return values
        if len(values.shape) == 0 or values.shape[0] != len(t):
            return values
        ndim = len(values.shape)
        cls = CLASSES["Tsd"] if ndim == 1 else CLASSES["TsdFrame"] if ndim == 2 else CLASSES["TsdTensor"]
        if cls is CLASSES["TsdFrame"] and not drop_metadata:
            if isinstance(self, cls) and values.shape[1] == self.shape[1]:
                extra.setdefault("columns", self.columns)
                if "metadata" not in extra:
                    extra.setdefault("_md", self._metadata_dict())
        if cls is not CLASSES["TsdFrame"]:
            for k in ("columns", "metadata", "_md"):
                extra.pop(k, None)
        return cls._raw(t, values, time_support, **extra)

    # ------------------------------------------------------------------ time access
    @property
    def time_index(self) -> TimeIndex:
        """The :class:`TimeIndex` (in memory, lazy or regular). Never reads."""
        return self._t

    @property
    def is_lazy(self) -> bool:
        """True when the timestamps or the data are not (all) held in memory."""
        return bool(self._t.is_lazy or isinstance(self._d, LazyArray))

    @property
    def t(self) -> np.ndarray:
        """The timestamps in seconds (materialises a lazy/regular index)."""
        return self._t.load()

    @property
    def index(self) -> TsIndexView:
        """The timestamps as an array with ``.values`` / ``.in_units`` (materialises)."""
        return np.asarray(self._t.load(), dtype=np.float64).view(TsIndexView)

    def times(self, units: str = "s") -> np.ndarray:
        """The timestamps in ``units`` ('s', 'ms', 'us'); materialises.

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[1.0, 2.0]).times("ms")
        array([1000., 2000.])
        """
        return from_seconds(self._t.load(), check_units(units))

    def start_time(self, units: str = "s") -> float | None:
        """The first timestamp (one read for lazy objects), None when empty."""
        if not len(self._t):
            return None
        return np.float64(from_seconds(self._t.first, check_units(units)))

    def end_time(self, units: str = "s") -> float | None:
        """The last timestamp (one read for lazy objects), None when empty."""
        if not len(self._t):
            return None
        return np.float64(from_seconds(self._t.last, check_units(units)))

    @property
    def start(self) -> float | None:
        return self.start_time()

    @property
    def end(self) -> float | None:
        return self.end_time()

    @property
    def rate(self) -> float:
        """Samples per second over the time support (no data read)."""
        tot = np.sum(self.time_support.values[:, 1] - self.time_support.values[:, 0])
        n = len(self._t)
        if n:
            with np.errstate(divide="ignore"):
                return np.float64(n) / tot
        return 0.0 if len(self.time_support) and tot > 0 else np.nan

    def __len__(self) -> int:
        return len(self._t)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._t),) if self._d is None else tuple(self._d.shape)

    @property
    def nap_class(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ selection (no data read)
    def _rows_in(self, iset: IntervalSet) -> np.ndarray:
        """Row segments of the samples with ``start <= t <= end`` for some epoch of ``iset``."""
        if len(iset) == 0 or len(self._t) == 0:
            return np.zeros((0, 2), dtype=np.int64)
        lo = np.asarray(self._t.searchsorted(iset.start, "left"), dtype=np.int64)
        hi = np.asarray(self._t.searchsorted(iset.end, "right"), dtype=np.int64)
        return normalize_segments(np.stack([lo, np.maximum(lo, hi)], axis=1), len(self._t))

    def _select(self, seg: np.ndarray, time_support: IntervalSet | None = None, copy: bool = False) -> Any:
        d = None if self._d is None else select_data(self._d, seg, copy=copy)
        return self._wrap(d, t=self._t.select(seg), time_support=time_support)

    def restrict(self, iset: IntervalSet) -> Any:
        """Restrict to the epochs of ``iset`` (samples with ``start <= t <= end``).

        Lazy objects stay lazy: the rows are found with a binary search of the time index and
        no data are read. The result's time support is ``iset``.

        Parameters
        ----------
        iset : IntervalSet

        Returns
        -------
        Ts, Tsd, TsdFrame or TsdTensor

        Examples
        --------
        >>> import napstream as nap
        >>> tsd = nap.Tsd(t=[0.0, 1.0, 2.0, 3.0], d=[1, 2, 3, 4])
        >>> tsd.restrict(nap.IntervalSet(0.5, 2.0)).d
        array([2, 3])
        """
        check_iset(iset)
        return self._select(self._rows_in(iset), time_support=iset, copy=True)

    def in_interval(self, iset: IntervalSet) -> Any:
        """Tsd of booleans: is each sample inside an epoch of ``iset``? (No data read.)

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[0.0, 1.0, 2.0]).in_interval(nap.IntervalSet(0.5, 1.5)).d
        array([False,  True, False])
        """
        mask = np.zeros(len(self), dtype=bool)
        for a, b in self._rows_in(check_iset(iset)):
            mask[a:b] = True
        return self._wrap(mask)

    def get_slice(self, start: float, end: float | None = None, time_unit: str = "s") -> slice:
        """The slice of rows ``get(start, end)`` returns (pynapple's conventions; reads <= 3 times).

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[0.0, 1.0, 2.0, 3.0]).get_slice(1.2, 2.6)
        slice(2, 3, None)
        """
        start = float(to_seconds(check_number(start, "start"), check_units(time_unit)))
        n = len(self._t)
        i = int(self._t.searchsorted(start, "left"))
        if end is None:
            if n == 0:
                return slice(0, 0)
            i = min(i, n - 1)
            if i > 0 and self._t[i] - start > abs(self._t[i - 1] - start):
                i -= 1
            return slice(i, i + 1)
        end = float(to_seconds(check_number(end, "end"), time_unit))
        if start > end:
            raise InvalidInputError(f"start must not be after end, got start={start} > end={end}")
        if n == 0:
            return slice(0, 0)
        j = int(self._t.searchsorted(end, "left"))
        j = min(j, n - 1)
        j += int(self._t[j] <= end)
        return slice(i, max(i, j))

    def get(self, start: float, end: float | None = None, time_units: str = "s") -> Any:
        """Samples with ``start <= t <= end``, or the sample closest to ``start`` if ``end`` is None.

        The time support is unchanged (use ``restrict`` to change it). Lazy objects stay lazy
        (a range is a view found by binary search; the single closest sample is read).

        Parameters
        ----------
        start : float
        end : float, optional
        time_units : {'s', 'ms', 'us'}

        Examples
        --------
        >>> import napstream as nap
        >>> tsd = nap.Tsd(t=[0.0, 1.0, 2.0, 3.0], d=[1, 2, 3, 4])
        >>> tsd.get(1.0, 2.5).d
        array([2, 3])
        >>> int(tsd.get(2.4))
        3
        """
        sl = self.get_slice(start, end, time_units)
        if end is None:
            if sl.stop == sl.start:
                raise IndexError("get on an empty time series")
            return self[sl.start]
        return self[sl]

    def count(self, bin_size: float | None = None, ep: IntervalSet | None = None, time_units: str = "s",
              dtype: Any = None) -> Any:
        """Count samples in bins of ``bin_size`` (or per epoch of ``ep``) -> Tsd at the bin centers.

        Regular time indexes are counted arithmetically (no timestamps built); lazy explicit
        timestamps are streamed in blocks bounded by ``napstream.config.memory_budget``.

        Parameters
        ----------
        bin_size : float, optional
        ep : IntervalSet, optional
            Defaults to the time support.
        time_units : {'s', 'ms', 'us'}
        dtype : numpy dtype, optional
            Default int64.

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[0.1, 0.2, 1.5]).count(1.0, ep=nap.IntervalSet(0, 2)).d
        array([2, 1])
        """
        if bin_size is not None:
            if isinstance(bin_size, bool) or not isinstance(bin_size, Number):
                raise InvalidTypeError(f"bin_size argument should be float or int. Got {type(bin_size).__name__}.")
            bin_size = float(to_seconds(float(bin_size), self._check_units(time_units)))
            if not bin_size > 0:
                raise InvalidInputError(f"bin_size must be > 0, got {bin_size}")
        self._check_units(time_units)
        ep = self.time_support if ep is None else check_iset(ep, "ep argument")
        try:
            dtype = np.dtype(np.int64 if dtype is None else dtype)
        except TypeError as err:
            raise InvalidInputError(f"{dtype} is not a valid numpy dtype") from err
        starts, ends = ep.start, ep.end
        lo, hi = self._epoch_rows(starts, ends)
        if bin_size is None:
            t = starts + (ends - starts) / 2
            d = (hi - lo).astype(dtype)
        else:
            centers, counts = [], []
            for k in range(len(starts)):
                c, rb = kern.epoch_bins(float(starts[k]), float(ends[k]), bin_size)
                centers.append(c)
                counts.append(self._bin_counts(rb, int(lo[k]), int(hi[k])).astype(dtype))
            t = kern._cat(centers, np.float64)
            d = kern._cat(counts, dtype)
        return self._wrap(d, t=ArrayTimeIndex(t, check=False), time_support=ep)

    @staticmethod
    def _check_units(time_units: Any) -> str:
        if not isinstance(time_units, str):
            raise InvalidInputError(f"time_units argument should be 's', 'ms' or 'us'. Got {time_units!r}")
        return check_units(time_units)

    def _epoch_rows(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self._t) == 0 or len(starts) == 0:
            z = np.zeros(len(starts), dtype=np.int64)
            return z, z.copy()
        lo = np.asarray(self._t.searchsorted(starts, "left"), dtype=np.int64)
        hi = np.asarray(self._t.searchsorted(ends, "right"), dtype=np.int64)
        return lo, np.maximum(lo, hi)

    def _block_rows(self) -> int:
        """Rows of timestamps per streamed block under the memory budget (8 B + working space)."""
        return max(1024, int(config.memory_budget) // 64)

    def _bin_counts(self, rbounds: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Samples of rows [lo, hi) in each bin (right bounds ``rbounds``)."""
        if not len(rbounds):
            return np.zeros(0, dtype=np.int64)
        if self._t.is_regular or not self._t.is_lazy:
            if not self._t.is_lazy:
                return kern.counts_per_bin(self._t.read(lo, hi), rbounds)
            cum = np.clip(np.asarray(self._t.searchsorted(rbounds, "left"), dtype=np.int64), lo, hi)
            return np.diff(np.concatenate([[lo], cum]))
        out = np.zeros(len(rbounds), dtype=np.int64)
        step = self._block_rows()
        for a in range(lo, hi, step):
            out += kern.counts_per_bin(self._t.read(a, min(hi, a + step)), rbounds)
        return out

    def value_from(self, data: Any, ep: IntervalSet | None = None, mode: str = "closest") -> Any:
        """Give each sample of ``self`` the value of the closest sample of ``data`` (per epoch).

        Materialises the timestamps of ``self`` (the output has one row per sample); a lazy
        ``data`` is binary-searched and only the matched rows are read, in runs of nearby rows.

        Parameters
        ----------
        data : Tsd, TsdFrame or TsdTensor
        ep : IntervalSet, optional
            Defaults to ``data.time_support``.
        mode : {'closest', 'before', 'after'}

        Examples
        --------
        >>> import napstream as nap
        >>> ts = nap.Ts(t=[0.9, 2.2])
        >>> ts.value_from(nap.Tsd(t=[0.0, 1.0, 2.0, 3.0], d=[0, 10, 20, 30])).d
        array([10, 20])
        """
        if not isinstance(data, _TimeSeriesBase) or data._d is None:
            raise InvalidTypeError(f"First argument should be an instance of Tsd, TsdFrame or TsdTensor, got {type(data).__name__}")
        ep = data.time_support if ep is None else check_iset(ep, "ep")
        if mode not in ("closest", "before", "after"):
            raise InvalidInputError(f'Argument ``mode`` should be "closest", "before", or "after". {mode!r} provided instead.')
        t = self.t
        lo, hi = kern.epoch_rows(t, ep.start, ep.end)
        tlo, thi = data._epoch_rows(ep.start, ep.end)
        rows, epoch = kern.rows_in_epochs(lo, hi)
        tidx = data._t
        if tidx.is_lazy:
            def take(r: np.ndarray) -> np.ndarray:
                return kern.gather_rows(tidx.read, r)
        else:
            arr = tidx.load()

            def take(r: np.ndarray) -> np.ndarray:
                return arr[r]
        idx, valid = kern.match_rows(t[rows], tlo[epoch], thi[epoch], mode, len(data), tidx.searchsorted, take)
        d = data._d
        picked = d[idx[valid]] if isinstance(d, np.ndarray) else kern.gather_rows(d.read, idx[valid])
        dtype = np.dtype(d.dtype)
        if not (np.issubdtype(dtype, np.floating) or valid.all()):
            dtype = np.dtype(np.float64)
        fill = np.nan if np.issubdtype(dtype, np.floating) else 0
        out = np.full((len(rows),) + tuple(d.shape[1:]), fill, dtype=dtype)
        out[valid] = picked
        support = IntervalSet(start=ep.start, end=ep.end)
        return data._wrap(out, t=ArrayTimeIndex(t[rows], check=False), time_support=support)

    def time_diff(self, align: str = "center", epochs: IntervalSet | None = None) -> Any:
        """Differences between consecutive timestamps within each epoch -> Tsd (materialises times).

        Parameters
        ----------
        align : {'start', 'center', 'end'}
            Where each difference is placed between its two timestamps.
        epochs : IntervalSet, optional
            Defaults to the time support.

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[0.0, 1.0, 3.0]).time_diff().d
        array([1., 2.])
        """
        alphas = {"start": 0.0, "center": 0.5, "end": 1.0}
        if align not in alphas:
            raise ArgumentRuntimeError(f"align should be 'start', 'center' or 'end', got {align!r}")
        epochs = self.time_support if epochs is None else check_iset(epochs, "epochs")
        t_all = self.t
        ts, ds = [], []
        for a, b in zip(epochs.start, epochs.end):
            sl = self.get_slice(float(a), float(b))
            t = t_all[sl]
            diff = np.diff(t)
            ds.append(diff)
            ts.append(t[:-1] + alphas[align] * diff)
        t_new, d_new = kern._cat(ts, np.float64), kern._cat(ds, np.float64)
        return self._wrap(d_new, t=ArrayTimeIndex(t_new, check=False), time_support=epochs)

    def find_support(self, min_gap: float, time_units: str = "s") -> IntervalSet:
        """Smallest IntervalSet (to ``min_gap``) containing every timestamp; materialises the times.

        Examples
        --------
        >>> import napstream as nap
        >>> len(nap.Ts(t=[0.0, 0.1, 5.0, 5.1]).find_support(1.0))
        2
        """
        gap = float(to_seconds(check_number(min_gap, "min_gap"), check_units(time_units)))
        t = self.t
        if not len(t):
            raise InvalidInputError("find_support needs at least one timestamp")
        cut = np.flatnonzero(np.diff(t) > gap)
        starts = np.concatenate([[t[0]], t[cut + 1]])
        ends = np.concatenate([t[cut] + 1e-6, [t[-1] + 1e-6]])
        return IntervalSet(start=starts, end=ends)

    # ------------------------------------------------------------------ conversion
    def copy(self) -> Any:
        """A copy (in-memory data are copied; lazy parts are immutable views and are shared)."""
        d = self._d.copy() if isinstance(self._d, np.ndarray) else self._d
        t = self._t if self._t.is_lazy else ArrayTimeIndex(self._t.load().copy(), check=False)
        return self._wrap(d, t=t)

    def load(self) -> Any:
        """The same object fully in memory (materialises the timestamps and the data).

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[1.0, 2.0]).load().is_lazy
        False
        """
        d = self._d.load() if isinstance(self._d, LazyArray) else self._d
        t = self._t if not self._t.is_lazy else ArrayTimeIndex(self._t.load(), check=False)
        return self._wrap(d, t=t)

    def _save_dict(self) -> dict[str, Any]:
        return {"t": self.t, "start": self.time_support.start, "end": self.time_support.end,
                "type": np.array([type(self).__name__], dtype=np.str_)}

    def save(self, filename: str | Path) -> None:
        """Save to a ``.npz`` file in pynapple's layout (materialises).

        Examples
        --------
        >>> import napstream as nap, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ts.npz")
        >>> nap.Ts(t=[1.0, 2.0]).save(path)
        >>> sorted(np.load(path).files)
        ['end', 'start', 't', 'type']
        """
        from .npz import npz_path

        np.savez(npz_path(filename), **self._save_dict())

    @classmethod
    def _from_npz_reader(cls, file: Any) -> Any:
        """The object saved in an opened npz file (pynapple's hook, used by ``load_file``)."""
        from .npz import series_from_npz

        return series_from_npz(cls, file)

    def to_pynapple(self) -> Any:
        """The equivalent pynapple object (materialises; needs pynapple installed).

        Examples
        --------
        >>> import napstream as nap
        >>> type(nap.Ts(t=[1.0]).to_pynapple()).__name__
        'Ts'
        """
        nap = _import_pynapple()
        support = nap.IntervalSet(start=self.time_support.start, end=self.time_support.end)
        return self._to_pynapple(nap, support)

    def _to_pynapple(self, nap: Any, support: Any) -> Any:
        return getattr(nap, type(self).__name__)(t=self.t, d=np.asarray(self.values), time_support=support)

    @classmethod
    def from_pynapple(cls, obj: Any) -> Any:
        """Build the napstream object equivalent to a pynapple Ts/Tsd/TsdFrame/TsdTensor.

        Examples
        --------
        >>> import napstream as nap, pynapple
        >>> nap.Tsd.from_pynapple(pynapple.Tsd(t=[1.0], d=[2.0])).d
        array([2.])
        """
        _import_pynapple()
        name = type(obj).__name__
        if name not in ("Ts", "Tsd", "TsdFrame", "TsdTensor"):
            raise InvalidTypeError(f"obj must be a pynapple Ts, Tsd, TsdFrame or TsdTensor, got {name}")
        support = IntervalSet(start=obj.time_support.start, end=obj.time_support.end)
        kw: dict[str, Any] = {"time_support": support if len(support) else None}
        if name == "TsdFrame":
            kw["columns"] = obj.columns
            md = obj.metadata
            if md is not None and len(md.columns):
                kw["metadata"] = md
        if name == "Ts":
            return CLASSES["Ts"](t=np.asarray(obj.t), **kw)
        return CLASSES[name](t=np.asarray(obj.t), d=np.asarray(obj.values), **kw)

    # ------------------------------------------------------------------ printing
    def _repr_rows(self) -> int:
        return max(shutil.get_terminal_size((100, 40)).lines - 10, 2)

    def _head_tail(self) -> tuple[np.ndarray, Any, bool]:
        """Timestamps and values of the rows shown by repr (only those rows are read)."""
        n, k = len(self), self._repr_rows()
        if n <= k:
            rows = [(0, n)]
        else:
            rows = [(0, k // 2), (n - k // 2, n)]
        t = np.concatenate([self._t.read(a, b) for a, b in rows])
        d = None if self._d is None else self._read_rows(rows)
        return t, d, n > k

    def _read_rows(self, rows: list[tuple[int, int]]) -> np.ndarray:
        """The values of the row ranges ``[(a, b), ...]``, concatenated (reads only those rows)."""
        parts = [self._d.read(a, b) if isinstance(self._d, LazyArray) else self._d[a:b] for a, b in rows]
        return np.concatenate(parts, axis=0)

    def _repr_html_(self) -> str:
        from .repr_html import series_html

        return series_html(self)


def _import_pynapple() -> Any:
    try:
        import pynapple
    except ImportError as err:  # pragma: no cover - pynapple is a test dependency
        raise missing_dependency("pynapple", "test") from err
    return pynapple
