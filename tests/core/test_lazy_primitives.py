"""LazyArray and TimeIndex against plain numpy on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from napstream.config import config
from napstream.core.lazy import LazyArray, normalize_segments
from napstream.core.time_index import ArrayTimeIndex, RegularTimeIndex, as_time_index


class Counting:
    """numpy-backed array-like that records keys (only contiguous slices are allowed)."""

    def __init__(self, arr, chunks=None):
        self.arr, self.shape, self.dtype, self.chunks = arr, arr.shape, arr.dtype, chunks
        self.keys = []

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        assert all(isinstance(k, slice) and k.step in (None, 1) for k in key), key
        self.keys.append(key)
        return self.arr[key]


def random_segments(rng, n, k=5):
    cuts = np.sort(rng.choice(np.arange(n + 1), size=min(2 * k, n + 1), replace=False))
    return cuts.reshape(-1, 2) if len(cuts) % 2 == 0 else cuts[:-1].reshape(-1, 2)


@pytest.mark.parametrize("seed", range(8))
def test_lazy_array_select_read_index(seed):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(300, 3))
    lazy = LazyArray(Counting(base), scale=2.0, offset=1.0)
    ref = base * 2.0 + 1.0
    seg = random_segments(rng, 300)
    rows = np.concatenate([np.arange(a, b) for a, b in seg]) if len(seg) else np.zeros(0, int)
    view = lazy.select(seg)
    assert view.shape == (len(rows), 3)
    np.testing.assert_array_equal(view.load(), ref[rows])
    seg2 = random_segments(rng, len(rows), 3)
    rows2 = np.concatenate([np.arange(a, b) for a, b in seg2]) if len(seg2) else np.zeros(0, int)
    np.testing.assert_array_equal(view.select(seg2).load(), ref[rows][rows2])
    if len(rows) > 4:
        i, j = sorted(rng.integers(0, len(rows), 2))
        np.testing.assert_array_equal(np.asarray(view[i:j]), ref[rows][i:j])
        np.testing.assert_array_equal(view[i], ref[rows][i])
        np.testing.assert_array_equal(view[-1], ref[rows][-1])
        np.testing.assert_array_equal(view[::3], ref[rows][::3])
        np.testing.assert_array_equal(view[[0, 2, 1]], ref[rows][[0, 2, 1]])
        np.testing.assert_array_equal(np.asarray(view[i:j, 1]), ref[rows][i:j, 1])
        np.testing.assert_array_equal(view[ref[rows][:, 0] > 0], ref[rows][ref[rows][:, 0] > 0])
    blocks = [b for _, b in lazy.iter_rows(64)]
    np.testing.assert_array_equal(np.concatenate(blocks), ref)


def test_normalize_segments():
    np.testing.assert_array_equal(normalize_segments([[0, 2], [2, 5], [7, 7], [8, 9]], 10), [[0, 5], [8, 9]])
    with pytest.raises(ValueError):
        normalize_segments([[3, 2]], 10)
    with pytest.raises(ValueError):
        normalize_segments([[0, 5], [4, 6]], 10)


@pytest.mark.parametrize("seed", range(8))
def test_lazy_time_index_searchsorted(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 50, 5000))
    t[100:110] = t[100]  # duplicates
    rec = Counting(t, chunks=(int(rng.integers(1, 700)),))
    idx = ArrayTimeIndex(LazyArray(rec))
    q = np.concatenate([rng.uniform(-1, 51, 200), t[rng.integers(0, 5000, 20)], [t[100]]])
    for side in ("left", "right"):
        np.testing.assert_array_equal(idx.searchsorted(q, side), np.searchsorted(t, q, side))
        assert idx.searchsorted(float(q[0]), side) == np.searchsorted(t, q[0], side)
    seg = random_segments(rng, 5000)
    sub, sub_t = idx.select(seg), np.concatenate([t[a:b] for a, b in seg])
    np.testing.assert_array_equal(sub.load(), sub_t)
    np.testing.assert_array_equal(sub.searchsorted(q, "left"), np.searchsorted(sub_t, q, "left"))
    assert idx.first == t[0] and idx.last == t[-1] and idx[7] == t[7]


@pytest.mark.parametrize("seed", range(8))
def test_regular_time_index(seed):
    rng = np.random.default_rng(seed)
    start, rate, n = float(rng.uniform(-10, 10)), float(rng.choice([1.0, 30.0, 1250.0, 30000.0])), 20000
    idx = RegularTimeIndex(start, rate, n)
    t = np.arange(n) / rate + start
    np.testing.assert_array_equal(idx.load(), t)
    q = np.concatenate([rng.uniform(t[0] - 1, t[-1] + 1, 300), t[rng.integers(0, n, 50)]])
    for side in ("left", "right"):
        np.testing.assert_array_equal(idx.searchsorted(q, side), np.searchsorted(t, q, side))
    seg = random_segments(rng, n)
    sub, sub_t = idx.select(seg), np.concatenate([t[a:b] for a, b in seg])
    np.testing.assert_array_equal(sub.load(), sub_t)
    for side in ("left", "right"):
        np.testing.assert_array_equal(sub.searchsorted(q, side), np.searchsorted(sub_t, q, side))
    if len(sub_t) > 10:
        np.testing.assert_array_equal(sub[3:9].load(), sub_t[3:9])


def test_as_time_index_units():
    idx = as_time_index(np.array([1500.0, 2500.0]), "ms")
    np.testing.assert_array_equal(idx.load(), [1.5, 2.5])
    lazy = as_time_index(LazyArray(np.array([1500.0, 2500.0])), "ms")
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.load(), [1.5, 2.5])


def test_lazy_count_streams_in_budget_blocks():
    import napstream as nap

    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 100, 50_000))
    rec = Counting(t, chunks=(5000,))
    lazy = nap.Ts(t=LazyArray(rec))
    with config.override(memory_budget=64 * 4096):
        rec.keys.clear()
        got = lazy.count(0.25)
    biggest = max(k[0].stop - k[0].start for k in rec.keys)
    assert biggest <= 4096 + 5000  # budget-bounded blocks (and searchsorted chunks)
    np.testing.assert_array_equal(got.values, nap.Ts(t=t).count(0.25).values)
    np.testing.assert_array_equal(got.t, nap.Ts(t=t).count(0.25).t)


def test_lazy_search_over_unsorted_stored_times_is_refused_not_answered():
    """Blocks sorted inside but out of order between them: a binary search would silently answer wrong
    (no block it reads is unsorted on its own); the rows it probes show the disorder."""
    from napstream.errors import FileFormatError

    t = np.arange(1000, dtype=np.float64)
    t[500:600], t[600:700] = t[600:700].copy(), t[500:600].copy()  # two blocks swapped
    idx = ArrayTimeIndex(LazyArray(Counting(t, chunks=(100,))))
    with pytest.raises(FileFormatError, match="must be sorted"):
        idx.searchsorted(np.array([550.5, 650.5, 120.0]), "left")
