"""The example-attention figure's choice of example and its per-document split of a dump."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.figures import example_tokens, pick_example


def _dump() -> dict:
    # two examples, k = 2: example 0 has no answer token, example 1 has one in document 1
    return {
        "ids": np.array(["a", "b"]),
        "ctx_ids": np.array([["p", "q"], ["r", "s"]]),
        "tok_offsets": np.array([0, 3, 7]),
        "tok_doc": np.array([0, 0, 1, 0, 1, 1, 1], dtype=np.int8),
        "tok_profile": np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.float16),
        "tok_answer": np.array([0, 0, 0, 0, 0, 1, 0], dtype=bool),
    }


def test_null_picks_the_first_example_with_an_answer_token():
    assert pick_example(_dump(), None) == 1
    assert pick_example(_dump(), 0) == 0


def test_an_index_outside_the_dump_names_the_config_key():
    with pytest.raises(ValueError, match=r"figures.example: 2 is outside the 2 dumped examples"):
        pick_example(_dump(), 2)


def test_tokens_split_by_document_in_retrieval_order():
    docs = example_tokens(_dump(), 1)
    assert [p.tolist() for p, _ in docs] == [[4.0], [5.0, 6.0, 7.0]]
    assert [a.tolist() for _, a in docs] == [[False], [False, True, False]]
