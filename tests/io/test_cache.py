"""The persistent block cache: warm reads make no data requests, never stale, LRU, atomic, checked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import napstream as nap
from napstream.config import config
from napstream.errors import InvalidInputError, InvalidTypeError
from napstream.io import cache_files as cf
from napstream.io import open_source
from napstream.io.http import HTTPSource
from napstream.io.cache import BlockCache, MemoryLRU, get_cache

BLOCK = 8192


@pytest.fixture
def served(tmp_path, http_server):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(1).integers(0, 256, 12 * BLOCK + 77, dtype=np.uint8).tobytes()
    (root / "rec.nwb").write_bytes(data)
    return http_server(root), root / "rec.nwb", data


def _gets(server) -> int:
    return server.stats.by_method.get("GET", 0)


def test_cold_then_warm_makes_zero_data_requests(served, tmp_path):
    server, _, data = served
    url = server.url_for("rec.nwb", query="sig=1")
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as cold:
        assert cold.read_range(0, len(data)) == data
        assert cold.stats.bytes_fetched == len(data)
    server.reset_stats()
    # a new source (new memory LRU) with another presigned query: same cache entry
    with open_source(server.url_for("rec.nwb", query="sig=2"), cache_dir=tmp_path / "c", block_size=BLOCK) as warm:
        assert warm.read_range(0, len(data)) == data
        assert warm.read_ranges([(5, 9), (len(data) - 3, len(data))]) == [data[5:9], data[-3:]]
        # the only bytes asked for: the content check of the open (a few random cached bytes)
        check = HTTPSource.reopen_samples * HTTPSource.sample_width
        assert warm.stats.bytes_fetched == check and warm.stats.cache_misses == 0
    assert _gets(server) == HTTPSource.reopen_samples and server.stats.bytes_sent == check


def test_cache_is_shared_across_processes(served, tmp_path):
    server, _, data = served
    url = server.url_for("rec.nwb")
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        src.prefetch([(0, len(data))])
    server.reset_stats()
    code = (
        "import sys, hashlib; from napstream.io import open_source; "
        f"s = open_source({url!r}, cache_dir={str(tmp_path / 'c')!r}, block_size={BLOCK}); "
        "print(hashlib.sha256(s.read_range(0, s.size)).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import hashlib

    assert out.strip() == hashlib.sha256(data).hexdigest()
    assert _gets(server) == HTTPSource.reopen_samples  # the content check of the reopen only


def test_changed_remote_file_is_not_served_stale(served, tmp_path):
    server, path, data = served
    url = server.url_for("rec.nwb")
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(data)) == data
    new = bytes(255 - b for b in data)  # same size, new content and mtime -> new ETag
    path.write_bytes(new)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    server.reset_stats()
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(new)) == new
    assert _gets(server) > 0
    assert nap.cache_info(tmp_path / "c")["files"] == 2


def test_etag_change_while_reading_raises(served, tmp_path):
    from napstream.errors import RemoteChangedError

    server, _, data = served
    with open_source(server.url_for("rec.nwb"), cache=False, block_size=BLOCK) as src:
        server.set_faults("change_etag", count=1)
        with pytest.raises(RemoteChangedError, match="changed"):
            src.read_range(5 * BLOCK, 6 * BLOCK)


def test_cache_file_names_are_hashes(served, tmp_path):
    server, _, data = served
    with open_source(server.url_for("rec.nwb", query="token=zzz"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        src.read_range(0, len(data))
    names = [p.name for p in (tmp_path / "c").rglob("*")]
    assert names and not any("rec" in n or "nwb" in n or "zzz" in n for n in names)
    info = nap.cache_info(tmp_path / "c")
    (entry,) = info["entries"]
    assert entry["url"] == server.url_for("rec.nwb") and "zzz" not in str(info)
    assert entry["size"] == len(data) and entry["blocks"] == 13
    assert entry["cached_bytes"] >= len(data) and info["size"] == entry["cached_bytes"]


def test_clear_cache(served, tmp_path):
    server, _, data = served
    with open_source(server.url_for("rec.nwb"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        src.read_range(0, len(data))
    freed = nap.clear_cache(tmp_path / "c")
    assert freed >= len(data)
    assert nap.cache_info(tmp_path / "c")["files"] == 0
    server.reset_stats()
    with open_source(server.url_for("rec.nwb"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(data)) == data  # refetched after the clear
    assert _gets(server) > 0
    assert nap.cache_info(tmp_path / "c")["files"] == 1


def test_default_cache_dir_follows_config(tmp_path, monkeypatch):
    from napstream.io.cache import default_cache_dir

    with config.override(cache_dir=str(tmp_path / "cfg")):
        assert default_cache_dir() == tmp_path / "cfg"
        assert nap.cache_info()["dir"] == str(tmp_path / "cfg")
    if config.cache_dir is None:
        monkeypatch.setenv("NAPSTREAM_CACHE_DIR", str(tmp_path / "env"))
        assert default_cache_dir() == tmp_path / "env"


def _run_files(cache: BlockCache, key: str) -> dict[str, Path]:
    """name -> path of the run files of ``key`` (``<block_size>-<first>-<count>-<bytes>``)."""
    return {p.name: p for p in cache._folder(key).iterdir() if p.name != "meta.json" and not p.name.startswith(".")}


def test_lru_eviction_by_bytes_across_run_files(tmp_path):
    cache = BlockCache(tmp_path, max_size=40 * BLOCK)  # run files of at most 40 / 16 = 2 blocks
    key = cache.register("https://h.org/f.nwb", 100 * BLOCK, '"e"')
    for r in range(9):  # 9 runs of 4 blocks: 18 files of 2 blocks, 36 blocks, under the cap
        cache.put_run(key, BLOCK, 4 * r, [bytes([r]) * BLOCK] * 4)
    cache.flush()
    files = _run_files(cache, key)
    assert len(files) == 18 and all(name.split("-")[2] == "2" for name in files)
    base = time.time() - 100
    for name, path in files.items():  # unambiguous ages: the lower blocks the older
        first = int(name.split("-")[1])
        os.utime(path, (base + first, base + first))
    assert cache.get(key, BLOCK, 1, BLOCK) == bytes([0]) * BLOCK  # refreshes the file of blocks 0-1
    cache.put_run(key, BLOCK, 36, [b"n" * BLOCK] * 4)  # 40 blocks + headers: over the cap
    cache.flush()
    kept = [i for i in range(40) if cache.has(key, BLOCK, i, BLOCK)]
    # eviction removes whole run files, oldest first, down to 90% of the cap; the refreshed one stays
    assert {0, 1, 36, 37, 38, 39} <= set(kept) and 2 not in kept and 3 not in kept
    assert all((i ^ 1) in kept for i in kept)  # both blocks of a file, or neither
    on_disk = sum(p.stat().st_size for p in _run_files(cache, key).values())
    assert on_disk <= 0.9 * cache.max_size and nap.cache_info(tmp_path)["size"] == on_disk
    fresh = BlockCache(tmp_path, max_size=40 * BLOCK)  # another process agrees on what is left
    assert [i for i in range(40) if fresh.get(key, BLOCK, i, BLOCK) is not None] == kept


def test_source_respects_cache_size(served, tmp_path):
    server, _, data = served
    with config.override(cache_size=5 * BLOCK):
        with open_source(server.url_for("rec.nwb"), cache_dir=tmp_path / "small", block_size=BLOCK) as src:
            assert src.read_range(0, len(data)) == data
        assert nap.cache_info(tmp_path / "small")["size"] <= 5 * BLOCK


def test_atomic_write_leaves_no_partial_block(tmp_path, monkeypatch):
    cache = BlockCache(tmp_path)
    key = cache.register("https://h.org/f.nwb", 10 * BLOCK, '"e"')

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("napstream.io.cache.os.replace", fail)
    with pytest.warns(RuntimeWarning, match="not usable"):
        cache.put(key, BLOCK, 0, b"x" * BLOCK)
        cache.flush()
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("meta.json", "key")]
    assert files == []  # neither the block nor its temporary file
    assert not cache.enabled and cache.get(key, BLOCK, 0, BLOCK) is None


def test_killed_writer_temp_file_is_never_served(tmp_path):
    cache = BlockCache(tmp_path)
    key = cache.register("https://h.org/f.nwb", 10 * BLOCK, '"e"')
    folder = cache._folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".tmp-deadbeef").write_bytes(b"partial")
    assert cache.get(key, BLOCK, 0, BLOCK) is None and not cache.has(key, BLOCK, 0, BLOCK)


def test_corrupt_or_truncated_run_file_is_refetched(served, tmp_path):
    server, _, data = served
    url = server.url_for("rec.nwb")
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        src.read_range(0, len(data))
        key = src.cache_key
    for damage in ("flip", "truncate"):
        runs = _run_files(BlockCache(tmp_path / "c"), key)
        assert sum(int(name.split("-")[2]) for name in runs) == 13  # each block once
        name = max(runs, key=lambda n: int(n.split("-")[2]))  # the longest run
        count = int(name.split("-")[2])
        assert count > 1  # a file per request's run of blocks, not per block
        raw = bytearray(runs[name].read_bytes())
        if damage == "flip":
            # a flipped byte in every block: a block read intact before the bad one was found may
            # rightly be served (each block has its own CRC), so only this makes the misses exact
            for k in range(count):
                raw[cf.header_size(count) + k * BLOCK + 10] ^= 0xFF
        else:
            raw = raw[:-100]
        runs[name].write_bytes(bytes(raw))
        server.reset_stats()
        with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
            assert src.read_range(0, len(data)) == data
            assert src.stats.cache_misses == count, damage  # every block of the damaged file, no other
        assert _gets(server) >= 1
        fresh = BlockCache(tmp_path / "c")  # the refetched blocks are on disk again, intact
        assert b"".join(fresh.get(key, BLOCK, i, min(BLOCK, len(data) - i * BLOCK)) for i in range(13)) == data


def test_unwritable_cache_warns_once_and_reads_go_on(served, tmp_path):
    server, _, data = served
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_source(server.url_for("rec.nwb"), cache_dir=blocker / "cache", block_size=BLOCK) as src:
            assert src.read_range(0, len(data)) == data
            assert src.read_range(0, len(data)) == data
        with open_source(server.url_for("rec.nwb"), cache_dir=blocker / "cache", block_size=BLOCK) as src:
            assert src.read_range(0, len(data)) == data
    assert len([w for w in caught if "not usable" in str(w.message)]) == 1


def test_get_cache_is_one_per_folder(tmp_path):
    assert get_cache(tmp_path) is get_cache(str(tmp_path))


def test_bad_arguments(tmp_path):
    with pytest.raises(InvalidTypeError, match="cache_dir"):
        BlockCache(42)
    with pytest.raises(InvalidInputError, match="cache_size"):
        BlockCache(tmp_path, max_size=-1)
    with pytest.raises(InvalidInputError, match="max_bytes"):
        MemoryLRU(-1)


def test_memory_lru_is_bounded():
    lru = MemoryLRU(10)
    for i in range(10):
        lru.put(i, b"abc")
    assert lru.nbytes <= 10
    assert lru.get(9) == b"abc" and lru.get(0) is None
    lru.put("big", b"x" * 11)  # larger than the cap: not kept
    assert lru.get("big") is None


def test_file_key_ignores_query_but_not_version():
    k = BlockCache.file_key
    assert k("https://h/f?a=1", 5, "e") == k("https://h/f?b=2", 5, "e")
    assert k("https://h/f", 5, "e") != k("https://h/f", 5, "e2")
    assert k("https://h/f", 5, "e") != k("https://h/f", 6, "e")
    assert k("https://h/f", 5, "e") != k("https://h/g", 5, "e")


def test_paths(tmp_path):
    assert Path(nap.cache_info(tmp_path)["dir"]) == tmp_path


def test_a_folder_removed_behind_the_caches_back_is_made_again(tmp_path):
    # folders checked a moment ago are not checked again for each block; another process clearing
    # the cache in between must not make the next write fail (and the cache disable itself)
    import shutil

    cache = BlockCache(tmp_path / "c")
    key = cache.register("http://h/f", 4 * BLOCK, "v1")
    cache.put(key, BLOCK, 0, b"a" * BLOCK)
    cache.flush()
    assert cache._recently_checked(cache._folder(key))
    shutil.rmtree(cache._folder(key))  # what clear_cache in another process leaves
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cache is not usable" warning
        cache.put(key, BLOCK, 1, b"b" * BLOCK)
        cache.flush()
    assert cache.enabled
    assert cache.get(key, BLOCK, 1, BLOCK) == b"b" * BLOCK
