"""Executors: run chunk tasks serially, on a bounded thread pool, or on dask.distributed.

Every executor computes ``partial = algorithm.update(algorithm.init(), task.load())`` per task and
merges partials into the running result *in task order*, so results do not depend on the executor.
At most ``n_workers + 1`` tasks are in flight (bounded memory); Ctrl-C cancels pending work.

``dask`` is imported only when used; tasks carry lazy views (a LazyArray pickles through its
``ref``), never an open h5py handle. A LazyArray without ``ref`` is read by the client instead.

Examples
--------
>>> names = EXECUTOR_NAMES
>>> names
('auto', 'serial', 'threads', 'dask')
"""

from __future__ import annotations

import concurrent.futures as cf
import pickle
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..config import EXECUTORS, config
from ..core.chunking import ChunkTask
from ..errors import InvalidInputError, missing_dependency

__all__ = ["EXECUTOR_NAMES", "resolve_executor", "execute", "process_task"]

EXECUTOR_NAMES = tuple(EXECUTORS)


def resolve_executor(executor: Any, n_workers: Any, algorithm: Any = None) -> tuple[Any, int]:
    """Validate ``executor`` (a name, or a ``distributed.Client``) and ``n_workers``.

    ``None`` means ``config.executor``; ``"auto"`` means ``algorithm.preferred_executor``
    ("serial" when the algorithm does not say).
    """
    if executor is None:
        executor = config.executor
    if isinstance(executor, str):
        if executor not in EXECUTOR_NAMES:
            raise InvalidInputError(f"executor must be one of {EXECUTOR_NAMES}, got {executor!r}")
    elif type(executor).__name__ != "Client":
        raise InvalidInputError(
            f"executor must be one of {EXECUTOR_NAMES} or a distributed.Client, got {type(executor).__name__}"
        )
    if executor == "auto":
        executor = getattr(algorithm, "preferred_executor", "serial")
        if executor not in EXECUTOR_NAMES or executor == "auto":
            executor = "serial"
    if n_workers is None:
        n_workers = config.n_workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise InvalidInputError(f"n_workers must be a positive integer, got {n_workers!r}")
    return executor, n_workers


def process_task(algorithm: Any, task: ChunkTask) -> Any:
    """The unit of work: one chunk's partial state."""
    return algorithm.update(algorithm.init(), task.load())


def _ordered(algorithm: Any, results: Iterable[Any], on_done: Callable[[], None]) -> Any:
    acc = algorithm.init()
    for part in results:
        acc = algorithm.merge([acc, part])
        on_done()
    return acc


def _serial(algorithm: Any, tasks: list[ChunkTask], on_done: Callable[[], None]) -> Any:
    return _ordered(algorithm, (process_task(algorithm, t) for t in tasks), on_done)


def _threads(algorithm: Any, tasks: list[ChunkTask], n_workers: int, on_done: Callable[[], None]) -> Any:
    pool = cf.ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="napstream")
    pending: list[cf.Future] = []
    try:
        def results() -> Iterable[Any]:
            it = iter(tasks)
            for task in it:  # keep n_workers + 1 tasks in flight: I/O overlaps compute
                pending.append(pool.submit(process_task, algorithm, task))
                if len(pending) > n_workers:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()

        return _ordered(algorithm, results(), on_done)
    except BaseException:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _portable(task: ChunkTask) -> ChunkTask:
    """The task itself if it pickles (lazy views with a ``ref``), else one with its rows read.

    A LazyArray over an in-memory array would pickle its whole base: its rows are read instead.
    """
    if isinstance(getattr(task.d, "base", None), np.ndarray) and not isinstance(task.d, np.ndarray):
        chunk = task.load()
        return ChunkTask(chunk.t, chunk.d, task.rows, task.cols)
    try:
        pickle.dumps(task.d)
        pickle.dumps(task.t)
        return task
    except TypeError:
        chunk = task.load()
        return ChunkTask(chunk.t, chunk.d, task.rows, task.cols)


def _dask_client(executor: Any, n_workers: int) -> tuple[Any, Any]:
    try:
        import distributed
    except ImportError as err:
        raise missing_dependency("dask", "dask") from err
    if not isinstance(executor, str):
        return executor, None
    try:
        return distributed.get_client(), None
    except ValueError:
        cluster = distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=False, host="127.0.0.1",
            dashboard_address=None,
        )
        return distributed.Client(cluster), cluster


def _dask(algorithm: Any, tasks: list[ChunkTask], executor: Any, n_workers: int, on_done: Callable[[], None]) -> Any:
    client, own = _dask_client(executor, n_workers)
    futures: list[Any] = []
    try:
        # hash=False: a fresh key per run. With content hashing, two runs of equal algorithms share
        # one key, and the first run's release can drop it while the second still needs it.
        algo = client.scatter(algorithm, broadcast=True, hash=False)
        window = n_workers  # n_workers + 1 chunks in flight, as planned

        def results() -> Iterable[Any]:
            for task in tasks:
                futures.append(client.submit(process_task, algo, _portable(task), pure=False))
                if len(futures) > window:
                    yield futures.pop(0).result()
            while futures:
                yield futures.pop(0).result()

        return _ordered(algorithm, results(), on_done)
    except BaseException:
        if futures:
            client.cancel(futures)
        raise
    finally:
        if own is not None:
            client.close()
            own.close()


def execute(
    algorithm: Any,
    tasks: list[ChunkTask],
    executor: Any = None,
    n_workers: int | None = None,
    on_done: Callable[[], None] = lambda: None,
) -> Any:
    """Run ``tasks`` with ``executor`` and return the merged (not finalized) state."""
    executor, n_workers = resolve_executor(executor, n_workers, algorithm)
    if executor == "serial" or (executor == "threads" and n_workers == 1):
        return _serial(algorithm, tasks, on_done)
    if executor == "threads":
        return _threads(algorithm, tasks, n_workers, on_done)
    return _dask(algorithm, tasks, executor, n_workers, on_done)
