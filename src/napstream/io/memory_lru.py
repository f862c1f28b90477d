"""A thread-safe in-memory LRU of blocks with a byte limit (the memory tier of the block caches)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..errors import InvalidInputError

__all__ = ["MemoryLRU"]


class MemoryLRU:
    """A thread-safe in-memory LRU of blocks with a byte limit.

    >>> lru = MemoryLRU(max_bytes=8)
    >>> lru.put("a", b"1234"); lru.put("b", b"5678"); lru.put("c", b"9")
    >>> lru.get("a") is None, lru.get("c")
    (True, b'9')
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise InvalidInputError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        """The value, refreshed as most recent, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def peek(self, key: Any) -> bytes | None:
        """The value or None, without refreshing it (a look, not a use)."""
        with self._lock:
            return self._items.get(key)

    def contains(self, key: Any) -> bool:
        """True if ``key`` is held (no side effect)."""
        with self._lock:
            return key in self._items

    def put(self, key: Any, value: bytes) -> None:
        """Insert ``value``; evicts the oldest entries past the byte limit."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            self._evict_locked()

    def _room(self) -> int:
        """Bytes the LRU may hold now (subclasses holding other bytes give less)."""
        return self.max_bytes

    def _evict_locked(self) -> None:
        """Drop the oldest entries past :meth:`_room` (the lock is held)."""
        room = self._room()
        while self._bytes > room and self._items:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= len(dropped)

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return self._bytes
