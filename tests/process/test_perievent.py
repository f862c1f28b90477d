"""Peri-event alignment and event-triggered averages: napstream vs pynapple 0.11."""

from __future__ import annotations

import numpy as np
import pytest

import napstream as ns
from napstream.errors import InvalidInputError, InvalidTypeError

pnap = pytest.importorskip("pynapple")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _both(cls, *args, **kw):
    return getattr(ns, cls)(*args, **kw), getattr(pnap, cls)(*args, **kw)


def _ep(*a):
    return ns.IntervalSet(*a), pnap.IntervalSet(*a)


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    spikes = {k: np.sort(rng.uniform(0, 100, rng.integers(50, 800))) for k in range(3)}
    spikes[7] = np.array([])
    g = ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(0, 100))
    G = pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(0, 100))
    ev = np.sort(rng.uniform(-2, 102, 40))
    t = np.arange(0, 100, 0.01)
    sig = np.stack([np.sin(t), np.cos(3 * t) + rng.normal(0, 0.1, len(t))], axis=1)
    return g, G, ev, t, sig


def _same_group(a, b):
    assert list(a.keys()) == list(b.keys())
    for k in b.keys():
        np.testing.assert_allclose(a[k].times(), b[k].times(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(a.events, dtype=float), np.asarray(b.events, dtype=float))
    np.testing.assert_allclose(a.time_support.values, b.time_support.values)


@pytest.mark.parametrize("window, unit", [(1.0, "s"), ((0.5, 2.0), "s"), (300, "ms")])
def test_perievent_ts(inputs, window, unit):
    g, G, ev, _, _ = inputs
    e, E = _both("Ts", ev)
    _same_group(ns.compute_perievent(g[0], e, window, time_unit=unit),
                pnap.compute_perievent(G[0], E, window, time_unit=unit))
    ep, EP = _ep([10, 50], [40, 90])
    got = ns.compute_perievent(g, e, window, time_unit=unit, epochs=ep)
    ref = pnap.compute_perievent(G, E, window, time_unit=unit, epochs=EP)
    assert list(got) == list(ref)
    for k in ref:
        _same_group(got[k], ref[k])


@pytest.mark.parametrize("window", [0.5, (0.2, 0.73)])
def test_perievent_regular(inputs, window):
    _, _, ev, t, sig = inputs
    e, E = _both("Ts", ev)
    for d in (sig[:, 0], sig):
        cls = "Tsd" if d.ndim == 1 else "TsdFrame"
        x, X = getattr(ns, cls)(t=t, d=d), getattr(pnap, cls)(t=t, d=d)
        got, ref = ns.compute_perievent(x, e, window, max_memory=4000), pnap.compute_perievent(X, E, window)
        np.testing.assert_allclose(got.times(), ref.times(), rtol=1e-12)
        np.testing.assert_array_equal(got.values, ref.values)
    sup = ([0, 50.005], [49.0, 99.9])
    x = ns.Tsd(t=t, d=sig[:, 0], time_support=ns.IntervalSet(*sup))
    X = pnap.Tsd(t=t, d=sig[:, 0], time_support=pnap.IntervalSet(*sup))
    np.testing.assert_array_equal(ns.compute_perievent(x, e, window).values,
                                  pnap.compute_perievent(X, E, window).values)


@pytest.mark.parametrize("binsize, window", [(0.01, 0.1), (0.05, (0.2, 0.5)), (0.1, 0)])
def test_event_triggered_average(inputs, binsize, window):
    g, G, _, t, sig = inputs
    x, X = ns.Tsd(t=t, d=sig[:, 1]), pnap.Tsd(t=t, d=sig[:, 1])
    got = ns.compute_event_triggered_average(x, g, binsize, window)
    ref = pnap.compute_event_triggered_average(X, G, binsize, window)
    np.testing.assert_allclose(got.times(), ref.times(), rtol=1e-12)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-9, atol=1e-12)
    f, F = ns.TsdFrame(t=t, d=sig), pnap.TsdFrame(t=t, d=sig)
    ep, EP = _ep([5, 60], [50, 95])
    got = ns.compute_spike_triggered_average(f, g, binsize, window, epochs=ep)
    small = ns.compute_event_triggered_average(f, g, binsize, window, epochs=ep, max_memory=5_000)
    np.testing.assert_allclose(small.values, got.values, rtol=1e-9, atol=1e-12)
    ref = pnap.compute_spike_triggered_average(F, G, binsize, window, epochs=EP)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-9, atol=1e-12)


def test_from_nwb_file(tmp_path):
    pytest.importorskip("pynwb")
    from napstream.testing.sessions import write_session

    path = write_session(tmp_path / "s.nwb", duration=60.0, n_units=2, n_channels=2, lfp_rate=100.0)
    nwb = ns.NWBFile(path)
    units, lfp = nwb["units"], nwb["ElectricalSeriesLFP"]
    ev = ns.Ts(np.array([5.0, 17.3, 40.0]))
    mem = ns.TsdFrame(t=lfp.times(), d=lfp.values, time_support=lfp.time_support)
    np.testing.assert_array_equal(ns.compute_perievent(lfp, ev, 1.0, max_memory=3000).values,
                                  ns.compute_perievent(mem, ev, 1.0).values)
    k = list(units.keys())[0]
    got = ns.compute_perievent(units[k], ev, 2.0)
    ref = ns.compute_perievent(ns.Ts(units[k].times()), ev, 2.0)
    for i in ref.keys():
        np.testing.assert_array_equal(got[i].times(), ref[i].times())


@pytest.mark.parametrize("call, err, match", [
    (lambda g, x: ns.compute_perievent([1.0], g[0], 1.0), InvalidTypeError, "data should be a time series object"),
    (lambda g, x: ns.compute_perievent(g[0], "a", 1.0), InvalidTypeError, "events should be a time series object"),
    (lambda g, x: ns.compute_perievent(g[0], g[1], (1, 2, 3)), RuntimeError, "window should be a tuple of 2 numbers"),
    (lambda g, x: ns.compute_perievent(g[0], g[1], 1.0, time_unit="h"), RuntimeError, "time_unit should be 's', 'ms' or 'us'"),
    (lambda g, x: ns.compute_perievent(g[0], g[1], 1.0, epochs=[0, 1]), InvalidTypeError, "epochs must be"),
    (lambda g, x: ns.compute_event_triggered_average(g, g, 0.1, 1.0), InvalidTypeError,
     "data should be a continuous time series"),
    (lambda g, x: ns.compute_perievent(x, g[1], 1.0), RuntimeError, "regularly sampled"),
])
def test_bad_input(inputs, call, err, match):
    g = inputs[0]
    irregular = ns.Tsd(t=np.sort(np.random.default_rng(2).uniform(0, 10, 100)), d=np.zeros(100))
    with pytest.raises(err, match=match):
        call(g, irregular)
