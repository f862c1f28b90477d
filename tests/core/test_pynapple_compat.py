"""pynapple 0.11 names napstream gained for pynapple's own test suite: config switches, TsIndex,
core.utils, and the per-epoch methods decimate / find_peaks / to_trial_tensor / trial_count.

The per-epoch methods are checked against pynapple on the same data, with napstream's series in
memory, lazy over a local HDF5 file and lazy over the loopback HTTP server.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pynapple
import pytest

import napstream as nap
from napstream.config import config
from napstream.core.lazy import LazyArray
from napstream.errors import ArgumentIOError, ArgumentRuntimeError
from napstream.io import FileObject, open_source

# -- config -------------------------------------------------------------------------------


def test_config_matches_pynapple():
    assert nap.nap_config.backend == pynapple.nap_config.backend == "numba"
    assert nap.nap_config.time_index_precision == pynapple.nap_config.time_index_precision
    assert nap.core.utils.get_backend() == pynapple.core.utils.get_backend()
    with pytest.raises(AssertionError, match="Options for backend are 'jax' or 'numba'"):
        nap.nap_config.set_backend("blabla")
    with pytest.raises(ValueError, match="must be a boolean value"):
        nap.nap_config.suppress_conversion_warnings = 1
    try:
        config.suppress_conversion_warnings = True
        config.suppress_time_index_sorting_warnings = True
        config.restore_defaults()
        assert not config.suppress_conversion_warnings and not config.suppress_time_index_sorting_warnings
    finally:
        config.restore_defaults()


def test_set_backend_jax_falls_back_with_warning():
    with pytest.warns(UserWarning, match="Falling back to numba"):
        nap.nap_config.set_backend("jax")
    assert nap.nap_config.backend == "numba"


@pytest.mark.parametrize("obj", [np.ones(3), np.array([]), [1, 2, 3], 1, "a", True, np.ones((2, 2))])
def test_is_array_like_matches_pynapple(obj):
    assert nap.core.utils.is_array_like(obj) == pynapple.core.utils.is_array_like(obj)


# -- TsIndex ------------------------------------------------------------------------------


def test_tsindex_matches_pynapple():
    t = np.random.default_rng(1).random(50) * 1000
    for units in ("s", "ms", "us"):
        np.testing.assert_array_equal(nap.TsIndex.format_timestamps(t, units),
                                      pynapple.TsIndex.format_timestamps(t, units))
        np.testing.assert_array_equal(nap.TsIndex.return_timestamps(t, units),
                                      pynapple.TsIndex.return_timestamps(t, units))
    with pytest.raises(ValueError, match="unrecognized time units type"):
        nap.TsIndex.format_timestamps(t, "h")
    with pytest.warns(UserWarning, match="timestamps are not sorted"):
        s = nap.TsIndex.sort_timestamps(t)
    np.testing.assert_array_equal(s, pynapple.TsIndex.sort_timestamps(t, False))
    idx = nap.TsIndex(np.arange(5.0), "ms")
    np.testing.assert_array_equal(idx, pynapple.TsIndex(np.arange(5.0), "ms"))
    np.testing.assert_array_equal(idx.in_units("us"), pynapple.TsIndex(np.arange(5.0), "ms").in_units("us"))
    with pytest.raises(RuntimeError, match="TsIndex object is not mutable"):
        idx[0] = 1.0


def test_index_is_tsindex_and_to_numpy_gives_times():
    tsd = nap.Tsd(t=np.array([1.0, 2.5, 4.0]), d=np.arange(3.0))
    assert isinstance(tsd.index, nap.TsIndex)
    np.testing.assert_array_equal(tsd.index.to_numpy(), [1.0, 2.5, 4.0])


def test_plot_puts_times_on_x_axis():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    tsd = nap.Tsd(t=np.array([10.0, 20.0, 30.0]), d=np.array([1.0, 2.0, 3.0]))
    fig, ax = plt.subplots()
    (line,) = ax.plot(tsd)
    np.testing.assert_array_equal(line.get_xdata(), [10.0, 20.0, 30.0])
    plt.close(fig)


# -- per-epoch methods: memory, local lazy, loopback lazy == pynapple ------------------------

N = 3000


def _data():
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.005, 0.015, N))
    d = np.sin(t * 3) + rng.normal(scale=0.3, size=N)
    f = np.stack([d, np.cos(t * 2)], axis=1)
    return t, d, f


@pytest.fixture(scope="module")
def h5file(tmp_path_factory):
    t, d, f = _data()
    path = tmp_path_factory.mktemp("compat") / "series.h5"
    with h5py.File(path, "w") as h:
        h.create_dataset("t", data=t, chunks=(256,))
        h.create_dataset("d", data=d, chunks=(256,))
        h.create_dataset("f", data=f, chunks=(256, 2))
    return path


@pytest.fixture(params=["memory", "local", "loopback"])
def series(request, h5file, http_server, tmp_path):
    """(napstream Tsd, napstream TsdFrame, pynapple Tsd, pynapple TsdFrame)."""
    t, d, f = _data()
    ref = pynapple.Tsd(t=t, d=d), pynapple.TsdFrame(t=t, d=f, columns=["a", "b"])
    if request.param == "memory":
        yield nap.Tsd(t=t, d=d), nap.TsdFrame(t=t, d=f, columns=["a", "b"]), *ref
        return
    if request.param == "local":
        h = h5py.File(h5file, "r")
    else:
        server = http_server(h5file.parent)
        src = open_source(server.url_for(h5file.name), cache_dir=tmp_path / "c", block_size=8192)
        h = h5py.File(FileObject(src), "r")
    tsd = nap.Tsd(t=LazyArray(h["t"]), d=LazyArray(h["d"]))
    tf = nap.TsdFrame(t=LazyArray(h["t"]), d=LazyArray(h["f"]), columns=["a", "b"])
    assert tsd.is_lazy and tf.is_lazy
    yield tsd, tf, *ref
    h.close()


EPOCHS = [[2.0, 11.0], [12.5, 25.0]]


@pytest.mark.parametrize("filter_type, order", [("iir", 8), ("fir", 6)])
@pytest.mark.parametrize("down", [2, 3])
def test_decimate_matches_pynapple(series, down, filter_type, order):
    tsd, tf, ptsd, ptf = series
    ep, pep = nap.IntervalSet(*zip(*EPOCHS)), pynapple.IntervalSet(*zip(*EPOCHS))
    for ours, ref in ((tsd, ptsd), (tf, ptf)):
        got = ours.decimate(down, order=order, filter_type=filter_type, ep=ep)
        want = ref.decimate(down, order=order, filter_type=filter_type, ep=pep)
        np.testing.assert_array_equal(got.t, want.t)
        np.testing.assert_allclose(got.d, want.d, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(got.time_support.values, want.time_support.values)


def test_find_peaks_matches_pynapple(series):
    tsd, tf, ptsd, ptf = series
    ep, pep = nap.IntervalSet(*zip(*EPOCHS)), pynapple.IntervalSet(*zip(*EPOCHS))
    got, want = tsd.find_peaks(ep, height=0.5, distance=5), ptsd.find_peaks(pep, height=0.5, distance=5)
    np.testing.assert_array_equal(got.t, want.t)
    np.testing.assert_array_equal(got.d, want.d)
    got = tsd.find_peaks(ep, return_prop=True, prominence=0.3)
    want = ptsd.find_peaks(pep, return_prop=True, prominence=0.3)
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got.d, want.d)
    got, want = tf.find_peaks(ep, height=0.2), ptf.find_peaks(pep, height=0.2)
    assert list(got.keys()) == list(want.keys())
    for k in want.keys():
        np.testing.assert_array_equal(got[k].t, want[k].t)
        np.testing.assert_array_equal(got[k].d, want[k].d)
    assert list(got.metadata["columns"]) == list(want.metadata["columns"])


@pytest.mark.parametrize("align", ["start", "end"])
def test_to_trial_tensor_matches_pynapple(series, align):
    tsd, tf, ptsd, ptf = series
    ep, pep = nap.IntervalSet([1.0, 5.0, 9.0], [2.0, 5.5, 12.0]), pynapple.IntervalSet([1.0, 5.0, 9.0], [2.0, 5.5, 12.0])
    np.testing.assert_array_equal(tsd.to_trial_tensor(ep, align), ptsd.to_trial_tensor(pep, align))
    np.testing.assert_array_equal(tf.to_trial_tensor(ep, align, padding_value=-1),
                                  ptf.to_trial_tensor(pep, align, padding_value=-1))


@pytest.mark.parametrize("align", ["start", "end"])
def test_trial_count_matches_pynapple(series, align):
    tsd, _, ptsd, _ = series
    ts = nap.Ts(t=tsd.t[::7])
    pts = pynapple.Ts(t=ptsd.t[::7])
    ep, pep = nap.IntervalSet([1.0, 5.0, 9.0], [2.0, 5.5, 12.0]), pynapple.IntervalSet([1.0, 5.0, 9.0], [2.0, 5.5, 12.0])
    np.testing.assert_array_equal(ts.trial_count(ep, 100, align, time_unit="ms"),
                                  pts.trial_count(pep, 100, align, time_unit="ms"))


def test_per_epoch_method_errors_keep_pynapple_types():
    tsd = nap.Tsd(t=np.arange(10.0), d=np.arange(10.0))
    with pytest.raises(IOError, match="Invalid value for 'down'"):
        tsd.decimate("3")
    with pytest.raises(ArgumentIOError, match="'filter_type' should be one of"):
        tsd.decimate(2, filter_type="x")
    with pytest.raises(RuntimeError, match="align should be 'start' or 'end'"):
        tsd.to_trial_tensor(nap.IntervalSet(0, 5), align="middle")
    with pytest.raises(ArgumentRuntimeError, match="bin_size should be of type int or float"):
        nap.Ts(t=np.arange(5.0)).trial_count(nap.IntervalSet(0, 5), "a")
    with pytest.raises(TypeError, match="epochs should be an IntervalSet"):
        tsd.find_peaks([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nap.Tsd(t=np.arange(100.0), d=np.arange(100.0)).decimate(2).shape == (50,)


# -- npz files: pynapple's and napstream's, both ways ---------------------------------------


def _objects(lib):
    t = np.arange(20.0)
    return {
        "ts": lib.Ts(t=t),
        "tsd": lib.Tsd(t=t, d=t * 2),
        "tsdframe": lib.TsdFrame(t=t, d=np.stack([t, -t], 1), columns=["a", "b"]),
        "tsdtensor": lib.TsdTensor(t=t, d=np.ones((20, 2, 3))),
        "iset": lib.IntervalSet([0, 10], [5, 15]),
    }


@pytest.mark.parametrize("name", ["ts", "tsd", "tsdframe", "tsdtensor", "iset"])
def test_load_file_reads_pynapple_npz_as_object(tmp_path, name):
    ref = _objects(pynapple)[name]
    ref.save(tmp_path / f"{name}.npz")
    got = nap.load_file(str(tmp_path / f"{name}.npz"))
    assert type(got).__name__ == type(ref).__name__
    assert nap.NPZFile(tmp_path / f"{name}.npz").type == type(ref).__name__
    if name != "ts":
        np.testing.assert_array_equal(np.asarray(got.values), np.asarray(ref.values))
    if name != "iset":
        np.testing.assert_array_equal(got.t, ref.t)
        np.testing.assert_array_equal(got.time_support.values, ref.time_support.values)
    # and napstream's file reads back in pynapple
    ours = _objects(nap)[name]
    ours.save(tmp_path / f"ours_{name}.npz")
    back = pynapple.load_file(str(tmp_path / f"ours_{name}.npz"))
    assert type(back).__name__ == type(ours).__name__
    if name != "ts":
        np.testing.assert_array_equal(np.asarray(back.values), np.asarray(ours.values))


def test_save_errors_keep_pynapple_types(tmp_path):
    tsd = nap.Tsd(t=np.arange(3.0), d=np.arange(3.0))
    with pytest.raises(TypeError):
        tsd.save(dict)
    with pytest.raises(RuntimeError, match="is directory"):
        tsd.save(tmp_path)
    with pytest.raises(RuntimeError, match="does not exist"):
        nap.IntervalSet(0, 1).save(tmp_path / "missing" / "x.npz")


def test_metadata_machinery_names_cannot_be_overwritten():
    ep = nap.IntervalSet([0, 10], [5, 20])
    ep.set_info(label=[1, 2])
    with pytest.raises(AttributeError, match="Cannot set attribute"):
        ep._metadata = np.ones(2)
    with pytest.warns(UserWarning, match="overlaps with an existing"):
        ep.set_info({"_class_attributes": np.ones(2)})
    np.testing.assert_array_equal(ep.get_info("_class_attributes"), [1.0, 1.0])
    assert ep.metadata_columns == ["label", "_class_attributes"]


class _MockArray:
    """A non-NumPy array-like (shape, dtype, ndim, indexable, iterable)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.shape, self.dtype, self.ndim = self.data.shape, self.data.dtype, self.data.ndim

    def __getitem__(self, i):
        return self.data[i]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def test_conversion_warning_like_pynapple():
    with pytest.warns(UserWarning, match="Converting 't' to numpy.array"):
        nap.Tsd(t=_MockArray([0.0, 1.0]), d=np.array([1.0, 2.0]))
    with pytest.warns(UserWarning, match="Converting 'd' to numpy.array"):
        tsd = nap.Tsd(t=np.array([0.0, 1.0]), d=_MockArray([1.0, 2.0]))
    np.testing.assert_array_equal(tsd.d, [1.0, 2.0])
    try:
        config.suppress_conversion_warnings = True
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            nap.Ts(t=_MockArray([0.0, 1.0]))
    finally:
        config.restore_defaults()
    with pytest.raises(RuntimeError, match="Unknown format for t"):
        nap.Ts(t="abc")


class _CountingDataset:
    """An h5py dataset wrapper counting the elements read (has shape, dtype, ndim like h5py)."""

    def __init__(self, dset):
        self.dset, self.shape, self.dtype, self.ndim, self.chunks = dset, dset.shape, dset.dtype, dset.ndim, dset.chunks
        self.elements = 0

    def __getitem__(self, key):
        out = self.dset[key]
        self.elements += int(np.size(out))
        return out

    def __len__(self):
        return self.shape[0]


def test_file_timestamps_stay_lazy_with_load_array_false(tmp_path):
    n = 200_000
    t = np.arange(n) / 1000.0
    d = np.sin(t)
    with h5py.File(tmp_path / "big.h5", "w") as h:
        h.create_dataset("t", data=t, chunks=(4096,))
        h.create_dataset("d", data=d, chunks=(4096,))
    with h5py.File(tmp_path / "big.h5", "r") as h:
        rt, rd = _CountingDataset(h["t"]), _CountingDataset(h["d"])
        tsd = nap.Tsd(t=rt, d=rd, load_array=False)
        assert tsd.is_lazy and tsd.time_index.is_lazy
        assert rt.elements < 100 and rd.elements == 0  # construction reads (almost) nothing
        tsd.time_index.check_order()  # what the first search by time does: one pass over the stored order
        checked = rt.elements
        assert n <= checked < n + 100 and rd.elements == 0
        win = tsd.get(100.0, 101.0)
        np.testing.assert_array_equal(win.t, pynapple.Tsd(t=t, d=d).get(100.0, 101.0).t)
        np.testing.assert_array_equal(win.d, d[100_000:101_001])
        assert rt.elements - checked < 10 * 4096 and rd.elements < 3 * 4096  # then a few blocks
        ref = pynapple.Tsd(t=t, d=d)
        ep = nap.IntervalSet([10.0, 150.0], [12.0, 150.5])
        got = tsd.restrict(ep)
        want = ref.restrict(pynapple.IntervalSet([10.0, 150.0], [12.0, 150.5]))
        np.testing.assert_array_equal(got.t, want.t)
        np.testing.assert_array_equal(got.d, want.d)
