"""Shared fixtures: tiny random models (``init:``) built once per session."""

from __future__ import annotations

import pytest
import torch

from ragdistill import models


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
