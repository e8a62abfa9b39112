"""Whole-workflow numbers: DAG wall times and per-rule cost from Snakemake's benchmark files.

``run_dag`` runs a preset from scratch in a fresh folder (models and data fetched there too,
which is what a new user meets), then changes one plotting parameter and reruns: the rerun
must touch only the figure and report rules and stay under 30 s.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def _snakemake(work: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), *args], capture_output=True, text=True, check=False
    )
    secs = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {work}:\n{res.stderr[-3000:]}")
    return secs, res.stderr + res.stdout


def _ran(log: str) -> list[str]:
    return sorted(set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M)))


def run_dag(preset: str | None, work: Path, cores: int) -> list[dict]:
    """Wall time of ``snakemake --cores N all`` (the default config, or ``config/<preset>.yaml``),
    then of the rerun after ``figures.dpi`` changes."""
    work.mkdir(parents=True, exist_ok=True)
    # config.yaml is named too: the Snakefile's configfile is relative to the working folder
    configs = [str(ROOT / "config.yaml")] + ([str(ROOT / "config" / f"{preset}.yaml")] if preset else [])
    name = preset or "default"
    full, _ = _snakemake(work, "all", "--cores", str(cores), "--configfile", *configs)
    dpi = work / "dpi.yaml"
    dpi.write_text("figures:\n  dpi: 77\n")
    rerun, log = _snakemake(work, "all", "--cores", str(cores), "--configfile", *configs, str(dpi))
    rows = [
        {
            "section": "dag",
            "what": f"{name} preset, from scratch, --cores {cores}",
            "rate": full,
            "unit": "s wall",
            "peak_mb": float("nan"),
            "target": "<= 120" if preset == "smoke" else "<= 1200",
        },
        {
            "section": "dag",
            "what": f"{name}: rerun after figures.dpi changed (ran: {', '.join(_ran(log))})",
            "rate": rerun,
            "unit": "s wall",
            "peak_mb": float("nan"),
            "target": "< 30",
        },
    ]
    return rows + rule_costs(work / "benchmarks", name)


def rule_costs(folder: Path, label: str) -> list[dict]:
    """Per rule: jobs, summed and longest wall seconds, largest max RSS (Snakemake's ``benchmark:``)."""
    per: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in sorted(folder.rglob("*.tsv")):
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows:
            continue
        last = rows[-1]
        rss = float(last["max_rss"]) if last.get("max_rss") not in (None, "", "-", "NA") else float("nan")
        per[path.relative_to(folder).parts[0]].append((float(last["s"]), rss))
    out = []
    for rule, runs in sorted(per.items(), key=lambda kv: -sum(s for s, _ in kv[1])):
        jobs = f"{len(runs)} job{'s' if len(runs) > 1 else ''}"
        out.append(
            {
                "section": "rules",
                "what": f"{label}: {rule} ({jobs}, longest {max(s for s, _ in runs):.1f} s)",
                "rate": sum(s for s, _ in runs),
                "unit": "s summed",
                "peak_mb": max(r for _, r in runs),
            }
        )
    return out
