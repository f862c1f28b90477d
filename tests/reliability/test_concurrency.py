"""Several readers of one remote file through ONE cache folder at the same time: 4 threads and
3 ``spawn`` processes get the fault-free local results and leave a cache that verifies; a process
killed with SIGKILL while it streams blocks into the cache leaves nothing a later read trusts."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import napstream as nap
from napstream.testing.http_server import RangeHTTPServer

from rel_common import BLOCK, SECRET, assert_same, verify_cache
from rel_workers import read_everything, stream_until_killed

pytestmark = [pytest.mark.network]

OPS = ("spikes", "position", "lfp_window", "psd")


def _check(result: dict, reference: dict) -> None:
    for name in OPS:
        assert_same(result[name], reference[name], name)


@pytest.mark.timeout(120)
def test_threads_share_one_cache(server, rel_session, reference, tmp_path):
    cache = tmp_path / "cache"
    url = server.url_for(rel_session.name, query=SECRET)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: read_everything(url, str(cache), BLOCK), range(4)))
    for result in results:
        _check(result, reference)
    assert verify_cache(cache, rel_session) > 0
    # a warm reader of the shared cache gets the same numbers without a single GET
    server.reset_stats()
    _check(read_everything(url, str(cache), BLOCK), reference)
    from napstream.io.http import HTTPSource

    # only the content check of the reopen: a few random cached bytes compared with the server's
    assert server.stats.by_method.get("GET", 0) == HTTPSource.reopen_samples


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_spawned_processes_share_one_cache(server, rel_session, reference, tmp_path):
    cache = tmp_path / "cache"
    url = server.url_for(rel_session.name, query=SECRET)
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(read_everything, [(url, str(cache), BLOCK)] * 3)
    for result in results:
        _check(result, reference)
    assert verify_cache(cache, rel_session) > 0
    assert nap.cache_info(cache)["files"] == 1


def _blocks_on_disk(cache: Path) -> int:
    """Blocks in the run files of ``cache`` (named ``<block_size>-<first>-<count>-<bytes>``)."""
    root = cache / "v3"
    runs = [p for p in root.glob("*/*/*") if p.name != "meta.json" and not p.name.startswith(".tmp-")] if root.exists() else []
    return sum(int(p.name.split("-")[2]) for p in runs if p.parent.parent.name != "seen")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_while_writing_leaves_nothing_trusted(rel_session, reference, tmp_path):
    cache = tmp_path / "cache"
    # a slow server: the child is still streaming blocks into the cache when it is killed
    with RangeHTTPServer(rel_session.parent, bandwidth=150_000) as slow:
        ctx = mp.get_context("spawn")
        child = ctx.Process(target=stream_until_killed, args=(slow.url_for(rel_session.name), str(cache), BLOCK))
        child.start()
        try:
            deadline = time.monotonic() + 60
            while _blocks_on_disk(cache) < 30 and time.monotonic() < deadline and child.is_alive():
                time.sleep(0.02)
            assert child.is_alive(), "the child finished before it could be killed; slow the server down"
            assert _blocks_on_disk(cache) >= 30, "the child wrote too few blocks before the deadline"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.join(10)
        assert child.exitcode == -signal.SIGKILL
    # whatever the killed child left (temporary files included) is never trusted as a wrong block
    verify_cache(cache, rel_session, allow_tmp=True)
    with RangeHTTPServer(rel_session.parent) as fast:
        url = fast.url_for(rel_session.name)
        _check(read_everything(url, str(cache), BLOCK), reference)
        with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
            full = nwb["ElectricalSeriesLFP"].values
    with nap.NWBFile(rel_session) as local:
        assert_same(full, local["ElectricalSeriesLFP"].values, "lfp")
    assert verify_cache(cache, rel_session, allow_tmp=True) > 0
