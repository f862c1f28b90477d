"""User-facing segment processing for time series: ``iter_chunks`` and ``apply``.

(Stub: completed with the chunk engine. ``ChunkedMixin`` is inherited by the time series base class.)
"""

from __future__ import annotations


class ChunkedMixin:
    """Adds ``iter_chunks``/``apply`` to time series classes (filled in by the engine work)."""
