rule encode_corpus:
    input:
        model=get_retriever_model(),
        corpus="resources/data/{run}/corpus.tsv",
        code=lib("encode", "models", "datasets"),
    output:
        shard=maybe_temp("results/{run}/encode/initial/shard{shard}.npz"),
    log:
        "logs/encode_corpus/{run}/shard{shard}.log",
    benchmark:
        "benchmarks/encode_corpus/{run}/shard{shard}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    params:
        **retriever_params("passage_max_length"),
        entry="encode:encode_corpus",
        shard="{shard}",
        n_shards=config["encode"]["shards"],
    script:
        "../scripts/run_stage.py"


rule build_index:
    input:
        shards=expand(
            "results/{{run}}/encode/initial/shard{shard}.npz",
            shard=range(config["encode"]["shards"]),
        ),
        code=lib("encode"),
    output:
        index=maybe_protected("results/{run}/index/initial/index.faiss"),
        ids=maybe_protected("results/{run}/index/initial/ids.npy"),
        meta="results/{run}/index/initial/meta.json",
    log:
        "logs/build_index/{run}.log",
    benchmark:
        "benchmarks/build_index/{run}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        **config["index"],
        entry="encode:build_index",
    script:
        "../scripts/run_stage.py"


rule encode:
    input:
        get_encode_targets(),
    localrule: True
