"""The example notebook (the guide's steps with napstream, offline through the local DANDI API
server) runs top to bottom in a real Jupyter kernel, and what it shows is what a user should see:
rich HTML tables, a progress widget, each figure once, the friendly I/O line, and no stderr noise
(no aiohttp "Unclosed client session", no warnings)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("pynwb")
pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "guide_with_napstream.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    env = {"PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "NAPSTREAM_CACHE_DIR": str(tmp_path_factory.mktemp("nbcache"))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path_factory.mktemp("nbrun"))}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return [c for c in nb.cells if c.cell_type == "code"]


def outputs(cell, kind=None):
    return [o for o in cell.outputs if kind is None or o.output_type == kind]


def cell_with(cells, text):
    return next(c for c in cells if text in c.source)


@pytest.mark.slow
def test_notebook_runs_without_errors_or_stderr(executed):
    for cell in executed:
        assert not outputs(cell, "error"), cell.source
        noise = [o.text for o in outputs(cell, "stream") if o.name == "stderr"]
        assert noise == [], (cell.source, noise)
        assert all("Unclosed" not in str(o) for o in cell.outputs)


@pytest.mark.slow
def test_notebook_shows_rich_tables(executed):
    def html(cell):
        [out] = [o for o in outputs(cell, "execute_result")]
        return out.data["text/html"]

    table = html(cell_with(executed, 'nwb = nap.NWBFile("dandi://'))
    assert "napstream.NWBFile" in table and "<table" in table
    for key in ("units", "SpatialSeriesLED1", "ElectricalSeriesLFP", "volts", "meters", "1250"):
        assert key in table
    assert "napstream.TsGroup" in html(cell_with(executed, "units = nwb"))
    position = html(cell_with(executed, "position = nwb"))
    assert "napstream.TsdFrame" in position and ">lazy<" in position
    assert "napstream.TsdFrame" in html(cell_with(executed, 'lfp = nwb["ElectricalSeriesLFP"]'))


@pytest.mark.slow
def test_notebook_shows_a_progress_widget_and_each_figure_once(executed):
    psd = cell_with(executed, "compute_mean_power_spectral_density")
    widgets = [o for o in psd.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1
    for text in ("plot_tuning_curves(", "plot_psd("):
        images = [o for o in cell_with(executed, text).outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, text


@pytest.mark.slow
def test_notebook_io_stats_are_the_friendly_line_and_the_rerun_hits_the_cache(executed):
    stats = [c for c in executed if c.source.strip().endswith("nwb.io_stats") or c.source.startswith("nwb.io_stats")]
    lines = [outputs(c, "execute_result")[0].data["text/plain"] for c in stats]
    assert len(lines) == 2
    line = re.compile(r"^\d+ requests, [\d.]+ \w?i?B fetched, .* from cache \(\d+ hits, \d+ misses\)")
    assert all(line.match(x) for x in lines), lines
    assert not lines[0].startswith("0 requests") and " 0 misses)" in lines[1]
    # the warm rerun fetches no data: at most the reopen's content check (2 x 32 bytes)
    fetched = re.match(r"^\d+ requests, ([\d.]+) (\w?i?B) fetched", lines[1])
    assert fetched.group(2) == "B" and float(fetched.group(1)) <= 64, lines[1]
