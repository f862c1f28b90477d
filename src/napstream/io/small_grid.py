"""The small grid of a block-cached remote source: metadata pieces fetched a few kilobytes at a time.

:class:`~napstream.io.base.BlockedSource` mixes :class:`SmallGrid` in. Its blocks are large (256 KiB
by default: few requests for bulk data); a file's metadata is many scattered pieces of a few hundred
bytes, and whole blocks around each would fetch megabytes for kilobytes. :meth:`SmallGrid._prefetch_small`
fetches the pieces on a finer grid of ``small_block_size`` blocks (16 KiB), at most
``max_concurrency`` requests per round trip; every read then looks for its bytes on both grids
(:meth:`SmallGrid._held_bytes`), and whole blocks fetched later around held pieces skip them
(:meth:`SmallGrid._fetch_unheld`): no byte is fetched twice.

Examples
--------
>>> from napstream.io.base import BlockedSource
>>> class Fake(BlockedSource):
...     small_block_size = 16
...     def __init__(self, data):
...         self.data, self.asked = data, []
...         super().__init__(len(data), block_size=64, description="fake")
...     def _fetch_ranges(self, ranges):
...         self.asked += [(r.start, r.end) for r in ranges]
...         return [self.data[r.start:r.end] for r in ranges]
>>> src = Fake(bytes(range(200)))
>>> src.small_grid
16
>>> src.prefetch_small([(20, 24)])  # one small block of 16 bytes, not the 64-byte block
>>> src.asked
[(16, 32)]
>>> src.read_range(20, 24) == bytes(range(20, 24)), src.asked  # held: nothing fetched again
(True, [(16, 32)])
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from . import trace as _trace
from .gcpause import gc_paused
from .ranges import ByteRange, block_bounds, blocks_for

__all__ = ["SmallGrid"]


class SmallGrid:
    """Metadata pieces on a finer grid than the blocks (see the module docstring); the attributes it
    uses (``block_size``, ``small_block_size``, ``memory``, ``_small``, ``_disk``, ``_lookup``,
    ``_fetch_ranges``, ``_fragment``, ``stats``...) are :class:`~napstream.io.base.BlockedSource`'s."""

    _small: Any
    _fragment: Any

    @property
    def small_grid(self) -> int | None:
        """Block size used by :meth:`prefetch_small`, or None when it fetches whole blocks."""
        return self._small_size

    @property
    def _small_size(self) -> int | None:
        """Block size of the small grid, or None when it would not be finer than ``block_size``."""
        f = self.small_block_size
        if not f or f * 2 > self.block_size or self.block_size % f:
            return None
        if getattr(self, "_check_content", False):  # no usable validators: bytes read at different
            return None  # times are only joined within whole blocks, whose edges are compared
        return f

    def _small_lookup(self, j: int, disk: bool = True) -> bytes | None:
        data = self._small.get(j)
        cache = self._disk if disk else None
        if data is None and cache is not None:
            f = self._small_size
            data = cache.get(self.cache_key, f, j, block_bounds(j, f, self.size).length)  # type: ignore[arg-type]
            if data is not None:
                self._small.put(j, data)
        return data

    def _held_bytes(self, r: ByteRange) -> bytes | None:
        """Bytes ``r`` from blocks held in memory or on disk, on either grid (or from an index node
        held whole, :meth:`~napstream.io.btree.IndexNodes.prefetch_exact_nodes`); None if any is missing."""
        if self._exact_nodes:  # type: ignore[attr-defined]
            node = self._exact_node(r)  # type: ignore[attr-defined]
            if node is not None:
                return node
        data = self._held_on(r, disk=False)  # memory first: h5py's many small reads touch no file
        return data if data is not None or self._disk is None else self._held_on(r, disk=True)

    def _held_on(self, r: ByteRange, disk: bool) -> bytes | None:
        size, f = self.block_size, self._small_size
        parts = []
        for i in blocks_for(r.start, r.end, size):
            lo, hi = max(r.start, i * size), min(r.end, (i + 1) * size)
            block = self._lookup(i) if disk else self.memory.get(i)
            if block is not None:
                parts.append(block[lo - i * size: hi - i * size])
                continue
            if f is None:
                return None
            for j in blocks_for(lo, hi, f):
                small = self._small_lookup(j, disk)
                if small is None:
                    return None
                parts.append(small[max(lo - j * f, 0): hi - j * f])
        return b"".join(parts)

    #: a span held on the small grid inside a range to fetch is skipped (the range split in two
    #: requests of the same batch) when it is at least this long; at a range's ends it always is
    min_skip = 8 * 1024
    #: most bytes between runs of small blocks joined into fewer requests to save a round trip (in
    #: all, over the gaps joined to save it; :meth:`_small_runs`): a round trip is worth about
    #: this much at 100 Mbit/s and 20 ms
    small_join_gap = 256 * 1024

    def _fetch_unheld(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        """:meth:`_fetch_ranges` of ``ranges`` without the bytes the small grid holds in memory.

        The metadata walk fetched small blocks; whole blocks fetched later around them (data next
        to metadata) would bring those bytes a second time. Held spans at the ends of a range are
        cut off; inside, spans of at least ``min_skip`` bytes are skipped as long as the batch stays
        within ``max_concurrency`` requests. The bodies returned are whole, as asked.
        """
        f = self._small_size
        if f is None or not self._small.nbytes:
            return self._fetch_ranges(ranges)
        layout = self._unheld_parts(ranges, f)
        pieces = [ByteRange(a, b) for _, parts in layout for a, b in parts if b > a]
        bodies = iter(self._fetch_ranges(pieces) if pieces else [])
        out = []
        for r, (edges, parts) in zip(ranges, layout):
            chunks, at = [], r.start
            for a, b in parts:
                if a > at:
                    chunks.append(self._small_bytes(at, a, f))
                if b > a:
                    chunks.append(next(bodies))
                at = max(at, b)
            if r.end > at:
                chunks.append(self._small_bytes(at, r.end, f))
            out.append(b"".join(chunks))
        self.stats.add(bytes_from_cache=sum(r.length for r in ranges) - sum(p.length for p in pieces))
        return out

    def _unheld_parts(self, ranges: Sequence[ByteRange], f: int) -> list[tuple[bool, list[tuple[int, int]]]]:
        """For each of ``ranges``: (whether held ends were cut off, the parts to fetch, in order
        and maybe empty); the bytes between them are held on the small grid (see
        :meth:`_fetch_unheld`)."""
        plans = [self._held_spans(r, f) for r in ranges]
        room = max(self.max_concurrency, len(ranges)) - len(ranges)
        splits = sorted(((b - a, k, a, b) for k, (_, inner) in enumerate(plans) for a, b in inner), reverse=True)
        cut: dict[int, list[tuple[int, int]]] = {}
        for _, k, a, b in splits[:room]:
            cut.setdefault(k, []).append((a, b))
        layout = []
        for k, ((lo, hi, edges), _) in enumerate(plans):
            parts, at = [], lo
            for a, b in sorted(cut.get(k, [])):
                parts.append((at, a))
                at = b
            parts.append((at, hi))
            layout.append((edges, parts))
        return layout

    def _held_spans(self, r: ByteRange, f: int) -> tuple[tuple[int, int, bool], list[tuple[int, int]]]:
        """((start, end, trimmed) of ``r`` without its held ends, [held spans inside of >= min_skip])."""
        spans: list[list[int]] = []
        for j in blocks_for(r.start, r.end, f):
            if self._small.get(j) is None:
                continue
            a, b = max(j * f, r.start), min((j + 1) * f, self.size, r.end)
            if spans and spans[-1][1] == a:
                spans[-1][1] = b
            else:
                spans.append([a, b])
        lo, hi = r.start, r.end
        if spans and spans[0][0] == lo:
            lo = spans.pop(0)[1]
        if spans and spans[-1][1] == hi:
            hi = spans.pop()[0]
        if hi <= lo:
            return (lo, lo, True), []
        inner = [(a, b) for a, b in spans if b - a >= self.min_skip and lo < a and b < hi]
        return (lo, hi, (lo, hi) != (r.start, r.end)), inner

    def _small_held(self, j: int, f: int) -> bool:
        """True when small block ``j``'s bytes are here already (small grid or a whole block in memory)."""
        # a presence check: contains() leaves a pinned read-ahead block pinned (get() would unpin it)
        if self._small.get(j) is not None or self.memory.contains(j * f // self.block_size):
            return True
        return False

    def _put_small(self, j: int, block: bytes) -> None:
        self._small.put(j, block)
        disk = self._disk
        if disk is not None:
            disk.put(self.cache_key, self._small_size, j, block)  # type: ignore[arg-type]

    def _small_bytes(self, start: int, end: int, f: int) -> bytes:
        parts = []
        for j in blocks_for(start, end, f):
            block = self._small.get(j)
            if block is None:  # evicted meanwhile: fetch these few bytes after all
                return b"".join(parts) + self._fetch_ranges([ByteRange(max(start, j * f), end)])[0]
            parts.append(block[max(start - j * f, 0): end - j * f])
        return b"".join(parts)

    def _small_runs(self, ranges: Sequence[ByteRange], f: int) -> list[list[int]]:
        """[first, last] small blocks to fetch for ``ranges``: pieces already held are skipped, and the
        runs are joined across their smallest gaps towards one round trip (``max_concurrency``
        requests) for them all, while a round trip saved costs at most ``small_join_gap`` bytes."""
        wanted: set[int] = set()
        for r in ranges:
            if self._held_bytes(r) is None:
                wanted.update(j for j in blocks_for(r.start, r.end, f) if not self._small_held(j, f))
        frag = self._fragment
        if frag is not None:  # bytes the open's suffix request brought: small blocks of their own now
            for j in sorted(wanted):
                if frag[1] <= j * f and (j + 1) * f <= (frag[0] + 1) * self.block_size:
                    self._put_small(j, frag[2][j * f - frag[1]: (j + 1) * f - frag[1]])
                    wanted.discard(j)
        runs: list[list[int]] = []
        for j in sorted(wanted):
            if runs and runs[-1][1] == j - 1:
                runs[-1][1] = j
            else:
                runs.append([j, j])
        # join across the smallest gaps while more runs than one round trip's requests are left, as
        # long as each round trip saved costs at most ``small_join_gap`` bytes between the runs:
        # pieces far apart (the headers of datasets written between their
        # data) are more requests, not the data between them. The cost counts every gap joined to
        # save the trip: 14 gaps of 240 KiB are 3.3 MiB for one round trip, not 240 KiB.
        most, mc = int(self.small_join_gap), max(self.max_concurrency, 1)
        while len(runs) > mc:
            gaps = sorted(range(len(runs) - 1), key=lambda k: runs[k + 1][0] - runs[k][1])
            joins = gaps[: len(runs) - (-(-len(runs) // mc) - 1) * mc]  # the fewest that save one trip
            if sum((runs[k + 1][0] - runs[k][1] - 1) * f for k in joins) > most:
                break
            for k in sorted(joins, reverse=True):
                runs[k][1] = runs[k + 1][1]
                del runs[k + 1]
        return runs

    def _prefetch_small(self, ranges: Sequence[ByteRange], role: str = "small") -> None:
        f = self._small_size
        if f is None:
            self._prefetch(ranges)
            return
        runs = self._small_runs(ranges, f)
        if not runs:
            return
        asked = [ByteRange(a * f, min((b + 1) * f, self.size)) for a, b in runs]
        frag, tails = self._fragment, [b""] * len(asked)
        if frag is not None:  # the end of a run the open's suffix request brought: not asked again
            for k, rng in enumerate(asked):
                if rng.start < frag[1] < rng.end <= (frag[0] + 1) * self.block_size:
                    tails[k], asked[k] = frag[2][: rng.end - frag[1]], ByteRange(rng.start, frag[1])
        t0 = time.perf_counter()
        with gc_paused(), _trace.role(role):
            bodies = [body + t for body, t in zip(self._fetch_ranges(asked), tails)]
        # more requests than ``max_concurrency`` (runs too far apart to join) go out in waves
        waves = -(-len(asked) // max(self.max_concurrency, 1))
        self.stats.add(round_trips=waves, wait_seconds=time.perf_counter() - t0)
        asked = [ByteRange(rng.start, rng.end + len(t)) for rng, t in zip(asked, tails)]
        self.stats.add(cache_misses=sum(b - a + 1 for a, b in runs))
        for (a, b), rng, body in zip(runs, asked, bodies):
            for j in range(a, b + 1):
                self._put_small(j, body[j * f - rng.start: min((j + 1) * f, self.size) - rng.start])
