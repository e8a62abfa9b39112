"""Command lines beside the workflow: ``python -m ragdistill.tools.<name> --help``. They may
import any layer, stages included, and nothing outside this folder imports them.

- analyses of a finished run folder (the folder Snakemake ran in; ``run_folder`` reads it):
  ``hits`` (HR@k per split, where the first answer sits), ``gains`` (each distilled retriever's
  test gains), ``teachers`` (each dump's top-1 hit before distilling), ``distillations`` (dev
  curves and kept steps), ``try_distill`` (a distillation setting tried on dev),
  ``bf16_targets`` (bfloat16 against float32 dumps), ``diagnose_mq`` (where MQ comes from),
  ``ladder_scales`` (the teacher ladder's noise scales, chosen on dev by docs/method.md's rule);
- ``plan``: the cost of a preset before it runs;
- ``offline_pack`` with ``offline/run.sh`` and ``offline/present.txt``: the kit that runs the
  workflow on a GPU machine without internet (docs/running.md).
"""
