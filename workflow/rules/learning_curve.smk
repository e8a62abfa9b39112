# The learning curve (curve.sizes): each teacher's ADist retrievers on nested subsets of the
# training questions, their test gains over the initial retriever and the transfer of the
# teacher's top-1 advantage; included only when curve.sizes is set.
rule learning_curve:
    input:
        unpack(get_curve_inputs),
    output:
        curve="results/{run}/curve/curve.json",
        pdf="results/{run}/figures/learning_curve.pdf",
        png=report(
            "results/{run}/figures/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Distillation",
            labels={"run": "{run}", "figure": "learning curve"},
        ),
    log:
        "logs/learning_curve/{run}.log",
    wildcard_constraints:
        run=RUN_NAMES,
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        **params_of(settings.CurveSettings, rows=curve_rows()),
        code=code_hash("learning_curve"),
        entry="learning_curve:learning_curve",
    script:
        "../scripts/run_stage.py"
