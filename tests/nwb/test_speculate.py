"""The speculative background fetch after a remote open (napstream.nwb.speculate, issue #15)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.config import Config
from napstream.io.fileobj import FileObject, NotHeldError, held_bytes_only
from napstream.errors import InvalidInputError, InvalidTypeError, RemoteChangedError
from napstream.io.sources import open_source
from napstream.nwb.speculate import Speculation, plan_speculation
from napstream.testing.http_server import RangeHTTPServer
from napstream.testing.sessions import write_session

BLOCK = 16384
SPIKES = "/units/spike_times"
LED1 = "/processing/behavior/Position/SpatialSeriesLED1"
LFP = "/processing/ecephys/LFP/ElectricalSeriesLFP/data"


@pytest.fixture(autouse=True)
def speculating(monkeypatch):
    """Speculation is off by default: these tests switch it on (the off-switch test sets its own).
    The background walk of the LFP's chunk index (nwb/index_warmup.py, tested in
    test_index_warmup.py) is off here: its requests would count in the jobs' I/O measured here."""
    monkeypatch.setattr("napstream.nwb.index_warmup.WARM_INDEXES", False)
    with nap.config.override(speculate=True):
        yield


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("speculate")
    write_session(folder / "s.nwb", duration=600.0, n_units=8, n_channels=4, seed=3)
    return folder / "s.nwb"


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("napstream-readahead", "napstream-speculate")) and t.is_alive()]


def _no_threads_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _threads()


def _fetched_twice(server, size):
    """Bytes the server sent more than once (from the Range headers it answered)."""
    return server.stats.bytes_sent_twice(size)


def _wait_finished(spec: Speculation, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not (spec.finished or spec.cancelled) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert spec.finished, spec


def _guide_job(nwb: nap.NWBFile) -> dict:
    tc, _ = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 12)
    return {k: np.asarray(v) for k, v in tc.items()}


def test_the_likely_objects_are_fetched_once_and_the_job_then_waits_on_nothing(served, http_server, tmp_path):
    with nap.NWBFile(served) as local:
        want = _guide_job(local)
        spikes = [np.asarray(local["units"][k].t) for k in local["units"].keys()]
    server = http_server(served.parent, latency=0.005)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        spec = nwb.speculation
        assert spec is not None
        planned = [name for name, _ in spec.plan]
        for name in (SPIKES, f"{LED1}/timestamps", f"{LED1}/data"):
            assert name in planned, planned
        # small columns the open brought already (the metadata walk's small data) are not asked again
        assert "/units/spike_times_index" not in planned and "/intervals/epochs/start_time" not in planned
        assert planned.index(SPIKES) < planned.index(f"{LED1}/data")  # units first
        assert not any("ecephys" in name for name in planned)  # never the LFP
        _wait_finished(spec)
        assert _no_threads_within(5.0), _threads()  # done: pins released, fetchers gone
        assert nwb._src.byte_source.memory.pinned_bytes == 0
        with nap.track_io() as job:
            got = _guide_job(nwb)
            got_spikes = [np.asarray(nwb["units"][k].t) for k in nwb["units"].keys()]
        assert job.requests == 0, job  # every byte the job reads came with the speculation
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, equal_nan=True)
    for a, b in zip(got_spikes, spikes):
        np.testing.assert_array_equal(a, b)
    assert _fetched_twice(server, served.stat().st_size) == 0


def test_reads_racing_the_speculation_fetch_no_byte_twice(served, http_server, tmp_path):
    with nap.NWBFile(served) as local:
        want = _guide_job(local)
    # slow enough that the job asks for the units and the position while they are on their way
    server = http_server(served.parent, latency=0.02, bandwidth=4_000_000)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        assert nwb.speculation is not None and not nwb.speculation.finished
        got = _guide_job(nwb)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, equal_nan=True)
    assert _fetched_twice(server, served.stat().st_size) == 0
    assert _no_threads_within(5.0), _threads()


def test_a_planned_read_of_another_dataset_cancels_it(served, http_server, tmp_path):
    with nap.NWBFile(served) as local:
        want = np.asarray(nap.compute_mean_power_spectral_density(local["ElectricalSeriesLFP"], 2.0).values)
    server = http_server(served.parent, latency=0.02, bandwidth=4_000_000)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        spec = nwb.speculation
        assert spec is not None and not spec.finished
        lfp = nwb["ElectricalSeriesLFP"]
        assert spec.cancelled and not spec.finished  # the script goes for the LFP: it makes way at once
        psd = nap.compute_mean_power_spectral_density(lfp, 2.0)
        assert nwb._src.byte_source.memory.pinned_bytes == 0
        ahead = nwb._src.byte_source._ahead
    np.testing.assert_allclose(np.asarray(psd.values), want, rtol=1e-9)
    # what the speculation fetched stays within its bound; the LFP's bytes were not fetched twice
    with h5py.File(served, "r") as f:
        lfp_bytes = int(f[LFP].id.get_storage_size())
    assert server.stats.bytes_sent <= lfp_bytes + spec.max_bytes + 2**20
    assert _fetched_twice(server, served.stat().st_size) == 0
    assert ahead is None or not ahead.threads
    assert _no_threads_within(5.0), _threads()


def test_a_large_read_of_a_dataset_it_does_not_cover_cancels_it(served, http_server, tmp_path):
    from napstream.nwb.prefetch import wrap_dataset

    with h5py.File(served, "r") as f:
        want = f[LFP][:100000]
    server = http_server(served.parent, latency=0.02, bandwidth=1_000_000)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        spec = nwb.speculation
        assert spec is not None and not spec.finished
        src = nwb._src.byte_source
        spikes = wrap_dataset(nwb.file[SPIKES], src)
        spikes[:10]  # a dataset it covers: it goes on
        assert not spec.cancelled
        got = wrap_dataset(nwb.file[LFP], src)[:100000]
        assert spec.cancelled
        assert src.memory.pinned_bytes == 0
    np.testing.assert_array_equal(got, want)
    assert _fetched_twice(server, served.stat().st_size) == 0
    assert _no_threads_within(5.0), _threads()


def test_close_stops_it_and_leaves_no_thread(served, http_server, tmp_path):
    server = http_server(served.parent, latency=0.05, bandwidth=1_000_000)
    nwb = nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK)
    spec = nwb.speculation
    assert spec is not None and _threads()
    t0 = time.monotonic()
    nwb.close()
    assert spec.cancelled and time.monotonic() - t0 < 5.0
    assert _no_threads_within(5.0), _threads()


def test_an_interrupted_job_leaves_no_thread_once_the_speculation_is_done(served, http_server, tmp_path):
    server = http_server(served.parent, latency=0.01, bandwidth=8_000_000)
    nwb = nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK)
    try:
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the user's code while it fetches
            units = nwb["units"]
            raise KeyboardInterrupt
        _wait_finished(nwb.speculation)
        assert _no_threads_within(5.0), _threads()  # not closed yet: nothing left running
        with nap.NWBFile(served) as local:
            np.testing.assert_array_equal(np.asarray(units[0].t), np.asarray(local["units"][0].t))
    finally:
        nwb.close()


def test_the_off_switches(served, http_server, tmp_path, monkeypatch):
    server = http_server(served.parent)
    url = server.url_for(served.name)
    with nap.NWBFile(url, cache_dir=tmp_path / "a", speculate=False) as nwb:
        assert nwb.speculation is None and nwb._src.byte_source._ahead is None
    with nap.config.override(speculate=False), nap.load_file(url, cache_dir=tmp_path / "b") as nwb:
        assert nwb.speculation is None
    with nap.config.override(speculate=False), nap.NWBFile(url, cache_dir=tmp_path / "c", speculate=True) as nwb:
        assert nwb.speculation is not None  # the keyword wins over the setting
    with nap.NWBFile(served) as nwb:
        assert nwb.speculation is None  # local files: nothing to speculate on
    monkeypatch.delenv("NAPSTREAM_SPECULATE", raising=False)
    assert Config().speculate is False  # off by default
    with nap.config.override(speculate=Config().speculate), nap.NWBFile(url, cache_dir=tmp_path / "d") as nwb:
        assert nwb.speculation is None and nwb._src.byte_source._ahead is None
    for value, expected in (("0", False), ("off", False), ("False", False), ("1", True), ("", False)):
        monkeypatch.setenv("NAPSTREAM_SPECULATE", value)
        assert Config().speculate is expected
    with pytest.raises(InvalidInputError):
        nap.config.speculate = "yes"
    with pytest.raises(InvalidTypeError):
        nap.NWBFile(url, speculate="yes")


def test_planning_fetches_nothing(served, http_server, tmp_path):
    server = http_server(served.parent)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK, speculate=False) as nwb:
        src = nwb._src.byte_source
        before = server.stats.requests
        plan = plan_speculation(nwb.file, nwb._entries, src, 32 * 2**20)
        assert server.stats.requests == before
        assert SPIKES in [name for name, _ in plan]
        # within the limit, counted in whole blocks
        blocks = {i for _, rs in plan for a, b in rs for i in range(a // BLOCK, (b - 1) // BLOCK + 1)}
        small = plan_speculation(nwb.file, nwb._entries, src, 4 * BLOCK)
        small_blocks = {i for _, rs in small for a, b in rs for i in range(a // BLOCK, (b - 1) // BLOCK + 1)}
        assert len(small_blocks) <= 4 < len(blocks)


def test_held_bytes_only_reads_nothing_new(served, http_server):
    server = http_server(served.parent)
    src = open_source(server.url_for(served.name), cache=False, block_size=BLOCK)
    try:
        f = FileObject(src)
        head = f.read(64)  # fetched (the first block)
        with held_bytes_only():
            f.seek(0)
            assert f.read(64) == head
            f.seek(src.size // 2)
            with pytest.raises(NotHeldError):
                f.read(64)
        f.seek(src.size // 2)
        assert len(f.read(64)) == 64  # outside the block, reads fetch again
    finally:
        src.close()


def _changed_copy(session: Path, target: Path) -> Path:
    shutil.copyfile(session, target)
    with h5py.File(target, "r+") as f:
        f["units/spike_times"][...] = f["units/spike_times"][...] * 0.99
        data = f[f"{LED1[1:]}/data"]
        data[...] = data[...] + 1000.0
    return target


def test_no_speculation_without_validators_so_versions_never_mix(served, tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    target = folder / "s.nwb"
    shutil.copyfile(served, target)
    changed = _changed_copy(served, tmp_path / "changed.nwb")
    with nap.NWBFile(served) as a, nap.NWBFile(changed) as b:
        old, new = np.asarray(a["SpatialSeriesLED1"].values), np.asarray(b["SpatialSeriesLED1"].values)
    with RangeHTTPServer(folder, validators="none") as server, nap.config.override(retries=1, timeout=5.0):
        nwb = nap.NWBFile(server.url_for("s.nwb"), cache_dir=tmp_path / "c", block_size=BLOCK, speculate=True)
        try:
            assert nwb.speculation is None  # bytes fetched now and read later could be two versions
            shutil.copyfile(changed, target)
            try:
                got = np.asarray(nwb["SpatialSeriesLED1"].values)
            except RemoteChangedError:
                return
            assert np.array_equal(got, old) or np.array_equal(got, new)
        finally:
            nwb.close()


def test_a_warm_rerun_fetches_nothing_new(served, http_server, tmp_path):
    """A file read before through the same cache gets no speculation: a rerun of a script fetches
    nothing (the first run's speculation was cut short by its close)."""
    server = http_server(served.parent, latency=0.01, bandwidth=1_000_000)
    url = server.url_for(served.name)

    def spikes(nwb: nap.NWBFile) -> list:
        return [np.asarray(nwb["units"][k].t) for k in nwb["units"].keys()]

    with nap.NWBFile(url, cache_dir=tmp_path, block_size=BLOCK) as nwb:
        assert nwb.speculation is not None
        first = spikes(nwb)
        assert not nwb.speculation.finished  # closed before the rest of it came
    with nap.track_io() as rerun, nap.NWBFile(url, cache_dir=tmp_path, block_size=BLOCK) as nwb:
        assert nwb.speculation is None
        again = spikes(nwb)
    assert rerun.bytes_fetched <= 64, rerun  # at most the reopen's content check
    for a, b in zip(again, first):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the position behind the units
def test_reading_the_units_queues_the_first_position_behind_them(served, http_server, tmp_path):
    """On by default (speculation off): once a script reads the units, the first Position series
    comes behind their spike times, so its read finds its bytes here (no request of its own)."""
    with nap.NWBFile(served) as local:
        want = _guide_job(local)
    server = http_server(served.parent, latency=0.02, bandwidth=8_000_000)
    with nap.config.override(speculate=False), \
            nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        assert nwb.speculation is None and nwb._follow is None  # nothing before the script reads
        units = nwb["units"]
        follow = nwb._follow
        assert follow is not None
        assert sorted(name for name, _ in follow.plan) == [f"{LED1}/data", f"{LED1}/timestamps"]  # not LED2
        assert follow.covers(SPIKES)  # the units' own reads let it go on
        _wait_finished(follow)
        assert _no_threads_within(5.0), _threads()
        assert nwb._src.byte_source.memory.pinned_bytes == 0
        with nap.track_io() as job:
            position = nwb["SpatialSeriesLED1"]
            np.asarray(position.values)
        assert job.requests == 0, job  # its bytes came behind the units
        tc, _ = nap.compute_2d_tuning_curves(units, position, 12)
    for k in want:
        np.testing.assert_allclose(np.asarray(tc[k]), want[k], rtol=1e-12, equal_nan=True)
    assert _fetched_twice(server, served.stat().st_size) == 0
    assert _no_threads_within(5.0), _threads()


def test_the_position_behind_the_units_racing_the_job_fetches_nothing_twice(served, http_server, tmp_path):
    with nap.NWBFile(served) as local:
        want = _guide_job(local)
    server = http_server(served.parent, latency=0.02, bandwidth=2_000_000)
    with nap.config.override(speculate=False), \
            nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        got = _guide_job(nwb)  # the position asked for while its bytes are on their way
        assert nwb._follow is not None and not nwb._follow.cancelled
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, equal_nan=True)
    assert _fetched_twice(server, served.stat().st_size) == 0
    assert _no_threads_within(5.0), _threads()


def test_the_position_behind_the_units_makes_way_and_stops(served, http_server, tmp_path):
    from napstream.nwb import speculate

    server = http_server(served.parent, latency=0.03, bandwidth=1_000_000)
    url = server.url_for(served.name)
    fast = http_server(served.parent).url_for(served.name)
    with nap.config.override(speculate=False):
        with nap.NWBFile(url, cache_dir=tmp_path / "a", block_size=BLOCK) as nwb:
            nwb["units"]
            follow = nwb._follow
            assert follow is not None and not follow.finished
            nwb["ElectricalSeriesLFP"]  # the script goes for the big data: it makes way at once
            assert follow.cancelled and nwb._src.byte_source.memory.pinned_bytes == 0
        assert _no_threads_within(5.0), _threads()
        nwb = nap.NWBFile(url, cache_dir=tmp_path / "b", block_size=BLOCK)
        nwb["units"]
        follow = nwb._follow
        nwb.close()  # a units-only script ends: nothing left running
        assert follow is not None and follow.cancelled
        assert _no_threads_within(5.0), _threads()
        with nap.NWBFile(fast, cache_dir=tmp_path / "c", speculate=False) as nwb:
            nwb["units"]
            assert nwb._follow is None  # speculate=False: no background fetch at all
        with nap.NWBFile(served) as nwb:
            nwb["units"]
            assert nwb._follow is None  # local files: nothing to fetch
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(speculate, "FOLLOW_UNITS", False)
            with nap.NWBFile(fast, cache_dir=tmp_path / "d") as nwb:
                nwb["units"]
                assert nwb._follow is None
    with nap.NWBFile(fast, cache_dir=tmp_path / "e", block_size=BLOCK) as nwb:  # speculation at open on
        nwb["units"]
        assert nwb._follow is None  # the speculation at open brings the position already


def test_the_position_behind_the_units_adds_no_bytes_to_the_job(served, http_server, tmp_path):
    """The guide's job fetches no more with the position queued behind the units than without it
    (a reader of blocks still in flight waits for them: h5py's own read of them would fetch the
    blocks after them too, its forward-scan read-ahead)."""
    from napstream.nwb import speculate

    sent = {}
    for follow in (False, True, False, True):
        server = http_server(served.parent, latency=0.03, bandwidth=12_500_000)
        with pytest.MonkeyPatch.context() as mp, nap.config.override(speculate=False):
            mp.setattr(speculate, "FOLLOW_UNITS", follow)
            with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path / f"{follow}{len(sent)}") as nwb:
                _guide_job(nwb)
                assert (nwb._follow is not None) is follow
        sent[(follow, len(sent))] = server.stats.bytes_sent
    with_follow = [v for (f, _), v in sent.items() if f]
    without = [v for (f, _), v in sent.items() if not f]
    assert max(with_follow) <= min(without), sent
