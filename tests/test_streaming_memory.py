"""Memory stays bounded where the design streams: the resident set's growth while the fetch
writes a corpus and while a retrieval collects its passages' text, on a generated corpus of
200,000 passages (the largest that keeps this test to seconds; ``bench/scaling.py`` goes to 1M).

Holding the corpus's text would cost more than its file (about 330 bytes a passage here); the
fetch holds two 8-byte fingerprints a passage (the id's, the text's) and a retrieval only the
passages it retrieved. The bounds leave room for arrays' over-allocation and the sorts at the
end, and for the allocator's own pages, not for anything that grows with the text. Each is
measured in a fresh process, so that memory other tests freed cannot hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.inputs import dpr_corpus

N = 200_000
MB = 2**20
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return dpr_corpus(tmp_path_factory.mktemp("stream"), N)


def _fetch(work: Path, corpus: Path):
    """The fetch stage over a files dataset whose corpus is ``corpus`` (one question a split)."""
    from ragdistill.stages import fetch

    q = work / "q.jsonl"
    q.write_text(json.dumps({"id": "q1", "question": "who?", "answers": ["x"]}) + "\n")
    ds = {
        "questions": {s: f"local:{q}" for s in ("train", "dev", "test")},
        "corpus": f"local:{corpus}",
        "allow_overlap": "one question in every split: only the corpus is measured",
    }
    out = {s: str(work / f"{s}.jsonl") for s in ("train", "dev", "test")}
    out |= {"corpus": str(work / "corpus.tsv"), "checks": str(work / "checks.json")}
    params = {"name": "x", "replicate": 0, "dataset": ds, "download_dir": str(work / "dl")}
    return lambda: fetch.fetch_data({}, out, params)


def fetch_growth_mb(work: str, corpus: str) -> float:
    """In this process: the fetch of a small corpus (imports, first-call allocations), then the
    resident set's growth while the fetch streams ``corpus``."""
    import torch

    from bench.measure import measure

    _fetch(Path(work), dpr_corpus(Path(work), 1_000))()
    return measure(_fetch(Path(work), Path(corpus)), torch.device("cpu"), repeats=1, warmup=0).peak_mb


def retrieval_growth_mb(corpus: str, every: int) -> float:
    """In this process: the growth while a retrieval collects every ``every``-th passage's text."""
    import torch

    from bench.measure import measure
    from ragdistill.stages import retrieve

    retrieve.passages_by_id(corpus, {"p0"})  # first-call allocations, not counted
    wanted = {f"p{i}" for i in range(0, N, every)}
    found = {}
    peak = measure(lambda: found.update(retrieve.passages_by_id(corpus, wanted)), torch.device("cpu"), 1, 0)
    assert set(found) == wanted
    return peak.peak_mb


def _fresh(call: str) -> float:
    code = f"import tests.test_streaming_memory as t; print(t.{call})"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    return float(res.stdout.split()[-1])


def test_the_fetch_streams_the_corpus_holding_fingerprints_only(tmp_path, corpus):
    peak = _fresh(f"fetch_growth_mb({str(tmp_path)!r}, {str(corpus)!r})")
    assert json.loads((tmp_path / "checks.json").read_text())["passages"] == N
    # two fingerprints (16 bytes) a passage, the sorts that check them at the end and the
    # allocator's pages: under 96 bytes a passage (75 measured on 2026-12-07), where a set of the
    # ids took about 170 (the fetch before that day) and the text takes 330
    text_mb = corpus.stat().st_size / MB
    assert peak < 96 * N / MB, f"{peak:.1f} MB for {N:,} passages ({text_mb:.0f} MB of text)"


def test_a_retrieval_collects_only_the_retrieved_passages(corpus):
    peak = _fresh(f"retrieval_growth_mb({str(corpus)!r}, {N // 1_000})")
    assert peak < 4, f"{peak:.1f} MB to collect 1,000 passages of {N:,}"
