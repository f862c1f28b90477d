"""What an NWB object is, from its HDF5 metadata only: unit, rate, description, storage layout.

Used by the NWBFile's rich repr (a table of keys, types, shapes, units, locations, lazy or not)
and by ``napstream show``. Nothing here reads dataset values: attributes, shapes, chunk shapes and
filters are metadata, already fetched when the file was opened.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.sessions import write_session
>>> from napstream.nwb import NWBFile
>>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
>>> with NWBFile(p) as nwb:
...     d = details(nwb.file, nwb.entry("ElectricalSeriesLFP"))
>>> d["unit"], d["rate"], d["compression"]
('volts', 1250.0, 'gzip')
"""

from __future__ import annotations

from typing import Any

import h5py

from .tree import Entry

__all__ = ["details", "is_lazy_kind", "LAZY_KINDS"]

#: kinds whose data stay in the file when accessed (lazy_loading=True)
LAZY_KINDS = ("Ts", "Tsd", "TsdFrame", "TsdTensor", "TsGroup")


def is_lazy_kind(kind: str, lazy_loading: bool = True) -> bool:
    """Whether ``nwb[key]`` of this kind is lazy (data read on demand) rather than loaded."""
    return lazy_loading and kind in LAZY_KINDS


def _attr(obj: Any, name: str) -> Any:
    try:
        value = obj.attrs.get(name)
    except (OSError, RuntimeError, KeyError):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "item") and getattr(value, "size", 0) == 1:
        return value.item()
    return value


def _layout(dset: h5py.Dataset) -> dict[str, Any]:
    try:
        out = {"chunks": dset.chunks, "compression": dset.compression,
               "compression_opts": dset.compression_opts, "dtype": str(dset.dtype)}
    except (OSError, RuntimeError):  # pragma: no cover - damaged metadata
        return {}
    if out["compression"] not in (None, "gzip", "lzf", "szip"):  # h5py says "unknown" for hdf5plugin's filters
        from .filters import PLUGIN_FILTERS, filter_name, pipeline

        named = [filter_name(c) for c in pipeline(dset) if c in PLUGIN_FILTERS]
        if named:
            out["compression"], out["compression_opts"] = " + ".join(named), None
    return out


def details(f: h5py.File, entry: Entry) -> dict[str, Any]:
    """Metadata of one object: ``unit``, ``rate``, ``starting_time``, ``description``,
    ``conversion``, ``chunks``, ``compression``, ``dtype`` (None where the file does not say).

    Examples
    --------
    See the module docstring.
    """
    out: dict[str, Any] = dict.fromkeys(("unit", "rate", "starting_time", "description", "conversion",
                                         "chunks", "compression", "compression_opts", "dtype"))
    try:
        group = f[entry.path]
    except (KeyError, OSError):
        return out
    out["description"] = _attr(group, "description")
    data = group.get("data") if isinstance(group, h5py.Group) else None
    if entry.kind == "TsGroup":
        data = group.get("spike_times")
        out["unit"] = "s"
    if isinstance(data, h5py.Dataset):
        out["unit"] = _attr(data, "unit") or out["unit"]
        out["conversion"] = _attr(data, "conversion")
        out.update(_layout(data))
    start = group.get("starting_time") if isinstance(group, h5py.Group) else None
    if isinstance(start, h5py.Dataset):
        rate = _attr(start, "rate")
        out["rate"] = None if rate is None else float(rate)
        try:
            out["starting_time"] = float(start[()])
        except (OSError, RuntimeError, TypeError, ValueError):  # pragma: no cover
            pass
    return out


def nwbfile_html(nwb: Any) -> str:
    """The rich repr of an NWBFile: one row per key (type, shape, dtype, unit, rate, location, lazy).

    Reads attributes only (already fetched at open); objects already built say whether they are lazy.
    """
    from ..core.repr_html import table_html
    from ..core.repr_text import fmt_value

    headers = ["Key", "Type", "Shape", "dtype (file)", "Unit", "Rate (Hz)", "Lazy", "Location"]
    rows = []
    for key in nwb.keys():
        e = nwb.entry(key)
        d = details(nwb.file, e) if e.kind != "unsupported" else {}
        built = nwb._cache.get(key)
        lazy = getattr(built, "is_lazy", None) if built is not None else is_lazy_kind(e.kind, nwb._ctx.lazy_loading)
        shape = " × ".join(str(s) for s in e.shape)
        rate = d.get("rate")
        rows.append([key, e.type_label, shape, e.dtype if e.kind not in ("TsGroup", "DataFrame") else "",
                     d.get("unit") or "", "" if rate is None else fmt_value(rate), "yes" if lazy else "no",
                     e.path])
    import html

    remote = nwb._src.byte_source is not None
    where = "remote" if remote else "local"
    title = (f"<b>napstream.NWBFile</b> {html.escape(str(nwb.name))} "
             f"<span class='nap-dim'>({len(rows)} objects, {where}: {html.escape(str(nwb.path))})</span>")
    footer = "nothing but metadata is read until an analysis asks; <code>nwb[key]</code> gives the object"
    if remote:
        footer += f" · I/O so far: {html.escape(str(nwb.io_stats))}"
    return table_html(title, headers, rows, footer=footer)
