"""Request handling of the loopback test server: ranges, validators, faults, paced bodies.

:class:`Handler` answers one keep-alive connection of a
:class:`~napstream.testing.http_server.RangeHTTPServer` (its ``server.owner``). A file body with no
fault that touches it goes out with ``sendfile`` in slices paced by :mod:`.pacing` (no copy
through Python: the server should cost the machine it shares with the client as little CPU as a
remote object store would); bodies cut, trickled or built in memory go through the copying path
in blocks of 64 KiB.

Examples
--------
>>> parse_range_header("bytes=-10", 100)
[(90, 99)]
"""

from __future__ import annotations

import email.utils
import socket
import struct
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from .faults import BODY_FAULTS, FaultPlan
from .pacing import BLOCK, Pace, slice_bytes

__all__ = ["Handler", "Response", "parse_range_header"]

#: fault kinds that leave the body alone (it may take the copy-free path)
_BODY_SAFE = ("slow", "change_etag", "bad_content_range", "ignore_range")


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


class Handler(BaseHTTPRequestHandler):
    """Request handler of :class:`RangeHTTPServer` (one per connection; keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "napstream-test/1.0"
    timeout = 15.0  # idle keep-alive connections and stuck writes end after this
    server: Any  # http_server._Server, whose owner is the RangeHTTPServer

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
        cut = fault is not None and fault.kind in BODY_FAULTS
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
        limit = int(total * fault.fraction) if kind in BODY_FAULTS and fault is not None else total
        sent = self._write_pieces(local, pieces, limit, fault.delay if kind == "trickle" and fault else None, fault)
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

    def _write_pieces(self, local: Path, pieces: list[Any], limit: int, trickle: float | None = None,
                      fault: FaultPlan | None = None) -> int:
        """Write the body pieces (bytes or (offset, length) of the file) up to ``limit`` bytes."""
        owner = self.server.owner
        if trickle is None and (fault is None or fault.kind in _BODY_SAFE) and owner.sendfile:
            return self._sendfile_pieces(local, pieces, limit)
        pace = Pace(owner.bandwidth if trickle is None else 1.0 / max(trickle, 1e-3), owner.link, owner.wait)
        block = (BLOCK if pace.slowest is None else 1 if trickle is not None
                 else int(min(BLOCK, max(512, pace.slowest / 20))))
        with open(local, "rb") as fh:
            for piece in pieces:
                for data in self._chunks(fh, piece, block):
                    if self._write_paced(data, pace, limit):
                        return pace.sent
        return pace.sent

    def _write_paced(self, data: bytes, pace: Pace, limit: int) -> bool:
        """Write ``data`` (cut at ``limit`` bytes sent) when ``pace`` allows; True: the body ends here."""
        data = data[: max(0, limit - pace.sent)]
        if pace.before(len(data)):
            return True
        if data:
            self._write(data)
        return bool(pace.after(len(data)) or pace.sent >= limit)

    def _sendfile_pieces(self, local: Path, pieces: list[Any], limit: int) -> int:
        """The copy-free path: file slices go out with ``sendfile``, paced like the copying path."""
        owner = self.server.owner
        pace = Pace(owner.bandwidth, owner.link, owner.wait)
        step = slice_bytes(pace.slowest)
        with open(local, "rb") as fh:
            for piece in pieces:
                if isinstance(piece, bytes):
                    if self._write_paced(piece, pace, limit):
                        return pace.sent
                    continue
                offset, length = piece
                end = offset + min(length, limit - pace.sent)
                while offset < end:
                    n = min(step, end - offset)
                    if pace.before(n):
                        return pace.sent
                    owner._count(nbytes=n)
                    try:
                        done = self.connection.sendfile(fh, offset, n)
                    except OSError:
                        owner._count(nbytes=-n)
                        raise
                    if done < n:  # the file shrank under us: end the body short (the client sees it)
                        owner._count(nbytes=done - n)
                        pace.after(done)
                        return pace.sent
                    offset += n
                    if pace.after(n):
                        return pace.sent
                if pace.sent >= limit:
                    return pace.sent
        return pace.sent

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
