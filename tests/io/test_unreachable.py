"""Opening a URL whose server cannot be reached at all (connection refused, unknown host) fails at
once with RemoteUnreachableError, instead of retrying with backoff for seconds; a server that has
answered once is still retried when it drops connections (tests/reliability)."""

from __future__ import annotations

import socket
import time

import pytest

from napstream.errors import RemoteError, RemoteUnreachableError
from napstream.io import open_source


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url", [f"http://127.0.0.1:{closed_port()}/x.nwb", "http://no-such-host.invalid/x.nwb"])
def test_unreachable_server_fails_at_once(url, tmp_path):
    with pytest.raises(RemoteError):  # aiohttp is imported by the first open: warm it up outside the timing
        open_source(f"http://127.0.0.1:{closed_port()}/warmup", cache=False)
    t0 = time.perf_counter()
    with pytest.raises(RemoteUnreachableError, match="connection refused|unknown host") as info:
        open_source(url, cache_dir=tmp_path, retries=5)
    assert time.perf_counter() - t0 < 0.5  # 5 retries with backoff take 3+ s
    assert isinstance(info.value, ConnectionError) and "check the URL" in str(info.value)
