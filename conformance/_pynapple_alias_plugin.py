"""pytest plugin used by ``conformance/run_pynapple_suite.py`` (not a napstream module).

Loaded with ``-p _pynapple_alias_plugin`` in the child pytest process.  It does two things:

* when ``NAPSTREAM_CONFORMANCE_TARGET=napstream``, it makes the module name ``pynapple`` (and every
  ``pynapple.<sub>``) resolve to ``napstream`` (``napstream.<sub>``), with a fixed map for the few
  submodules whose file is named differently (:data:`MODULE_MAP`).  It only aliases module names: no
  attribute of napstream is added, patched or replaced, and no test is skipped.
* it records each test's outcome (and a one-line reason for failures) as JSON lines in
  ``$NAPSTREAM_CONFORMANCE_OUT``, plus, per test, whether its source uses a private pynapple name
  (the scope rule of the runner).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import re
import sys

# pynapple module path -> napstream module with the same role, where the file names differ.
MODULE_MAP = {
    "pynapple.nap_config": "napstream.config",
    "pynapple.config": "napstream.config",
    "pynapple.core.metadata_class": "napstream.core.metadata",
    "pynapple.core.base_class": "napstream.core.base_series",
    "pynapple.io.interface_nwb": "napstream.nwb.file",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # the import system returns whatever sys.modules holds for the name after exec_module,
        # so the alias name ends up bound to napstream's own module object, untouched
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "pynapple" and not fullname.startswith("pynapple."):
            return None
        real = MODULE_MAP.get(fullname, "napstream" + fullname[len("pynapple"):])
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return None  # the import then fails as it would for any missing module
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


if os.environ.get("NAPSTREAM_CONFORMANCE_TARGET") == "napstream":
    for _name in [m for m in sys.modules if m == "pynapple" or m.startswith("pynapple.")]:
        del sys.modules[_name]
    sys.meta_path.insert(0, _AliasFinder())


_OUT = None
# a private name reached through pynapple (nap.core._jitted_functions) or a private attribute or
# method of any object (tsd._get_slice, ep._metadata); dunders (__len__) are public protocol
_PRIVATE = re.compile(r"\b(?:nap|pynapple)(?:\.[A-Za-z]\w*)*\.(_[A-Za-z]\w*)|\b\w+\.(_[A-Za-z]\w*)")


def _private_names(module) -> set[str]:
    """Names a test module imported from pynapple that start with an underscore."""
    names = set()
    try:
        src = inspect.getsource(module)
    except (OSError, TypeError):
        return names
    for m in re.finditer(r"from\s+pynapple[\w.]*\s+import\s+\(?([^)\n]*)", src):
        for part in m.group(1).split(","):
            name = part.strip().split(" as ")[-1].strip()
            if name.startswith("_"):
                names.add(name)
    return names


def _uses_private(item) -> str:
    fn = getattr(item, "function", None)
    if fn is None:
        return ""
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return ""
    m = _PRIVATE.search(src)
    if m:
        return m.group(0)
    for name in _private_names(getattr(item, "module", None)):
        if re.search(r"\b%s\b" % re.escape(name), src):
            return name
    return ""


def _write(rec):
    global _OUT
    path = os.environ.get("NAPSTREAM_CONFORMANCE_OUT")
    if not path:
        return
    if _OUT is None:
        _OUT = open(path, "a", encoding="utf-8")
    _OUT.write(json.dumps(rec) + "\n")
    _OUT.flush()


def _reason(report) -> str:
    lr = report.longrepr
    crash = getattr(lr, "reprcrash", None)
    if crash is not None:
        msg = crash.message
    elif isinstance(lr, tuple) and len(lr) == 3:
        msg = str(lr[2])
    else:
        text = str(lr).strip().splitlines()
        errs = [ln for ln in text if ln.startswith("E ")]
        msg = (errs[-1][1:] if errs else (text[-1] if text else "")).strip()
    msg = " ".join(msg.split())
    return msg[:200]


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        _write({"kind": "item", "nodeid": item.nodeid, "private": _uses_private(item)})


def pytest_collectreport(report):
    if report.failed:
        _write({"kind": "collect_error", "nodeid": report.nodeid, "reason": _reason(report)})


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        rec = {"kind": "result", "nodeid": report.nodeid, "when": report.when, "outcome": outcome}
        if report.failed:
            rec["reason"] = _reason(report)
        _write(rec)
