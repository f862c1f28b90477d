"""Analyses with pynapple's names: chunk kernels + reductions that stream their inputs."""

from .._lazy_exports import lazy_exports

_TABLE = {
    # spikes and behaviour
    **{name: "tuning_curves" for name in (
        "compute_tuning_curves", "compute_1d_tuning_curves", "compute_2d_tuning_curves",
        "compute_1d_tuning_curves_continuous", "compute_2d_tuning_curves_continuous",
        "compute_discrete_tuning_curves", "compute_response_per_epoch", "compute_mutual_information",
        "compute_1d_mutual_info", "compute_2d_mutual_info")},
    **{name: "perievent" for name in (
        "compute_perievent", "compute_event_triggered_average", "compute_spike_triggered_average")},
    **{name: "correlograms" for name in (
        "compute_autocorrelogram", "compute_crosscorrelogram", "compute_eventcorrelogram",
        "compute_isi_distribution")},
    **{name: "decoding" for name in ("decode_1d", "decode_2d", "decode_bayes", "decode_template")},
    # continuous data
    **{name: "spectrum" for name in (
        "compute_power_spectral_density", "compute_mean_power_spectral_density", "compute_fft",
        "compute_band_power")},
    **{name: "filtering" for name in (
        "apply_bandpass_filter", "apply_lowpass_filter", "apply_highpass_filter", "apply_bandstop_filter",
        "get_filter_frequency_response")},
    **{name: "wavelets" for name in ("compute_wavelet_transform", "generate_morlet_filterbank")},
    **{name: "randomize" for name in (
        "shift_timestamps", "shuffle_ts_intervals", "jitter_timestamps", "resample_timestamps")},
    **{name: "hilbert" for name in (
        "apply_hilbert_transform", "compute_hilbert_envelope", "compute_hilbert_phase")},
    "detect_oscillatory_events": "oscillatory_events",
    **{name: "tensors" for name in ("build_tensor", "warp_tensor")},
    "write_series": "_filtered",
}
__all__ = sorted(_TABLE)
__getattr__, __dir__ = lazy_exports(__name__, _TABLE, globals())
