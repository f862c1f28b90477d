"""The dask executor on a loopback LocalCluster (2 worker processes): same results as serial.

Tasks travel pickled: LazyArrays reopen their HDF5 file on the worker through their ``ref``.
"""

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.engine.reductions import EpochStats
from napstream.engine.runner import run

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # worker processes start in a few seconds


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def lfp(tmp_path_factory):
    rng = np.random.default_rng(5)
    raw = (rng.normal(0, 500, (12_000, 4))).astype(np.int16)
    path = tmp_path_factory.mktemp("dask") / "lfp.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(1000, 4), compression="gzip")
    ref = H5DatasetRef(str(path), "lfp")
    lazy = nap.TsdFrame(t=RegularTimeIndex(0.0, 500.0, len(raw)), d=LazyArray(ref.open(), scale=1e-3, ref=ref))
    mem = nap.TsdFrame(t=np.arange(len(raw)) / 500.0, d=raw * 1e-3)
    return lazy, mem


def test_mean_psd_on_dask_equals_serial(client, lfp):
    lazy, mem = lfp
    serial = nap.compute_mean_power_spectral_density(mem, 2.0, max_memory="1GB")
    for executor in (client, "dask"):  # a Client, or the name (uses the current client)
        got = nap.compute_mean_power_spectral_density(lazy, 2.0, max_memory="1500kB", executor=executor,
                                                      n_workers=2)
        np.testing.assert_allclose(got.values, serial.values, rtol=1e-12)
        np.testing.assert_allclose(got.index, serial.index)


def test_filter_and_reduction_on_dask(client, lfp):
    lazy, mem = lfp
    exp = nap.apply_bandpass_filter(mem, (5.0, 50.0), max_memory="1GB")
    got = nap.apply_bandpass_filter(lazy, (5.0, 50.0), max_memory="4MB", executor=client)
    assert got.is_lazy
    np.testing.assert_allclose(got.values, exp.values, rtol=1e-9, atol=1e-12)
    ep = nap.IntervalSet([1.0, 10.0], [8.0, 23.0])
    m_d, s_d, c_d = run(EpochStats(2), lazy, ep=ep, max_memory="100kB", executor=client)
    m_s, s_s, c_s = run(EpochStats(2), lazy, ep=ep, max_memory="100kB", executor="serial")
    np.testing.assert_array_equal(c_d, c_s)
    np.testing.assert_allclose(m_d, m_s, rtol=1e-13)
    np.testing.assert_allclose(s_d, s_s, rtol=1e-13)


def test_lazy_without_ref_is_read_by_the_client(client, lfp, tmp_path):
    lazy, mem = lfp
    with h5py.File(tmp_path / "noref.h5", "w") as f:
        f.create_dataset("x", data=mem.values)
    dset = h5py.File(tmp_path / "noref.h5", "r")["x"]
    noref = nap.TsdFrame(t=RegularTimeIndex(0.0, 500.0, len(mem)), d=LazyArray(dset))
    got = run(EpochStats(1), noref, max_memory="300kB", executor=client)
    np.testing.assert_allclose(got[0][0], mem.values.mean(0), rtol=1e-12)
