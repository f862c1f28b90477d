"""Hilbert transform, envelope, phase and oscillatory events vs pynapple 0.11.4.

Whole-array transforms (memory, and lazy inputs that fit the budget) must equal pynapple's; lazy
inputs beyond the budget are streamed with margins, equal between local and HTTP sources and within
the documented truncation error of the whole-array result.
"""

import numpy as np
import pynapple as pnap
import pytest

import napstream as nap

FUNCS = ("apply_hilbert_transform", "compute_hilbert_envelope", "compute_hilbert_phase")


def _circular_close(got, exp, atol):
    diff = np.angle(np.exp(1j * (np.asarray(got) - np.asarray(exp))))
    assert np.abs(diff).max() <= atol


@pytest.mark.network
@pytest.mark.parametrize("name", FUNCS)
def test_whole_array_transforms_equal_pynapple_on_every_source(session_objects, name):
    ref = session_objects.ref["lfp"]
    exp_frame = getattr(pnap, name)(ref)
    exp_col = getattr(pnap, name)(ref[:, 1])
    for source, objs in session_objects.sources():
        got = getattr(nap, name)(objs["lfp"])
        assert type(got).__name__ == "TsdFrame", source
        np.testing.assert_array_equal(got.t, exp_frame.t)
        np.testing.assert_allclose(got.time_support.values, exp_frame.time_support.values)
        scale = np.abs(exp_frame.values).max()
        if name == "compute_hilbert_phase":
            _circular_close(got.values, exp_frame.values, 1e-9)
        else:
            np.testing.assert_allclose(got.values, exp_frame.values, rtol=0, atol=1e-12 * scale, err_msg=source)
        col = getattr(nap, name)(objs["lfp"][:, 1])
        assert type(col).__name__ == "Tsd", source
        if name == "compute_hilbert_phase":
            _circular_close(col.values, exp_col.values, 1e-9)
        else:
            np.testing.assert_allclose(col.values, exp_col.values, rtol=0, atol=1e-12 * scale, err_msg=source)


def test_in_memory_is_bit_identical_to_pynapple():
    t = np.linspace(0, 1, 500)
    d = np.stack([np.sin(7 * t), np.cos(3 * t)], axis=1)
    for name in FUNCS:
        got = getattr(nap, name)(nap.TsdFrame(t=t, d=d, time_support=nap.IntervalSet([0, 0.6], [0.5, 1])))
        exp = getattr(pnap, name)(pnap.TsdFrame(t=t, d=d, time_support=pnap.IntervalSet([0, 0.6], [0.5, 1])))
        np.testing.assert_array_equal(got.values, exp.values)
        np.testing.assert_array_equal(got.time_support.values, exp.time_support.values)


@pytest.mark.network
def test_streamed_envelope_and_phase_beyond_the_budget(session_objects):
    """9 MB cannot hold the whole-array transform of 50000 x 4 samples (9.6 MB): the transform streams,
    in tiles whose 2 s margins come on top of the lazy band-pass filter's own margins."""
    ref = pnap.apply_bandpass_filter(session_objects.ref["lfp"], (6.0, 12.0), fs=1250.0)
    exp_env = pnap.compute_hilbert_envelope(ref).values
    exp_phase = pnap.compute_hilbert_phase(ref).values
    amplitude = np.abs(exp_env).max()
    margin = 2.0
    inner = slice(int(margin * 1250), len(exp_env) - int(margin * 1250))
    results = {}
    for source, objs in session_objects.sources():
        if source == "memory":
            continue
        filt = nap.apply_bandpass_filter(objs["lfp"], (6.0, 12.0), fs=1250.0, max_memory="12MB")
        env = nap.compute_hilbert_envelope(filt, margin=margin, max_memory="9MB", executor="serial")
        phase = nap.compute_hilbert_phase(filt, margin=margin, max_memory="9MB", executor="threads")
        assert env.is_lazy and phase.is_lazy, source
        # fixed tiles: the chunking (budget, executor) changes nothing but the last bits of the lazy
        # filter's FFT convolution (1e-14 of its values)
        other = nap.compute_hilbert_envelope(filt, margin=margin, max_memory="8.5MB", executor="threads")
        np.testing.assert_allclose(np.asarray(other.values), np.asarray(env.values), rtol=0, atol=1e-12 * amplitude)
        results[source] = (np.asarray(env.values), np.asarray(phase.values))
        # truncation error of the Hilbert kernel beyond the margin: ~5e-3 x amplitude / seconds
        np.testing.assert_allclose(results[source][0][inner], exp_env[inner], rtol=0, atol=3e-3 * amplitude)
        _circular_close(results[source][1][inner][exp_env[inner] > 0.2 * amplitude],
                        exp_phase[inner][exp_env[inner] > 0.2 * amplitude], 2e-2)
    np.testing.assert_array_equal(results["local"][0], results["http"][0])
    np.testing.assert_array_equal(results["local"][1], results["http"][1])


def test_hilbert_errors():
    for name in FUNCS:
        with pytest.raises(TypeError, match="data should be a Tsd or TsdFrame"):
            getattr(nap, name)(np.ones((3, 3)))
        with pytest.raises(TypeError, match="data should be a Tsd or TsdFrame"):
            getattr(nap, name)(nap.TsdTensor(t=[1.0, 2.0, 3.0], d=np.ones((3, 2, 2))))


# -------------------------------------------------------------------------------- oscillatory events
def _theta_bursts(rate=1000.0, duration=30.0, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(0, duration, 1 / rate)
    x = rng.normal(0, 0.3, len(t))
    for start in (2.0, 9.5, 17.0, 24.2):
        m = (t >= start) & (t < start + 1.2)
        x[m] += 2.0 * np.sin(2 * np.pi * 8.0 * t[m])
    return t, x


def _same_events(got, exp, what):
    np.testing.assert_allclose(got.start, exp.start, err_msg=what)
    np.testing.assert_allclose(got.end, exp.end, err_msg=what)
    for key in ("power", "amplitude", "peak_time"):
        np.testing.assert_allclose(np.asarray(got._metadata[key], float), np.asarray(exp._metadata[key], float),
                                   rtol=1e-9, err_msg=f"{what} {key}")


@pytest.mark.parametrize("args", [
    ((6, 10), (1, 10), (0.3, 3), 0.05, {}),
    ((6, 10), (0.5, 2.5), (0.1, 5), 0.2, {"sliding_window_size": 101, "fs": 1000.0}),
])
def test_oscillatory_events_match_pynapple_in_memory_and_lazy(tmp_path, args):
    import h5py

    from napstream.core.chunked import H5DatasetRef

    band, thr, dur, gap, kw = args
    t, x = _theta_bursts()
    ep = ([0.5, 12.0], [11.0, 29.5])
    exp = pnap.detect_oscillatory_events(pnap.Tsd(t=t, d=x), pnap.IntervalSet(*ep), band, thr, dur, gap, **kw)
    assert len(exp) >= 2
    got = nap.detect_oscillatory_events(nap.Tsd(t=t, d=x), nap.IntervalSet(*ep), band, thr, dur, gap, **kw)
    _same_events(got, exp, "memory")
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(1000,))
    ref = H5DatasetRef(str(path), "x")
    lazy = nap.Tsd(t=nap.RegularTimeIndex(0.0, 1000.0, len(t)), d=nap.LazyArray(ref.open(), ref=ref))
    got = nap.detect_oscillatory_events(lazy, nap.IntervalSet(*ep), band, thr, dur, gap, max_memory="64MB", **kw)
    _same_events(got, exp, "lazy")


def test_oscillatory_events_errors():
    t, x = _theta_bursts(duration=3.0)
    tsd, ep = nap.Tsd(t=t, d=x), nap.IntervalSet(0, 3)
    good = dict(data=tsd, epochs=ep, frequency_band=(6, 10), threshold_band=(1, 10), duration_band=(0.1, 2),
                min_interval=0.02)
    for key, value, err, msg in [
        ("data", np.ones(3), TypeError, "`data` must be `Tsd`"),
        ("epochs", None, TypeError, "`epochs` must be `IntervalSet`"),
        ("frequency_band", (10, 5), ValueError, r"must be \(min, max\) with min < max"),
        ("duration_band", (5,), ValueError, "must have length 2, got 1"),
        ("threshold_band", (1, "x"), TypeError, "must contain numeric values"),
        ("min_interval", -1, ValueError, "`min_interval` must be >= 0"),
        ("fs", "a", TypeError, "`fs` must be a number or None"),
        ("sliding_window_size", 0, ValueError, "`sliding_window_size` must be > 0"),
    ]:
        with pytest.raises(err, match=msg):
            nap.detect_oscillatory_events(**{**good, key: value})


def test_oscillatory_events_streamed_beyond_the_budget(tmp_path):
    """120 s at 1 kHz: the envelope cannot be transformed whole in 5 MB (5.8 MB), so every step streams
    (the lazy band-pass filter's margins and the Hilbert tiles' margins both fit)."""
    import h5py

    from napstream.core.chunked import H5DatasetRef

    t, x = _theta_bursts(duration=120.0, seed=5)
    ep = nap.IntervalSet([0.0, 40.0], [30.0, 119.0])
    exp = pnap.detect_oscillatory_events(pnap.Tsd(t=t, d=x), pnap.IntervalSet([0.0, 40.0], [30.0, 119.0]),
                                         (6, 10), (1, 10), (0.3, 3), 0.05)
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(2000,))
    ref = H5DatasetRef(str(path), "x")
    lazy = nap.Tsd(t=nap.RegularTimeIndex(0.0, 1000.0, len(t)), d=nap.LazyArray(ref.open(), ref=ref))
    got = nap.detect_oscillatory_events(lazy, ep, (6, 10), (1, 10), (0.3, 3), 0.05, max_memory="5MB",
                                        executor="serial")
    assert len(got) == len(exp) >= 3
    np.testing.assert_allclose(got.start, exp.start, atol=0.01)
    np.testing.assert_allclose(got.end, exp.end, atol=0.01)
    np.testing.assert_allclose(np.asarray(got._metadata["amplitude"], float),
                               np.asarray(exp._metadata["amplitude"], float), rtol=1e-2)
