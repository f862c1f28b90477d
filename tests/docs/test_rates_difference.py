"""The user guide's claim about unit rates holds: napstream's rates are spikes per second over the
Units table's obs_intervals, pynapple's over the span of all units' spikes (obs_intervals ignored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import napstream as nap

pynapple = pytest.importorskip("pynapple")
pytest.importorskip("pynwb")

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def test_rates_differ_as_the_guide_says(tmp_path):
    from napstream.testing import write_session

    path = write_session(tmp_path / "s.nwb", duration=60.0, n_units=4, n_channels=2, lfp=False)
    ours = nap.NWBFile(path)["units"]
    theirs = pynapple.load_file(str(path))["units"]
    counts = np.array([len(theirs[k]) for k in theirs.index])
    import h5py

    with h5py.File(path, "r") as f:
        obs = f["units/obs_intervals"][()]
        index = f["units/obs_intervals_index"][()]
    observed = np.diff(obs, axis=1).ravel()
    per_unit = np.add.reduceat(observed, np.r_[0, index[:-1]])
    np.testing.assert_allclose(ours.rates, counts / per_unit, rtol=1e-12)
    spans = [(theirs[k].t[0], theirs[k].t[-1]) for k in theirs.index]
    union = max(e for _, e in spans) - min(s for s, _ in spans)  # the spans overlap here
    np.testing.assert_allclose(np.asarray(theirs.rates), counts / union, rtol=1e-9)
    assert not np.allclose(np.asarray(theirs.rates), ours.rates, rtol=1e-3)
    section = GUIDE.read_text().split("## 9. Differences from pynapple")[1]
    assert "obs_intervals" in section and "rates" in section
