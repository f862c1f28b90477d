"""IntervalSet: a sorted set of non-overlapping ``[start, end]`` epochs in seconds, with metadata.

Behaves like pynapple's ``IntervalSet`` (same constructor forms, fix-ups, warnings, algebra and
metadata rules) with one deliberate difference: an interval whose start is after its end raises
:class:`~napstream.errors.InvalidInputError` naming the interval, instead of being dropped.
The algebra lives in :mod:`napstream.core._interval_kernels` (pure numpy functions).

Examples
--------
>>> ep = IntervalSet(start=[0, 10, 20], end=[5, 12, 33], metadata={"label": ["a", "b", "c"]})
>>> float(ep.tot_length())
20.0
>>> ep.intersect(IntervalSet(4, 11)).values.tolist()
[[4.0, 5.0], [10.0, 11.0]]
"""

from __future__ import annotations

import os
import shutil
import warnings
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import (
    ArgumentIOError, ArgumentTypeIOError, ArgumentTypeRuntimeError, InvalidInputError, InvalidTypeError, KeyNotFoundError,
    NapstreamError, UnknownFormatError, missing_dependency,
)
from . import _interval_kernels as K
from .metadata import MetadataMixin
from .units import check_units, from_seconds, to_seconds

__all__ = ["IntervalSet"]


class IntervalColumnError(KeyNotFoundError, IndexError):
    """Unknown string key on an IntervalSet (pynapple raises IndexError; KeyError also matches)."""


class ImmutableError(NapstreamError, RuntimeError):
    """Attempt to modify the start/end values of an IntervalSet."""


def _as_1d(x: Any, name: str) -> np.ndarray:
    """One of start/end as a float64 1-D array (numbers, lists, tuples, Series, arrays)."""
    if isinstance(x, Number) and not isinstance(x, bool):
        return np.array([x], dtype=np.float64)
    if isinstance(x, pd.Series):
        x = x.values
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, (dict, set)):
        raise UnknownFormatError(  # pynapple's message, exactly; a TypeError and a RuntimeError
            f"Unknown format for {name}. Accepted formats are numpy.ndarray, list, tuple or any array-like objects."
        )
    if not isinstance(x, (np.ndarray, list, tuple)):
        from .utils import is_array_like, warn_conversion

        if is_array_like(x):
            warn_conversion(x, name)
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001 - any conversion failure is a type problem
        raise InvalidTypeError(f"{name} must be a number or an array of times, got {type(x).__name__}") from err
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InvalidTypeError(f"{name} must be numeric times, got an array of dtype {arr.dtype}")
    return np.ravel(arr).astype(np.float64)


def _from_pairs(pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``IntervalSet(start)`` without ``end``: an iterable of (start, end) pairs or one pair."""
    if hasattr(pairs, "shape") and tuple(pairs.shape) == (0, 2):
        return np.zeros(0), np.zeros(0)
    if isinstance(pairs, (str, bytes, Number)) or pairs is None:
        raise InvalidInputError(
            "IntervalSet(start) without end needs (start, end) pairs, e.g. [[0, 5], [10, 12]]; "
            f"got {type(pairs).__name__}"
        )
    try:
        arr = np.array(list(pairs))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"IntervalSet(start) without end needs (start, end) pairs; could not read {type(pairs).__name__}"
        ) from err
    if arr.size % 2 or (arr.ndim >= 2 and arr.shape[-1] != 2):
        raise InvalidInputError(
            f"IntervalSet(start) without end needs (start, end) pairs; got an array of shape {arr.shape}"
        )
    arr = arr.reshape(-1, 2)
    return _as_1d(arr[:, 0], "start"), _as_1d(arr[:, 1], "end")


def _read_inputs(start: Any, end: Any, metadata: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    if isinstance(start, IntervalSet):
        return start.start.astype(np.float64), start.end.astype(np.float64), metadata
    if isinstance(start, pd.DataFrame):
        if "start" not in start.columns or "end" not in start.columns:
            raise InvalidInputError(
                f"a DataFrame given as start must have 'start' and 'end' columns, got {list(start.columns)}"
            )
        if np.any(start["start"].diff() < 0):
            warnings.warn("DataFrame is not sorted by start times. Sorting it.", stacklevel=3)
            start = start.sort_values("start").reset_index(drop=True)
        meta = start.drop(columns=["start", "end"])
        return _as_1d(start["start"], "start"), _as_1d(start["end"], "end"), meta
    if end is None:
        s, e = _from_pairs(start)
        return s, e, metadata
    s, e = _as_1d(start, "start"), _as_1d(end, "end")
    if len(s) != len(e):
        raise InvalidInputError("Starts end ends are not of the same length")  # pynapple's wording
    return s, e, metadata


def _drop_nan_rows(s: np.ndarray, e: np.ndarray, metadata: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    nan = np.isnan(s) | np.isnan(e)
    if not nan.any():
        return s, e, metadata
    warnings.warn(f"{int(nan.sum())} row(s) with NaN start/end time(s) were dropped.", stacklevel=3)
    valid = ~nan
    if isinstance(metadata, pd.DataFrame):
        metadata = metadata.iloc[valid].reset_index(drop=True)
    elif isinstance(metadata, dict):
        metadata = {k: np.asarray(v)[valid] for k, v in metadata.items()}
    return s[valid], e[valid], metadata


def _check_values(s: np.ndarray, e: np.ndarray) -> None:
    if not (np.isfinite(s).all() and np.isfinite(e).all()):
        bad = int(np.flatnonzero(~(np.isfinite(s) & np.isfinite(e)))[0])
        raise InvalidInputError(
            f"start and end must be finite times; interval {bad} is [{float(s[bad])}, {float(e[bad])}]"
        )
    # start > end is not an error: as in pynapple, such intervals are dropped with the warning
    # "Some ends precede the relative start. Dropping them!" (K.fix_intervals)


def _sort_separately(s: np.ndarray, e: np.ndarray, has_meta: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """pynapple sorts starts and ends independently when either is not strictly increasing."""
    out = {"start": s, "end": e}
    for name, arr in out.items():
        if not (arr[1:] > arr[:-1]).all():
            msg1 = f"Cannot add metadata to unsorted {name} times. " if has_meta else ""
            msg2 = " and dropping metadata" if has_meta else ""
            warnings.warn(f"{name} is not sorted. {msg1}Sorting it{msg2}.", stacklevel=3)
            out[name] = np.sort(arr)
    return out["start"], out["end"], out["start"] is not s or out["end"] is not e


class IntervalSet(NDArrayOperatorsMixin, MetadataMixin):
    """A set of epochs ``[start, end]`` in seconds, sorted and non-overlapping, with metadata.

    Parameters
    ----------
    start : number, array-like, (n, 2) pairs, pandas.DataFrame with start/end columns, or IntervalSet
        Starts of the intervals, or all intervals at once when ``end`` is omitted. A DataFrame's
        other columns become metadata.
    end : number or array-like, optional
        Ends of the intervals.
    time_units : {'s', 'ms', 'us'}
        Units of ``start`` and ``end``.
    metadata : pandas.DataFrame or dict, optional
        One value per interval for each column.

    Raises
    ------
    InvalidInputError
        Mismatched lengths, non-finite times, or an interval whose start is after its end.
    InvalidTypeError
        Non-numeric start/end.

    Notes
    -----
    As pynapple: NaN rows are dropped, unsorted starts/ends are sorted, overlapping intervals are
    joined, zero-length intervals dropped and touching intervals shortened by 1 microsecond, each
    with pynapple's warning; metadata is dropped whenever intervals were joined, dropped or sorted.

    Examples
    --------
    >>> ep = IntervalSet(start=[0, 10], end=[5, 20])
    >>> len(ep), ep.start.tolist(), ep.end.tolist()
    (2, [0.0, 10.0], [5.0, 20.0])
    >>> IntervalSet([[0, 5], [10, 20]]).values.tolist()
    [[0.0, 5.0], [10.0, 20.0]]
    """

    nap_class = "IntervalSet"

    def __init__(self, start: Any, end: Any = None, time_units: str = "s", metadata: Any = None) -> None:
        self._init_metadata()
        check_units(time_units)
        s, e, metadata = _read_inputs(start, end, metadata)
        s = np.asarray(to_seconds(s, time_units), dtype=np.float64)
        e = np.asarray(to_seconds(e, time_units), dtype=np.float64)
        s, e, metadata = _drop_nan_rows(s, e, metadata)
        _check_values(s, e)
        s, e, drop_meta = _sort_separately(s, e, metadata is not None)
        data, flags = K.fix_intervals(s, e)
        if flags.any():
            warnings.warn("\n".join(m for m, f in zip(K.FIX_WARNINGS, flags) if f), stacklevel=2)
            if flags[1:].any() and metadata is not None:
                drop_meta = True
                warnings.warn("epochs have changed, dropping metadata.", stacklevel=2)
        data.setflags(write=False)
        self.values = data
        self.index = np.arange(data.shape[0], dtype=int)
        self.columns = np.array(["start", "end"])
        self._finish_metadata_init()
        if not drop_meta and metadata is not None and len(metadata):
            self.set_info(metadata)

    @property
    def _metadata_index(self) -> np.ndarray:
        return self.index

    @property
    def metadata_index(self) -> np.ndarray:
        """Row labels of the metadata (``0 .. n-1``)."""
        return self.index

    # -- accessors ---------------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        """Start times in seconds."""
        return self.values[:, 0]

    @property
    def end(self) -> np.ndarray:
        """End times in seconds."""
        return self.values[:, 1]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def ndim(self) -> int:
        return self.values.ndim

    @property
    def size(self) -> int:
        return self.values.size

    def __len__(self) -> int:
        return self.values.shape[0]

    def __iter__(self):
        # pynapple iterates through __getitem__: one single-interval IntervalSet per row
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return format_interval_table(self)

    def _repr_html_(self) -> str:
        from .repr_html import intervalset_html

        return intervalset_html(self)

    def __str__(self) -> str:
        return self.__repr__()

    # -- numpy protocol ------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values.astype(dtype) if dtype is not None else self.values.copy()

    def __array_ufunc__(self, ufunc, method, *args, **kwargs):  # noqa: ANN001
        args = tuple(a.values if isinstance(a, IntervalSet) else a for a in args)
        out = getattr(ufunc, method)(*args, **kwargs)
        warnings.warn("Converting IntervalSet to numpy.array", UserWarning, stacklevel=2)
        return out

    def __array_function__(self, func, types, args, kwargs):  # noqa: ANN001
        args = tuple(a.values if isinstance(a, IntervalSet) else a for a in args)
        out = func._implementation(*args, **kwargs)
        warnings.warn("Converting IntervalSet to numpy.array", UserWarning, stacklevel=2)
        return out

    # -- indexing ------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key == "start":
                return self.values[:, 0]
            if key == "end":
                return self.values[:, 1]
            if key in self._metadata:
                return self.get_info(key)
            raise IntervalColumnError(
                "Unknown string argument. Should be in ['start', 'end']" if not self.metadata_columns
                else f"Unknown string argument. Should be in {['start', 'end'] + self.metadata_columns}"
            )
        if isinstance(key, list) and key and all(isinstance(x, str) for x in key):
            return self.get_info(key)
        if isinstance(key, tuple):
            if len(key) != 2:
                raise IndexError("too many indices for IntervalSet: IntervalSet is 2-dimensional")
            out = self.values[key]
            col = key[1]
            if isinstance(col, slice) and col.start in (None, 0) and (col.stop is None or col.stop > 1):
                return IntervalSet(out)
            return out
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        out = self.values[key]
        return IntervalSet(out.reshape(-1, 2), metadata=self._metadata_take(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str) and key not in ("start", "end"):
            MetadataMixin.__setitem__(self, key, value)
            return
        raise ImmutableError("IntervalSet is immutable. Starts and ends have been already sorted.")

    @property
    def loc(self) -> _IntervalSetLoc:
        """pandas-like access: ``ep.loc[i]`` (row values), ``ep.loc['start']``, ``ep.loc[i, 'end']``."""
        return _IntervalSetLoc(self)

    # -- set algebra ---------------------------------------------------------------------
    def _check_other(self, a: Any, name: str = "a") -> IntervalSet:
        if not isinstance(a, IntervalSet):
            raise InvalidTypeError(f"{name} must be an IntervalSet, got {type(a).__name__}")
        return a

    def intersect(self, a: IntervalSet) -> IntervalSet:
        """Intersection with another IntervalSet; metadata of both sides is kept (shared names dropped).

        Examples
        --------
        >>> IntervalSet([0, 10], [5, 20]).intersect(IntervalSet(3, 12)).values.tolist()
        [[3.0, 5.0], [10.0, 12.0]]
        """
        a = self._check_other(a)
        s, e, m = K.intersect(self.start, self.end, a.start, a.end)
        m1 = self._metadata_take(m[:, 0])
        m2 = a._metadata_take(m[:, 1])
        shared = set(m1) & set(m2)
        meta = {k: v for k, v in m1.items() if k not in shared}
        meta.update({k: v for k, v in m2.items() if k not in shared})
        return IntervalSet(s, e, metadata=meta)

    def union(self, a: IntervalSet) -> IntervalSet:
        """Union with another IntervalSet (metadata is dropped, with a warning, as pynapple).

        Examples
        --------
        >>> IntervalSet(0, 5).union(IntervalSet(3, 8)).values.tolist()
        [[0.0, 8.0]]
        """
        a = self._check_other(a)
        if self.metadata_columns:
            warnings.warn(
                "metadata incompatible with union method. dropping metadata from result", UserWarning,
                stacklevel=2,
            )
        s, e = K.union(self.start, self.end, a.start, a.end)
        return IntervalSet(s, e)

    def set_diff(self, a: IntervalSet) -> IntervalSet:
        """The parts of this set not covered by ``a``; each piece keeps its interval's metadata.

        Examples
        --------
        >>> IntervalSet(0, 10).set_diff(IntervalSet(2, 3)).values.tolist()
        [[0.0, 2.0], [3.0, 10.0]]
        """
        a = self._check_other(a)
        s, e, m = K.set_diff(self.start, self.end, a.start, a.end)
        return IntervalSet(s, e, metadata=self._metadata_take(m))

    def in_interval(self, tsd: Any) -> np.ndarray:
        """Index of the interval holding each timestamp of ``tsd`` (NaN outside every interval).

        Uses only ``tsd.time_index.searchsorted`` and its length, so lazy series are not read.

        Examples
        --------
        >>> from napstream.core.time_index import ArrayTimeIndex
        >>> class T:
        ...     time_index = ArrayTimeIndex([1.0, 6.0, 12.0])
        >>> IntervalSet([0, 10], [5, 20]).in_interval(T()).tolist()
        [0.0, nan, 1.0]
        """
        index = getattr(tsd, "time_index", None)
        if index is None or not hasattr(index, "searchsorted"):
            raise InvalidTypeError(
                f"tsd must be a time series with a time_index (Ts, Tsd, TsdFrame...), got {type(tsd).__name__}"
            )
        lo = np.asarray(index.searchsorted(self.start, side="left"), dtype=np.int64)
        hi = np.asarray(index.searchsorted(self.end, side="right"), dtype=np.int64)
        return K.in_interval_rows(lo, hi, len(index))

    def _threshold(self, threshold: Any, time_units: str, name: str = "threshold") -> float:
        check_units(time_units)
        if isinstance(threshold, bool) or not isinstance(threshold, (Number, np.number)):
            raise InvalidTypeError(f"{name} must be a number, got {type(threshold).__name__}")
        return float(to_seconds(np.array([threshold], dtype=np.float64), time_units)[0])

    def drop_short_intervals(self, threshold: float, time_units: str = "s") -> IntervalSet:
        """Keep intervals strictly longer than ``threshold`` (metadata kept).

        Examples
        --------
        >>> IntervalSet([0, 10], [1, 20]).drop_short_intervals(2).values.tolist()
        [[10.0, 20.0]]
        """
        thr = self._threshold(threshold, time_units)
        return self[(self.end - self.start) > thr]

    def drop_long_intervals(self, threshold: float, time_units: str = "s") -> IntervalSet:
        """Keep intervals strictly shorter than ``threshold`` (metadata kept).

        Examples
        --------
        >>> IntervalSet([0, 10], [1, 20]).drop_long_intervals(2).values.tolist()
        [[0.0, 1.0]]
        """
        thr = self._threshold(threshold, time_units)
        return self[(self.end - self.start) < thr]

    def merge_close_intervals(self, threshold: float, time_units: str = "s") -> IntervalSet:
        """Join intervals separated by gaps <= ``threshold`` (metadata dropped, with a warning).

        Examples
        --------
        >>> IntervalSet([0, 5.5], [5, 10]).merge_close_intervals(1).values.tolist()
        [[0.0, 10.0]]
        """
        if self.metadata_columns:
            warnings.warn(
                "metadata incompatible with merge_close_intervals method. dropping metadata from result",
                UserWarning, stacklevel=2,
            )
        thr = self._threshold(threshold, time_units)
        if len(self) == 0:
            return IntervalSet(start=[], end=[])
        s, e = K.merge_close(self.start, self.end, thr)
        return IntervalSet(start=s, end=e)

    def time_span(self) -> IntervalSet:
        """One interval from the first start to the last end (metadata dropped, with a warning).

        Examples
        --------
        >>> IntervalSet([0, 10], [5, 20]).time_span().values.tolist()
        [[0.0, 20.0]]
        """
        if self.metadata_columns:
            warnings.warn(
                "metadata incompatible with time_span method. dropping metadata from result", UserWarning,
                stacklevel=2,
            )
        if len(self) == 0:
            return IntervalSet(start=[], end=[])
        return IntervalSet(self.values[0, 0], self.values[-1, 1])

    def tot_length(self, time_units: str = "s") -> float:
        """Total duration of the intervals, in ``time_units``.

        Examples
        --------
        >>> float(IntervalSet([0, 10], [5, 20]).tot_length("ms"))
        15000.0
        """
        total = np.sum(self.values[:, 1] - self.values[:, 0])
        return from_seconds(np.array([total]), time_units)[0]

    def split(self, interval_size: float, time_units: str = "s") -> IntervalSet:
        """Cut every interval into pieces of ``interval_size`` (shorter leftovers are skipped).

        As pynapple, each piece ends 1 microsecond early so pieces never touch; metadata is
        repeated for the pieces of each interval.

        Examples
        --------
        >>> IntervalSet(0, 3).split(1).values.tolist()
        [[0.0, 0.999999], [1.0, 1.999999], [2.0, 2.999999]]
        """
        if isinstance(interval_size, bool) or not isinstance(interval_size, (Number, np.number)):
            raise ArgumentTypeIOError("Argument interval_size should of type float or int")  # pynapple's
        if not interval_size > 0:
            raise ArgumentIOError("Argument interval_size should be strictly larger than 0")
        if not isinstance(time_units, str):
            raise ArgumentTypeIOError("Argument time_units should be of type str")  # pynapple's wording
        size = self._threshold(interval_size, time_units, "interval_size")
        if len(self) == 0:
            return IntervalSet(start=[], end=[])
        size = float(np.round(size, 9))
        if size <= 1e-6:  # pieces end 1 us early: shorter pieces would have end < start
            raise InvalidInputError(f"interval_size must be longer than 1 microsecond, got {size!r} s")
        s, e, rows = K.split_points(self.start, self.end, size)
        return IntervalSet(s, e - 1e-6, metadata=self._metadata_take(rows))

    # -- views and conversions -------------------------------------------------------------
    def _ts(self, t: np.ndarray, **kwargs: Any) -> Any:
        from .time_series import Ts  # the Ts classes live above this module

        return Ts(t=t, **kwargs)

    @property
    def starts(self) -> Any:
        """The starts as a Ts (deprecated in pynapple, kept for compatibility)."""
        warnings.warn(
            "starts is a deprecated function. It will be removed in future versions",
            category=DeprecationWarning, stacklevel=2,
        )
        return self._ts(self.values[:, 0].copy())

    @property
    def ends(self) -> Any:
        """The ends as a Ts (deprecated in pynapple, kept for compatibility)."""
        warnings.warn(
            "ends is a deprecated function. It will be removed in future versions",
            category=DeprecationWarning, stacklevel=2,
        )
        return self._ts(self.values[:, 1].copy())

    def get_intervals_center(self, alpha: float = 0.5) -> Any:
        """A Ts at ``start + (end - start) * alpha`` of each interval (``alpha`` clipped to [0, 1]).

        Examples
        --------
        >>> IntervalSet([0, 10], [4, 20]).get_intervals_center().t.tolist()
        [2.0, 15.0]
        """
        if not isinstance(alpha, float):
            raise ArgumentTypeRuntimeError(f"Parameter alpha should be float type, got {type(alpha).__name__}")
        alpha = float(np.clip(alpha, 0, 1))
        return self._ts(self.start + (self.end - self.start) * alpha, time_support=self)

    def as_dataframe(self) -> pd.DataFrame:
        """start/end and the metadata columns as a DataFrame.

        Examples
        --------
        >>> IntervalSet([0, 10], [5, 20], metadata={"x": [1, 2]}).as_dataframe().columns.tolist()
        ['start', 'end', 'x']
        """
        df = pd.DataFrame(data=self.values.copy(), columns=["start", "end"])
        return pd.concat([df, self.metadata], axis=1)

    def as_units(self, units: str = "s") -> pd.DataFrame:
        """start/end in ``units`` as a DataFrame (integers for 'us').

        Examples
        --------
        >>> IntervalSet(0, 1.5).as_units("ms").values.tolist()
        [[0.0, 1500.0]]
        """
        data = from_seconds(self.values.copy(), units)
        if units == "us":
            data = data.astype(np.int64)
        return pd.DataFrame(index=self.index, data=data, columns=self.columns)

    def save(self, filename: str | Path) -> None:
        """Save to ``filename`` (``.npz``, pynapple's layout: start, end, type, _metadata).

        Examples
        --------
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "ep.npz")
        >>> IntervalSet([0, 10], [5, 20]).save(path)
        >>> IntervalSet.load(path).values.tolist()
        [[0.0, 5.0], [10.0, 20.0]]
        """
        from .npz import npz_path

        path = npz_path(filename)
        np.savez(
            path, start=self.values[:, 0], end=self.values[:, 1],
            type=np.array(["IntervalSet"], dtype=np.str_), _metadata=dict(self._metadata),
        )

    @classmethod
    def load(cls, filename: str | Path) -> IntervalSet:
        """Read an IntervalSet saved by :meth:`save` or by pynapple (see :meth:`save` for an example)."""
        with np.load(filename, allow_pickle=True) as f:
            if "type" not in f or str(f["type"][0]) != "IntervalSet":
                raise InvalidInputError(f"{str(filename)!r} does not hold an IntervalSet")
            return cls._from_npz_reader(f)

    @classmethod
    def _from_npz_reader(cls, file: Any) -> IntervalSet:
        """Build from an open npz file with keys start, end (and _metadata), as pynapple's loader."""
        ep = cls(start=file["start"], end=file["end"])
        meta = file["_metadata"].item() if "_metadata" in file and file["_metadata"] else None
        if meta:
            if isinstance(next(iter(meta.values())), dict):
                meta = pd.DataFrame.from_dict(meta)
            ep.set_info(meta)
        return ep

    def to_pynapple(self) -> Any:
        """The same intervals and metadata as a ``pynapple.IntervalSet`` (needs pynapple).

        Examples
        --------
        >>> ep = IntervalSet([0, 10], [5, 20], metadata={"x": [1, 2]}).to_pynapple()  # doctest: +SKIP
        >>> type(ep).__module__  # doctest: +SKIP
        'pynapple.core.interval_set'
        """
        try:
            import pynapple
        except ImportError as err:
            raise missing_dependency("pynapple", "pynapple") from err
        out = pynapple.IntervalSet(self.start.copy(), self.end.copy())
        if self.metadata_columns:
            out.set_info(**{k: np.array(v) for k, v in self._metadata.items()})
        return out

    @classmethod
    def from_pynapple(cls, obj: Any) -> IntervalSet:
        """Build from a ``pynapple.IntervalSet`` (values and metadata are copied).

        Examples
        --------
        >>> import pynapple  # doctest: +SKIP
        >>> IntervalSet.from_pynapple(pynapple.IntervalSet(0, 5)).values.tolist()  # doctest: +SKIP
        [[0.0, 5.0]]
        """
        if type(obj).__name__ != "IntervalSet" or not hasattr(obj, "values"):
            raise InvalidTypeError(f"obj must be a pynapple.IntervalSet, got {type(obj).__name__}")
        ep = cls(np.asarray(obj.values, dtype=np.float64).reshape(-1, 2))
        store = getattr(obj, "_metadata", None)
        if store is not None and len(store):
            ep.set_info(**{k: np.array(v) for k, v in dict(store).items()})
        return ep


class _IntervalSetLoc:
    """``IntervalSet.loc``: pandas-like access kept from pynapple."""

    def __init__(self, ep: IntervalSet) -> None:
        self.ep = ep

    def __getitem__(self, key: Any) -> Any:
        names = ["start", "end"] + self.ep.metadata_columns
        if isinstance(key, str) and key in names:
            return self.ep[key]
        if isinstance(key, list):
            return self.ep[key]
        if isinstance(key, (int, np.integer)):
            return self.ep.values[key]
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], str) and key[1] in names:
            out = self.ep[key[0]][key[1]]
            return out[0] if len(out) == 1 else out
        raise IndexError(f"unsupported key for IntervalSet.loc: {key!r}")


# -- repr: pynapple's table (tabulate "plain" rules, re-implemented) ------------------------------
def _terminal_size() -> tuple[int, int]:
    try:
        cols, rows = os.get_terminal_size()
    except OSError:
        cols, rows = shutil.get_terminal_size()
    return cols, rows


def _meta_strings(col: np.ndarray) -> list[str]:
    """Metadata values as display strings (2 decimals for floats, arrays printed compactly)."""
    arr = np.asarray(col)
    if arr.ndim > 1:
        return [np.array2string(np.asarray(a), precision=2) for a in arr]
    if np.issubdtype(arr.dtype, np.floating):
        return [str(x) for x in np.around(arr, decimals=2).astype(str)]
    return [str(x) for x in arr]


def _as_number(s: str) -> float | int | None:
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return None


def _after_point(s: str) -> int:
    pos = s.rfind(".")
    pos = s.lower().rfind("e") if pos < 0 else pos
    return len(s) - pos - 1 if pos >= 0 else -1


def _format_column(header: str, cells: list[str]) -> list[str]:
    """Header + cells of one column, padded: numbers right/decimal aligned, text left aligned."""
    nums = [_as_number(c) for c in cells]
    numeric = bool(cells) and all(n is not None for n in nums)
    if numeric:
        is_int = all(isinstance(n, int) for n in nums)
        cells = [str(n) if is_int else format(float(n), "g") for n in nums]  # type: ignore[arg-type]
        dec = [-1 if is_int else _after_point(c) for c in cells]
        cells = [c + " " * (max(dec) - d) for c, d in zip(cells, dec)]
    width = max([len(header) + 2] + [len(c) for c in cells])
    if numeric:
        return [header.rjust(width)] + [c.rjust(width) for c in cells]
    return [header.ljust(width)] + [c.ljust(width) for c in cells]


def format_interval_table(ep: IntervalSet) -> str:
    """The text table pynapple prints for an IntervalSet."""
    cols, rows = _terminal_size()
    max_cols, max_rows = max(cols // 12, 5), max(rows - 10, 2)
    shown = ep.metadata_columns[:max_cols]
    headers = ["index", "start", "end"] + shown
    extra = ["..."] if len(headers) > max_cols else []
    headers += extra
    bottom = f"shape: {ep.shape}, time unit: sec."
    if len(ep) == 0:
        line1 = "  ".join(h.ljust(len(h) + 2) for h in headers).rstrip()
        line2 = "  ".join("-" * (len(h) + 2) for h in headers)
        return f"{line1}\n{line2}\n{bottom}"
    n = len(ep)
    rows_idx = np.arange(n) if n <= max_rows else np.r_[0 : max_rows // 2, n - max_rows // 2 : n]
    gap = n > max_rows
    meta = {c: _meta_strings(ep._metadata[c][rows_idx]) for c in shown}
    columns = [
        [str(i) for i in ep.index[rows_idx]],
        [str(v) if gap else repr(float(v)) for v in ep.values[rows_idx, 0]],
        [str(v) if gap else repr(float(v)) for v in ep.values[rows_idx, 1]],
    ] + [meta[c] for c in shown] + [["..."] * len(rows_idx) for _ in extra]
    if gap:
        half = max_rows // 2
        columns = [c[:half] + ["..."] + c[half:] for c in columns]
    formatted = [_format_column(h, c) for h, c in zip(headers, columns)]
    lines = ["  ".join(parts).rstrip() for parts in zip(*formatted)]
    return "\n".join(lines + [bottom])
