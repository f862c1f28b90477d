"""Neurodata types (h5py groups) -> lazy napstream objects.

Nothing here reads a large dataset: data and explicit timestamps become
:class:`~napstream.core.lazy.LazyArray` views (with NWB's ``conversion``, ``offset`` and
``channel_conversion`` applied on read); only small things are read when an object is built
(unit ids and spike-time boundaries, obs_intervals, metadata columns, ``starting_time``).

=====================  ==========================================================
NWB                    napstream
=====================  ==========================================================
TimeSeries (+subtypes)  Tsd (1-D data), TsdFrame (2-D), TsdTensor (>2-D)
AnnotationSeries       Ts
Units                  TsGroup (lazy Ts per unit; obs_intervals -> time support)
TimeIntervals          IntervalSet (+ metadata columns)
other DynamicTables    pandas.DataFrame
=====================  ==========================================================

Examples
--------
>>> import numpy as np
>>> scale_and_offset({"conversion": 2.0, "offset": 1.0}, None)
(2.0, 1.0)
>>> scale_and_offset({"conversion": 1.0}, np.array([1.0, 1.0]))
(None, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..core.interval_set import IntervalSet
from ..core.lazy import LazyArray
from ..core.time_index import ArrayTimeIndex, RegularTimeIndex, TimeIndex
from ..errors import FileFormatError, UnsupportedTypeError
from .source import ClosedFileGuard, DatasetRef, read_whole
from .tables import colnames, column_is_large, decode_strings, read_column, read_table, table_ids
from .tree import Entry

__all__ = ["ReadContext", "convert", "wrap_dataset", "scale_and_offset"]

_GROUP_ATTRS = ("location", "x", "y", "z", "imp", "filtering", "rel_x", "rel_y", "rel_z", "reference")


def wrap_dataset(dset: h5py.Dataset, byte_source: Any) -> Any:
    """``napstream.nwb.prefetch.wrap_dataset`` when available (chunk prefetching), else ``dset``."""
    try:
        from .prefetch import wrap_dataset as _wrap
    except ImportError:
        return dset
    return _wrap(dset, byte_source)


@dataclass
class ReadContext:
    """What converters need: the open file, its byte source and how to reopen it."""

    file: h5py.File
    byte_source: Any = None
    reopen: str | None = field(default=None, repr=False)  # may hold a signed URL: never shown
    io_options: dict[str, Any] = field(default_factory=dict)
    lazy_loading: bool = True

    def lazy(self, dset: h5py.Dataset, scale: Any = None, offset: float = 0.0) -> LazyArray:
        ref = None
        if self.reopen is not None:
            ref = DatasetRef(self.reopen, dset.name, tuple(sorted(self.io_options.items())))
        base = ClosedFileGuard(wrap_dataset(dset, self.byte_source), dset)  # "the file was closed", not h5py's errors
        return LazyArray(base, scale=scale, offset=offset, ref=ref)

    def data(self, lazy: LazyArray) -> Any:
        return lazy if self.lazy_loading else lazy.load()


def _scalar(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def scale_and_offset(attrs: Any, channel_conversion: np.ndarray | None) -> tuple[Any, float]:
    """(scale, offset) of ``raw * scale + offset``; scale None when it is exactly 1."""
    conversion = _scalar(attrs.get("conversion", 1.0), 1.0)
    offset = _scalar(attrs.get("offset", 0.0), 0.0)
    if channel_conversion is not None:
        scale = conversion * np.asarray(channel_conversion, dtype=np.float64)
        if np.all(scale == 1.0):
            scale = None
    else:
        scale = None if conversion == 1.0 else conversion
    return scale, offset


# ------------------------------------------------------------------------------------------ time
def time_index(group: h5py.Group, n: int, ctx: ReadContext) -> TimeIndex:
    """Explicit timestamps -> lazy ArrayTimeIndex; starting_time + rate -> RegularTimeIndex."""
    if "timestamps" in group:
        ts = ctx.lazy(group["timestamps"])
        if len(ts) != n:
            raise FileFormatError(
                f"{group.name}: timestamps has {len(ts)} rows but data has {n}; the file is damaged"
            )
        if not ctx.lazy_loading:
            return ArrayTimeIndex(np.asarray(ts.load(), dtype=np.float64))
        return ArrayTimeIndex(ts, check=False)
    st = group["starting_time"]
    rate = _scalar(st.attrs.get("rate"), float("nan"))
    return RegularTimeIndex(start=float(st[()]), rate=rate, n=n)


# ------------------------------------------------------------------------------------------ series
def _region_rows(ctx: ReadContext, region: h5py.Dataset) -> tuple[h5py.Group, np.ndarray]:
    table = ctx.file[region.attrs["table"]]
    return table, np.asarray(region[()], dtype=np.int64).ravel()


def _scalar_columns(table: h5py.Group) -> list[str]:
    """Columns with one number/string per row (no ragged, references or multi-value columns)."""
    out = []
    for name in colnames(table):
        dset = table.get(name)
        if not isinstance(dset, h5py.Dataset) or f"{name}_index" in table or len(dset.shape) != 1:
            continue
        if dset.dtype.names or h5py.check_ref_dtype(dset.dtype) is not None:
            continue
        out.append(name)
    return out


def _frame_columns(group: h5py.Group, entry: Entry, ctx: ReadContext) -> tuple[Any, Any]:
    """(columns, metadata) like pynapple: x/y/z, electrode ids (+ their table rows) or range."""
    ncols = entry.shape[1]
    if entry.neurodata_type == "SpatialSeries" and ncols in (2, 3):
        return ["x", "y", "z"][:ncols], None
    region_name = {"ElectricalSeries": "electrodes", "RoiResponseSeries": "rois"}
    region = None
    for name in ("electrodes", "rois"):
        if name in group and "table" in group[name].attrs:
            region = group[name]
            break
    if region is None or entry.neurodata_type not in region_name and "table" not in region.attrs:
        return np.arange(ncols), None
    try:
        table, rows = _region_rows(ctx, region)
        if len(rows) < ncols:
            return np.arange(ncols), None
        rows = rows[:ncols]
        ids = table_ids(table)[rows]
        meta = {c: decode_strings(read_column(table, c))[rows] for c in _scalar_columns(table)}
        return ids, pd.DataFrame(meta, index=ids) if meta else None
    except (KeyError, ValueError, OSError, IndexError):
        return np.arange(ncols), None


def make_series(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """A TimeSeries group -> Tsd / TsdFrame / TsdTensor (lazy)."""
    from ..core import Tsd, TsdFrame, TsdTensor

    dset = group["data"]
    cc = np.asarray(group["channel_conversion"][()], dtype=np.float64) if "channel_conversion" in group else None
    if cc is not None and (dset.ndim < 2 or len(cc) != dset.shape[1]):
        cc = None
    scale, offset = scale_and_offset(dset.attrs, cc)
    data = ctx.lazy(dset, scale=scale, offset=offset)
    t = time_index(group, int(dset.shape[0]), ctx)
    if len(t) < len(data):
        data = data.select([[0, len(t)]])
    if entry.kind == "Tsd":
        return Tsd(t=t, d=ctx.data(data))
    if entry.kind == "TsdTensor":
        return TsdTensor(t=t, d=ctx.data(data))
    columns, metadata = _frame_columns(group, entry, ctx)
    if metadata is not None:
        try:
            return TsdFrame(t=t, d=ctx.data(data), columns=columns, metadata=metadata)
        except TypeError:  # a TsdFrame without metadata support
            pass
    return TsdFrame(t=t, d=ctx.data(data), columns=columns)


def make_ts(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """AnnotationSeries -> Ts of its timestamps."""
    from ..core import Ts

    n = int(group["timestamps"].shape[0])
    return Ts(t=time_index(group, n, ctx))


# ------------------------------------------------------------------------------------------ units
def _unit_supports(group: h5py.Group, n: int) -> list[IntervalSet | None]:
    if "obs_intervals" not in group or "obs_intervals_index" not in group:
        return [None] * n
    obs = np.asarray(group["obs_intervals"][()], dtype=np.float64).reshape(-1, 2)
    bounds = np.concatenate([[0], np.asarray(read_whole(group["obs_intervals_index"]), dtype=np.int64)])
    out: list[IntervalSet | None] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        out.append(IntervalSet(obs[a:b, 0], obs[a:b, 1]) if b > a else None)
    return out


def _group_metadata(group: h5py.Group, col: str, n: int) -> dict[str, np.ndarray]:
    """pynapple's electrode_group expansion: attributes every referenced group has."""
    f = group.file
    attrs_by_ref: dict[Any, dict[str, Any]] = {}
    rows = []
    for r in group[col][()]:
        if not r:
            continue
        key = h5py.h5r.get_name(r, f.id)  # cheap: no attribute reads
        if key not in attrs_by_ref:  # one dereference per electrode group, not per unit
            attrs_by_ref[key] = dict(f[r].attrs)
        rows.append(attrs_by_ref[key])
    out = {}
    for name in _GROUP_ATTRS:
        values = [a[name] for a in rows if name in a]
        if len(values) == n:
            out[name] = decode_strings(np.array(values))
    return out


def units_metadata(group: h5py.Group, n: int) -> dict[str, np.ndarray]:
    """Per-unit metadata columns of a Units-like table (small reads)."""
    meta: dict[str, np.ndarray] = {}
    skip = {"obs_intervals", "rate"}
    for col in colnames(group):
        if col in skip or col.endswith("_times") or col not in group:
            continue
        if col == "electrode_group" and h5py.check_ref_dtype(group[col].dtype) is not None:
            meta.update({k: v for k, v in _group_metadata(group, col, n).items() if k not in meta})
            continue
        if column_is_large(group, col):
            continue
        values = read_column(group, col)
        if len(values) == n:
            meta[col] = values
    return meta


def make_tsgroup(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """Units (or any table with a ``*_times`` ragged column) -> TsGroup of lazy Ts."""
    from ..core import Ts, TsGroup

    times_col = "spike_times" if "spike_times_index" in group else next(
        (c for c in colnames(group) if c.endswith("_times") and f"{c}_index" in group), "spike_times")
    if times_col not in group or f"{times_col}_index" not in group:
        raise FileFormatError(f"{group.name} lists the column {times_col!r} but the file has no "
                              f"{times_col} and {times_col}_index datasets; the file is damaged")
    ids = table_ids(group)
    ends = np.asarray(read_whole(group[f"{times_col}_index"]), dtype=np.int64)
    n_times = int(group[times_col].shape[0])
    if len(ends) != len(ids) or (len(ends) and (ends.min() < 0 or ends.max() > n_times or (np.diff(ends) < 0).any())):
        raise FileFormatError(
            f"{group.name}/{times_col}_index must hold {len(ids)} non-decreasing row ends within [0, {n_times}]; "
            f"got {ends[:10].tolist()}{'...' if len(ends) > 10 else ''}; the file is damaged"
        )
    starts = np.concatenate([[0], ends[:-1]])
    spikes = ctx.lazy(group[times_col])
    supports = _unit_supports(group, len(ids))
    units = {}
    for uid, a, b, support in zip(ids, starts, ends, supports):
        t = spikes.select([[a, b]])
        t = ArrayTimeIndex(t, check=False) if ctx.lazy_loading else np.asarray(t.load(), dtype=np.float64)
        units[int(uid)] = Ts(t=t, time_support=support)
    meta = units_metadata(group, len(ids))
    # each unit keeps its own obs_intervals as time support; the group's is their union
    has_supports = any(s is not None for s in supports)
    return TsGroup(units, metadata=meta or None, bypass_check=has_supports)


# ------------------------------------------------------------------------------------------ tables
def make_interval_set(group: h5py.Group, entry: Entry, ctx: ReadContext) -> IntervalSet:
    """TimeIntervals -> IntervalSet with the other columns as metadata."""
    start = np.asarray(read_column(group, "start_time"), dtype=np.float64)
    end = np.asarray(read_column(group, "stop_time"), dtype=np.float64)
    df = read_table(group, exclude=("start_time", "stop_time"))
    meta = df.reset_index(drop=True) if len(df.columns) else None
    if meta is None:
        return IntervalSet(start=start, end=end)
    return IntervalSet(start=start, end=end, metadata=meta)


def make_dataframe(group: h5py.Group, entry: Entry, ctx: ReadContext) -> pd.DataFrame:
    """Any other DynamicTable -> DataFrame indexed by id."""
    return read_table(group)


_MAKERS = {
    "Tsd": make_series, "TsdFrame": make_series, "TsdTensor": make_series, "Ts": make_ts,
    "TsGroup": make_tsgroup, "IntervalSet": make_interval_set, "DataFrame": make_dataframe,
}


def convert(entry: Entry, ctx: ReadContext) -> Any:
    """Build the napstream object of ``entry`` (lazy)."""
    maker = _MAKERS.get(entry.kind)
    if maker is None:
        raise UnsupportedTypeError(
            f"{entry.key!r} ({entry.path}) is a {entry.neurodata_type}, which napstream cannot convert; "
            f"read it with h5py via nwb.file[{entry.path!r}]"
        )
    obj = maker(ctx.file[entry.path], entry, ctx)
    if not ctx.lazy_loading and entry.kind in ("Ts", "Tsd", "TsdFrame", "TsdTensor") and hasattr(obj, "load"):
        obj = obj.load()  # pynapple's lazy_loading=False: everything in memory
    return obj
