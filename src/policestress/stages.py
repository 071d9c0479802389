"""The chain of stage notebooks, declared once, and the runner that executes one of them safely.

:data:`STAGES` is the one list of stages: notebook, the stages whose outputs each reads
(``needs``), the ``site.yml`` sections it reads (``settings``) and its report title. The
Makefile includes a fragment generated from it (``python -m policestress.stages makefile``),
the report takes its sections from it and the tests their stage list.

``python -m policestress.stages run efa --site y-subbureau-sim`` executes
``notebooks/02_efa.ipynb`` with papermill:

* parameters are checked against the notebook's ``parameters`` cell first: an unknown one
  is an error naming it and listing the valid ones; values are read as Python literals
  (``-p n_factors=4`` is the number 4), anything else stays a string;
* every output of the stage and of every stage downstream of it is removed before it runs
  (they would describe other settings or data), and the outputs of the stages it reads are
  checked against ``provenance.json``: a file changed outside the chain stops the run,
  named;
* the kernel's working directory is the project root; outputs are written to
  ``build/<site>/<stage>/`` (see :mod:`policestress.paths`) and moved into ``tables/``,
  ``figures/``, ``data/processed/`` and ``reports/`` only when every cell succeeded; on
  failure the traceback is printed with the cell numbered as JupyterLab numbers it, with
  the settings to check, and the exit status is non-zero;
* a notebook whose site lacks what the stage analyses calls :func:`skip_stage` with the
  reason: the stage succeeds with the executed notebook (stopped there, reason shown),
  whatever it had published, and ``reports/<site>/.manifest/<stage>.skipped`` holding the
  reason, which the report shows in the stage's section;
* the executed notebook is written last, so it is the file ``make`` tracks; timestamps,
  absolute paths and progress bars are kept out of it, so reruns give identical bytes;
* the log has one line when the stage starts and one when it ends, with times, and a
  progress line while it runs, each prefixed with the stage's name.

This module imports only the standard library at the top: the Makefile runs its
``makefile`` command with the base Python, before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from policestress.paths import OUTPUT_KINDS, STAGING_ENV, SitePaths, project_root
from policestress.timing import TIMINGS_ENV


@dataclass(frozen=True)
class Stage:
    """One stage of the chain.

    ``needs`` are the stages whose published outputs it reads; ``settings`` the top-level
    ``site.yml`` keys it reads besides :data:`COMMON_SETTINGS` (a test checks the notebooks
    against them). An ``on_request`` stage is not part of ``make all`` (:data:`CHAIN`)
    unless the site's ``<name>.in_all`` says so; ``make <name>`` runs it.
    """

    name: str
    notebook: str
    needs: tuple[str, ...]
    settings: tuple[str, ...]
    title_en: str
    title_zh: str
    on_request: bool = False


# site.yml keys every stage reads (load_site, banners, labels, seeds). Codebook and construct
# files, and any other file of the site's folder, count for every stage too.
COMMON_SETTINGS = (
    "site",
    "title_en",
    "title_zh",
    "simulated",
    "language",
    "seed",
    "codebook",
    "constructs",
    "population_model",
)

_STAGE_LIST = [
    Stage(
        "validate",
        "00_validate_clean.ipynb",
        (),
        # cleaning.score computes the ERI scores of analysis.csv with the eri settings
        (
            "raw_file",
            "raw_format",
            "sheet",
            "encoding",
            "header_row",
            "id",
            "missing_values",
            "ignore_columns",
            "validation",
            "exclusions",
            "scoring",
            "eri",
        ),
        "Data, validation and cleaning",
        "数据校验与清洗",
    ),
    Stage(
        "descriptives",
        "01_descriptives.ipynb",
        ("validate",),
        ("grouping", "privacy", "descriptives", "reliability", "groups"),
        "Sample description and reliability",
        "样本描述与信度分析",
    ),
    Stage(
        "efa",
        "02_efa.ipynb",
        ("validate",),
        ("efa",),
        "Exploratory factor analysis",
        "探索性因子分析",
    ),
    Stage(
        "cfa",
        "03_cfa.ipynb",
        ("validate",),
        ("cfa",),
        "Confirmatory factor analysis",
        "验证性因子分析",
    ),
    Stage(
        "invariance",
        "04_invariance.ipynb",
        ("validate",),
        ("grouping", "invariance", "cfa"),  # cfa.estimator: the CFA stage's estimator
        "Measurement invariance",
        "测量不变性",
    ),
    Stage(
        "eri",
        "05_eri.ipynb",
        ("validate",),
        ("grouping", "privacy", "eri"),
        "Effort-reward imbalance",
        "付出-回报失衡",
    ),
    Stage(
        "synthesis",
        "06_synthesis.ipynb",
        ("validate",),
        ("synthesis",),
        "Sources of stress: synthesis",
        "职业压力源综合分析",
    ),
    Stage(
        "report",
        "07_report.ipynb",
        ("validate", "descriptives", "efa", "cfa", "invariance", "eri", "synthesis"),
        ("report",),
        "Report",
        "报告",
    ),
    # Monte Carlo sample-size planning: minutes to hours of model fits, so on request (a
    # site with power.in_all runs it in `make all`, and the report then waits for it).
    Stage(
        "power",
        "08_power.ipynb",
        ("validate",),
        ("power", "cfa"),
        "Sample-size planning (Monte Carlo simulation)",
        "样本量规划（蒙特卡洛模拟）",
        on_request=True,
    ),
]
STAGES: dict[str, Stage] = {s.name: s for s in _STAGE_LIST}
# The stages `make all` runs (on-request stages only when the site asks for them).
CHAIN: tuple[str, ...] = tuple(s.name for s in _STAGE_LIST if not s.on_request)

# The simulated export is a target of the chain too (simulated sites only): redrawn when its
# population model, the settings the simulator reads or the simulator's code change.
SIMULATE_SETTINGS = ("raw_file", "raw_format", "exclusions")
SIMULATE_MODULE = "policestress.simulate"
# Site files besides site.yml that only some stages read.
POPULATION_MODEL_READERS = ("synthesis", "power")

DEFAULT_KERNEL = "policestress"
MANIFEST_DIR = ".manifest"
SKIPPED_SUFFIX = ".skipped"


class StageSkipped(Exception):
    """Raised in a stage notebook (by :func:`skip_stage`): the site lacks what it analyses."""


def skip_stage(reason: str) -> None:
    """Stop the running stage notebook here, showing why; the runner counts it a success.

    Raises
    ------
    StageSkipped
        Always; the stage runner turns it into the ``.skipped`` marker.
    """
    from IPython.display import Markdown, display

    display(Markdown(f"**Stage skipped.** {reason}"))
    raise StageSkipped(reason)


def skip_reason(paths: SitePaths, stage: str) -> str:
    """Why the stage was skipped at its last run ('' when it ran to the end or never ran)."""
    marker = paths.final_dir("reports") / MANIFEST_DIR / f"{stage}{SKIPPED_SUFFIX}"
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""


def _tidy_skipped_notebook(notebook_path: Path) -> None:
    """A skipped stage's notebook: no failure banner, the reason instead of a traceback."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    nb["cells"] = [
        c
        for c in nb["cells"]
        if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [
                o
                for o in cell["outputs"]
                if not (o["output_type"] == "error" and o.get("ename") == StageSkipped.__name__)
            ]
    nb["metadata"].get("papermill", {})["exception"] = None
    notebook_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", "utf-8")


STAMP_DIR = Path("build") / ".stamps"
# Modules of the runner itself: every stage runs through them.
RUNNER_MODULES = ("policestress.stages", "policestress.paths", "policestress.provenance")
# How a module reads the package's data files (templates/); spelled in two parts so that
# this module does not match itself.
PACKAGE_DATA_READ = "resources.files(" + '"policestress")'


def downstream(stage: str) -> list[str]:
    """Stages that read ``stage``'s outputs, directly or not, in chain order.

    Examples
    --------
    >>> downstream("efa")
    ['report']
    """
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in STAGES.values():
            if s.name not in found and ({stage} | found) & set(s.needs):
                found.add(s.name)
                changed = True
    return [s for s in STAGES if s in found]


def upstream(stage: str) -> list[str]:
    """Stages whose outputs ``stage`` reads, directly or not, in chain order."""
    return [s for s in STAGES if stage in downstream(s)]


# ---- dependencies on the package's modules (for the generated Makefile fragment) ----------


def _module_file(root: Path, module: str) -> Path | None:
    base = root / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(tree: ast.AST, root: Path) -> set[str]:
    """policestress modules imported by ``tree`` (``from policestress import efa`` counts
    ``policestress.efa`` when that is a module)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            names += [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "policestress" and _module_file(root, name):
                found.add(name)
    # a submodule's import runs its packages' __init__ too
    for name in list(found):
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return found


def module_closure(modules: set[str], root: Path) -> set[str]:
    """``modules`` and every policestress module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(root, name)
        if path is not None:
            todo.extend(_imported_modules(ast.parse(path.read_text(encoding="utf-8")), root))
    return seen


def notebook_modules(stage: str, root: Path) -> set[str]:
    """policestress modules a stage's notebook imports, transitively, plus the runner's."""
    nb = json.loads((root / "notebooks" / STAGES[stage].notebook).read_text(encoding="utf-8"))
    modules: set[str] = set(RUNNER_MODULES)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = "\n".join(line for line in source.splitlines() if not line.startswith(("%", "!")))
        modules |= _imported_modules(ast.parse(source), root)
    return module_closure(modules, root)


def module_files(modules: set[str], root: Path) -> list[str]:
    """Source files of ``modules`` (relative to ``root``), with the package data files of
    modules that read them (``importlib.resources``)."""
    files = set()
    for name in modules:
        path = _module_file(root, name)
        if path is None:
            continue
        files.add(path.relative_to(root).as_posix())
        if PACKAGE_DATA_READ in path.read_text(encoding="utf-8"):
            data = root / "src" / "policestress" / "templates"
            files.update(p.relative_to(root).as_posix() for p in data.rglob("*") if p.is_file())
    return sorted(files)


def make_fragment(root: Path) -> str:
    """The Makefile rules of the chain, generated from :data:`STAGES` (site-independent:
    the Makefile sets ``SITE``, ``REPORTS``, ``STAMPS``, ``RAW``, ``RUN``, ``KERNEL``)."""
    lines = [
        "# Generated by `python -m policestress.stages makefile` from policestress.stages.STAGES.",
        "# Do not edit: change STAGES (or a notebook's imports) and make regenerates it.",
        "",
        f"CHAIN_STAGES := {' '.join(CHAIN)}",
        "# on-request stages the site asks `make all` to run (site.mk); the report waits for them",
        "ON_REQUEST_IN_ALL ?=",
        "",
    ]
    for stage in STAGES.values():
        target = f"$(REPORTS)/{stage.notebook}"
        modules = " ".join(module_files(notebook_modules(stage.name, root), root))
        needs = " ".join(f"$(REPORTS)/{STAGES[n].notebook}" for n in stage.needs)
        if stage.name == "report":
            # the report shows what on-request stages published: it waits for those the
            # site asks `make all` to run, and is out of date once one of them has run (its
            # manifest, a file without a rule: `make all` never reruns the stage for it)
            ran = " ".join(
                f"$(wildcard $(REPORTS)/{MANIFEST_DIR}/{s.name}.json)"
                for s in STAGES.values()
                if s.on_request
            )
            needs += f" $(ON_REQUEST_IN_ALL) {ran}"
        raw = " $(RAW)" if not stage.needs else ""
        lines += [
            f".PHONY: {stage.name}",
            f"{stage.name}: {target} ## stage {stage.notebook[:2]}: {stage.title_en.lower()}"
            + (" (on request: not in `make all`)" if stage.on_request else ""),
            f"{target}: notebooks/{stage.notebook} $(STAMPS)/{stage.name}.settings {needs}{raw} \\",
            f"    {modules} $(STAMP)",
            f"\t@$(RUN) {stage.name} --site $(SITE) --kernel $(KERNEL)",
            "",
        ]
    simulator = " ".join(module_files(module_closure({SIMULATE_MODULE}, root), root))
    lines += [
        "ifdef SIM_EXPORT",
        f"$(SIM_EXPORT): $(STAMPS)/simulate.settings {simulator} $(STAMP)",
        "\t@echo '[simulate] redrawing the simulated export $@ from its population model'",
        "\t@$(PY) -m policestress.simulate --site $(SITE) | sed 's/^/[simulate] /'",
        "endif",
        "",
    ]
    return "\n".join(lines)


# ---- settings each stage reads: one stamp per stage -----------------------------------------


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_settings(site: str, root: Path) -> dict[str, dict]:
    """What each stage (and the simulator, as ``simulate``) reads of the site's configuration:
    ``{stage: {"settings": {key: value}, "files": {file: sha256}}}``.

    A top-level key of site.yml that no stage declares counts for every stage.
    """
    import yaml

    folder = SitePaths(site, root).config_dir
    settings = yaml.safe_load((folder / "site.yml").read_text(encoding="utf-8")) or {}
    model = settings.get("population_model", "population_model.yml")
    declared = set(COMMON_SETTINGS) | set(SIMULATE_SETTINGS)
    declared |= {key for s in STAGES.values() for key in s.settings}
    undeclared = sorted(set(settings) - declared)
    shared_files = {}
    model_file = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == "site.yml":
            continue
        target = model_file if relative == model else shared_files
        target[relative] = _file_digest(path)

    def read(keys, files):
        chosen = [*COMMON_SETTINGS, *keys, *undeclared]
        return {
            "settings": {k: settings[k] for k in chosen if k in settings},
            "files": {**shared_files, **files},
        }

    out = {
        s.name: read(s.settings, model_file if s.name in POPULATION_MODEL_READERS else {})
        for s in STAGES.values()
    }
    out["simulate"] = read(SIMULATE_SETTINGS, model_file)
    return out


def settings_digests(site: str, root: Path) -> dict[str, str]:
    """Stage -> SHA-256 of what it reads of the site's configuration."""
    return {stage: _digest(read) for stage, read in stage_settings(site, root).items()}


def write_site_fragment(site: str, root: Path, folder: Path | None = None) -> Path:
    """Write ``<stage>.settings`` stamps (rewritten only when their content changes, so
    make reruns exactly the stages whose settings changed) and ``site.mk`` (the simulated
    export's path, for simulated sites) into ``folder`` (default ``build/.stamps/<site>``).

    Another ``folder`` (make's dry run uses one) starts from copies of the default folder's
    stamps, times kept, so a dry run shows what would rerun without changing the stamps.
    """
    import yaml

    real = root / STAMP_DIR / site
    folder = Path(folder) if folder is not None else real
    folder.mkdir(parents=True, exist_ok=True)
    if folder.resolve() != real.resolve():
        for stamp in real.glob("*.settings"):
            shutil.copy2(stamp, folder / stamp.name)
    for stage, read in stage_settings(site, root).items():
        stamp = folder / f"{stage}.settings"
        text = json.dumps(read, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        if not stamp.is_file() or stamp.read_text(encoding="utf-8") != text:
            stamp.write_text(text, encoding="utf-8")
    settings = yaml.safe_load((SitePaths(site, root).config_dir / "site.yml").read_text("utf-8"))
    lines = ["# Generated by `python -m policestress.stages site-fragment`; do not edit."]
    if settings.get("simulated") and settings.get("raw_file"):
        lines.append(f"SIM_EXPORT := {settings['raw_file']}")
    asked = [
        f"$(REPORTS)/{s.notebook}"
        for s in STAGES.values()
        if s.on_request and (settings.get(s.name) or {}).get("in_all")
    ]
    if asked:
        lines.append(f"ON_REQUEST_IN_ALL := {' '.join(asked)}")
    fragment = folder / "site.mk"
    fragment.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return fragment


# ---- parameters ----------------------------------------------------------------------------


class ParameterError(ValueError):
    """A parameter the stage's notebook does not declare."""


def notebook_parameters(stage: str, root: Path | None = None) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters``, in order."""
    root = root or project_root()
    nb = json.loads((root / "notebooks" / STAGES[stage].notebook).read_text(encoding="utf-8"))
    names: list[str] = []
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for node in ast.parse("".join(cell["source"])).body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                if isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(stage: str, parameters: dict, root: Path | None = None) -> None:
    """Raise :class:`ParameterError` naming every parameter the notebook does not declare.

    Examples
    --------
    >>> check_parameters("efa", {"n_factor": 4})
    Traceback (most recent call last):
    ...
    policestress.stages.ParameterError: unknown parameter 'n_factor' (did you mean 'n_factors'?) for stage 'efa' (notebooks/02_efa.ipynb). Valid parameters: site, n_factors, extraction, rotation, parallel_iter, parallel_percentile, factor_eigen, min_communality, min_primary, max_secondary, min_gap, spss_n_components, spss_blank_below
    """
    valid = notebook_parameters(stage, root)
    unknown = [name for name in parameters if name not in valid]
    if not unknown:
        return
    messages = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        messages.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    plural = "s" if len(unknown) > 1 else ""
    raise ParameterError(
        f"unknown parameter{plural} {', '.join(messages)} for stage '{stage}' "
        f"(notebooks/{STAGES[stage].notebook}). Valid parameters: {', '.join(valid)}"
    )


def parse_value(text: str) -> object:
    """A command-line parameter value: a Python literal if it is one, else the string.

    Examples
    --------
    >>> parse_value("4"), parse_value("varimax"), parse_value("['gender', 'rank']")
    (4, 'varimax', ['gender', 'rank'])
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


# ---- the runner ----------------------------------------------------------------------------


def _manifest_path(paths: SitePaths, stage: str) -> Path:
    return paths.final_dir("reports") / MANIFEST_DIR / f"{stage}.json"


def remove_outputs(paths: SitePaths, stage: str) -> int:
    """Remove what ``stage`` published (its manifest's files and its executed notebook) and
    drop it from the provenance record; return how many files went."""
    from policestress.provenance import forget_stage

    removed = 0
    manifest = _manifest_path(paths, stage)
    (manifest.parent / f"{stage}{SKIPPED_SUFFIX}").unlink(missing_ok=True)
    if manifest.exists():
        for relative in json.loads(manifest.read_text(encoding="utf-8")):
            file = paths.base / relative
            removed += file.exists()
            file.unlink(missing_ok=True)
        manifest.unlink()
    notebook = paths.final_dir("reports") / STAGES[stage].notebook
    removed += notebook.exists()
    notebook.unlink(missing_ok=True)
    forget_stage(paths.site, stage, paths.base)
    return removed


def _strip_volatile_metadata(notebook_path: Path, root: Path, final_path: Path) -> None:
    """Drop papermill's timestamps, durations and absolute paths so reruns give the same
    bytes wherever the project lies."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    if "input_path" in meta:
        meta["input_path"] = _relative(Path(meta["input_path"]), root)
    if "output_path" in meta:
        meta["output_path"] = _relative(final_path, root)
    for cell in nb.get("cells", []):
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                text = PROGRESS_BAR.sub("", "".join(output.get("text", "")))
                if not text.strip():
                    continue
                output["text"] = text
            previous = outputs[-1] if outputs else None
            if (
                output.get("output_type") == "stream"
                and previous is not None
                and previous.get("output_type") == "stream"
                and previous.get("name") == output.get("name")
            ):
                # The kernel flushes a stream whenever its timer fires, so one print can
                # arrive as one message or as two: merge them, as nbconvert's
                # coalesce_streams does, so reruns give the same bytes.
                merged = "".join(previous.get("text", "")) + "".join(output.get("text", ""))
                previous["text"] = merged.splitlines(keepends=True)
                continue
            if output.get("output_type") == "stream":
                output["text"] = "".join(output.get("text", "")).splitlines(keepends=True)
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
        pm = cell.get("metadata", {}).get("papermill", {})
        for key in ("start_time", "end_time", "duration"):
            pm.pop(key, None)
        cell.get("metadata", {}).pop("execution", None)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    notebook_path.write_text(text.replace(str(root), "<project>"), encoding="utf-8")


def lab_numbers(source_nb: dict) -> dict[int, int]:
    """Index of a cell in the executed notebook -> the number JupyterLab shows for that cell
    after a top-to-bottom run of the committed notebook (``[n]``). Papermill inserts its
    injected-parameters cell after the cell tagged ``parameters``; it has no number here.

    Examples
    --------
    >>> cells = [{"cell_type": t, "metadata": {"tags": g}} for t, g in
    ...          [("markdown", []), ("code", ["parameters"]), ("code", []), ("code", [])]]
    >>> lab_numbers({"cells": cells})
    {1: 1, 3: 2, 4: 3}
    """
    cells = source_nb["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])]
    injected_at = tagged[0] + 1 if tagged else 0
    numbers, number = {}, 0
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        number += 1
        numbers[i + (i >= injected_at)] = number
    return numbers


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


# A tqdm progress bar line ("desc:  40%|████      | 2/5 [00:49<01:18, 26.30s/it]"): its
# timings change from run to run, and the log shows progress instead.
PROGRESS_BAR = re.compile(r"[^\r\n]*\d+%\|[^|\r\n]*\| *[\d.]+\w?/[\d.?]+\w? \[[^\]\r\n]*\][\r\n]*")


def _append_timings(path: Path, stage: str, nb: dict, total: float) -> None:
    """Append the per-cell durations of one stage run (one JSON object per line)."""
    cells = [
        {
            "source": "".join(cell.get("source", "")),
            "tags": cell.get("metadata", {}).get("tags", []),
            "duration": cell.get("metadata", {}).get("papermill", {}).get("duration"),
        }
        for cell in nb.get("cells", [])
        if cell.get("cell_type") == "code"
    ]
    record = {"stage": stage, "notebook_duration": total, "cells": cells}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


class StageLog:
    """Lines for people: ``[stage] ...``, flushed at once (make runs stages in parallel)."""

    PROGRESS_EVERY_S = 3.0

    def __init__(self, stage: str, n_cells: int):
        self.stage = stage
        self.n_cells = n_cells
        self.start = time.perf_counter()
        self.last = self.start

    def say(self, text: str, stream=None) -> None:
        stream = stream or sys.stdout
        for line in text.splitlines() or [""]:
            # one write per line, newline included: print() writes the text and its end
            # apart, which an unbuffered stream (PYTHONUNBUFFERED) passes on as two writes,
            # and two stages starting together then share a line
            stream.write(f"[{self.stage}] {line}\n")
            stream.flush()
        self.last = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def cell_done(self, number: int) -> None:
        """A progress line when a while has passed since the last one."""
        if time.perf_counter() - self.last >= self.PROGRESS_EVERY_S:
            self.say(f"  ... cell [{number}] of {self.n_cells} done ({self.elapsed():.1f} s)")


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What the kernel prints on its stderr that is no news: jupyter_client interrupts the kernel
# before asking it to shut down, and ipykernel logs catching that interrupt.
KERNEL_NOISE = ("KeyboardInterrupt caught in kernel",)


def _kernel_manager_class(stderr_file, socket_dir: Path):
    """A kernel manager over IPC sockets in ``socket_dir`` (no network port, so no
    unencrypted-TCP warning; one folder per run, as stages run in parallel) whose kernel
    writes its stderr to ``stderr_file`` (shown afterwards, less known noise)."""
    from queue import Empty

    from jupyter_client import AsyncKernelClient, AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class ChainKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """Ready once the kernel answers kernel_info and its IOPub messages arrive:
            jupyter_client's own wait then listens 0.2 s more for IOPub to go quiet, a fixed
            fifth of a second of every stage. The messages it would drop answer kernel_info;
            the notebook client reads only those of the cells it runs."""
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                    if reply["msg_type"] == "kernel_info_reply":
                        await self.iopub_channel.get_msg(timeout=0.2)  # IOPub connected
                        self._handle_kernel_info_reply(reply)
                        return
                except Empty:
                    pass
                if not await self.is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    class ChainKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _socket_path(self):
            return str(socket_dir / "kernel")

        @default("client_factory")
        def _client_factory_default(self):
            return ChainKernelClient

        async def _async_wait(self, pollinterval: float = 0.01) -> None:
            # jupyter_client polls a killed kernel every 0.1 s until it is gone; the kill
            # takes milliseconds, so most of a tenth of a second of every stage was waiting.
            await super()._async_wait(pollinterval=pollinterval)

        async def start_kernel(self, **kw):
            kw.setdefault("stderr", stderr_file)
            await super()._async_start_kernel(**kw)

    return ChainKernelManager


def check_recorded_inputs(paths: SitePaths, stages: list[str]) -> None:
    """Raise :class:`policestress.provenance.ProvenanceError` when an output of ``stages``
    on disk differs from what the chain recorded (see :func:`provenance.check_outputs`), or
    one of them ran with other settings than the site's configuration holds now: a stage
    never reads outputs of another run."""
    from policestress.provenance import ProvenanceError, check_outputs, read_record

    problems = check_outputs(paths.site, paths.base, stages)
    recorded = read_record(paths.site, paths.base).get("stage_settings", {})
    current = settings_digests(paths.site, paths.base)
    for stage in stages:
        if stage in recorded and recorded[stage] != current[stage]:
            problems.append(
                f"stage '{stage}' ran with other settings than config/sites/{paths.site}/ holds "
                f"now (site.yml keys {', '.join(STAGES[stage].settings)} and the common ones); "
                f"rerun `make {stage} SITE={paths.site}`"
            )
    if problems:
        raise ProvenanceError(
            "inputs of this stage differ from what the chain recorded in "
            f"{paths.final_dir('reports').relative_to(paths.base)}/provenance.json:\n  "
            + "\n  ".join(problems)
        )


def check_site_settings(paths: SitePaths) -> None:
    """Check the site's site.yml against the typed schema (:mod:`policestress.settings`);
    raise its ``ConfigError`` naming the key and the file. The notebook's ``load_site``
    checks the codebook files when the stage runs."""
    import yaml

    from policestress.settings import ConfigError, check_settings

    site_file = paths.config_dir / "site.yml"
    try:
        parsed = yaml.safe_load(site_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{site_file}: not valid YAML: {error}") from None
    check_settings(parsed, str(site_file))


def run_stage(
    stage: str,
    site: str,
    kernel: str = DEFAULT_KERNEL,
    parameters: dict | None = None,
    root: Path | None = None,
    log: StageLog | None = None,
) -> list[Path]:
    """Execute one stage notebook for one site; return the output files it published.

    Raises
    ------
    policestress.settings.ConfigError
        When site.yml breaks a rule (checked before the notebook starts).
    ParameterError
        For a parameter the notebook does not declare (nothing is run or removed).
    policestress.provenance.ProvenanceError
        When an output of a stage it reads was changed outside the chain.
    papermill.PapermillExecutionError
        When a cell fails; nothing of the stage, nor of the stages downstream of it, is left
        in the output folders.
    """
    root = root or project_root()
    paths = SitePaths(site, root)
    if not paths.config_dir.is_dir():
        raise FileNotFoundError(f"no site configuration {paths.config_dir}")
    parameters = dict(parameters or {})
    if parameters:
        check_parameters(stage, parameters, root)
    notebook = root / "notebooks" / STAGES[stage].notebook
    log = log or StageLog(stage, 0)

    staging = root / "build" / site / stage
    executed = staging / "reports" / notebook.name
    env_names = (STAGING_ENV, "POLICESTRESS_ROOT", "MPLBACKEND", "TQDM_DISABLE")
    env_before = {k: os.environ.get(k) for k in env_names}
    os.environ[STAGING_ENV] = str(staging)
    os.environ["POLICESTRESS_ROOT"] = str(root)
    os.environ["MPLBACKEND"] = "Agg"
    # Progress bars would store their timings in the executed notebook; the log has progress.
    os.environ["TQDM_DISABLE"] = "1"
    # The kernel starts first and boots while this process removes stale outputs, checks
    # the settings and inputs and imports papermill: otherwise most of a stage's start-up.
    from jupyter_core.utils import run_sync

    kernel_log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    # A short path: a unix socket's path has at most 107 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="policestress-kernel-"))
    kernel_manager = _kernel_manager_class(kernel_log, socket_dir)(kernel_name=kernel)
    run_sync(kernel_manager.start_kernel)(cwd=str(root))
    skipped = ""
    try:
        # What this stage and everything downstream published describes other data or settings.
        for name in [stage, *downstream(stage)]:
            removed = remove_outputs(paths, name)
            if removed and name != stage:
                log.say(f"removed {removed} outputs of '{name}' (it reads what this stage makes)")
        # A misspelt or mistyped setting stops the stage here, before any cell runs.
        check_site_settings(paths)
        check_recorded_inputs(paths, upstream(stage))

        # jsonschema (imported by papermill through nbformat) compiles rfc3987_syntax's IRI
        # grammar when it is installed, most of a second of every stage's start-up; nothing
        # here validates IRIs, and jsonschema skips that format when the import fails.
        sys.modules.setdefault("rfc3987_syntax", None)
        import papermill as pm

        shutil.rmtree(staging, ignore_errors=True)
        executed.parent.mkdir(parents=True)
        numbers = lab_numbers(json.loads(notebook.read_text(encoding="utf-8")))
        log.n_cells = max(numbers.values(), default=0)

        def on_cell_executed(cell, cell_index, execute_reply):
            if cell_index in numbers:
                log.cell_done(numbers[cell_index])

        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(notebook),
                str(executed),
                parameters={"site": site, **parameters},
                kernel_name=kernel,
                cwd=str(root),
                log_output=False,
                progress_bar=False,
                report_mode=False,
                request_save_on_cell_execute=False,
                km=kernel_manager,
                on_cell_executed=on_cell_executed,
            )
        except pm.PapermillExecutionError as error:
            if error.ename != StageSkipped.__name__:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            skipped = error.evalue
            _tidy_skipped_notebook(executed)
            log.say(f"skipped: {skipped}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        # Every output of the kernel is in by now: no graceful shutdown to wait for.
        run_sync(kernel_manager.shutdown_kernel)(now=True)
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(socket_dir, ignore_errors=True)
        kernel_log.seek(0)
        news = [
            line.rstrip()
            for line in kernel_log
            if line.strip() and not any(noise in line for noise in KERNEL_NOISE)
        ]
        kernel_log.close()
        if news:
            log.say("kernel: " + "\n  ".join(news), sys.stderr)

    timings = os.environ.get(TIMINGS_ENV)
    if timings:
        nb = json.loads(executed.read_text(encoding="utf-8"))
        _append_timings(Path(timings), stage, nb, time.perf_counter() - start)
    final_notebook = paths.final_dir("reports") / notebook.name
    _strip_volatile_metadata(executed, root, final_notebook)
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
    if skipped:
        (manifest.parent / f"{stage}{SKIPPED_SUFFIX}").write_text(skipped + "\n", "utf-8")
    from policestress.provenance import record_stage

    record_stage(site, stage, published, root, settings_digests(site, root)[stage])
    # The executed notebook goes last: it is the target make compares timestamps against.
    final_notebook.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(executed), final_notebook)
    shutil.rmtree(staging, ignore_errors=True)
    return [*published, final_notebook]


def failure_message(stage: str, site: str, error, parameters: dict, root: Path) -> str:
    """The traceback of a failed cell, numbered as JupyterLab numbers it, and what to check."""
    notebook = f"notebooks/{STAGES[stage].notebook}"
    source = json.loads((root / notebook).read_text(encoding="utf-8"))
    number = lab_numbers(source).get(error.cell_index, error.exec_count)
    trace = ANSI.sub("", "\n".join(error.traceback or []))
    sections = ", ".join(STAGES[stage].settings)
    passed = ", ".join(f"{k}={v!r}" for k, v in parameters.items()) or "none (the defaults)"
    return (
        f"FAILED in cell [{number}] of {notebook}: {error.ename}: {error.evalue}\n"
        f"{trace}\n"
        f"Check: the file or setting the error names; config/sites/{site}/site.yml "
        f"(this stage reads: {sections}, and the common keys); parameters passed: {passed}; "
        f"cell [{number}] of {notebook} (run it in JupyterLab with the same site).\n"
        f"No output of '{stage}' or of the stages after it was kept."
    )


def _parse_parameter(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"parameter {text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key, parse_value(value)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--site", required=True)
    parser.add_argument("--kernel", default=DEFAULT_KERNEL)
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        type=_parse_parameter,
        help="notebook parameter KEY=VALUE (VALUE read as a Python literal, else a string)",
    )


def run_command(args: argparse.Namespace) -> int:
    """Run one stage from the command line: log lines, exit status 0/1/2."""
    from policestress.provenance import ProvenanceError
    from policestress.settings import ConfigError

    parameters = dict(args.param)
    log = StageLog(args.stage, 0)
    log.say(f"start  {time.strftime('%H:%M:%S')}  site {args.site}")
    try:
        published = run_stage(args.stage, args.site, args.kernel, parameters, log=log)
    except (ParameterError, ConfigError) as error:
        log.say(f"not run: {error}", sys.stderr)
        log.say(f"No output of '{args.stage}' or of the stages after it was kept.", sys.stderr)
        return 2
    except (ProvenanceError, FileNotFoundError) as error:
        log.say(f"error: {error}", sys.stderr)
        return 1
    except Exception as error:
        import papermill as pm

        if not isinstance(error, pm.PapermillExecutionError):
            raise
        message = failure_message(args.stage, args.site, error, parameters, project_root())
        log.say(message, sys.stderr)
        log.say(f"end    {time.strftime('%H:%M:%S')}  FAILED after {log.elapsed():.1f} s")
        return 1
    log.say(
        f"end    {time.strftime('%H:%M:%S')}  done in {log.elapsed():.1f} s, "
        f"{len(published)} files published"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.stages", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_arguments(sub.add_parser("run", help="execute one stage notebook"))
    sub.add_parser("list", help="print the stages in chain order")
    sub.add_parser("makefile", help="print the Makefile fragment of the chain")
    fragment = sub.add_parser("site-fragment", help="write a site's settings stamps and site.mk")
    fragment.add_argument("--site", required=True)
    fragment.add_argument("--stamps", type=Path, help="folder (default build/.stamps/SITE)")
    args = parser.parse_args(argv)
    if args.command == "list":
        for stage in STAGES.values():
            print(f"{stage.name}\tnotebooks/{stage.notebook}\tneeds: {' '.join(stage.needs)}")
        return 0
    if args.command == "makefile":
        sys.stdout.write(make_fragment(project_root()))
        return 0
    if args.command == "site-fragment":
        root = project_root()
        write_site_fragment(args.site, root, args.stamps and root / args.stamps)
        return 0
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
