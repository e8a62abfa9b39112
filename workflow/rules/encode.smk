# the corpus's token ids for the retriever's tokenizer and passage length, once per run: every
# encoding job (each shard, each distilled passage encoder) reads them memory-mapped
rule tokenize_corpus:
    input:
        model=get_retriever_model,
        corpus="resources/data/{run}/corpus.tsv",
    output:
        tokens=directory("results/{run}/encode/tokens"),
    log:
        "logs/tokenize_corpus/{run}.log",
    benchmark:
        "benchmarks/tokenize_corpus/{run}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: config["encode"]["threads"] or MODEL_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        **params_of(
            settings.TokenSettings,
            workers=config["encode"]["tokenize_workers"]
            or config["encode"]["threads"]
            or MODEL_THREADS,
        ),
        code=code_hash("encode"),
        entry="encode:tokenize_corpus",
    script:
        "../scripts/run_stage.py"


# {index}: "initial" (the fetched retriever), or a retriever distilled in both mode (its passage
# encoder; in query mode the initial index serves every retriever).
rule encode_corpus:
    input:
        # a distilled index: the initial one, whose vectors it takes if its encoder is unchanged
        unpack(get_initial_encoding),
        model=get_passage_encoder,
        # the corpus's token ids: its leader's, where replicates share a corpus
        tokens=get_corpus_tokens,
    output:
        shard=maybe_temp("results/{run}/encode/{index}/shard{shard}.npz"),
    log:
        "logs/encode_corpus/{run}/{index}/shard{shard}.log",
    benchmark:
        "benchmarks/encode_corpus/{run}/{index}/shard{shard}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: config["encode"]["threads"] or MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=8000,
        runtime=240,
    params:
        **params_of(
            settings.ShardSettings,
            retriever=retriever_section("query_max_length"),
            shard="{shard}",
        ),
        code=code_hash("encode"),
        entry="encode:encode_corpus",
    script:
        "../scripts/run_stage.py"


rule build_index:
    input:
        shards=expand(
            "results/{{run}}/encode/{{index}}/shard{shard}.npz",
            shard=range(config["encode"]["shards"]),
        ),
    output:
        index=maybe_protected("results/{run}/index/{index}/index.faiss"),
        ids=maybe_protected("results/{run}/index/{index}/ids.npy"),
        meta="results/{run}/index/{index}/meta.json",
    log:
        "logs/build_index/{run}/{index}.log",
    benchmark:
        "benchmarks/build_index/{run}/{index}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        # the shards' float16 vectors as float32 three times at the peak (the shards read, the
        # stacked array, the index's own copy; ragdistill/stages/encode.py, build_index): six times the
        # shard files (21M x 768: about 200 GB)
        mem_mb=lambda w, input: memory.held_mb(input.shards, times=6, base_mb=4000),
        runtime=120,
    params:
        **params_of(settings.IndexSettings),
        code=code_hash("encode"),
        entry="encode:build_index",
    script:
        "../scripts/run_stage.py"


# query-mode distillation scores the initial index's stored vectors of its candidates; one job
# reads them from the shards (before they are deleted) for all distillation jobs
rule candidate_vectors:
    input:
        # the initial shards, or a shared flat index once its builder's shards are gone
        unpack(get_candidate_sources),
        train="results/{run}/retrieve/initial/train.jsonl",
        dev="results/{run}/retrieve/initial/dev.jsonl",
    output:
        vectors="results/{run}/encode/initial/candidates.npz",
    log:
        "logs/candidate_vectors/{run}.log",
    benchmark:
        "benchmarks/candidate_vectors/{run}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        # the training candidates: each training question's top distill.candidates
        **params_of(settings.CandidateSettings),
        code=code_hash("encode"),
        entry="encode:candidate_vectors",
    script:
        "../scripts/run_stage.py"


rule encode:
    input:
        get_encode_targets(),
    localrule: True
