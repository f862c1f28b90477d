"""Local files as byte sources (``os.pread``: thread-safe, no shared file position).

Examples
--------
>>> import os, tempfile
>>> from napstream.io.local import LocalSource
>>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
>>> _ = open(path, "wb").write(bytes(range(10)))
>>> with LocalSource(path) as src:
...     src.size, src.read_ranges([(0, 2), (8, 10)])
(10, [b'\\x00\\x01', b'\\x08\\t'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidInputError, InvalidTypeError
from .base import BaseSource
from .ranges import ByteRange

__all__ = ["LocalSource"]


class LocalSource(BaseSource):
    """A local file (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        An existing regular file.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist (``InvalidInputError`` when it is a folder).
    """

    is_remote = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidTypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = Path(path).expanduser()
        super().__init__(str(self.path))
        self.locator = str(self.path)
        if self.path.is_dir():
            raise InvalidInputError(f"path must be a file, got the folder {self.path}")
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.size = os.fstat(self._fd).st_size

    def _read(self, r: ByteRange) -> bytes:
        data = self._pread(r)
        self.stats.add(requests=1, bytes_fetched=len(data))
        return data

    def _peek(self, r: ByteRange) -> bytes | None:
        return self._pread(r)

    def _pread(self, r: ByteRange) -> bytes:
        parts = []
        pos, end = r.start, r.end
        while pos < end:
            chunk = os.pread(self._fd, end - pos, pos)
            if not chunk:  # the file shrank under us
                break
            parts.append(chunk)
            pos += len(chunk)
        return b"".join(parts)

    def _read_many(self, ranges: Sequence[ByteRange]) -> list[bytes]:
        return [self._read(r) for r in ranges]

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if not self._closed:
            os.close(self._fd)
        super().close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None and not getattr(self, "_closed", True):
            try:
                os.close(fd)
            except OSError:
                pass
