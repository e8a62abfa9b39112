"""Per distillation of a run folder: the teacher line of its log, dev HR@5 at the evaluated steps
(won/lost against step 0, z), the kept step. Rows of the distillations table.

    python distill_table.py <run> squad
"""
import glob, re, csv, sys, os, math
root, run = sys.argv[1], sys.argv[2]
for log in sorted(glob.glob(f"{root}/logs/distill_*/{run}/*.log")):
    name = os.path.basename(log)[:-4]
    txt = open(log, errors="replace").read()
    t = re.search(r"teacher: (\{[^}]*\})", txt)
    k = re.search(r"kept: step (\d+)", txt)
    rule = log.split("/")[-3]
    tsv = f"{root}/results/{run}/distill/{name}/curve.tsv"
    pts = []
    for r in csv.DictReader(open(tsv), delimiter="\t"):
        if r["dev_hr5"] != "nan" and int(r["step"]) > 0:
            w, l = int(float(r["wins"])), int(float(r["losses"]))
            z = (w - l) / math.sqrt(w + l) if w + l else 0
            pts.append(f"{float(r['dev_hr5']):.3f} ({w}/{l}, z {z:.2f})")
    td = eval(t.group(1)) if t else {}
    print(f"| {name} | {td.get('questions')} | {td.get('teacher_top1_hit')} / {td.get('retriever_top1_hit')} (n {td.get('questions_with_answer')}, top-p {td.get('teacher_mean_top_p')}) | {', '.join(pts)} | {k.group(1) if k else '?'} |")
