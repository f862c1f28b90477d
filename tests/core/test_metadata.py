"""MetadataMixin on a minimal host, compared with pynapple's metadata on an IntervalSet of same length."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

nap = pytest.importorskip("pynapple")

from napstream.core.metadata import MetadataMixin  # noqa: E402
from napstream.errors import InvalidInputError, InvalidTypeError, KeyNotFoundError  # noqa: E402


class Host(MetadataMixin):
    """A tiny host: n rows labelled 0..n-1, subsets by label list."""

    def __init__(self, n: int, labels=None) -> None:
        self._init_metadata()
        self._n = n
        self._labels = np.arange(n) if labels is None else np.asarray(labels)
        self.size = n
        self._finish_metadata_init()

    @property
    def _metadata_index(self):
        return self._labels

    def __getitem__(self, key):
        if isinstance(key, str) or (isinstance(key, list) and all(isinstance(k, str) for k in key)):
            return self.get_info(key)
        pos = np.searchsorted(self._labels, np.asarray(key))
        out = Host(len(pos), self._labels[pos])
        out.set_info(self._metadata_take(pos))
        return out


def _ref(n):
    return nap.IntervalSet(np.arange(n) * 10.0, np.arange(n) * 10.0 + 5)


def _same(ours, ref):
    pd.testing.assert_frame_equal(ours.metadata, ref.metadata, check_index_type=False)


RNG_SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_set_info_forms_match_pynapple(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    ours, ref = Host(n), _ref(n)
    a = rng.normal(size=n)
    b = rng.choice(["x", "y", "z"], size=n)
    df = pd.DataFrame({"c": rng.integers(0, 5, n), "d": list(rng.random(n))})
    for obj in (ours, ref):
        obj.set_info({"a": a})
        obj.set_info(b=list(b), e=tuple(range(n)))
        obj.set_info(df)
        obj.set_info(s=pd.Series(a * 2))
        obj.set_info(m=np.arange(2 * n).reshape(n, 2))
    _same(ours, ref)
    assert ours.metadata_columns == ref.metadata_columns
    for col in ref.metadata_columns:
        pd.testing.assert_series_equal(ours.get_info(col), ref.get_info(col), check_index_type=False)
        pd.testing.assert_series_equal(getattr(ours, col), getattr(ref, col), check_index_type=False)
    pd.testing.assert_frame_equal(ours.get_info(["a", "b"]), ref.get_info(["a", "b"]), check_index_type=False)
    # attribute and key assignment
    ours.f = list(range(n))
    ref.f = list(range(n))
    ours["g"] = b
    ref["g"] = b
    _same(ours, ref)


def test_single_row_scalars_and_strings():
    ours, ref = Host(1), _ref(1)
    for obj in (ours, ref):
        obj.set_info(a=3, b="word", c=[1, 2, 3])
    _same(ours, ref)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_groupby_matches_pynapple(seed):
    rng = np.random.default_rng(seed)
    n = 12
    ours, ref = Host(n), _ref(n)
    x = rng.integers(0, 3, n)
    y = rng.choice(["u", "v"], n)
    for obj in (ours, ref):
        obj.set_info(x=x, y=y)
    for by in ("x", "y", ["x", "y"], ["y", "x"]):
        g1, g2 = ours.groupby(by), ref.groupby(by)
        assert list(g1) == list(g2)
        for k in g2:
            np.testing.assert_array_equal(g1[k], g2[k])
    k0 = next(iter(ref.groupby("y")))
    sub = ours.groupby("y", get_group=k0)
    np.testing.assert_array_equal(sub._metadata_index, ref.groupby("y")[k0])
    r1 = ours.groupby_apply("x", lambda o: len(o._metadata_index))
    r2 = ref.groupby_apply("x", len)
    assert r1 == r2


def test_drop_and_restrict_info_match_pynapple():
    ours, ref = Host(3), _ref(3)
    for obj in (ours, ref):
        obj.set_info(a=[1, 2, 3], b=["x", "y", "z"], c=[0.1, 0.2, 0.3])
    ours.drop_info("a")
    ref.drop_info("a")
    _same(ours, ref)
    ours.restrict_info(["c"])
    ref.restrict_info(["c"])
    _same(ours, ref)
    ours.drop_info(["c"])
    ref.drop_info(["c"])
    _same(ours, ref)


def test_bad_inputs_raise_clear_errors():
    ours = Host(3)
    with pytest.raises(InvalidInputError, match="one value per row"):
        ours.set_info(a=[1, 2])
    with pytest.raises(InvalidTypeError, match="metadata must be"):
        ours.set_info(np.arange(3))
    with pytest.raises(InvalidTypeError, match="Cannot set"):
        ours.set_info(a=5)
    with pytest.raises(InvalidInputError, match="index does not match"):
        ours.set_info(pd.DataFrame({"a": [1, 2, 3]}, index=[5, 6, 7]))
    with pytest.raises(InvalidInputError, match="index does not match"):
        ours.set_info(a=pd.Series([1, 2]))
    with pytest.raises(InvalidTypeError, match="must be strings"):
        ours.set_info({1: [1, 2, 3]})
    with pytest.raises(KeyNotFoundError, match="not found"):
        ours.get_info("nope")
    with pytest.raises(KeyError):
        ours.drop_info(["nope"])
    with pytest.raises(InvalidTypeError):
        ours.get_info(3)
    with pytest.raises(ValueError, match="not found"):
        ours.groupby("nope")
    with pytest.raises(AttributeError, match="reserved"):
        ours.size = 4
    with pytest.raises(AttributeError):
        ours.nothing  # noqa: B018
    # the builtin exception types still match pynapple's
    ref = _ref(3)
    with pytest.raises(ValueError):
        ref.set_info(a=[1, 2])
    with pytest.raises(TypeError):
        ref.set_info(np.arange(3))


def test_name_warnings_match_pynapple():
    for name in ("a-b", "1a"):
        ours, ref = Host(2), _ref(2)
        with warnings.catch_warnings(record=True) as w1:
            warnings.simplefilter("always")
            ours.set_info(**{name: [1, 2]})
        with warnings.catch_warnings(record=True) as w2:
            warnings.simplefilter("always")
            ref.set_info(**{name: [1, 2]})
        assert [str(w.message) for w in w1] == [str(w.message) for w in w2]
        _same(ours, ref)


def test_pickle_roundtrip():
    import pickle

    ours = Host(3)
    ours.set_info(a=[1, 2, 3])
    back = pickle.loads(pickle.dumps(ours))
    pd.testing.assert_frame_equal(back.metadata, ours.metadata)
    assert "a" in dir(back)


@pytest.mark.parametrize("modname", ["metadata", "interval_set", "_interval_kernels"])
def test_docstring_examples_run(modname):
    import doctest
    import importlib

    mod = importlib.import_module(f"napstream.core.{modname}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
