"""Pacing of the loopback test server's response bodies: the per-response cap and the shared link.

A response body goes out in slices. Before each slice the sender waits until the body's own
rate (``bandwidth``) allows it, then books it on the server's :class:`LinkCap` (a token bucket
shared by every response) and waits its turn. :class:`Pace`
does both for one response; :func:`slice_bytes` chooses how big a slice is: small enough to keep
the rates smooth (20 ms of the slower cap), large enough that a fast link costs few system
calls (the copy-free path sends each slice with ``sendfile``).

Examples
--------
>>> pace = Pace(rate=1000.0, link=None, wait=lambda s: False)
>>> pace.rate, slice_bytes(25e6), slice_bytes(None)
(1000.0, 499712, 4194304)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import InvalidInputError

__all__ = ["LinkCap", "Pace", "slice_bytes"]

BLOCK = 64 * 1024
"""Bytes of one write on the copying path (fault injection), and the link's default burst."""
_KiB, _MiB = 1024, 2**20


class LinkCap:
    """A link of ``rate`` bytes/s shared by every response of a server (a token bucket).

    Senders reserve their bytes before writing them; reservations are served in arrival order
    at ``rate``, so concurrent responses split the link between them and together never exceed
    ``rate`` (plus one ``burst`` of bytes after an idle spell).

    Parameters
    ----------
    rate : float
        Bytes per second of the whole link.
    burst : int
        Bytes that may go out at once after the link was idle (default 64 KiB).

    Examples
    --------
    >>> link = LinkCap(1000.0, burst=0)
    >>> round(link.reserve(500), 2), round(link.reserve(500), 2)   # the second waits for the first
    (0.5, 1.0)
    """

    def __init__(self, rate: float, burst: int = BLOCK) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise InvalidInputError(f"link must be a positive number of bytes/s or None, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(int(burst), 0)
        self._next = 0.0  # monotonic time at which the link is free again
        self._lock = threading.Lock()

    def reserve(self, nbytes: int) -> float:
        """Book ``nbytes`` on the link; returns the seconds to wait before they are on the wire."""
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - self.burst / self.rate)
            self._next = start + nbytes / self.rate
            return max(0.0, self._next - now)


def slice_bytes(rate: float | None) -> int:
    """Bytes of one paced slice at ``rate`` bytes/s (None: unpaced): 20 ms worth, 512 B to 4 MiB.

    A slow rate gets small slices (a slice waits its whole duration before it leaves: the body
    must never fall silent for long); a fast one gets large slices (few system calls).

    Examples
    --------
    >>> slice_bytes(1000.0), slice_bytes(25e6), slice_bytes(125e6)
    (512, 499712, 2498560)
    """
    if rate is None or rate == float("inf"):
        return 4 * _MiB
    step = int(rate / 50)
    if step >= 4 * _KiB:
        step -= step % (4 * _KiB)
    return min(4 * _MiB, max(512, step))


class Pace:
    """The pacing of one response body: its own ``rate`` and the shared ``link``.

    Parameters
    ----------
    rate : float or None
        Bytes per second of this response (None: no cap of its own).
    link : LinkCap or None
        The link shared by every response (None: none).
    wait : callable
        ``wait(seconds) -> bool`` sleeps and returns True when the server stops (then stop sending).

    Examples
    --------
    >>> pace = Pace(None, None, wait=lambda s: False)
    >>> pace.before(100), pace.after(100)
    (False, False)
    """

    def __init__(self, rate: float | None, link: LinkCap | None, wait: Callable[[float], bool]) -> None:
        self.rate = rate
        self.link = link
        self.wait = wait
        self.t0 = time.monotonic()
        self.sent = 0
        caps = [r for r in (rate, link.rate if link is not None else None) if r is not None]
        #: the slower of the two caps (None: unpaced)
        self.slowest = min(caps) if caps else None

    def before(self, nbytes: int) -> bool:
        """Wait until ``nbytes`` more may go out; True when the server stops (send nothing then).

        A slice leaves when its last byte would have crossed a link of this response's rate, then
        when the shared link has carried the slices booked before it: the body is never faster
        than either cap, however large the slices.
        """
        if not nbytes:
            return False
        if self.rate is not None and self.wait(self.t0 + (self.sent + nbytes) / self.rate - time.monotonic()):
            return True
        return self.link is not None and self.wait(self.link.reserve(nbytes))

    def after(self, nbytes: int) -> bool:
        """Count ``nbytes`` as sent; True when the server stops."""
        self.sent += nbytes
        return False
