"""napstream's exception hierarchy.

Every error napstream raises on purpose derives from :class:`NapstreamError` *and* from the
builtin exception a user would naturally catch, so ``except KeyError`` or ``except ValueError``
keeps working (the zarr-python v3 pattern).

Examples
--------
>>> from napstream.errors import KeyNotFoundError
>>> try:
...     raise KeyNotFoundError("no key 'unit' in the file; did you mean 'units'?")
... except KeyError as err:
...     print(type(err).__name__)
KeyNotFoundError
"""

from __future__ import annotations

__all__ = [
    "NapstreamError",
    "InvalidInputError",
    "InvalidTypeError",
    "KeyNotFoundError",
    "FileFormatError",
    "NotNWBError",
    "UnsortedTimestampsError",
    "UnsupportedTypeError",
    "RemoteError",
    "RemoteNotFoundError",
    "RemoteAccessError",
    "RetryExhaustedError",
    "RemoteChangedError",
    "RemoteTimeoutError",
    "CacheError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "DandiError",
    "InvalidArgumentError",
    "ArgumentIOError",
    "ArgumentRuntimeError",
    "ArgumentTypeIOError",
    "ArgumentTypeRuntimeError",
    "UnknownFormatError",
]


class NapstreamError(Exception):
    """Base class of every error napstream raises on purpose."""


class InvalidInputError(NapstreamError, ValueError):
    """A user-supplied value has the right type but an invalid value."""


class InvalidTypeError(NapstreamError, TypeError):
    """A user-supplied value has the wrong type."""


class KeyNotFoundError(NapstreamError, KeyError):
    """A key (NWB object name, column, metadata field) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FileFormatError(NapstreamError, ValueError):
    """A file cannot be read as HDF5 (empty, truncated, random bytes...)."""


class NotNWBError(FileFormatError):
    """A readable HDF5 file that is not an NWB file (or misses required parts)."""


class UnsortedTimestampsError(FileFormatError):
    """Timestamps read lazily from a file are out of order (or not finite), so a search by time
    would answer wrong: the message names the series, the rows and what to do."""


class UnsupportedTypeError(NapstreamError, NotImplementedError):
    """An NWB neurodata type napstream lists but cannot convert."""


class RemoteError(NapstreamError, OSError):
    """A remote read failed."""


class RemoteNotFoundError(RemoteError, FileNotFoundError):
    """The remote object does not exist (HTTP 404)."""


class RemoteAccessError(RemoteError, PermissionError):
    """Access to the remote object was refused (HTTP 401/403, expired presigned URL)."""


class RetryExhaustedError(RemoteError):
    """A remote read failed after the configured number of retries."""


class RemoteUnreachableError(RetryExhaustedError, ConnectionError):
    """The server cannot be reached at all when a remote file is opened (connection refused,
    unknown host): napstream gives up at once instead of retrying."""


class RemoteChangedError(RemoteError):
    """The remote file changed (ETag / size / Last-Modified) while it was being read."""


class RemoteTimeoutError(RemoteError, TimeoutError):
    """A remote request was too slow: it missed its deadline (napstream's minimum-throughput rule)."""


class CacheError(NapstreamError, OSError):
    """The block cache cannot be used (not writable, corrupt, full)."""


class MemoryBudgetError(NapstreamError, ValueError):
    """The memory budget is too small for the smallest chunk an operation needs."""


class MissingDependencyError(NapstreamError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ArgumentIOError(InvalidInputError, OSError):
    """An invalid argument where pynapple raises ``IOError``: also an OSError, so pynapple scripts
    that catch ``IOError`` keep working (a ValueError too)."""


class ArgumentTypeIOError(InvalidTypeError, OSError):
    """An argument of the wrong type where pynapple raises ``IOError`` (a TypeError too)."""


class ArgumentTypeRuntimeError(InvalidTypeError, RuntimeError):
    """An argument of the wrong type where pynapple raises ``RuntimeError`` (a TypeError too)."""


class ArgumentRuntimeError(InvalidInputError, RuntimeError):
    """An invalid argument where pynapple raises ``RuntimeError`` (a ValueError too)."""


class UnknownFormatError(InvalidTypeError, RuntimeError):
    """Times or values of a type that is not array-like (a TypeError; a RuntimeError as in pynapple)."""


class DandiError(NapstreamError, LookupError):
    """A DANDI dandiset, version or asset could not be resolved."""


class InvalidArgumentError(InvalidInputError, RuntimeError):
    """An invalid value where pynapple raises ``RuntimeError`` (also a ``ValueError``).

    pynapple scripts that ``except RuntimeError`` keep working, and so does ``except ValueError``.
    """


def missing_dependency(module: str, extra: str) -> MissingDependencyError:
    """Build the error raised when an optional dependency is missing.

    >>> str(missing_dependency("dask", "dask"))
    "this feature needs the optional dependency 'dask': pip install 'napstream[dask]'"
    """
    return MissingDependencyError(
        f"this feature needs the optional dependency {module!r}: "
        f"pip install 'napstream[{extra}]'"
    )
