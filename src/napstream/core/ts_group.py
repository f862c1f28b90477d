"""TsGroup: a dictionary of Ts/Tsd units (spike trains) sharing one time support, with metadata.

The units may be lazy (their timestamps a :class:`~napstream.core.lazy.LazyArray` in a file):
building a group reads no spike time (``rate`` comes from ``len(unit)`` and the time support),
:meth:`TsGroup.restrict` delegates to the units' lazy ``restrict`` and :meth:`TsGroup.count`
works one unit at a time - binary searches of its time index when bins are few, else its rows
streamed in blocks sized by ``config.memory_budget`` - so it never holds more than one block of
spike times plus the counts. Bins follow pynapple's exact edge recurrence (see :func:`bin_edges`).

Examples
--------
>>> import numpy as np
>>> from napstream.core import Ts, TsGroup
>>> group = TsGroup({0: Ts(t=np.arange(100.0)), 3: Ts(t=np.arange(0.0, 100.0, 2))})
>>> group.index
array([0, 3])
>>> np.round(group.rates, 3)
array([1.01 , 0.505])
"""

from __future__ import annotations

import copy as _copy
import shutil
import warnings
from collections import UserDict
from collections.abc import Hashable, Iterable, Mapping
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentRuntimeError, InvalidInputError, InvalidTypeError, KeyNotFoundError
from . import repr_html, repr_text
from ._group_kernels import bin_edges, count_index, is_subset, union_intervals
from .base_series import _import_pynapple
from .interval_set import IntervalSet
from .metadata import MetadataMixin
from .time_series import Ts, Tsd, TsdFrame
from .units import check_units, to_seconds

__all__ = ["TsGroup"]

_RESERVED_NPZ = {"start", "end", "t", "index", "d", "rate", "keys", "_metadata", "type"}


def _ro(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _unit_rate(unit: Any) -> float:
    """pynapple's rate: len / total length of the support; 0 with a support but no event; NaN."""
    n = len(unit)
    tot = float(np.sum(unit.time_support.end - unit.time_support.start))
    if n == 0:
        return 0.0 if tot > 0 else np.nan
    with np.errstate(divide="ignore"):
        return float(np.float64(n) / np.float64(tot))


def _with_support(unit: Any, ep: IntervalSet) -> Any:
    """The unit restricted to ``ep``; without reading when its data already lie inside ``ep``."""
    if is_subset(unit.time_support, ep) and hasattr(type(unit), "_raw") and isinstance(unit, (Ts, Tsd)):
        return type(unit)._raw(unit.time_index, getattr(unit, "_d", None), ep)
    return unit.restrict(ep)


def _check_keys(data: Any) -> dict[int, Any]:
    """Validate the units' keys as pynapple does and return a dict sorted by integer key."""
    if not isinstance(data, dict):
        if isinstance(data, (str, bytes)) or not isinstance(data, Iterable) or hasattr(data, "time_support"):
            raise InvalidTypeError(
                f"data must be a dict or a list of Ts/Tsd (or arrays of times), got {type(data).__name__}"
            )
        data = dict(enumerate(data))
    keys = []
    for k in data:
        try:
            keys.append(int(k))
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"All keys must be convertible to integers (got key {k!r}).") from err
    for k, ik in zip(data, keys):
        if abs(ik - float(k)) > 1e-8 + 1e-5 * abs(float(k)):  # np.allclose, as pynapple checks
            raise InvalidInputError(f"All keys must have integer value (got key {k!r}).")
    if len(keys) != len(set(keys)):
        raise InvalidInputError(f"Two dictionary keys contain the same integer value: {list(data)}")
    by_int = dict(zip(keys, data.values()))
    return {k: by_int[k] for k in sorted(keys)}


def _as_unit(k: int, v: Any, time_support: IntervalSet | None, time_units: str) -> Any:
    if type(v).__module__.startswith("pynapple.") and type(v).__name__ in ("Ts", "Tsd"):
        v = Ts.from_pynapple(v)  # a pynapple unit becomes the napstream Ts/Tsd
    if isinstance(v, (Ts, Tsd)) or (hasattr(v, "time_support") and hasattr(v, "restrict")):
        return v
    if isinstance(v, (str, bytes, dict)) or not (isinstance(v, (list, tuple)) or hasattr(v, "__len__")):
        raise InvalidTypeError(f"data[{k}] must be a Ts/Tsd or an array of times, got {type(v).__name__}")
    warnings.warn(
        f"Elements should not be passed as {type(v)}. Default time units is seconds when creating the Ts object.",
        stacklevel=4,
    )
    return Ts(t=np.asarray(v), time_support=time_support, time_units=time_units)


def _sort_metadata(metadata: Any, keys_in: list[Any], order: np.ndarray) -> Any:
    """Reorder metadata given in the user's key order to the sorted key order (positional, like pynapple)."""
    if metadata is None or len(metadata) == 0 or len(order) <= 1:
        return metadata
    if isinstance(metadata, pd.DataFrame) and len(metadata) == len(keys_in):
        if np.all(np.asarray(metadata.index) != np.asarray(keys_in)):
            raise InvalidInputError(
                f"metadata index must match the TsGroup keys {list(keys_in)}, got {list(metadata.index)}"
            )
    if not hasattr(metadata, "items"):
        return metadata
    out = {}
    for name, value in metadata.items():
        arr = np.asarray(value)
        out[name] = arr[order] if arr.ndim >= 1 and len(arr) == len(order) else value
    return out


def _table(index: np.ndarray, rates: np.ndarray, meta: dict, max_rows: int | None, max_cols: int | None) -> str:
    """pynapple's TsGroup table (tabulate 'simple' format when tabulate is installed)."""
    names = [c for c in meta if c != "rate"]
    shown = names if max_cols is None else names[:max_cols]
    headers = ["Index", "rate"] + shown
    extra = ["..."] if len(shown) < len(names) else []
    headers += extra
    rows: list[list[Any]] = []
    cols = [index, np.round(np.asarray(rates, dtype=np.float64), 5)] + [_to_str(meta[c]) for c in shown]
    n = len(index)
    picks: list[Any] = list(range(n))
    if max_rows is not None and n > max_rows:
        half = max_rows // 2
        picks = list(range(half)) + [None] + list(range(n - half, n))
    for i in picks:
        if i is None:
            rows.append(["..."] * (2 + len(shown)) + extra)
        else:
            rows.append([c[i] for c in cols] + extra)
    try:
        from tabulate import tabulate
    except ImportError:  # pragma: no cover - tabulate is optional
        return pd.DataFrame(rows, columns=headers).to_string(index=False)
    return tabulate(rows, headers=headers)


def _to_str(values: np.ndarray) -> np.ndarray:
    arr = np.array(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim > 1:
        return np.array([np.array2string(a, precision=2) for a in arr], dtype=object)
    if np.issubdtype(arr.dtype, np.floating):
        return np.around(arr, decimals=2).astype(str)
    if arr.dtype == object:  # ragged cells (a unit's electrodes) as lists: [0, 1] (pynapple prints 01)
        return np.array([repr_text.fmt_cell(a) for a in arr], dtype=object)
    return arr.astype(str)


class TsGroup(UserDict, MetadataMixin):
    """A dictionary of Ts/Tsd units keyed by integers, with one time support and per-unit metadata.

    Parameters
    ----------
    data : dict or list
        Ts/Tsd objects (possibly lazy) or arrays of times (converted to Ts with a warning, as
        pynapple does). Keys must be integer-valued (``1``, ``"2"``, ``3.0``); a list gets keys
        ``0..n-1``.
    time_support : IntervalSet, optional
        Units are restricted to it. Default: the union of the units' time supports.
    time_units : {'s', 'ms', 'us'}, default 's'
        Units of ``data`` given as arrays.
    bypass_check : bool, default False
        Do not restrict the units to ``time_support`` (they must already lie inside it).
    metadata : pandas.DataFrame or dict, optional
        One row per unit, in the order of ``data``.
    **kwargs
        More metadata columns (deprecated in pynapple; still accepted).

    Examples
    --------
    >>> import numpy as np
    >>> from napstream.core import Ts, TsGroup
    >>> g = TsGroup({0: Ts(t=np.arange(100.0)), 1: Ts(t=np.arange(0.0, 100.0, 2))},
    ...             metadata={"area": ["CA1", "V1"]})
    >>> g.area.tolist() == ["CA1", "V1"]
    True
    >>> len(g[[1]])
    1
    """

    def __init__(
        self,
        data: Any,
        time_support: IntervalSet | None = None,
        time_units: str = "s",
        bypass_check: bool = False,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        self._init_metadata()
        check_units(time_units)
        if not isinstance(bypass_check, bool):
            raise InvalidTypeError(f"bypass_check must be a bool, got {type(bypass_check).__name__}")
        if time_support is not None and not isinstance(time_support, IntervalSet):
            raise InvalidTypeError(f"time_support must be an IntervalSet or None, got {type(time_support).__name__}")
        if isinstance(data, Mapping) and not isinstance(data, dict):  # TsGroup, pynapple.TsGroup, UserDict
            data = dict(data.items())
        keys_in = list(data.keys()) if isinstance(data, dict) else None
        units = _check_keys(data)
        if keys_in is None:
            keys_in = list(units)
        order = np.argsort([int(k) for k in keys_in], kind="stable")
        metadata = _sort_metadata(metadata, keys_in, order)
        kwargs = _sort_metadata(kwargs, keys_in, order) or {}
        self.index = np.array(list(units), dtype=np.int64)
        units = {k: _as_unit(k, v, time_support, time_units) for k, v in units.items()}
        if time_support is None:
            parts = [(u.time_support.start, u.time_support.end) for u in units.values()]
            s, e = union_intervals(
                np.concatenate([p[0] for p in parts]) if parts else np.empty(0),
                np.concatenate([p[1] for p in parts]) if parts else np.empty(0),
            )
            if len(s) == 0:
                raise ArgumentRuntimeError(
                    "Union of time supports is empty. Consider passing a time support as argument."
                )
            time_support = IntervalSet(s, e)
        self.time_support = time_support
        if not bypass_check:
            units = {k: _with_support(u, time_support) for k, u in units.items()}
        self.data = units
        self.nap_class = "TsGroup"
        self._metadata_store()["rate"] = _ro(np.array([_unit_rate(u) for u in units.values()], dtype=np.float64))
        self._finish_metadata_init()
        if kwargs:
            warnings.warn(
                "initializing metadata with variable keyword arguments may be unsupported in a future version "
                "of Pynapple. Instead, initialize using the metadata argument.",
                FutureWarning,
                stacklevel=2,
            )
        if metadata is not None or kwargs:
            self.set_info(metadata, **kwargs)

    # -- metadata plumbing -----------------------------------------------------------------
    @property
    def _metadata_index(self) -> np.ndarray:
        return self.index

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "rate" and self.__dict__.get("_initialized", False):  # computed: an AttributeError, as pynapple
            raise AttributeError("Cannot set attribute 'rate'; it is a reserved attribute of TsGroup (the units' "
                                 "firing rates, computed from their spikes). Store other values under another name "
                                 "with 'set_info()'.")
        super().__setattr__(name, value)

    def _check_metadata_name(self, name: Any) -> None:
        if name == "rate":
            raise InvalidInputError("Invalid metadata name 'rate'. Cannot overwrite TsGroup 'rate'!")
        super()._check_metadata_name(name)

    def _check_droppable(self, keys: list[str]) -> None:
        if "rate" in keys:
            raise InvalidInputError("Cannot drop TsGroup 'rate'!")

    def _user_metadata(self, positions: Any = None) -> dict:
        meta = self._metadata_dict() if positions is None else self._metadata_take(positions)
        meta.pop("rate", None)
        return meta

    # -- mapping ---------------------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        if not self.__dict__.get("_initialized", False):
            self.data[int(key)] = value
        else:
            MetadataMixin.__setitem__(self, key, value)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, Hashable) and not isinstance(key, tuple):
            if key in self.data:
                return self.data[key]
            if isinstance(key, str) and key in self._metadata_store():
                return self.get_info(key)
            raise KeyNotFoundError(f"Key {key} not in group index {list(self.index)}.")
        if isinstance(key, list) and len(key) and all(isinstance(k, str) for k in key):
            return self.get_info(key)
        arr = np.asarray(key)
        if arr.dtype == bool:
            if arr.ndim != 1:
                raise IndexError("Only 1-dimensional boolean indices are allowed!")
            if len(arr) != len(self):
                raise IndexError(
                    "Boolean index length must be equal to the number of Ts in the group! "
                    f"The number of Ts is {len(self)}, but the boolean array has length {len(arr)} instead!"
                )
            arr = self.index[arr]
        missing = [k for k in np.atleast_1d(arr).tolist() if k not in self.data]
        if missing:
            raise KeyNotFoundError(f"Key {missing} not in group index {list(self.index)}.")
        return self._ts_group_from_keys(np.atleast_1d(arr).tolist())

    def _ts_group_from_keys(self, keys: list[int]) -> TsGroup:
        pos = np.searchsorted(self.index, keys)
        # like pynapple, units are (re)restricted to the group's support: free when already inside
        return TsGroup({k: self.data[k] for k in keys}, time_support=self.time_support,
                       metadata=self._user_metadata(pos))

    def keys(self) -> list[int]:  # type: ignore[override]
        """The unit keys (a list, like pynapple)."""
        return list(self.data.keys())

    def items(self) -> list[tuple[int, Any]]:  # type: ignore[override]
        """``(key, unit)`` pairs (a list, like pynapple)."""
        return list(self.data.items())

    def values(self) -> list[Any]:  # type: ignore[override]
        """The units (a list, like pynapple)."""
        return list(self.data.values())

    @property
    def rates(self) -> np.ndarray:
        """Rates of the units in Hz (``len(unit) / time support length``)."""
        return self._metadata_store()["rate"]

    @property
    def is_lazy(self) -> bool:
        """True when any unit is lazy."""
        return any(getattr(u, "is_lazy", False) for u in self.data.values())

    def copy(self) -> TsGroup:
        """A deep copy of the group (lazy units stay lazy: only their views are copied)."""
        return _copy.deepcopy(self)

    def __repr__(self) -> str:
        cols, rows = shutil.get_terminal_size()
        max_cols, max_rows = int(max(cols // 12, 5)), int(max(rows - 10, 2))
        return _table(self.index, self.rates, self._metadata_store(), max_rows, max_cols)

    def __str__(self) -> str:
        return _table(self.index, self.rates, self._metadata_store(), None, None)

    def _repr_html_(self) -> str:
        return repr_html.tsgroup_html(self)

    # -- time operations ---------------------------------------------------------------------
    def restrict(self, ep: IntervalSet) -> TsGroup:
        """The group restricted to the epochs ``ep`` (lazy units stay lazy).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import IntervalSet, Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(200.0))})
        >>> len(g.restrict(IntervalSet(0, 100))[0])
        101
        """
        if not isinstance(ep, IntervalSet):
            raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
        units = {k: u.restrict(ep) for k, u in self.data.items()}
        return TsGroup(units, time_support=ep, bypass_check=True, metadata=self._user_metadata())

    def get(self, start: float, end: float | None = None, time_units: str = "s") -> TsGroup:  # type: ignore[override]
        """Events with ``start <= t <= end`` in every unit (time support unchanged).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> len(TsGroup({0: Ts(t=np.arange(10.0))}).get(2, 4)[0])
        3
        """
        units = {k: u.get(start, end, time_units) for k, u in self.data.items()}
        return TsGroup(units, time_support=self.time_support, bypass_check=True, metadata=self._user_metadata())

    def value_from(self, tsd: Any, ep: IntervalSet | None = None, mode: str = "closest") -> TsGroup:
        """Replace each unit's events by the closest value of ``tsd`` (see ``Tsd.value_from``).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, Tsd, TsGroup
        >>> g = TsGroup({0: Ts(t=np.array([1.0, 2.0]))})
        >>> g.value_from(Tsd(t=np.arange(5.0), d=np.arange(5.0) * 10))[0].values
        array([10., 20.])
        """
        if not (isinstance(tsd, Tsd) or (hasattr(tsd, "lazy_data") and hasattr(tsd, "time_support"))):
            raise InvalidTypeError(f"First argument should be an instance of Tsd, TsdFrame or TsdTensor, got {type(tsd).__name__}")
        ep = tsd.time_support if ep is None else ep
        if not isinstance(ep, IntervalSet):
            raise InvalidTypeError(f"Argument ep should be of type IntervalSet or None, got {type(ep).__name__}")
        if mode not in ("closest", "before", "after"):
            raise InvalidInputError(f"Argument mode should be 'closest', 'before', or 'after'. {mode} provided instead.")
        units = {k: u.value_from(tsd, ep=ep, mode=mode) for k, u in self.data.items()}
        return TsGroup(units, time_support=ep, metadata=self._user_metadata())

    def count(
        self, bin_size: float | None = None, ep: IntervalSet | None = None, time_units: str = "s", dtype: Any = None
    ) -> TsdFrame:
        """Count events per bin (or per epoch of ``ep`` when ``bin_size`` is None), unit by unit.

        Counts come from binary searches on each unit's time index, so a lazy unit is never loaded
        whole; memory is the counts plus a few probe blocks.

        Parameters
        ----------
        bin_size : float, optional
            Bin size in ``time_units``. None: one count per epoch of ``ep``.
        ep : IntervalSet, optional
            Epochs to bin (default: the time support).
        time_units : {'s', 'ms', 'us'}
        dtype : numpy dtype, optional
            dtype of the counts (default int64).

        Returns
        -------
        TsdFrame
            Bin centres x units; columns are the unit keys.

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import IntervalSet, Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(0.0, 10.0, 0.5))})
        >>> g.count(1.0, IntervalSet(0, 4)).values[:, 0]
        array([2, 2, 2, 2])
        """
        if bin_size is not None:
            if isinstance(bin_size, (int, np.integer)) and not isinstance(bin_size, bool):
                bin_size = float(bin_size)
            if not isinstance(bin_size, (float, np.floating)):
                raise InvalidTypeError(f"bin_size argument should be float or int. Got {type(bin_size).__name__}.")
            if not np.isfinite(bin_size) or bin_size <= 0:
                raise InvalidInputError(f"bin_size must be a positive finite number, got {bin_size!r}")
        if not isinstance(time_units, str) or time_units not in ("s", "ms", "us"):
            raise InvalidInputError(f"time_units argument should be 's', 'ms' or 'us'. Got {time_units!r}")
        ep = self.time_support if ep is None else ep
        if not isinstance(ep, IntervalSet):
            raise InvalidTypeError(f"ep must be an IntervalSet, got {type(ep).__name__}")
        try:
            dtype = np.dtype(np.int64 if dtype is None else dtype)
        except TypeError as err:
            raise InvalidInputError(f"{dtype} is not a valid numpy dtype") from err
        starts, ends = ep.start, ep.end
        if bin_size is None:
            edges = None
            t = starts + (ends - starts) / 2
        else:
            size = float(np.asarray(to_seconds(np.array([bin_size]), time_units))[0])
            edges = [bin_edges(s, e, size) for s, e in zip(starts, ends)]
            t = np.concatenate([e[:-1] + size / 2 for e in edges]) if edges else np.empty(0)
        # column-major: each unit's column is written contiguously
        counts = np.zeros((len(t), len(self.index)), dtype=dtype if len(self.index) else np.float64, order="F")
        for j, unit in enumerate(self.data.values()):
            counts[:, j] = count_index(unit.time_index, starts, ends, edges)
        return TsdFrame(
            t=t, d=counts, time_support=ep, columns=self.index, metadata=self._user_metadata() or None
        )

    def to_tsd(self, *args: Any) -> Tsd:
        """All events merged into one Tsd whose values are the unit keys (or a metadata column / values).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> TsGroup({0: Ts(t=np.array([0.0, 2.0])), 5: Ts(t=np.array([1.0]))}).to_tsd().values
        array([0., 5., 0.])
        """
        values = self._label_values(args[0]) if args else self.index
        times = [np.asarray(u.t, dtype=np.float64) for u in self.data.values()]
        t = np.concatenate(times) if times else np.empty(0)
        d = np.concatenate([np.full(len(x), v, dtype=np.float64) for x, v in zip(times, values)]) if times else np.empty(0)
        order = np.argsort(t, kind="stable")
        return Tsd(t=t[order], d=d[order], time_support=self.time_support)

    def _label_values(self, arg: Any) -> np.ndarray:
        if isinstance(arg, pd.Series):
            if not np.array_equal(self.index, arg.index):
                raise InvalidInputError("Index are not equals")
            return np.asarray(arg.values).ravel()
        if isinstance(arg, (np.ndarray, list)):
            if len(arg) != len(self):
                raise InvalidInputError("Values is not the same length.")  # pynapple's wording, exactly
            return np.asarray(arg)
        if isinstance(arg, str):
            if arg not in self._metadata_store():
                raise KeyNotFoundError(f"Key {arg} not in metadata of TsGroup")  # pynapple's wording, exactly
            return np.asarray(self._metadata_store()[arg])
        raise InvalidTypeError(  # pynapple's wording, exactly
            "Unknown argument format. Must be pandas.Series, numpy.ndarray or a string from one of the "
            f"following values : [{', '.join(self.metadata_columns)}]"
        )

    def trial_count(
        self, ep: IntervalSet, bin_size: float, align: str = "start", padding_value: float = np.nan, time_unit: str = "s"
    ) -> np.ndarray:
        """Counts per unit, trial (epoch of ``ep``) and bin: an array (units, trials, bins), padded.

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import IntervalSet, Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(0.0, 100.0))})
        >>> g.trial_count(IntervalSet([20, 40], [22, 44]), bin_size=1)[0]
        array([[ 1.,  1., nan, nan],
               [ 1.,  1.,  1.,  1.]])
        """
        # pynapple's checks, order, messages and type (RuntimeError)
        if not isinstance(ep, IntervalSet):
            raise ArgumentRuntimeError("Argument ep should be of type IntervalSet")
        if time_unit not in ("s", "ms", "us"):
            raise ArgumentRuntimeError("time_unit should be 's', 'ms' or 'us'")
        if align not in ("start", "end"):
            raise ArgumentRuntimeError("align should be 'start' or 'end'")
        if not isinstance(bin_size, Number) or isinstance(bin_size, bool):
            raise ArgumentRuntimeError("bin_size should be of type int or float")
        size = float(np.asarray(to_seconds(np.array([bin_size], dtype=np.float64), check_units(time_unit)))[0])
        n_t = int(np.max(np.ceil((ep.end + size - ep.start) / size))) if len(ep) else 0
        counts = self.count(bin_size=size, ep=ep)
        out = np.full((counts.shape[1], len(ep), n_t), padding_value, dtype=np.float64)
        t = np.asarray(counts.t)
        lengths = np.zeros(len(ep), dtype=int)
        for i, (s, e) in enumerate(zip(ep.start, ep.end)):
            block = np.asarray(counts.values)[(t >= s) & (t <= e)].T
            lengths[i] = block.shape[1]
            if align == "start":
                out[:, i, : block.shape[1]] = block
            elif block.shape[1]:
                out[:, i, -block.shape[1]:] = block
        m = int(lengths.max()) if len(lengths) else 0
        return out[:, :, :m] if align == "start" else out[:, :, out.shape[2] - m:]

    def subsample(self, fraction: float, seed: int | None = None) -> TsGroup:
        """Keep a random ``round(n * fraction)`` events of each unit (reads the units one at a time).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> len(TsGroup({0: Ts(t=np.arange(100.0))}).subsample(0.25, seed=0)[0])
        25
        """
        if not isinstance(fraction, Number) or isinstance(fraction, bool):
            raise InvalidTypeError(f"fraction must be a number, got {type(fraction).__name__}")
        if not 0 <= fraction <= 1:
            raise InvalidInputError(f"fraction must be between 0 and 1, got {fraction!r}")
        rng = np.random.default_rng(seed)
        units = {}
        for k, u in self.data.items():
            n = len(u)
            keep = np.sort(rng.choice(n, size=int(np.round(n * fraction)), replace=False)) if n else np.zeros(0, int)
            t = np.asarray(u.t)[keep]
            units[k] = (Tsd(t=t, d=np.asarray(u.values)[keep], time_support=self.time_support) if isinstance(u, Tsd)
                        else Ts(t=t, time_support=self.time_support))
        return TsGroup(units, time_support=self.time_support, bypass_check=True, metadata=self._user_metadata())

    def time_diff(self, align: str = "center", epochs: IntervalSet | None = None) -> dict:
        """``{key: unit.time_diff(align, epochs)}`` (see ``Ts.time_diff``)."""
        return {k: u.time_diff(align=align, epochs=epochs) for k, u in self.data.items()}

    # -- selection by metadata ----------------------------------------------------------------
    def getby_threshold(self, key: str, thr: float, op: str = ">") -> TsGroup:
        """Units whose metadata ``key`` compares to ``thr`` with ``op`` ('>', '<', '>=', '<=').

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(10.0)), 1: Ts(t=np.arange(0.0, 10.0, 0.1))})
        >>> g.getby_threshold("rate", 2).index
        array([1])
        """
        ops = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal}
        if op not in ops:
            err = ArgumentRuntimeError(f"Operation {op} not recognized.")  # pynapple's words (its tests compare them)
            err.add_note("op must be one of '>', '<', '>=', '<='")
            raise err
        col = np.asarray(self.get_info(key).values)
        return self[list(self.index[ops[op](col, thr)])]

    def getby_intervals(self, key: str, bins: Any) -> tuple[list[TsGroup], np.ndarray]:
        """Split the units by bins of metadata ``key``; returns ``(groups, bin centres)``.

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(10.0)), 1: Ts(t=np.arange(5.0))}, metadata={"a": [0, 1]})
        >>> groups, centres = g.getby_intervals("a", [0, 1, 2])
        >>> [x.index.tolist() for x in groups], centres
        ([[0], [1]], array([0.5, 1.5]))
        """
        bins = np.asarray(bins)
        idx = np.digitize(np.asarray(self.get_info(key).values), bins) - 1
        ix = np.unique(idx)
        ix = ix[(ix >= 0) & (ix < len(bins) - 1)]
        centres = bins[:-1] + np.diff(bins) / 2
        return [self[list(self.index[idx == k])] for k in ix], centres[ix]

    def getby_category(self, key: str) -> dict:
        """``{value: TsGroup of the units with that value of metadata key}``.

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> g = TsGroup({0: Ts(t=np.arange(10.0)), 1: Ts(t=np.arange(5.0))}, metadata={"a": ["x", "y"]})
        >>> sorted(g.getby_category("a"))
        ['x', 'y']
        """
        return {k: self[list(v)] for k, v in self.groupby(key).items()}

    # -- merging ------------------------------------------------------------------------------
    @staticmethod
    def merge_group(
        *tsgroups: TsGroup, reset_index: bool = False, reset_time_support: bool = False, ignore_metadata: bool = False
    ) -> TsGroup:
        """Merge TsGroups into one (pynapple's rules on keys, time supports and metadata).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> a = TsGroup({0: Ts(t=np.arange(10.0))})
        >>> b = TsGroup({1: Ts(t=np.arange(10.0))})
        >>> TsGroup.merge_group(a, b).index
        array([0, 1])
        """
        bad = [i + 1 for i, g in enumerate(tsgroups) if not isinstance(g, TsGroup)]
        if bad:
            raise InvalidTypeError(f"Input at positions {bad} are not TsGroup!")
        if len(tsgroups) == 1:
            return tsgroups[0]
        first = tsgroups[0]
        items, keys = first.items(), set(first.keys())
        meta = {k: [v] for k, v in first._user_metadata().items()}
        for i, g in enumerate(tsgroups[1:], start=2):
            if not ignore_metadata:
                if first.metadata_columns != g.metadata_columns:
                    raise InvalidInputError(
                        f"TsGroup at position {i} has different metadata columns from previous TsGroup objects. "
                        "Set `ignore_metadata=True` to bypass the check."
                    )
                for k, v in g._user_metadata().items():
                    meta[k].append(v)
            if not reset_index:
                overlap = keys.intersection(g.keys())
                if overlap:
                    raise InvalidInputError(
                        f"TsGroup at position {i} has overlapping keys {overlap} with previous TsGroup objects. "
                        "Set `reset_index=True` to bypass the check."
                    )
                keys.update(g.keys())
            if not reset_time_support and not (
                first.time_support.values.shape == g.time_support.values.shape
                and np.allclose(first.time_support.values, g.time_support.values, atol=1e-9, rtol=0)
            ):
                raise InvalidInputError(
                    f"TsGroup at position {i} has different time support from previous TsGroup objects. "
                    "Set `reset_time_support=True` to bypass the check."
                )
            items.extend(g.items())
        data = {i: u for i, (_, u) in enumerate(items)} if reset_index else dict(items)
        support = None if reset_time_support else first.time_support
        metadata = None if ignore_metadata else {k: np.concatenate(v) for k, v in meta.items()}
        return TsGroup(data, time_support=support, metadata=metadata)

    def merge(
        self, *tsgroups: TsGroup, reset_index: bool = False, reset_time_support: bool = False, ignore_metadata: bool = False
    ) -> TsGroup:
        """Merge this group with others (see :meth:`merge_group`).

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> a = TsGroup({0: Ts(t=np.arange(10.0))})
        >>> a.merge(a, reset_index=True).index
        array([0, 1])
        """
        return TsGroup.merge_group(
            self, *tsgroups, reset_index=reset_index, reset_time_support=reset_time_support,
            ignore_metadata=ignore_metadata,
        )

    # -- conversion and files -----------------------------------------------------------------
    def load(self) -> TsGroup:
        """The same group with every unit read into memory."""
        units = {k: (u.load() if hasattr(u, "load") else u) for k, u in self.data.items()}
        return TsGroup(units, time_support=self.time_support, bypass_check=True, metadata=self._user_metadata())

    def save(self, filename: str | Path) -> None:
        """Save as pynapple's npz layout (t, index, d, keys, start, end, _metadata, type); reads all units.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from napstream.core import Ts, TsGroup
        >>> path = os.path.join(tempfile.mkdtemp(), "units.npz")
        >>> TsGroup({0: Ts(t=np.arange(3.0))}).save(path)
        >>> sorted(np.load(path, allow_pickle=True).files)[:3]
        ['_metadata', 'end', 'index']
        """
        from .npz import npz_path

        path = npz_path(filename)
        times, data, index = [], [], []
        for k, u in self.data.items():
            t = np.asarray(u.t, dtype=np.float64)
            times.append(t)
            data.append(np.asarray(u.values, dtype=np.float64).ravel() if isinstance(u, Tsd) else np.full(len(t), np.nan))
            index.append(np.full(len(t), int(k), dtype=np.int64))
        t = np.concatenate(times) if times else np.zeros(0)
        d = np.concatenate(data) if data else np.zeros(0)
        ix = np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
        order = np.argsort(t)
        out: dict[str, Any] = {"type": np.array(["TsGroup"], dtype=np.str_), "_metadata": self._user_metadata()}
        out["t"], out["index"] = t[order], ix[order]
        if not np.all(np.isnan(d)):
            out["d"] = d[order]
        out["keys"] = np.array(self.keys())
        out["start"], out["end"] = self.time_support.start, self.time_support.end
        np.savez(path, **out)

    @classmethod
    def _from_npz_reader(cls, file: Any) -> TsGroup:
        """Rebuild a TsGroup from an opened npz written by :meth:`save` (or by pynapple)."""
        times, index = file["t"], file["index"]
        support = IntervalSet(file["start"], file["end"])
        keys = file["keys"] if "keys" in file.keys() else np.unique(index)
        units: dict[int, Any] = {}
        data = file["d"] if "d" in file.keys() else None  # npz entries are re-read on each access
        for key in keys:
            sel = index == key
            if data is not None:
                units[int(key)] = Tsd(t=times[sel], d=data[sel], time_support=support)
            else:
                units[int(key)] = Ts(t=times[sel], time_support=support)
        group = cls(units, time_support=support, bypass_check=True)
        if "_metadata" in file.keys():
            meta = file["_metadata"].item() if file["_metadata"].shape == () else {}
            if meta:
                if isinstance(next(iter(meta.values())), dict):
                    meta = pd.DataFrame.from_dict(meta)
                group.set_info(meta)
        extra = {k: file[k] for k in set(file.keys()) - _RESERVED_NPZ if len(file[k]) == len(group)}
        if extra:
            group.set_info(**extra)
        return group

    def to_pynapple(self) -> Any:
        """A ``pynapple.TsGroup`` with the same units (read into memory) and metadata.

        Examples
        --------
        >>> import numpy as np
        >>> from napstream.core import Ts, TsGroup
        >>> TsGroup({0: Ts(t=np.arange(3.0))}).to_pynapple().index
        array([0])
        """
        units = {k: u.to_pynapple() for k, u in self.data.items()}
        return _import_pynapple().TsGroup(units, time_support=self.time_support.to_pynapple(), bypass_check=True,
                                          metadata=self._user_metadata() or None)

    @classmethod
    def from_pynapple(cls, group: Any) -> TsGroup:
        """Convert a ``pynapple.TsGroup`` (units become in-memory napstream Ts/Tsd).

        Examples
        --------
        >>> import numpy as np, pynapple
        >>> g = TsGroup.from_pynapple(pynapple.TsGroup({2: pynapple.Ts(t=np.arange(3.0))}))
        >>> g.index
        array([2])
        """
        if type(group).__name__ != "TsGroup" or not hasattr(group, "time_support"):
            raise InvalidTypeError(f"group must be a pynapple.TsGroup, got {type(group).__name__}")
        units = {int(k): Ts.from_pynapple(u) for k, u in group.items()}  # Ts or Tsd, by the pynapple class
        meta = {c: np.asarray(group._metadata[c]) for c in group.metadata_columns if c != "rate"}
        support = IntervalSet(group.time_support.start, group.time_support.end)
        return cls(units, time_support=support, bypass_check=True, metadata=meta or None)
