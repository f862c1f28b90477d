"""napstream: stream large NWB recordings and analyse them in bounded memory.

``import napstream as nap`` gives pynapple's public names (``nap.Tsd``, ``nap.IntervalSet``,
``nap.NWBFile``, ``nap.compute_2d_tuning_curves``...), but every object is lazy and every analysis
reads its inputs chunk by chunk.

Names are resolved on first use (PEP 562), so ``import napstream`` stays fast and optional
dependencies (dask, matplotlib, pynwb) are imported only by the features that need them.

Examples
--------
>>> import napstream as nap
>>> tsd = nap.Tsd(t=[0.0, 1.0, 2.0], d=[1.0, 2.0, 3.0])
>>> float(tsd.restrict(nap.IntervalSet(0.5, 2.0)).d.sum())
5.0
"""

from __future__ import annotations

import importlib  # noqa: F401
from typing import Any

from .config import config
from .errors import NapstreamError

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    # core
    "IntervalSet": "core", "Ts": "core", "Tsd": "core", "TsdFrame": "core", "TsdTensor": "core",
    "TsGroup": "core", "LazyArray": "core", "TimeIndex": "core", "RegularTimeIndex": "core",
    "ArrayTimeIndex": "core", "TsIndex": "core", "NPZFile": "core",
    # nwb
    "NWBFile": "nwb", "load_file": "nwb", "load_session": "nwb",
    "load_binary_file": "binary_file", "load_eeg": "binary_file",
    # sessions: many files at once
    "Dandiset": "dandiset", "map_sessions": "sessions", "combine_sessions": "sessions",
    # io
    "cache_info": "io", "clear_cache": "io", "track_io": "io", "IOStats": "io",
    # process: spikes and behaviour
    "compute_tuning_curves": "process", "compute_1d_tuning_curves": "process",
    "compute_2d_tuning_curves": "process", "compute_1d_tuning_curves_continuous": "process",
    "compute_2d_tuning_curves_continuous": "process", "compute_discrete_tuning_curves": "process",
    "compute_response_per_epoch": "process", "compute_mutual_information": "process",
    "compute_1d_mutual_info": "process", "compute_2d_mutual_info": "process",
    "compute_perievent": "process", "compute_event_triggered_average": "process",
    "compute_spike_triggered_average": "process", "compute_autocorrelogram": "process",
    "compute_crosscorrelogram": "process", "compute_eventcorrelogram": "process",
    "compute_isi_distribution": "process", "decode_1d": "process", "decode_2d": "process",
    "decode_bayes": "process", "decode_template": "process",
    # process: continuous data
    "compute_power_spectral_density": "process", "compute_mean_power_spectral_density": "process",
    "compute_fft": "process", "compute_band_power": "process", "apply_bandpass_filter": "process",
    "apply_lowpass_filter": "process", "apply_highpass_filter": "process",
    "apply_bandstop_filter": "process", "get_filter_frequency_response": "process",
    "compute_wavelet_transform": "process",
    "generate_morlet_filterbank": "process", "write_series": "process",
    # process: surrogates, Hilbert transform, oscillatory events, trial tensors
    "shift_timestamps": "process", "shuffle_ts_intervals": "process", "jitter_timestamps": "process",
    "resample_timestamps": "process", "apply_hilbert_transform": "process",
    "compute_hilbert_envelope": "process", "compute_hilbert_phase": "process",
    "detect_oscillatory_events": "process", "build_tensor": "process", "warp_tensor": "process",
}

# submodules pynapple exposes as attributes (``nap.randomize.jitter_timestamps``...)
_MODULES: dict[str, str] = {
    "process": "process", "core": "core", "randomize": "process.randomize",
    "filtering": "process.filtering", "spectrum": "process.spectrum", "wavelets": "process.wavelets",
    "perievent": "process.perievent", "tuning_curves": "process.tuning_curves",
    "correlograms": "process.correlograms", "decoding": "process.decoding", "warping": "process.tensors",
}

nap_config = config

__all__ = sorted(set(_EXPORTS) | {"config", "nap_config", "NapstreamError", "__version__"})


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'napstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
