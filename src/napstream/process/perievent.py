"""Peri-event alignment and event-triggered averages (pynapple's numbers).

``compute_perievent`` reads, for each event, only the rows of ``data`` inside its window (binary
searches in the time index, then one read per group of nearby events), so aligning a few events
in a long recording reads a few kilobytes. ``compute_event_triggered_average`` bins the events with
the core ``count`` and reads the data in chunks of rows.

Examples
--------
>>> import numpy as np, napstream as nap
>>> spikes = nap.Ts(np.arange(0, 100, 0.5))
>>> peth = nap.compute_perievent(spikes, nap.Ts(np.array([10.0, 20.0])), window=1.0)
>>> [len(peth[i]) for i in peth.keys()]
[5, 5]
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from ..core.interval_set import IntervalSet
from ..core.readahead import announced
from ..core.time_index import ArrayTimeIndex
from ..engine.planner import resolve_budget
from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from . import _validate as v
from ._spike_kernels import closest_index

__all__ = ["compute_perievent", "compute_event_triggered_average", "compute_spike_triggered_average"]


def _window(window: Any, time_unit: Any) -> np.ndarray:
    """``window`` in seconds as (before, after); pynapple's checks and RuntimeErrors."""
    if not isinstance(time_unit, str) or time_unit not in ("s", "ms", "us"):
        raise InvalidArgumentError(f"time_unit should be 's', 'ms' or 'us', got {time_unit!r}")
    if isinstance(window, Number) and not isinstance(window, bool):
        window = (window, window)
    if (not hasattr(window, "__len__") or len(window) != 2
            or not all(isinstance(x, Number) and not isinstance(x, bool) for x in window)):
        raise InvalidArgumentError(f"window should be a tuple of 2 numbers or a single number, got {window!r}")
    return np.abs(np.asarray(v.to_s(np.asarray(window, dtype=np.float64), time_unit), dtype=np.float64))


def _event_times(events: Any, epochs: IntervalSet) -> np.ndarray:
    ix = v.time_index_of(events)
    return ix.select(v.unit_segments(ix, epochs.start, epochs.end)).load()


def _read_windows(ix: Any, lo: np.ndarray, hi: np.ndarray, budget: int) -> list[np.ndarray]:
    """Rows ``[lo[i], hi[i])`` of an index (or array with ``read``) for every i, reading groups."""
    groups = []  # (first event, stop event, first row, stop row) of each read
    i, n = 0, len(lo)
    rows_cap = max(1, budget // 32)
    while i < n:
        j = i + 1
        while j < n and hi[j - 1] - lo[i] <= rows_cap and lo[j] - hi[j - 1] <= 4 * max(1, hi[j - 1] - lo[j - 1]):
            j += 1
        groups.append((i, j, int(lo[i]), int(max(hi[i:j].max(), lo[i]))))
        i = j
    out: list[np.ndarray] = []
    # many separate reads of a remote series: the next ones are fetched while one is read (a few
    # large reads fetch their own bytes concurrently already)
    later = [[a, b] for _, _, a, b in groups[1:]] if len(groups) > 2 else []
    with announced(ix, later, budget):
        for i, j, a, b in groups:
            block = ix.read(a, b) if b > a else np.empty(0)
            out.extend(block[int(lo[k]) - a:int(hi[k]) - a] for k in range(i, j))
    return out


def _align_discrete(data: Any, events: np.ndarray, window: np.ndarray, budget: int) -> Any:
    c = v.classes()
    ix = v.time_index_of(data)
    lo = np.asarray(ix.searchsorted(events - window[0], "left"), dtype=np.int64)
    hi = np.asarray(ix.searchsorted(events + window[1], "right"), dtype=np.int64)
    hi = np.maximum(lo, hi)
    support = IntervalSet(start=-window[0], end=window[1])
    blocks = _read_windows(ix, lo, hi, budget) if len(events) else []
    raw = getattr(c.Ts, "_raw", None)  # fast path: the times are validated here
    aligned = {}
    for i, e in enumerate(events):
        shifted = blocks[i] - e
        shifted = shifted[(shifted >= -window[0]) & (shifted <= window[1])]
        aligned[i] = (raw(ArrayTimeIndex(shifted, check=False), None, support) if raw is not None
                      else c.Ts(t=shifted, time_support=support))
    return c.TsGroup(aligned, time_support=support, bypass_check=True, metadata={"events": events})


def _is_regular(ix: Any, support: IntervalSet, rows: int) -> bool:
    if len(ix) < 2 or getattr(ix, "is_regular", False):
        return True
    first = None
    for a, b in v.unit_segments(ix, support.start, support.end):
        for s in range(int(a), int(b) - 1, rows):
            d = np.diff(ix.read(s, min(int(b), s + rows + 1)))
            if len(d) == 0:
                continue
            first = d[0] if first is None else first
            if not np.all(np.abs(d - first) / first < 1e-6):
                return False
    return True


def _grid(window: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    idx1 = -np.arange(0, window[0] + step, step)[::-1][:-1]
    idx2 = np.arange(0, window[1] + step, step)[1:]
    return np.hstack((idx1, np.zeros(1), idx2)), np.array([len(idx1), len(idx2)], dtype=np.int64)


def _align_regular(data: Any, events: np.ndarray, window: np.ndarray, budget: int) -> Any:
    c = v.classes()
    ix, d = v.time_index_of(data), v.data_of(data)
    t01 = ix.read(0, 2)
    time_idx, (w0, w1) = _grid(window, float(t01[1] - t01[0]))
    support = data.time_support
    segs = v.unit_segments(ix, support.start, support.end)
    ev_segs = v.unit_segments(ArrayTimeIndex(events, check=False), support.start, support.end)
    out = np.full((w0 + w1 + 1, int((ev_segs[:, 1] - ev_segs[:, 0]).sum()), *d.shape[1:]), np.nan)
    col = 0
    for (a, b), (ea, eb) in zip(segs, ev_segs):
        ev = events[ea:eb]
        if len(ev) and b > a:
            _fill_epoch(out, col, ix, d, int(a), int(b), ev, w0, w1, budget)
        col += len(ev)
    if out.size == 0:
        raise InvalidInputError(
            "No overlap between input and epochs, perievent matrix is empty: no event lies in the data's time support")
    frame_support = IntervalSet(start=-window[0], end=window[1])
    if out.ndim == 2:
        return c.TsdFrame(t=time_idx, d=out, time_support=frame_support)
    return c.TsdTensor(t=time_idx, d=out, time_support=frame_support)


def _fill_epoch(out: np.ndarray, col: int, ix: Any, d: Any, a: int, b: int, ev: np.ndarray,
                w0: int, w1: int, budget: int) -> None:
    """Windows of the events of one epoch (rows [a, b) of the data)."""
    # closest sample to each event, found in blocks of the epoch's timestamps
    pos = _closest_rows(ix, a, b, ev, budget)
    left = np.minimum(w0, pos - a)
    right = np.minimum(w1, b - pos - 1)
    blocks = _read_windows(d if hasattr(d, "read") else _NumpyRows(d), pos - left, pos + right + 1, budget)
    for k, block in enumerate(blocks):
        start = w0 - left[k]
        out[start:start + len(block), col + k] = block


class _NumpyRows:
    def __init__(self, d: np.ndarray) -> None:
        self.d = d

    def read(self, a: int, b: int) -> np.ndarray:
        return self.d[a:b]


def _closest_rows(ix: Any, a: int, b: int, ev: np.ndarray, budget: int) -> np.ndarray:
    j = np.clip(np.asarray(ix.searchsorted(ev, "left"), dtype=np.int64), a, b)
    lo, hi = np.maximum(j - 1, a), np.minimum(j + 1, b)
    out = np.empty(len(ev), dtype=np.int64)
    blocks = _read_windows(ix, lo, hi, budget)
    for k, t in enumerate(blocks):
        out[k] = lo[k] + closest_index(ev[k:k + 1], t)[0]
    return out


def compute_perievent(data: Any, events: Any, window: Any, time_unit: str = "s",
                      epochs: IntervalSet | None = None, max_memory: int | str | None = None) -> Any:
    """Align ``data`` on ``events`` within ``window`` (pynapple's PETH).

    Parameters
    ----------
    data : Ts, Tsd, TsdFrame, TsdTensor or TsGroup
        Events (a TsGroup of aligned Ts is returned) or regularly sampled values (a TsdFrame /
        TsdTensor time x events is returned). A TsGroup gives a dict per unit.
    events : Ts, Tsd, TsdFrame or TsdTensor
        Reference times.
    window : float or (float, float)
        Time before and after each event, in ``time_unit``.
    time_unit : {'s', 'ms', 'us'}
    epochs : IntervalSet, optional
        Keep the events inside (default: the time support of ``data``).
    max_memory : int or str, optional
        Memory budget of the reads (default ``napstream.config.memory_budget``).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> tsd = nap.Tsd(t=np.arange(0, 10, 0.5), d=np.arange(20.0))
    >>> nap.compute_perievent(tsd, nap.Ts(np.array([5.0])), window=1.0).values[:, 0].tolist()
    [8.0, 9.0, 10.0, 11.0, 12.0]
    """
    c = v.classes()
    win = _window(window, time_unit)
    if isinstance(data, c.TsGroup):
        return {k: compute_perievent(data[k], events, window, time_unit, epochs, max_memory) for k in data.keys()}
    if not isinstance(data, (c.Ts, c.Tsd, c.TsdFrame, c.TsdTensor)):
        raise InvalidTypeError(
            f"data should be a time series object (Ts, Tsd, TsdFrame, TsdTensor or TsGroup), got {v.type_name(data)}")
    if not isinstance(events, (c.Ts, c.Tsd, c.TsdFrame, c.TsdTensor)):
        raise InvalidTypeError(
            f"events should be a time series object (Ts, Tsd, TsdFrame or TsdTensor), got {v.type_name(events)}")
    epochs = data.time_support if v.check_epochs(epochs, "epochs") is None else epochs
    budget = resolve_budget(max_memory)
    ev = _event_times(events, epochs)
    if v.is_spikes(data):
        return _align_discrete(data, ev, win, budget)
    if not _is_regular(v.time_index_of(data), data.time_support, max(2, budget // 64)):
        raise InvalidArgumentError(
            "Continuous data must be regularly sampled for compute_perievent; interpolate or NaN-pad it to a "
            "uniform time grid first")
    return _align_regular(data, ev, win, budget)


def compute_event_triggered_average(data: Any, events: Any, binsize: float, window: Any = 0,
                                    time_unit: str = "s", epochs: IntervalSet | None = None,
                                    max_memory: int | str | None = None) -> Any:
    """Average of ``data`` around ``events`` binned at ``binsize`` (pynapple's ETA / STA).

    The events are binned (pynapple's bins) and the data read in blocks of bins that fit
    ``max_memory``; nothing proportional to the session is held.

    Parameters
    ----------
    data : Tsd, TsdFrame or TsdTensor
        Regularly sampled values.
    events : Ts, Tsd, TsdFrame, TsdTensor or TsGroup
        Events (one column of the output per unit of a TsGroup).
    binsize : float
        Bin size, in ``time_unit``.
    window : float or (float, float)
        Time before and after, in ``time_unit``.
    time_unit : {'s', 'ms', 'us'}
    epochs : IntervalSet, optional
        Default: the time support of ``data``.
    max_memory : int or str, optional
        Memory budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    TsdFrame or TsdTensor
        Lags x units (x data columns).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> data = nap.Tsd(t=np.arange(0, 100, 0.1), d=np.arange(1000.0) % 10)
    >>> spikes = nap.TsGroup({0: nap.Ts(np.arange(0.5, 100, 1.0))})
    >>> eta = nap.compute_event_triggered_average(data, spikes, 0.1, window=0.2)
    >>> eta.shape
    (7, 1)
    """
    c = v.classes()
    win = _window(window, time_unit)
    if not isinstance(data, (c.Tsd, c.TsdFrame, c.TsdTensor)):
        raise InvalidTypeError(
            f"data should be a continuous time series (Tsd, TsdFrame, or TsdTensor), got {v.type_name(data)}")
    if not isinstance(events, (c.Ts, c.Tsd, c.TsdFrame, c.TsdTensor, c.TsGroup)):
        raise InvalidTypeError(
            f"events should be a time series object (Ts, Tsd, TsdFrame, TsdTensor or TsGroup), got {v.type_name(events)}")
    epochs = data.time_support if v.check_epochs(epochs, "epochs") is None else epochs
    if not _is_regular(v.time_index_of(data), data.time_support, 1 << 16):
        raise InvalidArgumentError(
            "Continuous data must be regularly sampled for compute_event_triggered_average; interpolate or "
            "NaN-pad it to a uniform time grid first")
    return _event_triggered_average(data, events, float(v.to_s(binsize, time_unit)), win, epochs, max_memory)


def compute_spike_triggered_average(data: Any, spikes: Any, binsize: float, window: Any = 0,
                                    time_unit: str = "s", epochs: IntervalSet | None = None) -> Any:
    """Spike-triggered average: :func:`compute_event_triggered_average` with ``spikes`` as events.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> data = nap.Tsd(t=np.arange(0, 100, 0.1), d=np.ones(1000))
    >>> sta = nap.compute_spike_triggered_average(data, nap.TsGroup({0: nap.Ts([5.0, 50.0])}), 0.1, 0.2)
    >>> sta.values[:, 0].tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    return compute_event_triggered_average(data, spikes, binsize, window, time_unit, epochs)


# --------------------------------------------------------------------------------------------
# event-triggered average
# --------------------------------------------------------------------------------------------
def _bin_means(t: np.ndarray, vals: np.ndarray, lb: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Mean of the rows in ``[lb, rb)`` per bin; an empty bin holds the last row before it (or 0).

    Bins whose mean has a NaN are 0, as in pynapple's ETA kernel.
    """
    i0 = np.searchsorted(t, lb, side="left")
    i1 = np.searchsorted(t, rb, side="left")
    n = i1 - i0
    out = np.zeros((len(lb), vals.shape[1]))
    full = n > 0
    if full.any():
        sums = np.add.reduceat(vals[: i1[full][-1]], i0[full], axis=0)
        out[full] = sums / n[full][:, None]
    back = ~full & (i0 > 0)
    out[back] = vals[i0[back] - 1]
    out[np.isnan(out.sum(axis=1))] = 0.0
    return out


def _event_indexes(events: Any) -> tuple[list[Any], Any]:
    c = v.classes()
    if isinstance(events, c.TsGroup):
        keys = list(events.keys())
        return [v.time_index_of(events[k]) for k in keys], keys
    return [v.time_index_of(events)], None


def _block_counts(indexes: list[Any], e: np.ndarray, end: float) -> np.ndarray:
    """Events per bin ``[e[j], e[j+1])`` (times in the epoch, <= ``end``), one column per index."""
    cols = []
    for ix in indexes:
        p = np.asarray(ix.searchsorted(e, "left"), dtype=np.int64)
        p = np.minimum(p, int(ix.searchsorted(end, "right")))
        cols.append(np.diff(p))
    return np.stack(cols, axis=1).astype(np.float64)


def _epoch_eta(out: np.ndarray, total: np.ndarray, indexes: list[Any], ix: Any, d: Any, rows: tuple[int, int],
               epoch: tuple[float, float], binsize: float, w0: int, w1: int, budget: int) -> None:
    """Add one epoch's event-weighted bin means to ``out`` (lags x units x columns), in blocks of bins."""
    from ..core.ts_group import bin_edges

    e = bin_edges(epoch[0], epoch[1], binsize)
    nb, (a, b) = len(e) - 1, rows
    total += _block_counts(indexes, e[[0, nb]], epoch[1])[0] if nb > 0 else 0.0
    if b <= a or nb <= w1:
        return
    width = out.shape[2]
    per_bin = 8 * (3 * width * max(1.0, (b - a) / nb) + 2 * len(indexes) + 4)
    block = max(1, int(budget // per_bin) - w0 - w1)
    for b0 in range(0, nb, block):
        b1 = min(nb, b0 + block)
        cnt = _block_counts(indexes, e[b0:b1 + 1], epoch[1])
        m0, m1 = max(0, b0 - w0), min(nb, b1 + w1)
        r0 = max(a, int(ix.searchsorted(e[m0], "left")) - 1)
        r1 = min(b, max(r0, int(ix.searchsorted(e[m1], "left"))))
        vals = np.asarray(d.read(r0, r1) if hasattr(d, "read") else d[r0:r1], dtype=np.float64).reshape(r1 - r0, width)
        bm = _bin_means(ix.read(r0, r1), vals, e[m0:m1], e[m0 + 1:m1 + 1])
        for lag in range(-w0, w1 + 1):
            lo, hi = max(b0, -lag), min(b1, nb - lag)  # event bins whose lagged bin is in the epoch
            if hi > lo:
                out[w0 + lag] += cnt[lo - b0:hi - b0].T @ bm[lo + lag - m0:hi + lag - m0]


def _event_triggered_average(data: Any, events: Any, binsize: float, win: np.ndarray,
                             epochs: IntervalSet, max_memory: Any = None) -> Any:
    c = v.classes()
    time_idx, (w0, w1) = _grid(win, binsize)
    indexes, columns = _event_indexes(events)
    ix, d = v.time_index_of(data), v.data_of(data)
    tail = tuple(d.shape[1:])
    width = int(np.prod(tail)) if tail else 1
    out = np.zeros((w0 + w1 + 1, len(indexes), width))
    total = np.zeros(len(indexes))
    rows = v.unit_segments(ix, epochs.start, epochs.end)
    budget = resolve_budget(max_memory)
    for k in range(len(epochs)):
        _epoch_eta(out, total, indexes, ix, d, (int(rows[k, 0]), int(rows[k, 1])),
                   (float(epochs.start[k]), float(epochs.end[k])), binsize, int(w0), int(w1), budget)
    out[:, total > 0] /= total[total > 0][None, :, None]
    if not tail:
        return c.TsdFrame(t=time_idx, d=out[:, :, 0], columns=columns)
    return c.TsdTensor(t=time_idx, d=out.reshape(len(time_idx), len(indexes), *tail))
