"""The ``napstream`` command: a thin shell over the public API.

Exit codes: 0 success, 1 data or I/O error (one line on stderr, no traceback unless ``--debug``),
2 usage error.

Examples
--------
::

    napstream demo                                   # the whole promise on an embedded session
    napstream ls session.nwb                         # what is inside (local path, URL or dandi://)
    napstream show session.nwb units                 # one object's summary
    napstream tuning session.nwb --bins 20 -o maps.png --npz maps.npz
    napstream psd session.nwb ElectricalSeriesLFP --epochs epochs -o psd.png --csv psd.csv
    napstream cache info
    napstream --version
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import NapstreamError
from . import commands

EPILOG = {
    "demo": """
        examples:
          napstream demo
          napstream demo --duration 300 --units 8 --latency 0.05 --out /tmp/demo
        """,
    "ls": """
        examples:
          napstream ls session.nwb
          napstream ls https://example.org/session.nwb
          napstream ls dandi://000582/sub-10073/sub-10073_ses-17010302_behavior+ecephys.nwb
        """,
    "show": """
        examples:
          napstream show session.nwb units
          napstream show session.nwb SpatialSeriesLED1
          napstream show session.nwb ElectricalSeriesLFP
        """,
    "tuning": """
        examples:
          napstream tuning session.nwb -o maps.png
          napstream tuning session.nwb --units units --feature SpatialSeriesLED1 --bins 20 -o maps.png --npz maps.npz
          napstream tuning session.nwb --epochs epochs --epoch-name run -o run_maps.png
        """,
    "psd": """
        examples:
          napstream psd session.nwb ElectricalSeriesLFP -o psd.png
          napstream psd session.nwb ElectricalSeriesLFP --epochs epochs --csv psd.csv --fmax 100
        """,
    "cache": """
        examples:
          napstream cache info
          napstream cache clear
        """,
}


def _global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """Flags accepted before and after the sub-command (``default``: SUPPRESS after it, so a flag given
    before the sub-command is not reset by the sub-parser)."""
    parser.add_argument("--debug", action="store_true", default=default, help="show full tracebacks on errors")
    parser.add_argument("--no-progress", action="store_true", default=default, help="never show progress bars")
    parser.add_argument("--max-memory", default=default, help="memory budget for chunked work, e.g. 512MB")


_AFTER = argparse.ArgumentParser(add_help=False)
_global_flags(_AFTER, argparse.SUPPRESS)


def _sub(subparsers: argparse._SubParsersAction, name: str, help_: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=textwrap.dedent(EPILOG[name]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_AFTER],
    )


def _io_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", help="block cache folder (default: NAPSTREAM_CACHE_DIR or the user cache)")
    p.add_argument("--no-cache", action="store_true", help="stream without the persistent block cache")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``napstream`` command."""
    parser = argparse.ArgumentParser(
        prog="napstream",
        description="Stream large NWB recordings (local, HTTP/S3, DANDI) and analyse them in bounded memory.",
        epilog=textwrap.dedent(__doc__.split("Examples\n--------\n::\n")[1]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"napstream {__version__}")
    _global_flags(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = _sub(sub, "demo", "Write a realistic session, stream it over a loopback server with cloud-like "
             "latency, compute 2-D tuning curves of every unit and report what was fetched.")
    p.add_argument("--duration", type=float, default=600.0, help="session length in seconds (default 600)")
    p.add_argument("--units", type=int, default=16, help="number of units (default 16)")
    p.add_argument("--channels", type=int, default=8, help="LFP channels (default 8)")
    p.add_argument("--latency", type=float, default=0.02, help="added latency per request, s (default 0.02)")
    p.add_argument("--bins", type=int, default=20, help="bins per axis of the rate maps (default 20)")
    p.add_argument("--out", default="napstream-demo", help="output folder (default ./napstream-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the generated session")

    p = _sub(sub, "ls", "List the objects of an NWB file: key, type, shape, location.")
    p.add_argument("source", help="path, http(s):// or s3:// URL, or dandi://<dandiset>[@version]/<path>")
    _io_options(p)

    p = _sub(sub, "show", "Summarise one object of an NWB file (reads only what the summary shows).")
    p.add_argument("source")
    p.add_argument("key", help="object key as listed by `napstream ls`")
    _io_options(p)

    p = _sub(sub, "tuning", "2-D tuning curves (rate maps) of units against a 2-D feature, to a figure.")
    p.add_argument("source")
    p.add_argument("--units", default="units", help="key of the units table (default: units)")
    p.add_argument("--feature", default="SpatialSeriesLED1", help="key of the 2-column feature (default: SpatialSeriesLED1)")
    p.add_argument("--bins", type=int, default=20, help="bins per axis (default 20)")
    p.add_argument("--epochs", help="key of an IntervalSet to restrict to (e.g. epochs)")
    p.add_argument("--epoch-name", help="keep only the epochs whose tags/label equal this")
    p.add_argument("-o", "--output", help="figure file (.png, .pdf, .svg)")
    p.add_argument("--npz", help="also write the maps and bin centres to this .npz file")
    _io_options(p)

    p = _sub(sub, "psd", "Mean power spectral density (Welch) of a continuous signal, streamed.")
    p.add_argument("source")
    p.add_argument("key", help="key of a Tsd/TsdFrame (e.g. ElectricalSeriesLFP)")
    p.add_argument("--epochs", help="key of an IntervalSet to restrict to")
    p.add_argument("--interval-size", type=float, default=4.0, help="Welch window in seconds (default 4)")
    p.add_argument("--fmax", type=float, help="highest frequency to plot/write")
    p.add_argument("-o", "--output", help="figure file")
    p.add_argument("--csv", help="write the spectrum to this CSV file")
    _io_options(p)

    p = _sub(sub, "cache", "Inspect or clear the persistent block cache.")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--cache-dir", help="cache folder (default: NAPSTREAM_CACHE_DIR or the user cache)")
    return parser


#: optional dependencies -> the extra that installs them
_EXTRAS = {"pynwb": "demo", "hdmf": "demo", "matplotlib": "plot", "dask": "dask", "distributed": "dask",
           "s3fs": "s3"}


def _error_line(err: BaseException) -> str:
    """The one line an error prints: its message, with an install hint for a missing optional module."""
    if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] in _EXTRAS:
        module = (err.name or "").split(".")[0]
        return f"{module} is not installed; install it with: pip install \"napstream[{_EXTRAS[module]}]\""
    msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return msg or type(err).__name__


def _quiet_warnings(command: str) -> None:
    """Warnings print as one line ``napstream CMD: warning: ...`` (no source path), each once."""
    seen: set[str] = set()

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = str(message).splitlines()[0] if str(message) else category.__name__
        if text not in seen:
            seen.add(text)
            print(f"napstream {command}: warning: {text}", file=sys.stderr)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napstream`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    from ..config import config

    with warnings.catch_warnings():
        if not args.debug:
            _quiet_warnings(args.command)
        try:
            if args.max_memory:
                config.memory_budget = args.max_memory
            if args.no_progress:
                config.progress = False
            code = int(getattr(commands, f"cmd_{args.command}")(args) or 0)
            sys.stdout.flush()
            return code
        except BrokenPipeError:  # `napstream ls f.nwb | head -3`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
            return 0
        except KeyboardInterrupt:
            print("napstream: interrupted", file=sys.stderr)
            return 130
        except commands.UsageError as err:
            print(f"napstream {args.command}: error: {err}", file=sys.stderr)
            return 2
        except (NapstreamError, OSError, KeyError, ValueError, TypeError, LookupError, ImportError) as err:
            if args.debug:
                raise
            print(f"napstream {args.command}: error: {_error_line(err)}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
