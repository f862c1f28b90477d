"""Fetch a remote HDF5 file's metadata in a few concurrent round trips, before h5py walks it.

h5py reads a file's metadata one small piece at a time: the superblock, then the root group's
object header, its symbol table, each child's object header, and so on down the tree. Over a
network every piece that is not cached yet costs a round trip, one after the other. In a file
written by h5py or pynwb the pieces are scattered: the object header of each dataset sits next to
that dataset's data, anywhere in the file.

:func:`prefetch_metadata` walks the same structures itself, from the bytes the source already
holds (:meth:`~napstream.io.base.BaseSource.peek`). Whatever a walk level needs and the source does
not hold yet is collected, and fetched in one concurrent batch (:meth:`prefetch_small`: a few
kilobytes around each piece, on the source's small-block grid); then the walk goes on. Opening and listing a file then costs one round trip per tree level that has metadata
outside the blocks already fetched, usually two or three, and fetches 16 KiB blocks around the
metadata instead of whole 256 KiB blocks.

It reads the structures of the HDF5 file format specification (version 3.0): superblock versions
0-3; version 1 and 2 object headers and their continuation blocks (512 bytes at least from each
header, as HDF5 reads); symbol table messages, version 1 group B-trees, symbol table nodes and local
heaps (groups in HDF5's default "earliest" format); link messages, and the fractal heaps of dense
link and attribute storage (their direct blocks, whose link messages are followed) with the header
and root node of their name index (groups written with ``libver="latest"``); global heap collections
(variable-length strings in attributes and compact datasets); object references; the roots of chunk
indexes (version 1 B-trees, and the headers of the newer indexes); and the storage of small datasets
(at most ``small_data`` bytes: compact, contiguous or chunked). Anything else (filtered heaps,
indirect blocks below the root, B-tree nodes below the root...) is left to h5py, which reads it
as it always does, with the block read-ahead of forward scans. The walk only warms the cache: it never decides what h5py reads, so a file it misreads costs round trips,
never wrong data. A failure to parse stops it silently for the same reason; a failure to fetch
(the network failed for good) is raised, as h5py's next read would raise it.

:func:`chunk_btree_root` runs the same parsing over one dataset's object header to find the root of
its chunk index (for :func:`napstream.nwb.prefetch.fetch_chunk_btree`, which fetches the index a level
per round trip before h5py lists the chunks).

The walk's work is bounded, so a crafted file cannot keep it busy: at most ``max_rounds`` fetch
batches, ``max_items`` structures, a byte budget (``base_bytes`` plus ``bytes_per_object`` for
each object header parsed, at most ``cap_bytes``; counted in whole blocks of the source, as they
are fetched) and a time budget (``base_seconds`` plus ``seconds_per_object``, at most
``cap_seconds``, network waits excluded). A real file stays far inside them (its metadata grows
with its number of objects); a hostile one is stopped early and h5py decides what it is.

Examples
--------
>>> import h5py, numpy as np, tempfile, os
>>> from napstream.io.local import LocalSource
>>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
>>> with h5py.File(path, "w") as f:
...     f.create_dataset("a/b/c", data=np.arange(10))
...     f["a"].attrs["note"] = "hello"
<HDF5 dataset "c": shape (10,), type "<i8">
>>> walk = MetadataWalk(LocalSource(path))
>>> walk.run()
0
>>> walk.objects >= 4  # root, a, a/b, a/b/c
True
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import FileFormatError, NapstreamError

__all__ = ["MetadataWalk", "prefetch_metadata", "chunk_btree_root"]

_log = logging.getLogger(__name__)

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KiB = 1024


def prefetch_metadata(source: Any, *, max_rounds: int = 6, small_data: int = 4 * _KiB) -> int:
    """Warm ``source``'s cache with the HDF5 metadata of the whole file; return the round trips used.

    Parameters
    ----------
    source : ByteSource
        A remote source (anything with ``size``, ``peek`` and ``prefetch``).
    max_rounds : int
        At most this many fetch batches; what is left is read by h5py as usual.
    small_data : int
        Datasets of at most this many bytes have their values fetched too (h5py reads those
        while a file is listed: names, ids, descriptions).

    Raises
    ------
    NapstreamError
        Only what fetching raises (the network failed for good, the file changed...): h5py would
        meet the same error at once. Anything else stops the walk silently (h5py then reads the
        rest itself).
    """
    walk = MetadataWalk(source, max_rounds=max_rounds, small_data=small_data)
    try:
        rounds = walk.run()
        if walk.stopped:
            _log.debug("metadata walk of %s stopped early (%s budget)", getattr(source, "description", source), walk.stopped)
        return rounds
    except NapstreamError:
        raise
    except Exception as err:  # noqa: BLE001 - a hint only: h5py reads and reports for real
        _log.debug("metadata walk of %s stopped: %r", getattr(source, "description", source), err)
        return walk.rounds


def global_heap_loop(heap: bytes, length_size: int = 8) -> int | None:
    """The offset in a global heap collection (``heap``: its bytes from the ``GCOL`` signature,
    whole) of an object header on which HDF5's reader never advances, else None.

    HDF5 walks the collection object by object, from one header to the next: an object of index
    k > 0 takes its header and its size rounded up to 8 bytes; the free space (index 0) takes
    its size alone. A free-space header whose size is 0 (zeroed bytes) moves the reader by nothing,
    and libhdf5 (2.0.0 at least) loops there forever holding Python's GIL: no timeout can
    interrupt it. A collection cut short (fewer bytes than it says) is checked as far as it goes.

    >>> import struct
    >>> def collection(*objects):  # (index, size) headers, then a free-space object to the end
    ...     body = b"".join(struct.pack("<HHIQ", i, 1, 0, n) + bytes((n + 7) // 8 * 8) for i, n in objects)
    ...     free = 4096 - 16 - len(body)
    ...     return b"GCOL" + bytes(4) + struct.pack("<Q", 4096) + body + struct.pack("<HHIQ", 0, 0, 0, free) + bytes(free - 16)
    >>> global_heap_loop(collection((1, 4), (2, 11))) is None
    True
    >>> heap = bytearray(collection((1, 4), (2, 11)))
    >>> heap[40:56] = bytes(16)  # the second object's header zeroed
    >>> global_heap_loop(bytes(heap))
    40
    """
    header = 8 + length_size
    size = min(_u(heap, 8, length_size), len(heap))
    at = header
    while at < size:
        if at + header > size:  # too small for an object header: the rest is free space
            break
        index, length = _u(heap, at, 2), _u(heap, at + 8, length_size)
        step = header + (length + 7) // 8 * 8 if index > 0 else length
        if step == 0:
            return at
        at += step
    return None


def _u(b: bytes, pos: int, n: int) -> int:
    return int.from_bytes(b[pos: pos + n], "little")


class _NeedBytes(Exception):
    """Raised by :meth:`MetadataWalk._need` when bytes are not here yet (the item is deferred)."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(start, end)
        self.start, self.end = start, end


class MetadataWalk:
    """One walk over a file's HDF5 metadata (see the module docstring); :meth:`run` does it."""

    #: largest single structure read (a larger size read from a header is taken as a misparse)
    max_piece = 4 * 2**20
    #: at most this many structures visited
    max_items = 200_000
    #: byte budget: fetched bytes (whole blocks) may not exceed base + per object parsed, capped
    base_bytes = 8 * 2**20
    bytes_per_object = 256 * _KiB
    cap_bytes = 256 * 2**20
    #: time budget (parsing only, network waits excluded): base + per object parsed, capped
    base_seconds = 2.0
    seconds_per_object = 0.002
    cap_seconds = 20.0
    #: bytes fetched either side of each wanted piece (see :meth:`_padded`)...
    pad = 32 * _KiB
    #: ...but at most this many padding bytes in all per batch: padding saves at most the next
    #: round trip, worth about this much at 100 Mbit/s and 20 ms (the small grid's ``small_join_gap``)
    pad_budget = 256 * _KiB

    def __init__(self, source: Any, *, max_rounds: int = 6, small_data: int = 4 * _KiB) -> None:
        self.src = source
        self.size = int(source.size)
        self.max_rounds = max_rounds
        self.small_data = small_data
        self.rounds = 0
        self.objects = 0  #: object headers parsed
        self.O = 8  # noqa: E741 - size of offsets, as the specification names it
        self.L = 8  # size of lengths
        self.base = 0
        self.chunk_k = 32  # entries of a chunk B-tree node: 2K children (the superblock may say)
        self._seen: set[tuple[str, int]] = set()
        self._queue: list[tuple[str, int, Any]] = []
        self._deferred: list[tuple[str, int, Any]] = []
        self._wanted: list[tuple[int, int]] = []
        self._blocks: set[int] = set()  # blocks asked for so far (the byte budget counts them)
        self.stopped: str | None = None  #: why the walk stopped early ("bytes", "time", ...), if it did

    @property
    def byte_budget(self) -> int:
        """Bytes the walk may have fetched so far (grows with the objects parsed)."""
        return min(self.base_bytes + self.bytes_per_object * self.objects, self.cap_bytes)

    def _time_budget(self) -> float:
        return min(self.base_seconds + self.seconds_per_object * self.objects, self.cap_seconds)

    def _affordable(self, wanted: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The leading part of ``wanted`` that fits the byte budget (whole blocks of the source)."""
        block = int(getattr(self.src, "small_grid", None) or getattr(self.src, "block_size", 0) or 1)
        room = self.byte_budget // block - len(self._blocks)
        out = []
        for start, end in wanted:
            new = {i for i in range(start // block, (end - 1) // block + 1)} - self._blocks
            if len(new) > room:
                self.stopped = "bytes"
                break
            room -= len(new)
            self._blocks |= new
            out.append((start, end))
        return out

    def _padded(self, wanted: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Each piece with ``pad`` bytes either side: the next level's pieces (a group's children,
        an object header's continuation) are mostly written next to this level's, so most of them
        are then fetched in this round trip instead of a round trip of their own."""
        pad = self.pad if getattr(self.src, "small_grid", None) else 0  # whole blocks: they are the padding
        # pieces far apart (the headers of datasets written next to their data, in a file of many
        # series) share the budget: 40 headers padded 32 KiB each fetched 2.5 MiB for 100 KiB
        apart = sum(1 for k, (start, _) in enumerate(wanted) if k == 0 or start - wanted[k - 1][1] > 2 * pad)
        pad = min(pad, int(self.pad_budget) // max(2 * apart, 1))
        return [(max(start - pad, 0), min(end + pad, self.size)) for start, end in wanted]

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> int:
        """Walk until every reachable structure was parsed or ``max_rounds`` batches were fetched."""
        if self.size < len(_SIGNATURE):
            return 0
        self._queue.append(("super", 0, None))
        visited = 0
        waited = 0.0
        t0 = time.perf_counter()
        while True:
            while self._queue:
                kind, addr, arg = self._queue.pop()
                visited += 1
                if visited > self.max_items:
                    self.stopped = "items"
                    return self.rounds
                if visited % 64 == 0 and time.perf_counter() - t0 - waited > self._time_budget():
                    self.stopped = "time"
                    return self.rounds
                try:
                    getattr(self, "_visit_" + kind)(addr, arg)
                except _NeedBytes as need:
                    self._deferred.append((kind, addr, arg))
                    self._wanted.append((need.start, need.end))
                except NapstreamError:  # a damage h5py would not survive (global_heap_loop): said now
                    raise
                except (ValueError, IndexError, KeyError):  # not what we expected: leave it to h5py
                    continue
            if not self._deferred or self.rounds >= self.max_rounds or self.stopped:
                return self.rounds
            wanted, self._wanted = self._affordable(self._padded(sorted(set(self._wanted)))), []
            if not wanted:
                return self.rounds
            t1 = time.perf_counter()
            getattr(self.src, "prefetch_small", self.src.prefetch)(wanted)
            waited += time.perf_counter() - t1
            self.rounds += 1
            self._queue, self._deferred = self._deferred[::-1], []

    def _add(self, kind: str, addr: int, arg: Any = None) -> None:
        """Queue structure ``kind`` at file address ``addr`` (relative to the base address)."""
        if addr >= (1 << (8 * self.O)) - 1:  # the undefined address
            return
        addr += self.base
        if addr <= 0 or addr >= self.size:
            return
        key = (kind, addr)
        if key in self._seen:
            return
        self._seen.add(key)
        self._queue.append((kind, addr, arg))

    def _need(self, start: int, n: int) -> bytes:
        if n < 0 or n > self.max_piece:
            raise ValueError(f"implausible size {n}")
        if n == 0:
            return b""
        end = min(start + n, self.size)
        data = self.src.peek(start, end)
        if data is None:
            raise _NeedBytes(start, end)
        return data

    # -- superblock ----------------------------------------------------------------------------
    def _visit_super(self, addr: int, arg: Any) -> None:
        at = 0  # the superblock is at 0 or after a user block of 512, 1024, 2048... bytes
        while True:
            here = self.src.peek(at, at + 8) if at + 8 <= self.size else None
            if here is None:  # not in the bytes already here: no fetching to hunt for it
                raise ValueError("no HDF5 signature")
            if here == _SIGNATURE:
                break
            at = 512 if at == 0 else 2 * at
        head = self._need(at, 16)
        version = head[8]
        if version in (0, 1):
            self.O, self.L = head[13], head[14]
            if version == 1:
                self.chunk_k = _u(head + self._need(at + 16, 12), 24, 2) or 32
            pos = 24 + (4 if version == 1 else 0)
            b = self._need(at, pos + 4 * self.O + 2 * self.O + 8 + 16)
            self.base = _u(b, pos, self.O)
            self._entry(b, pos + 4 * self.O)
        elif version in (2, 3):
            self.O, self.L = head[9], head[10]
            b = self._need(at, 12 + 4 * self.O)
            self.base = _u(b, 12, self.O)
            self._add("oh", _u(b, 12 + 3 * self.O, self.O))
        else:
            raise ValueError(f"superblock version {version}")

    def _entry(self, b: bytes, pos: int) -> None:
        """A symbol table entry: the object header, and the group's B-tree and heap if cached."""
        O = self.O  # noqa: N806, E741
        self._add("oh", _u(b, pos + O, O))
        if _u(b, pos + 2 * O, 4) == 1:
            scratch = pos + 2 * O + 8
            self._add("gtree", _u(b, scratch, O))
            self._add("lheap", _u(b, scratch + O, O))

    # -- object headers ------------------------------------------------------------------------
    def _visit_oh(self, addr: int, arg: Any) -> None:
        head = self._need(addr, 512)  # HDF5 reads 512 bytes at a header to begin with: so do we
        if head[:4] == b"OHDR":
            self._oh_v2(addr)
            return
        if head[0] != 1:
            raise ValueError("not an object header")
        size = _u(head, 8, 4)
        body = self._need(addr + 16, size)
        self.objects += 1
        self._messages_v1(body, {})

    def _visit_cont1(self, addr: int, arg: Any) -> None:
        length, state = arg
        self._messages_v1(self._need(addr, length), state)

    def _messages_v1(self, body: bytes, state: dict[str, Any]) -> None:
        pos = 0
        while pos + 8 <= len(body):
            mtype, msize = _u(body, pos, 2), _u(body, pos + 2, 2)
            if mtype == msize == 0:  # an empty NIL message: padding to the end (or not a header)
                break
            self._message(mtype, body[pos + 8: pos + 8 + msize], body[pos + 4], state, version=1)
            pos += 8 + msize

    def _oh_v2(self, addr: int) -> None:
        prefix = self._need(addr, 48)
        flags = prefix[5]
        pos = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        chunk = _u(prefix, pos, width)
        pos += width
        block = self._need(addr, pos + chunk)
        self.objects += 1
        self._messages_v2(block[pos:], flags, {})

    def _visit_cont2(self, addr: int, arg: Any) -> None:
        length, flags, state = arg
        block = self._need(addr, length)
        if block[:4] != b"OCHK":
            raise ValueError("not a continuation block")
        self._messages_v2(block[4: length - 4], flags, state)

    def _messages_v2(self, body: bytes, oh_flags: int, state: dict[str, Any]) -> None:
        pos, head = 0, 4 + (2 if oh_flags & 0x04 else 0)
        state["oh_flags"] = oh_flags
        while pos + head <= len(body):
            mtype, msize, flags = body[pos], _u(body, pos + 1, 2), body[pos + 3]
            if mtype == msize == 0:  # an empty NIL message: padding to the end (or not a header)
                break
            self._message(mtype, body[pos + head: pos + head + msize], flags, state, version=2)
            pos += head + msize

    # -- header messages -----------------------------------------------------------------------
    def _message(self, mtype: int, data: bytes, flags: int, state: dict[str, Any], version: int) -> None:
        """Queue what one header message points to (an odd message is skipped, not the header)."""
        try:
            self._follow(mtype, data, flags, state, version)
        except (ValueError, IndexError, KeyError):
            pass

    def _follow(self, mtype: int, data: bytes, flags: int, state: dict[str, Any], version: int) -> None:
        O, L = self.O, self.L  # noqa: N806, E741
        if flags & 0x02:  # a shared message: stored elsewhere, h5py will find it
            return
        if mtype == 0x10:  # continuation
            at, length = _u(data, 0, O), _u(data, O, L)
            if version == 1:
                self._add("cont1", at, (length, state))
            else:
                self._add("cont2", at, (length, state["oh_flags"], state))
        elif mtype == 0x11:  # symbol table: the group's B-tree and local heap
            self._add("gtree", _u(data, 0, O))
            self._add("lheap", _u(data, O, O))
        elif mtype == 0x06:  # link (groups in the newer format)
            self._link(data)
        elif mtype in (0x02, 0x15):  # link info / attribute info: dense storage in a fractal heap
            pos = 2 + ((8 if mtype == 0x02 else 2) if data[1] & 0x01 else 0)
            self._add("fheap", _u(data, pos, O), mtype == 0x02)
            self._add("bthd", _u(data, pos + O, O))
        elif mtype == 0x0C:  # attribute
            self._attribute(data)
        elif mtype in (0x01, 0x03, 0x08):  # dataspace, datatype, layout
            state[{0x01: "space", 0x03: "type", 0x08: "layout"}[mtype]] = data
            if all(k in state for k in ("space", "type", "layout")) and not state.get("done"):
                state["done"] = True
                self._dataset(state["space"], state["type"], state["layout"])

    def _link(self, data: bytes) -> int:
        """Queue a hard link's object header; returns the link message's length."""
        if data[0] != 1:
            raise ValueError("not a link message")
        flags = data[1]
        pos = 2
        ltype = 0
        if flags & 0x08:
            ltype = data[pos]
            pos += 1
        if flags & 0x04:
            pos += 8
        if flags & 0x10:
            pos += 1
        width = 1 << (flags & 3)
        pos += width + _u(data, pos, width)
        if ltype == 0:  # a hard link: the object's header address
            self._add("oh", _u(data, pos, self.O))
            return pos + self.O
        if ltype in (1, 64):  # soft or external: a length-prefixed value
            return pos + 2 + _u(data, pos, 2)
        raise ValueError(f"link type {ltype}")

    def _elements(self, space: bytes) -> int:
        version, rank = space[0], space[1]
        if version == 1:
            pos = 8
        elif version == 2:
            if space[3] == 2:  # null dataspace
                return 0
            pos = 4
        else:
            raise ValueError(f"dataspace version {version}")
        n = 1
        for k in range(rank):
            n *= _u(space, pos + self.L * k, self.L)
        return n

    def _attribute(self, data: bytes) -> None:
        version = data[0]
        name_size, type_size, space_size = _u(data, 2, 2), _u(data, 4, 2), _u(data, 6, 2)
        if version == 1:
            def pad(n: int) -> int:
                return (n + 7) // 8 * 8
            pos = 8 + pad(name_size)
            dtype = data[pos: pos + type_size]
            pos += pad(type_size)
            space = data[pos: pos + space_size]
            pos += pad(space_size)
        elif version in (2, 3):
            if data[1] & 0x01:  # shared datatype
                return
            pos = (8 if version == 2 else 9) + name_size
            dtype = data[pos: pos + type_size]
            pos += type_size
            space = data[pos: pos + space_size]
            pos += space_size
        else:
            return
        self._values(dtype, self._elements(space), data[pos:])

    def _values(self, dtype: bytes, n: int, values: bytes) -> None:
        """Follow what stored values point to: global heap collections and objects."""
        cls = dtype[0] & 0x0F
        O = self.O  # noqa: N806, E741
        if cls == 9:  # variable length: (length, collection address, index) per element
            step = 4 + O + 4
            for k in range(min(n, len(values) // step)):
                if _u(values, k * step, 4):
                    self._add("gcol", _u(values, k * step + 4, O))
        elif cls == 7 and _u(dtype, 4, 4) == O and (dtype[1] & 0x0F) == 0:  # object references
            for k in range(min(n, len(values) // O)):
                self._add("oh", _u(values, k * O, O))

    def _dataset(self, space: bytes, dtype: bytes, layout: bytes) -> None:
        """The root of a chunked dataset's chunk B-tree (HDF5 reads it when the dataset is opened),
        and the values of a small dataset (h5py reads those while a file is listed)."""
        if layout[0] == 3 and layout[1] == 2:
            self._add("croot", _u(layout, 3, self.O), layout[2])
        elif layout[0] in (4, 5) and layout[1] == 2:  # the chunk index's header (fixed array, B-tree...)
            width = layout[4]
            pos = 5 + width * layout[3]
            extra = {1: 12 if layout[2] & 0x02 else 0, 2: 0, 3: 1, 4: 5, 5: 6}[layout[pos]]
            self._add("raw", _u(layout, pos + 1 + extra, self.O), 64)
        elif layout[0] in (1, 2) and layout[2] == 2:
            self._add("croot", _u(layout, 8, self.O), layout[1])
        n = self._elements(space)
        nbytes = n * _u(dtype, 4, 4)
        if nbytes == 0 or nbytes > self.small_data:
            return
        version, O, L = layout[0], self.O, self.L  # noqa: N806, E741
        if version in (3, 4, 5):
            cls = layout[1]
            if cls == 0:
                self._values(dtype, n, layout[4: 4 + _u(layout, 2, 2)])
            elif cls == 1:
                self._add("raw", _u(layout, 2, O), _u(layout, 2 + O, L))
            elif cls == 2 and version == 3:
                self._add("ctree", _u(layout, 3, O), layout[2])
        elif version in (1, 2):
            ndims, cls = layout[1], layout[2]
            if cls == 1:
                self._add("raw", _u(layout, 8, O), nbytes)
            elif cls == 2:
                self._add("ctree", _u(layout, 8, O), ndims)

    # -- B-trees, symbol table nodes, heaps ----------------------------------------------------
    def _tree(self, addr: int, node_type: int, key_size: int) -> tuple[int, list[tuple[bytes, int]]]:
        """A version 1 B-tree node: (level, [(key before child, child address)])."""
        O = self.O  # noqa: N806, E741
        head = self._need(addr, 8 + 2 * O)
        if head[:4] != b"TREE" or head[4] != node_type:
            raise ValueError("not a B-tree node")
        level, used = head[5], _u(head, 6, 2)
        step = key_size + O
        body = self._need(addr + 8 + 2 * O, used * step + key_size)
        return level, [(body[k * step: k * step + key_size], _u(body, k * step + key_size, O)) for k in range(used)]

    def _visit_gtree(self, addr: int, arg: Any) -> None:
        level, children = self._tree(addr, 0, self.L)
        for _, child in children:
            self._add("snod" if level == 0 else "gtree", child)

    def _visit_croot(self, addr: int, arg: Any) -> None:
        key_size = 8 + 8 * int(arg)
        self._need(addr, 8 + 2 * self.O + (2 * self.chunk_k + 1) * key_size + 2 * self.chunk_k * self.O)

    def _visit_ctree(self, addr: int, arg: Any) -> None:
        ndims = int(arg)  # a chunk key: size (4), filter mask (4), one 8-byte offset per dimension
        level, children = self._tree(addr, 1, 8 + 8 * ndims)
        for key, child in children:
            if level == 0:
                self._add("raw", child, _u(key, 0, 4))
            else:
                self._add("ctree", child, ndims)

    def _visit_snod(self, addr: int, arg: Any) -> None:
        O = self.O  # noqa: N806, E741
        head = self._need(addr, 8)
        if head[:4] != b"SNOD":
            raise ValueError("not a symbol table node")
        used = _u(head, 6, 2)
        step = 2 * O + 8 + 16
        body = self._need(addr + 8, used * step)
        for k in range(used):
            self._entry(body, k * step)

    def _visit_lheap(self, addr: int, arg: Any) -> None:
        L = self.L  # noqa: N806
        head = self._need(addr, 8 + 2 * L + self.O)
        if head[:4] != b"HEAP":
            raise ValueError("not a local heap")
        self._add("raw", _u(head, 8 + 2 * L, self.O), _u(head, 8, L))

    # -- dense storage: fractal heaps and version 2 B-trees -------------------------------------
    def _visit_fheap(self, addr: int, arg: Any) -> None:
        """A fractal heap header: its root block (direct, or indirect with its direct blocks)."""
        O, L = self.O, self.L  # noqa: N806, E741
        at = 14 + 10 * L + 2 * O  # table width, after the fixed fields and the counters
        head = self._need(addr, at + 2 * L + 6 + O + 2)
        if head[:4] != b"FRHP" or _u(head, 7, 2):  # filtered heaps: leave them to h5py
            raise ValueError("not an unfiltered fractal heap")
        width, start_size, max_direct = _u(head, at, 2), _u(head, at + 2, L), _u(head, at + 2 + L, L)
        heap = {
            "checksummed": bool(head[9] & 0x02), "offset_bytes": (_u(head, at + 2 + 2 * L, 2) + 7) // 8,
            "objects": _u(head, 14 + 5 * L + 2 * O, L), "links": bool(arg),
        }
        root, rows = _u(head, at + 2 * L + 6, O), _u(head, at + 2 * L + 6 + O, 2)
        if rows == 0:
            self._add("fhdb", root, (start_size, heap))
            return
        direct_rows = max_direct.bit_length() - start_size.bit_length() + 2
        self._add("fhib", root, (rows, direct_rows, width, start_size, heap))

    def _visit_fhib(self, addr: int, arg: Any) -> None:
        rows, direct_rows, width, start_size, heap = arg
        pos = 5 + self.O + heap["offset_bytes"]
        entries = min(rows, direct_rows) * width
        block = self._need(addr, pos + entries * self.O)
        if block[:4] != b"FHIB":
            raise ValueError("not a fractal heap indirect block")
        for k in range(entries):
            row = k // width
            self._add("fhdb", _u(block, pos + k * self.O, self.O), (start_size << max(row - 1, 0), heap))

    def _visit_fhdb(self, addr: int, arg: Any) -> None:
        """A direct block: fetched whole; the link messages it holds are followed."""
        size, heap = arg
        block = self._need(addr, size)
        if block[:4] != b"FHDB":
            raise ValueError("not a fractal heap direct block")
        if not heap["links"]:
            return
        pos = 5 + self.O + heap["offset_bytes"] + (4 if heap["checksummed"] else 0)
        for _ in range(heap["objects"]):  # managed objects sit back to back from the block's start
            if pos >= size or block[pos] != 1:
                break
            pos += self._link(block[pos:])

    def _visit_bthd(self, addr: int, arg: Any) -> None:
        """A version 2 B-tree header and its root node (HDF5 searches it by name)."""
        head = self._need(addr, 16 + self.O)
        if head[:4] != b"BTHD":
            raise ValueError("not a version 2 B-tree header")
        self._add("raw", _u(head, 16, self.O), _u(head, 6, 4))

    def _visit_gcol(self, addr: int, arg: Any) -> None:
        head = self._need(addr, 8 + self.L)
        if head[:4] != b"GCOL":
            raise ValueError("not a global heap collection")
        heap = self._need(addr, _u(head, 8, self.L))
        at = global_heap_loop(heap, self.L)
        if at is not None:
            raise FileFormatError(
                f"{getattr(self.src, 'description', 'the file')!r} is damaged: the global heap collection at byte "
                f"{addr} (where HDF5 keeps variable-length strings such as attribute values) holds a zeroed "
                f"object header at byte {addr + at}; HDF5 would loop forever reading it (h5py and pynwb hang on "
                f"this file). Download the file again, or ask its authors for an intact copy")

    def _visit_raw(self, addr: int, arg: Any) -> None:
        self._need(addr, int(arg))


def chunk_btree_root(source: Any, header: int) -> tuple[int, int, int, int] | None:
    """``(root address, rank + 1, K, base address)`` of the version 1 chunk B-tree of the dataset whose object
    header is at ``header`` (the address h5py's ``h5g.get_objinfo(...).objno[0]`` gives), else None.

    None for anything else: a dataset that is not chunked, a newer chunk index (files written with
    ``libver="latest"``), a header that does not parse. The header is read from the bytes the
    source holds (an opened dataset's header is held), fetching at most ``max_rounds`` batches of
    small pieces otherwise (a continuation block not fetched yet).

    Examples
    --------
    >>> import h5py, numpy as np, tempfile, os
    >>> from napstream.io.local import LocalSource
    >>> path = os.path.join(tempfile.mkdtemp(), "f.h5")
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("x", data=np.arange(1000), chunks=(10,))
    >>> with h5py.File(path, "r") as f:
    ...     header = h5py.h5g.get_objinfo(f["x"].id).objno[0]
    >>> root, rank1, k, base = chunk_btree_root(LocalSource(path), header)
    >>> rank1, k, base
    (2, 32, 0)
    """
    walk = _RootWalk(source, header)
    try:
        walk.run()
    except NapstreamError:
        raise
    except Exception as err:  # noqa: BLE001 - h5py walks the index itself then
        _log.debug("no chunk index root for the header at %d: %r", header, err)
        return None
    return walk.found


class _RootWalk(MetadataWalk):
    """A walk of one dataset's object header (and its continuations) that notes its chunk B-tree
    root instead of following anything (see :func:`chunk_btree_root`)."""

    def __init__(self, source: Any, header: int) -> None:
        super().__init__(source, max_rounds=2, small_data=0)
        self.header = header
        self.found: tuple[int, int, int, int] | None = None

    def _visit_super(self, addr: int, arg: Any) -> None:
        super()._visit_super(addr, arg)
        MetadataWalk._add(self, "oh", self.header)

    def _add(self, kind: str, addr: int, arg: Any = None) -> None:
        if kind == "croot":
            if self.found is None and addr < (1 << (8 * self.O)) - 1 and 0 < addr + self.base < self.size:
                self.found = (addr + self.base, int(arg), self.chunk_k, self.base)
        elif kind in ("cont1", "cont2"):
            super()._add(kind, addr, arg)
