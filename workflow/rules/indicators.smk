rule compute_indicators:
    input:
        dump="results/{run}/attention/{reader}/train.npz",
        model=get_reader_model,
    output:
        indicators="results/{run}/indicators/{reader}/indicators.json",
    log:
        "logs/compute_indicators/{run}/{reader}.log",
    benchmark:
        "benchmarks/compute_indicators/{run}/{reader}.tsv"
    conda:
        "../../envs/ragdistill.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        **params_of(
            settings.IndicatorSettings,
            reader="{reader}",
            seed=lambda w: seed_of(w.run),
        ),
        code=code_hash("indicators"),
        entry="indicators:compute_indicators",
    script:
        "../scripts/run_stage.py"


rule indicators:
    input:
        get_indicator_targets(),
    localrule: True
