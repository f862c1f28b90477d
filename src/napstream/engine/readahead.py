"""Read-ahead of a job's chunks: plan with part of the memory budget held back for pinned bytes.

The hint protocol and :class:`~napstream.core.readahead.ReadAheadJob` (announce the tasks' rows on
entry, cancel the read-ahead on exit) live in :mod:`napstream.core.readahead`, where the chunked
methods of the time series (``iter_chunks``, ``apply``) use them too. :func:`plan_with_readahead`
plans the job of any lazy series with ``ReadAheadJob.share`` chunk's worth of the budget held back
for the pinned bytes (chunk memory plus read-ahead stay inside the budget) and returns the plan
and a ``ReadAheadJob``. The serial and threads executors announce the whole job in this process;
jobs split along channels announce group after group, each group's columns only; the dask
executor announces on the workers (:mod:`napstream.engine.dask_readahead`). Data without the hint
(local files, numpy arrays) are planned as before.

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

from ..core.readahead import ReadAheadJob, hint_of, is_lazy, pin_limit, reserve
from ..core.readahead import hinted_parts as _hinted
from ..errors import MemoryBudgetError
from .planner import Plan, plan, resolve_budget, series_parts

__all__ = ["ReadAheadJob", "plan_with_readahead", "hinted_parts", "hint_of"]


def hinted_parts(obj: Any) -> list[str]:
    """Which of ``("t", "d")`` of ``obj`` have a base offering ``will_read``."""
    t, d, _ = series_parts(obj)
    return _hinted(t, d)


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
    read-ahead: in-memory data, or a budget too small to share). ``executor`` is kept for callers;
    every executor reads ahead.

    Raises
    ------
    MemoryBudgetError
        When one chunk does not fit even the whole budget.
    """
    t, d, _ = series_parts(obj)
    if is_lazy(t, d):
        # every lazy series holds the share back, local or remote: the same chunks (and so the
        # same floating-point result) whether the file is read from disk or over the network
        parts = _hinted(t, d)
        budget = resolve_budget(max_memory)
        pin = reserve(budget, in_flight)
        try:
            job = plan(obj, algorithm, ep, budget - pin, in_flight)
            # no more pinned than ``ahead`` chunks' stored bytes: the rest of the share stays unused
            return job, ReadAheadJob(job.tasks, pin_limit(pin, d, job.rows, job.margin), parts)
        except MemoryBudgetError:
            pass  # too small to share: chunks first, no read-ahead
    job = plan(obj, algorithm, ep, max_memory, in_flight)
    return job, ReadAheadJob(job.tasks, 0)
