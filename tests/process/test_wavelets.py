"""Morlet wavelets vs pynapple 0.11.4 (filter bank and transform), chunked and lazy."""

import h5py
import numpy as np
import pynapple as pnap
import pytest

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.errors import InvalidInputError, InvalidTypeError, MemoryBudgetError

RATE = 500.0


@pytest.fixture(scope="module")
def sigs(tmp_path_factory):
    rng = np.random.default_rng(7)
    n = 3000
    t = np.arange(n) / RATE
    d = np.stack([np.sin(2 * np.pi * 12 * t), np.cos(2 * np.pi * 40 * t)], 1) + rng.normal(0, 0.3, (n, 2))
    path = tmp_path_factory.mktemp("wav") / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=d, chunks=(256, 2))
    ref = H5DatasetRef(str(path), "x")
    ep = ([0.0, 3.0], [2.5, 5.998])
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), ref=ref),
                        time_support=nap.IntervalSet(*ep))
    return lazy, nap.TsdFrame(t=t, d=d, time_support=nap.IntervalSet(*ep)), \
        pnap.TsdFrame(t=t, d=d, time_support=pnap.IntervalSet(*ep))


@pytest.mark.parametrize("kw", [{}, {"gaussian_width": 2.5, "window_length": 1.5, "precision": 12}])
def test_filterbank_matches_pynapple(kw):
    freqs = np.array([4.0, 11.0, 60.0])
    exp = pnap.generate_morlet_filterbank(freqs, 1000, **kw)
    got = nap.generate_morlet_filterbank(freqs, 1000, **kw)
    np.testing.assert_allclose(got.t, exp.t, rtol=1e-12)
    np.testing.assert_allclose(got.values, exp.values, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("norm", ["l1", "l2", None])
def test_wavelet_transform_matches_pynapple(sigs, norm):
    lazy, mem, ref = sigs
    freqs = np.array([8.0, 12.0, 40.0])
    exp = pnap.compute_wavelet_transform(ref, freqs, fs=RATE, norm=norm)
    for sig, budget in ((mem, "1100kB"), (lazy, "1200kB")):  # several chunks per epoch
        got = nap.compute_wavelet_transform(sig, freqs, fs=RATE, norm=norm, max_memory=budget)
        assert type(got).__name__ == "TsdTensor" and got.shape == exp.shape
        scale = np.abs(exp.values).max()
        np.testing.assert_allclose(got.values, exp.values, rtol=0, atol=1e-10 * scale)
    one = nap.compute_wavelet_transform(nap.Tsd(t=mem.t, d=mem.values[:, 0], time_support=mem.time_support),
                                        freqs, fs=RATE, norm=norm, max_memory="700kB")
    exp1 = pnap.compute_wavelet_transform(pnap.Tsd(t=ref.t, d=ref.values[:, 0], time_support=ref.time_support),
                                          freqs, fs=RATE, norm=norm)
    assert type(one).__name__ == "TsdFrame"
    np.testing.assert_allclose(np.asarray(one.columns, float), freqs)
    np.testing.assert_allclose(one.values, exp1.values, rtol=0, atol=1e-10 * np.abs(exp1.values).max())


def test_wavelet_errors(sigs):
    lazy, mem, _ = sigs
    with pytest.raises(InvalidTypeError, match="freqs"):
        nap.compute_wavelet_transform(mem, [1.0, 2.0], fs=RATE)
    with pytest.raises(InvalidInputError, match="positive"):
        nap.compute_wavelet_transform(mem, np.array([0.0, 2.0]), fs=RATE)
    with pytest.raises(InvalidInputError, match="norm"):
        nap.compute_wavelet_transform(mem, np.array([2.0]), fs=RATE, norm="l3")
    with pytest.raises(MemoryBudgetError):
        nap.compute_wavelet_transform(mem, np.linspace(5, 50, 40), fs=RATE, max_memory="1MB")
    with pytest.raises(TypeError, match="sig"):
        nap.compute_wavelet_transform(np.zeros(10), np.array([2.0]), fs=RATE)
