"""Tuning curves that stream their inputs: features in chunks of rows, spikes per chunk time range.

``compute_tuning_curves`` (pynapple's current n-dimensional API) and the legacy functions
``compute_1d_tuning_curves`` / ``compute_2d_tuning_curves`` (+ ``_continuous``),
``compute_discrete_tuning_curves``, ``compute_response_per_epoch`` and the mutual-information
helpers. The numbers equal pynapple 0.11's; the memory used does not grow with the session:

1. the features are read in chunks of rows sized from ``max_memory`` /
   ``napstream.config.memory_budget`` but never more than :data:`CHUNK_ROWS` rows, so memory does
   not grow with the session even when a whole position array would fit the budget (one row of
   margin on each side, so the sample closest to every spike is known at the seams);
2. for each chunk, each unit's spikes are located by binary search in its time index and only the
   spikes of the chunk's time range are read; each spike's closest feature sample is guessed
   arithmetically and checked exactly (:class:`~._spike_kernels.ClosestSampler`);
3. occupancy and spike counts are accumulated per bin, and divided at the end.

The legacy functions do **not** emit pynapple's FutureWarning: napstream keeps them supported.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..core.interval_set import IntervalSet
from ..engine.protocol import ChunkAlgorithmBase
from ..engine.runner import run as _engine_run
from ..errors import InvalidInputError, InvalidTypeError
from . import _validate as v
from ._spike_kernels import ClosestSampler, bin_flat_index, outer_edges
from ._tuning_query import _Query, held_counts, held_features, held_stats

__all__ = [
    "compute_tuning_curves", "compute_response_per_epoch", "compute_mutual_information",
    "compute_1d_tuning_curves", "compute_2d_tuning_curves", "compute_1d_tuning_curves_continuous",
    "compute_2d_tuning_curves_continuous", "compute_discrete_tuning_curves", "compute_1d_mutual_info",
    "compute_2d_mutual_info",
]


#: Most feature rows one chunk holds, whatever the memory budget: memory must not grow with the
#: session (a 10-h position still fits one chunk of the default budget), and chunks of this size
#: stay cache-friendly while their per-chunk cost (a few searches per unit) stays negligible.
CHUNK_ROWS = 1 << 17


def _capped_run(algorithm: Any, series: Any, ep: Any = None, max_memory: Any = None, executor: Any = None) -> Any:
    """``engine.run`` with chunks of at most :data:`CHUNK_ROWS` rows (``algorithm.max_rows``);
    a smaller ``max_memory`` still makes them smaller."""
    algorithm.max_rows = CHUNK_ROWS
    return _engine_run(algorithm, series, ep=ep, max_memory=max_memory, executor=executor)


# --------------------------------------------------------------------------------------------
# chunk algorithms
# --------------------------------------------------------------------------------------------
class _MinMax(ChunkAlgorithmBase):
    """Per-column min / max / count of the rows (NaN propagates, like ``ndarray.min``)."""

    def __init__(self, n_dims: int, skip_nan: bool = False) -> None:
        self.n_dims, self.skip_nan = n_dims, skip_nan

    def init(self) -> tuple[np.ndarray, np.ndarray, int]:
        return np.full(self.n_dims, np.inf), np.full(self.n_dims, -np.inf), 0

    def update(self, state: Any, chunk: Any) -> Any:
        d = np.asarray(chunk.d[chunk.core_slice], dtype=np.float64).reshape(-1, self.n_dims)
        if len(d) == 0:
            return state
        # one 1-D reduction per column: numpy reduces a few wide columns along axis 0 slowly
        low, high = (np.fmin, np.fmax) if self.skip_nan else (np.minimum, np.maximum)
        with np.errstate(invalid="ignore"):
            lo = np.array([low.reduce(d[:, i]) for i in range(self.n_dims)])
            hi = np.array([high.reduce(d[:, i]) for i in range(self.n_dims)])
        return low(state[0], lo), high(state[1], hi), state[2] + len(d)

    def merge(self, states: list[Any]) -> Any:
        lo = (np.fmin if self.skip_nan else np.minimum).reduce([s[0] for s in states], axis=0)
        hi = (np.fmax if self.skip_nan else np.maximum).reduce([s[1] for s in states], axis=0)
        return lo, hi, sum(s[2] for s in states)


#: spike times of a TsGroup read at once by a tuning curve when they take at most this share of
#: the memory budget (and at most :data:`LOAD_MAX_BYTES`)
LOAD_SHARE = 8
LOAD_MAX_BYTES = 64 * 2**20


class _Tuning(ChunkAlgorithmBase):
    """Occupancy + per-unit counts (spikes) or per-column sums and counts (continuous data)."""

    margin = 1

    def __init__(self, edges: list[np.ndarray], starts: np.ndarray, ends: np.ndarray, query: _Query,
                 n_out: int, continuous: bool, row_factor: float) -> None:
        self.edges, self.starts, self.ends = edges, starts, ends
        self.query, self.n_out, self.continuous = query, n_out, continuous
        self.n_bins = int(np.prod([len(e) - 1 for e in edges]))
        self.row_factor = row_factor
        self.fixed_nbytes = 8 * self.n_bins * (2 * n_out + 2)

    def init(self) -> dict[str, np.ndarray]:
        return {"occ": np.zeros(self.n_bins), "num": np.zeros((self.n_out, self.n_bins)),
                "den": np.zeros(self.n_bins)}

    def update(self, state: dict, chunk: Any) -> dict:
        t, core, k = chunk.t, chunk.core_slice, chunk.segment
        # bin + 1 of every row, 0 for rows outside the bins (NaN) or in the margins (owned by the
        # neighbouring chunk): one gather + one bincount per unit, no masks
        bin1 = bin_flat_index(np.asarray(chunk.d, dtype=np.float64), self.edges)
        bin1 += 1
        bin1[:core.start] = 0
        bin1[core.stop:] = 0
        state["occ"] += np.bincount(bin1, minlength=self.n_bins + 1)[1:]
        if self.query.closest is not None:  # each spike's closest row is known: count those in the core
            return self._count_closest(state, chunk, bin1)
        lo = t[core.start - 1] if core.start > 0 else self.starts[k]
        hi = t[core.stop] if core.stop < len(t) else self.ends[k]
        closest = ClosestSampler(t)
        num = state["num"]
        for u, times, rows in self.query.read(k, lo, hi):
            fb = bin1.take(closest(times))
            if not self.continuous:
                num[u] += np.bincount(fb, minlength=self.n_bins + 1)[1:]
                continue
            state["den"] += np.bincount(fb, minlength=self.n_bins + 1)[1:]
            for c in range(self.n_out):
                num[c] += np.bincount(fb, weights=rows[:, c], minlength=self.n_bins + 1)[1:]
        return state

    def _count_closest(self, state: dict, chunk: Any, bin1: np.ndarray) -> dict:
        """Spikes per bin of the spikes whose closest feature row is in the chunk's core (the
        rows it owns): the same counts as the search per chunk, from the query's ``closest``."""
        k, c0, c1, first = chunk.segment, chunk.core_start, chunk.core_stop, chunk.start_row
        num, width = state["num"], self.n_bins + 1
        for u, per_epoch in enumerate(self.query.closest):
            rows = per_epoch[k]
            if rows is None:
                continue
            i0, i1 = int(rows.searchsorted(c0, "left")), int(rows.searchsorted(c1, "left"))
            if i1 > i0:
                num[u] += np.bincount(bin1.take(rows[i0:i1] - first), minlength=width)[1:]
        return state

    def merge(self, states: list[dict]) -> dict:
        return {key: sum(s[key] for s in states) for key in states[0]}


# --------------------------------------------------------------------------------------------
# helpers of compute_tuning_curves
# --------------------------------------------------------------------------------------------
def _feature_names(features: Any, feature_names: Any, n_features: int) -> list[Any]:
    if feature_names is None:
        cols = getattr(features, "columns", None)
        return list(cols) if n_features > 1 or cols is not None and features.ndim == 2 else ["0"]
    if (not hasattr(feature_names, "__len__") or isinstance(feature_names, str)
            or not all(isinstance(n, str) for n in feature_names)):
        raise InvalidTypeError(f"feature_names should be a list of strings. Got {feature_names!r}.")
    if len(feature_names) != n_features:
        raise InvalidInputError(
            f"feature_names should match the number of features. Expected {n_features} names, "
            f"got {len(feature_names)}.")
    return list(feature_names)


def _is_scalar(x: Any) -> bool:
    return np.isscalar(x) or (isinstance(x, np.ndarray) and x.ndim == 0)


def _bin_specs(bins: Any, n_features: int) -> list[Any]:
    if _is_scalar(bins):
        return [bins] * n_features
    if not hasattr(bins, "__len__"):
        raise InvalidTypeError(f"bins must be an int or a sequence, got {v.type_name(bins)}")
    if n_features == 1 and len(bins) > 1 and all(_is_scalar(b) for b in bins):
        bins = [bins]
    if len(bins) != n_features:
        raise InvalidInputError(
            f"bins should contain one specification per feature (expected {n_features}, got {len(bins)}). "
            "To use explicit bin edges with several features, pass one array per feature.")
    return list(bins)


def _ranges(rng: Any, n_features: int) -> list[Any] | None:
    if rng is None:
        return None
    if isinstance(rng, tuple) and n_features == 1:
        rng = [rng]
    elif isinstance(rng, tuple) and np.ndim(rng[0]) == 0:
        raise InvalidInputError(
            f"range should be a sequence of tuples, one for each feature. Expected {n_features} "
            f"(lower, upper) pairs, got {rng!r}.")
    if not hasattr(rng, "__len__") or len(rng) != n_features:
        raise InvalidInputError(
            f"range should be a sequence of tuples, one for each feature. Expected {n_features}, got {rng!r}.")
    return list(rng)


def _sampling_rate(ti: Any, segments: np.ndarray) -> float:
    """1 / mean interval between consecutive feature samples inside each epoch (pynapple's fs)."""
    total, n = 0.0, 0
    for a, b in segments:
        if b - a >= 2:
            total += float(ti.read(int(b) - 1, int(b))[0] - ti.read(int(a), int(a) + 1)[0])
            n += int(b - a - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(1.0) / (np.float64(total) / n)) if n else float("nan")


def _check_inputs(data: Any, features: Any, epochs: Any) -> tuple[Any, Any, Any, IntervalSet]:
    c = v.classes()
    if not isinstance(data, (c.TsdFrame, c.TsGroup, c.Ts, c.Tsd)) or isinstance(data, c.TsdTensor):
        raise InvalidTypeError(f"data should be a TsdFrame, TsGroup, Ts, or Tsd. Got {v.type_name(data)}.")
    if not isinstance(features, (c.Tsd, c.TsdFrame)) or isinstance(features, c.TsdTensor):
        raise InvalidTypeError(f"features should be a Tsd or TsdFrame. Got {v.type_name(features)}.")
    if epochs is not None and not isinstance(epochs, IntervalSet):
        raise InvalidTypeError(f"epochs should be an IntervalSet. Got {v.type_name(epochs)}.")
    if epochs is None:
        epochs = features.time_support
    ti, d = v.time_index_of(features), v.data_of(features)
    segments = v.unit_segments(ti, epochs.start, epochs.end)
    if len(epochs) == 0 or int((segments[:, 1] - segments[:, 0]).sum()) == 0:
        raise InvalidInputError(
            f"epochs must overlap the features: no sample of features lies in the {len(epochs)} epoch(s) "
            f"given (features span {ti.first if len(ti) else float('nan')} to "
            f"{ti.last if len(ti) else float('nan')} s)")
    return ti, d, segments, epochs


def _build_query(data: Any, epochs: IntervalSet, max_memory: Any = None) -> tuple[_Query, np.ndarray, bool, Any]:
    """(query, unit keys, continuous?, rates or None)."""
    c = v.classes()
    if isinstance(data, c.TsGroup) or v.is_spikes(data):
        keys = np.asarray(list(data.keys())) if isinstance(data, c.TsGroup) else np.asarray([0])
        units = [data[k] for k in data.keys()] if isinstance(data, c.TsGroup) else [data]
        for k, u in zip(keys, units):
            if not v.is_spikes(u):
                warnings.warn(f"TsGroup entry {k} was not a Ts, but treating it as one!", UserWarning, stacklevel=4)
        from ..engine.planner import resolve_budget

        load = min(resolve_budget(max_memory) // LOAD_SHARE, LOAD_MAX_BYTES)
        query = _Query([v.time_index_of(u) for u in units], epochs.start, epochs.end, load_bytes=load)
        counts = np.array([int((s[:, 1] - s[:, 0]).sum()) for s in query.segments], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = counts / epochs.tot_length("s")
        return query, keys, False, rates
    keys = np.asarray(list(data.columns)) if isinstance(data, c.TsdFrame) else np.asarray([0])
    query = _Query([v.time_index_of(data)], epochs.start, epochs.end, v.data_of(data))
    return query, keys, True, None


def _edges(ti: Any, d: Any, segments: np.ndarray, specs: list[Any], ranges: Any,
           epochs: IntervalSet, max_memory: Any, executor: Any) -> list[np.ndarray]:
    n_dims = len(specs)
    need = [np.ndim(s) == 0 and (ranges is None or ranges[i] is None) for i, s in enumerate(specs)]
    stats = [(np.nan, np.nan, 1)] * n_dims
    if any(need):
        lo, hi, n = _capped_run(_MinMax(n_dims), (ti, d), ep=epochs, max_memory=max_memory, executor=executor)
        stats = [(lo[i], hi[i], n) for i in range(n_dims)]
    return outer_edges(stats, specs, ranges, name="bins")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def compute_tuning_curves(
    data: Any,
    features: Any,
    bins: Any = 10,
    range: Any = None,  # noqa: A002 - pynapple's name
    epochs: IntervalSet | None = None,
    fs: float | None = None,
    feature_names: list[str] | None = None,
    return_pandas: bool = False,
    return_counts: bool = False,
    max_memory: int | str | None = None,
    executor: Any = None,
) -> Any:
    """N-dimensional tuning curves of spikes (rates) or continuous data (mean) against features.

    Same parameters, numbers, coordinates and attributes as pynapple 0.11's
    ``compute_tuning_curves``; the inputs are streamed (see the module docstring).

    Parameters
    ----------
    data : TsGroup, Ts, Tsd or TsdFrame
        Spikes (rates per bin are returned) or continuous values (mean per bin).
    features : Tsd or TsdFrame
        One column per feature (position x/y, head direction...).
    bins : int, sequence of int or sequence of edges
        Bins per feature (an int for all, one int each) or explicit edges.
    range : sequence of (lower, upper), optional
        Outer edges per feature when ``bins`` gives numbers (default: min/max of the features).
    epochs : IntervalSet, optional
        Where to compute (default: the time support of ``features``).
    fs : float, optional
        Sampling rate of the features (default: estimated from their timestamps).
    feature_names : list of str, optional
        Names of the feature dimensions (default: the columns of ``features``).
    return_pandas : bool
        Return a pandas.DataFrame (1 feature only) instead of an xarray.DataArray.
    return_counts : bool
        Spike counts per bin instead of rates (spikes only).
    max_memory : int or str, optional
        Memory budget of the streamed reads (default ``napstream.config.memory_budget``).
    executor : {'serial', 'threads', 'dask'} or distributed.Client, optional
        How chunks are processed (default ``napstream.config.executor``); same result for all.

    Returns
    -------
    xarray.DataArray
        Dimensions ``unit`` then one per feature (bin centres); attributes ``occupancy``,
        ``bin_edges``, ``fs`` and (spikes) ``rates``.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({1: nap.Ts(np.arange(0, 100, 0.1)), 2: nap.Ts(np.arange(0, 100, 0.2))})
    >>> feature = nap.Tsd(t=np.arange(0, 100, 0.1), d=np.arange(0, 100, 0.1) % 1)
    >>> tcs = nap.compute_tuning_curves(group, feature, bins=10)
    >>> tcs.shape, float(tcs.attrs["fs"])
    ((2, 10), 10.0)
    """
    import xarray as xr

    v.check_flag(return_pandas, "return_pandas")
    r = _tuning(data, features, bins, range, epochs, fs, feature_names, return_counts, max_memory, executor)
    attrs = {"occupancy": r.occupancy, "bin_edges": r.edges, "fs": r.fs}
    if r.rates is not None:
        attrs["rates"] = r.rates
    coords = {"unit": r.keys, **{str(n): c for n, c in zip(r.names, r.centres)}}
    out = xr.DataArray(r.tcs, coords=coords, dims=list(coords), attrs=attrs)
    return out.to_pandas().T if return_pandas else out


def _tuning(data: Any, features: Any, bins: Any, rng: Any, epochs: Any, fs: Any, feature_names: Any,
            return_counts: Any, max_memory: Any, executor: Any) -> SimpleNamespace:
    """The numbers of :func:`compute_tuning_curves` (no xarray: the legacy API skips it)."""
    ti, d, segments, epochs = _check_inputs(data, features, epochs)
    n_features = 1 if len(d.shape) == 1 else int(d.shape[1])
    names = _feature_names(features, feature_names, n_features)
    specs, ranges = _bin_specs(bins, n_features), _ranges(rng, n_features)
    if fs is None:
        fs = _sampling_rate(ti, segments)
    elif isinstance(fs, bool) or not isinstance(fs, (int, float)):
        raise InvalidTypeError(f"fs should be a number (int or float). Got {v.type_name(fs)}.")
    v.check_flag(return_counts, "return_counts")
    # the query first: it reads the data (spike times), the edges read the features' values (a
    # series just opened may still be receiving them)
    query, keys, continuous, rates = _build_query(data, epochs, max_memory)
    held = None
    if not continuous:  # the closest feature row of each spike: from the timestamps alone
        from ..engine.planner import resolve_budget

        load = min(resolve_budget(max_memory) // LOAD_SHARE, LOAD_MAX_BYTES)
        if query.attach_closest(ti, segments, load):  # small features: read once, in CHUNK_ROWS blocks
            held = held_features(d, segments, n_features, CHUNK_ROWS, load)
    if held is not None:
        need = [np.ndim(s) == 0 and (ranges is None or ranges[i] is None) for i, s in enumerate(specs)]
        stats = held_stats(held, n_features) if any(need) else [(np.nan, np.nan, 1)] * n_features
        edges = outer_edges(stats, specs, ranges, name="bins")
        state = held_counts(held, edges, query, len(keys))
    else:
        edges = _edges(ti, d, segments, specs, ranges, epochs, max_memory, executor)
        algo = _Tuning(edges, epochs.start, epochs.end, query, len(keys), continuous,
                       _row_factor(query, segments, continuous))
        state = _capped_run(algo, (ti, d), ep=epochs, max_memory=max_memory, executor=executor)
    shape = tuple(len(e) - 1 for e in edges)
    occupancy = state["occ"].reshape(shape)
    tcs = _finalize(state, shape, occupancy, fs, continuous, return_counts)
    return SimpleNamespace(tcs=tcs, keys=keys, names=names, edges=edges, occupancy=occupancy, fs=fs,
                           rates=rates, centres=[e[:-1] + np.diff(e) / 2 for e in edges])


def _row_factor(query: _Query, segments: np.ndarray, continuous: bool) -> float:
    """float64 copies per feature row, counting the queries read with each row."""
    rows = max(int((segments[:, 1] - segments[:, 0]).sum()), 1)
    per_row = query.total() / rows
    width = 1 + (query.data.shape[1] if continuous and len(query.data.shape) > 1 else 1)
    return 4.0 + 4.0 * per_row * width


def _finalize(state: dict, shape: tuple, occupancy: np.ndarray, fs: float, continuous: bool,
              return_counts: bool) -> np.ndarray:
    num = state["num"].reshape((-1, *shape))
    if not continuous:
        if return_counts:
            return num
        with np.errstate(divide="ignore", invalid="ignore"):
            return (num / occupancy) * fs
    den = state["den"].reshape(shape).copy()
    den[den == 0] = np.nan
    tcs = num / den
    tcs[np.isnan(tcs)] = 0.0
    tcs[:, occupancy == 0.0] = np.nan
    return tcs


def compute_response_per_epoch(data: Any, epochs_dict: dict, return_pandas: bool = False) -> Any:
    """Mean response per epoch: spike rate (spikes) or mean value (continuous data).

    Parameters
    ----------
    data : TsGroup, Ts, Tsd or TsdFrame
        Spikes or continuous values.
    epochs_dict : dict of IntervalSet
        One entry per condition (stimulus...).
    return_pandas : bool
        Return a pandas.DataFrame (epochs x units) instead of an xarray.DataArray.

    Returns
    -------
    xarray.DataArray
        Dimensions ``unit`` and ``epochs``.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({1: nap.Ts(np.arange(0, 100, 0.1))})
    >>> eps = {"a": nap.IntervalSet(0, 30), "b": nap.IntervalSet(60, 90)}
    >>> np.round(nap.compute_response_per_epoch(group, eps).values, 3).tolist()
    [[10.033, 10.033]]
    """
    import xarray as xr

    c = v.classes()
    if not isinstance(data, (c.TsdFrame, c.TsGroup, c.Ts, c.Tsd)) or isinstance(data, c.TsdTensor):
        raise InvalidTypeError(f"data should be a TsdFrame, TsGroup, Ts, or Tsd. Got {v.type_name(data)}.")
    if (not isinstance(epochs_dict, dict) or len(epochs_dict) == 0
            or not all(isinstance(e, IntervalSet) for e in epochs_dict.values())):
        raise InvalidTypeError(
            f"epochs_dict should be a dictionary of IntervalSets. Got {v.type_name(epochs_dict)}.")
    v.check_flag(return_pandas, "return_pandas")
    columns = [_epoch_response(data, ep, max_memory=None) for ep in epochs_dict.values()]
    keys = _keys_of(data)
    out = xr.DataArray(np.stack(columns, axis=1), coords={"unit": keys, "epochs": list(epochs_dict)},
                       dims=["unit", "epochs"])
    return out.to_pandas().T if return_pandas else out


def _keys_of(data: Any) -> np.ndarray:
    c = v.classes()
    if isinstance(data, c.TsGroup):
        return np.asarray(list(data.keys()))
    if isinstance(data, c.TsdFrame):
        return np.asarray(list(data.columns))
    return np.asarray([0])


def _epoch_response(data: Any, ep: IntervalSet, max_memory: Any) -> np.ndarray:
    c = v.classes()
    if isinstance(data, c.TsGroup) or v.is_spikes(data):
        units = [data[k] for k in data.keys()] if isinstance(data, c.TsGroup) else [data]
        counts = [int(np.diff(v.unit_segments(v.time_index_of(u), ep.start, ep.end), axis=1).sum())
                  for u in units]
        return np.asarray(counts, dtype=float) / ep.tot_length("s")
    ti, d = v.time_index_of(data), v.data_of(data)
    total, n = _capped_run(_Sum(), (ti, d), ep=ep, max_memory=max_memory, executor="serial")
    if n == 0:
        return np.full(int(np.prod(d.shape[1:])) if len(d.shape) > 1 else 1, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / n


class _Sum(ChunkAlgorithmBase):
    """Column sums and row count (NaN propagates like ``ndarray.mean``)."""

    def init(self) -> tuple[Any, int]:
        return 0.0, 0

    def update(self, state: Any, chunk: Any) -> Any:
        d = np.asarray(chunk.d[chunk.core_slice], dtype=np.float64)
        d = d.reshape(len(d), -1)
        return state[0] + d.sum(axis=0), state[1] + len(d)

    def merge(self, states: list[Any]) -> Any:
        return sum(s[0] for s in states), sum(s[1] for s in states)


def compute_mutual_information(tuning_curves: Any, rates: Any = None) -> pd.DataFrame:
    """Skaggs mutual information (bits/sec and bits/spike) of n-dimensional tuning curves.

    Parameters
    ----------
    tuning_curves : xarray.DataArray
        As returned by :func:`compute_tuning_curves` (needs the ``occupancy`` attribute).
    rates : list or numpy.ndarray, optional
        Mean rate per unit (default: the ``rates`` attribute, else estimated with a warning).

    Returns
    -------
    pandas.DataFrame
        Columns ``bits/sec`` and ``bits/spike``, one row per unit.

    Examples
    --------
    >>> import numpy as np, xarray as xr, napstream as nap
    >>> tc = xr.DataArray([[0.0, 10.0]], coords={"unit": [0], "0": [0.5, 1.5]},
    ...                   attrs={"occupancy": np.array([50.0, 50.0]), "rates": np.array([5.0])})
    >>> nap.compute_mutual_information(tc)["bits/spike"].tolist()
    [1.0]
    """

    import xarray as xr

    if not isinstance(tuning_curves, xr.DataArray):
        raise InvalidTypeError(
            f"tuning_curves should be an xr.DataArray as computed by compute_tuning_curves. "
            f"Got {v.type_name(tuning_curves)}.")
    if rates is not None:
        if not isinstance(rates, (list, np.ndarray)):
            raise InvalidTypeError(f"rates should be a list or array. Got {v.type_name(rates)}.")
        if tuning_curves.shape[0] != len(rates):
            raise InvalidInputError(
                f"dimension of rates should match that of the tuning curves: {tuning_curves.shape[0]} "
                f"units, got {len(rates)} rates.")
    if "occupancy" not in tuning_curves.attrs:
        raise InvalidInputError(
            "No occupancy found in tuning curves. compute_tuning_curves stores it in the 'occupancy' attribute.")
    occupancy = tuning_curves.attrs["occupancy"] / np.nansum(tuning_curves.attrs["occupancy"])
    fx = tuning_curves.values
    fr = tuning_curves.attrs.get("rates") if rates is None else rates
    axes = tuple(np.arange(1, fx.ndim))
    if fr is None:
        warnings.warn("Estimating mean firing rates from tuning curves, they were not in the tuning "
                      "curves nor passed.", UserWarning, stacklevel=2)
        fr = np.nansum(fx * occupancy, axis=axes)
    fr = np.asarray(fr, dtype=float)
    with np.errstate(all="ignore"):
        logfx = np.log2(fx / np.expand_dims(fr, axis=axes))
    logfx[~np.isfinite(logfx)] = 0.0
    bits_sec = np.nansum(occupancy * fx * logfx, axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits_spike = bits_sec / fr
    return pd.DataFrame(np.stack([bits_sec, bits_spike], axis=1), index=tuning_curves.coords["unit"],
                        columns=["bits/sec", "bits/spike"])


# =============================================================================================
# legacy API (kept supported: no FutureWarning, same numbers as pynapple)
# =============================================================================================
def _legacy_checks(group: Any = None, feature: Any = None, features: Any = None, nb_bins: Any = None,
                   ep: Any = None, minmax: Any = None, group_name: str = "group") -> None:
    c = v.classes()
    if group is not None and group_name == "group":
        if not isinstance(group, c.TsGroup):
            raise InvalidTypeError(f"group should be a TsGroup. Got {v.type_name(group)}.")
    if group is not None and group_name == "tsdframe" and not isinstance(group, (c.Tsd, c.TsdFrame)):
        raise InvalidTypeError(f"Argument tsdframe should be of type Tsd or TsdFrame. Got {v.type_name(group)}.")
    if feature is not None:
        if not isinstance(feature, (c.Tsd, c.TsdFrame)) or isinstance(feature, c.TsdTensor):
            raise InvalidTypeError(
                f"feature should be a Tsd (or TsdFrame with 1 column only). Got {v.type_name(feature)}.")
        if len(feature.shape) == 2 and feature.shape[1] != 1:
            raise InvalidInputError(
                f"feature should be a Tsd (or TsdFrame with 1 column only). Got {feature.shape[1]} columns.")
    if features is not None:
        if not isinstance(features, c.TsdFrame):
            raise InvalidTypeError(f"features should be a TsdFrame with 2 columns. Got {v.type_name(features)}.")
        if features.shape[1] != 2:
            raise InvalidInputError(f"features should have 2 columns only. Got {features.shape[1]}.")
    if nb_bins is not None:
        _check_nb_bins(nb_bins)
    if ep is not None and not isinstance(ep, IntervalSet):
        raise InvalidTypeError(f"ep should be an IntervalSet. Got {v.type_name(ep)}.")
    if minmax is not None and (not hasattr(minmax, "__iter__") or isinstance(minmax, str)):
        raise InvalidTypeError(f"minmax should be a tuple/list of 2 numbers. Got {v.type_name(minmax)}.")


def _check_nb_bins(nb_bins: Any) -> None:
    items = nb_bins if isinstance(nb_bins, tuple) else (nb_bins,)
    for b in items:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)):
            raise InvalidTypeError(
                f"nb_bins should be of type int (or tuple with (int, int) for 2D tuning curves). Got {nb_bins!r}.")
        if b <= 0:
            raise InvalidInputError(f"nb_bins must be positive, got {nb_bins!r}")


def _minmax_2d(minmax: Any) -> Any:
    if minmax is None:
        return None
    if len(minmax) != 4:
        raise InvalidInputError(f"minmax must be (xmin, xmax, ymin, ymax), got {minmax!r}")
    return [[minmax[0], minmax[1]], [minmax[2], minmax[3]]]


def compute_1d_tuning_curves(group: Any, feature: Any, nb_bins: int, ep: IntervalSet | None = None,
                             minmax: Any = None) -> pd.DataFrame:
    """1-D tuning curves (legacy API): DataFrame of rates, bin centres x units.

    Kept supported in napstream (no FutureWarning); equals pynapple 0.11's numbers.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 100, 0.1))})
    >>> feature = nap.Tsd(t=np.arange(0, 100, 0.1), d=np.arange(0, 100, 0.1) % 1)
    >>> nap.compute_1d_tuning_curves(group, feature, 10).shape
    (10, 1)
    """
    _legacy_checks(group=group, feature=feature, nb_bins=nb_bins, ep=ep, minmax=minmax)
    return _legacy_frame(_tuning(group, feature, nb_bins, None if minmax is None else [minmax], ep, None, None,
                                 False, None, None))


def compute_1d_tuning_curves_continuous(tsdframe: Any, feature: Any, nb_bins: int,
                                        ep: IntervalSet | None = None, minmax: Any = None) -> pd.DataFrame:
    """1-D tuning curves of continuous data (legacy API): mean value per bin, bins x columns.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> frame = nap.TsdFrame(t=np.arange(0, 10, 0.1), d=np.ones((100, 2)))
    >>> feature = nap.Tsd(t=np.arange(0, 10, 0.1), d=np.arange(100) % 10)
    >>> float(nap.compute_1d_tuning_curves_continuous(frame, feature, 5).values.mean())
    1.0
    """
    _legacy_checks(group=tsdframe, feature=feature, nb_bins=nb_bins, ep=ep, minmax=minmax,
                   group_name="tsdframe")
    return _legacy_frame(_tuning(tsdframe, feature, nb_bins, None if minmax is None else [minmax], ep, None,
                                 None, False, None, None))


def _legacy_frame(r: SimpleNamespace) -> pd.DataFrame:
    """Bins x units DataFrame, as pynapple's ``compute_tuning_curves(...).to_pandas().T`` (no xarray)."""
    keys = np.asarray(r.keys)
    columns = pd.Index(keys, name="unit", dtype=object if keys.dtype.kind in "OUS" else None)
    return pd.DataFrame(r.tcs.T, index=pd.Index(r.centres[0], name=str(r.names[0])), columns=columns)


def compute_2d_tuning_curves(group: Any, features: Any, nb_bins: int | tuple, ep: IntervalSet | None = None,
                             minmax: Any = None) -> tuple[dict, list[np.ndarray]]:
    """2-D tuning curves (legacy API used by the guide): ``({unit: 2-D array}, [xbins, ybins])``.

    ``xbins``/``ybins`` are bin centres. Kept supported in napstream (no FutureWarning); equals
    pynapple 0.11's numbers. The features are streamed in chunks (see the module docstring).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> t = np.arange(0, 100, 0.02)
    >>> xy = nap.TsdFrame(t=t, d=np.stack([np.sin(t), np.cos(t)], axis=1))
    >>> group = nap.TsGroup({0: nap.Ts(t[::7])})
    >>> tc, (xb, yb) = nap.compute_2d_tuning_curves(group, xy, 20)
    >>> tc[0].shape, len(xb)
    ((20, 20), 20)
    """
    _legacy_checks(group=group, features=features, nb_bins=nb_bins, ep=ep, minmax=minmax)
    r = _tuning(group, features, nb_bins, _minmax_2d(minmax), ep, None, None, False, None, None)
    return {k: r.tcs[i] for i, k in enumerate(r.keys)}, r.centres


def compute_2d_tuning_curves_continuous(tsdframe: Any, features: Any, nb_bins: int | tuple,
                                        ep: IntervalSet | None = None,
                                        minmax: Any = None) -> tuple[dict, list[np.ndarray]]:
    """2-D tuning curves of continuous data (legacy API): ``({column: 2-D array}, [xbins, ybins])``.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> t = np.arange(0, 10, 0.1)
    >>> xy = nap.TsdFrame(t=t, d=np.stack([t % 1, t % 2], axis=1))
    >>> tc, bins = nap.compute_2d_tuning_curves_continuous(nap.TsdFrame(t=t, d=np.ones((100, 1))), xy, 2)
    >>> tc[0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    _legacy_checks(group=tsdframe, features=features, nb_bins=nb_bins, ep=ep, minmax=minmax,
                   group_name="tsdframe")
    r = _tuning(tsdframe, features, nb_bins, _minmax_2d(minmax), ep, None, None, False, None, None)
    return {k: r.tcs[i] for i, k in enumerate(r.keys)}, r.centres


def compute_discrete_tuning_curves(group: Any, dict_ep: dict) -> pd.DataFrame:
    """Mean rate per epoch (legacy API): DataFrame epochs x units.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 100, 0.5))})
    >>> float(nap.compute_discrete_tuning_curves(group, {"a": nap.IntervalSet(0, 50)}).loc["a", 0])
    2.02
    """
    _legacy_checks(group=group)
    if not isinstance(dict_ep, dict):
        raise InvalidTypeError(f"dict_ep should be a dictionary of IntervalSet. Got {v.type_name(dict_ep)}.")
    if not all(isinstance(e, IntervalSet) for e in dict_ep.values()):
        raise InvalidTypeError("dict_ep argument should contain only IntervalSet.")
    return compute_response_per_epoch(group, dict_ep, return_pandas=True)


def _occupancy(features: Any, edges: list[np.ndarray], ep: Any) -> np.ndarray:
    ti, d = v.time_index_of(features), v.data_of(features)
    algo = _Occupancy(edges)
    return _capped_run(algo, (ti, d), ep=ep, executor="serial").reshape([len(e) - 1 for e in edges])


class _Occupancy(ChunkAlgorithmBase):
    def __init__(self, edges: list[np.ndarray]) -> None:
        self.edges, self.n = edges, int(np.prod([len(e) - 1 for e in edges]))

    def init(self) -> np.ndarray:
        return np.zeros(self.n)

    def update(self, state: np.ndarray, chunk: Any) -> np.ndarray:
        flat = bin_flat_index(np.asarray(chunk.d[chunk.core_slice], dtype=np.float64), self.edges)
        return state + np.bincount(flat[flat >= 0], minlength=self.n)

    def merge(self, states: list[np.ndarray]) -> np.ndarray:
        return sum(states)


def _nan_minmax(features: Any, n_dims: int) -> tuple[np.ndarray, np.ndarray]:
    ti, d = v.time_index_of(features), v.data_of(features)
    lo, hi, _ = _capped_run(_MinMax(n_dims, skip_nan=True), (ti, d), executor="serial")
    return lo, hi


def _mi_result(tcs: Any, bitssec: bool) -> pd.DataFrame:
    mi = compute_mutual_information(tcs)
    column = "bits/sec" if bitssec else "bits/spike"
    return mi[[column]].rename({column: "SI"}, axis=1)


def compute_1d_mutual_info(tc: Any, feature: Any, ep: IntervalSet | None = None, minmax: Any = None,
                           bitssec: bool = False) -> pd.DataFrame:
    """Spatial information of 1-D tuning curves (legacy API): DataFrame with column ``SI``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, napstream as nap
    >>> tc = pd.DataFrame({0: [0.0, 10.0]}, index=[0.25, 0.75])
    >>> feature = nap.Tsd(t=np.arange(100.0), d=np.arange(100) % 2 * 1.0)
    >>> float(nap.compute_1d_mutual_info(tc, feature).loc[0, "SI"])
    1.0
    """
    import xarray as xr

    if not isinstance(tc, (pd.DataFrame, np.ndarray)):
        raise InvalidTypeError(f"Argument tc should be of type pandas.DataFrame or numpy.ndarray. Got {v.type_name(tc)}.")
    _legacy_checks(feature=feature, ep=ep, minmax=minmax)
    bitssec = v.check_flag(bitssec, "bitssec", pynapple_type_message=True)
    if isinstance(tc, pd.DataFrame):
        tcs = xr.DataArray(tc.values.T, coords={"unit": tc.columns.values, "0": tc.index}, dims=["unit", "0"])
    else:
        tcs = xr.DataArray(tc.T, coords={"unit": np.arange(tc.shape[1])}, dims=["unit", "0"])
    lo, hi = (_nan_minmax(feature, 1)) if minmax is None else ([minmax[0]], [minmax[1]])
    edges = [np.linspace(lo[0], hi[0], tc.shape[0] + 1)]
    occupancy = _occupancy(feature, edges, ep)
    tcs.attrs["occupancy"] = occupancy / occupancy.sum()
    return _mi_result(tcs, bitssec)


def compute_2d_mutual_info(dict_tc: Any, features: Any, ep: IntervalSet | None = None, minmax: Any = None,
                           bitssec: bool = False) -> pd.DataFrame:
    """Spatial information of 2-D tuning curves (legacy API): DataFrame with column ``SI``.

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> t = np.arange(100.0)
    >>> xy = nap.TsdFrame(t=t, d=np.stack([t % 2, t % 2], axis=1))
    >>> tc = {0: np.array([[0.0, 0.0], [0.0, 10.0]])}
    >>> float(nap.compute_2d_mutual_info(tc, xy).loc[0, "SI"])
    1.0
    """
    import xarray as xr

    if not isinstance(dict_tc, (dict, np.ndarray)):
        raise InvalidTypeError(
            f"Argument dict_tc should be a dictionary of numpy.ndarray or numpy.ndarray. Got {v.type_name(dict_tc)}.")
    _legacy_checks(features=features, ep=ep, minmax=minmax)
    bitssec = v.check_flag(bitssec, "bitssec", pynapple_type_message=True)
    if isinstance(dict_tc, dict):
        tcs = xr.DataArray(np.array([dict_tc[k] for k in dict_tc]), coords={"unit": list(dict_tc)},
                           dims=["unit", "0", "1"])
    else:
        tcs = xr.DataArray(dict_tc, coords={"unit": np.arange(len(dict_tc))}, dims=["unit", "0", "1"])
    if minmax is None:
        lo, hi = _nan_minmax(features, 2)
    else:
        lo, hi = [minmax[0], minmax[2]], [minmax[1], minmax[3]]
    edges = [np.linspace(lo[i], hi[i], tcs.shape[1 + i] + 1) for i in range(2)]
    occupancy = _occupancy(features, edges, ep)
    tcs.attrs["occupancy"] = occupancy / occupancy.sum()
    return _mi_result(tcs, bitssec)
