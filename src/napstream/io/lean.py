"""A lean blocking HTTP/1.1 client for the bulk of a cold read: large single-range GETs.

Most bytes of a cold remote read arrive as read-ahead requests of a few megabytes, one per
fetcher thread. On aiohttp each of them runs on a private event loop and wakes its thread for
every few kilobytes that arrive (thousands of wake-ups and GIL hand-overs per run), then joins
the pieces. Here a fetcher thread sends the request on a keep-alive connection of its own and
receives the body with one blocking ``recv(n, MSG_WAITALL)``: the kernel fills one ``bytes``
object of exactly the body's length while the GIL is released (over TLS, where flags are not
allowed, with ``recv_into`` into a reused buffer).

Only the transport lives here; :class:`~napstream.io.http.HTTPSource` checks every answer
(status, ``Content-Range``, validators, length), retries, and falls back on aiohttp for anything
this client does not handle (:class:`Unsupported`: redirects, bodies without ``Content-Length``,
chunked transfer, URLs with user info). Timing rules: a silence of ``timeout`` seconds raises
:class:`Silence`; a request past its ``deadline`` (``time.monotonic()``) raises :class:`Deadline`.
TLS certificates and host names are verified (:func:`ssl.create_default_context`).

Examples
--------
>>> conn = Connection("http", "127.0.0.1", 1, timeout=1.0)
>>> conn.reused, conn.sock is None
(False, True)
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import sys
import threading
import time
from typing import Any

__all__ = ["Connection", "Unsupported", "Silence", "Deadline", "ShortBody", "tls_context"]

_MAX_HEAD = 64 * 1024
_WAITALL = getattr(socket, "MSG_WAITALL", 0)
_PEEK = getattr(socket, "MSG_PEEK", 0)
#: blocking receives with SO_RCVTIMEO as a ``struct timeval`` (POSIX); elsewhere the timeout-mode loop
_RAW_OK = sys.platform != "win32" and bool(_WAITALL) and bool(_PEEK)
_TLS: list[ssl.SSLContext] = []
_TLS_LOCK = threading.Lock()


class Unsupported(Exception):
    """An answer (or URL) this client does not handle: the caller uses its general client."""


class Silence(Exception):
    """No byte arrived for ``timeout`` seconds."""


class Deadline(Exception):
    """The request's deadline passed."""


class ShortBody(Exception):
    """The connection ended before the body (or the head) was complete."""

    def __init__(self, message: str, got: int = 0) -> None:
        super().__init__(message)
        self.got = got


def tls_context() -> ssl.SSLContext:
    """The process's verifying TLS context (certificates and host names checked), made once."""
    if not _TLS:
        with _TLS_LOCK:
            if not _TLS:
                _TLS.append(ssl.create_default_context())
    return _TLS[0]


def _timeval(seconds: float) -> bytes:
    seconds = max(seconds, 0.001)
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


class Connection:
    """One keep-alive HTTP/1.1 connection to ``scheme://host:port`` (used by one thread at a time).

    Parameters
    ----------
    scheme : str
        ``"http"`` or ``"https"``.
    host, port :
        Where to connect (``host`` as in the URL, without brackets).
    timeout : float
        Seconds of silence (connecting, or between bytes) before :class:`Silence`.
    """

    def __init__(self, scheme: str, host: str, port: int, timeout: float) -> None:
        self.scheme, self.host, self.port, self.timeout = scheme, host, int(port), float(timeout)
        self.sock: Any = None
        self._pid = os.getpid()  # a forked child must not use (or shut down) its parent's socket
        self.reused = False  # True once a response was read whole on this connection
        self._raw = True  # a plain socket (MSG_PEEK / MSG_WAITALL) rather than TLS
        self._rcvtimeo = -1.0
        self._head_extra = b""  # body bytes read along with the head (TLS only)
        self._buf = bytearray()  # the TLS receive buffer, reused

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    # -- connection ---------------------------------------------------------------------------
    def _connect(self, deadline: float) -> None:
        wait = min(self.timeout, max(deadline - time.monotonic(), 0.001))
        sock = socket.create_connection((self.host, self.port), timeout=wait)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.scheme == "https":
                sock = tls_context().wrap_socket(sock, server_hostname=self.host)
                self._raw = False
            elif not _RAW_OK:
                self._raw = False
            else:
                sock.settimeout(None)  # blocking: the receive timeout is SO_RCVTIMEO (see _arm)
                self._raw = True
                self._rcvtimeo = -1.0
        except BaseException:
            sock.close()
            raise
        self.sock, self.reused, self._head_extra, self._pid = sock, False, b"", os.getpid()

    def close(self) -> None:
        """Close the connection (another thread blocked on it wakes up with an error)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            if self._pid == os.getpid():  # shutdown() would end the connection for a parent process too
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            sock.close()

    def _arm(self, deadline: float) -> None:
        """Bound the next receive by the silence timeout and the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise Deadline()
        wait = min(self.timeout, left)
        if self._raw:
            if abs(wait - self._rcvtimeo) > 0.05:  # a system call only when it changes noticeably
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(wait))
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(wait))
                self._rcvtimeo = wait
        else:
            self.sock.settimeout(wait)

    def _recv(self, n: int, flags: int, deadline: float) -> bytes:
        self._arm(deadline)
        try:
            return self.sock.recv(n, flags)
        except (BlockingIOError, socket.timeout, ssl.SSLWantReadError):
            if time.monotonic() >= deadline:
                raise Deadline() from None
            raise Silence() from None

    # -- one request --------------------------------------------------------------------------
    def send(self, target: str, headers: dict[str, str], deadline: float) -> None:
        """Send ``GET target`` (connecting first if needed)."""
        if self.sock is not None and self._pid != os.getpid():  # inherited through fork(): not ours
            self.close()
        if self.sock is None:
            self._connect(deadline)
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.scheme == "https" else 80):
            host = f"{host}:{self.port}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._arm(deadline)
        try:
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        except (BlockingIOError, socket.timeout):
            raise Silence() from None

    def head(self, deadline: float) -> tuple[int, dict[str, str]]:
        """Status and headers (names in lower case) of the answer; the body is left to :meth:`body`."""
        head = b""
        while True:
            if self._raw:  # look, then take exactly the head: the body stays in the socket
                data = self._recv(_MAX_HEAD, _PEEK, deadline)
            else:
                data = self._recv(_MAX_HEAD, 0, deadline)
            if not data:
                raise ShortBody("connection closed before the answer's head", 0)
            at = (head[-3:] + data).find(b"\r\n\r\n")
            if at < 0:
                if self._raw:
                    data = self._take(len(data), deadline)
                head += data
                if len(head) > _MAX_HEAD:
                    raise Unsupported("answer head too long")
                continue
            end = at + 4 - min(len(head), 3)  # bytes of `data` that belong to the head
            if self._raw:
                head += self._take(end, deadline)
            else:
                head += data[:end]
                self._head_extra = data[end:]
            break
        return _parse_head(head)

    def _take(self, n: int, deadline: float) -> bytes:
        data = self._recv(n, _WAITALL, deadline)
        if len(data) != n:
            raise ShortBody("connection closed in the answer's head", 0)
        return data

    def body(self, n: int, deadline: float) -> bytes:
        """Exactly ``n`` body bytes (:class:`ShortBody` if the connection ends first)."""
        if n <= 0:
            return b""
        if self._raw:
            data = self._recv(n, _WAITALL, deadline)
            if len(data) == n:
                return data
            parts, got = [data], len(data)
            while got < n:  # a pause longer than the receive timeout, or the end of the connection
                if not data:
                    raise ShortBody(f"short read: {got} of {n} bytes", got)
                data = self._recv(n - got, _WAITALL, deadline)
                parts.append(data)
                got += len(data)
            return b"".join(parts)
        extra, self._head_extra = self._head_extra[:n], self._head_extra[n:]
        if len(self._buf) < n:
            self._buf = bytearray(n)
        view = memoryview(self._buf)
        view[: len(extra)] = extra
        got = len(extra)
        while got < n:
            self._arm(deadline)
            try:
                k = self.sock.recv_into(view[got:n], n - got)
            except (socket.timeout, ssl.SSLWantReadError):
                if time.monotonic() >= deadline:
                    raise Deadline() from None
                raise Silence() from None
            if not k:
                raise ShortBody(f"short read: {got} of {n} bytes", got)
            got += k
        return bytes(view[:n])

    def pieces(self, sizes: list[int], deadline: float) -> list[bytes]:
        """The body as consecutive pieces of these sizes, each received into its own ``bytes`` (no
        copy on a plain connection: a block of the cache is the very object the kernel filled)."""
        if not self._raw:
            body, out, at = self.body(sum(sizes), deadline), [], 0
            for n in sizes:
                out.append(body[at: at + n])
                at += n
            return out
        return [self.body(n, deadline) for n in sizes]

    def done(self, keep: bool) -> None:
        """The answer was read whole: keep the connection for the next request, or close it."""
        if keep and not self._head_extra:
            self.reused = True
        else:
            self.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ShortBody(f"malformed status line {lines[0][:80]!r}", 0)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":  # obsolete line folding
            raise Unsupported("folded header line")
        name, sep, value = line.partition(":")
        if not sep:
            raise ShortBody(f"malformed header line {line[:80]!r}", 0)
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if parts[0] == "HTTP/1.0" and "keep-alive" not in headers.get("connection", "").lower():
        headers["connection"] = "close"
    return int(parts[1]), headers
