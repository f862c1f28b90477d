"""Spike/behaviour analyses: napstream vs pynapple, side by side in one run.

Not a test: prints tables. Two modes:

``python benchmarks/bench_spikes.py``
    In memory, a 1-hour 64-unit session (``--duration``/``--units``/``--spikes``/``--rate``). Both
    libraries run each analysis alternately ``--repeat`` times; the table gives the median wall
    times (and the best) and the ratio of the medians. ``--only 2d`` keeps the analyses whose name
    contains "2d".

``python benchmarks/bench_spikes.py --memory``
    Peak RSS of ``compute_2d_tuning_curves(units, position, 20)`` read from a local NWB file, for a
    1-h and a 10-h session (64 units, no LFP: ``benchmarks/_work/nolfp_1h.nwb`` and ``nolfp_10h.nwb``,
    written with ``napstream.testing.sessions.write_session`` when missing). Each run is a fresh
    subprocess (``resource.getrusage``); ``--repeat`` runs each, medians are printed with the growth
    10 h vs 1 h, with the default memory budget (or ``--max-memory``, set as ``config.memory_budget``). ``--with-pynapple`` adds
    pynapple's route (pynwb + pynapple) for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

WORK = Path(__file__).resolve().parent / "_work"


def make_session(duration: float, n_units: int, n_spikes: int, rate: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(0, duration, 1 / rate)
    xy = np.cumsum(rng.normal(0, 0.01, (len(t), 2)), axis=0)
    per_unit = rng.multinomial(n_spikes, np.full(n_units, 1 / n_units))
    spikes = {k: np.sort(rng.uniform(0, duration, n)) for k, n in enumerate(per_unit)}
    events = np.sort(rng.uniform(0, duration, 200))
    return t, xy, spikes, events


def build(lib, t, xy, spikes, events, duration):
    sup = lib.IntervalSet(0, duration)
    group = lib.TsGroup({k: lib.Ts(v) for k, v in spikes.items()}, time_support=sup)
    return group, lib.TsdFrame(t=t, d=xy), lib.Tsd(t=t, d=xy[:, 0]), lib.Ts(events)


JOBS = {
    "compute_2d_tuning_curves(20)": lambda lib, g, f, x, e: lib.compute_2d_tuning_curves(g, f, 20),
    "compute_1d_tuning_curves(30)": lambda lib, g, f, x, e: lib.compute_1d_tuning_curves(g, x, 30),
    "compute_perievent(group, 200 ev, 1 s)": lambda lib, g, f, x, e: lib.compute_perievent(g, e, 1.0),
    "compute_crosscorrelogram(10 ms, 0.5 s)": lambda lib, g, f, x, e: lib.compute_crosscorrelogram(g, 0.01, 0.5),
}


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def in_memory(args: argparse.Namespace) -> None:
    import napstream as ns
    import pynapple as pnap

    data = make_session(args.duration, args.units, args.spikes, args.rate)
    ours, ref = build(ns, *data, args.duration), build(pnap, *data, args.duration)
    print(f"session: {args.duration:.0f} s, {args.units} units, {args.spikes} spikes, position {args.rate:g} Hz; "
          f"median (best) of {args.repeat} alternating runs")
    print(f"{'analysis':40s} {'pynapple s':>16s} {'napstream s':>16s} {'speed-up':>9s}")
    for name, job in JOBS.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        job(pnap, *ref)  # warm-up run (numba JIT, caches)
        job(ns, *ours)
        t_ref, t_ours = [], []
        for _ in range(args.repeat):
            t_ref.append(_seconds(lambda: job(pnap, *ref)))
            t_ours.append(_seconds(lambda: job(ns, *ours)))
        r, o = statistics.median(t_ref), statistics.median(t_ours)
        print(f"{name:40s} {r:8.3f} ({min(t_ref):5.3f}) {o:8.3f} ({min(t_ours):5.3f}) {r / o:8.1f}x")


# --------------------------------------------------------------------------------------------
# --memory: peak RSS of 2-D tuning curves from a local file, 1 h vs 10 h
# --------------------------------------------------------------------------------------------
_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
route, path, max_memory = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np, h5py, pandas
if route == "napstream":
    import napstream as nap
    import napstream.nwb.file, napstream.process.tuning_curves
    nap.NWBFile
else:
    import pynapple as nap
    from pynwb import NWBHDF5IO
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
if route == "napstream":
    nwb = nap.NWBFile(path)
    kw = {} if max_memory == "default" else {"memory_budget": max_memory}
    with nap.config.override(**kw):
        tc, _ = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 20)
else:
    io = NWBHDF5IO(path, "r", load_namespaces=True)
    nwb = nap.NWBFile(io.read())
    tc, _ = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 20)
check = float(sum(np.nansum(v) for v in tc.values()))
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("@@" + json.dumps({"peak": peak, "base": base, "seconds": seconds, "check": check}))
"""


def _session_file(hours: int) -> Path:
    path = WORK / f"nolfp_{hours}h.nwb"
    if not path.exists():
        from napstream.testing.sessions import write_session

        print(f"writing {path.name}...", flush=True)
        WORK.mkdir(exist_ok=True)
        write_session(path, duration=3600.0 * hours, n_units=64, lfp=False, seed=1)
    return path


def _child(route: str, path: Path, max_memory: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, route, str(path), max_memory],
                         capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("@@")][-1]
    return json.loads(line[2:])


def memory(args: argparse.Namespace) -> None:
    files = {h: _session_file(h) for h in (1, 10)}
    routes = ["napstream"] + (["pynapple"] if args.with_pynapple else [])
    budget = args.max_memory or "default"
    print(f"compute_2d_tuning_curves(units, position, 20) from a local NWB file (64 units, no LFP), "
          f"max_memory={budget}; median of {args.repeat} fresh processes")
    print(f"{'route':10s} {'session':>7s} {'peak RSS MiB':>13s} {'above imports MiB':>18s} {'time s':>7s}")
    for route in routes:
        res = {}
        for _ in range(args.repeat):  # alternate the sessions so both see the same machine load
            for h, path in files.items():
                res.setdefault(h, []).append(_child(route, path, budget))
        med = {h: {k: statistics.median(r[k] for r in runs) for k in ("peak", "base", "seconds")}
               for h, runs in res.items()}
        for h, m in med.items():
            print(f"{route:10s} {h:>6d}h {m['peak'] / 2**20:13.1f} {(m['peak'] - m['base']) / 2**20:18.1f} "
                  f"{m['seconds']:7.2f}")
        growth = med[10]["peak"] / med[1]["peak"] - 1
        print(f"{route:10s} peak RSS growth 10 h vs 1 h: {100 * growth:+.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--spikes", type=int, default=450_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="run only the analyses whose name contains this")
    parser.add_argument("--memory", action="store_true", help="peak RSS 1 h vs 10 h from local files")
    parser.add_argument("--max-memory", default=None, help="--memory: max_memory passed to napstream")
    parser.add_argument("--with-pynapple", action="store_true", help="--memory: also pynapple's route")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    memory(args) if args.memory else in_memory(args)


if __name__ == "__main__":
    main()
