"""Bytes: local and remote byte sources, the persistent block cache, DANDI resolution, I/O stats."""

from .._lazy_exports import lazy_exports

_TABLE = {
    "open_source": "sources", "FileObject": "fileobj", "ByteSource": "base",
    "IOStats": "stats", "track_io": "stats",
    "BlockCache": "cache", "cache_info": "cache", "clear_cache": "cache",
    "parse_dandi_url": "dandi", "resolve_dandi_asset": "dandi", "resolve_dandi_url": "dandi",
    "find_dandi_asset": "dandi", "DandiAsset": "dandi", "DandiURL": "dandi",
}
__all__ = sorted(_TABLE)
__getattr__, __dir__ = lazy_exports(__name__, _TABLE, globals())
