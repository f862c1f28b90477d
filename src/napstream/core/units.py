"""Time-unit conversion shared by every core class ('s', 'ms', 'us'), as pynapple does it.

Times are stored in seconds. Values given in ms/us are divided and rounded to 9 decimals, like
pynapple's ``TsIndex.format_timestamps``, so results match pynapple bit for bit.

>>> float(to_seconds(1500.0, "ms"))
1.5
>>> float(from_seconds(1.5, "us"))
1500000.0
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

TIME_UNITS = ("s", "ms", "us")
PRECISION = 9
_FACTOR = {"s": 1.0, "ms": 1.0e3, "us": 1.0e6}


def check_units(time_units: str) -> str:
    """Validate a ``time_units`` argument and return it."""
    if time_units not in _FACTOR:
        raise InvalidInputError(f"time_units argument should be 's', 'ms' or 'us'. Got {time_units!r}")
    return time_units


def to_seconds(t, time_units: str = "s"):
    """Convert times given in ``time_units`` to seconds (arrays or scalars)."""
    check_units(time_units)
    if time_units == "s":
        return t
    return np.around(np.asarray(t, dtype=np.float64) / _FACTOR[time_units], PRECISION)


def from_seconds(t, time_units: str = "s"):
    """Convert times in seconds to ``time_units`` (arrays or scalars)."""
    check_units(time_units)
    if time_units == "s":
        return t
    return np.around(np.asarray(t, dtype=np.float64) * _FACTOR[time_units], PRECISION)
