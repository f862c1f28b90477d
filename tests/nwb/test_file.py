"""NWBFile: opening every kind of source, the key table, bad input, and what opening reads."""

from __future__ import annotations

import io
import pickle
import warnings

import fsspec
import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO

import napstream as nap
from napstream.errors import FileFormatError, KeyNotFoundError, NotNWBError, UnsupportedTypeError
from napstream.nwb.file import DatasetRef, NWBFile, load_file
from napstream.nwb.source import LocalFileNotFoundError


class CountingFile(io.RawIOBase):
    """A file object that counts the bytes h5py reads through it."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.n = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        return self.f.seek(offset, whence)

    def tell(self):
        return self.f.tell()

    def readinto(self, buf):
        k = self.f.readinto(buf)
        self.n += k
        return k

    def close(self):
        self.f.close()
        super().close()


# ---------------------------------------------------------------------------------------- sources
def test_path_str_and_load_file(small_session):
    with NWBFile(small_session) as a, NWBFile(str(small_session)) as b, load_file(small_session) as c:
        assert a.keys() == b.keys() == c.keys()
        assert a.name == small_session.stem


def test_h5py_pynwb_and_io_sources_give_same_keys(small_session):
    with NWBFile(small_session) as ref:
        keys = ref.keys()
    with h5py.File(small_session, "r") as f:
        nwb = NWBFile(f)
        assert nwb.keys() == keys
        nwb.close()  # does not close a file the caller opened
        assert f.id.valid
    with NWBHDF5IO(str(small_session), "r") as nio:
        nwbfile = nio.read()
        assert NWBFile(nwbfile).keys() == keys
        assert NWBFile(nio).keys() == keys
        assert NWBFile(nwbfile).name == nwbfile.session_id


def test_fsspec_opened_file(small_session):
    fs = fsspec.filesystem("file")
    fobj = fs.open(str(small_session), "rb")
    f = h5py.File(fobj, "r")
    try:
        with NWBHDF5IO(file=f, load_namespaces=True) as nio:
            nwb = NWBFile(nio.read())
            assert "SpatialSeriesLED1" in nwb and "units" in nwb
            np.testing.assert_array_equal(nwb["epochs"].start, nio.read().epochs.start_time[:])
    finally:
        f.close()
        fobj.close()


def test_io_stats_zero_for_local(small_session):
    with NWBFile(small_session) as nwb:
        stats = nwb.io_stats
        assert stats.requests == 0 and stats.bytes_fetched == 0


# ---------------------------------------------------------------------------------------- key table
def test_print_lists_every_key_with_type_shape_location(mock_session):
    with NWBFile(mock_session) as nwb:
        text = str(nwb)
        assert text == repr(nwb)
        for key in nwb.keys():
            e = nwb.entry(key)
            line = next(ln for ln in text.splitlines() if ln.startswith(f"| {key} "))
            assert e.type_label in line and e.path in line
        assert "unsupported: Images" in text
        assert "(30, 4, 5)" in text


def test_full_paths_as_keys(small_session):
    with NWBFile(small_session) as nwb:
        assert "/processing/behavior/Position/SpatialSeriesLED1" in nwb
        assert nwb.entry("/behavior/Position/SpatialSeriesLED1").key == "SpatialSeriesLED1"


def test_opening_and_printing_reads_only_metadata(session_files, monkeypatch):
    reads = []
    orig = h5py.Dataset.__getitem__

    def spy(self, key):
        out = orig(self, key)
        reads.append((self.name, np.asarray(out).nbytes))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "read_direct", lambda *a, **k: pytest.fail("read_direct at open"))
    for path in session_files.values():
        with NWBFile(path) as nwb:
            str(nwb)
            nwb.keys()
    assert all(n <= 4096 for _, n in reads), reads


def test_opening_reads_few_bytes(session_files):
    for path in session_files.values():
        counter = CountingFile(path)
        f = h5py.File(counter, "r")
        try:
            counter.n = 0
            nwb = NWBFile(f)
            str(nwb)
            assert counter.n < 256 * 1024, counter.n
        finally:
            f.close()
            counter.close()


# ---------------------------------------------------------------------------------------- bad input
def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope.nwb"
    with pytest.raises(FileNotFoundError, match="nope.nwb") as err:
        NWBFile(missing)
    assert isinstance(err.value, LocalFileNotFoundError) and isinstance(err.value, nap.NapstreamError)


def test_not_hdf5(tmp_path):
    bad = tmp_path / "random.nwb"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(FileFormatError, match="random.nwb"):
        NWBFile(bad)
    with pytest.raises(ValueError):
        NWBFile(tmp_path)  # a directory


def test_hdf5_not_nwb(tmp_path):
    p = tmp_path / "plain.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(NotNWBError, match="not an NWB file"):
        NWBFile(p)


def test_truncated_nwb(small_session, tmp_path):
    p = tmp_path / "truncated.nwb"
    data = small_session.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(FileFormatError, match="truncated.nwb"):
        with NWBFile(p) as nwb:
            for key in nwb.keys():  # if the metadata survived, reading data must fail clearly
                obj = nwb[key]
                np.asarray(getattr(obj, "values", obj))


def test_bad_source_type():
    with pytest.raises(TypeError, match="source must be"):
        NWBFile(12)
    with pytest.raises(TypeError, match="lazy_loading"):
        NWBFile("x.nwb", lazy_loading="yes")


def test_unknown_key_suggests_closest(small_session):
    with NWBFile(small_session) as nwb:
        with pytest.raises(KeyNotFoundError, match="'units'") as err:
            nwb["unit"]
        assert isinstance(err.value, KeyError)
        with pytest.raises(KeyError, match="SpatialSeriesLED1"):
            nwb["SpatialSeriesLED"]


def test_unsupported_type_listed_and_readable_error(mock_session):
    with NWBFile(mock_session) as nwb:
        assert nwb.type_of("still_images") == "unsupported: Images"
        with pytest.raises(UnsupportedTypeError, match="Images") as err:
            nwb["still_images"]
        assert isinstance(err.value, NotImplementedError)
        assert "still_images" not in dict(nwb.items())


def test_dataset_ref_pickles_and_reopens(small_session):
    ref = DatasetRef(str(small_session), "/units/spike_times")
    back = pickle.loads(pickle.dumps(ref))
    with h5py.File(small_session, "r") as f:
        np.testing.assert_array_equal(np.asarray(back.open()[:]), f["/units/spike_times"][:])


def test_load_file_npz_dispatch_like_pynapple(tmp_path):
    import pynapple

    ep = pynapple.IntervalSet(start=[0, 10], end=[5, 20])
    ep.save(str(tmp_path / "ep.npz"))
    ours = load_file(tmp_path / "ep.npz")
    np.testing.assert_array_equal(ours.values, pynapple.load_file(str(tmp_path / "ep.npz")).values)
    assert type(ours).__module__.startswith("napstream")
    np.savez(tmp_path / "plain.npz", x=np.arange(3))
    np.testing.assert_array_equal(load_file(tmp_path / "plain.npz")["x"], np.arange(3))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_file(tmp_path / "missing.npz")


def test_lazy_arrays_pickle_with_their_ref(small_session):
    with NWBFile(small_session) as nwb:
        for key in ("SpatialSeriesLED1", "ElectricalSeriesLFP"):
            lazy = nwb[key].lazy_data[10:20]
            back = pickle.loads(pickle.dumps(lazy))
            np.testing.assert_array_equal(back.load(), lazy.load())


def test_remote_source_and_ref(small_session, http_server, tmp_path):
    server = http_server(small_session.parent)
    url = server.url_for(small_session.name)
    with NWBFile(url, cache_dir=str(tmp_path / "cache")) as remote, NWBFile(small_session) as local:
        assert remote.keys() == local.keys()
        assert remote.io_stats.requests > 0
        lazy = remote["SpatialSeriesLED1"].lazy_data
        assert lazy.ref.source_description == url
        back = pickle.loads(pickle.dumps(lazy))
        np.testing.assert_array_equal(back.load(), local["SpatialSeriesLED1"].lazy_data.load())


def test_damaged_metadata_is_a_file_format_error(small_session, tmp_path, monkeypatch):
    import napstream.nwb.file as nwb_file

    def broken(f):
        raise OSError("Can't read data (wrong B-tree signature)")

    monkeypatch.setattr(nwb_file, "walk", broken)
    with pytest.raises(FileFormatError, match="small.nwb"):
        NWBFile(small_session)
