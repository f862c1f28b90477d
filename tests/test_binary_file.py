"""nap.load_binary_file / load_eeg (flat binary recordings, Neurosuite .dat/.eeg/.lfp) against pynapple's."""

from __future__ import annotations

import numpy as np
import pynapple
import pytest

import napstream as nap
from napstream.errors import InvalidInputError


@pytest.fixture
def recording(tmp_path):
    data = (np.random.default_rng(0).normal(size=(2500, 5)) * 300).astype("int16")
    path = tmp_path / "rec.dat"
    data.tofile(path)
    return path, data


def _same(ours, ref):
    assert type(ours).__name__ == type(ref).__name__
    assert type(ours.values).__name__ == type(ref.values).__name__  # a memory map where pynapple keeps one
    np.testing.assert_array_equal(np.asarray(ours.values), np.asarray(ref.values))
    np.testing.assert_array_equal(ours.t, ref.t)
    np.testing.assert_array_equal(ours.time_support.values, ref.time_support.values)
    if hasattr(ref, "columns"):
        assert list(ours.columns) == list(ref.columns)


@pytest.mark.parametrize("channel", [None, 3, [0, 4, 2]])
@pytest.mark.parametrize("frequency", [1250.0, 20000])
def test_equal_to_pynapple(recording, channel, frequency):
    path, _ = recording
    kw = dict(channel=channel, n_channels=5, frequency=frequency, precision="int16")
    _same(nap.load_binary_file(path, **kw), pynapple.load_binary_file(path, **kw))
    with pytest.warns(DeprecationWarning, match="load_binary_file"):
        _same(nap.load_eeg(path, **kw), pynapple.load_binary_file(path, **kw))


def test_the_times_are_a_clock_not_an_array(recording):
    path, data = recording
    eeg = nap.load_binary_file(path, n_channels=5, frequency=1250.0)
    assert eeg.time_index.is_regular  # i / frequency as arithmetic: no array of timestamps
    psd = nap.compute_mean_power_spectral_density(eeg, 1.0)
    ref = pynapple.compute_mean_power_spectral_density(pynapple.TsdFrame(t=np.arange(len(data)) / 1250.0, d=data), 1.0)
    np.testing.assert_allclose(np.asarray(psd.values), np.asarray(ref.values), rtol=1e-10, atol=1e-12)


def test_neurosuite_xml_settings(tmp_path):
    data = np.arange(4 * 600, dtype="int16").reshape(600, 4)
    for name in ("s.dat", "s.eeg"):
        data.tofile(tmp_path / name)
    (tmp_path / "s.xml").write_text(
        "<parameters><acquisitionSystem><nChannels>4</nChannels><samplingRate>20000</samplingRate>"
        "</acquisitionSystem><fieldPotentials><lfpSamplingRate>1250</lfpSamplingRate></fieldPotentials></parameters>")
    dat, eeg = nap.load_binary_file(tmp_path / "s.dat"), nap.load_binary_file(tmp_path / "s.eeg", channel=1)
    _same(dat, pynapple.load_binary_file(tmp_path / "s.dat", n_channels=4, frequency=20000))
    _same(eeg, pynapple.load_binary_file(tmp_path / "s.eeg", channel=1, n_channels=4, frequency=1250))
    (tmp_path / "s.xml").unlink()
    with pytest.raises(RuntimeError, match="Can't find xml file; please specify sampling frequency or number of channels"):
        nap.load_binary_file(tmp_path / "s.dat")


def test_bad_arguments(recording, tmp_path):
    path, _ = recording
    with pytest.raises(FileNotFoundError, match="No such file or directory"):
        nap.load_binary_file(tmp_path / "absent.dat", n_channels=5, frequency=1.0)
    with pytest.raises(InvalidInputError, match="bytes_size=2 does not match precision 'float32'"):
        nap.load_binary_file(path, n_channels=5, frequency=1.0, precision="float32")
    with pytest.raises(InvalidInputError, match="channel 7 is not among the file's 5 channels"):
        nap.load_binary_file(path, channel=7, n_channels=5, frequency=1.0)
    with pytest.raises(InvalidInputError, match="n_channels must be a positive int"):
        nap.load_binary_file(path, n_channels=0, frequency=1.0)
    with pytest.warns(UserWarning, match="is n_channels right"):  # 2500 x 5 samples are not a whole number of 3
        eeg = nap.load_binary_file(path, n_channels=3, frequency=1.0)
    assert eeg.shape == (2500 * 5 // 3, 3)
