"""Implementations of the ``napstream`` sub-commands (each ``cmd_<name>(args) -> exit code``)."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["UsageError", "cmd_ls", "cmd_show", "cmd_tuning", "cmd_psd", "cmd_cache", "cmd_demo"]


class UsageError(Exception):
    """A command-line argument is wrong in a way argparse cannot see (exit code 2)."""


_SCHEMES = ("http", "https", "s3", "dandi", "file")
_SCHEME_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(/*)(.*)$")


def check_source(source: str) -> None:
    """A source that is neither a URL napstream reads nor an existing path, but looks like a URL
    (``htp://...``, ``dandi:000582/...``, ``https:/host``): a usage error saying what was meant."""
    if Path(source).expanduser().exists():
        return
    match = _SCHEME_LIKE.match(source)
    if match is None:
        return
    scheme, slashes, rest = match.group(1).lower(), match.group(2), match.group(3)
    if scheme in _SCHEMES and slashes == "//":
        return
    if scheme in _SCHEMES:
        meant = f"{scheme}://{rest}"
    else:
        close = difflib.get_close_matches(scheme, _SCHEMES, n=1, cutoff=0.5)
        if not close:
            raise UsageError(f"{source!r} is not a file, and {scheme}:// is not a scheme napstream reads "
                             "(local paths, http(s)://, s3://, dandi://)")
        meant = f"{close[0]}://{rest}"
    raise UsageError(f"{source!r} is neither a file nor a URL napstream reads; did you mean {meant!r}?")


def _open(args: argparse.Namespace) -> Any:
    from ..nwb import NWBFile

    check_source(args.source)
    options: dict[str, Any] = {}
    if getattr(args, "cache_dir", None):
        options["cache_dir"] = args.cache_dir
    if getattr(args, "no_cache", False):
        options["cache"] = False
    return NWBFile(args.source, **options)


def _figure_path(path: str | None) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise UsageError(f"-o/--output must end in .png, .pdf, .svg or .jpg, got {path!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def cmd_ls(args: argparse.Namespace) -> int:
    """Print the contents table of a file."""
    with _open(args) as nwb:
        print(nwb)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print what the file says of one object (type, shape, unit, rate, time support, description,
    storage) and its first and last rows."""
    with _open(args) as nwb:
        obj = nwb[args.key]
        for label, value in describe_lines(nwb, args.key, obj):
            print(f"{label + ':':14s}{value}")
        print()
        print(obj)
    return 0


def describe_lines(nwb: Any, key: str, obj: Any) -> list[tuple[str, str]]:
    """(label, text) lines summarising ``nwb[key]`` from its metadata (no data read but 2 timestamps)."""
    from ..config import format_bytes

    entry, info = nwb.entry(key), nwb.describe(key)
    shape = " x ".join(str(n) for n in entry.shape) or "-"
    lines = [("key", key), ("type", f"{entry.type_label} ({entry.neurodata_type} at {entry.path})"),
             ("shape", shape)]
    if info.get("dtype"):
        conv = info.get("conversion")
        scaled = f", scaled by {conv:g} on read" if conv not in (None, 1.0) else ""
        lines.append(("dtype", f"{info['dtype']} in the file{scaled}"))
    if info.get("unit"):
        lines.append(("unit", str(info["unit"])))
    if entry.kind == "TsGroup" and len(obj):
        rates = np.asarray(obj.rates, dtype=float)
        lines.append(("units", f"{len(obj)}, rates {rates.min():.3g} to {rates.max():.3g} Hz "
                               f"(mean {rates.mean():.3g} Hz over the time support)"))
    rate = getattr(obj, "rate", None) if info.get("rate") is None else info["rate"]
    if isinstance(rate, (float, np.floating)) and entry.kind != "TsGroup" and np.isfinite(rate):
        how = "regular sampling" if info.get("rate") is not None else "mean over the time support"
        lines.append(("rate", f"{rate:g} Hz ({how})"))
    support = getattr(obj, "time_support", None)
    if support is not None and len(support):
        total = float(np.sum(support.end - support.start))
        lines.append(("time support", f"{len(support)} interval(s), {support.start[0]:g} to {support.end[-1]:g} s "
                                      f"({total:g} s)"))
    if info.get("description") and info["description"] != "no description":
        lines.append(("description", str(info["description"])))
    if info.get("chunks"):
        itemsize = np.dtype(info["dtype"]).itemsize if info.get("dtype") else 0
        chunk = " x ".join(str(n) for n in info["chunks"])
        size = f", {format_bytes(int(np.prod(info['chunks'])) * itemsize)} each" if itemsize else ""
        comp = info.get("compression")
        level = f" level {info['compression_opts']}" if comp and info.get("compression_opts") is not None else ""
        lines.append(("storage", f"chunks of {chunk}{size}, {comp + level if comp else 'uncompressed'}"))
    elif info.get("dtype"):
        lines.append(("storage", "contiguous, uncompressed"))
    lines.append(("lazy", "yes: data stay in the file" if getattr(obj, "is_lazy", False) else "no: in memory"))
    return lines


def _select_epochs(nwb: Any, key: str | None, name: str | None) -> Any:
    if key is None:
        if name is not None:
            raise UsageError("--epoch-name needs --epochs")
        return None
    ep = nwb[key]
    if name is None:
        return ep
    meta = getattr(ep, "metadata", None)
    if meta is None or meta.empty:
        raise UsageError(f"{key!r} has no metadata columns to match --epoch-name against")
    mask = np.zeros(len(ep), dtype=bool)
    for col in meta.columns:
        values = meta[col].astype(str).to_numpy()
        mask |= np.array([name == v or name in v.split(",") for v in values])
    if not mask.any():
        raise UsageError(f"no epoch of {key!r} is named {name!r}")
    return ep[mask]


def cmd_tuning(args: argparse.Namespace) -> int:
    """2-D tuning curves of units vs a 2-column feature; figure and/or npz."""
    from ..process import compute_2d_tuning_curves

    if args.bins <= 0:
        raise UsageError(f"--bins must be a positive integer, got {args.bins}")
    out = _figure_path(args.output)
    if out is None and args.npz is None:
        raise UsageError("give -o/--output FIGURE and/or --npz FILE")
    with _open(args) as nwb:
        units, feature = nwb[args.units], nwb[args.feature]
        ep = _select_epochs(nwb, args.epochs, args.epoch_name)
        tc, bins = compute_2d_tuning_curves(units, feature, args.bins, ep=ep)
    if args.npz:
        Path(args.npz).parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.npz, units=np.array(list(tc.keys())), maps=np.stack([tc[k] for k in tc]),
                 xbins=bins[0], ybins=bins[1])
        print(f"wrote {args.npz}")
    if out is not None:
        from ..plot import plot_tuning_curves

        fig = plot_tuning_curves(tc, bins, title=f"{args.feature}: {len(tc)} units")
        fig.savefig(out, dpi=100)
        print(f"wrote {out}")
    return 0


def cmd_psd(args: argparse.Namespace) -> int:
    """Mean PSD of a continuous signal, streamed; figure and/or CSV."""
    from ..process import compute_mean_power_spectral_density

    out = _figure_path(args.output)
    if out is None and args.csv is None:
        raise UsageError("give -o/--output FIGURE and/or --csv FILE")
    with _open(args) as nwb:
        sig = nwb[args.key]
        ep = nwb[args.epochs] if args.epochs else None
        psd = compute_mean_power_spectral_density(sig, interval_size=args.interval_size, ep=ep)
    if args.fmax is not None:
        psd = psd[(psd.index >= 0) & (psd.index <= args.fmax)]
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        np.abs(psd).to_csv(args.csv, index_label="frequency")
        print(f"wrote {args.csv}")
    if out is not None:
        from ..plot import plot_psd

        plot_psd(psd, fmax=args.fmax, title=args.key).savefig(out, dpi=100)
        print(f"wrote {out}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """``cache info`` / ``cache clear``."""
    from ..config import format_bytes
    from ..io import cache_info, clear_cache

    if args.action == "clear":
        freed = clear_cache(cache_dir=args.cache_dir)
        print(f"cleared the cache ({format_bytes(freed or 0)} freed)")
        return 0
    info = cache_info(cache_dir=args.cache_dir)
    print(f"cache folder : {info['dir']}")
    print(f"size         : {format_bytes(info['size'])} (cap {format_bytes(info['max_size'])})")
    print(f"remote files : {info['files']}")
    for entry in info["entries"]:
        print(f"  {format_bytes(entry['cached_bytes']):>10s} in {entry['blocks']:>5d} blocks  {entry['url']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """See :mod:`napstream.cli.demo`."""
    from .demo import run_demo

    for name in ("duration", "latency"):
        if getattr(args, name) < 0 or (name == "duration" and args.duration <= 0):
            raise UsageError(f"--{name} must be positive, got {getattr(args, name)}")
    for name in ("units", "channels", "bins"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    run_demo(
        out=Path(args.out), duration=args.duration, n_units=args.units, n_channels=args.channels,
        latency=args.latency, nb_bins=args.bins, seed=args.seed, stream=sys.stdout,
    )
    return 0
