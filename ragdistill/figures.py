"""Stage ``figures``: the study's plots, rendered from stored results only (cheap to rerun)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .files import atomic_path, read_json

log = logging.getLogger(__name__)


def _save(fig, path: str, dpi: int) -> None:
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip("."))


def plot_figures(inp: dict, out: dict, params: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = int(params["dpi"])
    inds = [read_json(p) for p in inp["indicators"]]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for ind in inds:
        xs = ind["distance"]["offsets"]
        ys = [np.nan if v is None else v for v in ind["distance"]["mean"]]
        ax.plot(xs, ys, marker=".", label=ind["reader"])
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("signed distance to nearest answer token (tokens)")
    ax.set_ylabel("mean attention contribution c(t)")
    ax.set_title("Attention around answer tokens")
    ax.legend()
    _save(fig, out["distance"], dpi)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for ind in inds:
        ns = sorted(int(n) for n in ind["pat"])
        ax.plot(ns, [ind["pat"][str(n)] for n in ns], marker="o", label=ind["reader"])
    ax.set_xlabel("N (top attended document tokens)")
    ax.set_ylabel("PAT_TN: share answer-related")
    ax.set_title("Answer-token indicator")
    ax.legend()
    _save(fig, out["pat"], dpi)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for ind in inds:
        vals = [v for v in ind["mq_values"] if v is not None]
        ax.hist(vals, bins=30, range=(-1, 1), alpha=0.5, label=f"{ind['reader']} (mean {ind['mq_mean']:.2f})")
    ax.axvline(float(params["mq_threshold"]), color="black", ls="--", label="threshold")
    ax.set_xlabel("Spearman(attention, question similarity) per example")
    ax.set_ylabel("examples")
    ax.set_title("Question-token indicator (MQ)")
    ax.legend(fontsize=8)
    _save(fig, out["mq"], dpi)
    plt.close(fig)

    cells = params["cells"]
    metrics = [read_json(p) for p in inp["metrics"]]
    labels = sorted({f"{c['retriever_kind']}\n+{c['reader_kind']}" for c in cells})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ["hr@5", "em"], strict=True):
        means, sds = [], []
        for lab in labels:
            vals = [
                m[metric]
                for c, m in zip(cells, metrics, strict=True)
                if f"{c['retriever_kind']}\n+{c['reader_kind']}" == lab
            ]
            means.append(np.mean(vals))
            sds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
        ax.bar(range(len(labels)), means, yerr=sds, capsize=4, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylabel(metric.upper())
        ax.set_ylim(0, 1)
        ax.set_title(f"{metric.upper()} per grid cell (error bars: sd over seeds)")
    fig.tight_layout()
    _save(fig, out["grid"], dpi)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax2 = ax.twinx()
    for path in inp["curves"]:
        import pandas as pd

        df = pd.read_csv(path, sep="\t")
        name = Path(path).parent.name
        ax.plot(df["step"], df["loss"], lw=0.8, label=f"{name} loss")
        ev = df.dropna(subset=["dev_hr5"])
        ax2.plot(ev["step"], ev["dev_hr5"], ls="--", marker="o", ms=3, label=f"{name} dev HR@5")
    ax.set_xlabel("step")
    ax.set_ylabel("KL loss")
    ax2.set_ylabel("dev HR@5 (pool of dev candidates)")
    ax.set_title("Retriever distillation")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=6, loc="best")
    _save(fig, out["curves"], dpi)
    plt.close(fig)
    log.info("figures written")
