"""The loopback server's shared link cap: concurrent responses split one link."""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from napstream.errors import InvalidInputError
from napstream.testing.http_server import LinkCap, RangeHTTPServer

SIZE = 100_000


@pytest.fixture
def root(tmp_path):
    payload = os.urandom(SIZE)
    (tmp_path / "a.bin").write_bytes(payload)
    (tmp_path / "b.bin").write_bytes(payload[::-1])
    return tmp_path, payload


def _fetch_all(urls):
    out, errors = {}, []

    def one(url):
        try:
            out[url] = requests.get(url, timeout=30).content
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(u,)) for u in urls]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    return out, time.monotonic() - t0


def test_two_concurrent_responses_share_the_link(http_server, root):
    # each response alone may go at 1 MB/s; the link carries 400 kB/s for both together
    server = http_server(root[0], bandwidth=1_000_000, link=400_000)
    urls = [server.url_for("a.bin"), server.url_for("b.bin")]
    out, elapsed = _fetch_all(urls)
    assert out[urls[0]] == root[1] and out[urls[1]] == root[1][::-1]
    # 200 kB at 400 kB/s (minus one burst of 64 KiB): per-response caps alone would take 0.1 s
    assert elapsed >= (2 * SIZE - 65536) / 400_000 * 0.95
    assert server.stats.bytes_sent == 2 * SIZE


def test_link_cap_applies_across_connections_with_no_per_response_cap(http_server, root):
    linked = http_server(root[0], link=200_000)
    out, shared = _fetch_all([linked.url_for("a.bin"), linked.url_for("b.bin")])
    assert len(out) == 2
    # both bodies through one 200 kB/s link (a lower bound: a loaded machine only makes it slower)
    assert shared >= (2 * SIZE - 65536) / 200_000 * 0.95


def test_link_cap_reserves_in_arrival_order():
    link = LinkCap(1000.0, burst=0)
    assert link.reserve(100) == pytest.approx(0.1, abs=0.02)
    assert link.reserve(100) == pytest.approx(0.2, abs=0.02)


def test_bad_link_is_rejected(root):
    with pytest.raises(InvalidInputError, match="link"):
        RangeHTTPServer(root[0], link=0)
    with pytest.raises(InvalidInputError, match="link"):
        RangeHTTPServer(root[0], link="fast")
