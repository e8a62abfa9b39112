"""The house's own claims about itself: the package docstring names every stage, and the schema
cites only files that exist."""

from __future__ import annotations

import re

import ragdistill
from tests.conftest import REPO


def test_the_package_docstring_names_every_stage():
    stages = sorted(p.stem for p in (REPO / "workflow" / "rules").glob("*.smk") if p.stem != "common")
    named = set(re.findall(r"``(\w+)``", ragdistill.__doc__))
    assert not set(stages) - named, f"stages missing from ragdistill/__init__.py: {set(stages) - named}"
    for stage in stages:  # a stage is one rule file plus one module of the same name
        assert (REPO / "ragdistill" / f"{stage}.py").exists(), stage


def test_the_schema_cites_files_that_exist():
    text = (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
    for path in set(
        re.findall(r"\b((?:config|docs|bench|ragdistill|workflow)/[\w./-]+\.(?:yaml|md|py))", text)
    ):
        assert (REPO / path).exists(), f"the schema cites {path}, which does not exist"
