"""Steps 2-4 of the seed guide (/work/shared/GUIDE.md) run unchanged with ``import napstream as nap``.

The file is a generated session served by the loopback RangeHTTPServer and opened exactly as the
guide's step 2 does (fsspec CachingFileSystem + h5py + NWBHDF5IO), with the local URL instead of
the DANDI one. The tuning curves must equal pynapple's on the same data.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

pnap = pytest.importorskip("pynapple")
pytest.importorskip("pynwb")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from napstream.testing.http_server import RangeHTTPServer
    from napstream.testing.sessions import write_session

    root = tmp_path_factory.mktemp("guide")
    write_session(root / "session.nwb", duration=300.0, n_units=8, n_channels=2, lfp_rate=100.0)
    server = RangeHTTPServer(root).start()
    yield root, server.url_for("session.nwb")
    server.stop()


def test_guide_steps_2_to_4(served, monkeypatch):
    root, s3_url = served
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: None)

    # --- step 2 (as in the guide, local URL instead of the DANDI asset) ----------------------
    from pynwb import NWBHDF5IO
    import fsspec
    from fsspec.implementations.cached import CachingFileSystem
    import h5py

    fs = fsspec.filesystem("http")
    fs = CachingFileSystem(fs=fs, cache_storage=str(root / "nwb-cache"))
    file = h5py.File(fs.open(s3_url, "rb"))
    io = NWBHDF5IO(file=file, load_namespaces=True)

    # --- step 3 -------------------------------------------------------------------------------
    import napstream as nap

    nwb = nap.NWBFile(io.read())
    print(nwb)
    units = nwb["units"]  # Spike times
    position = nwb["SpatialSeriesLED1"]  # Position data

    # --- step 4 -------------------------------------------------------------------------------
    tc, binsxy = nap.compute_2d_tuning_curves(units, position, nb_bins=20)

    plt.figure(figsize=(15, 7))
    for i, tcurve in tc.items():
        plt.subplot(2, 4, i + 1)
        plt.imshow(tcurve, origin="lower", aspect="auto")
        plt.title(f"Unit {i}")
    plt.tight_layout()
    plt.show()
    plt.close("all")

    # --- the same with pynapple, from the local file ------------------------------------------
    with NWBHDF5IO(str(root / "session.nwb"), "r") as ref_io:
        ref_nwb = pnap.NWBFile(ref_io.read())
        ref_tc, ref_bins = pnap.compute_2d_tuning_curves(ref_nwb["units"], ref_nwb["SpatialSeriesLED1"], nb_bins=20)
    assert isinstance(tc, dict) and list(tc) == list(ref_tc)
    for k in ref_tc:
        assert tc[k].shape == (20, 20)
        np.testing.assert_allclose(tc[k], ref_tc[k], rtol=1e-10, equal_nan=True)
    for a, b in zip(binsxy, ref_bins):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    io.close()
    file.close()
