"""Shared pieces of the reliability tests: the session's parameters, the user operations of the
fault matrix, exact comparison, the cache verifier and a server restart helper.

A uniquely named module (not ``conftest``) so test modules and ``spawn`` children can import it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: the small session every reliability test reads (about 0.6 MB; writing it takes a few seconds); its
#: spike_times (about 12 KB) spans blocks that the metadata fetched at open does not bring along
SESSION = dict(duration=40.0, n_units=12, n_channels=2, seed=7)
#: blocks small enough that every operation needs requests of its own after the file is opened
BLOCK = 4096
LFP_WINDOW = (10.0, 12.5)
SECRET = "X-Amz-Signature=s3cr3tT0k3n&X-Amz-Credential=AKIAEXAMPLE"


# ------------------------------------------------------------------------------------------ operations
def op_open_list(nwb: Any) -> Any:
    return {"keys": list(nwb.keys()), "types": [nwb.type_of(k) for k in nwb.keys()]}


def op_spikes(nwb: Any) -> Any:
    units = nwb["units"]
    return {k: np.asarray(units[k].t) for k in units.keys()}


def op_position(nwb: Any) -> Any:
    pos = nwb["SpatialSeriesLED1"]
    return {"t": np.asarray(pos.t), "d": np.asarray(pos.values)}


def op_lfp_window(nwb: Any) -> Any:
    import napstream as nap

    lfp = nwb["ElectricalSeriesLFP"].restrict(nap.IntervalSet(*LFP_WINDOW))
    return {"t": np.asarray(lfp.t), "d": np.asarray(lfp.values)}


def op_tuning2d(nwb: Any) -> Any:
    import napstream as nap

    tc, bins = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 10)
    return {"tc": {k: np.asarray(v) for k, v in tc.items()}, "bins": [np.asarray(b) for b in bins]}


def op_psd(nwb: Any) -> Any:
    import napstream as nap

    psd = nap.compute_mean_power_spectral_density(nwb["ElectricalSeriesLFP"], 1.0)
    return {"index": np.asarray(psd.index), "values": np.asarray(psd.values)}


OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "open_list": op_open_list, "spikes": op_spikes, "position": op_position,
    "lfp_window": op_lfp_window, "tuning2d": op_tuning2d, "psd": op_psd,
}


def assert_same(got: Any, expected: Any, where: str = "") -> None:
    """Exact equality of nested dicts / lists of arrays (NaN equals NaN)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), where
        for k in expected:
            assert_same(got[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], np.ndarray):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(np.asarray(got), expected, err_msg=where)
    else:
        assert got == expected, where


# ------------------------------------------------------------------------------------------ cache check
def verify_cache(cache_dir: Path, local_file: Path, allow_tmp: bool = False, files: bool = False) -> int:
    """Check every block of ``cache_dir`` against the bytes of ``local_file``.

    Layout (io/cache.py, io/cache_files.py): ``v3/<key[:2]>/<key>/<block_size>-<first>-<n>-<bytes>``
    = b"NSR3" + n (uint32) + block_size (uint64) + first (uint64) + the CRC32 of each block
    (n x uint32; all little-endian) + zeros up to a multiple of 64 bytes + the n blocks, all
    ``block_size`` long but the last; ``meta.json`` names the URL (no query string) and the size. A
    block that a later read would trust (file size, header and its checksum right) must hold exactly
    the source's bytes at ``[i * block_size, ...)``; a file with a wrong size or header, or a block
    with a wrong checksum, is rejected by the cache on read, so it is tolerated only if it would be
    rejected. Returns the number of trusted blocks (``files=True``: of files holding one).
    """
    source = local_file.read_bytes()
    trusted = trusted_files = 0
    root = Path(cache_dir) / "v3"
    if not root.exists():
        return 0
    for folder in root.glob("*/*"):
        if folder.parent.name == "seen":  # seen/<hash of the URL>/key: the key it had last
            continue
        meta = folder / "meta.json"
        record = json.loads(meta.read_text()) if meta.exists() else {}
        if record:
            assert "?" not in record["url"], record
            assert record["size"] == len(source), record
        for run in folder.iterdir():
            if run.name == "meta.json":
                continue
            if run.name.startswith(".tmp-"):
                assert allow_tmp, f"temporary file left behind: {run}"
                continue
            bsize, first, count, nbytes = (int(x) for x in run.name.split("-"))
            raw = run.read_bytes()
            head = (24 + 4 * count + 63) // 64 * 64
            if len(raw) != head + nbytes or raw[:24] != b"NSR3" + struct.pack("<IQQ", count, bsize, first):
                continue  # the cache serves nothing of a file of the wrong size or header
            crcs = struct.unpack_from(f"<{count}I", raw, 24)
            held = 0
            for k in range(count):
                data = raw[head + k * bsize: head + min((k + 1) * bsize, nbytes)]
                start = (first + k) * bsize
                want = source[start: min(start + bsize, len(source))]
                if len(data) == len(want) and crcs[k] == zlib.crc32(data):
                    assert data == want, f"block {first + k} of cached run {run.name} differs from the source bytes"
                    held += 1
            trusted += held
            trusted_files += held > 0
    return trusted_files if files else trusted


def restart(server: Any) -> None:
    """Start the server again after a ``gone`` fault (same port; retried while the old socket closes)."""
    import time

    for _ in range(50):
        try:
            server.start()
            return
        except OSError:
            time.sleep(0.1)
    server.start()


