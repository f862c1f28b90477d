"""Progress bars for chunked jobs: a tqdm bar that appears only for jobs longer than a second.

``progress=None`` (the default, also ``napstream.config.progress``) shows a bar only when stderr is a
terminal; ``True`` forces it, ``False`` hides it.

Examples
--------
>>> with progress_bar(3, enabled=False) as bar:
...     for _ in range(3):
...         bar.update(1)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from ..config import config
from ..errors import InvalidInputError

__all__ = ["progress_bar", "resolve_progress"]

#: seconds a job must run before its bar appears
DELAY = 1.0


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass


def resolve_progress(progress: bool | None) -> bool:
    """Whether to show a bar: explicit value, else the config, else 'stderr is a TTY'."""
    if progress not in (None, True, False):
        raise InvalidInputError(f"progress must be True, False or None, got {progress!r}")
    if progress is None:
        progress = config.progress
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool | None = None, desc: str = "chunks") -> Iterator[Any]:
    """Context manager yielding an object with ``update(n)``; a tqdm bar when enabled."""
    if not resolve_progress(enabled):
        yield _NullBar()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="chunk", delay=DELAY, leave=False)
    try:
        yield bar
    finally:
        bar.close()
