"""Dev-only exploration: a teacher's targets for the first training questions of a run, timed.

    python teacher_targets.py ROOT adist N_CANDIDATES [QUESTIONS]   (attention, N candidates in windows of 5)
    python teacher_targets.py ROOT pdist QUESTIONS                  (answer likelihoods over 5 candidates)

Reads the run folder ROOT (seed 0's fine-tuned reader and the initial retrieval) and the
default's prompt settings; writes ROOT/explore/dump<N>.npz or ROOT/explore/pdist<QUESTIONS>.npz.
"""

import sys
import time
from pathlib import Path

import torch
import yaml

torch.set_num_threads(2)
from ragdistill.stages import attention

root = Path(sys.argv[1])
R = root / "results/world"
objective, first = sys.argv[2], int(sys.argv[3])
cfg = yaml.safe_load(open(Path(__file__).resolve().parents[3] / "config.yaml"))
adist = objective == "adist"
questions = (int(sys.argv[4]) if len(sys.argv) > 4 else 200) if adist else first
params = {
    "k": 5,
    "candidates": first if adist else 5,
    "prompt": cfg["prompt"],
    "batch_size": 4,
    "max_questions": questions,
    "precision": "float32",
}
inputs = {"model": f"{R}/reader/finetuned-s0/model", "retrieved": f"{R}/retrieve/initial/train.jsonl"}
t = time.perf_counter()
if adist:
    attention.dump_attention(inputs, {"dump": str(root / "explore" / f"dump{first}.npz")}, params)
else:
    attention.score_perplexity(inputs, {"scores": str(root / "explore" / f"pdist{questions}.npz")}, params)
print(objective, "seconds", round(time.perf_counter() - t, 1))
