"""napstream's own walk of a chunk index before h5py lists the chunks (nwb/prefetch.py
``fetch_chunk_btree``, io/btree.py ``walk_chunk_btree``, nwb/h5meta.py ``chunk_btree_root``).

The walk only fetches: the chunk list stays h5py's (``chunk_iter``), so every table here is
compared with the local file's chunks listed by another HDF5 call (``get_chunk_info``), and the
walk itself is checked to visit every node (the leaves' children are exactly the chunks).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from napstream.io import open_source
from napstream.io.btree import node_bytes, parse_node, walk_chunk_btree
from napstream.io.fileobj import FileObject
from napstream.io.local import LocalSource
from napstream.nwb.h5meta import chunk_btree_root
from napstream.nwb.prefetch import ChunkIndex, fetch_chunk_btree

REALNWB = Path(__file__).resolve().parents[2].parent / "shared" / "realnwb"


def _write_layouts(path: Path) -> None:
    rng = np.random.default_rng(3)
    with h5py.File(path, "w", libver="earliest") as f:
        # 4500 chunks of 512 bytes: 71 leaves under 2 inner nodes under the root (3 levels), spread
        # over 2.3 MB (not all fetched with the open's blocks)
        f.create_dataset("deep", data=rng.integers(0, 9, 4500 * 256).astype("i2"), chunks=(256,))
        # partial edge chunks on both axes, compressed, one chunk stored with a filter mask
        d = f.create_dataset("edges", data=rng.integers(0, 99, (1003, 7)).astype("i4"), chunks=(10, 3),
                             compression="gzip")
        d.id.write_direct_chunk((0, 0), np.zeros((10, 3), "i4").tobytes(), filter_mask=1)
        f.create_dataset("cube", data=rng.normal(size=(20, 9, 5)), chunks=(3, 4, 2), shuffle=True,
                         compression="gzip", fletcher32=True)
        f.create_dataset("empty", shape=(0, 4), maxshape=(None, 4), chunks=(10, 4), dtype="f4")
        f.create_dataset("unwritten", shape=(1000,), chunks=(10,), dtype="f8", fillvalue=7.0)
        s = f.create_dataset("sparse", shape=(1000,), chunks=(10,), dtype="f8", fillvalue=-1.0)
        s[100:150] = 1.0
        s[905:907] = 2.0
        g = f.create_dataset("grown", shape=(50, 3), maxshape=(None, 3), chunks=(4, 3), dtype="u2")
        g[:] = 1
        g.resize((5000, 3))
        g[4000:] = 2
    with h5py.File(path, "a", libver="latest") as f:  # newer chunk indexes: left to h5py
        f.create_dataset("fixed", data=np.arange(5000.0), chunks=(10,))  # fixed array
        e = f.create_dataset("extensible", shape=(100,), maxshape=(None,), chunks=(10,), dtype="f8")
        e[:] = 3.0  # extensible array
        b = f.create_dataset("v2tree", shape=(30, 30), maxshape=(None, None), chunks=(4, 4), dtype="f8")
        b[:] = 4.0  # version 2 B-tree


NAMES = ["deep", "edges", "cube", "empty", "unwritten", "sparse", "grown", "fixed", "extensible", "v2tree"]
V1 = {"deep", "edges", "cube", "sparse", "grown"}  # allocated version 1 B-trees


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index") / "layouts.h5"
    _write_layouts(path)
    return path


_REFERENCE: dict[tuple[str, str], list[tuple[tuple[int, ...], int, int, int]]] = {}


def _reference(dset: h5py.Dataset) -> list[tuple[tuple[int, ...], int, int, int]]:
    """Every chunk by ``get_chunk_info_by_coord`` (not ``chunk_iter``, which the table uses), sorted."""
    key = (dset.file.filename, dset.name)
    if key not in _REFERENCE:
        _REFERENCE[key] = _listed(dset)
    return _REFERENCE[key]


def _listed(dset: h5py.Dataset) -> list[tuple[tuple[int, ...], int, int, int]]:
    import itertools

    out = []
    grid = [range(0, n, c) for n, c in zip(dset.shape, dset.chunks)]
    for coord in itertools.product(*grid):
        info = dset.id.get_chunk_info_by_coord(coord)
        if info.byte_offset is not None:
            out.append((tuple(int(c) for c in coord), int(info.byte_offset), int(info.size), int(info.filter_mask)))
    assert len(out) == dset.id.get_num_chunks()
    return sorted(out)


def _rows(table) -> list[tuple[tuple[int, ...], int, int, int]]:
    return sorted((tuple(int(c) for c in coord), int(a), int(n), int(m))
                  for coord, a, n, m in zip(table.coords, table.starts, table.sizes, table.masks))


def _leaf_chunks(path: Path, name: str) -> list[int] | None:
    """Chunk addresses in the leaves of ``name``'s chunk B-tree, read with napstream's parser."""
    src = LocalSource(str(path))
    with h5py.File(path, "r") as f:
        root = chunk_btree_root(src, h5py.h5g.get_objinfo(f[name].id).objno[0])
    if root is None:
        return None
    addr, rank1, k, base = root
    out, todo = [], [addr]
    while todo:
        a = todo.pop()
        level, children = parse_node(src.read_range(a, min(a + node_bytes(rank1, k), src.size)), rank1, src.size)
        (out if level == 0 else todo).extend(c + base for c in children)
    return sorted(out)


@pytest.mark.parametrize("name", NAMES)
def test_parser_finds_exactly_the_chunks_of_every_version_1_tree(layouts, name):
    leaves = _leaf_chunks(layouts, name)
    with h5py.File(layouts, "r") as f:
        want = sorted(a for _, a, _, _ in _reference(f[name]))
    if name in V1:
        assert leaves == want
    else:  # no chunk allocated (no tree yet) or a newer index: no root, h5py walks it
        assert leaves is None


def test_deep_tree_has_three_levels(layouts):
    src = LocalSource(str(layouts))
    with h5py.File(layouts, "r") as f:
        addr, rank1, k, _ = chunk_btree_root(src, h5py.h5g.get_objinfo(f["deep"].id).objno[0])
    level, _ = parse_node(src.read_range(addr, addr + node_bytes(rank1, k)), rank1, src.size)
    assert level == 2  # the test below walks root, inner nodes and leaves


@pytest.fixture(scope="module")
def server(layouts):
    from napstream.testing.http_server import RangeHTTPServer

    srv = RangeHTTPServer(layouts.parent).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("name", NAMES)
def test_remote_table_equals_local_chunks(layouts, server, tmp_path, name):
    src = open_source(server.url_for(layouts.name), cache_dir=tmp_path)
    try:
        with h5py.File(FileObject(src), "r") as f, h5py.File(layouts, "r") as local:
            dset = f[name]
            trips = fetch_chunk_btree(src, dset)
            before = src.stats.bytes_fetched
            table = ChunkIndex(dset, source=src).table()  # walks again: every node held now
            assert _rows(table) == _reference(local[name])
            if name in V1:
                assert trips is not None and trips <= 3
                assert src.stats.bytes_fetched == before  # h5py's chunk_iter found every node held
            else:
                assert trips is None
    finally:
        src.close()


def test_walk_fetches_a_level_per_round_trip(layouts, server, tmp_path):
    src = open_source(server.url_for(layouts.name), cache_dir=tmp_path)
    asked: list[list[tuple[int, int]]] = []
    real = src.prefetch_nodes

    def prefetch_nodes(ranges):
        ranges = list(ranges)
        asked.append(ranges)
        real(ranges)

    src.prefetch_nodes = prefetch_nodes  # type: ignore[method-assign]
    try:
        with h5py.File(FileObject(src), "r") as f:
            trips = fetch_chunk_btree(src, f["deep"])
    finally:
        src.close()
    assert trips == len(asked) <= 3
    assert sum(len(a) for a in asked) <= 1 + 2 + 71  # each node asked for once at most
    assert asked and all(len(a) > 0 for a in asked)


def test_walk_stops_on_a_node_that_does_not_parse_and_h5py_lists_the_chunks(layouts, server, tmp_path, monkeypatch):
    import napstream.io.btree as btree

    real = btree.parse_node
    seen = []

    def flaky(data, rank1, file_size):
        seen.append(1)
        return None if len(seen) == 3 else real(data, rank1, file_size)

    monkeypatch.setattr(btree, "parse_node", flaky)
    src = open_source(server.url_for(layouts.name), cache_dir=tmp_path)
    try:
        with h5py.File(FileObject(src), "r") as f, h5py.File(layouts, "r") as local:
            index = ChunkIndex(f["deep"], source=src)
            assert fetch_chunk_btree(src, f["deep"]) is None
            assert _rows(index.table()) == _reference(local["deep"])
    finally:
        src.close()


def test_walk_stops_within_its_byte_budget():
    n = node_bytes(2, k=2)
    leaves = [(k + 1) * n for k in range(4)]

    def node(level, children):
        body = bytearray(b"TREE" + bytes([1, level]) + len(children).to_bytes(2, "little") + bytes(16))
        for c in children + [0] * (4 - len(children)):
            body += bytes(24) + c.to_bytes(8, "little")
        return bytes(body + bytes(24))

    disk = bytearray(6 * n)
    disk[0:n] = node(1, leaves)
    for a in leaves:
        disk[a:a + n] = node(0, [5 * n + 1])
    held: set[int] = set()
    peek = lambda a, b: bytes(disk[a:b]) if a in held else None  # noqa: E731

    def fetch(ranges):
        held.update(a for a, _ in ranges)

    assert walk_chunk_btree(0, 2, 2, len(disk), peek, fetch, max_bytes=5 * n) == 2
    held.clear()
    assert walk_chunk_btree(0, 2, 2, len(disk), peek, fetch, max_bytes=3 * n) is None  # the leaves: too many
    held.clear()
    disk[leaves[2] + 5] = 1  # a leaf claiming level 1: not this tree's shape, stop
    assert walk_chunk_btree(0, 2, 2, len(disk), peek, fetch, max_bytes=10 * n) is None


def test_local_sources_never_walk(layouts):
    with h5py.File(layouts, "r") as f:
        index = ChunkIndex(f["deep"], source=LocalSource(str(layouts)))
        assert index.source is None
        assert _rows(index.table()) == _reference(f["deep"])


def _real_files() -> list[Path]:
    return sorted(REALNWB.glob("*.nwb")) if REALNWB.is_dir() else []


@pytest.mark.skipif(not _real_files(), reason="no ../shared/realnwb")
def test_real_files_remote_tables_equal_local(http_server, tmp_path):
    server = http_server(REALNWB)
    checked = 0
    for path in _real_files():
        with h5py.File(path, "r") as local:
            names: list[str] = []
            local.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.chunks else None)
            if not names:
                continue
            src = open_source(server.url_for(path.name), cache_dir=tmp_path / path.stem)
            try:
                with h5py.File(FileObject(src), "r") as f:
                    for name in names:
                        leaves = _leaf_chunks(path, name)
                        want = _reference(local[name])
                        if leaves is not None:
                            assert leaves == sorted(a for _, a, _, _ in want), (path.name, name)
                        assert _rows(ChunkIndex(f[name], source=src).table()) == want, (path.name, name)
                        checked += 1
            finally:
                src.close()
    assert checked > 0


def test_file_with_a_user_block(tmp_path, http_server):
    """Addresses in the file are relative to the superblock (512 bytes in here)."""
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("x", data=np.arange(200 * 300, dtype="f4").reshape(200, 300), chunks=(2, 300))
    leaves = _leaf_chunks(path, "x")
    with h5py.File(path, "r") as local:
        want = _reference(local["x"])
    assert leaves == sorted(a for _, a, _, _ in want)
    server = http_server(tmp_path)
    src = open_source(server.url_for(path.name), cache_dir=tmp_path / "cache")
    try:
        with h5py.File(FileObject(src), "r") as f:
            assert fetch_chunk_btree(src, f["x"]) is not None
            before = src.stats.bytes_fetched
            assert _rows(ChunkIndex(f["x"], source=src).table()) == want
            assert src.stats.bytes_fetched == before
    finally:
        src.close()


def test_h5py_own_walk_fetches_sibling_nodes_on_the_small_grid(tmp_path, http_server):
    """An index napstream did not walk (h5py's ``chunk_iter`` called directly): once h5py reads three
    siblings in a row the rest come in one go, a few KiB around each node, not whole blocks."""
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:  # 4500 chunks of 4 KiB: 71 leaves spread over 18 MB
        f.create_dataset("x", data=np.arange(4500 * 512, dtype="f8"), chunks=(512,))
    with h5py.File(path, "r") as local:
        want = _reference(local["x"])
    server = http_server(tmp_path)
    src = open_source(server.url_for(path.name), cache_dir=tmp_path / "cache")
    try:
        with h5py.File(FileObject(src), "r") as f:
            dset = f["x"]
            before = (src.stats.bytes_fetched, src.stats.round_trips)
            got = []
            dset.id.chunk_iter(lambda c: got.append((tuple(c.chunk_offset), c.byte_offset, c.size, c.filter_mask)))
            fetched = src.stats.bytes_fetched - before[0]
    finally:
        src.close()
    assert sorted(got) == want
    assert fetched < 71 * 64 * 1024, fetched  # whole 256 KiB blocks would be ~18 MB
