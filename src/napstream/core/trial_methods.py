"""pynapple's per-epoch methods of time series: ``find_peaks``, ``decimate``, ``to_trial_tensor``
(Tsd/TsdFrame/TsdTensor) and ``trial_count`` (Ts).

Each works one epoch (one trial) at a time and reads only the rows of that epoch, so lazy series
stay bounded by the largest epoch, never the whole recording:

* ``decimate`` applies ``scipy.signal.decimate`` (zero-phase) to each epoch, as pynapple does, so the
  result equals pynapple's bit for bit.
* ``find_peaks`` runs ``scipy.signal.find_peaks`` on the series restricted to ``epochs`` (pynapple
  looks for peaks in the concatenated epochs, so peak properties such as ``left_bases`` are row
  numbers in that concatenation; napstream keeps this).
* ``to_trial_tensor`` / ``trial_count`` fill one row of the output per trial.

The host classes mix :class:`SeriesTrialMethods` / :class:`TsTrialMethods` in.

Examples
--------
>>> import numpy as np
>>> import napstream as nap
>>> tsd = nap.Tsd(t=np.arange(10.0), d=np.arange(10.0))
>>> tsd.to_trial_tensor(nap.IntervalSet([0, 5], [2, 8]))
array([[ 0.,  1.,  2., nan],
       [ 5.,  6.,  7.,  8.]])
"""

from __future__ import annotations

from numbers import Number
from typing import Any

import numpy as np

from ..errors import ArgumentIOError, ArgumentRuntimeError, InvalidTypeError
from .interval_set import IntervalSet
from .lazy import LazyArray
from .time_index import ArrayTimeIndex
from .units import to_seconds

__all__ = ["SeriesTrialMethods", "TsTrialMethods"]


def _rows(d: Any, a: int, b: int) -> np.ndarray:
    """Rows ``[a, b)`` of in-memory or lazy data, as a numpy array (reads only those rows)."""
    if isinstance(d, LazyArray):
        return np.asarray(d.read(a, b))
    return np.asarray(d[a:b])


class SeriesTrialMethods:
    """``find_peaks``, ``decimate`` and ``to_trial_tensor`` for Tsd, TsdFrame and TsdTensor."""

    def decimate(self, down: int, order: int = 8, filter_type: str = "iir", ep: IntervalSet | None = None) -> Any:
        """Downsample by an integer factor after an anti-aliasing filter, epoch by epoch.

        Each epoch of ``ep`` is filtered with ``scipy.signal.decimate`` (Chebyshev type I IIR of
        order ``order``, or a 30-point Hamming FIR for ``filter_type="fir"``, zero phase) and every
        ``down``-th timestamp is kept, exactly as pynapple does. Only one epoch's rows are read
        at a time.

        Parameters
        ----------
        down : int
            The down-sampling factor.
        order : int, default 8
            Order of the IIR filter.
        filter_type : {"iir", "fir"}
        ep : IntervalSet, optional
            Epochs to decimate (default: the time support).

        Returns
        -------
        Tsd, TsdFrame or TsdTensor

        Examples
        --------
        >>> import numpy as np
        >>> import napstream as nap
        >>> tsd = nap.Tsd(t=np.arange(100.0), d=np.sin(np.arange(100.0) / 5))
        >>> tsd.decimate(4).shape
        (25,)
        """
        from scipy import signal

        if isinstance(down, bool) or not isinstance(down, int):
            raise ArgumentIOError("Invalid value for 'down': Parameter 'down' should be of type int.")
        if isinstance(order, bool) or not isinstance(order, int) or order <= 0:
            raise ArgumentIOError("Invalid value for 'order': Parameter 'order' should be a positive int.")
        if filter_type not in ("fir", "iir"):
            raise ArgumentIOError("'filter_type' should be one of 'fir', 'iir'.")
        if ep is None:
            ep = self.time_support
        if not isinstance(ep, IntervalSet):
            raise ArgumentIOError("ep should be an object of type IntervalSet")
        lo, hi = self._epoch_rows(ep.start, ep.end)
        values, times = [], []
        for a, b in zip(lo.tolist(), hi.tolist()):
            if b <= a:
                continue
            d = _rows(self._d, a, b)
            values.append(signal.decimate(d, down, n=order, ftype=filter_type, axis=0, zero_phase=True))
            times.append(self._t.read(a, b)[::down])
        shape = tuple(self.shape[1:])
        d = np.concatenate(values, axis=0) if values else np.zeros((0, *shape))
        t = np.concatenate(times) if times else np.zeros(0)
        return self._wrap(d, t=ArrayTimeIndex(t, check=False), time_support=ep)

    def find_peaks(self, epochs: IntervalSet | None = None, return_prop: bool = False, *args: Any,
                   **kwargs: Any) -> Any:
        """Peaks of the series within ``epochs`` with ``scipy.signal.find_peaks``.

        Parameters
        ----------
        epochs : IntervalSet, optional
            Where to look (default: the time support). As in pynapple, peaks are searched in the
            series restricted to ``epochs`` (epochs concatenated).
        return_prop : bool, default False
            Also return scipy's peak properties as columns.
        *args, **kwargs
            ``scipy.signal.find_peaks`` arguments (``height``, ``distance``, ``prominence``...).

        Returns
        -------
        Tsd or TsdFrame (Tsd input), TsGroup (TsdFrame input: one member per column)

        Examples
        --------
        >>> import numpy as np
        >>> import napstream as nap
        >>> t = np.arange(0, 10, 0.1)
        >>> nap.Tsd(t=t, d=np.sin(t)).find_peaks().t
        array([1.6, 7.9])
        """
        if epochs is None:
            epochs = self.time_support
        elif not isinstance(epochs, IntervalSet):
            raise InvalidTypeError("epochs should be an IntervalSet.")
        if return_prop != 1 and return_prop != 0 and not isinstance(return_prop, bool):
            raise InvalidTypeError("return_prop should be a boolean.")
        if self.ndim == 1:
            return self._peaks_1d(epochs, return_prop, args, kwargs)
        if self.ndim != 2:
            raise InvalidTypeError("find_peaks works on a Tsd or a TsdFrame, not on a TsdTensor")
        from .ts_group import TsGroup
        from .time_series import Tsd

        data = self.restrict(epochs)
        values = np.asarray(data.values)
        t = data.t
        members = {i: Tsd(t=t, d=values[:, i], time_support=epochs)._peaks_1d(epochs, return_prop, args, kwargs)
                   for i in range(values.shape[1])}
        return TsGroup(members, time_support=epochs, metadata={"columns": list(self.columns)})

    def _peaks_1d(self, epochs: IntervalSet, return_prop: Any, args: tuple, kwargs: dict) -> Any:
        from scipy.signal import find_peaks

        from .time_series import Tsd, TsdFrame

        data = self.restrict(epochs)
        values = np.asarray(data.values)
        peaks, props = find_peaks(values, *args, **kwargs)
        times, pv = data.t[peaks], values[peaks]
        if return_prop:
            d = np.stack([pv] + list(props.values()), axis=1)
            return TsdFrame(t=times, d=d, columns=["peak_value"] + list(props), time_support=epochs)
        return Tsd(t=times, d=pv, time_support=epochs)

    def to_trial_tensor(self, ep: IntervalSet, align: str = "start", padding_value: Any = np.nan) -> np.ndarray:
        """The series cut into trials: shape ``(*shape[1:], n_trials, n_time)`` (``(n_trials, n_time)``
        for a Tsd), padded with ``padding_value`` where trials are shorter than the longest.

        Parameters
        ----------
        ep : IntervalSet
            The trials (intervals of any length).
        align : {"start", "end"}
            Align the trials on their start or on their end.
        padding_value : number, default NaN

        Examples
        --------
        >>> import numpy as np
        >>> import napstream as nap
        >>> nap.Tsd(t=np.arange(6.0), d=np.arange(6.0)).to_trial_tensor(nap.IntervalSet([0, 3], [1, 5]), align="end")
        array([[nan,  0.,  1.],
               [ 3.,  4.,  5.]])
        """
        if not isinstance(ep, IntervalSet):
            raise ArgumentRuntimeError("Argument ep should be of type IntervalSet")
        if align not in ("start", "end"):
            raise ArgumentRuntimeError("align should be 'start' or 'end'")
        slices = [self.get_slice(s, e) for s, e in ep.values]
        lengths = [sl.stop - sl.start for sl in slices]
        n_t = max(lengths) if lengths else 0
        out = np.ones(shape=(len(ep), n_t, *self.shape[1:])) * padding_value
        for i, sl in enumerate(slices):
            rows = _rows(self._d, sl.start, sl.stop)
            if align == "start":
                out[i, 0:lengths[i]] = rows
            else:
                out[i, n_t - lengths[i]:] = rows
        if out.ndim > 2:
            out = np.moveaxis(out, source=[0, 1], destination=[-2, -1])
        return out


class TsTrialMethods:
    """``trial_count`` for Ts (and, through it, for the members of a TsGroup)."""

    def trial_count(self, ep: IntervalSet, bin_size: float, align: str = "start", padding_value: Any = np.nan,
                    time_unit: str = "s") -> np.ndarray:
        """Counts in bins of ``bin_size`` per trial: an array ``(n_trials, n_bins)``, padded with
        ``padding_value`` where trials are shorter than the longest.

        Parameters
        ----------
        ep : IntervalSet
            The trials.
        bin_size : float
            Bin size, in ``time_unit``.
        align : {"start", "end"}
        padding_value : number, default NaN
        time_unit : {"s", "ms", "us"}

        Examples
        --------
        >>> import napstream as nap
        >>> nap.Ts(t=[0.5, 1.5, 1.7, 10.2]).trial_count(nap.IntervalSet([0, 10], [2, 11]), 1.0)
        array([[ 1.,  2.],
               [ 1., nan]])
        """
        if not isinstance(ep, IntervalSet):
            raise ArgumentRuntimeError("Argument ep should be of type IntervalSet")
        if time_unit not in ("s", "ms", "us"):
            raise ArgumentRuntimeError("time_unit should be 's', 'ms' or 'us'")
        if align not in ("start", "end"):
            raise ArgumentRuntimeError("align should be 'start' or 'end'")
        if isinstance(bin_size, bool) or not isinstance(bin_size, Number):
            raise ArgumentRuntimeError("bin_size should be of type int or float")
        bin_size = float(to_seconds(np.array([bin_size], dtype=np.float64), time_unit)[0])
        n_t = int(np.max(np.ceil((ep.end + bin_size - ep.start) / bin_size)))
        count = self.count(bin_size=bin_size, ep=ep)
        out = np.ones(shape=(len(ep), n_t)) * padding_value
        n_ep = np.zeros(len(ep), dtype=int)
        for i in range(len(ep)):
            tmp = np.asarray(count.get(ep.start[i], ep.end[i]).values)
            n_ep[i] = tmp.shape[0]
            if align == "start":
                out[i, 0:tmp.shape[0]] = tmp
            elif tmp.shape[0]:
                out[i, -tmp.shape[0]:] = tmp
        if align == "start":
            return out[:, 0:np.max(n_ep)]
        return out[:, -np.max(n_ep):] if np.max(n_ep) else out[:, :0]
