"""``run``: plan, execute and finalize a chunk algorithm over a time series.

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> from napstream.engine.reductions import EpochStats
>>> series = (RegularTimeIndex(0.0, 100.0, 1000), LazyArray(np.arange(1000.0)))
>>> mean, std, count = run(EpochStats(n_epochs=1), series, max_memory="16kB")
>>> float(mean[0]), int(count[0])
(499.5, 1000)
"""

from __future__ import annotations

from typing import Any

from ..config import config
from ..core.interval_set import IntervalSet
from ..errors import MemoryBudgetError
from .executors import execute, resolve_executor
from .readahead import ReadAheadJob, plan_with_readahead
from .progress import analysis_label, job_progress
from .protocol import check_algorithm

__all__ = ["run"]


def run(
    algorithm: Any,
    obj: Any,
    ep: IntervalSet | None = None,
    max_memory: int | str | None = None,
    executor: Any = None,
    n_workers: int | None = None,
    progress: bool | None = None,
) -> Any:
    """Run a ChunkAlgorithm over ``obj`` in chunks that fit ``max_memory``.

    Parameters
    ----------
    algorithm : ChunkAlgorithm
        init / update / merge / finalize (+ ``margin``), see :mod:`napstream.engine.protocol`.
    obj : Tsd, TsdFrame, TsdTensor or (TimeIndex, data)
        The series; lazy data are read chunk by chunk.
    ep : IntervalSet, optional
        Epochs to cover (default: the time support of ``obj``).
    max_memory : int or str, optional
        Memory budget ("512MB"); default ``napstream.config.memory_budget``.
    executor : {'auto', 'serial', 'threads', 'dask'} or distributed.Client, optional
        Default ``napstream.config.executor`` ("auto": the algorithm's ``preferred_executor``).
        All give the same result.
    n_workers : int, optional
        Threads or dask workers (default ``napstream.config.n_workers``).
    progress : bool, optional
        Progress bar (None: only on a terminal, for jobs over a second).

    Returns
    -------
    Whatever ``algorithm.finalize`` returns.

    Raises
    ------
    MemoryBudgetError
        The budget cannot hold one chunk plus its margins.
    InvalidInputError
        Unknown executor name or bad ``n_workers``.
    MissingDependencyError
        ``executor='dask'`` without dask installed (``pip install 'napstream[dask]'``).
    """
    check_algorithm(algorithm)
    auto = (config.executor if executor is None else executor) == "auto"
    executor, n_workers = resolve_executor(executor, n_workers, algorithm)
    in_flight = 1 if executor == "serial" else n_workers + 1
    try:
        job, ahead = plan_with_readahead(obj, algorithm, ep, max_memory, in_flight, executor)
    except MemoryBudgetError:
        if not auto or in_flight == 1:
            raise
        executor, in_flight = "serial", 1  # "auto": a budget too small for parallel chunks runs serially
        job, ahead = plan_with_readahead(obj, algorithm, ep, max_memory, in_flight, executor)
    # read-ahead of remote chunks (core/readahead.py): the serial and threads executors read here,
    # so the job is announced here (cancelled on any exit); dask workers announce their own tasks
    local = executor in ("serial", "threads")
    label = analysis_label(algorithm)
    with job_progress(job.tasks, progress, label) as bar, (ahead if local else ReadAheadJob([], 0)):
        if job.groups is None:
            state = execute(algorithm, job.tasks, executor, n_workers, lambda: bar.update(1),
                            ahead=None if local else ahead)
            return algorithm.finalize(state)
        # split along channels: one group of columns after the other; the read-ahead announced
        # each group's columns only, group after group
        results = []
        for cols in job.groups:
            sub = algorithm.for_columns(*cols)
            tasks = [task for task in job.tasks if task.cols == cols]
            group_ahead = None if local else ReadAheadJob(tasks, ahead.pin_bytes, ahead.parts, ahead.requests)
            results.append(sub.finalize(execute(sub, tasks, executor, n_workers, lambda: bar.update(1),
                                                ahead=group_ahead)))
    return algorithm.join_columns(results)
