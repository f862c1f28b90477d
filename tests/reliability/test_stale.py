"""No silently stale or mixed data from servers whose validators cannot be trusted (issue #16, item 1).

The fault server serves a file, then the file is replaced by another of the same size. With
``validators="none"`` (neither ETag nor Last-Modified) or ``"constant"`` (the same ones whatever the
file holds), size and validators cannot tell; napstream must still never return old bytes after a
reopen, nor one array mixing both versions within an open: a correct result (all of one version)
or :class:`~napstream.errors.RemoteChangedError`.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.errors import RemoteChangedError
from napstream.io import open_source
from napstream.testing.http_server import RangeHTTPServer

from rel_common import BLOCK, OPERATIONS, assert_same

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

SIZE = 16 * BLOCK


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _bytes(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


@pytest.fixture
def binfile(tmp_path: Path) -> Path:
    folder = tmp_path / "served"
    folder.mkdir()
    path = folder / "f.bin"
    path.write_bytes(_bytes(1))
    return path


@pytest.mark.parametrize("validators", ["none", "constant"])
def test_reopen_after_same_size_replacement_is_not_stale(binfile, tmp_path, validators):
    old, new = _bytes(1), _bytes(2)
    cache = tmp_path / "cache"
    with RangeHTTPServer(binfile.parent, validators=validators) as server:
        url = server.url_for(binfile.name)
        with open_source(url, cache_dir=cache, block_size=BLOCK) as src:
            assert src.read_range(0, SIZE) == old
        _replace(binfile, new)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_source(url, cache_dir=cache, block_size=BLOCK) as src:
                assert src.read_range(0, SIZE) == new, "stale bytes served after the file changed"
    if validators == "constant":  # the content check caught the server's unchanged validators
        assert any("same size and ETag" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_no_validators_means_no_reuse_across_opens_unless_asked(binfile, tmp_path):
    cache = tmp_path / "cache"
    with RangeHTTPServer(binfile.parent, validators="none") as server:
        url = server.url_for(binfile.name)
        for _ in range(2):
            with open_source(url, cache_dir=cache, block_size=BLOCK) as src:
                src.read_range(0, SIZE)
                assert src.stats.bytes_fetched >= SIZE  # every byte from the network, each time
        assert nap.cache_info(cache)["files"] == 0
        # opted in: reused, with a content check of the reopen that catches this replacement
        with open_source(url, cache_dir=cache, block_size=BLOCK, cache_unvalidated=True) as src:
            src.read_range(0, SIZE)
        with open_source(url, cache_dir=cache, block_size=BLOCK, cache_unvalidated=True) as src:
            assert src.read_range(0, SIZE) == _bytes(1)
            assert src.stats.bytes_fetched <= src.reopen_samples * src.sample_width
        _replace(binfile, _bytes(3))
        with pytest.warns(RuntimeWarning, match="cached blocks were dropped"):
            with open_source(url, cache_dir=cache, block_size=BLOCK, cache_unvalidated=True) as src:
                assert src.read_range(0, SIZE) == _bytes(3)


@pytest.mark.parametrize("validators, options", [("none", {}), ("constant", {"check_content": True})])
def test_replacement_mid_read_never_mixes(binfile, validators, options):
    with RangeHTTPServer(binfile.parent, validators=validators) as server:
        with open_source(server.url_for(binfile.name), cache=False, block_size=BLOCK, **options) as src:
            src.readahead_blocks = 0
            assert src.read_range(0, SIZE // 2) == _bytes(1)[: SIZE // 2]
            _replace(binfile, _bytes(2))
            with pytest.raises(RemoteChangedError, match="changed while it was read"):
                src.read_range(0, SIZE)  # half held (old), half to fetch (new): must not be joined


# ------------------------------------------------------------------------------------------ NWB level
def _changed_copy(session: Path, target: Path) -> Path:
    """A same-size copy of ``session`` whose uncompressed data (spike times, position) differ."""
    shutil.copyfile(session, target)
    with h5py.File(target, "r+") as f:
        f["units/spike_times"][...] = f["units/spike_times"][...] * 0.99
        for name in ("SpatialSeriesLED1", "SpatialSeriesLED2"):
            data = f[f"processing/behavior/Position/{name}/data"]
            data[...] = data[...] + 1000.0
    assert target.stat().st_size == session.stat().st_size
    return target


def _ops(nwb: Any) -> dict[str, Any]:
    return {name: OPERATIONS[name](nwb) for name in ("spikes", "position")}


@pytest.mark.parametrize("when", ["between_opens", "mid_job"])
def test_nwb_replaced_under_a_validatorless_server(rel_session, tmp_path, when):
    folder = tmp_path / "served"
    folder.mkdir()
    served = folder / "s.nwb"
    shutil.copyfile(rel_session, served)
    changed = _changed_copy(rel_session, tmp_path / "changed.nwb")
    with nap.NWBFile(rel_session) as nwb:
        old = _ops(nwb)
    with nap.NWBFile(changed) as nwb:
        new = _ops(nwb)
    cache = tmp_path / "cache"
    with RangeHTTPServer(folder, validators="none") as server, nap.config.override(retries=1, timeout=5.0):
        url = server.url_for("s.nwb")
        if when == "between_opens":
            with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                assert_same(_ops(nwb), old)
            shutil.copyfile(changed, served)
            with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK) as nwb:
                assert_same(_ops(nwb), new)  # never the old values from the warm cache
            return
        outcomes = []
        for _ in range(3):
            shutil.copyfile(rel_session, served)
            nwb = nap.NWBFile(url, cache_dir=cache, block_size=BLOCK)
            try:
                shutil.copyfile(changed, served)  # replaced after the open, before the reads
                got = {}
                for name in ("spikes", "position"):  # each array: all old, all new, or an error
                    try:
                        got[name] = OPERATIONS[name](nwb)
                    except RemoteChangedError:
                        outcomes.append("error")
                        continue
                    versions = [v for v, ref in (("old", old), ("new", new)) if _equal(got[name], ref[name])]
                    assert versions, f"{name}: one array mixing both versions of the file"
                    outcomes.append(versions[0])
            finally:
                nwb.close()
        assert outcomes


def _equal(got: Any, expected: Any) -> bool:
    try:
        assert_same(got, expected)
    except AssertionError:
        return False
    return True
