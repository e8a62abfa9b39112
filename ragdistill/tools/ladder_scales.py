"""The ladder's noise scales, chosen on dev by the rule of docs/method.md ("The teacher ladder").

    python -m ragdistill.tools.ladder_scales <run folder> [--run R] [--seed S]

Why: the ladder's rungs must teach from about nothing up to the best teacher in even steps, and
which noise scales do that can only be seen by distilling. The scan (``config/ladder-scan.yaml``,
distillations only) distills a noise rung per scale; this reads each rung's dev gain (dev HR@5 at
the last step minus step 0, from ``curve.tsv``) and the fine-tuned teacher's, G, and takes the
scales whose gains are nearest to 0.8 G, 0.6 G, 0.4 G, 0.2 G and 0, each target in turn taking
the nearest scale not yet taken (a tie goes to the smaller scale). Dev data only: no test number
is read. Prints every rung's dev gain and the chosen ``ladder.noise``; stops with one line where
G is not above 0 (nothing to spread the rungs over) or fewer than five rungs were distilled.
"""

from __future__ import annotations

import re
import sys

from ragdistill.core import grid
from ragdistill.core.names import FINE_TUNED
from ragdistill.tools.distillations import evaluated
from ragdistill.tools.run_folder import RunFolder, markdown_table, parser, stop

PROG = "python -m ragdistill.tools.ladder_scales"
TARGETS = (0.8, 0.6, 0.4, 0.2, 0.0)  # fractions of the fine-tuned teacher's dev gain


def dev_gain(points: list[dict]) -> float:
    """Dev HR@5 at the last evaluated step minus step 0 (the fixed-step rule: no selection)."""
    return points[-1]["dev_hr5"] - points[0]["dev_hr5"]


def choose(gains: dict[float, float], best: float, targets: tuple[float, ...] = TARGETS) -> list[float]:
    """Scales (keys of ``gains``: scale -> dev gain) nearest to each ``target * best`` in turn,
    each scale taken once, ties to the smaller scale; returned in increasing scale."""
    left, chosen = dict(gains), []
    for t in targets:
        if not left:
            break
        # distances rounded: dev HR@5 values are multiples of 1/n, so two rungs equally far from a
        # target must tie, not be ordered by floating-point rounding
        scale = min(left, key=lambda s: (round(abs(left[s] - t * best), 9), s))
        chosen.append(scale)
        del left[scale]
    return sorted(chosen)


def main(argv: list[str] | None = None) -> None:
    args = parser(PROG, __doc__).parse_args(argv)
    run = RunFolder.from_args(PROG, args)
    seed = args.seed
    folder = run.replicate / "distill"
    best_curve = folder / f"adist-{FINE_TUNED}-s{seed}" / "curve.tsv"
    best = dev_gain(evaluated(run.need(best_curve, "distill_retriever for the fine-tuned teacher")))
    if best <= 0:
        raise stop(
            PROG,
            f"{best_curve}: the fine-tuned teacher's dev gain is {best:+.3f}; with nothing to spread "
            "the rungs between, the rule chooses no scales (this world's distillation does not teach)",
        )
    gains = {}
    for name in run.distilled():
        rung = re.fullmatch(rf"adist-(nz\d+)-s{seed}", name)  # a scan's rung, not a curve subset
        if rung:
            gains[grid.noise_scale(rung.group(1))] = dev_gain(evaluated(folder / name / "curve.tsv"))
    if len(gains) < len(TARGETS):
        raise stop(PROG, f"{folder}: {len(gains)} noise rungs distilled; the rule takes {len(TARGETS)}")
    chosen = choose(gains, best)
    rows = [
        [f"{s:g}", f"{g:+.3f}", f"{g / best:.2f}" if best else "-", "yes" if s in chosen else ""]
        for s, g in sorted(gains.items())
    ]
    print(f"fine-tuned teacher's dev gain G = {best:+.3f} ({best_curve})")
    print(markdown_table(["noise scale", "dev gain", "of G", "chosen"], rows))
    print(f"ladder:\n  noise: [{', '.join(f'{s:g}' for s in chosen)}]")


if __name__ == "__main__":
    main(sys.argv[1:])
