"""Pure numpy kernels behind the time series methods (no napstream objects, no I/O).

Every function takes plain arrays (times in seconds, sorted; epochs as ``starts``/``ends``
arrays, sorted and disjoint) and returns plain arrays. They reproduce pynapple's numba kernels
(``_jitted_functions.py``) with vectorised numpy, including their edge-case conventions, so
results match pynapple bit for bit.

>>> t = np.array([0.1, 0.2, 1.5])
>>> centers, counts = count_in_bins(t, np.array([0.0]), np.array([2.0]), 1.0)
>>> centers.tolist(), counts.tolist()
([0.5, 1.5], [2, 1])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "epoch_rows", "epoch_bins", "count_in_bins", "bin_average", "threshold", "value_from_index", "match_rows",
    "rows_in_epochs", "gather_rows",
    "nan_support", "convolve_epochs", "interpolate_epochs", "interp",
]


def epoch_rows(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges ``[lo, hi)`` of sorted times ``t`` with ``start <= t <= end`` for every epoch."""
    lo = np.searchsorted(t, starts, side="left").astype(np.int64)
    hi = np.searchsorted(t, ends, side="right").astype(np.int64)
    return lo, np.maximum(hi, lo)


def epoch_bins(start: float, end: float, bin_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin centers and right bounds of one epoch, with pynapple's ``jitcount`` conventions.

    Left bounds are ``start, round(start + bin_size, 9), ...``; a bin exists while its center is
    ``<= end``. A time ``t`` falls in the first bin whose right bound is ``> t``.
    """
    if (end - start) > bin_size:
        nb = int(np.ceil((end + bin_size - start) / bin_size))
    else:
        nb = 1
    # pynapple iterates lb[k+1] = round(lb[k] + bin_size, 9): in integer nanoseconds that is a
    # constant step of rint(bin_size * 1e9) after the first bound (np.round = rint(x * 1e9) / 1e9)
    first = np.rint((start + bin_size) * 1e9)
    step = np.rint((first / 1e9 + bin_size) * 1e9) - first
    lbounds = np.empty(nb + 1)
    lbounds[0] = start
    lbounds[1:] = (first + step * np.arange(nb, dtype=np.float64)) / 1e9
    centers = lbounds[:nb] + bin_size / 2
    n = int(np.count_nonzero(centers <= end))
    # centers are increasing, so the valid bins are a prefix; a bin's right bound is the next left bound
    rbounds = lbounds[1:n + 1]
    return centers[:n], rbounds


def count_in_bins(
    t: np.ndarray, starts: np.ndarray, ends: np.ndarray, bin_size: float, dtype: Any = np.int64
) -> tuple[np.ndarray, np.ndarray]:
    """Count sorted times ``t`` in bins of ``bin_size`` laid out on each epoch (pynapple ``_count``)."""
    lo, hi = epoch_rows(t, starts, ends)
    centers, counts = [], []
    for k in range(len(starts)):
        c, rb = epoch_bins(float(starts[k]), float(ends[k]), bin_size)
        centers.append(c)
        counts.append(counts_per_bin(t[lo[k]:hi[k]], rb).astype(dtype))
    return _cat(centers, np.float64), _cat(counts, dtype)


def counts_per_bin(t: np.ndarray, rbounds: np.ndarray) -> np.ndarray:
    """Number of times of one epoch in each bin given the bins' right bounds (int64)."""
    b = np.searchsorted(rbounds, t, side="right")
    return np.bincount(b, minlength=len(rbounds) + 1)[: len(rbounds)].astype(np.int64)


def _cat(parts: list[np.ndarray], dtype: Any, trailing: tuple[int, ...] = ()) -> np.ndarray:
    if not parts:
        return np.zeros((0,) + trailing, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def bin_average(
    t: np.ndarray, d: np.ndarray, starts: np.ndarray, ends: np.ndarray, bin_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Average of ``d`` in bins of ``bin_size`` per epoch (pynapple ``jitbin_array``); float64."""
    lo, hi = epoch_rows(t, starts, ends)
    trailing = d.shape[1:]
    centers, means = [], []
    for k in range(len(starts)):
        c, rb = epoch_bins(float(starts[k]), float(ends[k]), bin_size)
        tk = t[lo[k]:hi[k]]
        dk = np.asarray(d[lo[k]:hi[k]], dtype=np.float64).reshape(len(tk), int(np.prod(trailing, dtype=np.int64)))
        b = np.searchsorted(rb, tk, side="right")
        keep = b < len(rb)
        b, dk = b[keep], dk[keep]
        cnt = np.bincount(b, minlength=len(rb)).astype(np.float64)
        sums = np.empty((len(rb), dk.shape[1]), dtype=np.float64)
        for j in range(dk.shape[1]):
            sums[:, j] = np.bincount(b, weights=dk[:, j], minlength=len(rb))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((sums / cnt[:, None]).reshape((len(rb),) + trailing))
        centers.append(c)
    return _cat(centers, np.float64), _cat(means, np.float64, trailing)


def threshold(
    t: np.ndarray, d: np.ndarray, starts: np.ndarray, ends: np.ndarray, thr: float, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Samples passing a threshold and the epochs they form (pynapple ``jitthreshold``).

    Returns ``(t, d, new_starts, new_ends)``. Inside an epoch, crossings are placed halfway
    between samples; at epoch boundaries and at both ends of the data they are the samples.
    """
    ops = {"above": np.greater, "below": np.less, "aboveequal": np.greater_equal, "belowequal": np.less_equal}
    ix = ops[method](d, thr)
    n = len(t)
    empty = np.zeros(0, dtype=np.float64)
    if n == 0:
        return t[ix], d[ix], empty, empty
    if n == 1:
        se = t[ix].astype(np.float64)
        return t[ix], d[ix], se, se.copy()
    start_at = np.zeros(n, dtype=bool)
    end_at = np.zeros(n, dtype=bool)
    start_v = np.zeros(n)
    end_v = np.zeros(n)
    start_at[0], start_v[0] = ix[0], t[0]
    mid = np.empty(n)
    mid[1:] = t[1:] - (t[1:] - t[:-1]) / 2
    # pynapple walks epochs with a counter k that advances at most once per sample:
    # k_i = min(e_i, k_{i-1} + 1) with e_i the epoch holding sample i -> closed form below
    k0 = 0 if t[0] >= starts[0] else len(starts)
    inner = np.arange(1, n - 1)
    e = np.searchsorted(ends, t[inner], side="left")
    k = inner + np.minimum(k0, np.minimum.accumulate(e - inner)) if len(inner) else inner
    k_prev = np.concatenate([[k0], k[:-1]]) if len(inner) else inner
    trans = k > k_prev
    prev, cur = ix[inner - 1], ix[inner]
    # transition: close the run at the previous sample, open one at this sample
    m = trans & prev
    end_at[inner[m] - 1], end_v[inner[m] - 1] = True, t[inner[m] - 1]
    m = trans & cur
    start_at[inner[m]], start_v[inner[m]] = True, t[inner[m]]
    m = ~trans & ~prev & cur
    start_at[inner[m]], start_v[inner[m]] = True, mid[inner[m]]
    m = ~trans & prev & ~cur
    end_at[inner[m]], end_v[inner[m]] = True, mid[inner[m]]
    last = n - 1
    if ix[last] and ix[last - 1]:
        end_at[last], end_v[last] = True, t[last]
    if ix[last] and not ix[last - 1]:
        start_at[last], start_v[last] = True, mid[last]
        end_at[last], end_v[last] = True, t[last]
    elif ix[last - 1] and not ix[last]:
        end_at[last], end_v[last] = True, mid[last]
    return t[ix], d[ix], start_v[start_at], end_v[end_at]


def value_from_index(
    t: np.ndarray, target: np.ndarray, starts: np.ndarray, ends: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match each time of ``t`` to a row of ``target`` within the same epoch (pynapple ``_value_from``).

    Returns ``(rows_of_t, rows_of_target, valid)``: the rows of ``t`` inside the epochs, and for
    each the matched row of ``target`` (meaningful where ``valid``). See :func:`match_rows`.
    """
    lo, hi = epoch_rows(t, starts, ends)
    tlo, thi = epoch_rows(target, starts, ends)
    rows_t, epoch = rows_in_epochs(lo, hi)
    idx, valid = match_rows(
        t[rows_t], tlo[epoch], thi[epoch], mode, len(target),
        lambda x, side: np.searchsorted(target, x, side=side), lambda r: target[r],
    )
    return rows_t, idx, valid


def rows_in_epochs(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All rows of the ranges ``[lo, hi)`` and the epoch each belongs to."""
    rows = _cat([np.arange(a, b) for a, b in zip(lo, hi)], np.int64)
    return rows, np.repeat(np.arange(len(lo)), hi - lo)


def match_rows(
    q: np.ndarray, a: np.ndarray, b: np.ndarray, mode: str, n: int,
    search: Any, take: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a sorted target matched to sorted query times ``q`` (pynapple ``jitvaluefrom``).

    Each query may only match target rows ``[a, b)`` (its epoch). ``search(x, side)`` is the
    target's searchsorted and ``take(rows)`` its values at rows, so the target can be lazy.
    ``mode`` is 'closest' (ties go to the later target, and to the last of equal target times),
    'before' (an exact match, else the last earlier target) or 'after' (the first target at or
    after). Returns ``(rows, valid)``.
    """
    has = b > a
    if n == 0 or len(q) == 0:
        return np.zeros(len(q), dtype=np.int64), np.zeros(len(q), dtype=bool)
    last = n - 1
    if mode == "closest":
        j = np.clip(np.asarray(search(q, "right")), a, b)
        tl = take(np.clip(j - 1, 0, last))
        tr = take(np.clip(j, 0, last))
        use_right = (j < b) & ((j == a) | (tr - q <= q - tl))
        last_eq = np.minimum(np.asarray(search(tr, "right")) - 1, b - 1)
        idx = np.where(use_right, last_eq, j - 1)
        valid = has
    elif mode == "after":
        idx = np.asarray(search(q, "left"))
        valid = has & (idx < b)
        idx = np.maximum(idx, a)
    else:  # before
        first_ge = np.maximum(np.asarray(search(q, "left")), a)
        exact = (first_ge < b) & (take(np.minimum(first_ge, last)) == q)
        idx = np.where(exact, first_ge, first_ge - 1)
        valid = has & (exact | (first_ge > a))
    return np.asarray(idx, dtype=np.int64), np.asarray(valid, dtype=bool)


def gather_rows(read: Any, rows: np.ndarray, gap: int = 4096) -> np.ndarray:
    """Values at ``rows`` using ``read(start, stop)`` on runs of nearby rows (sparse, bounded reads)."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.asarray(read(0, 0))
    uniq, inv = np.unique(rows, return_inverse=True)
    runs = np.split(uniq, np.flatnonzero(np.diff(uniq) > gap) + 1)
    parts = [np.asarray(read(int(r[0]), int(r[-1]) + 1))[r - r[0]] for r in runs]
    return np.concatenate(parts, axis=0)[inv.reshape(-1)]


def nan_support(t: np.ndarray, is_nan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the runs of non-NaN rows (pynapple ``jitremove_nan``)."""
    n = len(t)
    if n == 0:
        return t[:0], t[:0]
    ok = ~is_nan
    start_at = ok & np.concatenate([[True], is_nan[:-1]])
    end_at = ok & np.concatenate([is_nan[1:], [True]])
    return t[start_at], t[end_at]


def convolve_epochs(d: np.ndarray, lo: np.ndarray, hi: np.ndarray, kernel: np.ndarray, trim: str) -> np.ndarray:
    """Convolve ``d`` with ``kernel`` (1-D or 2-D) separately on each row range (pynapple ``_convolve``)."""
    from scipy import signal

    shape = d.shape
    data = np.reshape(d, (shape[0], -1))
    kshape = kernel.shape
    k = kshape[0]
    ker = kernel.reshape(k, -1)
    out = np.zeros((shape[0], data.shape[1], ker.shape[1]))
    for s, e in zip(lo, hi):
        n = e - s
        if trim == "left":
            cut = (k - 1, n + k - 1)
        elif trim == "right":
            cut = (0, n)
        else:
            cut = ((k - 1) // 2, n + k - 1 - ((k - 1) // 2) - (1 - k % 2))
        for i in range(data.shape[1]):
            for j in range(ker.shape[1]):
                out[s:e, i, j] = signal.convolve(data[s:e, i], ker[:, j])[cut[0]:cut[1]]
    return out.reshape((*shape, *kshape[1:]))


def interp(tq: np.ndarray, xp: np.ndarray, fp: np.ndarray, left: float | None, right: float | None) -> np.ndarray:
    """``np.interp`` along axis 0 of ``fp`` (any trailing shape)."""
    if fp.ndim == 1:
        return np.interp(tq, xp, fp, left=left, right=right)
    flat = fp.reshape(len(xp), -1)
    cols = [np.interp(tq, xp, flat[:, j], left=left, right=right) for j in range(flat.shape[1])]
    return np.stack(cols, axis=1).reshape((len(tq),) + fp.shape[1:])


def interpolate_epochs(
    t_new: np.ndarray, starts: np.ndarray, ends: np.ndarray, samples: Any, trailing: tuple[int, ...],
    left: float | None, right: float | None,
) -> np.ndarray:
    """Linear interpolation at ``t_new``, epoch by epoch (pynapple ``interpolate``).

    ``samples(k, tq)`` returns the ``(xp, fp)`` used for epoch ``k``: all its samples, or (for
    lazy data) only the first, the last and those bracketing each query time, which gives
    ``np.interp`` the same brackets and so the same values.
    """
    nlo, nhi = epoch_rows(t_new, starts, ends)
    out = np.full((len(t_new),) + trailing, np.nan)
    for k in range(len(starts)):
        tq = t_new[nlo[k]:nhi[k]]
        if len(tq):
            xp, fp = samples(k, tq)
            if len(xp):
                out[nlo[k]:nhi[k]] = interp(tq, xp, fp, left, right)
    return out
