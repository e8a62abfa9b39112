"""Teacher top-1 hit of an ADist dump over its training questions, as distill.teacher_summary logs it.

Usage: teacher_top1.py RESULTS_RUN_DIR DUMP.npz (reads RESULTS_RUN_DIR/retrieve/initial/train.jsonl).
"""

import json
import sys

import numpy as np

root, dump = sys.argv[1], sys.argv[2]
d = np.load(dump)
with open(f"{root}/retrieve/initial/train.jsonl") as f:
    train = {str(ex["id"]): ex for ex in map(json.loads, f)}
hit = first = n = 0
for qid, ctx, scores in zip(d["ids"], d["ctx_ids"], d["scores_adist"], strict=True):
    flags = {str(c["id"]): bool(c["has_answer"]) for c in train[str(qid)]["ctxs"]}
    held = [flags[str(c)] for c in ctx]
    if any(held):
        n += 1
        hit += held[int(np.argmax(scores))]
        first += held[0]
print(f"{dump}: teacher top-1 {hit / n:.3f}, retriever's first {first / n:.3f}, over {n} of {len(d['ids'])}")
