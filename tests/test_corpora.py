"""Replicates over one corpus share its initial index: which ones (``core.corpora``), and the
run-time check that a follower's corpus is the leader's (``stages.retrieve``)."""

from __future__ import annotations

import json

import pytest
import yaml

from ragdistill.core.corpora import corpus_leaders
from ragdistill.core.files import InputError
from ragdistill.stages.retrieve import check_shared_corpus
from tests.conftest import SMOKE

DPR = {"corpus": "hf:facebook/dpr-ctx_encoder@main:psgs_w100.tsv", "corpus_format": "dpr_tsv"}


def test_two_datasets_over_one_corpus_follow_the_first_replicate():
    datasets = {
        "nq": {**DPR, "questions": {"train": "hf:nq"}},
        "tqa": {**DPR, "questions": {"train": "hf:tqa"}, "question_format": "triviaqa"},
        "other": {**DPR, "corpus_format": "jsonl"},
    }
    reps = ["nq/s0", "nq/s1", "tqa/s0", "tqa/s1", "other/s0"]
    assert corpus_leaders(datasets, reps) == {
        "nq/s0": "nq/s0",
        "nq/s1": "nq/s0",
        "tqa/s0": "nq/s0",
        "tqa/s1": "nq/s0",
        "other/s0": "other/s0",  # another layout: another file, as far as the plan can tell
    }


def test_a_generated_world_is_shared_by_its_arms_only_and_a_squad_file_across_seeds():
    world = {"source": "synthetic:", "world": {"seed": 0}}
    other = {"source": "synthetic:", "world": {"seed": 0, "n_people": 40}}
    squad = {"question_format": "squad", "squad": {"source": "local:a.json", "passage_words": 50, "seed": 0}}
    cut = {"question_format": "squad", "squad": {"source": "local:a.json", "passage_words": 30}}
    leaders = corpus_leaders(
        {"w": world, "w-t5": {**world, "reader": "t5"}, "o": other, "sq": squad, "cut": cut},
        ["w/s0", "w/s1", "w-t5/s0", "w-t5/s1", "o/s0", "sq/s0", "sq/s1", "sq/s2", "cut/s0"],
    )
    # each seed its own world; the second arm (another reader, the same world) the first's
    assert [leaders[r] for r in ("w/s0", "w/s1", "w-t5/s0", "w-t5/s1")] == ["w/s0", "w/s1", "w/s0", "w/s1"]
    assert leaders["o/s0"] == "o/s0"  # another world
    assert [leaders[r] for r in ("sq/s1", "sq/s2")] == ["sq/s0", "sq/s0"]
    assert leaders["cut/s0"] == "cut/s0"  # other passage lengths: another corpus


def test_the_paper_preset_encodes_the_dpr_corpus_once():
    config = yaml.safe_load((SMOKE.parent / "paper.yaml").read_text())
    reps = [f"{r}/s{s}" for r in config["runs"] for s in config["seeds"]]
    assert len(reps) == 6 and set(corpus_leaders(config["datasets"], reps).values()) == {"nq/s0"}


def _checks(tmp_path, name: str, digest: str | None) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"passages": 3} | ({"corpus_sha256": digest} if digest else {})))
    return str(path)


def test_a_follower_searches_only_an_index_of_its_own_corpus(tmp_path):
    inp = {"corpus": "resources/data/tqa/s0/corpus.tsv", "index": "results/nq/s0/index/initial/index.faiss"}
    check_shared_corpus(inp)  # a leader: no checks passed, nothing to compare
    same = {
        **inp,
        "corpus_checks": _checks(tmp_path, "own", "ab"),
        "index_checks": _checks(tmp_path, "lead", "ab"),
    }
    check_shared_corpus(same)
    for own in ("cd", None):  # another corpus, or data fetched before digests were recorded
        other = {**same, "corpus_checks": _checks(tmp_path, "own", own)}
        with pytest.raises(InputError, match=r"tqa/s0/corpus.tsv: not the corpus of the initial index"):
            check_shared_corpus(other)
