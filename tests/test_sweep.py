"""The teacher sweep's table: every seed's controls, the random one with its seed's random reader's
indicators; the rank correlations across teachers at the fixed step, with their intervals."""

import json

from ragdistill.core.files import write_jsonl
from ragdistill.stages import sweep


def _retrieval(path, hits: list[bool]) -> str:
    rows = [{"id": f"q{i}", "ctxs": [{"has_answer": h}] * 5} for i, h in enumerate(hits)]
    write_jsonl(path, rows)
    return str(path)


def _indicators(path, pat: float, mq: float) -> str:
    path.write_text(
        json.dumps(
            {
                "pat": {"5": pat, "10": pat, "20": pat},
                "mq_mean": mq,
                "per_example": {"near_far": [0.001, None]},
            }
        )
    )
    return str(path)


def test_every_seeds_random_control_gets_the_random_readers_indicators(tmp_path):
    seeds, teachers = [0, 1, 2], ["offtheshelf", "finetuned"]
    # each seed's replicate: its own initial retrieval and random reader's indicators
    inp = {
        "initial": [_retrieval(tmp_path / f"initial-{s}.jsonl", [True, False, False, False]) for s in seeds]
    }
    inp["retrieved"] = [
        _retrieval(tmp_path / f"{t}-{s}.jsonl", [True, True, t == "finetuned", False])
        for s in seeds
        for t in teachers
    ]
    inp["indicators"] = [
        _indicators(tmp_path / f"ind-{t}-{s}.json", 0.3 + 0.1 * i, 0.05 * i)
        for s in seeds
        for i, t in enumerate(teachers)
    ]
    controls = [{"seed": s, "teacher": t} for s in seeds for t in ("random", "uniform")]
    inp["controls"] = [
        _retrieval(tmp_path / f"c-{c['teacher']}-{c['seed']}.jsonl", [True] + [False] * 3) for c in controls
    ]
    inp["control_indicators"] = [
        _indicators(tmp_path / f"ind-random-{s}.json", 0.03 + s, 0.004) for s in seeds
    ]
    out = {
        "sweep": str(tmp_path / "sweep.json"),
        "png": str(tmp_path / "sweep.png"),
        "sweep_pdf": str(tmp_path / "sweep.pdf"),
    }
    params = {
        "rows": [
            {"seed": s, "teacher": t, "steps": n}
            for s in seeds
            for t, n in zip(teachers, [0, 30], strict=True)
        ],
        "controls": controls,
        "seeds": seeds,
        "top_n": [5, 10, 20],
        "bootstrap": {"resamples": 200, "level": 0.95, "seed": 0},
        "dpi": 40,
    }
    sweep.teacher_sweep(inp, out, params)
    got = json.loads((tmp_path / "sweep.json").read_text())
    assert [(c["seed"], c["teacher"]) for c in got["controls"]] == [
        (c["seed"], c["teacher"]) for c in controls
    ]
    for c in got["controls"]:
        assert c["gain"] == 0
        if c["teacher"] == "random":
            assert (c["PAT_T10"], c["MQ"]) == (0.03 + c["seed"], 0.004)
        else:
            assert c["PAT_T10"] is None
    assert [r["gain"] for r in got["rows"]] == [0.25, 0.5] * 3


def _full_indicators(path, values: list[float], mq: list[float]) -> str:
    """An indicators file with per-example values (PAT_TN for every N alike, MQ, near-far)."""
    ids = [f"t{i}" for i in range(len(values))]
    path.write_text(
        json.dumps(
            {
                "pat": {n: sum(values) / len(values) for n in ("5", "10", "20")},
                "mq_mean": sum(mq) / len(mq),
                "mq_values": mq,
                "per_example": {
                    "ids": ids,
                    "pat": dict.fromkeys(("5", "10", "20"), values),
                    "near_far": values,
                },
            }
        )
    )
    return str(path)


def _nested(j: int, i: int) -> bool:
    """Teacher j wins the first 20 j questions."""
    return i < 20 * j


def _four_teachers(tmp_path, questions: list[str] | None = None, won=_nested) -> dict:
    """Four teachers in one seed whose fixed-step gains rise (0, 20, 40, 60 of 200 questions won:
    teacher j wins question i where ``won(j, i)``) as PAT_TN rises and MQ falls; ``questions``: the
    split files given to the sweep, if any. Returns the written sweep.json."""
    n, steps = 200, [0, 10, 30, 60]
    inp = {"initial": [_retrieval(tmp_path / "initial.jsonl", [False] * n)]}
    inp["retrieved"] = [_retrieval(tmp_path / f"sel-{k}.jsonl", [False] * n) for k in steps]
    inp["fixed"] = [
        _retrieval(tmp_path / f"last-{k}.jsonl", [won(j, i) for i in range(n)]) for j, k in enumerate(steps)
    ]
    inp["indicators"] = [
        _full_indicators(
            tmp_path / f"ind-{k}.json", [0.1 * j + 0.01 * (e % 5) for e in range(30)], [0.5 - 0.1 * j] * 30
        )
        for j, k in enumerate(steps)
    ]
    if questions is not None:
        inp["questions"] = questions
    out = {
        "sweep": str(tmp_path / "sweep.json"),
        "png": str(tmp_path / "s.png"),
        "sweep_pdf": str(tmp_path / "s.pdf"),
    }
    params = {
        "rows": [{"seed": 0, "teacher": f"ft{k}", "steps": k} for k in steps],
        "controls": [],
        "seeds": [0],
        "top_n": [5, 10, 20],
        "bootstrap": {"resamples": 300, "level": 0.95, "seed": 0},
        "dpi": 30,
    }
    sweep.teacher_sweep(inp, out, params)
    return json.loads((tmp_path / "sweep.json").read_text())


def test_indicators_rank_teachers_when_the_interval_lies_above_zero(tmp_path):
    """Four teachers in one seed whose fixed-step gains rise (0, 20, 40, 60 of 200 questions won)
    as PAT_TN rises and MQ falls: PAT's Spearman is +1 with an interval above 0 (it ranks the
    teachers), MQ's is -1 (it does not); the kept-step gains stay in the rows beside."""
    got = _four_teachers(tmp_path)
    assert [r["last_gain"] for r in got["rows"]] == [0.0, 0.1, 0.2, 0.3]
    assert [r["gain"] for r in got["rows"]] == [0.0] * 4
    pat = got["correlations"]["PAT_T10"]["0"]["spearman"]
    assert pat["diff"] == 1.0 and pat["lo"] > 0 and got["ranks_teachers"]["PAT_T10"] is True
    assert pat["method"] == "spearman bootstrap"
    assert got["correlations"]["MQ"]["0"]["spearman"]["diff"] == -1.0 and got["ranks_teachers"]["MQ"] is False
    assert set(got["correlations"]) == {"PAT_T5", "PAT_T10", "PAT_T20", "MQ", "near-far"}


def _split(path, ids: list[str], article=None) -> str:
    """A split file: each question with its article (``article(i)``), or none (generated world)."""
    write_jsonl(
        path, [{"id": q, **({} if article is None else {"article": article(i)})} for i, q in enumerate(ids)]
    )
    return str(path)


# each teacher wins whole articles of 20 questions, different ones: 0, 1, 2 and 3 of the ten
ARTICLES_WON = [set(), {5}, {1, 7}, {2, 3, 8}]


def test_on_real_text_every_interval_is_resampled_by_article(tmp_path):
    """Questions with articles (SQuAD): the gains, the indicators' intervals and the rank
    correlations resample articles, then items within them, with each question's and example's
    own article (the interval is stats.rank_correlation's with the articles listed by hand), and
    are wider here, where each teacher's wins fill whole articles and each article of examples
    holds one value; questions without articles (the generated world) give the same sweep as no
    question files."""
    import numpy as np

    from ragdistill.analysis.stats import rank_correlation

    def won(j, i):
        return i // 20 in ARTICLES_WON[j]

    flat = _four_teachers(tmp_path / "flat", won=won)
    qs, ts = [f"q{i}" for i in range(200)], [f"t{i}" for i in range(30)]
    plain = [_split(tmp_path / "test.jsonl", qs), _split(tmp_path / "train.jsonl", ts)]
    assert _four_teachers(tmp_path / "plain", plain, won=won) == flat
    real = [
        _split(tmp_path / "test-a.jsonl", qs, lambda i: f"a{i // 20}"),
        _split(tmp_path / "train-a.jsonl", ts, lambda i: f"b{i % 5}"),
    ]
    got = _four_teachers(tmp_path / "real", real, won=won)
    pat, pat_flat = (d["correlations"]["PAT_T10"]["0"]["spearman"] for d in (got, flat))
    assert pat["method"] == "spearman clustered bootstrap" and pat["diff"] == pat_flat["diff"] == 1.0
    gains = np.array([[float(won(j, i)) for i in range(200)] for j in range(4)])
    ind = np.array([[0.1 * j + 0.01 * (e % 5) for e in range(30)] for j in range(4)])
    by_hand = rank_correlation(
        gains,
        ind,
        "spearman",
        resamples=300,
        seed=0,
        question_clusters=[f"a{i // 20}" for i in range(200)],
        example_clusters=[f"b{e % 5}" for e in range(30)],
    )
    assert (pat["lo"], pat["hi"]) == (by_hand.lo, by_hand.hi)
    assert pat["lo"] < pat_flat["lo"]  # ten articles, not 200 independent questions
    for g, f in zip(got["rows"][1:], flat["rows"][1:], strict=True):
        assert g["last_gain"] == f["last_gain"] and g["last_hi"] - g["last_lo"] > f["last_hi"] - f["last_lo"]
    width = [r["PAT_T10_hi"] - r["PAT_T10_lo"] for r in (got["rows"][0], flat["rows"][0])]
    assert width[0] > width[1]  # each article of examples holds one value
