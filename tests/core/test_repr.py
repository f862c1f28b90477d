"""Text and rich (HTML) reprs of the time series, groups and interval sets.

What a user sees when an object is a notebook cell's value: pynapple's table layout with readable
numbers (6 significant digits, times to the nanosecond), no internal footer, a TsdFrame's metadata
rows, and HTML tables that read only the rows shown."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pynapple
import pytest

import napstream as nap
from napstream.core.lazy import LazyArray
from napstream.core.time_index import RegularTimeIndex


class Counting:
    """An array-like that counts the elements read from it."""

    def __init__(self, arr):
        self.arr, self.shape, self.dtype, self.elements = arr, arr.shape, arr.dtype, 0

    def __getitem__(self, key):
        out = self.arr[key]
        self.elements += int(np.size(out))
        return out


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a, **k: os.terminal_size((100, 30)))


def lfp_like(n=2_000_000, channels=8, start=1000.0, rate=1250.0):
    rng = np.random.default_rng(0)
    base = Counting((rng.normal(size=(n, channels)) * 1e-4).astype(np.float64))
    t = RegularTimeIndex(start, rate, n)
    return nap.TsdFrame(t=t, d=LazyArray(base)), base


def body(text):
    """The table rows of a text repr (between the dashes and the bottom line)."""
    lines = text.splitlines()
    return [ln for ln in lines[2:-1] if ln != "..."]


def test_values_have_six_significant_digits_and_more_channels_fit():
    d = np.full((3, 8), -0.00018677873497545446)
    text = repr(nap.TsdFrame(t=np.arange(3.0), d=d))
    assert "-0.000186779" in text and "0.00018677873497545446" not in text
    header = text.splitlines()[0].split()
    assert header[:8] == ["Time", "(s)", "0", "1", "2", "3", "4", "5"]  # 17-digit cells: 3 fit in 100 columns
    assert all(len(ln) <= 100 for ln in text.splitlines())


def test_times_at_1250_hz_are_not_rounded_into_duplicates():
    lfp, _ = lfp_like(n=20_000)
    times = [ln.split()[0] for ln in body(repr(lfp)) if ln and ln[0].isdigit()]
    assert len(times) >= 10 and len(set(times)) == len(times)
    np.testing.assert_allclose([float(x) for x in times[:3]], 1000.0 + np.arange(3) / 1250.0, rtol=0, atol=1e-9)


def test_lazy_repr_has_no_internal_footer_and_reads_only_the_rows_shown():
    lfp, base = lfp_like()
    text = repr(lfp)
    assert text.splitlines()[-1] == f"dtype: float64, shape: {lfp.shape}"
    for internal in ("lazy (", "LazyArray", "TimeIndex", "base="):
        assert internal not in text
    shown = len(body(text))
    assert 0 < base.elements <= shown * 8
    base.elements = 0
    html = lfp._repr_html_()
    assert base.elements <= 10 * 8 and "lazy" in html and "<table" in html


def test_wide_frame_is_cut_to_the_terminal_width():
    text = repr(nap.TsdFrame(t=np.arange(4.0), d=np.random.default_rng(1).normal(size=(4, 40))))
    assert all(len(ln) <= 100 for ln in text.splitlines())
    assert text.splitlines()[0].split()[-1] == "..."


def test_tsdframe_shows_its_metadata_rows_like_pynapple():
    kw = dict(t=np.arange(3.0), d=np.ones((3, 2)), metadata={"location": ["CA1", "CA3"], "group": [0, 1]})
    ours, ref = repr(nap.TsdFrame(**kw)), repr(pynapple.TsdFrame(**kw))
    mine = [ln.split() for ln in ours.splitlines()]
    theirs = [ln.split() for ln in ref.splitlines()]
    for row in (["Metadata"], ["location", "CA1", "CA3"], ["group", "0", "1"]):
        assert row in theirs and row in mine


def test_text_reprs_keep_pynapple_numbers():
    rng = np.random.default_rng(2)
    t, d = np.sort(rng.uniform(0, 10, 6)), rng.normal(size=6)
    mine = [[float(x) for x in ln.split()] for ln in body(repr(nap.Tsd(t=t, d=d)))]
    np.testing.assert_allclose(np.array(mine), np.c_[t, d], rtol=1e-5)
    ts = repr(nap.Ts(t=t)).splitlines()
    assert ts[0] == "Time (s)" and ts[-1] == "shape: 6"
    np.testing.assert_allclose([float(x) for x in ts[1:-1]], t, rtol=0, atol=1e-9)
    tensor = repr(nap.TsdTensor(t=np.arange(3.0), d=np.arange(24.0).reshape(3, 2, 4)))
    assert "[0 ... 7]" in tensor and tensor.endswith("dtype: float64, shape: (3, 2, 4)")


def test_html_reprs_are_tables_of_the_rows_shown():
    electrodes = np.empty(2, dtype=object)
    electrodes[0], electrodes[1] = np.array([0, 1]), np.array([2])
    group = nap.TsGroup({0: nap.Ts(t=np.arange(5.0)), 3: nap.Ts(t=np.arange(0.5, 9.0))},
                        metadata={"electrodes": electrodes, "area": ["CA1", "V1"]})
    html = group._repr_html_()
    assert html.count("<tr>") == 1 + 2 and "[0, 1]" in html and "CA1" in html and "TsGroup" in html
    ep = nap.IntervalSet(start=np.arange(100.0), end=np.arange(100.0) + 0.5)
    html = ep._repr_html_()
    assert html.count("<tr") <= 1 + 21 and "99.0" in html and "100 intervals" in html
    html = nap.Tsd(t=np.arange(3.0), d=np.array([1.0, 2.0, 3.0]))._repr_html_()
    assert "in memory" in html and "rate" in html


def test_html_escapes_metadata():
    group = nap.TsGroup({0: nap.Ts(t=np.arange(5.0))}, metadata={"note": ["<script>x</script>"]})
    html = group._repr_html_()
    assert "<script>x" not in html and "&lt;script&gt;x" in html
