"""Hypothesis property tests of the core data model.

* IntervalSet algebra (union / intersect / set_diff) against set operations on a fine grid and
  against pynapple;
* Ts/Tsd restrict, count and value_from against naive Python loops;
* lazy objects (LazyArray over an in-memory array, with junk rows cut out by random segments) give
  exactly the in-memory results for restrict / get / count.
"""

from __future__ import annotations

import warnings

import numpy as np
import pynapple as pnap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napstream.core import IntervalSet, LazyArray, Ts, Tsd

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=RuntimeWarning)

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRID = 0.5  # epoch edges lie on multiples of GRID


# ------------------------------------------------------------------------------- strategies
@st.composite
def epochs(draw, min_size=0, max_size=6):
    """Sorted, disjoint, non-touching epochs with edges on the grid (as an (n, 2) array)."""
    cuts = draw(st.lists(st.integers(0, 80), min_size=2 * min_size, max_size=2 * max_size, unique=True))
    cuts = sorted(cuts)[: len(cuts) // 2 * 2]
    arr = np.array(cuts, dtype=float).reshape(-1, 2) * GRID
    return arr


@st.composite
def times(draw, max_size=60, lo=-2.0, hi=42.0):
    """Sorted event times, sometimes exactly on epoch edges (the grid), sometimes random."""
    on_grid = draw(st.lists(st.integers(int(lo / GRID), int(hi / GRID)), max_size=max_size // 3))
    off = draw(st.lists(st.floats(lo, hi, allow_nan=False, width=64), max_size=max_size))
    t = np.unique(np.concatenate([np.array(on_grid, dtype=float) * GRID, np.array(off, dtype=float)]))
    return t


def iset(arr: np.ndarray) -> IntervalSet:
    return IntervalSet(arr[:, 0], arr[:, 1]) if len(arr) else IntervalSet(np.zeros(0), np.zeros(0))


def member(arr: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Naive closed-interval membership."""
    out = np.zeros(len(x), dtype=bool)
    for s, e in arr:
        out |= (x >= s) & (x <= e)
    return out


PROBES = (np.arange(-4, 170) + 0.5) * GRID / 2  # quarter-grid points, never on an edge


# ----------------------------------------------------------------------------- IntervalSet
@FAST
@given(a=epochs(), b=epochs())
def test_interval_algebra_matches_grid_sets(a, b):
    A, B = iset(a), iset(b)
    ma, mb = member(a, PROBES), member(b, PROBES)
    for result, expected in (
        (A.union(B), ma | mb),
        (A.intersect(B), ma & mb),
        (A.set_diff(B), ma & ~mb),
    ):
        vals = np.asarray(result.values)
        assert vals.ndim == 2 and vals.shape[1] == 2
        assert np.all(vals[:, 0] < vals[:, 1])
        assert np.all(vals[1:, 0] > vals[:-1, 1])  # sorted and disjoint
        np.testing.assert_array_equal(member(vals, PROBES), expected)


@FAST
@given(a=epochs(), b=epochs())
def test_interval_algebra_matches_pynapple(a, b):
    A, B = iset(a), iset(b)
    pa, pb = pnap.IntervalSet(a[:, 0], a[:, 1]), pnap.IntervalSet(b[:, 0], b[:, 1])
    for op in ("union", "intersect", "set_diff"):
        ours = np.asarray(getattr(A, op)(B).values).reshape(-1, 2)
        ref = np.asarray(getattr(pa, op)(pb).values).reshape(-1, 2)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12, err_msg=op)


# ------------------------------------------------------------------------- Ts / Tsd vs naive
@FAST
@given(t=times(), ep=epochs(min_size=1))
def test_restrict_matches_naive(t, ep):
    ts = Ts(t=t)
    keep = member(ep, t)
    r = ts.restrict(iset(ep))
    np.testing.assert_array_equal(np.asarray(r.t), t[keep])
    tsd = Tsd(t=t, d=np.arange(len(t)) * 2.0)
    np.testing.assert_array_equal(np.asarray(tsd.restrict(iset(ep)).values), (np.arange(len(t)) * 2.0)[keep])


def naive_count(t: np.ndarray, ep: np.ndarray, bin_size: float | None):
    """pynapple's documented binning written as plain loops."""
    centres, counts = [], []
    for s, e in ep:
        inside = [x for x in t if s <= x <= e]
        if bin_size is None:
            centres.append(s + (e - s) / 2)
            counts.append(len(inside))
            continue
        nb = int(np.ceil((e + bin_size - s) / bin_size)) if (e - s) > bin_size else 1
        left = s
        for _ in range(nb):
            if left + bin_size / 2 > e:
                break
            right = np.round(left + bin_size, 9)
            centres.append(left + bin_size / 2)
            counts.append(sum(1 for x in inside if left <= x < right))
            left = right
    return np.array(centres), np.array(counts, dtype=np.int64)


@FAST
@given(t=times(), ep=epochs(min_size=1), bin_size=st.sampled_from([None, 0.5, 1.0, 0.3, 2.75, 7.0]))
def test_count_matches_naive(t, ep, bin_size):
    centres, counts = naive_count(t, ep, bin_size)
    out = Ts(t=t).count(bin_size, ep=iset(ep))
    np.testing.assert_allclose(np.asarray(out.t), centres, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(out.values), counts)


@FAST
@given(t=times(max_size=30), target=times(max_size=40), ep=epochs(min_size=1))
def test_value_from_closest_matches_naive(t, target, ep):
    d = np.arange(len(target), dtype=float) * 3.0 + 1.0
    out = Ts(t=t).value_from(Tsd(t=target, d=d), ep=iset(ep))
    exp_t, exp_d = [], []
    for s, e in ep:
        tt = [x for x in t if s <= x <= e]
        cand = [j for j, y in enumerate(target) if s <= y <= e]
        for x in tt:
            exp_t.append(x)
            c = [(abs(target[j] - x), j) for j in cand]
            exp_d.append(d[min(c)[1]] if c else np.nan)
    np.testing.assert_array_equal(np.asarray(out.t), np.array(exp_t))
    got = np.asarray(out.values, dtype=float)
    exp = np.array(exp_d, dtype=float)
    # ties (equal distance to two targets) may go either way; compare only unambiguous points
    tie = np.zeros(len(exp_t), dtype=bool)
    for i, x in enumerate(exp_t):
        s, e = next((s, e) for s, e in ep if s <= x <= e)  # targets of the same epoch only
        dist = np.sort(np.abs(target[(target >= s) & (target <= e)] - x))
        tie[i] = len(dist) > 1 and dist[0] == dist[1]
    np.testing.assert_array_equal(got[~tie], exp[~tie])


@FAST
@given(t=times(max_size=30), target=times(max_size=40), ep=epochs(min_size=1),
       mode=st.sampled_from(["closest", "before", "after"]))
def test_value_from_matches_pynapple(t, target, ep, mode):
    d = np.arange(len(target), dtype=float) * 3.0 + 1.0
    if len(target) == 0:
        return
    out = Ts(t=t).value_from(Tsd(t=target, d=d), ep=iset(ep), mode=mode)
    ref = pnap.Ts(t=t).value_from(pnap.Tsd(t=target, d=d), ep=pnap.IntervalSet(ep[:, 0], ep[:, 1]), mode=mode)
    np.testing.assert_array_equal(np.asarray(out.t), ref.t)
    np.testing.assert_array_equal(np.asarray(out.values, dtype=float), np.asarray(ref.values, dtype=float))


# --------------------------------------------------------------------------- lazy == memory
@st.composite
def lazy_case(draw):
    t = draw(times(max_size=80))
    n = len(t)
    # interleave junk rows in the base; segments cut them out again
    n_junk = draw(st.integers(0, 6))
    junk_at = sorted(draw(st.lists(st.integers(0, n), min_size=n_junk, max_size=n_junk)))
    base_t, base_d, keep = [], [], []
    d = np.arange(n, dtype=float) * 0.5 - 3
    j = 0
    for i in range(n + 1):
        while j < len(junk_at) and junk_at[j] == i:
            base_t.append(-1e9)
            base_d.append(np.nan)
            keep.append(False)
            j += 1
        if i < n:
            base_t.append(t[i])
            base_d.append(d[i])
            keep.append(True)
    keep = np.array(keep, dtype=bool)
    rows = np.flatnonzero(keep)
    # runs of kept rows -> segments
    if len(rows):
        breaks = np.flatnonzero(np.diff(rows) > 1)
        starts = np.concatenate([[rows[0]], rows[breaks + 1]])
        stops = np.concatenate([rows[breaks], [rows[-1]]]) + 1
        segs = np.stack([starts, stops], axis=1)
    else:
        segs = np.zeros((0, 2), dtype=np.int64)
    return t, d, np.array(base_t), np.array(base_d), segs


@FAST
@given(case=lazy_case(), ep=epochs(min_size=1), bin_size=st.sampled_from([None, 0.5, 1.3]))
def test_lazy_equals_memory(case, ep, bin_size):
    t, d, base_t, base_d, segs = case
    if len(t) == 0:
        return
    support = IntervalSet(-2.0, 42.0)
    lazy_t = LazyArray(base_t).select(segs)
    lazy_d = LazyArray(base_d).select(segs)
    np.testing.assert_array_equal(lazy_t.load(), t)
    lazy = Tsd(t=lazy_t, d=lazy_d, time_support=support)
    mem = Tsd(t=t, d=d, time_support=support)
    assert lazy.is_lazy and not mem.is_lazy
    E = iset(ep)
    lr, mr = lazy.restrict(E), mem.restrict(E)
    np.testing.assert_array_equal(np.asarray(lr.t), np.asarray(mr.t))
    np.testing.assert_array_equal(np.asarray(lr.values), np.asarray(mr.values))
    a, b = ep[0, 0], ep[-1, 1]
    np.testing.assert_array_equal(np.asarray(lazy.get(a, b).t), np.asarray(mem.get(a, b).t))
    np.testing.assert_array_equal(np.asarray(lazy.get(a, b).values), np.asarray(mem.get(a, b).values))
    lc, mc = lazy.count(bin_size, ep=E), mem.count(bin_size, ep=E)
    np.testing.assert_array_equal(np.asarray(lc.t), np.asarray(mc.t))
    np.testing.assert_array_equal(np.asarray(lc.values), np.asarray(mc.values))
    lts, mts = Ts(t=lazy_t, time_support=support), Ts(t=t, time_support=support)
    np.testing.assert_array_equal(np.asarray(lts.restrict(E).t), np.asarray(mts.restrict(E).t))
    np.testing.assert_array_equal(np.asarray(lts.count(bin_size, ep=E).values), np.asarray(mts.count(bin_size, ep=E).values))


@pytest.mark.parametrize("seed", range(3))
def test_lazy_tsgroup_equals_memory_random_splits(seed):
    from napstream.core import TsGroup

    rng = np.random.default_rng(seed)
    support = IntervalSet(0.0, 50.0)
    units = {k: np.sort(rng.uniform(0, 50, int(rng.integers(0, 200)))) for k in range(5)}
    flat = np.concatenate(list(units.values()))
    bounds = np.cumsum([0] + [len(v) for v in units.values()])
    lazy = TsGroup({k: Ts(t=LazyArray(flat).select([[bounds[k], bounds[k + 1]]]), time_support=support)
                    for k in units}, time_support=support)
    mem = TsGroup({k: Ts(t=v, time_support=support) for k, v in units.items()}, time_support=support)
    cuts = np.sort(rng.uniform(0, 50, 6))
    ep = IntervalSet(cuts[0::2], cuts[1::2])
    for bs in (None, 0.7):
        np.testing.assert_array_equal(lazy.count(bs, ep).values, mem.count(bs, ep).values)
    for k in units:
        np.testing.assert_array_equal(np.asarray(lazy.restrict(ep)[k].t), np.asarray(mem.restrict(ep)[k].t))
        np.testing.assert_array_equal(np.asarray(lazy.get(10, 20)[k].t), np.asarray(mem.get(10, 20)[k].t))


@FAST
@given(units=st.lists(times(max_size=40), min_size=1, max_size=4), ep=epochs(min_size=1),
       bin_size=st.sampled_from([None, 0.5, 0.3, 1.7, 0.0123456789123]))
def test_tsgroup_count_matches_naive(units, ep, bin_size):
    from napstream.core import TsGroup

    group = TsGroup({k: Ts(t=t) for k, t in enumerate(units)}, time_support=IntervalSet(-2.0, 42.0))
    out = group.count(bin_size, ep=iset(ep))
    for k, t in enumerate(units):
        centres, counts = naive_count(t, ep, bin_size)
        np.testing.assert_allclose(np.asarray(out.t), centres, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(out.values)[:, k], counts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       ep=epochs(min_size=1), bin_size=st.sampled_from([0.05, 0.5, 1.7]),
       budget=st.sampled_from([64 * 1024, 100 * 1024, 2**20]))
def test_lazy_tsgroup_binned_count_any_block_size(sizes, seed, ep, bin_size, budget):
    from napstream.config import config
    from napstream.core import TsGroup

    rng = np.random.default_rng(seed)
    # half the spikes sit exactly on the grid, where bin edges fall (ties must go to the right bin)
    units = [np.sort(np.concatenate([rng.uniform(-2.0, 42.0, n - n // 2),
                                     np.round(rng.uniform(-2.0, 42.0, n // 2) / GRID) * GRID])) for n in sizes]
    flat = np.concatenate(units)
    bounds = np.cumsum([0] + sizes)
    support = IntervalSet(-2.0, 42.0)
    lazy = TsGroup({k: Ts(t=LazyArray(flat).select([[bounds[k], bounds[k + 1]]]), time_support=support)
                    for k in range(len(units))}, time_support=support)
    mem = TsGroup({k: Ts(t=t, time_support=support) for k, t in enumerate(units)}, time_support=support)
    with config.override(memory_budget=budget):
        got = lazy.count(bin_size, ep=iset(ep))
    ref = mem.count(bin_size, ep=iset(ep))
    np.testing.assert_array_equal(np.asarray(got.values), np.asarray(ref.values))
    np.testing.assert_array_equal(np.asarray(got.t), np.asarray(ref.t))
