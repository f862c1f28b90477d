"""A remote open fetches its metadata on the small grid (io/base.py ``prefetch_small``, driven by
nwb/h5meta.py): fewer bytes than whole 256 KiB blocks, no more round trips, the same objects as the
local read and pynwb, and a warm reopen served from the disk cache (intact blocks only)."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.io.base import BlockedSource
from napstream.testing.sessions import write_units_file


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("open_small")
    return write_session(root / "s.nwb", duration=300.0, n_units=12, n_channels=4, seed=4)


def _read(nwb: nap.NWBFile) -> dict[str, np.ndarray]:
    units, led = nwb["units"], nwb["SpatialSeriesLED1"]
    out = {f"unit{k}": np.asarray(units[k].t) for k in units.keys()}
    out["led_t"], out["led_d"] = np.asarray(led.t), np.asarray(led.values)
    return out


def _open_list(url: str, cache_dir: Path) -> tuple[object, list[str], dict[str, np.ndarray]]:
    with nap.track_io() as stats, nap.NWBFile(url, cache_dir=cache_dir) as nwb:
        repr(nwb)
        keys = nwb.keys()
        opened = (stats.bytes_fetched, stats.round_trips, stats.requests)
        data = _read(nwb)
    return opened, keys, data


def test_open_fetches_fewer_bytes_in_no_more_round_trips(session, http_server, tmp_path, monkeypatch):
    server = http_server(session.parent)
    url = server.url_for(session.name)
    monkeypatch.setattr(BlockedSource, "small_block_size", 0)  # whole blocks: the walk before the small grid
    (before_bytes, before_trips, _), keys_before, data_before = _open_list(url, tmp_path / "before")
    monkeypatch.undo()
    (after_bytes, after_trips, after_requests), keys, data = _open_list(url, tmp_path / "after")
    assert after_trips <= before_trips
    assert after_bytes < 0.8 * before_bytes, (after_bytes, before_bytes)
    assert after_requests <= 2 + nap.config.max_concurrency * (after_trips - 1)  # one batch per round trip
    with nap.NWBFile(session) as local:
        assert keys == keys_before == local.keys()
        want = _read(local)
    for name in want:
        np.testing.assert_array_equal(data[name], want[name], err_msg=name)
        np.testing.assert_array_equal(data_before[name], want[name], err_msg=name)


def test_remote_objects_equal_pynwb(session, http_server, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    server = http_server(session.parent)
    with nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path) as nwb:
        got = _read(nwb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(session), "r", load_namespaces=True) as io:
            f = io.read()
            units = f.units.to_dataframe()
            for i, uid in enumerate(units.index):
                np.testing.assert_array_equal(got[f"unit{int(uid)}"], np.asarray(units["spike_times"].iloc[i]))
            led = f.processing["behavior"]["Position"]["SpatialSeriesLED1"]
            np.testing.assert_array_equal(got["led_t"], led.timestamps[:])
            np.testing.assert_array_equal(got["led_d"], led.data[:] * led.conversion + getattr(led, "offset", 0.0))


def test_warm_reopen_reads_the_small_blocks_from_disk(session, http_server, tmp_path):
    server = http_server(session.parent)
    url = server.url_for(session.name)
    cold, keys, data = _open_list(url, tmp_path)
    small = list(tmp_path.rglob(f"{BlockedSource.small_block_size}-*"))
    assert small, "the walk's blocks were not written to the disk cache"
    server.reset_stats()
    with nap.track_io() as stats, nap.NWBFile(url, cache_dir=tmp_path) as nwb:
        repr(nwb)
        assert nwb.keys() == keys
        assert stats.round_trips == 1  # the reopen's check only: metadata came from the disk cache
        assert stats.bytes_fetched < 1024
        for name, want in _read(nwb).items():
            np.testing.assert_array_equal(want, data[name], err_msg=name)


def test_damaged_small_blocks_on_disk_are_fetched_again(session, http_server, tmp_path):
    server = http_server(session.parent)
    url = server.url_for(session.name)
    _, keys, data = _open_list(url, tmp_path)
    small = sorted(tmp_path.rglob(f"{BlockedSource.small_block_size}-*"))
    # every small-grid file damaged, half-written (truncated) or altered (checksum) in turn: with run
    # files, blocks may be held by two overlapping files, so damaging only some may leave each block
    # a good copy (served, correctly, with nothing fetched)
    for k, path in enumerate(small):
        body = path.read_bytes()
        path.write_bytes(body[: len(body) // 2] if k % 2 else body[:-5] + b"xxxxx")
    with nap.track_io() as stats, nap.NWBFile(url, cache_dir=tmp_path) as nwb:
        repr(nwb)
        assert nwb.keys() == keys
        for name, want in _read(nwb).items():
            np.testing.assert_array_equal(want, data[name], err_msg=name)
    assert stats.bytes_fetched > 0  # the damaged blocks came from the server again


def test_small_reads_use_bytes_held_on_either_grid(tmp_path, http_server):
    payload = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "f.bin").write_bytes(payload)
    server = http_server(tmp_path)
    from napstream.io import open_source

    with open_source(server.url_for("f.bin"), cache=False, block_size=65536) as src:
        before = src.stats.bytes_fetched
        src.prefetch_small([(300_000, 300_100), (310_000, 310_010), (700_000, 700_001)])
        fetched = src.stats.bytes_fetched - before
        assert fetched <= 3 * 2 * src.small_grid  # a few small blocks, not 64 KiB blocks
        server.reset_stats()
        assert src.read_unplanned(300_010, 300_090) == payload[300_010:300_090]
        assert src.peek(309_990, 310_020) == payload[309_990:310_020]  # same 4 KiB block
        assert src.peek(500_000, 500_001) is None  # never fetched
        assert src.read_range(700_000, 700_001) == payload[700_000:700_001]
        assert server.stats.requests == 0  # all from the small grid
        assert src.read_range(0, 200_000) == payload[:200_000]  # whole blocks as before
        assert src.read_range(290_000, 320_000) == payload[290_000:320_000]  # mixes both grids


def _write_chunked_units(path: Path, n_units: int = 40, per_unit: int = 7000, chunk: int = 20000) -> Path:
    """Units whose spike times span many storage chunks, each unit with its observation interval."""
    rng = np.random.default_rng(7)
    spikes = [np.sort(rng.uniform(0, 100.0, per_unit)) for _ in range(n_units)]
    obs = [[[0.0, 100.0 - i]] for i in range(n_units)]
    return write_units_file(path, spikes, obs, chunk=chunk, identifier="chunked-units")


@pytest.mark.parametrize("batch, ahead", [(True, False), (False, False), (True, True)])
def test_building_remote_units_waits_on_the_network_once(tmp_path, http_server, monkeypatch, batch, ahead):
    """Each unit's restriction to its observation interval searches its spike times: the chunks
    of those rows come in one concurrent batch, not one round trip after another (``ahead``:
    through the read-ahead, in unit order, while the first units are built)."""
    from napstream.nwb.convert import ReadContext

    path = _write_chunked_units(tmp_path / "units.nwb")
    monkeypatch.setattr(ReadContext, "batch_reads", batch)
    monkeypatch.setattr(ReadContext, "read_ahead_units", ahead)
    server = http_server(tmp_path)
    with nap.NWBFile(server.url_for(path.name), cache_dir=tmp_path / "cache", block_size=65536) as nwb:
        with nap.track_io() as stats:
            units = nwb["units"]
        got = {k: np.asarray(units[k].t) for k in units.keys()}
    with nap.NWBFile(path) as local:
        want = {k: np.asarray(local["units"][k].t) for k in local["units"].keys()}
    with h5py.File(path, "r") as f:  # every chunk of spike times, the index's nodes, a block's slack each
        expected_bytes = int(f["units/spike_times"].id.get_storage_size()) + 8 * 65536
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    if ahead:  # the read-ahead's requests count one by one: all of them, at most one each
        assert stats.round_trips <= 1 + stats.requests and stats.bytes_fetched <= expected_bytes, stats
    else:  # building the units checks the order of every spike time: one whole-column read,
        # batched or not (a search per unit, one round trip after another, would fail this)
        assert stats.round_trips <= 2, stats  # the chunk index's nodes, then every chunk at once


def _record_senders(monkeypatch) -> list[str]:
    """Names of the threads that send range requests through HTTPSource (in order)."""
    import threading

    from napstream.io.http import HTTPSource

    senders: list[str] = []
    fetch = HTTPSource._fetch_ranges

    def recording(self, ranges):
        senders.append(threading.current_thread().name)
        return fetch(self, ranges)

    monkeypatch.setattr(HTTPSource, "_fetch_ranges", recording)
    return senders


@pytest.mark.parametrize("batch", [True, False])
def test_a_small_remote_series_values_come_with_its_timestamps(session, http_server, tmp_path, monkeypatch, batch):
    """Its timestamps are read whole at creation (sortedness check): its values come at the same time
    (in a background batch, nwb/convert.py ``ReadContext.prefetch_behind``), so reading them next
    sends no request (the reader's thread sends none: the batch's own requests may still be out
    while it reads, on a loaded machine)."""
    from napstream.nwb.convert import ReadContext

    monkeypatch.setattr(ReadContext, "batch_reads", batch)
    senders = _record_senders(monkeypatch)
    server = http_server(session.parent)
    # 16 KiB blocks: the values do not sit in the blocks the open fetched
    with nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path, block_size=16384, speculate=False) as nwb:
        with nap.track_io() as built:
            led = nwb["SpatialSeriesLED1"]
        before = len(senders)
        values = np.asarray(led.values)
        readers = [name for name in senders[before:] if name != "napstream-values-behind"]
    with nap.NWBFile(session) as local:
        np.testing.assert_array_equal(values, np.asarray(local["SpatialSeriesLED1"].values))
    assert built.round_trips <= (2 if batch else 1)  # batch: the values' batch goes out with the timestamps'
    assert (not readers) == batch, readers


def test_values_behind_are_claimed_before_their_thread_runs(session, http_server, tmp_path, monkeypatch):
    """The values' background batch claims its blocks in the caller's thread: a read of the values
    made before that thread got going (a loaded machine) waits for its fetch. Before, the read raced
    the thread's start and fetched the values itself (flaky under load; forced here by a thread
    that starts late)."""
    import threading
    import time as _time

    run = threading.Thread.run

    def late(self):
        if self.name == "napstream-values-behind":
            _time.sleep(0.3)  # the background thread is slow to get going
        run(self)

    monkeypatch.setattr(threading.Thread, "run", late)
    senders = _record_senders(monkeypatch)
    server = http_server(session.parent)
    with nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path, block_size=16384, speculate=False) as nwb:
        led = nwb["SpatialSeriesLED1"]
        server.reset_stats()
        before = len(senders)
        values = np.asarray(led.values)
        readers = [name for name in senders[before:] if name != "napstream-values-behind"]
    with nap.NWBFile(session) as local:
        np.testing.assert_array_equal(values, np.asarray(local["SpatialSeriesLED1"].values))
    assert not readers, readers  # the reader waited for the batch; it sent nothing itself
    assert server.stats.bytes_sent_twice(session.stat().st_size) == 0


def test_a_small_remote_series_is_returned_while_its_values_arrive(session, http_server, tmp_path):
    """Over a slow link the series is returned once its timestamps are checked, its values still on
    their way (fetched in the background since the creation started); reading them waits for those
    bytes (no request of its own, nothing fetched twice) and gives the local values."""
    from napstream.nwb.prefetch import ChunkIndex

    server = http_server(session.parent, latency=0.01, link=400_000)  # 0.36 MB of LED: ~1 s
    with nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path, block_size=16384, speculate=False) as nwb:
        src = nwb._src.byte_source
        with nap.track_io() as built:
            led = nwb["SpatialSeriesLED1"]
        dset = nwb.file[nwb.entry("SpatialSeriesLED1").location + "/data"]
        ranges = list(ChunkIndex(dset).ranges(0, dset.shape[0]))
        assert any(src.peek(a, b) is None for a, b in ranges), "the creation waited for the values"
        with nap.track_io() as read:
            values = np.asarray(led.values)
        assert read.requests == 0, read
        with h5py.File(session, "r") as f:
            stored = sum(int(f[nwb.entry("SpatialSeriesLED1").location + f"/{n}"].id.get_storage_size())
                         for n in ("data", "timestamps"))
        assert built.bytes_fetched <= stored + 4 * 16384, built  # each byte once (+ the blocks' slack)
    with nap.NWBFile(session) as local:
        np.testing.assert_array_equal(values, np.asarray(local["SpatialSeriesLED1"].values))


class _Counting(BlockedSource):
    """An in-memory source that records what its transport was asked for."""

    small_block_size = 16
    min_skip = 16  # any held span is skipped (the batch may grow to max_concurrency requests)

    def __init__(self, data: bytes) -> None:
        self.data, self.asked = data, []
        super().__init__(len(data), block_size=64, description="counting", max_concurrency=64)

    def _fetch_ranges(self, ranges):  # type: ignore[no-untyped-def]
        self.asked += [(r.start, r.end) for r in ranges]
        return [self.data[r.start: r.end] for r in ranges]


@pytest.mark.parametrize("seed", range(6))
def test_whole_blocks_around_small_ones_are_exact_and_skip_held_bytes(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    src = _Counting(data)
    pieces = [(int(a), int(a) + int(rng.integers(1, 40))) for a in rng.integers(0, 4900, 12)]
    src.prefetch_small(pieces)
    small_asked = sum(b - a for a, b in src.asked)
    src.asked.clear()
    for _ in range(30):
        a = int(rng.integers(0, 4990))
        b = int(rng.integers(a + 1, min(a + 700, 5000) + 1))
        assert src.read_range(a, b) == data[a:b]
    handle = src.read_ahead([(0, 5000)], max_bytes=10_000)
    assert handle is not None and handle.wait(timeout=10)
    assert src.read_range(0, 5000) == data
    handle.cancel()
    fetched = sum(b - a for a, b in src.asked)
    assert fetched + small_asked <= len(data)  # no byte the small grid holds was asked again


def test_the_values_batch_leaves_blocks_shared_with_the_timestamps_to_them():
    """A block holding bytes of both the timestamps and the values is fetched with the timestamps
    (the check of the timestamps must not wait for the values' whole background batch)."""
    from napstream.io.ranges import ByteRange
    from napstream.nwb.convert import _without_blocks

    got = _without_blocks([ByteRange(10, 100), ByteRange(150, 170)], {2, 5}, 16)
    assert got == [ByteRange(10, 32), ByteRange(48, 80), ByteRange(96, 100), ByteRange(150, 170)]
    assert _without_blocks([ByteRange(0, 64)], set(), 16) == [ByteRange(0, 64)]
    assert _without_blocks([ByteRange(16, 32)], {1}, 16) == []


def test_open_of_headers_far_apart_fetches_them_not_the_data_between(tmp_path, http_server):
    """pynwb writes each dataset's header next to its data: the headers of 16 series lie 1.6 MB
    apart. The walk's batch has more pieces than one round trip's requests; joining them across
    those gaps fetched the data between (123 MiB for a 1 GB file of 16 series): now the far pieces
    are requests of their own, and the open fetches a small share of the file."""
    pynwb = pytest.importorskip("pynwb")
    import datetime

    f = pynwb.NWBFile("headers far apart", "far", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    rng = np.random.default_rng(7)
    for k in range(16):
        f.add_acquisition(pynwb.TimeSeries(name=f"ts{k:02d}", data=rng.standard_normal(200_000), unit="V", rate=1000.0))
    path = tmp_path / "far.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    size = path.stat().st_size
    server = http_server(tmp_path)
    with nap.track_io() as stats, nap.NWBFile(server.url_for(path.name), cache_dir=tmp_path / "cache") as nwb:
        keys = nwb.keys()
        opened = stats.bytes_fetched
        got = np.asarray(nwb["ts07"].values[:10])
    assert opened < 0.1 * size, (opened, size)
    with nap.NWBFile(path) as local:
        assert keys == local.keys()
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        np.testing.assert_array_equal(got, io.read().acquisition["ts07"].data[:10])
