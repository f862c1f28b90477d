"""Neuropixels-scale raw data: 384 channels x 30 kHz int16, gzip level 1, chunks (30000, 64) (not a test).

The script writes the file itself (under ``--tmp``, default /tmp; deleted afterwards unless ``--keep``),
one per length in ``--minutes``, then runs each route in a fresh subprocess and reports, per minute
of recording, wall time, CPU time (user + system, all threads), the ratio of both to the floor and
peak RSS (absolute, and above the process's baseline after imports):

* ``floor``             - one process reading and inflating every storage chunk with h5py, no compute;
* ``napstream decode``  - napstream's own chunk decoding (libdeflate, what the analyses read through);
* ``napstream psd``     - ``compute_mean_power_spectral_density(sig, 1.0)`` at the default budget and
  executor (channels are split into groups when one time chunk of all of them does not fit);
* ``napstream band power`` - ``compute_band_power(sig, {"lfp": (1, 300), "spikes": (300, 6000)}, 1.0,
  overlap=0.25)``: the same windows and FFTs as the mean PSD, per window;
* ``napstream filter+rms`` - ``apply_bandpass_filter(sig, (300, 6000))`` (lazy), then per-channel RMS
  over ``iter_chunks()`` at the default budget: the filter runs fused with the reduction, nothing is
  written (the route counts ``napstream-result-*`` files left in the temporary folder);
* ``pynapple psd``      - pynapple loads the int16 array, then its ``compute_mean_power_spectral_density``
  (only for lengths up to ``--pynapple-minutes``: it holds the whole recording);
* ``pynapple filter+rms`` - only with ``--pynapple-filter`` (about 15 GB of RAM per minute).

The machine this runs on may be shared: compare the routes of one run (side-by-side ratios), not
absolute times across runs. ``--repeat N`` runs the routes N times in turn (floor, psd, ..., floor,
psd, ...) and reports each route's fastest run (wall and CPU separately), which load disturbs least.

Usage::

    python -m benchmarks.bench_neuropixels [--minutes 1 2] [--channels 384] [--workers 2]
        [--budget 256MiB] [--routes floor "napstream psd"] [--repeat 3] [--pynapple-minutes 1]
        [--pynapple-filter] [--tmp /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

RATE = 30_000
CONVERSION = 0.195e-6
SRC = str(Path(__file__).resolve().parents[1] / "src")

PRELUDE = """
import glob, json, os, resource, sys, tempfile, time
sys.path.insert(0, {src!r})
import h5py, numpy as np
path, budget, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def results_left():
    return len(glob.glob(os.path.join(tempfile.gettempdir(), "napstream-result-*")))
NAPSTREAM = '''
import napstream
from napstream.core import LazyArray, RegularTimeIndex
from napstream.nwb.prefetch import wrap_dataset
napstream.config.n_workers = workers
if budget != "default":
    napstream.config.memory_budget = budget
def signal():
    d = wrap_dataset(h5py.File(path, "r")["data"], None)  # what NWBFile does for a local file
    return napstream.TsdFrame(t=RegularTimeIndex(0.0, 30000.0, d.shape[0]), d=LazyArray(d, scale={conv}))
'''
"""

ROUTES = {
    "floor": """
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
d = h5py.File(path, "r")["data"]
for a in range(0, d.shape[0], d.chunks[0]):
    d[a:a + d.chunks[0]]
""",
    "napstream decode": """
exec(NAPSTREAM)
sig = signal()
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
d = sig.lazy_data
for a in range(0, len(d), 30000):
    d.base[a:a + 30000]
""",
    "napstream psd": """
exec(NAPSTREAM)
sig = signal()
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
psd = napstream.compute_mean_power_spectral_density(sig, 1.0, progress=False)
assert psd.shape == (15001, sig.shape[1])
""",
    "napstream band power": """
exec(NAPSTREAM)
sig = signal()
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
bp = napstream.compute_band_power(sig, {{"lfp": (1.0, 300.0), "spikes": (300.0, 6000.0)}}, 1.0, overlap=0.25,
                                  progress=False)
assert bp.shape[1:] == (sig.shape[1], 2)
""",
    "napstream filter+rms": """
exec(NAPSTREAM)
sig = signal()
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
bp = napstream.apply_bandpass_filter(sig, (300.0, 6000.0))
squares, n = 0.0, 0
for piece in bp.iter_chunks():
    squares = squares + np.einsum("ij,ij->j", piece.values, piece.values)
    n += len(piece)
rms = np.sqrt(squares / n)
""",
    "pynapple psd": """
import pynapple
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
d = h5py.File(path, "r")["data"]
sig = pynapple.TsdFrame(t=np.arange(d.shape[0]) / 30000.0, d=d[:])
psd = pynapple.compute_mean_power_spectral_density(sig, 1.0)
""",
    "pynapple filter+rms": """
import pynapple
base, files = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, results_left()
t0, c0 = time.perf_counter(), cpu()
d = h5py.File(path, "r")["data"]
sig = pynapple.TsdFrame(t=np.arange(d.shape[0]) / 30000.0, d=d[:] * {conv})
rms = np.sqrt((pynapple.apply_bandpass_filter(sig, (300.0, 6000.0)).values ** 2).mean(0))
""",
}
EPILOGUE = """
wall, used = time.perf_counter() - t0, cpu() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "cpu": used, "peak_mib": peak / 1024, "above_mib": (peak - base) / 1024,
                  "files_left": results_left() - files}))
"""


def write_file(path: Path, minutes: float, channels: int) -> None:
    """Noise-like int16 samples (std ~40 counts, gzip level 1 keeps about 60%), chunks (30000, 64)."""
    import h5py

    n = int(minutes * 60 * RATE)
    rng = np.random.default_rng(0)
    second = (rng.normal(0, 40, size=(RATE, channels))).astype(np.int16)
    jitter = rng.integers(-8, 8, size=(RATE, channels), dtype=np.int16)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("data", shape=(n, channels), dtype=np.int16, chunks=(RATE, min(64, channels)),
                             compression="gzip", compression_opts=1)
        for k, a in enumerate(range(0, n, RATE)):
            b = min(n, a + RATE)
            d[a:b] = (np.roll(second, 7 * k, axis=0) + np.roll(jitter, 3 * k, axis=1))[: b - a]


def run_route(name: str, path: Path, budget: str, workers: int) -> dict:
    code = (textwrap.dedent(PRELUDE).format(src=SRC, conv=CONVERSION)
            + textwrap.dedent(ROUTES[name]).format(conv=CONVERSION) + textwrap.dedent(EPILOGUE))
    private = Path(tempfile.mkdtemp(prefix="napstream_bench_np_", dir=path.parent))  # counts our result files only
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path), budget, str(workers)], capture_output=True,
                              text=True, env={**os.environ, "TMPDIR": str(private)})
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or "killed").splitlines()
        return {"error": lines[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--budget", default="default", help="napstream memory budget (default: the config's)")
    parser.add_argument("--pynapple-minutes", type=float, default=1.0)
    parser.add_argument("--pynapple-filter", action="store_true")
    parser.add_argument("--routes", nargs="*", default=None)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each route (in turn); the fastest is shown")
    parser.add_argument("--tmp", default="/tmp")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    routes = args.routes or [r for r in ROUTES if r != "pynapple filter+rms" or args.pynapple_filter]
    print(f"{args.channels} ch x {RATE} Hz int16, chunks ({RATE}, 64), gzip 1; budget {args.budget}, "
          f"{args.workers} workers, {os.cpu_count()} cores, best of {max(args.repeat, 1)} "
          "(shared machine: compare within this run)")
    header = (f"{'minutes':>7} {'route':<22}{'wall s/min':>11}{'x floor':>8}{'cpu s/min':>10}{'x floor':>8}"
              f"{'peak MiB':>9}{'+base MiB':>10}{'files':>6}")
    rows = []
    for minutes in args.minutes:
        path = Path(args.tmp) / f"napstream_bench_np_{minutes:g}min_{args.channels}ch.h5"
        try:
            if not path.exists():
                t0 = time.perf_counter()
                write_file(path, minutes, args.channels)
                print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s")
            print(header)
            runs: dict[str, list[dict]] = {}
            for _ in range(max(args.repeat, 1)):
                for name in routes:
                    if name.startswith("pynapple") and minutes > args.pynapple_minutes:
                        continue
                    runs.setdefault(name, []).append(run_route(name, path, args.budget, args.workers))
            floor = None
            for name, results in runs.items():
                good = [r for r in results if "error" not in r]
                if not good:
                    print(f"{minutes:>7g} {name:<22}   {results[0]['error']}")
                    continue
                res = {key: min(r[key] for r in good) for key in good[0]}  # the least disturbed run
                res["files_left"] = max(r["files_left"] for r in good)
                rows.append((minutes, name, res))
                if name == "floor":
                    floor = res
                ratio_w = res["wall"] / floor["wall"] if floor else float("nan")
                ratio_c = res["cpu"] / floor["cpu"] if floor else float("nan")
                print(f"{minutes:>7g} {name:<22}{res['wall'] / minutes:>11.1f}{ratio_w:>8.2f}"
                      f"{res['cpu'] / minutes:>10.1f}{ratio_c:>8.2f}{res['peak_mib']:>9.0f}{res['above_mib']:>10.0f}"
                      f"{res['files_left']:>6}")
        finally:
            if not args.keep and path.exists():
                path.unlink()
    if len(args.minutes) > 1:
        first, last = min(args.minutes), max(args.minutes)
        print(f"growth from {first:g} to {last:g} min (time per minute ratio, peak RSS difference):")
        for name in routes:
            a = next((r for m, n, r in rows if m == first and n == name and "error" not in r), None)
            b = next((r for m, n, r in rows if m == last and n == name and "error" not in r), None)
            if a and b:
                print(f"  {name:<22} time/min x{(b['wall'] / last) / (a['wall'] / first):.2f}, "
                      f"peak {b['peak_mib'] - a['peak_mib']:+.0f} MiB")


if __name__ == "__main__":
    main()
