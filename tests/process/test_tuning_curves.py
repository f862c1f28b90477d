"""Tuning curves: napstream (streamed) vs pynapple 0.11 (in memory) on the same inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import napstream as ns
from napstream.errors import InvalidInputError, InvalidTypeError

pnap = pytest.importorskip("pynapple")


pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _session(seed=0, duration=300.0, n_units=6, rate=50.0, nan_rows=0, empty_unit=True):
    rng = np.random.default_rng(seed)
    t = np.arange(0, duration, 1 / rate) + rng.uniform(0, 1e-4)
    xy = np.stack([np.sin(t / 7) + rng.normal(0, 0.1, len(t)), np.cos(t / 5) * 2], axis=1)
    if nan_rows:
        xy[rng.choice(len(t), nan_rows, replace=False), rng.integers(0, 2)] = np.nan
    spikes = {k: np.sort(rng.uniform(-5, duration + 5, rng.integers(50, 2000))) for k in range(n_units)}
    if empty_unit:
        spikes[n_units + 3] = np.array([])
    return t, xy, spikes


def _pair(t, xy, spikes):
    ours = (ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(-5, t[-1] + 5)),
            ns.TsdFrame(t=t, d=xy), ns.Tsd(t=t, d=xy[:, 0]))
    ref = (pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(-5, t[-1] + 5)),
           pnap.TsdFrame(t=t, d=xy), pnap.Tsd(t=t, d=xy[:, 0]))
    return ours, ref


def _same(a, b):
    np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=0, equal_nan=True)
    assert list(a.dims) == [str(d) for d in b.dims]
    for dim in b.dims:
        np.testing.assert_allclose(np.asarray(a.coords[str(dim)].values, dtype=float),
                                   np.asarray(b.coords[dim].values, dtype=float), rtol=1e-12)
    np.testing.assert_allclose(a.attrs["occupancy"], b.attrs["occupancy"])
    for ea, eb in zip(a.attrs["bin_edges"], b.attrs["bin_edges"]):
        np.testing.assert_allclose(ea, eb, rtol=1e-12)
    np.testing.assert_allclose(a.attrs["fs"], b.attrs["fs"], rtol=1e-9)
    if "rates" in b.attrs:
        np.testing.assert_allclose(a.attrs["rates"], b.attrs["rates"], rtol=1e-12)


@pytest.fixture(scope="module")
def data():
    t, xy, spikes = _session()
    return _pair(t, xy, spikes)


@pytest.mark.parametrize("kwargs", [
    {"bins": 20},
    {"bins": [7, 4]},
    {"bins": [np.linspace(-1.5, 1.5, 9), np.linspace(-2, 2, 5)]},
    {"bins": 12, "range": [(-1, 1), None]},
    {"bins": 5, "return_counts": True},
    {"bins": 5, "fs": 40.0},
    {"bins": 6, "feature_names": ["x", "y"]},
])
def test_nd_spikes(data, kwargs):
    (g, f, _), (G, F, _) = data
    _same(ns.compute_tuning_curves(g, f, **kwargs), pnap.compute_tuning_curves(G, F, **kwargs))


def test_epochs_and_chunks(data):
    (g, f, x), (G, F, X) = data
    ep, EP = ns.IntervalSet([10, 100, 250], [60, 200, 260]), pnap.IntervalSet([10, 100, 250], [60, 200, 260])
    ref = pnap.compute_tuning_curves(G, F, bins=8, epochs=EP)
    for mm in (None, 12_000, 30_000):
        _same(ns.compute_tuning_curves(g, f, bins=8, epochs=ep, max_memory=mm), ref)
    _same(ns.compute_tuning_curves(g[0], x, bins=9, epochs=ep, max_memory=5000),
          pnap.compute_tuning_curves(G[0], X, bins=9, epochs=EP))


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_executors(data, executor):
    (g, f, _), (G, F, _) = data
    _same(ns.compute_tuning_curves(g, f, bins=7, max_memory=15_000, executor=executor),
          pnap.compute_tuning_curves(G, F, bins=7))


def test_one_feature_pandas_and_ts(data):
    (g, _, x), (G, _, X) = data
    pd.testing.assert_frame_equal(ns.compute_tuning_curves(g, x, bins=10, return_pandas=True),
                                  pnap.compute_tuning_curves(G, X, bins=10, return_pandas=True))
    _same(ns.compute_tuning_curves(g[1], x, bins=10, range=(-0.5, 0.5)),
          pnap.compute_tuning_curves(G[1], X, bins=10, range=(-0.5, 0.5)))


def test_continuous_data():
    rng = np.random.default_rng(3)
    t, xy, _ = _session(seed=3, duration=120.0)
    tt = np.arange(0, 120, 0.013)
    vals = rng.normal(size=(len(tt), 3))
    vals[5, 1] = np.nan
    ours = ns.compute_tuning_curves(ns.TsdFrame(t=tt, d=vals), ns.TsdFrame(t=t, d=xy), bins=6, max_memory=20_000)
    ref = pnap.compute_tuning_curves(pnap.TsdFrame(t=tt, d=vals), pnap.TsdFrame(t=t, d=xy), bins=6)
    _same(ours, ref)
    _same(ns.compute_tuning_curves(ns.Tsd(t=tt, d=vals[:, 0]), ns.Tsd(t=t, d=xy[:, 1]), bins=7),
          pnap.compute_tuning_curves(pnap.Tsd(t=tt, d=vals[:, 0]), pnap.Tsd(t=t, d=xy[:, 1]), bins=7))


def test_nan_features():
    t, xy, spikes = _session(seed=5, nan_rows=40)
    (g, f, _), (G, F, _) = _pair(t, xy, spikes)
    rng = [(-1.5, 1.5), (-2.5, 2.5)]
    _same(ns.compute_tuning_curves(g, f, bins=9, range=rng, max_memory=20_000),
          pnap.compute_tuning_curves(G, F, bins=9, range=rng))
    with pytest.raises(ValueError):
        pnap.compute_tuning_curves(G, F, bins=9)
    with pytest.raises(InvalidInputError, match="range"):
        ns.compute_tuning_curves(g, f, bins=9)


def test_legacy_functions(data):
    (g, f, x), (G, F, X) = data
    tc, bins = ns.compute_2d_tuning_curves(g, f, 20)
    rtc, rbins = pnap.compute_2d_tuning_curves(G, F, 20)
    assert list(tc) == list(rtc)
    for k in rtc:
        np.testing.assert_allclose(tc[k], rtc[k], rtol=1e-10, equal_nan=True)
    for a, b in zip(bins, rbins):
        np.testing.assert_allclose(a, b)
    ep, EP = ns.IntervalSet(20, 200), pnap.IntervalSet(20, 200)
    tc, _ = ns.compute_2d_tuning_curves(g, f, (5, 6), ep=ep, minmax=(-1, 1, -2, 2))
    rtc, _ = pnap.compute_2d_tuning_curves(G, F, (5, 6), ep=EP, minmax=(-1, 1, -2, 2))
    for k in rtc:
        np.testing.assert_allclose(tc[k], rtc[k], rtol=1e-10, equal_nan=True)
    pd.testing.assert_frame_equal(ns.compute_1d_tuning_curves(g, x, 15, ep=ep, minmax=(-1, 1)),
                                  pnap.compute_1d_tuning_curves(G, X, 15, ep=EP, minmax=(-1, 1)))
    frame_n, frame_p = ns.TsdFrame(t=f.times(), d=f.values[:, ::-1]), pnap.TsdFrame(t=F.times(), d=F.values[:, ::-1])
    pd.testing.assert_frame_equal(ns.compute_1d_tuning_curves_continuous(frame_n, x, 10),
                                  pnap.compute_1d_tuning_curves_continuous(frame_p, X, 10))
    tc, _ = ns.compute_2d_tuning_curves_continuous(frame_n, f, 4)
    rtc, _ = pnap.compute_2d_tuning_curves_continuous(frame_p, F, 4)
    for k in rtc:
        np.testing.assert_allclose(tc[k], rtc[k], rtol=1e-10, equal_nan=True)


def test_legacy_functions_do_not_warn(data):
    (g, f, _), _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ns.compute_2d_tuning_curves(g, f, 5)


def test_response_per_epoch_and_discrete(data):
    (g, f, _), (G, F, _) = data
    eps = {"a": ns.IntervalSet([0, 50], [20, 80]), "b": ns.IntervalSet(100, 150)}
    EPS = {"a": pnap.IntervalSet([0, 50], [20, 80]), "b": pnap.IntervalSet(100, 150)}
    np.testing.assert_allclose(ns.compute_response_per_epoch(g, eps).values,
                               pnap.compute_response_per_epoch(G, EPS).values, rtol=1e-12)
    np.testing.assert_allclose(ns.compute_response_per_epoch(f, eps).values,
                               pnap.compute_response_per_epoch(F, EPS).values, rtol=1e-10)
    pd.testing.assert_frame_equal(ns.compute_discrete_tuning_curves(g, eps),
                                  pnap.compute_discrete_tuning_curves(G, EPS))


def test_mutual_information(data):
    (g, f, x), (G, F, X) = data
    ref_tc = pnap.compute_tuning_curves(G, F, bins=8)
    pd.testing.assert_frame_equal(ns.compute_mutual_information(ref_tc), pnap.compute_mutual_information(ref_tc))
    tc1 = pnap.compute_1d_tuning_curves(G, X, 10)
    pd.testing.assert_frame_equal(ns.compute_1d_mutual_info(tc1, x), pnap.compute_1d_mutual_info(tc1, X))
    pd.testing.assert_frame_equal(ns.compute_1d_mutual_info(tc1, x, ep=ns.IntervalSet(0, 100), bitssec=True),
                                  pnap.compute_1d_mutual_info(tc1, X, ep=pnap.IntervalSet(0, 100), bitssec=True))
    tc2, _ = pnap.compute_2d_tuning_curves(G, F, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pd.testing.assert_frame_equal(ns.compute_2d_mutual_info(tc2, f, minmax=(-1, 1, -2, 2)),
                                      pnap.compute_2d_mutual_info(tc2, F, minmax=(-1, 1, -2, 2)))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), budget=st.integers(12_000, 60_000), nb=st.integers(1, 8))
def test_chunked_equals_in_memory(seed, budget, nb):
    t, xy, spikes = _session(seed=seed, duration=40.0, n_units=3)
    (g, f, _), (G, F, _) = _pair(t, xy, spikes)
    _same(ns.compute_tuning_curves(g, f, bins=nb, max_memory=budget), pnap.compute_tuning_curves(G, F, bins=nb))


def test_from_nwb_file_equals_memory(tmp_path):
    pytest.importorskip("pynwb")
    from napstream.testing.sessions import write_session

    path = write_session(tmp_path / "s.nwb", duration=120.0, n_units=4, n_channels=2, lfp_rate=100.0)
    nwb = ns.NWBFile(path)
    units, pos = nwb["units"], nwb["SpatialSeriesLED1"]
    mem_units = ns.TsGroup({k: ns.Ts(units[k].times()) for k in units.keys()}, time_support=units.time_support)
    mem_pos = ns.TsdFrame(t=pos.times(), d=pos.values, time_support=pos.time_support)
    ref = ns.compute_2d_tuning_curves(mem_units, mem_pos, 10)[0]
    for mm in (None, 20_000):
        with ns.config.override(memory_budget=mm or ns.config.memory_budget):
            got = ns.compute_2d_tuning_curves(units, pos, 10)[0]
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k])
    G = pnap.TsGroup({k: pnap.Ts(units[k].times()) for k in units.keys()}, time_support=pnap.IntervalSet(
        units.time_support.start, units.time_support.end))
    rtc = pnap.compute_2d_tuning_curves(G, pnap.TsdFrame(t=pos.times(), d=pos.values), 10)[0]
    for k in rtc:
        np.testing.assert_allclose(ref[k], rtc[k], rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("call, err, match", [
    (lambda g, f, x: ns.compute_2d_tuning_curves(x, f, 10), InvalidTypeError, "group should be a TsGroup. Got Tsd"),
    (lambda g, f, x: ns.compute_2d_tuning_curves(g, x, 10), InvalidTypeError, "features should be a TsdFrame with 2 columns"),
    (lambda g, f, x: ns.compute_1d_tuning_curves(g, f, 10), InvalidInputError, r"feature should be a Tsd \(or TsdFrame with 1 column only\)"),
    (lambda g, f, x: ns.compute_2d_tuning_curves(g, f, 0), InvalidInputError, "nb_bins must be positive, got 0"),
    (lambda g, f, x: ns.compute_2d_tuning_curves(g, f, 2.5), InvalidTypeError, "nb_bins should be of type int"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, bins=[3, 4, 5]), InvalidInputError, "one specification per"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, bins=-2), InvalidInputError, "must be a positive number"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, epochs=ns.IntervalSet(1e5, 2e5)), InvalidInputError,
     "epochs must overlap the features"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, epochs=[0, 1]), InvalidTypeError, "epochs should be an IntervalSet"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, range=(0, 1)), InvalidInputError, "range should be a sequence of tuples, one for each feature"),
    (lambda g, f, x: ns.compute_tuning_curves(g, f, return_pandas="yes"), InvalidTypeError, "return_pandas"),
    (lambda g, f, x: ns.compute_tuning_curves([1, 2], f), InvalidTypeError, "data should be a TsdFrame, TsGroup, Ts, or Tsd"),
])
def test_bad_input(data, call, err, match):
    (g, f, x), _ = data
    with pytest.raises(err, match=match):
        call(g, f, x)


def test_reads_are_bounded_by_the_budget(recording_array):
    from napstream.core import LazyArray

    t, xy, spikes = _session(seed=9, duration=600.0, n_units=4, empty_unit=False)
    spikes = {k: v[(v >= 0) & (v <= t[-1])] for k, v in spikes.items()}
    log = []
    lazy_units = ns.TsGroup({k: ns.Ts(t=LazyArray(recording_array(v, log))) for k, v in spikes.items()},
                            time_support=ns.IntervalSet(0, t[-1]))
    lazy_pos = ns.TsdFrame(t=LazyArray(recording_array(t, log)), d=LazyArray(recording_array(xy, log)))
    lazy_pos.time_index.check_order()  # the one pass over lazy timestamps' order (within nap.config.memory_budget)
    log.clear()
    got = ns.compute_tuning_curves(lazy_units, lazy_pos, bins=5, range=[(-2, 2), (-3, 3)], max_memory=60_000)
    assert 0 < max(log) < len(t) / 4, max(log)  # never the whole position or a whole unit
    ref = pnap.compute_tuning_curves(
        pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(0, t[-1])),
        pnap.TsdFrame(t=t, d=xy), bins=5, range=[(-2, 2), (-3, 3)])
    _same(got, ref)


@pytest.mark.parametrize("units_fit", [True, False])
def test_lazy_units_are_read_once_when_they_fit(recording_array, monkeypatch, units_fit):
    """Spike times of lazy units that fit their share of the budget are read once per unit (not
    searched per chunk of the features); larger ones are searched per chunk. Same numbers."""
    from napstream.core import LazyArray
    from napstream.process import tuning_curves as tcm

    if not units_fit:
        monkeypatch.setattr(tcm, "LOAD_MAX_BYTES", 1000)
    t, xy, spikes = _session(seed=4, duration=600.0, n_units=4, empty_unit=False)
    spikes = {k: v[(v >= 0) & (v <= t[-1])] for k, v in spikes.items()}
    logs = {k: [] for k in spikes}
    lazy_units = ns.TsGroup({k: ns.Ts(t=LazyArray(recording_array(v, logs[k]))) for k, v in spikes.items()},
                            time_support=ns.IntervalSet(0, t[-1]))
    for log in logs.values():
        log.clear()
    got = ns.compute_tuning_curves(lazy_units, ns.TsdFrame(t=t, d=xy), bins=5, max_memory=16_000_000)
    reads = sum(len(log) for log in logs.values())
    assert (reads == len(spikes)) if units_fit else (reads > 2 * len(spikes)), reads
    ref = pnap.compute_tuning_curves(
        pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(0, t[-1])),
        pnap.TsdFrame(t=t, d=xy), bins=5)
    _same(got, ref)


def test_pynapple_flags_and_warnings():
    t = np.arange(0.0, 100.0, 0.1)
    feature = ns.Tsd(t=t, d=np.sin(t))
    group = ns.TsGroup({0: ns.Ts(t=np.arange(0.5, 99.0, 0.7)), 1: ns.Tsd(t=np.arange(1.0, 99.0), d=np.ones(98))})
    pgroup = pnap.TsGroup({0: pnap.Ts(t=np.arange(0.5, 99.0, 0.7)), 1: pnap.Tsd(t=np.arange(1.0, 99.0), d=np.ones(98))})
    with pytest.warns(UserWarning, match="TsGroup entry 1 was not a Ts, but treating it as one!"):
        got = ns.compute_tuning_curves(group, feature, bins=5, return_pandas=1)
    with pytest.warns(UserWarning, match="TsGroup entry 1 was not a Ts"):
        exp = pnap.compute_tuning_curves(pgroup, pnap.Tsd(t=t, d=np.sin(t)), bins=5, return_pandas=1)
    np.testing.assert_allclose(got.values, exp.values)
    with pytest.raises(TypeError, match="return_counts should be a boolean"):
        ns.compute_tuning_curves(group, feature, bins=5, return_counts="no")
