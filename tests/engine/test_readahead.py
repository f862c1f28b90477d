"""Engine read-ahead over a real NWB file on the loopback server: same results, bounded pins, clean exits."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import napstream as nap
from napstream.core.chunked import EpochStats
from napstream.engine.readahead import ReadAheadJob
from napstream.engine.runner import run
from napstream.testing.sessions import write_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readahead")
    path = write_session(folder / "s.nwb", duration=200.0, n_units=2, n_channels=8, seed=3)
    return folder, path


def _readahead_threads():
    return [t for t in threading.enumerate() if t.name.startswith("napstream-readahead")]


def _remote_lfp(server):
    nwb = nap.NWBFile(server.url_for("s.nwb"), cache=False)
    return nwb, nwb["ElectricalSeriesLFP"]


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_remote_psd_with_read_ahead_is_identical_to_local(session, http_server, executor):
    folder, path = session
    local = nap.NWBFile(str(path))["ElectricalSeriesLFP"]
    ref = nap.compute_mean_power_spectral_density(local, 2.0, max_memory="16MB", executor=executor)
    server = http_server(folder, latency=0.005)
    nwb, lfp = _remote_lfp(server)
    out = nap.compute_mean_power_spectral_density(lfp, 2.0, max_memory="16MB", executor=executor)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    np.testing.assert_array_equal(np.asarray(out.index), np.asarray(ref.index))
    src = lfp._d.base.source
    assert src._ahead is not None and src._ahead.blocks_fetched > 0  # the read-ahead did run
    # every byte of the file at most once (pinned blocks are never fetched again), but for the
    # index nodes walked at the open (nwb/index_warmup.py): a node of a few kilobytes inside a data
    # request is fetched again rather than splitting the request around it
    nodes = sum(map(len, src._exact_nodes.values()))
    assert nodes < 20_000  # a few nodes of 2616 bytes
    assert server.stats.bytes_sent <= path.stat().st_size + nodes
    assert server.stats.bytes_sent_twice(path.stat().st_size) <= nodes
    assert src.memory.pinned_bytes == 0 and not _readahead_threads()
    nwb.close()


def test_pinned_bytes_stay_within_the_share_of_the_budget(session, http_server):
    folder, _ = session
    server = http_server(folder, latency=0.005, bandwidth=20_000_000)
    nwb, lfp = _remote_lfp(server)
    budget = 2_000_000
    run(EpochStats(n_epochs=1), lfp, max_memory=budget, executor="serial")
    src = lfp._d.base.source
    share = budget * ReadAheadJob.share // (1 + ReadAheadJob.share)
    assert 0 < src.memory.peak_pinned_bytes <= share
    nwb.close()


class _Boom:
    """Mean of the chunks that raises ``error`` at chunk ``at``."""

    margin = 0

    def __init__(self, error, at=2):
        self.error, self.at, self.seen = error, at, 0

    def init(self):
        return 0.0

    def update(self, state, chunk):
        self.seen += 1
        if self.seen == self.at:
            raise self.error
        return state + float(np.asarray(chunk.d).sum())

    def merge(self, parts):
        return sum(parts)

    def finalize(self, state):
        return state


@pytest.mark.parametrize("error", [ValueError("kernel failed"), KeyboardInterrupt()])
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_an_error_or_ctrl_c_stops_the_read_ahead(session, http_server, error, executor):
    folder, _ = session
    server = http_server(folder, latency=0.01, bandwidth=5_000_000)
    nwb, lfp = _remote_lfp(server)
    with pytest.raises(type(error)):
        run(_Boom(error), lfp, max_memory="1MB", executor=executor, n_workers=2)
    src = lfp._d.base.source
    assert not _readahead_threads()
    assert src.memory.pinned_bytes == 0
    sent = server.stats.bytes_sent
    threading.Event().wait(0.2)
    assert server.stats.bytes_sent == sent  # no request left running
    nwb.close()
