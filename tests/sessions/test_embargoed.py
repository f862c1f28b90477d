"""map_sessions over an embargoed dandiset whose presigned URLs expire in the middle of the run.

An embargoed asset's bytes are read through a presigned S3 URL, which expires (DANDI: after an
hour or so). A long map_sessions run opens a session, computes for a while and reads more: the
source must ask the DANDI API for a fresh URL after the 403 and carry on, on every executor.
Before the fix the sessions opened from listed assets (``open_asset``) had no resolver: every
session whose URL expired after its open failed with ``RemoteAccessError``.

The local DANDI server's ``expire_signatures()`` makes every URL handed out so far answer 403; the
analysis calls it right after its session is opened, so every read it then makes needs a fresh URL.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import napstream as nap

from sessions_layout import BINS, GOOD, MINMAX

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

KEY = "embargo-" + uuid.uuid4().hex[:8]
SESSIONS = GOOD[:3]


def tuning(nwb):
    return nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], BINS, minmax=MINMAX)


@pytest.fixture(scope="module")
def embargoed(dandiset_files):
    from napstream.testing.dandi_server import LocalDandiServer

    server = LocalDandiServer({p: dandiset_files[p] for p in SESSIONS}, api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def key_in_env(monkeypatch):
    monkeypatch.setenv("DANDI_API_KEY", KEY)  # workers (threads, processes) find the key where dandi-cli does


def _assets(server):
    return nap.Dandiset("000582", api_url=server.api_url, api_key=KEY).assets("sub-*/*.nwb")


def _check(results, reference, server, expired_before):
    assert results.errors == {}, results.errors
    assert list(results.labels) == SESSIONS
    for apath in SESSIONS:
        tc, bins = results[apath]
        ref_tc, ref_bins = reference[apath]
        for unit in ref_tc:
            np.testing.assert_allclose(tc[unit], ref_tc[unit], rtol=1e-12, equal_nan=True)
    assert server.s3.stats.by_status.get(403, 0) > expired_before  # the URLs did expire mid-session


@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_map_sessions_survives_expired_presigned_urls(embargoed, reference, key_in_env, tmp_path, executor):
    def analysis(nwb):
        embargoed.expire_signatures()  # every URL handed out so far, this session's included, now answers 403
        return tuning(nwb)

    before = embargoed.s3.stats.by_status.get(403, 0)
    got = nap.map_sessions(analysis, _assets(embargoed), executor, n_workers=2, progress=False,
                           cache_dir=tmp_path / "cache", block_size=16384)
    _check(got, reference, embargoed, before)
    assert all(st.attempts == 1 for st in got.stats.values())  # not by re-running the session


def test_the_key_of_a_dandiset_goes_with_its_sessions(embargoed, reference, monkeypatch, tmp_path):
    """No DANDI_API_KEY in the environment: a Dandiset opened with api_key= hands it to its sessions
    (before: every session failed with 401 on the worker); the key is never shown."""
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    ds = nap.Dandiset("000582", api_url=embargoed.api_url, api_key=KEY)

    def analysis(nwb):
        embargoed.expire_signatures()
        return tuning(nwb)

    before = embargoed.s3.stats.by_status.get(403, 0)
    got = nap.map_sessions(analysis, ds, "threads", n_workers=2, progress=False, cache_dir=tmp_path / "c",
                           block_size=16384, on_error="collect")
    _check(got, reference, embargoed, before)
    assert KEY not in repr(got) and not any(KEY in e for e in got.errors.values())


def test_an_opened_asset_reads_on_after_its_url_expires(embargoed, reference, tmp_path):
    """The same through Dandiset.open (one session, the key given explicitly, not in the environment)."""
    ds = nap.Dandiset("000582", api_url=embargoed.api_url, api_key=KEY)
    with ds.open(SESSIONS[0], cache_dir=tmp_path / "c", block_size=16384) as nwb:
        embargoed.expire_signatures()
        tc, _ = tuning(nwb)
    for unit, ref in reference[SESSIONS[0]][0].items():
        np.testing.assert_allclose(tc[unit], ref, rtol=1e-12, equal_nan=True)


# ------------------------------------------------------------------------------------------ dask
def _expire_on_request(folder: str):
    """The analysis for worker processes: it asks the test process (through files) to expire the URLs
    right after its session is opened, waits until that is done, then computes."""
    def analysis(nwb):
        token = uuid.uuid4().hex
        Path(folder, f"{token}.ask").write_text("expire")
        done = Path(folder, f"{token}.done")
        deadline = time.monotonic() + 60.0
        while not done.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test process did not expire the URLs")
            time.sleep(0.02)
        return tuning(nwb)
    return analysis


@pytest.mark.slow
def test_dask_workers_survive_expired_presigned_urls(embargoed, reference, key_in_env, tmp_path):
    pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    folder = tmp_path / "asks"
    folder.mkdir()
    stop = threading.Event()

    def expire_when_asked():
        while not stop.is_set():
            for ask in folder.glob("*.ask"):
                embargoed.expire_signatures()
                ask.rename(ask.with_suffix(".done"))
            stop.wait(0.02)

    watcher = threading.Thread(target=expire_when_asked, daemon=True)
    watcher.start()
    before = embargoed.s3.stats.by_status.get(403, 0)
    try:
        got = nap.map_sessions(_expire_on_request(str(folder)), _assets(embargoed), "dask", n_workers=2,
                               progress=False, block_size=16384)
    finally:
        stop.set()
        watcher.join(5)
    _check(got, reference, embargoed, before)
    assert len(list(folder.glob("*.done"))) == len(SESSIONS)
    assert all(st.worker.startswith("tcp://") for st in got.stats.values())
    assert os.environ.get("DANDI_API_KEY") == KEY


def test_a_lazy_array_sent_elsewhere_reopens_with_a_fresh_url(embargoed, dandiset_files, tmp_path):
    """A lazy array pickled (as for a dask worker) reopens the file from its description; after the
    URLs expired, that reopening asks for a fresh URL too."""
    import pickle

    from napstream.nwb import source

    ds = nap.Dandiset("000582", api_url=embargoed.api_url, api_key=KEY)
    with ds.open(SESSIONS[1], cache=False, block_size=16384) as nwb:
        lazy = nwb["SpatialSeriesLED1"].lazy_data
        payload = pickle.dumps(lazy)
        assert KEY not in repr(lazy.ref)  # the resolver carries the key, never shows it
    embargoed.expire_signatures()
    before = embargoed.s3.stats.by_status.get(403, 0)
    source.close_reopened()
    again = pickle.loads(payload)
    with nap.NWBFile(str(dandiset_files[SESSIONS[1]])) as local:
        np.testing.assert_array_equal(np.asarray(again), np.asarray(local["SpatialSeriesLED1"].values))
    assert embargoed.s3.stats.by_status.get(403, 0) > before
    source.close_reopened()
