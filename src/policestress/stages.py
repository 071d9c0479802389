"""The chain of stage notebooks and the runner that executes one of them safely.

``python -m policestress.stages run efa --site y-subbureau-sim`` executes
``notebooks/02_efa.ipynb`` with papermill:

* the kernel is named explicitly and its working directory is the project root;
* parameters are passed through papermill's Python API, so strings stay strings;
* outputs are written to ``build/<site>/<stage>/`` (see :mod:`policestress.paths`) and moved
  into ``tables/``, ``figures/``, ``data/processed/`` and ``reports/`` only when every cell
  succeeded; on failure the stage's previous outputs are removed as well, the failing
  cell's error is printed, and the exit status is non-zero;
* the executed notebook is written last, so it is the file ``make`` tracks; timestamps that
  papermill records are removed so that reruns give identical bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from policestress.config import ConfigError, load_site
from policestress.paths import OUTPUT_KINDS, STAGING_ENV, SitePaths, project_root
from policestress.provenance import forget_stage, record_stage
from policestress.timing import TIMINGS_ENV

# Stage name -> notebook, in chain order. The Makefile holds the dependencies between them.
STAGES: dict[str, str] = {
    "validate": "00_validate_clean.ipynb",
    "descriptives": "01_descriptives.ipynb",
    "efa": "02_efa.ipynb",
    "cfa": "03_cfa.ipynb",
    "invariance": "04_invariance.ipynb",
    "eri": "05_eri.ipynb",
    "synthesis": "06_synthesis.ipynb",
    "report": "07_report.ipynb",
}
DEFAULT_KERNEL = "policestress"
MANIFEST_DIR = ".manifest"


def _manifest_path(paths: SitePaths, stage: str) -> Path:
    return paths.final_dir("reports") / MANIFEST_DIR / f"{stage}.json"


def _remove_previous_outputs(paths: SitePaths, stage: str) -> None:
    manifest = _manifest_path(paths, stage)
    if not manifest.exists():
        return
    for relative in json.loads(manifest.read_text(encoding="utf-8")):
        (paths.base / relative).unlink(missing_ok=True)
    manifest.unlink()


def _strip_volatile_metadata(notebook_path: Path) -> None:
    """Drop papermill's timestamps and durations so reruns give the same bytes."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    for key in ("start_time", "end_time", "duration"):
        nb.get("metadata", {}).get("papermill", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
        pm = cell.get("metadata", {}).get("papermill", {})
        for key in ("start_time", "end_time", "duration"):
            pm.pop(key, None)
        cell.get("metadata", {}).pop("execution", None)
    notebook_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _append_timings(path: Path, stage: str, executed: Path) -> None:
    """Append papermill's per-cell durations of one stage run (one JSON object per line)."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    cells = [
        {
            "source": "".join(cell.get("source", "")),
            "tags": cell.get("metadata", {}).get("tags", []),
            "duration": cell.get("metadata", {}).get("papermill", {}).get("duration"),
        }
        for cell in nb.get("cells", [])
        if cell.get("cell_type") == "code"
    ]
    record = {
        "stage": stage,
        "notebook_duration": nb["metadata"]["papermill"].get("duration"),
        "cells": cells,
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def run_stage(
    stage: str,
    site: str,
    kernel: str = DEFAULT_KERNEL,
    parameters: dict | None = None,
    root: Path | None = None,
) -> list[Path]:
    """Execute one stage notebook for one site; return the output files it published.

    Raises
    ------
    policestress.config.ConfigError
        When site.yml or the codebook breaks a rule (checked before the notebook starts).
    papermill.PapermillExecutionError
        When a cell fails; nothing of the stage is left in the output folders.
    """
    import papermill as pm

    root = root or project_root()
    paths = SitePaths(site, root)
    if not paths.config_dir.is_dir():
        raise FileNotFoundError(f"no site configuration {paths.config_dir}")
    notebook = root / "notebooks" / STAGES[stage]
    staging = root / "build" / site / stage
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executed = staging / "reports" / notebook.name
    executed.parent.mkdir(parents=True)

    _remove_previous_outputs(paths, stage)
    forget_stage(site, stage, root)
    final_notebook = paths.final_dir("reports") / notebook.name
    final_notebook.unlink(missing_ok=True)
    # A misspelt or mistyped setting stops the stage here, before any cell runs.
    load_site(site, root)

    env_before = {k: os.environ.get(k) for k in (STAGING_ENV, "POLICESTRESS_ROOT", "MPLBACKEND")}
    os.environ[STAGING_ENV] = str(staging)
    os.environ["POLICESTRESS_ROOT"] = str(root)
    os.environ["MPLBACKEND"] = "Agg"
    try:
        pm.execute_notebook(
            str(notebook),
            str(executed),
            parameters={"site": site, **(parameters or {})},
            kernel_name=kernel,
            cwd=str(root),
            log_output=True,
            progress_bar=False,
            report_mode=False,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    timings = os.environ.get(TIMINGS_ENV)
    if timings:
        _append_timings(Path(timings), stage, executed)
    _strip_volatile_metadata(executed)
    published: list[Path] = []
    for kind in OUTPUT_KINDS:
        source_dir = staging / kind
        if not source_dir.is_dir():
            continue
        for source in sorted(p for p in source_dir.rglob("*") if p.is_file()):
            if source == executed:
                continue
            target = paths.final_dir(kind) / source.relative_to(source_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), target)
            published.append(target)
    manifest = _manifest_path(paths, stage)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps([str(p.relative_to(root)) for p in published], indent=1) + "\n",
        encoding="utf-8",
    )
    record_stage(site, stage, published, root)
    # The executed notebook goes last: it is the target make compares timestamps against.
    final_notebook.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(executed), final_notebook)
    shutil.rmtree(staging, ignore_errors=True)
    return [*published, final_notebook]


def _parse_parameter(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameter {text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.stages", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute one stage notebook")
    run.add_argument("stage", choices=list(STAGES))
    run.add_argument("--site", required=True)
    run.add_argument("--kernel", default=DEFAULT_KERNEL)
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        type=_parse_parameter,
        help="extra notebook parameter KEY=VALUE (passed as a string)",
    )
    sub.add_parser("list", help="print the stages in chain order")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, notebook in STAGES.items():
            print(f"{name}\tnotebooks/{notebook}")
        return 0
    import papermill as pm

    try:
        published = run_stage(args.stage, args.site, args.kernel, dict(args.param))
    except ConfigError as error:
        print(
            f"\nstage '{args.stage}' not run for site '{args.site}':\n{error}\n"
            "No output of this stage was kept.",
            file=sys.stderr,
        )
        return 2
    except pm.PapermillExecutionError as error:
        print(
            f"\nstage '{args.stage}' failed for site '{args.site}' in cell {error.exec_count}: "
            f"{error.ename}: {error.evalue}\n"
            "No output of this stage was kept.",
            file=sys.stderr,
        )
        return 1
    print(f"stage '{args.stage}' for site '{args.site}': {len(published)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
