"""The study's design as names: which readers, retrievers and grid cells a config asks for.

The workflow's rule files only call this (``workflow/rules/common.smk`` builds one :class:`Grid`
from the config); here the design is plain Python with unit tests (``tests/test_grid.py``).

Names, and their grammar (the wildcard patterns below):

- a **teacher**: ``offtheshelf``, ``finetuned`` (``reader_finetune.steps``), ``ft<N>`` (a reader
  fine-tuned for N steps, for the teacher-quality sweep ``grid.teachers``), the ladder's rungs
  ``nz<M>`` (the fine-tuned reader with noise of M per mille of each tensor's norm,
  ``ladder.noise``) and ``blind`` (a reader fine-tuned without its answer-bearing passages,
  ``ladder.blind``), and the controls ``random`` (a randomly initialised reader) and ``uniform``
  (equal targets, no reader);
- a **reader** (a teacher at a seed): ``offtheshelf`` and ``random`` (their weights do not
  depend on the seed), ``finetuned-s<seed>``, ``ft<N>-s<seed>``;
- a **replicate**: each seed is one replication of the whole study, with its own data (the
  generated world, or the split of a real-text file), its own index and initial retrieval, and
  every reader dumped on its own questions. Its files live under ``results/<run>/s<seed>/``
  (:func:`replicate`), so ``offtheshelf`` and ``initial`` name one reader and one retriever per
  seed without a suffix;
- a **distilled retriever**: ``<objective>-<teacher>-s<seed>``, or for the learning curve's
  subsets ``<objective>-<teacher>-n<questions>-s<seed>``; the initial retriever is ``initial``;
- a **fixed-step retriever**: ``<objective>-<teacher>-s<seed>-last``, the same distillation's
  last step whatever ``distill.select`` kept, so that a teacher whose targets harm the retriever
  shows it on test (``docs/method.md``, "Which step is kept"); with ``distill.select: last`` the
  distilled retriever is its own fixed-step retriever.

No import beyond the standard library and :mod:`ragdistill.core.names`, so that the Snakefile stays
quick to parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragdistill.core import names

TEACHER = r"offtheshelf|finetuned|ft\d+|nz\d+|blind|random|uniform"
READER = r"offtheshelf|random|finetuned-s\d+|ft\d+-s\d+|nz\d+-s\d+|blind-s\d+"
# the readers the fine-tuning stage trains (its rule's wildcard pattern): each has a training log
FINETUNED_READER = r"(finetuned|ft\d+|blind)-s\d+"
DISTILLED = rf"({'|'.join(names.OBJECTIVES)})-({TEACHER})(-n\d+)?-s\d+"
LAST = "-last"  # the fixed-step suffix
FIXED = rf"({'|'.join(names.OBJECTIVES)})-({TEACHER})-s\d+{LAST}"
CONTROLS = ("random", "uniform")
SEEDLESS = (names.OFF_THE_SHELF, "random")  # readers that are the same in every seed


def replicate(run: str, seed: int | str) -> str:
    """The folder name of one seed's replicate of a run (``world/s0``): its data under
    ``resources/data/<replicate>/``, its results under ``results/<replicate>/``."""
    return f"{run}/s{seed}"


def replicate_parts(name: str) -> tuple[str, int]:
    """A replicate's run and seed (``world/s2`` -> ``("world", 2)``)."""
    m = re.fullmatch(r"(.+)/s(\d+)", name)
    if not m:
        raise ValueError(f"{name!r} is not a replicate's name (<run>/s<seed>)")
    return m.group(1), int(m.group(2))


def reader_label(reader: str, seed: int | str, several_seeds: bool) -> str:
    """How a table or legend names a reader of a seed's replicate: its name, with the seed added
    to a name without one (``offtheshelf``, ``random``) where several seeds each have one."""
    if not several_seeds or reader.endswith(f"-s{seed}"):
        return reader
    return f"{reader} (seed {seed})"


def teacher_reader(teacher: str, seed: int | str) -> str:
    """The reader that is ``teacher`` at ``seed`` (the uniform control has none)."""
    return teacher if teacher in SEEDLESS else f"{teacher}-s{seed}"


def fixed_of(distilled: str) -> str:
    """The distillation a fixed-step retriever's name belongs to (``X-last`` -> ``X``), or the
    name itself."""
    return distilled.removesuffix(LAST)


def split_seed(name: str) -> tuple[str, str]:
    """A seeded name (``<stem>-s<seed>``: a fine-tuned reader, a distilled retriever) as its stem
    and its seed; a name without the suffix (``offtheshelf``, ``random``) as itself and ""."""
    m = re.fullmatch(r"(.+)-s(\d+)", name)
    return (m.group(1), m.group(2)) if m else (name, "")


def noise_name(scale: float) -> str:
    """A noise rung's teacher name: its scale in per mille (0.02 -> ``nz20``)."""
    milli = round(float(scale) * 1000)
    if milli < 1 or abs(milli / 1000 - float(scale)) > 1e-9:
        raise ValueError(f"ladder.noise: {scale!r} is not a whole number of thousandths (0.001 or more)")
    return f"nz{milli}"


def noise_scale(teacher: str) -> float:
    """A noise rung's scale from its name (``nz20`` -> 0.02)."""
    return int(teacher.removeprefix("nz")) / 1000


def reader_seed(reader: str) -> int:
    """The seed of a fine-tuned reader's name (``finetuned-s<s>``, ``ft<N>-s<s>``, a ladder rung's
    ``nz<M>-s<s>`` or ``blind-s<s>``)."""
    m = re.fullmatch(r"(finetuned|ft\d+|nz\d+|blind)-s(\d+)", reader)
    if not m:
        raise ValueError(f"{reader!r} is not a fine-tuned reader's name (finetuned-s<seed> or ft<N>-s<seed>)")
    return int(m.group(2))


@dataclass(frozen=True)
class Grid:
    """What one config's study consists of (the config keys are named beside each field)."""

    seeds: tuple[int, ...]  # seeds
    finetune_steps: int  # reader_finetune.steps: the fine-tuned teacher's
    extra: tuple[str, ...] = ()  # grid.extra: more <objective>-<teacher> settings
    teacher_steps: tuple[int, ...] = ()  # grid.teachers: the sweep's readers, by fine-tuning steps
    controls: bool = False  # grid.controls
    curve_sizes: tuple[int, ...] = ()  # curve.sizes
    curve_teachers: tuple[str, ...] = ()  # curve.teachers
    curve_seeds: str = "first"  # curve.seeds: first or all
    select: str = "significant"  # distill.select
    noise: tuple[float, ...] = ()  # ladder.noise
    blind: bool = False  # ladder.blind

    @classmethod
    def of(cls, config: dict) -> Grid:
        """The grid of a validated config (defaults filled in)."""
        sizes = tuple(int(n) for n in config["curve"]["sizes"])
        return cls(
            seeds=tuple(int(s) for s in config["seeds"]),
            finetune_steps=int(config["reader_finetune"]["steps"]),
            extra=tuple(config["grid"]["extra"]),
            teacher_steps=tuple(int(n) for n in config["grid"]["teachers"]),
            controls=bool(config["grid"]["controls"]),
            curve_sizes=sizes,
            curve_teachers=tuple(config["curve"]["teachers"]) if sizes else (),
            curve_seeds=str(config["curve"]["seeds"]),
            select=str(config.get("distill", {}).get("select", "significant")),
            noise=tuple(float(x) for x in config["ladder"]["noise"]) if "ladder" in config else (),
            blind=bool(config["ladder"]["blind"]) if "ladder" in config else False,
        )

    # -- teachers and readers ----------------------------------------------------------------

    def sweep_teacher(self, steps: int) -> str:
        """A sweep reader by fine-tuning steps: 0 is the off-the-shelf reader, the default's steps
        its fine-tuned reader, any other N a reader of its own (ft<N>)."""
        steps = int(steps)
        if steps == 0:
            return names.OFF_THE_SHELF
        return names.FINE_TUNED if steps == self.finetune_steps else f"ft{steps}"

    @property
    def ladder(self) -> list[str]:
        """The ladder's rungs beyond the sweep's readers: noise rungs by scale, then the blind one."""
        return [noise_name(x) for x in self.noise] + (["blind"] if self.blind else [])

    @property
    def sweep(self) -> list[str]:
        """The teacher-quality sweep's teachers: ``grid.teachers`` in its order, then the ladder."""
        own = [self.sweep_teacher(n) for n in self.teacher_steps]
        return own + [t for t in self.ladder if t not in own]

    def sweep_label(self, teacher: str) -> str:
        """How the sweep's table and figure name a teacher: fine-tuning steps, a noise scale, or
        blind."""
        if teacher == names.OFF_THE_SHELF:
            return "0 steps"
        if teacher == names.FINE_TUNED:
            return f"{self.finetune_steps} steps"
        if teacher.startswith("ft"):
            return f"{teacher[2:]} steps"
        if teacher.startswith("nz"):
            return f"noise {noise_scale(teacher):g}"
        return teacher

    @property
    def control_teachers(self) -> list[str]:
        return list(CONTROLS) if self.controls else []

    def finetune_steps_of(self, reader: str) -> int:
        """Fine-tuning steps of a fine-tuned reader's name (finetuned-s<s> or ft<N>-s<s>)."""
        reader_seed(reader)  # checks the grammar
        head = reader.split("-s")[0]
        return self.finetune_steps if head in (names.FINE_TUNED, "blind") else int(head[2:])

    def readers(self, seed: int) -> list[str]:
        """Every reader of one seed's replicate whose attention is dumped and whose indicators are
        computed (each seed dumps every reader on its own questions)."""
        main = [names.OFF_THE_SHELF, f"{names.FINE_TUNED}-s{seed}"]
        main += ["random"] if "random" in self.control_teachers else []
        sweep = [teacher_reader(t, seed) for t in self.sweep]
        return main + [r for r in dict.fromkeys(sweep) if r not in main]

    def seed_readers(self) -> list[tuple[int, str]]:
        """(seed, reader) for every seed's readers, in seed order."""
        return [(s, r) for s in self.seeds for r in self.readers(s)]

    # -- the evaluation grid -----------------------------------------------------------------

    def cells(self) -> list[dict]:
        """The evaluation grid: (retriever, reader) pairs, per seed. The initial retriever with
        both readers; each distilled retriever (the paper's three settings, then grid.extra's)
        with its teacher; and the off-the-shelf teacher's retrievers also with the fine-tuned
        reader, so that retrievers are compared under one reader."""
        cells = []
        kinds = list(names.PAPER_SETTINGS)
        kinds += [x for x in self.extra if x not in kinds]
        for s in self.seeds:
            cells.append(_cell(names.INITIAL, names.INITIAL, names.OFF_THE_SHELF, s))
            cells.append(_cell(names.INITIAL, names.INITIAL, f"{names.FINE_TUNED}-s{s}", s))
            for kind in kinds:
                teacher = kind.split("-")[1]
                cells.append(_cell(f"{kind}-s{s}", kind, teacher_reader(teacher, s), s))
                if teacher == names.OFF_THE_SHELF:
                    cells.append(_cell(f"{kind}-s{s}", kind, f"{names.FINE_TUNED}-s{s}", s))
        return cells

    def cell_retrievers(self, reader: str, seed: int) -> list[str]:
        """Retrievers the grid pairs with ``reader`` in one seed's replicate, in grid order
        (answered together)."""
        return list(
            dict.fromkeys(
                c["retriever"] for c in self.cells() if c["reader"] == reader and c["seed"] == int(seed)
            )
        )

    # -- distilled retrievers ----------------------------------------------------------------

    def sweep_retrievers(self) -> list[str]:
        """The teacher sweep's ADist retrievers, per seed and teacher (empty without grid.teachers)."""
        return [f"adist-{t}-s{s}" for s in self.seeds for t in self.sweep]

    def control_retrievers(self) -> list[str]:
        """The control teachers' ADist retrievers, per seed (empty without grid.controls)."""
        return [f"adist-{t}-s{s}" for s in self.seeds for t in self.control_teachers]

    @property
    def curve_seed_list(self) -> list[int]:
        return list(self.seeds[:1]) if self.curve_seeds == "first" else list(self.seeds)

    def curve_retrievers(self) -> list[str]:
        """The learning curve's subset retrievers: adist-<teacher>-n<size>-s<seed>."""
        return [
            f"adist-{t}-n{n}-s{s}"
            for s in self.curve_seed_list
            for t in self.curve_teachers
            for n in self.curve_sizes
        ]

    def curve_rows(self) -> list[dict]:
        """The learning curve's rows: per seed, teacher and size (null: all), its retriever."""
        return [
            {
                "seed": s,
                "teacher": t,
                "size": n,
                "retriever": f"adist-{t}-s{s}" if n is None else f"adist-{t}-n{n}-s{s}",
            }
            for s in self.curve_seed_list
            for t in self.curve_teachers
            for n in [*self.curve_sizes, None]
        ]

    def fixed(self, distilled: str) -> str:
        """The fixed-step (last-step) retriever of a distillation: its own name when
        ``distill.select`` is ``last``, else ``<name>-last``."""
        return distilled if self.select == "last" else f"{distilled}{LAST}"

    def teacher_retrievers(self) -> list[str]:
        """Every teacher's own distilled retriever (grid, controls, sweep; not the learning
        curve's subsets), sorted: those evaluated at the fixed step too."""
        subsets = set(self.curve_retrievers())
        return [r for r in self.distilled_retrievers() if r not in subsets]

    def distilled_retrievers(self) -> list[str]:
        """Every distilled retriever the study trains, sorted."""
        cells = {c["retriever"] for c in self.cells() if c["retriever"] != names.INITIAL}
        extra = set(self.sweep_retrievers()) | set(self.control_retrievers()) | set(self.curve_retrievers())
        return sorted(cells | extra)

    def finetuned_readers(self) -> list[tuple[int, str]]:
        """(seed, reader) for every reader the fine-tuning stage trains (``FINETUNED_READER``):
        the fine-tuned reader, the sweep's ft<N> readers (N > 0) and the blind rung."""
        return [(s, r) for s, r in self.seed_readers() if re.fullmatch(FINETUNED_READER, r)]

    @property
    def sweep_figure(self) -> bool:
        """Whether the sweep's figure is drawn: only with two teachers or more per seed (with
        the controls alone each panel would hold one point and no correlation; the report then
        says why the figure is missing and the table gives the controls' gains)."""
        return len(self.sweep) >= 2

    @property
    def sweeps(self) -> bool:
        """Whether the sweep stage runs (grid.teachers or grid.controls)."""
        return bool(self.sweep or self.control_teachers)


def _cell(retriever: str, kind: str, reader: str, seed: int) -> dict:
    return {
        "retriever": retriever,
        "reader": reader,
        "retriever_kind": kind,
        "reader_kind": names.OFF_THE_SHELF if reader == names.OFF_THE_SHELF else names.FINE_TUNED,
        "seed": seed,
    }
