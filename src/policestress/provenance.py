"""Provenance of a site's outputs: versions, data checksum, git commit, seed, table checksums.

The stage runner updates ``reports/<site>/provenance.json`` after every successful stage, so
the record always describes the outputs on disk; ``make verify`` and the report read it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
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


def forget_stage(site: str, stage: str, root: Path) -> None:
    """Drop ``stage`` from the record (its outputs have been removed)."""
    record_path = _record_path(site, root)
    if record_path.exists():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("stages", {}).pop(stage, None) is not None:
            _write(record_path, record)


def _write(record_path: Path, record: dict) -> None:
    record_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    record_path.write_text(text, encoding="utf-8")


def record_stage(site: str, stage: str, files: list[Path], root: Path) -> Path:
    """Add ``stage``'s published files (with checksums) to the site's provenance record."""
    config = load_site(site, root)
    record_path = _record_path(site, root)
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.exists() else {}
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
    stages = record.setdefault("stages", {})
    stages[stage] = {str(p.relative_to(root)): sha256(p) for p in sorted(files)}
    _write(record_path, record)
    return record_path
