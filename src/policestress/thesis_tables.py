"""Thesis-ready tables: every published CSV as a three-line table in Word (.docx) and LaTeX.

A three-line table (三线表, booktabs) has a thick top rule, a thin rule under the header, a
thick bottom rule, and no vertical lines. The same cell texts go to both formats:

* labels: column names and the ids of items, constructs and domains in the cells are
  replaced by their label in ``language`` ('zh' or 'en'): statistics columns from
  ``templates/column_labels.csv``, ids through ``Codebook.label``;
* numbers: floats with ``digits`` decimals, integers (and integer-valued float columns, such
  as degrees of freedom) without decimals, missing values empty.

Captions of known tables and figures (English and Chinese) live in one place,
``templates/captions.csv``; a table not listed there gets a generic caption with its file name.

LaTeX output needs ``\\usepackage{booktabs}`` (and ``longtable`` for long tables); Chinese
labels need XeLaTeX with ``ctex`` (or ``xeCJK``).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"construct": ["workload"], "alpha": [0.81234], "n": [392]})
>>> format_table(t).iloc[0].tolist()
['workload', '0.812', '392']
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
import unicodedata
import zipfile
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from policestress.config import Codebook

LANGUAGES = ("en", "zh")
# Rule widths in eighths of a point (Word's unit): 1.5 pt top and bottom, 0.75 pt header rule.
THICK_RULE = 12
THIN_RULE = 6
# Tables with more columns go on a landscape page in Word.
WIDE_TABLE_COLUMNS = 7
# Longer tables go into a LaTeX longtable, which breaks across pages.
LONGTABLE_ROWS = 40
NOTE_PREFIX = {"en": "Note. ", "zh": "注："}
GENERIC_CAPTION = {
    "en": {"table": "Table: {stem}", "figure": "Figure: {stem}"},
    "zh": {"table": "表：{stem}", "figure": "图：{stem}"},
}


def _read_template_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("policestress").joinpath("templates", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def _captions() -> tuple[dict[str, str], ...]:
    return tuple(_read_template_csv("captions.csv"))


@cache
def _column_labels() -> dict[str, dict[str, str]]:
    return {row["column"]: row for row in _read_template_csv("column_labels.csv")}


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")


def caption(
    stem: str, kind: str = "table", language: str = "en", codebook: Codebook | None = None
) -> str:
    """Caption of a table or figure by its file stem (``templates/captions.csv``).

    A stem in the file may hold one ``*`` wildcard (``likert_*``); ``{part}`` in its caption is
    replaced by what the wildcard matched, labelled through the codebook when it is an id.
    The first matching row wins. Unknown stems get a generic caption naming the file.

    Examples
    --------
    >>> caption("reliability", "table", "zh")
    '各量表信度'
    >>> caption("likert_work_stress", "figure")
    'Answers to the items: work stress (diverging stacked bars)'
    >>> caption("my_new_table")
    'Table: my_new_table'
    """
    _check_language(language)
    for row in _captions():
        if row["kind"] == kind and fnmatch.fnmatchcase(stem, row["stem"]):
            text = row[f"caption_{language}"] or row["caption_en"]
            if "*" in row["stem"]:
                prefix, _, suffix = row["stem"].partition("*")
                part = stem[len(prefix) : len(stem) - len(suffix)]
                text = text.replace("{part}", _label_part(part, codebook, language))
            return text
    return GENERIC_CAPTION[language][kind].format(stem=stem)


def _label_part(part: str, codebook: Codebook | None, language: str) -> str:
    """Label of a file-name part such as ``post_type_constructs``: known ids, word by word."""
    label = label_name(part, codebook, language)
    if label != part:
        return label
    # Split at the last "_" whose both sides are known ids or words: post_type | constructs.
    for cut in [i for i, ch in enumerate(part) if ch == "_"][::-1]:
        left, right = part[:cut], part[cut + 1 :]
        left_label = label_name(left, codebook, language)
        right_label = label_name(right, codebook, language)
        known_right = right_label != right or right in _column_labels()
        if left_label != left and known_right:
            return (
                f"{left_label}，{right_label}"
                if language == "zh"
                else f"{left_label}, {right_label}"
            )
    return part.replace("_", " ")


def caption_order(stem: str, kind: str = "table") -> int:
    """Position of the stem's row in ``captions.csv`` (the report's order); unknown: last."""
    for position, row in enumerate(_captions()):
        if row["kind"] == kind and fnmatch.fnmatchcase(stem, row["stem"]):
            return position
    return len(_captions())


def has_caption(stem: str, kind: str = "table") -> bool:
    """Whether ``templates/captions.csv`` describes this stem."""
    return any(r["kind"] == kind and fnmatch.fnmatchcase(stem, r["stem"]) for r in _captions())


def label_name(name: str, codebook: Codebook | None = None, language: str = "en") -> str:
    """Readable label of a column name or an id (item, construct, domain, ``score_<name>``).

    Examples
    --------
    >>> label_name("ci_low", language="zh")
    '95% CI 下限'
    >>> label_name("unknown_column")
    'unknown_column'
    """
    _check_language(language)
    if name.startswith("Unnamed: "):  # pandas' name for a CSV's blank header (row labels)
        return ""
    known = _column_labels().get(name)
    if known is not None:
        return known[f"label_{language}"]
    if codebook is None:
        return name
    label = codebook.label(name, language)
    if label == name and name.startswith("score_"):
        stripped = name.removeprefix("score_")
        label = codebook.label(stripped, language)
        return name if label == stripped else label
    return label


def codebook_labels(codebook: Codebook, language: str = "en") -> dict[str, str]:
    """id -> label for every item, construct and domain (and ``score_<id>``) with a label."""
    _check_language(language)
    column = f"label_{language}"
    out: dict[str, str] = {}
    # Items last: an item id that equals a construct name keeps the item's label, as
    # Codebook.label does.
    for frame, key in ((codebook.constructs, "name"), (codebook.table, "item_id")):
        for name, label in zip(frame[key], frame[column], strict=True):
            if isinstance(label, str) and label:
                out[name] = label
    out.update({f"score_{k}": v for k, v in list(out.items())})
    return out


def label_table(
    table: pd.DataFrame, codebook: Codebook | None = None, language: str = "en"
) -> pd.DataFrame:
    """Copy of ``table`` with labelled column names and labelled ids in text cells.

    Examples
    --------
    >>> label_table(pd.DataFrame({"alpha": [0.8]}), language="zh").columns.tolist()
    ["Cronbach's α"]
    """
    out = table.copy()
    if codebook is not None:
        labels = codebook_labels(codebook, language)
        for column in out.columns:
            if out[column].dtype == object:
                out[column] = out[column].map(
                    lambda v: labels.get(v, v) if isinstance(v, str) else v
                )
    names, seen = [], set()
    for column in map(str, out.columns):
        label = label_name(column, codebook, language)
        # Two columns may share a label (score / score_label): keep headers unique.
        if label in seen:
            label = f"{label} ({column})"
        seen.add(label)
        names.append(label)
    out.columns = names
    return out


def _format_column(values: pd.Series, digits: int) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.map(str)
    if pd.api.types.is_integer_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else str(int(v)))
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        # Counts and degrees of freedom stored as float because of a NaN stay whole numbers.
        whole = (
            len(finite) > 0
            and bool(np.all(finite == np.round(finite)))
            and bool((finite.abs() < 1e15).all())
        )
        if whole:
            return values.map(lambda v: "" if pd.isna(v) else str(int(v)))
        return values.map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return values.map(lambda v: "" if pd.isna(v) else str(v))


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Every cell as text: floats with ``digits`` decimals, integers whole, NaN empty."""
    # By position: the text table keeps the columns (and any repeated names) as they are.
    columns = [_format_column(table.iloc[:, i], digits) for i in range(table.shape[1])]
    out = pd.concat(columns, axis=1) if columns else pd.DataFrame(index=table.index)
    out.columns = table.columns
    return out.reset_index(drop=True)


def _numeric_text_columns(table: pd.DataFrame) -> list[bool]:
    """Which columns of a text table hold only numbers (right-aligned) or blanks."""
    return [bool(table.iloc[:, i].str.match(r"^-?[\d.]*$").all()) for i in range(table.shape[1])]


# ---- Word ---------------------------------------------------------------------------------


def _border(parent, tag: str, edges: dict[str, int | None]) -> None:
    """Set the borders of a tblPr / tcPr element: size in 1/8 pt, None = no line."""
    borders = parent.find(qn(tag))
    if borders is None:
        borders = OxmlElement(tag)
        parent.append(borders)
    for edge, size in edges.items():
        element = OxmlElement(f"w:{edge}")
        if size is None:
            element.set(qn("w:val"), "nil")
        else:
            element.set(qn("w:val"), "single")
            element.set(qn("w:sz"), str(size))
            element.set(qn("w:space"), "0")
            element.set(qn("w:color"), "000000")
        borders.append(element)


def _set_default_font(doc, size: float = 10.5) -> None:
    # Times New Roman for Latin and SimSun (宋体) for Chinese, 10.5 pt (五号): the usual thesis
    # body fonts, set once on the Normal style (per-run settings are slow on long tables).
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(size)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")
    style.paragraph_format.space_after = Pt(0)


def _text_width(text: str) -> int:
    """Width of a text in Latin-character units: CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _column_widths(
    rows: list[list[str]], numeric: list[bool], usable: int, font_pt: float
) -> list[int]:
    """Column widths (EMU) from their content, filling the usable page width.

    Numbers should not wrap: when the page allows, numeric columns get their full width and
    the text columns share the rest (headers wrap beyond 8 characters, texts beyond 24);
    otherwise every column shrinks in proportion.
    """
    unit = Pt(font_pt * 0.5)  # a digit is half an em wide in Times New Roman
    header, body = rows[0], rows[1:]
    need, least = [], []
    for c, name in enumerate(header):
        longest = max((_text_width(r[c]) for r in body), default=0)
        head = min(_text_width(name), 8)
        if numeric[c]:
            need.append(max(longest, head) + 3)  # + cell padding
            least.append(need[-1])
        else:
            need.append(max(6, head, min(longest, 24)) + 3)
            least.append(min(need[-1], 9))
    fixed = sum(n for n, is_number in zip(need, numeric, strict=True) if is_number) * unit
    text_need = sum(n for n, is_number in zip(need, numeric, strict=True) if not is_number)
    text_least = sum(n for n, is_number in zip(least, numeric, strict=True) if not is_number)
    if text_need and fixed + text_least * unit <= usable < fixed + text_need * unit:
        share = (usable - fixed) / (text_need * unit)
        return [int(n * unit * (1 if num else share)) for n, num in zip(need, numeric, strict=True)]
    total = sum(need)
    return [int(usable * n / total) for n in need]


def write_docx(
    table: pd.DataFrame, path: Path, title: str = "", note: str = "", language: str = "en"
) -> Path:
    """Write ``table`` (cells already text, see :func:`format_table`) as a three-line table.

    Examples
    --------
    >>> import tempfile, docx
    >>> out = Path(tempfile.mkdtemp()) / "t.docx"
    >>> _ = write_docx(pd.DataFrame({"a": ["x"], "b": ["1.000"]}), out, title="T")
    >>> [c.text for c in docx.Document(out).tables[0].rows[1].cells]
    ['x', '1.000']
    """
    numeric = _numeric_text_columns(table)
    doc = Document()
    # Wide tables go on a landscape page in a smaller type (小五, 9 pt) so columns stay legible.
    wide = len(table.columns) > WIDE_TABLE_COLUMNS
    font_pt = 9 if wide else 10.5
    _set_default_font(doc, size=font_pt)
    section = doc.sections[0]
    if wide:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    if title:
        para = doc.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        para.add_run(title).bold = True
    grid = doc.add_table(rows=len(table) + 1, cols=len(table.columns))
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    _border(
        grid._tbl.tblPr,
        "w:tblBorders",
        {
            "top": THICK_RULE,
            "left": None,
            "bottom": THICK_RULE,
            "right": None,
            "insideH": None,
            "insideV": None,
        },
    )
    rows = [list(map(str, table.columns)), *table.astype(str).to_numpy().tolist()]
    usable = section.page_width - section.left_margin - section.right_margin
    widths = _column_widths(rows, numeric, usable, font_pt)
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    # Row by row: grid.cell(r, c) rebuilds the cell list on every call (slow on long tables).
    for r, (grid_row, values) in enumerate(zip(grid.rows, rows, strict=True)):
        for c, (cell, value) in enumerate(zip(grid_row.cells, values, strict=True)):
            para = cell.paragraphs[0]
            para.alignment = (
                WD_ALIGN_PARAGRAPH.CENTER if (r == 0 or numeric[c]) else WD_ALIGN_PARAGRAPH.LEFT
            )
            para.add_run(value)
            cell.width = widths[c]  # Word reads the cell widths, LibreOffice the grid
            if r == 0:
                _border(cell._tc.get_or_add_tcPr(), "w:tcBorders", {"bottom": THIN_RULE})
    if note:
        para = doc.add_paragraph()
        para.add_run(NOTE_PREFIX[language] + note).font.size = Pt(9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    doc.save(buffer)
    path.write_bytes(_normalized_zip(buffer.getvalue()))
    return path


def _normalized_zip(data: bytes) -> bytes:
    """Rewrite a .docx (zip) with fixed member timestamps, so reruns give identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


# ---- LaTeX --------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters.

    Examples
    --------
    >>> print(latex_escape("a_b & 50% {x}"))
    a\\_b \\& 50\\% \\{x\\}
    """
    # A line break inside a cell would end the table row: tables keep one line per row.
    flat = " ".join(str(text).splitlines())
    return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIAL[m.group()], flat)


def to_latex(
    table: pd.DataFrame, title: str = "", label: str = "", note: str = "", language: str = "en"
) -> str:
    """LaTeX booktabs table (``longtable`` above :data:`LONGTABLE_ROWS` rows) of text cells.

    Examples
    --------
    >>> print(to_latex(pd.DataFrame({"a": ["x"], "b": ["1.0"]})))  # doctest: +NORMALIZE_WHITESPACE
    % three-line table: needs \\usepackage{booktabs}
    \\begin{table}[htbp]
    \\centering
    \\begin{tabular}{lr}
    \\toprule
    a & b \\\\
    \\midrule
    x & 1.0 \\\\
    \\bottomrule
    \\end{tabular}
    \\end{table}
    """
    numeric = _numeric_text_columns(table)
    spec = "".join("r" if n else "l" for n in numeric)
    header = " & ".join(latex_escape(c) for c in table.columns) + r" \\"
    body = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.to_numpy().tolist()]
    cap = rf"\caption{{{latex_escape(title)}}}" if title else ""
    lab = rf"\label{{tab:{latex_escape(label)}}}" if label else ""
    notes = [rf"\par\footnotesize {latex_escape(NOTE_PREFIX[language] + note)}"] if note else []
    lines = ["% three-line table: needs \\usepackage{booktabs}"]
    if len(table) > LONGTABLE_ROWS:
        lines[0] += " and \\usepackage{longtable}"
        lines += [
            rf"\begin{{longtable}}{{{spec}}}",
            *([cap + lab + r" \\"] if cap or lab else []),
            r"\toprule",
            header,
            r"\midrule",
            r"\endfirsthead",
            r"\toprule",
            header,
            r"\midrule",
            r"\endhead",
            r"\bottomrule",
            r"\endlastfoot",
            *body,
            r"\end{longtable}",
        ]
        if note:
            lines += [latex_escape(NOTE_PREFIX[language] + note)]
    else:
        lines += [r"\begin{table}[htbp]", r"\centering"]
        lines += [x for x in (cap, lab) if x]
        lines += [
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *notes,
            r"\end{table}",
        ]
    return "\n".join(lines) + "\n"


def write_latex(
    table: pd.DataFrame,
    path: Path,
    title: str = "",
    label: str = "",
    note: str = "",
    language: str = "en",
) -> Path:
    """Write :func:`to_latex` to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_latex(table, title, label, note, language), encoding="utf-8")
    return path


# ---- all tables of a site -----------------------------------------------------------------


def thesis_table(
    csv_path: Path,
    out_dir: Path,
    codebook: Codebook | None = None,
    language: str = "en",
    digits: int = 3,
    note: str = "",
) -> list[Path]:
    """Write ``<stem>.docx`` and ``<stem>.tex`` of one CSV table into ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"scale": ["a"], "alpha": [0.8]}).to_csv(d / "reliability.csv", index=False)
    >>> [p.name for p in thesis_table(d / "reliability.csv", d / "thesis")]
    ['reliability.docx', 'reliability.tex']
    """
    _check_language(language)
    csv_path = Path(csv_path)
    raw = pd.read_csv(csv_path, encoding="utf-8")
    text = format_table(label_table(raw, codebook, language), digits)
    title = caption(csv_path.stem, "table", language, codebook)
    out_dir = Path(out_dir)
    return [
        write_docx(text, out_dir / f"{csv_path.stem}.docx", title, note, language),
        write_latex(text, out_dir / f"{csv_path.stem}.tex", title, csv_path.stem, note, language),
    ]


def write_thesis_tables(
    csv_paths: list[Path],
    out_dir: Path,
    codebook: Codebook | None = None,
    language: str = "en",
    digits: int = 3,
    note: str = "",
) -> pd.DataFrame:
    """Thesis tables of many CSVs; returns ``table, docx, tex`` (file names) per CSV."""
    rows = []
    for path in csv_paths:
        docx_path, tex_path = thesis_table(path, out_dir, codebook, language, digits, note)
        rows.append({"table": Path(path).name, "docx": docx_path.name, "tex": tex_path.name})
    return pd.DataFrame(rows, columns=["table", "docx", "tex"])
