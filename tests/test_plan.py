"""The cost plan's arithmetic against what the smoke run actually wrote and did."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragdistill.tools import plan
from tests.conftest import SMOKE


def test_jobs_are_read_from_a_dry_run_log():
    log = (
        "rule encode_corpus:\n    output: x\n    wildcards: run=smoke/s0, index=initial, shard=0\n"
        "localrule make_report:\n    output: y\n    wildcards: run=smoke\n"
        "rule all:\n    input: z\n"
    )
    jobs = plan.parse_jobs(log)
    assert [(j.rule, j.wildcards) for j in jobs] == [
        ("encode_corpus", {"run": "smoke/s0", "index": "initial", "shard": "0"}),
        ("make_report", {"run": "smoke"}),
        ("all", {}),
    ]


def test_an_unknown_rate_name_stops_with_the_choices():
    with pytest.raises(SystemExit, match=r"--rates: 'tpu' is not one of \['cpu2', 'h100'\]"):
        plan.main(["--rates", "tpu"])


@pytest.mark.workflow
def test_the_plan_counts_what_the_smoke_run_did(smoke_run):
    """Within 10% of the smoke run's files: the index's bytes; exactly: the prompts dumped, the
    answers given, the passages encoded, the fine-tuning's examples."""
    cfg = plan.resolved_config([str(SMOKE)])
    sizes = plan.sizes(cfg, ["smoke"], str(smoke_run), None)
    rates = {k: v for k, (v, _) in plan.RATES["cpu2"].items()}
    dim = plan.model_dim(cfg["retriever"]["model"], str(smoke_run))  # the tiny encoder's width
    rows = {r.rule: r for r in plan.plan(plan.dry_run_jobs([str(SMOKE)]), cfg, sizes, dim, rates)}
    res = smoke_run / "results" / "smoke" / "s0"
    corpus = (smoke_run / "resources/data/smoke/s0/corpus.tsv").read_text().splitlines()
    assert rows["encode_corpus"].items == len(corpus) - 1
    index_bytes = sum(f.stat().st_size for f in res.glob("index/*/index.faiss"))
    assert abs(rows["build_index"].kept - index_bytes) <= 0.1 * index_bytes
    windows = cfg["distill"]["candidates"] // cfg["k"]
    dumped = sum(len(np.load(f)["ids"]) for f in res.glob("attention/*/*.npz"))
    assert rows["dump_attention"].items == dumped * windows
    answered = 0
    for f in res.glob("answers/*.jsonl"):
        answered += sum(
            1 for line in f.read_text().splitlines() if json.loads(line).get("prediction") is not None
        )
    assert rows["answer_questions"].items == answered
    ft = cfg["reader_finetune"]
    assert rows["finetune_reader"].items == ft["steps"] * ft["batch_size"]
    assert rows["finetune_reader"].seconds == pytest.approx(
        ft["steps"] * ft["batch_size"] / plan.RATES["cpu2"]["train_examples"][0]
    )
