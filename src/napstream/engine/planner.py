"""Turn (object, epochs, memory budget) into chunk tasks aligned to storage chunks, with margins.

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> series = (RegularTimeIndex(0.0, 10.0, 100), LazyArray(np.zeros((100, 4))))
>>> p = plan(series, max_memory=2000)
>>> p.rows, len(p.tasks)
(19, 6)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import config, parse_bytes
from ..core.chunking import (
    ChunkTask, as_margin, decoded_cache_nbytes, epoch_segments, plan_tasks, read_cost, rows_for_budget,
    with_read_margin, working_row_nbytes,
)
from ..core.interval_set import IntervalSet
from ..core.lazy import LazyArray
from ..core.time_index import ArrayTimeIndex, TimeIndex
from ..errors import InvalidInputError, InvalidTypeError, MemoryBudgetError

__all__ = ["Plan", "plan", "series_parts", "resolve_budget"]

#: taper the end of every planned job (``core.chunking.taper_cuts``); False: the old halves
TAPER = True


@dataclass
class Plan:
    """Chunk tasks of one job and the sizes they were planned with."""

    tasks: list[ChunkTask]
    rows: int
    margin: tuple[int, int]
    budget: int
    segments: np.ndarray
    #: column groups ``[(first, stop), ...]`` when the job is split along channels, else None
    groups: list[tuple[int, int]] | None = None


def series_parts(obj: Any) -> tuple[TimeIndex, Any, IntervalSet | None]:
    """``(time_index, data, time_support)`` of a Tsd-like object or a ``(time_index, data)`` pair.

    Never reads data: lazy parts stay lazy.
    """
    if isinstance(obj, tuple) and len(obj) == 2:
        t, d = obj
        support = None
    elif hasattr(obj, "_t") and hasattr(obj, "_d"):
        t, d, support = obj._t, obj._d, getattr(obj, "time_support", None)
    elif hasattr(obj, "time_index") and hasattr(obj, "lazy_data"):
        t, d, support = obj.time_index, obj.lazy_data, getattr(obj, "time_support", None)
    else:
        raise InvalidTypeError(
            f"obj must be a Tsd, TsdFrame or TsdTensor (or a (TimeIndex, data) pair), got {type(obj).__name__}"
        )
    if not isinstance(t, TimeIndex):
        t = ArrayTimeIndex(t, check=False) if isinstance(t, LazyArray) else ArrayTimeIndex(np.asarray(t, float))
    if not isinstance(d, (np.ndarray, LazyArray)):
        d = np.asarray(d)
    if len(t) != d.shape[0]:
        raise InvalidInputError(f"time index has {len(t)} rows but data has {d.shape[0]}")
    return t, d, support


def resolve_budget(max_memory: Any) -> int:
    """Bytes of the per-call ``max_memory`` (int or '512MB'), else ``config.memory_budget``."""
    if max_memory is None:
        return int(config.memory_budget)
    return parse_bytes(max_memory, "max_memory")


def _segments(t: TimeIndex, ep: Any, support: IntervalSet | None) -> np.ndarray:
    if ep is None:
        ep = support
    if ep is None:
        return np.array([[0, len(t)]], dtype=np.int64)
    if not isinstance(ep, IntervalSet):
        raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
    return epoch_segments(t, np.asarray(ep.start), np.asarray(ep.end))


def plan(
    obj: Any,
    algorithm: Any = None,
    ep: IntervalSet | None = None,
    max_memory: Any = None,
    in_flight: int = 1,
) -> Plan:
    """Plan the chunk tasks of running ``algorithm`` over ``obj`` restricted to ``ep``.

    Chunks are cut along time; when one time chunk of all the channels of 2-D data does not fit
    the budget (at least a storage chunk of rows, and at least as many rows as the margins), and
    the algorithm can run on a subset of columns (``for_columns(first, stop)`` and
    ``join_columns(results)``), the columns are split into groups too (``Plan.groups``; the tasks
    come group after group, aligned to the storage chunks' columns).

    Parameters
    ----------
    obj : Tsd, TsdFrame, TsdTensor or (TimeIndex, data)
        The series to read.
    algorithm : ChunkAlgorithm, optional
        Gives ``margin``, ``row_factor``, ``fixed_nbytes`` and ``max_rows`` (defaults 0, 2, 0, None:
        at most that many core rows per chunk, whatever the budget).
    ep : IntervalSet, optional
        Epochs to cover (default: the time support). Margins never cross an epoch's edges.
    max_memory : int or str, optional
        Budget in bytes (default ``napstream.config.memory_budget``).
    in_flight : int
        Chunks held at once (executor workers + 1).

    Raises
    ------
    MemoryBudgetError
        When one chunk and its margins do not fit the budget, even for one column.
    """
    t, d, support = series_parts(obj)
    budget = resolve_budget(max_memory)
    rows, groups = _rows_and_groups(d, algorithm, budget, in_flight)
    margin = as_margin(getattr(algorithm, "margin", 0))
    segments = _segments(t, ep, support)
    # data read on demand: the end of the job (of each column group) is cut in pieces that shrink
    # towards it, so little compute is left once its last rows are read and several workers
    # finish together (core.chunking.taper_cuts); in-memory data: several workers get the last
    # chunks in halves
    taper = TAPER and not isinstance(d, np.ndarray)
    tail = 0 if taper else max(in_flight - 1, 0)
    if groups is None:
        tasks = plan_tasks(t, d, segments, rows, margin, tail, taper=taper)
    else:
        tasks = [task for cols in groups for task in plan_tasks(t, d, segments, rows, margin, tail, cols, taper)]
    return Plan(tasks, rows, margin, budget, segments, groups)


def _cost(d: Any, algorithm: Any, width: int | None, budget: int, in_flight: int) -> int:
    """Core rows per chunk for ``width`` columns (None: all), MemoryBudgetError when none fit."""
    algo = algorithm if width is None else algorithm.for_columns(0, width)
    margin = as_margin(getattr(algo, "margin", 0))
    factor = getattr(algo, "row_factor", 2.0)
    if width is None:
        row_nbytes = working_row_nbytes(d, factor)  # counts what a computed base (lazy filter) holds
    else:
        row_nbytes = int(width * (np.dtype(d.dtype).itemsize + factor * 8 + read_cost(d)[1]) + 8)
    margin = with_read_margin(d, margin)  # rows a computed base reads beyond each read
    # partial states: one per chunk in flight and the running result
    fixed = int(getattr(algo, "fixed_nbytes", 0)) + int(getattr(algo, "state_nbytes", 0)) * (in_flight + 1)
    fixed += int(getattr(algo, "work_nbytes", 0)) * in_flight  # buffers of an update in progress
    fixed += decoded_cache_nbytes(d, budget)  # recently decoded storage chunks (margins' neighbours)
    rows = rows_for_budget(row_nbytes, budget, margin, getattr(d, "chunk_rows", None), fixed, in_flight)
    max_rows = getattr(algo, "max_rows", None)
    return min(rows, int(max_rows)) if max_rows else rows  # memory must not grow with the budget either


def _column_chunk(d: Any) -> int:
    """Columns per storage chunk of 2-D lazy data (1 when unknown)."""
    chunks = getattr(getattr(d, "base", None), "chunks", None)
    post = getattr(d, "post", ())
    if isinstance(chunks, tuple) and len(chunks) == 2 and not post:
        return max(int(chunks[1]), 1)
    return 1


def _rows_and_groups(d: Any, algorithm: Any, budget: int, in_flight: int) -> tuple[int, list | None]:
    """Rows per chunk, and the column groups when all columns do not fit (see :func:`plan`)."""
    margin = as_margin(getattr(algorithm, "margin", 0))
    max_rows = getattr(algorithm, "max_rows", None)
    target = max(getattr(d, "chunk_rows", None) or 1, margin[0] + margin[1], 1)
    target = min(target, int(max_rows)) if max_rows else target
    splittable = d.ndim == 2 and d.shape[1] > 1 and callable(getattr(algorithm, "for_columns", None))
    try:
        rows = _cost(d, algorithm, None, budget, in_flight)
        if rows >= target or not splittable:
            return rows, None
    except MemoryBudgetError:
        if not splittable:
            raise
    n, align = int(d.shape[1]), _column_chunk(d)
    best, tried = None, set()
    for groups in range(2, n + 1):
        width = -(-n // groups)
        if width > align:
            width = -(-width // align) * align
        if width in tried or width >= n:
            continue
        tried.add(width)
        try:
            rows = _cost(d, algorithm, width, budget, in_flight)
        except MemoryBudgetError:
            continue
        best = (rows, width)
        if rows >= target:
            break
    if best is None:
        _cost(d, algorithm, 1, budget, in_flight)  # raises the error that says the minimum
        raise MemoryBudgetError("max_memory is too small for one column")  # pragma: no cover
    rows, width = best
    return rows, [(c, min(c + width, n)) for c in range(0, n, width)]
