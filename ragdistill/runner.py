"""The one bridge between Snakemake and the library: logging, arguments, and the entry call.

Every rule runs ``workflow/scripts/run_stage.py``, which calls :func:`run_from_snakemake`.
The rule's ``params.entry`` names the library function (``"encode:encode_corpus"``); the
function receives the rule's named inputs, outputs and params as plain dicts. Scripts never read
``snakemake.config``: every setting reaches the code through ``params`` so that Snakemake reruns
a job when it changes.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from typing import Any

from .files import InputError
from .sources import SourceError

# bad input or config: the message names the file and line or the key
USER_ERRORS = (InputError, SourceError)


def _named(namedlist) -> dict[str, Any]:
    return {k: v for k, v in namedlist.items()}


def setup_logging(path: str | None) -> None:
    """Send logging, warnings and stderr (tqdm progress bars too) to the rule's log file."""
    if path:
        stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives as long as the job)
        sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)


def call(entry: str, **kwargs) -> Any:
    module, _, func = entry.partition(":")
    return getattr(importlib.import_module(f"ragdistill.{module}"), func)(**kwargs)


def run_from_snakemake(smk) -> None:
    setup_logging(smk.log[0] if len(smk.log) else None)
    params = _named(smk.params)
    entry = params.pop("entry")
    log = logging.getLogger("ragdistill")
    log.info("rule %s: %s (threads=%s)", smk.rule, entry, smk.threads)
    # before torch is imported, so that its thread pool matches the job's share of cores
    os.environ["OMP_NUM_THREADS"] = str(max(1, int(smk.threads)))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.time()
    try:
        call(entry, inp=_named(smk.input), out=_named(smk.output), params=params)
    except USER_ERRORS as err:
        # bad input or config: the message names the file and line or the key; a traceback
        # through our code would only bury it
        log.error("%s", err)
        sys.exit(1)
    log.info("done in %.1f s", time.time() - start)
