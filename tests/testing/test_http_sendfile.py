"""The loopback server's copy-free body path (sendfile) and the server in a process of its own."""

from __future__ import annotations

import os
import time

import pytest
import requests

from napstream.errors import InvalidInputError
from napstream.testing.http_server import FaultPlan
from napstream.testing.pacing import Pace, slice_bytes
from napstream.testing.server_process import ServerProcess

SIZE = 3 * 2**20 + 12345  # several 4 MiB-or-smaller slices, not a multiple of any


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sendfile")
    payload = os.urandom(SIZE)
    (folder / "f.bin").write_bytes(payload)
    return folder, payload


@pytest.mark.parametrize("rng", [None, "bytes=0-0", "bytes=100-2999999", "bytes=-70000", "bytes=3000000-",
                                 "bytes=0-9,5000-5009,-3"])
def test_sendfile_and_copying_paths_send_the_same_bytes(http_server, root, rng):
    folder, payload = root
    headers = {"Range": rng} if rng else {}
    answers = []
    for sendfile in (True, False):
        server = http_server(folder, sendfile=sendfile)
        resp = requests.get(server.url_for("f.bin"), headers=headers, timeout=10)
        answers.append((resp.status_code, resp.headers.get("Content-Range"), resp.content))
        assert server.stats.bytes_sent == len(resp.content)
    assert answers[0] == answers[1]
    if rng is None:
        assert answers[0][2] == payload
    elif "," not in rng:
        first, _, last = rng[len("bytes="):].partition("-")
        expected = payload[-int(last):] if not first else payload[int(first): int(last) + 1 if last else None]
        assert answers[0][2] == expected


def test_sendfile_path_keeps_the_per_response_cap(http_server, root):
    folder, payload = root
    server = http_server(folder, bandwidth=2_000_000)  # 40 kB slices; 1 MB at 2 MB/s >= 0.5 s
    t0 = time.monotonic()
    body = requests.get(server.url_for("f.bin"), headers={"Range": "bytes=0-999999"}, timeout=10).content
    assert body == payload[:1_000_000]
    assert time.monotonic() - t0 >= 0.5 * 0.95  # the last byte leaves when the cap allows it, not before


def test_faults_that_cut_the_body_still_cut_it(http_server, root):
    folder, payload = root
    server = http_server(folder, faults=[FaultPlan("truncate", fraction=0.25)])
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(server.url_for("f.bin"), timeout=10).content  # noqa: B018 - a short body fails the read
    assert server.stats.bytes_sent == int(SIZE * 0.25)
    # a fault that leaves the body alone takes the copy-free path and sends it whole
    server.set_faults(FaultPlan("change_etag"))
    assert requests.get(server.url_for("f.bin"), timeout=10).content == payload


def test_pace_never_lets_a_slice_out_early():
    waits: list[float] = []
    pace = Pace(rate=1000.0, link=None, wait=lambda s: waits.append(s) or False)
    assert pace.before(500) is False  # the first 500 bytes may leave after 0.5 s, not at once
    assert waits[-1] == pytest.approx(0.5, abs=0.05)
    pace.after(500)
    stopped = Pace(rate=1000.0, link=None, wait=lambda s: True)
    assert stopped.before(10) is True  # the server stopping ends the body
    assert slice_bytes(None) == 4 * 2**20 and slice_bytes(1.0) == 512  # a slow body is never silent long


def test_server_process_serves_counts_and_ends(root):
    folder, payload = root
    with ServerProcess(folder, latency=0.01, bandwidth=50_000_000) as server:
        proc = server._proc
        url = server.url_for("f.bin")
        assert requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10).content == payload[10:20]
        stats = server.stats
        assert (stats.requests, stats.bytes_sent, stats.by_status) == (1, 10, {206: 1})
        server.reset_stats()
        assert server.stats.requests == 0
        assert server.cpu_seconds() > 0
    assert proc.poll() is not None  # the child is gone
    with pytest.raises(InvalidInputError, match="not running"):
        server.reset_stats()
    with pytest.raises(InvalidInputError, match="existing folder"):
        ServerProcess(folder / "f.bin")
