"""A remote source limits glibc's malloc arenas before its fetch threads allocate.

glibc gives each allocating thread its own arena (up to 8 per core) and keeps memory freed in an
arena for that arena: the read-ahead's fetch threads then keep 100-200 MB of freed response bodies
and blocks resident beyond a job's budget (``tests/test_memory_remote.py`` measures the whole job).
Opening an :class:`~napstream.io.http.HTTPSource` asks for at most ``config.malloc_arenas``; the
check counts the heaps glibc reports (``malloc_info``) in a fresh interpreter after eight threads
allocated at once, against the same run with the limit turned off (which must show more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from napstream.testing.server_process import ServerProcess

try:
    GLIBC = str(os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
except (ValueError, OSError, AttributeError):
    GLIBC = False

CHILD = textwrap.dedent("""
    import ctypes, json, os, sys, tempfile, threading
    from napstream.io.http import HTTPSource

    src = HTTPSource(sys.argv[1], cache=None)
    assert src.read_range(0, 4) == b"\\x00\\x01\\x02\\x03"
    barrier = threading.Barrier(8)
    held = []

    def allocate():
        barrier.wait()  # all eight alive at once: each would get an arena of its own
        held.append(bytearray(1 << 20))
        barrier.wait()

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    path = os.path.join(tempfile.mkdtemp(), "malloc.xml")
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    src.close()
    print(json.dumps({"heaps": open(path).read().count("<heap nr=")}))
""")


def _heaps(url: str, arenas: str) -> int:
    env = {**os.environ, "NAPSTREAM_MALLOC_ARENAS": arenas}
    proc = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["heaps"]


@pytest.mark.network
@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_remote_source_limits_malloc_arenas(tmp_path):
    (tmp_path / "f.bin").write_bytes(bytes(range(256)) * 4096)
    with ServerProcess(tmp_path) as server:
        url = server.url_for("f.bin")
        limited = _heaps(url, "2")
        default = _heaps(url, "0")  # limit off: the count shows one arena per thread
    assert default > 2, f"malloc_info showed {default} heaps without a limit: the check cannot tell"
    assert limited <= 2, f"{limited} malloc arenas after opening a remote source; config.malloc_arenas is 2"


def test_malloc_arenas_setting_is_checked():
    import napstream
    from napstream.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="malloc_arenas"):
        napstream.config.malloc_arenas = -1
    with napstream.config.override(malloc_arenas=0):
        assert napstream.config.malloc_arenas is None  # 0: the C library's default
    from napstream.config import _env_arenas

    assert [_env_arenas(v) for v in ("4", "0", "None", "", " 1 ")] == [4, None, None, 2, 1]
    with pytest.warns(UserWarning, match="NAPSTREAM_MALLOC_ARENAS"):
        assert _env_arenas("lots") == 2  # a typo in the environment does not stop the import


@pytest.mark.network
def test_memory_lru_is_small_when_a_disk_cache_keeps_the_blocks(http_server, tmp_path):
    import numpy as np

    from napstream.io import open_source

    from napstream.io.http import HTTPSource

    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(5).integers(0, 256, 64 * 2**20, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    server = http_server(root)
    step = 4 * 2**20
    small = HTTPSource.memory_with_disk
    assert small < 64 * 2**20
    with open_source(server.url_for("f.bin"), cache_dir=tmp_path / "c") as src:
        for start in range(0, len(data), step):  # a job's reads, once each: 64 MiB through the source
            assert src.read_range(start, start + step) == data[start: start + step]
            assert src.memory.nbytes <= small  # not counted in any budget: kept small
        src.cache.flush()
        server.reset_stats()
        assert src.read_range(0, step) == data[:step]  # evicted from memory: read back from disk
        assert server.stats.requests == 0
    with open_source(server.url_for("f.bin"), cache=False) as src:  # memory is the only cache: larger
        for start in range(0, 60 * 2**20, step):
            src.read_range(start, start + step)
        assert src.memory.nbytes > small


@pytest.mark.network
@pytest.mark.parametrize("lean", [False, True], ids=["aiohttp", "lean"])
def test_bodies_read_piece_by_piece_keep_the_connection(http_server, tmp_path, monkeypatch, lean):
    import numpy as np

    from napstream.io.http import HTTPSource
    from napstream.io.ranges import ByteRange

    monkeypatch.setattr(HTTPSource, "lean_receive", lean)

    root = tmp_path / "www"
    root.mkdir()
    data = np.random.default_rng(6).integers(0, 256, 12 * 2**20 + 77, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    server = http_server(root, bandwidth=50e6)  # paced: a body arrives in many pieces
    with HTTPSource(server.url_for("f.bin"), cache=None) as src:
        opened = server.stats.connections
        for a in range(0, len(data), 3 * 2**20):
            r = ByteRange(a, min(a + 3 * 2**20, len(data)))
            assert src._fetch_ranges([r]) == [data[r.start: r.end]]
        # every body read to its end: the connection is reused (the lean client opens its own, once)
        assert server.stats.connections == opened + lean
