"""Reading survey exports (CSV in UTF-8 or GBK, Excel .xlsx, SPSS .sav) into item-id columns.

Online survey platforms export one column per question, headed by the question text
(Chinese headers included); SPSS files carry short variable names with the question text as
the variable label. :func:`read_export` reads any of them and :func:`map_headers` renames the
columns to the codebook's item ids; answers exported as text ("男", "非常同意") are turned back
into codes with the codebook's value labels.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from policestress.config import SiteConfig


class ExportReadError(ValueError):
    """The export cannot be read at all (wrong format, encoding, a corrupt or empty file)."""


# CSV delimiters an export may use; the one in use is sniffed from the file.
CSV_DELIMITERS = ",;\t"
# Encodings tried, in order, when site.yml says `encoding: auto` (GB18030 is a superset of GBK).
AUTO_ENCODINGS = ("utf-8-sig", "gb18030")


def normalize_header(text: object) -> str:
    """Header text compared to the codebook: Unicode NFKC (full-width -> half-width), trimmed.

    Examples
    --------
    >>> normalize_header(" 1．性别 ")
    '1.性别'
    """
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text))).strip()


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    encodings = AUTO_ENCODINGS if encoding == "auto" else (encoding,)
    for candidate in encodings:
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        except LookupError as error:
            raise ExportReadError(
                f"{path}: unknown encoding {encoding!r} (site.yml encoding)"
            ) from error
    raise ExportReadError(
        f"{path}: not readable as {' or '.join(encodings)} text; set `encoding:` in site.yml "
        "to the export's encoding"
    )


def sniff_delimiter(lines: list[str]) -> str:
    r"""The delimiter of CSV lines: comma, semicolon or tab.

    :class:`csv.Sniffer` decides from the consistency of the lines; when it cannot, the
    delimiter that occurs most often in the header line is taken (comma when none does).

    Examples
    --------
    >>> sniff_delimiter(["a;b;c", "1;2,5;3"])
    ';'
    >>> sniff_delimiter(["a\tb", "1\t2"])
    '\t'
    """
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in CSV_DELIMITERS} if lines else {}
        best = max(counts, key=counts.get) if counts else ","
        return best if counts.get(best) else ","


def _read_csv(path: Path, encoding: str, header_row: int) -> pd.DataFrame:
    text = _decode(path, encoding)
    lines = text.splitlines()
    if len(lines) < header_row:
        raise ExportReadError(
            f"{path}: the file has {len(lines)} lines, no header on line {header_row} (header_row)"
        )
    delimiter = sniff_delimiter(lines[header_row - 1 : header_row + 50])
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise ExportReadError(
            f"{path}: broken CSV ({error}); the file may be truncated or corrupt"
        ) from error
    header, body = rows[header_row - 1], rows[header_row:]
    while body and not any(cell.strip() for cell in body[-1]):
        body.pop()  # trailing blank lines
    for number, row in enumerate(body, start=header_row + 1):
        if len(row) != len(header) and any(cell.strip() for cell in row):
            raise ExportReadError(
                f"{path}: line {number} has {len(row)} fields, the header (line {header_row}) has "
                f"{len(header)} (delimiter {delimiter!r}); the file is truncated or broken"
            )
    body = [row if len(row) == len(header) else [""] * len(header) for row in body]
    return pd.DataFrame(body, columns=header, dtype=str)


def _from_grid(grid: pd.DataFrame, path: Path, header_row: int) -> pd.DataFrame:
    """A sheet read without a header: the header from row ``header_row``, answers below it."""
    if len(grid) < header_row:
        raise ExportReadError(
            f"{path}: the sheet has {len(grid)} rows, no header on row {header_row} (header_row)"
        )
    grid = grid.map(lambda v: "" if pd.isna(v) else _plain(v))
    header = grid.iloc[header_row - 1].tolist()
    body = grid.iloc[header_row:].reset_index(drop=True)
    body.columns = header
    empty = [i for i, h in enumerate(header) if h == "" and not (body.iloc[:, i] != "").any()]
    body = body.iloc[:, [i for i in range(len(header)) if i not in empty]]  # stray empty columns
    filled = (body != "").any(axis=1)
    last = filled[filled].index.max()
    return body.iloc[: 0 if pd.isna(last) else last + 1]  # trailing blank rows


def _read_sav(path: Path) -> pd.DataFrame:
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=False, user_missing=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError) as error:
        raise ExportReadError(
            f"{path}: not a readable SPSS file ({error}); the file may be truncated or corrupt"
        ) from error
    labels = [
        label or name for name, label in zip(meta.column_names, meta.column_labels, strict=True)
    ]
    repeated = {label for label in labels if labels.count(label) > 1}
    # a variable label used twice cannot tell its columns apart: those keep their unique names
    headers = [
        name if label in repeated else label
        for name, label in zip(meta.column_names, labels, strict=True)
    ]
    user_missing = {}
    for name, header in zip(meta.column_names, headers, strict=True):
        ranges = meta.missing_ranges.get(name, [])
        if ranges:
            user_missing[normalize_header(header)] = [(r["lo"], r["hi"]) for r in ranges]
    frame.columns = headers
    frame = frame.map(lambda v: "" if pd.isna(v) else _plain(v))
    frame.attrs["user_missing"] = user_missing
    return frame


def read_export(
    path: Path,
    fmt: str = "auto",
    sheet: int | str = 0,
    encoding: str = "auto",
    header_row: int = 1,
) -> pd.DataFrame:
    """Read a survey export as strings, one column per export column, headers untouched.

    Parameters
    ----------
    path : Path
        ``.csv``, ``.xlsx`` or ``.sav`` file.
    fmt : {'auto', 'csv', 'xlsx', 'sav'}
        'auto' decides by the file extension.
    sheet : int or str
        Excel sheet.
    encoding : str
        CSV encoding; 'auto' tries UTF-8 (with or without BOM), then GB18030 (a superset of
        GBK). The delimiter (comma, semicolon or tab) is sniffed.
    header_row : int
        1-based row of the header in a CSV or Excel export (rows above it, such as a title,
        are skipped); SPSS files have no header row.

    Returns
    -------
    DataFrame of str (empty string for a missing answer). Two columns with the same header
    stay two columns (validation reports them). For SPSS files the columns are the variable
    labels when present (the question text), else the variable names (also for a label
    that two variables share); ``frame.attrs["user_missing"]`` maps a column to the SPSS
    user-missing values declared for it, as ``(low, high)`` pairs.

    Raises
    ------
    ExportReadError
        A missing, empty, truncated or corrupt file; the message names the file.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("Survey 2026\\nid;q1\\n1;4\\n", encoding="utf-8")
    >>> read_export(folder / "a.csv", header_row=2).to_dict("list")
    {'id': ['1'], 'q1': ['4']}
    """
    path = Path(path)
    if not path.exists():
        raise ExportReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ExportReadError(f"{path}: the file is empty")
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        raise ExportReadError(f"{path}: header_row must be a row number >= 1, got {header_row!r}")
    fmt = path.suffix.lower().lstrip(".") if fmt == "auto" else fmt
    if fmt == "csv":
        frame = _read_csv(path, encoding, header_row)
    elif fmt in ("xlsx", "xls"):
        try:
            # na_filter=False: "NA" and "N/A" stay text, read as missing only when the site says so
            grid = pd.read_excel(path, sheet_name=sheet, dtype=object, header=None, na_filter=False)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as error:
            raise ExportReadError(
                f"{path}: not a readable Excel workbook ({type(error).__name__}: {error}); "
                "the file may be truncated or corrupt: export it again"
            ) from error
        frame = _from_grid(grid, path, header_row)
    elif fmt == "sav":
        frame = _read_sav(path)
    else:
        raise ExportReadError(f"{path}: unknown export format {fmt!r}; use csv, xlsx or sav")
    attrs = dict(frame.attrs)
    frame.columns = [normalize_header(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.attrs = {**attrs, "header_row": header_row if fmt != "sav" else 1}
    return frame


def _plain(value: object) -> str:
    """A cell as text; whole floats as integers (Excel and SPSS store 3 as 3.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class HeaderMapping:
    """Result of matching export headers to codebook items."""

    data: pd.DataFrame  # columns renamed to item ids (codebook order), values still str
    missing: list[str] = field(default_factory=list)  # codebook headers absent from the export
    unknown: list[str] = field(default_factory=list)  # export headers not in the codebook
    duplicated: list[str] = field(default_factory=list)  # export headers present twice
    headers: dict[str, str] = field(default_factory=dict)  # item id -> its export header


def ignored_columns(site: SiteConfig) -> set[str]:
    """The site's ``ignore_columns``, normalized as export headers are."""
    return {normalize_header(c) for c in site.settings.get("ignore_columns", None) or []}


def map_headers(export: pd.DataFrame, site: SiteConfig) -> HeaderMapping:
    """Rename export columns to item ids through the codebook's ``header`` column.

    A header matches when it equals the codebook header after :func:`normalize_header`, or the
    item id itself (exports already keyed by item id). Columns listed in the site's
    ``ignore_columns`` are dropped without complaint; of two columns with the same header
    the first is kept (and the header reported in ``duplicated``).
    """
    table = site.codebook.table
    wanted = {
        normalize_header(h): i for h, i in zip(table["header"], table["item_id"], strict=True)
    }
    wanted.update({i: i for i in table["item_id"]})
    ignore = ignored_columns(site)
    seen = pd.Series(export.columns)
    duplicated = sorted(set(seen[seen.duplicated()]))
    export = export.loc[:, ~export.columns.duplicated()]
    rename: dict[str, str] = {}
    unknown = []
    for column in export.columns:
        if column in ignore:
            continue
        if column in wanted and wanted[column] not in rename.values():
            rename[column] = wanted[column]
        else:
            unknown.append(column)
    found = set(rename.values())
    missing = [h for h, i in zip(table["header"], table["item_id"], strict=True) if i not in found]
    data = export[list(rename)].rename(columns=rename)
    order = [i for i in table["item_id"] if i in data.columns]
    return HeaderMapping(
        data=data[order],
        missing=missing,
        unknown=unknown,
        duplicated=duplicated,
        headers={item: column for column, item in rename.items()},
    )


def decode_answers(data: pd.DataFrame, site: SiteConfig) -> pd.DataFrame:
    """Turn textual answers into codes with the codebook's value labels (zh or en).

    Cells that are neither a number nor a known label stay as text, for validation to report.
    """
    out = data.copy()
    table = site.codebook.table.set_index("item_id")
    for item in out.columns:
        row = table.loc[item]
        if row["type"] not in ("likert", "categorical", "attention"):
            continue  # numeric items are numbers, not labelled codes
        lookup = {}
        for language in ("zh", "en"):
            for code, label in site.codebook.value_labels(item, language).items():
                lookup[normalize_header(label)] = str(code)
        if lookup:
            # only cells that are not already codes need a look-up (most exports are numeric)
            text = out[item].astype(str)
            labelled = pd.to_numeric(text, errors="coerce").isna() & (text.str.strip() != "")
            if labelled.any():
                out.loc[labelled, item] = text[labelled].map(
                    lambda v, lk=lookup: lk.get(normalize_header(v), v)
                )
    return out


def parse_duration_seconds(values: pd.Series) -> pd.Series:
    """Completion times such as '540秒', '540', '9分0秒' or '540 s' as seconds (float)."""

    def parse(text: str) -> float:
        text = str(text).strip()
        if not text:
            return float("nan")
        minutes = re.search(r"(\d+(?:\.\d+)?)\s*(?:分|min)", text)
        seconds = re.search(r"(\d+(?:\.\d+)?)\s*(?:秒|s\b|sec)", text)
        if minutes or seconds:
            return (float(minutes.group(1)) * 60 if minutes else 0.0) + (
                float(seconds.group(1)) if seconds else 0.0
            )
        try:
            return float(text)
        except ValueError:
            return float("nan")

    return values.map(parse).astype(float)
