"""Tuning curves' fast paths (arithmetic closest sample, chunk row cap) vs pynapple 0.11 in memory."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import napstream as ns
import napstream.process.tuning_curves as tuning

pnap = pytest.importorskip("pynapple")


pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _same(a, b):
    np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=0, equal_nan=True)
    np.testing.assert_allclose(a.attrs["occupancy"], b.attrs["occupancy"])
    for ea, eb in zip(a.attrs["bin_edges"], b.attrs["bin_edges"]):
        np.testing.assert_allclose(ea, eb, rtol=1e-12)
    np.testing.assert_allclose(a.attrs["fs"], b.attrs["fs"], rtol=1e-9)


def _tricky_session(kind: str, seed: int = 0):
    """Features sampled at 4 Hz (exact binary times) and spikes on samples, midpoints and beyond."""
    rng = np.random.default_rng(seed)
    n = 4000
    t = np.arange(n) * 0.25
    if kind == "jitter":
        t = np.sort(t + rng.uniform(-0.05, 0.05, n))
    elif kind == "irregular":
        t = np.sort(rng.uniform(0, 1000, n))
    xy = np.stack([np.sin(t / 9), np.cos(t / 4) * 2], axis=1) + rng.normal(0, 0.05, (n, 2))
    xy[rng.choice(n, 30, replace=False), rng.integers(0, 2)] = np.nan
    spikes = {}
    for k in range(5):
        on = rng.choice(t, 300)  # exactly on samples
        mid = rng.choice((t[1:] + t[:-1]) / 2, 300)  # exactly between two samples (ties)
        out = np.concatenate([rng.uniform(-3, 0, 20), rng.uniform(t[-1], t[-1] + 3, 20)])  # beyond the ends
        spikes[k] = np.sort(np.concatenate([on, mid, out, rng.uniform(0, t[-1], 500)]))
    return t, xy, spikes


def _pair(t, xy, spikes):
    sup = (-3.0, t[-1] + 3.0)
    ours = ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(*sup))
    ref = pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(*sup))
    return (ours, ns.TsdFrame(t=t, d=xy)), (ref, pnap.TsdFrame(t=t, d=xy))


@pytest.mark.parametrize("kind", ["regular", "jitter", "irregular"])
@pytest.mark.parametrize("chunk_rows", [None, 700])
def test_ties_edges_nan_and_epochs_equal_pynapple(kind, chunk_rows, monkeypatch):
    if chunk_rows:
        monkeypatch.setattr(tuning, "CHUNK_ROWS", chunk_rows)
    t, xy, spikes = _tricky_session(kind)
    (g, f), (G, F) = _pair(t, xy, spikes)
    rng = [(-1.2, 1.2), (-2.2, 2.2)]
    _same(ns.compute_tuning_curves(g, f, bins=12, range=rng), pnap.compute_tuning_curves(G, F, bins=12, range=rng))
    # epochs starting/ending exactly on samples, between samples, and touching each other
    starts, ends = [0.25, 100.1, 300.0, 500.125], [90.0, 300.0, 420.3, 999.75]
    _same(ns.compute_tuning_curves(g, f, bins=(7, 5), range=rng, epochs=ns.IntervalSet(starts, ends)),
          pnap.compute_tuning_curves(G, F, bins=(7, 5), range=rng, epochs=pnap.IntervalSet(starts, ends)))
    tc, _ = ns.compute_2d_tuning_curves(g, f, 9, minmax=(-1, 1, -2, 2))
    rtc, _ = pnap.compute_2d_tuning_curves(G, F, 9, minmax=(-1, 1, -2, 2))
    for k in rtc:
        np.testing.assert_allclose(tc[k], rtc[k], rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("chunk_rows", [None, 500])
def test_continuous_data_with_row_cap(chunk_rows, monkeypatch):
    if chunk_rows:
        monkeypatch.setattr(tuning, "CHUNK_ROWS", chunk_rows)
    t, xy, _ = _tricky_session("regular", seed=3)
    tt = np.arange(0, 1000, 0.125)  # every other sample exactly between two feature samples
    vals = np.random.default_rng(3).normal(size=(len(tt), 2))
    ours = ns.compute_tuning_curves(ns.TsdFrame(t=tt, d=vals), ns.TsdFrame(t=t, d=xy), bins=5,
                                    range=[(-1.2, 1.2), (-2.2, 2.2)])
    ref = pnap.compute_tuning_curves(pnap.TsdFrame(t=tt, d=vals), pnap.TsdFrame(t=t, d=xy), bins=5,
                                     range=[(-1.2, 1.2), (-2.2, 2.2)])
    _same(ours, ref)


def test_default_budget_reads_at_most_chunk_rows(monkeypatch, recording_array):
    """With the default (large) budget, a feature chunk still holds at most CHUNK_ROWS rows."""
    from napstream.core import LazyArray

    monkeypatch.setattr(tuning, "CHUNK_ROWS", 1000)
    t, xy, spikes = _tricky_session("regular", seed=5)
    xy = np.nan_to_num(xy, nan=0.5)
    spikes = {k: v[(v >= 0) & (v <= t[-1])] for k, v in spikes.items()}
    log: list[int] = []
    lazy = ns.TsdFrame(t=LazyArray(recording_array(t, [])), d=LazyArray(recording_array(xy, log)))  # feature rows
    group = ns.TsGroup({k: ns.Ts(v) for k, v in spikes.items()}, time_support=ns.IntervalSet(0, t[-1]))
    log.clear()
    rng = [(-1.2, 1.2), (-2.2, 2.2)]
    got = ns.compute_tuning_curves(group, lazy, bins=6, range=rng)
    assert 0 < max(log) <= 1000 + 2, max(log)  # the rows of a chunk plus one margin row each side
    ref = pnap.compute_tuning_curves(
        pnap.TsGroup({k: pnap.Ts(v) for k, v in spikes.items()}, time_support=pnap.IntervalSet(0, t[-1])),
        pnap.TsdFrame(t=t, d=xy), bins=6, range=rng)
    _same(got, ref)
    # a budget smaller than the cap is still honoured
    log.clear()
    ns.compute_tuning_curves(group, lazy, bins=6, range=rng, max_memory=40_000)
    assert max(log) < 1000


def test_row_cap_follows_threads_in_flight(monkeypatch):
    t, xy, spikes = _tricky_session("regular", seed=6)
    (g, f), (G, F) = _pair(t, xy, spikes)
    monkeypatch.setattr(tuning, "CHUNK_ROWS", 600)
    _same(ns.compute_tuning_curves(g, f, bins=6, range=[(-1.2, 1.2), (-2.2, 2.2)], executor="threads"),
          pnap.compute_tuning_curves(G, F, bins=6, range=[(-1.2, 1.2), (-2.2, 2.2)]))


@pytest.mark.parametrize("columns", [None, ["a", "b"]])
def test_legacy_1d_frames_equal_pynapple(columns):
    """The legacy 1-D functions build their DataFrame without xarray: same index, columns, names."""
    t, xy, spikes = _tricky_session("regular", seed=8)
    (g, _), (G, _) = _pair(t, xy, spikes)
    x, X = ns.Tsd(t=t, d=np.nan_to_num(xy[:, 0])), pnap.Tsd(t=t, d=np.nan_to_num(xy[:, 0]))
    pd.testing.assert_frame_equal(ns.compute_1d_tuning_curves(g, x, 13), pnap.compute_1d_tuning_curves(G, X, 13))
    frame_t = np.arange(0, 999, 0.3)
    vals = np.random.default_rng(8).normal(size=(len(frame_t), 2))
    ours = ns.compute_1d_tuning_curves_continuous(ns.TsdFrame(t=frame_t, d=vals, columns=columns), x, 6,
                                                  minmax=(-0.5, 0.5))
    ref = pnap.compute_1d_tuning_curves_continuous(pnap.TsdFrame(t=frame_t, d=vals, columns=columns), X, 6,
                                                   minmax=(-0.5, 0.5))
    pd.testing.assert_frame_equal(ours, ref)
    one = ns.TsdFrame(t=t, d=np.nan_to_num(xy[:, :1]), columns=["pos"])
    ONE = pnap.TsdFrame(t=t, d=np.nan_to_num(xy[:, :1]), columns=["pos"])
    pd.testing.assert_frame_equal(ns.compute_1d_tuning_curves(g, one, 7), pnap.compute_1d_tuning_curves(G, ONE, 7))


def test_spikes_closest_rows_are_found_before_the_feature_values_are_read(monkeypatch):
    """The closest feature row of every spike comes from the timestamps alone, before any value of
    the features is read (a remote series' values may still be arriving); the same numbers as the
    search per chunk and as pynapple."""
    from napstream.core.lazy import LazyArray
    from napstream.process import _spike_kernels, _tuning_query

    t, xy, spikes = _tricky_session("jitter", seed=3)
    (g, _), (G, F) = _pair(t, xy, spikes)
    events: list[str] = []

    class Values:  # an array-like recording its reads
        shape, dtype, ndim = xy.shape, xy.dtype, 2

        def __getitem__(self, key):
            events.append("values")
            return xy[key]

    closest = _spike_kernels.ClosestSampler.__call__

    def spy(self, q):
        events.append("closest")
        return closest(self, q)

    monkeypatch.setattr(_spike_kernels.ClosestSampler, "__call__", spy)
    monkeypatch.setattr(tuning, "CHUNK_ROWS", 900)
    f = ns.TsdFrame(t=t, d=LazyArray(Values()))
    got, _ = ns.compute_2d_tuning_curves(g, f, 9, minmax=(-1, 1, -2, 2))
    first_value = events.index("values")
    assert "closest" in events[:first_value] and "closest" not in events[first_value:]
    monkeypatch.setattr(tuning, "held_features", lambda *a: None)  # chunks through the engine, closest rows known
    chunks, _ = ns.compute_2d_tuning_curves(g, f, 9, minmax=(-1, 1, -2, 2))
    monkeypatch.setattr(_tuning_query._Query, "attach_closest", lambda self, *a: False)  # the search per chunk
    per_chunk, _ = ns.compute_2d_tuning_curves(g, f, 9, minmax=(-1, 1, -2, 2))
    want, _ = pnap.compute_2d_tuning_curves(G, F, 9, minmax=(-1, 1, -2, 2))
    for k in want:
        np.testing.assert_array_equal(got[k], per_chunk[k])
        np.testing.assert_array_equal(chunks[k], per_chunk[k])
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("kind", ["regular", "irregular"])
def test_small_features_held_in_memory_equal_the_engine_and_pynapple(kind, monkeypatch):
    """Features that fit the budget's share are read once (in CHUNK_ROWS blocks) for the edges and the
    counts: the same numbers as the engine's chunked passes and pynapple, over touching epochs."""
    t, xy, spikes = _tricky_session(kind, seed=11)
    xy = np.nan_to_num(xy, nan=0.25)
    (g, f), (G, F) = _pair(t, xy, spikes)
    monkeypatch.setattr(tuning, "CHUNK_ROWS", 700)
    starts, ends = [0.25, 100.1, 300.0], [90.0, 300.0, 420.3]
    calls = []
    held = tuning.held_features
    monkeypatch.setattr(tuning, "held_features", lambda *a: calls.append(1) or held(*a))
    got = ns.compute_tuning_curves(g, f, bins=(7, 5), epochs=ns.IntervalSet(starts, ends))
    assert calls
    monkeypatch.setattr(tuning, "held_features", lambda *a: None)
    engine = ns.compute_tuning_curves(g, f, bins=(7, 5), epochs=ns.IntervalSet(starts, ends))
    _same(got, engine)
    _same(got, pnap.compute_tuning_curves(G, F, bins=(7, 5), epochs=pnap.IntervalSet(starts, ends)))
