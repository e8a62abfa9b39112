"""Which library modules a stage's code depends on, read from the imports themselves.

A rule gives the hash of the modules its job imports as a param (:func:`code_digest`), so that
editing one reruns the job (Snakemake does not follow imports) while moving the project does not.
Lists kept by hand drift from the code; this derives them:
the entry module and, transitively, every ``ragdistill`` module it imports (at the top or inside
a function), read with :mod:`ast` (nothing is imported). Left out: ``files`` (reading and writing),
``runner`` (the Snakemake bridge) and ``__init__``. Nearly every job imports them, and none of
them computes a result, so an edit there would rerun the whole study for nothing. A change in
them that does alter outputs needs ``snakemake -R``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NOT_TRACKED = frozenset({"files", "runner", "__init__"})


@functools.cache
def direct_imports(module: str, package: Path = PACKAGE) -> frozenset[str]:
    """Modules of the package that ``module`` imports anywhere in its source (read once per
    Snakemake invocation: every rule's code hash walks the same modules)."""
    tree = ast.parse((package / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x / from .x import y
                found |= {a.name for a in node.names} if node.module is None else {node.module.split(".")[0]}
            elif node.level == 0 and node.module and node.module.split(".")[0] == package.name:
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith(f"{package.name}.")}
    return frozenset(m for m in found if (package / f"{m}.py").exists())


def code_modules(entry: str, package: Path = PACKAGE) -> list[str]:
    """``entry`` and every package module it reaches through imports, less :data:`NOT_TRACKED`."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(direct_imports(m, package) - seen)
    return sorted(seen - NOT_TRACKED)


def code_digest(package: Path, modules: list[str]) -> str:
    """A short hash of the modules' source text (names and content, in order): what a job's
    result depends on in code, independent of where the files lie and of their times."""
    h = hashlib.sha256()
    for m in modules:
        h.update(m.encode() + b"\0" + (Path(package) / f"{m}.py").read_bytes() + b"\0")
    return h.hexdigest()[:16]
