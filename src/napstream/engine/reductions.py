"""Chunked reductions of huge signals, runnable on any executor with :func:`napstream.engine.runner.run`.

The algorithms live in :mod:`napstream.core.chunked` (the time series methods use them too,
and core may not import the engine); this module is their engine-side home.

Examples
--------
>>> import numpy as np
>>> from napstream.core import LazyArray, RegularTimeIndex
>>> from napstream.engine.runner import run
>>> series = (RegularTimeIndex(0.0, 10.0, 100), LazyArray(np.arange(100.0)))
>>> centers, avg = run(BinAverage(np.array([0.0]), np.array([9.9]), 1.0), series, max_memory="2kB")
>>> avg[:2].tolist()
[4.5, 14.5]
"""

from __future__ import annotations

from ..core.chunked import BinAverage, EpochStats, ThresholdCrossings

__all__ = ["BinAverage", "EpochStats", "ThresholdCrossings"]
