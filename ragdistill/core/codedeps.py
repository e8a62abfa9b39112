"""Which library modules a stage's code depends on, read from the imports themselves.

A rule gives the hash of the modules its job imports as a param (:func:`code_digest`), so that
editing one reruns the job (Snakemake does not follow imports) while moving the project does not.
Lists kept by hand drift from the code; this derives them:
the entry module and, transitively, every ``ragdistill`` module it imports (at the top or inside
a function; in subpackages too, named by dotted path: ``readers.fid``), read with :mod:`ast`
(nothing is imported). Left out: ``core.files`` (reading and writing),
``runner`` (the Snakemake bridge), the package's ``__init__`` and the ``__init__`` of each layer
folder that holds only the folder's description (``core``, ``analysis``, ``data``, ``stages``,
``tools``). Nearly every job imports them, and none of them computes a result, so an edit there
would rerun the whole study for nothing. A change in
them that does alter outputs needs ``snakemake -R``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # ragdistill/
NOT_TRACKED = frozenset({"core.files", "runner", "__init__", "core", "analysis", "data", "stages", "tools"})


def module_file(module: str, package: Path = PACKAGE) -> Path | None:
    """The source file of a package module named by its dotted path inside the package
    (``stages.attention``, ``readers``, ``readers.fid``), or None where there is none."""
    base = package.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _resolve(importer: str, node: ast.ImportFrom, package: Path) -> set[str]:
    """The package modules one ``from ... import ...`` statement of ``importer`` names."""
    if node.level == 0:
        parts = (node.module or "").split(".")
        if parts[0] != package.name:
            return set()
        target = parts[1:]
    else:
        # the importer's own package: itself for a package's __init__, else its parent
        here = importer.split(".")
        own = here if module_file(importer, package).name == "__init__.py" else here[:-1]
        if node.level - 1 > len(own):
            return set()
        target = own[: len(own) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    found = set()
    for alias in node.names:  # `from .readers import fid` names a module; `from .x import y`, x
        sub = ".".join([*target, alias.name])
        if module_file(sub, package) is not None:
            found.add(sub)
        elif target:
            found.add(".".join(target))
    return {m for m in found if module_file(m, package) is not None}


@functools.cache
def direct_imports(module: str, package: Path = PACKAGE) -> frozenset[str]:
    """Modules of the package that ``module`` imports anywhere in its source, by dotted path
    inside the package, subpackages included (read once per Snakemake invocation: every rule's
    code hash walks the same modules). Importing a subpackage's module runs the subpackage's
    ``__init__`` first, so that counts as imported too (not for the subpackage's own modules,
    whose ``__init__`` is already running)."""
    path = module_file(module, package)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found |= _resolve(module, node, package)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(f"{package.name}."):
                    name = a.name.split(".", 1)[1]
                    if module_file(name, package) is not None:
                        found.add(name)
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}  # already running
    return frozenset((found | parents) - own - {module})


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
        h.update(m.encode() + b"\0" + module_file(m, Path(package)).read_bytes() + b"\0")
    return h.hexdigest()[:16]
