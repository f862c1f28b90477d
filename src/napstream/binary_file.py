"""Flat binary recordings (``.dat``, ``.eeg``, ``.lfp``: interleaved samples of every channel), as
pynapple's ``load_binary_file`` reads them: memory-mapped, never read whole.

The times are a regular clock (``i / frequency``), kept as arithmetic rather than an array (a 1-hour
recording at 30 kHz would otherwise spend 864 MB on its timestamps).

Examples
--------
>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "rec.dat")
>>> np.arange(12, dtype="int16").tofile(path)        # 4 samples of 3 channels
>>> eeg = load_binary_file(path, n_channels=3, frequency=1000.0)
>>> eeg.shape, float(eeg.t[-1])
((4, 3), 0.003)
>>> load_binary_file(path, channel=1, n_channels=3, frequency=1000.0).values
memmap([ 1,  4,  7, 10], dtype=int16)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from xml.dom import minidom

import numpy as np

from .core import IntervalSet, RegularTimeIndex, Tsd, TsdFrame
from .errors import ArgumentRuntimeError, InvalidInputError, InvalidTypeError
from .nwb.source import LocalFileNotFoundError

__all__ = ["load_binary_file", "load_eeg"]


def _xml_settings(path: Path) -> minidom.Document:
    xml = path.with_name(path.name.split(".")[0] + ".xml")
    if not xml.is_file():
        raise ArgumentRuntimeError(  # pynapple's words and type
            "Can't find xml file; please specify sampling frequency or number of channels")
    try:
        return minidom.parse(str(xml))
    except Exception as err:  # noqa: BLE001 - any parse failure: say which file
        raise ArgumentRuntimeError(f"cannot read {str(xml)!r} (the Neurosuite settings of {path.name}): {err}") from None


def _xml_number(doc: minidom.Document, outer: str, inner: str, xml_of: Path) -> float:
    try:
        return float(doc.getElementsByTagName(outer)[0].getElementsByTagName(inner)[0].firstChild.data)
    except (IndexError, AttributeError, ValueError):
        raise ArgumentRuntimeError(f"the xml settings of {xml_of.name} have no <{outer}><{inner}>: give "
                                   f"it as an argument") from None


def load_binary_file(filepath: str | os.PathLike, channel: int | list[int] | None = None,
                     n_channels: int | None = None, frequency: float | None = None,
                     precision: Any = "int16", bytes_size: int = 2) -> Tsd | TsdFrame:
    """A flat binary recording of interleaved channels as a Tsd (one channel) or TsdFrame.

    Parameters
    ----------
    filepath : str or path
        The ``.dat`` / ``.eeg`` / ``.lfp`` file.
    channel : int or list of int, optional
        The channel(s) to load. None (default): every channel, as a memory map of the file (nothing is
        read until used); an int: a Tsd over the memory map; a list: a TsdFrame of those columns, read
        into memory.
    n_channels : int, optional
        Channels in the file; default: the ``<acquisitionSystem><nChannels>`` of the Neurosuite
        ``<basename>.xml`` beside it.
    frequency : float, optional
        Sampling rate in Hz; default: from that xml (``samplingRate`` for ``.dat``,
        ``lfpSamplingRate`` for ``.eeg`` / ``.lfp``).
    precision : str or numpy dtype
        Sample type (default ``"int16"``).
    bytes_size : int
        Bytes per sample; must agree with ``precision`` (kept for pynapple's signature).

    Returns
    -------
    Tsd or TsdFrame
        Times ``i / frequency`` seconds. With ``channel`` given, the time support is
        ``[0, n_samples / frequency]`` (as pynapple); otherwise from the first to the last sample.

    Raises
    ------
    RuntimeError
        No ``n_channels`` / ``frequency`` and no xml settings to read them from.
    FileNotFoundError
        No such file.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "rec.eeg")
    >>> np.zeros((1250, 4), dtype="int16").tofile(path)
    >>> load_binary_file(path, channel=[0, 2], n_channels=4, frequency=1250.0).columns.tolist()
    [0, 2]
    """
    if not isinstance(filepath, (str, os.PathLike)):
        raise InvalidTypeError(f"filepath must be a str or os.PathLike, got {type(filepath).__name__}")
    path = Path(filepath)
    if not path.is_file():
        raise LocalFileNotFoundError(2, "No such file or directory", str(path))
    if frequency is None or n_channels is None:
        doc = _xml_settings(path)
        if frequency is None:
            lfp = path.suffix.lower() in (".eeg", ".lfp")
            frequency = _xml_number(doc, "fieldPotentials" if lfp else "acquisitionSystem",
                                    "lfpSamplingRate" if lfp else "samplingRate", path)
        if n_channels is None:
            n_channels = int(_xml_number(doc, "acquisitionSystem", "nChannels", path))
    dtype = np.dtype(precision)
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
        raise InvalidInputError(f"n_channels must be a positive int, got {n_channels!r}")
    if isinstance(frequency, bool) or not isinstance(frequency, (int, float, np.number)) or not frequency > 0:
        raise InvalidInputError(f"frequency must be a positive number of Hz, got {frequency!r}")
    if int(bytes_size) != dtype.itemsize:
        raise InvalidInputError(f"bytes_size={bytes_size} does not match precision {dtype.name!r} "
                                f"({dtype.itemsize} bytes per sample): give the one that fits the file")
    frame = int(n_channels) * dtype.itemsize
    size = path.stat().st_size
    n_samples = size // frame
    if size % frame:
        warnings.warn(f"{path.name}: {size} bytes is not a whole number of samples of {n_channels} channels of "
                      f"{dtype.name}; the last {size % frame} bytes are left out (is n_channels right?)",
                      UserWarning, stacklevel=2)
    data = np.memmap(path, dtype=dtype, mode="r", shape=(n_samples, int(n_channels)))
    clock = RegularTimeIndex(start=0.0, rate=float(frequency), n=n_samples)
    if channel is None:
        return TsdFrame(t=clock, d=data)
    support = IntervalSet(start=0.0, end=n_samples / float(frequency))
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        _check_channels([int(channel)], int(n_channels))
        return Tsd(t=clock, d=data[:, int(channel)], time_support=support)
    if isinstance(channel, (list, tuple, np.ndarray)):
        channels = [int(c) for c in channel]
        _check_channels(channels, int(n_channels))
        return TsdFrame(t=clock, d=np.asarray(data[:, channels]), time_support=support, columns=channels)
    raise InvalidTypeError(f"channel must be an int, a list of ints or None, got {type(channel).__name__}")


def _check_channels(channels: list[int], n_channels: int) -> None:
    bad = [c for c in channels if not -n_channels <= c < n_channels]
    if bad:
        raise InvalidInputError(f"channel {bad[0]} is not among the file's {n_channels} channels")


def load_eeg(filepath: str | os.PathLike, channel: int | list[int] | None = None, n_channels: int | None = None,
             frequency: float | None = None, precision: Any = "int16", bytes_size: int = 2) -> Tsd | TsdFrame:
    """Deprecated name of :func:`load_binary_file` (as in pynapple)."""
    warnings.warn("load_eeg is deprecated and will be removed in a future version. Use load_binary_file instead.",
                  DeprecationWarning, stacklevel=2)
    return load_binary_file(filepath, channel, n_channels, frequency, precision, bytes_size)
