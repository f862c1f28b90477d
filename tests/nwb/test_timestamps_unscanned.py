"""Explicit timestamps too long to be scanned when their object is built: never a wrong answer.

napstream scans stored timestamps for disorder when an object is built, except columns longer than
``SCAN_MAX_ROWS`` (remote: longer than what is fetched whole at the first read). Before the fix a
disorder between two blocks that no read visited together was never seen, and the binary searches
behind ``restrict``, ``get``, ``count``, ``get_slice``... and the default time support answered
WRONG, silently, where pynapple (which sorts what it loads) answers right. The files here are small:
the scan limit is lowered so that they count as long.

The rule now: a search by time (and a time support, ``start_time``...) first checks the whole
stored order once in bounded memory; a disorder raises ``UnsortedTimestampsError`` naming the
series and saying what to do (``nap.config.timestamp_scan_rows``), after which the same file gives
pynapple's answers.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
pynapple = pytest.importorskip("pynapple")

from hdmf.backends.hdf5 import H5DataIO  # noqa: E402
from pynwb import NWBHDF5IO, TimeSeries  # noqa: E402

import napstream as nap  # noqa: E402
from napstream.errors import FileFormatError, UnsortedTimestampsError  # noqa: E402

CHUNK = 8  # rows per stored chunk: the blocks a lazy search reads


def _blocks_overlap() -> np.ndarray:
    """Each chunk sorted, chunk starts increasing, but each chunk reaches past the next one's start."""
    return np.concatenate([10.0 * k + np.linspace(0.0, 15.0, CHUNK) for k in range(8)])


def _swap_at_seam() -> np.ndarray:
    """One pair swapped across a chunk boundary: rows 7 and 8."""
    t = np.arange(64.0)
    t[[7, 8]] = t[[8, 7]]
    return t


def _max_in_middle() -> np.ndarray:
    """The latest time is not the last row: chunk 6 reaches 100 s, chunk 7 is 56..63 s."""
    t = np.arange(64.0)
    t[48:56] = np.linspace(48.0, 100.0, CHUNK)
    return t


UNSORTED = {"blocks_overlap": _blocks_overlap, "swap_at_seam": _swap_at_seam, "max_in_middle": _max_in_middle}


def _new_nwbfile() -> Any:
    return pynwb.NWBFile(session_description="unsorted", identifier="unsorted",
                         session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))


def write_series(path: Path, t: np.ndarray) -> Path:
    f = _new_nwbfile()
    d = np.arange(len(t), dtype=np.float64) * 2.0 + 1.0  # row numbers: shows which row a value is
    f.add_acquisition(TimeSeries(name="s", data=H5DataIO(d, chunks=(CHUNK,)),
                                 timestamps=H5DataIO(t, chunks=(CHUNK,)), unit="a"))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


def pynapple_series(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pynapple.load_file(str(path))["s"]


@pytest.fixture
def unscanned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every timestamps column of these files counts as too long to be scanned at build time."""
    monkeypatch.setattr("napstream.nwb.convert.SCAN_MAX_ROWS", 16)


# operations whose answer depends on the timestamps' global order; each gives the same kind of value
# for napstream and pynapple (times or counts only: pynapple leaves the data rows unsorted)
OPS = {
    "restrict": lambda o, m: o.restrict(m.IntervalSet(12.5, 13.5)).t,
    "get_range": lambda o, m: o.get(12.5, 13.5).t,
    "count": lambda o, m: o.count(1.0, m.IntervalSet(12.0, 14.0)).values,
    "count_default_epochs": lambda o, m: o.count(5.0).values,
    "get_slice": lambda o, m: np.array([o.get_slice(7.5, 30.5).start, o.get_slice(7.5, 30.5).stop]),
    "time_support": lambda o, m: o.time_support.values,
    "start_end": lambda o, m: np.array([o.start_time(), o.end_time()]),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("variant", sorted(UNSORTED))
def test_unscanned_unsorted_series_never_answers_wrong(tmp_path: Path, unscanned: None, variant: str, op: str) -> None:
    """Before the fix, e.g. blocks_overlap/restrict gave [] where pynapple gives [12.86] (no error)."""
    path = write_series(tmp_path / "s.nwb", UNSORTED[variant]())
    want = OPS[op](pynapple_series(path), pynapple)
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        try:
            got = OPS[op](obj, nap)
        except UnsortedTimestampsError as err:
            text = str(err)
            assert "/acquisition/s/timestamps" in text and "s.nwb" in text  # names the series and the file
            assert "nap.config.timestamp_scan_rows = 64" in text  # and what to do
            return
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float))  # else: pynapple's


@pytest.mark.parametrize("variant", sorted(UNSORTED))
def test_unscanned_unsorted_series_refuses_every_search_by_time(tmp_path: Path, unscanned: None, variant: str) -> None:
    path = write_series(tmp_path / "s.nwb", UNSORTED[variant]())
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        for name, op in OPS.items():
            with pytest.raises(UnsortedTimestampsError, match="sorted in increasing order"):
                op(obj, nap)
        with pytest.raises(UnsortedTimestampsError):
            nap.Ts(t=np.array([12.9])).value_from(obj)
        with pytest.raises(UnsortedTimestampsError):
            obj.bin_average(1.0)


def test_unscanned_nan_timestamp_is_reported_not_searched(tmp_path: Path, unscanned: None) -> None:
    t = np.arange(64.0)
    t[37] = np.nan  # a block no narrow search visits
    path = write_series(tmp_path / "s.nwb", t)
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        with pytest.raises(UnsortedTimestampsError, match="finite.*row 37"):
            obj.restrict(nap.IntervalSet(12.5, 13.5))
        with pytest.raises(UnsortedTimestampsError, match="finite"):
            obj.time_support
    with nap.config.override(timestamp_scan_rows=1000), nap.NWBFile(path) as nwb:
        with pytest.raises(FileFormatError, match="finite"):
            nwb["s"]


@pytest.mark.parametrize("variant", sorted(UNSORTED))
def test_raising_the_scan_limit_sorts_like_pynapple(tmp_path: Path, unscanned: None, variant: str) -> None:
    """What the error message says to do gives pynapple's answers (and rows keep their times)."""
    t = UNSORTED[variant]()
    path = write_series(tmp_path / "s.nwb", t)
    ref = pynapple_series(path)
    with nap.config.override(timestamp_scan_rows=len(t)), nap.NWBFile(path) as nwb:
        with pytest.warns(UserWarning, match="not sorted"):
            obj = nwb["s"]
        for name, op in OPS.items():
            np.testing.assert_allclose(np.asarray(op(obj, nap), dtype=float), np.asarray(op(ref, pynapple), dtype=float),
                                       err_msg=name)
        order = np.argsort(t, kind="stable")
        np.testing.assert_array_equal(obj.values, (np.arange(len(t)) * 2.0 + 1.0)[order])


@pytest.mark.parametrize("t", [np.arange(64.0), np.repeat(np.arange(32.0), 2)], ids=["sorted", "duplicates_at_seams"])
def test_unscanned_sorted_series_answers_like_pynapple_and_checks_once(tmp_path: Path, unscanned: None,
                                                                       t: np.ndarray) -> None:
    path = write_series(tmp_path / "s.nwb", t)
    ref = pynapple_series(path)
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        assert not obj.time_index.order_checked  # built without reading the timestamps
        part = obj[0:CHUNK]  # a read of some rows: no check of the whole order
        np.testing.assert_array_equal(part.t, t[:CHUNK])
        assert not obj.time_index.order_checked
        for name, op in OPS.items():
            np.testing.assert_allclose(np.asarray(op(obj, nap), dtype=float), np.asarray(op(ref, pynapple), dtype=float),
                                       err_msg=name)
        assert obj.time_index.order_checked
        # remembered for the dataset: another object over the same timestamps is not checked again
        sub = obj.time_index.select([[8, 40]])
        assert sub.order_checked


def test_positional_reads_of_unscanned_timestamps_stay_cheap(tmp_path: Path, unscanned: None) -> None:
    """Rows read by position are served as stored (as pynwb does) once the rows read are in order
    among themselves; only what finds rows by time needs the whole order."""
    t = _blocks_overlap()
    path = write_series(tmp_path / "s.nwb", t)
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        np.testing.assert_array_equal(obj[0:CHUNK].t, t[:CHUNK])
        np.testing.assert_array_equal(obj.values[:3], [1.0, 3.0, 5.0])
        assert len(obj) == 64 and not obj.time_index.order_checked
        with pytest.raises(UnsortedTimestampsError):  # two chunks read together show the disorder
            obj[0:2 * CHUNK].t


def test_consecutive_reads_check_their_seams(tmp_path: Path, unscanned: None) -> None:
    path = write_series(tmp_path / "s.nwb", _swap_at_seam())
    with nap.NWBFile(path) as nwb:
        index = nwb["s"].time_index
        index.read(0, CHUNK)
        with pytest.raises(UnsortedTimestampsError, match="row 8"):
            index.read(CHUNK, 2 * CHUNK)  # sorted on its own; not after the rows read just before


# ------------------------------------------------------------------------------------------ units
def write_units(path: Path, trains: list[np.ndarray], obs: bool) -> Path:
    f = _new_nwbfile()
    for train in trains:
        kw = {"obs_intervals": np.array([[0.0, 100.0]])} if obs else {}
        f.add_unit(spike_times=train, **kw)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


TRAINS = [np.arange(0.5, 20.0, 1.0), np.array([1.0, 2.0, 3.0, 9.0, 4.0, 5.0, 6.0, 7.0]), np.arange(0.25, 30.0, 2.0)]


@pytest.mark.parametrize("obs", [False, True], ids=["no_obs_intervals", "obs_intervals"])
def test_long_spike_times_are_checked_and_sorted_like_pynapple(tmp_path: Path, unscanned: None, obs: bool) -> None:
    """Building a unit needs its order (its rows within obs_intervals are found by binary search, else
    its first and last spike are its time support): every unit is checked when the group is built, in
    one streamed pass, and an unsorted one is sorted in memory, as pynapple does. Before the fix a
    unit with obs_intervals was searched unsorted: wrong spikes in it, silently."""
    path = write_units(tmp_path / "u.nwb", TRAINS, obs=obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pynapple.load_file(str(path))["units"]
    with nap.NWBFile(path) as nwb:
        with pytest.warns(UserWarning, match="not sorted"):
            units = nwb["units"]
        for k in ref.keys():
            np.testing.assert_array_equal(units[k].t, ref[k].t)
            if not obs:  # napstream keeps each unit's obs_intervals as its time support (a documented difference)
                np.testing.assert_array_equal(units[k].time_support.values, ref[k].time_support.values)
        ep = pynapple.IntervalSet(3.5, 8.5)
        np.testing.assert_array_equal(units.restrict(nap.IntervalSet(3.5, 8.5))[1].t, ref.restrict(ep)[1].t)
        ep = pynapple.IntervalSet(0.0, 30.0)
        np.testing.assert_array_equal(units.count(1.0, nap.IntervalSet(0.0, 30.0)).values, ref.count(1.0, ep).values)


# ------------------------------------------------------------------------------------------ user's lazy arrays
@pytest.mark.parametrize("variant", sorted(UNSORTED))
def test_lazy_timestamps_of_any_hdf5_dataset_are_never_searched_unsorted(tmp_path: Path, variant: str) -> None:
    """``Tsd(t=h5py_dataset, d=..., load_array=False)``: the timestamps stay in the file, never scanned
    when the object is built; a search by time checks them first (pynapple loads and sorts them)."""
    import h5py

    t = UNSORTED[variant]()
    d = np.arange(len(t), dtype=np.float64)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f.create_dataset("t", data=t, chunks=(CHUNK,))
        f.create_dataset("d", data=d, chunks=(CHUNK,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pynapple.Tsd(t=t, d=d)  # pynapple sorts the times, with a warning
    with h5py.File(tmp_path / "t.h5", "r") as f:
        obj = nap.Tsd(t=f["t"], d=f["d"], load_array=False)
        assert obj.time_index.is_lazy
        for name, op in OPS.items():
            with pytest.raises(UnsortedTimestampsError, match="sorted in increasing order"):
                op(obj, nap)
    sorted_t = np.sort(t)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("t", data=sorted_t, chunks=(CHUNK,))
        f.create_dataset("d", data=d, chunks=(CHUNK,))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        obj = nap.Tsd(t=f["t"], d=f["d"], load_array=False)
        for name, op in OPS.items():
            np.testing.assert_allclose(np.asarray(op(obj, nap), dtype=float), np.asarray(op(ref, pynapple), dtype=float),
                                       err_msg=name)


def test_trusting_the_stored_order_skips_the_check(tmp_path: Path, unscanned: None) -> None:
    """The opt-out for files known to be sorted: a search reads a few blocks, not the whole column."""
    path = write_series(tmp_path / "s.nwb", np.arange(64.0))
    ref = pynapple_series(path)
    with nap.config.override(trust_timestamp_order=True), nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        np.testing.assert_array_equal(obj.restrict(nap.IntervalSet(12.5, 13.5)).t,
                                      ref.restrict(pynapple.IntervalSet(12.5, 13.5)).t)
        assert not obj.time_index.order_checked  # searched without the check of the whole order


def test_showing_an_unscanned_series_does_not_check_its_whole_order(tmp_path: Path, unscanned: None) -> None:
    """The rich repr (Jupyter) shows the rows it reads; the time support waits for a search by time."""
    path = write_series(tmp_path / "s.nwb", np.arange(64.0))
    with nap.NWBFile(path) as nwb:
        obj = nwb["s"]
        html = obj._repr_html_()
        assert "first search by time" in html and not obj.time_index.order_checked
        obj.restrict(nap.IntervalSet(1.0, 2.0))
        assert "1 interval" in obj._repr_html_()  # checked by the search: shown


def test_nan_timestamps_in_a_file_name_the_row_and_the_way_out(tmp_path):
    """A NaN among a small series' stored timestamps: napstream refuses (pynapple would sort the times
    alone and pair values with the wrong times) and says which row and how to use the others."""
    import napstream as nap
    from napstream.errors import FileFormatError

    t = np.arange(100) / 10.0
    t[50] = np.nan
    nwb = pynwb.NWBFile(session_description="nan", identifier="nan", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(pynwb.TimeSeries(name="nan_t", data=np.arange(100.0), unit="m", timestamps=t))
    path = tmp_path / "nan.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with nap.NWBFile(path) as f:
        with pytest.raises(FileFormatError, match=r"'nan_t'.*must be finite; found nan at row 50 \(1 such row\(s\)\).*np.isfinite"):
            f["nan_t"]
