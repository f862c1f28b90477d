"""HDF5 storage shapes other writers produce: every one reads as pynwb reads it, locally and over HTTP.

A pynwb session's series data (and timestamps) are rewritten with h5py in each layout: the newest
file format (``libver="latest"``: fixed-array, extensible-array and v2 B-tree chunk indexes),
contiguous and compact layouts, shuffle + gzip, lzf, fletcher32 checksums, big-endian numbers, a
partially written chunked dataset, and a scalar dataset.
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

import napstream as ns
from napstream.errors import UnsupportedTypeError

ROWS, COLS = 3000, 3
RAW = (np.arange(ROWS * COLS, dtype=np.int64).reshape(ROWS, COLS) * 7919 % 20000 - 10000).astype(np.int16)
TIMES = np.arange(ROWS) / 100.0 + 0.25

#: name -> (libver, create_dataset keyword arguments for data, dtype written)
LAYOUTS: dict[str, tuple[str | None, dict[str, Any], str]] = {
    "latest_fixed_array": ("latest", dict(chunks=(256, COLS)), "<i2"),
    "latest_extensible_array": ("latest", dict(chunks=(256, COLS), maxshape=(None, COLS)), "<i2"),
    "latest_btree_v2": ("latest", dict(chunks=(256, 2), maxshape=(None, None)), "<i2"),
    "latest_single_chunk": ("latest", dict(chunks=(ROWS, COLS)), "<i2"),
    "contiguous": (None, dict(), "<i2"),
    "compact": ("latest", dict(), "<i2"),  # made compact below (small enough: 18 kB < 64 kB)
    "shuffle_gzip": (None, dict(chunks=(500, COLS), compression="gzip", compression_opts=6, shuffle=True), "<i2"),
    "gzip_latest": ("latest", dict(chunks=(500, COLS), compression="gzip", shuffle=True), "<i2"),
    "lzf": (None, dict(chunks=(500, COLS), compression="lzf"), "<i2"),
    "fletcher32": (None, dict(chunks=(500, COLS), fletcher32=True), "<i2"),
    "shuffle_gzip_fletcher32": (None, dict(chunks=(500, COLS), compression="gzip", shuffle=True,
                                           fletcher32=True), "<i2"),
    "big_endian": (None, dict(chunks=(500, COLS)), ">i2"),
    "big_endian_gzip_float": (None, dict(chunks=(500, COLS), compression="gzip", shuffle=True), ">f8"),
    "float32_scaleoffset_free": (None, dict(chunks=(700, 2), compression="gzip"), "<f4"),
}


def _base_file(path: Path) -> Path:
    nwbfile = PyNWBFile("t", "i", datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    nwbfile.add_acquisition(TimeSeries(name="signal", data=RAW, timestamps=TIMES, unit="V", conversion=0.25,
                                       offset=-1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


def _rewrite(path: Path, name: str, data: np.ndarray, libver: str | None, kwargs: dict[str, Any],
             dtype: str) -> None:
    with h5py.File(path, "a", libver=libver) if libver else h5py.File(path, "a") as f:
        group = f["acquisition/signal"]
        attrs = dict(group[name].attrs)
        del group[name]
        if name == "data" and kwargs == {} and libver == "latest":  # compact layout via the low-level API
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT)
            space = h5py.h5s.create_simple(data.shape)
            dsid = h5py.h5d.create(group.id, b"data", h5py.h5t.py_create(np.dtype(dtype)), space, dcpl=dcpl)
            dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data, dtype=dtype))
            dset = group["data"]
        else:
            dset = group.create_dataset(name, data=data.astype(dtype), **kwargs)
        for k, v in attrs.items():
            dset.attrs[k] = v


@pytest.fixture(scope="module")
def layout_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for name, (libver, kwargs, dtype) in LAYOUTS.items():
        path = _base_file(root / f"{name}.nwb")
        _rewrite(path, "data", RAW, libver, kwargs, dtype)
        ts_kwargs = {k: v for k, v in kwargs.items() if k != "maxshape"}
        if "chunks" in ts_kwargs:
            ts_kwargs["chunks"] = (ts_kwargs["chunks"][0],)
        _rewrite(path, "timestamps", TIMES, libver, ts_kwargs, dtype.replace("i2", "f8").replace("f4", "f8"))
        out[name] = path
    return out


@pytest.fixture(scope="module")
def layout_server(layout_files: dict[str, Path]):
    from napstream.testing.http_server import RangeHTTPServer

    server = RangeHTTPServer(next(iter(layout_files.values())).parent).start()
    yield server
    server.stop()


def _pynwb_reading(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with NWBHDF5IO(str(path), "r") as io:
        ts = io.read().acquisition["signal"]
        return np.asarray(ts.timestamps[:]), np.asarray(ts.data[:], dtype=np.float64) * ts.conversion + ts.offset


@pytest.mark.parametrize("where", ["local", "http"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_reads_like_pynwb(layout: str, where: str, layout_files: dict[str, Path], layout_server: Any,
                                 tmp_path: Path) -> None:
    path = layout_files[layout]
    want_t, want_d = _pynwb_reading(path)
    with h5py.File(path) as f:  # the layout under test is really there
        plist = f["acquisition/signal/data"].id.get_create_plist()
        expected = {"contiguous": h5py.h5d.CONTIGUOUS, "compact": h5py.h5d.COMPACT}.get(layout, h5py.h5d.CHUNKED)
        assert plist.get_layout() == expected
    source = str(path) if where == "local" else layout_server.url_for(path.name)
    kwargs = {} if where == "local" else {"cache_dir": tmp_path / "c"}
    with ns.NWBFile(source, **kwargs) as nwb:
        got = nwb["signal"]
        np.testing.assert_array_equal(np.asarray(got.t), want_t)
        np.testing.assert_allclose(np.asarray(got.values), want_d, rtol=1e-12)
        part = got.get(5.0, 12.5)  # a slice in the middle reads only its chunks
        sel = (want_t >= 5.0) & (want_t <= 12.5)
        np.testing.assert_allclose(np.asarray(part.values), want_d[sel], rtol=1e-12)


def test_partially_written_chunked_dataset_reads_fill_values_like_h5py(tmp_path: Path) -> None:
    path = _base_file(tmp_path / "partial.nwb")
    with h5py.File(path, "a", libver="latest") as f:
        group = f["acquisition/signal"]
        attrs = dict(group["data"].attrs)
        del group["data"]
        dset = group.create_dataset("data", shape=RAW.shape, dtype="<i2", chunks=(256, COLS), fillvalue=3)
        dset[:1000] = RAW[:1000]  # the chunks after row 1024 are never written
        for k, v in attrs.items():
            dset.attrs[k] = v
    want_t, want_d = _pynwb_reading(path)
    with ns.NWBFile(path) as nwb:
        np.testing.assert_allclose(np.asarray(nwb["signal"].values), want_d, rtol=1e-12)


def test_scalar_data_is_unsupported_with_a_reason(tmp_path: Path) -> None:
    path = _base_file(tmp_path / "scalar.nwb")
    with h5py.File(path, "a") as f:
        group = f["acquisition/signal"]
        del group["data"]
        group.create_dataset("data", data=5.0)
    with ns.NWBFile(path) as nwb:
        with pytest.raises(UnsupportedTypeError, match="scalar"):
            nwb["signal"]
