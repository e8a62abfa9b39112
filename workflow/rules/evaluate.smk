rule evaluate_setting:
    input:
        retrieved="results/{run}/retrieve/{retriever}/test.jsonl",
        reader=get_reader_model,
        code=lib("evaluate", "models", "prompts", "reader", "metrics"),
    output:
        predictions="results/{run}/evaluate/{retriever}+{reader}/predictions.jsonl",
        metrics="results/{run}/evaluate/{retriever}+{reader}/metrics.json",
    log:
        "logs/evaluate_setting/{run}/{retriever}+{reader}.log",
    benchmark:
        "benchmarks/evaluate_setting/{run}/{retriever}+{reader}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPU,
        mem_mb=8000,
        runtime=240,
    params:
        **config["evaluate"],
        entry="evaluate:evaluate_setting",
        retriever="{retriever}",
        reader="{reader}",
        k=config["k"],
        prompt=config["prompt"],
    script:
        "../scripts/run_stage.py"


rule evaluate:
    input:
        get_evaluate_targets(),
    localrule: True
