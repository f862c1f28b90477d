"""Retries against the loopback server's fault injection: identical bytes or a clear error."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napstream.errors import (
    RemoteAccessError,
    RemoteError,
    RemoteNotFoundError,
    RetryExhaustedError,
)
from napstream.io import open_source
from napstream.io.http import HTTPSource
from napstream.io.retry import RetryPolicy, TransientError, parse_retry_after, safe_url, status_error

BLOCK = 16384
SECRET = "X-Amz-Signature=topsecret"


@pytest.fixture
def served(tmp_path, http_server):
    data = np.random.default_rng(7).integers(0, 256, 6 * BLOCK + 5, dtype=np.uint8).tobytes()
    (tmp_path / "f.nwb").write_bytes(data)
    return http_server(tmp_path), data


def _source(server, **kwargs):
    opts = dict(cache=None, block_size=BLOCK, max_concurrency=4, retries=4, backoff=0.01, timeout=5.0)
    opts.update(kwargs)
    return HTTPSource(server.url_for("f.nwb", query=SECRET), **opts)


@pytest.mark.parametrize(
    "kind, options",
    [
        ("503", {"count": 3}),
        ("drop", {"count": 2}),
        ("truncate", {"count": 2}),
        ("bad_content_range", {"count": 2}),
        ("status", {"count": 2, "status": 502}),
        ("ignore_range", {"count": 2}),
    ],
)
def test_faults_are_survived_with_identical_bytes(served, kind, options):
    server, data = served
    with _source(server) as src:
        server.set_faults(kind, **options)
        assert src.read_range(BLOCK // 2, 5 * BLOCK) == data[BLOCK // 2: 5 * BLOCK]
        assert src.read_ranges([(0, 10), (len(data) - 10, len(data))]) == [data[:10], data[-10:]]
    fired = server.faults[0].fired
    assert fired == options["count"]
    if kind != "ignore_range":  # a 200 answer is sliced, not retried
        assert src.stats.retries == fired


def test_429_honours_retry_after(served):
    server, data = served
    with _source(server) as src:
        server.set_faults("429", count=1, retry_after=0.6)
        t0 = time.perf_counter()
        assert src.read_range(BLOCK, 2 * BLOCK) == data[BLOCK: 2 * BLOCK]
        assert time.perf_counter() - t0 >= 0.55  # backoff alone would be ~0.01 s
        assert src.stats.retries == 1


def test_stalled_response_times_out_and_is_retried(served):
    server, data = served
    with _source(server, timeout=0.3) as src:
        server.set_faults("stall", count=1, delay=3.0)
        assert src.read_range(2 * BLOCK, 3 * BLOCK) == data[2 * BLOCK: 3 * BLOCK]
        assert src.stats.retries == 1


def test_retries_exhausted_error_names_url_range_and_cause(served):
    server, _ = served
    with _source(server, retries=2) as src:
        src.readahead_blocks = 0  # one request, so the fault count is the number of tries
        server.set_faults("503", count=10)
        with pytest.raises(RetryExhaustedError) as err:
            src.read_range(BLOCK + 1, BLOCK + 2)
    msg = str(err.value)
    assert server.url_for("f.nwb") in msg and "topsecret" not in msg and "X-Amz" not in msg
    assert f"bytes [{BLOCK}, {2 * BLOCK})" in msg and "503" in msg
    assert isinstance(err.value, OSError)
    assert server.faults[0].fired == 3  # 1 try + 2 retries


def test_open_source_retries_probe(served, tmp_path):
    server, data = served
    server.set_faults("503", count=2)
    with open_source(server.url_for("f.nwb"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(data)) == data
        assert src.stats.retries == 2


def test_404_fails_at_once(served):
    server, _ = served
    server.reset_stats()
    with pytest.raises(RemoteNotFoundError, match="missing.nwb") as err:
        HTTPSource(server.url_for("missing.nwb", query=SECRET), retries=5)
    assert isinstance(err.value, FileNotFoundError) and "topsecret" not in str(err.value)
    # a cold open asks for the first and last blocks at once: each of the two GETs is tried once
    assert server.stats.requests == 2 and server.stats.by_status == {404: 2}


def test_403_fails_at_once_without_resolver(served):
    server, _ = served
    with _source(server) as src:
        server.set_faults("status", status=403, count=5)
        server.reset_stats()
        with pytest.raises(RemoteAccessError, match="403") as err:
            src.read_range(3 * BLOCK, 3 * BLOCK + 1)
    assert isinstance(err.value, PermissionError)
    assert server.stats.requests == 1


def test_403_reresolves_once_through_callback(served):
    server, data = served
    calls = []

    def resolver():
        calls.append(1)
        return server.url_for("f.nwb", query="X-Amz-Signature=fresh")

    with _source(server, resolver=resolver) as src:
        server.set_faults("status", status=403, count=1)
        assert src.read_range(3 * BLOCK, 4 * BLOCK) == data[3 * BLOCK: 4 * BLOCK]
        assert len(calls) == 1
        server.set_faults("status", status=403, count=10)  # still refused after re-resolving
        with pytest.raises(RemoteAccessError):
            src.read_range(4 * BLOCK, 5 * BLOCK)
        assert len(calls) == 2


def test_server_gone_gives_clear_error(served):
    server, _ = served
    with _source(server, retries=1, timeout=1.0) as src:
        server.set_faults("gone", count=1)
        with pytest.raises(RetryExhaustedError, match="f.nwb bytes"):
            src.read_range(4 * BLOCK, 4 * BLOCK + 10)


def test_status_mapping():
    assert isinstance(status_error(503, "u"), TransientError)
    assert isinstance(status_error(429, "u", "3"), TransientError) and status_error(429, "u", "3").retry_after == 3.0
    assert isinstance(status_error(403, "u"), RemoteAccessError)
    assert isinstance(status_error(401, "u"), RemoteAccessError)
    assert isinstance(status_error(404, "u"), RemoteNotFoundError)
    err = status_error(416, "u")
    assert isinstance(err, RemoteError) and not isinstance(err, (RemoteAccessError, RemoteNotFoundError))


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(retries=5, base_delay=0.1, max_delay=0.5)
    for attempt, low in [(1, 0.1), (2, 0.2), (3, 0.4)]:
        assert low <= policy.delay(attempt) <= min(2 * low, 0.5)
    assert policy.delay(10) == 0.5
    assert policy.delay(1, retry_after=0.3) == 0.3


def test_parse_retry_after_http_date():
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(when) <= 31
    assert parse_retry_after("soon") is None


def test_safe_url_strips_credentials_and_query():
    assert safe_url("https://u:p@h.org:8443/a?x=1#f") == "https://h.org:8443/a"


def test_bad_policy():
    from napstream.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="retries"):
        RetryPolicy(retries=-1)


def test_tls_certificates_are_verified(tmp_path):
    """A self-signed HTTPS server is refused at once (no retries), with a clear error."""
    import datetime
    import http.server
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(RemoteAccessError, match="TLS") as err:
            HTTPSource(f"https://127.0.0.1:{httpd.server_address[1]}/f.nwb?sig=hidden", retries=3, backoff=0.01)
        assert "hidden" not in str(err.value)
    finally:
        httpd.shutdown()
        httpd.server_close()
