"""Walk an NWB HDF5 tree reading attributes, shapes and dtypes only, and name what is found.

Every group carrying a ``neurodata_type`` attribute is classified by its structure and by its type's
inheritance (:mod:`napstream.nwb.specs`: core types built in, extension types from the specs cached
in the file), so extension subtypes get their parent's treatment:

* a TimeSeries (``data`` + ``timestamps`` or ``starting_time``) -> ``Tsd`` / ``TsdFrame`` /
  ``TsdTensor`` by the number of dimensions of ``data`` (``Ts`` for AnnotationSeries; an empty
  ``Tsd`` for a TimeSeries without ``data``, like pynapple);
* a DynamicTable (``colnames`` attribute) -> ``TsGroup`` (a ``*_times_index`` column, e.g. Units),
  ``IntervalSet`` (TimeIntervals: start_time + stop_time), ``Ts`` (a ``*_times`` column; a dict of Ts
  when there are several, like pynapple) or ``DataFrame``;
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
import numpy as np

from .specs import TypeTree, attr_text

__all__ = ["Entry", "walk", "unique_keys", "PYNAPPLE_KINDS"]

#: kinds pynapple's NWBFile also lists (their keys must match pynapple's)
PYNAPPLE_KINDS = ("Ts", "Tsd", "TsdFrame", "TsdTensor", "TsGroup", "IntervalSet")

#: metadata-only types (and their subtypes): walked into, never listed themselves
_METADATA_BASES = (
    "Device", "ElectrodeGroup", "Subject", "ImagingPlane", "OpticalChannel",
    "IntracellularElectrode", "OptogeneticStimulusSite", "LabMetaData", "DeviceModel", "ProcessingModule",
)
#: generic types matched by exact name only (everything inherits from them)
_METADATA_EXACT = {"NWBFile", "SweepTable", "NWBContainer", "NWBDataInterface"}
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
    ancestry: tuple[str, ...] = ()  # (neurodata_type, parent, grandparent, ...)
    reason: str = ""  # why an unsupported object is not converted
    h5path: Any = None  # the HDF5 path as bytes when it is not UTF-8 (``path`` shows it escaped)

    @property
    def location(self) -> Any:
        """What ``h5py.File.__getitem__`` needs to open the object (``path``, or its raw bytes)."""
        return self.path if self.h5path is None else self.h5path

    @property
    def type_label(self) -> str:
        return f"unsupported: {self.neurodata_type}" if self.kind == "unsupported" else self.kind

    def is_a(self, base: str) -> bool:
        """True when the object's neurodata type is ``base`` or inherits from it."""
        return base == self.neurodata_type or base in self.ancestry


def _attr_str(obj: Any, name: str, default: str = "") -> str:
    return attr_text(obj.attrs.get(name, default), default)


def _colnames(group: h5py.Group) -> list[str]:
    names = group.attrs.get("colnames", [])
    return [n.decode() if isinstance(n, bytes) else str(n) for n in list(names)]


_EXTERNAL_REASON = ("its frames are stored in external files (external_file), not in the NWB file; "
                    "read the file names with nwb.file[{path!r}]['external_file'][()]")


def _external_reason(link: h5py.ExternalLink) -> str:
    return (f"an external link to {link.path!r} in the file {link.filename!r}, which napstream does not follow "
            f"(a remote file cannot reach the other file, and a local one may not be where the link says); "
            f"open {link.filename!r} itself")


def _classify_series(group: h5py.Group, ancestry: tuple[str, ...]) -> tuple[str, tuple[int, ...], str, str]:
    data = _get(group, "data")
    if data is None and group.get("data", getlink=True) is None:  # a TimeSeries without data: pynapple's empty Tsd
        return "Tsd", (0,), "float64", ""
    link = group.get("data", getlink=True)
    if isinstance(link, h5py.ExternalLink):
        return "unsupported", (), "", "its data is " + _external_reason(link)
    if not isinstance(data, h5py.Dataset):
        return "unsupported", (), "", "its data is not a dataset"
    shape = tuple(int(s) for s in data.shape)
    dtype = str(data.dtype)
    if "AnnotationSeries" in ancestry and "timestamps" in group:
        return "Ts", tuple(int(s) for s in group["timestamps"].shape), "float64", ""
    if "external_file" in group and (not shape or shape[0] == 0):
        return "unsupported", shape, dtype, _EXTERNAL_REASON.format(path=group.name)
    if not shape:
        return "unsupported", shape, dtype, "its data is a scalar, not one value per time"
    if data.dtype.kind in "OSUV":
        if h5py.check_string_dtype(data.dtype) is None or len(shape) > 2:
            return "unsupported", shape, dtype, f"its data holds {data.dtype} values, not numbers or text"
        # text (labels, annotations): a Tsd/TsdFrame of the stored bytes, as pynapple gives it, in memory
        return {1: "Tsd", 2: "TsdFrame"}[len(shape)], shape, "object", ""
    kind = {1: "Tsd", 2: "TsdFrame"}.get(len(shape), "TsdTensor")
    return kind, shape, dtype, ""


def _classify_table(group: h5py.Group, ancestry: tuple[str, ...]) -> tuple[str, tuple[int, ...], str, str]:
    cols = _colnames(group)
    ids = group.get("id")
    n = int(ids.shape[0]) if isinstance(ids, h5py.Dataset) and ids.shape else 0
    if any(c.endswith("_times") for c in cols) and any(k.endswith("_times_index") for k in _members(group)):
        return "TsGroup", (n,), "object", ""
    if "Units" in ancestry and "spike_times" in cols:  # damaged: make_tsgroup names what is missing
        return "TsGroup", (n,), "object", ""
    if "Units" in ancestry and n == 0 and not cols:  # a units table left empty: an empty TsGroup
        return "TsGroup", (0,), "object", ""
    if "TimeIntervals" in ancestry or ("start_time" in cols and "stop_time" in cols):
        return "IntervalSet", (n, 2), "float64", ""
    members = _members(group)
    if any(c.endswith("_times") and f"{c}_index" not in members for c in cols):  # pynapple: event times
        return "Ts", (n,), "float64", ""
    width = len(cols)
    for cat in np.atleast_1d(np.asarray(group.attrs.get("categories", []), dtype=object)):  # AlignedDynamicTable
        sub = group.get(cat.decode() if isinstance(cat, bytes) else str(cat))
        if isinstance(sub, h5py.Group):
            width += 1 + len(_colnames(sub))  # its id and its columns (nwb/tables.py)
    return "DataFrame", (n, width), "object", ""


def _classify(group: h5py.Group, ancestry: tuple[str, ...],
              names: set[str]) -> tuple[str, tuple[int, ...], str, str] | None:
    """(kind, shape, dtype, reason) of a typed group (``names``: its members), or None to walk into / skip it."""
    if "id" in names and "colnames" in group.attrs:
        return _classify_table(group, ancestry)
    timed = "timestamps" in names or "starting_time" in names
    if timed and ("data" in names or "TimeSeries" in ancestry):
        return _classify_series(group, ancestry)
    return None


def _is_metadata(ancestry: tuple[str, ...]) -> bool:
    return bool(ancestry) and (ancestry[0] in _METADATA_EXACT or any(b in ancestry for b in _METADATA_BASES))


def shown(name: Any) -> str:
    """An HDF5 name as text: h5py gives names that are not UTF-8 as bytes; they are shown escaped."""
    return name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else name


def _kids(group: h5py.Group, memo: dict[Any, list[tuple[str, Any]]], skip: Any = ()) -> list[tuple[str, Any]]:
    """(name, object) of the hard-linked members of ``group`` (but ``skip``), opened once per walk.

    Soft and external links are left out: they point at objects listed where they live (an external
    link's file is not opened, locally or remotely). Names that are not UTF-8 are shown escaped.
    """
    out = memo.get(group.name)
    if out is None:
        out = []
        links = group.id.links
        for name in group:
            if name in skip:
                continue
            try:
                raw = name if isinstance(name, bytes) else name.encode()
                link_type = links.get_info(raw).type
                if link_type == h5py.h5l.TYPE_EXTERNAL:
                    out.append((shown(name), group.get(name, getlink=True)))
                    continue
                if link_type != h5py.h5l.TYPE_HARD:
                    continue
                out.append((shown(name), group[name]))
            except (KeyError, OSError):
                continue
        memo[group.name] = out
    return out


def _members(group: h5py.Group) -> set[str]:
    return {shown(n) for n in group}


def walk(f: h5py.File, types: TypeTree | None = None) -> list[Entry]:
    """All convertible (and unsupported) objects of an NWB file, metadata only, in file order."""
    out: list[Entry] = []
    _walk_group(f, [], out, {}, types or TypeTree(f), top=True)
    return out


def _walk_group(group: h5py.Group, parents: list[str], out: list[Entry], memo: dict[str, Any],
                types: TypeTree, top: bool = False) -> None:
    for name, child in _kids(group, memo, _SKIP_TOP if top else ()):
        if isinstance(child, h5py.ExternalLink):
            nwb_path = "/" + "/".join(parents + [name])
            out.append(Entry(f"{shown(group.name).rstrip('/')}/{name}", nwb_path, "ExternalLink", "",
                             "unsupported", (), "", reason=_external_reason(child)))
            continue
        if not isinstance(child, h5py.Group):
            continue
        ntype = _attr_str(child, "neurodata_type")
        if not ntype:
            _walk_group(child, parents, out, memo, types)  # plain group: acquisition, processing, intervals...
            continue
        namespace = _attr_str(child, "namespace")
        ancestry = types.ancestry(ntype, namespace)
        found = _classify(child, ancestry, _members(child))
        nwb_path = "/" + "/".join(parents + [name])
        h5path = child.name if isinstance(child.name, bytes) else None
        if found is not None:
            kind, shape, dtype, reason = found
            out.append(Entry(shown(child.name), nwb_path, ntype, namespace, kind, shape, dtype,
                             timeseries="colnames" not in child.attrs, ancestry=ancestry, reason=reason,
                             h5path=h5path))
            continue
        if _is_metadata(ancestry) or not any(isinstance(k, h5py.Dataset) for _, k in _kids(child, memo)):
            _walk_group(child, parents + [name] if ntype != "NWBFile" else parents, out, memo, types)
            continue
        if any(isinstance(_get(child, k), h5py.Group) for k in child):  # soft-linked groups count here
            _walk_group(child, parents + [name], out, memo, types)
        else:
            out.append(Entry(shown(child.name), nwb_path, ntype, namespace, "unsupported", (), "",
                             ancestry=ancestry, reason=f"napstream has no converter for {ntype}", h5path=h5path))


def _get(group: h5py.Group, name: Any) -> Any:
    """``group.get(name)``, None for a link that cannot be followed (dangling, or to another file)."""
    try:
        return group.get(name)
    except (KeyError, OSError, RuntimeError, ValueError):
        return None


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
