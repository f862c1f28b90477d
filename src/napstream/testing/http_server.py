"""A loopback HTTP/1.1 server with full Range support, latency, bandwidth caps and fault injection.

:class:`RangeHTTPServer` serves the files under a folder (or an explicit mapping of URL paths to
files) on ``127.0.0.1`` at a random port. It is a real threaded server with keep-alive, so the
remote byte sources are tested against the same wire behaviour they meet on S3 or DANDI:

* ``HEAD`` and ``GET``; ``Range: bytes=a-b``, ``bytes=a-``, ``bytes=-n`` (206 + ``Content-Range``),
  several ranges (206 ``multipart/byteranges``), 416 for unsatisfiable ranges;
* ``Accept-Ranges``, ``Content-Length``, ``ETag`` and ``Last-Modified`` derived from the file's
  mtime and size (changing the file changes the ETag); ``If-Match`` (412) and ``If-Range``;
* query strings are ignored for the file lookup (presigned-URL look-alikes work);
* ``/redirect/<relpath>`` answers ``302`` to ``/<relpath>`` (query kept), like DANDI's download;
* ``latency`` seconds added to every request, ``bandwidth`` bytes/s cap per response, ``link``
  bytes/s cap shared by all responses (:class:`LinkCap`, a token bucket across connections);
* faults (:class:`FaultPlan`) applied to the next N matching requests or with a seeded
  probability: dropped connections, 503 bursts, 429 + ``Retry-After``, slow responses, stalls,
  truncated bodies, wrong ``Content-Range``, ``Range`` ignored, changing ETags, server gone, and
  a ``trickle`` (one byte every ``delay`` seconds);
* ``validators="none"`` sends neither ETag nor Last-Modified, ``"constant"`` the same ones whatever
  the file holds (servers whose validators do not follow the content).

The server's jobs live in modules of their own: :mod:`.faults` (what to inject),
:mod:`.pacing` (the per-response and shared link caps), :mod:`.http_handler` (answering requests,
with a copy-free ``sendfile`` path for bodies no fault touches); :mod:`.server_process` runs a
server in a process of its own (benchmarks: the server's CPU is not the client's).

Everything is bounded: stalls and delays have a maximum duration and end early on :meth:`stop`,
which closes the listening socket and every open connection.

Examples
--------
>>> import pathlib, tempfile, urllib.request
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "data.bin").write_bytes(bytes(range(100)))
>>> with RangeHTTPServer(root) as server:
...     req = urllib.request.Request(server.url_for("data.bin"), headers={"Range": "bytes=10-13"})
...     with urllib.request.urlopen(req) as resp:
...         print(resp.status, resp.headers["Content-Range"], list(resp.read()))
206 bytes 10-13/100 [10, 11, 12, 13]
"""

from __future__ import annotations

import collections
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import InvalidInputError, InvalidTypeError
from .faults import FAULT_KINDS, MAX_DELAY, FaultPlan
from .http_handler import Handler, Response, parse_range_header
from .pacing import LinkCap

__all__ = [
    "RangeHTTPServer",
    "FaultPlan",
    "FAULT_KINDS",
    "MAX_DELAY",
    "ServerStats",
    "RequestRecord",
    "Response",
    "parse_range_header",
    "LinkCap",
]

VALIDATORS = ("file", "none", "constant")


class RequestRecord(NamedTuple):
    """One request seen by the server: method, URL path (no query) and Range header (or None)."""

    method: str
    path: str
    range: str | None


@dataclass
class ServerStats:
    """A snapshot of a server's counters (see :attr:`RangeHTTPServer.stats`)."""

    requests: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    records: list[RequestRecord] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    connections: int = 0

    @property
    def ranges(self) -> list[str]:
        """The Range headers of the requests that had one, in order."""
        return [r.range for r in self.records if r.range is not None]

    def bytes_sent_twice(self, size: int) -> int:
        """Bytes of a ``size``-byte file that the answered Range headers asked for more than once.

        >>> stats = ServerStats(records=[RequestRecord("GET", "/f", "bytes=0-9"),
        ...                              RequestRecord("GET", "/f", "bytes=5-14")])
        >>> stats.bytes_sent_twice(100)
        5
        """
        spans = sorted(s for header in self.ranges for s in parse_range_header(header, size) or [])
        twice, reach = 0, -1
        for first, last in spans:
            if first <= reach:
                twice += min(last, reach) - first + 1
            reach = max(reach, last)
        return twice


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    #: listen backlog: socketserver's default (5) drops the SYNs of a client opening more
    #: connections at once (a read-ahead's fetchers), each then retried by TCP after 1 s
    request_queue_size = 128
    owner: "RangeHTTPServer"

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.owner._gone.is_set() or self.owner._stopping.is_set():
            self.shutdown_request(request)
            return
        self.owner._track(request, add=True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._track(request, add=False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client resets and injected faults are expected; keep test output clean


class RangeHTTPServer:
    """A threaded loopback HTTP/1.1 server serving files with Range support and fault injection.

    Parameters
    ----------
    root : str, os.PathLike or Mapping[str, path]
        Folder whose files are served (``/rel/path`` -> ``root/rel/path``), or a mapping of URL
        paths (``"blobs/abc"``) to local files.
    latency : float
        Seconds added before every response (capped at :data:`MAX_DELAY`).
    bandwidth : int or None
        Cap of each response body in bytes per second (None: unlimited).
    link : int or None
        Cap in bytes per second shared by all response bodies at once, across connections
        (None: unlimited); with ``bandwidth`` and ``latency`` it models a real link.
    host : str
        Address to bind; only ``127.0.0.1`` (or ``localhost``) is allowed.
    port : int
        Port (0: a random free port).
    faults : iterable of FaultPlan
        Faults active from the start (see :meth:`set_faults`).
    app : callable or None
        Optional hook ``app(method, path, query, headers) -> Response | None`` consulted before the
        file lookup (used by the local DANDI API server); None falls through to the files.
    max_records : int
        Most recent request records kept in ``stats.records`` (counters are never capped).
    validators : str
        ``"file"`` (ETag and Last-Modified from the file's mtime and size), ``"none"`` (neither
        header) or ``"constant"`` (the same ETag and Last-Modified whatever the file holds).
    sendfile : bool
        Send file bodies that no fault touches with ``sendfile`` (default True, the cheap path);
        False copies every body through Python (the path the faults take), e.g. to compare costs.

    Examples
    --------
    >>> import pathlib, tempfile, urllib.request
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_bytes(b"hello")
    >>> with RangeHTTPServer(root, latency=0.01) as server:
    ...     print(urllib.request.urlopen(server.url_for("a.txt")).read(), server.stats.requests)
    b'hello' 1
    """

    def __init__(
        self,
        root: str | os.PathLike | Mapping[str, str | os.PathLike],
        latency: float = 0.0,
        bandwidth: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[FaultPlan] = (),
        app: Callable[[str, str, dict[str, list[str]], Any], Response | None] | None = None,
        max_records: int = 100_000,
        validators: str = "file",
        link: int | None = None,
        sendfile: bool = True,
    ) -> None:
        if validators not in VALIDATORS:
            raise InvalidInputError(f"validators must be one of {VALIDATORS}, got {validators!r}")
        self.validators = validators
        self.sendfile = bool(sendfile)
        self.link = None if link is None else LinkCap(link)
        if isinstance(root, Mapping):
            self.root: Path | None = None
            self.files = {str(k).lstrip("/"): Path(v) for k, v in root.items()}
        elif isinstance(root, (str, os.PathLike)):
            self.root = Path(root).resolve()
            if not self.root.is_dir():
                raise InvalidInputError(f"root must be an existing folder, got {str(root)!r}")
            self.files = {}
        else:
            raise InvalidTypeError(f"root must be a folder path or a mapping of URL paths to files, got {type(root).__name__}")
        if host not in ("127.0.0.1", "localhost"):
            raise InvalidInputError(f"host must be '127.0.0.1' (loopback only), got {host!r}")
        if not isinstance(latency, (int, float)) or not 0 <= latency <= MAX_DELAY:
            raise InvalidInputError(f"latency must be a number of seconds in [0, {MAX_DELAY}], got {latency!r}")
        if bandwidth is not None and (isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or bandwidth <= 0):
            raise InvalidInputError(f"bandwidth must be a positive number of bytes/s or None, got {bandwidth!r}")
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 0:
            raise InvalidInputError(f"max_records must be a non-negative integer, got {max_records!r}")
        self.max_records = max_records
        self.latency = float(latency)
        self.bandwidth = bandwidth
        self.app = app
        self._host, self._port = "127.0.0.1", int(port)
        self._lock = threading.Lock()
        self._stats = self._new_stats()
        self._faults: list[FaultPlan] = []
        self._etag_salt = 0
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._gone = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(*faults)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "RangeHTTPServer":
        """Bind and start serving in a background thread; returns self."""
        if self._server is not None:
            return self
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._stopping.clear()
        self._gone.clear()
        server = _Server((self._host, self._port), Handler)
        server.owner = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"RangeHTTPServer:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection (returns fast)."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._close_connections()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self) -> "RangeHTTPServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def go_away(self) -> None:
        """Simulate a server that disappeared: refuse new connections and close open ones."""
        self._gone.set()
        server, self._server = self._server, None
        if server is not None:
            threading.Thread(target=self._close_listener, args=(server,), daemon=True).start()
        self._close_connections()

    def _close_listener(self, server: _Server) -> None:
        server.shutdown()
        server.server_close()

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(sock)
                self._stats.connections += 1
            else:
                self._conns.discard(sock)

    def _close_connections(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    # -- addresses -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (0 before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._port == 0:
            raise InvalidInputError("the server is not running: call start() or use it as a context manager")
        return f"http://{self._host}:{self._port}"

    def url_for(self, relative_path: str | os.PathLike, query: str | None = None) -> str:
        """URL of a served file (``relative_path`` under ``root``), with an optional query string.

        Examples
        --------
        >>> import tempfile
        >>> with RangeHTTPServer(tempfile.mkdtemp()) as s:
        ...     s.url_for("sub/x.nwb").endswith("/sub/x.nwb")
        True
        """
        rel = Path(relative_path).as_posix().lstrip("/") if not isinstance(relative_path, str) else relative_path.lstrip("/")
        url = f"{self.url}/{urllib.parse.quote(rel)}"
        return f"{url}?{query}" if query else url

    # -- stats and faults ----------------------------------------------------------------------
    @property
    def stats(self) -> ServerStats:
        """A consistent snapshot of the counters (thread-safe)."""
        with self._lock:
            s = self._stats
            return ServerStats(s.requests, dict(s.by_method), s.bytes_sent, list(s.records),
                               dict(s.by_status), dict(s.faults), s.connections)

    def reset_stats(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._stats = self._new_stats()

    def set_faults(self, *plans: FaultPlan | str, **plan_kwargs: Any) -> list[FaultPlan]:
        """Replace the active faults; returns the active :class:`FaultPlan` objects.

        Each positional argument is a :class:`FaultPlan` or a kind string; keyword arguments
        (with a single kind string, or alone with ``kind=``) build one plan.

        Examples
        --------
        >>> import tempfile
        >>> s = RangeHTTPServer(tempfile.mkdtemp())
        >>> [p.kind for p in s.set_faults("503", count=2)]
        ['503']
        >>> s.set_faults()
        []
        """
        built: list[FaultPlan] = []
        strings = [p for p in plans if isinstance(p, str)]
        if plan_kwargs and len(strings) > 1:
            raise InvalidInputError("set_faults: keyword options apply to one kind string; pass FaultPlan objects")
        for p in plans:
            if isinstance(p, str):
                built.append(FaultPlan(p, **plan_kwargs))
            elif isinstance(p, FaultPlan):
                built.append(p)
            else:
                raise InvalidTypeError(f"set_faults expects FaultPlan objects or kind strings, got {type(p).__name__}")
        if plan_kwargs and not strings:
            built.append(FaultPlan(**plan_kwargs))
        with self._lock:
            self._faults = built
        return list(built)

    def add_fault(self, plan: FaultPlan | str, **plan_kwargs: Any) -> FaultPlan:
        """Add one fault to the active ones and return it."""
        plan = FaultPlan(plan, **plan_kwargs) if isinstance(plan, str) else plan
        if not isinstance(plan, FaultPlan):
            raise InvalidTypeError(f"plan must be a FaultPlan or a kind string, got {type(plan).__name__}")
        with self._lock:
            self._faults.append(plan)
        return plan

    def clear_faults(self) -> None:
        """Remove every active fault."""
        with self._lock:
            self._faults = []

    @property
    def faults(self) -> list[FaultPlan]:
        """The active fault plans (their ``fired`` counters show what happened)."""
        with self._lock:
            return list(self._faults)

    def _new_stats(self) -> ServerStats:
        stats = ServerStats()
        stats.records = collections.deque(maxlen=self.max_records)  # type: ignore[assignment]
        return stats

    def _pick_fault(self, method: str, path: str, has_range: bool) -> FaultPlan | None:
        with self._lock:
            for plan in self._faults:
                if plan._fire(method, path, has_range):
                    self._stats.faults[plan.kind] = self._stats.faults.get(plan.kind, 0) + 1
                    return plan
        return None

    def _record(self, method: str, path: str, rng: str | None) -> None:
        with self._lock:
            s = self._stats
            s.requests += 1
            s.by_method[method] = s.by_method.get(method, 0) + 1
            s.records.append(RequestRecord(method, path, rng))

    def _count(self, status: int | None = None, nbytes: int = 0) -> None:
        with self._lock:
            if status is not None:
                self._stats.by_status[status] = self._stats.by_status.get(status, 0) + 1
            self._stats.bytes_sent += nbytes

    def _next_etag_salt(self) -> int:
        with self._lock:
            self._etag_salt += 1
            return self._etag_salt

    #: waits up to this long sleep through (the stop is looked at when they end)
    short_wait = 0.05

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (capped), returning early (True) when the server stops.

        The pacing of every body waits a few milliseconds per slice, hundreds of times a second
        on a fast link: such short waits are one ``time.sleep`` (a system call) rather than a wait
        on the stop event (a lock made and dropped, more wake-ups); about a tenth less server CPU.
        """
        seconds = min(max(seconds, 0.0), MAX_DELAY)
        if seconds <= self.short_wait:
            if seconds > 0:
                time.sleep(seconds)
            return self._stopping.is_set() or self._gone.is_set()
        return self._stopping.wait(seconds) or self._gone.is_set()

    def resolve(self, path: str) -> Path | None:
        """Local file served at URL path ``path`` (None when there is none or it escapes root)."""
        rel = path.lstrip("/")
        if self.root is None:
            local = self.files.get(rel)
            return local if local is not None and local.is_file() else None
        candidate = (self.root / rel).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate if candidate.is_file() else None
