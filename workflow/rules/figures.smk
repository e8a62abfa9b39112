rule plot_figures:
    input:
        indicators=get_indicator_files,
        metrics=get_cell_metrics,
        curves=get_curves,
        finetune=get_finetune_metrics,
        dumps=get_example_dumps,
        # the example figure's question, from the first seed's replicate
        retrieved=lambda w: f"results/{replicate(w.run, SEEDS[0])}/retrieve/initial/train.jsonl",
    output:
        **{f"{f}_pdf": f"results/{{run}}/figures/{f}.pdf" for f in FIGURES},
        distance=report(
            "results/{run}/figures/distance.png",
            caption="../report/distance.rst",
            category="Indicators",
            labels={"run": "{run}", "figure": "distance profile"},
        ),
        pat=report(
            "results/{run}/figures/pat.png",
            caption="../report/pat.rst",
            category="Indicators",
            labels={"run": "{run}", "figure": "PAT_TN"},
        ),
        mq=report(
            "results/{run}/figures/mq.png",
            caption="../report/mq.rst",
            category="Indicators",
            labels={"run": "{run}", "figure": "MQ distribution"},
        ),
        grid=report(
            "results/{run}/figures/grid.png",
            caption="../report/grid.rst",
            category="Evaluation",
            labels={"run": "{run}", "figure": "grid"},
        ),
        curves=report(
            "results/{run}/figures/curves.png",
            caption="../report/curves.rst",
            category="Distillation",
            labels={"run": "{run}", "figure": "training curves"},
        ),
        finetune=report(
            "results/{run}/figures/finetune.png",
            caption="../report/finetune.rst",
            category="Readers",
            labels={"run": "{run}", "figure": "reader fine-tuning"},
        ),
        example=report(
            "results/{run}/figures/example.png",
            caption="../report/example.rst",
            category="Indicators",
            labels={"run": "{run}", "figure": "one example's attention"},
        ),
    log:
        "logs/plot_figures/{run}.log",
    wildcard_constraints:
        run=RUN_NAMES,
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        **params_of(settings.FigureSettings, cells=grid_cells()),
        code=code_hash("figures"),
        entry="figures:plot_figures",
    script:
        "../scripts/run_stage.py"


rule figures:
    input:
        get_figure_targets(),
    localrule: True
