"""napstream.plot: figures from real analysis outputs (Agg backend), and clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import napstream as nap
from napstream.errors import InvalidInputError, InvalidTypeError
from napstream.plot import plot_correlograms, plot_perievent, plot_psd, plot_tuning_curves


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    t = np.arange(0, 200, 0.02)
    pos = nap.TsdFrame(t=t, d=np.column_stack([np.sin(t / 7), np.cos(t / 11)]), columns=["x", "y"])
    units = nap.TsGroup({i: nap.Ts(t=np.sort(rng.uniform(0, 200, 400))) for i in range(5)})
    return units, pos


def test_tuning_curve_grid_2d_has_one_panel_per_unit(data, tmp_path):
    units, pos = data
    tc, bins = nap.compute_2d_tuning_curves(units, pos, 10)
    fig = plot_tuning_curves(tc, bins, title="maps")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == len(units)
    shown = panels[2].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(shown, np.nan), tc[2].T, equal_nan=True)  # x horizontal
    fig.savefig(tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_tuning_curves_1d_and_xarray(data):
    units, pos = data
    tc = nap.compute_tuning_curves(units, pos["x"], bins=8)
    fig = plot_tuning_curves(tc)
    assert len(fig.axes) == len(units)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), tc.values[0])


def test_perievent_psd_correlograms(data):
    units, _ = data
    events = nap.Ts(t=np.arange(10, 190, 10.0))
    pe = nap.compute_perievent(units[0], events, window=(-1, 1))
    assert len(plot_perievent(pe, bin_size=0.1).axes) == 2
    cc = nap.compute_autocorrelogram(units, 0.01, 0.5)
    assert len(plot_correlograms(cc).axes) == len(units)
    sig = nap.Tsd(t=np.arange(0, 20, 0.001), d=np.sin(2 * np.pi * 8 * np.arange(0, 20, 0.001)))
    psd = nap.compute_mean_power_spectral_density(sig, 2.0)
    fig = plot_psd(psd, fmax=50)
    assert fig.axes[0].lines[0].get_xdata().max() <= 50


@pytest.mark.parametrize("call, err, match", [
    (lambda: plot_tuning_curves([1, 2]), InvalidTypeError, "tuning_curves must be"),
    (lambda: plot_tuning_curves({}), InvalidInputError, "empty"),
    (lambda: plot_tuning_curves({0: np.zeros((2, 2, 2))}), InvalidInputError, "1-D and 2-D"),
    (lambda: plot_psd(np.zeros(3)), InvalidTypeError, "psd must be a pandas.DataFrame"),
    (lambda: plot_correlograms(pd.DataFrame()), InvalidInputError, "no columns"),
    (lambda: plot_perievent({0: np.zeros(2)}, bin_size=0), InvalidInputError, "bin_size"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_rate_maps_have_a_colorbar_in_hz_and_axes_in_position_units(data):
    units, pos = data
    tc, bins = nap.compute_2d_tuning_curves(units, pos, 10)
    fig = plot_tuning_curves(tc, bins, unit="m")
    panels = [ax for ax in fig.axes if ax.images]
    colorbars = [ax for ax in fig.axes if not ax.images]
    assert len(colorbars) == len(units) and all(cb.get_ylabel() == "rate (Hz)" for cb in colorbars)
    assert panels[0].get_ylabel() == "y (m)" and panels[-1].get_xlabel() == "x (m)"
    assert len(panels[0].get_xticks()) > 1  # real axes, not blank panels
    # the colour scale spans the map's rates
    lo, hi = panels[1].images[0].get_clim()
    assert hi == pytest.approx(np.nanmax(tc[1])) and lo == pytest.approx(np.nanmin(tc[1]))
    # the image covers the bins (edges half a bin beyond the centres)
    x0, x1, _, _ = panels[0].images[0].get_extent()
    step = np.diff(bins[0]).mean()
    assert (x0, x1) == pytest.approx((bins[0][0] - step / 2, bins[0][-1] + step / 2))


def test_psd_has_units_legend_and_log_axes():
    t = np.arange(0, 20, 0.001)
    sig = nap.TsdFrame(t=t, d=np.c_[np.sin(2 * np.pi * 8 * t), np.cos(2 * np.pi * 30 * t)], columns=["a", "b"])
    psd = nap.compute_mean_power_spectral_density(sig, 2.0)
    ax = plot_psd(psd, unit="V").axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "power (V²/Hz)" and ax.get_xlabel() == "frequency (Hz)"
    assert [tx.get_text() for tx in ax.get_legend().get_texts()] == ["channel 0", "channel 1"]  # pynapple numbers the columns
    assert ax.lines[0].get_xdata().min() > 0  # 0 Hz cannot sit on a log axis
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.abs(psd[1].values[psd.index > 0]))


def test_in_a_notebook_the_figure_is_not_also_left_to_pyplot(monkeypatch, data):
    import matplotlib.pyplot as plt

    units, pos = data
    tc, bins = nap.compute_2d_tuning_curves(units, pos, 5)
    monkeypatch.setattr(plt, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    before = set(plt.get_fignums())
    fig = plot_tuning_curves(tc, bins)
    assert set(plt.get_fignums()) == before  # pyplot will not show it again at the end of the cell
    assert fig.axes
