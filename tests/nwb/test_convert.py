"""Every object of generated sessions equals pynwb's reading and pynapple's NWBFile."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pynapple
import pytest
from pynwb import NWBHDF5IO

from napstream.core.lazy import LazyArray
from napstream.nwb.file import NWBFile


def _pynwb_objects(nwbfile):
    """HDF5 path (as napstream reports it) -> pynwb object, for every container of the file."""
    out = {}
    for obj in nwbfile.objects.values():
        if not hasattr(obj, "get_timestamps"):
            continue
        path = _h5_path(obj)
        if path:
            out[path] = obj
    return out


def _h5_path(obj):
    for attr in ("data", "id", "timestamps"):
        ds = getattr(obj, attr, None)
        ds = getattr(ds, "data", ds)
        name = getattr(ds, "name", None)
        if isinstance(name, str) and name.startswith("/"):
            return name.rsplit("/", 1)[0]
    return None


def _open(path):
    io = NWBHDF5IO(str(path), "r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pynapple.NWBFile(io.read())
    return io, ref, NWBFile(path)


def _series_keys(nwb):
    return [k for k in nwb.keys() if nwb.entry(k).kind in ("Tsd", "TsdFrame", "TsdTensor")]


def test_time_series_equal_pynwb_and_pynapple(any_session):
    io, ref, nwb = _open(any_session)
    try:
        objs = _pynwb_objects(io.read())
        keys = _series_keys(nwb)
        assert keys
        for key in keys:
            ours = nwb[key]
            assert ours.is_lazy and isinstance(ours.lazy_data, LazyArray)
            ts = objs[nwb.entry(key).path]
            np.testing.assert_allclose(ours.t, ts.get_timestamps()[:], rtol=0, atol=1e-12, err_msg=key)
            np.testing.assert_allclose(ours.values, ts.get_data_in_units(), rtol=1e-12, err_msg=key)
            # pynapple keeps raw values: apply conversion/offset to compare
            theirs = ref[key]
            np.testing.assert_allclose(ours.t, theirs.t, rtol=0, atol=1e-9, err_msg=key)
            cc = getattr(ts, "channel_conversion", None)
            scale = ts.conversion * (np.asarray(cc) if cc is not None else 1.0)
            np.testing.assert_allclose(ours.values, np.asarray(theirs.values) * scale + ts.offset, rtol=1e-12)
            assert type(ours).__name__ == type(theirs).__name__
            if type(ours).__name__ == "TsdFrame":
                assert list(ours.columns) == list(theirs.columns), key
    finally:
        nwb.close()
        io.close()


def test_regular_series_use_a_regular_index(small_session):
    with NWBFile(small_session) as nwb:
        lfp = nwb["ElectricalSeriesLFP"]
        assert lfp.time_index.is_regular and lfp.time_index.start == 2.5 and lfp.time_index.rate == 1250.0
        assert not nwb["SpatialSeriesLED1"].time_index.is_regular
        assert lfp.lazy_data.ref is not None and lfp.lazy_data.ref.dataset_path.endswith("/data")


def test_lfp_metadata_equals_pynapple(small_session):
    io, ref, nwb = _open(small_session)
    try:
        ours, theirs = nwb["ElectricalSeriesLFP"], ref["ElectricalSeriesLFP"]
        for col in theirs.metadata_columns:
            np.testing.assert_array_equal(np.asarray(ours.metadata[col], dtype=object),
                                          np.asarray(theirs.metadata[col], dtype=object), err_msg=col)
    finally:
        nwb.close()
        io.close()


def test_units_equal_pynwb_and_pynapple(any_session):
    io, ref, nwb = _open(any_session)
    try:
        units_ref = io.read().units
        ours, theirs = nwb["units"], ref["units"]
        assert list(ours.keys()) == list(units_ref.id[:]) == list(theirs.keys())
        for i, uid in enumerate(units_ref.id[:]):
            assert ours[uid].is_lazy
            np.testing.assert_array_equal(ours[uid].t, units_ref.spike_times_index[i])
            np.testing.assert_array_equal(ours[uid].t, theirs[uid].t)
            if "obs_intervals" in units_ref.colnames:
                np.testing.assert_array_equal(ours[uid].time_support.values, units_ref.obs_intervals_index[i])
        for col in theirs.metadata_columns:
            if col == "rate":  # rates differ on purpose: napstream uses obs_intervals as time support
                continue
            np.testing.assert_array_equal(np.asarray(ours[col]), np.asarray(theirs[col]), err_msg=col)
    finally:
        nwb.close()
        io.close()


def test_interval_sets_equal_pynapple(any_session):
    io, ref, nwb = _open(any_session)
    try:
        keys = [k for k in nwb.keys() if nwb.entry(k).kind == "IntervalSet"]
        assert keys
        for key in keys:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours, theirs = nwb[key], ref[key]
            np.testing.assert_array_equal(ours.values, theirs.values, err_msg=key)
            for col in getattr(theirs, "metadata_columns", []):
                got = [list(v) if isinstance(v, (np.ndarray, list)) else v for v in ours.metadata[col]]
                exp = [list(v) if isinstance(v, (np.ndarray, list)) else v for v in theirs.metadata[col]]
                assert got == exp, (key, col)
    finally:
        nwb.close()
        io.close()


def test_dataframes_equal_pynwb(small_session):
    with NWBHDF5IO(str(small_session), "r") as io, NWBFile(small_session) as nwb:
        ref = io.read().electrodes.to_dataframe()
        ours = nwb["electrodes"]
        assert isinstance(ours, pd.DataFrame)
        assert list(ours["group"]) == [g.name for g in ref["group"]]
        pd.testing.assert_frame_equal(ours.drop(columns="group"), ref.drop(columns="group"), check_dtype=False)


def test_annotation_series_is_ts(mock_session):
    io, ref, nwb = _open(mock_session)
    try:
        np.testing.assert_array_equal(nwb["annotations"].t, ref["annotations"].t)
        assert type(nwb["annotations"]).__name__ == "Ts"
    finally:
        nwb.close()
        io.close()


def test_lazy_loading_false_loads_in_memory(small_session):
    with NWBFile(small_session, lazy_loading=False) as nwb, NWBFile(small_session) as lazy:
        for key in ("SpatialSeriesLED1", "ElectricalSeriesLFP"):
            assert not nwb[key].is_lazy
            np.testing.assert_array_equal(nwb[key].values, lazy[key].values)
        assert not nwb["units"][0].is_lazy


def test_objects_are_cached_and_nothing_read_until_asked(small_session, monkeypatch):
    import h5py

    with NWBFile(small_session) as nwb:
        big = []
        orig = h5py.Dataset.__getitem__

        def spy(self, key):
            out = orig(self, key)
            big.append((self.name, np.asarray(out).nbytes))
            return out

        monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
        lfp = nwb["ElectricalSeriesLFP"]
        units = nwb["units"]
        assert nwb["units"] is units
        assert all(n < 64 * 1024 for _, n in big), big
        assert len(lfp) == nwb.entry("ElectricalSeriesLFP").shape[0]
