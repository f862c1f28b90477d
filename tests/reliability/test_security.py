"""Security: cache file names come from a hash (never from the URL), secrets in URLs (presigned
query strings, user:password) never reach logs, reprs, error messages, warnings or cache
metadata, and TLS certificates are verified by default."""

from __future__ import annotations

import logging
import re
import ssl
import subprocess
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import napstream as nap
from napstream.errors import NapstreamError, RemoteError, RemoteNotFoundError
from napstream.io import open_source
from napstream.testing.http_server import RangeHTTPServer

from rel_common import BLOCK, assert_same

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

TOKENS = ("s3cr3tT0k3n", "AKIAEXAMPLE", "p4ssw0rd", "X-Amz", "Signature")
QUERY = "X-Amz-Signature=s3cr3tT0k3n&X-Amz-Credential=AKIAEXAMPLE"


def _secret_url(server: Any, name: str) -> str:
    base = server.url_for(name, query=QUERY)
    return base.replace("http://", "http://alice:p4ssw0rd@", 1)


def _assert_clean(text: str, where: str) -> None:
    for token in TOKENS:
        assert token not in text, f"{token!r} leaked into {where}: {text[:300]}"


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_cache_names_are_hashes_never_url_parts(rel_session, reference, tmp_path):
    odd = "d/../../../x/evil name;<>|*.nwb"
    with RangeHTTPServer({odd: rel_session}) as server:
        url = f"{server.url}/d/..%2F..%2F..%2Fx%2Fevil%20name%3B%3C%3E%7C%2A.nwb?{QUERY}"
        cache = tmp_path / "deep" / "cache"
        before = _files(tmp_path)
        with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
            units = nwb["units"]
            got = {k: np.asarray(units[k].t) for k in units.keys()}
        assert server.stats.by_status.get(206, 0) > 0, "the odd URL did not reach the file"
    assert_same(got, reference["spikes"], "spikes")
    created = _files(tmp_path) - before
    assert created, "nothing was cached"
    for path in created:
        rel = path.relative_to(tmp_path)
        assert path == cache or cache in path.parents or path in cache.parents, f"file outside the cache: {rel}"
        inner = path.relative_to(cache).parts if cache in path.parents else ()
        for part in inner:
            assert re.fullmatch(r"v3|seen|[0-9a-f]{2}|[0-9a-f]{64}|meta\.json|key|\d+-\d+-\d+-\d+", part), f"odd cache name {part!r}"
    for path in cache.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            if path.name == "meta.json":
                for token in (*TOKENS, "evil", ".."):
                    assert token.encode() not in raw or token in ("evil", ".."), path
                _assert_clean(raw.decode(), "meta.json")


def test_secrets_never_leak(rel_session, tmp_path, caplog):
    cache = tmp_path / "cache"
    texts: dict[str, str] = {}
    caplog.set_level(logging.DEBUG)
    with RangeHTTPServer(rel_session.parent) as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        url = _secret_url(server, rel_session.name)
        with nap.config.override(retries=1, timeout=2.0):
            with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                texts["NWBFile repr"] = repr(nwb)
                texts["NWBFile str"] = str(nwb)
                texts["NWBFile path/name"] = f"{nwb.path} {nwb.name}"
                texts["io_stats"] = repr(nwb.io_stats)
                texts["h5py file"] = repr(nwb.file) + str(nwb.file.filename)
                for key in ("units", "SpatialSeriesLED1", "ElectricalSeriesLFP", "epochs"):
                    texts[f"repr {key}"] = repr(nwb[key])
            with open_source(url, cache_dir=cache, block_size=BLOCK) as src:
                texts["source"] = f"{src!r} {src} {src.description} {src.stats!r}"
            with nap.track_io() as delta:
                with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                    nwb["units"]
            texts["track_io"] = repr(delta)
            errors = []
            with pytest.raises(RemoteNotFoundError) as missing:
                nap.NWBFile(_secret_url(server, "missing.nwb"), cache_dir=cache)
            errors.append(missing.value)
            server.set_faults("503", count=None, probability=1.0)
            with pytest.raises(RemoteError) as exhausted:
                nap.NWBFile(url, cache_dir=tmp_path / "cold")
            errors.append(exhausted.value)
            server.clear_faults()
            blocker = tmp_path / "file"
            blocker.write_bytes(b"x")
            with nap.NWBFile(url, cache_dir=blocker / "sub", block_size=BLOCK) as nwb:
                nwb["units"]
    for err in errors:
        chain = []
        e: BaseException | None = err
        while e is not None and len(chain) < 10:
            chain.append(f"{type(e).__name__}: {e} {e.args!r}")
            e = e.__cause__ or e.__context__
        texts[f"error {type(err).__name__}"] = " | ".join(chain)
    texts["warnings"] = " ".join(str(w.message) for w in caught)
    assert any("cache" in str(w.message) for w in caught), "the unusable cache should have warned"
    texts["logs"] = caplog.text + " ".join(r.getMessage() for r in caplog.records)
    texts["cache_info"] = repr(nap.cache_info(cache))
    for where, text in texts.items():
        _assert_clean(text, where)
    for path in list(cache.rglob("*")) + list((tmp_path / "cold").rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            for token in TOKENS[:3]:
                assert token.encode() not in raw, f"{token} stored in {path}"
    # the safe URL itself is what users see
    assert server.url_for(rel_session.name).split("//")[1] in texts["error RetryExhaustedError"]


# ------------------------------------------------------------------------------------------ TLS
def test_tls_verification_is_on_by_default(server, rel_session, monkeypatch):
    """The transport's configuration: connectors and requests keep aiohttp's verifying default."""
    import aiohttp

    seen: dict[str, list[Any]] = {"connector": [], "request": []}
    real_init, real_request = aiohttp.TCPConnector.__init__, aiohttp.ClientSession._request

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        seen["connector"].append((kwargs.get("ssl", True), kwargs.get("verify_ssl", True),
                                  getattr(self, "_ssl", kwargs.get("ssl", True))))

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen["request"].append((kwargs.get("ssl", True), kwargs.get("verify_ssl", True)))
        return real_request(self, *args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "__init__", init)
    monkeypatch.setattr(aiohttp.ClientSession, "_request", request)
    with open_source(server.url_for(rel_session.name), cache=False) as src:
        src.read_range(0, 100)
    assert seen["connector"] and seen["request"], seen

    def verifying(value: Any) -> bool:
        if isinstance(value, ssl.SSLContext):
            return value.verify_mode == ssl.CERT_REQUIRED and value.check_hostname
        return value is True

    for ssl_kw, verify_kw, effective in seen["connector"]:
        assert verifying(ssl_kw) and verify_kw is True and verifying(effective), seen
    for ssl_kw, verify_kw in seen["request"]:
        assert verifying(ssl_kw) and verify_kw is True, seen
    io_dir = Path(nap.__file__).parent / "io"
    code = "\n".join(p.read_text() for p in io_dir.glob("*.py"))
    for insecure in ("ssl=False", "verify_ssl=False", "CERT_NONE", "check_hostname = False"):
        assert insecure not in code, f"{insecure} found in napstream/io"


class _NeverServe(BaseHTTPRequestHandler):
    served = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args: Any) -> None:
        pass


def test_self_signed_certificate_is_refused(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NeverServe)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/s.nwb?{QUERY}"
        with nap.config.override(retries=0, timeout=5.0):
            with pytest.raises(NapstreamError) as info:
                nap.NWBFile(url, cache_dir=tmp_path / "cache")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _NeverServe.served == 0, "a request was sent over an unverified TLS connection"
    assert re.search(r"certificate|CERTIFICATE", str(info.value)), str(info.value)
    _assert_clean(str(info.value), "TLS error")


# ------------------------------------------------------------------------------------------ reprs, redirects
def test_reprs_of_references_and_redirect_loops_are_scrubbed(rel_session, tmp_path):
    from napstream.testing.http_server import Response

    def loop(method: str, path: str, query: Any, headers: Any) -> Any:
        if not path.startswith("/loop"):
            return None
        n = int(path[len("/loop"):] or 0)
        return Response(302, b"", {"Location": f"/loop{n + 1}?{QUERY}{n}"}, "text/plain")

    with RangeHTTPServer(rel_session.parent, app=loop) as server, nap.config.override(retries=1, timeout=5.0):
        url = _secret_url(server, rel_session.name)
        with nap.NWBFile(url, cache_dir=tmp_path / "cache", block_size=BLOCK) as nwb:
            lfp = nwb["ElectricalSeriesLFP"]
            texts = {
                "lazy ref": repr(lfp.lazy_data.ref) + str(lfp.lazy_data.ref),
                "opened source": repr(nwb._src),
                "read context": repr(nwb._ctx),
            }
        server.reset_stats()
        with pytest.raises(RemoteError) as info:
            nap.NWBFile(f"{server.url}/loop0?{QUERY}".replace("http://", "http://alice:p4ssw0rd@", 1), cache=False)
        texts["redirect loop"] = f"{info.value} {info.value.args!r}"
        assert "redirect" in str(info.value)
        assert server.stats.requests <= 4 * 11  # each way of opening gives up after one loop: no retries
    for where, text in texts.items():
        _assert_clean(text, where)
    assert server.url_for(rel_session.name).split("//")[1] in texts["lazy ref"]
