"""Bayesian decoding of position (or any feature) from binned spike counts (pynapple's numbers).

``decode_bayes`` bins the spikes with the core ``TsGroup.count`` and computes the Poisson
log-likelihood in blocks of time bins with one matrix product per block (no
``bins x positions x units`` tensor as in pynapple), so the working memory is bounded by the
memory budget plus the output (the posterior, one row per time bin). ``decode_1d`` / ``decode_2d``
are the legacy entry points (kept supported, no FutureWarning).

Examples
--------
>>> import numpy as np, xarray as xr, napstream as nap
>>> tc = xr.DataArray([[10.0, 0.0], [0.0, 10.0]], coords={"unit": [0, 1], "0": [0.25, 0.75]})
>>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 1, 0.01)), 1: nap.Ts(np.arange(1, 2, 0.01))})
>>> decoded, p = nap.decode_bayes(tc, group, nap.IntervalSet(0, 2), bin_size=1.0)
>>> decoded.values.tolist()
[0.25, 0.75]
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..core.interval_set import IntervalSet
from ..engine.planner import resolve_budget
from ..errors import InvalidArgumentError, InvalidInputError, InvalidTypeError
from . import _validate as v

__all__ = ["decode_bayes", "decode_template", "decode_1d", "decode_2d"]

_EPS = 1e-12


def _prepare(tuning_curves: Any, data: Any, epochs: Any, bin_size: Any, sliding_window_size: Any,
             time_units: str, uniform_prior: bool) -> tuple[Any, float]:
    """Validate the inputs and return (binned data as a TsdFrame, bin size in seconds)."""
    import xarray as xr

    c = v.classes()
    if not isinstance(tuning_curves, xr.DataArray):
        raise InvalidTypeError(
            "tuning_curves should be an xarray.DataArray as computed by compute_tuning_curves. Got "
            f"{v.type_name(tuning_curves)}.")
    v.check_epochs(epochs, "epochs")
    v.check_time_units(time_units)
    continuous = isinstance(data, c.TsdFrame)
    if continuous:
        if isinstance(bin_size, bool) or not isinstance(bin_size, (int, float)):
            raise InvalidInputError(f"bin_size should be a number. Got {bin_size!r}.")
        actual = _mean_step(data)
        if not np.isclose(actual, float(v.to_s(bin_size, time_units))):
            warnings.warn("passed bin_size is different from actual data bin size.", stacklevel=3)
    elif isinstance(data, c.TsGroup):
        v.check_positive(bin_size, "bin_size")
        data = data.count(bin_size, epochs, time_units=time_units)
    else:
        raise InvalidTypeError(
            f"Unknown format for data. data should be a TsGroup or a TsdFrame of counts, got {v.type_name(data)}.")
    if tuning_curves.sizes["unit"] != data.shape[1]:
        raise InvalidInputError(
            f"Different shapes for tuning_curves and data: {tuning_curves.sizes['unit']} units in the tuning "
            f"curves, {data.shape[1]} columns in data.")
    if not np.all(tuning_curves.coords["unit"].values == np.asarray(data.columns)):
        raise InvalidInputError("Different indices for tuning curves and data keys.")
    if not uniform_prior and "occupancy" not in tuning_curves.attrs:
        raise InvalidInputError(
            "uniform_prior set to False but no occupancy found in tuning curves (the 'occupancy' attribute).")
    bin_s = float(v.to_s(bin_size, time_units))
    if sliding_window_size is not None:
        if isinstance(sliding_window_size, bool) or not isinstance(sliding_window_size, int):
            raise InvalidInputError(f"sliding_window_size should be a integer. Got {sliding_window_size!r}.")
        if sliding_window_size < 1:
            raise InvalidInputError(f"sliding_window_size should be >= 1. Got {sliding_window_size}.")
        data = data.convolve(np.ones(sliding_window_size), ep=epochs)
        if continuous:
            data = data / sliding_window_size
        else:
            bin_s = float(v.to_s(sliding_window_size * bin_size, time_units))
    return data, bin_s


def _mean_step(data: Any) -> float:
    """Mean interval between consecutive rows inside each epoch of the time support."""
    ix, sup = v.time_index_of(data), data.time_support
    total, n = 0.0, 0
    for a, b in v.unit_segments(ix, sup.start, sup.end):
        if b - a >= 2:
            total += float(ix.read(int(b) - 1, int(b))[0] - ix.read(int(a), int(a) + 1)[0])
            n += int(b - a - 1)
    return total / n if n else float("nan")


def _posterior(counts: np.ndarray, rate_map: np.ndarray, prior: np.ndarray, bin_s: float,
               budget: int) -> np.ndarray:
    """Normalised posterior (time bins x positions), computed in blocks of time bins."""
    nan_rate = np.isnan(rate_map)
    log_rate = np.where(nan_rate, 0.0, np.log(np.where(nan_rate, 0.0, rate_map) + _EPS))
    expected = bin_s * np.where(nan_rate, 0.0, rate_map).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_prior = np.log(prior)
    out = np.empty((len(counts), rate_map.shape[0]))
    rows = max(1, budget // (8 * 4 * max(1, rate_map.shape[0] + counts.shape[1])))
    for a in range(0, len(counts), rows):
        block = np.asarray(counts[a:a + rows], dtype=np.float64)
        if np.isnan(block).any():  # continuous data: drop NaN terms like np.nansum
            terms = block[:, None, :] * log_rate[None] - bin_s * np.where(nan_rate, 0.0, rate_map)[None]
            ll = np.nansum(terms, axis=-1)
        else:
            ll = block @ log_rate.T - expected
        lp = ll + log_prior
        p = np.exp(lp - lp.max(axis=1, keepdims=True))
        out[a:a + rows] = p / p.sum(axis=1, keepdims=True)
    return out


def _outputs(dist: np.ndarray, tuning_curves: Any, t: np.ndarray, epochs: IntervalSet,
             values: np.ndarray | None = None) -> tuple[Any, Any]:
    """Decoded values (argmax of ``dist``) and the distribution (``values``, default ``dist``)."""
    c = v.classes()
    filled = np.where(np.isnan(dist), -np.inf, dist)
    idx = np.argmax(filled, axis=1) if dist.shape[1] else np.zeros(len(dist), dtype=int)
    idx[np.isnan(dist).all(axis=1)] = -1
    dist = dist if values is None else values
    shape = tuning_curves.shape[1:]
    valid = idx != -1
    dims = tuning_curves.dims[1:]
    if len(shape) == 1:
        dist_obj = c.TsdFrame(t=t, d=dist, time_support=epochs, columns=tuning_curves.coords[dims[0]].values)
        decoded = np.full(len(idx), np.nan)
        decoded[valid] = tuning_curves.coords[dims[0]].values[idx[valid]]
        return c.Tsd(t=t, d=decoded, time_support=epochs), dist_obj
    dist_obj = c.TsdTensor(t=t, d=dist.reshape(len(dist), *shape), time_support=epochs)
    cols = [np.full(len(idx), np.nan) for _ in shape]
    unravel = np.unravel_index(idx[valid], shape)
    for i, dim in enumerate(dims):
        cols[i][valid] = tuning_curves.coords[dim].values[unravel[i]]
    return c.TsdFrame(t=t, d=np.stack(cols, axis=1), time_support=epochs, columns=list(dims)), dist_obj


def decode_bayes(tuning_curves: Any, data: Any, epochs: IntervalSet, bin_size: float,
                 sliding_window_size: int | None = None, time_units: str = "s", uniform_prior: bool = True,
                 max_memory: int | str | None = None) -> tuple[Any, Any]:
    """Bayesian (Poisson) decoding of the feature from spike counts (Zhang et al., 1998).

    Parameters
    ----------
    tuning_curves : xarray.DataArray
        As returned by :func:`compute_tuning_curves` (units x feature bins).
    data : TsGroup or TsdFrame
        Spikes (binned here with ``count``) or counts already binned.
    epochs : IntervalSet
        Where to decode.
    bin_size : float
        Bin size in ``time_units``.
    sliding_window_size : int, optional
        Sum the counts over this many bins (a sliding window).
    time_units : {'s', 'ms', 'us'}
    uniform_prior : bool
        Use a flat prior (True) or the occupancy of the tuning curves (False).
    max_memory : int or str, optional
        Working memory of the likelihood blocks (default ``napstream.config.memory_budget``).

    Returns
    -------
    decoded : Tsd or TsdFrame
        The most likely feature value per bin.
    probability : TsdFrame or TsdTensor
        The posterior per bin.

    Examples
    --------
    >>> import numpy as np, xarray as xr, napstream as nap
    >>> tc = xr.DataArray([[5.0, 1.0], [1.0, 5.0]], coords={"unit": [0, 1], "0": [0.0, 1.0]})
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 1, 0.1)), 1: nap.Ts(np.arange(1, 2, 0.1))})
    >>> decoded, _ = nap.decode_bayes(tc, group, nap.IntervalSet(0, 2), 1.0)
    >>> decoded.values.tolist()
    [0.0, 1.0]
    """
    uniform_prior = v.check_bool(uniform_prior, "uniform_prior")
    binned, bin_s = _prepare(tuning_curves, data, epochs, bin_size, sliding_window_size, time_units, uniform_prior)
    if uniform_prior:
        prior = np.ones(int(np.prod(tuning_curves.shape[1:])))
    else:
        prior = np.asarray(tuning_curves.attrs["occupancy"], dtype=np.float64).flatten()
    prior = prior / prior.sum()
    rate_map = tuning_curves.values.reshape(tuning_curves.sizes["unit"], -1).T
    dist = _posterior(np.asarray(binned.values), rate_map, prior, bin_s, resolve_budget(max_memory))
    return _outputs(dist, tuning_curves, np.asarray(binned.times()), epochs)


def decode_template(tuning_curves: Any, data: Any, epochs: IntervalSet, bin_size: float,
                    metric: str = "correlation", sliding_window_size: int | None = None,
                    time_units: str = "s", max_memory: int | str | None = None) -> tuple[Any, Any]:
    """Template-matching decoding: the feature bin whose tuning is closest to the counts.

    Parameters
    ----------
    tuning_curves : xarray.DataArray
        As returned by :func:`compute_tuning_curves`.
    data : TsGroup or TsdFrame
        Spikes (binned with ``count``) or binned counts / rates.
    epochs : IntervalSet
        Where to decode.
    bin_size : float
        In ``time_units``.
    metric : str
        Any ``scipy.spatial.distance.cdist`` metric (smaller is closer).
    sliding_window_size : int, optional
        Sum the counts over this many bins.
    time_units : {'s', 'ms', 'us'}
    max_memory : int or str, optional
        Working memory of the distance blocks (default ``napstream.config.memory_budget``).

    Returns
    -------
    decoded : Tsd or TsdFrame
    distance : TsdFrame or TsdTensor

    Examples
    --------
    >>> import numpy as np, xarray as xr, napstream as nap
    >>> tc = xr.DataArray([[5.0, 1.0, 0.0], [1.0, 5.0, 0.0]], coords={"unit": [0, 1], "0": [0.0, 1.0, 2.0]})
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 1, 0.1)), 1: nap.Ts(np.arange(1, 2, 0.1))})
    >>> from napstream.process.decoding import decode_template
    >>> decode_template(tc, group, nap.IntervalSet(0, 2), 1.0, metric="euclidean")[0].values.tolist()
    [0.0, 1.0]
    """
    from scipy.spatial.distance import cdist

    binned, _ = _prepare(tuning_curves, data, epochs, bin_size, sliding_window_size, time_units, True)
    tc = tuning_curves.values.reshape(tuning_curves.sizes["unit"], -1).T
    counts = np.asarray(binned.values, dtype=np.float64)
    rows = max(1, resolve_budget(max_memory) // (8 * 4 * max(1, tc.shape[0] + counts.shape[1])))
    dist = np.empty((len(counts), tc.shape[0]))
    for a in range(0, len(counts), rows):
        dist[a:a + rows] = cdist(counts[a:a + rows], tc, metric=metric)
    return _outputs(-dist, tuning_curves, np.asarray(binned.times()), epochs, values=dist)


def _edges_from_centres(centres: np.ndarray) -> np.ndarray:
    diff = np.diff(centres)
    bins = centres[:-1] - diff / 2
    return np.hstack((bins, [bins[-1] + diff[-1], bins[-1] + 2 * diff[-1]]))


def decode_1d(tuning_curves: Any, group: Any, ep: IntervalSet, bin_size: float, time_units: str = "s",
              feature: Any = None) -> tuple[Any, Any]:
    """Bayesian decoding from 1-D tuning curves (legacy API, kept supported without warning).

    Parameters
    ----------
    tuning_curves : pandas.DataFrame
        Bin centres x units, as from :func:`compute_1d_tuning_curves`.
    group : TsGroup or dict of Ts
        The spikes.
    ep : IntervalSet
        Where to decode.
    bin_size : float
        In ``time_units``.
    time_units : {'s', 'ms', 'us'}
    feature : Tsd, optional
        When given, its occupancy is the prior (else uniform).

    Examples
    --------
    >>> import numpy as np, pandas as pd, napstream as nap
    >>> tc = pd.DataFrame({0: [10.0, 0.0], 1: [0.0, 10.0]}, index=[0.25, 0.75])
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 1, 0.01)), 1: nap.Ts(np.arange(1, 2, 0.01))})
    >>> nap.decode_1d(tc, group, nap.IntervalSet(0, 2), 1.0)[0].values.tolist()
    [0.25, 0.75]
    """
    import pandas as pd
    import xarray as xr

    c = v.classes()
    if not isinstance(tuning_curves, pd.DataFrame):
        raise InvalidTypeError(f"tuning_curves must be a pandas.DataFrame, got {v.type_name(tuning_curves)}")
    if feature is None:
        occupancy = np.ones(tuning_curves.shape[0])
    elif isinstance(feature, c.Tsd):
        from .tuning_curves import _occupancy

        occupancy = _occupancy(feature, [_edges_from_centres(tuning_curves.index.values)], None)
    else:
        raise InvalidArgumentError("Unknown format for feature in decode_1d")
    tcs = xr.DataArray(tuning_curves.values.T, dims=["unit", "0"], attrs={"occupancy": occupancy},
                       coords={"unit": tuning_curves.columns.values, "0": tuning_curves.index.values})
    group = c.TsGroup(group) if isinstance(group, dict) else group
    return decode_bayes(tcs, group, ep, bin_size, time_units=time_units, uniform_prior=feature is None)


def decode_2d(tuning_curves: dict, group: Any, ep: IntervalSet, bin_size: float, xy: Any,
              time_units: str = "s", features: Any = None) -> tuple[Any, Any]:
    """Bayesian decoding from 2-D tuning curves (legacy API, kept supported without warning).

    Parameters
    ----------
    tuning_curves : dict
        ``{unit: 2-D array}`` as from :func:`compute_2d_tuning_curves`.
    group : TsGroup or dict of Ts
        The spikes.
    ep : IntervalSet
        Where to decode.
    bin_size : float
        In ``time_units``.
    xy : [xbins, ybins]
        Bin centres (the second output of :func:`compute_2d_tuning_curves`).
    time_units : {'s', 'ms', 'us'}
    features : TsdFrame, optional
        When given, its occupancy is the prior (else uniform).

    Examples
    --------
    >>> import numpy as np, napstream as nap
    >>> tc = {0: np.array([[10.0, 0.0], [0.0, 0.0]]), 1: np.array([[0.0, 0.0], [0.0, 10.0]])}
    >>> group = nap.TsGroup({0: nap.Ts(np.arange(0, 1, 0.01)), 1: nap.Ts(np.arange(1, 2, 0.01))})
    >>> nap.decode_2d(tc, group, nap.IntervalSet(0, 2), 1.0, [np.array([0, 1.0]), np.array([0, 1.0])])[0].values.tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    import xarray as xr

    c = v.classes()
    if not isinstance(tuning_curves, dict):
        raise InvalidTypeError(f"tuning_curves must be a dict of 2-D arrays, got {v.type_name(tuning_curves)}")
    keys = list(tuning_curves.keys())
    if features is None:
        occupancy = np.ones_like(tuning_curves[keys[0]]).flatten()
    else:
        if not isinstance(features, c.TsdFrame):
            raise InvalidTypeError(f"features must be a TsdFrame or None, got {v.type_name(features)}")
        from .tuning_curves import _occupancy

        occupancy = _occupancy(features, [_edges_from_centres(np.asarray(b)) for b in xy], None).flatten()
    tcs = xr.DataArray(np.array([tuning_curves[k] for k in keys]), dims=["unit", "0", "1"],
                       coords={"unit": keys, "0": xy[0], "1": xy[1]}, attrs={"occupancy": occupancy})
    group = c.TsGroup(group) if isinstance(group, dict) else group
    return decode_bayes(tcs, group, ep, bin_size, time_units=time_units, uniform_prior=features is None)
