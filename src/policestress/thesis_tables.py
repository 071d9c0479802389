"""Captions of the tables and figures, and labels of the names in their file names.

The thesis tables themselves (Word, LaTeX, and the report's tables) are built by
:mod:`policestress.publication`; this module holds what the report stage also needs for the
figures and file lists:

* captions of known tables and figures (English and Chinese) from one place,
  ``templates/captions.csv``; a file not listed there gets a generic caption naming it;
* :func:`label_name`: the label of a column name (the one label table,
  ``templates/column_labels.csv``, :func:`policestress.publication.label_table`) or of an
  item, construct or domain id (``Codebook.label``), used for the ``{part}`` of wildcard
  captions such as ``likert_*``.

Examples
--------
>>> caption("cfa_fit", "table", "zh")
'竞争模型的验证性因子分析拟合指标'
"""

from __future__ import annotations

import fnmatch
from functools import cache

from policestress.config import Codebook
from policestress.publication import label_table as _label_rows
from policestress.publication import template_rows

LANGUAGES = ("en", "zh")
GENERIC_CAPTION = {
    "en": {"table": "Table: {stem}", "figure": "Figure: {stem}"},
    "zh": {"table": "表：{stem}", "figure": "图：{stem}"},
}


@cache
def _captions() -> tuple[dict[str, str], ...]:
    return tuple(template_rows("captions.csv"))


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
    ``{n_domains}`` and ``{n_constructs}`` are the codebook's numbers of stress-source domains
    and constructs (left out without a codebook). The first matching row wins. Unknown stems
    get a generic caption naming the file.

    Examples
    --------
    >>> caption("reliability", "table", "zh")
    '各量表信度'
    >>> caption("likert_work_stress", "figure")
    'Answers to the items: work stress (diverging stacked bars)'
    >>> caption("my_new_table")
    'Table: my_new_table'
    >>> caption("synthesis_importance_domains", "figure")[:50]
    'Relative importance of the stress-source domains ('
    """
    _check_language(language)
    for row in _captions():
        if row["kind"] == kind and fnmatch.fnmatchcase(stem, row["stem"]):
            text = row[f"caption_{language}"] or row["caption_en"]
            if "*" in row["stem"]:
                prefix, _, suffix = row["stem"].partition("*")
                part = stem[len(prefix) : len(stem) - len(suffix)]
                text = text.replace("{part}", _label_part(part, codebook, language))
            return _fill_counts(text, codebook)
    return GENERIC_CAPTION[language][kind].format(stem=stem)


def _fill_counts(text: str, codebook: Codebook | None) -> str:
    """``{n_domains}`` / ``{n_constructs}`` replaced by the codebook's counts, or dropped."""
    if "{n_" not in text:
        return text  # most captions: no codebook lookups (the report asks for 80 captions)
    counts = {"n_domains": 0, "n_constructs": 0}
    if codebook is not None and codebook.has_instrument("stress_sources"):
        counts["n_domains"] = len(codebook.domains("stress_sources"))
        counts["n_constructs"] = len(codebook.scales("stress_sources"))
    for name, count in counts.items():
        # "the {n} domains" / "{n}个领域": without a count, "the domains" / "各领域".
        text = text.replace("{" + name + "} ", f"{count} " if count else "")
        text = text.replace("{" + name + "}个", f"{count}个" if count else "各")
    return text


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
