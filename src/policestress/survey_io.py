"""Reading survey exports (CSV in UTF-8 or GBK, Excel .xlsx, SPSS .sav) into item-id columns.

Online survey platforms export one column per question, headed by the question text
(Chinese headers included); SPSS files carry short variable names with the question text as
the variable label. :func:`read_export` reads any of them and :func:`map_headers` renames the
columns to the codebook's item ids; answers exported as text ("男", "非常同意") are turned back
into codes with the codebook's value labels.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from policestress.config import SiteConfig


class ExportReadError(ValueError):
    """The export cannot be read at all (wrong format, encoding or an empty file)."""


def normalize_header(text: object) -> str:
    """Header text compared to the codebook: Unicode NFKC (full-width -> half-width), trimmed.

    Examples
    --------
    >>> normalize_header(" 1．性别 ")
    '1.性别'
    """
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text))).strip()


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    encodings = ["utf-8-sig", "gb18030"] if encoding == "auto" else [encoding]
    last_error: Exception | None = None
    for candidate in encodings:
        try:
            return pd.read_csv(path, encoding=candidate, dtype=str, keep_default_na=False)
        except UnicodeDecodeError as error:
            last_error = error
    raise ExportReadError(f"{path}: not readable as {' or '.join(encodings)} text ({last_error})")


def read_export(
    path: Path, fmt: str = "auto", sheet: int | str = 0, encoding: str = "auto"
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
        CSV encoding; 'auto' tries UTF-8 (with or without BOM), then GB18030 (a superset of GBK).

    Returns
    -------
    DataFrame of str (empty string for a missing answer). For SPSS files the columns are
    the variable labels when present (the question text), else the variable names.
    """
    path = Path(path)
    if not path.exists():
        raise ExportReadError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ExportReadError(f"{path}: the file is empty")
    fmt = path.suffix.lower().lstrip(".") if fmt == "auto" else fmt
    if fmt == "csv":
        frame = _read_csv(path, encoding)
    elif fmt in ("xlsx", "xls"):
        frame = pd.read_excel(path, sheet_name=sheet, dtype=object)
        frame = frame.map(lambda v: "" if pd.isna(v) else _plain(v))
    elif fmt == "sav":
        import pyreadstat

        frame, meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        frame = frame.rename(columns={c: labels[c] or c for c in frame.columns})
        frame = frame.map(lambda v: "" if pd.isna(v) else _plain(v))
    else:
        raise ExportReadError(f"{path}: unknown export format {fmt!r}; use csv, xlsx or sav")
    frame.columns = [normalize_header(c) for c in frame.columns]
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


def map_headers(export: pd.DataFrame, site: SiteConfig) -> HeaderMapping:
    """Rename export columns to item ids through the codebook's ``header`` column.

    A header matches when it equals the codebook header after :func:`normalize_header`, or the
    item id itself (exports already keyed by item id). Columns listed in the site's
    ``ignore_columns`` are dropped without complaint.
    """
    table = site.codebook.table
    wanted = {
        normalize_header(h): i for h, i in zip(table["header"], table["item_id"], strict=True)
    }
    wanted.update({i: i for i in table["item_id"]})
    ignore = {normalize_header(c) for c in site.settings.get("ignore_columns", [])}
    seen = pd.Series(export.columns)
    duplicated = sorted(set(seen[seen.duplicated()]))
    rename: dict[str, str] = {}
    unknown = []
    for column in export.columns:
        if column in ignore:
            continue
        if column in wanted:
            rename[column] = wanted[column]
        else:
            unknown.append(column)
    found = set(rename.values())
    missing = [h for h, i in zip(table["header"], table["item_id"], strict=True) if i not in found]
    data = export.loc[:, ~export.columns.duplicated()][list(rename)].rename(columns=rename)
    order = [i for i in table["item_id"] if i in data.columns]
    return HeaderMapping(data=data[order], missing=missing, unknown=unknown, duplicated=duplicated)


def decode_answers(data: pd.DataFrame, site: SiteConfig) -> pd.DataFrame:
    """Turn textual answers into codes with the codebook's value labels (zh or en).

    Cells that are neither a number nor a known label stay as text, for validation to report.
    """
    out = data.copy()
    table = site.codebook.table.set_index("item_id")
    for item in out.columns:
        row = table.loc[item]
        if row["type"] not in ("likert", "categorical", "attention"):
            continue
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
