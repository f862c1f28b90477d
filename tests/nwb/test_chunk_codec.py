"""napstream's own decoding of gzip/shuffle HDF5 chunks (nwb/chunk_codec.py) against h5py's reads.

Every read is compared with h5py reading the same selection of the same file: locally (pread on
the file's descriptor), over the loopback HTTP server (bytes from the block cache), from several
threads at once, and for storage napstream leaves to h5py (other filters, unwritten chunks,
big-endian types, fletcher32) so the fallbacks are exercised too.
"""

from __future__ import annotations

import os
import threading

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napstream.errors import FileFormatError
from napstream.io import open_source
from napstream.io.fileobj import FileObject
from napstream.nwb.chunk_codec import ChunkCodec, ChunkTable
from napstream.nwb.prefetch import LocalChunkedDataset, PrefetchingDataset, wrap_dataset

KEYS = [
    np.s_[:], np.s_[3:], np.s_[:-1], np.s_[17:1234], np.s_[5:6], np.s_[100:90], np.s_[-300:],
    np.s_[10:900, 1], np.s_[10:900, 1:3], np.s_[10:900, ::2], np.s_[::7], np.s_[[1, 5, 900]], np.s_[..., 0],
    np.s_[1500], np.s_[()],
]


def _write(path, data, **kw):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data, **kw)
    return path


def _check_all_keys(wrapped, dset):
    for key in KEYS:
        try:
            expected = dset[key]
        except (TypeError, ValueError, IndexError):
            continue
        np.testing.assert_array_equal(wrapped[key], expected, err_msg=str(key))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32", "float64", "int64"])
@pytest.mark.parametrize("chunks", [(64, 4), (100, 2), (37, 3)])
def test_local_reads_equal_h5py(tmp_path, shuffle, dtype, chunks):
    rng = np.random.default_rng(0)
    data = (rng.normal(0, 1000, (1601, 4))).astype(dtype)
    path = _write(tmp_path / "f.h5", data, chunks=chunks, compression="gzip", shuffle=shuffle)
    with h5py.File(path, "r") as f:
        wrapped = wrap_dataset(f["x"], None)
        assert isinstance(wrapped, LocalChunkedDataset)
        _check_all_keys(wrapped, f["x"])


def test_one_and_three_dimensional_datasets(tmp_path):
    rng = np.random.default_rng(1)
    for data, chunks in [(rng.normal(size=3001), (250,)), (rng.normal(size=(700, 3, 5)), (64, 2, 5))]:
        path = _write(tmp_path / f"d{data.ndim}.h5", data, chunks=chunks, compression="gzip")
        with h5py.File(path, "r") as f:
            wrapped = wrap_dataset(f["x"], None)
            np.testing.assert_array_equal(wrapped[:], f["x"][:])
            np.testing.assert_array_equal(wrapped[33:651], f["x"][33:651])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 500), cols=st.integers(1, 5), chunk_rows=st.integers(1, 80), chunk_cols=st.integers(1, 5),
    shuffle=st.booleans(), a=st.integers(0, 520), b=st.integers(0, 520),
)
def test_codec_reads_any_rows(tmp_path, n, cols, chunk_rows, chunk_cols, shuffle, a, b):
    data = np.arange(n * cols, dtype=np.int32).reshape(n, cols) * 7 - 3
    path = _write(tmp_path / "h.h5", data, chunks=(min(chunk_rows, n), min(chunk_cols, cols)),
                  compression="gzip", shuffle=shuffle)
    with h5py.File(path, "r") as f:
        codec = ChunkCodec.for_dataset(f["x"])
        fd = f.id.get_vfd_handle()
        rows = codec.read_rows(ChunkTable.build(f["x"]), a, b, lambda rr: [os.pread(fd, e - s, s) for s, e in rr])
        np.testing.assert_array_equal(rows, data[a:b] if a < b else data[:0])


@pytest.mark.parametrize(
    "kw",
    [
        dict(chunks=(64, 4)),                                          # chunked, not compressed
        dict(chunks=(64, 4), compression="lzf"),                       # another filter
        dict(chunks=(64, 4), compression="gzip", fletcher32=True),     # checksum filter
        dict(),                                                        # contiguous
    ],
)
def test_storage_left_to_h5py(tmp_path, kw):
    data = np.random.default_rng(2).normal(size=(1000, 4))
    path = _write(tmp_path / "f.h5", data, **kw)
    with h5py.File(path, "r") as f:
        assert ChunkCodec.for_dataset(f["x"]) is None or not ChunkCodec.for_dataset(f["x"]).deflate
        wrapped = wrap_dataset(f["x"], None)
        assert wrapped is f["x"] or isinstance(wrapped, h5py.Dataset)
        _check_all_keys(wrapped, f["x"])


def test_big_endian_and_unwritten_chunks_fall_back_to_h5py(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("be", data=np.arange(5000, dtype=">i4").reshape(1000, 5), chunks=(50, 5), compression="gzip")
        sparse = f.create_dataset("sparse", shape=(1000, 4), dtype="f8", chunks=(50, 4), compression="gzip",
                                  fillvalue=-1.0)
        sparse[0:100] = 1.0
        sparse[900:1000] = 2.0  # chunks 100..900 never written: h5py returns the fill value
    with h5py.File(path, "r") as f:
        assert ChunkCodec.for_dataset(f["be"]) is None
        wrapped = wrap_dataset(f["sparse"], None)
        assert isinstance(wrapped, LocalChunkedDataset)
        np.testing.assert_array_equal(wrapped[:], f["sparse"][:])
        np.testing.assert_array_equal(wrapped[0:100], f["sparse"][0:100])


def _misplace_first_chunk_key(path, column_offset):
    """Overwrite the column coordinate of the first key of the file's (one) chunk B-tree leaf: the
    chunk at (0, 0) now claims (0, column_offset), as a damaged index would (found by fuzzing)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"TREE\x01\x00")  # a v1 B-tree node of raw data chunks, a leaf
    assert at > 0
    key = at + 24  # after signature, type, level, entries and the two sibling addresses
    raw[key + 16: key + 24] = int(column_offset).to_bytes(8, "little")  # (size, mask, row, column, 0)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("column_offset", [2**60, 4, 2, 1])
@pytest.mark.parametrize("where", ["local", "remote"])
def test_a_misplaced_chunk_in_a_damaged_index_reads_as_h5py_reads_it(tmp_path, http_server, where, column_offset):
    """A chunk key overwritten (off the chunk grid, beyond the extent, or onto another chunk's place):
    HDF5 finds no chunk at (0, 0) and reads the fill value there. napstream counted the misplaced
    chunk as present, placed nothing and served uninitialised memory for those rows (a different
    garbage locally and remotely); it now leaves such a dataset to h5py."""
    data = np.random.default_rng(8).integers(-3000, 3000, (1000, 4)).astype(np.int16)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data, chunks=(50, 2), compression="gzip", fillvalue=-7)
    _misplace_first_chunk_key(path, column_offset)

    def h5py_reads(key):
        with h5py.File(path, "r") as f:
            try:
                return f["x"][key]
            except OSError:  # libhdf5 sees the damage in some orders ("bad coordinate offset")
                return None

    def check(wrapped):
        for key in (np.s_[:], np.s_[10:300, 1], np.s_[0:40]):
            want = h5py_reads(key)
            if want is None:  # h5py refuses: so must napstream, never serve the rows
                with pytest.raises((OSError, RuntimeError, FileFormatError)):
                    wrapped[key]
            else:
                np.testing.assert_array_equal(wrapped[key], want)

    full = h5py_reads(np.s_[:])
    assert full is None or not np.array_equal(full, data)  # the damage shows in h5py's reading
    if where == "local":
        with h5py.File(path, "r") as f:
            wrapped = wrap_dataset(f["x"], None)
            assert isinstance(wrapped, LocalChunkedDataset)
            check(wrapped)
        return
    source = open_source(http_server(tmp_path).url_for("m.h5"), cache=False)
    with h5py.File(FileObject(source), "r") as f:
        check(wrap_dataset(f["x"], source))
    source.close()


def test_chunk_table_on_grid() -> None:
    coords = np.array([[0, 0], [0, 2], [50, 0], [50, 2]])
    table = ChunkTable(coords, np.arange(4), np.ones(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
    assert table.on_grid((50, 2), (100, 4))
    for bad in ([0, 1], [0, 4], [100, 0], [50, 2], [-50, 0]):  # off grid, beyond extent (2), repeated, negative
        moved = coords.copy()
        moved[1] = bad
        table = ChunkTable(moved, np.arange(4), np.ones(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
        assert not table.on_grid((50, 2), (100, 4)), bad


def test_concurrent_reads_from_threads(tmp_path):
    data = np.random.default_rng(3).integers(-2000, 2000, (20000, 8)).astype(np.int16)
    path = _write(tmp_path / "f.h5", data, chunks=(250, 8), compression="gzip", shuffle=True)
    with h5py.File(path, "r") as f:
        wrapped = wrap_dataset(f["x"], None)
        errors = []

        def work(seed):
            rng = np.random.default_rng(seed)
            for _ in range(20):
                a = int(rng.integers(0, 19000))
                b = a + int(rng.integers(1, 5000))
                if not np.array_equal(wrapped[a:b], data[a:b]):
                    errors.append((a, b))

        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_a_corrupt_chunk_is_a_clear_error(tmp_path):
    data = np.random.default_rng(4).normal(size=(4000, 4))
    path = _write(tmp_path / "f.h5", data, chunks=(100, 4), compression="gzip")
    with h5py.File(path, "r") as f:
        table = ChunkTable.build(f["x"])
        start, size = int(table.starts[20]), int(table.sizes[20])
    with open(path, "r+b") as fh:  # scramble the middle of chunk 20's deflate stream
        fh.seek(start + size // 2)
        fh.write(bytes(64))
    with h5py.File(path, "r") as f:
        wrapped = wrap_dataset(f["x"], None)
        with pytest.raises(FileFormatError, match="corrupt"):
            wrapped[:]


def test_remote_reads_equal_h5py(tmp_path, http_server):
    data = np.random.default_rng(5).integers(-3000, 3000, (30000, 6)).astype(np.int16)
    _write(tmp_path / "r.h5", data, chunks=(500, 6), compression="gzip", shuffle=True)
    server = http_server(tmp_path)
    source = open_source(server.url_for("r.h5"), cache=False)
    with h5py.File(FileObject(source), "r") as f:
        wrapped = wrap_dataset(f["x"], source)
        assert isinstance(wrapped, PrefetchingDataset) and wrapped.codec is not None
        np.testing.assert_array_equal(wrapped[:], data)
        np.testing.assert_array_equal(wrapped[1234:25000, 2:5], data[1234:25000, 2:5])
        np.testing.assert_array_equal(wrapped[100:110], data[100:110])
    source.close()


def test_overlapping_reads_in_flight_decode_each_chunk_once(tmp_path):
    """Two reads in flight at once whose rows overlap (a chunk task and its neighbour's margin):
    the shared chunks are decoded by one of them, the other waits for them (regression: both
    decoded them, doubling the inflate work of Welch on 1-s windows over 1-s storage chunks)."""
    data = np.random.default_rng(3).integers(-2000, 2000, (4000, 4)).astype(np.int16)
    path = _write(tmp_path / "x.h5", data, chunks=(1000, 4), compression="gzip")
    with h5py.File(path, "r") as f:
        codec, table = ChunkCodec.for_dataset(f["x"]), ChunkTable.build(f["x"])
        codec.reserve(2**30)  # a cache that holds them all
        fd = f.id.get_vfd_handle()
        both_claimed = threading.Barrier(2, timeout=10)
        decoded = []
        decode = codec.decode

        def counting(raw):
            decoded.append(threading.current_thread().name)
            return decode(raw)

        codec.decode = counting

        def fetch(ranges):  # both reads have claimed their chunks before either inflates one
            both_claimed.wait()
            for a, b in ranges:
                yield os.pread(fd, b - a, a)

        out = {}

        def read(name, a, b):
            out[name] = codec.read_rows(table, a, b, fetch)

        first = threading.Thread(target=read, args=("first", 0, 3000), name="first")
        first.start()
        for _ in range(10_000):  # until the first read has claimed chunks 0, 1, 2 and waits in fetch
            if both_claimed.n_waiting:
                break
            threading.Event().wait(0.001)
        second = threading.Thread(target=read, args=("second", 1500, 4000), name="second")
        second.start()
        first.join(20)
        second.join(20)
    np.testing.assert_array_equal(out["first"], data[0:3000])
    np.testing.assert_array_equal(out["second"], data[1500:4000])
    assert sorted(decoded) == ["first"] * 3 + ["second"]  # chunks 1 and 2 once, by the first read


def test_the_decoded_chunk_cache_is_counted_in_the_plan(tmp_path):
    """The planner reserves the decoded-chunk cache inside the budget, and the cache keeps to it."""
    from napstream.core import LazyArray
    from napstream.core.chunking import decoded_cache_nbytes

    data = np.zeros((20_000, 8), np.int16)
    path = _write(tmp_path / "x.h5", data, chunks=(1000, 8), compression="gzip")
    with h5py.File(path, "r") as f:
        wrapped = wrap_dataset(f["x"], None)
        lazy = LazyArray(wrapped)
        assert decoded_cache_nbytes(lazy, 8 * 2**20) == 2**20  # an eighth of the budget
        assert wrapped.codec._limit() == 2**20
        assert decoded_cache_nbytes(lazy, 10 * 16_000) == 0  # fewer than 3 chunks of 16 kB: no cache
        wrapped[0:20_000]
        assert not wrapped.codec._decoded
        assert decoded_cache_nbytes(np.zeros((10, 2)), 2**20) == 0
        assert decoded_cache_nbytes(LazyArray(np.zeros((10, 2))), 2**20) == 0
