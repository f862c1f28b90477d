"""NWB versions napstream reads, and the refusal of NWB 1.x files.

NWB 1.x files record their version in a root *dataset* ``nwb_version`` (``"NWB-1.0.5"``) while
NWB 2 records it in a root *attribute*; 1.x files are refused with one line that says so.

Examples
--------
>>> nwb1_version("NWB-1.0.5")
'NWB-1.0.5'
>>> nwb1_version("2.7.0") is None
True
"""

from __future__ import annotations

from typing import Any

from .specs import attr_text

__all__ = ["nwb1_version", "nwb1_message"]


def nwb1_version(value: Any) -> str | None:
    """The version text when ``value`` names an NWB 1.x version, else None."""
    text = attr_text(value).strip()
    bare = text[4:] if text.upper().startswith("NWB-") else text
    return text if bare.startswith("1.") or bare == "1" else None


def nwb1_message(f: Any, description: str) -> str | None:
    """The refusal line for an NWB 1.x file ``f`` (h5py.File), or None for anything else."""
    try:
        version = f.attrs.get("nwb_version")
        if version is None and "nwb_version" in f:
            version = f["nwb_version"][()]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError):
        return None
    found = nwb1_version(version) if version is not None else None
    if found is None:
        return None
    return (f"{description!r} is an NWB 1.x file (version {found}), which napstream does not support; "
            f"convert it to NWB 2 (e.g. with the NWB 1-to-2 converters listed at nwb.org) and open the result")
