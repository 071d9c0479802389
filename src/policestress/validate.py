"""Validation of a survey export against the site's codebook.

Every problem is reported with the file, the column (export header and item id), the first
few rows (as row numbers in the export file, the header being row 1) and the rule broken.
Errors stop the chain (``python -m policestress.validate --site S`` exits 1, the cleaning
notebook raises); warnings are what the cleaning rules handle (duplicate submissions,
careless responders, speeders).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from policestress.config import SiteConfig, load_site
from policestress.survey_io import (
    ExportReadError,
    decode_answers,
    map_headers,
    read_export,
)

ROWS_SHOWN = 5
# Headers or contents that identify a person: never allowed into the analysis.
IDENTIFIER_HEADER = re.compile(
    r"姓名|名字|身份证|证件号|手机|电话|联系方式|警号|住址|\bname\b|id.?card|phone|mobile|e-?mail|address|\bip\b|来自IP",
    re.IGNORECASE,
)
IDENTIFIER_VALUE = {
    "ID-card number": re.compile(r"^\d{17}[\dXx]$"),
    "mobile phone number": re.compile(r"^(?:\+?86)?1[3-9]\d{9}$"),
    "e-mail address": re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"),
}


class ValidationError(ValueError):
    """The export breaks at least one validation rule; the message lists every error."""


@dataclass
class Problem:
    severity: str  # "error" or "warning"
    rule: str
    message: str
    column: str = ""
    rows: list[int] = field(default_factory=list)

    def describe(self, file: Path) -> str:
        where = f"{file.name}"
        if self.column:
            where += f", column {self.column}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:ROWS_SHOWN])
            more = f" (+{len(self.rows) - ROWS_SHOWN} more)" if len(self.rows) > ROWS_SHOWN else ""
            where += f", rows {shown}{more}"
        return f"{self.severity.upper()} [{self.rule}] {where}: {self.message}"


@dataclass
class ValidationReport:
    file: Path
    problems: list[Problem]
    data: pd.DataFrame | None  # item-id columns, numeric where the codebook says so

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def table(self) -> pd.DataFrame:
        """Tidy table of problems: severity, rule, file, column, n_rows, rows, message."""
        return pd.DataFrame(
            [
                {
                    "severity": p.severity,
                    "rule": p.rule,
                    "file": self.file.name,
                    "column": p.column,
                    "n_rows": len(p.rows),
                    "rows": " ".join(str(r) for r in p.rows[:ROWS_SHOWN]),
                    "message": p.message,
                }
                for p in self.problems
            ],
            columns=["severity", "rule", "file", "column", "n_rows", "rows", "message"],
        )

    def text(self) -> str:
        lines = [p.describe(self.file) for p in self.problems]
        return "\n".join(lines) if lines else f"{self.file.name}: no problems found"

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationError(
                f"{len(self.errors)} validation error(s) in {self.file}:\n"
                + "\n".join(p.describe(self.file) for p in self.errors)
            )


def _file_rows(index: pd.Index) -> list[int]:
    """Row numbers as a spreadsheet shows them: header = row 1, first answer = row 2."""
    return [int(i) + 2 for i in index]


def validate_export(site: SiteConfig, path: Path | None = None) -> ValidationReport:
    """Check the site's export (or ``path``) against its codebook and configuration.

    Examples
    --------
    >>> report = validate_export(load_site("y-subbureau-sim"))
    >>> report.errors
    []
    """
    path = Path(path or site.raw_file)
    try:
        export = read_export(
            path,
            site.settings.get("raw_format", "auto"),
            site.settings.get("sheet", 0),
            site.settings.get("encoding", "auto"),
        )
    except ExportReadError as error:
        return ValidationReport(path, [Problem("error", "readable", str(error))], None)
    if export.shape[0] == 0:
        return ValidationReport(
            path, [Problem("error", "not_empty", "the export has a header but no answers")], None
        )

    problems: list[Problem] = []
    for column in export.columns:
        if IDENTIFIER_HEADER.search(column):
            problems.append(
                Problem(
                    "error",
                    "no_identifiers",
                    "column looks like a personal identifier: remove it from the export (or list it under ignore_columns only if it is empty)",
                    column,
                )
            )
            continue
        values = export[column].astype(str).str.strip()
        # every identifier pattern is at least 6 characters long: skip the short answer codes
        values = values[values.str.len() >= 6]
        for kind, pattern in IDENTIFIER_VALUE.items():
            hits = values.index[values.str.match(pattern)]
            if len(hits):
                problems.append(
                    Problem(
                        "error",
                        "no_identifiers",
                        f"cells look like a {kind}: personal identifiers must not be in the export",
                        column,
                        _file_rows(hits),
                    )
                )

    mapping = map_headers(export, site)
    for header in mapping.duplicated:
        problems.append(
            Problem("error", "unique_headers", "the header appears more than once", header)
        )
    for header in mapping.missing:
        problems.append(
            Problem(
                "error",
                "codebook_columns_present",
                "codebook column missing from the export",
                header,
            )
        )
    for header in mapping.unknown:
        if not any(p.column == header and p.rule == "no_identifiers" for p in problems):
            problems.append(
                Problem(
                    "error",
                    "known_columns",
                    "column not in the codebook: add it to the codebook or to ignore_columns in site.yml",
                    header,
                )
            )

    table = site.codebook.table.set_index("item_id")
    data = decode_answers(mapping.data, site)
    for item in data.columns:
        row = table.loc[item]
        label = f"'{row['header']}' ({item})"
        if row["type"] not in ("likert", "categorical", "attention"):
            continue
        text = data[item].astype(str).str.strip()
        numeric = pd.to_numeric(text.where(text != ""), errors="coerce")
        not_numeric = text.index[(text != "") & numeric.isna()]
        if len(not_numeric):
            examples = ", ".join(repr(v) for v in text[not_numeric].unique()[:3])
            problems.append(
                Problem(
                    "error",
                    "numeric",
                    f"answers that are neither codes nor value labels of the codebook: {examples}",
                    label,
                    _file_rows(not_numeric),
                )
            )
        low, high = int(row["min"]), int(row["max"])
        bad = numeric.index[
            numeric.notna() & ((numeric < low) | (numeric > high) | (numeric % 1 != 0))
        ]
        if len(bad):
            examples = ", ".join(str(v) for v in numeric[bad].unique()[:3])
            problems.append(
                Problem(
                    "error",
                    "valid_range",
                    f"values outside the valid codes {low}-{high}: {examples}",
                    label,
                    _file_rows(bad),
                )
            )
        answered = numeric.dropna()
        if row["type"] == "likert" and len(answered) > 1 and answered.nunique() == 1:
            problems.append(
                Problem(
                    "error",
                    "item_variance",
                    f"every respondent gave the same answer ({answered.iloc[0]:g}): the item has no variance",
                    label,
                )
            )
        data[item] = numeric

    id_items = site.codebook.items(types=("id",))["item_id"].tolist()
    if id_items and id_items[0] in data.columns:
        ids = data[id_items[0]].astype(str)
        repeated = ids.index[ids.duplicated(keep=False) & (ids != "")]
        if len(repeated):
            problems.append(
                Problem(
                    "error",
                    "unique_ids",
                    "respondent ids occur more than once",
                    f"'{table.loc[id_items[0], 'header']}' ({id_items[0]})",
                    _file_rows(repeated),
                )
            )

    scored = [
        i for i in site.codebook.items(types=("likert", "categorical")).item_id if i in data.columns
    ]
    if scored:
        same = data.index[data.duplicated(subset=scored, keep="first")]
        if len(same):
            problems.append(
                Problem(
                    "warning",
                    "duplicate_submissions",
                    "identical answers to every question as an earlier row: the cleaning stage keeps the first",
                    "",
                    _file_rows(same),
                )
            )

    minimum = int(site.get("validation.min_respondents", 100))
    if len(data) < minimum:
        problems.append(
            Problem(
                "error",
                "enough_respondents",
                f"{len(data)} respondents; the planned factor analyses need at least {minimum} (validation.min_respondents)",
            )
        )
    return ValidationReport(path, problems, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.validate", description=__doc__)
    parser.add_argument("--site", required=True)
    parser.add_argument(
        "--file", type=Path, help="validate this export instead of the site's raw_file"
    )
    args = parser.parse_args(argv)
    report = validate_export(load_site(args.site), args.file)
    print(report.text(), file=sys.stderr if report.errors else sys.stdout)
    if report.errors:
        print(
            f"{len(report.errors)} error(s): fix the export or the codebook, then rerun",
            file=sys.stderr,
        )
        return 1
    print(f"{report.file}: {len(report.data)} rows, no errors, {len(report.warnings)} warning(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
