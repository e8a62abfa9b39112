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
        **{k: v for k, v in config["indicators"].items() if k != "polar_cut"},
        code=code_hash("indicators"),
        # polar_cut is the arms stage's (claim 8), not a per-reader measure
        entry="indicators:compute_indicators",
        reader="{reader}",
        seed=lambda w: seed_of(w.run),
    script:
        "../scripts/run_stage.py"


rule indicators:
    input:
        get_indicator_targets(),
    localrule: True
