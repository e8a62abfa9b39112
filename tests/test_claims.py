"""The claims check on hand-made grids: which cells each claim compares, and its verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill import claims as cc
from ragdistill.report import make_lookup
from ragdistill.stats import Bootstrap

BOOT = Bootstrap(resamples=2000, level=0.95, seed=0)
TOP_N = ["5", "10", "20"]
N = 200


def hits(won: int, lost: int = 0, base: int = 100) -> dict[str, float]:
    """Per-question 0/1 values against a reference where the first ``base`` questions hit:
    ``won`` more questions hit (from ``base`` on), ``lost`` fewer (from 0 on)."""
    v = np.zeros(N)
    v[:base] = 1
    v[base : base + won] = 1
    v[:lost] = 0
    return {f"q{i}": float(x) for i, x in enumerate(v)}


def per_example(mean: float, spread: float = 0.0, seed: int = 0, n: int = 80) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {f"t{i}": float(mean + spread * rng.normal()) for i in range(n)}


def world(seeds=(0,), over: dict | None = None) -> tuple[dict, dict]:
    """Cells and readers where every paper claim holds clearly; ``over`` replaces entries, keyed
    ``(retriever, reader, metric)`` or ``(teacher, measure)``."""
    ref = hits(0)
    cells, readers = {}, {}
    for s in seeds:
        base = {
            ("initial", "offtheshelf"): {"hr@5": ref, "em": hits(0, base=10)},
            ("initial", "finetuned"): {"hr@5": ref, "em": hits(0, base=30)},
            ("adist-offtheshelf", "offtheshelf"): {"hr@5": ref, "em": hits(0, base=10)},
            ("adist-offtheshelf", "finetuned"): {"hr@5": ref, "em": hits(0, base=30)},
            ("adist-finetuned", "finetuned"): {"hr@5": hits(30), "em": hits(25, base=30)},
        }
        for (ret, rea), m in base.items():
            cells[(ret, rea, s)] = {k: dict(v) for k, v in m.items()}
        for name, shift in (("offtheshelf", 0.0), (f"finetuned-s{s}", 1.0)):
            readers[name] = {
                **{f"pat@{n}": per_example(0.2 + 0.2 * shift, 0.05, seed=1) for n in TOP_N},
                "mq": per_example(0.0 + 0.3 * shift, 0.05, seed=2),
                "near_far": per_example(0.001 * shift, 1e-4, seed=3),
            }
    for key, value in (over or {}).items():
        if len(key) == 3:
            for s in seeds:
                cells[(key[0], key[1], s)][key[2]] = value
        else:
            teacher, measure = key
            names = ["offtheshelf"] if teacher == "offtheshelf" else [f"finetuned-s{s}" for s in seeds]
            for name in names:
                readers[name][measure] = value
    return cells, readers


def run(cells, readers, seeds=(0,)) -> dict[str, dict]:
    items = cc.check(cc.paper_claims(TOP_N, 0.1), make_lookup(cells, readers), list(seeds), BOOT)
    return {c["claim"].split(".")[0]: c for c in items}


def test_every_claim_holds_on_a_clear_world():
    got = run(*world())
    assert {k: c["verdict"] for k, c in got.items()} == {
        k: cc.HOLDS for k in ("1", "2", "2b", "3", "4", "5", "6", "7")
    }
    c1 = got["1"]["measured"][0]["comparisons"][0]
    assert c1["diff"] == pytest.approx(30 / N) and c1["n"] == N and c1["lo"] > 0


def test_claim_2_compares_both_retrievers_under_the_fine_tuned_reader():
    """Under the fine-tuned reader the off-the-shelf teacher's retriever answers *better*; with
    its own (off-the-shelf) reader it answers worse. Claim 2 must see the former, 2b the latter."""
    cells, readers = world(over={("adist-offtheshelf", "finetuned", "em"): hits(60, base=30)})
    got = run(cells, readers)
    em = got["2"]["measured"][0]["comparisons"][1]
    assert em["name"].startswith("EM") and em["diff"] == pytest.approx((25 - 60) / N)
    assert got["2"]["verdict"] == cc.FAILS
    assert got["2b"]["verdict"] == cc.HOLDS
    assert got["2"]["reader"] == "fine-tuned reader for both retrievers"


def test_claim_1_compares_with_the_initial_retriever_not_the_other_teacher():
    cells, readers = world(over={("adist-offtheshelf", "finetuned", "hr@5"): hits(40)})
    got = run(cells, readers)
    assert got["1"]["verdict"] == cc.HOLDS  # still +30 over the initial retriever
    assert got["2"]["verdict"] == cc.FAILS  # -10 against the off-the-shelf teacher's retriever
    assert got["6"]["verdict"] == cc.FAILS  # the off-the-shelf teacher did help here


def test_same_direction_not_significant():
    """Two questions won, one lost: the mean is on the claimed side, the interval crosses zero."""
    got = run(*world(over={("adist-finetuned", "finetuned", "hr@5"): hits(2, lost=1)}))
    c = got["1"]
    assert c["verdict"] == cc.SAME and c["holds"] is False
    iv = c["measured"][0]["comparisons"][0]
    assert iv["lo"] < 0 < iv["diff"] < iv["hi"]


def test_a_claim_holds_only_when_it_holds_in_every_seed():
    cells, readers = world(seeds=(0, 1))
    cells[("adist-finetuned", "finetuned", 1)]["hr@5"] = hits(0)  # seed 1: no gain at all
    got = run(cells, readers, seeds=(0, 1))
    assert got["1"]["seeds_held"] == "1/2" and got["1"]["verdict"] == cc.FAILS
    assert [m["status"] for m in got["1"]["measured"]] == [cc.HOLDS, cc.FAILS]


def test_the_initial_off_the_shelf_cell_serves_every_seed():
    """It exists once (neither the initial retriever nor the off-the-shelf reader has a seed)."""
    cells, readers = world(seeds=(0, 1))
    del cells[("initial", "offtheshelf", 1)]
    lookup = make_lookup(cells, readers)
    assert lookup(("cell", "initial", "offtheshelf", "em"), 1) is cells[("initial", "offtheshelf", 0)]["em"]
    with pytest.raises(KeyError, match="adist-finetuned \\+ offtheshelf"):
        lookup(("cell", "adist-finetuned", "offtheshelf", "em"), 0)


def test_threshold_claim_needs_the_fine_tuned_interval_above_and_the_other_mean_below():
    # both readers above the threshold: MQ is higher, but not "only it passes"
    got = run(*world(over={("offtheshelf", "mq"): per_example(0.2, 0.05, seed=2)}))
    assert got["4"]["verdict"] == cc.FAILS
    # fine-tuned mean above 0.1 but its interval reaches below: same direction, not significant
    noisy = world(
        over={
            ("finetuned", "mq"): per_example(0.12, 0.5, seed=7),
            ("offtheshelf", "mq"): per_example(0.0, 0.05),
        }
    )
    assert run(*noisy)["4"]["verdict"] in (cc.SAME, cc.FAILS)
    extra = {c["name"] for c in run(*noisy)["4"]["measured"][0]["comparisons"]}
    assert {"mean mq finetuned", "mean mq offtheshelf"} <= extra


def test_agreement_claim_follows_the_sign_of_the_gain():
    """A worse fine-tuned teacher whose indicators are also lower: the indicators rank the teachers
    as their gains do, so claim 5 holds though claims 1-4 fail."""
    cells, readers = world(
        over={
            ("adist-finetuned", "finetuned", "hr@5"): hits(0, lost=30),
            ("finetuned", "pat@10"): per_example(0.0, 0.05, seed=1),
            ("finetuned", "mq"): per_example(-0.3, 0.05, seed=2),
        }
    )
    got = run(cells, readers)
    assert got["5"]["verdict"] == cc.HOLDS and got["1"]["verdict"] == cc.FAILS
    # one indicator disagreeing breaks it
    readers["finetuned-s0"]["mq"] = per_example(0.3, 0.05, seed=2)
    assert run(cells, readers)["5"]["verdict"] == cc.FAILS


def test_failure_signature_holds_when_no_better_and_when_worse():
    for worse in (0, 20):
        got = run(*world(over={("adist-offtheshelf", "finetuned", "hr@5"): hits(0, lost=worse)}))
        assert got["6"]["verdict"] == cc.HOLDS


def test_distance_claim_and_missing_examples():
    missing = dict.fromkeys(per_example(0.0), None)
    got = run(*world(over={("offtheshelf", "near_far"): missing}))
    c = got["7"]["measured"][0]["comparisons"][0]
    assert c["n"] == 0 and got["7"]["verdict"] == cc.FAILS
