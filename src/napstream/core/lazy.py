"""LazyArray: rows of an array-like that are read only when asked for.

A :class:`LazyArray` wraps any *array-like* ``base`` (an ``h5py.Dataset``, an ``np.memmap``, a
zarr array, an ``np.ndarray``...) - anything with ``shape``, ``dtype`` and ``__getitem__``
accepting a tuple of slices. It selects rows of ``base`` as a sorted list of disjoint
``[start, stop)`` *segments*, optionally applies an affine transform (``raw * scale + offset``,
how NWB's ``conversion``/``offset``/``channel_conversion`` are honoured) and an in-memory key on
the trailing axes (column selection).

Composing selections never reads data: slicing with step 1 and :meth:`LazyArray.select` return
new LazyArrays. Data are read by :meth:`read`, integer indexing, :meth:`load` and
``np.asarray``; every read asks ``base`` only for contiguous row slices (never fancy indexing
into a file).

Examples
--------
>>> import numpy as np
>>> base = np.arange(20.0).reshape(10, 2)
>>> lazy = LazyArray(base, scale=0.5)
>>> view = lazy[2:8].select([[0, 2], [4, 6]])   # rows 2,3 and 6,7 of base; nothing read yet
>>> view.shape
(4, 2)
>>> view.load()[:, 0]
array([2., 3., 6., 7.])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["ArrayLike", "LazyArray", "is_array_like", "normalize_segments"]


@runtime_checkable
class ArrayLike(Protocol):
    """What napstream needs of a lazy data container."""

    shape: tuple[int, ...]
    dtype: Any

    def __getitem__(self, key: Any) -> Any: ...


def is_array_like(obj: Any) -> bool:
    """True when ``obj`` has ``shape``, ``dtype``, ``ndim``-compatible shape and ``__getitem__``."""
    return (
        hasattr(obj, "shape")
        and hasattr(obj, "dtype")
        and hasattr(obj, "__getitem__")
        and isinstance(getattr(obj, "shape"), tuple)
    )


def normalize_segments(segments: Any, n: int, name: str = "segments") -> np.ndarray:
    """Validate row segments: an (k, 2) int64 array of sorted, disjoint [start, stop) in [0, n].

    Empty segments are dropped; adjacent ones are merged.
    """
    seg = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if seg.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if (seg[:, 0] > seg[:, 1]).any() or seg.min() < 0 or seg.max() > n:
        raise InvalidInputError(f"{name} must be [start, stop) pairs within [0, {n}], got {seg.tolist()}")
    seg = seg[seg[:, 1] > seg[:, 0]]
    if len(seg) > 1:
        if (seg[1:, 0] < seg[:-1, 1]).any():
            raise InvalidInputError(f"{name} must be sorted and disjoint")
        touching = seg[1:, 0] == seg[:-1, 1]
        if touching.any():
            starts = seg[np.concatenate([[True], ~touching]), 0]
            stops = seg[np.concatenate([~touching, [True]]), 1]
            return np.stack([starts, stops], axis=1)
    return seg


def _trailing_shape(base_trailing: tuple[int, ...], post: tuple[Any, ...]) -> tuple[int, ...]:
    probe = np.empty((0,) + base_trailing, dtype=np.int8)
    for key in post:
        probe = probe[(slice(None),) + key]
    return probe.shape[1:]


class LazyArray:
    """Read-on-demand rows of an array-like (see the module docstring).

    Parameters
    ----------
    base : array-like
        Anything with ``shape``, ``dtype`` and ``__getitem__`` taking a tuple of slices.
    segments : array-like of shape (k, 2), optional
        Sorted, disjoint ``[start, stop)`` rows of ``base`` to expose (default: all rows).
    scale : float or 1-D array, optional
        Multiplier applied on read (a 1-D array broadcasts over the last axis, e.g. per channel).
    offset : float, default 0
        Added on read, after ``scale``.
    post : tuple of keys, optional
        numpy keys on the trailing axes applied in memory after reading (column selection).
    ref : object, optional
        A picklable description of ``base`` with an ``open()`` method returning it again; lets the
        LazyArray travel to dask workers (see ``napstream.engine``).

    Notes
    -----
    Reading materialises only the requested rows; ``load()``/``np.asarray`` read everything.
    """

    __array_priority__ = 1.0

    def __init__(
        self,
        base: Any,
        segments: Any = None,
        scale: float | np.ndarray | None = None,
        offset: float = 0.0,
        post: tuple[Any, ...] = (),
        ref: Any = None,
    ) -> None:
        if isinstance(base, LazyArray):
            raise InvalidTypeError("base must be a raw array-like, not a LazyArray (use .select / slicing)")
        if not is_array_like(base):
            raise InvalidTypeError(
                f"base must be array-like (shape, dtype, __getitem__), got {type(base).__name__}"
            )
        if len(base.shape) == 0:
            raise InvalidInputError("base must have at least one dimension")
        self.base = base
        n = int(base.shape[0])
        self.segments = (
            np.array([[0, n]], dtype=np.int64) if segments is None else normalize_segments(segments, n)
        )
        if n == 0:
            self.segments = np.zeros((0, 2), dtype=np.int64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.offset = float(offset)
        self.post = tuple(post)
        self.ref = ref
        lengths = self.segments[:, 1] - self.segments[:, 0]
        self._cum = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        trailing = _trailing_shape(tuple(int(s) for s in base.shape[1:]), self.post)
        self._shape = (int(self._cum[-1]),) + trailing

    # ------------------------------------------------------------------ description
    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        if self.scale is not None or self.offset != 0.0:
            return np.dtype(np.float64)
        return np.dtype(self.base.dtype)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def row_nbytes(self) -> int:
        """Bytes of one row once read (after the transform)."""
        return int(np.prod(self._shape[1:], dtype=np.int64)) * self.dtype.itemsize

    @property
    def chunk_rows(self) -> int | None:
        """Rows per storage chunk of ``base`` (None when not chunked)."""
        chunks = getattr(self.base, "chunks", None)
        if isinstance(chunks, tuple) and chunks:
            return int(chunks[0])
        return None

    def __len__(self) -> int:
        return self._shape[0]

    def __repr__(self) -> str:
        src = type(self.base).__name__
        name = getattr(self.base, "name", None)
        if isinstance(name, str):
            src += f" {name}"
        extra = "" if len(self.segments) <= 1 else f", segments={len(self.segments)}"
        return f"LazyArray(shape={self.shape}, dtype={self.dtype}, base={src}{extra})"

    # ------------------------------------------------------------------ composition (no I/O)
    def _replace(self, **kw: Any) -> LazyArray:
        args = dict(segments=self.segments, scale=self.scale, offset=self.offset, post=self.post, ref=self.ref)
        args.update(kw)
        return LazyArray(self.base, **args)

    def base_rows(self, logical: Any) -> np.ndarray:
        """Map logical [start, stop) row segments to segments of ``base`` rows."""
        seg = normalize_segments(logical, len(self), "logical segments")
        out: list[tuple[int, int]] = []
        for a, b in seg:
            k = int(np.searchsorted(self._cum, a, side="right")) - 1
            while a < b:
                seg_start = self.segments[k, 0] + (a - self._cum[k])
                take = min(b, self._cum[k + 1]) - a
                out.append((int(seg_start), int(seg_start + take)))
                a += take
                k += 1
        return np.array(out, dtype=np.int64).reshape(-1, 2)

    def select(self, segments: Any) -> LazyArray:
        """A LazyArray of the logical row ``segments`` (sorted, disjoint [start, stop) pairs). No I/O."""
        return self._replace(segments=self.base_rows(segments))

    def with_transform(self, scale: float | np.ndarray | None = None, offset: float = 0.0) -> LazyArray:
        """Compose another affine transform ``x * scale + offset`` on top of this one. No I/O."""
        if self.post:
            raise InvalidInputError("apply transforms before selecting columns")
        s0 = 1.0 if self.scale is None else self.scale
        s1 = 1.0 if scale is None else np.asarray(scale, dtype=np.float64)
        return self._replace(scale=np.asarray(s0 * s1, dtype=np.float64), offset=self.offset * s1 + offset)

    # ------------------------------------------------------------------ reading
    def _apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw)
        if self.scale is not None or self.offset != 0.0:
            raw = raw.astype(np.float64)
            if self.scale is not None:
                raw = raw * self.scale
            if self.offset != 0.0:
                raw = raw + self.offset
        for key in self.post:
            raw = raw[(slice(None),) + key]
        return raw

    def _read_base(self, a: int, b: int) -> np.ndarray:
        ndim = len(self.base.shape)
        key = (slice(a, b),) + (slice(None),) * (ndim - 1)
        return np.asarray(self.base[key])

    def _pushed_columns(self) -> slice | None:
        """The first ``post`` key when it is a plain column range of a 2-D base (read from the base
        itself, so a chunked dataset decodes only the storage chunks of those columns)."""
        if len(self.base.shape) != 2 or not self.post:
            return None
        key = self.post[0]
        if len(key) != 1 or not isinstance(key[0], slice) or key[0].step not in (None, 1):
            return None
        if self.scale is not None and self.scale.ndim > 0 and self.scale.size != int(self.base.shape[1]):
            return None
        return key[0]

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Read logical rows ``[start, stop)`` into memory (contiguous base slices only)."""
        n = len(self)
        stop = n if stop is None else stop
        start, stop = max(0, int(start)), min(n, int(stop))
        cols = self._pushed_columns()
        if cols is not None:  # the column range goes to the base; the rest of the keys apply after
            view = self._replace(post=self.post[1:], scale=self._column_scale(cols))
            if stop <= start:
                return view._apply(np.empty((0,) + tuple(self.base.shape[1:]), dtype=self.base.dtype)[:, cols])
            parts = [np.asarray(self.base[a:b, cols]) for a, b in self.base_rows([[start, stop]])]
            return view._apply(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0))
        if stop <= start:
            empty = np.empty((0,) + tuple(self.base.shape[1:]), dtype=self.base.dtype)
            return self._apply(empty)
        parts = [self._read_base(a, b) for a, b in self.base_rows([[start, stop]])]
        raw = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return self._apply(raw)

    def _column_scale(self, cols: slice) -> np.ndarray | None:
        if self.scale is None or self.scale.ndim == 0:
            return self.scale
        return self.scale[cols]

    def select_columns(self, start: int, stop: int) -> LazyArray:
        """Columns ``[start, stop)`` of a 2-D LazyArray, read from the base only (no I/O now).

        >>> lazy = LazyArray(np.arange(12.0).reshape(3, 4), scale=np.array([1.0, 2.0, 3.0, 4.0]))
        >>> lazy.select_columns(1, 3).read(0, 2)
        array([[ 2.,  6.],
               [10., 18.]])
        """
        if self.ndim != 2:
            raise InvalidInputError(f"select_columns needs a 2-D LazyArray, got {self.ndim} dimensions")
        return self._replace(post=self.post + ((slice(int(start), int(stop)),),))

    def load(self) -> np.ndarray:
        """Read everything into a numpy array (materialises)."""
        return self.read(0, len(self))

    def iter_rows(self, chunk_rows: int, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, block)`` for consecutive blocks of at most ``chunk_rows`` rows."""
        if chunk_rows < 1:
            raise InvalidInputError(f"chunk_rows must be >= 1, got {chunk_rows}")
        stop = len(self) if stop is None else min(stop, len(self))
        for a in range(start, stop, chunk_rows):
            yield a, self.read(a, min(a + chunk_rows, stop))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.load()
        return arr if dtype is None else arr.astype(dtype)

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key) or any(k is None for k in key):
            return self.load()[key]
        row, rest = key[0], tuple(key[1:])
        if isinstance(row, (int, np.integer)):
            i = int(row)
            if i < 0:
                i += len(self)
            if not 0 <= i < len(self):
                raise IndexError(f"index {int(row)} is out of bounds for axis 0 with size {len(self)}")
            out = self.read(i, i + 1)[0]
            return out[rest] if rest else out
        if isinstance(row, slice):
            start, stop, step = row.indices(len(self))
            if step == 1:
                view = self.select([[start, max(start, stop)]])
                if rest:
                    view = view._replace(post=self.post + (rest,))
                return view
            if step > 0:
                block = self.read(start, stop)[::step]
            else:
                lo = stop + 1
                block = self.read(lo, start + 1)[::-1][:: -step]
            return block[(slice(None),) + rest] if rest else block
        # fancy row keys: read the covering range once, index in memory
        idx = np.asarray(row)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean index of shape {idx.shape} does not match {len(self)} rows")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        idx = np.where(idx < 0, idx + len(self), idx)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of bounds for axis 0 with size {len(self)}")
        if idx.size == 0:
            block = self.read(0, 0)
        else:
            lo, hi = int(idx.min()), int(idx.max()) + 1
            block = self.read(lo, hi)[idx - lo]
        return block[(slice(None),) + rest] if rest else block

    # ------------------------------------------------------------------ pickling (dask)
    def __reduce__(self) -> Any:
        if self.ref is not None:
            return (_reopen, (self.ref, self.segments, self.scale, self.offset, self.post))
        if isinstance(self.base, np.ndarray):
            return (LazyArray, (self.base, self.segments, self.scale, self.offset, self.post))
        raise TypeError(
            f"this LazyArray over {type(self.base).__name__} cannot be sent to another process: "
            "it has no `ref` to reopen its source (open the file with napstream.NWBFile)"
        )


def _reopen(ref: Any, segments: np.ndarray, scale: Any, offset: float, post: tuple[Any, ...]) -> LazyArray:
    return LazyArray(ref.open(), segments, scale, offset, post, ref)
