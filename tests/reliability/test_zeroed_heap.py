"""A zeroed object header in a global heap collection (where HDF5 keeps variable-length strings,
e.g. every ``neurodata_type`` attribute): libhdf5 (2.0.0) loops forever reading it, holding the GIL,
so h5py and pynwb hang on such a file and no timeout in the same process can stop them. napstream
walks the metadata with its own reader first and refuses the file with a FileFormatError, locally and
remotely. Found by the fuzz campaign (``fuzz_open.py --seed 777``, zero mutation of a heap object).

Each open runs in a fresh interpreter with a deadline: a regression hangs that child, not the suite.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

CHILD = r"""
import sys
import napstream as nap
from napstream.errors import FileFormatError
source = sys.argv[1]
kw = {} if "://" not in source else {"cache": False}
try:
    nap.NWBFile(source, **kw)
except FileFormatError as err:
    print("REFUSED", err)
else:
    print("OPENED")
"""


def _zero_a_heap_object(path: Path) -> int:
    """Zero the header (index, count, size) of the first global heap object holding 'core'
    (a ``namespace`` attribute's value); return its byte offset."""
    data = bytearray(path.read_bytes())
    for m in re.finditer(b"GCOL", data):
        size = int.from_bytes(data[m.start() + 8: m.start() + 16], "little")
        at = m.start() + 16
        while at + 16 <= m.start() + size:
            index, length = int.from_bytes(data[at:at + 2], "little"), int.from_bytes(data[at + 8:at + 16], "little")
            if index == 0:
                break
            if data[at + 16: at + 16 + length] == b"core":
                data[at:at + 16] = bytes(16)
                path.write_bytes(bytes(data))
                return at
            at += 16 + (length + 7) // 8 * 8
    raise AssertionError("no heap object holding 'core' found")


@pytest.fixture(scope="module")
def damaged(rel_session, tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("heap") / "zeroed_heap.nwb"
    shutil.copyfile(rel_session, path)
    return path, _zero_a_heap_object(path)


def _open_in_child(source: str) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, source], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"opening {source} hung (libhdf5 looping on the zeroed heap object)")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("where", ["local", "remote"])
def test_a_zeroed_global_heap_object_is_refused_instead_of_hanging(damaged, where, http_server) -> None:
    path, offset = damaged
    source = str(path) if where == "local" else http_server(path.parent).url_for(path.name)
    out = _open_in_child(source)
    assert out.startswith("REFUSED"), out
    assert "is damaged" in out and f"zeroed object header at byte {offset}" in out
    assert "Download the file again" in out


def test_h5py_alone_hangs_on_that_file(damaged) -> None:
    """What the check protects from (skips if a later libhdf5 reads the file or errors instead)."""
    path, _ = damaged
    code = ("import h5py, sys\nf = h5py.File(sys.argv[1], 'r')\n"
            "def touch(name, obj):\n    obj.attrs.get('namespace')\n"
            "try:\n    f.visititems(touch)\nexcept Exception:\n    pass\n")
    try:
        subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=8)
    except subprocess.TimeoutExpired:
        return
    pytest.skip("this libhdf5 does not loop on a zeroed heap object")
