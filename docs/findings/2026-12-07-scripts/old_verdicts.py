"""Each claim's verdict under the rules before 2026-12-07 beside the verdict a run's report gives.

    python old_verdicts.py RUN_DIR [--run world] [--old 623f411]

The earlier rules are the claims check of commit ``--old`` itself (``ragdistill/claims.py``,
``stats.py`` and ``names.py`` read with ``git show`` from this repository): the percentile
bootstrap for every measure, claim 6 on the selected retriever, claim 5 "does not hold" when the
teachers teach alike, and no "not measured". They are applied to the same per-question and
per-example values the run's report read (``results/<run>/s<seed>/evaluate/*/predictions.jsonl``
and ``indicators/*/indicators.json``), so only the rules differ. Prints a Markdown table: claim,
earlier verdict (seeds held), new verdict (seeds held), from ``results/<run>/report/claims.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def old_package(commit: str, where: Path):
    """The claims check of ``commit`` as an importable package ``oldcheck``."""
    pkg = where / "oldcheck"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("claims", "stats", "names"):
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:ragdistill/{name}.py"],
            check=True, capture_output=True, text=True,
        ).stdout
        (pkg / f"{name}.py").write_text(text)
    sys.path.insert(0, str(where))
    return importlib.import_module("oldcheck.claims")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--run", default="world")
    ap.add_argument("--old", default="623f411")
    args = ap.parse_args()
    base = Path(args.run_dir) / "results" / args.run
    new = json.loads((base / "report" / "claims.json").read_text())
    seeds = [m["seed"] for m in new[0]["measured"]]
    top_n = [str(n) for n in json.loads(next((base / f"s{seeds[0]}" / "indicators").glob("*/indicators.json")).read_text())["pat"]]
    cells, readers = {}, {}
    for s in seeds:
        for pred in (base / f"s{s}" / "evaluate").glob("*/predictions.jsonl"):
            ret, rea = pred.parent.name.split("+")
            kind = ret.removesuffix(f"-s{s}")
            rkind = "offtheshelf" if rea == "offtheshelf" else "finetuned"
            rows = read_jsonl(pred)
            cells[(kind, rkind, s)] = {m: {str(r["id"]): r.get(m) for r in rows} for m in ("hr@5", "em")}
        for ind_path in (base / f"s{s}" / "indicators").glob("*/indicators.json"):
            ind = json.loads(ind_path.read_text())
            per = ind["per_example"]
            measures = {f"pat@{n}": v for n, v in per["pat"].items()}
            measures.update({"mq": ind["mq_values"], "near_far": per["near_far"]})
            readers[(s, ind["reader"])] = {m: dict(zip(per["ids"], v)) for m, v in measures.items()}

    def lookup(source, seed):
        if source[0] == "cell":
            return cells[(source[1], source[2], seed)][source[3]]
        name = "offtheshelf" if source[1] == "offtheshelf" else f"{source[1]}-s{seed}"
        return readers[(seed, name)][source[2]]

    with tempfile.TemporaryDirectory() as tmp:
        old = old_package(args.old, Path(tmp))
        boot = importlib.import_module("oldcheck.stats").Bootstrap()
        thr = json.loads(next((base / f"s{seeds[0]}" / "indicators").glob("*/indicators.json")).read_text())["mq_threshold"]
        before = old.check(old.paper_claims(top_n, thr), lookup, seeds, boot)
    print(f"| claim | verdict before 2026-12-07 (rules of {args.old}) | verdict now |")
    print("|---|---|---|")
    for b, n in zip(before, new, strict=True):
        print(f"| {n['claim']} | {b['verdict']} ({b['seeds_held']}) | {n['verdict']} ({n['seeds_held']}) |")


if __name__ == "__main__":
    main()
