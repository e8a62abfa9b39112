"""HR@k against k: the usual retrieval figure, for the initial retriever and every teacher's
distilled retriever at the step its distillation kept.

Why in the report stage: the report already holds each teacher's kept-step test retrieval, its
seed's initial retrieval and the paired HR@5 difference between them (``report.fixed_step_rows``),
so the figure's curves and its legend's intervals come from the same files and the same tests as
the report's tables.
"""

from __future__ import annotations

import numpy as np

from ragdistill.analysis.plots import save_figure
from ragdistill.core.files import read_jsonl
from ragdistill.core.grid import split_seed


def hr_curve(path: str) -> np.ndarray:
    """HR@k for k = 1 .. the retrieval's depth, shape (top_k,): the share of questions with a
    passage holding a gold answer among their first k. A question with fewer passages than the
    deepest counts its last hit for every deeper k."""
    first = []  # per question: the rank (0-based) of its first answer-bearing passage, or None
    depth = 0
    for ex in read_jsonl(path):
        hits = [bool(c["has_answer"]) for c in ex["ctxs"]]
        depth = max(depth, len(hits))
        first.append(hits.index(True) if any(hits) else None)
    ranks = np.array([np.inf if r is None else r for r in first], dtype=float)
    return np.array([(ranks < k).mean() for k in range(1, depth + 1)])


def interval_label(row: dict, several_seeds: bool) -> str:
    """One seed's legend text: its HR@5 difference from the initial retriever with the interval,
    or that selection kept step 0 (a difference of 0 by construction)."""
    head = f"s{row['seed']} " if several_seeds else ""
    sel = row["selected"]
    if sel is None:
        return head + "step 0 kept"
    return head + f"{sel['diff']:+.3f} [{sel['lo']:+.3f}, {sel['hi']:+.3f}]"


def hr_at_k_curves(
    names: list[str], selected: list[str], initial: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The initial retriever's curve and each distilled retriever kind's, each the mean over the
    seeds (every path read once). ``names`` are distilled retrievers (``<kind>-s<seed>``) with
    their kept-step test retrieval (``selected``) and their seed's initial one (``initial``)."""
    curves = {p: hr_curve(p) for p in dict.fromkeys([*selected, *initial])}
    base = np.mean([curves[p] for p in dict.fromkeys(initial)], axis=0)
    kinds: dict[str, list[np.ndarray]] = {}
    for name, path in zip(names, selected, strict=True):
        kinds.setdefault(split_seed(name)[0], []).append(curves[path])
    return base, {kind: np.mean(cs, axis=0) for kind, cs in kinds.items()}


def draw_hr_at_k(
    base: np.ndarray, kinds: dict[str, np.ndarray], rows: list[dict], out: dict, dpi: int
) -> None:
    """One line per retriever over k; the legend gives each distilled kind's HR@5 difference from
    the initial retriever per seed (``rows``: ``report.fixed_step_rows``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    several = len({r["seed"] for r in rows}) > 1
    ks = np.arange(1, len(base) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(ks, base, color="black", ls="--", marker=".", label="initial")
    cmap = plt.get_cmap("tab10" if len(kinds) <= 10 else "tab20")
    for i, (kind, curve) in enumerate(sorted(kinds.items())):
        texts = "; ".join(interval_label(r, several) for r in rows if r["retriever"] == kind)
        ax.plot(ks, curve, color=cmap(i % cmap.N), marker=".", label=f"{kind}: {texts}")
    ax.set_xticks(ks, [str(k) for k in ks], fontsize=7)
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("HR@k (test)")
    ax.set_ylim(0, 1)
    ax.set_title(
        "HR@k against k (legend: HR@5 difference from the initial retriever, 95% interval)", fontsize=9
    )
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    save_figure(fig, out, "hr_at_k", dpi)
    plt.close(fig)
