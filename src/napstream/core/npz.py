"""pynapple's npz files: where ``save`` writes (:func:`npz_path`) and :class:`NPZFile`, which reads a
file saved by pynapple or napstream back into the object (``nap.load_file("x.npz")``).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> import napstream as nap
>>> path = os.path.join(tempfile.mkdtemp(), "tsd.npz")
>>> nap.Tsd(t=[0.0, 1.0], d=[5.0, 6.0]).save(path)
>>> NPZFile(path).load().d
array([5., 6.])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentRuntimeError, InvalidTypeError

__all__ = ["NPZFile", "npz_path"]


def npz_path(filename: Any) -> Path:
    """The ``.npz`` path ``save(filename)`` writes to, checked as pynapple checks it.

    Raises
    ------
    InvalidTypeError (TypeError)
        ``filename`` is not a str or Path.
    ArgumentRuntimeError (ValueError, RuntimeError as in pynapple)
        ``filename`` is a folder, or its folder does not exist.
    """
    if not isinstance(filename, (str, Path)):
        raise InvalidTypeError(f"Invalid filename type {type(filename)}: filename must be a str or Path.")
    path = Path(filename).resolve()
    if path.is_dir():
        raise ArgumentRuntimeError(f"Invalid filename input. {path} is directory.")
    path = path.with_suffix(".npz")
    if not path.parent.exists():
        raise ArgumentRuntimeError(f"Path {path.parent} does not exist.")
    return path


#: entries each saved class has (pynapple's rule to recognise files without a ``type`` entry)
EXPECTED_ENTRIES = {
    "TsGroup": {"t", "start", "end", "index"},
    "TsdFrame": {"t", "d", "start", "end", "columns"},
    "TsdTensor": {"t", "d", "start", "end"},
    "Tsd": {"t", "d", "start", "end"},
    "Ts": {"t", "start", "end"},
    "IntervalSet": {"start", "end"},
}


def _class_from_entries(names: set, data_ndim: int | None) -> str:
    if data_ndim is not None and EXPECTED_ENTRIES["Tsd"].issubset(names):
        return {1: "Tsd", 2: "TsdFrame"}.get(data_ndim, "TsdTensor")
    for kind, expected in EXPECTED_ENTRIES.items():
        if expected.issubset(names):
            return kind
    return "npz"


def series_from_npz(cls: type, file: Any) -> Any:
    """A Ts/Tsd/TsdFrame/TsdTensor from an opened npz file saved by ``save`` (pynapple's layout)."""
    from .interval_set import IntervalSet

    kwargs = {k: file[k] for k in file.keys() if k not in ("start", "end", "type", "_metadata")}
    obj = cls(time_support=IntervalSet(start=file["start"], end=file["end"]), **kwargs)
    if "_metadata" in file.keys():
        meta = file["_metadata"]
        meta = meta.item() if getattr(meta, "shape", None) == () else meta
        if meta:
            if isinstance(next(iter(meta.values())), dict):
                import pandas as pd

                meta = pd.DataFrame.from_dict(meta)
            obj.set_info(meta)
    return obj


class NPZFile:
    """An npz file saved by pynapple or napstream, read back as the object it holds.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file.

    Attributes
    ----------
    type : str
        The class stored ("Tsd", "TsGroup", "IntervalSet"...), or "npz" for any other npz file.

    Examples
    --------
    >>> import os, tempfile
    >>> import napstream as nap
    >>> path = os.path.join(tempfile.mkdtemp(), "ep.npz")
    >>> nap.IntervalSet([0, 10], [5, 20]).save(path)
    >>> f = nap.NPZFile(path)
    >>> str(f.type), len(f.load())
    ('IntervalSet', 2)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.file = np.load(self.path, allow_pickle=True)
        names = set(self.file.keys())
        kind: Any = ""
        if "type" in names:
            try:
                kind = self.file["type"][0]
            except (IndexError, TypeError):
                kind = ""
        if kind not in EXPECTED_ENTRIES:
            kind = _class_from_entries(names, self.file["d"].ndim if "d" in names else None)
        self.type = kind

    def load(self) -> Any:
        """The object stored (Ts, Tsd, TsdFrame, TsdTensor, TsGroup, IntervalSet), or numpy's
        NpzFile for any other npz file."""
        if self.type == "npz":
            return self.file
        from . import interval_set, time_series, ts_group

        cls = {"IntervalSet": interval_set.IntervalSet, "TsGroup": ts_group.TsGroup}.get(
            self.type) or getattr(time_series, self.type)
        return cls._from_npz_reader(self.file)
