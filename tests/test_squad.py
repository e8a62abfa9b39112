"""SQuAD JSON into questions and passages, on a hand-written fixture (v1.1 and v2.0)."""

from __future__ import annotations

import json

import pytest

from ragdistill.files import InputError
from ragdistill.squad import SquadSplit, cut_paragraph, read_squad, sentence_cuts, split_by_article

LONG = (
    "Warsaw is the capital of Poland. It lies on the Vistula River. "
    "The city was rebuilt after the war by St. Mary's guild and J. B. Smith. "
    "Its old town is listed by the U.S. Heritage Fund. Quotes end here." + " More words follow." * 6
)


def _qa(qid, question, answer, context, **extra):
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": answer, "answer_start": context.find(answer)}],
        **extra,
    }


def fixture(tmp_path, articles=None, version="1.1"):
    short = "Oxygen is a chemical element with symbol O."
    data = articles or [
        {
            "title": "Warsaw",
            "paragraphs": [{"context": LONG, "qas": [_qa("w1", "Capital of?", "Poland", LONG)]}],
        },
        {
            "title": "Oxygen_(element)",
            "paragraphs": [{"context": short, "qas": [_qa("o1", "Symbol?", "O", short)]}],
        },
        {
            "title": "Force",
            "paragraphs": [{"context": short, "qas": [_qa("f1", "What element?", "Oxygen", short)]}],
        },
    ]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": version, "data": data}))
    return path


def test_sentences_are_cut_but_not_after_abbreviations_or_inside_answers():
    cuts = sentence_cuts(LONG, [])
    starts = [LONG[c : c + 12] for c in cuts]
    assert "It lies on t" in starts and "The city was" in starts and "Its old town" in starts
    assert not any(s.startswith(("Mary", "B. Smith", "Smith", "Heritage")) for s in starts)
    # an answer that spans a sentence end protects it
    at = LONG.index("It lies")
    assert at not in sentence_cuts(LONG, [(LONG.index("Poland"), at + 3)])


def test_passages_tile_the_paragraph_and_short_ones_stay_whole():
    spans = cut_paragraph(LONG, [], 12)
    assert spans[0][0] == 0 and spans[-1][1] == len(LONG)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))  # no gap, no overlap
    assert all(len(LONG[s:e].split()) >= 6 for s, e in spans)  # no tail below half the length
    assert cut_paragraph("Short one. Two.", [], 12) == [(0, 15)]


def test_questions_passages_and_gold_ids(tmp_path):
    passages, articles, skipped = read_squad(fixture(tmp_path), 12)
    assert skipped == 0 and [len(a) for a in articles] == [1, 1, 1]
    titles = {p["title"] for p in passages}
    assert titles == {"Warsaw", "Oxygen (element)", "Force"}
    w1 = articles[0][0]
    (gold,) = w1["gold_ids"]
    assert "Poland" in next(p["text"] for p in passages if p["id"] == gold)
    assert w1["answers"] == ["Poland"] and w1["question"] == "Capital of?"


def test_v2_unanswerable_questions_are_skipped_and_counted(tmp_path):
    ctx = "Oxygen is a chemical element with symbol O."
    qas = [
        _qa("a", "Symbol?", "O", ctx),
        {"id": "b", "question": "Mass?", "answers": [], "is_impossible": True},
    ]
    path = fixture(tmp_path, [{"title": "Oxygen", "paragraphs": [{"context": ctx, "qas": qas}]}], "v2.0")
    _, articles, skipped = read_squad(path, 100)
    assert skipped == 1 and [q["id"] for q in articles[0]] == ["a"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d[0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=3),
            r"article 'Warsaw', question 'w1': answer 'Poland' is not at offset 3 \(the text is at \d+\)",
        ),
        (
            lambda d: d[0]["paragraphs"][0]["qas"][0].pop("question"),
            r"article 'Warsaw', question 'w1': missing field 'question'",
        ),
        (
            lambda d: d[1]["paragraphs"][0]["qas"][0].update(id="w1"),
            r"question 'w1': duplicate id \(first in article 'Warsaw'\)",
        ),
        (lambda d: d[0].pop("paragraphs"), r"article 'Warsaw': missing field 'paragraphs'"),
        (  # the same check as every question format: an answer nothing can match
            lambda d: d[0]["paragraphs"][0]["qas"][0].update(
                answers=[{"text": "The", "answer_start": LONG.find("The")}]
            ),
            r"article 'Warsaw', question 'w1': answer 'The' is empty once normalised",
        ),
    ],
)
def test_bad_input_names_file_article_and_question(tmp_path, change, message):
    data = json.loads(fixture(tmp_path).read_text())["data"]
    change(data)
    with pytest.raises(InputError, match=message):
        read_squad(fixture(tmp_path, data), 12)
    (tmp_path / "x.json").write_text('{"version": "1.1"}')
    with pytest.raises(InputError, match=r"x\.json: not SQuAD JSON"):
        read_squad(tmp_path / "x.json", 12)


def test_splits_are_drawn_by_article_with_a_seed():
    articles = [[{"id": f"{a}-{i}"} for i in range(5)] for a in range(6)]
    got = split_by_article(articles, SquadSplit(train=7, dev=3, test=5, seed=1), "f")
    assert {k: len(v) for k, v in got.items()} == {"train": 7, "dev": 3, "test": 5}
    owner = {k: {q["id"].split("-")[0] for q in v} for k, v in got.items()}
    assert not (
        owner["train"] & owner["dev"] or owner["train"] & owner["test"] or owner["dev"] & owner["test"]
    )
    assert got == split_by_article(articles, SquadSplit(train=7, dev=3, test=5, seed=1), "f")
    assert got != split_by_article(articles, SquadSplit(train=7, dev=3, test=5, seed=2), "f")
    too_few = (
        r"f: 6 articles with 30 answerable questions cannot fill sq\.squad\.train 7 \+ dev 3 \+ test 16 "
        r"= 26: splits take whole articles .* those left for 'test' hold 15; lower sq\.squad\.test"
    )
    with pytest.raises(InputError, match=too_few):
        split_by_article(articles, SquadSplit(train=7, dev=3, test=16), "f", "sq.squad")


def test_empty_files_bad_bytes_and_bad_json_name_the_line(tmp_path):
    """What the user sees for a file that is not what it should be: no articles, a latin-1 byte
    (its line), broken JSON (its line)."""
    (tmp_path / "empty.json").write_text('{"data": [], "version": "1.1"}')
    with pytest.raises(
        InputError, match=r"empty\.json: the file has no articles \(its 'data' list is empty\)"
    ):
        read_squad(tmp_path / "empty.json", 12)
    good = fixture(tmp_path).read_text()
    text = json.dumps(json.loads(good), indent=1)
    line = text.splitlines().index(next(x for x in text.splitlines() if "Poland" in x)) + 1
    (tmp_path / "latin1.json").write_bytes(text.replace("Poland", "Pol\u00e4nd").encode("latin-1"))
    with pytest.raises(InputError, match=rf"latin1\.json:{line}: not valid UTF-8 \(byte 0xe4"):
        read_squad(tmp_path / "latin1.json", 12)
    (tmp_path / "broken.json").write_text('{"data": [\n  {"title": "A",\n  }]}')
    with pytest.raises(InputError, match=r"broken\.json:3: not valid JSON"):
        read_squad(tmp_path / "broken.json", 12)


def test_fetch_data_builds_splits_and_corpus_from_one_squad_file(tmp_path):
    """question_format: squad through the fetch stage: three splits of whole articles, and a
    corpus holding every gold passage."""
    from ragdistill import fetch
    from ragdistill.files import iter_tsv, read_jsonl

    path = fixture(tmp_path)
    out = {s: str(tmp_path / "out" / f"{s}.jsonl") for s in ("train", "dev", "test")}
    out["corpus"] = str(tmp_path / "out" / "corpus.tsv")
    out["checks"] = str(tmp_path / "out" / "checks.json")
    ds = {"question_format": "squad", "squad": {"source": f"local:{path}", "train": 1, "dev": 1, "test": 1}}
    fetch.fetch_data({}, out, {"name": "sq", "download_dir": str(tmp_path / "dl"), "dataset": ds})
    ids = {row["id"] for _, row in iter_tsv(out["corpus"], ("id", "text", "title"))}
    questions = [q for s in ("train", "dev", "test") for q in read_jsonl(out[s])]
    assert sorted(q["id"] for q in questions) == ["f1", "o1", "w1"]
    assert all(set(q["gold_ids"]) <= ids and q["gold_ids"] for q in questions)
    with pytest.raises(Exception, match=r"datasets.sq.squad.source: missing"):
        fetch.fetch_data(
            {}, out, {"name": "sq", "download_dir": str(tmp_path), "dataset": {"question_format": "squad"}}
        )
