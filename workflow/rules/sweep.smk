# The teacher-quality sweep (grid.teachers): each teacher's indicators against the test HR@5
# gain of the ADist retriever it taught, and the control teachers' (grid.controls) beside them;
# included only when either is set.
rule teacher_sweep:
    input:
        unpack(get_sweep_inputs),
    output:
        # the figure only with two teachers per seed or more (a panel of one point says nothing)
        **(
            {
                "sweep_pdf": "results/{run}/figures/sweep.pdf",
                "png": report(
                    "results/{run}/figures/sweep.png",
                    caption="../report/sweep.rst",
                    category="Indicators",
                    labels={"run": "{run}", "figure": "teacher-quality sweep"},
                ),
            }
            if SWEEP_FIGURE
            else {}
        ),
        sweep="results/{run}/sweep/sweep.json",
    log:
        "logs/teacher_sweep/{run}.log",
    wildcard_constraints:
        run=RUN_NAMES,
    localrule: True
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        **params_of(
            settings.SweepSettings,
            # each teacher of the sweep (grid.teachers, then the ladder's rungs) per seed
            rows=[
                {"seed": s, "teacher": t, "label": GRID.sweep_label(t)}
                for s in SEEDS
                for t in SWEEP
            ],
            controls=[{"seed": s, "teacher": t} for s in SEEDS for t in CONTROLS],
        ),
        code=code_hash("sweep"),
        entry="sweep:teacher_sweep",
    script:
        "../scripts/run_stage.py"
