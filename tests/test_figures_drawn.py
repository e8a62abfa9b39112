"""Every figure the smoke run draws says something: checked from the figure objects the
workflow's own jobs drew (a start-up hook, ``tests/figure_hook/sitecustomize.py``, summarises each
saved PNG: titles, data points per panel, text notes), not from the PNG files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, snakemake

HOOK = Path(__file__).resolve().parent / "figure_hook"
FIGURE_RULES = ["plot_figures", "make_report", "learning_curve", "teacher_sweep"]


def _figure_name(saved: str) -> str:
    """The figure's name from the temporary file it was saved to (``.<name>.png.<random>.png``)."""
    return Path(saved).name.lstrip(".").split(".png")[0]


def check_panels(name: str, summary: dict) -> None:
    """No empty or dangling title; every panel holds two data points or more, or a text note
    saying why it holds none (an undefined measure is said, not drawn as empty axes)."""
    for text in [summary["suptitle"], *(ax["title"] for ax in summary["axes"])]:
        assert not text.rstrip().endswith(":"), f"{name}: title ends empty: {text!r}"
    assert summary["suptitle"] or all(ax["title"] for ax in summary["axes"]), f"{name}: a panel without title"
    for ax in summary["axes"]:
        assert ax["points"] >= 2 or any(t.strip() for t in ax["texts"]), (
            f"{name}: panel {ax['title']!r} holds {ax['points']} point(s) and no note"
        )


@pytest.mark.workflow
def test_every_figure_of_the_smoke_run_holds_two_points_per_panel(smoke_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    dump = tmp_path / "figures"
    dump.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(HOOK))
    monkeypatch.setenv("RAGDISTILL_FIGURE_DUMP", str(dump))
    snakemake(run, "all", "--cores", "2", "--configfile", str(SMOKE), "--forcerun", *FIGURE_RULES)
    drawn = {}
    for f in dump.iterdir():
        summary = json.loads(f.read_text())
        drawn[_figure_name(summary["file"])] = summary
    expected = {
        "distance",
        "pat",
        "mq",
        "grid",
        "curves",
        "example",
        "finetune",
        "claims",
        "hr_at_k",
        "learning_curve",
    }
    assert expected <= set(drawn), sorted(drawn)
    for name, summary in drawn.items():
        check_panels(name, summary)
    # HR@k: one point per k (retrieve.top_k) for every retriever's line
    assert drawn["hr_at_k"]["axes"][0]["points"] % 20 == 0
    # the smoke preset has no sweep teachers: no sweep figure, and the report says why
    assert "sweep" not in drawn
    report = (run / "results" / "smoke" / "report" / "report.md").read_text()
    assert "Not drawn: the sweep figure. The teacher-quality sweep has 0 teachers per seed" in report
    assert not (run / "results" / "smoke" / "figures" / "sweep.png").exists()


def test_the_sweep_figure_with_three_teachers_per_seed(tmp_path, monkeypatch):
    """The sweep's figure drawn from hand-made rows: three teachers, one seed, a control."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ragdistill.stages import sweep

    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    rows = [
        {
            "seed": 0,
            "label": f"{n} steps",
            "MQ": mq,
            "last_gain": g,
            "last_lo": g - 0.01,
            "last_hi": g + 0.01,
        }
        for n, mq, g in [(0, 0.1, 0.01), (10, 0.2, 0.02), (30, 0.3, 0.04)]
    ]
    controls = [{"teacher": "random", "MQ": 0.0, "gain": -0.01, "lo": -0.02, "hi": 0.0}]
    corr = {"MQ": {0: {"spearman": {"diff": 1.0, "lo": 0.5, "hi": 1.0}}}}
    out = {"png": str(tmp_path / "s.png"), "sweep_pdf": str(tmp_path / "s.pdf")}
    sweep._plot(rows, controls, ["MQ"], corr, out, 50)
    fig = plt.gcf()
    ax = fig.axes[0]
    assert ax.get_title() == "MQ: rho seed 0: +1.00 [+0.50, +1.00]"
    xs = [c.lines[0].get_xdata() for c in ax.containers]
    assert sorted(np.concatenate(xs).tolist()) == [0.0, 0.1, 0.2, 0.3]
    plt.close("all")
