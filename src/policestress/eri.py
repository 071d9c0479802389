"""Effort-reward imbalance (ERI): Siegrist's scoring, classification and associations.

Scoring follows Siegrist's questionnaire and is driven entirely by the codebook rows of the
``eri`` instrument (columns ``item_id, construct, subscale, min, max, reverse``):

* reverse-keyed items are recoded as ``min + max - x`` (``5 - x`` on the 1-4 format) so that a
  high score always means more effort, more reward, more overcommitment;
* effort, reward (and its esteem / promotion / job-security subscales) and overcommitment are
  **sums** of their items;
* the effort-reward ratio is ``ER = effort / (reward * c)`` with ``c = n effort items / n reward
  items`` counted from the items actually listed: 6/11 for the long version, 5/11 for the long
  version without ERI5, 3/7 for the short version;
* the missing-item rule is a parameter because Siegrist's public material states none:
  ``"complete"`` (a scale with any missing item is missing) or ``"prorate"`` (up to
  ``max_missing`` missing items per scale; the sum of the answered items is scaled up by
  ``n_items / n_answered``; not rounded). Each scale and subscale applies the rule to its own
  items.

Classification: imbalance is ``ER > ratio_cutoff`` (default 1); high overcommitment is
``OC > the upper tertile`` of OC in the sample being scored (the 2/3 quantile by linear
interpolation, R's ``quantile(type = 7)``; *strictly greater*, so that at most a third of the
respondents is classed high even with the ties of a sum score), or ``OC > a numeric cut-off``;
high risk is both, and missing when either is missing.

Binary columns are nullable integers 0/1 (``Int64``) so that they survive a CSV round trip.

Examples
--------
>>> import pandas as pd
>>> items = pd.DataFrame({
...     "item_id": ["E1", "E2", "E3", "R1", "R2", "R3", "R4", "R5", "R6", "R7"],
...     "construct": ["effort"] * 3 + ["reward"] * 7,
...     "subscale": [""] * 10, "min": 1, "max": 4,
...     "reverse": [False] * 3 + [True] * 3 + [False] * 4})
>>> answers = pd.DataFrame([[4, 4, 4, 3, 3, 3, 2, 2, 2, 2]], columns=items["item_id"])
>>> s = score_eri(answers, items)
>>> float(s.loc[0, "eri_reward"]), round(float(s.loc[0, "eri_ratio"]), 4)
(14.0, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from policestress.missing_data import complete_cases
from policestress.privacy import DEFAULT_MIN_CELL, suppress_small_cells
from policestress.settings import default

# Construct names in the codebook and the output column of each.
SCALES = {"effort": "eri_effort", "reward": "eri_reward", "overcommitment": "eri_oc"}
SUBSCALES = {
    "esteem": "eri_esteem",
    "promotion": "eri_promotion",
    "job_security": "eri_job_security",
}
# (n effort items, n reward items) -> version name.
VERSIONS = {(6, 11): "long", (5, 11): "long without ERI5", (3, 7): "short"}
MISSING_RULES = ("complete", "prorate")
# The defaults of the eri section of site.yml (policestress.settings states them).
DEFAULT_MISSING_RULE: str = default("eri.missing_rule")
DEFAULT_MAX_MISSING: int = default("eri.max_missing")
DEFAULT_RATIO_CUTOFF: float = default("eri.ratio_cutoff")
DEFAULT_OC_CUTOFF: float | str = default("eri.oc_cutoff")
DEFAULT_STRESS_CUTOFF: float = default("eri.stress_cutoff")
DEFAULT_COVARIATES: tuple[str, ...] = tuple(default("eri.covariates"))
OC_TERTILE_PROBABILITY = 2 / 3


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------
def _normalise_items(items: pd.DataFrame) -> pd.DataFrame:
    needed = {"item_id", "construct", "min", "max", "reverse"}
    missing = needed - set(items.columns)
    if missing:
        raise ValueError(f"ERI codebook rows lack columns {sorted(missing)}")
    rows = items.copy()
    if "subscale" not in rows.columns:
        rows["subscale"] = ""
    rows["subscale"] = rows["subscale"].fillna("").astype(str).str.strip()
    rows["construct"] = rows["construct"].astype(str).str.strip()
    rows["reverse"] = rows["reverse"].fillna(False).astype(bool)
    unknown = sorted(set(rows["construct"]) - set(SCALES))
    if unknown:
        raise ValueError(f"ERI constructs must be {sorted(SCALES)}; got {unknown}")
    bad_sub = sorted(set(rows["subscale"]) - set(SUBSCALES) - {""})
    if bad_sub:
        raise ValueError(f"ERI subscales must be {sorted(SUBSCALES)} or empty; got {bad_sub}")
    return rows


def item_counts(items: pd.DataFrame) -> dict[str, int]:
    """Number of items of each ERI scale and reward subscale listed in ``items``.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"item_id": ["E1", "R1", "R2"], "construct": ["effort", "reward",
    ...     "reward"], "subscale": ["", "esteem", "esteem"], "min": 1, "max": 4, "reverse": 0})
    >>> item_counts(rows)
    {'effort': 1, 'reward': 2, 'overcommitment': 0, 'esteem': 2, 'promotion': 0, 'job_security': 0}
    """
    rows = _normalise_items(items)
    counts = {c: int((rows["construct"] == c).sum()) for c in SCALES}
    counts.update({s: int((rows["subscale"] == s).sum()) for s in SUBSCALES})
    return counts


def correction_factor(items: pd.DataFrame) -> float:
    """Siegrist's correction factor ``c = n effort items / n reward items`` of the items used.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"item_id": list("abcdefghij"), "construct": ["effort"] * 3
    ...     + ["reward"] * 7, "min": 1, "max": 4, "reverse": 0})
    >>> round(correction_factor(rows), 6)
    0.428571
    """
    counts = item_counts(items)
    if counts["effort"] == 0 or counts["reward"] == 0:
        raise ValueError("the ERI items must include at least one effort and one reward item")
    return counts["effort"] / counts["reward"]


def eri_version(items: pd.DataFrame) -> str:
    """Name of the questionnaire version implied by the numbers of effort and reward items.

    ``"long"`` (6 effort / 11 reward), ``"long without ERI5"`` (5 / 11), ``"short"`` (3 / 7),
    else ``"custom (e effort / r reward items)"``; the ratio's correction factor follows the
    items in every case.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"item_id": [f"i{k}" for k in range(16)], "construct": ["effort"] * 5
    ...     + ["reward"] * 11, "min": 1, "max": 4, "reverse": 0})
    >>> eri_version(rows)
    'long without ERI5'
    """
    counts = item_counts(items)
    key = (counts["effort"], counts["reward"])
    return VERSIONS.get(key, f"custom ({key[0]} effort / {key[1]} reward items)")


def describe_missing_rule(
    missing_rule: str = DEFAULT_MISSING_RULE,
    max_missing: int = DEFAULT_MAX_MISSING,
    language: str = "en",
) -> str:
    """One sentence stating the missing-item rule, for notebooks and table notes.

    Examples
    --------
    >>> describe_missing_rule("complete")
    'ERI scale scores are computed only for respondents who answered every item of the scale.'
    >>> describe_missing_rule("complete", language="zh")
    'ERI 各量表得分仅对回答了该量表全部条目的受访者计算。'
    """
    _check_rule(missing_rule, max_missing)
    if missing_rule == "complete":
        if language == "zh":
            return "ERI 各量表得分仅对回答了该量表全部条目的受访者计算。"
        return (
            "ERI scale scores are computed only for respondents who answered every item "
            "of the scale."
        )
    if language == "zh":
        return (
            f"某量表（或子量表）缺答不超过 {max_missing} 题时按比例推算得分：已答条目之和乘以"
            "条目数 / 已答条目数，不取整；缺答更多时得分缺失。"
        )
    word = "item" if max_missing == 1 else "items"
    return (
        f"ERI scale scores are pro-rated when at most {max_missing} {word} of a scale "
        "(or subscale) is missing: the sum of the answered items times n items / n answered, "
        "not rounded; with more missing items the score is missing."
    )


def describe_classification(
    ratio_cutoff: float = DEFAULT_RATIO_CUTOFF,
    oc_cutoff: float | str = DEFAULT_OC_CUTOFF,
    oc_threshold: float | None = None,
    language: str = "en",
) -> str:
    """One sentence stating how imbalance, high overcommitment and high risk are defined.

    Examples
    --------
    >>> describe_classification(1.0, 15)
    'Imbalance: ER ratio > 1; high overcommitment: OC > 15; high risk: both (missing if either is missing).'
    >>> describe_classification(1.0, 15, language="zh")
    '失衡：付出-回报比 > 1；高过度投入：OC > 15；高风险：两者兼有（任一缺失则缺失）。'
    """
    zh = language == "zh"
    if oc_cutoff == "tertile":
        if zh:
            where = "" if oc_threshold is None else f"，本样本为 {oc_threshold:g}"
            oc = f"OC > 其上三分位数（本样本 OC 的第 66.7 百分位数，R quantile type 7{where}）"
        else:
            where = "" if oc_threshold is None else f", here {oc_threshold:g}"
            oc = (
                "OC > its upper tertile (the 66.7th percentile of OC in this sample, "
                f"R quantile type 7{where})"
            )
    else:
        oc = f"OC > {float(oc_cutoff):g}"
    if zh:
        return (
            f"失衡：付出-回报比 > {float(ratio_cutoff):g}；高过度投入：{oc}；"
            "高风险：两者兼有（任一缺失则缺失）。"
        )
    return (
        f"Imbalance: ER ratio > {float(ratio_cutoff):g}; high overcommitment: {oc}; "
        "high risk: both (missing if either is missing)."
    )


def _check_rule(missing_rule: str, max_missing: int) -> None:
    if missing_rule not in MISSING_RULES:
        raise ValueError(f"missing_rule must be one of {MISSING_RULES}, got {missing_rule!r}")
    if int(max_missing) != max_missing or max_missing < 0:
        raise ValueError(f"max_missing must be a non-negative integer, got {max_missing!r}")


def _scale_sum(block: pd.DataFrame, missing_rule: str, max_missing: int) -> pd.DataFrame:
    """Score of one scale: columns ``score``, ``total`` (sum answered) and ``answered``."""
    n_items = block.shape[1]
    answered = block.notna().sum(axis=1)
    total = block.sum(axis=1, min_count=1)
    allowed = 0 if missing_rule == "complete" else max_missing
    # Pro-rating: the mean of the answered items stands in for the missing ones.
    score = total * n_items / answered.where(answered > 0)
    score = score.where(n_items - answered <= allowed)
    return pd.DataFrame({"score": score, "total": total, "answered": answered})


def _ratio(effort: pd.DataFrame, reward: pd.DataFrame) -> pd.Series:
    """ER = effort / (reward * c), computed as (S_e * a_r) / (S_r * a_e).

    With S the sum of the answered items and a their number, the pro-rated sums are
    S * n / a and c = n_e / n_r, so the ratio reduces to (S_e * a_r) / (S_r * a_e): integer
    products for integer answers, so exact balance gives exactly 1.0 (the direct formula can
    give 1.0000000000000002 and misclassify a balanced respondent as ER > 1).
    """
    ratio = (effort["total"] * reward["answered"]) / (reward["total"] * effort["answered"])
    return ratio.where(effort["score"].notna() & reward["score"].notna())


def _upper_tertile(values: pd.Series) -> float:
    observed = values.dropna().to_numpy(dtype=float)
    if observed.size == 0:
        return float("nan")
    # numpy's default 'linear' method is R's quantile(type = 7).
    return float(np.quantile(observed, OC_TERTILE_PROBABILITY))


def _flag(condition: pd.Series, known: pd.Series) -> pd.Series:
    return condition.astype("Int64").where(known, pd.NA).astype("Int64")


def score_eri(
    responses: pd.DataFrame,
    items: pd.DataFrame,
    missing_rule: str = DEFAULT_MISSING_RULE,
    max_missing: int = DEFAULT_MAX_MISSING,
    ratio_cutoff: float = DEFAULT_RATIO_CUTOFF,
    oc_cutoff: float | str = DEFAULT_OC_CUTOFF,
    reverse_coded: bool = False,
) -> pd.DataFrame:
    """Score Siegrist's effort-reward imbalance questionnaire.

    Parameters
    ----------
    responses : DataFrame
        Raw answers, one column per item id (NaN = missing). Reverse-keyed items are recoded
        here unless ``reverse_coded`` is True.
    items : DataFrame
        Codebook rows of the ERI instrument: ``item_id``, ``construct`` (effort / reward /
        overcommitment), ``subscale`` (esteem / promotion / job_security / empty), ``min``,
        ``max``, ``reverse``. Which items are listed decides the version and the correction
        factor ``c``.
    missing_rule : {"prorate", "complete"}
        See :func:`describe_missing_rule`.
    max_missing : int
        Most missing items per scale that ``"prorate"`` fills in (ignored by ``"complete"``).
    ratio_cutoff : float
        Imbalance is ``eri_ratio > ratio_cutoff``.
    oc_cutoff : "tertile" or float
        High overcommitment is ``eri_oc >`` the sample's upper tertile (2/3 quantile, type 7),
        or ``eri_oc > oc_cutoff``.
    reverse_coded : bool
        True when ``responses`` already holds recoded reverse-keyed items (as ``analysis.csv``
        does); used to re-score the cleaned data.

    Returns
    -------
    DataFrame
        Same index as ``responses``; columns ``eri_effort, eri_reward``, then ``eri_esteem,
        eri_promotion, eri_job_security`` for the subscales that have items, ``eri_oc,
        eri_ratio`` (float) and ``eri_imbalance, eri_high_oc, eri_high_risk`` (Int64 0/1).
        The OC columns are left out when no overcommitment items are listed.
        ``attrs["eri"]`` records version, ``c``, item counts, the OC threshold used and the
        one-sentence rules.

    Raises
    ------
    KeyError
        When an item listed in ``items`` is not a column of ``responses``.
    ValueError
        On a malformed codebook, an unknown rule, or an answer outside ``[min, max]``.

    Examples
    --------
    >>> import pandas as pd
    >>> items = pd.DataFrame({"item_id": ["E1", "E2", "R1", "R2", "R3", "R4"],
    ...     "construct": ["effort"] * 2 + ["reward"] * 4, "min": 1, "max": 4,
    ...     "reverse": [False, False, True, False, False, False]})
    >>> raw = pd.DataFrame({"E1": [4, 2], "E2": [3, None], "R1": [4, 1], "R2": [1, 4],
    ...     "R3": [1, 4], "R4": [1, 4]})
    >>> score_eri(raw, items)[["eri_effort", "eri_reward", "eri_ratio", "eri_imbalance"]]
       eri_effort  eri_reward  eri_ratio  eri_imbalance
    0         7.0         4.0        3.5              1
    1         4.0        16.0        0.5              0
    """
    _check_rule(missing_rule, max_missing)
    rows = _normalise_items(items)
    absent = [i for i in rows["item_id"] if i not in responses.columns]
    if absent:
        raise KeyError(f"ERI items missing from the responses: {absent}")
    c = correction_factor(rows)
    if (rows.loc[rows["construct"].isin(["effort", "reward"]), "min"].astype(float) <= 0).any():
        raise ValueError("the ER ratio needs positive item codes (e.g. 1-4); found min <= 0")

    data = responses[rows["item_id"].tolist()].apply(pd.to_numeric, errors="coerce").astype(float)
    lo = rows.set_index("item_id")["min"].astype(float)
    hi = rows.set_index("item_id")["max"].astype(float)
    outside = [i for i in data.columns if ((data[i] < lo[i]) | (data[i] > hi[i])).any()]
    if outside:
        raise ValueError(f"ERI answers outside the codebook range in items {outside}")
    if not reverse_coded:
        for item in rows.loc[rows["reverse"], "item_id"]:
            data[item] = lo[item] + hi[item] - data[item]

    out = pd.DataFrame(index=responses.index)
    members = {c_: rows.loc[rows["construct"] == c_, "item_id"].tolist() for c_ in SCALES}
    subs = {s: rows.loc[rows["subscale"] == s, "item_id"].tolist() for s in SUBSCALES}
    effort = _scale_sum(data[members["effort"]], missing_rule, max_missing)
    reward = _scale_sum(data[members["reward"]], missing_rule, max_missing)
    out["eri_effort"] = effort["score"]
    out["eri_reward"] = reward["score"]
    for sub, column in SUBSCALES.items():
        if subs[sub]:
            out[column] = _scale_sum(data[subs[sub]], missing_rule, max_missing)["score"]
    has_oc = bool(members["overcommitment"])
    if has_oc:
        oc = _scale_sum(data[members["overcommitment"]], missing_rule, max_missing)
        out["eri_oc"] = oc["score"]
    out["eri_ratio"] = _ratio(effort, reward)

    ratio_known = out["eri_ratio"].notna()
    out["eri_imbalance"] = _flag(out["eri_ratio"] > ratio_cutoff, ratio_known)
    oc_threshold = None
    if has_oc:
        if isinstance(oc_cutoff, str):
            if oc_cutoff != "tertile":
                raise ValueError(f"oc_cutoff must be 'tertile' or a number, got {oc_cutoff!r}")
            oc_threshold = _upper_tertile(out["eri_oc"])
        else:
            oc_threshold = float(oc_cutoff)
        oc_known = out["eri_oc"].notna()
        out["eri_high_oc"] = _flag(out["eri_oc"] > oc_threshold, oc_known)
        both = out["eri_imbalance"].eq(1) & out["eri_high_oc"].eq(1)
        out["eri_high_risk"] = _flag(both.fillna(False), ratio_known & oc_known)

    counts = item_counts(rows)
    out.attrs["eri"] = {
        "version": eri_version(rows),
        "c": c,
        "item_counts": counts,
        "missing_rule": missing_rule,
        "max_missing": int(max_missing),
        "ratio_cutoff": float(ratio_cutoff),
        "oc_cutoff": oc_cutoff,
        "oc_threshold": oc_threshold,
        "missing_rule_text": describe_missing_rule(missing_rule, max_missing),
        "classification_text": describe_classification(ratio_cutoff, oc_cutoff, oc_threshold),
    }
    return out


# ---------------------------------------------------------------------------------------------
# descriptive results
# ---------------------------------------------------------------------------------------------
def eri_summary(
    scores: pd.DataFrame,
    items: pd.DataFrame,
    missing_rule: str | None = None,
    max_missing: int = DEFAULT_MAX_MISSING,
) -> pd.DataFrame:
    """Distribution of the ERI scores: effort, reward (and subscales), OC, ratio, log ratio.

    Parameters
    ----------
    scores : DataFrame
        Output of :func:`score_eri` (or the ``eri_*`` columns of ``analysis.csv``).
    items : DataFrame
        The ERI codebook rows, for the item counts.
    missing_rule, max_missing
        When given, a column ``missing_rule`` states the rule (:func:`describe_missing_rule`).

    Returns
    -------
    DataFrame
        ``scale, n_items, n, mean, sd, median, min, max`` (sd with n - 1); ``log_ratio`` is the
        natural log of the ER ratio (0 = balance).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"item_id": ["E1", "R1"], "construct": ["effort", "reward"],
    ...     "min": 1, "max": 4, "reverse": 0})
    >>> s = score_eri(pd.DataFrame({"E1": [1, 2, 4], "R1": [2, 2, 2]}), rows)
    >>> eri_summary(s, rows)[["scale", "n_items", "n", "mean"]].head(2)
        scale  n_items  n      mean
    0  effort        1  3  2.333333
    1  reward        1  3  2.000000
    """
    counts = item_counts(items)
    names = {
        "effort": "eri_effort",
        "reward": "eri_reward",
        **{k: v for k, v in SUBSCALES.items()},
        "overcommitment": "eri_oc",
        "ratio": "eri_ratio",
        "log_ratio": "eri_ratio",
    }
    records = []
    for scale, column in names.items():
        if column not in scores.columns:
            continue
        values = pd.to_numeric(scores[column], errors="coerce")
        if scale == "log_ratio":
            values = np.log(values)
        values = values.dropna()
        records.append(
            {
                "scale": scale,
                "n_items": counts.get(scale, pd.NA),
                "n": int(values.size),
                "mean": values.mean(),
                "sd": values.std(ddof=1),
                "median": values.median(),
                "min": values.min(),
                "max": values.max(),
            }
        )
    table = pd.DataFrame.from_records(records)
    table["n_items"] = table["n_items"].astype("Int64")
    table = table[~((table["n_items"] == 0).fillna(False))].reset_index(drop=True)
    if missing_rule is not None:
        table["missing_rule"] = describe_missing_rule(missing_rule, max_missing)
    return table


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (= R ``prop.test(x, n, correct = FALSE)``).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_ci(12, 40)]
    [0.1807, 0.4543]
    """
    # scipy.stats is imported where it is used: the validate stage scores ERI through this
    # module, and importing scipy.stats costs it a second.
    from scipy import stats

    if n <= 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _prevalence_row(flag: pd.Series, confidence: float) -> dict:
    known = flag.dropna()
    n, k = int(known.size), int(known.sum())
    low, high = wilson_ci(k, n, confidence)
    return {
        "n": n,
        "n_imbalance": k,
        "prevalence": k / n if n else float("nan"),
        "ci_low": low,
        "ci_high": high,
    }


def prevalence(
    data: pd.DataFrame,
    groups: Sequence[str] = (),
    column: str = "eri_imbalance",
    confidence: float = 0.95,
    min_cell: int | None = DEFAULT_MIN_CELL,
    labels: Mapping[str, Mapping[int, str]] | None = None,
    suppressed: Mapping[str, Iterable] | None = None,
) -> pd.DataFrame:
    """Prevalence of a 0/1 classification with Wilson 95% CIs, overall and by group.

    Parameters
    ----------
    data : DataFrame
        One row per respondent with ``column`` (0/1, missing allowed) and the grouping columns.
    groups : sequence of str
        Grouping variables (integer codes). Respondents with a missing group value form a
        ``"(missing)"`` row so that the cells add up to the overall row.
    column : str
        The classification, e.g. ``eri_imbalance``, ``eri_high_oc`` or ``eri_high_risk``.
    confidence : float
        Level of the Wilson score interval (R ``prop.test(correct = FALSE)``).
    min_cell : int or None
        The privacy rule of :mod:`policestress.privacy` within each grouping variable, on
        the group sizes ``n``, the numbers with imbalance and the numbers without; a
        suppressed group has its counts, prevalence and CI blanked. None publishes everything.
    labels : mapping, optional
        ``{group_var: {code: label}}`` for a ``group_label`` column.
    suppressed : mapping, optional
        ``{group_var: codes}`` suppressed in another published table (the sample profile,
        :func:`policestress.privacy.suppressed_codes`): suppressed here too, so that no
        table gives back a cell another hid.

    Returns
    -------
    DataFrame
        ``group_var, group, group_label, n, n_imbalance, prevalence, ci_low, ci_high,
        suppressed``; ``n`` counts respondents with a non-missing classification. The first
        row is ``group_var = "overall"``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"eri_imbalance": [1, 0, 1, 1, 0, 0, 1, 0], "g": [1, 1, 1, 1, 2, 2, 2, 2]})
    >>> prevalence(d, ["g"], min_cell=None)[["group_var", "group", "n", "n_imbalance"]]
      group_var group  n  n_imbalance
    0   overall   all  8            4
    1         g     1  4            3
    2         g     2  4            1
    """
    flag = pd.to_numeric(data[column].astype("Float64"), errors="coerce")
    bad = set(flag.dropna().unique()) - {0.0, 1.0}
    if bad:
        raise ValueError(f"{column} must be 0/1; found {sorted(bad)}")
    records = [
        {
            "group_var": "overall",
            "group": "all",
            "group_label": "all",
            **_prevalence_row(flag, confidence),
        }
    ]
    for group_var in groups:
        codes = data[group_var]
        mapping = (labels or {}).get(group_var, {})
        for code in sorted(codes.dropna().unique()):
            # Integer codes read from CSV arrive as floats (2.0): publish them as "2".
            numeric = isinstance(code, (int, float, np.number)) and float(code).is_integer()
            key = int(code) if numeric else code
            records.append(
                {
                    "group_var": group_var,
                    "group": str(key),
                    "group_label": str(mapping.get(key, key)),
                    **_prevalence_row(flag[codes == code], confidence),
                }
            )
        if codes.isna().any():
            records.append(
                {
                    "group_var": group_var,
                    "group": "(missing)",
                    "group_label": "(missing)",
                    **_prevalence_row(flag[codes.isna()], confidence),
                }
            )
    table = pd.DataFrame.from_records(records)
    if min_cell is None:
        table["suppressed"] = False
        return table
    # the respondents without imbalance are cells too: n - n_imbalance would give them away
    table["n_without"] = table["n"] - table["n_imbalance"]
    published = suppress_small_cells(
        table,
        int(min_cell),
        counts=("n", "n_imbalance", "n_without"),
        by="group_var",
        blank=("prevalence", "ci_low", "ci_high"),
        keep=table["group_var"] == "overall",
        hidden=pd.Series(
            [
                g in {str(c) for c in (suppressed or {}).get(v, ())}
                for v, g in zip(table["group_var"], table["group"], strict=True)
            ],
            index=table.index,
        ),
    )
    return published.drop(columns="n_without")


# ---------------------------------------------------------------------------------------------
# associations
# ---------------------------------------------------------------------------------------------
def high_stress(
    score: pd.Series, cutoff: float | str = DEFAULT_STRESS_CUTOFF
) -> tuple[pd.Series, float, str]:
    """Dichotomise a perceived-stress scale mean.

    Parameters
    ----------
    score : Series
        Scale mean on the 1-5 agreement format.
    cutoff : float or "tertile"
        A number: high stress is ``score >= cutoff`` (default 4, i.e. at least "agree" on
        average). ``"tertile"``: high stress is ``score >`` the sample's upper tertile (2/3
        quantile, R type 7), the same rule as high overcommitment.

    Returns
    -------
    (Series, float, str)
        The Int64 0/1 indicator (missing where the score is), the threshold and a sentence.

    Examples
    --------
    >>> import pandas as pd
    >>> flag, thr, text = high_stress(pd.Series([3.75, 4.0, None]))
    >>> flag.tolist(), thr
    ([0, 1, <NA>], 4.0)
    """
    values = pd.to_numeric(score, errors="coerce").astype(float)
    if isinstance(cutoff, str):
        if cutoff != "tertile":
            raise ValueError(f"cutoff must be a number or 'tertile', got {cutoff!r}")
        threshold = _upper_tertile(values)
        flag = values > threshold
        text = (
            f"high stress: {score.name or 'score'} > its upper tertile in this sample "
            f"({threshold:g}, R quantile type 7)"
        )
    else:
        threshold = float(cutoff)
        flag = values >= threshold
        text = f"high stress: {score.name or 'score'} >= {threshold:g}"
    return _flag(flag, values.notna()), threshold, text


def _design(
    data: pd.DataFrame, exposures: Sequence[str], covariates: Sequence[str], categorical: set[str]
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Design matrix with an intercept; factor levels dummy-coded against the lowest code."""
    columns = {"const": pd.Series(1.0, index=data.index)}
    meaning = {"const": ("(Intercept)", "")}
    for name in [*exposures, *covariates]:
        values = pd.to_numeric(data[name], errors="coerce").astype(float)
        if name in categorical:
            levels = sorted(values.unique())
            for level in levels[1:]:
                level_name = int(level) if float(level).is_integer() else level
                key = f"{name}[{level_name}]"
                columns[key] = (values == level).astype(float)
                meaning[key] = (name, str(level_name))
        else:
            columns[name] = values
            meaning[name] = (name, "")
    return pd.DataFrame(columns), meaning


def eri_logistic(
    data: pd.DataFrame,
    outcome: str = "score_perceived_stress",
    cutoff: float | str = DEFAULT_STRESS_CUTOFF,
    exposures: Sequence[str] = ("eri_imbalance", "eri_high_oc"),
    covariates: Sequence[str] = (),
    categorical: Iterable[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Logistic regression of high perceived stress on ERI exposures, crude and adjusted.

    The outcome is dichotomised by :func:`high_stress`. Two models are fitted on the same
    complete cases (respondents with the outcome, every exposure and every covariate):
    ``"unadjusted"`` (exposures together, no covariates) and, when covariates are given,
    ``"adjusted"``. Maximum likelihood with ``statsmodels.Logit`` (Newton); odds ratios with
    **Wald** CIs, ``exp(b +/- z * se)``, which equal R's ``confint.default`` on
    ``glm(family = binomial)`` (R's ``confint`` profiles the likelihood and differs slightly).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    outcome : str
        Perceived-stress scale mean column.
    cutoff : float or "tertile"
        See :func:`high_stress`.
    exposures : sequence of str
        0/1 columns entered as numeric.
    covariates : sequence of str
        Adjustment variables.
    categorical : iterable of str, optional
        Covariates entered as factors (dummies against the lowest code, like R's default
        treatment contrasts); default: every covariate (the demographics are integer codes).
    confidence : float
        Level of the CIs.

    Returns
    -------
    DataFrame
        ``model, term, variable, level, odds_ratio, ci_low, ci_high, log_odds, se, z, p, n,
        n_events, converged, outcome_definition``; the intercept is left out.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"eri_imbalance": rng.integers(0, 2, 300),
    ...                   "eri_high_oc": rng.integers(0, 2, 300)})
    >>> d["score_perceived_stress"] = 3 + 0.8 * d["eri_imbalance"] + rng.normal(0, 0.8, 300)
    >>> t = eri_logistic(d)
    >>> t["term"].tolist()
    ['eri_imbalance', 'eri_high_oc']
    """
    from scipy import stats
    from statsmodels.discrete.discrete_model import Logit

    covariates = list(covariates)
    categorical = set(covariates if categorical is None else categorical)
    y, _, definition = high_stress(data[outcome], cutoff)
    frame = complete_cases(pd.concat([y.rename("_y"), data[list(exposures) + covariates]], axis=1))
    z = stats.norm.ppf(0.5 + confidence / 2)
    specs = [("unadjusted", [])]
    if covariates:
        specs.append(("adjusted", covariates))
    tables = []
    for model, covs in specs:
        X, meaning = _design(frame, exposures, covs, categorical)
        # A factor level absent from the complete cases would give an all-zero column.
        X = X.loc[:, (X != 0).any(axis=0)]
        fit = Logit(frame["_y"].astype(float), X).fit(disp=0, method="newton", maxiter=100)
        params, se = fit.params, fit.bse
        table = pd.DataFrame(
            {
                "model": model,
                "term": params.index,
                "variable": [meaning[t][0] for t in params.index],
                "level": [meaning[t][1] for t in params.index],
                "odds_ratio": np.exp(params.values),
                "ci_low": np.exp(params.values - z * se.values),
                "ci_high": np.exp(params.values + z * se.values),
                "log_odds": params.values,
                "se": se.values,
                "z": fit.tvalues.values,
                "p": fit.pvalues.values,
                "n": int(fit.nobs),
                "n_events": int(frame["_y"].sum()),
                "converged": bool(fit.mle_retvals.get("converged", False)),
                "outcome_definition": definition,
            }
        )
        tables.append(table[table["term"] != "const"])
    return pd.concat(tables, ignore_index=True)


def domain_associations(
    data: pd.DataFrame,
    domains: Sequence[str],
    measures: Sequence[str] = ("eri_ratio", "eri_oc"),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Pearson correlations of log(ER ratio) and OC with the stress-source domain scores.

    The ER ratio is skewed and multiplicative, so it enters as its natural log. Pairwise
    complete cases; CIs by Fisher's z, ``tanh(atanh(r) +/- z / sqrt(n - 3))``, and p from the
    t test on n - 2 df, both as R's ``cor.test``.

    Parameters
    ----------
    data : DataFrame
        With the measures and ``score_<domain>`` columns.
    domains : sequence of str
        Domain names (without the ``score_`` prefix).
    measures : sequence of str
        ERI columns; ``eri_ratio`` is log-transformed and reported as ``log_eri_ratio``.

    Returns
    -------
    DataFrame
        ``measure, domain, n, r, ci_low, ci_high, p``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"eri_ratio": np.exp(rng.normal(0, .3, 50)), "eri_oc": rng.normal(15, 3, 50),
    ...                   "score_a": rng.normal(3, 1, 50)})
    >>> domain_associations(d, ["a"])["measure"].tolist()
    ['log_eri_ratio', 'eri_oc']
    """
    from scipy import stats

    z = stats.norm.ppf(0.5 + confidence / 2)
    records = []
    for measure in measures:
        x = pd.to_numeric(data[measure], errors="coerce").astype(float)
        name = measure
        if measure == "eri_ratio":
            x, name = np.log(x), "log_eri_ratio"
        for domain in domains:
            y = pd.to_numeric(data[f"score_{domain}"], errors="coerce").astype(float)
            both = x.notna() & y.notna()
            n = int(both.sum())
            r, p = stats.pearsonr(x[both], y[both])
            half = z / math.sqrt(n - 3)
            records.append(
                {
                    "measure": name,
                    "domain": domain,
                    "n": n,
                    "r": float(r),
                    "ci_low": math.tanh(math.atanh(r) - half),
                    "ci_high": math.tanh(math.atanh(r) + half),
                    "p": float(p),
                }
            )
    return pd.DataFrame.from_records(records)
