"""Figures for napstream results (matplotlib, an optional dependency: ``pip install napstream[plot]``).

Every function takes results as napstream/pynapple return them, draws into a new figure (or the
``ax``/``fig`` given) and returns the matplotlib ``Figure``. Nothing here reads files.

Examples
--------
>>> import numpy as np
>>> from napstream.plot import plot_tuning_curves
>>> maps = {0: np.random.rand(20, 20), 1: np.random.rand(20, 20)}
>>> fig = plot_tuning_curves(maps)          # doctest: +SKIP
>>> fig.savefig("maps.png")                 # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError, missing_dependency

__all__ = [
    "plot_tuning_curves",
    "plot_perievent",
    "plot_psd",
    "plot_correlograms",
]


def _plt() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
            import os

            if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise missing_dependency("matplotlib", "plot") from err
    return plt


def _new_figure(plt: Any, figsize: tuple[float, float]) -> Any:
    """A new figure. In a notebook (inline backend) it is detached from pyplot, so that returning it
    as a cell's value shows it once (pyplot would show it a second time at the end of the cell)."""
    fig = plt.figure(figsize=figsize)
    if "inline" in plt.get_backend().lower():
        plt.close(fig)
    return fig


def _grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    cols = max(1, min(max_cols, math.ceil(math.sqrt(n * 2))))
    return max(1, math.ceil(n / cols)), cols


def _as_unit_maps(tuning_curves: Any) -> tuple[list[Any], list[np.ndarray], list[np.ndarray] | None]:
    """Normalise tuning curves to (unit labels, arrays, bin centres per axis or None)."""
    bins = None
    if isinstance(tuning_curves, Mapping):
        labels = list(tuning_curves.keys())
        arrays = [np.asarray(tuning_curves[k], dtype=float) for k in labels]
    elif hasattr(tuning_curves, "dims") and hasattr(tuning_curves, "coords"):  # xarray.DataArray
        dims = list(tuning_curves.dims)
        unit_dim = dims[0]
        labels = list(np.asarray(tuning_curves.coords[unit_dim].values))
        arrays = [np.asarray(tuning_curves.values[i], dtype=float) for i in range(len(labels))]
        bins = [np.asarray(tuning_curves.coords[d].values, dtype=float) for d in dims[1:]]
    elif hasattr(tuning_curves, "columns") and hasattr(tuning_curves, "index"):  # pandas DataFrame (1-D)
        labels = list(tuning_curves.columns)
        arrays = [tuning_curves[c].to_numpy(dtype=float) for c in labels]
        bins = [tuning_curves.index.to_numpy(dtype=float)]
    else:
        raise InvalidTypeError(
            "tuning_curves must be a dict unit -> array, an xarray.DataArray or a pandas.DataFrame, "
            f"got {type(tuning_curves).__name__}"
        )
    if not arrays:
        raise InvalidInputError("tuning_curves is empty: there is nothing to plot")
    return labels, arrays, bins


def plot_tuning_curves(
    tuning_curves: Any,
    bins: Any = None,
    *,
    max_cols: int = 8,
    cmap: str = "viridis",
    title: str | None = None,
    fig: Any = None,
    xlabel: str = "x",
    ylabel: str = "y",
    unit: str | None = None,
) -> Any:
    """A grid of tuning curves, one panel per unit (rate maps for 2-D, lines for 1-D).

    2-D maps have a colorbar in Hz and axes in the position's units; 1-D curves are rates (Hz)
    against the feature.

    Parameters
    ----------
    tuning_curves : dict, xarray.DataArray or pandas.DataFrame
        As returned by ``compute_2d_tuning_curves`` (dict of 2-D arrays), ``compute_tuning_curves``
        (DataArray with a unit dimension first) or ``compute_1d_tuning_curves`` (DataFrame).
    bins : list of arrays, optional
        Bin centres per axis (the second output of ``compute_2d_tuning_curves``) for axis extents.
    max_cols : int
        Panels per row at most.
    cmap : str
        Colormap of 2-D maps.
    title : str, optional
        Figure title.
    fig : matplotlib.figure.Figure, optional
        Draw into this figure.
    xlabel, ylabel : str
        Names of the feature axes (``"x"``, ``"y"``; 1-D curves use ``xlabel``).
    unit : str, optional
        Unit of the features (e.g. ``"m"``, the position's ``unit`` in the NWB file).

    Returns
    -------
    matplotlib.figure.Figure
        In a notebook, the figure shows once when it is the cell's value.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_tuning_curves({0: np.eye(4), 1: np.ones((4, 4))}, unit="m")   # doctest: +SKIP
    """
    plt = _plt()
    labels, arrays, found_bins = _as_unit_maps(tuning_curves)
    bins = found_bins if bins is None else [np.asarray(b, dtype=float) for b in bins]
    rows, cols = _grid(len(arrays), max_cols)
    fig = fig or _new_figure(plt, (2.6 * cols, 2.3 * rows + (0.4 if title else 0)))
    suffix = f" ({unit})" if unit else ""
    for i, (label, arr) in enumerate(zip(labels, arrays)):
        ax = fig.add_subplot(rows, cols, i + 1)
        left, bottom = i % cols == 0, i >= len(arrays) - cols
        if arr.ndim == 2:
            _rate_map(fig, ax, arr, bins, cmap)
            ax.set_title(f"Unit {label}", fontsize=8)
            if bottom:
                ax.set_xlabel(xlabel + suffix, fontsize=7)
            if left:
                ax.set_ylabel(ylabel + suffix, fontsize=7)
        elif arr.ndim == 1:
            x = bins[0] if bins is not None and len(bins[0]) == len(arr) else np.arange(len(arr))
            ax.plot(x, arr, lw=1.2)
            ax.set_title(f"Unit {label}", fontsize=8)
            if bottom:
                ax.set_xlabel(xlabel + suffix, fontsize=7)
            if left:
                ax.set_ylabel("rate (Hz)", fontsize=7)
        else:
            raise InvalidInputError(f"tuning curve of unit {label} has {arr.ndim} dimensions; only 1-D and 2-D plot")
        ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _rate_map(fig: Any, ax: Any, arr: np.ndarray, bins: Any, cmap: str) -> None:
    """One rate map with its colorbar (Hz); x horizontal, in the bins' units when given."""
    extent = None
    if bins is not None and len(bins) == 2 and len(bins[0]) > 1 and len(bins[1]) > 1:
        dx, dy = np.diff(bins[0]).mean() / 2, np.diff(bins[1]).mean() / 2  # centres -> edges
        extent = (bins[0][0] - dx, bins[0][-1] + dx, bins[1][0] - dy, bins[1][-1] + dy)
    image = ax.imshow(arr.T if extent else arr, origin="lower", aspect="equal" if extent else "auto", cmap=cmap,
                      extent=extent, interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("rate (Hz)", fontsize=6)
    bar.ax.tick_params(labelsize=5)


def plot_perievent(perievent: Any, bin_size: float = 0.01, *, title: str | None = None, fig: Any = None) -> Any:
    """Raster (top) and peri-event time histogram (bottom) of a ``compute_perievent`` result.

    Parameters
    ----------
    perievent : TsGroup (or dict of Ts) as returned by ``compute_perievent`` for one unit
        One entry per event, times relative to the event.
    bin_size : float
        Histogram bin in seconds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if bin_size <= 0:
        raise InvalidInputError(f"bin_size must be > 0 seconds, got {bin_size!r}")
    trials = [np.asarray(perievent[k].t if hasattr(perievent[k], "t") else perievent[k], dtype=float)
              for k in perievent.keys()]
    fig = fig or _new_figure(plt, (5, 4))
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    for i, t in enumerate(trials):
        ax1.plot(t, np.full(t.shape, i), "|", color="k", markersize=2)
    ax1.set_ylabel("event")
    allt = np.concatenate(trials) if trials else np.empty(0)
    if allt.size:
        edges = np.arange(allt.min(), allt.max() + bin_size, bin_size)
        counts, edges = np.histogram(allt, edges)
        ax2.bar(edges[:-1], counts / max(len(trials), 1) / bin_size, width=bin_size, align="edge")
    ax2.set_xlabel("time from event (s)")
    ax2.set_ylabel("rate (Hz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_psd(psd: Any, *, fmax: float | None = None, log: bool = True, title: str | None = None, fig: Any = None,
             unit: str | None = None, max_legend: int = 12) -> Any:
    """Power spectral density per channel (a pandas.DataFrame indexed by frequency, as pynapple returns).

    Parameters
    ----------
    psd : pandas.DataFrame
        Frequencies (Hz) as index, one column per channel (``compute_mean_power_spectral_density``).
    fmax : float, optional
        Highest frequency shown.
    log : bool
        Logarithmic frequency and power axes (the 0 Hz bin is left out).
    title : str, optional
        Axes title.
    fig : matplotlib.figure.Figure, optional
        Draw into this figure.
    unit : str, optional
        Unit of the signal (e.g. ``"V"``, the series' ``unit`` in the NWB file): power is in unit²/Hz.
    max_legend : int
        Channels named in the legend at most.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> psd = pd.DataFrame({"ch0": [1.0, 0.5, 0.2]}, index=[0.0, 1.0, 2.0])
    >>> fig = plot_psd(psd, unit="V")   # doctest: +SKIP
    """
    plt = _plt()
    if not (hasattr(psd, "index") and hasattr(psd, "columns")):
        raise InvalidTypeError(f"psd must be a pandas.DataFrame indexed by frequency, got {type(psd).__name__}")
    freqs = np.asarray(psd.index, dtype=float)
    keep = (freqs > 0) if log else (freqs >= 0)
    if fmax is not None:
        keep &= freqs <= fmax
    fig = fig or _new_figure(plt, (6, 4))
    ax = fig.add_subplot(1, 1, 1)
    values = np.abs(np.asarray(psd.values))[keep]
    names = [str(c) for c in psd.columns]
    lines = ax.plot(freqs[keep], values, lw=0.8)
    for line, name in zip(lines, names):
        line.set_label(f"channel {name}")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(f"power ({unit}²/Hz)" if unit else "power (signal unit²/Hz)")
    if 1 < len(names) <= max_legend:
        ax.legend(fontsize=7, ncol=2 if len(names) > 6 else 1)
    elif len(names) > max_legend:
        ax.text(0.99, 0.99, f"{len(names)} channels", transform=ax.transAxes, ha="right", va="top", fontsize=8)
    elif names:
        ax.legend(fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_correlograms(correlograms: Any, *, max_cols: int = 8, title: str | None = None, fig: Any = None) -> Any:
    """Bar plots of auto/cross-correlograms (a pandas.DataFrame, lag index, one column per pair).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    if not (hasattr(correlograms, "index") and hasattr(correlograms, "columns")):
        raise InvalidTypeError(
            f"correlograms must be a pandas.DataFrame (lags x pairs), got {type(correlograms).__name__}"
        )
    cols_ = list(correlograms.columns)
    if not cols_:
        raise InvalidInputError("correlograms has no columns: there is nothing to plot")
    rows, cols = _grid(len(cols_), max_cols)
    fig = fig or _new_figure(plt, (2.2 * cols, 1.8 * rows))
    lags = np.asarray(correlograms.index, dtype=float)
    width = float(np.median(np.diff(lags))) if len(lags) > 1 else 1.0
    for i, c in enumerate(cols_):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.bar(lags, correlograms[c].to_numpy(dtype=float), width=width, color="0.3")
        ax.set_title(str(c), fontsize=8)
        ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
