"""Scale presets state their sizes: each preset meant for a GPU or a cluster sets every cap itself
(null: all) rather than inheriting config.yaml's laptop caps, and planning warns, naming the key,
where a cap leaves less than a tenth of a hub split."""

from __future__ import annotations

import pytest
import yaml
from snakemake.utils import update_config

from ragdistill.config_check import cap_warnings, check_config, hub_split_rows
from tests.conftest import REPO, snakemake

CONFIG = REPO / "config"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# each scale preset, as its header says to run it (arms-paper is layered on paper)
SCALE = {"paper": ["paper.yaml"], "gpu": ["gpu.yaml"], "arms-paper": ["paper.yaml", "arms-paper.yaml"]}
# the caps and the reader-specific settings a scale preset must state rather than inherit
CAPS = [
    "attention.max_questions",
    "evaluate.max_questions",
    "reader_finetune.train_layers",
    "reader_finetune.dev_questions",
    "curve.sizes",
    "curve.transfer_questions",
    "distill.passage_layers",
    "distill.tau_gold",
    "distill.tau_pdist",
]


def merged(*files: str, base: bool = True) -> dict:
    """The presets deep-merged in order (Snakemake's own merge of --configfile files), over
    config.yaml unless ``base`` is false."""
    config = yaml.safe_load((REPO / "config.yaml").read_text()) if base else {}
    for name in files:
        update_config(config, yaml.safe_load((CONFIG / name).read_text()))
    return config


def get(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


def hub_runs(config: dict) -> list[str]:
    return [
        r
        for r in config.get("runs", [])
        if any(str(s).startswith("hf:") for s in (config["datasets"][r].get("questions") or {}).values())
    ]


@pytest.mark.parametrize("preset", SCALE)
def test_each_scale_preset_sets_every_cap_itself(preset):
    own = merged(*SCALE[preset], base=False)  # the preset files alone: nothing from config.yaml
    missing = []
    for key in CAPS:
        try:
            get(own, key)
        except KeyError:
            missing.append(key)
    for run in hub_runs(own):
        caps = own["datasets"][run].get("max_questions") or {}
        missing += [f"datasets.{run}.max_questions.{s}" for s in ("train", "dev", "test") if s not in caps]
    assert not missing, f"{preset} inherits {missing} from config.yaml"


EFFECTIVE = {
    "paper": {
        "attention.max_questions": None,
        "evaluate.max_questions": None,
        "reader_finetune.train_layers": None,
        "reader_finetune.dev_questions": 500,
        "curve.sizes": [],
        "distill.passage_layers": None,
        "distill.tau_gold": 0.01,
        "datasets.nq.max_questions": {"train": None, "dev": 1000, "test": None},
        "datasets.tqa.max_questions": {"train": None, "dev": 1000, "test": None},
    },
    "gpu": {
        "attention.max_questions": 800,
        "evaluate.max_questions": 500,
        "reader_finetune.train_layers": 8,
        "reader_finetune.dev_questions": 200,
        "curve.sizes": [200, 400],
        "curve.transfer_questions": 1000,
        "distill.passage_layers": 3,
        "distill.tau_gold": 5.0e-4,
        "seeds": [0, 1, 2],
    },
    "arms-paper": {
        "runs": ["nq", "nq-t5"],
        "attention.max_questions": None,
        "evaluate.max_questions": None,
        "reader_finetune.train_layers": None,
        "curve.sizes": [],
        "distill.tau_gold": 0.01,
        "datasets.nq-t5.max_questions": {"train": None, "dev": 1000, "test": None},
    },
}


@pytest.mark.parametrize("preset", SCALE)
def test_effective_sizes_over_config_yaml(preset):
    """What the preset runs with once merged over config.yaml: valid, its own sizes, and no cap
    that cuts a hub split below a tenth."""
    config = merged(*SCALE[preset])
    check_config(config, SCHEMA)
    assert {key: get(config, key) for key in EFFECTIVE[preset]} == EFFECTIVE[preset]
    assert cap_warnings(config) == []


def test_hub_split_sizes_known_at_planning(tmp_path):
    """From the dataset cards' sizes, the slice syntax's bounds, or a local hub folder's README."""
    nq = "hf:google-research-datasets/nq_open:nq_open"
    assert hub_split_rows(f"{nq}#train[8757:]", "train")[0] == 87_925 - 8_757
    assert hub_split_rows(f"{nq}#train[:8757]", "dev")[0] == 8_757
    assert hub_split_rows(f"{nq}#validation", "test") == (3_610, "the dataset card")
    assert hub_split_rows(nq, "validation")[0] == 3_610  # no #split: our split's hub default
    assert hub_split_rows(f"{nq}#train[:10%]", "train")[0] == 8_792
    tqa = "hf:mandarjoshi/trivia_qa:unfiltered.nocontext"
    assert hub_split_rows(f"{tqa}#train[8837:]", "train")[0] == 78_785  # DPR's TriviaQA train
    assert hub_split_rows(f"{tqa}#validation", "test")[0] == 11_313
    # unknown repository: only a slice with an end says how many rows it reads
    assert hub_split_rows("hf:someone/else#train[100:400]", "train") == (300, "the slice's bounds")
    assert hub_split_rows("hf:someone/else#train[100:]", "train") == (None, "")
    assert hub_split_rows("local:/x/q.jsonl", "train") == (None, "")
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "README.md").write_text(
        "---\ndataset_info:\n- config_name: qa\n  splits:\n  - name: train\n    num_examples: 5000\n"
        "  - name: validation\n    num_examples: 900\n---\n# a card\n"
    )
    assert hub_split_rows(f"hf:{hub}:qa#train[1000:]", "train")[0] == 4_000
    assert hub_split_rows(f"hf:{hub}:qa", "validation")[0] == 900


def test_triviaqa_follows_the_open_domain_convention():
    """DPR, FiD and ATLAS: unfiltered.nocontext, its validation split (11,313) as test."""
    tqa = merged("paper.yaml")["datasets"]["tqa"]["questions"]
    assert all(":unfiltered.nocontext#" in src for src in tqa.values()), tqa
    assert tqa["test"].endswith("#validation")
    sizes = {s: hub_split_rows(src, s)[0] for s, src in tqa.items()}
    assert sizes == {"train": 78_785, "dev": 8_837, "test": 11_313}  # DPR's TriviaQA splits


def test_a_cap_below_a_tenth_of_a_hub_split_is_warned_naming_the_key():
    config = merged("paper.yaml")
    config["attention"]["max_questions"] = 50  # config.yaml's laptop cap
    config["evaluate"]["max_questions"] = 200
    config["datasets"]["nq"]["max_questions"]["dev"] = 500  # 500 of 8,757
    lines = cap_warnings(config)

    def said(start: str) -> bool:
        return any(line.startswith(f"config key {start}") for line in lines)

    assert any(
        line.startswith("config key attention.max_questions: 50 of the 79,168 questions of datasets.nq")
        for line in lines
    ), lines
    assert said("evaluate.max_questions: 200 of the 3,610")
    assert said("evaluate.max_questions: 200 of the 11,313")  # TriviaQA open-domain test
    assert said("datasets.nq.max_questions.dev: 500 of the 8,757")
    # the reader's 500 dev questions are half of the 1,000 the dataset's cap leaves: no warning
    assert not any("reader_finetune.dev_questions" in line for line in lines)
    config["reader_finetune"]["dev_questions"] = 40  # 40 of 500
    lines = cap_warnings(config)
    assert said("reader_finetune.dev_questions: 40 of the 500")
    # the generated world is no hub dataset: the default warns about nothing
    assert cap_warnings(merged()) == []


def test_planning_prints_the_warning(tmp_path):
    """A dry run (of the fetch stage: the warning comes while the config is read) says it."""
    caps = tmp_path / "caps.yaml"
    caps.write_text("attention: {max_questions: 50}\n")
    res = snakemake(
        tmp_path / "work",
        "fetch",
        "-n",
        "--configfile",
        str(REPO / "config.yaml"),
        str(CONFIG / "paper.yaml"),
        str(caps),
    )
    out = res.stdout + res.stderr
    assert "config key attention.max_questions: 50 of the 79,168 questions of datasets.nq" in out
    assert "config key evaluate.max_questions" not in out  # the paper preset answers all
