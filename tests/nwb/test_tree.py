"""Keys, types and naming of the tree walker, against pynapple's NWBFile."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pynapple
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynapple.io.interface_nwb import _get_unique_identifier

from napstream.nwb.tree import PYNAPPLE_KINDS, assign_keys, unique_keys, walk


def _pynapple_view(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pynapple.NWBFile(str(path))
    return {k: v["type"] for k, v in ref.data.items()}, ref


def test_keys_and_types_match_pynapple(any_session):
    expected, ref = _pynapple_view(any_session)
    with h5py.File(any_session, "r") as f:
        entries = assign_keys(walk(f))
    ours = {k: e.kind for k, e in entries.items() if e.kind in PYNAPPLE_KINDS or e.timeseries}
    assert set(ours) == set(expected)
    for key, kind in ours.items():
        if kind != "unsupported":
            assert kind == expected[key], key
    # full paths (pynapple's container path) agree too
    for key, e in entries.items():
        if key in ref.key_to_full_path:
            assert ref.key_to_full_path[key] == e.nwb_path


def test_shapes_match_hdf5(any_session):
    with h5py.File(any_session, "r") as f:
        for e in walk(f):
            if e.kind in ("Tsd", "TsdFrame", "TsdTensor"):
                assert e.shape == f[e.path]["data"].shape
            if e.kind == "TsGroup":
                assert e.shape == f[e.path]["id"].shape


def test_unsupported_types_listed(mock_session):
    with h5py.File(mock_session, "r") as f:
        entries = assign_keys(walk(f))
    assert entries["still_images"].type_label == "unsupported: Images"
    assert entries["external_video"].type_label == "unsupported: ImageSeries"
    planes = [e for e in entries.values() if e.neurodata_type == "PlaneSegmentation"]
    assert len(planes) == 1 and planes[0].kind == "DataFrame"


_names = st.sampled_from(["a", "b", "c", "speed"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_names, min_size=1, max_size=4), min_size=1, max_size=8, unique_by=tuple))
def test_unique_keys_equals_pynapple(parts):
    paths = {"/" + "/".join(p): p[-1] for p in parts}
    assert unique_keys(dict(paths)) == _get_unique_identifier(dict(paths))


def test_unique_keys_reference_example():
    paths = {"/behavior/Position/x": "x", "/ecephys/x": "x", "/y": "y"}
    assert unique_keys(dict(paths)) == _get_unique_identifier(dict(paths))
    assert np.unique(list(unique_keys(paths).values())).size == 3


def test_same_container_path_stays_reachable(tmp_path):
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    nwb = mock_NWBFile()
    nwb.add_stimulus(TimeSeries(name="tone", data=np.arange(5.0), rate=10.0, unit="V"))
    nwb.add_stimulus_template(TimeSeries(name="tone", data=np.arange(7.0), rate=10.0, unit="V"))
    path = tmp_path / "stim.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with h5py.File(path, "r") as f:
        entries = assign_keys(walk(f))
        assert len(entries) == 2
        shapes = {e.path: e.shape for e in entries.values()}
        assert shapes == {"/stimulus/presentation/tone": (5,), "/stimulus/templates/tone": (7,)}
