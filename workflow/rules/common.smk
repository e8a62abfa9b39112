# Helpers only: config validation, wildcard constraints, input functions and target lists.
import os
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

# This workflow's own library comes first, here and in every job (PYTHONPATH): the jobs must run
# the code that the rules' code hashes (LIB below) were read from, not a copy earlier on the path
# (a non-editable install goes stale; a PYTHONPATH may name another clone).
sys.path.insert(0, workflow.basedir)
# (set here, not required of the user: hence no envvars directive; every job, on SLURM too,
# runs this file again)
_paths = [workflow.basedir, *filter(None, [os.environ.get("PYTHONPATH")])]
os.environ.update(PYTHONPATH=os.pathsep.join(_paths))

from ragdistill.core import corpora, grid, memory, names
from ragdistill.core import stage_settings as settings
from ragdistill.core.codedeps import code_digest, code_modules
from ragdistill.core.settings import params_of as _params_of
from ragdistill.config_check import cap_warnings, check_config

# our check first, for messages with dotted key paths; then Snakemake's, which fills in defaults
check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
validate(config, schema="../schemas/config.schema.yaml")
# caps that leave less than a tenth of a hub split: a warning naming the key, once per run (not
# again in each job, which reads this file too)
if workflow.is_main_process:
    for _line in cap_warnings(config):
        logger.warning(_line)

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
# Each seed replicates the whole study (its own data, index, readers' dumps, distillations):
# results/<run>/s<seed>/ and resources/data/<run>/s<seed>/ (ragdistill/core/grid.py, "replicate").
# Rules that make one replicate's files match {run} = <run>/s<seed>; the rules that bring the
# seeds together (report, figures, sweep, learning curve) match {run} = <run>.
replicate = grid.replicate
REPLICATES = [replicate(r, s) for r in RUNS for s in SEEDS]
# Replicates that read the same corpus (NQ and TQA over DPR's, the seeds of one SQuAD file, the two
# arms of one world) share one initial index and its token ids, built by the first of them, their
# leader (ragdistill/core/corpora.py); a follower's retrieval checks its corpus is the leader's.
CORPUS_LEADERS = corpora.corpus_leaders(config["datasets"], REPLICATES)
RUN_NAMES = "|".join(RUNS)
REPLICATE_NAMES = rf"(?:{RUN_NAMES})/s\d+"


def run_of(name):
    """The run (a key of datasets) of a replicate's name (world/s0 -> world), or the name."""
    return name.split("/")[0]


def seed_of(name):
    """The seed of a replicate's name (world/s2 -> 2)."""
    return grid.replicate_parts(name)[1]


def seed_dir(run, name):
    """The replicate folder of a seeded name (finetuned-s1, adist-x-s1[-last]) in run ``run``."""
    return replicate(run, grid.split_seed(grid.fixed_of(name))[1])


def retriever_files(run, retrievers, path):
    """``path`` of each distilled retriever, in its seed's replicate: ``{r}`` is the retriever,
    ``{last}`` its fixed-step retriever (GRID.fixed)."""
    return [
        f"results/{seed_dir(run, r)}/{path.format(r=r, last=GRID.fixed(r))}"
        for r in retrievers
    ]


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
# distill.mode both: distilled retrievers bring their own passage encoder, hence their own index
BOTH_ENCODERS = config["distill"]["mode"] == "both"
# The study's design: its teachers, readers, retrievers and grid cells, and their names'
# grammar (ragdistill/core/grid.py, unit-tested in tests/test_grid.py).
GRID = grid.Grid.of(config)
SWEEP = GRID.sweep
CONTROLS = GRID.control_teachers
CURVE_TEACHERS = list(GRID.curve_teachers)
teacher_reader = grid.teacher_reader
finetune_steps = GRID.finetune_steps_of


wildcard_constraints:
    run=REPLICATE_NAMES,
    model="|".join(config["models"]),
    split="|".join(SPLITS),
    shard=r"\d+",
    seed=r"\d+",
    objective="|".join(OBJECTIVES),
    teacher=grid.TEACHER,
    reader=grid.READER,
    retriever=f"initial|{grid.DISTILLED}|{grid.FIXED}",
    index=f"initial|{grid.DISTILLED}|{grid.FIXED}",


def code_hash(entry):
    """The library code a job's entry module imports (transitively, read from the source;
    ragdistill/core/codedeps.py says what is left out and why), as a hash of its content. Given as a
    param, it reruns the job when that code changes (Snakemake does not follow imports), and
    only then: a moved or copied project, or a clone elsewhere, changes no content, while file
    inputs would be absolute paths that change with the folder."""
    return code_digest(LIB, code_modules(f"stages.{entry}"))


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
    return f"{distilled_dir(wildcards.run, wildcards.index)}/passage_encoder"


def distilled_dir(run, retriever):
    """Where a distilled retriever's encoders are: its distillation's folder, or for a
    fixed-step retriever (``<name>-last``) that folder's ``last/``."""
    base = grid.fixed_of(retriever)
    folder = f"results/{run}/distill/{base}"
    return folder if base == retriever else os.path.join(folder, "last")


def get_query_encoder(wildcards):
    return f"{distilled_dir(wildcards.run, wildcards.retriever)}/query_encoder"


def corpus_leader(run):
    """The replicate whose initial index and corpus token ids replicate ``run`` reads: the first
    replicate with the same corpus (``CORPUS_LEADERS``), often itself."""
    return CORPUS_LEADERS.get(run, run)


def initial_index_dir(run):
    return f"results/{corpus_leader(run)}/index/initial"


def get_corpus_tokens(wildcards):
    return f"results/{corpus_leader(wildcards.run)}/encode/tokens"


def get_initial_shards(wildcards):
    """The initial index's encoded shards (the corpus leader's), for the candidates' vectors."""
    return [
        f"results/{corpus_leader(wildcards.run)}/encode/initial/shard{shard}.npz"
        for shard in range(config["encode"]["shards"])
    ]


def get_candidate_sources(wildcards):
    """Where candidate_vectors reads the initial vectors: the corpus leader's shards (its own, or
    a leader's kept by encode.keep_shards, or a non-flat index's); for a follower whose leader's
    shards are temporary, the leader's flat index, which holds the same vectors, so that a run
    added over a corpus another run has indexed does not encode that corpus again."""
    shared = corpus_leader(wildcards.run) != wildcards.run
    if (
        not shared
        or config["encode"]["keep_shards"]
        or config["index"]["type"] != "flat"
    ):
        return {"shards": get_initial_shards(wildcards)}
    folder = initial_index_dir(wildcards.run)
    return {
        "index": f"{folder}/index.faiss",
        "ids": f"{folder}/ids.npy",
        "meta": f"{folder}/meta.json",
    }


def get_shared_corpus_checks(wildcards):
    """A follower's own data checks and its leader's, whose ``corpus_sha256`` must agree before
    it searches an index the leader built; nothing for a leader."""
    leader = corpus_leader(wildcards.run)
    if leader == wildcards.run:
        return {}
    return {
        "corpus_checks": f"resources/data/{wildcards.run}/checks.json",
        "index_checks": f"resources/data/{leader}/checks.json",
    }


def initial_index_files(run):
    """The initial index's files, by input name: what a distilled retriever that kept step 0
    reads instead of encoding or searching again."""
    initial = initial_index_dir(run)
    return {
        "initial_index": f"{initial}/index.faiss",
        "initial_ids": f"{initial}/ids.npy",
    }


def get_initial_encoding(wildcards):
    """A distilled index's link to the initial one: when its passage encoder holds the initial
    weights (the distillation kept step 0), encode_corpus reads the initial flat index's vectors
    instead of encoding the corpus again. Nothing for the initial index itself."""
    if wildcards.index == "initial":
        return {}
    return {
        **initial_index_files(wildcards.run),
        "initial_model": get_retriever_model(),
        "initial_meta": f"{initial_index_dir(wildcards.run)}/meta.json",
    }


def get_initial_retrieval(wildcards):
    """A distilled retriever's link to the initial one: when both its encoders hold the initial
    weights (the distillation kept step 0), retrieve_distilled copies the initial retrieval.
    """
    return {
        **initial_index_files(wildcards.run),
        "initial_encoder": get_retriever_model(),
        "initial_test": f"results/{wildcards.run}/retrieve/initial/test.jsonl",
    }


def get_index_dir(wildcards):
    """The index a distilled retriever searches: its own in both mode, else the initial one."""
    if BOTH_ENCODERS:
        return f"results/{wildcards.run}/index/{wildcards.retriever}"
    return initial_index_dir(wildcards.run)


def reader_of(run):
    """The reader model of a run: its dataset's ``reader`` if set, else ``reader.model`` (a preset
    runs a decoder-only and an encoder-decoder arm as two runs of the same data)."""
    return config["datasets"][run_of(run)].get("reader") or config["reader"]["model"]


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


def teacher_tau(key):
    """A distillation's ``distill.<key>`` where its objective reads it, else None: tau_pdist for
    PDist, tau_gold for the attention objectives, neither for the uniform control."""

    def tau(wildcards):
        if wildcards.teacher == "uniform":
            return None
        pdist = wildcards.objective == names.PERPLEXITY_OBJECTIVE
        return config["distill"][key] if (key == "tau_pdist") == pdist else None

    return tau


def params_of(cls, unread=(), **given):
    """A rule's params from its stage's settings class (ragdistill/core/stage_settings.py): each
    field from the config at the key the class records, ``given`` for what the workflow decides
    (wildcards, resolved counts, sections with keys left out). A setting is thus named in the
    schema and its class only, never restated here."""
    return _params_of(cls, config, unread, **given)


def retriever_section(*unread):
    """The retriever's settings without those a stage does not read, so that changing one of
    them reruns nothing of it (a query length must not re-encode the corpus)."""
    return {k: v for k, v in config["retriever"].items() if k not in unread}


grid_cells = GRID.cells
readers = GRID.readers
sweep_retrievers = GRID.sweep_retrievers
control_retrievers = GRID.control_retrievers
curve_retrievers = GRID.curve_retrievers
distilled_retrievers = GRID.distilled_retrievers
cell_retrievers = GRID.cell_retrievers
curve_rows = GRID.curve_rows


def get_answer_inputs(wildcards):
    return [
        f"results/{wildcards.run}/retrieve/{r}/test.jsonl"
        for r in cell_retrievers(wildcards.reader, seed_of(wildcards.run))
    ]


def get_cell_files(wildcards, name):
    """Every grid cell's ``name`` (metrics.json, predictions.jsonl), each in its seed's replicate."""
    return [
        f"results/{replicate(wildcards.run, c['seed'])}/evaluate/{c['retriever']}+{c['reader']}/{name}"
        for c in grid_cells()
    ]


def get_cell_metrics(wildcards):
    return get_cell_files(wildcards, "metrics.json")


def get_indicator_files(wildcards):
    """Every seed's readers' indicators, in GRID.seed_readers() order."""
    return [
        f"results/{replicate(wildcards.run, s)}/indicators/{r}/indicators.json"
        for s, r in GRID.seed_readers()
    ]


def get_cell_predictions(wildcards):
    return get_cell_files(wildcards, "predictions.jsonl")


def get_sweep_inputs(wildcards):
    """What the teacher sweep compares: each sweep retriever's and the initial test retrieval."""
    run = wildcards.run
    return {
        # each seed's initial retrieval, in seed order (gains are against the row's own seed)
        "initial": [
            f"results/{replicate(run, s)}/retrieve/initial/test.jsonl" for s in SEEDS
        ],
        "retrieved": retriever_files(
            run, sweep_retrievers(), "retrieve/{r}/test.jsonl"
        ),
        "indicators": [
            f"results/{replicate(run, s)}/indicators/{teacher_reader(t, s)}/indicators.json"
            for s in SEEDS
            for t in SWEEP
        ],
        # each teacher's fixed-step (last-step) retriever: the gain the correlations read
        "fixed": retriever_files(run, sweep_retrievers(), "retrieve/{last}/test.jsonl"),
        "controls": retriever_files(
            run, control_retrievers(), "retrieve/{r}/test.jsonl"
        ),
        # the step each distillation kept (a kept step 0 is not a measured gain)
        "encoders": retriever_files(
            run, sweep_retrievers(), "distill/{r}/query_encoder"
        ),
        "controls_encoders": retriever_files(
            run, control_retrievers(), "distill/{r}/query_encoder"
        ),
        "controls_fixed": retriever_files(
            run, control_retrievers(), "retrieve/{last}/test.jsonl"
        ),
        # each seed's questions with their articles on real text: clustered intervals
        "questions": [
            f"resources/data/{replicate(run, s)}/{split}.jsonl"
            for s in SEEDS
            for split in ("train", "test")
        ],
        # each seed's random control's indicators (the uniform control has no reader)
        "control_indicators": (
            [
                f"results/{replicate(run, s)}/indicators/random/indicators.json"
                for s in SEEDS
            ]
            if "random" in CONTROLS
            else []
        ),
    }


def get_teacher_files(path):
    """An input function: ``path`` (retriever_files) of every teacher's own distilled retriever
    (grid, controls, sweep), in GRID.teacher_retrievers() order, the report's ``teachers``.
    """
    return lambda w: retriever_files(w.run, GRID.teacher_retrievers(), path)


SWEEPS = GRID.sweeps  # the sweep stage runs for grid.teachers or grid.controls


def get_sweep_files(wildcards):
    """The sweep's table for the report, when grid.teachers or grid.controls is set."""
    return [f"results/{wildcards.run}/sweep/sweep.json"] if SWEEPS else []


def get_curves(wildcards):
    """Dev curves of the grid's, the sweep's and the controls' distillations (not the subsets')."""
    subsets = set(curve_retrievers())
    return retriever_files(
        wildcards.run,
        [r for r in distilled_retrievers() if r not in subsets],
        "distill/{r}/curve.tsv",
    )


def dump_questions(wildcards):
    """Questions a teacher is dumped on: attention.max_questions of the training split; of the
    test split, curve.transfer_questions (the transfer measure's teacher ceiling)."""
    if wildcards.split == "test":
        return config["curve"]["transfer_questions"]
    return config["attention"]["max_questions"]


def get_curve_inputs(wildcards):
    run = wildcards.run
    rows = curve_rows()
    rep = [replicate(run, r["seed"]) for r in rows]
    return {
        # each row's seed's initial retrieval (its gains' baseline)
        "initial": [f"results/{d}/retrieve/initial/test.jsonl" for d in rep],
        "retrieved": [
            f"results/{d}/retrieve/{r['retriever']}/test.jsonl"
            for d, r in zip(rep, rows)
        ],
        "distilled": [
            f"results/{d}/distill/{r['retriever']}/query_encoder"
            for d, r in zip(rep, rows)
        ],
        "dumps": [
            f"results/{d}/attention/{teacher_reader(r['teacher'], r['seed'])}/test.npz"
            for d, r in zip(rep, rows)
        ],
    }


def get_curve_files(wildcards):
    """The learning curve's table for the report, when curve.sizes is set."""
    return [f"results/{wildcards.run}/curve/curve.json"] if CURVE_TEACHERS else []


FIGURES = ["distance", "pat", "mq", "grid", "curves", "example", "finetune"]
# the report stage draws these two beside its tables (claims.json; each retriever's HR@k)
REPORT_FIGURES = ["claims", "hr_at_k"]
# the sweep's figure needs two teachers per seed (grid.Grid.sweep_figure)
SWEEP_FIGURE = GRID.sweep_figure


# one caption per figure, shared by snakemake --report and report.md
FIGURE_CAPTIONS = {
    f: (Path(workflow.basedir) / "workflow" / "report" / f"{f}.rst").read_text().strip()
    for f in FIGURES + REPORT_FIGURES + ["sweep", "learning_curve"]
}


def get_example_dumps(wildcards):
    """The example-attention figure: one training question as each reader of the first seed saw it."""
    first = replicate(wildcards.run, SEEDS[0])
    return [
        f"results/{first}/attention/{r}/train.npz"
        for r in ("offtheshelf", f"finetuned-s{SEEDS[0]}")
    ]


def figure_names():
    """Every figure of a run: the fixed ones, the sweep's when it has two teachers per seed, the
    learning curve's when curve.sizes is set (the report's own two are its outputs)."""
    return (
        FIGURES
        + (["sweep"] if SWEEP_FIGURE else [])
        + (["learning_curve"] if CURVE_TEACHERS else [])
    )


def run_models(wildcards):
    """The models a run read (its retriever and its reader), for the report's provenance."""
    return sorted({get_retriever_model(), model_dir(reader_of(wildcards.run))})


def not_drawn():
    """Figure -> why this run does not draw it, for the report (a figure must hold two points)."""
    if SWEEPS and not SWEEP_FIGURE:
        n = len(SWEEP)
        return {
            "sweep": (
                f"The teacher-quality sweep has {n} teacher{'s' if n != 1 else ''} per seed "
                "(grid.teachers and ladder); its figure needs two or more to show a relation "
                "between an indicator and the gain. The controls' gains are in the sweep's table."
            )
        }
    return {}


def get_finetune_metrics(wildcards):
    """Every fine-tuned reader's training log (loss, dev EM, the kept step), every seed's."""
    return [
        f"results/{replicate(wildcards.run, s)}/reader/{r}/train_metrics.json"
        for s, r in GRID.finetuned_readers()
    ]


def get_figure_files(wildcards):
    return [f"results/{wildcards.run}/figures/{f}.png" for f in figure_names()]


# ---- target lists for the aggregate rules (one per stage)
def get_fetch_targets():
    names = [config["retriever"]["model"]] + sorted({reader_of(r) for r in RUNS})
    return [model_dir(m) for m in names] + [
        f"resources/data/{r}/corpus.tsv" for r in REPLICATES
    ]


def get_encode_targets():
    leaders = dict.fromkeys(CORPUS_LEADERS.values())
    return [f"{initial_index_dir(r)}/index.faiss" for r in leaders]


def get_retrieve_targets():
    return [
        f"results/{r}/retrieve/initial/{s}.jsonl" for r in REPLICATES for s in SPLITS
    ]


def get_finetune_targets():
    return [
        f"results/{replicate(r, s)}/reader/{reader}/model"
        for r in RUNS
        for s, reader in GRID.seed_readers()
        if reader != "offtheshelf"
    ]


def get_attention_targets():
    return [
        f"results/{replicate(r, s)}/attention/{reader}/train.npz"
        for r in RUNS
        for s, reader in GRID.seed_readers()
    ]


def get_distill_targets():
    return [
        f
        for r in RUNS
        for f in retriever_files(r, distilled_retrievers(), "distill/{r}/curve.tsv")
    ]


def get_evaluate_targets():
    return [
        f"results/{replicate(r, c['seed'])}/evaluate/{c['retriever']}+{c['reader']}/metrics.json"
        for r in RUNS
        for c in grid_cells()
    ]


def get_indicator_targets():
    return [
        f"results/{replicate(r, s)}/indicators/{reader}/indicators.json"
        for r in RUNS
        for s, reader in GRID.seed_readers()
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
    """Per run, the readers whose per-example MQ the arms stage compares, as [seed, reader]."""
    return [
        [[s, "offtheshelf"] for s in SEEDS] + [[s, f"finetuned-s{s}"] for s in SEEDS]
        for _ in RUNS
    ]


def get_arm_inputs(wildcards):
    return {
        "models": [model_dir(reader_of(r)) for r in RUNS],
        "indicators": [
            f"results/{replicate(r, s)}/indicators/{reader}/indicators.json"
            for r, names in zip(RUNS, arm_readers())
            for s, reader in names
        ],
    }


def get_all_targets():
    """Every run's report; with several runs their claims in one figure; and the arms'
    comparison when the runs have different readers."""
    across = ["results/runs/claims.png"] if len(RUNS) > 1 else []
    return get_report_targets() + across + (["results/arms/arms.md"] if ARMS else [])
