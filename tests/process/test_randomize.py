"""Surrogate timestamps vs pynapple 0.11.4: same seed, same draws, on memory, local-file and HTTP units."""

import numpy as np
import pynapple as pnap
import pytest

import napstream as nap


def _same_group(got, exp):
    assert isinstance(got, nap.TsGroup)
    assert list(got.keys()) == list(exp.keys())
    np.testing.assert_allclose(got.time_support.values, exp.time_support.values)
    for k in exp.keys():
        np.testing.assert_allclose(got[k].times(), exp[k].times(), rtol=0, atol=1e-12)


CALLS = [
    ("shift_timestamps", {}),
    ("shift_timestamps", {"min_shift": 2.0, "max_shift": 9.0, "mode": "wrap"}),
    ("shift_timestamps", {"min_shift": 1.0, "max_shift": 3.0, "mode": "drop"}),
    ("shuffle_ts_intervals", {}),
    ("jitter_timestamps", {"max_jitter": 0.05}),
    ("jitter_timestamps", {"max_jitter": 0.5, "keep_tsupport": True}),
    ("resample_timestamps", {}),
]


@pytest.mark.network
@pytest.mark.parametrize("name, kwargs", CALLS)
def test_randomize_group_matches_pynapple_on_every_source(session_objects, name, kwargs):
    ref = session_objects.ref["units"]
    np.random.seed(11)
    exp = getattr(pnap, name)(ref, **kwargs)
    for source, objs in session_objects.sources():
        np.random.seed(11)
        got = getattr(nap, name)(objs["units"], **kwargs)
        _same_group(got, exp)
        np.random.seed(11)
        one = getattr(nap.randomize, name)(objs["units"][1], **kwargs)
        np.random.seed(11)
        exp_one = getattr(pnap.randomize, name)(ref[1], **kwargs)
        assert isinstance(one, nap.Ts), source
        np.testing.assert_allclose(one.times(), exp_one.times(), rtol=0, atol=1e-12, err_msg=source)
        np.testing.assert_allclose(one.time_support.values, exp_one.time_support.values, err_msg=source)


@pytest.mark.parametrize("mode, shift, support, expected", [
    ("drop", 1, None, [26, 28, 34.3]),
    ("wrap", 2, None, [25.8, 27, 27, 29]),
    ("wrap", 1, ([25, 30], [27, 34.5]), [26, 26, 34.3]),
])
def test_shift_fixed_amount(mode, shift, support, expected):
    ts = nap.Ts(t=[25, 27, 33.3, 34.5], time_support=None if support is None else nap.IntervalSet(*support))
    got = nap.shift_timestamps(ts, min_shift=shift, max_shift=shift, mode=mode)
    np.testing.assert_allclose(got.times(), expected)


def test_randomize_errors_and_warnings():
    ts = nap.Ts(t=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="min_shift should be a number"):
        nap.shift_timestamps(ts, "1")
    with pytest.raises(TypeError, match="max_shift should be a number"):
        nap.shift_timestamps(ts, 1.0, [2.0])
    with pytest.raises(ValueError, match="mode must be either 'drop' or 'wrap'"):
        nap.shift_timestamps(ts, 1.0, 1.0, "roll")
    with pytest.raises(TypeError, match="data should be a Ts or TsGroup"):
        nap.shift_timestamps(nap.Tsd(t=[1.0, 2.0], d=[1.0, 2.0]))
    for fn in (nap.shuffle_ts_intervals, nap.resample_timestamps):
        with pytest.raises(TypeError, match="should be Ts or TsGroup"):
            fn(np.arange(3.0))
    with pytest.raises(TypeError, match="max_jitter"):
        nap.jitter_timestamps(ts)
    group = nap.TsGroup({1: nap.Ts([1.0, 2.0, 3.0]), 2: nap.Tsd(t=[1.0, 2.0, 3.0], d=[1, 1, 1])})
    with pytest.warns(UserWarning, match="TsGroup entry 2 was not a Ts"):
        nap.shift_timestamps(group, 1.0, 1.0)
