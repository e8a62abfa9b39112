"""Stage ``report``: the grid table, the claims check and ``report.md``.

The claims check compares our own runs with each other (the paper's tables are not available):
every comparison is paired per test question or per dumped example, exact for binary measures and
bootstrap for continuous ones (``ragdistill/analysis/claims.py`` holds the rules; ``docs/method.md`` writes
them out). The grid shows each cell's mean and standard deviation over seeds. The fixed-step
table shows what each teacher's targets did to a retriever at its last step, beside the step the
selection kept.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ragdistill.analysis import claims as claims_check
from ragdistill.analysis.claims import claims_table, seed_texts
from ragdistill.analysis.forest import draw_forest, runs_rows
from ragdistill.analysis.hr_at_k import draw_hr_at_k, hr_at_k_curves, interval_label
from ragdistill.analysis.latex import claims_tex, grid_tex
from ragdistill.analysis.metrics import hits_by_question
from ragdistill.analysis.stats import mean_sd, paired
from ragdistill.core import provenance
from ragdistill.core.files import read_json, read_jsonl, write_json, write_text
from ragdistill.core.grid import reader_label, split_seed
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import AcrossRunsSettings, ReportSettings
from ragdistill.data.articles import article_clusters
from ragdistill.data.dumps import kept_step

log = logging.getLogger(__name__)
METRICS = ["hr@1", "hr@5", "hr@10", "hr@20", "gold_recall@5", "em", "f1"]


def load_grid(cells: list[dict], paths: list[str]) -> list[dict]:
    rows = []
    for cell, path in zip(cells, paths, strict=True):
        m = read_json(path)
        rows.append({**cell, **{k: m.get(k) for k in METRICS}, "n": m.get("n")})
    return rows


def grid_summary(rows: list[dict]) -> tuple[list[str], list[tuple[str, str, int, list[np.ndarray]]]]:
    """The grid's measured columns, and per (retriever kind, reader kind) in first-seen order its
    number of seeds and each column's values over them (one array per column, empty where not
    measured)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["retriever_kind"], r["reader_kind"]), []).append(r)
    cols = [m for m in METRICS if any(r.get(m) is not None for r in rows)]
    out = []
    for (ret, rea), rs in groups.items():
        out.append(
            (
                ret,
                rea,
                len(rs),
                [np.array([r[c] for r in rs if r.get(c) is not None], dtype=float) for c in cols],
            )
        )
    return cols, out


def grid_table(rows: list[dict]) -> tuple[str, str]:
    """CSV and Markdown of the grid: one line per (retriever kind, reader kind), mean ± sd over seeds."""
    cols, groups = grid_summary(rows)
    csv = ["retriever,reader,seeds," + ",".join(f"{c}_mean,{c}_sd" for c in cols)]
    md = ["| retriever | reader | seeds | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for ret, rea, n, values in groups:
        stats = [mean_sd(v) for v in values]
        csv.append(f"{ret},{rea},{n}," + ",".join(f"{m:.4f},{sd:.4f}" for m, sd in stats))
        cells = [
            f"{m:.3f}" + (f" ± {sd:.3f}" if len(v) > 1 else "")
            for (m, sd), v in zip(stats, values, strict=True)
        ]
        md.append(f"| {ret} | {rea} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(csv) + "\n", "\n".join(md) + "\n"


def rst_text(text: str) -> str:
    """``text`` as literal RST: markup characters escaped, and "1. ..." kept from becoming a list."""
    for ch in "\\*`_|":
        text = text.replace(ch, "\\" + ch)
    return re.sub(r"^(\w+)\.", r"\1\\.", text)


def rst_table(header: list[str], rows: list[list[str]], widths: str = "auto") -> list[str]:
    """An RST ``list-table``: cells hold any text (escaped), no column alignment to keep."""
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        lines += [f"   * - {rst_text(row[0])}", *(f"     - {rst_text(cell)}" for cell in row[1:])]
    return lines + [""]


# the HTML report's landing page sets the workflow description (and this page, included in it)
# in a column of at most 32rem (Snakemake 9's template: Tailwind's "prose prose-sm max-w-lg")
# beside the rule graph; a wider table runs under the graph. So the page's tables keep to a few
# short columns, and longer texts are paragraphs, which wrap.
FRONT_PAGE_GRID = ["hr@5", "em"]


def front_page(run: str, items: list[dict], rows: list[dict], origin: str = "") -> str:
    """RST for the HTML report's first page: each claim's verdict, then its measurements per seed
    as a paragraph, and the grid's HR@5 and EM (every column: ``report.md``, ``grid.csv``).

    ``workflow/report/workflow.rst`` includes this file (docutils ``include``) when the report
    holds it, so ``snakemake --report`` opens on the study's answer rather than on a pointer to
    ``report.md``.
    """
    title = f"Claims check, run ``{run}``"
    lines = [title, "~" * len(title), ""]
    lines += rst_table(
        ["claim", "held in seeds", "verdict"],
        [[c["claim"], str(c["seeds_held"]), c["verdict"]] for c in items],
        widths="60 15 25",
    )
    lines += ["Measured per seed (mean difference [95% interval] (n)):", ""]
    for c in items:
        lines += [f"- {rst_text(c['claim'].split('.')[0])}: {rst_text('; '.join(seed_texts(c)))}"]
    lines += [""]
    sub = f"Evaluation grid, run ``{run}``"
    lines += [sub, "~" * len(sub), ""]
    cols, groups = grid_summary(rows)
    keep = [i for i, c in enumerate(cols) if c in FRONT_PAGE_GRID]
    table = []
    for ret, rea, _, values in groups:
        cells = []
        for i in keep:
            mean, sd = mean_sd(values[i])
            cells.append(f"{mean:.3f}" + (f" ± {sd:.3f}" if len(values[i]) > 1 else ""))
        table.append([ret, rea, *cells])
    lines += rst_table(["retriever", "reader", *(cols[i].upper() for i in keep)], table)
    lines += [
        "The rules behind each verdict are in the project's ``docs/method.md``. ``report.md`` "
        "(under Report_) adds every HR@k, F1, the indicators, the teacher sweep and the learning "
        "curve; the figures are under Indicators_, Evaluation_, Readers_ and Distillation_.",
        "",
    ]
    if origin:  # the code and config that made it: commit, config digest (Markdown code marks)
        lines += [rst_text(origin.replace("`", "")), ""]
    return "\n".join(lines)


def cell_items(cells: list[dict], paths: list[str]) -> dict[tuple[str, str, int], dict[str, dict]]:
    """(retriever kind, reader kind, seed) -> metric -> {question id: value}, from predictions.jsonl."""
    out = {}
    for cell, path in zip(cells, paths, strict=True):
        rows = read_jsonl(path)
        metrics = {m for r in rows for m in r if m.startswith(("hr@", "gold@")) or m in ("em", "f1")}
        out[(cell["retriever_kind"], cell["reader_kind"], int(cell["seed"]))] = {
            m: {str(r["id"]): r.get(m) for r in rows} for m in metrics
        }
    return out


def reader_items(indicators: dict[tuple[int, str], dict]) -> dict[tuple[int, str], dict[str, dict]]:
    """(seed, reader name) -> measure (pat@N, mq, near_far) -> {example id: value}."""
    return {key: claims_check.reader_measures(ind) for key, ind in indicators.items()}


Selection = dict[tuple[str, int], int]  # (retriever kind, seed) -> the step selection kept


def retrieval_items(path: str) -> dict[str, dict]:
    """metric -> {question id: 0/1} of a test retrieval (HR@1, HR@5), as the grid's cells have them."""
    return hits_by_question(read_jsonl(path), [1, 5])


def by_kind(names: list[str], values: list) -> dict[tuple[str, int], object]:
    """Values keyed by (retriever kind, seed) from distilled retrievers' names (``adist-x-s0``)."""
    out = {}
    for name, v in zip(names, values, strict=True):
        kind, seed = split_seed(name)
        out[(kind, int(seed))] = v
    return out


def selected_steps(names: list[str], encoders: list[str]) -> Selection:
    """(retriever kind, seed) -> the step each distillation kept (its ``ragdistill_retriever.json``)."""
    return by_kind(names, [kept_step(d) for d in encoders])  # type: ignore[return-value]


def make_lookup(cells: dict, readers: dict, fixed: dict | None = None) -> claims_check.Lookup:
    """Resolve a claim's source for a seed: every seed is a replicate with its own cells, readers'
    indicators and ``fixed`` ((retriever kind, seed) -> metric -> items of the fixed-step
    retrievers)."""

    def lookup(source: tuple[str, ...], seed: int) -> dict:
        if source[0] == "cell":
            _, ret, rea, metric = source
            if (ret, rea, seed) not in cells:
                raise KeyError(f"grid has no cell {ret} + {rea} (seed {seed})")
            return cells[(ret, rea, seed)][metric]
        if source[0] == "fixed":
            _, ret, metric = source
            if (ret, seed) not in (fixed or {}):
                raise KeyError(f"no fixed-step retrieval of {ret} (seed {seed})")
            return fixed[(ret, seed)][metric]  # type: ignore[index]
        _, teacher, measure = source
        name = "offtheshelf" if teacher == "offtheshelf" else f"{teacher}-s{seed}"
        return readers[(seed, name)][measure]

    return lookup


def kept_step0(selection: Selection) -> claims_check.KeptStep0:
    """Whether a claim source's distilled retriever kept step 0 (grid cells only: the fixed-step
    retriever is the last step by definition, the initial retriever was never distilled)."""

    def kept(source: tuple[str, ...], seed: int) -> bool:
        return source[0] == "cell" and selection.get((source[1], seed)) == 0

    return kept


def fixed_step_rows(
    names: list[str],
    selection: Selection,
    selected: list[str],
    fixed: dict,
    initial: list[str],
    opts: dict,
) -> list[dict]:
    """Per teacher's retriever: the kept step, the test HR@5 gain over its seed's initial retriever
    (``initial``, one path per name, each read once) of the kept step (not measured, and not read,
    when it is step 0) and of the last step (``fixed``, already read: (kind, seed) -> items), each
    paired per question."""
    bases = {p: retrieval_items(p)["hr@5"] for p in dict.fromkeys(initial)}
    rows = []
    for name, sel_path, base_path in zip(names, selected, initial, strict=True):
        base = bases[base_path]
        kind, seed = split_seed(name)
        step = selection[(kind, int(seed))]
        sel = None if step == 0 else paired(retrieval_items(sel_path)["hr@5"], base, **opts).as_dict()
        last = paired(fixed[(kind, int(seed))]["hr@5"], base, **opts).as_dict()
        rows.append({"retriever": kind, "seed": int(seed), "kept_step": step, "selected": sel, "last": last})
    return rows


def gain_texts(rows: list[dict]) -> dict[str, list[str]]:
    """Per retriever kind (``fixed_step_rows``), each seed's kept-step test HR@5 gain over the
    initial retriever with its interval, as the HR@k figure's legend writes it
    (``hr_at_k.interval_label``: ``s1 +0.042 [+0.025, +0.058]``, or ``step 0 kept``), for the
    LaTeX grid."""
    several = len({r["seed"] for r in rows}) > 1
    out: dict[str, list[str]] = {}
    for r in sorted(rows, key=lambda r: (r["retriever"], r["seed"])):
        out.setdefault(r["retriever"], []).append(interval_label(r, several))
    return out


def fixed_step_section(rows: list[dict], steps: int) -> list[str]:
    """Markdown: what each teacher's targets did to the retriever, at the kept and at the last step."""
    lines = [
        "## Each teacher's retriever at the kept and at the last step",
        "",
        "Test HR@5 minus the initial retriever's, paired per question (exact test on the questions "
        f"won and lost). Kept: the step `distill.select` chose on dev; last: step {steps}, whatever "
        "was kept, so a teacher whose targets harm the retriever shows it here. A kept step 0 is "
        "the initial retriever again: not measured.",
        "",
        "| retriever | seed | kept step | HR@5 gain, kept step | HR@5 gain, last step |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        sel = (
            claims_check.NOT_MEASURED if r["selected"] is None else claims_check.interval_text(r["selected"])
        )
        last = claims_check.interval_text(r["last"])
        lines.append(f"| {r['retriever']} | {r['seed']} | {r['kept_step']} | {sel} | {last} |")
    return lines + [""]


def _sweep_row(r: dict, lead: list, indicators: list[str]) -> str:
    """One sweep or control row: its leading cells, the HR@5 gain with its interval at the kept
    and at the last step, the indicators."""
    g = claims_check.Interval(r["gain"], r["lo"], r["hi"], r["n"]).text()  # sweep.json's own keys
    if r.get("kept_step") == 0:  # the initial retriever again: its gain of 0 is not measured
        g = claims_check.NOT_MEASURED
    last = "-"
    if r.get("last_n") is not None:
        last = claims_check.Interval(r["last_gain"], r["last_lo"], r["last_hi"], r["last_n"]).text()
    values = [f"{r[i]:.3f}" if r[i] is not None else "-" for i in indicators]
    return "| " + " | ".join([*map(str, lead), g, last, *values]) + " |"


def sweep_section(sweep: dict) -> list[str]:
    """The teacher-quality sweep's table and rank correlations, and the controls (sweep.json)."""
    lines = ["## Teacher-quality sweep and controls", ""]
    if sweep["rows"]:
        lines += [
            "Readers by fine-tuning steps, each the teacher of an ADist retriever; gain: test HR@5 of that "
            "retriever minus the initial one, paired per question. Spearman: across teachers, per seed.",
            "",
            "| seed | teacher | rung | HR@5 gain, kept step [95% interval] | HR@5 gain, last step | "
            + " | ".join(sweep["indicators"])
            + " |",
            "|---|---|---|---|---|" + "---|" * len(sweep["indicators"]),
        ]
    lines += [
        _sweep_row(r, [r["seed"], r["teacher"], r.get("label", r.get("steps"))], sweep["indicators"])
        for r in sweep["rows"]
    ]
    lines.append("")
    if sweep.get("controls"):
        lines += [
            "Control teachers, outside the correlations: `uniform` (equal targets over the candidates) and "
            "`random` (a randomly initialised reader of the same architecture, dumped like the others). "
            "Neither carries a reading of the documents; a gain from either is the procedure's, not the "
            "teacher's.",
            "",
            "| seed | control | HR@5 gain, kept step [95% interval] | HR@5 gain, last step | "
            + " | ".join(sweep["indicators"])
            + " |",
            "|---|---|---|---|" + "---|" * len(sweep["indicators"]),
        ]
        lines += [_sweep_row(r, [r["seed"], r["teacher"]], sweep["indicators"]) for r in sweep["controls"]]
        lines.append("")
    for name, per_seed in sweep["spearman"].items() if sweep["rows"] else ():
        vals = ", ".join(f"seed {s}: {'-' if v is None else f'{v:+.2f}'}" for s, v in per_seed.items())
        lines.append(f"- Spearman({name}, HR@5 gain at the kept step): {vals}. {sweep['ranks_agree'][name]}")
    corr = sweep.get("correlations") or {}
    if corr:
        lines += [
            "",
            "Do the indicators rank the teachers? Across each seed's teachers, the rank correlation "
            "between the indicator and the HR@5 gain at the fixed (last) step, with a 95% bootstrap "
            "interval that resamples the test questions and the dumped examples together. An "
            "indicator ranks the teachers when its Spearman interval lies above 0 in every seed.",
            "",
            "| indicator | seed | Spearman's rho [95% interval] | Kendall's tau [95% interval] "
            "| ranks the teachers |",
            "|---|---|---|---|---|",
        ]
        for name, per_seed in corr.items():
            verdict = "yes" if sweep["ranks_teachers"][name] else "no"
            for sd, v in per_seed.items():
                sp, kt = (claims_check.interval_text(v[m]).split(" (n")[0] for m in ("spearman", "kendall"))
                lines.append(f"| {name} | {sd} | {sp} | {kt} | {verdict} |")
    return lines + [""]


def curve_section(curve: dict) -> list[str]:
    """The learning curve's table (from curve.json): per teacher and size, the test gains over the
    initial retriever and the transfer of the teacher's top-1 advantage."""
    lines = [
        "## Learning curve",
        "",
        "ADist from each teacher on the first n training questions (the last row of a teacher: all "
        "of them, the grid's retriever). Gains: test measure minus the initial retriever's, paired per "
        "question. Transfer: (distilled top-1 hit - initial) / (the teacher's own top-1 among its "
        "candidates - initial), over the test questions the teacher was dumped on.",
        "",
        "| seed | teacher | questions | kept step | HR@5 gain | HR@1 gain | MRR gain | teacher / initial / "
        "distilled top-1 | transfer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in curve["rows"]:
        t = r["transfer"]

        def iv(d: dict) -> str:
            return claims_check.interval_text(d)

        tops = " / ".join(_num(t[k]) for k in ("teacher_top1", "initial_top1", "distilled_top1"))
        # a kept step 0 is the initial retriever again: its gains of exactly 0 are not measured
        gains = (
            [claims_check.NOT_MEASURED] * 4
            if r["selected_step"] == 0
            else [iv(r["hr@5"]), iv(r["hr@1"]), iv(r["mrr"]), iv(t)]
        )
        lines.append(
            f"| {r['seed']} | {r['teacher']} | {r['questions']} | {r['selected_step']} | {gains[0]} | "
            f"{gains[1]} | {gains[2]} | {tops} | {gains[3]} |"
        )
    return lines + [""]


def make_report(inp: dict, out: dict, params: dict) -> None:
    """``report.md`` (claims check, grid, indicators, sweep, figures), ``claims.json``, the grid,
    and the HTML report's first page (``front_page``)."""
    s = from_params(ReportSettings, params)
    rows = load_grid(s.cells, list(inp["metrics"]))
    # (seed, reader): every seed's replicate dumps its readers, off the shelf included
    indicators = {
        (int(sd), name): read_json(p) for (sd, name), p in zip(s.readers, inp["indicators"], strict=True)
    }
    seeds = [int(x) for x in s.seeds]
    top_n = [str(n) for n in s.top_n]
    teachers = list(s.teachers)
    selection = selected_steps(teachers, list(inp["encoders"]))
    fixed = by_kind(teachers, [retrieval_items(p) for p in inp["fixed"]])
    lookup = make_lookup(cell_items(s.cells, list(inp["predictions"])), reader_items(indicators), fixed)
    clusters = article_clusters(list(inp["questions"]))
    thr = float(next(iter(indicators.values()))["mq_threshold"])
    claims = claims_check.paper_claims(top_n, thr)
    items = claims_check.check(claims, lookup, seeds, s.bootstrap, kept_step0(selection), clusters)
    opts = {**s.bootstrap.options(), "clusters": clusters}
    fixed_rows = fixed_step_rows(
        teachers, selection, list(inp["selected"]), fixed, list(inp["initial"]), opts
    )
    csv, md = grid_table(rows)
    write_text(out["grid_csv"], csv)
    write_text(out["grid_md"], md)
    gains = gain_texts(fixed_rows)
    write_text(out["grid_tex"], grid_tex(*grid_summary(rows), s.run, gains, s.bootstrap.level))
    write_json(out["claims"], items)
    write_text(out["claims_tex"], claims_tex(items, [seed_texts(c) for c in items], s.run, s.bootstrap.level))
    write_json(out["fixed_step"], fixed_rows)
    draw_forest(items, {"claims": out["claims_png"], "claims_pdf": out["claims_pdf"]}, s.dpi)
    base, kinds = hr_at_k_curves(teachers, list(inp["selected"]), list(inp["initial"]))
    draw_hr_at_k(
        base, kinds, fixed_rows, {"hr_at_k": out["hr_at_k_png"], "hr_at_k_pdf": out["hr_at_k_pdf"]}, s.dpi
    )
    # read in the job, not passed as params: a param would rerun the report whenever the project
    # moves, a commit lands or another run is added (provenance.py)
    config_yaml = provenance.config_text(provenance.job_config())
    write_text(out["config"], config_yaml)
    commit = provenance.describe_commit(provenance.checkout(provenance.WORKFLOW))
    code_line = (
        f"Code: commit {commit} (the report's; cached results of earlier jobs are reused while their "
        "code digests match); resolved config: `config.yaml` beside the report, sha256 "
        f"`{provenance.digest(config_yaml)}`."
    )
    origin = provenance_lines(
        code_line,
        {Path(m).name: provenance.model_source(m) for m in inp.get("models", [])},
        read_json(inp["data_checks"][0]).get("sources", {}),
    )
    write_text(out["front_page"], front_page(s.run, items, rows, code_line))
    report_dir = Path(out["report"]).parent
    boot = s.bootstrap
    lines = [
        f"# ragdistill report: run `{s.run}`",
        "",
        "Attention distillation in retrieval-augmented generation, reproduced on this run's data. "
        f"Seeds: {seeds}. Every comparison is paired (per test question or per dumped example) with a "
        f"{boot.level:.0%} interval: for a binary measure (HR@k, EM) McNemar's exact test on the "
        "questions won and lost and its exact conditional interval; for a continuous one (PAT_TN, MQ, "
        f"near-far) a percentile bootstrap ({boot.resamples:,} resamples, seed {boot.seed})"
        + ("; both clustered by article (real text)" if clusters else "")
        + ". A claim **holds** when, in every seed, its intervals lie on the claimed side of zero; "
        "**same direction, not significant** when only the means do; **not measured (step 0 kept)** "
        "when a distilled retriever it compares kept step 0 (its difference is 0 by construction); "
        "claim 5 is **not testable** when the teachers' HR@5 difference is not significant. The rules "
        "are in the project's docs/method.md.",
        "",
        *data_lines(
            [read_json(p) for p in inp["data_checks"]],
            seeds,
            [read_json(p) for p in inp.get("lengths", [])],
        ),
        "",
        *origin,
        "## Claims check",
        "",
        "![claims at a glance](../figures/claims.png)",
        "",
        s.captions.get("claims", ""),
        "",
        claims_table(items),
        *fixed_step_section(fixed_rows, s.distill_steps),
        "## Evaluation grid",
        "",
        "HR@k: share of test questions with a passage containing a gold answer in the top k. "
        "EM/F1: the cell's reader answering from the top "
        f"{s.k} passages. Readers: `offtheshelf` pairs with the initial retriever and with "
        "off-the-shelf teachers' retrievers; `finetuned` with every retriever.",
        "",
        md,
        "The grid and the claims as LaTeX tables (booktabs): `grid.tex`, `claims.tex`.",
        "",
        "![HR@k against k](../figures/hr_at_k.png)",
        "",
        s.captions.get("hr_at_k", ""),
        "",
        "## Indicators",
        "",
        "| reader | examples | "
        + " | ".join(f"PAT_T{n}" for n in top_n)
        + " | MQ mean | MQ median | good teacher |",
        "|---|---|" + "---|" * (len(top_n) + 3),
    ]
    for (sd, name), ind in sorted(indicators.items()):
        label = reader_label(name, sd, len(seeds) > 1)
        lines.append(
            f"| {label} | {ind['examples']} | "
            + " | ".join(f"{ind['pat'][n]:.3f}" for n in top_n)
            + f" | {_num(ind['mq_mean'])} | {_num(ind['mq_median'])} | "
            + f"{'yes' if ind['good_teacher'] else 'no'} |"
        )
    lines.append("")
    for path in inp.get("sweep", []):
        lines += sweep_section(read_json(path))
    not_drawn = dict(s.not_drawn)  # figure -> why: known at planning (the sweep's) ...
    for path in inp.get("curve", []):
        curve = read_json(path)
        lines += curve_section(curve)
        if curve.get("not_drawn"):  # ... or from what the run measured (the learning curve's)
            not_drawn["learning_curve"] = curve["not_drawn"] + " The values are in the table above."
    lines += ["## Figures", ""]
    captions = s.captions
    for fig in inp["figures"]:
        if Path(fig).stem in not_drawn:
            continue
        rel = Path(fig).resolve().relative_to(report_dir.resolve().parent) if report_dir else Path(fig)
        lines += [f"![{Path(fig).stem}](../{rel})", "", captions.get(Path(fig).stem, ""), ""]
    for name, why in not_drawn.items():
        lines += [f"Not drawn: the {name.replace('_', ' ')} figure. {why}", ""]
    write_text(out["report"], "\n".join(lines) + "\n")
    log.info("claims: %s", {c["claim"].split(".")[0]: c["verdict"] for c in items})


def provenance_lines(code_line: str, models: dict[str, dict], data: dict[str, dict]) -> list[str]:
    """The report's provenance: ``code_line`` (the code's commit, the resolved config's digest),
    then each source with its hub commit or pinned sha256 (the first seed's data record: every
    seed reads the same sources)."""
    rows = provenance.source_rows(models, data)
    return [
        "## Provenance",
        "",
        code_line,
        "",
        "| config key | source | hub commit or sha256 |",
        "|---|---|---|",
        *(f"| `{k}` | `{src}` | `{rev}` |" for k, src, rev in rows),
        "",
    ]


def data_lines(checks: list[dict], seeds: list[int], lengths: list[dict] | None = None) -> list[str]:
    """The data line of each seed's replicate (one line for one seed), with a blank line between;
    ``lengths``: each replicate's ``check_lengths`` findings."""
    lengths = lengths or [{}] * len(checks)
    if len(checks) == 1:
        return [data_line(checks[0], lengths[0])]
    out = []
    for sd, c, n in zip(seeds, checks, lengths, strict=True):
        out += [f"Seed {sd}'s replicate. " + data_line(c, n), ""]
    return out[:-1]


def data_line(checks: dict, lengths: dict | None = None) -> str:
    """One line on the data: split sizes, what the fetch's leakage checks counted, and what
    ``check_lengths`` found against the limits."""
    q = checks["questions"]
    overlap = checks["overlap"]
    line = (
        f"Data: {q['train']:,} training, {q['dev']:,} dev and {q['test']:,} test questions; "
        f"{checks['passages']:,} passages. Test questions also in train: {overlap['train']}, "
        f"in dev: {overlap['dev']}"
    )
    if checks.get("allow_overlap"):
        line += f" (allowed: {checks['allow_overlap']})"
    line += f"; passages repeating another's text: {checks['repeated_passages']}."
    return line + length_sentence(lengths or {})


def length_sentence(lengths: dict) -> str:
    """``check_lengths``' findings as a sentence: passages over each limit (counted in words, a
    lower bound) with the longest, and questions that may not fit the reader's context."""
    if not lengths.get("unit"):
        return ""
    cut = [
        f"{v['at_least']:,} longer than {key} ({v['limit']} tokens)" for key, v in lengths["passages"].items()
    ]
    some = next(iter(lengths["passages"].values()))
    text = (
        f" Passages cut (counted in words, a lower bound): {', '.join(cut)}; the longest: "
        f"{some['longest']!r}, {some['words']:,} words."
    )
    tight = [
        f"{split} {q['longest']!r} ({q['words']:,} words)"
        for split, q in lengths["questions"].items()
        if q["may_not_fit"]
    ]
    if tight:
        text += f" Longest questions that may not fit the reader's context: {', '.join(tight)}."
    return text


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def claims_across_runs(inp: dict, out: dict, params: dict) -> None:
    """Several runs in one invocation (``runs: [nq, tqa]``, the arms): every run's claims in one
    forest plot, a marker per run and seed, each claim's verdict per run at the right."""
    s = from_params(AcrossRunsSettings, params)
    items = {run: read_json(p) for run, p in zip(s.runs, inp["claims"], strict=True)}
    n = draw_forest([], {"claims": out["png"], "claims_pdf": out["pdf"]}, s.dpi, rows=runs_rows(items))
    log.info("claims of %d runs: %d rows", len(items), n)
