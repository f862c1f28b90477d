"""Speculative background fetch, right after a remote open, of the small objects read next.

Opening a remote NWB file fetches its metadata; what the user reads next is not known until
their code asks for it, one object after the other (``nwb["units"]``, then the position...), each
step waiting on the network and the link idling while the step before computes. Most sessions
are read the same way, though: spike times, the behaviour, the epochs. :class:`Speculation`
starts fetching those in the background as soon as the file is open, while the user's code
works, so their bytes are here (or on the way) when asked for.

What is fetched, in this order (the most likely first), and only when it is small:

1. the units tables: the spike times and their index, the observation intervals, the ids and
   the other per-unit columns;
2. the epochs, trials and other interval tables;
3. behaviour series (SpatialSeries, and series under a ``behavior`` processing module), then the
   other series: their timestamps and values, each at most :attr:`Speculation.series_bytes`;
   never an ElectricalSeries (raw data or LFP) nor anything bigger.

The total is bounded by :meth:`Speculation.limit` (32 MiB, at most a sixteenth of the file, a
quarter of ``napstream.config.memory_budget`` and half the source's memory cache). The bytes go
through the source's read-ahead (:meth:`~napstream.io.base.BlockedSource.read_ahead`): they are
pinned in memory (and written to the disk cache when there is one) until read, and a read of
them while they are on the way waits for them; no byte is fetched twice. Once everything is
here the pins are released (the blocks stay in the memory cache like any other).

It stops (requests out finish, nothing more is sent) when the user's code asks for a series it
never fetches (``nwb["LFP"]``), when its first planned read of something else starts (an
analysis's read-ahead, a large slice of a dataset it does not cover: :func:`yield_to`), and when
the file is closed. It starts with a small first stage (:attr:`Speculation.first_bytes`, short requests)
and announces the rest once the first bytes came, so a script going for the LFP at once finds
little on the way. Local files, servers without usable
validators (bytes fetched at different times could then mix two versions of a file), files
read before through the same disk cache (a rerun of a script fetches nothing new) fetch nothing.

It is off by default (``napstream.config.speculate = True``, ``NWBFile(..., speculate=True)`` or
the environment variable ``NAPSTREAM_SPECULATE=1`` turn it on): on a quiet machine it did not make
the guide's job measurably faster (1.51 s against 1.48 s without, 30 ms / 100 Mbit/s;
benchmarks/OPEN_RESULTS.md) and it fetched 20% more bytes than the job reads.

One narrow form is on by default, :func:`follow_units`: once a script reads the units of a remote
file, the first Position series is queued behind their spike times (it is what such scripts read
next), so the link does not idle between the two reads. ``NWBFile(..., speculate=False)`` turns it off,
with the background walk of the big series' chunk indexes (:mod:`napstream.nwb.index_warmup`).

Planning costs no round trip: the byte ranges of the candidates are found from the metadata the
open brought (:func:`~napstream.io.fileobj.held_bytes_only`); a dataset whose chunk index is not
here yet is left out.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.sessions import write_session
>>> from napstream.nwb.file import NWBFile
>>> path = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
>>> with NWBFile(path) as nwb:        # a local file: nothing to speculate on
...     print(nwb.speculation)
None
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

import h5py

from ..io.fileobj import NotHeldError, held_bytes_only
from ..io.ranges import coalesce_ranges
from .tree import Entry

__all__ = ["Speculation", "follow_units", "start_speculation", "yield_to"]

_log = logging.getLogger(__name__)
_MiB = 2**20
#: a candidate this big held whole at open was read before (the open's metadata walk holds only
#: small datasets): the file is warm in the cache, and no speculation is started
_WARM_BYTES = 64 * 1024

#: the speculation running on each byte source (at most one)
_ACTIVE: "weakref.WeakKeyDictionary[Any, Speculation]" = weakref.WeakKeyDictionary()
_ACTIVE_LOCK = threading.Lock()


class Speculation:
    """The background fetch of one open file's likely next reads (see the module docstring).

    Parameters
    ----------
    source : BlockedSource
        The file's remote byte source.
    plan : list of (dataset name, [(start, end), ...])
        Datasets and their byte ranges, most likely first.
    max_bytes : int
        Bytes pinned at most (the whole plan fits in it).
    """

    #: most bytes fetched speculatively per file
    max_total = 32 * _MiB
    #: largest stored dataset of a series (timestamps or values) fetched speculatively
    series_bytes = 8 * _MiB
    #: largest other column of a table fetched speculatively
    column_bytes = 1 * _MiB
    #: seconds the watcher waits for the plan before giving up (then it cancels)
    max_seconds = 600.0
    #: bytes of the first stage, fetched in short requests before the rest is announced
    first_bytes = 1 * _MiB
    #: requests (and fetch threads) of the first stage: the user's code is busy right after the
    #: open, and every fetch thread starting its connection takes the interpreter from it
    first_requests = 2

    def __init__(self, source: Any, plan: list[tuple[str, list[tuple[int, int]]]], max_bytes: int,
                 also_covers: Any = (), staged: bool = True) -> None:
        self.source = source
        self.plan = plan
        # datasets whose planned reads let it go on: its own, and those it was started behind
        self.datasets = frozenset([name for name, _ in plan] + list(also_covers))
        self.planned_bytes = sum(b - a for _, ranges in plan for a, b in ranges)
        self.max_bytes = int(max_bytes)
        self.cancelled = False
        self.finished = False
        self.staged = bool(staged)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        bs = int(source.block_size)
        order: list[int] = []  # the plan's blocks, most likely first
        for _, rs in plan:
            for a, b in rs:
                order += [i for i in range(a // bs, (b - 1) // bs + 1)]
        order = list(dict.fromkeys(order))
        self._blocks = frozenset(order)
        # a small first stage (short requests), the rest once its first bytes came: a script that
        # goes for something else at once (an LFP) cancels it with little on the way
        first = max(1, self.first_bytes // bs) if staged else len(order)
        self._stages = [order[:first], order[first:]]
        self._handles: list[Any] = []
        self._thread: threading.Thread | None = None
        handle = (self._announce(self._stages[0], max(self.first_bytes, bs), self.first_requests) if staged
                  else self._announce(self._stages[0], self.max_bytes, self.follow_requests()))
        if handle is None:
            self.finished = True
            return
        self._thread = threading.Thread(target=self._watch, name="napstream-speculate", daemon=True)
        self._thread.start()

    def follow_requests(self) -> int:
        """Requests out at most for an unstaged plan (one queued behind a script's own read-ahead):
        half of ``max_concurrency``, as the second stage, so the script's requests keep the link
        first (more requests out share it: the script's bytes, queued first, would land later)."""
        return max(self.first_requests, int(getattr(self.source, "max_concurrency", 8)) // 2)

    def _announce(self, blocks: list[int], max_bytes: int, requests: int | None = None) -> Any:
        if not blocks:
            return None
        bs, size = int(self.source.block_size), int(self.source.size)
        ranges = [(i * bs, min((i + 1) * bs, size)) for i in blocks]
        with self._lock:
            if self._stop.is_set():
                return None
            handle = self.source.read_ahead(ranges, max_bytes=max_bytes, requests=requests)
            if handle is not None:
                self._handles.append(handle)
            return handle

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "done" if self.finished else "fetching"
        return (f"<Speculation {state}: {len(self.plan)} datasets, {self.planned_bytes / 1e6:.2f} MB "
                f"of {self.source.description}>")

    @staticmethod
    def limit(source: Any) -> int:
        """Most bytes speculated on for ``source`` (see the module docstring)."""
        from ..config import config

        memory = getattr(getattr(source, "memory", None), "max_bytes", Speculation.max_total * 2)
        return int(min(Speculation.max_total, max(2 * _MiB, int(source.size) // 16),
                       config.memory_budget // 4, memory // 2))

    def covers(self, name: str) -> bool:
        """True when dataset ``name`` is part of the plan."""
        return name in self.datasets

    #: seconds a reader waits for the speculation's next block before fetching the rest itself
    patience = 5.0

    def wait_for(self, ranges: Any) -> None:
        """A reader is about to fetch ``ranges``: if the speculation is fetching them already, wait.

        Once the speculation has reached a dataset (one of its blocks is here or on the way), its
        other blocks follow in order; a reader taking them over would compete for the link with
        the speculation's next, less likely, datasets. So the reader waits for them (while the
        speculation makes progress), then reads from the cache. Blocks the speculation has not
        reached are left to the reader (it comes first).
        """
        src = self.source
        bs = int(src.block_size)
        blocks = {i for a, b in ranges for i in range(int(a) // bs, (int(b) - 1) // bs + 1)} & self._blocks
        memory = getattr(src, "memory", None)
        if not blocks or memory is None or not hasattr(memory, "is_wanted"):
            return
        left = [i for i in blocks if not memory.contains(i)]
        if not left:
            return  # all here
        if self.staged and all(memory.is_wanted(i) for i in blocks if i in left) and len(left) == len(blocks):
            return  # not reached yet: the reader fetches them
        # unstaged (queued behind a script's read-ahead, exactly what the reader reads next): always
        # waited for, even before its first block came; a reader fetching them itself would race
        # the requests out (h5py's forward-scan read-ahead fetching past them, bytes twice)
        clock = time.monotonic
        last, progress = len(left), clock()
        while left and not self._stop.is_set() and clock() - progress < self.patience:
            self._stop.wait(0.005)
            left = [i for i in left if not memory.contains(i)]
            if len(left) < last:
                last, progress = len(left), clock()

    def _watch(self) -> None:
        """Announce the second stage once the first bytes came, wait for the whole plan, then
        release its pins and the fetch threads."""
        memory = getattr(self.source, "memory", None)
        start = time.monotonic()
        first = self._stages[0]
        with self._lock:
            head = self._handles[0] if self._handles else None
        while head is not None and not self._stop.is_set() and time.monotonic() - start < self.max_seconds:
            if memory is None or any(memory.contains(i) for i in first) or head.wait(timeout=0.0):
                break  # its first bytes are here (or the first stage is over): the rest follows
            self._stop.wait(0.002)
        self._announce(self._stages[1], self.max_bytes, self.follow_requests())  # half the requests: the user's reads come first
        with self._lock:
            handle = self._handles[-1] if self._handles else None
        while handle is not None and not self._stop.is_set() and time.monotonic() - start < self.max_seconds:
            t0 = time.monotonic()
            if handle.wait(timeout=0.2):  # every announced block: fetched, read or dropped
                self.finished = True
                break
            if time.monotonic() - t0 < 0.1:  # returned at once: the read-ahead stopped or failed
                break
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._stop.set()  # nothing is announced after this
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.cancel()  # pins become ordinary cache entries; fetchers stop if no job needs them
        with _ACTIVE_LOCK:
            if _ACTIVE.get(self.source) is self:
                del _ACTIVE[self.source]

    def cancel(self) -> None:
        """Stop: nothing more is sent (requests out finish), pins are released, the threads end.

        Idempotent; waits for the watcher thread.
        """
        if not self.finished:
            self.cancelled = True
        self._release()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(30.0)


# ------------------------------------------------------------------------------------------ hooks
def yield_to(source: Any, dataset_name: str | None) -> None:
    """A planned read of ``dataset_name`` starts (a job's read-ahead, a large slice): cancel the
    speculation on ``source`` unless it covers that dataset (then the read waits for its blocks,
    and the speculation goes on with the next objects)."""
    spec = _ACTIVE.get(source) if source is not None else None
    if spec is not None and (dataset_name is None or not spec.covers(dataset_name)):
        spec.cancel()


def await_speculated(source: Any, ranges: Any) -> None:
    """Before fetching ``ranges`` of ``source``: wait for those the speculation is bringing
    (see :meth:`Speculation.wait_for`)."""
    spec = _ACTIVE.get(source) if source is not None else None
    if spec is not None:
        spec.wait_for(ranges)


def active(source: Any) -> Speculation | None:
    """The speculation running on ``source`` (None: none)."""
    return _ACTIVE.get(source)


# ------------------------------------------------------------------------------------------ planning
def start_speculation(file: h5py.File, entries: dict[str, Entry], source: Any, enabled: bool | None = None
                      ) -> Speculation | None:
    """Plan and start the speculation for an open file; None when there is nothing to do.

    ``enabled`` None follows ``napstream.config.speculate``. Never raises for a planning
    failure (the speculation is a hint): such a file simply gets none.
    """
    from ..config import config

    if enabled is None:
        enabled = config.speculate
    if not enabled or source is None or not getattr(source, "is_remote", False):
        return None
    if getattr(source, "_check_content", False) or not hasattr(source, "read_ahead"):
        return None  # no validators: bytes fetched now and read later could be two versions
    try:
        limit = Speculation.limit(source)
        plan = plan_speculation(file, entries, source, limit)
        if not plan:
            return None
        spec = Speculation(source, plan, limit)
    except Exception as err:  # noqa: BLE001 - a hint only: the user's reads work without it
        _log.debug("no speculation for %s: %r", getattr(source, "description", source), err)
        return None
    return _register(source, spec)


def _register(source: Any, spec: Speculation) -> Speculation | None:
    """Make ``spec`` the speculation of ``source`` (the readers' hooks find it); None when it
    announced nothing."""
    if spec.finished:  # nothing was announced (e.g. everything held already)
        return None
    with _ACTIVE_LOCK:
        old = _ACTIVE.get(source)
        _ACTIVE[source] = spec
    if old is not None:
        old.cancel()
    if spec._stop.is_set():  # done before it was registered: nothing left to stop
        with _ACTIVE_LOCK:
            if _ACTIVE.get(source) is spec:
                del _ACTIVE[source]
    return spec


#: fetch the animal's position behind a units table's spike times when a script reads the units of
#: a remote file (:func:`follow_units`; on unless ``NWBFile(..., speculate=False)``)
FOLLOW_UNITS = True


def follow_units(file: h5py.File, entries: dict[str, Entry], source: Any, units: h5py.Group,
                 enabled: bool | None = None) -> Speculation | None:
    """Fetch the position behind the spike times of ``units`` (a script reading them just started).

    Spike times are read with the animal's position (tuning curves, place fields, the guide's job):
    once a script asks for the units of a remote file, the first ``SpatialSeries`` of a
    ``Position`` container (its timestamps and values, each at most
    :attr:`Speculation.series_bytes`) is queued in the source's read-ahead behind the spike times,
    so the link goes on with it while the units are built, instead of idling for the round trip of
    the script's next ``nwb[...]``. Nothing else is fetched (no second LED, no other series), and
    it stops like the speculation at open: ``nwb["<an ElectricalSeries>"]``, a planned read of a
    dataset it does not cover (the units' own datasets are covered) and ``close()`` cancel it.

    None when off (``enabled`` False, :data:`FOLLOW_UNITS` False), when a speculation already runs
    on ``source``, for local files, servers without validators, or when there is nothing to fetch
    (no position, or its bytes are here). Never raises (a hint only).
    """
    if enabled is False or not FOLLOW_UNITS or source is None or not getattr(source, "is_remote", False):
        return None
    if getattr(source, "_check_content", False) or not hasattr(source, "read_ahead") or active(source) is not None:
        return None
    try:
        positions = [e for e in entries.values() if _rank(e) == 2]
        if not positions:
            return None
        position = min(positions, key=lambda e: e.path)  # the first LED (SpatialSeriesLED1, not LED2)
        limit = Speculation.limit(source)
        plan = plan_speculation(file, {position.key: position}, source, limit)
        if not plan:
            return None
        covered = [obj for obj in units.values() if isinstance(obj, h5py.Dataset)]
        spec = Speculation(source, plan, limit, also_covers=[d.name for d in covered], staged=False)
    except Exception as err:  # noqa: BLE001 - a hint only: the user's reads work without it
        _log.debug("no position behind the units of %s: %r", getattr(source, "description", source), err)
        return None
    return _register(source, spec)


def never_speculated(entry: Entry) -> bool:
    """True for the series a speculation never fetches (ElectricalSeries, ImageSeries): a script
    asking for one goes for big data, which should have the link to itself."""
    return entry.kind in ("Tsd", "TsdFrame", "TsdTensor") and _rank(entry) is None


def _rank(entry: Entry) -> int | None:
    """Likelihood rank of an entry (lower first); None: never speculated on."""
    if entry.kind == "TsGroup":
        return 0
    if entry.kind == "IntervalSet":
        return 1
    if entry.kind in ("Tsd", "TsdFrame", "TsdTensor", "Ts"):
        if entry.is_a("ElectricalSeries") or entry.is_a("ImageSeries"):
            return None
        if entry.is_a("SpatialSeries") and "/Position/" in entry.path:
            return 2  # the animal's position: what tuning curves and place fields read
        behaviour = entry.is_a("SpatialSeries") or "/behavior/" in entry.path.lower()
        return 3 if behaviour else 4
    return None


def _datasets(group: h5py.Group, entry: Entry) -> list[tuple[h5py.Dataset, int]]:
    """(dataset, largest stored bytes allowed) of an entry, in the order they are read."""
    out: list[tuple[Any, int]] = []
    if entry.kind in ("TsGroup", "IntervalSet"):
        first = ["spike_times_index", "spike_times", "obs_intervals_index", "obs_intervals",
                 "start_time", "stop_time", "id"]
        names = [n for n in first if n in group] + sorted(n for n in group if n not in first)
        for name in names:
            obj = group.get(name)
            if isinstance(obj, h5py.Dataset):
                big = name.endswith("_times") and entry.kind == "TsGroup"
                out.append((obj, Speculation.max_total if big else Speculation.column_bytes))
        return out
    for name in ("timestamps", "data"):
        obj = group.get(name)
        if isinstance(obj, h5py.Dataset):
            out.append((obj, Speculation.series_bytes))
    return out


def _ranges(dset: h5py.Dataset) -> list[tuple[int, int]]:
    from .prefetch import ChunkIndex

    if not dset.shape or int(dset.shape[0]) == 0:
        return []
    index = ChunkIndex(dset)
    if index.kind == "chunked":
        index.table()  # one walk of the chunk index (held already), not a lookup per chunk
    return list(index.ranges(0, int(dset.shape[0])))


def plan_speculation(file: h5py.File, entries: dict[str, Entry], source: Any, limit: int
                     ) -> list[tuple[str, list[tuple[int, int]]]]:
    """(dataset name, byte ranges) to fetch, most likely first, within ``limit`` bytes (whole blocks).

    Uses only bytes the source holds (no round trip); a dataset whose chunk index or header is
    not held yet is left out, as is one too big for its kind, or held already. Empty when a big
    candidate is held whole: the file was read before through this cache (a warm rerun of a
    script finds its bytes there, and fetches nothing more).
    """
    block = int(getattr(source, "block_size", 1) or 1)
    ranked = sorted(((r, k) for k, e in enumerate(entries.values()) if (r := _rank(e)) is not None))
    values = list(entries.values())
    plan: list[tuple[str, list[tuple[int, int]]]] = []
    seen_blocks: set[int] = set()
    seen: set[str] = set()
    total = 0
    with held_bytes_only():
        for _, k in ranked:
            entry = values[k]
            try:
                group = file[entry.location]
                members = _datasets(group, entry) if isinstance(group, h5py.Group) else []
            except (OSError, RuntimeError, KeyError, ValueError, TypeError):
                continue
            for dset, most in members:
                try:
                    name = dset.name
                    if name in seen or dset.dtype.kind == "O":  # strings: their heap is elsewhere
                        continue
                    seen.add(name)
                    ranges = [(a, b) for a, b in _ranges(dset) if 0 <= a < b <= source.size]
                except (NotHeldError, OSError, RuntimeError, KeyError, ValueError, TypeError):
                    continue  # its index is not here yet: planning it would cost round trips
                stored = sum(b - a for a, b in ranges)
                if not ranges or stored > most:
                    continue
                held = [(a, b) for a, b in ranges if source.peek(a, b) is not None]
                at_ends = all(b <= block or a >= source.size - 2 * block for a, b in ranges)  # the open's
                if len(held) == len(ranges) and stored > _WARM_BYTES and not at_ends:  # first guess
                    return []  # read before through this cache: the script's reads are here already
                ranges = [r for r in ranges if r not in held]  # the open brought the rest
                if not ranges:
                    continue
                blocks = {i for a, b in ranges for i in range(a // block, (b - 1) // block + 1)} - seen_blocks
                cost = len(blocks) * block
                if total + cost > limit:
                    continue
                total += cost
                seen_blocks |= blocks
                plan.append((name, [(int(r.start), int(r.end)) for r in coalesce_ranges(ranges, max_gap=0)]))
    return plan
