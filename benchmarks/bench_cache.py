"""Client CPU the persistent block cache costs per GB, driven the way a cold remote fetch drives it.

Not a test. A cold fetch of the 1-h session's LFP (issue #15) stores 1,860 blocks of 256 KiB in
runs of 6-8 contiguous blocks from 2-3 fetcher threads; before fetching a block the read-ahead asks
``has()`` and the reader ``get()`` (both misses); later reads ``get()`` blocks back from disk. This
script replays that on a :class:`~napstream.io.cache.BlockCache` in a temporary folder under /tmp
(deleted afterwards) and prints, per phase, the CPU seconds of the whole process (all threads,
user + system) per GB of blocks:

* ``probe``: ``has()`` + ``get()`` of every block before it is stored (misses);
* ``put``: storing every run (``put_run`` when the cache has it, else ``put`` per block) from the
  fetcher threads, until :meth:`~napstream.io.cache.BlockCache.flush` returns; ``writer`` is the
  part of it spent in the cache's writer thread;
* ``has``: ``has()`` of every block (hits), from a new ``BlockCache`` object (another process);
* ``get``: ``get()`` of every block (hits, checksum verified), from the same new object.

Usage::

    python -m benchmarks.bench_cache [--mb 488] [--threads 3] [--repeats 3] [--link-mbps 1000]
        [--per-block] [--dir /tmp]

The fetcher threads store runs at the pace of a link of ``--link-mbps`` Mbit/s shared by them (the
bytes of a run arrive, then it is stored), as in a cold fetch; ``--link-mbps 0`` stores as fast as
the threads can (the disk, not the link, sets the pace: the writer thread falls behind and the
fetchers write themselves). ``--per-block`` stores with ``put`` per block even when ``put_run``
exists (the old call pattern).

``--baseline DIR`` compares with another tree's cache side by side: each repeat runs this script
once with ``PYTHONPATH=DIR`` and once with the working tree's ``src`` (in that order, in fresh
processes) and prints the minimum and median of each phase for both and the ratio baseline / this
tree. A baseline tree from a commit: ``git archive <commit> src | tar -x -C /tmp/before``, then
``--baseline /tmp/before/src``. The machine's other load inflates CPU seconds (file creation
above all): compare minima of several repeats.
Run with ``PYTHONPATH=src`` from the repository to measure the working tree's cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BLOCK = 256 * 1024
PHASES = ("probe", "put", "writer", "has", "get")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def _runs(n_blocks: int, rng: random.Random) -> list[list[int]]:
    runs, i = [], 0
    while i < n_blocks:
        k = min(rng.randint(6, 8), n_blocks - i)
        runs.append(list(range(i, i + k)))
        i += k
    return runs


def one_run(folder: str, mb: int, threads: int, per_block: bool, seed: int = 0,
            link_mbps: float = 1000.0) -> dict[str, float]:
    """CPU seconds per GB of each phase (see the module docstring) for one fresh cache folder."""
    from napstream.io.cache import BlockCache

    rng = random.Random(seed)
    n_blocks = max(1, mb * 2**20 // BLOCK)
    size = n_blocks * BLOCK - 1000  # a short last block, as in a real file
    pool = [os.urandom(BLOCK) for _ in range(32)]

    def block(i: int) -> bytes:
        return pool[i % len(pool)] if i < n_blocks - 1 else pool[0][: size - i * BLOCK]

    def length(i: int) -> int:
        return min(BLOCK, size - i * BLOCK)

    cache = BlockCache(folder, max_size=4 * size)
    key = cache.register("https://bench.invalid/session.nwb", size, '"bench"')
    writer_cpu = [0.0]
    loop = cache._write_loop

    def timed_loop() -> None:  # the writer thread's own CPU, over all its lifetimes
        t0 = _thread_cpu()
        try:
            loop()
        finally:
            writer_cpu[0] += _thread_cpu() - t0

    cache._write_loop = timed_loop  # type: ignore[method-assign]
    cache.idle_seconds = 0.05
    runs = _runs(n_blocks, rng)
    use_run = hasattr(cache, "put_run") and not per_block

    pace = threading.Lock()
    slot = [time.perf_counter()]

    def arrive(nbytes: int) -> None:
        """Wait until the link has brought ``nbytes`` more (one link shared by the fetchers)."""
        if not link_mbps:
            return
        with pace:
            slot[0] = max(slot[0], time.perf_counter()) + nbytes * 8 / (link_mbps * 1e6)
            due = slot[0]
        time.sleep(max(0.0, due - time.perf_counter()))

    def fetcher(mine: list[list[int]]) -> None:
        for run in mine:
            arrive(sum(length(i) for i in run))
            for i in run:  # the read-ahead's presence check and the reader's lookup, both misses
                cache.has(key, BLOCK, i, length(i))
                cache.get(key, BLOCK, i, length(i))
            if use_run:
                cache.put_run(key, BLOCK, run[0], [block(i) for i in run])
            else:
                for i in run:
                    cache.put(key, BLOCK, i, block(i))

    # probe (misses) and put are interleaved as in a fetch: measure probes alone first, on a
    # second key, then the whole fetch, and report put = fetch - probes
    other = cache.register("https://bench.invalid/other.nwb", size, '"bench"')
    c0 = _cpu()
    for i in range(n_blocks):
        cache.has(other, BLOCK, i, length(i))
        cache.get(other, BLOCK, i, length(i))
    probe = _cpu() - c0

    shares = [runs[t::threads] for t in range(threads)]
    workers = [threading.Thread(target=fetcher, args=(s,)) for s in shares]
    c0, w0 = _cpu(), time.perf_counter()
    slot[0] = w0
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cache.flush()
    fetch, fetch_wall = _cpu() - c0, time.perf_counter() - w0
    deadline = time.monotonic() + 10
    while cache._writer is not None and cache._writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)

    fresh = BlockCache(folder, max_size=4 * size)  # another process: nothing in its memory
    c0 = _cpu()
    present = sum(fresh.has(key, BLOCK, i, length(i)) for i in range(n_blocks))
    has = _cpu() - c0
    order = list(range(n_blocks))
    c0 = _cpu()
    got = 0
    for i in order:
        data = fresh.get(key, BLOCK, i, length(i))
        got += data is not None and len(data) == length(i)
    get = _cpu() - c0
    if present != n_blocks or got != n_blocks:
        raise RuntimeError(f"only {present} blocks present and {got} read back of {n_blocks}")
    gb = size / 1e9
    return {"probe": probe / gb, "put": (fetch - probe) / gb, "writer": writer_cpu[0] / gb,
            "has": has / gb, "get": get / gb, "fetch_wall_s": fetch_wall, "files": _count_files(folder)}


def _count_files(folder: str) -> int:
    return sum(len([f for f in files if not f.startswith(".")]) for _, _, files in os.walk(folder))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=488, help="MB of blocks stored (default 488: the 1-h LFP)")
    p.add_argument("--threads", type=int, default=3, help="fetcher threads storing runs (default 3)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--link-mbps", type=float, default=1000.0, help="link pacing the runs (0: none)")
    p.add_argument("--per-block", action="store_true", help="put() per block even if put_run exists")
    p.add_argument("--dir", default="/tmp", help="parent of the temporary cache folder")
    p.add_argument("--baseline", help="src folder of a tree to compare with, side by side")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one row, for --baseline
    args = p.parse_args(argv)
    if args.baseline:
        return _compare(args)
    import napstream.io.cache as module

    rows = []
    for r in range(args.repeats):
        folder = tempfile.mkdtemp(prefix="napstream-bench-cache-", dir=args.dir)
        try:
            rows.append(one_run(folder, args.mb, args.threads, args.per_block, seed=r, link_mbps=args.link_mbps))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({"layout": getattr(module, "_LAYOUT", "?"), **rows[0]}))
        return rows[0]
    med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
    print(f"cache layout {getattr(module, '_LAYOUT', '?')} ({module.__file__}), {args.mb} MB in 256 KiB blocks,"
          f" {args.threads} fetcher threads, {'put per block' if args.per_block else 'put_run if available'},"
          f" link {args.link_mbps:g} Mbit/s")
    print("CPU-s per GB (all threads, user+sys), median of", args.repeats)
    print(f"  probe (has+get misses) {med['probe']:.3f}")
    print(f"  put (until flushed)    {med['put']:.3f}   of which writer thread {med['writer']:.3f}")
    print(f"  has (hits)             {med['has']:.3f}")
    print(f"  get (hits, verified)   {med['get']:.3f}")
    print(f"  total                  {med['probe'] + med['put'] + med['has'] + med['get']:.3f}")
    print(f"  files written {med['files']:.0f}, fetch wall {med['fetch_wall_s']:.2f} s")
    return med


def _compare(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    trees = {"baseline": str(Path(args.baseline).resolve()), "this tree": str(root / "src")}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    cmd = [sys.executable, "-m", "benchmarks.bench_cache", "--json", "--repeats", "1", "--mb", str(args.mb),
           "--threads", str(args.threads), "--link-mbps", str(args.link_mbps), "--dir", args.dir]
    if args.per_block:
        cmd.append("--per-block")
    for _ in range(args.repeats):
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": src}
            out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True).stdout
            rows[name].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.mb} MB in 256 KiB blocks, {args.threads} fetcher threads, link {args.link_mbps:g} Mbit/s,"
          f" {args.repeats} interleaved repeats; CPU-s per GB (all threads, user+sys): min / median")
    print(f"{'phase':22s}" + "".join(f"{n + ' (' + rows[n][0]['layout'] + ')':>22s}" for n in trees) + f"{'ratio (min)':>14s}")
    result: dict[str, Any] = {}
    for phase in (*PHASES, "files"):
        cells, mins = [], []
        for name in trees:
            values = [r[phase] for r in rows[name]]
            mins.append(min(values))
            cells.append(f"{min(values):.3f} / {statistics.median(values):.3f}" if phase != "files"
                         else f"{statistics.median(values):.0f}")
        ratio = mins[0] / mins[1] if mins[1] else float("inf")
        result[phase] = ratio
        print(f"{phase:22s}" + "".join(f"{c:>22s}" for c in cells) + f"{ratio:>13.1f}x")
    fetched = [sum(min(r[p] for r in rows[n]) for p in ("probe", "put")) for n in trees]
    print(f"{'probe + put (a fetch)':22s}" + "".join(f"{v:>22.3f}" for v in fetched) + f"{fetched[0] / fetched[1]:>13.1f}x")
    return result


if __name__ == "__main__":
    main()
