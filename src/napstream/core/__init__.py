"""The data model: lazy time indexes and arrays, IntervalSet, Ts, Tsd, TsdFrame, TsdTensor, TsGroup."""

from .interval_set import IntervalSet
from .lazy import LazyArray, is_array_like
from .time_index import ArrayTimeIndex, RegularTimeIndex, TimeIndex, TsIndex, as_time_index
from . import utils  # noqa: F401  (nap.core.utils, as in pynapple)
from .npz import NPZFile

__all__ = [
    "IntervalSet", "LazyArray", "is_array_like", "TimeIndex", "ArrayTimeIndex", "RegularTimeIndex",
    "TsIndex", "as_time_index", "NPZFile",
]

try:  # the classes below land as the foundation grows
    from .time_series import Ts, Tsd, TsdFrame, TsdTensor  # noqa: F401

    __all__ += ["Ts", "Tsd", "TsdFrame", "TsdTensor"]
except ImportError:  # pragma: no cover - transitional
    pass
try:
    from .ts_group import TsGroup  # noqa: F401

    __all__ += ["TsGroup"]
except ImportError:  # pragma: no cover - transitional
    pass
