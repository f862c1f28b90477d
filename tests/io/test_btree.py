"""Walks of chunk indexes (io/btree.py): the rest of the sibling B-tree nodes in one round trip."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from napstream.io.base import BlockedSource
from napstream.io.btree import SiblingWalk, in_lanes, parse_children
from napstream.io.fileobj import FileObject

BS = 16 * 1024


class CountingSource(BlockedSource):
    """The bytes of a file, fetched through the block cache; counts round trips (batches)."""

    def __init__(self, data: bytes):
        self.data = data
        self.batches = 0
        super().__init__(len(data), block_size=BS, description="counting")

    def _fetch_ranges(self, ranges):
        self.batches += 1
        return [self.data[r.start:r.end] for r in ranges]


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """A file whose 1-D dataset has 2000 chunks of 2 KiB: a chunk index of dozens of leaf nodes."""
    path = tmp_path_factory.mktemp("btree") / "chunked.h5"
    with h5py.File(path, "w", libver="earliest") as f:
        f.create_dataset("x", data=np.arange(2000 * 256, dtype="f8"), chunks=(256,))
    return path


def _chunks(dsetid):
    out = []
    dsetid.chunk_iter(lambda info: out.append((info.chunk_offset, info.byte_offset, info.size)))
    return out


@pytest.mark.parametrize("walk", [True, False])
def test_chunk_index_walk_in_few_round_trips(chunked, walk, monkeypatch):
    monkeypatch.setattr(BlockedSource, "walk_siblings", walk)
    monkeypatch.setattr(BlockedSource, "walk_lanes", 1)  # one batch after another: each call is a trip
    with h5py.File(chunked, "r") as f:
        expected = _chunks(f["x"].id)
    src = CountingSource(chunked.read_bytes())
    with h5py.File(FileObject(src), "r") as f:
        dset = f["x"]
        before = src.batches
        got = _chunks(dset.id)
        trips = src.batches - before
    assert got == expected  # the same index, read remotely
    if walk:
        assert trips <= 4, trips
    else:
        assert trips >= 20, trips  # one round trip per leaf node: what the walk saves


def test_parse_children_of_a_real_root(chunked):
    data = chunked.read_bytes()
    roots = []
    at = data.find(b"TREE")
    while at >= 0:
        if data[at + 4] == 1 and data[at + 5] >= 1:
            roots.append(at)
        at = data.find(b"TREE", at + 1)
    assert roots, "the test file should have an inner chunk index node"
    node = roots[0]
    # node size from a leaf: all nodes of the tree have one size; try the sizes parse accepts
    children = None
    for size in range(24, 8192):
        children = parse_children(data[node: node + size], len(data))
        if children:
            break
    assert children and all(data[c: c + 4] == b"TREE" and data[c + 4] == 1 for c in children)


def test_lookups_fetch_nothing_ahead():
    walk = SiblingWalk(file_size=10**6)
    ks = 8 + 8 * 2
    body = bytearray(b"TREE" + bytes([1, 1]) + (3).to_bytes(2, "little") + bytes(16))
    for c in (1000, 5000, 9000, 0):
        body += bytes(ks) + c.to_bytes(8, "little")
    root = bytes(body + bytes(ks))
    leaf = b"TREE" + bytes([1, 0]) + bytes(len(root) - 6)
    assert walk.seen(100, root) == []
    assert walk.seen(5000, leaf) == []  # one child read: a lookup of one chunk
    assert walk.seen(1000, leaf) == []  # out of order: not a walk either
    walk = SiblingWalk(file_size=10**6)
    walk.seen(100, root)
    assert walk.seen(1000, leaf) == [] and walk.seen(5000, leaf) == []  # a read spanning two leaves
    assert parse_children(leaf, 10**6) is None
    assert parse_children(b"TREX" + root[4:], 10**6) is None


class MeetingSource(CountingSource):
    """Batches of several requests wait (at most 10 s) for a second such batch to be out at the
    same time: they meet only when the sibling batches go out together."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.meeting = threading.Barrier(2, timeout=10)
        self.met = False

    def _fetch_ranges(self, ranges):
        if len(ranges) > 1 and not self.meeting.broken and not self.met:
            try:
                self.meeting.wait()
                self.met = True
            except threading.BrokenBarrierError:
                pass
        return super()._fetch_ranges(ranges)


@pytest.mark.parametrize("lanes", [8, 1])
def test_sibling_batches_go_out_together(chunked, lanes, monkeypatch):
    """More siblings than ``max_concurrency``: their batches are out at once (lanes), not one
    round trip after another, and the index read is the same."""
    monkeypatch.setattr(BlockedSource, "walk_lanes", lanes)
    with h5py.File(chunked, "r") as f:
        expected = _chunks(f["x"].id)
    src = MeetingSource(chunked.read_bytes())
    src.max_concurrency = 2  # the small file's dozens of leaves: several batches
    if lanes == 1:
        src.meeting = threading.Barrier(2, timeout=0.5)  # nobody comes: don't wait long
    with h5py.File(FileObject(src), "r") as f:
        got = _chunks(f["x"].id)
    assert got == expected
    assert src.met is (lanes > 1)


def test_in_lanes_raises_a_lanes_error_after_every_lane_ended():
    ended, done = [], []

    def fetch(batch):
        if batch[0] == 8:
            raise OSError("lane failed")
        done.append(batch[0])

    with pytest.raises(OSError, match="lane failed"):
        in_lanes(fetch, list(range(32)), per_batch=4, lanes=4, end_thread=lambda: ended.append(1))
    assert len(ended) == 3  # each extra lane's thread closed its connections
    # lane k takes batches k, k + 4: the failed lane (batches 8, 24) stops, the others ran to the end
    assert sorted(done) == [0, 4, 12, 16, 20, 28]
    assert not [t for t in threading.enumerate() if t.name.startswith("napstream-walk-")]
