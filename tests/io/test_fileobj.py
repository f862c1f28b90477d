"""FileObject: file semantics equal io.BytesIO's; h5py over loopback HTTP equals local h5py."""

from __future__ import annotations

import io
import os

import h5py
import numpy as np
import pytest

from napstream.errors import InvalidInputError, InvalidTypeError
from napstream.io import FileObject, open_source
from napstream.io.http import HTTPSource


@pytest.fixture(scope="module")
def h5_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("h5")
    path = root / "rec.h5"
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "session"
        f.create_dataset("lfp", data=rng.normal(size=(40000, 8)).astype("f4"), chunks=(2048, 8), compression="gzip")
        f.create_dataset("spikes", data=np.sort(rng.uniform(0, 100, 30000)))  # contiguous
        _compact_dataset(f, "small", np.arange(6, dtype="i2"))
        f.create_dataset("names", data=np.array(["a", "bb", "ccc"], dtype=object), dtype=h5py.string_dtype())
        grp = f.create_group("processing/behavior")
        for i in range(30):
            d = grp.create_dataset(f"series_{i}", data=rng.integers(0, 100, 500), chunks=(100,))
            d.attrs["unit"] = f"u{i}"
    return path


def _compact_dataset(f: h5py.File, name: str, data: np.ndarray) -> None:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple(data.shape)
    dsid = h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(data.dtype), space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def _walk(f: h5py.File) -> dict:
    out = {}

    def visit(name, obj):
        attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        value = obj[()] if isinstance(obj, h5py.Dataset) else None
        out[name] = (attrs, value)

    f.visititems(visit)
    out["/"] = ({k: np.asarray(v).tolist() for k, v in f.attrs.items()}, None)
    return out


def _assert_same_tree(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key][0] == b[key][0], key
        if a[key][1] is None:
            assert b[key][1] is None
        else:
            np.testing.assert_array_equal(a[key][1], b[key][1])


@pytest.mark.parametrize("block_size, cache", [(2 * 2**20, True), (16384, False)])
def test_h5py_over_loopback_equals_local(h5_file, http_server, tmp_path, block_size, cache):
    server = http_server(h5_file.parent)
    with h5py.File(h5_file, "r") as local:
        expected = _walk(local)
    src = open_source(server.url_for("rec.h5"), cache_dir=tmp_path, cache=cache, block_size=block_size)
    with src, h5py.File(FileObject(src), "r") as remote:
        _assert_same_tree(_walk(remote), expected)
        np.testing.assert_array_equal(remote["lfp"][1000:3000, 2], expected["lfp"][1][1000:3000, 2])


def test_opening_and_listing_costs_a_handful_of_round_trips(h5_file, http_server, tmp_path):
    server = http_server(h5_file.parent)
    with open_source(server.url_for("rec.h5"), cache_dir=tmp_path) as src, h5py.File(FileObject(src), "r") as f:
        names = []
        f.visit(names.append)
        attrs = [dict(f[n].attrs) for n in names]
        assert len(names) == 36 and attrs
        assert src.stats.round_trips <= 2
        assert server.stats.requests <= 4


def test_warm_reopen_makes_zero_data_requests(h5_file, http_server, tmp_path):
    server = http_server(h5_file.parent)
    url = server.url_for("rec.h5")
    with open_source(url, cache_dir=tmp_path, block_size=65536) as src, h5py.File(FileObject(src), "r") as f:
        first = _walk(f)
    server.reset_stats()
    with open_source(url, cache_dir=tmp_path, block_size=65536) as src, h5py.File(FileObject(src), "r") as f:
        _assert_same_tree(_walk(f), first)
    # only the content check of the reopen: a few random cached bytes compared with the server's
    check = HTTPSource.reopen_samples * HTTPSource.sample_width
    assert server.stats.by_method.get("GET", 0) == HTTPSource.reopen_samples and server.stats.bytes_sent == check


def test_file_semantics_match_bytesio(h5_file):
    data = h5_file.read_bytes()[:50000]
    path = h5_file.parent / "part.bin"
    path.write_bytes(data)
    ref = io.BytesIO(data)
    ours = FileObject(open_source(path), close_source=True)
    ops = [("read", 10), ("seek", 100, 0), ("read", 5), ("seek", 7, 1), ("tell",), ("read", 0),
           ("seek", -20, 2), ("read", 100), ("read", 10), ("tell",), ("seek", 60000, 0), ("read", 4),
           ("tell",), ("seek", 0, 0), ("read", -1), ("seek", 3, 0), ("read", None)]
    for op in ops:
        assert getattr(ours, op[0])(*op[1:]) == getattr(ref, op[0])(*op[1:]), op
    buf_a, buf_b = bytearray(64), bytearray(64)
    ours.seek(49980)
    ref.seek(49980)
    assert ours.readinto(buf_a) == ref.readinto(buf_b) == 20 and buf_a == buf_b
    assert ours.readable() and ours.seekable() and not ours.writable()
    assert ours.name == str(path)
    ours.close()
    assert ours.closed and ours.source.closed


def test_readinto_numpy_buffer(h5_file):
    src = open_source(h5_file)
    buf = np.zeros(16, dtype=np.uint8)
    f = FileObject(src)
    assert f.readinto(buf) == 16
    assert buf.tobytes() == h5_file.read_bytes()[:16]


def test_bad_arguments(h5_file):
    with pytest.raises(InvalidTypeError, match="ByteSource"):
        FileObject(str(h5_file))
    f = FileObject(open_source(h5_file))
    with pytest.raises(InvalidInputError, match="whence"):
        f.seek(0, 5)
    with pytest.raises(InvalidInputError, match="before the start"):
        f.seek(-1, os.SEEK_SET)


_DEADLOCK_SCRIPT = r"""
import gc, sys, h5py, numpy as np
from napstream.io import FileObject
from napstream.io.http import HTTPSource
from napstream.testing.http_server import RangeHTTPServer

root, name = sys.argv[1], sys.argv[2]
class Cycle: pass
def h5_garbage():  # an h5py object that only the cyclic garbage collector can free
    f = h5py.File(f"{root}/{name}", "r")
    c = Cycle(); c.me = c; c.dset = f["lfp"]
original = HTTPSource._get_range
async def get_range_with_gc(self, r):
    h5_garbage()
    gc.collect()  # frees h5py objects in whatever thread runs the request
    return await original(self, r)
HTTPSource._get_range = get_range_with_gc
gc.disable()
with RangeHTTPServer(root) as server:
    src = HTTPSource(server.url_for(name), block_size=4096)
    with h5py.File(FileObject(src), "r") as f:
        print(float(f["lfp"][:100].sum()))
"""


def test_no_deadlock_when_gc_frees_h5py_objects_during_a_read(h5_file):
    """h5py holds its lock while reading through FileObject: the network I/O must not wait for a thread
    that a garbage collection blocks on that lock (the fsspec background-loop design deadlocked)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _DEADLOCK_SCRIPT, str(h5_file.parent), h5_file.name],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with h5py.File(h5_file, "r") as f:
        assert float(proc.stdout.strip()) == pytest.approx(float(f["lfp"][:100].sum()))
