"""Errors that pynapple scripts (and pynapple's own tests) match on: the same type and the same words as
pynapple raises, found by running pynapple on the same call."""

from __future__ import annotations

import numpy as np
import pynapple
import pytest

import napstream as nap


def _raised(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - what each library raises is the point
        return err
    raise AssertionError("no error raised")


def _same(make_call, *types, more=False):
    """Same type(s) and message; ``more``: napstream's message may go on after pynapple's (the value given)."""
    ref, ours = _raised(make_call(pynapple)), _raised(make_call(nap))
    assert (str(ours).startswith(str(ref)) if more else str(ours) == str(ref)), (str(ours), str(ref))
    for t in types:
        assert isinstance(ref, t) and isinstance(ours, t), (type(ours).__mro__, type(ref).__mro__)


def test_missing_nwb_file(tmp_path):
    missing = str(tmp_path / "file1.nwb")
    _same(lambda m: (lambda: m.NWBFile(missing)), FileNotFoundError)


def test_load_file_missing_npz_and_unknown_format(tmp_path):
    _same(lambda m: (lambda: m.load_file(str(tmp_path / "themissingfile.npz"))), FileNotFoundError)
    npy = tmp_path / "test.npy"
    np.save(npy, np.arange(10.0))
    _same(lambda m: (lambda: m.load_file(npy)), RuntimeError)
    err = _raised(lambda: nap.load_file(npy))
    assert "reads NWB (HDF5) files and pynapple's .npz files" in err.__notes__[0]


def test_convolve_ep_must_be_an_interval_set():
    def call(m):
        tsd = m.Tsd(t=np.arange(100.0), d=np.random.default_rng(0).normal(size=100))
        return lambda: tsd.convolve(np.ones(3), ep=[1, 2, 3, 4])

    _same(call, OSError)


@pytest.mark.parametrize("call", [
    lambda m: m.Tsd(t=np.arange(10.0), d=np.arange(10.0)).count(1, time_units={}),
    lambda m: m.TsGroup({0: m.Ts(np.arange(5.0))}).count(1, time_units="h"),
])
def test_time_units_of_count(call):
    _same(lambda m: (lambda: call(m)), ValueError, more=True)


def test_getby_threshold_operation():
    _same(lambda m: (lambda: m.TsGroup({0: m.Ts(np.arange(5.0))}).getby_threshold("rate", 1, "!=")), RuntimeError)


def test_tsgroup_value_from_mode():
    def call(m):
        group = m.TsGroup({0: m.Ts(np.arange(5.0))})
        return lambda: group.value_from(m.Tsd(t=np.arange(10.0), d=np.arange(10.0)), mode=1)

    _same(call, ValueError)


def test_tsgroup_rate_cannot_be_set_as_an_attribute():
    def call(m):
        group = m.TsGroup({0: m.Ts(np.arange(5.0)), 1: m.Ts(np.arange(3.0))})
        return lambda: setattr(group, "rate", np.ones(2))

    ref, ours = _raised(call(pynapple)), _raised(call(nap))
    assert isinstance(ref, AttributeError) and isinstance(ours, AttributeError)
    assert str(ref).startswith("Cannot set attribute") and str(ours).startswith("Cannot set attribute")
    group = nap.TsGroup({0: nap.Ts(np.arange(5.0))})
    group.label = [3]  # other names still become metadata
    assert list(group.label) == [3]
