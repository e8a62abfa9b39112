"""The claims check: the paper's findings as comparisons between our own runs, with intervals.

Each claim is a list of paired comparisons, each "setting A minus setting B" of one per-item
measure, and a rule that turns their 95% paired intervals (:mod:`ragdistill.analysis.stats`: exact for
binary measures, bootstrap for continuous ones, clustered by article on real text) into a
verdict. Per seed, a comparison is *significant* when its interval lies on the claimed
side of zero and *in the same direction* when only its mean does. A claim:

- **holds** when, in every seed, every comparison is significant (and any extra condition of the
  claim is met);
- is **same direction, not significant** when, in every seed, every mean is on the claimed side
  but some interval crosses zero;
- **does not hold** otherwise.

The failure-signature claim (6) is about the *absence* of a gain, so its rule is one-sided the
other way: it holds when, in every seed, the interval includes zero or lies below it; it is
judged on the *fixed-step* retriever (the distillation's last step), because a retriever that
selection returned to step 0 differs from the initial one by exactly 0 and could never fail it.

No verdict that cannot fail: a comparison whose distilled retriever kept step 0 by selection is
**not measured (step 0 kept)** (its test difference is 0 by construction, not by measurement);
claim 5 is **not testable** when the two teachers' HR@5 difference is not significant (the
indicators then have nothing to rank). A claim holds only when it holds in every seed; a seed
that fails makes it fail; otherwise a seed not measured (or not testable) makes the claim so.
The rules are written out, with their measures, in ``docs/method.md``; a claim's rule is fixed
before a run and never tuned to one.

A *source* names one per-item measure: ``("cell", retriever_kind, reader_kind, metric)`` reads a
grid cell's ``predictions.jsonl`` (metric ``hr@5``, ``em``, ``f1``...), ``("fixed",
retriever_kind, metric)`` the test retrieval of that distillation's fixed-step retriever,
``("reader", teacher, measure)`` a reader's per-example indicators (``pat@N``, ``mq``,
``near_far``); teacher is ``offtheshelf`` or ``finetuned``, resolved per seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ragdistill.analysis.stats import Interval, bootstrap_mean, cluster_groups, paired
from ragdistill.core.names import ADIST_FT, ADIST_OFF, INITIAL
from ragdistill.core.stage_settings import Bootstrap

Source = tuple[str, ...]
Items = dict[str, float | None]
# (source, seed) -> per-item values by item id
Lookup = Callable[[Source, int], Items]
# (source, seed) -> whether the source's distilled retriever kept step 0 by selection
KeptStep0 = Callable[[Source, int], bool]

HOLDS, SAME, FAILS = "holds", "same direction, not significant", "does not hold"
NOT_MEASURED = "not measured (step 0 kept)"
NOT_TESTABLE = "not testable (the teachers' HR@5 difference is not significant)"
BELOW = "lies below 0: the retriever ends worse than the initial one"


@dataclass(frozen=True)
class Comparison:
    name: str
    a: Source
    b: Source


@dataclass(frozen=True)
class Claim:
    number: str
    text: str
    rule: str
    comparisons: tuple[Comparison, ...]
    kind: str = "positive"  # positive | agree | not_above | threshold
    reader: str = ""  # which reader answered the EM comparisons, for the report
    extra: dict = field(default_factory=dict)


def _cell(retriever: str, reader: str, metric: str) -> Source:
    return ("cell", retriever, reader, metric)


def _reader(teacher: str, measure: str) -> Source:
    return ("reader", teacher, measure)


def reader_measures(ind: dict) -> dict[str, dict[str, float | None]]:
    """A reader's per-example indicators, as the ``("reader", teacher, measure)`` sources read them:
    measure (``pat@N``, ``mq``, ``near_far``) -> {example id: value}, from its indicators.json."""
    per = ind["per_example"]
    measures = {f"pat@{n}": v for n, v in per["pat"].items()}
    measures.update({"mq": ind["mq_values"], "near_far": per["near_far"]})
    return {m: dict(zip(per["ids"], vals, strict=True)) for m, vals in measures.items()}


def _fixed(retriever: str, metric: str) -> Source:
    return ("fixed", retriever, metric)


def paper_claims(top_n: list[str], mq_threshold: float) -> list[Claim]:
    """The claims of the report's first table (docs/method.md, "The claims check").

    Longer than the other functions on purpose: it is a table, one ``Claim`` per row, with no
    logic; kept in one place so that the claims read as the list that docs/method.md writes out.
    """
    hr = "hr@5"
    ft_vs_ots_hr = Comparison(
        "HR@5 adist-finetuned - adist-offtheshelf",
        _cell(ADIST_FT, "finetuned", hr),
        _cell(ADIST_OFF, "finetuned", hr),
    )
    pat = [
        Comparison(
            f"PAT_T{n} finetuned - offtheshelf",
            _reader("finetuned", f"pat@{n}"),
            _reader("offtheshelf", f"pat@{n}"),
        )
        for n in top_n
    ]
    ft_em = _cell(ADIST_FT, "finetuned", "em")  # claims 2 and 2b: the same cell, two partners
    mq = Comparison("MQ finetuned - offtheshelf", _reader("finetuned", "mq"), _reader("offtheshelf", "mq"))
    n_mid = top_n[len(top_n) // 2]
    return [
        Claim(
            "1",
            "Fine-tuned distillation beats the initial retriever on HR@5",
            "per test question: HR@5(adist-finetuned) - HR@5(initial); interval above 0",
            (
                Comparison(
                    "HR@5 adist-finetuned - initial",
                    _cell(ADIST_FT, "finetuned", hr),
                    _cell(INITIAL, "finetuned", hr),
                ),
            ),
        ),
        Claim(
            "2",
            "Fine-tuned beats off-the-shelf distillation on HR@5 and EM (one reader)",
            "per test question, both answered by the fine-tuned reader: HR@5 and EM of "
            "adist-finetuned minus adist-offtheshelf; both intervals above 0",
            (
                ft_vs_ots_hr,
                Comparison(
                    "EM adist-finetuned - adist-offtheshelf", ft_em, _cell(ADIST_OFF, "finetuned", "em")
                ),
            ),
            reader="fine-tuned reader for both retrievers",
        ),
        Claim(
            "2b",
            "Fine-tuned beats off-the-shelf distillation on EM, each with its own reader "
            "(the paper's pairing)",
            "per test question: EM(adist-finetuned + fine-tuned reader) - EM(adist-offtheshelf + "
            "off-the-shelf reader); interval above 0 (measures reader and retriever together)",
            (
                Comparison(
                    "EM adist-finetuned+finetuned - adist-offtheshelf+offtheshelf",
                    ft_em,
                    _cell(ADIST_OFF, "offtheshelf", "em"),
                ),
            ),
            reader="each retriever with its teacher",
        ),
        Claim(
            "3",
            "The fine-tuned reader's PAT_TN is higher",
            f"per dumped example: PAT_TN(finetuned) - PAT_TN(offtheshelf) for N in {top_n}; "
            "every interval above 0",
            tuple(pat),
        ),
        Claim(
            "4",
            "The fine-tuned reader's MQ is higher, and only it passes the threshold",
            f"per dumped example: MQ(finetuned) - MQ(offtheshelf) interval above 0, the interval of "
            f"mean MQ(finetuned) above the threshold {mq_threshold:g}, and mean MQ(offtheshelf) "
            "at or below it",
            (mq,),
            kind="threshold",
            extra={"threshold": mq_threshold},
        ),
        Claim(
            "5",
            "The indicators rank the teachers as their retriever gains do",
            f"fine-tuned minus off-the-shelf teacher: HR@5 of their ADist retrievers (per test question, "
            f"fine-tuned reader), PAT_T{n_mid} and MQ (per dumped example); all intervals on the side "
            "of the HR@5 difference, which must be significant (else not testable)",
            (ft_vs_ots_hr, pat[len(top_n) // 2], mq),
            kind="agree",
        ),
        Claim(
            "6",
            "Off-the-shelf distillation leaves the retriever no better than the initial one",
            "per test question: HR@5(adist-offtheshelf at its last step, the fixed-step retriever) - "
            "HR@5(initial); interval includes 0 or lies below it (the report says when it lies below)",
            (
                Comparison(
                    "HR@5 adist-offtheshelf (last step) - initial",
                    _fixed(ADIST_OFF, hr),
                    _cell(INITIAL, "finetuned", hr),
                ),
            ),
            kind="not_above",
        ),
        Claim(
            "7",
            "In the fine-tuned reader, attention rises towards the answer",
            "per dumped example: (share of attention per token near an answer token minus far from it), "
            "finetuned - offtheshelf; interval above 0",
            (
                Comparison(
                    "near-far finetuned - offtheshelf",
                    _reader("finetuned", "near_far"),
                    _reader("offtheshelf", "near_far"),
                ),
            ),
        ),
    ]


def _status(claim: Claim, ivs: list[Interval], extra: dict, unmeasured: list[bool]) -> str:
    """One seed's verdict from its comparisons' intervals (``unmeasured``: per comparison, whether
    a retriever of it kept step 0, so that its difference of 0 is not a measurement)."""
    if any(unmeasured):
        return NOT_MEASURED
    if claim.kind == "not_above":
        return HOLDS if all(iv.n and iv.side() <= 0 for iv in ivs) else FAILS
    if claim.kind == "agree":
        want = ivs[0].side()
        if not want:
            return NOT_TESTABLE
        if all(iv.side() == want for iv in ivs):
            return HOLDS
        return SAME if all(iv.sign() == want for iv in ivs) else FAILS
    side_ok = all(iv.side() == 1 for iv in ivs)
    sign_ok = all(iv.sign() == 1 for iv in ivs)
    if claim.kind == "threshold":
        thr = claim.extra["threshold"]
        ft, ots = extra["mq finetuned"], extra["mq offtheshelf"]
        below = ots.diff is not None and ots.diff <= thr
        side_ok = side_ok and below and ft.lo is not None and ft.lo > thr
        sign_ok = sign_ok and below and ft.diff is not None and ft.diff > thr
    return HOLDS if side_ok else SAME if sign_ok else FAILS


def verdict(statuses: list[str]) -> str:
    """A claim holds when it holds in every seed and fails when it fails in one; same direction
    when every seed is at least that; otherwise a seed was not measured (or not testable), and
    the claim is too."""
    if not statuses or any(s == FAILS for s in statuses):
        return FAILS
    if all(s == HOLDS for s in statuses):
        return HOLDS
    if all(s in (HOLDS, SAME) for s in statuses):
        return SAME
    return NOT_TESTABLE if NOT_TESTABLE in statuses else NOT_MEASURED


def check(
    claims: list[Claim],
    lookup: Lookup,
    seeds: list[int],
    boot: Bootstrap,
    kept_step0: KeptStep0 | None = None,
    clusters: Mapping[str, str] | None = None,
) -> list[dict]:
    """Every claim, per seed: each comparison's paired interval, the seed's status, the verdict.
    ``kept_step0`` says which sources' retrievers kept step 0 (their comparisons are not
    measured); ``clusters`` maps item ids to their article on real text (clustered intervals)."""
    opts = boot.options()
    kept = kept_step0 or (lambda _source, _seed: False)
    out = []
    for claim in claims:
        per_seed = []
        for s in seeds:
            ivs = [
                paired(lookup(c.a, s), lookup(c.b, s), **opts, clusters=clusters) for c in claim.comparisons
            ]
            unmeasured = [kept(c.a, s) or kept(c.b, s) for c in claim.comparisons]
            extra: dict[str, Interval] = {}
            if claim.kind == "threshold":
                for t in ("finetuned", "offtheshelf"):
                    values = lookup(_reader(t, "mq"), s)
                    groups = cluster_groups(values, clusters)
                    extra[f"mq {t}"] = bootstrap_mean(list(values.values()), **opts, clusters=groups)
            status = _status(claim, ivs, extra, unmeasured)
            note = BELOW if claim.kind == "not_above" and status == HOLDS and ivs[0].side() < 0 else ""
            per_seed.append(
                {
                    "seed": s,
                    "comparisons": [
                        {"name": c.name, **iv.as_dict(), **({"not_measured": NOT_MEASURED} if u else {})}
                        for c, iv, u in zip(claim.comparisons, ivs, unmeasured, strict=True)
                    ]
                    + [{"name": f"mean {k}", **iv.as_dict()} for k, iv in extra.items()],
                    "status": status,
                    **({"note": note} if note else {}),
                }
            )
        v = verdict([p["status"] for p in per_seed])
        out.append(
            {
                "claim": f"{claim.number}. {claim.text}",
                "rule": claim.rule,
                "reader": claim.reader,
                "verdict": v,
                "holds": v == HOLDS,
                "seeds_held": f"{sum(p['status'] == HOLDS for p in per_seed)}/{len(per_seed)}",
                "measured": per_seed,
            }
        )
    return out


def interval_text(x: dict) -> str:
    """A stored interval (``Interval.as_dict``) as text: mean [interval] (n; won, lost, p)."""
    keys = ("diff", "lo", "hi", "n", "method", "wins", "losses", "p")
    return Interval(**{k: x[k] for k in keys if k in x}).text()


def comparison_text(x: dict) -> str:
    """One stored comparison as text: its name, then not measured or its interval."""
    if x.get("not_measured"):
        return f"{x['name']} {x['not_measured']}"
    return f"{x['name']} {interval_text(x)}"


def seed_texts(claim: dict) -> list[str]:
    """Per seed: every comparison as mean [interval] (n), then the seed's status."""
    out = []
    for m in claim["measured"]:
        comps = "; ".join(comparison_text(x) for x in m["comparisons"])
        note = f"; {m['note']}" if m.get("note") else ""
        out.append(f"seed {m['seed']}: {comps} ({m['status']}{note})")
    return out


def claims_table(items: list[dict]) -> str:
    """Markdown: each claim's rule, every comparison per seed as mean [interval] (n), verdict."""
    lines = [
        "| claim | rule | measured per seed: mean difference [95% interval] (n) | held in seeds | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in items:
        parts = seed_texts(c)
        rule = c["rule"] + (f" (EM: {c['reader']})" if c.get("reader") else "")
        lines.append(
            f"| {c['claim']} | {rule} | {'<br>'.join(parts)} | {c['seeds_held']} | **{c['verdict']}** |"
        )
    return "\n".join(lines) + "\n"
