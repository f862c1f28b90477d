"""Seeded byte-mutation fuzzing of NWB files through the full remote open (issue #16).

Each mutant of a good NWB file (bytes flipped or overwritten, mostly inside its HDF5 metadata, found
by napstream's own metadata walk) is served by the loopback fault server, opened over HTTP, and
every key is read in full. A case passes when it ends within ``max_seconds`` with at most
``max_rss`` more resident memory, and either raises a napstream error or returns exactly what the
same bytes give when read locally (a local read that fails with a napstream error while the remote
one succeeds is accepted: the remote read saw fewer bytes).

Run the whole campaign as a script (the CI runs a small slice, ``tests/reliability/test_fuzz.py``)::

    PYTHONPATH=src python tests/reliability/fuzz_open.py --cases 300 --seed 1

It prints one line per failing case and a summary; the exit status is 1 when a case failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: what each case may cost at most
MAX_SECONDS = 30.0
MAX_RSS = 500 * 2**20


@dataclass
class Outcome:
    """What one mutant did: ``kind`` is "ok", "napstream_error" or a failure kind."""

    name: str
    kind: str
    seconds: float
    rss: int
    detail: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures)


# ------------------------------------------------------------------------------------------ mutants
def metadata_offsets(path: Path) -> list[int]:
    """File offsets of the HDF5 structures napstream's metadata walk visits (and the superblock)."""
    from napstream.io.local import LocalSource
    from napstream.nwb.h5meta import MetadataWalk

    with LocalSource(path) as src:
        walk = MetadataWalk(src)
        walk.run()
    return sorted({0, *(addr for _, addr in walk._seen)})


def mutate(data: bytes, offsets: list[int], rng: random.Random) -> tuple[bytes, str]:
    """One seeded mutant of ``data`` and a description of what was changed."""
    raw = bytearray(data)
    how = rng.choice(["flip", "flip", "word", "word", "zero", "anywhere"])
    if how == "anywhere":
        at = rng.randrange(len(raw))
    else:
        at = min(rng.choice(offsets) + rng.randrange(0, 160), len(raw) - 1)
    if how == "flip":
        n = rng.randint(1, 8)
        for k in range(n):
            raw[min(at + rng.randrange(48), len(raw) - 1)] ^= 1 << rng.randrange(8)
    elif how == "word":  # an address or length replaced: huge, just past the end, or random
        value = rng.choice([2**64 - 2, 2**63, len(raw) + rng.randrange(1, 2**20), rng.randrange(2**32),
                            rng.randrange(len(raw)), 2**40])
        at = min(at, len(raw) - 8)
        raw[at: at + 8] = struct.pack("<Q", value)
    elif how == "zero":
        n = rng.randint(4, 64)
        raw[at: at + n] = bytes(min(n, len(raw) - at))
    else:
        raw[at] = rng.randrange(256)
    return bytes(raw), f"{how}@{at}"


# ------------------------------------------------------------------------------------------ reading
def read_everything(nwb: Any) -> dict[str, Any]:
    """Every key of an open NWBFile, materialised as numpy arrays (the comparison basis)."""
    out: dict[str, Any] = {}
    for key in nwb.keys():
        out[key] = materialise(nwb[key])
    return out


def materialise(obj: Any) -> Any:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return {str(c): np.asarray(obj[c].to_numpy()) for c in obj.columns}
    if hasattr(obj, "keys") and hasattr(obj, "__getitem__") and not hasattr(obj, "t"):  # TsGroup-like
        return {str(k): materialise(obj[k]) for k in obj.keys()}
    if hasattr(obj, "start") and hasattr(obj, "end") and not hasattr(obj, "t"):  # IntervalSet
        return {"start": np.asarray(obj.start), "end": np.asarray(obj.end)}
    out = {}
    for name in ("t", "values"):
        if hasattr(obj, name):
            value = getattr(obj, name)
            out[name] = np.asarray(value) if value is not None else None
    return out if out else repr(obj)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "O":  # strings, h5py references (two null references are not ==)
            return all(x == y or repr(x) == repr(y) for x, y in zip(a.ravel(), b.ravel()))
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    return bool(a == b) if not isinstance(a, np.ndarray) else False


# ------------------------------------------------------------------------------------------ one case
def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _peak_growth(fn: Any) -> int:
    """Peak growth of the resident memory while ``fn()`` runs."""
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(peak[0] - base, 0)


def _attempt(fn: Any) -> tuple[str, Any]:
    from napstream.errors import NapstreamError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except NapstreamError as err:
        return "napstream_error", f"{type(err).__name__}: {err}"
    except MemoryError as err:
        return "memory_error", repr(err)
    except Exception as err:  # noqa: BLE001 - a raw error is a finding
        import traceback

        frames = [f for f in traceback.extract_tb(err.__traceback__) if "napstream" in f.filename]
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name})" if frames else ""
        return "raw_error", f"{type(err).__name__}: {err}{where}"


def run_case(name: str, path: Path, url: str, max_seconds: float = MAX_SECONDS, max_rss: int = MAX_RSS) -> Outcome:
    """Open ``url`` (served bytes of ``path``) remotely and read every key; judge against a local read."""
    import napstream as nap

    def remote() -> Any:
        with nap.NWBFile(url, cache=False, block_size=4096) as nwb:
            return read_everything(nwb)

    def local() -> Any:
        with nap.NWBFile(path) as nwb:
            return read_everything(nwb)

    result: dict[str, Any] = {}
    base = _rss()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    worker = threading.Thread(target=lambda: result.update(remote=_attempt(remote)), daemon=True)
    worker.start()
    worker.join(max_seconds)
    seconds = time.monotonic() - t0
    done.set()
    sampler.join()
    grown = max(peak[0] - base, 0)
    if worker.is_alive():
        return Outcome(name, "hang", seconds, grown, failures=[f"still running after {max_seconds:.0f} s"])
    kind, value = result["remote"]
    out = Outcome(name, kind, seconds, grown, detail=value if isinstance(value, str) else "")
    if grown > max_rss:
        local_grown = _peak_growth(lambda: _attempt(local))
        if local_grown < 0.8 * grown:
            out.failures.append(f"resident memory grew by {grown / 2**20:.0f} MiB ({local_grown / 2**20:.0f} MiB locally)")
        else:  # libhdf5 itself allocates that much for these bytes, local file or not
            out.detail += f" [libhdf5 allocates {local_grown / 2**20:.0f} MiB for these bytes locally too]"
    if kind not in ("ok", "napstream_error"):
        out.failures.append(f"{kind}: {value}"[:300])
    elif kind == "ok":
        lkind, lvalue = _attempt(local)
        if lkind == "ok" and not same(value, lvalue):
            out.failures.append("remote result differs from the local read of the same bytes")
        elif lkind not in ("ok", "napstream_error"):
            out.failures.append(f"local {lkind}: {lvalue}"[:300])
    return out


# ------------------------------------------------------------------------------------------ campaign
def campaign(bases: list[Path], n_cases: int, seed: int, workdir: Path, verbose: bool = False) -> list[Outcome]:
    """``n_cases`` mutants spread over ``bases``, each run through :func:`run_case`."""
    import napstream as nap
    from napstream.testing.http_server import RangeHTTPServer

    rng = random.Random(seed)
    served = workdir / "served"
    served.mkdir(parents=True, exist_ok=True)
    goods = [(b, b.read_bytes(), metadata_offsets(b)) for b in bases]
    outcomes = []
    with RangeHTTPServer(served) as server, nap.config.override(retries=0, timeout=5.0):
        for case in range(n_cases):
            base, data, offsets = goods[case % len(goods)]
            mutant, how = mutate(data, offsets, rng)
            path = served / f"m{case}.nwb"
            path.write_bytes(mutant)
            out = run_case(f"{base.name}#{case} {how}", path, server.url_for(path.name))
            outcomes.append(out)
            if verbose or out.failed:
                print(f"{'FAIL' if out.failed else 'ok  '} {out.name}: {out.kind} {out.seconds:.2f}s "
                      f"+{out.rss / 2**20:.0f}MiB {'; '.join(out.failures) or out.detail[:120]}", flush=True)
            path.unlink()
            if out.kind == "hang":  # the process now runs a stuck thread: stop here
                break
    return outcomes


def default_bases(repo: Path, workdir: Path) -> list[Path]:
    """The reliability session and the real NWB files next to the repository (when present)."""
    from napstream.testing.sessions import write_session

    bases = [write_session(workdir / "session.nwb", duration=40.0, n_units=12, n_channels=2, seed=7)]
    real = repo.parent / "shared" / "realnwb"
    for name in ("pynapple__A8604-211122.nwb", "neuroconv__ecephys_tutorial_v2.5.0.nwb",
                 "pynwb__2.3.2_old_electrodes_table_full.nwb", "matnwb__ecephys_tutorial.nwb"):
        if (real / name).exists():
            copy = workdir / name
            shutil.copyfile(real / name, copy)  # a temporary working copy: the mutants are written next to it
            bases.append(copy)
    return bases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="napstream-fuzz-"))
    try:
        bases = default_bases(Path(__file__).resolve().parents[2], workdir)
        t0 = time.monotonic()
        outcomes = campaign(bases, args.cases, args.seed, workdir, args.verbose)
        kinds: dict[str, int] = {}
        for o in outcomes:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        failed = [o for o in outcomes if o.failed]
        slowest = max(outcomes, key=lambda o: o.seconds)
        print(f"{len(outcomes)} cases in {time.monotonic() - t0:.0f} s: {kinds}; {len(failed)} failed; "
              f"slowest {slowest.seconds:.2f} s ({slowest.name}); "
              f"max memory growth {max(o.rss for o in outcomes) / 2**20:.0f} MiB")
        return 1 if failed else 0
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
