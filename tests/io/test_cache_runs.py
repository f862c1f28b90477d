"""The block cache's run files (layout v3): a run of blocks per file, and every guarantee of a file
per block kept: no partial run visible after a crash, damaged files serve nothing, processes share
the folder (even writing the same run), eviction by bytes, the older layout handled."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import napstream as nap
from napstream.io import cache_files as cf
from napstream.io import open_source
from napstream.io.cache import BlockCache

BLOCK = 4096


def _blocks(n: int, seed: int = 0, last: int = BLOCK) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = [rng.integers(0, 256, BLOCK, dtype=np.uint8).tobytes() for _ in range(n)]
    out[-1] = out[-1][:last]
    return out


def _files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.name != "meta.json"} if folder.exists() else {}


@pytest.fixture
def cache(tmp_path):
    c = BlockCache(tmp_path / "c")
    c.rescan_seconds = 0.0  # tests look at the folder right after changing it
    return c


def _key(cache: BlockCache, name: str = "f") -> str:
    return cache.register(f"https://h.org/{name}.nwb", 1000 * BLOCK, '"e"')


def test_a_run_is_one_file_and_reads_back_block_by_block(cache):
    key = _key(cache)
    blocks = _blocks(6, last=100)
    cache.put_run(key, BLOCK, 20, blocks)
    cache.flush()
    assert list(_files(cache._folder(key))) == [f"{BLOCK}-20-6-{5 * BLOCK + 100}"]
    fresh = BlockCache(cache.directory)  # another process: reads the file, not the queue
    for k, block in enumerate(blocks):
        assert fresh.has(key, BLOCK, 20 + k, len(block))
        assert fresh.get(key, BLOCK, 20 + k, len(block)) == block
    assert not fresh.has(key, BLOCK, 26, BLOCK) and fresh.get(key, BLOCK, 19, BLOCK) is None
    assert fresh.get(key, BLOCK, 25, BLOCK) is None  # the short last block asked with a wrong length
    assert fresh.blocks_of(key) == [(BLOCK, 20 + k, len(b)) for k, b in enumerate(blocks)]


def test_a_cold_remote_read_stores_a_file_per_request_not_per_block(tmp_path, http_server):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(3).integers(0, 256, 40 * BLOCK + 5, dtype=np.uint8).tobytes()
    (root / "rec.nwb").write_bytes(data)
    server = http_server(root)
    with open_source(server.url_for("rec.nwb"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(data)) == data
        key = src.cache_key
    runs = _files(BlockCache(tmp_path / "c")._folder(key))
    assert sum(int(n.split("-")[2]) for n in runs) == 41  # every block, once
    assert len(runs) < 41 / 2  # runs of blocks: the first and last blocks of the open, the rest by request
    assert nap.cache_info(tmp_path / "c")["entries"][0]["blocks"] == 41


def test_longer_runs_are_split_and_a_small_cap_makes_small_files(tmp_path):
    big = BlockCache(tmp_path / "big", max_size=10**9)
    key = _key(big)
    big.put_run(key, BLOCK, 0, _blocks(70))
    big.flush()
    assert sorted(int(n.split("-")[2]) for n in _files(big._folder(key))) == [6, 32, 32]
    small = BlockCache(tmp_path / "small", max_size=64 * BLOCK)  # eviction frees whole files: <= 1/16 of the cap
    key = _key(small)
    small.put_run(key, BLOCK, 0, _blocks(12))
    small.flush()
    assert sorted(int(n.split("-")[2]) for n in _files(small._folder(key))) == [4, 4, 4]


def test_damaged_run_files_serve_nothing(cache):
    key = _key(cache)
    blocks = _blocks(4)
    cases = {}
    for n, damage in enumerate(["truncated", "longer", "crc", "data", "magic", "count", "renamed"]):
        first = 10 * n
        cache.put_run(key, BLOCK, first, blocks)
        cache.flush()
        path = cache._folder(key) / f"{BLOCK}-{first}-4-{4 * BLOCK}"
        raw = bytearray(path.read_bytes())
        if damage == "truncated":
            raw = raw[:-1]
        elif damage == "longer":
            raw += b"\0"
        elif damage == "crc":
            raw[24 + 4 * 2] ^= 1  # the stored CRC32 of block 2
        elif damage == "data":
            raw[cf.header_size(4) + 2 * BLOCK + 7] ^= 1  # a byte of block 2
        elif damage == "magic":
            raw[0:4] = b"XXXX"
        elif damage == "count":
            raw[4:8] = struct.pack("<I", 3)
        path.write_bytes(bytes(raw))
        if damage == "renamed":  # the run named as starting one block later: size fits, content does not
            os.rename(path, path.with_name(f"{BLOCK}-{first + 1}-4-{4 * BLOCK}"))
        cases[damage] = first
    fresh = BlockCache(cache.directory)
    for damage, first in cases.items():
        got = {k: fresh.get(key, BLOCK, first + k, BLOCK) for k in range(5)}
        start = first + 1 if damage == "renamed" else first
        if damage in ("crc", "data"):  # a block that fails its checksum: that one is a miss, and
            # the file is then dropped (the blocks read before it were checked: right bytes)
            assert got[0] == blocks[0] and got[1] == blocks[1] and got[2] is None and got[3] is None, damage
        else:
            assert all(v is None for v in got.values()), damage
        names = [n for n in _files(cache._folder(key)) if n.startswith(f"{BLOCK}-{start}-")]
        assert names == [], f"{damage}: the damaged file {names} is still there"


def test_a_killed_writer_leaves_no_partial_run(tmp_path):
    # a process killed in the middle of writing a run (half its bytes written): nothing is visible
    code = textwrap.dedent(f"""
        import os
        import napstream.io.cache as cm
        def half_then_killed(fd, parts):
            data = b"".join(bytes(p) for p in parts)
            os.write(fd, data[: len(data) // 2])
            os._exit(9)
        cache = cm.BlockCache({str(tmp_path / "c")!r})
        key = cache.register("https://h.org/f.nwb", 100 * {BLOCK}, '"e"')
        cm._write_parts = half_then_killed
        cache.put_run(key, {BLOCK}, 0, [b"x" * {BLOCK}] * 8)
        cache.flush()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    cache = BlockCache(tmp_path / "c")
    key = cache.register("https://h.org/f.nwb", 100 * BLOCK, '"e"')
    left = _files(cache._folder(key))
    assert left and all(n.startswith(".tmp-") for n in left)  # only the temporary file
    assert not any(cache.has(key, BLOCK, i, BLOCK) or cache.get(key, BLOCK, i, BLOCK) for i in range(8))
    assert cache.blocks_of(key) == [] and nap.cache_info(tmp_path / "c")["size"] == 0
    old = time.time() - 2 * 3600  # an hour-old temporary file is a dead writer's: removed by a scan
    for path in left.values():
        os.utime(path, (old, old))
    cache.evict()
    assert _files(cache._folder(key)) == {}


_WRITER = """
import sys, numpy as np
from napstream.io.cache import BlockCache
folder, first, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blocks = [np.random.default_rng(i).integers(0, 256, {block}, dtype=np.uint8).tobytes() for i in range(16)]
cache = BlockCache(folder)
key = cache.register("https://h.org/shared.nwb", 16 * {block}, '"e"')
for _ in range(rounds):
    cache.put_run(key, {block}, first, blocks[first: first + 8])
    cache.flush()
"""


def test_two_processes_writing_the_same_runs(tmp_path):
    folder = str(tmp_path / "c")
    script = _WRITER.format(block=BLOCK)
    expected = [np.random.default_rng(i).integers(0, 256, BLOCK, dtype=np.uint8).tobytes() for i in range(16)]
    # two writers of blocks 0-7, one of the overlapping run 4-11, all at once, while this process reads
    procs = [subprocess.Popen([sys.executable, "-c", script, folder, str(first), "25"]) for first in (0, 0, 4)]
    reader = BlockCache(folder)
    reader.rescan_seconds = 0.0
    key = reader.register("https://h.org/shared.nwb", 16 * BLOCK, '"e"')
    served = 0
    deadline = time.monotonic() + 60
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        for i in range(12):
            got = reader.get(key, BLOCK, i, BLOCK)
            if got is not None:
                assert got == expected[i], f"block {i} served wrong bytes"
                served += 1
    for p in procs:
        assert p.wait(30) == 0
    assert served > 0
    left = _files(Path(folder) / cf.LAYOUT / key[:2] / key)
    assert sorted(left) == [f"{BLOCK}-0-8-{8 * BLOCK}", f"{BLOCK}-4-8-{8 * BLOCK}"]  # no temporary file left
    fresh = BlockCache(folder)
    assert [fresh.get(key, BLOCK, i, BLOCK) for i in range(12)] == expected[:12]


def test_blocks_another_process_stored_are_found_on_a_later_miss(tmp_path):
    mine, theirs = BlockCache(tmp_path), BlockCache(tmp_path)
    key = _key(mine)
    assert mine.get(key, BLOCK, 0, BLOCK) is None  # scanned the (empty) folder just now
    blocks = _blocks(3)
    theirs.put_run(key, BLOCK, 0, blocks)
    theirs.flush()
    mine.rescan_seconds = 0.2
    assert mine.get(key, BLOCK, 0, BLOCK) is None or mine.rescan_seconds == 0  # within the delay: may miss
    time.sleep(0.25)
    assert mine.has(key, BLOCK, 2, BLOCK) and mine.get(key, BLOCK, 1, BLOCK) == blocks[1]


def test_overlapping_runs_one_damaged_the_other_serves(cache):
    key = _key(cache)
    blocks = _blocks(12)
    cache.put_run(key, BLOCK, 0, blocks[:8])
    cache.flush()
    cache.put_run(key, BLOCK, 4, blocks[4:12])
    cache.flush()
    newer = cache._folder(key) / f"{BLOCK}-4-8-{8 * BLOCK}"
    newer.write_bytes(newer.read_bytes()[:50])  # the file the index points blocks 4-7 at
    assert [cache.get(key, BLOCK, i, BLOCK) for i in range(8)] == blocks[:8]  # from the older file
    assert cache.get(key, BLOCK, 9, BLOCK) is None and not newer.exists()


def test_purge_and_clear_remove_run_files(cache):
    key, other = _key(cache), _key(cache, "g")
    cache.put_run(key, BLOCK, 0, _blocks(4))
    cache.put_run(other, BLOCK, 0, _blocks(4))
    cache.flush()
    cache.purge(key)
    assert not cache.has(key, BLOCK, 0, BLOCK) and _files(cache._folder(key)) == {}
    assert cache.get(other, BLOCK, 3, BLOCK) is not None
    freed = nap.clear_cache(cache.directory)
    assert freed == 4 * BLOCK + cf.header_size(4) == 4 * BLOCK + 64
    assert not any(p.is_file() for p in (cache.directory / cf.LAYOUT).rglob("*") if p.name != "meta.json")


def _v1_folder(directory: Path, key: str, n: int) -> Path:
    """What the previous napstream left: v1/<xx>/<key>/<block_size>-<i> (bytes + CRC32 trailer)."""
    folder = directory / "v1" / key[:2] / key
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text('{"url": "https://h.org/old.nwb", "size": 100000, "version": "e"}')
    for i in range(n):
        data = bytes([i]) * BLOCK
        (folder / f"{BLOCK}-{i}").write_bytes(data + struct.pack("<I", zlib.crc32(data)))
    seen = directory / "v1" / "seen" / ("ab" * 32)
    seen.mkdir(parents=True)
    (seen / "key").write_text(key)
    return folder


def test_old_layout_is_not_read_but_counted_evicted_and_cleared(tmp_path):
    key = BlockCache.file_key("https://h.org/old.nwb", 100000, "e")
    old = _v1_folder(tmp_path, key, 5)
    cache = BlockCache(tmp_path, max_size=12 * BLOCK)
    assert cache.get(key, BLOCK, 0, BLOCK) is None and not cache.has(key, BLOCK, 0, BLOCK)  # v1 is not read
    info = nap.cache_info(tmp_path)
    assert info["files"] == 1 and info["entries"][0]["blocks"] == 5 and info["size"] == 5 * (BLOCK + 4)
    past = time.time() - 1000
    for p in old.iterdir():
        os.utime(p, (past, past))
    other = cache.register("https://h.org/new.nwb", 100 * BLOCK, '"n"')
    cache.put_run(other, BLOCK, 0, _blocks(8))
    cache.flush()  # 5 old + 8 new blocks: over the cap; the old files go first (least recently used)
    assert len(list(old.iterdir())) < 5 and all(cache.get(other, BLOCK, i, BLOCK) for i in range(8))
    assert nap.cache_info(tmp_path)["size"] <= 0.9 * cache.max_size
    _v1_folder(tmp_path / "again", key, 3)
    nap.clear_cache(tmp_path / "again")
    assert not (tmp_path / "again" / "v1").exists()  # only our names were there: all of it removed
    foreign = _v1_folder(tmp_path / "third", key, 2) / "notes.txt"
    foreign.write_text("mine")
    nap.clear_cache(tmp_path / "third")
    assert foreign.read_text() == "mine" and sorted(p.name for p in foreign.parent.iterdir()) == ["notes.txt"]


def test_the_checksum_is_zlibs_crc32():
    # ISA-L's CRC32 when isal is installed, zlib's otherwise: the same checksum, so run files
    # written by either are read by the other
    from napstream.io import cache_files as cf

    data = _blocks(1)[0]
    for piece in (b"", b"a", data, memoryview(data)[7:1000], bytearray(data[:4097])):
        assert cf.crc32(piece) == zlib.crc32(piece)


class _Source:
    """A BlockedSource over bytes in memory, with a disk cache (the fetch path of a remote source)."""

    @staticmethod
    def make(data: bytes, cache: BlockCache):
        from napstream.io.base import BlockedSource

        class Fake(BlockedSource):
            def _fetch_ranges(self, ranges):
                time.sleep(0.005)
                return [data[r.start:r.end] for r in ranges]

        key = cache.register("https://h.org/fake.nwb", len(data), '"e"')
        return Fake(len(data), block_size=BLOCK, description="fake", max_concurrency=4, cache=cache, cache_key=key), key


@pytest.mark.parametrize("path", ["read_ahead", "read_range"])
def test_both_fetch_paths_store_a_request_as_one_run(tmp_path, monkeypatch, path):
    data = np.random.default_rng(5).integers(0, 256, 64 * BLOCK, dtype=np.uint8).tobytes()
    cache = BlockCache(tmp_path / "c")
    runs: list[int] = []
    put_run = BlockCache.put_run

    def recording(self, key, block_size, first, blocks):
        runs.append(len(blocks))
        return put_run(self, key, block_size, first, blocks)

    monkeypatch.setattr(BlockCache, "put_run", recording)
    src, key = _Source.make(data, cache)
    if path == "read_ahead":  # the pinned read-ahead of planned reads (io/pinned.py)
        handle = src.read_ahead([(0, len(data))], max_bytes=16 * BLOCK, requests=2)
        try:
            time.sleep(0.1)  # the read-ahead runs ahead of the reader
            for k in range(64):  # the reader frees pin room as it goes
                assert src.read_range(k * BLOCK, (k + 1) * BLOCK) == data[k * BLOCK:(k + 1) * BLOCK]
            assert src._ahead.blocks_fetched > 32  # most blocks came by the read-ahead
        finally:
            handle.cancel()
    else:  # a batch of missing blocks fetched by the reader (io/base.py)
        assert src.read_range(0, len(data)) == data
    src.close()
    assert sum(runs) == 64 and max(runs) > 1, runs  # blocks handed over by request, not one by one
    fresh = BlockCache(tmp_path / "c")
    assert b"".join(fresh.get(key, BLOCK, i, BLOCK) for i in range(64)) == data
