"""The synthetic session generator: readable by pynwb, deterministic, realistic, streamed LFP."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

from napstream.errors import InvalidInputError
from napstream.testing.sessions import (
    LFP_CONVERSION,
    LFP_OFFSET,
    _rate,
    _rate_maps,
    lfp_values,
    write_mock_session,
    write_session,
)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "s.nwb"
    kw = dict(duration=60.0, n_units=6, n_channels=4, seed=5, lfp_starting_time=1.0)
    return write_session(path, **kw), kw


def test_pynwb_reads_every_object(session):
    path, kw = session
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        pos = nwb.processing["behavior"]["Position"]
        led1, led2 = pos["SpatialSeriesLED1"], pos["SpatialSeriesLED2"]
        assert led1.data.shape == (int(kw["duration"] * 50), 2)
        np.testing.assert_allclose(led2.data[:] - led1.data[:], np.broadcast_to([0.03, 0.02], led1.data.shape))
        t = led1.timestamps[:]
        assert np.all(np.diff(t) > 0) and abs(np.median(np.diff(t)) - 0.02) < 1e-3
        assert np.all((led1.data[:] >= 0) & (led1.data[:] <= 1))
        assert led2.timestamps is led1.timestamps or np.array_equal(led2.timestamps[:], t)
        assert len(nwb.units) == kw["n_units"] and len(nwb.electrodes) == kw["n_channels"]
        assert {"depth", "cell_type", "peak_rate", "obs_intervals", "electrode_group"} <= set(nwb.units.colnames)
        assert list(nwb.epochs.to_dataframe()["label"]) == ["sleep", "run", "sleep"]
        assert len(nwb.trials) > 0 and nwb.subject.species == "Mus musculus"
        lfp = nwb.processing["ecephys"]["LFP"]["ElectricalSeriesLFP"]
        assert lfp.conversion == LFP_CONVERSION and lfp.offset == LFP_OFFSET
        assert lfp.starting_time == kw["lfp_starting_time"] and lfp.rate == 1250.0 and lfp.timestamps is None


def test_lfp_storage_and_values(session):
    path, kw = session
    with h5py.File(path, "r") as f:
        d = f["processing/ecephys/LFP/ElectricalSeriesLFP/data"]
        assert d.dtype == np.int16 and d.compression == "gzip" and d.chunks == (1250, kw["n_channels"])
        np.testing.assert_array_equal(d[1000:4000], lfp_values(1000, 4000, 1250.0, kw["n_channels"], kw["seed"]))
        volts = d[:] * LFP_CONVERSION + LFP_OFFSET
        assert 20e-6 < volts.std() < 1e-3  # physiological LFP amplitude


def test_lfp_has_theta(session):
    path, _ = session
    with h5py.File(path, "r") as f:
        x = f["processing/ecephys/LFP/ElectricalSeriesLFP/data"][:, 0].astype(float)
    spec = np.abs(np.fft.rfft(x - x.mean())) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 1250.0)
    assert 6.0 < freqs[np.argmax(spec[freqs > 2]) + np.count_nonzero(freqs <= 2)] < 10.0


def test_units_are_realistic_and_driven_by_position(session):
    path, kw = session
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        led1 = nwb.processing["behavior"]["Position"]["SpatialSeriesLED1"]
        t, xy = led1.timestamps[:], led1.data[:]
        cells = _rate_maps(kw["n_units"], np.random.default_rng(kw["seed"]))  # kinds only
        for i in range(len(nwb.units)):
            spikes = nwb.units.spike_times_index[i]
            stop = nwb.units.obs_intervals_index[i][-1][1]
            rate = len(spikes) / stop
            assert 0.5 <= rate <= 20.0
            assert np.all(np.diff(spikes) >= 0) and spikes.max() <= stop
            assert nwb.units["cell_type"][i] == cells[i]["kind"]
        # spikes of a place cell come from where its field is: position at spikes is near the peak
        cell = _rate_maps(kw["n_units"], np.random.default_rng(kw["seed"]))
        spikes = nwb.units.spike_times_index[0]
        idx = np.clip(np.searchsorted(t, spikes), 0, len(t) - 1)
        at_spikes = np.mean(_rate(cell[0], xy[idx]))
        overall = np.mean(_rate(cell[0], xy))
        assert at_spikes > overall


def test_deterministic_from_seed(tmp_path):
    a = write_session(tmp_path / "a.nwb", duration=20.0, n_units=3, n_channels=2, seed=9)
    b = write_session(tmp_path / "b.nwb", duration=20.0, n_units=3, n_channels=2, seed=9)
    c = write_session(tmp_path / "c.nwb", duration=20.0, n_units=3, n_channels=2, seed=10)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb, h5py.File(c, "r") as fc:
        for name in ["units/spike_times", "processing/behavior/Position/SpatialSeriesLED1/data",
                     "processing/ecephys/LFP/ElectricalSeriesLFP/data"]:
            np.testing.assert_array_equal(fa[name][:], fb[name][:])
        assert not np.array_equal(fa["units/spike_times"][:], fc["units/spike_times"][:])


def test_without_lfp_and_bad_arguments(tmp_path):
    p = write_session(tmp_path / "nolfp.nwb", duration=10.0, n_units=1, n_channels=1, lfp=False)
    with h5py.File(p, "r") as f:
        assert "ecephys" not in f["processing"]
    for kw, name in [(dict(duration=-1.0), "duration"), (dict(n_units=2.5), "n_units"),
                     (dict(n_channels=0), "n_channels"), (dict(seed=-1), "seed")]:
        with pytest.raises(InvalidInputError, match=name):
            write_session(tmp_path / "bad.nwb", **kw)


@pytest.mark.slow
def test_lfp_written_in_bounded_memory(tmp_path):
    # 32 channels x 200 s x 1250 Hz int16 = 16 MB raw; the writer must not hold it all
    tracemalloc.start()
    write_session(tmp_path / "big.nwb", duration=200.0, n_units=1, n_channels=32, seed=1, lfp_chunk_seconds=1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10e6, peak


def test_mock_session_readable_by_pynwb(tmp_path):
    p = write_mock_session(tmp_path / "m.nwb", seed=1)
    with NWBHDF5IO(str(p), "r") as io:
        nwb = io.read()
        assert {"tensor", "ints", "ElectricalSeries", "frames"} <= set(nwb.acquisition)
        assert len(nwb.units) == 5
