"""``napstream demo``: the whole promise in one command, with no network beyond loopback.

1. writes a realistic session with the testing generator (place/grid-cell-like units driven by a 2-D
   LED trajectory, a chunked+compressed LFP, epochs, trials);
2. publishes it as an asset of dandiset 000582 on napstream's local DANDI API server, whose S3-like
   file server adds cloud-like latency to every request;
3. in a separate process (so its peak memory is its own), streams it exactly as a user streams a
   DANDI asset: ``NWBFile("dandi://000582/<asset>")`` (resolved through the API: dandiset, version,
   asset, download redirect), ``nwb["units"]``, ``nwb["SpatialSeriesLED1"]``,
   ``compute_2d_tuning_curves(units, position, nb_bins)`` - once with a cold cache, once warm;
4. saves a grid of rate maps, prints what was fetched next to the file's size and peak memory, what
   each number means and where its files went.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..config import format_bytes

__all__ = ["run_demo", "stream_job", "ASSET"]

#: where the demo session is published on the local DANDI server (the guide's asset path)
ASSET = "sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb"


def stream_job(url: str, cache_dir: str, nb_bins: int, figure: str | None, npz: str | None) -> dict[str, Any]:
    """The user's job, timed and measured: open, list, units, position, 2-D tuning curves."""
    import resource

    import numpy as np

    import napstream as nap
    import napstream.nwb.file  # noqa: F401 - imports are not part of the timings below
    import napstream.io.http  # noqa: F401
    import napstream.process.tuning_curves  # noqa: F401
    import aiohttp  # noqa: F401 - imported on first use; builds its TLS contexts on import
    import requests  # noqa: F401 - the DANDI API client

    t0 = time.perf_counter()
    with nap.track_io() as io:
        nwb = nap.NWBFile(url, cache_dir=cache_dir)
        table = repr(nwb)
        t_open = time.perf_counter() - t0
        units = nwb["units"]
        position = nwb["SpatialSeriesLED1"]
        tc, bins = nap.compute_2d_tuning_curves(units, position, nb_bins)
        nwb.close()
    elapsed = time.perf_counter() - t0
    if npz:
        np.savez(npz, units=np.array(list(tc)), maps=np.stack([tc[k] for k in tc]), xbins=bins[0], ybins=bins[1])
    if figure:
        from ..plot import plot_tuning_curves

        plot_tuning_curves(tc, bins, title=f"napstream demo: {len(tc)} units, streamed over HTTP").savefig(figure, dpi=90)
    stats = io.as_dict() if hasattr(io, "as_dict") else dict(vars(io))
    return {
        "table": table,
        "open_seconds": t_open,
        "seconds": elapsed,
        "n_units": len(tc),
        "io": {k: v for k, v in stats.items() if isinstance(v, (int, float))},
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _run_job_subprocess(url: str, cache_dir: Path, nb_bins: int, figure: Path | None, npz: Path | None,
                        env: dict[str, str] | None = None) -> dict[str, Any]:
    code = (
        "import json, sys; from napstream.cli.demo import stream_job; "
        "print('@@' + json.dumps(stream_job(*sys.argv[1:3], int(sys.argv[3]), sys.argv[4] or None, sys.argv[5] or None)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, url, str(cache_dir), str(nb_bins), str(figure or ""), str(npz or "")],
        capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the streaming job failed:\n{proc.stderr.strip()[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")][-1]
    return json.loads(line[2:])


def run_demo(
    out: Path,
    duration: float = 600.0,
    n_units: int = 16,
    n_channels: int = 8,
    latency: float = 0.02,
    nb_bins: int = 20,
    seed: int = 0,
    stream: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns the measurements of both passes."""
    from ..testing.dandi_server import LocalDandiServer
    from ..testing.sessions import write_session

    def say(msg: str = "") -> None:
        print(msg, file=stream, flush=True)

    out.mkdir(parents=True, exist_ok=True)
    path = out / "session.nwb"
    say(f"1. writing a {duration:.0f} s session ({n_units} units, {n_channels}-channel LFP) to {path}")
    t0 = time.perf_counter()
    write_session(path, duration=duration, n_units=n_units, n_channels=n_channels, seed=seed)
    size = path.stat().st_size
    say(f"   {format_bytes(size)} written in {time.perf_counter() - t0:.1f} s")

    cache_dir = out / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    figure, npz = out / "tuning_curves.png", out / "tuning_curves.npz"
    results = {}
    with LocalDandiServer({ASSET: path}, dandiset_id="000582", latency=latency) as dandi:
        url = f"dandi://000582/{ASSET}"
        say(f"2. publishing it as {url} on a local DANDI API server ({dandi.api_url}),")
        say(f"   its bytes on an S3-like server with {latency * 1000:.0f} ms added latency per request")
        for label in ("cold", "warm"):
            dandi.s3.reset_stats()
            dandi.api.reset_stats()
            res = _run_job_subprocess(url, cache_dir, nb_bins, figure if label == "cold" else None,
                                      npz if label == "cold" else None, {"NAPSTREAM_DANDI_API_URL": dandi.api_url})
            res["server_requests"] = int(dandi.s3.stats.requests)
            res["server_bytes"] = int(dandi.s3.stats.bytes_sent)
            res["api_requests"] = int(dandi.api.stats.requests)
            results[label] = res
            if label == "cold":
                say(f'3. streamed like any DANDI asset: nap.NWBFile("{url}") ->')
                say("   " + res["table"].replace("\n", "\n   "))
    cold, warm = results["cold"], results["warm"]
    say(f"4. 2-D tuning curves ({nb_bins}x{nb_bins}) of {cold['n_units']} units, streamed, saved to {figure}")
    say("")
    say(f"   {'':24s}{'cold cache':>12s}{'warm cache':>12s}")
    say(f"   {'DANDI API requests':24s}{cold['api_requests']:>12d}{warm['api_requests']:>12d}")
    say(f"   {'HTTP requests (file)':24s}{cold['server_requests']:>12d}{warm['server_requests']:>12d}")
    say(f"   {'bytes fetched':24s}{format_bytes(cold['server_bytes']):>12s}{format_bytes(warm['server_bytes']):>12s}")
    say(f"   {'open + list (s)':24s}{cold['open_seconds']:>12.2f}{warm['open_seconds']:>12.2f}")
    say(f"   {'whole job (s)':24s}{cold['seconds']:>12.2f}{warm['seconds']:>12.2f}")
    say(f"   {'peak memory':24s}{format_bytes(cold['peak_rss']):>12s}{format_bytes(warm['peak_rss']):>12s}")
    say("")
    say("   DANDI API requests   resolving dandi:// (dandiset, version, asset by path, download redirect)")
    say("   HTTP requests (file) range requests to the file's server (coalesced, concurrent)")
    say(f"   bytes fetched        what that server sent; the file is {format_bytes(size)}, the cold run fetched "
        f"{100.0 * cold['server_bytes'] / max(size, 1):.0f}% of it, the warm run "
        f"{100.0 * warm['server_bytes'] / max(size, 1):.0f}% (the rest came from the block cache)")
    say("   open + list          NWBFile(url) and its contents table, DANDI resolution included, Python imports not")
    say("   whole job            open, units, position and the tuning curves of every unit")
    say("   peak memory          the streaming process's peak resident memory (Python, numpy, h5py included)")
    say("")
    say(f"   files: the session {path}, the block cache {cache_dir}, the maps {figure} and {npz}")
    say(f"   (remove them with: rm -r {out})")
    return {"file_size": size, "figure": str(figure), "npz": str(npz), **results}
