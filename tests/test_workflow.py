"""The workflow on the smoke preset, end to end in a temporary folder, and its rerun contract."""

from __future__ import annotations

import hashlib
import html
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
    assert "| claim | rule | measured per seed: mean difference [95% interval] (n) |" in report
    # the fetch's leakage checks, counted on the report's first lines
    assert "Data: 24 training, 8 dev and 12 test questions; " in report
    assert "Test questions also in train: 0, in dev: 0; passages repeating another's text: " in report
    claims = json.loads((run / "report" / "claims.json").read_text())
    assert [c["claim"].split(".")[0] for c in claims] == ["1", "2", "2b", "3", "4", "5", "6", "7"]
    for c in claims:
        assert set(c) >= {"claim", "rule", "measured", "holds", "verdict"} and isinstance(c["holds"], bool)
        for comp in c["measured"][0]["comparisons"]:
            assert {"name", "diff", "lo", "hi", "n"} <= set(comp)
    cells = [
        "initial+offtheshelf",
        "initial+finetuned-s0",
        "adist-offtheshelf-s0+offtheshelf",
        "adist-offtheshelf-s0+finetuned-s0",
        "adist-finetuned-s0+finetuned-s0",
        "pdist-finetuned-s0+finetuned-s0",
    ]
    hits = {f"{m}@{k}" for m in ("hr", "gold") for k in (1, 5, 10, 20)}
    for cell in cells:  # each seed's replicate under s<seed>/
        metrics = json.loads((run / "s0" / "evaluate" / cell / "metrics.json").read_text())
        assert {"hr@1", "hr@5", "hr@10", "hr@20", "em", "f1"} <= set(metrics)
        rows = [
            json.loads(x)
            for x in (run / "s0" / "evaluate" / cell / "predictions.jsonl").read_text().splitlines()
        ]
        assert set(rows[0]) == {"id", "question", "answers", "prediction", "em", "f1"} | hits
        assert len(rows) == metrics["n_retrieval"] == metrics["n"]  # the smoke preset answers every question
        assert sum(r["em"] for r in rows) / len(rows) == metrics["em"]
    grid = (run / "report" / "grid.md").read_text()
    for kind in (
        "| initial | offtheshelf",
        "| initial | finetuned",
        "| adist-offtheshelf | offtheshelf",
        "| adist-offtheshelf | finetuned",
        "| adist-finetuned | finetuned",
        "| pdist-finetuned | finetuned",
    ):
        assert kind in grid
    figures = ("claims", "hr_at_k", "distance", "pat", "mq", "grid", "curves", "example", "finetune")
    for fig in (*figures, "learning_curve"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (run / "figures" / f"{fig}.pdf").read_bytes().startswith(b"%PDF")
        assert f"figures/{fig}.png" in report or fig == "learning_curve"
    # the learning curve: in the report, or not drawn (too few measured points) and the report says why
    curve = json.loads((run / "curve" / "curve.json").read_text())
    assert ("Not drawn: the learning curve figure." in report) == bool(curve.get("not_drawn"))
    assert ("figures/learning_curve.png" in report) != bool(curve.get("not_drawn"))
    # the smoke's sweep holds the two controls only: no figure of one point per panel, and why
    assert not (run / "figures" / "sweep.png").exists() and "Not drawn: the sweep figure." in report
    # provenance: the commit (or why none), the resolved config beside the report with its digest
    assert "## Provenance" in report and "Code: commit " in report
    digest = hashlib.sha256((run / "report" / "config.yaml").read_bytes()).hexdigest()
    assert f"sha256 `{digest}`" in report
    for table in ("grid.tex", "claims.tex"):
        assert (run / "report" / table).read_text().startswith("\\begin{table}")
    assert "One training question as the two teachers" in report  # captions, as in the HTML report


def test_controls_and_the_learning_curve_are_reported(smoke_run):
    """grid.controls (on by default) and the smoke's one-size curve: the sweep holds both controls
    with their gains (the uniform one without indicators), the curve a row per size with its
    gains and transfer, and the report shows both tables."""
    run = smoke_run / "results" / "smoke"
    sweep = json.loads((run / "sweep" / "sweep.json").read_text())
    assert [c["teacher"] for c in sweep["controls"]] == ["random", "uniform"]
    assert sweep["controls"][1]["MQ"] is None and sweep["controls"][0]["MQ"] is not None
    curve = json.loads((run / "curve" / "curve.json").read_text())["rows"]
    assert [(r["teacher"], r["size"], r["questions"]) for r in curve] == [
        ("finetuned", 8, 8),
        ("finetuned", None, 16),
    ]
    for r in curve:
        assert {"hr@5", "hr@1", "mrr", "transfer"} <= set(r) and r["hr@5"]["n"] == 12
    # the uniform control trains on the questions the dumped teachers do (attention.max_questions)
    trained = {
        t: json.loads((run / f"s0/distill/adist-{t}-s0/query_encoder/ragdistill_retriever.json").read_text())
        for t in ("finetuned", "uniform", "random")
    }
    assert {t: meta["questions"] for t, meta in trained.items()} == dict.fromkeys(trained, 16)
    report = (run / "report" / "report.md").read_text()
    assert "## Learning curve" in report and "| 0 | uniform |" in report


def test_snakemake_html_report(smoke_run, tmp_path):
    """``snakemake --report``: every figure and table with its caption, under its category."""
    page = tmp_path / "report.html"
    snakemake(smoke_run, "--report", str(page), "--configfile", str(SMOKE))
    text = page.read_text()
    for caption in (
        "Mean attention contribution c(t)",
        "One training question as the two teachers",
        "HR@k against k on the test questions",
        "training loss on the answer tokens per step",
        "Claims at a glance: every comparison of the claims check",
        "Learning curve: the test HR@5 gain over the initial retriever",
    ):
        assert caption in text
    for category in ("Indicators", "Evaluation", "Distillation", "Readers", "Report"):
        assert category in text
    # the first page (the workflow description) answers: every claim with its verdict, the grid
    first = json.loads(re.search(r"var workflow_desc = (\".*?\");\n", text).group(1))
    assert "system-message" not in first, first
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", first)).split())
    assert "Claims check, run smoke" in shown and "Evaluation grid, run smoke" in shown
    claims = json.loads((smoke_run / "results/smoke/report/claims.json").read_text())
    starts = [shown.index(c["claim"]) for c in claims] + [shown.index("Measured per seed")]
    for c, a, b in zip(claims, starts, starts[1:], strict=False):  # a row ends: seeds held, verdict
        assert shown[a:b].strip().endswith(f"{c['seeds_held']} {c['verdict']}"), shown[a:b]
    assert "adist-finetuned" in shown and "HR@5" in shown


def test_retrieval_format(smoke_run):
    line = json.loads(
        (smoke_run / "results/smoke/s0/retrieve/initial/test.jsonl").read_text().splitlines()[0]
    )
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
    # the sweep and the learning curve draw figures of their own
    figures = {"plot_figures", "teacher_sweep", "learning_curve", "make_report", "all"}
    assert set(planned_rules(out)) == figures, out[-3000:]


def test_a_distillation_change_reruns_distillation_and_downstream_only(smoke_run, tmp_path):
    extra = tmp_path / "lr.yaml"
    extra.write_text("distill:\n  lr: 1.0e-4\n")
    rules = planned_rules(snakemake(smoke_run, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout)
    # the grid's 3 and the controls' 2; the curve's subset
    assert (rules.get("distill_retriever"), rules.get("distill_subset")) == (5, 1)
    assert not {"fetch_model", "fetch_data", "encode_corpus", "finetune_reader", "dump_attention"} & set(
        rules
    )


@pytest.mark.parametrize(
    ("key", "rerun"),
    [
        # the attention objectives' teachers: the grid's two, the random control, the curve's subset
        (
            "tau_gold",
            {"adist-offtheshelf-s0", "adist-finetuned-s0", "adist-random-s0", "adist-finetuned-n8-s0"},
        ),
        ("tau_pdist", {"pdist-finetuned-s0"}),
    ],
)
def test_a_teacher_temperature_reruns_only_the_distillations_that_read_it(smoke_run, tmp_path, key, rerun):
    """tau_gold is the attention objectives' temperature, tau_pdist PDist's; the uniform control
    reads neither: a change of one plans only its own distillations."""
    extra = tmp_path / "tau.yaml"
    extra.write_text(f"distill:\n  {key}: 0.0123\n")
    out = snakemake(smoke_run, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    planned = set(
        re.findall(
            r"rule distill_(?:retriever|subset):\n\s+input: [^\n]+\n\s+"
            r"output: results/smoke/s0/distill/([\w-]+)/",
            out,
        )
    )
    assert planned == rerun


def test_both_encoders_mode_plans_an_index_per_distilled_retriever(tmp_path):
    extra = tmp_path / "both.yaml"
    extra.write_text("distill:\n  mode: both\n")
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    rules = planned_rules(out)
    # initial + 6 distilled (the grid's 3, the controls' 2, the curve's 1) + the 5 teachers'
    # fixed-step (last-step) retrievers, 2 shards each
    assert (rules["encode_corpus"], rules["build_index"]) == (2 * 12, 12)
    for name in ("adist-offtheshelf-s0", "adist-finetuned-s0", "pdist-finetuned-s0"):
        last = f"results/smoke/s0/distill/{name}/last/passage_encoder"
        assert last in out and f"results/smoke/s0/index/{name}-last/index.faiss" in out
        assert f"results/smoke/s0/distill/{name}/passage_encoder" in out
        job = re.search(
            rf"rule retrieve_distilled:\n\s+input: ([^\n]+)\n\s+output: results/smoke/s0/retrieve/{name}/",
            out,
        )
        assert job and f"results/smoke/s0/index/{name}/index.faiss" in job.group(1), name


def test_both_encoders_mode_reencodes_the_corpus_and_retrieves(smoke_run, tmp_path):
    """Both mode run, not only planned, on a copy of the smoke run, with the passage encoder's
    top layer trained on stored lower states (``distill.passage_layers``, as the default): the
    distilled passage encoder re-encodes the corpus from the stored token ids (its re-saved
    tokenizer must pass the tokens' check; the default run from an empty folder once stopped
    there), its own index is built, and test retrieval reads it."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(smoke_run, work, symlinks=True)
    extra = tmp_path / "both.yaml"
    extra.write_text("distill:\n  mode: both\n  refresh_every: 2\n  passage_layers: 1\n")
    target = "results/smoke/s0/retrieve/adist-finetuned-s0/test.jsonl"
    res = snakemake(work, target, "--cores", "2", "--configfile", str(SMOKE), str(extra))
    ran = planned_rules(res.stdout + res.stderr)
    assert ran["distill_retriever"] == 1 and ran["encode_corpus"] == 2 and ran["build_index"] == 1, ran
    assert not {"fetch_data", "tokenize_corpus", "finetune_reader", "dump_attention"} & set(ran)
    assert (work / "results/smoke/s0/index/adist-finetuned-s0/index.faiss").stat().st_size > 0
    rows = [json.loads(line) for line in (work / target).read_text().splitlines()]
    assert len(rows) == 12 and all(len(r["ctxs"]) == 20 for r in rows)


def test_extra_grid_cells_are_distilled_and_answered_by_their_teacher(tmp_path):
    """Each extra retriever with its teacher; an off-the-shelf teacher's also with the fine-tuned
    reader. Answering stays one job per reader, however many cells share it."""
    extra = tmp_path / "extra.yaml"
    extra.write_text("grid:\n  extra: [attn-finetuned, pdist-offtheshelf]\n")
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    rules = planned_rules(out)
    assert (rules["distill_retriever"], rules["evaluate_setting"], rules["score_perplexity"]) == (7, 9, 2)
    assert rules["answer_questions"] == 2
    for cell in (
        "attn-finetuned-s0+finetuned-s0",
        "pdist-offtheshelf-s0+offtheshelf",
        "pdist-offtheshelf-s0+finetuned-s0",
    ):
        assert f"results/smoke/s0/evaluate/{cell}/metrics.json" in out


def test_teacher_sweep_plans_a_reader_per_step_count(tmp_path):
    """grid.teachers [0, 2, 4] on the smoke preset (reader_finetune.steps 4): 0 and 4 are the
    existing readers, 2 gets its own fine-tuning, dump, indicators and ADist retriever."""
    extra = tmp_path / "sweep.yaml"
    extra.write_text("grid:\n  teachers: [0, 2, 4]\n")
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(SMOKE), str(extra)).stdout
    rules = planned_rules(out)
    # dumps: off the shelf, finetuned, ft2, the random control, and finetuned's test dump (transfer)
    assert (rules["finetune_reader"], rules["dump_attention"], rules["distill_retriever"]) == (2, 5, 6)
    assert rules["teacher_sweep"] == 1 and rules["answer_questions"] == 2  # the sweep answers nothing
    assert "results/smoke/s0/reader/ft2-s0/model" in out
    assert "results/smoke/s0/retrieve/adist-ft2-s0/test.jsonl" in out


def test_teacher_sweep_runs_and_reports(smoke_run, tmp_path):
    """The sweep and the ladder on a copy of the finished smoke run: only the new teachers' jobs
    (a fine-tuning of 2 steps, a noise rung, the blind rung), the sweep, the figures and the report
    run, within the smoke's time budget; the report gains the sweep's table and the rank
    correlations with their intervals."""
    import shutil
    import time

    work = tmp_path / "work"
    shutil.copytree(smoke_run, work, symlinks=True)
    extra = tmp_path / "sweep.yaml"
    extra.write_text("grid:\n  teachers: [0, 2, 4]\nladder:\n  noise: [0.05]\n  blind: true\n")
    start = time.monotonic()
    res = snakemake(work, "all", "--cores", "2", "--configfile", str(SMOKE), str(extra))
    took = time.monotonic() - start
    ran = set(re.findall(r"rule (\w+):", res.stdout + res.stderr))
    assert {"noisy_reader", "finetune_reader"} <= ran, ran
    assert took < 120, f"the ladder's new jobs took {took:.0f} s"
    sweep = json.loads((work / "results/smoke/sweep/sweep.json").read_text())
    assert [(r["teacher"], r["label"]) for r in sweep["rows"]] == [
        ("offtheshelf", "0 steps"),
        ("ft2", "2 steps"),
        ("finetuned", "4 steps"),
        ("nz50", "noise 0.05"),
        ("blind", "blind"),
    ]
    assert set(sweep["spearman"]) == set(sweep["indicators"]) == {"PAT_T10", "MQ", "near-far"}
    assert all(r["n"] == 12 and r["lo"] <= r["gain"] <= r["hi"] for r in sweep["rows"])
    assert all(r["last_n"] == 12 for r in sweep["rows"])  # the fixed step's gain beside
    assert set(sweep["correlations"]) == {"PAT_T5", "PAT_T10", "PAT_T20", "MQ", "near-far"}
    assert (work / "results/smoke/s0/reader/nz50-s0/model/model.safetensors").exists()
    report = (work / "results/smoke/report/report.md").read_text()
    assert "## Teacher-quality sweep" in report and "figures/sweep.png" in report
    assert "Do the indicators rank the teachers?" in report
    assert (work / "results/smoke/figures/sweep.pdf").read_bytes().startswith(b"%PDF")


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
        # pairwise limits, when the run is planned rather than when a model job meets them
        ("k: 30\n", r"config key k: 30 documents, but retrieve.top_k keeps 20"),
        ("distill:\n  candidates: 7\n", r"distill.candidates: 7 is not a multiple of k"),
    ],
)
def test_bad_config_names_the_key(tmp_path, yaml, message):
    extra = tmp_path / "bad.yaml"
    extra.write_text(yaml)
    res = snakemake(tmp_path, "-n", "--configfile", str(SMOKE), str(extra), check=False)
    assert res.returncode != 0
    assert re.search(message, res.stdout + res.stderr), res.stderr[-2000:]


def _copy_of_repo(tmp_path):
    """A copy of the project's workflow and library (code files keep their times)."""
    import shutil

    from tests.conftest import REPO

    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "config.yaml", "config", "workflow", "ragdistill", "envs"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, repo / part)
    return repo


def _copy_of_repo_and_run(smoke_run, tmp_path):
    """A copy of the repository and of the finished smoke run, so that a code edit in the copy
    changes nothing the other tests see."""
    import shutil

    repo = _copy_of_repo(tmp_path)
    work = tmp_path / "work"
    shutil.copytree(smoke_run, work, symlinks=True)
    return repo, work


# what a reader-side edit reruns, and the stages before the reader
READER_ON = {
    "check_lengths",  # it asks the reader's kind how many documents share its context
    "finetune_reader",
    "dump_attention",
    "score_perplexity",
    "distill_retriever",
    "retrieve_distilled",
    "random_reader",
    "distill_subset",
}
READER_ON |= {
    "teacher_sweep",
    "learning_curve",
    "answer_questions",
    "evaluate_setting",
    "compute_indicators",
    "plot_figures",
    "make_report",
    "all",
}
RETRIEVAL_SIDE = {
    "fetch_data",
    "fetch_model",
    "tokenize_corpus",
    "encode_corpus",
    "build_index",
    "retrieve_initial",
    "candidate_vectors",
}


@pytest.mark.parametrize(
    ("module", "planned"),
    [
        # indicators.py: its own stage, then the figures and the report that read its output
        ("stages/indicators", {"compute_indicators", "teacher_sweep", "plot_figures", "make_report", "all"}),
        # prompts.py: the reader's stages and what follows them; fetching, encoding and the
        # initial retrieval (which build no prompt) stay done
        ("readers/prompts", READER_ON),
        # metrics.py: fetch_data checks answers with its normaliser, so every stage uses it
        ("analysis/metrics", READER_ON | RETRIEVAL_SIDE),
    ],
)
def test_a_docstring_edit_reruns_the_stages_that_import_the_module(smoke_run, tmp_path, module, planned):
    repo, work = _copy_of_repo_and_run(smoke_run, tmp_path)
    # every rerun trigger: the copied project (other folders, the same code) reruns nothing, and
    # an edit reruns what imports the edited module
    cmd = ["-s", str(repo / "Snakefile"), "all", "-n"]
    cmd += ["--configfile", str(repo / "config" / "smoke.yaml")]
    assert "Nothing to be done" in snakemake(work, *cmd).stdout
    path = repo / "ragdistill" / f"{module}.py"
    path.write_text(path.read_text().replace('"""', '"""Edited. ', 1))
    assert set(planned_rules(snakemake(work, *cmd).stdout)) == planned


def test_jobs_run_the_library_of_the_workflow_they_belong_to(tmp_path):
    """Another ragdistill earlier on the path (a non-editable install, a PYTHONPATH) does not
    replace the workflow's own: the rules' code hashes are read from the workflow's folder, so
    its jobs must run that code too."""
    import os
    import shutil
    import subprocess

    from tests.conftest import REPO, SNAKEMAKE

    repo = _copy_of_repo(tmp_path)
    other = tmp_path / "site"
    shutil.copytree(REPO / "ragdistill", other / "ragdistill")
    work = tmp_path / "work"
    work.mkdir()
    cmd = [*SNAKEMAKE, "-s", str(repo / "Snakefile"), "--directory", str(work), "--cores", "1"]
    cmd += ["resources/data/smoke/s0/train.jsonl", "--configfile", str(repo / "config" / "smoke.yaml")]
    env = {**os.environ, "PYTHONPATH": str(other)}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    log = (work / "logs" / "fetch_data" / "smoke" / "s0.log").read_text()
    assert f"library: {(repo / 'ragdistill').resolve()}" in log


def test_code_hashes_are_the_entry_modules():
    """Each rule's code hash is derived from the module its params.entry names, and follows
    content, not place: the same files elsewhere hash alike, an edit does not."""
    import pathlib

    from ragdistill.core.codedeps import code_modules
    from tests.conftest import REPO

    for smk in pathlib.Path(REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\nrule ", smk.read_text()):
            code = re.search(r'code=code_hash\("(\w+)"\)', block)
            entry = re.search(r'entry="(\w+):\w+"', block)
            assert bool(code) == bool(entry), (smk.name, block[:40])
            if code:
                assert code.group(1) == entry.group(1), (smk.name, block[:40])
    evaluate = code_modules("stages.evaluate")
    assert "analysis.metrics" in evaluate and "core.files" not in evaluate
    assert code_modules("stages.report") == [
        "analysis.claims",
        "analysis.forest",
        "analysis.hr_at_k",
        "analysis.latex",
        "analysis.metrics",
        "analysis.plots",
        "analysis.stats",
        "core.grid",
        "core.names",
        "core.provenance",
        "core.settings",
        "core.stage_settings",
        "data.articles",
        "data.dumps",
        "stages.report",
    ]
    import shutil
    import tempfile

    from ragdistill.core.codedeps import PACKAGE, code_digest

    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / "elsewhere"
        shutil.copytree(PACKAGE, copy)
        mods = code_modules("stages.report")
        assert code_digest(copy, mods) == code_digest(PACKAGE, mods)
        (copy / "analysis" / "stats.py").write_text(
            (copy / "analysis" / "stats.py").read_text() + "\n# edited\n"
        )
        assert code_digest(copy, mods) != code_digest(PACKAGE, mods)
        fetch = code_modules("stages.fetch")
        assert code_digest(copy, fetch) == code_digest(PACKAGE, fetch)


ARMS_SMOKE = SMOKE.parent / "arms-smoke.yaml"


def test_both_arms_run_and_compare_their_mq(smoke_run, tmp_path):
    """The arms preset on a copy of the finished smoke run: the decoder-only run is reused as it
    is, the encoder-decoder run (tiny random T5, FiD) goes through every stage, and the arms
    stage compares their per-example MQ on the same questions (claim 8)."""
    import shutil

    import numpy as np

    work = tmp_path / "work"
    shutil.copytree(smoke_run, work, symlinks=True)
    plan = planned_rules(snakemake(work, "all", "-n", "--configfile", str(SMOKE), str(ARMS_SMOKE)).stdout)
    assert plan["finetune_reader"] == 1 and plan["compare_arms"] == 1  # smoke-t5's only
    # the same generated world: smoke-t5 searches the smoke run's initial index
    assert "tokenize_corpus" not in plan and plan["retrieve_initial"] == 1
    report = work / "results/smoke/report/report.md"
    before = report.stat().st_mtime
    snakemake(work, "all", "--cores", "2", "--configfile", str(SMOKE), str(ARMS_SMOKE))
    assert report.stat().st_mtime == before
    arms = json.loads((work / "results/arms/claims.json").read_text())
    kinds = {(a["run"], a["reader"]): a["kind"] for a in arms["arms"]}
    assert kinds[("smoke", "finetuned-s0")] == "decoder-only"
    assert kinds[("smoke-t5", "finetuned-s0")] == "encoder-decoder"
    (claim,) = arms["claims"]
    assert claim["claim"].startswith("8.") and claim["verdict"] in {
        "holds",
        "same direction, not significant",
        "does not hold",
    }
    (comp,) = claim["measured"][0]["comparisons"]
    assert comp["n"] == 16  # the same 16 dumped training questions in both arms
    dec, t5 = (
        np.load(work / f"results/{r}/s0/attention/finetuned-s0/train.npz") for r in ("smoke", "smoke-t5")
    )
    assert set(dec.files) == set(t5.files) and list(dec["ids"]) == list(t5["ids"])
    t5_cell = json.loads(
        (work / "results/smoke-t5/s0/evaluate/adist-finetuned-s0+finetuned-s0/metrics.json").read_text()
    )
    assert 0.0 <= t5_cell["em"] <= 1.0
    md = (work / "results/arms/arms.md").read_text()
    assert "encoder-decoder" in md and "mq_arms.png" in md
    assert (work / "results/arms/mq_arms.pdf").read_bytes().startswith(b"%PDF")


def test_paper_arms_preset_plans_both_readers(tmp_path):
    """The internet preset pairing Falcon with Flan-T5 on NQ-open: a dry run plans both runs, each
    reader fetched once, and the arms comparison."""
    paper = SMOKE.parent / "paper.yaml"
    out = snakemake(
        tmp_path, "all", "-n", "--configfile", str(paper), str(SMOKE.parent / "arms-paper.yaml")
    ).stdout
    rules = planned_rules(out)
    assert rules["compare_arms"] == 1 and rules["fetch_model"] == 3  # contriever, falcon, flan-t5
    assert "resources/models/flan-t5-base" in out and "results/nq-t5/s0/reader/finetuned-s0/model" in out
    # both arms read NQ-open over the DPR corpus in every seed: the corpus encoded and indexed once
    assert (rules["tokenize_corpus"], rules["encode_corpus"], rules["build_index"]) == (1, 64, 1)
    follower = next(b for b in out.split("rule retrieve_initial:")[1:] if "run=nq-t5/s2" in b)
    assert "results/nq/s0/index/initial/index.faiss" in follower.split("output:")[0]


def test_squad_preset_plans_from_the_official_file(tmp_path):
    """The real-text preset validates and plans the whole study from one SQuAD JSON file; the
    local-copy override of docs/running.md changes only the source."""
    squad = SMOKE.parent / "squad.yaml"
    default = SMOKE.parent.parent / "config.yaml"  # read from the repository, as a user runs it
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(default), str(squad)).stdout
    rules = planned_rules(out)
    # the grid's 3 distillations and the controls' 2
    assert rules["fetch_data"] == 1 and rules["make_report"] == 1 and rules["distill_retriever"] == 5
    local = tmp_path / "local.yaml"
    local.write_text('datasets: {squad: {squad: {source: "local:/nowhere/dev-v1.1.json"}}}\n')
    out = snakemake(tmp_path, "all", "-n", "--configfile", str(default), str(squad), str(local)).stdout
    assert planned_rules(out) == rules


def _small_squad(path) -> None:
    """A SQuAD v1.1-format file of 8 articles, 2 paragraphs and 4 questions each (64 in all),
    written here: real-text structure (articles, paragraphs, answer offsets) at smoke size."""
    names = ["Arlen", "Brisa", "Corvin", "Delma", "Evard", "Fenna", "Galen", "Hesper"]
    trades = ["millers", "weavers", "potters", "smiths"]
    data = []
    for a, town in enumerate(names):
        paragraphs = []
        for p in range(2):
            year, river = 1700 + 13 * a + p, f"{names[(a + p + 1) % 8]}water"
            mayor, trade = f"{names[(a + 3 * p + 2) % 8]} Quill", trades[(a + p) % 4]
            context = (
                f"{town} was founded in {year} beside the {river}. Its first mayor was {mayor}. "
                f"Most of its people were {trade}, and the market met on Tuesdays."
            )
            asks = [
                (f"When was {town} founded ({p})?", str(year)),
                (f"Which river runs beside {town} ({p})?", river),
                (f"Who was the first mayor of {town} ({p})?", mayor),
                (f"What were most people of {town} ({p})?", trade),
            ]
            qas = [
                {
                    "id": f"{a}-{p}-{i}",
                    "question": q,
                    "answers": [{"text": ans, "answer_start": context.index(ans)}],
                }
                for i, (q, ans) in enumerate(asks)
            ]
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": f"{town}_(town)", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "1.1", "data": data}))


def _small_squad_preset(tmp_path, seeds: str = "[0]"):
    """A preset over the small SQuAD-format set (written beside it): run ``realtext``."""
    _small_squad(tmp_path / "small.json")
    extra = tmp_path / "realtext.yaml"
    extra.write_text(
        "runs: [realtext]\n"
        f"seeds: {seeds}\n"
        "datasets:\n"
        "  realtext:\n"
        "    question_format: squad\n"
        "    squad:\n"
        f'      source: "local:{tmp_path / "small.json"}"\n'
        "      passage_words: 30\n"
        "      seed: 0\n"
        "      train: 24\n"
        "      dev: 8\n"
        "      test: 12\n"
    )
    return extra


def test_a_small_real_text_set_runs_through_to_the_report(tmp_path):
    """The smoke models on a small SQuAD-format set through ``all``: every stage, the learning
    curve whose transfer may be undefined, and a report at the end (issue: such a run once
    stopped in the learning curve and wrote no report)."""
    extra = _small_squad_preset(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    res = snakemake(work, "all", "--cores", "2", "--configfile", str(SMOKE), str(extra))
    report = (work / "results/realtext/report/report.md").read_text()
    assert "## Claims check" in report and "clustered by article" in report
    # the limits known at fetch are checked before any reader is trained (check_lengths' priority)
    started = re.findall(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, re.M)
    assert started.index("check_lengths") < started.index("finetune_reader"), started
    assert (work / "results/realtext/figures/learning_curve.png").stat().st_size > 1000
    # a curve that measured too little is not drawn, and the report says why
    curve = json.loads((work / "results/realtext/curve/curve.json").read_text())
    if curve.get("not_drawn"):
        assert f"Not drawn: the learning curve figure. {curve['not_drawn']}" in report
    checks = json.loads((work / "resources/data/realtext/s0/checks.json").read_text())
    assert checks["questions"] == {"train": 24, "dev": 8, "test": 12}


def test_seeds_of_one_real_text_file_share_the_initial_index(tmp_path):
    """Two seeds of one SQuAD-format file draw their own questions from one corpus: its initial
    index is encoded and built once, by seed 0, and seed 1 searches it there; a seed 1 whose
    corpus is not seed 0's stops with one line instead of retrieving from another corpus."""
    extra = _small_squad_preset(tmp_path, seeds="[0, 1]")
    work = tmp_path / "work"
    work.mkdir()
    args = ("--configfile", str(SMOKE), str(extra))
    rules = planned_rules(snakemake(work, "retrieve", "-n", *args).stdout)
    assert (rules["fetch_data"], rules["retrieve_initial"]) == (2, 2)
    assert (rules["tokenize_corpus"], rules["build_index"]) == (1, 1), rules
    snakemake(work, "retrieve", "--cores", "2", *args)
    s0, s1 = (work / f"results/realtext/s{s}" for s in (0, 1))
    assert (s0 / "index/initial/index.faiss").is_file() and not (s1 / "index").exists()
    first = [json.loads(x) for x in (s1 / "retrieve/initial/test.jsonl").read_text().splitlines()]
    data = work / "resources/data/realtext/s1/test.jsonl"
    own = [json.loads(x)["id"] for x in data.read_text().splitlines()]
    assert [q["id"] for q in first] == own and len(own) == 12  # seed 1's own test questions
    corpus = (work / "resources/data/realtext/s1/corpus.tsv").read_text().splitlines()
    assert {c["id"] for q in first for c in q["ctxs"]} <= {line.split("\t")[0] for line in corpus[1:]}
    # seed 1's corpus changed behind the workflow's back: its retrieval stops, naming the file
    checks = work / "resources/data/realtext/s1/checks.json"
    checks.write_text(json.dumps({**json.loads(checks.read_text()), "corpus_sha256": "0" * 64}))
    res = snakemake(work, "retrieve", "--cores", "2", "--forcerun", "retrieve_initial", *args, check=False)
    assert res.returncode != 0
    assert "realtext/s1/corpus.tsv: not the corpus of the initial index it shares" in res.stdout + res.stderr
    assert not (s1 / "retrieve/initial/test.jsonl").exists()
