"""Captions and labels of the tidy tables and figures, and the report's generic text tables.

The thesis tables themselves (Word, LaTeX, and the report's publication tables) are built by
:mod:`policestress.publication`; this module serves what is shared with the report stage:

* captions of known tables and figures (English and Chinese) from one place,
  ``templates/captions.csv``; a table not listed there gets a generic caption naming its file;
* labels: column names and the ids of items, constructs and domains in the cells are replaced
  by their label in ``language`` ('zh' or 'en'): names from the one label table
  ``templates/column_labels.csv`` (:func:`policestress.publication.label_table`), ids through
  ``Codebook.label``;
* numbers: :func:`format_table` formats a tidy table with the publication formatter
  (:func:`policestress.publication.format_number`): p values and the statistics it knows by
  column name in APA style, other floats with ``digits`` decimals, counts whole, missing
  values empty, True/False as yes/no.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"construct": ["workload"], "alpha": [0.81234], "n": [392], "p": [0.0001]})
>>> format_table(t).iloc[0].tolist()
['workload', '.81', '392', '< .001']
"""

from __future__ import annotations

import csv
import fnmatch
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from policestress.config import Codebook
from policestress.publication import STATISTICS, format_number
from policestress.publication import label_table as _label_rows

LANGUAGES = ("en", "zh")
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


def _column_labels() -> dict[str, dict[str, str]]:
    return _label_rows()


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


# Tidy column names -> the publication formatter's statistic (names of STATISTICS map to
# themselves); p values by name.
_STATISTIC_OF_COLUMN = {
    "correlation": "r",
    "loading": "loading",
    "communality": "h2",
    "chisq": "chi2",
    "prevalence": "proportion",
    "share": "proportion",
    "hedges_g": "g",
    "adj_r2": "r2",
    "delta_r2": "r2",
    "std_all": "beta",
    "skewness": "skew",
    "kurtosis": "skew",
    "r_drop": "r",
    "alpha_if_deleted": "alpha",
}


def _statistic(column: str) -> str | None:
    name = str(column)
    if name == "p" or name.startswith("p_") or name.endswith("_p"):
        return "p"
    if name in STATISTICS:
        return name
    return _STATISTIC_OF_COLUMN.get(name)


def _format_column(
    values: pd.Series, digits: int, column: str = "", language: str = "en"
) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        yes, no = ("是", "否") if language == "zh" else ("yes", "no")
        return values.map(lambda v: yes if v else no)
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
        statistic = _statistic(column)
        if statistic == "p" and bool(((finite >= 0) & (finite <= 1)).all()):
            return values.map(lambda v: format_number(v, "p"))
        if whole:
            return values.map(lambda v: "" if pd.isna(v) else str(int(v)))
        if statistic is not None:
            return values.map(lambda v: format_number(v, statistic))
        return values.map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return values.map(lambda v: "" if pd.isna(v) else str(v))


def format_table(
    table: pd.DataFrame, digits: int = 3, columns: list[str] | None = None, language: str = "en"
) -> pd.DataFrame:
    """Every cell as text, in APA style for the statistics known by column name.

    ``columns``: the tidy column names (when ``table``'s columns are already labels).
    """
    names = list(columns) if columns is not None else [str(c) for c in table.columns]
    # By position: the text table keeps the columns (and any repeated names) as they are.
    parts = [
        _format_column(table.iloc[:, i], digits, names[i], language) for i in range(table.shape[1])
    ]
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=table.index)
    out.columns = table.columns
    return out.reset_index(drop=True)
