"""Neurodata types found in real files: ophys, behavioral events, annotations, index series, tables.

One pynwb file holds them all; every key pynapple's NWB loader converts equals pynapple's object, and
every series equals pynwb's reading (data x conversion + offset, timestamps or starting_time + rate).
"""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile as PyNWBFile, TimeSeries
from pynwb.behavior import BehavioralEvents, CompassDirection, Position, SpatialSeries
from pynwb.base import ImageReferences, Images
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage, IndexSeries
from pynwb.misc import AnnotationSeries
from pynwb.ophys import (DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries,
                         TwoPhotonSeries)

import napstream as ns


def _write(path: Path, libver: str | None = None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb's deprecations of BehavioralEvents / AnnotationSeries
        return _build_and_write(path, libver)


def _build_and_write(path: Path, libver: str | None) -> Path:
    rng = np.random.default_rng(5)
    nwbfile = PyNWBFile("t", "i", datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    device = nwbfile.create_device("scope")
    channel = OpticalChannel("green", "green", 500.0)
    plane = nwbfile.create_imaging_plane(name="plane", optical_channel=channel, description="plane", device=device,
                                         excitation_lambda=600.0, imaging_rate=30.0, indicator="GCaMP",
                                         location="CA1")
    ophys = nwbfile.create_processing_module("ophys", "ophys")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    planes = segmentation.create_plane_segmentation("cells", plane, "PlaneSegmentation")
    for i in range(4):
        mask = np.zeros((8, 8))
        mask[i, i] = 1.0
        planes.add_roi(image_mask=mask)
    rois = planes.create_roi_table_region("all", region=[0, 1, 2, 3])
    fluo = Fluorescence(name="Fluorescence")
    fluo.add_roi_response_series(RoiResponseSeries(name="RoiResponseSeries", data=rng.random((200, 4)),
                                                   rois=rois, unit="lumens", rate=30.0, starting_time=1.5,
                                                   conversion=2.0))
    ophys.add(fluo)
    dff = DfOverF(name="DfOverF")
    dff.add_roi_response_series(RoiResponseSeries(name="dff", data=rng.random((200, 4)).astype(np.float32),
                                                  rois=rois, unit="n.a.", timestamps=np.arange(200) / 30.0))
    ophys.add(dff)
    nwbfile.add_acquisition(TwoPhotonSeries(name="twophoton", data=rng.integers(0, 500, (20, 6, 5)).astype(np.uint16),
                                            imaging_plane=plane, rate=10.0, unit="n.a.", conversion=0.5))
    behavior = nwbfile.create_processing_module("behavior", "behavior")
    position = Position(name="Position")
    position.add_spatial_series(SpatialSeries(name="xy", data=rng.random((50, 2)), reference_frame="box",
                                              timestamps=np.arange(50) / 25.0))
    behavior.add(position)
    compass = CompassDirection(name="CompassDirection")
    compass.add_spatial_series(SpatialSeries(name="heading", data=rng.random(50), reference_frame="north",
                                             rate=25.0, unit="radians"))
    behavior.add(compass)
    events = BehavioralEvents(name="BehavioralEvents")
    events.add_timeseries(TimeSeries(name="rewards", data=np.array([1.0, 2.0, 1.0]),
                                     timestamps=np.array([0.5, 1.5, 9.0]), unit="ml"))
    behavior.add(events)
    nwbfile.add_acquisition(AnnotationSeries(name="notes", data=["a", "b", "c"], timestamps=[0.1, 0.2, 0.4]))
    stim = TimeSeries(name="stim", data=rng.random((10, 2)), rate=2.0, unit="a.u.")
    nwbfile.add_stimulus(stim)
    images = [GrayscaleImage(name=f"img{i}", data=rng.random((4, 4))) for i in range(2)]
    stack = Images(name="stack", images=images, order_of_images=ImageReferences("order_of_images", images))
    nwbfile.add_stimulus_template(stack)
    nwbfile.add_acquisition(IndexSeries(name="frames", data=np.array([0, 1, 1, 0], dtype=np.uint32),
                                        indexed_images=stack, unit="N/A", timestamps=[0.0, 1.0, 2.0, 3.0]))
    intervals = TimeIntervals(name="blocks", description="stimulus blocks")
    intervals.add_interval(start_time=0.0, stop_time=2.0, timeseries=[stim])
    intervals.add_interval(start_time=3.0, stop_time=5.0, timeseries=[stim])
    nwbfile.add_time_intervals(intervals)
    if libver is None:
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    else:  # the newest HDF5 file format: superblock v3, v2 object headers, new-style groups and links
        with NWBHDF5IO(file=h5py.File(path, "w", libver=libver), mode="w") as io:
            io.write(nwbfile)
    return path


@pytest.fixture(scope="module", params=["default", "latest"])
def shapes_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    libver = None if request.param == "default" else request.param
    path = _write(tmp_path_factory.mktemp("neurodata") / f"shapes_{request.param}.nwb", libver)
    assert path.read_bytes()[8] == (3 if libver else 0)  # the superblock version says which format
    return path


@pytest.fixture(scope="module")
def references(shapes_file: Path) -> Any:
    import pynapple

    io = NWBHDF5IO(str(shapes_file), "r")
    nwbfile = io.read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nap = pynapple.NWBFile(nwbfile)
        theirs = {k: nap[k] for k in nap.keys()}
    yield nwbfile, theirs
    io.close()


def _series(obj: Any) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(obj.data[:], dtype=np.float64) * obj.conversion + (obj.offset or 0.0)
    return np.asarray(obj.get_timestamps(), dtype=np.float64), data


@pytest.mark.parametrize("where", ["local", "http"])
def test_every_key_pynapple_gives_is_equal(shapes_file: Path, references: Any, where: str, http_server: Any,
                                           tmp_path: Path) -> None:
    nwbfile, theirs = references
    source: Any = shapes_file
    kwargs: dict[str, Any] = {}
    if where == "http":
        source = http_server(shapes_file.parent).url_for(shapes_file.name)
        kwargs = {"cache_dir": tmp_path / "c"}
    by_id = {o.object_id: o for o in nwbfile.objects.values()}
    with ns.NWBFile(source, **kwargs) as nwb:
        assert set(theirs) <= set(nwb.keys())
        for key, want in theirs.items():
            got = nwb[key]
            assert type(got).__name__ == type(want).__name__, key
            if hasattr(want, "t"):
                np.testing.assert_allclose(np.asarray(got.t), want.t, rtol=0, atol=1e-9, err_msg=key)
            if hasattr(want, "columns"):
                assert [str(c) for c in got.columns] == [str(c) for c in want.columns], key
            if hasattr(want, "start"):
                np.testing.assert_array_equal(got.start, want.start)
                np.testing.assert_array_equal(got.end, want.end)
            if type(want).__name__ in ("Tsd", "TsdFrame", "TsdTensor"):
                obj = by_id[nwb.file[nwb.entry(key).path].attrs["object_id"]]
                t, d = _series(obj)
                np.testing.assert_allclose(np.asarray(got.t), t, atol=1e-9, err_msg=key)
                np.testing.assert_allclose(np.asarray(got.values), d, rtol=1e-6, err_msg=key)


def test_expected_types(shapes_file: Path) -> None:
    with ns.NWBFile(shapes_file) as nwb:
        kinds = {k: nwb.type_of(k) for k in nwb.keys()}
    assert kinds["RoiResponseSeries"] == "TsdFrame" and kinds["dff"] == "TsdFrame"
    assert kinds["rewards"] == "Tsd" and kinds["notes"] == "Ts" and kinds["frames"] == "Tsd"
    assert kinds["blocks"] == "IntervalSet" and kinds["PlaneSegmentation"] == "DataFrame"
    assert kinds["twophoton"] == "TsdTensor" and kinds["xy"] == "TsdFrame" and kinds["heading"] == "Tsd"


def test_roi_series_columns_are_the_roi_ids_with_their_table_rows(shapes_file: Path, references: Any) -> None:
    nwbfile, theirs = references
    with ns.NWBFile(shapes_file) as nwb:
        got = nwb["RoiResponseSeries"]
        assert list(got.columns) == list(theirs["RoiResponseSeries"].columns) == [0, 1, 2, 3]


def test_time_intervals_with_a_timeseries_reference_column(shapes_file: Path, references: Any) -> None:
    nwbfile, _ = references
    want = nwbfile.intervals["blocks"].to_dataframe()
    with ns.NWBFile(shapes_file) as nwb:
        table = nwb.table("blocks")
    np.testing.assert_array_equal(table["start_time"], want["start_time"])
    for mine, theirs in zip(table["timeseries"], want["timeseries"]):
        (start, count, target), = [tuple(r) for r in mine]
        assert (start, count) == (theirs[0].idx_start, theirs[0].count)
        assert target == theirs[0].timeseries.name
