"""Every Examples section in napstream's docstrings runs and prints what it says.

The examples are the first code a user copies; they are checked here the way ``python -m doctest``
would, one test per module, so a stale example fails CI instead of misleading a reader.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import napstream

MODULES = sorted(m.name for m in pkgutil.walk_packages(napstream.__path__, "napstream."))


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (run it with `python -m pytest --doctest-modules` on the module to see them)"
