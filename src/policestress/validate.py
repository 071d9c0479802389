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

from policestress.config import CODED_TYPES, GENERATED_ID, ConfigError, SiteConfig, load_site
from policestress.survey_io import (
    ExportReadError,
    decode_answers,
    ignored_columns,
    map_headers,
    normalize_header,
    read_export,
)

ROWS_SHOWN = 5
# Headers or contents that identify a person: never allowed into the analysis. "ip" counts
# when no Latin letter touches it ("来自IP", "IP地址", "ip", "IP address"; not "zip", "tip").
IDENTIFIER_HEADER = re.compile(
    r"姓名|名字|身份证|证件号|手机|电话|联系方式|警号|住址|IP地址|"
    r"\bname\b|id.?card|phone|mobile|e-?mail|address|(?<![a-z])ip(?:v[46])?(?![a-z])",
    re.IGNORECASE,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9a-f]{1,4}"
IDENTIFIER_VALUE = {
    "ID-card number": re.compile(r"^\d{17}[\dXx]$"),
    "mobile phone number": re.compile(r"^(?:\+?86)?1[3-9]\d{9}$"),
    "e-mail address": re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"),
    # platforms add the place after the address: "113.200.1.2(陕西-西安)"
    "IP address": re.compile(
        rf"^(?:{_OCTET}\.){{3}}{_OCTET}(?![\d.])"
        rf"|^(?:{_HEX}:){{7}}{_HEX}(?![0-9a-f:])"
        rf"|^(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?(?![0-9a-f:])",
        re.IGNORECASE,
    ),
}
# Item types whose answers are checked as numbers (codes or quantities).
ANSWER_TYPES = (*CODED_TYPES, "numeric")


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


MISSING_COLUMNS = ["item_id", "header", "code", "source", "n"]


@dataclass
class ValidationReport:
    file: Path
    problems: list[Problem]
    data: pd.DataFrame | None  # item-id columns, numeric where the codebook says so
    # the codes read as missing: item_id, header, code, source, n (cells of the export)
    missing_codes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=MISSING_COLUMNS)
    )
    dropped_columns: list[str] = field(default_factory=list)  # ignore_columns found and dropped

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


def _file_rows(index: pd.Index, header_row: int = 1) -> list[int]:
    """Row numbers as a spreadsheet shows them: the first answer is the row below the header."""
    return [int(i) + header_row + 1 for i in index]


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and pd.notna(pd.to_numeric(str(value), errors="coerce"))


def read_missing_codes(
    data: pd.DataFrame, site: SiteConfig, headers: dict[str, str], user_missing: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Blank the cells that hold a missing-value code; count them by item, code and source.

    Codes come from site.yml ``missing_values`` (every item), the codebook's ``missing``
    column (that item) and the SPSS file's user-missing values (that variable). A cell
    matches a code as text (``NA``) or as a number (``-99`` matches ``-99.0``). The
    respondent id is never recoded.
    """
    out = data.copy()
    site_codes = [str(c).strip() for c in site.settings.get("missing_values", None) or []]
    types = site.codebook.table.set_index("item_id")["type"]
    counts = []
    for item in out.columns:
        if types[item] == "id":
            continue
        text = out[item].astype(str).str.strip()
        number = pd.to_numeric(text.where(text != ""), errors="coerce")
        sources = [(c, "site.yml missing_values") for c in site_codes]
        sources += [(c, "codebook missing") for c in site.codebook.missing_codes(item)]
        hit_any = pd.Series(False, index=out.index)
        for code, source in sources:
            hit = (text == code) | (number == float(code) if _is_number(code) else False)
            hit &= ~hit_any
            if hit.any():
                counts.append((item, headers.get(item, item), code, source, int(hit.sum())))
                hit_any |= hit
        for low, high in user_missing.get(headers.get(item, ""), []):
            if _is_number(low) and _is_number(high):
                hit = (number >= float(low)) & (number <= float(high))
                code = (
                    f"{float(low):g}"
                    if float(low) == float(high)
                    else f"{float(low):g} to {float(high):g}"
                )
            else:
                hit = text == str(low).strip()
                code = str(low)
            hit &= ~hit_any
            if hit.any():
                counts.append(
                    (item, headers.get(item, item), code, "SPSS user-missing", int(hit.sum()))
                )
                hit_any |= hit
        out.loc[hit_any, item] = ""
    return out, pd.DataFrame(counts, columns=MISSING_COLUMNS)


def validate_export(site: SiteConfig, path: Path | None = None) -> ValidationReport:
    """Check the site's export (or ``path``) against its codebook and configuration.

    Examples
    --------
    >>> report = validate_export(load_site("y-subbureau-sim"))
    >>> report.errors
    []
    """
    path = Path(path or site.raw_file)
    header_row = site.settings.get("header_row", 1)
    try:
        export = read_export(
            path,
            site.settings.get("raw_format", "auto"),
            site.settings.get("sheet", 0),
            site.settings.get("encoding", "auto"),
            header_row,
        )
    except ExportReadError as error:
        return ValidationReport(path, [Problem("error", "readable", str(error))], None)
    header_row = export.attrs.get("header_row", 1)
    user_missing = export.attrs.get("user_missing", {})
    if export.shape[0] == 0:
        return ValidationReport(
            path, [Problem("error", "not_empty", "the export has a header but no answers")], None
        )

    def rows(index: pd.Index) -> list[int]:
        return _file_rows(index, header_row)

    problems: list[Problem] = []
    # ignore_columns are dropped before any check: they never reach a rule, a table or a file
    ignore = ignored_columns(site)
    dropped = [c for c in dict.fromkeys(export.columns) if c in ignore]
    export = export.loc[:, [c not in ignore for c in export.columns]]
    codebook_headers = {
        normalize_header(h): i
        for h, i in zip(site.codebook.table["header"], site.codebook.table["item_id"], strict=True)
    }
    for column in sorted(ignore & set(codebook_headers)):
        problems.append(
            Problem(
                "error",
                "ignore_columns",
                f"listed under ignore_columns in site.yml and also a codebook column "
                f"({codebook_headers[column]}): remove it from one of the two",
                column,
            )
        )
    for column in sorted({c for c in export.columns if list(export.columns).count(c) > 1}):
        problems.append(
            Problem(
                "error",
                "unique_headers",
                f"{list(export.columns).count(column)} columns have this header: rename them "
                "in the export (or the codebook cannot tell them apart)",
                column,
            )
        )
    for position, column in enumerate(export.columns):
        if IDENTIFIER_HEADER.search(column):
            problems.append(
                Problem(
                    "error",
                    "no_identifiers",
                    "column looks like a personal identifier: list it under ignore_columns in "
                    "site.yml (the chain then drops it before any check) or remove it from the export",
                    column,
                )
            )
            continue
        values = export.iloc[:, position].astype(str).str.strip()
        # every identifier pattern is at least 6 characters long: skip the short answer codes
        values = values[values.str.len() >= 6]
        for kind, pattern in IDENTIFIER_VALUE.items():
            hits = values.index[values.str.match(pattern)]
            if len(hits):
                problems.append(
                    Problem(
                        "error",
                        "no_identifiers",
                        f"cells look like a {kind}: personal identifiers must not reach the "
                        "analysis; list the column under ignore_columns in site.yml (it is then "
                        "dropped before any check) or remove it from the export",
                        column,
                        rows(hits),
                    )
                )

    mapping = map_headers(export, site)
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
        if not any(
            p.column == header and p.rule in ("no_identifiers", "unique_headers") for p in problems
        ):
            problems.append(
                Problem(
                    "error",
                    "known_columns",
                    "column not in the codebook: add it to the codebook or to ignore_columns in site.yml",
                    header,
                )
            )

    table = site.codebook.table.set_index("item_id")
    site_codes = site.settings.get("missing_values", None) or []
    if not isinstance(site_codes, list):
        problems.append(
            Problem(
                "error",
                "missing_values",
                f'site.yml missing_values must be a list of codes, e.g. ["NA", -99]; got {site_codes!r}',
            )
        )
        site_codes = []
    for code in site_codes:
        if not _is_number(code):
            continue
        inside = table[
            table["type"].isin(ANSWER_TYPES)
            & (table["min"] <= float(code))
            & (table["max"] >= float(code))
        ]
        if len(inside):
            problems.append(
                Problem(
                    "error",
                    "missing_values",
                    f"site.yml missing_values code {code} is a valid answer of "
                    f"{', '.join(inside.index[:5])} (range {inside['min'].iloc[0]}-{inside['max'].iloc[0]}): "
                    "drop it from missing_values and declare it per item in the codebook's `missing` column",
                )
            )
    if any(p.rule == "missing_values" for p in problems):
        site_codes = []
    cleaned, missing_codes = read_missing_codes(
        mapping.data, _with_codes(site, site_codes), mapping.headers, user_missing
    )
    data = decode_answers(cleaned, site)
    for item in data.columns:
        row = table.loc[item]
        label = f"'{mapping.headers.get(item, row['header'])}' ({item})"
        if row["type"] not in ANSWER_TYPES:
            continue
        text = data[item].astype(str).str.strip()
        numeric = pd.to_numeric(text.where(text != ""), errors="coerce")
        not_numeric = text.index[(text != "") & numeric.isna()]
        if len(not_numeric):
            examples = ", ".join(repr(v) for v in text[not_numeric].unique()[:3])
            what = (
                "numbers" if row["type"] == "numeric" else "codes nor value labels of the codebook"
            )
            problems.append(
                Problem(
                    "error",
                    "numeric",
                    f"answers that are neither {what}: {examples}"
                    + (
                        ""
                        if site_codes or row["missing"]
                        else "; if they mean 'no answer', list them under missing_values in site.yml"
                    ),
                    label,
                    rows(not_numeric),
                )
            )
        low, high = row["min"], row["max"]
        out_of_range = pd.Series(False, index=numeric.index)
        if pd.notna(low):
            out_of_range |= numeric < low
        if pd.notna(high):
            out_of_range |= numeric > high
        if row["type"] != "numeric":
            out_of_range |= numeric % 1 != 0
        bad = numeric.index[numeric.notna() & out_of_range]
        if len(bad):
            examples = ", ".join(f"{v:g}" for v in numeric[bad].unique()[:3])
            span = f"{_bound(low)}-{_bound(high)}"
            what = "the valid range" if row["type"] == "numeric" else "the valid codes"
            problems.append(
                Problem(
                    "error",
                    "valid_range",
                    f"values outside {what} {span}: {examples}",
                    label,
                    rows(bad),
                )
            )
        answered = numeric.dropna()
        if answered.empty and not len(not_numeric):
            problems.append(
                Problem(
                    "error",
                    "answered",
                    "nobody answered this item (every cell is empty or a missing-value code): "
                    "check the export, or remove the item from the codebook and list the column "
                    "under ignore_columns",
                    label,
                )
            )
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

    if site.settings.get("id") == "generate":
        # no respondent-id column: rows are numbered in file order (stated in the outputs)
        data.insert(0, GENERATED_ID, [str(i) for i in range(1, len(data) + 1)])
    else:
        id_items = site.codebook.items(types=("id",))["item_id"].tolist()
        if not id_items:
            problems.append(
                Problem(
                    "error",
                    "respondent_id",
                    "the codebook has no row of type 'id': add the export's respondent-number "
                    "column, or set `id: generate` in site.yml to number the rows in file order",
                )
            )
        elif id_items[0] in data.columns:
            ids = data[id_items[0]].astype(str)
            repeated = ids.index[ids.duplicated(keep=False) & (ids != "")]
            if len(repeated):
                problems.append(
                    Problem(
                        "error",
                        "unique_ids",
                        "respondent ids occur more than once",
                        f"'{table.loc[id_items[0], 'header']}' ({id_items[0]})",
                        rows(repeated),
                    )
                )

    scored = [
        i
        for i in site.codebook.items(types=("likert", "categorical", "numeric")).item_id
        if i in data.columns
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
                    rows(same),
                )
            )
    for instrument in ("stress_sources", "eri", "outcome", "relief"):
        second_order = instrument == "stress_sources"  # the instrument of the second-order models
        for note in site.codebook.structure_notes(instrument, second_order):
            problems.append(Problem("warning", "codebook_structure", f"{instrument}: {note}"))

    minimum = int(site.get("validation.min_respondents", 100))
    if len(data) < minimum:
        problems.append(
            Problem(
                "error",
                "enough_respondents",
                f"{len(data)} respondents; the planned factor analyses need at least {minimum} (validation.min_respondents)",
            )
        )
    return ValidationReport(path, problems, data, missing_codes, dropped)


def _bound(value) -> str:
    return "" if pd.isna(value) else f"{value:g}"


def _with_codes(site: SiteConfig, codes: list) -> SiteConfig:
    """The site with ``missing_values`` replaced by the usable ``codes``."""
    from dataclasses import replace

    return replace(site, settings={**site.settings, "missing_values": codes})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policestress.validate", description=__doc__)
    parser.add_argument("--site", required=True)
    parser.add_argument(
        "--file", type=Path, help="validate this export instead of the site's raw_file"
    )
    args = parser.parse_args(argv)
    try:
        site = load_site(args.site)
    except ConfigError as error:  # a broken site.yml or codebook: the message names file and rule
        print(f"ERROR [config] {error}", file=sys.stderr)
        return 1
    report = validate_export(site, args.file)
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
