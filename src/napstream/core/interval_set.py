"""IntervalSet: a sorted set of non-overlapping [start, end] epochs, in memory.

(Skeleton: constructor and accessors. The algebra and metadata are being completed.)
"""

from __future__ import annotations

import warnings
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, InvalidTypeError
from .units import check_units, from_seconds, to_seconds

__all__ = ["IntervalSet"]


def _as_1d(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Number) and not isinstance(x, bool):
        return np.array([x], dtype=np.float64)
    if isinstance(x, pd.Series):
        x = x.values
    if isinstance(x, (str, bytes)) or x is None:
        raise InvalidTypeError(f"{name} must be a number or an array of times, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001
        raise InvalidTypeError(f"{name} must be a number or an array of times, got {type(x).__name__}") from err
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidTypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return np.ravel(arr).astype(np.float64)


def _fix_intervals(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Merge overlapping intervals and drop empty ones (pynapple's rules), warning as pynapple does."""
    n = len(start)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float64)
    msgs = []
    empty = end == start
    if empty.any():
        msgs.append("Some epochs have no duration")
    start, end = start[~empty], end[~empty]
    out_s: list[float] = []
    out_e: list[float] = []
    for s, e in zip(start.tolist(), end.tolist()):
        if out_s and s < out_e[-1]:
            if "Some starts precede the previous end. Joining them!" not in msgs:
                msgs.append("Some starts precede the previous end. Joining them!")
            out_e[-1] = max(out_e[-1], e)
        else:
            out_s.append(s)
            out_e.append(e)
    data = np.column_stack([np.asarray(out_s, dtype=np.float64), np.asarray(out_e, dtype=np.float64)])
    touching = data[1:, 0] == data[:-1, 1]
    if touching.any():
        msgs.insert(0, "Some starts and ends are equal. Removing 1 microsecond!")
        data[:-1, 1][touching] -= 1e-6
    if msgs:
        warnings.warn("\n".join(msgs), stacklevel=4)
    return data.reshape(-1, 2)


class IntervalSet:
    """A set of epochs ``[start, end]`` in seconds, sorted and non-overlapping.

    Parameters
    ----------
    start : number, array-like, (n, 2) array, pandas.DataFrame with start/end, or IntervalSet
    end : number or array-like, optional
    time_units : {'s', 'ms', 'us'}
    metadata : pandas.DataFrame or dict, optional

    Examples
    --------
    >>> ep = IntervalSet(start=[0, 10], end=[5, 20])
    >>> len(ep)
    2
    """

    def __init__(self, start: Any, end: Any = None, time_units: str = "s", metadata: Any = None) -> None:
        check_units(time_units)
        if isinstance(start, IntervalSet):
            s, e = start.start.copy(), start.end.copy()
        elif isinstance(start, pd.DataFrame):
            if "start" not in start.columns or "end" not in start.columns:
                raise InvalidInputError("a DataFrame given as start must have 'start' and 'end' columns")
            s, e = start["start"].to_numpy(np.float64), start["end"].to_numpy(np.float64)
        elif end is None:
            arr = np.asarray(start, dtype=np.float64) if not isinstance(start, Number) else None
            if arr is None or arr.size % 2 or (arr.ndim == 2 and arr.shape[1] != 2):
                raise InvalidInputError(
                    "IntervalSet(start) without end needs (n, 2) start-end pairs; "
                    f"got {type(start).__name__}"
                )
            arr = arr.reshape(-1, 2)
            s, e = arr[:, 0].copy(), arr[:, 1].copy()
        else:
            s, e = _as_1d(start, "start"), _as_1d(end, "end")
        if len(s) != len(e):
            raise InvalidInputError(f"start and end must have the same length, got {len(s)} and {len(e)}")
        s = np.asarray(to_seconds(s, time_units), dtype=np.float64)
        e = np.asarray(to_seconds(e, time_units), dtype=np.float64)
        nan = np.isnan(s) | np.isnan(e)
        if nan.any():
            warnings.warn(f"{int(nan.sum())} row(s) with NaN start/end time(s) were dropped.", stacklevel=2)
            s, e = s[~nan], e[~nan]
        if not (np.isfinite(s).all() and np.isfinite(e).all()):
            raise InvalidInputError("start and end must be finite times")
        if (s > e).any():
            i = int(np.flatnonzero(s > e)[0])
            raise InvalidInputError(
                f"start must be <= end for every interval; interval {i} has start={s[i]!r} > end={e[i]!r}"
            )
        if len(s) > 1 and (np.diff(s) < 0).any():
            order = np.argsort(s, kind="stable")
            s, e = s[order], e[order]
        self.values = _fix_intervals(s, e)

    # -- accessors ---------------------------------------------------------------------
    @property
    def start(self) -> np.ndarray:
        return self.values[:, 0]

    @property
    def end(self) -> np.ndarray:
        return self.values[:, 1]

    @property
    def index(self) -> np.ndarray:
        return np.arange(len(self), dtype=int)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def __iter__(self):
        return iter(self.values)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def __getitem__(self, key: Any) -> IntervalSet:
        if isinstance(key, (int, np.integer)):
            return IntervalSet(self.values[[int(key)]])
        return IntervalSet(self.values[key].reshape(-1, 2))

    def tot_length(self, time_units: str = "s") -> float:
        return float(from_seconds(np.sum(self.end - self.start), time_units))

    def as_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=["start", "end"])

    def __repr__(self) -> str:
        return f"IntervalSet({len(self)} intervals)\n{self.as_dataframe()!r}"
