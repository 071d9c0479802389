"""Small-cell suppression: the one privacy rule of every published table with counts.

The rule is stated once, in docs/design.md ("Privacy"): primary suppression of every cell
with ``0 < n < min_cell`` (``privacy.min_cell``), then complementary suppression among the
cells sharing a published total until the suppressed ones are at least two and hold at least
``min_cell`` respondents (:func:`suppression_mask`); what is computed from a suppressed cell
is blanked with it (:func:`suppress_small_cells`). :data:`COUNT_TABLES` says how each
published table with counts holds its cells, :data:`NOT_CELLS` why other counts are no cells
of the rule; :func:`suppression_problems` checks a published table (tests/test_chain.py runs
it on every table of the chain's sites).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"variable": ["g"] * 3, "n": [2, 40, 58], "percent": [2.0, 40.0, 58.0]})
>>> suppress_small_cells(t, 5)["n"].tolist()
[<NA>, <NA>, 58]
>>> suppression_problems(suppress_small_cells(t, 5), 5)
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from policestress.settings import default

DEFAULT_MIN_CELL: int = default("privacy.min_cell")


def suppression_mask(
    counts: pd.Series,
    groups: pd.Series,
    min_cell: int,
    complementary: bool = True,
    hidden: pd.Series | None = None,
) -> pd.Series:
    """Which cells the rule suppresses (True), primary and complementary.

    Parameters
    ----------
    counts : Series
        Counts of respondents, one per cell.
    groups : Series
        Same index: the cells sharing a total have the same value.
    min_cell : int
        Smallest count that may be published.
    complementary : bool
        False: primary suppression only (no total of the cells is published anywhere).
    hidden : Series of bool, optional
        Same index: cells suppressed in another published table (the groups the sample
        profile hid). They stay suppressed here and count towards the complement, so a cell
        hidden in one table is not published, or derivable, in another.

    Examples
    --------
    >>> import pandas as pd
    >>> suppression_mask(pd.Series([3, 0, 30, 40]), pd.Series(["a"] * 4), 5).tolist()
    [True, False, True, False]
    >>> hidden = pd.Series([False, False, True, True])  # hidden by the sample profile
    >>> suppression_mask(pd.Series([30, 40, 4, 6]), pd.Series(["a"] * 4), 5, hidden=hidden).tolist()
    [False, False, True, True]
    """
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    counts = pd.Series(counts).astype(float)
    suppressed = (counts > 0) & (counts < min_cell)
    if hidden is not None:
        suppressed |= pd.Series(hidden, index=counts.index).astype(bool)
    if not complementary:
        return suppressed.astype(bool)
    for _, index in counts.groupby(pd.Series(groups).to_numpy(), sort=False).groups.items():
        group = counts.loc[index]
        flags = suppressed.loc[index].copy()
        if not flags.any():
            continue
        for idx in group[(~flags) & (group > 0)].sort_values(kind="stable").index:
            if flags.sum() >= 2 and group[flags].sum() >= min_cell:
                break
            flags[idx] = True
        suppressed.loc[index] = flags
    return suppressed.astype(bool)


def suppress_small_cells(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    counts: str | Sequence[str] = "n",
    by: str = "variable",
    blank: Sequence[str] = ("percent",),
    keep: pd.Series | None = None,
    hidden: pd.Series | None = None,
) -> pd.DataFrame:
    """Apply the rule to a long table (one row per cell) and say which rows it suppressed.

    Parameters
    ----------
    table : DataFrame
        One row per cell, e.g. :func:`policestress.descriptives.sample_profile`.
    min_cell : int
        Smallest count that may be published (``privacy.min_cell``).
    counts : str or sequence of str
        Count columns; each is a set of cells of its own (a row is suppressed when any of
        its counts is), e.g. ``("n", "n_imbalance")``.
    by : str
        Column whose values group the cells that share a known total.
    blank : sequence of str
        Columns computed from the counts, blanked in suppressed rows.
    keep : Series of bool, optional
        Rows outside the rule (the overall row, which is the known total).
    hidden : Series of bool, optional
        Rows whose cell another published table suppressed (the sample profile's): they
        are suppressed here too (:func:`suppression_mask`).

    Returns
    -------
    DataFrame
        A copy with the counts as nullable integers, missing in suppressed rows, and a
        boolean ``suppressed`` column.
    """
    counts = [counts] if isinstance(counts, str) else list(counts)
    hidden_elsewhere = None if hidden is None else pd.Series(hidden, index=table.index).astype(bool)
    out = table.copy()
    inside = pd.Series(True, index=out.index) if keep is None else ~keep.astype(bool)
    hidden = pd.Series(False, index=out.index)
    for column in counts:
        cells = out.loc[inside, column]
        elsewhere = None if hidden_elsewhere is None else hidden_elsewhere.loc[inside]
        hidden.loc[inside] |= suppression_mask(
            cells, out.loc[inside, by], min_cell, hidden=elsewhere
        )
    for column in counts:
        out[column] = out[column].astype("Int64").mask(hidden)
    for column in blank:
        if column in out:
            out[column] = out[column].mask(hidden)
    out["suppressed"] = hidden
    return out


@dataclass(frozen=True)
class CountCells:
    """How a published table holds counts of the rule: its count columns, the column grouping
    the cells that share a total, and the rows outside the rule."""

    counts: tuple[str, ...]
    by: tuple[str, ...]
    # column -> value of the rows outside the rule (the overall row)
    outside: tuple[tuple[str, str], ...] = ()
    # the complement of a count within its row (n - n_imbalance), a cell of its own
    complement: tuple[str, str] | None = None
    # groups left out of the table are absent, not blanked (group comparisons)
    absent_when_suppressed: bool = False


COUNT_TABLES: dict[str, CountCells] = {
    "sample_profile.csv": CountCells(("n",), ("variable",)),
    "sample_profile_numeric.csv": CountCells(("n",), ("variable",)),
    "eri_prevalence.csv": CountCells(
        ("n", "n_imbalance"),
        ("group_var",),
        outside=(("group_var", "overall"),),
        complement=("n", "n_imbalance"),
    ),
    # the groups of each score x grouping share the total of its complete cases; the groups
    # the rule suppressed are left out (group_comparisons.csv and posthoc.csv follow them)
    "group_means.csv": CountCells(("n",), ("score", "grouping"), absent_when_suppressed=True),
}
# Count columns of published tables that are no cells of the rule, and why.
NOT_CELLS: dict[str, str] = {
    "exclusion_flow.csv": "respondents excluded by each data-quality rule (no attribute of theirs)",
    "validation_problems.csv": "rows of the export breaking a rule of the codebook (file rows)",
    "item_statistics.csv": "answers per item (n, missing): counts of answers, not of respondents "
    "with an attribute",
    "score_descriptives.csv": "answers per score",
    "score_correlations.csv": "pairs of answers per correlation",
    "reliability.csv": "complete cases per scale",
    "eri_reliability.csv": "complete cases per scale",
    "eri_summary.csv": "answers per ERI scale",
    "eri_odds_ratios.csv": "respondents of the model (n) and high-stress events of all of them",
    "eri_domain_associations.csv": "pairs of answers per correlation",
    "group_comparisons.csv": "respondents of each test: the sum of its published groups "
    "(group_means.csv, checked there)",
    "posthoc.csv": "no counts (the groups are those of group_means.csv)",
    "efa_adequacy.csv": "complete cases of the factor analysis",
    **{
        f"cfa_{name}.csv": "respondents of each model (its estimation sample)"
        for name in ("fit", "estimates", "fornell_larcker", "heywood", "modindices", "validity")
    },
    **{
        f"synthesis_{name}.csv": "respondents of each regression or structural model"
        for name in ("regression", "importance", "eri_increment", "sem_fit", "sem_paths")
    },
    "synthesis_findings.csv": "the number of sources ranked (n_sources), no respondents",
    **{
        f"power_{name}.csv": "sizes and numbers of simulated samples, no respondents"
        for name in ("convergence", "parameters", "fit", "required_n", "summary")
    },
    "invariance.csv": "respondents of each multi-group model; every group has at least "
    "invariance.min_group_size",
    "invariance_latent_means.csv": "respondents of groups of at least invariance.min_group_size",
}


def suppression_problems(
    table: pd.DataFrame, min_cell: int, spec: CountCells | None = None
) -> list[str]:
    """What in a published table breaks the rule (empty when it holds).

    A published count below ``min_cell`` (and above 0); a set of cells sharing a total with
    exactly one suppressed cell, or suppressed cells holding fewer than ``min_cell``
    together cannot be checked from the published table (their counts are blank): the rule
    guarantees it, :func:`suppression_mask`'s tests check it. Here: no published count is
    small, no suppressed row shows a count or a value computed from it, and a set of cells
    never has exactly one suppressed cell.
    """
    spec = spec or CountCells(("n",), ("variable",))
    rows = table
    for column, value in spec.outside:
        rows = rows[rows[column].astype(str) != value]
    suppressed = (
        rows["suppressed"].astype(str).str.lower() == "true"
        if "suppressed" in rows
        else pd.Series(False, index=rows.index)
    )
    problems = []
    cells = {c: pd.to_numeric(rows[c], errors="coerce") for c in spec.counts}
    if spec.complement:
        total, part = spec.complement
        cells[f"{total} - {part}"] = cells[total] - cells[part]
    for name, values in cells.items():
        small = (values > 0) & (values < min_cell) & ~suppressed
        for index in rows.index[small]:
            where = ", ".join(f"{b} {rows.at[index, b]}" for b in spec.by)
            problems.append(f"{where}: {name} = {values[index]:g} published (< {min_cell})")
        shown = values[suppressed].notna()
        if shown.any() and name in spec.counts:
            problems.append(f"{int(shown.sum())} suppressed row(s) show {name}")
    if suppressed.any():
        ones = suppressed.groupby([rows[b] for b in spec.by]).sum()
        for key in ones.index[ones == 1]:
            problems.append(f"{key}: exactly one suppressed cell (the total gives it back)")
    return problems


def suppressed_codes(profile: pd.DataFrame) -> dict[str, set[str]]:
    """The codes of each variable a published sample profile suppressed (as strings).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"variable": ["g"] * 3, "code": [1, 2, 3], "n": [2, 40, 58]})
    >>> sorted(suppressed_codes(suppress_small_cells(t, 5))["g"])
    ['1', '2']
    """
    rows = profile[profile["suppressed"].astype(str).str.lower() == "true"]
    out: dict[str, set[str]] = {}
    for variable, code in zip(rows["variable"], rows["code"], strict=True):
        # the row of missing answers is "(missing)", as in eri_prevalence.csv
        out.setdefault(str(variable), set()).add("(missing)" if pd.isna(code) else _code(code))
    return out


def _code(code) -> str:
    # codes read back from a CSV as floats (1.0) are the integer codes of the codebook
    number = pd.to_numeric(pd.Series([code]), errors="coerce").iloc[0]
    return str(int(number)) if pd.notna(number) and float(number).is_integer() else str(code)


def group_table_problems(profile: pd.DataFrame, group_means: pd.DataFrame) -> list[str]:
    """What in a published group table (``group_means.csv``) breaks the rule given the
    published sample profile of the same site (empty when it holds).

    A group the profile suppressed must be left out of every score's groups (its n would
    give the profile's cell back); among the groups of a score x grouping with respondents
    in the profile, never exactly one may be left out (the total of the complete cases, e.g.
    the n of ``group_comparisons.csv`` plus the one missing group, would give it back).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"variable": "g", "code": [1, 2, 3], "n": [3, 7, 50]})
    >>> means = pd.DataFrame({"score": "s", "grouping": "g", "code": [2, 3], "n": [7, 50]})
    >>> group_table_problems(suppress_small_cells(p, 5), means)
    ['score s, grouping g: group 2 hidden in the sample profile, published here (n = 7)', 'score s, grouping g: exactly one group left out (1)']
    """
    hidden = suppressed_codes(profile)
    listed = profile[profile["code"].notna()]
    present = {
        str(v): {_code(c) for c, n in zip(g["code"], g["n"], strict=True) if pd.isna(n) or n != 0}
        for v, g in listed.groupby("variable")
    }
    problems = []
    for (score, grouping), rows in group_means.groupby(["score", "grouping"], sort=False):
        where = f"score {score}, grouping {grouping}"
        codes = [_code(c) for c in rows["code"]]
        for code, n in zip(codes, rows["n"], strict=True):
            if code in hidden.get(str(grouping), set()):
                problems.append(
                    f"{where}: group {code} hidden in the sample profile, published here "
                    f"(n = {n:g})"
                )
        left_out = sorted(present.get(str(grouping), set()) - set(codes))
        if len(left_out) == 1:
            problems.append(f"{where}: exactly one group left out ({left_out[0]})")
    return problems
