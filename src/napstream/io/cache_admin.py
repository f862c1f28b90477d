"""What a cache folder holds and emptying it: :func:`cache_info`, :func:`clear_cache` (see :mod:`napstream.io.cache`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..config import config
from . import cache_files as cf
from .cache_files import HEX2, HEX64, read_regular, scandir

__all__ = ["cache_info", "clear_cache"]


def cache_info(cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Describe the block cache: folder, bytes used, number of remote files, per-file entries.

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder (default: ``config.cache_dir`` or the platform's user cache folder).

    Returns
    -------
    dict
        ``{"dir", "size", "max_size", "files", "entries"}``; each entry has ``url`` (no query
        string), ``size`` (remote size), ``version`` (ETag/Last-Modified), ``cached_bytes``,
        ``blocks`` and ``key``. Files of the older cache layout count too.

    Examples
    --------
    >>> import tempfile, napstream as nap
    >>> info = nap.cache_info(tempfile.mkdtemp())
    >>> info["files"], info["size"]
    (0, 0)
    """
    from .cache import _LAYOUTS, _as_dir, _flush_folder, _own_entries

    directory = _as_dir(cache_dir)
    _flush_folder(directory)
    folders: dict[str, dict[str, Any]] = {}
    for layout in _LAYOUTS:
        for key, entry in _own_entries(directory / layout):
            item = folders.setdefault(key, {"key": key, "meta": None, "blocks": 0, "cached_bytes": 0})
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name == "meta.json":
                item["meta"] = item["meta"] or entry.path  # the current layout's first
            elif not entry.name.startswith(cf.TMP_PREFIX) and cf.blocks_in(layout, entry.name):
                item["blocks"] += cf.blocks_in(layout, entry.name)
                item["cached_bytes"] += _file_size(entry)
    entries = []
    for key in sorted(folders):
        item = folders[key]
        if item["meta"] is None:
            continue
        try:
            record = json.loads(read_regular(item["meta"]) or b"{}")
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        entries.append({
            "key": key,
            "url": record.get("url"),
            "size": record.get("size"),
            "version": record.get("version"),
            "blocks": item["blocks"],
            "cached_bytes": item["cached_bytes"],
        })
    return {
        "dir": str(directory),
        "size": sum(e["cached_bytes"] for e in entries),
        "max_size": config.cache_size,
        "files": len(entries),
        "entries": entries,
    }


def _file_size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)  # only when empty
    except OSError:
        pass


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> int:
    """Delete every cached block (only the regular files napstream wrote; links are never followed).

    Files of the older cache layout are deleted too. Returns the number of bytes freed.

    Examples
    --------
    >>> import tempfile, napstream as nap
    >>> nap.clear_cache(tempfile.mkdtemp())
    0
    """
    from .cache import _LAYOUT, _LAYOUTS, _SEEN, BlockCache, _as_dir, _caches_of, _own_entries

    directory = _as_dir(cache_dir)
    freed = cache_info(directory)["size"]  # flushes the queued writes first
    for layout in _LAYOUTS:
        root = directory / layout
        for key, entry in _own_entries(root):
            if entry.name == "meta.json" or cf.is_own_file(layout, entry.name):
                BlockCache._discard(Path(entry.path))
        for seen in scandir(root / _SEEN):
            if HEX64.match(seen.name) and seen.is_dir(follow_symlinks=False):
                BlockCache._discard(Path(seen.path) / "key")
        for top in [*scandir(root), *scandir(root / _SEEN)]:  # empty folders of ours only
            if (HEX2.match(top.name) or top.name == _SEEN) and top.is_dir(follow_symlinks=False):
                for sub in scandir(top.path):
                    if HEX64.match(sub.name) and sub.is_dir(follow_symlinks=False):
                        _rmdir(sub.path)
                _rmdir(top.path)
            elif HEX64.match(top.name) and top.is_dir(follow_symlinks=False):
                _rmdir(top.path)
        if layout != _LAYOUT:
            _rmdir(str(root))
    for cache in _caches_of(directory):
        cache._forget_all()
        try:
            cache._root.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
    return freed
