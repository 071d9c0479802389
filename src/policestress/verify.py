"""``make verify``: rerun the chain in a scratch copy and compare every table, cell by cell.

A reviewer's check that the published numbers come out of the code and data again: the
project (tracked files plus untracked, non-ignored ones; never outputs) is copied to a
scratch folder, ``make all`` runs there from nothing for the site, and each CSV in
``tables/<site>/`` is compared byte for byte with the rerun's. A difference is reported by
file, row and column with both values; so is a table present on one side only. Figures are
compared too and reported, but only tables decide the outcome (plotting libraries do not
promise identical bytes across machines).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from policestress.paths import SitePaths, project_root

CELLS_SHOWN = 10


# Never copied: outputs (the copy rebuilds them), environments, caches, version control.
OUTPUT_DIRS = ("tables", "figures", "reports", "build", "data/processed", "bench/results")
SKIPPED_NAMES = {
    ".git",
    ".venv",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".ruff_cache",
}


def copy_project(root: Path, destination: Path) -> Path:
    """Copy the project's inputs (code, configuration, raw data; no outputs) to
    ``destination``, keeping modification times, and link the shared ``.venv``.

    Raw exports ignored by git (real sites) are copied too: the rerun needs them.
    """
    skipped = {root / d for d in OUTPUT_DIRS}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {
            n
            for n in names
            if n in SKIPPED_NAMES or n.endswith(".egg-info") or Path(folder) / n in skipped
        }

    shutil.copytree(root, destination, ignore=ignore, dirs_exist_ok=True)
    (destination / ".venv").symlink_to(root / ".venv")
    return destination


def run_make(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run make in ``project`` without reinstalling the (shared) venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICESTRESS_")}
    return subprocess.run(
        ["make", "-o", ".venv/.installed", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )


def compare_tables(recorded: Path, rerun: Path) -> list[str]:
    """Differences between two folders of CSV tables, one line per difference."""
    differences = []
    names = sorted({p.name for p in recorded.glob("*.csv")} | {p.name for p in rerun.glob("*.csv")})
    for name in names:
        a, b = recorded / name, rerun / name
        if not b.exists():
            differences.append(f"{name}: recorded but not produced by the rerun")
            continue
        if not a.exists():
            differences.append(f"{name}: produced by the rerun but not recorded")
            continue
        if a.read_bytes() == b.read_bytes():
            continue
        left = pd.read_csv(a, dtype=str, keep_default_na=False)
        right = pd.read_csv(b, dtype=str, keep_default_na=False)
        if list(left.columns) != list(right.columns) or len(left) != len(right):
            differences.append(
                f"{name}: shape or columns differ (recorded {left.shape} {list(left.columns)[:6]}..., "
                f"rerun {right.shape} {list(right.columns)[:6]}...)"
            )
            continue
        unequal = (left != right).stack()
        cells = unequal[unequal].index.tolist()
        for row, column in cells[:CELLS_SHOWN]:
            differences.append(
                f"{name}: row {row + 2}, column '{column}': recorded {left.at[row, column]!r}, "
                f"rerun {right.at[row, column]!r}"
            )
        if len(cells) > CELLS_SHOWN:
            differences.append(f"{name}: ... {len(cells) - CELLS_SHOWN} more differing cells")
        if not cells:
            differences.append(f"{name}: same cells, different bytes (line ends or quoting)")
    return differences


def compare_figures(recorded: Path, rerun: Path) -> list[str]:
    names = sorted({p.name for p in recorded.glob("*")} | {p.name for p in rerun.glob("*")})
    return [
        name
        for name in names
        if not (recorded / name).exists()
        or not (rerun / name).exists()
        or (recorded / name).read_bytes() != (rerun / name).read_bytes()
    ]


def verify(site: str, root: Path | None = None, keep: bool = False) -> list[str]:
    """Rerun the chain for ``site`` in a scratch copy; return the table differences."""
    root = root or project_root()
    recorded = SitePaths(site, root)
    if not recorded.final_dir("tables").is_dir():
        raise FileNotFoundError(
            f"no recorded tables in {recorded.final_dir('tables')}: run `make all SITE={site}` first"
        )
    scratch = Path(tempfile.mkdtemp(prefix=f"verify-{site}-"))
    try:
        copy_project(root, scratch)
        proc = run_make(scratch, "all", f"SITE={site}")
        if proc.returncode != 0:
            raise RuntimeError(f"the rerun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        rerun = SitePaths(site, scratch)
        differences = compare_tables(recorded.final_dir("tables"), rerun.final_dir("tables"))
        figures = compare_figures(recorded.final_dir("figures"), rerun.final_dir("figures"))
        if figures:
            print(
                f"note: {len(figures)} figure file(s) differ in bytes: {', '.join(figures[:5])}",
                file=sys.stderr,
            )
        return differences
    finally:
        if keep:
            print(f"scratch copy kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.verify", description=__doc__)
    parser.add_argument("--site", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)
    differences = verify(args.site, keep=args.keep)
    if differences:
        print(f"verify FAILED for {args.site}: {len(differences)} difference(s)", file=sys.stderr)
        for line in differences:
            print(f"  {line}", file=sys.stderr)
        return 1
    tables = len(list(SitePaths(args.site).final_dir("tables").glob("*.csv")))
    print(
        f"verify passed for {args.site}: all {tables} tables identical to the rerun, byte for byte"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
