"""Memory stays bounded where the design streams: the resident set's growth while the fetch
writes a corpus and while a retrieval collects its passages' text, on a generated corpus of
200,000 passages (the largest that keeps this test to seconds; ``bench/scaling.py`` goes to 1M).

Holding the corpus's text would cost more than its file (about 330 bytes a passage here); the
fetch holds two 8-byte fingerprints a passage (the id's, the text's) and a retrieval only the
passages it retrieved. The bounds leave room for arrays' over-allocation and the sorts at the
end, and for the allocator's own pages, not for anything that grows with the text.
"""

from __future__ import annotations

import json

import pytest
import torch

from bench.inputs import dpr_corpus
from bench.measure import measure
from ragdistill.stages import fetch, retrieve

N = 200_000
MB = 2**20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return dpr_corpus(tmp_path_factory.mktemp("stream"), N)


def _fetch(tmp_path, corpus):
    """The fetch stage over a files dataset whose corpus is ``corpus`` (one question a split)."""
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "q1", "question": "who?", "answers": ["x"]}) + "\n")
    ds = {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{corpus}",
        "allow_overlap": "one question in every split: only the corpus is measured",
    }
    out = {s: str(tmp_path / f"{s}.jsonl") for s in ("train", "dev", "test")}
    out |= {"corpus": str(tmp_path / "corpus.tsv"), "checks": str(tmp_path / "checks.json")}
    params = {"name": "x", "replicate": 0, "dataset": ds, "download_dir": str(tmp_path / "dl")}
    return lambda: fetch.fetch_data({}, out, params)


def test_the_fetch_streams_the_corpus_holding_fingerprints_only(tmp_path, corpus):
    small = dpr_corpus(tmp_path, 1_000)
    _fetch(tmp_path, small)()  # imports and first-call allocations, not counted
    m = measure(_fetch(tmp_path, corpus), torch.device("cpu"), repeats=1, warmup=0)
    text_mb = corpus.stat().st_size / MB
    assert json.loads((tmp_path / "checks.json").read_text())["passages"] == N
    # two fingerprints (16 bytes) a passage, the sorts that check them at the end and the
    # allocator's pages: under 96 bytes a passage (75 measured on 2026-12-07), where a set of the
    # ids took about 170 (the fetch before that day) and the text takes 330
    assert m.peak_mb < 96 * N / MB, f"{m.peak_mb:.1f} MB for {N:,} passages ({text_mb:.0f} MB of text)"


def test_a_retrieval_collects_only_the_retrieved_passages(corpus):
    wanted = {f"p{i}" for i in range(0, N, N // 1_000)}
    retrieve.passages_by_id(str(corpus), {"p0"})  # first-call allocations, not counted
    found = {}
    m = measure(lambda: found.update(retrieve.passages_by_id(str(corpus), wanted)), torch.device("cpu"), 1, 0)
    assert set(found) == wanted
    assert m.peak_mb < 4, f"{m.peak_mb:.1f} MB to collect 1,000 passages of {N:,}"
