import time

import torch
import yaml

torch.set_num_threads(2)
from ragdistill import attention

R = "/tmp/exp/results/world"
cfg = yaml.safe_load(open("/work/main/config.yaml"))
params = {
    "k": 5,
    "candidates": 10,
    "prompt": cfg["prompt"],
    "batch_size": 4,
    "max_questions": 200,
    "precision": "float32",
}
t = time.perf_counter()
attention.dump_attention(
    {"model": f"{R}/reader/finetuned-s0/model", "retrieved": f"{R}/retrieve/initial/train.jsonl"},
    {"dump": "/tmp/explore/dump10.npz"},
    params,
)
print("dump10 seconds", round(time.perf_counter() - t, 1))
