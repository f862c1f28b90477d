"""Requests in flight of the read-ahead follow the bandwidth-delay product (io/pinned.py InFlight).

The rule is checked on a simulated link (no clock: a fluid model of the loopback server's caps,
latency + per-response cap + shared link), then on the real loopback server for what the
measurements must respect whatever the machine's load.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from napstream.io.base import BlockedSource
from napstream.io.http import HTTPSource
from napstream.io.pinned import InFlight, ReadAhead, varied_run

MiB = 2**20


def simulate(latency, stream, link, cap, n=2 * MiB, block=256 * 1024, requests=300, dt=0.0005, vary=True):
    """Fluid model of the test server: each request waits ``latency``, then its body moves at
    min(stream, link / bodies moving). The sizer decides how many requests are out (on a simulated
    clock); request sizes follow the read-ahead's rule (``varied_run``) unless ``vary`` is False."""
    clock = [0.0]
    sizer = InFlight(start=2, clock=lambda: clock[0])
    out, done, targets, started = [], [], [], 0
    while len(done) < requests:
        target = sizer.target(n, cap)
        targets.append(target)
        while len(out) < target and started < requests:
            size = varied_run(n, started, block) // block * block if vary else n
            out.append({"start": clock[0], "left": float(size), "n": size, "ticket": sizer.begin()})
            started += 1
        moving = [r for r in out if clock[0] >= r["start"] + latency]
        rate = min(stream, link / len(moving)) if moving else 0.0
        clock[0] += dt
        for r in moving:
            r["left"] -= rate * dt
        for r in [r for r in out if r["left"] <= 0]:
            out.remove(r)
            sizer.end(r["ticket"], r["n"], first_byte=latency)
            done.append((clock[0], r["n"]))
    half = done[len(done) // 2:]
    throughput = sum(b for _, b in half[1:]) / (half[-1][0] - half[0][0])
    return throughput, targets[len(targets) // 2:]


@pytest.mark.parametrize("link_mbit, need", [(100, 1), (400, 3), (1000, 7)])
def test_the_link_is_kept_full_with_a_few_requests_more_than_it_needs(link_mbit, need):
    # 30 ms latency, 200 Mbit/s per response: a 2 MiB request holds its slot 0.114 s alone, so a
    # link of 100 / 400 / 1000 Mbit/s needs 0.7 / 2.7 / 6.8 of them
    link = link_mbit * 1e6 / 8
    throughput, targets = simulate(0.03, 25e6, link, cap=16)
    assert throughput >= 0.95 * link
    # enough, and no runaway to the cap (a link full from the start hides the per-stream rate: a few extra)
    assert need <= min(targets) and max(targets) <= need + 3


def test_requests_of_one_size_fall_in_step_and_leave_the_link_idle():
    # why the sizes vary: the same rule with equal sizes keeps less than 90% of the link busy
    link = 400e6 / 8
    assert simulate(0.03, 25e6, link, cap=16, vary=False)[0] < 0.9 * link
    assert simulate(0.03, 25e6, link, cap=16, vary=True)[0] >= 0.95 * link


def test_the_cap_bounds_the_requests_even_when_the_link_wants_more():
    link = 1000e6 / 8
    throughput, targets = simulate(0.03, 25e6, link, cap=4)
    assert max(targets) == 4
    mean = sum(varied_run(2 * MiB, k, 256 * 1024) // (256 * 1024) for k in range(300)) / 300 * 256 * 1024
    assert throughput == pytest.approx(4 * mean / (0.03 + mean / 25e6), rel=0.05)  # 4 streams' worth


def test_a_source_without_first_byte_times_sizes_from_durations():
    now = [0.0]
    sizer = InFlight(start=2, clock=lambda: now[0])
    assert sizer.target(1000, cap=8) == 2  # nothing measured yet
    for _ in range(6):  # every request takes 50 ms whatever its size (latency only), 2 at a time
        tickets = [sizer.begin(), sizer.begin()]
        now[0] += 0.05
        for t in tickets:
            sizer.end(t, 1000)
    assert sizer.throughput() == pytest.approx(2 * 1000 / 0.05)
    assert sizer.target(1000, cap=8) == 3  # 2 requests' worth measured, probe one more
    assert sizer.target(1000, cap=1) == 1
    failed = sizer.begin()
    sizer.end(failed, 0)  # a failed request frees its place, measures nothing
    assert sizer._out == 0 and sizer.target(1000, cap=8) == 3


class Instant(BlockedSource):
    def __init__(self, data: bytes):
        self.data = data
        super().__init__(len(data), block_size=1024, description="instant", max_concurrency=8)

    def _fetch_ranges(self, ranges):
        return [self.data[r.start:r.end] for r in ranges]


def test_read_ahead_keeps_within_the_pin_room():
    src = Instant(bytes(64 * 1024))
    handle = src.read_ahead([(0, 64 * 1024)], max_bytes=3 * 1024, requests=8)
    try:
        assert src._ahead.in_flight_target() <= 3  # one block per request at least
    finally:
        handle.cancel()


def test_measurements_on_the_loopback_server_respect_its_caps(http_server, tmp_path):
    # whatever the machine's load: the first byte never comes before the server's latency, and no
    # body moves faster than the per-response cap (lower and upper bounds, not timings)
    payload = os.urandom(6 * MiB)
    (tmp_path / "f.bin").write_bytes(payload)
    server = http_server(tmp_path, latency=0.03, bandwidth=20e6, link=40e6)
    src = HTTPSource(server.url_for("f.bin"), block_size=256 * 1024, max_concurrency=4)
    try:
        handle = src.read_ahead([(0, len(payload))], max_bytes=8 * MiB)  # room for it all: no reader needed
        assert handle is not None and handle.wait(30)
        ahead = src._ahead
        assert src.read_range(0, len(payload)) == payload
        sizer = ahead.sizer
        assert min(sizer._latency) >= 0.03
        assert 0 < sizer._stream_rate <= 20e6 * 1.15
        assert 1 <= ahead.max_in_flight <= 4
        handle.cancel()
    finally:
        src.close()


class SlowLink(BlockedSource):
    """A fake remote file behind a slow link: each request waits ``latency`` (its first byte), then
    moves at ``rate`` bytes/s; it records the bytes of every request and the bytes out plus pinned
    whenever a request starts."""

    def __init__(self, data: bytes, block: int, latency: float, rate: float):
        self.data, self.latency, self.rate = data, latency, rate
        self.sizes, self.held, self.out, self.fetched = [], [], 0, []
        self.lock = threading.Lock()
        super().__init__(len(data), block_size=block, description="slow link", max_concurrency=4)

    def _last_first_byte(self):
        return self.latency

    def _fetch_ranges(self, ranges):
        n = sum(r.end - r.start for r in ranges)
        with self.lock:
            self.out += n
            self.sizes.append(n)
            self.held.append(self.out + self.memory.pinned_bytes)
            self.fetched.extend(ranges)
        try:
            time.sleep(self.latency + n / self.rate)
            return [self.data[r.start:r.end] for r in ranges]
        finally:
            with self.lock:
                self.out -= n


def test_requests_grow_to_cover_the_latency_and_stay_within_the_pin_room(monkeypatch):
    # 50 ms of latency at 20 MB/s per stream: a 64 KiB request would idle its stream 94% of its
    # time, so requests grow (to a sixth of latency: 5 MB, far above the most allowed here) up to
    # the pin room shared by the requests out: 1 MiB / 4 = 256 KiB each. Before, requests stayed at
    # run_bytes (64 KiB), at most 256 KiB out in all
    block = 16 * 1024
    monkeypatch.setattr(ReadAhead, "run_bytes", 4 * block)
    monkeypatch.setattr(ReadAhead, "most_run_bytes", 32 * block)
    data = np.random.default_rng(3).integers(0, 256, 512 * block, dtype=np.uint8).tobytes()
    src = SlowLink(data, block, latency=0.05, rate=20e6)
    limit = 64 * block
    handle = src.read_ahead([(0, len(data))], max_bytes=limit, requests=4)
    try:
        for a in range(0, len(data), 32 * block):
            assert src.read_range(a, a + 32 * block) == data[a:a + 32 * block]
    finally:
        handle.cancel()
    assert max(src.sizes) > 4 * block  # longer requests than run_bytes ...
    assert max(src.sizes) <= limit // 4  # ... within each request's share of the pin room
    assert max(src.held) > 4 * 4 * block  # more bytes out than 4 requests of run_bytes could hold
    assert max(src.held) <= limit + 4 * block  # out + pinned within the room (+ readers' own fetches)
    fetched = sorted((r.start, r.end) for r in src.fetched)
    assert sum(b - a for a, b in fetched) == len(data)  # every byte once
    assert all(b0 <= a1 for (_, b0), (a1, _) in zip(fetched, fetched[1:]))


def test_request_bytes_cover_the_latency_share_between_the_bounds():
    now = [0.0]
    sizer = InFlight(clock=lambda: now[0])
    assert sizer.request_bytes(2 * MiB, 8 * MiB) == 2 * MiB  # nothing measured
    t = sizer.begin()
    now[0] += 0.03 + MiB / 25e6
    sizer.end(t, MiB, first_byte=0.03)  # 30 ms, 25 MB/s: 5 * 0.03 * 25e6 = 3.75 MB
    assert sizer.request_bytes(2 * MiB, 8 * MiB) == 3_750_000
    assert sizer.request_bytes(2 * MiB, 3 * MiB) == 3 * MiB
    assert sizer.request_bytes(4 * MiB, 8 * MiB) == 4 * MiB
    quick = InFlight(clock=lambda: now[0])  # no latency to hide: the base
    t = quick.begin()
    now[0] += MiB / 25e6
    quick.end(t, MiB, first_byte=0.0)
    assert quick.request_bytes(2 * MiB, 8 * MiB) == 2 * MiB


def test_a_reader_freeing_pins_block_by_block_gets_no_one_block_requests(monkeypatch):
    # the read-ahead is ahead (pins full) and the reader frees one block at a time: a fetcher waits
    # for room for half a request instead of sending a request per freed block (before: most of
    # them one or two blocks, each its own round trip)
    block = 16 * 1024
    monkeypatch.setattr(ReadAhead, "run_bytes", 8 * block)
    monkeypatch.setattr(ReadAhead, "most_run_bytes", 8 * block)
    data = np.random.default_rng(4).integers(0, 256, 160 * block, dtype=np.uint8).tobytes()
    src = SlowLink(data, block, latency=0.005, rate=1e9)
    handle = src.read_ahead([(0, len(data))], max_bytes=16 * block, requests=2)
    try:
        deadline = time.monotonic() + 5
        while src.memory.pinned_bytes < 8 * block and time.monotonic() < deadline:
            time.sleep(0.005)  # the read-ahead gets ahead first
        for k in range(160):
            time.sleep(0.004)
            assert src.read_range(k * block, (k + 1) * block) == data[k * block:(k + 1) * block]
    finally:
        handle.cancel()
    small = sum(1 for n in src.sizes if n < 3 * block)
    assert small <= 2 + src._ahead.hurried, src.sizes
    assert sum(src.sizes) == len(data)  # every byte once


def _ramped_link(monkeypatch, seed, latency, rate):
    """(block, data, source): 256 blocks of 16 KiB behind a SlowLink, requests of at most 32 blocks,
    a ramp starting at 2 blocks."""
    block = 16 * 1024
    monkeypatch.setattr(ReadAhead, "run_bytes", 32 * block)
    monkeypatch.setattr(ReadAhead, "most_run_bytes", 32 * block)
    monkeypatch.setattr(ReadAhead, "ramp_first", 2 * block)
    data = np.random.default_rng(seed).integers(0, 256, 256 * block, dtype=np.uint8).tobytes()
    return block, data, SlowLink(data, block, latency=latency, rate=rate)


def test_the_first_requests_from_idle_are_short_and_grow(monkeypatch):
    # the requests out share the link: a long first request would end with the others, and the
    # reader (who needs its bytes first) would wait for the whole first wave. From idle, each
    # request is at most ramp_first * ramp_growth**k bytes, so the first bytes land first
    block, data, src = _ramped_link(monkeypatch, seed=5, latency=0.01, rate=200e6)
    handle = src.read_ahead([(0, len(data))], max_bytes=len(data), requests=4)
    try:
        assert handle.wait(30)
    finally:
        handle.cancel()
    first = sorted(src.fetched, key=lambda r: r.start)
    sizes = [r.end - r.start for r in first]
    ramp = [max(block, int(2 * block * 1.5 ** k)) for k in range(len(sizes))]
    assert sizes[:4] == [2 * block, 3 * block, 4 * block, 6 * block]  # 2, 3, 4.5 -> 4, 6.75 -> 6 blocks
    assert all(n <= cap for n, cap in zip(sizes, ramp))
    assert max(sizes) >= 24 * block  # grown to run_bytes (less up to a quarter, varied_run) past the ramp
    assert sum(sizes) == len(data)  # every byte once


def test_a_plan_announced_while_requests_are_still_out_ramps_too(monkeypatch):
    # the second plan comes while the first one's last request is out, nothing queued: its reader
    # waits for its first blocks, so its first requests are short again
    block, data, src = _ramped_link(monkeypatch, seed=6, latency=0.05, rate=50e6)
    first = src.read_ahead([(0, 2 * block)], max_bytes=len(data), requests=4)
    deadline = time.monotonic() + 5
    while not src.sizes and time.monotonic() < deadline:
        time.sleep(0.002)  # its one request is out
    second = src.read_ahead([(128 * block, 256 * block)], max_bytes=len(data), requests=4)
    try:
        assert second.wait(30)
    finally:
        first.cancel()
        second.cancel()
    ranges = sorted((r for r in src.fetched if r.start >= 128 * block), key=lambda r: r.start)
    assert ranges[0].end - ranges[0].start == 2 * block  # the second plan's first request: ramp_first
    assert sum(r.end - r.start for r in src.fetched) == len(data) // 2 + 2 * block  # every byte once


def test_each_plan_keeps_its_own_request_cap():
    # a plan queued behind another with fewer requests (the position behind the units) must not
    # lower the first plan's cap; the cap follows the plans still active
    block = 16 * 1024
    data = bytes(64 * block)
    src = SlowLink(data, block, latency=0.02, rate=1e9)
    src.max_concurrency = 8
    first = src.read_ahead([(0, 32 * block)], max_bytes=64 * block, requests=8)
    second = src.read_ahead([(32 * block, 64 * block)], max_bytes=64 * block, requests=2)
    try:
        assert src._ahead.requests == 8
        first.cancel()
        assert src._ahead.requests == 2
    finally:
        first.cancel()
        second.cancel()
