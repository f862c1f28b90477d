"""The block cache's layout v3 and its direct writes: blocks start on 64-byte boundaries in a run
file, big run files go to the disk with O_DIRECT (or through the page cache where the file system
refuses it), and every guarantee holds on that path too: nothing half-written is visible after a
crash or a full disk, a flipped byte is caught by the block's CRC32, the older v2 files are not
read but are counted, evicted and cleared."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import napstream as nap
from napstream.io import cache_files as cf
from napstream.io.cache import BlockCache

BLOCK = 256 * 1024  # 8 blocks: a 2 MiB run file, past cf.DIRECT_MIN


def _blocks(n: int, seed: int = 0, last: int = BLOCK) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = [rng.integers(0, 256, BLOCK, dtype=np.uint8).tobytes() for _ in range(n)]
    out[-1] = out[-1][:last]
    return out


def _runs(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.name != "meta.json"} if folder.exists() else {}


@pytest.fixture
def cache(tmp_path):
    c = BlockCache(tmp_path / "c")
    c.rescan_seconds = 0.0
    return c


def _key(cache: BlockCache) -> str:
    return cache.register("https://h.org/f.nwb", 1000 * BLOCK, '"e"')


@pytest.fixture
def direct_calls(monkeypatch):
    """Records the outcome of every direct write attempt (True: written with O_DIRECT)."""
    calls: list[bool] = []
    real = cf._write_direct

    def spy(fd, parts, total):
        done = real(fd, parts, total)
        calls.append(done)
        return done

    monkeypatch.setattr(cf, "_write_direct", spy)
    return calls


def test_blocks_start_on_64_byte_boundaries(cache):
    key = _key(cache)
    blocks = [bytes([k]) * 4096 for k in range(8)]
    cache.put_run(key, 4096, 0, blocks)
    cache.flush()
    (path,) = _runs(cache._folder(key)).values()
    raw = path.read_bytes()
    head = cf.header_size(8)
    assert head % 64 == 0 and head >= 24 + 4 * 8  # the unpadded header (v2) was 56 bytes
    assert raw[:4] == b"NSR3" and len(raw) == head + 8 * 4096
    assert raw[24 + 4 * 8: head] == bytes(head - 24 - 4 * 8)  # the padding is zeros
    assert [raw[head + k * 4096: head + (k + 1) * 4096] for k in range(8)] == blocks
    assert struct.unpack_from("<8I", raw, 24) == tuple(zlib.crc32(b) for b in blocks)


def test_a_big_run_goes_to_the_disk_directly_and_reads_back(cache, direct_calls):
    key = _key(cache)
    blocks = _blocks(8, last=1000)
    cache.put_run(key, BLOCK, 40, blocks)
    cache.flush()
    assert len(direct_calls) == 1
    if cf.DIRECT and not direct_calls[0]:
        assert os.stat(cache._folder(key)).st_dev in cf._no_direct  # this file system refused it
    (path,) = _runs(cache._folder(key)).values()
    assert path.stat().st_size == cf.header_size(8) + 7 * BLOCK + 1000  # the padding was cut off
    fresh = BlockCache(cache.directory)  # another process: reads the file
    assert [fresh.get(key, BLOCK, 40 + k, len(b)) for k, b in enumerate(blocks)] == blocks
    # a flipped byte in the 6th block of the big run: that block fails its CRC, the file is dropped
    raw = bytearray(path.read_bytes())
    raw[cf.header_size(8) + 5 * BLOCK + 12345] ^= 0x10
    path.write_bytes(bytes(raw))
    other = BlockCache(cache.directory)
    assert other.get(key, BLOCK, 45, BLOCK) is None
    assert not path.exists() and other.get(key, BLOCK, 40, BLOCK) is None


def test_small_files_are_not_written_directly(cache, direct_calls):
    key = _key(cache)
    cache.put_run(key, 4096, 0, [b"a" * 4096] * 4)  # 16 KiB: through the page cache
    cache.flush()
    assert direct_calls == [] and cache.get(key, 4096, 3, 4096) == b"a" * 4096


def test_a_file_system_refusing_direct_writes_gets_buffered_ones(cache, monkeypatch):
    if not cf.DIRECT:
        pytest.skip("no O_DIRECT here")
    real = cf._set_flags
    tries = []

    def refuse(fd, flags):
        if flags & cf.DIRECT:
            tries.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, flags)

    monkeypatch.setattr(cf, "_set_flags", refuse)
    monkeypatch.setattr(cf, "_no_direct", set())
    key = _key(cache)
    first, second = _blocks(8, seed=1), _blocks(8, seed=2)
    cache.put_run(key, BLOCK, 0, first)
    cache.flush()
    cache.put_run(key, BLOCK, 8, second)
    cache.flush()
    assert len(tries) == 1  # refused once: that file system is not asked again
    fresh = BlockCache(cache.directory)
    assert [fresh.get(key, BLOCK, i, BLOCK) for i in range(16)] == first + second
    assert sorted(p.stat().st_size for p in _runs(cache._folder(key)).values()) == [cf.header_size(8) + 8 * BLOCK] * 2


def test_disk_full_in_a_direct_write_leaves_nothing_and_disables(cache, monkeypatch):
    key = _key(cache)
    real = os.pwrite

    def full(fd, data, offset):
        real(fd, memoryview(data)[:4096], offset)  # a page lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.warns(RuntimeWarning, match="No space left"):
        cache.put_run(key, BLOCK, 0, _blocks(8))
        cache.flush()
    monkeypatch.undo()
    assert not cache.enabled
    if cf.DIRECT:  # (without O_DIRECT the parts went through writev: nothing failed)
        assert _runs(cache._folder(key)) == {}  # no run file, no temporary file
    fresh = BlockCache(cache.directory)
    assert all(fresh.get(key, BLOCK, i, BLOCK) is None for i in range(8))


def test_a_writer_killed_in_a_direct_write_leaves_no_partial_run(tmp_path):
    code = textwrap.dedent(f"""
        import os
        from napstream.io.cache import BlockCache
        real = os.pwrite
        def half_then_killed(fd, data, offset):
            real(fd, memoryview(data)[: len(data) // 2 // 4096 * 4096], offset)
            os._exit(9)
        os.pwrite = half_then_killed
        cache = BlockCache({str(tmp_path / "c")!r})
        key = cache.register("https://h.org/f.nwb", 1000 * {BLOCK}, '"e"')
        cache.put_run(key, {BLOCK}, 0, [bytes([k]) * {BLOCK} for k in range(8)])
        cache.flush()
        os._exit(0)  # not reached when the write was a direct one
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    cache = BlockCache(tmp_path / "c")
    key = cache.register("https://h.org/f.nwb", 1000 * BLOCK, '"e"')
    if proc.returncode == 0:
        assert not cf.DIRECT, "no direct write was tried"
        return
    assert proc.returncode == 9, proc.stderr
    left = _runs(cache._folder(key))
    assert left and all(n.startswith(".tmp-") for n in left)  # only the temporary file
    assert not any(cache.has(key, BLOCK, i, BLOCK) or cache.get(key, BLOCK, i, BLOCK) for i in range(8))
    assert nap.cache_info(tmp_path / "c")["size"] == 0


def test_the_direct_write_buffer_is_freed_when_the_writer_idles(cache, monkeypatch):
    released = []
    real = cf.release_scratch

    def spy(locked=False):
        real(locked)
        released.append(list(cf._scratch))

    monkeypatch.setattr(cf, "release_scratch", spy)
    cache.idle_seconds = 0.05
    key = _key(cache)
    cache.put_run(key, BLOCK, 0, _blocks(8))
    cache.flush()
    writer = cache._writer
    if writer is not None:
        writer.join(5)
    assert released and released[-1] == []  # the writer's last act: the buffer freed


def _v2_folder(directory: Path, key: str, blocks: list[bytes]) -> Path:
    """What napstream wrote before v3: v2/<xx>/<key>/<bs>-<first>-<n>-<bytes>, header not padded."""
    folder = directory / "v2" / key[:2] / key
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text('{"url": "https://h.org/f.nwb", "size": 256000000, "version": "\\"e\\""}')
    head = b"NSR2" + struct.pack("<IQQ", len(blocks), 4096, 0) + struct.pack(f"<{len(blocks)}I", *map(zlib.crc32, blocks))
    (folder / f"4096-0-{len(blocks)}-{4096 * len(blocks)}").write_bytes(head + b"".join(blocks))
    return folder


def test_v2_files_are_not_read_but_counted_and_cleared(tmp_path):
    key = BlockCache.file_key("https://h.org/f.nwb", 1000 * BLOCK, '"e"')
    blocks = [bytes([k]) * 4096 for k in range(4)]
    old = _v2_folder(tmp_path, key, blocks)
    cache = BlockCache(tmp_path)
    assert cache.register("https://h.org/f.nwb", 1000 * BLOCK, '"e"') == key
    assert cache.get(key, 4096, 0, 4096) is None and not cache.has(key, 4096, 1, 4096)  # not read
    info = nap.cache_info(tmp_path)
    assert info["size"] == 24 + 16 + 4 * 4096 and sum(e["blocks"] for e in info["entries"]) == 4
    assert cache.evict(target=0) == 24 + 16 + 4 * 4096 and _runs(old) == {}  # evicted like any run file
    _v2_folder(tmp_path / "again", key, blocks)
    nap.clear_cache(tmp_path / "again")
    assert not (tmp_path / "again" / "v2").exists()


def test_a_slow_disk_gets_buffered_writes(cache, monkeypatch, direct_calls):
    if not cf.DIRECT:
        pytest.skip("no O_DIRECT here")
    monkeypatch.setattr(cf, "_no_direct", set())
    monkeypatch.setattr(cf, "_strikes", {})
    monkeypatch.setattr(cf, "DIRECT_MIN_RATE", 1e15)  # every direct write is "slow"
    key = _key(cache)
    blocks = _blocks(8)
    for r in range(cf.DIRECT_STRIKES + 2):
        cache.put_run(key, BLOCK, 8 * r, blocks)
        cache.flush()
    if not direct_calls[0]:
        pytest.skip("this file system refuses O_DIRECT")
    assert direct_calls == [True] * cf.DIRECT_STRIKES + [False] * 2  # then through the page cache
    fresh = BlockCache(cache.directory)
    assert all(fresh.get(key, BLOCK, 8 * r + k, BLOCK) == blocks[k] for r in range(cf.DIRECT_STRIKES + 2) for k in range(8))
