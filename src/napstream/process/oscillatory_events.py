"""Detect oscillatory events (ripples, spindles...) in a Tsd, pynapple's ``detect_oscillatory_events``.

The steps are pynapple's: band-pass filter, Hilbert envelope, moving-average smoothing, z-score,
keep the periods whose z-score lies inside ``threshold_band``, drop those shorter or longer than
``duration_band``, merge those closer than ``min_interval``, then report the power, amplitude and
peak time of the envelope in each event.

A lazy signal is processed chunk by chunk: the filter and the smoothing stream with margins (exact at
the seams), the envelope streams when it does not fit the budget (see :mod:`napstream.process.hilbert`),
the mean and standard deviation of the smoothed envelope are accumulated chunk by chunk, and the
thresholds are applied to the smoothed envelope (``z > thr`` is ``smoothed > mean + thr * std``) in
chunks. Only the samples above the lower threshold and the events' samples are held in memory.

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> t = np.arange(0, 5, 1 / 1000)
>>> x = np.where((t >= 3) & (t < 5), np.sin(2 * np.pi * 50 * t), 0.0)
>>> ev = nap.detect_oscillatory_events(nap.Tsd(t=t, d=x), nap.IntervalSet(0, 5), (40, 60), (1, 10), (0.1, 2), 0.02)
>>> len(ev), bool(abs(ev.start[0] - 3) < 0.05)
(1, True)
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from ..core.interval_set import IntervalSet
from ..errors import InvalidInputError, InvalidTypeError
from ._validate import classes

__all__ = ["detect_oscillatory_events"]


def _check_pair(name: str, val: Any) -> None:
    if not isinstance(val, tuple):
        raise InvalidTypeError(f"`{name}` must be a tuple, got {type(val)}")
    if len(val) != 2:
        raise InvalidInputError(f"`{name}` must have length 2, got {len(val)}")
    if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in val):
        raise InvalidTypeError(f"`{name}` must contain numeric values, got {val!r}")
    if val[0] >= val[1]:
        raise InvalidInputError(f"`{name}` must be (min, max) with min < max, got {val!r}")


def _check_inputs(data: Any, epochs: Any, bands: dict, min_interval: Any, fs: Any, window: Any) -> None:
    c = classes()
    if not isinstance(data, c.Tsd):
        raise InvalidTypeError(f"`data` must be `Tsd`, got {type(data)}")
    if not isinstance(epochs, IntervalSet):
        raise InvalidTypeError(f"`epochs` must be `IntervalSet`, got {type(epochs)}")
    for name, val in bands.items():
        _check_pair(name, val)
    if isinstance(min_interval, bool) or not isinstance(min_interval, numbers.Real):
        raise InvalidTypeError(f"`min_interval` must be a number, got {type(min_interval).__name__}")
    if min_interval < 0:
        raise InvalidInputError(f"`min_interval` must be >= 0, got {min_interval}")
    if fs is not None:
        if isinstance(fs, bool) or not isinstance(fs, numbers.Real):
            raise InvalidTypeError(f"`fs` must be a number or None, got {type(fs).__name__}")
        if fs <= 0:
            raise InvalidInputError(f"`fs` must be > 0, got {fs}")
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise InvalidTypeError(f"`sliding_window_size` must be an integer, got {type(window).__name__}")
    if window <= 0:
        raise InvalidInputError(f"`sliding_window_size` must be > 0, got {window}")


def _mean_std(sig: Any, engine: dict) -> tuple[float, float]:
    """Mean and standard deviation (ddof=0) of all samples: numpy's in memory, Chan's merge in chunks."""
    if not sig.is_lazy:
        values = np.asarray(sig.values)
        return float(np.mean(values)), float(np.std(values))
    from ..core.chunked import EpochStats, _chan
    from ..engine.runner import run

    support = sig.time_support
    means, stds, counts = run(EpochStats(len(support)), sig, ep=support, **engine)
    total = None
    for m, s, n in zip(means, stds, counts):
        if n:
            total = _chan(total, (int(n), float(m), float(s) ** 2 * int(n)))
    if total is None:
        return float("nan"), float("nan")
    n, mean, m2 = total
    return float(mean), float(np.sqrt(m2 / n))


def _smooth(envelope: Any, window: int, engine: dict) -> Any:
    """Moving average of ``window`` samples per epoch (pynapple's ``convolve``: zero-padded, centred)."""
    kernel = np.ones(window) / window
    if not envelope.is_lazy:
        return envelope.convolve(kernel)
    from ..engine.planner import series_parts
    from ._continuous import FirConvolve, run_writer

    t, d, support = series_parts(envelope)
    values = run_writer(FirConvolve(kernel), envelope, tuple(d.shape), np.float64, engine)
    return envelope._result_like(t, values, support)


def _event_stats(envelope: Any, events: IntervalSet) -> dict[str, list[float]]:
    powers, amplitudes, peaks = [], [], []
    for s, e in zip(events.start, events.end):
        seg = envelope.get(float(s), float(e))
        values = np.asarray(seg.values)
        if len(values) == 0:
            powers.append(np.nan)
            amplitudes.append(np.nan)
            peaks.append(np.nan)
            continue
        power = np.mean(values ** 2)
        powers.append(10 * np.log10(power) if power > 0 else np.nan)
        amplitudes.append(np.max(values))
        peaks.append(float(np.asarray(seg.t)[np.argmax(values)]))
    return {"power": powers, "amplitude": amplitudes, "peak_time": peaks}


def detect_oscillatory_events(
    data: Any, epochs: IntervalSet, frequency_band: tuple, threshold_band: tuple, duration_band: tuple,
    min_interval: float, fs: float | None = None, sliding_window_size: int = 51, *,
    max_memory: int | str | None = None, executor: Any = None, n_workers: int | None = None,
    progress: bool | None = None,
) -> IntervalSet:
    """Find the periods where a band of ``data`` oscillates strongly.

    Parameters
    ----------
    data : Tsd
        The signal (in memory or lazy).
    epochs : IntervalSet
        Where to look.
    frequency_band : (float, float)
        Band-pass cutoffs in Hz.
    threshold_band : (float, float)
        Lower and upper bounds of the z-scored smoothed envelope.
    duration_band : (float, float)
        Shortest and longest event, in seconds.
    min_interval : float
        Events closer than this (seconds) are merged.
    fs : float, optional
        Sampling rate in Hz (default ``data.rate``).
    sliding_window_size : int, optional
        Samples of the moving average that smooths the envelope (default 51).
    max_memory, executor, n_workers, progress : optional
        Chunk engine settings (see ``napstream.engine.runner.run``).

    Returns
    -------
    IntervalSet
        One interval per event with metadata ``power`` (dB of the mean squared envelope),
        ``amplitude`` (envelope maximum) and ``peak_time`` (time of that maximum).

    Raises
    ------
    TypeError, ValueError
        On a wrong type or value of any argument (pynapple's messages).

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> t = np.arange(0, 5, 1 / 1000)
    >>> x = np.where(t < 2, np.sin(2 * np.pi * 25 * t), 0.0)
    >>> ev = nap.detect_oscillatory_events(nap.Tsd(t=t, d=x), nap.IntervalSet(0, 5), (10, 30), (1, 10), (0.1, 2), 0.02)
    >>> ev.metadata_columns
    ['power', 'amplitude', 'peak_time']
    """
    bands = {"frequency_band": frequency_band, "threshold_band": threshold_band, "duration_band": duration_band}
    _check_inputs(data, epochs, bands, min_interval, fs, sliding_window_size)
    from .filtering import apply_bandpass_filter
    from .hilbert import compute_hilbert_envelope

    engine = dict(max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)
    fs = float(data.rate) if fs is None else float(fs)
    data = data.restrict(epochs)
    filtered = apply_bandpass_filter(data, frequency_band, fs, **engine)
    envelope = compute_hilbert_envelope(filtered, **engine)
    smoothed = _smooth(envelope, int(sliding_window_size), engine)
    mean, std = _mean_std(smoothed, engine)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Some epochs have no duration", category=UserWarning)
        if smoothed.is_lazy:  # z > thr  <=>  smoothed > mean + thr * std, thresholded in chunks
            above = smoothed.threshold(mean + threshold_band[0] * std, method="above")
            inside = above.threshold(mean + threshold_band[1] * std, method="below")
        else:  # the z-score itself, as pynapple computes it
            zscored = smoothed._result_like(smoothed.time_index, (np.asarray(smoothed.values) - mean) / std,
                                            smoothed.time_support)
            inside = zscored.threshold(threshold_band[0], method="above").threshold(threshold_band[1], method="below")
    events = inside.time_support
    events = events.drop_short_intervals(duration_band[0], time_units="s")
    events = events.drop_long_intervals(duration_band[1], time_units="s")
    events = events.merge_close_intervals(min_interval, time_units="s")
    return IntervalSet(start=events.start, end=events.end, metadata=_event_stats(envelope, events))
