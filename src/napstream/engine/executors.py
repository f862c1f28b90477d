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
from ..errors import InvalidInputError, NapstreamError, missing_dependency

__all__ = ["EXECUTOR_NAMES", "resolve_executor", "execute", "process_task", "start_local_cluster", "ClusterStartError"]

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


def _travels(task: ChunkTask) -> bool:
    """True when ``task`` can be sent to a worker as it is (lazy views with a ``ref``, small arrays).

    A LazyArray over an in-memory array would pickle its whole base: such tasks do not travel.
    """
    if isinstance(getattr(task.d, "base", None), np.ndarray) and not isinstance(task.d, np.ndarray):
        return False
    try:
        pickle.dumps(task.d)
        pickle.dumps(task.t)
        return True
    except TypeError:
        return False


def _portable(task: ChunkTask) -> ChunkTask:
    """The task itself if it travels (see :func:`_travels`), else one with its rows read here."""
    if _travels(task):
        return task
    chunk = task.load()
    return ChunkTask(chunk.t, chunk.d, task.rows, task.cols)


class ClusterStartError(NapstreamError, RuntimeError):
    """A local dask cluster could not be started."""


def start_local_cluster(n_workers: int, processes: bool = False) -> tuple[Any, Any]:
    """Start a dask ``LocalCluster`` and a ``Client`` on it; the caller closes both.

    Parameters
    ----------
    n_workers : int
        Workers, one thread each.
    processes : bool
        False (default): workers are threads of this process, talking in-process (starts in
        milliseconds; right for chunk tasks, whose kernels release the GIL). True: worker processes
        on 127.0.0.1 (about a second to start; right for whole sessions, which run Python code).

    Returns
    -------
    (client, cluster)

    Raises
    ------
    ClusterStartError
        The cluster could not start (the message says what to do instead).

    Examples
    --------
    >>> client, cluster = start_local_cluster(1)  # doctest: +SKIP
    >>> client.close(); cluster.close()  # doctest: +SKIP
    """
    try:
        import distributed
    except ImportError as err:
        raise missing_dependency("dask", "dask") from err
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise InvalidInputError(f"n_workers must be a positive integer, got {n_workers!r}")
    # In-process workers talk over the inproc transport, which takes no host; worker processes
    # listen on the loopback interface only.
    # No dashboard; the scheduler's own HTTP routes (health, metrics) on a free loopback port, never
    # on the shared default 8787 (a second cluster would warn that the port is taken).
    options: dict[str, Any] = {"n_workers": n_workers, "threads_per_worker": 1, "processes": processes,
                               "dashboard_address": None,
                               "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
    if processes:
        options.update(host="127.0.0.1", protocol="tcp")
    try:
        cluster = distributed.LocalCluster(**options)
    except Exception as err:  # noqa: BLE001 - dask raises RuntimeError/OSError/ValueError here
        cause = str(getattr(err, "__cause__", None) or err).splitlines()[0][:200]
        raise ClusterStartError(
            f"could not start a local dask cluster of {n_workers} {'process' if processes else 'thread'} "
            f"worker(s) ({type(err).__name__}: {cause}); "
            + ("a script starting worker processes must do so under `if __name__ == '__main__':`; "
               if processes else "")
            + "or start a cluster yourself and pass its client as executor= (client = distributed.Client(...)), "
            "or use executor='threads'"
        ) from err
    try:
        return distributed.Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def _dask_client(executor: Any, n_workers: int) -> tuple[Any, Any]:
    try:
        import distributed
    except ImportError as err:
        raise missing_dependency("dask", "dask") from err
    if not isinstance(executor, str):
        return executor, None
    try:
        return distributed.get_client(), None
    except ValueError:  # no client yet: a cluster of threads in this process, for this call only
        return start_local_cluster(n_workers, processes=False)


def _dask(algorithm: Any, tasks: list[ChunkTask], executor: Any, n_workers: int, on_done: Callable[[], None],
          ahead: Any = None) -> Any:
    from . import dask_readahead as dra

    client, own = _dask_client(executor, n_workers)
    futures: list[Any] = []
    job_id = None
    try:
        # hash=False: a fresh key per run. With content hashing, two runs of equal algorithms share
        # one key, and the first run's release can drop it while the second still needs it.
        algo = client.scatter(algorithm, broadcast=True, hash=False)
        window = n_workers  # n_workers + 1 chunks in flight, as planned
        # read-ahead on the workers' own files (engine/dask_readahead.py); tasks read on the
        # client (no ``ref``) have nothing to announce there
        if ahead is not None and ahead.pin_bytes > 0 and tasks and not _travels(tasks[0]):
            ahead = None
        job_id, where, plans = dra.assign(client, tasks, ahead)

        def results() -> Iterable[Any]:
            for task, worker, plan in zip(tasks, where, plans):
                placement = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
                futures.append(client.submit(dra.process_task_ahead, algo, _portable(task), plan, pure=False,
                                             **placement))
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
        if job_id is not None and ahead is not None and ahead.pin_bytes > 0:
            try:
                client.run(dra.end_job, job_id)  # no read-ahead outlives the job on any worker
            except Exception:  # noqa: BLE001 - a worker gone: its read-ahead went with it
                pass
        if own is not None:
            client.close()
            own.close()


def execute(
    algorithm: Any,
    tasks: list[ChunkTask],
    executor: Any = None,
    n_workers: int | None = None,
    on_done: Callable[[], None] = lambda: None,
    ahead: Any = None,
) -> Any:
    """Run ``tasks`` with ``executor`` and return the merged (not finalized) state.

    ``ahead``: a :class:`~napstream.core.readahead.ReadAheadJob` the dask executor announces on
    its workers (the serial and threads executors read in this process: the caller enters it).
    """
    executor, n_workers = resolve_executor(executor, n_workers, algorithm)
    if executor == "serial" or (executor == "threads" and n_workers == 1):
        return _serial(algorithm, tasks, on_done)
    if executor == "threads":
        return _threads(algorithm, tasks, n_workers, on_done)
    return _dask(algorithm, tasks, executor, n_workers, on_done, ahead)
