"""Issue #16 items 6 and 8 in the tree walk: names that are not UTF-8, external links, damaged units metadata."""

from __future__ import annotations

import datetime
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile as PyNWBFile, TimeSeries

import napstream as ns
from napstream.errors import NapstreamError, UnsupportedTypeError


def write_series(path: Path, name: str = "x", units: bool = False) -> Path:
    nwbfile = PyNWBFile("t", "i", datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    nwbfile.add_acquisition(TimeSeries(name=name, data=np.arange(4.0), timestamps=np.arange(4.0) / 2, unit="V"))
    if units:
        nwbfile.add_unit(spike_times=[0.1, 0.2])
        nwbfile.add_unit(spike_times=[0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


def test_group_names_that_are_not_utf8_are_walked_and_shown_escaped(tmp_path: Path) -> None:
    path = write_series(tmp_path / "names.nwb")
    with h5py.File(path, "a") as f:
        h5py.h5g.create(f["acquisition"].id, b"plain\xff\xfe")  # a plain group
        f["acquisition"].move("x", b"x\xff")  # a typed series
    with ns.NWBFile(path) as nwb:
        assert nwb.keys() == ["x\\xff"]
        np.testing.assert_array_equal(nwb["x\\xff"].values, np.arange(4.0))
        np.testing.assert_array_equal(nwb["x\\xff"].t, np.arange(4.0) / 2)
        assert "x\\xff" in str(nwb)


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    write_series(tmp_path / "target.nwb", "y")
    path = write_series(tmp_path / "main.nwb")
    with h5py.File(path, "a") as f:
        f["acquisition/elsewhere"] = h5py.ExternalLink("target.nwb", "/acquisition/y")
        f["acquisition/x"].move("data", "data_moved")
        f["acquisition/x/data"] = h5py.ExternalLink("target.nwb", "/acquisition/y/data")
    return path


def _check_links(nwb: ns.NWBFile) -> None:
    for key in ("elsewhere", "x"):
        assert nwb.type_of(key).startswith("unsupported")
        with pytest.raises(UnsupportedTypeError, match="external link.*target.nwb.*does not follow"):
            nwb[key]


def test_external_links_are_listed_and_not_followed_locally(linked: Path) -> None:
    with ns.NWBFile(linked) as nwb:
        _check_links(nwb)
    (linked.parent / "target.nwb").unlink()  # a dangling link says the same
    with ns.NWBFile(linked) as nwb:
        _check_links(nwb)


def test_external_links_in_a_remote_file_say_they_are_not_followed(linked: Path, http_server: Any,
                                                                 tmp_path: Path) -> None:
    server = http_server(linked.parent)
    with ns.NWBFile(server.url_for(linked.name), cache_dir=tmp_path / "c") as nwb:
        _check_links(nwb)


@pytest.mark.parametrize("damage", ["index_is_group", "times_is_group", "index_strings", "id_missing",
                                    "index_2d", "colnames_int"])
def test_damaged_units_metadata_gives_a_clear_error(tmp_path: Path, damage: str) -> None:
    path = write_series(tmp_path / "units.nwb", units=True)
    with h5py.File(path, "a") as f:
        u = f["units"]
        if damage == "index_is_group":
            del u["spike_times_index"]
            u.create_group("spike_times_index")
        elif damage == "times_is_group":
            del u["spike_times"]
            u.create_group("spike_times")
        elif damage == "index_strings":
            del u["spike_times_index"]
            u.create_dataset("spike_times_index", data=np.array([b"a", b"b"]))
        elif damage == "id_missing":
            del u["id"]
        elif damage == "index_2d":
            del u["spike_times_index"]
            u.create_dataset("spike_times_index", data=np.array([[1, 2], [3, 3]]))
        elif damage == "colnames_int":
            u.attrs["colnames"] = np.array([1, 2])
    try:
        nwb = ns.NWBFile(path)
    except NapstreamError as err:
        assert "units.nwb" in str(err)
        return
    with nwb:
        if "units" not in nwb:
            return
        try:
            got = nwb["units"]
        except NapstreamError as err:
            assert "'units'" in str(err) and ("damaged" in str(err) or "cannot" in str(err))
            return
        for uid in got.keys():  # or it reads correctly
            np.asarray(got[uid].t)
