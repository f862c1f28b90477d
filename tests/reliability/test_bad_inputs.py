"""The bad-input corpus (tests/data/bad_inputs.py): each malformed file, opened with NWBFile and
used, gives a napstream error with a clear message - never a crash, a hang or a wrong number.
The same files served over loopback HTTP give the same errors. A dataset declaring terabytes is
listed and sliced without reading it, and asking for all of it fails at once with a clear error."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import napstream as nap
import napstream.errors as nerr
from napstream.testing.corrupt import CORRUPTIONS, HUGE_ROWS, LFP

from rel_common import SECRET

pytestmark = pytest.mark.timeout(60)


def _load_corpus() -> list[dict[str, Any]]:
    path = Path(__file__).resolve().parents[1] / "data" / "bad_inputs.py"
    spec = importlib.util.spec_from_file_location("napstream_bad_inputs", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.BAD_INPUTS


CORPUS = _load_corpus()


def _cases(remote: bool = False) -> list[Any]:
    out = []
    for case in CORPUS:
        if remote and case["steps"] != ["open"]:
            continue
        marks = [pytest.mark.xfail(strict=True, reason=case["bug"])] if case.get("bug") else []
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


@pytest.fixture(scope="module")
def bad_dir(rel_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every corruption of the session, written once."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    for name, writer in CORRUPTIONS.items():
        writer(rel_session, folder / f"{name}.nwb")
    return folder


def _run_steps(source: Any, steps: list[str], io_options: dict[str, Any]) -> None:
    state: dict[str, Any] = {}
    nwb = None
    try:
        for step in steps:
            if step == "open":
                nwb = nap.NWBFile(source, **io_options)
            elif step == "print":
                str(nwb)
            elif step == "units":
                state["units"] = nwb["units"]
            elif step == "spikes":
                units = state.get("units") or nwb["units"]
                for k in units.keys():
                    np.asarray(units[k].t)
            elif step == "position":
                position = nwb["SpatialSeriesLED1"]
                np.asarray(position.t)
                np.asarray(position.values)
            elif step == "tuning2d":
                units = state.get("units") or nwb["units"]
                nap.compute_2d_tuning_curves(units, nwb["SpatialSeriesLED1"], 10)
            elif step == "lfp_window":
                np.asarray(nwb["ElectricalSeriesLFP"].restrict(nap.IntervalSet(0.0, 1.0)).values)
            else:  # pragma: no cover - a typo in the corpus
                raise ValueError(f"unknown step {step!r}")
    finally:
        if nwb is not None:
            nwb.close()


@pytest.mark.parametrize("case", _cases())
def test_bad_input_gives_a_clear_napstream_error(bad_dir, case):
    expected = getattr(nerr, case["error"])
    assert issubclass(expected, nerr.NapstreamError)
    with pytest.raises(expected, match=case["match"]):
        _run_steps(bad_dir / f"{case['corruption']}.nwb", case["steps"], {})


@pytest.mark.network
@pytest.mark.parametrize("case", _cases(remote=True))
def test_bad_input_over_http_gives_the_same_error(bad_dir, http_server, tmp_path, case):
    server = http_server(bad_dir)
    url = server.url_for(f"{case['corruption']}.nwb", query=SECRET)
    expected = getattr(nerr, case["error"])
    with nap.config.override(retries=1, timeout=5.0):
        with pytest.raises(expected) as info:
            _run_steps(url, case["steps"], {"cache_dir": tmp_path / "cache"})
    text = str(info.value)
    assert server.url_for(f"{case['corruption']}.nwb").split("//")[1] in text, text
    assert "s3cr3t" not in text and "X-Amz" not in text, text


def test_corpus_covers_every_corruption():
    used = {case["corruption"] for case in CORPUS} | {"huge_declared_shape", "decreasing_timestamps"}
    assert used == set(CORRUPTIONS)


# ------------------------------------------------------------------------------------------ huge shapes
@pytest.mark.timeout(30)
def test_huge_declared_shape_is_listed_and_sliced_without_reading_it(bad_dir, rel_session):
    path = bad_dir / "huge_declared_shape.nwb"
    assert path.stat().st_size < 10 * rel_session.stat().st_size
    with nap.NWBFile(path) as nwb, h5py.File(path, "r") as f:
        assert nwb.entry("ElectricalSeriesLFP").shape[0] == HUGE_ROWS
        assert "ElectricalSeriesLFP" in str(nwb)
        lfp = nwb["ElectricalSeriesLFP"]
        assert len(lfp) == HUGE_ROWS
        rate = float(f[f"{LFP}/starting_time"].attrs["rate"])
        start = float(f[f"{LFP}/starting_time"][()])
        # a window far into the declared rows: only those rows are read (HDF5 fill values)
        t0 = start + (HUGE_ROWS - 5000) / rate
        window = lfp.restrict(nap.IntervalSet(t0, t0 + 1.0))
        i0 = int(np.ceil((t0 - start) * rate - 1e-9))
        raw = f[f"{LFP}/data"][i0: i0 + len(window)].astype(np.float64)
        conversion = float(f[f"{LFP}/data"].attrs["conversion"])
        offset = float(f[f"{LFP}/data"].attrs.get("offset", 0.0))
        gains = f[f"{LFP}/channel_conversion"][()] if "channel_conversion" in f[LFP] else 1.0
        np.testing.assert_allclose(np.asarray(window.values), raw * conversion * gains + offset, rtol=1e-12)
        # the other objects of the file are untouched by the huge dataset
        with nap.NWBFile(rel_session) as good:
            for k in good["units"].keys():
                np.testing.assert_array_equal(nwb["units"][k].t, good["units"][k].t)


@pytest.mark.timeout(30)
def test_materialising_a_terabyte_fails_at_once(bad_dir):
    with nap.NWBFile(bad_dir / "huge_declared_shape.nwb") as nwb:
        lfp = nwb["ElectricalSeriesLFP"]
        with pytest.raises((nerr.MemoryBudgetError, MemoryError), match=r"(?i)TiB|TB|memory|allocate"):
            lfp.values
