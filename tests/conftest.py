"""Shared fixtures: tiny random models (``init:``) and one smoke-preset run, built once per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ragdistill import models

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run this repository's workflow in ``workdir`` (a throwaway folder) and return the process."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
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
