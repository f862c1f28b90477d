"""The background walk of the big series' chunk indexes after a remote open (nwb/index_warmup.py,
io/btree.py ``prefetch_exact_nodes``, issue #15).

Every table is checked against the local file's chunks listed by another HDF5 call
(``get_chunk_info``), every analysis against the local file's result.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import napstream as nap
import napstream.nwb.prefetch as prefetch
from napstream.io.btree import node_bytes, parse_node
from napstream.nwb.index_warmup import IndexWarmup
from napstream.testing.http_server import parse_range_header
from napstream.testing.sessions import write_session

LFP = "/processing/ecephys/LFP/ElectricalSeriesLFP/data"
BLOCK = 64 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("warmup")
    # 600 s of a 1250 Hz LFP in chunks of 1 s: 600 chunks, a root over 10+ leaves
    write_session(folder / "s.nwb", duration=600.0, n_units=4, n_channels=4, seed=5, lfp_chunk_seconds=1.0)
    return folder / "s.nwb"


def _chunks(path: Path) -> list[tuple[tuple[int, ...], int, int]]:
    """Every chunk of the local LFP by ``get_chunk_info`` (not ``chunk_iter``, which tables use)."""
    with h5py.File(path, "r") as f:
        d = f[LFP]
        infos = [d.id.get_chunk_info(k) for k in range(d.id.get_num_chunks())]
        return sorted((tuple(i.chunk_offset), i.byte_offset, i.size) for i in infos)


def _table_chunks(table) -> list[tuple[tuple[int, ...], int, int]]:
    return sorted((tuple(int(x) for x in c), int(s), int(n)) for c, s, n in zip(table.coords, table.starts, table.sizes))


def _psd(nwb):
    psd = nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 2.0)
    return np.asarray(psd.values)


def _warmup_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "napstream-index-warmup" and t.is_alive()]


def _walks_by_thread(monkeypatch) -> list[tuple[str, str, bool]]:
    """Record (thread, dataset, exact) of every ``fetch_chunk_btree`` from now on."""
    calls: list[tuple[str, str, bool]] = []
    original = prefetch.fetch_chunk_btree

    def recording(source, dset, exact=False, lanes=None):
        calls.append((threading.current_thread().name, dset.name, exact))
        return original(source, dset, exact, lanes)

    monkeypatch.setattr(prefetch, "fetch_chunk_btree", recording)
    return calls


def test_the_lfp_index_is_walked_at_open_and_the_analysis_walks_nothing(served, http_server, tmp_path, monkeypatch):
    with nap.NWBFile(served) as local:
        want = _psd(local)
    calls = _walks_by_thread(monkeypatch)
    server = http_server(served.parent, latency=0.01)
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        warmup = nwb.index_warmup
        assert warmup is not None
        assert warmup.join(20.0)
        assert warmup.walked == [LFP]
        source = nwb._src.byte_source
        nodes = dict(source._exact_nodes)
        size = node_bytes(3, 32)  # a 2-D dataset's node
        assert len(nodes) >= 3 and all(len(v) == size and v[:4] == b"TREE" for v in nodes.values())
        assert sum(parse_node(v, 3, source.size)[0] == 0 for v in nodes.values()) >= 2  # leaves
        table = warmup._tables[LFP]
        assert _table_chunks(table) == _chunks(served)  # h5py's list, read from the nodes held
        got = _psd(nwb)
        assert LFP not in warmup._tables  # handed over to the analysis
    assert [c for c in calls if c[1] == LFP] == [("napstream-index-warmup", LFP, True)]  # the analysis: none
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert not _warmup_threads()


def test_an_analysis_racing_the_walk_waits_for_it_and_fetches_no_node_twice(served, http_server, tmp_path, monkeypatch):
    with nap.NWBFile(served) as local:
        want = _psd(local)
    calls = _walks_by_thread(monkeypatch)
    server = http_server(served.parent, latency=0.15)  # the walk takes a few round trips of 0.15 s
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK) as nwb:
        assert nwb.index_warmup is not None
        got = _psd(nwb)  # at once: the walk is under way (or not started: then it is the analysis's)
        walkers = [c[0] for c in calls if c[1] == LFP]
        assert len(walkers) == 1, calls  # one walk of the index, whoever made it
        nodes = [a for a, v in nwb._src.byte_source._exact_nodes.items()]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    # no node was asked for twice by a small request (data requests around nodes are not counted:
    # a node of a few kilobytes inside a data request is cheaper to fetch again than to cut out)
    size = served.stat().st_size
    spans = [s for header in server.stats.ranges for s in parse_range_header(header, size) or []]
    small = [(first, last) for first, last in spans if last - first < BLOCK]
    for a in nodes:
        assert sum(first <= a <= last for first, last in small) <= 1, a


def test_close_stops_the_walk_and_leaves_no_thread(served, http_server, tmp_path):
    server = http_server(served.parent, latency=0.3)
    nwb = nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path, block_size=BLOCK)
    assert nwb.index_warmup is not None
    t0 = time.monotonic()
    nwb.close()
    assert time.monotonic() - t0 < 10.0
    assert not _warmup_threads()


def test_the_off_switches(served, http_server, tmp_path, monkeypatch):
    server = http_server(served.parent)
    url = server.url_for(served.name)
    with nap.NWBFile(url, cache_dir=tmp_path / "a", speculate=False) as nwb:
        assert nwb.index_warmup is None
    monkeypatch.setattr("napstream.nwb.index_warmup.WARM_INDEXES", False)
    with nap.NWBFile(url, cache_dir=tmp_path / "b") as nwb:
        assert nwb.index_warmup is None
    monkeypatch.setattr("napstream.nwb.index_warmup.WARM_INDEXES", True)
    monkeypatch.setattr(IndexWarmup, "max_bytes", 1000)  # no index fits: nothing walked
    with nap.NWBFile(url, cache_dir=tmp_path / "c") as nwb:
        assert nwb.index_warmup is None
    with nap.NWBFile(served) as nwb:  # a local file
        assert nwb.index_warmup is None


def test_no_walk_without_validators(served, http_server, tmp_path):
    """A server without ETag/Last-Modified: bytes fetched at different times could mix two versions
    of the file, and napstream compares sampled bytes of each batch: nothing is fetched ahead."""
    server = http_server(served.parent, validators="none")
    with nap.NWBFile(server.url_for(served.name), cache_dir=tmp_path) as nwb:
        assert nwb.index_warmup is None


def test_a_rerun_through_the_same_disk_cache_walks_nothing_ahead(served, http_server, tmp_path):
    """The nodes walked ahead are held in memory only: a warm rerun would fetch them again for an
    analysis that may not come. The file read before through this cache is left alone."""
    server = http_server(served.parent, latency=0.01)
    url = server.url_for(served.name)
    with nap.NWBFile(url, cache_dir=tmp_path) as nwb:
        assert nwb.index_warmup is not None and nwb.index_warmup.join(20.0)
        assert nwb._src.byte_source.seen_before is False
    with nap.NWBFile(url, cache_dir=tmp_path) as nwb:
        assert nwb._src.byte_source.seen_before is True
        assert nwb.index_warmup is None
    with nap.NWBFile(url, cache_dir=tmp_path / "other") as nwb:  # another cache: a first read
        assert nwb.index_warmup is not None
