rule compare_arms:
    input:
        unpack(get_arm_inputs),
    output:
        report=report(
            "results/arms/arms.md",
            caption="../report/arms.rst",
            category="Report",
            labels={"file": "arms.md"},
        ),
        claims="results/arms/claims.json",
        figure=report(
            "results/arms/mq_arms.png",
            caption="../report/arms.rst",
            category="Figures",
            labels={"figure": "mq_arms"},
        ),
        figure_pdf="results/arms/mq_arms.pdf",
    log:
        "logs/compare_arms.log",
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        code=code_hash("arms"),
        entry="arms:compare_arms",
        runs=RUNS,
        readers=arm_readers(),
        seeds=SEEDS,
        polar_cut=config["indicators"]["polar_cut"],
        bootstrap=config["report"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/run_stage.py"


rule arms:
    input:
        "results/arms/arms.md",
    localrule: True
