"""Stage ``sweep``: does each indicator rank teachers of varying quality as their gains do?

``grid.teachers`` lists readers by fine-tuning steps (0: off the shelf). Each is dumped, its
indicators computed and an ADist retriever distilled from it (the usual rules). This stage
compares, per seed, each teacher's indicators (PAT_TN at the middle N, mean MQ, mean near-far
distance measure) with the test HR@5 gain of its retriever over the initial one (paired per
question, exact interval), at the step selection kept and at the fixed (last) step. Across
teachers, per seed: Spearman's rho and Kendall's tau between each indicator (PAT_TN for every N,
MQ, near-far) and the fixed-step gain, with a bootstrap interval that resamples the test
questions and the dumped examples together (``stats.rank_correlation``; ``docs/method.md``,
"Do the indicators rank teachers"). An indicator ranks the teachers when its rho's interval lies
above 0 in every seed. On real text (questions with an article) every interval here is
two-stage: articles, then questions or examples within them, as in the claims check.

The control teachers (``grid.controls``) stand beside the sweep, outside its correlations: the
``uniform`` one (equal targets; no indicators) and the ``random`` one (a randomly initialised
reader, with its indicators), each with its retriever's HR@5 gain. It writes ``sweep.json``
(``{"rows": [...], "controls": [...], "indicators": [...], "spearman": {indicator: {seed:
rho}}, "ranks_agree": {indicator: sentence}, "correlations": {indicator: {seed: {"spearman":
interval, "kendall": interval}}}, "ranks_teachers": {indicator: bool}}``) and the figure
``sweep.png``/``.pdf``.
"""

from __future__ import annotations

import logging

import numpy as np

from ragdistill.analysis.claims import reader_measures
from ragdistill.analysis.metrics import hits_by_question
from ragdistill.analysis.plots import save_figure
from ragdistill.analysis.stats import bootstrap_mean, cluster_groups, paired, rank_correlation, spearman
from ragdistill.core.files import read_json, read_jsonl, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import SweepSettings
from ragdistill.data.articles import article_clusters
from ragdistill.data.dumps import kept_step

log = logging.getLogger(__name__)


def hr5(path: str) -> dict[str, int]:
    return hits_by_question(read_jsonl(path), [5])["hr@5"]


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


def example_values(ind: dict, measure: str) -> dict[str, float | None]:
    """One indicator per dumped example (id -> value; None where undefined): ``PAT_T<N>``, ``MQ``
    or ``near-far``."""
    key = {"MQ": "mq", "near-far": "near_far"}.get(measure) or f"pat@{measure.removeprefix('PAT_T')}"
    return reader_measures(ind)[key]


def rank_correlations(
    rows: list[dict],
    fixed: list[dict],
    initial: dict,
    inds: list[dict],
    names: list[str],
    opts: dict,
    clusters: dict[str, str] | None = None,
) -> dict[str, dict[str, dict]]:
    """indicator -> seed -> {"spearman", "kendall"}: each a correlation across the seed's teachers
    between the indicator and the fixed-step HR@5 gain, with its joint bootstrap interval
    (two-stage on each side where ``clusters`` maps question ids to articles: real text)."""
    out: dict[str, dict[str, dict]] = {name: {} for name in names}
    for sd in sorted({int(r["seed"]) for r in rows}):
        pick = [i for i, r in enumerate(rows) if int(r["seed"]) == sd]
        base = initial[sd]
        questions = list(base)
        gains = np.array([[fixed[i][q] - base[q] for q in questions] for i in pick], dtype=np.float64)
        question_groups = cluster_groups(questions, clusters)
        for name in names:
            per = [example_values(inds[i], name) for i in pick]
            ids = list(per[0])
            x = np.array([[np.nan if p.get(e) is None else p[e] for e in ids] for p in per], dtype=np.float64)
            both = opts
            if clusters is not None:
                both = {
                    **opts,
                    "question_clusters": question_groups,
                    "example_clusters": cluster_groups(ids, clusters),
                }
            out[name][str(sd)] = {
                m: rank_correlation(gains, x, m, **both).as_dict() for m in ("spearman", "kendall")
            }
    return out


def ranks_teachers(per_seed: dict[str, dict]) -> bool:
    """An indicator ranks the teachers when its Spearman interval lies above 0 in every seed."""
    return bool(per_seed) and all(
        v["spearman"]["lo"] is not None and v["spearman"]["lo"] > 0 for v in per_seed.values()
    )


def agreement(rhos: dict[int, float | None]) -> str:
    """In words: in how many seeds the indicator orders the teachers exactly as the gains do."""
    vals = [v for v in rhos.values() if v is not None]
    same = sum(v >= 1 - 1e-9 for v in vals)
    pos = sum(v > 0 for v in vals)
    return (
        f"Same order as the gains in {same} of {len(rhos)} seeds; positive correlation in {pos} of "
        f"{len(rhos)}."
    )


def _gain(retrieved: dict, initial: dict, opts: dict, prefix: str = "") -> dict:
    """The paired gain over the initial retrieval (``opts`` may hold the questions' ``clusters``)."""
    g = paired(retrieved, initial, **opts)
    return {f"{prefix}gain": g.diff, f"{prefix}lo": g.lo, f"{prefix}hi": g.hi, f"{prefix}n": g.n}


def _row(spec: dict, retrieved: str, base: dict, ind: dict | None, top_n: list[str], opts: dict) -> dict:
    """One teacher's or control's row: its HR@5 gain at the kept step over its seed's initial
    retrieval (``base``), and its indicators (None without a reader)."""
    return {**spec, **_gain(hr5(retrieved), base, opts), **indicator_values(ind, top_n)}


def _beside(row: dict, i: int, kept: list[int], fixed: list[dict], base: dict, opts: dict) -> None:
    """Add the row's kept step and its gain at the fixed (last) step, where the workflow gave them."""
    if kept:
        row["kept_step"] = kept[i]
    if fixed:
        row |= _gain(fixed[i], base, opts, "last_")


def teacher_sweep(inp: dict, out: dict, params: dict) -> None:
    """Each teacher's indicators against its ADist retriever's HR@5 gain (kept and fixed step);
    Spearman and Kendall across teachers per seed, with joint bootstrap intervals."""
    s = from_params(SweepSettings, params)
    # on real text every interval resamples articles, then questions (examples) within them
    clusters = article_clusters(list(inp.get("questions", [])))
    opts = s.bootstrap.options()
    gain_opts = opts if clusters is None else {**opts, "clusters": clusters}
    top_n = [str(n) for n in s.top_n]
    # each seed's replicate has its own test questions and initial retriever
    initial = {int(sd): hr5(path) for sd, path in zip(s.seeds, inp["initial"], strict=True)}
    fixed_hits = [hr5(p) for p in inp.get("fixed", [])]
    inds = [read_json(p) for p in inp["indicators"]]
    rows = []
    kept = [kept_step(d) for d in inp.get("encoders", [])]
    for i, (spec, retrieved) in enumerate(zip(s.rows, inp["retrieved"], strict=True)):
        base = initial[int(spec["seed"])]
        row = _row(spec, retrieved, base, inds[i], top_n, gain_opts)
        _beside(row, i, kept, fixed_hits, base, gain_opts)
        if fixed_hits:  # the indicators' own intervals, for the figure's x error bars
            for name in indicator_names(top_n):
                values = example_values(inds[i], name)
                iv = bootstrap_mean(list(values.values()), **opts, clusters=cluster_groups(values, clusters))
                row[f"{name}_lo"], row[f"{name}_hi"] = iv.lo, iv.hi
        rows.append(row)
    names = indicator_names(top_n)
    # the random reader dumped on each seed's own questions: one indicators file per seed
    random_ind = {
        int(sd): read_json(path) for sd, path in zip(s.seeds, inp.get("control_indicators", []), strict=False)
    }
    controls = []
    fixed_controls = [hr5(p) for p in inp.get("controls_fixed", [])]
    kept_controls = [kept_step(d) for d in inp.get("controls_encoders", [])]
    for i, (spec, retrieved) in enumerate(zip(s.controls, inp.get("controls", []), strict=True)):
        base = initial[int(spec["seed"])]
        ind = random_ind.get(int(spec["seed"])) if spec["teacher"] == "random" else None
        controls.append(_row(spec, retrieved, base, ind, top_n, gain_opts))
        _beside(controls[-1], i, kept_controls, fixed_controls, base, gain_opts)
    seeds = sorted({r["seed"] for r in rows})
    # the kept step's description: a teacher whose distillation kept step 0 has no measured gain
    measured = [r for r in rows if r.get("kept_step") != 0]
    rho = {
        name: {
            s: spearman(
                [r["gain"] for r in measured if r["seed"] == s and r[name] is not None],
                [r[name] for r in measured if r["seed"] == s and r[name] is not None],
            )
            for s in seeds
        }
        for name in names
    }
    every = [f"PAT_T{n}" for n in top_n] + ["MQ", "near-far"]
    corr = {}
    if rows and fixed_hits:
        corr = rank_correlations(rows, fixed_hits, initial, inds, every, opts, clusters)
    write_json(
        out["sweep"],
        {
            "rows": rows,
            "controls": controls,
            "indicators": names,
            "spearman": {k: {str(s): v for s, v in d.items()} for k, d in rho.items()},
            "ranks_agree": {k: agreement(d) for k, d in rho.items()},
            "correlations": corr,
            "ranks_teachers": {k: ranks_teachers(v) for k, v in corr.items()},
        },
    )
    if "png" in out:  # drawn only with two teachers per seed or more (grid.Grid.sweep_figure)
        _plot(rows, controls, names, corr, out, s.dpi)
    log.info("sweep: %d rows, %d controls; Spearman %s", len(rows), len(controls), rho)


def _plot(rows: list[dict], controls: list[dict], names: list[str], corr: dict, out: dict, dpi: int) -> None:
    """One panel per indicator: each teacher's indicator (x, with its interval where known)
    against its retriever's HR@5 gain at the fixed step (y; the kept step's when no fixed step
    was evaluated), one colour per teacher named in a legend beside the panels (labels written on
    the points overlapped where teachers teach alike) and one marker per seed; the controls at
    their gain of the same step; rho per seed with its interval in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "last_" if rows and "last_gain" in rows[0] else ""
    labels = list(dict.fromkeys(_label(r) for r in rows))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    colour = {label: cmap(i % cmap.N) for i, label in enumerate(labels)}
    seeds = sorted({r["seed"] for r in rows})
    marker = {sd: m for sd, m in zip(seeds, "osD^v<>", strict=False)}
    width = 3.6 * len(names) + 1.7  # the panels, and 1.7 inches for the legend beside them
    fig, axes = plt.subplots(1, len(names), figsize=(width, 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for r in rows:
            if r[name] is None:
                continue
            xerr = None
            if r.get(f"{name}_lo") is not None and r.get(f"{name}_hi") is not None:
                # clipped at 0: a constant indicator's interval differs from its mean in the last bit
                xerr = [[max(0.0, r[name] - r[f"{name}_lo"])], [max(0.0, r[f"{name}_hi"] - r[name])]]
            g = r[f"{key}gain"]
            ax.errorbar(
                [r[name]],
                [g],
                yerr=[[g - r[f"{key}lo"]], [r[f"{key}hi"] - g]],
                xerr=xerr,
                fmt=marker.get(r["seed"], "o"),
                color=colour[_label(r)],
                capsize=2,
                lw=0.8,
            )
        for c in controls:
            g = c.get(f"{key}gain", c["gain"])  # the controls at the teachers' step
            lo, hi = c.get(f"{key}lo", c["lo"]), c.get(f"{key}hi", c["hi"])
            if c[name] is not None:
                ax.errorbar(
                    [c[name]], [g], yerr=[[g - lo], [hi - g]], fmt="x", color="black", capsize=2, lw=0.8
                )
            else:
                ax.axhline(g, color="black", lw=0.6, ls=":")
        ax.axhline(0, color="grey", lw=0.5)
        # one line per seed: several seeds' intervals on one line ran into the next panel's title
        rho = _rho_text(corr.get(name, {}), sep="\n")
        ax.set_title(f"{name}: {rho}", fontsize=8)
        ax.set_xlabel(name)
    step = "last step" if key else "kept step"
    axes[0][0].set_ylabel(f"test HR@5 gain, {step}")
    handles = [plt.Line2D([], [], color=colour[lb], marker="o", ls="", label=lb) for lb in labels]
    if len(seeds) > 1:
        handles += [
            plt.Line2D([], [], color="black", mfc="none", marker=marker[sd], ls="", label=f"seed {sd}")
            for sd in seeds
        ]
    drawn = {c["teacher"] for c in controls}
    if "random" in drawn:
        handles += [plt.Line2D([], [], color="black", marker="x", ls="", label="random (control)")]
    if "uniform" in drawn:
        handles += [plt.Line2D([], [], color="black", ls=":", lw=0.6, label="uniform (control)")]
    fig.legend(handles=handles, fontsize=7, loc="center right", frameon=False)
    fig.suptitle(
        f"Teachers: each one's indicator against its retriever's test HR@5 gain at the {step} "
        "(95% intervals)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / width, 1))
    save_figure(fig, {"sweep": out["png"], "sweep_pdf": out["sweep_pdf"]}, "sweep", dpi)
    plt.close(fig)


def _label(row: dict) -> str:
    """How the figure names a teacher: its sweep label, or its fine-tuning steps."""
    return str(row.get("label", row.get("steps")))


def _rho_text(per_seed: dict, sep: str = "; ") -> str:
    """Spearman per seed with its interval, for a panel title; says so when there is none (fewer
    than three teachers in a seed), so that a title never ends empty; ``sep`` between seeds."""
    if not per_seed:
        return "no rank correlation (fewer than three teachers)"
    parts = []
    for sd, v in per_seed.items():
        sp = v["spearman"]
        if sp["diff"] is None:
            parts.append(f"seed {sd}: undefined")
        elif sp["lo"] is None:
            parts.append(f"seed {sd}: {sp['diff']:+.2f}")
        else:
            parts.append(f"seed {sd}: {sp['diff']:+.2f} [{sp['lo']:+.2f}, {sp['hi']:+.2f}]")
    return "rho " + sep.join(parts)
