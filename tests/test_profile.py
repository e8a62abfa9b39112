"""The SLURM profile covers every rule: each non-local rule that asks for a GPU has a GPU partition
entry, memory asks grow with what a rule holds, the site placeholders are written once and the
docs count them right, and the paper preset plans with the profile (a dry run, no network).

Unlike tests/test_slurm.py these need no SLURM: they read the profile and plan with it."""

from __future__ import annotations

import re

import pytest
import yaml

from ragdistill.core import memory
from tests.conftest import REPO, snakemake

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
RULES = REPO / "workflow" / "rules"
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def workflow_rules() -> dict[str, dict]:
    """Every rule of workflow/rules/*.smk with whether it asks for a GPU and whether it is local;
    ``use rule A as B`` inherits what it does not set."""
    rules: dict[str, dict] = {}
    for smk in sorted(RULES.glob("*.smk")):
        name, parent, body = None, None, []
        for line in [*smk.read_text().splitlines(), "END"]:
            start = re.match(r"^(?:rule (\w+)|use rule (\w+) as (\w+)(?: with)?):", line)
            if line and not line[0].isspace() and not line.startswith("#"):
                if name:
                    text = "\n".join(body)
                    base = dict(rules[parent]) if parent else {"gpu": False, "local": False}
                    if "resources:" in text or not parent:
                        base["gpu"] = bool(re.search(r"^\s+gpu=", text, re.M))
                    if "localrule:" in text or not parent:
                        base["local"] = bool(re.search(r"^\s+localrule: True", text, re.M))
                    rules[name] = base
                name, parent, body = None, None, []
                if start:
                    name = start[1] or start[3]
                    parent = start[2]
            elif name:
                body.append(line)
    return rules


def test_the_rule_reader_sees_the_workflow():
    rules = workflow_rules()
    assert rules["distill_subset"] == {"gpu": True, "local": False}  # from distill_retriever
    assert rules["build_index"] == {"gpu": False, "local": False}
    assert rules["fetch_model"]["local"] and not rules["fetch_model"]["gpu"]
    assert len(rules) > 30


def test_every_gpu_rule_has_a_gpu_partition_entry():
    """A non-local GPU rule without an entry would go to the CPU partition with --gpus=1."""
    profile = yaml.safe_load(PROFILE.read_text())
    cpu = profile["default-resources"]["slurm_partition"]
    entries = profile["set-resources"]
    gpu_rules = sorted(n for n, r in workflow_rules().items() if r["gpu"] and not r["local"])
    assert "distill_subset" in gpu_rules and "encode_corpus" in gpu_rules
    missing = [r for r in gpu_rules if r not in entries]
    assert not missing, f"GPU rules without a set-resources entry: {missing}"
    partitions = {entries[r].get("slurm_partition") for r in gpu_rules}
    assert len(partitions) == 1 and cpu not in partitions, partitions
    assert set(entries) == set(gpu_rules), "an entry for a rule that asks for no GPU, or none such"


def test_placeholders_are_written_once_and_the_docs_count_them():
    lines = [line.split("#")[0] for line in PROFILE.read_text().splitlines()]
    found = re.findall(r'"(<[\w-]+>)"', "\n".join(lines))
    assert sorted(found) == ["<account>", "<cpu-partition>", "<gpu-partition>"], found
    assert "&gpu_partition" in PROFILE.read_text()
    for doc in (REPO / "docs" / "running.md", PROFILE):
        said = re.findall(r"[Ee]dit the (\w+) (?:placeholders|<\.\.\.> values)", doc.read_text())
        assert said and all(NUMBERS[w] == len(found) for w in said), (doc.name, said)


def test_the_profile_points_to_sections_that_exist():
    text = PROFILE.read_text()
    pointers = re.findall(r'([\w/]+\.md|README),? "([^"]+)"', text)
    assert pointers, "the profile points to the page that says how to edit it"
    for page, section in pointers:
        path = REPO / (page if page.endswith(".md") else "README.md")
        headings = [h.lstrip("#").strip() for h in path.read_text().splitlines() if h.startswith("#")]
        assert section in headings, f"{page} has no section {section!r}"


def test_memory_asks_scale_with_what_the_rule_holds(tmp_path):
    """build_index and retrieval ask for memory from their inputs' sizes; the profile does not
    replace that with a fixed number."""
    small, big = tmp_path / "a.bin", tmp_path / "b.bin"
    small.write_bytes(b"\0" * 1_000_000)
    big.write_bytes(b"\0" * 50_000_000)
    assert memory.held_mb([small], base_mb=100) == 101
    assert memory.held_mb([small, big], times=6, base_mb=100) == 100 + 6 * 51
    # the paper preset's flat index: 21M x 768 float32, held once, plus the base
    assert 4 * 768 * 21_000_000 / 1e6 > 64_000
    text = {p.stem: p.read_text() for p in RULES.glob("*.smk")}
    for rule, smk, call in (
        ("build_index", "encode", "memory.held_mb(input.shards, times=6"),
        ("retrieve_initial", "retrieve", "memory.held_mb([input.index, input.ids]"),
        ("retrieve_distilled", "retrieve", "memory.held_mb([input.index, input.ids]"),
    ):
        block = text[smk].split(f"rule {rule}:")[1].split("\nrule ")[0]
        assert call in block, f"{rule} asks for fixed memory"
    entries = yaml.safe_load(PROFILE.read_text())["set-resources"]
    assert not [
        r for r in ("build_index", "retrieve_initial", "retrieve_distilled") if "mem_mb" in entries.get(r, {})
    ]


def _jobs(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", out):
        rule = re.match(r"rule (\w+):", block)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and res:
            pairs = (kv.split("=", 1) for kv in res[1].split(", ") if "=" in kv)
            jobs.append((rule[1], dict(pairs)))
    return jobs


def test_paper_preset_plans_with_the_slurm_profile(tmp_path, monkeypatch):
    """The paper preset (with its learning curve on, so that every GPU rule is planned) through
    the shipped profile: each GPU job goes to the GPU partition, every other to the CPU one, and
    the index holders' memory waits for their inputs. Offline: a dry run fetches nothing."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[slurm]'")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    curve = tmp_path / "curve.yaml"
    curve.write_text("curve: {sizes: [1000]}\n")
    res = snakemake(
        tmp_path / "work",
        "all",
        "-n",
        "--workflow-profile",
        str(PROFILE.parent),
        "--configfile",
        str(REPO / "config.yaml"),
        str(REPO / "config" / "paper.yaml"),
        str(curve),
        timeout=600,
    )
    out = res.stdout + res.stderr
    assert "config key" not in out, "the paper preset's caps leave every hub split whole"
    jobs = _jobs(res.stdout)
    rules = {r for r, _ in jobs}
    gpu_rules = {n for n, r in workflow_rules().items() if r["gpu"] and not r["local"]}
    assert gpu_rules <= rules, f"not planned: {gpu_rules - rules}"
    for rule, res_ in jobs:
        asks_gpu = res_.get("gpu", "0") not in ("0", "<TBD>")
        assert asks_gpu == (rule in gpu_rules), (rule, res_)
        want = "<gpu-partition>" if asks_gpu else "<cpu-partition>"
        assert res_.get("slurm_partition") == want, (rule, res_)
        if rule in ("build_index", "retrieve_initial", "retrieve_distilled"):
            assert res_["mem_mb"] == "<TBD>", (rule, res_)
    assert not list((tmp_path / "work").glob("resources/**/*.*")), "a dry run downloaded something"
