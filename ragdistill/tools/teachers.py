"""How right each teacher of a run is before anything is distilled: per dump and objective, the
share of questions whose highest-scored candidate holds an answer, against the retriever's first.

    python -m ragdistill.tools.teachers <run folder> [--split train]

Why: a teacher can only teach the retriever what it knows better; when its top-1 hit is no
higher than the retriever's own first passage's, no distillation setting will help. This is
``distill.teacher_summary``, the line a distillation's log gives (and ``ragdistill_retriever.json``
keeps), for every dump of the run, every ADist variant and PDist, without distilling. Reads
``results/<run>/s<seed>/attention/<reader>/<split>.npz``, ``perplexity/<reader>/<split>.npz`` and
the initial retrieval of that split, whose ``has_answer`` flags judge the candidates; counted over
the questions with an answer among the dump's N candidates. The argmax of a teacher's scores is
its distribution's at any temperature, so no ``tau`` is read.
"""

from __future__ import annotations

import sys

import torch

from ragdistill.core.files import read_jsonl
from ragdistill.core.names import INITIAL
from ragdistill.data.dumps import load_dump
from ragdistill.stages.distill import teacher_summary
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.teachers"


def dump_rows(run: RunFolder, path, retrieval: dict[str, dict]) -> list[list[str]]:
    """One row per objective a dump holds scores for."""
    dump = load_dump(str(path))
    n = dump["ctx_ids"].shape[1]
    scored = []
    for qid, ctx_ids in zip(dump["ids"].tolist(), dump["ctx_ids"].tolist(), strict=True):
        ex = retrieval.get(str(qid))
        if ex is None or [str(c["id"]) for c in ex["ctxs"][:n]] != [str(c) for c in ctx_ids]:
            raise stop(run.prog, f"{path}: {qid}'s candidates are not the initial retrieval's first {n}")
        scored.append(ex)
    rows = []
    for key in sorted(k for k in dump if k.startswith("scores_")):
        s = teacher_summary(torch.from_numpy(dump[key]), scored, n)
        rows.append(
            [
                path.parent.name,
                key.removeprefix("scores_"),
                f"{s['questions_with_answer']} of {len(scored)} (N = {n})",
                f"{s['teacher_top1_hit']:.3f}",
                f"{s['retriever_top1_hit']:.3f}",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = parser(PROG, __doc__)
    ap.add_argument("--split", default="train", help="train (default), or test (the curve's dumps)")
    args = ap.parse_args(argv)
    run = RunFolder.from_args(PROG, args)
    dumps = sorted(run.replicate.glob(f"attention/*/{args.split}.npz"))
    dumps += sorted(run.replicate.glob(f"perplexity/*/{args.split}.npz"))
    if not dumps:
        made_by = "dump_attention and score_perplexity make them"
        raise stop(PROG, f"{run.replicate} holds no {args.split} dump ({made_by})")
    initial = run.need(run.replicate / "retrieve" / INITIAL / f"{args.split}.jsonl", "retrieve_initial")
    retrieval = {str(ex["id"]): ex for ex in read_jsonl(initial)}
    rows = [row for path in dumps for row in dump_rows(run, path, retrieval)]
    print(f"{run.replicate}: {args.split} dumps; top-1 hits over the questions with an answer among the N")
    header = ["reader", "objective", "questions with an answer", "teacher top-1", "retriever's first"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
