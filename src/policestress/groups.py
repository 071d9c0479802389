"""Group comparisons of scores by demographic grouping variables (Welch tests, Games-Howell).

Rules (tested in ``tests/test_groups.py`` against R's ``t.test(var.equal = FALSE)``,
``oneway.test(var.equal = FALSE)``, a Games-Howell computed in R from ``ptukey`` and
``p.adjust``):

Tests
    Two groups: Welch's t-test; reported with ``df1 = 1`` and ``df2`` = Welch-Satterthwaite
    df (its square is the Welch F). More than two groups: Welch's ANOVA and Games-Howell post
    hoc comparisons (Welch t of each pair, Welch df, p from the studentized range,
    :func:`policestress.studentized_range.ptukey`), whose p-values are already adjusted within
    each comparison, and are not adjusted again. All of them are computed from each group's
    n, mean and variance (one pass over the data per score x grouping; the formulas are
    pingouin's ``ttest``, ``welch_anova`` and ``pairwise_gameshowell``, whose per-call
    overhead and numerical integration of the studentized range were most of the
    descriptives stage's statistics time).
Effect sizes
    Hedges' g for two groups and for each Games-Howell pair (pooled SD, small-sample
    corrected, sign of mean A - mean B; ``pingouin.compute_effsize(eftype="hedges")``), and
    for every test eta squared ``SS_between / SS_total`` and omega squared
    ``(SS_between - (k - 1) MS_within) / (SS_total + MS_within)`` from the ordinary one-way
    ANOVA sums of squares (Welch's ANOVA has no sums of squares of its own; these describe
    the size of the difference, the Welch test its significance).
Multiple testing
    The family is every omnibus test in the table, i.e. every score x grouping variable
    (``family=None``), or the tests sharing a value of the column named by ``family``.
    Holm by default, Benjamini-Hochberg with ``correction="fdr_bh"``, as R's ``p.adjust``
    (computed as ``statsmodels.stats.multitest.multipletests`` does, to the same floats;
    its Holm runs a full garbage collection at every call).
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
from scipy import stats

from policestress.missing_data import complete_cases
from policestress.privacy import DEFAULT_MIN_CELL, suppression_mask
from policestress.settings import default
from policestress.studentized_range import ptukey

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
    # the two columns first: filtering all of a survey's columns is most of the time here
    frame = data[[score, grouping]]
    known = frame[frame[grouping].notna()]
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


# score, grouping, n, mean and variance of each retained group (:func:`_summary`), note
Prepared = tuple[str, str, pd.DataFrame, str]


def _prepared(
    data: pd.DataFrame,
    scores: list[str],
    groupings: list[str],
    min_group_size: int,
    value_labels: dict | None,
    complementary: bool,
    suppressed: Mapping[str, Collection] | None,
) -> list[Prepared]:
    """:func:`_prepare` and :func:`_summary` of every score x grouping, groupings outer, as
    the tables list them."""
    prepared = []
    for grouping in groupings:
        for score in scores:
            d, note = _prepare(
                data, score, grouping, min_group_size, value_labels, complementary, suppressed
            )
            prepared.append((score, grouping, _summary(d, score, grouping), note))
    return prepared


def _summary(d: pd.DataFrame, score: str, grouping: str) -> pd.DataFrame:
    """n, mean and variance (ddof 1) of each group, by code in sorted order."""
    by = d.groupby(grouping)[score]
    return pd.DataFrame({"n": by.count(), "mean": by.mean(), "var": by.var()})


def _hedges_g(n_a, n_b, mean_a, mean_b, var_a, var_b):
    """Hedges' g of A - B: Cohen's d with the pooled SD, times 1 - 3 / (4 (n_a + n_b) - 9)."""
    pooled = np.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / (n_a + n_b - 2))
    return (mean_a - mean_b) / pooled * (1 - 3 / (4 * (n_a + n_b) - 9))


def _welch_t(s: pd.DataFrame) -> dict[str, float]:
    """Welch's t-test of the first group against the second (as R's ``t.test``)."""
    (n_a, n_b), (m_a, m_b), (v_a, v_b) = s["n"], s["mean"], s["var"]
    e_a, e_b = v_a / n_a, v_b / n_b
    t = (m_a - m_b) / np.sqrt(e_a + e_b)
    df = (e_a + e_b) ** 2 / (e_a**2 / (n_a - 1) + e_b**2 / (n_b - 1))
    return {
        "statistic": float(t),
        "df1": 1.0,
        "df2": float(df),
        "p": float(2 * stats.t.sf(abs(t), df)),
        "hedges_g": float(_hedges_g(n_a, n_b, m_a, m_b, v_a, v_b)),
    }


def _welch_anova(s: pd.DataFrame) -> dict[str, float]:
    """Welch's ANOVA (as R's ``oneway.test(var.equal = FALSE)``)."""
    n, m, v = (s[c].to_numpy(float) for c in ("n", "mean", "var"))
    k = n.size
    w = n / v
    centre = (w * m).sum() / w.sum()
    lam = ((1 - w / w.sum()) ** 2 / (n - 1)).sum()
    f = ((w * (m - centre) ** 2).sum() / (k - 1)) / (1 + 2 * (k - 2) / (k**2 - 1) * lam)
    df2 = (k**2 - 1) / (3 * lam)
    return {"statistic": float(f), "df1": float(k - 1), "df2": float(df2),
            "p": float(stats.f.sf(f, k - 1, df2))}  # fmt: skip


def _anova_effect_sizes(s: pd.DataFrame) -> tuple[float, float]:
    """Eta and omega squared from the one-way ANOVA sums of squares of the groups."""
    n, m, v = (s[c].to_numpy(float) for c in ("n", "mean", "var"))
    k, total = n.size, n.sum()
    grand = (n * m).sum() / total
    ss_between = (n * (m - grand) ** 2).sum()
    ss_within = np.where(n > 1, (n - 1) * v, 0.0).sum()  # a group of one has no variance
    ss_total = ss_between + ss_within
    ms_within = ss_within / (total - k)
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
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {[*CORRECTIONS, 'none']}, not {method!r}")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _adjusted(p[ok], CORRECTIONS[method])
    return out


def _adjusted(p: np.ndarray, method: str) -> np.ndarray:
    """Holm, Benjamini-Hochberg or Bonferroni adjusted p-values of ``p`` (no NaN), with the
    arithmetic of statsmodels' ``multipletests`` (so the same floats)."""
    m = p.size
    order = np.argsort(p)
    ordered = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(ordered * np.arange(m, 0, -1))
    elif method == "fdr_bh":
        adjusted = ordered / (np.arange(1, m + 1) / float(m))
        adjusted = np.minimum.accumulate(adjusted[::-1])[::-1]
    else:  # bonferroni
        adjusted = ordered * float(m)
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
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
    prepared = _prepared(
        data, scores, groupings, min_group_size, value_labels, complementary, suppressed
    )
    return _comparisons(prepared, correction, family, value_labels)


def _comparisons(
    prepared: list[Prepared], correction: str, family: str | None, value_labels: dict | None
) -> pd.DataFrame:
    rows = []
    for score, grouping, s, note in prepared:
        codes = s.index.tolist()
        row = {
            "score": score,
            "grouping": grouping,
            "k_groups": len(codes),
            "n": int(s["n"].sum()),
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
            row.update(test="welch_t", **_welch_t(s))
        else:
            row.update(test="welch_anova", **_welch_anova(s))
        if len(codes) >= 2:
            row["eta_sq"], row["omega_sq"] = _anova_effect_sizes(s)
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
    prepared = _prepared(
        data, scores, groupings, min_group_size, value_labels, complementary, suppressed
    )
    return _posthoc(prepared, value_labels)


POSTHOC_COLUMNS = [
    "score", "grouping", "code_a", "code_b", "group_a", "group_b", "mean_a", "mean_b",
    "diff", "se", "t", "df", "p", "hedges_g",
]  # fmt: skip


def _posthoc(prepared: list[Prepared], value_labels: dict | None) -> pd.DataFrame:
    frames = []
    for score, grouping, s, _ in prepared:
        k = len(s)
        if k < 3:
            continue
        a, b = np.triu_indices(k, k=1)
        codes = s.index.to_numpy()
        n, m, v = (s[c].to_numpy(float) for c in ("n", "mean", "var"))
        e = v / n
        se = np.sqrt(e[a] + e[b])
        t = (m[a] - m[b]) / se
        df = (e[a] + e[b]) ** 2 / (e[a] ** 2 / (n[a] - 1) + e[b] ** 2 / (n[b] - 1))
        frames.append(
            pd.DataFrame(
                {
                    "score": score,
                    "grouping": grouping,
                    "code_a": codes[a],
                    "code_b": codes[b],
                    "group_a": [_label(value_labels, grouping, c) for c in codes[a]],
                    "group_b": [_label(value_labels, grouping, c) for c in codes[b]],
                    "mean_a": m[a],
                    "mean_b": m[b],
                    "diff": m[a] - m[b],
                    "se": se,
                    "t": t,
                    "df": df,
                    "p": ptukey(np.sqrt(2) * np.abs(t), k, df, lower_tail=False),
                    "hedges_g": _hedges_g(n[a], n[b], m[a], m[b], v[a], v[b]),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=POSTHOC_COLUMNS)
    return pd.concat(frames, ignore_index=True)


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
    prepared = _prepared(
        data, scores, groupings, min_group_size, value_labels, complementary, suppressed
    )
    return _means(prepared, value_labels, ci)


def _means(prepared: list[Prepared], value_labels: dict | None, ci: float) -> pd.DataFrame:
    frames = []
    for score, grouping, s, _ in prepared:
        n, mean = s["n"].to_numpy(int), s["mean"].to_numpy(float)
        sd = np.where(n > 1, np.sqrt(s["var"].to_numpy(float)), np.nan)
        se = sd / np.sqrt(n)
        half = stats.t.ppf(0.5 + ci / 2, n - 1) * se  # NaN for a group of one
        frames.append(
            pd.DataFrame(
                {
                    "score": score,
                    "grouping": grouping,
                    "code": s.index.tolist(),
                    "group": [_label(value_labels, grouping, c) for c in s.index],
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "se": se,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def group_tables(
    data: pd.DataFrame,
    scores: list[str],
    groupings: list[str],
    min_group_size: int = DEFAULT_MIN_GROUP,
    correction: str = DEFAULT_CORRECTION,
    family: str | None = None,
    value_labels: dict[str, dict[int, str]] | None = None,
    complementary: bool = False,
    suppressed: Mapping[str, Collection] | None = None,
    ci: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`group_comparisons`, :func:`games_howell` and :func:`group_means` at once.

    The same tables as the three functions with these parameters, from one preparation of
    each score x grouping (complete cases and suppressed groups) instead of three.

    Returns
    -------
    tuple of DataFrame
        ``(comparisons, posthoc, means)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"g": np.repeat([1, 2, 3], 30), "y": rng.normal(size=90)})
    >>> comparisons, posthoc, means = group_tables(d, ["y"], ["g"])
    >>> len(comparisons), len(posthoc), len(means)
    (1, 3, 3)
    """
    prepared = _prepared(
        data, scores, groupings, min_group_size, value_labels, complementary, suppressed
    )
    return (
        _comparisons(prepared, correction, family, value_labels),
        _posthoc(prepared, value_labels),
        _means(prepared, value_labels, ci),
    )
