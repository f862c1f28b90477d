"""Mean PSD of many channels: ``WelchSum.update`` transforms them in blocks (``update_block``) and a
last, shorter block; every block size gives pynapple's result."""

import h5py
import numpy as np
import pynapple as pnap
import pytest

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.process._continuous import WelchSum

RATE = 250.0

# every test runs on both FFT backends (NumPy; pyFFTW when installed): see conftest.fft_backend
pytestmark = pytest.mark.usefixtures("fft_backend")


@pytest.fixture
def lfp(tmp_path):
    n, channels = 5000, 21  # 21 = 16 + 5, 4 x 5 + 1, 5 x 4 + 1
    rng = np.random.default_rng(3)
    raw = np.cumsum(rng.normal(0, 40, (n, channels)), axis=0).astype(np.int16)
    path = tmp_path / "lfp.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(400, channels), compression="gzip", shuffle=True)
    ref = H5DatasetRef(str(path), "lfp")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), scale=1e-3, ref=ref))
    return lazy, pnap.TsdFrame(t=np.arange(n) / RATE, d=raw * 1e-3)


@pytest.mark.parametrize("interval", [2.0, 1.6])  # 501 samples (zero-padded FFTs) / 401
def test_every_channel_block_size_gives_pynapples_psd(lfp, interval, monkeypatch):
    lazy, ref = lfp
    expected = pnap.compute_mean_power_spectral_density(ref, interval)
    got = {}
    for block in (4, 5, 16):
        monkeypatch.setattr(WelchSum, "update_block", block)
        monkeypatch.setattr(WelchSum, "fft_bytes", 2**40)  # the block is update_block (at least 4)
        got[block] = nap.compute_mean_power_spectral_density(lazy, interval, max_memory="4MB", executor="serial")
        np.testing.assert_allclose(got[block].values, expected.values, rtol=1e-9, atol=0)
    np.testing.assert_allclose(got[16].values, got[4].values, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got[5].values, got[4].values, rtol=1e-12, atol=0)


def test_block_follows_window_length():
    """At most ``fft_bytes`` of FFT buffers per update, at least 4 channels, never more than there are."""
    assert WelchSum(np.zeros(1), 5000, RATE, (64,)).block == 16
    assert WelchSum(np.zeros(1), 5000, RATE, (3,)).block == 3
    assert WelchSum(np.zeros(1), 12000, RATE, (64,)).block == 8  # 240 kB of buffers a channel
    assert WelchSum(np.zeros(1), 20000, RATE, (64,)).block == 5  # 400 kB
    assert WelchSum(np.zeros(1), 80000, RATE, (64,)).block == 4


@pytest.mark.parametrize("shape, dtype", [((3000, 40), np.int16), ((700, 3), np.float64), ((1000, 1), np.int16),
                                          ((600, 33), np.float32)])
def test_channel_rows_transposes_in_blocks(shape, dtype, monkeypatch):
    """The cache-blocked transpose (and its reused buffer) equals numpy's, for every block size."""
    from napstream.process import _window_buffers as C

    d = np.random.default_rng(0).normal(0, 1000, shape).astype(dtype)
    for block_bytes in (1, 4096, C.TRANSPOSE_BLOCK_BYTES):
        monkeypatch.setattr(C, "TRANSPOSE_BLOCK_BYTES", block_bytes)
        for lo, hi in ((0, shape[0]), (17, shape[0] - 5), (5, 5)):
            np.testing.assert_array_equal(C.channel_rows(d, lo, hi), d[lo:hi].T)
            buffer = np.full(shape[0] * shape[1] + 7, 99, dtype=dtype)
            np.testing.assert_array_equal(C.channel_rows(d, lo, hi, buffer), d[lo:hi].T)


@pytest.mark.parametrize("executor, workers", [("serial", 1), ("threads", 2)])
def test_reused_buffers_across_chunks_of_every_size_give_pynapples_psd(tmp_path, executor, workers, monkeypatch):
    """Each update reuses the FFT and transpose buffers of an earlier one (grown for a longer chunk,
    shared by threads one at a time): chunks of different lengths, a last partial chunk, several
    epochs, an odd channel count and small transpose blocks still give pynapple's PSD."""
    from napstream.process import _window_buffers

    monkeypatch.setattr(_window_buffers, "TRANSPOSE_BLOCK_BYTES", 1)  # 256-row blocks: several per chunk
    n, channels = 9000, 37
    rng = np.random.default_rng(5)
    raw = np.cumsum(rng.normal(0, 30, (n, channels)), axis=0).astype(np.int16)
    path = tmp_path / "wide.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(300, channels), compression="gzip")
    ref = H5DatasetRef(str(path), "lfp")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), scale=2e-3, offset=-3.5e-3, ref=ref))
    mem = pnap.TsdFrame(t=np.arange(n) / RATE, d=raw * 2e-3 - 3.5e-3)
    ep = pnap.IntervalSet([0.0, 13.0], [11.5, 35.9])
    for interval in (2.0, 1.6):  # zero-padded FFTs (501 samples) and plain ones (401)
        expected = pnap.compute_mean_power_spectral_density(mem, interval, ep=ep)
        got = nap.compute_mean_power_spectral_density(lazy, interval, ep=nap.IntervalSet([0.0, 13.0], [11.5, 35.9]),
                                                      max_memory="3MB", executor=executor, n_workers=workers)
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-8, atol=0)
        np.testing.assert_allclose(got.index, expected.index, rtol=0, atol=0)


@pytest.mark.parametrize("executor, workers", [("serial", 1), ("threads", 2)])
def test_band_power_blocks_and_reused_buffers_match_pynapple_periodograms(tmp_path, executor, workers, monkeypatch):
    """Band power transforms up to 16 channels per call with buffers reused across updates: 37
    channels (16 + 16 + 5), chunks of several lengths, two epochs, zero-padded (501) and plain
    (400) windows, each window against pynapple's periodogram summed over the band."""
    from napstream.process import _continuous as C
    from napstream.process import _window_buffers

    monkeypatch.setattr(_window_buffers, "TRANSPOSE_BLOCK_BYTES", 1)
    n, channels = 5000, 37
    rng = np.random.default_rng(9)
    raw = np.cumsum(rng.normal(0, 30, (n, channels)), axis=0).astype(np.int16)
    path = tmp_path / "bp.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(300, channels), compression="gzip")
    ref = H5DatasetRef(str(path), "lfp")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), scale=2e-3, ref=ref))
    p_sig = pnap.TsdFrame(t=np.arange(n) / RATE, d=raw * 2e-3)
    bands = {"slow": (0.0, 4.0), "mid": (4.0, 40.0), "fast": (80.0, 125.0)}
    ep = nap.IntervalSet([0.0, 9.0], [8.3, 19.9])
    for interval, n_window in ((2.0, 501), (1.6, 400)):
        assert C.BandPowerWindows(np.zeros(1), n_window, RATE, np.array([[1.0, 2.0]]), (channels,)).block == 16
        bp = nap.compute_band_power(lazy, bands, interval_size=interval, overlap=0.25, fs=RATE, ep=ep,
                                    max_memory="2MB", executor=executor, n_workers=workers)
        assert bp.shape[1:] == (channels, 3) and len(bp) > 10
        t = p_sig.t
        for i in range(len(bp)):
            a = int(round(bp.t[i] * RATE))  # the window's first row
            psd = pnap.compute_power_spectral_density(p_sig, fs=RATE, ep=pnap.IntervalSet(t[a], t[a + n_window - 1]))
            for j, (lo, hi) in enumerate(bands.values()):
                sel = (psd.index >= lo) & (psd.index <= hi)
                np.testing.assert_allclose(bp.values[i, :, j], psd.values[sel].sum(0) * RATE / n_window, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32, np.float32])
def test_summed_windows_are_exact(dtype):
    """The windows' sum (for an offset's correction) equals float64 sums of the windows, bit for bit."""
    from napstream.process._continuous import _sum_windows

    d = np.random.default_rng(1).integers(0 if dtype == np.uint8 else -30000, 250 if dtype == np.uint8 else 30000,
                                          (3000, 5)).astype(dtype)
    starts = np.array([0, 7, 700, 1999])
    got = np.full((1000, 5), 0.25)
    _sum_windows(got, d, starts, 1000)
    expected = 0.25 + sum(d[r:r + 1000].astype(np.float64) for r in starts)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("offset", [0.0, 0.4])
def test_float32_stored_values_give_pynapples_psd(tmp_path, offset):
    raw = np.random.default_rng(5).normal(0, 3, (4000, 6)).astype(np.float32)
    path = tmp_path / "f32.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(300, 6), compression="gzip")
    ref = H5DatasetRef(str(path), "lfp")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, len(raw)), d=LazyArray(ref.open(), scale=2.0, offset=offset,
                                                                             ref=ref))
    expected = pnap.compute_mean_power_spectral_density(
        pnap.TsdFrame(t=np.arange(len(raw)) / RATE, d=raw.astype(np.float64) * 2.0 + offset), 2.0)
    got = nap.compute_mean_power_spectral_density(lazy, 2.0, max_memory="2MB")
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=1e-12 * expected.values.max())
