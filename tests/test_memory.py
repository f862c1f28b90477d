"""Bounded memory: the Welch mean PSD of a >= 2 GB (on disk) gzip int16 NWB LFP under a 128 MB budget.

The NWB file is written by pynwb with an empty chunked gzip ElectricalSeries (conversion,
starting_time + rate), whose chunks are then filled with pre-compressed noise
(``write_direct_chunk``): gzip-1 noise compresses to ~0.9, so h5py inflates every byte.
The computation runs in a fresh subprocess that opens the file with ``napstream.NWBFile`` and
measures its own peak RSS (``ru_maxrss``) against the baseline of importing napstream, h5py,
scipy and the NWB/spectrum modules (code, not data).
"""

import json
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

ROWS_PER_CHUNK, CHANNELS = 16384, 64
N_CHUNKS = 1100  # ~1.15e9 samples: ~2.1 GB on disk, ~2.3 GB decompressed
BUDGET = 128 * 2**20
SLACK = 24 * 2**20  # allocator fragmentation, h5py chunk cache, FFT plans

CHILD = textwrap.dedent("""
    import json, resource, sys
    import h5py, scipy.fft, scipy.signal  # noqa: F401
    import napstream
    import napstream.nwb, napstream.process.spectrum  # noqa: F401,E401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    napstream.config.memory_budget = int(sys.argv[2])
    nwb = napstream.NWBFile(sys.argv[1])
    sig = nwb["ElectricalSeriesLFP"]
    assert sig.is_lazy
    psd = napstream.compute_mean_power_spectral_density(sig, interval_size=2.0, fs=1250.0, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"base": base, "peak": peak, "raw": sig.shape[0] * sig.shape[1] * 2,
                      "shape": list(psd.shape), "level": float(psd.values[1:-1].mean())}))
""")


def write_lfp(path, n_chunks):
    """An NWB file (pynwb) whose LFP chunks are filled directly with distinct gzip-1 noise blocks."""
    from datetime import datetime, timezone

    import h5py
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import LFP, ElectricalSeries

    nwb = NWBFile("memory test", "memtest", datetime(2024, 1, 1, tzinfo=timezone.utc))
    group = nwb.create_electrode_group("shank0", "shank", "CA1", nwb.create_device("probe"))
    for _ in range(CHANNELS):
        nwb.add_electrode(group=group, location="CA1")
    data = H5DataIO(shape=(ROWS_PER_CHUNK * n_chunks, CHANNELS), dtype=np.int16, chunks=(ROWS_PER_CHUNK, CHANNELS),
                    compression="gzip", compression_opts=1)
    series = ElectricalSeries(name="ElectricalSeriesLFP", data=data, rate=1250.0, starting_time=0.0,
                              electrodes=nwb.create_electrode_table_region(list(range(CHANNELS)), "all"),
                              conversion=0.195e-6)
    nwb.create_processing_module("ecephys", "LFP").add(LFP(electrical_series=series))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    rng = np.random.default_rng(0)
    blocks = [rng.normal(0, 2000, (ROWS_PER_CHUNK, CHANNELS)).astype(np.int16) for _ in range(8)]
    packed = [zlib.compress(b.tobytes(), 1) for b in blocks]
    with h5py.File(path, "r+") as f:
        d = f["processing/ecephys/LFP/ElectricalSeriesLFP/data"]
        for i in range(n_chunks):
            d.id.write_direct_chunk((i * ROWS_PER_CHUNK, 0), packed[i % len(packed)], filter_mask=0)
    return blocks


@pytest.mark.large
@pytest.mark.slow
def test_mean_psd_of_2gb_lfp_stays_under_budget(tmp_path):
    path = tmp_path / "big_lfp.nwb"
    blocks = write_lfp(path, N_CHUNKS)
    try:
        on_disk = path.stat().st_size
        assert on_disk >= 2e9
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(BUDGET)], capture_output=True,
                              text=True, timeout=500)
        assert proc.returncode == 0, proc.stderr[-3000:]
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        path.unlink(missing_ok=True)
    assert res["raw"] > 4 * BUDGET
    assert res["shape"] == [1251, CHANNELS]
    used = res["peak"] - res["base"]
    print(f"on disk {on_disk / 1e9:.2f} GB, decompressed {res['raw'] / 1e9:.2f} GB, baseline {res['base'] / 2**20:.0f} MiB, "
          f"peak - baseline {used / 2**20:.0f} MiB, budget {BUDGET / 2**20:.0f} MiB")
    assert used < BUDGET + SLACK, f"peak RSS {used / 2**20:.0f} MiB above baseline, budget {BUDGET / 2**20:.0f} MiB"
    # sanity on the values (averaged over frequencies and channels): white noise of sd 2000 * 0.195e-6 V has a flat one-sided PSD 2 sigma^2 <w^2> / fs
    sigma2 = float(np.var(np.concatenate(blocks) * 0.195e-6))
    np.testing.assert_allclose(res["level"], 2 * sigma2 * np.mean(np.hamming(2501) ** 2) / 1250.0, rtol=0.03)
