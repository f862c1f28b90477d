"""IOStats and track_io: per-source counters, process-wide aggregate, deltas of a block."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import napstream as nap
from napstream.errors import InvalidInputError
from napstream.io import IOStats, open_source
from napstream.io.stats import GLOBAL_STATS


@pytest.fixture
def served(tmp_path, http_server):
    data = np.random.default_rng(5).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    (tmp_path / "x.bin").write_bytes(data)
    return http_server(tmp_path), data


def test_track_io_counts_what_the_server_saw(served, tmp_path):
    server, data = served
    server.reset_stats()
    with nap.track_io() as io:
        src = open_source(server.url_for("x.bin"), cache_dir=tmp_path / "c", block_size=4096)
        assert src.read_range(0, len(data)) == data
        src.close()
    server_stats = server.stats
    assert io.requests == server_stats.requests
    assert io.bytes_fetched == server_stats.bytes_sent == len(data)
    assert io.as_dict() == src.stats.as_dict()


def test_track_io_delta_excludes_earlier_io_and_nests(served, tmp_path):
    server, data = served
    src = open_source(server.url_for("x.bin"), cache_dir=tmp_path / "c", block_size=4096)
    src.readahead_blocks = 0  # only the blocks each read asks for
    src.read_range(0, 10_000)
    before_global = GLOBAL_STATS.copy()
    with nap.track_io() as outer:
        src.read_range(0, 10_000)  # cached: no bytes fetched
        with nap.track_io() as inner:
            src.read_range(20_000, 30_000)
    assert outer.bytes_fetched == inner.bytes_fetched > 0
    assert outer.bytes_from_cache >= 10_000 and inner.bytes_from_cache == 0
    assert (GLOBAL_STATS - before_global).as_dict() == outer.as_dict()
    src.close()


def test_track_io_sees_other_threads(served, tmp_path):
    server, data = served
    src = open_source(server.url_for("x.bin"), cache=False, block_size=4096)
    with nap.track_io() as io:
        t = threading.Thread(target=src.read_range, args=(0, len(data)))
        t.start()
        t.join()
    assert io.bytes_fetched + io.bytes_from_cache == len(data)  # the ends were fetched on open
    assert io.bytes_fetched > 0
    src.close()


def test_local_sources_count_too(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"abcdef")
    with nap.track_io() as io, open_source(tmp_path / "f.bin") as src:
        src.read_ranges([(0, 2), (3, 6)])
    assert io.requests == 2 and io.bytes_fetched == 5


def test_stats_arithmetic_and_validation():
    a = IOStats(requests=3, bytes_fetched=10, wait_seconds=0.5)
    b = IOStats(requests=1, bytes_fetched=4, wait_seconds=0.25)
    assert (a - b).as_dict()["requests"] == 2 and (a + b).bytes_fetched == 14
    assert "3 requests" in str(a)
    with pytest.raises(InvalidInputError, match="counters"):
        a.add(bogus=1)
    a.reset()
    assert a == IOStats()
