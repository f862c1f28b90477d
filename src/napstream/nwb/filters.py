"""HDF5 compression filters beyond HDF5's own: find the ones a dataset needs, load hdf5plugin.

NWB files written for the DANDI Archive are often compressed with filters that HDF5 itself does not
ship (neuroconv and hdmf can write Zstandard, Blosc, LZ4, Bitshuffle... through ``hdf5plugin``).
pynwb reads them once the script runs ``import hdf5plugin``; without it h5py fails with
``can't open directory (/usr/local/lib/plugin)``, which reads like a damaged file.

napstream loads ``hdf5plugin`` by itself, when a dataset needs a filter HDF5 does not have and the
package is installed (``pip install "napstream[plugins]"``); when it is not installed, or does not
provide that filter either, the read raises :class:`~napstream.errors.MissingDependencyError`
naming the dataset, the filter and what to install.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
>>> with h5py.File(path, "w") as f:
...     _ = f.create_dataset("x", data=np.arange(100), chunks=(10,), compression="gzip")
>>> with h5py.File(path, "r") as f:
...     missing_filters(f["x"])     # gzip is HDF5's own
[]
>>> filter_name(32015)
'Zstandard'
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import h5py

from ..errors import MissingDependencyError

__all__ = ["PLUGIN_FILTERS", "filter_name", "load_plugins", "missing_filters", "need_filters", "need_filters_under", "pipeline"]

#: HDF5 filter ids registered with The HDF Group, by the name users know them by (those hdf5plugin provides)
PLUGIN_FILTERS = {
    307: "bzip2",
    32001: "Blosc",
    32004: "LZ4",
    32008: "Bitshuffle",
    32013: "ZFP",
    32015: "Zstandard",
    32017: "SZ",
    32018: "FCIDECOMP",
    32024: "SZ3",
    32026: "Blosc2",
    32028: "SPERR",
}

_LOCK = threading.Lock()
_TRIED = False
_LOADED = False


def filter_name(code: int) -> str:
    """The name of HDF5 filter ``code`` (``'filter 40000'`` for one napstream does not know)."""
    return PLUGIN_FILTERS.get(int(code), f"filter {int(code)}")


def pipeline(dset: h5py.Dataset) -> list[int]:
    """Ids of the filters of ``dset``'s pipeline, in order ([] when it has none or they cannot be read)."""
    try:
        plist = dset.id.get_create_plist()
        return [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]
    except Exception:  # noqa: BLE001 - a dataset whose pipeline cannot be read: not ours to judge
        return []


def missing_filters(dset: Any) -> list[int]:
    """Ids of the filters of ``dset``'s pipeline that this process's HDF5 cannot apply."""
    if not isinstance(dset, h5py.Dataset):
        return []
    return [code for code in pipeline(dset) if not h5py.h5z.filter_avail(code)]


def load_plugins() -> bool:
    """Import ``hdf5plugin`` (once per process), which registers its filters with HDF5; True when
    it is imported."""
    global _TRIED, _LOADED
    with _LOCK:
        if not _TRIED:
            _TRIED = True
            try:
                importlib.import_module("hdf5plugin")
                _LOADED = True
            except Exception:  # noqa: BLE001 - not installed, or broken: the error below says what to do
                _LOADED = False
        return _LOADED


def need_filters(dset: Any, what: str | None = None) -> bool:
    """Make the filters ``dset`` needs available: True when some were missing and are now loaded
    (a read that failed may be tried again), False when none was missing (the failure was
    something else). Raises :class:`MissingDependencyError` when they cannot be loaded.

    ``what`` names the dataset in the message (default: its HDF5 path).
    """
    missing = missing_filters(dset)
    if not missing:
        return False
    loaded = load_plugins()
    still = [code for code in missing if not h5py.h5z.filter_avail(code)]
    if not still:
        return True
    names = ", ".join(f"{filter_name(c)} (HDF5 filter {c})" for c in still)
    what = what or repr(getattr(dset, "name", "?"))
    if not loaded:
        fix = ('install hdf5plugin (`pip install hdf5plugin`, or `pip install "napstream[plugins]"`): '
               "napstream loads it by itself")
    elif any(c in PLUGIN_FILTERS for c in still):
        fix = "upgrade hdf5plugin (`pip install -U hdf5plugin`): the installed one does not provide it"
    else:
        fix = ("hdf5plugin does not provide it: install the filter's HDF5 plugin and point the "
               "HDF5_PLUGIN_PATH environment variable at its folder")
    raise MissingDependencyError(f"dataset {what} is compressed with {names}, which this HDF5 cannot decode: {fix}")


def need_filters_under(file: h5py.File, location: str, key: str | None = None) -> bool:
    """:func:`need_filters` for every dataset of the object at ``location`` of ``file`` (a group's
    members, recursively): True when a filter was missing and is now loaded. ``key`` names the
    object in the message."""
    try:
        obj = file[location]
    except Exception:  # noqa: BLE001 - not there: nothing of ours
        return False
    found = [obj] if isinstance(obj, h5py.Dataset) else []
    if isinstance(obj, h5py.Group):
        try:
            obj.visititems(lambda _, o: found.append(o) if isinstance(o, h5py.Dataset) else None)
        except Exception:  # noqa: BLE001 - a member that cannot be visited: the read's own error stands
            pass
    loaded = False
    for dset in found:
        name = f"{dset.name!r}" + (f" (of {key!r})" if key else "")
        loaded = need_filters(dset, name) or loaded
    return loaded
