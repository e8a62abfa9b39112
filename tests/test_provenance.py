"""What produced a report: the checkout's commit and state, the resolved config, the sources."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from ragdistill.core import provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@needs_git
def test_checkout_names_the_commit_and_whether_tracked_files_changed(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True)
    state = provenance.checkout(tmp_path)
    assert state == {"commit": head.stdout.strip(), "dirty": False}
    (tmp_path / "results.txt").write_text("an output, not code\n")  # untracked: still clean
    assert provenance.checkout(tmp_path)["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.checkout(tmp_path) == {"commit": head.stdout.strip(), "dirty": True}
    assert provenance.describe_commit(provenance.checkout(tmp_path)).endswith("with uncommitted changes")


def test_a_folder_outside_git_says_so(tmp_path):
    state = provenance.checkout(tmp_path)
    assert state == {"commit": None, "dirty": None}
    assert provenance.describe_commit(state).startswith("not a git checkout")


def test_the_config_text_is_the_same_whatever_the_key_order():
    a = provenance.config_text({"k": 5, "distill": {"steps": 20, "lr": 1e-4}})
    b = provenance.config_text({"distill": {"lr": 1e-4, "steps": 20}, "k": 5})
    assert a == b and yaml.safe_load(a) == {"k": 5, "distill": {"steps": 20, "lr": 1e-4}}
    assert provenance.digest(a) == provenance.digest(b) != provenance.digest(a + " ")


def test_source_rows_give_the_hub_commit_or_the_pinned_sha256(tmp_path):
    model = tmp_path / "minilm"
    model.mkdir()
    record = '{"source": "hf:sentence-transformers/x", "revision": "abc"}'
    (model / "ragdistill_source.json").write_text(record)
    rows = provenance.source_rows(
        {"minilm": provenance.model_source(model), "bare": provenance.model_source(tmp_path / "none")},
        {"datasets.squad.squad.source": {"source": "url:https://e.org/d.json", "sha256": "95aa"}},
    )
    assert rows == [
        ("models.bare.source", "-", "-"),
        ("models.minilm.source", "hf:sentence-transformers/x", "abc"),
        ("datasets.squad.squad.source", "url:https://e.org/d.json", "95aa"),
    ]


def test_a_job_reads_its_resolved_config_from_the_runner(monkeypatch):
    """The runner hands every job its resolved config in RAGDISTILL_CONFIG (not as params, which
    would rerun the report whenever the project moved); outside a job there is none."""
    monkeypatch.delenv(provenance.CONFIG_ENV, raising=False)
    assert provenance.job_config() == {}
    monkeypatch.setenv(provenance.CONFIG_ENV, '{"k": 5, "runs": ["world"]}')
    assert provenance.job_config() == {"k": 5, "runs": ["world"]}
