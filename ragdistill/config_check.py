"""Config validation with messages that name the offending key as a dotted path."""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """The config does not fit the schema; the message names every offending key."""


def check_config(config: dict, schema_path: str | Path) -> None:
    """Raise ConfigError listing each violation as ``config key a.b.c: reason``."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    lines = []
    for err in errors:
        path = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for key in extra:
                lines.append(f"config key {path + '.' if err.absolute_path else ''}{key}: unknown key")
            continue
        lines.append(f"config key {path}: {err.message}")
    if not errors:  # the world's sizes only once its keys and types are known good
        lines = _world_problems(config)
    if lines:
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))


def _world_problems(config: dict) -> list[str]:
    """Sizes the world generator cannot meet, found at planning time rather than in fetch_data
    (where too many people for the name pools would otherwise never finish)."""
    from .world import WorldConfig, size_problems

    lines = []
    for name, ds in (config.get("datasets") or {}).items():
        if isinstance(ds, dict) and isinstance(ds.get("world"), dict):
            for key, why in size_problems(WorldConfig(**ds["world"])):
                lines.append(f"config key datasets.{name}.world.{key}: {why}")
    return lines
