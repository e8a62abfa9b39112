"""What produced a report: the checkout's commit, the resolved config, every source fetched.

Why: a report read months later, or on another machine, must say which code and which settings
made it, and which model and data revisions it read, without the reader trusting a folder name.
The report job reads both itself, never as Snakemake params (a param is a rerun trigger: the
report would rerun whenever the project moves, a commit lands or another run joins the config):
the commit of the workflow's own folder (:func:`checkout`; jobs run the workflow's own library,
so ``WORKFLOW`` is it), and the config Snakemake resolved for the job (every ``--configfile``
merged), which the job runner hands over in ``RAGDISTILL_CONFIG`` (:func:`job_config`). The
sources come from what the fetch stage recorded (``checks.json`` ``sources``; a model's
``ragdistill_source.json``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

# the workflow's folder: the package's parent (jobs run the workflow's own library)
WORKFLOW = Path(__file__).resolve().parents[2]
# the environment variable through which the job runner hands a job its resolved config
CONFIG_ENV = "RAGDISTILL_CONFIG"


def checkout(root: str | Path) -> dict:
    """The git commit of ``root`` and whether its tracked files differ from it (``dirty``); both
    None where ``root`` is not a git checkout or git is not installed (a copied or unpacked
    workflow: the report then says so rather than guessing)."""

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    # tracked files only: results, logs and other untracked outputs are not the code
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def job_config() -> dict:
    """The resolved config of the running job (set by ``runner.run_from_snakemake``); empty
    outside a job."""
    import os

    text = os.environ.get(CONFIG_ENV)
    return json.loads(text) if text else {}


def config_text(config: dict) -> str:
    """The resolved config as YAML with sorted keys, so that the same settings give the same
    bytes (and the same digest) whichever files and order they came from."""
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False, allow_unicode=True)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_source(model_dir: str | Path) -> dict:
    """What the fetch recorded beside a model (``ragdistill_source.json``: its source string and,
    from the hub, the commit fetched); empty when the folder has no record."""
    path = Path(model_dir) / "ragdistill_source.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def describe_commit(state: dict) -> str:
    """One line: the commit and whether the tree differed from it."""
    if state.get("commit") is None:
        return "not a git checkout (the workflow's folder has no commit to name)"
    dirty = state.get("dirty")
    note = " with uncommitted changes" if dirty else (" (clean)" if dirty is False else "")
    return f"`{state['commit']}`{note}"


def source_rows(models: dict[str, dict], data_sources: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(config key, source, revision or digest) for each model and each dataset source; a local
    or generated source has neither (``-``)."""
    rows = []
    for name, rec in sorted(models.items()):
        rev = rec.get("revision") or rec.get("sha256") or "-"
        rows.append((f"models.{name}.source", str(rec.get("source", "-")), str(rev)))
    for key, rec in sorted(data_sources.items()):
        rev = rec.get("revision") or rec.get("sha256") or "-"
        rows.append((key, str(rec.get("source", "-")), str(rev)))
    return rows
