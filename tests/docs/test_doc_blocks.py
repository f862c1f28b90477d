"""Every ```python block of README.md and docs/*.md runs as written, offline, so the docs cannot rot.

The blocks of one document run in order in one namespace (like a notebook: later blocks use names
earlier ones defined), in a temporary folder holding a synthetic ``session.nwb``. The only setup is
configuration a user could do too: ``dandi://`` resolves through the local DANDI API server in
napstream.testing (``nap.config.dandi_api_url``), which serves that session under the guide's asset
path, and the block cache lives in a temporary folder. A block preceded by
``<!-- napstream: skip-block (reason) -->`` is not run (it needs the internet). Relative links of the
documents must point at files inside the repository."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pynwb")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import napstream as nap  # noqa: E402
from napstream.testing import LocalDandiServer, write_session  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ASSET = "sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb"
BLOCK = re.compile(r"(?P<skip><!--\s*napstream:\s*skip-block[^>]*-->\s*\n)?^```python[^\n]*\n(?P<code>.*?)^```",
                   re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """(first line number, code, skipped) of each ```python block of a Markdown file."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start("code")) + 1, m.group("code"), bool(m.group("skip")))
            for m in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    return write_session(tmp_path_factory.mktemp("docs") / "session.nwb", duration=60.0, n_units=4, n_channels=4)


@pytest.fixture
def sandbox(session, tmp_path, monkeypatch):
    """A folder with session.nwb, dandi:// resolved by a local DANDI API server, a private cache."""
    shutil.copy(session, tmp_path / "session.nwb")
    monkeypatch.chdir(tmp_path)
    dandi = LocalDandiServer({ASSET: session}, dandiset_id="000582").start()
    try:
        with nap.config.override(dandi_api_url=dandi.api_url, cache_dir=str(tmp_path / "cache"), progress=False,
                                 executor=nap.config.executor):
            yield tmp_path
    finally:
        dandi.stop()


def test_blocks_are_found():
    blocks = {p.name: python_blocks(p) for p in DOCS}
    assert len(blocks["README.md"]) >= 3 and len(blocks["user-guide.md"]) >= 6
    assert any(skip for _, _, skip in blocks["user-guide.md"])


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(doc, sandbox):
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    try:
        for line, code, skip in python_blocks(doc):
            if skip:
                continue
            try:
                exec(compile(code, f"{doc.name}, block at line {line}", "exec"), namespace)  # noqa: S102
            except Exception as err:  # noqa: BLE001 - say which block failed
                pytest.fail(f"{doc.name}, the block at line {line} fails: {type(err).__name__}: {err}\n{code}")
    finally:
        for value in list(namespace.values()):
            if isinstance(value, LocalDandiServer):
                value.stop()
            elif isinstance(value, nap.NWBFile):
                value.close()
        plt.close("all")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_stay_inside_the_repository(doc):
    for m in LINK.finditer(doc.read_text()):
        target = m.group("target")
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"
