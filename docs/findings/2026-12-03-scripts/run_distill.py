"""Dev-only exploration: distill with settings from argv on a run's dump; print the dev curve and kept step.

python run_distill.py ROOT NAME DUMP key=value ...   (ROOT: a run folder; results under ROOT/explore)
"""

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ragdistill.stages import distill
from ragdistill.core.files import read_jsonl, write_jsonl

logging.basicConfig(level=logging.INFO, format="%(message)s")
torch.set_num_threads(2)
root, name, dump, *kv = sys.argv[1:]
R = Path(root) / "results/world"
over = dict(x.split("=") for x in kv)
d = dict(np.load(dump)) if dump != "-" else None
obj = over.pop("objective", "adist")
nq = over.pop("questions", None)
skip = int(over.pop("skip", 0))  # distil on training questions skip.. (with questions=n: skip..skip+n)
out_dir = Path(root) / "explore" / name
out_dir.mkdir(parents=True, exist_ok=True)
cfg = yaml.safe_load(open(Path(__file__).resolve().parents[3] / "config.yaml"))
params = {
    **cfg["distill"],
    "seed": 0,
    "k": 5,
    "objective": obj,
    "uniform": obj == "uniform",
    "max_questions": int(nq) if nq else None,
    "retriever": cfg["retriever"],  # the whole section, as workflow/rules/distill.smk passes it
    "resume_dir": str(out_dir / "resume"),
    "checkpoint_every": 0,
}
if obj == "uniform":
    params["objective"] = "adist"
for k, v in over.items():
    if v == "null":
        params[k] = None
    elif params.get(k) is not None:
        params[k] = type(params[k])(v)
    else:
        params[k] = int(v) if v.isdigit() else v
inp = {
    "retriever": f"{root}/resources/models/minilm",
    "train": str(R / "retrieve/initial/train.jsonl"),
    "dev": str(R / "retrieve/initial/dev.jsonl"),
    "targets": dump,
    "vectors": str(R / "encode/initial/candidates.npz"),
}
if skip:
    rows = read_jsonl(inp["train"])[skip:]
    write_jsonl(out_dir / "train.jsonl", rows)
    inp["train"] = str(out_dir / "train.jsonl")
out = {
    "query_encoder": str(out_dir / "query_encoder"),
    "curve": str(out_dir / "curve.tsv"),
    "passage_encoder": str(out_dir / "penc"),
}
if params["mode"] == "both":
    inp.pop("vectors")
t = time.time()
distill.distill_retriever(inp, out, params)
rows = [line.split("\t") for line in open(out["curve"]).read().splitlines()]
ev = [r for r in rows[1:] if r[2] not in ("nan", "")]
meta = json.load(open(Path(out["query_encoder"]) / "ragdistill_retriever.json"))
line = (
    f"RESULT {name} {kv} dev_hr5="
    + " ".join(f"{r[0]}:{float(r[2]):.3f}({r[4]}/{r[5]})" for r in ev)
    + f" kept={meta['selected_step']} top_p={meta['teacher_mean_top_p']}"
    + f" t1={meta['teacher_top1_hit']} r1={meta['retriever_top1_hit']} {time.time() - t:.0f}s"
)
print(line)
open(Path(root) / "explore" / "RESULTS.txt", "a").write(line + "\n")
