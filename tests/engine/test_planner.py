"""Chunk planning (core/chunking.py + engine/planner.py): coverage, margins, alignment, budgets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunking import plan_row_chunks, rows_for_budget
from napstream.engine.planner import plan
from napstream.errors import InvalidInputError, InvalidTypeError, MemoryBudgetError


@st.composite
def segments(draw):
    cuts = sorted(set(draw(st.lists(st.integers(0, 5000), min_size=2, max_size=10))))
    pairs = [(a, b) for a, b in zip(cuts[::2], cuts[1::2])]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@settings(max_examples=60, deadline=None)
@given(seg=segments(), rows=st.integers(1, 700), left=st.integers(0, 50), right=st.integers(0, 50),
       align=st.sampled_from([None, 1, 7, 64, 256]))
def test_chunks_cover_each_row_once_with_clipped_margins(seg, rows, left, right, align):
    chunks = plan_row_chunks(seg, rows, (left, right), align)
    covered = np.concatenate([np.arange(c.core_start, c.core_stop) for c in chunks] or [np.zeros(0, int)])
    expected = np.concatenate([np.arange(a, b) for a, b in seg] or [np.zeros(0, int)])
    np.testing.assert_array_equal(covered, expected)
    for c in chunks:
        a, b = seg[c.segment]
        assert 0 < c.core_stop - c.core_start <= rows
        assert c.read_start == max(a, c.core_start - left) and c.read_stop == min(b, c.core_stop + right)
        assert c.core_slice.stop - c.core_slice.start == c.core_stop - c.core_start
        if align and rows >= align and c.core_start != a:
            assert c.core_start % align == 0  # interior boundaries on storage chunks


def test_budget_minimum_is_exact():
    with pytest.raises(MemoryBudgetError, match="at least 1210 bytes"):
        rows_for_budget(10, 1209, margin=(50, 70))
    assert rows_for_budget(10, 1210, margin=(50, 70)) == 1
    assert rows_for_budget(10, 95_000, align=1000) == 9000
    with pytest.raises(InvalidInputError, match="margin"):
        rows_for_budget(10, 1000, margin=-1)


def test_plan_follows_epochs_storage_chunks_and_config(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("x", data=np.arange(10_000, dtype=np.int16), chunks=(300,))
    dset = h5py.File(tmp_path / "x.h5", "r")["x"]
    t = np.arange(10_000) / 100.0
    tsd = nap.Tsd(t=RegularTimeIndex(0.0, 100.0, 10_000), d=LazyArray(dset))
    ep = nap.IntervalSet([1.0, 50.0], [20.0, 80.0])
    p = plan(tsd, ep=ep, max_memory=30_000)
    assert p.rows % 300 == 0
    rows = np.concatenate([np.arange(tk.rows.core_start, tk.rows.core_stop) for tk in p.tasks])
    np.testing.assert_array_equal(t[rows], t[((t >= 1.0) & (t <= 20.0)) | ((t >= 50.0) & (t <= 80.0))])
    for tk in p.tasks[1:]:
        if tk.rows.core_start not in (100, 5000):
            assert tk.rows.core_start % 300 == 0
    with nap.config.override(memory_budget="60kB"):
        assert plan(tsd, ep=ep).rows > p.rows
    with pytest.raises(InvalidTypeError, match="ep"):
        plan(tsd, ep=[0, 1])
    with pytest.raises(InvalidTypeError, match="obj"):
        plan(np.zeros(4))


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 400), min_size=1, max_size=4), rows=st.integers(1, 60),
    left=st.integers(0, 9), right=st.integers(0, 9), align=st.sampled_from([None, 1, 7, 16]),
    tail=st.integers(0, 4),
)
def test_tail_split_still_partitions_every_segment(lengths, rows, left, right, align, tail):
    """Cutting the last chunks in halves keeps cores disjoint and covering, margins inside segments."""
    from napstream.core.chunking import plan_row_chunks

    starts = np.cumsum([0] + [n + 3 for n in lengths[:-1]])
    segments = np.stack([starts, starts + np.asarray(lengths)], axis=1)
    plain = plan_row_chunks(segments, rows, (left, right), align)
    split = plan_row_chunks(segments, rows, (left, right), align, tail_split=tail)
    if tail and len(plain) > 2 * tail:
        unit = align or 1
        assert len(split) > len(plain) or all((c.core_stop - c.core_start) // 2 < unit for c in plain[-tail:])
    for k, (a, b) in enumerate(segments):
        mine = [c for c in split if c.segment == k]
        covered = np.concatenate([np.arange(c.core_start, c.core_stop) for c in mine]) if mine else np.zeros(0)
        np.testing.assert_array_equal(covered, np.arange(a, b))
        for c in mine:
            assert c.read_start == max(a, c.core_start - left) and c.read_stop == min(b, c.core_stop + right)


def test_max_rows_caps_chunks_below_the_budget():
    from napstream.engine.protocol import ChunkAlgorithmBase

    class Capped(ChunkAlgorithmBase):
        max_rows = 100

    series = (RegularTimeIndex(0.0, 10.0, 1000), LazyArray(np.zeros((1000, 2))))
    loose = plan(series, ChunkAlgorithmBase(), max_memory="1MB")
    capped = plan(series, Capped(), max_memory="1MB")
    assert loose.rows > 100 and capped.rows == 100
    assert max(t.rows.core_stop - t.rows.core_start for t in capped.tasks) <= 100
    assert plan(series, Capped(), max_memory=2000).rows < 100  # a smaller budget still wins
