"""Lazy pipelines: filters of lazy signals are computed when read, fused with what reads them."""

import pickle

import numpy as np
import pynapple as pnap
import pytest

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core import chunked
from napstream.process._filtered import DiskSpaceError, FilteredArray

RATE = 1000.0


class Counting:
    """A numpy array read like a stored dataset, counting the rows of every read."""

    def __init__(self, array, chunk_rows=250):
        self.array, self.chunks = array, (chunk_rows,) + array.shape[1:]
        self.shape, self.dtype = array.shape, array.dtype
        self.reads = []

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        self.reads.append((rows.start, rows.stop))
        return self.array[key]


@pytest.fixture
def no_files(monkeypatch):
    """Fail if anything tries to write a result file."""
    def refuse(*args, **kwargs):
        raise AssertionError("a lazy pipeline wrote its intermediate to a file")

    monkeypatch.setattr(chunked.H5Sink, "__init__", refuse)


def _pair(n=12_000, channels=3, epochs=((0.0, 5.0), (6.0, 11.999)), seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-3000, 3000, size=(n, channels)).astype(np.int16)
    scale = np.linspace(0.5, 1.5, channels)
    t = np.arange(n) / RATE
    ep = nap.IntervalSet([e[0] for e in epochs], [e[1] for e in epochs])
    base = Counting(raw)
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, n), d=LazyArray(base, scale=scale, offset=0.25),
                        time_support=ep)
    ref = pnap.TsdFrame(t=t, d=raw * scale + 0.25, time_support=pnap.IntervalSet(ep.start, ep.end))
    return lazy, ref, base


def test_filtered_rms_reads_each_chunk_once_and_writes_nothing(no_files):
    lazy, ref, base = _pair()
    hp = nap.apply_highpass_filter(lazy, 40.0)
    assert isinstance(hp.lazy_data.base, FilteredArray) and base.reads == []  # nothing read yet
    margin = hp.lazy_data.base.read_margin
    squares, count, pieces = 0.0, 0, 0
    for piece in hp.iter_chunks(max_memory="1MB"):
        squares = squares + (piece.values ** 2).sum(0)
        count += len(piece)
        pieces += 1
    assert pieces > 4
    assert len(base.reads) == pieces  # one read of the source per piece, margins included
    rows_read = sum(b - a for a, b in base.reads)
    assert rows_read <= len(lazy.restrict(lazy.time_support)) + pieces * 2 * margin
    expected = pnap.apply_highpass_filter(ref, 40.0).restrict(ref.time_support).values
    np.testing.assert_allclose(np.sqrt(squares / count), np.sqrt((expected ** 2).mean(0)), rtol=1e-9)


def test_filtered_values_and_apply_equal_pynapple():
    lazy, ref, base = _pair(seed=1)
    for mode, kw in (("butter", {}), ("sinc", {"transition_bandwidth": 0.05})):
        got = nap.apply_bandpass_filter(lazy, (30.0, 120.0), mode=mode, **kw)
        exp = pnap.apply_bandpass_filter(ref, (30.0, 120.0), mode=mode, **kw)
        assert got.is_lazy and type(got) is nap.TsdFrame
        np.testing.assert_allclose(got.values, exp.values, rtol=1e-7, atol=1e-9 * np.abs(exp.values).max())
    rectified = nap.apply_lowpass_filter(lazy, 50.0).apply(lambda x: np.abs(x.values), window=700)
    exp = np.abs(pnap.apply_lowpass_filter(ref, 50.0).values)
    np.testing.assert_allclose(np.asarray(rectified.values), exp, rtol=1e-7, atol=1e-9 * exp.max())


def test_psd_and_threshold_of_a_lazy_filter_equal_pynapple(no_files):
    lazy, ref, base = _pair(n=20_000, channels=2, epochs=((0.0, 19.999),), seed=2)
    bp = nap.apply_bandpass_filter(lazy, (20.0, 200.0))
    got = nap.compute_mean_power_spectral_density(bp, 0.5, max_memory="2MB", executor="serial")
    pbp = pnap.apply_bandpass_filter(ref, (20.0, 200.0))
    exp = pnap.compute_mean_power_spectral_density(pbp, 0.5)
    np.testing.assert_allclose(got.values, exp.values, rtol=1e-7, atol=1e-12 * exp.values.max())
    one = nap.Tsd(t=RegularTimeIndex(0.0, RATE, 20_000), d=LazyArray(Counting(ref.values[:, 0].copy())))
    got_thr = nap.apply_lowpass_filter(one, 30.0).threshold(50.0)
    exp_thr = pnap.apply_lowpass_filter(pnap.Tsd(t=ref.t, d=ref.values[:, 0]), 30.0).threshold(50.0)
    np.testing.assert_allclose(got_thr.t, exp_thr.t)
    np.testing.assert_allclose(got_thr.values, exp_thr.values, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got_thr.time_support.values, exp_thr.time_support.values)


def test_write_series_float32_and_disk_check(tmp_path, monkeypatch):
    lazy, ref, base = _pair(seed=3)
    hp = nap.apply_highpass_filter(lazy, 40.0)
    exp = pnap.apply_highpass_filter(ref, 40.0).values
    saved = nap.write_series(hp, tmp_path / "hp.h5", dtype="float32", max_memory="1MB")
    assert saved.is_lazy and saved.dtype == np.float32 and (tmp_path / "hp.h5").exists()
    assert (tmp_path / "hp.h5").stat().st_size < exp.size * 4 * 1.1
    np.testing.assert_allclose(saved.values, exp, rtol=1e-5, atol=1e-5 * np.abs(exp).max())
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DiskSpaceError, match=r"needs 128\.9 KiB.*1000 B free"):
        nap.write_series(hp, tmp_path / "big.h5", dtype="float32")
    assert not (tmp_path / "big.h5").exists()


def test_lazy_filter_pickles_and_checks_the_budget_at_call_time():
    raw = np.random.default_rng(4).normal(size=(3000, 2))
    sig = nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, 3000), d=LazyArray(raw))
    lp = nap.apply_lowpass_filter(sig, 40.0)
    again = pickle.loads(pickle.dumps(lp.lazy_data))
    np.testing.assert_array_equal(again.read(100, 900), lp.lazy_data.read(100, 900))
    with pytest.raises(nap.NapstreamError, match="at least"):
        nap.apply_highpass_filter(sig, 1.0, max_memory="20kB")
    with pytest.raises(ValueError, match="executor"):
        nap.apply_highpass_filter(sig, 10.0, executor="cluster")
