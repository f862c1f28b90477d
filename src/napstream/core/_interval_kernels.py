"""Pure, vectorised interval algebra on plain float arrays (no objects, no I/O, no numba).

An interval set here is a pair of 1-D float64 arrays ``(starts, ends)`` that are sorted, with
``starts[k] < ends[k]`` and ``ends[k] < starts[k + 1]`` (what :func:`fix_intervals` produces).
Results reproduce pynapple 0.11's sweeps exactly, including how touching intervals are treated.

Examples
--------
>>> import numpy as np
>>> s, e = union(np.array([0., 10.]), np.array([5., 20.]), np.array([4.]), np.array([12.]))
>>> s.tolist(), e.tolist()
([0.0], [20.0])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FIX_WARNINGS", "fix_intervals", "union", "intersect", "set_diff", "merge_close",
    "in_interval_rows", "split_points",
]

#: messages of :func:`fix_intervals` flags, in flag order (same text as pynapple)
FIX_WARNINGS = (
    "Some starts and ends are equal. Removing 1 microsecond!",
    "Some ends precede the relative start. Dropping them!",
    "Some starts precede the previous end. Joining them!",
    "Some epochs have no duration",
)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(lo[i], hi[i])`` and the owner ``i`` of each element (hi >= lo)."""
    counts = np.maximum(hi - lo, 0).astype(np.int64)
    owner = np.repeat(np.arange(len(lo)), counts)
    if owner.size == 0:
        return np.zeros(0, dtype=np.int64), owner
    offsets = np.cumsum(counts) - counts
    pos = np.arange(owner.size, dtype=np.int64) - offsets[owner] + lo[owner]
    return pos.astype(np.int64), owner


def fix_intervals(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clean sorted starts/ends into a valid interval set, as pynapple's constructor does.

    ``start`` and ``end`` must each be sorted and ``start <= end`` element-wise. Runs of
    overlapping intervals (``start[k+1] < end[k]``) are joined; zero-length intervals that start a
    run are dropped; an interval ending exactly where the next one starts loses 1 microsecond.

    Returns
    -------
    data : (n, 2) float64 array
    flags : (4,) bool array, which of :data:`FIX_WARNINGS` apply

    Examples
    --------
    >>> data, flags = fix_intervals(np.array([0., 3., 5.]), np.array([4., 5., 6.]))
    >>> data.tolist(), flags.tolist()
    ([[0.0, 4.999999], [5.0, 6.0]], [True, False, True, False])
    """
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)
    flags = np.zeros(4, dtype=bool)
    m = len(start)
    if m == 0:
        return np.zeros((0, 2), dtype=np.float64), flags
    if (end > start).all() and (start[1:] > end[:-1]).all():  # already clean: the common case
        return np.column_stack((start, end)), flags
    if (end < start).any():  # intervals ending before they start: pynapple's sequential rule
        return _fix_intervals_loop(start, end)
    first = np.flatnonzero(np.concatenate(([True], start[1:] >= end[:-1])))
    last = np.concatenate((first[1:] - 1, [m - 1]))
    size = last - first + 1
    flags[2] = bool((size > 1).any())
    empty = (size == 1) & (end[first] == start[first])
    flags[3] = bool(empty.any())
    first, last = first[~empty], last[~empty]
    new_end = end[last].copy()
    has_next = last < m - 1
    nxt = np.minimum(last + 1, m - 1)
    touch = has_next & (new_end == start[nxt])
    flags[0] = bool(touch.any())
    new_end[touch] -= 1.0e-6
    return np.column_stack((start[first], new_end)), flags


def _fix_intervals_loop(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pynapple's interval clean-up, step by step (used when some ends precede their start): empty
    intervals and intervals ending before their start are dropped, overlapping runs joined."""
    flags = np.zeros(4, dtype=bool)
    m = len(start)
    out = []
    i = 0
    while i < m:
        new_start, new_end = start[i], end[i]
        while i < m and end[i] == start[i]:
            flags[3] = True
            i += 1
        if i < m:
            new_start, new_end = start[i], end[i]
        while i < m and end[i] < start[i]:
            flags[1] = True
            i += 1
        if i < m:
            new_start, new_end = start[i], end[i]
        if i >= m:
            break
        while i < m - 1 and start[i + 1] < end[i]:
            flags[2] = True
            i += 1
            new_end = max(end[i - 1], end[i])
        if i < m - 1 and new_end == start[i + 1]:
            flags[0] = True
            new_end -= 1.0e-6
        out.append((new_start, new_end))
        i += 1
    return np.array(out, dtype=np.float64).reshape(-1, 2), flags


def union(s1: np.ndarray, e1: np.ndarray, s2: np.ndarray, e2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of two interval sets (pynapple's sweep: intervals that merely touch are not joined
    unless they touch a run that already overlaps).

    Examples
    --------
    >>> union(np.array([0.]), np.array([5.]), np.array([5.]), np.array([9.]))
    (array([0., 5.]), array([5., 9.]))
    """
    s = np.concatenate((s1, s2)).astype(np.float64)
    e = np.concatenate((e1, e2)).astype(np.float64)
    if len(s) == 0:
        return s, e
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)[:-1]
    nxt = s[1:]
    strict = nxt < reach
    touch = nxt == reach
    # a touching link counts only when the run it joins already holds a real overlap
    kind = np.where(strict, 1, np.where(touch, 0, -1))
    not_touch = np.flatnonzero(kind != 0)
    prev = np.full(len(kind), -1, dtype=np.int64)
    if len(kind):
        marker = np.full(len(kind), -1, dtype=np.int64)
        marker[not_touch] = not_touch
        prev_idx = np.maximum.accumulate(marker)
        prev[1:] = prev_idx[:-1]
    run_overlaps = (prev >= 0) & (kind[np.maximum(prev, 0)] == 1)
    link = strict | (touch & run_overlaps)
    first = np.flatnonzero(np.concatenate(([True], ~link)))
    ends = np.maximum.reduceat(e, first)
    return s[first], ends


def _overlap_ranges(s1, e1, s2, e2) -> tuple[np.ndarray, np.ndarray]:
    """For each interval of set 1, the range [lo, hi) of set-2 intervals strictly overlapping it."""
    lo = np.searchsorted(e2, s1, side="right")
    hi = np.searchsorted(s2, e1, side="left")
    return lo, np.maximum(hi, lo)


def intersect(s1, e1, s2, e2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection of two interval sets; also the (i, j) pair of source rows of each piece.

    Examples
    --------
    >>> s, e, m = intersect(np.array([0.]), np.array([10.]), np.array([2., 8.]), np.array([3., 12.]))
    >>> s.tolist(), e.tolist(), m.tolist()
    ([2.0, 8.0], [3.0, 10.0], [[0, 0], [0, 1]])
    """
    s1, e1, s2, e2 = (np.asarray(x, dtype=np.float64) for x in (s1, e1, s2, e2))
    lo, hi = _overlap_ranges(s1, e1, s2, e2)
    j, i = _ranges(lo, hi)
    s = np.maximum(s1[i], s2[j])
    e = np.minimum(e1[i], e2[j])
    return s, e, np.column_stack((i, j)).astype(np.int64)


def set_diff(s1, e1, s2, e2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Set 1 minus set 2; also the set-1 row each piece comes from.

    Examples
    --------
    >>> s, e, m = set_diff(np.array([0.]), np.array([10.]), np.array([2.]), np.array([3.]))
    >>> s.tolist(), e.tolist(), m.tolist()
    ([0.0, 3.0], [2.0, 10.0], [0, 0])
    """
    s1, e1, s2, e2 = (np.asarray(x, dtype=np.float64) for x in (s1, e1, s2, e2))
    lo, hi = _overlap_ranges(s1, e1, s2, e2)
    counts = hi - lo
    # pieces of interval i: [s1, s2[lo]], [e2[lo], s2[lo+1]], ..., [e2[hi-1], e1]  (counts + 1)
    j, owner = _ranges(lo, hi)
    n_pieces = counts + 1
    piece_owner = np.repeat(np.arange(len(s1)), n_pieces)
    offsets = np.cumsum(n_pieces) - n_pieces
    starts = np.empty(piece_owner.size)
    ends = np.empty(piece_owner.size)
    first_pos = offsets
    last_pos = offsets + counts
    starts[first_pos] = s1
    ends[last_pos] = e1
    # the k-th covering interval of owner i ends piece k and starts piece k + 1
    k = j - lo[owner]
    ends[offsets[owner] + k] = s2[j]
    starts[offsets[owner] + k + 1] = e2[j]
    keep = ends > starts
    return starts[keep], ends[keep], piece_owner[keep].astype(np.int64)


def merge_close(s: np.ndarray, e: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Join consecutive intervals separated by a gap <= ``threshold`` (non-empty input).

    Examples
    --------
    >>> merge_close(np.array([0., 5.5, 20.]), np.array([5., 10., 30.]), 1.0)
    (array([ 0., 20.]), array([10., 30.]))
    """
    keep = (s[1:] - e[:-1]) > threshold
    return np.concatenate((s[:1], s[1:][keep])), np.concatenate((e[:-1][keep], e[-1:]))


def in_interval_rows(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Label rows ``[lo[k], hi[k])`` with ``k`` and every other row of ``n`` with NaN.

    ``lo``/``hi`` are the searchsorted positions of the starts (left) and ends (right) in the
    timestamps, so the intervals are closed like pynapple's ``in_interval``.

    Examples
    --------
    >>> in_interval_rows(np.array([1]), np.array([3]), 4).tolist()
    [nan, 0.0, 0.0, nan]
    """
    out = np.full(n, np.nan)
    pos, owner = _ranges(np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64))
    out[pos] = owner
    return out


def split_points(s: np.ndarray, e: np.ndarray, size: float, precision: int = 9):
    """Cut each interval longer than ``size`` into ``size``-long pieces (pynapple's ``split``).

    Returns starts, ends (not yet shortened by 1 microsecond) and the source row of each piece.

    Examples
    --------
    >>> a, b, m = split_points(np.array([0.]), np.array([2.5]), 1.0)
    >>> a.tolist(), b.tolist(), m.tolist()
    ([0.0, 1.0], [1.0, 2.0], [0, 0])
    """
    durations = np.round(e - s, precision)
    rows = np.flatnonzero(durations > size)
    counts = np.ceil((e[rows] - s[rows]) / size).astype(np.int64)
    k, owner = _ranges(np.zeros(len(rows), dtype=np.int64), counts)
    base = s[rows][owner]
    step = (base + size) - base  # what np.arange uses after its first two values
    starts = np.where(k == 1, base + size, base + k * step)
    starts = np.where(k == 0, base, starts)
    last = np.zeros(len(k), dtype=bool)
    if len(k):
        last[np.cumsum(counts) - 1] = True
    ends = np.empty(len(k))
    ends[:-1] = starts[1:]
    ends[last] = e[rows][owner[last]]
    starts = np.round(starts, precision)
    ends = np.round(ends, precision)
    keep = np.round(ends - starts, precision) >= size
    return starts[keep], ends[keep], rows[owner[keep]]
