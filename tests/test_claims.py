"""The claims check on hand-made grids: which cells each claim compares, and its verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.analysis import claims as cc
from ragdistill.core.stage_settings import Bootstrap
from ragdistill.stages.report import kept_step0, make_lookup

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


def world(seeds=(0,), over: dict | None = None) -> tuple[dict, dict, dict]:
    """Cells, readers and fixed-step retrievals where every paper claim holds clearly; ``over``
    replaces entries, keyed ``(retriever, reader, metric)``, ``(teacher, measure)`` or
    ``("fixed", retriever, metric)``."""
    ref = hits(0)
    cells, readers, fixed = {}, {}, {}
    for s in seeds:
        fixed[("adist-offtheshelf", s)] = {"hr@5": ref}
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
            readers[(s, name)] = {
                **{f"pat@{n}": per_example(0.2 + 0.2 * shift, 0.05, seed=1) for n in TOP_N},
                "mq": per_example(0.0 + 0.3 * shift, 0.05, seed=2),
                "near_far": per_example(0.001 * shift, 1e-4, seed=3),
            }
    for key, value in (over or {}).items():
        if key[0] == "fixed":
            for s in seeds:
                fixed[(key[1], s)][key[2]] = value
        elif len(key) == 3:
            for s in seeds:
                cells[(key[0], key[1], s)][key[2]] = value
        else:
            teacher, measure = key
            for s in seeds:
                readers[(s, "offtheshelf" if teacher == "offtheshelf" else f"finetuned-s{s}")][measure] = (
                    value
                )
    return cells, readers, fixed


def run(cells, readers, fixed, seeds=(0,), selection: dict | None = None) -> dict[str, dict]:
    """The claims check on a hand-made world; ``selection``: (retriever kind, seed) -> kept step."""
    lookup = make_lookup(cells, readers, fixed)
    items = cc.check(cc.paper_claims(TOP_N, 0.1), lookup, list(seeds), BOOT, kept_step0(selection or {}))
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
    got = run(*world(over={("adist-offtheshelf", "finetuned", "em"): hits(60, base=30)}))
    em = got["2"]["measured"][0]["comparisons"][1]
    assert em["name"].startswith("EM") and em["diff"] == pytest.approx((25 - 60) / N)
    assert got["2"]["verdict"] == cc.FAILS
    assert got["2b"]["verdict"] == cc.HOLDS
    assert got["2"]["reader"] == "fine-tuned reader for both retrievers"


def test_claim_1_compares_with_the_initial_retriever_not_the_other_teacher():
    got = run(
        *world(
            over={
                ("adist-offtheshelf", "finetuned", "hr@5"): hits(40),
                ("fixed", "adist-offtheshelf", "hr@5"): hits(40),
            }
        )
    )
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
    cells, readers, fixed = world(seeds=(0, 1))
    cells[("adist-finetuned", "finetuned", 1)]["hr@5"] = hits(0)  # seed 1: no gain at all
    got = run(cells, readers, fixed, seeds=(0, 1))
    assert got["1"]["seeds_held"] == "1/2" and got["1"]["verdict"] == cc.FAILS
    assert [m["status"] for m in got["1"]["measured"]] == [cc.HOLDS, cc.FAILS]


def test_every_seed_reads_its_own_replicate():
    """Each seed replicates the data: its own initial cells and its own off-the-shelf reader's
    indicators, never another seed's."""
    cells, readers, fixed = world(seeds=(0, 1))
    lookup = make_lookup(cells, readers, fixed)
    assert lookup(("cell", "initial", "offtheshelf", "em"), 1) is cells[("initial", "offtheshelf", 1)]["em"]
    assert lookup(("reader", "offtheshelf", "mq"), 1) is readers[(1, "offtheshelf")]["mq"]
    del cells[("initial", "offtheshelf", 1)]
    with pytest.raises(KeyError, match="initial \\+ offtheshelf \\(seed 1\\)"):
        lookup(("cell", "initial", "offtheshelf", "em"), 1)
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
    cells, readers, fixed = world(
        over={
            ("adist-finetuned", "finetuned", "hr@5"): hits(0, lost=30),
            ("finetuned", "pat@10"): per_example(0.0, 0.05, seed=1),
            ("finetuned", "mq"): per_example(-0.3, 0.05, seed=2),
        }
    )
    got = run(cells, readers, fixed)
    assert got["5"]["verdict"] == cc.HOLDS and got["1"]["verdict"] == cc.FAILS
    # one indicator disagreeing breaks it
    readers[(0, "finetuned-s0")]["mq"] = per_example(0.3, 0.05, seed=2)
    assert run(cells, readers, fixed)["5"]["verdict"] == cc.FAILS


def test_failure_signature_is_judged_at_the_fixed_step_and_says_when_it_lies_below():
    """Claim 6 reads the last-step retriever, not the selected one: a selection that kept step 0
    (a difference of exactly 0) can neither make it hold nor hide a harmful teacher."""
    got = run(*world(over={("fixed", "adist-offtheshelf", "hr@5"): hits(0)}))
    assert got["6"]["verdict"] == cc.HOLDS and "note" not in got["6"]["measured"][0]
    worse = run(*world(over={("fixed", "adist-offtheshelf", "hr@5"): hits(0, lost=20)}))
    assert worse["6"]["verdict"] == cc.HOLDS and worse["6"]["measured"][0]["note"] == cc.BELOW
    assert "ends worse" in cc.seed_texts(worse["6"])[0]
    # the selected retriever kept step 0 (no test difference at all), the last step helped: fails
    cells, readers, fixed = world(over={("fixed", "adist-offtheshelf", "hr@5"): hits(30)})
    got = run(cells, readers, fixed, selection={("adist-offtheshelf", 0): 0})
    assert got["6"]["verdict"] == cc.FAILS
    assert got["6"]["measured"][0]["comparisons"][0]["name"].startswith("HR@5 adist-offtheshelf (last step)")


def test_a_retriever_that_kept_step_0_is_not_measured_never_a_difference_that_holds():
    cells, readers, fixed = world(over={("adist-finetuned", "finetuned", "hr@5"): hits(0)})
    got = run(cells, readers, fixed, selection={("adist-finetuned", 0): 0, ("adist-offtheshelf", 0): 10})
    for claim in ("1", "2", "5"):  # each compares the fine-tuned teacher's selected retriever
        assert got[claim]["verdict"] == cc.NOT_MEASURED and got[claim]["holds"] is False
        assert got[claim]["measured"][0]["status"] == cc.NOT_MEASURED
    assert "not measured (step 0 kept)" in cc.seed_texts(got["1"])[0]
    assert got["3"]["verdict"] == cc.HOLDS  # the readers' indicators do not depend on selection
    # a failing seed fails the claim; a seed not measured beside holding ones leaves it not measured
    cells, readers, fixed = world(seeds=(0, 1))
    two = run(cells, readers, fixed, seeds=(0, 1), selection={("adist-finetuned", 1): 0})
    assert two["1"]["verdict"] == cc.NOT_MEASURED and two["1"]["seeds_held"] == "1/2"
    cells[("adist-finetuned", "finetuned", 0)]["hr@5"] = hits(0, lost=30)
    two = run(cells, readers, fixed, seeds=(0, 1), selection={("adist-finetuned", 1): 0})
    assert two["1"]["verdict"] == cc.FAILS


def test_claim_5_is_not_testable_when_the_teachers_teach_alike():
    """Both teachers' retrievers gain alike (no significant HR@5 difference): the indicators have
    nothing to rank, so the claim says so instead of "does not hold"."""
    cells, readers, fixed = world(over={("adist-offtheshelf", "finetuned", "hr@5"): hits(29)})
    got = run(cells, readers, fixed)
    assert got["5"]["verdict"] == cc.NOT_TESTABLE
    assert got["5"]["measured"][0]["status"] == cc.NOT_TESTABLE


def test_verdict_across_seeds():
    v = cc.verdict
    assert v([cc.HOLDS, cc.HOLDS]) == cc.HOLDS and v([cc.HOLDS, cc.SAME]) == cc.SAME
    assert v([cc.HOLDS, cc.NOT_MEASURED]) == cc.NOT_MEASURED and v([cc.NOT_MEASURED, cc.FAILS]) == cc.FAILS
    assert v([cc.NOT_TESTABLE, cc.HOLDS]) == cc.NOT_TESTABLE and v([]) == cc.FAILS


def test_distance_claim_and_missing_examples():
    missing = dict.fromkeys(per_example(0.0), None)
    got = run(*world(over={("offtheshelf", "near_far"): missing}))
    c = got["7"]["measured"][0]["comparisons"][0]
    assert c["n"] == 0 and got["7"]["verdict"] == cc.FAILS


def test_the_claims_forest_plot_has_a_row_per_comparison(tmp_path):
    """The claims at a glance: one row per comparison of every claim (claim 2 has two), drawn
    from the claims check's own items, a kept step 0 drawn as "not measured"."""
    from ragdistill.analysis.forest import draw_forest, forest_rows

    cells, readers, fixed = world(seeds=(0, 1))
    lookup = make_lookup(cells, readers, fixed)
    items = cc.check(
        cc.paper_claims(TOP_N, 0.1), lookup, [0, 1], BOOT, kept_step0({("adist-finetuned", 1): 0})
    )
    rows = forest_rows(items)
    assert len(rows) == sum(len(c["measured"][0]["comparisons"]) for c in items)
    first = rows[0]
    assert first["label"].startswith("1: HR@5") and first["verdict"] == cc.NOT_MEASURED
    assert [s["measured"] for s in first["seeds"]] == [True, False]
    out = {"claims": str(tmp_path / "c.png"), "claims_pdf": str(tmp_path / "c.pdf")}
    assert draw_forest(items, out, 40) == len(rows)
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")


def test_several_runs_share_one_forest_a_marker_per_run_and_seed(tmp_path, monkeypatch):
    """Two runs (NQ and TQA, say) in one figure: each comparison's row holds both runs' seeds,
    named "<run> s<seed>", and each claim's verdict per run."""
    import matplotlib.pyplot as plt

    from ragdistill.analysis.forest import draw_forest, forest_rows, runs_rows

    cells, readers, fixed = world(seeds=(0, 1))
    items = cc.check(cc.paper_claims(TOP_N, 0.1), make_lookup(cells, readers, fixed), [0, 1], BOOT, set())
    rows = runs_rows({"nq": items, "tqa": items})
    assert len(rows) == len(forest_rows(items))
    assert [s["seed"] for s in rows[0]["seeds"]] == ["nq s0", "nq s1", "tqa s0", "tqa s1"]
    verdict = items[0]["verdict"]
    assert rows[0]["verdict"] == f"nq: {verdict}; tqa: {verdict}"
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    out = {"claims": str(tmp_path / "r.png"), "claims_pdf": str(tmp_path / "r.pdf")}
    assert draw_forest([], out, 40, rows=rows) == len(rows)
    ax = plt.gcf().axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["nq s0", "nq s1", "tqa s0", "tqa s1"]
    assert ax.get_title() == "Claims at a glance: each comparison per run and seed, verdict at the right"
    plt.close("all")
