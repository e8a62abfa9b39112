"""The ladder's scale rule (docs/method.md, "The teacher ladder"; ragdistill/tools/ladder_scales.py)
on hand-made dev gains, and the tool on a hand-made run folder."""

from __future__ import annotations

import pytest

from ragdistill.tools import ladder_scales


def test_each_target_takes_the_nearest_scale_not_yet_taken():
    # G = 0.05: targets 0.04, 0.03, 0.02, 0.01, 0
    gains = {0.002: 0.049, 0.005: 0.041, 0.01: 0.028, 0.02: 0.022, 0.05: 0.012, 0.1: 0.001, 0.2: -0.02}
    assert ladder_scales.choose(gains, 0.05) == [0.005, 0.01, 0.02, 0.05, 0.1]


def test_a_scale_is_taken_once_and_ties_go_to_the_smaller_scale():
    # dev HR@5 on 200 questions: gains are multiples of 1/200. G = 10/200; 0.6 G = 6/200, and the
    # rungs at 7/200 and 5/200 are exactly as far from it (in floats they are not: 0.035 - 0.03
    # and 0.03 - 0.025 differ in the last bits), so the smaller scale must win
    n = 200
    gains = {0.01: 7 / n, 0.02: 5 / n}
    assert ladder_scales.choose(gains, 10 / n, targets=(0.6,)) == [0.01]
    assert ladder_scales.choose({0.02: 5 / n, 0.01: 7 / n}, 10 / n, targets=(0.6,)) == [0.01]
    # a scale serves one target only: the second target takes the other rung
    assert ladder_scales.choose(gains, 10 / n, targets=(0.6, 0.6)) == [0.01, 0.02]


def test_dev_gain_is_the_last_step_minus_step_0_not_the_best():
    points = [{"step": 0, "dev_hr5": 0.5}, {"step": 10, "dev_hr5": 0.55}, {"step": 20, "dev_hr5": 0.52}]
    assert ladder_scales.dev_gain(points) == pytest.approx(0.02)


def _curve(folder, hr: list[float]) -> None:
    folder.mkdir(parents=True)
    lines = ["step\tloss\tdev_hr5\tindex_step\twins\tlosses"]
    lines += [f"{10 * i}\t0.1\t{h}\t0\t0\t0" for i, h in enumerate(hr)]
    (folder / "curve.tsv").write_text("\n".join(lines) + "\n")


def test_the_tool_reads_the_scan_and_prints_the_chosen_scales(tmp_path, capsys):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.56, 0.55])  # G = 0.05
    for milli, last in ((2, 0.549), (5, 0.541), (10, 0.528), (20, 0.522), (50, 0.512), (100, 0.501)):
        _curve(distill / f"adist-nz{milli}-s0", [0.50, 0.53, last])
    _curve(distill / "adist-offtheshelf-s0", [0.50, 0.52, 0.51])  # not a rung
    ladder_scales.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "G = +0.050" in out and "noise: [0.005, 0.01, 0.02, 0.05, 0.1]" in out


def test_a_teacher_that_does_not_teach_on_dev_stops_the_rule(tmp_path):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.53, 0.475])
    with pytest.raises(SystemExit, match=r"dev gain is -0\.025; with nothing to spread"):
        ladder_scales.main([str(tmp_path)])


def test_curve_subsets_are_not_rungs(tmp_path):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.55])
    _curve(distill / "adist-nz10-s0", [0.50, 0.52])
    _curve(distill / "adist-nz10-n25-s0", [0.50, 0.51])
    with pytest.raises(SystemExit, match="1 noise rungs distilled"):
        ladder_scales.main([str(tmp_path)])


def test_too_few_rungs_stop_with_one_line(tmp_path):
    distill = tmp_path / "results" / "world" / "s0" / "distill"
    _curve(distill / "adist-finetuned-s0", [0.50, 0.55])
    _curve(distill / "adist-nz10-s0", [0.50, 0.52])
    with pytest.raises(SystemExit, match="1 noise rungs distilled; the rule takes 5"):
        ladder_scales.main([str(tmp_path)])
