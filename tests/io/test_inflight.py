"""Threads that read the same blocks at the same time fetch each block once (loopback HTTP server)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napstream.io import open_source
from napstream.testing.http_server import FaultPlan

BLOCK = 64 * 1024


@pytest.fixture
def served(tmp_path, http_server):
    data = np.random.default_rng(0).integers(0, 256, 40 * BLOCK + 123, dtype=np.uint8).tobytes()
    (tmp_path / "f.bin").write_bytes(data)
    return data, http_server(tmp_path, latency=0.05)


def _read_together(source, ranges_per_thread):
    out, errors = {}, []
    barrier = threading.Barrier(len(ranges_per_thread))

    def work(k, ranges):
        try:
            barrier.wait()
            out[k] = source.read_ranges(ranges)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k, r)) for k, r in enumerate(ranges_per_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return out


def test_overlapping_concurrent_reads_fetch_each_block_once(served):
    data, server = served
    source = open_source(server.url_for("f.bin"), cache=False, block_size=BLOCK)
    server.reset_stats()
    # four threads, each wanting blocks 8..23 plus its own neighbours: most blocks are wanted by all
    wanted = [[(8 * BLOCK - k * 1000, 24 * BLOCK + k * 1000)] for k in range(4)]
    out = _read_together(source, wanted)
    for k, ranges in enumerate(wanted):
        assert out[k] == [data[a:b] for a, b in ranges]
    distinct = {i for ranges in wanted for a, b in ranges for i in range(a // BLOCK, (b - 1) // BLOCK + 1)}
    assert server.stats.bytes_sent <= len(distinct) * BLOCK  # every block at most once
    source.close()


def test_a_failed_fetch_is_retried_by_the_thread_that_waited(served):
    data, server = served
    source = open_source(server.url_for("f.bin"), cache=False, block_size=BLOCK, retries=0)
    server.reset_stats()
    server.set_faults(FaultPlan("status", status=404, count=1, methods=("GET",)))
    wanted = [[(2 * BLOCK, 6 * BLOCK)] for _ in range(3)]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = source.read_ranges(wanted[k])
        except Exception as err:  # noqa: BLE001 - one thread sees the injected 404
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) <= 1
    for k, got in results.items():
        assert got == [data[2 * BLOCK: 6 * BLOCK]]
    source.close()
