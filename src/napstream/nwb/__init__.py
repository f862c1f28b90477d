"""NWB files (HDF5) -> lazy napstream objects."""

from .._lazy_exports import lazy_exports

_TABLE = {"NWBFile": "file", "load_file": "file", "load_session": "legacy_session"}
__all__ = sorted(_TABLE)
__getattr__, __dir__ = lazy_exports(__name__, _TABLE, globals())
