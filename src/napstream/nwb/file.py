"""NWBFile: a lazy, dictionary-like view of an NWB file (local, h5py, pynwb, http/s3/dandi).

Opening walks the HDF5 tree's metadata only (attributes, shapes, dtypes) and builds a table of
keys -> (type, shape, location). ``nwb[key]`` builds the napstream object on first access (lazy:
data are read by the analyses, chunk by chunk) and caches it.

Examples
--------
>>> import tempfile, pathlib
>>> from napstream.testing.sessions import write_session
>>> path = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
>>> with NWBFile(path) as nwb:
...     print("units" in nwb, nwb.type_of("SpatialSeriesLED1"))
True TsdFrame
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from ..errors import FileFormatError, InvalidTypeError, KeyNotFoundError, NapstreamError, UnknownFormatError
from .convert import ReadContext, convert
from .filters import need_filters_under
from .tables import read_table
from .in_memory import as_hdf5, is_in_memory_nwbfile
from .source import DatasetRef, LocalFileNotFoundError, OpenedSource, open_nwb_source
from .index_warmup import start_index_warmup
from .speculate import follow_units, never_speculated, start_speculation
from .tree import Entry, assign_keys, walk

__all__ = ["NWBFile", "load_file", "DatasetRef"]


class NWBFile:
    """A lazy, read-only mapping of the objects of an NWB file (pynapple's ``NWBFile``).

    Parameters
    ----------
    source : str, PathLike, h5py.File, pynwb.NWBFile or NWBHDF5IO
        A local path, an ``http(s)://`` / ``s3://`` / ``dandi://`` URL, an open h5py file, or a
        pynwb file / IO (its underlying h5py file is used; pynwb is not needed to read).
    lazy_loading : bool, default True
        False loads each object's data into memory when it is accessed (pynapple's option).
    speculate : bool or None, default None
        Remote files: right after the open, fetch in the background the small objects most
        likely read next (spike times, behaviour, epochs; see :mod:`napstream.nwb.speculate`).
        None follows ``napstream.config.speculate`` (False unless ``NAPSTREAM_SPECULATE=1``).
        Whatever the setting, reading the units queues the first position series behind their
        spike times (:func:`~napstream.nwb.speculate.follow_units`), and the chunk indexes of the
        big series (LFP, raw data) are walked in the background from the open on
        (:mod:`napstream.nwb.index_warmup`); False turns those off too.
    **io_options
        Passed to ``napstream.io.open_source`` for remote sources (cache_dir, block_size...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from napstream.testing.sessions import write_session
    >>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
    >>> nwb = NWBFile(p)
    >>> len(nwb["units"])
    2
    >>> nwb.close()
    """

    def __init__(self, source: Any, lazy_loading: bool = True, speculate: bool | None = None,
                 **io_options: Any) -> None:
        if not isinstance(lazy_loading, bool):
            raise InvalidTypeError(f"lazy_loading must be a bool, got {type(lazy_loading).__name__}")
        if speculate not in (None, True, False):
            raise InvalidTypeError(f"speculate must be True, False or None, got {speculate!r}")
        if is_in_memory_nwbfile(source):  # built with pynwb in memory: read it from an HDF5 image
            source = as_hdf5(source)
        self._src: OpenedSource = open_nwb_source(source, io_options)
        self._ctx = ReadContext(self._src.file, self._src.byte_source, self._src.reopen, dict(io_options),
                                lazy_loading, name=repr(self._src.description))
        try:
            self._entries: dict[str, Entry] = assign_keys(walk(self._src.file))
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError) as err:  # damaged metadata
            self._src.close()
            raise FileFormatError(f"{self._src.description!r}: cannot read the NWB structure ({err})") from err
        except BaseException:
            self._src.close()
            raise
        self._by_path = {e.nwb_path: e for e in self._entries.values()}
        self._by_path.update({e.path: e for e in self._entries.values()})
        self._cache: dict[str, Any] = {}
        self.name = self._src.name
        self.path = self._src.description
        #: the background fetch of the objects most likely read next (None: none, e.g. local files)
        self.speculation = start_speculation(self._src.file, self._entries, self._src.byte_source,
                                             speculate)
        #: the background walk of the chunk indexes of the file's big series (None: none, e.g. local
        #: files; see :mod:`napstream.nwb.index_warmup`)
        self.index_warmup = start_index_warmup(self._src.file, self._entries, self._src.byte_source, speculate)
        #: the position fetched behind the units' spike times once they are read (None: not started)
        self._follow: Any = None
        self._speculate = speculate
        self._ctx.follow_units = self._follow_units

    def _follow_units(self, group: Any) -> None:
        """The units' spike times are on their way: queue the position behind them (see
        :func:`~napstream.nwb.speculate.follow_units`)."""
        if self._follow is None and self.speculation is None:
            self._follow = follow_units(self._src.file, self._entries, self._src.byte_source, group,
                                        self._speculate)

    # ------------------------------------------------------------------ mapping
    def keys(self) -> list[str]:
        """The keys, as pynapple names them."""
        return list(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        """``(key, object)`` pairs (builds every object lazily; unsupported types are skipped)."""
        return [(k, self[k]) for k, e in self._entries.items() if e.kind != "unsupported"]

    def values(self) -> list[Any]:
        """Every convertible object (lazy)."""
        return [v for _, v in self.items()]

    def get(self, key: str, default: Any = None) -> Any:
        """``nwb[key]`` or ``default`` when the key does not exist."""
        return self[key] if key in self else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._entries or key in self._by_path)

    def _entry(self, key: Any) -> Entry:
        if not isinstance(key, str):
            raise KeyNotFoundError(f"keys of an NWBFile are strings, got {type(key).__name__} {key!r}")
        entry = self._entries.get(key) or self._by_path.get(key)
        if entry is None:
            close = difflib.get_close_matches(key, list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise KeyNotFoundError(f"no key {key!r} in NWB file {self.name!r}{hint} (keys: {self.keys()})")
        return entry

    def __getitem__(self, key: str) -> Any:
        entry = self._entry(key)
        if never_speculated(entry):  # the script goes for the big data (an LFP): it comes first
            for spec in (self.speculation, self._follow):
                if spec is not None:
                    spec.cancel()
        if entry.key not in self._cache:
            try:
                self._cache[entry.key] = self._with_filters(lambda: convert(entry, self._ctx), entry.location, key)
            except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:  # h5py meeting damaged metadata
                if isinstance(err, NapstreamError):
                    raise
                raise FileFormatError(f"{self.name!r}: {key!r} could not be read: the file looks damaged ({err})") from err
        return self._cache[entry.key]

    def _with_filters(self, read: Callable[[], Any], location: str, key: str) -> Any:
        """``read()``; when it fails on a dataset under ``location`` compressed with a filter HDF5
        lacks (hdf5plugin's: nwb/filters.py), once more after loading it, or
        MissingDependencyError saying what to install."""
        try:
            return read()
        except (OSError, RuntimeError) as err:
            if isinstance(err, NapstreamError) or not need_filters_under(self._src.file, location, key):
                raise
        return read()

    def table(self, key: str) -> pd.DataFrame:
        """Every row and column of a DynamicTable as a pandas DataFrame indexed by ``id`` (lossless).

        Works for any table: trials, epochs and other TimeIntervals, units, electrodes, custom
        tables, given by key or HDF5 path. Ragged columns hold one array per row, references
        the referenced object's name, region columns the referenced rows' ids. Unlike ``nwb[key]``
        nothing is dropped or merged (an IntervalSet cannot hold NaN or overlapping intervals).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from napstream.testing.sessions import write_session
        >>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
        >>> with NWBFile(p) as nwb:
        ...     print(list(nwb.table("units").index))
        [0, 1]
        """
        import h5py

        if isinstance(key, str) and key not in self and key.startswith("/") and key in self._src.file:
            path, label = key, key
        else:
            entry = self._entry(key)
            path, label = entry.location, entry.key
        group = self._src.file[path]
        if not isinstance(group, h5py.Group) or "colnames" not in group.attrs or "id" not in group:
            raise InvalidTypeError(f"{label!r} ({path}) in {self.path!r} is not a DynamicTable; "
                                   f"nwb.table reads tables (trials, epochs, units, electrodes...)")
        try:
            return self._with_filters(lambda: read_table(group, lossless=True), path, label)
        except NapstreamError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
            raise FileFormatError(f"{label!r} ({path}) in {self.path!r}: cannot read the table "
                                  f"({type(err).__name__}: {err}); the file may be damaged") from err

    def type_of(self, key: str) -> str:
        """The napstream type of ``key`` (e.g. ``'TsdFrame'`` or ``'unsupported: Images'``)."""
        return self._entry(key).type_label

    def describe(self, key: str) -> dict[str, Any]:
        """What the file says of ``key``, from metadata only: ``unit``, ``rate``, ``description``,
        ``conversion``, ``chunks``, ``compression``... (None where it says nothing).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from napstream.testing.sessions import write_session
        >>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
        >>> with NWBFile(p) as nwb:
        ...     nwb.describe("SpatialSeriesLED1")["unit"]
        'meters'
        """
        from .describe import details

        return details(self.file, self._entry(key))

    def entry(self, key: str) -> Entry:
        """The :class:`~napstream.nwb.tree.Entry` (path, neurodata type, shape, dtype) of ``key``."""
        return self._entry(key)

    @property
    def file(self) -> Any:
        """The underlying open ``h5py.File``."""
        return self._src.file

    @property
    def io_stats(self) -> Any:
        """Byte counters of the remote source (a zeroed IOStats for local files)."""
        stats = getattr(self._src.byte_source, "stats", None)
        if stats is not None:
            return stats
        from ..io.stats import IOStats

        return IOStats()

    # ------------------------------------------------------------------ display
    def _rows(self) -> list[list[str]]:
        rows = []
        for key, e in self._entries.items():
            shape = "(" + ", ".join(str(s) for s in e.shape) + ("," if len(e.shape) == 1 else "") + ")"
            rows.append([key, e.type_label, shape if e.shape else "", e.path])
        return rows

    def __str__(self) -> str:
        headers = ["Keys", "Type", "Shape", "Location"]
        rows = self._rows()
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

        def fmt(r: list[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

        body = [fmt(r) for r in rows]
        return "\n".join([str(self.name), line, fmt(headers), line.replace("-", "="), *body, line])

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from .describe import nwbfile_html

        return nwbfile_html(self)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the file (and the byte source) if napstream opened it."""
        for spec in (getattr(self, "speculation", None), getattr(self, "_follow", None),
                     getattr(self, "index_warmup", None)):
            if spec is not None:
                spec.cancel()
        ctx = getattr(self, "_ctx", None)
        if ctx is not None:
            ctx.join_behind()  # values of a series still arriving: their batch ends first
        self._src.close()

    def __enter__(self) -> NWBFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @classmethod
    def from_dandi(cls, dandiset_id: str, path: str, version: str | None = None, **io_options: Any) -> NWBFile:
        """Open an asset of a DANDI dandiset by path (``dandi://<id>[@<version>]/<path>``).

        ``version=None`` reads the most recent published version, else the draft (dandi-cli's
        rule); ``"draft"`` reads the draft.

        Examples
        --------
        >>> NWBFile.from_dandi("000582", "sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb")  # doctest: +SKIP
        """
        suffix = "" if version in (None, "latest") else f"@{version}"
        return cls(f"dandi://{dandiset_id}{suffix}/{path.lstrip('/')}", **io_options)


def _load_npz(path: str | os.PathLike) -> Any:
    """pynapple's npz dispatch: the object class named by the file's ``type`` entry, else np.load."""
    import numpy as np

    from .. import core

    f = np.load(path, allow_pickle=True)
    kind = str(f["type"][0]) if "type" in f.files else ""
    cls = getattr(core, kind, None) if kind else None
    reader = getattr(cls, "_from_npz_reader", None)
    return f if reader is None else reader(f)


def load_file(path: str | os.PathLike, lazy_loading: bool = True, speculate: bool | None = None,
              **io_options: Any) -> Any:
    """Open an NWB file (path or URL) as an :class:`NWBFile`, or load a pynapple ``.npz`` (pynapple's ``load_file``).

    ``.npz`` files saved by napstream or pynapple (``obj.save``) are loaded into the object class they
    hold; anything else is opened as NWB (``speculate``: see :class:`NWBFile`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from napstream.testing.sessions import write_session
    >>> p = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
    >>> load_file(p).keys()[:1]
    ['electrodes']
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if str(path).lower().endswith(".npz"):
        if not os.path.exists(path):
            err = LocalFileNotFoundError(f"File {path} does not exist")  # pynapple's words (its tests compare them)
            err.errno = errno.ENOENT
            raise err
        return _load_npz(path)
    if os.path.isfile(path) and not str(path).lower().endswith(".nwb") and not _is_hdf5(path):
        err = UnknownFormatError("File format not supported")  # pynapple's words and type (a RuntimeError)
        err.add_note(f"napstream.load_file reads NWB (HDF5) files and pynapple's .npz files; {str(path)!r} is neither")
        raise err
    return NWBFile(path, lazy_loading=lazy_loading, speculate=speculate, **io_options)


def _is_hdf5(path: str | os.PathLike) -> bool:
    import h5py

    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False
