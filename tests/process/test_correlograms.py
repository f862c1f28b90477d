"""Correlograms and ISI distributions: napstream (streamed) vs pynapple 0.11."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import napstream as ns
from napstream.errors import InvalidInputError, InvalidTypeError

pnap = pytest.importorskip("pynapple")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _spikes(seed=0, n_units=5, duration=200.0, grid=False):
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(n_units):
        if grid and k == 0:
            out[k] = np.arange(0, duration, 0.1)
        elif grid and k == 1:
            out[k] = np.arange(0.05, duration, 0.05)
        else:
            out[k] = np.sort(rng.uniform(0, duration, rng.integers(100, 1500)))
    out[n_units + 2] = np.array([])
    return out


def _groups(spikes, duration=200.0):
    return (ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(0, duration)),
            pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(0, duration)))


def _eq(a, b):
    pd.testing.assert_index_equal(a.columns, b.columns)
    np.testing.assert_allclose(a.index.values, b.index.values, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.fixture(scope="module", params=[False, True], ids=["random", "grid"])
def groups(request):
    return _groups(_spikes(grid=request.param))


EP = ([10.0, 120.0], [90.0, 180.0])


@pytest.mark.parametrize("kw", [
    {"binsize": 0.01, "windowsize": 0.2},
    {"binsize": 0.05, "windowsize": 1.0, "norm": False},
    {"binsize": 10, "windowsize": 100, "time_units": "ms"},
    {"binsize": 0.02, "windowsize": 0.3, "ep": EP},
])
def test_autocorrelogram(groups, kw):
    g, G = groups
    kn, kp = dict(kw), dict(kw)
    if "ep" in kw:
        kn["ep"], kp["ep"] = ns.IntervalSet(*kw["ep"]), pnap.IntervalSet(*kw["ep"])
    _eq(ns.compute_autocorrelogram(g, **kn), pnap.compute_autocorrelogram(G, **kp))


@pytest.mark.parametrize("kw", [
    {"binsize": 0.01, "windowsize": 0.2},
    {"binsize": 0.05, "windowsize": 0.5, "norm": False, "reverse": True},
    {"binsize": 0.02, "windowsize": 0.3, "ep": EP},
])
def test_crosscorrelogram(groups, kw):
    g, G = groups
    kn, kp = dict(kw), dict(kw)
    if "ep" in kw:
        kn["ep"], kp["ep"] = ns.IntervalSet(*kw["ep"]), pnap.IntervalSet(*kw["ep"])
    _eq(ns.compute_crosscorrelogram(g, **kn), pnap.compute_crosscorrelogram(G, **kp))


def test_crosscorrelogram_two_groups(groups):
    g, G = groups
    k = list(g.keys())
    _eq(ns.compute_crosscorrelogram((g[k[:2]], g[k[2:]]), 0.01, 0.1),
        pnap.compute_crosscorrelogram((G[k[:2]], G[k[2:]]), 0.01, 0.1))


def test_eventcorrelogram(groups):
    g, G = groups
    ev = np.sort(np.random.default_rng(1).uniform(0, 200, 300))
    _eq(ns.compute_eventcorrelogram(g, ns.Ts(ev), 0.01, 0.2),
        pnap.compute_eventcorrelogram(G, pnap.Ts(ev), 0.01, 0.2))
    _eq(ns.compute_eventcorrelogram(g, ns.Ts(ev), 0.02, 0.4, ep=ns.IntervalSet(*EP), norm=False),
        pnap.compute_eventcorrelogram(G, pnap.Ts(ev), 0.02, 0.4, ep=pnap.IntervalSet(*EP), norm=False))


@pytest.mark.parametrize("kw", [{"bins": 10}, {"bins": 7, "log_scale": True}, {"bins": np.linspace(0, 1, 11)}])
def test_isi_distribution(groups, kw):
    g, G = groups
    keys = [k for k in g.keys() if len(g[k])]
    pd.testing.assert_frame_equal(ns.compute_isi_distribution(g[keys], **kw),
                                  pnap.compute_isi_distribution(G[keys], **kw))
    pd.testing.assert_frame_equal(
        ns.compute_isi_distribution(g[keys[0]], epochs=ns.IntervalSet(*EP), **kw),
        pnap.compute_isi_distribution(G[keys[0]], epochs=pnap.IntervalSet(*EP), **kw))


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), budget=st.integers(2_000, 200_000))
def test_chunk_sizes(seed, budget):
    g, G = _groups(_spikes(seed=seed, n_units=3, duration=60.0), duration=60.0)
    _eq(ns.compute_crosscorrelogram(g, 0.01, 0.1, max_memory=budget),
        pnap.compute_crosscorrelogram(G, 0.01, 0.1))
    _eq(ns.compute_autocorrelogram(g, 0.005, 0.05, max_memory=budget),
        pnap.compute_autocorrelogram(G, 0.005, 0.05))


def test_from_nwb_file(tmp_path):
    pytest.importorskip("pynwb")
    from napstream.testing.sessions import write_session

    path = write_session(tmp_path / "s.nwb", duration=60.0, n_units=3, n_channels=2, lfp_rate=100.0)
    units = ns.NWBFile(path)["units"]
    mem = ns.TsGroup({k: ns.Ts(units[k].times()) for k in units.keys()}, time_support=units.time_support)
    _eq(ns.compute_crosscorrelogram(units, 0.01, 0.2, norm=False, max_memory=3000),
        ns.compute_crosscorrelogram(mem, 0.01, 0.2, norm=False))
    # normalised: units whose own support (obs_intervals) is shorter than the group's are normalised
    # by the group's support, as pynapple does after restricting the group
    ref = pnap.TsGroup({k: pnap.Ts(units[k].times()) for k in units.keys()}, time_support=pnap.IntervalSet(
        units.time_support.start, units.time_support.end))
    _eq(ns.compute_crosscorrelogram(units, 0.01, 0.2, max_memory=3000),
        pnap.compute_crosscorrelogram(ref, 0.01, 0.2))


@pytest.mark.parametrize("call, err, match", [
    (lambda g: ns.compute_autocorrelogram(g[0], 0.1, 1.0), InvalidTypeError, "Parameter group must be of type TsGroup. Got Ts"),
    (lambda g: ns.compute_crosscorrelogram((g, g[0]), 0.1, 1.0), InvalidTypeError, r"tuple/list of \(TsGroup"),
    (lambda g: ns.compute_autocorrelogram(g, "a", 1.0), InvalidTypeError, "Parameter binsize must be of type <class 'numbers.Number'>"),
    (lambda g: ns.compute_autocorrelogram(g, 0.0, 1.0), InvalidInputError, "binsize must be positive"),
    (lambda g: ns.compute_autocorrelogram(g, 0.1, 1.0, ep=[0, 1]), InvalidTypeError, "Parameter ep must be of type <class 'napstream.core.interval_set.IntervalSet'>"),
    (lambda g: ns.compute_autocorrelogram(g, 0.1, 1.0, time_units="h"), InvalidInputError, "time_units"),
    (lambda g: ns.compute_eventcorrelogram(g, g, 0.1, 1.0), InvalidTypeError, "Parameter event must be of type"),
    (lambda g: ns.compute_isi_distribution(g, bins=0), InvalidInputError, "`bins` must be positive, when an integer"),
    (lambda g: ns.compute_eventcorrelogram(g, binsize="a"), InvalidTypeError, "Parameter binsize must be of type"),
    (lambda g: ns.compute_eventcorrelogram(g, g[0], 0.1), TypeError, "missing 1 required positional argument: 'windowsize'"),
    (lambda g: ns.compute_isi_distribution([1.0], bins=3), InvalidTypeError, "data should be a Ts, TsGroup, Tsd, TsdFrame, TsdTensor"),
])
def test_bad_input(groups, call, err, match):
    g, _ = groups
    with pytest.raises(err, match=match):
        call(g)
