"""``nap.load_session(path)``: pynapple's deprecated session loader, for the NWB files it wrote.

pynapple's default loader reads ``<path>/pynapplenwb/<session>.nwb`` and exposes ``epochs`` (a dict
of IntervalSets by epoch label), ``time_support`` (their union), ``position`` (a TsdFrame of the
tracking series) and ``nwbfilepath``. napstream reads the same file lazily with :class:`NWBFile`.
pynapple's other loaders (``session_type='neurosuite'``, ``'phy'``, ``'suite2p'``...) read non-NWB
formats and are not provided.

Examples
--------
>>> load_session("/no/such/folder")
Traceback (most recent call last):
...
FileNotFoundError: no NWB session in '/no/such/folder': expected a 'pynapplenwb' folder with one .nwb file
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UnsupportedTypeError

__all__ = ["load_session", "Session"]


class Session:
    """What pynapple's default loader returns: the session's NWB file and its epochs and tracking."""

    def __init__(self, nwbfilepath: str) -> None:
        from ..core import IntervalSet, TsdFrame
        from .file import NWBFile

        self.nwbfilepath = nwbfilepath
        self.path = str(Path(nwbfilepath).parent.parent)
        self.nwb = NWBFile(nwbfilepath)
        keys = self.nwb.keys()
        self.epochs: dict[str, Any] = {}
        self.time_support = None
        if "epochs" in keys:
            ep = self.nwb["epochs"]
            tags = ep.get_info("tags") if "tags" in ep.metadata_columns else [[str(i)] for i in range(len(ep))]
            labels = np.array([str(t[0]) if len(t) else "" for t in tags])
            for label in dict.fromkeys(labels):
                rows = labels == label
                self.epochs[label] = IntervalSet(ep.start[rows], ep.end[rows])
            self.time_support = IntervalSet(np.sort(ep.start), np.sort(ep.end))
        tracking = [k for k in ("rx", "ry", "rz", "x", "y", "z") if k in keys]
        if tracking:
            series = [self.nwb[k] for k in tracking]
            support = self.nwb["position_time_support"] if "position_time_support" in keys else None
            support = IntervalSet(support.start, support.end) if support is not None else None
            self.position = TsdFrame(t=series[0].t, d=np.column_stack([np.asarray(s.values) for s in series]),
                                     columns=tracking, time_support=support)


def load_session(path: str | os.PathLike | None = None, session_type: str | None = None) -> Session:
    """Load a session folder written by pynapple (``<path>/pynapplenwb/<session>.nwb``).

    Parameters
    ----------
    path : str or PathLike
        The session folder.
    session_type : None
        Only pynapple's default (NWB) loader is provided.

    Returns
    -------
    Session
        With ``epochs`` (dict of IntervalSets), ``time_support``, ``position`` (TsdFrame),
        ``nwbfilepath`` and ``nwb`` (the lazy :class:`NWBFile`).
    """
    if session_type is not None:
        raise UnsupportedTypeError(
            f"session_type={session_type!r}: pynapple's non-NWB loaders are not part of napstream; "
            "convert the session to NWB and open it with nap.NWBFile"
        )
    folder = Path(path if path is not None else ".") / "pynapplenwb"
    files = sorted(folder.glob("*.nwb")) if folder.is_dir() else []
    if len(files) != 1:
        raise FileNotFoundError(
            f"no NWB session in {str(path)!r}: expected a 'pynapplenwb' folder with one .nwb file"
        )
    return Session(str(files[0]))
