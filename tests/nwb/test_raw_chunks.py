"""Raw (unfiltered) chunked datasets of remote files: napstream reads their rows itself and fetches
just those rows, never the unused rows of the last chunk (nwb/prefetch.py ``raw_row_bytes``)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from napstream.io import FileObject, open_source
from napstream.nwb.prefetch import ChunkIndex, PrefetchingDataset, wrap_dataset

N, CHUNK = 25_000, 10_000  # the last chunk holds 5 000 rows and 5 000 unused (40 kB of padding)


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    rng = np.random.default_rng(3)
    with h5py.File(root / "raw.h5", "w") as f:
        f.create_dataset("t", data=np.sort(rng.uniform(0, 1000, N)), chunks=(CHUNK,), maxshape=(None,))
        f.create_dataset("xy", data=rng.normal(size=(N, 3)), chunks=(CHUNK // 4, 3), maxshape=(None, 3))
        f.create_dataset("i", data=rng.integers(-9, 9, N).astype(">i4"), chunks=(CHUNK,), maxshape=(None,))
        f.create_dataset("split", data=rng.normal(size=(N, 4)), chunks=(CHUNK, 2))  # columns in 2 chunks: h5py
        gaps = f.create_dataset("gaps", shape=(N,), dtype="f8", chunks=(CHUNK,), fillvalue=-1.0)
        gaps[:CHUNK] = 1.0  # chunk 1 never written
        gaps[2 * CHUNK:] = 3.0
    return root / "raw.h5"


@pytest.fixture
def remote(raw_file, http_server, tmp_path):
    server = http_server(raw_file.parent)
    src = open_source(server.url_for(raw_file.name), cache=False, block_size=4096)
    f = h5py.File(FileObject(src), "r")
    yield server, src, f
    f.close()
    src.close()


def test_only_plain_chunks_spanning_whole_rows_are_read_raw(raw_file):
    with h5py.File(raw_file, "r") as f:
        rows = {name: ChunkIndex(f[name]).raw_row_bytes for name in ("t", "xy", "i", "split", "gaps")}
    assert rows == {"t": 8, "xy": 24, "i": 4, "split": 0, "gaps": 8}


def test_ranges_of_raw_chunks_hold_just_the_rows(raw_file):
    with h5py.File(raw_file, "r") as f:
        dset = f["t"]
        index = ChunkIndex(dset)
        offsets = [dset.id.get_chunk_info(i).byte_offset for i in range(dset.id.get_num_chunks())]
        assert index.ranges(0, N) == [(o, o + 8 * min(CHUNK, N - k * CHUNK)) for k, o in enumerate(offsets)]
        assert index.ranges(CHUNK - 3, CHUNK + 2) == [(offsets[0] + 8 * (CHUNK - 3), offsets[0] + 8 * CHUNK),
                                                      (offsets[1], offsets[1] + 16)]
        assert index.ranges(N, N + 5) == []


@pytest.mark.parametrize("name", ["t", "xy", "i", "split", "gaps"])
@pytest.mark.parametrize("key", [np.s_[:], np.s_[5], np.s_[-1], np.s_[CHUNK - 3:CHUNK + 4], np.s_[N - 7:],
                                 np.s_[100:90], np.s_[7:20_000:7], np.s_[[3, 70, 24_999]], np.s_[...], np.s_[()],
                                 np.s_[2 * CHUNK - 1:2 * CHUNK + 1]])
def test_raw_reads_equal_h5py(raw_file, remote, name, key):
    _, src, f = remote
    with h5py.File(raw_file, "r") as local:
        want = local[name][key]
    w = wrap_dataset(f[name], src)
    for _ in range(2):  # cold, then from the kept chunk rows
        got = w[key]
        np.testing.assert_array_equal(got, want)
        assert np.asarray(got).dtype == want.dtype
    if isinstance(got, np.ndarray) and got.size:
        got[...] = 0  # a result is the caller's: writing it changes no later read
        np.testing.assert_array_equal(w[key], want)


@pytest.mark.parametrize("how", ["whole", "probes"])
def test_reading_a_raw_dataset_does_not_fetch_its_unused_rows(raw_file, remote, monkeypatch, how):
    server, src, f = remote
    monkeypatch.setattr(PrefetchingDataset, "whole_dataset_bytes", 0)
    with h5py.File(raw_file, "r") as local:
        want = local["t"][:]
    w = wrap_dataset(f["t"], src)
    if how == "whole":
        w.index.table()  # the chunk index (metadata) is not what is measured
    before = src.stats.copy()
    if how == "whole":
        np.testing.assert_array_equal(w[:], want)
    else:  # a search's probes: a few rows each, all over the dataset
        np.testing.assert_array_equal([w[i:i + 1][0] for i in range(N - 1, 0, -997)], want[N - 1:0:-997])
    fetched = (src.stats - before).bytes_fetched
    metadata = 0 if how == "whole" else 4 * src.block_size  # looking chunks up
    assert fetched <= N * 8 + 3 * 2 * src.block_size + metadata  # the rows, not the 40 kB of padding


def test_probes_in_one_raw_chunk_wait_on_the_network_once(raw_file, remote, monkeypatch):
    """As h5py's chunk cache would: the first probe of a chunk brings its rows, later probes of
    that chunk wait on nothing (pages, much smaller here, are for reads a read-ahead feeds)."""
    server, src, f = remote
    monkeypatch.setattr(PrefetchingDataset, "whole_dataset_bytes", 0)
    monkeypatch.setattr(PrefetchingDataset, "raw_page_bytes", 8 * 1024)  # 10 pages per 80 kB chunk
    with h5py.File(raw_file, "r") as local:
        want = local["t"][:CHUNK]
    w = wrap_dataset(f["t"], src)
    assert w[0:1][0] == want[0]
    before = src.stats.copy()
    for i in (9000, 500, 7000, 3000, 9999, 4321):
        assert w[i:i + 1][0] == want[i]
    assert (src.stats - before).round_trips == 0
