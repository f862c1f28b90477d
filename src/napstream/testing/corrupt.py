"""Malformed NWB/HDF5 files for robustness tests: each helper writes one kind of bad input.

Most helpers copy a good session written by :func:`~napstream.testing.sessions.write_session`
and edit it with h5py (remove a required dataset, break a ragged index, make timestamps
decreasing or non-finite, mismatch lengths, declare a terabyte-sized dataset); the others write
files that are not NWB at all (empty, random bytes, plain HDF5, truncated). :data:`CORRUPTIONS`
maps a name to its writer ``writer(good_path, out_path) -> Path``.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.corrupt import CORRUPTIONS, write_empty
>>> out = write_empty(pathlib.Path(tempfile.mkdtemp()) / "empty.nwb")
>>> out.stat().st_size, "random_bytes" in CORRUPTIONS
(0, True)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, KeyNotFoundError

__all__ = [
    "CORRUPTIONS", "corrupt", "write_empty", "write_random_bytes", "write_hdf5_not_nwb", "write_truncated",
    "edit_copy", "UNITS", "POSITION", "LFP", "HUGE_ROWS", "write_walk_bomb",
]

UNITS = "/units"
POSITION = "/processing/behavior/Position/SpatialSeriesLED1"
LFP = "/processing/ecephys/LFP/ElectricalSeriesLFP"
#: rows of the LFP after :func:`huge_declared_shape` (2 int16 channels: 1 TiB declared)
HUGE_ROWS = 2**38


# ------------------------------------------------------------------------------------- not NWB at all
def write_empty(path: str | os.PathLike) -> Path:
    """An empty (0-byte) file.

    >>> import tempfile, pathlib
    >>> write_empty(pathlib.Path(tempfile.mkdtemp()) / "e.nwb").stat().st_size
    0
    """
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_random_bytes(path: str | os.PathLike, n_bytes: int = 65536, seed: int = 0) -> Path:
    """``n_bytes`` random bytes (no HDF5 signature).

    >>> import tempfile, pathlib
    >>> write_random_bytes(pathlib.Path(tempfile.mkdtemp()) / "r.nwb", 100).stat().st_size
    100
    """
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, int) or n_bytes < 1:
        raise InvalidInputError(f"n_bytes must be a positive integer, got {n_bytes!r}")
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
    return path


def write_hdf5_not_nwb(path: str | os.PathLike) -> Path:
    """A valid HDF5 file with a group and a dataset but no NWB attributes.

    >>> import tempfile, pathlib, h5py
    >>> p = write_hdf5_not_nwb(pathlib.Path(tempfile.mkdtemp()) / "h.h5")
    >>> list(h5py.File(p, "r"))
    ['acquisition', 'data']
    """
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10.0)
        f.create_group("acquisition")
        f.attrs["note"] = "plain HDF5"
    return path


def write_walk_bomb(path: str | os.PathLike, size: int = 64 * 2**30, pieces: int = 64,
                    piece: int = 4 * 2**20) -> Path:
    """A sparse ``size``-byte HDF5 look-alike whose root object header sends a metadata walker far away.

    A version 0 superblock whose root object header holds ``pieces`` continuation messages, each
    pointing to ``piece`` bytes (zeros: empty messages to loop over) spread over the whole file.
    h5py refuses it at once; an unbounded walker would fetch ``pieces * piece`` bytes and loop over
    every 8 of them. The file is sparse: it takes a few kilobytes on disk.

    >>> import tempfile, pathlib
    >>> out = write_walk_bomb(pathlib.Path(tempfile.mkdtemp()) / "b.nwb", size=2**30)
    >>> with open(out, "rb") as fh:
    ...     out.stat().st_size, fh.read(4)
    (1073741824, b'\x89HDF')
    """
    import struct

    path = Path(path)
    undefined = 2**64 - 1
    header_at = 4096
    superblock = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0)
    superblock += struct.pack("<QQQQ", 0, undefined, size, undefined)
    superblock += struct.pack("<QQII", 0, header_at, 0, 0) + bytes(16)  # root symbol table entry
    stride = (size - header_at - 2 * piece) // max(pieces, 1) // 4096 * 4096
    messages = b"".join(
        struct.pack("<HHB3x", 0x10, 16, 0) + struct.pack("<QQ", header_at + 8192 + k * stride, piece)
        for k in range(pieces)
    )
    header = struct.pack("<BBHII", 1, 0, pieces, 1, len(messages)) + bytes(4) + messages
    with open(path, "wb") as fh:
        fh.write(superblock)
        fh.seek(header_at)
        fh.write(header)
        fh.truncate(size)
    return path


def write_truncated(good: str | os.PathLike, path: str | os.PathLike, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of the bytes of ``good`` (a file cut short by a failed copy).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "g").write_bytes(b"0123456789")
    >>> write_truncated(d / "g", d / "t", 0.3).read_bytes()
    b'012'
    """
    if not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise InvalidInputError(f"fraction must be in (0, 1), got {fraction!r}")
    data = Path(good).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


# ------------------------------------------------------------------------------------- edited copies
def edit_copy(good: str | os.PathLike, path: str | os.PathLike, edit: Callable[[Any], None]) -> Path:
    """Copy ``good`` to ``path`` and apply ``edit(h5py.File opened 'r+')``.

    >>> import tempfile, pathlib, h5py
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(d / "g.h5", "w") as f:
    ...     f["x"] = [1, 2, 3]
    >>> p = edit_copy(d / "g.h5", d / "e.h5", lambda f: f["x"].__setitem__(0, 9))
    >>> h5py.File(p, "r")["x"][:].tolist()
    [9, 2, 3]
    """
    import h5py

    if not callable(edit):
        raise InvalidInputError(f"edit must be a callable taking an h5py.File, got {type(edit).__name__}")
    path = Path(path)
    shutil.copyfile(good, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(f: Any, name: str, make: Callable[[Any, str], Any]) -> None:
    """Replace dataset ``name`` by ``make(parent, basename)``, keeping its attributes."""
    attrs = dict(f[name].attrs)
    parent, _, base = name.rpartition("/")
    del f[name]
    new = make(f[parent or "/"], base)
    for key, value in attrs.items():
        new.attrs[key] = value


def units_without_spike_times(f: Any) -> None:
    """Remove ``spike_times`` and its index from the units table (colnames still list them)."""
    del f[f"{UNITS}/spike_times"]
    del f[f"{UNITS}/spike_times_index"]


def spike_index_out_of_range(f: Any) -> None:
    """Make the last ``spike_times_index`` boundary point past the end of ``spike_times``."""
    index = f[f"{UNITS}/spike_times_index"]
    index[-1] = f[f"{UNITS}/spike_times"].shape[0] + 100


def spike_index_decreasing(f: Any) -> None:
    """Make ``spike_times_index`` decrease (unit 1 would end before it starts)."""
    index = f[f"{UNITS}/spike_times_index"]
    values = index[()]
    index[1] = max(int(values[0]) // 2, 1)


def decreasing_timestamps(f: Any) -> None:
    """Swap two timestamps in the middle of the position's (explicit) timestamps."""
    ts = f[f"{POSITION}/timestamps"]
    i = ts.shape[0] // 2
    a, b = float(ts[i]), float(ts[i + 1])
    ts[i], ts[i + 1] = b, a


def mismatched_lengths(f: Any) -> None:
    """Shorten the position's data by 25 rows (timestamps keep their length)."""
    data = f[f"{POSITION}/data"][()]
    _replace(f, f"{POSITION}/data", lambda g, n: g.create_dataset(n, data=data[:-25]))


def nan_spike_time(f: Any) -> None:
    """Put a NaN inside unit 0's spike times."""
    f[f"{UNITS}/spike_times"][3] = np.nan


def inf_timestamp(f: Any) -> None:
    """Put +inf inside the position's timestamps."""
    f[f"{POSITION}/timestamps"][10] = np.inf


def huge_declared_shape(f: Any) -> None:
    """Replace the LFP data by a chunked int16 dataset declaring :data:`HUGE_ROWS` rows (1 TiB).

    Nothing is written to it: HDF5 returns the fill value (0) for every row, so the file stays small.
    """
    old = f[f"{LFP}/data"]
    cols = old.shape[1]
    _replace(f, f"{LFP}/data", lambda g, n: g.create_dataset(
        n, shape=(HUGE_ROWS, cols), dtype="int16", chunks=(65536, cols), maxshape=(None, cols), fillvalue=0))


_EDITS: dict[str, Callable[[Any], None]] = {
    "units_without_spike_times": units_without_spike_times,
    "spike_index_out_of_range": spike_index_out_of_range,
    "spike_index_decreasing": spike_index_decreasing,
    "decreasing_timestamps": decreasing_timestamps,
    "mismatched_lengths": mismatched_lengths,
    "nan_spike_time": nan_spike_time,
    "inf_timestamp": inf_timestamp,
    "huge_declared_shape": huge_declared_shape,
}


def _edit_writer(edit: Callable[[Any], None]) -> Callable[[Any, Any], Path]:
    def writer(good: Any, path: Any) -> Path:
        return edit_copy(good, path, edit)

    writer.__doc__ = edit.__doc__
    return writer


CORRUPTIONS: dict[str, Callable[[Any, Any], Path]] = {
    "empty": lambda good, path: write_empty(path),
    "random_bytes": lambda good, path: write_random_bytes(path),
    "hdf5_not_nwb": lambda good, path: write_hdf5_not_nwb(path),
    "truncated_half": lambda good, path: write_truncated(good, path, 0.5),
    "truncated_tail": lambda good, path: write_truncated(good, path, 0.97),
    **{name: _edit_writer(edit) for name, edit in _EDITS.items()},
}
"""name -> ``writer(good_path, out_path) -> Path``."""


def corrupt(name: str, good: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the malformed file ``name`` (a key of :data:`CORRUPTIONS`) derived from ``good``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> corrupt("random_bytes", None, d / "r.nwb").stat().st_size
    65536
    """
    if name not in CORRUPTIONS:
        raise KeyNotFoundError(f"name must be one of {sorted(CORRUPTIONS)}, got {name!r}")
    return CORRUPTIONS[name](good, path)
