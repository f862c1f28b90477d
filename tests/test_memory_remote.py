"""Bounded memory of a cold remote job: the Welch mean PSD of a ~230 MB gzip LFP read over HTTP.

The file (written as in ``test_memory.py``) is served by the loopback server in a process of its own
with a modelled link (10 ms latency, 200 Mbit/s per response, 400 Mbit/s shared); a fresh
subprocess opens it with ``napstream.NWBFile(url, cache_dir=...)`` (empty disk cache, read-ahead
on, default executor) and measures its own peak RSS against the baseline of its imports. Besides
the job's budget, a cold remote job holds the source's memory LRU, the disk cache's write queue,
bodies being received and what the C allocator keeps of the fetch threads' freed memory: all of it
must stay within a fixed allowance. Before the bound (a 64 MiB LRU, one malloc arena per fetch
thread) the same job used ~190-250 MiB above its baseline under a 128 MiB budget; with it ~115-135.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_memory import CHANNELS, write_lfp

from napstream.testing.server_process import ServerProcess

N_CHUNKS = 120  # 2 MiB of int16 per chunk: ~250 MB decompressed, ~230 MB on disk
BUDGET = 128 * 2**20
ALLOWANCE = 40 * 2**20  # memory LRU (16 MiB), disk-cache write queue (8 MiB), bodies in flight, malloc slack

CHILD = textwrap.dedent("""
    import json, resource, sys
    import aiohttp, h5py, scipy.fft, scipy.signal  # noqa: F401
    import napstream
    import napstream.io.http, napstream.nwb, napstream.process.spectrum  # noqa: F401,E401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    napstream.config.memory_budget = int(sys.argv[2])
    nwb = napstream.NWBFile(sys.argv[1], cache_dir=sys.argv[3])
    sig = nwb["ElectricalSeriesLFP"]
    assert sig.is_lazy
    psd = napstream.compute_mean_power_spectral_density(sig, interval_size=2.0, fs=1250.0, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fetched = napstream.io.http._LIVE and sum(s.stats.bytes_fetched for s in napstream.io.http._LIVE)
    print(json.dumps({"base": base, "peak": peak, "fetched": int(fetched or 0), "shape": list(psd.shape),
                      "level": float(psd.values[1:-1].mean())}))
""")


@pytest.mark.large
@pytest.mark.slow
@pytest.mark.network
def test_cold_remote_mean_psd_stays_within_budget_plus_allowance(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    path = folder / "lfp.nwb"
    blocks = write_lfp(path, N_CHUNKS)
    on_disk = path.stat().st_size
    with ServerProcess(folder, latency=0.01, bandwidth=25e6, link=50e6) as server:
        proc = subprocess.run([sys.executable, "-c", CHILD, server.url_for("lfp.nwb"), str(BUDGET), str(tmp_path / "cache")],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["shape"] == [1251, CHANNELS]
    assert res["fetched"] >= 0.95 * on_disk  # the job did read the file over the network
    used = res["peak"] - res["base"]
    print(f"on disk {on_disk / 1e6:.0f} MB, baseline {res['base'] / 2**20:.0f} MiB, peak - baseline "
          f"{used / 2**20:.0f} MiB, budget {BUDGET / 2**20:.0f} MiB + allowance {ALLOWANCE / 2**20:.0f} MiB")
    assert used < BUDGET + ALLOWANCE, (
        f"a cold remote job's peak RSS is {used / 2**20:.0f} MiB above its baseline: more than the budget of "
        f"{BUDGET / 2**20:.0f} MiB + {ALLOWANCE / 2**20:.0f} MiB")
    # the values (averaged over frequencies and channels): white noise of sd 2000 * 0.195e-6 V has a
    # flat one-sided PSD 2 sigma^2 <w^2> / fs
    sigma2 = float(np.var(np.concatenate(blocks) * 0.195e-6))
    np.testing.assert_allclose(res["level"], 2 * sigma2 * np.mean(np.hamming(2501) ** 2) / 1250.0, rtol=0.03)
