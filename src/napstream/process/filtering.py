"""Band-pass, low-pass, high-pass and band-stop filters with pynapple's names, chunked and exact.

* ``mode="butter"``: zero-phase Butterworth (``sosfiltfilt``) epoch by epoch, like pynapple. Each
  chunk is filtered with a margin on both sides long enough for the filter's impulse response to
  decay (below 1e-28 of its energy: 1e-14 in amplitude), so results at chunk seams equal the one-pass result.
* ``mode="sinc"``: windowed-sinc FIR, convolved per epoch (zero beyond epoch edges, centered) with
  overlap-add/overlap-save via margins of one kernel length.

In-memory inputs give in-memory outputs (like pynapple); lazy inputs are streamed into an HDF5
file and returned as a lazy series of the same class.

Examples
--------
>>> import napstream as nap, numpy as np
>>> t = np.arange(0, 10, 1 / 1000)
>>> sig = nap.Tsd(t=t, d=np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 200 * t))
>>> low = nap.apply_lowpass_filter(sig, 50.0)
>>> bool(np.abs(low.values[2000:8000] - np.sin(2 * np.pi * 5 * t[2000:8000])).max() < 0.01)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Number
from typing import Any

import numpy as np

from ..engine.planner import series_parts
from ..errors import InvalidInputError, InvalidTypeError


class InvalidDataError(InvalidTypeError, InvalidInputError):
    """``data`` of a filter is not a Tsd, TsdFrame or TsdTensor (a TypeError, and a ValueError as in pynapple)."""
from ._continuous import FirConvolve, SosFiltFilt, check_series, run_writer, sampling_rate, sos_margin

__all__ = [
    "apply_bandpass_filter", "apply_lowpass_filter", "apply_highpass_filter", "apply_bandstop_filter",
    "get_filter_frequency_response",
]

_ENGINE_DOC = """max_memory, executor, n_workers, progress : optional
        Chunk engine settings (see ``napstream.engine.runner.run``)."""


def _check_cutoff(cutoff: Any, filter_type: str, fs: float) -> np.ndarray:
    if filter_type in ("lowpass", "highpass"):
        if isinstance(cutoff, bool) or not isinstance(cutoff, Number):
            raise InvalidInputError(
                f"{filter_type} filter require a single number. {cutoff} provided instead "
                "(the cutoff frequency in Hz).")
    else:
        if (isinstance(cutoff, (str, bytes)) or not isinstance(cutoff, Iterable) or len(cutoff) != 2
                or not all(isinstance(f, Number) and not isinstance(f, bool) for f in cutoff)):
            raise InvalidInputError(
                f"{filter_type} filter require a tuple of two numbers. {cutoff} provided instead "
                "(the (low, high) cutoff frequencies in Hz).")
        if cutoff[0] >= cutoff[1]:
            raise InvalidInputError(f"cutoff must be (lo, hi) with lo < hi, got {tuple(cutoff)}")
    arr = np.asarray(cutoff, dtype=float)
    if (arr <= 0).any() or (arr >= fs / 2).any():
        raise InvalidInputError(
            f"cutoff must be between 0 and the Nyquist frequency {fs / 2} Hz (fs={fs}), got {arr.tolist()}"
        )
    return arr


def _check_arguments(cutoff: Any, fs: Any, order: Any, transition_bandwidth: Any, filter_type: str) -> None:
    """pynapple's argument checks, in its order and with its ValueErrors (before the data is looked at)."""
    if filter_type in ("lowpass", "highpass") and (isinstance(cutoff, bool) or not isinstance(cutoff, Number)):
        _check_cutoff(cutoff, filter_type, 1.0)
    if filter_type in ("bandpass", "bandstop"):
        if (isinstance(cutoff, (str, bytes)) or not isinstance(cutoff, Iterable) or len(cutoff) != 2
                or not all(isinstance(f, Number) and not isinstance(f, bool) for f in cutoff)):
            _check_cutoff(cutoff, filter_type, 1.0)
    if fs is not None and (isinstance(fs, bool) or not isinstance(fs, Number)):
        raise InvalidInputError(
            f"Invalid value for 'fs'. Parameter 'fs' should be of type float or int, got {type(fs).__name__}")
    if isinstance(order, bool) or not isinstance(order, int):
        raise InvalidInputError(
            f"Invalid value for 'order': Parameter 'order' should be of type int, got {order!r}")
    if not isinstance(transition_bandwidth, float):
        raise InvalidInputError(
            "Invalid value for 'transition_bandwidth'. 'transition_bandwidth' should be of type float, "
            f"got {transition_bandwidth!r}")


def sinc_kernel(cutoff: np.ndarray, filter_type: str, fs: float, transition_bandwidth: float) -> np.ndarray:
    """Blackman-windowed sinc kernel (Smith 2003, eq. 16-4), the same kernel pynapple builds."""
    m = int(np.rint(4.0 / transition_bandwidth))
    x = np.arange(-(m // 2), 1 + m // 2)
    fc = np.atleast_1d(cutoff / fs)
    kernels = np.sinc(2 * fc[None, :] * x[:, None]) * np.blackman(len(x))[:, None]
    kernels = kernels / kernels.sum(axis=0)

    def invert(k: np.ndarray) -> np.ndarray:
        k = -k
        k[len(k) // 2] += 1.0
        return k

    if filter_type == "lowpass":
        return kernels[:, 0]
    if filter_type == "highpass":
        return invert(kernels[:, 0])
    stop = kernels[:, 0] + invert(kernels[:, 1])
    return stop if filter_type == "bandstop" else invert(stop)


def _filter(data: Any, cutoff: Any, fs: Any, mode: str, order: int, transition_bandwidth: float,
            filter_type: str, engine: dict) -> Any:
    _check_arguments(cutoff, fs, order, transition_bandwidth, filter_type)
    if type(data).__name__ not in ("Tsd", "TsdFrame", "TsdTensor") or not hasattr(data, "_d"):
        # pynapple raises a ValueError here; InvalidDataError is also a TypeError
        raise InvalidDataError(
            f"Invalid value: {data}. First argument should be of type Tsd, TsdFrame or TsdTensor "
            f"(data is a {type(data).__name__})")
    if isinstance(data._d, np.ndarray) and np.issubdtype(data._d.dtype, np.floating) and np.isnan(data._d).any():
        raise InvalidInputError(
            "The input signal contains NaN values, which are not supported for filtering. "
            "Remove or handle them first, e.g. with the dropna() method.")
    if order < 1:
        raise InvalidInputError(f"order must be a positive int, got {order!r}")
    if not 0 < transition_bandwidth <= 0.5:
        raise InvalidInputError(f"transition_bandwidth must be a float in (0, 0.5], got {transition_bandwidth!r}")
    _check_mode(mode)
    fs = sampling_rate(data, fs)
    cut = _check_cutoff(cutoff, filter_type, fs)
    t, d, _ = series_parts(data)
    if mode == "butter":
        from scipy.signal import butter

        sos = butter(order, cut, btype=filter_type, fs=fs, output="sos")
        n_columns = int(np.prod(d.shape[1:], dtype=np.int64)) if d.ndim > 1 else 1
        algo: Any = SosFiltFilt(sos, sos_margin(sos, fs, float(cut.min())), d.dtype, n_columns)
        dtype = d.dtype
    else:
        algo = FirConvolve(sinc_kernel(cut, filter_type, fs, transition_bandwidth))
        dtype = np.float64
    values = run_writer(algo, data, tuple(d.shape), dtype, engine)
    return data._result_like(t, values, data.time_support)


def _make(filter_type: str, cutoff_doc: str) -> Any:
    def apply_filter(
        data: Any, cutoff: Any, fs: float | None = None, mode: str = "butter", order: int = 4,
        transition_bandwidth: float = 0.02, *, max_memory: int | str | None = None, executor: Any = None,
        n_workers: int | None = None, progress: bool | None = None,
    ) -> Any:
        engine = dict(max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)
        return _filter(data, cutoff, fs, mode, order, transition_bandwidth, filter_type, engine)

    apply_filter.__name__ = apply_filter.__qualname__ = f"apply_{filter_type}_filter"
    apply_filter.__doc__ = f"""Apply a {filter_type} filter (pynapple's ``apply_{filter_type}_filter``), chunk by chunk.

    Parameters
    ----------
    data : Tsd, TsdFrame or TsdTensor
        Signal (in memory or lazy). Filtered epoch by epoch of its time support.
    cutoff : {cutoff_doc}
        Cutoff frequency(ies) in Hz, strictly between 0 and the Nyquist frequency.
    fs : float, optional
        Sampling rate in Hz (default ``data.rate``).
    mode : {{'butter', 'sinc'}}
        Zero-phase Butterworth of ``order``, or windowed-sinc FIR of ``transition_bandwidth``.
    order : int
        Butterworth order (default 4).
    transition_bandwidth : float
        Fraction of ``fs`` (default 0.02); smaller means a longer kernel.
    {_ENGINE_DOC}

    Returns
    -------
    Tsd, TsdFrame or TsdTensor
        Same class and timestamps; in memory for in-memory data (butter keeps the input dtype,
        like pynapple), else lazy over an HDF5 file written chunk by chunk.

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> sig = nap.Tsd(t=np.arange(2000) / 1000, d=np.random.default_rng(0).normal(size=2000))
    >>> nap.apply_{filter_type}_filter(sig, {'50.0' if filter_type in ('lowpass', 'highpass') else '(50.0, 100.0)'}).shape
    (2000,)
    """
    return apply_filter


apply_bandpass_filter = _make("bandpass", "(float, float)")
apply_bandstop_filter = _make("bandstop", "(float, float)")
apply_highpass_filter = _make("highpass", "float")
apply_lowpass_filter = _make("lowpass", "float")


def get_filter_frequency_response(
    cutoff: Any, fs: float, filter_type: str, mode: str, order: int = 4, transition_bandwidth: float = 0.02
) -> Any:
    """Magnitude response of a filter as a pandas Series indexed by frequency (pynapple's helper).

    Examples
    --------
    >>> resp = get_filter_frequency_response(100.0, 1000.0, "lowpass", "butter")
    >>> bool(resp.iloc[0] > 0.99)
    True
    """
    import pandas as pd

    if filter_type not in ("lowpass", "highpass", "bandpass", "bandstop"):
        raise InvalidInputError(f"filter_type must be lowpass, highpass, bandpass or bandstop, got {filter_type!r}")
    _check_arguments(cutoff, fs, order, transition_bandwidth, filter_type)
    cut = _check_cutoff(cutoff, filter_type, float(fs))
    _check_mode(mode)
    if mode == "butter":
        from scipy.signal import butter, sosfreqz

        w, h = sosfreqz(butter(order, cut, btype=filter_type, fs=fs, output="sos"), worN=1024, fs=fs)
        return pd.Series(index=w, data=np.abs(h))
    k = sinc_kernel(cut, filter_type, float(fs), transition_bandwidth)
    f = np.fft.fftshift(np.fft.fftfreq(len(k), 1 / fs))
    h = np.fft.fftshift(np.fft.fft(k))
    return pd.Series(index=f[f >= 0], data=np.abs(h[f >= 0]))


def _check_mode(mode: Any) -> None:
    if mode not in ("butter", "sinc"):
        raise InvalidInputError(f"Unrecognized filter mode. Choose either 'butter' or 'sinc' (got {mode!r}).")


# pynapple's private helpers, kept with their signatures (pynapple's own tests and some scripts use them)
def _get_butter_coefficients(cutoff: Any, filter_type: str, sampling_frequency: float, order: int = 4) -> np.ndarray:
    from scipy.signal import butter

    return butter(order, cutoff, btype=filter_type, fs=sampling_frequency, output="sos")


def _compute_spectral_inversion(kernel: np.ndarray) -> np.ndarray:
    """Spectral inversion of a kernel, in place (as pynapple): ``-k`` plus one at the centre."""
    kernel *= -1.0
    kernel[len(kernel) // 2] = 1.0 + kernel[len(kernel) // 2]
    return kernel


def _get_windowed_sinc_kernel(fc: Any, filter_type: str, sampling_frequency: float,
                              transition_bandwidth: float = 0.02) -> np.ndarray:
    """The windowed-sinc kernel pynapple builds (same as :func:`sinc_kernel`)."""
    if filter_type not in ("lowpass", "highpass", "bandpass", "bandstop"):
        raise InvalidInputError(
            f"filter_type must be lowpass, highpass, bandpass or bandstop, got {filter_type!r}")
    return sinc_kernel(np.asarray(fc, dtype=float), filter_type, float(sampling_frequency), transition_bandwidth)
