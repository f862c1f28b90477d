"""No automatic garbage collection while a thread waits on the network (see :func:`gc_paused`).

Examples
--------
>>> import gc
>>> with gc_paused():
...     gc.isenabled()
False
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Any

__all__ = ["gc_paused"]

_GC_GUARD = threading.Lock()
_GC_PAUSES = 0
_GC_RESUME = False


@contextlib.contextmanager
def gc_paused() -> Any:
    """No automatic garbage collection, in any thread, while this thread waits on the network.

    h5py holds its global lock while it reads through :class:`~napstream.io.fileobj.FileObject`.
    A collection started meanwhile on another thread may free an h5py object and wait for that
    lock; if that thread is the one serving our bytes (a loopback server in the same process,
    as in tests and benchmarks), neither can go on. Pausing automatic collections for the
    duration of each network wait closes that door; nested and concurrent pauses are counted.
    """
    global _GC_PAUSES, _GC_RESUME
    with _GC_GUARD:
        if _GC_PAUSES == 0:
            _GC_RESUME = gc.isenabled()
            gc.disable()
        _GC_PAUSES += 1
    try:
        yield
    finally:
        with _GC_GUARD:
            _GC_PAUSES -= 1
            if _GC_PAUSES == 0 and _GC_RESUME:
                gc.enable()
