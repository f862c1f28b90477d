"""numpy interoperability of Tsd, TsdFrame and TsdTensor (pynapple's rules).

* ``np.asarray(tsd)`` gives the values (materialises a lazy object);
* element-wise ufuncs (``np.exp(tsd)``, ``tsd + 1``, ``tsd > 0``, ``tsd * other_tsd``) return the
  same kind of object with the same time index and support; other time series must have the
  same number of samples;
* ``__array_function__``: functions that keep axis 0 (``np.mean(tsdframe, axis=1)``,
  ``np.cumsum``, ``np.abs``...) return a time series; those that reduce or move axis 0
  (``np.mean(tsd)``, ``np.mean(tsdframe, axis=0)``, ``np.transpose``) return plain arrays;
  ``np.concatenate``/``np.vstack``/``np.hstack``... join time series; sorting, taking and fft
  functions are refused (``NotImplemented``) as in pynapple.

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> tf = nap.TsdFrame(t=[0.0, 1.0], d=[[1.0, 3.0], [2.0, 4.0]])
>>> type(np.mean(tf, axis=1)).__name__, np.mean(tf, axis=0)
('Tsd', array([1.5, 3.5]))
>>> (nap.Tsd(t=[0.0, 1.0], d=[1.0, 2.0]) * 2).d
array([2., 4.])
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import ArgumentRuntimeError, InvalidInputError
from .interval_set import IntervalSet

__all__ = ["NumpyInteropMixin", "moves_time_axis"]

_REFUSED = {np.sort, np.lexsort, np.sort_complex, np.partition, np.argpartition, np.take,
            np.take_along_axis, np.extract, np.compress, np.choose, np.select, np.delete}
_SPLITS = {np.split, np.array_split, np.dsplit, np.hsplit, np.vsplit}
_JOINS = {np.concatenate, np.vstack, np.hstack, np.dstack, np.column_stack, np.stack}
_KEEP_AXIS0 = {np.unwrap, np.copy, np.cumsum, np.nancumsum, np.cumprod, np.nancumprod}


def _as_axes(value: Any, ndim: int) -> set[int] | None:
    """Normalised set of axes from an ``axis``-like argument (None = all axes)."""
    if value is None:
        return None
    vals = value if isinstance(value, (tuple, list)) else (value,)
    return {int(v) % max(ndim, 1) if int(v) < 0 else int(v) for v in vals}


def moves_time_axis(func: Any, args: tuple, kwargs: dict) -> bool:
    """True when ``func(*args, **kwargs)`` reduces, removes or moves axis 0 of ``args[0]``."""
    if func is np.flipud:
        return True
    if func is np.squeeze or func in _KEEP_AXIS0:
        return False
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return False
    bound.apply_defaults()
    a = bound.arguments
    ndim = getattr(args[0] if args else next(iter(a.values()), None), "ndim", None)
    if ndim is None:
        return False
    if "axis" in a:
        axes = _as_axes(a["axis"], ndim + (1 if func is np.expand_dims else 0))
        if axes is None or 0 in axes:
            return True
    if func is np.rollaxis and a.get("start", 0) == 0:
        return True
    if func is np.rot90 and 0 in tuple(a.get("axes", (0, 1))):
        return True
    if "axes" in a and func is not np.rot90:
        axes = a["axes"]
        if axes is None or (isinstance(axes, (tuple, list)) and list(axes).index(0) != 0):
            return True
    for name in ("source", "destination", "axis1", "axis2"):
        v = a.get(name)
        if v is not None and 0 in _as_axes(v, ndim):  # type: ignore[operator]
            return True
    return False


class NumpyInteropMixin(NDArrayOperatorsMixin):
    """numpy protocols for time series holding values (see the module docstring)."""

    __array_priority__ = 1000

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.values, dtype=dtype)  # type: ignore[attr-defined]

    def _operand(self, a: Any) -> Any:
        from .base_series import _TimeSeriesBase

        if isinstance(a, _TimeSeriesBase) and a._d is not None:
            if len(a) != len(self):  # type: ignore[arg-type]
                raise InvalidInputError(
                    f"time series operands must have the same number of samples, got {len(self)} and {len(a)}"  # type: ignore[arg-type]
                )
            return np.asarray(a.values)
        return a

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            return NotImplemented
        if "out" in kwargs:  # plain output arrays only (a time series cannot be written into)
            from .base_series import _TimeSeriesBase

            if any(isinstance(o, _TimeSeriesBase) for o in kwargs["out"]):
                return NotImplemented
            return self._wrap(ufunc(*[self._operand(a) for a in inputs], **kwargs))  # type: ignore[attr-defined]
        args = [self._operand(a) for a in inputs]
        out = ufunc(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(self._wrap(o) for o in out)  # type: ignore[attr-defined]
        return self._wrap(out)  # type: ignore[attr-defined]

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        if func in _REFUSED or getattr(func, "__module__", "").startswith("numpy.fft"):
            return NotImplemented
        if func in _SPLITS:
            return self._np_split(func, *args, **kwargs)
        if func in _JOINS:
            return _join(func, *args, **kwargs)
        new_args = tuple(self._operand(a) for a in args)
        new_kwargs = {k: self._operand(v) for k, v in kwargs.items()}
        out = func._implementation(*new_args, **new_kwargs)
        if moves_time_axis(func, new_args, new_kwargs):
            return out
        if hasattr(out, "shape") and tuple(out.shape) == tuple(self.shape):  # type: ignore[attr-defined]
            return self._wrap(out)  # type: ignore[attr-defined]
        return self._wrap(out, drop_metadata=True)  # type: ignore[attr-defined]

    def _np_split(self, func: Any, ary: Any, indices_or_sections: Any, axis: int = 0) -> Any:
        from .time_index import ArrayTimeIndex

        values = np.asarray(self.values)  # type: ignore[attr-defined]
        if func in (np.split, np.array_split, np.vsplit) and axis == 0:
            parts = func._implementation(values, indices_or_sections)
            # the times are 1-D: vsplit (rows of a 2-D+ array) cuts them as split does
            times = (np.split if func is np.vsplit else func._implementation)(self.t, indices_or_sections)  # type: ignore[attr-defined]
            return [self._wrap(d, t=ArrayTimeIndex(t, check=False), time_support=None, drop_metadata=True)  # type: ignore[attr-defined]
                    for t, d in zip(times, parts)]
        if func in (np.dsplit, np.hsplit):
            return [self._wrap(d, drop_metadata=True) for d in func._implementation(values, indices_or_sections)]  # type: ignore[attr-defined]
        return func._implementation(values, indices_or_sections, axis)


def _join(func: Any, arrays: Any, *args: Any, **kwargs: Any) -> Any:
    """np.concatenate & co. on time series: along time (times must increase) or along columns."""
    from .base_series import _TimeSeriesBase
    from .time_index import ArrayTimeIndex

    if func is np.concatenate and args and "axis" not in kwargs:
        kwargs["axis"] = args[0] if isinstance(args[0], int) else 0
        args = ()
    series = [a for a in arrays if isinstance(a, _TimeSeriesBase)]
    raw = [np.asarray(a.values) if isinstance(a, _TimeSeriesBase) else a for a in arrays]
    out = func._implementation(raw, *args, **kwargs)
    first = series[0]
    if out.shape[0] > raw[0].shape[0] and len(series) == len(raw):
        t = np.concatenate([s.t for s in series])
        if np.any(np.diff(t) <= 0):
            raise ArgumentRuntimeError(  # pynapple's message and type (RuntimeError)
                "The order of the time series indexes should be strictly increasing and non overlapping."
            )
        starts = np.concatenate([s.time_support.start for s in series])
        ends = np.concatenate([s.time_support.end for s in series])
        order = np.argsort(starts, kind="stable")
        support = IntervalSet(start=starts[order], end=ends[order])
        return first._wrap(out, t=ArrayTimeIndex(t, check=False), time_support=support)
    if out.shape[0] == len(first):
        if len(series) == 1:
            return first._wrap(out, drop_metadata=True)
        time_equal = _all_close([s.t for s in series])
        support_equal = _all_close([s.time_support.values for s in series])
        if time_equal and support_equal:
            extra = {}
            cols = [list(s.columns) for s in series if hasattr(s, "columns")]
            if cols and out.ndim == 2 and sum(len(c) for c in cols) == out.shape[1]:
                extra["columns"] = np.hstack(cols)
            return first._wrap(out, drop_metadata=True, **extra)
        # pynapple's rule: different clocks cannot share one index -> a numpy array, with a warning
        what = ("Time indexes and time supports are" if not (time_equal or support_equal)
                else "Time indexes are" if not time_equal else "Time supports are")
        warnings.warn(f"{what} not all equals up to pynapple precision. Returning numpy array!", stacklevel=3)
        return out
    return out


def _all_close(arrays: list) -> bool:
    """True when every array equals the first up to 1e-9 s (pynapple's time precision)."""
    a0 = np.asarray(arrays[0])
    return all(np.shape(a) == a0.shape and np.allclose(a, a0, rtol=0, atol=1e-9) for a in arrays[1:])
