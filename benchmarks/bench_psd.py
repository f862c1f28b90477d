"""Whole-recording Welch mean PSD of a 1-hour, 64-channel, 1250 Hz int16 gzip LFP (not a test).

Routes, each in a fresh subprocess (wall time, CPU seconds of all threads, and peak RSS above the
import baseline):

* ``h5py loop``         - bare read loop over the storage chunks (decompression only: the I/O floor);
* ``pynapple``          - pynapple 0.11.4: load the whole array, then ``compute_mean_power_spectral_density``;
* ``napstream serial``  - streamed, chunk by chunk, within ``--budget``;
* ``napstream threads`` - the same with the threads executor (I/O overlaps compute);
* ``napstream threads, numpy FFT`` - the same with NumPy's FFT (``config.fft_backend = "numpy"``): the
  routes above use pyFFTW when it is installed (``napstream[fast]``);
* ``napstream default`` - the same with the defaults (``executor="auto"``: threads for this job).

Usage::

    python benchmarks/bench_psd.py [--duration 3600] [--channels 64] [--budget 256MB] [--workers 2] [--interval 4]
    python benchmarks/bench_psd.py --routes "napstream threads" "napstream threads, numpy FFT"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 1250.0
CONVERSION = 0.195e-6

PRELUDE = """
import json, resource, sys, time
import h5py, numpy as np, scipy.fft, scipy.signal, pandas
path, budget, workers, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
"""

_THREADS = """
import napstream, napstream.process.spectrum
from napstream.core import LazyArray, RegularTimeIndex
from napstream.nwb.prefetch import wrap_dataset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
d = wrap_dataset(h5py.File(path, "r")["lfp"], None)
sig = napstream.TsdFrame(t=RegularTimeIndex(0.0, 1250.0, d.shape[0]), d=LazyArray(d, scale=0.195e-6))
psd = napstream.compute_mean_power_spectral_density(sig, interval, max_memory=budget, executor="threads",
                                                    n_workers=workers, progress=False)
"""


ROUTES = {
    "h5py loop": """
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
d = h5py.File(path, "r")["lfp"]
step = d.chunks[0]
total = 0.0
for a in range(0, d.shape[0], step):
    total += float(d[a:a + step][:, 0].astype(np.float64).sum())
""",
    "pynapple": """
import pynapple
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
d = h5py.File(path, "r")["lfp"]
sig = pynapple.TsdFrame(t=np.arange(d.shape[0]) / 1250.0, d=d[:] * 0.195e-6)
psd = pynapple.compute_mean_power_spectral_density(sig, interval)
""",
    "napstream serial": """
import napstream, napstream.process.spectrum
from napstream.core import LazyArray, RegularTimeIndex
from napstream.nwb.prefetch import wrap_dataset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
d = wrap_dataset(h5py.File(path, "r")["lfp"], None)  # what NWBFile does: napstream decodes gzip chunks
sig = napstream.TsdFrame(t=RegularTimeIndex(0.0, 1250.0, d.shape[0]), d=LazyArray(d, scale=0.195e-6))
psd = napstream.compute_mean_power_spectral_density(sig, interval, max_memory=budget, executor="serial", progress=False)
""",
    "napstream threads": _THREADS,
    # the default is pyFFTW when it is installed (napstream[fast])
    "napstream threads, numpy FFT": _THREADS.replace(
        "base = resource", 'napstream.config.fft_backend = "numpy"\nbase = resource', 1),
    "napstream default": """
import napstream, napstream.process.spectrum
from napstream.core import LazyArray, RegularTimeIndex
from napstream.nwb.prefetch import wrap_dataset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ru0 = resource.getrusage(resource.RUSAGE_SELF)
d = wrap_dataset(h5py.File(path, "r")["lfp"], None)
sig = napstream.TsdFrame(t=RegularTimeIndex(0.0, 1250.0, d.shape[0]), d=LazyArray(d, scale=0.195e-6))
psd = napstream.compute_mean_power_spectral_density(sig, interval, max_memory=budget, progress=False)
""",
}
EPILOGUE = """
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime  # all threads
print(json.dumps({"wall": wall, "cpu": cpu, "mem_mib": (ru.ru_maxrss - base) / 1024}))
"""


def write_lfp(path: Path, duration: float, channels: int, chunk_rows: int = 16384) -> None:
    """Band-limited noise, int16, gzip level 1, chunked by rows (how NWB LFP usually is)."""
    import h5py

    n = int(duration * RATE)
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("lfp", shape=(n, channels), dtype=np.int16, chunks=(chunk_rows, channels),
                             compression="gzip", compression_opts=1)
        for a in range(0, n, chunk_rows * 8):
            b = min(n, a + chunk_rows * 8)
            x = np.cumsum(rng.normal(0, 40, (b - a, channels)), axis=0)
            d[a:b] = (x - x.mean(0)).astype(np.int16)


def run_route(name: str, path: Path, budget: str, workers: int, interval: float) -> dict:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(ROUTES[name]) + textwrap.dedent(EPILOGUE)
    proc = subprocess.run([sys.executable, "-c", code, str(path), budget, str(workers), str(interval)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"wall": float("nan"), "cpu": float("nan"), "mem_mib": float("nan"), "error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--budget", default="256MB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=4.0, help="Welch window (s)")
    parser.add_argument("--routes", nargs="*", default=list(ROUTES))
    args = parser.parse_args()

    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    path = work / f"lfp_{int(args.duration)}s_{args.channels}ch.h5"
    if not path.exists():
        t0 = time.perf_counter()
        write_lfp(path, args.duration, args.channels)
        print(f"wrote {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s")
    raw = int(args.duration * RATE) * args.channels * 2
    print(f"{args.duration:.0f} s x {args.channels} ch int16 = {raw / 2**20:.0f} MiB raw, "
          f"{path.stat().st_size / 2**20:.0f} MiB on disk; napstream budget {args.budget}, {args.interval:g} s windows")
    print(f"{'route':<30}{'wall (s)':>10}{'CPU (s)':>10}{'peak - base (MiB)':>20}")
    for name in args.routes:
        res = run_route(name, path, args.budget, args.workers, args.interval)
        extra = f"   {res['error']}" if "error" in res else ""
        print(f"{name:<30}{res['wall']:>10.1f}{res['cpu']:>10.1f}{res['mem_mib']:>20.0f}{extra}")


if __name__ == "__main__":
    main()
