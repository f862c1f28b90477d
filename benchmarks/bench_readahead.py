"""Engine read-ahead per analysis and executor: does a cold remote run read ahead, and what does it save?

Two tables, over a synthetic session served by the loopback server (``napstream.testing``):

* ``--inventory``: for each analysis x executor, a cold remote run (no disk cache) and what the
  read-ahead did: requests it sent, the most it had in flight at once, bytes it fetched, bytes
  the server sent against the file's size (every byte at most once), and whether the result equals
  the local run. Measured with counters, not time.
* default: cold remote time with and without read-ahead (``napstream.core.readahead.enabled``),
  side by side in one run, plus CPU seconds, for the chunked analyses that read outside ``run``.

Examples
--------
Exactly as quoted in the reports (run from the repository root)::

    PYTHONPATH=$PWD/src python -m benchmarks.bench_readahead --inventory --latency 20
    PYTHONPATH=$PWD/src python -m benchmarks.bench_readahead --link 30,200,100 --minutes 10 --repeat 2
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import napstream as nap
from napstream.testing.http_server import RangeHTTPServer
from napstream.testing.sessions import write_session

EXECUTORS = ("serial", "threads", "dask")


def _sources(obj: Any) -> list[Any]:
    """The byte sources that served a run: the file's own, and those reopened by dask workers."""
    from napstream.nwb import source as nwb_source

    found = [obj] + list(nwb_source._BYTE_SOURCES.values())
    return [s for s in found if s is not None]


def _ahead_counters(sources: list[Any]) -> tuple[int, int, int]:
    sent = flight = fetched = 0
    for src in sources:
        ahead = getattr(src, "_ahead", None)
        if ahead is not None:
            sent += ahead.sent
            flight = max(flight, ahead.max_in_flight)
            fetched += ahead.bytes_fetched
    return sent, flight, fetched


def _forget_reopened() -> None:
    """Close files the dask workers reopened (the next run must be cold)."""
    from napstream.nwb import source as nwb_source

    for f in list(nwb_source._OPEN_FILES.values()):
        try:
            f.close()
        except Exception:  # noqa: BLE001
            pass
    for s in list(nwb_source._BYTE_SOURCES.values()):
        try:
            s.close()
        except Exception:  # noqa: BLE001
            pass
    nwb_source._OPEN_FILES.clear()
    nwb_source._BYTE_SOURCES.clear()


def _to_array(out: Any) -> np.ndarray:
    if isinstance(out, tuple):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if hasattr(out, "values") and not callable(out.values):
        out = out.values
    return np.asarray(out, dtype=np.float64)


def analyses(budget: str, events: np.ndarray) -> dict[str, tuple[Callable[..., Any], bool]]:
    """name -> (function(nwb, executor), takes an executor)."""
    from napstream.config import parse_bytes

    wide = 8 * parse_bytes(budget, "budget")  # iter_chunks of a filter holds its margins too
    def psd(nwb, ex):
        return nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 2.0, max_memory=budget,
                                                       executor=ex, n_workers=2)

    def band(nwb, ex):
        return nap.compute_band_power(nwb["ElectricalSeriesLFP"], {"theta": (6, 10)}, 2.0, max_memory=budget,
                                      executor=ex, n_workers=2)

    def filt(nwb, ex):
        lfp = nap.apply_bandpass_filter(nwb["ElectricalSeriesLFP"], (6.0, 10.0), max_memory=budget,
                                        executor=ex, n_workers=2)
        return nap.compute_mean_power_spectral_density(lfp, 2.0, max_memory=budget, executor=ex, n_workers=2)

    def tuning(nwb, ex):
        pos = nwb["SpatialSeriesLED1"]
        return nap.compute_tuning_curves(nwb["units"], pos, bins=8, max_memory=budget, executor=ex)

    def chunks(nwb, ex):
        return sum(np.asarray(c.values, dtype=np.float64).sum(0)
                   for c in nwb["ElectricalSeriesLFP"].iter_chunks(max_memory=budget))

    def apply(nwb, ex):
        out = nwb["ElectricalSeriesLFP"].apply(lambda p: p.values * 2.0, max_memory=budget)
        return np.asarray(out.values).sum(0)

    def filt_chunks(nwb, ex):
        lfp = nap.apply_bandpass_filter(nwb["ElectricalSeriesLFP"], (6.0, 10.0), max_memory=budget)
        return sum((c.values ** 2).sum(0) for c in lfp.iter_chunks(max_memory=wide))

    def peri(nwb, ex):
        return nap.compute_perievent(nwb["ElectricalSeriesLFP"], nap.Ts(events), window=0.5, max_memory=budget)

    def peri_sparse(nwb, ex):  # events far apart: one read per window
        return nap.compute_perievent(nwb["ElectricalSeriesLFP"], nap.Ts(events[::10]), window=0.5,
                                     max_memory=budget)

    return {"PSD (mean Welch)": (psd, True), "band power": (band, True), "filter -> PSD": (filt, True),
            "tuning curves (lazy position)": (tuning, True), "iter_chunks": (chunks, False),
            "apply": (apply, False), "filter -> iter_chunks": (filt_chunks, False), "perievent": (peri, False),
            "perievent (sparse events)": (peri_sparse, False)}


def _run_remote(fn: Callable[..., Any], url: str, ex: str | None, server: RangeHTTPServer) -> tuple[Any, dict]:
    _forget_reopened()
    before = server.stats.bytes_sent
    requests = server.stats.requests
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with nap.NWBFile(url, cache=False) as nwb:
        src = nwb.io_source if hasattr(nwb, "io_source") else None
        out = fn(nwb, ex)
        out = _to_array(out)
        wall = time.perf_counter() - t0
        lfp = nwb["ElectricalSeriesLFP"]
        src = getattr(lfp._d.base, "source", src)
        sent, flight, fetched = _ahead_counters(_sources(src))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    stats = {"wall": wall, "cpu": cpu, "ahead_requests": sent, "in_flight": flight, "ahead_bytes": fetched,
             "server_bytes": server.stats.bytes_sent - before, "requests": server.stats.requests - requests}
    _forget_reopened()
    return out, stats


def inventory(args: argparse.Namespace) -> None:
    import logging

    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    work = Path(tempfile.mkdtemp(prefix="napstream-readahead-"))
    try:
        path = write_session(work / "s.nwb", duration=args.minutes * 60.0, n_units=4, n_channels=16,
                             position_rate=2000.0, seed=1)
        events = np.linspace(20.0, args.minutes * 60.0 - 20.0, 40)
        size = path.stat().st_size
        print(f"session {size / 1e6:.1f} MB, latency {args.latency} ms, budget {args.budget}\n")
        print("| analysis | executor | read-ahead requests | most in flight | read-ahead MB | server MB / file MB |"
              " equal to local |")
        print("|---|---|---|---|---|---|---|")
        with RangeHTTPServer(work, latency=args.latency / 1000.0) as server:
            url = server.url_for("s.nwb")
            for name, (fn, takes) in analyses(args.budget, events).items():
                for ex in (EXECUTORS if takes else (None,)):
                    with nap.NWBFile(str(path)) as local:
                        ref = _to_array(fn(local, ex))
                    out, st = _run_remote(fn, url, ex, server)
                    same = np.allclose(out, ref, rtol=1e-9, atol=0, equal_nan=True)
                    print(f"| {name} | {ex or '-'} | {st['ahead_requests']} | {st['in_flight']} | "
                          f"{st['ahead_bytes'] / 1e6:.2f} | {st['server_bytes'] / size:.2f} | {same} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def timing(args: argparse.Namespace) -> None:
    from napstream.core import readahead

    work = Path(tempfile.mkdtemp(prefix="napstream-readahead-"))
    try:
        path = write_session(work / "s.nwb", duration=args.minutes * 60.0, n_units=4, n_channels=32, seed=1,
                             lfp_chunk_seconds=0.5)
        events = np.linspace(20.0, args.minutes * 60.0 - 20.0, 400)
        size = path.stat().st_size
        ms, stream, link = args.link
        print(f"session {size / 1e6:.1f} MB; link {ms:.0f} ms, {stream:.0f} Mbit/s per stream, {link:.0f} Mbit/s "
              f"shared; budget {args.budget}; best of {args.repeat}\n")
        print("| workload | read-ahead off: wall s (cpu s) | on: wall s (cpu s) | off / on | bytes / link rate s |")
        print("|---|---|---|---|---|")
        chosen = {k: v for k, v in analyses(args.budget, events).items()
                  if k in ("iter_chunks", "filter -> iter_chunks", "perievent", "perievent (sparse events)",
                           "PSD (mean Welch)")}
        with RangeHTTPServer(work, latency=ms / 1000.0, bandwidth=int(stream * 1e6 / 8),
                             link=int(link * 1e6 / 8)) as server:
            url = server.url_for("s.nwb")
            for name, (fn, _) in chosen.items():
                best: dict[bool, dict] = {}
                for _ in range(args.repeat):
                    for on in (False, True):
                        readahead.enabled = on
                        try:
                            _, st = _run_remote(fn, url, "threads", server)
                        finally:
                            readahead.enabled = True
                        if on not in best or st["wall"] < best[on]["wall"]:
                            best[on] = st
                off, on = best[False], best[True]
                floor = off["server_bytes"] * 8 / (link * 1e6)
                print(f"| {name} | {off['wall']:.2f} ({off['cpu']:.1f}) | {on['wall']:.2f} ({on['cpu']:.1f}) | "
                      f"{off['wall'] / on['wall']:.2f}x | {floor:.2f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inventory", action="store_true", help="which analyses read ahead (counters, not time)")
    p.add_argument("--latency", type=float, default=20.0, help="server latency in ms (inventory)")
    p.add_argument("--link", type=lambda s: tuple(float(x) for x in s.split(",")), default=(30.0, 200.0, 100.0),
                   metavar="MS,STREAM_MBIT,LINK_MBIT", help="modelled link (timing)")
    p.add_argument("--minutes", type=float, default=4.0, help="session length")
    p.add_argument("--budget", default="8MB", help="max_memory of every call")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    (inventory if args.inventory else timing)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
