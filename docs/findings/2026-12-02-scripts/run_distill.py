"""Dev-only exploration: distill seed 0 with settings from argv, print the dev curve and kept step.

    python run_distill.py ROOT NAME DUMP key=value ...   (ROOT: the run folder: results/, resources/)
"""
import json, sys, time, logging
from pathlib import Path
import numpy as np, torch
REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
from ragdistill.stages import distill
from ragdistill.core.files import read_jsonl
logging.basicConfig(level=logging.INFO, format="%(message)s")
torch.set_num_threads(2)
root, name, dump, *kv = sys.argv[1:]
R = Path(root) / "results/world"
over = dict(x.split("=") for x in kv)
d = dict(np.load(dump))
n = int(over.pop("candidates", d["ctx_ids"].shape[1]))
obj = over.pop("objective", "adist")
filt = over.pop("filter", None)
if n < d["ctx_ids"].shape[1]:
    d = {k: (v[:, :n] if k.startswith("scores_") or k == "ctx_ids" else v) for k, v in d.items()}
out_dir = Path(root) / "explore" / name
out_dir.mkdir(parents=True, exist_ok=True)
np.savez(out_dir / "targets.npz", **d)
import yaml
cfg = yaml.safe_load(open(REPO / "config.yaml"))
params = {**cfg["distill"], "candidates": n, "seed": 0, "k": 5, "objective": obj, "uniform": obj == "uniform",
          "max_questions": None, "pooling": "mean", "normalize": True, "max_length": 64,
          "passage_max_length": 128, "encode_batch_size": 64, "resume_dir": str(out_dir / "resume"),
          "checkpoint_every": 0}
if obj == "uniform":
    params["objective"] = "adist"
for k, v in over.items():
    params[k] = type(params[k])(v) if params.get(k) is not None else (int(v) if v.isdigit() else v)
inp = {"retriever": str(Path(root) / "resources/models/minilm"), "train": str(R / "retrieve/initial/train.jsonl"),
       "dev": str(R / "retrieve/initial/dev.jsonl"), "targets": str(out_dir / "targets.npz"),
       "vectors": str(R / "encode/initial/candidates.npz")}
if filt:
    from ragdistill.core.files import write_jsonl
    rows = [ex for ex in read_jsonl(inp["train"]) if any(c["has_answer"] for c in ex["ctxs"][:n])]
    write_jsonl(out_dir / "train.jsonl", rows); inp["train"] = str(out_dir / "train.jsonl")
out = {"query_encoder": str(out_dir / "query_encoder"), "curve": str(out_dir / "curve.tsv"), "passage_encoder": str(out_dir / "penc")}
if params["mode"] == "both":
    inp.pop("vectors")
t = time.time()
distill.distill_retriever(inp, out, params)
rows = [l.split("\t") for l in open(out["curve"]).read().splitlines()]
hdr = rows[0]
ev = [r for r in rows[1:] if r[2] not in ("nan", "")]
meta = json.load(open(Path(out["query_encoder"]) / "ragdistill_retriever.json"))
print(f"RESULT {name} {kv} n={n} dev_hr5=" + " ".join(f"{r[0]}:{float(r[2]):.3f}({r[4]}/{r[5]})" for r in ev)
      + f" kept={meta['selected_step']} top_p={meta['teacher_mean_top_p']} t1={meta['teacher_top1_hit']} r1={meta['retriever_top1_hit']} {time.time()-t:.0f}s")
