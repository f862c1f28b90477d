"""A ``pynwb.NWBFile`` built in memory (not read from a file) as a source for :class:`NWBFile`.

pynapple accepts ``nap.NWBFile(nwbfile)`` for an NWBFile a script assembled with pynwb. napstream
reads NWB from HDF5, so the in-memory file is written once with pynwb into an HDF5 image held in
memory (``io.BytesIO``) and read from there like any file: same keys, same conversion. The objects
are in memory anyway, so this costs one copy of their data.

Examples
--------
>>> from pynwb.testing.mock.file import mock_NWBFile
>>> from pynwb.testing.mock.base import mock_TimeSeries
>>> nwbfile = mock_NWBFile()
>>> nwbfile.add_acquisition(mock_TimeSeries(name="ts"))
>>> is_in_memory_nwbfile(nwbfile)
True
>>> sorted(as_hdf5(nwbfile)["acquisition"])
['ts']
"""

from __future__ import annotations

import io
from typing import Any

import h5py

__all__ = ["is_in_memory_nwbfile", "as_hdf5"]


def is_in_memory_nwbfile(obj: Any) -> bool:
    """True for a pynwb ``NWBFile`` that was not read from a file (duck typing; pynwb not imported)."""
    if type(obj).__name__ != "NWBFile" or not hasattr(obj, "acquisition") or not hasattr(obj, "object_id"):
        return False
    return getattr(obj, "read_io", None) is None and getattr(obj, "container_source", None) is None


def as_hdf5(nwbfile: Any) -> h5py.File:
    """Write an in-memory pynwb NWBFile to an HDF5 image in memory and open it for reading.

    Raises
    ------
    napstream.errors.MissingDependencyError
        pynwb is not installed.
    napstream.errors.FileFormatError
        pynwb cannot write the file (an invalid NWBFile); the message names pynwb's reason.
    """
    from ..errors import FileFormatError, missing_dependency

    try:
        import pynwb
    except ImportError as err:  # pragma: no cover - pynwb is a test dependency
        raise missing_dependency("pynwb", "nwb") from err
    buf = io.BytesIO()
    try:
        with pynwb.NWBHDF5IO(file=h5py.File(buf, "w"), mode="w", manager=pynwb.get_manager()) as writer:
            writer.write(nwbfile, link_data=False)  # copy data held in other HDF5 files
    except Exception as err:  # noqa: BLE001 - pynwb/hdmf raise many types; re-raise one clear error
        raise FileFormatError(f"cannot convert the in-memory pynwb NWBFile: pynwb failed to write it ({err})") from err
    return h5py.File(buf, "r")
