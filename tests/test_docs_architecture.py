"""docs/architecture.md is the map: it names every module, and the files its request walk-through names exist."""

from __future__ import annotations

import re

from tests.test_layering import PACKAGES, REPO

DOC = REPO / "docs" / "architecture.md"


def test_every_module_is_on_the_map():
    text = DOC.read_text("utf-8")
    named = set(re.findall(r"`([\w/]+\.py)`", text))
    modules = {p.relative_to(REPO).as_posix() for package in PACKAGES for p in (REPO / package).rglob("*.py")
               if p.name != "__init__.py"}
    missing = sorted(modules - named)
    assert not missing, f"docs/architecture.md does not say what these modules do: {missing}"


def test_the_map_names_no_file_that_is_gone():
    named = {m for m in re.findall(r"`([\w/]+\.(?:py|json))`", DOC.read_text("utf-8")) if "/" in m}
    gone = sorted(m for m in named if not (REPO / m).is_file())
    assert not gone, f"docs/architecture.md names files that do not exist: {gone}"
