"""A reader that catches up with the read-ahead (io/pinned.py ``ReadAhead.hurry``), on a fake slow source.

Blocks the read-ahead queued but did not start are fetched next by the read-ahead, for the reader
(not by the reader in competition), all requests out while it waits, each byte once; cancelling
while a reader waits for them leaves no thread, pin or claim behind.
"""

from __future__ import annotations

import collections
import threading
import time

import pytest

from napstream.io.base import BlockedSource

BS = 1024


class SlowSource(BlockedSource):
    """Every request takes ``delay`` s; records who fetched each block and the read-ahead's requests out."""

    def __init__(self, data: bytes, delay: float = 0.05, gate: threading.Event | None = None):
        self.data = data
        self.delay = delay
        self.gate = gate  # when set up: read-ahead requests wait for it (a stalled link)
        self.who = collections.defaultdict(list)  # block -> names of the threads that fetched it
        self.ahead_out = 0
        self.ahead_peak = 0
        self._count = threading.Lock()
        super().__init__(len(data), block_size=BS, description="slow", max_concurrency=8)

    def _fetch_ranges(self, ranges):
        name = threading.current_thread().name
        ahead = name.startswith("napstream-readahead")
        with self._count:
            for r in ranges:
                for i in range(r.start // BS, -(-r.end // BS)):
                    self.who[i].append(name)
            if ahead:
                self.ahead_out += len(ranges)
                self.ahead_peak = max(self.ahead_peak, self.ahead_out)
        try:
            if ahead and self.gate is not None:
                self.gate.wait(10)
            time.sleep(self.delay)
            return [self.data[r.start:r.end] for r in ranges]
        finally:
            if ahead:
                with self._count:
                    self.ahead_out -= len(ranges)


@pytest.fixture
def data():
    return bytes(i % 251 for i in range(128 * BS))


def _no_leftovers(src):
    deadline = time.monotonic() + 5
    while any(t.name.startswith("napstream-readahead") and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "read-ahead threads left behind"
        time.sleep(0.01)
    assert src.memory.pinned_bytes == 0
    assert not src._inflight  # no claim left: nobody would ever set its event


def test_reader_that_catches_up_gets_queued_blocks_from_the_read_ahead(data):
    src = SlowSource(data, delay=0.05)
    # room for 4 blocks: the read-ahead is far behind block 40 when the reader asks for it
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=4 * BS, requests=4)
    try:
        assert src.read_range(40 * BS, 48 * BS) == data[40 * BS: 48 * BS]
        ahead = src._ahead
        assert ahead.hurried == 8
        for i in range(40, 48):  # fetched once, by a read-ahead thread, not by the reader
            assert len(src.who[i]) == 1, (i, src.who[i])
            assert src.who[i][0].startswith("napstream-readahead"), (i, src.who[i])
        # the rest of the plan is still read ahead, each block once
        assert src.read_range(0, 64 * BS) == data[: 64 * BS]
        handle.wait(timeout=10)
    finally:
        handle.cancel()
    assert all(len(names) == 1 for names in src.who.values()), {i: n for i, n in src.who.items() if len(n) > 1}
    _no_leftovers(src)


def test_read_ahead_keeps_all_requests_out_while_a_reader_waits(data):
    src = SlowSource(data, delay=0.1)
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=8 * BS, requests=4)
    ahead = src._ahead
    ahead.sizer.target = lambda request_bytes, cap: 1  # the sizer thinks one request fills the link
    try:
        time.sleep(0.02)
        assert src.read_range(32 * BS, 40 * BS) == data[32 * BS: 40 * BS]  # 8 queued blocks, waited for
        assert src.ahead_peak >= 4  # the reader's blocks in 3-4 requests at once, with the one out before
        assert ahead.in_flight_target() == 4  # and all requests out for a while after
    finally:
        handle.cancel()
    assert all(len(names) == 1 for names in src.who.values())
    _no_leftovers(src)


def test_cancel_while_a_reader_waits_for_hurried_blocks(data):
    gate = threading.Event()
    src = SlowSource(data, delay=0.01, gate=gate)  # the read-ahead's requests stall until the gate opens
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=8 * BS, requests=1)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(src.read_range(50 * BS, 52 * BS)))
    try:
        deadline = time.monotonic() + 5
        while not src.who and time.monotonic() < deadline:  # the one fetcher is stuck in its first request
            time.sleep(0.005)
        reader.start()
        while not src._ahead._urgent and time.monotonic() < deadline:  # the reader's blocks are hurried
            time.sleep(0.005)
        assert src._ahead._urgent
        canceller = threading.Thread(target=handle.cancel)
        canceller.start()
        reader.join(5)  # the claims were given back: the reader fetched its blocks itself
        assert not reader.is_alive()
        assert got == [data[50 * BS: 52 * BS]]
        assert not src.who[50][0].startswith("napstream-readahead")
    finally:
        gate.set()
        handle.cancel()
    canceller.join(5)
    _no_leftovers(src)
    assert all(len(names) == 1 for names in src.who.values())


def test_failed_read_ahead_gives_hurried_blocks_back(data):
    class Failing(SlowSource):
        def _fetch_ranges(self, ranges):
            if threading.current_thread().name.startswith("napstream-readahead"):
                time.sleep(0.05)
                raise OSError("link down")
            return super()._fetch_ranges(ranges)

    src = Failing(data)
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=8 * BS, requests=2)
    try:
        assert src.read_range(20 * BS, 30 * BS) == data[20 * BS: 30 * BS]  # fetched by the reader after all
    finally:
        handle.cancel()
    _no_leftovers(src)


def test_reader_waiting_for_blocks_in_flight_puts_all_requests_out(data):
    src = SlowSource(data, delay=0.2)
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=8 * BS, requests=4)
    ahead = src._ahead
    ahead.sizer.target = lambda request_bytes, cap: 1  # the sizer thinks one request fills the link
    try:
        deadline = time.monotonic() + 5
        while 0 not in src.who and time.monotonic() < deadline:  # block 0 is in flight
            time.sleep(0.005)
        assert ahead.in_flight_target() == 1
        assert src.read_range(0, BS) == data[:BS]  # waited for the read-ahead's request
        assert ahead.in_flight_target() == 4
        assert len(src.who[0]) == 1
    finally:
        handle.cancel()
    _no_leftovers(src)


def test_blocks_a_reader_missed_stay_in_the_plan_until_it_hurries_them(data):
    src = SlowSource(data, delay=0.05)
    handle = src.read_ahead([(0, 64 * BS)], max_bytes=4 * BS, requests=2)
    try:
        for i in range(4, 8):  # a reader looked for them (a miss) and has not asked for them yet
            assert src.memory.get(i) is None
        time.sleep(0.3)  # meanwhile the fetchers pass them at the head of the queue
        assert src.read_range(4 * BS, 8 * BS) == data[4 * BS: 8 * BS]
        for i in range(4, 8):  # the read-ahead brought them (not the reader), once
            assert len(src.who[i]) == 1 and src.who[i][0].startswith("napstream-readahead"), (i, src.who[i])
    finally:
        handle.cancel()
    _no_leftovers(src)
