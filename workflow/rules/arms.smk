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
        **params_of(settings.ArmSettings, readers=arm_readers()),
        code=code_hash("arms"),
        entry="arms:compare_arms",
    script:
        "../scripts/run_stage.py"


rule arms:
    input:
        "results/arms/arms.md",
    localrule: True
