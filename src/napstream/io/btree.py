"""Walks of HDF5 chunk indexes: fetch the next sibling nodes in one round trip, not one by one.

A chunked dataset's chunk index (HDF5's version-1 B-tree, the default of h5py and of most NWB
files) is a tree of ``TREE`` nodes scattered through the file, each a few kilobytes next to the
chunks it indexes. h5py walks it depth first (listing the chunks, ``chunk_iter``), one node read
at a time, and on a remote file every read of a node not held yet is a round trip of its own:
a 60-minute LFP's 63 leaf nodes cost 63 round trips, 3 s at 30 ms + transfer, with the link idle.

:class:`SiblingWalk` watches the node reads of a source (only reads that start with ``TREE``) and
parses each inner node's child addresses. When h5py reads three children of one node in a row, a
walk rather than a lookup (which reads one child per level, two when a read spans two leaves), the
rest of the siblings are worth fetching in one batch: :meth:`SiblingWalk.seen` returns their byte ranges.
Node layout (HDF5 file format, "Version 1 B-trees"): ``TREE``, node type (1: chunks), level
(0: leaf), entries used (2 bytes), left and right sibling addresses, then keys and child addresses
interleaved; a chunk key is the chunk's size (4 bytes), its filter mask (4) and ``rank + 1``
offsets of 8 bytes, the last 0 (but in the final key, after the last child). Only 8-byte
addresses are understood (HDF5's default); anything else is left alone (h5py reads it as before).

Examples
--------
>>> def node(level, children, rank=2, k=4):        # a chunk B-tree node with 2k entries of room
...     ks = 8 + 8 * (rank + 1)
...     body = bytearray(b"TREE" + bytes([1, level]) + len(children).to_bytes(2, "little") + bytes(16))
...     for c in children + [0] * (2 * k - len(children)):
...         body += bytes(ks) + c.to_bytes(8, "little")
...     return bytes(body + bytes(ks))
>>> parse_children(node(1, [1000, 5000, 9000]), file_size=10**6)
[1000, 5000, 9000]
>>> walk = SiblingWalk(file_size=10**6)
>>> walk.seen(100, node(1, [1000, 5000, 9000, 13000]))          # the parent: nothing yet
[]
>>> walk.seen(1000, node(0, [])), walk.seen(5000, node(0, []))  # two children: maybe a lookup
([], [])
>>> walk.seen(9000, node(0, []))                                 # a third in order: a walk
[(13000, 13376)]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import trace as _trace
from .ranges import ByteRange, normalize_ranges

__all__ = ["IndexNodes", "SiblingWalk", "in_lanes", "parse_children", "parse_node", "node_bytes", "walk_chunk_btree"]

_SIG = b"TREE"
_HEAD = 24  # signature, type, level, entries used, two sibling addresses (8-byte addresses)


def parse_children(data: bytes, file_size: int) -> list[int] | None:
    """Child node addresses of an inner chunk B-tree node ``data`` (a whole node), else None.

    None for anything that is not an inner node of type 1 with 8-byte addresses whose keys and
    children check out (the key of every child ends with an offset of 0, every child lies inside the file).
    """
    if len(data) < _HEAD or data[:4] != _SIG or data[4] != 1 or data[5] < 1:
        return None
    used = int.from_bytes(data[6:8], "little")
    if used < 1:
        return None
    size = len(data)
    for rank1 in range(2, 34):  # dimensions + 1 (HDF5 allows 32 dimensions)
        ks = 8 + 8 * rank1
        rest = size - _HEAD - ks  # a node holds 2K children and 2K + 1 keys
        if rest <= 0 or rest % (ks + 8) or used > rest // (ks + 8):
            continue
        children = []
        for k in range(used + 1):
            if k == used:
                return children
            key = _HEAD + k * (ks + 8)
            if any(data[key + ks - 8: key + ks]):
                break  # the extra dimension's offset is 0 in the key of every chunk
            child = int.from_bytes(data[key + ks: key + ks + 8], "little")
            if not 0 < child < file_size:
                break
            children.append(child)
    return None


def node_bytes(rank1: int, k: int = 32) -> int:
    """Bytes of a chunk B-tree node with room for ``2k`` children, for chunk keys of ``rank1``
    offsets (a dataset's rank + 1): 2616 for a 2-D dataset and HDF5's default ``k = 32``."""
    ks = 8 + 8 * rank1
    return _HEAD + (2 * k + 1) * ks + 2 * k * 8


def parse_node(data: bytes, rank1: int, file_size: int) -> tuple[int, list[int]] | None:
    """(level, child addresses) of the chunk B-tree node ``data`` whose keys hold ``rank1``
    offsets, or None when it is not one (or ``data`` is too short for its entries).

    A leaf's children (level 0) are its chunks' addresses, an inner node's the nodes one level down.
    Every child must lie inside the file and every key's last offset must be 0.
    """
    if len(data) < _HEAD or data[:4] != _SIG or data[4] != 1:
        return None
    level, used = data[5], int.from_bytes(data[6:8], "little")
    ks = 8 + 8 * rank1
    if len(data) < _HEAD + used * (ks + 8) + ks:
        return None
    children = []
    for k in range(used):
        key = _HEAD + k * (ks + 8)
        child = int.from_bytes(data[key + ks: key + ks + 8], "little")
        if any(data[key + ks - 8: key + ks]) or not 0 < child < file_size:
            return None
        children.append(child)
    return level, children


def walk_chunk_btree(root: int, rank1: int, k: int, file_size: int,
                     peek: Callable[[int, int], bytes | None], fetch: Callable[[list[tuple[int, int]]], None],
                     max_bytes: int, grid: int = 1, base: int = 0) -> int | None:
    """Fetch every node of the chunk B-tree at ``root``, one round trip per level; returns the
    round trips, or None when the walk stopped early (a node did not parse, or it would fetch
    more than ``max_bytes``).

    The nodes of a level are all known once their parents are parsed, so each level costs one
    ``fetch`` of every node not held yet (``peek(start, end)`` gives held bytes without fetching,
    else None). Fetched bytes are counted in blocks of ``grid`` bytes against ``max_bytes``. Child
    addresses are relative to ``base`` (the superblock's base address, after a user block). The
    walk only brings bytes: whoever lists the chunks afterwards (h5py's ``chunk_iter``) reads the
    nodes and finds them held; a walk that stops leaves the rest to that reader.

    >>> def node(level, children, rank1=3, k=2):
    ...     ks = 8 + 8 * rank1
    ...     body = bytearray(b"TREE" + bytes([1, level]) + len(children).to_bytes(2, "little") + bytes(16))
    ...     for c in children + [0] * (2 * k - len(children)):
    ...         body += bytes(ks) + c.to_bytes(8, "little")
    ...     return bytes(body + bytes(ks))
    >>> n = node_bytes(3, k=2)
    >>> disk = bytearray(4 * n)
    >>> disk[0:n] = node(1, [n, 2 * n]); disk[n:2 * n] = node(0, [3 * n]); disk[2 * n:3 * n] = node(0, [3 * n + 8])
    >>> held, asked = set(), []
    >>> peek = lambda a, b: bytes(disk[a:b]) if a in held else None
    >>> def fetch(ranges):
    ...     asked.append(ranges); held.update(a for a, _ in ranges)
    >>> walk_chunk_btree(0, 3, 2, len(disk), peek, fetch, max_bytes=10**6)
    2
    >>> asked                      # the root, then both leaves in one round trip
    [[(0, 216)], [(216, 432), (432, 648)]]
    """
    size = node_bytes(rank1, k)
    level: int | None = None  # the level of this round's nodes (the root's: read from it)
    want, trips, spent, nodes = [root], 0, 0, 0
    while want:
        spans = [(a, min(a + size, file_size)) for a in want]
        missing = [(a, b) for a, b in spans if peek(a, b) is None]
        if missing:
            spent += sum((b - 1) // grid - a // grid + 1 for a, b in missing) * grid
            if spent > max_bytes:
                return None
            fetch(missing)
            trips += 1
        below: list[int] = []
        for a, b in spans:
            data = peek(a, b)
            parsed = None if data is None else parse_node(data, rank1, file_size)
            if parsed is None:
                return None  # not a node of this tree (or not held after all): h5py walks the rest
            if level is None:
                level = parsed[0]
            if parsed[0] != level:
                return None
            if level > 0:
                below += [c + base for c in parsed[1]]
        nodes += len(spans)
        if level == 0 or not below or nodes + len(below) > 1_000_000:
            return trips if level == 0 or not below else None
        level -= 1
        want = below
    return trips


class SiblingWalk:
    """Which sibling nodes to fetch ahead while h5py walks chunk B-trees (see the module docstring).

    Parameters
    ----------
    file_size : int
        Bytes of the file (child addresses must lie inside).
    after : int
        Siblings read in order just before one, for the rest after it to be fetched (2: a read
        spanning two leaves is still a lookup, not a walk; the third sibling in a row is a walk).
    """

    #: nodes remembered at most (a few hundred in a large file); older ones are forgotten
    max_nodes = 100_000

    def __init__(self, file_size: int, after: int = 2) -> None:
        self.file_size = int(file_size)
        self.after = max(1, int(after))
        self._parent: dict[int, tuple[list[int], int]] = {}  # child address -> (siblings, its index)
        self._read: set[int] = set()  # node addresses read
        self._done: set[int] = set()  # first child of the sibling lists fetched ahead already
        self._lock = threading.Lock()

    def seen(self, address: int, data: bytes) -> list[tuple[int, int]]:
        """h5py read the node ``data`` at ``address``; returns byte ranges of nodes to fetch now."""
        children = parse_children(data, self.file_size)
        with self._lock:
            if len(self._parent) > self.max_nodes:
                self._parent.clear()
                self._read.clear()
                self._done.clear()
            self._read.add(address)
            if children is not None:
                for j, child in enumerate(children):
                    self._parent[child] = (children, j)
            where = self._parent.get(address)
            if where is None:
                return []
            siblings, j = where
            if j < self.after or siblings[0] in self._done:
                return []
            if any(siblings[k] not in self._read for k in range(j - self.after, j)):
                return []
            self._done.add(siblings[0])
            n = len(data)  # every node of a tree has the same size
            return [(a, min(a + n, self.file_size)) for a in siblings[j + 1:] if a not in self._read]


def in_lanes(fetch: Callable[[list[Any]], None], pieces: Sequence[Any], per_batch: int, lanes: int,
             end_thread: Callable[[], None] | None = None) -> None:
    """``fetch(batch)`` for batches of ``per_batch`` pieces, up to ``lanes`` batches at once
    (one lane: a single ``fetch(pieces)``).

    A source keeps at most ``max_concurrency`` requests out per thread; the sibling nodes of a chunk
    index (61 for a 60-minute LFP) then take eight round trips one after the other. Each extra lane
    is a short-lived thread with connections of its own (``end_thread`` closes them when it ends).
    The first error of any lane is raised once every lane has ended.

    >>> seen = []
    >>> in_lanes(lambda batch: seen.append(len(batch)), list(range(20)), per_batch=8, lanes=4)
    >>> sorted(seen)
    [4, 8, 8]
    """
    batches = [list(pieces[k: k + max(per_batch, 1)]) for k in range(0, len(pieces), max(per_batch, 1))]
    lanes = min(len(batches), max(lanes, 1))
    if lanes <= 1:  # one call: the source splits it into round trips itself
        if pieces:
            fetch(list(pieces))
        return
    errors: list[BaseException] = []

    def lane(k: int) -> None:
        try:
            for batch in batches[k::lanes]:
                fetch(batch)
        except BaseException as err:  # noqa: BLE001 - raised in the caller's thread below
            errors.append(err)
        finally:
            if end_thread is not None:
                end_thread()

    threads = [threading.Thread(target=lane, args=(k,), name=f"napstream-walk-{k}", daemon=True)
               for k in range(1, lanes)]
    for t in threads:
        t.start()
    try:
        for batch in batches[0::lanes]:
            fetch(batch)
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


class IndexNodes:
    """How a block-cached remote source (:class:`~napstream.io.base.BlockedSource`, which mixes
    this in) fetches chunk index nodes: many scattered pieces of a few kilobytes at once, on its
    small grid, in lanes (:func:`in_lanes`).

    Two callers: :func:`walk_chunk_btree` (napstream's own walk of an index, a level per round
    trip, before h5py lists the chunks: :meth:`prefetch_nodes`) and h5py's own walks, seen node
    by node (:meth:`_node_read`: once h5py reads three siblings in a row, the rest come at once).
    """

    #: when h5py walks a chunk index (reads sibling B-tree nodes in order), fetch the rest of the
    #: siblings in one round trip (:class:`SiblingWalk`); False: one node per round trip
    walk_siblings = True
    #: nodes are fetched in batches of ``max_concurrency`` requests, this many batches at once
    #: (one thread each): a 60-minute LFP's 63 leaves in one round trip, not eight
    walk_lanes = 8

    def _node_read(self, start: int, data: bytes) -> None:
        """h5py read the chunk index node ``data`` at ``start``: fetch the siblings it will read next."""
        walk = self._walk  # type: ignore[has-type]
        if walk is None or walk.file_size != self.size:  # (a remote source learns its size late)
            walk = self._walk = SiblingWalk(self.size)  # type: ignore[attr-defined]
        ahead = [ByteRange(a, b) for a, b in walk.seen(start, data)]
        ahead = [r for r in ahead if self._held_bytes(r) is None]  # type: ignore[attr-defined]
        if ahead:  # the rest of the siblings in one round trip
            self._prefetch_nodes(ahead[: self.node_fetch_limit // max(len(data), 1)], role="meta")

    @property
    def node_fetch_limit(self) -> int:
        """Bytes of index nodes worth fetching at once: small blocks must stay held until h5py reads
        them (the small grid's memory, or any amount with a disk cache)."""
        if self._small_size is None:  # type: ignore[attr-defined] # whole blocks, in the memory LRU
            return max(self.block_size, self.prefetch_limit)  # type: ignore[attr-defined]
        held = self.small_memory_bytes // 2  # type: ignore[attr-defined]
        return max(held, 64 * 2**20) if self._disk is not None else held  # type: ignore[attr-defined]

    #: bytes of index nodes held whole by address (:meth:`prefetch_exact_nodes`), at most
    exact_nodes_bytes = 4 * 2**20

    def prefetch_exact_nodes(self, ranges: Sequence[tuple[int, int]], lanes: int | None = None) -> None:
        """Fetch index nodes exactly (each range as asked, not on the small grid) and hold each in
        memory by its address, where reads of it (h5py's walk, :meth:`peek`) find it.

        For a background walk of an index nobody asked for yet: a node of a few kilobytes costs
        its own bytes, not a 16 KiB small block or two. Nodes held this way are not written to the
        disk cache (a rerun through the same cache walks the index on the small grid). Past
        :attr:`exact_nodes_bytes` held, nothing more is fetched. Batches of ``max_concurrency``
        requests, up to ``lanes`` at once (default ``walk_lanes``, like :meth:`prefetch_nodes`).

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
        >>> src.prefetch_exact_nodes([(20, 25), (100, 103)])
        >>> src.asked, src.peek(20, 25) == bytes(range(20, 25)), src.peek(20, 23) == bytes(range(20, 23))
        ([(20, 25), (100, 103)], True, True)
        >>> src.peek(21, 25) is None         # held by the node's address only
        True
        """
        self._check_open()  # type: ignore[attr-defined]
        held = self._exact_nodes  # type: ignore[has-type]
        room = int(self.exact_nodes_bytes) - sum(map(len, list(held.values())))
        wanted = []
        for r in normalize_ranges(ranges, self.size):  # type: ignore[attr-defined]
            if r.start in held or self._held_bytes(r) is not None:  # type: ignore[attr-defined]
                continue
            if r.length > room:
                break
            room -= r.length
            wanted.append(r)

        def fetch(batch: list[ByteRange]) -> None:
            t0 = time.perf_counter()
            with _trace.role("index"):
                bodies = self._fetch_ranges(batch)  # type: ignore[attr-defined]
            self.stats.add(round_trips=1, wait_seconds=time.perf_counter() - t0)  # type: ignore[attr-defined]
            for r, body in zip(batch, bodies):
                held[r.start] = bytes(body)

        in_lanes(fetch, wanted, max(self.max_concurrency, 1), int(self.walk_lanes if lanes is None else lanes),  # type: ignore[attr-defined]
                 getattr(self, "_close_thread_session", None))

    def _exact_node(self, r: ByteRange) -> bytes | None:
        """Bytes ``r`` from an index node held by :meth:`prefetch_exact_nodes` (``r`` starting at its
        address), else None."""
        node = self._exact_nodes.get(r.start)  # type: ignore[has-type]
        return None if node is None or r.length > len(node) else node[: r.length]

    def _prefetch_nodes(self, ranges: Sequence[ByteRange], role: str = "index") -> None:
        """Pieces of a few kilobytes on the small grid (whole blocks when there is none), batches
        of ``max_concurrency`` requests, up to ``walk_lanes`` batches at once."""
        def fetch(batch: list[ByteRange]) -> None:
            with _trace.role(role):
                self._prefetch_small(batch, role=role)  # type: ignore[attr-defined]

        in_lanes(fetch, list(ranges), max(self.max_concurrency, 1), int(self.walk_lanes),  # type: ignore[attr-defined]
                 getattr(self, "_close_thread_session", None))
