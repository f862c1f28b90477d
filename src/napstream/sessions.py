"""One function mapped over many sessions (a dandiset's assets, URLs, paths), on any executor.

:func:`map_sessions` runs ``func(nwb)`` once per source and gathers what comes back per source:

* every task carries a *description* of its source (a path, a URL, a
  :class:`~napstream.io.dandi.DandiAsset`), never an open handle: the worker opens the file itself,
  through a block cache (by default one folder per dask worker, in the worker's scratch space;
  pass ``cache_dir=`` for one shared folder), and closes it when ``func`` returns;
* each session runs under the worker's share of memory (``config.memory_budget``, lowered to half a
  dask worker's memory limit per thread, or divided among threads);
* transient failures (a server gone, timeouts, retries exhausted) re-run the session
  (``session_retries``); with ``on_error="collect"`` a failed session does not stop the others and
  ends up in ``.errors`` (a one-line message per source);
* results stream back as sessions finish (``on_result=`` sees each one; the progress bar counts
  sessions and bytes); on dask.distributed a worker that dies takes no result with it: the
  scheduler runs its sessions again elsewhere.

Executors: ``"serial"``, ``"threads"``, ``"dask"`` (the current ``distributed.Client``, else a
``LocalCluster`` of worker processes started and closed for the call) or a ``distributed.Client``
(any cluster: dask-jobqueue, dask-kubernetes, a cloud cluster; see docs/scaling.md).

:func:`combine_sessions` turns per-session results of a common shape (tuning curves, spectra...)
into one xarray object with a ``session`` dimension.

Examples
--------
>>> import pathlib, tempfile
>>> import napstream as nap
>>> from napstream.testing.sessions import write_session
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> paths = [write_session(folder / f"s{i}.nwb", duration=20.0, n_units=2, n_channels=2, seed=i)
...          for i in range(2)]
>>> def n_spikes(nwb):
...     return sum(len(nwb["units"][u]) for u in nwb["units"].keys())
>>> results = nap.map_sessions(n_spikes, paths, progress=False)
>>> sorted(results.values()) == sorted(n_spikes(nap.NWBFile(p)) for p in paths)
True
>>> results.errors
{}
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import config, format_bytes
from .engine.executors import start_local_cluster
from .engine.progress import resolve_progress
from .errors import (
    DandiError,
    InvalidInputError,
    InvalidTypeError,
    NapstreamError,
    RemoteAccessError,
    RemoteError,
    RemoteNotFoundError,
    missing_dependency,
)
from .io.dandi import DandiAsset

__all__ = ["map_sessions", "combine_sessions", "SessionResults", "SessionStats", "SessionError"]

#: config settings a worker process takes from the client
_CARRIED = ("memory_budget", "block_size", "max_concurrency", "retries", "timeout", "cache_size", "dandi_api_url",
            "timestamp_scan_rows", "trust_timestamp_order")
_MIN_BUDGET = 16 * 2**20
_BACKOFF = 0.5


class SessionError(NapstreamError, RuntimeError):
    """A session failed in a way that could not be sent back as its own exception."""


@dataclass(frozen=True)
class SessionStats:
    """What one session cost.

    Attributes
    ----------
    seconds : float
        Wall time on the worker: opening the file plus ``func`` (all attempts).
    cpu_seconds : float
        CPU time of the thread that ran the session (background reads not included).
    open_seconds : float
        Time to open the file (last attempt).
    bytes_fetched : int
        Bytes read from the network (0 for local files).
    bytes_from_cache : int
        Bytes served by the block cache.
    requests : int
        HTTP range requests sent.
    round_trips : int
        Waits for the network (concurrent requests count once): what latency multiplies.
    attempts : int
        1, or more when a transient failure re-ran the session.
    worker : str
        Where it ran: ``"main"``, a thread name or a dask worker address.
    """

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    open_seconds: float = 0.0
    bytes_fetched: int = 0
    bytes_from_cache: int = 0
    requests: int = 0
    round_trips: int = 0
    attempts: int = 0
    worker: str = ""


@dataclass(frozen=True)
class _Task:
    """The picklable description of one session: what to open and how (no handle)."""

    index: int
    source: Any
    io_options: tuple[tuple[str, Any], ...] = field(repr=False)  # may hold an api_key: never shown
    settings: tuple[tuple[str, Any], ...]
    session_retries: int
    client_pid: int


@dataclass
class _Outcome:
    index: int
    value: Any = None
    error: str | None = None
    exception: BaseException | None = None
    traceback: str = ""
    stats: SessionStats = SessionStats()


def _label(source: Any) -> str:
    if isinstance(source, DandiAsset):
        return source.path
    return os.fspath(source) if isinstance(source, os.PathLike) else str(source)


# --------------------------------------------------------------------------------------- results
class SessionResults(Mapping):
    """Per-source results of :func:`map_sessions` (a read-only mapping, in the order of the sources).

    Only sessions that succeeded are keys; ``.errors`` holds the others. A key is the source as
    given (a path, a URL, a DandiAsset); its label (the asset path, or the string of the source)
    works too: ``results["sub-1/sub-1_ses-1.nwb"]``.

    Attributes
    ----------
    errors : dict
        source -> one-line error (``"FileFormatError: ..."``) of every failed session.
    tracebacks : dict
        source -> the full traceback of every failed session (as text).
    stats : dict
        source -> :class:`SessionStats` of every session that ran.
    sources : list
        Every source, in the order given.

    Examples
    --------
    See :func:`map_sessions`.
    """

    def __init__(self, sources: list[Any]) -> None:
        self.sources = list(sources)
        self._values: dict[Any, Any] = {}
        self.errors: dict[Any, str] = {}
        self.tracebacks: dict[Any, str] = {}
        self.stats: dict[Any, SessionStats] = {}
        self._by_label = {_label(s): s for s in self.sources}
        self.seconds = 0.0

    def _key(self, key: Any) -> Any:
        try:
            if key in self._values or key in self.errors:
                return key
        except TypeError:
            pass
        return self._by_label.get(key, key) if isinstance(key, str) else key

    def __getitem__(self, key: Any) -> Any:
        real = self._key(key)
        if real in self._values:
            return self._values[real]
        if real in self.errors:
            raise KeyError(f"session {_label(real)!r} failed: {self.errors[real]}")
        raise KeyError(f"no session {key!r} among the {len(self.sources)} sources")

    def __iter__(self) -> Iterator[Any]:
        return (s for s in self.sources if s in self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def labels(self) -> list[str]:
        """The labels of the sessions that succeeded, in order (asset paths or source strings)."""
        return [_label(s) for s in self]

    @property
    def total(self) -> SessionStats:
        """Sums over every session (``seconds`` is the wall time of the whole map)."""
        st = list(self.stats.values())
        return SessionStats(self.seconds, sum(s.cpu_seconds for s in st), sum(s.open_seconds for s in st),
                            sum(s.bytes_fetched for s in st),
                            sum(s.bytes_from_cache for s in st), sum(s.requests for s in st),
                            sum(s.round_trips for s in st), sum(s.attempts for s in st), "all")

    def combine(self, dim: str = "session", along: str | None = None) -> Any:
        """:func:`combine_sessions` of these results."""
        return combine_sessions(self, dim=dim, along=along)

    def _add(self, source: Any, outcome: _Outcome) -> None:
        self.stats[source] = outcome.stats
        if outcome.error is None:
            self._values[source] = outcome.value
        else:
            self.errors[source] = outcome.error
            self.tracebacks[source] = outcome.traceback

    def __repr__(self) -> str:
        t = self.total
        return (f"SessionResults({len(self.sources)} sessions: {len(self)} ok, {len(self.errors)} failed; "
                f"{format_bytes(t.bytes_fetched)} fetched in {t.requests} requests, "
                f"{format_bytes(t.bytes_from_cache)} from cache; {self.seconds:.2f} s)")


# --------------------------------------------------------------------------------------- worker side
def _dask_worker() -> Any:
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:
        return None


def _worker_context(task: _Task) -> tuple[dict[str, Any], str]:
    """io options of this session and the worker's name; sets up a worker *process* once."""
    options = dict(task.io_options)
    worker = _dask_worker()
    if worker is None:
        thread = threading.current_thread()
        return options, "main" if thread is threading.main_thread() else thread.name
    if "cache_dir" not in options:  # a cache folder per worker, in its scratch space
        options["cache_dir"] = os.path.join(worker.local_directory, "napstream-cache")
    if os.getpid() != task.client_pid:  # a worker process: take the client's settings, its share of memory
        settings = dict(task.settings)
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        threads = max(1, int(getattr(getattr(worker, "state", worker), "nthreads", 1) or 1))
        if limit:
            settings["memory_budget"] = max(_MIN_BUDGET, min(settings["memory_budget"], int(limit) // threads // 2))
        settings["executor"] = "serial"  # one session per worker thread: no nested pools
        for name, value in settings.items():
            if getattr(config, name) != value:
                setattr(config, name, value)
    return options, str(getattr(worker, "address", "dask"))


def _is_transient(err: BaseException) -> bool:
    """Worth another attempt: the network failed, not the file, the path or the analysis."""
    if isinstance(err, (RemoteNotFoundError, RemoteAccessError, DandiError)):
        return False
    return isinstance(err, (RemoteError, ConnectionError, TimeoutError))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or repr(err)
    return f"{type(err).__name__}: {text[:300]}"


def _portable(err: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any exception that does not survive pickling
        return SessionError(_one_line(err))


def _open(source: Any, io_options: dict[str, Any]) -> Any:
    if isinstance(source, DandiAsset):
        from .dandiset import open_asset

        return open_asset(source, **io_options)
    from .nwb import NWBFile

    options = {k: v for k, v in io_options.items() if k != "api_key"}  # paths and URLs: DANDI_API_KEY
    return NWBFile(source, **options)


def _check_value(value: Any) -> None:
    if getattr(value, "is_lazy", False) is True:
        raise InvalidInputError(
            f"func returned a lazy {type(value).__name__}, which cannot outlive its file: "
            "return a computed value (an analysis result, or obj.load())"
        )


def run_session(func: Callable[[Any], Any], task: _Task) -> _Outcome:
    """Open ``task``'s source, run ``func`` on it, close it; never raises (the outcome says).

    This is what a worker runs; it is public so that a cluster can be checked by hand.
    """
    start = (time.perf_counter(), time.thread_time())
    options, worker = _worker_context(task)
    attempts, open_seconds, io = 0, 0.0, None
    while True:
        attempts += 1
        nwb = None
        try:
            t0 = time.perf_counter()
            nwb = _open(task.source, options)
            open_seconds = time.perf_counter() - t0
            value = func(nwb)
            _check_value(value)
            io = nwb.io_stats.copy()
            return _Outcome(task.index, value=value, stats=_stats(start, open_seconds, io, attempts, worker))
        except Exception as err:  # noqa: BLE001 - every failure is reported per session
            if nwb is not None:
                io = nwb.io_stats.copy()
            if attempts <= task.session_retries and _is_transient(err):
                time.sleep(_BACKOFF * 2 ** (attempts - 1))
                continue
            return _Outcome(task.index, error=_one_line(err), exception=_portable(err),
                            traceback="".join(traceback.format_exception(err)),
                            stats=_stats(start, open_seconds, io, attempts, worker))
        finally:
            if nwb is not None:
                nwb.close()


def _stats(start: tuple[float, float], open_seconds: float, io: Any, attempts: int, worker: str) -> SessionStats:
    return SessionStats(time.perf_counter() - start[0], time.thread_time() - start[1], open_seconds,
                        int(getattr(io, "bytes_fetched", 0)),
                        int(getattr(io, "bytes_from_cache", 0)), int(getattr(io, "requests", 0)),
                        int(getattr(io, "round_trips", 0)), attempts, worker)


# --------------------------------------------------------------------------------------- executors
def _run_serial(func: Callable, tasks: list[_Task]) -> Iterator[_Outcome]:
    for task in tasks:
        yield run_session(func, task)


def _run_threads(func: Callable, tasks: list[_Task], n_workers: int) -> Iterator[_Outcome]:
    budget = max(_MIN_BUDGET, config.memory_budget // n_workers)
    with config.override(memory_budget=budget, executor="serial"):
        pool = cf.ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="napstream-session")
        futures = [pool.submit(run_session, func, t) for t in tasks]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            for f in futures:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(func: Callable, tasks: list[_Task], executor: Any, n_workers: int) -> Iterator[_Outcome]:
    try:
        import distributed
    except ImportError as err:
        raise missing_dependency("dask", "dask") from err
    client, cluster = executor, None
    if isinstance(executor, str):
        try:
            client = distributed.get_client()
        except ValueError:  # no client: worker processes on this machine, for this call
            client, cluster = start_local_cluster(n_workers, processes=True)
    futures = [client.submit(run_session, func, t, pure=False, key=f"napstream-session-{t.index}-{os.urandom(4).hex()}")
               for t in tasks]
    index = {f.key: t.index for f, t in zip(futures, tasks)}
    try:
        for future in distributed.as_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 - the task itself failed: func did not unpickle, or
                # its workers kept dying (KilledWorker): that session's error, the others go on
                yield _Outcome(index[future.key], error=_one_line(err), exception=_portable(err),
                               traceback="".join(traceback.format_exception(err)))
    finally:
        client.cancel([f for f in futures if not f.done()])
        if cluster is not None:
            client.close()
            cluster.close()


# --------------------------------------------------------------------------------------- map_sessions
def _check_sources(sources: Any) -> list[Any]:
    from .dandiset import Dandiset

    if isinstance(sources, Dandiset):
        sources = sources.assets("*.nwb")
    if isinstance(sources, (str, bytes, os.PathLike, DandiAsset)) or not isinstance(sources, Iterable):
        raise InvalidTypeError(
            "sources must be a list of paths, URLs or DandiAssets (e.g. Dandiset(...).assets('*.nwb')), "
            f"got {type(sources).__name__}"
        )
    out = list(sources)
    for s in out:
        if not isinstance(s, (str, os.PathLike, DandiAsset)):
            raise InvalidTypeError(
                f"each source must be a path, a URL or a DandiAsset, got {type(s).__name__}: {s!r}"[:300])
    counts = collections.Counter(_label(s) for s in out)
    dupes = sorted(lab for lab, n in counts.items() if n > 1)
    if dupes:
        raise InvalidInputError(f"sources must be distinct, got {dupes[:3]} more than once")
    return out


def _check_executor(executor: Any) -> Any:
    if isinstance(executor, str):
        if executor not in ("serial", "threads", "dask"):
            raise InvalidInputError(
                f"executor must be 'serial', 'threads', 'dask' or a distributed.Client, got {executor!r}")
    elif type(executor).__name__ != "Client":
        raise InvalidTypeError(f"executor must be 'serial', 'threads', 'dask' or a distributed.Client, "
                               f"got {type(executor).__name__}")
    return executor


def map_sessions(
    func: Callable[[Any], Any],
    sources: Iterable[Any],
    executor: Any = "serial",
    *,
    n_workers: int | None = None,
    on_error: str = "raise",
    progress: bool | None = True,
    session_retries: int = 2,
    on_result: Callable[[Any, Any], None] | None = None,
    **open_options: Any,
) -> SessionResults:
    """Run ``func(nwb)`` on every source, each opened on its worker; gather results per source.

    Parameters
    ----------
    func : callable
        ``func(nwb) -> result`` where ``nwb`` is a lazy :class:`~napstream.nwb.NWBFile`. The file is
        closed when ``func`` returns, so return computed values (an analysis result, ``obj.load()``),
        not lazy objects. On dask it must pickle (a module-level function, or a lambda/closure).
    sources : iterable of str, PathLike or DandiAsset, or a Dandiset
        Local paths, http(s)/s3/dandi URLs, assets from :meth:`Dandiset.assets` (a Dandiset means
        its ``*.nwb`` assets).
    executor : {"serial", "threads", "dask"} or distributed.Client
        ``"dask"`` uses the current client, else starts a ``LocalCluster`` of ``n_workers`` worker
        processes (on 127.0.0.1) for the call and closes it afterwards.
    n_workers : int, optional
        Threads, or local dask worker processes (default ``config.n_workers``).
    on_error : {"raise", "collect"}
        ``"raise"``: the first failed session's exception is raised (pending sessions are
        cancelled). ``"collect"``: the others carry on; failures are in ``.errors``.
    progress : bool or None
        A bar counting sessions and bytes (None: only on a terminal). Shown after a second.
    session_retries : int
        Times a session is run again after a transient failure (network errors, timeouts).
    on_result : callable, optional
        ``on_result(source, result)`` in the caller's process as each session finishes (in
        completion order), e.g. to save results as they come.
    **open_options
        Passed to ``NWBFile`` on the worker: ``cache_dir`` (one shared cache folder; default: the
        process's cache, or a folder per dask worker), ``block_size``, ``max_concurrency``,
        ``retries``, ``timeout``... For DandiAssets also ``api_key`` (embargoed dandisets; default:
        the key of a Dandiset given as ``sources``, else ``DANDI_API_KEY`` on the worker). Presigned
        URLs that expire during the run are renewed on the worker.

    Returns
    -------
    SessionResults
        source -> result (sources that succeeded, in the given order), with ``.errors``,
        ``.tracebacks``, ``.stats`` (per-session :class:`SessionStats`) and ``.combine()``.

    Raises
    ------
    Exception
        With ``on_error="raise"``, the exception of the first session that failed (a note names
        the session).

    Examples
    --------
    See the module docstring.
    """
    if not callable(func):
        raise InvalidTypeError(f"func must be a callable taking an NWBFile, got {type(func).__name__}")
    executor = _check_executor(executor)
    if on_error not in ("raise", "collect"):
        raise InvalidInputError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
    if isinstance(session_retries, bool) or not isinstance(session_retries, int) or session_retries < 0:
        raise InvalidInputError(f"session_retries must be a non-negative integer, got {session_retries!r}")
    if n_workers is None:
        n_workers = config.n_workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise InvalidInputError(f"n_workers must be a positive integer, got {n_workers!r}")
    if on_result is not None and not callable(on_result):
        raise InvalidTypeError(f"on_result must be a callable(source, result), got {type(on_result).__name__}")
    show = resolve_progress(progress)
    key = getattr(sources, "_api_key", None)  # a Dandiset opened with an api_key: its sessions need it too
    if key is not None and "api_key" not in open_options:
        open_options["api_key"] = key
    srcs = _check_sources(sources)
    settings = tuple((k, getattr(config, k)) for k in _CARRIED)
    options = tuple(sorted(open_options.items()))
    tasks = [_Task(i, s, options, settings, session_retries, os.getpid()) for i, s in enumerate(srcs)]
    results = SessionResults(srcs)
    start = time.perf_counter()
    if executor == "serial" or (executor == "threads" and n_workers == 1):
        stream = _run_serial(func, tasks)
    elif executor == "threads":
        stream = _run_threads(func, tasks, n_workers)
    else:
        stream = _run_dask(func, tasks, executor, n_workers)
    try:
        _gather(stream, srcs, results, on_error, on_result, show)
    finally:
        results.seconds = time.perf_counter() - start
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return results


def _gather(stream: Iterator[_Outcome], srcs: list[Any], results: SessionResults, on_error: str,
            on_result: Callable[[Any, Any], None] | None, show: bool) -> None:
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(srcs), desc="sessions", unit="session", delay=1.0, leave=False)
    fetched = 0
    try:
        for outcome in stream:
            source = srcs[outcome.index]
            results._add(source, outcome)
            if outcome.error is not None and on_error == "raise":
                exc = outcome.exception or SessionError(outcome.error)
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(in map_sessions, session {_label(source)!r})")
                raise exc
            if outcome.error is None and on_result is not None:
                on_result(source, outcome.value)
            if bar is not None:
                fetched += outcome.stats.bytes_fetched
                bar.set_postfix_str(f"{format_bytes(fetched)} fetched, {len(results.errors)} failed", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------------------- combining
def _as_xarray(value: Any, label: str) -> Any:
    import numpy as np
    import pandas as pd
    import xarray as xr

    if isinstance(value, (xr.DataArray, xr.Dataset)):
        return value
    if _is_legacy_tuning(value):  # pynapple's (dict unit -> curve, [bins per feature]) of 2-D tuning curves
        curves, bins = value
        dims = ("unit", *("xyz"[: len(bins)]))
        coords = {"unit": list(curves), **{d: np.asarray(b) for d, b in zip(dims[1:], bins)}}
        return xr.DataArray(np.stack([np.asarray(curves[k]) for k in curves]), dims=dims, coords=coords)
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return xr.DataArray(value)
    if isinstance(value, dict) and value and all(np.ndim(v) >= 0 for v in value.values()):
        keys = list(value)
        parts = [_as_xarray(value[k], label) for k in keys]
        return xr.concat(parts, dim=pd.Index(keys, name="key"), join="outer")
    if isinstance(value, (np.ndarray, int, float, np.number, list)):
        return xr.DataArray(np.asarray(value))
    if hasattr(value, "as_dataframe"):
        return xr.DataArray(value.as_dataframe())
    raise InvalidTypeError(
        f"session {label!r} returned a {type(value).__name__}; combine_sessions takes xarray objects, pandas "
        "DataFrames/Series, numpy arrays, numbers or dicts of them"
    )


def _is_legacy_tuning(value: Any) -> bool:
    import numpy as np

    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict) and value[0]):
        return False
    curves, bins = value
    if not isinstance(bins, (list, tuple)) or not 1 <= len(bins) <= 3:
        return False
    shape = tuple(len(b) for b in bins)
    return all(np.shape(c) == shape for c in curves.values())


def combine_sessions(results: Mapping[Any, Any], dim: str = "session", along: str | None = None) -> Any:
    """Combine per-session results of a common shape into one xarray object.

    Parameters
    ----------
    results : SessionResults or mapping
        source -> result, e.g. from :func:`map_sessions` (failed sessions are not in it). Results
        may be xarray objects, pandas DataFrames/Series, numpy arrays, numbers, dicts of them (a
        dict becomes a ``key`` dimension), or the ``(tuning curves, bins)`` pair of pynapple's
        ``compute_2d_tuning_curves`` (dimensions ``unit``, ``x``, ``y``; bin centres as coordinates).
    dim : str
        Name of the session dimension / coordinate (labels: asset paths or source strings).
    along : str, optional
        None (default): stack on a new ``dim`` dimension; other dimensions are aligned (outer join,
        NaN where a session lacks a coordinate). A dimension name (e.g. ``"unit"``): concatenate
        along it, so every unit of every session sits on one axis, with a ``dim`` coordinate on
        that axis telling each unit's session.

    Returns
    -------
    xarray.DataArray or xarray.Dataset

    Examples
    --------
    >>> import pandas as pd
    >>> tc = {"a.nwb": pd.DataFrame({0: [1.0, 2.0]}, index=[0.5, 1.5]),
    ...       "b.nwb": pd.DataFrame({0: [3.0, 4.0], 1: [5.0, 6.0]}, index=[0.5, 1.5])}
    >>> combine_sessions(tc).sizes["session"], combine_sessions(tc, along="dim_1").sizes["dim_1"]
    (2, 3)
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    if not isinstance(results, Mapping):
        raise InvalidTypeError(
            f"results must be a mapping of source -> result (SessionResults), got {type(results).__name__}")
    if not isinstance(dim, str) or not dim:
        raise InvalidInputError(f"dim must be a non-empty string, got {dim!r}")
    labels = [_label(s) for s in results]
    if not labels:
        raise InvalidInputError("results must hold at least one successful session to combine")
    parts = [_as_xarray(results[s], lab) for s, lab in zip(results, labels)]
    if along is None:
        return xr.concat(parts, dim=pd.Index(labels, name=dim), join="outer")
    missing = [lab for p, lab in zip(parts, labels) if along not in p.dims]
    if missing:
        raise InvalidInputError(f"along={along!r} must be a dimension of every result; {missing[:3]} lack it "
                                f"(dimensions: {list(parts[0].dims)})")
    out = xr.concat(parts, dim=along, join="outer")
    sessions = np.repeat(np.asarray(labels, dtype=object), [p.sizes[along] for p in parts])
    return out.assign_coords({dim: (along, sessions)})

