"""The HTML report's first page (``report.front_page``): valid RST that shows every claim as written."""

from __future__ import annotations

import docutils.nodes
from docutils.core import publish_doctree

from ragdistill.stages.report import front_page, rst_text

ITEMS = [
    {
        "claim": "1. Fine-tuned *distillation* beats `initial` on HR@5 (PAT_TN | MQ_)",
        "seeds_held": "1/2",
        "verdict": "does not hold",
        "measured": [
            {
                "seed": s,
                "status": status,
                "comparisons": [{"name": "HR@5 a - b", "diff": d, "lo": lo, "hi": hi, "n": 1000}],
            }
            for s, status, d, lo, hi in [
                (0, "holds", 0.053, 0.026, 0.079),
                (1, "does not hold", 0.0, -0.01, 0.01),
            ]
        ],
    }
]
GRID = [
    {"retriever_kind": "initial", "reader_kind": "finetuned", "hr@1": 0.3, "hr@5": h, "em": e, "f1": 0.5}
    for h, e in [(0.555, 0.1), (0.569, 0.3)]
]


def _text_and_errors(rst: str) -> tuple[str, list]:
    """The document's plain text and every docutils message of level WARNING or above."""
    doc = publish_doctree(rst, settings_overrides={"report_level": 5, "halt_level": 5})
    errors = [m for m in doc.findall(docutils.nodes.system_message) if m["level"] >= 2]
    for m in errors:
        m.parent.remove(m)
    return doc.astext(), errors


def test_markup_is_shown_as_written_and_a_leading_number_is_no_list():
    text, errors = _text_and_errors(rst_text(ITEMS[0]["claim"]))
    assert not errors
    assert text == ITEMS[0]["claim"]


def test_front_page_holds_each_claim_its_intervals_verdict_and_the_grid():
    rst = front_page("world", ITEMS, GRID)
    # the links to the report's categories are defined by Snakemake; here as plain targets
    links = "\n".join(
        f".. _{c}: #" for c in ("Report", "Indicators", "Evaluation", "Readers", "Distillation")
    )
    text, errors = _text_and_errors(rst + "\n" + links + "\n")
    assert not errors, errors
    assert "Claims check, run world" in text
    assert ITEMS[0]["claim"] in text
    assert "seed 0: HR@5 a - b +0.053 [+0.026, +0.079] (n 1000) (holds)" in text
    assert "does not hold" in text and "1/2" in text
    assert "0.562 ± 0.010" in text and "0.200 ± 0.141" in text and "finetuned" in text


def test_front_page_tables_fit_the_landing_page_column():
    """Snakemake 9 sets the landing page's text in a column of 32rem beside the rule graph: each
    table there keeps to at most four columns (the grid: retriever, reader, HR@5, EM; HR@1 and F1
    stay in report.md), the long per-seed texts are paragraphs that wrap."""
    rst = front_page("world", ITEMS, GRID)
    doc = publish_doctree(rst, settings_overrides={"report_level": 5, "halt_level": 5})
    tables = list(doc.findall(docutils.nodes.table))
    assert len(tables) == 2
    for table in tables:
        widths = [len(row.children) for row in table.findall(docutils.nodes.row)]
        assert max(widths) <= 4, widths
    header = [e.astext() for e in next(tables[1].findall(docutils.nodes.row)).children]
    assert header == ["retriever", "reader", "HR@5", "EM"]
    assert "0.300" not in tables[1].astext()  # HR@1 is not on the landing page


def test_the_data_line_ends_with_what_check_lengths_found():
    """Passages over each limit (counted in words: a lower bound) with the longest, and a
    question that may not fit the reader; nothing from a run fetched before the counts."""
    from ragdistill.stages.report import data_line

    checks = {
        "questions": {"train": 8, "dev": 4, "test": 5},
        "passages": 31,
        "overlap": {"train": 0, "dev": 0},
        "repeated_passages": 0,
    }
    lengths = {
        "unit": "words",
        "passages": {
            "retriever.passage_max_length": {"limit": 64, "at_least": 1, "longest": "huge", "words": 20001},
            "prompt.max_doc_tokens": {"limit": 40, "at_least": 3, "longest": "huge", "words": 20001},
        },
        "questions": {
            "train": {"longest": "train3", "words": 4, "context": 1024, "may_not_fit": False},
            "test": {"longest": "too-long", "words": 1501, "context": 1024, "may_not_fit": True},
        },
    }
    line = data_line(checks, lengths)
    assert line.endswith(
        " Passages cut (counted in words, a lower bound): 1 longer than retriever.passage_max_length "
        "(64 tokens), 3 longer than prompt.max_doc_tokens (40 tokens); the longest: 'huge', 20,001 "
        "words. Longest questions that may not fit the reader's context: test 'too-long' (1,501 words)."
    ), line
    assert data_line(checks, {"unit": None}) == data_line(checks)
