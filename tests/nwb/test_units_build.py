"""A units table is built from its spike times as they are scanned (nwb/timestamps.py ``scan_segments``):
each unit's rows within its observation intervals are found in the scanned times, not by binary
searches over the file afterwards; the units equal pynapple's, disorders are still sorted or reported."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import napstream as nap
from napstream.nwb import timestamps
from napstream.testing.sessions import write_units_file


# ------------------------------------------------------------------------------ scan_segments
@pytest.mark.parametrize("seed", range(6))
def test_scan_segments_agrees_with_a_whole_column_check(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 40, 25)
    lengths[rng.integers(0, 25, 3)] = 0  # empty units
    t = np.concatenate([np.sort(rng.uniform(0, 100, k)) for k in lengths])
    ends = np.cumsum(lengths)
    for bad in rng.integers(0, max(len(t) - 1, 1), 3):  # disorders, and a NaN
        t[bad], t[bad + 1] = t[bad + 1], t[bad]
    t[rng.integers(0, len(t))] = np.nan
    want = set(timestamps.unsorted_segments(t, ends).tolist())
    starts = np.concatenate([[0], ends[:-1]])
    for piece in (1, 7, 32, 1000):
        for keep in (10, 10**6):
            got = list(timestamps.scan_segments(lambda a, b: t[a:b], len(t), ends, piece, keep))
            assert [i for i, _, _ in got] == list(range(len(ends)))
            assert {i for i, _, bad in got if bad} == want
            for i, values, _ in got:
                a, b = starts[i], ends[i]
                if values is None:  # only a segment longer than what is kept
                    assert b - a > keep - 2 * piece
                else:
                    np.testing.assert_array_equal(values, t[a:b])


def test_scan_segments_hands_a_segment_over_before_reading_the_next_pieces():
    t = np.arange(100.0)
    read: list[int] = []

    def reader(a, b):
        read.append(b)
        return t[a:b]

    scan = timestamps.scan_segments(reader, 100, np.array([10, 100]), piece_rows=10)
    i, values, bad = next(scan)
    assert (i, bad, read) == (0, False, [10])
    np.testing.assert_array_equal(values, t[:10])
    assert [j for j, _, _ in scan] == [1] and read[-1] == 100


# ------------------------------------------------------------------------------ remote units
def _write_units(path: Path) -> Path:
    rng = np.random.default_rng(3)
    spikes, obs = [], []
    for i in range(9):
        n = 0 if i == 4 else int(rng.integers(200, 3000))
        s = np.sort(rng.uniform(0, 100.0, n))
        if i == 6:  # stored unsorted
            s[[5, 9]] = s[[9, 5]]
        spikes.append(s)
        obs.append([[0.0, 100.0]] if i % 3 == 0 else [[5.0 + i, 40.0], [50.0, 90.0 - i]])
    # chunked spike times, as large recordings store them
    return write_units_file(path, spikes, obs, chunk=1024, identifier="units-build",
                            columns={"quality": np.arange(9.0)})


@pytest.fixture(scope="module")
def units_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_units(tmp_path_factory.mktemp("units_build") / "units.nwb")


def _pynapple_units(path: Path) -> dict:
    """pynapple's spike times of each unit, kept within the unit's obs_intervals (napstream's time
    support of a unit, read here with h5py), and those intervals."""
    import h5py
    import pynapple

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        units = pynapple.load_file(str(path))["units"]
        spikes = {int(k): np.asarray(units[k].t) for k in units.keys()}
    with h5py.File(path, "r") as f:
        obs = f["units/obs_intervals"][()]
        bounds = np.concatenate([[0], f["units/obs_intervals_index"][()]])
    out = {}
    for k, t in spikes.items():
        iv = obs[bounds[k]:bounds[k + 1]]
        keep = np.zeros(len(t), bool)
        for a, b in iv:
            keep |= (t >= a) & (t <= b)
        out[k] = (t[keep], iv)
    return out


@pytest.mark.parametrize("order", ["arrivals", "pieces"])
def test_remote_units_equal_pynapple_and_search_no_stored_times(units_file, http_server, tmp_path, monkeypatch,
                                                                order):
    """Built through the read-ahead and the scan, each unit as its rows arrive (``arrivals``) or in
    row order in pieces of 700 rows (units span pieces): the same spike times and time supports as
    pynapple's, the unsorted unit sorted with the warning, and no binary search over stored times
    (the rows in each unit's intervals come from the scanned times)."""
    from napstream.core.time_index import ArrayTimeIndex
    from napstream.nwb import convert

    if order == "pieces":
        monkeypatch.setattr(convert, "SCAN_PIECE_ROWS", 700)
        monkeypatch.setattr(convert._Arrivals, "of", classmethod(lambda cls, *a: None))
    searches = []
    original = ArrayTimeIndex._lazy_searchsorted

    def counting(self, q, side):
        searches.append(len(q))
        return original(self, q, side)

    monkeypatch.setattr(ArrayTimeIndex, "_lazy_searchsorted", counting)
    server = http_server(units_file.parent)
    with nap.NWBFile(server.url_for(units_file.name), cache_dir=tmp_path / "c", block_size=16384) as nwb:
        with pytest.warns(UserWarning, match=r"not sorted.*unit\(s\): \[6\]"):
            units = nwb["units"]
        assert searches == []
        got = {k: (np.asarray(units[k].t), np.asarray(units[k].time_support.values)) for k in units.keys()}
        assert units[0].index.size and units[1].is_lazy  # still lazy (the unsorted unit is in memory)
        np.testing.assert_array_equal(np.asarray(units.metadata["quality"]), np.arange(9.0))
    want = _pynapple_units(units_file)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k][0], want[k][0], err_msg=str(k))
        np.testing.assert_array_equal(got[k][1], want[k][1], err_msg=str(k))


def test_local_units_equal_the_remote_build(units_file, http_server, tmp_path):
    server = http_server(units_file.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nap.NWBFile(units_file) as local, \
                nap.NWBFile(server.url_for(units_file.name), cache_dir=tmp_path / "c") as remote:
            a, b = local["units"], remote["units"]
            for k in a.keys():
                np.testing.assert_array_equal(np.asarray(a[k].t), np.asarray(b[k].t))
                np.testing.assert_array_equal(a[k].time_support.values, b[k].time_support.values)
            np.testing.assert_array_equal(a.time_support.values, b.time_support.values)


def test_scan_arrivals_hands_units_over_as_they_arrive():
    """Segments come in the order their rows arrive, each checked on its own; one that never
    arrives is read anyway after the patience (its read waits for the bytes)."""
    t = np.array([0.0, 1.0, 2.0, 5.0, 4.0, 0.5, 0.7, np.nan, 3.0])
    ends = np.array([3, 5, 5, 7, 9])
    batches = [[3], [], [1, 2], []]
    order = [i for i, _, _ in timestamps.scan_arrivals(lambda a, b: t[a:b], ends,
                                                         lambda: batches.pop(0) if batches else [],
                                                         poll=0.001, patience=0.05)]
    assert order == [3, 1, 2, 0, 4]
    got = {i: (v, bad) for i, v, bad in timestamps.scan_arrivals(lambda a, b: t[a:b], ends, lambda: [0, 1, 2, 3, 4])}
    assert {i for i, (_, bad) in got.items() if bad} == set(timestamps.unsorted_segments(t, ends).tolist()) == {1, 4}
    np.testing.assert_array_equal(got[3][0], t[5:7])


def test_a_warm_reopen_does_not_wait_for_arrivals(units_file, http_server, tmp_path, monkeypatch):
    """Reopened through a warm disk cache, the read-ahead finds the spike times on disk and brings
    nothing to memory: the units are still handed over at once (not after the scan's patience)."""
    import time

    from napstream.nwb import convert

    scan = convert.scan_arrivals
    monkeypatch.setattr(convert, "scan_arrivals", lambda *a, **k: scan(*a, **{**k, "patience": 60.0}))
    server = http_server(units_file.parent)
    url = server.url_for(units_file.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nap.NWBFile(url, cache_dir=tmp_path / "c", block_size=16384) as nwb:
            want = {k: np.asarray(v.t) for k, v in nwb["units"].items()}
        with nap.NWBFile(url, cache_dir=tmp_path / "c", block_size=16384) as nwb:
            t0 = time.monotonic()
            units = nwb["units"]
            assert time.monotonic() - t0 < 30.0
            for k in want:
                np.testing.assert_array_equal(np.asarray(units[k].t), want[k])
