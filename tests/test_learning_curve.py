"""The learning curve's measures on hand-made retrievals and dumps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragdistill.core.files import write_json, write_jsonl
from ragdistill.stages import learning_curve


def _q(qid: str, hits: list[bool]) -> dict:
    return {"id": qid, "ctxs": [{"id": f"{qid}-p{i}", "has_answer": h} for i, h in enumerate(hits)]}


def test_teacher_top1_reads_the_highest_scored_candidate():
    initial = [_q("a", [False, True, False]), _q("b", [True, False, False])]
    dump = {
        "ids": np.array(["a", "b"]),
        "ctx_ids": np.array([["a-p0", "a-p1", "a-p2"], ["b-p0", "b-p1", "b-p2"]]),
        "scores_adist": np.array([[0.1, 0.5, 0.2], [0.1, 0.5, 0.2]]),
    }
    assert learning_curve.teacher_top1(dump, initial) == {"a": 1.0, "b": 0.0}


def test_transfer_is_the_share_of_the_teachers_top1_advantage():
    # teacher top-1 hits 4 of 4, the initial retriever 0 of 4, the distilled one 2 of 4: share 0.5
    teacher = dict.fromkeys("abcd", 1.0)
    initial = {q: {"hr@1": 0.0} for q in "abcd"}
    distilled = {q: {"hr@1": float(q in "ab")} for q in "abcd"}
    got = learning_curve.transfer(teacher, initial, distilled, {"resamples": 2000, "level": 0.95, "seed": 0})
    assert got["diff"] == pytest.approx(0.5) and got["n"] == 4
    assert (got["teacher_top1"], got["initial_top1"], got["distilled_top1"]) == (1.0, 0.0, 0.5)


def test_the_stage_writes_gains_and_transfer_per_row(tmp_path):
    write_jsonl(tmp_path / "initial.jsonl", [_q(q, [False] * 5 + [True]) for q in "abcd"])
    write_jsonl(tmp_path / "d.jsonl", [_q(q, [q in "ab"] + [False] * 4 + [True]) for q in "abcd"])
    enc = tmp_path / "enc"
    enc.mkdir()
    write_json(enc / "ragdistill_retriever.json", {"questions": 8, "selected_step": 10})
    ids = list("abcd")
    np.savez(
        tmp_path / "dump.npz",
        ids=np.array(ids),
        ctx_ids=np.array([[f"{q}-p{i}" for i in range(6)] for q in ids]),
        scores_adist=np.tile(np.array([0, 0, 0, 0, 0, 1.0]), (4, 1)),
    )
    out = {
        "curve": str(tmp_path / "curve.json"),
        "png": str(tmp_path / "c.png"),
        "pdf": str(tmp_path / "c.pdf"),
    }
    inp = {
        "initial": [str(tmp_path / "initial.jsonl")],  # one per row: its seed's
        "retrieved": [str(tmp_path / "d.jsonl")],
        "distilled": [str(enc)],
        "dumps": [str(tmp_path / "dump.npz")],
    }
    params = {
        "rows": [{"seed": 0, "teacher": "finetuned", "size": 8, "retriever": "adist-finetuned-n8-s0"}],
        "bootstrap": {"resamples": 1000, "level": 0.95, "seed": 0},
        "dpi": 30,
    }
    learning_curve.learning_curve(inp, out, params)
    row = json.loads((tmp_path / "curve.json").read_text())["rows"][0]
    assert row["hr@1"]["diff"] == pytest.approx(0.5) and row["hr@5"]["diff"] == pytest.approx(0.5)
    assert row["mrr"]["diff"] == pytest.approx(0.5 * (1 - 1 / 6))
    assert row["transfer"]["diff"] == pytest.approx(0.5) and row["questions"] == 8
    # one point is no curve: the file says so, and curve.json gives the report the reason
    assert (tmp_path / "c.png").stat().st_size > 0
    assert json.loads((tmp_path / "curve.json").read_text())["not_drawn"].startswith("Of its 1 distillation,")


def _rows(points: list[tuple[int, int, float | None, float | None]]) -> list[dict]:
    """Curve rows (questions, kept step, HR@5 gain, transfer) of one teacher and seed."""

    def iv(v):
        return {
            "diff": v,
            "lo": None if v is None else v - 0.01,
            "hi": None if v is None else v + 0.01,
            "n": 4,
        }

    return [
        {
            "teacher": "finetuned",
            "seed": 0,
            "questions": n,
            "selected_step": step,
            "hr@5": iv(g),
            "transfer": iv(t),
        }
        for n, step, g, t in points
    ]


def test_the_curve_is_drawn_when_the_transfer_is_undefined(tmp_path, monkeypatch):
    """Two measured gains whose transfer is undefined (the teacher has no top-1 advantage): the
    figure is drawn, on a linear count axis whose ticks are the sizes (a log axis stopped the run
    here), and the transfer panel says why it is empty."""
    from ragdistill.stages.learning_curve import _plot, not_drawn

    rows = _rows([(8, 10, 0.02, None), (16, 10, 0.03, None)])
    assert not_drawn(rows) is None
    out = {"png": str(tmp_path / "c.png"), "pdf": str(tmp_path / "c.pdf")}
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "close", lambda fig=None: None)  # keep the figure to look at
    _plot(rows, out, 30)
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    hr, transfer = plt.gcf().axes
    assert hr.get_xscale() == "linear" and [t.get_text() for t in hr.get_xticklabels()] == ["8", "16"]
    assert [t.get_text() for t in hr.texts] == []  # HR@5 measured: no note
    assert [(t.get_text().split(":")[0], t.get_gid()) for t in transfer.texts] == [
        ("transfer undefined or not measured at all but one size", "panel-note")
    ]
    plt.close("all")


def test_a_kept_step_0_is_an_open_marker_not_a_measured_point(tmp_path, monkeypatch):
    """Three sizes, the smallest kept step 0: the line holds the two measured gains, the kept step
    0 is an open marker at 0 beside it, and the title says what open markers are."""
    import matplotlib.pyplot as plt

    from ragdistill.stages.learning_curve import _plot

    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    rows = _rows([(8, 0, 0.0, 0.0), (16, 10, 0.02, 0.2), (32, 20, 0.04, 0.3)])
    _plot(rows, {"png": str(tmp_path / "c.png"), "pdf": str(tmp_path / "c.pdf")}, 30)
    hr = plt.gcf().axes[0]
    line = hr.containers[0].lines[0]
    assert np.isnan(line.get_ydata()[0]) and list(line.get_ydata()[1:]) == [0.02, 0.04]
    opened = [ln for ln in hr.lines if ln.get_markerfacecolor() == "none"]
    assert len(opened) == 1 and list(opened[0].get_xdata()) == [8] and list(opened[0].get_ydata()) == [0.0]
    assert "open markers: step 0 kept" in plt.gcf()._suptitle.get_text()
    plt.close("all")


def test_a_curve_with_one_measured_point_is_not_drawn(tmp_path):
    """The default's curve (25 questions kept step 0, 50 measured): one measured point says
    nothing; the figure file says so, curve.json carries the reason, no panel is drawn."""
    from ragdistill.stages.learning_curve import not_drawn

    rows = _rows([(25, 0, 0.0, 0.0), (50, 10, 0.042, 0.21)])
    why = not_drawn(rows)
    assert why.startswith("Of its 2 distillations, 1 kept step 0") and "1 measured a gain" in why
    assert not_drawn(_rows([(8, 0, 0.0, 0.0), (16, 0, 0.0, 0.0)])).startswith(
        "Of its 2 distillations, 2 kept"
    )
    assert not_drawn(_rows([(8, 10, 0.01, None), (16, 10, 0.02, None)])) is None


def test_two_teachers_with_one_measured_point_each_make_no_curve():
    """A curve is a line: two teachers (or seeds) with one measured point each are two lone
    points, not drawn; one line with two measured points beside another's one is drawn."""
    from ragdistill.stages.learning_curve import not_drawn

    other = [r | {"teacher": "offtheshelf"} for r in _rows([(8, 0, 0.0, 0.0), (16, 10, 0.03, 0.2)])]
    one_each = _rows([(8, 0, 0.0, 0.0), (16, 10, 0.02, 0.1)]) + other
    assert not_drawn(one_each).startswith(
        "Of its 4 distillations, 2 kept step 0 (the initial retriever again) and 2"
    )
    two_in_one = _rows([(8, 10, 0.01, 0.1), (16, 10, 0.02, 0.1)]) + other
    assert not_drawn(two_in_one) is None
