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
from ..core.chunking import ChunkTask, as_margin, epoch_segments, plan_tasks, rows_for_budget, working_row_nbytes
from ..core.interval_set import IntervalSet
from ..core.lazy import LazyArray
from ..core.time_index import ArrayTimeIndex, TimeIndex
from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["Plan", "plan", "series_parts", "resolve_budget"]


@dataclass
class Plan:
    """Chunk tasks of one job and the sizes they were planned with."""

    tasks: list[ChunkTask]
    rows: int
    margin: tuple[int, int]
    budget: int
    segments: np.ndarray


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
        When one chunk and its margins do not fit the budget.
    """
    t, d, support = series_parts(obj)
    budget = resolve_budget(max_memory)
    margin = as_margin(getattr(algorithm, "margin", 0))
    row_nbytes = working_row_nbytes(d, getattr(algorithm, "row_factor", 2.0))
    fixed = int(getattr(algorithm, "fixed_nbytes", 0))
    align = getattr(d, "chunk_rows", None)
    rows = rows_for_budget(row_nbytes, budget, margin, align, fixed, in_flight)
    max_rows = getattr(algorithm, "max_rows", None)
    if max_rows:  # an algorithm whose memory must not grow with the budget either
        rows = min(rows, int(max_rows))
    segments = _segments(t, ep, support)
    # several workers: the last chunks are cut in halves so that the workers finish together
    tasks = plan_tasks(t, d, segments, rows, margin, tail_split=max(in_flight - 1, 0) if in_flight > 1 else 0)
    return Plan(tasks, rows, margin, budget, segments)
