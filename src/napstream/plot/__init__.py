"""Figures (matplotlib, optional: ``pip install napstream[plot]``)."""

from .figures import plot_correlograms, plot_perievent, plot_psd, plot_tuning_curves

__all__ = ["plot_tuning_curves", "plot_perievent", "plot_psd", "plot_correlograms"]
