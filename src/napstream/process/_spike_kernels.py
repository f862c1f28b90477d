"""Pure numpy kernels for spike and behaviour analyses (no napstream objects, no I/O).

Every kernel takes plain arrays and reproduces pynapple's numbers exactly, including its rules at
the edges (ties, closed intervals, the last histogram edge) so chunked results can be compared with
pynapple's in-memory ones bit for bit. They are vectorised: ``np.searchsorted`` + ``np.bincount``
instead of per-spike loops.

Examples
--------
>>> import numpy as np
>>> closest_index(np.array([0.4, 0.5, 2.0]), np.array([0.0, 1.0, 2.0]))
array([0, 1, 2])
>>> edges = outer_edges([(0.0, 1.0, 5)], [2], None)
>>> bin_flat_index(np.array([[0.0], [0.5], [1.0], [1.5]]), edges)
array([ 0,  1,  1, -1])
"""

from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError

__all__ = [
    "closest_index",
    "outer_edges",
    "bin_flat_index",
    "restrict_rows",
    "correlogram_bins",
    "correlogram_counts",
]


# --------------------------------------------------------------------------------------------
# nearest sample ("value_from", mode="closest")
# --------------------------------------------------------------------------------------------
def closest_index(q: np.ndarray, t: np.ndarray, unique: bool | None = None) -> np.ndarray:
    """Index of the sample of sorted ``t`` closest to each query ``q`` (pynapple's rule).

    Ties go to the later sample, and among equal timestamps to the last one, exactly like
    pynapple's forward walk in ``value_from(mode="closest")``. ``t`` must not be empty. Pass
    ``unique=True`` when ``t`` is known to have no repeated timestamps (saves a search); sorted
    queries are fastest.
    """
    q = np.asarray(q, dtype=np.float64)
    n = len(t)
    j = np.searchsorted(t, q, side="left")
    right = np.minimum(j, n - 1)
    left = np.maximum(j - 1, 0)
    take_right = (t[right] - q) <= (q - t[left])
    take_right |= j == 0
    take_right &= j < n
    if unique is None:
        unique = n < 2 or bool(np.all(t[1:] != t[:-1]))
    if unique:
        return np.where(take_right, right, left)
    value = np.where(take_right, t[right], t[left])
    return np.searchsorted(t, value, side="right") - 1


def restrict_rows(t_starts: np.ndarray, t_ends: np.ndarray, index: Any) -> np.ndarray:
    """``(k, 2)`` row segments of a sorted time index inside closed intervals ``[start, end]``.

    ``index`` needs only ``searchsorted(values, side)`` (a numpy array via a lambda, or a
    :class:`~napstream.core.time_index.TimeIndex`).
    """
    search = index.searchsorted if hasattr(index, "searchsorted") else None
    if search is None:  # pragma: no cover - defensive
        raise InvalidTypeError(f"index must provide searchsorted, got {type(index).__name__}")
    a = np.asarray(search(np.asarray(t_starts, dtype=np.float64), side="left"), dtype=np.int64)
    b = np.asarray(search(np.asarray(t_ends, dtype=np.float64), side="right"), dtype=np.int64)
    return np.stack([a, np.maximum(a, b)], axis=1).reshape(-1, 2)


# --------------------------------------------------------------------------------------------
# n-d histograms with numpy's histogramdd rules
# --------------------------------------------------------------------------------------------
def _outer(lo: float, hi: float, size: int, rng: Any, dim: int) -> tuple[float, float]:
    if rng is not None:
        try:
            first, last = (float(v) for v in rng)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"range[{dim}] must be a (lower, upper) pair of numbers or None, got {rng!r}"
            ) from None
        if first > last:
            raise InvalidInputError(
                f"range[{dim}] must have lower <= upper, got ({first!r}, {last!r})"
            )
        if not (np.isfinite(first) and np.isfinite(last)):
            raise InvalidInputError(f"range[{dim}] must be finite, got ({first!r}, {last!r})")
    elif size == 0:
        first, last = 0.0, 1.0
    else:
        first, last = lo, hi
        if not (np.isfinite(first) and np.isfinite(last)):
            raise InvalidInputError(
                f"features column {dim} has non-finite values (NaN or inf) in the epochs, so "
                f"the bin range cannot be inferred: got [{first}, {last}]; pass range= (or "
                "minmax=) explicitly"
            )
    if first == last:
        first, last = first - 0.5, last + 0.5
    return first, last


def outer_edges(
    stats: Sequence[tuple[float, float, int]],
    bins: Sequence[Any],
    ranges: Sequence[Any] | None,
    name: str = "bins",
) -> list[np.ndarray]:
    """Bin edges per dimension, as ``np.histogramdd`` builds them.

    Parameters
    ----------
    stats : sequence of (min, max, n)
        Minimum, maximum and number of samples per dimension (min/max are ``nan`` when any sample
        is ``nan``, like ``ndarray.min``).
    bins : sequence
        One entry per dimension: a positive integer number of bins or a 1-D array of edges.
    ranges : sequence of (lower, upper) or None, optional
        Outer edges per dimension used when ``bins`` gives a number.
    """
    dims = len(stats)
    if ranges is None:
        ranges = [None] * dims
    if len(ranges) != dims:
        raise InvalidInputError(f"range must have one entry per feature ({dims}), got {len(ranges)}")
    edges = []
    for i, (spec, (lo, hi, size), rng) in enumerate(zip(bins, stats, ranges)):
        if np.ndim(spec) == 0:
            if isinstance(spec, bool):
                raise InvalidTypeError(f"{name}[{i}] must be an integer, got bool")
            try:
                n = operator.index(spec)
            except TypeError:
                raise InvalidTypeError(
                    f"{name}[{i}] must be an integer when a scalar, got {type(spec).__name__}"
                ) from None
            if n < 1:
                raise InvalidInputError(f"{name}[{i}] must be a positive number of bins, got {n}")
            first, last = _outer(lo, hi, size, rng, i)
            edges.append(np.linspace(first, last, n + 1))
        elif np.ndim(spec) == 1:
            e = np.asarray(spec)
            if e.size < 2 or np.any(e[:-1] > e[1:]):
                raise InvalidInputError(
                    f"{name}[{i}] must be increasing bin edges (at least 2) when an array, got {e!r}"
                )
            edges.append(e)
        else:
            raise InvalidInputError(f"{name}[{i}] must be an integer or 1-D edges, got ndim {np.ndim(spec)}")
    return edges


def bin_flat_index(values: np.ndarray, edges: Sequence[np.ndarray]) -> np.ndarray:
    """Flat (C-order) bin of each row of ``values`` (n, D); -1 outside the edges or NaN.

    Same rules as ``np.histogramdd``: bins are half-open except the last, which includes its
    right edge.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    flat = np.zeros(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    for i, e in enumerate(edges):
        x = values[:, i]
        k = np.searchsorted(e, x, side="right")
        k[x == e[-1]] -= 1
        valid &= (k >= 1) & (k <= len(e) - 1)
        flat = flat * (len(e) - 1) + (k - 1)
    flat[~valid] = -1
    return flat


# --------------------------------------------------------------------------------------------
# cross-correlograms
# --------------------------------------------------------------------------------------------
def correlogram_bins(binsize: float, windowsize: float) -> tuple[int, float, np.ndarray]:
    """Number of bins (odd), half-width and bin centres of pynapple's cross-correlogram."""
    nbins = int((windowsize * 2) // binsize)
    if nbins % 2 == 0:
        nbins += 1
    w = (nbins / 2) * binsize
    m = -w + binsize / 2
    return nbins, w, m + np.arange(nbins) * binsize


def _sequential_edge(lb: np.ndarray, k: np.ndarray, binsize: float) -> np.ndarray:
    """``lb`` plus ``k`` times ``binsize`` added one at a time (pynapple's rounding), elementwise."""
    e = lb.copy()
    for step in range(1, int(k.max(initial=0)) + 1):
        e = np.where(k >= step, e + binsize, e)
    return e


def correlogram_counts(
    t1: np.ndarray,
    t2: np.ndarray,
    binsize: float,
    windowsize: float,
    labels2: np.ndarray | None = None,
    n_labels: int = 1,
    max_pairs: int = 1 << 18,
) -> np.ndarray:
    """Counts of ``t2`` events around each ``t1`` event, summed over ``t1`` (not normalised).

    With ``labels2`` (an int label per ``t2`` event, ``< n_labels``) the counts of every label
    are returned at once, shape ``(n_labels, nbins)``; otherwise shape ``(nbins,)``. The bin of
    each pair is found arithmetically; pairs within rounding distance of a bin edge are checked
    against edges built by sequential addition exactly like pynapple's ``_cross_correlogram``, so
    events on bin edges fall in the same bin. Memory is bounded by ``max_pairs`` pairs at a time.
    """
    nbins, w, _ = correlogram_bins(binsize, windowsize)
    t1 = np.asarray(t1, dtype=np.float64)
    t2 = np.asarray(t2, dtype=np.float64)
    out = np.zeros(n_labels * nbins, dtype=np.int64)
    if len(t1) and len(t2):
        lab = np.zeros(len(t2), dtype=np.int64) if labels2 is None else np.asarray(labels2, np.int64)
        span = max(abs(t1[0]), abs(t1[-1]), abs(t2[0]), abs(t2[-1])) + (nbins + 1) * binsize
        tol = 8 * np.finfo(np.float64).eps * span * (nbins + 2)
        lb = t1 - w
        lo = np.searchsorted(t2, lb, side="left")
        hi = np.searchsorted(t2, lb + nbins * binsize + tol, side="right")
        n = hi - lo
        cum = np.concatenate([[0], np.cumsum(n)])
        start = 0
        while start < len(n):
            stop = max(start + 1, int(np.searchsorted(cum, cum[start] + max_pairs, side="right")) - 1)
            _bin_pairs(out, lb, lo, n, cum, start, min(stop, len(n)), t2, lab, nbins, binsize, tol)
            start = stop
    return out.reshape(n_labels, nbins) if labels2 is not None else out


def _bin_pairs(out, lb, lo, n, cum, start, stop, t2, lab, nbins, binsize, tol) -> None:
    nn = n[start:stop]
    total = int(cum[stop] - cum[start])
    if total == 0:
        return
    j2 = np.arange(total) + np.repeat(lo[start:stop] - (cum[start:stop] - cum[start]), nn)
    base = np.repeat(lb[start:stop], nn)
    x = t2[j2]
    r = (x - base) / binsize  # >= 0: t2 >= lb by construction
    k = r.astype(np.int64)
    r -= k
    eps = tol / binsize
    near = np.flatnonzero((r <= eps) | (r >= 1.0 - eps))
    if near.size:
        kk, xx, bb = np.minimum(k[near], nbins), x[near], base[near]
        e = _sequential_edge(bb, kk, binsize)
        k[near] = np.where(xx < e, kk - 1, np.where(xx >= e + binsize, kk + 1, kk))
    idx = lab[j2] * nbins + k
    keep = (k < nbins) & (k >= 0)
    out += np.bincount(idx[keep], minlength=out.size)
