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
table with *_times     Ts (one column) or dict of Ts (several), like pynapple
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

import collections
import logging
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..core.interval_set import IntervalSet
from ..core.lazy import LazyArray, normalize_segments
from ..core.time_index import ArrayTimeIndex, RegularTimeIndex, TimeIndex
from ..errors import FileFormatError, NapstreamError, UnsupportedTypeError
from ..io.ranges import coalesce_ranges
from . import prefetch as _prefetch  # noqa: F401 - every lazy dataset is read through it: imported
# with the converters, not at the first read (a job's first remote request waited ~0.03 s for it)
from .source import ClosedFileGuard, DatasetRef, read_whole
from .tables import colnames, decode_strings, read_column, read_table, table_ids
from .timestamps import (SCAN_BLOCK_ROWS, SCAN_MAX_ROWS, SCAN_PIECE_ROWS, finite_for_sorting, scan_arrivals,
                         scan_segments, scan_unsorted, user_stacklevel, warn_sorted)
from .tree import Entry

__all__ = ["ReadContext", "convert", "wrap_dataset", "scale_and_offset"]

_log = logging.getLogger(__name__)
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
    name: str = ""  # the file, as error messages name it
    #: fetch the rows a conversion is about to read one after the other in one batch (prefetch_rows)
    batch_reads = True
    #: a series' values of at most this many bytes are fetched with its timestamps when those are
    #: read whole at creation (to check they are sorted): the values are what comes next
    together_bytes = 8 * 2**20
    #: a units table's spike times come through the source's read-ahead, and each unit is built as
    #: soon as its times are here while the others arrive (False: one blocking batch first)
    read_ahead_units = True
    #: a small series whose timestamps are checked at creation: its values are fetched in the
    #: background while the timestamps arrive and are checked, and the object is returned without
    #: waiting for them (their reads wait for the bytes on their way). False: one blocking batch
    values_behind = True
    #: background fetches of values still running (:meth:`prefetch_behind`)
    _behind: list = field(default_factory=list, repr=False)
    #: called with a units table's group once its spike times are on their way in the background
    #: (the file queues the position behind them: :func:`.speculate.follow_units`); None: nothing
    follow_units: Any = field(default=None, repr=False)

    def lazy(self, dset: h5py.Dataset, scale: Any = None, offset: float = 0.0) -> LazyArray:
        ref = None
        if self.reopen is not None:
            ref = DatasetRef(self.reopen, dset.name, tuple(sorted(self.io_options.items())))
        base = ClosedFileGuard(wrap_dataset(dset, self.byte_source), dset)  # "the file was closed", not h5py's errors
        return LazyArray(base, scale=scale, offset=offset, ref=ref)

    def data(self, lazy: LazyArray) -> Any:
        return lazy if self.lazy_loading else lazy.load()

    def prefetch_rows(self, *parts: tuple[h5py.Dataset, list[tuple[int, int]]]) -> None:
        """Fetch the storage of the row spans of datasets, ``(dset, [(start, stop), ...])``, in one
        concurrent batch (remote files only).

        For reads about to happen one after the other (the searches that build a TsGroup's units, a
        series' timestamps then its values): they then wait on the network once. Nothing is fetched
        past the source's ``prefetch_limit``.
        """
        src = self.byte_source
        if src is None or not self.batch_reads:
            return
        if getattr(src, "_check_content", False) and len(parts) > 1:
            # a server without validators: each batch re-reads a few earlier bytes to catch a file
            # replaced mid-job; one batch per dataset keeps the joins it compares what they were
            for part in parts:
                self.prefetch_rows(part)
            return
        ranges = _storage_ranges(parts)
        if ranges is not None:
            self._prefetch_ranges(ranges)

    def _prefetch_ranges(self, ranges: list[Any]) -> None:
        src = self.byte_source
        limit = getattr(src, "prefetch_limit", None)
        if ranges and (limit is None or sum(r.length for r in ranges) <= limit):
            from .speculate import await_speculated

            await_speculated(src, [(r.start, r.end) for r in ranges])  # on their way already: wait
            src.prefetch(ranges)

    def prefetch_behind(self, dset: h5py.Dataset, spans: list[tuple[int, int]],
                        before: tuple[h5py.Dataset, list[tuple[int, int]]] | None = None) -> threading.Thread | None:
        """:meth:`prefetch_rows` of one dataset in a background thread (remote files only): the
        caller goes on while the rows arrive; a read of them meanwhile waits for those bytes
        instead of fetching them again. The thread, or None when nothing was started.

        ``before``: rows ``(dset, spans)`` the caller fetches itself next; a block holding bytes of
        both is left to the caller (else its read would wait for this whole batch).
        """
        src = self.byte_source
        if (src is None or not (self.batch_reads and self.values_behind) or not spans
                or getattr(src, "_check_content", False) or not getattr(src, "is_remote", False)):
            return None
        ranges = _storage_ranges([(dset, spans)])
        theirs = _storage_ranges([before]) if before is not None else []
        if not ranges or theirs is None:
            return None
        bs = int(getattr(src, "block_size", 0) or 0)
        if bs > 0 and theirs:
            ranges = _without_blocks(ranges, {j for r in theirs for j in range(r.start // bs, (r.end - 1) // bs + 1)}, bs)

        limit = getattr(src, "prefetch_limit", None)
        starter = getattr(src, "prefetch_behind", None)
        if starter is None or (limit is not None and sum(r.length for r in ranges) > limit):
            return None
        byte_spans = [(r.start, r.end) for r in ranges]

        def before() -> None:
            from .speculate import await_speculated

            await_speculated(src, byte_spans)  # on their way already: wait for them

        try:  # the blocks are claimed here: a read of them from now on waits for this fetch
            thread = starter(byte_spans, before=before, name="napstream-values-behind")
        except Exception as err:  # noqa: BLE001 - a hint only: the reads fetch what is missing
            _log.debug("background fetch of %s not started: %r", getattr(dset, "name", dset), err)
            return None
        if thread is not None:
            self._behind[:] = [t for t in self._behind if t.is_alive()] + [thread]
        return thread

    def join_behind(self, timeout: float = 30.0) -> None:
        """Wait for the background fetches of :meth:`prefetch_behind` (before the file closes)."""
        threads, self._behind[:] = list(self._behind), []
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def read_ahead_rows(self, dset: h5py.Dataset, spans: list[tuple[int, int]]) -> Any:
        """Like :meth:`prefetch_rows` for one dataset, but the rows come in the background, in the
        order given, so a build that reads them in that order starts on the first ones while the
        later ones are on their way (see :func:`.prefetch.read_ahead_rows`). Returns a handle to
        ``cancel()`` once read (None: fetched here, as :meth:`prefetch_rows` does)."""
        src = self.byte_source
        if src is None or not (self.batch_reads and self.read_ahead_units) or getattr(src, "_check_content", False):
            self.prefetch_rows((dset, spans))
            return None
        from .prefetch import read_ahead_rows

        handle = read_ahead_rows(src, dset, spans)
        if handle is None:
            self.prefetch_rows((dset, spans))
        return handle

    def scan_sorted(self, dset: h5py.Dataset) -> bool:
        """Whether stored timestamps ``dset`` are scanned for disorder when their object is built.

        Local files: up to ``SCAN_MAX_ROWS`` rows (read in 8 MB blocks). Remote files: only datasets
        small enough to be fetched whole at their first read anyway (one round trip). Longer ones are
        checked in full on first use by anything that searches by time (``ArrayTimeIndex.check_order``).
        ``napstream.config.timestamp_scan_rows`` (when set) replaces both limits.
        """
        from ..config import config

        n = int(dset.shape[0]) if dset.shape else 0
        if n == 0:
            return False
        if not self.lazy_loading:  # everything is read anyway
            return True
        if config.timestamp_scan_rows is not None:  # the user's choice, local or remote
            return n <= config.timestamp_scan_rows
        if n > SCAN_MAX_ROWS:
            return False
        if self.byte_source is None:
            return True
        try:
            from .prefetch import PrefetchingDataset

            return 0 < int(dset.id.get_storage_size()) <= PrefetchingDataset.whole_dataset_bytes
        except (ImportError, OSError, RuntimeError, ValueError):
            return False


def _storage_ranges(parts: Any) -> list[Any] | None:
    """Coalesced byte ranges of the row spans of datasets ``(dset, [(start, stop), ...])``; None
    when their chunk index cannot say."""
    try:
        from .prefetch import ChunkIndex

        wanted = []
        for dset, spans in parts:
            index = ChunkIndex(dset) if spans else None
            wanted += [r for a, b in spans for r in index.ranges(int(a), int(b))] if index else []
        return coalesce_ranges(wanted, max_gap=64 * 1024)
    except (ImportError, OSError, RuntimeError, ValueError):
        return None


def _without_blocks(ranges: list[Any], blocks: set[int], bs: int) -> list[Any]:
    """``ranges`` less the bytes of blocks ``blocks`` (of ``bs`` bytes)."""
    from ..io.ranges import ByteRange

    out = []
    for r in ranges:
        start = r.start
        for j in sorted(b for b in blocks if r.start < (b + 1) * bs and b * bs < r.end):
            if j * bs > start:
                out.append(ByteRange(start, j * bs))
            start = max(start, (j + 1) * bs)
        if start < r.end:
            out.append(ByteRange(start, r.end))
    return out


def _scalar(value: Any, default: float) -> float:
    """A number attribute as float: 1-element arrays (matnwb 2.0b, aqnwb) unwrapped; ``default`` if absent/bad."""
    if value is None:
        return default
    try:
        arr = np.asarray(value).reshape(-1)
        return float(arr[0]) if arr.size == 1 else default
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
        _require_1d(group["timestamps"])
        ts = ctx.lazy(group["timestamps"])
        if len(ts) != n:
            raise FileFormatError(
                f"{group.name}: timestamps has {len(ts)} rows but data has {n}; the file is damaged"
            )
        if not ctx.lazy_loading:  # finite here; sorted by the caller
            values = finite_for_sorting(np.asarray(ts.load(), dtype=np.float64), f"{group.name} in {ctx.name}")
            return ArrayTimeIndex(values, check=False)
        return ArrayTimeIndex(ts, check=False, what=f"{group.name}/timestamps in {ctx.name}", fix=unscanned_fix(n))
    st = group["starting_time"]
    rate = _scalar(st.attrs.get("rate"), float("nan"))
    start = np.asarray(st[()], dtype=np.float64).reshape(-1)  # aqnwb stores a 1-element array
    if start.size != 1:
        raise FileFormatError(f"{group.name}/starting_time must hold one number, got {start.size}; "
                              f"the file is damaged")
    return RegularTimeIndex(start=float(start[0]), rate=rate, n=n)


def _require_1d(dset: h5py.Dataset) -> None:
    """Times are one number per row: a 2-D column (a MATLAB ``(n, 1)`` array) is refused by name,
    as pynwb refuses it, instead of a shape error from deep inside."""
    if dset.ndim != 1:
        raise FileFormatError(f"{dset.name} must be 1-D (one time per row), but the file stores shape "
                              f"{tuple(dset.shape)}; pynwb refuses it too. Read it with h5py "
                              f"(nwb.file[{dset.name!r}][()].ravel()) if its values are right")


def unscanned_fix(n: int) -> str:
    """What to do when timestamps not scanned at build time turn out unsorted (ends the error message)."""
    return (f"pynapple sorts such timestamps in memory: to have napstream do so, set "
            f"nap.config.timestamp_scan_rows = {n} (or more) and open the file again: the {n} timestamps are "
            f"then checked when the object is built and, being unsorted, the series is loaded into memory and "
            f"sorted with its rows (the timestamps alone take {8 * n / 2**20:.1f} MiB; timestamps and values "
            f"must fit nap.config.memory_budget)")


def _order_checked(t: Any) -> Any:
    """The lazy index ``t`` marked as checked in order (its timestamps were just scanned)."""
    if isinstance(t, ArrayTimeIndex) and t.is_lazy:
        return ArrayTimeIndex(t.values, check=False, order_checked=True)
    return t


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
    if entry.is_a("SpatialSeries") and ncols in (2, 3):
        return ["x", "y", "z"][:ncols], None
    region = None  # like pynapple: the electrodes of an ElectricalSeries, the rois of a RoiResponseSeries
    for name, base in (("electrodes", "ElectricalSeries"), ("rois", "RoiResponseSeries")):
        if entry.is_a(base) and name in group and "table" in group[name].attrs:
            region = group[name]
            break
    if region is None:
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


def channel_scale(group: h5py.Group, dset: h5py.Dataset) -> np.ndarray | None:
    """``channel_conversion`` shaped to broadcast on the axis its ``axis`` attribute names (default 1)."""
    if "channel_conversion" not in group:
        return None
    cc_dset = group["channel_conversion"]
    cc = np.asarray(cc_dset[()], dtype=np.float64).reshape(-1)
    axis = int(_scalar(np.asarray(cc_dset.attrs.get("axis", 1)).reshape(-1)[0], 1.0))
    if axis < 0:
        axis += dset.ndim
    if not 1 <= axis < dset.ndim or len(cc) != dset.shape[axis]:
        raise FileFormatError(
            f"{group.name}/channel_conversion has {len(cc)} values for axis {axis} of data with shape "
            f"{dset.shape}; the file is damaged"
        )
    return cc.reshape((-1,) + (1,) * (dset.ndim - 1 - axis))  # rows are read as (n, ...) blocks


def _sorted_in_memory(group: h5py.Group, entry: Entry, ctx: ReadContext, data: LazyArray,
                      ts: LazyArray) -> tuple[np.ndarray, np.ndarray]:
    """Unsorted stored timestamps: load data and timestamps, sort rows by time (stable), warn once."""
    from ..config import config

    nbytes = int(np.prod(data.shape)) * 8 + len(ts) * 8
    if nbytes > config.memory_budget:
        raise FileFormatError(
            f"{entry.key!r} ({group.name}) in {ctx.name}: its timestamps are stored unsorted and sorting them "
            f"needs the whole series in memory ({nbytes / 2**20:.0f} MiB, above nap.config.memory_budget); "
            f"raise the budget (nap.config.memory_budget = ...) to load and sort it"
        )
    t = finite_for_sorting(np.asarray(ts.load(), dtype=np.float64), f"{entry.key!r} ({group.name}) in {ctx.name}")
    order = np.argsort(t, kind="stable")
    warn_sorted(f"{entry.key!r} ({group.name}) in {ctx.name}",
                f" and loaded it into memory ({len(t)} rows) to keep each row with its timestamp")
    return t[order], np.asarray(data.load())[order]


def make_series(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """A TimeSeries group -> Tsd / TsdFrame / TsdTensor (lazy)."""
    from ..core import Tsd, TsdFrame, TsdTensor

    if "data" not in group:  # a TimeSeries without data: an empty Tsd, like pynapple
        return Tsd(t=np.empty(0), d=np.empty(0))
    dset = group["data"]
    if h5py.check_string_dtype(dset.dtype) is not None:
        return _text_series(group, entry, ctx, dset)
    scale, offset = scale_and_offset(dset.attrs, channel_scale(group, dset))
    data = ctx.lazy(dset, scale=scale, offset=offset)
    t: Any = time_index(group, int(dset.shape[0]), ctx)
    if len(t) < len(data):
        data = data.select([[0, len(t)]])
    d: Any = ctx.data(data)
    if "timestamps" in group and ctx.scan_sorted(group["timestamps"]):
        n_ts = int(group["timestamps"].shape[0])
        values = int(np.prod(dset.shape, dtype=np.int64)) * dset.dtype.itemsize
        rows = [(0, min(len(data), int(dset.shape[0])))] if values <= ctx.together_bytes else []
        # the timestamps are read whole now (checked sorted); a small series' values come with them,
        # in the background when possible: the object is returned once its timestamps are checked,
        # and what the script does next (an analysis's setup) runs while the values land
        behind = ctx.prefetch_behind(dset, rows, before=(group["timestamps"], [(0, n_ts)]))
        ctx.prefetch_rows((group["timestamps"], [(0, n_ts)]), (dset, [] if behind is not None else rows))
        ts = ctx.lazy(group["timestamps"])
        if len(scan_unsorted(ts.read, len(ts))):
            t, d = _sorted_in_memory(group, entry, ctx, data, ts)
        else:
            t = _order_checked(t)
    if entry.kind == "Tsd":
        return Tsd(t=t, d=d)
    if entry.kind == "TsdTensor":
        return TsdTensor(t=t, d=d)
    columns, metadata = _frame_columns(group, entry, ctx)
    if metadata is not None:
        try:
            return TsdFrame(t=t, d=d, columns=columns, metadata=metadata)
        except TypeError:  # a TsdFrame without metadata support
            pass
    return TsdFrame(t=t, d=d, columns=columns)


def _text_series(group: h5py.Group, entry: Entry, ctx: ReadContext, dset: h5py.Dataset) -> Any:
    """A TimeSeries whose data is text (labels, notes): a Tsd / TsdFrame of the stored values as
    h5py reads them (``bytes`` objects, or a fixed-width ``S`` array), as pynapple and pynwb give
    them, read into memory (such series are small; a declared size above
    ``nap.config.memory_budget`` is refused by ``read_whole``). ``conversion`` and ``offset`` do not
    apply to text."""
    from ..core import Tsd, TsdFrame

    values = np.asarray(read_whole(dset))
    t = time_index(group, len(values), ctx)  # its length checked there
    t = np.asarray(t.values if hasattr(t, "values") else t, dtype=np.float64)  # a RegularTimeIndex is array-like
    if len(t) > 1 and np.any(np.diff(t) < 0):  # stored unsorted: rows move with their times
        t = finite_for_sorting(t, f"{entry.key!r} ({group.name}) in {ctx.name}")
        order = np.argsort(t, kind="stable")
        warn_sorted(f"{entry.key!r} ({group.name}) in {ctx.name}")
        t, values = t[order], values[order]
    if values.ndim == 1:
        return Tsd(t=t, d=values)
    return TsdFrame(t=t, d=values)


def _table_ts(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """A DynamicTable with ``*_times`` columns -> Ts (one column) or {column: Ts} (several), like pynapple."""
    from ..core import Ts

    out = {}
    for col in colnames(group):
        if not col.endswith("_times") or f"{col}_index" in group or col not in group:
            continue
        t = finite_for_sorting(np.asarray(read_column(group, col), dtype=np.float64).reshape(-1),
                               f"{entry.key!r} ({group.name}) column {col!r}")
        if (np.diff(t) < 0).any():
            warn_sorted(f"{entry.key!r} ({group.name}) in {ctx.name} column {col!r}")
            t = np.sort(t)
        out[col] = Ts(t=t)
    return next(iter(out.values())) if len(out) == 1 else out


def make_ts(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """AnnotationSeries -> Ts of its timestamps (a table of event times: see ``_table_ts``)."""
    from ..core import Ts

    if "colnames" in group.attrs:
        return _table_ts(group, entry, ctx)

    n = int(group["timestamps"].shape[0])
    t: Any = time_index(group, n, ctx)
    if ctx.scan_sorted(group["timestamps"]):
        ts = ctx.lazy(group["timestamps"])
        if len(scan_unsorted(ts.read, n)):
            t = finite_for_sorting(np.asarray(ts.load(), dtype=np.float64), f"{entry.key!r} ({group.name})")
            warn_sorted(f"{entry.key!r} ({group.name}) in {ctx.name}")
            t = np.sort(t)
        else:
            t = _order_checked(t)
    return Ts(t=t)


# ------------------------------------------------------------------------------------------ units
def _support_bounds(group: h5py.Group) -> np.ndarray | None:
    """Row bounds of each unit's observation intervals (None: the table has none)."""
    if "obs_intervals" not in group or "obs_intervals_index" not in group:
        return None
    return np.concatenate([[0], np.asarray(read_whole(group["obs_intervals_index"]), dtype=np.int64)])


def _unit_supports(group: h5py.Group, n: int, bounds: np.ndarray | None = None) -> list[IntervalSet | None]:
    bounds = _support_bounds(group) if bounds is None else bounds
    if bounds is None:
        return [None] * n
    obs = np.asarray(group["obs_intervals"][()], dtype=np.float64).reshape(-1, 2)
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


def _region_metadata(group: h5py.Group, col: str, n: int) -> dict[str, np.ndarray]:
    """pynapple's expansion of a one-row-per-unit DynamicTableRegion (e.g. ``electrodes``) into the
    referenced table's columns (x, y, z, location, group_name...); references and ragged columns are left out.
    """
    dset = group[col]
    table = group.file[dset.attrs["table"]]
    rows = np.asarray(dset[()], dtype=np.int64).reshape(-1)
    if len(rows) != n:
        return {}
    return {c: decode_strings(read_column(table, c))[rows] for c in _scalar_columns(table)}


def units_metadata(group: h5py.Group, n: int) -> dict[str, np.ndarray]:
    """Per-unit metadata columns of a Units-like table (small reads), like pynapple's ``_make_tsgroup``.

    ``electrode_group`` becomes the referenced groups' attributes (location...); a one-row-per-unit
    ``electrodes`` region becomes the electrode table's columns; ragged columns are left out (read
    them with ``nwb.table(key)``).
    """
    meta: dict[str, np.ndarray] = {}
    skip = {"obs_intervals", "rate"}
    for col in colnames(group):
        if col in skip or col.endswith("_times") or col not in group:
            continue
        if col == "electrode_group" and h5py.check_ref_dtype(group[col].dtype) is not None:
            meta.update({k: v for k, v in _group_metadata(group, col, n).items() if k not in meta})
            continue
        if f"{col}_index" in group:  # ragged: one array per unit (pynapple leaves them out too)
            continue
        if "table" in group[col].attrs and group[col].ndim == 1:  # DynamicTableRegion, one row per unit
            try:
                expanded = _region_metadata(group, col, n)
            except (KeyError, ValueError, OSError, IndexError, TypeError):
                expanded = {}
            meta.update({k: v for k, v in expanded.items() if k not in meta})
            continue
        if group[col].ndim != 1 or group[col].dtype.names:  # several values per unit: like pynapple, left out
            continue
        values = read_column(group, col)
        if len(values) == n:
            meta[col] = values
    return meta


def make_tsgroup(group: h5py.Group, entry: Entry, ctx: ReadContext) -> Any:
    """Units (or any table with a ``*_times`` ragged column) -> TsGroup of lazy Ts."""
    if not colnames(group) and len(table_ids(group)) == 0:  # an empty units table (no spike times written)
        from ..core import TsGroup

        return TsGroup({}, time_support=IntervalSet(start=[], end=[]))
    times_col = "spike_times" if "spike_times_index" in group else next(
        (c for c in colnames(group) if c.endswith("_times") and f"{c}_index" in group), "spike_times")
    if times_col not in group or f"{times_col}_index" not in group:
        raise FileFormatError(f"{group.name} lists the column {times_col!r} but the file has no "
                              f"{times_col} and {times_col}_index datasets; the file is damaged")
    _require_1d(group[times_col])
    ids = table_ids(group)
    ends = np.asarray(read_whole(group[f"{times_col}_index"]), dtype=np.int64)
    n_times = int(group[times_col].shape[0])
    if len(ends) != len(ids) or (len(ends) and (ends.min() < 0 or ends.max() > n_times or (np.diff(ends) < 0).any())):
        raise FileFormatError(
            f"{group.name}/{times_col}_index must hold {len(ids)} non-decreasing row ends within [0, {n_times}]; "
            f"got {ends[:10].tolist()}{'...' if len(ends) > 10 else ''}; the file is damaged"
        )
    starts = np.concatenate([[0], ends[:-1]])
    bounds = _support_bounds(group)
    # building the units scans every spike time (see _build_units): the column comes in the
    # background, in unit order, while the first units are built (asked before the supports are)
    ahead = ctx.read_ahead_rows(group[times_col], [(0, n_times)] if n_times else [])
    if ahead is not None and ctx.follow_units is not None:
        ctx.follow_units(group)  # what the script reads next (the position) comes behind them
    try:
        supports = _unit_supports(group, len(ids), bounds)
        # behind the read-ahead each unit as soon as its rows are here (its requests do not end in
        # row order), else the column in big blocks (each read a round trip)
        arrivals = _Arrivals.of(ctx.byte_source, group[times_col], ends) if ahead is not None else None
        piece = SCAN_PIECE_ROWS if ahead is not None else SCAN_BLOCK_ROWS
        return _build_units(group, entry, ctx, times_col, ids, starts, ends, supports, n_times, arrivals, piece)
    finally:
        if ahead is not None:
            ahead.cancel()


def _build_units(group: h5py.Group, entry: Entry, ctx: ReadContext, times_col: str, ids: np.ndarray,
                 starts: np.ndarray, ends: np.ndarray, supports: list[Any], n_times: int,
                 arrivals: Any = None, piece_rows: int = SCAN_BLOCK_ROWS) -> Any:
    from ..core import TsGroup

    spikes = ctx.lazy(group[times_col])
    # the small per-unit columns first: read (and decoded) while the spike times are on their way
    meta = units_metadata(group, len(ids))
    # building a unit needs its order whatever its length: its rows within obs_intervals are found by
    # binary search, else [first, last] spike is its time support. So every unit is checked now, in one
    # streamed pass over the column (bounded memory), and an unsorted one is sorted in memory (a
    # unit's spike train is small) - what pynapple does, which reads every spike time when it loads.
    # Behind the read-ahead (``arrivals``) each unit is checked and built from its times as soon as
    # they are in memory, while the others arrive; else the column is scanned in row order.
    built: list[Any] = [None] * len(ids)
    unsorted: list[int] = []
    scan = (scan_segments(spikes.read, n_times, ends, piece_rows) if arrivals is None
            else scan_arrivals(spikes.read, ends, arrivals))
    for i, values, bad in scan:
        uid, a, b, support = ids[i], int(starts[i]), int(ends[i]), supports[i]
        if bad:
            unsorted.append(i)
        built[i] = _unit_ts(spikes, a, b, support, values, bad, ctx, f"{entry.key!r} ({group.name}) unit {uid}")
    units = {int(uid): ts for uid, ts in zip(ids, built)}
    _warn_outside_support(ids, starts, ends, built, supports, f"{entry.key!r} ({group.name}) in {ctx.name}",
                          f"{group.name}/{times_col}")
    if unsorted:
        bad_ids = [int(ids[i]) for i in sorted(unsorted)]
        warn_sorted(f"{entry.key!r} ({group.name}) in {ctx.name}",
                    f" for {len(bad_ids)} unit(s): {bad_ids[:10]}{'...' if len(bad_ids) > 10 else ''}")
    # each unit keeps its own obs_intervals as time support; the group's is their union
    has_supports = any(s is not None for s in supports)
    return TsGroup(units, metadata=meta or None, bypass_check=has_supports)


def _warn_outside_support(ids: np.ndarray, starts: np.ndarray, ends: np.ndarray, built: list[Any],
                          supports: list[Any], what: str, column: str) -> None:
    """One warning when spike times stored in the file fall outside their unit's ``obs_intervals``:
    each unit's time support is its observation intervals, so such spikes are left out of it (as
    pynapple's ``Ts(t, time_support=...)`` leaves them out); pynapple, ignoring ``obs_intervals``,
    keeps them. Counting is free: a unit's length is known without reading its times."""
    lost = [(int(ids[i]), int(ends[i]) - int(starts[i]) - len(ts)) for i, ts in enumerate(built)
            if supports[i] is not None]
    lost = [(uid, k) for uid, k in lost if k > 0]
    if not lost:
        return
    total = sum(k for _, k in lost)
    shown = ", ".join(f"{uid}: {k}" for uid, k in lost[:10]) + (", ..." if len(lost) > 10 else "")
    warnings.warn(f"{what}: {total} spike time(s) of {len(lost)} unit(s) fall outside the unit's obs_intervals "
                  f"and are left out (unit: spikes left out: {shown}); each unit's time support is its "
                  f"obs_intervals. pynapple ignores obs_intervals and keeps them: read them with "
                  f"nwb.file[{column!r}] and its _index column",
                  UserWarning, stacklevel=user_stacklevel())


class _Arrivals:
    """Which units' spike times arrived (their blocks are in the source's memory), for
    :func:`~napstream.nwb.timestamps.scan_arrivals`: each call returns those new since the last."""

    def __init__(self, memory: Any, need: list[set[int]]) -> None:
        self.memory = memory
        self.need = need
        self.users: dict[int, list[int]] = collections.defaultdict(list)
        for i, blocks in enumerate(need):
            for j in blocks:
                self.users[j].append(i)
        self.fresh = [i for i, blocks in enumerate(need) if not blocks]  # no bytes to wait for

    @classmethod
    def of(cls, source: Any, dset: h5py.Dataset, ends: np.ndarray) -> _Arrivals | None:
        """None when the source cannot tell what it holds (the units are then scanned in order)."""
        memory = getattr(source, "memory", None)
        bs = int(getattr(source, "block_size", 0) or 0)
        if memory is None or not (hasattr(memory, "contains") and hasattr(memory, "is_wanted")) or bs <= 0:
            return None
        try:
            from .prefetch import ChunkIndex

            index = ChunkIndex(dset)
            starts = np.concatenate([[0], ends[:-1]])
            need = [{j for r in (index.ranges(int(a), int(b)) if b > a else ()) for j in
                     range(int(r[0]) // bs, (int(r[1]) - 1) // bs + 1)} for a, b in zip(starts, ends)]
        except (ImportError, OSError, RuntimeError, ValueError):
            return None
        return cls(memory, need)

    def __call__(self) -> list[int]:
        out, self.fresh = self.fresh, []
        # a block is here, or the read-ahead no longer brings it (found in the disk cache, or
        # claimed by a read): a read of it finds it or waits for it
        memory = self.memory
        for j in [j for j in self.users if memory.contains(j) or not memory.is_wanted(j)]:
            for i in self.users.pop(j):
                self.need[i].discard(j)
                if not self.need[i]:
                    out.append(i)
        return out


def _unit_ts(spikes: LazyArray, a: int, b: int, support: IntervalSet | None, values: np.ndarray | None,
             unsorted: bool, ctx: ReadContext, what: str) -> Any:
    """One unit's Ts: rows ``[a, b)`` of the spike times; ``values`` their scanned times (None:
    not kept, read again), ``unsorted`` the scan's verdict."""
    from ..core import Ts

    if unsorted:
        t = np.asarray(spikes.select([[a, b]]).load() if values is None else values, dtype=np.float64)
        return Ts(t=np.sort(finite_for_sorting(t, what)), time_support=support)
    if not ctx.lazy_loading:
        t = spikes.select([[a, b]]).load() if values is None else values.copy()
        return Ts(t=np.asarray(t, dtype=np.float64), time_support=support)
    index = ArrayTimeIndex(spikes.select([[a, b]]), check=False, order_checked=True)
    if values is None:  # searched in the file (cached bytes)
        return Ts(t=index, time_support=support)
    # what Ts(t=index, time_support=support) does, searching the scanned times instead of the file
    if support is None:
        support = IntervalSet(start=float(values[0]), end=float(values[-1])) if len(values) else None
    elif len(values):
        seg = _rows_in(values, support)
        if not (len(seg) == 1 and seg[0, 0] == 0 and seg[0, 1] == len(values)):
            index = index.select(seg)
    return Ts._raw(index, None, support)


def _rows_in(values: np.ndarray, iset: IntervalSet) -> np.ndarray:
    """Row segments of sorted ``values`` with ``start <= t <= end`` for an epoch of ``iset``
    (``_TimeSeriesBase._rows_in`` on times in memory)."""
    if len(iset) == 0 or len(values) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    lo = np.searchsorted(values, np.asarray(iset.start, dtype=np.float64), "left").astype(np.int64)
    hi = np.searchsorted(values, np.asarray(iset.end, dtype=np.float64), "right").astype(np.int64)
    return normalize_segments(np.stack([lo, np.maximum(lo, hi)], axis=1), len(values))


# ------------------------------------------------------------------------------------------ tables
def _interval_losses(start: np.ndarray, end: np.ndarray) -> list[str]:
    """What pynapple's IntervalSet would drop or merge from these rows (empty when it holds them all)."""
    out = []
    nan = np.isnan(start) | np.isnan(end)
    if nan.any():
        out.append(f"{int(nan.sum())} with NaN start/stop times")
    ok = ~nan
    s, e = start[ok], end[ok]
    if (e < s).any():
        out.append(f"{int((e < s).sum())} ending before they start")
    if len(s) > 1:
        order = np.argsort(s, kind="stable")
        if (order != np.arange(len(s))).any():
            out.append("rows not sorted by start time")
        s, e = s[order], e[order]
        if (s[1:] < np.maximum.accumulate(e)[:-1]).any():
            out.append("overlapping rows")
    return out


def make_interval_set(group: h5py.Group, entry: Entry, ctx: ReadContext) -> IntervalSet:
    """TimeIntervals -> IntervalSet with the other columns as metadata (pynapple's reading).

    Rows an IntervalSet cannot hold (NaN times, overlaps...) are dropped or merged as pynapple does,
    with a warning pointing at ``nwb.table(key)``, which reads every row and column.
    """
    start = np.asarray(read_column(group, "start_time"), dtype=np.float64)
    end = np.asarray(read_column(group, "stop_time"), dtype=np.float64)
    losses = _interval_losses(start, end)
    if losses:
        warnings.warn(
            f"{entry.key!r} in {ctx.name}: an IntervalSet cannot hold all {len(start)} rows of this table "
            f"({'; '.join(losses)}), so rows are dropped or merged as pynapple does; "
            f"nwb.table({entry.key!r}) reads every row and column as a pandas DataFrame",
            UserWarning, stacklevel=user_stacklevel(),
        )
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


_RAW_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError)


def convert(entry: Entry, ctx: ReadContext) -> Any:
    """Build the napstream object of ``entry`` (lazy); raw h5py/numpy errors become FileFormatError."""
    maker = _MAKERS.get(entry.kind)
    if maker is None:
        why = entry.reason or "napstream has no converter for it"
        raise UnsupportedTypeError(
            f"{entry.key!r} ({entry.path}) has the type {entry.neurodata_type}, which napstream cannot convert: {why}; "
            f"read it with h5py via nwb.file[{entry.path!r}]"
        )
    try:
        obj = maker(ctx.file[entry.location], entry, ctx)
        if not ctx.lazy_loading and entry.kind in ("Ts", "Tsd", "TsdFrame", "TsdTensor") and hasattr(obj, "load"):
            obj = obj.load()  # pynapple's lazy_loading=False: everything in memory
    except NapstreamError:
        raise
    except _RAW_ERRORS as err:
        raise FileFormatError(
            f"{entry.key!r} ({entry.path}) in {ctx.name}: cannot be read ({type(err).__name__}: {err}); "
            f"the file's metadata may be damaged or use a layout napstream does not know"
        ) from err
    return obj
