"""DynamicTable reading straight from h5py, against pynwb's to_dataframe()."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from napstream.errors import KeyNotFoundError
from napstream.nwb.tables import read_column, read_table, split_ragged


def _norm(v):
    """pynwb cell -> comparable python value (containers -> their name, arrays -> lists)."""
    if hasattr(v, "name") and hasattr(v, "object_id"):
        return v.name
    if hasattr(v, "index") and hasattr(v, "columns"):  # a DataFrame from a DynamicTableRegion
        return list(v.index)
    if isinstance(v, (np.ndarray, list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _assert_table_equal(ours, ref):
    assert list(ours.index) == list(ref.index)
    for col in ours.columns:
        assert col in ref.columns, col
        got = [_norm(x) for x in ours[col]]
        exp = [_norm(x) for x in ref[col]]
        if got and isinstance(got[0], float):
            np.testing.assert_allclose(got, exp)
        else:
            assert got == exp, col


@pytest.mark.parametrize("where", ["general/extracellular_ephys/electrodes", "intervals/epochs",
                                   "intervals/trials"])
def test_tables_equal_pynwb(small_session, where):
    with NWBHDF5IO(str(small_session), "r") as io, h5py.File(small_session, "r") as f:
        nwb = io.read()
        ref = {"general/extracellular_ephys/electrodes": nwb.electrodes, "intervals/epochs": nwb.epochs,
               "intervals/trials": nwb.trials}[where].to_dataframe()
        _assert_table_equal(read_table(f[where]), ref)


def test_units_columns_equal_pynwb(any_session):
    with NWBHDF5IO(str(any_session), "r") as io, h5py.File(any_session, "r") as f:
        ref = io.read().units.to_dataframe()
        ours = read_table(f["units"])
        _assert_table_equal(ours, ref)
        for i, uid in enumerate(ref.index):
            np.testing.assert_array_equal(read_column(f["units"], "spike_times")[i], ref.loc[uid, "spike_times"])


def test_plane_segmentation_equal_pynwb(mock_session):
    with NWBHDF5IO(str(mock_session), "r") as io, h5py.File(mock_session, "r") as f:
        # mock helpers number their default names per process: find the table by type
        name = next(k for k in f["processing/ophys"] if f["processing/ophys"][k].attrs.get("neurodata_type")
                    == "PlaneSegmentation")
        ref = io.read().processing["ophys"][name].to_dataframe()
        ours = read_table(f["processing/ophys"][name])
        assert list(ours.index) == list(ref.index)
        for got, exp in zip(ours["image_mask"], ref["image_mask"]):
            np.testing.assert_array_equal(got, exp)


def test_missing_column_names_it(small_session):
    with h5py.File(small_session, "r") as f, pytest.raises(KeyNotFoundError, match="nope"):
        read_column(f["units"], "nope")


def test_split_ragged_matches_numpy_split():
    values = np.arange(10)
    index = np.array([0, 3, 3, 7, 10])
    got = split_ragged(values, index)
    exp = np.split(values, index[:-1])
    assert len(got) == len(exp)
    for a, b in zip(got, exp):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def icephys_file(tmp_path_factory):
    """Voltage-clamp sweeps with pynwb's icephys tables: an AlignedDynamicTable (intracellular
    recordings: electrodes, stimuli, responses categories of references) and a table of regions of it."""
    import datetime

    from pynwb import NWBFile
    from pynwb.icephys import VoltageClampSeries, VoltageClampStimulusSeries

    rng = np.random.default_rng(3)
    nwb = NWBFile(session_description="icephys", identifier="icephys",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    elec = nwb.create_icephys_electrode(name="elec0", description="e", device=nwb.create_device(name="amp"))
    for i in range(3):
        stim = VoltageClampStimulusSeries(name=f"stim{i}", data=rng.standard_normal(100 + i), starting_time=2.0 * i,
                                          rate=1000.0, electrode=elec, gain=0.02, sweep_number=i)
        resp = VoltageClampSeries(name=f"resp{i}", data=rng.standard_normal(100 + i), conversion=1e-12,
                                  resolution=np.nan, starting_time=2.0 * i, rate=1000.0, electrode=elec, gain=0.02,
                                  sweep_number=i)
        nwb.add_stimulus(stim)
        nwb.add_acquisition(resp)
        nwb.add_intracellular_recording(electrode=elec, stimulus=stim, response=resp,
                                        stimulus_start_index=i, stimulus_index_count=50)
    nwb.add_icephys_simultaneous_recording(recordings=[0, 2])
    path = tmp_path_factory.mktemp("icephys") / "icephys.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_aligned_table_categories_equal_pynwb(icephys_file):
    """An AlignedDynamicTable keeps its categories' columns (they were dropped: an empty frame), as
    pynwb's to_dataframe() gives them; references to series by name, compound cells as tuples."""
    import napstream as nap

    with NWBHDF5IO(str(icephys_file), "r") as io:
        ref = io.read().intracellular_recordings.to_dataframe()
    with nap.NWBFile(icephys_file) as nwb:
        for ours in (nwb["intracellular_recordings"], nwb.table("intracellular_recordings")):
            assert list(ours.columns) == list(ref.columns)
            assert list(ours.index) == list(ref.index)
            for col in ref.columns:  # (stimulus start, count, series) tuples: pynwb gives the series itself
                assert [_norm(x) for x in ours[col]] == [_norm(x) for x in ref[col]], col
        assert [list(r) for r in nwb["simultaneous_recordings"]["recordings"]] == [[0, 2]]
        listed = next(line for line in repr(nwb).splitlines() if "intracellular_recordings" in line)
        assert f"{ref.shape}".replace(" ", "") in listed.replace(" ", "")  # the listing's shape counts them
