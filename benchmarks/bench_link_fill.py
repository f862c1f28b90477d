"""How full the read-ahead keeps a modelled link when nothing else uses the CPU (issue #15).

The mean-PSD benchmark (``benchmarks.run --link``) mixes the link with the client's CPU: on 2 cores a
1 Gbit/s run is bound by decoding and receiving as much as by the requests out. This probe keeps only
the read-ahead: it announces ``--mb`` MB of ``benchmarks/_work/session_1h.nwb`` (after its first 4 MB)
with ``--room`` MB of pin room, then reads them in order in 13.7 MB pieces (one LFP chunk's worth) with
nothing to compute, and prints the rate against the link's, the requests sent and the CPU seconds of
this process and of the server (a process of its own, as in the benchmark)::

    python -m benchmarks.bench_link_fill --link 30,200,1000 --mb 300 --room 48 --repeats 3

``--compute S`` spends S CPU-seconds (a busy loop) after each piece: a reader slower than the link.
``NAPSTREAM_TRACE=FILE`` records the timeline (``python -m napstream.io.trace FILE 1000``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIECE = 13_700_000
START = 4_000_000


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def probe(url: str, total: int, room: int, compute: float, server: object) -> dict[str, float]:
    """One cold pass over ``total`` bytes with ``room`` bytes of pin room; rates and counters."""
    from napstream.io.http import HTTPSource

    src = HTTPSource(url)  # no disk cache: every byte from the server
    try:
        src.read_range(0, 10)  # opened (size, validators) before the clock starts
        cpu0, srv0, t0 = _cpu(), server.cpu_seconds(), time.perf_counter()  # type: ignore[attr-defined]
        handle = src.read_ahead([(START, START + total)], max_bytes=room)
        try:
            for a in range(START, START + total, PIECE):
                src.read_range(a, min(a + PIECE, START + total))
                end = time.process_time() + compute
                while time.process_time() < end:
                    pass
        finally:
            handle.cancel()
        seconds = time.perf_counter() - t0
        ahead = src._ahead
        return {"seconds": seconds, "MB_per_s": total / seconds / 1e6, "requests": ahead.sent,
                "cpu": _cpu() - cpu0, "server_cpu": server.cpu_seconds() - srv0}  # type: ignore[attr-defined]
    finally:
        src.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--link", default="30,200,1000", help="MS,STREAM_MBIT,LINK_MBIT (as benchmarks.run --link)")
    p.add_argument("--mb", type=float, default=300.0, help="MB read ahead and read")
    p.add_argument("--room", type=float, default=48.0, help="MB of pin room (max_bytes)")
    p.add_argument("--compute", type=float, default=0.0, help="CPU seconds spent after each 13.7 MB piece")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    from napstream.testing.server_process import ServerProcess

    ms, stream, link = (float(x) for x in args.link.split(","))
    path = HERE / "_work" / "session_1h.nwb"
    if not path.exists():
        print(f"{path} is missing: run `python -m benchmarks.run --sizes 1h` once to build it", file=sys.stderr)
        return 2
    with ServerProcess(path.parent, latency=ms / 1000, bandwidth=stream * 1e6 / 8, link=link * 1e6 / 8) as server:
        for _ in range(args.repeats):
            out = probe(server.url_for(path.name), int(args.mb * 1e6), int(args.room * 1e6), args.compute, server)
            out["link_MB_per_s"] = link / 8
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
