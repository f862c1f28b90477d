"""Shared kernels of the continuous-data analyses: chunk algorithms for Welch PSD, band power,
filters (Butterworth with margins, FIR overlap-save) and the output sinks they write into.

Nothing here reads files: algorithms receive :class:`~napstream.core.chunking.Chunk` objects
from the engine.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..config import config
from ..core.chunked import make_sink
from ..core.interval_set import IntervalSet
from ..core.units import to_seconds
from ..engine.planner import series_parts
from ..engine.protocol import Chunk, ChunkAlgorithmBase
from ..errors import InvalidInputError, InvalidTypeError, MemoryBudgetError, NapstreamError
from ._window_buffers import give_back_scratch as _give_back_scratch
from ._window_buffers import take_scratch as _take_scratch

__all__ = [
    "EmptyEpochError", "check_series", "sampling_rate", "window_rows", "WelchSum", "BandPowerWindows",
    "SosFiltFilt", "FirConvolve", "fir_margin", "sos_margin", "restricted_rows", "check_fits",
]


class EmptyEpochError(NapstreamError, RuntimeError):
    """Splitting the epochs into windows left nothing to compute on (pynapple raises RuntimeError)."""


def check_series(sig: Any, name: str = "sig", tensor: bool = False) -> None:
    """Raise InvalidTypeError unless ``sig`` is a napstream Tsd / TsdFrame (/ TsdTensor)."""
    kinds = ("Tsd", "TsdFrame", "TsdTensor") if tensor else ("Tsd", "TsdFrame")
    if type(sig).__name__ not in kinds or not hasattr(sig, "_d"):
        raise InvalidTypeError(f"{name} must be a {' or '.join(kinds)}, got {type(sig).__name__}")


def sampling_rate(sig: Any, fs: Any) -> float:
    """``fs`` validated, or the rate of ``sig`` (samples / time-support length, like pynapple)."""
    if fs is None:
        return float(sig.rate)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)):
        raise InvalidTypeError(f"fs must be a number of Hz or None, got {type(fs).__name__}")
    if not fs > 0:
        raise InvalidInputError(f"fs must be a positive number of Hz, got {fs!r}")
    return float(fs)


def restricted_rows(sig: Any, ep: IntervalSet | None) -> tuple[int, int]:
    """Rows ``[a, b)`` of a single epoch ``ep`` (default: the time support, which must be one epoch)."""
    if ep is None:
        ep = sig.time_support
    if not isinstance(ep, IntervalSet):
        raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
    if len(ep) != 1:
        raise InvalidInputError(f"ep (or the signal's time_support) must have length 1, got {len(ep)} epochs")
    t, _, _ = series_parts(sig)
    a = int(t.searchsorted(float(ep.start[0]), "left"))
    b = int(t.searchsorted(float(ep.end[0]), "right"))
    return a, b


def check_fits(nbytes: int, max_memory: Any, what: str) -> None:
    """Raise MemoryBudgetError when an in-memory step needs more than the budget."""
    from ..config import parse_bytes

    budget = config.memory_budget if max_memory is None else parse_bytes(max_memory, "max_memory")
    if nbytes > budget:
        raise MemoryBudgetError(
            f"{what} needs ~{nbytes} bytes in memory, above max_memory / memory_budget={budget}: "
            "restrict the signal to a shorter epoch or raise the budget"
        )


# ---------------------------------------------------------------------------------------------- windows
def window_starts(starts: np.ndarray, ends: np.ndarray, size: float, overlap: float) -> np.ndarray:
    """Window start times ``s, s+step, ...`` per epoch while ``t + size < end`` (pynapple's rule).

    Starts accumulate by repeated addition of ``step = (1 - overlap) * size`` (a sequential cumsum),
    which reproduces pynapple's floating-point sequence exactly.
    """
    step = (1.0 - overlap) * size
    out = []
    for s, e in zip(np.asarray(starts, float), np.asarray(ends, float)):
        n = int(np.ceil((e - s) / step)) + 2
        seq = np.cumsum(np.concatenate([[s], np.full(n, step)]))
        out.append(seq[: int(np.count_nonzero(seq + size < e))] if n > 0 else seq[:0])
    return np.concatenate(out) if out else np.zeros(0)


def window_rows(sig: Any, ep: IntervalSet, size: float, overlap: float) -> tuple[np.ndarray, int]:
    """Start rows of the windows and their common length N (shortest window, like pynapple)."""
    t, _, _ = series_parts(sig)
    wstart = window_starts(np.asarray(ep.start), np.asarray(ep.end), size, overlap)
    if len(wstart) == 0:
        raise EmptyEpochError(
            f"splitting epochs with interval_size={size} generated an empty IntervalSet; decrease interval_size"
        )
    a = np.asarray(t.searchsorted(wstart, "left"), dtype=np.int64)
    b = np.asarray(t.searchsorted(wstart + size, "right"), dtype=np.int64)
    n = int(np.min(b - a))
    if n == 0:
        raise EmptyEpochError(
            "one interval has no signal samples; check ep or the signal's time support"
        )
    return a, n


def interval_in_seconds(size: Any, time_unit: str, name: str = "interval_size") -> float:
    if isinstance(size, bool) or not isinstance(size, (int, float, np.number)) or not size > 0:
        raise InvalidTypeError(f"{name} must be a positive number, got {size!r}")
    return float(np.asarray(to_seconds(np.array([float(size)]), time_unit))[0])


def hamming(n: int) -> np.ndarray:
    """Symmetric Hamming window, as ``scipy.signal.windows.hamming(n)`` (without importing scipy.signal).

    >>> from scipy.signal.windows import hamming as ref
    >>> bool(np.allclose(hamming(7), ref(7), rtol=0, atol=1e-15))
    True
    """
    if n == 1:
        return np.ones(1)
    return 0.54 + 0.46 * np.cos(np.linspace(-np.pi, np.pi, n))


def _largest_prime_factor(n: int) -> int:
    best, p = 1, 2
    while p * p <= n:
        while n % p == 0:
            best, n = p, n // p
        p += 1
    return max(best, n) if n > 1 else best


def _padded_length(n: int) -> int:
    """Smallest ``2**a * (1, 3, 5 or 15)`` >= 2n - 1: a length whose real FFT is fast (measured:
    61440 = 2**12 * 15 beats both 65536 and scipy's next fast length 60750 = 2 * 3**5 * 5**3)."""
    need, best = 2 * n - 1, None
    for m in (1, 3, 5, 15):
        size = m
        while size < need:
            size *= 2
        best = size if best is None else min(best, size)
    return int(best)  # type: ignore[arg-type]


def _sum_windows(summed: np.ndarray, d: np.ndarray, starts: np.ndarray, n: int) -> None:
    """``summed += d[r:r + n]`` for every start ``r`` (float64 ``summed``, rows x channels).

    Integers of at most 16 bits are summed exactly in an int32 buffer first (2**15 windows of
    them cannot overflow it) and added once: the same numbers as float64 sums of the windows,
    which are exact too, in one cast instead of one per window.
    """
    if d.dtype.kind in "iu" and d.dtype.itemsize <= 2 and len(starts) <= 2**15:
        acc = np.zeros(summed.shape, dtype=np.int32)
        for r in starts.tolist():
            np.add(acc, d[r:r + n], out=acc)
        summed += acc
        return
    for r in starts.tolist():
        summed += d[r:r + n]


class WelchSum(ChunkAlgorithmBase):
    """Sum of Hamming-windowed periodograms of windows ``[start, start + n)`` (rows).

    ``finalize`` returns the one-sided sums ``(n // 2 + 1,) + trailing``; :meth:`full` rebuilds
    the two-sided spectrum pynapple returns.

    Two ways to the same sums, chosen by the window length ``n``:

    * ``n`` whose prime factors are small (e.g. 5000): one ``rfft`` of length ``n`` per window.
    * ``n`` with a large prime factor (e.g. 5001 = 3 x 1667, the length of a 4-s window at
      1250 Hz when both ends are sampled), whose FFT is several times slower: the summed power
      ``sum_w |X_w|^2`` is the length-``n`` DFT of the summed *circular autocorrelations* of the
      windows, which one zero-padded ``rfft`` of a fast length ``M >= 2n - 1`` per window gives
      (linear autocorrelation, folded once at the end). One slow length-``n`` DFT per channel is
      left, in ``finalize``.

    The chunks may hold the stored values ``raw`` of a signal ``raw * scale + offset`` (``scale``
    a number or one per channel): tapering converts them to float64 in the same pass, and the
    spectrum of a window is ``scale * R + offset * T`` (``R`` that of the stored values, ``T`` that
    of the taper), so the summed power is corrected exactly at the end from ``sum |R|^2`` and the
    summed tapered windows. Nothing else of the signal is transformed.
    """

    # per row: the stored values read (plus, remote, their compressed bytes) and one block of
    # channels transposed; the float64 work happens window by window in buffers of fixed size
    row_factor = 0.5
    preferred_executor = "threads"
    #: channels per irfft call of ``finalize`` (small transients)
    channel_block = 4
    #: channels of a window transformed per FFT call in ``update``: as many as fit FFT buffers of
    #: ``fft_bytes`` (at least 4, at most 16). Every numpy call releases and retakes the GIL: 16
    #: channels of a 5,000-sample window make a quarter of the calls of 4 (1.6 MB of buffers), ~10%
    #: less CPU with two threads, and in a cold remote run (read-ahead threads and the cache writer
    #: taking the GIL between calls) half the compute threads' sleeps (benchmarks/LINK_RESULTS.md)
    update_block = 16
    fft_bytes = 2 * 2**20

    def __init__(
        self, starts: np.ndarray, n: int, fs: float, trailing: tuple[int, ...],
        scale: Any = None, offset: float = 0.0,
    ) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.n = int(n)
        self.fs = float(fs)
        self.trailing = tuple(trailing)
        self.margin = (0, self.n - 1)  # a window starting on the last core row ends n - 1 rows later
        self.n_channels = int(np.prod(trailing, dtype=np.int64)) if trailing else 1
        self.padded = _largest_prime_factor(self.n) > 11 and self.n > 64
        self.fft_len = _padded_length(self.n) if self.padded else self.n
        self.n_freq = self.fft_len // 2 + 1
        # one state per chunk in flight and the running sum (see the planner); each update in
        # progress holds FFT buffers: the tapered block, its spectrum and its squares summed over
        # the chunk's windows (real and imaginary parts apart: one more n_freq than the block rule
        # counts, which predates them)
        per_channel = 8 * (self.fft_len + 3 * self.n_freq)
        block = min(max(4, min(self.update_block, self.fft_bytes // per_channel)), self.n_channels)
        self.block = block
        self.state_nbytes = 8 * self.n_channels * (self.n_freq + (self.n if offset else 0))
        # (+ with an offset: the int32 sums of the chunk's windows, see _sum_windows)
        self.work_nbytes = block * (per_channel + 8 * self.n_freq) + (4 * self.n * self.n_channels if offset else 0)
        self.taper = hamming(self.n)  # broadcast on the last axis
        self.scale = None if scale is None else np.broadcast_to(np.asarray(scale, float), (self.n_channels,)).copy()
        self.offset = float(offset)

    # state: (sum over windows of the power spectra (channels, fft_len // 2 + 1); sum of the
    # windows (n, channels) when there is an offset, else None; number of windows)
    def init(self) -> tuple:
        try:  # a merged partial's buffer: reused, so threads do not grow the heap with fresh ones
            power = self._free.pop()
            power.fill(0.0)
        except (AttributeError, IndexError):
            power = np.zeros((self.n_channels, self.n_freq))
        summed = np.zeros((self.n, self.n_channels)) if self.offset != 0.0 else None
        return power, summed, 0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_free", None)
        state.pop("_scratch", None)
        return state

    def update(self, state: tuple, chunk: Chunk) -> tuple:
        power, summed, count = state
        i0, i1 = np.searchsorted(self.starts, [chunk.core_start, chunk.core_stop])
        mine = self.starts[i0:i1] - chunk.start_row
        if len(mine) == 0:
            return power, summed, count
        d = np.asarray(chunk.d).reshape(len(chunk.d), self.n_channels)
        if summed is not None:
            _sum_windows(summed, d, mine, self.n)
        block = self.block
        lo, hi = int(mine[0]), int(mine[-1]) + self.n  # the rows the windows cover
        scratch = _take_scratch(self, block, self.fft_len)
        try:
            seg, spectrum, squares, fft = scratch.seg, scratch.spectrum, scratch.squares, scratch.fft
            channels = scratch.channel_rows(d, lo, hi)  # (channels, rows): every window of a channel contiguous
            # a few channels at a time, all windows of the chunk: every pass stays in the CPU caches
            n, taper, multiply, add, copyto = self.n, self.taper, np.multiply, np.add, np.copyto
            convert = channels.dtype != np.float64  # stored integers (or float32): converted in the copy
            offsets = (mine - lo).tolist()  # Python ints: the cheapest slicing in the loop below
            for c0 in range(0, self.n_channels, block):
                k = min(block, self.n_channels - c0)
                rows, acc = channels[c0:c0 + k], squares[:k]
                windowed, out = seg[:k], spectrum[:k]  # views made once: the loop runs per window
                tapered, v = windowed[:, :n], out.view(np.float64)
                acc.fill(0.0)
                for r in offsets:
                    if convert:  # a plain cast, then a float64 product: ~25% less than one mixed-type multiply
                        copyto(tapered, rows[:, r:r + n])
                        multiply(tapered, taper, out=tapered)
                    else:
                        multiply(rows[:, r:r + n], taper, out=tapered)
                    fft(k)  # windowed -> out, one thread: the executor's
                    multiply(v, v, out=v)
                    add(acc, v, out=acc)  # squared real and imaginary parts, summed apart over the windows
                power[c0:c0 + k] += acc[:, 0::2]
                power[c0:c0 + k] += acc[:, 1::2]
        finally:
            _give_back_scratch(self, scratch)
        return power, summed, count + len(mine)

    def for_columns(self, first: int, stop: int) -> WelchSum:
        """The same sums over channels ``[first, stop)`` of 2-D data (a job split along channels)."""
        scale = None if self.scale is None else self.scale[first:stop]
        return WelchSum(self.starts, self.n, self.fs, (stop - first,), scale=scale, offset=self.offset)

    def join_columns(self, results: list[np.ndarray]) -> np.ndarray:
        """``finalize`` results of consecutive channel groups -> the result of all channels
        (each group's array is dropped from ``results`` once copied: one copy at a time)."""
        out = np.empty((self.n // 2 + 1, self.n_channels))
        col = 0
        while results:
            part = results.pop(0)
            out[:, col:col + part.shape[1]] = part
            col += part.shape[1]
        return out.reshape((self.n // 2 + 1,) + self.trailing)

    def merge(self, states: list[tuple]) -> tuple:
        power, summed, count = states[0]  # the running state: summed into in place
        free = self.__dict__.setdefault("_free", [])
        for p, s, c in states[1:]:
            power += p
            if len(free) < 4:
                free.append(p)
            if summed is not None:
                summed += s
            count += c
        return power, summed, count

    def finalize(self, state: tuple) -> np.ndarray:
        """One-sided summed periodograms ``(n // 2 + 1,) + trailing`` of the (scaled) signal."""
        power, summed, count = state
        del state
        self.__dict__.pop("_free", None)
        self.__dict__.pop("_scratch", None)
        half = power
        del power
        if self.padded:  # summed linear autocorrelation -> circular (length n) -> its DFT
            out = np.empty((self.n_channels, self.n // 2 + 1))

            def fold(c0: int) -> None:  # a few channels: small transients
                c1 = min(c0 + self.channel_block, self.n_channels)
                lin = np.fft.irfft(half[c0:c1], n=self.fft_len, axis=-1)
                circ = lin[:, :self.n].copy()
                circ[:, 1:] += lin[:, self.fft_len - self.n + 1:]
                out[c0:c1] = np.fft.rfft(circ, axis=-1).real

            blocks = range(0, self.n_channels, self.channel_block)
            workers = min(max(int(config.n_workers or 1), 1), len(blocks))
            if workers > 1:  # the FFTs release the GIL (the slow length-n one is most of it)
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(workers, thread_name_prefix="napstream-welch") as pool:
                    list(pool.map(fold, blocks))
            else:
                for c0 in blocks:
                    fold(c0)
            half = out
        power = half
        if self.scale is not None:
            power = power * (self.scale ** 2)[:, None]
        if summed is not None:
            # |s R + o T|^2 = s^2 |R|^2 + 2 s o Re(conj(T) R) + o^2 |T|^2, summed over the windows
            s = np.ones(self.n_channels) if self.scale is None else self.scale
            taper_f = np.fft.rfft(self.taper)
            cross = (np.fft.rfft(summed.T * self.taper, axis=-1) * np.conj(taper_f)).real
            power = power + 2.0 * self.offset * s[:, None] * cross + count * self.offset ** 2 * np.abs(taper_f) ** 2
        power = power / (self.fs * self.n)
        return np.ascontiguousarray(power.T).reshape((self.n // 2 + 1,) + self.trailing)

    def full(self, half: np.ndarray) -> np.ndarray:
        """Two-sided spectrum (fftfreq order) from the one-sided sums of a real signal."""
        n = self.n
        out = np.empty((n,) + half.shape[1:])
        out[: n // 2 + 1] = half
        out[n // 2 + 1:] = half[1:(n + 1) // 2][::-1]
        return out


def welch_frame(algo: WelchSum, total: np.ndarray, count: int, full_range: bool) -> Any:
    """pynapple's mean-PSD DataFrame from WelchSum's one-sided sums over ``count`` windows.

    One-sided (the default), it is built in place from the sums (no two-sided copy: at 30 kHz and
    hundreds of channels that copy and pandas' sorted copies of it took several times the result).
    """
    import pandas as pd

    n, fs = algo.n, algo.fs
    if full_range:
        psd = (algo.full(total) / float(count)).reshape(n, -1)
        return pd.DataFrame(psd, index=np.fft.fftfreq(n, 1.0 / fs)).sort_index()
    m = (n - 1) // 2 + 1  # frequencies >= 0 of fftfreq (an even n's Nyquist is negative there)
    half = total.reshape(len(total), -1)[:m]
    half /= float(count)
    freqs = np.fft.fftfreq(n, 1.0 / fs)[:m]
    doubled = np.flatnonzero((freqs != 0) & (freqs < fs / 2 - 1e-6))
    if len(doubled) and doubled[-1] - doubled[0] + 1 == len(doubled):
        half[doubled[0]:doubled[-1] + 1] *= 2  # in place (a mask would copy the rows)
    else:
        half[doubled] *= 2
    return pd.DataFrame(half, index=freqs, copy=False)


class BandPowerWindows(ChunkAlgorithmBase):
    """Per window ``[start, start + n)``: periodogram power summed over each band (x df).

    The band power of a window is a fixed linear function of its periodogram, so it is one dot
    product of the window's power spectrum with a weight vector per band. For ``n`` with a large
    prime factor the spectrum is the zero-padded one of a fast length ``M >= 2n - 1`` (as in
    :class:`WelchSum`): the length-``n`` periodogram is the DFT of the folded autocorrelation,
    itself the inverse DFT of the padded power spectrum, so the band weights are carried over to
    the padded frequencies once (exactly, up to rounding) and each window costs one fast ``rfft``.

    The chunks may hold stored values ``raw`` of a signal ``raw * scale + offset``: only the
    zero-frequency bin depends on ``offset``, corrected from each window's sum.
    """

    # per row: the stored values read and their channels transposed (float64 work in fixed buffers)
    row_factor = 0.5
    preferred_executor = "threads"
    #: most channels of a window transformed per FFT call (fewer when their buffers pass ``fft_bytes``)
    channel_block = 16
    fft_bytes = 2 * 2**20

    def __init__(
        self, starts: np.ndarray, n: int, fs: float, bands: np.ndarray, trailing: tuple[int, ...] = (),
        scale: Any = None, offset: float = 0.0,
    ) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.n = int(n)
        self.fs = float(fs)
        self.bands = np.asarray(bands, dtype=float).reshape(-1, 2)
        self.margin = (0, self.n - 1)  # a window starting on the last core row ends n - 1 rows later
        self.trailing = tuple(trailing)
        self.n_channels = int(np.prod(trailing, dtype=np.int64)) if trailing else 1
        self.scale = None if scale is None else np.broadcast_to(np.asarray(scale, float), (self.n_channels,)).copy()
        self.offset = float(offset)
        self.padded = _largest_prime_factor(self.n) > 11 and self.n > 64
        self.fft_len = _padded_length(self.n) if self.padded else self.n
        freqs = np.fft.rfftfreq(self.n, 1.0 / self.fs)
        doubled = (freqs != 0) & (freqs < self.fs / 2 - 1e-6)
        weight = np.where(doubled, 2.0, 1.0) / (self.fs * self.n) * (self.fs / self.n)
        masks = np.stack([(freqs >= lo) & (freqs <= hi) for lo, hi in self.bands], axis=1).astype(float)
        if self.n % 2 == 0:
            masks[-1] = 0.0  # an even n's Nyquist bin is not in the one-sided periodogram (pynapple's)
        self.per_bin = masks * weight[:, None]  # (n // 2 + 1, bands): band power = P_n @ per_bin
        weights = _padded_weights(self.per_bin, self.n, self.fft_len) if self.padded else self.per_bin
        self.weights = np.repeat(weights, 2, axis=0)  # on the interleaved squared real, imaginary parts
        # each update in progress holds FFT buffers (the block and its spectrum) of ``block``
        # channels: as many as fit ``fft_bytes`` (at least 4, at most ``channel_block``), as WelchSum
        per_channel = 8 * 2 * (self.fft_len + 2)
        self.block = min(max(4, min(self.channel_block, self.fft_bytes // per_channel)), self.n_channels)
        self.work_nbytes = self.block * per_channel

    def init(self) -> list:
        return []

    def update(self, state: list, chunk: Chunk) -> list:
        i0, i1 = np.searchsorted(self.starts, [chunk.core_start, chunk.core_stop])
        mine = self.starts[i0:i1] - chunk.start_row
        if len(mine) == 0:
            return state
        d = np.asarray(chunk.d).reshape(len(chunk.d), self.n_channels)
        lo, hi = int(mine[0]), int(mine[-1]) + self.n
        out = np.empty((len(mine), self.n_channels, len(self.bands)))
        block = self.block
        scratch = _take_scratch(self, block, self.fft_len, squares=False)
        try:
            seg, spectrum = scratch.seg, scratch.spectrum
            channels = scratch.channel_rows(d, lo, hi)
            for c0 in range(0, self.n_channels, block):
                k = min(block, self.n_channels - c0)
                rows = channels[c0:c0 + k]
                for j, r in enumerate(mine - lo):
                    np.copyto(seg[:k, :self.n], rows[:, r:r + self.n])  # converts to float64
                    v = scratch.fft(k).view(np.float64)
                    np.multiply(v, v, out=v)
                    np.matmul(v, self.weights, out=out[j, c0:c0 + k])
            if self.offset != 0.0:  # |s R0 + o n|^2 at f = 0 (the only bin the offset reaches)
                sums = np.stack([channels[:, r:r + self.n].sum(axis=1, dtype=np.float64) for r in mine - lo])
        finally:
            _give_back_scratch(self, scratch)
        if self.scale is not None:
            out *= (self.scale ** 2)[:, None]
        if self.offset != 0.0:
            s = np.ones(self.n_channels) if self.scale is None else self.scale
            extra = 2.0 * s * self.offset * self.n * sums + (self.offset * self.n) ** 2
            out += extra[:, :, None] * self.per_bin[0]
        state.extend(out)
        return state

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_scratch", None)
        return state

    def merge(self, states: list[list]) -> list:
        out = list(states[0])
        for s in states[1:]:
            out.extend(s)
        return out

    def for_columns(self, first: int, stop: int) -> BandPowerWindows:
        """The same windows over channels ``[first, stop)`` of 2-D data."""
        scale = None if self.scale is None else self.scale[first:stop]
        return BandPowerWindows(self.starts, self.n, self.fs, self.bands, (stop - first,), scale, self.offset)

    def join_columns(self, results: list[list]) -> list:
        """Per window, the (channels, bands) rows of consecutive channel groups joined."""
        return [np.concatenate(parts, axis=0) for parts in zip(*results)]


def _padded_weights(per_bin: np.ndarray, n: int, m: int) -> np.ndarray:
    """Weights ``G`` on the one-sided power spectrum of a window zero-padded to ``m >= 2n - 1``
    such that ``P_m @ G == P_n @ per_bin`` for every real window of ``n`` samples.

    ``P_n[k] = sum_l c[l] cos(2 pi k l / n)`` with ``c`` the circular autocorrelation, which is the
    linear one folded (``c[l] = r[l] + r[n - l]``, ``r`` even); ``r`` is the inverse DFT of ``P_m``
    on lags ``0..n-1`` and ``m-n+1..m-1``. So the weight of lag ``l`` is
    ``K[l] = sum_k per_bin[k] cos(2 pi k l / n)`` and ``G`` is ``K`` (placed on lags ``l`` and
    ``m - l``) taken back to frequencies, with the one-sided bins counted twice.
    """
    full = np.zeros((n, per_bin.shape[1]), dtype=np.complex128)
    full[: len(per_bin)] = per_bin
    lag = np.fft.fft(full, axis=0).real  # K[l] = sum_k per_bin[k] cos(2 pi k l / n)
    on_m = np.zeros((m, per_bin.shape[1]))
    on_m[:n] = lag
    on_m[m - n + 1:] = lag[1:][::-1]
    g = np.fft.rfft(on_m, axis=0).real / m
    g[1:(m + 1) // 2] *= 2.0  # bins 1 .. m/2 - 1 stand for their mirror image too
    return g


# ---------------------------------------------------------------------------------------------- filters
def sos_margin(sos: np.ndarray, fs: float, low: float, tol: float = 1e-28) -> int:
    """Rows after which the filter's impulse response has decayed below ``tol`` of its energy.

    The response is computed on a window that doubles until its tail is below ``tol`` (narrow
    bands ring longer than their lowest cutoff suggests).
    """
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    return _sos_margin(sos.tobytes(), sos.shape, float(fs), float(low), float(tol))


@functools.lru_cache(maxsize=64)
def _sos_margin(key: bytes, shape: tuple[int, ...], fs: float, low: float, tol: float) -> int:
    from scipy.signal import sosfilt

    sos = np.frombuffer(key, dtype=np.float64).reshape(shape).copy()

    length = int(max(16 * fs / max(low, 1e-3), 1024))
    while True:
        x = np.zeros(length)
        x[0] = 1.0
        h = sosfilt(sos, x)
        tail = np.cumsum((h ** 2)[::-1])[::-1]
        if tail[length // 2] <= tol * tail[0] or length >= 8_000_000:
            break
        length *= 2
    above = np.flatnonzero(tail > tol * tail[0])
    return int(above[-1] + 1) if len(above) else 1


def fir_margin(kernel_len: int) -> int:
    return int(kernel_len)


class _WritesRows(ChunkAlgorithmBase):
    """Partials are ``(core_start, core_stop, values)``; merge writes them into ``self.sink``
    (into columns ``self.cols`` when the job is split along channels)."""

    sink: Any = None
    cols: tuple[int, int] | None = None

    def for_columns(self, first: int, stop: int) -> Any:
        """A copy writing into columns ``[first, stop)`` of the same sink."""
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)  # not copy.copy: pickling state drops the sink
        sub.sink, sub.cols = self.sink, (int(first), int(stop))
        return sub

    def join_columns(self, results: list[Any]) -> Any:
        return results[-1]  # every group wrote into the same sink

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["sink"] = None  # the output lives with the client, never travels
        return state

    def init(self) -> Any:
        return None

    def transform(self, d: np.ndarray, core: slice) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, state: Any, chunk: Chunk) -> Any:
        return chunk.core_start, chunk.core_stop, self.transform(chunk.d, chunk.core_slice)

    def merge(self, states: list[Any]) -> Any:
        for part in states:
            if part is not None:
                a, b, values = part
                self.sink.write(a, b, values, self.cols)
        return None

    def finalize(self, state: Any) -> Any:
        return self.sink


class SosFiltFilt(_WritesRows):
    """Zero-phase Butterworth (``sosfiltfilt``) with a margin long enough for the response to decay.

    Rows farther than the margin from an epoch's edges are the two-sided convolution of the signal
    with the autocorrelation ``g`` of the filter's impulse response (forward then backward
    filtering), truncated where the response has decayed (below 1e-28 of its energy, like the
    margin): those chunks are filtered with one FFT convolution per channel, several times faster
    than running the recursive sections twice. Chunks touching an epoch's edge run
    ``scipy.signal.sosfiltfilt`` itself (its padding and initial conditions). Both work on blocks
    of ``channel_block`` channels, transposed so that each channel is contiguous.
    """

    preferred_executor = "threads"
    channel_block = 8

    def __init__(self, sos: np.ndarray, margin: int, out_dtype: Any, n_columns: int = 1) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.margin = int(margin)
        self.out_dtype = np.dtype(out_dtype)
        self.n_columns = max(int(n_columns), 1)
        self._spectra: dict[int, np.ndarray] = {}

    @property
    def row_factor(self) -> float:  # type: ignore[override]
        """float64 copies per element: the output, and the buffers of one block of channels."""
        return 1.5 + 4.0 * min(self.channel_block, self.n_columns) / self.n_columns

    def for_columns(self, first: int, stop: int) -> Any:
        sub = super().for_columns(first, stop)
        sub.n_columns = int(stop) - int(first)
        return sub

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_spectra"] = {}
        return state

    def _spectrum(self, size: int) -> np.ndarray:
        """rfft of the circular zero-phase kernel for FFT length ``size``."""
        spectrum = self._spectra.get(size)
        if spectrum is None:
            g = _zero_phase_kernel(self.sos.tobytes(), self.sos.shape, self.margin)
            circ = np.zeros(size)
            circ[:len(g)] = g
            circ[size - len(g) + 1:] = g[:0:-1]
            spectrum = np.fft.rfft(circ)
            if len(self._spectra) > 8:
                self._spectra.clear()
            self._spectra[size] = spectrum
        return spectrum

    def transform(self, d: np.ndarray, core: slice, pool: Any = None, scale: Any = None,
                  offset: float = 0.0) -> np.ndarray:
        """The filtered rows ``core`` of ``d * scale + offset`` (``d`` holds them with their
        margins; ``scale`` a number or one per column), in ``out_dtype``.

        The result is column-major (each channel contiguous). ``pool``: an executor to spread the
        blocks of channels on (the engine's threads pass none: they are the parallelism). The
        filter is linear: stored values are filtered as they are and the scale is applied to the
        kernel's spectrum, so no scaled copy of the input is made.
        """
        import scipy.fft

        if np.issubdtype(d.dtype, np.floating) and np.isnan(d).any():
            raise InvalidInputError("the signal contains NaN values, which filters do not support (use dropna())")
        x = d.reshape(len(d), -1)
        out_t = np.empty((x.shape[1], core.stop - core.start), dtype=self.out_dtype)
        edge = core.start < self.margin or len(d) - core.stop < self.margin  # a margin was clipped
        size = 0 if edge or len(d) < 2 * self.margin + 1 else scipy.fft.next_fast_len(len(d), real=True)
        starts = range(0, x.shape[1], self.channel_block)
        scales = None if scale is None else np.broadcast_to(np.asarray(scale, dtype=np.float64), (x.shape[1],))

        def one(c0: int) -> None:
            c1 = min(c0 + self.channel_block, x.shape[1])
            # channels x rows, converted, scaled and zero-padded to the FFT length in one pass
            block = np.empty((c1 - c0, size or len(x)))
            factor = 1.0 if scales is None else scales[c0:c1, None]
            np.multiply(x[:, c0:c1].T, factor, out=block[:, :len(x)], casting="unsafe")
            block[:, len(x):] = 0.0
            self._filter_block(block, core, size, out_t[c0:c1], offset)

        if pool is None or len(starts) < 2:
            for c0 in starts:
                one(c0)
        else:
            list(pool.map(one, starts))
        return out_t.T.reshape((-1,) + d.shape[1:])

    def _filter_block(self, block: np.ndarray, core: slice, size: int, out: np.ndarray, offset: float) -> None:
        """Filter channels x rows ``block + offset`` into ``out`` (its ``core`` columns): FFT of
        ``size`` (``block`` is zero-padded to it), or sosfiltfilt when ``size`` is 0 (a chunk at
        an epoch edge)."""
        import scipy.fft
        from scipy.signal import sosfiltfilt

        if not size:
            if offset:
                block += offset
            out[:] = sosfiltfilt(self.sos, block, axis=-1)[:, core]
            return
        spectrum = self._spectrum(size)
        f = scipy.fft.rfft(block, axis=-1, workers=1)
        f *= spectrum
        out[:] = scipy.fft.irfft(f, n=size, axis=-1, workers=1)[:, core]
        if offset:  # the kernel's response to a constant: its gain at 0 Hz
            out += offset * spectrum[0].real


@functools.lru_cache(maxsize=32)
def _zero_phase_kernel(key: bytes, shape: tuple[int, ...], margin: int) -> np.ndarray:
    """``g[0..margin]``: autocorrelation of the impulse response (forward-backward filtering)."""
    from scipy.signal import sosfilt

    sos = np.frombuffer(key, dtype=np.float64).reshape(shape).copy()
    impulse = np.zeros(2 * margin + 1)
    impulse[0] = 1.0
    h = sosfilt(sos, impulse)
    size = int(2 ** np.ceil(np.log2(2 * len(h))))
    spec = np.fft.rfft(h, n=size)
    return np.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=size)[:margin + 1]


class FirConvolve(_WritesRows):
    """Centered FIR convolution (pynapple's ``convolve`` with trim='both'), zero beyond epoch edges.

    ``kernel`` is (k,) or (k, m) (a bank: the output gets a trailing axis of m).
    """

    row_factor = 8.0
    preferred_executor = "threads"

    def __init__(self, kernel: np.ndarray, out_dtype: Any = np.float64) -> None:
        self.kernel = np.asarray(kernel)
        self.margin = fir_margin(len(self.kernel))
        bank = 1 if self.kernel.ndim == 1 else self.kernel.shape[1]
        self.row_factor = 4.0 + 4.0 * bank * (2 if np.iscomplexobj(self.kernel) else 1)
        self.out_dtype = np.dtype(out_dtype)

    def transform(self, d: np.ndarray, core: slice) -> np.ndarray:
        """The convolved rows ``core`` of ``d`` (``d`` holds them with their margins), in ``out_dtype``."""
        from scipy.signal import oaconvolve

        d = np.asarray(d, dtype=np.float64)
        if np.isnan(d).any():
            raise InvalidInputError("the signal contains NaN values, which filters do not support (use dropna())")
        k = len(self.kernel)
        x = d.reshape(len(d), -1)
        lo = (k - 1) // 2
        if self.kernel.ndim == 1:
            full = oaconvolve(x, self.kernel[:, None], axes=0)
            y = full[lo + core.start: lo + core.stop].reshape((-1,) + d.shape[1:])
        else:
            full = oaconvolve(x[:, :, None], self.kernel[:, None, :], axes=0)
            y = full[lo + core.start: lo + core.stop].reshape((-1,) + d.shape[1:] + self.kernel.shape[1:])
        return y.astype(self.out_dtype, copy=False)


def run_writer(algorithm: _WritesRows, sig: Any, shape: tuple[int, ...], dtype: Any, engine: dict) -> Any:
    """Values of a row kernel over ``sig``'s time support: computed now into memory for in-memory
    data; for lazy data a lazy :class:`~napstream.process._filtered.FilteredArray` computed when read
    (the engine settings are checked now: a budget that cannot hold one chunk fails here)."""
    from ..engine.runner import run
    from ._filtered import lazy_rows

    t, d, support = series_parts(sig)
    if not isinstance(d, np.ndarray):
        return lazy_rows(algorithm, sig, shape, dtype, engine)
    algorithm.sink = make_sink(shape, dtype, lazy=False)
    sink = run(algorithm, sig, ep=support, **engine)
    return sink.result()
