"""The chunk engine: plan chunks under a memory budget and run ChunkAlgorithms serially, on threads,
or on dask (imported only when asked for).

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> from napstream.core.chunked import EpochStats
>>> from napstream.engine import run
>>> sig = nap.Tsd(t=np.arange(1000.0), d=np.arange(1000.0))
>>> mean, std, count = run(EpochStats(1), sig, max_memory="4KB")   # read in chunks of ~4 kB
>>> float(mean[0]), int(count[0])
(499.5, 1000)
"""

from .._lazy_exports import lazy_exports

_TABLE = {
    "run": "runner", "plan": "planner", "Plan": "planner", "execute": "executors",
    "ChunkAlgorithm": "protocol", "ChunkAlgorithmBase": "protocol", "progress_bar": "progress",
}
__all__ = sorted(_TABLE)
__getattr__, __dir__ = lazy_exports(__name__, _TABLE, globals())
