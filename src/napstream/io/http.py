"""Remote files over HTTP(S) (also S3 through its public HTTPS endpoint), with aiohttp.

Opening a URL the cache has never seen costs one round trip: two concurrent GETs, of the first
block and of the suffix ``bytes=-<block_size>``, give the first and last blocks (where HDF5 keeps
its superblock and much metadata) and, from ``Content-Range`` and ``ETag``, the size and version
(no HEAD). A URL seen before is validated with one HEAD, sent together with GETs of a few random
bytes of its cached blocks (same round trip): cached blocks are trusted only when the size and
ETag/Last-Modified are unchanged *and* those bytes still match. A mismatch under unchanged
validators (a server whose validators do not follow the content) drops the file's cached blocks.

Consistency rules (see the user guide, "The block cache"):

* A URL whose server sends neither ``ETag`` nor ``Last-Modified`` is never reused from the
  persistent cache across opens unless the caller opts in (``cache_unvalidated=True``); within
  one open its blocks live in memory only.
* Within one open, every answer's size and validators are checked against those of the open
  (:class:`~napstream.errors.RemoteChangedError`). When the server sends no validators, or its
  validators were caught lying on reopen (or ``check_content=True``), each batch of requests also
  re-reads a few random bytes read earlier in this open and compares them: a file replaced
  mid-job raises :class:`~napstream.errors.RemoteChangedError` instead of mixing two versions.
* Every request has a deadline: twice ``timeout`` seconds plus one second per ``min_throughput``
  bytes asked for. A request that misses it raises :class:`~napstream.errors.RemoteTimeoutError`
  naming the URL (``timeout`` alone only bounds a silence between two packets).

Requests run concurrently on a private asyncio event loop *in the calling thread* (see
:meth:`HTTPSource._sync` for why not on a background thread), at most ``max_concurrency`` at a
time per file and thread. Every range request is checked: a ``206`` must carry the
``Content-Range`` asked for and the file's size, a ``200`` (server ignoring ``Range``) is sliced,
a changed ``ETag`` or size raises :class:`~napstream.errors.RemoteChangedError`, short bodies and
wrong ``Content-Range`` are retried (:mod:`napstream.io.retry`). A ``403`` on a presigned URL is
retried once after asking the ``resolver`` callback for a fresh URL (DANDI). TLS certificates are
verified. Single-range GETs after the open (the read-ahead's requests, most of a cold read's bytes)
skip the event loop: :mod:`napstream.io.http_lean` sends them on a keep-alive connection of the
calling thread and receives each body with one blocking call, with the same checks.

Examples
--------
>>> from napstream.io.http import HTTPSource
>>> HTTPSource.__mro__[1].__name__
'BlockedSource'
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import random
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ..config import config
from ..errors import (
    InvalidInputError,
    InvalidTypeError,
    RemoteAccessError,
    RemoteChangedError,
    RemoteError,
    RemoteNotFoundError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from . import lean as _lean
from . import trace as _trace
from .base import BlockedSource
from .cache import BlockCache
from .http_lean import CONTENT_RANGE as _CONTENT_RANGE
from .http_lean import LeanRanges
from .http_lean import VersionHeaders as _Headers
from .ranges import ByteRange, blocks_for
from .retry import RetryPolicy, TransientError, retry_async, retry_sync, safe_url, scrub, status_error

__all__ = ["HTTPSource"]

_LIVE: "weakref.WeakSet[HTTPSource]" = weakref.WeakSet()
_THREAD = threading.local()
_ARENAS: list[int] = []  # the malloc arena limit napstream set in this process (at most once)
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _glibc() -> bool:
    try:
        return str(os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not a GNU C library (macOS, Windows, musl)
        return False


def limit_malloc_arenas(n: int | None = None) -> bool:
    """Ask glibc for at most ``n`` malloc arenas (default ``config.malloc_arenas``), once per process.

    glibc gives each thread that allocates its own arena (up to 8 per core) and keeps memory freed
    in an arena for that arena. The read-ahead's fetch threads allocate response bodies and blocks
    that other threads free: with one arena per fetch thread, the freed memory of each stays
    resident, 100-200 MB beyond a remote job's memory budget (benchmarks/LINK_RESULTS.md). A
    limit set before the fetch threads start makes them share arenas, and reuse what was freed.
    Returns True when a limit was set now. Does nothing on other C libraries, when ``n`` is None
    or 0, or once a limit was set.

    Examples
    --------
    >>> limit_malloc_arenas(0)
    False
    """
    n = config.malloc_arenas if n is None else n
    if not n or _ARENAS or not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):  # pragma: no cover - a glibc without mallopt
        return False
    _ARENAS.append(int(n))
    return bool(mallopt(_M_ARENA_MAX, int(n)))


def _run_here(coro: Any, loop: asyncio.AbstractEventLoop | None = None) -> Any:
    """Run ``coro`` to completion on ``loop`` (default: this thread's private loop), in this thread."""
    if loop is None:
        loop = getattr(_THREAD, "loop", None)
        if loop is None or loop.is_closed():
            loop = _THREAD.loop = asyncio.new_event_loop()
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return loop.run_until_complete(coro)
    finally:
        asyncio.events._set_running_loop(outer)


async def _read_body(resp: Any) -> bytes:
    """The whole body of ``resp``, its received pieces joined once.

    aiohttp's ``read()`` joins twice: the pieces buffered at each wake-up, then all of them (a second
    copy of the body whenever the reader fell behind the socket, e.g. while other threads compute).
    """
    content, pieces = resp.content, []
    while True:
        data, end_of_chunk = await content.readchunk()
        if data:
            pieces.append(data)
        elif not end_of_chunk:  # end of the body (an empty piece with end_of_chunk: a chunk boundary)
            break
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _close_sessions(sessions: list[tuple[asyncio.AbstractEventLoop, Any]], any_thread: bool = True) -> None:
    """Close aiohttp sessions quietly (from ``close()``, garbage collection or exit).

    A session whose loop is idle is closed gracefully on that loop (from a garbage collection only
    this thread's loop: another thread may be about to run its own); otherwise its connector is
    closed synchronously, which marks the session closed so aiohttp prints no "Unclosed client
    session" / "Unclosed connector" block when the session is freed.
    """
    while sessions:
        loop, session = sessions.pop()
        try:
            if session.closed:
                continue
            mine = any_thread or loop is getattr(_THREAD, "loop", None)
            if mine and not loop.is_closed() and not loop.is_running():
                _run_here(session.close(), loop)
            elif session.connector is not None:
                session.connector._close()  # synchronous part of BaseConnector.close()
        except Exception:  # noqa: BLE001 - closing must not raise
            pass


def _close_lean(conns: list[_lean.Connection]) -> None:
    """Close lean keep-alive connections (from ``close()``, garbage collection or exit)."""
    while conns:
        try:
            conns.pop().close()
        except Exception:  # noqa: BLE001 - closing must not raise
            pass


@atexit.register
def _close_all() -> None:
    """Close the HTTP sessions still open when the interpreter exits (no 'Unclosed' noise)."""
    for source in list(_LIVE):
        source.close()


class HTTPSource(BlockedSource, LeanRanges):
    """A remote file read with HTTP Range requests through the block cache.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL (a query string, e.g. a presigned signature, is kept for
        requests but never shown or used as cache key).
    cache : BlockCache, optional
        Persistent block cache (None: memory LRU only).
    block_size, max_concurrency, retries, timeout : optional
        Default to ``napstream.config``.
    resolver : callable, optional
        ``resolver() -> str`` giving a fresh URL after a 403 (expired presigned URL).
    description : str, optional
        Display name (default: the URL without query string).
    backoff : float
        First retry delay in seconds (doubles each retry, with jitter).
    headers : dict, optional
        Extra request headers.
    memory_bytes : int, optional
        Byte limit of the in-memory block LRU (default ``max(64 MiB, 8 blocks)``, or
        ``max(memory_with_disk, 8 blocks)`` (16 MiB) when a persistent cache keeps the blocks).
    cache_unvalidated : bool
        Reuse the persistent cache across opens even when the server sends neither ETag nor
        Last-Modified (default False: such a file is cached in memory for one open only). Only a
        few random bytes are then compared on reopen: a change elsewhere goes unnoticed.
    check_content : bool or None
        Re-read a few earlier bytes with every batch of requests to catch a file changing
        mid-job. None (default): only when the server sends no validators or its validators were
        caught not following the content.
    min_throughput : float, optional
        Bytes per second below which a request misses its deadline (default
        :attr:`min_throughput`).
    """

    #: bytes/s: a request of n bytes must end within ``2 * timeout + n / min_throughput`` seconds
    min_throughput = 16 * 1024
    #: random bytes of cached blocks compared with the server's on a warm open
    reopen_samples = 2
    #: width of each compared sample, in bytes
    sample_width = 32
    #: bytes of the memory LRU when a persistent cache keeps every block (a block evicted from memory
    #: is read back from disk, not fetched again). Jobs do not count the LRU in their memory budget,
    #: so it stays small: read-ahead blocks are pinned (inside the budget) until read, then kept here
    #: (pinned bytes take their room from it; blocks shared by neighbouring chunks are read again soon)
    memory_with_disk = 16 * 2**20
    #: single-range GETs after the open (the read-ahead's requests: most bytes of a cold read) go
    #: through the lean blocking client of :mod:`napstream.io.lean` (one keep-alive connection per
    #: thread, the body received by the kernel straight into its bytes); False: aiohttp for all
    lean_receive = True

    def __init__(
        self,
        url: str,
        *,
        cache: BlockCache | None = None,
        block_size: int | None = None,
        max_concurrency: int | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        resolver: Callable[[], str] | None = None,
        description: str | None = None,
        backoff: float = 0.1,
        headers: dict[str, str] | None = None,
        memory_bytes: int | None = None,
        cache_unvalidated: bool = False,
        check_content: bool | None = None,
        min_throughput: float | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"url must be an http:// or https:// URL, got {url!r:.200}")
        if resolver is not None and not callable(resolver):
            raise InvalidTypeError(f"resolver must be callable or None, got {type(resolver).__name__}")
        block_size = config._validate("block_size", block_size if block_size is not None else config.block_size)
        conc = config._validate("max_concurrency", max_concurrency if max_concurrency is not None else config.max_concurrency)
        super().__init__(0, block_size, scrub(description) if description else safe_url(url), None, None, conc,
                         memory_bytes)
        self.locator = url
        self._url = url
        self._url_generation = 0  # bumped each time the resolver hands out a fresh URL
        self._resolver = resolver
        self._policy = RetryPolicy(config._validate("retries", retries if retries is not None else config.retries), backoff)
        self._timeout = config._validate("timeout", timeout if timeout is not None else config.timeout)
        self._headers = {"Accept-Encoding": "identity", **(headers or {})}
        if min_throughput is not None:
            if isinstance(min_throughput, bool) or not isinstance(min_throughput, (int, float)) or min_throughput <= 0:
                raise InvalidInputError(f"min_throughput must be a positive number of bytes/s, got {min_throughput!r}")
            self.min_throughput = float(min_throughput)
        #: (file offset, bytes) read in this open, re-read to catch a file replaced mid-job
        self._sentinels: list[tuple[int, bytes]] = []
        self._check_content = bool(check_content)
        self._held = threading.local()  # edges of held blocks next to the blocks being fetched
        self._tls = threading.local()  # this thread's aiohttp session, semaphore
        self._sessions: list[tuple[asyncio.AbstractEventLoop, Any]] = []  # never rebound (finalizer)
        self._lean: list[_lean.Connection] = []  # every lean connection, any thread (never rebound)
        self._lean_off = False  # the server answered something the lean client does not handle
        self._lean_target: tuple[str, tuple[str, str, int], str] | None = None  # (url, key, target)
        self._lock = threading.Lock()
        limit_malloc_arenas()  # before any fetch thread allocates (see the function)
        self._reached = False  # never connected yet: a refused connection or unknown host is final
        weakref.finalize(self, _close_sessions, self._sessions, False)  # garbage-collected unclosed
        weakref.finalize(self, _close_lean, self._lean)
        t0 = time.perf_counter()
        ends: dict[int, bytes] | None = None
        trips = 0
        last_key, samples, remote = None, [], []
        try:
            if cache is None or not cache.enabled or not cache.seen(url):
                trips += 1
                ends = self._sync(self._open_with_ends())  # cold: no HEAD, the ends come at once
            if ends is None:  # known file (HEAD + a content check) or an odd server
                trips += 1
                if cache is not None and cache.enabled:
                    last_key = cache.last_key(url)
                    samples = cache.sample(last_key, self.reopen_samples, self.sample_width) if last_key else []
                (self.size, self.etag, self.last_modified), remote = self._sync(self._probe_and_sample(samples))
            self.stats.add(round_trips=trips, wait_seconds=time.perf_counter() - t0)
        except BaseException:
            self.close()
            raise
        self.version = self.etag or self.last_modified
        if check_content is None:
            self._check_content = self.version is None
        if cache is not None and cache.enabled and (self.version is not None or cache_unvalidated):
            self.cache, self.cache_key = cache, cache.register(url, self.size, self.version)
            if memory_bytes is None:
                self.memory.max_bytes = max(int(self.memory_with_disk), 8 * block_size)
            if samples and self.cache_key == last_key and not self._same_content(samples, remote):
                self._distrust_validators()
        #: this very version of the file was read before through this disk cache (its key is the one
        #: the URL had last time): what a script read then is here (nwb/index_warmup.py fetches nothing)
        self.seen_before = bool(last_key) and self.cache_key == last_key
        if ends is None:
            self._warm_ends()
        else:
            self.stats.add(cache_misses=len(ends))
            for index, block in ends.items():
                self._store(index, block)

    # -- content checks ------------------------------------------------------------------------
    def _same_content(self, samples: list[tuple[int, bytes]], remote: list[Any]) -> bool:
        """True when every sampled cached piece equals the server's bytes (same size and validators)."""
        for (start, cached), got in zip(samples, remote):
            if not isinstance(got, tuple):
                return False
            body, total, etag, modified = got
            if body != cached or total != self.size or etag != self.etag or modified != self.last_modified:
                return False
        return True

    def _distrust_validators(self) -> None:
        """The cached blocks differ from the file under unchanged validators: drop them, check content."""
        if self.cache is not None and self.cache_key:
            self.cache.purge(self.cache_key)
        self._check_content = True
        warnings.warn(
            f"{self.description}: the remote file changed but its server kept the same size and "
            f"{'ETag' if self.etag else 'Last-Modified' if self.last_modified else 'validators (none)'}; "
            "its cached blocks were dropped and this open compares sampled bytes as it reads",
            RuntimeWarning,
            stacklevel=4,
        )

    async def _probe_and_sample(self, samples: list[tuple[int, bytes]]) -> tuple[Any, list[Any]]:
        """The HEAD probe and GETs of the sampled byte ranges, in one round trip."""
        tasks = [self._probe(), *(self._sample(start, start + len(data)) for start, data in samples)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:  # the network failed for good: the open fails, as a cold one would
            if isinstance(res, BaseException):
                raise res
        return results[0], list(results[1:])

    async def _sample(self, start: int, end: int) -> Any:
        """``(body, total, etag, last_modified)`` of bytes ``[start, end)``, or None (not a 206)."""

        async def on_get(resp: Any) -> Any:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if resp.status != 206 or not match or (int(match.group(1)), int(match.group(2)) + 1) != (start, end):
                return None
            body = await resp.read()
            self.stats.add(bytes_fetched=len(body))
            total = None if match.group(3) == "*" else int(match.group(3))
            return body, total, resp.headers.get("ETag"), resp.headers.get("Last-Modified")

        async def attempt() -> Any:
            _, sem = await self._ensure_session()
            async with sem:
                return await self._request("GET", {"Range": f"bytes={start}-{end - 1}"}, on_get, end - start)

        what = self._what(ByteRange(start, end))
        return await self._with_resolver(lambda: retry_async(attempt, self._policy, what, self._count_retry))

    def _store(self, index: int, block: bytes) -> None:
        super()._store(index, block)
        if self._check_content and block:
            width = min(self.sample_width, len(block))
            at = random.randrange(len(block) - width + 1)
            piece = (index * self.block_size + at, bytes(block[at: at + width]))
            if len(self._sentinels) < 32:
                self._sentinels.append(piece)
            else:
                self._sentinels[random.randrange(32)] = piece

    # -- session ---------------------------------------------------------------------------------
    def _sync(self, coro: Any) -> Any:
        """Run a coroutine on this thread's private event loop and return its result.

        Requests run in the calling thread, not on a background I/O thread: h5py holds its global
        lock while it reads through :class:`~napstream.io.fileobj.FileObject`, and a garbage
        collection on another thread that frees an h5py object would wait for that lock while
        we wait for the other thread (a deadlock). A loop already running in this thread (Jupyter)
        is set aside for the duration of the call; it is blocked by this synchronous call anyway.
        """
        return _run_here(coro)

    async def _ensure_session(self) -> tuple[Any, asyncio.Semaphore]:
        if self._closed:
            raise InvalidInputError(f"the byte source {self.description} is closed")
        session = getattr(self._tls, "session", None)
        if session is None or session.closed:
            import aiohttp

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout, sock_read=self._timeout),
            )
            self._tls.session, self._tls.sem = session, asyncio.Semaphore(self.max_concurrency)
            with self._lock:
                self._sessions.append((asyncio.get_running_loop(), session))
            _LIVE.add(self)
        return session, self._tls.sem

    def _close_thread_session(self) -> None:
        """Close this thread's session and event loop (a read-ahead thread that ends, io/pinned.py)."""
        session = getattr(self._tls, "session", None)
        loop = getattr(_THREAD, "loop", None)
        if session is not None:
            with self._lock:
                mine = [(lp, s) for lp, s in self._sessions if s is session]
                self._sessions[:] = [(lp, s) for lp, s in self._sessions if s is not session]
            _close_sessions(mine)
            self._tls.session = None
        self._drop_thread_lean()
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()
            _THREAD.loop = None

    def close(self) -> None:
        """Close the HTTP sessions (idempotent)."""
        super().close()  # first: in-flight requests must not open a new session
        with self._lock:
            sessions = self._sessions[:]
            del self._sessions[:]
            conns = self._lean[:]
            del self._lean[:]
        _close_sessions(sessions)
        _close_lean(conns)

    # -- requests --------------------------------------------------------------------------------
    def _what(self, r: ByteRange | None = None) -> str:
        where = f" bytes [{r.start}, {r.end})" if r is not None else ""
        return f"{self.description}{where}"

    async def _request(self, method: str, headers: dict[str, str], handle: Callable[[Any], Any], nbytes: int = 0) -> Any:
        """One request (no retry) with its deadline: ``2 * timeout + nbytes / min_throughput`` seconds."""
        deadline = 2 * self._timeout + nbytes / self.min_throughput
        try:
            return await asyncio.wait_for(self._request_once(method, headers, handle), deadline)
        except asyncio.TimeoutError:  # the request's own timeouts became TransientError: this is ours
            raise self._too_slow(method, nbytes, deadline) from None

    def _too_slow(self, method: str, nbytes: int, deadline: float) -> RemoteTimeoutError:
        return RemoteTimeoutError(
            f"{self._what()}: too slow: a {method} of {nbytes} bytes did not complete within {deadline:.1f} s "
            f"(napstream's rule: twice the timeout of {self._timeout:g} s plus one second per {self.min_throughput:g} bytes, "
            "i.e. the transfer ran slower than that); check the connection or raise napstream.config.timeout"
        )

    async def _request_once(self, method: str, headers: dict[str, str], handle: Callable[[Any], Any]) -> Any:
        """One request (no retry): connection problems become TransientError."""
        import aiohttp

        session, _ = await self._ensure_session()
        self.stats.add(requests=1)
        try:
            async with session.request(method, self._url, headers={**self._headers, **headers}, allow_redirects=True) as resp:
                self._reached = True
                if resp.status >= 400:
                    raise status_error(resp.status, self._what(), resp.headers.get("Retry-After"))
                return await handle(resp)
        except aiohttp.ClientSSLError as err:  # a bad certificate does not get better with retries
            raise RemoteAccessError(f"TLS verification failed for {self._what()}: {self._scrub(err)}") from None
        except aiohttp.TooManyRedirects as err:  # a loop does not end with retries either
            raise RemoteError(
                f"too many redirects for {self._what()} ({len(err.history)} followed; a redirect loop?)"
            ) from None
        except aiohttp.ClientConnectorError as err:
            refused = isinstance(err.os_error, (ConnectionRefusedError, socket.gaierror))
            if refused and not self._reached:
                await asyncio.sleep(0.05)  # a concurrent request may be learning that the server went away
            if refused and not self._reached:
                reason = "connection refused" if isinstance(err.os_error, ConnectionRefusedError) else "unknown host"
                raise RemoteUnreachableError(
                    f"cannot reach {safe_url(self._url).split('/')[2]} ({reason}) to open {self.description}; "
                    "check the URL and your network"
                ) from None
            raise TransientError(f"{type(err).__name__}: {self._scrub(err)}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError) as err:
            self._reached = True  # a server was there (it dropped or stalled): worth retrying
            raise TransientError(f"{type(err).__name__}: {self._scrub(err)}") from None

    def _scrub(self, err: BaseException) -> str:
        """An error message without any URL's query string or credentials."""
        text = str(err)
        for secret in (self._url, self.locator):
            text = text.replace(secret, safe_url(secret))
        return scrub(text)

    async def _probe(self) -> tuple[int, str | None, str | None]:
        """Size, ETag and Last-Modified: HEAD, or a one-byte GET when HEAD is refused."""

        async def on_head(resp: Any) -> tuple[int, str | None, str | None] | None:
            length = resp.headers.get("Content-Length")
            if length is None or resp.headers.get("Content-Encoding", "identity") != "identity":
                return None
            return int(length), resp.headers.get("ETag"), resp.headers.get("Last-Modified")

        async def on_get(resp: Any) -> tuple[int, str | None, str | None]:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if resp.status == 206 and match and match.group(3) != "*":
                size = int(match.group(3))
            elif resp.status == 200 and resp.headers.get("Content-Length") is not None:
                size = int(resp.headers["Content-Length"])
            else:
                raise RemoteError(f"cannot tell the size of {self.description} (no Content-Range / Content-Length)")
            return size, resp.headers.get("ETag"), resp.headers.get("Last-Modified")

        async def attempt() -> tuple[int, str | None, str | None]:
            try:
                info = await self._request("HEAD", {}, on_head)
            except RemoteNotFoundError:
                raise
            except RemoteError:  # e.g. 403/405: presigned URLs are signed for GET only
                info = None
            if info is None:
                info = await self._request("GET", {"Range": "bytes=0-0"}, on_get, 1)
            return info

        return await self._with_resolver(lambda: retry_async(attempt, self._policy, self._what(), self._count_retry))

    async def _open_with_ends(self) -> dict[int, bytes] | None:
        """Learn size and version from two concurrent GETs of the first and last block.

        A cold open needs the first and last blocks (HDF5 metadata) anyway: asking for
        ``bytes=0-(block-1)`` and the suffix ``bytes=-block`` at once tells the size
        (``Content-Range``) and the version (``ETag``/``Last-Modified``) without a HEAD round trip.
        Returns ``{block index: bytes}`` (complete blocks only), or None when the server's answers
        do not allow it (empty file, no ``Content-Range``...): the caller then probes with HEAD.
        """
        size = self.block_size
        tasks = [self._probe_range(f"bytes=0-{size - 1}", 0), self._probe_range(f"bytes=-{size}", None)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:  # a definite answer (not found, refused, changed, exhausted) is final
            if isinstance(res, BaseException) and not (type(res) is RemoteError):
                raise res
        if any(isinstance(res, BaseException) or res is None for res in results[:1]):
            return None
        head, tail = results
        total, etag, modified, _, first = head  # type: ignore[misc]
        self.size, self.etag, self.last_modified = total, etag, modified
        blocks = {0: first[: min(size, total)]}
        if isinstance(tail, tuple):
            self._check_version(_Headers(tail[1], tail[2]), tail[0], ByteRange(tail[3], total))
            last = (total - 1) // size if total else 0
            start = last * size
            if last > 0 and tail[3] <= start:
                blocks[last] = tail[4][start - tail[3]:]
                if tail[3] < start and tail[3] > start - size:  # part of the block before: keep it
                    self._fragment = (last - 1, tail[3], tail[4][: start - tail[3]])
        return blocks if total else None

    async def _probe_range(self, spec: str, expect_start: int | None) -> Any:
        """One GET of ``spec`` at open: ``(total, etag, last_modified, start, body)`` or None.

        None means the answer cannot say the size (no ``Content-Range`` total) or a suffix was
        answered with the whole file (the server ignores ``Range``).
        """
        want = self.block_size

        async def on_get(resp: Any) -> Any:
            etag, modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            if resp.status == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not match or match.group(3) == "*":
                    return None
                start, end, total = int(match.group(1)), int(match.group(2)) + 1, int(match.group(3))
                lo = 0 if expect_start == 0 else max(total - want, 0)
                if (start, end) != (lo, min(lo + want, total)):
                    raise TransientError(f"wrong Content-Range {resp.headers.get('Content-Range')!r}")
                body = await resp.read()
            elif resp.status == 200 and expect_start == 0 and resp.headers.get("Content-Length") is not None:
                start, total = 0, int(resp.headers["Content-Length"])  # Range ignored: keep the first block
                body = await resp.content.readexactly(min(want, total))
                end = len(body)
            else:
                return None
            if len(body) != end - start:
                raise TransientError(f"short read: {len(body)} of {end - start} bytes")
            self.stats.add(bytes_fetched=len(body))
            return total, etag, modified, start, body

        async def attempt() -> Any:
            _, sem = await self._ensure_session()
            async with sem:
                return await self._request("GET", {"Range": spec}, on_get, want)

        return await self._with_resolver(lambda: retry_async(attempt, self._policy, self._what(), self._count_retry))

    def _count_retry(self, err: TransientError) -> None:
        self.stats.add(retries=1)

    def _check_version(self, resp: Any, total: int | None, r: ByteRange) -> None:
        etag = resp.headers.get("ETag")
        if total is not None and total != self.size:
            raise RemoteChangedError(
                f"{self._what(r)}: the remote file changed (size {self.size} -> {total}); open it again"
            )
        if self.etag and etag and etag != self.etag:
            raise RemoteChangedError(
                f"{self._what(r)}: the remote file changed (ETag {self.etag} -> {etag}); open it again"
            )
        modified = resp.headers.get("Last-Modified")
        if not self.etag and self.last_modified and modified and modified != self.last_modified:
            raise RemoteChangedError(
                f"{self._what(r)}: the remote file changed (Last-Modified {self.last_modified} -> {modified}); "
                "open it again"
            )

    def _last_first_byte(self) -> float | None:
        """Seconds to the first byte (headers) of this thread's last range request (None: none yet).

        The read-ahead sizes its requests in flight from it (:class:`~napstream.io.pinned.InFlight`).
        """
        return getattr(self._tls, "first_byte", None)

    async def _get_range(self, r: ByteRange) -> bytes:
        sent = [0.0, 0.0]

        async def on_get(resp: Any) -> bytes:
            sent[1] = time.perf_counter()
            self._tls.first_byte = sent[1] - sent[0]
            if resp.status == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not match or (int(match.group(1)), int(match.group(2)) + 1) != (r.start, r.end):
                    raise TransientError(f"wrong Content-Range {resp.headers.get('Content-Range')!r}")
                self._check_version(resp, None if match.group(3) == "*" else int(match.group(3)), r)
                body = await _read_body(resp)
            elif resp.status == 200:  # Range ignored: the whole file comes; keep our slice
                length = resp.headers.get("Content-Length")
                self._check_version(resp, None if length is None else int(length), r)
                body = (await resp.content.readexactly(r.end))[r.start:]
            else:
                raise RemoteError(f"unexpected HTTP {resp.status} for {self._what(r)}")
            if len(body) != r.length:
                raise TransientError(f"short read: {len(body)} of {r.length} bytes")
            return body

        async def attempt() -> bytes:
            _, sem = await self._ensure_session()
            queued = time.perf_counter()
            async with sem:
                sent[0] = time.perf_counter()
                body = await self._request("GET", {"Range": f"bytes={r.start}-{r.end - 1}"}, on_get, r.length)
            if _trace.on:  # NAPSTREAM_TRACE: the request timeline (io/trace.py)
                _trace.request(queued, sent[0], sent[1], time.perf_counter(), len(body))
            self.stats.add(bytes_fetched=len(body))
            return body

        return await self._with_resolver(lambda: retry_async(attempt, self._policy, self._what(r), self._count_retry))

    async def _with_resolver(self, make: Callable[[], Any]) -> Any:
        """Run ``make()``; after a 403, ask the resolver once for a fresh URL and run it again."""
        generation = self._url_generation
        try:
            return await make()
        except RemoteAccessError:
            if self._resolver is None:
                raise
        self._refresh_url(generation)
        return await make()

    def _with_resolver_sync(self, make: Callable[[], Any]) -> Any:
        """:meth:`_with_resolver` for a blocking ``make()`` (the lean path)."""
        generation = self._url_generation
        try:
            return make()
        except RemoteAccessError:
            if self._resolver is None:
                raise
        self._refresh_url(generation)
        return make()

    def _refresh_url(self, generation: int) -> None:
        assert self._resolver is not None
        with self._lock:  # several requests may fail at once: resolve once per stale URL
            if self._url_generation == generation:
                self._url = self._resolver()
                self._url_generation += 1

    async def _gather(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        """Fetch ranges concurrently; on the first failure cancel the others, then raise it."""
        tasks = [asyncio.ensure_future(self._get_range(r)) for r in ranges]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            pending = [t for t in tasks if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        errors = [t.exception() for t in tasks if not t.cancelled()]  # retrieve all: no "never retrieved" noise
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
        return [t.result() for t in tasks]

    def _fetch_ranges(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        self._check_open()
        probes = self._probes() if self._check_content else []
        if not probes:
            if len(ranges) == 1 and self.lean_receive and not self._lean_off:
                try:
                    return [self._lean_get_range(ranges[0])]
                except _lean.Unsupported:  # a redirect, a chunked body...: aiohttp from now on
                    self._lean_off = True
            return self._sync(self._gather(ranges))
        checks = [ByteRange(start, start + len(expected)) for start, expected in probes]
        bodies = self._sync(self._gather([*ranges, *checks]))
        for probe, (_, expected), body in zip(checks, probes, bodies[len(ranges):]):
            if body != expected:
                raise RemoteChangedError(
                    f"{self._what(probe)}: the remote file changed while it was read (these bytes differ from "
                    "those read earlier; its server gives no usable ETag/Last-Modified, so napstream compares "
                    "sampled bytes); open it again"
                )
        return bodies[: len(ranges)]

    def _probes(self) -> list[tuple[int, bytes]]:
        """Bytes read before, to read again with a batch: at the edge of a held block next to a
        block to fetch (most likely the same array, and a read joining them is the one that could
        mix two versions of the file), and anywhere earlier in this open."""
        out = []
        beside = getattr(self._held, "beside", None)
        if beside:
            out.append(random.choice(beside))
        if self._sentinels:
            out.append(random.choice(self._sentinels))
        return out

    def _fetch_blocks(self, missing: list[int], keep: dict[int, bytes] | None) -> None:
        if not self._check_content:
            super()._fetch_blocks(missing, keep)
            return
        wanted, beside = set(missing), []
        for i in missing:
            for j in (i - 1, i + 1):
                block = None if j in wanted or j < 0 else self.memory.peek(j)
                if block:
                    edge = min(self.sample_width, len(block))
                    at = len(block) - edge if j < i else 0
                    beside.append((j * self.block_size + at, bytes(block[at: at + edge])))
        self._held.beside = beside
        try:
            super()._fetch_blocks(missing, keep)
        finally:
            self._held.beside = None

    def _warm_ends(self) -> None:
        """Fetch the first and last blocks (HDF5 metadata lives there) in one round trip."""
        if self.size == 0:
            return
        ends = {*blocks_for(0, 1, self.block_size), *blocks_for(self.size - 1, self.size, self.block_size)}
        missing = [i for i in sorted(ends) if self._lookup(i) is None]
        self.stats.add(cache_hits=len(ends) - len(missing), cache_misses=len(missing))
        if missing:
            self._fetch_blocks(missing, None)
