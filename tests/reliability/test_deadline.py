"""Every remote request has a deadline (issue #16, item 4): ``timeout`` alone only bounds a silence,
so a server sending a byte now and then, or 1 KB/s, must still end in a clear error naming the URL."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import napstream as nap
from napstream.errors import RemoteTimeoutError
from napstream.io.http import HTTPSource
from napstream.testing.http_server import FaultPlan, RangeHTTPServer

from rel_common import BLOCK, SECRET

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]


def _open_in_thread(url: str, cache_dir: Any, **settings: Any) -> tuple[dict[str, Any], float]:
    """Open ``url`` in a worker thread (so a hang fails the test instead of blocking it)."""
    out: dict[str, Any] = {}

    def job() -> None:
        try:
            with nap.config.override(**settings):
                with nap.NWBFile(url, cache_dir=cache_dir, block_size=BLOCK) as nwb:
                    out["keys"] = nwb.keys()
        except BaseException as err:  # noqa: BLE001 - inspected by the test
            out["error"] = err

    t0 = time.monotonic()
    worker = threading.Thread(target=job, daemon=True)
    worker.start()
    worker.join(40)
    assert not worker.is_alive(), "the open never ended"
    return out, time.monotonic() - t0


def test_trickling_server_misses_the_deadline(rel_session, tmp_path):
    # one byte every 0.3 s: never silent for `timeout`, yet 4 KiB would take 20 minutes
    with RangeHTTPServer(rel_session.parent) as server:
        server.set_faults(FaultPlan("trickle", count=None, probability=1.0, delay=0.3))
        out, seconds = _open_in_thread(server.url_for(rel_session.name, query=SECRET), tmp_path / "c",
                                       timeout=1.0, retries=2)
    err = out.get("error")
    assert isinstance(err, RemoteTimeoutError) and isinstance(err, TimeoutError), out
    deadline = 2 * 1.0 + BLOCK / HTTPSource.min_throughput
    assert seconds < 4 * deadline + 5, seconds  # not retried: slowness is not a glitch
    message = str(err)
    assert server.url_for(rel_session.name) in message and "too slow" in message, message
    assert "s3cr3t" not in message and "Signature" not in message, message


def test_one_kilobyte_per_second_ends_in_a_clear_error(rel_session, tmp_path):
    # a 4 KiB block takes 4 s at 1 KB/s: more than 2 x 1 s + 4096 / 16384 s; never silent for 1 s
    with RangeHTTPServer(rel_session.parent, bandwidth=1000) as server:
        out, seconds = _open_in_thread(server.url_for(rel_session.name), tmp_path / "c", timeout=1.0, retries=1)
    assert isinstance(out.get("error"), RemoteTimeoutError), out
    assert seconds < 15, seconds


def test_slow_but_steady_transfers_within_the_rule_succeed(rel_session, tmp_path):
    # 200 KB/s is far above the minimum throughput: the deadline never fires
    with RangeHTTPServer(rel_session.parent, bandwidth=200_000) as server:
        out, _ = _open_in_thread(server.url_for(rel_session.name), tmp_path / "c", timeout=2.0, retries=1)
    assert "error" not in out, out.get("error")
    assert "units" in out["keys"]
