"""The command line as a new user meets it: --version, flags after the sub-command, pipes into
`head`, help examples that work on the demo's file, hints for URL typos and missing optional
dependencies, one-line warnings, a refused connection failing fast, and a `show` that says what
an object is (checked against pynwb)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pynwb = pytest.importorskip("pynwb")

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
ENV.pop("PYTHONWARNINGS", None)


def napstream(*args: str, code: str | None = None, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "napstream.cli.main", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120, **kw)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    from napstream.testing.sessions import write_session

    return write_session(tmp_path_factory.mktemp("front") / "session.nwb", duration=30.0, n_units=3, n_channels=2)


def test_version():
    from napstream import __version__

    proc = napstream("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"napstream {__version__}"


def test_global_flags_are_accepted_after_the_sub_command(session, tmp_path):
    proc = napstream("ls", str(tmp_path / "missing.nwb"), "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = napstream("psd", str(session), "ElectricalSeriesLFP", "--csv", str(tmp_path / "p.csv"), "--max-memory", "1kB")
    assert proc.returncode == 1 and "too small" in proc.stderr  # the budget was applied
    proc = napstream("--max-memory", "1kB", "psd", str(session), "ElectricalSeriesLFP", "--csv", str(tmp_path / "p.csv"))
    assert proc.returncode == 1 and "too small" in proc.stderr  # and before it still works
    proc = napstream("ls", str(session), "--no-progress")
    assert proc.returncode == 0, proc.stderr


def test_a_closed_pipe_is_not_an_error(session):
    proc = subprocess.Popen([sys.executable, "-m", "napstream.cli.main", "show", str(session), "ElectricalSeriesLFP"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**ENV, "LINES": "400"})
    proc.stdout.close()  # like `| head -3` that has read its lines
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Broken pipe" not in err and err == b""


def test_help_examples_use_keys_of_the_demo_file(session):
    from napstream.cli.main import EPILOG
    from napstream.nwb import NWBFile

    keys = set(NWBFile(session).keys())
    used = set()
    for command, text in EPILOG.items():
        if command == "demo":  # its --units is a count
            continue
        for line in text.splitlines():
            words = line.split()
            if len(words) > 3 and words[0] == "napstream" and words[1] in ("show", "psd"):
                used.add(words[3])
            for flag in ("--units", "--feature", "--epochs"):
                if flag in words:
                    used.add(words[words.index(flag) + 1])
    assert used and used <= keys, used - keys
    assert "ElectricalSeriesLFP" in used


@pytest.mark.parametrize("typo, meant", [
    ("htp://127.0.0.1/x.nwb", "http://127.0.0.1/x.nwb"),
    ("dandi:000582/sub-1/x.nwb", "dandi://000582/sub-1/x.nwb"),
    ("https:/example.org/x.nwb", "https://example.org/x.nwb"),
])
def test_url_typos_get_a_hint(typo, meant):
    proc = napstream("ls", typo)
    assert proc.returncode == 2 and f"did you mean {meant!r}" in proc.stderr and "Traceback" not in proc.stderr


def test_a_refused_connection_fails_fast_with_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    t0 = time.perf_counter()
    proc = napstream("ls", f"http://127.0.0.1:{port}/x.nwb", "--no-cache")
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 1 and "connection refused" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert elapsed < 5.0  # interpreter start included; 5 retries with backoff took 5-10 s


def test_missing_optional_dependency_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['pynwb'] = None\n"
            "from napstream.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = napstream("demo", "--out", str(tmp_path / "d"), "--duration", "5", code=code)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith('pip install "napstream[demo]"') and "pynwb" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_warnings_are_one_line_without_source_paths(session):
    code = ("import sys, warnings\n"
            "from napstream.cli import commands\n"
            "ls = commands.cmd_ls\n"
            "def noisy(args):\n"
            "    warnings.warn('something odd in the file', UserWarning)\n"
            "    warnings.warn('something odd in the file', UserWarning)\n"
            "    return ls(args)\n"
            "commands.cmd_ls = noisy\n"
            "from napstream.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = napstream("ls", str(session), code=code)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == ["napstream ls: warning: something odd in the file"]


def test_show_says_what_an_object_is(session):
    proc = napstream("show", str(session), "ElectricalSeriesLFP")
    assert proc.returncode == 0, proc.stderr
    fields = dict(re.match(r"^(\w[\w ]*):\s+(.*)$", ln).groups() for ln in proc.stdout.split("\n\n")[0].splitlines())
    with pynwb.NWBHDF5IO(str(session), "r") as io:
        lfp = io.read().processing["ecephys"]["LFP"]["ElectricalSeriesLFP"]
        assert fields["unit"] == lfp.unit
        assert fields["rate"].startswith(f"{lfp.rate:g} Hz")
        assert fields["description"] == lfp.description
        n = lfp.data.shape[0]
        assert fields["time support"].startswith(f"1 interval(s), {lfp.starting_time:g} to "
                                                 f"{lfp.starting_time + (n - 1) / lfp.rate:g} s")
        assert f"chunks of {' x '.join(map(str, lfp.data.chunks))}" in fields["storage"]
        assert lfp.data.compression in fields["storage"]
    assert "Time (s)" in proc.stdout  # then the first and last rows
