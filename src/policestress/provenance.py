"""Provenance of a site's outputs: versions, data and configuration checksums, git commit,
seed, and the checksum of every published file.

The stage runner updates ``reports/<site>/provenance.json`` after every successful stage (and
drops a stage whose outputs it removes), so the record describes the outputs on disk.
:func:`check_outputs` compares the files with the record: the stage runner checks a stage's
inputs before running it, the report everything before assembling it, ``make verify``
everything before rerunning; a file changed outside the chain (an interactive run told to
publish, a hand edit) is named and stops them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from policestress.paths import SitePaths

# Packages whose versions decide the numbers and figures.
KEY_PACKAGES = (
    "policestress",
    "numpy",
    "scipy",
    "pandas",
    "semopy",
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


def _git(root: Path, *args: str) -> str | None:
    """Output of ``git <args>`` run in ``root``, stripped; None when git is missing or
    ``root`` is not a checkout."""
    try:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def git_commit(root: Path) -> str:
    """HEAD's commit, with '+dirty' when tracked files differ from it; '' outside git."""
    head = _git(root, "rev-parse", "HEAD")
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    if head is None or dirty is None:
        return ""
    return head + ("+dirty" if dirty else "")


def config_digest(site: str, root: Path) -> str:
    """SHA-256 over the files of ``config/sites/<site>/`` (names and contents), with
    ``+dirty`` when git sees any of them untracked or modified (or there is no git)."""
    folder = SitePaths(site, root).config_dir
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256(path).encode("ascii") + b"\n")
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", str(folder))
    if status is None:
        status = "not a git checkout"
    return digest.hexdigest() + ("+dirty" if status else "")


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
        # written whole and renamed: readers (read_record) take no lock
        partial = record_path.with_suffix(".json.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, record_path)


class ProvenanceError(RuntimeError):
    """A published file differs from what the chain recorded for it."""


def read_record(site: str, root: Path) -> dict:
    path = _record_path(site, root)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def check_outputs(site: str, root: Path, stages: list[str]) -> list[str]:
    """Files of ``stages`` whose bytes differ from the record, or that are missing; one line
    each, naming the file and the stage. A stage without a record counts as one problem.

    Examples
    --------
    >>> check_outputs("no-such-site", Path("."), [])
    []
    """
    record = read_record(site, root)
    recorded = record.get("stages", {})
    problems = []
    for stage in stages:
        if stage not in recorded:
            problems.append(
                f"stage '{stage}' has no published outputs on record (run `make {stage} SITE={site}`)"
            )
            continue
        for relative, digest in recorded[stage].items():
            path = root / relative
            if not path.is_file():
                problems.append(f"{relative}: missing (published by stage '{stage}')")
            elif sha256(path) != digest:
                problems.append(
                    f"{relative}: differs from what stage '{stage}' published (changed outside "
                    f"the chain, e.g. by an interactive run or by hand; rerun `make {stage} "
                    f"SITE={site}` or `make -B {stage} SITE={site}`)"
                )
    return problems


def forget_stage(site: str, stage: str, root: Path) -> None:
    """Drop ``stage`` from the record (its outputs have been removed)."""
    with _locked_record(site, root) as (_, record):
        record.get("stages", {}).pop(stage, None)
        record.get("stage_settings", {}).pop(stage, None)


def record_stage(
    site: str, stage: str, files: list[Path], root: Path, settings_digest: str = ""
) -> Path:
    """Add ``stage``'s published files (with checksums) to the site's provenance record,
    with the digest of the settings it read (:func:`policestress.stages.settings_digests`)."""
    site_file = SitePaths(site, root).config_dir / "site.yml"
    settings = yaml.safe_load(site_file.read_text(encoding="utf-8")) or {}
    raw_file = root / settings["raw_file"]
    with _locked_record(site, root) as (record_path, record):
        record.update(
            {
                "site": site,
                "simulated": bool(settings.get("simulated", False)),
                "seed": int(settings.get("seed", 0)),
                "raw_file": settings["raw_file"],
                "raw_sha256": sha256(raw_file),
                "config_sha256": config_digest(site, root),
                "git_commit": git_commit(root),
                "versions": package_versions(),
            }
        )
        record.setdefault("stages", {})[stage] = {
            str(p.relative_to(root)): sha256(p) for p in sorted(files)
        }
        record.setdefault("stage_settings", {})[stage] = settings_digest
    return record_path
