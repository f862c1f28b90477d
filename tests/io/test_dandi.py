"""DANDI resolution against the local DANDI API server (napstream.testing.dandi_server)."""

from __future__ import annotations

import json
import os

import pytest
import requests

from napstream.config import config
from napstream.errors import DandiError, InvalidInputError, InvalidTypeError, RemoteAccessError, RemoteError, RetryExhaustedError
from napstream.io.dandi import DandiURL, find_dandi_asset, parse_dandi_url, resolve_dandi_asset, resolve_dandi_url
from napstream.testing.http_server import Response

PUBLISHED = "0.230101.0101"
KEY = "sekrit-key-0123456789"


@pytest.fixture
def files(tmp_path):
    """Asset path -> (local file, its bytes); several paths share the prefix 'sub-1/a.nwb'."""
    out = {}
    for i, name in enumerate(["sub-1/a.nwb", "sub-1/a.nwb.bak", "sub-1/a.nwb2", "sub-2/b.nwb", "sub-1/c+d.nwb"]):
        local = tmp_path / f"f{i}.bin"
        local.write_bytes(os.urandom(1000 + i))
        out[name] = local
    return out


def fetch(url, rng="bytes=0-"):
    r = requests.get(url, headers={"Range": rng}, timeout=5)
    r.raise_for_status()
    return r.content


def api_paths(server):
    return [(r.method, r.path) for r in server.api.stats.records]


# -- parse_dandi_url -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, expected",
    [
        ("dandi://000582/sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb",
         ("000582", None, "sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb")),
        ("dandi://000582@draft/a.nwb", ("000582", "draft", "a.nwb")),
        ("DANDI://000582@0.230101.0101/x/y.nwb", ("000582", "0.230101.0101", "x/y.nwb")),
        ("dandi://000582/my%20file.nwb", ("000582", None, "my file.nwb")),
        ("dandi://000582/./sub-1//a.nwb", ("000582", None, "sub-1/a.nwb")),
    ],
)
def test_parse_dandi_url(url, expected):
    parsed = parse_dandi_url(url)
    assert parsed == DandiURL(*expected)
    assert tuple(parsed) == expected


@pytest.mark.parametrize(
    "url, part",
    [("http://000582/a.nwb", "dandi://"), ("dandi:/000582/a.nwb", "dandi://"), ("dandi://58/a.nwb", "six-digit"),
     ("dandi://000582", "asset path"), ("dandi://000582/", "asset path"), ("dandi://000582@v1/a.nwb", "version"),
     ("dandi://000582@/a.nwb", "version"), ("dandi://000582/../x.nwb", "path"), ("dandi://abcdef/a.nwb", "six-digit")],
)
def test_parse_dandi_url_rejects_malformed(url, part):
    with pytest.raises(InvalidInputError, match=part) as info:
        parse_dandi_url(url)
    assert isinstance(info.value, ValueError)


def test_parse_dandi_url_type():
    with pytest.raises(InvalidTypeError, match="url"):
        parse_dandi_url(42)


# -- resolution ----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["draft", PUBLISHED])
def test_resolve_versions(dandi_server, files, version):
    server = dandi_server(files)
    url = resolve_dandi_asset("000582", "sub-2/b.nwb", version=version, api_url=server.api_url)
    assert fetch(url) == files["sub-2/b.nwb"].read_bytes()
    assert fetch(url, "bytes=10-19") == files["sub-2/b.nwb"].read_bytes()[10:20]
    asset_id = server.assets[version]["sub-2/b.nwb"]
    paths = api_paths(server)
    assert ("GET", f"/api/dandisets/000582/versions/{version}/assets/") in paths
    assert paths[-1] == ("HEAD", f"/api/assets/{asset_id}/download/")
    assert server.s3.stats.requests == 2  # resolution itself never touched the bytes


def test_latest_is_most_recent_published_else_draft(dandi_server, files):
    both = dandi_server(files, versions=("draft", "0.220101.0101", PUBLISHED))
    for version in (None, "latest"):
        asset = find_dandi_asset("000582", "sub-1/a.nwb", version=version, api_url=both.api_url)
        assert asset.version == PUBLISHED and asset.asset_id == both.assets[PUBLISHED]["sub-1/a.nwb"]
    draft_only = dandi_server(files, versions=("draft",))
    asset = find_dandi_asset("000582", "sub-1/a.nwb", version=None, api_url=draft_only.api_url)
    assert asset.version == "draft" and asset.asset_id == draft_only.assets["draft"]["sub-1/a.nwb"]


def test_exact_path_among_prefix_matches(dandi_server, files):
    server = dandi_server(files)
    for path in ("sub-1/a.nwb", "sub-1/a.nwb.bak", "sub-1/a.nwb2", "sub-1/c+d.nwb"):
        url = resolve_dandi_asset("000582", path, api_url=server.api_url)
        assert fetch(url) == files[path].read_bytes()
        asset = find_dandi_asset("000582", path, api_url=server.api_url)
        assert asset.path == path and asset.size == files[path].stat().st_size
    with pytest.raises(DandiError, match="sub-1/a'"):
        resolve_dandi_asset("000582", "sub-1/a", api_url=server.api_url)


def test_pagination(dandi_server, tmp_path):
    files = {}
    for i in range(8):  # created first: same prefix as the target, listed before it
        files[f"sub-1/ses.nwb.{i}"] = tmp_path / f"s{i}.bin"
        files[f"sub-1/ses.nwb.{i}"].write_bytes(bytes([i]) * 50)
    files["sub-1/ses.nwb"] = tmp_path / "target.bin"
    files["sub-1/ses.nwb"].write_bytes(b"target" * 10)
    server = dandi_server(files, page_size=2)
    assert fetch(resolve_dandi_asset("000582", "sub-1/ses.nwb", api_url=server.api_url)) == b"target" * 10
    listing = [r for r in server.api.stats.records if r.path.endswith("/assets/")]
    assert len(listing) == 5  # ceil(9 / 2) pages walked to reach the exact path
    first = requests.get(f"{server.api_url}/dandisets/000582/versions/draft/assets/", params={"path": "sub-1/ses.nwb"}, timeout=5).json()
    assert first["count"] == 9 and len(first["results"]) == 2 and first["next"]
    server.api.reset_stats()
    assert fetch(resolve_dandi_asset("000582", "sub-1/ses.nwb.1", api_url=server.api_url)) == bytes([1]) * 50
    assert len([r for r in server.api.stats.records if r.path.endswith("/assets/")]) == 1  # stops early


def test_redirect_and_strip_query(dandi_server, files):
    server = dandi_server(files)
    stripped = resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)
    kept = resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url, strip_query=False)
    assert "?" not in stripped and "X-Amz-Signature=" in kept
    assert kept.split("?")[0] == stripped == server.s3_url("sub-1/a.nwb")
    assert fetch(kept) == fetch(stripped) == files["sub-1/a.nwb"].read_bytes()
    heads = [r for r in server.api.stats.records if r.method == "HEAD"]
    assert len(heads) == 2 and all(r.path.endswith("/download/") for r in heads)


def test_resolve_dandi_url_and_config_default(dandi_server, files):
    server = dandi_server(files)
    url = resolve_dandi_url(f"dandi://000582@{PUBLISHED}/sub-2/b.nwb", api_url=server.api_url)
    assert fetch(url) == files["sub-2/b.nwb"].read_bytes()
    with config.override(dandi_api_url=server.api_url + "/"):
        url = resolve_dandi_url("dandi://000582/sub-1/a.nwb")
    assert fetch(url) == files["sub-1/a.nwb"].read_bytes()
    assert ("GET", "/api/dandisets/000582/") in api_paths(server)  # no version: asked for the latest


# -- errors --------------------------------------------------------------------------------------
def test_missing_dandiset_version_and_asset(dandi_server, files):
    server = dandi_server(files)
    with pytest.raises(DandiError, match="dandiset 000999 not found") as info:
        resolve_dandi_asset("000999", "sub-1/a.nwb", api_url=server.api_url)
    assert isinstance(info.value, LookupError)
    with pytest.raises(DandiError, match="dandiset 000999 not found"):
        find_dandi_asset("000999", "sub-1/a.nwb", version=None, api_url=server.api_url)
    with pytest.raises(DandiError, match=r"version '0\.990101\.0101' of dandiset 000582") as info:
        resolve_dandi_asset("000582", "sub-1/a.nwb", version="0.990101.0101", api_url=server.api_url)
    assert PUBLISHED in str(info.value) and "draft" in str(info.value)
    with pytest.raises(DandiError, match="no asset at path 'sub-1/b.nwb'") as info:
        resolve_dandi_asset("000582", "sub-1/b.nwb", version=PUBLISHED, api_url=server.api_url)
    message = str(info.value)
    assert "000582" in message and PUBLISHED in message and "sub-1/a.nwb" in message
    with pytest.raises(DandiError, match="sub-2/b.nwb"):  # nothing in its folder: suggest from all
        resolve_dandi_asset("000582", "sub-3/b.nwb", api_url=server.api_url)


def test_api_key_sent_never_shown(dandi_server, files, monkeypatch):
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    server = dandi_server(files, api_key=KEY)
    with pytest.raises(RemoteAccessError, match="DANDI_API_KEY") as info:
        resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)
    assert isinstance(info.value, PermissionError)
    url = resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url, api_key=KEY)
    assert "X-Amz-Signature=" in url  # embargoed: the presigned query is kept
    assert fetch(url) == files["sub-1/a.nwb"].read_bytes()
    assert server.auth_headers[-1] == f"token {KEY}"
    assert server.s3.stats.requests == 1  # only our fetch: the key never followed the redirect
    monkeypatch.setenv("DANDI_API_KEY", KEY)
    assert fetch(resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)) == fetch(url)
    for bad in ({"api_key": KEY + "-wrong"}, {"path": "sub-1/zzz.nwb"}, {"version": "0.990101.0101"}):
        kwargs = {"dandiset_id": "000582", "path": "sub-1/a.nwb", "api_url": server.api_url, **bad}
        with pytest.raises((DandiError, RemoteAccessError)) as info:
            resolve_dandi_asset(**kwargs)
        assert KEY not in str(info.value) and KEY not in repr(info.value.args)


def test_retries_on_transient_errors(dandi_server, files):
    server = dandi_server(files)
    server.api.set_faults("503", count=2)
    assert fetch(resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)) == files["sub-1/a.nwb"].read_bytes()
    assert server.api.stats.faults == {"503": 2}
    server.api.set_faults("429", count=1, retry_after=0)
    assert resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)
    server.api.set_faults("503", count=10)
    with pytest.raises(RetryExhaustedError, match="HTTP 503"):
        resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url, retries=1)
    server.api.reset_stats()
    server.api.set_faults("drop", count=1)  # the first listing's body is cut: retried
    assert resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url)
    assert server.api.stats.faults == {"drop": 1}
    assert len([r for r in server.api.stats.records if r.path.endswith("/assets/")]) == 2


def test_next_link_to_another_host_is_refused(http_server):
    def app(method, path, query, headers):
        body = {"count": 3, "next": "http://127.0.0.2:9/api/x?page=2", "previous": None,
                "results": [{"asset_id": "a", "path": "sub-1/z.nwb"}]}
        return Response(200, json.dumps(body).encode())

    server = http_server({}, app=app)
    with pytest.raises(RemoteError, match="another host"):
        find_dandi_asset("000582", "sub-1/a.nwb", api_url=server.url + "/api", api_key=KEY)
    assert len(server.stats.records) == 1


@pytest.mark.parametrize(
    "kwargs, match, exc",
    [({"dandiset_id": "582"}, "dandiset_id", InvalidInputError), ({"version": "v2"}, "version", InvalidInputError),
     ({"path": ""}, "path", InvalidInputError), ({"path": "../x.nwb"}, "path", InvalidInputError),
     ({"api_url": "ftp://x"}, "api_url", InvalidInputError), ({"strip_query": "yes"}, "strip_query", InvalidTypeError)],
)
def test_input_validation(kwargs, match, exc):
    args = {"dandiset_id": "000582", "path": "sub-1/a.nwb", "api_url": "http://127.0.0.1:9/api", **kwargs}
    with pytest.raises(exc, match=match):
        resolve_dandi_asset(**args)


def test_unreachable_api_is_a_remote_error(http_server, tmp_path):
    server = http_server(tmp_path)
    dead = server.url + "/api"
    server.stop()
    with pytest.raises(RetryExhaustedError, match="ConnectionError"):
        find_dandi_asset("000582", "sub-1/a.nwb", api_url=dead, retries=1, timeout=2)


def test_expired_presigned_url_is_resolved_again(dandi_server, files):
    server = dandi_server(files, api_key=KEY)
    url = resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url, api_key=KEY)
    assert fetch(url, "bytes=0-9") == files["sub-1/a.nwb"].read_bytes()[:10]
    server.expire_signatures()
    assert requests.get(url, headers={"Range": "bytes=0-9"}, timeout=5).status_code == 403
    fresh = resolve_dandi_asset("000582", "sub-1/a.nwb", api_url=server.api_url, api_key=KEY)
    assert fresh != url and fetch(fresh, "bytes=0-9") == files["sub-1/a.nwb"].read_bytes()[:10]


@pytest.mark.parametrize("embargoed", [False, True])
def test_open_source_reads_a_dandi_url(dandi_server, files, monkeypatch, embargoed):
    """End to end through napstream.io.open_source (sources + HTTP source + this resolution)."""
    from napstream.io import open_source

    expected = os.urandom(300_000)
    files["sub-1/c+d.nwb"].write_bytes(expected)
    server = dandi_server(files, api_key=KEY if embargoed else None)
    if embargoed:
        monkeypatch.setenv("DANDI_API_KEY", KEY)
    with config.override(dandi_api_url=server.api_url):
        src = open_source(f"dandi://000582@{PUBLISHED}/sub-1/c+d.nwb", cache=False, block_size=65536)
        try:
            assert src.size == len(expected)
            assert src.read_range(10, 500) == expected[10:500]
            if embargoed:  # the presigned URL expires: the source asks the resolver again
                server.expire_signatures()
            assert src.read_range(200_000, 200_100) == expected[200_000:200_100]
            assert KEY not in src.description
        finally:
            src.close()
    downloads = [r for r in server.api.stats.records if r.path.endswith("/download/")]
    assert len(downloads) == (2 if embargoed else 1)
    assert server.s3.stats.by_status.get(403, 0) == (1 if embargoed else 0)


def test_a_zarr_asset_is_named_as_such_before_any_download(dandi_server, tmp_path):
    """An NWB Zarr asset (a folder of objects on DANDI) is refused with what it is and what reads it,
    without asking the API for a download (its bytes are no HDF5 file)."""
    from napstream.errors import FileFormatError

    blob = tmp_path / "x.bin"
    blob.write_bytes(b"{}")
    server = dandi_server({"sub-1/sub-1_ses-1.nwb.zarr": blob})
    before = len(api_paths(server))
    with pytest.raises(FileFormatError, match=r"'sub-1/sub-1_ses-1.nwb.zarr' of dandiset 000582 is a Zarr store.*hdmf-zarr"):
        resolve_dandi_asset("000582", "sub-1/sub-1_ses-1.nwb.zarr", api_url=server.api_url)
    assert not [p for m, p in api_paths(server)[before:] if "/download" in p]


def test_a_local_zarr_store_is_named_as_such(tmp_path):
    import napstream as nap
    from napstream.errors import FileFormatError

    store = tmp_path / "session.nwb.zarr"
    store.mkdir()
    (store / ".zgroup").write_text('{"zarr_format": 2}')
    with pytest.raises(FileFormatError, match=r"is a Zarr store \(NWB Zarr\).*hdmf-zarr"):
        nap.NWBFile(store)
    plain = tmp_path / "folder"
    plain.mkdir()
    with pytest.raises(FileFormatError, match="got the directory"):
        nap.NWBFile(plain)
