# Helpers only: config validation, wildcard constraints, input functions and target lists.
from pathlib import Path

from snakemake.utils import validate

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
OBJECTIVES = ["adist", "attn", "first", "mean", "noq", "pdist"]
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
# a distilled retriever's name: <objective>-<teacher>-s<seed>
DISTILLED = r"(" + "|".join(OBJECTIVES) + r")-(offtheshelf|finetuned)-s\d+"


wildcard_constraints:
    run="|".join(RUNS),
    model="|".join(config["models"]),
    split="|".join(SPLITS),
    shard=r"\d+",
    seed=r"\d+",
    objective="|".join(OBJECTIVES),
    teacher="offtheshelf|finetuned",
    reader=r"offtheshelf|finetuned-s\d+",
    retriever=f"initial|{DISTILLED}",
    index=f"initial|{DISTILLED}",


def lib(*modules):
    """Library files a job imports, declared as inputs: editing one reruns the job (Snakemake does not see imports)."""
    return [str(LIB / f"{m}.py") for m in ("__init__", "files", "runner", *modules)]


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


def get_reader_base(wildcards=None):
    return model_dir(config["reader"]["model"])


def get_reader_model(wildcards):
    """The off-the-shelf reader is the fetched model; fine-tuned readers come from finetune_reader."""
    if wildcards.reader == "offtheshelf":
        return get_reader_base()
    return f"results/{wildcards.run}/reader/{wildcards.reader}/model"


def get_teacher_reader(wildcards):
    return (
        "offtheshelf"
        if wildcards.teacher == "offtheshelf"
        else f"finetuned-s{wildcards.seed}"
    )


def get_targets(wildcards):
    """Teacher targets: perplexity scores for pdist, attention dumps for adist and its variants."""
    reader = get_teacher_reader(wildcards)
    stage = "perplexity" if wildcards.objective == "pdist" else "attention"
    return f"results/{wildcards.run}/{stage}/{reader}/train.npz"


def retriever_params(max_length_key):
    r = config["retriever"]
    return {
        "pooling": r["pooling"],
        "normalize": r["normalize"],
        "max_length": r[max_length_key],
        "batch_size": r["batch_size"],
    }


def grid_cells():
    """The evaluation grid: (retriever, reader) pairs; each distilled retriever pairs with its
    teacher. The paper's four settings, then grid.extra (<objective>-<teacher>), per seed.
    """
    cells = [
        {
            "retriever": "initial",
            "reader": "offtheshelf",
            "retriever_kind": "initial",
            "reader_kind": "offtheshelf",
            "seed": SEEDS[0],
        }
    ]
    kinds = ["adist-offtheshelf", "adist-finetuned", "pdist-finetuned"]
    kinds += [x for x in config["grid"]["extra"] if x not in kinds]
    for s in SEEDS:
        cells.append(
            {
                "retriever": "initial",
                "reader": f"finetuned-s{s}",
                "retriever_kind": "initial",
                "reader_kind": "finetuned",
                "seed": s,
            }
        )
        for kind in kinds:
            teacher = kind.split("-")[1]
            cells.append(
                {
                    "retriever": f"{kind}-s{s}",
                    "reader": (
                        "offtheshelf" if teacher == "offtheshelf" else f"finetuned-s{s}"
                    ),
                    "retriever_kind": kind,
                    "reader_kind": teacher,
                    "seed": s,
                }
            )
    return cells


def readers():
    return ["offtheshelf"] + [f"finetuned-s{s}" for s in SEEDS]


def distilled_retrievers():
    return sorted({c["retriever"] for c in grid_cells() if c["retriever"] != "initial"})


def get_cell_metrics(wildcards):
    return [
        f"results/{wildcards.run}/evaluate/{c['retriever']}+{c['reader']}/metrics.json"
        for c in grid_cells()
    ]


def get_indicator_files(wildcards):
    return [
        f"results/{wildcards.run}/indicators/{r}/indicators.json" for r in readers()
    ]


def get_curves(wildcards):
    return [
        f"results/{wildcards.run}/distill/{r}/curve.tsv" for r in distilled_retrievers()
    ]


FIGURES = ["distance", "pat", "mq", "grid", "curves", "example"]


# one caption per figure, shared by snakemake --report and report.md
FIGURE_CAPTIONS = {
    f: (Path(workflow.basedir) / "workflow" / "report" / f"{f}.rst").read_text().strip()
    for f in FIGURES
}


def get_example_dumps(wildcards):
    """The example-attention figure: one training question as each reader of the first seed saw it."""
    return [
        f"results/{wildcards.run}/attention/{r}/train.npz"
        for r in ("offtheshelf", f"finetuned-s{SEEDS[0]}")
    ]


def get_figure_files(wildcards):
    return [f"results/{wildcards.run}/figures/{f}.png" for f in FIGURES]


# ---- target lists for the aggregate rules (one per stage)
def get_fetch_targets():
    return [
        model_dir(m) for m in (config["retriever"]["model"], config["reader"]["model"])
    ] + [f"resources/data/{r}/corpus.tsv" for r in RUNS]


def get_encode_targets():
    return [f"results/{r}/index/initial/index.faiss" for r in RUNS]


def get_retrieve_targets():
    return [f"results/{r}/retrieve/initial/{s}.jsonl" for r in RUNS for s in SPLITS]


def get_finetune_targets():
    return [f"results/{r}/reader/finetuned-s{s}/model" for r in RUNS for s in SEEDS]


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
    return [f"results/{r}/figures/{f}.png" for r in RUNS for f in FIGURES]


def get_report_targets():
    return [f"results/{r}/report/report.md" for r in RUNS]
