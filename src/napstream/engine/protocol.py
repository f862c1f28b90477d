"""The ChunkAlgorithm protocol: what a computation must provide to run on any executor.

An algorithm is a small picklable object with

* ``margin``: rows of overlap it needs on each side of a chunk (an int, or ``(left, right)``);
* ``init() -> state``: an empty partial result;
* ``update(state, chunk) -> state``: fold one :class:`Chunk` (rows in memory) into a state;
* ``merge(states) -> state``: combine states *in row order* (the engine always merges the running
  result with the next chunk's partial, in order, so every executor gives the same numbers);
* ``finalize(state) -> result``.

Optionally ``row_factor`` (float64 copies of a row held while a chunk is processed; default 2)
and ``fixed_nbytes`` (bytes held whatever the chunk size) tune the memory planning.

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> from napstream.engine.runner import run
>>> class Total(ChunkAlgorithmBase):
...     def init(self):
...         return 0.0
...     def update(self, state, chunk):
...         return state + float(chunk.d[chunk.core_slice].sum())
...     def merge(self, states):
...         return sum(states)
>>> series = (RegularTimeIndex(0.0, 100.0, 1000), LazyArray(np.ones(1000)))
>>> run(Total(), series, max_memory="10kB")
1000.0
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..core.chunking import Chunk

__all__ = ["Chunk", "ChunkAlgorithm", "ChunkAlgorithmBase", "check_algorithm"]


@runtime_checkable
class ChunkAlgorithm(Protocol):
    """Structural type of chunk algorithms (see the module docstring)."""

    margin: Any

    def init(self) -> Any: ...

    def update(self, state: Any, chunk: Chunk) -> Any: ...

    def merge(self, states: list[Any]) -> Any: ...

    def finalize(self, state: Any) -> Any: ...


class ChunkAlgorithmBase:
    """Convenient defaults: no margin, 2 float64 copies per row, ``finalize`` returns the state."""

    margin: Any = 0
    row_factor: float = 2.0
    #: at most this many core rows per chunk whatever the budget (None: the budget decides)
    max_rows: int | None = None
    #: what ``executor="auto"`` picks: "threads" for kernels that release the GIL (FFTs, filters)
    preferred_executor: str = "serial"
    fixed_nbytes: int = 0
    #: bytes each update in progress holds besides its chunk and state (scratch buffers): counted
    #: once per chunk in flight by the planner
    work_nbytes: int = 0

    def init(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, state: Any, chunk: Chunk) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def merge(self, states: list[Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def finalize(self, state: Any) -> Any:
        return state


def check_algorithm(algorithm: Any) -> None:
    """Raise a clear TypeError when ``algorithm`` lacks a method of the protocol."""
    from ..errors import InvalidTypeError

    missing = [m for m in ("init", "update", "merge", "finalize") if not callable(getattr(algorithm, m, None))]
    if missing:
        raise InvalidTypeError(
            f"algorithm must follow the ChunkAlgorithm protocol (init/update/merge/finalize), "
            f"{type(algorithm).__name__} lacks {missing}"
        )
