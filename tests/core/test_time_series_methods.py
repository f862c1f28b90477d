"""Value-based methods, indexing and numpy interop of Tsd/TsdFrame/TsdTensor against pynapple."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pynapple
import pytest

import napstream as nap

from test_time_series import assert_same, both_isets, make_pair, rand_epochs, rand_times

SEEDS = range(3)
DATA = ["Tsd", "TsdFrame", "TsdTensor"]


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.mark.parametrize("mode", ["closest", "before", "after"])
@pytest.mark.parametrize("cls", ["Ts"] + DATA)
@pytest.mark.parametrize("seed", SEEDS)
def test_value_from(cls, seed, mode):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng, n=60, dup=True)
    t2 = np.sort(np.concatenate([rand_times(rng, 40), ours.t[:3]]))  # exact matches too
    d2 = rng.integers(0, 9, (len(t2), 2))
    s, e = rand_epochs(rng)
    ep, ep_ref = both_isets(s, e)
    data, data_ref = nap.TsdFrame(t=t2, d=d2, columns=["x", "y"]), pynapple.TsdFrame(t=t2, d=d2, columns=["x", "y"])
    assert_same(ours.value_from(data, mode=mode), ref.value_from(data_ref, mode=mode))
    assert_same(ours.value_from(data, ep, mode=mode), ref.value_from(data_ref, ep_ref, mode=mode))
    d1 = rng.normal(size=len(t2))
    assert_same(ours.value_from(nap.Tsd(t=t2, d=d1), ep, mode=mode),
                ref.value_from(pynapple.Tsd(t=t2, d=d1), ep_ref, mode=mode))


@pytest.mark.parametrize("cls", DATA)
@pytest.mark.parametrize("seed", SEEDS)
def test_bin_average_interpolate(cls, seed):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng)
    s, e = rand_epochs(rng)
    ep, ep_ref = both_isets(s, e)
    bs = float(rng.uniform(0.3, 4))
    kw = dict(rtol=1e-12, atol=1e-12)
    for a, b in [(quiet(ours.bin_average, bs), quiet(ref.bin_average, bs)),
                 (quiet(ours.bin_average, bs, ep), quiet(ref.bin_average, bs, ep_ref)),
                 (quiet(ours.bin_average, bs * 1e3, ep, "ms"), quiet(ref.bin_average, bs * 1e3, ep_ref, "ms"))]:
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_allclose(a.values, b.values, **kw)
        np.testing.assert_allclose(a.time_support.values, b.time_support.values)
    tq = rand_times(rng, 50)
    for args in [(), (ep,)]:
        refargs = () if not args else (ep_ref,)
        a = ours.interpolate(nap.Ts(t=tq), *args, left=-1.0)
        b = ref.interpolate(pynapple.Ts(t=tq), *refargs, left=-1.0)
        assert type(a).__name__ == type(b).__name__
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_allclose(a.values, b.values, **kw)


@pytest.mark.parametrize("cls", DATA)
@pytest.mark.parametrize("seed", SEEDS)
def test_dropna(cls, seed):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng, n=50)
    nan_rows = rng.random(50) < 0.3
    for obj in (ours, ref):
        obj.values[nan_rows] = np.nan if cls != "TsdTensor" else obj.values[nan_rows]
        if cls == "TsdTensor":
            obj.values[nan_rows, 0, 1] = np.nan
    for upd in (True, False):
        assert_same(ours.dropna(upd), ref.dropna(upd))
    ours.values[:] = np.nan
    ref.values[:] = np.nan
    assert_same(ours.dropna(), ref.dropna())


@pytest.mark.parametrize("cls", DATA)
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_convolve_smooth(cls, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(300) / 10.0
    d = rng.normal(size=(300,) + {"Tsd": (), "TsdFrame": (2,), "TsdTensor": (2, 2)}[cls])
    sup = [np.array([0.0, 12.0]), np.array([10.0, 29.9])]
    ours = getattr(nap, cls)(t=t, d=d, time_support=nap.IntervalSet(*sup))
    ref = getattr(pynapple, cls)(t=t, d=d, time_support=pynapple.IntervalSet(*sup))
    kw = dict(rtol=1e-10, atol=1e-12)
    for kernel in (rng.normal(size=5), rng.normal(size=4), rng.normal(size=(3, 2))):
        for trim in ("both", "left", "right"):
            a, b = quiet(ours.convolve, kernel, trim=trim), quiet(ref.convolve, kernel, trim=trim)
            np.testing.assert_allclose(a.values, b.values, **kw)
            assert a.shape == b.shape and type(a).__name__ == type(b).__name__
    ep, ep_ref = nap.IntervalSet(3.0, 20.0), pynapple.IntervalSet(3.0, 20.0)
    np.testing.assert_allclose(ours.convolve(np.ones(3), ep).values, ref.convolve(np.ones(3), ep_ref).values, **kw)
    for args in [(0.5,), (0.3, 2.0), (200.0, None, "ms", 10, False)]:
        a, b = quiet(ours.smooth, *args), quiet(ref.smooth, *args)
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_allclose(a.values, b.values, **kw)


@pytest.mark.parametrize("method", ["above", "below", "aboveequal", "belowequal"])
@pytest.mark.parametrize("seed", SEEDS)
def test_threshold(seed, method):
    rng = np.random.default_rng(seed)
    t = rand_times(rng, 300)
    d = np.round(rng.normal(size=300), 1)
    s, e = rand_epochs(rng, k=4)
    ep, ep_ref = both_isets(s, e)
    ours, ref = nap.Tsd(t=t, d=d, time_support=ep), pynapple.Tsd(t=t, d=d, time_support=ep_ref)
    if len(ref) == 0:
        return
    a, b = quiet(ours.threshold, 0.2, method), quiet(ref.threshold, 0.2, method)
    assert_same(a, b)


@pytest.mark.parametrize("cls", DATA)
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_indexing(cls, seed):
    rng = np.random.default_rng(seed)
    ours, ref = make_pair(cls, rng, n=30)
    keys = [slice(3, 17), slice(None, None, 3), slice(20, 5, -1) if False else slice(5, 20, 2),
            np.arange(30) % 3 == 0, [1, 4, 9], np.array([0, 2]), slice(0, 0)]
    for k in keys:
        assert_same(ours[k], ref[k])
    for k in (0, 7, -1):
        np.testing.assert_array_equal(np.asarray(ours[k]), np.asarray(ref[k]))
    mask = ours.values.reshape(30, -1)[:, 0] > 0
    assert_same(ours[nap.Tsd(t=ours.t, d=mask)], ref[pynapple.Tsd(t=ref.t, d=mask)])
    if cls != "Tsd":
        for k in [(slice(None), 1), (slice(2, 9), [0]), (slice(2, 9), 0), (3, slice(None)), (slice(1, 2), slice(None))]:
            a, b = ours[k], ref[k]
            assert type(a).__name__ == type(b).__name__
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            if hasattr(b, "columns"):
                assert list(a.columns) == list(b.columns)
    # setitem on in-memory objects
    ours[2:4] = 0
    ref[2:4] = 0
    np.testing.assert_array_equal(ours.values, ref.values)


def test_tsdframe_columns_loc_metadata():
    rng = np.random.default_rng(0)
    t, d = rand_times(rng, 20), rng.normal(size=(20, 3))
    md = {"area": ["ca1", "v1", "ca1"], "depth": [1.0, 2.0, 3.0]}
    ours = nap.TsdFrame(t=t, d=d, columns=["a", "b", "c"], metadata=md)
    ref = pynapple.TsdFrame(t=t, d=d, columns=["a", "b", "c"], metadata=md)
    for k in ["a", ["a", "c"], ["b"]]:
        assert_same(ours[k], ref[k])
        assert_same(ours.loc[k], ref.loc[k])
    assert_same(ours.loc[2:9, "b"], ref.loc[2:9, "b"]) if False else None
    pd.testing.assert_frame_equal(ours.metadata, ref.metadata, check_dtype=False)
    pd.testing.assert_frame_equal(ours[["a", "c"]].metadata, ref[["a", "c"]].metadata, check_dtype=False)
    pd.testing.assert_frame_equal(ours[:, [0, 2]].metadata, ref[:, [0, 2]].metadata, check_dtype=False)
    pd.testing.assert_series_equal(ours["area"], ref["area"], check_dtype=False)
    assert list(ours.area) == list(ref.area)
    ours["a"] = 1.0
    ref["a"] = 1.0
    np.testing.assert_array_equal(ours.values, ref.values)
    pd.testing.assert_frame_equal(ours.as_dataframe(), ref.as_dataframe())
    pd.testing.assert_frame_equal(ours.as_units("ms"), ref.as_units("ms"))
    pd.testing.assert_frame_equal(ours.restrict(nap.IntervalSet(10, 60)).metadata,
                                  ref.restrict(pynapple.IntervalSet(10, 60)).metadata, check_dtype=False)
    # from pandas
    df = ref.as_dataframe()
    assert_same(nap.TsdFrame(df), pynapple.TsdFrame(df))


def test_pandas_conversions():
    rng = np.random.default_rng(1)
    t, d = rand_times(rng, 20), rng.normal(size=20)
    ours, ref = nap.Tsd(t=t, d=d), pynapple.Tsd(t=t, d=d)
    pd.testing.assert_series_equal(ours.as_series(), ref.as_series())
    for u in ("s", "ms", "us"):
        pd.testing.assert_series_equal(ours.as_units(u), ref.as_units(u))
        np.testing.assert_array_equal(ours.times(u), ref.times(u))
    s = ref.as_series()
    assert_same(nap.Tsd(s), pynapple.Tsd(s))
    assert_same(nap.Tsd(t=t * 1e3, d=d, time_units="ms"), pynapple.Tsd(t=t * 1e3, d=d, time_units="ms"))
    assert_same(nap.Ts(t=t * 1e6, time_units="us"), pynapple.Ts(t=t * 1e6, time_units="us"))


@pytest.mark.parametrize("cls", DATA)
def test_numpy_interop(cls):
    rng = np.random.default_rng(2)
    ours, ref = make_pair(cls, rng, n=40)
    pairs = [
        (lambda x: x + 1, None), (lambda x: 2 * x, None), (lambda x: x > 0, None), (np.exp, None),
        (lambda x: -x, None), (lambda x: x ** 2, None), (lambda x: abs(x), None),
        (lambda x: np.mean(x), None), (lambda x: np.mean(x, 0), None), (lambda x: np.cumsum(x, 0), None),
        (lambda x: np.sum(x, axis=-1), None), (lambda x: np.std(x, 1) if x.ndim > 1 else np.std(x), None),
        (lambda x: np.nanmax(x, axis=1) if x.ndim > 1 else np.nanmax(x), None), (lambda x: np.transpose(x), None),
        (lambda x: np.where(x > 0, x, 0), None), (lambda x: np.clip(x, -0.5, 0.5), None),
        (lambda x: np.isnan(x), None), (lambda x: np.diff(x, axis=0), None),
    ]
    for f, _ in pairs:
        a, b = f(ours), f(ref)
        assert type(a).__name__ == type(b).__name__, f
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
        if hasattr(b, "t"):
            np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    buf, buf_ref = np.zeros(ours.shape), np.zeros(ref.shape)
    a, b = np.multiply(ours, 3.0, out=buf), np.multiply(ref, 3.0, out=buf_ref)
    assert type(a).__name__ == type(b).__name__
    np.testing.assert_array_equal(buf, buf_ref)
    assert (ours + ours.values).shape == ours.shape
    both = ours * ours  # same-length series operate element-wise
    np.testing.assert_allclose(both.values, ref.values ** 2)
    with pytest.raises(ValueError, match="same number of samples"):
        ours + ours[:5]
    # attribute-style numpy functions, like pynapple
    np.testing.assert_allclose(np.asarray(ours.mean(axis=0)), np.asarray(ref.mean(axis=0)))
    cat = np.concatenate([ours[:10], ours[20:]])
    cat_ref = np.concatenate([ref[:10], ref[20:]])
    assert_same(cat, cat_ref)
    parts, parts_ref = np.split(ours, [10]), np.split(ref, [10])
    for a, b in zip(parts, parts_ref):
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.values, b.values)


def test_save_and_pynapple_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    t, d = rand_times(rng, 20), rng.normal(size=(20, 2))
    ours = nap.TsdFrame(t=t, d=d, columns=["a", "b"], metadata={"k": [1, 2]})
    ours.save(tmp_path / "x")
    back = pynapple.load_file(str(tmp_path / "x.npz"))
    np.testing.assert_array_equal(back.values, d)
    assert list(back.columns) == ["a", "b"] and list(back.k) == [1, 2]
    for i, obj in enumerate((nap.Tsd(t=t, d=d[:, 0]), nap.Ts(t=t), nap.TsdTensor(t=t, d=d[:, :, None]))):
        obj.save(str(tmp_path / f"o{i}.npz"))
        assert_same(pynapple.load_file(str(tmp_path / f"o{i}.npz")), obj)
    for obj in (ours, nap.Tsd(t=t, d=d[:, 0]), nap.Ts(t=t), nap.TsdTensor(t=t, d=d[:, :, None])):
        p = obj.to_pynapple()
        assert type(p).__name__ == type(obj).__name__
        np.testing.assert_array_equal(p.t, obj.t)
        again = type(obj).from_pynapple(p)
        assert_same(again, p)


def test_repr_matches_pynapple_layout():
    t, d = np.arange(4.0), np.arange(4.0) * 1.5
    ours, ref = repr(nap.Tsd(t=t, d=d)), repr(pynapple.Tsd(t=t, d=d))
    assert ours.splitlines()[-1] == ref.splitlines()[-1]
    def cells(text):
        return [[float(x) for x in ln.split()] for ln in text.splitlines()[2:-1]]

    assert cells(ours) == cells(ref)
    big = repr(nap.Tsd(t=np.arange(1000.0), d=np.zeros(1000)))
    assert "..." in big and len(big.splitlines()) < 100


@pytest.mark.parametrize("cls", ["Ts"] + DATA)
def test_small_methods(cls):
    rng = np.random.default_rng(5)
    ours, ref = make_pair(cls, rng, n=80)
    s, e = rand_epochs(rng, k=3)
    ep, ep_ref = both_isets(s, e)
    for align in ("start", "center", "end"):
        assert_same(ours.time_diff(align), ref.time_diff(align))
        assert_same(ours.time_diff(align, ep), ref.time_diff(align, epochs=ep_ref))
    np.testing.assert_allclose(ours.find_support(1.0).values, ref.find_support(1.0).values)
    np.testing.assert_allclose(ours.find_support(500.0, "ms").values, ref.find_support(500.0, "ms").values)
    c = ours.copy()
    assert_same(c, ref.copy())
    if cls != "Ts":
        c.values[:] = 0
        assert not np.all(ours.values == 0)
    assert_same(ours.in_interval(ep), ref.in_interval(ep_ref))
    if cls != "Ts":
        long_ep, long_ref = both_isets([0.0, 40.0], [30.0, 90.0])
        a, b = ours.derivative(long_ep), ref.derivative(long_ref)
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-9)
    for a, b in [(0.0, 10.0), (3.3, 3.3)]:
        assert ours.get_slice(a, b) == ref.get_slice(a, b)
    assert ours.get_slice(42.0) == ref.get_slice(42.0)


def test_to_tsgroup():
    rng = np.random.default_rng(6)
    t, d = rand_times(rng, 50), rng.integers(0, 4, 50)
    a, b = nap.Tsd(t=t, d=d).to_tsgroup(), pynapple.Tsd(t=t, d=d).to_tsgroup()
    assert list(a.keys()) == list(b.keys())
    for k in b.keys():
        np.testing.assert_array_equal(a[k].t, b[k].t)


@pytest.mark.parametrize("ctor, shape", [("TsdFrame", (100, 3)), ("TsdTensor", (100, 3, 4))])
@pytest.mark.parametrize("fn, args", [("vsplit", (4,)), ("split", ([10, 50],)), ("array_split", (4,)),
                                      ("hsplit", (1,)), ("dsplit", (2,)), ("split", (1, 1))])
def test_numpy_splits_as_pynapple(ctor, shape, fn, args):
    """np.vsplit / hsplit / dsplit / split / array_split give what pynapple gives (vsplit of a frame raised)."""
    rng = np.random.default_rng(5)
    t, d = np.arange(100.0), rng.normal(size=shape)
    ours, ref = getattr(nap, ctor)(t=t, d=d), getattr(pynapple, ctor)(t=t, d=d)
    try:
        expected = getattr(np, fn)(ref, *args)
    except ValueError as err:  # dsplit of a 2-D frame: numpy's own error, as pynapple gives it
        with pytest.raises(ValueError, match=str(err)):
            getattr(np, fn)(ours, *args)
        return
    got = getattr(np, fn)(ours, *args)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert type(a).__name__ == type(b).__name__
        np.testing.assert_array_equal(np.asarray(a.values if hasattr(a, "values") else a),
                                      np.asarray(b.values if hasattr(b, "values") else b))
        if hasattr(b, "t"):
            np.testing.assert_array_equal(a.t, b.t)


@pytest.mark.parametrize("ctor, shape, key", [("Tsd", (10,), np.s_[None, :]), ("TsdTensor", (10, 4, 1), np.s_[None, :]),
                                              ("Tsd", (10,), np.s_[:, None]), ("TsdFrame", (10, 4), np.s_[:, :, None])])
def test_new_axes_as_pynapple(ctor, shape, key):
    """x[None, :] is a plain array (no longer along time), x[:, None] a wider series: as pynapple."""
    d = np.random.default_rng(6).normal(size=shape)
    ours, ref = getattr(nap, ctor)(t=np.arange(10.0), d=d)[key], getattr(pynapple, ctor)(t=np.arange(10.0), d=d)[key]
    assert type(ours).__name__ == type(ref).__name__
    np.testing.assert_array_equal(np.asarray(getattr(ours, "values", ours)), np.asarray(getattr(ref, "values", ref)))


@pytest.mark.parametrize("key", [np.s_[0:10, 0], np.s_[3,], np.s_[[0, 2, 5]], np.s_[0], np.s_[2:50:3, :]])
def test_ts_indexing_as_pynapple(key):
    """A Ts indexed by a tuple takes its rows from the first element (a Ts has no other axis), as pynapple."""
    ours, ref = nap.Ts(t=np.arange(100.0))[key], pynapple.Ts(t=np.arange(100.0))[key]
    assert type(ours).__name__ == type(ref).__name__
    np.testing.assert_array_equal(ours.t, ref.t)
