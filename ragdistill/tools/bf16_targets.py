"""Whether a bfloat16 attention dump keeps a run's ADist targets, and what it costs, on this
machine: the run's teacher dumped again in float32 and in bfloat16, side by side.

    python -m ragdistill.tools.bf16_targets <run folder> [--reader finetuned-s0] [--questions 100]

Why: ``model_jobs.precision: auto`` computes the reader's passes in bfloat16 wherever the GPU or
the CPU has bf16 units, and the targets a retriever learns from must not change with it. Each
ADist variant of the bf16 dump is compared with the float32 one question by question: the same top
document, the Spearman correlation over the candidates (ties everywhere count as the same order),
the largest relative difference of a target. Both dumps are timed whole (model loading included),
one after the other in one process (``--rounds``: each precision that many times, in turn, the
best of each compared), so that their ratio does not depend on what the machine did another day;
on a CPU without bf16 units (``models.cpu_has_bf16``) torch emulates the products and the bf16
dump is several times slower. The float32 dump is also checked against the dump the
workflow made (``results/<run>/s<seed>/attention/<reader>/train.npz``). Every other setting of the
dump is the run's (its resolved config); the first ``--questions`` dumped training questions.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ragdistill.analysis.stats import spearman
from ragdistill.core import grid
from ragdistill.core.names import ATTENTION_OBJECTIVES, FINE_TUNED, INITIAL
from ragdistill.core.settings import params_of
from ragdistill.core.stage_settings import DumpSettings
from ragdistill.data.dumps import load_dump
from ragdistill.stages import attention
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.bf16_targets"
PRECISIONS = ("float32", "bfloat16")


def dump_params(config: dict, questions: int) -> dict:
    """The params the workflow's ``dump_attention`` rule gives the stage (its settings class,
    read from the run's config), for the first ``questions`` training questions; the precision
    is the caller's."""
    return params_of(DumpSettings, config, unread=("precision",), max_questions=questions)


def agreement(x: np.ndarray, y: np.ndarray) -> list[str]:
    """Same top document, Spearman mean (min) and the largest relative difference, y against x."""
    rho = []
    for a, b in zip(x, y, strict=True):
        r = spearman(a, b)
        rho.append(r if r is not None else float(np.array_equal(np.argsort(a), np.argsort(b))))
    rel = np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-12))
    top = (x.argmax(1) == y.argmax(1)).mean()
    return [f"{top:.2f}", f"{np.mean(rho):.3f} ({np.min(rho):.2f})", f"{rel:.2g}"]


def main(argv: list[str] | None = None) -> None:
    ap = parser(PROG, __doc__)
    ap.add_argument("--reader", help="the teacher reader (default: the seed's fine-tuned reader)")
    ap.add_argument("--questions", type=int, default=100, help="the first n dumped questions (0: all)")
    ap.add_argument("--rounds", type=int, default=1, help="dump in each precision this many times, in turn")
    ap.add_argument("--out", type=Path, help="keep the two dumps in this folder (default: a temporary one)")
    args = ap.parse_args(argv)
    run = RunFolder.from_args(PROG, args)
    config = run.config()
    reader = args.reader or grid.teacher_reader(FINE_TUNED, run.seed)
    made = load_dump(str(run.need(run.replicate / "attention" / reader / "train.npz", "dump_attention")))
    n = min(args.questions or len(made["ids"]), len(made["ids"]))
    inp = {
        "model": str(run.reader_model(reader, config)),
        "retrieved": str(run.need(run.replicate / "retrieve" / INITIAL / "train.jsonl", "retrieve_initial")),
    }
    params = dump_params(config, n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        dumps, seconds = {}, {p: [] for p in PRECISIONS}
        for _ in range(args.rounds):
            for precision in PRECISIONS:
                path = folder / f"{precision}.npz"
                start = time.perf_counter()
                attention.dump_attention(inp, {"dump": str(path)}, {**params, "precision": precision})
                seconds[precision].append(time.perf_counter() - start)
                dumps[precision] = load_dump(str(path))
    fp32, bf16 = dumps["float32"], dumps["bfloat16"]
    if not fp32["ids"].tolist() == made["ids"][:n].tolist() == bf16["ids"].tolist():
        raise stop(
            PROG,
            f"the dumps' questions are not the workflow dump's first {n}: was it made by other settings?",
        )
    ours, theirs = fp32["scores_adist"], made["scores_adist"][:n]
    same = np.allclose(ours, theirs, rtol=2e-3, atol=1e-6)
    times = {p: ", ".join(f"{t:.1f}" for t in seconds[p]) for p in PRECISIONS}
    ratio = min(seconds["float32"]) / min(seconds["bfloat16"])
    print(
        f"{run.replicate}: reader {reader}, {n} training questions; seconds a dump: float32 "
        f"{times['float32']}, bfloat16 {times['bfloat16']} (bf16 {ratio:.2f}x float32's speed, best of each)"
    )
    print(
        f"the float32 dump {'equals' if same else 'differs from'} the workflow's (model_jobs.precision: "
        f"{config['model_jobs']['precision']}; largest difference {np.max(np.abs(ours - theirs)):.2g})"
    )
    rows = [[v, *agreement(fp32[f"scores_{v}"], bf16[f"scores_{v}"])] for v in ATTENTION_OBJECTIVES]
    header = ["variant", "same top document", "Spearman mean (min)", "largest relative difference"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
