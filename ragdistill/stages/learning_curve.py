"""Stage ``learning_curve``: how many training questions a teacher needs before the retriever improves.

For each teacher of ``curve.teachers`` and each size n of ``curve.sizes``, ADist is distilled on
the first n dumped training questions (the usual distillation rule, retriever
``adist-<teacher>-n<n>-s<seed>``); the full set is the grid's own ``adist-<teacher>-s<seed>``.
This stage reads each one's test retrieval and gives, against the initial retriever and paired
over every test question (``docs/method.md``, "Learning curve"):

- the HR@5 gain with its bootstrap interval (the curve's measure), HR@1 and MRR gains beside it
  (declared secondary measures);
- the **transfer**: over the first ``curve.transfer_questions`` test questions, with t the
  teacher's top-1 hit among its N candidates (its own re-ranking, from a dump of those test
  questions), r the initial retriever's and d the distilled retriever's first passage's hit,
  ``mean(d - r) / mean(t - r)``: the share of the teacher's top-1 advantage the retriever took.

Writes ``curve.json`` (``{"rows": [...]}``, one row per teacher, size and seed) and the figure
``learning_curve.png``/``.pdf``. A figure with fewer than two measured points (a kept step 0 is
the initial retriever again, not a measured gain) would say nothing: it is not drawn, the file
says so, ``curve.json`` gets ``not_drawn`` with the reason, and the report prints it.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from ragdistill.analysis.metrics import hits_at_k, reciprocal_rank
from ragdistill.analysis.plots import count_axis, not_drawn_figure, panel_note, save_figure
from ragdistill.analysis.stats import bootstrap_ratio, paired
from ragdistill.core.files import read_jsonl, write_json
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import CurveSettings
from ragdistill.data.dumps import load_dump, retriever_record

log = logging.getLogger(__name__)


def per_question(examples: list[dict]) -> dict[str, dict[str, float]]:
    """Per test question of a retrieval: hit@1, hit@5 and the reciprocal rank of the first hit."""
    out = {}
    for ex in examples:
        flags = [bool(c["has_answer"]) for c in ex["ctxs"]]
        hits = hits_at_k(flags, [1, 5])
        out[str(ex["id"])] = {"hr@1": hits[1], "hr@5": hits[5], "mrr": reciprocal_rank(flags)}
    return out


def teacher_top1(dump: dict[str, np.ndarray], initial: list[dict]) -> dict[str, float]:
    """Per dumped question: 1.0 when the teacher's highest-scored candidate (ADist) holds an
    answer, judged by the initial retrieval's ``has_answer`` of that passage."""
    flags = {str(ex["id"]): {str(c["id"]): bool(c["has_answer"]) for c in ex["ctxs"]} for ex in initial}
    out = {}
    for qid, ctx_ids, scores in zip(dump["ids"], dump["ctx_ids"], dump["scores_adist"], strict=True):
        out[str(qid)] = float(flags[str(qid)][str(ctx_ids[int(np.argmax(scores))])])
    return out


def transfer(
    teacher: dict[str, float], initial: dict[str, dict], distilled: dict[str, dict], opts: dict
) -> dict:
    """The transfer share over the questions the teacher was dumped on, with its interval, and
    the three top-1 hit rates it is made of."""
    ids = [q for q in teacher if q in initial and q in distilled]
    t = np.array([teacher[q] for q in ids])
    r = np.array([initial[q]["hr@1"] for q in ids])
    d = np.array([distilled[q]["hr@1"] for q in ids])
    share = bootstrap_ratio(d - r, t - r, **opts)
    return {
        **share.as_dict(),
        "teacher_top1": float(t.mean()) if ids else None,
        "initial_top1": float(r.mean()) if ids else None,
        "distilled_top1": float(d.mean()) if ids else None,
    }


def learning_curve(inp: dict, out: dict, params: dict) -> None:
    """Each (teacher, size, seed) retriever's test gains over the initial one and its transfer."""
    s = from_params(CurveSettings, params)
    opts = s.bootstrap.options()
    dumps: dict[str, dict[str, float]] = {}
    baselines: dict[str, dict[str, dict[str, float]]] = {}
    initial_rows: dict[str, list[dict]] = {}
    rows = []
    # each row's initial retrieval is its seed's replicate's (its own test questions)
    for spec, retrieved, encoder, dump_path, initial_path in zip(
        s.rows, inp["retrieved"], inp["distilled"], inp["dumps"], inp["initial"], strict=True
    ):
        if initial_path not in baselines:  # each seed's initial retrieval read once
            initial_rows[initial_path] = read_jsonl(initial_path)
            baselines[initial_path] = per_question(initial_rows[initial_path])
        initial = baselines[initial_path]
        if dump_path not in dumps:
            dumps[dump_path] = teacher_top1(load_dump(dump_path), initial_rows[initial_path])
        got = per_question(read_jsonl(retrieved))
        meta = retriever_record(encoder)
        gains = {
            m: paired({q: v[m] for q, v in got.items()}, {q: v[m] for q, v in initial.items()}, **opts)
            for m in ("hr@5", "hr@1", "mrr")
        }
        rows.append(
            {
                **spec,
                "questions": meta["questions"],
                "selected_step": meta["selected_step"],
                **{m: g.as_dict() for m, g in gains.items()},
                "transfer": transfer(dumps[dump_path], initial, got, opts),
            }
        )
        log.info("%s: %d questions, HR@5 gain %s", spec["retriever"], meta["questions"], gains["hr@5"].text())
    why = not_drawn(rows)
    write_json(out["curve"], {"rows": rows, **({"not_drawn": why} if why else {})})
    if why:
        log.info("the learning curve is not drawn: %s", why)
        not_drawn_figure(_files(out), "curve", s.dpi, "Learning curve", why)
    else:
        _plot(rows, out, s.dpi)


PANELS = ("hr@5", "transfer")


def measured(row: dict, key: str) -> bool:
    """A point of the curve that says something: the distillation left step 0 (a kept step 0 is
    the initial retriever again, its gain exactly 0 by construction) and the measure is defined."""
    return row["selected_step"] != 0 and row[key]["diff"] is not None


def lines_of(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """The curve's lines: one per (teacher, seed), its rows by number of questions."""
    out: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        out.setdefault((r["teacher"], r["seed"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["questions"]) for k, v in out.items()}


def curve_points(rows: list[dict], key: str) -> int:
    """The most measured points any one line has in the panel of ``key``: a curve is a line, so
    two teachers with one point each make no curve."""
    return max((sum(measured(r, key) for r in line) for line in lines_of(rows).values()), default=0)


def not_drawn(rows: list[dict]) -> str | None:
    """Why the figure would say nothing (no line with two measured points in either panel), or
    None."""
    if max(curve_points(rows, key) for key in PANELS) >= 2:
        return None
    kept0 = sum(r["selected_step"] == 0 for r in rows)
    gains, transfers = (sum(measured(r, key) for r in rows) for key in PANELS)
    n = len(rows)
    return (
        f"Of its {n} distillation{'s' if n != 1 else ''}, {kept0} kept step 0 (the initial retriever "
        f"again) and {gains} measured a gain ({transfers} a defined transfer); a curve needs one "
        "teacher and seed with two measured points."
    )


def _plot(rows: list[dict], out: dict, dpi: int) -> None:
    """Two panels (HR@5 gain, transfer) against the number of training questions; a kept step 0
    is an open marker on the line (not a measured gain), a panel with fewer than two measured
    points says why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    sizes = sorted({r["questions"] for r in rows})
    any_kept0 = any(r["selected_step"] == 0 for r in rows)
    for ((teacher, seed), pts), marker in zip(lines_of(rows).items(), itertools.cycle("osD^v<>")):
        x = [r["questions"] for r in pts]
        for ax, key in zip(axes, PANELS, strict=True):
            y = [r[key]["diff"] if measured(r, key) else np.nan for r in pts]
            lo = [r[key]["diff"] - r[key]["lo"] if measured(r, key) else np.nan for r in pts]
            hi = [r[key]["hi"] - r[key]["diff"] if measured(r, key) else np.nan for r in pts]
            bars = ax.errorbar(x, y, yerr=[lo, hi], marker=marker, capsize=3, label=f"{teacher}, seed {seed}")
            # open markers at 0 (where the measure is defined), in the line's colour: step 0 kept
            kept0 = [r["questions"] for r in pts if r["selected_step"] == 0 and r[key]["diff"] is not None]
            if kept0:
                ax.plot(kept0, [0.0] * len(kept0), marker, mfc="none", color=bars.lines[0].get_color())
    axes[0].set_ylabel("test HR@5 gain over the initial retriever")
    axes[1].set_ylabel("transfer: share of the teacher's top-1 advantage")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5)
        # a count axis: linear, the sizes themselves as ticks (a log axis labelled "3x10^1" read
        # badly, and stopped the run when every value of a panel was undefined)
        count_axis(ax, sizes)
        ax.set_xlabel("training questions distilled on")
        ax.legend(fontsize=7)
    axes[1].axhline(1, color="grey", lw=0.5, ls=":")
    # a panel where no line has two measured points says why rather than standing (nearly) empty
    why = {
        "hr@5": "no teacher and seed has two distillations that left step 0",
        "transfer": "transfer undefined or not measured at all but one size: the teacher's\n"
        "top-1 among the candidates is no better than the initial retriever's",
    }
    for ax, key in zip(axes, PANELS, strict=True):
        if curve_points(rows, key) < 2:
            panel_note(ax, why[key])
    kept = "; open markers: step 0 kept (the initial retriever)" if any_kept0 else ""
    fig.suptitle(
        f"Learning curve: ADist on nested subsets of the training questions (95% intervals{kept})",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, _files(out), "curve", dpi)
    plt.close(fig)


def _files(out: dict) -> dict:
    """The rule's figure outputs under the names ``save_figure`` reads."""
    return {"curve": out["png"], "curve_pdf": out["pdf"]}
