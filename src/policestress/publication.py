"""Publication tables: the tables a thesis prints, built once and rendered to HTML, Word and LaTeX.

The tidy CSVs in ``tables/<site>/`` are for machines. This module turns them into the tables
a thesis shows (APA-style numbers, labels in the site's language, the layouts theses use) and
renders each one, with the same cell texts, to HTML (the report), Word and LaTeX.

API (for the report and the thesis tables)
------------------------------------------
``publication_tables(tables, codebook, language, simulated) -> list[PublicationTable]``
    ``tables`` maps a CSV stem to its DataFrame (:func:`read_tables` reads a site's folder);
    a table whose CSVs are absent (a stage not run, a site without ERI) is skipped. The list
    is in print order: main tables numbered 1, 2, ..., then the appendix tables A1, A2, ....
:class:`PublicationTable`
    ``key`` (stable, e.g. ``"cfa-fit"``: file stem and LaTeX label ``tab:cfa-fit``),
    ``number``, ``caption`` (site language), ``body`` (DataFrame of formatted strings; the
    columns may be a two-level MultiIndex: spanning header, header; an empty spanning header
    means none), ``notes`` (abbreviations, table rules and the SIMULATED mark), ``orientation``
    (``"portrait"`` / ``"landscape"``), ``appendix``, ``stage`` (the chain stage it belongs
    to, for the report's sections), ``sources`` (the CSV stems it is built from), ``align``;
    ``table.title`` is ``"表 3"`` / ``"Table 3"`` / ``"附表 1"`` / ``"Table A1"``,
    ``table.note_text`` the note paragraph (``"注：..."`` / ``"Note. ..."``).
``to_html(table)``, ``add_to_docx(document, table)`` / ``write_docx(tables, path)``,
``to_latex(table)`` / ``write_latex(table, path)``, ``write_publication_tables(tables, folder)``
    the renderers. :func:`write_publication_tables` writes ``<key>.docx`` and ``<key>.tex`` per
    table, ``thesis_tables.docx`` (every table in order) and ``tables.tex`` (a driver that
    ``\\input``'s every .tex).
``format_number(value, statistic)``, ``format_p(p)``, ``format_ci(low, high, statistic)``
    the one number formatter (used by every layout; the report's prose can use it as well).
``factor_names(loadings, codebook, language)``
    EFA factor -> construct label when the factor's items are mostly one construct's (else
    ``F1``, ``F2``, ...): the same names for the loadings table and the figures.
``table_problems(table, item_ids)``
    what a reader should never see (True/False, braces, snake_case ids that are not item ids,
    p printed as 0.000, duplicated columns); :func:`publication_tables` warns with them, the
    tests assert there are none for the simulated sites.

The tables (keys): exclusion-flow, sample-profile, sample-profile-numeric, reliability,
score-descriptives, score-correlations, group-comparisons-<grouping>, efa-adequacy,
efa-loadings, efa-variance, cfa-fit, cfa-validity, invariance, eri-summary, eri-prevalence,
eri-odds-ratios, synthesis-regression, synthesis-ranking, synthesis-eri-increment; appendix:
cfa-fit-full, item-statistics. Other tidy CSVs (modification indices, the long structure
matrix, ...) have no publication layout: they stay data files.

Example for the report::

    from policestress import publication as pub
    csv_files = [cfg.paths.base / p for p in published.loc[published["kind"] == "table", "path"]]
    tables = pub.publication_tables(pub.read_tables(csv_files), cfg.codebook, language,
                                    simulated=cfg.simulated)
    for t in tables:
        html = pub.to_html(t)   # <table> with <caption> "表 1 ..." and the notes in <tfoot>

Rules of the formatter
----------------------
* p: ``< .001``, ``.032`` (``format_p(p, symbol=True)``: ``p < .001``, ``p = .032``).
* No leading zero for statistics bounded by 1 (r, alpha, omega, CR, AVE, CFI, TLI, RMSEA,
  SRMR, loadings, h2, R2, eta2, KMO, proportions); a fixed number of decimals per statistic
  (:data:`STATISTICS`); percentages with one decimal; the minus sign is U+2212.
* Headers, test names and model names come from one label table,
  ``templates/column_labels.csv`` (``name, label_en, label_zh, explain_en, explain_zh``); the
  ``explain`` texts become the abbreviation notes. Item, construct and domain names come from
  the codebook. A cell never holds a Python value (True/False, a dict) or an internal id
  (codebook item ids excepted).

Word: A4, margins 2.5 cm top and bottom, 3.0 cm left (binding) and 2.5 cm right (landscape
pages: 3.0 cm at the top, the binding edge, 2.5 cm elsewhere); Times New Roman with SimSun
for East Asian text, 10.5 pt (五号), 9 pt in wide tables; the caption above the table in
Word's "Caption" style with a ``SEQ`` field (so Word builds a list of tables and
cross-references); three-line rules: 1.5 pt top and bottom, 0.75 pt under the header (and
under spanning headers), no vertical rules; wide tables in landscape sections; header rows
repeat on every page; numbers never wrap. Orientation: landscape when the table needs more
than the portrait text width at 9 pt (:func:`table_width`).

LaTeX: booktabs three-line tables, ``\\label{tab:<key>}``, Greek letters in math
(``$\\alpha$``, ``$\\chi^2$``); each table is scaled to the text width (adjustbox), long ones
are ``longtable``, wide ones in a ``landscape`` environment (pdflscape). Each ``<key>.tex``
compiles alone with xelatex (it brings its own preamble when it is not ``\\input`` inside a
document) and ``\\input``'s into a thesis whose preamble loads the packages of
:data:`LATEX_PACKAGES`.

Examples
--------
>>> format_p(0.0004), format_p(0.0321), format_number(0.812, "alpha"), format_number(-0.5, "r")
('< .001', '.032', '.81', '−.50')
>>> format_ci(0.021, 0.034, "rmsea"), format_number(82.5, "percent")
('[.021, .034]', '82.5')
"""

from __future__ import annotations

import csv
import fnmatch
import html
import io
import math
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Pt, RGBColor

from policestress.config import Codebook

LANGUAGES = ("en", "zh")
MINUS = "\u2212"
# statistic -> (decimals, bounded by 1: printed without the leading zero)
STATISTICS: dict[str, tuple[int, bool]] = {
    "p": (3, True),
    "r": (2, True),
    "alpha": (2, True),
    "omega": (2, True),
    "cr": (2, True),
    "ave": (2, True),
    "loading": (2, True),
    "h2": (2, True),
    "cfi": (3, True),
    "tli": (3, True),
    "rmsea": (3, True),
    "srmr": (3, True),
    "gfi": (3, True),
    "agfi": (3, True),
    "nfi": (3, True),
    "kmo": (3, True),
    "msa": (2, True),
    "r2": (3, True),
    "eta_sq": (3, True),
    "omega_sq": (3, True),
    "proportion": (3, True),
    "weight": (3, True),
    "delta_fit": (3, True),  # ΔCFI, ΔRMSEA, ΔSRMR
    "mean": (2, False),
    "sd": (2, False),
    "skew": (2, False),
    "statistic": (2, False),  # t, F, z
    "chi2": (2, False),
    "chi2_df": (2, False),
    "df": (2, False),  # whole numbers print without decimals
    "ic": (1, False),  # AIC, BIC, log-likelihood
    "g": (2, False),
    "beta": (2, False),
    "b": (2, False),
    "se": (2, False),
    "odds_ratio": (2, False),
    "vif": (2, False),
    "eigen": (2, False),
    "percent": (1, False),
    "count": (0, False),
    "rank": (0, False),
}
NOTE_PREFIX = {"en": "Note. ", "zh": "注："}
TITLE_PREFIX = {
    ("en", False): "Table ",
    ("en", True): "Table A",
    ("zh", False): "表 ",
    ("zh", True): "附表 ",
}
# Word's SEQ field identifiers (no spaces): main and appendix tables are counted apart.
SEQ_NAME = {
    ("en", False): "Table",
    ("en", True): "TableA",
    ("zh", False): "表",
    ("zh", True): "附表",
}
SIMULATED_NOTE = {
    "en": "SIMULATED data: drawn from the site's documented population model, not real officers.",
    "zh": "本表数据为模拟数据（SIMULATED），由站点的总体模型生成，不代表真实民警。",
}
TEXT = {
    "en": {
        "blank_loadings": "Loadings with |λ| < {cut} are not shown.",
        "suppressed": "Cells with fewer than the minimum number of respondents are suppressed (—).",
        "wilson": "95% CI: Wilson score interval.",
        "holm": "p (Holm): p adjusted for multiple comparisons by {method}.",
        "overall": "All respondents",
        "efa_method": "Extraction {extraction}, rotation {rotation}; n = {n} complete cases.",
        "factor": "F{k}",
        "m_sd": "M (SD)",
        "all": "All",
        "full_fit": "The full set of fit statistics is in Table {ref}.",
        "cfa_n": "ML estimation; n = {n}.",
        "chen": "Cut-offs (Chen, 2007): ΔCFI ≥ −.010, ΔRMSEA ≤ .015.",
        "power_note": (
            "Monte Carlo study, {replications} simulated samples per n; power: share of "
            "samples with p < .05, median over the parameters (smallest in parentheses)."
        ),
        "stars": "* p < .05, ** p < .01, *** p < .001.",
        "reference": "Reference categories of the adjusted model: {levels}.",
        "all_sources": "stress sources ({level})",
        "omega_missing": "—: ω not computed (it needs a one-factor model of at least 3 items).",
        "prorated": "Scores are pro-rated when at most {k} item of a scale is missing.",
        "outcome": "Outcome: high perceived stress ({score} ≥ {cut}).",
    },
    "zh": {
        "blank_loadings": "|λ| < {cut} 的载荷未列出。",
        "suppressed": "人数少于最小单元格规则的单元格不予报告（—）。",
        "wilson": "95% CI 为 Wilson 区间。",
        "holm": "p（校正）为经 {method} 法多重比较校正后的 p 值。",
        "overall": "全体",
        "efa_method": "提取方法 {extraction}，旋转方法 {rotation}；n = {n}（完整个案）。",
        "factor": "F{k}",
        "m_sd": "M (SD)",
        "all": "全体",
        "full_fit": "全部拟合指标见附表 {ref}。",
        "cfa_n": "极大似然估计；n = {n}。",
        "chen": "判断标准（Chen, 2007）：ΔCFI ≥ −.010，ΔRMSEA ≤ .015。",
        "power_note": (
            "蒙特卡洛模拟，每个 n 模拟 {replications} 个样本；检验力为 p < .05 的样本比例，"
            "取各参数的中位数（括号内为最小值）。"
        ),
        "stars": "* p < .05，** p < .01，*** p < .001。",
        "reference": "调整模型的参照组：{levels}。",
        "all_sources": "各压力源（{level}）",
        "omega_missing": "—：未计算 ω（需要至少 3 个题项的单因子模型）。",
        "prorated": "量表缺失不超过 {k} 题时按比例推算得分。",
        "outcome": "结局变量为高职业压力感（{score} ≥ {cut}）。",
    },
}
# Word rule widths in eighths of a point: 1.5 pt top and bottom, 0.75 pt under the header.
THICK_RULE = 12
THIN_RULE = 6
# Text widths (pt) of the A4 pages with the thesis margins (see A4 and MARGINS_CM below).
PORTRAIT_TEXT_PT = (21.0 - 3.0 - 2.5) / 2.54 * 72
LANDSCAPE_TEXT_PT = (29.7 - 2.5 - 2.5) / 2.54 * 72
# LaTeX: longer tables break across pages (longtable).
LONGTABLE_ROWS = 36
# LaTeX: text cells longer than this (Latin characters) wrap; matrices with more columns
# set their number headers vertically.
LATEX_WRAP_TEXT = 28
ROTATE_HEADERS_COLUMNS = 12
LATEX_PACKAGES = (
    "booktabs",
    "longtable",
    "pdflscape",
    "adjustbox",
    "array",
    "makecell",
    "threeparttable",
    "caption",
)


# ---- numbers --------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def format_number(value, statistic: str) -> str:
    """A number in APA style for ``statistic`` (a key of :data:`STATISTICS`); NaN -> ``""``.

    Examples
    --------
    >>> format_number(0.9731, "cfi"), format_number(3.0, "df"), format_number(185.013, "df")
    ('.973', '3', '185.01')
    >>> format_number(1234.567, "ic"), format_number(-0.0001, "r")
    ('1234.6', '.00')
    """
    if statistic not in STATISTICS:
        raise KeyError(f"unknown statistic {statistic!r}; known: {sorted(STATISTICS)}")
    if _missing(value):
        return ""
    if statistic == "p":
        return format_p(value)
    decimals, bounded = STATISTICS[statistic]
    value = float(value)
    if statistic in ("df", "count", "rank") and value == round(value):
        decimals = 0
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")  # -0.00 prints as .00
    if bounded and decimals:
        text = text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text
    return text.replace("-", MINUS)


def format_p(p, symbol: bool = False) -> str:
    """``p`` in APA style: ``< .001``, ``.032``, ``> .999`` (with ``symbol``: ``p = .032``).

    Examples
    --------
    >>> format_p(0.00001), format_p(0.05), format_p(0.0321, symbol=True), format_p(1.0)
    ('< .001', '.050', 'p = .032', '> .999')
    """
    if _missing(p):
        return ""
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], not {p}")
    if p < 0.001:
        text, sign = ".001", "<"
    elif p > 0.999:
        text, sign = ".999", ">"
    else:
        text, sign = f"{p:.3f}".replace("0.", ".", 1), "="
    if symbol:
        return f"p {sign} {text}"
    return text if sign == "=" else f"{sign} {text}"


def format_ci(low, high, statistic: str) -> str:
    """``[low, high]`` with the statistic's format; empty when either bound is missing."""
    if _missing(low) or _missing(high):
        return ""
    return f"[{format_number(low, statistic)}, {format_number(high, statistic)}]"


def format_with_ci(value, low, high, statistic: str) -> str:
    """``.81 [.78, .84]``: an estimate with its interval."""
    if _missing(value):
        return ""
    ci = format_ci(low, high, statistic)
    return f"{format_number(value, statistic)} {ci}".strip()


def format_mean_sd(mean, sd) -> str:
    """``3.49 (0.83)``."""
    if _missing(mean):
        return ""
    return f"{format_number(mean, 'mean')} ({format_number(sd, 'sd')})"


# ---- labels ---------------------------------------------------------------------------------


def template_rows(name: str) -> list[dict[str, str]]:
    """Rows of a CSV file of ``policestress/templates`` (labels, captions)."""
    text = resources.files("policestress").joinpath("templates", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def label_table() -> dict[str, dict[str, str]]:
    """The one label table, ``templates/column_labels.csv``: name -> its row."""
    return {row["name"]: row for row in template_rows("column_labels.csv")}


def publication_caption(key: str, language: str, **fields: str) -> str:
    """Caption of a publication table from ``templates/captions.csv`` (kind ``publication``;
    the one file of captions, shared with the report's figures).

    Examples
    --------
    >>> publication_caption("group-comparisons-post-type", "zh", group="岗位类型")
    '各维度得分的群体差异比较：岗位类型'
    """
    _check_language(language)
    for row in template_rows("captions.csv"):
        if row["kind"] == "publication" and fnmatch.fnmatchcase(key, row["stem"]):
            return (row[f"caption_{language}"] or row["caption_en"]).format(**fields)
    raise KeyError(f"templates/captions.csv has no caption of kind 'publication' for {key!r}")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")


class Labels:
    """Labels in one language: the label table first, then the codebook (items, constructs)."""

    def __init__(self, codebook: Codebook | None, language: str):
        _check_language(language)
        self.codebook, self.language = codebook, language

    def __call__(self, name: str) -> str:
        """Label of a column / statistic name of the label table (else the codebook's)."""
        row = label_table().get(name)
        if row is not None:
            return row[f"label_{self.language}"]
        return self.codebook_label(name)

    def value(self, kind: str, name: str, default: str | None = None) -> str:
        """Label of a value id such as a test or model name (``test.welch_t``, ``model.eri``).

        Unknown ids fall back to the codebook, then to ``default`` (else the id itself).
        """
        row = label_table().get(f"{kind}.{name}")
        if row is not None:
            return row[f"label_{self.language}"]
        label = self.codebook_label(name)
        return default if label == name and default is not None else label

    def category(self, variable: str, code, default: str) -> str:
        """Value label of a categorical item's code in this language (``default`` if none)."""
        if self.codebook is None or _missing(code):
            return default
        try:
            labels = self.codebook.value_labels(variable, self.language)
            return labels.get(int(float(code)), default)
        except (KeyError, ValueError):
            return default

    def codebook_label(self, name: str) -> str:
        """Label of an item, construct or domain id (also ``score_<id>``, ``eri_<id>``)."""
        if self.codebook is None or not isinstance(name, str):
            return name
        for candidate in (name, name.removeprefix("score_"), name.removeprefix("eri_")):
            label = self.codebook.label(candidate, self.language)
            if label != candidate:
                return label
        return name


# ---- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicationTable:
    """One table as a thesis prints it; every cell is already text (see the module docstring)."""

    key: str
    number: int
    caption: str
    body: pd.DataFrame
    notes: tuple[str, ...] = ()
    orientation: str = "portrait"
    appendix: bool = False
    language: str = "en"
    stage: str = ""
    sources: tuple[str, ...] = ()
    align: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        """``表 3`` / ``Table 3`` / ``附表 1`` / ``Table A1``."""
        return f"{TITLE_PREFIX[self.language, self.appendix]}{self.number}"

    @property
    def latex_label(self) -> str:
        return f"tab:{self.key}"

    @property
    def note_text(self) -> str:
        """The note paragraph under the table (empty when there are no notes)."""
        if not self.notes:
            return ""
        joiner = "" if self.language == "zh" else " "
        return NOTE_PREFIX[self.language] + joiner.join(self.notes)

    @property
    def header_rows(self) -> list[list[str]]:
        """Header texts, one list per header row (two rows for a MultiIndex)."""
        columns = self.body.columns
        if isinstance(columns, pd.MultiIndex):
            return [[str(c[level]) for c in columns] for level in range(columns.nlevels)]
        return [[str(c) for c in columns]]

    @property
    def rows(self) -> list[list[str]]:
        return [[str(v) for v in row] for row in self.body.to_numpy().tolist()]

    @property
    def column_align(self) -> list[str]:
        """'l' for the label columns, 'c' for the others (or as given in ``align``)."""
        if self.align:
            return list(self.align)
        return ["l"] + ["c"] * (self.body.shape[1] - 1)


@dataclass
class _Spec:
    key: str
    body: pd.DataFrame
    notes: list[str]
    stage: str
    sources: tuple[str, ...]
    appendix: bool = False
    landscape: bool | None = None  # None: from the width
    align: tuple[str, ...] = ()
    caption_fields: dict[str, str] = field(default_factory=dict)  # {group} of the caption


def _text_width(text: str) -> int:
    """Width in Latin-character units: CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def column_widths_pt(
    body: pd.DataFrame,
    align: list[str],
    font_pt: float,
    text_cap: int | None = None,
    em: float = 0.5,
) -> list[float]:
    """Width (pt) each column needs so that no number wraps.

    The widest cell (text columns capped at ``text_cap`` characters; headers at 10
    characters in text columns and 6 in number columns: headers wrap) at ``em`` per Latin
    character (Times digits are 0.5 em), CJK characters twice that, plus the cell padding.
    """
    out = []
    for i in range(body.shape[1]):
        column = body.columns[i]
        head = column[-1] if isinstance(column, tuple) else column
        cells = max([_text_width(v) for v in body.iloc[:, i]] or [0])
        if align[i] == "l" and text_cap is not None:
            cells = min(cells, text_cap)
        head_cap = 10 if align[i] == "l" else 0 if turned_headers(body) else 6
        out.append(max(cells, min(_text_width(head), head_cap), 2) * em * font_pt + 12)
    return out


def turned_headers(body: pd.DataFrame) -> bool:
    """Whether a matrix is too wide for horizontal headers (the EFA loadings): its number
    columns then set their headers vertically, in Word and LaTeX."""
    return body.shape[1] > ROTATE_HEADERS_COLUMNS


def table_width(body: pd.DataFrame, align: list[str] | None = None, font_pt: float = 9) -> float:
    """Width (pt) a table needs at ``font_pt`` with its text columns wrapped at 16 characters."""
    align = align or ["l"] + ["c"] * (body.shape[1] - 1)
    # 0.55 em: a margin for the wider fonts a viewer may substitute for Times New Roman.
    return sum(column_widths_pt(body, align, font_pt, text_cap=16, em=0.55))


def small_type(table: PublicationTable) -> bool:
    """Whether the table is set in 9 pt (小五; LaTeX \\footnotesize): when it does not fit its
    page in 10.5 pt (五号)."""
    usable = LANDSCAPE_TEXT_PT if table.orientation == "landscape" else PORTRAIT_TEXT_PT
    return (
        sum(column_widths_pt(table.body, table.column_align, 10.5, text_cap=24, em=0.55)) > usable
    )


# ---- layouts --------------------------------------------------------------------------------


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) if not _missing(value) else False


def _first_only(values: Iterable[str]) -> list[str]:
    """Blank repeats of a block label (the variable of a sample profile, say)."""
    out, last = [], None
    for v in values:
        out.append("" if v == last else v)
        last = v
    return out


def _sample_profile(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("sample_profile")
    if data is None:
        return None
    suppressed = data["suppressed"].map(_truthy) if "suppressed" in data else False
    variable = [lab.codebook_label(v) for v in data["variable"]]
    body = pd.DataFrame(
        {
            lab("variable"): _first_only(variable),
            lab("category"): [
                lab.category(v, c, str(d))
                for v, c, d in zip(data["variable"], data["code"], data["category"], strict=True)
            ],
            lab("count"): [
                "—" if s else format_number(v, "count")
                for v, s in zip(data["n"], suppressed, strict=True)
            ],
            lab("percent"): [
                "—" if s else format_number(v, "percent")
                for v, s in zip(data["percent"], suppressed, strict=True)
            ],
        }
    )
    notes = [f"N = {int(data.groupby('variable')['n'].sum().max())}."]
    if np.any(suppressed):
        notes.append(t["suppressed"])
    return _Spec(
        "sample-profile",
        body,
        notes,
        "descriptives",
        ("sample_profile",),
    )


def _numeric_profile(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("sample_profile_numeric")
    if data is None or data.empty:
        return None
    suppressed = data["suppressed"].map(_truthy)

    def cells(column: str, statistic: str) -> list[str]:
        return [
            "—" if s else format_number(v, statistic)
            for v, s in zip(data[column], suppressed, strict=True)
        ]

    body = pd.DataFrame(
        {
            lab("variable"): [lab.codebook_label(v) for v in data["variable"]],
            lab("n"): [format_number(v, "count") for v in data["n"]],
            lab("mean"): cells("mean", "mean"),
            lab("sd"): cells("sd", "sd"),
            lab("median"): cells("median", "mean"),
            lab("min"): cells("min", "mean"),
            lab("max"): cells("max", "mean"),
        }
    )
    return _Spec(
        "sample-profile-numeric",
        body,
        [t["suppressed"]] if suppressed.any() else [],
        "descriptives",
        ("sample_profile_numeric",),
    )


def _reliability(tables, lab: Labels, t: dict) -> _Spec | None:
    frames = [tables[s] for s in ("reliability", "eri_reliability") if s in tables]
    if not frames:
        return None
    data = pd.concat(frames, ignore_index=True).drop_duplicates("scale")
    level = data["level"] if "level" in data else pd.Series(["construct"] * len(data))
    body = pd.DataFrame(
        {
            lab("scale"): [lab.codebook_label(s) for s in data["scale"]],
            lab("level"): [lab.value("level", v) if isinstance(v, str) else "" for v in level],
            lab("n_items"): [format_number(v, "count") for v in data["n_items"]],
            lab("n"): [format_number(v, "count") for v in data["n"]],
            lab("alpha_ci"): [
                format_with_ci(a, lo, hi, "alpha")
                for a, lo, hi in zip(
                    data["alpha"], data["alpha_ci_low"], data["alpha_ci_high"], strict=True
                )
            ],
            lab("omega"): [
                "—" if _missing(v) else format_number(v, "omega") for v in data["omega"]
            ],
        }
    )
    notes = [t["omega_missing"]] if data["omega"].isna().any() else []
    return _Spec(
        "reliability",
        body,
        notes,
        "descriptives",
        tuple(s for s in ("reliability", "eri_reliability") if s in tables),
    )


def _score_descriptives(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("score_descriptives")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("score"): [lab.value("score", s) for s in data["score"]],
            lab("n"): [format_number(v, "count") for v in data["n"]],
            lab("mean"): [format_number(v, "mean") for v in data["mean"]],
            lab("sd"): [format_number(v, "sd") for v in data["sd"]],
            lab("mean_ci"): [
                format_ci(lo, hi, "mean")
                for lo, hi in zip(data["mean_ci_low"], data["mean_ci_high"], strict=True)
            ],
            lab("skewness"): [format_number(v, "skew") for v in data["skewness"]],
            lab("kurtosis"): [format_number(v, "skew") for v in data["kurtosis"]],
        }
    )
    return _Spec(
        "score-descriptives",
        body,
        [],
        "descriptives",
        ("score_descriptives",),
    )


def _group_comparisons(tables, lab: Labels, t: dict) -> list[_Spec]:
    comparisons, means = tables.get("group_comparisons"), tables.get("group_means")
    if comparisons is None or means is None:
        return []
    specs = []
    for grouping, block in comparisons.groupby("grouping", sort=False):
        group_rows = means[means["grouping"] == grouping]
        groups = group_rows.drop_duplicates("code")[["code", "group"]]
        groups = groups.assign(
            group=[
                lab.category(grouping, c, str(g))
                for c, g in zip(groups["code"], groups["group"], strict=True)
            ]
        )
        group_label = lab.codebook_label(grouping)
        two = block["test"].iloc[0] == "welch_t"
        columns: dict[tuple[str, str], list[str]] = {("", lab("score")): []}
        for g in groups["group"]:
            columns[(group_label, str(g))] = []
        test_name = lab.value("test", block["test"].iloc[0])
        effect = "hedges_g" if two else "eta_sq"
        for key in (test_name, lab("df"), lab("p"), lab("p_adj"), lab(effect)):
            columns[("", key)] = []
        for row in block.itertuples():
            columns[("", lab("score"))].append(lab.codebook_label(row.score))
            rows = group_rows[group_rows["score"] == row.score].set_index("code")
            for code, g in zip(groups["code"], groups["group"], strict=True):
                if code in rows.index:
                    cell = format_mean_sd(rows.loc[code, "mean"], rows.loc[code, "sd"])
                else:
                    cell = "—"
                columns[(group_label, str(g))].append(cell)
            columns[("", test_name)].append(format_number(row.statistic, "statistic"))
            df = format_number(row.df1, "df")
            if not two and not _missing(row.df2):
                df = f"{df}, {format_number(row.df2, 'df')}"
            elif two:
                df = format_number(row.df2 if not _missing(row.df2) else row.df1, "df")
            columns[("", lab("df"))].append(df)
            columns[("", lab("p"))].append(format_p(row.p))
            columns[("", lab("p_adj"))].append(format_p(row.p_adj))
            value = getattr(row, effect)
            columns[("", lab(effect))].append(format_number(value, "g" if two else "eta_sq"))
        body = pd.DataFrame(columns)
        body.columns = pd.MultiIndex.from_tuples(list(columns))
        method = block["correction"].dropna()
        notes = [
            f"{lab('m_sd')}: "
            + ("均值（标准差）。" if lab.language == "zh" else "mean (standard deviation).")
        ]
        if len(method):
            notes.append(t["holm"].format(method=str(method.iloc[0]).capitalize()))
        key = "group-comparisons-" + grouping.replace("_", "-")
        specs.append(
            _Spec(
                key,
                body,
                notes,
                "descriptives",
                ("group_comparisons", "group_means"),
                caption_fields={"group": group_label},
            )
        )
    return specs


def _score_correlations(tables, lab: Labels, t: dict) -> _Spec | None:
    """Means, SDs and the lower triangle of correlations of the domain scores, the outcome
    and the ERI scales (the construct-level matrix is too wide for a page)."""
    data, descriptives = tables.get("score_correlations"), tables.get("score_descriptives")
    if data is None or lab.codebook is None:
        return None
    levels = dict(
        zip(lab.codebook.constructs["name"], lab.codebook.constructs["level"], strict=True)
    )
    present = list(dict.fromkeys([*data["var1"], *data["var2"]]))
    wanted = [
        v
        for v in present
        if levels.get(v.removeprefix("score_")) == "domain"
        or v in ("score_perceived_stress", "eri_effort", "eri_reward", "eri_oc")
    ]
    if len(wanted) < 2:
        return None
    pairs = {}
    for row in data.itertuples():
        stars = row.stars if isinstance(row.stars, str) else ""
        pairs[(row.var1, row.var2)] = pairs[(row.var2, row.var1)] = (
            format_number(row.r, "r") + stars
        )
    stats = descriptives.set_index("score") if descriptives is not None else None
    body: dict[str, list[str]] = {
        lab("variable"): [f"{k}. {lab.value('score', v)}" for k, v in enumerate(wanted, 1)]
    }
    if stats is not None:
        body[lab("mean")] = [
            format_number(stats["mean"].get(v), "mean") if v in stats.index else "" for v in wanted
        ]
        body[lab("sd")] = [
            format_number(stats["sd"].get(v), "sd") if v in stats.index else "" for v in wanted
        ]
    for j, column in enumerate(wanted[:-1]):
        body[str(j + 1)] = [
            pairs.get((row, column), "") if i > j else ("—" if i == j else "")
            for i, row in enumerate(wanted)
        ]
    n = data.loc[data["var1"].isin(wanted) & data["var2"].isin(wanted), "n"]
    notes = [
        t["stars"],
        f"n = {int(n.min())}–{int(n.max())}."
        if len(n) and n.min() != n.max()
        else f"n = {int(n.max())}.",
    ]
    return _Spec(
        "score-correlations",
        pd.DataFrame(body),
        notes,
        "descriptives",
        ("score_correlations", "score_descriptives"),
    )


def _eri_increment(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("synthesis_eri_increment")
    if data is None or data.empty:
        return None
    rows, previous = [], {}
    for row in data.itertuples():
        terms = str(row.predictors).split("+")
        before = previous.get(row.level, [])
        added = [x for x in terms if x not in before]
        previous[row.level] = terms
        sources = t["all_sources"].format(level=lab.value("level", row.level))
        joiner = "、" if lab.language == "zh" else ", "
        label = sources if not before else "+ " + joiner.join(lab.value("score", x) for x in added)
        df = ""
        if not _missing(row.df1):
            df = f"{format_number(row.df1, 'df')}, {format_number(row.df2, 'df')}"
        rows.append(
            {
                lab("level"): lab.value("level", row.level),
                lab("step"): f"{format_number(row.step, 'count')}: {label}",
                lab("n"): format_number(row.n, "count"),
                lab("r2"): format_number(row.r2, "r2"),
                lab("adj_r2"): format_number(row.adj_r2, "r2"),
                lab("delta_r2"): format_number(row.delta_r2, "r2") if before else "",
                lab("f_change"): format_number(row.f_change, "statistic"),
                lab("df"): df,
                lab("p_change"): format_p(row.p_change),
            }
        )
    body = pd.DataFrame(rows)
    body[lab("level")] = _first_only(body[lab("level")])
    return _Spec(
        "synthesis-eri-increment",
        body,
        [],
        "synthesis",
        ("synthesis_eri_increment",),
        align=("l", "l", *["c"] * 7),
    )


def factor_names(
    loadings: pd.DataFrame, codebook: Codebook | None, language: str = "en", min_share: float = 0.5
) -> dict[str, str]:
    """Names of the EFA factors: the construct whose items load mostly on a factor.

    A factor is named after construct C when more than ``min_share`` of C's items have it as
    their primary factor and C's items are more than ``min_share`` of the factor's primary
    items; other factors are ``F<k>`` (k: position). Two factors never share a name.

    Parameters
    ----------
    loadings : DataFrame
        Long format ``item, factor, loading`` (``efa_loadings.csv``).

    Examples
    --------
    >>> long = pd.DataFrame({"item": ["a1", "a1", "a2", "a2"], "factor": ["MR1", "MR2"] * 2,
    ...                      "loading": [0.8, 0.1, 0.7, 0.2]})
    >>> factor_names(long, None)
    {'MR1': 'F1', 'MR2': 'F2'}
    """
    _check_language(language)
    factors = list(dict.fromkeys(loadings["factor"]))
    names = {f: f"F{k}" for k, f in enumerate(factors, start=1)}
    if codebook is None:
        return names
    wide = loadings.pivot(index="item", columns="factor", values="loading")[factors]
    primary = wide.abs().idxmax(axis=1)
    construct_of = dict(zip(codebook.table["item_id"], codebook.table["construct"], strict=True))
    items = pd.DataFrame({"factor": primary, "construct": primary.index.map(construct_of)})
    taken = set()
    for factor in factors:
        mine = items[items["factor"] == factor]
        if mine.empty:
            continue
        construct, count = (
            mine["construct"].value_counts().index[0],
            mine["construct"].value_counts().iloc[0],
        )
        total = (items["construct"] == construct).sum()
        if count / len(mine) > min_share and count / total > min_share and construct not in taken:
            taken.add(construct)
            names[factor] = codebook.label(construct, language)
    return names


def _efa_loadings(tables, lab: Labels, t: dict, cutoff: float) -> _Spec | None:
    data = tables.get("efa_loadings")
    if data is None:
        return None
    factors = list(dict.fromkeys(data["factor"]))
    names = factor_names(data, lab.codebook, lab.language)
    wide = data.pivot(index="item", columns="factor", values="loading")[factors]
    h2 = data.drop_duplicates("item").set_index("item")["communality"]
    primary = wide.abs().idxmax(axis=1)
    # Items sorted by primary factor, then by the size of that loading (as SPSS sorts).
    order = sorted(
        wide.index,
        key=lambda i: (factors.index(primary[i]), -abs(wide.loc[i, primary[i]])),
    )
    body = {lab("item"): order}
    for f in factors:
        body[names[f]] = [
            "" if abs(wide.loc[i, f]) < cutoff else format_number(wide.loc[i, f], "loading")
            for i in order
        ]
    body[lab("h2")] = [format_number(h2[i], "h2") for i in order]
    notes = [t["blank_loadings"].format(cut=format_number(cutoff, "loading"))]
    adequacy = tables.get("efa_adequacy")
    if adequacy is not None and len(adequacy):
        a = adequacy.iloc[0]
        notes.append(
            t["efa_method"].format(
                extraction=a.get("extraction", ""), rotation=a.get("rotation", ""), n=int(a["n"])
            )
        )
    unnamed = [names[f] for f in factors if names[f].startswith("F")]
    if unnamed:
        notes.append(
            "F1…: 未能与单一构念对应的因子。"
            if lab.language == "zh"
            else "F1…: factors not matched to one construct."
        )
    return _Spec(
        "efa-loadings",
        pd.DataFrame(body),
        notes,
        "efa",
        ("efa_loadings", "efa_adequacy"),
    )


def _efa_adequacy(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("efa_adequacy")
    if data is None or data.empty:
        return None
    a = data.iloc[0]
    body = pd.DataFrame(
        {
            lab("kmo"): [format_number(a["kmo"], "kmo")],
            lab("bartlett_chi2"): [format_number(a["bartlett_chi2"], "chi2")],
            lab("bartlett_df"): [format_number(a["bartlett_df"], "df")],
            lab("bartlett_p"): [format_p(a["bartlett_p"])],
            lab("n"): [format_number(a["n"], "count")],
            lab("n_items"): [format_number(a["n_items"], "count")],
            lab("n_factors_parallel"): [format_number(a["n_factors_parallel"], "count")],
        }
    )
    return _Spec(
        "efa-adequacy",
        body,
        [],
        "efa",
        ("efa_adequacy",),
        align=tuple("c" * body.shape[1]),
    )


def _efa_variance(tables, lab: Labels, t: dict) -> _Spec | None:
    data, loadings = tables.get("efa_variance"), tables.get("efa_loadings")
    if data is None:
        return None
    names = factor_names(loadings, lab.codebook, lab.language) if loadings is not None else {}
    body = pd.DataFrame(
        {
            lab("factor"): [names.get(f, f) for f in data["factor"]],
            lab("ss_loadings"): [format_number(v, "eigen") for v in data["ss_loadings"]],
            lab("proportion_var_pct"): [
                format_number(100 * v, "percent") for v in data["proportion_var"]
            ],
            lab("cumulative_var_pct"): [
                format_number(100 * v, "percent") for v in data["cumulative_var"]
            ],
        }
    )
    return _Spec(
        "efa-variance",
        body,
        [],
        "efa",
        ("efa_variance", "efa_loadings"),
    )


# The fit indices a thesis reports per model (the appendix table has every one of FULL_FIT).
MAIN_FIT = ("chi2", "df", "chi2_df", "cfi", "tli", "rmsea_ci", "srmr", "aic", "bic")
INVARIANCE_FIT = ("chi2", "df", "cfi", "rmsea_ci", "srmr")
FULL_FIT = (
    ("n", "count"),
    ("npar", "count"),
    ("chi2", "chi2"),
    ("df", "df"),
    ("p", "p"),
    ("chi2_df", "chi2_df"),
    ("cfi", "cfi"),
    ("tli", "tli"),
    ("nfi", "nfi"),
    ("gfi", "gfi"),
    ("agfi", "agfi"),
    ("rmsea", "rmsea"),
    ("rmsea_ci_low", "rmsea"),
    ("rmsea_ci_high", "rmsea"),
    ("rmsea_pclose", "p"),
    ("srmr", "srmr"),
    ("logl", "ic"),
    ("aic", "ic"),
    ("bic", "ic"),
    ("bic2", "ic"),
    ("baseline_chi2", "chi2"),
    ("baseline_df", "df"),
    ("chi2_sb", "chi2"),
    ("sb_scaling", "chi2_df"),
    ("p_sb", "p"),
    # the robust estimators' (MLM/MLR) scaled test and robust indices; ML under FIML has
    # the robust CFI/TLI/RMSEA only. A row shows only where the stage table has values.
    ("chi2_scaled", "chi2"),
    ("scaling_factor", "chi2_df"),
    ("p_scaled", "p"),
    ("cfi_robust", "cfi"),
    ("tli_robust", "tli"),
    ("rmsea_robust", "rmsea"),
)


FIT_STATISTIC = dict(FULL_FIT)


def _fit_cells(row, lab: Labels, keys: tuple[str, ...]) -> dict[str, str]:
    """The fit indices ``keys`` of one model (``rmsea_ci``: RMSEA with its 90% CI)."""
    cells = {}
    for key in keys:
        if key == "rmsea_ci":
            cells[lab(key)] = format_with_ci(
                row["rmsea"], row["rmsea_ci_low"], row["rmsea_ci_high"], "rmsea"
            )
        else:
            cells[lab(key)] = format_number(row[key], FIT_STATISTIC[key])
    return cells


def _cfa_fit(tables, lab: Labels, t: dict) -> list[_Spec]:
    data = tables.get("cfa_fit")
    if data is None:
        return []
    rows = []
    for _, row in data.iterrows():
        cells = {lab("model"): lab.value("model", row["model"])}
        cells.update(_fit_cells(row, lab, MAIN_FIT))
        rows.append(cells)
    main = pd.DataFrame(rows)
    notes = [t["cfa_n"].format(n=int(data["n"].max()))]
    full_columns = [(c, s) for c, s in FULL_FIT if c in data.columns and data[c].notna().any()]
    full = pd.DataFrame(
        {lab("statistic"): [lab(c) for c, _ in full_columns]}
        | {
            lab.value("model", row["model"]): [format_number(row[c], s) for c, s in full_columns]
            for _, row in data.iterrows()
        }
    )
    return [
        _Spec(
            "cfa-fit",
            main,
            notes,
            "cfa",
            ("cfa_fit",),
        ),
        _Spec(
            "cfa-fit-full",
            full,
            [],
            "cfa",
            ("cfa_fit",),
            appendix=True,
        ),
    ]


def _cfa_validity(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("cfa_validity")
    if data is None:
        return None
    wanted = ["model", "factor", "n_items", "cr", "ave", "sqrt_ave", "max_r"]
    data = data[[c for c in wanted if c in data.columns]]
    body = pd.DataFrame(
        {
            lab("model"): _first_only([lab.value("model", m) for m in data["model"]]),
            lab("factor"): [lab.value("factor", f) for f in data["factor"]],
            **(
                {lab("n_items"): [format_number(v, "count") for v in data["n_items"]]}
                if "n_items" in data
                else {}
            ),
            lab("cr"): [format_number(v, "cr") for v in data["cr"]],
            lab("ave"): [format_number(v, "ave") for v in data["ave"]],
            **(
                {lab("sqrt_ave"): [format_number(v, "r") for v in data["sqrt_ave"]]}
                if "sqrt_ave" in data
                else {}
            ),
            **(
                {lab("max_r"): [format_number(v, "r") for v in data["max_r"]]}
                if "max_r" in data
                else {}
            ),
        }
    )
    return _Spec(
        "cfa-validity",
        body,
        [],
        "cfa",
        ("cfa_validity",),
        align=("l", "l", *["c"] * (body.shape[1] - 2)),
    )


def _invariance(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("invariance")
    if data is None:
        return None
    rows = []
    for _, row in data.iterrows():
        rows.append(
            {
                lab("grouping"): lab.codebook_label(row["group_var"]),
                lab("step"): lab.value("step", row["step"]),
                **_fit_cells(row, lab, INVARIANCE_FIT),
                lab("delta_chi2"): format_number(row["delta_chi2"], "chi2"),
                lab("delta_df"): format_number(row["delta_df"], "df"),
                lab("delta_p"): format_p(row["delta_p"]),
                lab("delta_cfi"): format_number(row["delta_cfi"], "delta_fit"),
                lab("delta_rmsea"): format_number(row["delta_rmsea"], "delta_fit"),
            }
        )
    body = pd.DataFrame(rows)
    body[lab("grouping")] = _first_only(body[lab("grouping")])
    return _Spec(
        "invariance",
        body,
        [t["chen"]],
        "invariance",
        ("invariance",),
        align=("l", "l", *["c"] * (body.shape[1] - 2)),
    )


def _eri_summary(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("eri_summary")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("scale"): [lab.value("score", s) for s in data["scale"]],
            lab("n_items"): [format_number(v, "count") for v in data["n_items"]],
            lab("n"): [format_number(v, "count") for v in data["n"]],
            lab("mean"): [format_number(v, "mean") for v in data["mean"]],
            lab("sd"): [format_number(v, "sd") for v in data["sd"]],
            lab("median"): [format_number(v, "mean") for v in data["median"]],
            lab("range"): [
                f"{format_number(a, 'mean')}–{format_number(b, 'mean')}"
                for a, b in zip(data["min"], data["max"], strict=True)
            ],
        }
    )
    notes = []
    rule = data["missing_rule"].dropna() if "missing_rule" in data else pd.Series(dtype=str)
    allowed = re.search(r"at most (\d+) item", str(rule.iloc[0])) if len(rule) else None
    if allowed:
        notes.append(t["prorated"].format(k=allowed.group(1)))
    return _Spec(
        "eri-summary",
        body,
        notes,
        "eri",
        ("eri_summary",),
    )


def _eri_prevalence(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("eri_prevalence")
    if data is None:
        return None
    suppressed = (
        data["suppressed"].map(_truthy)
        if "suppressed" in data
        else pd.Series(False, index=data.index)
    )
    groups = [t["overall"] if g == "overall" else lab.codebook_label(g) for g in data["group_var"]]
    labels = [
        t["all"] if gv == "overall" else lab.category(gv, g, str(gl))
        for gv, g, gl in zip(data["group_var"], data["group"], data["group_label"], strict=True)
    ]
    body = pd.DataFrame(
        {
            lab("grouping"): _first_only(groups),
            lab("group"): labels,
            lab("n"): [
                "—" if s else format_number(v, "count")
                for v, s in zip(data["n"], suppressed, strict=True)
            ],
            lab("n_imbalance"): [
                "—" if s else format_number(v, "count")
                for v, s in zip(data["n_imbalance"], suppressed, strict=True)
            ],
            lab("percent_ci"): [
                "—"
                if s
                else f"{format_number(100 * p, 'percent')} [{format_number(100 * lo, 'percent')}, {format_number(100 * hi, 'percent')}]"
                for p, lo, hi, s in zip(
                    data["prevalence"], data["ci_low"], data["ci_high"], suppressed, strict=True
                )
            ],
        }
    )
    notes = [t["wilson"]]
    if suppressed.any():
        notes.append(t["suppressed"])
    return _Spec(
        "eri-prevalence",
        body,
        notes,
        "eri",
        ("eri_prevalence",),
        align=("l", "l", "c", "c", "c"),
    )


def _eri_odds_ratios(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("eri_odds_ratios")
    if data is None:
        return None
    rows = []
    for _, row in data.iterrows():
        term = row["variable"]
        name = lab.value("term", term)
        if isinstance(row.get("level"), str | int | float) and not _missing(row.get("level")):
            try:
                level = lab.codebook.value_labels(term, lab.language).get(int(float(row["level"])))
            except (KeyError, ValueError, AttributeError):
                level = None
            colon = "：" if lab.language == "zh" else ": "
            name = f"{name}{colon}{level if level else row['level']}"
        rows.append(
            {
                lab("model"): lab.value("model", row["model"]),
                lab("predictor"): name,
                lab("or_ci"): format_with_ci(
                    row["odds_ratio"], row["ci_low"], row["ci_high"], "odds_ratio"
                ),
                lab("p"): format_p(row["p"]),
            }
        )
    body = pd.DataFrame(rows)
    body[lab("model")] = _first_only(body[lab("model")])
    notes = []
    definitions = data["outcome_definition"].dropna() if "outcome_definition" in data else []
    outcome = (
        re.search(r"(score_\w+) >= ([\d.]+)", str(definitions.iloc[0]))
        if len(definitions)
        else None
    )
    if outcome:
        notes.append(
            t["outcome"].format(score=lab.codebook_label(outcome.group(1)), cut=outcome.group(2))
        )
    references = []
    levelled = data.dropna(subset=["level"]) if "level" in data else data.iloc[:0]
    for variable, block in levelled.groupby("variable", sort=False):
        present = {int(float(v)) for v in block["level"]}
        try:
            codes = lab.codebook.value_labels(variable, lab.language) if lab.codebook else {}
        except KeyError:
            codes = {}
        missing = [label for code, label in codes.items() if code not in present]
        if len(missing) == 1:  # treatment coding: the one level without a row
            colon = "：" if lab.language == "zh" else ": "
            references.append(f"{lab.codebook_label(variable)}{colon}{missing[0]}")
    if references:
        notes.append(
            t["reference"].format(levels=("；" if lab.language == "zh" else "; ").join(references))
        )
    if "n" in data:
        notes.append(f"n = {int(data['n'].max())}.")
    return _Spec(
        "eri-odds-ratios",
        body,
        notes,
        "eri",
        ("eri_odds_ratios",),
        align=("l", "l", "c", "c"),
    )


def _synthesis_regression(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("synthesis_regression")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("level"): _first_only([lab.value("level", v) for v in data["level"]]),
            lab("predictor"): [lab.codebook_label(v) for v in data["predictor"]],
            lab("beta_ci"): [
                format_with_ci(b, lo, hi, "beta")
                for b, lo, hi in zip(data["beta"], data["ci_low"], data["ci_high"], strict=True)
            ],
            lab("se"): [format_number(v, "se") for v in data["se"]],
            lab("t"): [format_number(v, "statistic") for v in data["t"]],
            lab("p"): [format_p(v) for v in data["p"]],
            lab("vif"): [format_number(v, "vif") for v in data["vif"]],
        }
    )
    notes = []
    for level, block in data.groupby("level", sort=False):
        r = block.iloc[0]
        notes.append(
            f"{lab.value('level', level)}: n = {int(r['n'])}, R² = {format_number(r['r2'], 'r2')}, "
            f"{lab('adj_r2')} = {format_number(r['adj_r2'], 'r2')}, F = {format_number(r['f'], 'statistic')}, "
            f"{format_p(r['f_p'], symbol=True)}" + ("；" if lab.language == "zh" else "; ")
        )
    notes[-1] = notes[-1].rstrip("；; ") + ("。" if lab.language == "zh" else ".")
    return _Spec(
        "synthesis-regression",
        body,
        notes,
        "synthesis",
        ("synthesis_regression",),
        align=("l", "l", *["c"] * 5),
    )


def _synthesis_ranking(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("synthesis_ranking")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("level"): _first_only([lab.value("level", v) for v in data["level"]]),
            lab("source"): [lab.codebook_label(v) for v in data["source"]],
            lab("rank_ci"): [
                f"{format_number(r, 'rank')} [{format_number(lo, 'rank')}, {format_number(hi, 'rank')}]"
                for r, lo, hi in zip(
                    data["rank"], data["rank_ci_low"], data["rank_ci_high"], strict=True
                )
            ],
            lab("p_first"): [format_number(v, "proportion") for v in data["p_first"]],
            lab("weight_ci"): [
                format_with_ci(w, lo, hi, "weight")
                for w, lo, hi in zip(data["weight"], data["ci_low"], data["ci_high"], strict=True)
            ],
            lab("share_pct"): [format_number(100 * v, "percent") for v in data["share"]],
            lab("mean"): [format_number(v, "mean") for v in data["mean"]],
        }
    )
    methods = [lab.value("method", m) for m in dict.fromkeys(data["method"])]
    notes = [("权重：" if lab.language == "zh" else "Weights: ") + ", ".join(methods) + "."]
    return _Spec(
        "synthesis-ranking",
        body,
        notes,
        "synthesis",
        ("synthesis_ranking",),
        align=("l", "l", *["c"] * 5),
    )


def _item_statistics(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("item_statistics")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("item"): data["item"].astype(str),
            lab("scale"): [lab.codebook_label(s) for s in data["scale"]],
            lab("n"): [format_number(v, "count") for v in data["n"]],
            lab("mean"): [format_number(v, "mean") for v in data["mean"]],
            lab("sd"): [format_number(v, "sd") for v in data["sd"]],
            lab("skewness"): [format_number(v, "skew") for v in data["skewness"]],
            lab("kurtosis"): [format_number(v, "skew") for v in data["kurtosis"]],
            lab("r_drop"): [format_number(v, "r") for v in data["r_drop"]],
            lab("alpha_if_deleted"): [format_number(v, "alpha") for v in data["alpha_if_deleted"]],
        }
    )
    notes = []
    if "reverse_keyed" in data and data["reverse_keyed"].map(_truthy).any():
        rev = ", ".join(data.loc[data["reverse_keyed"].map(_truthy), "item"].astype(str))
        notes.append(
            ("反向计分题（已重新编码）：" if lab.language == "zh" else "Reverse-keyed (recoded): ")
            + rev
            + ("。" if lab.language == "zh" else ".")
        )
    return _Spec(
        "item-statistics",
        body,
        notes,
        "descriptives",
        ("item_statistics",),
        appendix=True,
        align=("l", "l", *["c"] * 7),
    )


def _exclusion_flow(tables, lab: Labels, t: dict) -> _Spec | None:
    data = tables.get("exclusion_flow")
    if data is None:
        return None
    body = pd.DataFrame(
        {
            lab("step"): [format_number(v, "count") for v in data["step"]],
            lab("rule"): [
                lab.value("rule", r, d)
                for r, d in zip(data["rule"], data["description"], strict=True)
            ],
            lab("excluded"): [format_number(v, "count") for v in data["excluded"]],
            lab("remaining"): [format_number(v, "count") for v in data["remaining"]],
        }
    )
    return _Spec(
        "exclusion-flow",
        body,
        [],
        "validate",
        ("exclusion_flow",),
        align=("c", "l", "c", "c"),
    )


def _power_summary(tables, lab: Labels, t: dict) -> _Spec | None:
    """The power study (Monte Carlo): one row per sample size, shares in percent."""
    data = tables.get("power_summary")
    if data is None:
        return None

    def percent(column):
        return [format_number(100 * v, "percent") for v in data[column]]

    def power_cells(prefix):
        return [
            f"{format_number(100 * m, 'percent')} ({format_number(100 * low, 'percent')})"
            if not _missing(m)
            else ""
            for m, low in zip(data[f"{prefix}_median"], data[f"{prefix}_min"], strict=True)
        ]

    columns = {
        lab("power_n"): [format_number(v, "count") for v in data["n"]],
        lab("convergence"): percent("convergence"),
        lab("improper_share"): percent("improper_share"),
        lab("power_loadings"): power_cells("power_loadings"),
    }
    if data["power_covariances_median"].notna().any():
        columns[lab("power_covariances")] = power_cells("power_covariances")
    columns[lab("coverage")] = percent("coverage")
    for measure in ("cfi", "rmsea", "srmr"):
        columns[lab(f"{measure}_share")] = percent(f"{measure}_share")
    replications = int(data["replications"].max())
    return _Spec(
        "power-summary",
        pd.DataFrame(columns),
        [t["power_note"].format(replications=replications)],
        "power",
        ("power_summary",),
    )


def _build_specs(tables, lab: Labels, t: dict, loading_cutoff: float) -> list[_Spec]:
    specs: list[_Spec | None] = [
        _exclusion_flow(tables, lab, t),
        _sample_profile(tables, lab, t),
        _numeric_profile(tables, lab, t),
        _reliability(tables, lab, t),
        _score_descriptives(tables, lab, t),
        _score_correlations(tables, lab, t),
        *_group_comparisons(tables, lab, t),
        _efa_adequacy(tables, lab, t),
        _efa_loadings(tables, lab, t, loading_cutoff),
        _efa_variance(tables, lab, t),
        *_cfa_fit(tables, lab, t),
        _cfa_validity(tables, lab, t),
        _invariance(tables, lab, t),
        _eri_summary(tables, lab, t),
        _eri_prevalence(tables, lab, t),
        _eri_odds_ratios(tables, lab, t),
        _synthesis_regression(tables, lab, t),
        _synthesis_ranking(tables, lab, t),
        _eri_increment(tables, lab, t),
        _power_summary(tables, lab, t),
        _item_statistics(tables, lab, t),
    ]
    return [s for s in specs if s is not None]


def publication_tables(
    tables: Mapping[str, pd.DataFrame],
    codebook: Codebook | None,
    language: str = "en",
    simulated: bool = False,
    loading_cutoff: float = 0.30,
) -> list[PublicationTable]:
    """The thesis's tables from a site's tidy tables, in print order (main, then appendix).

    Parameters
    ----------
    tables : mapping
        CSV stem -> DataFrame, as :func:`read_tables` returns; tables whose CSVs are missing
        are skipped.
    codebook : Codebook
        Labels of items, constructs and domains (``None``: ids stay as they are).
    language : {'en', 'zh'}
    simulated : bool
        Adds the SIMULATED note to every table.
    loading_cutoff : float
        EFA loadings with a smaller absolute value are left blank.

    Examples
    --------
    >>> rel = pd.DataFrame({"scale": ["workload"], "n_items": [3], "n": [380], "alpha": [0.8123],
    ...                     "alpha_ci_low": [0.78], "alpha_ci_high": [0.84], "omega": [0.82]})
    >>> [t] = publication_tables({"reliability": rel}, None, "zh", simulated=True)
    >>> t.title, t.key, t.body.iloc[0].tolist()
    ('表 1', 'reliability', ['workload', '构念', '3', '380', '.81 [.78, .84]', '.82'])
    """
    _check_language(language)
    t = TEXT[language]
    out, counts = [], {False: 0, True: 0}
    specs = _build_specs(tables, Labels(codebook, language), t, loading_cutoff)
    specs = [s for s in specs if not s.appendix] + [s for s in specs if s.appendix]
    numbers = {}
    for spec in specs:
        counts[spec.appendix] += 1
        numbers[spec.key] = counts[spec.appendix]
    for spec in specs:
        _check_text(spec)
        notes = list(spec.notes)
        if spec.key == "cfa-fit" and "cfa-fit-full" in numbers:
            ref = numbers["cfa-fit-full"]
            notes.append(t["full_fit"].format(ref=ref if language == "zh" else f"A{ref}"))
        notes = [_explanations(spec.body, language), *notes]
        if simulated:
            notes.append(SIMULATED_NOTE[language])
        if language == "zh":  # a Chinese note ends its sentences with a full stop "。"
            notes = [n[:-1] + "。" if n.endswith(".") else n for n in notes]
        body = spec.body.reset_index(drop=True)
        align = list(spec.align) or ["l"] + ["c"] * (body.shape[1] - 1)
        landscape = (
            spec.landscape
            if spec.landscape is not None
            else table_width(body, align) > PORTRAIT_TEXT_PT
        )
        out.append(
            PublicationTable(
                key=spec.key,
                number=numbers[spec.key],
                caption=publication_caption(spec.key, language, **spec.caption_fields),
                body=body,
                notes=tuple(n for n in notes if n),
                orientation="landscape" if landscape else "portrait",
                appendix=spec.appendix,
                language=language,
                stage=spec.stage,
                sources=spec.sources,
                align=spec.align,
            )
        )
    items = codebook.table["item_id"] if codebook is not None else []
    problems = [p for table in out for p in table_problems(table, items)]
    if problems:
        # Not an error: the tables are still usable; but a reader would see ids, so say which.
        warnings.warn(
            "publication tables hold ids without a label (add them to the codebook or to "
            "policestress/templates/column_labels.csv as kind.id, e.g. model.my_model): "
            + "; ".join(problems[:20]),
            stacklevel=2,
        )
    return out


def _check_text(spec: _Spec) -> None:
    """Check that no header or cell holds a Python value; a builder bug, not user input."""
    for row in [*(spec.body.columns.tolist()), *spec.body.to_numpy().ravel().tolist()]:
        for text in row if isinstance(row, tuple) else (row,):
            if not isinstance(text, str):
                raise TypeError(f"publication table {spec.key}: a cell holds {text!r}, not text")


@cache
def _label_by_text(language: str) -> dict[str, str]:
    """Printed label -> explanation, for the abbreviation notes."""
    out = {}
    for row in label_table().values():
        explain = row.get(f"explain_{language}", "")
        if explain:
            out.setdefault(row[f"label_{language}"], explain)
    return out


def _explanations(body: pd.DataFrame, language: str) -> str:
    """``CFI = comparative fit index; ...`` for the abbreviations among the headers."""
    known = _label_by_text(language)
    seen = []
    for column in body.columns:
        for text in column if isinstance(column, tuple) else (column,):
            if text in known and text not in seen:
                seen.append(text)
    if not seen:
        return ""
    if language == "zh":
        return "；".join(f"{s} 为{known[s]}" for s in seen) + "。"
    return "; ".join(f"{s} = {known[s]}" for s in seen) + "."


def read_tables(source: Path | Iterable[Path]) -> dict[str, pd.DataFrame]:
    """Tidy tables by stem: the given CSV files, or every ``*.csv`` of a folder.

    Group codes (``group``, ``code``) are read as text, as the stages wrote them.
    """
    if isinstance(source, str | Path):
        files = sorted(Path(source).glob("*.csv"))
    else:
        files = [Path(p) for p in source]
    return {p.stem: _read_csv(p) for p in files}


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8", dtype={"group": str, "code": str})
    except pd.errors.EmptyDataError:  # a stage's empty table written without columns
        return pd.DataFrame()


_SNAKE_CASE = re.compile(r"(?<![\w.])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w])")
_PYTHON_VALUES = re.compile(r"\b(True|False|None|nan|NaN)\b")
_ZERO_P = re.compile(r"^(p\s*=\s*)?0?\.0+$")


def table_problems(table: PublicationTable, item_ids: Iterable[str] = ()) -> list[str]:
    """What a reader should never see in a publication table, one message per cell.

    Python values (True, False, None, nan), braces of a dict, snake_case ids that are not
    codebook item ids, p printed as 0.000, and duplicated columns.

    Examples
    --------
    >>> bad = PublicationTable("k", 1, "c", pd.DataFrame({"p": ["0.000"], "x": ["stress_sources"]}))
    >>> table_problems(bad)
    ["k: column 'p' row 1: p printed as zero ('0.000')", "k: column 'x' row 1: internal id 'stress_sources'"]
    """
    allowed = set(item_ids)
    out = []
    headers = [
        " / ".join(str(x) for x in c) if isinstance(c, tuple) else str(c)
        for c in table.body.columns
    ]
    if len(set(headers)) < len(headers):
        out.append(
            f"{table.key}: duplicated columns {sorted(h for h in headers if headers.count(h) > 1)}"
        )
    cells = [(f"header {h!r}", h) for h in headers]
    for c, header in enumerate(headers):
        for r, value in enumerate(table.body.iloc[:, c], start=1):
            cells.append((f"column {header!r} row {r}", value))
    cells.append(("caption", table.caption))
    cells.extend(("note", n) for n in table.notes)
    for where, text in cells:
        text = str(text)
        if _PYTHON_VALUES.search(text):
            out.append(f"{table.key}: {where}: Python value {text!r}")
        if "{" in text or "}" in text:
            out.append(f"{table.key}: {where}: braces {text!r}")
        if where.startswith("column 'p") and _ZERO_P.match(text.strip()):
            out.append(f"{table.key}: {where}: p printed as zero ({text!r})")
        for word in _SNAKE_CASE.findall(text):
            if word not in allowed:
                out.append(f"{table.key}: {where}: internal id {word!r}")
    return out


# ---- HTML -----------------------------------------------------------------------------------


def to_html(table: PublicationTable, anchor: str | None = None) -> str:
    """The table as HTML: ``<table class="pub">`` with its caption and the notes in ``<tfoot>``.

    Spanning headers become ``colspan`` cells; every text is escaped.

    Examples
    --------
    >>> t = PublicationTable("k", 1, "Cap", pd.DataFrame({"a": ["x"], "b": [".50"]}))
    >>> print(to_html(t).splitlines()[1])
    <caption><span class="pub-number">Table 1</span> Cap</caption>
    """
    anchor = anchor or f"tab-{table.key}"
    align = table.column_align
    lines = [
        f'<table class="pub" id="{html.escape(anchor)}">',
        f'<caption><span class="pub-number">{html.escape(table.title)}</span> {html.escape(table.caption)}</caption>',
        "<thead>",
    ]
    headers = table.header_rows
    for level, row in enumerate(headers):
        cells = []
        if level < len(headers) - 1:
            for text, span in _spans(row):
                cls = ' class="span"' if text else ""
                cells.append(f'<th colspan="{span}"{cls}>{html.escape(text)}</th>')
        else:
            cells = [f"<th>{html.escape(text)}</th>" for text in row]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</thead>")
    lines.append("<tbody>")
    for row in table.rows:
        lines.append(
            "<tr>"
            + "".join(
                f'<td class="{"text" if a == "l" else "num"}">{html.escape(v)}</td>'
                for v, a in zip(row, align, strict=True)
            )
            + "</tr>"
        )
    lines.append("</tbody>")
    if table.note_text:
        lines.append(
            f'<tfoot><tr><td colspan="{len(align)}">{html.escape(table.note_text)}</td></tr></tfoot>'
        )
    lines.append("</table>")
    return "\n".join(lines)


def _spans(row: list[str]) -> list[tuple[str, int]]:
    """Runs of equal neighbouring texts: ``[(text, span), ...]``."""
    out: list[tuple[str, int]] = []
    for text in row:
        if out and out[-1][0] == text and text:
            out[-1] = (text, out[-1][1] + 1)
        else:
            out.append((text, 1))
    return out


# ---- Word -----------------------------------------------------------------------------------

A4 = (Cm(21.0), Cm(29.7))
MARGINS_CM = {"top": 2.5, "bottom": 2.5, "left": 3.0, "right": 2.5}


def _set_page(section, landscape: bool) -> None:
    width, height = A4
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = height, width
        # The binding edge of a portrait page is its left: on a turned page it is the top.
        section.top_margin, section.bottom_margin = Cm(MARGINS_CM["left"]), Cm(MARGINS_CM["right"])
        section.left_margin = section.right_margin = Cm(MARGINS_CM["top"])
    else:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = width, height
        for side, cm in MARGINS_CM.items():
            setattr(section, f"{side}_margin", Cm(cm))


def new_document() -> Document:
    """An empty A4 Word document with the thesis fonts and the caption style set up."""
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(10.5)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")
    normal.paragraph_format.space_after = Pt(0)
    caption = doc.styles["Caption"]
    caption.font.name = "Times New Roman"
    caption.font.size = Pt(10.5)
    caption.font.bold = True
    caption.font.italic = False
    caption.font.color.rgb = RGBColor(0, 0, 0)
    caption.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")
    caption.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    caption.paragraph_format.keep_with_next = True
    caption.paragraph_format.space_before = Pt(6)
    caption.paragraph_format.space_after = Pt(3)
    _set_page(doc.sections[0], landscape=False)
    return doc


def _field_run(paragraph, instruction: str, cached: str) -> None:
    """A Word field (``SEQ 表 \\* ARABIC``) with its current result, as Word itself writes it."""
    for kind, text in (
        ("begin", None),
        ("instr", instruction),
        ("separate", None),
        ("result", cached),
        ("end", None),
    ):
        run = paragraph.add_run()
        if kind == "instr":
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = f" {text} "
            run._r.append(element)
        elif kind == "result":
            run.text = text
        else:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
            run._r.append(element)


def _widths(table: PublicationTable, usable: int, font_pt: float) -> list[int]:
    """Column widths (EMU) that fill the text width and never wrap a number.

    When the page is too narrow, the text columns wrap first (down to 8 characters); only
    then do all columns shrink in proportion.
    """
    align = table.column_align
    # 0.62 em: room for the wider fonts a viewer may substitute for Times New Roman.
    need = [Pt(w) for w in column_widths_pt(table.body, align, font_pt, em=0.62)]
    least = [Pt(w) for w in column_widths_pt(table.body, align, font_pt, text_cap=8, em=0.62)]
    total = sum(need)
    if total <= usable:
        return [int(n * usable / total) for n in need]
    fixed = sum(n for n, a in zip(need, align, strict=True) if a != "l")
    text_need = total - fixed
    text_least = sum(m for m, a in zip(least, align, strict=True) if a == "l")
    if text_need and fixed + text_least <= usable:
        share = (usable - fixed) / text_need
        widths = [n if a != "l" else n * share for n, a in zip(need, align, strict=True)]
        widths = [max(w, m) for w, m in zip(widths, least, strict=True)]
        scale = usable / sum(widths)
        return [int(w * scale) for w in widths]
    return [int(n * usable / total) for n in need]


_W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_JC = {True: '<w:pPr><w:jc w:val="center"/></w:pPr>', False: '<w:pPr><w:jc w:val="left"/></w:pPr>'}
_RUN_BREAKS = re.compile(r"([\t\r\n])")


def _rule(edge: str, size: int | None) -> str:
    if size is None:
        return f'<w:{edge} w:val="nil"/>'
    return f'<w:{edge} w:val="single" w:sz="{size}" w:space="0" w:color="000000"/>'


def _run_xml(text: str, size: str) -> str:
    """A ``w:r`` holding ``text`` as python-docx's ``add_run`` writes it: a tab is ``w:tab``,
    a line break ``w:br``, leading or trailing spaces are preserved."""
    parts = []
    for piece in _RUN_BREAKS.split(text):
        if piece == "\t":
            parts.append("<w:tab/>")
        elif piece in ("\r", "\n"):
            parts.append("<w:br/>")
        elif piece:
            space = ' xml:space="preserve"' if len(piece.strip()) < len(piece) else ""
            parts.append(f"<w:t{space}>{html.escape(piece, quote=False)}</w:t>")
    return f"<w:r>{size}{''.join(parts)}</w:r>"


def _grid_xml(table: PublicationTable, widths: list[int], font_pt: float) -> str:
    """The three-line table's ``w:tbl`` (``widths`` in EMU, text in ``font_pt``), as one string.

    The elements, their order and their values are those python-docx writes for
    ``doc.add_table`` with the cell by cell calls this replaces (alignment, run, width,
    borders, merged spanning headers); building the XML directly is twenty times faster.
    """
    headers, rows = table.header_rows, table.rows
    align = table.column_align
    n_head = len(headers)
    turn = turned_headers(table.body)
    # python-docx writes a run's size in half points, and none for the style's 10.5 pt
    size = f'<w:rPr><w:sz w:val="{round(font_pt * 2)}"/></w:rPr>' if font_pt != 10.5 else ""
    twips = [Emu(w).twips for w in widths]
    thin = f"<w:tcBorders>{_rule('bottom', THIN_RULE)}</w:tcBorders>"
    out = [
        f"<w:tbl {_W_NS}><w:tblPr>",
        '<w:tblW w:type="auto" w:w="0"/><w:jc w:val="center"/><w:tblBorders>',
        _rule("top", THICK_RULE),
        _rule("left", None),
        _rule("bottom", THICK_RULE),
        _rule("right", None),
        _rule("insideH", None),
        _rule("insideV", None),
        '</w:tblBorders><w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" '
        'w:lastRow="0" w:noHBand="0" w:noVBand="1" w:val="04A0"/></w:tblPr><w:tblGrid>',
        *(f'<w:gridCol w:w="{w}"/>' for w in twips),
        "</w:tblGrid>",
    ]
    for r, values in enumerate([*headers, *rows]):
        out.append("<w:tr>")
        if r < n_head:
            # Header rows repeat on every page of a long table.
            out.append("<w:trPr><w:tblHeader/>")
            if turn and r == n_head - 1:
                # Turned headers need the row as tall as the longest one (Word does not grow it).
                longest = max(
                    _text_width(h) for h, a in zip(values, align, strict=True) if a != "l"
                )
                height = int((longest * 0.6 * font_pt + 12) * 20)  # twips
                out.append(f'<w:trHeight w:val="{height}" w:hRule="atLeast"/>')
            out.append("</w:trPr>")
        # A spanning header (upper header rows) is one merged cell over its span.
        spans = _spans(values) if r < n_head - 1 else [(v, 1) for v in values]
        c = 0
        for value, span in spans:
            width = sum(twips[c : c + span])
            props = [f'<w:tcW w:type="dxa" w:w="{width}"/>']
            if span > 1:
                props.append(f'<w:gridSpan w:val="{span}"/>')
            center = r < n_head or align[c] != "l"
            if r >= n_head and align[c] != "l":
                props.append("<w:noWrap/>")  # numbers stay whole
            if r == n_head - 1:
                props.append(thin)
                if turn and align[c] != "l":
                    props.append('<w:textDirection w:val="btLr"/>')  # bottom to top, as LaTeX
                    center = False
                props.append('<w:vAlign w:val="bottom"/>')
            elif r < n_head - 1 and value:
                # A spanning header gets a thin rule under its span (booktabs' \cmidrule).
                props.append(thin)
            out.append(f"<w:tc><w:tcPr>{''.join(props)}</w:tcPr>")
            out.append(f"<w:p>{_JC[center]}{_run_xml(value, size)}</w:p></w:tc>")
            c += span
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


def add_to_docx(doc, table: PublicationTable, first: bool = False) -> None:
    """Append ``table`` to a Word document: caption (SEQ field), three-line table, note.

    A table whose orientation differs from the current page starts a new section; ``first``
    means the document is still empty (use its first section).
    """
    landscape = table.orientation == "landscape"
    section = doc.sections[-1]
    if first:
        _set_page(section, landscape)
    elif (section.orientation == WD_ORIENT.LANDSCAPE) != landscape:
        section = doc.add_section(WD_SECTION.NEW_PAGE)
        _set_page(section, landscape)
    font_pt = 9 if small_type(table) else 10.5
    caption = doc.add_paragraph(style="Caption")
    prefix = TITLE_PREFIX[table.language, table.appendix]
    caption.add_run(prefix)
    _field_run(
        caption, f"SEQ {SEQ_NAME[table.language, table.appendix]} \\* ARABIC", str(table.number)
    )
    caption.add_run(("\u3000" if table.language == "zh" else "  ") + table.caption)
    usable = section.page_width - section.left_margin - section.right_margin
    widths = _widths(table, usable, font_pt)
    doc.element.body._insert_tbl(parse_xml(_grid_xml(table, widths, font_pt)))
    if table.note_text:
        para = doc.add_paragraph()
        para.paragraph_format.space_after = Pt(12)
        para.add_run(table.note_text).font.size = Pt(9)


def _normalized_zip(data: bytes) -> bytes:
    """Rewrite a .docx (zip) with fixed member timestamps, so reruns give identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def write_docx(tables: list[PublicationTable], path: Path) -> Path:
    """Write one or more tables, in order, to a Word document (identical bytes on rerun)."""
    doc = new_document()
    for i, table in enumerate(tables):
        add_to_docx(doc, table, first=i == 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    doc.save(buffer)
    path.write_bytes(_normalized_zip(buffer.getvalue()))
    return path


# ---- LaTeX ----------------------------------------------------------------------------------

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
# Greek letters, super/subscripts and signs the text fonts may lack: typeset in math.
_LATEX_MATH = {
    "α": r"\alpha",
    "β": r"\beta",
    "χ": r"\chi",
    "ω": r"\omega",
    "η": r"\eta",
    "λ": r"\lambda",
    "Δ": r"\Delta",
    "²": "^2",
    MINUS: "-",
    "≥": r"\geq",
    "≤": r"\leq",
    "±": r"\pm",
    "√": r"\surd",
}
_LATEX_PATTERN = re.compile(
    "(" + "|".join(re.escape(k) for k in _LATEX_SPECIAL) + ")|([" + "".join(_LATEX_MATH) + "]+)"
)


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; Greek letters and signs go into math.

    Examples
    --------
    >>> print(latex_escape("χ²/df & 50% α_1 −.12"))
    $\\chi^2$/df \\& 50\\% $\\alpha$\\_1 $-$.12
    """
    flat = " ".join(str(text).splitlines())

    def replace(match: re.Match) -> str:
        if match.group(1):
            return _LATEX_SPECIAL[match.group(1)]
        return (
            "$"
            + "".join(
                _LATEX_MATH[ch] + (" " if _LATEX_MATH[ch][-1].isalpha() else "")
                for ch in match.group(2)
            )
            .replace(" ^", "^")
            .strip()
            + "$"
        )

    return _LATEX_PATTERN.sub(replace, flat)


def latex_preamble(language: str) -> str:
    """The preamble a table needs (ctex with the Fandol fonts of TeX Live for Chinese)."""
    _check_language(language)
    if language == "zh":
        # Fandol ships with Debian's texlive-lang-chinese, so every machine with xelatex has it.
        head = r"\documentclass[fontset=fandol,zihao=5,a4paper]{ctexart}"
    else:
        # English conventions, but CJK glyphs still available: group labels from the data
        # may be Chinese even in an English table.
        head = "\\documentclass[11pt,a4paper]{article}\n\\usepackage[scheme=plain,fontset=fandol]{ctex}"
    packages = "\n".join(rf"\usepackage{{{p}}}" for p in LATEX_PACKAGES)
    # "表 1  Title" as Chinese theses set it (no colon), caption above the table.
    packages += "\n\\captionsetup[table]{labelsep=quad,skip=4pt}"
    return (
        f"{head}\n\\usepackage[a4paper,top=2.5cm,bottom=2.5cm,left=3cm,right=2.5cm]{{geometry}}\n"
        f"{packages}\n"
    )


def _latex_header(table: PublicationTable) -> list[str]:
    headers = table.header_rows
    lines = []
    for level in range(len(headers) - 1):
        cells, rules, start = [], [], 1
        for text, span in _spans(headers[level]):
            if text:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(text)}}}")
                rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            else:
                cells.extend([""] * span)
            start += span
        lines.append(" & ".join(cells) + r" \\")
        lines.append(" ".join(rules))
    # A matrix too wide for horizontal headers (the EFA loadings) turns its number headers.
    turn = turned_headers(table.body)
    cells = [
        rf"\rotatebox{{90}}{{{latex_escape(h)}}}" if turn and a != "l" else _latex_header_cell(h)
        for h, a in zip(headers[-1], table.column_align, strict=True)
    ]
    lines.append(" & ".join(cells) + r" \\")
    return lines


def _latex_columns(table: PublicationTable) -> str:
    """Column types: l / c, and a wrapping ragged-right p column for long texts."""
    out = []
    for i, a in enumerate(table.column_align):
        longest = max([_text_width(r[i]) for r in table.rows] or [0])
        if a == "l" and longest > LATEX_WRAP_TEXT:
            # LATEX_WRAP_TEXT Latin characters are about half as many em.
            out.append(rf">{{\raggedright\arraybackslash}}p{{{LATEX_WRAP_TEXT // 2}em}}")
        else:
            out.append(a)
    return "".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """Break a header into balanced lines of about ``width`` Latin units at most: at spaces,
    or between CJK characters (Chinese may break anywhere).

    Examples
    --------
    >>> _wrap("突发事件风险", 10), _wrap("Largest |r| with another factor", 16)
    (['突发事', '件风险'], ['Largest |r| with', 'another factor'])
    """
    total = _text_width(text)
    if total <= width:
        return [text]
    # As many lines as needed, each as long as the others (no orphan character).
    width = math.ceil(total / math.ceil(total / width))
    lines, current = [], ""
    tokens = re.findall(r"[\u3000-\u9fff\uff00-\uffef]|[^\s\u3000-\u9fff\uff00-\uffef]+|\s+", text)
    for token in tokens:
        if token.isspace():
            if current:
                current += " "
            continue
        if current and _text_width(current.rstrip() + token) > width:
            lines.append(current.rstrip())
            current = token
        else:
            current += token
    if current.strip():
        lines.append(current.rstrip())
    return lines or [""]


def _latex_header_cell(text: str, width: int = 10) -> str:
    lines = _wrap(text, width)
    if len(lines) == 1:
        return latex_escape(text)
    # "\\{}": a line starting with "[" is not read as the optional argument of \\.
    return r"\makecell{" + r"\\{}".join(latex_escape(line) for line in lines) + "}"


def to_latex(table: PublicationTable, standalone: bool = True) -> str:
    """The table as LaTeX (booktabs); with ``standalone`` the file also compiles on its own.

    The file checks whether it is read inside a document (``\\input``): if not, it brings the
    preamble of :func:`latex_preamble`, sets the table counter and ends the document itself.
    """
    spec = _latex_columns(table)
    body = [" & ".join(latex_escape(v) for v in row) + r" \\" for row in table.rows]
    header = _latex_header(table)
    prefix = TITLE_PREFIX[table.language, table.appendix]
    caption = rf"\caption{{{latex_escape(table.caption)}}}\label{{{table.latex_label}}}"
    note = latex_escape(table.note_text)
    landscape = table.orientation == "landscape"
    columns = table.body.shape[1]
    size = r"\scriptsize" if columns > 12 else r"\footnotesize" if small_type(table) else r"\small"
    lines = [f"% {prefix}{table.number}: {table.key} (policestress.publication; three-line table)"]
    if standalone:
        lines += [
            r"\makeatletter",
            r"\ifx\documentclass\@notprerr\else\def\pstablestandalone{}\fi",
            r"\makeatother",
            r"\ifdefined\pstablestandalone",
            latex_preamble(table.language).rstrip("\n"),
            r"\begin{document}",
            r"\def\pstableend{\end{document}}",
            *_counter_setup(table),
            r"\fi",
        ]
    if landscape:
        lines.append(r"\begin{landscape}")
    if len(table.rows) > LONGTABLE_ROWS:
        lines += [
            r"\begingroup" + size + r"\setlength{\tabcolsep}{4pt}",
            rf"\begin{{longtable}}{{{spec}}}",
            caption + r" \\",
            r"\toprule",
            *header,
            r"\midrule",
            r"\endfirsthead",
            rf"\multicolumn{{{len(table.column_align)}}}{{l}}{{\tablename~\thetable（续）}} \\"
            if table.language == "zh"
            else rf"\multicolumn{{{len(table.column_align)}}}{{l}}{{\tablename~\thetable\ (continued)}} \\",
            r"\toprule",
            *header,
            r"\midrule",
            r"\endhead",
            r"\bottomrule",
            r"\endlastfoot",
            *body,
            r"\end{longtable}",
            rf"{{\footnotesize\noindent {note}\par}}" if note else "",
            r"\endgroup",
        ]
    else:
        lines += [
            r"\begin{table}[htbp]",
            r"\centering" + size,
            caption,
            r"\begin{adjustbox}{max width=\linewidth}",
            # threeparttable: the note is as wide as the table, under it.
            r"\begin{threeparttable}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            *header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *(
                [
                    r"\begin{tablenotes}[flushleft]\footnotesize",
                    rf"\item[] {note}",
                    r"\end{tablenotes}",
                ]
                if note
                else []
            ),
            r"\end{threeparttable}",
            r"\end{adjustbox}",
            r"\end{table}",
        ]
    if landscape:
        lines.append(r"\end{landscape}")
    if standalone:
        lines.append(r"\ifdefined\pstablestandalone\expandafter\pstableend\fi")
    return "\n".join(line for line in lines if line) + "\n"


def _counter_setup(table: PublicationTable) -> list[str]:
    lines = [rf"\setcounter{{table}}{{{table.number - 1}}}"]
    if table.appendix:
        lines += _appendix_numbering(table.language)
    return lines


def _appendix_numbering(language: str) -> list[str]:
    if language == "zh":
        return [r"\renewcommand{\tablename}{附表}"]
    return [r"\renewcommand{\thetable}{A\arabic{table}}"]


def write_latex(table: PublicationTable, path: Path) -> Path:
    """Write :func:`to_latex` to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_latex(table), encoding="utf-8")
    return path


def latex_driver(tables: list[PublicationTable], language: str) -> str:
    """``tables.tex``: a document that ``\\input``'s every table file in order."""
    lines = [
        "% Every publication table; compile with xelatex (ctex for Chinese).",
        latex_preamble(language).rstrip("\n"),
        r"\begin{document}",
    ]
    appendix_started = False
    for table in tables:
        if table.appendix and not appendix_started:
            appendix_started = True
            lines += [r"\clearpage", r"\setcounter{table}{0}", *_appendix_numbering(language)]
        lines.append(rf"\input{{{table.key}.tex}}")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# ---- every table of a site ------------------------------------------------------------------

COMBINED_DOCX = "thesis_tables.docx"
LATEX_DRIVER = "tables.tex"


def thesis_listing(tables: list[PublicationTable]) -> pd.DataFrame:
    """``key, table, caption, docx, tex`` per table, in order: the files
    :func:`write_publication_tables` writes (``table``: its title, "表 3"; ``docx``, ``tex``:
    file names)."""
    rows = [
        {
            "key": table.key,
            "table": table.title,
            "caption": table.caption,
            "docx": f"{table.key}.docx",
            "tex": f"{table.key}.tex",
        }
        for table in tables
    ]
    return pd.DataFrame(rows, columns=["key", "table", "caption", "docx", "tex"])


def write_publication_tables(tables: list[PublicationTable], folder: Path) -> pd.DataFrame:
    """Write ``<key>.docx`` and ``<key>.tex`` per table, ``thesis_tables.docx`` and ``tables.tex``.

    Returns :func:`thesis_listing`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    listing = thesis_listing(tables)
    for table, row in zip(tables, listing.itertuples(), strict=True):
        write_docx([table], folder / row.docx)
        write_latex(table, folder / row.tex)
    if tables:
        write_docx(tables, folder / COMBINED_DOCX)
        (folder / LATEX_DRIVER).write_text(
            latex_driver(tables, tables[0].language), encoding="utf-8"
        )
    return listing
