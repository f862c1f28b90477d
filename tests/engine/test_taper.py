"""The tapered end of a planned job (core/chunking.py ``taper_cuts``, engine/planner.py).

A job over data read on demand ends in pieces that shrink towards its end, so the compute left once
its last bytes land is a small piece's. Checked here: the pieces still cover every row once with the
same margins and storage alignment, the end really is small, the results equal the untapered plan's
and pynapple's, the read-ahead is told the rows in the order the executors read them, and in-memory
data keep their old plan.
"""

from __future__ import annotations

import h5py
import numpy as np
import pynapple as pnap
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core import chunking
from napstream.core import readahead as core_readahead
from napstream.core.chunked import EpochStats, H5DatasetRef
from napstream.core.chunking import plan_row_chunks, ramp_cuts, taper_cuts
from napstream.engine import planner
from napstream.engine.readahead import plan_with_readahead
from napstream.engine.runner import run


def _cores(chunks):
    return [(c.core_start, c.core_stop) for c in chunks]


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 3000), min_size=1, max_size=4), rows=st.integers(1, 400),
    left=st.integers(0, 30), right=st.integers(0, 30), align=st.sampled_from([None, 1, 7, 16, 64]),
    least=st.integers(1, 50), phase=st.integers(0, 63),
)
def test_tapered_pieces_cover_every_row_once_within_rows_and_aligned(lengths, rows, left, right, align, least, phase):
    starts = np.cumsum([0] + [n + 5 for n in lengths[:-1]])
    seg = np.stack([starts, starts + np.asarray(lengths)], axis=1)
    offsets = seg[:, 0] + phase  # storage rows of the segments' first rows
    plain = plan_row_chunks(seg, rows, (left, right), align, offsets)
    tapered = plan_row_chunks(seg, rows, (left, right), align, offsets, taper=True, least=least)
    aligned = align and rows >= align
    for k, (a, b) in enumerate(seg):
        mine = [c for c in tapered if c.segment == k]
        covered = np.concatenate([np.arange(c.core_start, c.core_stop) for c in mine]) if mine else np.zeros(0)
        np.testing.assert_array_equal(covered, np.arange(a, b))
        for c in mine:
            assert 0 < c.core_stop - c.core_start <= rows
            assert c.read_start == max(a, c.core_start - left) and c.read_stop == min(b, c.core_stop + right)
            if aligned and c.core_start != a:
                assert (c.core_start - a + offsets[k]) % align == 0  # on a storage chunk's first row
    # only the start of the first segment with rows and the end of the last one change
    inner = {c.segment for c in plain} - {plain[0].segment, plain[-1].segment} if plain else set()
    assert [c for c in tapered if c.segment in inner] == [c for c in plain if c.segment in inner]


def test_a_long_job_starts_and_ends_with_an_eighth_of_a_chunk():
    """The 1-h LFP's plan: 120,000-row chunks (storage chunks of 1,250 rows, a 4,999-row margin)."""
    n, rows, align = 4_500_000, 120_000, 1250
    tapered = plan_row_chunks([[0, n]], rows, (0, 4999), align, taper=True, least=8192)
    sizes = [c.core_stop - c.core_start for c in tapered]
    assert sizes[-1] <= rows // 8 + align  # was a quarter of a chunk (the last chunk in halves)
    tail = sizes[-8:]
    assert all(x >= y for x, y in zip(tail, tail[1:]))  # shrinking towards the end
    assert tail[0] > 3 * tail[-1]
    # the start ramps up: the first piece's bytes land soon (was 1,250 rows, then a whole chunk)
    head = sizes[:8]
    assert rows // 8 <= head[0] <= rows // 8 + align and all(x <= y for x, y in zip(head, head[1:]))
    assert head[-1] > 3 * head[0]
    assert len(tapered) <= len(plan_row_chunks([[0, n]], rows, (0, 4999), align)) + 12  # a few more tasks only


def test_ramp_cuts_mirror_taper_cuts():
    assert ramp_cuts(0, 1000, rows=400, smallest=50, ratio=2.0) == [50, 150, 350]
    assert ramp_cuts(0, 1000, rows=400, smallest=50, ratio=2.0, grid=(100, 30)) == [70, 170, 370]
    assert ramp_cuts(0, 120, rows=400, smallest=50, ratio=2.0) == [50]  # stops at the end
    # a short job: the tapered end has the room, the start is not cut
    short = plan_row_chunks([[0, 300_000]], 120_000, 0, 1250, taper=True, least=8192)
    sizes = [c.core_stop - c.core_start for c in short]
    assert all(x >= y for x, y in zip(sizes[1:], sizes[2:]))


def test_taper_cuts_follow_the_ratio_and_the_grid():
    assert taper_cuts(0, 1000, rows=400, smallest=50, ratio=2.0) == [650, 850, 950]
    assert taper_cuts(0, 1000, rows=400, smallest=50, ratio=2.0, grid=(100, 0)) == [600, 800, 900]
    assert taper_cuts(0, 1000, rows=400, smallest=50, ratio=2.0, grid=(100, 30)) == [570, 770, 870]
    assert taper_cuts(0, 120, rows=400, smallest=50, ratio=2.0) == [70]  # stops at the segment start
    assert taper_cuts(0, 1000, rows=40, smallest=50) == []  # pieces of a chunk or more: nothing to cut


def _lazy_series(tmp_path, n=60_000, channels=4, chunk=100):
    rng = np.random.default_rng(7)
    raw = np.cumsum(rng.normal(0, 30, (n, channels)), axis=0).astype(np.int16)
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=raw, chunks=(chunk, channels), compression="gzip")
    ref = H5DatasetRef(str(path), "x")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, 250.0, n), d=LazyArray(ref.open(), scale=1e-3, ref=ref))
    return lazy, pnap.TsdFrame(t=np.arange(n) / 250.0, d=raw * 1e-3)


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(chunking, "TAPER_LEAST_BYTES", 4096)  # pieces of a test-sized file


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_tapered_results_equal_the_untapered_plan_and_pynapple(tmp_path, small_pieces, monkeypatch, executor):
    lazy, ref = _lazy_series(tmp_path)
    job = planner.plan(lazy, None, None, "2MB", 3)
    sizes = [t.rows.core_stop - t.rows.core_start for t in job.tasks]
    assert sizes[-1] < job.rows // 4 and len(set(sizes[-4:])) == 4  # tapered (the old plan ended in halves)
    ep = nap.IntervalSet([0.0, 100.0], [90.0, 239.0])
    tapered_psd = nap.compute_mean_power_spectral_density(lazy, 2.0, max_memory="2MB", executor=executor)
    tapered_stats = run(EpochStats(n_epochs=2), lazy, ep=ep, max_memory="2MB", executor=executor)
    monkeypatch.setattr(planner, "TAPER", False)
    plain_psd = nap.compute_mean_power_spectral_density(lazy, 2.0, max_memory="2MB", executor=executor)
    plain_stats = run(EpochStats(n_epochs=2), lazy, ep=ep, max_memory="2MB", executor=executor)
    expected = pnap.compute_mean_power_spectral_density(ref, 2.0)
    top = np.abs(expected.values).max()  # summation-order noise is relative to the largest power
    np.testing.assert_allclose(tapered_psd.values, expected.values, rtol=1e-9, atol=1e-12 * top)
    np.testing.assert_allclose(tapered_psd.values, plain_psd.values, rtol=1e-12, atol=1e-14 * top)
    for got, want in zip(tapered_stats, plain_stats):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    first = ref.restrict(pnap.IntervalSet(0.0, 90.0)).values
    np.testing.assert_allclose(tapered_stats[0][0], first.mean(axis=0), rtol=1e-10)


def test_column_groups_each_end_tapered(tmp_path, small_pieces):
    from napstream.process._continuous import WelchSum

    lazy, _ = _lazy_series(tmp_path, channels=8)
    algo = WelchSum(np.arange(0, 59_000, 500), 500, 250.0, (8,))
    job = planner.plan(lazy, algo, None, "200kB", 1)
    assert job.groups is not None and len(job.groups) > 1
    for cols in job.groups:
        mine = [t for t in job.tasks if t.cols == cols]
        cover = np.concatenate([np.arange(t.rows.core_start, t.rows.core_stop) for t in mine])
        np.testing.assert_array_equal(cover, np.arange(len(lazy)))
        sizes = [t.rows.core_stop - t.rows.core_start for t in mine]
        assert sizes[-1] < job.rows // 2 and sizes[-2] > sizes[-1]


def test_in_memory_data_keep_the_halves():
    series = (RegularTimeIndex(0.0, 10.0, 100_000), np.zeros((100_000, 4)))
    job = planner.plan(series, None, None, "2MB", 3)
    plain = plan_row_chunks([[0, 100_000]], job.rows, 0, None, tail_split=2)
    assert _cores([t.rows for t in job.tasks]) == _cores(plain)


class _Hinted:
    """A base that records the rows it is told (the read-ahead hint) and the rows read."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.chunks = data, data.shape, data.dtype, (100, data.shape[1])
        self.told: list[np.ndarray] = []
        self.read: list[tuple[int, int]] = []

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, slice):
            self.read.append((rows.start, rows.stop))
        return self.data[key]

    def will_read(self, rows, max_bytes, requests=None, cols=None):
        self.told.append(np.asarray(rows).copy())


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_the_read_ahead_is_told_the_rows_in_the_order_they_are_read(small_pieces, executor):
    data = np.arange(240_000, dtype=np.int16).reshape(60_000, 4)
    base = _Hinted(data)
    series = nap.TsdFrame(t=RegularTimeIndex(0.0, 250.0, 60_000), d=LazyArray(base))
    in_flight = 1 if executor == "serial" else 3
    job, ahead = plan_with_readahead(series, EpochStats(n_epochs=1), None, "2MB", in_flight, executor)
    sizes = [t.rows.core_stop - t.rows.core_start for t in job.tasks]
    assert sizes[-1] < job.rows // 4  # a tapered plan
    with ahead:
        pass
    told = np.concatenate(base.told)
    reads = [(t.rows.read_start, t.rows.read_stop) for t in job.tasks]
    assert [tuple(r) for r in told.tolist()] == reads  # every task's rows, in task order
    out = run(EpochStats(n_epochs=1), series, max_memory="2MB", executor=executor, n_workers=2)
    np.testing.assert_allclose(out[0][0], data.mean(axis=0))
    # the executors read the tasks' rows in that order (threads: within the tasks in flight)
    order = [(int(a), int(b)) for a, b in base.read]
    assert sorted(order) == sorted(reads)
    positions = [reads.index(r) for r in order]
    assert all(p >= max(positions[:i + 1]) - (in_flight - 1) for i, p in enumerate(positions))
    assert core_readahead.enabled


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_remote_tapered_psd_is_identical_to_local(tmp_path, http_server, small_pieces, monkeypatch, executor):
    """Cold remote over the loopback server with the read-ahead: a tapered plan, the local bits, each
    byte fetched at most once, nothing left behind."""
    import threading

    from napstream.testing.sessions import write_session

    monkeypatch.setattr(chunking, "TAPER_LEAST_BYTES", 64 * 1024)
    path = write_session(tmp_path / "s.nwb", duration=200.0, n_units=2, n_channels=8, seed=11)
    from napstream.engine import readahead as engine_readahead

    plans = []

    def spy(*args, **kwargs):
        plans.append(planner.plan(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(engine_readahead, "plan", spy)
    local = nap.NWBFile(str(path))["ElectricalSeriesLFP"]
    ref = nap.compute_mean_power_spectral_density(local, 2.0, max_memory="16MB", executor=executor)
    job = plans[-1]
    sizes = [t.rows.core_stop - t.rows.core_start for t in job.tasks]
    assert all(a > b for a, b in zip(sizes[-4:], sizes[-3:])) and sizes[-1] < job.rows // 4  # tapered
    server = http_server(tmp_path, latency=0.005)
    nwb = nap.NWBFile(server.url_for("s.nwb"), cache=False)
    lfp = nwb["ElectricalSeriesLFP"]
    out = nap.compute_mean_power_spectral_density(lfp, 2.0, max_memory="16MB", executor=executor)
    assert [t.rows for t in plans[-1].tasks] == [t.rows for t in job.tasks]  # cold plans the same chunks
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    src = lfp._d.base.source
    assert src._ahead is not None and src._ahead.blocks_fetched > 0
    # each byte at most once, but for the index nodes walked at the open (nwb/index_warmup.py): a
    # node of a few kilobytes inside a data request is fetched again rather than cutting the request
    nodes = sum(map(len, src._exact_nodes.values()))
    assert nodes < 20_000
    assert server.stats.bytes_sent <= path.stat().st_size + nodes
    assert server.stats.bytes_sent_twice(path.stat().st_size) <= nodes
    assert src.memory.pinned_bytes == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("napstream-readahead")]
    nwb.close()
