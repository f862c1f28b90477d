"""Fault matrix: every injected server fault x every user operation over loopback HTTP.

Each cell runs one whole user operation (open + list, all spike trains, position values, an LFP
window, 2-D tuning curves, mean PSD) against a server that injects one fault, and checks that

* the result equals the fault-free local result exactly, or a napstream error is raised whose
  message names the URL without its query string (the presigned secret never shows);
* it happens within the configured retry budget (bounded wall time);
* the fault really hit the operation (no vacuous cell);
* afterwards the cache holds no partial or wrong block: every block a later read would trust
  equals the source's bytes, and a fault-free re-read through the SAME cache folder equals the
  local result.

"Transient" faults stay within the retry budget and must be survived; "persistent" faults
(every request fails) must end with :class:`~napstream.errors.RetryExhaustedError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import napstream as nap
from napstream.errors import NapstreamError, RemoteChangedError, RetryExhaustedError
from napstream.testing.http_server import FaultPlan

from rel_common import BLOCK, OPERATIONS, SECRET, assert_same, restart, verify_cache

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

#: faults that the retry budget (retries=3) absorbs: the result must equal the local one
TRANSIENT: dict[str, dict[str, Any]] = {
    "drop": dict(kind="drop", count=2),
    "503_burst": dict(kind="503", count=3),
    "429_retry_after": dict(kind="429", count=2, retry_after=0.3),
    "stall": dict(kind="stall", count=1, delay=4.0),
    "truncate": dict(kind="truncate", count=2),
    "bad_content_range": dict(kind="bad_content_range", count=2),
    "ignore_range": dict(kind="ignore_range", count=None, probability=1.0),
}
#: faults that must end in a specific napstream error once they hit a request
FATAL: dict[str, tuple[dict[str, Any], type[Exception]]] = {
    "change_etag": (dict(kind="change_etag", count=None, probability=1.0), RemoteChangedError),
    "gone": (dict(kind="gone", count=1), RetryExhaustedError),
}
#: faults hitting every request: retries are exhausted
PERSISTENT = ("drop", "503", "429", "stall", "truncate", "bad_content_range")

HANG = ("known intermittent deadlock (see tests/reliability/repro_hang.py): another thread (a server handler, a "
        "watchdog) runs the garbage collector, which finalises h5py objects and waits for h5py's lock, held by the "
        "thread inside an h5py read that waits for the network; nothing moves and no timeout fires")


def _with_deadline(fn: Callable[[], Any], limit: float) -> Any:
    """Run ``fn()`` in a worker thread; fail with :data:`HANG` past ``limit`` seconds instead of
    blocking the suite (the stuck worker is a daemon thread)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        pytest.fail(f"no result after {limit:.0f} s: {HANG}")
    if "error" in box:
        raise box["error"]
    return box["result"]


def _budget(retries: int, timeout: float, retry_after: float = 0.0) -> float:
    """Worst wall time of one request that exhausts its retries, plus slack for the operation."""
    backoff = sum(min(0.1 * 2 ** (n - 1) * 2.0, 10.0) for n in range(1, retries + 1))
    return (retries + 1) * timeout + backoff + retries * retry_after + 4.0


def _url(server: Any, rel_session: Path) -> str:
    return server.url_for(rel_session.name, query=SECRET)


def _run_with_fault(server: Any, url: str, cache: Path, op_name: str, plan: FaultPlan,
                    limit: float = 30.0) -> tuple[Any, Exception | None, float]:
    """Run one operation with ``plan`` active (from the open for open_list, after it otherwise)."""
    op = OPERATIONS[op_name]
    result, error = None, None
    opened: list[Any] = []
    t0 = time.monotonic()
    try:
        if op_name == "open_list":
            server.set_faults(plan)
        else:
            # the faults are for the operation's own reads: no speculation has fetched them at open
            opened.append(_with_deadline(lambda: nap.NWBFile(url, cache_dir=cache, block_size=BLOCK,
                                                             speculate=False), limit))
            server.set_faults(plan)
            t0 = time.monotonic()

        def run() -> Any:
            if not opened:
                opened.append(nap.NWBFile(url, cache_dir=cache, block_size=BLOCK, speculate=False))
            return op(opened[0])

        result = _with_deadline(run, limit)
    except NapstreamError as err:  # anything else (h5py OSError, KeyError...) fails the test
        error = err
    finally:
        elapsed = time.monotonic() - t0
        server.clear_faults()
        for nwb in opened:
            nwb.close()
    return result, error, elapsed


def _check_error_message(error: Exception, server: Any, rel_session: Path) -> None:
    text = str(error)
    safe = server.url_for(rel_session.name)
    assert safe in text, f"the error should name the URL {safe}: {text}"
    assert "?" not in text.split(safe, 1)[1][:1], text
    assert "s3cr3t" not in text and "AKIA" not in text and "X-Amz" not in text, text


def _after(server: Any, url: str, cache: Path, op_name: str, rel_session: Path, reference: dict) -> None:
    """No partial block was kept; a fault-free re-read through the same cache is correct."""
    verify_cache(cache, rel_session)
    restart(server)

    def reread() -> Any:
        with nap.NWBFile(url, cache_dir=cache, block_size=BLOCK, speculate=False) as nwb:
            return OPERATIONS[op_name](nwb)

    assert_same(_with_deadline(reread, 15.0), reference[op_name], op_name)
    assert verify_cache(cache, rel_session) > 0


@pytest.mark.parametrize("op_name", list(OPERATIONS))
@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_fault_gives_the_fault_free_result(live_server, rel_session, reference, fast_io, tmp_path,
                                                     fault, op_name):
    cache = tmp_path / "cache"
    url = _url(live_server, rel_session)
    plan = FaultPlan(**TRANSIENT[fault])
    result, error, elapsed = _run_with_fault(live_server, url, cache, op_name, plan)
    assert plan.fired > 0, "the fault never hit the operation (vacuous cell)"
    assert error is None, f"{fault} within the retry budget must be survived, got {error!r}"
    assert_same(result, reference[op_name], op_name)
    assert elapsed < _budget(fast_io["retries"], fast_io["timeout"], 0.3) * plan.fired
    if fault == "429_retry_after":
        assert elapsed >= 0.3 * 0.9, "Retry-After was not honoured"
    if fault == "stall":
        assert elapsed >= fast_io["timeout"] * 0.9
    _after(live_server, url, cache, op_name, rel_session, reference)


@pytest.mark.parametrize("op_name", list(OPERATIONS))
@pytest.mark.parametrize("fault", list(FATAL))
def test_fatal_fault_raises_a_clear_error(live_server, rel_session, reference, fast_io, tmp_path, fault, op_name):
    cache = tmp_path / "cache"
    url = _url(live_server, rel_session)
    kwargs, expected = FATAL[fault]
    plan = FaultPlan(**kwargs)
    result, error, elapsed = _run_with_fault(live_server, url, cache, op_name, plan)
    assert plan.fired > 0, "the fault never hit the operation (vacuous cell)"
    assert isinstance(error, expected), f"expected {expected.__name__}, got {error!r} (result {result!r:.200})"
    _check_error_message(error, live_server, rel_session)
    assert elapsed < _budget(fast_io["retries"], fast_io["timeout"])
    _after(live_server, url, cache, op_name, rel_session, reference)


@pytest.mark.slow
@pytest.mark.parametrize("op_name", list(OPERATIONS))
@pytest.mark.parametrize("kind", PERSISTENT)
def test_persistent_fault_exhausts_retries_in_bounded_time(live_server, rel_session, reference, tmp_path, kind,
                                                           op_name):
    cache = tmp_path / "cache"
    url = _url(live_server, rel_session)
    plan = FaultPlan(kind, count=None, probability=1.0, delay=4.0, retry_after=0.2)
    with nap.config.override(retries=1, timeout=0.5):
        result, error, elapsed = _run_with_fault(live_server, url, cache, op_name, plan, _budget(1, 0.5, 0.2) + 5)
    assert plan.fired > 0, "the fault never hit the operation (vacuous cell)"
    assert isinstance(error, RetryExhaustedError), f"expected RetryExhaustedError, got {error!r}"
    assert "giving up after 2 attempts" in str(error)
    _check_error_message(error, live_server, rel_session)
    assert elapsed < _budget(1, 0.5, 0.2), f"{elapsed:.1f} s is past the retry budget"
    _after(live_server, url, cache, op_name, rel_session, reference)


def test_local_reference_matches_pynapple(rel_session, reference):
    """The fault-free reference itself equals pynapple reading the same file."""
    import pynapple as pnap

    nwb = pnap.NWBFile(str(rel_session))
    units, pos, lfp = nwb["units"], nwb["SpatialSeriesLED1"], nwb["ElectricalSeriesLFP"]
    for k in units.keys():
        np.testing.assert_array_equal(reference["spikes"][k], units[k].t)
    np.testing.assert_array_equal(reference["position"]["d"], pos.values)
    window = lfp.restrict(pnap.IntervalSet(10.0, 12.5))
    # pynapple keeps the raw int16 counts; napstream gives volts (conversion, channel gains, offset)
    import h5py

    with h5py.File(rel_session, "r") as f:
        series = f["/processing/ecephys/LFP/ElectricalSeriesLFP"]
        gains = series["channel_conversion"][()] if "channel_conversion" in series else 1.0
        volts = (np.asarray(window.values, dtype=np.float64) * series["data"].attrs["conversion"] * gains
                 + series["data"].attrs.get("offset", 0.0))
    np.testing.assert_allclose(reference["lfp_window"]["d"], volts, rtol=1e-12)
    np.testing.assert_array_equal(reference["lfp_window"]["t"], window.t)
    with pytest.warns(FutureWarning):
        tc, bins = pnap.compute_2d_tuning_curves(units, pos, 10)
    for k in tc:
        np.testing.assert_allclose(reference["tuning2d"]["tc"][k], tc[k], rtol=1e-10)
    with h5py.File(rel_session, "r") as f:
        series = f["/processing/ecephys/LFP/ElectricalSeriesLFP"]
        all_volts = (np.asarray(lfp.values, dtype=np.float64) * series["data"].attrs["conversion"] * gains
                     + series["data"].attrs.get("offset", 0.0))
    psd = pnap.compute_mean_power_spectral_density(pnap.TsdFrame(t=lfp.t, d=all_volts), 1.0)
    np.testing.assert_allclose(reference["psd"]["values"], psd.values, rtol=1e-9)
