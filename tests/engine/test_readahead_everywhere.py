"""Read-ahead outside the plain ``run`` path: iter_chunks / apply / chunked reductions, channel-split jobs,
the dask executor, lazy filters and peri-event windows - over a real NWB file on the slow loopback server.

Each path is checked the same way: the read-ahead ran with several requests in flight, no byte of the
file was fetched twice, pinned bytes stayed within the share of the budget, the result equals the local
one, and any way of stopping early leaves no fetch thread, pinned block or request behind.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

import napstream as nap
from napstream.core import readahead
from napstream.core.chunked import EpochStats
from napstream.engine import dask_readahead
from napstream.engine.runner import run
from napstream.testing.sessions import write_session

LATENCY = 0.01


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readahead_everywhere")
    path = write_session(folder / "s.nwb", duration=200.0, n_units=2, n_channels=8, seed=5)
    return folder, path


def _threads():
    return [t for t in threading.enumerate() if t.name.startswith("napstream-readahead")]


def _open(server):
    nwb = nap.NWBFile(server.url_for("s.nwb"), cache=False, speculate=False)  # the job's read-ahead alone
    lfp = nwb["ElectricalSeriesLFP"]
    return nwb, lfp, lfp._d.base.source


def _fetched_twice(server, size):
    """Bytes the server sent more than once (from the Range headers it answered)."""
    return server.stats.bytes_sent_twice(size)


def _check_read_ahead(server, src, path, budget, in_flight=1, min_requests=2):
    ahead = src._ahead
    assert ahead is not None and ahead.blocks_fetched > 0, "the read-ahead did not run"
    assert ahead.max_in_flight >= min_requests, f"only {ahead.max_in_flight} request(s) in flight"
    # pinned bytes are never fetched again (the open's metadata reads may overlap a little)
    assert _fetched_twice(server, path.stat().st_size) <= 64 * 1024
    assert 0 < src.memory.peak_pinned_bytes <= readahead.reserve(budget, in_flight)
    assert src.memory.pinned_bytes == 0 and not _threads()


@pytest.fixture
def local_lfp(session):
    _, path = session
    nwb = nap.NWBFile(str(path))
    yield nwb["ElectricalSeriesLFP"]
    nwb.close()


# ------------------------------------------------------------------------------ iter_chunks / apply
def test_iter_chunks_reads_ahead_and_equals_local(session, http_server, local_lfp):
    folder, path = session
    budget = 1_500_000
    ref = [np.asarray(c.values) for c in local_lfp.iter_chunks(max_memory=budget)]
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    got = [np.asarray(c.values) for c in lfp.iter_chunks(max_memory=budget)]
    assert len(got) == len(ref) > 3
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    _check_read_ahead(server, src, path, budget)
    nwb.close()


def test_apply_and_chunked_reductions_read_ahead(session, http_server, local_lfp, tmp_path):
    folder, path = session
    budget = 1_500_000
    ref = np.asarray(local_lfp.apply(lambda p: p.values * 2.0, max_memory=budget, out=tmp_path / "a.h5").values)
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    out = lfp.apply(lambda p: p.values * 2.0, max_memory=budget, out=tmp_path / "b.h5")
    np.testing.assert_array_equal(np.asarray(out.values), ref)
    _check_read_ahead(server, src, path, budget)
    nwb.close()

    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    stats = lfp._chunked_epoch_stats(max_memory=budget)
    np.testing.assert_allclose(stats[0], local_lfp._chunked_epoch_stats(max_memory=budget)[0], rtol=1e-12)
    _check_read_ahead(server, src, path, budget)
    nwb.close()


def _assert_stopped(server, src):
    assert not _threads()
    assert src.memory.pinned_bytes == 0
    sent = server.stats.bytes_sent
    threading.Event().wait(0.3)
    assert server.stats.bytes_sent == sent  # no request left running


def test_breaking_out_of_iter_chunks_stops_the_read_ahead(session, http_server):
    folder, _ = session
    server = http_server(folder, latency=0.02, bandwidth=2_000_000)
    nwb, lfp, src = _open(server)
    for i, _ in enumerate(lfp.iter_chunks(max_memory=1_000_000)):
        if i == 1:
            break  # the generator is closed here
    _assert_stopped(server, src)
    assert server.stats.bytes_sent < 0.6 * lfp._d.nbytes  # the rest was never fetched
    nwb.close()


def test_closing_the_generator_early_stops_the_read_ahead(session, http_server):
    folder, _ = session
    server = http_server(folder, latency=0.02, bandwidth=2_000_000)
    nwb, lfp, src = _open(server)
    pieces = lfp.iter_chunks(max_memory=1_000_000)
    next(pieces)
    assert src._ahead is not None and src._ahead.threads  # announced: fetching in the background
    pieces.close()
    _assert_stopped(server, src)
    nwb.close()


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_an_error_in_the_consumer_or_in_apply_stops_the_read_ahead(session, http_server, error):
    folder, _ = session
    server = http_server(folder, latency=0.02, bandwidth=2_000_000)
    nwb, lfp, src = _open(server)
    with pytest.raises(error):
        for i, _ in enumerate(lfp.iter_chunks(max_memory=1_000_000)):
            if i == 1:
                raise error()
    _assert_stopped(server, src)

    def boom(piece):
        raise error()

    with pytest.raises(error):
        lfp.apply(boom, max_memory=1_000_000)
    _assert_stopped(server, src)
    nwb.close()


# ------------------------------------------------------------------------------ channel groups
def test_a_job_split_along_channels_reads_each_groups_columns_ahead(tmp_path, http_server):
    # chunks of 2 channels: a group of 2 channels reads (and reads ahead) a quarter of the bytes
    path = write_session(tmp_path / "s.nwb", duration=150.0, n_units=1, n_channels=8, seed=2)
    import h5py

    with h5py.File(path, "a") as f:
        name = next(k for k in f["processing/ecephys/LFP"].keys())
        d = f[f"processing/ecephys/LFP/{name}/data"]
        values = d[()]
        attrs = dict(d.attrs)
        del f[f"processing/ecephys/LFP/{name}/data"]
        new = f.create_dataset(f"processing/ecephys/LFP/{name}/data", data=values, chunks=(1250, 2))
        for k, v in attrs.items():
            new.attrs[k] = v
    local = nap.NWBFile(str(path))["ElectricalSeriesLFP"]
    budget = 300_000
    ref = nap.compute_mean_power_spectral_density(local, 1.0, max_memory=budget, executor="serial")
    server = http_server(tmp_path, latency=LATENCY)
    # small blocks: a group's chunks (5 kB each, interleaved with the other groups') are its own blocks
    nwb = nap.NWBFile(server.url_for("s.nwb"), cache=False, block_size=8192, speculate=False)
    lfp = nwb["ElectricalSeriesLFP"]
    src = lfp._d.base.source
    seen = []
    original = type(lfp._d.base._base).will_read

    def spy(self, segments, max_bytes, requests=None, cols=None):
        seen.append(cols)
        return original(self, segments, max_bytes, requests, cols)

    type(lfp._d.base._base).will_read = spy
    try:
        out = nap.compute_mean_power_spectral_density(lfp, 1.0, max_memory=budget, executor="serial")
    finally:
        type(lfp._d.base._base).will_read = original
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    assert len(seen) > 1 and all(c is not None and c[1] - c[0] < 8 for c in seen)  # per group, its columns
    assert seen == sorted(seen)  # group after group
    _check_read_ahead(server, src, path, budget)
    nwb.close()


# ------------------------------------------------------------------------------ dask
@pytest.fixture
def reopened():
    """Close the files dask workers reopened through DatasetRef (kept open per process): an h5py
    file over a Python file object still open at interpreter exit crashes the exit (exit code 139)."""
    yield
    from napstream.nwb import source as nwb_source

    nwb_source.close_reopened()


def test_dask_workers_read_ahead_on_their_own_files(session, http_server, reopened):
    pytest.importorskip("distributed")
    from napstream.nwb import source as nwb_source

    folder, path = session
    local = nap.NWBFile(str(path))["ElectricalSeriesLFP"]
    ref = nap.compute_mean_power_spectral_density(local, 2.0, max_memory="8MB", executor="serial")
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    announced = []
    original = dask_readahead._start

    def spy(plan, task):
        announced.append(len(plan.tasks))
        return original(plan, task)

    dask_readahead._start = spy
    try:
        out = nap.compute_mean_power_spectral_density(lfp, 2.0, max_memory="8MB", executor="dask", n_workers=2)
    finally:
        dask_readahead._start = original
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-9)  # other chunk seams
    assert announced
    sources = [src] + list(nwb_source._BYTE_SOURCES.values())
    aheads = [s._ahead for s in sources if getattr(s, "_ahead", None) is not None]
    assert sum(a.blocks_fetched for a in aheads) > 0 and max(a.max_in_flight for a in aheads) >= 2
    assert not dask_readahead._JOBS  # every worker's read-ahead ended with the job
    assert all(s.memory.pinned_bytes == 0 for s in sources if hasattr(s, "memory")) and not _threads()
    nwb.close()


class _Boom:
    margin = 0

    def init(self):
        return 0.0

    def update(self, state, chunk):
        raise ValueError("kernel failed")

    def merge(self, parts):
        return sum(parts)

    def finalize(self, state):
        return state


def test_an_error_in_a_dask_kernel_ends_the_workers_read_ahead(session, http_server, reopened):
    pytest.importorskip("distributed")
    folder, _ = session
    server = http_server(folder, latency=0.02, bandwidth=5_000_000)
    nwb, lfp, src = _open(server)
    with pytest.raises(ValueError, match="kernel failed"):
        run(_Boom(), lfp, max_memory="1MB", executor="dask", n_workers=2)
    assert not dask_readahead._JOBS
    _assert_stopped(server, src)
    nwb.close()


# ------------------------------------------------------------------------------ lazy filters, perievent
def test_a_lazy_filter_reads_its_source_ahead(session, http_server, local_lfp):
    folder, path = session
    budget = 8_000_000
    hp = nap.apply_highpass_filter(local_lfp, 20.0)
    ref = [np.asarray(c.values) for c in hp.iter_chunks(max_memory=budget)]
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    got = [np.asarray(c.values) for c in nap.apply_highpass_filter(lfp, 20.0).iter_chunks(max_memory=budget)]
    assert len(got) == len(ref) > 1
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    _check_read_ahead(server, src, path, budget)
    nwb.close()


def test_perievent_reads_its_windows_ahead(session, http_server, local_lfp):
    folder, path = session
    events = nap.Ts(np.linspace(5.0, 195.0, 20))  # apart: one read per window
    ref = nap.compute_perievent(local_lfp, events, window=0.4)
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    out = nap.compute_perievent(lfp, events, window=0.4)
    np.testing.assert_array_equal(np.asarray(out.values), np.asarray(ref.values))
    assert src._ahead is not None and src._ahead.blocks_fetched > 0 and src._ahead.max_in_flight >= 2
    assert _fetched_twice(server, path.stat().st_size) <= 64 * 1024
    assert src.memory.pinned_bytes == 0 and not _threads()
    nwb.close()


def test_read_ahead_can_be_turned_off(session, http_server):
    folder, _ = session
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    readahead.enabled = False
    try:
        run(EpochStats(n_epochs=1), lfp, max_memory="2MB", executor="serial")
    finally:
        readahead.enabled = True
    assert src._ahead is None
    nwb.close()


def test_reading_a_large_remote_array_whole_reads_the_next_batches_ahead(session, http_server, local_lfp):
    folder, path = session
    server = http_server(folder, latency=LATENCY)
    nwb, lfp, src = _open(server)
    src.memory.max_bytes = 4_000_000  # batches of 2 MB (``prefetch_limit``): two of them
    values = lfp.values
    np.testing.assert_array_equal(values, local_lfp.values)
    # the next batch came by read-ahead (how many requests carry it is io's bandwidth-delay sizing)
    assert src._ahead is not None and src._ahead.blocks_fetched > 0 and src.memory.pinned_hits > 0
    assert _fetched_twice(server, path.stat().st_size) <= 64 * 1024
    assert src.memory.pinned_bytes == 0 and not _threads()
    nwb.close()


def test_a_task_that_starts_after_its_job_ended_announces_nothing(monkeypatch):
    """dask does not stop a task already handed to a worker thread when another task failed: the
    job's end (``end_job`` on every worker) can come before that task starts. It must then run
    without read-ahead, not register the ended job again (which nothing would ever cancel)."""
    started = []
    monkeypatch.setattr(dask_readahead, "ReadAheadJob",
                        lambda *a, **k: started.append(a) or SimpleNamespace(__enter__=lambda: None,
                                                                              cancel=lambda: None, handles=[]))
    plan = dask_readahead.WorkerPlan("job-late", [SimpleNamespace(x=1), SimpleNamespace(x=2)], 1 << 20, ("x",))
    assert dask_readahead.end_job("job-late") == 0  # the job failed elsewhere and was ended here first
    assert dask_readahead.run_planned(lambda: 42, plan, SimpleNamespace(x=1)) == 42
    assert not started and "job-late" not in dask_readahead._JOBS
