"""Ts / Tsd / TsdFrame / TsdTensor against pynapple on randomised inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pynapple
import pytest

import napstream as nap

SEEDS = range(4)


def rand_times(rng, n=200, dup=False):
    t = np.sort(rng.uniform(0, 100, n))
    if dup and n > 10:
        t[5] = t[4]
    return t


def rand_epochs(rng, k=None, lo=-5.0, hi=105.0):
    """Random epochs: some touching, overlapping, outside the data, empty."""
    k = int(rng.integers(0, 6)) if k is None else k
    if k == 0:
        return np.zeros(0), np.zeros(0)
    edges = np.sort(rng.uniform(lo, hi, 2 * k))
    s, e = edges[0::2].copy(), edges[1::2].copy()
    if k > 2 and rng.random() < 0.5:
        s[1] = e[0]  # touching
    if k > 3 and rng.random() < 0.5:
        s[3] = e[2] - 1.0  # overlapping
    return s, e


def both_isets(s, e):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nap.IntervalSet(start=s, end=e), pynapple.IntervalSet(start=s, end=e)


def assert_same(ours, ref, values=True):
    assert type(ours).__name__ == type(ref).__name__
    np.testing.assert_array_equal(ours.t, ref.t)
    np.testing.assert_allclose(ours.time_support.values, ref.time_support.values)
    if values and hasattr(ref, "values"):
        assert ours.dtype == ref.dtype
        np.testing.assert_array_equal(np.asarray(ours.values), np.asarray(ref.values))
    if hasattr(ref, "columns"):
        assert list(ours.columns) == list(ref.columns)


def make_pair(cls, rng, n=200, ncol=3, support=None, dup=False):
    t = rand_times(rng, n, dup)
    kw = {}
    if support is not None:
        kw = {"time_support": support}
    if cls == "Ts":
        return nap.Ts(t=t, **kw[0:0] if False else {k: v[0] for k, v in kw.items()}), pynapple.Ts(t=t, **{k: v[1] for k, v in kw.items()})
    d = {"Tsd": rng.normal(size=n), "TsdFrame": rng.normal(size=(n, ncol)),
         "TsdTensor": rng.normal(size=(n, 2, 3))}[cls]
    d[rng.random(n) < 0.05] = np.nan  # NaN rows
    extra = {"columns": list("abcdefg")[:ncol]} if cls == "TsdFrame" else {}
    ours = getattr(nap, cls)(t=t, d=d, **{k: v[0] for k, v in kw.items()}, **extra)
    ref = getattr(pynapple, cls)(t=t, d=d, **{k: v[1] for k, v in kw.items()}, **extra)
    return ours, ref


CLASSES = ["Ts", "Tsd", "TsdFrame", "TsdTensor"]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_construct_restrict_get(cls, seed):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng)
    assert_same(ours, ref)
    assert len(ours) == len(ref)
    assert ours.rate == pytest.approx(ref.rate)
    assert ours.start_time() == ref.start_time() and ours.end_time() == ref.end_time()
    s, e = rand_epochs(rng)
    ep, ep_ref = both_isets(s, e)
    assert_same(ours.restrict(ep), ref.restrict(ep_ref))
    a, b = np.sort(rng.uniform(-5, 105, 2))
    assert_same(ours.get(a, b), ref.get(a, b))
    one, one_ref = ours.get(a), ref.get(a)
    if cls in ("Ts",):
        assert_same(one, one_ref)
    else:
        np.testing.assert_array_equal(np.asarray(one), np.asarray(one_ref))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_construct_with_support(cls, seed):
    rng = np.random.default_rng(seed)
    s, e = rand_epochs(rng, k=3)
    ours, ref = make_pair(cls, rng, support=both_isets(s, e))
    assert_same(ours, ref)
    assert ours.rate == pytest.approx(ref.rate)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("seed", SEEDS)
def test_count(cls, seed):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng)
    s, e = rand_epochs(rng)
    ep, ep_ref = both_isets(s, e)
    bs = float(rng.uniform(0.5, 5))
    assert_same(ours.count(bs), ref.count(bs))
    assert_same(ours.count(bs, ep), ref.count(bs, ep_ref))
    assert_same(ours.count(ep=ep), ref.count(ep=ep_ref))
    assert_same(ours.count(bs * 1000, time_units="ms", dtype=np.float32),
                ref.count(bs * 1000, time_units="ms", dtype=np.float32))
