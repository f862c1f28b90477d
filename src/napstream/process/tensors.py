"""Trial tensors: slice a time series (or count spikes) per epoch and stack the trials.

``build_tensor`` aligns trials of unequal length to their start or end and pads them;
``warp_tensor`` stretches every trial to the same number of bins (bin-averaging, interpolating or
counting). Both read only the rows inside the epochs: a lazy series is read one trial at a time.
The names, arguments, shapes and errors are pynapple's.

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> tsd = nap.Tsd(t=np.arange(100.0), d=np.arange(100.0))
>>> nap.build_tensor(tsd, nap.IntervalSet([20, 40], [22, 43]))
array([[20., 21., 22., nan],
       [40., 41., 42., 43.]])
"""

from __future__ import annotations

from numbers import Integral, Number
from typing import Any

import numpy as np

from ..core.interval_set import IntervalSet
from ..errors import InvalidTypeError
from ._validate import classes

__all__ = ["build_tensor", "warp_tensor"]

_INPUT_TYPES = "['Ts', 'Tsd', 'TsdFrame', 'TsdTensor', 'TsGroup']"


def _check_types(**params: tuple[Any, tuple[type, ...], str]) -> None:
    """Raise pynapple's TypeError for the first parameter whose value has the wrong type."""
    for name, (value, types, names) in params.items():
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types and Number in types):
            raise InvalidTypeError(f"Invalid type. Parameter {name} must be of type {names}.")


def _check_common(input: Any, epochs: Any) -> None:
    c = classes()
    _check_types(input=(input, (c.Ts, c.Tsd, c.TsdFrame, c.TsdTensor, c.TsGroup), _INPUT_TYPES),
                 epochs=(epochs, (IntervalSet,), "['IntervalSet']"))


def _is_spikes(input: Any) -> bool:
    c = classes()
    return isinstance(input, c.TsGroup) or (
        isinstance(input, c.Ts) and not isinstance(input, (c.Tsd, c.TsdFrame, c.TsdTensor)))


def build_tensor(input: Any, epochs: IntervalSet, bin_size: float | None = None, align: str = "start",
                 padding_value: float = np.nan, time_unit: str = "s") -> np.ndarray:
    """A trial-based tensor: the samples (or spike counts) of every epoch, aligned and padded.

    Parameters
    ----------
    input : Ts, Tsd, TsdFrame, TsdTensor or TsGroup
        What to slice. Spikes (Ts, TsGroup) are counted in bins of ``bin_size``; a time series
        contributes its samples inside each epoch.
    epochs : IntervalSet
        The trials (of any lengths).
    bin_size : float, optional
        Bin size for Ts and TsGroup inputs (required for them), in ``time_unit``.
    align : {'start', 'end'}, optional
        Align the trials to their start (default) or their end.
    padding_value : float, optional
        Value of the padding of shorter trials (default NaN).
    time_unit : {'s', 'ms', 'us'}, optional
        Unit of ``bin_size``.

    Returns
    -------
    numpy.ndarray
        (trials, time) for a Ts or Tsd; (units, trials, bins) for a TsGroup; (columns..., trials,
        time) for a TsdFrame or TsdTensor.

    Raises
    ------
    TypeError
        If a parameter has the wrong type.
    RuntimeError
        If ``align`` or ``time_unit`` is not one of the accepted values, or ``bin_size`` is
        missing for spikes (pynapple's error types).

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(t=np.arange(0, 100))})
    >>> nap.build_tensor(group, nap.IntervalSet([20, 40], [22, 44]), bin_size=1)
    array([[[ 1.,  1., nan, nan],
            [ 1.,  1.,  1.,  1.]]])
    """
    _check_common(input, epochs)
    if bin_size is not None:
        _check_types(bin_size=(bin_size, (Number,), "['Number']"))
    _check_types(align=(align, (str,), "['str']"), padding_value=(padding_value, (Number,), "['Number']"),
                 time_unit=(time_unit, (str,), "['str']"))
    if time_unit not in ("s", "ms", "us"):
        raise RuntimeError(f"time_unit should be 's', 'ms' or 'us', got {time_unit!r}")
    if align not in ("start", "end"):
        raise RuntimeError(f"align should be 'start' or 'end', got {align!r}")
    if _is_spikes(input):
        if not isinstance(bin_size, Number):
            raise RuntimeError("When input is a TsGroup or Ts object, bin_size should be specified")
        c = classes()
        if isinstance(input, c.TsGroup):
            return input.trial_count(epochs, bin_size, align, padding_value, time_unit)
        group = c.TsGroup({0: input}, time_support=input.time_support)
        return group.trial_count(epochs, bin_size, align, padding_value, time_unit)[0]
    return _series_tensor(input, epochs, align, padding_value)


def _trial_values(input: Any, epochs: IntervalSet) -> list[np.ndarray]:
    """The samples of every epoch (``start <= t <= end``), read one trial at a time."""
    out = []
    for s, e in zip(epochs.start, epochs.end):
        sl = input.get_slice(float(s), float(e))
        out.append(np.asarray(input[sl.start:sl.stop].values) if sl.stop > sl.start
                   else np.zeros((0, *input.shape[1:])))
    return out


def _series_tensor(input: Any, epochs: IntervalSet, align: str, padding_value: float) -> np.ndarray:
    trials = _trial_values(input, epochs)
    n_t = max((len(v) for v in trials), default=0)
    out = np.full((len(epochs), n_t, *input.shape[1:]), padding_value, dtype=np.float64)
    for i, v in enumerate(trials):
        if len(v):
            if align == "start":
                out[i, : len(v)] = v
            else:
                out[i, n_t - len(v):] = v
    return _trials_last(out)


def _trials_last(out: np.ndarray) -> np.ndarray:
    """(trials, time, *cols) -> (*cols, trials, time), pynapple's layout for frames and tensors."""
    return np.moveaxis(out, [0, 1], [-2, -1]) if out.ndim > 2 else out


def warp_tensor(input: Any, epochs: IntervalSet, num_bins: int) -> np.ndarray:
    """A trial tensor with every epoch linearly time-warped to ``num_bins`` bins.

    Spikes are counted in ``num_bins`` equal bins of each epoch. A time series is kept as is when
    an epoch holds exactly ``num_bins`` samples, bin-averaged when it holds more, and linearly
    interpolated at ``num_bins`` evenly spaced times when it holds fewer (NaN when empty).

    Parameters
    ----------
    input : Ts, Tsd, TsdFrame, TsdTensor or TsGroup
        What to warp.
    epochs : IntervalSet
        The trials.
    num_bins : int
        Number of bins of every trial.

    Returns
    -------
    numpy.ndarray
        (trials, num_bins) for a Ts or Tsd; (units, trials, num_bins) for a TsGroup; (columns...,
        trials, num_bins) for a TsdFrame or TsdTensor.

    Raises
    ------
    TypeError
        If a parameter has the wrong type.
    RuntimeError
        If ``num_bins`` is not positive (pynapple's error type).

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> tsd = nap.Tsd(t=np.arange(100), d=np.arange(100))
    >>> nap.warp_tensor(tsd, nap.IntervalSet([20, 40], [22, 44]), num_bins=3)
    array([[20. , 21. , 22. ],
           [40.5, 42. , 43. ]])
    """
    _check_common(input, epochs)
    _check_types(num_bins=(num_bins, (Integral,), "['int']"))
    if num_bins <= 0:
        raise RuntimeError(f"num_bins should be positive integer. Got {num_bins}.")
    if _is_spikes(input):
        return _warp_counts(input, epochs, int(num_bins))
    return _warp_series(input, epochs, int(num_bins))


def _warp_counts(input: Any, epochs: IntervalSet, num_bins: int) -> np.ndarray:
    c = classes()
    n_units = len(input) if isinstance(input, c.TsGroup) else 1
    out = np.zeros((n_units, len(epochs), num_bins))
    sizes = (epochs.end - epochs.start) / num_bins
    for i in range(len(epochs)):
        counts = input.count(float(sizes[i]), epochs[i])
        out[:, i, :] = np.asarray(counts.values).reshape(len(counts), -1).T
    return out if isinstance(input, c.TsGroup) else out[0]


def _warp_series(input: Any, epochs: IntervalSet, num_bins: int) -> np.ndarray:
    c = classes()
    out = np.zeros((len(epochs), num_bins, *input.shape[1:]))
    for i, (s, e) in enumerate(zip(epochs.start, epochs.end)):
        sl = input.get_slice(float(s), float(e))
        n = sl.stop - sl.start
        if n == 0:
            out[i] = np.nan
            continue
        trial = input[sl.start:sl.stop]
        if n == num_bins:
            out[i] = np.asarray(trial.values)
            continue
        trial = type(trial)(t=np.asarray(trial.t), d=np.asarray(trial.values))  # one trial in memory
        if n > num_bins:
            out[i] = np.asarray(trial.bin_average((e - s) / num_bins, epochs[i]).values)
        else:
            grid = c.Ts(t=np.linspace(s, e, num_bins))
            out[i] = np.asarray(trial.interpolate(ts=grid, ep=epochs[i]).values)
    return _trials_last(out)
