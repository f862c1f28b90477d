"""Test and demo helpers: realistic NWB sessions (pynwb), a loopback Range HTTP server with latency
and fault injection, and a local DANDI API server. Nothing in the library imports this package."""

from .._lazy_exports import lazy_exports

_TABLE = {
    "write_session": "sessions", "RangeHTTPServer": "http_server", "FaultPlan": "http_server",
    "LocalDandiServer": "dandi_server",
}
__all__ = sorted(_TABLE)
__getattr__, __dir__ = lazy_exports(__name__, _TABLE, globals())
