"""semopy as an estimation backend, fed from the parameter table (never from user syntax).

semopy 2.3.11 estimates single-group ML models on complete data well (``obj='MLW'``, SLSQP
with ``ftol = 1e-12`` reaches lavaan's estimates), but its parser is not lavaan's
(GUIDE.md section 4). So the model description handed to semopy is written here from the
parameter table, every parameter explicit: a fixed value as ``1.0*x1``, a free parameter as
a unique label ``_p7*x2`` (labels shared by equal parameters), so semopy adds nothing and
frees nothing on its own. What semopy cannot fit (groups, mean structures, FIML, robust
estimators, observed variables in regressions) is refused; :func:`policestress.sem.cfa`
uses the project's estimator for those.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["semopy_applicable", "semopy_description", "fit_with_semopy"]


def semopy_applicable(table: pd.DataFrame, dummies: list[str], n_groups: int) -> str | None:
    """None when semopy can fit this parameter table, else the reason it cannot."""
    if n_groups > 1:
        return "several groups"
    if table.attrs.get("meanstructure"):
        return "a mean structure"
    if dummies:
        return "observed variables in regressions"
    return None


def _term(row) -> str:
    if row["free"] > 0:
        return f"_p{int(row['free'])}*{row['rhs']}"
    return f"{float(row['ustart'])!r}*{row['rhs']}"


def semopy_description(table: pd.DataFrame) -> str:
    """semopy model text with every parameter of ``table`` written explicitly.

    Examples
    --------
    >>> from policestress.sem.partable import partable
    >>> from policestress.sem.syntax import parse
    >>> print(semopy_description(partable(parse("f =~ x1 + x2"))))
    f =~ 1.0*x1 + _p1*x2
    x1 ~~ _p2*x1
    x2 ~~ _p3*x2
    f ~~ _p4*f
    """
    lines = []
    for op in ("=~", "~", "~~"):
        sub = table[table["op"] == op]
        for lhs in dict.fromkeys(sub["lhs"]):
            rows = sub[sub["lhs"] == lhs]
            lines.append(f"{lhs} {op} " + " + ".join(_term(r) for r in rows.to_dict("records")))
    return "\n".join(lines)


def fit_with_semopy(
    table: pd.DataFrame,
    observed: list[str],
    data: np.ndarray,
    cov: np.ndarray,
    start: np.ndarray,
    bounded: bool = False,
    ftol: float = 1e-12,
    maxiter: int = 2000,
) -> tuple[np.ndarray, bool, str]:
    """Estimate the free parameters with semopy; returns (theta, success, message).

    ``bounded`` keeps semopy's lower bound 0 on variances (an improper solution then shows
    as a variance at 0); otherwise the bounds are removed, as lavaan has none.
    """
    import semopy  # slow to import: only when used

    model = semopy.Model(semopy_description(table))
    if not bounded:
        for param in model.parameters.values():
            param.bound = (None, None)
    frame = pd.DataFrame(data, columns=observed)
    cov_frame = pd.DataFrame(cov, index=observed, columns=observed)
    q = int(table["free"].max())
    for k in range(q):
        model.parameters[f"_p{k + 1}"].start = float(start[k])
    result = model.fit(
        frame,
        cov=cov_frame,
        obj="MLW",
        solver="SLSQP",
        options={"ftol": ftol, "maxiter": maxiter},
    )
    names = list(model.parameters)
    values = dict(
        zip([n for n in names if model.parameters[n].active], model.param_vals, strict=True)
    )
    theta = np.array([values[f"_p{k + 1}"] for k in range(q)])
    return theta, bool(result.success), str(result.message)
