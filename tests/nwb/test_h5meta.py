"""The HDF5 metadata walk (nwb/h5meta.py): it reaches every piece of metadata h5py reads while a
file is opened and listed, so listing a remote file after it makes no request; it takes few round
trips; and it never raises or changes what is read, whatever the file holds."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.io import FileObject, open_source
from napstream.io.local import LocalSource
from napstream.nwb.h5meta import MetadataWalk, prefetch_metadata

PAGE = 4096


class _ReadLog(io.RawIOBase):
    """A file object for h5py that records every read (offset, length)."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.reads: list[tuple[int, int]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        pos = self.f.tell()
        n = self.f.readinto(buffer)
        self.reads.append((pos, n))
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


class _PeekLog(LocalSource):
    """A local source that records what the walk looked at."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.peeks: list[tuple[int, int]] = []

    def _peek(self, r):  # type: ignore[no-untyped-def]
        self.peeks.append((r.start, r.end))
        return super()._peek(r)


def _pages(spans: list[tuple[int, int]]) -> set[int]:
    return {i for a, n in spans for i in range(a // PAGE, (a + max(n, 1) - 1) // PAGE + 1)}


def _h5py_listing_reads(path: Path, nwb: bool) -> list[tuple[int, int]]:
    """Every read h5py makes while napstream opens and lists ``path`` (or h5py visits it)."""
    log = _ReadLog(path)
    f = h5py.File(log, "r")
    try:
        if nwb:
            with nap.NWBFile(f) as opened:
                repr(opened)
        else:
            names: list[str] = []
            f.visit(names.append)
            for name in names:
                dict(f[name].attrs)
    finally:
        f.close()
        log.close()
    return log.reads


def _walked(path: Path) -> tuple[MetadataWalk, set[int]]:
    src = _PeekLog(path)
    walk = MetadataWalk(src)
    assert walk.run() == 0  # everything is local: nothing to fetch
    src.close()
    return walk, _pages([(a, b - a) for a, b in src.peeks])


def test_walk_reaches_every_page_h5py_reads_while_an_nwb_file_is_listed(any_session):
    walk, walked = _walked(any_session)
    read = _pages(_h5py_listing_reads(any_session, nwb=True))
    assert walk.objects > 20
    assert read <= walked, f"pages h5py read that the walk never reached: {sorted(read - walked)[:10]}"


def _write_h5(path: Path, libver: str, n_children: int = 5, n_attrs: int = 3) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w", libver=libver) as f:
        f.attrs["title"] = "a variable-length string attribute"
        f.attrs["numbers"] = np.arange(4)
        grp = f.create_group("processing/behavior")
        for i in range(n_children):
            d = grp.create_dataset(f"series_{i}", data=rng.normal(size=3000), chunks=(500,), compression="gzip")
            d.attrs["unit"] = f"u{i}"
            d.attrs["description"] = np.array(["x" * i, "y"], dtype=object)
        f.create_dataset("contiguous", data=rng.normal(size=5000))
        f.create_dataset("names", data=np.array(["a", "bb", "ccc"], dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("scalar", data="a scalar string", dtype=h5py.string_dtype())
        f["processing"].attrs["target"] = f["contiguous"].ref
        f["link"] = h5py.SoftLink("/contiguous")
        f["hard"] = f["names"]
        for i in range(n_attrs):
            f["contiguous"].attrs[f"attr_{i}"] = f"value {i}" * (i % 3)
    return path


@pytest.mark.parametrize("libver, n_children, n_attrs", [
    ("earliest", 5, 3), ("earliest", 60, 30), ("latest", 5, 3),
    ("latest", 60, 30),  # more than 8 links and attributes: dense storage (fractal heaps, v2 B-trees)
])
def test_walk_reaches_every_page_h5py_reads_in_plain_hdf5_files(tmp_path, libver, n_children, n_attrs):
    path = _write_h5(tmp_path / f"{libver}.h5", libver, n_children, n_attrs)
    walk, walked = _walked(path)
    read = _pages(_h5py_listing_reads(path, nwb=False))
    assert walk.objects >= n_children + 4
    assert read <= walked, f"pages h5py read that the walk never reached: {sorted(read - walked)[:10]}"


def _listing_bytes_without_walk(session: Path, server) -> int:
    with open_source(server.url_for(session.name), cache=False, block_size=PAGE) as src:
        f = h5py.File(FileObject(src), "r")
        with nap.NWBFile(f) as nwb:
            repr(nwb)
        f.close()
        return src.stats.bytes_fetched


def test_listing_a_remote_file_after_the_walk_makes_no_request(small_session, http_server):
    server = http_server(small_session.parent)
    plain = _listing_bytes_without_walk(small_session, server)
    with open_source(server.url_for(small_session.name), cache=False, block_size=PAGE) as src:
        rounds = prefetch_metadata(src)
        assert 1 <= rounds <= 6
        fetched = src.stats.bytes_fetched
        server.reset_stats()
        f = h5py.File(FileObject(src), "r")
        with nap.NWBFile(f) as nwb:
            text = repr(nwb)
        f.close()
        assert "units" in text
        assert server.stats.requests == 0, server.stats.ranges
    # small pages around the metadata only: little more than h5py's own listing fetches
    assert fetched <= 1.25 * plain


def test_remote_open_takes_two_round_trips_and_small_blocks(small_session, http_server, tmp_path):
    server = http_server(small_session.parent, latency=0.01)
    with nap.track_io() as stats, nap.NWBFile(server.url_for(small_session.name), cache_dir=tmp_path) as nwb:
        repr(nwb)
    assert stats.round_trips <= 3
    assert stats.bytes_fetched <= 4 * nap.config.block_size  # first and last blocks, then the walk's


def test_walk_stops_after_max_rounds_and_h5py_reads_the_rest(small_session, http_server):
    server = http_server(small_session.parent)
    with open_source(server.url_for(small_session.name), cache=False, block_size=1024) as src:
        assert prefetch_metadata(src, max_rounds=1) == 1
        f = h5py.File(FileObject(src), "r")
        with nap.NWBFile(f) as nwb, nap.NWBFile(small_session) as local:
            assert nwb.keys() == local.keys()
            np.testing.assert_array_equal(nwb["units"][0].t, local["units"][0].t)
        f.close()


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n", b"not an hdf5 file at all" * 100])
def test_walk_of_something_else_does_nothing(tmp_path, content):
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    with LocalSource(path) as src:
        assert prefetch_metadata(src) == 0


def test_walk_of_damaged_files_never_raises_and_ends(small_session, tmp_path):
    """Random damage to the metadata: the walk ends (bounded) and raises nothing."""
    data = bytearray(small_session.read_bytes())
    walk, walked = _walked(small_session)
    pages = sorted(walked)
    rng = np.random.default_rng(5)
    for k in range(25):
        damaged = bytearray(data)
        for _ in range(20):
            page = int(rng.choice(pages))
            at = min(page * PAGE + int(rng.integers(0, PAGE)), len(damaged) - 1)
            damaged[at] = int(rng.integers(0, 256))
        path = tmp_path / f"d{k}.nwb"
        path.write_bytes(bytes(damaged))
        with LocalSource(path) as src:
            assert prefetch_metadata(src) == 0
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(bytes(data[: len(data) // 3]))
    with LocalSource(truncated) as src:
        assert prefetch_metadata(src) == 0


def test_walk_of_a_remote_non_hdf5_file_fetches_nothing_more(tmp_path, http_server):
    (tmp_path / "x.bin").write_bytes(np.random.default_rng(0).bytes(300_000))
    server = http_server(tmp_path)
    with open_source(server.url_for("x.bin"), cache=False, block_size=4096) as src:
        requests = server.stats.requests  # the open's first and last blocks
        assert prefetch_metadata(src) == 0
        assert server.stats.requests == requests


def test_superblock_after_a_user_block(tmp_path):
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=1024) as f:
        f.create_dataset("a/b", data=np.arange(3))
    walk, walked = _walked(path)
    assert walk.base == 1024 and walk.objects >= 3
    assert _pages(_h5py_listing_reads(path, nwb=False)) <= walked
