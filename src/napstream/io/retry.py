"""Retries of remote requests: exponential backoff with jitter, honouring ``Retry-After``.

Transient failures (connection errors, timeouts, HTTP 5xx / 408 / 429, short or malformed
answers) raise :class:`TransientError` inside a request; :func:`retry_async` repeats the request
up to ``retries`` times and then raises :class:`~napstream.errors.RetryExhaustedError` naming the
resource (never its query string), the byte range and the last cause. Permanent failures
(403 -> :class:`~napstream.errors.RemoteAccessError`, 404 ->
:class:`~napstream.errors.RemoteNotFoundError`, a changed file) propagate at once.

Examples
--------
>>> import asyncio
>>> from napstream.io.retry import RetryPolicy, TransientError, retry_async
>>> calls = []
>>> async def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise TransientError("HTTP 503")
...     return b"ok"
>>> asyncio.run(retry_async(flaky, RetryPolicy(retries=5, base_delay=0.0), what="demo"))
b'ok'
>>> len(calls)
3
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
    InvalidInputError,
    RemoteAccessError,
    RemoteError,
    RemoteNotFoundError,
    RetryExhaustedError,
)

__all__ = ["RetryPolicy", "TransientError", "retry_async", "retry_sync", "status_error", "safe_url", "scrub",
           "parse_retry_after"]

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509})


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested delay in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Parameters
    ----------
    retries : int
        Retries after the first attempt (0: fail on the first transient error).
    base_delay : float
        Delay before the first retry; doubles each time (plus up to 100% random jitter).
    max_delay : float
        Upper bound of one delay (also caps a server's ``Retry-After``).
    """

    retries: int = 5
    base_delay: float = 0.1
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidInputError(f"retries must be a non-negative integer, got {self.retries!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise InvalidInputError(
                f"base_delay and max_delay must be >= 0, got {self.base_delay!r}, {self.max_delay!r}"
            )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (1-based).

        >>> RetryPolicy(base_delay=0.0).delay(3)
        0.0
        >>> RetryPolicy(max_delay=2.0).delay(1, retry_after=30.0)
        2.0
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        backoff = self.base_delay * 2 ** (attempt - 1)
        return min(backoff * (1.0 + random.random()), self.max_delay)


def safe_url(url: str) -> str:
    """The URL without query string, fragment or credentials (safe for messages and logs).

    >>> safe_url("https://user:pw@host.org/a/b.nwb?X-Amz-Signature=abc#frag")
    'https://host.org/a/b.nwb'
    """
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?|s3|dandi)://[^\s'\"<>()\[\]{}]+")
_SECRET_PARAM = re.compile(
    r"(?i)\b([\w.-]*(?:signature|credential|token|password|passwd|secret|sig|key|auth|session)[\w.-]*)=[^&\s'\"<>]+"
)


def scrub(text: str) -> str:
    """``text`` with every http(s)/s3 URL shown as :func:`safe_url` and credential parameters hidden.

    For messages that may quote URLs napstream did not build (a redirect's target, an aiohttp
    error): user:password, query strings and fragments are removed from every URL, and
    ``name=value`` pairs whose name looks like a credential (signature, token, key...) lose
    their value.

    >>> scrub("redirect to https://u:pw@h.org/f?X-Amz-Signature=abc failed; token=xyz")
    'redirect to https://h.org/f failed; token=***'
    >>> scrub("dandi://000123@draft/sub/f.nwb?x=1")
    'dandi://000123@draft/sub/f.nwb'
    """
    text = _URL_IN_TEXT.sub(_safe_match, text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)


def _safe_match(match: re.Match[str]) -> str:
    url = match.group(0)
    core = url.rstrip(".,;:")
    if core.lower().startswith("dandi://"):  # dandi://<id>@<version>/path: '@' is no userinfo there
        return core.split("?")[0].split("#")[0] + url[len(core):]
    return safe_url(core) + url[len(core):]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    >>> parse_retry_after("2")
    2.0
    >>> parse_retry_after(None) is None
    True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def status_error(status: int, what: str, retry_after: str | None = None) -> Exception:
    """The exception for an HTTP error ``status`` (a TransientError when worth retrying).

    >>> type(status_error(404, "https://x.org/f.nwb")).__name__
    'RemoteNotFoundError'
    >>> type(status_error(503, "https://x.org/f.nwb")).__name__
    'TransientError'
    """
    if status in TRANSIENT_STATUS:
        return TransientError(f"HTTP {status}", parse_retry_after(retry_after))
    if status in (401, 403):
        return RemoteAccessError(f"access refused (HTTP {status}) for {what}")
    if status in (404, 410):
        return RemoteNotFoundError(f"not found (HTTP {status}): {what}")
    return RemoteError(f"unexpected HTTP {status} for {what}")


async def retry_async(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    what: str,
    on_retry: Callable[[TransientError], None] | None = None,
) -> T:
    """Run ``attempt()`` and retry it on :class:`TransientError` following ``policy``.

    Parameters
    ----------
    attempt : async callable
        One try of the request; raises :class:`TransientError` for retryable failures.
    policy : RetryPolicy
        Number of retries and backoff.
    what : str
        Safe description for the final error, e.g. ``"https://host/f.nwb bytes [0, 1024)"``.
    on_retry : callable, optional
        Called with the error before each retry (to count retries).

    Examples
    --------
    See the module docstring.
    """
    n = 0
    while True:
        try:
            return await attempt()
        except TransientError as err:
            n += 1
            await asyncio.sleep(_after_failure(n, err, policy, what, on_retry))


def retry_sync(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    on_retry: Callable[[TransientError], None] | None = None,
) -> T:
    """:func:`retry_async` for a blocking ``attempt()`` (the lean receive path, :mod:`napstream.io.lean`).

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 2:
    ...         raise TransientError("HTTP 503")
    ...     return b"ok"
    >>> retry_sync(flaky, RetryPolicy(retries=2, base_delay=0.0), what="demo"), len(calls)
    (b'ok', 2)
    """
    n = 0
    while True:
        try:
            return attempt()
        except TransientError as err:
            n += 1
            time.sleep(_after_failure(n, err, policy, what, on_retry))


def _after_failure(n: int, err: TransientError, policy: RetryPolicy, what: str,
                   on_retry: Callable[[TransientError], None] | None) -> float:
    """Seconds to wait before try ``n + 1`` after ``n`` failed ones (the last ``err``); raises
    :class:`RetryExhaustedError` when the policy allows no more."""
    if n > policy.retries:
        raise RetryExhaustedError(
            f"{what}: giving up after {n} attempts ({policy.retries} retries); last error: {err}"
        ) from err
    if on_retry is not None:
        on_retry(err)
    return policy.delay(n, err.retry_after)
