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
import email.utils
import os
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import InvalidInputError, InvalidTypeError

__all__ = [
    "RangeHTTPServer",
    "FaultPlan",
    "FAULT_KINDS",
    "ServerStats",
    "RequestRecord",
    "Response",
    "parse_range_header",
    "LinkCap",
]

FAULT_KINDS = (
    "drop",               # send the headers and part of the body, then reset the connection
    "truncate",           # correct Content-Length, shorter body, then close the connection
    "stall",              # send the headers and part of the body, then stall `delay` s, then close
    "slow",               # wait `delay` s before answering normally
    "503",                # 503 Service Unavailable (a burst with count=N)
    "429",                # 429 Too Many Requests with Retry-After: `retry_after`
    "status",             # any error status (`status=`), e.g. 403 for an expired presigned URL
    "bad_content_range",  # 206 with a Content-Range that does not match the request
    "ignore_range",       # answer a Range request with 200 and the whole file
    "change_etag",        # a different ETag on each matching request
    "gone",               # close the connection without answering and stop accepting connections
    "trickle",            # send the body one byte every `delay` s (never silent long enough to time out)
)
_BODY_FAULTS = ("drop", "truncate", "stall")
VALIDATORS = ("file", "none", "constant")
_RANGE_FAULTS = ("bad_content_range", "ignore_range")
MAX_DELAY = 30.0
"""Upper bound (seconds) of any stall, delay or added latency: the server never hangs longer."""
_BLOCK = 64 * 1024


@dataclass
class FaultPlan:
    """One fault to inject into matching requests.

    Parameters
    ----------
    kind : str
        One of :data:`FAULT_KINDS`.
    count : int or None
        Apply to the next ``count`` matching requests (default 1 when ``probability`` is None;
        None with a probability means no limit).
    probability : float or None
        Apply to each matching request with this probability (seeded RNG).
    seed : int
        Seed of the RNG used with ``probability``.
    path : str or None
        Only requests whose path contains this substring match (None: every path).
    methods : tuple of str or None
        Methods that match (None: ``GET`` for body faults, ``GET``/``HEAD`` otherwise).
        ``bad_content_range`` and ``ignore_range`` match only requests with a ``Range`` header.
    skip : int
        Let this many matching requests through before the fault starts.
    delay : float
        Seconds of a ``slow`` wait or a ``stall`` (capped at :data:`MAX_DELAY`).
    fraction : float
        Fraction of the body sent before ``drop``/``truncate``/``stall`` cut it.
    retry_after : float
        Value of the ``Retry-After`` header of a ``429``.
    status : int
        Status code of a ``status`` fault.

    Examples
    --------
    >>> FaultPlan("503", count=3).count
    3
    """

    kind: str
    count: int | None = None
    probability: float | None = None
    seed: int = 0
    path: str | None = None
    methods: tuple[str, ...] | None = None
    skip: int = 0
    delay: float = 5.0
    fraction: float = 0.5
    retry_after: float = 1.0
    status: int = 500
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _seen: int = field(default=0, repr=False, compare=False)
    _fired: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise InvalidInputError(f"FaultPlan kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise InvalidInputError(f"FaultPlan probability must be in [0, 1], got {self.probability!r}")
        if self.count is None and self.probability is None:
            self.count = 1
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0):
            raise InvalidInputError(f"FaultPlan count must be a non-negative integer or None, got {self.count!r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise InvalidInputError(f"FaultPlan fraction must be in [0, 1], got {self.fraction!r}")
        if self.delay < 0:
            raise InvalidInputError(f"FaultPlan delay must be >= 0 seconds, got {self.delay!r}")
        if self.methods is None:
            self.methods = ("GET",) if self.kind in _BODY_FAULTS else ("GET", "HEAD")
        self.methods = tuple(m.upper() for m in self.methods)
        self._rng = random.Random(self.seed)

    @property
    def fired(self) -> int:
        """How many requests this fault was applied to."""
        return self._fired

    @property
    def exhausted(self) -> bool:
        """True when the fault will not fire again."""
        return self.count is not None and self._fired >= self.count

    def _matches(self, method: str, path: str, has_range: bool) -> bool:
        if method not in self.methods or (self.path is not None and self.path not in path):
            return False
        return has_range or self.kind not in _RANGE_FAULTS

    def _fire(self, method: str, path: str, has_range: bool) -> bool:
        """Decide (and count) whether this request gets the fault. Call under the server lock."""
        if self.exhausted or not self._matches(method, path, has_range):
            return False
        self._seen += 1
        if self._seen <= self.skip:
            return False
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self._fired += 1
        return True


class LinkCap:
    """A link of ``rate`` bytes/s shared by every response of a server (a token bucket).

    Senders reserve their bytes before writing them; reservations are served in arrival order
    at ``rate``, so concurrent responses split the link between them and together never exceed
    ``rate`` (plus one ``burst`` of bytes after an idle spell).

    Parameters
    ----------
    rate : float
        Bytes per second of the whole link.
    burst : int
        Bytes that may go out at once after the link was idle (default 64 KiB).

    Examples
    --------
    >>> link = LinkCap(1000.0, burst=0)
    >>> round(link.reserve(500), 2), round(link.reserve(500), 2)   # the second waits for the first
    (0.5, 1.0)
    """

    def __init__(self, rate: float, burst: int = _BLOCK) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise InvalidInputError(f"link must be a positive number of bytes/s or None, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(int(burst), 0)
        self._next = 0.0  # monotonic time at which the link is free again
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> float:
        """Book ``nbytes`` on the link; returns the seconds to wait before they are on the wire."""
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - self.burst / self.rate)
            self._next = start + nbytes / self.rate
            return max(0.0, self._next - now)


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


@dataclass
class Response:
    """A response built by an ``app`` hook of :class:`RangeHTTPServer` (small bodies only)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def parse_range_header(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header into inclusive ``(first, last)`` byte pairs.

    Returns None when the header is absent or syntactically invalid (the whole file is then
    served, as RFC 9110 says), ``[]`` when no range is satisfiable (416), else the ranges
    clipped to the file.

    Examples
    --------
    >>> parse_range_header("bytes=0-9, -5, 95-", 100)
    [(0, 9), (95, 99), (95, 99)]
    >>> parse_range_header("bytes=200-", 100)
    []
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    out = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        if not dash or not (first.isdigit() or last.isdigit()):
            return None
        if (first and not first.isdigit()) or (last and not last.isdigit()):
            return None
        if not first:  # suffix range: the last n bytes
            n = int(last)
            if n > 0 and size > 0:
                out.append((max(0, size - n), size - 1))
            continue
        a = int(first)
        b = int(last) if last else size - 1
        if last and b < a:
            return None
        if a < size:
            out.append((a, min(b, size - 1)))
    return out


def _http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
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
    ) -> None:
        if validators not in VALIDATORS:
            raise InvalidInputError(f"validators must be one of {VALIDATORS}, got {validators!r}")
        self.validators = validators
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
        server = _Server((self._host, self._port), _Handler)
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

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (capped), returning early (True) when the server stops."""
        return self._stopping.wait(min(max(seconds, 0.0), MAX_DELAY)) or self._gone.is_set()

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



class _Handler(BaseHTTPRequestHandler):
    """Request handler of :class:`RangeHTTPServer` (one per connection; keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "napstream-test/1.0"
    timeout = 15.0  # idle keep-alive connections and stuck writes end after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every keep-alive request and swamp the configured latency
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    # -- dispatch --------------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        owner = self.server.owner
        if owner._gone.is_set():  # a connection that slipped past go_away(): no answer either
            self.close_connection = True
            return
        parsed = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parsed.path)
        rng = self.headers.get("Range")
        owner._record(method, path, rng)
        fault = owner._pick_fault(method, path, rng is not None)
        if owner.latency:
            owner.wait(owner.latency)
        if fault is not None and self._early_fault(fault, method):
            return
        if owner.app is not None:
            resp = owner.app(method, path, urllib.parse.parse_qs(parsed.query), self.headers)
            if resp is not None:
                self._send_small(resp, method, fault)
                return
        if path.startswith("/redirect/"):
            target = urllib.parse.quote("/" + path[len("/redirect/"):])
            target += f"?{parsed.query}" if parsed.query else ""
            self._send_small(Response(302, b"", {"Location": target}, "text/plain"), method)
            return
        local = owner.resolve(path)
        if local is None:
            self._send_small(Response(404, f"no file at {path}".encode(), content_type="text/plain"), method)
            return
        self._send_file(method, local, rng, fault)

    def _early_fault(self, fault: FaultPlan, method: str) -> bool:
        """Apply faults that replace the response; True when the request is answered."""
        kind = fault.kind
        if kind == "slow":
            self.server.owner.wait(fault.delay)
            return False
        if kind == "gone":
            self.close_connection = True
            self.server.owner.go_away()
            return True
        if kind in ("503", "429", "status"):
            status = {"503": 503, "429": 429}.get(kind, fault.status)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if kind == "429" else {}
            self._send_small(Response(status, f"injected fault {kind}".encode(), headers, "text/plain"), method)
            return True
        return False

    # -- responses -------------------------------------------------------------------------------
    def _start(self, status: int, headers: Mapping[str, str | int]) -> None:
        self.server.owner._count(status=status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()

    def _send_small(self, resp: Response, method: str, fault: FaultPlan | None = None) -> None:
        headers: dict[str, str | int] = {"Content-Type": resp.content_type, "Content-Length": len(resp.body)}
        headers.update(resp.headers)
        self._start(resp.status, headers)
        if method == "HEAD" or not resp.body:
            return
        cut = fault is not None and fault.kind in _BODY_FAULTS
        self._write(resp.body[: int(len(resp.body) * fault.fraction)] if cut and fault is not None else resp.body)
        if cut:
            self._cut(fault)

    def _write(self, data: bytes) -> None:
        """Count, then send (so a client never sees bytes the stats do not show yet)."""
        self.server.owner._count(nbytes=len(data))
        try:
            self.wfile.write(data)
        except OSError:
            self.server.owner._count(nbytes=-len(data))
            raise

    def _send_file(self, method: str, local: Path, rng: str | None, fault: FaultPlan | None) -> None:
        owner = self.server.owner
        st = local.stat()
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        if fault is not None and fault.kind == "change_etag":
            etag = f'"{st.st_mtime_ns:x}-{size:x}-{owner._next_etag_salt()}"'
        headers: dict[str, str | int] = {
            "Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": _http_date(st.st_mtime),
            "Content-Type": "application/octet-stream",
        }
        if owner.validators == "constant":
            etag = headers["ETag"] = '"constant"'
            headers["Last-Modified"] = _http_date(0.0)
        elif owner.validators == "none":
            etag = "\x00none"  # matches no If-Match / If-Range
            del headers["ETag"], headers["Last-Modified"]
        kind = fault.kind if fault is not None else None
        if_match = self.headers.get("If-Match")
        if if_match is not None and if_match.strip() not in ("*", etag):
            headers["Content-Length"] = 0
            self._start(412, headers)
            return
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range.strip() not in (etag, headers.get("Last-Modified")):
            rng = None  # RFC 9110 If-Range: the representation changed, send all of it
        ranges = None if kind == "ignore_range" else parse_range_header(rng, size)
        if ranges == []:
            headers.update({"Content-Range": f"bytes */{size}", "Content-Length": 0})
            self._start(416, headers)
            return
        if ranges is None:
            status, pieces = 200, [(0, size)]
        elif len(ranges) == 1:
            (a, b), status = ranges[0], 206
            shift = max(1, (b - a + 1) // 2) if kind == "bad_content_range" else 0
            headers["Content-Range"] = f"bytes {a + shift}-{b + shift}/{size}"
            pieces = [(a, b - a + 1)]
        else:
            status, pieces = 206, self._multipart(ranges, size, headers)
        total = sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)
        headers["Content-Length"] = total
        self._start(status, headers)
        if method == "HEAD":
            return
        limit = int(total * fault.fraction) if kind in _BODY_FAULTS and fault is not None else total
        sent = self._write_pieces(local, pieces, limit, fault.delay if kind == "trickle" and fault else None)
        if sent < total:
            self._cut(fault)

    def _multipart(self, ranges: list[tuple[int, int]], size: int, headers: dict[str, str | int]) -> list[Any]:
        boundary = "napstream-byteranges"
        headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
        pieces: list[Any] = []
        for a, b in ranges:
            part = (f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Range: bytes {a}-{b}/{size}\r\n\r\n")
            pieces += [part.encode(), (a, b - a + 1)]
        pieces.append(f"\r\n--{boundary}--\r\n".encode())
        return pieces

    def _chunks(self, fh: Any, piece: Any, block: int) -> Iterable[bytes]:
        if isinstance(piece, bytes):
            yield piece
            return
        offset, length = piece
        fh.seek(offset)
        while length > 0:
            data = fh.read(min(block, length))
            if not data:
                return
            length -= len(data)
            yield data

    def _write_pieces(self, local: Path, pieces: list[Any], limit: int, trickle: float | None = None) -> int:
        """Write the body pieces (bytes or (offset, length) of the file) up to ``limit`` bytes."""
        owner = self.server.owner
        bw = owner.bandwidth if trickle is None else 1.0 / max(trickle, 1e-3)
        link = owner.link
        slowest = min(r for r in (bw, link.rate if link is not None else None, float("inf")) if r is not None)
        block = (_BLOCK if slowest == float("inf") else 1 if trickle is not None
                 else int(min(_BLOCK, max(512, slowest / 20))))
        sent, t0 = 0, time.monotonic()
        with open(local, "rb") as fh:
            for piece in pieces:
                for data in self._chunks(fh, piece, block):
                    data = data[: max(0, limit - sent)]
                    if data and link is not None and owner.wait(link.reserve(len(data))):
                        return sent
                    if data:
                        self._write(data)
                        sent += len(data)
                    if bw is not None and owner.wait(t0 + sent / bw - time.monotonic()):
                        return sent
                    if sent >= limit:
                        return sent
        return sent

    def _cut(self, fault: FaultPlan | None) -> None:
        """End a response whose body was cut short: reset, stall-then-close or close."""
        self.close_connection = True
        if fault is not None and fault.kind == "stall":
            self.server.owner.wait(fault.delay)
        if fault is not None and fault.kind == "drop":
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
