"""Run pynapple's own test suite against napstream and report how much of it passes.

Usage (from the repository root; the tree measured is whichever ``napstream`` PYTHONPATH resolves to)::

    PYTHONPATH=$PWD/src python -m conformance.run_pynapple_suite            # the whole suite
    PYTHONPATH=$PWD/src python conformance/run_pynapple_suite.py test_time_series.py -k find_peaks

What it does
------------
1. ``pip download --no-binary :all: --no-deps pynapple==0.11.4`` into the cache directory
   (``$NAPSTREAM_CONFORMANCE_CACHE``, default ``~/.cache/napstream-conformance``) and unpacks it: the
   sdist holds ``tests/`` and their data files.
2. Runs the tests once against the installed pynapple (which must be the pinned version).  This baseline
   is cached per pynapple/numpy version and reused; ``--refresh-baseline`` runs it again.
3. Runs the same tests with the module name ``pynapple`` (and its submodules) resolving to ``napstream``
   (see ``_pynapple_alias_plugin.py``: module names are aliased, nothing else is changed or skipped).
4. Prints, per test file and in total, how many of the in-scope tests that pass with pynapple pass with
   napstream, then every remaining failure with a one-line reason.  For a full run (no selection) the
   per-test results also go to ``/work/conformance/latest-<branch>.txt`` (``--results-dir``), where
   ``<branch>`` is the git branch of the measured napstream tree.

Scope rule (which of pynapple's tests count)
--------------------------------------------
A test counts when it passes with pynapple and is not classed out by one of these written rules:

* its file tests one of pynapple's non-NWB loaders or npz *folders*: :data:`OUT_OF_SCOPE_FILES`
  (Neurosuite, Phy, Suite2p, neo, Inscopix/Minian CNMF-E, ``Folder``/``load_folder``);
* its file tests a private module or pynapple's private internals (``core._jitted_functions``, the
  routing between private restrict kernels, subclasses of the private ``_Base``/``_BaseTsd``, the
  source code of pynapple's private helpers): also in :data:`OUT_OF_SCOPE_FILES`;
* the test's own source (decorators included) uses a private pynapple name: an attribute path from
  ``nap``/``pynapple`` with a component starting with ``_`` (``nap.core._jitted_functions.x``), a
  private attribute or method of an object (``tsd._get_slice``, ``ep._metadata``; dunders such as
  ``__len__`` are not private), or a name starting with ``_`` imported from ``pynapple`` by the
  test module (``_Metadata``);
* its name says it tests npz folders (:data:`OUT_OF_SCOPE_NAMES`).

Everything else counts, including tests that check pynapple's error types, messages and warnings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

PINNED = "0.11.4"
HERE = Path(__file__).resolve().parent

OUT_OF_SCOPE_FILES = {
    "test_neurosuite.py": "non-NWB loader (Neurosuite)",
    "test_interface_neurosuite.py": "non-NWB loader (Neurosuite)",
    "test_phy.py": "non-NWB loader (Phy)",
    "test_suite2p.py": "non-NWB loader (Suite2p)",
    "test_interface_neo.py": "non-NWB loader (neo)",
    "test_cnmfe.py": "non-NWB loader (CNMF-E / Minian)",
    "test_folder.py": "npz folders (Folder)",
    "test_jitted.py": "private module (core._jitted_functions)",
    "test_restrict_routing.py": "private internals (base_class restrict routing, _core_functions)",
    "test_abstract_tsd.py": "private base classes (_Base, _BaseTsd)",
    "test_call_invocation.py": "source inspection of pynapple's private helpers",
}
OUT_OF_SCOPE_NAMES = re.compile(r"folder", re.IGNORECASE)


def _cache_dir(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("NAPSTREAM_CONFORMANCE_CACHE")
                or Path.home() / ".cache" / "napstream-conformance")
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch_sdist(cache: Path, version: str) -> Path:
    """Download and unpack the pynapple sdist once; return the unpacked tests directory."""
    src = cache / f"pynapple-{version}"
    if (src / "tests").is_dir():
        return src / "tests"
    dl = cache / "download"
    dl.mkdir(exist_ok=True)
    tarball = dl / f"pynapple-{version}.tar.gz"
    if not tarball.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        "--quiet", f"pynapple=={version}", "-d", str(dl)], check=True)
    tmp = Path(tempfile.mkdtemp(dir=cache))
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    os.replace(tmp / f"pynapple-{version}", src)
    shutil.rmtree(tmp, ignore_errors=True)
    return src / "tests"


def _workdir(cache: Path, tests: Path) -> Path:
    """A fresh directory holding a copy of the test modules (the tests write files next to them)."""
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    (work / "tests").mkdir()
    for entry in tests.iterdir():
        if entry.is_dir():
            (work / "tests" / entry.name).symlink_to(entry)  # read-only test data
        else:
            shutil.copy2(entry, work / "tests" / entry.name)
    return work


def _env(target: str, out: Path) -> dict:
    env = dict(os.environ)
    parts = [str(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["NAPSTREAM_CONFORMANCE_TARGET"] = target
    env["NAPSTREAM_CONFORMANCE_OUT"] = str(out)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pytest(target: str, work: Path, selection: list[str], kexpr: str | None, timeout: int,
            collect_only: bool = False, quiet: bool = True) -> list[dict]:
    out = work / f"results-{target}{'-co' if collect_only else ''}.jsonl"
    out.unlink(missing_ok=True)
    args = [sys.executable, "-m", "pytest", "-p", "_pynapple_alias_plugin", "-p", "no:cacheprovider",
            "-o", "addopts=", "--rootdir", str(work), "-q", "--no-header", "-rN",
            f"--timeout={timeout}", "--continue-on-collection-errors", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"]
    if collect_only:
        args.append("--collect-only")
    if kexpr:
        args += ["-k", kexpr]
    args += [s if s.startswith("tests") else f"tests/{s}" for s in selection] or ["tests"]
    t0 = time.time()
    proc = subprocess.run(args, cwd=work, env=_env(target, out),
                          stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE, text=True)
    if not out.exists():
        raise SystemExit(f"pytest ({target}) produced no results (exit {proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    if not collect_only:
        print(f"[{target}] pytest finished in {time.time() - t0:.0f} s (exit {proc.returncode})",
              file=sys.stderr)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def summarize(records: list[dict]) -> tuple[dict, dict, dict]:
    """Return ({nodeid: (outcome, reason)}, {nodeid: private-name}, {file: collection error})."""
    outcome, reason, private, collect = {}, {}, {}, {}
    for rec in records:
        nid = rec["nodeid"]
        if rec["kind"] == "item":
            private[nid] = rec["private"]
        elif rec["kind"] == "collect_error":
            collect[nid] = rec["reason"]
        elif rec["kind"] == "result":
            prev = outcome.get(nid)
            new = rec["outcome"]
            if prev in (None, "passed") or new == "failed":
                outcome[nid] = new
            if rec.get("reason") and nid not in reason:
                reason[nid] = ("setup: " if rec["when"] == "setup" else "") + rec["reason"]
    return {n: (o, reason.get(n, "")) for n, o in outcome.items()}, private, collect


def _file_of(nodeid: str) -> str:
    return nodeid.split("::")[0].split("/")[-1]


def scope_reason(nodeid: str, private: str) -> str:
    f = _file_of(nodeid)
    if f in OUT_OF_SCOPE_FILES:
        return OUT_OF_SCOPE_FILES[f]
    if private:
        return f"uses private name {private}"
    name = nodeid.split("::")[-1]
    if OUT_OF_SCOPE_NAMES.search(name):
        return "npz folders"
    return ""


def _versions() -> str:
    code = "import pynapple, numpy, sys; print(pynapple.__version__, numpy.__version__, sys.version.split()[0])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.strip()


def baseline(cache: Path, tests: Path, version: str, timeout: int, refresh: bool) -> list[dict]:
    vers = _versions()
    if not vers.startswith(version + " "):
        raise SystemExit(f"installed pynapple is {vers.split()[0] if vers else 'missing'}, "
                         f"the suite is pinned to {version}: pip install pynapple=={version}")
    rule = hashlib.sha1((HERE / "_pynapple_alias_plugin.py").read_bytes()).hexdigest()[:8]
    path = cache / f"baseline-{vers.replace(' ', '-')}-{rule}.jsonl"
    if path.exists() and not refresh:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(f"[pynapple] running the baseline once (cached in {path})", file=sys.stderr)
    work = _workdir(cache, tests)
    try:
        records = _pytest("pynapple", work, [], None, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _git_branch(napstream_file: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(Path(napstream_file).parent), "rev-parse",
                               "--abbrev-ref", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("selection", nargs="*", help="test files or node ids, relative to pynapple's tests/")
    p.add_argument("-k", dest="kexpr", help="pytest -k expression")
    p.add_argument("--version", default=PINNED, help=f"pynapple version (default {PINNED})")
    p.add_argument("--cache-dir", help="where the sdist and the baseline are kept")
    p.add_argument("--refresh-baseline", action="store_true", help="run the pynapple baseline again")
    p.add_argument("--timeout", type=int, default=300, help="per-test timeout in seconds")
    p.add_argument("--results-dir", default="/work/conformance",
                   help="full runs write latest-<branch>.txt here ('' to skip)")
    p.add_argument("--show-out-of-scope", action="store_true", help="also list tests classed out")
    args = p.parse_args(argv)

    cache = _cache_dir(args.cache_dir)
    tests = fetch_sdist(cache, args.version)
    base_records = baseline(cache, tests, args.version, args.timeout, args.refresh_baseline)
    base, private, _ = summarize(base_records)

    napfile = subprocess.run([sys.executable, "-c", "import napstream; print(napstream.__file__)"],
                             capture_output=True, text=True, env=_env("napstream", Path(os.devnull))
                             ).stdout.strip()
    print(f"measuring napstream at {napfile or '(not importable!)'}", file=sys.stderr)

    work = _workdir(cache, tests)
    try:
        if args.selection or args.kexpr:
            selected = {r["nodeid"] for r in _pytest("pynapple", work, args.selection, args.kexpr,
                                                      args.timeout, collect_only=True)
                        if r["kind"] == "item"}
        else:
            selected = set(base)
        nap_records = _pytest("napstream", work, args.selection, args.kexpr, args.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    nap, _, nap_collect = summarize(nap_records)

    per_file = defaultdict(Counter)
    failures, out_of_scope, lines = [], [], []
    for nid in sorted(selected):
        if base.get(nid, ("missing",))[0] != "passed":
            continue
        why_out = scope_reason(nid, private.get(nid, ""))
        f = _file_of(nid)
        if why_out:
            out_of_scope.append((nid, why_out))
            lines.append(f"OUT   {nid}  # {why_out}")
            continue
        per_file[f]["total"] += 1
        got, reason = nap.get(nid, ("not collected", ""))
        if got == "passed":
            per_file[f]["passed"] += 1
            lines.append(f"PASS  {nid}")
            continue
        if got == "not collected":
            errs = [r for k, r in nap_collect.items() if k and nid.startswith(k)]
            reason = "not collected: " + (errs[0] if errs else "no test of this id (parametrization differs)")
        reason = reason or got
        failures.append((nid, reason))
        lines.append(f"FAIL  {nid}  # {reason}")

    print("\nFailures (in scope, pass with pynapple):")
    for nid, reason in failures:
        print(f"  {nid}  -- {reason}")
    if args.show_out_of_scope:
        print("\nClassed out of scope:")
        for nid, why in out_of_scope:
            print(f"  {nid}  -- {why}")
    print(f"\npynapple {args.version} test suite against napstream ({napfile})")
    print(f"{'file':34s} {'pass':>6s} {'of':>6s} {'%':>6s}")
    tot = Counter()
    for f in sorted(per_file):
        c = per_file[f]
        tot.update(c)
        print(f"{f:34s} {c['passed']:6d} {c['total']:6d} {100 * c['passed'] / max(c['total'], 1):6.1f}")
    pct = 100 * tot["passed"] / max(tot["total"], 1)
    print(f"{'TOTAL':34s} {tot['passed']:6d} {tot['total']:6d} {pct:6.1f}")
    print(f"({len(out_of_scope)} tests passing with pynapple classed out of scope; "
          f"see the scope rule in {Path(__file__).name})")

    if not (args.selection or args.kexpr) and args.results_dir:
        branch = _git_branch(napfile) if napfile else "unknown"
        out = Path(args.results_dir)
        out.mkdir(parents=True, exist_ok=True)
        dest = out / f"latest-{branch.replace('/', '_')}.txt"
        header = (f"# pynapple {args.version} suite vs napstream at {napfile}\n"
                  f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: "
                  f"{tot['passed']}/{tot['total']} in-scope tests pass ({pct:.1f}%)\n")
        dest.write_text(header + "\n".join(lines) + "\n")
        print(f"per-test results written to {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
