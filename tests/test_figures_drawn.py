"""Every figure the smoke run draws says something: checked from the figure objects the
workflow's own jobs drew (a start-up hook, ``tests/figure_hook/sitecustomize.py``, summarises each
saved PNG: titles, data points per panel, text notes), not from the PNG files."""

from __future__ import annotations

import json
import re
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
    """No empty or dangling title; every panel holds two data points or more, or a note saying
    why it holds fewer (an undefined measure is said, not drawn as empty axes; a point's label is
    not a note); a figure with no panel at all is one that was not drawn, and says why."""
    for text in [summary["suptitle"], *(ax["title"] for ax in summary["axes"])]:
        assert not text.rstrip().endswith(":"), f"{name}: title ends empty: {text!r}"
    assert summary["suptitle"] or all(ax["title"] for ax in summary["axes"]), f"{name}: a panel without title"
    for ax in summary["axes"]:
        assert ax["points"] >= 2 or any(t.strip() for t in ax["notes"]), (
            f"{name}: panel {ax['title']!r} holds {ax['points']} point(s) and no note"
        )
    if not summary["axes"]:
        assert summary["suptitle"].endswith(": not drawn") and summary["notes"], (
            f"{name}: no panel, no reason"
        )


def check_count_axis(name: str, ax: dict) -> None:
    """A count on the x axis (questions, k, steps) is linear with plain integer tick labels (a log
    axis labelled "3x10^1" once read badly)."""
    assert ax["xscale"] == "linear", f"{name}: {ax['xlabel']!r} is {ax['xscale']}"
    labels = [t for t in ax["xticklabels"] if t]
    assert labels and all(re.fullmatch(r"[-\u2212]?\d+", t) for t in labels), f"{name}: ticks {labels}"


def test_check_panels_refuses_a_labelled_point_without_a_note():
    """The check itself: one point with a label (the old one-point sweep panel) fails; a note passes."""
    one = {"title": "MQ: rho", "points": 1, "texts": ["random"], "notes": []}
    with pytest.raises(AssertionError, match="holds 1 point"):
        check_panels("sweep", {"suptitle": "Sweep", "axes": [one], "notes": []})
    check_panels("sweep", {"suptitle": "Sweep", "axes": [one | {"notes": ["why"]}], "notes": []})
    with pytest.raises(AssertionError, match="no panel, no reason"):
        check_panels("curve", {"suptitle": "Learning curve", "axes": [], "notes": []})
    with pytest.raises(AssertionError, match="is log"):
        check_count_axis("curve", {"xscale": "log", "xlabel": "questions", "xticklabels": ["30"]})
    with pytest.raises(AssertionError, match="ticks"):
        check_count_axis("curve", {"xscale": "linear", "xlabel": "q", "xticklabels": ["$3\\times10^1$"]})


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
    # HR@k: one line of 20 points (k = 1 .. retrieve.top_k) for the initial retriever and each
    # teacher's, whose legend entry holds its HR@5 interval against the initial one
    hr = drawn["hr_at_k"]["axes"][0]
    fixed = json.loads((run / "results" / "smoke" / "report" / "fixed_step.json").read_text())
    kinds = sorted({r["retriever"] for r in fixed})
    assert hr["points"] == 20 * (len(kinds) + 1)
    assert hr["legend"][0] == "initial" and [t.split(":")[0] for t in hr["legend"][1:]] == kinds
    interval = r": [-+]\d\.\d{3} \[[-+]\d\.\d{3}, [-+]\d\.\d{3}\]$|: step 0 kept$"
    assert all(re.search(interval, t) for t in hr["legend"][1:]), hr["legend"]
    # count axes: k, the reader's training steps, and the curve's questions where it is drawn
    check_count_axis("hr_at_k", drawn["hr_at_k"]["axes"][0])
    for name in ("finetune", "curves"):  # steps
        for ax in drawn[name]["axes"]:
            check_count_axis(name, ax)
    for ax in drawn["learning_curve"]["axes"]:
        check_count_axis("learning_curve", ax)
    # the smoke preset has no sweep teachers: no sweep figure, and the report says why
    assert "sweep" not in drawn
    report = (run / "results" / "smoke" / "report" / "report.md").read_text()
    assert "Not drawn: the sweep figure. The teacher-quality sweep has 0 teachers per seed" in report
    assert not (run / "results" / "smoke" / "figures" / "sweep.png").exists()
    # the learning curve: drawn with two measured points, or not drawn and the report says why
    curve = json.loads((run / "results" / "smoke" / "curve" / "curve.json").read_text())
    if curve.get("not_drawn"):
        assert f"Not drawn: the learning curve figure. {curve['not_drawn']}" in report
        assert not drawn["learning_curve"]["axes"] and "](../figures/learning_curve.png)" not in report
    else:
        assert "Not drawn: the learning curve" not in report and "](../figures/learning_curve.png)" in report


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
    # a control that kept step 0 (gain 0 there) is drawn at its last step's gain, as the teachers are
    controls = [
        {"teacher": "random", "MQ": 0.0, "gain": 0.0, "lo": 0.0, "hi": 0.0}
        | {"last_gain": -0.03, "last_lo": -0.05, "last_hi": -0.01}
    ]
    corr = {"MQ": {0: {"spearman": {"diff": 1.0, "lo": 0.5, "hi": 1.0}}}}
    out = {"png": str(tmp_path / "s.png"), "sweep_pdf": str(tmp_path / "s.pdf")}
    sweep._plot(rows, controls, ["MQ"], corr, out, 50)
    fig = plt.gcf()
    ax = fig.axes[0]
    assert ax.get_title() == "MQ: rho seed 0: +1.00 [+0.50, +1.00]"
    # several seeds: one line each in the title (on one line they ran into the next panel's)
    two = {"MQ": {s: corr["MQ"][0] for s in (0, 1)}}
    sweep._plot([r | {"seed": s} for s in (0, 1) for r in rows], controls, ["MQ"], two, out, 50)
    assert (
        plt.gcf().axes[0].get_title() == "MQ: rho seed 0: +1.00 [+0.50, +1.00]\nseed 1: +1.00 [+0.50, +1.00]"
    )
    plt.close("all")
    sweep._plot(rows, controls, ["MQ"], corr, out, 50)
    xs = [c.lines[0].get_xdata() for c in ax.containers]
    assert sorted(np.concatenate(xs).tolist()) == [0.0, 0.1, 0.2, 0.3]
    points = {float(c.lines[0].get_xdata()[0]): float(c.lines[0].get_ydata()[0]) for c in ax.containers}
    assert points == {0.1: 0.01, 0.2: 0.02, 0.3: 0.04, 0.0: -0.03}
    # the teachers are named in the figure's legend, not written over the points
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "0 steps",
        "10 steps",
        "30 steps",
        "random (control)",
    ]  # no uniform control among the controls: none in the legend
    assert len(ax.texts) == 0
    plt.close("all")
