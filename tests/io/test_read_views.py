"""read_views: the bytes of ranges for a decoder, as views of the cached blocks where a range lies
inside one block (no copy), joined once where it spans several; always the file's bytes."""

from __future__ import annotations

import numpy as np
import pytest

from napstream.io.http import HTTPSource
from napstream.io.local import LocalSource

BLOCK = 64 * 1024
SIZE = 20 * BLOCK + 777


@pytest.fixture
def served(http_server, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(5).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    return http_server(root), data, root / "f.bin"


RANGES = [(10, 5000), (3 * BLOCK - 100, 3 * BLOCK + 100), (4 * BLOCK, 5 * BLOCK), (6 * BLOCK + 1, 9 * BLOCK - 1),
          (SIZE - 300, SIZE), (7, 7)]


def test_views_are_the_files_bytes_and_share_the_cached_block(served):
    server, data, _ = served
    with HTTPSource(server.url_for("f.bin"), cache=None, block_size=BLOCK) as src:
        views = src.read_views(RANGES)
        assert [bytes(v) for v in views] == [data[a:b] for a, b in RANGES]
        inside = views[0]  # inside block 0: a view of the cached block itself
        assert isinstance(inside, memoryview) and inside.readonly and inside.obj is src.memory.peek(0)
        assert isinstance(views[1], bytes)  # across a block edge: joined
        copies = src.read_ranges(RANGES)  # read_ranges still hands out bytes of their own
        assert all(type(c) is bytes for c in copies) and copies == [data[a:b] for a, b in RANGES]


def test_a_local_source_reads_views_as_ranges(served):
    _, data, path = served
    with LocalSource(str(path)) as src:
        assert [bytes(v) for v in src.read_views(RANGES)] == [data[a:b] for a, b in RANGES]
