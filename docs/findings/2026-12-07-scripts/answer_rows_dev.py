"""Dev comparison of the two answer-row conventions (attention.answer_rows) for one or more runs.

    python answer_rows_dev.py RUN_DIR[:LABEL] [RUN_DIR[:LABEL] ...] [--run world] [--seed 0]

For each run folder and each ADist distillation in it: the teacher's top-1 among its candidates
on the dumped training questions (and the initial retriever's), the dev HR@5 at every evaluated
step with its wins and losses against step 0, and the step selection kept. Dev data only.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="run folder, optionally :label")
    ap.add_argument("--run", default="world", help="the run name under results/")
    ap.add_argument("--seed", type=int, default=0, help="the replicate (results/<run>/s<seed>/)")
    args = ap.parse_args()
    print("| convention | teacher | teacher top-1 / retriever top-1 (questions) | dev HR@5 by step (won/lost vs 0) | kept |")
    print("|---|---|---|---|---|")
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        base = Path(folder) / "results" / args.run / f"s{args.seed}" / "distill"
        for d in sorted(base.glob("adist-*-s*")):
            if d.name.endswith("-last") or "-n" in d.name.split("-s")[0]:
                continue
            meta = json.loads((d / "query_encoder" / "ragdistill_retriever.json").read_text())
            rows = [r for r in csv.DictReader(open(d / "curve.tsv"), delimiter="\t") if r["dev_hr5"] not in ("", "nan")]
            curve = ", ".join(
                f"{int(r['step'])}: {float(r['dev_hr5']):.3f}"
                + ("" if r["step"] == "0" else f" ({int(float(r['wins']))}/{int(float(r['losses']))})")
                for r in rows
            )
            top = f"{meta['teacher_top1_hit']:.3f} / {meta['retriever_top1_hit']:.3f} ({meta['questions_with_answer']})"
            print(f"| {label or folder} | {d.name} | {top} | {curve} | {meta['selected_step']} |")


if __name__ == "__main__":
    main()
