"""What a Monte Carlo study found, per sample size: tidy tables of a :class:`PowerResult`.

Every share comes with its Monte Carlo standard error, ``sqrt(p (1 - p) / R)`` over the
``R`` replications it counts; every mean with ``sd / sqrt(R)``. Parameter summaries count
the converged replications (improper solutions included, as Muthén & Muthén 2002 do; their
share is in :func:`convergence_table`).

Examples
--------
>>> from policestress.power import population_from_syntax, simulate_power
>>> pop = population_from_syntax("f =~ 0.6*x1 + 0.6*x2 + 0.6*x3 + 0.6*x4")
>>> res = simulate_power(pop, "f =~ x1 + x2 + x3 + x4", [50, 200], 20, backend="serial",
...                      progress=False)
>>> table = convergence_table(res)
>>> table["n"].tolist(), table["convergence"].tolist()
([50, 200], [1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "FIT_CUTOFFS",
    "convergence_table",
    "parameter_table",
    "fit_table",
    "required_n",
    "analytic_power",
    "power_summary",
]

# Common cut-offs (Hu & Bentler 1999; the chi-square test at .05): measure -> (rule, value).
FIT_CUTOFFS = {
    "pvalue": (">=", 0.05),
    "cfi": (">=", 0.95),
    "tli": (">=", 0.95),
    "rmsea": ("<=", 0.06),
    "srmr": ("<=", 0.08),
}
FIT_MEASURES = ("chisq", "pvalue", "cfi", "tli", "rmsea", "srmr")


def _share(values: pd.Series) -> tuple[float, float]:
    r = len(values)
    if r == 0:
        return np.nan, np.nan
    p = float(np.mean(values))
    return p, float(np.sqrt(p * (1 - p) / r))


def convergence_table(result) -> pd.DataFrame:
    """Per sample size: replications, the share that converged, the share of converged
    ones with an improper solution (a negative variance, a latent covariance matrix not
    positive definite, no standard errors), with Monte Carlo SEs, and the mean n used
    (after listwise deletion).
    """
    rows = []
    for n, reps in result.replications.groupby("n", sort=True):
        conv, conv_se = _share(reps["converged"])
        ok = reps[reps["converged"]]
        imp, imp_se = _share(ok["improper"])
        rows.append(
            {
                "n": int(n),
                "replications": len(reps),
                "converged": int(reps["converged"].sum()),
                "convergence": conv,
                "convergence_mcse": conv_se,
                "improper": int(ok["improper"].sum()),
                "improper_share": imp,
                "improper_mcse": imp_se,
                "mean_n_used": float(reps["n_used"].mean()),
            }
        )
    return pd.DataFrame(rows)


def analytic_power(se_unit: np.ndarray, value: np.ndarray, n, alpha: float = 0.05):
    """Power of the two-sided Wald z-test of ``value = 0`` at ``n`` cases, when the estimate's
    standard error is ``se_unit / sqrt(n)`` (``se_unit``: square root of the diagonal of the
    inverse unit information).

    Examples
    --------
    >>> round(float(analytic_power(2.0, 0.4, 100)), 3)  # z = 2: a little over one half
    0.516
    """
    z = stats.norm.ppf(1 - alpha / 2)
    ncp = np.abs(value) / (np.asarray(se_unit) / np.sqrt(n))
    return stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp)


def parameter_table(result, level: float = 0.95, alpha: float = 0.05) -> pd.DataFrame:
    """Per sample size and free parameter, over the converged replications.

    Columns: ``n, parameter, lhs, op, rhs, population`` (the reference value),
    ``mean_est, bias, relative_bias`` (bias / population; NaN for a population value 0),
    ``empirical_se`` (SD of the estimates), ``mean_se``, ``se_bias`` ((mean SE - SD) / SD),
    ``coverage`` (share of ``level`` intervals holding the population value),
    ``power`` (share with two-sided p < ``alpha``), their ``_mcse`` (Monte Carlo SEs; for
    the mean estimate, SD / sqrt(R)), ``analytic_power`` (Wald test from the expected
    information, where the study has it) and ``replications`` (converged ones counted).
    """
    z_ci = stats.norm.ppf(0.5 + level / 2)
    z_test = stats.norm.ppf(1 - alpha / 2)
    ok = result.replications.loc[result.replications["converged"], ["n", "replication"]]
    est = result.estimates.merge(ok, on=["n", "replication"])
    est = est.merge(result.population, on="parameter", how="left")
    est["covered"] = (est["est"] - est["population"]).abs() <= z_ci * est["se"]
    est["significant"] = (est["est"] / est["se"]).abs() > z_test
    rows = []
    order = {p: i for i, p in enumerate(result.population["parameter"])}
    for (n, parameter), g in est.groupby(["n", "parameter"], sort=False):
        pop = g["population"].iloc[0]
        r = len(g)
        mean_est = float(g["est"].mean())
        sd = float(g["est"].std(ddof=1)) if r > 1 else np.nan
        mean_se = float(g["se"].mean())
        coverage, coverage_se = _share(g["covered"])
        power, power_se = _share(g["significant"])
        se_unit = g["se_unit"].iloc[0]
        rows.append(
            {
                "n": int(n),
                "parameter": parameter,
                "lhs": g["lhs"].iloc[0],
                "op": g["op"].iloc[0],
                "rhs": g["rhs"].iloc[0],
                "population": pop,
                "mean_est": mean_est,
                "mean_est_mcse": sd / np.sqrt(r) if r > 1 else np.nan,
                "bias": mean_est - pop,
                "relative_bias": (mean_est - pop) / pop if abs(pop) > 1e-12 else np.nan,
                "empirical_se": sd,
                "mean_se": mean_se,
                "se_bias": (mean_se - sd) / sd if sd and sd > 0 else np.nan,
                "coverage": coverage,
                "coverage_mcse": coverage_se,
                "power": power,
                "power_mcse": power_se,
                "analytic_power": (
                    float(analytic_power(se_unit, pop, n, alpha))
                    if np.isfinite(se_unit)
                    else np.nan
                ),
                "replications": r,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_order"] = table["parameter"].map(order)
    return (
        table.sort_values(["n", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def fit_table(result, cutoffs: dict | None = None) -> pd.DataFrame:
    """Per sample size and fit measure (chi-square, its p, CFI, TLI, RMSEA, SRMR) over the
    converged replications: mean, SD, 5th / 50th / 95th percentiles, and the share meeting
    the cut-off (``FIT_CUTOFFS``: p >= .05, CFI and TLI >= .95, RMSEA <= .06, SRMR <= .08)
    with its Monte Carlo SE. Under MLR the scaled test and robust indices.
    """
    cutoffs = FIT_CUTOFFS if cutoffs is None else cutoffs
    rows = []
    ok = result.replications[result.replications["converged"]]
    for n, reps in ok.groupby("n", sort=True):
        for measure in FIT_MEASURES:
            values = reps[measure].dropna()
            rule = cutoffs.get(measure)
            share = mcse = np.nan
            if rule is not None and len(values):
                meets = values >= rule[1] if rule[0] == ">=" else values <= rule[1]
                share, mcse = _share(meets)
            rows.append(
                {
                    "n": int(n),
                    "measure": measure,
                    "mean": float(values.mean()) if len(values) else np.nan,
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "q05": float(values.quantile(0.05)) if len(values) else np.nan,
                    "median": float(values.median()) if len(values) else np.nan,
                    "q95": float(values.quantile(0.95)) if len(values) else np.nan,
                    "cutoff": f"{rule[0]} {rule[1]:g}" if rule else "",
                    "share_meeting": share,
                    "share_meeting_mcse": mcse,
                    "replications": len(values),
                }
            )
    return pd.DataFrame(rows)


def _default_targets(table: pd.DataFrame) -> list[str]:
    """Loadings, regressions and covariances whose population value is not 0 (variances
    are always 'significant' and say nothing about the sample size a study needs)."""
    first = table.drop_duplicates("parameter")
    keep = (
        (first["lhs"] != first["rhs"])
        & (first["op"] != "|")  # thresholds (WLSMV) test nothing about the model
        & (first["population"].abs() > 1e-12)
    )
    return first.loc[keep, "parameter"].tolist()


def required_n(
    result,
    target_power: float = 0.80,
    target_convergence: float = 0.95,
    parameters: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The smallest n of the grid from which on (at it and every larger n of the grid)
    a parameter's power reaches ``target_power`` and convergence ``target_convergence``.

    One row per parameter (default: every loading, regression and covariance whose
    population value is not 0; no variances, no thresholds) and a last row ``all`` (every one of them at once):
    ``required_n`` (NaN: not reached in the grid), and at that n the ``power`` and
    ``convergence`` with their Monte Carlo SEs.
    """
    table = parameter_table(result, alpha=alpha)
    conv = convergence_table(result).set_index("n")
    parameters = list(parameters) if parameters is not None else _default_targets(table)
    grid = sorted(conv.index)
    conv_ok = {n: conv.loc[n, "convergence"] >= target_convergence for n in grid}
    rows = []
    for parameter in parameters:
        sub = table[table["parameter"] == parameter].set_index("n")
        if sub.empty:
            raise KeyError(f"no parameter {parameter!r} in the study")
        meets = {
            n: n in sub.index and sub.loc[n, "power"] >= target_power and conv_ok[n] for n in grid
        }
        chosen = next((n for i, n in enumerate(grid) if all(meets[m] for m in grid[i:])), None)
        rows.append(_required_row(parameter, chosen, sub, conv))
    if parameters:
        needed = [r["required_n"] for r in rows]
        worst = np.nan if any(np.isnan(needed)) else max(needed)
        at = table[(table["n"] == worst) & table["parameter"].isin(parameters)]
        low = at.loc[at["power"].idxmin()] if len(at) else None
        rows.append(
            {
                "parameter": "all",
                "required_n": worst,
                "power": float(low["power"]) if low is not None else np.nan,
                "power_mcse": float(low["power_mcse"]) if low is not None else np.nan,
                "convergence": float(conv.loc[worst, "convergence"]) if low is not None else np.nan,
                "convergence_mcse": (
                    float(conv.loc[worst, "convergence_mcse"]) if low is not None else np.nan
                ),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(target_power=target_power, target_convergence=target_convergence)
    return out


def _required_row(parameter, chosen, sub, conv) -> dict:
    if chosen is None:
        return {
            "parameter": parameter,
            "required_n": np.nan,
            "power": np.nan,
            "power_mcse": np.nan,
            "convergence": np.nan,
            "convergence_mcse": np.nan,
        }
    return {
        "parameter": parameter,
        "required_n": float(chosen),
        "power": float(sub.loc[chosen, "power"]),
        "power_mcse": float(sub.loc[chosen, "power_mcse"]),
        "convergence": float(conv.loc[chosen, "convergence"]),
        "convergence_mcse": float(conv.loc[chosen, "convergence_mcse"]),
    }


def power_summary(result, alpha: float = 0.05) -> pd.DataFrame:
    """One row per sample size, the thesis table of a study: ``convergence``,
    ``improper_share``, the median and smallest power of the loadings
    (``power_loadings_median``, ``power_loadings_min``) and of the factor covariances
    (``power_covariances_median``, ``power_covariances_min``; NaN when the model has none),
    the mean ``coverage`` of every free parameter, and the shares of replications with
    CFI >= .95, RMSEA <= .06, SRMR <= .08 (``cfi_share``, ``rmsea_share``, ``srmr_share``).
    """
    conv = convergence_table(result).set_index("n")
    params = parameter_table(result, alpha=alpha)
    fit = fit_table(result).set_index(["n", "measure"])
    targets = params[(params["lhs"] != params["rhs"]) & (params["population"].abs() > 1e-12)]
    rows = []
    for n in conv.index:
        here = targets[targets["n"] == n]
        load = here.loc[here["op"] == "=~", "power"]
        covs = here.loc[here["op"] == "~~", "power"]
        row = {
            "n": int(n),
            "replications": int(conv.loc[n, "replications"]),
            "convergence": conv.loc[n, "convergence"],
            "improper_share": conv.loc[n, "improper_share"],
            "power_loadings_median": load.median() if len(load) else np.nan,
            "power_loadings_min": load.min() if len(load) else np.nan,
            "power_covariances_median": covs.median() if len(covs) else np.nan,
            "power_covariances_min": covs.min() if len(covs) else np.nan,
            "coverage": params.loc[params["n"] == n, "coverage"].mean(),
        }
        for measure in ("cfi", "rmsea", "srmr"):
            key = (n, measure)
            row[f"{measure}_share"] = fit.loc[key, "share_meeting"] if key in fit.index else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
