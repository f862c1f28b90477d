"""Chunks in two dimensions: when one time chunk of all channels does not fit the budget, the
planner splits the channels too, and every continuous analysis gives the unsplit result."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napstream as nap
import napstream.engine.readahead as readahead_module
import napstream.engine.readahead as runner  # the runner plans through readahead.plan
from napstream.core import LazyArray, RegularTimeIndex
from napstream.engine.planner import plan
from napstream.errors import MemoryBudgetError
from napstream.process._continuous import WelchSum

RATE = 1000.0


class Chunked:
    """A numpy array that says it is stored in chunks (like an h5py dataset), counting its reads."""

    def __init__(self, array, chunks):
        self.array, self.chunks = array, chunks
        self.shape, self.dtype = array.shape, array.dtype
        self.reads = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.array[key]


@pytest.fixture
def groups_seen(monkeypatch):
    """The column groups of every job the runner plans."""
    seen = []
    real = runner.plan

    def spy(*args, **kwargs):
        job = real(*args, **kwargs)
        seen.append(job.groups)
        return job

    monkeypatch.setattr(runner, "plan", spy)
    return seen


def _signal(n_rows, n_cols, seed, lazy=True, col_chunk=4):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-2000, 2000, size=(n_rows, n_cols)).astype(np.int16)
    t = RegularTimeIndex(0.0, RATE, n_rows)
    if not lazy:
        return nap.TsdFrame(t=t, d=raw * 0.5 + 1.0), raw
    base = Chunked(raw, (100, col_chunk))
    return nap.TsdFrame(t=t, d=LazyArray(base, scale=np.linspace(0.5, 2.0, n_cols), offset=1.0)), raw


ANALYSES = {
    "mean_psd": lambda s, **k: nap.compute_mean_power_spectral_density(s, 0.25, overlap=0.5, **k),
    "band_power": lambda s, **k: nap.compute_band_power(s, {"a": (5.0, 40.0), "b": (40.0, 200.0)}, 0.2, **k),
    # filters of in-memory data run now (lazy data give lazy results, computed when read)
    "bandpass_butter": lambda s, **k: nap.apply_bandpass_filter(s.load(), (20.0, 150.0), **k),
    "highpass_butter": lambda s, **k: nap.apply_highpass_filter(s.load(), 30.0, **k),
    "lowpass_sinc": lambda s, **k: nap.apply_lowpass_filter(s.load(), 80.0, mode="sinc", transition_bandwidth=0.1,
                                                            **k),
    "bandstop_sinc": lambda s, **k: nap.apply_bandstop_filter(s.load(), (50.0, 90.0), mode="sinc",
                                                              transition_bandwidth=0.1, **k),
    "wavelet": lambda s, **k: nap.compute_wavelet_transform(s.load(), freqs=np.array([40.0, 90.0]), precision=8, **k),
    # fused: a lazy filter read by a chunked consumer
    "write_filtered": lambda s, **k: nap.write_series(nap.apply_highpass_filter(s, 30.0), **k),
    "psd_of_filtered": lambda s, **k: nap.compute_mean_power_spectral_density(
        nap.apply_bandpass_filter(s, (20.0, 150.0)), 0.25, **k),
}


def _values(result):
    return np.asarray(result.values if hasattr(result, "values") else result)


@pytest.mark.parametrize("name", sorted(ANALYSES))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_rows=st.integers(1200, 2600), n_cols=st.integers(3, 11), seed=st.integers(0, 1000),
       executor=st.sampled_from(["serial", "auto"]), fraction=st.sampled_from([0.45, 0.6, 0.8]),
       col_chunk=st.sampled_from([1, 3, 4]))
def test_channel_split_equals_unsplit(name, n_rows, n_cols, seed, executor, fraction, col_chunk, groups_seen):
    analysis = ANALYSES[name]
    sig, _ = _signal(n_rows, n_cols, seed, col_chunk=col_chunk)
    whole = analysis(sig, max_memory="500MB", executor="serial", progress=False)
    assert groups_seen[-1] is None
    # a fraction of the smallest budget that runs all channels at once: the planner must split
    full_need = _min_full_width_budget(sig, name)
    budget = int(full_need * fraction)  # without the split along channels: MemoryBudgetError
    split = analysis(sig, max_memory=budget, executor=executor, n_workers=2, progress=False)
    assert groups_seen[-1] is not None and len(groups_seen[-1]) > 1
    cols = [c for g in groups_seen[-1] for c in range(*g)]
    assert cols == list(range(n_cols))  # every channel once, in order
    a, b = _values(whole), _values(split)
    scale = np.abs(a).max()
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11 * scale)


def _min_full_width_budget(sig, name):
    """Smallest budget with which the analysis runs on all channels at once (found by bisection)."""
    lo, hi = 1_000, 500_000_000
    while hi - lo > max(lo // 10, 1):
        mid = (lo + hi) // 2
        try:
            job = _planned_groups(sig, name, mid)
        except MemoryBudgetError:
            lo = mid
            continue
        if job is None:
            hi = mid
        else:
            lo = mid
    return hi


def _planned_groups(sig, name, budget):
    seen = []
    real = runner.plan

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs).groups)
        raise _Stop

    runner.plan = spy
    try:
        ANALYSES[name](sig, max_memory=budget, executor="serial", progress=False)
    except _Stop:
        pass
    finally:
        runner.plan = real
    return seen[-1]


class _Stop(Exception):
    pass


def test_split_reads_only_the_columns_of_each_group(monkeypatch):
    sig, raw = _signal(3000, 12, 0, col_chunk=4)
    base = sig.lazy_data.base
    whole = nap.compute_mean_power_spectral_density(sig, 0.5, max_memory="200MB", executor="serial")
    base.reads.clear()
    starts = np.arange(0, 2500, 375)
    job = plan(sig, WelchSum(starts, 501, RATE, (12,)), max_memory=300_000)
    assert job.groups is not None and len(job.groups) > 1 and job.groups[-1][1] == 12
    assert all(a % 4 == 0 for a, _ in job.groups)  # aligned to the storage chunks' 4 columns
    planned = []  # the groups of the job the run plans (half the budget is held back for read-ahead)
    real = readahead_module.plan

    def spy(*args, **kwargs):
        planned.append(real(*args, **kwargs))
        return planned[-1]

    monkeypatch.setattr(readahead_module, "plan", spy)
    split = nap.compute_mean_power_spectral_density(sig, 0.5, max_memory=600_000, executor="serial")
    np.testing.assert_allclose(split.values, whole.values, rtol=1e-10)
    run_groups = planned[-1].groups
    assert run_groups is not None and len(run_groups) > 1 and all(a % 4 == 0 for a, _ in run_groups)
    assert {(k[1].start, k[1].stop) for k in base.reads} == set(run_groups)


@pytest.mark.parametrize("channels", [384, 1200])
def test_wide_probes_at_the_default_budget(channels):
    """A Neuropixels-wide probe: Welch on 1-s windows at 30 kHz needs the split at the default budget."""
    n = 30_000 * 3
    base = Chunked(np.zeros((1, channels), np.int16), (30_000, 64))
    base.shape = (n, channels)  # planning never reads
    sig = (RegularTimeIndex(0.0, 30_000.0, n), LazyArray(base))
    algo = WelchSum(np.arange(0, n - 30_001, 22_500), 30_001, 30_000.0, (channels,))
    with pytest.raises(MemoryBudgetError):
        plan(sig, _Unsplittable(algo), in_flight=3)
    job = plan(sig, algo, in_flight=3)
    assert job.groups is not None and all(a % 64 == 0 for a, b in job.groups)
    assert job.tasks[0].d.shape[1] < channels and job.groups[-1][1] == channels


class _Unsplittable:
    def __init__(self, algo):
        self.algo = algo

    def __getattr__(self, name):
        if name in ("for_columns", "join_columns"):
            raise AttributeError(name)
        return getattr(self.algo, name)
