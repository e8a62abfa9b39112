"""bf16 against float32 ADist targets on the real fine-tuned SmolLM2 (issue 31, item 3).

Run inside a finished (or partly finished) default run's folder, with the project on PYTHONPATH:

    python bf16_dump_agreement.py results/world/attention/finetuned-s0/train.npz \
        results/world/reader/finetuned-s0/model results/world/retrieve/initial/train.jsonl

It dumps the first ``--timed`` training questions in float32 and in bfloat16 (every other setting
the default's), side by side, timing both; then compares each ADist variant of the bf16 dump with
the float32 dump the workflow made (top document per question, per-question Spearman over the 5
candidates). ``--all`` also dumps all 400 in bf16 and compares those.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from ragdistill.stages import attention
from ragdistill.data.dumps import load_dump

PROMPT = {
    "seed": 0,
    "shuffle": True,
    "max_doc_tokens": 96,
    "max_question_tokens": None,
    "add_bos": False,
    "header": "Answer the question using the documents below.",
    "chat_template": False,
}


def dump(model: str, retrieved: str, out: str, precision: str, n: int | None) -> float:
    params = {"k": 5, "candidates": 5, "prompt": PROMPT, "batch_size": 4, "max_questions": n}
    t0 = time.perf_counter()
    attention.dump_attention({"model": model, "retrieved": retrieved}, {"dump": out}, {**params, "precision": precision})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fp32_dump")
    ap.add_argument("model")
    ap.add_argument("retrieved")
    ap.add_argument("--timed", type=int, default=100)
    ap.add_argument("--all", action="store_true", help="also dump every question in bf16 and compare them all")
    ap.add_argument("--out", default=None, help="folder for the timed dumps (default: a new temporary one)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    tmp = Path(a.out or tempfile.mkdtemp())
    times = {p: dump(a.model, a.retrieved, str(tmp / f"timed-{p}.npz"), p, a.timed) for p in ("float32", "bfloat16")}
    if a.all:
        dump(a.model, a.retrieved, str(tmp / "bf16-all.npz"), "bfloat16", None)
    fp32, bf16 = load_dump(a.fp32_dump), load_dump(str(tmp / ("bf16-all.npz" if a.all else "timed-bfloat16.npz")))
    fp32 = {k: v[: len(bf16["ids"])] if k.startswith(("ids", "scores_")) else v for k, v in fp32.items()}
    assert fp32["ids"].tolist() == bf16["ids"].tolist()
    timed32 = load_dump(str(tmp / "timed-float32.npz"))
    out = {"questions": len(fp32["ids"]), "seconds": times, "speedup": times["float32"] / times["bfloat16"]}
    out["fp32_rerun_equal_to_workflow_dump"] = bool(
        np.allclose(timed32["scores_adist"], fp32["scores_adist"][: a.timed], rtol=2e-3, atol=1e-6)
    )
    for v in ("adist", "attn", "first", "mean", "noq"):
        x, y = fp32[f"scores_{v}"], bf16[f"scores_{v}"]
        rho = [spearmanr(x[i], y[i]).statistic for i in range(len(x))]
        rho = np.array([r if np.isfinite(r) else 1.0 for r in rho])  # ties everywhere: same order
        out[v] = {
            "top_doc_agreement": float((x.argmax(1) == y.argmax(1)).mean()),
            "spearman_mean": float(rho.mean()),
            "spearman_min": float(rho.min()),
            "max_rel_diff": float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12))),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
