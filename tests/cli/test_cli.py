"""The `napstream` command, run for real in subprocesses against generated sessions."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pynwb")

ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}


def napstream(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "napstream.cli.main", *args],
        capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    from napstream.testing.sessions import write_session

    path = tmp_path_factory.mktemp("cli") / "session.nwb"
    write_session(path, duration=120.0, n_units=6, n_channels=4, seed=3)
    return path


@pytest.fixture(scope="module")
def served(session):
    from napstream.testing.http_server import RangeHTTPServer

    with RangeHTTPServer(session.parent) as server:
        yield server.url_for(session.name)


@pytest.fixture(params=["local", "http"])
def source(request, session, served, tmp_path) -> list[str]:
    if request.param == "local":
        return [str(session)]
    return [served, "--cache-dir", str(tmp_path / "cache")]


def test_ls_lists_expected_keys(source):
    proc = napstream("ls", source[0], *source[1:])
    assert proc.returncode == 0, proc.stderr
    for key in ("units", "SpatialSeriesLED1", "SpatialSeriesLED2", "epochs", "trials"):
        assert key in proc.stdout
    assert "TsGroup" in proc.stdout and "TsdFrame" in proc.stdout and "IntervalSet" in proc.stdout


def test_show_prints_one_object(session):
    proc = napstream("show", str(session), "units")
    assert proc.returncode == 0, proc.stderr
    assert "rate" in proc.stdout


def test_tuning_npz_equals_library_and_png_has_expected_size(source, session, tmp_path):
    import napstream as nap

    png, npz = tmp_path / "maps.png", tmp_path / "maps.npz"
    proc = napstream("tuning", source[0], *source[1:], "--bins", "12", "-o", str(png), "--npz", str(npz))
    assert proc.returncode == 0, proc.stderr
    width, height = png_size(png)
    assert width > 300 and height > 150  # a grid of 6 panels at 100 dpi
    saved = np.load(npz)
    with nap.NWBFile(session) as nwb:  # the local read is the reference for both sources
        tc, bins = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 12)
    np.testing.assert_array_equal(saved["units"], np.array(list(tc)))
    np.testing.assert_allclose(saved["maps"], np.stack([tc[k] for k in tc]), equal_nan=True)
    np.testing.assert_allclose(saved["xbins"], bins[0])
    np.testing.assert_allclose(saved["ybins"], bins[1])


def test_psd_csv_and_png(session, tmp_path):
    png, csv = tmp_path / "psd.png", tmp_path / "psd.csv"
    proc = napstream("psd", str(session), "ElectricalSeriesLFP", "--epochs", "epochs", "-o", str(png), "--csv", str(csv), "--fmax", "100")
    assert proc.returncode == 0, proc.stderr
    assert png_size(png)[0] > 100
    import pandas as pd

    table = pd.read_csv(csv, index_col=0)
    assert table.index.max() <= 100 and len(table) > 10


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["ls", "/no/such/file.nwb"], 1, "/no/such/file.nwb"),
        (["show", "{session}", "unitz"], 1, "units"),
        (["tuning", "{session}", "--bins", "0", "--npz", "x.npz"], 2, "--bins"),
        (["tuning", "{session}"], 2, "--output"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_errors_exit_with_one_line_and_no_traceback(args, code, message, session, tmp_path):
    args = [a.replace("{session}", str(session)) for a in args]
    proc = napstream(*args, cwd=tmp_path)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_an_nwb_file_is_a_data_error(tmp_path):
    bad = tmp_path / "random.nwb"
    bad.write_bytes(os.urandom(4096))
    proc = napstream("ls", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and str(bad) in proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    proc = napstream("--debug", "ls", str(tmp_path / "missing.nwb"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_has_examples_for_every_command():
    for cmd in ("demo", "ls", "show", "tuning", "psd", "cache"):
        proc = napstream(cmd, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout, cmd


def test_cache_info_and_clear(tmp_path, served):
    cache = tmp_path / "cache"
    assert napstream("ls", served, "--cache-dir", str(cache)).returncode == 0
    info = napstream("cache", "info", "--cache-dir", str(cache))
    assert info.returncode == 0 and str(cache) in info.stdout
    assert any(p.is_file() for p in cache.rglob("*"))
    clear = napstream("cache", "clear", "--cache-dir", str(cache))
    assert clear.returncode == 0
    assert not any(p.is_file() and p.stat().st_size > 0 for p in cache.rglob("*") if not p.name.startswith("."))


def test_demo_runs_end_to_end_small(tmp_path):
    out = tmp_path / "demo"
    proc = napstream("demo", "--duration", "60", "--units", "4", "--channels", "2", "--latency", "0.005",
                     "--bins", "10", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "HTTP requests" in proc.stdout and "peak memory" in proc.stdout
    # the DANDI route, offline: dandi:// resolved through the local DANDI API server
    assert "dandi://000582/sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb" in proc.stdout
    api = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("DANDI API requests") and ln.split()[-1].isdigit())
    assert int(api.split()[-2]) >= 3  # dandiset/version, asset by path, download redirect
    # every number is explained, and the files are named
    for name in ("DANDI API requests", "HTTP requests (file)", "bytes fetched", "open + list", "whole job", "peak memory"):
        assert sum(ln.strip().startswith(name) for ln in proc.stdout.splitlines()) == 2, name
    assert "Python imports not" in proc.stdout
    files = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("files:"))
    for produced in ("session.nwb", "cache", "tuning_curves.png", "tuning_curves.npz"):
        assert str(out / produced) in files
    width, height = png_size(out / "tuning_curves.png")
    assert width > 200 and height > 100
    # the demo's maps are the library's maps on the same file
    import napstream as nap

    with nap.NWBFile(out / "session.nwb") as nwb:
        tc, _ = nap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], 10)
    saved = np.load(out / "tuning_curves.npz")
    np.testing.assert_allclose(saved["maps"], np.stack([tc[k] for k in tc]), equal_nan=True)
