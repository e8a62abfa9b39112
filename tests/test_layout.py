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


def _schema_defaults(section: str) -> dict:
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"][section]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def test_settings_defaults_agree_with_the_schema():
    """Where a settings class gives a field a default, it is the schema's (the schema is the one
    source; a disagreeing default would silently differ when a rule omits the key)."""
    import dataclasses

    from ragdistill import attention, distill, encode, indicators, learning_curve, prompts, reader

    pairs = [
        (prompts.PromptSettings, "prompt"),
        (attention.DumpSettings, "attention"),
        (reader.FinetuneSettings, "reader_finetune"),
        (distill.DistillSettings, "distill"),
        (indicators.IndicatorSettings, "indicators"),
        (learning_curve.CurveSettings, "curve"),
        (encode.IndexSettings, "index"),
    ]
    wrong = []
    for cls, section in pairs:
        defaults = _schema_defaults(section)
        for f in dataclasses.fields(cls):
            if f.name in defaults and f.default is not dataclasses.MISSING and f.default != defaults[f.name]:
                schema = f"schema {section}.{f.name}: {defaults[f.name]!r}"
                wrong.append(f"{cls.__name__}.{f.name} = {f.default!r}, {schema}")
    assert not wrong, "\n".join(wrong)
