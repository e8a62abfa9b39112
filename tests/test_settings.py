"""Typed settings from a rule's params: conversions, and errors that name the config key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ragdistill.analysis.stats import Bootstrap
from ragdistill.core.settings import from_params


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
    from ragdistill.stages.distill import DistillSettings
    from tests.conftest import distill_case

    good = {n: v for n, v in distill_case(tmp_path, "r")[2].items() if n != "resume_dir"}
    bad = {**good, "retriever": {**good["retriever"], "normalize": "yes"}}
    with pytest.raises(ValueError, match=r"^config key retriever\.normalize: 'yes' is not true or false"):
        from_params(DistillSettings, bad)
    with pytest.raises(ValueError, match=r"^config key k: 'five' is not of type int"):
        from_params(DistillSettings, {**good, "k": "five"})
    with pytest.raises(ValueError, match=r"^the rule's param 'seed' \(set by the workflow\): 'x' is not"):
        from_params(DistillSettings, {**good, "seed": "x"})
