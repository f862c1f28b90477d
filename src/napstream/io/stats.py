"""I/O counters: every byte source counts what it fetched, from where, and how long it waited.

Each source owns an :class:`IOStats`; every increment is also added to a process-wide aggregate
(:data:`GLOBAL_STATS`) and to the deltas of the :func:`track_io` blocks that are open, so users
and benchmarks read the same numbers.

Examples
--------
>>> from napstream.io.stats import IOStats, track_io
>>> s = IOStats.for_source()  # a source's counters also feed track_io blocks
>>> with track_io() as delta:
...     s.add(requests=2, bytes_fetched=100)
>>> delta.requests, delta.bytes_fetched
(2, 100)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from ..config import format_bytes
from ..errors import InvalidInputError

__all__ = ["IOStats", "GLOBAL_STATS", "track_io"]

_COUNTERS = (
    "requests", "bytes_fetched", "bytes_from_cache", "cache_hits", "cache_misses",
    "round_trips", "wait_seconds", "retries",
)
_COUNTER_SET = frozenset(_COUNTERS)
_LOCK = threading.RLock()
_TRACKERS: list["IOStats"] = []


@dataclass
class IOStats:
    """Counters of one byte source (or of a :func:`track_io` block, or of the whole process).

    Attributes
    ----------
    requests : int
        Network requests sent (retries included; validation HEADs included).
    bytes_fetched : int
        Bytes received from the network.
    bytes_from_cache : int
        Bytes served from the memory or disk block cache.
    cache_hits, cache_misses : int
        Block lookups answered / not answered by a cache.
    round_trips : int
        Times a caller waited on the network (a batch of concurrent requests counts once).
    wait_seconds : float
        Wall time spent waiting on the network.
    retries : int
        Requests repeated after a transient failure.
    """

    requests: int = 0
    bytes_fetched: int = 0
    bytes_from_cache: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    round_trips: int = 0
    wait_seconds: float = 0.0
    retries: int = 0
    _propagate: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def for_source(cls) -> "IOStats":
        """Counters of a source: increments also go to the global and tracked counters."""
        return cls(_propagate=True)

    def add(self, **counts: Any) -> None:
        """Add to counters by name (thread-safe).

        >>> s = IOStats(); s.add(cache_hits=3); s.cache_hits
        3
        """
        if not _COUNTER_SET.issuperset(counts):
            unknown = sorted(set(counts) - _COUNTER_SET)
            raise InvalidInputError(f"counts must name IOStats counters {_COUNTERS}, got {unknown}")
        items = counts.items()
        with _LOCK:  # called for every read: plain attribute updates, no per-call containers
            for name, value in items:
                self.__dict__[name] += value
            if self._propagate:
                for target in (GLOBAL_STATS, *_TRACKERS):
                    state = target.__dict__
                    for name, value in items:
                        state[name] += value

    def copy(self) -> "IOStats":
        """A snapshot of the counters (not linked to anything)."""
        with _LOCK:
            return IOStats(**{k: getattr(self, k) for k in _COUNTERS})

    def as_dict(self) -> dict[str, float]:
        """The counters as a plain dict.

        >>> IOStats(requests=1).as_dict()["requests"]
        1
        """
        return {k: getattr(self, k) for k in _COUNTERS}

    def reset(self) -> None:
        """Set every counter back to zero."""
        with _LOCK:
            for k in _COUNTERS:
                object.__setattr__(self, k, type(getattr(self, k))())

    def __sub__(self, other: "IOStats") -> "IOStats":
        return IOStats(**{k: getattr(self, k) - getattr(other, k) for k in _COUNTERS})

    def __add__(self, other: "IOStats") -> "IOStats":
        return IOStats(**{k: getattr(self, k) + getattr(other, k) for k in _COUNTERS})

    def __str__(self) -> str:
        return (
            f"{self.requests} requests, {format_bytes(self.bytes_fetched)} fetched, "
            f"{format_bytes(self.bytes_from_cache)} from cache ({self.cache_hits} hits, "
            f"{self.cache_misses} misses), {self.round_trips} round trips, "
            f"{self.wait_seconds:.2f} s waiting, {self.retries} retries"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the friendly line (``str``) when ``nwb.io_stats`` is a cell's value."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """A notebook cell shows the counters as a small table, with the friendly line as title."""
        from html import escape

        def cell(k: str) -> str:
            v = getattr(self, k)
            text = format_bytes(v) if k.startswith("bytes") else (f"{v:.2f} s" if isinstance(v, float) else str(v))
            return f"<td style='text-align:left;padding:1px 8px'>{escape(k)}</td><td style='text-align:right;padding:1px 8px'>{escape(text)}</td>"

        rows = "".join(f"<tr>{cell(k)}</tr>" for k in _COUNTERS)
        return (f"<div class='napstream-repr'><div><b>napstream.IOStats</b>: {escape(str(self))}</div>"
                f"<details><summary>counters</summary><table>{rows}</table></details></div>")


GLOBAL_STATS = IOStats()
"""Process-wide aggregate of every source's counters."""

_FIELD_NAMES = tuple(f.name for f in fields(IOStats) if not f.name.startswith("_"))
if _FIELD_NAMES != _COUNTERS:  # pragma: no cover - keeps the two lists in sync
    raise RuntimeError("IOStats fields and counters disagree")


@contextlib.contextmanager
def track_io() -> Iterator[IOStats]:
    """Count the I/O of every byte source made inside a ``with`` block.

    Yields an :class:`IOStats` that is updated live while the block runs (from every thread).

    Examples
    --------
    >>> import napstream as nap
    >>> with nap.track_io() as io:
    ...     pass
    >>> io.requests
    0
    """
    delta = IOStats()
    with _LOCK:
        _TRACKERS.append(delta)
    try:
        yield delta
    finally:
        with _LOCK:
            _TRACKERS[:] = [t for t in _TRACKERS if t is not delta]
