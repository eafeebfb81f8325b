"""The installed package holds every subpackage of the source tree."""

from __future__ import annotations

import pytest
from setuptools import find_packages

from .conftest import ROOT


def test_pyproject_installs_every_subpackage():
    # packages = ["evidence_ft"] alone once left evidence_ft/data/ out of the wheel
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = config["tool"]["setuptools"]
    found = setuptools_cfg.get("packages", {})
    listed = set(find_packages(str(ROOT), **found["find"])) if "find" in found else set(found)
    on_disk = {
        ".".join(p.relative_to(ROOT).parent.parts)
        for p in (ROOT / "evidence_ft").rglob("__init__.py")
    }
    assert on_disk <= listed, sorted(on_disk - listed)
