"""Bytes a remote open (and a first small read) fetches on odd but realistic NWB layouts (not a test).

Writes (under a temporary folder, deleted at the end) NWB files with layouts napstream's own
generators do not make, serves them through the loopback Range server (``--latency`` per request)
and prints, for each: the file size; bytes / requests / round trips of ``nap.NWBFile(url,
cache_dir=...)`` + ``keys()`` + ``repr()`` (and "read KiB": the union of the byte ranges h5py and
napstream read from the source meanwhile, what the open needs); then of reading one small object, next to what that
object needs (the stored bytes of the chunks it touches). ``--realnwb`` adds every file of
``../shared/realnwb`` (read in place, never copied). Every remote open is checked against the local
open of the same file (same keys, same values of the object read): a difference is printed as
``MISMATCH``.

Usage::

    python -m benchmarks.bench_open_shapes [--latency 0.02] [--realnwb] [--only far units ...] [--block-size N]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REALNWB = HERE.parent.parent / "shared" / "realnwb"
T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


# -- writers -----------------------------------------------------------------------------------------
def _nwbfile(name: str) -> Any:
    import pynwb

    return pynwb.NWBFile(f"odd layout {name}", name, T0)


def _write(path: Path, nwbfile: Any, libver: str | None = None) -> None:
    import h5py
    import pynwb

    if libver is None:
        with pynwb.NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
        return
    with h5py.File(path, "w", libver=libver) as f, pynwb.NWBHDF5IO(file=f, mode="w") as io:
        io.write(nwbfile)


def write_far(path: Path, n: int = 40, samples: int = 100_000, libver: str | None = None) -> str:
    """Many TimeSeries written at once: each header next to its 0.8 MB of contiguous data."""
    import pynwb

    f, rng = _nwbfile("far"), np.random.default_rng(1)
    for k in range(n):
        f.add_acquisition(pynwb.TimeSeries(name=f"ts{k:02d}", data=rng.standard_normal(samples), unit="V", rate=1000.0))
    _write(path, f, libver)
    return f"ts{n // 2:02d}"


def write_appended(path: Path, sessions: int = 6, per: int = 6, samples: int = 100_000) -> str:
    """Series appended in several ``NWBHDF5IO(mode="a")`` sessions (each adds its metadata at the end)."""
    import pynwb

    rng = np.random.default_rng(2)
    f = _nwbfile("appended")
    f.add_acquisition(pynwb.TimeSeries(name="ts_s0_0", data=rng.standard_normal(samples), unit="V", rate=1000.0))
    _write(path, f)
    for s in range(1, sessions):
        with pynwb.NWBHDF5IO(str(path), "a") as io:
            nwb = io.read()
            mod = nwb.processing["extra"] if "extra" in nwb.processing else nwb.create_processing_module("extra", "appended")
            for k in range(per):
                ts = pynwb.TimeSeries(name=f"ts_s{s}_{k}", data=rng.standard_normal(samples), unit="V",
                                      timestamps=np.arange(samples) / 1000.0 if k % 2 else None,
                                      rate=None if k % 2 else 1000.0)
                if s % 2:
                    nwb.add_acquisition(ts)
                else:
                    mod.add(ts)
            io.write(nwb)
    return f"ts_s{sessions - 1}_1"


def write_units(path: Path, n_units: int = 600, libver: str | None = None) -> str:
    """Many units with ragged spike times (a few to thousands each), with a couple of columns."""
    f, rng = _nwbfile("units"), np.random.default_rng(3)
    f.add_unit_column("quality", "sorter label")
    f.add_unit_column("depth", "um")
    for u in range(n_units):
        n = int(rng.lognormal(6, 1.2)) + 1
        f.add_unit(spike_times=np.sort(rng.uniform(0, 3600, n)), quality="good" if u % 3 else "mua",
                   depth=float(u))
    _write(path, f, libver)
    return "units"


def _electrodes(f: Any, n: int, extra_columns: int = 0) -> Any:
    device = f.create_device("probe")
    group = f.create_electrode_group("shank0", "shank", "brain", device)
    for c in range(extra_columns):
        f.add_electrode_column(f"col{c:02d}", f"extra column {c}")
    for e in range(n):
        extra = {f"col{c:02d}": (f"v{e}_{c}" if c % 3 == 0 else float(e * c)) for c in range(extra_columns)}
        f.add_electrode(location="CA1", group=group, x=float(e), y=0.0, z=0.0, imp=1.0, filtering="none",
                        **extra)
    return f.create_electrode_table_region(list(range(n)), "all")


def write_wide_raw(path: Path, channels: int = 128, samples: int = 200_000) -> str:
    """A wide int16 ElectricalSeries in many small chunks (500 x 16): a big version 1 chunk B-tree."""
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO

    f = _nwbfile("wide")
    region = _electrodes(f, channels)
    data = (np.random.default_rng(4).standard_normal((samples, channels)) * 100).astype("int16")
    f.add_acquisition(pynwb.ecephys.ElectricalSeries(name="raw", data=H5DataIO(data, chunks=(500, 16)),
                                                     electrodes=region, rate=30000.0))
    _write(path, f)
    return "raw"


def write_compressed(path: Path, channels: int = 64, samples: int = 200_000) -> str:
    """gzip + shuffle chunks of a slowly varying signal (compresses), with explicit timestamps."""
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO

    f = _nwbfile("compressed")
    region = _electrodes(f, channels)
    rng = np.random.default_rng(5)
    data = np.cumsum(rng.integers(-3, 4, (samples, channels)), axis=0).astype("int16")
    f.add_acquisition(pynwb.ecephys.ElectricalSeries(
        name="lfp", data=H5DataIO(data, chunks=(2000, 16), compression="gzip", shuffle=True),
        timestamps=H5DataIO(np.arange(samples) / 1250.0, chunks=(10_000,), compression="gzip", shuffle=True),
        electrodes=region))
    _write(path, f)
    return "lfp"


def write_deep(path: Path, modules: int = 20, per: int = 20) -> str:
    """A processing tree of hundreds of small groups (modules > interfaces > series)."""
    import pynwb

    f, rng = _nwbfile("deep"), np.random.default_rng(6)
    for m in range(modules):
        mod = f.create_processing_module(f"mod{m:02d}", "deep")
        iface = pynwb.behavior.BehavioralTimeSeries(name=f"beh{m:02d}")
        for k in range(per):
            iface.add_timeseries(pynwb.TimeSeries(name=f"s{m:02d}_{k:02d}", data=rng.standard_normal(100),
                                                  unit="a.u.", timestamps=np.sort(rng.uniform(0, 10, 100))))
        mod.add(iface)
    _write(path, f)
    return f"s{modules // 2:02d}_03"


def write_electrodes(path: Path, n: int = 384, columns: int = 30) -> str:
    """A wide electrodes table (strings, floats, the group reference) used by a small series."""
    import pynwb

    f = _nwbfile("electrodes")
    region = _electrodes(f, n, columns)
    data = np.random.default_rng(7).standard_normal((3000, n)).astype("float32")
    f.add_acquisition(pynwb.ecephys.ElectricalSeries(name="es", data=data, electrodes=region, rate=1000.0))
    _write(path, f)
    return "es"


def write_many_far(path: Path) -> str:
    """200 series of 160 KB: 200 headers 160 KB apart (joining them would fetch the whole file)."""
    return write_far(path, n=200, samples=20_000)


def write_latest_far(path: Path) -> str:
    return write_far(path, n=40, libver="latest")


def write_latest_units(path: Path) -> str:
    return write_units(path, libver="latest")


def write_external(path: Path) -> str:
    """A file whose acquisition links (HDF5 external link) to a series in another file."""
    import h5py

    other = path.with_name(path.stem + "_target.nwb")
    write_far(other, n=4)
    write_far(path, n=4)
    with h5py.File(path, "a") as f:
        f["acquisition/linked"] = h5py.ExternalLink(other.name, "/acquisition/ts01")
    return "ts02"


def write_userblock(path: Path) -> str:
    """A file with a 1024-byte user block before the HDF5 superblock (h5py ``userblock_size``)."""
    import h5py
    import pynwb

    f, rng = _nwbfile("userblock"), np.random.default_rng(8)
    for k in range(4):
        f.add_acquisition(pynwb.TimeSeries(name=f"ts{k}", data=rng.standard_normal(50_000), unit="V", rate=100.0))
    with h5py.File(path, "w", userblock_size=1024) as h5, pynwb.NWBHDF5IO(file=h5, mode="w") as io:
        io.write(f)
    return "ts2"


def write_many_children(path: Path, n: int = 600) -> str:
    """One group with hundreds of small series (a multi-level group B-tree, many symbol table nodes)."""
    import pynwb

    f, rng = _nwbfile("children"), np.random.default_rng(9)
    for k in range(n):
        f.add_acquisition(pynwb.TimeSeries(name=f"c{k:04d}", data=rng.standard_normal(20), unit="V", rate=10.0))
    _write(path, f)
    return f"c{n // 2:04d}"


def write_latest_children(path: Path, n: int = 400) -> str:
    """Hundreds of small series in one group of a ``libver="latest"`` file: dense link storage whose
    fractal heap grows indirect blocks, and a version 2 B-tree name index of several levels."""
    import pynwb

    f, rng = _nwbfile("latest children"), np.random.default_rng(14)
    for k in range(n):
        f.add_acquisition(pynwb.TimeSeries(name=f"series_with_a_long_name_{k:04d}", data=rng.standard_normal(20),
                                           unit="V", rate=10.0))
    _write(path, f, "latest")
    return f"series_with_a_long_name_{n // 2:04d}"


def write_trials_strings(path: Path, n: int = 5000) -> str:
    """A trials table of thousands of rows with variable-length string columns (global heaps)."""
    import pynwb

    f, rng = _nwbfile("trials"), np.random.default_rng(10)
    f.add_trial_column("label", "a string per trial")
    f.add_trial_column("side", "another string")
    starts = np.cumsum(rng.uniform(0.5, 2.0, n))
    for k in range(n):
        f.add_trial(start_time=starts[k], stop_time=starts[k] + 0.4, label=f"trial-{k}-{'x' * (k % 7)}",
                    side="left" if k % 2 else "right")
    f.add_acquisition(pynwb.TimeSeries(name="ts", data=rng.standard_normal(1000), unit="V", rate=10.0))
    _write(path, f)
    return "trials"


def write_empty_and_growable(path: Path) -> str:
    """An empty series, a growable (maxshape) chunked series written short, and a 3-D image series."""
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO

    f, rng = _nwbfile("empty"), np.random.default_rng(12)
    f.add_acquisition(pynwb.TimeSeries(name="empty", data=np.zeros(0), unit="V", timestamps=np.zeros(0)))
    f.add_acquisition(pynwb.TimeSeries(name="grow", data=H5DataIO(rng.standard_normal(5000), maxshape=(None,),
                                                                   chunks=(1000,)), unit="V", rate=10.0))
    f.add_acquisition(pynwb.image.ImageSeries(name="movie", data=H5DataIO(rng.integers(0, 255, (200, 64, 64)).astype("uint8"),
                                                                          chunks=(10, 64, 64), compression="gzip"),
                                              unit="n.a.", rate=30.0))
    _write(path, f)
    return "grow"


def write_latest_chunked(path: Path) -> str:
    """The wide raw series and a growable compressed one in a ``libver="latest"`` file: the newer
    chunk indexes (fixed array, extensible array) instead of version 1 B-trees."""
    import pynwb
    from hdmf.backends.hdf5 import H5DataIO

    f = _nwbfile("latest chunked")
    region = _electrodes(f, 64)
    rng = np.random.default_rng(13)
    data = (rng.standard_normal((200_000, 64)) * 100).astype("int16")
    f.add_acquisition(pynwb.ecephys.ElectricalSeries(name="raw", data=H5DataIO(data, chunks=(500, 16)),
                                                     electrodes=region, rate=30000.0))
    grow = np.cumsum(rng.integers(-3, 4, (100_000, 8)), axis=0).astype("int16")
    f.add_acquisition(pynwb.TimeSeries(name="grow", data=H5DataIO(grow, chunks=(1000, 8), maxshape=(None, 8),
                                                                   compression="gzip", shuffle=True),
                                       unit="V", timestamps=H5DataIO(np.arange(100_000) / 100.0, chunks=(5000,),
                                                                     maxshape=(None,))))
    _write(path, f, "latest")
    return "grow"


def write_latest_raw(path: Path) -> str:
    write_latest_chunked(path)
    return "raw"


LAYOUTS: dict[str, Callable[[Path], str]] = {
    "far": write_far, "appended": write_appended, "units": write_units, "wide_raw": write_wide_raw,
    "compressed": write_compressed, "deep": write_deep, "electrodes": write_electrodes,
    "latest_far": write_latest_far, "latest_units": write_latest_units, "external": write_external,
    "userblock": write_userblock, "many_children": write_many_children, "trials_strings": write_trials_strings,
    "empty_growable": write_empty_and_growable, "latest_chunked": write_latest_chunked,
    "latest_raw": write_latest_raw, "many_far": write_many_far, "latest_children": write_latest_children,
}


# -- what a read needs -------------------------------------------------------------------------------
def _stored(path: Path, location: str, rows: int | None) -> int:
    """Stored bytes of the chunks (or contiguous bytes) of ``location`` touched by rows [0, rows)."""
    import h5py

    with h5py.File(path, "r") as f:
        obj = f[location]
        names = ["data", "timestamps"] if isinstance(obj, h5py.Group) else [None]
        total = 0
        for name in names:
            if name is not None and name not in obj:
                continue
            d = obj if name is None else obj[name]
            if not isinstance(d, h5py.Dataset) or d.shape is None or not d.shape:
                continue
            if rows is None:
                total += int(d.id.get_storage_size())
            elif d.chunks is None:
                total += min(rows, d.shape[0]) * int(np.prod(d.shape[1:], dtype=np.int64)) * d.dtype.itemsize
            else:
                for k in range(d.id.get_num_chunks()):
                    info = d.id.get_chunk_info(k)
                    if info.chunk_offset[0] < rows:
                        total += int(info.size)
        return total


def _units_stored(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return sum(int(f["units"][n].id.get_storage_size()) for n in ("spike_times", "spike_times_index", "id"))


def _read(nwb: Any, key: str) -> dict[str, np.ndarray]:
    obj = nwb[key]
    if key == "units":
        return {f"u{k}": np.asarray(obj[k].t) for k in obj.keys()}
    if not hasattr(obj, "t"):  # an IntervalSet: its bounds and its metadata columns
        out = {"start": np.asarray(obj.start), "end": np.asarray(obj.end)}
        for col in getattr(obj, "metadata_columns", []):
            out[col] = np.asarray(obj[col])
        return out
    head = obj[:10]  # a lazy slice: its 10 rows only (``obj.values`` would read them all)
    return {"t": np.asarray(head.t), "d": np.asarray(head.values)}


def _read_middle(nwb: Any, key: str) -> dict[str, np.ndarray]:
    """10 rows from the middle of a series (a chunk index lookup away from the first rows)."""
    obj = nwb[key]
    if not hasattr(obj, "t") or key == "units":
        return {}
    mid = len(obj) // 2
    part = obj[mid: mid + 10]
    return {"mid_t": np.asarray(part.t), "mid_d": np.asarray(part.values)}


# -- measuring ---------------------------------------------------------------------------------------
class _Asked:
    """Records the byte ranges h5py and napstream ask a source for (``read_unplanned``, ``read_range``):
    their union is what the open needs; everything fetched beyond it is padding or waste."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def __enter__(self) -> "_Asked":
        from napstream.io.base import BaseSource

        self._saved = {name: getattr(BaseSource, name) for name in ("read_unplanned", "read_range")}
        for name, fn in self._saved.items():
            def spy(src: Any, start: int, end: int, _fn: Any = fn) -> bytes:
                self.ranges.append((int(start), int(end)))
                return _fn(src, start, end)
            setattr(BaseSource, name, spy)
        return self

    def __exit__(self, *exc: object) -> None:
        from napstream.io.base import BaseSource

        for name, fn in self._saved.items():
            setattr(BaseSource, name, fn)

    def union(self) -> int:
        total, reach = 0, -1
        for a, b in sorted(self.ranges):
            if b > reach:
                total += b - max(a, reach)
                reach = b
        return total


def measure(path: Path, url: str, key: str | None, cache: Path, **options: Any) -> dict[str, Any]:
    import napstream as nap

    row: dict[str, Any] = {"file": path.name, "size": path.stat().st_size, "note": ""}
    t0 = time.perf_counter()
    try:
        with _Asked() as asked, nap.track_io() as opened, nap.NWBFile(url, cache_dir=cache, **options) as nwb:
            repr(nwb)
            keys = nwb.keys()
            row.update(open_bytes=opened.bytes_fetched, open_req=opened.requests, open_rt=opened.round_trips,
                       open_s=time.perf_counter() - t0, open_need=asked.union())
            if key is not None:
                with nap.track_io() as read:
                    got = _read(nwb, key)
                row.update(read_bytes=read.bytes_fetched, read_req=read.requests, read_rt=read.round_trips)
                with nap.track_io() as mid:
                    got.update(_read_middle(nwb, key))
                row.update(mid_bytes=mid.bytes_fetched, mid_rt=mid.round_trips)
                loc = nwb.entry(key).location
    except Exception as err:  # noqa: BLE001 - a benchmark row, not a crash
        row["note"] = f"REMOTE ERROR {type(err).__name__}: {str(err)[:80]}"
        return row
    try:
        with nap.NWBFile(path) as local:
            if local.keys() != keys:
                row["note"] += f"MISMATCH keys {sorted(set(local.keys()) ^ set(keys))[:4]} "
            if key is not None:
                want = _read(local, key)
                want.update(_read_middle(local, key))
                for name in want:
                    if not np.array_equal(want[name], got[name]):
                        row["note"] += f"MISMATCH {key}.{name} "
    except Exception as err:  # noqa: BLE001
        row["note"] += f"local error {type(err).__name__}: {str(err)[:60]}"
    if key is not None:
        row["need"] = _units_stored(path) if key == "units" else _stored(path, loc, 10)
    return row


def _mib(n: Any) -> str:
    return "-" if n is None else f"{n / 2**20:.2f}"


def _print(rows: list[dict[str, Any]]) -> None:
    head = (f"{'file':44s} {'size MiB':>9s} {'open MiB':>9s} {'open%':>6s} {'read KiB':>9s} {'req':>5s} {'rt':>4s} "
            f"{'read KiB':>9s} {'need KiB':>9s} {'req':>5s} {'rt':>4s} {'mid KiB':>8s} {'rt':>3s}  note")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "open_bytes" not in r:
            print(f"{r['file'][:44]:44s} {_mib(r['size']):>9s}  {r['note']}")
            continue
        rd, need = r.get("read_bytes"), r.get("need")
        rd_s = "-" if rd is None else f"{rd / 1024:.1f}"
        need_s = "-" if need is None else f"{need / 1024:.1f}"
        mid_s = "-" if r.get("mid_bytes") is None else f"{r['mid_bytes'] / 1024:.1f}"
        print(f"{r['file'][:44]:44s} {_mib(r['size']):>9s} {_mib(r['open_bytes']):>9s} "
              f"{100 * r['open_bytes'] / r['size']:6.1f} {r['open_need'] / 1024:9.1f} {r['open_req']:5d} {r['open_rt']:4d} "
              f"{rd_s:>9s} {need_s:>9s} "
              f"{r.get('read_req', '-'):>5} {r.get('read_rt', '-'):>4} {mid_s:>8s} {r.get('mid_rt', '-'):>3}  {r['note']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--realnwb", action="store_true", help="also every file of ../shared/realnwb")
    parser.add_argument("--block-size", type=int, default=None, help="the remote source's block size")
    parser.add_argument("--only", nargs="*", default=None, help=f"layouts among {sorted(LAYOUTS)}")
    args = parser.parse_args(argv)
    from napstream.testing.server_process import ServerProcess

    warnings.simplefilter("ignore")
    options = {} if args.block_size is None else {"block_size": args.block_size}
    work = Path(tempfile.mkdtemp(prefix="bench_open_shapes_"))
    rows = []
    try:
        files = work / "files"
        files.mkdir()
        todo = []
        for name in args.only if args.only is not None else LAYOUTS:
            path = files / f"{name}.nwb"
            todo.append((path, LAYOUTS[name](path)))
        with ServerProcess(files, latency=args.latency) as server:
            for k, (path, key) in enumerate(todo):
                rows.append(measure(path, server.url_for(path.name), key, work / f"cache{k}", **options))
        if args.realnwb and REALNWB.is_dir():
            with ServerProcess(REALNWB, latency=args.latency) as server:
                for k, path in enumerate(sorted(REALNWB.glob("*.nwb"))):
                    rows.append(measure(path, server.url_for(path.name), None, work / f"real{k}", **options))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print(rows)


if __name__ == "__main__":
    main()
