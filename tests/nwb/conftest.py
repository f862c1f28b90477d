"""Session-scoped NWB files shared by the nwb tests (written once per test run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from napstream.testing.sessions import write_mock_session, write_session

#: name -> write_session keyword arguments (small and fast, but with every feature switched on/off)
SESSIONS: dict[str, dict[str, Any]] = {
    "small": dict(duration=60.0, n_units=4, n_channels=4, seed=1, lfp_starting_time=2.5),
    "plain": dict(duration=90.0, n_units=7, n_channels=3, seed=2, channel_conversion=False, lfp_rate=1000.0,
                  position_rate=30.0, lfp_chunk_seconds=0.5),
}


@pytest.fixture(scope="session")
def session_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nwb_sessions")
    files = {name: write_session(root / f"{name}.nwb", **kw) for name, kw in SESSIONS.items()}
    files["mock"] = write_mock_session(root / "mock.nwb", seed=3)
    return files


@pytest.fixture(scope="session", params=["small", "plain", "mock"])
def any_session(request: pytest.FixtureRequest, session_files: dict[str, Path]) -> Path:
    return session_files[request.param]


@pytest.fixture(scope="session")
def small_session(session_files: dict[str, Path]) -> Path:
    return session_files["small"]


@pytest.fixture(scope="session")
def mock_session(session_files: dict[str, Path]) -> Path:
    return session_files["mock"]
