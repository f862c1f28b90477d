"""Pure numpy kernels for spike and behaviour analyses (no napstream objects, no I/O).

Every kernel takes plain arrays and reproduces pynapple's numbers exactly, including its rules at
the edges (ties, closed intervals, the last histogram edge) so chunked results can be compared with
pynapple's in-memory ones bit for bit. They are vectorised: ``np.searchsorted`` + ``np.bincount``
instead of per-spike loops, and :class:`ClosestSampler` replaces the binary search of the closest
sample by an exactly checked arithmetic guess when the samples are (nearly) regular.

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
    "ClosestSampler",
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
    queries are fastest. To look up many query arrays in the same ``t``, use
    :class:`ClosestSampler` (it prepares ``t`` once and guesses the index arithmetically when
    the samples are nearly regular).
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


class ClosestSampler:
    """:func:`closest_index` of many query arrays in one sorted ``t``, fast when ``t`` is regular.

    When ``t`` has no repeated timestamps, the closest sample is first guessed arithmetically,
    ``c = floor((q - t[0]) * rate + 1/2)`` with ``rate = (n - 1) / (t[-1] - t[0])``, then checked
    exactly against the real timestamps: ``c`` is pynapple's choice if and only if it is at least
    as close as ``c - 1`` and strictly closer than ``c + 1`` (distance to ``q`` is unimodal along
    sorted unique samples, and ties go to the later sample). A failed check says which neighbour
    is closer, so failed guesses (jittered samples, rounding at exact ties) walk up to
    :attr:`max_walk` samples towards it, each step checked the same way; the rest (irregular
    samples, gaps) go through :func:`closest_index`, so the result is always exactly pynapple's.
    When more than :attr:`max_miss` of one call's guesses fail, later calls skip the guess.
    Repeated timestamps always use :func:`closest_index`.

    Parameters
    ----------
    t : numpy.ndarray
        Sorted float64 sample times (not empty).

    Examples
    --------
    >>> import numpy as np
    >>> s = ClosestSampler(np.array([0.0, 1.0, 2.0, 3.0]))
    >>> s(np.array([-1.0, 0.5, 1.4, 2.5, 9.0]))
    array([0, 1, 1, 3, 3])
    """

    #: fraction of failed guesses above which the arithmetic guess is abandoned
    max_miss = 0.25
    #: steps to a neighbour tried for failed guesses before a binary search
    max_walk = 2

    def __init__(self, t: np.ndarray) -> None:
        self.t = np.ascontiguousarray(t, dtype=np.float64)
        n = len(self.t)
        self.n = n
        self.unique = n < 2 or bool(np.all(self.t[1:] != self.t[:-1]))
        span = float(self.t[-1] - self.t[0]) if n else 0.0
        self.guess = self.unique and n >= 2 and span > 0 and np.isfinite(span)
        self._padded: np.ndarray | None = None
        if self.guess:
            self.rate = (n - 1) / span
            self._offset = 0.5 - float(self.t[0]) * self.rate

    def _pad(self) -> np.ndarray:
        if self._padded is None:
            p = np.empty(self.n + 2)
            p[0], p[-1] = -np.inf, np.inf
            p[1:-1] = self.t
            self._padded = p
        return self._padded

    def __call__(self, q: np.ndarray) -> np.ndarray:
        """Closest sample index (int) of each query time in ``q``."""
        q = np.asarray(q, dtype=np.float64)
        if not self.guess or len(q) < 16:
            return closest_index(q, self.t, self.unique).astype(np.intp, copy=False)
        c = self._guess(q)
        step = self._step(q, c)
        miss = np.flatnonzero(step)
        if miss.size > self.max_miss * len(q) and len(q) >= 256:
            self.guess = False  # irregular samples: plain binary search from now on
        for _ in range(self.max_walk):  # jittered samples: the closest is usually a neighbour
            if not miss.size:
                return c
            c[miss] += step[miss]
            again = self._step(q[miss], c[miss])
            keep = np.flatnonzero(again)
            miss = miss[keep]
            step[miss] = again[keep]
        if miss.size:
            c[miss] = closest_index(q[miss], self.t, True)
        return c

    def _guess(self, q: np.ndarray) -> np.ndarray:
        """``round((q - t0) * rate)`` within ``[0, n - 1]``: the closest sample if ``t`` were regular."""
        g = q * self.rate
        g += self._offset  # (q - t0) * rate + 1/2: only a guess, its rounding does not matter
        np.maximum(g, 0.0, out=g)
        np.minimum(g, self.n - 1, out=g)
        return g.astype(np.intp)  # floor (g >= 0)

    def _step(self, q: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Per query: 0 when ``c`` is pynapple's closest sample, else -1/+1 towards a closer one."""
        p = self._pad()  # t with -inf before and +inf after: p[1:-1][c] = t[c]
        near = p[1:-1].take(c)
        near -= q  # t[c] - q
        left = p[:-2].take(c)  # t[c-1]
        np.subtract(q, left, out=left)
        step = (left < near).view(np.int8)  # c - 1 strictly closer (ties go to c, the later sample)
        far = p[2:].take(c)
        far -= q  # t[c+1] - q
        # c + 1 at least as close: (t[c+1] - q) <= (q - t[c]) == -near. The rounded sum of two
        # floats is <= 0 exactly when their real sum is, so "far + near <= 0" is the same test.
        far += near
        right = (far <= 0).view(np.int8)
        return right - step  # both cannot hold: |t - q| has no interior maximum along sorted t


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
    right edge. One ``searchsorted`` per dimension into the edges whose last one is moved up by
    one ulp (so a value equal to it lands in the last bin), then a small lookup table turns the
    position into the bin number, or into a large negative number when outside.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    sizes = [len(e) - 1 for e in edges]
    outside = -2 * max(int(np.prod(sizes, dtype=np.int64)), 1)
    flat: np.ndarray | None = None
    for i, e in enumerate(edges):
        k = _edge_position(values[:, i], np.asarray(e, dtype=np.float64))
        lut = np.full(sizes[i] + 2, outside, dtype=np.int64)
        lut[1:-1] = np.arange(sizes[i])  # searchsorted "right" position p -> bin p - 1
        b = lut[k]
        if flat is None:
            flat = b
        else:
            flat *= sizes[i]
            flat += b
    if flat is None:  # pragma: no cover - no dimension
        return np.zeros(len(values), dtype=np.int64)
    return np.maximum(flat, -1, out=flat)


def _edge_position(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``searchsorted(e, x, "right")``, except that ``x == e[-1]`` counts as inside the last bin."""
    last = e[-1]
    if np.isfinite(last):
        e = e.copy()
        e[-1] = np.nextafter(last, np.inf)
        return np.searchsorted(e, x, side="right")
    k = np.searchsorted(e, x, side="right")
    k[x == last] -= 1
    return k


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
