"""Remote sources clean up silently: no aiohttp "Unclosed client session" / "Unclosed connector"
block on stderr when a source is garbage-collected without ``close()`` (a notebook cell re-run, a
loop over files), when an open fails, or when a source used from a worker thread is freed.

The check runs in a fresh interpreter because aiohttp reports unclosed sessions from their
finalizers through asyncio's logger, i.e. on the process's stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pynwb")

SCRIPT = textwrap.dedent(
    """
    import gc, sys, threading
    from pathlib import Path
    import h5py, numpy as np
    import napstream as nap
    from napstream.io import open_source
    from napstream.testing import RangeHTTPServer, write_session

    root = Path(sys.argv[1])
    write_session(root / "s.nwb", duration=20.0, n_units=2, n_channels=2)
    (root / "junk.nwb").write_bytes(b"x" * 100_000)
    with h5py.File(root / "plain.h5", "w") as f:
        f["a"] = np.arange(10)
    server = RangeHTTPServer(root).start()
    # re-running a cell / a loop over files: each NWBFile replaced without close()
    for _ in range(3):
        nwb = nap.NWBFile(server.url_for("s.nwb"))
        units = nwb["units"]
        _ = units[units.keys()[0]].t[:5]
    del nwb, units
    gc.collect()
    # failed opens: not HDF5, HDF5 but not NWB, missing
    for name in ("junk.nwb", "plain.h5", "missing.nwb"):
        try:
            nap.NWBFile(server.url_for(name))
        except Exception as err:
            print(name, type(err).__name__)
    gc.collect()
    # a byte source read from a worker thread, freed in the main thread
    src = open_source(server.url_for("junk.nwb"))
    worker = threading.Thread(target=lambda: src.read_range(50_000, 50_100))
    worker.start(); worker.join()
    del src
    gc.collect()
    server.stop()
    print("done")
    """
)


@pytest.mark.slow
def test_unclosed_remote_sources_leave_no_aiohttp_noise(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "NAPSTREAM_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "www")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["junk.nwb", "FileFormatError", "plain.h5", "NotNWBError",
                                   "missing.nwb", "RemoteNotFoundError", "done"]
    assert "Unclosed" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip() == "", proc.stderr[-3000:]
