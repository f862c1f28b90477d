"""nap.NWBFile(nwbfile) for a pynwb NWBFile built in memory (pynapple accepts it)."""

from __future__ import annotations

import h5py
import numpy as np
import pynapple
import pytest

import napstream as nap
from napstream.nwb.in_memory import is_in_memory_nwbfile

pynwb = pytest.importorskip("pynwb")
from pynwb.testing.mock.base import mock_TimeSeries  # noqa: E402
from pynwb.testing.mock.file import mock_NWBFile  # noqa: E402


def _nwbfile(data):
    nwbfile = mock_NWBFile()
    nwbfile.add_acquisition(mock_TimeSeries(name="ts", data=data, rate=100.0))
    nwbfile.add_unit(spike_times=[0.1, 0.5, 0.9])
    nwbfile.add_unit(spike_times=[0.2, 0.3])
    return nwbfile


def test_in_memory_nwbfile_matches_pynapple():
    data = np.random.default_rng(0).normal(size=(50, 3))
    ours = nap.NWBFile(_nwbfile(data))
    ref = pynapple.NWBFile(_nwbfile(data))
    assert sorted(ours.keys()) == sorted(ref.keys())
    np.testing.assert_array_equal(ours["ts"].t, ref["ts"].t)
    np.testing.assert_array_equal(ours["ts"].values, ref["ts"].values)
    for k in ref["units"].keys():
        np.testing.assert_array_equal(ours["units"][k].t, ref["units"][k].t)


def test_in_memory_data_from_another_hdf5_file_is_copied(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("data", data=np.arange(20.0))
        nwbfile = mock_NWBFile()
        nwbfile.add_acquisition(mock_TimeSeries(name="ts", data=f["data"]))
        assert is_in_memory_nwbfile(nwbfile)
        tsd = nap.NWBFile(nwbfile)["ts"]
    np.testing.assert_array_equal(tsd.values, np.arange(20.0))


def test_file_read_nwbfile_is_not_rewritten(tmp_path):
    path = tmp_path / "s.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(_nwbfile(np.ones((10, 2))))
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        read = io.read()
        assert not is_in_memory_nwbfile(read)
        assert nap.NWBFile(read).path == str(path)


def test_load_session_reads_pynapples_session_folder(tmp_path):
    folder = tmp_path / "session" / "pynapplenwb"
    folder.mkdir(parents=True)
    nwbfile = _nwbfile(np.ones((10, 2)))
    nwbfile.add_epoch(0.0, 1.0, tags=["sleep"])
    nwbfile.add_epoch(1.0, 2.0, tags=["wake"])
    nwbfile.add_epoch(2.0, 3.0, tags=["sleep"])
    with pynwb.NWBHDF5IO(str(folder / "s.nwb"), "w") as io:
        io.write(nwbfile)
    session = nap.load_session(str(tmp_path / "session"))
    assert session.nwbfilepath == str(folder / "s.nwb")
    assert sorted(session.epochs) == ["sleep", "wake"]
    np.testing.assert_allclose(session.epochs["sleep"].values, [[0.0, 1.0], [2.0, 3.0]], atol=2e-6)
    assert isinstance(session.time_support, nap.IntervalSet)
    with pytest.raises(FileNotFoundError):
        nap.load_session(str(tmp_path))
    with pytest.raises(NotImplementedError):
        nap.load_session(str(tmp_path / "session"), session_type="neurosuite")
