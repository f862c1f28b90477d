"""pynapple's public helpers of ``pynapple.core.utils`` (``nap.core.utils.is_array_like``...).

Examples
--------
>>> import numpy as np
>>> is_array_like(np.ones(3)), is_array_like([1, 2])
(True, False)
>>> get_backend()
'numba'
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_array_like", "get_backend", "warn_conversion"]


def is_array_like(obj: Any) -> bool:
    """True when ``obj`` behaves like an array: ``shape``, ``dtype``, ``ndim``, indexable, iterable.

    Lists, scalars and strings are not array-like (pynapple's rule); numpy arrays (empty ones too),
    h5py datasets and napstream's lazy arrays are.

    Examples
    --------
    >>> import numpy as np
    >>> is_array_like(np.array([])), is_array_like("a")
    (True, False)
    """
    if not (hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "ndim")):
        return False
    try:
        obj[0]
    except Exception:  # noqa: BLE001 - any failure means "not indexable", unless it is empty
        try:
            if len(obj) != 0:
                return False
        except Exception:  # noqa: BLE001
            return False
    try:
        iter(obj)
    except Exception:  # noqa: BLE001
        return False
    return True


def get_backend() -> str:
    """The compute backend name, as pynapple reports it (napstream: always "numba").

    Examples
    --------
    >>> get_backend()
    'numba'
    """
    from ..config import config

    return config.backend


def warn_conversion(array: Any, name: str) -> None:
    """pynapple's warning when a non-NumPy array-like is converted to a NumPy array in memory
    (silenced by ``nap.config.suppress_conversion_warnings = True``)."""
    import warnings

    from ..config import config

    if not config.suppress_conversion_warnings:
        warnings.warn(f"Converting '{name}' to numpy.array. The provided array was of type "
                      f"'{type(array).__name__}'.", UserWarning, stacklevel=4)
