"""A minimal local DANDI REST API on 127.0.0.1, serving one dandiset's assets from local files.

:class:`LocalDandiServer` runs two :class:`~napstream.testing.http_server.RangeHTTPServer` s:

* ``server.api`` answers the endpoints DANDI resolution uses (JSON, like api.dandiarchive.org):

  - ``GET /api/dandisets/{id}/`` - identifier, ``draft_version``, ``most_recent_published_version``
  - ``GET /api/dandisets/{id}/versions/`` - paginated list of versions
  - ``GET /api/dandisets/{id}/versions/{version}/`` - version metadata; ``.../info/`` - version info
  - ``GET /api/dandisets/{id}/versions/{version}/assets/?path=<prefix>&glob=<pattern>&order=&page=&page_size=``
    - paginated ``{"count", "next", "previous", "results": [{"asset_id", "blob", "zarr", "path",
    "size", "created", "modified"}]}``, as dandi-archive answers it: ``path`` is a
    case-insensitive *prefix* filter; ``glob`` matches the whole path case-insensitively, where
    only ``*`` is special and it matches any characters *including* ``/`` (the archive escapes the
    pattern and turns an escaped ``*`` into ``.*``; ``?`` and ``[`` are literal); ``order`` is ``created``
    (the default), ``modified`` or ``path``, ``-`` in front reverses it; pages hold 100 rows by
    default, ``page_size`` is capped at 1000, a page past the end answers 404
  - ``GET /api/assets/{asset_id}/`` and ``.../versions/{version}/assets/{asset_id}/`` - asset
    metadata with ``contentUrl`` (API download URL, then the S3 URL) and ``contentSize``
  - ``GET|HEAD /api/assets/{asset_id}/download/`` - ``302`` to the S3 URL with a presigned-looking
    query string (``X-Amz-Signature=...``)

  Unknown objects answer ``404 {"detail": "Not found."}``. :meth:`LocalDandiServer.remove_blob`
  makes an asset's bytes answer 404 on the S3 side (a lost blob) while the API still lists it. With ``api_key`` set the dandiset is
  embargoed: every API request needs ``Authorization: token <api_key>`` (else 401) and the S3 side
  refuses URLs without the presigned query (403). :meth:`LocalDandiServer.expire_signatures` makes
  the presigned URLs handed out so far answer 403, like expired S3 signatures.
* ``server.s3`` serves the bytes at ``/blobs/<aa>/<bb>/<blob id>`` with full Range support, latency,
  bandwidth caps and fault injection (``server.s3.set_faults(...)``).

Examples
--------
>>> import pathlib, tempfile, requests
>>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
>>> _ = f.write_bytes(b"0123456789")
>>> with LocalDandiServer({"sub-1/sub-1.nwb": f}) as dandi:
...     r = requests.get(f"{dandi.api_url}/dandisets/000582/versions/draft/assets/", params={"path": "sub-1/"})
...     print(r.json()["count"], r.json()["results"][0]["path"])
1 sub-1/sub-1.nwb
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, InvalidTypeError
from .http_server import RangeHTTPServer, Response

__all__ = ["LocalDandiServer"]

_CREATED = "2023-01-01T01:01:00.000000Z"
_NOT_FOUND = Response(404, b'{"detail":"Not found."}')
_VERSION_RE = re.compile(r"^(draft|\d+\.\d{6}\.\d{4})$")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode())


class LocalDandiServer:
    """A local DANDI API (``.api``) plus an S3-like blob server (``.s3``) for one dandiset.

    Parameters
    ----------
    files : Mapping[str, path]
        Asset path inside the dandiset (``"sub-1/sub-1_ses-1.nwb"``) -> local file. Every version
        holds the same files (each version gets its own asset ids, like re-uploaded assets).
        Listings keep the mapping's order (like the server's creation order).
    dandiset_id : str
        Six-digit dandiset identifier.
    versions : sequence of str
        ``"draft"`` and/or published versions (``"0.230101.0101"``); the last published one is
        the ``most_recent_published_version``.
    page_size : int
        Default page size of paginated listings (clients may ask for another with ``page_size=``).
    api_key : str or None
        If set, the dandiset is embargoed and requests need ``Authorization: token <api_key>``.
    latency, bandwidth :
        Passed to the S3-side :class:`RangeHTTPServer` (the API side gets the same latency).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.nwb"
    >>> _ = f.write_bytes(b"abc")
    >>> with LocalDandiServer({"x.nwb": f}, versions=("draft",)) as dandi:
    ...     dandi.api_url.endswith("/api")
    True
    """

    def __init__(
        self,
        files: Mapping[str, str | os.PathLike],
        dandiset_id: str = "000582",
        versions: Sequence[str] = ("draft", "0.230101.0101"),
        page_size: int = 100,
        api_key: str | None = None,
        latency: float = 0.0,
        bandwidth: int | None = None,
    ) -> None:
        if not isinstance(files, Mapping):
            raise InvalidTypeError(f"files must be a mapping of asset paths to local files, got {type(files).__name__}")
        if not isinstance(dandiset_id, str) or not re.fullmatch(r"\d{6}", dandiset_id):
            raise InvalidInputError(f"dandiset_id must be a six-digit string like '000582', got {dandiset_id!r}")
        versions = tuple(versions)
        bad = [v for v in versions if not isinstance(v, str) or not _VERSION_RE.match(v)]
        if not versions or bad:
            raise InvalidInputError(f"versions must be 'draft' or published ids like '0.230101.0101', got {versions!r}")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInputError(f"page_size must be a positive integer, got {page_size!r}")
        self.dandiset_id = dandiset_id
        self.versions = versions
        self.page_size = page_size
        self.api_key = api_key
        self.files = {str(k).strip("/"): Path(v) for k, v in files.items()}
        self._lock = threading.Lock()
        self._auth_seen: list[str | None] = []
        self.blobs = {p: uuid.uuid5(uuid.NAMESPACE_URL, f"blob:{p}") for p in self.files}
        self.assets: dict[str, dict[str, str]] = {  # version -> path -> asset_id
            v: {p: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dandiset_id}/{v}/{p}")) for p in self.files}
            for v in versions
        }
        self._by_id = {aid: (v, p) for v, table in self.assets.items() for p, aid in table.items()}
        self._generation = 0
        self._removed: set[str] = set()
        self._blob_paths = {"/" + self._blob_key(p): p for p in self.files}
        self.s3 = RangeHTTPServer({self._blob_key(p): f for p, f in self.files.items()},
                                  latency=latency, bandwidth=bandwidth, app=self._s3_app)
        self.api = RangeHTTPServer({}, latency=latency, app=self._api_app)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "LocalDandiServer":
        """Start both servers; returns self."""
        self.s3.start()
        self.api.start()
        return self

    def stop(self) -> None:
        """Stop both servers (fast)."""
        self.api.stop()
        self.s3.stop()

    def __enter__(self) -> "LocalDandiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:5000/api`` (give it as ``api_url=``)."""
        return f"{self.api.url}/api"

    @property
    def auth_headers(self) -> list[str | None]:
        """The ``Authorization`` header of every API request, in order (None when absent)."""
        with self._lock:
            return list(self._auth_seen)

    def s3_url(self, path: str, signed: bool = False) -> str:
        """URL of an asset's bytes on the S3 side (optionally with a presigned-looking query)."""
        query = None
        if signed:
            query = ("response-content-disposition=attachment&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                     f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={self._signature(path)}")
        return self.s3.url_for(self._blob_key(path), query=query)

    def expire_signatures(self) -> None:
        """Make every presigned URL handed out so far answer 403 (like an expired S3 signature)."""
        with self._lock:
            self._generation += 1

    def remove_blob(self, path: str) -> None:
        """Make the bytes of asset ``path`` answer 404 on the S3 side (the API still lists it)."""
        if path not in self.files:
            raise InvalidInputError(f"path must be one of the served asset paths {sorted(self.files)}, got {path!r}")
        with self._lock:
            self._removed.add(path)

    def _signature(self, path: str) -> str:
        with self._lock:
            generation = self._generation
        return hashlib.sha256(f"{path}:{self.api_key}:{generation}".encode()).hexdigest()

    def _blob_key(self, path: str) -> str:
        blob = str(self.blobs[path])
        return f"blobs/{blob[:3]}/{blob[3:6]}/{blob}"

    # -- S3 side ---------------------------------------------------------------------------------
    def _s3_app(self, method: str, path: str, query: dict[str, list[str]], headers: Any) -> Response | None:
        signature = query.get("X-Amz-Signature", [None])[0]
        apath = self._blob_paths.get(path)
        with self._lock:
            removed = apath in self._removed
        if removed:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
        if apath is not None and signature is not None and signature != self._signature(apath):
            return Response(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            content_type="application/xml")
        if self.api_key is not None and signature is None:
            return Response(403, b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
        return None

    # -- API side --------------------------------------------------------------------------------
    def _api_app(self, method: str, path: str, query: dict[str, list[str]], headers: Any) -> Response | None:
        auth = headers.get("Authorization")
        with self._lock:
            self._auth_seen.append(auth)
        if self.api_key is not None and auth != f"token {self.api_key}":
            return _json({"detail": "Authentication credentials were not provided."}, 401)
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["api"]:
            return _NOT_FOUND
        parts = parts[1:]
        if parts[:1] == ["assets"] and len(parts) >= 2:
            return self._asset_route(parts[1], parts[2:])
        if parts[:1] != ["dandisets"] or len(parts) < 2 or parts[1] != self.dandiset_id:
            return _NOT_FOUND
        rest = parts[2:]
        if not rest:
            return _json(self._dandiset_json())
        if rest == ["versions"]:
            return self._page([self._version_json(v) for v in self._ordered_versions()], path, query)
        if rest[0] != "versions" or len(rest) < 2 or rest[1] not in self.assets:
            return _NOT_FOUND
        version, tail = rest[1], rest[2:]
        if not tail:
            return _json(self._version_metadata(version))
        if tail == ["info"]:
            return _json({**self._version_json(version), "asset_validation_errors": [],
                          "version_validation_errors": [], "metadata": self._version_metadata(version)})
        if tail == ["assets"]:
            rows = self._asset_rows(version, query)
            if rows is None:
                return _json({"order": ["Select a valid choice."]}, 400)
            return self._page(rows, path, query)
        if tail[0] == "assets" and len(tail) in (2, 3) and self._by_id.get(tail[1], ("",))[0] == version:
            if len(tail) == 2 or tail[2] == "info":
                return _json(self._asset_metadata(tail[1]))
        return _NOT_FOUND

    def _asset_rows(self, version: str, query: dict[str, list[str]]) -> list[dict[str, Any]] | None:
        """Rows of the assets listing after dandi-archive's filters (None: an invalid ``order``)."""
        prefix = query.get("path", [""])[0].lower()
        paths = [p for p in self.assets[version] if p.lower().startswith(prefix)]  # istartswith
        if "glob" in query:  # '^' + re.escape(glob) + '$', '\\*' -> '.*', case-insensitive
            regex = re.compile("^" + re.escape(query["glob"][0]).replace("\\*", ".*") + "$", re.IGNORECASE)
            paths = [p for p in paths if regex.search(p)]
        order = query.get("order", ["created"])[0]
        if order.lstrip("-") not in ("created", "modified", "path"):
            return None
        if order.lstrip("-") == "path":
            paths.sort()
        if order.startswith("-"):
            paths.reverse()
        return [self._asset_row(version, p) for p in paths]

    def _asset_route(self, asset_id: str, tail: list[str]) -> Response:
        if asset_id not in self._by_id:
            return _NOT_FOUND
        if not tail:
            return _json(self._asset_metadata(asset_id))
        if tail == ["download"]:
            _, apath = self._by_id[asset_id]
            location = self.s3_url(apath, signed=True)
            return Response(302, b"", {"Location": location}, "text/plain")
        if tail == ["info"]:
            version, apath = self._by_id[asset_id]
            return _json({**self._asset_row(version, apath), "metadata": self._asset_metadata(asset_id)})
        return _NOT_FOUND

    def _page(self, rows: list[dict[str, Any]], path: str, query: dict[str, list[str]]) -> Response:
        try:
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", [str(self.page_size)])[0])
        except ValueError:
            return _json({"detail": "Invalid page."}, 400)
        size = max(1, min(size, 1000))
        start = (page - 1) * size
        if page < 1 or (start >= len(rows) and page != 1):
            return _json({"detail": "Invalid page."}, 404)

        def link(n: int) -> str:
            params = {k: v[0] for k, v in query.items()}
            params.update(page=str(n), page_size=str(size))
            return f"{self.api.url}{path}?" + "&".join(f"{k}={_quote(v)}" for k, v in params.items())

        return _json({
            "count": len(rows),
            "next": link(page + 1) if start + size < len(rows) else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": rows[start:start + size],
        })

    # -- JSON bodies -----------------------------------------------------------------------------
    def _ordered_versions(self) -> list[str]:
        return [v for v in self.versions if v != "draft"] + (["draft"] if "draft" in self.versions else [])

    def _version_json(self, version: str) -> dict[str, Any]:
        files = self.assets[version]
        return {
            "version": version, "name": f"local dandiset {self.dandiset_id}", "asset_count": len(files),
            "size": sum(self.files[p].stat().st_size for p in files), "status": "Published" if version != "draft" else "Valid",
            "created": _CREATED, "modified": _CREATED,
        }

    def _dandiset_json(self) -> dict[str, Any]:
        published = [v for v in self.versions if v != "draft"]
        draft = "draft" if "draft" in self.versions else self.versions[-1]
        return {
            "identifier": self.dandiset_id, "created": _CREATED, "modified": _CREATED,
            "contact_person": "Doe, Jane", "embargo_status": "EMBARGOED" if self.api_key else "OPEN",
            "draft_version": self._version_json(draft),
            "most_recent_published_version": self._version_json(published[-1]) if published else None,
        }

    def _version_metadata(self, version: str) -> dict[str, Any]:
        return {"id": f"DANDI:{self.dandiset_id}/{version}", "identifier": f"DANDI:{self.dandiset_id}",
                "version": version, "name": f"local dandiset {self.dandiset_id}",
                "schemaKey": "Dandiset", "url": f"{self.api.url}/dandiset/{self.dandiset_id}/{version}"}

    def _asset_row(self, version: str, apath: str) -> dict[str, Any]:
        return {"asset_id": self.assets[version][apath], "blob": str(self.blobs[apath]), "zarr": None,
                "path": apath, "size": self.files[apath].stat().st_size, "created": _CREATED, "modified": _CREATED}

    def _asset_metadata(self, asset_id: str) -> dict[str, Any]:
        _, apath = self._by_id[asset_id]
        return {
            "id": f"dandiasset:{asset_id}", "identifier": asset_id, "path": apath, "schemaKey": "Asset",
            "contentSize": self.files[apath].stat().st_size, "encodingFormat": "application/x-nwb",
            "contentUrl": [f"{self.api_url}/assets/{asset_id}/download/", self.s3_url(apath)],
        }


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")
