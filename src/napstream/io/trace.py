"""An opt-in timeline of a process's remote reads: what was asked, by whom, when the bytes came.

Set the environment variable ``NAPSTREAM_TRACE`` to a file name before napstream is imported:
every range request then records when it was queued (waiting for a connection slot), sent, when
its first byte came, when it ended, its bytes and who asked (``ahead``: a read-ahead fetcher;
``hurried``: a read-ahead fetcher serving a reader that waits; ``reader``: a reader fetching for
itself; ``meta``: an unplanned read, h5py's own; ``small``: metadata pieces on the small grid;
``index``: chunk index nodes napstream walks; ``prefetch``: a cache warm-up), and every read that had to wait for bytes records how long and for
what (its blocks: queued by the read-ahead but not started, in flight, never announced). The
records are written to that file as JSON lines when the process ends; :func:`summarise` (or
``python -m napstream.io.trace FILE [LINK_MBIT]``) turns them into link utilisation per 100 ms,
requests out, and the readers' wait. When the variable is not set nothing is recorded (each hook
is one test of a module flag).

Examples
--------
>>> from napstream.io import trace
>>> events = [("req", "ahead", 0.0, 0.0, 0.03, 0.11, 2_000_000),
...           ("req", "ahead", 0.0, 0.0, 0.03, 0.11, 2_000_000)]
>>> s = trace.summarise(events, link=50e6, bucket=0.1)
>>> s["bytes"], round(s["busy_fraction"], 2)   # 4 MB = 0.08 s of a 50 MB/s link, in 0.11 s
(4000000, 0.73)
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["on", "role", "request", "wait", "count", "summarise", "events"]

#: file the timeline is written to (None: tracing is off)
path: str | None = os.environ.get("NAPSTREAM_TRACE") or None
#: True when tracing (the hooks test this flag and nothing else when it is off)
on = path is not None

_local = threading.local()
_events: list[tuple[Any, ...]] = []  # list.append is atomic: no lock
_counts: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()


def events() -> list[tuple[Any, ...]]:
    """The records so far (a copy)."""
    return list(_events)


class _Role:
    def __init__(self, name: str) -> None:
        self.name = name
        self.before: str | None = None

    def __enter__(self) -> None:
        self.before = getattr(_local, "role", None)
        _local.role = self.name

    def __exit__(self, *exc: object) -> None:
        _local.role = self.before


_NULL = contextlib.nullcontext()


def role(name: str) -> Any:
    """Context: requests this thread sends inside it are recorded as ``name``'s (nothing when off)."""
    return _Role(name) if on else _NULL


def now() -> float:
    """The trace's clock (``time.perf_counter``)."""
    return time.perf_counter()


def current_role() -> str:
    """Who this thread's requests are recorded for (``reader`` unless :func:`role` says)."""
    return getattr(_local, "role", None) or "reader"


def request(queued: float, sent: float, first: float, end: float, nbytes: int) -> None:
    """One range request: ``perf_counter`` times queued, sent, first byte, end; its bytes."""
    _events.append(("req", current_role(), queued, sent, first, end, int(nbytes)))


def wait(kind: str, start: float, end: float, nblocks: int) -> None:
    """A read waited ``end - start`` s for ``nblocks`` blocks of ``kind``."""
    _events.append(("wait", kind, start, end, int(nblocks)))


def count(name: str, n: int = 1) -> None:
    """Add ``n`` to the counter ``name`` (e.g. how reads found their blocks)."""
    with _lock:
        _counts[name] += n


def _write() -> None:  # pragma: no cover - runs at interpreter exit
    if not on or path is None:
        return
    try:
        with open(path, "w") as f:
            for e in _events:
                f.write(json.dumps(e) + "\n")
            f.write(json.dumps(("counts", dict(_counts))) + "\n")
    except OSError as err:
        print(f"napstream trace: cannot write {path}: {err}", file=sys.stderr)


if on:
    atexit.register(_write)


def load(file: str) -> list[tuple[Any, ...]]:
    """The records of a trace file."""
    with open(file) as f:
        return [tuple(json.loads(line)) for line in f if line.strip()]


def summarise(records: Sequence[tuple[Any, ...]], link: float | None = None, bucket: float = 0.1) -> dict[str, Any]:
    """Link utilisation, requests out and readers' waits of a timeline.

    Each request's bytes are spread evenly from its first byte to its end. ``link`` (bytes/s) is
    the link's rate: ``busy_fraction`` is the share of the span (first request sent to last byte)
    the link would need at that rate for the bytes carried, ``buckets`` the utilisation of each
    ``bucket`` seconds (None without ``link``: bytes per bucket then).
    """
    reqs = [e for e in records if e[0] == "req"]
    waits = [e for e in records if e[0] == "wait"]
    counts = next((e[1] for e in records if e[0] == "counts"), {})
    out: dict[str, Any] = {"requests": len(reqs), "bytes": sum(e[6] for e in reqs), "counts": counts}
    if not reqs:
        return out
    t0 = min(e[3] for e in reqs)
    t1 = max(e[5] for e in reqs)
    span = max(t1 - t0, 1e-9)
    n = int(span / bucket) + 1
    carried = [0.0] * n
    for _, _, _, _, first, end, nbytes in reqs:
        a, b = first - t0, end - t0
        if b <= a:
            carried[min(int(a / bucket), n - 1)] += nbytes
            continue
        rate = nbytes / (b - a)
        k = int(a / bucket)
        while k < n and k * bucket < b:
            lo, hi = max(a, k * bucket), min(b, (k + 1) * bucket)
            carried[k] += rate * max(0.0, hi - lo)
            k += 1
    out["span"] = span
    if link:
        out["buckets"] = [c / (link * bucket) for c in carried]
        out["busy_fraction"] = out["bytes"] / link / span
    else:
        out["buckets"] = carried
    by: dict[str, dict[str, float]] = {}
    for _, who, queued, sent, first, end, nbytes in reqs:
        d = by.setdefault(who, collections.defaultdict(float))
        d["n"] += 1
        d["bytes"] += nbytes
        d["queued_s"] += sent - queued
        d["first_byte_s"] += first - sent
        d["seconds"] += end - sent
    out["by_role"] = {k: dict(v) for k, v in by.items()}
    # requests out over time (time-weighted), all roles together
    edges = sorted([(e[3], 1) for e in reqs] + [(e[5], -1) for e in reqs])
    area, out_now, at, hist = 0.0, 0, t0, collections.Counter()
    for t, step in edges:
        hist[out_now] += t - at
        area += out_now * (t - at)
        out_now, at = out_now + step, t
    out["mean_out"] = area / span
    out["out_seconds"] = {k: v for k, v in sorted(hist.items())}
    w: dict[str, list[float]] = {}
    for _, kind, start, end, nblocks in waits:
        x = w.setdefault(kind, [0, 0.0, 0])
        x[0] += 1
        x[1] += end - start
        x[2] += nblocks
    out["waits"] = {k: {"reads": v[0], "seconds": v[1], "blocks": v[2]} for k, v in w.items()}
    return out


def report(records: Sequence[tuple[Any, ...]], link: float | None = None, bucket: float = 0.1) -> str:
    """:func:`summarise` as a few lines of text."""
    s = summarise(records, link, bucket)
    lines = [f"{s['requests']} requests, {s['bytes'] / 1e6:.1f} MB"]
    if not s["requests"]:
        return lines[0]
    lines[0] += f" over {s['span']:.2f} s (first request sent to last byte); mean requests out {s['mean_out']:.2f}"
    if link:
        lines.append(f"link busy {100 * s['busy_fraction']:.0f}% of the span at {link * 8 / 1e6:.0f} Mbit/s")
        per_s = int(round(1.0 / bucket))
        b = s["buckets"]
        secs = [sum(b[k: k + per_s]) / len(b[k: k + per_s]) for k in range(0, len(b), per_s)]
        lines.append("utilisation per second: " + " ".join(f"{100 * x:.0f}" for x in secs))
        full = sum(1 for x in b if x >= 0.9) / len(b)
        idle = sum(1 for x in b if x < 0.5) / len(b)
        lines.append(f"100 ms buckets >= 90% busy: {100 * full:.0f}%, < 50% busy: {100 * idle:.0f}%")
    for who, d in sorted(s["by_role"].items()):
        n = d["n"]
        lines.append(f"  {who:9s} {int(n):5d} req {d['bytes'] / 1e6:7.1f} MB  mean {d['bytes'] / n / 1e6:.2f} MB, "
                     f"queued {d['queued_s'] / n * 1e3:.0f} ms, first byte {d['first_byte_s'] / n * 1e3:.0f} ms, "
                     f"sent->end {d['seconds'] / n * 1e3:.0f} ms")
    out_s = s["out_seconds"]
    lines.append("seconds with k requests out: " + ", ".join(f"{k}: {v:.2f}" for k, v in out_s.items()))
    for kind, v in sorted(s["waits"].items()):
        lines.append(f"  reads waiting for {kind}: {v['reads']} reads, {v['seconds']:.2f} s, {v['blocks']} blocks")
    if s["counts"]:
        lines.append("  blocks: " + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())))
    return "\n".join(lines)


_USAGE = ("usage: python -m napstream.io.trace FILE [LINK_MBIT]\n"
          "  FILE: the trace a run wrote with NAPSTREAM_TRACE=FILE in its environment;\n"
          "  LINK_MBIT: the link's rate in Mbit/s, to report its utilisation")


def _cli(argv: list[str]) -> int:
    """``python -m napstream.io.trace FILE [LINK_MBIT]``: the report of a trace file."""
    if not argv or argv[0] in ("-h", "--help") or len(argv) > 2:
        print(_USAGE, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        link = float(argv[1]) * 1e6 / 8 if len(argv) > 1 else None
    except ValueError:
        print(f"napstream trace: LINK_MBIT must be a number, got {argv[1]!r}\n{_USAGE}", file=sys.stderr)
        return 2
    try:
        records = load(argv[0])
    except OSError as err:
        print(f"napstream trace: cannot read {argv[0]!r}: {err.strerror or err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"napstream trace: {argv[0]!r} is not a trace file (one JSON record per line): {err}", file=sys.stderr)
        return 2
    print(report(records, link))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_cli(sys.argv[1:]))

