"""DANDI resolution: ``dandi://`` URLs -> asset -> a plain HTTPS URL of its bytes.

Resolution follows dandi-cli's ``RemoteAsset.get_content_url(follow_redirects=1, strip_query=True)``:

1. the version: ``"draft"``, a published id (``"0.230101.0101"``), or None / ``"latest"`` for the
   most recent published version if there is one, else the draft (dandi-cli's rule when a URL has
   no version; one extra request to ``/dandisets/{id}/``);
2. the asset: ``GET /dandisets/{id}/versions/{version}/assets/?path=<path>`` is a *prefix* filter,
   so the pages are walked until an asset whose path is exactly ``path`` appears;
3. the content: ``HEAD /assets/{asset_id}/download/`` without following redirects; the single
   ``Location`` it answers (the S3 object, a presigned URL) is the content URL;
4. the query string is stripped (``strip_query``), as dandi-cli does: DANDI's bucket serves public
   blobs without a signature, and the bare URL never expires, so it is a stable cache key. For
   embargoed data (an API key is used) the presigned query *is* the authorisation, so by default it
   is kept; such URLs expire and must be resolved again (the HTTP source does that after a 403).

The API key (``api_key=`` or the ``DANDI_API_KEY`` environment variable) is sent as
``Authorization: token <key>`` to the API host only (redirects are never followed with it) and is
never logged nor put into an error message.

Examples
--------
>>> parse_dandi_url("dandi://000582@0.230101.0101/sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb")
DandiURL(dandiset_id='000582', version='0.230101.0101', path='sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb')
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..config import config
from ..errors import (
    DandiError,
    FileFormatError,
    InvalidInputError,
    InvalidTypeError,
    RemoteAccessError,
    RemoteError,
    RetryExhaustedError,
)

__all__ = ["DandiURL", "DandiAsset", "AssetURLResolver", "parse_dandi_url", "find_dandi_asset", "resolve_dandi_asset", "resolve_dandi_url",
           "resolve_dandi_version", "list_dandi_versions", "list_dandi_assets", "resolve_asset_content_url"]

_DANDISET_RE = re.compile(r"^\d{6}$")
_VERSION_RE = re.compile(r"^(draft|\d+\.\d{6}\.\d{4})$")
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_MAX_PAGES = 10_000          # pagination is bounded even if a server misbehaves
_HINT_PAGES = 5              # pages read to suggest close asset paths
_MAX_BACKOFF = 5.0


class DandiURL(NamedTuple):
    """A parsed ``dandi://<dandiset>[@<version>]/<path>`` URL (version None when omitted)."""

    dandiset_id: str
    version: str | None
    path: str


@dataclass(frozen=True, repr=False)
class DandiAsset:
    """An asset found in a dandiset version.

    Attributes
    ----------
    dandiset_id, version, path : str
        Where it was found (``version`` is the resolved one, never None or "latest").
    asset_id : str
        DANDI asset identifier (a UUID).
    size : int or None
        Size in bytes reported by the API.
    api_url : str
        The API base it came from.
    """

    dandiset_id: str
    version: str
    path: str
    asset_id: str
    size: int | None
    api_url: str

    @property
    def download_url(self) -> str:
        """The API download endpoint (answers a redirect to the bytes)."""
        return f"{self.api_url}/assets/{self.asset_id}/download/"

    @property
    def url(self) -> str:
        """Where the asset's bytes are served: the API download endpoint (alias of ``download_url``)."""
        return self.download_url

    @property
    def dandi_url(self) -> str:
        """``dandi://<dandiset>@<version>/<path>``: the asset, pinned to its version."""
        return f"dandi://{self.dandiset_id}@{self.version}/{urllib.parse.quote(self.path, safe='/+')}"

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:  # short: lists of assets and .errors of map_sessions stay readable
        return f"DandiAsset({self.path!r}, size={self.size}, dandiset={self.dandiset_id}@{self.version})"


def parse_dandi_url(url: str) -> DandiURL:
    """Split a ``dandi://<dandiset>[@<version>]/<asset path>`` URL.

    Parameters
    ----------
    url : str
        For example ``"dandi://000582/sub-10073/file.nwb"`` or ``"dandi://000582@draft/x.nwb"``.
        Percent-escapes in the path are decoded (``+`` is kept as is).

    Returns
    -------
    DandiURL
        ``(dandiset_id, version, path)``; ``version`` is None when the URL has none.

    Raises
    ------
    InvalidInputError
        When the URL is not of that form (the message says which part is wrong).

    Examples
    --------
    >>> parse_dandi_url("dandi://000582/sub-1/x.nwb")
    DandiURL(dandiset_id='000582', version=None, path='sub-1/x.nwb')
    >>> parse_dandi_url("DANDI://000582@draft/x.nwb").version
    'draft'
    """
    if not isinstance(url, str):
        raise InvalidTypeError(f"url must be a string like 'dandi://000582/sub-1/x.nwb', got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "dandi":
        raise InvalidInputError(f"url must start with 'dandi://' (dandi://<dandiset>[@<version>]/<path>), got {url!r}")
    head, slash, raw_path = rest.partition("/")
    dandiset_id, at, version = head.partition("@")
    if not _DANDISET_RE.match(dandiset_id):
        raise InvalidInputError(f"url must name a six-digit dandiset after 'dandi://' (like 000582), got {url!r}")
    if at and not _VERSION_RE.match(version):
        raise InvalidInputError(
            f"url version after '@' must be 'draft' or a published id like '0.230101.0101', got {version!r} in {url!r}"
        )
    path = urllib.parse.unquote(raw_path.split("?")[0].split("#")[0])
    if not slash or not path.strip("/"):
        raise InvalidInputError(f"url must give an asset path after the dandiset (dandi://{head}/<path>), got {url!r}")
    return DandiURL(dandiset_id, version if at else None, _normalize_path(path, url))


def _normalize_path(path: str, shown: str) -> str:
    norm = posixpath.normpath(path.lstrip("/"))
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        raise InvalidInputError(f"path must be an asset path inside the dandiset like 'sub-1/x.nwb', got {shown!r}")
    return norm


def _check_args(dandiset_id: Any, path: Any, version: Any, api_url: Any) -> tuple[str, str, str | None, str]:
    if not isinstance(dandiset_id, str) or not _DANDISET_RE.match(dandiset_id):
        raise InvalidInputError(f"dandiset_id must be a six-digit string like '000582', got {dandiset_id!r}")
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidInputError(f"path must be a non-empty asset path like 'sub-1/x.nwb', got {path!r}")
    if version == "latest":
        version = None
    if version is not None and (not isinstance(version, str) or not _VERSION_RE.match(version)):
        raise InvalidInputError(
            f"version must be 'draft', 'latest', None or a published id like '0.230101.0101', got {version!r}"
        )
    api = config.dandi_api_url if api_url is None else api_url
    if not isinstance(api, str) or not api.lower().startswith(("http://", "https://")):
        raise InvalidInputError(f"api_url must be an http(s) URL like 'https://api.dandiarchive.org/api', got {api!r}")
    return dandiset_id, _normalize_path(path, path), version, api.rstrip("/")


class _Client:
    """A tiny DANDI API client: JSON GETs with retries, bounded pagination, key redaction."""

    def __init__(self, api_url: str, api_key: str | None, timeout: float | None, retries: int | None) -> None:
        import requests

        self.api_url = api_url
        self._origin = urllib.parse.urlsplit(api_url)[:2]
        self._key = api_key if api_key is not None else (os.environ.get("DANDI_API_KEY") or None)
        self.timeout = config.timeout if timeout is None else float(timeout)
        self.retries = config.retries if retries is None else int(retries)
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if self._key:
            self.session.headers["Authorization"] = f"token {self._key}"

    @property
    def authenticated(self) -> bool:
        return bool(self._key)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "_Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def safe(self, text: str) -> str:
        """``text`` with the API key (if any) masked."""
        return text.replace(self._key, "***") if self._key else text

    def request(self, method: str, url: str, what: str, params: dict[str, Any] | None = None) -> Any:
        """Send with retries on connection errors and 429/5xx; 401/403 raise RemoteAccessError."""
        import requests

        if urllib.parse.urlsplit(url)[:2] != self._origin:
            raise RemoteError(self.safe(f"the DANDI API sent a link to another host while {what}: {url.split('?')[0]}"))
        last = ""
        for attempt in range(self.retries + 1):
            try:
                resp = self.session.request(method, url, params=params, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as err:
                last = f"{type(err).__name__}"
                wait = 0.1 * 2**attempt
            else:
                if resp.status_code not in _RETRY_STATUSES:
                    if resp.status_code in (401, 403):
                        hint = "the API key was refused" if self._key else "set DANDI_API_KEY for embargoed data"
                        raise RemoteAccessError(self.safe(
                            f"DANDI refused access (HTTP {resp.status_code}) while {what} at {self.api_url}: {hint}"))
                    return resp
                last = f"HTTP {resp.status_code}"
                wait = _retry_after(resp.headers.get("Retry-After"), 0.1 * 2**attempt)
            if attempt < self.retries:
                time.sleep(min(wait, _MAX_BACKOFF))
        raise RetryExhaustedError(self.safe(
            f"DANDI API at {self.api_url} kept failing ({last}) while {what}, after {self.retries} retries"))

    def get_json(self, url: str, what: str, params: dict[str, Any] | None = None) -> Any | None:
        """GET JSON; None for 404."""
        resp = self.request("GET", url, what, params)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RemoteError(self.safe(f"DANDI API answered HTTP {resp.status_code} while {what} ({url.split('?')[0]})"))
        try:
            return resp.json()
        except ValueError as err:
            raise RemoteError(self.safe(f"DANDI API sent invalid JSON while {what} ({url.split('?')[0]})")) from err

    def pages(self, url: str, what: str, params: dict[str, Any], max_pages: int = _MAX_PAGES) -> Any:
        """Yield the ``results`` of each page; the first 404 yields None and stops."""
        page_params: dict[str, Any] | None = params
        for _ in range(max_pages):
            data = self.get_json(url, what, page_params)
            if data is None:
                yield None
                return
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise RemoteError(f"DANDI API sent an unexpected listing while {what}")
            yield data["results"]
            if not data.get("next"):
                return
            url, page_params = data["next"], None


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def _resolve_version(client: _Client, dandiset_id: str, version: str | None) -> str:
    """None -> the most recent published version, else the draft (one request)."""
    if version is not None:
        return version
    data = client.get_json(f"{client.api_url}/dandisets/{dandiset_id}/", f"looking up dandiset {dandiset_id}")
    if data is None:
        raise DandiError(f"dandiset {dandiset_id} not found at {client.api_url}")
    published = data.get("most_recent_published_version")
    return str(published["version"]) if published else "draft"


def _check_version_exists(client: _Client, dandiset_id: str, version: str) -> None:
    url = f"{client.api_url}/dandisets/{dandiset_id}/versions/{version}/info/"
    if client.get_json(url, f"looking up version {version} of dandiset {dandiset_id}") is None:
        raise _missing_version_or_dandiset(client, dandiset_id, version)


def _missing_version_or_dandiset(client: _Client, dandiset_id: str, version: str) -> DandiError:
    what = f"looking up dandiset {dandiset_id}"
    if client.get_json(f"{client.api_url}/dandisets/{dandiset_id}/", what) is None:
        return DandiError(f"dandiset {dandiset_id} not found at {client.api_url}")
    known: list[str] = []
    for rows in client.pages(f"{client.api_url}/dandisets/{dandiset_id}/versions/", what, {}, _HINT_PAGES):
        known += [str(r.get("version")) for r in rows or []]
    return DandiError(f"version {version!r} of dandiset {dandiset_id} not found at {client.api_url}; "
                      f"available versions: {known}")


def _closest_paths(client: _Client, url: str, path: str) -> list[str]:
    """Up to 5 asset paths resembling ``path``: first in its folder, else anywhere (bounded)."""
    folder = posixpath.dirname(path)
    candidates: list[str] = []
    for prefix in ([folder + "/"] if folder else []) + [""]:
        for rows in client.pages(url, "listing assets", {"path": prefix} if prefix else {}, _HINT_PAGES):
            candidates += [str(r.get("path")) for r in rows or []]
        if candidates:
            break
    return difflib.get_close_matches(path, candidates, n=5, cutoff=0.0)


def _find(client: _Client, dandiset_id: str, path: str, version: str | None) -> DandiAsset:
    version = _resolve_version(client, dandiset_id, version)
    url = f"{client.api_url}/dandisets/{dandiset_id}/versions/{version}/assets/"
    what = f"looking up {path!r} in dandiset {dandiset_id} version {version}"
    for rows in client.pages(url, what, {"path": path}):
        if rows is None:
            raise _missing_version_or_dandiset(client, dandiset_id, version)
        for row in rows:
            if isinstance(row, dict) and row.get("path") == path:
                if not row.get("asset_id"):
                    raise RemoteError(f"DANDI API listed {path!r} without an asset_id")
                size = row.get("size")
                return DandiAsset(dandiset_id, version, path, str(row["asset_id"]),
                                  int(size) if isinstance(size, int) else None, client.api_url)
    close = _closest_paths(client, url, path)
    raise DandiError(f"no asset at path {path!r} in dandiset {dandiset_id} version {version} "
                     f"({client.api_url}); closest asset paths: {close}")


def find_dandi_asset(
    dandiset_id: str,
    path: str,
    version: str | None = "draft",
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> DandiAsset:
    """Find the asset at exactly ``path`` in a dandiset version.

    Parameters
    ----------
    dandiset_id : str
        Six-digit identifier, e.g. ``"000582"``.
    path : str
        Asset path inside the dandiset, e.g. ``"sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb"``.
    version : str or None
        ``"draft"``, a published version id, or None / ``"latest"`` (the most recent published
        version if any, else the draft).
    api_url : str, optional
        API base (default ``napstream.config.dandi_api_url``, env ``NAPSTREAM_DANDI_API_URL``).
    api_key : str, optional
        API key for embargoed data (default: the ``DANDI_API_KEY`` environment variable).
    timeout, retries : optional
        Per-request timeout (s) and retries of failed requests (default ``napstream.config``).

    Returns
    -------
    DandiAsset

    Raises
    ------
    DandiError
        Unknown dandiset, version (the message lists the existing ones) or path (the message lists
        the closest asset paths).
    RemoteAccessError
        The API refused access (embargoed data without a valid key).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"sub-1/x.nwb": f}) as dandi:
    ...     find_dandi_asset("000582", "sub-1/x.nwb", api_url=dandi.api_url).size
    3
    """
    dandiset_id, path, version, api = _check_args(dandiset_id, path, version, api_url)
    with _Client(api, api_key, timeout, retries) as client:
        return _find(client, dandiset_id, path, version)


def resolve_dandi_asset(
    dandiset_id: str,
    path: str,
    version: str | None = "draft",
    api_url: str | None = None,
    api_key: str | None = None,
    strip_query: bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> str:
    """Resolve a DANDI asset to the URL of its bytes (dandi-cli's ``get_content_url`` semantics).

    Parameters
    ----------
    dandiset_id, path, version, api_url, api_key, timeout, retries :
        As in :func:`find_dandi_asset`.
    strip_query : bool or None
        Drop the query string of the redirect target. None (default): strip it for public data,
        keep it when an API key is used (the presigned query is what grants access then).

    Returns
    -------
    str
        The content URL: the single redirect of ``/assets/{asset_id}/download/`` (an S3 object),
        or the download URL itself if the API does not redirect.

    Examples
    --------
    >>> import pathlib, tempfile, requests
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"0123456789")
    >>> with LocalDandiServer({"sub-1/x.nwb": f}) as dandi:
    ...     url = resolve_dandi_asset("000582", "sub-1/x.nwb", api_url=dandi.api_url)
    ...     print("/blobs/" in url, "?" in url, requests.get(url, headers={"Range": "bytes=2-4"}).content)
    True False b'234'
    """
    if strip_query is not None and not isinstance(strip_query, bool):
        raise InvalidTypeError(f"strip_query must be True, False or None, got {type(strip_query).__name__}")
    dandiset_id, path, version, api = _check_args(dandiset_id, path, version, api_url)
    with _Client(api, api_key, timeout, retries) as client:
        return _content_url(client, _find(client, dandiset_id, path, version), strip_query)


def resolve_dandi_url(url: str, api_url: str | None = None, api_key: str | None = None, **options: Any) -> str:
    """Resolve a ``dandi://`` URL to the URL of its bytes (no version: latest published, else draft).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}) as dandi:
    ...     resolve_dandi_url("dandi://000582@draft/x.nwb", api_url=dandi.api_url).startswith("http://127.0.0.1")
    True
    """
    dandiset_id, version, path = parse_dandi_url(url)
    return resolve_dandi_asset(dandiset_id, path, version=version, api_url=api_url, api_key=api_key, **options)


def _check_dandiset(dandiset_id: Any, version: Any, api_url: Any) -> tuple[str, str | None, str]:
    dandiset_id, _, version, api = _check_args(dandiset_id, "x", version, api_url)
    return dandiset_id, version, api


def resolve_dandi_version(
    dandiset_id: str,
    version: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> str:
    """The version a dandiset is read at: dandi-cli's rule.

    ``None`` / ``"latest"`` is the most recent published version if there is one, else the draft
    (as ``dandi-cli``'s ``DandiAPIClient.get_dandiset(id)`` and ``dandi://<id>/<path>`` URLs);
    an explicit version is checked to exist.

    Parameters
    ----------
    dandiset_id, version, api_url, api_key, timeout, retries :
        As in :func:`find_dandi_asset`.

    Returns
    -------
    str
        ``"draft"`` or a published version id.

    Raises
    ------
    DandiError
        Unknown dandiset or version (the message lists the existing versions).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}, versions=("draft", "0.230101.0101")) as dandi:
    ...     resolve_dandi_version("000582", api_url=dandi.api_url)
    '0.230101.0101'
    """
    dandiset_id, version, api = _check_dandiset(dandiset_id, version, api_url)
    with _Client(api, api_key, timeout, retries) as client:
        resolved = _resolve_version(client, dandiset_id, version)
        if version is not None:
            _check_version_exists(client, dandiset_id, resolved)
        return resolved


def list_dandi_versions(
    dandiset_id: str,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> list[str]:
    """Every version of a dandiset (``GET /dandisets/{id}/versions/``, every page), as the API orders them.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}, versions=("draft", "0.230101.0101")) as dandi:
    ...     list_dandi_versions("000582", api_url=dandi.api_url)
    ['0.230101.0101', 'draft']
    """
    dandiset_id, _, api = _check_dandiset(dandiset_id, None, api_url)
    out: list[str] = []
    with _Client(api, api_key, timeout, retries) as client:
        url = f"{api}/dandisets/{dandiset_id}/versions/"
        for rows in client.pages(url, f"listing the versions of dandiset {dandiset_id}", {}):
            if rows is None:
                raise DandiError(f"dandiset {dandiset_id} not found at {api}")
            out += [str(r["version"]) for r in rows if isinstance(r, dict) and r.get("version")]
        return out


def list_dandi_assets(
    dandiset_id: str,
    version: str,
    pattern: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    order: str = "path",
    page_size: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> list[DandiAsset]:
    """List the assets of a dandiset version, following the API's pages.

    Parameters
    ----------
    dandiset_id : str
        Six-digit identifier.
    version : str
        ``"draft"`` or a published version id (see :func:`resolve_dandi_version`).
    pattern : str, optional
        A glob matched by the server on the whole asset path, as ``dandi ls`` / dandi-cli's
        ``get_assets_by_glob`` do: ``*`` matches any characters *including* ``/``; ``?`` and
        ``[`` are literal; the match ignores case. None lists every asset.
    api_url, api_key, timeout, retries :
        As in :func:`find_dandi_asset`.
    order : str
        ``"path"`` (default), ``"created"`` or ``"modified"``; a leading ``-`` reverses it.
    page_size : int, optional
        Rows per page (the server's default is 100, its maximum 1000).

    Returns
    -------
    list of DandiAsset

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> files = {"sub-1/sub-1_ses-1.nwb": f, "sub-2/sub-2_ses-1.nwb": f, "README.md": f}
    >>> with LocalDandiServer(files) as dandi:
    ...     [a.path for a in list_dandi_assets("000582", "draft", "sub-*.nwb", api_url=dandi.api_url)]
    ['sub-1/sub-1_ses-1.nwb', 'sub-2/sub-2_ses-1.nwb']
    """
    dandiset_id, version_, api = _check_dandiset(dandiset_id, version, api_url)
    if version_ is None:
        raise InvalidInputError("version must be 'draft' or a published id; resolve it with resolve_dandi_version()")
    if pattern is not None and (not isinstance(pattern, str) or not pattern):
        raise InvalidInputError(f"pattern must be a non-empty glob like 'sub-*/*.nwb' or None, got {pattern!r}")
    if not isinstance(order, str) or order.lstrip("-") not in ("path", "created", "modified"):
        raise InvalidInputError(
            f"order must be 'path', 'created' or 'modified' (a leading '-' reverses), got {order!r}")
    if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                  or not 1 <= page_size <= 1000):
        raise InvalidInputError(f"page_size must be an integer from 1 to 1000, got {page_size!r}")
    params: dict[str, Any] = {"order": order}
    if pattern is not None:
        params["glob"] = pattern
    if page_size is not None:
        params["page_size"] = page_size
    url = f"{api}/dandisets/{dandiset_id}/versions/{version_}/assets/"
    out: list[DandiAsset] = []
    with _Client(api, api_key, timeout, retries) as client:
        for rows in client.pages(url, f"listing the assets of dandiset {dandiset_id} version {version_}", params):
            if rows is None:
                raise _missing_version_or_dandiset(client, dandiset_id, version_)
            for row in rows:
                if not isinstance(row, dict) or not row.get("asset_id") or not isinstance(row.get("path"), str):
                    raise RemoteError(f"DANDI API listed an asset without a path or asset_id: {str(row)[:200]}")
                size = row.get("size")
                out.append(DandiAsset(dandiset_id, version_, row["path"], str(row["asset_id"]),
                                      int(size) if isinstance(size, int) else None, api))
        return out


def resolve_asset_content_url(
    asset: DandiAsset,
    api_key: str | None = None,
    strip_query: bool | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> str:
    """The URL of an asset's bytes: one ``HEAD`` of its download endpoint (no path lookup).

    Parameters
    ----------
    asset : DandiAsset
        From :func:`list_dandi_assets` or :func:`find_dandi_asset`.
    api_key, strip_query, timeout, retries :
        As in :func:`resolve_dandi_asset`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}) as dandi:
    ...     asset = list_dandi_assets("000582", "draft", api_url=dandi.api_url)[0]
    ...     "/blobs/" in resolve_asset_content_url(asset)
    True
    """
    if not isinstance(asset, DandiAsset):
        raise InvalidTypeError(f"asset must be a DandiAsset, got {type(asset).__name__}")
    with _Client(asset.api_url, api_key, timeout, retries) as client:
        return _content_url(client, asset, strip_query)


def _content_url(client: _Client, asset: DandiAsset, strip_query: bool | None) -> str:
    what = f"resolving the download of {asset.path!r} (dandiset {asset.dandiset_id} version {asset.version})"
    if asset.path.lower().rstrip("/").endswith(".zarr"):
        raise FileFormatError(
            f"asset {asset.path!r} of dandiset {asset.dandiset_id} is a Zarr store (NWB Zarr): napstream reads NWB "
            "files stored in HDF5 (.nwb); read it with hdmf-zarr (`NWBZarrIO`), or pick the .nwb assets "
            "(Dandiset(...).assets('*.nwb'))")
    resp = client.request("HEAD", asset.download_url, what)
    if resp.status_code == 404:
        raise DandiError(f"asset {asset.asset_id} ({asset.path!r}) has no download at {asset.api_url}")
    location = resp.headers.get("Location") if 300 <= resp.status_code < 400 else None
    url = urllib.parse.urljoin(asset.download_url, location) if location else asset.download_url
    if strip_query if strip_query is not None else not client.authenticated:
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query="", fragment=""))
    return url


@dataclass(frozen=True)
class AssetURLResolver:
    """``resolver() -> str``: the current URL of a listed asset's bytes (one ``HEAD`` of its download).

    An HTTP source over an embargoed asset reads a presigned URL, which expires; after a 403 it
    calls its resolver for a fresh one. This one is picklable (a reopened lazy array on another
    process renews its URL too) and never shows the API key.

    Parameters
    ----------
    asset : DandiAsset
        From :func:`list_dandi_assets` or :func:`find_dandi_asset`.
    api_key : str, optional
        For embargoed dandisets (default: the ``DANDI_API_KEY`` environment variable at each call).
    timeout, retries : optional
        As in :func:`resolve_asset_content_url`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}, api_key="k") as dandi:
    ...     resolver = AssetURLResolver(list_dandi_assets("000582", "draft", api_url=dandi.api_url, api_key="k")[0],
    ...                                 api_key="k")
    ...     "/blobs/" in resolver(), "k" in repr(resolver).split("asset=")[0]
    (True, False)
    """

    asset: DandiAsset
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None
    retries: int | None = None

    def __call__(self) -> str:
        return resolve_asset_content_url(self.asset, api_key=self.api_key, timeout=self.timeout,
                                         retries=self.retries)
