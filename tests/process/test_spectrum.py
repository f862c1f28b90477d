"""Spectra vs pynapple 0.11.4, in memory and lazy (HDF5 int16 gzip), chunked, on all local executors."""

import h5py
import numpy as np
import pandas as pd
import pynapple as pnap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.errors import InvalidInputError, InvalidTypeError, MemoryBudgetError

RATE = 250.0

# every test runs on both FFT backends (NumPy; pyFFTW when installed): see conftest.fft_backend
pytestmark = pytest.mark.usefixtures("fft_backend")


def make_signals(tmp_path, n=6000, channels=3, seed=0, start=2.0):
    """(napstream lazy, napstream in-memory, pynapple) versions of the same int16 LFP."""
    rng = np.random.default_rng(seed)
    tt = np.arange(n) / RATE
    raw = (rng.normal(0, 300, (n, channels)) + 800 * np.sin(2 * np.pi * 12 * tt)[:, None]).astype(np.int16)
    path = tmp_path / f"lfp{seed}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(512, channels), compression="gzip", compression_opts=1)
    ref = H5DatasetRef(str(path), "lfp")
    conv = 0.5e-3
    lazy = nap.TsdFrame(t=RegularTimeIndex(start, RATE, n), d=LazyArray(ref.open(), scale=conv, ref=ref))
    values = raw * conv
    t = np.arange(n) / RATE + start
    return lazy, nap.TsdFrame(t=t, d=values), pnap.TsdFrame(t=t, d=values)


@pytest.fixture
def signals(tmp_path):
    return make_signals(tmp_path)


def assert_frame(ours, ref, rtol=1e-9, atol=1e-12):
    assert isinstance(ours, pd.DataFrame)
    np.testing.assert_allclose(ours.index.values, ref.index.values, rtol=1e-12)
    np.testing.assert_allclose(ours.values, ref.values, rtol=rtol, atol=atol)


@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.6])
def test_mean_psd_matches_pynapple(signals, full_range, overlap):
    lazy, mem, ref = signals
    expected = pnap.compute_mean_power_spectral_density(ref, 2.0, overlap=overlap, full_range=full_range)
    for sig in (mem, lazy):
        got = nap.compute_mean_power_spectral_density(sig, 2.0, overlap=overlap, full_range=full_range,
                                                      max_memory="1MB")
        assert_frame(got, expected)


def test_mean_psd_on_epochs_and_tsd(signals):
    lazy, mem, ref = signals
    ep_n = nap.IntervalSet(start=[3.0, 10.0, 20.5], end=[8.2, 18.0, 25.0])
    ep_p = pnap.IntervalSet(start=[3.0, 10.0, 20.5], end=[8.2, 18.0, 25.0])
    expected = pnap.compute_mean_power_spectral_density(ref, 1500, ep=ep_p, time_unit="ms", fs=RATE)
    got = nap.compute_mean_power_spectral_density(lazy, 1500, ep=ep_n, time_unit="ms", fs=RATE, max_memory="250kB")
    assert_frame(got, expected)
    one = nap.Tsd(t=mem.t, d=mem.values[:, 1])
    assert_frame(nap.compute_mean_power_spectral_density(one, 1.0, max_memory="100kB"),
                 pnap.compute_mean_power_spectral_density(pnap.Tsd(t=ref.t, d=ref.values[:, 1]), 1.0))


@pytest.mark.parametrize("executor", ["serial", "threads"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=450_000, max_value=2_000_000), workers=st.integers(1, 3))
def test_mean_psd_chunked_equals_in_memory(signals, executor, budget, workers):
    lazy, mem, _ = signals
    whole = nap.compute_mean_power_spectral_density(mem, 1.0, max_memory="1GB")
    got = nap.compute_mean_power_spectral_density(lazy, 1.0, max_memory=budget, executor=executor,
                                                  n_workers=workers)
    np.testing.assert_allclose(got.values, whole.values, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("full_range", [False, True])
def test_fft_and_psd_match_pynapple(signals, norm, full_range):
    lazy, mem, ref = signals
    ep_n, ep_p = nap.IntervalSet(4.0, 13.3), pnap.IntervalSet(4.0, 13.3)
    exp_fft = pnap.compute_fft(ref, ep=ep_p, norm=norm, full_range=full_range)
    exp_psd = pnap.compute_power_spectral_density(ref, ep=ep_p, full_range=full_range, n=1000)
    for sig in (mem, lazy):
        assert_frame(nap.compute_fft(sig, ep=ep_n, norm=norm, full_range=full_range), exp_fft)
        assert_frame(nap.compute_power_spectral_density(sig, ep=ep_n, full_range=full_range, n=1000), exp_psd)


def test_band_power_matches_pynapple_periodograms(signals):
    lazy, mem, ref = signals
    bands = {"theta": (6.0, 14.0), "beta": (15.0, 30.0)}
    bp = nap.compute_band_power(lazy, bands, interval_size=2.0, overlap=0.5, fs=RATE, max_memory="1MB")
    assert isinstance(bp, nap.TsdTensor) and bp.shape[1:] == (3, 2)
    n = 2 * int(RATE) + 1  # samples of every window (both ends included)
    t = ref.t
    for i in (0, 5, len(bp) - 1):
        a = int(np.searchsorted(t, bp.t[i]))
        psd = pnap.compute_power_spectral_density(ref, fs=RATE, ep=pnap.IntervalSet(t[a], t[a + n - 1]))
        for j, (lo, hi) in enumerate(bands.values()):
            sel = (psd.index >= lo) & (psd.index <= hi)
            np.testing.assert_allclose(bp.values[i, :, j], psd.values[sel].sum(0) * RATE / n, rtol=1e-9)
    tsd_bp = nap.compute_band_power(nap.Tsd(t=mem.t, d=mem.values[:, 0]), bands, interval_size=2.0, overlap=0.5, fs=RATE)
    assert list(tsd_bp.columns) == ["theta", "beta"]
    np.testing.assert_allclose(tsd_bp.values, bp.values[:, 0, :], rtol=1e-9)


def test_spectrum_input_errors(signals):
    lazy, mem, _ = signals
    with pytest.raises(MemoryBudgetError, match="at least"):
        nap.compute_mean_power_spectral_density(lazy, 4.0, max_memory=2000)
    with pytest.raises(InvalidInputError, match=r"Overlap should be in intervals \[0.0, 1.0\)"):
        nap.compute_mean_power_spectral_density(mem, 1.0, overlap=1.0)
    with pytest.raises(InvalidTypeError, match="Parameter overlap must be of type <class 'float'>"):
        nap.compute_mean_power_spectral_density(mem, 1.0, overlap="a")
    with pytest.raises(InvalidTypeError, match="Parameter full_range must be of type <class 'bool'>"):
        nap.compute_power_spectral_density(mem, full_range="a")
    with pytest.raises(RuntimeError, match="One interval doesn't have any signal associated"):
        nap.compute_mean_power_spectral_density(mem, 1.0, ep=nap.IntervalSet([0.0, 1e4], [5.0, 1e4 + 5.0]))
    with pytest.raises(InvalidTypeError, match="sig"):
        nap.compute_mean_power_spectral_density(np.zeros(10), 1.0)
    with pytest.raises(RuntimeError, match="interval_size"):
        nap.compute_mean_power_spectral_density(mem, 1e6)
    with pytest.raises(ValueError, match="length 1"):
        nap.compute_fft(mem, ep=nap.IntervalSet([0, 5], [1, 6]))
    with pytest.raises(MemoryBudgetError, match="epoch"):
        nap.compute_power_spectral_density(lazy, max_memory="10kB")
    with pytest.raises(InvalidInputError, match="executor"):
        nap.compute_mean_power_spectral_density(mem, 1.0, executor="gpu")
    with pytest.raises(InvalidInputError, match="Nyquist"):
        nap.compute_band_power(mem, [(10, 200)], interval_size=1.0)
    with pytest.raises(TypeError, match="fs"):
        nap.compute_fft(mem, fs="250")
    with pytest.raises(ValueError, match="fs"):
        nap.compute_power_spectral_density(mem, fs=-1.0)


# ---------------------------------------------------------------------------------------------
# the same analyses on an NWB LFP read through napstream.NWBFile: local file and loopback HTTP
# (pynapple runs on the array pynwb reads)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nwb_session(tmp_path_factory):
    from napstream.testing.sessions import write_session

    folder = tmp_path_factory.mktemp("sess")
    path = write_session(folder / "s.nwb", duration=40.0, n_units=2, n_channels=4)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        es = io.read().processing["ecephys"]["LFP"]["ElectricalSeriesLFP"]
        values = es.data[:] * es.conversion
        if es.channel_conversion is not None:
            values = values * np.asarray(es.channel_conversion[:])[None, :]
        values = values + es.offset
        t = es.starting_time + np.arange(len(values)) / es.rate
    return folder, path, pnap.TsdFrame(t=t, d=values)


def _sources(folder, path, http_server):
    yield "local", nap.NWBFile(str(path))
    server = http_server(folder)
    yield "http", nap.NWBFile(server.url_for("s.nwb"), cache=False)


@pytest.mark.network
def test_psd_and_filter_on_every_source(nwb_session, http_server):
    folder, path, ref = nwb_session
    exp_psd = pnap.compute_mean_power_spectral_density(ref, 1.0, fs=1250.0)
    exp_filt = pnap.apply_bandpass_filter(ref, (6.0, 12.0), fs=1250.0)
    for name, nwb in _sources(folder, path, http_server):
        lfp = nwb["ElectricalSeriesLFP"]
        assert lfp.is_lazy, name
        for executor in ("serial", "threads"):
            psd = nap.compute_mean_power_spectral_density(lfp, 1.0, fs=1250.0, max_memory="4MB", executor=executor)
            np.testing.assert_allclose(psd.values, exp_psd.values, rtol=1e-9, err_msg=name)
        filt = nap.apply_bandpass_filter(lfp, (6.0, 12.0), fs=1250.0, max_memory="12MB", executor="threads")
        np.testing.assert_allclose(filt.values, exp_filt.values, rtol=1e-7, atol=1e-12, err_msg=name)
        nwb.close()


def _stored_brown_noise(tmp_path, n, chunk_rows, seed, offset):
    """Brown noise (3 channels) stored as gzip int16, read lazily x per-channel conversion + ``offset``;
    returns the lazy TsdFrame and the values it stands for."""
    rng = np.random.default_rng(seed)
    raw = np.clip(np.cumsum(rng.normal(0, 40, (n, 3)), axis=0), -32000, 32000).astype(np.int16)
    path = tmp_path / "brown.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(chunk_rows, 3), compression="gzip", shuffle=True)
    ref = H5DatasetRef(str(path), "lfp")
    scale = np.array([0.5e-3, 0.7e-3, 1.1e-3])
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), scale=scale, offset=offset, ref=ref))
    return lazy, raw * scale + offset


@pytest.mark.parametrize("interval", [2.0, 1.996, 2.1])
@pytest.mark.parametrize("offset", [0.0, -3.5e-3])
def test_mean_psd_fast_and_slow_window_lengths_on_stored_values(tmp_path, interval, offset):
    """Brown-noise LFP (a steep spectrum) stored as int16 x per-channel conversion + offset, read lazily.

    The window lengths cover FFT-friendly and prime-factor-heavy sizes (the zero-padded
    autocorrelation route), and the offset exercises the exact correction of stored values.
    """
    from napstream.process._continuous import WelchSum

    n = 9000
    lazy, values = _stored_brown_noise(tmp_path, n, 700, 7, offset)
    expected = pnap.compute_mean_power_spectral_density(pnap.TsdFrame(t=np.arange(n) / RATE, d=values), interval)
    got = nap.compute_mean_power_spectral_density(lazy, interval, max_memory="1MB")
    n_window = int(round(interval * RATE)) + 1
    slow = {2.0: True, 1.996: False, 2.1: True}[interval]
    assert WelchSum(np.zeros(1), n_window, RATE, (3,)).padded is slow, n_window
    assert_frame(got, expected, rtol=1e-8, atol=0)
    in_memory = nap.compute_mean_power_spectral_density(nap.TsdFrame(t=np.arange(n) / RATE, d=values), interval)
    assert_frame(in_memory, expected, rtol=1e-8, atol=0)


@pytest.mark.parametrize("interval", [2.0, 1.6])  # windows of 501 samples (3 x 167: zero-padded FFTs) / 400
@pytest.mark.parametrize("offset", [0.0, -3.5e-3])
def test_band_power_on_stored_values_matches_pynapple_periodograms(tmp_path, interval, offset):
    """Brown noise stored as int16 x per-channel conversion + offset: band power of each window
    against pynapple's periodogram of that window summed over the band (including f = 0)."""
    from napstream.process._continuous import BandPowerWindows, window_rows

    n = 4000
    lazy, values = _stored_brown_noise(tmp_path, n, 300, 11, offset)
    p_sig = pnap.TsdFrame(t=np.arange(n) / RATE, d=values)
    bands = {"slow": (0.0, 4.0), "mid": (4.0, 40.0), "fast": (80.0, 125.0)}
    bp = nap.compute_band_power(lazy, bands, interval_size=interval, overlap=0.25, fs=RATE, max_memory="400kB")
    n_window = window_rows(lazy, lazy.time_support, interval, 0.25)[1]  # the shortest window (pynapple's rule)
    assert n_window == {2.0: 501, 1.6: 400}[interval]
    assert BandPowerWindows(np.zeros(1), n_window, RATE, np.array([[1.0, 2.0]])).padded is (interval == 2.0)
    t = p_sig.t
    for i in range(len(bp)):
        a = int(round(bp.t[i] * RATE))  # the window's first row
        psd = pnap.compute_power_spectral_density(p_sig, fs=RATE, ep=pnap.IntervalSet(t[a], t[a + n_window - 1]))
        assert len(psd) == (n_window - 1) // 2 + 1  # an even window's Nyquist bin is not in it
        for j, (lo, hi) in enumerate(bands.values()):
            sel = (psd.index >= lo) & (psd.index <= hi)
            np.testing.assert_allclose(bp.values[i, :, j], psd.values[sel].sum(0) * RATE / n_window, rtol=1e-9)
