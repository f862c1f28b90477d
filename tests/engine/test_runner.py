"""run(): reductions vs pynapple, executors interchangeable, errors, progress, Ctrl-C, iter_chunks/apply."""

import sys
import threading

import h5py
import numpy as np
import pynapple as pnap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.engine.progress import resolve_progress
from napstream.engine.protocol import ChunkAlgorithmBase
from napstream.engine.reductions import BinAverage, EpochStats
from napstream.engine.runner import run
from napstream.errors import InvalidInputError, InvalidTypeError, MissingDependencyError

RATE = 200.0
N = 9000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(11)
    raw = rng.integers(-2000, 2000, (N, 3)).astype(np.int16)
    path = tmp_path_factory.mktemp("run") / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=raw, chunks=(333, 3), compression="gzip")
    ref = H5DatasetRef(str(path), "x")
    t = np.arange(N) / RATE + 1.0
    lazy = nap.TsdFrame(t=RegularTimeIndex(1.0, RATE, N), d=LazyArray(ref.open(), scale=0.25, ref=ref))
    vals = raw * 0.25
    return lazy, nap.TsdFrame(t=t, d=vals), pnap.TsdFrame(t=t, d=vals)


EP = ([2.0, 15.3, 30.0], [12.7, 29.0, 45.999])


def test_epoch_stats_match_pynapple(data):
    lazy, mem, ref = data
    mean, std, count = run(EpochStats(3), lazy, ep=nap.IntervalSet(*EP), max_memory="20kB")
    for k, (s, e) in enumerate(zip(*EP)):
        v = ref.restrict(pnap.IntervalSet(s, e)).values
        np.testing.assert_allclose(mean[k], v.mean(0), rtol=1e-12)
        np.testing.assert_allclose(std[k], v.std(0), rtol=1e-10)
        assert count[k] == len(v)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(2_000, 200_000), bin_size=st.sampled_from([0.05, 0.3, 1.7]),
       executor=st.sampled_from(["serial", "threads"]))
def test_bin_average_matches_pynapple_for_any_chunking(data, budget, bin_size, executor):
    lazy, _, ref = data
    ep_p = pnap.IntervalSet(*EP)
    exp = ref.bin_average(bin_size, ep=ep_p)
    centers, avg = run(BinAverage(np.array(EP[0]), np.array(EP[1]), bin_size), lazy, ep=nap.IntervalSet(*EP),
                       max_memory=budget * 4, executor=executor, n_workers=3)
    np.testing.assert_allclose(centers, exp.t, rtol=1e-12)
    np.testing.assert_allclose(avg, exp.values, rtol=1e-10, equal_nan=True)


class Collect(ChunkAlgorithmBase):
    """Partials are the core rows; merge concatenates (order-sensitive: checks ordered merging)."""

    margin = (3, 5)

    def init(self):
        return np.zeros((0, 3))

    def update(self, state, chunk):
        return np.concatenate([state, chunk.d[chunk.core_slice]])

    def merge(self, states):
        return np.concatenate(states)


@pytest.mark.parametrize("executor,workers", [("serial", 1), ("threads", 1), ("threads", 4)])
def test_executors_give_identical_results(data, executor, workers):
    lazy, mem, ref = data
    got = run(Collect(), lazy, max_memory="9kB", executor=executor, n_workers=workers, progress=False)
    np.testing.assert_array_equal(got, ref.values)
    with nap.config.override(executor=executor, n_workers=workers):
        np.testing.assert_array_equal(run(Collect(), mem, max_memory="9kB"), ref.values)


def test_bad_engine_arguments(data, monkeypatch):
    lazy, mem, _ = data
    with pytest.raises(InvalidInputError, match="executor must be one of"):
        run(Collect(), mem, executor="processes")
    with pytest.raises(InvalidInputError, match="n_workers"):
        run(Collect(), mem, executor="threads", n_workers=0)
    with pytest.raises(InvalidTypeError, match="ChunkAlgorithm"):
        run(object(), mem)
    with pytest.raises(ValueError, match="max_memory"):
        run(Collect(), mem, max_memory="lots")
    monkeypatch.setitem(sys.modules, "distributed", None)  # simulate dask not installed
    with pytest.raises(MissingDependencyError, match=r"napstream\[dask\]"):
        run(Collect(), mem, executor="dask")
    with pytest.raises(ImportError):
        nap.compute_mean_power_spectral_density(mem, 1.0, executor="dask")


def test_progress_resolution(monkeypatch):
    assert resolve_progress(True) and not resolve_progress(False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not resolve_progress(None)
    with nap.config.override(progress=True):
        assert resolve_progress(None)
    with pytest.raises(InvalidInputError, match="progress"):
        resolve_progress("yes")


class Interrupt(ChunkAlgorithmBase):
    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()

    def init(self):
        return 0

    def update(self, state, chunk):
        with self.lock:
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
        return state

    def merge(self, states):
        return 0


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_ctrl_c_stops_and_cancels_pending_work(data, executor):
    lazy, _, _ = data
    algo = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        run(algo, lazy, max_memory="2kB", executor=executor, n_workers=2, progress=True)
    assert algo.calls < 10  # of ~400 chunks: pending ones were cancelled


def test_iter_chunks_and_apply_vs_pynapple(data, tmp_path):
    lazy, mem, ref = data
    pieces = list(lazy.iter_chunks(max_memory="8kB", overlap=4))
    assert len(pieces) > 5 and all(not p.is_lazy and type(p) is nap.TsdFrame for p in pieces)
    np.testing.assert_array_equal(pieces[1].t[:4], pieces[0].t[-8:-4])  # 4 rows shared each side
    ep = nap.IntervalSet(*EP)
    first = [p.t[0] for p in lazy.iter_chunks(max_memory="8kB", ep=ep)]
    assert set(ref.restrict(pnap.IntervalSet(*EP)).t) >= set(first)
    exp = np.diff(ref.values, axis=0, prepend=ref.values[:1])
    func = lambda piece: np.diff(piece.values, axis=0, prepend=piece.values[:1])  # needs 1 row of context
    got_mem = mem.apply(func, window=500, overlap=1)
    assert not got_mem.is_lazy
    np.testing.assert_allclose(got_mem.values[1:], exp[1:])
    got = lazy.apply(func, overlap=1, max_memory="8kB", out=tmp_path / "diff.h5")
    assert got.is_lazy and (tmp_path / "diff.h5").exists()
    np.testing.assert_allclose(got.values[1:], exp[1:])
    np.testing.assert_allclose(got.t, ref.t)
    with pytest.raises(InvalidInputError, match="rows"):
        mem.apply(lambda p: p.values[:3])
    with pytest.raises(InvalidInputError, match="overlap"):
        next(mem.iter_chunks(overlap=-1))


@pytest.mark.parametrize("method", ["above", "below", "aboveequal", "belowequal"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(60, 4000))
def test_threshold_matches_pynapple_for_any_chunking(tmp_path, method, budget):
    from napstream.engine.reductions import ThresholdCrossings

    rng = np.random.default_rng(2)
    t = np.arange(3000) / 100.0
    d = np.round(np.sin(t * 1.3) + rng.normal(0, 0.3, len(t)), 1)
    sup = ([0.0, 9.0, 20.0], [8.5, 19.0, 29.99])
    ref = pnap.Tsd(t=t, d=d, time_support=pnap.IntervalSet(*sup)).threshold(0.2, method)
    ours = nap.Tsd(t=RegularTimeIndex(0.0, 100.0, 3000), d=LazyArray(d), time_support=nap.IntervalSet(*sup))
    tt, dd, s, e = ours._chunked_threshold(0.2, method, max_memory=budget * 40)
    np.testing.assert_array_equal(tt, ref.t)
    np.testing.assert_array_equal(dd, ref.values)
    np.testing.assert_allclose(s, ref.time_support.start, rtol=1e-12)
    np.testing.assert_allclose(e, ref.time_support.end, rtol=1e-12)
    t2, d2, s2, e2 = run(ThresholdCrossings(0.2, method), ours, max_memory=budget * 40, executor="threads")
    np.testing.assert_array_equal(s2, s)
    np.testing.assert_array_equal(e2, e)


def test_mixin_reductions_match_pynapple(data):
    lazy, _, ref = data
    ep = nap.IntervalSet(*EP)
    c, avg = lazy._chunked_bin_average(0.25, ep, max_memory="10kB")
    exp = ref.bin_average(0.25, ep=pnap.IntervalSet(*EP))
    np.testing.assert_allclose(c, exp.t)
    np.testing.assert_allclose(avg, exp.values, rtol=1e-10)
    mean, std, count = lazy._chunked_epoch_stats(ep, max_memory="10kB")
    v = ref.restrict(pnap.IntervalSet(EP[0][1], EP[1][1])).values
    np.testing.assert_allclose(mean[1], v.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std[1], v.std(0), rtol=1e-10)


def test_progress_bar_shows_when_forced(data, capsys, monkeypatch):
    import napstream.engine.progress as progress

    lazy, _, _ = data
    monkeypatch.setattr(progress, "DELAY", 0.0)
    run(EpochStats(1), lazy, max_memory="20kB", progress=True)
    err = capsys.readouterr().err
    assert "EpochStats, 9,000 rows" in err and "B/s" in err  # labelled with the job, sized in bytes
    run(EpochStats(1), lazy, max_memory="20kB", progress=False)
    assert capsys.readouterr().err == ""


def test_temporary_results_are_deleted_with_their_last_user(data):
    import gc
    import os

    lazy, _, _ = data
    out = lazy.apply(lambda p: p.values * 2, max_memory="30kB")
    path = out.lazy_data.base.file.filename
    view = out.restrict(nap.IntervalSet(5.0, 6.0))
    del out
    gc.collect()
    assert os.path.exists(path)
    np.testing.assert_allclose(view.values, lazy.restrict(nap.IntervalSet(5.0, 6.0)).values * 2)
    del view
    gc.collect()
    assert not os.path.exists(path)


def test_auto_executor_follows_the_algorithm(data):
    """'auto' (the default) runs GIL-releasing continuous kernels on threads, everything else serially."""
    from napstream.engine.executors import resolve_executor
    from napstream.process._continuous import WelchSum

    assert nap.config.executor == "auto"
    welch = WelchSum(np.zeros(1, dtype=np.int64), 64, 100.0, (2,))
    assert resolve_executor(None, None, welch)[0] == "threads"
    assert resolve_executor("auto", 3, EpochStats(n_epochs=1)) == ("serial", 3)
    assert resolve_executor("serial", None, welch)[0] == "serial"
    seen = set()

    class Probe(ChunkAlgorithmBase):
        preferred_executor = "threads"

        def init(self):
            return 0

        def update(self, state, chunk):
            seen.add(threading.current_thread().name)
            return state + len(chunk.d)

        def merge(self, states):
            return sum(states)

    lazy = data[0]
    assert run(Probe(), lazy, max_memory="64kB", n_workers=2) == len(lazy)
    assert any(name.startswith("napstream") for name in seen)
