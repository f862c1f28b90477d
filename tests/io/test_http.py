"""HTTPSource's open: a cold open learns size and version from the first and last block GETs (no
HEAD), a known URL is validated with one HEAD, and no byte is fetched twice. The reference is
always the bytes of the file on disk and what the loopback server saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napstream.errors import RemoteChangedError
from napstream.io import open_source
from napstream.io.cache import BlockCache
from napstream.testing.http_server import FaultPlan

BLOCK = 4096


def _write(root: Path, name: str, size: int, seed: int = 0) -> bytes:
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    (root / name).write_bytes(data)
    return data


@pytest.fixture
def served(http_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    files = {
        "big.bin": _write(root, "big.bin", 10 * BLOCK + 123, 1),  # short last block
        "even.bin": _write(root, "even.bin", 6 * BLOCK, 2),  # last block complete
        "small.bin": _write(root, "small.bin", 1000, 3),  # smaller than one block
        "empty.bin": _write(root, "empty.bin", 0),
    }
    return http_server(root), files


@pytest.mark.parametrize("name", ["big.bin", "even.bin", "small.bin"])
def test_cold_open_is_two_concurrent_gets_and_no_head(served, tmp_path, name):
    server, files = served
    data = files[name]
    server.reset_stats()
    with open_source(server.url_for(name), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.size == len(data)
        assert src.stats.round_trips == 1
        st = server.stats
        assert st.by_method == {"GET": 2}
        assert sorted(r.range for r in st.records) == sorted([f"bytes=0-{BLOCK - 1}", f"bytes=-{BLOCK}"])
        # both ends are served without another request
        last = (len(data) - 1) // BLOCK * BLOCK
        assert src.read_range(0, min(BLOCK, len(data))) == data[:BLOCK]
        assert src.read_range(last, len(data)) == data[last:]
        assert server.stats.requests == 2
        # the whole file: every byte crosses the wire once (the suffix's spare bytes are reused)
        assert src.read_range(0, len(data)) == data
    # a file smaller than a block comes whole in both answers; otherwise each byte comes once
    assert server.stats.bytes_sent == (len(data) if len(data) > BLOCK else 2 * len(data))


def test_every_byte_is_fetched_once_after_a_cold_open(served, tmp_path):
    server, files = served
    data = files["big.bin"]
    server.reset_stats()
    with open_source(server.url_for("big.bin"), cache=False, block_size=BLOCK) as src:
        src.readahead_blocks = 0
        for start in range(0, len(data), 1000):  # many small reads, like h5py's
            assert src.read_range(start, min(start + 1000, len(data))) == data[start: start + 1000]
        assert src.stats.bytes_fetched == len(data)
    assert server.stats.bytes_sent == len(data)


def test_known_url_is_validated_with_one_head(served, tmp_path):
    server, files = served
    url = server.url_for("big.bin", query="sig=1")
    with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, 10) == files["big.bin"][:10]
    server.reset_stats()
    with open_source(server.url_for("big.bin", query="sig=2"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.read_range(0, len(files["big.bin"])) == files["big.bin"]
        assert server.stats.by_method.get("HEAD") == 1
    assert BlockCache(tmp_path / "c").seen(url) and not BlockCache(tmp_path / "other").seen(url)


def test_empty_file_falls_back_to_head(served, tmp_path):
    server, _ = served
    with open_source(server.url_for("empty.bin"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.size == 0 and src.read_range(0, 0) == b""
    assert server.stats.by_method.get("HEAD") == 1


def test_server_ignoring_range_at_open(served, tmp_path):
    server, files = served
    data = files["big.bin"]
    server.set_faults(FaultPlan("ignore_range", count=None, probability=1.0))
    with open_source(server.url_for("big.bin"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        assert src.size == len(data)
        assert src.read_range(0, len(data)) == data


def test_versions_differing_between_the_two_gets_is_a_changed_file(served, tmp_path):
    server, _ = served
    server.set_faults(FaultPlan("change_etag", count=None, probability=1.0))
    with pytest.raises(RemoteChangedError, match="big.bin"):
        open_source(server.url_for("big.bin"), cache_dir=tmp_path / "c", block_size=BLOCK)


def test_blocks_are_written_in_the_background_and_served_meanwhile(tmp_path):
    cache = BlockCache(tmp_path)
    key = cache.register("https://h.org/f.nwb", 10 * BLOCK, '"e"')
    blocks = {i: bytes([i + 1]) * BLOCK for i in range(5)}
    for i, block in blocks.items():
        cache.put(key, BLOCK, i, block)
        assert cache.has(key, BLOCK, i, BLOCK) and cache.get(key, BLOCK, i, BLOCK) == block
    cache.flush()
    assert not cache._pending
    fresh = BlockCache(tmp_path)  # a new object reads the files themselves
    for i, block in blocks.items():
        assert fresh.get(key, BLOCK, i, BLOCK) == block


def test_closing_a_source_flushes_its_blocks(served, tmp_path):
    server, files = served
    data = files["big.bin"]
    with open_source(server.url_for("big.bin"), cache_dir=tmp_path / "c", block_size=BLOCK) as src:
        src.read_range(0, len(data))
        key = src.cache_key
    on_disk = BlockCache(tmp_path / "c").blocks_of(key)  # a new object: what the files hold
    assert [i for _, i, _ in on_disk] == list(range(-(-len(data) // BLOCK)))


def test_only_unplanned_forward_misses_read_ahead(served):
    from napstream.io import FileObject

    server, files = served
    data = files["big.bin"]  # 11 blocks, the last one short
    with open_source(server.url_for("big.bin"), cache=False, block_size=BLOCK) as src:
        ahead = src.readahead_blocks
        assert ahead >= 1
        assert src.read_range(BLOCK, BLOCK + 10) == data[BLOCK: BLOCK + 10]  # planned, after block 0: no read-ahead
        assert not any(src._present(i) for i in range(2, 2 + ahead))
        fo = FileObject(src)
        fo.seek(8 * BLOCK)
        assert fo.read(10) == data[8 * BLOCK: 8 * BLOCK + 10]  # h5py-like jump: no read-ahead either
        assert not src._present(9)
        fo.seek(2 * BLOCK)
        assert fo.read(10) == data[2 * BLOCK: 2 * BLOCK + 10]  # continues block 1: the next blocks come along
        assert all(src._present(i) for i in range(2, 3 + ahead)) and not src._present(3 + ahead)
        requests = server.stats.requests
        fo.seek(3 * BLOCK)
        assert fo.read(ahead * BLOCK - 5) == data[3 * BLOCK: (3 + ahead) * BLOCK - 5]
        assert server.stats.requests == requests  # no request: already here
        fo.seek(0)
        assert fo.read() == data
    assert server.stats.bytes_sent == len(data)  # each byte once
