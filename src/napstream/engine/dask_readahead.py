"""Read-ahead on dask workers: each worker process announces the tasks it will run on its own file.

A dask worker reads a task's chunk through the file it opened itself (a LazyArray pickles through
its ``ref`` and reopens the file once per process), so announcing a job's rows in the client would
fetch bytes no worker reads. Instead the client assigns the tasks to the workers in turn (task ``i``
to worker ``i mod W``, a loose restriction: dask may still move a task), groups the workers by
process and sends each process the list of tasks its workers run (:class:`WorkerPlan`, scattered
once). The first of those tasks to start in a process announces them all, in order, through that
process's own lazy bases (:class:`~napstream.core.readahead.ReadAheadJob`); the read-ahead ends
when the process has run them all, and in any case when the job ends: the client then runs
:func:`end_job` on every worker (normal end, an error in a kernel, Ctrl-C), so no fetch thread or
pinned block outlives the job. Workers that are threads of one process share its byte source:
their tasks form one plan, read ahead in task order.

Examples
--------
>>> plan = WorkerPlan("job-1", tasks=[], pin_bytes=0, parts=("d",))
>>> run_planned(lambda: 42, plan)      # no client needed: a plan with nothing to announce
42
>>> end_job("job-1")
0
"""

from __future__ import annotations

import collections
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ..core.lazy import LazyArray
from ..core.readahead import ReadAheadJob, _lazy_of

__all__ = ["WorkerPlan", "run_planned", "end_job", "assign", "process_task_ahead"]


@dataclass
class WorkerPlan:
    """The tasks one worker process runs for one job, in order, and its share of the pin bytes."""

    job_id: str
    tasks: list[Any]
    pin_bytes: int
    parts: tuple[str, ...]
    requests: int | None = None
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(self.tasks)


_LOCK = threading.Lock()
_JOBS: dict[str, list[Any]] = {}  # job id -> [ReadAheadJob or None, tasks done]
#: jobs this process ended (most recent last): a task of an ended job that starts late (dask does not
#: stop a task already handed to a worker thread when another task failed) must not announce again
_ENDED: "collections.OrderedDict[str, None]" = collections.OrderedDict()
_ENDED_KEEP = 1024


def _rebased(x: Any, like: Any) -> Any:
    """``x`` (a lazy part of a planned task) over the base that ``like`` (the same part of the
    running task) reads: the plan and the task may have been unpickled apart (each reopening
    its file through its ``ref``), and the announcement must reach the base the reads go to."""
    lazy, own = _lazy_of(x), _lazy_of(like)
    if lazy is None or own is None or lazy.base is own.base or lazy.ref != own.ref:
        return lazy if lazy is not None else x
    return LazyArray(own.base, lazy.segments, lazy.scale, lazy.offset, lazy.post, lazy.ref)


def _start(plan: WorkerPlan, task: Any) -> None:
    with _LOCK:
        if plan.job_id in _JOBS or plan.job_id in _ENDED:
            return
        entry: list[Any] = [None, 0]
        _JOBS[plan.job_id] = entry
        tasks = [SimpleNamespace(**{name: _rebased(getattr(t, name), getattr(task, name, None))
                                    for name in plan.parts}) for t in plan.tasks]
        ahead = ReadAheadJob(tasks, plan.pin_bytes, plan.parts, plan.requests)
        entry[0] = ahead
        ahead.__enter__()  # announcing reads no data: cheap, and done once per process


def _done(plan: WorkerPlan) -> None:
    with _LOCK:
        entry = _JOBS.get(plan.job_id)
        if entry is None:
            return
        entry[1] += 1
        finished = entry[1] >= plan.n
        if finished:
            del _JOBS[plan.job_id]
            _remember_ended(plan.job_id)
    if finished and entry[0] is not None:
        entry[0].cancel()


def end_job(job_id: str) -> int:
    """Cancel this process's read-ahead of job ``job_id`` (run on every worker at the job's end);
    returns how many read-ahead handles were cancelled."""
    with _LOCK:
        entry = _JOBS.pop(job_id, None)
        _remember_ended(job_id)
    if entry is None or entry[0] is None:
        return 0
    n = len(entry[0].handles)
    entry[0].cancel()
    return n


def _remember_ended(job_id: str) -> None:
    """Note (under ``_LOCK``) that ``job_id`` ended here: a late task of it runs without read-ahead."""
    _ENDED[job_id] = None
    while len(_ENDED) > _ENDED_KEEP:
        _ENDED.popitem(last=False)


def run_planned(fn: Callable[[], Any], plan: WorkerPlan | None, task: Any = None) -> Any:
    """``fn()`` with this process's read-ahead of ``plan`` started first (and ended after its last
    task); ``task``, the task ``fn`` runs, tells which bases this process reads."""
    if plan is None or not plan.tasks or plan.pin_bytes <= 0:
        return fn()
    _start(plan, task)
    try:
        return fn()
    finally:
        _done(plan)


def process_task_ahead(algorithm: Any, task: Any, plan: WorkerPlan | None) -> Any:
    """The dask unit of work: one chunk's partial state, with the worker's read-ahead."""
    from .executors import process_task

    return run_planned(lambda: process_task(algorithm, task), plan, task)


def _whereabouts() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def assign(client: Any, tasks: list[Any], ahead: Any) -> tuple[str, list[str | None], list[Any]]:
    """Assign ``tasks`` to workers in turn and scatter one :class:`WorkerPlan` per worker process.

    Returns ``(job id, worker address per task, plan future per task)``; without read-ahead
    (``ahead`` None or no pin bytes) every address and plan is None.
    """
    job_id = f"napstream-{uuid.uuid4().hex}"
    none: list[Any] = [None] * len(tasks)
    if ahead is None or ahead.pin_bytes <= 0 or not ahead.parts or not tasks:
        return job_id, none, none
    workers = sorted(client.scheduler_info().get("workers", {}))
    if not workers:
        return job_id, none, none
    where = client.run(_whereabouts)
    addresses = [workers[i % len(workers)] for i in range(len(tasks))]
    groups: dict[Any, list[str]] = {}
    for w in workers:
        groups.setdefault(tuple(where.get(w, (w, 0))), []).append(w)
    share = ahead.pin_bytes // max(len(groups), 1)
    plans: list[Any] = list(none)
    for members in groups.values():
        mine = [i for i, a in enumerate(addresses) if a in members]
        if not mine:
            continue
        plan = WorkerPlan(job_id, [tasks[i] for i in mine], share, tuple(ahead.parts), ahead.requests)
        here = where.get(members[0]) == _whereabouts()
        # workers in this process get the plan as it is, like the tasks (whose lazy bases are the
        # ones they read); worker processes get it once, unpickled next to the tasks they run
        shared = plan if here else client.scatter(plan, workers=members, broadcast=True, hash=False)
        for i in mine:
            plans[i] = shared
    return job_id, addresses, plans
