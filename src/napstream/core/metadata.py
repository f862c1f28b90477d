"""Metadata shared by IntervalSet (per interval), TsdFrame (per column) and TsGroup (per unit).

:class:`MetadataMixin` gives a host class pynapple's public metadata API: ``set_info``,
``get_info``, ``drop_info``, ``restrict_info``, ``metadata`` (a DataFrame copy),
``metadata_columns``, ``groupby``, ``groupby_apply``, ``obj.col`` attribute access, ``obj.col = v``
attribute assignment and ``obj["col"] = v``.

How a host class plugs in
-------------------------
1. Inherit: ``class TsGroup(MetadataMixin): ...``.
2. Define the property ``_metadata_index`` returning the row labels of the metadata (an array or
   ``pd.Index``): ``np.arange(n)`` for IntervalSet, the unit keys for TsGroup, the columns for
   TsdFrame. Its length fixes the length every metadata column must have.
3. At the **start** of ``__init__`` call ``self._init_metadata()`` (before any other attribute is
   set), and at the **end** call ``self._finish_metadata_init()``: from then on, ``obj.name = v``
   for a name that is not an existing attribute stores metadata (pynapple's behaviour), while
   existing attributes raise ``AttributeError`` ("immutable"). Names starting with ``_`` are always
   plain attributes, so private caches still work.
4. Optional hooks:

   * ``_check_metadata_name(name)``: extend it to forbid names (TsGroup: ``'rate'``; TsdFrame: its
     data columns) by raising :class:`~napstream.errors.InvalidInputError`; call ``super()``.
   * ``_metadata_subset(labels)``: the object restricted to some metadata-index labels
     (default ``self[labels]``; TsdFrame should return ``self.loc[labels]``). Used by
     ``groupby(get_group=...)`` and ``groupby_apply``.
   * ``__getitem__``: the host decides how string keys dispatch; call ``self.get_info(key)`` for
     metadata columns. ``__setitem__`` for string keys is provided (calls ``set_info``).

Storage is ``self._metadata``: a plain ``dict`` name -> read-only 1-D (or n-D) ``np.ndarray`` whose
first axis follows ``_metadata_index``. Helpers for hosts building new objects:
``_metadata_take(positions) -> dict`` (rows by position) and ``_metadata_dict() -> dict`` (copy);
pass either back as ``metadata=`` / to ``set_info``.

Examples
--------
>>> import numpy as np
>>> class Units(MetadataMixin):
...     def __init__(self, n):
...         self._init_metadata()
...         self._n = n
...         self._finish_metadata_init()
...     @property
...     def _metadata_index(self):
...         return np.arange(self._n)
>>> u = Units(3)
>>> u.set_info(area=["CA1", "CA1", "V1"])
>>> [str(x) for x in u.area]
['CA1', 'CA1', 'V1']
>>> u.groupby("area")
{'CA1': array([0, 1]), 'V1': array([2])}
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, InvalidTypeError, KeyNotFoundError

__all__ = ["MetadataMixin"]

_PICKLE_NAMES = ("__getstate__", "__setstate__", "__reduce__", "__reduce_ex__", "__deepcopy__", "__copy__")


#: the metadata machinery's own attributes: never replaced by ``obj.name = value`` once built
_MACHINERY = frozenset({"_metadata", "_class_attributes", "_initialized"})

#: dir() of each host class, computed once (dir() is slow and hosts are built often)
_CLASS_NAMES: dict[type, frozenset] = {}


def _readonly(arr: Any) -> np.ndarray:
    out = np.array(arr)
    out.setflags(write=False)
    return out


class _Metadata(dict):
    """The metadata store: column name -> read-only array, plus the row labels (pynapple's name).

    A plain ``dict`` of columns; ``index`` is informative (hosts answer ``_metadata_index``).
    """

    def __init__(self, index: Any = None, data: Mapping | None = None) -> None:
        super().__init__(data or {})
        self.index = index


class MetadataMixin:
    """Per-row metadata for a host object (see the module docstring for the plug-in contract)."""

    # -- plumbing for host classes ------------------------------------------------------------
    def _init_metadata(self) -> None:
        """Create empty metadata storage; call first thing in the host's ``__init__``."""
        self.__dict__["_initialized"] = False
        self.__dict__["_metadata"] = _Metadata()

    def _finish_metadata_init(self) -> None:
        """Freeze the host's attributes; later ``obj.name = v`` stores metadata."""
        cls = type(self)
        names = _CLASS_NAMES.get(cls)
        if names is None:
            names = _CLASS_NAMES[cls] = frozenset(dir(cls))
        self.__dict__["_class_attributes"] = names.union(self.__dict__, _MACHINERY)
        self.__dict__["_initialized"] = True

    @property
    def _metadata_index(self) -> Any:  # pragma: no cover - hosts override
        raise NotImplementedError("a MetadataMixin host must define the _metadata_index property")

    def _metadata_store(self) -> dict:
        store = self.__dict__.get("_metadata")
        if store is None:
            store = self.__dict__["_metadata"] = _Metadata()
        return store

    def _metadata_take(self, positions: Any) -> dict:
        """Metadata rows at ``positions`` (int array, bool mask or slice) as a new dict."""
        return {k: v[positions] for k, v in self._metadata_store().items()}

    def _metadata_dict(self) -> dict:
        """A shallow copy of the metadata dict (arrays are read-only, so sharing them is safe)."""
        return dict(self._metadata_store())

    def _metadata_subset(self, labels: Any) -> Any:
        """The host restricted to some metadata-index labels (hosts may override)."""
        return self[labels]  # type: ignore[index]

    # -- attribute access ------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails
        if name.startswith("_") or name in _PICKLE_NAMES:
            raise AttributeError(name)
        store = self.__dict__.get("_metadata") or {}
        if name in store:
            return self.get_info(name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        initialized = self.__dict__.get("_initialized", False)
        if not initialized or (name.startswith("_") and name not in _MACHINERY):
            object.__setattr__(self, name, value)
        elif name in self.__dict__.get("_class_attributes", ()) or name in _MACHINERY:
            why = ("IntervalSet is immutable" if type(self).__name__ == "IntervalSet"  # pynapple's wording
                   else f"it is a reserved attribute of {type(self).__name__}")
            raise AttributeError(
                f"Cannot set attribute '{name}'; {why}. Use 'set_info()' to set '{name}' as metadata."
            )
        else:
            self.set_info(**{name: value})

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.metadata_columns))

    def __setitem__(self, key: Any, value: Any) -> None:
        if not isinstance(key, str):
            raise InvalidTypeError(f"Metadata keys must be strings! Got {type(key).__name__}.")
        self.set_info({key: value})

    # -- public API -------------------------------------------------------------------------
    @property
    def metadata_index(self) -> Any:
        """Row labels of the metadata: interval numbers (IntervalSet), unit keys (TsGroup),
        columns (TsdFrame).

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> IntervalSet([0, 10], [5, 20]).metadata_index
        array([0, 1])
        """
        return self._metadata_index

    @property
    def metadata(self) -> pd.DataFrame:
        """A copy of the metadata as a DataFrame indexed like the object.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10], [5, 20], metadata={"label": ["a", "b"]})
        >>> [str(x) for x in ep.metadata["label"]]
        ['a', 'b']
        """
        data = {k: list(v) for k, v in self._metadata_store().items()}
        return pd.DataFrame(data, index=self._metadata_index)

    @property
    def metadata_columns(self) -> list[str]:
        """Names of the metadata columns, in insertion order."""
        return list(self._metadata_store())

    def _check_metadata_name(self, name: Any) -> None:
        """Validate one metadata name; warn when it cannot be used as attribute or key (pynapple)."""
        if not isinstance(name, str):
            raise InvalidTypeError(
                f"Invalid metadata type {type(name)}. Metadata column names must be strings!"
            )
        reserved = self.__dict__.get("_class_attributes") or frozenset(dir(type(self)))
        if name in reserved:
            warnings.warn(
                f"Metadata name '{name}' overlaps with an existing attribute, and cannot be accessed as "
                "an attribute or key. Use 'get_info()' to access metadata.",
                stacklevel=3,
            )
        if not name.replace("_", "").isalnum():
            warnings.warn(
                f"Metadata name '{name}' contains a special character, and cannot be accessed as an "
                "attribute. Use 'get_info()' or key indexing to access metadata.",
                stacklevel=3,
            )
        elif not name[0].isalpha() and name[0] != "_":
            warnings.warn(
                f"Metadata name '{name}' starts with a number, and cannot be accessed as an attribute. "
                "Use 'get_info()' or key indexing to access metadata.",
                stacklevel=3,
            )

    def _index_matches(self, other_index: Any, what: str) -> bool:
        own = np.asarray(self._metadata_index)
        other = np.asarray(other_index)
        if own.shape != other.shape:
            raise InvalidInputError(
                f"{what} index does not match: expected {len(own)} rows indexed like the object, "
                f"got {len(other)}"
            )
        return bool(np.all(own == other))

    def set_info(self, metadata: Any = None, **kwargs: Any) -> None:
        """Add or overwrite metadata columns.

        Parameters
        ----------
        metadata : pandas.DataFrame, dict or pandas.Series, optional
            Columns by name. A DataFrame / Series must be indexed like the object; dict values must
            have one entry per row.
        **kwargs
            Columns by keyword: pandas.Series (same index), numpy arrays, lists or tuples of the
            object's length; for single-row objects, scalars and strings are accepted too.

        Raises
        ------
        InvalidInputError (ValueError)
            Index or length mismatch.
        InvalidTypeError (TypeError)
            ``metadata`` is not dict-like, or a value cannot be stored as a column.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10, 20], [5, 12, 33])
        >>> ep.set_info(reward=[1, 0, 1])
        >>> ep.get_info("reward").tolist()
        [1, 0, 1]
        """
        n = len(self._metadata_index)
        if metadata is not None:
            if not hasattr(metadata, "keys"):
                raise InvalidTypeError(
                    f"metadata must be a pandas.DataFrame, dict or pandas.Series, got "
                    f"{type(metadata).__name__}; pass arrays as keyword arguments (set_info(name=array))"
                )
            for k in metadata.keys():
                self._check_metadata_name(k)
            if hasattr(metadata, "index") and n > 1 and not self._index_matches(metadata.index, "metadata"):
                raise InvalidInputError("metadata index does not match the object's index")
            kwargs = {**metadata, **kwargs}
        for k in kwargs:
            self._check_metadata_name(k)
        columns = {k: self._as_column(k, v, n) for k, v in kwargs.items()}
        bad = {k: v for k, v in columns.items() if v is None}
        if bad:
            raise InvalidTypeError(
                f"Cannot set the following metadata: {list(bad)}; metadata columns must be "
                "pandas.Series, tuple, list or numpy.ndarray of the object's length, got "
                f"{[type(kwargs[k]).__name__ for k in bad]}"
            )
        self._metadata_store().update(columns)

    def _as_column(self, name: str, v: Any, n: int) -> np.ndarray | None:
        if hasattr(v, "keys") and hasattr(v, "index"):  # pandas.Series
            if self._index_matches(v.index, f"metadata {name!r}"):
                return _readonly(v)
            raise InvalidInputError(f"metadata index does not match for argument {name!r}")
        if n == 1 and (not hasattr(v, "__iter__") or isinstance(v, str)):
            return _readonly([v])
        if hasattr(v, "__len__") and not isinstance(v, (dict, str, bytes)):
            if len(v) == n:
                return _readonly(v)
            if n == 1:
                return _readonly([v])
            raise InvalidInputError(
                f"metadata {name!r} must have one value per row ({n}), got length {len(v)}"
            )
        return None

    def get_info(self, key: str | list[str]) -> pd.Series | pd.DataFrame:
        """Metadata column(s) by name: a Series for a string, a DataFrame for a list of strings.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10], [5, 20], metadata={"l1": [1, 2], "l2": ["x", "y"]})
        >>> ep.get_info("l1").tolist()
        [1, 2]
        >>> list(ep.get_info(["l1", "l2"]).columns)
        ['l1', 'l2']
        """
        store = self._metadata_store()
        if isinstance(key, str):
            if key not in store:
                raise KeyNotFoundError(
                    f"Metadata column {key} not found. Metadata columns are {self.metadata_columns}"
                )
            return pd.Series(index=self._metadata_index, data=list(store[key]), name=key)
        if isinstance(key, (list, np.ndarray)) and all(isinstance(k, str) for k in key):
            missing = [k for k in key if k not in store]
            if missing:
                raise KeyNotFoundError(
                    f"Metadata column(s) {missing} not found. Metadata columns are {self.metadata_columns}"
                )
            return pd.DataFrame(index=self._metadata_index, data={k: list(store[k]) for k in key})
        raise InvalidTypeError(
            f"Invalid metadata column {key!r}: key must be a string or a list of strings, "
            f"got {type(key).__name__}"
        )

    def _check_droppable(self, keys: list[str]) -> None:
        """Hook: hosts may forbid dropping some columns (TsGroup: 'rate')."""

    def _as_key_list(self, key: Any) -> list[str]:
        if isinstance(key, str):
            return [key]
        if isinstance(key, (list, tuple, np.ndarray)) and all(isinstance(k, str) for k in key):
            return list(key)
        raise InvalidTypeError(
            f"Invalid metadata column {key!r}: expected a string or a list of strings, got "
            f"{type(key).__name__}. Metadata columns are {self.metadata_columns}"
        )

    def drop_info(self, key: str | list[str]) -> None:
        """Drop metadata column(s) in place.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10], [5, 20], metadata={"l1": [1, 2], "l2": ["x", "y"]})
        >>> ep.drop_info("l1")
        >>> ep.metadata_columns
        ['l2']
        """
        keys = self._as_key_list(key)
        self._check_droppable(keys)
        missing = [k for k in keys if k not in self._metadata_store()]
        if missing and isinstance(key, str):
            raise KeyNotFoundError(f"Metadata column {key} not found. Metadata columns are {self.metadata_columns}")
        if missing:
            raise KeyNotFoundError(
                f"Metadata column(s) {missing} not found. Metadata columns are {self.metadata_columns}"
            )
        for k in keys:
            del self._metadata_store()[k]

    def restrict_info(self, key: str | list[str]) -> None:
        """Keep only the given metadata column(s), in place.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10], [5, 20], metadata={"l1": [1, 2], "l2": ["x", "y"]})
        >>> ep.restrict_info("l2")
        >>> ep.metadata_columns
        ['l2']
        """
        if isinstance(key, (list, tuple, np.ndarray)):
            keys = list(key)
        else:
            keys = self._as_key_list(key)
        missing = [k for k in keys if k not in self._metadata_store()]
        if missing:
            raise KeyNotFoundError(
                f"Metadata column(s) {missing} not found. Metadata columns are {self.metadata_columns}"
            )
        for k in [k for k in self.metadata_columns if k not in keys]:
            try:
                self._check_droppable([k])
            except InvalidInputError:
                continue  # protected by the host (TsGroup 'rate'): kept, as pynapple does
            del self._metadata_store()[k]

    def _groups(self, by: str | list[str]) -> dict:
        store = self._metadata_store()
        names = [by] if isinstance(by, str) else by
        if not isinstance(names, list) or not all(isinstance(b, str) for b in names):
            raise InvalidTypeError(f"by must be a metadata column name or a list of names, got {by!r}")
        for b in names:
            if b not in store:
                raise InvalidInputError(
                    f"Metadata column '{b}' not found. Metadata columns are {self.metadata_columns}"
                )
        index = np.asarray(self._metadata_index)

        def plain(k: Any) -> Any:
            return k.item() if hasattr(k, "item") else k

        if isinstance(by, str):
            col = store[by]
            return {plain(k): index[np.flatnonzero(col == k)] for k in np.unique(col)}
        out = {}
        for combo in itertools.product(*[np.unique(store[b]) for b in names]):
            rows = np.flatnonzero(np.all([store[b] == combo[c] for c, b in enumerate(names)], axis=0))
            if len(rows):
                out[tuple(plain(k) for k in combo)] = index[rows]
        return out

    def groupby(self, by: str | list[str], get_group: Any = None) -> Any:
        """Group rows by metadata value(s).

        Parameters
        ----------
        by : str or list of str
            Metadata column(s) to group by.
        get_group : hashable, optional
            Return the object restricted to this group instead of the dict of groups.

        Returns
        -------
        dict or object
            ``{group value (tuple for several columns): index labels}``, or the sub-object.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10, 20], [5, 12, 33], metadata={"l2": ["x", "x", "y"]})
        >>> ep.groupby("l2")
        {'x': array([0, 1]), 'y': array([2])}
        """
        groups = self._groups(by)
        if get_group is None:
            return groups
        if get_group not in groups:
            raise InvalidInputError(
                f"Group '{get_group}' not found in metadata groups. Groups are {list(groups.keys())}"
            )
        return self._metadata_subset(groups[get_group])

    def groupby_apply(
        self, by: str | list[str], func: Callable, input_key: str | None = None, **func_kwargs: Any
    ) -> dict:
        """Apply ``func`` to each group of :meth:`groupby`; returns ``{group: result}``.

        Examples
        --------
        >>> from napstream.core.interval_set import IntervalSet
        >>> ep = IntervalSet([0, 10, 20], [5, 12, 33], metadata={"l2": ["x", "x", "y"]})
        >>> ep.groupby_apply("l2", len)
        {'x': 2, 'y': 1}
        """
        if input_key is not None:
            if not isinstance(input_key, str):
                raise InvalidTypeError(f"input_key must be a string, got {type(input_key).__name__}")
            if input_key not in inspect.signature(func).parameters:
                raise KeyNotFoundError(f"{func} does not have input parameter {input_key}.")

            def call(x: Any) -> Any:
                return func(**{input_key: x, **func_kwargs})
        else:

            def call(x: Any) -> Any:
                return func(x, **func_kwargs)

        return {k: call(self._metadata_subset(v)) for k, v in self._groups(by).items()}


def metadata_from_frame(frame: pd.DataFrame | Mapping | None) -> dict:
    """Normalise a DataFrame / dict of columns to ``{name: np.ndarray}`` (helper for hosts)."""
    if frame is None:
        return {}
    return {k: np.asarray(v) for k, v in frame.items()}
