"""Real NWB files written by other tools (../shared/realnwb): every key equals pynwb's and pynapple's reading.

Each file of the manifest is opened locally and over the loopback HTTP server. ``expect: open`` files
must open, and every key must equal what pynwb reads (data x conversion + offset, timestamps or
starting_time + rate, spike times per unit, interval starts/stops, table columns) and pynapple's
object where pynapple gives the key; a type napstream does not convert raises UnsupportedTypeError.
``expect: refuse`` files raise one clear line naming the file and the reason.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import napstream as ns
from napstream.errors import NapstreamError, UnsupportedTypeError

REALNWB = Path(__file__).resolve().parents[2].parent / "shared" / "realnwb"
MANIFEST = REALNWB / "manifest.json"
FILES = json.loads(MANIFEST.read_text())["files"] if MANIFEST.exists() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"real NWB files not found in {REALNWB}")


@pytest.fixture(scope="module")
def server():
    from napstream.testing.http_server import RangeHTTPServer

    srv = RangeHTTPServer(REALNWB).start()
    yield srv
    srv.stop()


def _open(where: str, name: str, server: Any, tmp_path: Path) -> ns.NWBFile:
    if where == "local":
        return ns.NWBFile(REALNWB / name)
    if where == "loaded":  # pynapple's lazy_loading=False: everything in memory
        return ns.NWBFile(REALNWB / name, lazy_loading=False)
    return ns.NWBFile(server.url_for(name), cache_dir=tmp_path / "cache")


# ------------------------------------------------------------------------------ references
@functools.lru_cache(maxsize=None)
def pynwb_file(name: str) -> Any:
    pynwb = pytest.importorskip("pynwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = pynwb.NWBHDF5IO(str(REALNWB / name), "r", load_namespaces=True)
        return io, io.read()


def pynwb_object(name: str, object_id: str) -> Any:
    _, nwbfile = pynwb_file(name)
    return nwbfile.objects[object_id]


@functools.lru_cache(maxsize=None)
def pynapple_file(name: str) -> Any:
    nap = pytest.importorskip("pynapple")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nwb = nap.load_file(str(REALNWB / name))
            return {k: nwb[k] for k in nwb.keys()}
        except Exception:  # noqa: BLE001 - pynapple cannot read every file (matnwb 2.0b)
            return None


def in_units(obj: Any, raw: Any, axis: int, cc: Any) -> np.ndarray:
    """Raw stored values of pynwb's TimeSeries ``obj`` x conversion (x channel_conversion on ``axis``) + offset.

    ``cc`` is the stored channel_conversion: pynwb's SpikeEventSeries does not carry it, although the
    schema gives it to every ElectricalSeries.
    """
    data = np.asarray(raw, dtype=np.float64) * obj.conversion
    if cc is not None:
        data = data * np.asarray(cc, dtype=np.float64).reshape((-1,) + (1,) * (data.ndim - 1 - axis))
    return data + (getattr(obj, "offset", 0.0) or 0.0)


def series_reference(obj: Any, axis: int, cc: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """pynwb's TimeSeries -> (timestamps, data in units, stored unsorted), rows sorted by time."""
    if obj.data is None:
        return np.empty(0), np.empty(0), False
    data = in_units(obj, obj.data[:], axis, cc)
    if obj.timestamps is not None:
        t = np.asarray(obj.timestamps[:], dtype=np.float64)
    else:
        t = float(np.asarray(obj.starting_time).reshape(-1)[0]) + np.arange(len(data)) / float(obj.rate)
    unsorted = bool((np.diff(t) < 0).any())
    order = np.argsort(t, kind="stable")
    return t[order], data[: len(t)][order], unsorted


def _simple(values: Any) -> bool:
    values = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    return values.dtype.kind in "biufUS" or all(isinstance(v, (str, int, float, np.number)) for v in values)


def assert_columns_equal(got: pd.DataFrame, want: pd.DataFrame, what: str) -> None:
    """Every simple (number/string) column of ``want`` is in ``got`` with equal values."""
    for col in want.columns:
        values = want[col].to_numpy()
        if not _simple(values):
            continue
        assert col in got.columns, f"{what}: column {col!r} missing (got {list(got.columns)})"
        mine = got[col].to_numpy()
        if values.dtype.kind in "iuf" and np.asarray(mine).dtype.kind in "iuf":
            np.testing.assert_allclose(np.asarray(mine, dtype=float), values.astype(float), err_msg=f"{what}.{col}")
        else:
            assert [str(v) for v in mine] == [str(v) for v in values], f"{what}.{col}"


# ------------------------------------------------------------------------------ checks per kind
def check_series(nwb: ns.NWBFile, key: str, got: Any, name: str, pyn: dict | None) -> None:
    group = nwb.file[nwb.entry(key).path]
    axis = int(np.asarray(group["channel_conversion"].attrs.get("axis", 1)).reshape(-1)[0]) \
        if "channel_conversion" in group else 1
    obj = pynwb_object(name, _object_id(group))
    cc = group["channel_conversion"][()] if "channel_conversion" in group else None
    t, d, unsorted = series_reference(obj, axis, cc)
    np.testing.assert_allclose(np.asarray(got.t), t, rtol=0, atol=1e-9, err_msg=f"{name}:{key} timestamps")
    np.testing.assert_allclose(np.asarray(got.values, dtype=np.float64).reshape(d.shape), d, rtol=1e-6, atol=0,
                               err_msg=f"{name}:{key} data")
    if pyn is not None and key in pyn:
        theirs = pyn[key]
        if not hasattr(theirs, "t"):  # pynapple returned the raw NWB object: napstream must refuse or convert
            return
        assert type(got).__name__ == type(theirs).__name__, f"{name}:{key}"
        np.testing.assert_allclose(np.asarray(got.t), theirs.t, rtol=0, atol=1e-9)
        if not unsorted:  # pynapple sorts the timestamps of an unsorted series but not its data rows
            # pynapple gives the raw stored values: napstream applies conversion, offset, channel_conversion
            np.testing.assert_allclose(np.asarray(got.values, dtype=np.float64),
                                       in_units(obj, theirs.values, axis, cc), rtol=1e-6)
        if hasattr(theirs, "columns"):
            assert [str(c) for c in got.columns] == [str(c) for c in theirs.columns], f"{name}:{key} columns"
            # the electrode / ROI table columns pynapple attaches (napstream may attach more)
            for col in getattr(theirs, "metadata_columns", []):
                want = theirs.metadata[col].to_numpy()
                mine = got.metadata[col].to_numpy()
                try:
                    np.testing.assert_allclose(mine.astype(float), want.astype(float), err_msg=f"{name}:{key}.{col}")
                except (TypeError, ValueError):
                    assert [str(v) for v in mine] == [str(v) for v in want], f"{name}:{key}.{col}"


def check_ts(nwb: ns.NWBFile, key: str, got: Any, name: str, pyn: dict | None) -> None:
    obj = pynwb_object(name, _object_id(nwb.file[nwb.entry(key).path]))
    np.testing.assert_allclose(np.asarray(got.t), np.sort(np.asarray(obj.timestamps[:], dtype=float)), atol=1e-9)
    if pyn is not None and key in pyn:
        np.testing.assert_allclose(np.asarray(got.t), pyn[key].t, atol=1e-9)


def check_tsgroup(nwb: ns.NWBFile, key: str, got: Any, name: str, pyn: dict | None) -> None:
    units = pynwb_object(name, _object_id(nwb.file[nwb.entry(key).path]))
    ids = [int(i) for i in units.id[:]]
    assert sorted(int(k) for k in got.keys()) == sorted(ids), f"{name}:{key} ids"
    for row, uid in enumerate(ids):
        want = np.sort(np.asarray(units["spike_times"][row], dtype=float))
        np.testing.assert_allclose(np.asarray(got[uid].t), want, atol=0, err_msg=f"{name}:{key} unit {uid}")
    if pyn is not None and key in pyn:
        theirs = pyn[key]
        assert sorted(got.metadata_columns) == sorted(theirs.metadata_columns), f"{name}:{key} metadata"
        for col in theirs.metadata_columns:
            mine, want = np.asarray(got[col]), np.asarray(theirs[col])
            if want.dtype.kind in "iuf":
                np.testing.assert_allclose(mine.astype(float), want.astype(float), err_msg=f"{name}:{key}.{col}")
            else:
                assert [str(v) for v in mine] == [str(v) for v in want], f"{name}:{key}.{col}"
    assert_columns_equal(nwb.table(key), units.to_dataframe(index=True), f"{name}:{key}")


def check_intervals(nwb: ns.NWBFile, key: str, got: Any, name: str, pyn: dict | None) -> None:
    nap = pytest.importorskip("pynapple")
    table = pynwb_object(name, _object_id(nwb.file[nwb.entry(key).path])).to_dataframe(index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = nap.IntervalSet(table["start_time"].to_numpy(float), table["stop_time"].to_numpy(float))
    np.testing.assert_allclose(got.start, want.start, atol=1e-9)
    np.testing.assert_allclose(got.end, want.end, atol=1e-9)
    if pyn is not None and key in pyn:
        np.testing.assert_allclose(got.start, pyn[key].start, atol=1e-9)
        np.testing.assert_allclose(got.end, pyn[key].end, atol=1e-9)
    full = nwb.table(key)  # lossless: every row, start/stop included
    assert list(full.index) == [int(i) for i in table.index], f"{name}:{key} rows"
    np.testing.assert_array_equal(full["start_time"].to_numpy(float), table["start_time"].to_numpy(float))
    np.testing.assert_array_equal(full["stop_time"].to_numpy(float), table["stop_time"].to_numpy(float))
    assert_columns_equal(full, table, f"{name}:{key}")


def check_dataframe(nwb: ns.NWBFile, key: str, got: Any, name: str, pyn: dict | None) -> None:
    want = pynwb_object(name, _object_id(nwb.file[nwb.entry(key).path])).to_dataframe(index=True)
    assert list(got.index) == [int(i) for i in want.index], f"{name}:{key} ids"
    assert_columns_equal(got, want, f"{name}:{key}")
    assert_columns_equal(nwb.table(key), want, f"{name}:{key}")


CHECKS = {"Tsd": check_series, "TsdFrame": check_series, "TsdTensor": check_series, "Ts": check_ts,
          "TsGroup": check_tsgroup, "IntervalSet": check_intervals, "DataFrame": check_dataframe}


def pynwb_data_paths(name: str, f: Any) -> list[str]:
    """HDF5 paths of the TimeSeries and DynamicTables pynwb reads from file ``name`` (not table columns)."""
    from hdmf.common import DynamicTable
    from pynwb import TimeSeries

    import h5py

    paths: dict[str, str] = {}

    def visit(path: str, obj: Any) -> None:
        oid = obj.attrs.get("object_id") if isinstance(obj, h5py.Group) else None
        if oid is not None:
            paths[oid.decode() if isinstance(oid, bytes) else str(oid)] = "/" + path

    f.visititems(visit)
    _, nwbfile = pynwb_file(name)
    return [paths[o.object_id] for o in nwbfile.objects.values()
            if isinstance(o, (TimeSeries, DynamicTable)) and o.object_id in paths]


def _object_id(group: Any) -> str:
    oid = group.attrs.get("object_id")
    if oid is None:
        pytest.skip(f"{group.name} has no object_id to find it in pynwb")
    return oid.decode() if isinstance(oid, bytes) else str(oid)


def _read_all(nwb: ns.NWBFile, key: str) -> Any:
    """nwb[key] and every value it holds (no raw h5py/numpy error may escape)."""
    obj = nwb[key]
    if hasattr(obj, "values"):
        np.asarray(obj.values)
    if hasattr(obj, "keys") and hasattr(obj, "metadata_columns"):  # TsGroup: every unit's times
        for uid in obj.keys():
            np.asarray(obj[uid].t)
    return obj


# ------------------------------------------------------------------------------ the tests
@pytest.mark.parametrize("where", ["local", "http", "loaded"])
@pytest.mark.parametrize("info", FILES, ids=[f["file"] for f in FILES])
def test_real_file(info: dict, where: str, server: Any, tmp_path: Path) -> None:
    name = info["file"]
    if info["expect"] == "refuse":
        with pytest.raises(NapstreamError) as err:
            _open(where, name, server, tmp_path)
        message = str(err.value)
        assert "\n" not in message and name in message and "NWB 1.x" in message
        return
    pyn = pynapple_file(name) if info.get("pynwb_readable") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwb = _open(where, name, server, tmp_path)
    with nwb:
        if info.get("pynwb_readable"):
            # every key pynapple gives is a key of napstream too
            assert set(pyn or ()) <= set(nwb.keys()), f"{name}: {set(pyn or ()) - set(nwb.keys())} missing"
            # and every series and table pynwb reads is listed
            for path in pynwb_data_paths(name, nwb.file):
                assert path in nwb, f"{name}: {path} (read by pynwb) is not listed"
        for key in nwb.keys():
            entry = nwb.entry(key)
            if entry.kind == "unsupported":
                with pytest.raises(UnsupportedTypeError, match=key):
                    nwb[key]
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = _read_all(nwb, key)
            if info.get("pynwb_readable"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    CHECKS[entry.kind](nwb, key, got, name, pyn)
            else:  # pynwb cannot read it (matnwb 2.0b): the stored values, read with h5py
                check_with_h5py(nwb, key, got)


def _attr_number(attrs: Any, name: str, default: float) -> float:
    value = attrs.get(name)
    return default if value is None else float(np.asarray(value).reshape(-1)[0])


def check_with_h5py(nwb: ns.NWBFile, key: str, got: Any) -> None:
    import h5py

    group = nwb.file[nwb.entry(key).path]
    kind = nwb.entry(key).kind
    if kind in ("Tsd", "TsdFrame", "TsdTensor"):
        data = group["data"]
        want = data[()] * _attr_number(data.attrs, "conversion", 1.0) + _attr_number(data.attrs, "offset", 0.0)
        if "timestamps" in group:
            t = group["timestamps"][()]
        else:
            st = group["starting_time"]
            t = float(np.asarray(st[()]).reshape(-1)[0]) + np.arange(len(want)) / _attr_number(st.attrs, "rate", 1.0)
        assert (np.diff(t) >= 0).all()
        np.testing.assert_allclose(np.asarray(got.t), t, atol=1e-9, err_msg=key)
        np.testing.assert_allclose(np.asarray(got.values).reshape(want.shape), want, rtol=1e-7, err_msg=key)
    elif kind in ("IntervalSet", "DataFrame"):
        table = nwb.table(key)
        np.testing.assert_array_equal(table.index.to_numpy(), group["id"][()])
        for col in table.columns:
            dset = group[col]
            if f"{col}_index" in group or not isinstance(dset, h5py.Dataset) or dset.ndim != 1:
                continue
            raw = dset[()]
            if raw.dtype.kind in "iuf":
                np.testing.assert_array_equal(table[col].to_numpy(), raw, err_msg=f"{key}.{col}")
        if kind == "IntervalSet":
            ok = ~(np.isnan(group["start_time"][()]) | np.isnan(group["stop_time"][()]))
            np.testing.assert_array_equal(got.start, np.sort(group["start_time"][()][ok]))
