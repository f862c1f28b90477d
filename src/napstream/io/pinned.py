"""Read-ahead of planned reads: announced blocks are fetched in the background and pinned until read.

The engine knows which rows a job reads next; the NWB layer turns them into byte ranges and
announces them with :meth:`BlockedSource.read_ahead <napstream.io.base.BlockedSource.read_ahead>`.
A :class:`ReadAhead` then keeps up to ``requests`` range requests in flight (each on its own
thread, one contiguous run of blocks per request) in announcement order, while the reads of
earlier rows are decoded and analysed. How many of them are out at once follows the measured
bandwidth-delay product (:class:`InFlight`): enough to keep the link full, no more. When a plan is
announced with nothing queued before it, its first requests are short and each longer than the one
before (:meth:`ReadAhead.ramp_bytes`): sharing the link, they land in the order the reader reads
them. Each plan keeps its own cap on requests out.

Fetched blocks are *pinned* in the source's :class:`PinnedLRU`: they cannot be evicted by other
reads (an earlier read-ahead failed exactly there: prefetched blocks were dropped from the memory
LRU before their chunk was read, then fetched again). The first read of a pinned block unpins it
(it becomes an ordinary LRU entry). Pinned bytes never exceed the ``max_bytes`` the caller
reserved out of its memory budget: the fetchers wait for reads to free room. A reader that
catches up with the read-ahead (asks for blocks it queued but has not started) does not fetch them
in competition: :meth:`ReadAhead.hurry` claims them for that reader and the fetchers bring them
next, all requests out while readers wait (a reader waiting means the link is not full yet). No
block is fetched twice. :meth:`ReadAheadHandle.cancel` (the engine calls
it when a job ends, fails or is interrupted) forgets the plan, unpins its blocks and, when no
other plan is active, stops the fetch threads after their current request.

Examples
--------
>>> from napstream.io.base import BlockedSource
>>> class Fake(BlockedSource):
...     def __init__(self, data):
...         self.data = data
...         super().__init__(len(data), block_size=4, description="fake")
...     def _fetch_ranges(self, ranges):
...         return [self.data[a:b] for a, b in ranges]
>>> src = Fake(bytes(range(64)))
>>> handle = src.read_ahead([(0, 32)], max_bytes=64)
>>> handle.wait(timeout=5)                 # every announced block is here (pinned)
True
>>> src.memory.pinned_bytes, src.read_range(0, 4)
(32, b'\\x00\\x01\\x02\\x03')
>>> src.memory.pinned_bytes                # the read unpinned its block
28
>>> handle.cancel(); src.memory.pinned_bytes
0
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidInputError
from . import trace as _trace
from .cache import MemoryLRU
from .ranges import ByteRange, block_bounds, blocks_for

__all__ = ["InFlight", "PinnedLRU", "ReadAhead", "ReadAheadHandle", "varied_run"]

_MiB = 2**20
_PHI = (5**0.5 - 1) / 2


class PinnedLRU(MemoryLRU):
    """A :class:`~napstream.io.cache.MemoryLRU` whose read-ahead blocks are pinned until read.

    Blocks put by a read-ahead fetcher (inside :meth:`prefetching`) while *wanted* (announced and
    not read yet) are pinned: kept outside the LRU, never evicted, counted in
    :attr:`pinned_bytes`. A :meth:`get` by anyone else returns a pinned block and unpins it; a
    get or put of a wanted block that is not pinned yet (a reader got there first) drops it from
    the wanted set, so the read-ahead will not fetch it again. Pinned bytes belong to a job's memory
    budget, so the LRU gives way to them: unpinned blocks are evicted while LRU plus pinned bytes pass
    ``max_bytes`` (the LRU keeps at least an eighth of ``max_bytes``).

    >>> lru = PinnedLRU(max_bytes=8)
    >>> lru.want([1])
    >>> with lru.prefetching():
    ...     lru.put(1, b"pinned!!")
    >>> lru.put(2, b"12345678"); lru.put(3, b"abcdefgh")      # the LRU evicts 2, never 1
    >>> lru.pinned_bytes, lru.get(2), lru.get(1)
    (8, None, b'pinned!!')
    >>> lru.pinned_bytes
    0
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self._pinned: dict[Any, bytes] = {}
        self._pinned_bytes = 0
        self._wanted: set[Any] = set()
        self._local = threading.local()
        #: called (without any lock held) when pinned bytes are freed
        self.on_unpin: Callable[[], None] | None = None
        self.pinned_hits = 0
        self.peak_pinned_bytes = 0

    # -- who is putting ------------------------------------------------------------------------
    class _Prefetching:
        def __init__(self, local: threading.local) -> None:
            self.local = local

        def __enter__(self) -> None:
            self.local.on = True

        def __exit__(self, *exc: object) -> None:
            self.local.on = False

    def prefetching(self) -> "PinnedLRU._Prefetching":
        """Context in which this thread's puts pin wanted blocks and its gets unpin nothing."""
        return self._Prefetching(self._local)

    def _is_prefetcher(self) -> bool:
        return getattr(self._local, "on", False)

    # -- the wanted set --------------------------------------------------------------------------
    def want(self, keys: Iterable[Any]) -> None:
        """Mark ``keys`` as announced: a prefetcher's put of one of them pins it."""
        with self._lock:
            self._wanted.update(keys)

    def unwant(self, keys: Iterable[Any]) -> None:
        """Forget ``keys``: not wanted any more, and their pins become ordinary LRU entries."""
        freed = []
        with self._lock:
            for key in keys:
                self._wanted.discard(key)
                value = self._pinned.pop(key, None)
                if value is not None:
                    self._pinned_bytes -= len(value)
                    freed.append((key, value))
        for key, value in freed:
            super().put(key, value)
        if freed:
            self._notify()

    def is_wanted(self, key: Any) -> bool:
        """True while ``key`` is announced and neither pinned nor read yet."""
        with self._lock:
            return key in self._wanted

    def contains(self, key: Any) -> bool:
        """True if ``key`` is pinned or in the LRU (no side effect)."""
        with self._lock:
            return key in self._pinned or key in self._items

    def peek(self, key: Any) -> bytes | None:
        """The block, pinned or not, without unpinning or refreshing it (a look, not a read)."""
        with self._lock:
            value = self._pinned.get(key)
            return value if value is not None else self._items.get(key)

    # -- MemoryLRU -------------------------------------------------------------------------------
    def get(self, key: Any) -> bytes | None:
        """The block; a pinned one is unpinned by this read (except in a prefetcher's thread)."""
        if self._is_prefetcher():
            with self._lock:
                value = self._pinned.get(key)
            return value if value is not None else super().get(key)
        with self._lock:
            value = self._pinned.pop(key, None)
            if value is None:
                self._wanted.discard(key)  # asked for before it came: the reader fetches it
            else:
                self._pinned_bytes -= len(value)
                self.pinned_hits += 1
                if _trace.on:
                    _trace.count("read pinned")
        if value is None:
            return super().get(key)
        super().put(key, value)  # read once: an ordinary cached block from now on
        self._notify()
        return value

    def put(self, key: Any, value: bytes) -> None:
        """Insert ``value``: pinned if a prefetcher puts a wanted block, else into the LRU."""
        with self._lock:
            if self._is_prefetcher() and key in self._wanted:
                self._wanted.discard(key)
                old = self._items.pop(key, None)
                if old is not None:
                    self._bytes -= len(old)
                if key not in self._pinned:
                    self._pinned[key] = value
                    self._pinned_bytes += len(value)
                    self.peak_pinned_bytes = max(self.peak_pinned_bytes, self._pinned_bytes)
                    self._evict_locked()
                return
            if not self._is_prefetcher():
                self._wanted.discard(key)
        super().put(key, value)

    def _room(self) -> int:
        # pinned bytes are counted in the job's memory budget; the LRU gives way to them (down to an
        # eighth of its size, so a block shared by two neighbouring reads is still found)
        return max(self.max_bytes - self._pinned_bytes, self.max_bytes // 8)

    def clear(self) -> None:
        """Drop everything, pinned blocks included."""
        with self._lock:
            self._pinned.clear()
            self._pinned_bytes = 0
            self._wanted.clear()
        super().clear()
        self._notify()

    @property
    def pinned_bytes(self) -> int:
        """Bytes pinned now (read-ahead not read yet)."""
        return self._pinned_bytes

    @property
    def nbytes(self) -> int:
        """Bytes held, pinned ones included."""
        return self._bytes + self._pinned_bytes

    def _notify(self) -> None:
        callback = self.on_unpin
        if callback is not None:
            callback()


class InFlight:
    """How many read-ahead requests to keep out: the bandwidth-delay product, measured.

    Requests are bracketed by :meth:`begin` and :meth:`end`; each reports its bytes ``n``, and,
    when the transport can tell, its time to first byte. From the last :attr:`window` of them:

    * ``X``, the throughput, by Little's law: ``sum(k * n) / sum(d)``, where ``d`` is a request's
      duration and ``k`` the mean number of requests out during it (itself included);
    * ``L``, the latency: the smallest time to first byte seen lately (without one, the smallest
      duration: a source whose cost is all latency);
    * ``s``, one stream's rate: the fastest body transfer seen (``n / (d - first byte)``).

    A request of ``n`` bytes holds its slot ``L + n / s`` seconds at best, so
    ``X * (L + n / s) / n`` requests carry ``X``: the target is that, rounded up, plus one to probe
    for more (the throughput measured with N requests out cannot show what N + 1 would carry),
    clamped to ``[1, cap]``. While the link is not full every request takes its best time and
    the target grows by one; once it is full, requests take longer as more are out and the
    target stops growing. A slower reader (pins full) lowers ``X`` and with it the target.

    Parameters
    ----------
    start : int
        Target before anything was measured.
    clock : callable
        Seconds, monotonic (tests pass a simulated one).

    Examples
    --------
    >>> now = [0.0]
    >>> sizer = InFlight(start=2, clock=lambda: now[0])
    >>> for _ in range(4):      # 30 ms latency, 25 MB/s per stream: two requests of 2 MB at a time
    ...     tickets = [sizer.begin(), sizer.begin()]
    ...     now[0] += 0.03 + 2_000_000 / 25e6
    ...     for t in tickets:
    ...         sizer.end(t, 2_000_000, first_byte=0.03)
    >>> sizer.target(2_000_000, cap=8)   # 2 requests carried 36 MB/s: one more may carry more
    3
    """

    #: finished requests the throughput is measured over
    window = 16

    def __init__(self, start: int = 2, clock: Callable[[], float] = time.monotonic) -> None:
        self.start = max(1, int(start))
        self.clock = clock
        self._done: collections.deque[tuple[float, float, int]] = collections.deque(maxlen=self.window)
        self._latency: collections.deque[float] = collections.deque(maxlen=4 * self.window)
        self._stream_rate = 0.0
        self._out = 0  # requests out now
        self._area = 0.0  # integral of requests out over time, up to _area_at
        self._area_at = clock()
        self._lock = threading.Lock()

    def _advance(self) -> float:
        now = self.clock()
        self._area += self._out * (now - self._area_at)
        self._area_at = now
        return now

    def begin(self) -> tuple[float, float]:
        """A request goes out; pass the returned ticket to :meth:`end`."""
        with self._lock:
            now = self._advance()
            self._out += 1
            return now, self._area

    def end(self, ticket: tuple[float, float], nbytes: int, first_byte: float | None = None) -> None:
        """The request of ``ticket`` ended with ``nbytes`` (its first byte after ``first_byte`` s).

        A failed request ends with ``nbytes=0``: it frees its place and is not measured.
        """
        with self._lock:
            now = self._advance()
            self._out = max(0, self._out - 1)
            seconds = now - ticket[0]
            if nbytes <= 0 or seconds <= 0:
                return
            self._done.append(((self._area - ticket[1]) / seconds, seconds, int(nbytes)))
            if first_byte is not None and 0 <= first_byte < seconds:
                self._latency.append(float(first_byte))
                self._stream_rate = max(self._stream_rate, nbytes / (seconds - first_byte))
            else:
                self._latency.append(seconds)

    def throughput(self) -> float | None:
        """Bytes/s carried lately, by Little's law (None before any request)."""
        with self._lock:
            if not self._done:
                return None
            return sum(k * n for k, _, n in self._done) / sum(d for _, d, _ in self._done)

    #: a request's round-trip latency is at most this share of its best time (the rest: its body
    #: at the best stream rate), see :meth:`request_bytes`
    latency_share = 1 / 6

    def request_bytes(self, base: int, most: int) -> int:
        """Bytes of one request: at least ``base``, more when the round trip would cost a larger
        share of the request than :attr:`latency_share`, at most ``most``.

        A request of ``n`` bytes holds its slot ``L + n / s`` seconds at best, and its stream
        carries nothing during the ``L``. When every request starts at about the same time (the
        link shared between them, the requests out at the cap) those idle spells line up and
        the link idles with them, whatever the number of requests: so each request carries at
        least ``(1 / latency_share - 1) * L * s`` bytes (30 ms at 25 MB/s: 3.75 MB), which keeps
        the latency to a sixth of its time. A source without a measured latency or stream rate
        (nothing out yet, a local source) keeps ``base``.

        >>> now = [0.0]
        >>> sizer = InFlight(clock=lambda: now[0])
        >>> sizer.request_bytes(2_000_000, 8_000_000)       # nothing measured yet
        2000000
        >>> t = sizer.begin(); now[0] += 0.03 + 1_000_000 / 25e6
        >>> sizer.end(t, 1_000_000, first_byte=0.03)
        >>> sizer.request_bytes(2_000_000, 8_000_000)       # 5 * 30 ms * 25 MB/s
        3750000
        """
        base, most = max(1, int(base)), max(1, int(most))
        with self._lock:
            if not self._latency or self._stream_rate <= 0:
                return min(base, most)
            want = (1 / self.latency_share - 1) * min(self._latency) * self._stream_rate
        return int(min(most, max(base, round(want))))

    def target(self, request_bytes: int, cap: int) -> int:
        """Requests to keep out for requests of ``request_bytes``, at most ``cap``."""
        cap = max(1, int(cap))
        rate = self.throughput()
        with self._lock:
            if rate is None or not self._latency:
                return min(self.start, cap)
            slot = min(self._latency) + (request_bytes / self._stream_rate if self._stream_rate > 0 else 0.0)
        need = math.ceil(rate * slot / max(request_bytes, 1) - 1e-6)  # exactly 2.0 needs 2, not 3
        return int(max(1, min(cap, need + 1)))


class ReadAheadHandle:
    """One announced plan of blocks; :meth:`cancel` it when the job ends (idempotent)."""

    def __init__(self, owner: "ReadAhead", blocks: list[int], requests: int = 1) -> None:
        self._owner = owner
        self.blocks = blocks
        #: requests this plan may keep out (the read-ahead keeps out the most any active plan allows)
        self.requests = max(1, int(requests))
        self.cancelled = False

    def cancel(self) -> None:
        """Forget this plan, unpin its blocks, stop the fetchers if no other plan is active."""
        if not self.cancelled:
            self.cancelled = True
            self._owner._cancel(self)

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until every block of the plan was fetched, read or dropped; False on timeout."""
        return self._owner._wait_idle(timeout)


class ReadAhead:
    """Background fetchers of one :class:`~napstream.io.base.BlockedSource` (see the module docstring).

    Parameters
    ----------
    source : BlockedSource
        The source; its ``memory`` must be a :class:`PinnedLRU`.
    """

    #: bytes of one read-ahead request (a contiguous run of blocks)
    run_bytes = 2 * _MiB
    #: most bytes of one request when the link's latency asks for longer ones (:meth:`InFlight.request_bytes`)
    most_run_bytes = 8 * _MiB
    #: seconds :meth:`stop` waits for each fetcher's current request
    join_timeout = 60.0

    def __init__(self, source: Any) -> None:
        if not isinstance(source.memory, PinnedLRU):
            raise InvalidInputError("read-ahead needs a source whose memory is a PinnedLRU")
        self.source = source
        self.memory: PinnedLRU = source.memory
        self.memory.on_unpin = self._wake
        self._queue: collections.deque[int] = collections.deque()
        self._queued: set[int] = set()  # the blocks of _queue (not started yet)
        #: runs of blocks a reader waits for, claimed for it (io/base.py ``_claim``): fetched first
        self._urgent: collections.deque[list[int]] = collections.deque()
        self._behind_until = 0.0  # a reader caught up with the read-ahead lately: all requests out
        self._handles: list[ReadAheadHandle] = []
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._busy = 0  # fetchers with a request out
        self._reserved = 0  # bytes of requests out (counted against the pin limit)
        self.max_bytes = 0
        self.requests = 1  # the cap (max_concurrency or the caller's); the sizer picks how many are out
        self.sizer = InFlight(start=2)
        self._runs = 0  # requests built so far (their sizes vary, see _next_run)
        self._ramp = 0  # requests built since a plan was announced with nothing queued (see ramp_bytes)
        self._absent: set[int] = set()  # queued blocks found neither in memory nor on disk
        self.error: BaseException | None = None
        #: counters: requests sent, blocks and bytes fetched, most requests out at once, blocks
        #: hurried for a reader that caught up
        self.hurried = 0
        self.sent = 0
        self.blocks_fetched = 0
        self.bytes_fetched = 0
        self.max_in_flight = 0

    # -- plans -----------------------------------------------------------------------------------
    def announce(self, ranges: Iterable[tuple[int, int]], max_bytes: int, requests: int) -> ReadAheadHandle:
        """Queue the blocks of ``ranges`` (in order) for read-ahead; returns the plan's handle."""
        bs, seen, blocks = self.source.block_size, set(), []
        for a, b in ranges:
            for i in blocks_for(int(a), int(b), bs):
                if i not in seen:
                    seen.add(i)
                    blocks.append(i)
        handle = ReadAheadHandle(self, blocks, requests)
        self.memory.want(blocks)
        with self._cond:
            if not self._queue and not self._urgent:
                # nothing queued before this plan (requests of an earlier one may still be out): its
                # reader waits for its first blocks, so its first requests are short (ramp_bytes)
                self._ramp = 0
            self._handles.append(handle)
            self._queue.extend(blocks)
            self._queued.update(blocks)
            self._absent.difference_update(blocks)  # announced again: look for them again
            self.max_bytes = max(int(max_bytes), self.max_bytes if len(self._handles) > 1 else 0)
            # each plan's cap, not the last one's: a plan queued behind another (the position behind
            # the units, nwb/speculate.py) asks for fewer requests, and must not slow the first one
            self.requests = max(h.requests for h in self._handles)
            self.error = None
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.requests:
                t = threading.Thread(target=self._fetcher, name=f"napstream-readahead-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            self._cond.notify_all()
        return handle

    def _cancel(self, handle: ReadAheadHandle) -> None:
        with self._cond:
            if handle in self._handles:
                self._handles.remove(handle)
            drop = set(handle.blocks)
            self._queue = collections.deque(i for i in self._queue if i not in drop)
            self._queued.difference_update(drop)
            last = not self._handles
            if not last:
                self.requests = max(h.requests for h in self._handles)
        self.memory.unwant(handle.blocks)
        if last:
            self.stop()

    def stop(self) -> None:
        """Stop the fetchers (after their current request) and wait for them."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._queued.clear()
            urgent = self._take_urgent()
            self._absent.clear()
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        self._give_back(urgent)
        deadline = time.monotonic() + self.join_timeout
        for t in threads:
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._stopping = False

    @property
    def threads(self) -> list[threading.Thread]:
        """The live fetch threads."""
        with self._cond:
            return [t for t in self._threads if t.is_alive()]

    def _wake(self) -> None:
        with self._cond:  # a read freed pins: room for one more request, so one fetcher
            self._cond.notify()

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._urgent:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping or self.error is not None:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    # -- readers that caught up ------------------------------------------------------------------
    #: seconds the read-ahead keeps all its requests out after a reader caught up with it
    behind_seconds = 1.0

    def hurry(self, blocks: Iterable[int]) -> list[int]:
        """A reader needs ``blocks`` now: those queued and not started are fetched next, for it.

        They are claimed for the reader at once (like a fetch of its own: a read of them waits
        for that fetch, io/base.py ``_await``), put at the head of the work, and the read-ahead
        keeps all its requests out for a while (:attr:`behind_seconds`): a reader that caught up
        means the link is not full yet. The reader does not fetch them itself, so its requests
        do not compete with the read-ahead's. Returns the blocks claimed (none when the
        read-ahead is stopping, failed or has no thread).
        """
        src = self.source
        with self._cond:
            if not self._serving():
                return []
            take = sorted(i for i in set(blocks) if i in self._queued)
            self._queued.difference_update(take)  # left in _queue, where fetchers skip them now
        if not take:
            return []
        claimed: list[int] = []
        with src._inflight_lock:  # never while holding _cond (a claim's unpin wakes the fetchers)
            for i in take:
                if i in src._inflight or self.memory.contains(i):
                    continue
                src._inflight[i] = threading.Event()
                claimed.append(i)
        self.memory.unwant(claimed)
        if not claimed:
            return []
        # runs small enough that all the fetchers share them: the reader waits for the last one
        total = sum(src._block_len(i) for i in claimed)
        limit = max(src.block_size, min(self.run_bytes, -(-total // max(self.requests, 1))))
        runs: list[list[int]] = []
        for first, last in _contiguous(claimed):
            run: list[int] = []
            for i in range(first, last + 1):
                if run and (len(run) + 1) * src.block_size > limit:
                    runs.append(run)
                    run = []
                run.append(i)
            runs.append(run)
        with self._cond:
            ok = self._serving()
            if ok:
                self._urgent.extend(runs)
                self.hurried += len(claimed)
                self._behind_until = time.monotonic() + self.behind_seconds
                self._cond.notify_all()
        if not ok:  # stopped meanwhile: the reader fetches them itself
            self.source._release(claimed)
            return []
        return claimed

    def taken(self, blocks: Iterable[int]) -> None:
        """A reader fetches ``blocks`` itself (an unplanned read): not the read-ahead's any more."""
        with self._cond:
            self._queued.difference_update(blocks)

    def waiting(self) -> None:
        """A reader waits for blocks the read-ahead has in flight: it is behind, so all requests
        go out for a while (:attr:`behind_seconds`)."""
        with self._cond:
            if self._serving():
                self._behind_until = time.monotonic() + self.behind_seconds
                self._cond.notify_all()

    def _serving(self) -> bool:
        """True while fetch threads run and take work (under _cond)."""
        return not self._stopping and self.error is None and any(t.is_alive() for t in self._threads)

    def _take_urgent(self) -> list[list[int]]:
        """Hurried runs not started (under _cond); :meth:`_give_back` them outside _cond."""
        runs, self._urgent = list(self._urgent), collections.deque()
        return runs

    def _give_back(self, runs: list[list[int]]) -> None:
        """Release the claims of hurried runs not fetched: their readers fetch them themselves."""
        for run in runs:
            self.source._release(run)

    # -- fetchers --------------------------------------------------------------------------------
    def _present(self, i: int) -> bool:
        if self.memory.contains(i):
            return True
        disk = self.source._disk
        return disk is not None and disk.has(self.source.cache_key, self.source.block_size, i, self.source._block_len(i))

    def _next_run(self) -> tuple[list[int], bool] | None:
        """The next run to fetch and whether a reader waits for it (a hurried run, already
        claimed); else the next contiguous run of wanted blocks that fits the pin room (None: stop)."""
        with self._cond:
            while not self._stopping and self.error is None:
                if len(self._threads) > self.requests and threading.current_thread() in self._threads[self.requests:]:
                    return None
                if self._urgent:  # a reader waits: no pin room needed (its bytes go straight to it)
                    run = self._urgent.popleft()
                    self._busy += 1
                    self.max_in_flight = max(self.max_in_flight, self._busy)
                    return run, True
                active = self.in_flight_target()
                if self._busy >= active:  # the link is full with the requests out: no more
                    self._cond.wait(0.25)
                    continue
                room = self.max_bytes - self.memory.pinned_bytes - self._reserved
                limit = varied_run(self._run_limit(active), self._runs, self.source.block_size)
                limit = min(limit, self.ramp_bytes(self._ramp))
                # room for half a request at least (or for what is left of the plan): a reader frees
                # its pins block by block, and a fetcher woken by the first of them would send a
                # request of one block, then another (many small requests, each its round trip)
                least = max(self.source.block_size, min(limit // 2, len(self._queued) * self.source.block_size))
                if room < least and self._queue:  # not enough room: no scan either
                    self._cond.wait(0.25)
                    continue
                run: list[int] = []
                nbytes = 0
                while self._queue:
                    i = self._queue[0]
                    # a block found missing once stays missing until a reader takes it off _queued
                    # (hurry, taken): the disk is looked at once per block, not at every wake-up.
                    # A block a reader missed stays queued (not wanted any more: it will not be
                    # pinned) until that reader hurries it: dropping it here would race the reader
                    # into fetching it itself
                    if i not in self._queued or (i not in self._absent and self._present(i)):
                        self._queue.popleft()
                        self._queued.discard(i)
                        self.memory.unwant([i])  # a reader has it (or hurried it): not ours
                        continue
                    self._absent.add(i)
                    n = self.source._block_len(i)
                    if (run and i != run[-1] + 1) or nbytes + n > min(room, limit):
                        break
                    self._queue.popleft()
                    self._queued.discard(i)
                    run.append(i)
                    nbytes += n
                if run:
                    self._runs += 1
                    self._ramp += 1
                    self._busy += 1
                    self._reserved += nbytes
                    self.max_in_flight = max(self.max_in_flight, self._busy)
                    if self._queue and self._busy < active and room - nbytes >= least:
                        self._cond.notify()  # room for another request: wake the next fetcher
                    return run, False
                # nothing to do, or no room: wait for a read to free pins (no notify here: waiting
                # fetchers waking each other would spin)
                self._cond.wait(0.25)
            return None

    #: bytes of the first request of a plan announced with nothing queued, and the growth of each next
    #: one (see :meth:`ramp_bytes`)
    ramp_first = 512 * 1024
    ramp_growth = 1.5

    def ramp_bytes(self, k: int) -> int:
        """Most bytes of the ``k``-th request of a plan announced with nothing queued before it.

        The requests out share the link: started together, a long first request (the bytes the
        reader needs first) would end with the others, and the reader would wait for the whole
        first wave while the pins fill. Short first requests, each longer than the one before,
        land in the order the reader reads them.

        >>> from napstream.io.base import BlockedSource
        >>> class Fake(BlockedSource):
        ...     def _fetch_ranges(self, ranges):
        ...         return [bytes(b - a) for a, b in ranges]
        >>> ahead = ReadAhead(Fake(2**30, block_size=2**18, description="fake"))
        >>> [round(ahead.ramp_bytes(k) / 2**20, 2) for k in range(5)]
        [0.5, 0.75, 1.12, 1.69, 2.53]
        """
        return max(int(self.source.block_size), int(self.ramp_first * self.ramp_growth ** min(k, 40)))

    def _run_limit(self, active: int) -> int:
        """Bytes of one request when ``active`` are out: :attr:`run_bytes` or more on a link whose
        latency would idle it (:meth:`InFlight.request_bytes`, at most :attr:`most_run_bytes`),
        less when pins are scarce (``active`` requests share the pin room)."""
        size = self.sizer.request_bytes(self.run_bytes, max(self.run_bytes, self.most_run_bytes))
        return min(size, max(self.max_bytes // max(active, 1), self.source.block_size))

    def in_flight_target(self) -> int:
        """Requests to keep out now: the measured bandwidth-delay product (:class:`InFlight`),
        within the cap (``requests``) and the pin room (one block per request at least)."""
        cap = max(1, min(self.requests, self.max_bytes // max(self.source.block_size, 1)))
        if time.monotonic() < self._behind_until:  # a reader caught up lately: the link is not full
            return cap
        return self.sizer.target(self._run_limit(cap), cap)

    def _fetcher(self) -> None:
        try:
            while True:
                got = self._next_run()
                if got is None:
                    return
                run, hurried = got
                nbytes = 0 if hurried else sum(self.source._block_len(i) for i in run)
                try:
                    self._fetch_run(run, hurried)
                except BaseException as err:  # noqa: BLE001 - readers will meet it themselves
                    with self._cond:
                        self.error = err
                        urgent = self._take_urgent()
                    self._give_back(urgent)
                    self.memory.unwant(run)
                finally:
                    with self._cond:
                        self._busy -= 1
                        self._reserved -= nbytes
                        self._cond.notify_all()
        finally:
            closer = getattr(self.source, "_close_thread_session", None)
            if closer is not None:
                closer()

    def _fetch_run(self, run: list[int], hurried: bool = False) -> None:
        """One request for a contiguous run of blocks; pinned as they land (a hurried run, claimed
        for a reader that waits, lands in the memory LRU, where that reader finds it)."""
        from .base import gc_paused  # base imports this module

        src = self.source
        found: dict[int, bytes] = {}
        with self.memory.prefetching(), gc_paused(), _trace.role("hurried" if hurried else "ahead"):
            mine = run if hurried else src._claim(run, found)[0]  # blocks a reader fetches now are theirs
            try:
                if not mine:
                    return
                lo = block_bounds(mine[0], src.block_size, src.size).start
                hi = block_bounds(mine[-1], src.block_size, src.size).end
                t0 = time.perf_counter()
                pieces = []
                for first, last in _contiguous(mine):  # claimed runs are contiguous; split if not
                    pieces.append((first, last, ByteRange(block_bounds(first, src.block_size, src.size).start,
                                                          block_bounds(last, src.block_size, src.size).end)))
                lasts, ranges = [p[1] for p in pieces], [p[2] for p in pieces]
                held = sum(map(len, src._fragment_tails(lasts, ranges)))  # the open's suffix brought it
                ticket, got = self.sizer.begin(), 0
                try:
                    # one request whose blocks come as separate objects (io/http_lean.py), else bodies
                    split = getattr(src, "_fetch_run_blocks", None) if len(pieces) == 1 and not held else None
                    blocks = split(ranges[0]) if split is not None else None
                    bodies = [blocks] if blocks is not None else src._fetch_runs(lasts, ranges)
                    got = hi - lo - held
                finally:
                    first_byte = getattr(src, "_last_first_byte", None)
                    self.sizer.end(ticket, got, first_byte() if first_byte is not None and got else None)
                src.stats.add(round_trips=1, wait_seconds=time.perf_counter() - t0)
                with src._storing():  # the run: one disk cache file
                    for (first, last, rng), body in zip(pieces, bodies):
                        for i in range(first, last + 1):
                            if isinstance(body, list):  # the blocks themselves
                                src._store(i, body[i - first])
                                continue
                            b = block_bounds(i, src.block_size, src.size)
                            src._store(i, body[b.start - rng.start: b.end - rng.start])
                with self._cond:
                    self.sent += len(pieces)
                    self.blocks_fetched += len(mine)
                    self.bytes_fetched += got
            finally:
                src._release(mine)


def varied_run(limit: int, k: int, block_size: int) -> int:
    """Bytes of the ``k``-th read-ahead request: ``limit`` less up to a quarter, at least a block.

    Requests of one size started together end together, then all wait out the latency together
    while the link idles (and stay in step). Sizes that vary along a low-discrepancy sequence keep
    the requests out spread over the round trip.

    Examples
    --------
    >>> [varied_run(8 * 1024, k, 1024) // 1024 for k in range(6)]
    [8, 6, 7, 6, 7, 7]
    """
    return max(int(block_size), int(limit * (1.0 - 0.25 * ((k * _PHI) % 1.0))))


def _contiguous(indices: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out
