"""Typed settings from a rule's params: conversions, and errors that name the config key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ragdistill.core.settings import config_key, from_params, params_of, schema_default
from ragdistill.core.stage_settings import Bootstrap


@dataclass(frozen=True)
class Example:
    steps: int
    lr: float
    name: str
    flag: bool
    cap: int | None
    nested: Bootstrap
    extra: list | None = None


GOOD = {
    "steps": "30",  # wildcards arrive as strings
    "lr": 1e-3,
    "name": "x",
    "flag": False,
    "cap": None,
    "nested": {"resamples": 2000, "level": 0.9, "seed": 3},
    "resume_dir": "a path the workflow gives the job, not a setting",
}


def test_values_are_converted():
    s = from_params(Example, GOOD, "sec.")
    assert s == Example(30, 1e-3, "x", False, None, Bootstrap(2000, 0.9, 3))


def test_a_key_no_field_takes_is_an_error_naming_it():
    """A setting given to a rule but forgotten in its dataclass would be silently unused."""
    with pytest.raises(ValueError, match=r"config key sec.stpes: not a setting of Example"):
        from_params(Example, {**GOOD, "stpes": 30}, "sec.")
    with pytest.raises(ValueError, match=r"config key sec.nested.typo: not a setting of Bootstrap"):
        from_params(Example, {**GOOD, "nested": {**GOOD["nested"], "typo": 1}}, "sec.")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": "many"}, r"config key sec.steps: 'many' is not of type int"),
        ({"steps": 2.5}, r"config key sec.steps: 2.5 is not a whole number"),
        ({"flag": "yes"}, r"config key sec.flag: 'yes' is not true or false"),
        ({"lr": None}, r"config key sec.lr: null is not allowed here"),
        ({"nested": {"resamples": "lots"}}, r"config key sec.nested.resamples: 'lots' is not of type int"),
        ({"extra": "a, b"}, r"config key sec.extra: 'a, b' is not a list"),
    ],
)
def test_bad_values_name_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        from_params(Example, {**GOOD, **change}, "sec.")


def test_a_missing_required_key_is_named():
    params = dict(GOOD)
    del params["lr"]
    with pytest.raises(ValueError, match=r"config key sec.lr: missing"):
        from_params(Example, params, "sec.")


def test_errors_name_the_key_a_user_sets_not_the_stage_section(tmp_path):
    """A distillation's retriever settings are ``retriever.*`` and its ``k`` the top-level ``k``;
    a wildcard the workflow fills names no config key."""
    from ragdistill.core.stage_settings import DistillSettings
    from tests.conftest import distill_case

    good = {n: v for n, v in distill_case(tmp_path, "r")[2].items() if n != "resume_dir"}
    bad = {**good, "retriever": {**good["retriever"], "normalize": "yes"}}
    with pytest.raises(ValueError, match=r"^config key retriever\.normalize: 'yes' is not true or false"):
        from_params(DistillSettings, bad)
    with pytest.raises(ValueError, match=r"^config key k: 'five' is not of type int"):
        from_params(DistillSettings, {**good, "k": "five"})
    with pytest.raises(ValueError, match=r"^the rule's param 'seed' \(set by the workflow\): 'x' is not"):
        from_params(DistillSettings, {**good, "seed": "x"})


@dataclass(frozen=True)
class Job:
    """A hand-made stage's settings: a section key, a top-level key, a nested section, a value the
    workflow gives, one the workflow may leave at its default, and one with a schema default."""

    SECTION = "sec."

    lr: float
    k: int = config_key("k")
    boot: Bootstrap = config_key("report")
    seed: int = config_key(None)
    blind: bool = config_key(None, default=False)
    rows: str = config_key("attention.answer_rows", from_schema=True)


CONFIG = {
    "sec": {"lr": 0.5, "unused": 1},
    "k": 4,
    "report": {"resamples": 9},
    "attention": {"answer_rows": "x"},
}


def test_params_come_from_the_class_and_the_config():
    assert params_of(Job, CONFIG, seed="{seed}") == {
        "lr": 0.5,
        "k": 4,
        "boot": {"resamples": 9},
        "seed": "{seed}",
        "rows": "x",
    }
    # what the workflow gives wins; an unread field is left out (its default stands)
    assert params_of(Job, CONFIG, unread=("rows",), seed=1, blind=True, lr=0.1) == {
        "lr": 0.1,
        "k": 4,
        "boot": {"resamples": 9},
        "seed": 1,
        "blind": True,
    }


def test_params_of_names_what_is_missing_or_unknown():
    with pytest.raises(ValueError, match="the workflow must give 'seed'"):
        params_of(Job, CONFIG)
    with pytest.raises(ValueError, match="'seeds' is not one of its fields"):
        params_of(Job, CONFIG, seed=0, seeds=[0])
    with pytest.raises(ValueError, match=r"config key k: missing \(read by Job\)"):
        params_of(Job, {n: v for n, v in CONFIG.items() if n != "k"}, seed=0)


def test_a_schema_default_is_read_from_the_schema():
    import yaml

    from tests.conftest import REPO

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert (
        schema_default("evaluate.max_questions")
        == schema["properties"]["evaluate"]["properties"]["max_questions"]["default"]
    )
    with pytest.raises(KeyError, match="config key evaluate.nothing: not in the schema"):
        schema_default("evaluate.nothing")


def test_every_rule_takes_its_settings_from_a_settings_class():
    """No rule restates a setting: each rule's params are its class's (params_of), plus the code
    hash, the entry and a job's checkpoint folder."""
    import re

    from tests.conftest import REPO

    allowed = {"code", "entry", "resume_dir"}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        text = path.read_text()
        pattern = r"^(?:rule|use rule) (\w+).*?\n    params:\n(.*?)(?=\n    \w|\n\n\n|\Z)"
        for rule, block in re.findall(pattern, text, re.S | re.M):
            assert "**params_of(" in block, f"{path.name}: rule {rule} builds its params by hand"
            own = set(re.findall(r"^        (\w+)=", block, re.M))
            assert own <= allowed, f"{path.name}: rule {rule} passes {sorted(own - allowed)} by hand"
