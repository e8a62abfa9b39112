"""The arms stage: polar shares and claim 8 on hand-made indicators."""

from __future__ import annotations

import json

import pytest

from ragdistill.stages import arms


def _indicators(path, mq: list[float | None]) -> str:
    ids = [f"q{i}" for i in range(len(mq))]
    path.write_text(json.dumps({"mq_values": mq, "per_example": {"ids": ids}}))
    return str(path)


def _model(path, encoder_decoder: bool) -> str:
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"is_encoder_decoder": encoder_decoder}))
    return str(path)


def test_polar_items_counts_abs_mq_at_the_cut():
    ind = {"mq_values": [0.5, -0.7, 0.49, None], "per_example": {"ids": ["a", "b", "c", "d"]}}
    assert arms.polar_items(ind, 0.5) == {"a": 1.0, "b": 1.0, "c": 0.0, "d": None}


def _run(tmp_path, t5_kind: bool, t5_mq: list[float]):
    dec_mq = [0.1, -0.2, 0.3, 0.05] * 5
    inp = {
        "models": [_model(tmp_path / "dec", False), _model(tmp_path / "t5", t5_kind)],
        "indicators": [
            _indicators(tmp_path / "d-ots.json", dec_mq),
            _indicators(tmp_path / "d-ft.json", dec_mq),
            _indicators(tmp_path / "t-ots.json", t5_mq),
            _indicators(tmp_path / "t-ft.json", t5_mq),
        ],
    }
    out = {k: str(tmp_path / f"arms.{k}") for k in ("report", "claims")}
    out |= {"figure": str(tmp_path / "mq_arms.png"), "figure_pdf": str(tmp_path / "mq_arms.pdf")}
    params = {
        "runs": ["dec", "t5"],
        "readers": [[[0, "offtheshelf"], [0, "finetuned-s0"]]] * 2,  # [seed, reader] per run
        "seeds": [0],
        "polar_cut": 0.5,
        "bootstrap": {"resamples": 2000, "level": 0.95, "seed": 0},
        "dpi": 50,
    }
    arms.compare_arms(inp, out, params)
    return json.loads(open(out["claims"]).read()), open(out["report"]).read()


def test_a_polarized_encoder_decoder_holds_claim_8(tmp_path):
    claims, md = _run(tmp_path, True, [0.9, -0.8, 0.95, -0.99] * 5)
    (claim,) = claims["claims"]
    (comp,) = claim["measured"][0]["comparisons"]
    assert claim["verdict"] == "holds" and comp["diff"] == pytest.approx(1.0) and comp["n"] == 20
    shares = {(a["run"], a["reader"]): a["polar_share"] for a in claims["arms"]}
    assert shares[("t5", "finetuned-s0")] == 1.0 and shares[("dec", "finetuned-s0")] == 0.0
    assert "| t5 | encoder-decoder | finetuned-s0 | 20 |" in md


def test_a_spread_encoder_decoder_does_not_hold_claim_8(tmp_path):
    claims, _ = _run(tmp_path, True, [0.1, -0.2, 0.3, 0.05] * 5)
    assert claims["claims"][0]["verdict"] == "does not hold"


def test_claim_8_is_not_measured_without_both_kinds(tmp_path):
    claims, md = _run(tmp_path, False, [0.9, -0.8, 0.95, -0.99] * 5)
    assert claims["claims"][0]["verdict"] == "not measured"
    assert "not measured" in md
