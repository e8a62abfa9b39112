"""The cost of a preset before it runs: per stage, the work, device- and CPU-hours, disk, memory.

    python -m ragdistill.tools.plan --configfile config/paper.yaml [--rates h100] [--passages N]

Why: the paper preset plans thousands of jobs over a 21M-passage corpus; a user must know the
GPU-hours, disk and memory to ask a cluster for before the first job starts. The plan reads the
jobs from Snakemake's own dry run (so it counts exactly the jobs the DAG holds, with their
wildcards), sizes each job from the resolved config (passages, questions after their caps,
steps, candidates) and divides by throughputs: a named set measured by ``python -m bench``
(``RATES``, each value's origin beside it) or the user's own (``--rate key=value``).

Sizes the config cannot give are read from a run folder that has fetched the data
(``--run-dir``: each replicate's ``corpus.tsv`` and split files), from the DPR corpus's known size
for ``psgs_w100``, or from ``--passages``; the plan says which it used. It is an estimate:
stages it calls negligible (indicators, evaluation, report, figures) are listed with their job
counts and no hours.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GB = 1e9

# Throughputs on one device (examples, passages or FLOP per second), with where each came from.
# A missing rate leaves that stage's hours unknown rather than guessed.
RATES: dict[str, dict[str, tuple[float, str]]] = {
    # bench/RESULTS.md, 2026-11-23 (GPU): one H100, bf16, random weights of each architecture
    "h100": {
        "encode_passages": (6736.0, "Contriever-size encoder, encode_corpus end to end, batch 64"),
        "dump_examples": (43.5, "Falcon-rw-1b attention dump, prompts of ~372 tokens, 24 blocks"),
        "train_examples": (184.0, "SmolLM2-135M training, top 8 blocks (Falcon not measured)"),
        "answer_examples": (34.3, "SmolLM2-135M greedy answering, 12 tokens (Falcon not measured)"),
        "score_examples": (43.5, "as the dump: one forward pass per prompt (not measured apart)"),
        "search_flops": (1.94e11, "FAISS flat, 16 host threads: 252 queries/s over 1M x 384"),
        "tokenize_passages": (25000.0, "the Rust tokenizer alone on the H100 host"),
    },
    # bench/RESULTS.md, 2026-12-03 and 2026-12-02: this project's 2-core AMD EPYC, float32
    "cpu2": {
        "encode_passages": (29.5, "MiniLM, batch 64"),
        "dump_examples": (0.87, "SmolLM2-135M attention dump: 323 tokens/s over ~372-token prompts"),
        "train_examples": (0.66, "SmolLM2-135M training, top 8 blocks: 245 tokens/s"),
        "answer_examples": (0.64, "SmolLM2-135M greedy answering: 238 tokens/s"),
        "score_examples": (0.92, "SmolLM2-135M answer scoring: 344 tokens/s"),
        "search_flops": (1.3e11, "the float32 matrix product's rate on this host"),
        "tokenize_passages": (1971.0, "tokenize_corpus, one process"),
    },
}
# the DPR corpus (psgs_w100.tsv): 21,015,324 passages of 100 words
KNOWN_PASSAGES = {"psgs_w100": 21_015_324}
# hidden size of the retriever models the presets name (the vectors' width), where no fetched
# model folder says it (``model_dim``)
KNOWN_DIM = {"contriever": 768, "minilm": 384}
NEGLIGIBLE = {
    "fetch_data",
    "fetch_model",
    "random_reader",
    "noisy_reader",
    "compute_indicators",
    "evaluate_setting",
    "learning_curve",
    "teacher_sweep",
    "plot_figures",
    "make_report",
    "all",
}


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]


@dataclass
class Row:
    """One stage's total: its jobs, its work in ``unit``, device or CPU seconds, bytes written
    (and kept), and the largest memory one of its jobs holds."""

    rule: str
    jobs: int = 0
    items: float = 0.0
    unit: str = ""
    seconds: float | None = 0.0
    device: bool = False
    written: float = 0.0
    kept: float = 0.0
    peak_mem: float = 0.0


def dry_run_jobs(configfiles: list[str]) -> list[Job]:
    """Every job of ``all`` as Snakemake plans it from an empty folder (rule and wildcards)."""
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, "-m", "snakemake", "all", "-n", "-s", str(ROOT / "Snakefile")]
        # the Snakefile's own configfile is named relative to the working folder: give it here
        # and the user's, named relative to where they ran the plan (the dry run runs in ``work``)
        mine = [str(Path(c).resolve()) for c in configfiles]
        cmd += ["--directory", work, "--configfile", str(ROOT / "config.yaml"), *mine]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=work)
    if res.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{res.stderr[-3000:]}")
    return parse_jobs(res.stdout + res.stderr)


def parse_jobs(log: str) -> list[Job]:
    """Jobs from a dry run's log: each ``rule X:`` block, with its ``wildcards:`` line if any."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not m:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        pairs = [p.split("=", 1) for p in wc.group(1).split(", ")] if wc else []
        jobs.append(Job(m.group(1), {k: v for k, v in pairs}))
    return jobs


def resolved_config(configfiles: list[str]) -> dict:
    """config.yaml with each file merged over it, as Snakemake merges ``--configfile``."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for f in configfiles:
        if Path(f).resolve() != (ROOT / "config.yaml").resolve():
            update_config(cfg, yaml.safe_load(Path(f).read_text()) or {})
    return cfg


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


@dataclass
class Sizes:
    """Per run (the config's dataset name): passages, questions per split, and where they came from."""

    passages: dict[str, int]
    questions: dict[str, dict[str, int]]
    origin: dict[str, str]


def sizes(cfg: dict, runs: list[str], run_dir: str | None, passages: int | None) -> Sizes:
    """Corpus and split sizes of each run: a fetched run folder's files (seed 0's replicate),
    else the corpus's known size and the config's caps; ``--passages`` overrides the corpus."""
    out = Sizes({}, {}, {})
    for run in runs:
        ds = cfg["datasets"][run]
        data = Path(run_dir or "") / "resources" / "data" / run / "s0"
        caps = ds.get("max_questions") or {}
        if run_dir and (data / "corpus.tsv").is_file():
            out.passages[run] = _lines(data / "corpus.tsv") - 1  # its header line
            out.questions[run] = {s: _lines(data / f"{s}.jsonl") for s in ("train", "dev", "test")}
            out.origin[run] = f"the fetched files in {data}"
        elif str(ds.get("source", "")).startswith("synthetic"):
            from ragdistill.data.world import WorldConfig, generate

            world = generate(WorldConfig(**ds.get("world", {})))
            out.passages[run] = len(world["passages"])
            out.questions[run] = {s: len(world[s]) for s in ("train", "dev", "test")}
            out.origin[run] = "the generated world (seed 0's)"
        else:
            corpus = str(ds.get("corpus", ""))
            known = next((n for key, n in KNOWN_PASSAGES.items() if key in corpus), None)
            out.passages[run] = int(passages or known or 0)
            out.questions[run] = {s: _split_size(ds, s, caps.get(s)) for s in ("train", "dev", "test")}
            corpus_from = "--passages" if passages else ("the DPR corpus's size" if known else "unknown")
            out.origin[run] = (
                f"corpus: {corpus_from}; questions: the config's sizes and caps, hub splits' known sizes"
            )
        if passages:
            out.passages[run] = int(passages)
    return out


def _split_size(ds: dict, split: str, cap: int | None) -> int:
    """A split's questions known at planning: a SQuAD split's size, else a hub split's published
    size or slice bounds (``config_check.hub_split_rows``), under the dataset's cap; 0 unknown."""
    from ragdistill.config_check import hub_split_rows
    from ragdistill.data.hf_data import HUB_SPLITS

    rows = (ds.get("squad") or {}).get(split)
    source = (ds.get("questions") or {}).get(split) if isinstance(ds.get("questions"), dict) else None
    if rows is None and source:
        rows, _ = hub_split_rows(str(source), HUB_SPLITS.get(split, split))
    if rows is None:
        return int(cap or 0)
    return min(int(rows), int(cap)) if cap else int(rows)


def model_dim(name: str, run_dir: str | None) -> int | None:
    """The retriever's vector width: its fetched folder's ``hidden_size`` (``--run-dir``), else
    the known width of the presets' models; None when neither says."""
    cfg = Path(run_dir or "") / "resources" / "models" / name / "config.json"
    if run_dir and cfg.is_file():
        return int(json.loads(cfg.read_text())["hidden_size"])
    return KNOWN_DIM.get(name)


def _run_of(replicate: str) -> str:
    return replicate.split("/")[0]


def _work(items: float = 0.0, unit: str = "", rate: str | None = None, device: bool = False, **size) -> dict:
    """A job's work: ``items`` in ``unit`` priced by ``rate``; ``written``, ``kept`` and ``mem``
    in bytes (0 unless given)."""
    return {"items": items, "unit": unit, "rate": rate, "device": device} | {
        k: float(size.get(k, 0.0)) for k in ("written", "kept", "mem")
    }


def _capped(cap, n: int) -> int:
    """``n`` questions under a cap (None: all)."""
    return min(int(cap), n) if cap else n


def job_work(job: Job, cfg: dict, sz: Sizes, dim: int) -> dict:
    """One job's work (``_work``): what it processes, the rate that prices it, whether it runs on
    the device, the bytes it writes and keeps, the memory it holds."""
    rule, wc = job.rule, job.wildcards
    run = _run_of(wc.get("run", ""))
    p = sz.passages.get(run, 0)
    q = sz.questions.get(run, {})
    att, dis, ft = cfg["attention"], cfg["distill"], cfg["reader_finetune"]
    train_q = _capped(att.get("max_questions"), q.get("train", 0))
    candidates = int(dis["candidates"])
    if rule == "tokenize_corpus":
        return _work(p, "passages", "tokenize_passages")
    if rule == "encode_corpus":
        n = p / int(cfg["encode"]["shards"])
        vec = n * dim * 2  # float16 vectors
        kept = vec if cfg["encode"].get("keep_shards") else 0.0
        return _work(n, "passages", "encode_passages", True, written=vec, kept=kept, mem=4 * GB)
    if rule == "build_index":
        idx = p * dim * 4.0  # a flat index: float32 vectors
        return _work(p, "vectors", written=idx, kept=idx, mem=6 * p * dim * 2 + 4 * GB)
    if rule in ("retrieve_initial", "retrieve_distilled"):
        nq = sum(q.values()) if rule == "retrieve_initial" else q.get("test", 0)
        return _work(nq * p * dim * 2.0, "FLOP", "search_flops", mem=p * dim * 4 + 8 * GB)
    if rule == "finetune_reader":
        reader = wc.get("reader", "")
        steps = int(reader[2:].split("-")[0]) if reader.startswith("ft") else int(ft["steps"])
        n = steps * int(ft["batch_size"]) * int(ft.get("grad_accum") or 1)
        return _work(n, "examples", "train_examples", True)
    if rule == "dump_attention":
        test = _capped(cfg["curve"].get("transfer_questions"), q.get("test", 0))
        nq = test if wc.get("split") == "test" else train_q
        # each question's candidates are read k at a time: candidates / k prompts
        return _work(nq * max(1, candidates // int(cfg["k"])), "prompts", "dump_examples", True)
    if rule == "score_perplexity":
        return _work(train_q * candidates, "prompts", "score_examples", True)
    if rule in ("distill_retriever", "distill_subset"):
        n = int(dis["steps"]) * int(dis["batch_size"]) * (1 + candidates)
        return _work(n, "encodings", "encode_passages", True)
    if rule == "answer_questions":
        nq = _capped(cfg["evaluate"].get("max_questions"), q.get("test", 0))
        return _work(nq, "answers", "answer_examples", True)
    return _work()


def plan(jobs: list[Job], cfg: dict, sz: Sizes, dim: int, rates: dict[str, float]) -> list[Row]:
    """Per rule: jobs, work, seconds (None where no rate is known), bytes, peak memory."""
    rows: dict[str, Row] = {}
    for job in jobs:
        row = rows.setdefault(job.rule, Row(job.rule))
        row.jobs += 1
        if job.rule in NEGLIGIBLE:
            continue
        w = job_work(job, cfg, sz, dim)
        if job.rule == "answer_questions":
            # one job answers every retriever the grid pairs with its reader
            w["items"] *= max(1, _retrievers_of(job, jobs))
        row.items += w["items"]
        row.unit = w["unit"]
        row.device = w["device"]
        row.written += w["written"]
        row.kept += w["kept"]
        row.peak_mem = max(row.peak_mem, w["mem"])
        if w["rate"] is None:
            continue
        rate = rates.get(w["rate"])
        row.seconds = None if rate is None or row.seconds is None else row.seconds + w["items"] / rate
    return list(rows.values())


def _retrievers_of(job: Job, jobs: list[Job]) -> int:
    """How many evaluate_setting jobs pair a retriever with this answering job's reader."""
    run, reader = job.wildcards.get("run"), job.wildcards.get("reader")
    return sum(
        1
        for j in jobs
        if j.rule == "evaluate_setting"
        and j.wildcards.get("run") == run
        and j.wildcards.get("reader") == reader
    )


def _hours(s: float | None) -> str:
    return "-" if s is None else f"{s / 3600:,.2f}"


def table(rows: list[Row]) -> str:
    """The plan as Markdown: one row per stage, then the totals for 1 and 8 devices."""
    out = [
        "| stage | jobs | work | device-hours | CPU-hours | written GB | kept GB | peak memory GB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    dev = cpu = 0.0
    for r in sorted(rows, key=lambda r: -(r.seconds or 0)):
        work = f"{r.items:,.3g} {r.unit}" if r.unit else "negligible"
        d = _hours(r.seconds) if r.device else ""
        c = _hours(r.seconds) if not r.device and r.unit else ""
        if r.seconds:
            dev += r.seconds if r.device else 0.0
            cpu += 0.0 if r.device else r.seconds
        out.append(
            f"| {r.rule} | {r.jobs} | {work} | {d} | {c} | {r.written / GB:,.1f} | {r.kept / GB:,.1f} | "
            f"{r.peak_mem / GB:,.1f} |"
        )
    kept = sum(r.kept for r in rows)
    out += [
        "",
        f"Total: {dev / 3600:,.1f} device-hours (about {dev / 3600:,.1f} h on 1 device, "
        f"{dev / 3600 / 8:,.1f} h on 8 when the jobs spread evenly), {cpu / 3600:,.1f} CPU-hours; "
        f"{kept / GB:,.1f} GB kept on disk.",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ragdistill.tools.plan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=[], help="presets merged over config.yaml, in order")
    ap.add_argument("--rates", default="h100", help=f"a named set of throughputs ({', '.join(RATES)})")
    ap.add_argument("--rate", action="append", default=[], help="key=value: one throughput of your own")
    ap.add_argument("--passages", type=int, help="the corpus's passages, where the config cannot say")
    ap.add_argument("--dim", type=int, help="the retriever's vector width (default: known per model)")
    ap.add_argument("--run-dir", help="a run folder that has fetched the data: its sizes are read")
    args = ap.parse_args(argv)
    if args.rates not in RATES:
        raise SystemExit(f"--rates: {args.rates!r} is not one of {sorted(RATES)}")
    rates = {k: v for k, (v, _) in RATES[args.rates].items()}
    for kv in args.rate:
        key, _, value = kv.partition("=")
        if key not in rates:
            raise SystemExit(f"--rate: {key!r} is not a throughput ({', '.join(sorted(rates))})")
        rates[key] = float(value)
    cfg = resolved_config(args.configfile)
    runs = list(cfg["runs"])
    sz = sizes(cfg, runs, args.run_dir, args.passages)
    retriever = cfg["retriever"]["model"]
    dim = args.dim or model_dim(retriever, args.run_dir)
    if dim is None:
        raise SystemExit(f"--dim: the width of retriever {retriever!r} is not known here; give it")
    jobs = dry_run_jobs(args.configfile)
    print(f"# Cost plan: {' + '.join(['config.yaml', *args.configfile])}\n")
    for run in runs:
        print(
            f"- {run}: {sz.passages[run]:,} passages, questions {sz.questions[run]} ({sz.origin[run]}); "
            f"{len(cfg.get('seeds') or [0])} seed(s)"
        )
    print(f"- rates ({args.rates}" + (", with --rate" if args.rate else "") + "):")
    for key, (value, origin) in RATES[args.rates].items():
        print(f"  - {key}: {rates[key]:,.4g} ({origin if rates[key] == value else 'given'})")
    print()
    print(table(plan(jobs, cfg, sz, dim, rates)))


if __name__ == "__main__":
    main()
