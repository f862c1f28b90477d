"""The read-ahead hint of lazy array bases: announce the rows a job reads next (no I/O here).

Whoever reads a lazy series chunk by chunk knows every chunk before it starts; only the byte
layer knows bytes. A lazy array base may offer the optional hint

``will_read(row_segments, max_bytes, requests=None, cols=None) -> handle or None``

(``nwb.prefetch.PrefetchingDataset`` does for remote files; a computed base such as a lazy filter
forwards its source rows with :func:`announce_lazy`): the base turns rows ``[[start, stop), ...]``
(base rows, in reading order; ``cols``: only the columns ``[c0, c1)`` of a 2-D base are read) into
storage byte ranges and fetches them in the background, in order, pinned until read, at most
``max_bytes`` at once. The handle has ``cancel()``.

:class:`ReadAheadJob` announces the reads of a list of chunk tasks on ``__enter__`` and cancels
them on ``__exit__`` (normal end, an error in a kernel, Ctrl-C, a generator closed early), so no
fetch thread or request outlives the reads. :func:`reserve` says how much of a memory budget to
hold back for the pinned bytes. The engine (``engine.runner.run``, every executor) and the
chunked methods of the time series (``iter_chunks``, ``apply``, chunked reductions) use them.

Set ``napstream.core.readahead.enabled = False`` to turn read-ahead off (benchmarks compare).

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray
>>> class Hinted:                      # a base that records what it is told
...     shape, dtype = (100,), np.dtype(float)
...     def __init__(self): self.told = []
...     def __getitem__(self, key): return np.zeros(100)[key]
...     def will_read(self, rows, max_bytes, requests=None, cols=None):
...         self.told.append(rows.tolist())
>>> base = Hinted()
>>> lazy = LazyArray(base).select([[10, 30], [50, 60]])   # logical rows 0..30
>>> handles = announce_lazy(lazy, [[5, 25]], max_bytes=1000)
>>> base.told
[[[15, 30], [50, 55]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .lazy import LazyArray

__all__ = ["ReadAheadJob", "reserve", "pin_limit", "hint_of", "hinted_parts", "announce_lazy", "with_margins", "announced", "enabled"]

#: turn read-ahead on or off everywhere (benchmarks compare the two)
enabled = True


def _lazy_of(x: Any) -> LazyArray | None:
    """``x`` if it is a LazyArray, the lazy values of a TimeIndex over lazy timestamps, else None."""
    if isinstance(x, LazyArray):
        return x
    values = getattr(x, "values", None)
    return values if isinstance(values, LazyArray) else None


def hint_of(x: Any) -> Any:
    """``will_read`` of the base of ``x`` (a LazyArray or a lazy TimeIndex) when it has one, else None."""
    lazy = _lazy_of(x)
    return None if lazy is None else getattr(lazy.base, "will_read", None)


def hinted_parts(t: Any, d: Any) -> list[str]:
    """Which of ``("t", "d")`` (time index, data) have a base offering ``will_read``."""
    return [name for name, x in (("t", t), ("d", d)) if hint_of(x) is not None]


def is_lazy(t: Any, d: Any) -> bool:
    """True when the data or the time index is read on demand."""
    return _lazy_of(d) is not None or _lazy_of(t) is not None


def reserve(budget: int, in_flight: int = 1) -> int:
    """Bytes of ``budget`` held back for pinned read-ahead: ``ReadAheadJob.share`` chunks' worth of
    ``in_flight`` chunks, so chunks plus pinned bytes stay inside the budget.

    >>> reserve(9_000_000, in_flight=2)
    3000000
    """
    return int(budget) * ReadAheadJob.share // (max(int(in_flight), 1) + ReadAheadJob.share)


def pin_limit(pin: int, d: Any, rows: int, margin: Any = (0, 0)) -> int:
    """Pinned bytes actually used out of the ``pin`` held back: ``ReadAheadJob.ahead`` chunks'
    stored bytes (at least ``ReadAheadJob.min_bytes``), never more than ``pin``."""
    if pin <= 0:
        return 0
    shape = tuple(getattr(d, "shape", ()))
    n_el = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    base = getattr(d, "base", d)
    try:
        itemsize = np.dtype(getattr(base, "dtype", getattr(d, "dtype", np.float64))).itemsize
    except TypeError:
        itemsize = 8
    extra = int(sum(margin)) if isinstance(margin, (tuple, list)) else 2 * int(margin)
    cap = ReadAheadJob.ahead * (int(rows) + extra) * n_el * itemsize
    return int(min(pin, max(cap, ReadAheadJob.min_bytes)))


def _columns(lazy: LazyArray) -> tuple[int, int] | None:
    """Base columns ``[c0, c1)`` a 2-D LazyArray reads (a pushed column range), else None (all)."""
    cols = lazy._pushed_columns()
    if cols is None:
        return None
    c0, c1, _ = cols.indices(int(lazy.base.shape[1]))
    return (c0, max(c0, c1))


def _call(hint: Any, rows: np.ndarray, max_bytes: int, requests: int | None, cols: tuple[int, int] | None) -> Any:
    if cols is None:
        return hint(rows, max_bytes, requests)
    try:
        return hint(rows, max_bytes, requests, cols=cols)
    except TypeError:  # a hint that does not know columns: announce every column
        return hint(rows, max_bytes, requests)


def announce_lazy(lazy: Any, segments: Any, max_bytes: int, requests: int | None = None,
                  cols: tuple[int, int] | None = None) -> list[Any]:
    """Announce logical row ``segments`` of a LazyArray to its base's hint; returns the handles.

    ``cols``: columns of ``lazy`` read (None: those ``lazy`` reads itself). Nothing happens for a
    base without the hint, for empty segments or when read-ahead is off.
    """
    if not enabled or not isinstance(lazy, LazyArray) or max_bytes <= 0:
        return []
    hint = getattr(lazy.base, "will_read", None)
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    seg = seg[seg[:, 1] > seg[:, 0]]
    if hint is None or not len(seg) or not len(lazy):
        return []
    rows = np.concatenate([lazy.base_rows([[int(a), int(b)]]) for a, b in seg], axis=0)
    if cols is None:
        cols = _columns(lazy)
    elif (own := _columns(lazy)) is not None:
        cols = (own[0] + cols[0], own[0] + cols[1])
    handle = _call(hint, rows, int(max_bytes), requests, cols)
    if handle is None:
        return []
    return list(handle) if isinstance(handle, list) else [handle]


class announced:  # noqa: N801 - used as a context manager, named for what it does
    """Context manager: announce the logical row ``segments`` of ``x`` (a LazyArray or a lazy
    TimeIndex; anything else: nothing) on entry, cancel on exit. For analyses that read known
    pieces of a lazy series outside the engine (e.g. the windows of a peri-event alignment);
    at most ``min(reserve(budget), 4 * ReadAheadJob.min_bytes)`` bytes are pinned at once.

    >>> import numpy as np
    >>> with announced(np.zeros(10), [[0, 5]], 1000) as ahead:   # in memory: nothing to announce
    ...     ahead.handles
    []
    """

    def __init__(self, x: Any, segments: Any, budget: int) -> None:
        self.x, self.segments = x, segments
        self.max_bytes = min(reserve(int(budget), 1), 4 * ReadAheadJob.min_bytes)
        self.handles: list[Any] = []

    def __enter__(self) -> "announced":
        lazy = _lazy_of(self.x)
        if lazy is not None:
            try:
                self.handles = announce_lazy(lazy, self.segments, self.max_bytes)
            except BaseException:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        handles, self.handles = self.handles, []
        for handle in handles:
            handle.cancel()


def with_margins(segments: Any, epochs: Any, margin: tuple[int, int]) -> np.ndarray:
    """Rows a computed base reads for output rows ``segments``: each piece inside an epoch widened
    by ``margin = (left, right)`` rows, clipped to that epoch (``epochs``: ``[[start, stop), ...]``).

    >>> with_margins([[10, 30]], [[0, 20], [20, 100]], (5, 5)).tolist()
    [[5, 20], [20, 35]]
    """
    out = []
    ep = np.asarray(epochs, dtype=np.int64).reshape(-1, 2)
    for a, b in np.asarray(segments, dtype=np.int64).reshape(-1, 2):
        for s0, s1 in ep:
            c0, c1 = max(int(a), int(s0)), min(int(b), int(s1))
            if c0 < c1:
                out.append((max(int(s0), c0 - margin[0]), min(int(s1), c1 + margin[1])))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


class ReadAheadJob:
    """Announces the reads of chunk tasks on ``__enter__``; cancels the read-ahead on ``__exit__``.

    Parameters
    ----------
    tasks : list of ChunkTask
        The tasks, in the order they are read.
    pin_bytes : int
        Memory held back from the chunks for pinned read-ahead (0: no read-ahead).
    parts : sequence of str
        Which task parts (``"t"``, ``"d"``) to announce.
    requests : int or None
        Requests kept in flight (default: the source's ``max_concurrency``).
    """

    #: chunks' worth of the memory budget held back for pinned read-ahead bytes
    share = 1
    #: at most this many chunks' stored bytes are pinned at once (within the share). The requests
    #: out count in it: on a fast link they hold about two chunks' worth (1 Gbit/s, 30 ms: 7-8
    #: requests of ~3.75 MB), and the third keeps the next chunk whole, pinned, while they run
    ahead = 3
    #: ... but at least this much (within the share): a few requests' worth of blocks
    min_bytes = 8 * 2**20

    def __init__(self, tasks: list[Any], pin_bytes: int, parts: tuple[str, ...] | list[str] = ("d",),
                 requests: int | None = None) -> None:
        self.tasks = tasks
        self.pin_bytes = int(pin_bytes)
        self.parts = tuple(parts)
        self.requests = requests
        self.handles: list[Any] = []

    def _runs(self) -> list[tuple[Any, LazyArray, tuple[int, int] | None, list[np.ndarray]]]:
        """(hint, a lazy of that base, columns, base rows) per run of tasks reading one base and
        one column range, in reading order (a job split along channels reads group after group)."""
        runs: list[tuple[Any, LazyArray, tuple[int, int] | None, list[np.ndarray]]] = []
        for task in self.tasks:
            for name in self.parts:
                lazy = _lazy_of(getattr(task, name, None))
                if lazy is None or len(lazy) == 0:
                    continue
                hint = getattr(lazy.base, "will_read", None)
                if hint is None:
                    continue
                cols = _columns(lazy)
                rows = lazy.base_rows([[0, len(lazy)]])
                same = next((r for r in reversed(runs) if r[1].base is lazy.base), None)
                if same is not None and same[2] == cols:
                    same[3].append(rows)
                else:
                    runs.append((hint, lazy, cols, [rows]))
        return runs

    def announce(self) -> None:
        """Tell each hinted base which of its rows the tasks read, in task order (no data read)."""
        if not enabled or self.pin_bytes <= 0 or not self.tasks or not self.parts:
            return
        runs = self._runs()
        n_bases = len({id(r[1].base) for r in runs})
        share = self.pin_bytes // max(n_bases, 1)
        for hint, _, cols, rows in runs:
            handle = _call(hint, np.concatenate(rows, axis=0), share, self.requests, cols)
            if handle is not None:
                self.handles.extend(handle if isinstance(handle, list) else [handle])

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
