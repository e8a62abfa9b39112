"""Shared fixtures: tiny random models (``init:``) and one smoke-preset run, built once per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ragdistill import models
from ragdistill.core.files import write_jsonl

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run this repository's workflow in ``workdir`` (a throwaway folder) and return the process.

    With ``timeout`` (seconds) a run that hangs (a scheduler that never answers) fails the test
    with the output it printed so far, instead of holding CI until its own limit.
    """
    cmd = [*SNAKEMAKE, "--directory", str(workdir), *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        said = [
            (x or b"").decode(errors="replace") if isinstance(x, bytes) else (x or "")
            for x in (e.stdout, e.stderr)
        ]
        raise AssertionError(
            f"{' '.join(cmd)} still running after {timeout:.0f} s:\n{said[0][-3000:]}\n{said[1][-3000:]}"
        ) from None
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A finished local run of the smoke preset (the workflow and SLURM tests compare with it)."""
    work = tmp_path_factory.mktemp("smoke")
    snakemake(work, "all", "--cores", "2", "--configfile", str(SMOKE))
    return work


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Return a function arch -> folder holding a tiny random model of that architecture."""
    cache: dict[str, str] = {}

    def make(arch: str) -> str:
        if arch not in cache:
            out = tmp_path_factory.mktemp(f"init-{arch}")
            models.init_model(arch, out, seed=0)
            cache[arch] = str(out)
        return cache[arch]

    torch.set_num_threads(2)
    return make


def example(qid: str = "q1", k: int = 3) -> dict:
    ctxs = [
        {
            "id": f"p{i}",
            "title": f"Title {i}",
            "text": f"Sentence number {i} says that Drossel is a town {i}.",
            "score": 1.0 - i / 10,
            "has_answer": i == 1,
        }
        for i in range(k)
    ]
    return {"id": qid, "question": "Where was Anna Quenish born?", "answers": ["Drossel"], "ctxs": ctxs}


PROMPT = {"seed": 0, "shuffle": True, "max_doc_tokens": 12, "add_bos": True}


def distill_case(
    tmp_path: Path, retriever: str, steps: int = 3, checkpoint_every: int = 0, select: str = "last"
):
    """(inp, out, params) of distill_retriever on 8 made-up questions with random teacher scores.

    ``select`` defaults to ``last``: on these 4 dev questions with 3 candidates dev HR@5 is
    always 1, so ``best`` would keep the untrained step 0.
    """
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
        "refresh_every": 0,
        "passage_layers": None,
        "optimizer": "adamw",
        "momentum": 0.9,
        "k": k,
        "seed": 0,
        "objective": "adist",
        "uniform": False,
        "max_questions": None,
        "candidates": k,
        "tau_gold": 0.1,
        "tau_pdist": 1.0,
        "tau_score": 0.1,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "steps": steps,
        "batch_size": 4,
        "eval_every": 2,
        "select": select,
        "checkpoint_every": checkpoint_every,
        "resume_dir": str(tmp_path / "resume"),
        "retriever": {
            "model": "m",
            "pooling": "mean",
            "normalize": False,
            "query_max_length": 32,
            "passage_max_length": 32,
            "batch_size": 8,
        },
    }
    inp = {
        "retriever": retriever,
        "train": str(tmp_path / "train.jsonl"),
        "dev": str(tmp_path / "dev.jsonl"),
        "targets": str(tmp_path / "targets.npz"),
    }
    out = {"query_encoder": str(tmp_path / "qenc"), "curve": str(tmp_path / "curve.tsv")}
    return inp, out, params


LORA = {"r": 4, "alpha": 8.0, "dropout": 0.0, "target_modules": None}  # reader_finetune.lora, filled in


def finetune_case(tmp_path: Path, reader: str, steps: int = 4, checkpoint_every: int = 0, **train):
    """(inp, out, params) of finetune_reader on 6 made-up questions, dev EM on 2; ``train``
    overrides reader_finetune settings."""
    rows = [example(f"q{i}", k=3) for i in range(6)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "dev.jsonl", rows[:2])
    hp = {
        "steps": steps,
        "batch_size": 2,
        "grad_accum": 2,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "warmup_steps": 1,
        "max_grad_norm": 1.0,
        "train_layers": 1,
        "answer_in_context": True,
        "dev_questions": 2,
        "eval_batch_size": 2,
        "checkpoint_every": checkpoint_every,
        "eval_every": 0,
        "select": "last",
        "gradient_checkpointing": False,
        "lora": None,
        **train,
    }
    params = {
        "seed": 0,
        "k": 3,
        "train": hp,
        "prompt": PROMPT,
        "max_new_tokens": 3,
        "resume_dir": str(tmp_path / "resume"),
    }
    inp = {"model": reader, "train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.jsonl")}
    out = {"model": str(tmp_path / "model"), "metrics": str(tmp_path / "metrics.json")}
    return inp, out, params
