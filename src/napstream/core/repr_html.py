"""Rich (HTML) reprs for notebooks: compact tables in the spirit of pandas and xarray.

Jupyter shows ``obj._repr_html_()`` when an object is a cell's value. Each repr is a title line
(class, size, dtype, lazy or in memory), a small table of the first and last rows, and a footer
(time support, rate). Only the rows shown are read: a lazy series of a billion samples costs
two small reads. Colours follow the notebook's theme (JupyterLab CSS variables, with fallbacks).

Examples
--------
>>> import numpy as np
>>> from napstream.core import Tsd
>>> html = Tsd(t=np.arange(3.0), d=np.array([0.5, 1.5, 2.5]))._repr_html_()
>>> "<table" in html and "Tsd" in html
True
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np

from .repr_text import fmt_cell, fmt_time, fmt_value

__all__ = ["table_html", "series_html", "tsgroup_html", "intervalset_html", "ROWS", "COLS"]

#: rows shown by a rich repr (first half and last half of them when there are more)
ROWS = 10
#: columns shown by a rich repr (the first ones, then "...")
COLS = 12

_CSS = """<style>
.napstream-repr {font-family: var(--jp-code-font-family, ui-monospace, monospace);
  font-size: var(--jp-code-font-size, 12px); line-height: 1.35; margin: 2px 0 6px 0;
  color: var(--jp-content-font-color1, inherit);}
.napstream-repr .nap-title {font-family: var(--jp-ui-font-family, sans-serif); margin-bottom: 3px;}
.napstream-repr .nap-title b {font-weight: 600;}
.napstream-repr .nap-dim {color: var(--jp-content-font-color2, #666);}
.napstream-repr .nap-badge {display: inline-block; padding: 0 5px; border-radius: 3px; font-size: 90%;
  background: rgba(33, 150, 243, 0.14); color: var(--jp-content-font-color1, #1565c0);}
.napstream-repr .nap-badge.mem {background: rgba(76, 175, 80, 0.16);}
.napstream-repr table {border-collapse: collapse; margin: 0; font-size: inherit;}
.napstream-repr th, .napstream-repr td {padding: 1px 8px; border: none; text-align: right;
  white-space: nowrap; max-width: 32em; overflow: hidden; text-overflow: ellipsis;}
.napstream-repr thead th {border-bottom: 1px solid rgba(128, 128, 128, 0.5); font-weight: 600;}
.napstream-repr tbody tr:nth-child(odd) {background: rgba(128, 128, 128, 0.07);}
.napstream-repr tbody tr:hover {background: rgba(66, 165, 245, 0.16);}
.napstream-repr th.nap-index, .napstream-repr td.nap-index {text-align: left; font-weight: 600;}
.napstream-repr th.nap-text, .napstream-repr td.nap-text {text-align: left;}
.napstream-repr tr.nap-meta td {border-top: 1px dashed rgba(128, 128, 128, 0.4);}
.napstream-repr .nap-foot {font-family: var(--jp-ui-font-family, sans-serif); margin-top: 3px;}
</style>"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def table_html(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, cut_at: int | None = None,
               footer: str = "", badge: str = "", extra_rows: Sequence[Sequence[str]] = ()) -> str:
    """One rich repr: a title (trusted HTML), a table of escaped cells, a footer (trusted HTML).

    The first column is the index (left, bold); text cells are left-aligned, numbers right-aligned.
    ``cut_at`` puts a row of ``...`` before that row; ``extra_rows`` (e.g. metadata) come last.

    Examples
    --------
    >>> "<td class=\\"nap-index\\">0.0</td>" in table_html("<b>Tsd</b>", ["Time (s)", ""], [["0.0", "1"]])
    True
    """
    ncol = len(headers)
    texts = [[str(r[j]) if j < len(r) else "" for j in range(ncol)] for r in rows]
    numeric = [j > 0 and all(_is_number(r[j]) or r[j] in ("", "...") for r in texts) for j in range(ncol)]

    def css(j: int) -> str:
        return "nap-index" if j == 0 else ("" if numeric[j] else "nap-text")

    head = "".join(f'<th class="{css(j)}">{_e(h)}</th>' for j, h in enumerate(headers))
    body = []

    def cells(row: Sequence[str]) -> str:
        return "".join(f'<td class="{css(j)}">{_e(row[j]) if j < len(row) else ""}</td>' for j in range(ncol))

    for i, row in enumerate(rows):
        if cut_at is not None and i == cut_at:
            body.append("<tr>" + "".join('<td class="nap-index">...</td>' if j == 0 else "<td>...</td>"
                                         for j in range(ncol)) + "</tr>")
        body.append(f"<tr>{cells(row)}</tr>")
    for k, row in enumerate(extra_rows):
        body.append(f'<tr class="{"nap-meta" if k == 0 else ""}">{cells(row)}</tr>')
    foot = f'<div class="nap-foot nap-dim">{footer}</div>' if footer else ""
    return (f'<div class="napstream-repr">{_CSS}<div class="nap-title">{title} {badge}</div>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{foot}</div>")


def lazy_badge(is_lazy: bool, lazy_text: str = "lazy: data stay in the file", mem_text: str = "in memory") -> str:
    """A small label saying whether the object's data are read on demand or held in memory."""
    if is_lazy:
        return f'<span class="nap-badge" title="{_e(lazy_text)}">lazy</span>'
    return f'<span class="nap-badge mem" title="{_e(mem_text)}">in memory</span>'


def _rows_shown(n: int, k: int = ROWS) -> tuple[list[tuple[int, int]], int | None]:
    """Row ranges to show (all, or the first and last k/2) and where the cut is."""
    if n <= k:
        return [(0, n)], None
    return [(0, k // 2), (n - k // 2, n)], k // 2


def _support_text(support: Any) -> str:
    n = len(support)
    if n == 0:
        return "time support: empty"
    start, end = float(support.start[0]), float(support.end[-1])
    what = "1 interval" if n == 1 else f"{n} intervals"
    return f"time support: {what}, {fmt_time(start)} – {fmt_time(end)} s"


def series_html(obj: Any) -> str:
    """The rich repr of a Ts, Tsd, TsdFrame or TsdTensor (reads only the rows shown)."""
    kind = type(obj).__name__
    n = len(obj)
    ranges, cut_at = _rows_shown(n)
    t = np.concatenate([obj._t.read(a, b) for a, b in ranges]) if n else np.zeros(0)
    d = obj._read_rows(ranges) if obj._d is not None and n else None
    times = [fmt_time(x) for x in t]
    shape = " × ".join(str(s) for s in obj.shape)
    dtype = "" if kind == "Ts" else f", {_e(getattr(obj, 'dtype', ''))}"
    title = f"<b>napstream.{kind}</b> <span class='nap-dim'>({shape}{dtype})</span>"
    headers: list[str] = ["Time (s)"]
    rows: list[list[str]] = [[x] for x in times]
    extra: list[list[str]] = []
    if d is not None and d.ndim == 1:
        headers.append("")
        rows = [[x, fmt_value(v)] for x, v in zip(times, d)]
    elif d is not None and d.ndim == 2 and kind == "TsdFrame":
        cols = [str(c) for c in obj.columns]
        k = min(len(cols), COLS)
        more = len(cols) > k
        headers += cols[:k] + (["..."] if more else [])
        rows = [[x] + [fmt_value(v) for v in row[:k]] + (["..."] if more else []) for x, row in zip(times, d)]
        store = obj._metadata_store() if getattr(obj, "metadata_columns", None) else {}
        for name in list(store)[:4]:
            values = np.asarray(store[name], dtype=object)[:k]
            extra.append([str(name)] + [fmt_cell(v) for v in values] + (["..."] if more else []))
    elif d is not None:
        headers.append("")
        rows = [[x, _tensor_cell(r)] for x, r in zip(times, d)]
    support = obj._support_or_deferred() if hasattr(obj, "_support_or_deferred") else obj.time_support
    if not hasattr(support, "start") and support.index.order_checked:  # known now: no read of the whole order
        support = obj.time_support
    if not hasattr(support, "start"):  # deferred: showing it must not read every timestamp of a lazy series
        rate = np.nan
        footer = "time support: first – last timestamp (their order is checked on first search by time)"
    else:
        rate = obj.rate if n else np.nan
        footer = _support_text(support)
    if n and np.isfinite(rate):
        footer += f" · rate {fmt_value(rate)} Hz"
    return table_html(title, headers, rows, cut_at=cut_at, footer=footer, badge=lazy_badge(obj.is_lazy),
                      extra_rows=extra)


def _tensor_cell(row: Any) -> str:
    flat = np.asarray(row).ravel()
    inner = ", ".join(fmt_value(x) for x in flat[:3])
    return f"[{inner}{', ...' if flat.size > 3 else ''}] {tuple(np.shape(row))}"


def tsgroup_html(group: Any) -> str:
    """The rich repr of a TsGroup: one row per unit (index, rate, metadata); reads no spike."""
    index = np.asarray(group.index)
    meta = group._metadata_store()
    names = ["rate"] + [c for c in meta if c != "rate"]
    n = len(index)
    ranges, cut_at = _rows_shown(n, 2 * ROWS)
    picks = [i for a, b in ranges for i in range(a, b)]
    k = min(len(names), COLS)
    headers = ["Index"] + names[:k] + (["..."] if len(names) > k else [])
    rows = []
    for i in picks:
        cells = [str(index[i])]
        for name in names[:k]:
            v = meta[name][i]
            cells.append(fmt_value(np.round(v, 5)) if isinstance(v, (float, np.floating)) else fmt_cell(v))
        rows.append(cells + (["..."] if len(names) > k else []))
    title = f"<b>napstream.TsGroup</b> <span class='nap-dim'>({n} units, {len(names) - 1} metadata columns)</span>"
    return table_html(title, headers, rows, cut_at=cut_at, footer=_support_text(group.time_support),
                      badge=lazy_badge(group.is_lazy, "lazy: spike times stay in the file"))


def intervalset_html(ep: Any) -> str:
    """The rich repr of an IntervalSet (start, end, duration, metadata)."""
    n = len(ep)
    ranges, cut_at = _rows_shown(n, 2 * ROWS)
    picks = [i for a, b in ranges for i in range(a, b)]
    meta = list(ep.metadata_columns)
    k = min(len(meta), COLS)
    headers = ["index", "start", "end", "duration"] + meta[:k] + (["..."] if len(meta) > k else [])
    rows = []
    values = ep.values
    for i in picks:
        s, e = float(values[i, 0]), float(values[i, 1])
        cells = [str(ep.index[i]), fmt_time(s), fmt_time(e), fmt_value(e - s)]
        cells += [fmt_cell(ep._metadata[c][i]) for c in meta[:k]] + (["..."] if len(meta) > k else [])
        rows.append(cells)
    total = float(np.sum(values[:, 1] - values[:, 0])) if n else 0.0
    title = f"<b>napstream.IntervalSet</b> <span class='nap-dim'>({n} intervals)</span>"
    return table_html(title, headers, rows, cut_at=cut_at, footer=f"total duration {fmt_value(total)} s")
