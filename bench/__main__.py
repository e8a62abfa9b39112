"""``python -m bench``: the benchmark suite. Prints one table and writes it as JSON (``--json``,
default ``bench-results.json``): the machine, the versions of Python and the libraries that set
the pace, the date, and every row (each measurement, its ratio where it is one), so that the
tables in ``bench/RESULTS.md`` can be checked against a file rather than a terminal.

Every ratio compares two measurements taken side by side in this one run on this machine, so
that it does not depend on what else the machine did yesterday. Sections: encoding, attention,
reader, precision (each reader pass and encoding in float32 and bfloat16 against the matmul
roofline of each), faiss (model and index speed, seconds to minutes on a CPU), corpus (memory of one
encoding shard job on a generated 1M-passage corpus), scaling (encode, index and retrieve at 10k,
100k and 1M passages, their growth and its extrapolation to 21M: bench/scaling.py); ``--dag smoke`` or
``--dag default`` also runs that preset from scratch in a fresh folder and times the
plotting-parameter rerun; ``--rules DIR`` summarises an existing run's ``benchmarks/`` folder
(given alone, it runs no section).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

SECTIONS = ("data", "encoding", "corpus", "attention", "reader", "precision", "faiss", "scaling")


def _machine(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA), torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def _fmt(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"


def table(rows: list[dict]) -> str:
    lines = ["| section | what | value | unit | peak MB | extra |", "|---|---|---|---|---|---|"]
    for r in rows:
        extra = ", ".join(
            f"{k} {_fmt(v) if isinstance(v, float) else v}"
            for k, v in r.items()
            if k not in ("section", "what", "rate", "unit", "peak_mb")
        )
        cells = [r["section"], r["what"], _fmt(r["rate"]), r["unit"], _fmt(r["peak_mb"]), extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        default=None,
        help=f"comma-separated sections of {SECTIONS} (default: all of them; none with --rules alone)",
    )
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a minute or two on a laptop CPU)")
    ap.add_argument(
        "--faiss-n",
        type=int,
        default=None,
        help="vectors in the FAISS benchmark (default 1M; 100k with --quick)",
    )
    ap.add_argument(
        "--corpus-n",
        type=int,
        default=None,
        help="passages in the corpus-scale memory check's generated corpus (default 1M; 100k with --quick)",
    )
    ap.add_argument(
        "--scaling-n",
        default=None,
        help="comma-separated corpus sizes of the scaling section (default 10000,100000,1000000; "
        "2000,20000 with --quick)",
    )
    ap.add_argument(
        "--dag",
        choices=["smoke", "default"],
        action="append",
        default=[],
        help="also run this preset from scratch",
    )
    ap.add_argument("--rules", type=Path, help="summarise the benchmarks/ folder of an existing run")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the machine, versions and rows as JSON (default: %(default)s)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from bench import dag, faiss_index, precision, scaling, stages
    from bench.inputs import workdir
    from ragdistill import models

    if args.threads:
        torch.set_num_threads(args.threads)
    device = models.pick_device()
    work = workdir()
    gpu = device.type == "cuda"
    if args.only is None:  # --rules alone summarises a finished run; it does not benchmark this machine
        only = set() if args.rules and not args.dag else set(SECTIONS)
    else:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        ap.error(f"--only: unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    rows: list[dict] = []
    if "data" in only:
        rows += stages.bench_data_path(work, 20_000 if args.quick else 100_000, (64, 512))
    if "encoding" in only:
        # on a GPU also the paper's retriever size, where the model rather than the host sets the pace
        for name in ("minilm", "contriever") if gpu else ("minilm",):
            passages = 50_000 if gpu else (1_000 if args.quick else 4_000)
            rows += stages.bench_encoding(work, device, passages, (64, 512) if gpu else (64,), name)
    if "corpus" in only:
        rows += stages.bench_corpus_scale(
            work, device, args.corpus_n or (100_000 if args.quick else 1_000_000)
        )
    if "scaling" in only:
        sizes = args.scaling_n or ("2000,20000" if args.quick else "10000,100000,1000000")
        rows += scaling.bench_scaling(work, device, [int(s) for s in sizes.split(",")])
    if "attention" in only:
        for name, layers in (("smollm2", None), ("gpt2", None), ("falcon-rw-1b", None if gpu else 4)):
            rows += stages.bench_attention(
                work, device, name, 16 if gpu else 4, 4 if gpu else (1 if args.quick else 3), layers
            )
        rows += stages.bench_fid_attention(
            work, device, "flan-t5-base", 16 if gpu else 4, 4 if gpu else (1 if args.quick else 3)
        )
    if "reader" in only:
        rows += stages.bench_reader(work, device, 16 if gpu else 4, 4 if gpu else (1 if args.quick else 3))
    if "precision" in only:
        batches = 4 if gpu else (1 if args.quick else 2)
        rows += precision.bench_precision(work, device, 16 if gpu else 4, batches)
    if "faiss" in only:
        rows += faiss_index.bench_faiss(args.faiss_n or (100_000 if args.quick else 1_000_000))
    for preset in args.dag:
        rows += dag.run_dag(
            None if preset == "default" else preset, work / f"dag-{preset}", os.cpu_count() or 1
        )
    if args.rules:
        rows += dag.rule_costs(args.rules, str(args.rules))
    machine = _machine(device)
    print(f"machine: {machine}")
    print(table(rows))
    from ragdistill.core.files import write_json

    write_json(
        args.json,
        json.loads(
            json.dumps(
                {
                    "machine": machine,
                    "versions": versions(),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "rows": rows,
                },
                default=str,
            )
        ),
    )
    print(f"written: {args.json}")
    return 0


def versions() -> dict[str, str]:
    """Versions of what sets the pace: Python, torch, transformers, faiss, numpy."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "faiss-cpu", "numpy", "tokenizers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


if __name__ == "__main__":
    sys.exit(main())
