"""Single-range GETs of :class:`~napstream.io.http.HTTPSource` on the lean client (:mod:`.lean`).

The read-ahead's requests (one contiguous run of blocks per fetcher thread, most of the bytes of
a cold read) are sent on a keep-alive connection of the calling thread and received with one
blocking call, instead of on the thread's aiohttp event loop. Every answer gets the checks of the
aiohttp path: a ``206`` must carry the ``Content-Range`` asked for and the file's size, a ``200``
(``Range`` ignored) is sliced, a changed ``ETag``/size/``Last-Modified`` raises
:class:`~napstream.errors.RemoteChangedError`, short bodies, silences and wrong ``Content-Range``
are retried (:func:`~napstream.io.retry.retry_sync`), a ``403`` asks the resolver for a fresh URL
once, and the request's deadline (twice ``timeout`` plus one second per ``min_throughput`` bytes)
raises :class:`~napstream.errors.RemoteTimeoutError`. What the lean client does not handle (a
redirect, a body without ``Content-Length``, a URL with user info) raises
:class:`~napstream.io.lean.Unsupported`: the source then uses aiohttp for good.

Examples
--------
>>> LeanRanges.__name__
'LeanRanges'
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from typing import Any

from ..errors import InvalidInputError, RemoteAccessError, RemoteError
from . import lean as _lean
from . import trace as _trace
from .ranges import ByteRange
from .retry import TransientError, retry_sync, status_error

__all__ = ["LeanRanges", "VersionHeaders"]

CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_SAFE_TARGET = re.compile(r"[!-~]+\Z")  # printable ASCII, no space: sent as it is


class VersionHeaders:
    """The version headers of an answer, for ``HTTPSource._check_version``."""

    def __init__(self, etag: str | None, modified: str | None) -> None:
        self.headers = {k: v for k, v in (("ETag", etag), ("Last-Modified", modified)) if v is not None}


class LeanRanges:
    """The lean single-range GET of :class:`~napstream.io.http.HTTPSource` (a mixin; see the module)."""

    _lean: list[_lean.Connection]
    _lean_target: tuple[str, tuple[str, str, int], str] | None
    _lock: threading.Lock
    _tls: threading.local
    _url: str
    _timeout: float
    _headers: dict[str, str]
    _closed: bool
    _reached: bool
    description: str
    min_throughput: float
    stats: Any

    def _lean_conn(self, k: int = 0) -> tuple[_lean.Connection, str]:
        """This thread's ``k``-th connection to the current URL's server, and the request target
        (a request in pieces sends piece ``k`` on connection ``k``: :meth:`_lean_get_ranges`)."""
        if self._closed:
            raise InvalidInputError(f"the byte source {self.description} is closed")
        url = self._url
        known = self._lean_target
        if known is None or known[0] != url:
            parts = urlsplit_checked(url)
            known = self._lean_target = (url, parts[0], parts[1])
        key, target = known[1], known[2]
        conns = getattr(self._tls, "leans", None)
        if conns is None:
            conns = self._tls.leans = []
        while len(conns) <= k:
            conns.append(None)
        conn = conns[k]
        if conn is None or conn.key != key or conn not in self._lean:
            if conn is not None:
                self._drop_lean(conn)
            conn = _lean.Connection(key[0], key[1], key[2], self._timeout)
            with self._lock:
                if self._closed:
                    raise InvalidInputError(f"the byte source {self.description} is closed")
                self._lean.append(conn)
            conns[k] = conn
        return conn, target

    def _drop_lean(self, conn: _lean.Connection) -> None:
        with self._lock:
            if conn in self._lean:
                self._lean.remove(conn)
        conn.close()
        conns = getattr(self._tls, "leans", None)
        if conns:  # in place: _lean_conn holds this list while it replaces a connection
            conns[:] = [None if c is conn else c for c in conns]

    def _drop_thread_lean(self) -> None:
        """Close this thread's lean connections (a fetcher thread that ends)."""
        for conn in getattr(self._tls, "leans", None) or []:
            if conn is not None:
                self._drop_lean(conn)
        self._tls.leans = None

    def _lean_get_range(self, r: ByteRange, sizes: list[int] | None = None) -> Any:
        """Bytes ``r`` with retries and the resolver (see the module docstring); with ``sizes``, as a
        list of consecutive pieces of these sizes (the blocks of a run, each its own object)."""
        what = self._what(r)  # type: ignore[attr-defined]
        return self._with_resolver_sync(  # type: ignore[attr-defined]
            lambda: retry_sync(lambda: self._lean_attempt(r, sizes), self._policy, what, self._count_retry)  # type: ignore[attr-defined]
        )

    def _fetch_run_blocks(self, r: ByteRange) -> list[bytes] | None:
        """The blocks of the block-aligned range ``r``, each block received into its own ``bytes``
        (no copy out of a joined body), or None when this source cannot here (lean path off or
        content checks on): then fetch as usual. Used by the read-ahead (:mod:`napstream.io.pinned`).

        Bytes of ``r`` the small grid holds (metadata fetched by the open's walk, such as a chunk
        index's nodes amid the data) are not asked for again: ``r`` is fetched in parts, all sent
        at once (:meth:`_lean_get_ranges`), and a block holding such bytes is joined from its
        pieces.
        """
        if not self.lean_receive or self._lean_off or getattr(self, "_check_content", False):  # type: ignore[attr-defined]
            return None
        bs = self.block_size  # type: ignore[attr-defined]
        if r.start % bs or r.length <= 0:
            return None
        if self._closed:
            raise InvalidInputError(f"the byte source {self.description} is closed")
        f = self._small_size  # type: ignore[attr-defined]
        parts = [(r.start, r.end)]
        if f is not None and self._small.nbytes:  # type: ignore[attr-defined]
            parts = [(a, b) for a, b in self._unheld_parts([r], f)[0][1] if b > a]  # type: ignore[attr-defined]
        if parts == [(r.start, r.end)]:
            try:
                return self._lean_get_range(r, _cuts(r.start, r.end, bs))  # type: ignore[no-any-return]
            except _lean.Unsupported:  # a redirect, a chunked body...: aiohttp from now on
                self._lean_off = True
                return None
        try:
            bodies = self._lean_get_ranges([ByteRange(a, b) for a, b in parts], [_cuts(a, b, bs) for a, b in parts])
        except _lean.Unsupported:
            self._lean_off = True
            return None
        # the run's bytes in order, in pieces that never cross a block's edge: received ones, held ones
        pieces: list[tuple[int, bytes]] = []
        at = r.start
        for (a, b), body in zip(parts, bodies):
            if a > at:
                pieces += _cut_bytes(at, self._small_bytes(at, a, f), bs)  # type: ignore[attr-defined]
            for piece in body:
                pieces.append((a, piece))
                a += len(piece)
            at = b
        if r.end > at:
            pieces += _cut_bytes(at, self._small_bytes(at, r.end, f), bs)  # type: ignore[attr-defined]
        self.stats.add(bytes_from_cache=r.length - sum(b - a for a, b in parts))
        blocks: list[bytes] = []
        group: list[bytes] = []
        for k, (a, piece) in enumerate(pieces):
            group.append(piece)
            if k + 1 == len(pieces) or pieces[k + 1][0] % bs == 0:  # the block ends here
                blocks.append(group[0] if len(group) == 1 else b"".join(group))
                group = []
        return blocks

    def _lean_get_ranges(self, ranges: list[ByteRange], sizes: list[list[int] | None]) -> list[Any]:
        """Bytes of several ranges in one round trip: each range's request goes out at once on a
        connection of its own (this thread's ``k``-th for range ``k``), then the answers are read in
        order (the later ones wait in their sockets meanwhile, so the deadline of each counts the bytes
        of those before it). Each range is checked and retried on its own, as
        :meth:`_lean_get_range` does; ``sizes[k]`` as its ``sizes``."""
        generation = self._url_generation  # type: ignore[attr-defined]
        pres: list[tuple[Any, ...] | None] = []
        before = 0  # bytes of the answers read before this one: its deadline counts them too
        try:
            for k, r in enumerate(ranges):
                before += r.length
                limit = 2 * self._timeout + before / self.min_throughput
                queued, deadline = time.perf_counter(), time.monotonic() + limit
                conn, target = self._lean_conn(k)
                try:
                    sent, reused = self._lean_send(conn, target, r, deadline)
                except (OSError, ssl.SSLError, _lean.Silence, _lean.Deadline, _lean.ShortBody):
                    conn.close()  # sent again (and the error met again) by the range's own attempts
                    pres.append(None)
                    continue
                pres.append((conn, target, deadline, queued, sent, reused, limit))
            return [self._lean_piece(k, r, sizes[k], pres, generation) for k, r in enumerate(ranges)]
        finally:
            for pre in pres:  # answers never read (an error came first): their connections are spent
                if pre is not None:
                    pre[0].close()

    def _lean_piece(self, k: int, r: ByteRange, sizes: list[int] | None, pres: list[Any], generation: int) -> Any:
        """Range ``k`` of :meth:`_lean_get_ranges`: its answer to the request sent (``pres[k]``),
        then its own retries; after a ``403``, the resolver once (as :meth:`_with_resolver_sync`)."""
        what = self._what(r)  # type: ignore[attr-defined]

        def attempt() -> Any:
            pre, pres[k] = pres[k], None
            return self._lean_attempt(r, sizes, k, pre)

        try:
            return retry_sync(attempt, self._policy, what, self._count_retry)  # type: ignore[attr-defined]
        except RemoteAccessError:
            if self._resolver is None:  # type: ignore[attr-defined]
                raise
        self._refresh_url(generation)  # type: ignore[attr-defined]
        return retry_sync(attempt, self._policy, what, self._count_retry)  # type: ignore[attr-defined]

    def _lean_attempt(self, r: ByteRange, sizes: list[int] | None = None, k: int = 0, pre: Any = None) -> Any:
        """One try of range ``r`` on this thread's ``k``-th connection; ``pre``: its request was
        sent already (:meth:`_lean_get_ranges`), only the answer is read here."""
        if pre is None:
            limit = 2 * self._timeout + r.length / self.min_throughput
            queued = time.perf_counter()
            deadline = time.monotonic() + limit
            conn, target = self._lean_conn(k)
        else:
            conn, target, deadline, queued, sent, reused, limit = pre
        try:
            if pre is None:
                sent, reused = self._lean_send(conn, target, r, deadline)
            return self._lean_answer(conn, target, r, deadline, queued, sent, reused, sizes)
        except _lean.Deadline:
            conn.close()
            raise self._too_slow("GET", r.length, limit) from None  # type: ignore[attr-defined]
        except _lean.Silence:
            conn.close()
            raise TransientError(f"timeout: no byte for {self._timeout:g} s") from None
        except _lean.ShortBody as err:
            conn.close()
            raise TransientError(str(err)) from None
        except (RemoteError, TransientError, _lean.Unsupported):  # answers checked (RemoteError is an OSError)
            conn.close()  # the body was not read: the connection cannot carry another request
            raise
        except ssl.SSLCertVerificationError as err:  # a bad certificate does not get better with retries
            conn.close()
            raise RemoteAccessError(f"TLS verification failed for {self._what()}: {self._scrub(err)}") from None  # type: ignore[attr-defined]
        except (OSError, ssl.SSLError) as err:
            conn.close()
            raise TransientError(f"{type(err).__name__}: {self._scrub(err)}") from None  # type: ignore[attr-defined]
        except BaseException:
            conn.close()  # the body was not read: the connection cannot carry another request
            raise

    def _lean_send(self, conn: _lean.Connection, target: str, r: ByteRange, deadline: float) -> tuple[float, bool]:
        """Send the GET of ``r``; returns when it was sent and whether on a kept-alive connection."""
        headers = {**self._headers, "Range": f"bytes={r.start}-{r.end - 1}"}
        reused = conn.reused and conn.sock is not None
        self.stats.add(requests=1)
        sent = time.perf_counter()
        try:
            conn.send(target, headers, deadline)
        except (_lean.ShortBody, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            conn.close()  # a kept-alive connection the server closed meanwhile: a new one
            return self._lean_send(conn, target, r, deadline)
        return sent, reused

    def _lean_answer(self, conn: _lean.Connection, target: str, r: ByteRange, deadline: float, queued: float,
                     sent: float, reused: bool, sizes: list[int] | None = None) -> Any:
        try:
            status, head = conn.head(deadline)
        except (_lean.ShortBody, ConnectionResetError, BrokenPipeError) as err:
            if not reused or getattr(err, "got", 0):
                raise
            conn.close()  # a kept-alive connection the server closed meanwhile: send again, once
            sent, _ = self._lean_send(conn, target, r, deadline)
            status, head = conn.head(deadline)
        first = time.perf_counter()
        self._tls.first_byte = first - sent
        self._reached = True
        if status >= 400:
            raise status_error(status, self._what(), head.get("retry-after"))  # type: ignore[attr-defined]
        length = head.get("content-length")
        if 300 <= status < 400 or "transfer-encoding" in head or length is None or not length.isdigit():
            raise _lean.Unsupported(f"HTTP {status} without a plain Content-Length body")
        length_n = int(length)
        version = VersionHeaders(head.get("etag"), head.get("last-modified"))
        if status == 206:
            match = CONTENT_RANGE.match(head.get("content-range", ""))
            if not match or (int(match.group(1)), int(match.group(2)) + 1) != (r.start, r.end):
                raise TransientError(f"wrong Content-Range {head.get('content-range')!r}")
            self._check_version(version, None if match.group(3) == "*" else int(match.group(3)), r)  # type: ignore[attr-defined]
            if length_n != r.length:
                raise TransientError(f"short read: {length_n} of {r.length} bytes")
            body = conn.body(length_n, deadline) if sizes is None else conn.pieces(sizes, deadline)
            keep = True
        elif status == 200:  # Range ignored: the whole file comes; keep our slice
            self._check_version(version, length_n, r)  # type: ignore[attr-defined]
            if length_n < r.end:
                raise TransientError(f"short read: {length_n} of {r.end} bytes")
            body = conn.body(r.end, deadline)[r.start:]
            keep = length_n == r.end
            if sizes is not None:
                body = _split(body, sizes)
        else:
            raise RemoteError(f"unexpected HTTP {status} for {self._what(r)}")  # type: ignore[attr-defined]
        conn.done(keep and head.get("connection", "").lower() != "close")
        nbytes = r.length
        if _trace.on:  # NAPSTREAM_TRACE: the request timeline (io/trace.py)
            _trace.request(queued, sent, first, time.perf_counter(), nbytes)
        self.stats.add(bytes_fetched=nbytes)
        return body


def _cuts(start: int, end: int, block_size: int) -> list[int]:
    """Sizes of the pieces of ``[start, end)`` cut at the multiples of ``block_size``."""
    out, at = [], start
    while at < end:
        nxt = min((at // block_size + 1) * block_size, end)
        out.append(nxt - at)
        at = nxt
    return out


def _cut_bytes(start: int, data: bytes, block_size: int) -> list[tuple[int, bytes]]:
    """``data`` (bytes from ``start`` on) as (offset, piece) cut at the multiples of ``block_size``."""
    out, at = [], 0
    for n in _cuts(start, start + len(data), block_size):
        out.append((start + at, data[at: at + n]))
        at += n
    return out


def _split(body: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for n in sizes:
        out.append(body[at: at + n])
        at += n
    return out


def urlsplit_checked(url: str) -> tuple[tuple[str, str, int], str]:
    """``((scheme, host, port), target)`` of ``url``; :class:`~napstream.io.lean.Unsupported`
    when the lean client would not send it exactly as aiohttp does (user info, odd characters)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
        raise _lean.Unsupported("URL not handled by the lean client")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise _lean.Unsupported("bad port") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _SAFE_TARGET.match(target):
        raise _lean.Unsupported("URL with characters aiohttp would quote")
    return (scheme, parts.hostname, port), target
