"""Bounded memory on Neuropixels-shaped raw data: 384 channels x 30 kHz int16, chunks (30000, 64).

An NWB file (pynwb, gzip level 1, conversion) of 8 s (184 MB decompressed) is filled with
pre-compressed noise chunks (``write_direct_chunk``). In a fresh subprocess that opens it with
``napstream.NWBFile`` under a 96 MiB budget, the Welch mean PSD on 1-s windows (its spectra alone
would take 4 x 90 MB for all channels at once: the planner must split the channels) and a lazy
300-6000 Hz band-pass followed by a per-channel RMS over ``iter_chunks`` must keep the peak RSS within
budget + 150 MB of the import baseline, write no file, and give the numbers scipy gives on the whole
columns; band power on the same windows as the PSD gives pynapple's periodogram of each window.
"""

import json
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

RATE, ROWS, COLS, CHANNELS, SECONDS = 30_000, 30_000, 64, 384, 8
BUDGET = 96 * 2**20
SLACK = 150 * 2**20

CHILD = textwrap.dedent("""
    import glob, json, os, resource, sys, tempfile
    import h5py, scipy.fft, scipy.signal  # noqa: F401
    import numpy as np
    import napstream
    import napstream.nwb, napstream.process.spectrum, napstream.process.filtering  # noqa: F401,E401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    napstream.config.memory_budget = int(sys.argv[2])
    nwb = napstream.NWBFile(sys.argv[1])
    sig = nwb["ElectricalSeriesRaw"]
    assert sig.is_lazy
    psd = napstream.compute_mean_power_spectral_density(sig, 1.0, progress=False)
    after_psd = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    bands = napstream.compute_band_power(sig, {"spikes": (300.0, 6000.0)}, 1.0, overlap=0.25, progress=False)
    bp = napstream.apply_bandpass_filter(sig, (300.0, 6000.0), fs=30000.0)
    squares, n = 0.0, 0
    for piece in bp.iter_chunks():
        squares = squares + np.einsum("ij,ij->j", piece.values, piece.values)
        n += len(piece)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    files = glob.glob(os.path.join(tempfile.gettempdir(), "napstream-result-*"))
    print(json.dumps({"base": base, "after_psd": after_psd, "peak": peak, "shape": list(psd.shape),
                      "psd_first": psd.values[:, 0].tolist(), "rms": np.sqrt(squares / n).tolist(), "n": n,
                      "band_t": bands.t.tolist(), "band_first": bands.values[:, 0, 0].tolist(),
                      "files": len(files)}))
""")


def write_raw(path):
    """The NWB file, and the stored values of channels 0 and 383 (for the reference)."""
    from datetime import datetime, timezone

    import h5py
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile("raw memory test", "memraw", datetime(2024, 1, 1, tzinfo=timezone.utc))
    group = nwb.create_electrode_group("shank0", "shank", "CA1", nwb.create_device("probe"))
    for _ in range(CHANNELS):
        nwb.add_electrode(group=group, location="CA1")
    data = H5DataIO(shape=(RATE * SECONDS, CHANNELS), dtype=np.int16, chunks=(ROWS, COLS), compression="gzip",
                    compression_opts=1)
    series = ElectricalSeries(name="ElectricalSeriesRaw", data=data, rate=float(RATE), starting_time=0.0,
                              electrodes=nwb.create_electrode_table_region(list(range(CHANNELS)), "all"),
                              conversion=0.195e-6)
    nwb.create_processing_module("ecephys", "raw").add(series)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    rng = np.random.default_rng(0)
    blocks = [rng.normal(0, 300, (ROWS, COLS)).astype(np.int16) for _ in range(7)]
    packed = [zlib.compress(b.tobytes(), 1) for b in blocks]
    first, last = [], []
    with h5py.File(path, "r+") as f:
        d = f["processing/ecephys/ElectricalSeriesRaw/data"]
        for i in range(SECONDS):
            for j in range(CHANNELS // COLS):
                k = (i * 3 + j) % len(blocks)
                d.id.write_direct_chunk((i * ROWS, j * COLS), packed[k], filter_mask=0)
                if j == 0:
                    first.append(blocks[k][:, 0])
                if j == CHANNELS // COLS - 1:
                    last.append(blocks[k][:, -1])
    return np.concatenate(first), np.concatenate(last)


@pytest.mark.large
@pytest.mark.slow
def test_384_channels_psd_and_filter_rms_within_budget(tmp_path):
    from scipy.signal import butter, sosfiltfilt

    path = tmp_path / "raw.nwb"
    ch0, ch383 = write_raw(path)
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(BUDGET)], capture_output=True, text=True,
                              timeout=300, env={**__import__("os").environ, "TMPDIR": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        path.unlink(missing_ok=True)
    used = res["peak"] - res["base"]
    print(f"baseline {res['base'] / 2**20:.0f} MiB, PSD peak {(res['after_psd'] - res['base']) / 2**20:.0f} MiB, "
          f"filter+RMS peak {used / 2**20:.0f} MiB above it; budget {BUDGET / 2**20:.0f} MiB")
    assert used < BUDGET + SLACK
    assert res["files"] == 0  # the filtered signal was never written
    assert res["shape"] == [15001, CHANNELS]
    # channels 0 and 383 against pynapple / scipy on the whole column
    import pynapple as pnap

    x = ch0 * 0.195e-6
    ref = pnap.compute_mean_power_spectral_density(pnap.Tsd(t=np.arange(len(x)) / RATE, d=x), 1.0)
    np.testing.assert_allclose(res["psd_first"], ref.values[:, 0], rtol=1e-9)
    n_window = RATE + 1  # 1-s windows, both ends included (a large prime factor: the zero-padded route)
    sig0 = pnap.Tsd(t=np.arange(len(x)) / RATE, d=x)
    assert len(res["band_t"]) == 10
    for start, got in zip(res["band_t"], res["band_first"]):
        a = int(round(start * RATE))
        window = pnap.IntervalSet(sig0.t[a], sig0.t[a + n_window - 1])
        psd = pnap.compute_power_spectral_density(sig0, fs=float(RATE), ep=window)
        band = (psd.index >= 300.0) & (psd.index <= 6000.0)
        np.testing.assert_allclose(got, psd.values[band, 0].sum() * RATE / n_window, rtol=1e-9)
    sos = butter(4, (300.0, 6000.0), btype="bandpass", fs=RATE, output="sos")
    for got, column in ((res["rms"][0], ch0), (res["rms"][-1], ch383)):
        expected = np.sqrt(np.mean(sosfiltfilt(sos, column * 0.195e-6) ** 2))
        np.testing.assert_allclose(got, expected, rtol=1e-9)
