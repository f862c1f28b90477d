"""Morlet wavelet transform with pynapple's names, computed chunk by chunk with FIR margins.

The transform's output is ``n_freqs`` complex values per sample and channel (16 x n_freqs times
the input in float64): restrict the signal to the window you need first. In-memory inputs give an
in-memory result (checked against the memory budget); lazy inputs are streamed into an HDF5 file.

Examples
--------
>>> import napstream as nap, numpy as np
>>> t = np.arange(0, 2, 1 / 500)
>>> sig = nap.Tsd(t=t, d=np.sin(2 * np.pi * 20 * t))
>>> mwt = nap.compute_wavelet_transform(sig, freqs=np.array([5.0, 20.0, 60.0]), fs=500)
>>> int(np.argmax(np.abs(mwt.values[500])))
1
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.planner import series_parts
from ..errors import InvalidInputError, InvalidTypeError
from ._continuous import FirConvolve, check_fits, run_writer, sampling_rate

__all__ = ["compute_wavelet_transform", "generate_morlet_filterbank"]


def _mother(m: int, gaussian_width: float, window_length: float, precision: float = 8) -> np.ndarray:
    x = np.linspace(-precision, precision, m)
    return ((np.pi * gaussian_width) ** -0.25) * np.exp(-(x ** 2) / gaussian_width) * np.exp(
        1j * 2 * np.pi * window_length * x
    )


def _positive(value: Any, name: str, kinds: tuple = (int, float, np.number)) -> None:
    """pynapple's checks of the wavelet shape parameters (its messages, plus what came in)."""
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise InvalidTypeError(f"{name} must be a float or int instance. Got {type(value).__name__}.")
    if not value > 0:
        raise InvalidInputError(f"{name} must be a positive number. Got {value!r}.")


def _check_freqs(freqs: Any) -> None:
    if not isinstance(freqs, np.ndarray):
        raise InvalidTypeError(f"`freqs` must be a ndarray. Got {type(freqs).__name__}.")
    if len(freqs) == 0:
        raise InvalidInputError("Given list of freqs cannot be empty.")
    if np.min(freqs) <= 0:
        raise InvalidInputError(f"All frequencies in freqs must be strictly positive. Got min {np.min(freqs)}.")


def _check_shape(gaussian_width: Any, window_length: Any, precision: Any) -> None:
    _positive(gaussian_width, "gaussian_width")
    _positive(window_length, "window_length")
    _positive(precision, "precision", (int,))


def morlet_bank(freqs: np.ndarray, fs: float, gaussian_width: float = 1.5, window_length: float = 1.0,
                precision: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``(kernels (k, n_freqs) complex, times)``: resampled, reversed, zero-padded Morlet wavelets."""
    size = int(2 ** precision)
    mother = np.conj(_mother(size, gaussian_width, window_length))
    cutoff = 8
    x = np.linspace(-cutoff, cutoff, size)
    kernels, longest = [], 0
    for f in freqs:
        scale = window_length / (f / fs)
        j = np.ceil(np.arange(scale * (x[-1] - x[0]) + 1) / (scale * (x[1] - x[0]))).astype(int)
        j = j[j < size]
        kernels.append(mother[j][::-1])
        longest = max(longest, len(kernels[-1]))
    times = np.linspace(-cutoff * window_length / freqs[np.argmax([len(k) for k in kernels])],
                        cutoff * window_length / freqs[np.argmax([len(k) for k in kernels])], longest)
    padded = [np.pad(k, ((longest - len(k)) // 2, (longest - len(k) + 1) // 2)) for k in kernels]
    return np.array(padded).T, times


def generate_morlet_filterbank(
    freqs: np.ndarray, fs: float, gaussian_width: float = 1.5, window_length: float = 1.0, precision: int = 16
) -> Any:
    """Morlet wavelets of the given frequencies as a TsdFrame (pynapple's ``generate_morlet_filterbank``).

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> bank = nap.generate_morlet_filterbank(np.array([10.0, 20.0]), fs=1000)
    >>> bank.shape[1]
    2
    """
    from ..core import time_series as ts

    _check_freqs(freqs)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)):
        raise InvalidTypeError(f"`fs` must be of type float or int ndarray. Got {type(fs).__name__}.")
    _positive(fs, "fs")
    _check_shape(gaussian_width, window_length, precision)
    kernels, times = morlet_bank(freqs, float(fs), gaussian_width, window_length, precision)
    return ts.TsdFrame(t=times, d=kernels)


def compute_wavelet_transform(
    sig: Any, freqs: np.ndarray, fs: float | None = None, gaussian_width: float = 1.5, window_length: float = 1.0,
    precision: int = 16, norm: str | None = "l1", *, max_memory: int | str | None = None, executor: Any = None,
    n_workers: int | None = None, progress: bool | None = None,
) -> Any:
    """Continuous Morlet wavelet transform (pynapple's ``compute_wavelet_transform``), chunked.

    Parameters
    ----------
    sig : Tsd, TsdFrame or TsdTensor
        Signal, ideally restricted to the window of interest.
    freqs : np.ndarray
        Frequencies (Hz, > 0).
    fs : float, optional
        Sampling rate (default ``sig.rate``).
    gaussian_width, window_length, precision
        Wavelet shape (as pynapple).
    norm : {'l1', 'l2', None}
        Divide by ``fs / freqs`` ('l1') or ``fs / sqrt(freqs)`` ('l2').
    max_memory, executor, n_workers, progress
        Chunk engine settings.

    Returns
    -------
    TsdFrame (Tsd input, one column per frequency) or TsdTensor (time x channels x freqs), complex.

    Examples
    --------
    >>> import napstream as nap, numpy as np
    >>> sig = nap.Tsd(t=np.arange(1000) / 1000, d=np.sin(2 * np.pi * 50 * np.arange(1000) / 1000))
    >>> nap.compute_wavelet_transform(sig, freqs=np.linspace(10, 100, 10), fs=1000).shape
    (1000, 10)
    """
    from ..core import time_series as ts

    if type(sig).__name__ not in ("Tsd", "TsdFrame", "TsdTensor") or not hasattr(sig, "_d"):
        raise InvalidTypeError(f"`sig` must be instance of Tsd, TsdFrame, or TsdTensor. Got {type(sig).__name__}.")
    _check_freqs(freqs)
    if fs is not None:
        if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)):
            raise InvalidTypeError(f"`fs` must be of type float or int or None. Got {type(fs).__name__}.")
        _positive(fs, "fs")
    if norm is not None and norm not in ("l1", "l2"):
        raise InvalidInputError(f"norm parameter must be 'l1', 'l2', or None. Got {norm!r}.")
    _check_shape(gaussian_width, window_length, precision)
    fs = sampling_rate(sig, fs)
    kernels, _ = morlet_bank(freqs, fs, gaussian_width, window_length, precision)
    if norm == "l1":
        kernels = kernels / (fs / freqs)[None, :]
    elif norm == "l2":
        kernels = kernels / (fs / np.sqrt(freqs))[None, :]
    t, d, support = series_parts(sig)
    shape = tuple(d.shape) + (len(freqs),)
    if isinstance(d, np.ndarray):
        check_fits(int(np.prod(shape)) * 16, max_memory, "the wavelet transform's output")
    engine = dict(max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)
    values = run_writer(FirConvolve(kernels, np.complex128), sig, shape, np.complex128, engine)
    if d.ndim == 1:
        return ts.TsdFrame(t=t, d=values, time_support=support, columns=freqs)
    return ts.TsdTensor(t=t, d=values, time_support=support)
