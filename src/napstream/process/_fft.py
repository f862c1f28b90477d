"""FFT backend of the windowed kernels: real forward FFTs of fixed buffers, by NumPy or by FFTW.

The windowed kernels (:class:`~napstream.process._continuous.WelchSum`, ``BandPowerWindows``)
transform the same buffers window after window. :class:`RowFFT` owns such a pair of buffers (input
rows, zero-padded past the window, and their one-sided spectra) and transforms the first ``k`` rows
on each call, with one of two backends:

* ``"numpy"``: ``numpy.fft.rfft`` (pocketfft) written into the output buffer.
* ``"pyfftw"``: FFTW through pyFFTW, when it is installed (``pip install "napstream[fast]"``):
  20-40% less CPU per transform of 1,250 to 65,536 samples (longer ones stay with NumPy: there
  FFTW's unmeasured plans were no faster). Optional because pyFFTW's wheels bundle FFTW, which
  is GPL-licensed (napstream is MIT). Plans are made with ``FFTW_ESTIMATE`` only: the planner picks
  the algorithm from the sizes, strides and alignment alone, never by timing, so every process (and
  every thread) computes the same bits for the same data (``FFTW_MEASURE`` times candidates, and two
  processes could keep different plans, differing in the last bits). Buffers are allocated with
  FFTW's SIMD alignment so that the plan does not depend on where ``malloc`` put them. Each
  :class:`RowFFT` is used by one thread at a time (the kernels take them from a free list) and
  holds its own plans; planning is serialised by a lock (FFTW's planner is not thread-safe), and
  ``execute`` releases the GIL.

The choice: ``napstream.config.fft_backend`` (``"auto"``, the default: pyFFTW when importable,
else NumPy; ``"numpy"``; ``"pyfftw"``), environment variable ``NAPSTREAM_FFT`` for its default.
Both backends equal pynapple's result to rounding (the tests compare both).

Examples
--------
>>> import numpy as np
>>> f = RowFFT(rows=2, n=8, backend="numpy")
>>> f.input[:, :8] = np.arange(16.0).reshape(2, 8)
>>> bool(np.allclose(f(2), np.fft.rfft(np.arange(16.0).reshape(2, 8), axis=-1)))
True
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..config import FFT_BACKENDS as BACKENDS
from ..config import config
from ..errors import InvalidInputError, MissingDependencyError

__all__ = ["BACKENDS", "resolve_backend", "pyfftw_available", "RowFFT"]

_PLAN_LOCK = threading.Lock()  # FFTW's planner is not thread-safe (pyFFTW locks too: belt and braces)
_IMPORT_LOCK = threading.Lock()
#: longest transform given to FFTW: beyond ~80,000 samples its FFTW_ESTIMATE plans were slower than
#: NumPy's (measured, rows of float64: 0.6-0.8x NumPy's CPU time from 1,250 to 65,536 samples,
#: 0.9-1.5x from 81,920 to 245,760)
FFTW_MAX_LENGTH = 65536
_NUMPY_FFT_OUT = int(np.__version__.split(".")[0]) >= 2
_pyfftw: Any = None  # the module once imported; False when it is not installed


def _import_pyfftw() -> Any:
    """pyFFTW's compiled core ``pyfftw.pyfftw`` (FFTW, the aligned allocators), or False.

    ``import pyfftw`` runs the package's ``__init__``, which imports its NumPy/SciPy/dask
    interfaces: with dask installed that is ~0.1 s and ~60 MB of resident memory, for nothing
    here. The core is loaded on its own instead (registered as ``pyfftw.pyfftw``, so a later
    ``import pyfftw`` reuses it; that import then lacks the attribute ``pyfftw.pyfftw``, which
    pyFFTW itself never uses); any failure falls back to the plain import.
    """
    if _pyfftw is None:
        with _IMPORT_LOCK:  # worker threads ask at once: the first loads, the others wait for it
            _load_pyfftw()
    return _pyfftw


def _load_pyfftw() -> None:
    global _pyfftw
    if _pyfftw is None:
        import importlib
        import importlib.machinery
        import importlib.util
        import sys

        core = None
        if "pyfftw.pyfftw" in sys.modules:  # imported already (through the import system: it waits
            core = importlib.import_module("pyfftw.pyfftw")  # for a module another thread initialises)
        else:
            try:
                parent = importlib.util.find_spec("pyfftw")
                spec = None if parent is None else importlib.machinery.PathFinder.find_spec(
                    "pyfftw.pyfftw", parent.submodule_search_locations)
                if spec is not None and spec.loader is not None:
                    core = importlib.util.module_from_spec(spec)
                    sys.modules["pyfftw.pyfftw"] = core
                    spec.loader.exec_module(core)
            except Exception:  # noqa: BLE001 - anything odd: the ordinary import decides
                sys.modules.pop("pyfftw.pyfftw", None)
                core = None
            if core is None:
                try:
                    import pyfftw as core
                except ImportError:
                    core = False
        _pyfftw = core


def pyfftw_available() -> bool:
    """Whether pyFFTW can be imported (``pip install "napstream[fast]"``)."""
    return bool(_import_pyfftw())


def resolve_backend(choice: str | None = None) -> str:
    """The FFT backend to use now: ``"pyfftw"`` or ``"numpy"`` (``choice``: default the config's).

    >>> resolve_backend("numpy")
    'numpy'
    """
    choice = config.fft_backend if choice is None else choice
    if choice == "numpy":
        return "numpy"
    if choice == "pyfftw":
        if not pyfftw_available():
            raise MissingDependencyError(
                'fft_backend="pyfftw" needs pyFFTW: pip install "napstream[fast]" (or set fft_backend="auto")'
            )
        return "pyfftw"
    if choice != "auto":
        raise InvalidInputError(f"fft_backend must be one of {BACKENDS}, got {choice!r}")
    return "pyfftw" if pyfftw_available() else "numpy"


class RowFFT:
    """Real forward FFT of the rows of a fixed buffer into a fixed spectrum buffer.

    ``input``: (rows, n) float64, zero at creation (a window shorter than ``n`` leaves its zero
    padding untouched); ``output``: (rows, n // 2 + 1) complex128. ``self(k)`` transforms
    ``input[:k]`` into ``output[:k]`` and returns that view. Never pickled (its owners drop it).
    """

    def __init__(self, rows: int, n: int, backend: str | None = None) -> None:
        self.rows, self.n = int(rows), int(n)
        self.backend = resolve_backend(backend)
        if self.backend == "pyfftw" and self.n > FFTW_MAX_LENGTH:
            self.backend = "numpy"  # a rule on the length alone: the same choice in every process
        shape_out = (self.rows, self.n // 2 + 1)
        if self.backend == "pyfftw":
            pyfftw = _import_pyfftw()
            self.input = pyfftw.zeros_aligned((self.rows, self.n), dtype=np.float64)
            self.output = pyfftw.empty_aligned(shape_out, dtype=np.complex128)
        else:
            self.input = np.zeros((self.rows, self.n))
            self.output = np.empty(shape_out, dtype=np.complex128)
        self._plans: dict[int, Any] = {}

    def __call__(self, k: int) -> np.ndarray:
        out = self.output[:k]
        if self.backend == "numpy":
            if _NUMPY_FFT_OUT:
                return np.fft.rfft(self.input[:k], axis=-1, out=out)
            import scipy.fft

            out[...] = scipy.fft.rfft(self.input[:k], axis=-1, workers=1)
            return out
        plan = self._plans.get(k)
        if plan is None:
            plan = self._plan(k)
        plan.execute()  # releases the GIL
        return out

    def _plan(self, k: int) -> Any:
        pyfftw = _import_pyfftw()
        with _PLAN_LOCK:
            # FFTW_ESTIMATE never writes the arrays (the zero padding stays) and never times anything
            plan = pyfftw.FFTW(self.input[:k], self.output[:k], axes=(-1,), direction="FFTW_FORWARD",
                               flags=("FFTW_ESTIMATE",), threads=1)
        self._plans[k] = plan
        return plan

    def __reduce__(self) -> Any:  # pragma: no cover - owners drop it before pickling
        raise TypeError("RowFFT holds FFT plans and buffers of one process: it is never pickled")
