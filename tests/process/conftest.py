"""Shared helpers of the process tests."""

from __future__ import annotations

from typing import Any

import pytest


class RecordingArray:
    """An array-like that appends the number of rows of every read to ``log``."""

    def __init__(self, a: Any, log: list[int]) -> None:
        self.a, self.log = a, log
        self.shape, self.dtype = a.shape, a.dtype

    def __getitem__(self, key: Any) -> Any:
        out = self.a[key]
        self.log.append(len(out))
        return out


@pytest.fixture
def recording_array() -> type[RecordingArray]:
    """The :class:`RecordingArray` class (wrap arrays to see how many rows each read takes)."""
    return RecordingArray


class SessionObjects:
    """One synthetic NWB session seen three ways, plus pynapple's objects of the same data.

    ``ref[key]`` is a pynapple object (read by pynapple, or from pynwb's arrays with the NWB
    conversion applied for the LFP); ``sources()`` yields ``(name, {key: napstream object})`` for
    ``"memory"`` (napstream objects built from ``ref``'s arrays), ``"local"`` (lazy, from the file)
    and ``"http"`` (lazy, through a loopback Range server). Keys: units, lfp, head, position.
    """

    KEYS = {"units": "units", "lfp": "ElectricalSeriesLFP", "head": "HeadDirection", "position": "SpatialSeriesLED1"}

    def __init__(self, path: Any, url: str, ref: dict[str, Any]) -> None:
        self.path, self.url, self.ref = path, url, ref

    def memory(self) -> dict[str, Any]:
        import numpy as np

        import napstream as nap

        units = self.ref["units"]
        support = nap.IntervalSet(units.time_support.start, units.time_support.end)
        return {"units": nap.TsGroup({k: nap.Ts(t=np.asarray(units[k].t)) for k in units.keys()},
                                     time_support=support),
                "lfp": nap.TsdFrame(t=np.asarray(self.ref["lfp"].t), d=np.asarray(self.ref["lfp"].values)),
                "head": nap.Tsd(t=np.asarray(self.ref["head"].t), d=np.asarray(self.ref["head"].values)),
                "position": nap.TsdFrame(t=np.asarray(self.ref["position"].t),
                                         d=np.asarray(self.ref["position"].values))}

    def sources(self) -> Any:
        import napstream as nap

        yield "memory", self.memory()
        for name, where in (("local", str(self.path)), ("http", self.url)):
            nwb = nap.NWBFile(where, cache=False) if name == "http" else nap.NWBFile(where)
            try:
                objs = {key: nwb[k] for key, k in self.KEYS.items()}
                assert objs["lfp"].is_lazy, name
                yield name, objs
            finally:
                nwb.close()


@pytest.fixture(scope="session")
def session_objects(tmp_path_factory: Any) -> Any:
    """A 40-second session (3 units, 4 LFP channels at 1250 Hz): memory, local file and loopback HTTP."""
    import numpy as np
    import pynapple as pnap
    from pynwb import NWBHDF5IO

    from napstream.testing.http_server import RangeHTTPServer
    from napstream.testing.sessions import write_session

    folder = tmp_path_factory.mktemp("session_objects")
    path = write_session(folder / "s.nwb", duration=40.0, n_units=3, n_channels=4)
    pn = pnap.load_file(str(path))
    with NWBHDF5IO(str(path), "r") as io:
        es = io.read().processing["ecephys"]["LFP"]["ElectricalSeriesLFP"]
        values = es.data[:] * es.conversion
        if es.channel_conversion is not None:
            values = values * np.asarray(es.channel_conversion[:])[None, :]
        values = values + es.offset
        t = es.starting_time + np.arange(len(values)) / es.rate
    import napstream as nap

    nwb = nap.NWBFile(str(path))  # napstream's units span the session (pynapple's: their spikes)
    support = pnap.IntervalSet(nwb["units"].time_support.start, nwb["units"].time_support.end)
    nwb.close()
    head, position = pn["HeadDirection"], pn["SpatialSeriesLED1"]
    units = pnap.TsGroup({k: pnap.Ts(t=np.asarray(pn["units"][k].t)) for k in pn["units"].keys()},
                         time_support=support)
    ref = {"units": units, "lfp": pnap.TsdFrame(t=t, d=values),
           "head": pnap.Tsd(t=np.asarray(head.t), d=np.asarray(head.values)),
           "position": pnap.TsdFrame(t=np.asarray(position.t), d=np.asarray(position.values))}
    server = RangeHTTPServer(folder).start()
    try:
        yield SessionObjects(path, server.url_for("s.nwb"), ref)
    finally:
        server.stop()


@pytest.fixture(params=["numpy", "pyfftw"])
def fft_backend(request: Any) -> Any:
    """Run a test once per FFT backend of the windowed spectra (napstream.process._fft): NumPy and
    pyFFTW (skipped when pyFFTW, the optional ``napstream[fast]`` extra, is not installed)."""
    from napstream.config import config
    from napstream.process._fft import pyfftw_available

    if request.param == "pyfftw" and not pyfftw_available():
        pytest.skip("pyFFTW is not installed (optional: napstream[fast])")
    with config.override(fft_backend=request.param):
        yield request.param
