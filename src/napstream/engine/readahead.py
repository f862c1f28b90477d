"""Read-ahead of a job's chunks: announce the rows the tasks will read, reserve memory for them.

The engine knows every chunk a job reads before it starts; only io knows bytes. A lazy array
base may offer the optional hint ``will_read(row_segments, max_bytes, requests=None) -> handle``
(``nwb.prefetch.PrefetchingDataset`` does, for remote files): it turns rows into the storage
chunks' byte ranges and lets the byte source fetch them in the background, in order, pinning them
until they are read, at most ``max_bytes`` at once. The handle has ``cancel()``.

:func:`plan_with_readahead` plans the job of any lazy series with part of the memory budget held back
for those pinned bytes (``ReadAheadJob.share`` chunk's worth, so chunk memory plus read-ahead stay inside the
budget) and returns a :class:`ReadAheadJob`, a context manager that announces the tasks' rows on
entry and cancels the read-ahead on exit - normal end, an error in a kernel or Ctrl-C - so no
fetch thread or request outlives the job. Read-ahead runs for the serial and threads executors
(dask workers in other processes would not read the bytes fetched here) and for jobs that are not
split along channels (the hint announces whole rows, a channel group reads only its own columns);
data without the hint (local files, numpy arrays) are planned as before.

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> from napstream.engine.reductions import EpochStats
>>> series = (RegularTimeIndex(0.0, 100.0, 1000), LazyArray(np.arange(1000.0)))
>>> job, ahead = plan_with_readahead(series, EpochStats(n_epochs=1), None, "16kB", 1, "serial")
>>> job.budget, 0 < ahead.pin_bytes <= 8000, ahead.parts   # half held back; nothing to read ahead here
(8000, True, ())
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.lazy import LazyArray
from ..errors import MemoryBudgetError
from .planner import Plan, plan, resolve_budget, series_parts

__all__ = ["ReadAheadJob", "plan_with_readahead", "hinted_parts"]


def _hint_of(x: Any) -> Any:
    """``x.base.will_read`` of a LazyArray whose base offers the read-ahead hint, else None."""
    if isinstance(x, LazyArray):
        return getattr(x.base, "will_read", None)
    values = getattr(x, "values", None)  # a TimeIndex over lazy timestamps
    return _hint_of(values) if isinstance(values, LazyArray) else None


def hinted_parts(obj: Any) -> list[str]:
    """Which of ``("t", "d")`` of ``obj`` have a base offering ``will_read``."""
    t, d, _ = series_parts(obj)
    return [name for name, x in (("t", t), ("d", d)) if _hint_of(x) is not None]


class ReadAheadJob:
    """Announces a job's reads on ``__enter__`` and cancels the read-ahead on ``__exit__``.

    Parameters
    ----------
    tasks : list of ChunkTask
        The job's tasks, in the order the executor reads them.
    pin_bytes : int
        Memory held back from the chunks for pinned read-ahead (0: no read-ahead).
    parts : sequence of str
        Which task parts (``"t"``, ``"d"``) to announce.
    requests : int or None
        Requests kept in flight (default: the source's ``max_concurrency``).
    """

    #: chunks' worth of the memory budget held back for pinned read-ahead bytes
    share = 1
    #: at most this many chunks' stored bytes are pinned at once (within the share)
    ahead = 2
    #: ... but at least this much (within the share): a few requests' worth of blocks
    min_bytes = 8 * 2**20

    def __init__(self, tasks: list[Any], pin_bytes: int, parts: tuple[str, ...] | list[str] = ("d",),
                 requests: int | None = None) -> None:
        self.tasks = tasks
        self.pin_bytes = int(pin_bytes)
        self.parts = tuple(parts)
        self.requests = requests
        self.handles: list[Any] = []

    def announce(self) -> None:
        """Tell each hinted base which of its rows the tasks read, in task order (no data read)."""
        if self.pin_bytes <= 0 or not self.tasks or not self.parts:
            return
        per_base: dict[int, tuple[Any, list[np.ndarray]]] = {}
        for task in self.tasks:
            for name in self.parts:
                x = getattr(task, name)
                lazy = x if isinstance(x, LazyArray) else getattr(x, "values", None)
                if not isinstance(lazy, LazyArray) or len(lazy) == 0:
                    continue
                hint = getattr(lazy.base, "will_read", None)
                if hint is None:
                    continue
                entry = per_base.setdefault(id(lazy.base), (hint, []))
                entry[1].append(lazy.base_rows([[0, len(lazy)]]))
        share = self.pin_bytes // max(len(per_base), 1)
        for hint, rows in per_base.values():
            handle = hint(np.concatenate(rows, axis=0), share, self.requests)
            if handle is not None:
                self.handles.append(handle)

    def cancel(self) -> None:
        """Stop the read-ahead: forget what was not fetched, unpin what was not read."""
        handles, self.handles = self.handles, []
        for handle in handles:
            handle.cancel()

    def __enter__(self) -> "ReadAheadJob":
        try:
            self.announce()
        except BaseException:
            self.cancel()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def plan_with_readahead(
    obj: Any,
    algorithm: Any,
    ep: Any,
    max_memory: Any,
    in_flight: int,
    executor: Any,
) -> tuple[Plan, ReadAheadJob]:
    """Plan a job, holding back budget for read-ahead when ``obj`` can be read ahead.

    Returns the plan and a :class:`ReadAheadJob` (with ``pin_bytes`` 0 when there is no
    read-ahead: data without the hint, the dask executor, or a budget too small to share).

    Raises
    ------
    MemoryBudgetError
        When one chunk does not fit even the whole budget.
    """
    t, d, _ = series_parts(obj)
    if isinstance(d, LazyArray) or isinstance(getattr(t, "values", None), LazyArray):
        # every lazy series holds the share back, local or remote: the same chunks (and so the
        # same floating-point result) whether the file is read from disk or over the network
        parts = hinted_parts(obj) if executor in ("serial", "threads") else []
        budget = resolve_budget(max_memory)
        pin = budget * ReadAheadJob.share // (in_flight + ReadAheadJob.share)
        try:
            job = plan(obj, algorithm, ep, budget - pin, in_flight)
            # no more pinned than ``ahead`` chunks' stored bytes: the rest of the share stays unused
            n_el = int(np.prod(d.shape[1:], dtype=np.int64)) if len(d.shape) > 1 else 1
            stored_row = n_el * np.dtype(getattr(getattr(d, "base", d), "dtype", d.dtype)).itemsize
            cap = ReadAheadJob.ahead * (job.rows + sum(job.margin)) * stored_row
            return job, ReadAheadJob(job.tasks, min(pin, max(cap, ReadAheadJob.min_bytes)), parts)
        except MemoryBudgetError:
            pass  # too small to share: chunks first, no read-ahead
    job = plan(obj, algorithm, ep, max_memory, in_flight)
    return job, ReadAheadJob(job.tasks, 0)
