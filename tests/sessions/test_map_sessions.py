"""nap.map_sessions over a generated dandiset on the local DANDI API server.

Every result is checked against pynapple's tuning curves of the same session (read from the local
file), on every executor: serial, threads, and dask.distributed (worker processes).
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

import napstream as nap
from napstream.errors import FileFormatError, InvalidInputError, InvalidTypeError, RemoteError
from napstream.testing import FaultPlan

from sessions_layout import BINS, DAMAGED, GOOD, MINMAX, MISSING

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def tuning(nwb):
    """The analysis mapped over sessions: 2-D place fields of every unit (the guide's step 4)."""
    return nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], BINS, minmax=MINMAX)


def assert_matches_pynapple(results, reference):
    assert list(results.labels) == GOOD
    for apath in GOOD:
        tc, bins = results[apath]
        ref_tc, ref_bins = reference[apath]
        assert list(tc) == list(ref_tc)
        for unit in ref_tc:
            np.testing.assert_allclose(tc[unit], ref_tc[unit], rtol=1e-12, equal_nan=True)
        for b, rb in zip(bins, ref_bins):
            np.testing.assert_allclose(b, rb, rtol=1e-12)


def assert_same(a, b):
    assert list(a.labels) == list(b.labels)
    for key in a.labels:
        (tc_a, _), (tc_b, _) = a[key], b[key]
        for unit in tc_a:
            np.testing.assert_array_equal(tc_a[unit], tc_b[unit])


@pytest.fixture(scope="module")
def assets(dandi):
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    return [a for a in ds.assets("sub-*/*.nwb") if a.path in GOOD]


@pytest.fixture(scope="module")
def serial(assets, tmp_path_factory):
    return nap.map_sessions(tuning, assets, "serial", progress=False,
                            cache_dir=tmp_path_factory.mktemp("cache-serial"))


def test_serial_equals_pynapple(serial, reference):
    assert serial.errors == {}
    assert_matches_pynapple(serial, reference)
    for asset, st in serial.stats.items():
        assert st.attempts == 1 and st.worker == "main"
        assert st.requests > 0 and st.bytes_fetched > 0  # read over HTTP
        assert st.seconds >= st.open_seconds > 0
    total = serial.total
    assert total.bytes_fetched == sum(st.bytes_fetched for st in serial.stats.values())
    assert "6 sessions: 6 ok, 0 failed" in repr(serial)


def test_threads_equal_serial(assets, serial, tmp_path):
    seen = []
    got = nap.map_sessions(tuning, assets, "threads", n_workers=3, progress=False, cache_dir=tmp_path,
                           on_result=lambda source, value: seen.append(source))
    assert_same(got, serial)
    assert sorted(a.path for a in seen) == GOOD  # every result streamed to on_result
    assert {st.worker for st in got.stats.values()} <= {f"napstream-session_{i}" for i in range(3)}


def test_lookup_by_asset_path_and_source(serial, assets):
    assert serial[assets[0]] is serial[GOOD[0]]
    with pytest.raises(KeyError, match="no session"):
        serial["sub-99/x.nwb"]


def test_broken_sessions_are_collected_or_raised(dandi, reference, tmp_path):
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    everything = ds.assets("sub-*/*.nwb")
    assert [a.path for a in everything] == sorted(GOOD + [DAMAGED, MISSING])
    got = nap.map_sessions(tuning, everything, on_error="collect", progress=False, cache_dir=tmp_path)
    assert_matches_pynapple(got, reference)  # the others are unaffected
    errors = {a.path: e for a, e in got.errors.items()}
    assert set(errors) == {DAMAGED, MISSING}
    assert errors[DAMAGED].startswith("FileFormatError: ") and "\n" not in errors[DAMAGED]
    assert errors[MISSING].startswith("RemoteNotFoundError: ") and "404" in errors[MISSING]
    assert got.stats[everything[-1]].attempts == 1  # a 404 is not transient: not retried
    with pytest.raises(KeyError, match="failed: RemoteNotFoundError"):
        got[MISSING]
    assert "Traceback" in got.tracebacks[everything[-2]]
    with pytest.raises(FileFormatError) as info:
        nap.map_sessions(tuning, everything, on_error="raise", progress=False, cache_dir=tmp_path)
    assert DAMAGED in "".join(getattr(info.value, "__notes__", []))


def test_transient_failure_is_retried(dandi, assets, reference, tmp_path):
    blob = dandi.s3_url(GOOD[1]).split("/blobs/")[1]
    dandi.s3.set_faults(FaultPlan("503", count=1, path=blob))
    try:
        got = nap.map_sessions(tuning, assets[:2], progress=False, cache_dir=tmp_path, retries=0)
    finally:
        dandi.s3.clear_faults()
    assert got.errors == {}
    assert [got.stats[a].attempts for a in assets[:2]] == [1, 2]
    np.testing.assert_allclose(got[GOOD[1]][0][0], reference[GOOD[1]][0][0], rtol=1e-12, equal_nan=True)
    with pytest.raises(RemoteError):  # no session retries: the failure stands
        dandi.s3.set_faults(FaultPlan("503", count=1, path=blob))
        try:
            nap.map_sessions(tuning, assets[1:2], progress=False, cache_dir=tmp_path / "2", retries=0,
                             session_retries=0)
        finally:
            dandi.s3.clear_faults()


def test_local_paths_and_a_lazy_result(dandiset_files, reference):
    paths = [dandiset_files[p] for p in GOOD[:2]]
    got = nap.map_sessions(tuning, paths, "threads", n_workers=2, progress=False)
    for p, apath in zip(paths, GOOD):
        np.testing.assert_allclose(got[p][0][0], reference[apath][0][0], rtol=1e-12, equal_nan=True)
        assert got.stats[p].bytes_fetched == 0  # local files: nothing over the network
    bad = nap.map_sessions(lambda nwb: nwb["SpatialSeriesLED1"], paths[:1], on_error="collect", progress=False)
    assert "cannot outlive its file" in bad.errors[paths[0]]


def test_combine_sessions_stacks_tuning_curves(serial, reference):
    xr = pytest.importorskip("xarray")
    stacked = serial.combine()
    assert isinstance(stacked, xr.DataArray)
    assert stacked.dims == ("session", "unit", "x", "y")
    assert list(stacked["session"].values) == GOOD
    for apath in GOOD:
        curves, (xbins, ybins) = reference[apath]
        np.testing.assert_allclose(stacked["x"].values, xbins, rtol=1e-12)
        np.testing.assert_allclose(stacked["y"].values, ybins, rtol=1e-12)
        for unit, curve in curves.items():
            np.testing.assert_allclose(stacked.sel(session=apath, unit=unit).values, curve, rtol=1e-12,
                                       equal_nan=True)
    per_unit = nap.combine_sessions(serial, along="unit")  # every unit of every session on one axis
    assert per_unit.dims == ("unit", "x", "y")
    assert per_unit.sizes["unit"] == sum(len(reference[a][0]) for a in GOOD)
    assert list(per_unit["session"].values) == [a for a in GOOD for _ in reference[a][0]]
    last = GOOD[-1]
    np.testing.assert_allclose(per_unit.values[-1], reference[last][0][max(reference[last][0])], rtol=1e-12,
                               equal_nan=True)
    with pytest.raises(InvalidInputError, match="along='cell' must be a dimension"):
        nap.combine_sessions(serial, along="cell")


def test_combine_sessions_of_dataframes_aligns_bins():
    pd = pytest.importorskip("pandas")
    a = pd.DataFrame({0: [1.0, 2.0]}, index=pd.Index([0.5, 1.5], name="x"))
    b = pd.DataFrame({0: [3.0, 4.0, 5.0], 1: [6.0, 7.0, 8.0]}, index=pd.Index([0.5, 1.5, 2.5], name="x"))
    got = nap.combine_sessions({"a.nwb": a, "b.nwb": b})
    assert got.sizes == {"session": 2, "x": 3, "dim_1": 2}
    np.testing.assert_array_equal(got.sel(session="a.nwb").values, [[1.0, np.nan], [2.0, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(got.sel(session="b.nwb").values, b.values)


def test_a_dandiset_means_its_nwb_assets(dandi):
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    got = nap.map_sessions(lambda nwb: len(nwb["units"]), ds, on_error="collect", progress=False, cache=False)
    assert got.sources == ds.assets("*.nwb")  # the derivative .NWB too: DANDI's glob ignores case
    assert got.labels == GOOD and set(got.values()) == {3}
    assert {a.path for a in got.errors} == {DAMAGED, MISSING, "derivatives/sub-01/tc.NWB"}


class _FakeWorker:
    """What run_session reads from a dask worker, without starting one."""

    def __init__(self, folder, memory_limit, nthreads):
        self.local_directory = str(folder)
        self.address = "tcp://127.0.0.1:1"
        self.memory_manager = type("M", (), {"memory_limit": memory_limit})()
        self.state = type("S", (), {"nthreads": nthreads})()


@pytest.mark.parametrize("limit, threads, expected", [
    (12 * 10**9, 1, 256 * 2**20),   # a big worker keeps the client's budget
    (400 * 10**6, 2, 100 * 10**6),  # half the memory limit, shared by the worker's threads
    (10**6, 1, 16 * 2**20),         # never below 16 MiB
])
def test_a_worker_process_takes_the_settings_and_its_share_of_memory(monkeypatch, tmp_path, dandiset_files,
                                                                     limit, threads, expected):
    from napstream import sessions

    monkeypatch.setattr(sessions, "_dask_worker", lambda: _FakeWorker(tmp_path, limit, threads))
    seen = {}

    def probe(nwb):
        seen.update(budget=nap.config.memory_budget, executor=nap.config.executor, block=nap.config.block_size)
        return 1

    settings = tuple({"memory_budget": 256 * 2**20, "block_size": 64 * 2**10}.items())
    task = sessions._Task(0, str(dandiset_files[GOOD[0]]), (), settings, 0, client_pid=-1)  # another process
    with nap.config.override(memory_budget="1GiB", executor="auto", block_size=256 * 2**10):
        outcome = sessions.run_session(probe, task)
        assert outcome.error is None and outcome.stats.worker == "tcp://127.0.0.1:1"
        assert seen == {"budget": expected, "executor": "serial", "block": 64 * 2**10}
        options, _ = sessions._worker_context(task)
        assert options["cache_dir"] == str(tmp_path / "napstream-cache")  # a cache folder per worker
        shared = sessions._Task(0, "x.nwb", (("cache_dir", "/shared/cache"),), settings, 0, client_pid=-1)
        assert sessions._worker_context(shared)[0]["cache_dir"] == "/shared/cache"


def test_progress_counts_sessions_and_bytes(assets, tmp_path, capsys):
    import time

    def slow(nwb):
        time.sleep(0.6)  # the bar appears after a second
        return len(nwb["units"])

    nap.map_sessions(slow, assets[:3], progress=True, cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert "sessions" in err and "/3" in err and "fetched" in err


def test_input_validation(assets):
    with pytest.raises(InvalidTypeError, match="func must be a callable"):
        nap.map_sessions("tuning", assets)
    with pytest.raises(InvalidTypeError, match="sources must be a list"):
        nap.map_sessions(tuning, "sub-01/x.nwb")
    with pytest.raises(InvalidTypeError, match="each source must be"):
        nap.map_sessions(tuning, [1, 2])
    with pytest.raises(InvalidInputError, match="executor must be"):
        nap.map_sessions(tuning, assets, "processes")
    with pytest.raises(InvalidInputError, match="on_error must be"):
        nap.map_sessions(tuning, assets, on_error="ignore")
    with pytest.raises(InvalidInputError, match="distinct"):
        nap.map_sessions(tuning, [assets[0], assets[0]])


# ------------------------------------------------------------------------------------------ dask
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # worker processes get these functions by value


def _children():
    """Child processes, but multiprocessing's resource tracker (one per interpreter, for its lifetime)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def _no_default_client():
    try:
        distributed.get_client()
    except ValueError:
        return True
    return False


def _die_once(marker):
    def analysis(nwb):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return tuning(nwb)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies in the middle of a session
    return analysis


@pytest.mark.slow
def test_dask_local_cluster_without_a_client(dandi, serial, reference, tmp_path):
    """One LocalCluster of 2 worker processes, started by map_sessions (no client exists): equal
    results, broken sessions reported, a worker killed mid-session loses nothing, nothing left over.

    (One cluster for all of it: starting worker processes takes seconds on a shared machine.)
    """
    assert _no_default_client()
    everything = nap.Dandiset("000582", api_url=dandi.api_url).assets("sub-*/*.nwb")
    before = _children()
    marker = tmp_path / "killed"
    got = nap.map_sessions(_die_once(str(marker)), everything, "dask", n_workers=2, on_error="collect",
                           progress=False)
    assert marker.exists()  # a worker did die in the middle of a session ...
    assert_matches_pynapple(got, reference)  # ... and every session still has its result
    assert_same(got, serial)
    assert {a.path for a in got.errors} == {DAMAGED, MISSING}
    assert got.errors[everything[-2]].startswith("FileFormatError: ")
    assert got.errors[everything[-1]].startswith("RemoteNotFoundError: ")
    workers = {st.worker for st in got.stats.values()}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)  # ran in worker processes
    assert all(got.stats[a].requests > 0 for a in got)
    left = [" ".join(psutil.Process(p).cmdline())[:200] for p in _children() - before]
    assert not left and _no_default_client(), left  # the cluster is gone
