"""Dandiset-scale: one analysis over N sessions, ``map_sessions`` on 2 dask worker processes vs a loop.

Writes N generated sessions (default 8 x 10 minutes: 8 units, position at 50 Hz, 16 LFP channels at
1250 Hz, ~22 MB each), serves them through the local DANDI API server with a 20 ms latency on every
request, and runs the same analysis per session:

* the 2-D tuning curves of every unit (the guide's step 4) and
* the mean power spectral density of the LFP (every channel, 2 s windows),

first as the loop a user writes by hand (``for asset in ds.assets(...): with ds.open(asset) as nwb``),
then with ``nap.map_sessions(analysis, assets, "dask", n_workers=2)`` (it starts a LocalCluster of 2
worker processes; the table also shows the time with a cluster already running). Every run starts
with an empty block cache. The results must be equal (checked); the table prints the times and the
ratio. This is a benchmark, not a test: it never gates CI.

Usage::

    python -m benchmarks.bench_sessions                 # 8 x 600 s, 20 ms latency
    python -m benchmarks.bench_sessions --sessions 4 --duration 120 --repeats 1   # a quick look

The files go to a temporary folder that is deleted at the end (``--keep DIR`` keeps them in DIR and
reuses them on the next run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import napstream as nap


def analysis(nwb):
    """The per-session job: tuning curves of every unit and the mean LFP spectrum."""
    tc, bins = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 20, minmax=(0, 1, 0, 1))
    psd = nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 2.0, executor="serial")
    return tc, psd.values


def open_only(nwb):
    """Opening the file (and listing it) only."""
    return len(nwb.keys())


def selective(nwb):
    """A selective analysis: spikes and position (a few MB of the file)."""
    return nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 20, minmax=(0, 1, 0, 1))[0]


def full_read(nwb):
    """A full-read analysis: the LFP's mean spectrum (every byte of the biggest dataset)."""
    return nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 2.0, executor="serial").values


JOBS = {"selective": selective, "full": full_read, "both": analysis}


def cost_model(ds, assets, files, scratch: Path) -> None:
    """Per-session costs of three jobs, serially, cold cache: the inputs of docs/scaling.md's model."""
    print("\n| job (per session, median of the sessions) | wall s | open s | round trips | requests | MB fetched "
          "| session CPU s | CPU s per GB read |")
    print("|---|---|---|---|---|---|---|---|")
    for job in (open_only, selective, full_read):
        res = nap.map_sessions(job, assets, "serial", progress=False, cache_dir=scratch / f"model-{job.__name__}")
        st = list(res.stats.values())

        def med(attr: str) -> float:
            return statistics.median(getattr(x, attr) for x in st)

        per_gb = statistics.median(x.cpu_seconds / max(x.bytes_fetched, 1) * 1e9 for x in st)
        print(f"| {job.__name__} | {med('seconds'):.3f} | {med('open_seconds'):.3f} | {med('round_trips'):.0f} | "
              f"{med('requests'):.0f} | {med('bytes_fetched') / 1e6:.1f} | {med('cpu_seconds'):.3f} | {per_gb:.1f} |")
    local = nap.map_sessions(full_read, list(files.values()), "serial", progress=False)
    cpu = statistics.median(x.cpu_seconds for x in local.stats.values())
    size = statistics.median(f.stat().st_size for f in files.values())
    print(f"\nfull_read on the local files: {cpu:.2f} CPU s per session of {size / 1e6:.0f} MB "
          f"({cpu / size * 1e9:.1f} CPU s per GB: decode + FFT)")


def tree_cpu() -> float:
    """CPU seconds used so far by this process (the loopback server included) and its live children."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _warm_up() -> None:
    import h5py  # noqa: F401
    import scipy.signal  # noqa: F401

    import napstream.dandiset  # noqa: F401
    import napstream.nwb  # noqa: F401
    import napstream.process  # noqa: F401
    import napstream.sessions  # noqa: F401


def write_sessions(folder: Path, n: int, duration: float) -> dict[str, Path]:
    from napstream.testing.sessions import write_session

    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            path = folder / f"s{i:02d}_{int(duration)}s.nwb"
            if not path.exists():
                write_session(path, duration=duration, seed=1000 + i)
            files[f"sub-{i + 1:02d}/sub-{i + 1:02d}_ses-1_behavior+ecephys.nwb"] = path
    return files


def serial_loop(job, ds, assets, cache_dir):
    out = {}
    for asset in assets:
        with ds.open(asset, cache_dir=cache_dir) as nwb:
            out[asset.path] = job(nwb)
    return out


def _equal(x, y) -> None:
    if isinstance(x, dict):
        assert list(x) == list(y)
        for k in x:
            _equal(x[k], y[k])
    elif isinstance(x, (tuple, list)):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            _equal(u, v)
    else:
        np.testing.assert_allclose(x, y, rtol=1e-9, equal_nan=True)  # summation order differs by executor


def same(a, b) -> None:
    assert list(a) == list(b), (list(a), list(b))
    _equal(a, b)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per session")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) the session files here")
    parser.add_argument("--job", choices=sorted(JOBS), default="both",
                        help="selective: tuning curves (spikes + position); full: the LFP spectrum; both")
    parser.add_argument("--model", action="store_true", help="print the per-session costs of docs/scaling.md instead")
    args = parser.parse_args(argv)

    import distributed

    from napstream.engine.executors import start_local_cluster
    from napstream.testing.dandi_server import LocalDandiServer

    job = JOBS[args.job]
    data = args.keep or Path(tempfile.mkdtemp(prefix="napstream-bench-sessions-"))
    data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="napstream-bench-cache-"))
    try:
        t0 = time.perf_counter()
        files = write_sessions(data, args.sessions, args.duration)
        size = sum(f.stat().st_size for f in files.values())
        print(f"{args.sessions} sessions x {args.duration:.0f} s, {size / 1e6:.0f} MB in all "
              f"(written in {time.perf_counter() - t0:.0f} s); latency {args.latency * 1e3:.0f} ms; "
              f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; job: {args.job} ({job.__doc__.strip()})")
        names = ("serial loop", "map_sessions dask (cluster start included)",
                 "map_sessions dask (cluster running, workers warm)", "map_sessions threads (2)")
        times: dict[str, list[float]] = {n: [] for n in names}
        cpu_used: dict[str, list[float]] = {names[0]: [], names[2]: []}  # CPU s of this process + its workers
        loads: list[float] = []
        cpu: dict[str, float] = {}
        with LocalDandiServer(files, latency=args.latency) as server:
            ds = nap.Dandiset("000582", api_url=server.api_url)
            assets = ds.assets("sub-*/*.nwb")
            if args.model:
                cost_model(ds, assets, files, scratch)
                return
            for r in range(args.repeats):  # the runs are interleaved: the machine's load hits them alike
                loads.append(os.getloadavg()[0])
                t, c = time.perf_counter(), tree_cpu()
                ref = serial_loop(job, ds, assets, scratch / f"loop{r}")
                times[names[0]].append(time.perf_counter() - t)
                cpu_used[names[0]].append(tree_cpu() - c)

                t = time.perf_counter()
                got = nap.map_sessions(job, assets, "dask", n_workers=2, progress=False,
                                       cache_dir=scratch / f"dask{r}")
                times[names[1]].append(time.perf_counter() - t)
                same(ref, {a.path: v for a, v in got.items()})

                client, cluster = start_local_cluster(2, processes=True)
                try:
                    client.run(_warm_up)  # imports done and every code path run once, as on a cluster
                    nap.map_sessions(job, assets[:2], client, progress=False,  # that has been working
                                     cache_dir=scratch / f"warm-up{r}")
                    t, c = time.perf_counter(), tree_cpu()
                    got = nap.map_sessions(job, assets, client, progress=False,
                                           cache_dir=scratch / f"warm{r}")
                    times[names[2]].append(time.perf_counter() - t)
                    cpu_used[names[2]].append(tree_cpu() - c)
                finally:
                    client.close()
                    cluster.close()
                same(ref, {a.path: v for a, v in got.items()})
                t = time.perf_counter()
                got_threads = nap.map_sessions(job, assets, "threads", n_workers=2, progress=False,
                                               cache_dir=scratch / f"threads{r}")
                times[names[3]].append(time.perf_counter() - t)
                same(ref, {a.path: v for a, v in got_threads.items()})
                serial = nap.map_sessions(job, assets, "serial", progress=False, cache_dir=scratch / f"s{r}")
                cpu["serial"] = serial.total.cpu_seconds
                cpu["dask"] = got.total.cpu_seconds
                fetched = got.total.bytes_fetched
                print(f"repeat {r + 1} (load average {loads[-1]:.1f}): "
                      + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
        base_min, base_med = min(times[names[0]]), statistics.median(times[names[0]])
        print()
        print("| run | best time | speed-up (best) | median time | speed-up (median) |")
        print("|---|---|---|---|---|")
        for name, values in times.items():
            best, med = min(values), statistics.median(values)
            print(f"| {name} | {best:.2f} s | {base_min / best:.2f}x | {med:.2f} s | {base_med / med:.2f}x |")
        for name, values in cpu_used.items():
            wall = statistics.median(times[name])
            print(f"{name}: {statistics.median(values):.1f} CPU s in {wall:.1f} s "
                  f"({statistics.median(values) / wall:.2f} cores busy; client, server and workers)")
        print(f"\nresults equal (tuning curves and spectra, rtol 1e-9); {fetched / 1e6:.0f} MB fetched over HTTP "
              f"per run; session threads' CPU: {cpu['serial']:.1f} s serial, {cpu['dask']:.1f} s on the 2 workers; "
              f"load average during the runs {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
        assert distributed  # imported to fail early when dask is missing
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
