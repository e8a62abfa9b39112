"""The GPU check's numbers in one file (``bench/gpu_check.sh`` runs this last).

``python bench/gpu_check_summary.py WORK OUT_JSON [WALL_SECONDS]`` reads what the check's steps
left in WORK (``steps.txt``: step, exit status, seconds; the benchmarks' JSON; the reduced
workflow's run folder) and writes OUT_JSON: the machine and versions, each step's status (a
step stopped at its time limit says so), the precision and encoding benchmark rows, each
workflow rule's time and peak memory, and, where the run finished, its claims and grid metrics.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# exit statuses of `timeout`: 124 the limit was reached; 137 killed after the grace period
STOPPED = {124, 137}


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def summarise(work: Path, wall_s: float | None = None) -> dict:
    steps = {}
    lines = (work / "steps.txt").read_text().splitlines() if (work / "steps.txt").is_file() else []
    for line in lines:
        name, rc, secs = line.split()
        steps[name] = {"exit": int(rc), "seconds": int(secs), "stopped_at_limit": int(rc) in STOPPED}
    found = {name: _json(work / f"bench-{name}.json") for name in ("precision", "encoding", "rules")}
    machine = next((b["machine"] for b in found.values() if b and "machine" in b), None)
    versions = next((b["versions"] for b in found.values() if b and "versions" in b), None)
    run = work / "run" / "results"
    claims = sorted(run.glob("*/report/claims.json"))
    metrics = {
        str(p.parent.relative_to(run)): json.loads(p.read_text())
        for p in sorted(run.glob("*/s*/evaluate/*/metrics.json"))
    }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_s": wall_s,
        "machine": machine,
        "versions": versions,
        "steps": steps,
        "benchmarks": {k: (v or {}).get("rows", []) for k, v in found.items()},
        "workflow": {
            "finished": bool(claims),
            "claims": _json(claims[0]) if claims else None,
            "metrics": metrics,
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    work, dest = Path(argv[0]), Path(argv[1])
    found = summarise(work, float(argv[2]) if len(argv) == 3 else None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(found, indent=1, default=str) + "\n")
    status = ", ".join(
        f"{name} " + ("stopped at its limit" if step["stopped_at_limit"] else f"exit {step['exit']}")
        for name, step in found["steps"].items()
    )
    print(f"written: {dest} ({status}; workflow finished: {found['workflow']['finished']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
