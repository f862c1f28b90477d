"""Timestamps stored unsorted in NWB files: find them in bounded memory, sort them like pynapple.

pynapple sorts unsorted timestamps with a warning; files written by other tools (DANDI test
assets, pynapple's own example file, aqnwb recordings) store spike and event times out of order.
napstream scans stored timestamps in blocks of :data:`SCAN_BLOCK_ROWS` (8 MB) when an object is
built, so a disorder is never served silently:

* a unit's spike train is small: an unsorted one is read and sorted in memory;
* a series with explicit timestamps found unsorted is loaded into memory and sorted (data rows
  move with their timestamps), with a warning that says it was loaded;
* timestamps longer than :data:`SCAN_MAX_ROWS` (remote: longer than what is fetched whole at the
  first read) are not scanned when the object is built; each read checks the rows it reads, and
  anything that searches by time (restrict, get, count, time supports...) first checks the whole
  order once in bounded memory (``ArrayTimeIndex.check_order``) and raises
  :class:`~napstream.errors.UnsortedTimestampsError` on a disorder;
* ``napstream.config.timestamp_scan_rows`` moves the limit (e.g. to have a long unsorted series
  sorted in memory, as pynapple does).

Examples
--------
>>> import numpy as np
>>> first_disorder(np.array([0.0, 1.0, 0.5, 2.0]))
1
>>> unsorted_segments(np.array([0.0, 2.0, 1.0, 0.0, 3.0]), np.array([3, 5]))
array([0])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["SCAN_BLOCK_ROWS", "SCAN_MAX_ROWS", "SCAN_PIECE_ROWS", "first_disorder", "unsorted_segments",
           "scan_unsorted", "scan_segments", "scan_arrivals", "warn_sorted", "finite_for_sorting"]

#: rows read per block while scanning stored timestamps (8 MB of float64)
SCAN_BLOCK_ROWS = 1 << 20
#: timestamps longer than this are checked as they are read instead of scanned up front
SCAN_MAX_ROWS = 1 << 24
#: rows read per piece by :func:`scan_segments` (256 KiB of float64): the segments (units) whose
#: rows are scanned are handed over while the next pieces are still arriving
SCAN_PIECE_ROWS = 1 << 15


def first_disorder(t: np.ndarray) -> int | None:
    """The first ``i`` with ``t[i + 1] < t[i]``, or None when ``t`` is sorted (NaNs are ignored)."""
    bad = np.flatnonzero(np.diff(t) < 0)
    return int(bad[0]) if bad.size else None


def unsorted_segments(t: np.ndarray, ends: np.ndarray, offset: int = 0) -> np.ndarray:
    """Indices of the ragged segments (cumulative ``ends``) holding a disorder among rows ``t``.

    ``t`` holds rows ``offset .. offset + len(t)`` of the whole column; a decrease between the last
    row of a segment and the first of the next one is not a disorder. A segment holding a non-finite
    time is listed too (sorting it then reports the damage).
    """
    bad = np.flatnonzero(np.diff(t) < 0) + offset  # row i: t[i + 1] < t[i]
    nonfinite = np.flatnonzero(~np.isfinite(t)) + offset  # a damaged row: its segment is flagged too
    if not bad.size and not nonfinite.size:
        return np.empty(0, dtype=np.int64)
    seg = np.searchsorted(ends, bad, side="right")  # segment of row i
    seg_next = np.searchsorted(ends, bad + 1, side="right")  # segment of row i + 1
    damaged = np.searchsorted(ends, nonfinite, side="right")
    return np.unique(np.concatenate([seg[seg == seg_next], damaged])).astype(np.int64)


def scan_unsorted(read: Any, n: int, ends: np.ndarray | None = None) -> np.ndarray:
    """Scan ``n`` stored rows with ``read(start, stop)`` in blocks; the unsorted segments.

    Without ``ends`` the whole column is one segment: the result is ``[0]`` when it is unsorted.
    """
    seg_ends = np.asarray([n] if ends is None else ends, dtype=np.int64)
    found: list[np.ndarray] = []
    prev: np.ndarray = np.empty(0)
    for start in range(0, n, SCAN_BLOCK_ROWS):
        stop = min(n, start + SCAN_BLOCK_ROWS)
        block = np.asarray(read(start, stop), dtype=np.float64).reshape(-1)
        rows = np.concatenate([prev, block])  # the previous block's last row checks the seam
        found.append(unsorted_segments(rows, seg_ends, start - len(prev)))
        prev = block[-1:]
    return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def scan_segments(read: Any, n: int, ends: np.ndarray, piece_rows: int = SCAN_PIECE_ROWS,
                  keep_rows: int = SCAN_BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray | None, bool]]:
    """Scan ``n`` stored rows in order, in pieces of ``piece_rows``; yield ``(i, values, unsorted)``
    for each ragged segment ``i`` (cumulative ``ends``) as soon as its last row is scanned.

    ``unsorted`` is :func:`unsorted_segments`'s verdict on the segment (a decrease between two of
    its rows, or a non-finite row). ``values`` are its rows as float64 (possibly a view of a scanned
    piece: copy to keep them), or None when the segment is longer than ``keep_rows`` (memory stays
    bounded: read it again). For a build that needs each segment's times (a units table): it works
    on the first segments while the later rows are still on their way (a read-ahead).
    """
    ends = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    nseg, step = len(ends), max(1, int(piece_rows))
    bad: set[int] = set()
    prev: np.ndarray = np.empty(0)
    parts: list[tuple[int, np.ndarray]] = []  # (first row, rows) of the pieces the next segments need
    kept = 0  # rows in parts
    lost = -1  # rows before this one were dropped (a segment longer than keep_rows)
    i = 0
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = np.asarray(read(start, stop), dtype=np.float64).reshape(-1)
        rows = np.concatenate([prev, block]) if len(prev) else block  # the seam with the last piece
        found = unsorted_segments(rows, ends, start - len(prev))
        if found.size:
            bad.update(found.tolist())
        prev = block[-1:]
        parts.append((start, block))
        kept += len(block)
        while i < nseg and ends[i] <= stop:
            a, b = int(starts[i]), int(ends[i])
            yield i, (None if a < lost else _gather(parts, a, b)), i in bad
            i += 1
        first = int(starts[i]) if i < nseg else n
        while parts and parts[0][0] + len(parts[0][1]) <= first:  # no longer needed
            kept -= len(parts.pop(0)[1])
        if kept > keep_rows:  # the pending segment is too long to keep: dropped (read again)
            parts, kept, lost = [], 0, stop
    while i < nseg:  # empty segments at the end, or ends past ``n`` (callers check): nothing scanned
        yield i, (np.empty(0) if starts[i] == ends[i] else None), False
        i += 1


def scan_arrivals(read: Any, ends: np.ndarray, arrived: Any, keep_rows: int = SCAN_BLOCK_ROWS,
                  poll: float = 0.002, patience: float = 1.0) -> Iterator[tuple[int, np.ndarray | None, bool]]:
    """Like :func:`scan_segments`, but each segment as soon as its rows are here, in any order.

    ``arrived()`` returns the segments whose stored rows arrived since it was last called (a
    read-ahead brings them: its requests do not end in row order). Each segment is checked on its
    own (a decrease between two of its rows or a non-finite row: ``unsorted``), which is all a
    ragged column asks. While none has arrived the scan polls every ``poll`` seconds; after
    ``patience`` seconds without any, it reads the ones left in row order (each read waits for its
    bytes).
    A segment longer than ``keep_rows`` is scanned in blocks and handed over without its values.
    """
    import time

    ends = np.asarray(ends, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    pending = dict.fromkeys(range(len(ends)))
    here: list[int] = []
    waited = time.monotonic()
    while pending:
        here += [i for i in arrived() if i in pending]
        if not here:
            if time.monotonic() - waited < patience:
                time.sleep(poll)
                continue
            here = [next(iter(pending))]
            patience = 0.0  # the arrivals stalled: the rest in row order, each read waiting for its bytes
        for i in sorted(here):
            if i not in pending:
                continue  # handed over already
            del pending[i]
            a, b = int(starts[i]), int(ends[i])
            if b - a > keep_rows:
                bad = len(scan_unsorted(lambda s, e: read(a + s, a + e), b - a)) > 0
                yield i, None, bad
                continue
            values = np.asarray(read(a, b), dtype=np.float64).reshape(-1)
            with np.errstate(invalid="ignore"):
                bad = bool(values.size) and (not np.isfinite(values).all() or bool((np.diff(values) < 0).any()))
            yield i, values, bad
        here = []
        waited = time.monotonic()


def _gather(parts: list[tuple[int, np.ndarray]], a: int, b: int) -> np.ndarray:
    """Rows ``[a, b)`` from consecutive pieces ``(first row, rows)`` covering them."""
    out = [p[max(a - r, 0):b - r] for r, p in parts if r < b and r + len(p) > a]
    if not out:
        return np.empty(0)
    return out[0] if len(out) == 1 else np.concatenate(out)


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside napstream."""
    import os
    import sys

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def warn_sorted(what: str, detail: str = "") -> None:
    """The one warning issued per key whose stored timestamps were sorted."""
    warnings.warn(f"{what}: timestamps stored in the file are not sorted; napstream sorted them "
                  f"(as pynapple does){detail}", UserWarning, stacklevel=user_stacklevel())


def finite_for_sorting(t: np.ndarray, what: str) -> np.ndarray:
    """``t`` when every value is finite; else FileFormatError (a damaged file is not sorted into shape)."""
    from ..errors import FileFormatError

    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise FileFormatError(f"{what}: timestamps stored in the file must be finite; found {t[bad[0]]} at row "
                              f"{int(bad[0])} ({bad.size} such row(s)); the file is damaged. To use the other rows, "
                              "read the raw arrays (nwb.file['<its HDF5 path>/timestamps'][:] and its data), keep the "
                              "rows where np.isfinite(timestamps) and build the object from them")
    return t
