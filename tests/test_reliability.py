"""Reliability of the training stages: the same seed gives the same files, and a job
interrupted between checkpoints ends exactly where an uninterrupted one does."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from ragdistill.models import resume
from ragdistill.stages import distill, reader
from tests.conftest import LORA, SMOKE, SNAKEMAKE, distill_case, finetune_case


class Killed(Exception):
    """Stands in for SIGKILL inside the test process (the workflow test sends the real one)."""


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in (".safetensors", ".json", ".tsv")
    }


def _kill_at(monkeypatch, stage: str, at: int) -> None:
    def crash(s: str, step: int) -> None:
        if (s, step) == (stage, at):
            raise Killed(f"{s}:{step}")

    monkeypatch.setattr(resume, "crash_point", crash)


def _outputs(work: Path, out: dict) -> dict[str, str]:
    """Digests of a training case's files and of its trained model (its first output)."""
    model_dir = Path(next(iter(out.values())))
    return _digest(work) | {f"model/{k}": v for k, v in _digest(model_dir).items()}


def _record_loads(monkeypatch) -> list:
    """What each resume.load call returns, recorded as the job runs."""
    calls: list = []
    real_load = resume.load
    monkeypatch.setattr(resume, "load", lambda *a: calls.append(r := real_load(*a)) or r)
    return calls


def _run_case(case, entry, tmp: Path, model: str, **kw) -> dict[str, str]:
    inp, out, params = case(tmp, model, **kw)
    entry(inp, out, params)
    files = _outputs(tmp, out)
    assert not (tmp / "resume").exists(), "checkpoints must be deleted once the job succeeds"
    return files


BEST_EVERY_2 = {"select": "best", "eval_every": 2}  # dev EM at steps 2, 4, 6; the best kept


@pytest.mark.parametrize(
    ("stage", "case", "entry", "arch", "extra"),
    [
        ("finetune_reader", finetune_case, reader.finetune_reader, "llama", {}),
        ("finetune_reader", finetune_case, reader.finetune_reader, "llama", BEST_EVERY_2),
        ("finetune_reader", finetune_case, reader.finetune_reader, "llama", {"lora": LORA}),
        ("finetune_reader", finetune_case, reader.finetune_reader, "gpt2", {}),
        ("finetune_reader", finetune_case, reader.finetune_reader, "falcon", {}),
        ("distill_retriever", distill_case, distill.distill_retriever, "bert", {}),
    ],
)
def test_same_seed_same_files_and_resume_after_a_kill(
    tiny_model_dir, tmp_path, monkeypatch, stage, case, entry, arch, extra
):
    model = tiny_model_dir(arch)
    work = tmp_path / "work"  # one folder for every run: the outputs record their input paths
    kw = {"steps": 6, "checkpoint_every": 2, **extra}
    first = _run_case(case, entry, work, model, **kw)
    shutil.rmtree(work)
    second = _run_case(case, entry, work, model, **kw)
    shutil.rmtree(work)
    assert first == second, "same config and seed must give identical files"
    assert any(k.endswith(".safetensors") for k in first)

    # killed right after the checkpoint of step 4, then rerun: resumes at step 4
    inp, out, params = case(work, model, **kw)
    _kill_at(monkeypatch, stage, 4)
    with pytest.raises(Killed):
        entry(inp, out, params)
    assert (work / "resume" / "LATEST").read_text().strip() == "step-0000004"
    assert not Path(next(iter(out.values()))).exists()
    monkeypatch.undo()
    calls = _record_loads(monkeypatch)
    entry(inp, out, params)
    assert calls and calls[0] is not None and calls[0][0] == 4, "the rerun did not resume"
    resumed = _outputs(work, out)
    assert resumed == first, "a resumed run must end with the files of an uninterrupted one"


def _distill_killed_at_step_2(tiny_model_dir, tmp_path, monkeypatch):
    inp, out, params = distill_case(tmp_path, tiny_model_dir("bert"), steps=4, checkpoint_every=2)
    _kill_at(monkeypatch, "distill_retriever", 2)
    with pytest.raises(Killed):
        distill.distill_retriever(inp, out, params)
    monkeypatch.undo()
    return inp, out, params


def test_a_checkpoint_of_other_settings_is_not_resumed(tiny_model_dir, tmp_path, monkeypatch):
    inp, out, params = _distill_killed_at_step_2(tiny_model_dir, tmp_path, monkeypatch)
    loaded = _record_loads(monkeypatch)
    distill.distill_retriever(inp, out, {**params, "lr": 2e-3})
    assert loaded == [None]


def test_unreadable_checkpoint_starts_from_scratch(tiny_model_dir, tmp_path, monkeypatch):
    inp, out, params = _distill_killed_at_step_2(tiny_model_dir, tmp_path, monkeypatch)
    ckpt = tmp_path / "resume" / "step-0000002"
    (ckpt / "state.json").write_text("{trunc")
    distill.distill_retriever(inp, out, params)
    assert (tmp_path / "curve.tsv").exists()
    shutil.rmtree(tmp_path / "qenc")


# ---- the workflow, killed for real and rerun with the same command


def _start(work: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``snakemake all`` on the smoke preset in its own process group (so that it can be killed whole).

    One core: the smoke preset's model jobs take one thread each and would otherwise run two at a
    time, so that a kill could not pick one shard, or one distillation job, to interrupt. Results
    are those of the two-core smoke run all the same (one thread per job either way).
    """
    return subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(work), "all", "--cores", "1", "--configfile", str(SMOKE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def _ran(output: str, rule: str) -> list[str]:
    """The wildcards of every ``rule`` job a Snakemake run started, from its printed job blocks."""
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", output)
    return [
        m.group(1)
        for b in blocks
        if b.startswith((f"rule {rule}:", f"localrule {rule}:")) and (m := re.search(r"wildcards: (.*)", b))
    ]


def _kill_during_second_shard(work: Path, proc: subprocess.Popen) -> str:
    """SIGKILL Snakemake and its job once one shard is written and the other's job has started."""
    shards = work / "results" / "smoke" / "s0" / "encode" / "initial"
    logs = work / "logs" / "encode_corpus" / "smoke" / "s0" / "initial"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = sorted(p.stem for p in shards.glob("shard*.npz"))
        started = {p.stem for p in logs.glob("shard*.log")}
        if len(done) == 1 and started - set(done):
            time.sleep(1.0)  # well inside the other job's start (importing torch takes seconds)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return done[0]
        time.sleep(0.1)
    out = proc.communicate()[0] if proc.poll() is not None else ""
    raise AssertionError(f"never saw one shard finished and the other running:\n{out[-3000:]}")


@pytest.mark.workflow
def test_killed_runs_resume_and_end_as_an_uninterrupted_run(smoke_run, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    # 1. power loss while the second encoding shard runs: Snakemake dies with its job
    finished = _kill_during_second_shard(work, _start(work))
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), "--unlock", "--configfile", str(SMOKE)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]

    # 2. the same command; fine-tuning is killed right after its checkpoint at step 2
    proc = _start(work, {resume.CRASH_ENV: "finetune_reader:2"})
    out2 = proc.communicate()[0]
    assert proc.returncode != 0
    assert _ran(out2, "encode_corpus") == [f"run=smoke/s0, index=initial, shard={1 - int(finished[-1])}"], (
        "only the unfinished shard reruns"
    )
    resume_dir = work / "results" / "smoke" / "s0" / "reader" / "finetuned-s0" / "resume"
    assert (resume_dir / "LATEST").read_text().strip() == "step-0000002"

    # 3. again; the first distillation job to run is killed after its step-2 checkpoint
    proc = _start(work, {resume.CRASH_ENV: "distill_retriever:2"})
    out3 = proc.communicate()[0]
    assert proc.returncode != 0
    assert _ran(out3, "encode_corpus") == []
    killed = [d for d in (work / "results" / "smoke" / "s0" / "distill").glob("*/resume") if d.exists()]
    assert len(killed) == 1

    # 4. again, no kill: both killed jobs resume from their checkpoints and the run finishes
    proc = _start(work)
    out4 = proc.communicate()[0]
    assert proc.returncode == 0, out4[-4000:]
    name = killed[0].parent.name
    # the learning curve's subsets (<objective>-<teacher>-n<size>-s<seed>) log as distill_subset
    rule = "distill_subset" if re.search(r"-n\d+-s\d+$", name) else "distill_retriever"
    for log in ("finetune_reader/smoke/s0/finetuned-s0.log", f"{rule}/smoke/s0/{name}.log"):
        assert "resuming from" in (work / "logs" / log).read_text(), log
    assert not resume_dir.exists() and not killed[0].exists(), "finished jobs' checkpoints are deleted"

    # same metrics and weights as the uninterrupted run (same config and seed: identical files)
    compare = [
        *sorted((smoke_run / "results").rglob("metrics.json")),
        *sorted((smoke_run / "results").rglob("indicators.json")),
        *sorted((smoke_run / "results").rglob("train_metrics.json")),
        *sorted((smoke_run / "results").rglob("curve.tsv")),
        *sorted((smoke_run / "results").rglob("model.safetensors")),
        smoke_run / "results" / "smoke" / "report" / "claims.json",
    ]
    assert len(compare) >= 15  # 5 cells, 2 readers, 3 retrievers, 4 trained models, claims
    for ref in compare:
        rel = ref.relative_to(smoke_run)
        assert (work / rel).read_bytes() == ref.read_bytes(), f"{rel} differs from the uninterrupted run"


# ---- bad input through the command line: one clear error, a non-zero exit, no complete output

GOOD_Q = '{"question": "q?", "answers": ["ay"]}\n'
GOOD_CORPUS = "id\ttext\ttitle\n1\tx\ty\n"
DATA_CASES = {
    "malformed-jsonl": (
        GOOD_Q + '{"question": "q2?", "answers": [\n',
        GOOD_CORPUS,
        r"q\.jsonl:2: malformed JSON",
    ),
    "missing-question": ('{"answers": ["ay"]}\n', GOOD_CORPUS, r"q\.jsonl:1: missing or empty 'question'"),
    "missing-answers": ('{"question": "q?"}\n', GOOD_CORPUS, r"q\.jsonl:1: missing field 'answers'"),
    "empty-answers": ('{"question": "q?", "answers": []}\n', GOOD_CORPUS, r"q\.jsonl:1: empty answer list"),
    "duplicate-ids": (
        '{"id": "x", "question": "q?", "answers": ["ay"]}\n{"id": "x", "question": "r?", "answers": ["b"]}\n',
        GOOD_CORPUS,
        r"q\.jsonl:2: duplicate id 'x' \(first seen at .*q\.jsonl:1\)",
    ),
    "numeric-answer": (
        '{"question": "q?", "answers": 1847}\n',
        GOOD_CORPUS,
        r"q\.jsonl:1: answers must be a string or a list of strings, got int 1847",
    ),
    "answer-empty-once-normalised": (
        '{"question": "q?", "answers": ["The"]}\n',
        GOOD_CORPUS,
        r"q\.jsonl:1: answer 'The' is empty once normalised",
    ),
    "duplicate-passage-ids": (
        GOOD_Q,
        GOOD_CORPUS + "1\tz\tw\n",
        r"c\.tsv:3: duplicate passage id '1' \(first at .*c\.tsv:2\)",
    ),
    "empty-corpus": (GOOD_Q, "id\ttext\ttitle\n", r"datasets\.bad\.corpus: the corpus is empty"),
    "non-utf8": (b'{"question": "q\xff?", "answers": ["ay"]}\n', GOOD_CORPUS, r"q\.jsonl:1: not valid UTF-8"),
    # a latin-1 byte in the corpus names its line, as in the questions
    "non-utf8-corpus": (
        GOOD_Q,
        "id\ttext\ttitle\n1\tx\ty\n2\tcaf\u00e9\tz\n".encode("latin-1"),
        r"c\.tsv:3: not valid UTF-8",
    ),
}


def _cli_fails(tmp_path: Path, extra_yaml: str, target: str, message: str) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "bad.yaml").write_text(extra_yaml)
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(tmp_path / "w"), target, "--cores", "1"]
        + ["--configfile", str(SMOKE), str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0
    assert re.search(message, res.stdout + res.stderr), (res.stdout + res.stderr)[-3000:]
    logs = list((tmp_path / "w" / "logs").rglob("*.log"))
    assert logs and all("Traceback" not in p.read_text() for p in logs), "one clear error, no traceback"
    made = [p for p in (tmp_path / "w" / "resources").rglob("*") if p.is_file()]  # none if no folder
    assert not [p for p in made if "downloads" not in p.parts], f"left outputs behind: {made}"


def _one_file_run(questions: Path, corpus: Path) -> str:
    """A config adding run ``bad``: one local question file for every split, and a local corpus."""
    return (
        "runs: [bad]\ndatasets:\n  bad:\n    questions:\n"
        + "".join(f"      {s}: 'local:{questions}'\n" for s in ("train", "dev", "test"))
        + f"    corpus: 'local:{corpus}'\n"
    )


@pytest.mark.workflow
@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_stops_with_file_and_line(tmp_path, case):
    questions, corpus, message = DATA_CASES[case]
    q = tmp_path / "q.jsonl"
    if isinstance(questions, bytes):
        q.write_bytes(questions)
    else:
        q.write_text(questions)
    (tmp_path / "c.tsv").write_bytes(corpus if isinstance(corpus, bytes) else corpus.encode())
    extra = _one_file_run(q, tmp_path / "c.tsv") + (
        "    allow_overlap: 'one question file for every split (a test of something else)'\n"
    )
    _cli_fails(tmp_path, extra, "resources/data/bad/s0/corpus.tsv", message)


@pytest.mark.workflow
def test_test_questions_in_train_stop_the_fetch_naming_the_splits(tmp_path):
    """A distillation study that trains on its test questions measures nothing: one question file
    for every split, without ``allow_overlap``, stops when the data is fetched."""
    q = tmp_path / "q.jsonl"
    rows = [{"id": "a", "question": "q?", "answers": ["ay"]}, {"id": "b", "question": "r?", "answers": ["b"]}]
    q.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "c.tsv").write_text(GOOD_CORPUS)
    extra = _one_file_run(q, tmp_path / "c.tsv")
    message = r"datasets\.bad: 2 of 2 test questions are also in train \(same id or text; first: a, b\)"
    _cli_fails(tmp_path, extra, "resources/data/bad/s0/corpus.tsv", message)


@pytest.mark.workflow
def test_bad_model_sources_stop_with_the_config_key(tmp_path):
    blob = tmp_path / "model.tar.gz"
    blob.write_bytes(b"not the file the config pinned")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "fake_model-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("fake_model/other.txt", "x")
    cases = [
        (f"url:{blob.as_uri()}\n    sha256: '{'0' * 64}'", r"models\.bad\.source: sha256 mismatch"),
        (
            f"pypi:fake-model==1.0:fake_model/model.gguf\n    wheel_dir: '{wheels}'",
            r"models\.bad\.source: wheel fake_model-1.0-py3-none-any\.whl has no file or folder "
            r"'fake_model/model\.gguf'",
        ),
        (f"local:{tmp_path / 'nowhere'}", r"models\.bad\.source: .*nowhere does not exist"),
    ]
    for i, (source, message) in enumerate(cases):
        extra = f"models:\n  bad:\n    source: {source}\n"
        _cli_fails(tmp_path / str(i), extra, "resources/models/bad", message)
    assert not (tmp_path / "0" / "w" / "resources" / "downloads" / "model.tar.gz").exists()


def test_malformed_sources_stop_at_planning_with_the_config_key(tmp_path):
    """Every source string is parsed when the run is planned: a malformed one stops there, each
    named by its key, before any job starts (no log, no download) and without a network call."""
    bad = {
        "models.at.source": ("hf:foo@@bar", r"revision '@bar' is not a branch, tag or commit"),
        "models.empty.source": ("hf:foo/bar@", r"hf source has an empty revision after '@'"),
        "models.chars.source": ("hf:foo/b ar", r"hf source has a space in its repository"),
        "models.slashes.source": ("hf:a/b/c", r"'a/b/c' is not a hub repository id"),
        "models.wheel.source": ("pypi:fake-model:fake/model.gguf", r"a pinned version"),
        "datasets.web.corpus": ("url:www.example.org/corpus.tsv", r"needs a scheme: https://"),
        "datasets.web.questions.test": ("hf:x:", r"hf source has an empty config or file glob"),
        "datasets.web.questions.dev": ("init:bert", r"an init: source does not fit here; use hf:, url:"),
    }
    models = "".join(
        f"  {k.split('.')[1]}:\n    source: '{v[0]}'\n" for k, v in bad.items() if k.startswith("models")
    )
    extra = f"models:\n{models}datasets:\n  web:\n    questions:\n"
    extra += "      train: 'local:q.jsonl'\n      dev: 'init:bert'\n"  # a model's kind of source
    extra += f"      test: '{bad['datasets.web.questions.test'][0]}'\n"
    extra += f"    corpus: '{bad['datasets.web.corpus'][0]}'\n"
    (tmp_path / "bad.yaml").write_text(extra)
    work = tmp_path / "w"
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), "resources/models/at", "--cores", "1"]
        + ["--configfile", str(SMOKE), str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
    )
    said = res.stdout + res.stderr
    assert res.returncode != 0
    for key, (_, message) in bad.items():
        assert re.search(rf"config key {re.escape(key)}: .*{message}", said), (key, said[-3000:])
    assert not (work / "logs").exists() and not (work / "resources").exists(), "no job started"


@pytest.mark.workflow
def test_a_source_that_cannot_be_reached_is_one_line_naming_the_key_and_the_url(tmp_path, monkeypatch):
    """A URL nobody answers and a hub that cannot be reached: the fetch job ends with one line
    naming the config key and the URL (port 9 of this machine: nothing listens there)."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    url = "http://127.0.0.1:9/model.tar.gz"
    _cli_fails(
        tmp_path / "url",
        f"models:\n  bad:\n    source: 'url:{url}'\n",
        "resources/models/bad",
        rf"models\.bad\.source: cannot download {re.escape(url)}: .*Connection refused",
    )
    _cli_fails(
        tmp_path / "hub",
        "models:\n  bad:\n    source: 'hf:someone/model@main'\n",
        "resources/models/bad",
        r"models\.bad\.source: cannot fetch http://127\.0\.0\.1:9/someone/model/tree/main: "
        r".*Connection refused",
    )


@pytest.mark.workflow
def test_a_data_or_wheel_source_that_cannot_be_reached_is_one_line(tmp_path, monkeypatch):
    """The same for data and wheels: a corpus URL nobody answers, hub questions from a hub that
    cannot be reached (through ``datasets``), and a wheel no index has: one line naming the config
    key and where it looked."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    q = tmp_path / "q.jsonl"
    q.write_text(
        "".join(json.dumps({"id": f"q{i}", "question": "where?", "answers": ["x"]}) + "\n" for i in range(3))
    )
    corpus = tmp_path / "c.tsv"
    corpus.write_text("id\ttext\ttitle\n1\tx is here\tX\n")
    url = "http://127.0.0.1:9/c.tsv"
    _cli_fails(
        tmp_path / "corpus",
        _one_file_run(q, corpus).replace(f"local:{corpus}", f"url:{url}"),
        "resources/data/bad/s0/checks.json",
        rf"datasets\.bad\.corpus: cannot download {re.escape(url)}: .*Connection refused",
    )
    hub = _one_file_run(q, corpus).replace(f"train: 'local:{q}'", "train: 'hf:someone/data@main'")
    _cli_fails(
        tmp_path / "hub",
        hub,
        "resources/data/bad/s0/checks.json",
        r"datasets\.bad\.questions\.train: cannot read http://127\.0\.0\.1:9/datasets/someone/data/tree/main "
        r"split 'train': Couldn't reach",
    )
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("RAGDISTILL_WHEEL_DIR", raising=False)
    _cli_fails(
        tmp_path / "wheel",
        "models:\n  bad:\n    source: 'pypi:nonexistent-dist-xyz==1.0:model'\n",
        "resources/models/bad",
        r"models\.bad\.source: cannot download nonexistent-dist-xyz==1\.0 from http://127\.0\.0\.1:9/simple: "
        r"ERROR: [^\n]*nonexistent-dist-xyz==1\.0( \([^\n]*\))?\n",
    )


@pytest.mark.workflow
def test_a_models_own_code_is_named_never_silently_ignored(tiny_model_dir, tmp_path):
    """A model folder whose config.json names its own code (``auto_map``) and a config that does
    not allow remote code: for a type transformers does not know, fetch_model stops naming the key
    that allows it; for a built-in type (llama) it warns naming the built-in class used instead."""
    from tests.conftest import snakemake

    def folder(name: str, model_type: str) -> Path:
        out = tmp_path / name
        shutil.copytree(tiny_model_dir("llama"), out)
        cfg = json.loads((out / "config.json").read_text())
        cfg |= {"model_type": model_type, "auto_map": {"AutoModelForCausalLM": "modeling_mine.MyLM"}}
        (out / "config.json").write_text(json.dumps(cfg))
        return out

    unknown = folder("unknown", "my-own-lm")
    _cli_fails(
        tmp_path / "stop",
        f"models:\n  bad:\n    source: 'local:{unknown}'\n",
        "resources/models/bad",
        r"models\.bad\.trust_remote_code: .*config\.json names the model's own Python code in auto_map "
        r"\(AutoModelForCausalLM: modeling_mine\.MyLM\) for model type 'my-own-lm'.*"
        r"set models\.bad\.trust_remote_code: true",
    )
    llama = folder("llama", "llama")
    (tmp_path / "warn.yaml").write_text(f"models:\n  mine:\n    source: 'local:{llama}'\n")
    work = tmp_path / "warn"
    snakemake(
        work, "resources/models/mine", "--cores", "1", "--configfile", str(SMOKE), str(tmp_path / "warn.yaml")
    )
    log = (work / "logs" / "fetch_model" / "mine.log").read_text()
    assert re.search(
        r"WARNING .*models\.mine\.trust_remote_code: .* which runs only with "
        r"models\.mine\.trust_remote_code: true; transformers' built-in 'llama' classes are used instead "
        r"\(AutoModelForCausalLM -> LlamaForCausalLM\)",
        log,
    ), log[-2000:]


def _build_from_local_files(
    tmp_path: Path, data: Path, work: Path, target: str
) -> subprocess.CompletedProcess:
    """Build ``target`` with the smoke models over a run ``long`` read from ``data``'s local
    ``{train,dev,test}.jsonl`` and ``c.tsv``, one core; the finished process (not checked)."""
    extra = (
        "runs: [long]\ndatasets:\n  long:\n    questions:\n"
        + "".join(f"      {s}: 'local:{data / f'{s}.jsonl'}'\n" for s in ("train", "dev", "test"))
        + f"    corpus: 'local:{data / 'c.tsv'}'\n"
    )
    (tmp_path / "long.yaml").write_text(extra)
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), target, "--cores", "1"]
        + ["--configfile", str(SMOKE), str(tmp_path / "long.yaml")],
        capture_output=True,
        text=True,
    )


@pytest.mark.workflow
def test_limits_known_at_fetch_are_checked_right_after_it(tmp_path):
    """A 20,000-word passage (cut to 64 tokens for retrieval, 40 in the prompt) and a question
    too long for the reader: check_lengths, which needs only the data and the reader's config,
    warns with the count and the longest id and records them, before any model job."""
    data = tmp_path / "data"
    data.mkdir()
    passages = [f"{i}\tplace {i} is in city {i % 7}\tPlace {i}\n" for i in range(30)]
    passages.append("huge\t" + "word " * 20000 + "\tHuge\n")
    (data / "c.tsv").write_text("id\ttext\ttitle\n" + "".join(passages))
    for split, first, n in (("train", 0, 8), ("dev", 10, 4), ("test", 20, 4)):
        rows = [
            {"id": f"{split}{i}", "question": f"where is place {i}?", "answers": [f"city {i % 7}"]}
            for i in range(first, first + n)
        ]
        if split == "test":
            rows.append({"id": "too-long", "question": "where " * 1500 + "?", "answers": ["x"]})
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    work = tmp_path / "w"
    res = _build_from_local_files(tmp_path, data, work, "results/long/s0/checks/lengths.json")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    ran = set(re.findall(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, re.M))
    assert ran == {"fetch_data", "fetch_model", "check_lengths"}, ran
    log = (work / "logs" / "check_lengths" / "long" / "s0.log").read_text()
    for key, limit in (("retriever.passage_max_length", 64), ("prompt.max_doc_tokens", 40)):
        assert re.search(
            rf"WARNING .*at least 1 passages are longer than {re.escape(key)} \({limit} tokens\).*"
            r"the longest, 'huge', has 20001 words",
            log,
        ), log[-2000:]
    assert re.search(
        r"WARNING .*test question 'too-long' has 1501 words: .* may not fit the reader's context of 1024",
        log,
    ), log[-2000:]
    found = json.loads((work / "results" / "long" / "s0" / "checks" / "lengths.json").read_text())
    assert found["passages"]["retriever.passage_max_length"] == {
        "limit": 64,
        "at_least": 1,
        "longest": "huge",
        "words": 20001,
    }
    assert found["questions"]["test"]["may_not_fit"] and not found["questions"]["train"]["may_not_fit"]
    checks = json.loads((work / "resources" / "data" / "long" / "s0" / "checks.json").read_text())
    assert checks["lengths"]["passages"]["longest"] == "huge" and "lower bound" in checks["lengths"]["unit"]


# ---- safe loading and no shell


def test_loading_is_safe_and_no_setting_reaches_a_shell():
    lib = Path(reader.__file__).parent
    for path in lib.glob("*.py"):
        text = path.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path.name}: {call}"
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, f"{path.name}: {call}"
        assert "trust_remote_code=True" not in text, path.name
        for bad in ("shell=True", "os.system", "os.popen", "pickle.load"):
            assert bad not in text, f"{path.name} uses {bad}"
    rules = Path(SMOKE).parents[1] / "workflow" / "rules"
    for smk in rules.glob("*.smk"):
        assert not re.search(r"^\s+(shell|run):", smk.read_text(), re.M), (
            f"{smk.name}: rules run scripts only"
        )


def test_trust_remote_code_follows_the_config(tiny_model_dir, tmp_path, monkeypatch):
    from ragdistill import models
    from ragdistill.stages import fetch

    seen = []
    import transformers

    real = transformers.AutoModel.from_pretrained
    monkeypatch.setattr(
        transformers.AutoModel,
        "from_pretrained",
        lambda *a, **kw: seen.append(kw["trust_remote_code"]) or real(*a, **kw),
    )
    for flag in (False, True):
        out = tmp_path / str(flag)
        spec = {"source": f"local:{tiny_model_dir('bert')}"} | ({"trust_remote_code": True} if flag else {})
        fetch.fetch_model(
            {}, {"model": str(out)}, {"name": "m", "model": spec, "download_dir": str(tmp_path)}
        )
        models.load_encoder(out)
    assert seen == [False, True]


# ---- damaged outputs: one line naming the file and what to delete

S0 = "results/smoke/s0"
# kind: (the output cut to half, the rule run again that reads it, that job's target, the path the
# line names (the file, or for Arrow the dataset folder: pyarrow's error names no file), what it
# says to delete (an output of a job; "/" ends a folder), the rule a dry run then plans)
DAMAGED = {
    "safetensors": (
        f"{S0}/reader/random/model/model.safetensors",
        "dump_attention",
        f"{S0}/attention/random/train.npz",
        f"{S0}/reader/random/model/model.safetensors",
        f"{S0}/reader/random/model/",
        "random_reader",
    ),
    "npz": (
        f"{S0}/attention/offtheshelf/train.npz",
        "compute_indicators",
        f"{S0}/indicators/offtheshelf/indicators.json",
        f"{S0}/attention/offtheshelf/train.npz",
        f"{S0}/attention/offtheshelf/train.npz",
        "dump_attention",
    ),
    "faiss": (
        f"{S0}/index/initial/index.faiss",
        "retrieve_initial",
        f"{S0}/retrieve/initial/train.jsonl",
        f"{S0}/index/initial/index.faiss",
        f"{S0}/index/initial/index.faiss",
        "build_index",
    ),
    "arrow": (
        f"{S0}/encode/tokens/data-00000-of-00001.arrow",
        "encode_corpus",
        f"{S0}/encode/initial/shard0.npz",
        f"{S0}/encode/tokens",
        f"{S0}/encode/tokens/",
        "tokenize_corpus",
    ),
    "json": (
        f"{S0}/indicators/random/indicators.json",
        "make_report",
        "results/smoke/report/report.md",
        f"{S0}/indicators/random/indicators.json",
        f"{S0}/indicators/random/indicators.json",
        "compute_indicators",
    ),
}


@pytest.mark.workflow
@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_a_damaged_output_names_itself_and_what_to_delete(smoke_run, tmp_path, kind):
    """An output of the smoke run cut to half (a full disk, a copy cut short) and a job that reads
    it: one line naming the file, what is wrong and what to delete; deleting that makes a dry run
    plan the job that rebuilds it (Snakemake alone cannot see the damage: the file is there)."""
    from tests.conftest import snakemake

    cut, rule, target, named, remove, rebuild = DAMAGED[kind]
    work = tmp_path / "w"
    shutil.copytree(smoke_run, work, symlinks=True)
    path = work / cut
    when = path.stat()
    path.write_bytes(path.read_bytes()[: when.st_size // 2])
    os.utime(path, ns=(when.st_atime_ns, when.st_mtime_ns))  # as a copy would keep it
    # mtime only: the job runs again because of -R, not because this checkout's code changed
    again = ["--rerun-triggers", "mtime", "-R", rule]
    res = snakemake(work, "--cores", "1", "--configfile", str(SMOKE), *again, "--", target, check=False)
    said = res.stdout + res.stderr
    assert res.returncode != 0
    folder = "the folder " if remove.endswith("/") else ""
    line = rf"{re.escape(named)}: .* cannot be read \(.+\): the file is damaged or cut short; delete "
    line += re.escape(folder + remove.rstrip("/")) + " and run snakemake again to rebuild it"
    assert re.search(line, said), said[-3000:]
    logs = [p.read_text() for p in (work / "logs" / rule).rglob("*.log")]
    failed = [text for text in logs if "cannot be read" in text]
    assert len(failed) == 1 and "Traceback" not in failed[0], "one clear line, no traceback"
    if folder:
        shutil.rmtree(work / remove)
    else:
        (work / remove).unlink()
    plan = snakemake(work, "-n", "--rerun-triggers", "mtime", "--configfile", str(SMOKE), "--", target).stdout
    assert re.search(rf"rule {rebuild}:", plan), plan[-3000:]


# ---- disk and file-system errors


class _Named(list):
    """A Snakemake named list: its values in order, and ``items()``."""

    def __init__(self, named: dict) -> None:
        super().__init__(named.values())
        self._named = named

    def items(self):
        return self._named.items()


class _Job:
    """What Snakemake hands a script (the fields run_from_snakemake reads)."""

    def __init__(self, tmp_path: Path, output: Path) -> None:
        self.log = [str(tmp_path / "job.log")]
        self.params = _Named({"entry": "fetch:fetch_data"})
        self.rule = "fetch_data"
        self.threads = 1
        self.input = _Named({})
        self.output = _Named({"corpus": str(output)})


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(30, "Read-only file system", "results/smoke/reader/finetuned-s0/resume"),
            "results/smoke/reader/finetuned-s0/resume: Read-only file system (errno EROFS)",
        ),
        (OSError(28, "No space left on device", "x.npz"), "x.npz: No space left on device (errno ENOSPC)"),
        (PermissionError(13, "Permission denied", "y.json"), "y.json: Permission denied (errno EACCES)"),
    ],
)
def test_a_disk_error_ends_the_job_with_one_line(tmp_path, monkeypatch, error, line):
    """Read-only, full or forbidden: one line naming the path and the reason, no traceback, and
    what an earlier killed attempt left beside the output is gone before the job starts."""
    import logging

    from ragdistill import runner

    out = tmp_path / "data" / "corpus.tsv"
    out.parent.mkdir()
    (out.parent / ".corpus.tsv.abc123.tmp").write_text("half")  # an atomic_path a kill left
    (out.parent / "corpus.tsv.part").write_text("half")  # a download a kill left
    (out.parent / ".other.tsv.abc123.tmp").write_text("another output's: kept")

    def fail(entry, **kwargs):
        raise error

    monkeypatch.setattr(runner, "call", fail)
    with pytest.raises(SystemExit) as stop:
        runner.run_from_snakemake(_Job(tmp_path, out))
    logging.getLogger().handlers[0].flush()
    assert stop.value.code == 1
    text = (tmp_path / "job.log").read_text()
    assert f"ERROR ragdistill: {line}\n" in text and "Traceback" not in text
    assert sorted(p.name for p in out.parent.iterdir()) == [".other.tsv.abc123.tmp"]


@pytest.mark.workflow
def test_a_write_the_disk_refuses_is_one_line_naming_the_output_through_the_cli(tmp_path, monkeypatch):
    """A real write that fails inside a job, through ``snakemake``: the fetch's corpus (21 kB)
    over a 16 kB file-size limit (EFBIG, as ``ulimit -f`` or a file system's own limit sets; a
    test hook sets it in the job's process only, Snakemake itself runs unlimited). Read-only
    folders and permissions cannot be tried here: the tests run as root, which ignores them. The
    job's last line names the output the user knows, not the temporary file the write was on, no
    traceback is printed, and nothing is left behind."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent / "fsize_hook"))
    monkeypatch.setenv("RAGDISTILL_TEST_FSIZE", str(16 * 1024))
    work = tmp_path / "w"
    res = subprocess.run(
        [*SNAKEMAKE, "--directory", str(work), "resources/data/smoke/s0/checks.json", "--cores", "1"]
        + ["--configfile", str(SMOKE)],
        capture_output=True,
        text=True,
    )
    said = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in said, said[-3000:]
    log = (work / "logs" / "fetch_data" / "smoke" / "s0.log").read_text().splitlines()
    assert log[-1].endswith(
        "ERROR ragdistill: resources/data/smoke/s0/corpus.tsv: File too large (errno EFBIG)"
    ), log
    assert not [p for p in (work / "resources").rglob("*") if p.is_file()], "left outputs behind"


def test_other_errors_keep_their_traceback_and_safetensors_disk_errors_get_one_line():
    from safetensors import SafetensorError

    from ragdistill.runner import disk_error_line

    full = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert disk_error_line(full, ["a/model"]) == f"writing a/model: {full}"
    assert disk_error_line(ValueError("a bug"), ["a/model"]) is None
    assert disk_error_line(FileNotFoundError(2, "No such file", "z"), ["a"]) is None  # a bug too


def test_a_disk_error_on_a_temporary_file_names_the_output_it_was_to_become():
    """An atomic write fails on ``.train.npz.<random>.npz`` beside the output: the line names
    ``train.npz`` (what the user knows and can delete), and a file inside a folder output names
    the folder."""
    from ragdistill.runner import disk_error_line

    outs = ["results/r/attention/x/train.npz", "results/r/reader/m/model"]
    tmp = OSError(30, "Read-only file system", "results/r/attention/x/.train.npz.k2j3h4.npz")
    assert (
        disk_error_line(tmp, outs) == "results/r/attention/x/train.npz: Read-only file system (errno EROFS)"
    )
    inside = OSError(28, "No space left on device", "results/r/reader/m/model/model.safetensors")
    assert disk_error_line(inside, outs) == "results/r/reader/m/model: No space left on device (errno ENOSPC)"
    other = OSError(13, "Permission denied", "somewhere/else.json")
    assert disk_error_line(other, outs) == "somewhere/else.json: Permission denied (errno EACCES)"


def test_a_full_disk_leaves_no_half_checkpoint_and_a_killed_one_is_cleared(tmp_path, monkeypatch):
    import random

    import safetensors.torch
    import torch

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    root = tmp_path / "resume"

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(root / ".step-0000002.tmp" / "x"))

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(OSError, match="No space left"):
        resume.save(root, 2, "fp", model, opt, None, random.Random(0), {})
    assert list(root.iterdir()) == []
    monkeypatch.undo()
    (root / ".step-0000004.tmp").mkdir()  # a SIGKILL mid-write
    ckpt = resume.Checkpointer("distill_retriever", str(root), 2, "fp")
    assert ckpt.restore(model, opt, None, random.Random(0), {"fresh": 1}) == (0, {"fresh": 1}, {})
    assert list(root.iterdir()) == []


@pytest.mark.workflow
def test_a_test_question_too_long_for_the_reader_stops_before_training(tmp_path):
    """The first reader job builds every test question's prompt before it trains: a question
    too long for the reader's context (1,024 tokens for the smoke reader) stops there with the
    question's id and the keys to change, not in answer_questions after every training stage."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.tsv").write_text(
        "id\ttext\ttitle\n" + "".join(f"{i}\tplace {i} is in city {i % 7}\tPlace {i}\n" for i in range(30))
    )
    for split, first, n in (("train", 0, 8), ("dev", 10, 4)):  # no question in both (leakage)
        rows = [
            {"id": f"{split}{i}", "question": f"where is place {i}?", "answers": [f"city {i % 7}"]}
            for i in range(first, first + n)
        ]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    long_question = "where " + "exactly " * 1500 + "is place 3?"
    test = [{"id": "t0", "question": "where is place 20?", "answers": ["city 6"]}]
    test.append({"id": "too-long", "question": long_question, "answers": ["city 3"]})
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    work = tmp_path / "w"
    res = _build_from_local_files(tmp_path, data, work, "results/long/s0/reader/finetuned-s0/model")
    said = res.stdout + res.stderr
    assert res.returncode != 0
    assert re.search(
        r"finetune_reader, checking the test questions: question 'too-long': a prompt of \d+ tokens is "
        r"longer than the reader's context of 1024 .*set prompt\.max_question_tokens",
        said,
    ), said[-3000:]
    assert not (work / "results" / "long" / "s0" / "reader" / "finetuned-s0").exists(), "nothing trained"
    log = (work / "logs" / "finetune_reader" / "long" / "s0" / "finetuned-s0.log").read_text()
    assert "Traceback" not in log and "step" not in log.split("checking the test questions")[0].lower()


def test_a_write_error_without_a_path_gets_the_outputs_path_and_keeps_its_kind(tmp_path):
    """An error raised by a write on an open file carries no path: atomic_path gives it the
    output's, and keeps its errno and its subclass (a caller catching PermissionError still does)."""
    import errno as errnos

    from ragdistill.core.files import atomic_path

    out = tmp_path / "x.json"
    with pytest.raises(PermissionError) as err, atomic_path(out) as tmp:
        tmp.write_text("half")
        raise OSError(errnos.EACCES, "Permission denied")
    assert err.value.errno == errnos.EACCES and err.value.filename == str(out)
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone, no output written
    with pytest.raises(FileNotFoundError) as named, atomic_path(out):
        raise FileNotFoundError(errnos.ENOENT, "No such file", "elsewhere.txt")
    assert named.value.filename == "elsewhere.txt"  # a path it already had is kept
