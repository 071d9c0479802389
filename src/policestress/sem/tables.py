"""The one mapping from lavaan's names to the stage tables' columns (cfa_fit.csv,
invariance.csv, synthesis_sem_fit.csv), and the fit row every stage writes.

Every row states the estimator, the missing-data rule and n (issue 14); a model that was not
fitted or did not converge is still a row, with ``converged = False`` and the ``reason``.
"""

from __future__ import annotations

import math

import pandas as pd

from policestress.sem.fit import SEMFit

__all__ = ["FIT_COLUMNS", "HEADLINE_FIT", "SCALED_COLUMNS", "fit_row", "estimate_columns"]

# stage column -> lavaan fitMeasures name
FIT_COLUMNS = {
    "npar": "npar",
    "chi2": "chisq",
    "df": "df",
    "p": "pvalue",
    "baseline_chi2": "baseline.chisq",
    "baseline_df": "baseline.df",
    "cfi": "cfi",
    "tli": "tli",
    "nfi": "nfi",
    "rmsea": "rmsea",
    "rmsea_ci_low": "rmsea.ci.lower",
    "rmsea_ci_high": "rmsea.ci.upper",
    "rmsea_pclose": "rmsea.pvalue",
    "srmr": "srmr",
    "gfi": "gfi",
    "agfi": "agfi",
    "logl": "logl",
    "unrestricted_logl": "unrestricted.logl",
    "aic": "aic",
    "bic": "bic",
    "bic2": "bic2",
}
# the fit indices every stage's fit table shows (the test, then the approximate indices)
HEADLINE_FIT = ["chi2", "df", "p", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr"]
# robust estimators (MLM, MLR): lavaan's scaled statistic and robust indices
SCALED_COLUMNS = {
    "chi2_scaled": "chisq.scaled",
    "df_scaled": "df.scaled",
    "p_scaled": "pvalue.scaled",
    "scaling_factor": "chisq.scaling.factor",
    "cfi_scaled": "cfi.scaled",
    "tli_scaled": "tli.scaled",
    "rmsea_scaled": "rmsea.scaled",
    "cfi_robust": "cfi.robust",
    "tli_robust": "tli.robust",
    "rmsea_robust": "rmsea.robust",
}


def fit_row(fit: SEMFit, satorra_bentler: bool = False, sb_max_items: int = 80) -> dict:
    """The stage's fit row of ``fit``: ``model, estimator, missing, n, n_dropped``, the
    :data:`FIT_COLUMNS`, ``chi2_df``, the :data:`SCALED_COLUMNS` (for ML only the robust
    CFI/TLI/RMSEA under FIML, which lavaan reports there; absent otherwise) and, with
    ``satorra_bentler``, the Satorra-Bentler columns ``chi2_sb, sb_scaling, p_sb`` of an ML
    fit on complete data (NaN under FIML or beyond ``sb_max_items``
    items: the fourth-moment matrix grows as p^4); then ``converged`` and ``reason``.
    """
    fm = fit.fit_measures()
    row = {
        "model": fit.name,
        "estimator": fit.estimator,
        "missing": fit.missing,
        "n": fit.ntotal,
        "n_dropped": fit.n_dropped,
    }
    for col, key in FIT_COLUMNS.items():
        row[col] = float(fm.get(key, math.nan))
    row["npar"] = int(fit.npar) if fit.rep is not None else 0
    df = row["df"]
    row["chi2_df"] = row["chi2"] / df if df and df > 0 else math.nan
    for col, key in SCALED_COLUMNS.items():
        # ML reports only what lavaan's fitMeasures has for it: nothing on complete data,
        # the robust CFI/TLI/RMSEA under FIML (lavaan 0.6's FIML-corrected indices)
        if fit.estimator != "ML" or key in fm.index:
            row[col] = float(fm.get(key, math.nan))
    if satorra_bentler:
        sb = (math.nan,) * 3
        usable = (
            fit.fitted
            and fit.estimator in ("ML", "MLM", "MLR")  # not the ordinal WLSMV / ULSMV
            and fit.missing == "listwise"
            and df > 0
            and len(fit.observed) <= sb_max_items
        )
        if usable:
            t = fit.satorra_bentler()
            sb = (t.chisq_scaled, t.scaling_factor, t.pvalue_scaled)
        row.update(chi2_sb=sb[0], sb_scaling=sb[1], p_sb=sb[2])
    row["converged"] = bool(fit.fitted and fit.converged)
    row["reason"] = "" if row["converged"] and not fit.warnings else fit.message
    return row


def estimate_columns(fit: SEMFit) -> pd.DataFrame:
    """lavaan's ``parameterEstimates`` with ``std.all``, in the stage tables' column names:
    ``lhs, op, rhs, group, label, free, est, se, z, p, ci_low, ci_high, std_all``."""
    pe = fit.parameter_estimates()
    free = fit.partable["free"].to_numpy() > 0
    n_defined = len(pe) - len(free)
    std = list(fit._std_values(fit.theta)) if fit.fitted else [math.nan] * len(free)
    pe["free"] = list(free) + [True] * n_defined
    pe["std_all"] = std + [math.nan] * n_defined
    pe = pe.rename(columns={"pvalue": "p", "ci.lower": "ci_low", "ci.upper": "ci_high"})
    return pe[
        [
            "lhs",
            "op",
            "rhs",
            "group",
            "label",
            "free",
            "est",
            "se",
            "z",
            "p",
            "ci_low",
            "ci_high",
            "std_all",
        ]
    ]
