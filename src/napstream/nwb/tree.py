"""Walk an NWB HDF5 tree reading attributes, shapes and dtypes only, and name what is found.

Every group carrying a ``neurodata_type`` attribute is classified by its structure (so extension
subtypes of TimeSeries / DynamicTable work without their schema):

* a TimeSeries (``data`` + ``timestamps`` or ``starting_time``) -> ``Tsd`` / ``TsdFrame`` /
  ``TsdTensor`` by the number of dimensions of ``data`` (``Ts`` for AnnotationSeries);
* a DynamicTable (``colnames`` attribute) -> ``TsGroup`` (a ``*_times_index`` column, e.g. Units),
  ``IntervalSet`` (TimeIntervals: start_time + stop_time) or ``DataFrame``;
* containers (ProcessingModule, Position, LFP, Fluorescence...) are walked into;
* metadata-only types (Device, ElectrodeGroup, Subject...) are skipped;
* anything else holding data is listed as ``unsupported: <neurodata_type>``.

Keys follow pynapple (``pynapple.io.interface_nwb``): the object's name, made unique by
prepending parent container names when two objects share a name. Objects pynapple also lists are
named among themselves first so their keys match pynapple's exactly.

Examples
--------
>>> unique_keys({"/behavior/Position/a": "a", "/ecephys/a": "a", "/b": "b"})
{'/behavior/Position/a': 'Position/a', '/ecephys/a': 'ecephys/a', '/b': 'b'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py

__all__ = ["Entry", "walk", "unique_keys", "PYNAPPLE_KINDS"]

#: kinds pynapple's NWBFile also lists (their keys must match pynapple's)
PYNAPPLE_KINDS = ("Ts", "Tsd", "TsdFrame", "TsdTensor", "TsGroup", "IntervalSet")

_METADATA_TYPES = {
    "NWBFile", "Device", "ElectrodeGroup", "Subject", "ImagingPlane", "OpticalChannel",
    "IntracellularElectrode", "OptogeneticStimulusSite", "LabMetaData", "DeviceModel",
    "ProcessingModule", "SweepTable", "NWBContainer", "NWBDataInterface",
}
_SKIP_TOP = {"specifications", ".specloc"}


@dataclass
class Entry:
    """One object of the file: what it is, where, and how big (no values read)."""

    path: str  # HDF5 path, e.g. /processing/behavior/Position/SpatialSeriesLED1
    nwb_path: str  # pynapple-style path from container names, e.g. /behavior/Position/SpatialSeriesLED1
    neurodata_type: str
    namespace: str
    kind: str  # Ts, Tsd, TsdFrame, TsdTensor, TsGroup, IntervalSet, DataFrame, unsupported
    shape: tuple[int, ...]
    dtype: str
    key: str = ""
    timeseries: bool = False  # a TimeSeries (pynapple lists it even when napstream cannot convert it)

    @property
    def type_label(self) -> str:
        return f"unsupported: {self.neurodata_type}" if self.kind == "unsupported" else self.kind


def _attr_str(obj: Any, name: str, default: str = "") -> str:
    value = obj.attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _colnames(group: h5py.Group) -> list[str]:
    names = group.attrs.get("colnames", [])
    return [n.decode() if isinstance(n, bytes) else str(n) for n in list(names)]


def _classify_series(group: h5py.Group, ntype: str) -> tuple[str, tuple[int, ...], str]:
    data = group.get("data")
    if not isinstance(data, h5py.Dataset):
        return "unsupported", (), ""
    shape = tuple(int(s) for s in data.shape)
    dtype = str(data.dtype)
    if ntype == "AnnotationSeries" and "timestamps" in group:
        return "Ts", tuple(int(s) for s in group["timestamps"].shape), "float64"
    if "external_file" in group and (not shape or shape[0] == 0):
        return "unsupported", shape, dtype
    if data.dtype.kind in "OSUV" or not shape:
        return "unsupported", shape, dtype
    kind = {1: "Tsd", 2: "TsdFrame"}.get(len(shape), "TsdTensor")
    return kind, shape, dtype


def _classify_table(group: h5py.Group, ntype: str) -> tuple[str, tuple[int, ...], str]:
    cols = _colnames(group)
    ids = group.get("id")
    n = int(ids.shape[0]) if isinstance(ids, h5py.Dataset) and ids.shape else 0
    if any(c.endswith("_times") for c in cols) and any(k.endswith("_times_index") for k in group):
        return "TsGroup", (n,), "object"
    if ntype == "Units" and "spike_times" in cols:  # damaged: make_tsgroup names what is missing
        return "TsGroup", (n,), "object"
    if ntype == "TimeIntervals" or ("start_time" in cols and "stop_time" in cols):
        return "IntervalSet", (n, 2), "float64"
    return "DataFrame", (n, len(cols)), "object"


def _classify(group: h5py.Group, ntype: str, names: set[str]) -> tuple[str, tuple[int, ...], str] | None:
    """(kind, shape, dtype) of a typed group (``names``: its member names), or None to walk into / skip it."""
    if "id" in names and "colnames" in group.attrs:
        return _classify_table(group, ntype)
    if "data" in names and ("timestamps" in names or "starting_time" in names):
        return _classify_series(group, ntype)
    return None


def _kids(group: h5py.Group, memo: dict[str, list[tuple[str, Any]]], skip: Any = ()) -> list[tuple[str, Any]]:
    """(name, object) of the hard-linked members of ``group`` (but ``skip``), opened once per walk.

    Soft and external links are left out: they point at objects listed where they live.
    """
    out = memo.get(group.name)
    if out is None:
        out = []
        links = group.id.links
        for name in group:
            if name in skip:
                continue
            try:
                if links.get_info(name.encode()).type != h5py.h5l.TYPE_HARD:
                    continue
                out.append((name, group[name]))
            except (KeyError, OSError):
                continue
        memo[group.name] = out
    return out


def walk(f: h5py.File) -> list[Entry]:
    """All convertible (and unsupported) objects of an NWB file, metadata only, in file order."""
    out: list[Entry] = []
    _walk_group(f, [], out, {}, top=True)
    return out


def _walk_group(group: h5py.Group, parents: list[str], out: list[Entry], memo: dict[str, Any],
                top: bool = False) -> None:
    for name, child in _kids(group, memo, _SKIP_TOP if top else ()):
        if not isinstance(child, h5py.Group):
            continue
        ntype = _attr_str(child, "neurodata_type")
        if not ntype:
            _walk_group(child, parents, out, memo)  # plain group: acquisition, processing, intervals...
            continue
        found = _classify(child, ntype, set(child))
        if found is not None:
            kind, shape, dtype = found
            nwb_path = "/" + "/".join(parents + [name])
            out.append(Entry(child.name, nwb_path, ntype, _attr_str(child, "namespace"), kind, shape, dtype,
                             timeseries="colnames" not in child.attrs))
            continue
        if ntype in _METADATA_TYPES or not any(isinstance(k, h5py.Dataset) for _, k in _kids(child, memo)):
            _walk_group(child, parents + [name] if ntype != "NWBFile" else parents, out, memo)
            continue
        if any(isinstance(child.get(k), h5py.Group) for k in child):  # soft-linked groups count here
            _walk_group(child, parents + [name], out, memo)
        else:
            nwb_path = "/" + "/".join(parents + [name])
            out.append(Entry(child.name, nwb_path, ntype, _attr_str(child, "namespace"), "unsupported", (), ""))


def unique_keys(path_to_key: dict[str, str]) -> dict[str, str]:
    """Make keys unique by prepending parent path parts to the ambiguous ones (pynapple's rule)."""
    out = dict(path_to_key)
    for _ in range(64):
        counts: dict[str, int] = {}
        for key in out.values():
            counts[key] = counts.get(key, 0) + 1
        clash = {p: k for p, k in out.items() if counts[k] > 1}
        if not clash:
            return out
        for p, k in clash.items():
            parts = p.split("/")
            depth = len(k.split("/")) + 1
            new = "/".join(parts[-depth:]).lstrip("/")
            out[p] = new
    return out


def assign_keys(entries: list[Entry]) -> dict[str, Entry]:
    """Set ``entry.key`` for every entry; pynapple-listed kinds are named among themselves first.

    Objects whose container paths coincide (e.g. a stimulus and a stimulus template of the same name,
    both children of the file) fall back to their HDF5 paths so both stay reachable.
    """
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.nwb_path] = seen.get(e.nwb_path, 0) + 1
    for e in entries:
        if seen[e.nwb_path] > 1:
            e.nwb_path = e.path
    compat = [e for e in entries if e.kind in PYNAPPLE_KINDS or e.timeseries]
    others = [e for e in entries if not (e.kind in PYNAPPLE_KINDS or e.timeseries)]
    keys = unique_keys({e.nwb_path: e.nwb_path.rsplit("/", 1)[-1] for e in compat})
    for e in compat:
        e.key = keys[e.nwb_path]
    taken = {e.key for e in compat}
    okeys = unique_keys({e.nwb_path: e.nwb_path.rsplit("/", 1)[-1] for e in others})
    for e in others:
        key = okeys[e.nwb_path]
        if key in taken:
            key = e.nwb_path.lstrip("/")
        e.key = key
        taken.add(key)
    return {e.key: e for e in entries}
