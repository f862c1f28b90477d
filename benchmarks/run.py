"""Side-by-side benchmarks: napstream vs pynapple (+pynwb, fsspec, remfile), in one run.

Usage (from the repository root, after ``pip install -e ".[test]"``)::

    python -m benchmarks.run                    # default sizes, 0 and 20 ms latency, 3 repeats
    python -m benchmarks.run --quick            # a small session only, 1 repeat (a smoke run)
    python -m benchmarks.run --sizes 1h --latency 0.02 --workloads open_list tuning_2d
    python -m benchmarks.run --sizes 1h --workloads mean_psd --link 30,200,100 30,200,1000
        # a modelled link: 30 ms latency, 200 Mbit/s per response, 100 Mbit/s (then 1 Gbit/s) shared;
        # the table adds the floor max(local time, bytes / link rate) and cold / floor
    python -m benchmarks.run --sizes 1h --workloads mean_psd --stacks napstream_local napstream_cold \
        --repeats 1 --link 30,200,400 --trace   # + each cold run's request timeline (link busy, waits)

Every workload runs in its own subprocess (so peak RSS is the workload's own) under a memory cap
(``--mem-cap``, default 8 GiB); remote stacks read through the loopback Range server with added latency
per request. The server runs in a process of its own (a real object store is another machine: the
server must not share the client's process) and sends file bodies with ``sendfile``. The runner records
wall time, CPU seconds of the workload process, HTTP requests and bytes (counted by the server), the
server's CPU seconds, peak RSS, and the median over repeats (interleaved across stacks), then writes
``benchmarks/RESULTS.md`` with ratios napstream/peer (``--link`` runs write
``benchmarks/_work/LINK_TABLE.md`` instead: their results are copied into ``LINK_RESULTS.md`` by hand).
``--trace`` records each remote run's request timeline (:mod:`napstream.io.trace`) and prints the link's
utilisation and how long reads waited for bytes.
A stack that fails a workload (error, memory cap) is reported as such.
This is never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .workloads import REMOTE_ONLY_WORKLOADS, STACKS, WORKLOADS

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

SIZES = {
    # name: (duration s, units, LFP channels)
    "10min": (600.0, 8, 16),
    "1h": (3600.0, 64, 64),
    "4h": (14400.0, 64, 64),
}


def _session(name: str) -> Path:
    from napstream.testing.sessions import write_session

    duration, units, channels = SIZES[name]
    path = WORK / f"session_{name}.nwb"
    if not path.exists():
        print(f"writing {path.name} ({duration:.0f} s, {units} units, {channels} ch)...", flush=True)
        write_session(path, duration=duration, n_units=units, n_channels=channels, seed=1)
    return path


def _limit(mem_cap: int) -> Any:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_cap, mem_cap))

    return set_limit


def _run(stack: str, workload: str, url: str, path: Path, cache_dir: Path, mem_cap: int, timeout: float,
         trace: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.workloads", stack, workload, url, str(path), str(cache_dir)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("NAPSTREAM_TRACE", None)
    if trace is not None:  # the workload's request timeline (napstream.io.trace), written at its exit
        env["NAPSTREAM_TRACE"] = str(trace)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent, timeout=timeout,
                              preexec_fn=_limit(mem_cap), env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    if not lines:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:160]}"}
    return json.loads(lines[-1][2:])


#: folder of request timelines (``--trace``), and the link rate (bytes/s) of the row measured now
TRACE: dict[str, Any] = {"dir": None, "link": None, "label": ""}


def _trace_file(stack: str, workload: str) -> Path | None:
    folder = TRACE["dir"]
    if folder is None or not stack.startswith("napstream") or stack.endswith("_local"):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{TRACE['label']}_{stack}_{workload}.jsonl"


def _measure_once(server: Any, stack: str, workload: str, url: str, path: Path, mem_cap: int,
                  timeout: float) -> dict[str, Any]:
    cache = WORK / "cache" / stack / workload
    if stack in ("napstream_cold", "napstream_cold_noahead", "pynapple_fsspec"):
        shutil.rmtree(cache, ignore_errors=True)
    elif stack == "napstream_warm" and not cache.exists():
        _run("napstream_cold", workload, url, path, cache, mem_cap, timeout)  # this workload's blocks
    server.reset_stats()
    cpu = getattr(server, "cpu_seconds", None)  # a ServerProcess's; an in-process server has none
    cpu0 = cpu() if cpu is not None else None
    trace = _trace_file(stack, workload)
    res = _run(stack, workload, url, path, cache, mem_cap, timeout, trace)
    if trace is not None and trace.exists():
        from napstream.io import trace as timeline

        print(f"  trace of {stack} ({trace}):\n    "
              + timeline.report(timeline.load(str(trace)), TRACE["link"]).replace("\n", "\n    "), flush=True)
    if cpu0 is not None:
        res["server_cpu"] = cpu() - cpu0
    stats = server.stats
    res["requests"] = int(getattr(stats, "requests", 0))
    res["bytes"] = int(getattr(stats, "bytes_sent", 0))
    return res


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    out = {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_rss", "requests", "bytes")}
    for k in ("cpu", "server_cpu"):
        if all(k in r for r in runs):
            out[k] = statistics.median(r[k] for r in runs)
    if all("round_trips" in r for r in runs):
        out["round_trips"] = statistics.median(r["round_trips"] for r in runs)
    out["check"] = runs[-1]["check"]
    return out


def _measure_row(server: Any, stacks: list[str], workload: str, url: str, path: Path, repeats: int,
                 mem_cap: int, timeout: float, label: str) -> dict[str, dict[str, Any] | None]:
    """Repeats interleaved across stacks (A B C A B C ...): a machine shared with other jobs slows
    every stack alike, so the ratios stay fair. A stack that fails is not run again."""
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in stacks}
    for _ in range(repeats):
        for stack in stacks:
            if runs[stack] and "error" in runs[stack][-1]:
                continue
            runs[stack].append(_measure_once(server, stack, workload, url, path, mem_cap, timeout))
    row: dict[str, dict[str, Any] | None] = {}
    for stack in stacks:
        row[stack] = _summarise(runs[stack])
        print(f"  {label} {workload:15s} {stack:18s} {_fmt(row[stack])}", flush=True)
    return row


def _fmt(res: dict[str, Any] | None) -> str:
    if res is None:
        return "-"
    if "error" in res:
        return f"FAILED ({res['error']})"
    trips = f" ({res['round_trips']:g} round trips)" if "round_trips" in res and res["requests"] else ""
    cpu = f" (CPU {res['cpu']:.1f} s)" if "cpu" in res else ""
    served = f", server CPU {res['server_cpu']:.2f} s" if res.get("bytes") and "server_cpu" in res else ""
    return (f"{res['seconds']:.2f} s{cpu}, {res['requests']} req{trips}, {res['bytes'] / 1e6:.1f} MB{served}, "
            f"{res['peak_rss'] / 2**20:.0f} MiB")


#: datasets each workload must read (their stored size is the floor of the bytes it fetches)
_UNITS = ("/units/spike_times", "/units/spike_times_index", "/units/id")
_LED1 = tuple(f"/processing/behavior/Position/SpatialSeriesLED1/{name}" for name in ("data", "timestamps"))
NEEDED = {"units_position": _UNITS + _LED1, "tuning_2d": _UNITS + _LED1}


def _needed_bytes(path: Path, workload: str) -> int | None:
    """Stored bytes of the datasets ``workload`` reads (None: not listed)."""
    import h5py

    if workload not in NEEDED:
        return None
    with h5py.File(path, "r") as f:
        return sum(int(f[name].id.get_storage_size()) for name in NEEDED[workload] if name in f)


def _bytes_ratio(ours: dict[str, Any] | None, needed: int | None) -> str:
    if not ours or "error" in ours or not needed:
        return "-"
    return f"{ours['bytes'] / needed:.2f}x of {needed / 1e6:.2f} MB"


def _ratio(ours: dict[str, Any] | None, peer: dict[str, Any] | None) -> str:
    if not ours or not peer or "error" in ours or "error" in peer:
        return "-"
    return f"{peer['seconds'] / max(ours['seconds'], 1e-9):.1f}x"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["10min", "1h"], choices=list(SIZES))
    p.add_argument("--latency", nargs="+", type=float, default=[0.0, 0.02])
    p.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--stacks", nargs="+", default=list(STACKS), choices=list(STACKS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--link", nargs="+", type=_link, default=None, metavar="MS,STREAM_MBIT,LINK_MBIT",
                   help="model links instead of --latency: latency (ms), cap per response and cap shared "
                        "by all responses (Mbit/s; 0 = none), e.g. 30,200,400")
    p.add_argument("--mem-cap", default="8GiB", help="address-space cap per workload process")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--quick", action="store_true", help="10min session, 20 ms latency, 1 repeat")
    p.add_argument("--output", default=None,
                   help="the table's file (default benchmarks/RESULTS.md; with --link, _work/LINK_TABLE.md: "
                        "link runs are copied into LINK_RESULTS.md by hand)")
    p.add_argument("--trace", nargs="?", const=str(WORK / "trace"), default=None, metavar="DIR",
                   help="record each remote napstream run's request timeline (NAPSTREAM_TRACE) in DIR "
                        "(default _work/trace) and print its link utilisation and readers' waits")
    args = p.parse_args(argv)
    if args.output is None:
        args.output = str(WORK / "LINK_TABLE.md" if args.link else HERE / "RESULTS.md")
    TRACE["dir"] = Path(args.trace) if args.trace else None
    if args.quick:
        args.sizes, args.latency, args.repeats = ["10min"], [0.02], 1

    from napstream.config import parse_bytes
    from napstream.testing.server_process import ServerProcess

    mem_cap = parse_bytes(args.mem_cap)
    WORK.mkdir(parents=True, exist_ok=True)
    lines = [
        "# napstream benchmarks", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; versions: {_versions()}.",
        "Each cell: median wall time, HTTP requests, bytes fetched, peak RSS (own process). "
        "Ratios: peer time / napstream time (>1 means napstream is faster). \"cold bytes\": bytes the cold "
        "napstream run fetched (open included) over the stored size of the datasets the workload reads.", "",
    ]
    links = args.link or [(latency, None, None) for latency in args.latency]
    for size in args.sizes:
        path = _session(size)
        for latency, stream, link in links:
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            lines += [f"## {size} session ({path.stat().st_size / 1e6:.0f} MB), {_link_label(latency, stream, link)}", "",
                      f"Started {time.strftime('%H:%M UTC', time.gmtime())}, load average {load} (1, 5, 15 min).", ""]
            lines += ["| workload | " + " | ".join(args.stacks)
                      + " | vs fsspec | vs remfile | vs local pynapple | cold bytes |"
                      + (" floor | cold / floor | no read-ahead / floor | cold result = local result (bits) |" if link else ""),
                      "|" + "---|" * (len(args.stacks) + 5 + (4 if link else 0))]
            TRACE["link"], TRACE["label"] = link, f"{size}_{latency * 1000:.0f}ms_{(link or 0) * 8 / 1e6:.0f}Mbit"
            with ServerProcess(WORK, latency=latency, bandwidth=stream, link=link) as server:
                url = server.url_for(path.name)
                for workload in args.workloads:
                    stacks = [s for s in args.stacks if s.endswith("_local") or workload in REMOTE_ONLY_WORKLOADS]
                    row: dict[str, dict[str, Any] | None] = dict.fromkeys(args.stacks)
                    row.update(_measure_row(server, stacks, workload, url, path, args.repeats, mem_cap,
                                            args.timeout, f"{size} {_link_label(latency, stream, link)}"))
                    lines.append(
                        f"| {workload} | " + " | ".join(_fmt(row.get(s)) for s in args.stacks)
                        + f" | {_ratio(row.get('napstream_cold'), row.get('pynapple_fsspec'))}"
                        + f" | {_ratio(row.get('napstream_cold'), row.get('pynapple_remfile'))}"
                        + f" | {_ratio(row.get('napstream_local'), row.get('pynapple_local'))}"
                        + f" | {_bytes_ratio(row.get('napstream_cold'), _needed_bytes(path, workload))} |"
                        + (_floor_cells(row, link) if link else "")
                    )
            lines.append("")
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


def _link(text: str) -> tuple[float, float | None, float | None]:
    """``"30,200,400"`` -> (0.03 s, 25e6 B/s per response, 50e6 B/s shared); 0 means no cap."""
    try:
        ms, stream, link = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--link wants MS,STREAM_MBIT,LINK_MBIT, got {text!r}") from None
    return ms / 1000.0, stream * 1e6 / 8 or None, link * 1e6 / 8 or None


def _link_label(latency: float, stream: float | None, link: float | None) -> str:
    label = f"{latency * 1000:.0f} ms latency"
    if stream:
        label += f", {stream * 8 / 1e6:.0f} Mbit/s per stream"
    if link:
        label += f", {link * 8 / 1e6:.0f} Mbit/s link"
    return label


def _floor_cells(row: dict[str, Any], link: float) -> str:
    """Floor = max(local napstream time, cold bytes / link rate), all measured in this run."""
    local, cold = row.get("napstream_local"), row.get("napstream_cold")
    if not local or not cold or "error" in local or "error" in cold:
        return " - | - | - | - |"
    floor = max(local["seconds"], cold["bytes"] / link)
    before = row.get("napstream_cold_noahead")
    after = f"{cold['seconds'] / floor:.2f}x"
    prior = f"{before['seconds'] / floor:.2f}x" if before and "error" not in before else "-"
    # the read-ahead plans the same chunks as the local run: bit-identical; without it (share 0)
    # the chunks differ and so do the last bits of the Welch sums
    same = cold["check"] == local["check"]
    return f" {floor:.1f} s | {after} | {prior} | {'yes' if same else 'NO'} |"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("napstream", "pynapple", "pynwb", "h5py", "fsspec", "remfile", "numpy"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (missing)")
    return ", ".join(out)


if __name__ == "__main__":
    sys.exit(main())
