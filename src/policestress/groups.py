"""Group comparisons of scores by demographic grouping variables (Welch tests, pingouin).

Rules (tested in ``tests/test_groups.py`` against R's ``t.test(var.equal = FALSE)``,
``oneway.test(var.equal = FALSE)``, a Games-Howell computed in R from ``ptukey`` and
``p.adjust``):

Tests
    Two groups: Welch's t-test (``pingouin.ttest(correction=True)``); reported with
    ``df1 = 1`` and ``df2`` = Welch-Satterthwaite df (its square is the Welch F).
    More than two groups: Welch's ANOVA (``pingouin.welch_anova``) and Games-Howell post hoc
    comparisons (``pingouin.pairwise_gameshowell``), whose p-values are already adjusted
    within each comparison (studentized range), and are not adjusted again.
Effect sizes
    Hedges' g for two groups (pooled SD, small-sample corrected, sign of mean A - mean B;
    ``pingouin.compute_effsize(eftype="hedges")``), and for every test eta squared
    ``SS_between / SS_total`` and omega squared
    ``(SS_between - (k - 1) MS_within) / (SS_total + MS_within)`` from the ordinary one-way
    ANOVA sums of squares (Welch's ANOVA has no sums of squares of its own; these describe
    the size of the difference, the Welch test its significance).
Multiple testing
    The family is every omnibus test in the table, i.e. every score x grouping variable
    (``family=None``), or the tests sharing a value of the column named by ``family``.
    Holm by default, Benjamini-Hochberg with ``correction="fdr_bh"``
    (``statsmodels.stats.multitest.multipletests``, same as R's ``p.adjust``).
Small groups
    Respondents with a missing group code or score are dropped from that test
    (:func:`policestress.missing_data.complete_cases`); groups with fewer than
    ``min_group_size`` respondents (``privacy.min_cell``; the primary suppression of
    :mod:`policestress.privacy`) are excluded and named in ``note`` (without their size,
    which would disclose a small cell). With ``complementary=True`` (the stage's published
    tables) the one rule of :mod:`policestress.privacy` applies in full: the groups of each
    score x grouping share the total of its complete cases, so the smallest other groups
    are excluded with a small one, and so are the groups ``suppressed`` names (those the
    sample profile hid). A test with fewer than two groups left is reported with missing
    statistics and a note.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats
from statsmodels.stats.multitest import multipletests

from policestress.missing_data import complete_cases
from policestress.privacy import DEFAULT_MIN_CELL, suppression_mask
from policestress.settings import default

DEFAULT_MIN_GROUP = DEFAULT_MIN_CELL
DEFAULT_CORRECTION: str = default("groups.correction")
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni"}


def _label(value_labels: dict | None, grouping: str, code) -> str:
    labels = (value_labels or {}).get(grouping, {})
    return labels.get(code, str(code))


def _prepare(
    data: pd.DataFrame,
    score: str,
    grouping: str,
    min_group_size: int,
    value_labels: dict | None,
    complementary: bool = False,
    suppressed: Mapping[str, Collection] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Complete cases of (score, grouping) with the suppressed groups removed, and a note."""
    known = data[data[grouping].notna()]
    d = complete_cases(known, [score])
    codes = pd.to_numeric(known.loc[d.index, grouping], errors="coerce")
    # Integer codes read back as floats when the column has missing values: restore them.
    integral = codes.notna().all() and bool(np.all(np.mod(codes, 1) == 0))
    d[grouping] = codes.astype(int) if integral else known.loc[d.index, grouping]
    sizes = d[grouping].value_counts()
    elsewhere = {str(c) for c in (suppressed or {}).get(grouping, ())}
    hidden = suppression_mask(
        sizes,
        pd.Series(grouping, index=sizes.index),
        min_group_size,
        complementary=complementary,
        hidden=pd.Series([str(c) in elsewhere for c in sizes.index], index=sizes.index),
    )
    small = sorted(sizes.index[hidden.to_numpy()])
    note = ""
    if small:
        names = ", ".join(_label(value_labels, grouping, c) for c in small)
        primary = bool(((sizes > 0) & (sizes < min_group_size))[hidden].all())
        rule = (
            f"n < {min_group_size}" if primary else f"n < {min_group_size} or suppressed with them"
        )
        note = f"excluded {len(small)} group(s) with {rule}: {names}"
        d = d[~d[grouping].isin(small)]
    return d, note


def _anova_effect_sizes(d: pd.DataFrame, score: str, grouping: str) -> tuple[float, float]:
    y = d[score].to_numpy(float)
    groups = [g[score].to_numpy(float) for _, g in d.groupby(grouping)]
    k, n = len(groups), y.size
    ss_total = ((y - y.mean()) ** 2).sum()
    ss_between = sum(g.size * (g.mean() - y.mean()) ** 2 for g in groups)
    ms_within = (ss_total - ss_between) / (n - k)
    eta_sq = ss_between / ss_total
    omega_sq = (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)
    return float(eta_sq), float(omega_sq)


def adjust_pvalues(p: pd.Series | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust p-values for multiple testing (missing p-values stay missing).

    Parameters
    ----------
    p : array-like
    method : {"holm", "bh", "fdr_bh", "bonferroni", "none"}

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    if method == "none":  # groups.correction: none (unadjusted, as the schema allows)
        return p.copy()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=CORRECTIONS[method])[1]
    return out


def group_comparisons(
    data: pd.DataFrame,
    scores: list[str],
    groupings: list[str],
    min_group_size: int = DEFAULT_MIN_GROUP,
    correction: str = DEFAULT_CORRECTION,
    family: str | None = None,
    value_labels: dict[str, dict[int, str]] | None = None,
    complementary: bool = False,
    suppressed: Mapping[str, Collection] | None = None,
) -> pd.DataFrame:
    """Welch t-test or Welch ANOVA of each score by each grouping variable.

    Parameters
    ----------
    data : DataFrame
    scores : list of str
        Score columns (e.g. ``score_<construct>``, ``score_<domain>``).
    groupings : list of str
        Integer-coded grouping columns (``cfg.grouping``).
    min_group_size : int
        Groups smaller than this are excluded (named in ``note``).
    correction : {"holm", "bh", "bonferroni"}
        Multiple-testing correction of ``p`` into ``p_adj``.
    family : str, optional
        None: all tests in the table form one family; else a column (``"grouping"`` or
        ``"score"``) whose values define separate families.
    value_labels : dict, optional
        Grouping variable -> {code: label}, for the ``groups`` and ``note`` columns.
    complementary : bool
        True: complementary suppression among the groups of each test too (the one rule of
        :mod:`policestress.privacy`); False: groups under ``min_group_size`` only.
    suppressed : dict, optional
        Grouping variable -> codes suppressed in another published table (the sample
        profile), excluded too.

    Returns
    -------
    DataFrame
        ``score, grouping, test, k_groups, n, groups, statistic, df1, df2, p, p_adj,
        correction, hedges_g, eta_sq, omega_sq, note``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"g": np.repeat([1, 2, 3], 30), "y": rng.normal(size=90)})
    >>> group_comparisons(d, ["y"], ["g"])[["test", "k_groups", "n"]].values.tolist()
    [['welch_anova', 3, 90]]
    """
    rows = []
    for grouping in groupings:
        for score in scores:
            d, note = _prepare(
                data, score, grouping, min_group_size, value_labels, complementary, suppressed
            )
            codes = sorted(d[grouping].unique())
            row = {
                "score": score,
                "grouping": grouping,
                "k_groups": len(codes),
                "n": len(d),
                "groups": "; ".join(_label(value_labels, grouping, c) for c in codes),
                "test": None,
                "statistic": np.nan,
                "df1": np.nan,
                "df2": np.nan,
                "p": np.nan,
                "hedges_g": np.nan,
                "eta_sq": np.nan,
                "omega_sq": np.nan,
            }
            if len(codes) < 2:
                note = "; ".join(filter(None, [note, "fewer than two groups: no test"]))
            elif len(codes) == 2:
                a = d.loc[d[grouping] == codes[0], score]
                b = d.loc[d[grouping] == codes[1], score]
                res = pg.ttest(a, b, correction=True)
                row.update(
                    test="welch_t",
                    statistic=float(res["T"].iloc[0]),
                    df1=1.0,
                    df2=float(res["dof"].iloc[0]),
                    p=float(res["p_val"].iloc[0]),
                    hedges_g=float(pg.compute_effsize(a, b, paired=False, eftype="hedges")),
                )
            else:
                res = pg.welch_anova(data=d, dv=score, between=grouping)
                row.update(
                    test="welch_anova",
                    statistic=float(res["F"].iloc[0]),
                    df1=float(res["ddof1"].iloc[0]),
                    df2=float(res["ddof2"].iloc[0]),
                    p=float(res["p_unc"].iloc[0]),
                )
            if len(codes) >= 2:
                row["eta_sq"], row["omega_sq"] = _anova_effect_sizes(d, score, grouping)
            row["note"] = note
            rows.append(row)
    table = pd.DataFrame(rows)
    if family is None:
        table["p_adj"] = adjust_pvalues(table["p"], correction)
    else:
        table["p_adj"] = np.nan
        for _, index in table.groupby(family, sort=False).groups.items():
            table.loc[index, "p_adj"] = adjust_pvalues(table.loc[index, "p"], correction)
    table["correction"] = correction
    columns = [
        "score", "grouping", "test", "k_groups", "n", "groups", "statistic", "df1", "df2",
        "p", "p_adj", "correction", "hedges_g", "eta_sq", "omega_sq", "note",
    ]  # fmt: skip
    return table[columns]


def games_howell(
    data: pd.DataFrame,
    scores: list[str],
    groupings: list[str],
    min_group_size: int = DEFAULT_MIN_GROUP,
    value_labels: dict[str, dict[int, str]] | None = None,
    complementary: bool = False,
    suppressed: Mapping[str, Collection] | None = None,
) -> pd.DataFrame:
    """Games-Howell pairwise comparisons for every score x grouping with more than two groups.

    Parameters are those of :func:`group_comparisons`. ``p`` is the Games-Howell p-value
    (studentized range with Welch df), already adjusted within each score x grouping.

    Returns
    -------
    DataFrame
        ``score, grouping, code_a, code_b, group_a, group_b, mean_a, mean_b, diff, se, t,
        df, p, hedges_g``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"g": np.repeat([1, 2, 3], 30), "y": rng.normal(size=90)})
    >>> games_howell(d, ["y"], ["g"])[["code_a", "code_b"]].values.tolist()
    [[1, 2], [1, 3], [2, 3]]
    """
    frames = []
    for grouping in groupings:
        for score in scores:
            d, _ = _prepare(
                data, score, grouping, min_group_size, value_labels, complementary, suppressed
            )
            if d[grouping].nunique() < 3:
                continue
            res = pg.pairwise_gameshowell(data=d, dv=score, between=grouping, effsize="hedges")
            frames.append(
                pd.DataFrame(
                    {
                        "score": score,
                        "grouping": grouping,
                        "code_a": res["A"].to_numpy(),
                        "code_b": res["B"].to_numpy(),
                        "group_a": [_label(value_labels, grouping, c) for c in res["A"]],
                        "group_b": [_label(value_labels, grouping, c) for c in res["B"]],
                        "mean_a": res["mean_A"].to_numpy(),
                        "mean_b": res["mean_B"].to_numpy(),
                        "diff": res["diff"].to_numpy(),
                        "se": res["se"].to_numpy(),
                        "t": res["T"].to_numpy(),
                        "df": res["df"].to_numpy(),
                        "p": res["pval"].to_numpy(),
                        "hedges_g": res["hedges"].to_numpy(),
                    }
                )
            )
    columns = [
        "score", "grouping", "code_a", "code_b", "group_a", "group_b", "mean_a", "mean_b",
        "diff", "se", "t", "df", "p", "hedges_g",
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def group_means(
    data: pd.DataFrame,
    scores: list[str],
    groupings: list[str],
    min_group_size: int = DEFAULT_MIN_GROUP,
    value_labels: dict[str, dict[int, str]] | None = None,
    complementary: bool = False,
    suppressed: Mapping[str, Collection] | None = None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Mean, SD and t-based CI of each score in each (retained) group.

    Returns
    -------
    DataFrame
        ``score, grouping, code, group, n, mean, sd, se, ci_low, ci_high``; the groups
        :func:`group_comparisons` excludes (same parameters) are left out, as in the tests.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": [1] * 5 + [2] * 5, "y": [1.0, 2, 3, 4, 5, 2, 3, 4, 5, 6]})
    >>> group_means(d, ["y"], ["g"])["mean"].tolist()
    [3.0, 4.0]
    """
    rows = []
    for grouping in groupings:
        for score in scores:
            d, _ = _prepare(
                data, score, grouping, min_group_size, value_labels, complementary, suppressed
            )
            for code, g in d.groupby(grouping):
                y = g[score].to_numpy(float)
                n = y.size
                sd = y.std(ddof=1) if n > 1 else np.nan
                se = sd / np.sqrt(n)
                half = stats.t.ppf(0.5 + ci / 2, n - 1) * se if n > 1 else np.nan
                rows.append(
                    {"score": score, "grouping": grouping, "code": code,
                     "group": _label(value_labels, grouping, code), "n": n, "mean": y.mean(),
                     "sd": sd, "se": se, "ci_low": y.mean() - half, "ci_high": y.mean() + half}
                )  # fmt: skip
    return pd.DataFrame(rows)
