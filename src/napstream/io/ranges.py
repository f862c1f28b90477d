"""Byte ranges: validation, coalescing of nearby ranges, and their split into cache blocks.

A range is a half-open ``[start, end)`` pair of byte offsets. :class:`ByteRange` is a small
immutable tuple so plain ``(start, end)`` tuples work everywhere a range is accepted.

Examples
--------
>>> from napstream.io.ranges import coalesce_ranges, blocks_for
>>> coalesce_ranges([(0, 10), (12, 20), (100, 110)], max_gap=4)
[ByteRange(start=0, end=20), ByteRange(start=100, end=110)]
>>> blocks_for(5, 25, block_size=10)
range(0, 3)
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["ByteRange", "check_range", "normalize_ranges", "coalesce_ranges", "blocks_for", "block_bounds"]


class ByteRange(NamedTuple):
    """Half-open byte range ``[start, end)``."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start


def check_range(start: Any, end: Any, size: int) -> ByteRange:
    """Validate ``0 <= start <= end <= size`` (integers) and return the :class:`ByteRange`.

    >>> check_range(2, 5, 10)
    ByteRange(start=2, end=5)
    """
    bounds = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise InvalidTypeError(f"{name} must be an integer byte offset, got {type(value).__name__}")
        bounds.append(operator.index(value))
    start, end = bounds
    if start < 0 or end < start or end > size:
        raise InvalidInputError(
            f"byte range must satisfy 0 <= start <= end <= size ({size}), got [{start}, {end})"
        )
    return ByteRange(start, end)


def normalize_ranges(ranges: Iterable[Any], size: int) -> list[ByteRange]:
    """Validate a sequence of ``(start, end)`` pairs against ``size`` (order kept).

    >>> normalize_ranges([(4, 8), (0, 2)], 10)
    [ByteRange(start=4, end=8), ByteRange(start=0, end=2)]
    """
    if isinstance(ranges, (str, bytes)) or not isinstance(ranges, Iterable):
        raise InvalidTypeError(f"ranges must be a sequence of (start, end) pairs, got {type(ranges).__name__}")
    out = []
    for item in ranges:
        try:
            start, end = item
        except (TypeError, ValueError):
            raise InvalidInputError(f"ranges must hold (start, end) pairs, got {item!r}") from None
        out.append(check_range(start, end, size))
    return out


def coalesce_ranges(ranges: Iterable[Any], max_gap: int = 0, max_size: int | None = None) -> list[ByteRange]:
    """Sort ranges and merge those that overlap or are at most ``max_gap`` bytes apart.

    Parameters
    ----------
    ranges : iterable of (start, end)
        Ranges to merge; empty ranges are dropped.
    max_gap : int
        Largest hole (bytes) merged into one range (the hole is fetched too).
    max_size : int, optional
        Do not grow a merged range beyond this many bytes (a single larger input range stays whole).

    Examples
    --------
    >>> coalesce_ranges([(10, 20), (0, 5), (5, 8)])
    [ByteRange(start=0, end=8), ByteRange(start=10, end=20)]
    """
    if max_gap < 0:
        raise InvalidInputError(f"max_gap must be >= 0, got {max_gap}")
    items = sorted((int(a), int(b)) for a, b in ranges if int(b) > int(a))
    out: list[ByteRange] = []
    for a, b in items:
        if out:
            last = out[-1]
            fits = max_size is None or max(b, last.end) - last.start <= max_size
            if a <= last.end + max_gap and (fits or a < last.end):
                out[-1] = ByteRange(last.start, max(last.end, b))
                continue
        out.append(ByteRange(a, b))
    return out


def blocks_for(start: int, end: int, block_size: int) -> range:
    """Indices of the ``block_size`` blocks that cover ``[start, end)`` (empty for an empty range).

    >>> list(blocks_for(0, 0, 4)), list(blocks_for(3, 9, 4))
    ([], [0, 1, 2])
    """
    if end <= start:
        return range(0)
    return range(start // block_size, (end - 1) // block_size + 1)


def block_bounds(index: int, block_size: int, size: int) -> ByteRange:
    """Byte range of block ``index`` in a file of ``size`` bytes (the last block may be short).

    >>> block_bounds(2, 4, 10)
    ByteRange(start=8, end=10)
    """
    start = index * block_size
    return ByteRange(start, min(start + block_size, size))
