"""Shared pytest fixtures (keep generic; one fixture per job)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def http_server() -> Iterator[Callable[..., Any]]:
    """Factory of started loopback :class:`RangeHTTPServer` s, stopped at teardown.

    ``server = http_server(root, latency=0.0, bandwidth=None, faults=(), ...)``
    """
    from napstream.testing.http_server import RangeHTTPServer

    servers: list[RangeHTTPServer] = []

    def make(root: Any, **kwargs: Any) -> RangeHTTPServer:
        server = RangeHTTPServer(root, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def dandi_server() -> Iterator[Callable[..., Any]]:
    """Factory of started local DANDI API servers, stopped at teardown.

    ``server = dandi_server({"sub-1/sub-1_ses-1.nwb": local_path}, dandiset_id="000582", ...)``;
    ``server.api_url`` is the API base to give ``resolve_dandi_asset(api_url=...)`` or to set as
    ``napstream.config.dandi_api_url``.
    """
    from napstream.testing.dandi_server import LocalDandiServer

    servers: list[LocalDandiServer] = []

    def make(files: Any, **kwargs: Any) -> LocalDandiServer:
        server = LocalDandiServer(files, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
