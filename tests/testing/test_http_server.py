"""The loopback Range HTTP server: Range semantics against the file's bytes, latency, faults."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from email.parser import BytesParser

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napstream.errors import InvalidInputError, InvalidTypeError
from napstream.testing.http_server import FAULT_KINDS, FaultPlan, RangeHTTPServer, parse_range_header

SIZE = 10_000
BROKEN = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)


@pytest.fixture
def data(tmp_path):
    payload = os.urandom(SIZE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.bin").write_bytes(payload)
    (tmp_path / "empty.bin").write_bytes(b"")
    return tmp_path, payload


@pytest.fixture
def server(data, http_server):
    return http_server(data[0])


def get(url, rng=None, **kw):
    headers = {"Range": rng} if rng else {}
    return requests.get(url, headers=headers, timeout=kw.pop("timeout", 5), **kw)


# -- Range semantics -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rng, first, last",
    [("bytes=0-0", 0, 0), ("bytes=10-99", 10, 99), ("bytes=9000-", 9000, SIZE - 1),
     ("bytes=-500", SIZE - 500, SIZE - 1), ("bytes=9990-20000", 9990, SIZE - 1),
     ("bytes=-20000", 0, SIZE - 1), ("bytes=0-", 0, SIZE - 1)],
)
def test_single_ranges_match_file_bytes(server, data, rng, first, last):
    r = get(server.url_for("sub/file.bin"), rng)
    assert r.status_code == 206
    assert r.content == data[1][first:last + 1]
    assert r.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert int(r.headers["Content-Length"]) == last - first + 1
    assert r.headers["Accept-Ranges"] == "bytes"


def test_full_get_and_head(server, data):
    r = get(server.url_for("sub/file.bin"))
    assert r.status_code == 200 and r.content == data[1]
    h = requests.head(server.url_for("sub/file.bin"), timeout=5)
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["Content-Length"]) == SIZE
    assert h.headers["ETag"] == r.headers["ETag"] and "Last-Modified" in h.headers
    hr = requests.head(server.url_for("sub/file.bin"), headers={"Range": "bytes=5-9"}, timeout=5)
    assert hr.status_code == 206 and hr.headers["Content-Range"] == f"bytes 5-9/{SIZE}"


def test_multi_range_is_multipart(server, data):
    r = get(server.url_for("sub/file.bin"), "bytes=0-9, 100-199, -5")
    assert r.status_code == 206
    msg = BytesParser().parsebytes(b"Content-Type: " + r.headers["Content-Type"].encode() + b"\r\n\r\n" + r.content)
    parts = [(p["Content-Range"], p.get_payload(decode=True)) for p in msg.get_payload()]
    expected = [(0, 9), (100, 199), (SIZE - 5, SIZE - 1)]
    assert [c for c, _ in parts] == [f"bytes {a}-{b}/{SIZE}" for a, b in expected]
    assert [p for _, p in parts] == [data[1][a:b + 1] for a, b in expected]


@pytest.mark.parametrize("rng", ["bytes=10000-", "bytes=20000-20010", "bytes=-0"])
def test_unsatisfiable_range_is_416(server, rng):
    r = get(server.url_for("sub/file.bin"), rng)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("rng", ["bytes=9-3", "items=0-5", "bytes=a-b", "bytes="])
def test_invalid_range_header_serves_whole_file(server, data, rng):
    r = get(server.url_for("sub/file.bin"), rng)
    assert r.status_code == 200 and r.content == data[1]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    payload = os.urandom(5000)
    (root / "f.bin").write_bytes(payload)
    with RangeHTTPServer(root) as server, requests.Session() as session:
        yield server, session, payload


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.one_of(st.none(), st.integers(0, 6000)), last=st.one_of(st.none(), st.integers(0, 6000)))
def test_any_single_range_matches_python_slicing(shared, first, last):
    """Property: the body is the RFC 9110 slice of the file (reference: Python slicing)."""
    server, session, payload = shared
    spec = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    r = session.get(server.url_for("f.bin"), headers={"Range": spec}, timeout=5)
    n = len(payload)
    if first is None and last is None or (first is not None and last is not None and last < first):
        assert r.status_code == 200 and r.content == payload  # invalid: Range ignored
    elif first is None:  # suffix
        assert (r.status_code, r.content) == ((206, payload[-last:]) if last else (416, b""))
    elif first >= n:
        assert r.status_code == 416
    else:
        end = n if last is None else min(last + 1, n)
        assert r.status_code == 206 and r.content == payload[first:end]
        assert r.headers["Content-Range"] == f"bytes {first}-{end - 1}/{n}"


def test_empty_file(server):
    assert get(server.url_for("empty.bin")).content == b""
    assert get(server.url_for("empty.bin"), "bytes=0-").status_code == 416


def test_parse_range_header_edge_cases():
    assert parse_range_header(None, 10) is None
    assert parse_range_header("bytes=3-", 10) == [(3, 9)]
    assert parse_range_header("bytes=-3", 2) == [(0, 1)]
    assert parse_range_header("bytes=5-5, 20-30", 10) == [(5, 5)]


def test_etag_and_last_modified_change_with_the_file(server, data):
    url = server.url_for("sub/file.bin")
    first = requests.head(url, timeout=5).headers
    assert requests.head(url, timeout=5).headers["ETag"] == first["ETag"]
    path = data[0] / "sub" / "file.bin"
    path.write_bytes(data[1] + b"more")
    old = time.time() - 3600
    os.utime(path, (old, old))
    second = requests.head(url, timeout=5).headers
    assert second["ETag"] != first["ETag"]
    assert second["Last-Modified"] != first["Last-Modified"]
    assert int(second["Content-Length"]) == SIZE + 4


def test_if_match_and_if_range(server, data):
    url = server.url_for("sub/file.bin")
    etag = get(url, "bytes=0-0").headers["ETag"]
    ok = requests.get(url, headers={"Range": "bytes=0-9", "If-Match": etag}, timeout=5)
    assert ok.status_code == 206 and ok.content == data[1][:10]
    assert requests.get(url, headers={"Range": "bytes=0-9", "If-Match": '"other"'}, timeout=5).status_code == 412
    same = requests.get(url, headers={"Range": "bytes=5-9", "If-Range": etag}, timeout=5)
    assert same.status_code == 206 and same.content == data[1][5:10]
    changed = requests.get(url, headers={"Range": "bytes=5-9", "If-Range": '"other"'}, timeout=5)
    assert changed.status_code == 200 and changed.content == data[1]


def test_query_string_ignored_and_redirect(server, data):
    url = server.url_for("sub/file.bin", query="X-Amz-Signature=abc&X-Amz-Expires=3600")
    assert get(url, "bytes=0-9").content == data[1][:10]
    r = get(f"{server.url}/redirect/sub/file.bin?sig=1", "bytes=5-9")
    assert [h.status_code for h in r.history] == [302]
    assert r.history[0].headers["Location"] == "/sub/file.bin?sig=1"
    assert r.status_code == 206 and r.content == data[1][5:10]


def test_missing_file_and_escape_are_404(server, data):
    assert get(server.url_for("nope.bin")).status_code == 404
    assert get(server.url + "/../" + data[0].name + "/sub/file.bin").status_code == 404
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /sub/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 404")


def test_mapping_root(http_server, data):
    server = http_server({"blobs/abc": data[0] / "sub" / "file.bin"})
    assert get(server.url_for("blobs/abc"), "bytes=1-2").content == data[1][1:3]
    assert get(server.url_for("sub/file.bin")).status_code == 404


# -- stats, keep-alive ---------------------------------------------------------------------------
def test_stats_and_keep_alive(server, data):
    with requests.Session() as s:
        for rng in ("bytes=0-99", "bytes=100-199", None):
            s.get(server.url_for("sub/file.bin"), headers={"Range": rng} if rng else {}, timeout=5)
        s.head(server.url_for("sub/file.bin"), timeout=5)
    st = server.stats
    assert st.requests == 4 and st.by_method == {"GET": 3, "HEAD": 1}
    assert st.bytes_sent == 200 + SIZE
    assert st.connections == 1  # keep-alive reused the connection
    assert st.records[0] == ("GET", "/sub/file.bin", "bytes=0-99")
    assert st.ranges == ["bytes=0-99", "bytes=100-199"]
    assert st.by_status == {206: 2, 200: 2}
    server.reset_stats()
    assert server.stats.requests == 0 and server.stats.records == []


def test_stats_are_thread_safe(server):
    def work():
        with requests.Session() as s:
            for _ in range(10):
                s.get(server.url_for("sub/file.bin"), headers={"Range": "bytes=0-9"}, timeout=5)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.stats.requests == 60 and server.stats.bytes_sent == 600


def test_latency_and_bandwidth_are_applied(http_server, data):
    slow = http_server(data[0], latency=0.1)
    t0 = time.monotonic()
    for _ in range(3):
        get(slow.url_for("sub/file.bin"), "bytes=0-0")
    assert time.monotonic() - t0 >= 0.3
    capped = http_server(data[0], bandwidth=20_000)
    t0 = time.monotonic()
    assert get(capped.url_for("sub/file.bin")).content == data[1]
    assert time.monotonic() - t0 >= 0.45  # 10 kB at 20 kB/s


# -- faults --------------------------------------------------------------------------------------
def test_drop_and_truncate_break_the_body(server):
    url = server.url_for("sub/file.bin")
    for kind in ("drop", "truncate"):
        server.set_faults(kind)
        with pytest.raises(BROKEN):
            get(url)
        assert get(url).status_code == 200  # count=1: the next request is fine
    assert server.stats.faults == {"drop": 1, "truncate": 1}
    assert server.stats.bytes_sent == 2 * (SIZE // 2) + 2 * SIZE


def test_truncate_keeps_the_full_content_length(server):
    server.set_faults(FaultPlan("truncate", fraction=0.25))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /sub/file.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-999\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"Content-Length: 1000" in head and len(body) == 250


def test_error_bursts(server, data):
    url = server.url_for("sub/file.bin")
    server.set_faults("503", count=2)
    assert [get(url).status_code for _ in range(3)] == [503, 503, 200]
    server.set_faults(FaultPlan("429", retry_after=7))
    r = get(url)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    server.set_faults(FaultPlan("status", status=403, path="file.bin"))
    assert get(url).status_code == 403
    assert server.faults[0].fired == 1 and server.faults[0].exhausted


def test_slow_and_stall(server, data):
    url = server.url_for("sub/file.bin")
    server.set_faults(FaultPlan("slow", delay=0.3))
    t0 = time.monotonic()
    assert get(url).content == data[1]
    assert time.monotonic() - t0 >= 0.3
    server.set_faults(FaultPlan("stall", delay=10))
    t0 = time.monotonic()
    with pytest.raises(BROKEN):
        get(url, timeout=0.3)
    assert time.monotonic() - t0 < 5


def test_bad_content_range_and_ignore_range(server, data):
    url = server.url_for("sub/file.bin")
    server.set_faults("bad_content_range")
    r = get(url, "bytes=100-199")
    assert r.status_code == 206 and r.headers["Content-Range"] != f"bytes 100-199/{SIZE}"
    server.set_faults("ignore_range")
    assert get(url).status_code == 200  # no Range header: the fault does not match
    r = get(url, "bytes=100-199")
    assert r.status_code == 200 and r.content == data[1]
    assert get(url, "bytes=100-199").status_code == 206


def test_change_etag(server):
    url = server.url_for("sub/file.bin")
    stable = get(url, "bytes=0-0").headers["ETag"]
    server.set_faults("change_etag", count=2)
    tags = [get(url, "bytes=0-0").headers["ETag"] for _ in range(3)]
    assert tags[0] != stable and tags[1] != stable and tags[0] != tags[1]
    assert tags[2] == stable


def test_gone_refuses_connections(server):
    url = server.url_for("sub/file.bin")
    assert get(url).status_code == 200
    server.set_faults("gone")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(url)
    time.sleep(0.2)
    with pytest.raises(requests.exceptions.ConnectionError):
        get(url)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 1.0


def test_probability_is_seeded_and_skip_and_path_filter(server):
    url = server.url_for("sub/file.bin")
    server.set_faults(FaultPlan("503", probability=0.5, seed=3, count=None))
    codes = [get(url).status_code for _ in range(20)]
    rng = random.Random(3)
    assert codes == [503 if rng.random() < 0.5 else 200 for _ in range(20)]
    server.set_faults(FaultPlan("503", skip=2, count=1, path="file.bin"))
    assert [get(url).status_code for _ in range(4)] == [200, 200, 503, 200]
    server.set_faults(FaultPlan("503", path="other"))
    assert get(url).status_code == 200


def test_every_fault_kind_is_exercised():
    tested = {"drop", "truncate", "stall", "slow", "503", "429", "status", "bad_content_range",
              "ignore_range", "change_etag", "gone", "trickle"}
    assert set(FAULT_KINDS) == tested


def test_trickle_sends_one_byte_per_delay(data, http_server):
    server = http_server(data[0])
    server.set_faults(FaultPlan("trickle", delay=0.1))
    t0 = time.monotonic()
    resp = get(server.url_for("sub/file.bin"), "bytes=0-9")
    assert resp.status_code == 206 and resp.content == data[1][:10]
    assert time.monotonic() - t0 >= 0.9  # ten bytes, one every 0.1 s


@pytest.mark.parametrize("mode", ["none", "constant"])
def test_validators_none_or_constant(data, http_server, mode):
    server = http_server(data[0])
    server.validators = mode
    first = get(server.url_for("sub/file.bin"), "bytes=0-9")
    path = data[0] / "sub" / "file.bin"
    path.write_bytes(bytes(reversed(path.read_bytes())))
    os.utime(path, (time.time() + 5, time.time() + 5))
    second = get(server.url_for("sub/file.bin"), "bytes=0-9")
    for key in ("ETag", "Last-Modified"):
        if mode == "none":
            assert key not in first.headers and key not in second.headers
        else:
            assert first.headers[key] == second.headers[key]
    assert second.content != first.content
    with pytest.raises(InvalidInputError):
        RangeHTTPServer(data[0], validators="weak")


def test_stop_is_fast_with_open_connections_and_stalls(http_server, data):
    server = http_server(data[0])
    server.set_faults(FaultPlan("stall", delay=25, count=None))
    session = requests.Session()
    session.head(server.url_for("sub/file.bin"), timeout=5)  # an idle keep-alive connection
    errors = []

    def stalled():
        try:
            get(server.url_for("sub/file.bin"), timeout=20)
        except Exception as err:  # noqa: BLE001 - any failure is what we expect
            errors.append(err)

    t = threading.Thread(target=stalled)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 1.0
    t.join(timeout=5)
    assert not t.is_alive() and errors
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url_for("sub/file.bin"), timeout=2)
    session.close()


def test_restart_on_same_port(data):
    server = RangeHTTPServer(data[0]).start()
    port = server.port
    server.stop()
    with server.start():
        assert server.port == port
        assert get(server.url_for("sub/file.bin"), "bytes=0-1").content == data[1][:2]


def test_input_validation(data):
    with pytest.raises(InvalidInputError, match="host"):
        RangeHTTPServer(data[0], host="0.0.0.0")
    with pytest.raises(InvalidInputError, match="root"):
        RangeHTTPServer(data[0] / "missing")
    with pytest.raises(InvalidTypeError, match="root"):
        RangeHTTPServer(42)
    with pytest.raises(InvalidInputError, match="latency"):
        RangeHTTPServer(data[0], latency=-1)
    with pytest.raises(InvalidInputError, match="bandwidth"):
        RangeHTTPServer(data[0], bandwidth=0)
    with pytest.raises(InvalidInputError, match="kind"):
        FaultPlan("explode")
    with pytest.raises(InvalidInputError, match="probability"):
        FaultPlan("503", probability=2)
    with pytest.raises(InvalidTypeError, match="FaultPlan"):
        RangeHTTPServer(data[0]).set_faults(3)


def test_records_are_bounded(http_server, data):
    server = http_server(data[0], max_records=3)
    for i in range(5):
        get(server.url_for("sub/file.bin"), f"bytes={i}-{i}")
    st = server.stats
    assert st.requests == 5 and st.bytes_sent == 5
    assert st.ranges == [f"bytes={i}-{i}" for i in (2, 3, 4)]
