"""Functions run in child processes by the reliability tests (importable by ``spawn`` children).

Not a test module: the children import it from ``tests/reliability`` (on ``sys.path`` under pytest's
default import mode, which ``spawn`` passes on to its children).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def read_everything(url: str, cache_dir: str, block_size: int) -> dict[str, Any]:
    """Open ``url`` through ``cache_dir`` and return spikes, position, an LFP window and the PSD."""
    import napstream as nap

    from rel_common import op_lfp_window, op_position, op_psd, op_spikes

    with nap.config.override(retries=3, timeout=5.0):
        with nap.NWBFile(url, cache_dir=cache_dir, block_size=block_size) as nwb:
            return {"spikes": op_spikes(nwb), "position": op_position(nwb),
                    "lfp_window": op_lfp_window(nwb), "psd": op_psd(nwb)}


def stream_until_killed(url: str, cache_dir: str, block_size: int) -> None:
    """Stream the whole LFP through the cache (the parent kills this process part-way)."""
    import napstream as nap

    with nap.NWBFile(url, cache_dir=cache_dir, block_size=block_size) as nwb:
        np.asarray(nwb["ElectricalSeriesLFP"].values)
        nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 1.0)
