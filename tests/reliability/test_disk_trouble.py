"""A cache folder that cannot be used (not writable, under a regular file, disk full) gives exactly
one warning; streaming then carries on without the cache and every number is still right."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import napstream as nap
import napstream.io.cache as cache_module

from rel_common import BLOCK, OPERATIONS, assert_same, verify_cache

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

OPS = ("open_list", "spikes", "position", "lfp_window", "tuning2d", "psd")


def _read_all(url: str, cache_dir: Path) -> tuple[dict[str, Any], list[warnings.WarningMessage]]:
    """One NWBFile session: every operation; returns the results and the cache warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nap.config.override(retries=2, timeout=5.0):
            with nap.NWBFile(url, cache_dir=cache_dir, block_size=BLOCK) as nwb:
                results = {name: OPERATIONS[name](nwb) for name in OPS}
    cache_warnings = [w for w in caught if "cache" in str(w.message).lower()]
    return results, cache_warnings


def _check(results: dict[str, Any], reference: dict[str, Any]) -> None:
    for name in OPS:
        assert_same(results[name], reference[name], name)


def test_cache_dir_under_a_regular_file(server, rel_session, reference, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_bytes(b"a regular file")
    results, caught = _read_all(server.url_for(rel_session.name), blocker / "sub")
    _check(results, reference)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert issubclass(caught[0].category, RuntimeWarning)
    assert str(blocker / "sub") in str(caught[0].message)
    assert blocker.read_bytes() == b"a regular file"
    # opening the file again in the same process does not repeat the warning
    again, caught_again = _read_all(server.url_for(rel_session.name), blocker / "sub")
    _check(again, reference)
    assert caught_again == [], [str(w.message) for w in caught_again]


def test_read_only_cache_dir(server, rel_session, reference, tmp_path):
    cache = tmp_path / "ro"
    cache.mkdir()
    os.chmod(cache, 0o500)
    try:
        results, caught = _read_all(server.url_for(rel_session.name), cache)
    finally:
        os.chmod(cache, 0o700)
    _check(results, reference)
    if os.geteuid() == 0:  # root writes through chmod 500: the cache works, silently and correctly
        assert caught == []
        assert verify_cache(cache, rel_session) > 0
    else:
        assert len(caught) == 1, [str(w.message) for w in caught]
        assert verify_cache(cache, rel_session) == 0


@pytest.mark.parametrize("fail_after", [0, 12], ids=["full_from_start", "fills_up_mid_stream"])
def test_disk_full(server, rel_session, reference, tmp_path, monkeypatch, fail_after):
    real_write = cache_module._write_parts
    writes = {"n": 0}

    def full_disk(fd: int, parts: Any) -> None:
        """Each file the cache writes (a run, meta.json, a seen key): past ``fail_after`` of them,
        half its bytes are stored and then the disk is full."""
        writes["n"] += 1
        if writes["n"] <= fail_after:
            return real_write(fd, parts)
        data = b"".join(bytes(p) for p in parts)
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_module, "_write_parts", full_disk)
    cache = tmp_path / "cache"
    results, caught = _read_all(server.url_for(rel_session.name), cache)
    monkeypatch.undo()
    _check(results, reference)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "No space left" in str(caught[0].message)
    assert writes["n"] == fail_after + 1, "the cache kept writing after the disk was full"
    # the half-written run never became a trusted file, and no temporary file is left behind
    trusted = verify_cache(cache, rel_session, files=True)
    assert trusted <= max(fail_after - 1, 0)
