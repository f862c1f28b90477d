"""Pure kernels of TsGroup: interval unions, pynapple's bin edges, counting a sorted time index."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import config
from .interval_set import IntervalSet

__all__ = ["union_intervals", "is_subset", "bin_edges", "count_index", "rows_below"]


def union_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals (touching ones merge), like pynapple's ``jitunion_isets``.

    >>> union_intervals(np.array([0.0, 5, 2]), np.array([3.0, 6, 4]))
    (array([0., 5.]), array([4., 6.]))
    """
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    if starts.size == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.concatenate([[True], s[1:] > run_end[:-1]])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(s) - 1]])
    return s[first], run_end[last]


def is_subset(inner: IntervalSet, outer: IntervalSet) -> bool:
    """True when every interval of ``inner`` lies inside one interval of ``outer``."""
    if len(inner) == 0:
        return True
    if len(outer) == 0:
        return False
    k = np.searchsorted(outer.start, inner.start, side="right") - 1
    ok = k >= 0
    kc = np.clip(k, 0, None)
    return bool(np.all(ok & (inner.end <= outer.end[kc])))


def bin_edges(start: float, end: float, bin_size: float) -> np.ndarray:
    """Left edges of the bins of one epoch plus the right edge of the last bin (pynapple's rules).

    Edges follow pynapple's recurrence ``e[0] = start``, ``e[j+1] = round(e[j] + bin_size, 9)``
    exactly; a bin is kept while its centre ``e[j] + bin_size / 2 <= end``.

    >>> bin_edges(0.0, 1.0, 0.25)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    n = int(np.ceil((end + bin_size - start) / bin_size)) if (end - start) > bin_size else 1
    j = np.arange(n + 1, dtype=np.float64)
    e = np.round(start + j * bin_size, 9)
    e[0] = start
    bad = np.flatnonzero(np.round(e[:-1] + bin_size, 9) != e[1:])
    if bad.size and n > 1:  # second guess: constant rounded step after the first edge
        e[2:] = np.round(e[1] + (j[2:] - 1) * np.round(bin_size, 9), 9)
        bad = np.flatnonzero(np.round(e[:-1] + bin_size, 9) != e[1:])
    if bad.size:  # exact sequential recurrence from the first mismatch (round(x*1e9)/1e9 == np.round)
        x = float(e[bad[0]])
        tail = []
        for _ in range(int(bad[0]), n):
            x = round((x + bin_size) * 1e9) / 1e9
            tail.append(x)
        e[int(bad[0]) + 1:] = tail
    keep = (e[:-1] + bin_size / 2) <= end
    nb = n if keep.all() else int(np.argmin(keep))
    return e[: nb + 1]


def count_index(index: Any, starts: np.ndarray, ends: np.ndarray, edges: list[np.ndarray] | None) -> np.ndarray:
    """Counts of a sorted time index per epoch (``edges`` None) or per bin, by binary searches only.

    ``index`` is a :class:`~napstream.core.time_index.TimeIndex` (lazy ones read only probe blocks).
    Times count in ``[start, end]``; within an epoch, bin ``j`` holds ``edges[j] <= t < edges[j + 1]``.
    """
    lo = np.asarray(index.searchsorted(starts, "left"), dtype=np.int64)
    hi = np.maximum(np.asarray(index.searchsorted(ends, "right"), dtype=np.int64), lo)
    if edges is None:
        return hi - lo
    out = []
    for k, e in enumerate(edges):
        if len(e) > 1:
            out.append(np.diff(np.concatenate([[0], rows_below(index, e[1:], int(lo[k]), int(hi[k]))])))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def rows_below(index: Any, edges: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """For sorted ``edges``: how many rows of ``[lo, hi)`` have a time ``< edge``.

    Few edges: binary searches of the index (a lazy one reads only probe blocks). Many edges: the
    rows are binned into the edges (O(rows log edges + edges)); lazy rows are streamed in blocks
    sized by ``config.memory_budget``, each row read once.
    """
    if index.is_regular or len(edges) * (64 if index.is_lazy else 1) < hi - lo:
        return np.clip(np.asarray(index.searchsorted(edges, "left"), dtype=np.int64), lo, hi) - lo
    hist = np.zeros(len(edges) + 1, dtype=np.int64)
    step = max(1024, int(config.memory_budget) // 64) if index.is_lazy else max(hi - lo, 1)
    for a in range(lo, hi, step):
        b = np.searchsorted(edges, index.read(a, min(hi, a + step)), side="right")
        hist[b[0]: b[-1] + 1] += np.bincount(b - b[0])
    return np.cumsum(hist)[:-1]
