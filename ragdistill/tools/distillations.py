"""Every distillation of a run on dev: its teacher, dev HR@5 at each evaluated step with the dev
questions won and lost against step 0, and the step it kept.

    python -m ragdistill.tools.distillations <run folder> [<another run folder> ...]

Why: the test gains say what a distillation kept; this says why it kept it. A step is kept only
when it beats step 0 by ``select_z`` (``distill.select: significant``): z = (won - lost) /
sqrt(won + lost) over the dev questions that changed. A teaching that raised dev HR@5 by too
little to pass is told apart here from one that never raised it. Several run folders (one code
state against another, one setting against another) are read alike and set side by side, each
row labelled by its folder. Reads ``results/<run>/s<seed>/distill/<name>/curve.tsv`` and the
kept query encoder's ``ragdistill_retriever.json``; dev data only.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ragdistill.core.files import iter_tsv
from ragdistill.data.dumps import RETRIEVER_META, retriever_record
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.distillations"
COLUMNS = ("step", "dev_hr5", "wins", "losses")
HEADER = [
    "distillation",
    "teacher top-1 / retriever's first (questions with an answer; top p)",
    "dev HR@5 by step (won/lost against step 0, z)",
    "z needed",
    "kept",
]


def evaluated(curve: Path) -> list[dict]:
    """The evaluated steps of a ``curve.tsv``: step, dev HR@5, won and lost against step 0."""
    out = []
    for _, r in iter_tsv(curve, COLUMNS):
        if r["dev_hr5"] not in ("", "nan"):
            w, lost = (int(float(r[k])) for k in ("wins", "losses"))
            out.append({"step": int(r["step"]), "dev_hr5": float(r["dev_hr5"]), "wins": w, "losses": lost})
    return out


def curve_text(points: list[dict]) -> str:
    """``0: 0.587; 10: 0.630 (25/12, z 2.14)``: dev HR@5 at each evaluated step."""

    def one(p: dict) -> str:
        if p["step"] == 0:
            return f"0: {p['dev_hr5']:.3f}"
        w, lost = p["wins"], p["losses"]
        z = (w - lost) / math.sqrt(w + lost) if w + lost else 0.0
        return f"{p['step']}: {p['dev_hr5']:.3f} ({w}/{lost}, z {z:.2f})"

    return "; ".join(one(p) for p in points)


def teacher_text(meta: dict) -> str:
    """The teacher line of a distillation's record; the uniform control has no teacher."""
    if meta["teacher"] == "uniform":
        return "uniform targets"
    top_p = f"; top p {meta['teacher_mean_top_p']:.2f}" if meta.get("teacher_mean_top_p") is not None else ""
    return (
        f"{meta['teacher_top1_hit']:.3f} / {meta['retriever_top1_hit']:.3f} "
        f"({meta['questions_with_answer']} of {meta['questions']}{top_p})"
    )


def row(name: str, folder: Path, prog: str) -> list[str]:
    """One distillation (its folder holds ``curve.tsv`` and ``query_encoder/``) as a table row."""
    encoder = folder / "query_encoder"
    if not (encoder / RETRIEVER_META).exists():
        raise stop(prog, f"{encoder / RETRIEVER_META} is missing (the distillation of {name} makes it)")
    meta = retriever_record(encoder)
    z = meta.get("select_z")
    need = f"{z:.2f}" if z is not None and meta["select"] == "significant" else meta["select"]
    points = evaluated(folder / "curve.tsv")
    return [name, teacher_text(meta), curve_text(points), need, str(meta["selected_step"])]


def main(argv: list[str] | None = None) -> None:
    ap = parser(PROG, __doc__, several=True)
    args = ap.parse_args(argv)
    several = len(args.run_dir) > 1
    rows = []
    for root in args.run_dir:
        run = RunFolder.from_args(PROG, args, root)
        names = run.distilled()
        if not names:
            raise stop(PROG, f"{run.replicate} holds no distillation (distill_retriever makes them)")
        label = [str(root)] if several else []
        rows += [label + row(n, run.replicate / "distill" / n, PROG) for n in names]
        print(f"{run.replicate}: {len(names)} distillations; dev HR@5 against the dev candidates' pool")
    print(markdown_table((["run folder"] if several else []) + HEADER, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
