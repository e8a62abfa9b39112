import sys
import time

import torch
import yaml

torch.set_num_threads(2)
from ragdistill import attention

R = "/tmp/exp/results/world"
cfg = yaml.safe_load(open("/work/main/config.yaml"))
params = {
    "k": 5,
    "candidates": 5,
    "prompt": cfg["prompt"],
    "batch_size": 4,
    "max_questions": int(sys.argv[1]),
    "precision": "float32",
}
t = time.perf_counter()
attention.score_perplexity(
    {"model": f"{R}/reader/finetuned-s0/model", "retrieved": f"{R}/retrieve/initial/train.jsonl"},
    {"scores": "/tmp/explore/pdist200.npz"},
    params,
)
print("pdist seconds", round(time.perf_counter() - t, 1))
