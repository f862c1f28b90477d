"""Fixtures of the reliability tests: one small session, its fault-free local results, a loopback
server shared by a module and fast retry settings.

The reference results are computed from the *local* file (napstream's local reads are checked
against pynwb/pynapple elsewhere and once more in ``test_fault_matrix.py``); every remote result
under faults must equal them exactly, or a clear napstream error must be raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rel_common import OPERATIONS, SESSION, restart

# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def rel_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("reliability")
    return write_session(root / "session.nwb", **SESSION)


@pytest.fixture(scope="session")
def reference(rel_session: Path) -> dict[str, Any]:
    """Fault-free results of every operation on the local file."""
    import napstream as nap

    with nap.NWBFile(rel_session) as nwb:
        return {name: op(nwb) for name, op in OPERATIONS.items()}


@pytest.fixture(scope="module")
def server(rel_session: Path) -> Iterator[Any]:
    """A loopback Range server of the session's folder, shared by a test module."""
    from napstream.testing.http_server import RangeHTTPServer

    srv = RangeHTTPServer(rel_session.parent).start()
    yield srv
    srv.stop()


@pytest.fixture
def live_server(server: Any) -> Iterator[Any]:
    """The module server, running, without faults, before and after the test."""
    server.clear_faults()
    restart(server)
    yield server
    server.clear_faults()
    restart(server)


@pytest.fixture
def fast_io() -> Iterator[dict[str, Any]]:
    """Short timeout and few retries, so failures come fast (values returned for budgets)."""
    import napstream as nap

    settings = dict(retries=3, timeout=0.5)
    with nap.config.override(**settings):
        yield settings
