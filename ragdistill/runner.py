"""The one bridge between Snakemake and the library: logging, arguments, and the entry call.

Every rule runs ``workflow/scripts/run_stage.py``, which calls :func:`run_from_snakemake`.
The rule's ``params.entry`` names the stage function (``"encode:encode_corpus"``: the function
``encode_corpus`` of ``ragdistill/stages/encode.py``, the module named after the rule file); the
function receives the rule's named inputs, outputs and params as plain dicts. Scripts never read
``snakemake.config``: every setting reaches the code through ``params`` so that Snakemake reruns
a job when it changes.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ragdistill.core.files import DamagedFile, InputError
from ragdistill.data.sources import SourceError

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
    return getattr(importlib.import_module(f"ragdistill.stages.{module}"), func)(**kwargs)


def clean_temporaries(outputs: list[str]) -> list[Path]:
    """Remove what a killed earlier attempt left beside each output: the temporary names of
    :func:`ragdistill.core.files.atomic_path` (``.<name>.*``) and of downloads (``<name>.part``), so
    that nothing half-written survives to look complete. Returns what was removed."""
    import shutil

    removed = []
    for out in map(Path, outputs):
        if not out.parent.is_dir():
            continue
        for left in [*out.parent.glob(f".{out.name}.*"), out.parent / f"{out.name}.part"]:
            if left.is_dir():
                shutil.rmtree(left, ignore_errors=True)
            elif left.exists():
                left.unlink()
            else:
                continue
            removed.append(left)
    return removed


def disk_error_line(err: Exception, outputs: list[str]) -> str | None:
    """One line for a disk or file-system error (read-only, full, no permission), naming the
    path and the reason; None for any other error (which keeps its traceback)."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover (a dependency of transformers)
        SafetensorError = ()  # noqa: N806
    where = ", ".join(outputs) or "the job's outputs"
    if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
        path = output_of(str(err.filename), outputs) if err.filename else where
        return f"{path}: {err.strerror or os.strerror(err.errno)} (errno {errno.errorcode[err.errno]})"
    if isinstance(err, SafetensorError) and "os error" in str(err).lower():
        return f"writing {where}: {err}"
    return None


def output_of(path: str, outputs: list[str]) -> str:
    """The output a failing path belongs to: the output itself, or for the temporary file an
    atomic write makes beside it (``files.atomic_path``: ``.<name>.<random><suffix>`` in the same
    folder) the output it was to become, which is what the user knows and can delete."""
    p = Path(path)
    for out in outputs:
        o = Path(out)
        if p == o or (p.parent == o.parent and p.name.startswith(f".{o.name}.")):
            return out
        if o in p.parents:  # a file inside a folder output
            return out
    return path


# read-only file system, disk full, quota, no permission
# read-only, full, over quota, over the file-size limit (ulimit -f, a file system's own), forbidden
DISK_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM})


def run_from_snakemake(smk) -> None:
    setup_logging(smk.log[0] if len(smk.log) else None)
    params = _named(smk.params)
    entry = params.pop("entry")
    params.pop("code", None)  # the code's hash: it reruns the job, the job does not need it
    log = logging.getLogger("ragdistill")
    log.info("rule %s: %s (threads=%s)", smk.rule, entry, smk.threads)
    log.info("library: %s", Path(__file__).resolve().parent)
    # before torch is imported, so that its thread pool matches the job's share of cores
    os.environ["OMP_NUM_THREADS"] = str(max(1, int(smk.threads)))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the resolved config, for the report's provenance (provenance.job_config): not a param, so
    # that it triggers no rerun
    os.environ["RAGDISTILL_CONFIG"] = json.dumps(dict(getattr(smk, "config", None) or {}), default=str)
    outputs = [str(o) for o in smk.output]
    for left in clean_temporaries(outputs):
        log.info("removed %s, left by an interrupted attempt", left)
    start = time.time()
    try:
        call(entry, inp=_named(smk.input), out=_named(smk.output), params=params)
    except USER_ERRORS as err:
        # bad input or config: the message names the file and line or the key; a traceback
        # through our code would only bury it
        if isinstance(err, DamagedFile):  # what to delete: the input (a folder, say) holding it
            err.owned_by([str(i) for i in smk.input])
        log.error("%s", err)
        sys.exit(1)
    except Exception as err:
        line = disk_error_line(err, outputs)
        if line is None:
            raise
        log.error("%s", line)
        sys.exit(1)
    log.info("done in %.1f s", time.time() - start)
