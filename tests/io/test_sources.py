"""ByteSource conformance suite: every source must return the file's real bytes.

``SourceTests`` holds the checks; each source kind subclasses it and provides ``make_source``.
The reference is always the bytes of the file on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napstream.errors import InvalidInputError, InvalidTypeError
from napstream.io import ByteSource, open_source
from napstream.io.http import HTTPSource
from napstream.io.local import LocalSource

BLOCK = 4096
SIZE = 10 * BLOCK + 123  # several blocks and a short last block
SECRET = "X-Amz-Signature=s3cr3t&token=abc"


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    root = tmp_path_factory.mktemp("payload")
    data = np.random.default_rng(42).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    path = root / "data.bin"
    path.write_bytes(data)
    return path, data


class SourceTests:
    """Checks every ByteSource passes; subclasses define ``make_source(payload, ...)``."""

    @pytest.fixture
    def source(self, payload, http_server, tmp_path):
        src = self.make_source(payload, http_server, tmp_path)
        yield src
        src.close()

    def make_source(self, payload, http_server, tmp_path):  # pragma: no cover - abstract
        raise NotImplementedError

    def test_is_a_byte_source(self, source, payload):
        assert isinstance(source, ByteSource)
        assert source.size == len(payload[1])

    def test_random_ranges_match_file_bytes(self, source, payload):
        data = payload[1]
        rng = np.random.default_rng(0)
        for _ in range(40):
            a, b = sorted(int(x) for x in rng.integers(0, len(data) + 1, 2))
            assert source.read_range(a, b) == data[a:b]

    @pytest.mark.parametrize(
        "start, end",
        [(0, 0), (SIZE, SIZE), (0, SIZE), (SIZE - 1, SIZE), (0, 1), (BLOCK - 1, BLOCK + 1),
         (BLOCK, 2 * BLOCK), (3 * BLOCK + 5, 3 * BLOCK + 5), (10 * BLOCK, SIZE)],
    )
    def test_edge_ranges(self, source, payload, start, end):
        assert source.read_range(start, end) == payload[1][start:end]

    def test_read_ranges_keeps_order_and_overlaps(self, source, payload):
        data = payload[1]
        ranges = [(SIZE - 10, SIZE), (0, 3), (5, BLOCK * 3), (100, 200), (150, 250), (7, 7)]
        assert source.read_ranges(ranges) == [data[a:b] for a, b in ranges]
        assert source.read_ranges([]) == []

    def test_numpy_integer_offsets(self, source, payload):
        assert source.read_range(np.int64(3), np.uint32(9)) == payload[1][3:9]

    def test_prefetch_then_read(self, source, payload):
        data = payload[1]
        source.prefetch([(BLOCK, 4 * BLOCK), (SIZE - 50, SIZE)])
        assert source.read_range(BLOCK + 7, 4 * BLOCK - 7) == data[BLOCK + 7: 4 * BLOCK - 7]
        assert source.read_range(SIZE - 50, SIZE) == data[SIZE - 50:]

    @pytest.mark.parametrize("start, end", [(-1, 5), (5, 4), (0, SIZE + 1), (SIZE + 1, SIZE + 2)])
    def test_bad_ranges_raise_value_errors(self, source, start, end):
        with pytest.raises(InvalidInputError, match="0 <= start <= end <= size") as err:
            source.read_range(start, end)
        assert isinstance(err.value, ValueError)
        with pytest.raises(ValueError):
            source.read_ranges([(0, 1), (start, end)])
        with pytest.raises(ValueError):
            source.prefetch([(start, end)])

    @pytest.mark.parametrize("start, end", [(0.0, 5), (0, "5"), (True, 3), (None, 2)])
    def test_bad_range_types_raise_type_errors(self, source, start, end):
        with pytest.raises(InvalidTypeError, match="integer byte offset") as err:
            source.read_range(start, end)
        assert isinstance(err.value, TypeError)

    @pytest.mark.parametrize("ranges", [[(0,)], [5], "ab", 3])
    def test_malformed_range_lists(self, source, ranges):
        with pytest.raises((InvalidInputError, InvalidTypeError), match="ranges"):
            source.read_ranges(ranges)

    def test_closed_source_refuses_reads(self, source):
        source.close()
        source.close()  # idempotent
        assert source.closed
        with pytest.raises(InvalidInputError, match="closed"):
            source.read_range(0, 1)

    def test_description_is_safe(self, source):
        assert "s3cr3t" not in source.description and "token" not in source.description
        assert "s3cr3t" not in repr(source)

    def test_stats_count_bytes(self, source, payload):
        before = source.stats.copy()
        source.read_range(0, SIZE)
        delta = source.stats - before
        assert delta.bytes_fetched + delta.bytes_from_cache >= SIZE


class TestLocalSource(SourceTests):
    def make_source(self, payload, http_server, tmp_path):
        return open_source(payload[0])

    def test_kind(self, source):
        assert isinstance(source, LocalSource) and not source.is_remote

    def test_file_url_and_pathlike(self, payload):
        with open_source(f"file://{payload[0]}") as a, open_source(Path(payload[0])) as b:
            assert a.read_range(0, 10) == b.read_range(0, 10) == payload[1][:10]


class TestHTTPSource(SourceTests):
    cache = True

    def make_source(self, payload, http_server, tmp_path):
        server = http_server(payload[0].parent)
        return open_source(
            server.url_for("data.bin", query=SECRET), cache=self.cache,
            cache_dir=tmp_path / "cache", block_size=BLOCK, max_concurrency=3,
        )

    def test_kind(self, source):
        assert isinstance(source, HTTPSource) and source.is_remote
        assert source.description.endswith("/data.bin")

    def test_many_ranges_fetch_in_one_round_trip(self, source, payload):
        before = source.stats.copy()
        ranges = [(i * BLOCK + 1, i * BLOCK + 9) for i in range(1, 9)]
        assert source.read_ranges(ranges) == [payload[1][a:b] for a, b in ranges]
        assert (source.stats - before).round_trips == 1


class TestHTTPSourceNoCache(TestHTTPSource):
    cache = False

    def test_no_files_written(self, source, tmp_path, payload):
        source.read_range(0, SIZE)
        assert not (tmp_path / "cache").exists()


class TestRedirectedHTTPSource(SourceTests):
    """DANDI's download URLs answer 302 to the storage URL: reads follow redirects."""

    def make_source(self, payload, http_server, tmp_path):
        server = http_server(payload[0].parent)
        return open_source(server.url + "/redirect/data.bin?" + SECRET, cache_dir=tmp_path / "c", block_size=BLOCK)


@pytest.mark.parametrize(
    "bad, exc",
    [(42, InvalidTypeError), ("ftp://host/file.nwb", InvalidInputError), ("s3://bucket-only", InvalidInputError)],
)
def test_open_source_rejects_bad_locations(bad, exc):
    with pytest.raises(exc, match="source"):
        open_source(bad)


def test_open_source_rejects_bad_options(payload):
    with pytest.raises(InvalidTypeError, match="cache must be True or False"):
        open_source(payload[0], cache="yes")


def test_open_source_missing_local_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "nope.nwb")


def test_s3_urls_map_to_the_public_https_endpoint():
    from napstream.io.sources import s3_to_https

    assert s3_to_https("s3://dandiarchive/blobs/a b/c") == "https://dandiarchive.s3.amazonaws.com/blobs/a%20b/c"


def test_remote_options_validated(payload, http_server, tmp_path):
    server = http_server(payload[0].parent)
    url = server.url_for("data.bin")
    for kwargs, match in [({"block_size": 0}, "block_size"), ({"max_concurrency": 0}, "max_concurrency"),
                          ({"retries": -1}, "retries"), ({"timeout": 0}, "timeout")]:
        with pytest.raises(InvalidInputError, match=match):
            open_source(url, cache_dir=tmp_path, **kwargs)


def test_block_size_accepts_strings(payload, http_server, tmp_path):
    server = http_server(payload[0].parent)
    with open_source(server.url_for("data.bin"), cache_dir=tmp_path, block_size="8KiB") as src:
        assert src.block_size == 8192
        assert src.read_range(0, SIZE) == payload[1]


def test_local_source_is_thread_safe(payload):
    from concurrent.futures import ThreadPoolExecutor

    data = payload[1]
    with open_source(payload[0]) as src, ThreadPoolExecutor(4) as pool:
        starts = list(range(0, SIZE - 100, 997))
        out = list(pool.map(lambda a: src.read_range(a, a + 100), starts))
    assert out == [data[a:a + 100] for a in starts]


def test_http_source_is_thread_safe(payload, http_server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    server = http_server(payload[0].parent)
    data = payload[1]
    with open_source(server.url_for("data.bin"), cache_dir=tmp_path, block_size=BLOCK) as src, ThreadPoolExecutor(4) as pool:
        starts = list(range(0, SIZE - 3000, 1231))
        out = list(pool.map(lambda a: src.read_range(a, a + 3000), starts))
    assert out == [data[a:a + 3000] for a in starts]


def test_empty_remote_file(tmp_path, http_server):
    (tmp_path / "empty.bin").write_bytes(b"")
    server = http_server(tmp_path)
    with open_source(server.url_for("empty.bin"), cache_dir=tmp_path / "c") as src:
        assert src.size == 0 and src.read_range(0, 0) == b""
    assert os.path.exists(tmp_path / "empty.bin")


def test_dandi_urls_resolve_through_the_api(payload, dandi_server, tmp_path):
    from napstream.config import config

    dandi = dandi_server({"sub-1/sub-1_ses-1.nwb": payload[0]})
    with config.override(dandi_api_url=dandi.api_url):
        url = "dandi://000582@draft/sub-1/sub-1_ses-1.nwb"
        with open_source(url, cache_dir=tmp_path / "c", block_size=BLOCK) as src:
            assert src.description == url and src.locator == url
            assert src.read_range(0, SIZE) == payload[1]
        with open_source("dandi://000582/sub-1/sub-1_ses-1.nwb", cache=False) as src:
            assert src.read_range(SIZE - 100, SIZE) == payload[1][-100:]


def test_http_reads_work_inside_a_running_event_loop(payload, http_server, tmp_path):
    """Jupyter runs cells inside a running asyncio loop: synchronous reads must still work there."""
    import asyncio

    server = http_server(payload[0].parent)

    async def main():
        with open_source(server.url_for("data.bin"), cache=False, block_size=BLOCK) as src:
            return src.read_ranges([(0, 100), (SIZE - 100, SIZE)])

    assert asyncio.run(main()) == [payload[1][:100], payload[1][-100:]]
