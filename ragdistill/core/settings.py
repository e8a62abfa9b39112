"""Typed settings: each stage turns its rule's ``params`` into a frozen dataclass once, at entry.

A stage used to read ``params["..."]`` wherever it needed a value, converting it there; a typo
then failed deep inside, late, and the same conversion was repeated. Now each stage declares a
dataclass of what it reads (the field names are the params keys), and :func:`from_params` builds
it: every field present, each value converted to the field's type (``int``, ``float``, ``bool``,
``str``, ``dict``, ``list``, ``X | None``, or another such dataclass for a nested section), or a
``ValueError`` naming the config key. A key the dataclass does not name is an error too (a
setting added to the schema and the rule but forgotten in the dataclass would otherwise be
silently unused while still rerunning jobs); only :data:`JOB_PARAMS`, paths the workflow gives a
job rather than settings, are let through.

Every error names the config key a user would change. A field's key is the section's prefix
plus its name unless the field says otherwise with :func:`config_key` (``k`` is the top-level ``k``,
``mq_threshold`` in the figures' settings is ``indicators.mq_threshold``), or says that the
workflow, not the config, gives it (``config_key(None)``: a wildcard such as a seed, the grid's cells).
A test walks every settings class and checks each key against the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")
# params that are not settings: where a job keeps its checkpoints (ragdistill/models/resume.py)
JOB_PARAMS = frozenset({"resume_dir"})


WORKFLOW = "(set by the workflow)"


def config_key(name: str | None, *, from_schema: bool = False, **kwargs: Any) -> Any:
    """A dataclass field whose config key is ``name`` (a dotted path from the config's top) instead
    of the section's prefix plus the field's name; ``None``: a value the workflow gives the job
    (a wildcard, the grid's cells), which no config key sets. ``from_schema``: its default is the
    schema's for ``name`` (:func:`schema_default`). ``kwargs`` go to ``dataclasses.field``."""
    if from_schema:
        kwargs["default_factory"] = functools.partial(schema_default, name)
    return dataclasses.field(metadata={"key": WORKFLOW if name is None else name}, **kwargs)


def field_key(f: dataclasses.Field, prefix: str) -> str:
    """The config key of a settings field, as errors name it (:func:`config_key`)."""
    return f.metadata.get("key", f"{prefix}{f.name}")


def _where(key_: str, name: str) -> str:
    return f"config key {key_}" if key_ != WORKFLOW else f"the rule's param {name!r} {WORKFLOW}"


def _convert(value: Any, kind: Any, key_: str, name: str) -> Any:
    where = _where(key_, name)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, options[0], key_, name)
    if value is None:
        raise ValueError(f"{where}: null is not allowed here")
    base = origin or kind
    if dataclasses.is_dataclass(base):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {value!r} is not a mapping")
        return from_params(base, value, f"{key_}.")
    if base is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {value!r} is not true or false")
        return value
    if base in (int, float, str):
        try:
            out = base(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {value!r} is not of type {base.__name__}") from None
        if base is int and isinstance(value, float) and value != out:
            raise ValueError(f"{where}: {value!r} is not a whole number")
        return out
    if base in (dict, list, tuple):
        if not isinstance(value, dict if base is dict else (list, tuple)):
            raise ValueError(f"{where}: {value!r} is not a {base.__name__}")
        return base(value)
    return value


def from_params(cls: type[T], params: dict, prefix: str | None = None) -> T:
    """``cls`` (a dataclass) from a rule's params. Errors name each field's config key: its own
    (:func:`config_key`), else ``prefix`` plus its name, where ``prefix`` defaults to the class's
    ``SECTION`` (``"distill."``)."""
    prefix = getattr(cls, "SECTION", "") if prefix is None else prefix
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(params) - {f.name for f in dataclasses.fields(cls)} - JOB_PARAMS)
    if unknown:
        raise ValueError(
            f"config key {prefix}{unknown[0]}: not a setting of {cls.__name__} (it takes "
            f"{', '.join(f.name for f in dataclasses.fields(cls))}); a key given to the rule but read "
            "by nothing would be silently unused"
        )
    values = {}
    for f in dataclasses.fields(cls):
        key_ = field_key(f, prefix)
        where = _where(key_, f.name)
        if f.name in params:
            values[f.name] = _convert(params[f.name], hints[f.name], key_, f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where}: missing (the rule's params lack it)")
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class RetrieverSettings:
    """``retriever``: the bi-encoder and how it encodes. One class for every stage that encodes
    (tokenising the corpus, encoding it, retrieving, distilling), which the rules pass the whole
    ``retriever`` section to, so that its settings are named and converted in one place."""

    SECTION: ClassVar[str] = "retriever."

    model: str
    pooling: str
    normalize: bool
    batch_size: int
    # None where the rule leaves a length out: a stage that reads only one side gets only that
    # one, so that the other reruns nothing of it
    query_max_length: int | None = None
    passage_max_length: int | None = None


# The config schema: the one place a setting's default is written (its ``default``); a settings
# field that needs a default takes it from here (schema_default) instead of restating it.
SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    import yaml

    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def schema_default(key: str) -> Any:
    """The schema's default for the dotted config key ``key`` (``"prompt.max_doc_tokens"``), for a
    settings field's default: a KeyError names a key the schema lacks or gives no default."""
    node: dict = _schema()
    for part in key.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            raise KeyError(f"config key {key}: not in the schema ({SCHEMA.name})")
    if "default" not in node:
        raise KeyError(f"config key {key}: the schema gives it no default")
    return node["default"]


def config_default(key: str) -> Any:
    """A dataclass field whose default is the schema's for ``key`` (its config key), read when a
    settings object is made without it (not at import: the package imports without the
    workflow's schema beside it, as a copy of ``ragdistill/`` alone or a wheel)."""
    return dataclasses.field(default_factory=functools.partial(schema_default, key))


def config_value(config: dict, key: str, missing: Callable[[str], Any]) -> Any:
    """The config's value at the dotted ``key``; where a part is absent, ``missing(key)`` (which
    raises, or gives a default such as :func:`schema_default`)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return missing(key)
        node = node[part]
    return node


def _missing_for(cls_name: str) -> Callable[[str], Any]:
    def missing(key: str) -> Any:
        raise ValueError(f"config key {key}: missing (read by {cls_name})")

    return missing


def params_of(cls: type, config: dict, unread: tuple[str, ...] = (), **given: Any) -> dict:
    """A rule's params for the stage that reads ``cls``, built from the class's fields: each field
    from the config at its key (the whole section for a nested settings class), a value the
    workflow gives (``config_key(None)``, or a field the rule sets otherwise: a wildcard, a
    resolved count, a section with keys left out) from ``given``. So a setting is named in the
    schema and its class only; the rule lists just what the workflow decides. A workflow field
    with a default may be left out (the job then uses the default); one without is an error, as
    is a name in ``given`` that the class lacks. ``unread``: fields with a default that this
    rule's function does not read, left out so that changing them reruns nothing of it."""
    names = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(given) - names)
    if extra:
        raise ValueError(f"params_of({cls.__name__}): {extra[0]!r} is not one of its fields")
    out: dict = {}
    for f in dataclasses.fields(cls):
        key = field_key(f, getattr(cls, "SECTION", ""))
        if f.name in unread:
            continue
        if f.name in given:
            out[f.name] = given[f.name]
        elif key == WORKFLOW or "<" in key:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"params_of({cls.__name__}): the workflow must give {f.name!r}")
        else:
            out[f.name] = config_value(config, key, _missing_for(cls.__name__))
    return out
