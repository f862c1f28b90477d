"""The corpus of malformed inputs (data only; read by tests/reliability/test_bad_inputs.py).

Each entry names a writer of :data:`napstream.testing.corrupt.CORRUPTIONS`, the user steps run in
order on the opened file (``open`` is always first), the napstream error expected by the end of
those steps (a name from :mod:`napstream.errors`) and a regular expression its message must match.
``bug`` (optional) describes a known, precisely reported defect: the case is then an
``xfail(strict=True)`` until it is fixed.

Steps: ``open`` (NWBFile(path)), ``print`` (str of the file), ``units`` (nwb["units"]), ``spikes``
(every unit's ``.t``), ``position`` (nwb["SpatialSeriesLED1"] ``.t`` and ``.values``), ``tuning2d``
(compute_2d_tuning_curves(units, position, 10)), ``lfp_window`` (LFP restricted to [0, 1] s).
"""

from __future__ import annotations

from typing import Any

BAD_INPUTS: list[dict[str, Any]] = [
    dict(name="empty", corruption="empty", steps=["open"],
         error="FileFormatError", match=r"empty\.nwb.*not a readable HDF5"),
    dict(name="random_bytes", corruption="random_bytes", steps=["open"],
         error="FileFormatError", match=r"not a readable HDF5.*signature"),
    dict(name="hdf5_not_nwb", corruption="hdf5_not_nwb", steps=["open"],
         error="NotNWBError", match=r"HDF5 file but not an NWB file"),
    dict(name="truncated_half", corruption="truncated_half", steps=["open"],
         error="FileFormatError", match=r"truncated"),
    dict(name="truncated_tail", corruption="truncated_tail", steps=["open"],
         error="FileFormatError", match=r"truncated"),
    dict(name="units_without_spike_times", corruption="units_without_spike_times",
         steps=["open", "print", "units", "spikes"],
         error="FileFormatError", match=r"spike_times"),
    dict(name="spike_index_out_of_range", corruption="spike_index_out_of_range",
         steps=["open", "print", "units", "spikes"],
         error="FileFormatError", match=r"spike_times_index"),
    dict(name="spike_index_decreasing", corruption="spike_index_decreasing",
         steps=["open", "print", "units", "spikes"],
         error="FileFormatError", match=r"spike_times_index"),
    # decreasing_timestamps: not an error since #14 (sorted with a warning like pynapple;
    # tests/nwb/test_realworld.py::test_corrupted_decreasing_timestamps_are_sorted_like_pynapple)
    dict(name="mismatched_lengths", corruption="mismatched_lengths",
         steps=["open", "print", "position"],
         error="FileFormatError", match=r"(?i)timestamps.*data|data.*timestamps"),
    dict(name="nan_spike_time", corruption="nan_spike_time",
         steps=["open", "units", "spikes"],
         error="FileFormatError", match=r"finite"),
    dict(name="nan_spike_time_via_analysis", corruption="nan_spike_time",
         steps=["open", "units", "tuning2d"],
         error="FileFormatError", match=r"finite"),
    dict(name="inf_timestamp", corruption="inf_timestamp",
         steps=["open", "position"],
         error="FileFormatError", match=r"finite"),
]
"""One dict per malformed input (see the module docstring)."""
