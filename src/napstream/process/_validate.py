"""Input checks shared by the spike and behaviour analyses (clear errors, no reads).

Every check names the parameter, what was expected and what came in, and raises the errors of
:mod:`napstream.errors` (which also inherit ``TypeError`` / ``ValueError``).

Examples
--------
>>> check_bool(True, "return_pandas")
True
>>> check_positive(0.5, "binsize")
0.5
"""

from __future__ import annotations

from numbers import Number
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core.interval_set import IntervalSet
from ..core.time_index import ArrayTimeIndex, TimeIndex
from ..core.units import check_units, to_seconds
from ..errors import InvalidInputError, InvalidTypeError

__all__ = [
    "classes", "type_name", "is_spikes", "is_continuous", "check_group", "check_epochs",
    "check_bool", "check_flag", "check_positive", "check_time_units", "to_s", "time_index_of", "data_of",
    "unit_segments",
]


def classes() -> SimpleNamespace:
    """The core classes (imported on use: the data model may still be loading)."""
    from ..core.time_series import Ts, Tsd, TsdFrame, TsdTensor
    from ..core.ts_group import TsGroup

    return SimpleNamespace(Ts=Ts, Tsd=Tsd, TsdFrame=TsdFrame, TsdTensor=TsdTensor, TsGroup=TsGroup)


def type_name(obj: Any) -> str:
    return type(obj).__name__


def is_spikes(obj: Any) -> bool:
    """True for a Ts (event times without values), False for Tsd/TsdFrame/TsdTensor."""
    c = classes()
    return isinstance(obj, c.Ts) and not isinstance(obj, (c.Tsd, c.TsdFrame, c.TsdTensor))


def is_continuous(obj: Any) -> bool:
    c = classes()
    return isinstance(obj, (c.Tsd, c.TsdFrame, c.TsdTensor))


def check_group(group: Any, name: str = "group") -> Any:
    """``group`` must be a TsGroup (a Tsd or a dict is refused with a clear message)."""
    c = classes()
    if not isinstance(group, c.TsGroup):
        raise InvalidTypeError(f"{name} must be a TsGroup, got {type_name(group)}")
    return group


def check_epochs(ep: Any, name: str = "ep", allow_none: bool = True) -> IntervalSet | None:
    if ep is None and allow_none:
        return None
    if not isinstance(ep, IntervalSet):
        raise InvalidTypeError(f"{name} must be an IntervalSet{' or None' if allow_none else ''}, got {type_name(ep)}")
    return ep


def check_bool(value: Any, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise InvalidTypeError(f"{name} must be a boolean, got {type_name(value)}")


def check_flag(value: Any, name: str, pynapple_type_message: bool = False) -> bool:
    """pynapple's boolean flags: a bool (numpy's too) or a number equal to 0 or 1, nothing else.

    ``pynapple_type_message`` selects pynapple's wording of the legacy functions
    ("Argument bitssec should be of type bool"), which also refuse 0/1.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if pynapple_type_message:
        raise InvalidTypeError(f"Argument {name} should be of type bool. Got {type_name(value)}.")
    if isinstance(value, Number) and value in (0, 1):
        return bool(value)
    raise InvalidTypeError(f"{name} should be a boolean. Got {type_name(value)}.")


def check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Number):
        raise InvalidTypeError(f"{name} must be a number, got {type_name(value)}")
    if not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value) if not isinstance(value, (int, np.integer)) else value


def check_time_units(units: Any, name: str = "time_units") -> str:
    if not isinstance(units, str):
        raise InvalidTypeError(f"{name} must be one of 's', 'ms', 'us', got {type_name(units)}")
    if units not in ("s", "ms", "us"):
        raise InvalidInputError(f"{name} must be one of 's', 'ms', 'us', got {units!r}")
    check_units(units)
    return units


def to_s(value: Any, units: str) -> Any:
    """A time (or array of times) in ``units`` as seconds, with pynapple's rounding."""
    return to_seconds(np.asarray(value, dtype=np.float64), units)


def time_index_of(obj: Any) -> TimeIndex:
    """The (possibly lazy) time index of a Ts/Tsd-like object; never reads data."""
    t = getattr(obj, "time_index", None)
    if t is None:
        t = getattr(obj, "_t", None)
    if isinstance(t, TimeIndex):
        return t
    if t is None:
        raise InvalidTypeError(f"expected a Ts, Tsd or TsdFrame, got {type_name(obj)}")
    return ArrayTimeIndex(np.asarray(t, dtype=np.float64), check=False)


def data_of(obj: Any) -> Any:
    """The (possibly lazy) data of a Tsd-like object, as a numpy array or a LazyArray."""
    d = getattr(obj, "lazy_data", None)
    if d is None:
        d = getattr(obj, "_d", None)
    if d is None:
        raise InvalidTypeError(f"expected a Tsd, TsdFrame or TsdTensor, got {type_name(obj)}")
    return d


def unit_segments(index: TimeIndex, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Rows of ``index`` inside each closed epoch (one segment per epoch, touching epochs clipped)."""
    from ..core.chunking import epoch_segments

    values = getattr(index, "values", None)
    if isinstance(index, ArrayTimeIndex) and isinstance(values, np.ndarray):
        index = _ArraySearch(values)  # in memory: numpy's search without the wrapper's checks
    return epoch_segments(index, np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64))


class _ArraySearch:
    """``searchsorted`` of an in-memory sorted float64 array (what ``ArrayTimeIndex`` does)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def searchsorted(self, q: np.ndarray, side: str = "left") -> np.ndarray:
        return np.searchsorted(self.values, q, side=side)
