"""Stage 00: validation of the export, exclusions, scoring (``analysis.csv``)."""

from __future__ import annotations

from policestress import interpret
from policestress.cleaning import apply_exclusions, data_dictionary, score
from policestress.config import SiteConfig
from policestress.stagework import StageWork
from policestress.stagework.narrative import introduction
from policestress.validate import validate_export


def validation(cfg: SiteConfig) -> StageWork:
    """The export checked against the codebook: ``validation_problems.csv`` and the report.

    ``values["report"]`` is the :class:`policestress.validate.ValidationReport`; publish the
    table, then :func:`stop_on_errors`.
    """
    report = validate_export(cfg)
    lines = [introduction(cfg, "validate"), f"```\n{report.text()}\n```"]
    if report.dropped_columns:
        lines.append(
            f"dropped before any check (ignore_columns): {len(report.dropped_columns)} column(s)"
        )
    return StageWork(
        cfg,
        tables={"validation_problems.csv": report.table()},
        narrative=lines,
        values={"report": report, "missing_codes": report.missing_codes},
    )


def stop_on_errors(checked: StageWork) -> None:
    """Raise when validation found errors (file, column, rows and rule in the message)."""
    checked.values["report"].raise_for_errors()


def cleaning(cfg: SiteConfig, checked: StageWork) -> StageWork:
    """Exclusions in the configured order, then scoring: ``exclusion_flow.csv``,
    ``analysis.csv`` and ``data_dictionary.csv``."""
    report = checked.values["report"]
    kept, flow, _ = apply_exclusions(report.data, cfg)
    analysis = score(kept, cfg)
    dictionary = data_dictionary(analysis, cfg, report.missing_codes)
    return StageWork(
        cfg,
        tables={"exclusion_flow.csv": flow},
        processed={"analysis.csv": analysis, "data_dictionary.csv": dictionary},
        narrative=[interpret.validation_text(flow, cfg.language)],
        values={"scores": analysis.filter(like="score_").describe().T},
    )
