"""The workflow on the smoke preset, end to end in a temporary folder, and its rerun contract."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SMOKE, snakemake

pytestmark = pytest.mark.workflow


def planned_rules(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    stats = output.split("Job stats:")[-1]
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)
        if m.group(1) != "total"
    }


def test_report_and_every_setting(smoke_run):
    run = smoke_run / "results" / "smoke"
    report = (run / "report" / "report.md").read_text()
    assert report.startswith("# ragdistill report") and "## Claims check" in report
    assert (
        report.index("## Claims check") < report.index("## Evaluation grid") < report.index("## Indicators")
    )
    assert "| claim | rule | measured (per seed) | held in seeds | holds |" in report
    claims = json.loads((run / "report" / "claims.json").read_text())
    assert len(claims) == 5
    for c in claims:
        assert set(c) >= {"claim", "measured", "holds"} and isinstance(c["holds"], bool)
    cells = [
        "initial+offtheshelf",
        "initial+finetuned-s0",
        "adist-offtheshelf-s0+offtheshelf",
        "adist-finetuned-s0+finetuned-s0",
        "pdist-finetuned-s0+finetuned-s0",
    ]
    for cell in cells:
        metrics = json.loads((run / "evaluate" / cell / "metrics.json").read_text())
        assert {"hr@1", "hr@5", "hr@10", "hr@20", "em", "f1"} <= set(metrics)
        first = json.loads((run / "evaluate" / cell / "predictions.jsonl").read_text().splitlines()[0])
        assert set(first) == {"id", "question", "answers", "prediction", "em", "f1"}
    grid = (run / "report" / "grid.md").read_text()
    for kind in (
        "| initial | offtheshelf",
        "| initial | finetuned",
        "| adist-offtheshelf | offtheshelf",
        "| adist-finetuned | finetuned",
        "| pdist-finetuned | finetuned",
    ):
        assert kind in grid
    for fig in ("distance", "pat", "mq", "grid", "curves", "example"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (run / "figures" / f"{fig}.pdf").read_bytes().startswith(b"%PDF")
        assert f"figures/{fig}.png" in report
    assert "One training question as the two teachers" in report  # captions, as in the HTML report


def test_snakemake_html_report(smoke_run, tmp_path):
    """``snakemake --report``: every figure and table with its caption, under its category."""
    html = tmp_path / "report.html"
    snakemake(smoke_run, "--report", str(html), "--configfile", str(SMOKE))
    text = html.read_text()
    for caption in ("Mean attention contribution c(t)", "One training question as the two teachers"):
        assert caption in text
    for category in ("Indicators", "Evaluation", "Distillation", "Report"):
        assert category in text


def test_retrieval_format(smoke_run):
    line = json.loads((smoke_run / "results/smoke/retrieve/initial/test.jsonl").read_text().splitlines()[0])
    assert {"id", "question", "answers", "ctxs"} <= set(line)
    assert len(line["ctxs"]) == 20
    assert set(line["ctxs"][0]) == {"id", "title", "text", "score", "has_answer"}
    scores = [c["score"] for c in line["ctxs"]]
    assert scores == sorted(scores, reverse=True)


def test_nothing_to_do_after_a_finished_run(smoke_run):
    out = snakemake(smoke_run, "all", "-n", "--configfile", str(SMOKE)).stdout
    assert "Nothing to be done" in out


def test_a_figure_parameter_change_plans_only_figures_and_report(smoke_run, tmp_path):
    extra = tmp_path / "dpi.yaml"
    extra.write_text("figures:\n  dpi: 60\n")
    out = snakemake(smoke_run, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    assert set(planned_rules(out)) == {"plot_figures", "make_report", "all"}, out[-3000:]


def test_a_distillation_change_reruns_distillation_and_downstream_only(smoke_run, tmp_path):
    extra = tmp_path / "lr.yaml"
    extra.write_text("distill:\n  lr: 1.0e-4\n")
    rules = planned_rules(snakemake(smoke_run, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout)
    assert rules.get("distill_retriever") == 3
    assert not {"fetch_model", "fetch_data", "encode_corpus", "finetune_reader", "dump_attention"} & set(
        rules
    )


def test_both_encoders_mode_plans_an_index_per_distilled_retriever(tmp_path):
    extra = tmp_path / "both.yaml"
    extra.write_text("distill:\n  mode: both\n")
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    rules = planned_rules(out)
    assert (rules["encode_corpus"], rules["build_index"]) == (2 * 4, 4)  # initial + 3 distilled, 2 shards
    for name in ("adist-offtheshelf-s0", "adist-finetuned-s0", "pdist-finetuned-s0"):
        assert f"results/smoke/distill/{name}/passage_encoder" in out
        job = re.search(
            rf"rule retrieve_distilled:\n\s+input: ([^\n]+)\n\s+output: results/smoke/retrieve/{name}/", out
        )
        assert job and f"results/smoke/index/{name}/index.faiss" in job.group(1), name


def test_extra_grid_cells_are_distilled_and_answered_by_their_teacher(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("grid:\n  extra: [attn-finetuned, pdist-offtheshelf]\n")
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    rules = planned_rules(out)
    assert (rules["distill_retriever"], rules["evaluate_setting"], rules["score_perplexity"]) == (5, 7, 2)
    assert "results/smoke/evaluate/attn-finetuned-s0+finetuned-s0/metrics.json" in out
    assert "results/smoke/evaluate/pdist-offtheshelf-s0+offtheshelf/metrics.json" in out


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("distill:\n  stepz: 3\n", r"config key distill.stepz: unknown key"),
        ("distill:\n  steps: many\n", r"config key distill.steps: .many. is not of type .integer."),
        ("models:\n  tiny-llama:\n    source: 'ftp:x'\n", r"config key models.tiny-llama.source: 'ftp:x'"),
        (
            "datasets:\n  smoke:\n    world:\n      n_people: 81\n",
            r"config key datasets.smoke.world.n_people: 81, but given_names x family_names = 10 x 8 = 80",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path, yaml, message):
    extra = tmp_path / "bad.yaml"
    extra.write_text(yaml)
    res = snakemake(tmp_path, "-n", "--configfile", str(SMOKE), str(extra), check=False)
    assert res.returncode != 0
    assert re.search(message, res.stdout + res.stderr), res.stderr[-2000:]
