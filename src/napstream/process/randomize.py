"""Surrogate spike trains: shift, shuffle, jitter or resample the timestamps of a Ts or TsGroup.

The four functions have pynapple's names, arguments and random draws: with the same
``np.random.seed`` they return the same timestamps as pynapple. Each output holds as many
timestamps as its input, so the input's timestamps are read once (per unit for a TsGroup) and
the surrogate is built in memory.

Examples
--------
>>> import napstream as nap
>>> ts = nap.Ts([25, 27, 33.3, 34.5])
>>> nap.shift_timestamps(ts, min_shift=1, max_shift=1).times()
array([26. , 28. , 34.3])
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ._validate import classes

__all__ = ["shift_timestamps", "shuffle_ts_intervals", "jitter_timestamps", "resample_timestamps"]


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, (bool, np.bool_))


def _check_ts_or_group(data: Any, message: str = "Invalid input type, should be Ts or TsGroup") -> bool:
    """True for a TsGroup, False for a Ts; anything else (Tsd, arrays...) is refused."""
    c = classes()
    if isinstance(data, c.TsGroup):
        return True
    if isinstance(data, c.Ts) and not isinstance(data, (c.Tsd, c.TsdFrame, c.TsdTensor)):
        return False
    raise InvalidTypeError(f"{message} (got {type(data).__name__}).")


def _times(obj: Any) -> np.ndarray:
    return np.asarray(obj.times(), dtype=np.float64)


def shift_timestamps(data: Any, min_shift: float = 0.0, max_shift: float | None = None, mode: str = "drop") -> Any:
    """Shift all timestamps by one random amount drawn uniformly in ``[min_shift, max_shift)``.

    Parameters
    ----------
    data : Ts or TsGroup
        The timestamps to shift; every unit of a TsGroup gets its own shift.
    min_shift : float, optional
        Smallest shift in seconds (default 0).
    max_shift : float, optional
        Largest shift in seconds (default: the total length of the time support).
    mode : {'drop', 'wrap'}, optional
        ``'drop'`` (default) drops the timestamps that fall outside the time support after the
        shift; ``'wrap'`` wraps them circularly between the first start and the last end of the
        time support (timestamps that then land in a gap between epochs are still dropped).

    Returns
    -------
    Ts or TsGroup
        The shifted timestamps, on the input's time support.

    Raises
    ------
    TypeError
        If ``data`` is not a Ts or TsGroup, or a shift is not a number.
    ValueError
        If ``mode`` is not ``'drop'`` or ``'wrap'``.

    Examples
    --------
    >>> import napstream as nap
    >>> ts = nap.Ts([38, 39.5], time_support=nap.IntervalSet(0, 40))
    >>> nap.shift_timestamps(ts, min_shift=5, max_shift=5, mode="wrap").times()
    array([3. , 4.5])
    """
    if not _is_number(min_shift):
        raise InvalidTypeError(f"min_shift should be a number. Got {type(min_shift).__name__}.")
    if max_shift is not None and not _is_number(max_shift):
        raise InvalidTypeError(f"max_shift should be a number. Got {type(max_shift).__name__}.")
    if mode not in ("drop", "wrap"):
        raise InvalidInputError(f"mode must be either 'drop' or 'wrap'. Got {mode!r}.")
    is_group = _check_ts_or_group(data, "Invalid input, data should be a Ts or TsGroup.")
    support = data.time_support
    if max_shift is None:
        max_shift = float(support.tot_length())
    first, last = float(support.start[0]), float(support.end[-1])

    def shift(times: np.ndarray) -> Any:
        shifted = times + np.random.uniform(min_shift, max_shift)
        if mode == "wrap":
            shifted = first + np.mod(shifted - first, last - first)
        return classes().Ts(t=np.sort(shifted), time_support=support)

    if not is_group:
        return shift(_times(data))
    c = classes()
    out = {}
    for k in data.keys():
        unit = data[k]
        if isinstance(unit, (c.Tsd, c.TsdFrame, c.TsdTensor)):
            warnings.warn(f"TsGroup entry {k} was not a Ts, but treating it as one!", UserWarning, stacklevel=2)
        out[k] = shift(_times(unit))
    return c.TsGroup(out, time_support=support)


def shuffle_ts_intervals(ts: Any) -> Any:
    """Randomise timestamps by shuffling the intervals between consecutive ones.

    The first timestamp stays; the intervals are permuted (``np.random.permutation``) and
    summed back from it.

    Parameters
    ----------
    ts : Ts or TsGroup
        The timestamps; every unit of a TsGroup is shuffled independently.

    Returns
    -------
    Ts or TsGroup
        The shuffled timestamps, with a time support inferred from them (as pynapple).

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> shuffled = nap.shuffle_ts_intervals(nap.Ts(t=[0.0, 1.0, 3.0, 6.0]))
    >>> sorted(np.diff(shuffled.times()).tolist())
    [1.0, 2.0, 3.0]
    """
    is_group = _check_ts_or_group(ts)
    c = classes()

    def shuffle(times: np.ndarray) -> Any:
        steps = np.random.permutation(np.diff(times))
        return c.Ts(t=np.concatenate([times[:1], times[0] + np.cumsum(steps)]) if len(times) else times)

    if not is_group:
        return shuffle(_times(ts))
    return c.TsGroup({k: shuffle(_times(ts[k])) for k in ts.keys()})


def jitter_timestamps(ts: Any, max_jitter: float | None = None, keep_tsupport: bool = False) -> Any:
    """Move every timestamp by its own random amount drawn uniformly in ``[-max_jitter, max_jitter)``.

    Parameters
    ----------
    ts : Ts or TsGroup
        The timestamps; every unit of a TsGroup is jittered independently.
    max_jitter : float
        The largest jitter in seconds (required).
    keep_tsupport : bool, optional
        If True, keep the input's time support (timestamps jittered out of it are dropped);
        if False (default), the time support is inferred from the jittered timestamps and
        every timestamp is kept.

    Returns
    -------
    Ts or TsGroup
        The jittered timestamps.

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> jittered = nap.jitter_timestamps(nap.Ts(t=np.arange(10.0)), max_jitter=0.1)
    >>> len(jittered), bool(np.all(np.abs(jittered.times() - np.arange(10.0)) <= 0.1))
    (10, True)
    """
    is_group = _check_ts_or_group(ts)
    if max_jitter is None:
        raise InvalidTypeError("missing required argument: max_jitter ")
    c = classes()

    def jitter(times: np.ndarray, support: Any) -> Any:
        moved = times + np.random.uniform(-max_jitter, max_jitter, len(times))
        return c.Ts(t=np.sort(moved), time_support=support)

    if not is_group:
        return jitter(_times(ts), ts.time_support if keep_tsupport else None)
    units = {k: jitter(_times(ts[k]), None) for k in ts.keys()}
    return c.TsGroup(units, time_support=ts.time_support if keep_tsupport else None)


def resample_timestamps(ts: Any) -> Any:
    """Draw as many timestamps as the input holds, uniformly at random.

    A Ts is resampled between its first and last timestamp; each unit of a TsGroup between the
    start and the end of the group's first epoch (as pynapple does).

    Parameters
    ----------
    ts : Ts or TsGroup
        The timestamps to resample.

    Returns
    -------
    Ts or TsGroup
        The resampled timestamps, on the input's time support.

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> resampled = nap.resample_timestamps(nap.Ts(t=np.arange(100.0)))
    >>> len(resampled), float(resampled.times().min()) >= 0.0
    (100, True)
    """
    is_group = _check_ts_or_group(ts)
    c = classes()
    support = ts.time_support
    if not is_group:
        n = len(ts)
        lo, hi = (ts.start_time(), ts.end_time()) if n else (0.0, 0.0)
        return c.Ts(t=np.sort(np.random.uniform(lo, hi, n)), time_support=support)
    lo, hi = float(support.start[0]), float(support.end[0])
    units = {k: c.Ts(t=np.sort(np.random.uniform(lo, hi, len(ts[k])))) for k in ts.keys()}
    return c.TsGroup(units, time_support=support)
