"""Time opening an NWB file and printing its key table: napstream vs pynapple (not a test).

Writes a 1-hour session with many units (no LFP by default, ``--lfp`` to add it) once into
``benchmarks/_work``, then times ``NWBFile(path)`` + ``str(nwb)`` for napstream and pynapple,
locally and (``--http``) through the loopback Range server, and prints a small table.

Usage::

    python -m benchmarks.bench_open [--duration 3600] [--units 200] [--lfp] [--http] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _session(duration: float, units: int, lfp: bool) -> Path:
    from napstream.testing.sessions import write_session

    work = HERE / "_work"
    work.mkdir(exist_ok=True)
    path = work / f"open_{int(duration)}s_{units}u{'_lfp' if lfp else ''}.nwb"
    if not path.exists():
        t0 = time.perf_counter()
        write_session(path, duration=duration, n_units=units, n_channels=32, lfp=lfp)
        print(f"wrote {path.name} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")
    return path


def _napstream(source: str) -> int:
    import napstream as nap

    with nap.NWBFile(source, cache_dir=tempfile.mkdtemp()) if "://" in source else nap.NWBFile(source) as nwb:
        str(nwb)
        return len(nwb.keys())


def _pynapple(source: str) -> int:
    import pynapple

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "://" in source:
            import fsspec
            import h5py
            from pynwb import NWBHDF5IO

            f = h5py.File(fsspec.filesystem("http").open(source, "rb"))
            nwb = pynapple.NWBFile(NWBHDF5IO(file=f, load_namespaces=True).read())
        else:
            nwb = pynapple.NWBFile(source)
        str(nwb)
        return len(nwb.keys())


def _time(fn, source: str, repeats: int) -> tuple[float, int]:
    fn(source)  # warm-up: imports are not what we measure (each call uses a fresh cache)
    times, n = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn(source)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--lfp", action="store_true")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = _session(args.duration, args.units, args.lfp)
    sources = [("local", str(path))]
    server = None
    if args.http:
        from napstream.testing.http_server import RangeHTTPServer

        server = RangeHTTPServer(path.parent, latency=0.02).start()
        sources.append(("http+20ms", server.url_for(path.name)))
    rows = []
    try:
        for where, source in sources:
            for name, fn in (("napstream", _napstream), ("pynapple", _pynapple)):
                seconds, n = _time(fn, source, args.repeats)
                rows.append((name, where, n, seconds))
    finally:
        if server is not None:
            server.stop()
    print(f"{'stack':<10} {'source':<10} {'keys':>5} {'open+print (s)':>15}")
    for name, where, n, seconds in rows:
        print(f"{name:<10} {where:<10} {n:>5} {seconds:>15.3f}")


if __name__ == "__main__":
    main()
