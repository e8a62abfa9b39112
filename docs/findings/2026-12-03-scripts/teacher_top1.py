"""Teacher top-1 hit of an ADist dump over its training questions: distill.teacher_summary, as
the distillation's log gives it, without distilling.

Usage: teacher_top1.py RESULTS_RUN_DIR DUMP.npz (reads RESULTS_RUN_DIR/retrieve/initial/train.jsonl).
"""

import sys

import torch

from ragdistill.stages.distill import teacher_summary
from ragdistill.data.dumps import load_dump
from ragdistill.core.files import read_jsonl

root, path = sys.argv[1], sys.argv[2]
dump = load_dump(path)
train = {str(ex["id"]): ex for ex in read_jsonl(f"{root}/retrieve/initial/train.jsonl")}
scored = [train[str(i)] for i in dump["ids"]]
# the dump's candidates are the retrieval's first N, in its order; the argmax of the scores is
# the teacher distribution's at any temperature
summary = teacher_summary(torch.from_numpy(dump["scores_adist"]), scored, dump["ctx_ids"].shape[1])
print(path, {k: v for k, v in summary.items() if k != "teacher_mean_top_p"})
