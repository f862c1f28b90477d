"""Progress bars for chunked jobs: a widget in notebooks, a text bar on terminals.

A bar appears only for jobs longer than a second, labelled with the analysis and sized in the
bytes it reads (with the rows in its label), e.g.
``compute_mean_power_spectral_density, 75,000 rows: 100%|████| 2.29M/2.29M [00:01<00:00, 1.9MB/s]``.

``progress=None`` (the default, also ``napstream.config.progress``) shows a bar in a Jupyter
notebook (a ``tqdm.auto`` widget) or when stderr is a terminal (a text bar); ``True`` forces it,
``False`` hides it.

Examples
--------
>>> with progress_bar(3, enabled=False) as bar:
...     for _ in range(3):
...         bar.update(1)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..config import config
from ..errors import InvalidInputError

__all__ = ["progress_bar", "job_progress", "resolve_progress", "in_notebook", "analysis_label"]

#: seconds a job must run before its bar appears
DELAY = 1.0
_PUBLIC_PREFIXES = ("compute_", "apply_", "iter_", "decode_", "cross_correlogram", "auto_correlogram")


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where ``tqdm.auto`` draws a widget)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython is just "not a notebook"
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def resolve_progress(progress: bool | None) -> bool:
    """Whether to show a bar: explicit value, else the config, else 'a notebook or a terminal'."""
    if progress not in (None, True, False):
        raise InvalidInputError(f"progress must be True, False or None, got {progress!r}")
    if progress is None:
        progress = config.progress
    if progress is None:
        return in_notebook() or bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def _delay(enabled: bool | None) -> float:
    """Seconds before a bar appears: none when asked for explicitly (``progress=True`` or
    ``nap.config.progress = True``), else ``DELAY`` so that short jobs stay quiet."""
    asked = enabled if enabled is not None else config.progress
    return 0.0 if asked is True else DELAY


def _tqdm(**kwargs: Any) -> Any:
    if in_notebook():
        from tqdm.auto import tqdm

        return tqdm(leave=True, **kwargs)  # the finished widget stays: it shows what the cell read
    from tqdm import tqdm as text_tqdm

    return text_tqdm(leave=False, file=sys.stderr, **kwargs)


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool | None = None, desc: str = "chunks", unit: str = "chunk") -> Iterator[Any]:
    """Context manager yielding an object with ``update(n)``; a tqdm bar when enabled."""
    if not resolve_progress(enabled):
        yield _NullBar()
        return
    bar = _tqdm(total=total, desc=desc, unit=unit, delay=_delay(enabled))
    try:
        yield bar
    finally:
        bar.close()


def analysis_label(algorithm: Any = None, depth: int = 25) -> str:
    """The name of the analysis running: ``algorithm.label``, else the public napstream function
    (``compute_*``, ``apply_*``...) that called the engine, else the algorithm's class name."""
    label = getattr(algorithm, "label", None)
    if isinstance(label, str) and label:
        return label
    found = ""
    frame: Any = sys._getframe(1)
    for _ in range(depth):  # the outermost public function: the one the user called
        if frame is None:
            break
        if frame.f_globals.get("__name__", "").startswith("napstream.") and \
                frame.f_code.co_name.startswith(_PUBLIC_PREFIXES):
            found = frame.f_code.co_name
        frame = frame.f_back
    if found:
        return found
    return type(algorithm).__name__.lstrip("_") if algorithm is not None else "chunks"


def _task_size(task: Any) -> tuple[int, int]:
    """(rows, bytes) a chunk task reads (its data rows; explicit timestamps count 8 bytes a row)."""
    try:
        d = task.d
        rows = int(d.shape[0])
        nbytes = int(np.prod(d.shape, dtype=np.int64)) * np.dtype(d.dtype).itemsize
        t = task.t
        if not type(t).__name__.startswith("Regular"):
            nbytes += 8 * rows
        return rows, nbytes
    except (AttributeError, TypeError, IndexError):
        return 0, 0


class _JobBar:
    """Counts finished tasks and moves a bytes bar by the job's bytes per task."""

    def __init__(self, bar: Any, n_tasks: int, total: int) -> None:
        self.bar, self.n_tasks, self.total, self.done = bar, max(n_tasks, 1), total, 0

    def update(self, n: int = 1) -> None:
        self.done += n
        target = self.total * min(self.done, self.n_tasks) // self.n_tasks
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)


@contextlib.contextmanager
def job_progress(tasks: Sequence[Any], enabled: bool | None = None, label: str = "chunks") -> Iterator[Any]:
    """A bar for a job of chunk ``tasks``: labelled ``"<label>, <rows> rows"``, counting bytes read.

    Yields an object whose ``update(1)`` marks one task done.

    Examples
    --------
    >>> with job_progress([], enabled=False, label="compute_power_spectral_density") as bar:
    ...     bar.update(1)
    """
    if not resolve_progress(enabled):
        yield _NullBar()
        return
    sizes = [_task_size(t) for t in tasks]
    rows, nbytes = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    if nbytes == 0:  # sizes unknown: count chunks
        with progress_bar(len(tasks), enabled if enabled is not None else None, desc=label) as bar:
            yield bar
        return
    bar = _tqdm(total=nbytes, desc=f"{label}, {rows:,} rows", unit="B", unit_scale=True, unit_divisor=1024,
                delay=_delay(enabled))
    try:
        yield _JobBar(bar, len(tasks), nbytes)
    finally:
        bar.close()
