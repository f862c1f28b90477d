"""A careless or hostile shared cache folder: symbolic links and FIFOs planted inside it, and many
cache folders in one process.

* eviction and ``clear_cache`` never follow a link inside the cache and delete only the regular
  files napstream wrote (issue #16, item 2);
* a FIFO (or any non-regular file) at a cache path is a miss, never a read that blocks (item 5);
* the writer thread of a cache folder ends when it has nothing to do (item 9).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import napstream as nap
from napstream.io import open_source
from napstream.io.cache import BlockCache

from rel_common import BLOCK, OPERATIONS, assert_same, verify_cache

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]


def _outside(tmp_path: Path, n: int = 20) -> Path:
    """A folder outside the cache holding ``n`` files named like cache blocks."""
    folder = tmp_path / "precious"
    folder.mkdir()
    for i in range(n):  # named like run files and like the older layout's block files
        (folder / f"{BLOCK}-{i}-1-1000").write_bytes(b"user data " * 100)
        (folder / f"{BLOCK}-{i}").write_bytes(b"user data " * 100)
    (folder / "meta.json").write_text("{}")
    return folder


def _fill(cache_dir: Path, n_keys: int = 3, n_blocks: int = 4) -> BlockCache:
    cache = BlockCache(cache_dir)
    for k in range(n_keys):
        key = cache.register(f"https://h.org/f{k}.nwb", n_blocks * BLOCK, f'"e{k}"')
        for i in range(n_blocks):
            cache.put(key, BLOCK, i, bytes([k]) * BLOCK)
    cache.flush()
    return cache


def _own_bytes(root: Path) -> int:
    """Bytes of the run files napstream wrote under ``root`` (regular files named as runs)."""
    return sum(p.stat().st_size for p in root.glob("*/*/*")
               if p.is_file() and not p.is_symlink() and not p.parent.is_symlink() and not p.parent.parent.is_symlink()
               and re.fullmatch(r"\d+-\d+-\d+-\d+", p.name))


def test_eviction_never_follows_links_out_of_the_cache(tmp_path):
    outside = _outside(tmp_path)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    cache = _fill(tmp_path / "cache")
    root = cache.directory / "v3"
    written = _own_bytes(root)
    assert written >= 3 * 4 * BLOCK
    key_folder = next(p for p in root.glob("*/*") if p.parent.name != "seen")
    # a linked key folder, a linked two-hex folder, a linked block file, all pointing outside
    (root / "ab").mkdir(exist_ok=True)
    os.symlink(outside, root / "ab" / ("ab" + "0" * 62))
    os.symlink(outside, root / "cd")
    os.symlink(outside / f"{BLOCK}-0-1-1000", key_folder / f"{BLOCK}-99-1-1000")
    foreign = key_folder / "notes.txt"  # a regular file napstream did not write
    foreign.write_text("mine")
    freed = cache.evict(target=0)
    assert freed == written  # exactly the run files napstream wrote
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert foreign.read_text() == "mine" and (key_folder / f"{BLOCK}-99-1-1000").is_symlink()
    # the size bookkeeping never counted what the links point to
    _fill(tmp_path / "cache", n_keys=1)
    assert nap.cache_info(cache.directory)["size"] == _own_bytes(root) >= 4 * BLOCK
    nap.clear_cache(cache.directory)
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert foreign.read_text() == "mine"


def test_eviction_during_a_remote_job_spares_a_linked_folder(server, rel_session, reference, tmp_path):
    outside = _outside(tmp_path)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    cache = tmp_path / "cache"
    (cache / "v3" / "ef").mkdir(parents=True)
    os.symlink(outside, cache / "v3" / "ef" / ("ef" * 32))
    with nap.config.override(cache_size=8 * BLOCK, retries=2, timeout=5.0):
        with nap.NWBFile(server.url_for(rel_session.name), cache_dir=cache, block_size=BLOCK) as nwb:
            got = OPERATIONS["spikes"](nwb)
    assert_same(got, reference["spikes"], "spikes")
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def _plant_fifos(cache: Path) -> int:
    """Replace every block file, meta.json and seen key of ``cache`` by a FIFO; returns how many."""
    n = 0
    for path in list(cache.rglob("*")):
        if path.is_file() and (path.name[0].isdigit() or path.name in ("meta.json", "key")):
            path.unlink()
            os.mkfifo(path)
            n += 1
    return n


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_at_cache_paths_is_a_miss_not_a_hang(server, rel_session, reference, tmp_path):
    cache = tmp_path / "cache"
    url = server.url_for(rel_session.name)
    with nap.config.override(retries=2, timeout=5.0):
        with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
            OPERATIONS["spikes"](nwb)
        nap.cache_info(cache)  # flushed
        assert _plant_fifos(cache) > 3
        result: dict[str, Any] = {}

        def job() -> None:
            try:
                with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                    result["spikes"] = OPERATIONS["spikes"](nwb)
                result["info"] = nap.cache_info(cache)
                result["freed"] = nap.clear_cache(cache)
            except BaseException as err:  # noqa: BLE001 - reported below
                result["error"] = err

        worker = threading.Thread(target=job, daemon=True)
        worker.start()
        worker.join(30)
    assert not worker.is_alive(), "a FIFO in the cache folder blocked the reader"
    assert "error" not in result, result.get("error")
    assert_same(result["spikes"], reference["spikes"], "spikes")
    fifos = [p for p in cache.rglob("*") if p.is_fifo()]
    assert fifos, "napstream deleted files it did not write"


def _writer_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "napstream-cache-writer")


def test_cache_writer_threads_end(server, rel_session, tmp_path):
    url = server.url_for(rel_session.name)
    start = _writer_threads()
    with nap.config.override(retries=2, timeout=5.0):
        for i in range(50):
            with open_source(url, cache_dir=tmp_path / f"c{i}", block_size=BLOCK) as src:
                src.read_range(0, 10)
    deadline = time.monotonic() + 10
    while _writer_threads() > start and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _writer_threads() <= start, f"{_writer_threads()} cache writer threads still running"
    # a folder used again after its writer ended gets a new one, and its blocks land on disk
    with open_source(url, cache_dir=tmp_path / "c0", block_size=BLOCK) as src:
        src.read_range(0, src.size)
    assert verify_cache(tmp_path / "c0", rel_session) == -(-rel_session.stat().st_size // BLOCK)
