"""Files compressed with hdf5plugin's filters (Zstandard, Blosc), as files written for DANDI may be.

pynwb reads them once the script imports hdf5plugin; napstream loads it by itself when a dataset needs
it, and without it raises MissingDependencyError naming the dataset, the filter and what to install
(h5py's own error reads like a damaged file). Each read runs in a fresh interpreter: once hdf5plugin
is imported, its filters stay registered for the whole process.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

hdf5plugin = pytest.importorskip("hdf5plugin")
pynwb = pytest.importorskip("pynwb")

from napstream.errors import MissingDependencyError  # noqa: E402
from napstream.nwb import filters  # noqa: E402

SRC = str(Path(filters.__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def plugin_file(tmp_path_factory):
    """A pynwb-written file: a TsdFrame's data in Zstandard, another in Blosc (lz4 + shuffle), a
    series whose timestamps are in Zstandard, and units whose spike times are."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    def zstd(a, chunks):
        return H5DataIO(a, chunks=chunks, allow_plugin_filters=True, **hdf5plugin.Zstd(clevel=3))

    rng = np.random.default_rng(7)
    nwb = NWBFile(session_description="plugin filters", identifier="plugins",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    data = rng.standard_normal((20_000, 4)).astype("f4")
    with pytest.warns(UserWarning):  # hdmf: "32015 compression may not be available..."
        nwb.add_acquisition(TimeSeries(name="zstd", data=zstd(data, (1000, 4)), unit="mV", rate=1000.0))
        blosc = H5DataIO(data[::-1].copy(), chunks=(1000, 4), allow_plugin_filters=True,
                         **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
        nwb.add_acquisition(TimeSeries(name="blosc", data=blosc, unit="mV", starting_time=2.0, rate=500.0))
        t = np.cumsum(rng.uniform(0.001, 0.002, 5000))
        nwb.add_acquisition(TimeSeries(name="zts", data=zstd(rng.standard_normal(5000), (500,)), unit="m",
                                       timestamps=zstd(t, (500,))))
        for i in range(3):
            nwb.add_unit(spike_times=np.sort(rng.uniform(0, 100, 400 + i)))
        spikes = nwb.units.get("spike_times")
        getattr(spikes, "target", spikes).set_data_io(
            H5DataIO, dict(chunks=(200,), allow_plugin_filters=True, **hdf5plugin.Zstd()))
        path = tmp_path_factory.mktemp("plugins") / "plugins.nwb"
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    with h5py.File(path, "r") as f:  # the filters are really there
        assert "32015" in f["units/spike_times"]._filters and "32001" in f["acquisition/blosc/data"]._filters
    return path


def _pynwb_reference(path):
    """What pynwb reads (hdf5plugin imported in this process)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        zstd, blosc, zts = (nwb.acquisition[k] for k in ("zstd", "blosc", "zts"))
        return {
            "zstd": zstd.data[:], "blosc": blosc.data[:], "blosc_t": 2.0 + np.arange(len(blosc.data)) / 500.0,
            "zts": zts.data[:], "zts_t": zts.timestamps[:],
            "units": [np.asarray(s) for s in nwb.units.to_dataframe()["spike_times"]],
        }


READ = textwrap.dedent("""
    import json, sys, numpy as np
    if sys.argv[2] == "block":
        sys.modules["hdf5plugin"] = None   # as if it were not installed
    import napstream as nap
    source, out = sys.argv[1], sys.argv[3]
    server = None
    if source.startswith("http"):
        from napstream.testing import RangeHTTPServer
        root, name = source.split("|")[1:]
        server = RangeHTTPServer(root, latency=0.002).start()
        source = server.url_for(name)
    result = {"loaded_before": "hdf5plugin" in sys.modules and sys.modules["hdf5plugin"] is not None}
    kw = {"cache_dir": sys.argv[4]} if server else {}
    try:
        with nap.NWBFile(source, **kw) as nwb:
            for key in ("zstd", "blosc", "zts", "units"):
                try:
                    x = nwb[key]
                    if key == "units":
                        result[key] = [np.asarray(x[i].t).tolist() for i in x.keys()]
                    else:
                        result[key] = np.asarray(x.values).tolist()
                        result[key + "_t"] = np.asarray(x.t).tolist()
                except Exception as err:
                    result[key] = {"error": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
                                   "message": str(err)}
            try:
                result["table"] = [np.asarray(v).tolist() for v in nwb.table("units")["spike_times"]]
            except Exception as err:
                result["table"] = {"error": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
                                   "message": str(err)}
    finally:
        if server is not None:
            server.stop()
    result["loaded_after"] = "hdf5plugin" in sys.modules and sys.modules["hdf5plugin"] is not None
    json.dump(result, open(out, "w"))
""")


def _read(tmp_path, source, mode):
    out = tmp_path / f"{mode}.json"
    proc = subprocess.run([sys.executable, "-c", READ, str(source), mode, str(out), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _check_values(got, ref):
    for key in ("zstd", "blosc", "zts"):
        np.testing.assert_array_equal(np.asarray(got[key], dtype=ref[key].dtype), ref[key])
    np.testing.assert_allclose(got["blosc_t"], ref["blosc_t"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got["zts_t"], ref["zts_t"])
    assert len(got["units"]) == len(ref["units"])
    for mine, theirs in zip(got["units"], ref["units"]):
        np.testing.assert_array_equal(mine, theirs)
    assert len(got["table"]) == len(ref["units"])  # nwb.table("units"): the spike times column
    for mine, theirs in zip(got["table"], ref["units"]):
        np.testing.assert_array_equal(mine, theirs)


def test_plugin_filters_are_loaded_by_themselves_and_read_as_pynwb(plugin_file, tmp_path):
    got = _read(tmp_path, plugin_file, "auto")
    assert not got["loaded_before"] and got["loaded_after"]  # napstream imported it, when a read needed it
    _check_values(got, _pynwb_reference(plugin_file))


def test_plugin_filters_over_http(plugin_file, tmp_path):
    got = _read(tmp_path, f"http|{plugin_file.parent}|{plugin_file.name}", "auto")
    _check_values(got, _pynwb_reference(plugin_file))


def test_without_hdf5plugin_the_error_names_the_dataset_the_filter_and_the_fix(plugin_file, tmp_path):
    got = _read(tmp_path, plugin_file, "block")
    for key, dataset, name in [("zstd", "/acquisition/zstd/data", "Zstandard (HDF5 filter 32015)"),
                               ("blosc", "/acquisition/blosc/data", "Blosc (HDF5 filter 32001)"),
                               ("zts", "/acquisition/zts/timestamps", "Zstandard (HDF5 filter 32015)"),
                               ("units", "/units/spike_times", "Zstandard (HDF5 filter 32015)"),
                               ("table", "/units/spike_times", "Zstandard (HDF5 filter 32015)")]:
        err = got[key]
        assert isinstance(err, dict), f"{key} was read without hdf5plugin: {str(err)[:200]}"
        assert err["error"] == "MissingDependencyError" and "ImportError" in err["mro"], err
        assert dataset in err["message"] and name in err["message"], err["message"]
        assert "pip install hdf5plugin" in err["message"], err["message"]
        assert "damaged" not in err["message"]


def test_a_filter_no_plugin_provides_names_hdf5_plugin_path(tmp_path, monkeypatch):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(100), chunks=(10,), compression="gzip")
    with h5py.File(path, "r") as f:
        assert filters.missing_filters(f["x"]) == [] and filters.need_filters(f["x"]) is False
        monkeypatch.setattr(h5py.h5z, "filter_avail", lambda code: code != h5py.h5z.FILTER_DEFLATE)
        monkeypatch.setattr(filters, "load_plugins", lambda: True)  # hdf5plugin there, the filter not
        with pytest.raises(MissingDependencyError, match="filter 1.*HDF5_PLUGIN_PATH"):
            filters.need_filters(f["x"])
        monkeypatch.setattr(filters, "load_plugins", lambda: False)
        with pytest.raises(MissingDependencyError, match="install hdf5plugin"):
            filters.need_filters(f["x"], "'x'")


def test_show_names_the_plugin_filter(plugin_file, capsys):
    from napstream.cli.main import main

    assert main(["--no-progress", "show", str(plugin_file), "zstd"]) == 0
    assert "Zstandard" in capsys.readouterr().out  # h5py calls it "unknown"
    assert main(["--no-progress", "show", str(plugin_file), "blosc"]) == 0
    assert "Blosc" in capsys.readouterr().out
