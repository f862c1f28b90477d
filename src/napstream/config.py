"""Global settings: memory budget, executor, cache and network behaviour.

``napstream.config`` is a single :class:`Config` object.  Settings can be changed globally
(``nap.config.memory_budget = "512MB"``) or temporarily with :meth:`Config.override`.
Environment variables give the defaults: ``NAPSTREAM_MEMORY_BUDGET``, ``NAPSTREAM_CACHE_DIR``,
``NAPSTREAM_EXECUTOR``, ``NAPSTREAM_N_WORKERS``, ``NAPSTREAM_DANDI_API_URL``, ``NAPSTREAM_MALLOC_ARENAS``,
``NAPSTREAM_SPECULATE``, ``NAPSTREAM_FFT``.

Examples
--------
>>> from napstream.config import config, parse_bytes
>>> parse_bytes("512MB")
512000000
>>> with config.override(memory_budget="64MiB"):
...     config.memory_budget
67108864
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import InvalidInputError, InvalidTypeError

__all__ = ["Config", "config", "parse_bytes", "format_bytes", "EXECUTORS"]

EXECUTORS = ("auto", "serial", "threads", "dask")

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_bytes(value: int | float | str, name: str = "value") -> int:
    """Parse a byte count given as a number or a human string ("512MB", "2 GiB", "1e9").

    >>> parse_bytes("2 GiB")
    2147483648
    >>> parse_bytes(1000)
    1000
    """
    if isinstance(value, bool):
        raise InvalidTypeError(f"{name} must be a number of bytes or a string like '512MB', got bool")
    if isinstance(value, (int, float)):
        if not value > 0 or value != value:
            raise InvalidInputError(f"{name} must be positive, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise InvalidTypeError(
            f"{name} must be a number of bytes or a string like '512MB', got {type(value).__name__}"
        )
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
    if not match or match.group(2).lower() not in _UNITS:
        raise InvalidInputError(
            f"{name} must look like '512MB', '2GiB' or a number of bytes, got {value!r}"
        )
    n = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if n <= 0:
        raise InvalidInputError(f"{name} must be positive, got {value!r}")
    return int(n)


def format_bytes(n: float) -> str:
    """Human-readable byte count.

    >>> format_bytes(1536)
    '1.5 KiB'
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _env_arenas(text: str) -> int | None:
    """``NAPSTREAM_MALLOC_ARENAS``: a positive count, or 0 / "none" / "" for the C library's default."""
    text = str(text).strip().lower()
    if not text:  # set but empty: as if unset
        return 2
    if text in ("0", "none"):
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        warnings.warn(f"NAPSTREAM_MALLOC_ARENAS must be a non-negative integer or 'none', got {text!r}; using 2",
                      stacklevel=2)
        return 2
    return n


FFT_BACKENDS = ("auto", "numpy", "pyfftw")


def _env_fft(text: str) -> str:
    """``NAPSTREAM_FFT``: one of FFT_BACKENDS ("" as unset); anything else warns and means "auto"."""
    text = str(text).strip().lower() or "auto"
    if text not in FFT_BACKENDS:
        warnings.warn(f"NAPSTREAM_FFT must be one of {FFT_BACKENDS}, got {text!r}; using 'auto'", stacklevel=2)
        return "auto"
    return text


class InvalidBackendError(InvalidInputError, AssertionError):
    """An unknown compute backend (an AssertionError too, as pynapple raises one)."""


def _env(name: str, default: Any) -> Any:
    return os.environ.get(name, default)


def _env_flag(name: str, default: bool) -> bool:
    """A yes/no environment variable: "0", "false", "no", "off" (any case) mean False."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Config:
    """napstream settings (see the module docstring).

    Attributes
    ----------
    memory_budget : int
        Bytes a chunked computation may hold at once (default 256 MiB). Accepts "512MB" strings.
    executor : str
        Default executor for chunked jobs: "auto" (the default: "threads" for the continuous
        analyses, whose kernels - FFTs, filters, chunk decompression - run outside the GIL, and
        "serial" for the others), "serial", "threads" or "dask".
    n_workers : int
        Workers for the "threads" executor (and default for a local dask cluster).
    progress : bool or None
        Show progress bars: None = automatically (only on a TTY, for jobs over a second).
    cache_dir : str or None
        Folder of the persistent block cache (None: the platform's user cache folder).
    cache_size : int
        Size cap of the block cache in bytes (LRU eviction past it).
    block_size : int
        Size of cached blocks for remote reads.
    max_concurrency : int
        Concurrent range requests per remote file.
    retries : int
        Retries of a failed remote request before giving up.
    timeout : float
        Seconds without progress before a remote request counts as failed.
    dandi_api_url : str
        Base URL of the DANDI REST API.
    malloc_arenas : int or None
        Most malloc arenas (glibc, Linux) napstream asks the C library for when it first reads a
        remote file (default 2; environment ``NAPSTREAM_MALLOC_ARENAS``). glibc gives every thread
        that allocates its own arena, up to 8 per core, and memory freed in one arena is kept for
        that arena: the fetch threads of a remote job then hold 100-200 MB of freed bodies and
        blocks beyond the memory budget. None or 0 leaves the C library's default. Set once per
        process, before the fetch threads start; other C libraries are left alone.
    backend : str
        pynapple's compute backend setting, kept for compatibility: only "numba" (napstream's
        kernels are NumPy/numba; "jax" falls back to "numba" with pynapple's warning).
    suppress_conversion_warnings : bool
        Silence the warning given when a non-NumPy array-like is converted to a NumPy array.
    suppress_time_index_sorting_warnings : bool
        Silence the warning given when unsorted timestamps are sorted.
    time_index_precision : int
        Decimal places timestamps are rounded to (read-only, 9 as in pynapple).
    speculate : bool
        Right after a remote file is opened, fetch in the background the small objects most
        likely read next (spike times, behaviour, epochs; at most 32 MiB; stopped by the first
        planned read of something else): see :mod:`napstream.nwb.speculate`. Default False: on a
        quiet machine it did not make the guide's job measurably faster (benchmarks/OPEN_RESULTS.md)
        and it fetches bytes a script may never read (``NAPSTREAM_SPECULATE=1`` turns it on;
        ``NWBFile(..., speculate=True)`` for one file).
    fft_backend : str
        FFTs of the windowed spectra (mean PSD, band power): "auto" (the default: pyFFTW when it is
        installed, ``pip install "napstream[fast]"``, else NumPy), "numpy" or "pyfftw". Both give
        pynapple's result to rounding; each gives the same bits in every process and thread.
        Environment variable ``NAPSTREAM_FFT`` (read at import: dask workers started with it agree).
    timestamp_scan_rows : int or None
        Explicit timestamps stored in an NWB file are checked in order when their object is built
        (and, found unsorted, sorted in memory as pynapple does) up to this many rows, locally or
        remotely. None (the default): local timestamps up to 16 M rows, remote ones small enough
        to be fetched whole at their first read. Longer ones are checked on first use by anything
        that searches by time, and refused (``UnsortedTimestampsError``) when out of order.
    trust_timestamp_order : bool
        Default False. True skips the check of lazy timestamps' whole order before the first search
        by time (a remote series' timestamps are then not all downloaded): searches read a few blocks
        and refuse only the disorder they see. A file whose timestamps are out of order between
        blocks then gives WRONG answers silently: only for files known to be sorted.
    """

    memory_budget: int = field(default_factory=lambda: parse_bytes(_env("NAPSTREAM_MEMORY_BUDGET", "256MiB")))
    executor: str = field(default_factory=lambda: _env("NAPSTREAM_EXECUTOR", "auto"))
    n_workers: int = field(default_factory=lambda: int(_env("NAPSTREAM_N_WORKERS", min(4, os.cpu_count() or 1))))
    progress: bool | None = None
    cache_dir: str | None = field(default_factory=lambda: _env("NAPSTREAM_CACHE_DIR", None))
    cache_size: int = field(default_factory=lambda: parse_bytes(_env("NAPSTREAM_CACHE_SIZE", "10GiB")))
    block_size: int = 256 * 2**10
    max_concurrency: int = 8
    retries: int = 5
    timeout: float = 30.0
    dandi_api_url: str = field(default_factory=lambda: _env("NAPSTREAM_DANDI_API_URL", "https://api.dandiarchive.org/api"))
    malloc_arenas: int | None = field(default_factory=lambda: _env_arenas(_env("NAPSTREAM_MALLOC_ARENAS", "2")))
    backend: str = "numba"
    suppress_conversion_warnings: bool = False
    suppress_time_index_sorting_warnings: bool = False
    speculate: bool = field(default_factory=lambda: _env_flag("NAPSTREAM_SPECULATE", False))
    fft_backend: str = field(default_factory=lambda: _env_fft(_env("NAPSTREAM_FFT", "auto")))
    timestamp_scan_rows: int | None = None
    trust_timestamp_order: bool = False

    @property
    def time_index_precision(self) -> int:
        """Decimal places timestamps are rounded to (9, as in pynapple)."""
        return 9

    def set_backend(self, backend: str) -> None:
        """Set pynapple's compute backend ("numba"; "jax" falls back to "numba" with a warning).

        >>> config.set_backend("numba")
        >>> config.backend
        'numba'
        """
        self.backend = backend

    def restore_defaults(self) -> None:
        """Reset the warning switches to their defaults, as pynapple's ``restore_defaults`` does.

        >>> config.suppress_conversion_warnings = True
        >>> config.restore_defaults()
        >>> config.suppress_conversion_warnings
        False
        """
        self.suppress_conversion_warnings = False
        self.suppress_time_index_sorting_warnings = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, self._validate(name, value))

    @staticmethod
    def _validate(name: str, value: Any) -> Any:
        if name in ("memory_budget", "cache_size", "block_size"):
            return parse_bytes(value, name)
        if name == "executor":
            if value not in EXECUTORS:
                raise InvalidInputError(f"executor must be one of {EXECUTORS}, got {value!r}")
            return value
        if name in ("n_workers", "max_concurrency"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
            return value
        if name == "malloc_arenas":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidInputError(f"malloc_arenas must be None or a non-negative integer, got {value!r}")
            return value or None
        if name == "retries":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"retries must be a non-negative integer, got {value!r}")
            return value
        if name == "timeout":
            if not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInputError(f"timeout must be a positive number of seconds, got {value!r}")
            return float(value)
        if name == "backend":
            if value not in ("numba", "jax"):
                raise InvalidBackendError("Options for backend are 'jax' or 'numba'")
            if value == "jax":
                warnings.warn("Package pynajax is not found. Falling back to numba backend. napstream "
                              "runs its own NumPy/numba kernels; the jax backend is not available.",
                              stacklevel=3)
            return "numba"
        if name in ("suppress_conversion_warnings", "suppress_time_index_sorting_warnings", "speculate",
                    "trust_timestamp_order"):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{name} must be a boolean value.")
            return value
        if name == "fft_backend":
            if value not in FFT_BACKENDS:
                raise InvalidInputError(f"fft_backend must be one of {FFT_BACKENDS}, got {value!r}")
            return value
        if name == "timestamp_scan_rows":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidInputError(f"timestamp_scan_rows must be None or a non-negative integer, got {value!r}")
            return value
        if name == "progress" and value not in (None, True, False):
            raise InvalidInputError(f"progress must be True, False or None, got {value!r}")
        return value

    @contextlib.contextmanager
    def override(self, **settings: Any) -> Iterator["Config"]:
        """Temporarily change settings inside a ``with`` block.

        >>> with config.override(executor="threads"):
        ...     config.executor
        'threads'
        """
        names = {f.name for f in fields(self)}
        unknown = set(settings) - names
        if unknown:
            raise InvalidInputError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
        old = {k: getattr(self, k) for k in settings}
        try:
            for k, v in settings.items():
                setattr(self, k, v)
            yield self
        finally:
            for k, v in old.items():
                object.__setattr__(self, k, v)


config = Config()
