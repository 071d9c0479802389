"""``make verify``: check the published outputs against provenance, rerun the chain in a
scratch copy and compare every table, executed notebook and SVG figure with the rerun.

A reviewer's check that the published numbers come out of the code and data again. First
every published file is compared with the checksum the chain recorded for it in
``reports/<site>/provenance.json``: a file changed outside the chain (an interactive run
told to publish, a hand edit) is named and verify stops there. Then the project (its
inputs, never outputs) is copied to a scratch folder, ``make all`` runs there from nothing
for the site, and each CSV in ``tables/<site>/``, each executed notebook in
``reports/<site>/`` and each SVG in ``figures/<site>/`` is compared byte for byte with the
rerun's. A table difference is reported by file, row and column with both values, a
notebook difference by cell; a file present on one side only is reported too. PNG files are
compared and reported, but do not decide the outcome (rasterisers do not promise identical
bytes across machines; the SVG holds the same drawing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from policestress.paths import SitePaths, project_root
from policestress.provenance import ProvenanceError
from policestress.stages import CHAIN, STAGES, STAMP_DIR, check_recorded_inputs

CELLS_SHOWN = 10


# Never copied: outputs (the copy rebuilds them), environments, caches, version control.
OUTPUT_DIRS = (
    "tables",
    "figures",
    "reports",
    "build",
    "data/processed",
    "bench/results",
    "scratch",
)
SKIPPED_NAMES = {
    ".git",
    ".venv",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".ruff_cache",
}


def copy_project(root: Path, destination: Path) -> Path:
    """Copy the project's inputs (code, configuration, raw data, the settings stamps; no
    outputs) to ``destination``, keeping modification times, and link the shared ``.venv``.

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
    # The settings stamps are copied as `make clean` keeps them: without them every stamp
    # would be new, newer than the simulated export, and the copy would redraw that export
    # (same bytes, two seconds) when the project itself would not.
    stamps = root / STAMP_DIR
    if stamps.is_dir():
        shutil.copytree(stamps, destination / STAMP_DIR, dirs_exist_ok=True)
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


def compare_notebooks(recorded: Path, rerun: Path) -> list[str]:
    """Differences between two folders of executed notebooks: file and first differing cell."""
    differences = []
    names = sorted(
        {p.name for p in recorded.glob("*.ipynb")} | {p.name for p in rerun.glob("*.ipynb")}
    )
    for name in names:
        a, b = recorded / name, rerun / name
        if not (a.exists() and b.exists()):
            side = (
                "recorded but not produced by the rerun"
                if a.exists()
                else "produced by the rerun but not recorded"
            )
            differences.append(f"{name}: {side}")
            continue
        if a.read_bytes() == b.read_bytes():
            continue
        left, right = json.loads(a.read_text("utf-8")), json.loads(b.read_text("utf-8"))
        number = 0
        for x, y in zip(left["cells"], right["cells"], strict=False):
            counted = x["cell_type"] == "code" and "injected-parameters" not in x["metadata"].get(
                "tags", []
            )
            number += counted
            if x != y:
                where = f"cell [{number}]" if counted else "a markdown or parameters cell"
                differences.append(f"{name}: {where} differs (outputs or source)")
                break
        else:
            differences.append(f"{name}: differs in its metadata or number of cells")
    return differences


def compare_files(recorded: Path, rerun: Path, pattern: str) -> list[str]:
    """Names of files matching ``pattern`` that differ in bytes or exist on one side only."""
    names = sorted({p.name for p in recorded.glob(pattern)} | {p.name for p in rerun.glob(pattern)})
    return [
        name
        for name in names
        if not (recorded / name).exists()
        or not (rerun / name).exists()
        or (recorded / name).read_bytes() != (rerun / name).read_bytes()
    ]


def recorded_stages(paths: SitePaths) -> set[str]:
    """Stages the site's provenance record holds (those that ran)."""
    from policestress.provenance import read_record

    return set(read_record(paths.site, paths.base).get("stages", {}))


def verify(site: str, root: Path | None = None, keep: bool = False) -> list[str]:
    """Check ``site``'s outputs against provenance, rerun the chain in a scratch copy;
    return the differences (tables, notebooks, SVG figures).

    Raises
    ------
    policestress.provenance.ProvenanceError
        When a published file differs from the record (nothing is rerun).
    """
    root = root or project_root()
    recorded = SitePaths(site, root)
    if not recorded.final_dir("tables").is_dir():
        raise FileNotFoundError(
            f"no recorded tables in {recorded.final_dir('tables')}: run `make all SITE={site}` first"
        )
    ran = recorded_stages(recorded)
    extra = [s for s in STAGES if STAGES[s].on_request and s in ran]  # e.g. make power
    check_recorded_inputs(recorded, [*CHAIN, *extra])
    scratch = Path(tempfile.mkdtemp(prefix=f"verify-{site}-"))
    try:
        copy_project(root, scratch)
        # on-request stages that ran rerun first, so the report's rerun shows them too
        proc = run_make(scratch, *extra, f"SITE={site}") if extra else None
        if proc is None or proc.returncode == 0:
            proc = run_make(scratch, "all", f"SITE={site}")
        if proc.returncode != 0:
            raise RuntimeError(f"the rerun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        rerun = SitePaths(site, scratch)
        differences = compare_tables(recorded.final_dir("tables"), rerun.final_dir("tables"))
        differences += compare_notebooks(recorded.final_dir("reports"), rerun.final_dir("reports"))
        figures = (recorded.final_dir("figures"), rerun.final_dir("figures"))
        differences += [f"{name}: differs in bytes" for name in compare_files(*figures, "*.svg")]
        pngs = compare_files(*figures, "*.png")
        if pngs:
            print(
                f"note: {len(pngs)} PNG file(s) differ in bytes (not decisive): {', '.join(pngs[:5])}",
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
    try:
        differences = verify(args.site, keep=args.keep)
    except ProvenanceError as error:
        print(f"verify REFUSED for {args.site}: {error}", file=sys.stderr)
        return 1
    if differences:
        print(f"verify FAILED for {args.site}: {len(differences)} difference(s)", file=sys.stderr)
        for line in differences:
            print(f"  {line}", file=sys.stderr)
        return 1
    paths = SitePaths(args.site)
    counts = [
        len(list(paths.final_dir(kind).glob(pattern)))
        for kind, pattern in (("tables", "*.csv"), ("reports", "*.ipynb"), ("figures", "*.svg"))
    ]
    print(
        f"verify passed for {args.site}: all {counts[0]} tables, {counts[1]} executed notebooks "
        f"and {counts[2]} SVG figures identical to the rerun, byte for byte"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
