"""A dandiset of small generated sessions on the local DANDI API server, built once per test run.

Six good sessions (``sub-0N/sub-0N_ses-1_behavior+ecephys.nwb``), a damaged file (``sub-07``), an
asset whose blob answers 404 (``sub-08``), and non-NWB assets to exercise glob matching. The server
pages by 3 rows, so every listing spans several pages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pynwb")

from sessions_layout import BINS, DAMAGED, GOOD, MINMAX, MISSING, OTHERS


@pytest.fixture(scope="session")
def dandiset_files(tmp_path_factory):
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("dandiset")
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, apath in enumerate(GOOD):
            files[apath] = write_session(root / f"good{i}.nwb", duration=40.0, n_units=3, n_channels=2,
                                         lfp=False, seed=100 + i)
    damaged = root / "damaged.nwb"
    damaged.write_bytes(np.random.default_rng(0).bytes(50_000))
    files[DAMAGED] = damaged
    files[MISSING] = files[GOOD[0]]
    for name in OTHERS:
        other = root / name.replace("/", "_")
        other.write_bytes(b"not a session")
        files[name] = other
    return files


@pytest.fixture(scope="session")
def dandi(dandiset_files):
    from napstream.testing.dandi_server import LocalDandiServer

    server = LocalDandiServer(dandiset_files, page_size=3).start()
    server.remove_blob(MISSING)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reference(dandiset_files):
    """pynapple's 2-D tuning curves of every good session, from the local files."""
    pnap = pytest.importorskip("pynapple")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for apath in GOOD:
            nwb = pnap.load_file(str(dandiset_files[apath]))
            out[apath] = pnap.compute_2d_tuning_curves(nwb["units"], nwb["SpatialSeriesLED1"], BINS, minmax=MINMAX)
    return out
