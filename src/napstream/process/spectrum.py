"""Power spectra with pynapple's names: FFT, periodogram, Welch mean PSD (streamed), band power.

``compute_mean_power_spectral_density`` reads the signal window by window through the chunk
engine, so a recording far larger than memory costs one chunk plus the accumulated spectrum.
``compute_fft`` / ``compute_power_spectral_density`` transform one epoch at once (an FFT needs the
whole epoch), refusing epochs that do not fit the memory budget.

Examples
--------
>>> import napstream as nap, numpy as np
>>> t = np.arange(0, 10, 1 / 100)
>>> sig = nap.Tsd(t=t, d=np.sin(2 * np.pi * 10 * t))
>>> psd = nap.compute_mean_power_spectral_density(sig, interval_size=1.0, fs=100.0)
>>> round(float(psd.index[np.argmax(psd.values[:, 0])]))
10
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.interval_set import IntervalSet
from ..core.lazy import LazyArray
from ..engine.planner import series_parts
from ..engine.runner import run
from numbers import Number

from ..errors import InvalidInputError, InvalidTypeError
from ._continuous import (
    BandPowerWindows, EmptyEpochError, WelchSum, check_fits, check_series, interval_in_seconds, restricted_rows,
    sampling_rate, welch_frame, window_rows,
)

__all__ = [
    "compute_fft", "compute_power_spectral_density", "compute_mean_power_spectral_density", "compute_band_power",
]


def _check_flags(**flags: Any) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidTypeError(f"Invalid type. Parameter {name} must be of type {bool}. Got {type(value).__name__}.")


def _check_types(sig: Any, **params: Any) -> None:
    """pynapple's type checks of the spectrum functions (its messages; None means "not given")."""
    from ..core.time_series import Tsd, TsdFrame

    expected = {"fs": Number, "ep": IntervalSet, "n": int, "time_unit": str, "interval_size": Number,
                "overlap": float}
    if type(sig).__name__ not in ("Tsd", "TsdFrame") or not hasattr(sig, "_d"):
        raise InvalidTypeError(f"Invalid type. Parameter sig must be of type {(Tsd, TsdFrame)}. "
                               f"Got {type(sig).__name__}.")
    for name, value in params.items():
        kind = expected[name]
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise InvalidTypeError(f"Invalid type. Parameter {name} must be of type {kind}. Got {type(value).__name__}.")


def _check_one_epoch(sig: Any, ep: Any) -> None:
    support = sig.time_support if ep is None else ep
    if isinstance(support, IntervalSet) and len(support) != 1:
        raise InvalidInputError(
            f"Given epoch (or signal time_support) must have length 1, got {len(support)} epochs: "
            "pass one epoch as ep")


def _windows(sig: Any, ep: IntervalSet, size: float, overlap: float, interval_size: Any) -> tuple[np.ndarray, int]:
    """``window_rows`` with pynapple's RuntimeError messages."""
    if len(ep) == 0 or np.max(ep.end - ep.start) < size:
        raise EmptyEpochError(f"Splitting epochs with interval_size={interval_size} generated an empty "
                              "IntervalSet. Try decreasing interval_size")
    try:
        return window_rows(sig, ep, size, overlap)
    except EmptyEpochError as err:
        if "empty IntervalSet" in str(err):
            raise EmptyEpochError(f"Splitting epochs with interval_size={interval_size} generated an empty "
                                  "IntervalSet. Try decreasing interval_size") from None
        raise EmptyEpochError("One interval doesn't have any signal associated. Check the parameter ep or the "
                              "time support if no epoch is passed.") from None


def _epoch_values(sig: Any, ep: IntervalSet | None, max_memory: Any) -> np.ndarray:
    a, b = restricted_rows(sig, ep)
    _, d, _ = series_parts(sig)
    n_el = int(np.prod(d.shape[1:], dtype=np.int64)) if d.ndim > 1 else 1
    check_fits((b - a) * n_el * 40, max_memory, "an FFT of the whole epoch")
    block = d[a:b]
    return np.asarray(block.load() if hasattr(block, "load") else block)


def compute_fft(
    sig: Any, fs: float | None = None, ep: IntervalSet | None = None, full_range: bool = False,
    norm: bool = False, n: int | None = None, *, max_memory: int | str | None = None,
) -> pd.DataFrame:
    """FFT of a signal over one epoch (pynapple's ``compute_fft``).

    Parameters
    ----------
    sig : Tsd or TsdFrame
        Regularly sampled signal (may be lazy; only the epoch is read).
    fs : float, optional
        Sampling rate in Hz (default: ``sig.rate``).
    ep : IntervalSet, optional
        One epoch (default: the time support, which must then be one epoch).
    full_range : bool
        Keep negative frequencies too.
    norm : bool
        Divide the FFT by its length.
    n : int, optional
        FFT length (crop or zero-pad).
    max_memory : int or str, optional
        The epoch must fit this budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    pandas.DataFrame
        Complex FFT, indexed by frequency (sorted).

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> sig = nap.Tsd(t=np.arange(100) / 100, d=np.cos(2 * np.pi * 5 * np.arange(100) / 100))
    >>> fft = nap.compute_fft(sig, fs=100.0)
    >>> float(fft.index[np.argmax(np.abs(fft.values[:, 0]))])
    5.0
    """
    _check_types(sig, fs=fs, ep=ep, n=n)
    _check_flags(full_range=full_range, norm=norm)
    _check_one_epoch(sig, ep)
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise InvalidInputError(f"n must be a positive integer or None, got {n!r}")
    fs = sampling_rate(sig, fs)
    x = _epoch_values(sig, ep, max_memory)
    res = np.fft.fft(x, n=n, axis=0)
    freqs = np.fft.fftfreq(len(x) if n is None else n, 1.0 / fs)
    if norm:
        res = res / res.shape[0]
    out = pd.DataFrame(res, freqs).sort_index()
    return out if full_range else out.loc[out.index >= 0]


def compute_power_spectral_density(
    sig: Any, fs: float | None = None, ep: IntervalSet | None = None, full_range: bool = False,
    n: int | None = None, *, max_memory: int | str | None = None,
) -> pd.DataFrame:
    """Periodogram over one epoch (pynapple's ``compute_power_spectral_density``): ``|FFT|^2 / (fs n)``.

    Frequencies other than 0 and Nyquist are doubled when ``full_range`` is False.

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> sig = nap.Tsd(t=np.arange(1000) / 100, d=np.sin(2 * np.pi * 20 * np.arange(1000) / 100))
    >>> psd = nap.compute_power_spectral_density(sig, fs=100.0)
    >>> float(psd.index[np.argmax(psd.values[:, 0])])
    20.0
    """
    _check_types(sig, fs=fs, ep=ep, n=n)
    _check_flags(full_range=full_range)
    _check_one_epoch(sig, ep)
    fs = sampling_rate(sig, fs)
    if n is None:
        a, b = restricted_rows(sig, ep)
        n = b - a
    fft = compute_fft(sig, fs=fs, ep=ep, n=n, full_range=full_range, max_memory=max_memory)
    psd = (1.0 / (fs * n)) * np.abs(fft) ** 2
    if not full_range:
        doubled = (fft.index != 0) & (fft.index < fs / 2 - 1e-6)
        psd[doubled] *= 2
    return psd


def _stored_values(sig: Any) -> tuple[Any, Any, float]:
    """``((time_index, stored data), scale, offset)`` when ``sig`` is a lazy affine view of stored
    values (e.g. int16 samples x conversion), so Welch can scale power instead of every sample;
    else ``(sig, None, 0.0)``."""
    t, d, _ = series_parts(sig)
    if not isinstance(d, LazyArray) or (d.scale is None and d.offset == 0.0):
        return sig, None, 0.0
    if d.post or (d.scale is not None and d.scale.ndim > 0 and d.scale.size != int(np.prod(d.shape[1:]))):
        return sig, None, 0.0
    return (t, d._replace(scale=None, offset=0.0)), d.scale, d.offset


def compute_mean_power_spectral_density(
    sig: Any, interval_size: float, fs: float | None = None, overlap: float = 0.25,
    ep: IntervalSet | None = None, full_range: bool = False, time_unit: str = "s", *,
    max_memory: int | str | None = None, executor: Any = None, n_workers: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Welch mean PSD over windows of ``interval_size`` (Hamming taper), streamed chunk by chunk.

    Same windows, taper and scaling as pynapple's ``compute_mean_power_spectral_density``; the
    signal is read in chunks that fit ``max_memory`` and periodograms are accumulated.

    Parameters
    ----------
    sig : Tsd or TsdFrame
        Regularly sampled signal, in memory or lazy.
    interval_size : float
        Window duration (in ``time_unit``).
    fs : float, optional
        Sampling rate (default ``sig.rate``).
    overlap : float
        Fraction of overlap of successive windows, in [0, 1).
    ep : IntervalSet, optional
        Epochs to split into windows (default: the time support).
    full_range : bool
        Keep negative frequencies.
    time_unit : {'s', 'ms', 'us'}
        Unit of ``interval_size``.
    max_memory, executor, n_workers, progress
        Chunk engine settings (see ``napstream.engine.runner.run``).

    Returns
    -------
    pandas.DataFrame
        Mean PSD indexed by frequency, one column per channel.

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> sig = nap.Tsd(t=np.arange(2000) / 100, d=np.random.default_rng(0).normal(size=2000))
    >>> nap.compute_mean_power_spectral_density(sig, 1.0, fs=100.0, max_memory="1MB").shape
    (51, 1)
    """
    _check_types(sig, fs=fs, ep=ep, interval_size=interval_size, time_unit=time_unit,
                 overlap=float(overlap) if isinstance(overlap, int) and not isinstance(overlap, bool) else overlap)
    _check_flags(full_range=full_range)
    if not 0.0 <= overlap < 1.0:
        raise InvalidInputError(f"Overlap should be in intervals [0.0, 1.0). Got {overlap!r}.")
    size = interval_in_seconds(interval_size, time_unit)
    fs = sampling_rate(sig, fs)
    ep = sig.time_support if ep is None else ep
    starts, n = _windows(sig, ep, size, float(overlap), interval_size)
    series, scale, offset = _stored_values(sig)
    algo = WelchSum(starts, n, fs, tuple(sig.shape[1:]), scale=scale, offset=offset)
    # chunks cover all rows of the windows, epoch by epoch
    total = run(algo, series, ep=ep, max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)
    return welch_frame(algo, total, len(starts), full_range)


def compute_band_power(
    sig: Any, bands: Any, interval_size: float, fs: float | None = None, overlap: float = 0.0,
    ep: IntervalSet | None = None, time_unit: str = "s", *, max_memory: int | str | None = None,
    executor: Any = None, n_workers: int | None = None, progress: bool | None = None,
) -> Any:
    """Power in frequency bands over time (new in napstream), streamed chunk by chunk.

    The signal is cut into windows of ``interval_size`` (``overlap`` as in
    :func:`compute_mean_power_spectral_density`, all windows of the shortest window's sample
    count ``N``); in each window the one-sided periodogram of
    :func:`compute_power_spectral_density` is summed over ``lo <= f <= hi`` and multiplied by the
    frequency step ``fs / N``: the band's power (signal variance units). As in pynapple's one-sided
    periodogram, an even ``N``'s Nyquist frequency ``fs / 2`` is not part of it, so it never counts
    (earlier napstream builds counted it).

    Parameters
    ----------
    sig : Tsd or TsdFrame
        Regularly sampled signal.
    bands : dict of name -> (lo, hi), or sequence of (lo, hi)
        Frequency bands in Hz.
    interval_size : float
        Window duration (in ``time_unit``).
    fs, overlap, ep, time_unit, max_memory, executor, n_workers, progress
        As for :func:`compute_mean_power_spectral_density` (``overlap`` defaults to 0).

    Returns
    -------
    TsdFrame (Tsd input: one column per band) or TsdTensor (TsdFrame input: time x channel x band)
        Timestamped at the window starts.

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> t = np.arange(0, 10, 1 / 200)
    >>> sig = nap.Tsd(t=t, d=np.sin(2 * np.pi * 8 * t))
    >>> bp = nap.compute_band_power(sig, {"theta": (6, 10), "gamma": (30, 80)}, interval_size=1.0, fs=200.0)
    >>> bp.shape
    (9, 2)
    """
    from ..core import time_series as ts

    check_series(sig)
    names, edges = _parse_bands(bands)
    size = interval_in_seconds(interval_size, time_unit)
    if isinstance(overlap, bool) or not isinstance(overlap, (float, int)) or not 0.0 <= overlap < 1.0:
        raise InvalidInputError(f"overlap must be a float in [0, 1), got {overlap!r}")
    fs = sampling_rate(sig, fs)
    if edges.max() > fs / 2:
        raise InvalidInputError(f"bands must lie below the Nyquist frequency {fs / 2} Hz, got {edges.tolist()}")
    ep = sig.time_support if ep is None else ep
    starts, n = window_rows(sig, ep, size, float(overlap))
    series, scale, offset = _stored_values(sig)
    algo = BandPowerWindows(starts, n, fs, edges, tuple(sig.shape[1:]), scale=scale, offset=offset)
    rows = run(algo, series, ep=ep, max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)
    t, _, _ = series_parts(sig)
    times = np.concatenate([t.read(int(s), int(s) + 1) for s in starts])
    values = np.stack(rows)  # (windows, [channels,] bands)
    if sig.ndim == 1:
        return ts.TsdFrame(t=times, d=values.reshape(len(times), -1), columns=names, time_support=ep)
    return ts.TsdTensor(t=times, d=values.reshape((len(times),) + tuple(sig.shape[1:]) + (len(names),)),
                        time_support=ep)


def _parse_bands(bands: Any) -> tuple[list, np.ndarray]:
    if isinstance(bands, dict):
        names, pairs = list(bands), list(bands.values())
    elif isinstance(bands, (list, tuple, np.ndarray)):
        pairs = list(bands)
        names = list(range(len(pairs)))
    else:
        raise InvalidTypeError(f"bands must be a dict of name -> (lo, hi) or a list of pairs, got {type(bands).__name__}")
    try:
        edges = np.asarray(pairs, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"bands must be (lo, hi) pairs of Hz, got {bands!r}") from err
    if len(edges) == 0 or len(edges) != len(pairs) or (edges[:, 0] < 0).any() or (edges[:, 1] <= edges[:, 0]).any():
        raise InvalidInputError(f"bands must be non-empty (lo, hi) pairs with 0 <= lo < hi, got {bands!r}")
    return names, edges
