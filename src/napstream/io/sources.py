"""``open_source``: one entry point for local paths, http(s)://, s3:// and dandi:// locations.

Examples
--------
>>> import os, tempfile
>>> from napstream.io import open_source
>>> path = os.path.join(tempfile.mkdtemp(), "f.bin")
>>> _ = open(path, "wb").write(b"abc")
>>> with open_source(path) as src:
...     src.size, src.is_remote
(3, False)
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import InvalidInputError, InvalidTypeError
from .base import BaseSource
from .cache import get_cache
from .local import LocalSource

__all__ = ["open_source", "s3_to_https", "is_remote_location"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_remote_location(source: Any) -> bool:
    """True for http(s)://, s3:// and dandi:// strings.

    >>> is_remote_location("s3://bucket/key.nwb"), is_remote_location("/data/f.nwb")
    (True, False)
    """
    return isinstance(source, str) and source.lower().startswith(("http://", "https://", "s3://", "dandi://"))


def s3_to_https(url: str) -> str:
    """The public (anonymous) HTTPS endpoint of ``s3://bucket/key``.

    >>> s3_to_https("s3://dandiarchive/blobs/abc/def")
    'https://dandiarchive.s3.amazonaws.com/blobs/abc/def'
    >>> s3_to_https("s3://my.bucket/k")
    'https://s3.amazonaws.com/my.bucket/k'
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise InvalidInputError(f"source must look like 's3://bucket/key', got {url!r}")
    key = quote(parts.path.lstrip("/"), safe="/~")
    if "." in parts.netloc:  # dotted bucket names break TLS on virtual-hosted URLs: path style
        return f"https://s3.amazonaws.com/{parts.netloc}/{key}"
    return f"https://{parts.netloc}.s3.amazonaws.com/{key}"


def open_source(
    source: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    block_size: int | str | None = None,
    max_concurrency: int | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    cache_unvalidated: bool = False,
    check_content: bool | None = None,
    resolver: Any = None,
) -> BaseSource:
    """Open a local or remote file as a :class:`~napstream.io.base.ByteSource`.

    Parameters
    ----------
    source : str or os.PathLike
        A local path (or ``file://`` URL), ``http(s)://`` URL, ``s3://bucket/key`` (public bucket,
        read anonymously over HTTPS) or ``dandi://<dandiset>[@version]/<asset path>``.
    cache_dir : path, optional
        Folder of the persistent block cache (default ``config.cache_dir`` / NAPSTREAM_CACHE_DIR /
        the platform's user cache folder). Remote sources only.
    cache : bool
        Use the persistent block cache (False: an in-memory LRU only).
    block_size, max_concurrency, retries, timeout : optional
        Override ``napstream.config`` for this source (remote sources only).
    cache_unvalidated : bool
        Reuse cached blocks across opens even when the server sends neither ETag nor
        Last-Modified (default False: such files are cached in memory for one open only; only a
        few sampled bytes are then compared on reopen).
    check_content : bool or None
        Re-read a few bytes read earlier with every batch of requests, to catch a file changing
        mid-job (None: only when the server gives no usable validators).
    resolver : callable, optional
        ``http(s)://`` sources only: ``resolver() -> str`` gives a fresh URL for the same bytes after
        a 403 (an expired presigned URL, e.g. :class:`~napstream.io.dandi.AssetURLResolver`). Make it
        picklable so that lazy arrays sent to other processes can reopen the file.

    Returns
    -------
    ByteSource
        :class:`~napstream.io.local.LocalSource` or :class:`~napstream.io.http.HTTPSource`.

    Examples
    --------
    See the module docstring.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidTypeError(f"source must be a path or URL string, got {type(source).__name__}")
    if not isinstance(cache, bool):
        raise InvalidTypeError(f"cache must be True or False, got {type(cache).__name__}")
    if not isinstance(cache_unvalidated, bool):
        raise InvalidTypeError(f"cache_unvalidated must be True or False, got {type(cache_unvalidated).__name__}")
    if check_content not in (None, True, False):
        raise InvalidTypeError(f"check_content must be True, False or None, got {check_content!r}")
    if resolver is not None and not callable(resolver):
        raise InvalidTypeError(f"resolver must be callable or None, got {type(resolver).__name__}")
    options: dict[str, Any] = {
        "cache_dir": None if cache_dir is None else os.fspath(cache_dir), "cache": cache,
        "block_size": block_size, "max_concurrency": max_concurrency, "retries": retries, "timeout": timeout,
        "cache_unvalidated": cache_unvalidated, "check_content": check_content,
    }
    if resolver is not None:
        options["resolver"] = resolver
    text = os.fspath(source)
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("", "file"):
        src: BaseSource = LocalSource(text[len("file://"):] if scheme == "file" else text)
    elif scheme in ("http", "https", "s3", "dandi"):
        src = _open_remote(text, scheme, options)
    else:
        raise InvalidInputError(
            f"source must be a local path or an http(s)://, s3:// or dandi:// URL, got scheme {scheme!r}"
        )
    src.io_options = options
    return src


def _open_remote(text: str, scheme: str, options: dict[str, Any]) -> BaseSource:
    from .http import HTTPSource

    block_cache = get_cache(options["cache_dir"]) if options["cache"] else None
    kwargs = {k: options[k] for k in ("block_size", "max_concurrency", "retries", "timeout",
                                      "cache_unvalidated", "check_content")}
    if isinstance(kwargs["block_size"], str):
        from ..config import parse_bytes

        kwargs["block_size"] = parse_bytes(kwargs["block_size"], "block_size")
    if scheme == "s3":
        src = HTTPSource(s3_to_https(text), cache=block_cache, description=text, **kwargs)
    elif scheme == "dandi":
        from .dandi import parse_dandi_url, resolve_dandi_asset

        dandiset_id, version, path = parse_dandi_url(text)

        def resolve() -> str:  # no version: latest published, else draft (DANDI's rule)
            return resolve_dandi_asset(dandiset_id, path, version=version,
                                       timeout=kwargs["timeout"], retries=kwargs["retries"])

        src = HTTPSource(resolve(), cache=block_cache, resolver=resolve, description=text, **kwargs)
    else:  # a given resolver renews an expiring (presigned) URL after a 403
        src = HTTPSource(text, cache=block_cache, resolver=options.get("resolver"), **kwargs)
    src.locator = text
    return src
