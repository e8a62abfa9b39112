"""The analysis tools (``python -m ragdistill.tools.<name> <run folder>``) on the session's smoke run:
each prints the table its findings pages quote, with numbers that agree with what the workflow
itself wrote, and a run folder that lacks what a tool reads stops it with one line."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from ragdistill.analysis.claims import interval_text
from ragdistill.tools import bf16_targets, distillations, gains, hits, teachers, try_distill
from ragdistill.tools.run_folder import RunFolder
from tests.conftest import REPO

TOOLS = [hits, gains, teachers, distillations, try_distill, bf16_targets]


def table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the Markdown table in a tool's output."""
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return cells[0], cells[1:]


def run_tool(tool, capsys, *args) -> tuple[list[str], dict[str, list[str]]]:
    """A tool's table, its rows by their first cell."""
    tool.main([str(a) for a in args])
    header, rows = table(capsys.readouterr().out)
    return header, {r[0]: r for r in rows}


def stops(tool, *args) -> str:
    """The one line a tool stops with (exit status 1)."""
    with pytest.raises(SystemExit) as e:
        tool.main([str(a) for a in args])
    message = str(e.value.code)
    assert "\n" not in message and message.startswith(f"{tool.PROG}: "), message
    return message


def curve(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def metrics(run: Path, cell: str) -> dict:
    return json.loads((run / "results/smoke/s0/evaluate" / cell / "metrics.json").read_text())


def meta(run: Path, name: str) -> dict:
    path = run / "results/smoke/s0/distill" / name / "query_encoder/ragdistill_retriever.json"
    return json.loads(path.read_text())


@pytest.mark.workflow
def test_hits_per_split_agree_with_the_evaluation(smoke_run, capsys):
    header, rows = run_tool(hits, capsys, smoke_run)
    assert header == ["split", "questions", "HR@1", "HR@5", "HR@10", "HR@20"] + [
        "first answer at ranks 6-10 / 11-20 / none"
    ]
    assert [(s, rows[s][1]) for s in rows] == [("train", "24"), ("dev", "8"), ("test", "12")]  # the preset
    test = metrics(smoke_run, "initial+offtheshelf")
    assert [float(v) for v in rows["test"][2:6]] == [round(test[f"hr@{k}"], 3) for k in (1, 5, 10, 20)]
    # the bands count the questions HR@k leaves: 12 * (HR@10 - HR@5) first found at ranks 6-10
    want = [test["hr@10"] - test["hr@5"], test["hr@20"] - test["hr@10"], 1 - test["hr@20"]]
    assert [int(v) for v in rows["test"][6].split(" / ")] == [round(12 * w) for w in want]
    _, rows = run_tool(hits, capsys, smoke_run, "--retriever", "adist-finetuned-s0", "--k", "1", "5")
    assert list(rows) == ["test"]  # a distilled retriever has its test split only
    assert "dev.jsonl is missing" in stops(
        hits, smoke_run, "--retriever", "adist-finetuned-s0", "--splits", "dev"
    )


@pytest.mark.workflow
def test_gains_of_every_distilled_retriever_agree_with_the_report(smoke_run, capsys):
    header, rows = run_tool(gains, capsys, smoke_run)
    assert header[:4] == [
        "retriever",
        "kept step (dev HR@5)",
        "teacher top-1 / retriever's first (questions)",
        "HR@5",
    ]
    assert header[4:] == ["HR@5 gain", "HR@1 gain", "MRR gain"]
    distilled = sorted(
        p.name for p in (smoke_run / "results/smoke/s0/retrieve").iterdir() if p.name != "initial"
    )
    assert sorted(rows) == distilled and "adist-finetuned-s0-last" in rows
    fixed = json.loads((smoke_run / "results/smoke/report/fixed_step.json").read_text())
    for f in (f for f in fixed if f["seed"] == 0):
        name = f"{f['retriever']}-s0"
        assert rows[name][1].startswith(f"{f['kept_step']} (")
        # the fixed-step retriever's HR@5 gain is the report's, interval and all
        assert rows[f"{name}-last"][4] == interval_text(f["last"])
        if f["kept_step"] == 0:  # the initial retriever again
            assert rows[name][4].startswith("+0 [+0, +0]")
    m = meta(smoke_run, "adist-finetuned-s0")
    assert rows["adist-finetuned-s0"][2] == (
        f"{m['teacher_top1_hit']:.3f} / {m['retriever_top1_hit']:.3f} ({m['questions_with_answer']})"
    )
    hr5 = metrics(smoke_run, "adist-finetuned-s0+finetuned-s0")["hr@5"]
    assert float(rows["adist-finetuned-s0"][3]) == round(hr5, 3)
    _, one = run_tool(gains, capsys, smoke_run, "pdist-finetuned-s0")
    assert list(one) == ["pdist-finetuned-s0"]
    assert "retrieve/adist-none-s0/test.jsonl is missing" in stops(gains, smoke_run, "adist-none-s0")


@pytest.mark.workflow
def test_teachers_give_each_dump_the_distillation_s_teacher_line(smoke_run, capsys):
    teachers.main([str(smoke_run)])
    header, rows = table(capsys.readouterr().out)
    assert header == ["reader", "objective", "questions with an answer", "teacher top-1", "retriever's first"]
    by = {(r[0], r[1]): r for r in rows}
    readers = {"finetuned-s0", "offtheshelf", "random"}
    assert set(by) == {(r, o) for r in readers for o in ("adist", "attn", "first", "mean", "noq")} | {
        ("finetuned-s0", "pdist")
    }
    for (reader, objective), name in {
        ("finetuned-s0", "adist"): "adist-finetuned-s0",
        ("offtheshelf", "adist"): "adist-offtheshelf-s0",
        ("finetuned-s0", "pdist"): "pdist-finetuned-s0",
    }.items():
        m = meta(smoke_run, name)
        row = by[(reader, objective)]
        assert row[2].startswith(f"{m['questions_with_answer']} of {m['questions']} (N = 5)")
        assert (float(row[3]), float(row[4])) == (
            round(m["teacher_top1_hit"], 3),
            round(m["retriever_top1_hit"], 3),
        )
    assert "holds no dev dump" in stops(teachers, smoke_run, "--split", "dev")


@pytest.mark.workflow
def test_distillations_give_the_dev_curve_and_the_kept_step(smoke_run, capsys):
    header, rows = run_tool(distillations, capsys, smoke_run)
    assert header == distillations.HEADER
    names = sorted(p.name for p in (smoke_run / "results/smoke/s0/distill").iterdir())
    assert sorted(rows) == names
    for name in names:
        m = meta(smoke_run, name)
        assert rows[name][4] == str(m["selected_step"])
        evaluated = curve(smoke_run / "results/smoke/s0/distill" / name / "curve.tsv")
        steps = re.findall(r"(\d+): ([\d.]+)", rows[name][2])
        assert steps == [
            (r["step"], f"{float(r['dev_hr5']):.3f}") for r in evaluated if r["dev_hr5"] != "nan"
        ]
    assert rows["adist-uniform-s0"][1] == "uniform targets"
    # two run folders side by side, each row labelled by its folder
    distillations.main([str(smoke_run), str(smoke_run)])
    header, both = table(capsys.readouterr().out)
    assert header == ["run folder", *distillations.HEADER]
    assert both == [[str(smoke_run), *rows[n]] for n in names] * 2


@pytest.mark.workflow
def test_try_distill_with_the_run_s_settings_is_the_run_s_distillation(smoke_run, tmp_path, capsys):
    """Unchanged, the try repeats the workflow's own distillation (the rule's params rebuilt
    from the resolved config); changed, it trains as told, and writes nothing under results/."""
    before = sorted(p for p in (smoke_run / "results").rglob("*"))
    header, rows = run_tool(try_distill, capsys, smoke_run, "same", "--out", tmp_path / "same")
    ours = curve(tmp_path / "same/curve.tsv")
    theirs = curve(smoke_run / "results/smoke/s0/distill/adist-finetuned-s0/curve.tsv")
    assert [(r["step"], r["dev_hr5"], r["wins"]) for r in ours] == [
        (r["step"], r["dev_hr5"], r["wins"]) for r in theirs
    ]
    assert [float(r["loss"]) for r in ours[1:]] == pytest.approx(
        [float(r["loss"]) for r in theirs[1:]], rel=1e-3
    )
    assert header == distillations.HEADER and rows["same"][4] == str(
        meta(smoke_run, "adist-finetuned-s0")["selected_step"]
    )
    # changed: three steps, evaluated at each, the last kept, on the first 3 of the 5 candidates
    _, rows = run_tool(
        try_distill,
        capsys,
        smoke_run,
        "changed",
        "steps=3",
        "eval_every=1",
        "select=last",
        "candidates=3",
        "--objective",
        "pdist",
        "--out",
        tmp_path / "changed",
    )
    assert rows["changed"][4] == "3" and re.findall(r"(\d+): ", rows["changed"][2]) == ["0", "1", "2", "3"]
    assert (tmp_path / "changed/targets.npz").exists() and (tmp_path / "changed/result.md").exists()
    assert sorted(p for p in (smoke_run / "results").rglob("*")) == before
    assert "config key distill.bogus" in stops(
        try_distill, smoke_run, "x", "bogus=1", "--out", tmp_path / "x"
    )


@pytest.mark.workflow
def test_bf16_targets_compares_the_two_precisions(smoke_run, capsys):
    bf16_targets.main([str(smoke_run), "--questions", "4"])
    out = capsys.readouterr().out
    assert "reader finetuned-s0, 4 training questions" in out
    assert "the float32 dump equals the workflow's (model_jobs.precision: float32" in out
    header, rows = table(out)
    assert header == ["variant", "same top document", "Spearman mean (min)", "largest relative difference"]
    assert [r[0] for r in rows] == ["adist", "attn", "first", "mean", "noq"]
    for r in rows:  # bf16 rounds the targets, it does not reorder a tiny model's candidates much
        assert 0.0 <= float(r[1]) <= 1.0 and 0.0 < float(r[3]) < 0.1
    assert "attention/finetuned-s9/train.npz is missing" in stops(
        bf16_targets, smoke_run, "--reader", "finetuned-s9"
    )


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.__name__.rsplit(".", 1)[1])
def test_a_run_folder_without_outputs_stops_each_tool_with_one_line(tool, tmp_path):
    (tmp_path / "results/smoke/s0").mkdir(parents=True)
    args = [tmp_path, "label"] if tool is try_distill else [tmp_path]
    assert re.search(r"is missing \(.+ makes it\)|holds no ", stops(tool, *args))


def test_the_run_folder_is_found_or_named():
    with pytest.raises(SystemExit, match="not a run folder: it has no results/"):
        RunFolder.open("tool", Path("/nonexistent"), None, 0)


def test_several_runs_must_be_named(tmp_path):
    for run in ("a", "b"):
        (tmp_path / "results" / run / "s0").mkdir(parents=True)
    (tmp_path / "results/runs").mkdir()  # the across-runs folder is no run
    with pytest.raises(SystemExit, match=r"holds 2 runs \(a, b\): name one with --run"):
        RunFolder.open("tool", tmp_path, None, 0)
    assert RunFolder.open("tool", tmp_path, "b", 0).replicate == tmp_path / "results/b/s0"
    with pytest.raises(SystemExit, match=r"has no replicate s1 \(seeds there: 0\)"):
        RunFolder.open("tool", tmp_path, "b", 1)


def test_findings_hold_pages_and_figures_and_cite_tools_that_exist():
    """Analysis is product: the commands behind the findings are tools of the package, and the
    findings folder holds only what a reader reads (Markdown and figures)."""
    findings = REPO / "docs" / "findings"
    other = [
        p
        for p in findings.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".png", ".pdf") and "__pycache__" not in p.parts
    ]
    assert not other, f"not a page or a figure: {other}"
    docs = [*findings.glob("*.md"), *(REPO / "docs").glob("*.md"), REPO / "README.md"]
    cited = {m for p in docs for m in re.findall(r"python -m ragdistill\.tools\.(\w+)", p.read_text())}
    assert {"hits", "gains", "teachers", "distillations", "try_distill", "bf16_targets"} <= cited
    for name in cited:
        assert (REPO / "ragdistill" / "tools" / f"{name}.py").exists(), f"a page cites {name}, not a tool"
