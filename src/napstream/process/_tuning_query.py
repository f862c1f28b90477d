"""Which spikes (or samples) of a tuning curve's data fall in a chunk of its features.

:class:`_Query` holds one time index per unit (a TsGroup's units, or one continuous series) and
the rows of each inside every epoch; :meth:`_Query.read` gives, for one chunk's time range, each
unit's times (and, for continuous data, its values). Lazy spike times that fit the caller's
``load_bytes`` are read once per unit when the query is built (two binary searches per unit and
chunk over stored times cost far more than one read of each unit); others are searched per chunk.

Examples
--------
>>> import numpy as np
>>> from napstream.core.time_index import ArrayTimeIndex
>>> q = _Query([ArrayTimeIndex(np.arange(10.0))], np.array([0.0]), np.array([9.0]))
>>> [(u, t.tolist()) for u, t, _ in q.read(0, 2.0, 4.0)]
[(0, [2.0, 3.0, 4.0])]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v


class _Query:
    """Events (spikes) or samples (continuous data) assigned to the closest feature row."""

    def __init__(self, indexes: list[Any], starts: np.ndarray, ends: np.ndarray, data: Any = None,
                 load_bytes: int = 0) -> None:
        self.indexes = indexes
        self.data = data  # continuous: one index and its (n, c) data
        # in-memory timestamps are searched and sliced directly (no per-call wrapper cost)
        self.arrays = [_in_memory(ix) for ix in indexes]
        if data is None:
            self._load(load_bytes)
        self.segments = [v.unit_segments(ix if arr is None else _Loaded(arr), starts, ends)
                         for ix, arr in zip(indexes, self.arrays)]

    def _load(self, load_bytes: int) -> None:
        """Read the stored spike times of every unit at once when they all fit ``load_bytes``:
        two binary searches per unit and chunk over stored (lazy) times cost far more than one
        read of each unit (reads of a remote file are then served from its cache)."""
        lazy = [u for u, (ix, arr) in enumerate(zip(self.indexes, self.arrays))
                if arr is None and not getattr(ix, "is_regular", False)]
        if not lazy or sum(len(self.indexes[u]) for u in lazy) * 8 > load_bytes:
            return
        for u in lazy:
            ix = self.indexes[u]
            self.arrays[u] = np.asarray(ix.read(0, len(ix)), dtype=np.float64)

    #: per unit and epoch, the feature row closest to each of its spikes (:meth:`attach_closest`)
    closest: list[list[np.ndarray | None]] | None = None

    def attach_closest(self, ti: Any, feature_segments: np.ndarray, load_bytes: int) -> bool:
        """Find, once, the feature row closest to every spike (pynapple's ``value_from``: the
        closest sample, ties to the later one), epoch by epoch, from the features' timestamps.

        For loaded spike times whose features' timestamps fit ``load_bytes`` with them: a chunk
        of the features then needs only its values and its rows' bins (see ``_Tuning.update``),
        and this search can run while those values are still being read. Returns False (nothing
        attached) otherwise.
        """
        from ._spike_kernels import ClosestSampler

        self.closest = None
        if self.data is not None or any(a is None for a in self.arrays):
            return False
        seg = np.asarray(feature_segments, dtype=np.int64).reshape(-1, 2)
        rows = int((seg[:, 1] - seg[:, 0]).sum())
        if 8 * (rows + self.total()) > load_bytes:
            return False
        out: list[list[np.ndarray | None]] = [[None] * len(seg) for _ in self.arrays]
        for k, (a, b) in enumerate(seg):
            if b <= a:
                continue
            sampler = ClosestSampler(np.asarray(ti.read(int(a), int(b)), dtype=np.float64))
            for u, (arr, useg) in enumerate(zip(self.arrays, self.segments)):
                s0, s1 = int(useg[k, 0]), int(useg[k, 1])
                if s1 > s0:
                    rows_u = np.asarray(sampler(arr[s0:s1]), dtype=np.int64)
                    rows_u += a
                    out[u][k] = rows_u
        self.closest = out
        return True

    def total(self) -> int:
        return int(sum(int((s[:, 1] - s[:, 0]).sum()) for s in self.segments))

    def read(self, k: int, lo: float, hi: float) -> list[tuple[int, np.ndarray, Any]]:
        """(query number, times, rows or None) of the queries in ``[lo, hi]`` inside epoch ``k``."""
        out = []
        for u, (ix, seg, arr) in enumerate(zip(self.indexes, self.segments, self.arrays)):
            a, b = int(seg[k, 0]), int(seg[k, 1])
            if b <= a:
                continue
            if arr is not None:
                part = arr[a:b]
                i0 = a + int(part.searchsorted(lo, "left"))
                i1 = a + int(part.searchsorted(hi, "right"))
            else:
                i0 = max(a, int(ix.searchsorted(lo, "left")))
                i1 = min(b, int(ix.searchsorted(hi, "right")))
            if i1 > i0:
                rows = _read_rows(self.data, i0, i1) if self.data is not None else None
                out.append((u, arr[i0:i1] if arr is not None else ix.read(i0, i1), rows))
        return out


class _Loaded:
    """``searchsorted`` of loaded spike times (for ``unit_segments``)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def searchsorted(self, q: Any, side: str = "left") -> np.ndarray:
        return np.searchsorted(self.values, q, side=side)


def _in_memory(ix: Any) -> np.ndarray | None:
    values = getattr(ix, "values", None) if not getattr(ix, "is_regular", False) else None
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and values.ndim == 1:
        return values
    return None


def _read_rows(d: Any, i0: int, i1: int) -> np.ndarray:
    out = d.read(i0, i1) if hasattr(d, "read") else np.asarray(d[i0:i1])
    out = np.asarray(out, dtype=np.float64)
    return out.reshape(len(out), -1)


def held_features(d: Any, segments: np.ndarray, n_dims: int, block_rows: int,
                  load_bytes: int) -> list[tuple[int, int, np.ndarray]] | None:
    """The features' values of every epoch as ``(epoch, first row, (n, n_dims) float64 block)``,
    read in blocks of at most ``block_rows`` rows, when they fit ``load_bytes`` with their bins
    (None otherwise: the engine streams them). Small features (a position) are then read once for
    the edges and the counts instead of once per pass, with no per-chunk planning."""
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    rows = int((seg[:, 1] - seg[:, 0]).sum())
    if rows == 0 or 8 * rows * (n_dims + 1) > load_bytes:
        return None
    out = []
    step = max(1, int(block_rows))
    for k, (a, b) in enumerate(seg):
        for r in range(int(a), int(b), step):
            block = _read_rows(d, r, min(int(b), r + step))
            out.append((k, r, block.reshape(len(block), n_dims)))
    return out


def held_stats(blocks: list[tuple[int, int, np.ndarray]], n_dims: int) -> list[tuple[float, float, int]]:
    """Per column (min, max, rows) of the held blocks, NaN propagating (what ``_MinMax`` gives)."""
    lo, hi, n = np.full(n_dims, np.inf), np.full(n_dims, -np.inf), 0
    with np.errstate(invalid="ignore"):
        for _, _, block in blocks:
            if len(block):
                lo = np.minimum(lo, np.array([np.minimum.reduce(block[:, i]) for i in range(n_dims)]))
                hi = np.maximum(hi, np.array([np.maximum.reduce(block[:, i]) for i in range(n_dims)]))
                n += len(block)
    return [(lo[i], hi[i], n) for i in range(n_dims)]


def held_counts(blocks: list[tuple[int, int, np.ndarray]], edges: list[np.ndarray], query: _Query,
                n_out: int) -> dict[str, np.ndarray]:
    """Occupancy and spikes per bin (``_Tuning``'s state) from held feature blocks and the spikes'
    closest rows (:meth:`_Query.attach_closest`)."""
    from ._spike_kernels import bin_flat_index

    n_bins = int(np.prod([len(e) - 1 for e in edges]))
    occ, num = np.zeros(n_bins), np.zeros((n_out, n_bins))
    assert query.closest is not None
    for k, first, block in blocks:
        bin1 = bin_flat_index(block, edges)
        bin1 += 1  # 0: outside the bins (or NaN)
        occ += np.bincount(bin1, minlength=n_bins + 1)[1:]
        last = first + len(block)
        for u, per_epoch in enumerate(query.closest):
            rows = per_epoch[k]
            if rows is None:
                continue
            i0, i1 = int(rows.searchsorted(first, "left")), int(rows.searchsorted(last, "left"))
            if i1 > i0:
                num[u] += np.bincount(bin1.take(rows[i0:i1] - first), minlength=n_bins + 1)[1:]
    return {"occ": occ, "num": num, "den": np.zeros(n_bins)}
