"""Bayesian decoding: napstream vs pynapple 0.11 on the same tuning curves and spikes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import napstream as ns
from napstream.errors import InvalidInputError, InvalidTypeError

pnap = pytest.importorskip("pynapple")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def session():
    rng = np.random.default_rng(4)
    t = np.arange(0, 200, 0.02)
    x = (np.sin(t / 5) + 1) / 2
    y = (np.cos(t / 7) + 1) / 2
    spikes = {}
    for k in range(6):
        cx, cy = rng.uniform(0, 1, 2)
        lam = 1 + 30 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.05)
        spikes[k] = np.sort(t[rng.random(len(t)) < lam * 0.02] + rng.uniform(0, 0.02))
    sup = (0.0, 200.0)
    g = ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(*sup))
    G = pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(*sup))
    xy = np.stack([x, y], axis=1)
    return g, G, (ns.TsdFrame(t=t, d=xy), pnap.TsdFrame(t=t, d=xy)), (ns.Tsd(t=t, d=x), pnap.Tsd(t=t, d=x))


def _same(got, ref):
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.times(), b.times(), rtol=1e-12)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("kw", [{}, {"uniform_prior": False}, {"sliding_window_size": 3}, {"time_units": "ms"}])
def test_decode_bayes(session, kw):
    g, G, (f, F), _ = session
    tc = pnap.compute_tuning_curves(G, F, bins=8)
    tc = tc.fillna(0) if kw.get("uniform_prior") is False else tc
    bs = 200 if kw.get("time_units") == "ms" else 0.2
    ep, EP = ns.IntervalSet(10, 150), pnap.IntervalSet(10, 150)
    _same(ns.decode_bayes(tc, g, ep, bs, max_memory=20_000, **kw), pnap.decode_bayes(tc, G, EP, bs, **kw))


def test_decode_bayes_1d_and_counts(session):
    g, G, _, (x, X) = session
    tc = pnap.compute_tuning_curves(G, X, bins=12)
    ep, EP = ns.IntervalSet([0, 100], [50, 180]), pnap.IntervalSet([0, 100], [50, 180])
    _same(ns.decode_bayes(tc, g, ep, 0.5), pnap.decode_bayes(tc, G, EP, 0.5))
    counts = G.count(0.5, EP)
    frame = ns.TsdFrame(t=counts.times(), d=counts.values, columns=list(G.keys()), time_support=ep)
    _same(ns.decode_bayes(tc, frame, ep, 0.5), pnap.decode_bayes(tc, counts, EP, 0.5))


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "cosine"])
def test_decode_template(session, metric):
    g, G, (f, F), _ = session
    tc = pnap.compute_tuning_curves(G, F, bins=6).fillna(0)
    ep, EP = ns.IntervalSet(0, 120), pnap.IntervalSet(0, 120)
    from napstream.process.decoding import decode_template

    _same(decode_template(tc, g, ep, 0.4, metric=metric, max_memory=10_000),
          pnap.decode_template(tc, G, EP, 0.4, metric=metric))


def test_legacy_decoders(session):
    g, G, (f, F), (x, X) = session
    ep, EP = ns.IntervalSet(0, 120), pnap.IntervalSet(0, 120)
    tc1 = pnap.compute_1d_tuning_curves(G, X, 10)
    _same(ns.decode_1d(tc1, g, ep, 0.3), pnap.decode_1d(tc1, G, EP, 0.3))
    _same(ns.decode_1d(tc1, g, ep, 0.3, feature=x), pnap.decode_1d(tc1, G, EP, 0.3, feature=X))
    tc2, xy = pnap.compute_2d_tuning_curves(G, F, 6)
    tc2 = {k: np.nan_to_num(v) for k, v in tc2.items()}
    _same(ns.decode_2d(tc2, g, ep, 0.3, xy), pnap.decode_2d(tc2, G, EP, 0.3, xy))
    _same(ns.decode_2d(tc2, g, ep, 0.3, xy, features=f), pnap.decode_2d(tc2, G, EP, 0.3, xy, features=F))


def test_legacy_no_warning(session):
    g, G, _, (x, X) = session
    tc1 = pnap.compute_1d_tuning_curves(G, X, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        ns.decode_1d(tc1, g, ns.IntervalSet(0, 50), 0.3)


def test_bad_input(session):
    g, G, (f, F), _ = session
    tc = pnap.compute_tuning_curves(G, F, bins=4)
    ep = ns.IntervalSet(0, 10)
    with pytest.raises(InvalidTypeError, match="tuning_curves should be an xarray.DataArray"):
        ns.decode_bayes(tc.values, g, ep, 0.1)
    with pytest.raises(InvalidTypeError, match="Unknown format for data. data should be a TsGroup"):
        ns.decode_bayes(tc, g[0], ep, 0.1)
    with pytest.raises(InvalidInputError, match="units"):
        ns.decode_bayes(tc, g[[0, 1]], ep, 0.1)
    with pytest.raises(InvalidInputError, match="sliding_window_size should be >= 1"):
        ns.decode_bayes(tc, g, ep, 0.1, sliding_window_size=0)
    with pytest.raises(InvalidTypeError, match="epochs must be an IntervalSet"):
        ns.decode_bayes(tc, g, [0, 10], 0.1)
    with pytest.raises(InvalidInputError, match="bin_size must be a positive"):
        ns.decode_bayes(tc, g, ep, -1.0)
    with pytest.raises(RuntimeError, match="Unknown format for feature in decode_1d"):
        ns.decode_1d(pd.DataFrame(np.ones((4, 2)), columns=[0, 1]), g, ep, 0.1, feature=[1, 2, 3])
