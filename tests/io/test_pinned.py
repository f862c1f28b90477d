"""Read-ahead of planned reads (io/pinned.py) on a fake slow source: requests in flight, pins, cancel."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from napstream.io.base import BlockedSource
from napstream.io.pinned import PinnedLRU

BS = 1024


class SlowSource(BlockedSource):
    """A BlockedSource whose every request takes ``delay`` seconds; counts requests in flight."""

    def __init__(self, data: bytes, delay: float = 0.02, memory_bytes: int | None = None, fail_at: int | None = None):
        self.data = data
        self.delay = delay
        self.fail_at = fail_at
        self.active = 0
        self.peak = 0
        self.fetched = collections.Counter()  # block index -> times fetched
        self._count_lock = threading.Lock()
        super().__init__(len(data), block_size=BS, description="slow", max_concurrency=8,
                         memory_bytes=memory_bytes)

    def _fetch_ranges(self, ranges):
        with self._count_lock:
            self.active += len(ranges)
            self.peak = max(self.peak, self.active)
            for r in ranges:
                for i in range(r.start // BS, -(-r.end // BS)):
                    self.fetched[i] += 1
        try:
            time.sleep(self.delay)
            if self.fail_at is not None and any(r.start <= self.fail_at < r.end for r in ranges):
                raise OSError("injected failure")
            return [self.data[r.start:r.end] for r in ranges]
        finally:
            with self._count_lock:
                self.active -= len(ranges)


def _readahead_threads():
    return [t for t in threading.enumerate() if t.name.startswith("napstream-readahead")]


@pytest.fixture
def data():
    return bytes(i % 251 for i in range(128 * BS))


def test_keeps_n_requests_in_flight(data):
    src = SlowSource(data, delay=0.05)
    # 8 KiB of pin room shared by 4 requests: runs of 2 blocks, 4 requests out at once
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=8 * BS, requests=4)
    try:
        for k in range(64):  # a reader consuming in order frees room as it goes
            assert src.read_range(k * BS, (k + 1) * BS) == data[k * BS:(k + 1) * BS]
        assert src._ahead.max_in_flight == 4
        assert src.peak <= 4 + 1  # never more than asked for, plus the reader's own miss
        assert src._ahead.sent >= 16
    finally:
        handle.cancel()
    assert not _readahead_threads()


def test_pinned_blocks_survive_eviction_and_are_never_fetched_twice(data):
    # a memory LRU of 4 blocks: without pins, the 16 read-ahead blocks would be evicted by other reads
    src = SlowSource(data, delay=0.0, memory_bytes=4 * BS)
    handle = src.read_ahead([(0, 16 * BS)], max_bytes=16 * BS, requests=2)
    assert handle.wait(10)
    assert src.memory.pinned_bytes == 16 * BS
    for k in range(64, 96):  # other reads churn the LRU
        src.read_range(k * BS, (k + 1) * BS)
    before = src.stats.requests if hasattr(src.stats, "requests") else None
    for k in range(16):
        assert src.read_range(k * BS, (k + 1) * BS) == data[k * BS:(k + 1) * BS]
    assert all(src.fetched[i] == 1 for i in range(16)), dict(src.fetched)
    assert src.memory.pinned_hits == 16 and src.memory.pinned_bytes == 0
    assert before is None or src.stats.requests == before
    handle.cancel()


def test_blocks_read_before_their_read_ahead_are_not_fetched_again(data):
    src = SlowSource(data, delay=0.01)
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=4 * BS, requests=2)
    try:
        out = src.read_ranges([(k * BS, (k + 1) * BS) for k in range(63, -1, -1)])  # backwards: races the read-ahead
        assert b"".join(reversed(out)) == data[:64 * BS]
        handle.wait(10)
        assert max(src.fetched[i] for i in range(64)) == 1, dict(src.fetched)
    finally:
        handle.cancel()


def test_pinned_memory_stays_within_the_reservation(data):
    src = SlowSource(data, delay=0.005)
    limit = 6 * BS
    handle = src.read_ahead([(0, 128 * BS)], max_bytes=limit, requests=3)
    try:
        peak = 0
        for k in range(128):
            time.sleep(0.002)  # a slow reader: the read-ahead waits for room
            peak = max(peak, src.memory.pinned_bytes)
            src.read_range(k * BS, (k + 1) * BS)
        assert 0 < peak <= limit
        assert src.memory.peak_pinned_bytes <= limit
    finally:
        handle.cancel()
    assert src.memory.pinned_bytes == 0


def test_cancel_stops_fetching_and_leaves_no_thread_or_request(data, monkeypatch):
    monkeypatch.setattr("napstream.io.pinned.ReadAhead.run_bytes", 2 * BS)  # many small requests
    src = SlowSource(data, delay=0.1)
    handle = src.read_ahead([(0, 128 * BS)], max_bytes=128 * BS, requests=4)
    time.sleep(0.15)
    handle.cancel()
    assert not _readahead_threads()
    assert src.active == 0
    fetched = sum(src.fetched.values())
    assert fetched < 128  # stopped before the end
    time.sleep(0.2)
    assert sum(src.fetched.values()) == fetched  # and nothing more afterwards
    assert src.memory.pinned_bytes == 0


def test_a_failed_read_ahead_stops_and_the_reader_meets_the_error(data):
    src = SlowSource(data, delay=0.0, fail_at=10 * BS)
    handle = src.read_ahead([(0, 32 * BS)], max_bytes=32 * BS, requests=1)
    deadline = time.monotonic() + 5
    while src._ahead.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(src._ahead.error, OSError)
    time.sleep(0.05)
    assert not _readahead_threads()
    with pytest.raises(OSError, match="injected"):
        src.read_range(10 * BS, 11 * BS)
    handle.cancel()


def test_close_stops_the_read_ahead(data):
    src = SlowSource(data, delay=0.05)
    src.read_ahead([(0, 128 * BS)], max_bytes=128 * BS, requests=2)
    time.sleep(0.06)
    src.close()
    assert not _readahead_threads() and src.active == 0


def test_pinned_lru_pins_only_wanted_blocks_put_by_a_prefetcher():
    lru = PinnedLRU(max_bytes=8)
    lru.want(["a", "b"])
    lru.put("a", b"1234")  # a reader's put: not pinned, no longer wanted
    with lru.prefetching():
        lru.put("a", b"1234")
        lru.put("b", b"5678")
    assert lru.pinned_bytes == 4 and lru.nbytes == 8
    assert not lru.is_wanted("b") and lru.contains("b")
    lru.unwant(["b"])
    assert lru.pinned_bytes == 0 and lru.get("b") == b"5678"


def test_lru_gives_way_to_pinned_blocks():
    # pinned bytes are in the job's budget: the LRU of read blocks shrinks while they are held, so
    # the source never holds its whole LRU on top of the read-ahead (down to an eighth of it)
    lru = PinnedLRU(max_bytes=64)
    for i in range(8):
        lru.put(("old", i), b"x" * 8)
    assert lru.nbytes == 64
    lru.want(range(6))
    with lru.prefetching():
        for i in range(6):
            lru.put(i, b"p" * 8)
    assert lru.pinned_bytes == 48
    assert lru.nbytes == 64  # 48 pinned + the 16 most recent LRU bytes
    assert lru.get(("old", 7)) is not None and lru.get(("old", 0)) is None
    lru.want([10, 11])
    with lru.prefetching():
        lru.put(10, b"p" * 8)
        lru.put(11, b"p" * 8)
    assert lru.pinned_bytes == 64 and lru.nbytes == 64 + 8  # the LRU keeps an eighth
    for i in range(6):
        assert lru.get(i) == b"p" * 8  # read once: unpinned, an ordinary LRU entry within the limit
    assert lru.pinned_bytes == 16 and lru.nbytes <= 64


def test_a_planned_reads_presence_check_leaves_read_ahead_blocks_pinned():
    """``source.prefetch`` (a planned read warming its blocks) looks whether they are held: a look,
    not a read. It unpinned them, and the LRU, which gives way to pins, dropped them before the read
    that followed (the 1-h LFP's cold PSD read 1,650 of 1,860 blocks back from the disk cache)."""
    from napstream.io.base import BlockedSource

    class Counting(BlockedSource):
        def __init__(self, data):
            self.data, self.fetched = data, 0
            super().__init__(len(data), block_size=4, description="counting", memory_bytes=8)

        def _fetch_ranges(self, ranges):
            self.fetched += sum(b - a for a, b in ranges)
            return [self.data[a:b] for a, b in ranges]

    src = Counting(bytes(range(64)))
    handle = src.read_ahead([(0, 32)], max_bytes=64)
    assert handle.wait(timeout=5)
    fetched = src.fetched
    assert src.memory.pinned_bytes == 32
    src.prefetch([(0, 32)])  # the planned read's warm-up: everything is held, nothing to do
    assert src.memory.pinned_bytes == 32  # still pinned (was 0: unpinned, then evicted)
    assert src.read_range(0, 32) == bytes(range(32))
    assert src.fetched == fetched  # read from memory, not fetched again
    handle.cancel()
