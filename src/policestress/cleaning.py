"""Cleaning and scoring: exclusion rules, reverse-keying, construct and domain scores.

:func:`apply_exclusions` applies the site's ``exclusions`` rules in the order they are
configured; a respondent is counted under the first rule that excludes them, so the flow
table adds up. :func:`score` recodes reverse-keyed items and computes scale scores with the
missing-item rule of ``scoring.min_answered_fraction``; ERI scores come from
:func:`policestress.eri.score_eri` with the site's ``eri`` settings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from policestress.config import GENERATED_ID, SiteConfig
from policestress.survey_io import parse_duration_seconds

RULE_DESCRIPTIONS = {
    "duplicates": "duplicate submission (identical answers to every question as an earlier one)",
    "attention_check": "failed the attention-check item",
    "max_missing_fraction": "too many unanswered scored items",
    "straightlining": "same answer to nearly every item of the block (straight-lining)",
    "min_duration_seconds": "implausibly short completion time",
}


def _duplicates(data: pd.DataFrame, site: SiteConfig, setting) -> pd.Series:
    if not setting:
        return pd.Series(False, index=data.index)
    answers = site.codebook.items(types=("likert", "categorical", "numeric")).item_id.tolist()
    return data.duplicated(subset=answers, keep="first")


def _attention(data: pd.DataFrame, site: SiteConfig, setting) -> pd.Series:
    return data[setting["item"]] != float(setting["expected"])


def _missing(data: pd.DataFrame, site: SiteConfig, setting) -> pd.Series:
    scored = site.codebook.items().item_id.tolist()
    return data[scored].isna().mean(axis=1) > float(setting)


def _straightlining(data: pd.DataFrame, site: SiteConfig, setting) -> pd.Series:
    items = site.codebook.item_ids(setting["instrument"])
    block = data[items].to_numpy(dtype=float)
    answered = (~np.isnan(block)).sum(axis=1)
    # share of the answered items given the most frequent answer, one comparison per code
    codes = np.unique(block[~np.isnan(block)])
    most = np.max([(block == code).sum(axis=1) for code in codes], axis=0) if codes.size else 0
    share = np.divide(most, answered, out=np.zeros(len(block)), where=answered > 0)
    return pd.Series(share >= float(setting["max_same_answer_fraction"]), index=data.index)


def _duration(data: pd.DataFrame, site: SiteConfig, setting) -> pd.Series:
    seconds = parse_duration_seconds(data["duration"])
    return seconds < float(setting)


RULES = {
    "duplicates": _duplicates,
    "attention_check": _attention,
    "max_missing_fraction": _missing,
    "straightlining": _straightlining,
    "min_duration_seconds": _duration,
}


def apply_exclusions(
    data: pd.DataFrame, site: SiteConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Apply the site's exclusion rules in configured order.

    Returns
    -------
    kept : DataFrame
        The retained respondents.
    flow : DataFrame
        step, rule, description, setting, excluded, remaining (the first row is the export).
    reason : Series
        For every row of ``data``, the rule that excluded it ('' if kept).
    """
    # site.yml's schema (policestress.settings.Exclusions) admits only the rules of RULES
    rules = site.settings.get("exclusions", {}) or {}
    reason = pd.Series("", index=data.index)
    described = "questionnaires in the export"
    if site.settings.get("id") == "generate":
        described += (
            f" (the export has no respondent-id column: rows numbered 1-{len(data)} in file "
            "order, site.yml id: generate)"
        )
    flow = [
        {
            "step": 0,
            "rule": "export",
            "description": described,
            "setting": "",
            "excluded": 0,
            "remaining": len(data),
        }
    ]
    for step, (rule, setting) in enumerate(rules.items(), start=1):
        if setting in (None, False):
            continue
        flagged = RULES[rule](data, site, setting).fillna(False).astype(bool)
        newly = flagged & (reason == "")
        reason[newly] = rule
        flow.append(
            {
                "step": step,
                "rule": rule,
                "description": RULE_DESCRIPTIONS[rule],
                "setting": str(setting),
                "excluded": int(newly.sum()),
                "remaining": int((reason == "").sum()),
            }
        )
    return data[reason == ""].copy(), pd.DataFrame(flow), reason


def reverse_code(data: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Recode reverse-keyed items as ``min + max - x``; other columns unchanged.

    Examples
    --------
    >>> items = pd.DataFrame({"item_id": ["a", "b"], "min": [1, 1], "max": [5, 5], "reverse": [False, True]})
    >>> reverse_code(pd.DataFrame({"a": [1, 2], "b": [1, 5]}), items)["b"].tolist()
    [5, 1]
    """
    out = data.copy()
    for row in items[items["reverse"]].itertuples():
        if row.item_id in out.columns:
            out[row.item_id] = int(row.min) + int(row.max) - out[row.item_id]
    return out


def scale_mean(data: pd.DataFrame, items: list[str], min_answered_fraction: float) -> pd.Series:
    """Mean of the answered items; NaN when fewer than ``min_answered_fraction`` are answered."""
    block = data[items]
    answered = block.notna().sum(axis=1)
    return block.mean(axis=1).where(answered >= np.ceil(min_answered_fraction * len(items) - 1e-9))


def bands(values: pd.Series, cuts: list[float]) -> pd.Series:
    """Band codes 1..k+1 of a numeric variable cut at ``cuts`` (a band includes its lower cut).

    Examples
    --------
    >>> bands(pd.Series([25, 30, 39.5, 40, None]), [30, 40]).tolist()
    [1, 2, 2, 3, <NA>]
    """
    edges = [-np.inf, *cuts, np.inf]
    codes = pd.cut(values, edges, right=False, labels=list(range(1, len(cuts) + 2)))
    return codes.astype("Int64")


def score(kept: pd.DataFrame, site: SiteConfig) -> pd.DataFrame:
    """The analysis data set: ids, demographics, numeric variables and their bands, recoded
    items, scale scores, ERI scores."""
    codebook = site.codebook
    likert = codebook.items()
    recoded = reverse_code(kept, likert)
    fraction = float(site.get("scoring.min_answered_fraction"))
    id_column = GENERATED_ID if site.settings.get("id") == "generate" else codebook.id_item()
    columns = {"respondent_id": kept[id_column].astype(str)}
    for item in codebook.categorical():
        columns[item] = kept[item].astype("Int64")
    for item in codebook.numeric():
        columns[item] = kept[item].astype(float)
    for band, (item, cuts) in codebook.bands().items():
        columns[band] = bands(kept[item].astype(float), cuts)
    for item in likert.item_id:
        columns[item] = recoded[item]
    for instrument in ("stress_sources", "outcome", "relief"):
        if not codebook.has_instrument(instrument):
            continue
        for construct, items in codebook.scales(instrument).items():
            columns[f"score_{construct}"] = scale_mean(recoded, items, fraction)
    if codebook.has_instrument("stress_sources"):
        for domain, constructs in codebook.domains("stress_sources").items():
            items = [i for c in constructs for i in codebook.item_ids("stress_sources", c)]
            columns[f"score_{domain}"] = scale_mean(recoded, items, fraction)
    analysis = pd.DataFrame(columns)
    if codebook.has_instrument("eri"):
        from policestress.eri import score_eri

        eri = score_eri(
            kept[codebook.item_ids("eri")],
            codebook.items("eri"),
            missing_rule=site.get("eri.missing_rule"),
            max_missing=int(site.get("eri.max_missing")),
            ratio_cutoff=float(site.get("eri.ratio_cutoff")),
            oc_cutoff=site.get("eri.oc_cutoff"),
        )
        analysis = pd.concat([analysis, eri], axis=1)
    return analysis.reset_index(drop=True)


def data_dictionary(
    analysis: pd.DataFrame, site: SiteConfig, missing_codes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per column of analysis.csv: name, kind, labels, values, and missing codes.

    ``missing_codes`` is :attr:`policestress.validate.ValidationReport.missing_codes`: the
    codes read as missing in each column of the export and how often (cells of the whole
    export, before exclusions), written as ``NA: 12 (site.yml missing_values); -99: 3 (SPSS
    user-missing)``.
    """
    codebook = site.codebook
    table = codebook.table.set_index("item_id")
    read_as_missing = {}
    if missing_codes is not None and len(missing_codes):
        for item, group in missing_codes.groupby("item_id", sort=False):
            read_as_missing[item] = "; ".join(
                f"{r.code if r.code != '' else '(empty)'}: {r.n} ({r.source})"
                for r in group.itertuples()
            )
    generated = site.settings.get("id") == "generate"
    rows = []
    for column in analysis.columns:
        entry = {"column": column, "values_zh": "", "values_en": ""}
        if column in table.index:
            row = table.loc[column]
            kind = {
                "categorical": "demographic code",
                "likert": "item (reverse-keyed recoded)" if row["reverse"] else "item",
                "numeric": f"number (valid range {_span(row)})",
            }.get(row["type"], row["type"])
            entry.update(
                kind=kind,
                label_zh=row["label_zh"],
                label_en=row["label_en"],
                values_zh=row["values_zh"] if row["type"] != "numeric" else "",
                values_en=row["values_en"] if row["type"] != "numeric" else "",
            )
        elif column in codebook.bands():
            item, cuts = codebook.bands()[column]
            entry.update(
                kind=f"band of {item} (cut points {'; '.join(f'{c:g}' for c in cuts)}; a band "
                "includes its lower cut)",
                label_zh=codebook.label(item, "zh"),
                label_en=codebook.label(item, "en"),
                values_zh=_labels(codebook.value_labels(column, "zh")),
                values_en=_labels(codebook.value_labels(column, "en")),
            )
        elif column.startswith("score_"):
            name = column.removeprefix("score_")
            entry.update(
                kind="scale score (mean of items)",
                label_zh=codebook.label(name, "zh"),
                label_en=codebook.label(name, "en"),
            )
        elif column.startswith("eri_"):
            entry.update(kind="ERI score (policestress.eri)", label_zh="", label_en=column)
        elif generated:
            entry.update(
                kind="identifier generated by the chain: row number in the export's file order "
                "(site.yml id: generate; the export has no respondent-id column)",
                label_zh="序号（按文件顺序生成）",
                label_en="respondent number (generated)",
            )
        else:
            entry.update(
                kind="identifier (sequence number of the export)",
                label_zh="序号",
                label_en="respondent number",
            )
        entry["missing_codes"] = read_as_missing.get(column, "")
        rows.append(entry)
    columns = ["column", "kind", "label_zh", "label_en", "values_zh", "values_en", "missing_codes"]
    return pd.DataFrame(rows, columns=columns)


def _span(row: pd.Series) -> str:
    low = "" if pd.isna(row["min"]) else f"{row['min']:g}"
    high = "" if pd.isna(row["max"]) else f"{row['max']:g}"
    return f"{low}-{high}"


def _labels(labels: dict[int, str]) -> str:
    return ";".join(f"{code}={label}" for code, label in labels.items())
