"""The metadata walk's work is bounded on hostile files (issue #16, item 3): a crafted file cannot make
it download gigabytes or loop for minutes before h5py even opens the file; real files never reach
the budgets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from napstream.io import open_source
from napstream.io.local import LocalSource
from napstream.nwb.h5meta import MetadataWalk, prefetch_metadata
from napstream.testing.corrupt import write_walk_bomb
from napstream.testing.http_server import RangeHTTPServer

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "realnwb"


def test_walk_bomb_is_stopped_by_the_byte_budget(tmp_path):
    # 64 continuation blocks of 4 MiB spread over a sparse 64 GiB file: 256 MiB to fetch unbounded
    bomb = write_walk_bomb(tmp_path / "bomb.nwb", size=64 * 2**30, pieces=64, piece=4 * 2**20)
    with RangeHTTPServer(tmp_path) as server:
        with open_source(server.url_for(bomb.name), cache=False) as src:
            t0 = time.monotonic()
            walk = MetadataWalk(src)
            walk.run()
            seconds = time.monotonic() - t0
            fetched = src.stats.bytes_fetched
    assert walk.stopped == "bytes"
    assert fetched <= walk.byte_budget + 2 * src.block_size, fetched  # + the ends fetched at open
    assert fetched < 16 * 2**20 and seconds < 10, (fetched, seconds)


def test_walk_time_budget(rel_session, monkeypatch):
    monkeypatch.setattr(MetadataWalk, "base_seconds", 0.0)
    monkeypatch.setattr(MetadataWalk, "seconds_per_object", 0.0)
    walk = MetadataWalk(LocalSource(rel_session))
    walk.run()
    assert walk.stopped == "time"
    monkeypatch.undo()
    full = MetadataWalk(LocalSource(rel_session))
    full.run()
    assert full.stopped is None and full.objects > walk.objects


def _real_files() -> list[Path]:
    if not (REAL / "manifest.json").exists():
        return []
    return sorted(REAL.glob("*.nwb"))


def test_real_files_never_reach_the_budgets(rel_session):
    files = [rel_session, *_real_files()]
    with RangeHTTPServer({p.name: p for p in files}) as server:
        for path in files:
            with open_source(server.url_for(path.name), cache=False, block_size=4096) as src:
                walk = MetadataWalk(src, max_rounds=50)
                walk.run()
                assert walk.stopped is None, (path.name, walk.stopped, src.stats.bytes_fetched)
                assert prefetch_metadata(src) >= 0
    if len(files) > 1:
        assert json.loads((REAL / "manifest.json").read_text())
