"""The FFT backends of the windowed spectra (napstream.process._fft): NumPy's and pyFFTW's.

Both give pynapple's result (every test of test_spectrum.py and test_psd_channel_blocks.py runs on
both, see conftest.fft_backend); here: the switch, FFTW against NumPy transform by transform, the
same bits in separate processes and whatever the executor and its threads, and pickling."""

import hashlib
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pynapple as pnap
import pytest

import napstream as nap
from napstream.config import Config, config
from napstream.core import LazyArray, RegularTimeIndex
from napstream.core.chunked import H5DatasetRef
from napstream.errors import InvalidInputError, MissingDependencyError
from napstream.process import _fft
from napstream.process._continuous import WelchSum

SRC = Path(nap.__file__).resolve().parents[1]
RATE = 1250.0

needs_pyfftw = pytest.mark.skipif(not _fft.pyfftw_available(), reason="pyFFTW is not installed (napstream[fast])")


def _write_lfp(path: Path, n: int = 40_000, channels: int = 20) -> Path:
    raw = np.cumsum(np.random.default_rng(7).normal(0, 40, (n, channels)), axis=0).astype(np.int16)
    with h5py.File(path, "w") as f:
        f.create_dataset("lfp", data=raw, chunks=(1250, channels), compression="gzip", shuffle=True)
    return path


def _lazy(path: Path) -> nap.TsdFrame:
    ref = H5DatasetRef(str(path), "lfp")
    d = LazyArray(ref.open(), scale=2.5e-3, ref=ref)
    return nap.TsdFrame(t=RegularTimeIndex(0.0, RATE, d.shape[0]), d=d)


def _digest(frame) -> str:
    return hashlib.sha256(np.ascontiguousarray(frame.values).tobytes()).hexdigest()


@needs_pyfftw
@pytest.mark.parametrize("n", [5000, 501, 61440, 7, 1])
def test_fftw_rows_equal_numpy(n):
    rng = np.random.default_rng(n)
    x = rng.normal(0, 1, (5, n))
    got = {}
    for backend in ("numpy", "pyfftw"):
        f = _fft.RowFFT(5, n, backend)
        assert f.backend == backend
        for k in (5, 3):  # a full block and a shorter last block (its own plan)
            f.input[:k] = x[:k]
            got[backend, k] = f(k).copy()
    ref = np.fft.rfft(x, axis=-1)
    for (backend, k), spectrum in got.items():
        np.testing.assert_allclose(spectrum, ref[:k], rtol=0, atol=1e-12 * np.abs(ref).max())
    # a row's spectrum does not depend on how many rows are transformed with it
    np.testing.assert_array_equal(got["pyfftw", 3], got["pyfftw", 5][:3])


@needs_pyfftw
def test_config_picks_the_backend(tmp_path, monkeypatch):
    sig = _lazy(_write_lfp(tmp_path / "lfp.h5", n=12_000, channels=5))
    planned = []
    real_plan = _fft.RowFFT._plan
    monkeypatch.setattr(_fft.RowFFT, "_plan", lambda self, k: planned.append(k) or real_plan(self, k))
    expected = pnap.compute_mean_power_spectral_density(
        pnap.TsdFrame(t=np.asarray(sig.t), d=np.asarray(sig.values)), 1.0)
    for backend, plans in (("numpy", False), ("pyfftw", True), ("auto", True)):
        planned.clear()
        with config.override(fft_backend=backend):
            got = nap.compute_mean_power_spectral_density(sig, 1.0, executor="serial")
        assert bool(planned) == plans, backend
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-9, atol=0)
        assert _fft.resolve_backend(backend) == ("numpy" if backend == "numpy" else "pyfftw")


def test_backend_setting_errors(monkeypatch):
    with pytest.raises(InvalidInputError, match="fft_backend"):
        config.fft_backend = "fftw3"
    monkeypatch.setattr(_fft, "_pyfftw", False)  # as when it is not installed
    assert _fft.resolve_backend("auto") == "numpy"
    with pytest.raises(MissingDependencyError, match=r"napstream\[fast\]"):
        _fft.resolve_backend("pyfftw")
    monkeypatch.setenv("NAPSTREAM_FFT", "Numpy")
    assert Config().fft_backend == "numpy"
    monkeypatch.setenv("NAPSTREAM_FFT", "gpu")
    with pytest.warns(UserWarning, match="NAPSTREAM_FFT"):
        assert Config().fft_backend == "auto"


_CHILD = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import napstream as nap
    from napstream.core import LazyArray, RegularTimeIndex
    from napstream.core.chunked import H5DatasetRef
    ref = H5DatasetRef(sys.argv[2], "lfp")
    d = LazyArray(ref.open(), scale=2.5e-3, ref=ref)
    sig = nap.TsdFrame(t=RegularTimeIndex(0.0, 1250.0, d.shape[0]), d=d)
    for backend in sys.argv[3:]:
        with nap.config.override(fft_backend=backend):
            for interval in (4.0, 4.0008):  # windows of 5000 samples, and 5001 (zero-padded FFTs)
                psd = nap.compute_mean_power_spectral_density(sig, interval, executor="threads", n_workers=2,
                                                              max_memory="8MB")
                print(backend, interval, hashlib.sha256(np.ascontiguousarray(psd.values).tobytes()).hexdigest())
""")


@pytest.mark.slow
def test_same_bits_in_separate_processes_and_any_threads(tmp_path):
    """The cold remote benchmark compares its result with a local run's, bit for bit: two processes,
    and every executor / worker count, must compute the same bits (FFTW plans are never timed)."""
    path = _write_lfp(tmp_path / "lfp.h5")
    backends = ["numpy"] + (["pyfftw"] if _fft.pyfftw_available() else [])
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    outs = [subprocess.run([sys.executable, str(script), str(SRC), str(path), *backends], capture_output=True,
                           text=True, timeout=120, check=True).stdout.split("\n") for _ in range(2)]
    assert outs[0] == outs[1] and len(outs[0]) == 2 * len(backends) + 1
    sig = _lazy(path)
    for line in outs[0][:-1]:
        backend, interval, digest = line.split()
        with config.override(fft_backend=backend):
            # in this process too, twice (the scratch buffers and plans of the first run are reused,
            # by whichever thread takes them); the chunks (so the order of the sums) follow the
            # executor's settings: serially, the same numbers to rounding
            for _ in range(2):
                psd = nap.compute_mean_power_spectral_density(sig, float(interval), executor="threads", n_workers=2,
                                                              max_memory="8MB")
                assert _digest(psd) == digest, (backend, interval)
            serial = nap.compute_mean_power_spectral_density(sig, float(interval), executor="serial",
                                                             max_memory="8MB")
            np.testing.assert_allclose(serial.values, psd.values, rtol=1e-9, atol=1e-13 * psd.values.max())


@needs_pyfftw
def test_kernels_pickle_without_their_plans(tmp_path):
    """Scratch buffers and FFTW plans stay in their process: the algorithm pickles (dask) without them."""
    algo = WelchSum(np.array([0, 500, 1000]), 1000, RATE, (4,))
    with config.override(fft_backend="pyfftw"):
        from napstream.process._window_buffers import give_back_scratch, take_scratch

        scratch = take_scratch(algo, algo.block, algo.fft_len)
        scratch.fft(algo.block)
        give_back_scratch(algo, scratch)
    assert algo._scratch and algo._scratch[0].fft._plans
    clone = pickle.loads(pickle.dumps(algo))
    assert "_scratch" not in clone.__dict__ and clone.n == 1000
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(scratch.fft)


_RACE = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from napstream.process import _fft
    barrier, got = threading.Barrier(4), []
    def first_use():
        barrier.wait()
        got.append(hasattr(_fft._import_pyfftw(), "zeros_aligned"))
    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(got)
""")


@needs_pyfftw
def test_first_use_from_several_threads_at_once(tmp_path):
    """Worker threads load pyFFTW's core at once: none may see it half initialised (it happened)."""
    script = tmp_path / "race.py"
    script.write_text(_RACE)
    for _ in range(2):
        out = subprocess.run([sys.executable, str(script), str(SRC)], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == str([True] * 4), out.stderr[-2000:]


@needs_pyfftw
def test_long_transforms_stay_with_numpy():
    """Beyond FFTW_MAX_LENGTH FFTW's unmeasured plans were slower: NumPy's, whatever the setting."""
    assert _fft.RowFFT(1, _fft.FFTW_MAX_LENGTH, "pyfftw").backend == "pyfftw"
    long = _fft.RowFFT(2, 2 * _fft.FFTW_MAX_LENGTH, "pyfftw")
    assert long.backend == "numpy" and not long._plans
    long.input[:] = np.random.default_rng(0).normal(size=long.input.shape)
    np.testing.assert_array_equal(long(2), np.fft.rfft(long.input, axis=-1))
