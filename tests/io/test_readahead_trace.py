"""The request timeline (io/trace.py): NAPSTREAM_TRACE records who asked what and when; off, nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from napstream.io import trace

SCRIPT = textwrap.dedent("""
    import sys
    from napstream.io import open_source
    from napstream.testing import RangeHTTPServer
    root, name = sys.argv[1], sys.argv[2]
    with RangeHTTPServer(root, latency=0.01) as server:
        with open_source(server.url_for(name), cache=False, block_size=4096) as src:
            handle = src.read_ahead([(0, 64 * 4096)], max_bytes=16 * 4096, requests=4)
            try:
                data = src.read_range(0, 64 * 4096)    # catches up: waits for the read-ahead
            finally:
                handle.cancel()
            assert data == open(f"{root}/{name}", "rb").read()[: 64 * 4096]
""")


def test_trace_records_requests_and_waits(tmp_path):
    data = os.urandom(80 * 4096)
    (tmp_path / "f.bin").write_bytes(data)
    out = tmp_path / "trace.jsonl"
    src = str(Path(trace.__file__).resolve().parents[2])
    env = {**os.environ, "NAPSTREAM_TRACE": str(out), "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "f.bin"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = trace.load(str(out))
    reqs = [r for r in records if r[0] == "req"]
    assert reqs
    for _, who, queued, sent, first, end, nbytes in reqs:
        assert who in {"ahead", "hurried", "reader", "prefetch", "meta", "small"}
        assert queued <= sent <= first <= end and nbytes > 0
    fetched = sum(r[6] for r in reqs if r[1] in {"ahead", "hurried", "reader"})
    # the planned bytes, each once (whoever fetched them); the open's own probe brought the first block
    assert fetched in (63 * 4096, 64 * 4096)
    assert any(r[1] in {"ahead", "hurried"} for r in reqs)
    summary = trace.summarise(records, link=50e6)
    assert summary["bytes"] == sum(r[6] for r in reqs) and 0 < summary["busy_fraction"]
    assert "requests" in trace.report(records, link=50e6)


def test_trace_off_records_nothing():
    if trace.on:  # the suite itself runs traced: nothing to check here
        return
    before = len(trace.events())
    assert trace.role("ahead") is trace.role("reader")  # one shared null context, no allocation
    from napstream.io.base import BlockedSource

    class Fake(BlockedSource):
        def __init__(self):
            super().__init__(64, block_size=8, description="fake")

        def _fetch_ranges(self, ranges):
            return [bytes(r.end - r.start) for r in ranges]

    assert Fake().read_range(0, 64) == bytes(64)
    assert len(trace.events()) == before


def test_trace_cli_explains_bad_input(tmp_path, capsys):
    """The report tool names what was wrong (no traceback): usage, a missing file, a non-trace file."""
    assert trace._cli(["--help"]) == 0
    assert "usage: python -m napstream.io.trace" in capsys.readouterr().err
    assert trace._cli([]) == 2
    assert trace._cli([str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert trace._cli([str(bad)]) == 2
    assert "is not a trace file" in capsys.readouterr().err
    good = tmp_path / "good.jsonl"
    good.write_text('["req", "ahead", 0.0, 0.0, 0.03, 0.1, 1000000]\n')
    assert trace._cli([str(good), "fast"]) == 2
    assert "LINK_MBIT must be a number" in capsys.readouterr().err
    assert trace._cli([str(good), "100"]) == 0
    assert "1 requests" in capsys.readouterr().out
