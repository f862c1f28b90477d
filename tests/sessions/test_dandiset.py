"""nap.Dandiset against the local DANDI API server: version rule, paged glob listings, open()."""

from __future__ import annotations

import math

import numpy as np
import pytest

import napstream as nap
from napstream.errors import DandiError, InvalidInputError

from sessions_layout import DAMAGED, GOOD, MISSING, OTHERS

ALL = sorted(GOOD + [DAMAGED, MISSING] + OTHERS)


def asset_requests(server, version):
    return [r for r in server.api.stats.records if f"/versions/{version}/assets/" in r.path and r.method == "GET"]


def test_version_is_the_newest_published_else_the_draft(dandi, dandiset_files):
    from napstream.testing.dandi_server import LocalDandiServer

    assert nap.Dandiset("000582", api_url=dandi.api_url).version == "0.230101.0101"
    assert nap.Dandiset("000582", "latest", api_url=dandi.api_url).version == "0.230101.0101"
    assert nap.Dandiset("000582", "draft", api_url=dandi.api_url).version == "draft"
    with LocalDandiServer({GOOD[0]: dandiset_files[GOOD[0]]}, versions=("draft",)) as draft_only:
        assert nap.Dandiset("000582", api_url=draft_only.api_url).version == "draft"
    with LocalDandiServer({GOOD[0]: dandiset_files[GOOD[0]]},
                          versions=("draft", "0.230101.0101", "0.240202.0202")) as two:
        assert nap.Dandiset("000582", api_url=two.api_url).version == "0.240202.0202"
    with pytest.raises(DandiError, match=r"version '0.111111.1111' .*available versions: \['0.230101.0101', 'draft'\]"):
        nap.Dandiset("000582", "0.111111.1111", api_url=dandi.api_url)
    with pytest.raises(DandiError, match="dandiset 000999 not found"):
        nap.Dandiset("000999", api_url=dandi.api_url)
    with pytest.raises(InvalidInputError, match="six-digit"):
        nap.Dandiset("582", api_url=dandi.api_url)


def test_versions_page_through_the_api(dandiset_files):
    from napstream.testing.dandi_server import LocalDandiServer

    versions = ("draft", "0.230101.0101", "0.230601.0101", "0.240202.0202")
    with LocalDandiServer({GOOD[0]: dandiset_files[GOOD[0]]}, versions=versions, page_size=1) as server:
        ds = nap.Dandiset("000582", api_url=server.api_url)
        server.api.reset_stats()
        assert ds.versions() == ["0.230101.0101", "0.230601.0101", "0.240202.0202", "draft"]
        assert sum(r.path.endswith("/versions/") for r in server.api.stats.records) == 4  # one page each
        assert ds.version == "0.240202.0202"


def test_assets_pages_through_the_api(dandi):
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    dandi.api.reset_stats()
    assets = ds.assets()
    assert [a.path for a in assets] == ALL  # order=path
    pages = asset_requests(dandi, ds.version)
    assert len(pages) == math.ceil(len(ALL) / 3) > 2  # the server pages by 3: every page was read
    sizes = {a.path: a.size for a in assets}
    assert sizes[GOOD[0]] == sizes[MISSING] > 100_000
    assert sizes["README.md"] == len(b"not a session")
    assert all(a.version == "0.230101.0101" and a.url.endswith(f"/assets/{a.asset_id}/download/") for a in assets)
    assert assets[0].dandi_url == f"dandi://000582@0.230101.0101/{assets[0].path}"


@pytest.mark.parametrize("pattern, expected", [
    ("sub-*/*.nwb", sorted(GOOD + [DAMAGED, MISSING])),
    ("*.nwb", sorted(GOOD + [DAMAGED, MISSING, "derivatives/sub-01/tc.NWB"])),  # '*' crosses '/', case ignored
    ("SUB-0*+ECEPHYS.NWB", sorted(GOOD + [DAMAGED, MISSING])),  # case-insensitive, "+" literal
    ("sub-01/*", ["sub-01/sub-01_ses-1_behavior+ecephys.nwb", "sub-01/sub-01_ses-1_image.png"]),
    ("sub-0?/*.nwb", []),  # '?' is literal in DANDI's glob
    ("README.md", ["README.md"]),
    ("*.json", ["dataset_description.json"]),
])
def test_glob_matches_like_the_archive(dandi, pattern, expected):
    assert [a.path for a in nap.Dandiset("000582", api_url=dandi.api_url).assets(pattern)] == expected


def test_glob_is_sent_to_the_server(dandi):
    ds = nap.Dandiset("000582", "draft", api_url=dandi.api_url)
    dandi.api.reset_stats()
    got = ds.assets("sub-0*.nwb", order="-path")
    assert [a.path for a in got] == sorted(GOOD + [DAMAGED, MISSING], reverse=True)
    pages = asset_requests(dandi, "draft")
    # filtered on the server: only the matching rows were paged (all rows would take more pages)
    assert len(pages) == math.ceil(len(got) / 3) < math.ceil(len(ALL) / 3)


def test_bad_listing_arguments(dandi):
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    with pytest.raises(InvalidInputError, match="order must be"):
        ds.assets(order="size")
    with pytest.raises(InvalidInputError, match="pattern must be"):
        ds.assets("")


def test_open_reads_the_asset(dandi, dandiset_files):
    pynwb = pytest.importorskip("pynwb")
    ds = nap.Dandiset("000582", api_url=dandi.api_url)
    with pynwb.NWBHDF5IO(str(dandiset_files[GOOD[2]]), "r") as io:
        ref = io.read().units["spike_times"][1]
    for what in (GOOD[2], ds.assets(GOOD[2])[0]):
        with ds.open(what, cache=False) as nwb:
            assert nwb.name == "sub-03_ses-1_behavior+ecephys"
            np.testing.assert_array_equal(nwb["units"][1].t, ref)
            assert nwb.io_stats.requests > 0  # read over HTTP
    with pytest.raises(DandiError, match="closest asset paths"):
        ds.open("sub-03/nope.nwb")


def test_from_dandi_default_is_dandi_clis_version(dandi, monkeypatch):
    """NWBFile.from_dandi(id, path) reads the newest published version; version='draft' the draft."""
    monkeypatch.setattr(nap.config, "dandi_api_url", dandi.api_url)
    for version, expected in ((None, "0.230101.0101"), ("draft", "draft"), ("0.230101.0101", "0.230101.0101")):
        dandi.api.reset_stats()
        with nap.NWBFile.from_dandi("000582", GOOD[0], version=version, cache=False) as nwb:
            assert len(nwb["units"]) == 3
        assert asset_requests(dandi, expected), f"version={version!r} did not read {expected}"
