"""Analytic signal, envelope and phase (pynapple's Hilbert functions), exact or streamed.

pynapple computes ``scipy.signal.hilbert`` over the whole array (one FFT across all epochs). napstream
does exactly that whenever it can hold the signal: for in-memory inputs, and for lazy inputs whose
transform fits the memory budget (``max_memory`` / ``napstream.config.memory_budget``); the results
then equal pynapple's bit for bit.

A lazy signal too long for the budget is streamed instead: the rows are cut into tiles of
``margin / 2`` seconds on a fixed grid, every tile is transformed together with ``margin`` seconds of
signal on each side (an FFT over tile + margins) and only its own rows are kept, written to an HDF5
file and returned lazily. The tiles do not depend on the engine's chunks, so every executor and every
budget that streams give the same numbers. The Hilbert kernel decays as ``1/t``, so the
streamed result differs from the whole-array one by the signal's contribution beyond the margin:
for a band-limited signal (what one takes the Hilbert transform of) that is tiny — a 10-s margin
on a 6-12 Hz band keeps the envelope within ~1e-3 of its amplitude — but it is not bit-identical,
and the first and last ``margin`` seconds of the recording differ more (the whole-array FFT wraps
around circularly; a stream cannot).

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> t = np.arange(0, 2, 1 / 1000)
>>> sig = nap.Tsd(t=t, d=np.cos(2 * np.pi * 10 * t))
>>> env = nap.compute_hilbert_envelope(sig)
>>> bool(np.allclose(env.values[200:1800], 1.0, atol=1e-3))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import config, parse_bytes
from ..core.interval_set import IntervalSet
from ..engine.planner import series_parts
from ..errors import InvalidInputError, InvalidTypeError
from ..core.chunked import make_sink
from ._continuous import _WritesRows

__all__ = ["apply_hilbert_transform", "compute_hilbert_envelope", "compute_hilbert_phase"]

#: float64-sized copies of a row held by the whole-array transform (input, FFT, output, abs/angle)
_ROW_COPIES = 6
_DEFAULT_MARGIN_S = 10.0


def _as_output(analytic: np.ndarray, what: str) -> np.ndarray:
    if what == "analytic":
        return analytic
    if what == "envelope":
        return np.abs(analytic)
    # pynapple unwraps along the last axis (time for a Tsd, the columns for a TsdFrame); after the
    # modulo only rounding differs, so do the same for identical numbers
    return np.mod(np.unwrap(np.angle(analytic)), 2 * np.pi)


class HilbertBlocks(_WritesRows):
    """Analytic signal (or its envelope / phase) tile by tile, each from an FFT over tile + margins.

    Tiles of ``tile`` rows sit on a fixed grid of the series' rows and each is transformed with
    ``margin`` rows on both sides (clipped at the series' ends), so every output row depends on the
    same input rows whatever the engine's chunks: serial, threads, dask and every budget that streams
    give identical numbers. The engine reads ``margin + tile`` rows around each chunk.
    """

    preferred_executor = "threads"

    def __init__(self, margin: int, what: str, width: int = 1) -> None:
        self.halo = int(margin)
        self.tile = max(self.halo // 2, 1)
        self.margin = self.halo + self.tile
        self.what = what
        self.row_factor = 2.0
        # one tile's FFT work: input, spectrum, analytic signal and output, complex, per column
        self.fixed_nbytes = (self.tile + 2 * self.halo) * int(width) * 16 * 3

    def update(self, state: Any, chunk: Any) -> Any:
        from scipy.signal import hilbert

        a, b = chunk.core_start, chunk.core_stop
        out = []
        for k in range(a // self.tile, -(-b // self.tile)):
            ts, te = k * self.tile, (k + 1) * self.tile
            lo, hi = max(chunk.start_row, ts - self.halo), min(chunk.stop_row, te + self.halo)
            x = np.asarray(chunk.d[lo - chunk.start_row:hi - chunk.start_row], dtype=np.float64)
            y = _as_output(hilbert(x, axis=0), self.what)
            keep_lo, keep_hi = max(ts, a), min(te, b)
            out.append(y[keep_lo - lo:keep_hi - lo])
        return a, b, np.concatenate(out, axis=0)


def _check_data(data: Any) -> None:
    if type(data).__name__ not in ("Tsd", "TsdFrame") or not hasattr(data, "_d"):
        raise InvalidTypeError(f"data should be a Tsd or TsdFrame. Got {type(data).__name__}.")


def _transform(data: Any, what: str, margin: float | None, engine: dict) -> Any:
    from scipy.signal import hilbert

    _check_data(data)
    t, d, support = series_parts(data)
    n_rows = d.shape[0]
    width = int(np.prod(d.shape[1:], dtype=np.int64)) if d.ndim > 1 else 1
    budget = config.memory_budget if engine.get("max_memory") is None else parse_bytes(engine["max_memory"], "max_memory")
    if isinstance(d, np.ndarray) or n_rows * width * 8 * _ROW_COPIES <= budget or n_rows < 2:
        values = _as_output(hilbert(np.asarray(data.values, dtype=np.float64), axis=0), what)
        return data._result_like(t, values, support)
    if margin is None:
        margin = _DEFAULT_MARGIN_S
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.number)) or not margin > 0:
        raise InvalidInputError(f"margin must be a positive number of seconds, got {margin!r}")
    rows = max(int(np.ceil(float(margin) * float(data.rate))), 64)
    # one segment over every row: pynapple transforms the concatenated epochs as one array
    whole = IntervalSet(float(t[0]), float(t[n_rows - 1]))
    dtype = np.complex128 if what == "analytic" else np.float64
    values = _stream(HilbertBlocks(rows, what, width), (t, d), whole, dtype, engine)
    return data._result_like(t, values, support)


def _stream(algorithm: _WritesRows, parts: tuple, whole: IntervalSet, dtype: Any, engine: dict) -> Any:
    """Run a row-writing algorithm over the rows of ``whole`` into an HDF5 sink (lazy result)."""
    from ..engine.runner import run

    t, d = parts
    algorithm.sink = make_sink(tuple(d.shape), dtype, lazy=True, chunk_rows=getattr(d, "chunk_rows", None))
    return run(algorithm, parts, ep=whole, **engine).result()


def _engine(max_memory: Any, executor: Any, n_workers: Any, progress: Any) -> dict:
    return dict(max_memory=max_memory, executor=executor, n_workers=n_workers, progress=progress)


def apply_hilbert_transform(data: Any, *, margin: float | None = None, max_memory: int | str | None = None,
                            executor: Any = None, n_workers: int | None = None, progress: bool | None = None) -> Any:
    """The analytic signal ``x + i H(x)`` of a Tsd or TsdFrame (``scipy.signal.hilbert`` along time).

    Parameters
    ----------
    data : Tsd or TsdFrame
        The signal, usually band-pass filtered first. Epochs are concatenated (as pynapple does).
    margin : float, optional
        Seconds of signal read on each side of a chunk when a lazy signal is streamed (default 10).
    max_memory, executor, n_workers, progress : optional
        Chunk engine settings (see ``napstream.engine.runner.run``).

    Returns
    -------
    Tsd or TsdFrame
        Complex values, same timestamps, columns and time support. In memory when the transform fits
        the budget (then equal to pynapple's), else lazy over an HDF5 file.

    Raises
    ------
    TypeError
        If ``data`` is not a Tsd or TsdFrame.

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> sig = nap.Tsd(t=np.arange(4.0), d=[1.0, 0.0, -1.0, 0.0])
    >>> np.round(nap.apply_hilbert_transform(sig).values.imag, 6).tolist()  # the imaginary part is H(x)
    [0.0, 1.0, -0.0, -1.0]
    """
    return _transform(data, "analytic", margin, _engine(max_memory, executor, n_workers, progress))


def compute_hilbert_envelope(data: Any, *, margin: float | None = None, max_memory: int | str | None = None,
                             executor: Any = None, n_workers: int | None = None, progress: bool | None = None) -> Any:
    """The amplitude envelope ``|x + i H(x)|`` of a Tsd or TsdFrame.

    Parameters
    ----------
    data : Tsd or TsdFrame
        The signal (usually band-pass filtered).
    margin, max_memory, executor, n_workers, progress : optional
        As for :func:`apply_hilbert_transform`.

    Returns
    -------
    Tsd or TsdFrame
        Float64 envelope, same timestamps, columns and time support.

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> t = np.arange(0, 1, 1 / 1000)
    >>> env = nap.compute_hilbert_envelope(nap.Tsd(t=t, d=3 * np.sin(2 * np.pi * 20 * t)))
    >>> round(float(env.values[500]), 3)
    3.0
    """
    return _transform(data, "envelope", margin, _engine(max_memory, executor, n_workers, progress))


def compute_hilbert_phase(data: Any, *, margin: float | None = None, max_memory: int | str | None = None,
                          executor: Any = None, n_workers: int | None = None, progress: bool | None = None) -> Any:
    """The instantaneous phase of a Tsd or TsdFrame, in ``[0, 2*pi)``.

    Computed as pynapple does: ``np.mod(np.unwrap(np.angle(analytic)), 2 * np.pi)``.

    Parameters
    ----------
    data : Tsd or TsdFrame
        The signal (usually band-pass filtered).
    margin, max_memory, executor, n_workers, progress : optional
        As for :func:`apply_hilbert_transform`.

    Returns
    -------
    Tsd or TsdFrame
        Float64 phase in radians, same timestamps, columns and time support.

    Examples
    --------
    >>> import numpy as np
    >>> import napstream as nap
    >>> t = np.arange(0, 1, 1 / 1000)
    >>> phase = nap.compute_hilbert_phase(nap.Tsd(t=t, d=np.cos(2 * np.pi * 10 * t)))
    >>> round(float(phase.values[500]), 3)  # cos at a whole number of cycles: phase 0 (mod 2 pi)
    0.0
    """
    return _transform(data, "phase", margin, _engine(max_memory, executor, n_workers, progress))
