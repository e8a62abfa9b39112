"""Distillation maths and the query-side mode's frozen passage encoder."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill import distill
from ragdistill.dumps import load_dump
from ragdistill.files import write_jsonl


def test_kl_loss_matches_the_formula():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    r = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    want = sum(float((p[i] * (p[i] / r[i]).log()).sum()) for i in range(2)) / 2
    got = distill.kl_loss(p, r.log())
    assert float(got) == pytest.approx(want, rel=1e-6)
    assert float(distill.kl_loss(p, p.log())) == pytest.approx(0.0, abs=1e-7)


def test_retriever_scores_are_scaled_dot_products():
    q = torch.tensor([[1.0, 2.0, 0.0, 1.0]])
    d = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]]])
    tau = 0.5
    s = torch.tensor([1.0, 3.0]) / math.sqrt(4) / tau
    torch.testing.assert_close(distill.retriever_log_probs(q, d, tau)[0], torch.log_softmax(s, -1))


def test_teacher_distribution_temperature():
    s = torch.tensor([[0.02, 0.01, 0.0]])
    p = distill.teacher_distribution(s, 0.01)
    torch.testing.assert_close(p[0], torch.softmax(torch.tensor([2.0, 1.0, 0.0]), -1))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_query_mode_leaves_the_passage_encoder_unchanged(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    retriever = Path(tiny_model_dir("bert"))
    before = _sha(retriever / "model.safetensors")
    k = 3
    examples = []
    for i in range(8):
        ctxs = [
            {
                "id": f"p{i}-{j}",
                "title": f"T{j}",
                "text": f"passage {j} about person {i}",
                "score": 0.0,
                "has_answer": j == 0,
            }
            for j in range(k)
        ]
        examples.append({"id": f"q{i}", "question": f"who is person {i}?", "answers": ["x"], "ctxs": ctxs})
    write_jsonl(tmp_path / "train.jsonl", examples)
    write_jsonl(tmp_path / "dev.jsonl", examples[:4])
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "targets.npz",
        ids=np.array([e["id"] for e in examples]),
        ctx_ids=np.array([[c["id"] for c in e["ctxs"]] for e in examples]),
        scores_adist=rng.random((8, k)).astype(np.float32),
    )
    params = {
        "mode": "query",
        "k": k,
        "seed": 0,
        "score_key": "scores_adist",
        "tau_gold": 0.1,
        "tau_score": 0.1,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "steps": 3,
        "batch_size": 4,
        "eval_every": 2,
        "pooling": "mean",
        "normalize": False,
        "max_length": 32,
        "encode_batch_size": 8,
    }
    out = {"query_encoder": str(tmp_path / "qenc"), "curve": str(tmp_path / "curve.tsv")}
    distill.distill_retriever(
        {
            "retriever": str(retriever),
            "train": str(tmp_path / "train.jsonl"),
            "dev": str(tmp_path / "dev.jsonl"),
            "targets": str(tmp_path / "targets.npz"),
        },
        out,
        params,
    )
    assert _sha(retriever / "model.safetensors") == before
    old = load_file(str(retriever / "model.safetensors"))
    new = load_file(str(tmp_path / "qenc" / "model.safetensors"))
    changed = [n for n in old if not torch.equal(old[n], new[n])]
    assert changed, "the query encoder did not learn"
    curve = (tmp_path / "curve.tsv").read_text().splitlines()
    assert curve[0] == "step\tloss\tdev_rerank_hr5" and len(curve) == 1 + 1 + 3


def test_targets_on_other_documents_are_refused(tmp_path):
    ex = [{"id": "q", "ctxs": [{"id": "a"}, {"id": "b"}]}]
    np.savez(
        tmp_path / "t.npz",
        ids=np.array(["q"]),
        ctx_ids=np.array([["a", "c"]]),
        scores_adist=np.zeros((1, 2), np.float32),
    )
    with pytest.raises(ValueError, match="other documents"):
        path = str(tmp_path / "t.npz")
        distill._targets(load_dump(path), path, "scores_adist", ex, 2)
