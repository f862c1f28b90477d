"""Shared helpers of the process tests."""

from __future__ import annotations

from typing import Any

import pytest


class RecordingArray:
    """An array-like that appends the number of rows of every read to ``log``."""

    def __init__(self, a: Any, log: list[int]) -> None:
        self.a, self.log = a, log
        self.shape, self.dtype = a.shape, a.dtype

    def __getitem__(self, key: Any) -> Any:
        out = self.a[key]
        self.log.append(len(out))
        return out


@pytest.fixture
def recording_array() -> type[RecordingArray]:
    """The :class:`RecordingArray` class (wrap arrays to see how many rows each read takes)."""
    return RecordingArray
