"""Regression tests of issue #14: shapes found in real NWB files written by other tools.

Each test writes the shape with pynwb (rewritten with h5py where pynwb cannot write it) and compares
napstream's reading with pynwb's / pynapple's; tests using ../shared/realnwb skip when it is absent.
"""

from __future__ import annotations

import datetime
import re
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
from pynwb import NWBHDF5IO, NWBFile as PyNWBFile, TimeSeries

import napstream as ns
from napstream.errors import FileFormatError, NotNWBError, UnsupportedTypeError

REALNWB = Path(__file__).resolve().parents[2].parent / "shared" / "realnwb"


def real(name: str) -> Path:
    path = REALNWB / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def new_nwbfile() -> PyNWBFile:
    return PyNWBFile("test", "id", datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))


def write(path: Path, nwbfile: PyNWBFile) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


def pynwb_read(path: Path) -> tuple[Any, Any]:
    io = NWBHDF5IO(str(path), "r")
    return io, io.read()


def pynapple_read(path: Path) -> Any:
    import pynapple

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pynapple.load_file(str(path))


def sorting_warnings(record: list[Any]) -> list[str]:
    return [str(w.message) for w in record if "not sorted" in str(w.message)]


# ------------------------------------------------------------------- 1. unsorted timestamps
@pytest.fixture
def unsorted_file(tmp_path: Path) -> Path:
    nwbfile = new_nwbfile()
    nwbfile.add_unit(spike_times=[0.5, 0.1, 0.3])
    nwbfile.add_unit(spike_times=[1.0, 2.0])  # sorted; 1.0 < 0.3's successor seam is not a disorder
    nwbfile.add_unit(spike_times=[9.0, 3.0])
    nwbfile.add_acquisition(TimeSeries(name="events", data=np.array([10.0, 20.0, 30.0, 40.0]),
                                       timestamps=np.array([0.0, 2.0, 1.0, 3.0]), unit="a.u."))
    return write(tmp_path / "unsorted.nwb", nwbfile)


def test_unsorted_spike_times_are_sorted_with_one_warning_naming_the_key(unsorted_file: Path) -> None:
    io, ref = pynwb_read(unsorted_file)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        nwb = ns.NWBFile(unsorted_file)
        units = nwb["units"]
    found = sorting_warnings(record)
    assert len(found) == 1 and "'units'" in found[0] and "[0, 2]" in found[0]
    theirs = pynapple_read(unsorted_file)["units"]
    for row, uid in enumerate(ref.units.id[:]):
        want = np.sort(ref.units["spike_times"][row])
        np.testing.assert_array_equal(units[uid].t, want)
        np.testing.assert_array_equal(units[uid].t, theirs[uid].t)
    nwb.close()
    io.close()


def test_unsorted_series_keeps_each_row_with_its_timestamp(unsorted_file: Path) -> None:
    io, ref = pynwb_read(unsorted_file)
    ts = ref.acquisition["events"]
    order = np.argsort(ts.timestamps[:], kind="stable")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with ns.NWBFile(unsorted_file) as nwb:
            got = nwb["events"]
            np.testing.assert_array_equal(got.t, ts.timestamps[:][order])
            np.testing.assert_array_equal(got.values, ts.data[:][order])
    found = sorting_warnings(record)
    assert len(found) == 1 and "'events'" in found[0] and "loaded it into memory" in found[0]
    io.close()


def test_unsorted_series_over_http_is_sorted_too(unsorted_file: Path, http_server: Any, tmp_path: Path) -> None:
    server = http_server(unsorted_file.parent)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with ns.NWBFile(server.url_for(unsorted_file.name), cache_dir=tmp_path / "c") as nwb:
            np.testing.assert_array_equal(nwb["events"].values, [10.0, 30.0, 20.0, 40.0])
            np.testing.assert_array_equal(nwb["units"][0].t, [0.1, 0.3, 0.5])
    assert len(sorting_warnings(record)) == 2


def test_long_unsorted_series_beyond_the_scan_is_refused_on_read_not_served(
        unsorted_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from napstream.nwb import timestamps

    monkeypatch.setattr(timestamps, "SCAN_MAX_ROWS", 2)
    monkeypatch.setattr("napstream.nwb.convert.SCAN_MAX_ROWS", 2)
    with ns.NWBFile(unsorted_file) as nwb:
        with pytest.raises(FileFormatError, match="sorted"):
            np.asarray(nwb["events"].t)


def test_unsorted_series_larger_than_the_memory_budget_says_what_to_do(unsorted_file: Path) -> None:
    with ns.config.override(memory_budget=16):
        with ns.NWBFile(unsorted_file) as nwb:
            with pytest.raises(FileFormatError, match="'events'.*memory_budget"):
                nwb["events"]


def test_scan_finds_a_disorder_at_a_block_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    from napstream.nwb import timestamps

    monkeypatch.setattr(timestamps, "SCAN_BLOCK_ROWS", 3)
    t = np.array([0.0, 1.0, 2.0, 1.5, 3.0, 4.0, 5.0])  # the disorder is between blocks [0:3] and [3:6]
    assert timestamps.scan_unsorted(lambda a, b: t[a:b], len(t)).tolist() == [0]
    ends = np.array([3, 7])  # a new segment starting lower is fine
    assert timestamps.scan_unsorted(lambda a, b: t[a:b], len(t), ends).tolist() == []


# ------------------------------------------------------------------- 2. channel_conversion on its axis
@pytest.mark.parametrize("axis", [1, 2])
def test_channel_conversion_applies_on_the_axis_attribute(tmp_path: Path, axis: int) -> None:
    raw = np.arange(4 * 3 * 5, dtype=np.int16).reshape(4, 3, 5)
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="snippets", data=raw, timestamps=np.arange(4.0), unit="V",
                                       conversion=0.5))
    path = write(tmp_path / "cc.nwb", nwbfile)
    cc = np.array([1.0, 2.0, 3.0]) if axis == 1 else np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    with h5py.File(path, "a") as f:
        f["acquisition/snippets"].create_dataset("channel_conversion", data=cc.astype(np.float32))
        f["acquisition/snippets/channel_conversion"].attrs["axis"] = np.int32(axis)
    shape = [1, 1, 1]
    shape[axis] = len(cc)
    want = raw * 0.5 * cc.reshape(shape)
    with ns.NWBFile(path) as nwb:
        np.testing.assert_allclose(nwb["snippets"].values, want, rtol=1e-7)


def test_real_spike_event_series_with_channel_conversion() -> None:
    path = real("aqnwb__createESandSES.nwb")
    with ns.NWBFile(path) as nwb, h5py.File(path) as f:
        g = f["acquisition/spikedata0"]
        cc = g["channel_conversion"][()].astype(float)
        want = g["data"][()] * float(g["data"].attrs["conversion"]) * cc[None, :, None]
        np.testing.assert_allclose(nwb["spikedata0"].values, want, rtol=1e-6)


# ------------------------------------------------------------------- 3. 1-element starting_time
def test_starting_time_stored_as_a_one_element_array(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="lfp", data=np.arange(6.0), starting_time=2.5, rate=10.0, unit="V"))
    path = write(tmp_path / "st.nwb", nwbfile)
    with h5py.File(path, "a") as f:  # aqnwb's layout: shape (1,), float32 rate
        g = f["acquisition/lfp"]
        del g["starting_time"]
        st = g.create_dataset("starting_time", data=np.array([2.5]))
        st.attrs["rate"] = np.float32(10.0)
        st.attrs["unit"] = "seconds"
    io, ref = pynwb_read(path)
    ts = ref.acquisition["lfp"]
    want = float(np.asarray(ts.starting_time).reshape(-1)[0]) + np.arange(6) / float(ts.rate)
    with ns.NWBFile(path) as nwb:
        np.testing.assert_allclose(nwb["lfp"].t, want, atol=1e-12)
    io.close()


# ------------------------------------------------------------------- 4. types by inheritance
def test_extension_spatial_series_subtype_gets_xyz_columns_like_pynapple() -> None:
    path = real("ndx-pose__0.1.1_poseestimation_nodes_edges.nwb")
    theirs = pynapple_read(path)
    with ns.NWBFile(path) as nwb:
        for key in ("front_left_paw", "front_right_paw"):
            assert list(nwb[key].columns) == list(theirs[key].columns)
            assert nwb.entry(key).is_a("SpatialSeries")


def test_type_tree_reads_extension_parents_from_the_cached_specs(tmp_path: Path) -> None:
    import json

    from napstream.nwb.specs import TypeTree

    path = tmp_path / "spec.h5"
    with h5py.File(path, "w") as f:
        spec = {"groups": [{"neurodata_type_def": "MyTracking", "neurodata_type_inc": "SpatialSeries"},
                           {"neurodata_type_def": "MyTracking2", "neurodata_type_inc": "MyTracking"}]}
        f.create_dataset("specifications/ndx-my/0.1.0/ndx-my.extensions", data=json.dumps(spec))
        f.create_dataset("specifications/ndx-my/0.1.0/namespace", data=json.dumps({"namespaces": []}))
    with h5py.File(path) as f:
        tree = TypeTree(f)
        assert tree.ancestry("MyTracking2", "ndx-my")[:4] == ("MyTracking2", "MyTracking", "SpatialSeries",
                                                              "TimeSeries")
        assert not tree.is_a("Unknown", "TimeSeries")


# ------------------------------------------------------------------- 5. units electrodes like pynapple
def test_units_electrodes_column_expands_into_the_electrode_table_like_pynapple(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    device = nwbfile.create_device("probe")
    group = nwbfile.create_electrode_group("shank0", "a shank", "CA1", device)
    for i in range(3):
        nwbfile.add_electrode(x=float(i), y=2.0 * i, z=0.5, imp=1.0, location=f"loc{i}", filtering="none",
                              group=group)
    for i in range(3):
        nwbfile.add_unit(spike_times=[0.1 * (i + 1), 1.0], electrodes=[2 - i])
    path = write(tmp_path / "units_el.nwb", nwbfile)
    with h5py.File(path, "a") as f:  # one electrode per unit, stored without an index (not ragged)
        del f["units/electrodes_index"]
    theirs = pynapple_read(path)["units"]
    with ns.NWBFile(path) as nwb:
        units = nwb["units"]
        assert sorted(units.metadata_columns) == sorted(theirs.metadata_columns)
        assert "location" in units.metadata_columns and "electrodes" not in units.metadata_columns
        for col in theirs.metadata_columns:
            assert [str(v) for v in np.asarray(units[col])] == [str(v) for v in np.asarray(theirs[col])], col


def test_ragged_units_electrodes_are_left_out_like_pynapple_and_kept_in_table() -> None:
    path = real("dandi-cli__sub-anm369963_ses-20170228.nwb")
    theirs = pynapple_read(path)["units"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ns.NWBFile(path) as nwb:
            assert sorted(nwb["units"].metadata_columns) == sorted(theirs.metadata_columns)
            electrode_ids = nwb.file["general/extracellular_ephys/electrodes/id"][()]
            rows = nwb.file["units/electrodes"][()]  # region rows -> ids of the electrode table
            assert list(nwb.table("units")["electrodes"].iloc[0]) == list(electrode_ids[rows])


# ------------------------------------------------------------------- 6. no data / external files
def test_timeseries_without_data_is_an_empty_tsd_like_pynapple(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="nodata", data=np.arange(3.0), rate=1.0, unit="V"))
    path = write(tmp_path / "nodata.nwb", nwbfile)
    with h5py.File(path, "a") as f:
        del f["acquisition/nodata/data"]
    with ns.NWBFile(path) as nwb:
        got = nwb["nodata"]
        assert type(got).__name__ == "Tsd" and len(got) == 0
    real_path = real("pynwb__1.3.3_ts_no_data.nwb")
    theirs = pynapple_read(real_path)["ADDME"]
    with ns.NWBFile(real_path) as nwb:
        assert type(nwb["ADDME"]).__name__ == type(theirs).__name__ and len(nwb["ADDME"]) == len(theirs) == 0


def test_image_series_with_external_files_is_unsupported_and_says_why() -> None:
    with ns.NWBFile(real("pynwb__2.1.0_imageseries_nonmatch_starting_frame.nwb")) as nwb:
        with pytest.raises(UnsupportedTypeError, match="external files") as err:
            nwb["test_imageseries"]
    assert "damaged" not in str(err.value)


# ------------------------------------------------------------------- 7. NWB 1.x
@pytest.mark.parametrize("version", [b"NWB-1.0.5", "NWB-1.0.3", b"1.0.2"])
def test_nwb1_files_are_refused_in_one_line_naming_the_version(tmp_path: Path, version: Any) -> None:
    path = tmp_path / "old.nwb"
    with h5py.File(path, "w") as f:
        f.create_dataset("nwb_version", data=version)
        f.create_group("acquisition/timeseries")
    with pytest.raises(NotNWBError) as err:
        ns.NWBFile(path)
    text = version.decode() if isinstance(version, bytes) else version
    message = str(err.value)
    assert f"NWB 1.x file (version {text})" in message and "convert it to NWB 2" in message
    assert "old.nwb" in message and "\n" not in message


def test_real_nwb1_file_is_refused() -> None:
    with pytest.raises(NotNWBError, match=r"NWB 1\.x file \(version NWB-1\.0\.5\).*convert it to NWB 2"):
        ns.NWBFile(real("pynwb__496908818s.nwb"))


# ------------------------------------------------------------------- 8. matnwb 2.0b
def test_matnwb_array_valued_attributes_and_metadata_groups() -> None:
    with ns.NWBFile(real("matnwb__ecephys_tutorial.nwb")) as nwb, h5py.File(nwb.path) as f:
        assert "subject" not in nwb.keys()  # a Subject is metadata, not data
        assert not any("[b'" in nwb.type_of(k) for k in nwb.keys())
        assert nwb.type_of("ECoG") == "TsdFrame"
        g = f["acquisition/ECoG"]
        want = g["data"][()] * float(np.asarray(g["data"].attrs.get("conversion", 1.0)).reshape(-1)[0])
        got = nwb["ECoG"]
        np.testing.assert_allclose(np.asarray(got.values).reshape(want.shape), want, rtol=1e-7)


def test_array_valued_neurodata_type_is_read_as_its_element(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="x", data=np.arange(3.0), timestamps=np.arange(3.0), unit="V"))
    path = write(tmp_path / "arr.nwb", nwbfile)
    with h5py.File(path, "a") as f:
        f["acquisition/x"].attrs["neurodata_type"] = np.array([b"TimeSeries"])
        f["acquisition/x"].attrs["namespace"] = np.array([b"core"])
        f["acquisition/x/data"].attrs["conversion"] = np.array([0.5])  # matnwb writes 1-element arrays
        f["acquisition/x/data"].attrs["offset"] = np.array([1.0])
    with ns.NWBFile(path) as nwb:
        assert nwb.entry("x").neurodata_type == "TimeSeries"
        np.testing.assert_array_equal(nwb["x"].values, np.arange(3.0) * 0.5 + 1.0)


# ------------------------------------------------------------------- 9. nwb.table(key)
@pytest.fixture
def odd_trials(tmp_path: Path) -> Path:
    nwbfile = new_nwbfile()
    nwbfile.add_trial_column("outcome", "trial outcome")
    nwbfile.add_trial_column("licks", "lick times", index=True)
    rows = [(6.0, 8.0, "late", [6.5]), (0.0, 2.0, "hit", [0.5, 1.0]), (1.0, 3.0, "miss", []),
            (5.0, np.nan, "hit", [5.5]), (9.0, 9.5, "last", [])]
    for start, stop, outcome, licks in rows:
        nwbfile.add_trial(start_time=start, stop_time=stop, outcome=outcome, licks=licks)
    nwbfile.add_epoch(start_time=0.0, stop_time=1.0)
    return write(tmp_path / "trials.nwb", nwbfile)


def test_table_reads_every_row_and_column_losslessly(odd_trials: Path) -> None:
    io, ref = pynwb_read(odd_trials)
    want = ref.trials.to_dataframe()
    with ns.NWBFile(odd_trials) as nwb:
        got = nwb.table("trials")
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got["start_time"], want["start_time"])
    np.testing.assert_array_equal(got["stop_time"], want["stop_time"])
    assert list(got["outcome"]) == list(want["outcome"])
    for mine, theirs in zip(got["licks"], want["licks"]):
        np.testing.assert_array_equal(mine, theirs)
    io.close()


def test_interval_set_that_cannot_hold_the_table_warns_and_points_at_table(odd_trials: Path) -> None:
    io, ref = pynwb_read(odd_trials)
    want = pynapple_read(odd_trials)["trials"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with ns.NWBFile(odd_trials) as nwb:
            got = nwb["trials"]
    np.testing.assert_array_equal(got.start, want.start)
    np.testing.assert_array_equal(got.end, want.end)
    for col in want.metadata_columns:
        assert [str(v) for v in got[col]] == [str(v) for v in want[col]], col
    mine = [str(w.message) for w in record if "nwb.table('trials')" in str(w.message)]
    assert len(mine) == 1 and "NaN" in mine[0] and "overlapping" in mine[0] and "not sorted" in mine[0]
    io.close()


def test_table_rejects_what_is_not_a_table(unsorted_file: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ns.NWBFile(unsorted_file) as nwb:
            with pytest.raises(ns.errors.KeyNotFoundError):
                nwb.table("nope")
            with pytest.raises(TypeError, match="not a DynamicTable"):
                nwb.table("events")
            assert isinstance(nwb.table("units"), pd.DataFrame)


def test_corrupted_decreasing_timestamps_are_sorted_like_pynapple(small_session: Path, tmp_path: Path) -> None:
    from napstream.testing.corrupt import POSITION, corrupt

    path = corrupt("decreasing_timestamps", small_session, tmp_path / "swapped.nwb")
    io, ref = pynwb_read(path)
    ts = ref.objects[h5py.File(path)[POSITION].attrs["object_id"]]
    order = np.argsort(ts.timestamps[:], kind="stable")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with ns.NWBFile(path) as nwb:
            key = nwb.entry(POSITION).key
            got = nwb[key]
            np.testing.assert_array_equal(got.t, ts.timestamps[:][order])
            np.testing.assert_array_equal(got.values, (ts.data[:] * ts.conversion)[order])
    assert len(sorting_warnings(record)) == 1
    io.close()


def test_unsorted_file_read_with_lazy_loading_false_is_sorted_too(unsorted_file: Path) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with ns.NWBFile(unsorted_file, lazy_loading=False) as nwb:
            np.testing.assert_array_equal(nwb["events"].t, [0.0, 1.0, 2.0, 3.0])
            np.testing.assert_array_equal(nwb["events"].values, [10.0, 30.0, 20.0, 40.0])
            np.testing.assert_array_equal(nwb["units"][2].t, [3.0, 9.0])
    assert len(sorting_warnings(record)) == 2


@pytest.mark.parametrize("columns", [["lick_times"], ["lick_times", "reward_times"]])
def test_table_of_event_times_is_a_ts_like_pynapple(tmp_path: Path, columns: list[str]) -> None:
    from hdmf.common import DynamicTable, VectorData

    rng = np.random.default_rng(0)
    data = {c: rng.random(6) * 10 for c in columns}
    data[columns[0]][2] = 0.01  # unsorted: pynapple sorts it with a warning
    table = DynamicTable(name="events", description="events",
                         columns=[VectorData(name=c, description=c, data=data[c]) for c in columns])
    nwbfile = new_nwbfile()
    nwbfile.create_processing_module("behavior", "behavior").add(table)
    path = write(tmp_path / "events.nwb", nwbfile)
    theirs = pynapple_read(path)["events"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ns.NWBFile(path) as nwb:
            assert nwb.type_of("events") == "Ts"
            got = nwb["events"]
    if len(columns) == 1:
        assert type(got).__name__ == type(theirs).__name__ == "Ts"
        got, theirs = {columns[0]: got}, {columns[0]: theirs}
    assert sorted(got) == sorted(theirs)
    for c in columns:
        np.testing.assert_array_equal(got[c].t, theirs[c].t)
        np.testing.assert_array_equal(got[c].t, np.sort(data[c]))


def test_electrodes_region_of_a_series_that_is_not_an_electrical_series_gives_plain_columns(tmp_path: Path) -> None:
    """pynapple names columns by electrode only for ElectricalSeries (and subtypes)."""
    nwbfile = new_nwbfile()
    device = nwbfile.create_device("probe")
    group = nwbfile.create_electrode_group("shank0", "a shank", "CA1", device)
    for i in range(3):
        nwbfile.add_electrode(location=f"loc{i}", group=group, id=10 + i)
    nwbfile.add_acquisition(TimeSeries(name="other", data=np.ones((5, 3)), rate=1.0, unit="V"))
    path = write(tmp_path / "other.nwb", nwbfile)
    with h5py.File(path, "a") as f:  # an `electrodes` region on a plain TimeSeries
        region = f["acquisition/other"].create_dataset("electrodes", data=np.arange(3))
        region.attrs["table"] = f["general/extracellular_ephys/electrodes"].ref
    theirs = pynapple_read(path)["other"]
    with ns.NWBFile(path) as nwb:
        assert list(nwb["other"].columns) == list(theirs.columns) == [0, 1, 2]


# ------------------------------------------------------------------- text data, spikes outside obs_intervals
@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="labels", data=np.array(["rest", "run", "groom", "run"]), rate=2.0,
                                       starting_time=1.0, unit="n/a"))
    nwbfile.add_acquisition(TimeSeries(name="pairs", data=np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
                                       timestamps=[0.0, 1.0, 2.5], unit="n/a"))
    nwbfile.add_acquisition(TimeSeries(name="fixed", data=np.ones(3), timestamps=[0.0, 1.0, 2.0], unit="n/a"))
    path = write(tmp_path / "text.nwb", nwbfile)
    with h5py.File(path, "a") as f:  # fixed-width bytes, as MATLAB and older writers store text
        series = f["acquisition/fixed"]
        attrs = dict(series["data"].attrs)
        del series["data"]
        series.create_dataset("data", data=np.array([b"ab", b"c", b"\xc3\xa9"], dtype="S2"))
        series["data"].attrs.update(attrs)
    return path


@pytest.mark.parametrize("where", ["local", "remote", "loaded"])
def test_text_series_are_read_as_pynapple_and_pynwb_give_them(text_file: Path, where: str, http_server: Any,
                                                              tmp_path: Path) -> None:
    theirs = pynapple_read(text_file)
    io, ref = pynwb_read(text_file)
    if where == "remote":
        nwb = ns.NWBFile(http_server(text_file.parent).url_for(text_file.name), cache_dir=tmp_path / "c")
    else:
        nwb = ns.NWBFile(text_file, lazy_loading=where != "loaded")
    with io, nwb:
        for key, kind in [("labels", "Tsd"), ("pairs", "TsdFrame"), ("fixed", "Tsd")]:
            assert nwb.type_of(key) == kind
            got = nwb[key]
            assert type(got).__name__ == type(theirs[key]).__name__ == kind
            np.testing.assert_array_equal(got.t, theirs[key].t)
            np.testing.assert_array_equal(got.t, ref.acquisition[key].get_timestamps())
            values = np.asarray(got.values)
            assert values.dtype == np.asarray(theirs[key].values).dtype  # bytes, as h5py reads them
            np.testing.assert_array_equal(values, np.asarray(theirs[key].values))
            # pynwb decodes variable-length text to str; the characters are the same
            want = np.asarray(ref.acquisition[key].data[:])
            decode = np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else x, otypes=[object])
            np.testing.assert_array_equal(decode(values), decode(want))
        assert [x for x in nwb["labels"].restrict(ns.IntervalSet(1.4, 2.0)).values] == [b"run", b"groom"]


def test_spikes_outside_obs_intervals_are_left_out_with_one_warning_counting_them(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    inside = np.array([1.0, 2.0, 48.0, 61.0, 99.0])
    nwbfile.add_unit(spike_times=np.sort(np.r_[inside, 52.0, 55.0]), obs_intervals=[[0.0, 50.0], [60.0, 100.0]])
    nwbfile.add_unit(spike_times=[5.0, 6.0], obs_intervals=[[0.0, 100.0]])
    nwbfile.add_unit(spike_times=[1.0, 150.0], obs_intervals=[[0.0, 100.0]])
    path = write(tmp_path / "obs.nwb", nwbfile)
    io, ref = pynwb_read(path)
    with io:
        stored = [np.asarray(ref.units["spike_times"][i]) for i in range(3)]
    for lazy in (True, False):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with ns.NWBFile(path, lazy_loading=lazy) as nwb:
                units = nwb["units"]
                got = [units[i].t for i in range(3)]
        msgs = [str(w.message) for w in record if "obs_intervals" in str(w.message)]
        assert len(msgs) == 1, msgs
        assert "3 spike time(s) of 2 unit(s)" in msgs[0] and "0: 2, 2: 1" in msgs[0]
        assert "/units/spike_times" in msgs[0]
        for t, s, keep in zip(got, stored, [(s <= 50) | (s >= 60) for s in stored[:1]] + [None, None]):
            np.testing.assert_array_equal(t, s[s <= 100] if keep is None else s[keep])


def test_spikes_inside_obs_intervals_raise_no_warning(tmp_path: Path) -> None:
    nwbfile = new_nwbfile()
    nwbfile.add_unit(spike_times=[1.0, 50.0, 60.0], obs_intervals=[[0.0, 50.0], [60.0, 100.0]])
    path = write(tmp_path / "obs_ok.nwb", nwbfile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ns.NWBFile(path) as nwb:
            np.testing.assert_array_equal(nwb["units"][0].t, [1.0, 50.0, 60.0])


def test_an_empty_units_table_is_an_empty_tsgroup(tmp_path: Path) -> None:
    """pynwb writes ``nwbfile.units = Units(...)`` with no unit as a table without columns or rows;
    pynapple does not list it (no spike_times); napstream gives an empty TsGroup, so a script looping
    over the sessions of a dandiset gets the same type from every session."""
    from pynwb.misc import Units

    nwbfile = new_nwbfile()
    nwbfile.units = Units(name="units", description="no units sorted")
    path = write(tmp_path / "empty_units.nwb", nwbfile)
    assert "units" not in pynapple_read(path).keys()
    for lazy in (True, False):
        with ns.NWBFile(path, lazy_loading=lazy) as nwb:
            assert nwb.type_of("units") == "TsGroup"
            units = nwb["units"]
            assert type(units).__name__ == "TsGroup" and len(units) == 0
            assert len(units.time_support) == 0
            assert units.count(1.0, ep=ns.IntervalSet(0, 10)).shape == (10, 0)


@pytest.mark.parametrize("where", ["local", "remote"])
def test_two_dimensional_times_are_refused_naming_the_dataset(tmp_path: Path, where: str, http_server: Any) -> None:
    """A MATLAB-style (n, 1) or (1, n) times array: pynwb refuses the file; napstream names the dataset."""
    nwbfile = new_nwbfile()
    for name in ("col", "row"):
        nwbfile.add_acquisition(TimeSeries(name=name, data=np.arange(5.0), timestamps=np.arange(5.0), unit="u"))
    nwbfile.add_unit(spike_times=[1.0, 2.0, 3.0])
    path = write(tmp_path / "times2d.nwb", nwbfile)
    with h5py.File(path, "a") as f:
        for name, shape in (("acquisition/col/timestamps", (5, 1)), ("acquisition/row/timestamps", (1, 5)),
                            ("units/spike_times", (3, 1))):
            attrs, values = dict(f[name].attrs), f[name][()]
            del f[name]
            f.create_dataset(name, data=values.reshape(shape)).attrs.update(attrs)
        f["units/spike_times_index"].attrs["target"] = f["units/spike_times"].ref
    with pytest.raises(Exception):  # pynwb refuses the file (hdmf's ConstructError)
        pynwb_read(path)[0].read()
    source = (http_server(path.parent).url_for(path.name) if where == "remote" else path)
    kw = {"cache_dir": tmp_path / "c"} if where == "remote" else {}
    with ns.NWBFile(source, **kw) as nwb:
        for key, dset, shape in (("col", "/acquisition/col/timestamps", (5, 1)),
                                 ("row", "/acquisition/row/timestamps", (1, 5)),
                                 ("units", "/units/spike_times", (3, 1))):
            with pytest.raises(FileFormatError, match=f"{dset} must be 1-D.*shape {re.escape(str(shape))}"):
                nwb[key]
