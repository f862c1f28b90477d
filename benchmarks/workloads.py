"""Benchmark workloads, run one at a time in a fresh subprocess by ``benchmarks.run``.

``python -m benchmarks.workloads STACK WORKLOAD SOURCE_URL LOCAL_PATH CACHE_DIR`` prints one JSON line
``@@{"seconds": ..., "peak_rss": ..., "check": ...}``. ``check`` is a small fingerprint of the result
(e.g. the sum of the tuning curves) so the runner can tell the stacks computed the same thing.

Stacks
------
pynapple_fsspec   guide step 2: h5py.File(fsspec CachingFileSystem(http).open(url)) + NWBHDF5IO + pynapple
pynapple_remfile  remfile.File(url) + h5py + NWBHDF5IO + pynapple
pynapple_local    NWBHDF5IO(path) + pynapple
napstream_cold    napstream.NWBFile(url) with an empty cache
napstream_cold_noahead  the same without the engine's read-ahead (fetching and computing take turns)
napstream_cold_before   napstream_cold as before issue #15's open work: the metadata walk fetches whole
                  256 KiB blocks and a units table's spike times are read as the searches ask (its own
                  empty cache folder per run)
napstream_cold_nospec  napstream_cold without the speculative fetch after the open (``config.speculate =
                  False``, the default since 2026-12-03; its own empty cache folder per run)
napstream_cold_spec    napstream_cold with the speculative fetch after the open (``config.speculate =
                  True``; its own empty cache folder per run)
napstream_cold_s6      napstream_cold as after session 6 (before session 7's work on the guide's job):
                  raw chunks read whole by h5py, a units table's spike times in one blocking batch,
                  tuning curves searching lazy spike times per feature chunk (its own empty cache folder)
napstream_warm    napstream.NWBFile(url) with the cache filled by a previous run
napstream_local   napstream.NWBFile(path)
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings
from typing import Any

import numpy as np

STACKS = (
    "pynapple_fsspec", "pynapple_remfile", "pynapple_local",
    "napstream_cold", "napstream_warm", "napstream_local", "napstream_cold_noahead", "napstream_cold_before",
    "napstream_cold_nospec", "napstream_cold_spec", "napstream_cold_s6",
)
WORKLOADS = ("open_list", "units_position", "tuning_2d", "lfp_window", "mean_psd", "perievent", "crosscorr",
             "lfp_psd")
REMOTE_ONLY_WORKLOADS = ("open_list", "units_position", "tuning_2d", "lfp_window", "mean_psd", "lfp_psd")

_KEEP: list[Any] = []  # keep file handles alive for the duration of the workload


def _open(stack: str, url: str, path: str, cache_dir: str) -> tuple[Any, Any]:
    """Return (module, nwb) for the stack: ``module`` is pynapple or napstream."""
    if stack.startswith("napstream"):
        import napstream as nap

        source = path if stack == "napstream_local" else url
        kw = {} if stack == "napstream_local" else {"cache_dir": cache_dir}
        return nap, nap.NWBFile(source, **kw)
    import h5py
    import pynapple as nap
    from pynwb import NWBHDF5IO

    if stack == "pynapple_local":
        io = NWBHDF5IO(path, "r", load_namespaces=True)
    else:
        if stack == "pynapple_fsspec":
            import fsspec
            from fsspec.implementations.cached import CachingFileSystem

            fs = CachingFileSystem(fs=fsspec.filesystem("http"), cache_storage=cache_dir)
            f = fs.open(url, "rb")
        else:
            import remfile

            f = remfile.File(url)
        h5 = h5py.File(f, "r")
        _KEEP.extend([f, h5])
        io = NWBHDF5IO(file=h5, load_namespaces=True)
    _KEEP.append(io)
    return nap, nap.NWBFile(io.read())


def _lfp_key(nwb: Any) -> str:
    for key in ("LFP", "ElectricalSeries", "ElectricalSeriesLFP"):
        if key in nwb:
            return key
    for key in nwb.keys():
        if "lfp" in key.lower():
            return key
    raise KeyError("no LFP in this file")


def _work(nap: Any, nwb: Any, workload: str) -> float:
    if workload == "open_list":
        return float(len(repr(nwb)))
    if workload == "lfp_psd":  # the LFP alone, nothing else read (what the speculation costs such a script)
        psd = nap.compute_mean_power_spectral_density(nwb[_lfp_key(nwb)], 4.0)
        return float(np.abs(np.asarray(psd.values)).sum())
    units, position = nwb["units"], nwb["SpatialSeriesLED1"]
    if workload == "units_position":
        n = sum(len(np.asarray(units[k].t)) for k in units.keys())
        return float(n + np.nansum(np.asarray(position.values)))
    if workload == "tuning_2d":
        tc, _ = nap.compute_2d_tuning_curves(units, position, 20)
        return float(sum(np.nansum(v) for v in tc.values()))
    if workload == "lfp_window":
        lfp = nwb[_lfp_key(nwb)]
        mid = 0.5 * (lfp.time_support.start[0] + lfp.time_support.end[-1])
        return float(np.asarray(lfp.get(mid, mid + 10.0).values, dtype=float).sum())
    if workload == "mean_psd":
        lfp = nwb[_lfp_key(nwb)]
        psd = nap.compute_mean_power_spectral_density(lfp, 4.0)
        return float(np.abs(np.asarray(psd.values)).sum())
    if workload == "perievent":
        trials = nwb["trials"]
        events = nap.Ts(t=np.asarray(trials.start))
        total = 0
        for k in units.keys():
            pe = nap.compute_perievent(units[k], events, window=(-1.0, 1.0))
            total += sum(len(pe[j]) for j in pe.keys())
        return float(total)
    if workload == "crosscorr":
        cc = nap.compute_crosscorrelogram(units, 0.005, 0.5)
        return float(np.asarray(cc.values).sum())
    raise ValueError(f"unknown workload {workload!r}")


def _import_stack(stack: str) -> None:
    """Import what the stack needs before the clock starts (import time is not the workload's)."""
    import h5py  # noqa: F401
    import pandas  # noqa: F401

    if stack.startswith("napstream"):
        import aiohttp  # noqa: F401 - the HTTP transport, imported on first remote read

        import napstream
        import napstream.io.fileobj  # noqa: F401
        import napstream.io.http  # noqa: F401
        import napstream.io.sources  # noqa: F401
        import napstream.nwb.file  # noqa: F401
        import napstream.process.spectrum  # noqa: F401
        import napstream.process.tuning_curves  # noqa: F401

        napstream.NWBFile  # noqa: B018 - resolve the lazy export
        if stack == "napstream_cold_noahead":
            from napstream.engine.readahead import ReadAheadJob

            ReadAheadJob.share = 0  # no budget held back, nothing announced: the behaviour before #15
        if stack == "napstream_cold_before":
            from napstream.io.base import BlockedSource
            from napstream.nwb.convert import ReadContext

            BlockedSource.small_block_size = 0  # the walk fetches whole blocks
            ReadContext.batch_reads = False  # a units table's spike times read as the searches ask
        if stack in ("napstream_cold_s6", "napstream_cold_before"):
            from napstream.nwb.convert import ReadContext
            from napstream.nwb.prefetch import ChunkIndex
            from napstream.process import tuning_curves

            ChunkIndex.read_raw = False  # whole raw chunks, read by h5py
            ReadContext.read_ahead_units = False  # the units' spike times in one blocking batch
            tuning_curves.LOAD_MAX_BYTES = 0  # lazy spike times searched per feature chunk
        if stack in ("napstream_cold_before", "napstream_cold_nospec", "napstream_cold_s6"):
            napstream.config.speculate = False  # no background fetch after the open
        if stack == "napstream_cold_spec":
            napstream.config.speculate = True  # the background fetch after the open (off by default)
        return
    import fsspec  # noqa: F401
    import pynapple  # noqa: F401
    import pynwb  # noqa: F401
    import remfile  # noqa: F401
    from fsspec.implementations.cached import CachingFileSystem  # noqa: F401


def run_one(stack: str, workload: str, url: str, path: str, cache_dir: str) -> dict[str, Any]:
    """Time one workload on one stack in this process (imports excluded)."""
    warnings.simplefilter("ignore")
    _import_stack(stack)
    tracking = None
    if stack.startswith("napstream"):
        import napstream

        tracking = napstream.track_io()
        io = tracking.__enter__()
    fresh = stack in ("napstream_cold_before", "napstream_cold_nospec", "napstream_cold_spec", "napstream_cold_s6")
    if fresh:  # the runner does not empty these stacks' folders: a fresh one
        import tempfile

        cache_dir = tempfile.mkdtemp(prefix="before-", dir=cache_dir if os.path.isdir(cache_dir) else None)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    nap, nwb = _open(stack, url, path, cache_dir)
    check = _work(nap, nwb, workload)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime  # this process's CPU seconds, all threads
    out = {"seconds": seconds, "check": check, "peak_rss": ru.ru_maxrss * 1024, "cpu": cpu}
    if tracking is not None:
        tracking.__exit__(None, None, None)
        out["round_trips"] = int(io.round_trips)  # napstream's own count: batches of concurrent requests
    if fresh:
        import shutil

        nwb.close()
        shutil.rmtree(cache_dir, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    stack, workload, url, path, cache_dir = argv
    try:
        out: dict[str, Any] = run_one(stack, workload, url, path, cache_dir)
    except MemoryError:
        out = {"error": "out of memory (cap)"}
    except Exception as err:  # noqa: BLE001 - reported in the table, not hidden
        out = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
    print("@@" + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
