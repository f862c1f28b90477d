"""Stand-alone reproduction of an intermittent hang of remote reads (not collected by pytest).

Run ``python tests/reliability/repro_hang.py [cycles]`` from the repository root. One long-lived
loopback server; each cycle opens the session anew (4 KiB blocks, retries=1, timeout=0.5 s), injects
a persistent 503 / 429 / drop / truncate fault into one user operation, then re-reads fault-free.
Seen on 2026-11-24 (aiohttp 3.14.5, before and after io/http.py moved requests to a private event
loop): within ~25-150 cycles everything stops. The stack dump shows the reading thread inside an
h5py call (convert._group_metadata dereferencing electrode_group references -> FileObject.readinto
-> HTTPSource) waiting in ``select``, the server's handler thread frozen in ``parse_headers`` and
another thread "Garbage-collecting": the collector finalises h5py objects (left in reference
cycles by earlier cycles) and waits for h5py's global lock, held by the reading thread, so no
thread makes progress and no timeout fires. Never seen with a fresh server per cycle (96 cycles)
nor without faults (240 cycles). When no cycle finishes for 20 s, every thread's stack is dumped
and the script exits 3.
"""

from __future__ import annotations

import faulthandler
import os
import pathlib
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import napstream as nap  # noqa: E402
from napstream.errors import NapstreamError  # noqa: E402
from napstream.testing.http_server import FaultPlan, RangeHTTPServer  # noqa: E402
from napstream.testing.sessions import write_session  # noqa: E402

from rel_common import BLOCK, OPERATIONS, SECRET, SESSION  # noqa: E402


def main(reps: int) -> None:
    root = pathlib.Path(tempfile.mkdtemp())
    write_session(root / "s.nwb", **SESSION)
    state = {"t": time.time(), "cycle": None}

    def watchdog() -> None:
        while True:
            time.sleep(1)
            if time.time() - state["t"] > 20:
                print("HANG in cycle", state["cycle"], flush=True)
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    with RangeHTTPServer(root) as server:
        url = server.url_for("s.nwb", query=SECRET)
        for rep in range(reps):
            for kind in ("drop", "503", "429", "truncate"):
                for name, op in OPERATIONS.items():
                    state["t"], state["cycle"] = time.time(), (rep, kind, name)
                    cache = tempfile.mkdtemp()
                    plan = FaultPlan(kind, count=None, probability=1.0, delay=4.0, retry_after=0.2)
                    with nap.config.override(retries=1, timeout=0.5):
                        nwb = None
                        try:
                            if name == "open_list":
                                server.set_faults(plan)
                            nwb = nap.NWBFile(url, cache_dir=cache, block_size=BLOCK)
                            server.set_faults(plan)
                            op(nwb)
                        except NapstreamError:
                            pass
                        finally:
                            server.clear_faults()
                            if nwb is not None:
                                nwb.close()
                    with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                        op(nwb)
    print("no hang in", reps * 24, "cycles")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
