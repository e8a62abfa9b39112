"""One source per setting: config.yaml's values are the schema's defaults, key for key."""

from __future__ import annotations

import yaml

from tests.conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def _leaves(config: dict, schema: dict, path: tuple[str, ...] = ()):
    """(dotted key, config value, schema node) for every config value the schema describes."""
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, value in config.items():
        node = props.get(key) or (extra if isinstance(extra, dict) else None)
        assert node is not None, f"config.yaml key {'.'.join((*path, key))} is not in the schema"
        if isinstance(value, dict) and (
            "properties" in node or isinstance(node.get("additionalProperties"), dict)
        ):
            yield from _leaves(value, node, (*path, key))
        else:
            yield ".".join((*path, key)), value, node


def test_every_config_value_is_the_schema_default():
    """Run from another folder, Snakemake reads no config.yaml and the schema's defaults fill in:
    both must give the same study."""
    wrong = [
        f"{key}: config.yaml {value!r}, schema default {node.get('default', '(none)')!r}"
        for key, value, node in _leaves(CONFIG, SCHEMA)
        if node.get("default", value) != value or "default" not in node
        if key.split(".")[0] not in ("runs", "datasets", "models", "seeds")
        or key.startswith("datasets.world.world.")
    ]
    assert not wrong, "\n".join(wrong)


def test_every_defaulted_section_key_is_in_config_yaml():
    """config.yaml shows every setting (datasets' per-source keys aside)."""
    missing = [
        f"{section}.{key}"
        for section, node in SCHEMA["properties"].items()
        if "properties" in node and "default" in node
        for key, sub in node["properties"].items()
        if "default" in sub and key not in CONFIG.get(section, {})
    ]
    assert not missing, missing


def test_objective_names_in_the_schema_are_the_librarys():
    """grid.extra's pattern (the schema cannot import Python) lists ragdistill.core.names' objectives."""
    from ragdistill.core import names

    pattern = SCHEMA["properties"]["grid"]["properties"]["extra"]["items"]["pattern"]
    assert pattern == f"^({'|'.join(names.OBJECTIVES)})-({names.OFF_THE_SHELF}|{names.FINE_TUNED})$"


def test_pairwise_limits_are_checked_when_the_run_is_planned():
    """k, distill.candidates, retrieve.top_k and curve.sizes against each other, each naming its key."""
    import copy

    import pytest

    from ragdistill.config_check import ConfigError, check_config

    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    check_config(CONFIG, schema)
    for change, key in (
        ({"distill": {"candidates": 7}}, "distill.candidates: 7 is not a multiple of k"),
        ({"distill": {"candidates": 25}}, "distill.candidates: 25, but retrieve.top_k keeps 20"),
        ({"k": 25}, "config key k: 25 documents, but retrieve.top_k keeps 20"),
        ({"attention": {"max_questions": 20}}, "curve.sizes: 25 is not below attention.max_questions"),
    ):
        bad = copy.deepcopy(CONFIG)
        for section, value in change.items():
            bad[section] = {**bad[section], **value} if isinstance(value, dict) else value
        with pytest.raises(ConfigError, match=key):
            check_config(bad, schema)
