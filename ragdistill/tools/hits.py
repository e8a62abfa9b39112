"""HR@k of a run's retrieval per split, and where each question's first answer-holding passage sits.

    python -m ragdistill.tools.hits <run folder> [--retriever initial] [--k 1 5 10 20]

Why: how much room a retriever leaves a teacher. A teacher re-ranks the retriever's top N
candidates, so what it can bring up are the answers at ranks past 5 that still lie among them;
the bands of the first answer's rank (6-10, 11-20, none retrieved) say how many questions that is,
beside HR@k. Reads ``results/<run>/s<seed>/retrieve/<retriever>/<split>.jsonl`` and the
``has_answer`` flag the retrieval stored for each passage (``analysis.metrics.has_answer``); a
distilled retriever has its test split only.
"""

from __future__ import annotations

import sys

from ragdistill.analysis.metrics import mean_hits
from ragdistill.core.files import read_jsonl
from ragdistill.core.names import INITIAL
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.hits"
SPLITS = ("train", "dev", "test")


def first_hits(rows: list[dict]) -> list[int | None]:
    """Per question, the 1-based rank of its first passage holding an answer (None: none does)."""
    return [next((i for i, c in enumerate(r["ctxs"], 1) if c["has_answer"]), None) for r in rows]


def bands(ks: list[int]) -> list[tuple[int, int]]:
    """The rank bands past the second k: (5, 10] and (10, 20] for k = 1, 5, 10, 20."""
    return list(zip(ks[1:-1], ks[2:], strict=True))


def split_row(name: str, rows: list[dict], ks: list[int]) -> list[str]:
    hr = mean_hits([[bool(c["has_answer"]) for c in r["ctxs"]] for r in rows], ks)
    first = first_hits(rows)
    counts = [sum(f is not None and lo < f <= hi for f in first) for lo, hi in bands(ks)]
    counts.append(sum(f is None or f > ks[-1] for f in first))
    return [name, f"{len(rows):,}", *(f"{hr[k]:.3f}" for k in ks), " / ".join(map(str, counts))]


def main(argv: list[str] | None = None) -> None:
    ap = parser(PROG, __doc__)
    ap.add_argument("--retriever", default=INITIAL, help="a retriever under retrieve/ (default: initial)")
    ap.add_argument("--splits", nargs="+", help="splits to read (default: those of train, dev, test there)")
    ap.add_argument("--k", nargs="+", type=int, default=[1, 5, 10, 20], help="the k of HR@k, ascending")
    args = ap.parse_args(argv)
    run = RunFolder.from_args(PROG, args)
    ks = sorted(set(args.k))
    folder = run.need(run.replicate / "retrieve" / args.retriever, f"the retrieval of {args.retriever}")
    table = []
    for split in args.splits or SPLITS:
        path = folder / f"{split}.jsonl"
        if path.exists():
            table.append(split_row(split, read_jsonl(path), ks))
        elif args.splits:  # a split asked for by name
            raise stop(PROG, f"{path} is missing (the retrieval of {args.retriever} makes it)")
    if not table:
        raise stop(PROG, f"{folder} holds none of the splits {', '.join(SPLITS)}")
    ranks = " / ".join([f"{lo + 1}-{hi}" for lo, hi in bands(ks)] + ["none"])
    header = ["split", "questions", *(f"HR@{k}" for k in ks), f"first answer at ranks {ranks}"]
    print(f"{run.replicate}: retriever {args.retriever}, has_answer over the passages retrieved")
    print(markdown_table(header, table))


if __name__ == "__main__":
    main(sys.argv[1:])
