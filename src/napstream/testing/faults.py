"""Fault injection of the loopback test server: :class:`FaultPlan` and the fault kinds.

A plan picks which requests a fault applies to (the next N matching ones, or each with a seeded
probability); :mod:`napstream.testing.http_handler` applies it to the response.

Examples
--------
>>> FaultPlan("429", count=2, retry_after=0.5).kind
'429'
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import InvalidInputError

__all__ = ["FAULT_KINDS", "FaultPlan", "MAX_DELAY", "BODY_FAULTS", "RANGE_FAULTS"]

FAULT_KINDS = (
    "drop",               # send the headers and part of the body, then reset the connection
    "truncate",           # correct Content-Length, shorter body, then close the connection
    "stall",              # send the headers and part of the body, then stall `delay` s, then close
    "slow",               # wait `delay` s before answering normally
    "503",                # 503 Service Unavailable (a burst with count=N)
    "429",                # 429 Too Many Requests with Retry-After: `retry_after`
    "status",             # any error status (`status=`), e.g. 403 for an expired presigned URL
    "bad_content_range",  # 206 with a Content-Range that does not match the request
    "ignore_range",       # answer a Range request with 200 and the whole file
    "change_etag",        # a different ETag on each matching request
    "gone",               # close the connection without answering and stop accepting connections
    "trickle",            # send the body one byte every `delay` s (never silent long enough to time out)
)
BODY_FAULTS = ("drop", "truncate", "stall")
"""Faults that cut the body short (the connection ends after ``fraction`` of it)."""
RANGE_FAULTS = ("bad_content_range", "ignore_range")
"""Faults that only match requests with a ``Range`` header."""
MAX_DELAY = 30.0
"""Upper bound (seconds) of any stall, delay or added latency: the server never hangs longer."""

@dataclass
class FaultPlan:
    """One fault to inject into matching requests.

    Parameters
    ----------
    kind : str
        One of :data:`FAULT_KINDS`.
    count : int or None
        Apply to the next ``count`` matching requests (default 1 when ``probability`` is None;
        None with a probability means no limit).
    probability : float or None
        Apply to each matching request with this probability (seeded RNG).
    seed : int
        Seed of the RNG used with ``probability``.
    path : str or None
        Only requests whose path contains this substring match (None: every path).
    methods : tuple of str or None
        Methods that match (None: ``GET`` for body faults, ``GET``/``HEAD`` otherwise).
        ``bad_content_range`` and ``ignore_range`` match only requests with a ``Range`` header.
    skip : int
        Let this many matching requests through before the fault starts.
    delay : float
        Seconds of a ``slow`` wait or a ``stall`` (capped at :data:`MAX_DELAY`).
    fraction : float
        Fraction of the body sent before ``drop``/``truncate``/``stall`` cut it.
    retry_after : float
        Value of the ``Retry-After`` header of a ``429``.
    status : int
        Status code of a ``status`` fault.

    Examples
    --------
    >>> FaultPlan("503", count=3).count
    3
    """

    kind: str
    count: int | None = None
    probability: float | None = None
    seed: int = 0
    path: str | None = None
    methods: tuple[str, ...] | None = None
    skip: int = 0
    delay: float = 5.0
    fraction: float = 0.5
    retry_after: float = 1.0
    status: int = 500
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _seen: int = field(default=0, repr=False, compare=False)
    _fired: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise InvalidInputError(f"FaultPlan kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise InvalidInputError(f"FaultPlan probability must be in [0, 1], got {self.probability!r}")
        if self.count is None and self.probability is None:
            self.count = 1
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0):
            raise InvalidInputError(f"FaultPlan count must be a non-negative integer or None, got {self.count!r}")
        if not 0.0 <= self.fraction <= 1.0:
            raise InvalidInputError(f"FaultPlan fraction must be in [0, 1], got {self.fraction!r}")
        if self.delay < 0:
            raise InvalidInputError(f"FaultPlan delay must be >= 0 seconds, got {self.delay!r}")
        if self.methods is None:
            self.methods = ("GET",) if self.kind in BODY_FAULTS else ("GET", "HEAD")
        self.methods = tuple(m.upper() for m in self.methods)
        self._rng = random.Random(self.seed)

    @property
    def fired(self) -> int:
        """How many requests this fault was applied to."""
        return self._fired

    @property
    def exhausted(self) -> bool:
        """True when the fault will not fire again."""
        return self.count is not None and self._fired >= self.count

    def _matches(self, method: str, path: str, has_range: bool) -> bool:
        if method not in self.methods or (self.path is not None and self.path not in path):
            return False
        return has_range or self.kind not in RANGE_FAULTS

    def _fire(self, method: str, path: str, has_range: bool) -> bool:
        """Decide (and count) whether this request gets the fault. Call under the server lock."""
        if self.exhausted or not self._matches(method, path, has_range):
            return False
        self._seen += 1
        if self._seen <= self.skip:
            return False
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        self._fired += 1
        return True
