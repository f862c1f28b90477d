"""A read-only, seekable file-like over a byte source, for ``h5py.File(fileobj, "r")``.

h5py's *fileobj* driver calls ``seek``/``tell`` to find the end of file and ``seek`` +
``readinto`` for every read; each read goes to ``source.read_range`` and so through the block
cache of remote sources. Reads never go past the end of the file.

Examples
--------
>>> import os, tempfile
>>> from napstream.io import FileObject, open_source
>>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
>>> _ = open(path, "wb").write(b"0123456789")
>>> f = FileObject(open_source(path))
>>> _ = f.seek(-3, os.SEEK_END)
>>> f.read(), f.tell()
(b'789', 10)
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import InvalidInputError, InvalidTypeError
from .base import ByteSource

__all__ = ["FileObject", "NotHeldError", "held_bytes_only"]

_LOCAL = threading.local()


class NotHeldError(OSError):
    """A read inside :func:`held_bytes_only` needed bytes the source does not hold yet."""


@contextlib.contextmanager
def held_bytes_only() -> Iterator[None]:
    """Within this block, this thread's reads through any :class:`FileObject` use only bytes the
    source already holds (``source.peek``); a read that would need the network raises
    :class:`NotHeldError` (h5py reports it as an ``OSError``) instead of fetching.

    For work that is worth doing only if it costs no round trip (planning a speculative fetch
    from the metadata the open brought). Other threads read as usual.

    Examples
    --------
    >>> import tempfile
    >>> from napstream.io import open_source
    >>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
    >>> _ = open(path, "wb").write(b"0123456789")
    >>> f = FileObject(open_source(path))
    >>> with held_bytes_only():   # a local file holds every byte
    ...     f.read(4)
    b'0123'
    """
    before = getattr(_LOCAL, "held_only", False)
    _LOCAL.held_only = True
    try:
        yield
    finally:
        _LOCAL.held_only = before


class FileObject(io.RawIOBase):
    """File-like view of a :class:`~napstream.io.base.ByteSource` (see the module docstring).

    Parameters
    ----------
    source : ByteSource
        Where the bytes come from.
    close_source : bool
        Close ``source`` when this file object is closed.
    """

    def __init__(self, source: ByteSource, close_source: bool = False) -> None:
        super().__init__()
        if not isinstance(source, ByteSource):
            raise InvalidTypeError(
                f"source must be a ByteSource (see napstream.io.open_source), got {type(source).__name__}"
            )
        self.source = source
        self._read_range = getattr(source, "read_unplanned", source.read_range)
        self._pos = 0
        self._close_source = close_source

    @property
    def name(self) -> str:
        """The source's safe description."""
        return self.source.description

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """Always True."""
        return True

    def writable(self) -> bool:
        """Always False (read-only)."""
        return False

    def tell(self) -> int:
        """Current position."""
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move to ``offset`` relative to the start, the current position or the end."""
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.source.size + offset
        else:
            raise InvalidInputError(f"whence must be 0, 1 or 2, got {whence!r}")
        if pos < 0:
            raise InvalidInputError(f"offset must not move before the start of the file, got position {pos}")
        self._pos = int(pos)
        return self._pos

    def _take(self, n: int) -> bytes:
        start = self._pos
        end = self.source.size if n < 0 else min(start + n, self.source.size)
        if end <= start:  # at or past the end: nothing read, position kept (like io.BytesIO)
            return b""
        if getattr(_LOCAL, "held_only", False):
            held = self.source.peek(start, end)
            if held is None:
                raise NotHeldError(f"bytes [{start}, {end}) of {self.source.description} are not held yet")
            data = held
        else:
            data = self._read_range(start, end)
        self._pos = start + len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes when ``size`` is -1 or None)."""
        return self._take(-1 if size is None else int(size))

    def readall(self) -> bytes:
        """Read to the end of the file."""
        return self._take(-1)

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` (any writable buffer) from the current position; returns bytes read."""
        view = memoryview(buffer).cast("B")
        data = self._take(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close (and close the source when ``close_source``)."""
        if not self.closed and self._close_source:
            self.source.close()
        super().close()

    def __repr__(self) -> str:
        return f"<FileObject {self.source.description} at {self._pos}>"
