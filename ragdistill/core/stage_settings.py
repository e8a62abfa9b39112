"""What each stage reads: one frozen dataclass per rule (or section), the one typed source of
every setting between the schema and the code.

Each field names its config key (the class's ``SECTION`` plus the field's name, or its own
:func:`~ragdistill.core.settings.config_key`; ``config_key(None)`` marks a value the workflow
gives the job, such as a wildcard). A rule's params are built from its class
(``params_of`` in ``workflow/rules/common.smk``), so a new setting is added in the schema and
here, and nowhere else; a field's default, where it has one, is the schema's
(:func:`~ragdistill.core.settings.schema_default`), never a second copy of it. The classes live
in ``core`` (no torch) because the Snakefile reads them while it plans; the stages import them
from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ragdistill.core.names import PERPLEXITY_OBJECTIVE
from ragdistill.core.settings import RetrieverSettings, config_default, config_key, from_params

# read by several stages: the bootstrap (report) and the prompt (prompt)


@dataclass(frozen=True)
class Bootstrap:
    """``report``: resamples per comparison, the interval's coverage, the generator's seed."""

    SECTION: ClassVar[str] = "report."

    resamples: int = config_default("report.resamples")
    level: float = config_default("report.level")
    seed: int = config_default("report.seed")

    def options(self) -> dict:
        return {"resamples": self.resamples, "level": self.level, "seed": self.seed}


@dataclass(frozen=True)
class PromptSettings:
    """``prompt`` (the config schema describes each key)."""

    SECTION: ClassVar[str] = "prompt."

    seed: int = config_default("prompt.seed")
    shuffle: bool = config_default("prompt.shuffle")
    max_doc_tokens: int = config_default("prompt.max_doc_tokens")
    add_bos: bool = config_default("prompt.add_bos")
    header: str | None = config_default("prompt.header")
    chat_template: bool = config_default("prompt.chat_template")
    max_question_tokens: int | None = config_default("prompt.max_question_tokens")

    @classmethod
    def of(cls, params: dict | PromptSettings) -> PromptSettings:
        """Settings from the ``prompt`` section (a dict), or as given."""
        return params if isinstance(params, PromptSettings) else from_params(cls, params)


# stages/fetch.py (workflow/rules/fetch.smk)


@dataclass(frozen=True)
class FetchSettings:
    """One model (``models.<name>``) or dataset (``datasets.<name>``) and where downloads go."""

    SECTION: ClassVar[str] = ""

    name: str = config_key(None)
    download_dir: str = config_key(None)
    model: dict | None = config_key("models.<name>", default=None)
    dataset: dict | None = config_key("datasets.<name>", default=None)
    # the replicate's seed (a training seed): each seed draws its own data (module docstring)
    replicate: int = config_key(None, default=0)


# stages/lengths.py (workflow/rules/lengths.smk)


@dataclass(frozen=True)
class LengthSettings:
    """``check_lengths``: the limits the fetched data is compared with."""

    SECTION: ClassVar[str] = ""

    k: int = config_key("k")
    passage_max_length: int = config_key("retriever.passage_max_length")
    max_doc_tokens: int = config_key("prompt.max_doc_tokens")
    max_question_tokens: int | None = config_key("prompt.max_question_tokens", from_schema=True)


# stages/encode.py (workflow/rules/encode.smk)


@dataclass(frozen=True)
class TokenSettings:
    """``tokenize_corpus``: the passage length the retriever reads, and the tokenising processes."""

    SECTION: ClassVar[str] = "encode."

    max_length: int = config_key("retriever.passage_max_length")
    # the processes: encode.tokenize_workers, else encode.threads, else the job's threads
    workers: int = config_key(None, default=1)


@dataclass(frozen=True)
class ShardSettings:
    """One encoding shard job: which shard, and how passages are encoded (``retriever``, ``encode``)."""

    SECTION: ClassVar[str] = "encode."

    shard: int = config_key(None)
    n_shards: int = config_key("encode.shards")
    retriever: RetrieverSettings = config_key("retriever")
    # tokenising processes where no stored tokens are given (a benchmark's or a test's call); the
    # workflow always gives the tokens (tokenize_corpus), so its rule leaves this out
    tokenize_workers: int | None = config_key(None, default=None)
    # bfloat16 casts the encoder's weights
    precision: str = config_key("model_jobs.precision", from_schema=True)


@dataclass(frozen=True)
class IndexSettings:
    """``index``: the FAISS index type and its sizes."""

    SECTION: ClassVar[str] = "index."

    type: str
    nlist: int = config_default("index.nlist")
    hnsw_m: int = config_default("index.hnsw_m")
    pq_m: int = config_default("index.pq_m")
    # the rule write-protects the index file (Snakemake's protected())
    protect: bool = config_default("index.protect")


@dataclass(frozen=True)
class CandidateSettings:
    """``candidate_vectors``: how many candidates of each training question query mode reads."""

    SECTION: ClassVar[str] = "distill."

    candidates: int


# stages/retrieve.py (workflow/rules/retrieve.smk)


@dataclass(frozen=True)
class RetrieveSettings:
    """The query side of ``retriever`` and ``retrieve.top_k``, and which splits this job searches."""

    SECTION: ClassVar[str] = "retrieve."

    splits: list = config_key(None)
    retriever: RetrieverSettings = config_key("retriever")
    top_k: int = config_key("retrieve.top_k")


# stages/reader.py (workflow/rules/reader.smk)


@dataclass(frozen=True)
class FinetuneSettings:
    """``reader_finetune`` (docs/method.md and the config schema say what each does)."""

    SECTION: ClassVar[str] = "reader_finetune."

    steps: int
    batch_size: int
    grad_accum: int
    lr: float
    weight_decay: float
    warmup_steps: int
    max_grad_norm: float
    train_layers: int | None
    answer_in_context: bool
    dev_questions: int
    eval_batch_size: int
    eval_every: int
    select: str
    gradient_checkpointing: bool
    lora: dict | None
    checkpoint_every: int

    def __post_init__(self) -> None:
        if self.select not in ("best", "last"):
            raise ValueError(f"reader_finetune.select: {self.select!r}; use 'best' or 'last'")
        if self.select == "best" and not self.dev_questions:
            raise ValueError(
                "reader_finetune.select: 'best' needs dev questions (reader_finetune.dev_questions > 0)"
            )


@dataclass(frozen=True)
class FinetuneJob:
    """What ``finetune_reader`` reads from its rule: the training settings and the prompt."""

    SECTION: ClassVar[str] = ""

    train: FinetuneSettings = config_key("reader_finetune")
    seed: int = config_key(None)
    k: int = config_key("k")
    prompt: PromptSettings = config_key("prompt")
    max_new_tokens: int = config_key("evaluate.max_new_tokens")
    precision: str = config_key("model_jobs.precision", from_schema=True)
    # the ladder's blind rung (ladder.blind): trained without its answer-bearing passages
    blind: bool = config_key(None, default=False)

    @classmethod
    def from_params(cls, params: dict) -> FinetuneJob:
        return from_params(cls, params)


@dataclass(frozen=True)
class RandomReaderSettings:
    """``random_reader``: the seed of the control's fresh weights (not 0: ``init:`` models, the
    smoke's tiny reader among them, are drawn with seed 0)."""

    SECTION: ClassVar[str] = ""

    seed: int = config_key(None, default=1)


@dataclass(frozen=True)
class NoiseSettings:
    """``noisy_reader``: a ladder rung's noise, per mille of each tensor's norm (``nz<M>``), and
    the replicate's seed that draws it."""

    SECTION: ClassVar[str] = "ladder."

    scale: float = config_key(None)
    seed: int = config_key(None)


# stages/attention.py (workflow/rules/attention.smk)


@dataclass(frozen=True)
class DumpSettings:
    """A teacher's signal: its prompts (``k``, ``prompt``), the ``candidates`` it scores, which
    questions, the batch size, which attention rows are the answer's."""

    SECTION: ClassVar[str] = "attention."

    k: int = config_key("k")
    candidates: int = config_key("distill.candidates")
    prompt: PromptSettings = config_key("prompt")
    max_questions: int | None  # attention.max_questions; the test split's: curve.transfer_questions
    batch_size: int
    precision: str = config_key("model_jobs.precision", from_schema=True)
    # which rows of a decoder-only teacher are the answer's (capture.ANSWER_ROWS). Read by
    # dump_attention only: score_perplexity's answer NLL already comes from the logits of the rows
    # that predict the answer tokens (labels shifted by one), whatever this says
    answer_rows: str = config_default("attention.answer_rows")


# stages/distill.py (workflow/rules/distill.smk)


@dataclass(frozen=True)
class DistillSettings:
    """``distill`` and the retriever's encoding settings, as the rule passes them."""

    SECTION: ClassVar[str] = "distill."

    mode: str
    refresh_every: int
    passage_layers: int | None
    candidates: int
    # each objective gets only its own teacher temperature (the rule passes None for the other,
    # and for the uniform control both), so that changing one reruns only what reads it
    tau_gold: float | None
    tau_pdist: float | None
    tau_score: float
    optimizer: str
    momentum: float
    lr: float
    weight_decay: float
    steps: int
    batch_size: int
    eval_every: int
    select: str
    checkpoint_every: int
    seed: int = config_key(None)
    k: int = config_key("k")
    objective: str = config_key(None)
    uniform: bool = config_key(None)
    max_questions: int | None = config_key(None)  # the learning curve's subset size
    retriever: RetrieverSettings = config_key("retriever")

    def __post_init__(self) -> None:
        if self.select not in SELECT:
            raise ValueError(f"distill.select: {self.select!r}; use one of {', '.join(SELECT)}")
        if self.mode not in ("query", "both"):
            raise ValueError(f"distill.mode: {self.mode!r}; use 'query' or 'both'")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"distill.optimizer: {self.optimizer!r}; use 'adamw' or 'sgd'")

    @property
    def both(self) -> bool:
        return self.mode == "both"

    @property
    def tau(self) -> float | None:
        """The teacher's temperature: PDist's own, or the attention objectives' (None for the
        uniform control, whose equal targets have none)."""
        if self.uniform:
            return None
        tau = self.tau_pdist if self.objective == PERPLEXITY_OBJECTIVE else self.tau_gold
        if tau is None:
            key = "tau_pdist" if self.objective == PERPLEXITY_OBJECTIVE else "tau_gold"
            raise ValueError(
                f"distill.{key}: missing for objective {self.objective!r} (the rule's params lack it)"
            )
        return tau

    @property
    def score_key(self) -> str:
        return f"scores_{self.objective}"

    def evaluates(self, step: int) -> bool:
        """Whether dev HR@5 is measured after ``step``."""
        return is_dev_step(step, self.steps, self.eval_every)

    @property
    def looks(self) -> int:
        """How many later steps this run compares with step 0 on dev."""
        return dev_looks(self.steps, self.eval_every)


SELECT = ("significant", "best", "last")


def is_dev_step(step: int, steps: int, eval_every: int) -> bool:
    """Whether dev HR@5 is measured after ``step``: every ``eval_every``-th and the last."""
    return step % eval_every == 0 or step == steps


def dev_looks(steps: int, eval_every: int) -> int:
    """How many later steps are compared with step 0 on dev."""
    return sum(is_dev_step(step, steps, eval_every) for step in range(1, steps + 1))


# stages/evaluate.py (workflow/rules/evaluate.smk)


@dataclass(frozen=True)
class AnswerSettings:
    """One reader's answering job: its grid cells' retrievers, the prompt, ``evaluate``'s caps."""

    SECTION: ClassVar[str] = "evaluate."

    reader: str = config_key(None)
    retrievers: list = config_key(None)
    k: int = config_key("k")
    prompt: PromptSettings = config_key("prompt")
    max_new_tokens: int
    batch_size: int
    max_questions: int | None = config_default("evaluate.max_questions")
    precision: str = config_key("model_jobs.precision", from_schema=True)


@dataclass(frozen=True)
class CellSettings:
    """One grid cell: its retriever and reader, HR@k's k values, the answered questions' cap."""

    SECTION: ClassVar[str] = "evaluate."

    retriever: str = config_key(None)
    reader: str = config_key(None)
    hr_k: list
    max_questions: int | None = config_default("evaluate.max_questions")


# stages/indicators.py (workflow/rules/indicators.smk)


@dataclass(frozen=True)
class IndicatorSettings:
    """``indicators``, and which reader this job measures."""

    SECTION: ClassVar[str] = "indicators."

    reader: str = config_key(None)
    top_n: list = config_key("indicators.top_n")
    sim_threshold: float
    mq_threshold: float
    max_distance: int
    near: list
    far: list
    seed: int = config_key(None, default=0)  # the replicate's seed, for labels (offtheshelf per seed)

    def __post_init__(self) -> None:
        for key in ("near", "far"):
            lo, hi = (int(x) for x in getattr(self, key))
            if not 1 <= lo <= hi <= self.max_distance:
                raise ValueError(
                    f"config indicators.{key}: [{lo}, {hi}] must be 1 <= first <= second "
                    f"<= max_distance ({self.max_distance})"
                )


# stages/figures.py (workflow/rules/figures.smk)


@dataclass(frozen=True)
class FigureSettings:
    """``figures`` and what the figures need from the rest of the config."""

    SECTION: ClassVar[str] = "figures."

    dpi: int
    example: int | None
    cells: list = config_key(None)
    mq_threshold: float = config_key("indicators.mq_threshold")


# stages/sweep.py (workflow/rules/sweep.smk)


@dataclass(frozen=True)
class SweepSettings:
    """The sweep's teachers (``rows``: seed, teacher, steps), ``indicators.top_n``, ``report``."""

    SECTION: ClassVar[str] = "grid."

    rows: list = config_key(None)
    controls: list = config_key(None)
    seeds: list = config_key("seeds")  # the order of the ``initial`` and ``control_indicators`` inputs
    top_n: list = config_key("indicators.top_n")
    bootstrap: Bootstrap = config_key("report")
    dpi: int = config_key("figures.dpi")


# stages/learning_curve.py (workflow/rules/learning_curve.smk)


@dataclass(frozen=True)
class CurveSettings:
    """The curve's rows (seed, teacher, size; ``size`` null for the full set), ``report``, ``dpi``."""

    SECTION: ClassVar[str] = "curve."

    rows: list = config_key(None)
    bootstrap: Bootstrap = config_key("report")
    dpi: int = config_key("figures.dpi")


# stages/report.py (workflow/rules/report.smk)


@dataclass(frozen=True)
class ReportSettings:
    """The run, its grid cells and seeds, ``k``, ``indicators.top_n``, ``report``, the captions."""

    SECTION: ClassVar[str] = "report."

    run: str = config_key(None)
    cells: list = config_key(None)
    seeds: list = config_key("seeds")
    k: int = config_key("k")
    top_n: list = config_key("indicators.top_n")
    bootstrap: Bootstrap = config_key("report")
    captions: dict = config_key(None, default_factory=dict)
    # every teacher's distilled retriever (grid, controls, sweep), in the order of the inputs
    teachers: list = config_key(None, default_factory=list)
    # (seed, reader) of every indicators input, in order (each seed dumps its own readers)
    readers: list = config_key(None, default_factory=list)
    distill_steps: int = config_key("distill.steps", from_schema=True)
    dpi: int = config_key("figures.dpi", from_schema=True)
    # figure name -> why this run does not draw it (a figure of fewer than two points says nothing)
    not_drawn: dict = config_key(None, default_factory=dict)


@dataclass(frozen=True)
class AcrossRunsSettings:
    """The runs of one invocation, in order, and the figures' resolution."""

    SECTION: ClassVar[str] = "report."

    runs: list = config_key(None)
    dpi: int = config_key("figures.dpi", from_schema=True)


# stages/arms.py (workflow/rules/arms.smk)


@dataclass(frozen=True)
class ArmSettings:
    """The runs with their readers (the order of the ``indicators`` input), the cut, the bootstrap."""

    SECTION: ClassVar[str] = ""

    runs: list = config_key("runs")
    readers: list = config_key(None)  # per run: [seed, reader] pairs whose indicators follow, in order
    seeds: list = config_key("seeds")
    polar_cut: float = config_key("indicators.polar_cut")
    bootstrap: dict = config_key("report")
    dpi: int = config_key("figures.dpi")
