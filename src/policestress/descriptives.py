"""Descriptive statistics: sample profile, item statistics, score descriptives, correlations.

Definitions (matched to R in ``tests/test_descriptives.py``):

Standard deviation
    Sample SD (divisor n - 1), as ``sd()`` in R and SPSS.
Skewness and kurtosis
    ``skew_type`` follows ``psych::describe(type=)`` (Joanes & Gill 1998), with
    ``g1 = m3 / m2^1.5`` and ``g2 = m4 / m2^2 - 3`` from the central moments ``m_r``:

    * type 1: ``g1``, ``g2`` (``scipy.stats.skew/kurtosis(bias=True)``);
    * type 2 (**default**, SPSS, SAS, Excel, ``scipy ... bias=False``):
      ``G1 = g1 * sqrt(n (n - 1)) / (n - 2)``,
      ``G2 = ((n + 1) g2 + 6) (n - 1) / ((n - 2)(n - 3))``;
    * type 3 (``psych::describe`` default, MINITAB/BMDP):
      ``b1 = g1 ((n - 1) / n)^1.5``, ``b2 = (g2 + 3) (1 - 1/n)^2 - 3``.

    Kurtosis is excess kurtosis (0 for a normal distribution). Type 2 is the default because
    Chinese theses usually report SPSS values; the type used is written into the table.
Floor / ceiling
    Percentage of an item's valid answers at the lowest / highest code of its response scale
    (from the codebook; the observed extremes when no range is given).
Corrected item-total correlation, alpha if item deleted
    See :mod:`policestress.reliability` (complete cases of the item's scale, as
    ``psych::alpha(na.omit(x))``).
Correlations
    Pearson (default) or Spearman on pairwise complete observations; ``p`` is the
    two-sided test of r = 0 (``cor.test``), unadjusted; the CI of a Pearson r is Fisher's z
    interval (``cor.test``). Marks: ``*`` p < .05, ``**`` p < .01, ``***`` p < .001.

Small cells
    Counts follow the one privacy rule of :mod:`policestress.privacy` (primary and
    complementary suppression, ``privacy.min_cell``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from policestress.privacy import DEFAULT_MIN_CELL, suppression_mask
from policestress.reliability import item_reliability
from policestress.settings import default

# Defaults of the descriptives section of site.yml (policestress.settings states them).
DEFAULT_SKEW_TYPE: int = default("descriptives.skew_type")
DEFAULT_CORRELATION: str = default("descriptives.correlation_method")

MISSING_CODE = "missing"


# --------------------------------------------------------------------------- sample profile


def sample_profile(
    data: pd.DataFrame,
    variables: list[str],
    value_labels: dict[str, dict[int, str]] | None = None,
    variable_labels: dict[str, str] | None = None,
    missing_label: str = "Missing",
) -> pd.DataFrame:
    """Counts and percentages of each category of each demographic variable.

    Every labelled category is listed (also with n = 0); unlabelled codes found in the data
    are added; a ``missing`` row appears when some answers are missing.

    Parameters
    ----------
    data : DataFrame
        Integer-coded demographic columns.
    variables : list of str
        Columns to profile.
    value_labels : dict, optional
        Variable -> {code: label}, e.g. from ``cfg.codebook.value_labels(var, language)``.
    variable_labels : dict, optional
        Variable -> label shown in ``variable_label``.
    missing_label : str
        Category label of the missing row.

    Returns
    -------
    DataFrame
        ``variable, variable_label, code, category, n, percent`` (percent of all rows).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"gender": [1, 1, 2, 1, None]})
    >>> sample_profile(d, ["gender"], {"gender": {1: "male", 2: "female"}})[["category", "n"]].values.tolist()
    [['male', 3], ['female', 1], ['Missing', 1]]
    """
    value_labels = value_labels or {}
    variable_labels = variable_labels or {}
    total = len(data)
    rows = []
    for var in variables:
        labels = value_labels.get(var, {})
        column = data[var]
        counts = column.dropna().astype(int).value_counts()
        codes = list(labels) + sorted(c for c in counts.index if c not in labels)
        for code in codes:
            rows.append(
                {
                    "variable": var,
                    "variable_label": variable_labels.get(var, var),
                    "code": str(code),
                    "category": labels.get(code, str(code)),
                    "n": int(counts.get(code, 0)),
                }
            )
        n_missing = int(column.isna().sum())
        if n_missing:
            rows.append(
                {
                    "variable": var,
                    "variable_label": variable_labels.get(var, var),
                    "code": MISSING_CODE,
                    "category": missing_label,
                    "n": n_missing,
                }
            )
    profile = pd.DataFrame(rows, columns=["variable", "variable_label", "code", "category", "n"])
    profile["percent"] = 100 * profile["n"] / total if total else np.nan
    return profile


def numeric_profile(
    data: pd.DataFrame,
    variables: list[str],
    variable_labels: dict[str, str] | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
) -> pd.DataFrame:
    """Mean, SD, median, minimum and maximum of numeric variables (age, years of service).

    SD is the sample SD (divisor n - 1). A variable answered by fewer than ``min_cell``
    respondents is suppressed by the rule of :mod:`policestress.privacy` (its n and
    statistics blanked, ``suppressed`` True).

    Parameters
    ----------
    data : DataFrame
    variables : list of str
        Numeric columns (``cfg.codebook.numeric()``).
    variable_labels : dict, optional
        Variable -> label shown in ``variable_label``.
    min_cell : int
        Smallest number of answers whose statistics are published.

    Returns
    -------
    DataFrame
        ``variable, variable_label, n, missing, mean, sd, median, min, max, suppressed``.

    Examples
    --------
    >>> d = pd.DataFrame({"age": [25, 31, 40, 52, 38, None]})
    >>> numeric_profile(d, ["age"])[["n", "missing", "mean", "median", "min", "max"]]
       n  missing  mean  median   min   max
    0  5        1  37.2    38.0  25.0  52.0
    """
    variable_labels = variable_labels or {}
    rows = []
    for var in variables:
        x = pd.to_numeric(data[var], errors="raise").dropna()
        shown = not suppression_mask(pd.Series([len(x)]), pd.Series([var]), min_cell).iloc[0]
        rows.append(
            {
                "variable": var,
                "variable_label": variable_labels.get(var, var),
                "n": len(x) if shown else pd.NA,
                "missing": int(data[var].isna().sum()),
                "mean": x.mean() if shown else np.nan,
                "sd": x.std(ddof=1) if shown else np.nan,
                "median": x.median() if shown else np.nan,
                "min": x.min() if shown else np.nan,
                "max": x.max() if shown else np.nan,
                "suppressed": not shown,
            }
        )
    columns = ["variable", "variable_label", "n", "missing", "mean", "sd", "median", "min", "max"]
    return pd.DataFrame(rows, columns=[*columns, "suppressed"])


def skewness(x: np.ndarray | pd.Series, skew_type: int = DEFAULT_SKEW_TYPE) -> float:
    """Sample skewness of the non-missing values, ``psych::skew(type=)`` definitions.

    Examples
    --------
    >>> round(skewness([1, 2, 2, 3, 3, 3, 4, 9]), 4)
    2.076
    """
    x = np.asarray(pd.Series(x).dropna(), dtype=float)
    n = x.size
    if n < 3:
        return np.nan
    d = x - x.mean()
    m2 = np.mean(d**2)
    if m2 == 0:
        return np.nan
    g1 = np.mean(d**3) / m2**1.5
    if skew_type == 1:
        return float(g1)
    if skew_type == 2:
        return float(g1 * np.sqrt(n * (n - 1)) / (n - 2))
    if skew_type == 3:
        return float(g1 * ((n - 1) / n) ** 1.5)
    raise ValueError("skew_type must be 1, 2 or 3")


def kurtosis(x: np.ndarray | pd.Series, kurt_type: int = 2) -> float:
    """Sample excess kurtosis of the non-missing values, ``psych::kurtosi(type=)``.

    Examples
    --------
    >>> round(kurtosis([1, 2, 2, 3, 3, 3, 4, 9]), 4)
    5.0669
    """
    x = np.asarray(pd.Series(x).dropna(), dtype=float)
    n = x.size
    if n < 4:
        return np.nan
    d = x - x.mean()
    m2 = np.mean(d**2)
    if m2 == 0:
        return np.nan
    g2 = np.mean(d**4) / m2**2 - 3
    if kurt_type == 1:
        return float(g2)
    if kurt_type == 2:
        return float(((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3)))
    if kurt_type == 3:
        return float((g2 + 3) * (1 - 1 / n) ** 2 - 3)
    raise ValueError("kurt_type must be 1, 2 or 3")


def describe(
    data: pd.DataFrame,
    columns: list[str] | None = None,
    skew_type: int = DEFAULT_SKEW_TYPE,
    ci: float = 0.95,
) -> pd.DataFrame:
    """n, missing, mean, SD, SE, t-based CI of the mean, median, min, max, skewness, kurtosis.

    Parameters
    ----------
    data : DataFrame
    columns : list of str, optional
        Columns to describe (default: all).
    skew_type : int
        1, 2 (default, SPSS) or 3 (psych::describe default); see the module docs.
    ci : float
        Level of the confidence interval of the mean.

    Returns
    -------
    DataFrame
        One row per column: ``variable, n, missing, mean, sd, se, mean_ci_low, mean_ci_high,
        median, min, max, skewness, kurtosis, skew_type``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, 2, 3, 4, None]})
    >>> describe(d)[["variable", "n", "missing", "mean"]].values.tolist()
    [['x', 4, 1, 2.5]]
    """
    columns = list(data.columns) if columns is None else list(columns)
    rows = []
    for col in columns:
        x = pd.to_numeric(data[col], errors="coerce").dropna().to_numpy(float)
        n = x.size
        mean = x.mean() if n else np.nan
        sd = x.std(ddof=1) if n > 1 else np.nan
        se = sd / np.sqrt(n) if n > 1 else np.nan
        half = stats.t.ppf(0.5 + ci / 2, n - 1) * se if n > 1 else np.nan
        rows.append(
            {
                "variable": col,
                "n": int(n),
                "missing": int(len(data) - n),
                "mean": mean,
                "sd": sd,
                "se": se,
                "mean_ci_low": mean - half,
                "mean_ci_high": mean + half,
                "median": np.median(x) if n else np.nan,
                "min": x.min() if n else np.nan,
                "max": x.max() if n else np.nan,
                "skewness": skewness(x, skew_type),
                "kurtosis": kurtosis(x, skew_type),
                "skew_type": skew_type,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- items


def item_statistics(
    data: pd.DataFrame,
    scales: dict[str, list[str]],
    bounds: dict[str, tuple[float, float]] | None = None,
    item_labels: dict[str, str] | None = None,
    skew_type: int = DEFAULT_SKEW_TYPE,
) -> pd.DataFrame:
    """Per-item descriptives, floor/ceiling percentages and item-scale statistics.

    Parameters
    ----------
    data : DataFrame
        Item responses, reverse-keyed items already recoded.
    scales : dict
        Scale (construct) -> item columns; ``r_drop`` and ``alpha_if_deleted`` are computed
        within each scale on its complete cases.
    bounds : dict, optional
        Item -> (lowest code, highest code) of the response scale; observed min/max otherwise.
    item_labels : dict, optional
        Item -> wording, shown in ``label``.
    skew_type : int
        Skewness/kurtosis definition (see module docs).

    Returns
    -------
    DataFrame
        ``scale, item, label, n, missing, mean, sd, median, skewness, kurtosis, skew_type,
        floor_pct, ceiling_pct, r_drop, alpha_if_deleted``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1, 2, 3, 4, 5, 1], "b": [2, 1, 3, 5, 4, 1], "c": [1, 3, 3, 4, 5, 2]})
    >>> t = item_statistics(d, {"s": ["a", "b", "c"]}, bounds={i: (1, 5) for i in "abc"})
    >>> t.loc[0, "item"], round(float(t.loc[0, "floor_pct"]), 2)
    ('a', 33.33)
    """
    bounds = bounds or {}
    item_labels = item_labels or {}
    frames = []
    for scale, items in scales.items():
        desc = describe(data, items, skew_type=skew_type)
        low = [bounds.get(i, (data[i].min(), data[i].max()))[0] for i in items]
        high = [bounds.get(i, (data[i].min(), data[i].max()))[1] for i in items]
        valid = data[items].notna().sum()
        desc["floor_pct"] = 100 * (data[items] == low).sum().to_numpy() / valid.to_numpy()
        desc["ceiling_pct"] = 100 * (data[items] == high).sum().to_numpy() / valid.to_numpy()
        if len(items) >= 2:
            rel = item_reliability(data[items]).set_index("item")
            desc["r_drop"] = rel.loc[items, "r_drop"].to_numpy()
            desc["alpha_if_deleted"] = rel.loc[items, "alpha_if_deleted"].to_numpy()
        else:
            desc["r_drop"] = np.nan
            desc["alpha_if_deleted"] = np.nan
        desc.insert(0, "scale", scale)
        desc = desc.rename(columns={"variable": "item"})
        desc.insert(2, "label", [item_labels.get(i, i) for i in items])
        frames.append(desc)
    columns = [
        "scale", "item", "label", "n", "missing", "mean", "sd", "median", "skewness",
        "kurtosis", "skew_type", "floor_pct", "ceiling_pct", "r_drop", "alpha_if_deleted",
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)[columns]


# --------------------------------------------------------------------------- scores


def score_descriptives(
    data: pd.DataFrame,
    columns: list[str],
    labels: dict[str, str] | None = None,
    skew_type: int = DEFAULT_SKEW_TYPE,
) -> pd.DataFrame:
    """Descriptives of construct / domain scores (see :func:`describe`) with labels.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"score_a": [1.0, 2.5, 3, 4.5]})
    >>> score_descriptives(d, ["score_a"], {"score_a": "A"})[["score", "label", "n"]].values.tolist()
    [['score_a', 'A', 4]]
    """
    labels = labels or {}
    table = describe(data, columns, skew_type=skew_type).rename(columns={"variable": "score"})
    table.insert(1, "label", [labels.get(c, c) for c in columns])
    return table


def significance_stars(p: float) -> str:
    """``***`` p < .001, ``**`` p < .01, ``*`` p < .05, else empty.

    Examples
    --------
    >>> [significance_stars(p) for p in (0.0004, 0.004, 0.04, 0.4)]
    ['***', '**', '*', '']
    """
    if p is None or np.isnan(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def score_correlations(
    data: pd.DataFrame, columns: list[str], method: str = DEFAULT_CORRELATION, ci: float = 0.95
) -> pd.DataFrame:
    """Correlation of every pair of ``columns`` on pairwise complete observations.

    Parameters
    ----------
    data : DataFrame
    columns : list of str
    method : {"pearson", "spearman"}
    ci : float
        Level of the Fisher-z interval (Pearson only).

    Returns
    -------
    DataFrame
        Long table, one row per pair (``var1`` before ``var2`` in ``columns`` order):
        ``var1, var2, method, n, r, ci_low, ci_high, p, stars``; ``p`` is unadjusted.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, 1, 4, 3, 5], "c": [5.0, 4, 3, 2, 1]})
    >>> score_correlations(d, ["a", "b", "c"])[["var1", "var2", "r"]].round(2).values.tolist()
    [['a', 'b', 0.8], ['a', 'c', -1.0], ['b', 'c', -0.8]]
    """
    if method not in ("pearson", "spearman"):
        raise ValueError("method must be 'pearson' or 'spearman'")
    rows = []
    # numpy columns and a mask per pair: a DataFrame dropna per pair was most of the time
    values = data[columns].to_numpy(float)
    known = ~np.isnan(values)
    for i, a in enumerate(columns):
        for j, b in enumerate(columns[i + 1 :], start=i + 1):
            both = known[:, i] & known[:, j]
            x, y = values[both, i], values[both, j]
            n = int(both.sum())
            low = high = np.nan
            if method == "pearson":
                res = stats.pearsonr(x, y)
                if n > 3:
                    interval = res.confidence_interval(confidence_level=ci)
                    low, high = interval.low, interval.high
            else:
                res = stats.spearmanr(x, y)
            r, p = float(res.statistic), float(res.pvalue)
            rows.append(
                {"var1": a, "var2": b, "method": method, "n": n, "r": r,
                 "ci_low": low, "ci_high": high, "p": p, "stars": significance_stars(p)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def correlation_display(
    correlations: pd.DataFrame,
    columns: list[str] | None = None,
    labels: dict[str, str] | None = None,
    digits: int = 2,
) -> pd.DataFrame:
    """Lower-triangular display matrix ``"0.45**"`` from :func:`score_correlations`.

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"var1": ["a"], "var2": ["b"], "r": [0.456], "p": [0.001]})
    >>> correlation_display(long).values.tolist()
    [['1', ''], ['0.46**', '1']]
    """
    labels = labels or {}
    if columns is None:
        columns = list(dict.fromkeys([*correlations["var1"], *correlations["var2"]]))
    cells = {}
    for row in correlations.itertuples():
        cells[(row.var1, row.var2)] = cells[(row.var2, row.var1)] = (
            f"{row.r:.{digits}f}{significance_stars(row.p)}"
        )
    matrix = [
        [("1" if i == j else cells.get((a, b), "") if j < i else "") for j, b in enumerate(columns)]
        for i, a in enumerate(columns)
    ]
    names = [labels.get(c, c) for c in columns]
    return pd.DataFrame(matrix, index=names, columns=names)
