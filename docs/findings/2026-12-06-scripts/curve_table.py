"""Rows of the learning-curve table from a run's curve.json.

    python curve_table.py <run>/results/squad/curve/curve.json
"""
import sys
import json
d = json.load(open(sys.argv[1]))
f = lambda m: f"{m['diff']:+.4g} [{m['lo']:+.4g}, {m['hi']:+.4g}]"
for r in d["rows"]:
    t = r["transfer"]
    print(f"| {r['seed']} | {r['teacher']} | {r['questions']} | {r['selected_step']} | {f(r['hr@5'])} | {f(r['hr@1'])} | {t['teacher_top1']} / {t['initial_top1']} / {t['distilled_top1']} |")
