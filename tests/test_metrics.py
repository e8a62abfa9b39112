"""Answer metrics against hand-computed cases."""

from __future__ import annotations

import pytest

from ragdistill.analysis.metrics import (
    answer_table,
    exact_match,
    f1_score,
    has_answer,
    mean_hits,
    normalize_answer,
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  an   apple,  a pear ", "apple pear"),
        ("U.S.-based", "u s based"),
        ("Ｐａｒｉｓ", "paris"),  # full-width letters (NFKC)
        ("Théâtre «Odéon»", "théâtre odéon"),
    ],
)
def test_normalize(text, want):
    assert normalize_answer(text) == want


def test_exact_match_takes_the_best_gold_answer():
    assert exact_match("the Beatles", ["Rolling Stones", "Beatles"]) == 1.0
    assert exact_match("Beatles band", ["Beatles"]) == 0.0


def test_f1_hand_computed():
    # prediction tokens {john, smith, jr}, gold {john, smith}: P = 2/3, R = 1, F1 = 0.8
    assert f1_score("John Smith Jr.", ["John Smith"]) == pytest.approx(0.8)
    # best over answers: second answer matches one of two tokens in both -> P = R = 1/2
    assert f1_score("red car", ["blue boat", "red bike"]) == pytest.approx(0.5)
    assert f1_score("", ["x"]) == 0.0
    assert f1_score("the", ["a"]) == 1.0  # both normalise to empty


def test_has_answer_is_a_whole_token_match():
    text = "Born in Paris, France, she later moved to the U.S. in 1901."
    assert has_answer(text, ["paris"])
    assert has_answer(text, ["The U.S."])
    assert has_answer(text, ["1901"])
    assert not has_answer("A Parisian café.", ["Paris"])
    assert not has_answer(text, ["190"])
    assert has_answer("Ｍüller wrote it", ["müller"])
    assert not has_answer(text, [""])


def test_hit_rate_at_k():
    rows = [[False, True, False], [False, False, False], [True, False, False], [False, False, True]]
    got = mean_hits(rows, [1, 2, 3])
    assert got == {1: 0.25, 2: 0.5, 3: 0.75}


def test_answer_table_is_has_answer_for_every_pair():
    texts = ["The Eiffel Tower, in Paris.", "She was born in Paris-Nord.", "Towering"]
    answers = [["paris"], ["The Tower", "Lyon"]]
    table = answer_table(texts, answers)
    assert table.tolist() == [[True, True, False], [True, False, False]]
    assert table.tolist() == [[has_answer(t, a) for t in texts] for a in answers]


def _token_scan(text: str, answers: list[str]) -> bool:
    """The slow reference: some normalised answer's tokens occur as a run in the text's tokens."""
    from ragdistill.analysis.metrics import normalize_answer

    tokens = normalize_answer(text).split()
    for a in answers:
        needle = normalize_answer(a).split()
        n = len(needle)
        if n and any(tokens[i : i + n] == needle for i in range(len(tokens) - n + 1)):
            return True
    return False


def test_answer_table_agrees_with_has_answer_on_random_texts():
    """The substring search against the token scan, on texts and answers drawn from a few words
    (prefixes of each other, punctuation, articles, empty answers), so that near misses abound."""
    import random

    rng = random.Random(0)
    words = ["a", "an", "the", "par", "paris", "is", "nice", "ice", "n", "-", ",", "Nord"]

    def text(most: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randrange(0, most)))

    texts = [text(12) for _ in range(60)]
    answers = [[text(4), text(4)] for _ in range(40)]
    table = answer_table(texts, answers)
    assert table.tolist() == [[has_answer(t, a) for t in texts] for a in answers]
    assert table.tolist() == [[_token_scan(t, a) for t in texts] for a in answers]
    assert 0 < table.mean() < 1


def test_reciprocal_rank_of_the_first_hit():
    from ragdistill.analysis.metrics import reciprocal_rank

    assert reciprocal_rank([False, False, True, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([True]) == 1.0
    assert reciprocal_rank([False, False]) == 0.0
