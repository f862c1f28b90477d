"""Auto-, cross- and event-correlograms and ISI distributions, streamed unit by unit.

Numbers equal pynapple 0.11's (same bins, same edge rules, same normalisation). Spikes are read
per unit, restricted to the epochs, in chunks of reference events: for each chunk only the other
units' spikes inside the chunk's time range plus the window are read. When all the spikes of the
group fit in a quarter of the memory budget they are read once and reused.

Examples
--------
>>> import numpy as np, napstream as nap
>>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 100, 0.1)), 1: nap.Ts(np.arange(0.05, 100, 0.1))})
>>> cc = nap.compute_crosscorrelogram(group, binsize=0.05, windowsize=0.2)
>>> cc.shape
(9, 1)
"""

from __future__ import annotations

from itertools import combinations, product
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from ..core.interval_set import IntervalSet
from ..engine.planner import resolve_budget
from ..errors import InvalidInputError, InvalidTypeError
from . import _validate as v
from ._spike_kernels import bin_flat_index, correlogram_bins, correlogram_counts

__all__ = ["compute_autocorrelogram", "compute_crosscorrelogram", "compute_eventcorrelogram",
           "compute_isi_distribution"]


# --------------------------------------------------------------------------------------------
# spike sources: restricted (lazy) indexes, read in windows
# --------------------------------------------------------------------------------------------
class _Spikes:
    """The spike times of some units restricted to epochs; windows read on demand."""

    def __init__(self, units: list[Any], ep: IntervalSet | None, budget: int) -> None:
        self.index = []
        for u in units:
            ix = v.time_index_of(u)
            if ep is not None:
                ix = ix.select(v.unit_segments(ix, ep.start, ep.end))
            self.index.append(ix)
        self.counts = np.array([len(ix) for ix in self.index], dtype=np.int64)
        self.budget = budget
        self.loaded: list[np.ndarray] | None = None
        self.merged: tuple[np.ndarray, np.ndarray] | None = None
        if 40 * int(self.counts.sum()) <= budget // 4:
            self.loaded = [ix.read(0, len(ix)) for ix in self.index]
            t = np.concatenate(self.loaded + [np.empty(0)])
            lab = np.repeat(np.arange(len(self.loaded)), self.counts)
            order = np.argsort(t, kind="stable")
            self.merged = (t[order], lab[order])

    def chunks(self, u: int, rows: int) -> Any:
        """Successive arrays of at most ``rows`` spike times of unit ``u``."""
        n = int(self.counts[u])
        for a in range(0, n, rows):
            b = min(n, a + rows)
            yield self.loaded[u][a:b] if self.loaded is not None else self.index[u].read(a, b)

    def window(self, labels: list[int], lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Merged (sorted) spike times in ``[lo, hi]`` of the units ``labels``, with their position."""
        if self.merged is not None:
            t, lab = self.merged
            i0, i1 = np.searchsorted(t, lo, "left"), np.searchsorted(t, hi, "right")
            position = np.full(len(self.counts), -1, dtype=np.int64)
            position[np.asarray(labels, dtype=np.int64)] = np.arange(len(labels))
            pos = position[lab[i0:i1]]
            keep = pos >= 0
            return t[i0:i1][keep], pos[keep]
        times, labs = [], []
        for pos, u in enumerate(labels):
            src = self.loaded[u] if self.loaded is not None else self.index[u]
            i0 = int(np.searchsorted(src, lo, "left")) if self.loaded is not None else int(src.searchsorted(lo, "left"))
            i1 = int(np.searchsorted(src, hi, "right")) if self.loaded is not None else int(src.searchsorted(hi, "right"))
            if i1 > i0:
                times.append(src[i0:i1] if self.loaded is not None else src.read(i0, i1))
                labs.append(np.full(i1 - i0, pos, dtype=np.int64))
        if not times:
            return np.empty(0), np.empty(0, dtype=np.int64)
        t, lab = np.concatenate(times), np.concatenate(labs)
        order = np.argsort(t, kind="stable")
        return t[order], lab[order]


def _ref_rows(budget: int, nbins: int) -> int:
    return max(1, budget // (16 * (nbins + 8)))


def _counts_against(ref: _Spikes, u: int, other: _Spikes, labels: list[int], binsize: float,
                    windowsize: float) -> np.ndarray:
    """Correlogram counts of unit ``u`` of ``ref`` against each unit ``labels`` of ``other``."""
    nbins, w, _ = correlogram_bins(binsize, windowsize)
    out = np.zeros((len(labels), nbins), dtype=np.int64)
    if not labels:
        return out
    margin = w + 2 * binsize
    for t1 in ref.chunks(u, _ref_rows(ref.budget, nbins)):
        if len(t1) == 0:
            continue
        t2, lab = other.window(labels, t1[0] - margin, t1[-1] + margin)
        out += correlogram_counts(t1, t2, binsize, windowsize, labels2=lab, n_labels=len(labels))
    return out


def _check_params(binsize: Any, windowsize: Any, ep: Any, norm: Any, time_units: Any) -> tuple[float, float]:
    for name, value in (("binsize", binsize), ("windowsize", windowsize)):
        if isinstance(value, bool) or not isinstance(value, Number):
            _bad_type(value, name, Number)
    if ep is not None and not isinstance(ep, IntervalSet):
        _bad_type(ep, "ep", IntervalSet)
    if not isinstance(norm, (bool, np.bool_)):
        _bad_type(norm, "norm", bool)
    if not isinstance(time_units, str):
        _bad_type(time_units, "time_units", str)
    v.check_time_units(time_units)
    binsize, windowsize = float(v.to_s(binsize, time_units)), float(v.to_s(windowsize, time_units))
    if not binsize > 0:
        raise InvalidInputError(f"binsize must be positive, got {binsize!r}")
    if not windowsize >= 0:
        raise InvalidInputError(f"windowsize must be >= 0, got {windowsize!r}")
    return binsize, windowsize


def _bad_type(value: Any, name: str, expected: Any) -> None:
    """pynapple's message for a parameter of the wrong type (plus what came in)."""
    raise InvalidTypeError(f"Invalid type. Parameter {name} must be of type {expected}. Got {v.type_name(value)}.")


def _check_group(group: Any, cross: bool = False) -> None:
    if not isinstance(group, v.classes().TsGroup):
        extra = " or a tuple/list of (TsGroup, TsGroup)." if cross else "."
        raise InvalidTypeError(f"Invalid type. Parameter group must be of type TsGroup{extra} Got {v.type_name(group)}.")


def _rates(group: Any, spikes: _Spikes, ep: IntervalSet | None) -> np.ndarray:
    # pynapple restricts the group to ``ep`` (default: the group's support) and uses those rates,
    # so a unit with a shorter support of its own (NWB obs_intervals) is normalised like the others
    support = group.time_support if ep is None else ep
    return spikes.counts / support.tot_length("s")


def _normalise(counts: np.ndarray, n1: int, binsize: float, rate: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return counts / (n1 * binsize) / rate


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def compute_autocorrelogram(group: Any, binsize: float, windowsize: float, ep: IntervalSet | None = None,
                            norm: bool = True, time_units: str = "s",
                            max_memory: int | str | None = None) -> pd.DataFrame:
    """Autocorrelograms of the units of a TsGroup (pynapple's numbers; the 0 lag is set to 0).

    Parameters
    ----------
    group : TsGroup
        The units.
    binsize, windowsize : float
        Bin size and half window, in ``time_units``.
    ep : IntervalSet, optional
        Restrict the spikes to these epochs.
    norm : bool
        Divide by the mean rate of each unit.
    time_units : {'s', 'ms', 'us'}
    max_memory : int or str, optional
        Memory budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    pandas.DataFrame
        Lags (bin centres, rounded to 1e-6) x units.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 100, 0.1))})
    >>> ac = nap.compute_autocorrelogram(group, 0.1, 0.3, norm=False)
    >>> ac[0].round(6).tolist()
    [9.98, 9.99, 0.0, 9.99, 9.98]
    """
    _check_group(group)
    binsize, windowsize = _check_params(binsize, windowsize, ep, norm, time_units)
    keys = list(group.keys())
    spikes = _Spikes([group[k] for k in keys], ep, resolve_budget(max_memory))
    _, _, centres = correlogram_bins(binsize, windowsize)
    out = {}
    for u, k in enumerate(keys):
        counts = _counts_against(spikes, u, spikes, [u], binsize, windowsize)[0]
        out[k] = pd.Series(index=np.round(centres, 6), data=_normalise(counts, spikes.counts[u], binsize),
                           dtype="float")
    df = pd.DataFrame.from_dict(out)
    if norm:
        df = df / _rates(group, spikes, ep)
    if 0 in df.index:
        df.loc[0] = 0.0
    return df.astype("float")


def compute_crosscorrelogram(group: Any, binsize: float, windowsize: float, ep: IntervalSet | None = None,
                             norm: bool = True, time_units: str = "s", reverse: bool = False,
                             max_memory: int | str | None = None) -> pd.DataFrame:
    """Cross-correlograms of the pairs of a TsGroup, or of every pair across two TsGroups.

    Parameters
    ----------
    group : TsGroup or (TsGroup, TsGroup)
        One group (pairs ``(i, j)`` with ``i`` before ``j``) or two groups (all pairs).
    binsize, windowsize : float
        Bin size and half window, in ``time_units``.
    ep : IntervalSet, optional
        Restrict the spikes to these epochs.
    norm : bool
        Divide by the mean rate of the second unit of each pair.
    time_units : {'s', 'ms', 'us'}
    reverse : bool
        With one group, use pairs ``(j, i)``.
    max_memory : int or str, optional
        Memory budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    pandas.DataFrame
        Lags x pairs (MultiIndex columns).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 100, 1.0)), 1: nap.Ts(np.arange(0.5, 100, 1.0))})
    >>> nap.compute_crosscorrelogram(group, 0.5, 1.0, norm=False)[(0, 1)].tolist()
    [0.0, 1.98, 0.0, 2.0, 0.0]
    """
    c = v.classes()
    two = isinstance(group, (tuple, list))
    if two and (len(group) != 2 or not all(isinstance(g, c.TsGroup) for g in group)):
        raise InvalidTypeError(
            "Invalid type. Parameter group must be of type TsGroup or a tuple/list of (TsGroup, TsGroup). Got "
            f"{v.type_name(group)} of {[v.type_name(g) for g in group]}.")
    if not two:
        _check_group(group, cross=True)
    binsize, windowsize = _check_params(binsize, windowsize, ep, norm, time_units)
    if not isinstance(reverse, (bool, np.bool_)):
        _bad_type(reverse, "reverse", bool)
    budget = resolve_budget(max_memory)
    if two:
        return _cross_two(group, binsize, windowsize, ep, norm, budget)
    keys = list(group.keys())
    spikes = _Spikes([group[k] for k in keys], ep, budget)
    pairs = list(combinations(range(len(keys)), 2))
    if reverse:
        pairs = [(j, i) for i, j in pairs]
    result = _pair_counts(spikes, spikes, pairs, binsize, windowsize)
    rates = _rates(group, spikes, ep)
    _, _, centres = correlogram_bins(binsize, windowsize)
    data = {(keys[i], keys[j]): _normalise(result[(i, j)], spikes.counts[i], binsize, rates[j] if norm else 1.0)
            for i, j in pairs}
    return _frame(data, centres)


def _frame(data: dict, centres: np.ndarray) -> pd.DataFrame:
    keys = list(data)
    if keys and isinstance(keys[0], tuple):
        columns: Any = pd.MultiIndex.from_tuples(keys)
    else:
        columns = pd.Index(keys)
    values = np.stack([np.asarray(data[k], dtype=float) for k in keys], axis=1) if keys else np.empty((len(centres), 0))
    return pd.DataFrame(values, index=pd.Index(centres), columns=columns)


def _pair_counts(ref: _Spikes, other: _Spikes, pairs: list[tuple[int, int]], binsize: float,
                 windowsize: float) -> dict:
    by_ref: dict[int, list[int]] = {}
    for i, j in pairs:
        by_ref.setdefault(i, []).append(j)
    out = {}
    for i, js in by_ref.items():
        counts = _counts_against(ref, i, other, js, binsize, windowsize)
        out.update({(i, j): counts[p] for p, j in enumerate(js)})
    return out


def _cross_two(groups: Any, binsize: float, windowsize: float, ep: Any, norm: bool, budget: int) -> pd.DataFrame:
    k0, k1 = list(groups[0].keys()), list(groups[1].keys())
    s0 = _Spikes([groups[0][k] for k in k0], ep, budget // 2)
    s1 = _Spikes([groups[1][k] for k in k1], ep, budget // 2)
    pairs = list(product(range(len(k0)), range(len(k1))))
    result = _pair_counts(s0, s1, pairs, binsize, windowsize)
    rates = _rates(groups[1], s1, ep)
    _, _, centres = correlogram_bins(binsize, windowsize)
    data = {(k0[i], k1[j]): _normalise(result[(i, j)], s0.counts[i], binsize, rates[j] if norm else 1.0)
            for i, j in pairs}
    return _frame(data, centres)


class _Required:
    """Default of a required argument (pynapple checks the types of the others before reporting it missing)."""

    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Any = _Required()


def compute_eventcorrelogram(group: Any, event: Any = _REQUIRED, binsize: float = _REQUIRED,
                             windowsize: float = _REQUIRED, ep: IntervalSet | None = None, norm: bool = True,
                             time_units: str = "s", max_memory: int | str | None = None) -> pd.DataFrame:
    """Correlograms of each unit of a TsGroup around the times of ``event``.

    Parameters
    ----------
    group : TsGroup
        The units.
    event : Ts or Tsd
        Reference times.
    binsize, windowsize : float
        Bin size and half window, in ``time_units``.
    ep : IntervalSet, optional
        Epochs (default: the time support of ``event``).
    norm : bool
        Divide by the mean rate of each unit.
    time_units : {'s', 'ms', 'us'}
    max_memory : int or str, optional
        Memory budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    pandas.DataFrame
        Lags x units.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0.5, 100, 1.0))})
    >>> ev = nap.Ts(np.arange(0, 100, 10.0))
    >>> nap.compute_eventcorrelogram(group, ev, 0.5, 1.0, norm=False)[0].tolist()
    [0.0, 1.8, 0.0, 1.8, 0.0]
    """
    c = v.classes()
    _check_group(group)
    given = {"binsize": binsize, "windowsize": windowsize, "event": event}
    _check_params(*(1.0 if x is _REQUIRED else x for x in (binsize, windowsize)), ep, norm, time_units)
    if event is not _REQUIRED and (not isinstance(event, (c.Ts, c.Tsd)) or isinstance(event, (c.TsdFrame, c.TsdTensor))):
        _bad_type(event, "event", (c.Ts, c.Tsd))
    missing = [name for name in ("event", "binsize", "windowsize") if given[name] is _REQUIRED]
    if missing:
        raise TypeError(f"compute_eventcorrelogram() missing {len(missing)} required positional argument"
                        f"{'s' if len(missing) > 1 else ''}: {', '.join(repr(m) for m in missing)}")
    binsize, windowsize = _check_params(binsize, windowsize, ep, norm, time_units)
    budget = resolve_budget(max_memory)
    ref = _Spikes([event], ep, budget // 2)
    if ep is None:
        ep = event.time_support
    keys = list(group.keys())
    spikes = _Spikes([group[k] for k in keys], ep, budget // 2)
    counts = _counts_against(ref, 0, spikes, list(range(len(keys))), binsize, windowsize)
    _, _, centres = correlogram_bins(binsize, windowsize)
    data = {k: _normalise(counts[u], ref.counts[0], binsize) for u, k in enumerate(keys)}
    df = _frame(data, centres)
    if norm:
        df = df / (spikes.counts / ep.tot_length("s"))
    return df.astype("float")


# --------------------------------------------------------------------------------------------
# ISI distribution
# --------------------------------------------------------------------------------------------
def _diff_chunks(ix: Any, ep: IntervalSet, rows: int) -> Any:
    """Time differences of consecutive samples inside each epoch, in chunks."""
    a_all = np.asarray(ix.searchsorted(np.asarray(ep.start, float), "left"), dtype=np.int64)
    b_all = np.asarray(ix.searchsorted(np.asarray(ep.end, float), "right"), dtype=np.int64)
    for a, b in zip(a_all, b_all):
        for s in range(int(a), int(b) - 1, rows):
            t = ix.read(s, min(int(b), s + rows + 1))
            yield np.diff(t)


def compute_isi_distribution(data: Any, bins: int | list | np.ndarray = 10, log_scale: bool = False,
                             epochs: IntervalSet | None = None,
                             max_memory: int | str | None = None) -> pd.DataFrame:
    """Histogram of inter-event intervals per unit (or of one series).

    Parameters
    ----------
    data : Ts, Tsd, TsdFrame, TsdTensor or TsGroup
        Events (only the timestamps are used).
    bins : int or array of edges
        Number of bins (between the smallest and largest interval) or edges.
    log_scale : bool
        Histogram of ``log(interval)``.
    epochs : IntervalSet, optional
        Intervals are taken inside each epoch (default: the time support).
    max_memory : int or str, optional
        Memory budget (default ``napstream.config.memory_budget``).

    Returns
    -------
    pandas.DataFrame
        Bin centres x units, counts.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> nap.compute_isi_distribution(nap.Ts(np.cumsum(np.ones(11))), bins=2)[0].tolist()
    [0, 10]
    """
    c = v.classes()
    if not isinstance(data, (c.Ts, c.Tsd, c.TsdFrame, c.TsdTensor, c.TsGroup)):
        raise InvalidTypeError(f"data should be a Ts, TsGroup, Tsd, TsdFrame, TsdTensor. Got {v.type_name(data)}.")
    if not isinstance(bins, (int, list, np.ndarray)) or isinstance(bins, bool):
        raise InvalidTypeError(f"bins should be either int, list or np.ndarray. Got {v.type_name(bins)}.")
    if not isinstance(log_scale, bool):
        raise InvalidTypeError(f"log_scale should be of type bool. Got {v.type_name(log_scale)}.")
    if epochs is not None and not isinstance(epochs, IntervalSet):
        raise InvalidTypeError(f"epochs should be an object of type IntervalSet. Got {v.type_name(epochs)}.")
    epochs = data.time_support if epochs is None else epochs
    keys = list(data.keys()) if isinstance(data, c.TsGroup) else [0]
    indexes = [v.time_index_of(data[k]) for k in keys] if isinstance(data, c.TsGroup) else [v.time_index_of(data)]
    rows = max(1, resolve_budget(max_memory) // 64)
    tr = (lambda x: np.log(x)) if log_scale else (lambda x: x)
    edges = _isi_edges(bins, indexes, epochs, rows, tr)
    hist = {}
    for k, ix in zip(keys, indexes):
        h = np.zeros(len(edges) - 1, dtype=np.int64)
        for d in _diff_chunks(ix, epochs, rows):
            with np.errstate(divide="ignore"):
                f = bin_flat_index(tr(d), [edges])
            h += np.bincount(f[f >= 0], minlength=len(h))
        hist[k] = h
    return pd.DataFrame(index=(edges[:-1] + edges[1:]) / 2, data=hist)


def _isi_edges(bins: Any, indexes: list[Any], epochs: IntervalSet, rows: int, tr: Any) -> np.ndarray:
    if np.ndim(bins) == 0:
        if bins < 1:
            raise InvalidInputError(f"`bins` must be positive, when an integer. Got {bins}.")
        lo, hi = np.inf, -np.inf
        for ix in indexes:
            for d in _diff_chunks(ix, epochs, rows):
                if len(d):
                    with np.errstate(divide="ignore"):
                        x = tr(d)
                    lo, hi = min(lo, np.min(x)), max(hi, np.max(x))
        if lo > hi:
            raise InvalidInputError("data has fewer than 2 events in every epoch: no interval to histogram")
        return np.linspace(lo, hi, bins + 1)
    if np.ndim(bins) == 1:
        edges = np.asarray(bins)
        if np.any(edges[:-1] > edges[1:]):
            raise InvalidInputError(f"`bins` must increase monotonically, when an array. Got {edges!r}.")
        return edges
    raise InvalidInputError(f"`bins` must be 1d, when an array. Got ndim {np.ndim(bins)}.")
