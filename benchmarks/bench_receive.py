"""Client CPU of receiving a remote file, per GB: the receive path of a cold read alone (issue #15).

Not a test. Serves a file of ``--mb`` MB of random bytes from the loopback
:class:`~napstream.testing.server_process.ServerProcess` (its own process: its CPU is not counted)
with a modelled link (``--link latency_ms,per_stream_mbps,link_mbps``), and reads it through
:class:`~napstream.io.http.HTTPSource` the way a cold chunked analysis does: the whole file is
announced to the read-ahead (:meth:`~napstream.io.base.BlockedSource.read_ahead`, ``--requests``
requests in flight, ``--pin-mb`` MB pinned), and one reader thread reads it block by block in
order. Each measurement runs in a fresh process and prints the CPU seconds of that process (all
threads, user + system) per GB received, from the source's open to its close (the disk cache
flushed), for each receive path side by side:

* ``aiohttp``: every request on aiohttp (``HTTPSource.lean_receive = False``, the path before);
* ``lean``: large single-range GETs on the blocking keep-alive path (:mod:`napstream.io.lean`);
* ``local``: the same reads of the file on disk (:class:`~napstream.io.local.LocalSource`): what the
  reader costs without any network; the receive path's own cost is the difference.

``--cache`` stores the blocks in a block cache under a temporary folder (deleted afterwards), as a
cold run does; without it, blocks live in the memory LRU only. Every byte read is compared with the
file (the same cost on both paths).

Usage (from the repository root)::

    PYTHONPATH=src python -m benchmarks.bench_receive --mb 256 --link 30,200,1000 --cache --repeats 3
    PYTHONPATH=src python -m benchmarks.bench_receive --mb 256 --link 0,0,0            # no link model
    PYTHONPATH=src python -m benchmarks.bench_receive --mb 256 --held-every 8 --paths local lean  # runs split

The machine's other load inflates CPU seconds: compare the minima of several repeats (printed with
the medians), measured interleaved in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PATHS = ("local", "aiohttp", "lean")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(url: str, path: str, lean: bool | None, cache_dir: str | None, requests: int, pin_mb: int,
            held_every: float = 0.0) -> dict[str, Any]:
    """Read the whole file at ``url`` (a copy of ``path``) through the read-ahead; CPU and wall seconds."""
    from napstream.io.cache import BlockCache
    from napstream.io.http import HTTPSource

    import aiohttp  # noqa: F401 - imported before the measurement (both paths import it)

    from napstream.io.local import LocalSource

    HTTPSource.lean_receive = bool(lean)
    with open(path, "rb") as f:
        expected = f.read()
    cache = BlockCache(cache_dir) if cache_dir and lean is not None else None
    c0, t0 = _cpu(), time.perf_counter()
    src: Any = HTTPSource(url, cache=cache) if lean is not None else LocalSource(path)
    try:
        size, bs = src.size, getattr(src, "block_size", 256 * 1024)
        if held_every > 0:  # metadata amid the data (a chunk index's nodes): held on the small grid
            step = int(held_every * 1e6)
            spans = [(a, a + 3000) for a in range(step // 2 + 1234, size - 3000, step)]
            for k in range(0, len(spans), 8):  # a round trip per 8 pieces (one batch joins the rest)
                src.prefetch_small(spans[k: k + 8])
        handle = src.read_ahead([(0, size)], pin_mb * 2**20, requests)
        for start in range(0, size, bs):
            end = min(start + bs, size)
            if src.read_range(start, end) != expected[start:end]:
                raise AssertionError(f"bytes [{start}, {end}) differ from the file")
        if handle is not None:
            handle.cancel()
        fetched = src.stats.bytes_fetched if lean is not None else size
    finally:
        src.close()
        if cache is not None:
            cache.flush()
    return {"cpu": _cpu() - c0, "seconds": time.perf_counter() - t0, "bytes": fetched}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=int, default=256, help="file size in MB (default 256)")
    p.add_argument("--link", default="30,200,1000", help="latency ms, per-stream Mbit/s, link Mbit/s (0: none)")
    p.add_argument("--cache", action="store_true", help="store blocks in a disk cache (as a cold run does)")
    p.add_argument("--requests", type=int, default=8, help="read-ahead requests in flight at most (default 8)")
    p.add_argument("--pin-mb", type=int, default=64, help="MB the read-ahead may pin (default 64)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    p.add_argument("--dir", default="/tmp", help="folder for the temporary file and cache")
    p.add_argument("--held-every", type=float, default=0.0,
                   help="MB between small pieces fetched first on the small grid, as a cold open's metadata walk "
                        "fetches a chunk index's nodes amid the data (the read-ahead's runs then go around them)")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        opts = json.loads(args._child)
        print(json.dumps(measure(**opts)))
        return 0

    from napstream.testing.server_process import ServerProcess

    latency, stream, link = (float(x) for x in args.link.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench_receive-", dir=args.dir))
    try:
        data = work / "data"
        data.mkdir()
        path = data / "file.bin"
        with open(path, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(10**6))
        server = ServerProcess(data, latency=latency / 1000, bandwidth=stream * 1e6 / 8 if stream else None,
                               link=link * 1e6 / 8 if link else None)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.paths}
        with server:
            url = server.url_for("file.bin")
            for rep in range(args.repeats):
                for name in args.paths:
                    cache_dir = None
                    if args.cache:
                        cache_dir = str(work / f"cache-{name}-{rep}")
                    opts = {"url": url, "path": str(path), "lean": None if name == "local" else name == "lean", "cache_dir": cache_dir,
                            "requests": args.requests, "pin_mb": args.pin_mb, "held_every": args.held_every}
                    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_receive", "--_child", json.dumps(opts)],
                                         capture_output=True, text=True, check=False)
                    if out.returncode:
                        print(f"{name}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
                        return 1
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    results[name].append(res)
                    if cache_dir:
                        shutil.rmtree(cache_dir, ignore_errors=True)
                    gb = res["bytes"] / 1e9
                    print(f"  {name:8s} repeat {rep}: {res['cpu']:.2f} CPU-s, {res['cpu'] / gb:.2f} CPU-s/GB, "
                          f"{res['seconds']:.2f} s wall, {res['bytes'] / 1e6:.1f} MB", flush=True)
        held = f", held pieces every {args.held_every:g} MB" if args.held_every else ""
        print(f"{args.mb} MB, link {args.link}, cache {'on' if args.cache else 'off'}{held}, "
              f"{args.requests} requests, {args.repeats} repeats (CPU-s per GB received: min / median):")
        for name, runs in results.items():
            per = [r["cpu"] / (r["bytes"] / 1e9) for r in runs]
            wall = [r["seconds"] for r in runs]
            print(f"  {name:8s} {min(per):.2f} / {statistics.median(per):.2f} CPU-s/GB, "
                  f"wall {min(wall):.2f} / {statistics.median(wall):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
