"""Read hdmf DynamicTables (Units, electrodes, TimeIntervals...) straight from h5py.

Columns become 1-D numpy arrays: numbers stay numeric, strings become ``str`` objects, object
references become the referenced object's name (e.g. ``"shank0"`` for an ElectrodeGroup), ragged
columns (``<col>_index``) become object arrays of per-row arrays (nested ragged is supported), and
compound columns (e.g. TimeSeriesReferenceVectorData) become object arrays of tuples.

Examples
--------
>>> import numpy as np
>>> split_ragged(np.array([1.0, 2.0, 3.0]), np.array([1, 3]))
[array([1.]), array([2., 3.])]
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import pandas as pd

from ..errors import FileFormatError, KeyNotFoundError
from .source import read_whole

__all__ = ["categories", "colnames", "read_column", "read_table", "split_ragged", "table_ids", "decode_strings"]

#: columns with more than one value per row are read into a DataFrame only below this size
MAX_MULTIDIM_COLUMN_BYTES = 4 * 2**20


def colnames(group: h5py.Group) -> list[str]:
    """The table's column names, in order (the ``colnames`` attribute)."""
    names = group.attrs.get("colnames", [])
    return [n.decode() if isinstance(n, bytes) else str(n) for n in list(names)]


def table_ids(group: h5py.Group) -> np.ndarray:
    """The ``id`` column (small: one integer per row)."""
    return np.asarray(read_whole(group["id"]), dtype=np.int64)


def split_ragged(values: Any, index: np.ndarray) -> list[Any]:
    """Split ``values`` at the cumulative ends stored in a VectorIndex."""
    bounds = np.concatenate([[0], np.asarray(index, dtype=np.int64)])
    return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def decode_strings(arr: np.ndarray) -> np.ndarray:
    """bytes -> str (object array); other arrays unchanged."""
    if arr.dtype.kind == "S" or (arr.dtype.kind == "O" and arr.size and isinstance(arr.flat[0], bytes)):
        out = np.empty(arr.shape, dtype=object)
        out[...] = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in arr.ravel()]
        return out
    return arr


def _ref_name(f: h5py.File, ref: Any) -> Any:
    if isinstance(ref, (h5py.Reference,)) and ref:
        try:
            name = f[ref].name  # None for an anonymous object (or a damaged reference)
            return name.rsplit("/", 1)[-1] if name else None
        except (KeyError, ValueError, OSError):
            return None
    return ref


def _read_dataset(dset: h5py.Dataset) -> np.ndarray:
    raw = np.asarray(read_whole(dset))
    if raw.ndim == 0:
        raw = raw.reshape(1)
    if raw.dtype.names:  # compound: resolve references inside each record
        out = np.empty(len(raw), dtype=object)
        out[:] = [tuple(_ref_name(dset.file, v) if isinstance(v, h5py.Reference) else v for v in row) for row in raw]
        return out
    if raw.dtype.kind == "O" and raw.size and isinstance(raw.flat[0], h5py.Reference):
        out = np.empty(raw.shape, dtype=object)
        out[...] = [_ref_name(dset.file, r) for r in raw.ravel()]
        return out
    h5t = h5py.check_string_dtype(dset.dtype)
    if h5t is not None:
        return decode_strings(raw.astype(object) if raw.dtype.kind != "O" else raw)
    return raw


def read_column(group: h5py.Group, name: str) -> np.ndarray:
    """One column as a 1-D array with one element per row (see the module docstring)."""
    if name not in group:
        raise KeyNotFoundError(f"column {name!r} not found in table {group.name!r}; columns: {colnames(group)}")
    dset = group[name]
    values: Any = _read_dataset(dset)
    target = dset.attrs.get("table")  # a DynamicTableRegion (or a subtype, or matnwb's 2.0b region)
    if isinstance(target, np.ndarray) and target.size == 1:  # matnwb 2.0b: array-valued attributes
        target = target.reshape(-1)[0]
    if target is not None and values.dtype.kind in "iu":  # row indices -> ids of the referenced table
        try:
            values = table_ids(group.file[target])[values]
        except (KeyError, ValueError, IndexError, OSError):
            pass
    index_name = f"{name}_index"
    level = index_name
    indexes = []
    while level in group:  # nested ragged: col_index, col_index_index...
        indexes.append(level)
        level = f"{level}_index"
    for idx in indexes:
        values = split_ragged(values, np.asarray(read_whole(group[idx])))
    if indexes:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    if values.ndim > 1:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return values


def column_is_large(group: h5py.Group, name: str) -> bool:
    """True for a non-ragged column with several values per row larger than the DataFrame limit."""
    dset = group.get(name)
    if not isinstance(dset, h5py.Dataset) or len(dset.shape) <= 1 or f"{name}_index" in group:
        return False
    return int(np.prod(dset.shape)) * dset.dtype.itemsize > MAX_MULTIDIM_COLUMN_BYTES


def read_table(group: h5py.Group, exclude: tuple[str, ...] = (), lossless: bool = False) -> pd.DataFrame:
    """The whole table as a DataFrame indexed by ``id``.

    Large multi-value columns are skipped unless ``lossless``; a column whose length does not match
    the ids is skipped (``lossless``: raises ``FileFormatError``).
    """
    ids = table_ids(group)
    data = {}
    for name in colnames(group):
        if name in exclude or name not in group or (column_is_large(group, name) and not lossless):
            continue
        col = read_column(group, name)
        if len(col) == len(ids):
            data[name] = col
        elif lossless:
            raise FileFormatError(f"{group.name}: column {name!r} has {len(col)} rows but the table has "
                                  f"{len(ids)} ids; the file is damaged")
    df = pd.DataFrame(data, index=pd.Index(ids, name="id"))
    return _with_categories(group, df, lossless)


def categories(group: h5py.Group) -> list[str]:
    """The sub-tables of an AlignedDynamicTable (the ``categories`` attribute: the icephys
    IntracellularRecordingsTable's electrodes, stimuli, responses...), in order; [] for a plain table."""
    names = group.attrs.get("categories")
    if names is None:
        return []
    names = np.atleast_1d(np.asarray(names, dtype=object))
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _with_categories(group: h5py.Group, df: pd.DataFrame, lossless: bool) -> pd.DataFrame:
    """An AlignedDynamicTable as pynwb's ``to_dataframe()`` gives it: two-level columns, the table's
    own columns under its name, then each category's ``id`` and columns under the category's name
    (rows aligned: every category has one row per row of the table)."""
    cats = [c for c in categories(group) if isinstance(group.get(c), h5py.Group)]
    if not cats:
        return df
    own = group.name.rsplit("/", 1)[-1]
    parts = [df.set_axis(pd.MultiIndex.from_tuples([(own, c) for c in df.columns]), axis=1)] if len(df.columns) else []
    for cat in cats:
        sub = read_table(group[cat], lossless=lossless)
        if len(sub) != len(df):
            if lossless:
                raise FileFormatError(f"{group.name}: category {cat!r} has {len(sub)} rows but the table has "
                                      f"{len(df)}; the file is damaged")
            continue
        sub = sub.reset_index()  # its own ids, as pynwb shows them
        sub.index = df.index
        parts.append(sub.set_axis(pd.MultiIndex.from_tuples([(cat, c) for c in sub.columns]), axis=1))
    if not parts:
        return df
    return pd.concat(parts, axis=1)
