"""Test hook, imported at start-up by every Python process that has this folder on PYTHONPATH
(a reliability test puts it there for one workflow run): a job's own script process (Snakemake's
copy of ``workflow/scripts/run_stage.py``) gets a file-size limit of ``$RAGDISTILL_TEST_FSIZE``
bytes, as ``ulimit -f`` would set, so that a real write fails with EFBIG inside the job while
Snakemake itself, which copies files of its own, runs unlimited. Nothing of the product imports
or knows this file."""

import os
import resource
import sys

_LIMIT = os.environ.get("RAGDISTILL_TEST_FSIZE")
if _LIMIT and sys.argv and sys.argv[0].endswith("run_stage.py"):
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(_LIMIT), int(_LIMIT)))
