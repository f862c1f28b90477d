"""Text reprs of the time series and groups, in pynapple's layout with readable numbers.

pynapple prints a table (time column left-aligned, one column per channel, ``...`` where rows or
columns are cut, ``dtype: ..., shape: ...`` at the bottom). napstream keeps that layout and fixes
what makes it hard to read on real recordings:

* values with 6 significant digits (``-0.000186779``, not ``-0.00018677873497545446``), so more
  channels fit the screen; as many columns as the terminal width allows;
* times to the nanosecond, never rounded to a few digits (rows 0.8 ms apart stay distinct);
* a TsdFrame's per-column metadata as rows under the table (pynapple's ``Metadata`` block);
* list-valued metadata (a unit's electrodes) printed as lists, ``[0, 1]``;
* no internal footer: whether an object is lazy is shown by ``is_lazy`` and the HTML repr.

Only the rows shown are read (``_head_tail``), however long a lazy series is.

Examples
--------
>>> import numpy as np
>>> from napstream.core import Tsd
>>> print(series_text(Tsd(t=np.array([0.0, 0.0008, 0.0016]), d=np.array([-1.8677873497545446e-4, 2.5, 3.0]))))
Time (s)
----------  ------------
0.0         -0.000186779
0.0008       2.5
0.0016       3
dtype: float64, shape: (3,)
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np

__all__ = ["fmt_time", "fmt_value", "fmt_cell", "series_text", "terminal_size"]

#: rows of a TsdFrame's metadata shown under the table (pynapple shows 2, then "...")
META_ROWS = 2


def terminal_size() -> tuple[int, int]:
    """(columns, lines) of the terminal, (100, 40) when there is none (a notebook, a pipe)."""
    size = shutil.get_terminal_size((100, 40))
    return size.columns, size.lines


def fmt_time(t: float) -> str:
    """A timestamp to the nanosecond, shortest form: ``59.9992``, ``1234.5672``, ``0.00082177``."""
    return repr(float(np.round(float(t), 9)))


def fmt_value(v: Any) -> str:
    """One value: numbers with 6 significant digits, integers and booleans as they are."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format(float(v), ".6g")
    if isinstance(v, (complex, np.complexfloating)):
        return format(complex(v), ".6g")
    return str(v)


def fmt_cell(v: Any) -> str:
    """A metadata cell: lists and arrays as ``[0, 1]``, floats with 6 significant digits."""
    if isinstance(v, (list, tuple, np.ndarray)):
        flat = np.asarray(v, dtype=object).ravel().tolist() if not isinstance(v, (list, tuple)) else list(v)
        inner = [fmt_cell(x) for x in flat[:6]]
        return "[" + ", ".join(inner + (["..."] if len(flat) > 6 else [])) + "]"
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return fmt_value(v)


def _tensor_cell(row: Any) -> str:
    flat = np.asarray(row).ravel()
    if flat.size <= 2:
        return "[" + ", ".join(fmt_value(x) for x in flat) + "]"
    return "[" + fmt_value(flat[0]) + " ... " + fmt_value(flat[-1]) + "]"


def _after_point(cell: str) -> int:
    """Characters after the decimal point (0 for an integer)."""
    pos = cell.find(".")
    return 0 if pos < 0 else len(cell) - pos


def _layout(columns: list[list[str]], width: int) -> tuple[list[list[str]], list[int]]:
    """Keep the first column and as many more as fit ``width``; the cut ones become ``...``."""
    widths = [max(len(c) for c in col) for col in columns]
    keep, used = 1, widths[0]
    while keep < len(columns) and used + 2 + widths[keep] <= width - 5:
        used += 2 + widths[keep]
        keep += 1
    keep = max(keep, min(2, len(columns)))
    if keep < len(columns):
        columns = columns[:keep] + [["..."] * len(columns[0])]
        widths = widths[:keep] + [3]
    return columns, widths


def _render(header: list[str], body: list[list[str]], numeric: list[bool], width: int,
            cut_at: int | None, extra: list[list[str]] = ()) -> str:
    """A pynapple-style table: header, dashes, rows (``...`` at ``cut_at``), extra rows."""
    rows = [header] + body + list(extra)
    columns = [[r[j] if j < len(r) else "" for r in rows] for j in range(len(header))]
    for j, is_num in enumerate(numeric):  # decimal points aligned, as tabulate does
        if is_num and j < len(columns) and body:
            after = [_after_point(c) for c in columns[j][1 : len(body) + 1]]
            columns[j][1 : len(body) + 1] = [c + " " * (max(after) - a) for c, a in
                                             zip(columns[j][1 : len(body) + 1], after)]
    columns, widths = _layout(columns, width)
    widths[0] = max(widths[0], 10)
    flags = [j < len(numeric) and numeric[j] and columns[j][0] != "..." for j in range(len(columns))]

    def line(i: int) -> str:
        cells = []
        for j, col in enumerate(columns):
            text = col[i]
            numeric_cell = flags[j] and 0 < i <= len(body)
            cells.append(text.rjust(widths[j]) if numeric_cell else text.ljust(widths[j]))
        return "  ".join(cells).rstrip()

    out = [line(0), "  ".join("-" * w for w in widths)]
    for i in range(1, len(rows)):
        if cut_at is not None and i - 1 == cut_at:
            out.append("...")
        out.append(line(i))
    return "\n".join(out)


def series_text(obj: Any) -> str:
    """The text repr of a Ts, Tsd, TsdFrame or TsdTensor (reads only the rows shown)."""
    width, _ = terminal_size()
    t, d, cut = obj._head_tail()
    cut_at = len(t) // 2 if cut else None
    times = [fmt_time(x) for x in t]
    kind = type(obj).__name__
    if d is None:  # Ts
        body = "\n".join(times[:cut_at] + ["..."] + times[cut_at:] if cut else times)
        return f"Time (s)\n{body}\nshape: {len(obj)}"
    bottom = f"dtype: {obj.dtype}, shape: {obj.shape}"
    if d.ndim == 1:
        header, body_cells = ["Time (s)", ""], [[fmt_value(v)] for v in d]
        numeric = [False, True]
    elif d.ndim == 2 and kind != "TsdTensor":
        ncols = d.shape[1]
        header = ["Time (s)"] + [str(c) for c in obj.columns]
        body_cells = [[fmt_value(v) for v in row] for row in d]
        numeric = [False] + [True] * ncols
    else:
        header, body_cells = ["Time (s)", ""], [[_tensor_cell(r)] for r in d]
        numeric = [False, False]
    body = [[ti] + cells for ti, cells in zip(times, body_cells)]
    extra = _metadata_rows(obj, len(header) - 1) if kind == "TsdFrame" else []
    return _render(header, body, numeric, width, cut_at, extra) + "\n" + bottom


def _metadata_rows(obj: Any, ncols: int) -> list[list[str]]:
    """pynapple's ``Metadata`` block of a TsdFrame: one row per metadata column (first two, then ...)."""
    names = list(getattr(obj, "metadata_columns", []) or [])
    if not names:
        return []
    store = obj._metadata_store()
    rows = [["Metadata"] + [""] * ncols]
    for name in names[:META_ROWS]:
        rows.append([str(name)] + [fmt_cell(v) for v in np.asarray(store[name], dtype=object)[:ncols]])
    if len(names) > META_ROWS:
        rows.append(["..."] * (ncols + 1))
    return rows
