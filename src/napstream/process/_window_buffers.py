"""Buffers of the windowed-FFT kernels (:class:`~napstream.process._continuous.WelchSum`,
``BandPowerWindows``): a chunk's channels transposed in cache-sized blocks, and scratch sets
reused from one chunk update to the next.

Examples
--------
>>> import numpy as np
>>> d = np.arange(12, dtype=np.int16).reshape(4, 3)  # rows x channels
>>> channel_rows(d, 1, 3)
array([[3, 6],
       [4, 7],
       [5, 8]], dtype=int16)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._fft import RowFFT, resolve_backend

__all__ = ["TRANSPOSE_BLOCK_BYTES", "channel_rows", "Scratch", "take_scratch", "give_back_scratch"]

#: bytes of input rows transposed per copy by :func:`channel_rows`: a block this size and its
#: transpose stay in the CPU's L2 cache (one copy of a whole 16 MB chunk streams the input from
#: memory again and again: 2x slower, measured on 126,250 x 64 int16 and 40,000 x 384 int16)
TRANSPOSE_BLOCK_BYTES = 512 * 1024


def channel_rows(d: np.ndarray, lo: int, hi: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """Rows ``[lo, hi)`` of ``d`` (rows, channels) as (channels, rows): each channel's windows
    contiguous (one transposing copy, several times cheaper than one per block of channels),
    copied in blocks of rows that fit the CPU cache. ``buffer``: a flat array of ``d``'s dtype
    with room for the result, written into instead of a new array."""
    shape = (d.shape[1], hi - lo)
    if buffer is None:
        out = np.empty(shape, dtype=d.dtype)
    else:
        out = buffer[:shape[0] * shape[1]].reshape(shape)
    row_bytes = d.shape[1] * d.itemsize
    # narrow rows (a cache line or less): one copy is fastest
    step = max(hi - lo, 1) if row_bytes <= 64 else max(256, TRANSPOSE_BLOCK_BYTES // row_bytes)
    for a in range(lo, hi, step):
        b = min(a + step, hi)
        np.copyto(out[:, a - lo:b - lo], d[a:b].T)
    return out


class Scratch:
    """The buffers of one update in progress: FFT input (zero-padded past the window), spectrum,
    summed squares of its real and imaginary parts, and the transposed rows of the chunk.
    ``fft(k)`` transforms the first ``k`` rows of ``seg`` into ``spectrum`` (:class:`~napstream.process._fft.RowFFT`).

    Reused by the next update (see :func:`take_scratch`): fresh arrays of this size come from new
    pages each time (faulting and zeroing them cost ~0.2 CPU-s of the 1-h session's mean PSD),
    reused ones are already mapped and partly in the CPU caches. Values never carry over: every
    update writes what it reads (the FFT input's zero padding is never written).
    """

    def __init__(self, block: int, fft_len: int, squares: bool = True, backend: str | None = None) -> None:
        backend = resolve_backend(backend)
        self.fft = RowFFT(block, fft_len, backend)  # its own FFT plans: one thread uses a scratch at a time
        self.key = (block, fft_len, squares, backend)
        self.seg = self.fft.input  # only the first n columns are ever written: zero padding
        self.spectrum = self.fft.output
        # |X|^2 summed over windows, real and imaginary parts apart (WelchSum)
        self.squares = np.empty((block, 2 * (fft_len // 2 + 1))) if squares else None
        self.rows: np.ndarray | None = None

    def channel_rows(self, d: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """:func:`channel_rows` into this scratch's row buffer (grown when too small)."""
        need = d.shape[1] * (hi - lo)
        if self.rows is None or self.rows.dtype != d.dtype or len(self.rows) < need:
            self.rows = None  # the old one goes first
            self.rows = np.empty(need, dtype=d.dtype)
        return channel_rows(d, lo, hi, self.rows)


#: scratch sets an algorithm keeps for its next updates (at most one per update in flight is used)
_SCRATCH_KEPT = 4


def take_scratch(algorithm: Any, block: int, fft_len: int, squares: bool = True) -> Scratch:
    """A free scratch set of ``algorithm`` (list pops are atomic: threads never share one), or a new one."""
    free = algorithm.__dict__.setdefault("_scratch", [])
    backend = resolve_backend()
    while True:
        try:
            scratch = free.pop()
        except IndexError:
            return Scratch(block, fft_len, squares, backend)
        if scratch.key == (block, fft_len, squares, backend):
            return scratch


def give_back_scratch(algorithm: Any, scratch: Scratch) -> None:
    """Return ``scratch`` to ``algorithm``'s free list (dropped when it holds enough already)."""
    free = algorithm.__dict__.get("_scratch")
    if free is not None and len(free) < _SCRATCH_KEPT:
        free.append(scratch)
