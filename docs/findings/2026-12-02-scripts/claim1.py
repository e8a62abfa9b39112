"""Claim 1's comparison for distilled retrievers of a run: test HR@5, HR@1 and MRR gains over
the initial retriever, paired per test question, 10,000 bootstrap resamples (seed 0).

    python claim1.py results/world adist-finetuned-s1 adist-finetuned-s2
"""

import json
import sys
from pathlib import Path

from ragdistill.stages.learning_curve import per_question
from ragdistill.analysis.stats import paired

run = Path(sys.argv[1])
initial = per_question(str(run / "retrieve" / "initial" / "test.jsonl"))
for name in sys.argv[2:]:
    distilled = per_question(str(run / "retrieve" / name / "test.jsonl"))
    meta = json.loads((run / "distill" / name / "query_encoder" / "ragdistill_retriever.json").read_text())
    row = {
        "retriever": name,
        "kept": meta["selected_step"],
        "dev_hr5": meta["dev_hr5_selected"],
        "teacher_top1": meta.get("teacher_top1_hit"),
        "retriever_top1": meta.get("retriever_top1_hit"),
    }
    for m in ("hr@5", "hr@1", "mrr"):
        iv = paired({i: v[m] for i, v in distilled.items()}, {i: v[m] for i, v in initial.items()})
        row[m] = f"{iv.diff:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}] ({iv.n})"
    row["initial_hr5"] = round(sum(v["hr@5"] for v in initial.values()) / len(initial), 3)
    row["hr5"] = round(sum(v["hr@5"] for v in distilled.values()) / len(distilled), 3)
    print(json.dumps(row))
