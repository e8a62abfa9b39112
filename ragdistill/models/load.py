"""Loading and saving: safetensors only, no remote code unless the config says so, and a
model's recorded source carried to what is trained from it."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ragdistill.core.files import DamagedFile, read_json, reading, safetensors_error

log = logging.getLogger(__name__)


SOURCE_FILE = "ragdistill_source.json"


def trusts_remote_code(path: str | os.PathLike) -> bool:
    """Whether the config allowed this model's own Python code (``models.<name>.trust_remote_code``).

    fetch_model records the setting in the model folder, and trained copies carry it on, so that
    every later stage loads the model the way the config said, and the default is off.
    """
    meta = Path(path) / SOURCE_FILE
    if not meta.exists():
        return False
    return bool(read_json(meta, remove=path).get("trust_remote_code", False))


def _unreadable_weights(folder: str | os.PathLike) -> Path | None:
    """The first ``*.safetensors`` file of ``folder`` whose header does not read (cheap: the
    header only), to name it rather than the folder."""
    from safetensors import safe_open

    for f in sorted(Path(folder).glob("*.safetensors")):
        try:
            with safe_open(str(f), "pt"):
                pass
        except safetensors_error():
            return f
    return None


@contextmanager
def reading_model(folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Loading a model folder: weights that do not decode (safetensors), a config or tokenizer
    that is not JSON, become one :class:`DamagedFile` line naming the file and the folder to
    delete. transformers' own ValueErrors and RuntimeErrors (an unknown model type, a shape
    mismatch) keep their traceback: they are not damage."""
    errors = (*safetensors_error(), json.JSONDecodeError, UnicodeDecodeError)
    try:
        with reading(folder, what, remove=folder, errors=errors):
            yield
    except DamagedFile as err:
        if isinstance(err.__cause__, safetensors_error()):
            bad = _unreadable_weights(folder)
            raise DamagedFile(bad or folder, f"{what}'s weights", err.reason, folder) from err.__cause__
        raise


def _builtin_class(auto_name: str, model_type: str) -> str | None:
    """The class transformers itself has for ``model_type`` where ``auto_name`` (an ``auto_map``
    key: ``AutoModelForCausalLM``...) asks for one; None where it has none."""
    from transformers.models.auto import configuration_auto, modeling_auto, tokenization_auto

    names = {
        "AutoConfig": configuration_auto.CONFIG_MAPPING_NAMES,
        "AutoModel": modeling_auto.MODEL_MAPPING_NAMES,
        "AutoModelForCausalLM": modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        "AutoModelForSeq2SeqLM": modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        "AutoTokenizer": tokenization_auto.TOKENIZER_MAPPING_NAMES,
    }.get(auto_name, {})
    found = names.get(model_type)
    if isinstance(found, tuple | list):
        found = next((f for f in found if f), None)
    return found


def remote_code_note(path: str | os.PathLike, trust: bool, key: str) -> str | None:
    """What the model folder's own Python code (``auto_map`` in its config.json) comes to when
    the config does not allow remote code: never silently ignored.

    Where transformers has the model type built in (``llama``), it loads its own class and the
    custom one is ignored: the returned warning names both. Where it does not, loading could only
    fail with transformers' request for a Python argument: this stops now with
    :class:`ragdistill.data.sources.SourceError` naming ``key`` (``models.<name>.trust_remote_code``),
    the setting that allows the code. None where there is no custom code or it is allowed.
    """
    config = Path(path) / "config.json"
    if trust or not config.exists():
        return None
    cfg = read_json(config, remove=path)
    auto_map = cfg.get("auto_map") or {}
    if not auto_map:
        return None
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    from ragdistill.data.sources import SourceError

    custom = "; ".join(
        f"{k}: {', '.join(filter(None, v)) if isinstance(v, list | tuple) else v}"
        for k, v in sorted(auto_map.items())
    )
    model_type = cfg.get("model_type")
    if model_type not in CONFIG_MAPPING_NAMES:
        raise SourceError(
            f"{key}: {config} names the model's own Python code in auto_map ({custom}) for model type "
            f"{model_type!r}, which transformers does not have built in; set {key}: true to run that "
            "code (read it first), or use another model"
        )
    fallback = {"AutoTokenizer": "tokenizer_config.json's tokenizer_class"}
    used = [
        f"{k} -> {_builtin_class(k, model_type) or fallback.get(k, f'the {model_type} class')}"
        for k in sorted(auto_map)
    ]
    return (
        f"{key}: {config} names the model's own Python code in auto_map ({custom}), which runs only "
        f"with {key}: true; transformers' built-in {model_type!r} classes are used instead "
        f"({'; '.join(used)})"
    )


def warn_remote_code(path: str | os.PathLike, trust: bool) -> None:
    """:func:`remote_code_note` at loading, the config key named from the folder's source record
    (a trained copy carries its base model's)."""
    meta = Path(path) / SOURCE_FILE
    name = read_json(meta, remove=path).get("name", "<name>") if meta.exists() else "<name>"
    note = remote_code_note(path, trust, f"models.{name}.trust_remote_code")
    if note:
        log.warning("%s", note)


def context_length(config) -> int | None:
    """A model's context length in tokens (``max_position_embeddings``, GPT-2's ``n_positions``)
    from its transformers config or its config.json read as a dict; None where it states none."""
    for name in ("max_position_embeddings", "n_positions"):
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def save_trained(model, tokenizer, out_dir: str | os.PathLike, base: str | os.PathLike) -> None:
    """Save a trained copy of the model at ``base`` as safetensors, with its tokenizer and base's
    source record (so the copy keeps the trust_remote_code setting the config gave the base)."""
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    meta = Path(base) / SOURCE_FILE
    if meta.exists():
        shutil.copy2(meta, Path(out_dir) / SOURCE_FILE)


def same_weights(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two saved models hold the same tensors: the same names, dtypes, shapes and values.

    A distillation that keeps step 0 saves the initial retriever's weights unchanged; the
    encode and retrieve stages then read the initial index and retrieval instead of computing
    them again (the same numbers, about a minute less per such retriever on a CPU).
    """
    from safetensors.torch import load_file

    def tensors(path) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for f in sorted(Path(path).glob("*.safetensors")):
            with reading(f, "the model's weights", remove=path, errors=safetensors_error()):
                out.update(load_file(f))
        return out

    ta, tb = tensors(a), tensors(b)
    if not ta or ta.keys() != tb.keys():
        return False
    return all(
        x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
        for x, y in ((ta[k], tb[k]) for k in ta)
    )


def load_tokenizer(
    path: str | os.PathLike, trust_remote_code: bool | None = None, padding_side: str = "right"
):
    from transformers import AutoTokenizer

    if trust_remote_code is None:
        trust_remote_code = trusts_remote_code(path)
    with reading_model(path, "the tokenizer"):
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def load_encoder(path: str | os.PathLike, trust_remote_code: bool | None = None):
    from transformers import AutoModel

    if trust_remote_code is None:
        trust_remote_code = trusts_remote_code(path)
    warn_remote_code(path, trust_remote_code)
    with reading_model(path, "the encoder"):
        return AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code)
