"""What a notebook shows for an NWBFile and its I/O counters: the NWBFile's rich repr is a table
of every key with type, shape, unit, rate, location and lazy or not, read from the file's metadata
only (checked against pynwb); ``nwb.io_stats`` as a cell's value is the friendly line."""

from __future__ import annotations

import h5py
import pytest

from napstream.nwb import NWBFile
from napstream.nwb.describe import details

pynwb = pytest.importorskip("pynwb")


def _cells(html: str, key: str) -> list[str]:
    """The cells of the row of ``key`` in a rich repr table."""
    start = html.index(f'<td class="nap-index">{key}</td>')
    row = html[start: html.index("</tr>", start)]
    return [c.split(">", 1)[1] for c in row.split("</td>") if ">" in c]


def test_details_agree_with_pynwb(small_session):
    with pynwb.NWBHDF5IO(str(small_session), "r") as io, NWBFile(small_session) as nwb:
        ref = io.read()
        lfp = ref.processing["ecephys"]["LFP"]["ElectricalSeriesLFP"]
        d = details(nwb.file, nwb.entry("ElectricalSeriesLFP"))
        assert (d["unit"], d["rate"], d["starting_time"]) == (lfp.unit, lfp.rate, lfp.starting_time)
        assert d["description"] == lfp.description and d["conversion"] == lfp.conversion
        with h5py.File(small_session, "r") as f:
            raw = f[nwb.entry("ElectricalSeriesLFP").path + "/data"]
            assert (d["chunks"], d["compression"]) == (raw.chunks, raw.compression)
        pos = ref.processing["behavior"]["Position"]["SpatialSeriesLED1"]
        d = details(nwb.file, nwb.entry("SpatialSeriesLED1"))
        assert d["unit"] == pos.unit and d["rate"] is None


def test_nwbfile_rich_repr_lists_every_key_without_reading_data(small_session):
    with NWBFile(small_session) as nwb:
        html = nwb._repr_html_()
        assert nwb._cache == {}  # nothing was built
        for key in nwb.keys():
            cells = _cells(html, key)
            assert cells[1] == nwb.type_of(key) and cells[-1] == nwb.entry(key).path
        lfp = _cells(html, "ElectricalSeriesLFP")
        assert lfp[2] == "75000 × 4" and lfp[4] == "volts" and lfp[5] == "1250" and lfp[6] == "yes"
        assert _cells(html, "units")[6] == "yes" and _cells(html, "epochs")[6] == "no"
        assert _cells(html, "SpatialSeriesLED1")[4] == "meters"


def test_nwbfile_rich_repr_says_lazy_of_what_is_built(small_session):
    with NWBFile(small_session, lazy_loading=False) as nwb:
        assert _cells(nwb._repr_html_(), "SpatialSeriesLED1")[6] == "no"
        nwb["SpatialSeriesLED1"]
        assert _cells(nwb._repr_html_(), "SpatialSeriesLED1")[6] == "no"


def test_io_stats_as_a_cells_value_is_the_friendly_line(small_session):
    from IPython.core.formatters import HTMLFormatter, PlainTextFormatter

    with NWBFile(small_session) as nwb:
        stats = nwb.io_stats
        text = PlainTextFormatter()(stats)
        assert text == str(stats) and "requests" in text and "IOStats(" not in text
        assert str(stats) in HTMLFormatter()(stats)
        assert "<table" in HTMLFormatter()(nwb)


def test_nwbfile_describe_names_bad_keys(small_session):
    from napstream.errors import KeyNotFoundError

    with NWBFile(small_session) as nwb:
        assert nwb.describe("ElectricalSeriesLFP") == details(nwb.file, nwb.entry("ElectricalSeriesLFP"))
        with pytest.raises(KeyNotFoundError, match="did you mean 'ElectricalSeriesLFP'"):
            nwb.describe("ElectricalSeriesLPF")
