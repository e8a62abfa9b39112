"""The claims at a glance: a forest plot of every claim comparison, each seed's interval a bar.

Comparisons measure different things (HR@5 in questions, PAT_TN in shares, near-far in
attention per token), so each row is drawn on its own scale: every value divided by the row's
largest absolute bound (its scale, written at the right), which keeps zero in one place and shows
at a glance which side of zero each seed's interval lies on. A comparison that was not measured
(its retriever kept step 0) is a grey "not measured" at zero. The verdict of each claim stands at
the right of its first row.
"""

from __future__ import annotations

import numpy as np

from ragdistill.analysis.plots import save_figure


def forest_rows(items: list[dict], run: str | None = None) -> list[dict]:
    """One row per claim comparison: its label, the claim's verdict on the first row, and per seed
    the mean, the bounds and whether it was measured (from ``claims.json``'s items). With ``run``
    each seed's marker is named ``<run> s<seed>`` (several runs in one figure)."""
    rows = []
    for c in items:
        number = c["claim"].split(".")[0]
        names = [x["name"] for x in c["measured"][0]["comparisons"]] if c["measured"] else []
        for j, name in enumerate(names):
            seeds = []
            for m in c["measured"]:
                x = next(x for x in m["comparisons"] if x["name"] == name)
                seeds.append(
                    {
                        "seed": m["seed"] if run is None else f"{run} s{m['seed']}",
                        "diff": x["diff"],
                        "lo": x["lo"],
                        "hi": x["hi"],
                        "measured": not x.get("not_measured"),
                    }
                )
            verdict = c["verdict"] if j == 0 else ""
            rows.append({"label": f"{number}: {name}", "verdict": verdict, "seeds": seeds})
    return rows


def runs_rows(items_by_run: dict[str, list[dict]]) -> list[dict]:
    """The rows of several runs' claims in one forest: each comparison's row holds every run's
    seeds (markers ``<run> s<seed>``), in the first run's order, and its verdict per run."""
    merged: dict[str, dict] = {}
    for run, items in items_by_run.items():
        for r in forest_rows(items, run):
            row = merged.setdefault(r["label"], {"label": r["label"], "verdict": "", "seeds": []})
            row["seeds"] += r["seeds"]
            if r["verdict"]:
                row["verdict"] = "; ".join(filter(None, [row["verdict"], f"{run}: {r['verdict']}"]))
    return list(merged.values())


def draw_forest(items: list[dict], out: dict, dpi: int, rows: list[dict] | None = None) -> int:
    """Draw ``out["claims"]`` (PNG) and ``out["claims_pdf"]`` from one run's ``items``, or from
    ready ``rows`` (``runs_rows``); returns the number of rows drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = forest_rows(items) if rows is None else rows
    seeds = list(dict.fromkeys(s["seed"] for r in rows for s in r["seeds"]))
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.2))
    offsets = np.linspace(-0.25, 0.25, len(seeds)) if len(seeds) > 1 else [0.0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        bounds = [
            abs(v)
            for s in r["seeds"]
            if s["measured"]
            for v in (s["lo"], s["hi"], s["diff"])
            if v is not None
        ]
        scale = max(bounds) if bounds and max(bounds) > 0 else 1.0
        at = {sd: (off, colour) for sd, off, colour in zip(seeds, offsets, colours, strict=False)}
        for s in r["seeds"]:
            off, colour = at[s["seed"]]
            if not s["measured"] or s["diff"] is None:
                ax.text(0, y + off, "not measured", fontsize=6, color="grey", ha="center", va="center")
                continue
            lo = (s["lo"] if s["lo"] is not None else s["diff"]) / scale
            hi = (s["hi"] if s["hi"] is not None else s["diff"]) / scale
            ax.plot([lo, hi], [y + off, y + off], color=colour, lw=1.5)
            ax.plot([s["diff"] / scale], [y + off], "o", color=colour, ms=4)
        if bounds:  # a row with nothing measured has no scale to give
            ax.text(1.08, y, f"±{scale:.3g}", fontsize=6, va="center", transform=ax.get_yaxis_transform())
        ax.text(1.22, y, r["verdict"], fontsize=7, va="center", transform=ax.get_yaxis_transform())
    for sd, colour in zip(seeds, colours, strict=False):
        ax.plot([], [], "o-", color=colour, label=f"seed {sd}" if isinstance(sd, int) else sd)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), [r["label"] for r in reversed(rows)], fontsize=7)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("difference (A - B) / the row's largest bound (right); 95% intervals")
    per = "seed" if all(isinstance(sd, int) for sd in seeds) else "run and seed"
    ax.set_title(f"Claims at a glance: each comparison per {per}, verdict at the right", fontsize=9)
    if seeds:
        ax.legend(fontsize=7, loc="lower left")
    save_figure(fig, out, "claims", dpi)
    plt.close(fig)
    return len(rows)
