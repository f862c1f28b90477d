"""Bad input gives clear errors naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import napstream as nap
from napstream.errors import InvalidInputError, InvalidTypeError


@pytest.mark.parametrize("cls", ["Ts", "Tsd", "TsdFrame"])
def test_bad_times(cls):
    make = (lambda t: nap.Ts(t=t)) if cls == "Ts" else (lambda t: getattr(nap, cls)(t=t, d=np.zeros(len(t))))
    with pytest.warns(UserWarning, match="timestamps are not sorted"):  # pynapple: warn and sort
        obj = make(np.array([0.0, 2.0, 1.0]))
    np.testing.assert_array_equal(obj.t, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="t must be finite"):
        make(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="t must be finite"):
        make(np.array([0.0, 1.0, np.inf]))
    with pytest.raises(TypeError, match="t must be"):
        make(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="t must be 1-dimensional"):
        make(np.zeros((2, 2)))


def test_bad_data_and_arguments():
    t = np.arange(3.0)
    with pytest.raises(ValueError, match=r"t and d must have the same length, got len\(t\)=3 and len\(d\)=2"):
        nap.Tsd(t=t, d=[1.0, 2.0])
    with pytest.raises(ValueError, match="d must have 1 dimension"):
        nap.Tsd(t=t, d=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="d must have 3"):
        nap.TsdTensor(t=t, d=np.zeros((3, 2)))
    with pytest.raises(TypeError, match="Unknown format for d"):
        nap.Tsd(t=t, d={"a": 1})
    with pytest.raises(TypeError, match="d is required"):
        nap.Tsd(t=t)
    with pytest.raises(ValueError, match="time_units argument should be .s., .ms. or .us.\. Got"):
        nap.Tsd(t=t, d=t, time_units="minutes")
    with pytest.raises(TypeError, match="time_support must be an IntervalSet"):
        nap.Tsd(t=t, d=t, time_support=[0, 1])
    tsd = nap.Tsd(t=t, d=t)
    with pytest.raises(TypeError, match="iset must be an IntervalSet"):
        tsd.restrict([0, 1])
    with pytest.raises(TypeError, match="bin_size argument should be float or int"):
        tsd.count("1")
    with pytest.raises(ValueError, match="bin_size must be > 0"):
        tsd.count(-1.0)
    with pytest.raises(TypeError, match="ep argument should be of type IntervalSet"):
        tsd.count(1.0, ep=(0, 1))
    with pytest.raises(ValueError, match="time_units argument should be .s., .ms. or .us.\. Got"):
        tsd.count(1.0, time_units="h")
    with pytest.raises(ValueError, match="start must not be after end"):
        tsd.get(2.0, 1.0)
    with pytest.raises(TypeError, match="start must be an int or a float"):
        tsd.get("a")
    with pytest.raises(ValueError, match="Method over for thresholding is not accepted"):
        tsd.threshold(1.0, method="over")
    with pytest.raises(ValueError, match="Argument ``mode`` should be"):
        tsd.value_from(tsd, mode="nearest")
    with pytest.raises(TypeError, match="First argument should be an instance of Tsd"):
        tsd.value_from(np.arange(3))
    with pytest.raises(TypeError, match="update_time_support must be a bool"):
        tsd.dropna(1)
    with pytest.raises(ValueError, match="trim should be .both., .left. or .right."):
        tsd.convolve(np.ones(2), trim="middle")
    with pytest.raises(TypeError, match="First argument should be an instance of Ts, Tsd"):
        tsd.interpolate(np.arange(3))
    with pytest.raises(TypeError, match="std should be type int or float"):
        tsd.smooth("1")
    with pytest.raises(InvalidInputError, match="When indexing with a Tsd, it must contain boolean values"):
        tsd[tsd]
    with pytest.raises(RuntimeError, match="not permitted"):
        tsd.time_support = nap.IntervalSet(0, 1)
    tf = nap.TsdFrame(t=t, d=np.zeros((3, 2)), columns=["a", "b"])
    with pytest.raises(KeyError, match="column"):
        tf.loc["zz"]


def test_lazy_objects_refuse_assignment():
    from napstream.core.lazy import LazyArray

    tsd = nap.Tsd(t=np.arange(3.0), d=LazyArray(np.zeros(3)))
    with pytest.raises(InvalidTypeError, match="call .load"):
        tsd[0] = 1.0
    loaded = tsd.load()
    loaded[0] = 1.0
    assert loaded.values[0] == 1.0 and not loaded.is_lazy


def test_unsorted_times_are_sorted_with_their_values():
    with pytest.warns(UserWarning, match="timestamps are not sorted"):
        tsd = nap.Tsd(t=np.array([3.0, 1.0, 2.0]), d=np.array([30.0, 10.0, 20.0]))
    np.testing.assert_array_equal(tsd.t, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(tsd.d, [10.0, 20.0, 30.0])
    with pytest.warns(UserWarning, match="timestamps are not sorted"):
        tf = nap.TsdFrame(t=np.array([1.0, 0.0]), d=np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(tf.values, [[3, 4], [1, 2]])
