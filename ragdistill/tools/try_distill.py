"""Try a distillation setting on a finished run, dev only: the run's own distillation with the
settings changed, its dev curve and the step it would keep.

    python -m ragdistill.tools.try_distill <run folder> <label> [key=value ...]
        [--objective adist] [--teacher finetuned] [--targets DUMP.npz] [--skip N] [--answered-only]

Why: choosing a distillation setting (a learning rate, the passage layers trained, N candidates,
a temperature) is a question about dev HR@5, and each try needs only the run's finished inputs:
the teacher's dump, the initial retrieval, the stored candidate vectors, the fetched retriever.
This runs ``distill.distill_retriever`` on them with the parameters the workflow's rule gives it
(from the run's resolved config, ``results/<run>/report/config.yaml``), changed by each
``key=value`` (a ``distill`` setting, ``retriever.<key>``, or ``max_questions``: the first n dumped
questions; values are read as YAML, ``null`` included). ``candidates=N`` below the dump's own N
trains on the first N of its candidates (a dump of N = 10 holds N = 5 as its window 0).
``--skip N`` trains on the training questions from the N-th on; ``--answered-only`` on those with
an answer among the candidates (a diagnostic: no teacher can be right on the others). Nothing under
``results/`` changes: the distillation goes to ``<run folder>/explore/<label>/`` (``--out``), and
the tool prints its row as ``python -m ragdistill.tools.distillations`` gives it. Test data is
never read.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from ragdistill.core import grid
from ragdistill.core.files import read_jsonl, write_jsonl
from ragdistill.core.names import ATTENTION_OBJECTIVES, INITIAL, PERPLEXITY_OBJECTIVE
from ragdistill.core.settings import params_of
from ragdistill.core.stage_settings import DistillSettings
from ragdistill.data.dumps import load_dump
from ragdistill.stages import distill
from ragdistill.tools.distillations import HEADER, row
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.try_distill"


def rule_params(config: dict, objective: str, teacher: str, seed: int, out: Path) -> dict:
    """The params the workflow's ``distill_retriever`` rule gives the stage: its settings class
    read from the run's config, with what the rule decides per job (workflow/rules/distill.smk)."""
    uniform = teacher == "uniform"
    pdist = objective == PERPLEXITY_OBJECTIVE
    d = config["distill"]
    params = params_of(
        DistillSettings,
        config,
        tau_gold=d["tau_gold"] if not (uniform or pdist) else None,
        tau_pdist=d["tau_pdist"] if pdist and not uniform else None,
        seed=seed,
        objective=objective,
        uniform=uniform,
        max_questions=config["attention"]["max_questions"],
        checkpoint_every=0,  # a try that stops is tried again
    )
    return {**params, "retriever": dict(params["retriever"]), "resume_dir": str(out / "resume")}


def override(params: dict, pairs: list[str]) -> dict:
    """``params`` with each ``key=value`` (a dotted key reaches into a section) set."""
    out = {**params, "retriever": dict(params["retriever"])}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise stop(PROG, f"{pair!r} is not key=value")
        *section, name = key.split(".")
        node = out
        for part in section:
            if not isinstance(node.get(part), dict):
                raise stop(PROG, f"{key}: {part} is not a section of the distillation's params")
            node = node[part]
        node[name] = yaml.safe_load(value)
    return out


def teacher_targets(run: RunFolder, objective: str, teacher: str) -> Path | None:
    """The dump the workflow's distillation of this objective and teacher reads."""
    if teacher == "uniform":
        return None
    stage = "perplexity" if objective == PERPLEXITY_OBJECTIVE else "attention"
    reader = grid.teacher_reader(teacher, run.seed)
    return run.need(run.replicate / stage / reader / "train.npz", f"the {stage} rule of {reader}")


def first_candidates(targets: Path, n: int, out: Path) -> Path:
    """The dump's scores over its first ``n`` candidates, as a dump of its own under ``out``."""
    dump = load_dump(str(targets))
    have = dump["ctx_ids"].shape[1]
    if n > have:
        raise stop(PROG, f"candidates={n}, but {targets} scored {have} candidates per question")
    if n == have:
        return targets
    cut = {k: v[:, :n] for k, v in dump.items() if k.startswith("scores_") or k == "ctx_ids"}
    path = out / "targets.npz"
    np.savez(path, ids=dump["ids"], **cut)
    return path


def training_questions(train: Path, out: Path, skip: int, answered: int | None) -> Path:
    """The training questions from the ``skip``-th on, and (``answered``: N) only those with an
    answer among their first N candidates; the retrieval itself where nothing is left out."""
    if not skip and answered is None:
        return train
    rows = read_jsonl(train)[skip:]
    if answered is not None:
        rows = [ex for ex in rows if any(c["has_answer"] for c in ex["ctxs"][:answered])]
    path = out / "train.jsonl"
    write_jsonl(path, rows)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = parser(PROG, __doc__)
    ap.add_argument("label", help="the try's name: its folder is <run folder>/explore/<label>/")
    ap.add_argument("settings", nargs="*", help="key=value changes to the run's distillation params")
    ap.add_argument("--objective", default="adist", choices=[*ATTENTION_OBJECTIVES, PERPLEXITY_OBJECTIVE])
    ap.add_argument("--teacher", default="finetuned", help="finetuned (default), offtheshelf, random...")
    ap.add_argument("--targets", type=Path, help="a dump to read instead of the teacher's own")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N training questions")
    ap.add_argument("--answered-only", action="store_true", help="only questions with an answer among N")
    ap.add_argument("--out", type=Path, help="the try's folder (default <run folder>/explore/<label>)")
    args = ap.parse_args(argv)
    run = RunFolder.from_args(PROG, args)
    config = run.config()
    out = args.out or run.root / "explore" / args.label
    out.mkdir(parents=True, exist_ok=True)
    params = override(rule_params(config, args.objective, args.teacher, run.seed, out), args.settings)
    initial = run.replicate / "retrieve" / INITIAL
    retriever = run.need(run.root / "resources/models" / config["retriever"]["model"], "fetch_model")
    train = run.need(initial / "train.jsonl", "retrieve_initial")
    answered = params["candidates"] if args.answered_only else None
    inp = {
        "retriever": str(retriever),
        "train": str(training_questions(train, out, args.skip, answered)),
        "dev": str(run.need(initial / "dev.jsonl", "retrieve_initial")),
    }
    targets = args.targets or teacher_targets(run, args.objective, args.teacher)
    if targets is not None:
        inp["targets"] = str(first_candidates(run.need(targets, "a dump"), int(params["candidates"]), out))
    outputs = {"query_encoder": str(out / "query_encoder"), "curve": str(out / "curve.tsv")}
    if params["mode"] == "both":
        outputs["passage_encoder"] = str(out / "passage_encoder")
    else:
        inp["vectors"] = str(run.need(run.replicate / "encode/initial/candidates.npz", "candidate_vectors"))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    try:
        distill.distill_retriever(inp, outputs, params)
    except ValueError as e:  # a setting the stage refuses, named by its config key
        raise stop(PROG, str(e).splitlines()[0]) from None
    table = markdown_table(HEADER, [row(args.label, out, PROG)])
    changed = " ".join(args.settings) or "the run's settings"
    (out / "result.md").write_text(f"{changed}\n\n{table}\n")
    print(f"{run.replicate}, {args.objective} from {args.teacher}: {changed}")
    print(f"{table}\n{time.perf_counter() - start:.0f} s; in {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
