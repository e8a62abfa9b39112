rule fetch_model:
    input:
        # an ONNX graph's tokenizer: another model's folder (models.<name>.tokenizer)
        unpack(get_model_tokenizer),
    output:
        model=directory("resources/models/{model}"),
    log:
        "logs/fetch_model/{model}.log",
    benchmark:
        "benchmarks/fetch_model/{model}.tsv"
    localrule: True
    conda:
        "../../envs/ragdistill.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        **params_of(
            settings.FetchSettings,
            name="{model}",
            model=lookup(dpath="models/{model}", within=config),
            download_dir="resources/downloads",
        ),
        code=code_hash("fetch"),
        entry="fetch:fetch_model",
    script:
        "../scripts/run_stage.py"


rule fetch_data:
    output:
        train="resources/data/{run}/train.jsonl",
        dev="resources/data/{run}/dev.jsonl",
        test="resources/data/{run}/test.jsonl",
        corpus="resources/data/{run}/corpus.tsv",
        # split sizes, test questions also in train or dev, passages repeated under another id
        checks="resources/data/{run}/checks.json",
    log:
        "logs/fetch_data/{run}.log",
    benchmark:
        "benchmarks/fetch_data/{run}.tsv"
    # every model job waits for the questions and the corpus (seconds): first, beside a model fetch
    priority: 10
    localrule: True
    conda:
        "../../envs/ragdistill.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        **params_of(
            settings.FetchSettings,
            name=lambda w: run_of(w.run),
            # the seed this replicate's data is drawn with (ragdistill/stages/fetch.py, "replicate")
            replicate=lambda w: seed_of(w.run),
            # the data alone: a run's reader choice does not change its data
            dataset=lambda w: {
                k: v
                for k, v in config["datasets"][run_of(w.run)].items()
                if k != "reader"
            },
            download_dir="resources/downloads",
        ),
        code=code_hash("fetch"),
        entry="fetch:fetch_data",
    script:
        "../scripts/run_stage.py"


rule fetch:
    input:
        get_fetch_targets(),
    localrule: True
