"""A DANDI dandiset as a whole: its version, its assets (glob-matched, paged), each one opened lazily.

``Dandiset("000582")`` reads the dandiset at the version dandi-cli would: the most recent published
version, else the draft. ``.assets("sub-*/*.nwb")`` lists what matches (the server does the
matching, with DANDI's glob: ``*`` matches any characters including ``/``, case-insensitively) and
``.open(path)`` returns a lazy :class:`~napstream.nwb.NWBFile`. The listed assets are small,
picklable descriptions (:class:`~napstream.io.dandi.DandiAsset`): hand them to
:func:`napstream.map_sessions` to run one function over every session.

Examples
--------
>>> import pathlib, tempfile
>>> from napstream.testing.dandi_server import LocalDandiServer
>>> from napstream.testing.sessions import write_session
>>> f = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
>>> with LocalDandiServer({"sub-1/sub-1_ses-1.nwb": f, "sub-2/sub-2_ses-1.nwb": f}) as server:
...     ds = Dandiset("000582", api_url=server.api_url)
...     print(ds.version, [a.path for a in ds.assets("sub-2/*.nwb")])
...     with ds.open("sub-1/sub-1_ses-1.nwb") as nwb:
...         print(len(nwb["units"]))
0.230101.0101 ['sub-2/sub-2_ses-1.nwb']
2
"""

from __future__ import annotations

import posixpath
from typing import Any

from .config import config
from .errors import InvalidTypeError
from .io.dandi import (
    AssetURLResolver,
    DandiAsset,
    find_dandi_asset,
    list_dandi_assets,
    list_dandi_versions,
    resolve_dandi_version,
)
from .nwb import NWBFile

__all__ = ["Dandiset", "open_asset"]


def open_asset(asset: DandiAsset, api_key: str | None = None, **io_options: Any) -> NWBFile:
    """Open a listed DANDI asset as a lazy NWBFile (one ``HEAD`` to find its bytes, then the file).

    Parameters
    ----------
    asset : DandiAsset
        From :meth:`Dandiset.assets`.
    api_key : str, optional
        For embargoed dandisets (default: the ``DANDI_API_KEY`` environment variable).
    **io_options
        Passed to :class:`~napstream.nwb.NWBFile` (``cache_dir``, ``block_size``...).

    Returns
    -------
    NWBFile
        Named after the asset's file (``nwb.name``), read from the asset's content URL.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from napstream.testing.dandi_server import LocalDandiServer
    >>> from napstream.testing.sessions import write_session
    >>> f = write_session(pathlib.Path(tempfile.mkdtemp()) / "s.nwb", duration=20.0, n_units=2, n_channels=2)
    >>> with LocalDandiServer({"sub-1/sub-1_ses-1.nwb": f}) as server:
    ...     asset = Dandiset("000582", api_url=server.api_url).assets()[0]
    ...     with open_asset(asset) as nwb:
    ...         print(nwb.name)
    sub-1_ses-1
    """
    if not isinstance(asset, DandiAsset):
        raise InvalidTypeError(f"asset must be a DandiAsset (from Dandiset.assets()), got {type(asset).__name__}")
    # the URL of an embargoed asset is presigned and expires (DANDI: within hours): the source asks
    # the resolver for a fresh one after a 403, so a long analysis or map_sessions run reads on
    resolver = AssetURLResolver(asset, api_key=api_key, timeout=io_options.get("timeout"),
                                retries=io_options.get("retries"))
    nwb = NWBFile(resolver(), resolver=resolver, **io_options)
    nwb.name = posixpath.splitext(posixpath.basename(asset.path))[0]
    return nwb


class Dandiset:
    """A dandiset at one version: list its assets, open them (dandi-cli's version rule).

    Parameters
    ----------
    dandiset_id : str
        Six-digit identifier, e.g. ``"000582"``.
    version : str or None
        None (default) or ``"latest"``: the most recent published version, else the draft (as
        dandi-cli's ``get_dandiset`` and ``dandi://<id>/<path>`` URLs); ``"draft"``; or a published
        version id such as ``"0.230101.0101"`` (checked to exist).
    api_url : str, optional
        The DANDI API (default ``napstream.config.dandi_api_url``).
    api_key : str, optional
        For embargoed dandisets (default: the ``DANDI_API_KEY`` environment variable).

    Attributes
    ----------
    dandiset_id, version, api_url : str
        ``version`` is the resolved one (never None).

    Raises
    ------
    DandiError
        Unknown dandiset or version (the message lists the existing versions).

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, dandiset_id: str, version: str | None = None, *, api_url: str | None = None,
                 api_key: str | None = None) -> None:
        self._api_key = api_key
        self.version: str = resolve_dandi_version(dandiset_id, version, api_url=api_url, api_key=api_key)
        self.dandiset_id: str = dandiset_id
        self.api_url: str = (config.dandi_api_url if api_url is None else api_url).rstrip("/")

    def __repr__(self) -> str:
        return f"Dandiset({self.dandiset_id!r}, version={self.version!r}, api_url={self.api_url!r})"

    def assets(self, pattern: str | None = None, order: str = "path") -> list[DandiAsset]:
        """The assets whose path matches ``pattern`` (all of them when None), through every page.

        Parameters
        ----------
        pattern : str, optional
            DANDI's glob, matched by the server on the whole path: ``*`` matches any characters
            including ``/`` (so ``"*.nwb"`` finds every NWB file at any depth and ``"sub-*/*.nwb"``
            every file under a ``sub-`` folder); ``?`` and ``[`` are literal; case is ignored.
        order : str
            ``"path"`` (default), ``"created"`` or ``"modified"``; a leading ``-`` reverses it.

        Returns
        -------
        list of DandiAsset
            Each with ``path``, ``size`` (bytes), ``asset_id``, ``url`` (the API download URL)
            and ``dandi_url`` (``dandi://<id>@<version>/<path>``).

        Examples
        --------
        See the module docstring.
        """
        return list_dandi_assets(self.dandiset_id, self.version, pattern, api_url=self.api_url,
                                 api_key=self._api_key, order=order)

    def versions(self) -> list[str]:
        """Every version of the dandiset (published ids and ``"draft"``), through every page.

        Examples
        --------
        >>> Dandiset("000582").versions()  # doctest: +SKIP
        ['0.230101.0101', 'draft']
        """
        return list_dandi_versions(self.dandiset_id, api_url=self.api_url, api_key=self._api_key)

    def asset(self, path: str) -> DandiAsset:
        """The asset at exactly ``path`` (the error lists the closest paths when there is none).

        Examples
        --------
        >>> Dandiset("000582").asset("sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb")  # doctest: +SKIP
        """
        return find_dandi_asset(self.dandiset_id, path, self.version, api_url=self.api_url, api_key=self._api_key)

    def open(self, path: str | DandiAsset, **io_options: Any) -> NWBFile:
        """Open an asset (a path in the dandiset, or a listed asset) as a lazy NWBFile.

        Parameters
        ----------
        path : str or DandiAsset
            ``"sub-1/sub-1_ses-1.nwb"`` or an item of :meth:`assets`.
        **io_options
            Passed to :class:`~napstream.nwb.NWBFile` (``cache_dir``, ``block_size``...).

        Examples
        --------
        See the module docstring.
        """
        asset = path if isinstance(path, DandiAsset) else self.asset(path)
        return open_asset(asset, api_key=self._api_key, **io_options)
