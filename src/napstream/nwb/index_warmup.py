"""Background walk, right after a remote open, of the chunk indexes of the file's big series.

The first analysis of a big chunked series (an LFP's power spectrum, a filter, a band power) starts
by listing its chunks: the nodes of its chunk index, scattered through the file, must be here
before the first byte of data can be asked for. On a remote file that walk is a round trip per
level of the tree, plus the requests of its many small nodes, with the link idle meanwhile. The
script usually reads the units and the behaviour first, though: :class:`IndexWarmup` walks the
indexes of the file's ElectricalSeries (and other series a speculation never fetches: raw data,
LFP, images) in the background from the open on, while those reads go on, and lists their chunks,
so the analysis finds its chunk list ready and sends its first data requests at once.

It fetches index nodes only, each as its own bytes (a few kilobytes: a 60-minute, 64-channel LFP's
index is 63 nodes, 165 kB), held in memory by the source
(:meth:`~napstream.io.btree.IndexNodes.prefetch_exact_nodes`), never a byte of data. The series
are walked smallest index first, as long as their estimated nodes stay within
:attr:`IndexWarmup.max_bytes` in all (a raw recording's index of tens of thousands of chunks is
left to the analysis that needs it). A walk that the analysis reaches while it runs is waited for
(no node is fetched twice); one not started yet is left to the analysis.

It runs for remote files whose server gives usable validators, unless ``speculate=False`` (see
:class:`~napstream.nwb.file.NWBFile`) or :data:`WARM_INDEXES` is False, and not when the file was
read before through the same disk cache (the nodes walked ahead are held in memory only, so a warm
rerun would fetch them again: an index an analysis walked then is on the disk already);
``close()`` stops it.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.sessions import write_session
>>> from napstream.nwb.file import NWBFile
>>> path = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
>>> with NWBFile(path) as nwb:        # a local file: its indexes cost no round trip
...     print(nwb.index_warmup)
None
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from typing import Any

import h5py

from .tree import Entry

__all__ = ["IndexWarmup", "WARM_INDEXES", "settle", "start_index_warmup"]

_log = logging.getLogger(__name__)

#: walk the chunk indexes of a remote file's big series in the background after the open
WARM_INDEXES = True

_ACTIVE: weakref.WeakKeyDictionary[Any, IndexWarmup] = weakref.WeakKeyDictionary()
_ACTIVE_LOCK = threading.Lock()


class IndexWarmup:
    """The background walk of the chunk indexes of datasets ``names`` of ``file`` (see the module
    docstring); started at once, on a daemon thread.

    Parameters
    ----------
    file : h5py.File
        The open file.
    source : BlockedSource
        Its remote byte source.
    names : list of str
        HDF5 paths of the chunked datasets whose indexes to walk, in that order.
    """

    #: index node bytes (estimated: every leaf half full) walked at most in all
    max_bytes = 1 * 2**20
    #: batches of ``max_concurrency`` node requests out at once: few, so the reads of the script
    #: going on meanwhile keep the link (and the server's attention)
    lanes = 2
    #: seconds the walk waits at most for the script's first planned read (a read-ahead) to go
    #: out first: the script's own first requests are never queued behind the index's
    first_read_wait = 0.15

    def __init__(self, file: h5py.File, source: Any, names: list[str]) -> None:
        self.file, self.source = file, source
        self._queue = list(names)
        self._current: str | None = None
        self._tables: dict[str, Any] = {}
        self._stopped = False
        self._cond = threading.Condition()
        #: datasets whose chunk list was built here (for tests and the curious)
        self.walked: list[str] = []
        self._thread = threading.Thread(target=self._run, name="napstream-index-warmup", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "done"
        return f"IndexWarmup({state}, walked={self.walked!r}, queued={self._queue!r})"

    def _run(self) -> None:
        from .chunk_codec import ChunkTable
        from .prefetch import fetch_chunk_btree

        deadline = time.monotonic() + self.first_read_wait
        while getattr(self.source, "_ahead", None) is None and time.monotonic() < deadline and not self._stopped:
            time.sleep(0.01)
        while True:
            with self._cond:
                self._current = None
                self._cond.notify_all()
                if self._stopped or not self._queue:
                    return
                name = self._current = self._queue.pop(0)
            table = None
            try:
                dset = self.file[name]
                if fetch_chunk_btree(self.source, dset, exact=True, lanes=self.lanes) is not None:
                    table = ChunkTable.build(dset)  # h5py lists the chunks from the nodes held
            except Exception as err:  # noqa: BLE001 - a hint only: the analysis walks the index itself
                _log.debug("chunk index of %s not walked ahead: %r", name, err)
            with self._cond:
                if table is not None and not self._stopped:
                    self._tables[name] = table
                    self.walked.append(name)

    def settle(self, name: str, timeout: float = 30.0) -> Any:
        """An analysis needs the chunk list of dataset ``name``: the :class:`ChunkTable` built here
        (waiting for a walk of it under way), or None when it was not walked (it is then dropped
        from the queue: the analysis walks it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if name in self._queue:
                self._queue.remove(name)
                return None
            while self._current == name and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return self._tables.pop(name, None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the walks to end; True when they did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Stop after the walk under way (nothing more is fetched); idempotent."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._tables.clear()
        if self._thread is not threading.current_thread():
            self._thread.join(30.0)
        with _ACTIVE_LOCK:
            if _ACTIVE.get(self.source) is self:
                del _ACTIVE[self.source]


def settle(source: Any, name: str) -> Any:
    """The chunk list of dataset ``name`` walked ahead on ``source`` (see :meth:`IndexWarmup.settle`),
    else None."""
    warmup = _ACTIVE.get(source) if source is not None else None
    return warmup.settle(name) if warmup is not None else None


def _estimated_bytes(dset: h5py.Dataset) -> int:
    """Bytes of the nodes of ``dset``'s version 1 chunk index (HDF5's default K = 32, every leaf half full)."""
    from ..io.btree import node_bytes

    n_chunks = math.prod(-(-int(n) // int(c)) for n, c in zip(dset.shape, dset.chunks))
    leaves = max(1, -(-n_chunks // 32))
    inner = max(1, -(-leaves // 32)) if leaves > 1 else 0
    return (leaves + inner) * node_bytes(dset.ndim + 1, 32)


def start_index_warmup(file: h5py.File, entries: dict[str, Entry], source: Any,
                       enabled: bool | None = None) -> IndexWarmup | None:
    """Start the walk for an open file; None when off (``enabled`` False, :data:`WARM_INDEXES`
    False), for local files, servers without validators, or when no big chunked series fits
    :attr:`IndexWarmup.max_bytes`. Never raises (a hint only)."""
    if enabled is False or not WARM_INDEXES or source is None or not getattr(source, "is_remote", False):
        return None
    if getattr(source, "_check_content", False) or not hasattr(source, "prefetch_exact_nodes"):
        return None
    if getattr(source, "seen_before", False):  # a rerun through the same disk cache: an index an
        return None  # analysis walked then is held (the nodes walked ahead are not kept on disk)
    from .speculate import never_speculated

    try:
        sized = []
        for entry in entries.values():
            if not never_speculated(entry):
                continue
            dset = file[entry.location].get("data")
            if not isinstance(dset, h5py.Dataset) or dset.chunks is None or not dset.shape or 0 in dset.shape:
                continue
            sized.append((_estimated_bytes(dset), dset.name))
        names, spent = [], 0
        for nbytes, name in sorted(sized):
            if spent + nbytes > IndexWarmup.max_bytes:
                break
            spent += nbytes
            names.append(name)
        if not names:
            return None
        warmup = IndexWarmup(file, source, names)
    except Exception as err:  # noqa: BLE001 - a hint only: the analyses walk their indexes themselves
        _log.debug("no chunk index walked ahead on %s: %r", getattr(source, "description", source), err)
        return None
    with _ACTIVE_LOCK:
        old = _ACTIVE.get(source)
        _ACTIVE[source] = warmup
    if old is not None:
        old.cancel()
    return warmup
