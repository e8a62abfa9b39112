# Helpers only: config validation, wildcard constraints, input functions and target lists.
from pathlib import Path

from snakemake.utils import validate

from ragdistill import names
from ragdistill.codedeps import code_digest, code_modules
from ragdistill.config_check import check_config

# our check first, for messages with dotted key paths; then Snakemake's, which fills in defaults
check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
validate(config, schema="../schemas/config.schema.yaml")

RUNS = list(config["runs"])
for _run in RUNS:
    if _run not in config["datasets"]:
        raise ValueError(
            f"config runs: {_run!r} is not a key of datasets ({sorted(config['datasets'])})"
        )
for _key in ("retriever", "reader"):
    if config[_key]["model"] not in config["models"]:
        raise ValueError(
            f"config {_key}.model: {config[_key]['model']!r} is not a key of models"
        )
SEEDS = [int(s) for s in config["seeds"]]
SPLITS = ["train", "dev", "test"]
OBJECTIVES = list(names.OBJECTIVES)
LIB = Path(workflow.basedir) / "ragdistill"
# Model jobs (encoding, retrieval, reader training, dumps, distillation, answering): threads and
# GPUs each (config model_jobs). With gpu 1, profiles/default runs them one at a time locally, so
# one job may take every core (Snakemake caps threads at --cores); on SLURM threads are the job's
# --cpus-per-task unless the profile sets cpus_per_gpu. With gpu 0 (tiny CPU models) they run
# side by side, as many as --cores allows at their threads.
MODEL_THREADS = config["model_jobs"]["threads"]
MODEL_GPU = config["model_jobs"]["gpu"]
# what the reader's passes and corpus encoding compute in (model_jobs.precision)
PRECISION = config["model_jobs"]["precision"]
# distill.mode both: distilled retrievers bring their own passage encoder, hence their own index
BOTH_ENCODERS = config["distill"]["mode"] == "both"
# Teachers: offtheshelf, finetuned (reader_finetune.steps) and, for the teacher-quality sweep
# (grid.teachers), ft<N>: the reader fine-tuned for N steps. Reader of a teacher at seed s:
# offtheshelf, finetuned-s<s>, ft<N>-s<s>.
# The control teachers (grid.controls): random (a randomly initialised reader, seed-independent
# like offtheshelf) and uniform (equal targets, no reader).
TEACHER = r"offtheshelf|finetuned|ft\d+|random|uniform"
READER = r"offtheshelf|random|finetuned-s\d+|ft\d+-s\d+"
# a distilled retriever's name: <objective>-<teacher>-s<seed>, or for the learning curve's
# subsets <objective>-<teacher>-n<questions>-s<seed>
DISTILLED = rf"({'|'.join(OBJECTIVES)})-({TEACHER})(-n\d+)?-s\d+"
CONTROLS = ["random", "uniform"] if config["grid"]["controls"] else []
CURVE_SIZES = [int(n) for n in config["curve"]["sizes"]]
CURVE_TEACHERS = list(config["curve"]["teachers"]) if CURVE_SIZES else []
CURVE_SEEDS = SEEDS[:1] if config["curve"]["seeds"] == "first" else SEEDS
FINETUNE_STEPS = int(config["reader_finetune"]["steps"])


def sweep_teacher(steps):
    """grid.teachers lists readers by fine-tuning steps: 0 is the off-the-shelf reader, the
    default's steps its fine-tuned reader, any other N a reader of its own (ft<N>)."""
    steps = int(steps)
    if steps == 0:
        return "offtheshelf"
    return "finetuned" if steps == FINETUNE_STEPS else f"ft{steps}"


SWEEP = [sweep_teacher(n) for n in config["grid"]["teachers"]]


def teacher_reader(teacher, seed):
    """The reader that is ``teacher`` at ``seed`` (the uniform control has none)."""
    return teacher if teacher in ("offtheshelf", "random") else f"{teacher}-s{seed}"


def finetune_steps(reader):
    """Fine-tuning steps of a fine-tuned reader's name (finetuned-s<s> or ft<N>-s<s>)."""
    head = reader.split("-s")[0]
    return FINETUNE_STEPS if head == "finetuned" else int(head[2:])


wildcard_constraints:
    run="|".join(RUNS),
    model="|".join(config["models"]),
    split="|".join(SPLITS),
    shard=r"\d+",
    seed=r"\d+",
    objective="|".join(OBJECTIVES),
    teacher=TEACHER,
    reader=READER,
    retriever=f"initial|{DISTILLED}",
    index=f"initial|{DISTILLED}",


def code_hash(entry):
    """The library code a job's entry module imports (transitively, read from the source;
    ragdistill/codedeps.py says what is left out and why), as a hash of its content. Given as a
    param, it reruns the job when that code changes (Snakemake does not follow imports), and
    only then: a moved or copied project, or a clone elsewhere, changes no content, while file
    inputs would be absolute paths that change with the folder."""
    return code_digest(LIB, code_modules(entry))


def get_model_tokenizer(wildcards):
    """The folder of the model whose tokenizer ``models.<name>.tokenizer`` names (an ONNX graph
    carries none), or nothing."""
    other = config["models"][wildcards.model].get("tokenizer")
    if other is None:
        return {}
    if other not in config["models"] or other == wildcards.model:
        raise ValueError(
            f"config key models.{wildcards.model}.tokenizer: {other!r} is not another key of models"
        )
    return {"tokenizer": f"resources/models/{other}"}


def maybe_temp(path):
    """Shard embeddings are deleted once the index is built unless encode.keep_shards (disk: at
    the paper's scale they are 32 GB, but without them a new index type means re-encoding).
    """
    return path if config["encode"]["keep_shards"] else temp(path)


def maybe_protected(path):
    """index.protect write-protects the index, so that nothing rebuilds hours of GPU work by
    accident (a rerun then stops with Snakemake's write-protection error until it is deleted).
    """
    return protected(path) if config["index"]["protect"] else path


def model_dir(name):
    return f"resources/models/{name}"


def get_retriever_model(wildcards=None):
    return model_dir(config["retriever"]["model"])


def get_passage_encoder(wildcards):
    """The encoder of index ``{index}``: the fetched retriever, or a both-mode passage encoder."""
    if wildcards.index == "initial":
        return get_retriever_model()
    return f"results/{wildcards.run}/distill/{wildcards.index}/passage_encoder"


def get_index_dir(wildcards):
    """The index a distilled retriever searches: its own in both mode, else the initial one."""
    name = wildcards.retriever if BOTH_ENCODERS else "initial"
    return f"results/{wildcards.run}/index/{name}"


def reader_of(run):
    """The reader model of a run: its dataset's ``reader`` if set, else ``reader.model`` (a preset
    runs a decoder-only and an encoder-decoder arm as two runs of the same data)."""
    return config["datasets"][run].get("reader") or config["reader"]["model"]


def get_reader_base(wildcards):
    return model_dir(reader_of(wildcards.run))


def get_reader_model(wildcards):
    """The off-the-shelf reader is the fetched model; fine-tuned readers come from finetune_reader,
    the random control from random_reader."""
    if wildcards.reader == "offtheshelf":
        return get_reader_base(wildcards)
    return f"results/{wildcards.run}/reader/{wildcards.reader}/model"


def get_teacher_reader(wildcards):
    return teacher_reader(wildcards.teacher, wildcards.seed)


def get_targets(wildcards):
    """Teacher targets: perplexity scores for pdist, attention dumps for adist and its variants;
    none for the uniform control."""
    if wildcards.teacher == "uniform":
        return []
    reader = get_teacher_reader(wildcards)
    stage = (
        "perplexity"
        if wildcards.objective == names.PERPLEXITY_OBJECTIVE
        else "attention"
    )
    return f"results/{wildcards.run}/{stage}/{reader}/train.npz"


def retriever_params(max_length_key):
    r = config["retriever"]
    return {
        "pooling": r["pooling"],
        "normalize": r["normalize"],
        "max_length": r[max_length_key],
        "batch_size": r["batch_size"],
    }


def _cell(retriever, kind, reader, seed):
    return {
        "retriever": retriever,
        "reader": reader,
        "retriever_kind": kind,
        "reader_kind": "offtheshelf" if reader == "offtheshelf" else "finetuned",
        "seed": seed,
    }


def grid_cells():
    """The evaluation grid: (retriever, reader) pairs, per seed. The initial retriever with both
    readers; each distilled retriever (the paper's three settings, then grid.extra's
    <objective>-<teacher>) with its teacher; and the off-the-shelf teacher's retrievers also with
    the fine-tuned reader, so that retrievers are compared under one reader.
    """
    cells = [_cell("initial", "initial", "offtheshelf", SEEDS[0])]
    kinds = list(names.PAPER_SETTINGS)
    kinds += [x for x in config["grid"]["extra"] if x not in kinds]
    for s in SEEDS:
        cells.append(_cell("initial", "initial", f"finetuned-s{s}", s))
        for kind in kinds:
            teacher = kind.split("-")[1]
            cells.append(_cell(f"{kind}-s{s}", kind, teacher_reader(teacher, s), s))
            if teacher == "offtheshelf":
                cells.append(_cell(f"{kind}-s{s}", kind, f"finetuned-s{s}", s))
    return cells


def readers():
    """Every reader whose attention is dumped and whose indicators are computed."""
    sweep = [teacher_reader(t, s) for s in SEEDS for t in SWEEP]
    main = ["offtheshelf"] + [f"finetuned-s{s}" for s in SEEDS]
    main += ["random"] if "random" in CONTROLS else []
    return main + [r for r in dict.fromkeys(sweep) if r not in main]


def sweep_retrievers():
    """The teacher sweep's ADist retrievers, per seed and teacher (empty without grid.teachers)."""
    return [f"adist-{t}-s{s}" for s in SEEDS for t in SWEEP]


def control_retrievers():
    """The control teachers' ADist retrievers, per seed (empty without grid.controls)."""
    return [f"adist-{t}-s{s}" for s in SEEDS for t in CONTROLS]


def curve_retrievers():
    """The learning curve's subset retrievers: adist-<teacher>-n<size>-s<seed>."""
    return [
        f"adist-{t}-n{n}-s{s}"
        for s in CURVE_SEEDS
        for t in CURVE_TEACHERS
        for n in CURVE_SIZES
    ]


def distilled_retrievers():
    cells = {c["retriever"] for c in grid_cells() if c["retriever"] != "initial"}
    extra = (
        set(sweep_retrievers()) | set(control_retrievers()) | set(curve_retrievers())
    )
    return sorted(cells | extra)


def cell_retrievers(reader):
    """Retrievers the grid pairs with ``reader``, in grid order (answer_questions answers them all)."""
    return list(
        dict.fromkeys(c["retriever"] for c in grid_cells() if c["reader"] == reader)
    )


def get_answer_inputs(wildcards):
    return [
        f"results/{wildcards.run}/retrieve/{r}/test.jsonl"
        for r in cell_retrievers(wildcards.reader)
    ]


def get_cell_metrics(wildcards):
    return [
        f"results/{wildcards.run}/evaluate/{c['retriever']}+{c['reader']}/metrics.json"
        for c in grid_cells()
    ]


def get_indicator_files(wildcards):
    return [
        f"results/{wildcards.run}/indicators/{r}/indicators.json" for r in readers()
    ]


def get_cell_predictions(wildcards):
    return [
        f"results/{wildcards.run}/evaluate/{c['retriever']}+{c['reader']}/predictions.jsonl"
        for c in grid_cells()
    ]


def get_sweep_inputs(wildcards):
    """What the teacher sweep compares: each sweep retriever's and the initial test retrieval."""
    run = wildcards.run
    return {
        "initial": f"results/{run}/retrieve/initial/test.jsonl",
        "retrieved": [
            f"results/{run}/retrieve/{r}/test.jsonl" for r in sweep_retrievers()
        ],
        "indicators": [
            f"results/{run}/indicators/{teacher_reader(t, s)}/indicators.json"
            for s in SEEDS
            for t in SWEEP
        ],
        "controls": [
            f"results/{run}/retrieve/{r}/test.jsonl" for r in control_retrievers()
        ],
        # the random control's indicators (the uniform control has no reader)
        "control_indicators": (
            [f"results/{run}/indicators/random/indicators.json"]
            if "random" in CONTROLS
            else []
        ),
    }


SWEEPS = bool(
    SWEEP or CONTROLS
)  # the sweep stage runs for grid.teachers or grid.controls


def get_sweep_files(wildcards):
    """The sweep's table for the report, when grid.teachers or grid.controls is set."""
    return [f"results/{wildcards.run}/sweep/sweep.json"] if SWEEPS else []


def get_curves(wildcards):
    """Dev curves of the grid's, the sweep's and the controls' distillations (not the subsets')."""
    subsets = set(curve_retrievers())
    return [
        f"results/{wildcards.run}/distill/{r}/curve.tsv"
        for r in distilled_retrievers()
        if r not in subsets
    ]


def dump_questions(wildcards):
    """Questions a teacher is dumped on: attention.max_questions of the training split; of the
    test split, curve.transfer_questions (the transfer measure's teacher ceiling)."""
    if wildcards.split == "test":
        return config["curve"]["transfer_questions"]
    return config["attention"]["max_questions"]


def curve_rows():
    """The learning curve's rows: per seed, teacher and size (null: all), its retriever."""
    return [
        {
            "seed": s,
            "teacher": t,
            "size": n,
            "retriever": f"adist-{t}-s{s}" if n is None else f"adist-{t}-n{n}-s{s}",
        }
        for s in CURVE_SEEDS
        for t in CURVE_TEACHERS
        for n in CURVE_SIZES + [None]
    ]


def get_curve_inputs(wildcards):
    run = wildcards.run
    rows = curve_rows()
    return {
        "initial": f"results/{run}/retrieve/initial/test.jsonl",
        "retrieved": [
            f"results/{run}/retrieve/{r['retriever']}/test.jsonl" for r in rows
        ],
        "distilled": [
            f"results/{run}/distill/{r['retriever']}/query_encoder" for r in rows
        ],
        "dumps": [
            f"results/{run}/attention/{teacher_reader(r['teacher'], r['seed'])}/test.npz"
            for r in rows
        ],
    }


def get_curve_files(wildcards):
    """The learning curve's table for the report, when curve.sizes is set."""
    return [f"results/{wildcards.run}/curve/curve.json"] if CURVE_TEACHERS else []


FIGURES = ["distance", "pat", "mq", "grid", "curves", "example"]


# one caption per figure, shared by snakemake --report and report.md
FIGURE_CAPTIONS = {
    f: (Path(workflow.basedir) / "workflow" / "report" / f"{f}.rst").read_text().strip()
    for f in FIGURES + ["sweep", "learning_curve"]
}


def get_example_dumps(wildcards):
    """The example-attention figure: one training question as each reader of the first seed saw it."""
    return [
        f"results/{wildcards.run}/attention/{r}/train.npz"
        for r in ("offtheshelf", f"finetuned-s{SEEDS[0]}")
    ]


def figure_names():
    """Every figure of a run: the fixed ones, and the sweep's when grid.teachers is set."""
    return (
        FIGURES
        + (["sweep"] if SWEEPS else [])
        + (["learning_curve"] if CURVE_TEACHERS else [])
    )


def get_figure_files(wildcards):
    return [f"results/{wildcards.run}/figures/{f}.png" for f in figure_names()]


# ---- target lists for the aggregate rules (one per stage)
def get_fetch_targets():
    names = [config["retriever"]["model"]] + sorted({reader_of(r) for r in RUNS})
    return [model_dir(m) for m in names] + [
        f"resources/data/{r}/corpus.tsv" for r in RUNS
    ]


def get_encode_targets():
    return [f"results/{r}/index/initial/index.faiss" for r in RUNS]


def get_retrieve_targets():
    return [f"results/{r}/retrieve/initial/{s}.jsonl" for r in RUNS for s in SPLITS]


def get_finetune_targets():
    return [
        f"results/{r}/reader/{reader}/model"
        for r in RUNS
        for reader in readers()
        if reader != "offtheshelf"
    ]


def get_attention_targets():
    return [
        f"results/{r}/attention/{reader}/train.npz"
        for r in RUNS
        for reader in readers()
    ]


def get_distill_targets():
    return [
        f"results/{r}/distill/{d}/curve.tsv"
        for r in RUNS
        for d in distilled_retrievers()
    ]


def get_evaluate_targets():
    return [
        f"results/{r}/evaluate/{c['retriever']}+{c['reader']}/metrics.json"
        for r in RUNS
        for c in grid_cells()
    ]


def get_indicator_targets():
    return [
        f"results/{r}/indicators/{reader}/indicators.json"
        for r in RUNS
        for reader in readers()
    ]


def get_figure_targets():
    return [f"results/{r}/figures/{f}.png" for r in RUNS for f in figure_names()]


def get_report_targets():
    """Each run's ``report.md`` and the HTML report's first page (so ``all`` asks for both)."""
    return [
        f"results/{r}/report/{name}"
        for r in RUNS
        for name in ("report.md", f"claims-{r}.rst")
    ]


# ---- the two arms (decoder-only and encoder-decoder readers as two runs of the same data)
ARMS = len({reader_of(r) for r in RUNS}) > 1


def arm_readers():
    """Per run, the readers whose per-example MQ the arms stage compares."""
    return [["offtheshelf"] + [f"finetuned-s{s}" for s in SEEDS] for _ in RUNS]


def get_arm_inputs(wildcards):
    return {
        "models": [model_dir(reader_of(r)) for r in RUNS],
        "indicators": [
            f"results/{r}/indicators/{reader}/indicators.json"
            for r, names in zip(RUNS, arm_readers())
            for reader in names
        ],
    }


def get_all_targets():
    """Every run's report, and the arms' comparison when the runs have different readers."""
    return get_report_targets() + (["results/arms/arms.md"] if ARMS else [])
