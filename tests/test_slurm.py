"""The smoke preset through a real single-node SLURM, with the shipped SLURM profile.

The cluster comes from Debian packages (tests/slurm/cluster.sh). The test fills the profile's
site placeholders (account, partitions) for this cluster and turns GPU requests off, runs the
workflow with ``--workflow-profile``, then checks with sacct and the SLURM log folder that every
non-local job was an sbatch job (the corpus shards as separate jobs) and that the results equal
those of a local run. It skips, saying why, where it cannot run: not root, no apt-get, or no
executor plugin. With RAGDISTILL_REQUIRE_SLURM=1 (set by .ci/run) a skip becomes a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SMOKE, snakemake

pytestmark = pytest.mark.slurm
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"

# Result files that must be equal between the local run and the SLURM run.
COMPARED = ["s0/evaluate/*/metrics.json", "s0/indicators/*/indicators.json", "report/claims.json"]
# Limits that turn a hang (a status command that never answers, a job pending for ever) into a
# failure with the scheduler's own account, well inside CI's limit; the run takes about 10 min.
CLUSTER_UP_S = 900
SLURM_RUN_S = 1800
# Threads of the model rules in the SLURM run, as in the local run with --cores 2. The node must
# state at least this many CPUs (cluster.sh does, on a 1-CPU machine too), or those jobs pend
# for ever with reason PartitionConfig.
JOB_CPUS = 2


def _scheduler_state(work: Path) -> str:
    """What SLURM says about the cluster and the jobs of ``work``, for a failure message."""
    said = []
    for cmd in (["sinfo", "-R"], ["squeue", "-o", "%i %j %T %r"], ["sacct", "-X", "-n", "-P"]):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        said.append(f"$ {' '.join(cmd)}\n{(res.stdout + res.stderr)[-1500:]}")
    for log in ("slurmctld.log", "slurmd.log", "slurmdbd.log"):
        path = Path("/var/log/slurm") / log
        if path.exists():
            said.append(f"$ tail {path}\n" + "\n".join(path.read_text().splitlines()[-15:]))
    subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=60)
    return "\n".join(said)


def _skip(reason: str) -> None:
    if os.environ.get("RAGDISTILL_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM test required but cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster() -> None:
    if os.geteuid() != 0:
        _skip("needs root to install and start munge, slurmdbd, slurmctld and slurmd")
    if shutil.which("apt-get") is None:
        _skip("needs apt-get (Debian packages) to install SLURM")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    try:
        res = subprocess.run(
            ["bash", str(CLUSTER), "up"], capture_output=True, text=True, timeout=CLUSTER_UP_S
        )
    except subprocess.TimeoutExpired:
        _skip(f"bringing up SLURM took over {CLUSTER_UP_S} s (apt or a daemon did not answer)")
    if res.returncode != 0:
        _skip(f"could not bring up SLURM: {res.stderr[-1500:]}")
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=60)
    assert int(cpus.stdout.split()[0]) >= JOB_CPUS, (
        f"the SLURM node states {cpus.stdout.strip()} CPUs; the test's jobs ask for {JOB_CPUS}"
    )


def test_profile_is_commented_and_site_free_of_gpu_counters():
    """Every profile entry has a comment, and no global gpu resource throttles a cluster."""
    text = (REPO / "profiles" / "slurm" / "config.yaml").read_text().splitlines()
    profile = yaml.safe_load("\n".join(text))
    assert profile["executor"] == "slurm"
    assert "resources" not in profile, "a global gpu counter would throttle GPU jobs cluster-wide"
    top_level = [i for i, line in enumerate(text) if line and not line.startswith((" ", "#"))]
    for i in top_level:
        assert text[i - 1].lstrip().startswith("#"), f"uncommented profile entry: {text[i]}"


def test_rules_carry_no_site_resources():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        found = re.findall(r"^\s*(slurm_\w+|constraint|gres|qos)\s*=", smk.read_text(), re.M)
        assert not found, f"{smk.name} sets {found}; site settings belong in profiles/slurm"


def _test_profile(dest: Path) -> Path:
    """The shipped profile with this cluster's values: no account, partition debug, no GPUs."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].pop("slurm_account")
    profile["default-resources"].update(slurm_partition="debug", mem_mb=2000, runtime=30)
    profile["set-resources"] = {
        rule: {"slurm_partition": "debug", "gpu": 0, "mem_mb": 3000, "runtime": 30}
        for rule in profile["set-resources"]
    }
    # model rules get 2 threads, as in the local run with --cores 2 (the node states >= 2 CPUs)
    profile["set-threads"] = {rule: JOB_CPUS for rule in profile["set-resources"]}
    profile.update(
        {
            "jobs": 2,
            "retries": 0,
            "latency-wait": 5,
            "slurm-init-seconds-before-status-checks": 5,
            "slurm-keep-successful-logs": True,
        }
    )
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile))
    return dest


def _sacct(start: str) -> list[dict[str, str]]:
    fields = ["JobID", "JobName", "State", "ExitCode", "WorkDir"]
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", start, "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]


def test_smoke_preset_through_slurm_equals_local_run(cluster, smoke_run, tmp_path):
    work = tmp_path / "work"
    profile = _test_profile(tmp_path / "profile")
    start = subprocess.run(["date", "+%Y-%m-%dT%H:%M:%S"], capture_output=True, text=True).stdout.strip()
    try:
        res = snakemake(
            work,
            "all",
            "--workflow-profile",
            str(profile),
            "--configfile",
            str(SMOKE),
            timeout=SLURM_RUN_S,
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_scheduler_state(work)}") from None
    out = res.stdout + res.stderr

    # every non-local job went through sbatch: one kept SLURM log per job, by rule
    logs = sorted((work / "logs" / "slurm").rglob("*.log"))
    by_rule: dict[str, int] = {}
    for log in logs:
        rule = log.relative_to(work / "logs" / "slurm").parts[0].replace("rule_", "")
        by_rule[rule] = by_rule.get(rule, 0) + 1
    assert by_rule.get("encode_corpus") == 2, by_rule  # the smoke preset's 2 shards, 2 jobs
    for rule in ("finetune_reader", "dump_attention", "distill_retriever", "answer_questions"):
        assert by_rule.get(rule), f"{rule} did not run as a SLURM job: {by_rule}\n{out[-3000:]}"
    assert not {"fetch_model", "fetch_data", "all"} & set(by_rule), "download rules must be local"

    # sacct agrees: as many jobs from this work folder as logs, all COMPLETED with exit 0
    jobs = [j for j in _sacct(start) if j["WorkDir"].rstrip("/") == str(work)]
    assert len(jobs) == len(logs), (jobs, logs)
    assert {(j["State"], j["ExitCode"]) for j in jobs} == {("COMPLETED", "0:0")}, jobs

    # the results equal the local run's
    for pattern in COMPARED:
        local = sorted((smoke_run / "results" / "smoke").glob(pattern))
        assert local, pattern
        for path in local:
            rel = path.relative_to(smoke_run)
            assert json.loads((work / rel).read_text()) == json.loads(path.read_text()), rel
