"""Progress bars: a widget in notebooks (stderr is not a terminal there), a text bar on terminals,
labelled with the analysis the user called and sized in the bytes and rows the job reads."""

from __future__ import annotations

import re
import sys
import types

import numpy as np
import pytest

import napstream as nap
from napstream.core.lazy import LazyArray
from napstream.core.time_index import RegularTimeIndex
from napstream.engine import progress as prog


class ZMQInteractiveShell:  # the class name IPython kernels use
    pass


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(prog, "DELAY", 0.0)
    monkeypatch.setattr(nap.config, "progress", None)


def test_notebook_gets_a_bar_although_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(nap.config, "progress", None)
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: False, write=lambda s: None))
    assert prog.resolve_progress(None) is False
    fake = types.SimpleNamespace(get_ipython=lambda: ZMQInteractiveShell())
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert prog.in_notebook() and prog.resolve_progress(None) is True
    assert prog.resolve_progress(False) is False


def test_notebook_bar_is_a_tqdm_auto_widget(monkeypatch, no_delay):
    pytest.importorskip("ipywidgets")
    import tqdm.notebook

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: ZMQInteractiveShell()))
    made = []
    monkeypatch.setattr(tqdm.notebook.tqdm, "__init__", lambda self, **kw: made.append(kw) or None)
    monkeypatch.setattr(tqdm.notebook.tqdm, "close", lambda self: None, raising=False)
    monkeypatch.setattr(tqdm.notebook.tqdm, "__del__", lambda self: None, raising=False)
    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)
    bar = prog._tqdm(total=10, desc="x")
    assert isinstance(bar, tqdm.notebook.tqdm) and made == [{"leave": True, "total": 10, "desc": "x"}]


def test_terminal_bar_names_the_analysis_and_counts_bytes_and_rows(capsys, no_delay):
    n, channels = 50_000, 4
    data = np.random.default_rng(0).normal(size=(n, channels)).astype(np.float32)
    lfp = nap.TsdFrame(t=RegularTimeIndex(0.0, 1000.0, n), d=LazyArray(data))
    nap.compute_mean_power_spectral_density(lfp, 1.0, progress=True, max_memory="1MB", executor="serial")
    err = capsys.readouterr().err
    assert "compute_mean_power_spectral_density" in err
    rows = int(re.search(r"([\d,]+) rows", err).group(1).replace(",", ""))
    assert rows >= n  # every row, plus the windows' overlaps at chunk seams
    total = re.findall(r"/([\d.]+)([kMG]?)\s*\[", err)[-1]
    scale = {"": 1, "k": 1024, "M": 1024**2, "G": 1024**3}[total[1]]
    assert float(total[0]) * scale == pytest.approx(rows * channels * 4, rel=0.01)  # float32: 4 bytes a value


def test_no_bar_when_disabled(capsys, no_delay):
    lfp = nap.TsdFrame(t=np.arange(2000) / 100.0, d=np.ones((2000, 2)))
    nap.compute_mean_power_spectral_density(lfp, 1.0, progress=False)
    assert capsys.readouterr().err == ""


def test_an_explicit_progress_true_shows_at_once_the_default_waits():
    # a short job asked for a bar gets it at once (a notebook cell that says progress=True shows a
    # widget however fast the machine is); the default keeps short jobs quiet for prog.DELAY seconds
    assert prog._delay(True) == 0.0
    assert prog._delay(None) == prog.DELAY > 0
    with nap.config.override(progress=True):
        assert prog._delay(None) == 0.0
