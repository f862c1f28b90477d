"""A :class:`~napstream.testing.http_server.RangeHTTPServer` in a process of its own.

Benchmarks model a remote object store, which runs on another machine: a server in the client's
own process would take the client's CPU (and its interpreter lock). :class:`ServerProcess` starts
``python -m napstream.testing.server_process`` and talks to it over its standard input and output
(one JSON line per command): the URL, the counters, their reset, and the CPU seconds the server
process used (to tell what serving costs). The child stops when told to, or when its standard
input closes (the parent went away): it never outlives its parent.

Examples
--------
>>> import pathlib, tempfile, urllib.request
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "a.bin").write_bytes(bytes(1000))
>>> with ServerProcess(root, latency=0.0) as server:
...     data = urllib.request.urlopen(server.url_for("a.bin")).read()
...     print(len(data), server.stats.bytes_sent, server.cpu_seconds() >= 0)
1000 1000 True
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .http_server import RangeHTTPServer, ServerStats

__all__ = ["ServerProcess"]


class ServerProcess:
    """Run a :class:`RangeHTTPServer` serving the folder ``root`` in a child process.

    Parameters
    ----------
    root : str or os.PathLike
        Folder whose files are served.
    latency, bandwidth, link, validators, sendfile :
        As for :class:`RangeHTTPServer` (faults are not available across processes).
    start_timeout : float
        Seconds to wait for the child to report its port.

    Examples
    --------
    >>> import tempfile
    >>> with ServerProcess(tempfile.mkdtemp(), bandwidth=10**6) as s:
    ...     s.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, root: str | os.PathLike, latency: float = 0.0, bandwidth: float | None = None,
                 link: float | None = None, validators: str = "file", sendfile: bool = True,
                 start_timeout: float = 30.0) -> None:
        root = Path(root)
        if not root.is_dir():
            raise InvalidInputError(f"root must be an existing folder, got {str(root)!r}")
        self.options = {"root": str(root.resolve()), "latency": latency, "bandwidth": bandwidth, "link": link,
                        "validators": validators, "sendfile": bool(sendfile)}
        self.start_timeout = float(start_timeout)
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "ServerProcess":
        """Start the child and wait for its URL; returns self."""
        if self._proc is not None:
            return self
        src = str(Path(__file__).resolve().parents[2])  # this napstream, whatever the parent's path
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "napstream.testing.server_process", json.dumps(self.options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1,
        )
        try:
            self.url = self._ask(None)["url"]
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Tell the child to stop and wait for it (killed after a few seconds)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child stops when its input ends
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- commands --------------------------------------------------------------------------------
    def _ask(self, command: str | None) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise InvalidInputError("the server process is not running: call start() or use it as a context manager")
        if command is not None:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise InvalidInputError(f"the server process ended (exit code {proc.poll()})")
        return json.loads(line)

    def url_for(self, relative_path: str, query: str | None = None) -> str:
        """URL of a served file (``relative_path`` under ``root``)."""
        url = f"{self.url}/{urllib.parse.quote(str(relative_path).lstrip('/'))}"
        return f"{url}?{query}" if query else url

    @property
    def stats(self) -> ServerStats:
        """The child's counters (requests, bytes sent, statuses; request records are not copied)."""
        got = self._ask("stats")
        return ServerStats(requests=got["requests"], by_method=got["by_method"], bytes_sent=got["bytes_sent"],
                           by_status={int(k): v for k, v in got["by_status"].items()}, connections=got["connections"])

    def reset_stats(self) -> None:
        """Zero the child's counters."""
        self._ask("reset")

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the child used since it started."""
        return float(self._ask("cpu")["cpu"])


def _serve(options: dict[str, Any]) -> int:
    """The child: serve, answer commands from stdin until it closes or says ``stop``."""
    server = RangeHTTPServer(options.pop("root"), **options).start()
    out = sys.stdout

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        say({"url": server.url})
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                s = server.stats
                say({"requests": s.requests, "by_method": s.by_method, "bytes_sent": s.bytes_sent,
                     "by_status": {str(k): v for k, v in s.by_status.items()}, "connections": s.connections})
            elif command == "reset":
                server.reset_stats()
                say({"ok": True})
            elif command == "cpu":
                ru = resource.getrusage(resource.RUSAGE_SELF)
                say({"cpu": ru.ru_utime + ru.ru_stime})
            elif command == "stop":
                break
            else:
                say({"error": f"unknown command {command!r}"})
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_serve(json.loads(sys.argv[1])))
