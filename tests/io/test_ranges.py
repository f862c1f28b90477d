"""Range helpers against brute-force references (sets of byte offsets)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napstream.errors import InvalidInputError
from napstream.io.ranges import ByteRange, block_bounds, blocks_for, check_range, coalesce_ranges, normalize_ranges

pairs = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)).map(sorted).map(tuple), max_size=25)


@settings(max_examples=200, deadline=None)
@given(ranges=pairs, gap=st.integers(0, 20))
def test_coalesce_covers_inputs_and_only_small_holes(ranges, gap):
    out = coalesce_ranges(ranges, max_gap=gap)
    wanted = {i for a, b in ranges for i in range(a, b)}
    covered = {i for a, b in out for i in range(a, b)}
    assert wanted <= covered
    assert all(a < b for a, b in out)
    assert all(out[k].end + gap < out[k + 1].start for k in range(len(out) - 1))  # separated by > gap
    for a, b in out:  # every merged range starts and ends on input bytes
        assert a in wanted and b - 1 in wanted
    if gap == 0:
        assert covered == wanted


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.integers(0, 400), unique=True, max_size=30), cap=st.integers(1, 80), gap=st.integers(0, 30))
def test_coalesce_max_size(points, cap, gap):
    pts = sorted(points)
    ranges = [(a, b) for a, b in zip(pts[0::2], pts[1::2]) if b - a <= cap]  # disjoint, each <= cap
    out = coalesce_ranges(ranges, max_gap=gap, max_size=cap)
    wanted = {i for a, b in ranges for i in range(a, b)}
    assert wanted <= {i for a, b in out for i in range(a, b)}
    assert all(r.length <= cap for r in out)
    assert len(out) <= len(ranges)


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, 500), n=st.integers(0, 200), bs=st.integers(1, 64))
def test_blocks_cover_range_exactly(a, n, bs):
    b = a + n
    size = 700
    idx = list(blocks_for(a, b, bs))
    covered = {i for k in idx for i in range(*block_bounds(k, bs, size))}
    assert set(range(a, b)) <= covered
    if idx:  # no useless block at either end
        assert block_bounds(idx[0], bs, size).end > a and block_bounds(idx[-1], bs, size).start < b
    else:
        assert n == 0


def test_check_and_normalize():
    assert check_range(0, 10, 10) == ByteRange(0, 10) and ByteRange(2, 5).length == 3
    with pytest.raises(InvalidInputError, match=r"\[4, 3\)"):
        check_range(4, 3, 10)
    assert normalize_ranges([(1, 2)], 5) == [(1, 2)]
    with pytest.raises(InvalidInputError, match="max_gap"):
        coalesce_ranges([(0, 1)], max_gap=-1)
