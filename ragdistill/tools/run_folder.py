"""The run folder the analysis tools read, and how a tool stops when it lacks something.

A run folder is the folder Snakemake ran in (its ``--directory``): ``results/<run>/`` with one
``s<seed>/`` replicate per seed (docs/design.md, "Files"), ``resources/models/`` and ``logs/``.
Every analysis tool takes it as its first argument, with ``--run`` (needed only when the folder
holds several runs) and ``--seed`` (default 0). A tool that needs a file the run did not make
stops with one line naming the file and what makes it, and exits 1, instead of a traceback.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ragdistill.core import grid

CONFIG = "report/config.yaml"  # the resolved config make_report writes beside the report


def stop(prog: str, message: str) -> SystemExit:
    """The exception a tool raises to stop with one line (exit status 1)."""
    return SystemExit(f"{prog}: {message}")


def parser(prog: str, doc: str, several: bool = False) -> argparse.ArgumentParser:
    """A tool's argument parser (its docstring's first line as the description), holding the run
    folder (``several``: one or more, each read alike), ``--run`` and ``--seed``."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    what = "the folder Snakemake ran in (it holds results/<run>/)"
    if several:
        ap.add_argument("run_dir", nargs="+", type=Path, help=f"{what}; more than one: side by side")
    else:
        ap.add_argument("run_dir", type=Path, help=what)
    ap.add_argument("--run", help="the run under results/ (default: the only one there)")
    ap.add_argument("--seed", type=int, default=0, help="the replicate, results/<run>/s<seed>/ (default 0)")
    return ap


@dataclass(frozen=True)
class RunFolder:
    """One replicate of one run in a run folder, with the paths the tools read."""

    prog: str
    root: Path
    run: str
    seed: int

    @classmethod
    def open(cls, prog: str, root: Path, run: str | None, seed: int) -> RunFolder:
        results = root / "results"
        if not results.is_dir():
            raise stop(prog, f"{root} is not a run folder: it has no results/")
        runs = sorted(p.parent.name for p in results.glob("*/s[0-9]*") if re.fullmatch(r"s\d+", p.name))
        runs = list(dict.fromkeys(runs))
        if run is None:
            if len(runs) != 1:
                found = ", ".join(runs) or "none"
                raise stop(prog, f"{results} holds {len(runs)} runs ({found}): name one with --run")
            run = runs[0]
        seeds = sorted(int(p.name[1:]) for p in (results / run).glob("s[0-9]*") if p.name[1:].isdigit())
        if seed not in seeds:
            found = ", ".join(map(str, seeds)) or "none"
            raise stop(prog, f"{results / run} has no replicate s{seed} (seeds there: {found})")
        return cls(prog, root, run, seed)

    @classmethod
    def from_args(cls, prog: str, args: argparse.Namespace, root: Path | None = None) -> RunFolder:
        return cls.open(prog, args.run_dir if root is None else root, args.run, args.seed)

    @property
    def results(self) -> Path:
        """``results/<run>/``: what the run's seeds share (report, curve, sweep)."""
        return self.root / "results" / self.run

    @property
    def replicate(self) -> Path:
        """``results/<run>/s<seed>/``: one seed's data, models and measurements."""
        return self.root / "results" / grid.replicate(self.run, self.seed)

    def need(self, path: Path, made_by: str) -> Path:
        """``path`` if it exists; else stop, saying what makes it."""
        if not path.exists():
            raise stop(self.prog, f"{path} is missing ({made_by} makes it)")
        return path

    def config(self) -> dict:
        """The run's resolved config (every ``--configfile`` merged), as its report saved it."""
        path = self.need(self.results / CONFIG, "make_report, the target `all`,")
        return yaml.safe_load(path.read_text(encoding="utf-8"))

    def distilled(self) -> list[str]:
        """The distillations of this replicate (``distill/<name>/``), by name."""
        return sorted(p.parent.name for p in self.replicate.glob("distill/*/curve.tsv"))

    def distilled_dir(self, retriever: str) -> Path:
        """Where a distilled retriever's encoders are: its distillation's folder, or for a
        fixed-step retriever (``<name>-last``) that folder's ``last/``."""
        base = grid.fixed_of(retriever)
        folder = self.replicate / "distill" / base
        return folder if base == retriever else folder / "last"

    def reader_model(self, reader: str, config: dict) -> Path:
        """A reader's model folder: the fetched model off the shelf, else what the run trained."""
        if reader == "offtheshelf":
            name = config["datasets"][self.run].get("reader") or config["reader"]["model"]
            return self.need(self.root / "resources" / "models" / name, "fetch_model")
        return self.need(self.replicate / "reader" / reader / "model", f"the reader {reader}'s rule")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, as the findings pages quote them."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
