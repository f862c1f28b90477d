"""``executor="dask"`` with no distributed.Client anywhere: napstream starts a local cluster itself.

Regression test: the LocalCluster call asked for an in-process cluster on host 127.0.0.1, which the
inproc transport rejects ("Cluster failed to start").
"""

import numpy as np
import pytest

import napstream as nap

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


def _no_client() -> bool:
    try:
        distributed.get_client()
    except ValueError:
        return True
    return False


def test_dask_without_a_client_starts_and_closes_a_local_cluster():
    assert _no_client(), "another test left a dask client behind"
    rng = np.random.default_rng(3)
    data = nap.TsdFrame(t=np.arange(20_000) / 500.0, d=rng.normal(size=(20_000, 3)))
    expected = nap.compute_mean_power_spectral_density(data, 2.0, max_memory="1GB", executor="serial")
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    got = nap.compute_mean_power_spectral_density(data, 2.0, max_memory="2MB", executor="dask", n_workers=2)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-12)
    np.testing.assert_allclose(got.index, expected.index)
    assert _no_client(), "the cluster napstream started for the call is still the default client"
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children


def test_start_local_cluster_rejects_bad_worker_counts():
    from napstream.engine.executors import start_local_cluster

    with pytest.raises(nap.NapstreamError, match="n_workers must be a positive integer"):
        start_local_cluster(0)


def test_a_cluster_that_cannot_start_is_one_clear_error(monkeypatch):
    from napstream.engine.executors import ClusterStartError, start_local_cluster

    def broken(**kwargs):
        raise RuntimeError("Cluster failed to start: Scheduler failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", broken)
    with pytest.raises(ClusterStartError) as info:
        start_local_cluster(2, processes=True)
    message = str(info.value)
    assert "\n" not in message and "Scheduler failed to start" in message
    assert "if __name__ == '__main__':" in message and "executor='threads'" in message
    assert isinstance(info.value, RuntimeError)  # still a RuntimeError for existing handlers
