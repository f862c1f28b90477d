"""Turn whatever the user calls a ``source`` into an open, checked ``h5py.File``.

Accepted sources: a local path (``str`` / ``os.PathLike``), an ``http(s)://``, ``s3://`` or
``dandi://`` URL (read through ``napstream.io.open_source``), an open ``h5py.File`` (including one
opened over an fsspec file object), a ``pynwb.NWBFile`` returned by ``NWBHDF5IO.read()`` or an
``NWBHDF5IO``. pynwb objects are unwrapped by duck typing: pynwb is never imported here.

:class:`DatasetRef` is the picklable description of one dataset (source + dataset path + io
options) that LazyArrays carry so they can be reopened in another process.

Examples
--------
>>> is_url("https://example.org/file.nwb"), is_url("/data/file.nwb")
(True, False)
"""

from __future__ import annotations

import atexit
import errno
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from ..errors import FileFormatError, InvalidInputError, InvalidTypeError, NapstreamError, NotNWBError
from ..io.fileobj import FileObject
from ..io.retry import scrub
from ..io.sources import open_source
from .h5meta import prefetch_metadata

__all__ = ["OpenedSource", "DatasetRef", "LocalFileNotFoundError", "open_nwb_source", "is_url", "ClosedFileGuard",
           "read_whole"]

_URL_PREFIXES = ("http://", "https://", "s3://", "dandi://")


class LocalFileNotFoundError(NapstreamError, FileNotFoundError):
    """A local NWB path does not exist (also a builtin ``FileNotFoundError``)."""


def is_url(source: Any) -> bool:
    """True when ``source`` is a string naming a remote object (http(s), s3, dandi)."""
    return isinstance(source, str) and source.lower().startswith(_URL_PREFIXES)


@dataclass
class OpenedSource:
    """An open NWB HDF5 file and what is needed to read, describe and close it."""

    file: h5py.File
    description: str
    name: str
    byte_source: Any = None  # napstream.io ByteSource when remote, else None
    reopen: Any = field(default=None, repr=False)  # path / URL for DatasetRef.open() (may be signed: not shown)
    io_options: dict[str, Any] = field(default_factory=dict)
    owned: list[Any] = field(default_factory=list)  # things to close, in order

    def close(self) -> None:
        for obj in self.owned:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - closing must not raise on a half-open file
                pass
        self.owned = []


def _open_remote(url: str, io_options: dict[str, Any]) -> tuple[h5py.File, Any]:
    src = open_source(url, **io_options)
    try:
        prefetch_metadata(src)  # the whole tree's metadata in a few concurrent round trips
        f = h5py.File(FileObject(src), "r")
    except NapstreamError:  # a network failure while h5py read the superblock: say so, as is
        src.close()
        raise
    except OSError as err:
        src.close()
        desc = getattr(src, "description", url)
        raise FileFormatError(f"source {desc!r} is not a readable HDF5 file: {err}") from err
    except BaseException:
        src.close()
        raise
    return f, src


def _open_local(path: Path) -> h5py.File:
    if not path.exists():
        raise LocalFileNotFoundError(errno.ENOENT, "No such file or directory", str(path))  # as open() (and pynapple) say it
    if path.is_dir():
        if path.suffix.lower() == ".zarr" or any((path / n).exists() for n in (".zgroup", "zarr.json")):
            raise FileFormatError(
                f"{str(path)!r} is a Zarr store (NWB Zarr): napstream reads NWB files stored in HDF5 (.nwb); "
                "read it with hdmf-zarr (`from hdmf_zarr import NWBZarrIO`) or export it to an HDF5 .nwb file")
        raise FileFormatError(f"source must be an NWB file, got the directory {str(path)!r}")
    _check_metadata(path)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise FileFormatError(f"{str(path)!r} is not a readable HDF5/NWB file ({err})") from err


def _check_metadata(path: Path) -> None:
    """Walk a local file's HDF5 metadata with napstream's own reader before h5py reads it, to refuse
    damage libhdf5 cannot survive (a zeroed global heap object header: libhdf5 loops forever,
    holding the GIL) with a FileFormatError. A few ms (2-7 ms on the files of ../shared/realnwb);
    best effort: the walk stops at its item and time budgets, and anything it does not understand
    is left to h5py. (A remote open walks the metadata anyway, to prefetch it, with the same check.)"""
    from ..io.local import LocalSource

    try:
        src = LocalSource(path)
    except OSError:  # unreadable: h5py says so
        return
    try:
        prefetch_metadata(src, small_data=0)
    finally:
        src.close()


def _h5_from_pynwb(obj: Any) -> tuple[h5py.File | None, Any]:
    """The h5py.File behind a pynwb NWBFile / NWBHDF5IO (duck typing), else (None, None)."""
    io = obj if hasattr(obj, "read") and hasattr(obj, "_file") else getattr(obj, "read_io", None)
    f = getattr(io, "_file", None) if io is not None else None
    if isinstance(f, h5py.File):
        return f, io
    # a container read from a file: any of its datasets knows the file
    for name in ("units", "electrodes", "epochs", "trials"):
        data = getattr(getattr(obj, name, None), "id", None)
        data = getattr(data, "data", None)
        if isinstance(data, h5py.Dataset):
            return data.file, io
    return None, io


def _check_nwb(f: h5py.File, description: str) -> None:
    try:
        attrs = f.attrs
        ntype = attrs.get("neurodata_type")
        version = attrs.get("nwb_version")
    except (OSError, RuntimeError, KeyError) as err:
        raise FileFormatError(f"{description!r}: cannot read the HDF5 root attributes ({err})") from err
    if isinstance(ntype, bytes):
        ntype = ntype.decode()
    from .versions import nwb1_message

    old = nwb1_message(f, description)
    if old is not None:
        raise NotNWBError(old)
    if ntype != "NWBFile" and version is None:
        raise NotNWBError(
            f"{description!r} is an HDF5 file but not an NWB file (root neurodata_type={ntype!r}, no nwb_version)"
        )


def open_nwb_source(source: Any, io_options: dict[str, Any] | None = None) -> OpenedSource:
    """Open ``source`` (see the module docstring) as an NWB HDF5 file.

    Raises
    ------
    LocalFileNotFoundError
        A local path that does not exist.
    FileFormatError
        Not HDF5 (random bytes, truncated...).
    NotNWBError
        HDF5 but not NWB.
    InvalidTypeError
        Anything else.

    Examples
    --------
    >>> open_nwb_source("/no/such/file.nwb")
    Traceback (most recent call last):
    ...
    napstream.nwb.source.LocalFileNotFoundError: [Errno 2] No such file or directory: '/no/such/file.nwb'
    """
    io_options = dict(io_options or {})
    if isinstance(source, h5py.File):
        desc = str(source.filename)
        out = OpenedSource(source, desc, Path(desc).stem, reopen=_reopenable(desc), io_options=io_options)
    elif is_url(source):
        f, src = _open_remote(source, io_options)
        desc = str(getattr(src, "description", source.split("?")[0]))
        name = Path(desc.split("?")[0]).stem
        out = OpenedSource(f, desc, name, byte_source=src, reopen=source, io_options=io_options, owned=[f, src])
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        f = _open_local(path)
        out = OpenedSource(f, str(path), path.stem, reopen=str(path.resolve()), io_options=io_options, owned=[f])
    else:
        f, _ = _h5_from_pynwb(source)
        if f is None:
            raise InvalidTypeError(
                "source must be a path, an http(s)/s3/dandi URL, an h5py.File, a pynwb.NWBFile read from a file "
                f"or an NWBHDF5IO; got {type(source).__name__}"
            )
        desc = str(f.filename)
        session = getattr(source, "session_id", None)
        name = session if isinstance(session, str) else Path(desc).stem
        out = OpenedSource(f, desc, name, reopen=_reopenable(desc), io_options=io_options)
    try:
        _check_nwb(out.file, out.description)
    except NapstreamError:
        out.close()
        raise
    return out


def _reopenable(filename: str) -> str | None:
    return filename if (is_url(filename) or Path(filename).is_file()) else None


# ---------------------------------------------------------------------------------------- references
_OPEN_FILES: dict[tuple[str, tuple[tuple[str, Any], ...]], h5py.File] = {}
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class DatasetRef:
    """A picklable description of one dataset: where the file is, the dataset path, io options.

    ``open()`` returns the dataset again (the file is opened once per process and kept open), so a
    LazyArray carrying this ref can be shipped to dask workers.

    Examples
    --------
    >>> import pickle
    >>> ref = DatasetRef("/data/s.nwb", "/units/spike_times")
    >>> pickle.loads(pickle.dumps(ref)) == ref
    True
    """

    source_description: str
    dataset_path: str
    io_options: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:  # the location may be a signed URL with credentials: show it scrubbed
        return (f"DatasetRef(source_description={scrub(self.source_description)!r}, "
                f"dataset_path={self.dataset_path!r}, io_options={self.io_options!r})")

    def open(self) -> Any:
        """Open the file (once per process) and return the dataset (wrapped for prefetching)."""
        key = (self.source_description, self.io_options)
        with _OPEN_LOCK:
            f = _OPEN_FILES.get(key)
            if f is None or not f.id.valid:
                opened = open_nwb_source(self.source_description, dict(self.io_options))
                f = opened.file
                _OPEN_FILES[key] = f
                _BYTE_SOURCES[key] = opened.byte_source
        from .convert import wrap_dataset

        return wrap_dataset(f[self.dataset_path], _BYTE_SOURCES.get(key))


_BYTE_SOURCES: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}


@atexit.register
def close_reopened() -> None:
    """Close the files :meth:`DatasetRef.open` keeps open (each file, then its byte source).

    Runs at interpreter exit (a dask worker's too): an h5py file reading through a Python file
    object must not be left for the interpreter's final teardown, which can crash the exit. Safe
    to call at any time; a later ``DatasetRef.open()`` opens the file again.
    """
    with _OPEN_LOCK:
        files = list(_OPEN_FILES.items())
        sources = dict(_BYTE_SOURCES)
        _OPEN_FILES.clear()
        _BYTE_SOURCES.clear()
    for key, f in files:
        for obj in (f, sources.get(key)):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # noqa: BLE001 - exiting must not raise
                pass


# ---------------------------------------------------------------------------------------- closed files
class ClosedFileGuard:
    """An array-like over a dataset of an open file that says "the file was closed" once it is.

    Everything is forwarded to ``base`` (an ``h5py.Dataset`` or a wrapper of one); an error raised
    while the dataset's file is closed becomes an :class:`~napstream.errors.InvalidInputError`
    naming the dataset, instead of h5py's raw ``RuntimeError`` / ``OSError`` / ``ValueError``; an
    ``OSError`` / ``RuntimeError`` of h5py while the file is open (damaged storage) becomes a
    :class:`~napstream.errors.FileFormatError` naming the dataset.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
    >>> with h5py.File(path, "w") as f:
    ...     f["x"] = np.arange(5)
    >>> f = h5py.File(path, "r")
    >>> x = ClosedFileGuard(f["x"], f["x"])
    >>> x[1:3], x.shape
    (array([1, 2]), (5,))
    >>> f.close()
    >>> x[1:3]
    Traceback (most recent call last):
    ...
    napstream.errors.InvalidInputError: the file of dataset '/x' was closed (NWBFile.close() or the end of its with block); open the file again to read it
    """

    def __init__(self, base: Any, dset: h5py.Dataset) -> None:
        self._base = base
        self._dset = dset
        self._file_id = dset.file.id
        self._name = dset.name

    def _closed(self, err: BaseException) -> BaseException:
        try:
            closed = not self._file_id.valid
        except Exception:  # noqa: BLE001 - an id that cannot even say: closed
            closed = True
        if isinstance(err, (NapstreamError, AttributeError)):
            return err
        if not closed:
            if isinstance(err, (OSError, RuntimeError)):
                return FileFormatError(f"dataset {self._name!r} could not be read: the file looks damaged ({err})")
            return err
        return InvalidInputError(
            f"the file of dataset {self._name!r} was closed (NWBFile.close() or the end of its with block); "
            "open the file again to read it"
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - re-raised, translated only when the file is closed
            failed = err
        if isinstance(failed, (OSError, RuntimeError)) and not isinstance(failed, NapstreamError) and self._file_id.valid:
            from .filters import need_filters

            if need_filters(self._dset, repr(self._name)):  # a compression filter from hdf5plugin, now loaded
                try:  # (else MissingDependencyError saying what to install)
                    return fn(*args, **kwargs)
                except Exception as err:  # noqa: BLE001 - translated below, as the first failure
                    failed = err
        new = self._closed(failed)
        if new is failed:
            raise failed
        raise new from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_base", "_dset", "_file_id", "_name"):  # (copy/pickle: no recursion)
            raise AttributeError(name)
        value = self._call(getattr, self._base, name)
        if callable(value) and not isinstance(value, type):
            return lambda *args, **kwargs: self._call(value, *args, **kwargs)
        return value

    def __getitem__(self, key: Any) -> Any:
        return self._call(self._base.__getitem__, key)

    def __len__(self) -> int:
        return self._call(len, self._base)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        return self._call(lambda: np.asarray(self._base, dtype=dtype))

    def __repr__(self) -> str:
        return f"<closed-file guard of {self._base!r}>" if not self._file_id.valid else repr(self._base)


def read_whole(dset: Any) -> Any:
    """``dset[()]`` after checking that its declared size fits ``napstream.config.memory_budget``.

    A damaged file can declare a billion rows for a 12-row table column; reading it whole would
    take minutes and gigabytes before anything failed. Such a read raises
    :class:`~napstream.errors.FileFormatError` naming the dataset instead.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
    >>> with h5py.File(path, "w") as f:
    ...     f["x"] = np.arange(3)
    >>> with h5py.File(path, "r") as f:
    ...     read_whole(f["x"])
    array([0, 1, 2])
    """
    import numpy as np

    from ..config import config

    shape = getattr(dset, "shape", None) or ()
    itemsize = getattr(getattr(dset, "dtype", None), "itemsize", 1) or 1
    nbytes = int(np.prod(shape, dtype=np.float64)) * itemsize
    if nbytes > config.memory_budget:
        raise FileFormatError(
            f"dataset {getattr(dset, 'name', '?')!r} declares shape {tuple(shape)} ({nbytes / 2**20:.0f} MiB), more "
            f"than napstream.config.memory_budget ({config.memory_budget / 2**20:.0f} MiB) allows reading at once; "
            "for a table column or an index this means the file is damaged"
        )
    return dset[()]
