"""Stage ``report``: the grid table, the claims check and ``report.md``.

The claims check compares our own runs with each other (the paper's tables are not available).
A claim holds when its comparison holds in every seed; the table shows the per-seed values, their
mean and standard deviation, and in how many seeds it held.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .files import read_json, write_json, write_text

log = logging.getLogger(__name__)
METRICS = ["hr@1", "hr@5", "hr@10", "hr@20", "gold_recall@5", "em", "f1"]


def load_grid(cells: list[dict], paths: list[str]) -> list[dict]:
    rows = []
    for cell, path in zip(cells, paths, strict=True):
        m = read_json(path)
        rows.append({**cell, **{k: m.get(k) for k in METRICS}, "n": m.get("n")})
    return rows


def grid_table(rows: list[dict]) -> tuple[str, str]:
    """CSV and Markdown of the grid: one line per (retriever kind, reader kind), mean ± sd over seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["retriever_kind"], r["reader_kind"]), []).append(r)
    cols = [m for m in METRICS if any(r.get(m) is not None for r in rows)]
    csv = ["retriever,reader,seeds," + ",".join(f"{c}_mean,{c}_sd" for c in cols)]
    md = ["| retriever | reader | seeds | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for (ret, rea), rs in groups.items():
        stats = []
        cells_md = []
        for c in cols:
            v = np.array([r[c] for r in rs if r.get(c) is not None], dtype=float)
            mean, sd = (
                (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0) if len(v) else (np.nan, np.nan)
            )
            stats.append(f"{mean:.4f},{sd:.4f}")
            cells_md.append(f"{mean:.3f}" + (f" ± {sd:.3f}" if len(v) > 1 else ""))
        csv.append(f"{ret},{rea},{len(rs)}," + ",".join(stats))
        md.append(f"| {ret} | {rea} | {len(rs)} | " + " | ".join(cells_md) + " |")
    return "\n".join(csv) + "\n", "\n".join(md) + "\n"


def _cell(rows: list[dict], retriever_kind: str, reader_kind: str, seed: int | None) -> dict:
    for r in rows:
        if (
            r["retriever_kind"] == retriever_kind
            and r["reader_kind"] == reader_kind
            and (seed is None or r["seed"] == seed or retriever_kind == "initial")
        ):
            return r
    raise KeyError(f"grid has no cell {retriever_kind} + {reader_kind} (seed {seed})")


def claims(rows: list[dict], indicators: dict[str, dict], seeds: list[int], top_n: list[str]) -> list[dict]:
    """METHOD.md's claims 1-5, each with per-seed measurements and a verdict (holds in every seed)."""
    out = []

    def add(name: str, rule: str, per_seed: list[dict]):
        held = [p["holds"] for p in per_seed]
        out.append(
            {
                "claim": name,
                "rule": rule,
                "holds": bool(all(held)),
                "seeds_held": f"{sum(held)}/{len(held)}",
                "measured": per_seed,
            }
        )

    c1, c2, c3, c4, c5 = [], [], [], [], []
    for s in seeds:
        init = _cell(rows, "initial", "offtheshelf", None)
        ft = _cell(rows, "adist-finetuned", "finetuned", s)
        ots = _cell(rows, "adist-offtheshelf", "offtheshelf", s)
        i_ft, i_ots = indicators[f"finetuned-s{s}"], indicators["offtheshelf"]
        d1 = ft["hr@5"] - init["hr@5"]
        c1.append(
            {
                "seed": s,
                "hr@5 finetuned-adist": ft["hr@5"],
                "hr@5 initial": init["hr@5"],
                "diff": d1,
                "holds": d1 > 0,
            }
        )
        dh, de = ft["hr@5"] - ots["hr@5"], ft["em"] - ots["em"]
        c2.append({"seed": s, "hr@5 diff": dh, "em diff": de, "holds": dh > 0 and de > 0})
        pat = {n: i_ft["pat"][n] - i_ots["pat"][n] for n in top_n}
        c3.append(
            {
                "seed": s,
                **{f"PAT_T{n} diff": v for n, v in pat.items()},
                "holds": all(v > 0 for v in pat.values()),
            }
        )
        dm = i_ft["mq_mean"] - i_ots["mq_mean"]
        c4.append(
            {
                "seed": s,
                "MQ finetuned": i_ft["mq_mean"],
                "MQ offtheshelf": i_ots["mq_mean"],
                "threshold": i_ft["mq_threshold"],
                "holds": bool(dm > 0 and i_ft["good_teacher"] and not i_ots["good_teacher"]),
            }
        )
        gain = (ft["hr@5"] - init["hr@5"]) - (ots["hr@5"] - init["hr@5"])
        n_mid = top_n[len(top_n) // 2]
        signs = {np.sign(gain), np.sign(pat[n_mid]), np.sign(dm)}
        c5.append(
            {
                "seed": s,
                "hr@5 gain ft - ots": gain,
                f"PAT_T{n_mid} diff": pat[n_mid],
                "MQ diff": dm,
                "holds": len(signs) == 1 and 0 not in signs,
            }
        )
    add(
        "1. Fine-tuned distillation beats the initial retriever on HR@5",
        "HR@5(adist-finetuned) > HR@5(initial)",
        c1,
    )
    add(
        "2. Fine-tuned beats off-the-shelf distillation on HR@5 and EM",
        "HR@5 and EM (each with its paired reader) higher for adist-finetuned than adist-offtheshelf",
        c2,
    )
    add(
        "3. The fine-tuned reader's PAT_TN is higher",
        f"PAT_TN(finetuned) > PAT_TN(offtheshelf) for N in {top_n}",
        c3,
    )
    add(
        "4. The fine-tuned reader's MQ is higher, and only it passes the threshold",
        "mean MQ(finetuned) > mean MQ(offtheshelf), finetuned > threshold >= offtheshelf",
        c4,
    )
    add(
        "5. The indicators rank the teachers as their retriever gains do",
        "sign of (HR@5 gain), (PAT_T diff) and (MQ diff), fine-tuned minus off-the-shelf, agree",
        c5,
    )
    return out


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def claims_table(items: list[dict]) -> str:
    lines = ["| claim | rule | measured (per seed) | held in seeds | holds |", "|---|---|---|---|---|"]
    for c in items:
        measured = "; ".join(
            ", ".join(f"{k} {_fmt(v)}" for k, v in m.items() if k != "holds") for m in c["measured"]
        )
        verdict = "holds" if c["holds"] else "does not hold"
        lines.append(f"| {c['claim']} | {c['rule']} | {measured} | {c['seeds_held']} | **{verdict}** |")
    return "\n".join(lines) + "\n"


def make_report(inp: dict, out: dict, params: dict) -> None:
    rows = load_grid(params["cells"], list(inp["metrics"]))
    indicators = {read_json(p)["reader"]: read_json(p) for p in inp["indicators"]}
    seeds = [int(s) for s in params["seeds"]]
    top_n = [str(n) for n in params["top_n"]]
    items = claims(rows, indicators, seeds, top_n)
    csv, md = grid_table(rows)
    write_text(out["grid_csv"], csv)
    write_text(out["grid_md"], md)
    write_json(
        out["claims"],
        [
            {
                "claim": c["claim"],
                "measured": c["measured"],
                "holds": c["holds"],
                "rule": c["rule"],
                "seeds_held": c["seeds_held"],
            }
            for c in items
        ],
    )
    report_dir = Path(out["report"]).parent
    lines = [
        f"# ragdistill report: run `{params['run']}`",
        "",
        "Attention distillation in retrieval-augmented generation, reproduced on this run's data. "
        f"Seeds: {seeds}. A claim holds when its comparison holds in every seed.",
        "",
        "## Claims check",
        "",
        claims_table(items),
        "## Evaluation grid",
        "",
        "HR@k: share of test questions with a passage containing a gold answer in the top k. "
        "EM/F1: the paired reader answering from the top "
        f"{params['k']} passages. Readers: `offtheshelf` pairs with the initial retriever and with "
        "off-the-shelf distillation; `finetuned` with the fine-tuned teachers' retrievers.",
        "",
        md,
        "## Indicators",
        "",
        "| reader | examples | "
        + " | ".join(f"PAT_T{n}" for n in top_n)
        + " | MQ mean | MQ median | good teacher |",
        "|---|---|" + "---|" * (len(top_n) + 3),
    ]
    for name, ind in sorted(indicators.items()):
        lines.append(
            f"| {name} | {ind['examples']} | "
            + " | ".join(f"{ind['pat'][n]:.3f}" for n in top_n)
            + f" | {ind['mq_mean']:.3f} | {ind['mq_median']:.3f} | {'yes' if ind['good_teacher'] else 'no'} |"
        )
    lines += ["", "## Figures", ""]
    captions = params.get("captions", {})
    for fig in inp["figures"]:
        rel = Path(fig).resolve().relative_to(report_dir.resolve().parent) if report_dir else Path(fig)
        lines += [f"![{Path(fig).stem}](../{rel})", "", captions.get(Path(fig).stem, ""), ""]
    write_text(out["report"], "\n".join(lines) + "\n")
    log.info("claims: %s", [c["holds"] for c in items])
