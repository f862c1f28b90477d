"""The lean receive path of HTTPSource (io/lean.py, io/http_lean.py): single-range GETs on a
keep-alive connection per thread. Every check of the aiohttp path must hold on it, through the real
loopback server with faults injected; the reference is always the file's bytes on disk."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from napstream.errors import RemoteAccessError, RemoteChangedError, RemoteTimeoutError, RetryExhaustedError
from napstream.io.http import HTTPSource
from napstream.io.ranges import ByteRange
from napstream.testing.http_server import FaultPlan, Response

BLOCK = 64 * 1024
SIZE = 3 * 2**20 + 123


@pytest.fixture
def served(http_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(11).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    return http_server(root), data


def _source(server, **kw) -> HTTPSource:
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.01)
    return HTTPSource(server.url_for("f.bin"), cache=None, block_size=BLOCK, **kw)


def _fetch(src: HTTPSource, a: int, b: int) -> bytes:
    (body,) = src._fetch_ranges([ByteRange(a, b)])
    return body


def test_bulk_reads_reuse_one_keep_alive_connection_and_close_it(served):
    server, data = served
    src = _source(server)
    opened = server.stats.connections
    for a in range(0, SIZE, 700_000):
        b = min(a + 700_000, SIZE)
        body = _fetch(src, a, b)
        assert type(body) is bytes and body == data[a:b]
    assert src.lean_receive and not src._lean_off and len(src._lean) == 1
    assert server.stats.connections == opened + 1  # one lean connection, kept alive for every request
    conn = src._lean[0]
    assert conn.sock is not None
    src.close()
    assert conn.sock is None and src._lean == []
    deadline = time.monotonic() + 5
    while server._conns and time.monotonic() < deadline:  # the server sees every connection end
        time.sleep(0.02)
    assert not server._conns


def test_each_thread_has_its_own_connection_and_all_close(served):
    server, data = served
    src = _source(server)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for a in range(k * 300_000, SIZE, 1_200_000):
                b = min(a + 300_000, SIZE)
                assert _fetch(src, a, b) == data[a:b]
        except BaseException as err:  # noqa: BLE001 - checked below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(src._lean) == 4
    conns = list(src._lean)
    src.close()
    assert all(c.sock is None for c in conns)


@pytest.mark.parametrize("kind", ["drop", "truncate", "stall"])
def test_body_cut_mid_way_is_retried_and_served_whole(served, kind):
    server, data = served
    src = _source(server, timeout=1.0)
    try:
        _fetch(src, 0, BLOCK)  # the lean connection is open and kept alive
        server.set_faults(FaultPlan(kind, count=1, fraction=0.4, delay=3.0))
        a, b = 5 * BLOCK, 5 * BLOCK + 1_500_000
        assert _fetch(src, a, b) == data[a:b]
        assert src.stats.retries == 1
        assert server.stats.faults.get(kind) == 1
        assert _fetch(src, b, b + BLOCK) == data[b: b + BLOCK]  # and the path goes on
    finally:
        src.close()


@pytest.mark.parametrize("kind", ["503", "429", "bad_content_range"])
def test_transient_answers_are_retried(served, kind):
    server, data = served
    with _source(server) as src:
        server.set_faults(FaultPlan(kind, count=2, retry_after=0.05))
        assert _fetch(src, 100, 900_000) == data[100:900_000]
        assert src.stats.retries == 2


def test_range_ignored_is_sliced_and_the_connection_not_reused(served):
    server, data = served
    with _source(server) as src:
        server.set_faults(FaultPlan("ignore_range", count=1))
        a, b = 1_000_000, 1_400_000
        assert _fetch(src, a, b) == data[a:b]
        assert src._lean[0].sock is None  # the rest of the file was not read: connection closed
        assert _fetch(src, b, b + 10) == data[b: b + 10]


def test_changed_etag_raises(served):
    server, _ = served
    with _source(server) as src:
        server.set_faults(FaultPlan("change_etag", count=1))
        with pytest.raises(RemoteChangedError, match="changed"):
            _fetch(src, 0, 500_000)


def test_retries_exhausted_names_the_range(served):
    server, _ = served
    with _source(server, retries=1) as src:
        server.set_faults(FaultPlan("503", count=None, probability=1.0))
        with pytest.raises(RetryExhaustedError, match=r"bytes \[0, 500000\)"):
            _fetch(src, 0, 500_000)


def test_trickle_misses_the_deadline(served):
    server, _ = served
    src = _source(server, timeout=0.5, min_throughput=10**6, retries=2)
    try:
        server.set_faults(FaultPlan("trickle", count=None, probability=1.0, delay=0.1))
        t0 = time.monotonic()
        with pytest.raises(RemoteTimeoutError, match="too slow"):
            _fetch(src, 0, 200_000)
        assert time.monotonic() - t0 < 2 * 0.5 + 0.2 + 2.0  # the deadline, not retried
    finally:
        server.clear_faults()
        src.close()


def test_expired_url_asks_the_resolver_once(served):
    server, data = served
    good = server.url_for("f.bin", query="sig=fresh")
    calls: list[int] = []

    def resolver() -> str:
        calls.append(1)
        return good

    with HTTPSource(server.url_for("f.bin", query="sig=old"), cache=None, block_size=BLOCK, resolver=resolver) as src:
        server.set_faults(FaultPlan("status", status=403, count=1))
        assert _fetch(src, 0, 600_000) == data[:600_000]
        assert calls == [1]
        assert server.stats.records[-1].path.endswith("f.bin")


def test_server_closing_an_idle_connection_costs_no_retry(served):
    server, data = served
    with _source(server) as src:
        assert _fetch(src, 0, 300_000) == data[:300_000]
        server._close_connections()  # e.g. an object store's idle timeout
        time.sleep(0.1)
        assert _fetch(src, 300_000, 900_000) == data[300_000:900_000]
        assert src.stats.retries == 0


def test_redirect_falls_back_on_aiohttp(http_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(3).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)

    def moved(method, path, query, headers):
        if path == "/old.bin":
            return Response(307, b"", {"Location": "/f.bin"}, "text/plain")
        return None

    server = http_server(root, app=moved)
    with HTTPSource(server.url_for("old.bin"), cache=None, block_size=BLOCK) as src:
        assert _fetch(src, 1000, 800_000) == data[1000:800_000]
        assert src._lean_off  # the lean client does not follow redirects: aiohttp from now on
        assert _fetch(src, 0, 10) == data[:10]


def test_read_ahead_on_the_lean_path_matches_the_file(served):
    server, data = served
    with _source(server) as src:
        end = 40 * BLOCK  # away from the last blocks the open's suffix request brought
        handle = src.read_ahead([(0, end)], 16 * BLOCK, 4)
        got = b"".join(src.read_range(a, a + BLOCK) for a in range(0, end, BLOCK))
        conns = list(src._lean)
        assert conns and not src._lean_off  # the fetcher threads' requests went the lean way
        handle.cancel()
        assert got == data[:end]
        assert all(c.sock is None for c in conns if c not in src._lean)  # ended fetchers closed theirs
    assert server.stats.bytes_sent_twice(SIZE) == 0


# ------------------------------------------------------------------------------------------ TLS
def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


TLS_SCRIPT = textwrap.dedent(
    """
    import ssl, sys
    from pathlib import Path
    from napstream.io.http import HTTPSource
    from napstream.io.ranges import ByteRange
    from napstream.testing.http_server import RangeHTTPServer

    root, key, cert = (Path(p) for p in sys.argv[1:4])
    server = RangeHTTPServer(root, sendfile=False).start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    url = server.url_for("f.bin").replace("http://", "https://")
    data = (root / "f.bin").read_bytes()
    with HTTPSource(url, cache=None, block_size=65536, retries=1) as src:
        ok = all(src._fetch_ranges([ByteRange(a, a + 700_000)])[0] == data[a: a + 700_000]
                 for a in (0, 700_000, 1_400_000))
        print("lean", ok, len(src._lean), src._lean_off, src._lean[0].sock.version() is not None)
        # a certificate the lean client does not trust (another CA): refused at once, never retried
        from napstream.io import lean
        lean._TLS[:] = [ssl.create_default_context(cafile=sys.argv[4])]
        src._drop_lean(src._lean[0])
        try:
            src._fetch_ranges([ByteRange(0, 10)])
        except Exception as err:
            print(type(err).__name__, "TLS verification failed" in str(err), src.stats.retries)
    server.stop()
    """
)


def test_tls_bulk_reads_verify_the_certificate(served, tmp_path):
    from napstream.io import lean

    server, data = served
    key, cert = _certificate(tmp_path)
    root = Path(server.resolve("f.bin")).parent
    script = tmp_path / "tls.py"
    script.write_text(TLS_SCRIPT)
    env = {**os.environ, "SSL_CERT_FILE": str(cert)}  # the test's certificate is the one trusted
    other = tmp_path / "other"
    other.mkdir()
    _, other_cert = _certificate(other)
    out = subprocess.run([sys.executable, str(script), str(root), str(key), str(cert), str(other_cert)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["lean", "True", "1", "False", "True", "RemoteAccessError", "True", "0"], out.stdout

    # the same server, its certificate not trusted: the lean client refuses it
    import ssl

    from napstream.testing.http_server import RangeHTTPServer

    tls_server = RangeHTTPServer(root, sendfile=False).start()
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        tls_server._server.socket = context.wrap_socket(tls_server._server.socket, server_side=True)
        conn = lean.Connection("https", "127.0.0.1", tls_server.port, timeout=5.0)
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.send("/f.bin", {"Range": "bytes=0-9"}, time.monotonic() + 10)
        assert conn.sock is None
    finally:
        tls_server.stop()
    assert tls_server.stats.requests == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_a_forked_child_leaves_the_parents_connection_alone(served):
    server, data = served
    with _source(server) as src:
        assert _fetch(src, 0, 200_000) == data[:200_000]
        parent_sock = src._lean[0].sock
        pid = os.fork()
        if pid == 0:  # the child: its own connection, the parent's untouched
            ok = _fetch(src, 200_000, 400_000) == data[200_000:400_000]
            src._lean[0].close() if src._lean else None
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        assert src._lean[0].sock is parent_sock
        assert _fetch(src, 400_000, 900_000) == data[400_000:900_000]  # still alive and in step
        assert src._lean[0].sock is parent_sock and src.stats.retries == 0


def _read_ahead_all(src: HTTPSource, end: int) -> bytes:
    handle = src.read_ahead([(0, end)], 16 * BLOCK, 4)
    try:
        return b"".join(src.read_range(a, a + BLOCK) for a in range(0, end, BLOCK))
    finally:
        handle.cancel()


def test_read_ahead_blocks_received_apart_survive_a_body_cut(served):
    server, data = served
    end = 40 * BLOCK
    with _source(server, timeout=1.0) as src:
        server.set_faults(FaultPlan("drop", count=2, fraction=0.6, skip=1))
        assert _read_ahead_all(src, end) == data[:end]
        assert server.stats.faults.get("drop") == 2 and src.stats.retries >= 2


def test_read_ahead_skips_bytes_the_small_grid_holds(served):
    server, data = served
    end = 40 * BLOCK
    with _source(server) as src:
        assert src.small_grid is not None
        src.prefetch_small([(3 * BLOCK + 100, 3 * BLOCK + 200), (20 * BLOCK, 20 * BLOCK + 40_000)])
        assert _read_ahead_all(src, end) == data[:end]
    assert server.stats.bytes_sent_twice(SIZE) == 0  # the held small blocks were not fetched again


def test_read_ahead_without_validators_keeps_comparing_content(http_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(12).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    server = http_server(root, validators="none")
    end = 40 * BLOCK
    with _source(server) as src:
        assert src._check_content
        assert _read_ahead_all(src, end) == data[:end]
        spans = [re.fullmatch(r"bytes=(\d+)-(\d+)", r.range or "") for r in server.stats.records]
        sampled = [m for m in spans if m and int(m.group(2)) - int(m.group(1)) < 64]
        assert sampled, "the content probes went out with the read-ahead's requests"


def test_the_timeout_mode_loop_serves_plain_http_too(served, monkeypatch):
    # the path of TLS connections and of platforms without blocking SO_RCVTIMEO receives
    from napstream.io import lean

    server, data = served
    monkeypatch.setattr(lean, "_RAW_OK", False)
    with _source(server, timeout=1.0) as src:
        assert _fetch(src, 0, 700_000) == data[:700_000]
        assert not src._lean[0]._raw
        server.set_faults(FaultPlan("drop", count=1, fraction=0.5))
        assert _fetch(src, 700_000, 1_900_000) == data[700_000:1_900_000]
        assert src.stats.retries == 1
        assert _read_ahead_all(src, 30 * BLOCK) == data[: 30 * BLOCK]


def test_the_lean_tls_context_verifies_certificates_and_host_names():
    import ssl

    from napstream.io import lean

    context = lean.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert lean.tls_context() is context  # made once per process


def test_read_ahead_over_the_last_blocks_does_not_fetch_the_open_suffix_again(served):
    """The open's suffix request brought the file's end, part of a block: a read-ahead run that
    covers that block asks only for the bytes before it (as a reader's own fetch does)."""
    server, data = served
    with _source(server) as src:
        assert src._fragment is not None  # the premise: the open left a partial block behind
        start = SIZE - 12 * BLOCK
        handle = src.read_ahead([(start, SIZE)], 16 * BLOCK, 4)
        got = b"".join(src.read_range(a, min(a + BLOCK, SIZE)) for a in range(start, SIZE, BLOCK))
        handle.cancel()
        assert got == data[start:]
    assert server.stats.bytes_sent_twice(SIZE) == 0


def test_read_ahead_runs_around_held_bytes_stay_on_the_lean_path(served, monkeypatch):
    """A run holding bytes the small grid has (a chunk index node amid the data) is fetched in parts,
    all on the lean path (no aiohttp session in the fetcher threads), each part on a connection of
    its own, and blocks joined from received and held pieces are exact: a span crossing a block's
    edge included."""
    server, data = served
    sessions: list[str] = []
    original = HTTPSource._ensure_session

    async def spy(self):  # counts, then the real session
        sessions.append(threading.current_thread().name)
        return await original(self)

    end = 40 * BLOCK
    with _source(server) as src:
        src.prefetch_small([(3 * BLOCK + 100, 3 * BLOCK + 200), (10 * BLOCK - 20_000, 10 * BLOCK + 20_000),
                            (20 * BLOCK, 20 * BLOCK + 40_000)])
        monkeypatch.setattr(HTTPSource, "_ensure_session", spy)
        before = server.stats.requests
        handle = src.read_ahead([(0, end)], end, 1)  # one fetcher: one run after the other
        assert handle.wait(timeout=30)
        assert src.memory.pinned_bytes == end - BLOCK  # all but the first block (the open brought it)
        got = b"".join(src.read_range(a, a + BLOCK) for a in range(0, end, BLOCK))
        assert server.stats.requests - before == src._ahead.sent + 3  # each held span splits a run once
        handle.cancel()
        assert got == data[:end]
    assert not sessions, sessions
    assert server.stats.bytes_sent_twice(SIZE) == 0


@pytest.mark.parametrize("kind", ["drop", "503"])
def test_parts_of_a_run_are_retried_on_their_own(served, kind):
    """A part of a split run whose answer fails is fetched again alone; the other parts are not."""
    server, data = served
    with _source(server, timeout=1.0) as src:
        src.prefetch_small([(3 * BLOCK + 100, 3 * BLOCK + 20_000)])
        a, b = 2 * BLOCK, 6 * BLOCK
        server.set_faults(FaultPlan(kind, count=1, fraction=0.5, skip=1))  # the run's second part fails once
        (blocks,) = [src._fetch_run_blocks(ByteRange(a, b))]
        assert b"".join(blocks) == data[a:b] and all(len(x) == BLOCK for x in blocks)
        assert src.stats.retries == 1 and server.stats.faults.get(kind) == 1
        src._fetch_run_blocks(ByteRange(8 * BLOCK, 10 * BLOCK))  # the connections go on
    assert server.stats.bytes_sent_twice(SIZE) <= 3 * BLOCK  # only the failed part was sent again


def test_parts_of_a_run_after_an_expired_url_ask_the_resolver_once(served):
    server, data = served
    calls: list[int] = []

    def resolver() -> str:
        calls.append(1)
        return server.url_for("f.bin", query="sig=fresh")

    with HTTPSource(server.url_for("f.bin", query="sig=old"), cache=None, block_size=BLOCK, resolver=resolver) as src:
        src.prefetch_small([(3 * BLOCK + 100, 3 * BLOCK + 20_000), (5 * BLOCK, 5 * BLOCK + 20_000)])
        server.set_faults(FaultPlan("status", status=403, count=3))  # every part of the run refused once
        blocks = src._fetch_run_blocks(ByteRange(2 * BLOCK, 8 * BLOCK))
        assert b"".join(blocks) == data[2 * BLOCK: 8 * BLOCK]
        assert calls == [1]


def test_a_fresh_url_on_another_host_replaces_the_threads_connection_once(served):
    """The resolver's fresh URL names another host: the thread's connection to the old one is
    replaced by one connection to the new one, kept alive for every later request (not one more
    connection per request)."""
    server, data = served
    fresh = server.url_for("f.bin", query="sig=fresh").replace("127.0.0.1", "localhost")

    with HTTPSource(server.url_for("f.bin", query="sig=old"), cache=None, block_size=BLOCK,
                    resolver=lambda: fresh) as src:
        assert _fetch(src, 0, 100_000) == data[:100_000]
        old = src._lean[0]
        server.set_faults(FaultPlan("status", status=403, count=1))
        for a in range(100_000, 1_000_000, 100_000):
            assert _fetch(src, a, a + 100_000) == data[a: a + 100_000]
        assert len(src._lean) == 1 and src._lean[0] is not old and old.sock is None
        assert src._lean[0].host == "localhost"
