"""NWB files over loopback HTTP: every object equals the local read; warm re-reads fetch nothing;
planned reads (nwb/prefetch.py) fetch exactly the storage chunks a selection touches."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

import napstream as nap
from napstream.io import FileObject, open_source
from napstream.io.http import HTTPSource
from napstream.nwb.prefetch import ChunkIndex, PrefetchingDataset, row_span, wrap_dataset

LFP = "/processing/ecephys/LFP/ElectricalSeriesLFP/data"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("remote")
    return write_session(root / "s.nwb", duration=40.0, n_units=4, n_channels=4)


def _gets(server) -> int:
    return server.stats.by_method.get("GET", 0)


def _snapshot(obj):
    """Everything a user can read from a napstream object, materialised."""
    if isinstance(obj, pd.DataFrame):
        return obj
    kind = type(obj).__name__
    meta = getattr(obj, "metadata", None)
    if kind == "TsGroup":
        return {"units": {k: np.asarray(obj[k].t) for k in obj.keys()}, "meta": meta}
    if kind == "IntervalSet":
        return {"se": np.column_stack([obj.start, obj.end]), "meta": meta}
    out = {"t": np.asarray(obj.t), "support": np.asarray(obj.time_support.values)}
    if kind != "Ts":
        out["d"] = np.asarray(obj.values)
    return out


def _assert_same(a, b, key=""):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=key)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), key
        for k in a:
            _assert_same(a[k], b[k], f"{key}.{k}")
    elif a is None:
        assert b is None, key
    else:
        np.testing.assert_array_equal(a, b, err_msg=key)


def _read_all(nwb) -> dict:
    return {k: _snapshot(nwb[k]) for k in nwb.keys()}


@pytest.mark.parametrize("block_size, max_concurrency", [(65536, 2), (1 << 20, 8)])
def test_every_object_equals_local_cold_and_warm(session, http_server, tmp_path, block_size, max_concurrency):
    with nap.NWBFile(session) as local:
        expected = _read_all(local)
        keys = local.keys()
    server = http_server(session.parent)
    url = server.url_for(session.name, query="X-Amz-Signature=abc")
    opts = dict(cache_dir=tmp_path / "cache", block_size=block_size, max_concurrency=max_concurrency)
    with nap.NWBFile(url, **opts) as cold:
        assert cold.keys() == keys
        got = _read_all(cold)
        _assert_same(got, expected)
        assert _gets(server) > 0
        server.reset_stats()
        _assert_same(_read_all(cold), expected)  # same file again: memory + disk cache
        assert _gets(server) == 0
    server.reset_stats()
    with nap.NWBFile(url, **opts) as warm:  # new session, persistent cache
        _assert_same(_read_all(warm), expected)
    # only the content check of the reopen: a few random cached bytes compared with the server's
    check = HTTPSource.reopen_samples * HTTPSource.sample_width
    assert _gets(server) <= HTTPSource.reopen_samples and server.stats.bytes_sent <= check


def test_without_cache_equals_local(session, http_server):
    with nap.NWBFile(session) as local:
        expected = {k: _snapshot(local[k]) for k in ("units", "SpatialSeriesLED1", "ElectricalSeriesLFP")}
    server = http_server(session.parent)
    with nap.NWBFile(server.url_for(session.name), cache=False, block_size=32768) as remote:
        _assert_same({k: _snapshot(remote[k]) for k in expected}, expected)


@pytest.fixture
def remote_h5(session, http_server, tmp_path):
    server = http_server(session.parent)
    src = open_source(server.url_for(session.name), cache_dir=tmp_path / "c", block_size=16384)
    f = h5py.File(FileObject(src), "r")
    yield server, src, f
    f.close()
    src.close()


def test_chunk_index_matches_h5py_chunk_info(session):
    with h5py.File(session, "r") as f:
        dset = f[LFP]
        index = ChunkIndex(dset)
        ref = sorted((dset.id.get_chunk_info(i).chunk_offset[0], dset.id.get_chunk_info(i).byte_offset,
                      dset.id.get_chunk_info(i).size) for i in range(dset.id.get_num_chunks()))
        assert dset.chunks is not None and index.kind == "chunked"
        assert list(zip(index.rows.tolist(), index.starts.tolist(), index.sizes.tolist())) == ref
        c = dset.chunks[0]
        a, b = c + 5, 3 * c + 1  # touches chunks 1, 2, 3
        expect = [(off, off + size) for row, off, size in ref if row // c in (1, 2, 3)]
        assert index.ranges(a, b) == expect
        assert index.ranges(5, 5) == []


def test_planned_read_fetches_only_the_chunks_it_touches(session, remote_h5, monkeypatch):
    server, src, f = remote_h5
    monkeypatch.setattr(PrefetchingDataset, "whole_dataset_bytes", 0)  # this LFP is small: plan, not all
    with h5py.File(session, "r") as local:
        expected = local[LFP][10_000:20_000]
    w = wrap_dataset(f[LFP], src)
    assert isinstance(w, PrefetchingDataset)
    assert (w.shape, w.dtype, w.chunks, w.name) == (f[LFP].shape, f[LFP].dtype, f[LFP].chunks, LFP)
    index = w.index  # built once (metadata reads)
    chunk_bytes = sum(b - a for a, b in index.ranges(10_000, 20_000))
    before = src.stats.copy()
    np.testing.assert_array_equal(w[10_000:20_000], expected)
    delta = src.stats - before
    assert delta.round_trips == 1  # one concurrent prefetch; h5py then only hits the cache
    assert chunk_bytes <= delta.bytes_fetched <= chunk_bytes + 2 * 2 * src.block_size * len(index.ranges(10_000, 20_000))
    before = src.stats.copy()
    np.testing.assert_array_equal(w[10_000:20_000], expected)
    assert (src.stats - before).bytes_fetched == 0


@pytest.fixture(scope="module")
def long_position(tmp_path_factory):
    """A session whose position timestamps span many search blocks (no LFP: quick to write)."""
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("long_position")
    return write_session(root / "p.nwb", duration=600.0, n_units=2, n_channels=2, lfp=False, seed=4)


def test_a_search_over_a_small_dataset_waits_on_the_network_once(long_position, http_server, tmp_path,
                                                                   monkeypatch):
    """Binary searches over small lazy timestamps: the first probe brings the whole dataset."""
    session = long_position
    server = http_server(session.parent)
    window = nap.IntervalSet([30.0, 317.5], [90.0, 330.25])
    with nap.NWBFile(session) as local:
        want = local["SpatialSeriesLED1"].restrict(window)
        want_t, want_values = np.asarray(want.t), np.asarray(want.values)

    def trips(whole_bytes: int, cache: str) -> int:
        monkeypatch.setattr(PrefetchingDataset, "whole_dataset_bytes", whole_bytes)
        with nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path / cache, block_size=16384,
                         speculate=False) as nwb:  # the reads themselves are measured here
            ts = nwb._src.file["/processing/behavior/Position/SpatialSeriesLED1/timestamps"]
            assert ts.id.get_storage_size() > 12 * 16384  # a search would take several round trips
            with nap.track_io() as stats:
                got = nwb["SpatialSeriesLED1"].restrict(window)
                np.testing.assert_array_equal(got.t, want_t)
            np.testing.assert_array_equal(got.values, want_values)
        return stats.round_trips

    # the timestamps, whole (the values' batch goes out at the same time, in the background:
    # nwb/convert.py ``ReadContext.prefetch_behind``)
    assert trips(2**20, "a") <= 2
    # not fetched whole at the open, so not scanned then: the search first checks the stored order in
    # one streamed pass, which reads the (small) dataset in one batch too - no probe-by-probe trips
    assert trips(0, "b") == 1


def test_big_datasets_are_not_fetched_whole(session, remote_h5, monkeypatch):
    _, src, f = remote_h5
    dset = f[LFP]
    monkeypatch.setattr(PrefetchingDataset, "whole_dataset_bytes", dset.size * dset.dtype.itemsize - 1)
    w = wrap_dataset(dset, src)
    before = src.stats.copy()
    with h5py.File(session, "r") as local:
        np.testing.assert_array_equal(w[5000:5010], local[LFP][5000:5010])
    assert (src.stats - before).bytes_fetched < dset.id.get_storage_size() / 4


def test_a_few_rows_of_a_big_chunked_dataset_do_not_walk_its_chunk_index(http_server, tmp_path):
    """Deciding whether a dataset is small must not ask HDF5 for its storage size (for a chunked
    dataset that walks every node of the chunk index: one remote round trip per node)."""
    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f.create_dataset("x", data=rng.integers(-500, 500, size=(400_000, 4), dtype="i2"), chunks=(100, 4),
                         compression="gzip")
    server = http_server(tmp_path)
    with open_source(server.url_for("big.h5"), cache=False, block_size=4096) as src:
        f = h5py.File(FileObject(src), "r")
        w = wrap_dataset(f["x"], src)
        before = src.stats.copy()
        with h5py.File(tmp_path / "big.h5", "r") as local:
            np.testing.assert_array_equal(w[200_000:200_010], local["x"][200_000:200_010])
        assert (src.stats - before).round_trips <= 4  # the B-tree path to one chunk, then the chunk
        f.close()


@pytest.mark.parametrize("key", [np.s_[5], np.s_[-3], np.s_[100:90], np.s_[7:3000:7], np.s_[10:20, 1:3],
                                 np.s_[[3, 70, 5000]], np.s_[2000:2500, 1], np.s_[...], np.s_[()]])
def test_wrapped_keys_equal_h5py(session, remote_h5, key):
    _, src, f = remote_h5
    with h5py.File(session, "r") as local:
        np.testing.assert_array_equal(wrap_dataset(f[LFP], src)[key], local[LFP][key])


def test_every_dataset_kind_equals_local(session, remote_h5):
    _, src, f = remote_h5
    with h5py.File(session, "r") as local:
        names = []
        local.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            got, want = wrap_dataset(f[name], src)[()], local[name][()]
            if h5py.check_dtype(ref=local[name].dtype) is not None:  # references: compare targets
                got = [f[r].name for r in np.ravel(got)]
                want = [local[r].name for r in np.ravel(want)]
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_big_selection_is_read_in_bounded_batches(session, http_server):
    server = http_server(session.parent)
    src = HTTPSource(server.url_for(session.name), cache=None, block_size=16384, memory_bytes=256 * 1024)
    with src, h5py.File(FileObject(src), "r") as f, h5py.File(session, "r") as local:
        w = wrap_dataset(f[LFP], src)
        total = sum(b - a for a, b in w.index.ranges(0, w.shape[0]))
        assert total > src.prefetch_limit  # forces several batches
        before = src.stats.copy()
        np.testing.assert_array_equal(w[:, :], local[LFP][:, :])
        assert (src.stats - before).round_trips >= total // src.prefetch_limit
        assert src.memory.nbytes <= src.memory.max_bytes


def test_lazy_array_over_wrapped_dataset(session, remote_h5):
    from napstream.core.lazy import LazyArray

    _, src, f = remote_h5
    with h5py.File(session, "r") as local:
        lazy = LazyArray(wrap_dataset(f[LFP], src), scale=2.0)
        np.testing.assert_allclose(lazy.read(1234, 5678), local[LFP][1234:5678] * 2.0)
        assert lazy.chunk_rows == local[LFP].chunks[0]


def test_local_sources_wrap_only_compressed_chunked_datasets(session):
    with h5py.File(session, "r") as f:
        times = f["units/spike_times"]
        if times.compression is None:
            assert wrap_dataset(times, None) is times
        dset = f[LFP]  # gzip-chunked: large row reads are decoded by napstream
        for source in (None, open_source(session)):
            wrapped = wrap_dataset(dset, source)
            assert type(wrapped).__name__ == "LocalChunkedDataset"
            assert wrap_dataset(wrapped, source) is wrapped
            np.testing.assert_array_equal(wrapped[5:len(dset) - 3], dset[5:len(dset) - 3])


def test_row_span():
    assert row_span(np.s_[3:9], 100) == (3, 9)
    assert row_span(np.s_[9:3:-2], 100) == (5, 10)
    assert row_span(np.array([True, False, True]), 3) == (0, 3)
    assert row_span(np.s_[...], 10) is None and row_span((), 10) is None
    assert row_span(200, 10) == (0, 0)


def test_opening_a_remote_nwb_file_takes_a_handful_of_round_trips(session, http_server, tmp_path):
    server = http_server(session.parent, latency=0.02)
    with nap.track_io() as io, nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path / "c") as nwb:
        assert "units" in nwb.keys()
        print(nwb)
    assert io.round_trips <= 3 and server.stats.requests <= 4


def test_small_selections_look_chunks_up_without_the_full_index(session):
    with h5py.File(session, "r") as f:
        dset = f[LFP]
        c = dset.chunks[0]
        full = ChunkIndex(dset)
        reference = full.rows  # builds the full index (chunk_iter)
        assert full.is_full and len(reference) == dset.id.get_num_chunks()
        lazy = ChunkIndex(dset, lookup_limit=4)
        rng = np.random.default_rng(0)
        for _ in range(30):
            a = int(rng.integers(0, dset.shape[0]))
            b = min(a + int(rng.integers(1, 3 * c)), dset.shape[0])
            assert lazy.ranges(a, b) == full.ranges(a, b)
        assert not lazy.is_full  # every selection touched <= 4 chunks
        assert lazy.ranges(0, dset.shape[0]) == full.ranges(0, dset.shape[0])
        assert lazy.is_full  # a big selection builds the full index once


def test_network_failure_while_opening_is_reported_as_such(tmp_path):
    """A request that fails for good while h5py reads the file's metadata is a RetryExhaustedError
    naming the URL and range, not a 'not a readable HDF5 file' error."""
    from napstream.errors import FileFormatError, RetryExhaustedError
    from napstream.testing.http_server import FaultPlan, RangeHTTPServer
    from napstream.testing.sessions import write_session

    write_session(tmp_path / "s.nwb", duration=30.0, n_units=2, n_channels=2)
    with RangeHTTPServer(tmp_path) as server, nap.config.override(retries=1, timeout=0.5):
        # the first GETs (the file's ends) pass; every later one fails
        server.set_faults(FaultPlan("503", count=None, probability=1.0, methods=("GET",), skip=2))
        with pytest.raises(RetryExhaustedError, match=r"s\.nwb bytes \[") as err:
            nap.NWBFile(server.url_for("s.nwb"), cache_dir=tmp_path / "cache", block_size="4KiB")
    assert not isinstance(err.value, FileFormatError)


def test_the_guides_job_fetches_little_more_than_its_datasets(long_position, http_server, tmp_path):
    """Open, units, LED1, 2-D tuning curves over HTTP: beyond what opening and listing fetches (the
    metadata), the job fetches at most 1.25x the stored size of the datasets it reads."""
    session = long_position
    needed_paths = ("/units/spike_times", "/units/spike_times_index", "/units/id",
                    "/processing/behavior/Position/SpatialSeriesLED1/data",
                    "/processing/behavior/Position/SpatialSeriesLED1/timestamps")
    with h5py.File(session, "r") as f:
        needed = sum(int(f[p].id.get_storage_size()) for p in needed_paths)
    with nap.NWBFile(session) as local:
        want, _ = nap.compute_2d_tuning_curves(local["units"], local["SpatialSeriesLED1"], 20)
        want = {k: np.asarray(v) for k, v in want.items()}
    server = http_server(session.parent)
    with nap.track_io() as total:
        with nap.track_io() as opening, nap.NWBFile(server.url_for(session.name), cache_dir=tmp_path / "c",
                                                    block_size=65536, speculate=False) as nwb:
            repr(nwb)
            opening = opening.copy()
            tc, _ = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 20)
    for k in want:
        np.testing.assert_allclose(tc[k], want[k], rtol=1e-12, equal_nan=True)
    assert opening.round_trips <= 4
    assert total.bytes_fetched - opening.bytes_fetched <= 1.25 * needed, (total, opening, needed)


def test_files_reopened_by_dataset_refs_are_closed_at_exit(session, http_server):
    # dask workers reopen files through DatasetRef and keep them per process; napstream closes them
    # at interpreter exit (close_reopened is registered with atexit) rather than leaving an h5py file
    # over a Python file object to the interpreter's teardown
    from napstream.nwb import source as nwb_source
    from napstream.nwb.file import DatasetRef

    path = session
    server = http_server(path.parent)
    ref = DatasetRef(server.url_for(path.name), "/units/spike_times", (("cache_dir", None),))
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(np.asarray(ref.open()[:]), f["/units/spike_times"][:])
    key = (ref.source_description, ref.io_options)
    h5file, byte_source = nwb_source._OPEN_FILES[key], nwb_source._BYTE_SOURCES[key]
    assert h5file.id.valid
    nwb_source.close_reopened()
    assert not h5file.id.valid and byte_source.closed and key not in nwb_source._OPEN_FILES
    with h5py.File(path, "r") as f:  # opened again when asked again
        np.testing.assert_array_equal(np.asarray(ref.open()[:3]), f["/units/spike_times"][:3])
    nwb_source.close_reopened()
