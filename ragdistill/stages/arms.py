"""Stage ``arms``: the decoder-only and the encoder-decoder reader, side by side.

The paper contrasts its decoder-only readers with encoder-decoder ones, for which it reports
that the per-example Spearman correlation behind the question-token indicator (MQ) is
*polarized*: many examples near -1 or +1 rather than spread around a mean, so that the mean MQ
stops telling good teachers from bad ones. A preset runs the two arms as two runs of the same
data (``datasets.<name>.reader``, config/arms-smoke.yaml); this stage reads each run's reader
kind from its model's config.json and the per-example MQ of its readers, and writes:

- ``arms.md``: per run and reader, the kind, examples, mean and quartiles of MQ, and the share of
  examples with ``|MQ| >= indicators.polar_cut``; the claims table; the figure;
- ``claims.json``: claim 8, "the encoder-decoder reader's per-example MQ is polarized":
  per dumped training question, ``1{|MQ| >= cut}`` of the fine-tuned encoder-decoder reader minus
  that of the fine-tuned decoder-only reader (paired by question id, so both runs must dump the
  same questions), per seed; the verdicts of ``ragdistill/analysis/claims.py`` (holds: every seed's
  interval above 0). It is *not measured* when the runs lack one of the two kinds;
- ``mq_arms.png``/``.pdf``: MQ histograms, one panel per arm, one colour per reader.
"""

from __future__ import annotations

import logging

import numpy as np

from ragdistill import readers
from ragdistill.analysis import claims as claims_check
from ragdistill.analysis.plots import save_figure
from ragdistill.core.files import read_json, write_json, write_text
from ragdistill.core.grid import reader_label
from ragdistill.core.names import FINE_TUNED
from ragdistill.core.settings import from_params
from ragdistill.core.stage_settings import ArmSettings, Bootstrap

log = logging.getLogger(__name__)

DECODER_ONLY, ENCODER_DECODER = readers.DecoderOnly.kind, readers.FusionInDecoder.kind


def polar_items(indicators: dict, cut: float) -> dict[str, float | None]:
    """Per dumped example (by question id): 1 if ``|MQ| >= cut``, 0 if not, None where MQ is
    undefined (a constant profile or similarity)."""
    ids = indicators["per_example"]["ids"]
    return {
        q: None if v is None else float(abs(v) >= cut)
        for q, v in zip(ids, indicators["mq_values"], strict=True)
    }


def polarized_claim(cut: float) -> claims_check.Claim:
    """Claim 8 (module docstring); its rule is fixed here, before any run."""
    return claims_check.Claim(
        "8",
        "The encoder-decoder reader's per-example MQ is polarized",
        f"per dumped training question: 1 if abs(MQ) >= {cut:g} else 0, fine-tuned encoder-decoder reader "
        "minus fine-tuned decoder-only reader (paired by question); interval above 0",
        (
            claims_check.Comparison(
                f"share abs(MQ)>={cut:g} {ENCODER_DECODER} - {DECODER_ONLY}",
                ("arm", ENCODER_DECODER, FINE_TUNED),
                ("arm", DECODER_ONLY, FINE_TUNED),
            ),
        ),
    )


def _summary(values: list[float | None], cut: float) -> dict:
    x = np.array([v for v in values if v is not None], dtype=np.float64)
    if not len(x):
        return {"n": 0}
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return {
        "n": len(x),
        "mean": float(x.mean()),
        "q1": float(q1),
        "median": float(med),
        "q3": float(q3),
        "polar_share": float((np.abs(x) >= cut).mean()),
    }


def _plot(rows: list[dict], out: dict, cut: float, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = list(dict.fromkeys(r["run"] for r in rows))
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.5), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs, strict=True):
        for r in (r for r in rows if r["run"] == run):
            vals = [v for v in r["indicators"]["mq_values"] if v is not None]
            ax.hist(vals, bins=20, range=(-1, 1), alpha=0.5, label=f"{r['reader']} (n {len(vals)})")
        kind = next(r["kind"] for r in rows if r["run"] == run)
        for x in (-cut, cut):
            ax.axvline(x, color="black", ls="--", lw=0.8)
        ax.set_title(f"{run}: {kind}", fontsize=9)
        ax.set_xlabel("MQ per example (Spearman)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("examples")
    fig.tight_layout()
    save_figure(fig, out, "figure", dpi)
    plt.close(fig)


def compare_arms(inp: dict, out: dict, params: dict) -> None:
    """The arms' MQ distributions, the polarized claim and the figure (module docstring)."""
    s = from_params(ArmSettings, params)
    kinds = {run: readers.kind_of_folder(path).kind for run, path in zip(s.runs, inp["models"], strict=True)}
    paths = iter(inp["indicators"])
    rows = []
    for run, run_readers in zip(s.runs, s.readers, strict=True):
        # each [seed, reader]: every seed's replicate dumps its own readers on its own questions
        for seed, reader in run_readers:
            ind = read_json(next(paths))
            rows.append(
                {"run": run, "kind": kinds[run], "seed": int(seed), "reader": reader, "indicators": ind}
            )
    by_kind: dict[tuple[str, str, int], dict] = {}
    for r in rows:
        teacher = r["reader"].partition("-s")[0]
        by_kind.setdefault((r["kind"], teacher, r["seed"]), polar_items(r["indicators"], s.polar_cut))
    claim = polarized_claim(s.polar_cut)
    measured = set(kinds.values()) == {ENCODER_DECODER, DECODER_ONLY}
    if measured:
        items = claims_check.check(
            [claim], lambda src, sd: by_kind[(src[1], src[2], sd)], list(s.seeds), Bootstrap(**s.bootstrap)
        )
    else:
        items = [
            {
                "claim": f"{claim.number}. {claim.text}",
                "rule": claim.rule,
                "verdict": "not measured",
                "holds": False,
                "measured": [],
                "seeds_held": "0/0",
                "reader": "",
            }
        ]
    summaries = [
        {
            "run": r["run"],
            "kind": r["kind"],
            "reader": reader_label(r["reader"], r["seed"], several_seeds=True),
            **_summary(r["indicators"]["mq_values"], s.polar_cut),
        }
        for r in rows
    ]
    write_json(out["claims"], {"arms": summaries, "claims": items, "polar_cut": s.polar_cut})
    _plot(rows, out, s.polar_cut, s.dpi)
    lines = [
        "# Decoder-only and encoder-decoder readers",
        "",
        f"Per-example MQ (Spearman of a document token's attention with its similarity to the question) "
        f"per run and reader; polar share: examples with abs(MQ) >= {s.polar_cut:g}.",
        "",
        "| run | reader kind | reader | examples | mean MQ | quartiles | polar share |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in summaries:
        if not m["n"]:
            lines.append(f"| {m['run']} | {m['kind']} | {m['reader']} | 0 | - | - | - |")
            continue
        lines.append(
            f"| {m['run']} | {m['kind']} | {m['reader']} | {m['n']} | {m['mean']:.3f} | "
            f"{m['q1']:.2f} / {m['median']:.2f} / {m['q3']:.2f} | {m['polar_share']:.3f} |"
        )
    if not measured:
        lines += [
            "",
            f"Claim 8 is not measured: the runs' readers are all {', '.join(sorted(set(kinds.values())))}.",
        ]
    lines += ["", "## Claims", "", claims_check.claims_table(items), "![MQ per arm](mq_arms.png)", ""]
    write_text(out["report"], "\n".join(lines))
    log.info("arms: %s; claim 8 %s", kinds, items[0]["verdict"])
