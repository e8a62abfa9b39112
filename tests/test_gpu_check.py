"""The GPU check (bench/gpu_check.sh) as far as a CPU allows: its arguments, the commands it would
run and their time limits (at most 8 minutes in all), the reduced GPU preset's plan, and the
summary that writes its numbers to one file."""

from __future__ import annotations

import json
import re
import subprocess

from tests.conftest import REPO, snakemake

SCRIPT = REPO / "bench" / "gpu_check.sh"
LIMIT_S = 8 * 60


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )


def test_help_and_bad_arguments():
    res = _run("--help")
    assert res.returncode == 0 and "bash bench/gpu_check.sh [--dry-run] [OUT]" in res.stdout
    assert "set -uo" not in res.stdout  # the comment block only
    bad = _run("--fast")
    assert bad.returncode == 2 and "unknown option --fast" in bad.stderr
    two = _run("a", "b")
    assert two.returncode == 2 and "one output folder" in two.stderr


def test_dry_run_prints_the_commands_within_eight_minutes(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "WORK")}
    res = _run("--dry-run", str(tmp_path / "out"), env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    limits = [int(m[1]) for line in lines if (m := re.match(r"timeout (\d+) ", line))]
    assert len(limits) == 3 and sum(limits) + 3 * 10 + 20 <= LIMIT_S, limits  # 10 s grace each
    assert any("-m bench --only precision --json" in line for line in lines)
    assert any("-m bench --only encoding --json" in line for line in lines)
    run = next(line for line in lines if "-m snakemake all" in line)
    assert "--configfile config.yaml config/gpu.yaml bench/gpu_check.yaml" in run
    assert f"{tmp_path / 'out'}/gpu_check.json" in lines[-1]
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"
    # the output folder: the argument, else $OUT, else ./gpu_check_out
    assert "/from-env/gpu_check.json" in _run("-n", env={**env, "OUT": "/from-env"}).stdout
    assert "./gpu_check_out/gpu_check.json" in _run("-n", env=env).stdout


def test_the_reduced_gpu_preset_plans_one_seed(tmp_path):
    out = snakemake(
        tmp_path,
        "all",
        "-n",
        "--configfile",
        str(REPO / "config.yaml"),
        str(REPO / "config" / "gpu.yaml"),
        str(REPO / "bench" / "gpu_check.yaml"),
    ).stdout
    assert "results/world/s0/" in out and "results/world/s1/" not in out
    assert "rule distill_subset:" not in out and "rule random_reader:" not in out
    assert "rule finetune_reader:" in out and "rule make_report:" in out


def test_summary_writes_the_numbers_to_one_file(tmp_path):
    work = tmp_path / "work"
    (work / "run" / "results" / "world" / "s0" / "evaluate" / "initial+finetuned-s0").mkdir(parents=True)
    (work / "steps.txt").write_text("precision 0 61\nencoding 0 40\nworkflow 124 250\n")
    row = {"section": "precision", "what": "attention dump", "rate": 9000.0}
    (work / "bench-precision.json").write_text(
        json.dumps({"machine": "an H100", "versions": {"torch": "2"}, "rows": [row]})
    )
    metrics = work / "run" / "results" / "world" / "s0" / "evaluate" / "initial+finetuned-s0" / "metrics.json"
    metrics.write_text('{"em": 0.5}')
    dest = tmp_path / "out" / "gpu_check.json"
    res = subprocess.run(
        ["python3", str(REPO / "bench" / "gpu_check_summary.py"), str(work), str(dest), "433"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "workflow stopped at its limit" in res.stdout
    got = json.loads(dest.read_text())
    assert got["machine"] == "an H100" and got["wall_s"] == 433.0
    assert got["steps"]["workflow"] == {"exit": 124, "seconds": 250, "stopped_at_limit": True}
    assert got["steps"]["precision"]["stopped_at_limit"] is False
    assert got["benchmarks"]["precision"] == [row] and got["benchmarks"]["encoding"] == []
    assert got["workflow"]["finished"] is False
    assert got["workflow"]["metrics"] == {"world/s0/evaluate/initial+finetuned-s0": {"em": 0.5}}
