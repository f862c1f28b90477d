"""Realistic NWB sessions for tests and benchmarks, written with pynwb.

:func:`write_session` writes a hippocampus-like session (an animal exploring a 1 m box, place and
grid cells, an LFP with a theta rhythm) whose layout mirrors real DANDI files such as dandiset
000582, so ``napstream.NWBFile(path)["SpatialSeriesLED1"]`` works as it does on DANDI.
:func:`write_mock_session` assembles pynwb's ``pynwb.testing.mock`` helpers into a file that covers
many other neurodata types (images, ophys, icephys...).

Everything is deterministic given ``seed``. The LFP is generated and written one buffer at a time
through an hdmf ``GenericDataChunkIterator``, so writing a multi-GB file needs little memory.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.sessions import write_session
>>> path = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2,
...                      n_channels=2)
>>> path.suffix
'.nwb'
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["write_session", "write_mock_session", "write_units_file", "lfp_values", "LFP_CONVERSION", "LFP_OFFSET"]

#: volts per int16 LFP count (Intan-like) and the offset (volts) stored on the ElectricalSeries
LFP_CONVERSION = 0.195e-6
LFP_OFFSET = -1.5e-5
_BOX = 1.0  # metres
_LED_OFFSET = np.array([0.03, 0.02])  # LED2 - LED1, metres


# ---------------------------------------------------------------------------------------- signals
def _trajectory(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth 2-D Ornstein-Uhlenbeck velocity walk reflected in a 1 m box, shape (n, 2)."""
    dt = 1.0 / rate
    tau, sigma = 1.0, 0.25  # velocity correlation time (s) and speed scale (m/s)
    noise = rng.standard_normal((n, 2))
    freqs = np.fft.rfftfreq(n, dt)
    shaped = np.fft.irfft(np.fft.rfft(noise, axis=0) / np.sqrt(1.0 + (2 * np.pi * freqs * tau) ** 2)[:, None],
                          n=n, axis=0)  # OU (Lorentzian) spectrum, numpy only
    velocity = sigma * shaped / max(float(shaped.std()), 1e-12)
    free = 0.48 + np.cumsum(velocity * dt, axis=0)  # unbounded walk started at the centre
    lo, width = 0.02, _BOX - 0.04
    folded = np.mod(free, 2 * width)  # reflecting walls = folding the free walk
    return lo + np.where(folded > width, 2 * width - folded, folded)


def _rate_maps(n_units: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Random place (gaussian field) and grid (3 cosines) cells with realistic rates."""
    cells = []
    for i in range(n_units):
        kind = "place" if i % 2 == 0 else "grid"
        cell = {
            "kind": kind,
            "peak": float(rng.uniform(5.0, 20.0)),
            "base": float(rng.uniform(0.5, 2.0)),
            "center": rng.uniform(0.15, 0.85, 2),
            "width": float(rng.uniform(0.08, 0.15)),
            "spacing": float(rng.uniform(0.3, 0.5)),
            "angle": float(rng.uniform(0, np.pi / 3)),
        }
        cells.append(cell)
    return cells


def _rate(cell: dict[str, Any], xy: np.ndarray) -> np.ndarray:
    if cell["kind"] == "place":
        d2 = ((xy - cell["center"]) ** 2).sum(axis=1)
        shape = np.exp(-d2 / (2 * cell["width"] ** 2))
    else:
        k = 4 * np.pi / (np.sqrt(3) * cell["spacing"])
        g = np.zeros(len(xy))
        for j in range(3):
            a = cell["angle"] + j * np.pi / 3
            g += np.cos(k * ((xy - cell["center"]) @ np.array([np.cos(a), np.sin(a)])))
        shape = (g + 1.5) / 4.5  # in [0, 1]
    return cell["base"] + (cell["peak"] - cell["base"]) * shape


def _spikes(cell: dict[str, Any], t: np.ndarray, xy: np.ndarray, duration: float,
            rng: np.random.Generator) -> np.ndarray:
    """Inhomogeneous Poisson spikes by thinning; rate follows the animal's position."""
    rmax = cell["peak"] * 1.05
    n = rng.poisson(rmax * duration)
    cand = np.sort(rng.uniform(0.0, duration, n))
    idx = np.clip(np.searchsorted(t, cand), 0, len(t) - 1)
    keep = rng.uniform(0.0, rmax, n) < _rate(cell, xy[idx])
    return cand[keep]


def _lfp_block(block: int, lfp_rate: float, n_channels: int, seed: int, phases: np.ndarray) -> np.ndarray:
    """One second (``block``) of LFP in int16 counts: theta + slow waves + noise, per channel."""
    n = int(round(lfp_rate))
    t = (block * n + np.arange(n)) / lfp_rate
    theta = np.sin(2 * np.pi * 8.0 * t[:, None] + phases[None, :])
    slow = 0.5 * np.sin(2 * np.pi * 1.3 * t[:, None] + 2 * phases[None, :])
    gamma = 0.15 * np.sin(2 * np.pi * 40.0 * t[:, None] + 3 * phases[None, :]) * (1 + theta) / 2
    rng = np.random.default_rng([seed, 7, block])
    noise = 0.2 * rng.standard_normal((n, n_channels))
    volts = 150e-6 * (theta + slow + gamma + noise)
    return np.round((volts - LFP_OFFSET) / LFP_CONVERSION).astype(np.int16)


def _lfp_iterator(n_samples: int, lfp_rate: float, n_channels: int, seed: int, chunk_rows: int) -> Any:
    from hdmf.data_utils import GenericDataChunkIterator

    phases = np.random.default_rng([seed, 3]).uniform(0, 2 * np.pi, n_channels)
    block_rows = int(round(lfp_rate))

    class LFPIterator(GenericDataChunkIterator):
        def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
            a, b = selection[0].start, selection[0].stop
            blocks = [_lfp_block(k, lfp_rate, n_channels, seed, phases)
                      for k in range(a // block_rows, (b - 1) // block_rows + 1)]
            out = np.concatenate(blocks)[a - (a // block_rows) * block_rows:][: b - a]
            return out[:, selection[1]]

        def _get_maxshape(self) -> tuple[int, int]:
            return (n_samples, n_channels)

        def _get_dtype(self) -> np.dtype:
            return np.dtype(np.int16)

    chunk = min(chunk_rows, n_samples)
    buffer = min(n_samples, chunk * max(1, (2**22 // max(1, chunk * n_channels * 2))))  # ~4 MB buffers
    return LFPIterator(chunk_shape=(chunk, n_channels), buffer_shape=(buffer, n_channels))


def lfp_values(start: int, stop: int, lfp_rate: float = 1250.0, n_channels: int = 16, seed: int = 0) -> np.ndarray:
    """The int16 LFP samples ``[start, stop)`` that :func:`write_session` writes (for tests).

    Examples
    --------
    >>> lfp_values(0, 3, n_channels=2).shape
    (3, 2)
    """
    phases = np.random.default_rng([seed, 3]).uniform(0, 2 * np.pi, n_channels)
    br = int(round(lfp_rate))
    blocks = [_lfp_block(k, lfp_rate, n_channels, seed, phases) for k in range(start // br, (stop - 1) // br + 1)]
    return np.concatenate(blocks)[start - (start // br) * br:][: stop - start]


def _check(name: str, value: Any, low: float, integer: bool = False) -> None:
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if not ok or isinstance(value, bool) or not np.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        raise InvalidInputError(f"{name} must be {kind} >= {low}, got {value!r}")


# ---------------------------------------------------------------------------------------- writers
def _new_file(seed: int, duration: float) -> Any:
    from pynwb import NWBFile
    from pynwb.file import Subject

    nwb = NWBFile(
        session_description=f"napstream synthetic open-field session ({duration:g} s)",
        identifier=f"napstream-session-seed{seed}",
        session_start_time=datetime(2024, 1, 2, 10, 30, tzinfo=timezone.utc),
        session_id=f"ses-{seed:04d}",
        experimenter=["Synthetic, Data"],
        lab="napstream", institution="napstream test suite",
        experiment_description="place and grid cells in a 1 m box, hippocampal LFP",
    )
    nwb.subject = Subject(subject_id=f"sub-{seed:04d}", species="Mus musculus", sex="M", age="P90D",
                          description="synthetic mouse")
    return nwb


def _add_position(nwb: Any, duration: float, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from pynwb.behavior import CompassDirection, Position, SpatialSeries

    n = max(2, int(duration * rate))
    t = np.arange(n) / rate + rng.uniform(-0.15, 0.15, n) / rate
    t[0] = abs(t[0])
    xy = _trajectory(n, rate, rng)
    behavior = nwb.create_processing_module("behavior", "position tracking")
    position = Position(name="Position")
    led1 = SpatialSeries(name="SpatialSeriesLED1", data=xy, timestamps=t, reference_frame="(0,0) is bottom left",
                         unit="meters", description="LED1 (x, y)")
    led2 = SpatialSeries(name="SpatialSeriesLED2", data=xy + _LED_OFFSET, timestamps=led1,
                         reference_frame="(0,0) is bottom left", unit="meters", description="LED2 (x, y)")
    position.add_spatial_series(led1)
    position.add_spatial_series(led2)
    behavior.add(position)
    heading = np.degrees(np.arctan2(_LED_OFFSET[1], _LED_OFFSET[0])) + np.cumsum(rng.normal(0, 2.0, n))
    compass = CompassDirection(name="CompassDirection")
    compass.create_spatial_series(name="HeadDirection", data=np.mod(heading, 360.0), timestamps=led1,
                                  reference_frame="0 is east", unit="degrees", description="head direction")
    behavior.add(compass)
    return t, xy


def _add_electrodes(nwb: Any, n_channels: int, rng: np.random.Generator) -> list[Any]:
    device = nwb.create_device(name="probe", description="silicon probe", manufacturer="Synthetic")
    groups = [nwb.create_electrode_group(name=f"shank{g}", description=f"shank {g}", location="CA1",
                                         device=device) for g in range(2 if n_channels > 1 else 1)]
    for ch in range(n_channels):
        nwb.add_electrode(group=groups[ch % len(groups)], location="CA1", x=float(ch % 2) * 20.0,
                          y=float(ch) * 25.0, z=0.0, imp=float(rng.uniform(0.5e6, 1.5e6)),
                          filtering="0.1-7500 Hz")
    return groups


def _add_units(nwb: Any, n_units: int, duration: float, t: np.ndarray, xy: np.ndarray,
               groups: list[Any], n_channels: int, rng: np.random.Generator) -> None:
    """Units built column by column from flat arrays (fast: no per-spike conversion in hdmf)."""
    from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
    from pynwb.misc import Units

    spikes, stops, chans, depth, kinds, peaks = [], [], [], [], [], []
    for i, cell in enumerate(_rate_maps(n_units, rng)):
        stop = duration if i % 3 != 2 else round(duration * 0.8, 3)  # some units are lost early
        sp = _spikes(cell, t, xy, duration, rng)
        spikes.append(sp[sp < stop])
        stops.append(stop)
        chans.append(sorted({i % n_channels, (i + 1) % n_channels}))
        depth.append(float(rng.uniform(0, 400)))
        kinds.append(cell["kind"])
        peaks.append(cell["peak"])
    ends = np.cumsum([len(s) for s in spikes]).astype(np.int64)
    flat = np.concatenate(spikes) if spikes else np.zeros(0)
    regions = np.concatenate(chans).astype(np.int64) if chans else np.zeros(0, dtype=np.int64)
    st = VectorData(name="spike_times", description="spike times (s)", data=flat)
    obs = VectorData(name="obs_intervals", description="observation intervals",
                     data=np.array([[0.0, s] for s in stops]).reshape(-1, 2))
    el = DynamicTableRegion(name="electrodes", description="electrodes of each unit", data=regions,
                            table=nwb.electrodes)
    cols = [
        st, VectorIndex(name="spike_times_index", data=ends, target=st),
        obs, VectorIndex(name="obs_intervals_index", data=np.arange(1, n_units + 1), target=obs),
        el, VectorIndex(name="electrodes_index", data=np.cumsum([len(c) for c in chans]).astype(np.int64),
                        target=el),
        VectorData(name="electrode_group", description="electrode group of each unit",
                   data=[groups[i % len(groups)] for i in range(n_units)]),
        VectorData(name="depth", description="depth along the probe (um)", data=np.array(depth)),
        VectorData(name="cell_type", description="place or grid", data=kinds),
        VectorData(name="peak_rate", description="peak of the rate map (Hz)", data=np.array(peaks)),
    ]
    colnames = ["spike_times", "obs_intervals", "electrodes", "electrode_group", "depth", "cell_type", "peak_rate"]
    units = Units(name="units", description="place (even) and grid (odd) cells", id=list(range(n_units)),
                  columns=cols, colnames=colnames)
    nwb.units = units


def _add_lfp(nwb: Any, duration: float, lfp_rate: float, n_channels: int, seed: int,
             chunk_seconds: float, channel_conversion: bool, starting_time: float) -> None:
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ecephys import LFP

    n = int(round(duration * lfp_rate))
    chunk = max(1, min(n, int(round(lfp_rate * chunk_seconds))))
    data = H5DataIO(_lfp_iterator(n, lfp_rate, n_channels, seed, chunk), compression="gzip",
                    compression_opts=4, chunks=(chunk, n_channels))
    region = nwb.create_electrode_table_region(list(range(n_channels)), "all channels")
    gains = None
    if channel_conversion:
        gains = 1.0 + 0.01 * np.random.default_rng([seed, 11]).standard_normal(n_channels)
    ecephys = nwb.create_processing_module("ecephys", "extracellular electrophysiology")
    container = LFP(name="LFP")
    ecephys.add(container)  # attach first so the electrodes region shares an ancestor with its table
    container.create_electrical_series(
        name="ElectricalSeriesLFP", data=data, electrodes=region, rate=float(lfp_rate),
        starting_time=float(starting_time), conversion=LFP_CONVERSION, offset=LFP_OFFSET,
        channel_conversion=gains, filtering="low-pass 500 Hz", description="local field potential (int16 counts)")


def _add_intervals(nwb: Any, duration: float, rng: np.random.Generator) -> None:
    edges = [0.0, duration / 4, 3 * duration / 4, duration]
    nwb.add_epoch_column(name="label", description="behavioural state")
    for (a, b), label in zip(zip(edges[:-1], edges[1:]), ["sleep", "run", "sleep"]):
        nwb.add_epoch(start_time=a, stop_time=b, tags=[label, "box"], label=label)
    nwb.add_trial_column(name="condition", description="cue condition")
    nwb.add_trial_column(name="correct", description="rewarded trial")
    nwb.add_trial_column(name="reward_x", description="reward location x (m)")
    start = edges[1]
    while start + 2.0 < edges[2]:
        length = float(rng.uniform(3.0, 10.0))
        stop = min(start + length, edges[2] - 0.5)
        nwb.add_trial(start_time=round(start, 6), stop_time=round(stop, 6),
                      condition=str(rng.choice(["A", "B"])), correct=bool(rng.uniform() < 0.7),
                      reward_x=float(rng.uniform(0, 1)))
        start = stop + float(rng.uniform(0.5, 2.0))
    nwb.add_invalid_time_interval(start_time=duration * 0.5, stop_time=duration * 0.5 + 1.0)


def write_session(
    path: str | os.PathLike,
    duration: float = 600.0,
    n_units: int = 8,
    n_channels: int = 16,
    lfp_rate: float = 1250.0,
    position_rate: float = 50.0,
    seed: int = 0,
    lfp: bool = True,
    lfp_chunk_seconds: float = 1.0,
    channel_conversion: bool = True,
    lfp_starting_time: float = 0.0,
) -> Path:
    """Write a realistic synthetic open-field session to ``path`` (NWB 2.x, HDF5) with pynwb.

    Parameters
    ----------
    path : str or PathLike
        Output file (overwritten).
    duration : float
        Session length in seconds.
    n_units, n_channels : int
        Number of sorted units and of LFP channels (electrodes).
    lfp_rate, position_rate : float
        Sampling rates in Hz (position timestamps are jittered around ``position_rate``).
    seed : int
        Everything is a deterministic function of the seed.
    lfp : bool
        Write the LFP (the only large object; ``n_channels * lfp_rate * duration * 2`` bytes raw).
    lfp_chunk_seconds : float
        Seconds of LFP per HDF5 storage chunk (all channels in a chunk).
    channel_conversion : bool
        Store per-channel gains on the LFP (``channel_conversion``).
    lfp_starting_time : float
        ``starting_time`` of the LFP in seconds.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Objects written (HDF5 path -> neurodata type -> napstream key):

    * ``/processing/behavior/Position/SpatialSeriesLED1`` -> SpatialSeries (n, 2) float64 metres, explicit
      jittered timestamps -> ``"SpatialSeriesLED1"`` (TsdFrame, columns x, y)
    * ``/processing/behavior/Position/SpatialSeriesLED2`` -> SpatialSeries, LED1 + (3 cm, 2 cm), timestamps
      linked to LED1's -> ``"SpatialSeriesLED2"``
    * ``/processing/behavior/CompassDirection/HeadDirection`` -> SpatialSeries (n,) degrees -> ``"HeadDirection"`` (Tsd)
    * ``/units`` -> Units: spike_times (ragged), obs_intervals (one unit in three stops at 80 %),
      electrode_group, electrodes (ragged region), depth (float), cell_type (str), peak_rate (float)
      -> ``"units"`` (TsGroup). Even units are place cells, odd ones grid cells (0.5-20 Hz).
    * ``/general/extracellular_ephys/electrodes`` -> DynamicTable (location, group, group_name, x, y, z, imp,
      filtering) -> ``"electrodes"`` (DataFrame); groups ``shank0``/``shank1`` on device ``probe``.
    * ``/processing/ecephys/LFP/ElectricalSeriesLFP`` -> ElectricalSeries (n, n_channels) int16, gzip, chunks
      ``(lfp_rate * lfp_chunk_seconds, n_channels)``, conversion :data:`LFP_CONVERSION`, offset
      :data:`LFP_OFFSET`, optional channel_conversion, starting_time + rate -> ``"ElectricalSeriesLFP"``
      (TsdFrame in volts, columns = electrode ids). Values: :func:`lfp_values`.
    * ``/intervals/epochs`` -> TimeIntervals sleep/run/sleep (tags, label) -> ``"epochs"`` (IntervalSet)
    * ``/intervals/trials`` -> TimeIntervals in the run epoch (condition, correct, reward_x) -> ``"trials"``
    * ``/intervals/invalid_times`` -> TimeIntervals (one 1 s interval) -> ``"invalid_times"``
    * ``/general/subject`` and session metadata (identifier, session_id, experimenter, lab...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "x.nwb", duration=10.0, n_units=2, n_channels=2)
    >>> p.exists()
    True
    """
    from pynwb import NWBHDF5IO

    _check("duration", duration, 1.0)
    _check("n_units", n_units, 0, integer=True)
    _check("n_channels", n_channels, 1, integer=True)
    _check("lfp_rate", lfp_rate, 1.0)
    _check("position_rate", position_rate, 1.0)
    _check("seed", seed, 0, integer=True)
    _check("lfp_chunk_seconds", lfp_chunk_seconds, 1e-3)
    path = Path(path)
    rng = np.random.default_rng(seed)
    nwb = _new_file(seed, float(duration))
    t, xy = _add_position(nwb, float(duration), float(position_rate), rng)
    groups = _add_electrodes(nwb, int(n_channels), rng)
    _add_units(nwb, int(n_units), float(duration), t, xy, groups, int(n_channels), rng)
    if lfp:
        _add_lfp(nwb, float(duration), float(lfp_rate), int(n_channels), int(seed), float(lfp_chunk_seconds),
                 channel_conversion, lfp_starting_time)
    _add_intervals(nwb, float(duration), rng)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _mock_modules(nwb: Any, rng: np.random.Generator) -> None:
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.testing.mock.base import mock_TimeSeries
    from pynwb.testing.mock.behavior import mock_CompassDirection, mock_Position
    from pynwb.testing.mock.ophys import mock_Fluorescence

    behavior = nwb.create_processing_module("behavior", "mock behaviour")
    behavior.add(mock_Position(name="Position"))
    behavior.add(mock_CompassDirection(name="CompassDirection"))
    bts = BehavioralTimeSeries(name="BehavioralTimeSeries")
    bts.add_timeseries(mock_TimeSeries(name="speed", data=rng.uniform(0, 30, 200), rate=20.0, starting_time=1.5,
                                       conversion=0.01, offset=0.25, unit="m/s"))
    behavior.add(bts)
    other = nwb.create_processing_module("other", "a second module with a clashing name")
    other.add(mock_TimeSeries(name="speed", data=rng.normal(size=(50, 3)), timestamps=np.sort(rng.uniform(0, 5, 50))))
    mock_Fluorescence(nwbfile=nwb)  # creates the ophys module


def _mock_acquisition(nwb: Any, rng: np.random.Generator) -> None:
    from pynwb.image import ImageSeries, Images, GrayscaleImage
    from pynwb.misc import AnnotationSeries
    from pynwb.testing.mock.base import mock_TimeSeries
    from pynwb.testing.mock.ecephys import mock_ElectricalSeries

    nwb.add_acquisition(mock_TimeSeries(name="tensor", data=rng.normal(size=(30, 4, 5)), rate=30.0))
    nwb.add_acquisition(mock_TimeSeries(name="ints", data=np.arange(100, dtype=np.int32), rate=100.0,
                                        starting_time=0.0, conversion=2.0, offset=-1.0))
    mock_ElectricalSeries(name="ElectricalSeries", nwbfile=nwb, data=rng.normal(size=(100, 5)), rate=1000.0)
    with warnings.catch_warnings():  # deprecated in pynwb, still found in many files
        warnings.simplefilter("ignore", UserWarning)
        notes = AnnotationSeries(name="annotations", data=["a", "b", "c"], timestamps=[0.5, 1.0, 2.5])
    nwb.add_acquisition(notes)
    nwb.add_acquisition(ImageSeries(name="external_video", external_file=["video.avi"], starting_frame=[0],
                                    format="external", timestamps=np.arange(3) / 30.0, unit="n.a."))
    nwb.add_acquisition(ImageSeries(name="frames", data=rng.integers(0, 255, (10, 8, 6), dtype=np.uint8),
                                    timestamps=np.arange(10) / 10.0, unit="n.a."))
    nwb.add_acquisition(Images(name="still_images", images=[GrayscaleImage(name="img0", data=np.zeros((4, 4)))]))


def write_mock_session(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write a small file built from ``pynwb.testing.mock`` helpers covering many neurodata types.

    Contents: Units (mock_Units), acquisition TimeSeries ``tensor`` (30, 4, 5) -> TsdTensor, ``ints``
    (int32, conversion 2, offset -1) -> Tsd, ElectricalSeries (mock electrodes) -> TsdFrame,
    AnnotationSeries ``annotations`` -> Ts, ImageSeries ``frames`` (in-file) -> TsdTensor, ImageSeries
    ``external_video`` (external file) and Images ``still_images`` -> unsupported; behavior module
    (mock Position, CompassDirection, BehavioralTimeSeries/``speed`` with conversion + offset); module
    ``other`` with a second ``speed`` (keys ``BehavioralTimeSeries/speed`` and ``other/speed``);
    ophys module (mock Fluorescence / RoiResponseSeries, PlaneSegmentation); epochs and trials.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> write_mock_session(pathlib.Path(tempfile.mkdtemp()) / "m.nwb").exists()
    True
    """
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.ecephys import mock_Units
    from pynwb.testing.mock.file import mock_NWBFile

    _check("seed", seed, 0, integer=True)
    rng = np.random.default_rng(seed)
    nwb = mock_NWBFile(session_id=f"mock-{seed}")
    _mock_acquisition(nwb, rng)
    _mock_modules(nwb, rng)
    mock_Units(num_units=5, max_spikes_per_unit=20, seed=seed, nwbfile=nwb)
    for a, b in [(0.0, 2.0), (2.5, 5.0)]:
        nwb.add_epoch(start_time=a, stop_time=b, tags=["x"])
    nwb.add_trial(start_time=0.1, stop_time=0.9)
    nwb.add_trial(start_time=1.1, stop_time=1.9)
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_units_file(path: str | os.PathLike, spikes: list[Any], obs_intervals: list[Any], chunk: int,
                     identifier: str = "units", columns: dict[str, Any] | None = None) -> Path:
    """Write an NWB file holding only a units table (with pynwb), its spike times in storage chunks.

    Parameters
    ----------
    path : str or path-like
        File to write.
    spikes : list of 1-D arrays
        Each unit's spike times (in seconds, stored as given: sorted or not).
    obs_intervals : list of (k, 2) array-likes
        Each unit's observation intervals.
    chunk : int
        Storage chunk length of the spike times column (large recordings store it chunked).
    identifier : str
        The file's identifier.
    columns : dict, optional
        More columns, one value per unit (e.g. ``{"quality": ...}``).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, h5py
    >>> p = write_units_file(pathlib.Path(tempfile.mkdtemp()) / "u.nwb", [np.arange(3.0), np.arange(5.0)],
    ...                      [[[0.0, 10.0]], [[1.0, 4.0], [6.0, 9.0]]], chunk=4)
    >>> with h5py.File(p, "r") as f:
    ...     f["units/spike_times"].chunks, f["units/obs_intervals_index"][()].tolist()
    ((4,), [1, 3])
    """
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.misc import Units

    path = Path(path)
    obs = [np.asarray(o, dtype=float).reshape(-1, 2) for o in obs_intervals]
    st = VectorData(name="spike_times", description="s", data=H5DataIO(np.concatenate(spikes), chunks=(chunk,)))
    ob = VectorData(name="obs_intervals", description="o", data=np.concatenate(obs))
    extra = [VectorData(name=name, description=name, data=np.asarray(values)) for name, values in (columns or {}).items()]
    units = Units(name="units", description="u", id=list(range(len(spikes))), columns=[
        st, VectorIndex(name="spike_times_index", data=np.cumsum([len(t) for t in spikes]), target=st),
        ob, VectorIndex(name="obs_intervals_index", data=np.cumsum([len(o) for o in obs]), target=ob), *extra,
    ], colnames=["spike_times", "obs_intervals", *(columns or {})])
    nwb = NWBFile(session_description="s", identifier=identifier, session_start_time=datetime.now(timezone.utc))
    nwb.units = units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return path
