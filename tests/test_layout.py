"""The house's own claims about itself: the package docstring names every stage, and the schema
cites only files that exist."""

from __future__ import annotations

import re

import ragdistill
from tests.conftest import REPO


def test_the_package_docstring_names_every_stage():
    stages = sorted(p.stem for p in (REPO / "workflow" / "rules").glob("*.smk") if p.stem != "common")
    named = set(re.findall(r"``(\w+)``", ragdistill.__doc__))
    assert not set(stages) - named, f"stages missing from ragdistill/__init__.py: {set(stages) - named}"
    for stage in stages:  # a stage is one rule file plus one module of the same name
        assert (REPO / "ragdistill" / "stages" / f"{stage}.py").exists(), stage


def test_the_schema_cites_files_that_exist():
    text = (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
    for path in set(
        re.findall(r"\b((?:config|docs|bench|ragdistill|workflow)/[\w./-]+\.(?:yaml|md|py))", text)
    ):
        assert (REPO / path).exists(), f"the schema cites {path}, which does not exist"


def _schema_defaults(section: str) -> dict:
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"][section]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


# Defaults that are deliberately not the schema's: the retriever's lengths are None where a rule
# leaves them out (a stage that reads only one side gets only that one; core/settings.py)
NOT_SCHEMA_DEFAULTS = {"RetrieverSettings.query_max_length", "RetrieverSettings.passage_max_length"}


def test_no_schema_default_is_written_twice():
    """A settings field whose key is a config key takes its default, where it has one, from the
    schema (``config_default`` or ``config_key(..., from_schema=True)``), never as a literal: a
    restated default drifts (``evaluate.max_questions`` read 100 in code and 200 in the schema)."""
    import ast

    written = []
    for path in (REPO / "ragdistill" / "core").glob("*settings.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if not isinstance(item, ast.AnnAssign) or item.value is None:
                    continue
                name, value = f"{node.name}.{item.target.id}", item.value
                if item.target.id == "SECTION" or name in NOT_SCHEMA_DEFAULTS:
                    continue
                call = (
                    value.func.id if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) else ""
                )
                if call == "config_default":
                    continue
                if call == "config_key":
                    kw = {k.arg for k in value.keywords}
                    workflow = isinstance(value.args[0], ast.Constant) and value.args[0].value is None
                    if "from_schema" in kw or workflow or "<" in str(getattr(value.args[0], "value", "")):
                        continue
                    if not kw & {"default", "default_factory"}:
                        continue  # a required field
                written.append(f"{path.name}: {name} = {ast.unparse(value)}")
    assert not written, "defaults written beside the schema's:\n" + "\n".join(written)


def test_settings_defaults_are_the_schemas():
    """Every default a settings field takes from the schema is the schema's value at its key (read
    when an object is made without the field: ``default_factory``)."""
    import dataclasses

    from ragdistill.core.settings import WORKFLOW, field_key, schema_default

    wrong, checked = [], 0
    for cls in _settings_classes():
        for f in dataclasses.fields(cls):
            key, name = field_key(f, cls.SECTION), f"{cls.__name__}.{f.name}"
            if key == WORKFLOW or "<" in key or name in NOT_SCHEMA_DEFAULTS:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                continue  # a required field
            checked += 1
            if default != schema_default(key):
                wrong.append(f"{name} = {default!r}, schema {key}: {schema_default(key)!r}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 20, f"only {checked} defaults checked"  # the classes' defaults were found


# The package's layers are its folders, bottom to top (docs/design.md "Layers"): a module may
# import modules of its own folder and of folders below, never above; a stage (one per rule file)
# imports no other stage; the tools sit on top; the two Snakemake entry points (``runner``, which
# every rule's script calls, and ``config_check``, which the Snakefile calls while it plans) sit
# at the package's top and import downwards only.
FOLDERS = ["core", "analysis", "data", "models", "readers", "stages", "tools"]
ENTRY_POINTS = {"runner": "data", "config_check": "data"}  # the highest folder each may import


def _graph() -> dict[str, frozenset[str]]:
    from ragdistill.core.codedeps import PACKAGE, direct_imports

    mods = [".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")]
    mods = [m.removesuffix(".__init__") for m in mods if m != "__init__"]
    return {m: direct_imports(m) for m in mods}


def _rank(module: str) -> int:
    folder = module.split(".")[0]
    if folder in ENTRY_POINTS:
        return FOLDERS.index(ENTRY_POINTS[folder])
    assert folder in FOLDERS, f"ragdistill/{module}: a module outside the layer folders"
    return FOLDERS.index(folder)


def test_every_module_lies_in_a_layer_folder():
    top = {p.stem for p in (REPO / "ragdistill").glob("*.py")} - {"__init__"}
    assert top == set(ENTRY_POINTS), f"modules at the package's top besides the entry points: {top}"
    folders = {p.name for p in (REPO / "ragdistill").iterdir() if (p / "__init__.py").exists()}
    assert folders == set(FOLDERS), folders ^ set(FOLDERS)


def test_stages_import_no_stage_and_layers_import_only_downwards():
    graph = _graph()
    wrong = [
        f"{m} -> {d}"
        for m, deps in graph.items()
        for d in deps
        if _rank(d) > _rank(m) or (m.startswith("stages.") and d.startswith("stages.") and d != "stages")
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_a_stage_is_one_rule_file_plus_one_module_of_the_same_name():
    rules = {p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")} - {"common"}
    modules = {p.stem for p in (REPO / "ragdistill" / "stages").glob("*.py")} - {"__init__"}
    assert rules == modules, rules ^ modules


def test_the_package_has_no_import_circle():
    graph = _graph()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for d in graph[todo.pop()] - seen:
                seen.add(d)
                todo.append(d)
        return seen

    assert not [m for m in graph if m in reach(m)]


def test_only_the_readers_package_asks_which_kind_a_reader_is():
    """The reader's kind is decided once (ragdistill/readers/__init__.py); everything else calls
    the interface. These are the ways the code used to ask."""
    asks = re.compile(
        r"is_encoder_decoder|\.passages is not None|\"n_docs\" in|ReaderShape|(?<!readers)\.fid\b"
    )
    found = [
        f"{p.relative_to(REPO)}:{i}"
        for p in (REPO / "ragdistill").rglob("*.py")
        if "readers" not in p.parts and p.name != "tiny.py"  # models.init_model builds tiny T5s
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if asks.search(line)
    ]
    assert not found, found


def test_code_hashes_follow_the_readers_subpackage(tmp_path):
    """A rule whose stage reads through a reader kind reruns when that kind's module changes."""
    import shutil

    from ragdistill.core.codedeps import PACKAGE, code_digest, code_modules

    mods = code_modules("stages.attention")
    assert {"readers", "readers.base", "readers.decoder", "readers.fid", "readers.capture"} <= set(mods)
    copy = tmp_path / "ragdistill"
    shutil.copytree(PACKAGE, copy)
    assert code_digest(copy, mods) == code_digest(PACKAGE, mods)
    (copy / "readers" / "fid.py").write_text((copy / "readers" / "fid.py").read_text() + "\n# edited\n")
    assert code_digest(copy, mods) != code_digest(PACKAGE, mods)
    assert "readers.fid" not in code_modules("stages.report")


def _settings_classes() -> list[type]:
    """Every settings dataclass of the package: those that declare their config ``SECTION``."""
    import dataclasses
    import importlib

    found = {}
    for path in (REPO / "ragdistill").rglob("*.py"):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if dataclasses.is_dataclass(obj) and isinstance(obj, type) and "SECTION" in vars(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def _keys_read(cls: type, prefix: str | None = None) -> set[str]:
    """The config keys a settings class's fields stand for, nested classes walked (each field's
    own key, else the section's prefix plus its name; values the workflow gives left out)."""
    import dataclasses
    import typing

    from ragdistill.core.settings import WORKFLOW, field_key

    prefix = cls.SECTION if prefix is None else prefix
    hints = typing.get_type_hints(cls)
    out = set()
    for f in dataclasses.fields(cls):
        key = field_key(f, prefix)
        if key == WORKFLOW:
            continue
        kinds = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [hints[f.name]]
        nested = [k for k in kinds if dataclasses.is_dataclass(k)]
        out |= _keys_read(nested[0], f"{key}.") if nested else {key}
    return out


def _schema_has(schema: dict, key: str) -> bool:
    node = {"properties": schema["properties"]}
    for part in key.split("."):
        props = node.get("properties") or {}
        if part in props:
            node = props[part]
        elif part == "<name>" and (node.get("additionalProperties") or node.get("patternProperties")):
            extra = node.get("additionalProperties") or next(iter(node["patternProperties"].values()))
            node = extra if isinstance(extra, dict) else {}
        else:
            return False
    return True


def test_every_settings_field_names_a_config_key_that_exists():
    """Errors name a field's config key (ragdistill/core/settings.py); each must be a key a user can
    set, not a section that does not exist (``arms.``) or another section's name for it."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    classes = _settings_classes()
    assert {c.__name__ for c in classes} >= {"DistillSettings", "RetrieverSettings", "ArmSettings"}
    missing = sorted(
        f"{c.__name__}: {k}" for c in classes for k in _keys_read(c) if not _schema_has(schema, k)
    )
    assert not missing, f"settings fields naming config keys the schema lacks: {missing}"


def test_every_schema_key_is_read_by_a_settings_class_or_the_workflow():
    """A key in the schema that nothing reads would be a setting that silently does nothing.
    Read means: the config key of a settings class's field (nested classes walked), or a key the
    workflow reads by name (``config["<section>"]["<key>"]`` in the rule files or
    ragdistill/core/grid.py)."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    taken = set().union(*(_keys_read(c) for c in _settings_classes()))
    workflow = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    workflow += (REPO / "Snakefile").read_text() + (REPO / "ragdistill" / "core" / "grid.py").read_text()
    unread = []
    for section, spec in schema["properties"].items():
        for key in spec.get("properties") or {}:
            by_name = re.search(rf'\["{section}"\]\["{key}"\]|\["{section}"\]\.get\("{key}"', workflow)
            if f"{section}.{key}" not in taken and not by_name:
                unread.append(f"{section}.{key}")
    assert not unread, f"schema keys that nothing reads: {unread}"
