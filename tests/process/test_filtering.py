"""Filters vs pynapple 0.11.4: exact (away from nothing: margins reach the epoch edges) at chunk seams."""

import h5py
import numpy as np
import pynapple as pnap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.errors import InvalidInputError, MemoryBudgetError

RATE = 1000.0
CASES = [
    ("bandpass", (8.0, 40.0)), ("lowpass", 30.0), ("highpass", 5.0), ("bandstop", (45.0, 55.0)),
]


def make(tmp_path, n=8000, channels=2, seed=1):
    rng = np.random.default_rng(seed)
    slow = np.sin(2 * np.pi * 3 * np.arange(n) / RATE)[:, None] * 3000
    raw = (rng.normal(0, 800, (n, channels)) + slow).astype(np.int16)
    path = tmp_path / f"sig{seed}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=raw, chunks=(700, channels), compression="gzip")
    ref = H5DatasetRef(str(path), "x")
    scale = 1e-3
    t = np.arange(n) / RATE
    ep = ([0.0, 3.5], [3.2, 7.999])
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(ref.open(), scale=scale, ref=ref),
                        time_support=nap.IntervalSet(*ep))
    vals = raw * scale
    return lazy, nap.TsdFrame(t=t, d=vals, time_support=nap.IntervalSet(*ep)), \
        pnap.TsdFrame(t=t, d=vals, time_support=pnap.IntervalSet(*ep))


@pytest.fixture(scope="module")
def sigs(tmp_path_factory):
    return make(tmp_path_factory.mktemp("filt"))


def _fn(kind):
    return f"apply_{kind}_filter"


@pytest.mark.parametrize("kind,cutoff", CASES)
@pytest.mark.parametrize("mode", ["butter", "sinc"])
def test_filters_match_pynapple(sigs, kind, cutoff, mode):
    lazy, mem, ref = sigs
    expected = getattr(pnap, _fn(kind))(ref, cutoff, mode=mode, transition_bandwidth=0.05)
    got_mem = getattr(nap, _fn(kind))(mem, cutoff, mode=mode, transition_bandwidth=0.05, max_memory="700kB")
    assert type(got_mem) is nap.TsdFrame and not got_mem.is_lazy
    np.testing.assert_allclose(got_mem.t, expected.t)
    np.testing.assert_allclose(got_mem.values, expected.values, rtol=1e-7, atol=1e-9)
    got_lazy = getattr(nap, _fn(kind))(lazy, cutoff, mode=mode, transition_bandwidth=0.05, max_memory="800kB")
    assert got_lazy.is_lazy  # written out, not materialised
    np.testing.assert_allclose(got_lazy.values, expected.values, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("mode", ["butter", "sinc"])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(600_000, 1_500_000), executor=st.sampled_from(["serial", "threads"]))
def test_chunked_filter_equals_in_memory(sigs, mode, budget, executor):
    """Budgets small enough that epochs are cut into several chunks (seams inside epochs)."""
    lazy, mem, _ = sigs
    whole = nap.apply_bandpass_filter(mem, (10.0, 60.0), mode=mode, max_memory="1GB")
    got = nap.apply_bandpass_filter(lazy, (10.0, 60.0), mode=mode, max_memory=budget * (3 if executor == "threads" else 1), executor=executor,
                                    n_workers=2)
    np.testing.assert_allclose(got.values, whole.values, rtol=1e-7, atol=1e-9)


def test_tsd_int16_keeps_dtype_like_pynapple():
    rng = np.random.default_rng(3)
    t = np.arange(3000) / RATE
    d = rng.normal(0, 1000, 3000).astype(np.int16)
    exp = pnap.apply_lowpass_filter(pnap.Tsd(t=t, d=d), 50.0)
    got = nap.apply_lowpass_filter(nap.Tsd(t=t, d=d), 50.0, max_memory="100kB")
    assert type(got) is nap.Tsd and got.dtype == exp.dtype
    np.testing.assert_array_equal(got.values, exp.values)


def test_filter_errors(sigs):
    lazy, mem, _ = sigs
    with pytest.raises(InvalidInputError, match="Nyquist"):
        nap.apply_lowpass_filter(mem, 600.0)
    with pytest.raises(InvalidInputError, match="bandpass filter require a tuple of two numbers"):
        nap.apply_bandpass_filter(mem, 10.0)
    with pytest.raises(InvalidInputError, match="mode"):
        nap.apply_highpass_filter(mem, 10.0, mode="fir")
    with pytest.raises(InvalidInputError, match="executor"):
        nap.apply_highpass_filter(mem, 10.0, executor="cluster")
    with pytest.raises(MemoryBudgetError, match="at least"):
        nap.apply_highpass_filter(lazy, 1.0, max_memory="50kB")
    with pytest.raises(TypeError, match="data"):
        nap.apply_highpass_filter(np.zeros(5), 1.0)
    with pytest.raises(ValueError, match="First argument should be of type Tsd, TsdFrame or TsdTensor"):
        nap.apply_highpass_filter("x", 1.0)  # pynapple raises a ValueError
    with pytest.raises(ValueError, match="Invalid value for 'order'"):
        nap.apply_highpass_filter(mem, 1.0, order=2.0)
    with pytest.raises(ValueError, match="Invalid value for 'fs'"):
        nap.apply_highpass_filter(mem, 1.0, fs="1000")
    nan = nap.Tsd(t=np.arange(100) / RATE, d=np.r_[np.zeros(50), np.nan, np.zeros(49)])
    with pytest.raises(ValueError, match="NaN"):
        nap.apply_lowpass_filter(nan, 50.0)


@pytest.mark.parametrize("kind,cutoff", [("lowpass", 40.0), ("highpass", 12.5), ("bandpass", (5.0, 30.0)),
                                         ("bandstop", (50.0, 70.0))])
def test_private_kernel_helpers_equal_pynapple(kind, cutoff):
    from pynapple.process import filtering as pf

    from napstream.process import filtering as nf

    fc = np.asarray(cutoff, dtype=float)
    np.testing.assert_allclose(nf._get_windowed_sinc_kernel(fc, kind, RATE, 0.05),
                               pf._get_windowed_sinc_kernel(fc, kind, RATE, 0.05), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nf._get_butter_coefficients(cutoff, kind, RATE, 3),
                               pf._get_butter_coefficients(cutoff, kind, RATE, 3))
    k = np.hanning(11)
    np.testing.assert_allclose(nf._compute_spectral_inversion(k.copy()), pf._compute_spectral_inversion(k.copy()))
    with pytest.raises(ValueError):
        nf._get_windowed_sinc_kernel(1.0, "notch", 4.0)


@pytest.mark.parametrize("kind,cutoff", CASES)
@pytest.mark.parametrize("mode", ["butter", "sinc"])
def test_frequency_response_matches_pynapple(kind, cutoff, mode):
    from napstream.process.filtering import get_filter_frequency_response

    exp = pnap.get_filter_frequency_response(cutoff, RATE, kind, mode, 4, 0.05)
    got = get_filter_frequency_response(cutoff, RATE, kind, mode, 4, 0.05)
    np.testing.assert_allclose(got.index.values, exp.index.values)
    np.testing.assert_allclose(got.values, exp.values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["butter", "sinc"])
def test_tsdtensor_filter_matches_pynapple(mode):
    rng = np.random.default_rng(4)
    t = np.arange(4000) / RATE
    d = rng.normal(0, 1, (4000, 2, 3))
    exp = pnap.apply_highpass_filter(pnap.TsdTensor(t=t, d=d), 20.0, mode=mode)
    got = nap.apply_highpass_filter(nap.TsdTensor(t=t, d=d), 20.0, mode=mode, max_memory="2MB")
    assert type(got) is nap.TsdTensor
    np.testing.assert_allclose(got.values, exp.values, rtol=1e-7, atol=1e-10)
