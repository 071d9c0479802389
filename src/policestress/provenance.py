"""Provenance of a site's outputs: versions, data checksum, git commit, seed, table checksums.

The stage runner updates ``reports/<site>/provenance.json`` after every successful stage, so
the record always describes the outputs on disk; ``make verify`` and the report read it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from policestress.config import load_site
from policestress.paths import SitePaths

# Packages whose versions decide the numbers and figures.
KEY_PACKAGES = (
    "policestress",
    "numpy",
    "scipy",
    "pandas",
    "semopy",
    "factor_analyzer",
    "scikit-learn",
    "pingouin",
    "statsmodels",
    "matplotlib",
    "seaborn",
    "papermill",
    "openpyxl",
    "pyreadstat",
    "jinja2",
    "python-docx",
    "joblib",
    "tqdm",
    "pylopdf-fonts-zh-cn",
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(root: Path) -> str:
    """HEAD's commit, with '+dirty' when tracked files differ from it; '' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _record_path(site: str, root: Path) -> Path:
    return SitePaths(site, root).final_dir("reports") / "provenance.json"


@contextmanager
def _locked_record(site: str, root: Path) -> Iterator[tuple[Path, dict]]:
    """The site's record, read and written back under an exclusive lock: stages may run in
    parallel (``make -j``) and each updates its own entry."""
    record_path = _record_path(site, root)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root / "build" / site / "provenance.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}
        yield record_path, record
        text = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        record_path.write_text(text, encoding="utf-8")


def forget_stage(site: str, stage: str, root: Path) -> None:
    """Drop ``stage`` from the record (its outputs have been removed)."""
    with _locked_record(site, root) as (_, record):
        record.get("stages", {}).pop(stage, None)


def record_stage(site: str, stage: str, files: list[Path], root: Path) -> Path:
    """Add ``stage``'s published files (with checksums) to the site's provenance record."""
    config = load_site(site, root)
    with _locked_record(site, root) as (record_path, record):
        record.update(
            {
                "site": site,
                "simulated": config.simulated,
                "seed": config.seed,
                "raw_file": str(config.raw_file.relative_to(root)),
                "raw_sha256": sha256(config.raw_file),
                "git_commit": git_commit(root),
                "versions": package_versions(),
            }
        )
        record.setdefault("stages", {})[stage] = {
            str(p.relative_to(root)): sha256(p) for p in sorted(files)
        }
    return record_path
