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
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
# params that are not settings: where a job keeps its checkpoints (ragdistill/resume.py)
JOB_PARAMS = frozenset({"resume_dir"})


def _convert(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, options[0], key)
    if value is None:
        raise ValueError(f"config key {key}: null is not allowed here")
    base = origin or kind
    if dataclasses.is_dataclass(base):
        if not isinstance(value, dict):
            raise ValueError(f"config key {key}: {value!r} is not a mapping")
        return from_params(base, value, f"{key}.")
    if base is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config key {key}: {value!r} is not true or false")
        return value
    if base in (int, float, str):
        try:
            out = base(value)
        except (TypeError, ValueError):
            raise ValueError(f"config key {key}: {value!r} is not of type {base.__name__}") from None
        if base is int and isinstance(value, float) and value != out:
            raise ValueError(f"config key {key}: {value!r} is not a whole number")
        return out
    if base in (dict, list, tuple):
        if not isinstance(value, dict if base is dict else (list, tuple)):
            raise ValueError(f"config key {key}: {value!r} is not a {base.__name__}")
        return base(value)
    return value


def from_params(cls: type[T], params: dict, prefix: str = "") -> T:
    """``cls`` (a dataclass) from a rule's params; ``prefix`` names the config section in errors."""
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
        key = f"{prefix}{f.name}"
        if f.name in params:
            values[f.name] = _convert(params[f.name], hints[f.name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"config key {key}: missing (the rule's params lack it)")
    return cls(**values)
