"""Stage ``sweep``: does each indicator rank teachers of varying quality as their gains do?

``grid.teachers`` lists readers by fine-tuning steps (0: off the shelf). Each is dumped, its
indicators computed and an ADist retriever distilled from it (the usual rules). This stage
compares, per seed, each teacher's indicators (PAT_TN at the middle N, mean MQ, mean near-far
distance measure) with the test HR@5 gain of its retriever over the initial one (paired per
question, with a bootstrap interval), and gives the Spearman correlation across teachers.

The control teachers (``grid.controls``) stand beside the sweep, outside its correlations: the
``uniform`` one (equal targets; no indicators) and the ``random`` one (a randomly initialised
reader, with its indicators), each with its retriever's HR@5 gain. It writes ``sweep.json``
(``{"rows": [...], "controls": [...], "indicators": [...], "spearman": {indicator: {seed:
rho}}, "ranks_agree": {indicator: sentence}}``) and the figure ``sweep.png``/``.pdf``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .files import read_json, read_jsonl, write_json
from .metrics import question_hits
from .plots import save_figure
from .settings import config_key, from_params
from .stats import Bootstrap, paired, spearman

log = logging.getLogger(__name__)


def hr5(path: str) -> dict[str, int]:
    return {str(ex["id"]): question_hits(ex, [5])["hr@5"] for ex in read_jsonl(path)}


def indicator_names(top_n: list[str]) -> list[str]:
    return [f"PAT_T{top_n[len(top_n) // 2]}", "MQ", "near-far"]


def indicator_values(ind: dict | None, top_n: list[str]) -> dict[str, float | None]:
    """The indicators the sweep ranks teachers by, from a reader's indicators.json (none: all None)."""
    if ind is None:
        return dict.fromkeys(indicator_names(top_n))
    n_mid = top_n[len(top_n) // 2]
    nf = [v for v in ind["per_example"]["near_far"] if v is not None]
    return {
        f"PAT_T{n_mid}": ind["pat"][n_mid],
        "MQ": ind["mq_mean"],
        "near-far": float(np.mean(nf)) if nf else None,
    }


def agreement(rhos: dict[int, float | None]) -> str:
    """In words: in how many seeds the indicator orders the teachers exactly as the gains do."""
    vals = [v for v in rhos.values() if v is not None]
    same = sum(v >= 1 - 1e-9 for v in vals)
    pos = sum(v > 0 for v in vals)
    return (
        f"Same order as the gains in {same} of {len(rhos)} seeds; positive correlation in {pos} of "
        f"{len(rhos)}."
    )


@dataclass(frozen=True)
class SweepSettings:
    """The sweep's teachers (``rows``: seed, teacher, steps), ``indicators.top_n``, ``report``."""

    SECTION: ClassVar[str] = "grid."

    rows: list = config_key(None)
    controls: list = config_key(None)
    seeds: list = config_key("seeds")  # the order of the ``initial`` and ``control_indicators`` inputs
    top_n: list = config_key("indicators.top_n")
    bootstrap: Bootstrap = config_key("report")
    dpi: int = config_key("figures.dpi")


def teacher_sweep(inp: dict, out: dict, params: dict) -> None:
    """Each teacher's indicators against its ADist retriever's HR@5 gain; Spearman per seed."""
    s = from_params(SweepSettings, params)
    opts = s.bootstrap.options()
    top_n = [str(n) for n in s.top_n]
    # each seed's replicate has its own test questions and initial retriever
    initial = {int(sd): hr5(path) for sd, path in zip(s.seeds, inp["initial"], strict=True)}
    rows = []
    for spec, retrieved, ind_path in zip(s.rows, inp["retrieved"], inp["indicators"], strict=True):
        gain = paired(hr5(retrieved), initial[int(spec["seed"])], **opts)
        values = indicator_values(read_json(ind_path), top_n)
        rows.append(
            {
                **spec,
                "gain": gain.diff,
                "lo": gain.lo,
                "hi": gain.hi,
                "n": gain.n,
                **values,
            }
        )
    names = indicator_names(top_n)
    # the random reader dumped on each seed's own questions: one indicators file per seed
    random_ind = {
        int(sd): read_json(path) for sd, path in zip(s.seeds, inp.get("control_indicators", []), strict=False)
    }
    controls = []
    for spec, retrieved in zip(s.controls, inp.get("controls", []), strict=True):
        gain = paired(hr5(retrieved), initial[int(spec["seed"])], **opts)
        ind = random_ind.get(int(spec["seed"])) if spec["teacher"] == "random" else None
        controls.append({**spec, "gain": gain.diff, "lo": gain.lo, "hi": gain.hi, "n": gain.n})
        controls[-1].update(indicator_values(ind, top_n))
    seeds = sorted({r["seed"] for r in rows})
    rho = {
        name: {
            s: spearman(
                [r["gain"] for r in rows if r["seed"] == s and r[name] is not None],
                [r[name] for r in rows if r["seed"] == s and r[name] is not None],
            )
            for s in seeds
        }
        for name in names
    }
    write_json(
        out["sweep"],
        {
            "rows": rows,
            "controls": controls,
            "indicators": names,
            "spearman": {k: {str(s): v for s, v in d.items()} for k, d in rho.items()},
            "ranks_agree": {k: agreement(d) for k, d in rho.items()},
        },
    )
    _plot(rows, controls, names, rho, out, s.dpi)
    log.info("sweep: %d rows, %d controls; Spearman %s", len(rows), len(controls), rho)


def _plot(rows: list[dict], controls: list[dict], names: list[str], rho: dict, out: dict, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for s in sorted({r["seed"] for r in rows}):
            pts = [r for r in rows if r["seed"] == s and r[name] is not None]
            x = [r[name] for r in pts]
            y = [r["gain"] for r in pts]
            err = [[r["gain"] - r["lo"] for r in pts], [r["hi"] - r["gain"] for r in pts]]
            ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, label=f"seed {s}")
            for r in pts:
                ax.annotate(
                    str(r["steps"]),
                    (r[name], r["gain"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        for c in controls:
            if c[name] is not None:
                ax.errorbar(
                    [c[name]],
                    [c["gain"]],
                    yerr=[[c["gain"] - c["lo"]], [c["hi"] - c["gain"]]],
                    fmt="x",
                    color="black",
                    capsize=3,
                )
                ax.annotate(
                    c["teacher"], (c[name], c["gain"]), fontsize=7, xytext=(3, -8), textcoords="offset points"
                )
            else:
                ax.axhline(c["gain"], color="black", lw=0.6, ls=":")
        ax.axhline(0, color="grey", lw=0.5)
        vals = ", ".join("-" if v is None else f"{v:+.2f}" for v in rho[name].values())
        ax.set_title(f"{name} (Spearman per seed: {vals})", fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylabel("test HR@5 gain over the initial retriever")
    if rows:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "Teacher-quality sweep (labels: fine-tuning steps; x: the random control; dotted: the uniform one)",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, {"sweep": out["png"], "sweep_pdf": out["sweep_pdf"]}, "sweep", dpi)
    plt.close(fig)
