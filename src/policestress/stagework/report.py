"""Stage 07: the thesis tables (Word, LaTeX) and the HTML report (and its PDF).

Unlike the other stages this one writes as it goes (the thesis tables and the report are
files of their own formats, written by :mod:`policestress.publication` and
:mod:`policestress.report`); :func:`run` returns what the notebook shows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from policestress import publication, report
from policestress.config import SiteConfig
from policestress.stagework import StageWork, setting
from policestress.stagework.narrative import introduction, sentence


def run(
    cfg: SiteConfig,
    language: str | None = None,
    loading_cutoff: float | None = None,
    pdf: bool | None = None,
) -> StageWork:
    """Gather every stage's published outputs into the thesis tables and the report."""
    paths = cfg.paths
    language = language or cfg.get("report.language") or cfg.language
    pdf = bool(setting(cfg, "report.pdf", pdf))
    loading_cutoff = float(setting(cfg, "report.loading_cutoff", loading_cutoff))
    published = report.collect_outputs(paths)
    csv_files = [paths.base / p for p in published.loc[published["kind"] == "table", "path"]]
    out_dir = paths.output_dir("reports")
    thesis_dir = paths.output_dir("tables") / report.THESIS_DIR
    # The order is for the stage's wall time. Chromium, the longest part, starts first and
    # boots meanwhile; the figures' screen copies (threads, as PIL releases the GIL; kept in
    # build/.cache/<site> for the figures that did not change) run beside the tables; the
    # page is printed while the thesis tables and the downloads are written.
    printing = report.PdfPrint(out_dir / report.PDF_NAME) if pdf else None
    try:
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            cache = paths.cache_dir("screen")
            screens = report.start_screen_copies(paths.base, published, pool, cache)
            tables = publication.publication_tables(
                publication.read_tables(csv_files),
                cfg.codebook,
                language,
                simulated=cfg.simulated,
                loading_cutoff=loading_cutoff,
            )
            listing = publication.thesis_listing(tables)
            html = report.write_page(cfg, out_dir, language, listing, tables, published, screens)
        if printing is not None:
            printing.start(html)
        publication.write_publication_tables(tables, thesis_dir)
        downloads = report.write_downloads(cfg, published, out_dir, thesis_dir)
    except BaseException:
        if printing is not None:
            printing.kill()
        raise
    site = cfg.name
    files = [
        sentence(
            language, "thesis_files", n=len(listing), folder=f"tables/{site}/{report.THESIS_DIR}/"
        ),
        f"reports/{site}/{html.name}: {html.stat().st_size / 1e6:.1f} MB",
        f"reports/{site}/{downloads.name}: {downloads.stat().st_size / 1e6:.1f} MB "
        + sentence(language, "linked"),
    ]
    if printing is not None:
        printed = printing.wait()
        files.append(
            f"reports/{site}/{printed.name}: {printed.stat().st_size / 1e6:.1f} MB "
            + sentence(language, "printed")
        )
    unlisted = report.unlisted_outputs(paths, published)
    return StageWork(
        cfg,
        narrative=[introduction(cfg, "report")],
        values={
            "published": published.groupby(["stage", "kind"]).size().unstack(fill_value=0),
            "listing": listing[["table", "caption", "key"]],
            "files": files,
            "unlisted": unlisted,
            "unlisted_text": sentence(language, "unlisted", files=unlisted),
        },
    )
