"""Spike kernels: closest-sample lookup and n-d binning vs pynapple's value_from / numpy's histogramdd."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napstream.process._spike_kernels import ClosestSampler, bin_flat_index, closest_index

pnap = pytest.importorskip("pynapple")


def _pynapple_closest(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the sample pynapple's ``value_from(mode="closest")`` gives each query."""
    lo, hi = min(q.min(), t.min()) - 1.0, max(q.max(), t.max()) + 1.0
    ep = pnap.IntervalSet(lo, hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pnap.Ts(q).value_from(pnap.Tsd(t=t, d=np.arange(len(t), dtype=float), time_support=ep), ep=ep)
    assert len(out) == len(q)
    return np.asarray(out.values).astype(np.int64)


def _queries(t: np.ndarray, rng: np.random.Generator, n: int = 2000) -> np.ndarray:
    """Random queries plus every sample, every midpoint (ties) and points beyond both ends."""
    lo, hi = t[0] - 3 * (t[-1] - t[0] + 1) / len(t), t[-1] + 2.0
    parts = [rng.uniform(lo, hi, n), t, [lo, t[0] - 1e-9, hi, np.nextafter(t[-1], np.inf)]]
    if len(t) > 1:
        parts.append((t[1:] + t[:-1]) / 2)
    return np.sort(np.concatenate(parts))


def _timestamps(kind: str, rng: np.random.Generator) -> np.ndarray:
    n = 3000
    if kind == "regular":
        return np.arange(n) / 50.0 + 12.3
    if kind == "exact_ties":  # midpoints exactly representable: ties between two samples
        return np.arange(n) * 0.25
    if kind == "large_offset":
        return 1.7e6 + np.arange(n) / 30_000.0
    if kind == "jitter":
        return np.sort(np.arange(n) / 50.0 + rng.uniform(-0.004, 0.004, n))
    if kind == "irregular":
        return np.sort(rng.uniform(0, 60, n))
    if kind == "gap":  # regular pieces separated by a long gap (two epochs of one recording)
        return np.concatenate([np.arange(1000) / 50.0, 500.0 + np.arange(2000) / 50.0])
    if kind == "duplicates":
        return np.sort(np.round(rng.uniform(0, 60, n), 1))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["regular", "exact_ties", "large_offset", "jitter", "irregular", "gap",
                                  "duplicates"])
def test_closest_sampler_equals_pynapple(kind):
    rng = np.random.default_rng(7)
    t = _timestamps(kind, rng)
    q = _queries(t, rng)
    ref = _pynapple_closest(q, t)
    sampler = ClosestSampler(t)
    np.testing.assert_array_equal(sampler(q), ref)
    # query arrays one after another (as per unit), including tiny and empty ones
    cuts = [3, 4, 40, 40, 700]
    for piece, expected in zip(np.split(q, cuts), np.split(ref, cuts)):
        np.testing.assert_array_equal(sampler(piece), expected)
    np.testing.assert_array_equal(closest_index(q, t), ref)


def test_closest_sampler_arithmetic_guess_is_used_and_checked():
    t = np.arange(5000) / 50.0
    q = np.sort(np.random.default_rng(1).uniform(-1, 101, 4000))
    s = ClosestSampler(t)
    c = s._guess(q)
    assert s.guess and not s._step(q, c).any()  # regular samples: every guess holds
    np.testing.assert_array_equal(c, _pynapple_closest(q, t))
    jittered = np.arange(5000) / 50.0 + np.random.default_rng(3).uniform(-0.003, 0.003, 5000)
    s = ClosestSampler(jittered)
    step = s._step(q, s._guess(q))
    assert 0 < np.count_nonzero(step) < 0.25 * len(q)  # some guesses are a neighbour off...
    np.testing.assert_array_equal(s(q), _pynapple_closest(q, jittered))  # ...and are walked to it
    irregular = ClosestSampler(np.sort(np.random.default_rng(2).uniform(0, 100, 5000)))
    assert np.count_nonzero(irregular._step(q, irregular._guess(q))) > 0.25 * len(q)
    irregular(q)
    assert not irregular.guess  # abandoned after a first call where most guesses failed


def test_closest_sampler_small_inputs():
    for t in (np.array([3.0]), np.array([1.0, 1.0]), np.array([0.0, 2.0])):
        q = np.array([-5.0, 0.0, 1.0, 2.0, 3.0, 9.0])
        np.testing.assert_array_equal(ClosestSampler(t)(q), _pynapple_closest(q, t))
    assert ClosestSampler(np.arange(4.0))(np.empty(0)).shape == (0,)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 400), jitter=st.sampled_from([0.0, 1e-6, 0.3, 5.0]),
       rate=st.sampled_from([1.0, 50.0, 1250.0, 30_000.0]))
def test_closest_sampler_property(seed, n, jitter, rate):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-100, 100) + (np.arange(n) + rng.uniform(-jitter, jitter, n)) / rate)
    q = _queries(t, rng, 300)
    np.testing.assert_array_equal(ClosestSampler(t)(q), closest_index(q, t))
    np.testing.assert_array_equal(ClosestSampler(t)(q), _pynapple_closest(q, t))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_bin_flat_index_equals_histogramdd(dims):
    rng = np.random.default_rng(dims)
    v = rng.normal(size=(5000, dims))
    v[rng.integers(0, 5000, 50), rng.integers(0, dims, 50)] = np.nan
    edges = []
    for i in range(dims):
        e = np.linspace(-1.5, 1.5 + i, 7 + i) if i != 1 else np.array([-2.0, -0.3, 0.0, 0.1, 2.5])
        v[rng.integers(0, 5000, 200), i] = rng.choice(e, 200)  # values exactly on edges (incl. the last)
        edges.append(e)
    flat = bin_flat_index(v, edges)
    assert flat.min() >= -1
    ok = np.all(np.isfinite(v), axis=1)
    ref, _ = np.histogramdd(v[ok], bins=edges)
    np.testing.assert_array_equal(np.bincount(flat[flat >= 0], minlength=ref.size).reshape(ref.shape), ref)
    assert np.all(flat[~ok] == -1)


def test_bin_flat_index_infinite_last_edge():
    v = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 7.0, np.inf, np.nan])
    e = np.array([-1.0, 0.0, 1.0, np.inf])
    ref, _ = np.histogramdd(v[np.isfinite(v) | (v == np.inf)][:, None], bins=[e])
    flat = bin_flat_index(v, [e])
    np.testing.assert_array_equal(np.bincount(flat[flat >= 0], minlength=3), ref)
