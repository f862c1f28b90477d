"""Time opening an NWB file and printing its key table: napstream vs pynapple (not a test).

Writes a 1-hour session with many units (no LFP by default, ``--lfp`` to add it) once into
``benchmarks/_work``, then times ``NWBFile(path)`` + ``str(nwb)`` for napstream and pynapple,
locally and (``--http``) through the loopback Range server, and prints a small table.

Usage::

    python -m benchmarks.bench_open [--duration 3600] [--units 200] [--lfp] [--http] [--repeats 3]

``--job`` measures instead the remote open and the guide's job (issue #15) on the sessions of
``benchmarks.run`` over a modelled link, before and after the small-grid open, side by side::

    python -m benchmarks.bench_open --job [--sizes 10min 1h] [--link 30,200,100] [--repeats 3]
        [--workloads open_list units_position tuning_2d] [--output benchmarks/OPEN_RESULTS_run.md]

Each row: bytes, requests, round trips and cold time of ``napstream_cold_before`` (whole 256 KiB
blocks for the metadata, spike times read as the searches ask, no speculation),
``napstream_cold_s6`` (as after session 6: raw chunks read whole by h5py, the units' spike times in
one blocking batch, tuning curves searching lazy spike times per feature chunk),
``napstream_cold_spec`` (this code with the speculative fetch after the open, off by default) and
``napstream_cold`` (this code, defaults),
the warm and local times, and the floor = max(local time, stored bytes of the datasets the job
reads / link rate), all measured in the same run (stacks interleaved within each repeat).
"""

from __future__ import annotations

import argparse
import shutil
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


JOB_STACKS = ("napstream_local", "napstream_cold_before", "napstream_cold_s6", "napstream_cold_spec", "napstream_cold",
              "napstream_warm")


def _cell(res: dict | None) -> str:
    if not res or "error" in res:
        return "FAILED" if res else "-"
    trips = f", {res['round_trips']:g} RT" if "round_trips" in res else ""
    return f"{res['seconds']:.2f} s, {res['bytes'] / 1e6:.2f} MB, {res['requests']:g} req{trips}"


def job(argv: list[str]) -> None:
    """The ``--job`` table (see the module docstring)."""
    from napstream.config import parse_bytes
    from napstream.testing.http_server import RangeHTTPServer

    from . import run as harness

    p = argparse.ArgumentParser(description="remote open + guide's job, before/after, against the floor")
    p.add_argument("--job", action="store_true")
    p.add_argument("--sizes", nargs="+", default=["10min", "1h"], choices=list(harness.SIZES))
    p.add_argument("--link", nargs="+", type=harness._link, default=[harness._link("30,200,100")])
    p.add_argument("--workloads", nargs="+", default=["open_list", "units_position", "tuning_2d"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    harness.WORK.mkdir(parents=True, exist_ok=True)
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python -m benchmarks.bench_open "
             f"{' '.join(argv)}`; median of {args.repeats}, stacks interleaved.", ""]
    for size in args.sizes:
        path = harness._session(size)
        for latency, stream, link in args.link:
            label = harness._link_label(latency, stream, link)
            lines += [f"### {size} session ({path.stat().st_size / 1e6:.0f} MB), {label}", "",
                      "| workload | before (cold) | session 6 (cold) | speculation on (cold) | after (cold) | warm "
                      "| local | datasets read | floor | before / floor | session 6 / floor | spec. on / floor "
                      "| **after / floor** | bytes after / before |", "|" + "---|" * 14]
            with RangeHTTPServer(harness.WORK, latency=latency, bandwidth=stream, link=link) as server:
                url = server.url_for(path.name)
                # a new server is a new URL (port): a warm folder of an earlier run would be cold
                shutil.rmtree(harness.WORK / "cache" / "napstream_warm", ignore_errors=True)
                for workload in args.workloads:
                    row = harness._measure_row(server, list(JOB_STACKS), workload, url, path, args.repeats,
                                               parse_bytes("8GiB"), args.timeout, f"{size} {label}")
                    lines.append(_job_line(workload, row, harness._needed_bytes(path, workload), link))
            lines.append("")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


def _job_line(workload: str, row: dict, needed: int | None, link: float | None) -> str:
    local, before, after = row.get("napstream_local"), row.get("napstream_cold_before"), row.get("napstream_cold")
    nospec = row.get("napstream_cold_spec")  # speculation on (off by default)
    s6 = row.get("napstream_cold_s6")  # as after session 6
    ok = all(r and "error" not in r for r in (local, before, s6, nospec, after))
    cells = [workload, _cell(before), _cell(s6), _cell(nospec), _cell(after), _cell(row.get("napstream_warm")),
             _cell(local)]
    cells.append(f"{needed / 1e6:.2f} MB" if needed else "-")
    if ok and needed and link:
        floor = max(local["seconds"], needed / link)
        cells += [f"{floor:.2f} s", f"{before['seconds'] / floor:.2f}x", f"{s6['seconds'] / floor:.2f}x",
                  f"{nospec['seconds'] / floor:.2f}x", f"**{after['seconds'] / floor:.2f}x**"]
    else:
        cells += ["-", "-", "-", "-", "-"]
    cells.append(f"{after['bytes'] / max(before['bytes'], 1):.2f}" if ok else "-")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    import sys

    if "--job" in sys.argv[1:]:
        job(sys.argv[1:])
        return
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
