"""The teacher sweep's table: every seed's controls, the random one with the random reader's
indicators (one file: the random reader is not trained, so it is every seed's)."""

import json

from ragdistill import sweep
from ragdistill.files import write_jsonl


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
