"""TsGroup against pynapple 0.11: construction, metadata, selection, restrict/get/count/value_from,
to_tsd, merge, save/load, repr; lazy units (LazyArrays over h5py datasets) read nothing on
construction and give the in-memory results."""

from __future__ import annotations

import os
import warnings

import h5py

import numpy as np
import pandas as pd
import pynapple as pnap
import pytest

from napstream.core import IntervalSet, LazyArray, Ts, Tsd, TsGroup
from napstream.errors import InvalidInputError, InvalidTypeError, KeyNotFoundError

warnings.filterwarnings("ignore", category=UserWarning)


# ------------------------------------------------------------------------------------ helpers
def random_units(seed: int, n_units: int = 6, duration: float = 100.0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    keys = rng.choice(np.arange(50), size=n_units, replace=False)
    out = {}
    for i, k in enumerate(keys):
        n = 0 if i % 4 == 1 else int(rng.integers(5, 400))
        out[int(k)] = np.sort(rng.uniform(0, duration, n)).round(6)
    return out


def random_epochs(seed: int, duration: float = 100.0, n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    edges = np.sort(rng.choice(np.arange(1, int(duration * 10)) / 10.0, size=2 * n, replace=False))
    return edges.reshape(-1, 2)


def both(units: dict[int, np.ndarray], support: np.ndarray | None = None, metadata=None, tsd=False):
    """The same group built with napstream and with pynapple."""
    ns_ep = IntervalSet(support[:, 0], support[:, 1]) if support is not None else None
    pn_ep = pnap.IntervalSet(support[:, 0], support[:, 1]) if support is not None else None
    if tsd:
        ns_units = {k: Tsd(t=v, d=np.arange(len(v), dtype=float)) for k, v in units.items()}
        pn_units = {k: pnap.Tsd(t=v, d=np.arange(len(v), dtype=float)) for k, v in units.items()}
    else:
        ns_units = {k: Ts(t=v, time_support=ns_ep) if ns_ep is not None or len(v) > 1 else Ts(t=v) for k, v in units.items()}
        pn_units = {k: pnap.Ts(t=v, time_support=pn_ep) if pn_ep is not None or len(v) > 1 else pnap.Ts(t=v) for k, v in units.items()}
    return (TsGroup(ns_units, time_support=ns_ep, metadata=metadata),
            pnap.TsGroup(pn_units, time_support=pn_ep, metadata=metadata))


def assert_same_group(ns: TsGroup, pn) -> None:
    np.testing.assert_array_equal(ns.index, pn.index)
    assert ns.keys() == pn.keys()
    np.testing.assert_allclose(ns.time_support.values, pn.time_support.values, rtol=0, atol=0)
    np.testing.assert_allclose(ns.rates, np.asarray(pn.rates), rtol=1e-12, atol=0)
    for k in pn.keys():
        np.testing.assert_array_equal(np.asarray(ns[k].t), pn[k].t)
        np.testing.assert_allclose(ns[k].time_support.values, pn[k].time_support.values, rtol=0, atol=0)
        if hasattr(pn[k], "values") and type(pn[k]).__name__ != "Ts":
            np.testing.assert_array_equal(np.asarray(ns[k].values), pn[k].values)
    pd.testing.assert_frame_equal(ns.metadata, pn.metadata, check_dtype=False)


SEEDS = [0, 1, 2]


# ---------------------------------------------------------------------------- construction
@pytest.mark.parametrize("seed", SEEDS)
def test_construct_default_support_matches_pynapple(seed):
    units = random_units(seed)
    ns, pn = both(units)
    assert_same_group(ns, pn)


@pytest.mark.parametrize("seed", SEEDS)
def test_construct_with_support_restricts_units(seed):
    units = random_units(seed)
    ns, pn = both(units, support=random_epochs(seed))
    assert_same_group(ns, pn)


def test_construct_from_list_and_arrays_and_odd_keys():
    arrays = [np.array([1.0, 2.0, 5.0]), np.array([0.5, 7.0])]
    ns, pn = TsGroup(arrays), pnap.TsGroup(arrays)
    assert_same_group(ns, pn)
    data = {"3": np.array([1.0, 4.0]), 1.0: np.array([2.0, 9.0])}
    ns, pn = TsGroup(data, time_units="ms"), pnap.TsGroup(data, time_units="ms")
    assert_same_group(ns, pn)


def test_metadata_follows_unsorted_keys():
    units = {5: np.array([1.0, 2.0, 3.0]), 2: np.array([1.5, 8.0]), 9: np.array([0.1, 3.0, 4.0, 9.0])}
    meta = {"area": ["a", "b", "c"], "depth": [3.0, 1.0, 2.0]}
    ns = TsGroup({k: Ts(t=v) for k, v in units.items()}, metadata=meta)
    pn = pnap.TsGroup({k: pnap.Ts(t=v) for k, v in units.items()}, metadata=meta)
    assert_same_group(ns, pn)
    ns2 = TsGroup({k: Ts(t=v) for k, v in units.items()}, area=meta["area"])
    assert list(ns2.area) == list(pn.area)


@pytest.mark.parametrize(
    "data, err, match",
    [
        (Tsd(t=np.arange(3.0), d=np.arange(3.0)), InvalidTypeError, "data must be a dict"),
        ({"a": np.arange(3.0)}, InvalidInputError, "convertible to integers"),
        ({0.5: np.arange(3.0)}, InvalidInputError, "All keys must have integer value"),
        ({1: np.arange(3.0), "1": np.arange(3.0)}, InvalidInputError, "same integer"),
        ({0: "spikes"}, InvalidTypeError, r"data\[0\] must be a Ts/Tsd"),
    ],
)
def test_bad_data(data, err, match):
    with pytest.raises(err, match=match):
        TsGroup(data)


def test_bad_arguments():
    units = {0: Ts(t=np.arange(5.0)), 1: Ts(t=np.arange(3.0))}
    with pytest.raises(InvalidInputError, match="metadata 'a' must have one value per row"):
        TsGroup(units, metadata={"a": [1, 2, 3]})
    with pytest.raises(InvalidTypeError, match="time_support must be an IntervalSet"):
        TsGroup(units, time_support=[0, 10])
    with pytest.raises(InvalidInputError, match="time_units"):
        TsGroup(units, time_units="h")
    with pytest.raises(InvalidTypeError, match="bypass_check"):
        TsGroup(units, bypass_check="yes")
    with pytest.raises(InvalidInputError, match="Union of time supports is empty"):
        TsGroup({0: Ts(t=np.array([]))})
    g = TsGroup(units)
    with pytest.raises(InvalidInputError, match="Cannot overwrite TsGroup 'rate'"):
        g.set_info(rate=[1, 2])
    with pytest.raises(InvalidInputError, match="Cannot drop TsGroup 'rate'"):
        g.drop_info("rate")
    with pytest.raises(KeyNotFoundError, match="not in group index"):
        g[7]
    with pytest.raises(KeyError):
        g[[0, 7]]
    with pytest.raises(InvalidTypeError, match="ep must be an IntervalSet"):
        g.restrict([0, 1])
    with pytest.raises(InvalidTypeError, match="bin_size"):
        g.count("1")
    with pytest.raises(InvalidInputError, match="bin_size must be a positive"):
        g.count(0.0)
    with pytest.raises(InvalidInputError) as err:
        g.getby_threshold("rate", 1, op="!=")
    assert str(err.value) == "Operation != not recognized."  # pynapple's message and type
    assert isinstance(err.value, RuntimeError)
    assert "op must be one of" in err.value.__notes__[0]


# ------------------------------------------------------------------------------ metadata
def test_metadata_access_and_selection():
    units = random_units(3, n_units=5)
    meta = {"area": ["ca1", "v1", "ca1", "pfc", "v1"], "depth": [1.0, 5.0, 2.0, 3.0, 4.0]}
    ns, pn = both(units, metadata=meta)
    pd.testing.assert_series_equal(ns["area"], pn["area"])
    pd.testing.assert_series_equal(ns.depth, pn.depth)
    pd.testing.assert_frame_equal(ns[["area", "depth"]], pn[["area", "depth"]])
    pd.testing.assert_series_equal(ns.get_info("rate"), pn.get_info("rate"))
    ns.set_info(q=np.arange(5))
    pn.set_info(q=np.arange(5))
    ns.label = list("abcde")
    pn.label = list("abcde")
    ns["kind"] = list("xyzxy")
    pn["kind"] = list("xyzxy")
    pd.testing.assert_frame_equal(ns.metadata, pn.metadata, check_dtype=False)
    keys = list(pn.index[[0, 2, 3]])
    assert_same_group(ns[keys], pn[keys])
    mask = np.array([True, False, True, False, True])
    assert_same_group(ns[mask], pn[mask])
    for op in (">", "<", ">=", "<="):
        assert_same_group(ns.getby_threshold("depth", 2.5, op), pn.getby_threshold("depth", 2.5, op))
    ns_b, ns_c = ns.getby_intervals("depth", np.array([0.0, 2.5, 4.5]))
    pn_b, pn_c = pn.getby_intervals("depth", np.array([0.0, 2.5, 4.5]))
    np.testing.assert_array_equal(ns_c, pn_c)
    for a, b in zip(ns_b, pn_b, strict=True):
        assert_same_group(a, b)
    ns_cat, pn_cat = ns.getby_category("area"), pn.getby_category("area")
    assert sorted(ns_cat) == sorted(pn_cat)
    for k in pn_cat:
        assert_same_group(ns_cat[k], pn_cat[k])
    ns_g, pn_g = ns.groupby("area"), pn.groupby("area")
    assert ns_g.keys() == pn_g.keys()
    for k in pn_g:
        np.testing.assert_array_equal(ns_g[k], pn_g[k])
    assert_same_group(ns.groupby("area", get_group="v1"), pn.groupby("area", get_group="v1"))


def test_mapping_protocol_and_repr():
    units = random_units(4, n_units=20)
    meta = {"area": np.array(["ca1", "v1"] * 10), "depth": np.linspace(0, 1, 20)}
    ns, pn = both(units, metadata=meta)
    assert len(ns) == len(pn)
    assert list(ns) == list(pn)
    assert [k for k, _ in ns.items()] == [k for k, _ in pn.items()]
    assert len(ns.values()) == len(pn.values())
    assert all(k in ns for k in pn.index)
    assert repr(ns) == repr(pn)
    assert str(ns) == str(pn)
    small_ns, small_pn = ns[list(pn.index[:3])], pn[list(pn.index[:3])]
    assert repr(small_ns) == repr(small_pn)


# -------------------------------------------------------------------------- time operations
@pytest.mark.parametrize("seed", SEEDS)
def test_restrict_get_match_pynapple(seed):
    units = random_units(seed)
    ns, pn = both(units, metadata={"x": np.arange(len(units))})
    ep = random_epochs(seed + 7)
    assert_same_group(ns.restrict(IntervalSet(ep[:, 0], ep[:, 1])), pn.restrict(pnap.IntervalSet(ep[:, 0], ep[:, 1])))
    # pynapple's Ts.get fails on empty units: compare on the non-empty ones
    full = [k for k in pn.index if len(units[k])]
    assert_same_group(ns[full].get(10.0, 60.5), pn[full].get(10.0, 60.5))
    assert_same_group(ns[full].get(10000.0, 60500.0, "ms"), pn[full].get(10000.0, 60500.0, "ms"))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("bin_size, units_", [(None, "s"), (1.0, "s"), (0.37, "s"), (250, "ms"), (3, "s")])
def test_count_matches_pynapple(seed, bin_size, units_):
    units = random_units(seed)
    ns, pn = both(units, support=np.array([[0.0, 100.0]]), metadata={"x": np.arange(len(units))})
    ep = random_epochs(seed + 3)
    for ns_ep, pn_ep in [(None, None), (IntervalSet(ep[:, 0], ep[:, 1]), pnap.IntervalSet(ep[:, 0], ep[:, 1]))]:
        a = ns.count(bin_size, ep=ns_ep, time_units=units_)
        b = pn.count(bin_size, ep=pn_ep, time_units=units_)
        np.testing.assert_array_equal(np.asarray(a.t), b.t)
        np.testing.assert_array_equal(np.asarray(a.values), b.values)
        np.testing.assert_array_equal(np.asarray(a.columns), np.asarray(b.columns))
        np.testing.assert_allclose(a.time_support.values, b.time_support.values)
        pd.testing.assert_frame_equal(a.metadata, b.metadata, check_dtype=False)
    a = ns.count(0.5, dtype=np.float32)
    assert a.values.dtype == np.float32
    np.testing.assert_array_equal(a.values, pn.count(0.5, dtype=np.float32).values)


def test_count_odd_bin_sizes_follow_pynapple_recurrence():
    rng = np.random.default_rng(11)
    units = {0: np.sort(rng.uniform(3.3, 50, 3000)), 1: np.sort(rng.uniform(3.3, 50, 50))}
    ns, pn = both(units)
    for bs in (0.0123456789123, 0.1, 1e-3 + 3e-10, 2.5):
        np.testing.assert_array_equal(ns.count(bs).values, pn.count(bs).values)
        np.testing.assert_array_equal(np.asarray(ns.count(bs).t), pn.count(bs).t)


@pytest.mark.parametrize("mode", ["closest", "before", "after"])
def test_value_from_and_to_tsd(mode):
    units = random_units(5)
    ns, pn = both(units, support=np.array([[0.0, 100.0]]), metadata={"x": np.arange(len(units)) * 2.0})
    t = np.linspace(0, 100, 777)
    d = np.sin(t)
    ep = np.array([[5.0, 40.0], [60.0, 90.0]])
    a = ns.value_from(Tsd(t=t, d=d), IntervalSet(ep[:, 0], ep[:, 1]), mode=mode)
    b = pn.value_from(pnap.Tsd(t=t, d=d), pnap.IntervalSet(ep[:, 0], ep[:, 1]), mode=mode)
    assert_same_group(a, b)
    for arg in [(), ("x",), (list(np.arange(len(units)) + 0.5),)]:
        x, y = ns.to_tsd(*arg), pn.to_tsd(*arg)
        np.testing.assert_array_equal(np.asarray(x.t), y.t)
        np.testing.assert_array_equal(np.asarray(x.values), y.values)


def test_merge_matches_pynapple():
    u1 = {0: np.array([1.0, 2.0, 9.0]), 3: np.array([2.0, 5.0])}
    u2 = {7: np.array([1.5, 8.0]), 1: np.array([0.2, 3.0, 4.0])}
    sup = np.array([[0.0, 10.0]])
    a_ns, a_pn = both(u1, support=sup, metadata={"m": [1, 2]})
    b_ns, b_pn = both(u2, support=sup, metadata={"m": [3, 4]})
    assert_same_group(a_ns.merge(b_ns), a_pn.merge(b_pn))
    assert_same_group(TsGroup.merge_group(a_ns, a_ns, reset_index=True), pnap.TsGroup.merge_group(a_pn, a_pn, reset_index=True))
    with pytest.raises(InvalidInputError, match="overlapping keys"):
        a_ns.merge(a_ns)
    c_ns, _ = both(u2, support=np.array([[0.0, 20.0]]), metadata={"m": [3, 4]})
    with pytest.raises(InvalidInputError, match="different time support"):
        a_ns.merge(c_ns)
    d_ns, _ = both(u2, support=sup)
    with pytest.raises(InvalidInputError, match="different metadata columns"):
        a_ns.merge(d_ns)
    with pytest.raises(InvalidTypeError, match="not TsGroup"):
        TsGroup.merge_group(a_ns, 3)


@pytest.mark.parametrize("tsd", [False, True])
def test_save_roundtrip_with_pynapple(tmp_path, tsd):
    units = random_units(6)
    ns, pn = both(units, metadata={"area": ["a", "b", "c", "d", "e", "f"]}, tsd=tsd)
    ns.save(tmp_path / "ns.npz")
    pn.save(tmp_path / "pn.npz")
    a, b = np.load(tmp_path / "ns.npz", allow_pickle=True), np.load(tmp_path / "pn.npz", allow_pickle=True)
    assert sorted(a.files) == sorted(b.files)
    for k in ("t", "index", "keys", "start", "end"):
        np.testing.assert_array_equal(a[k], b[k])
    back = pnap.load_file(str(tmp_path / "ns.npz"))
    assert_same_group(TsGroup._from_npz_reader(np.load(tmp_path / "pn.npz", allow_pickle=True)), back)


@pytest.mark.parametrize("tsd", [False, True])
def test_pynapple_conversion_roundtrip(tsd):
    units = random_units(8)
    ns, pn = both(units, metadata={"area": list("abcdef")}, tsd=tsd)
    assert_same_group(ns, ns.to_pynapple())
    assert_same_group(TsGroup.from_pynapple(pn), pn)


# --------------------------------------------------------------------------------- lazy units
class CountingDataset:
    """An h5py dataset wrapper that counts the reads going through it."""

    def __init__(self, dset) -> None:
        self.dset, self.reads, self.rows = dset, 0, []

    shape = property(lambda self: self.dset.shape)
    dtype = property(lambda self: self.dset.dtype)
    chunks = property(lambda self: self.dset.chunks)

    def __getitem__(self, key):
        self.reads += 1
        out = self.dset[key]
        self.rows.append(len(out))
        return out


@pytest.fixture
def lazy_file(tmp_path):
    units = random_units(9, n_units=7, duration=200.0)
    flat = np.concatenate(list(units.values()))
    bounds = np.cumsum([0] + [len(v) for v in units.values()])
    with h5py.File(tmp_path / "spikes.h5", "w") as f:
        f.create_dataset("spike_times", data=flat, chunks=(64,))
    f = h5py.File(tmp_path / "spikes.h5", "r")
    yield units, bounds, CountingDataset(f["spike_times"])
    f.close()


def test_lazy_group_reads_nothing_and_matches_memory(lazy_file):
    units, bounds, dset = lazy_file
    support = IntervalSet(0.0, 200.0)
    lazy_units = {
        k: Ts(t=LazyArray(dset).select([[bounds[i], bounds[i + 1]]]), time_support=support)
        for i, k in enumerate(units)
    }
    dset.reads = 0
    lazy = TsGroup(lazy_units, time_support=support, metadata={"x": np.arange(len(units))})
    assert dset.reads == 0, "building a TsGroup of lazy units must not read spike times"
    assert lazy.is_lazy
    lazy_default = TsGroup(lazy_units)
    sub = lazy[list(lazy.index[:3])]
    lazy.getby_threshold("rate", float(np.median(lazy.rates)))
    repr(lazy), str(sub), lazy.metadata
    assert dset.reads == 0, "selection, metadata and repr must not read spike times"
    mem = TsGroup({k: Ts(t=v, time_support=support) for k, v in units.items()}, time_support=support,
                  metadata={"x": np.arange(len(units))})
    np.testing.assert_array_equal(lazy.rates, mem.rates)
    np.testing.assert_array_equal(lazy_default.time_support.values, support.values)
    ep = IntervalSet([10.0, 80.0, 150.5], [40.0, 120.0, 199.0])
    r = lazy.restrict(ep)
    assert all(u.is_lazy for u in r.values())
    np.testing.assert_array_equal(r.rates, mem.restrict(ep).rates)
    for bs in (None, 1.0, 0.25):
        np.testing.assert_array_equal(lazy.count(bs, ep).values, mem.count(bs, ep).values)
        np.testing.assert_array_equal(np.asarray(lazy.count(bs, ep).t), np.asarray(mem.count(bs, ep).t))
    for k in units:
        np.testing.assert_array_equal(np.asarray(r[k].t), np.asarray(mem.restrict(ep)[k].t))
    np.testing.assert_array_equal(np.asarray(lazy.to_tsd().values), np.asarray(mem.to_tsd().values))
    assert_same_group(lazy.load(), mem.to_pynapple())


def test_lazy_count_reads_blocks_not_whole_units(lazy_file):
    units, bounds, dset = lazy_file
    support = IntervalSet(0.0, 200.0)
    lazy = TsGroup({k: Ts(t=LazyArray(dset).select([[bounds[i], bounds[i + 1]]]), time_support=support)
                    for i, k in enumerate(units)}, time_support=support)
    dset.reads = 0
    lazy.count(ep=IntervalSet(50.0, 51.0))
    # a per-epoch count needs a few binary-search probes per unit, never a full read
    assert 0 < dset.reads <= 40 * len(units)


@pytest.mark.parametrize("align", ["start", "end"])
@pytest.mark.parametrize("bin_size, unit", [(1.0, "s"), (300, "ms")])
def test_trial_count_matches_pynapple(align, bin_size, unit):
    units = random_units(12)
    ns, pn = both(units)
    starts = np.array([5.0, 20.0, 40.0, 70.0])
    ends = starts + np.array([2.5, 7.0, 3.3, 10.0])
    a = ns.trial_count(IntervalSet(starts, ends), bin_size, align=align, time_unit=unit)
    b = pn.trial_count(pnap.IntervalSet(starts, ends), bin_size, align=align, time_unit=unit)
    np.testing.assert_array_equal(a, b)


def test_empty_group_count_matches_pynapple():
    ns = TsGroup({}, time_support=IntervalSet(0.0, 3.0))
    pn = pnap.TsGroup({}, time_support=pnap.IntervalSet(0.0, 3.0))
    a, b = ns.count(0.5), pn.count(0.5)
    np.testing.assert_array_equal(np.asarray(a.t), b.t)
    assert a.values.shape == b.values.shape and a.values.dtype == b.values.dtype
    assert len(ns) == 0 and str(ns) == str(pn)


def test_lazy_binned_count_streams_bounded_blocks(tmp_path):
    from napstream.config import config

    rng = np.random.default_rng(21)
    units = {k: np.sort(rng.uniform(0, 100, n)) for k, n in enumerate([5000, 0, 3100, 7])}
    flat = np.concatenate(list(units.values()))
    bounds = np.cumsum([0] + [len(v) for v in units.values()])
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("t", data=flat, chunks=(256,))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        dset = CountingDataset(f["t"])
        support = IntervalSet(0.0, 100.0)
        lazy = TsGroup({k: Ts(t=LazyArray(dset).select([[bounds[k], bounds[k + 1]]]), time_support=support)
                        for k in units}, time_support=support)
        mem = TsGroup({k: Ts(t=v, time_support=support) for k, v in units.items()}, time_support=support)
        ep = IntervalSet([1.0, 30.0], [25.0, 99.5])
        with config.override(memory_budget=64 * 1024):  # 1024 rows per block
            dset.rows.clear()
            got = lazy.count(0.01, ep)
        assert max(dset.rows) <= 1024
        assert sum(dset.rows) <= len(flat) + 64 * 8 * len(units)  # every row once, plus search probes
        ref = mem.count(0.01, ep)
        np.testing.assert_array_equal(got.values, ref.values)
        np.testing.assert_array_equal(np.asarray(got.t), np.asarray(ref.t))
        pn = pnap.TsGroup({k: pnap.Ts(t=v, time_support=pnap.IntervalSet(0.0, 100.0)) for k, v in units.items()})
        np.testing.assert_array_equal(got.values, pn.count(0.01, pnap.IntervalSet([1.0, 30.0], [25.0, 99.5])).values)


def test_bypass_check_keeps_unit_supports_until_selection():
    def build(m):
        units = {0: m.Ts(t=np.arange(1.0, 5.0), time_support=m.IntervalSet(0, 5)),
                 1: m.Ts(t=np.arange(10.0, 20.0), time_support=m.IntervalSet(8, 20))}
        return m.TsGroup(units, bypass_check=True, metadata={"a": [1, 2]})

    ns, pn = build(__import__("napstream")), build(pnap)
    assert_same_group(ns, pn)
    assert_same_group(ns[[0, 1]], pn[[0, 1]])
    assert_same_group(ns.getby_threshold("a", 1), pn.getby_threshold("a", 1))
    assert_same_group(ns.groupby("a", get_group=2), pn.groupby("a", get_group=2))


def test_repr_with_ragged_and_2d_metadata():
    units = {0: np.array([1.0, 2.0, 3.0]), 1: np.array([0.5, 4.0])}
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.array([1, 2]), np.array([3])
    for meta in ({"coords": np.array([[0, 1], [1, 0]])}, {"x": [0.123456, 2.0], "s": ["a", "b"]}):
        ns, pn = both(units, metadata=meta)
        assert repr(ns) == repr(pn)
        assert str(ns) == str(pn)
    # ragged cells (a unit's electrodes) print as lists; pynapple joins them ("12")
    ns, pn = both(units, metadata={"elec": ragged})
    ours, ref = repr(ns).splitlines(), repr(pn).splitlines()
    assert ours[2].split()[-2:] == ["[1,", "2]"] and ours[3].split()[-1] == "[3]"
    assert ref[2].split()[-1] == "12"  # what pynapple prints
    assert [ln.split()[:2] for ln in ours[2:]] == [ln.split()[:2] for ln in ref[2:]]


def test_repr_has_no_empty_ellipsis_column_when_every_column_fits(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((100, 40)))
    units = {0: np.array([1.0, 2.0, 3.0]), 1: np.array([0.5, 4.0])}
    meta = {f"m{i}": [i, i + 1] for i in range(7)}  # 7 metadata columns: all shown (max 8 at 100 columns)
    ns, _ = both(units, metadata=meta)
    assert "..." not in repr(ns) and repr(ns).splitlines()[0].split() == ["Index", "rate"] + list(meta)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_subsample_sizes_and_subset_like_pynapple(fraction):
    units = random_units(14)
    ns, pn = both(units, metadata={"x": np.arange(len(units))}, tsd=True)
    a, b = ns.subsample(fraction, seed=1), pn.subsample(fraction, seed=1)
    np.testing.assert_array_equal(a.index, b.index)
    for k in pn.index:
        assert len(a[k]) == len(b[k])  # same number kept per unit (random draws may differ)
        t = np.asarray(a[k].t)
        assert np.all(np.isin(t, units[k])) and np.all(np.diff(t) > 0)
        np.testing.assert_array_equal(np.asarray(a[k].values), np.searchsorted(units[k], t).astype(float))
    pd.testing.assert_frame_equal(a.metadata, b.metadata, check_dtype=False)
    np.testing.assert_array_equal(np.asarray(ns.subsample(fraction, seed=3)[pn.index[0]].t),
                                  np.asarray(ns.subsample(fraction, seed=3)[pn.index[0]].t))
    with pytest.raises(InvalidInputError, match="fraction must be between 0 and 1"):
        ns.subsample(1.5)


def test_accepts_mappings_and_pynapple_units():
    units = random_units(15)
    ns, pn = both(units, metadata={"a": np.arange(len(units))})
    assert_same_group(TsGroup(ns, metadata=pn.metadata[["a"]]), pn)
    assert_same_group(TsGroup(pn, metadata={"a": pn.a.values}), pn)  # pynapple units converted
    assert all(isinstance(u, Ts) for u in TsGroup(pn).values())


def test_groupby_apply_drop_restrict_info_match_pynapple():
    units = random_units(16, n_units=6)
    meta = {"l1": [1, 2, 2, 1, 3, 3], "l2": list("xxyyxy"), "l3": np.arange(6.0)}
    ns, pn = both(units, metadata=meta)
    a = ns.groupby_apply("l2", lambda g: float(np.sum(g.rates)))
    b = pn.groupby_apply("l2", lambda g: float(np.sum(np.asarray(g.rates))))
    assert a.keys() == b.keys()
    np.testing.assert_allclose(list(a.values()), list(b.values()))
    ga, gb = ns.groupby(["l1", "l2"]), pn.groupby(["l1", "l2"])
    assert ga.keys() == gb.keys()
    ns.drop_info("l3")
    pn.drop_info("l3")
    ns.restrict_info("l1")
    pn.restrict_info("l1")
    pd.testing.assert_frame_equal(ns.metadata, pn.metadata, check_dtype=False)
