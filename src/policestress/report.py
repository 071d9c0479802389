"""The assembled report: one self-contained HTML file per site, ``reports/<site>/report.html``.

The report shows exactly what the stages published. Each stage's runner
(:mod:`policestress.stages`) writes ``reports/<site>/.manifest/<stage>.json``, the list of
files it produced; :func:`collect_outputs` reads those manifests, so every table and figure
a stage wrote appears (no missing) and nothing else does (no orphan). Files lying in
``tables/<site>`` or ``figures/<site>`` that no manifest lists (left over from an
interactive run, say) are named in a warning at the top instead.

* each stage's section opens with a short interpretation written from its numbers
  (:mod:`policestress.interpret`), then the thesis's tables of that stage
  (:mod:`policestress.publication`: the same tables as the Word and LaTeX files), its
  figures, and its tidy CSVs, each embedded as a ``data:`` link (a download that survives
  moving the report); appendix tables close the report, with numbered lists of tables and
  figures and a contents column that stays in view;
* figures are embedded once, at screen resolution (palette PNG); the print files (PNG
  300 dpi, SVG), the CSVs, the executed notebooks and the thesis tables are in
  ``report_files.zip`` beside the report, linked by its bare name; the page opens offline
  with no external fetch; CSS is inlined; :func:`print_pdf` prints it to ``report.pdf``;
* other files (processed data, lavaan model syntax) are listed with their SHA-256;
* provenance: SHA-256 of the raw data file and of ``analysis.csv``, the git commit, the
  Python and package versions (``importlib.metadata``); nothing time-dependent, so a rerun
  on the same inputs gives the same bytes;
* a red banner when the site is simulated.

Captions come from ``templates/captions.csv`` (:func:`policestress.thesis_tables.caption`).

Examples
--------
>>> from policestress.config import load_site
>>> cfg = load_site("y-subbureau-sim")
>>> path = build_report(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import jinja2
import pandas as pd
import PIL
from PIL import Image

from policestress import interpret
from policestress import publication as pub
from policestress.config import SiteConfig
from policestress.paths import SitePaths
from policestress.provenance import git_commit, package_versions, sha256
from policestress.stages import MANIFEST_DIR, STAGES, skip_reason
from policestress.thesis_tables import caption, caption_order

REPORT_NAME = "report.html"
PDF_NAME = "report.pdf"
# Everything the report offers for download that is too large to embed: figures at print
# resolution (PNG 300 dpi, SVG) and the thesis tables (.docx, .tex). It lies beside the
# report and is linked by its bare name, so the link works wherever the two are moved together.
DOWNLOADS_NAME = "report_files.zip"
THESIS_DIR = "thesis"
# Figures are embedded at screen resolution (the report's column is at most 900 px wide)
# with a 128-colour palette: matplotlib's flat colours survive it, the page stays small.
SCREEN_WIDTH_PX = 900
SCREEN_COLOURS = 128
# A fixed date for every zip member and the PDF: reruns give identical bytes.
FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Packages whose versions the report records, in this order (missing ones are skipped).
FIGURE_SUFFIXES = (".png", ".svg")

# Section titles come from the one list of stages (the report stage has no section).
SECTION_TITLES = {
    s.name: {"en": s.title_en, "zh": s.title_zh} for s in STAGES.values() if s.name != "report"
}

TEXT = {
    "en": {
        "simulated_title": "SIMULATED DATA",
        "simulated_text": (
            "Every number and figure in this report comes from a simulated data set drawn from "
            "a documented population model ({model}). The results show what that model "
            "encodes; they are not evidence about real police officers."
        ),
        "contents": "Contents",
        "tables_word": "tables",
        "figures_word": "figures",
        "table": "Table",
        "figure": "Figure",
        "file": "File",
        "rows": "rows",
        "csv_tables": "Tidy tables (CSV, for machines)",
        "appendix": "Appendix tables",
        "other_files": "Other files of this stage",
        "not_run": "This stage has not been run.",
        "skipped": "This stage was skipped:",
        "thesis_tables": "Thesis tables (Word and LaTeX)",
        "thesis_tables_text": (
            "Every table above as a three-line table in Word (.docx) and LaTeX (booktabs), "
            "labels in the report's language; the files are in {name}."
        ),
        "provenance": "Provenance and software",
        "list_of_tables": "List of tables",
        "list_of_figures": "List of figures",
        "interpretation": "In brief",
        "downloads": "Downloads",
        "downloads_text": (
            "Figures at print resolution (PNG 300 dpi and SVG), every table as CSV and the "
            "thesis tables (Word, LaTeX) are in {name}, the zip file beside this report: keep "
            "the two together when moving the report. Each table's CSV is also embedded in "
            "this page (link under the table)."
        ),
        "csv": "CSV",
        "in_zip": "print files in the zip",
        "software": "Software versions",
        "package": "Package",
        "version": "Version",
        "notebooks": "Executed notebooks",
        "unlisted_title": (
            "Files in the output folders that no stage published (left from an earlier or "
            "interactive run; not part of this report):"
        ),
        "footer": "Generated by the policestress compendium (make report).",
        "subtitle": "Site {site}: {n} respondents in the analysis",
        "title": "Sources of occupational stress among grassroots police officers: results",
    },
    "zh": {
        "simulated_title": "模拟数据 SIMULATED DATA",
        "simulated_text": (
            "本报告中的所有数字和图形均来自依据已记录的总体模型（{model}）生成的模拟数据，"
            "只反映该模型的设定，不构成关于真实民警的证据。"
        ),
        "contents": "目录",
        "tables_word": "表",
        "figures_word": "图",
        "table": "表",
        "figure": "图",
        "file": "文件",
        "rows": "行",
        "csv_tables": "整洁数据表（CSV，供程序读取）",
        "appendix": "附表",
        "other_files": "本阶段的其他文件",
        "not_run": "该阶段尚未运行。",
        "skipped": "该阶段已跳过：",
        "thesis_tables": "论文用表格（Word 与 LaTeX）",
        "thesis_tables_text": (
            "上述每个表格均另存为 Word（.docx）和 LaTeX（booktabs）三线表，标签语言与本报告一致；"
            "文件在 {name} 中。"
        ),
        "provenance": "数据来源与软件版本",
        "list_of_tables": "表目录",
        "list_of_figures": "图目录",
        "interpretation": "结果概要",
        "downloads": "下载",
        "downloads_text": (
            "印刷分辨率的图（PNG 300 dpi 与 SVG）、所有表格的 CSV 以及论文用表格（Word、LaTeX）"
            "均在本报告旁的压缩包 {name} 中：移动报告时请将二者放在一起。每个表格的 CSV "
            "也已嵌入本页（见表下链接）。"
        ),
        "csv": "CSV",
        "in_zip": "压缩包中的印刷文件",
        "software": "软件版本",
        "package": "软件包",
        "version": "版本",
        "notebooks": "已执行的笔记本",
        "unlisted_title": "输出目录中存在未被任何阶段发布的文件（来自先前或交互式运行，不属于本报告）：",
        "footer": "由 policestress 研究汇编生成（make report）。",
        "subtitle": "站点 {site}：纳入分析 {n} 人",
        "title": "基层公安民警职业压力源研究：结果报告",
    },
}


def software_versions() -> pd.DataFrame:
    """Python and package versions (``package, version``), from the provenance record's list.

    Examples
    --------
    >>> software_versions()["package"].tolist()[:2]
    ['python', 'policestress']
    """
    versions = package_versions()
    return pd.DataFrame({"package": list(versions), "version": list(versions.values())})


def read_manifests(paths: SitePaths) -> dict[str, list[str]]:
    """Stage -> files it published (paths relative to the project root), in chain order.

    Stages without a manifest (not run yet) are absent. The report stage itself is skipped.
    """
    folder = paths.final_dir("reports") / MANIFEST_DIR
    out = {}
    for stage in STAGES:
        manifest = folder / f"{stage}.json"
        if stage != "report" and manifest.is_file():
            out[stage] = json.loads(manifest.read_text(encoding="utf-8"))
    return out


def classify(relative: str) -> str:
    """'table' (CSV under tables/), 'figure' (PNG/SVG under figures/) or 'other'."""
    path = Path(relative)
    if path.parts[0] == "tables" and path.suffix == ".csv":
        return "table"
    if path.parts[0] == "figures" and path.suffix in FIGURE_SUFFIXES:
        return "figure"
    return "other"


def collect_outputs(paths: SitePaths) -> pd.DataFrame:
    """All published files: ``stage, path, kind, stem, suffix`` in manifest order."""
    rows = [
        {
            "stage": stage,
            "path": rel,
            "kind": classify(rel),
            "stem": Path(rel).stem,
            "suffix": Path(rel).suffix,
        }
        for stage, files in read_manifests(paths).items()
        for rel in files
    ]
    return pd.DataFrame(rows, columns=["stage", "path", "kind", "stem", "suffix"])


def unlisted_outputs(paths: SitePaths, published: pd.DataFrame) -> list[str]:
    """Files in ``tables/<site>`` and ``figures/<site>`` that no manifest lists.

    The report stage's own thesis tables (``tables/<site>/thesis/``) are not counted.
    """
    listed = set(published["path"])
    out = []
    for kind in ("tables", "figures"):
        folder = paths.final_dir(kind)
        if not folder.is_dir():
            continue
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = file.relative_to(paths.base).as_posix()
            if kind == "tables" and file.relative_to(folder).parts[0] == THESIS_DIR:
                continue
            if rel not in listed:
                out.append(rel)
    return out


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``: a download that lives inside the page.

    Examples
    --------
    >>> data_uri(b"a,b", "text/csv")
    'data:text/csv;base64,YSxi'
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def screen_png(
    path: Path | io.BytesIO, width: int = SCREEN_WIDTH_PX, colours: int = SCREEN_COLOURS
) -> bytes:
    """The figure at screen resolution: ``width`` pixels wide (never enlarged), palette PNG.

    The 300-dpi file stays the one to print (it is in the downloads); this copy is for the
    page only, about a tenth of its bytes. Same input, same bytes. zlib's default level:
    level 9 (``optimize``) made the same pixels 2 % smaller in six times the time.
    """
    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > width:
            height = round(image.height * width / image.width)
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        image = image.quantize(
            colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        out = io.BytesIO()
        image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _svg_inline(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text[text.index("<svg") :]


def _read_table(base: Path, rows: pd.DataFrame, stem: str) -> pd.DataFrame | None:
    hit = rows[(rows["kind"] == "table") & (rows["stem"] == stem)]
    return pd.read_csv(base / hit["path"].iloc[0], encoding="utf-8") if len(hit) else None


def stage_interpretation(
    stage: str,
    cfg: SiteConfig,
    rows: pd.DataFrame,
    language: str,
    published: pd.DataFrame,
) -> str:
    """The short interpretation of a stage (:mod:`policestress.interpret`) from its tables.

    Empty when the stage published none of the tables its text is written from (a site
    without ERI items has no ERI text). ``rows`` are the stage's outputs, ``published`` every
    stage's, for the texts that set two stages side by side: the CFA's says what the EFA said
    (the cfa stage does not read the efa stage's outputs, so it need not wait for it).
    """
    from policestress.plots.text import MODEL_LABELS

    base = cfg.paths.base

    def table(stem: str) -> pd.DataFrame | None:
        return _read_table(base, rows, stem)

    labels = {v: cfg.codebook.label(v, language) for v in cfg.grouping}
    if stage == "validate" and (flow := table("exclusion_flow")) is not None:
        return interpret.validation_text(flow, language)
    if stage == "descriptives" and (rel := table("reliability")) is not None:
        return interpret.reliability_text(rel, language)
    if stage == "efa" and (ad := table("efa_adequacy")) is not None:
        variance = table("efa_variance")
        if variance is None:
            raise FileNotFoundError(
                "the efa stage published efa_adequacy.csv without efa_variance.csv"
            )
        return interpret.efa_text(ad, variance, language)
    if stage == "cfa" and (fit := table("cfa_fit")) is not None:
        chosen = cfg.get("cfa.chosen_model")
        text = interpret.cfa_text(fit, chosen, MODEL_LABELS[language], language)
        efa = published[published["stage"] == "efa"]
        adequacy = _read_table(base, efa, "efa_adequacy")
        flags = _read_table(base, efa, "efa_item_flags")
        estimates = table("cfa_estimates")
        if adequacy is not None and flags is not None and estimates is not None:
            n_constructs = len(cfg.codebook.scales("stress_sources"))
            comparison = interpret.efa_cfa_text(
                adequacy, flags, estimates, chosen, n_constructs, language
            )
            text += ("" if language == "zh" else " ") + comparison
        return text
    if stage == "invariance" and (inv := table("invariance")) is not None:
        return interpret.invariance_text(inv, labels, language)
    if stage == "eri" and (prev := table("eri_prevalence")) is not None:
        cutoff = float(cfg.get("eri.ratio_cutoff"))
        return interpret.eri_text(prev, table("eri_odds_ratios"), cutoff, language)
    if stage == "synthesis" and (ranking := table("synthesis_ranking")) is not None:
        return interpret.synthesis_text(ranking, language)
    return ""


def publication_item(table: pub.PublicationTable) -> dict:
    """A publication table as the report shows it: anchored, titled, rendered once."""
    anchor = f"tab-{table.key}"
    return {
        "kind": "table",
        "anchor": anchor,
        "title": table.title,
        "caption": table.caption,
        "html": pub.to_html(table, anchor=anchor),
        "landscape": table.orientation == "landscape",
    }


# What a cached screen copy depends on besides the figure's bytes.
SCREEN_CACHE_KEY = f"{SCREEN_WIDTH_PX} {SCREEN_COLOURS} zlib6 Pillow {PIL.__version__}".encode()


def _cached_screen_png(data: bytes, cached: Path | None) -> bytes:
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    out = screen_png(io.BytesIO(data))
    if cached is not None:
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.part")
        partial.write_bytes(out)
        partial.replace(cached)  # whole or not at all
    return out


def start_screen_copies(
    base: Path, published: pd.DataFrame, pool: ThreadPoolExecutor, cache: Path | None = None
) -> dict[str, Future]:
    """The screen copy (:func:`screen_png`) of every published PNG figure, made in ``pool``.

    PIL releases the GIL while it decodes, resizes, quantizes and encodes, so the copies
    take the spare cores while the caller goes on with the tables; returns path (relative
    to ``base``, as in ``published``) -> future of the PNG bytes.

    With a ``cache`` folder a copy is kept under the SHA-256 of its figure's bytes and of
    :data:`SCREEN_CACHE_KEY`, so a figure unchanged since the last report is not converted
    again (a change of the EFA redraws a few figures of forty); copies of figures no longer
    published are removed from it.
    """
    figure_pngs = published.loc[
        (published["kind"] == "figure") & (published["suffix"] == ".png"), "path"
    ].tolist()
    sources = {p: (base / p).read_bytes() for p in figure_pngs}
    if cache is None:
        return {p: pool.submit(_cached_screen_png, data, None) for p, data in sources.items()}
    cache.mkdir(parents=True, exist_ok=True)
    names = {
        p: hashlib.sha256(SCREEN_CACHE_KEY + b"\0" + data).hexdigest() + ".png"
        for p, data in sources.items()
    }
    current = set(names.values())
    for old in cache.iterdir():
        if old.name not in current:
            old.unlink()
    return {
        p: pool.submit(_cached_screen_png, data, cache / names[p]) for p, data in sources.items()
    }


def build_sections(
    cfg: SiteConfig,
    published: pd.DataFrame,
    language: str,
    publication_tables: list[pub.PublicationTable] = (),
    screens: dict[str, Future] | None = None,
) -> list[dict]:
    """One dict per analysis stage: its interpretation, publication tables, figures and CSVs.

    The publication tables of a stage (:mod:`policestress.publication`, appendix tables
    excepted) come first; figures are embedded once, at screen resolution
    (:func:`screen_png`; ``screens``: copies already under way, from
    :func:`start_screen_copies`), or inlined when only an SVG exists, their print files
    named as members of :data:`DOWNLOADS_NAME`; each tidy CSV is listed with a ``data:``
    link (a download that survives moving the report).
    """
    if screens is None:
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            screens = start_screen_copies(cfg.paths.base, published, pool)
            return build_sections(cfg, published, language, publication_tables, screens)
    base = cfg.paths.base
    figure_no = 0
    sections = []
    for stage in STAGES:
        if stage == "report":
            continue
        rows = published[published["stage"] == stage]
        if STAGES[stage].on_request and rows.empty and not skip_reason(cfg.paths, stage):
            continue  # not asked for: no section
        # Within a stage: the order of templates/captions.csv, unknown stems after, by name.
        order = [caption_order(r.stem, r.kind) for r in rows.itertuples()]
        rows = rows.assign(_order=order).sort_values(["_order", "stem"], kind="stable")
        items, others, csvs, seen_figures = [], [], [], set()
        for row in rows.itertuples():
            file = base / row.path
            if row.kind == "table":
                csvs.append(
                    {
                        "path": row.path,
                        "name": file.name,
                        "caption": caption(row.stem, "table", language, cfg.codebook),
                        "href": data_uri(file.read_bytes(), "text/csv"),
                    }
                )
            elif row.kind == "figure":
                if row.stem in seen_figures:
                    continue
                seen_figures.add(row.stem)
                figure_no += 1
                files = rows[(rows["kind"] == "figure") & (rows["stem"] == row.stem)]
                png = files[files["suffix"] == ".png"]
                item = {
                    "kind": "figure",
                    "number": figure_no,
                    "anchor": f"figure-{figure_no}",
                    "caption": caption(row.stem, "figure", language, cfg.codebook),
                    "png": "",
                    "svg": "",
                    "files": [{"path": p, "name": Path(p).name} for p in files["path"]],
                }
                if len(png):
                    item["png"] = data_uri(screens[png["path"].iloc[0]].result(), "image/png")
                else:
                    item["svg"] = _svg_inline(file)
                items.append(item)
            else:
                others.append({"path": row.path, "sha256": sha256(file)})
        tables = [
            publication_item(t) for t in publication_tables if t.stage == stage and not t.appendix
        ]
        sections.append(
            {
                "id": f"stage-{stage}",
                "stage": stage,
                "ran": not rows.empty,
                "skipped": skip_reason(cfg.paths, stage),
                "title": SECTION_TITLES.get(stage, {}).get(language, stage),
                "interpretation": stage_interpretation(stage, cfg, rows, language, published)
                if not rows.empty
                else "",
                "items": tables + items,
                "others": others,
                "csvs": csvs,
                "tables": tables,
                "figures": items,
            }
        )
    return sections


def _zip_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_DATE)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def write_downloads(
    cfg: SiteConfig, published: pd.DataFrame, out_dir: Path, thesis_dir: Path | None = None
) -> Path:
    """Write :data:`DOWNLOADS_NAME` beside the report: every published figure (PNG 300 dpi,
    SVG), every published table (CSV), the executed notebooks and the thesis tables, with
    fixed dates (same bytes on rerun). Members are ``figures/…``, ``tables/…``,
    ``notebooks/…`` and ``thesis/…``.
    """
    base = cfg.paths.base
    members: dict[str, bytes] = {}
    for row in published[published["kind"].isin(["figure", "table"])].itertuples():
        folder = "figures" if row.kind == "figure" else "tables"
        members[f"{folder}/{Path(row.path).name}"] = (base / row.path).read_bytes()
    for notebook in sorted(cfg.paths.final_dir("reports").glob("*.ipynb")):
        members[f"notebooks/{notebook.name}"] = notebook.read_bytes()
    if thesis_dir is not None and Path(thesis_dir).is_dir():
        for file in sorted(Path(thesis_dir).iterdir()):
            if file.is_file():
                members[f"{THESIS_DIR}/{file.name}"] = file.read_bytes()
    path = Path(out_dir) / DOWNLOADS_NAME
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(members):
            _zip_member(archive, name, members[name])
    return path


def provenance(cfg: SiteConfig) -> list[tuple[str, str]]:
    """Site, data checksums, git commit, as ``(label, value)`` pairs."""
    base = cfg.paths.base
    items = [("site", cfg.name), ("simulated", str(cfg.simulated))]
    raw = cfg.raw_file
    items.append(
        (
            "raw data file",
            raw.relative_to(base).as_posix() if raw.is_relative_to(base) else str(raw),
        )
    )
    items.append(("raw data SHA-256", sha256(raw) if raw.is_file() else "file not found"))
    analysis = cfg.paths.final_dir("processed") / "analysis.csv"
    if analysis.is_file():
        items.append(("analysis.csv SHA-256", sha256(analysis)))
    items.append(("git commit", git_commit(base) or "not available (not a git checkout)"))
    items.append(("seed", str(cfg.seed)))
    return items


def _load_template(name: str) -> str:
    return resources.files("policestress").joinpath("templates", name).read_text(encoding="utf-8")


def render_report(context: dict) -> str:
    """Fill ``templates/report.html`` (jinja2, autoescaped) with ``context``."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    return env.from_string(_load_template("report.html")).render(**context)


def build_report(
    cfg: SiteConfig,
    out_dir: Path | None = None,
    language: str | None = None,
    thesis_tables: pd.DataFrame | None = None,
    thesis_dir: Path | None = None,
    publication_tables: list[pub.PublicationTable] | None = None,
) -> Path:
    """Write ``report.html`` and :data:`DOWNLOADS_NAME` for a site; return the report's path.

    Parameters
    ----------
    cfg : SiteConfig
    out_dir : Path, optional
        Folder to write to; default ``cfg.paths.output_dir("reports")`` (the staging copy
        under the stage runner, so the runner publishes it).
    language : str, optional
        'zh' or 'en'; default ``cfg.language``.
    thesis_tables : DataFrame, optional
        Output of :func:`policestress.publication.write_publication_tables`, to list the files.
    thesis_dir : Path, optional
        Folder of the thesis tables, zipped into the downloads; default
        ``cfg.paths.output_dir("tables") / "thesis"``.
    publication_tables : list of PublicationTable, optional
        The thesis's tables (:func:`policestress.publication.publication_tables`), shown in
        the sections of their stages (appendix tables in the appendix); default: built here
        from the published CSVs with the site's ``report.loading_cutoff``.
    """
    published = collect_outputs(cfg.paths)
    path = write_page(cfg, out_dir, language, thesis_tables, publication_tables, published)
    thesis_dir = (
        Path(thesis_dir)
        if thesis_dir is not None
        else (cfg.paths.output_dir("tables") / THESIS_DIR)
    )
    write_downloads(cfg, published, path.parent, thesis_dir)
    return path


def write_page(
    cfg: SiteConfig,
    out_dir: Path | None = None,
    language: str | None = None,
    thesis_tables: pd.DataFrame | None = None,
    publication_tables: list[pub.PublicationTable] | None = None,
    published: pd.DataFrame | None = None,
    screens: dict[str, Future] | None = None,
) -> Path:
    """Write ``report.html`` only (:func:`build_report` without the downloads); its path.

    ``published`` is :func:`collect_outputs` (read here when not given), ``screens`` the
    screen copies under way (:func:`start_screen_copies`); the other parameters are
    :func:`build_report`'s.
    """
    language = language or cfg.language
    if language not in TEXT:
        raise ValueError(f"language must be one of {sorted(TEXT)}, not {language!r}")
    t = dict(TEXT[language])
    model = cfg.get("population_model")
    t["simulated_text"] = t["simulated_text"].format(model=f"config/sites/{cfg.name}/{model}")
    t["downloads_text"] = t["downloads_text"].format(name=DOWNLOADS_NAME)
    t["thesis_tables_text"] = t["thesis_tables_text"].format(name=DOWNLOADS_NAME)
    if published is None:
        published = collect_outputs(cfg.paths)
    analysis = cfg.paths.final_dir("processed") / "analysis.csv"
    n = sum(1 for _ in analysis.open(encoding="utf-8")) - 1 if analysis.is_file() else 0
    report_dir = cfg.paths.final_dir("reports")
    thesis_rows = []
    if thesis_tables is not None:
        thesis_rows = [
            {
                "table": row.table,
                "docx": f"{THESIS_DIR}/{row.docx}",
                "tex": f"{THESIS_DIR}/{row.tex}",
                "caption": row.caption,  # templates/report.html shows it in the listing
            }
            for row in thesis_tables.itertuples()
        ]
    notebooks = [
        p.relative_to(cfg.paths.base).as_posix() for p in sorted(report_dir.glob("*.ipynb"))
    ]
    site_title = cfg.settings.get(f"title_{language}") or cfg.name
    if publication_tables is None:
        csv_files = [
            cfg.paths.base / p for p in published.loc[published["kind"] == "table", "path"]
        ]
        publication_tables = pub.publication_tables(
            pub.read_tables(csv_files),
            cfg.codebook,
            language,
            simulated=cfg.simulated,
            loading_cutoff=float(cfg.get("report.loading_cutoff")),
        )
    sections = build_sections(cfg, published, language, publication_tables, screens)
    appendix = [publication_item(t) for t in publication_tables if t.appendix]
    context = {
        "language": language,
        "title": t["title"],
        "subtitle": site_title + " — " + t["subtitle"].format(site=cfg.name, n=n),
        "simulated": cfg.simulated,
        "t": t,
        "css": _load_template("report.css"),
        "sections": sections,
        "appendix": appendix,
        "all_tables": [i for sec in sections for i in sec["tables"]] + appendix,
        "all_figures": [i for sec in sections for i in sec["figures"]],
        "downloads": DOWNLOADS_NAME,
        "unlisted": unlisted_outputs(cfg.paths, published),
        "thesis_tables": thesis_rows,
        "provenance": provenance(cfg),
        "software": software_versions().to_dict("records"),
        "notebooks": notebooks,
    }
    out_dir = Path(out_dir) if out_dir is not None else cfg.paths.output_dir("reports")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_NAME
    path.write_text(render_report(context), encoding="utf-8")
    return path


def chromium_binary() -> str | None:
    """Path of a headless-capable Chromium (Debian package ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Every headless Chromium run: no sandbox (containers run as root), no GPU, and nothing
# that reaches the network or changes between runs (first-run tasks, extensions, background
# networking, component updates, sync).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


_ON_3_AND_4 = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def _fd_above_4(fd: int) -> int:
    """The open file descriptor ``fd`` under a number of 5 or more (the old one closed)."""
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


class ChromiumRun:
    """Headless Chromium opening the HTML file ``page`` with :data:`CHROMIUM_FLAGS` and
    ``flags``, started at once and in the background: :meth:`wait` for it (or :meth:`kill`).

    With ``devtools`` Chromium opens no page and is driven over the DevTools protocol on a
    pair of pipes (``--remote-debugging-pipe``: it reads commands on its file descriptor 3
    and answers on 4), here :attr:`commands` and :attr:`replies`.

    Raises
    ------
    FileNotFoundError
        When Chromium is not installed (Debian: ``apt-get install chromium``); ``hint`` says
        what needs it.
    """

    def __init__(
        self,
        page: Path | None,
        flags: list[str],
        timeout: int,
        hint: str = "",
        devtools: bool = False,
    ):
        binary = chromium_binary()
        if binary is None:
            raise FileNotFoundError(f"Chromium not found: apt-get install chromium{hint}")
        url = Path(page).resolve().as_uri() if page is not None else "about:blank"
        if devtools:
            flags = [*flags, "--remote-debugging-pipe"]
        self.command = [binary, *CHROMIUM_FLAGS, *flags, url]
        self.timeout = timeout
        self._started = time.monotonic()
        # A file, not a pipe: nothing reads Chromium's chatter while it runs, and a full pipe
        # would stop it.
        self._log = tempfile.TemporaryFile()
        launch, keep = self.command, ()
        if devtools:
            to_chromium, self._commands_fd = os.pipe()
            self._replies_fd, from_chromium = os.pipe()
            # Above 4, so that putting one on 3 or 4 cannot overwrite the other.
            to_chromium, from_chromium = (
                _fd_above_4(to_chromium),
                _fd_above_4(from_chromium),
            )
            # A bare Python puts the pipes on descriptors 3 and 4 and becomes Chromium
            # (exec): no preexec_fn, which is unsafe once threads run, and no /bin/sh, whose
            # dash takes no descriptor above 9.
            launch = [
                sys.executable,
                "-I",
                "-S",
                "-c",
                _ON_3_AND_4,
                str(to_chromium),
                str(from_chromium),
                *self.command,
            ]
            keep = (to_chromium, from_chromium)
        self._process = subprocess.Popen(
            launch,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=keep,
        )
        for fd in keep:
            os.close(fd)  # Chromium's ends
        if devtools:
            self.commands = os.fdopen(self._commands_fd, "wb", buffering=0)
            self.replies = os.fdopen(self._replies_fd, "rb", buffering=0)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for Chromium to finish (at most ``timeout`` seconds from its start).

        Raises
        ------
        subprocess.TimeoutExpired
            When it runs longer than ``timeout`` seconds from its start (it is killed).
        subprocess.CalledProcessError
            When it fails; the exception's ``output`` is what it printed.
        """
        try:
            code = self._process.wait(timeout=self.seconds_left(timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._log.seek(0)
        output = self._log.read()
        self._log.close()
        if code != 0:
            raise subprocess.CalledProcessError(code, self.command, output=output)

    def seconds_left(self, timeout: float | None = None) -> float:
        """What remains of ``timeout`` (default: the run's) since Chromium started."""
        timeout = self.timeout if timeout is None else timeout
        return max(timeout - (time.monotonic() - self._started), 0)

    def kill(self) -> None:
        """Stop Chromium (its work is not wanted any more); :meth:`wait` then raises."""
        self._process.kill()
        self._process.wait()


class _DevTools:
    """Commands and replies of the DevTools protocol over Chromium's pipes: JSON messages,
    each ended by a NUL byte; events (messages without an id) are remembered by name."""

    def __init__(self, run: ChromiumRun):
        self._run = run
        self._buffer = bytearray()
        self._last_id = 0
        self.events: list[str] = []

    def _message(self) -> dict:
        searched = 0  # the PDF comes as one message of megabytes: look at new bytes only
        while (end := self._buffer.find(b"\0", searched)) < 0:
            searched = len(self._buffer)
            chunk = self._run.replies.read(1 << 20)
            if not chunk:
                raise EOFError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message = json.loads(self._buffer[:end])
        del self._buffer[: end + 1]
        if "id" not in message:
            self.events.append(message.get("method", ""))
        return message

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its result (events meanwhile are remembered)."""
        self._last_id += 1
        command = {"id": self._last_id, "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        self._run.commands.write(json.dumps(command).encode() + b"\0")
        while (message := self._message()).get("id") != self._last_id:
            pass
        if "error" in message:
            raise RuntimeError(f"Chromium, {method}: {message['error'].get('message')}")
        return message["result"]

    def wait_for(self, event: str) -> None:
        while event not in self.events:
            self._message()


def run_chromium(page: Path, flags: list[str], timeout: int, hint: str = "") -> None:
    """Open the HTML file ``page`` in headless Chromium and wait for it (:class:`ChromiumRun`).

    Raises
    ------
    FileNotFoundError
        When Chromium is not installed (Debian: ``apt-get install chromium``); ``hint`` says
        what needs it.
    """
    ChromiumRun(page, flags, timeout, hint).wait()


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1800) -> Path:
    """Render the HTML file ``page`` in headless Chromium and save a PNG screenshot (a visual check).

    Raises
    ------
    FileNotFoundError
        When Chromium is not installed (Debian: ``apt-get install chromium``).
    """
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    flags = ["--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={png}"]
    run_chromium(page, flags, timeout=120)
    return png


# Chromium writes the time of printing into the PDF's info dictionary; a fixed date of the
# same length keeps the cross-reference offsets valid and the bytes identical on rerun.
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9+\-Z':]+\)")


class PdfPrint:
    """Headless Chromium printing an HTML page to ``pdf`` (A4, backgrounds kept).

    Chromium starts when this is made and boots while the caller prepares the page;
    :meth:`start` prints the page in the background (a thread reads Chromium's replies),
    :meth:`wait` returns the PDF, dated 1980-01-01, :meth:`kill` gives up. The print is
    driven over the DevTools protocol with the settings of Chromium's own
    ``--print-to-pdf --no-pdf-header-footer``: the same bytes.

    Raises
    ------
    FileNotFoundError
        When Chromium is not installed (Debian: ``apt-get install chromium``).
    """

    # Page.printToPDF as --print-to-pdf --no-pdf-header-footer prints (checked: same bytes)
    SETTINGS = {
        "printBackground": True,
        "preferCSSPageSize": True,
        "displayHeaderFooter": False,
        "generateTaggedPDF": True,
    }
    TIMEOUT = 300

    def __init__(self, pdf: Path):
        self.pdf = Path(pdf)
        self.pdf.parent.mkdir(parents=True, exist_ok=True)
        hint = " (it prints the report's PDF), or set report.pdf: false in the site's site.yml"
        self._run = ChromiumRun(None, [], self.TIMEOUT, hint, devtools=True)
        self._thread: threading.Thread | None = None
        self._printed: bytes | None = None
        self._error: BaseException | None = None

    def start(self, page: Path) -> None:
        """Print the HTML file ``page``, in the background."""
        self._thread = threading.Thread(target=self._print, args=(Path(page),), daemon=True)
        self._thread.start()

    def _print(self, page: Path) -> None:
        try:
            devtools = _DevTools(self._run)
            target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            devtools.call("Page.enable", session=session)
            opened = devtools.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
            if opened.get("errorText"):
                raise RuntimeError(f"Chromium could not open {page}: {opened['errorText']}")
            devtools.wait_for("Page.loadEventFired")
            printed = devtools.call("Page.printToPDF", self.SETTINGS, session)
            self._printed = base64.b64decode(printed["data"])
            try:
                devtools.call("Browser.close")
            except EOFError:
                pass  # closed before its reply: what was asked
        except BaseException as error:  # handed to the caller's thread by wait()
            self._error = error

    def wait(self) -> Path:
        """Wait for the print; the PDF's dates are fixed (same bytes on rerun).

        Raises
        ------
        subprocess.CalledProcessError
            When Chromium failed (the exception's ``output`` is what it printed).
        subprocess.TimeoutExpired
            When the print took longer than :attr:`TIMEOUT` seconds from Chromium's start.
        """
        if self._thread is not None:
            self._thread.join(self._run.seconds_left())
            if self._thread.is_alive():
                self._run.kill()
                raise subprocess.TimeoutExpired(self._run.command, self.TIMEOUT)
        # A closed pipe (EOFError when reading, BrokenPipeError when writing) means Chromium
        # has gone: its exit status and output say why.
        if self._error is not None and not isinstance(self._error, (EOFError, BrokenPipeError)):
            self._run.kill()  # Chromium is up, its print failed
            raise self._error
        self._run.wait()  # raises if Chromium failed, with what it printed
        if self._error is not None:
            raise self._error
        if self._printed is None:
            raise RuntimeError("PdfPrint.wait before PdfPrint.start: nothing was printed")

        def fixed(match: re.Match) -> bytes:
            # D:YYYYMMDDHHmmSS then the time zone: the 14 digits become 1980-01-01 00:00:00
            # UTC and the zone +00'00' (same length, same form).
            original = match.group(0)
            head = b"/" + match.group(1) + b" (D:"
            rest = original[len(head) + 14 : -1]
            zone = re.sub(rb"[0-9]", b"0", rest).replace(b"-", b"+")
            return head + b"19800101000000" + zone + b")"

        self.pdf.write_bytes(_PDF_DATE.sub(fixed, self._printed))
        return self.pdf

    def kill(self) -> None:
        """Stop the print (the stage failed before it was needed)."""
        self._run.kill()


def print_pdf(page: Path, pdf: Path) -> Path:
    """Print the HTML file ``page`` to ``pdf`` with headless Chromium (A4, backgrounds kept).

    Raises
    ------
    FileNotFoundError
        When Chromium is not installed (Debian: ``apt-get install chromium``).
    """
    printing = PdfPrint(pdf)
    printing.start(page)
    return printing.wait()
