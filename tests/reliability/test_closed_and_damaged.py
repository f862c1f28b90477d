"""Clear errors instead of raw h5py ones (issue #16, item 8): objects used after ``nwb.close()`` say the
file was closed; a remote chunk stored past the end of the file says the file is damaged and names
the dataset (not a caller's bad byte range)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import napstream as nap
from napstream.errors import FileFormatError, InvalidInputError
from napstream.testing.corrupt import LFP
from napstream.testing.http_server import RangeHTTPServer

from rel_common import BLOCK

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

USES = {
    "values": lambda o: np.asarray(o.values),
    "t": lambda o: np.asarray(o.t),
    "restrict": lambda o: np.asarray(o.restrict(nap.IntervalSet(1.0, 5.0)).t),
    "row": lambda o: np.asarray(o[3]),
}


@pytest.mark.parametrize("where", ["local", "remote"])
def test_objects_used_after_close_say_the_file_was_closed(server, rel_session, tmp_path, where):
    source: Any = rel_session if where == "local" else server.url_for(rel_session.name)
    options = {} if where == "local" else {"cache_dir": tmp_path / "cache", "block_size": BLOCK}
    with nap.NWBFile(source, **options) as nwb:
        objects = {k: nwb[k] for k in ("SpatialSeriesLED1", "HeadDirection", "ElectricalSeriesLFP")}
    trials = 0
    for key, obj in objects.items():
        for use_name, use in USES.items():
            try:
                use(obj)
            except InvalidInputError as err:
                assert "was closed" in str(err), (key, use_name, err)
                trials += 1
            except Exception as err:  # noqa: BLE001 - the failure this test exists for
                pytest.fail(f"{key}.{use_name} after close raised {type(err).__name__}: {err}")
    assert trials >= 6  # reads that need the file all said so (others were already in memory)


def _chunk_past_eof(good: Path, out: Path) -> Path:
    """A copy of ``good`` whose LFP chunk 5 is recorded past the end of the file."""
    shutil.copyfile(good, out)
    with h5py.File(out, "r") as f:
        offset = f[LFP + "/data"].id.get_chunk_info(5).byte_offset
    raw = bytearray(out.read_bytes())
    needle = struct.pack("<Q", offset)
    assert raw.count(needle) == 1
    at = raw.find(needle)
    raw[at: at + 8] = struct.pack("<Q", len(raw) + 10**6)
    out.write_bytes(bytes(raw))
    return out


def test_remote_chunk_past_the_end_says_the_file_is_damaged(rel_session, tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    bad = _chunk_past_eof(rel_session, folder / "bad.nwb")
    with RangeHTTPServer(folder) as server, nap.config.override(retries=1, timeout=5.0):
        with nap.NWBFile(server.url_for(bad.name), cache=False) as nwb:
            lfp = nwb["ElectricalSeriesLFP"]
            with pytest.raises(FileFormatError) as info:
                np.asarray(lfp.values)
    message = str(info.value)
    assert "damaged" in message and LFP + "/data" in message, message
    assert "byte range must satisfy" not in message


def _huge_ids(f: Any) -> None:
    """units/id declares 98 million rows (its chunks unallocated): a damaged shape found by fuzzing."""
    ids = f["units/id"][()]
    attrs = dict(f["units/id"].attrs)
    del f["units/id"]
    dset = f.create_dataset("units/id", data=ids, maxshape=(None,), chunks=(len(ids),))
    dset.resize((98_782_988,))
    dset.attrs.update(attrs)


def test_table_column_declaring_a_huge_shape_is_refused_fast(server, rel_session, tmp_path):
    from napstream.testing.corrupt import edit_copy

    folder = tmp_path / "served"
    folder.mkdir()
    bad = edit_copy(rel_session, folder / "huge_ids.nwb", _huge_ids)
    with RangeHTTPServer(folder) as srv, nap.config.override(retries=1, timeout=5.0):
        for source in (bad, srv.url_for(bad.name)):
            with nap.NWBFile(source, cache=False) if source != bad else nap.NWBFile(source) as nwb:
                with pytest.raises(FileFormatError, match="units/id"):
                    nwb["units"]
