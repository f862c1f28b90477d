"""Bytes a remote open fetches on layouts napstream's own writers do not make (see
benchmarks/bench_open_shapes.py): each test writes the layout with pynwb, opens it over the
loopback server, bounds the bytes and round trips, and checks the objects against pynwb's reading."""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path

import numpy as np
import pytest

import napstream as nap
from napstream.io.base import BlockedSource
from napstream.nwb.h5meta import MetadataWalk

pynwb = pytest.importorskip("pynwb")

KiB = 1024
T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def _open(url: str, cache: Path, key: str) -> tuple[tuple[int, int], list[str], np.ndarray]:
    with nap.track_io() as stats, nap.NWBFile(url, cache_dir=cache) as nwb:
        repr(nwb)
        keys = nwb.keys()
        opened = (stats.bytes_fetched, stats.round_trips)
        got = np.asarray(nwb[key][:10].values)
    return opened, keys, got


@pytest.fixture(scope="module")
def many_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 TimeSeries written at once: each header next to its 320 KB of data (pynwb's layout)."""
    f = pynwb.NWBFile("many series", "many", T0)
    rng = np.random.default_rng(11)
    for k in range(30):
        f.add_acquisition(pynwb.TimeSeries(name=f"ts{k:02d}", data=rng.standard_normal(40_000), unit="V", rate=100.0))
    path = tmp_path_factory.mktemp("shapes") / "many.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(f)
    return path


def test_open_of_many_headers_far_apart_pads_them_within_one_round_trips_worth(many_series, http_server, tmp_path,
                                                                               monkeypatch):
    """The walk fetched 32 KiB either side of each of the 30 headers, and the small grid joined the
    padded pieces across their 240 KiB gaps to fit one round trip (6 MB for 60 KB of metadata); the
    padding is now shared out of one round trip's worth of bytes, and a round trip saved by joining
    may cost no more than that either."""
    server = http_server(many_series.parent)
    url = server.url_for(many_series.name)
    monkeypatch.setattr(MetadataWalk, "pad_budget", 2**40, raising=False)  # every piece padded in full: as before
    (before_bytes, before_trips), before_keys, _ = _open(url, tmp_path / "before", "ts15")
    monkeypatch.undo()
    (opened, trips), keys, got = _open(url, tmp_path / "after", "ts15")
    # the first and last 256 KiB blocks, the padding budget, two 16 KiB small blocks per header
    bound = 2 * 256 * KiB + 256 * KiB + 30 * 2 * 16 * KiB
    assert opened <= bound < before_bytes, (opened, bound, before_bytes)
    # the headers are requests of their own, in waves of ``max_concurrency``: a few more trips at most
    assert trips <= before_trips + -(-30 // nap.config.max_concurrency), (trips, before_trips)
    with nap.NWBFile(many_series) as local:
        assert keys == before_keys == local.keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(many_series), "r") as io:
            np.testing.assert_array_equal(got, io.read().acquisition["ts15"].data[:10])


class _Counting(BlockedSource):
    """An in-memory source that records what its transport was asked for (16 KiB small blocks)."""

    def __init__(self, size: int) -> None:
        self.asked: list[tuple[int, int]] = []
        super().__init__(size, block_size=256 * KiB, description="counting", max_concurrency=8)

    def _fetch_ranges(self, ranges):  # type: ignore[no-untyped-def]
        self.asked += [(r.start, r.end) for r in ranges]
        return [bytes(r.length) for r in ranges]


@pytest.mark.parametrize("gap, joined", [(240 * KiB, False), (16 * KiB, True)])
def test_small_pieces_are_joined_only_while_a_round_trip_saved_costs_little(gap, joined):
    """30 pieces, 8 requests per round trip: saving a trip means joining 6 gaps (one wave fewer). Of
    240 KiB each that is 1.4 MiB for one round trip: not joined (30 requests, 4 waves). Of 16 KiB
    they are joined into 8 requests."""
    src = _Counting(40 * 2**20)
    pieces = [(k * (gap + 16 * KiB) + 100, k * (gap + 16 * KiB) + 200) for k in range(30)]
    src.prefetch_small(pieces)
    fetched = sum(b - a for a, b in src.asked)
    if joined:
        assert len(src.asked) == 8 and src.stats.round_trips == 1, src.asked
    else:
        assert len(src.asked) == 30 and src.stats.round_trips == 4, src.asked
        assert fetched == 30 * 16 * KiB  # each piece's small block, nothing between


def _write_odd(path: Path, layout: str) -> None:
    """Small files of layouts the remote open must read as the local one does."""
    import h5py
    from hdmf.backends.hdf5 import H5DataIO

    f = pynwb.NWBFile(f"odd {layout}", layout, T0)
    rng = np.random.default_rng(17)
    grow = np.cumsum(rng.integers(-3, 4, (20_000, 8)), axis=0).astype("int16")
    f.add_acquisition(pynwb.TimeSeries(  # compressed, growable: an extensible array index in the latest format
        name="grow", unit="V", data=H5DataIO(grow, chunks=(1000, 8), maxshape=(None, 8), compression="gzip", shuffle=True),
        timestamps=H5DataIO(np.arange(20_000) / 100.0, chunks=(5000,), maxshape=(None,))))
    f.add_acquisition(pynwb.TimeSeries(name="fixed", data=H5DataIO(rng.standard_normal((30_000, 4)), chunks=(500, 2)),
                                       unit="V", rate=30.0))  # fixed array index in the latest format
    f.add_acquisition(pynwb.TimeSeries(name="empty", data=np.zeros(0), unit="V", timestamps=np.zeros(0)))
    for k in range(20):  # more than 8 links: dense link storage (a fractal heap) in the latest format
        f.add_acquisition(pynwb.TimeSeries(name=f"s{k:02d}", data=rng.standard_normal(30_000), unit="V", rate=10.0))
    kwargs = {"libver": "latest"} if layout == "latest" else {"userblock_size": 1024}
    with h5py.File(path, "w", **kwargs) as h5, pynwb.NWBHDF5IO(file=h5, mode="w") as io:
        io.write(f)


@pytest.mark.parametrize("layout", ["latest", "userblock"])
def test_odd_layouts_read_remotely_as_pynwb_reads_them(layout, tmp_path, http_server):
    """Newer chunk indexes and dense links (``libver="latest"``), a user block before the
    superblock: the remote open lists what the local one lists, the values are pynwb's, and the
    open fetches a small share of the file."""
    path = tmp_path / f"{layout}.nwb"
    _write_odd(path, layout)
    server = http_server(tmp_path)
    picks = {"grow": (slice(5000, 5010), slice(None)), "fixed": (slice(15_000, 15_010), slice(1, 3)),
             "s07": (slice(100, 110),)}
    with nap.track_io() as stats, nap.NWBFile(server.url_for(path.name), cache_dir=tmp_path / "cache") as nwb:
        repr(nwb)
        keys, opened = nwb.keys(), stats.bytes_fetched
        got = {name: np.asarray(nwb[name][key[0]].values) for name, key in picks.items()}
        got["grow_t"] = np.asarray(nwb["grow"][5000:5010].t)
        assert len(nwb["empty"]) == 0
    assert opened < 0.5 * path.stat().st_size, opened
    with nap.NWBFile(path) as local:
        assert keys == local.keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            acq = io.read().acquisition
            for name, key in picks.items():
                np.testing.assert_array_equal(got[name][(slice(None),) + key[1:]], acq[name].data[key], err_msg=name)
            np.testing.assert_array_equal(got["grow_t"], acq["grow"].timestamps[5000:5010])
