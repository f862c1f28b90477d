"""Trial tensors (build_tensor, warp_tensor) vs pynapple 0.11.4 on memory, local-file and HTTP objects."""

import re

import numpy as np
import pynapple as pnap
import pytest

import napstream as nap

TRIALS = ([1.0, 7.3, 15.0, 30.2], [3.5, 8.0, 19.9, 31.0])


def _trials(mod):
    return mod.IntervalSet(*TRIALS)


@pytest.mark.network
def test_build_and_warp_match_pynapple_on_every_source(session_objects):
    ref = session_objects.ref
    calls = [
        ("units", "build", {"bin_size": 0.25}), ("units", "build", {"bin_size": 250, "time_unit": "ms",
                                                                     "align": "end", "padding_value": -1}),
        ("lfp", "build", {}), ("lfp", "build", {"align": "end"}), ("head", "build", {"padding_value": 0}),
        ("position", "build", {"align": "end"}),
        ("units", "warp", {"num_bins": 7}), ("lfp", "warp", {"num_bins": 50}), ("lfp", "warp", {"num_bins": 2000}),
        ("head", "warp", {"num_bins": 30}), ("head", "warp", {"num_bins": 400}), ("position", "warp", {"num_bins": 9}),
    ]
    expected = []
    for key, what, kw in calls:
        fn = pnap.build_tensor if what == "build" else pnap.warp_tensor
        expected.append(fn(ref[key], _trials(pnap), **kw))
    for source, objs in session_objects.sources():
        for (key, what, kw), exp in zip(calls, expected):
            fn = nap.build_tensor if what == "build" else nap.warp_tensor
            got = fn(objs[key], _trials(nap), **kw)
            assert isinstance(got, np.ndarray) and got.shape == exp.shape, (source, key, what, kw)
            np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12, err_msg=f"{source} {key} {what} {kw}")
    one = nap.build_tensor(session_objects.memory()["units"][2], _trials(nap), bin_size=0.5)
    np.testing.assert_allclose(one, pnap.build_tensor(ref["units"][2], _trials(pnap), bin_size=0.5))
    warped = nap.warp_tensor(session_objects.memory()["units"][2], _trials(nap), 5)
    np.testing.assert_allclose(warped, pnap.warp_tensor(ref["units"][2], _trials(pnap), 5))


def test_lazy_series_reads_only_trial_rows(recording_array):
    log = []
    n = 10_000
    d = np.arange(n, dtype=float)
    lazy = nap.Tsd(t=np.arange(n) / 100.0, d=nap.LazyArray(recording_array(d, log)))
    ep = nap.IntervalSet([10.0, 50.0], [10.5, 51.0])
    got = nap.build_tensor(lazy, ep)
    exp = pnap.build_tensor(pnap.Tsd(t=np.arange(n) / 100.0, d=d), pnap.IntervalSet([10.0, 50.0], [10.5, 51.0]))
    np.testing.assert_allclose(got, exp)
    assert sum(log) <= 51 + 101, log


def test_tensor_errors():
    tsd = nap.Tsd(t=np.arange(10.0), d=np.arange(10.0))
    ep = nap.IntervalSet(0, 5)
    with pytest.raises(TypeError, match=re.escape("Parameter input must be of type ['Ts', 'Tsd'")):
        nap.build_tensor({}, ep)
    with pytest.raises(TypeError, match=re.escape("Parameter epochs must be of type ['IntervalSet']")):
        nap.warp_tensor(tsd, {}, 3)
    with pytest.raises(TypeError, match=re.escape("Parameter num_bins must be of type ['int']")):
        nap.warp_tensor(tsd, ep, "a")
    with pytest.raises(RuntimeError, match="num_bins should be positive integer"):
        nap.warp_tensor(tsd, ep, 0)
    with pytest.raises(RuntimeError, match="bin_size should be specified"):
        nap.build_tensor(nap.Ts(t=np.arange(10.0)), ep)
    with pytest.raises(RuntimeError, match="align should be 'start' or 'end'"):
        nap.build_tensor(tsd, ep, align="middle")


def test_pynapple_submodule_attributes():
    """pynapple exposes its process modules as attributes (``nap.randomize.jitter_timestamps``...)."""
    assert nap.randomize.jitter_timestamps is nap.jitter_timestamps
    assert nap.warping.build_tensor is nap.build_tensor and nap.warping.warp_tensor is nap.warp_tensor
    assert nap.filtering.apply_lowpass_filter is nap.apply_lowpass_filter
    assert nap.tuning_curves.compute_tuning_curves is nap.compute_tuning_curves
    assert nap.process.filtering._get_windowed_sinc_kernel is not None
    for name in ("apply_hilbert_transform", "compute_hilbert_envelope", "compute_hilbert_phase",
                 "detect_oscillatory_events", "shift_timestamps", "shuffle_ts_intervals", "resample_timestamps"):
        assert callable(getattr(nap, name)) and name in dir(nap)
