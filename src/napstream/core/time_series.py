"""Ts, Tsd, TsdFrame and TsdTensor: pynapple's time series, lazy at the root.

Each object holds a :class:`~napstream.core.time_index.TimeIndex` (``_t``), its values (``_d``:
a numpy array or a :class:`~napstream.core.lazy.LazyArray`) and a ``time_support``
IntervalSet. Constructors take pynapple's arguments; ``t`` may also be a TimeIndex or a
LazyArray and ``d`` a LazyArray, which stay lazy. ``restrict``, ``get`` and step-1 slices of a
lazy object are lazy; ``.t``, ``.d``, ``.values``, ``np.asarray`` and ``.load()`` read.

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> tsd = nap.Tsd(t=np.arange(5.0), d=np.arange(5) * 10)
>>> tsd.restrict(nap.IntervalSet(1, 3)).d
array([10, 20, 30])
>>> tf = nap.TsdFrame(t=[0.0, 1.0], d=[[1, 2], [3, 4]], columns=["a", "b"])
>>> tf["b"].d
array([2, 4])
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentIOError, ArgumentTypeIOError, InvalidInputError, InvalidTypeError, KeyNotFoundError
from . import _series_kernels as kern, repr_text
from .base_series import (
    as_data, as_support, file_array, key_is_ordered, _TimeSeriesBase, check_iset, register_classes,
)
from .interval_set import IntervalSet
from .lazy import LazyArray, is_array_like
from .metadata import MetadataMixin
from .numpy_interop import NumpyInteropMixin
from .trial_methods import SeriesTrialMethods, TsTrialMethods
from .time_index import ArrayTimeIndex, TimeIndex, as_time_index_sorting, check_timestamps
from .units import to_seconds

__all__ = ["Ts", "Tsd", "TsdFrame", "TsdTensor"]


class _BaseTsd(SeriesTrialMethods, NumpyInteropMixin, _TimeSeriesBase):
    """What Tsd, TsdFrame and TsdTensor share: values, indexing, value-based methods."""

    _ndim_ok: tuple[int, ...] = (1,)

    def __init__(self, t: Any, d: Any = None, time_units: str = "s", time_support: IntervalSet | None = None,
                 load_array: bool = True, **extra: Any) -> None:
        if d is None:
            raise InvalidTypeError(f"d is required to build a {type(self).__name__} (got None)")
        if not load_array and file_array(t):
            t = LazyArray(t)  # timestamps stay in the file too; their order is checked as they are read
        tidx, order = as_time_index_sorting(t, self._check_units(time_units), "t")
        data = self._shape_data(as_data(d, load_array))
        if order is not None and data.shape[0] == len(order):
            data = np.asarray(data)[order]  # values follow their timestamps (pynapple leaves them)
        if data.shape[0] != len(tidx):
            raise InvalidInputError(
                f"t and d must have the same length, got len(t)={len(tidx)} and len(d)={data.shape[0]}"
            )
        self._setup(tidx, data, as_support(time_support), True, **extra)

    def _shape_data(self, data: Any) -> Any:
        if len(data.shape) == 0:
            data = data.reshape(1) if isinstance(data, np.ndarray) else data
        if len(data.shape) not in self._ndim_ok:
            raise InvalidInputError(
                f"d must have {' or '.join(map(str, self._ndim_ok))} dimension(s) for a {type(self).__name__}, "
                f"got shape {tuple(data.shape)}"
            )
        return data

    # ------------------------------------------------------------------ values
    @property
    def values(self) -> np.ndarray:
        """The data as a numpy array (materialises a lazy object)."""
        return self._d.load() if isinstance(self._d, LazyArray) else self._d

    @property
    def d(self) -> np.ndarray:
        """Alias of ``values``."""
        return self.values

    @property
    def lazy_data(self) -> Any:
        """The data container as is (numpy array or LazyArray); never reads."""
        return self._d

    @property
    def ndim(self) -> int:
        return len(self._d.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._d.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._d.dtype)

    def as_array(self) -> np.ndarray:
        """The values (materialises)."""
        return self.values

    def data(self) -> np.ndarray:
        """The values (materialises)."""
        return self.values

    def to_numpy(self) -> np.ndarray:
        """The values as a numpy array (materialises)."""
        return np.asarray(self.values)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and hasattr(np, name):
            func = getattr(np, name)

            def method(*args: Any, **kwargs: Any) -> Any:
                return func(self, *args, **kwargs)

            return method
        # pynapple's wording (scripts match on it)
        raise AttributeError(f"Time series object does not have the attribute {name}")

    # ------------------------------------------------------------------ indexing
    def _bool_key(self, key: Any) -> Any:
        if isinstance(key, _BaseTsd):
            if not np.issubdtype(key.dtype, np.bool_):
                raise InvalidInputError("When indexing with a Tsd, it must contain boolean values")
            return np.asarray(key.values)
        return key

    def _index_of(self, rows: Any, ordered: bool) -> Any:
        if rows is Ellipsis:
            return self._t
        if isinstance(rows, (list, tuple)) or (isinstance(rows, np.ndarray) and rows.dtype != bool):
            rows = np.asarray(rows, dtype=np.int64)
        out = self._t[rows]
        if isinstance(out, ArrayTimeIndex) and not ordered and not out.is_lazy:
            check_timestamps(out.values, "t (indexed)")
        return out

    def __getitem__(self, key: Any) -> Any:
        key = self._bool_key(key)
        if isinstance(key, tuple):
            key = tuple(self._bool_key(k) for k in key)
        rows = key[0] if isinstance(key, tuple) and key else key
        if rows is None:  # x[None, ...]: a new first axis, no longer along time: a plain array (as pynapple)
            return (self._d if isinstance(self._d, np.ndarray) else np.asarray(self.values))[key]
        out = self._d[key]
        index = self._index_of(rows, key_is_ordered(key))
        if not isinstance(index, TimeIndex):
            return out
        return self._wrap_indexed(key, out, index)

    def _wrap_indexed(self, key: Any, out: Any, index: TimeIndex) -> Any:
        return self._wrap(out, t=index)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(self._d, LazyArray):
            raise InvalidTypeError(f"cannot assign into a lazy {type(self).__name__}; call .load() first")
        key = self._bool_key(key)
        self._d[key] = value

    # ------------------------------------------------------------------ value-based methods
    def bin_average(self, bin_size: float, ep: IntervalSet | None = None, time_units: str = "s") -> Any:
        """Average the data in bins of ``bin_size`` laid on ``ep`` (default: the time support).

        Lazy objects are streamed in chunks within ``napstream.config.memory_budget`` (sums may
        then differ from the in-memory result in the last bits at chunk seams).

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Tsd(t=[0.1, 0.2, 1.5], d=[1.0, 3.0, 5.0]).bin_average(1.0, nap.IntervalSet(0, 2)).d
        array([2., 5.])
        """
        if isinstance(bin_size, bool) or not isinstance(bin_size, Number):
            raise InvalidTypeError(f"bin_size argument should be float or int. Got {type(bin_size).__name__}.")
        ep = self.time_support if not isinstance(ep, IntervalSet) else ep
        bs = float(to_seconds(float(bin_size), self._check_units(time_units)))  # type: ignore[arg-type]
        if not bs > 0:
            raise InvalidInputError(f"bin_size must be > 0, got {bin_size}")
        if self.is_lazy:  # streamed in chunks within the memory budget (ChunkedMixin)
            t, d = self._chunked_bin_average(bs, ep)
            shape = (len(t),) + tuple(self.shape[1:])
            d = np.asarray(d, dtype=np.float64)
            if d.shape != shape:  # no sample in any bin: every average is 0/0
                d = np.full(shape, np.nan)
        else:
            sub = self.restrict(ep) if len(ep) else self[:0]
            t, d = kern.bin_average(sub.t, np.asarray(sub.values), ep.start, ep.end, bs)
        return self._wrap(d, t=ArrayTimeIndex(np.asarray(t, dtype=np.float64), check=False), time_support=ep)

    def dropna(self, update_time_support: bool = True) -> Any:
        """Drop the rows holding NaNs; by default the support becomes the runs of valid rows.

        Materialises the data.

        Examples
        --------
        >>> import numpy as np, napstream as nap
        >>> nap.Tsd(t=[0.0, 1.0, 2.0], d=[1.0, np.nan, 3.0]).dropna().t
        array([0., 2.])
        """
        if not isinstance(update_time_support, bool):
            raise InvalidTypeError(
                f"update_time_support must be a bool, got {type(update_time_support).__name__}"
            )
        values = np.asarray(self.values)
        is_nan = np.isnan(values).reshape(len(values), -1).any(axis=1) if len(values) else np.zeros(0, bool)
        ep = self.time_support
        if not is_nan.any():
            return self._wrap(values, t=self._t, time_support=ep)
        t = self.t
        if is_nan.all():
            empty = np.empty((0,) + values.shape[1:])
            ep = IntervalSet(start=[], end=[]) if update_time_support else ep
            return self._wrap(empty, t=ArrayTimeIndex(np.array([]), check=False), time_support=ep)
        keep = ~is_nan
        if update_time_support:
            starts, ends = kern.nan_support(t, is_nan)
            ends = np.where(starts == ends, ends + 1e-6, ends)
            ep = IntervalSet(starts, ends)
        return self._wrap(values[keep], t=ArrayTimeIndex(t[keep], check=False), time_support=ep)

    def convolve(self, array: Any, ep: IntervalSet | None = None, trim: str = "both") -> Any:
        """Convolve each epoch with a 1-D or 2-D kernel (zero-padded, trimmed to the input length).

        Materialises the data of the epochs.

        Examples
        --------
        >>> import numpy as np, napstream as nap
        >>> nap.Tsd(t=np.arange(4.0), d=[0.0, 1.0, 0.0, 0.0]).convolve(np.ones(3)).d
        array([1., 1., 1., 0.])
        """
        return self._convolve(array, ep, trim)

    def _convolve(self, array: Any, ep: IntervalSet | None, trim: str) -> Any:
        import warnings

        if not is_array_like(array):
            raise ArgumentTypeIOError("Input should be a numpy array (or jax array if pynajax is installed).")
        array = np.asarray(array)
        if len(array) == 0:
            raise ArgumentIOError("Input array is length 0")
        if array.ndim > 2:
            raise ArgumentIOError("Array should be 1 or 2 dimension.")
        if trim not in ("both", "left", "right"):
            raise ArgumentIOError("Unknown argument. trim should be 'both', 'left' or 'right'.")
        if ep is None:
            ep, obj = self.time_support, self
        else:
            if not isinstance(ep, IntervalSet):
                raise ArgumentTypeIOError("ep should be an object of type IntervalSet")  # pynapple's words and type
            obj = self.restrict(ep)
        t, values = obj.t, np.asarray(obj.values)
        lo, hi = kern.epoch_rows(t, ep.start, ep.end)
        n = hi - lo
        if np.any(n < len(array)):
            warnings.warn(
                f"Kernel size ({len(array)} samples) is larger than the number of samples in "
                f"{int(np.sum(n < len(array)))} out of {len(n)} epochs (shortest epoch has {n.min()} samples). "
                "The signal is zero-padded outside each epoch; expect artifacts.",
                UserWarning, stacklevel=3,
            )
        out = kern.convolve_epochs(values, lo, hi, array, trim)
        return self._wrap(out, t=ArrayTimeIndex(t, check=False), time_support=ep)

    def smooth(self, std: float, windowsize: float | None = None, time_units: str = "s", size_factor: int = 100,
               norm: bool = True) -> Any:
        """Convolve with a gaussian kernel of standard deviation ``std`` (in time units).

        Materialises the data.

        Examples
        --------
        >>> import numpy as np, napstream as nap
        >>> out = nap.Tsd(t=np.arange(100.0), d=np.ones(100)).smooth(2.0, windowsize=10.0)
        >>> round(float(out.d[50]), 6)
        1.0
        """
        from scipy import signal

        # pynapple's messages, exactly (its tests compare them); TypeError and IOError
        if isinstance(std, bool) or not isinstance(std, (int, float)):
            raise ArgumentTypeIOError("std should be type int or float")
        if isinstance(size_factor, bool) or not isinstance(size_factor, int):
            raise ArgumentTypeIOError("size_factor should be of type int")
        if not isinstance(norm, bool):
            raise ArgumentTypeIOError("norm should be of type boolean")
        if not isinstance(time_units, str):
            raise ArgumentTypeIOError("time_units should be of type str")
        if windowsize is not None and (isinstance(windowsize, bool) or not isinstance(windowsize, Number)):
            raise ArgumentTypeIOError("windowsize should be type int or float")
        self._check_units(time_units)
        std_size = self.rate * float(to_seconds(float(std), time_units))
        if windowsize is not None:
            if isinstance(windowsize, bool) or not isinstance(windowsize, Number):
                raise InvalidTypeError(f"windowsize must be an int or a float, got {type(windowsize).__name__}")
            M = int(self.rate * float(to_seconds(float(windowsize), time_units)))  # type: ignore[arg-type]
        else:
            M = int(std_size * size_factor)
        M += int(M % 2 == 0)
        window = signal.windows.gaussian(M=M, std=std_size)
        if norm:
            window = window / window.sum()
        return self._convolve(window, None, "both")

    def interpolate(self, ts: Any, ep: IntervalSet | None = None, left: float | None = None,
                    right: float | None = None) -> Any:
        """Linear interpolation of the data at the timestamps of ``ts``, epoch by epoch.

        In-memory objects use all their samples; lazy ones read only the samples bracketing
        each time of ``ts`` (binary search, run gathers).

        Examples
        --------
        >>> import napstream as nap
        >>> tsd = nap.Tsd(t=[0.0, 2.0], d=[0.0, 4.0])
        >>> tsd.interpolate(nap.Ts(t=[0.5, 1.0])).d
        array([1., 2.])
        """
        # pynapple's messages, exactly (its tests compare them); TypeError and IOError
        if not isinstance(ts, _TimeSeriesBase):
            raise ArgumentTypeIOError("First argument should be an instance of Ts, Tsd, TsdFrame or TsdTensor")
        for name, v in (("left", left), ("right", right)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, Number)):
                raise ArgumentTypeIOError(f"Argument {name} should be of type float or int")
        if ep is not None and not isinstance(ep, IntervalSet):
            raise ArgumentTypeIOError("ep should be an object of type IntervalSet")
        ep = self.time_support if ep is None else ep
        new_t = ts.restrict(ep).t
        lo, hi = self._epoch_rows(ep.start, ep.end)
        if self.is_lazy:
            samples = self._bracketing_samples(lo, hi)
        else:
            t, values = self.t, np.asarray(self.values)

            def samples(k: int, tq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                return t[lo[k]:hi[k]], values[lo[k]:hi[k]]
        d = kern.interpolate_epochs(new_t, ep.start, ep.end, samples, tuple(self.shape[1:]), left, right)
        return self._wrap(d, t=ArrayTimeIndex(new_t, check=False), time_support=ep)

    def _bracketing_samples(self, lo: np.ndarray, hi: np.ndarray) -> Any:
        """For lazy objects: per epoch, read only the samples around the query times."""
        def samples(k: int, tq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            a, b = int(lo[k]), int(hi[k])
            if b <= a:
                return np.zeros(0), np.zeros((0,) + tuple(self.shape[1:]))
            j = np.clip(np.asarray(self._t.searchsorted(tq, "right"), dtype=np.int64), a, b)
            rows = np.unique(np.concatenate([[a, b - 1], np.clip(j - 1, a, b - 1), np.clip(j, a, b - 1)]))
            d = self._d
            fp = d[rows] if isinstance(d, np.ndarray) else kern.gather_rows(d.read, rows)
            return kern.gather_rows(self._t.read, rows), np.asarray(fp)

        return samples

    def derivative(self, ep: IntervalSet | None = None) -> Any:
        """Time derivative (``np.gradient`` against the timestamps) epoch by epoch; materialises.

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Tsd(t=[0.0, 1.0, 2.0], d=[0.0, 2.0, 4.0]).derivative().d
        array([2., 2., 2.])
        """
        ep = self.time_support if ep is None else check_iset(ep, "ep")
        new_t = self.restrict(ep).t
        t_all, d_all = self.t, np.asarray(self.values)
        out = np.full((len(new_t),) + d_all.shape[1:], np.nan)
        pos = 0
        for a, b in zip(ep.start, ep.end):
            sl = self.get_slice(float(a), float(b))
            n = sl.stop - sl.start
            if n:
                out[pos:pos + n] = np.gradient(d_all[sl], t_all[sl], axis=0)
            pos += n
        return self._wrap(out, t=ArrayTimeIndex(new_t, check=False), time_support=ep)

    # ------------------------------------------------------------------ conversion / printing
    def _save_dict(self) -> dict[str, Any]:
        out = super()._save_dict()
        out["d"] = np.asarray(self.values)
        return out

    def _value_str(self, v: Any) -> str:
        return str(v)

    def __repr__(self) -> str:
        return repr_text.series_text(self)

    def __str__(self) -> str:
        return self.__repr__()


class Tsd(_BaseTsd):
    """A 1-D time series: timestamps and one value per timestamp.

    Parameters
    ----------
    t : array-like, pandas.Series, TimeIndex or LazyArray
        Sorted timestamps (or a pandas Series holding both times and values).
    d : array-like or LazyArray
        The values (length ``len(t)``).
    time_units : {'s', 'ms', 'us'}
    time_support : IntervalSet, optional
        Samples outside it are dropped (lazily for lazy objects).
    load_array : bool, default True
        Read array-likes (h5py datasets, memmaps) now; False keeps them lazy.

    Examples
    --------
    >>> import napstream as nap
    >>> tsd = nap.Tsd(t=[0.0, 1.0, 2.0], d=[5.0, 6.0, 7.0])
    >>> len(tsd), float(tsd.rate)
    (3, 1.5)
    """

    def __init__(self, t: Any, d: Any = None, time_units: str = "s", time_support: IntervalSet | None = None,
                 load_array: bool = True) -> None:
        if isinstance(t, pd.Series):
            t, d = t.index.to_numpy(), t.to_numpy()
        super().__init__(t, d, time_units, time_support, load_array)

    def as_series(self) -> pd.Series:
        """A pandas Series indexed by time (materialises).

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Tsd(t=[0.0, 1.0], d=[3.0, 4.0]).as_series().tolist()
        [3.0, 4.0]
        """
        return pd.Series(index=self.t, data=self.values, copy=True, dtype="float64")

    def as_units(self, units: str = "s") -> pd.Series:
        """A pandas Series indexed by time in ``units`` (microseconds as int64)."""
        ss = self.as_series()
        t = self.times(units)
        ss.index = t.astype(np.int64) if units == "us" else t
        ss.index.name = f"Time ({units})"
        return ss

    def threshold(self, thr: float, method: str = "above") -> Tsd:
        """Samples above/below ``thr``; the support becomes the epochs where the test holds.

        Lazy objects are streamed in chunks within ``napstream.config.memory_budget``.

        Parameters
        ----------
        thr : float
        method : {'above', 'below', 'aboveequal', 'belowequal'}

        Examples
        --------
        >>> import numpy as np, napstream as nap
        >>> tsd = nap.Tsd(t=np.arange(100.0), d=np.arange(100.0))
        >>> tsd.threshold(50).time_support.values.tolist()
        [[50.5, 99.0]]
        """
        if method not in ("above", "below", "aboveequal", "belowequal"):
            raise InvalidInputError(
                f"Method {method} for thresholding is not accepted."
            )
        if isinstance(thr, bool) or not isinstance(thr, Number):
            raise InvalidTypeError(f"thr must be a number, got {type(thr).__name__}")
        ts = self.time_support
        if self.is_lazy:  # streamed in chunks within the memory budget (ChunkedMixin)
            t, d, s, e = self._chunked_threshold(thr, method)
        else:
            t, d, s, e = kern.threshold(self.t, np.asarray(self.values), ts.start, ts.end, thr, method)
        return Tsd._raw(ArrayTimeIndex(t, check=False), d, IntervalSet(start=s, end=e), restrict=True)

    def to_tsgroup(self) -> Any:
        """A TsGroup with one unit per distinct integer value, holding that value's timestamps.

        Examples
        --------
        >>> import napstream as nap
        >>> len(nap.Tsd(t=[0.0, 1.0, 2.0], d=[0, 1, 0]).to_tsgroup())
        2
        """
        from .ts_group import TsGroup

        values = np.asarray(self.values)
        if not np.all(np.mod(values, 1) == 0):
            raise InvalidInputError("to_tsgroup needs integer values in the Tsd")
        t = self.t
        keys = np.unique(values.astype(np.int64))
        return TsGroup({int(k): Ts(t=t[values == k], time_support=self.time_support) for k in keys},
                       time_support=self.time_support)


class TsdFrame(MetadataMixin, _BaseTsd):
    """A 2-D time series: timestamps x labelled columns, with metadata per column.

    Parameters
    ----------
    t : array-like, pandas.DataFrame, TimeIndex or LazyArray
    d : 2-D (or 1-D) array-like or LazyArray
    time_units : {'s', 'ms', 'us'}
    time_support : IntervalSet, optional
    columns : list, optional
        Column labels (default ``0..n-1``).
    load_array : bool, default True
    metadata : pandas.DataFrame or dict, optional
        One row per column.

    Examples
    --------
    >>> import napstream as nap
    >>> tf = nap.TsdFrame(t=[0.0, 1.0], d=[[1, 2], [3, 4]], columns=["x", "y"])
    >>> tf.loc["y"].d, list(tf.columns)
    (array([2, 4]), ['x', 'y'])
    """

    _ndim_ok = (1, 2)

    def __init__(self, t: Any, d: Any = None, time_units: str = "s", time_support: IntervalSet | None = None,
                 columns: Any = None, load_array: bool = True, metadata: Any = None) -> None:
        if isinstance(t, pd.DataFrame):
            t, d, columns = t.index.to_numpy(), t.to_numpy(), t.columns.to_numpy()
        super().__init__(t, d, time_units, time_support, load_array, columns=columns, metadata=metadata)

    def _shape_data(self, data: Any) -> Any:
        data = super()._shape_data(data)
        if len(data.shape) == 1:
            data = data[:, None] if isinstance(data, np.ndarray) else data._replace(post=data.post + ((None,),))
        return data

    def _setup(self, t: TimeIndex, d: Any, time_support: IntervalSet | None, restrict: bool, **extra: Any) -> None:
        self._init_metadata()
        super()._setup(t, d, time_support, restrict, **extra)
        self._finish_metadata_init()

    def _setup_extra(self, columns: Any = None, metadata: Any = None, _md: dict | None = None) -> None:
        ncol = self._d.shape[1]
        if columns is None or len(columns) != ncol:
            columns = np.arange(ncol, dtype=int)
        self.columns = pd.Index(columns)
        if _md:  # internal: already validated columns of another TsdFrame
            self._metadata_store().update(_md)
        if metadata is not None:
            self.set_info(metadata)

    @property
    def _metadata_index(self) -> Any:
        return self.columns

    def _metadata_subset(self, labels: Any) -> Any:
        return self.loc[labels]

    def __getattr__(self, name: str) -> Any:
        store = self.__dict__.get("_metadata") or {}
        if name in store:
            return self.get_info(name)
        return _BaseTsd.__getattr__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        MetadataMixin.__setattr__(self, name, value)

    @property
    def loc(self) -> _LocIndexer:
        """Label-based column access: ``tf.loc['a']``, ``tf.loc[['a', 'b']]``, ``tf.loc[rows, 'a']``."""
        return _LocIndexer(self)

    def _col_positions(self, labels: Any) -> Any:
        if isinstance(labels, (list, np.ndarray, pd.Index)):
            pos = self.columns.get_indexer(labels)
            if (pos < 0).any():
                missing = [c for c, p in zip(labels, pos) if p < 0]
                raise KeyNotFoundError(f"columns {missing} not found; columns are {list(self.columns)}")
            return pos
        if labels not in self.columns:
            raise KeyNotFoundError(f"column {labels!r} not found; columns are {list(self.columns)}")
        return int(self.columns.get_loc(labels))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            key = tuple(np.asarray(k.values) if isinstance(k, _BaseTsd) else k for k in key)
        if isinstance(key, TsdFrame):
            if not np.issubdtype(key.dtype, np.bool_):
                raise InvalidInputError("When indexing with a TsdFrame, it must contain boolean values")
            return self.values[np.asarray(key.values)]
        if isinstance(key, str) or (
            isinstance(key, (list, np.ndarray, pd.Index)) and len(key) and all(isinstance(k, str) for k in key)
        ):
            labels = [key] if isinstance(key, str) else list(key)
            if all(k in self.columns for k in labels):
                return self.loc[key]
            return self.get_info(key)
        return super().__getitem__(key)

    def _wrap_indexed(self, key: Any, out: Any, index: TimeIndex) -> Any:
        columns = self.columns
        col_key = key[1] if isinstance(key, tuple) and len(key) == 2 else None
        if col_key is not None:
            columns = self.columns[col_key]
        if not hasattr(out, "shape"):
            return out
        if isinstance(key, tuple) and len(out.shape) == 1:
            if len(index) == 1 and not isinstance(col_key, (int, np.integer)):
                out = out[None, :]
            elif isinstance(col_key, (list, np.ndarray)) and np.ndim(columns) == 1 and len(columns) == 1:
                out = out[:, None]
        if len(out.shape) == 2:
            pos = np.arange(len(self.columns))[col_key] if col_key is not None else slice(None)
            return self._wrap(out, t=index, columns=columns, _md=self._metadata_take(pos))
        return self._wrap(out, t=index)

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str) and key not in self.columns:
            MetadataMixin.__setitem__(self, key, value)
            return
        if isinstance(key, str) or (isinstance(key, list) and key and all(isinstance(k, str) for k in key)):
            key = (slice(None), self._col_positions(key))
        _BaseTsd.__setitem__(self, key, value)

    def _check_metadata_name(self, name: Any) -> None:
        super()._check_metadata_name(name)
        if name in self.columns:
            raise InvalidInputError(f"Invalid metadata name '{name}'. Metadata name must differ from {list(self.columns)} column names!")

    def as_dataframe(self) -> pd.DataFrame:
        """A pandas DataFrame indexed by time (materialises).

        Examples
        --------
        >>> import napstream as nap
        >>> nap.TsdFrame(t=[0.0], d=[[1, 2]], columns=["a", "b"]).as_dataframe().columns.tolist()
        ['a', 'b']
        """
        return pd.DataFrame(index=self.t, data=self.values, columns=self.columns)

    def as_units(self, units: str = "s") -> pd.DataFrame:
        """A DataFrame indexed by time in ``units`` (microseconds as int64)."""
        t = self.times(units)
        df = pd.DataFrame(index=t.astype(np.int64) if units == "us" else t, data=self.values)
        df.index.name = f"Time ({units})"
        df.columns = self.columns.copy()
        return df

    def _save_dict(self) -> dict[str, Any]:
        out = super()._save_dict()
        out["columns"] = np.asarray(self.columns)
        out["_metadata"] = self._metadata_dict()
        return out

    def _to_pynapple(self, nap: Any, support: Any) -> Any:
        md = self.metadata
        return nap.TsdFrame(t=self.t, d=np.asarray(self.values), time_support=support, columns=self.columns,
                            metadata=md if len(md.columns) else None)


class _LocIndexer:
    """``tsdframe.loc[...]``: columns by label (and rows by position, like pynapple)."""

    def __init__(self, frame: TsdFrame) -> None:
        self.frame = frame

    def __getitem__(self, key: Any) -> Any:
        f = self.frame
        if isinstance(key, tuple):
            rows, cols = key[0], key[1]
            return f[rows, f._col_positions(cols)]
        if isinstance(key, pd.Series):
            key = key.to_numpy()
        pos = f._col_positions(key)
        if isinstance(pos, np.ndarray) and len(pos) == 1:  # pynapple: one label -> Tsd
            pos = int(pos[0])
        return f[:, pos]


class TsdTensor(_BaseTsd):
    """A time series with 3 or more dimensions (time x ...).

    Parameters
    ----------
    t : array-like, TimeIndex or LazyArray
    d : array-like or LazyArray with ``ndim >= 3``
    time_units : {'s', 'ms', 'us'}
    time_support : IntervalSet, optional
    load_array : bool, default True

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> nap.TsdTensor(t=[0.0, 1.0], d=np.zeros((2, 3, 4))).shape
    (2, 3, 4)
    """

    _ndim_ok = tuple(range(3, 33))

    def __init__(self, t: Any, d: Any = None, time_units: str = "s", time_support: IntervalSet | None = None,
                 load_array: bool = True) -> None:
        super().__init__(t, d, time_units, time_support, load_array)


class Ts(TsTrialMethods, _TimeSeriesBase):
    """Timestamps only (e.g. spike times).

    Parameters
    ----------
    t : array-like, TimeIndex or LazyArray
    time_units : {'s', 'ms', 'us'}
    time_support : IntervalSet, optional

    Examples
    --------
    >>> import napstream as nap
    >>> ts = nap.Ts(t=[0.5, 1.5, 2.5])
    >>> ts.count(1.0, ep=nap.IntervalSet(0, 3)).d
    array([1, 1, 1])
    """

    def __init__(self, t: Any, time_units: str = "s", time_support: IntervalSet | None = None) -> None:
        tidx, _ = as_time_index_sorting(t, self._check_units(time_units), "t")
        self._setup(tidx, None, as_support(time_support), True)

    def __getitem__(self, key: Any) -> Ts:
        if isinstance(key, tuple):  # ts[rows, ...]: a Ts has no other axis (pynapple takes the rows too)
            key = key[0] if key else slice(None)
        if isinstance(key, _BaseTsd):
            key = np.asarray(key.values)
        if isinstance(key, list) or (isinstance(key, np.ndarray) and key.dtype != bool):
            key = np.asarray(key, dtype=np.int64)
        index = self._t[key]
        if not isinstance(index, TimeIndex):
            index = ArrayTimeIndex(np.array([index]), check=False)
        elif not key_is_ordered(key) and not index.is_lazy:
            check_timestamps(index.load(), "t (indexed)")
        return Ts._raw(index, None, self.time_support)

    def __repr__(self) -> str:
        return repr_text.series_text(self)

    def __str__(self) -> str:
        return self.__repr__()

    def as_series(self) -> pd.Series:
        """A pandas Series of NaNs indexed by time (materialises)."""
        return pd.Series(index=self.t, dtype="object")

    def as_units(self, units: str = "s") -> pd.Series:
        """A pandas Series indexed by time in ``units``."""
        t = self.times(units)
        ss = pd.Series(index=t.astype(np.int64) if units == "us" else t, dtype="object")
        ss.index.name = f"Time ({units})"
        return ss

    def fillna(self, value: Any) -> Tsd:
        """A Tsd with ``value`` at every timestamp."""
        if not isinstance(value, Number):
            raise InvalidTypeError(f"value must be a number, got {type(value).__name__}")
        return Tsd._raw(self._t, np.full(len(self), value), self.time_support)

    def _to_pynapple(self, nap: Any, support: Any) -> Any:
        return nap.Ts(t=self.t, time_support=support)


register_classes(Ts=Ts, Tsd=Tsd, TsdFrame=TsdFrame, TsdTensor=TsdTensor)
