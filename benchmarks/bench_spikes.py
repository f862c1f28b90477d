"""Spike/behaviour analyses on a 1-hour, 64-unit session: napstream vs pynapple (in memory).

Not a test: prints a table of wall times and ratios. Run ``python benchmarks/bench_spikes.py``
(``--duration``/``--units``/``--spikes``/``--repeat`` to change the session).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


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


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--spikes", type=int, default=450_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import napstream as ns
    import pynapple as pnap

    data = make_session(args.duration, args.units, args.spikes, args.rate)
    ours, ref = build(ns, *data, args.duration), build(pnap, *data, args.duration)
    print(f"session: {args.duration:.0f} s, {args.units} units, {args.spikes} spikes, position {args.rate:g} Hz")
    print(f"{'analysis':42s} {'pynapple s':>11s} {'napstream s':>12s} {'speed-up':>9s}")
    for name, job in JOBS.items():
        job(pnap, *ref)  # warm-up run (numba JIT, caches)
        job(ns, *ours)
        t_ref = best_of(lambda: job(pnap, *ref), args.repeat)
        t_ours = best_of(lambda: job(ns, *ours), args.repeat)
        print(f"{name:42s} {t_ref:11.3f} {t_ours:12.3f} {t_ref / t_ours:8.1f}x")


if __name__ == "__main__":
    main()
