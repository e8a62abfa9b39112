"""Stage ``figures``: the study's plots, rendered from stored results only (cheap to rerun).

Every figure is written twice: a PNG (for the README, ``report.md`` and ``snakemake --report``)
and a PDF (vector, for papers). Output keys are the figure names and ``<name>_pdf``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ragdistill.analysis.plots import count_axis, panel_note, save_figure
from ragdistill.core.files import read_json
from ragdistill.core.grid import reader_label, split_seed
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import FigureSettings
from ragdistill.data.dumps import example

log = logging.getLogger(__name__)


def pick_example(dump: dict, index: int | None) -> int:
    """The dumped example to draw: ``index`` if given, else the first whose documents hold an
    answer token (an example without one shows nothing about answer attention).
    """
    n = len(dump["ids"])
    if index is not None:
        if not 0 <= index < n:
            raise ValueError(f"config figures.example: {index} is outside the {n} dumped examples")
        return index
    for i in range(n):
        if example(dump, i)["tok_answer"].any():
            return i
    return 0


def example_tokens(dump: dict, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per document (retrieval order) of example ``i``: c(t) of its tokens and their answer mask."""
    ex = example(dump, i)
    prof = ex["tok_profile"].astype(np.float32)
    doc, ans = ex["tok_doc"], ex["tok_answer"]
    k = int(dump["window"]) if "window" in dump else dump["ctx_ids"].shape[1]  # window 0's documents
    return [(prof[doc == d], ans[doc == d]) for d in range(k)]


def _plot_example(plt, out: dict, inp: dict, index: int | None, dpi: int) -> None:
    from ragdistill.core.files import read_jsonl
    from ragdistill.data.dumps import load_dump

    dumps = {Path(p).parent.name: load_dump(p) for p in inp["dumps"]}
    first = next(iter(dumps.values()))
    i = pick_example(first, index)
    qid = str(first["ids"][i])
    ex = next((e for e in read_jsonl(inp["retrieved"]) if str(e["id"]) == qid), None)
    if ex is None:
        raise KeyError(f"{inp['retrieved']}: no question {qid!r} (the attention dump's example {i})")
    fig, axes = plt.subplots(len(dumps), 1, figsize=(10, 2.2 * len(dumps) + 0.8), squeeze=False)
    for ax, (reader, dump) in zip(axes[:, 0], dumps.items(), strict=True):
        j = int(np.flatnonzero(dump["ids"] == qid)[0])
        x0, ticks, labels = 0, [], []
        for d, (prof, ans) in enumerate(example_tokens(dump, j)):
            # one filled step artist per colour (a bar per token would be hundreds of patches)
            edges = np.arange(x0, x0 + len(prof) + 1) - 0.5
            ax.stairs(prof, edges, fill=True, color="tab:blue")
            ax.stairs(np.where(ans, prof, 0.0), edges, fill=True, color="tab:red")
            ctx = ex["ctxs"][d]
            mark = " (answer)" if ctx.get("has_answer") else ""
            score = float(dump["scores_adist"][j, d])
            ticks.append(x0 + len(prof) / 2)
            labels.append(f"doc {d + 1}: {ctx['title'][:22]}{mark}\nS(d) = {score:.2e}")
            x0 += len(prof)
            ax.axvline(x0 - 0.5, color="grey", lw=0.6)
        ax.set_xlim(-0.5, x0 - 0.5)
        ax.set_xticks(ticks, labels, fontsize=7)
        ax.set_ylabel("c(t)")
        ax.set_title(f"reader {reader}", fontsize=9, loc="left")
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color="tab:blue", label="document token"),
            Patch(color="tab:red", label="gold-answer token"),
        ],
        fontsize=7,
        ncol=2,
        loc="lower center",
        bbox_to_anchor=(0.5, -0.04),
    )
    answers = " / ".join(ex["answers"][:3])
    fig.suptitle(f"Q {qid}: {ex['question']}  (answer: {answers})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out, "example", dpi)
    plt.close(fig)


def labelled(inds: list[dict]) -> list[dict]:
    """Each reader's indicators with its legend label: its name, and its seed where several
    seeds' replicates each have a reader of that name (``offtheshelf``, ``random``)."""
    several = len({ind.get("seed", 0) for ind in inds}) > 1
    return [{**ind, "label": reader_label(ind["reader"], ind.get("seed", 0), several)} for ind in inds]


def _plot_distance(plt, inds: list[dict], out: dict, dpi: int) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for ind in inds:
        xs = ind["distance"]["offsets"]
        ys = [np.nan if v is None else v for v in ind["distance"]["mean"]]
        ax.plot(xs, ys, marker=".", label=ind["label"])
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("signed distance to nearest answer token (tokens)")
    ax.set_ylabel("mean attention contribution c(t)")
    ax.set_title("Attention around answer tokens")
    ax.legend()
    save_figure(fig, out, "distance", dpi)
    plt.close(fig)


def _plot_pat(plt, inds: list[dict], out: dict, dpi: int) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for ind in inds:
        ns = sorted(int(n) for n in ind["pat"])
        ax.plot(ns, [ind["pat"][str(n)] for n in ns], marker="o", label=ind["label"])
    ax.set_xlabel("N (top attended document tokens)")
    ax.set_ylabel("PAT_TN: share answer-related")
    ax.set_title("Answer-token indicator")
    ax.legend()
    save_figure(fig, out, "pat", dpi)
    plt.close(fig)


def _plot_mq(plt, inds: list[dict], out: dict, dpi: int, threshold: float) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for ind in inds:
        vals = [v for v in ind["mq_values"] if v is not None]
        mean = "-" if ind["mq_mean"] is None else f"{ind['mq_mean']:.2f}"
        ax.hist(vals, bins=30, range=(-1, 1), alpha=0.5, label=f"{ind['label']} (mean {mean})")
    ax.axvline(threshold, color="black", ls="--", label="threshold")
    ax.set_xlabel("Spearman(attention, question similarity) per example")
    ax.set_ylabel("examples")
    ax.set_title("Question-token indicator (MQ)")
    ax.legend(fontsize=8)
    save_figure(fig, out, "mq", dpi)
    plt.close(fig)


def _plot_grid(plt, cells: list[dict], metrics: list[dict], out: dict, dpi: int) -> None:
    labels = sorted({f"{c['retriever_kind']} + {c['reader_kind']}" for c in cells})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ["hr@5", "em"], strict=True):
        means, sds = [], []
        for lab in labels:
            vals = [
                m[metric]
                for c, m in zip(cells, metrics, strict=True)
                if f"{c['retriever_kind']} + {c['reader_kind']}" == lab
            ]
            means.append(np.mean(vals))
            sds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
        ax.bar(range(len(labels)), means, yerr=sds, capsize=4, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel(metric.upper())
        ax.set_ylim(0, 1)
        ax.set_title(f"{metric.upper()} per grid cell (error bars: sd over seeds)")
    fig.tight_layout()
    save_figure(fig, out, "grid", dpi)
    plt.close(fig)


SEED_STYLES = ("-", "--", ":", "-.")


def curve_styles(names: list[str]) -> dict[str, tuple[str, str]]:
    """Per distillation name (``<objective>-<teacher>-s<seed>``): the series it belongs to (the
    name without its seed) and its seed ("" for a name without one).

    Why: with several seeds the training-curves figure holds a dozen lines or more (seeds3:
    three seeds of five distillations and the sweep's). One colour per series and one line
    style per seed keeps a legend of a few entries instead of one per line.
    """
    return {name: split_seed(name) for name in names}


def _plot_curves(plt, paths: list[str], out: dict, dpi: int) -> None:
    """Two panels, KL loss and dev HR@5 by step; colour: the distillation, line style: the seed."""
    import pandas as pd
    from matplotlib.lines import Line2D

    names = [Path(p).parent.name for p in paths]
    styles = curve_styles(names)
    series = list(dict.fromkeys(s for s, _ in styles.values()))
    seeds = list(dict.fromkeys(seed for _, seed in styles.values()))
    cmap = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    colour = {s: cmap(i % cmap.N) for i, s in enumerate(series)}
    line = {seed: SEED_STYLES[i % len(SEED_STYLES)] for i, seed in enumerate(seeds)}
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for a in (ax, ax2):  # steps are counts
        count_axis(a)
    for path, name in zip(paths, names, strict=True):
        df = pd.read_csv(path, sep="\t")
        s, seed = styles[name]
        ax.plot(df["step"], df["loss"], lw=0.8, ls=line[seed], color=colour[s])
        ev = df.dropna(subset=["dev_hr5"])
        ax2.plot(ev["step"], ev["dev_hr5"], ls=line[seed], marker="o", ms=3, color=colour[s])
    ax.set_xlabel("step")
    ax.set_ylabel("KL loss")
    ax.set_title("KL loss per training step")
    ax2.set_xlabel("step")
    ax2.set_ylabel("dev HR@5 (pool of dev candidates)")
    ax2.set_title("dev HR@5 at the evaluated steps")
    handles = [Line2D([], [], color=colour[s], label=s) for s in series]
    if len(seeds) > 1:
        handles += [Line2D([], [], color="black", ls=line[d], label=f"seed {d}") for d in seeds]
    ax2.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    save_figure(fig, out, "curves", dpi)
    plt.close(fig)


def _plot_finetune(plt, logs: list[tuple[str, dict]], out: dict, dpi: int) -> None:
    """The readers' fine-tuning: training loss per step (left) and dev EM at the evaluated steps
    (right), one colour per reader, the kept step marked (a ring on the dev EM curve and a dotted
    line on the loss). Without dev EM (``reader_finetune.dev_questions: 0``) the right panel says
    so instead of standing empty."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for a in (ax, ax2):  # steps are counts
        count_axis(a)
    cmap = plt.get_cmap("tab10" if len(logs) <= 10 else "tab20")
    any_em = False
    for i, (label, m) in enumerate(logs):
        colour = cmap(i % cmap.N)
        train = [r for r in m["history"] if r.get("loss") is not None]
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8, color=colour, label=label)
        kept = m["selected_step"]
        ax.axvline(kept, color=colour, lw=0.8, ls=":")
        ev = [r for r in m["history"] if r.get("dev_em") is not None]
        if ev:
            any_em = True
            ax2.plot(
                [r["step"] for r in ev],
                [r["dev_em"] for r in ev],
                marker="o",
                ms=3,
                color=colour,
                label=label,
            )
            em = {r["step"]: r["dev_em"] for r in ev}
            if kept in em:
                ax2.plot([kept], [em[kept]], marker="o", ms=9, mfc="none", color=colour)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_title("Reader fine-tuning: loss per step (dotted: the kept step)")
    ax.legend(fontsize=7)
    ax2.set_xlabel("step")
    ax2.set_ylabel("dev EM")
    if any_em:
        ax2.set_title("Dev EM at the evaluated steps (ring: the kept step)")
        ax2.legend(fontsize=7)
    else:
        ax2.set_title("Dev EM: not measured")
        panel_note(ax2, "reader_finetune.dev_questions is 0:\nno dev EM was measured")
    fig.tight_layout()
    save_figure(fig, out, "finetune", dpi)
    plt.close(fig)


def finetune_logs(paths: list[str]) -> list[tuple[str, dict]]:
    """(legend label, training log) per fine-tuned reader; its name carries its seed
    (``finetuned-s1``, from ``results/<run>/s1/reader/finetuned-s1/train_metrics.json``)."""
    return [(Path(p).parent.name, read_json(p)) for p in paths]


def plot_figures(inp: dict, out: dict, params: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = from_params(FigureSettings, params)
    inds = labelled([read_json(p) for p in inp["indicators"]])
    _plot_distance(plt, inds, out, s.dpi)
    _plot_pat(plt, inds, out, s.dpi)
    _plot_mq(plt, inds, out, s.dpi, s.mq_threshold)
    _plot_grid(plt, s.cells, [read_json(p) for p in inp["metrics"]], out, s.dpi)
    _plot_curves(plt, list(inp["curves"]), out, s.dpi)
    _plot_example(plt, out, inp, s.example, s.dpi)
    _plot_finetune(plt, finetune_logs(list(inp["finetune"])), out, s.dpi)
    log.info("figures written")
