"""Ordinal indicators: lavaan's ``estimator = "WLSMV"`` / ``"ULSMV"`` with ``ordered =``.

What is fitted (lavaan 0.6, ``parameterization = "delta"``; ``ordered=True`` or naming
every indicator, or naming some: the others are continuous):

Sample statistics
    Per group the thresholds and polychoric correlations of the items
    (:func:`policestress.polychoric.polychoric`, two-step ML) and their asymptotic
    covariance ``Gamma_g`` (lavaan's NACOV, ``muthen1984``). Every category of every item
    must be chosen in every group (lavaan stops otherwise; so does this module, naming the
    item, the group and the counts). With continuous indicators
    (:func:`policestress.polychoric.mixed_correlations`, lavaan's layout): per variable its
    thresholds or minus its mean, then the continuous variables' variances, then the
    polychoric correlations, the polyserial ones times the continuous standard deviation
    and the continuous covariances; their NACOV.
Model
    Latent responses ``y*`` with ``Sigma* = Lambda A Psi A' Lambda' + Theta``, ``mu* = nu +
    Lambda A alpha``; the residual variances of the ordered items are not parameters but
    ``1 / Delta_i^2 - diag(Lambda A Psi A' Lambda')_i`` (``Delta``: lavaan's scaling
    factors, ``~*~``), so ``diag(Sigma*) = 1 / Delta^2``. Implied statistics: thresholds
    ``Delta_i (tau_ik - mu*_i)`` and correlations ``Delta_i Delta_j Sigma*_ij``. A
    continuous indicator is its own ``y*`` (``Delta = 1``, no ``~*~`` row) with a free
    intercept ``nu_i`` and residual variance: its implied statistics are ``-mu*_i``,
    ``Sigma*_ii`` and its covariances ``Delta_j Sigma*_ij``.
Identification (lavaan 0.6's defaults, stated)
    Ordered items' intercepts fixed at 0 in every group. Single group and configural
    models: scaling factors fixed at 1 and latent means at 0 in every group (thresholds,
    loadings and the continuous items' intercepts and residual variances free per group,
    first loading 1 or ``std_lv``). ``group_equal`` with ``"thresholds"`` or
    ``"intercepts"`` means both (lavaan 0.6's ``lav_options_set`` for categorical data):
    thresholds and the continuous items' intercepts equal across groups, scaling factors
    and latent means free in groups 2..G (group 1 is the reference). ``"loadings"`` ties
    the loadings, ``"residuals"`` the continuous items' residual variances.
Estimator
    DWLS (WLSMV): ``F = sum_g (N_g - 1) / N (s_g - sigma_g)' W_g (s_g - sigma_g)`` with
    ``W_g = diag(1 / diag(Gamma_g))``; ULS (ULSMV): ``W_g = I``. Minimised by Gauss-Newton.
    Test ``chisq = sum_g (N_g - 1) (s_g - sigma_g)' W_g (s_g - sigma_g)``.
Standard errors (``robust.sem``)
    ``vcov = E^-1 (sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g) E^-1 / (N - G)`` with
    ``E = sum_g f_g Delta_g' W_g Delta_g`` and ``f_g = N_g / N`` (``N - G``: lavaan's
    ``lav_model_vcov`` for estimators other than ML).
Test ``scaled.shifted`` (lavaan's ``lav_test_satorra_bentler``)
    ``U = V - V Delta E^-1 Delta' V`` (``V`` block diagonal of ``f_g W_g``), ``Gamma`` block
    diagonal of ``Gamma_g / f_g``, ``a = sqrt(df / tr((U Gamma)^2))``, shift
    ``b = df - a tr(U Gamma)``: ``chisq.scaled = a chisq + b`` on ``df``;
    ``chisq.scaling.factor = 1 / a``.
Fit measures
    Baseline: thresholds free, correlations 0 (its own scaled-shifted test). ``cfi``,
    ``tli``, ``rmsea`` from the standard test; ``cfi.scaled``, ``tli.scaled``,
    ``rmsea.scaled`` plug in the scaled statistics on ``df`` (lavaan 0.6.14's
    ``lav_fit_cfi_lavobject`` / ``lav_fit_rmsea_lavobject`` for ``scaled.shifted``); the
    RMSEA's ``N`` is ``N - G`` (lavaan's ``lav_utils_get_ntotal`` for these estimators).
    With continuous indicators the baseline frees their means and variances too.
    ``srmr``: root mean square of the correlation residuals over the lower triangle
    including the (zero) diagonal, averaged over groups with weights ``N_g / N`` (sample
    and implied covariances both divided by the sample standard deviations, lavaan's
    ``cor.bentler``, when some indicators are continuous). lavaan's
    ``.robust`` versions for categorical data (``lav_fit_catml_dwls``) are not computed.
Difference test of nested models (:func:`satorra2000_difference_test`)
    lavaan's default for WLSMV / ULSMV, ``lavTestLRT(m1, m0, method = "satorra.2000")``
    with the scaled-shifted correction (``lav_test_diff_Satorra2000``, ``A`` by the delta
    method, the global second trace of lavaan 0.6.13+).
Missing data
    ``missing = "listwise"`` (lavaan's default) or ``"pairwise"`` (thresholds, means,
    variances and correlations from the available rows, ``N`` all rows; n per pair in
    :meth:`OrdinalFit.pairs`).
Not implemented
    Observed covariates and regressions on observed variables.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from policestress import sem
>>> rng = np.random.default_rng(7)
>>> f = rng.normal(size=400)
>>> d = pd.DataFrame({f"y{i}": np.digitize(0.7 * f + 0.7 * rng.normal(size=400),
...                   [-1, 0, 1]) + 1 for i in range(1, 5)})
>>> fit = sem.cfa("f =~ y1 + y2 + y3 + y4", d, ordered=True, estimator="WLSMV")
>>> fit.fit_measures()[["df"]].tolist()
[2.0]
>>> fit.parameter_estimates().query("op == '|'").shape[0]
12
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from policestress import fitstats
from policestress.polychoric import mixed_correlations, ordinal_codes, polychoric
from policestress.sem.estimate import Moments
from policestress.sem.fit import (
    SEMFit,
    _dummies,
    _post_fit_warnings,
    model_frame,
    modindices_table,
)
from policestress.sem.fit import _start_values as _continuous_start
from policestress.sem.model import Representation, build_specs
from policestress.sem.partable import partable as build_partable
from policestress.sem.partable import variables as model_variables
from policestress.sem.syntax import parse

__all__ = [
    "ORDINAL_ESTIMATORS",
    "OrdinalFit",
    "OrdinalRepresentation",
    "fit_ordinal",
    "merge_empty_categories",
]

ORDINAL_ESTIMATORS = ("WLSMV", "ULSMV")
_MATRIX_OPS = ("=~", "~~", "~", "~1")


class OrdinalRepresentation(Representation):
    """The model matrices of an ordinal model: a parameter table with threshold (``|``) and
    scaling-factor (``~*~``) rows besides the matrix rows, and residual variances of the
    ordered items derived from the others (delta parameterization). Continuous indicators
    (``ordered`` naming only some) keep free intercepts and residual variances, and a
    scaling factor of 1."""

    def __init__(
        self, table: pd.DataFrame, observed: list[str], eta: list[str], dummies,
        ordered: list[str] | None = None,
    ):  # fmt: skip
        self.table = table
        self.observed, self.eta, self.dummies = observed, eta, dummies
        self.p, self.m = len(observed), len(eta)
        self.specs = build_specs(table[table["op"].isin(_MATRIX_OPS)], observed, eta)
        self.n_free = int(table["free"].max()) if len(table) else 0
        self.fixed_values = table["ustart"].to_numpy(dtype=float)
        obs, lat = {v: i for i, v in enumerate(observed)}, {v: i for i, v in enumerate(eta)}
        self._dummy_pairs = [(obs[d], lat[d]) for d in dummies]
        self.meanstructure = True
        self.used = [np.unique(s.free[s.free >= 0]) for s in self.specs]
        ordered = list(observed) if ordered is None else ordered
        self.ord_pos = np.array([obs[x] for x in observed if x in ordered], dtype=int)
        self.num_pos = np.array([obs[x] for x in observed if x not in ordered], dtype=int)
        n_groups = len(self.specs)
        self.th_rows, self.delta_rows, self.resid_rows = [], [], []
        for g in range(1, n_groups + 1):
            sub = table[table["group"] == g]
            th = sub[sub["op"] == "|"]
            by_item = {x: th.index[th["lhs"] == x].to_numpy() for x in observed}
            # lavaan's order (computeTH): each variable in turn, its thresholds or, for a
            # continuous one, a single entry (minus its mean; row -1: no threshold)
            rows = [r for x in observed for r in (by_item[x] if x in ordered else [-1])]
            item = [obs[x] for x in observed for _ in (by_item[x] if x in ordered else [-1])]
            self.th_rows.append((np.array(rows, dtype=int), np.array(item, dtype=int)))
            dl = sub[sub["op"] == "~*~"].set_index("lhs")
            ord_names = [observed[i] for i in self.ord_pos]
            self.delta_rows.append(np.array([dl.loc[x, "_row"] for x in ord_names], dtype=int))
            rv = sub[(sub["op"] == "~~") & (sub["lhs"] == sub["rhs"]) & sub["lhs"].isin(observed)]
            self.resid_rows.append(rv.set_index("lhs").loc[ord_names, "_row"].to_numpy(dtype=int))

    def scaling(self, vals: np.ndarray, g: int) -> np.ndarray:
        """The scaling factors ``Delta`` of every observed variable (1 for continuous)."""
        delta = np.ones(self.p)
        delta[self.ord_pos] = vals[self.delta_rows[g]]
        return delta

    def values(self, theta: np.ndarray) -> np.ndarray:
        free = self.table["free"].to_numpy(dtype=int)
        vals = np.where(free > 0, theta[np.maximum(free, 1) - 1], self.fixed_values)
        for g in range(len(self.specs)):
            vals[self.resid_rows[g]] = 0.0
            mm = Representation.matrices(self, theta, g, vals)
            delta = vals[self.delta_rows[g]]
            vals[self.resid_rows[g]] = 1.0 / delta**2 - np.diag(mm.sigma)[self.ord_pos]
        return vals

    def implied(self, theta: np.ndarray, g: int, values: np.ndarray | None = None):
        """Implied statistics (lavaan's ``WLS.est``: thresholds and minus the means of the
        continuous variables, their variances, the correlations and covariances) and the
        matrices."""
        vals = self.values(theta) if values is None else values
        mm = self.matrices(theta, g, vals)
        delta = self.scaling(vals, g)
        rows, item = self.th_rows[g]
        th = delta[item] * (np.where(rows >= 0, vals[rows], 0.0) - mm.mu[item])
        ii, jj = self.pair_index()
        cor = delta[ii] * delta[jj] * mm.sigma[ii, jj]
        var = np.diag(mm.sigma)[self.num_pos]
        return np.concatenate([th, var, cor]), mm, (ii, jj)

    def pair_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(i, j)``, ``i > j``, in lavaan's ``vech(diagonal = FALSE)`` order."""
        ii, jj = np.tril_indices(self.p, k=-1)
        order = np.lexsort((ii, jj))  # by column
        return ii[order], jj[order]

    def stat_jacobian(self, ds, dm, delta, g) -> np.ndarray:
        """Derivatives of :meth:`implied` from those of ``Sigma*`` (``ds``, k x p x p) and
        ``mu*`` (``dm``, k x p) with respect to k matrix entries."""
        _, item = self.th_rows[g]
        ii, jj = self.pair_index()
        T, Q = len(item), len(self.num_pos)
        out = np.zeros((T + Q + len(ii), ds.shape[0]))
        out[:T] = -delta[item][:, None] * dm[:, item].T
        out[T : T + Q] = ds[:, self.num_pos, self.num_pos].T
        out[T + Q :] = (delta[ii] * delta[jj])[:, None] * ds[:, ii, jj].T
        return out

    def wls_delta(self, theta: np.ndarray, g: int) -> np.ndarray:
        """Jacobian of :meth:`implied` with respect to all free parameters (lavaan's Delta)."""
        vals = self.values(theta)
        est, mm, (ii, jj) = self.implied(theta, g, vals)
        delta = self.scaling(vals, g)
        rows, item = self.th_rows[g]
        T, Q = len(rows), len(self.num_pos)
        out = np.zeros((len(est), self.n_free))
        # matrix parameters (the derived residual variances change only the diagonal)
        ds, dm = self.derivatives(mm, g)
        used = self.used[g]
        out[:, used] += self.stat_jacobian(ds, dm, delta, g)
        free = self.table["free"].to_numpy(dtype=int)
        for k, row in enumerate(rows):  # thresholds
            if row >= 0 and free[row] > 0:
                out[k, free[row] - 1] += delta[item[k]]
        s = mm.sigma[ii, jj]
        for i, row in zip(self.ord_pos, self.delta_rows[g], strict=True):  # scaling factors
            if free[row] > 0:
                col = free[row] - 1
                on_th = item == i
                out[:T][on_th, col] += vals[rows[on_th]] - mm.mu[i]
                out[T + Q :, col] += np.where(ii == i, delta[jj] * s, 0.0) + np.where(
                    jj == i, delta[ii] * s, 0.0
                )
        return out


def _ordinal_table(base: pd.DataFrame, ordered: list[str], group_equal, group_partial, levels):
    """lavaan's parameter table of an ordinal model from the engine's continuous one."""
    n_groups = int(base["group"].max())
    tie_th = "thresholds" in group_equal
    free_means = tie_th and "means" not in group_equal
    partial = {p.replace(" ", "") for p in group_partial}
    lv = set(base.attrs["variables"].lv)
    rows = []
    for g in range(1, n_groups + 1):
        sub = base[base["group"] == g]
        block = {"=~": [], "|": [], "~~": [], "~": [], "~*~": [], "~1": []}
        for r in sub.to_dict("records"):
            r["key"] = ("base", r["free"]) if r["free"] > 0 else None
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ordered:
                r.update(free=0, ustart=1.0, key=None)  # derived (delta parameterization)
            if r["op"] == "~1" and r["lhs"] in ordered:
                r.update(free=0, ustart=0.0, key=None)
            if r["op"] == "~1" and r["lhs"] in lv:
                if free_means and g > 1:
                    r.update(ustart=math.nan, key=("mean", r["lhs"], g))
                elif r["key"] is None or "means" not in group_equal:
                    r.update(free=0, ustart=0.0, key=None)
            block.setdefault(r["op"], []).append(r)
        for x in ordered:
            for k in range(1, len(levels[x])):
                name = f"{x}|t{k}"
                tied = tie_th and name not in partial
                block["|"].append(
                    dict(lhs=x, op="|", rhs=f"t{k}", user=0, group=g, ustart=math.nan,
                         label="", start_user=math.nan, exo=0, pclass="thresholds",
                         key=("th", x, k) if tied else ("th", x, k, g))
                )  # fmt: skip
            free_delta = tie_th and g > 1
            block["~*~"].append(
                dict(lhs=x, op="~*~", rhs=x, user=0, group=g,
                     ustart=math.nan if free_delta else 1.0, label="", start_user=math.nan,
                     exo=0, pclass="", key=("delta", x, g) if free_delta else None)
            )  # fmt: skip
        for op in ("=~", "|", "~", "~~", "~*~", "~1"):
            rows.extend(block.get(op, []))
    table = pd.DataFrame(rows)
    index: dict = {}
    table["free"] = [0 if k is None else index.setdefault(k, len(index) + 1) for k in table["key"]]
    table = table.drop(columns=["key"])
    table["id"] = np.arange(1, len(table) + 1)
    table["plabel"] = [f".p{i}." for i in table["id"]]
    table["name"] = table["lhs"] + table["op"] + table["rhs"]
    table["_row"] = np.arange(len(table))
    table.attrs = dict(base.attrs)
    table.attrs["meanstructure"] = True
    return table


@dataclass
class _GroupStats:
    n: int
    obs: np.ndarray  # thresholds (minus means), variances, correlations (lavaan's wls.obs)
    gamma: np.ndarray  # NACOV
    weight: np.ndarray  # diagonal of W
    rho: np.ndarray  # lavaan's sample COV: correlations, covariances of continuous items
    pairs: pd.DataFrame
    n_th: int
    n_var: int = 0  # variances of continuous items
    mean: np.ndarray | None = None  # of the continuous items (0 for the ordered ones)

    @property
    def n_uni(self) -> int:
        """Entries before the correlations: thresholds, minus means and variances."""
        return self.n_th + self.n_var


def _group_stats(frame: pd.DataFrame, estimator: str, missing: str, ordered) -> _GroupStats:
    if len(ordered) < frame.shape[1]:
        res = mixed_correlations(frame, ordered=ordered, missing=missing)
        gamma = res.acov.to_numpy()
        weight = 1.0 / np.diag(gamma) if estimator == "WLSMV" else np.ones(len(gamma))
        return _GroupStats(
            res.n, res.statistics, gamma, weight, res.cov.to_numpy(), res.pairs, res.n_th,
            res.n_var, res.mean.to_numpy(),
        )  # fmt: skip
    res = polychoric(frame, missing=missing)
    gamma = res.acov.to_numpy()
    weight = 1.0 / np.diag(gamma) if estimator == "WLSMV" else np.ones(len(gamma))
    return _GroupStats(
        res.n, res.statistics, gamma, weight, res.rho.to_numpy(), res.pairs, len(res.thresholds)
    )


def _used_columns(d: np.ndarray) -> np.ndarray:
    """Parameters a group's statistics depend on (the other groups' own ones do not enter):
    the products below run over these columns only."""
    return np.flatnonzero(np.any(d != 0.0, axis=0))


def _weighted_cross(d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``d' diag(w) d`` over the used columns of ``d``."""
    cols = _used_columns(d)
    out = np.zeros((d.shape[1], d.shape[1]))
    dc = d[:, cols]
    out[np.ix_(cols, cols)] = dc.T @ (w[:, None] * dc)
    return out


def _objective(rep, stats_, theta, ntotal):
    total = 0.0
    for g, st in enumerate(stats_):
        est = rep.implied(theta, g)[0]
        d = st.obs - est
        total += (st.n - 1) / ntotal * float(d @ (st.weight * d))
    return total


def _gauss_newton(rep, stats_, theta, ntotal, max_iter=500, tol=1e-9):
    f = _objective(rep, stats_, theta, ntotal)
    for it in range(1, max_iter + 1):
        h = np.zeros((rep.n_free, rep.n_free))
        grad = np.zeros(rep.n_free)
        for g, st in enumerate(stats_):
            est = rep.implied(theta, g)[0]
            jac = rep.wls_delta(theta, g)
            wg = (st.n - 1) / ntotal
            h += wg * _weighted_cross(jac, st.weight)
            grad += wg * jac.T @ (st.weight * (st.obs - est))
        step = np.linalg.solve(h, grad)
        t = 1.0
        while True:
            new = theta + t * step
            f_new = _objective(rep, stats_, new, ntotal)
            if f_new <= f + 1e-14 * max(1.0, f) or t < 1e-8:
                break
            t /= 2.0
        theta, f = new, f_new
        if np.max(np.abs(t * step)) < tol:
            return theta, True, it
    return theta, False, max_iter


def _moments(st: _GroupStats, p: int) -> Moments:
    """A group's means (0 for ordered items) and ``COV``, for start values."""
    return Moments(st.n, np.zeros(p) if st.mean is None else st.mean, st.rho)


def _start_values(rep, table, stats_, variables) -> np.ndarray:
    moments = [_moments(st, rep.p) for st in stats_]
    theta = _continuous_start(rep, table, moments, variables)
    free = table["free"].to_numpy()
    for g, st in enumerate(stats_):
        rows, _ = rep.th_rows[g]
        for k, row in enumerate(rows):
            if row >= 0 and free[row] > 0:
                theta[free[row] - 1] = st.obs[k]
    for row in np.flatnonzero((table["op"] == "~*~").to_numpy() & (free > 0)):
        theta[free[row] - 1] = 1.0
    return theta


def _empty_categories(frame, items, group, labels, levels) -> list[str]:
    problems = []
    for lab in labels:
        sub = frame if group is None else frame[frame[group] == lab]
        for x in items:
            counts = sub[x].value_counts().reindex(levels[x], fill_value=0)
            if (counts == 0).any():
                where = f" in group {lab!r}" if group is not None else ""
                freq = ", ".join(f"{k:g}: {v}" for k, v in counts.items())
                problems.append(f"item {x!r}{where} (frequencies {freq})")
    return problems


def merge_empty_categories(
    data: pd.DataFrame, items: list[str], group: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge each category of an item that nobody chose in some group into its neighbour
    (towards the item's middle category), in every group, until every category is chosen
    in every group: lavaan fits ordinal multi-group models only then.

    Returns the recoded data and the merges (``item, from, to``), in order.

    >>> d = pd.DataFrame({"x": [1, 2, 3, 2, 3, 3], "g": ["a", "a", "a", "b", "b", "b"]})
    >>> merge_empty_categories(d, ["x"], "g")[1].to_dict("records")
    [{'item': 'x', 'from': 1.0, 'to': 2.0}]
    """
    out = data.copy()
    merges = []
    for x in items:
        while True:
            col = pd.to_numeric(out[x], errors="coerce")
            levels = np.unique(col.dropna())
            if levels.size < 2:
                break
            table = pd.crosstab(col, out[group]).reindex(levels, fill_value=0)
            empty = [lev for lev in levels if (table.loc[lev] == 0).any()]
            if not empty:
                break
            lev = empty[0]
            k = int(np.searchsorted(levels, lev))
            middle = (len(levels) - 1) / 2
            target = levels[k + 1] if k < middle or k == 0 else levels[k - 1]
            if k == len(levels) - 1:
                target = levels[k - 1]
            out[x] = col.where(col != lev, target)
            merges.append((x, float(lev), float(target)))
    return out, pd.DataFrame(merges, columns=["item", "from", "to"])


def fit_ordinal(
    model,
    data: pd.DataFrame,
    *,
    model_type: str,
    estimator: str,
    missing: str,
    group,
    group_equal,
    group_partial,
    std_lv: bool,
    orthogonal: bool,
    ordered,
    group_label,
    name: str,
    max_iter: int = 500,
):
    """Fit an ordinal model (called by :func:`policestress.sem.cfa` / ``sem`` with
    ``ordered=``); see the module docstring."""
    estimator = estimator.upper()
    if estimator not in ORDINAL_ESTIMATORS:
        raise ValueError(
            f"ordered= items need estimator 'WLSMV' or 'ULSMV' (lavaan's categorical "
            f"estimators here), got {estimator!r}"
        )
    if missing not in ("listwise", "pairwise"):
        raise ValueError(
            f"missing must be 'listwise' or 'pairwise' with ordered items, got {missing!r}"
        )
    if "thresholds" in group_equal or "intercepts" in group_equal:
        # lavaan 0.6 (lav_options_set, categorical): each of the two implies the other
        group_equal = tuple(dict.fromkeys([*group_equal, "thresholds", "intercepts"]))
    parsed = parse(model) if isinstance(model, str) else model
    v = model_variables(parsed, fixed_x=model_type == "sem")
    ordered_names = list(v.ov) if ordered is True else [str(x) for x in ordered]
    ordered_items = [x for x in v.ov if x in ordered_names]  # the model's order
    continuous = [x for x in v.ov if x not in ordered_names]
    if not ordered_items:
        raise ValueError(
            f"model {name!r}: ordered= names none of the model's observed variables ({list(v.ov)})"
        )
    if v.ov_x or _dummies(parsed, v):
        raise NotImplementedError(
            f"model {name!r}: ordinal estimation here fits measurement models (no observed "
            "covariates or regressions on observed variables)"
        )
    frame, labels, n_rows = model_frame(data, v.ov, name, group, group_label)
    if missing == "listwise":
        frame = frame.dropna(subset=v.ov)
    else:
        frame = frame[frame[v.ov].notna().any(axis=1)]
    _, lev = ordinal_codes(frame[ordered_items])
    levels = dict(zip(ordered_items, lev, strict=True))
    for x in continuous:
        if not pd.api.types.is_numeric_dtype(frame[x]):
            raise ValueError(f"model {name!r}: continuous indicator {x!r} is not numeric")
    problems = _empty_categories(frame, ordered_items, group, labels, levels)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise ValueError(
            f"model {name!r}: some categories are empty: {shown}. lavaan refuses this too: merge "
            "the sparse categories (policestress.sem.ordinal.merge_empty_categories) or drop "
            "the item"
        )
    blocks = [frame if group is None else frame[frame[group] == lab] for lab in labels]
    stats_ = [_group_stats(b[v.ov], estimator, missing, ordered_items) for b in blocks]
    base = build_partable(
        parsed,
        len(labels),
        model_type=model_type,
        std_lv=std_lv,
        orthogonal=orthogonal,
        meanstructure=True,
        group_equal=[c for c in group_equal if c != "thresholds"],
        group_partial=[p for p in group_partial if "|" not in p],
    )
    table = _ordinal_table(base, ordered_items, group_equal, group_partial, levels)
    rep = OrdinalRepresentation(table, v.ov, list(v.lv), [], ordered_items)
    fit = OrdinalFit(
        name=name,
        model_type=model_type,
        parsed=parsed,
        partable=table.drop(columns=["_row"]),
        estimator=estimator,
        missing=missing,
        group=group,
        group_labels=labels,
        n_by_group=[st.n for st in stats_],
        n_dropped=n_rows - len(frame),
        observed=list(v.ov),
        latent=list(v.lv),
        rep=rep,
        moments=[_moments(st, len(v.ov)) for st in stats_],
        theta=np.zeros(0),
        converged=False,
        iterations=0,
        data=[b[v.ov].to_numpy(dtype=float) for b in blocks],
        syntax=model if isinstance(model, str) else "",
    )
    fit.group_stats = stats_
    theta0 = _start_values(rep, table, stats_, v)
    try:
        theta, ok, iterations = _gauss_newton(rep, stats_, theta0, fit.ntotal, max_iter)
    except np.linalg.LinAlgError as err:
        fit.warnings.append(f"model {name!r} was not fitted: information matrix singular ({err})")
        return fit
    fit.theta, fit.converged, fit.iterations = theta, ok, iterations
    if not ok:
        fit.warnings.append(f"model {name!r} did not converge after {iterations} iterations")
    fit.partable["est"] = rep.values(theta)
    fit.warnings.extend(_post_fit_warnings(fit))
    return fit


@dataclass
class OrdinalFit(SEMFit):
    """A fitted ordinal (WLSMV / ULSMV) model: the :class:`~policestress.sem.SEMFit`
    interface with lavaan's categorical statistics."""

    group_stats: list = field(default_factory=list, repr=False)

    @property
    def information_type(self) -> str:
        return "expected"

    def _information_parts(self):
        if "parts" not in self._cache:
            n = self.ntotal
            deltas = [self.rep.wls_delta(self.theta, g) for g in range(len(self.n_by_group))]
            e = sum(
                st.n / n * _weighted_cross(d, st.weight)
                for st, d in zip(self.group_stats, deltas, strict=True)
            )
            self._cache["parts"] = (deltas, e, np.linalg.inv(e))
        return self._cache["parts"]

    def information(self) -> np.ndarray:
        return self._information_parts()[1]

    def vcov(self) -> np.ndarray:
        if "vcov" not in self._cache:
            try:
                deltas, _, e_inv = self._information_parts()
            except np.linalg.LinAlgError:
                self._cache["vcov"] = np.full((self.npar, self.npar), np.nan)
                return self._cache["vcov"]
            n = self.ntotal
            middle = np.zeros_like(e_inv)
            for st, d in zip(self.group_stats, deltas, strict=True):
                cols = _used_columns(d)
                wd = st.weight[:, None] * d[:, cols]
                middle[np.ix_(cols, cols)] += st.n / n * wd.T @ st.gamma @ wd
            self._cache["vcov"] = e_inv @ middle @ e_inv / (n - len(self.n_by_group))
        return self._cache["vcov"]

    def _std_values(self, theta: np.ndarray) -> np.ndarray:
        out = super()._std_values(theta)
        vals = self.rep.values(theta)
        for g in range(len(self.n_by_group)):
            rows, item = self.rep.th_rows[g]
            delta = self.rep.scaling(vals, g)
            th = rows >= 0
            out[rows[th]] = vals[rows[th]] * delta[item[th]]  # tau / sd(y*), sd(y*) = 1 / Delta
            out[self.rep.delta_rows[g]] = 1.0  # lavaan's lav_standardize_all: y* has sd 1
            # the derived residual variances, standardized: 1 - R^2 of y*
            rr = self.rep.resid_rows[g]
            out[rr] = vals[rr] * delta[self.rep.ord_pos] ** 2
        return out

    def modindices(self, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """lavaan's ``modindices`` of a WLSMV / ULSMV fit: score tests of freeing each
        candidate (loadings of every item on every factor, residual covariances of every
        pair of items, latent covariances, and the fixed markers, intercepts and latent
        means where freeing them is identified, as in a multi-group model) alone.

        ``mi = N g^2 / V`` with ``g`` the gradient of lavaan's ``fmin`` (``sum_g (N_g - 1) /
        (2N) F_g``) and ``V = I11 - I12 E^-1 I21`` from the expected information ``sum_g f_g
        Delta' W Delta`` of the model augmented by the candidate; ``epc = -g / V``;
        ``sepc.all`` the EPC standardized as ``std.all``.
        """
        cols = ["lhs", "op", "rhs", "group", "mi", "epc", "sepc.all"]
        if not self.fitted:
            return pd.DataFrame(columns=cols)
        rep, n = self.rep, self.ntotal
        deltas, e, _ = self._information_parts()
        vals = rep.values(self.theta)
        real = [k for k, f in enumerate(rep.eta) if f in self.latent]
        rows = []
        for g, spec in enumerate(rep.specs):
            st = self.group_stats[g]
            mm = rep.matrices(self.theta, g, vals)
            est, _, (ii, jj) = rep.implied(self.theta, g, vals)
            delta = rep.scaling(vals, g)
            present = set(zip(spec.kind, spec.r, spec.c, strict=True))
            cand = [("lambda", i, j) for j in real for i in range(rep.p)]
            cand += [("theta", a, b) for a in range(rep.p) for b in range(a)]
            cand += [("psi", a, b) for a in range(rep.m) for b in range(a)]
            cand = [c for c in cand if c not in present]
            # and, as lavaan, the fixed parameters (markers, intercepts, latent means): those
            # whose freeing is not identified get V = 0 and drop out
            cand += [
                (kd, a, b)
                for kd, a, b, f in zip(spec.kind, spec.r, spec.c, spec.free, strict=True)
                if f < 0 and kd in ("lambda", "beta", "psi", "nu", "alpha")
            ]
            if not cand:
                continue
            kind = np.array([c[0] for c in cand])
            ds, dm = rep.entry_derivatives(
                mm, kind, np.array([c[1] for c in cand]), np.array([c[2] for c in cand])
            )
            dc = rep.stat_jacobian(ds, dm, delta, g)
            fg = st.n / n
            wdc = st.weight[:, None] * dc
            i11 = fg * np.einsum("ak,ak->k", dc, wdc)
            i12 = fg * wdc.T @ deltas[g]
            v = i11 - np.einsum("ka,ka->k", i12, np.linalg.solve(e, i12.T).T)
            v = np.where(v < np.finfo(float).eps ** (1 / 3), np.nan, v)
            grad = -(st.n - 1) / n * (wdc.T @ (st.obs - est))
            mi, epc = n * grad**2 / v, -grad / v
            sd_obs = np.sqrt(np.diag(mm.sigma))
            sd_eta = np.sqrt(np.abs(np.diag(mm.phi)))
            res_obs, res_eta = np.diag(mm.theta), np.diag(mm.psi)
            with np.errstate(divide="ignore", invalid="ignore"):
                for k, (kd, a, b) in enumerate(cand):
                    if kd == "lambda":
                        lhs, op, rhs = rep.eta[b], "=~", self.observed[a]
                        factor = sd_eta[b] / sd_obs[a]
                    elif kd == "beta":
                        lhs, op, rhs = rep.eta[b], "=~", rep.eta[a]
                        factor = sd_eta[b] / sd_eta[a]
                    elif kd == "theta":
                        lhs, op, rhs = self.observed[b], "~~", self.observed[a]
                        factor = 1 / np.sqrt(np.abs(res_obs[a] * res_obs[b]))
                    elif kd == "nu":
                        lhs, op, rhs = self.observed[a], "~1", ""
                        factor = 1 / sd_obs[a]
                    elif kd == "alpha":
                        lhs, op, rhs = rep.eta[a], "~1", ""
                        factor = 1 / sd_eta[a]
                    elif a == b:
                        lhs, op, rhs = rep.eta[a], "~~", rep.eta[a]
                        factor = 1 / sd_eta[a] ** 2
                    else:
                        lhs, op, rhs = rep.eta[b], "~~", rep.eta[a]
                        factor = 1 / np.sqrt(np.abs(res_eta[a] * res_eta[b]))
                    rows.append((lhs, op, rhs, g + 1, mi[k], epc[k], epc[k] * factor))
        return modindices_table(rows, cols, minimum, sort)

    def pairs(self) -> pd.DataFrame:
        """Per group the pairs of items: ``group, item1, item2, rho, n, empty_cells`` (and
        ``kind``, polychoric / polyserial / pearson, when some items are continuous)."""
        frames = []
        for g, st in enumerate(self.group_stats):
            frames.append(st.pairs.assign(group=g + 1))
        return pd.concat(frames, ignore_index=True)

    def residual_correlations(self, g: int = 0) -> np.ndarray:
        """Sample minus implied correlations of group ``g`` (polychoric, polyserial and
        Pearson), both scaled by the sample standard deviations (lavaan's ``cor.bentler``;
        1 for ordered items)."""
        est, _, (ii, jj) = self.rep.implied(self.theta, g)
        st = self.group_stats[g]
        out = np.zeros((self.rep.p, self.rep.p))
        out[ii, jj] = st.obs[st.n_uni :] - est[st.n_uni :]
        if st.n_var:
            sd = np.sqrt(np.diag(st.rho))
            out[ii, jj] /= sd[ii] * sd[jj]
        return out + out.T

    def _tests(self):
        """(chisq, df, scaled test) of the model and of the baseline."""
        if "tests" in self._cache:
            return self._cache["tests"]
        n = self.ntotal
        deltas, _, e_inv = self._information_parts()
        chisq, ndat = 0.0, 0
        base_chisq = 0.0
        for g, st in enumerate(self.group_stats):
            est = self.rep.implied(self.theta, g)[0]
            d = st.obs - est
            chisq += (st.n - 1) * float(d @ (st.weight * d))
            ndat += len(st.obs)
            r = st.obs[st.n_uni :]
            base_chisq += (st.n - 1) * float(r @ (st.weight[st.n_uni :] * r))
        df = ndat - self.npar
        # baseline: each group's thresholds (and the continuous items' means and variances)
        # free, correlations zero
        t_total = sum(st.n_uni for st in self.group_stats)
        offset = 0
        full_base = []
        for st in self.group_stats:
            bd = np.zeros((len(st.obs), t_total))
            bd[np.arange(st.n_uni), offset + np.arange(st.n_uni)] = 1.0
            offset += st.n_uni
            full_base.append(bd)
        e_base = sum(
            st.n / n * d.T @ (st.weight[:, None] * d)
            for st, d in zip(self.group_stats, full_base, strict=True)
        )
        df_base = ndat - t_total
        model = _scaled_shifted(self.group_stats, deltas, e_inv, chisq, df, n)
        base = _scaled_shifted(
            self.group_stats, full_base, np.linalg.inv(e_base), base_chisq, df_base, n
        )
        self._cache["tests"] = (model, base)
        return self._cache["tests"]

    def fit_measures(self) -> pd.Series:
        """lavaan's ``fitMeasures`` of a WLSMV/ULSMV fit (see the module docstring)."""
        if "fit_measures_all" in self._cache:
            return self._cache["fit_measures_all"].copy()
        n, G = self.ntotal, len(self.n_by_group)
        out: dict[str, float] = {"npar": self.npar, "ntotal": n, "ngroups": G}
        if not self.fitted:
            return pd.Series(out, dtype=float)
        m, b = self._tests()
        nr = n - G  # lavaan's lav_utils_get_ntotal for estimators other than ML
        low, high = fitstats.rmsea_ci(m.chisq, m.df, nr, n_groups=G)
        low_s, high_s = fitstats.rmsea_ci(m.chisq_scaled, m.df, nr, n_groups=G)
        out.update(
            {
                "chisq": m.chisq,
                "df": m.df,
                "pvalue": fitstats.chi2_pvalue(m.chisq, m.df),
                "chisq.scaled": m.chisq_scaled,
                "df.scaled": m.df,
                "pvalue.scaled": fitstats.chi2_pvalue(m.chisq_scaled, m.df),
                "chisq.scaling.factor": m.scaling_factor,
                "chisq.shift.parameter": m.shift,
                "baseline.chisq": b.chisq,
                "baseline.df": b.df,
                "baseline.pvalue": fitstats.chi2_pvalue(b.chisq, b.df),
                "baseline.chisq.scaled": b.chisq_scaled,
                "baseline.df.scaled": b.df,
                "baseline.pvalue.scaled": fitstats.chi2_pvalue(b.chisq_scaled, b.df),
                "baseline.chisq.scaling.factor": b.scaling_factor,
                "cfi": fitstats.cfi(m.chisq, m.df, b.chisq, b.df),
                "tli": fitstats.tli(m.chisq, m.df, b.chisq, b.df),
                "cfi.scaled": fitstats.cfi(m.chisq_scaled, m.df, b.chisq_scaled, b.df),
                "tli.scaled": fitstats.tli(m.chisq_scaled, m.df, b.chisq_scaled, b.df),
                "rmsea": fitstats.rmsea(m.chisq, m.df, nr, n_groups=G),
                "rmsea.ci.lower": low,
                "rmsea.ci.upper": high,
                "rmsea.pvalue": fitstats.rmsea_pclose(m.chisq, m.df, nr, n_groups=G),
                "rmsea.scaled": fitstats.rmsea(m.chisq_scaled, m.df, nr, n_groups=G),
                "rmsea.ci.lower.scaled": low_s,
                "rmsea.ci.upper.scaled": high_s,
                "rmsea.pvalue.scaled": fitstats.rmsea_pclose(m.chisq_scaled, m.df, n, n_groups=G),
                "srmr": self._srmr(),
            }
        )
        series = pd.Series(out, dtype=float)
        self._cache["fit_measures_all"] = series
        return series.copy()

    def _plain_measures(self) -> pd.Series:
        return self.fit_measures()

    def _srmr(self) -> float:
        out = 0.0
        p = self.rep.p
        for g, st in enumerate(self.group_stats):
            res = self.residual_correlations(g)
            mean_sq = float(np.sum(np.tril(res) ** 2) / (p * (p + 1) / 2))
            out += st.n / self.ntotal * math.sqrt(mean_sq)
        return out

    def satorra_bentler(self):
        raise NotImplementedError("WLSMV fits report the scaled-shifted test")


@dataclass
class ScaledShifted:
    """lavaan's ``scaled.shifted`` test: ``chisq.scaled = chisq / scaling_factor + shift``."""

    chisq: float
    df: int
    scaling_factor: float
    shift: float
    trace_ugamma: float
    trace_ugamma2: float

    @property
    def chisq_scaled(self) -> float:
        return self.chisq / self.scaling_factor + self.shift

    @property
    def pvalue_scaled(self) -> float:
        return float(stats.chi2.sf(self.chisq_scaled, self.df)) if self.df > 0 else math.nan


def _scaled_shifted(group_stats, deltas, e_inv, chisq, df, n) -> ScaledShifted:
    """lavaan's ``lav_test_satorra_bentler_trace_original`` (Satterthwaite branch), with
    ``U Gamma = A - B C`` computed block by block: ``A_g = W_g Gamma_g``, ``B_g = f_g W_g
    Delta_g``, ``C_g = E^-1 B_g' Gamma_g / f_g``; ``tr(U Gamma) = sum_g tr(A_g) -
    tr(B_g C_g)`` and ``tr((U Gamma)^2) = sum_g [tr(A_g^2) - 2 tr(A_g B_g C_g)] +
    tr((sum_g C_g B_g)^2)``."""
    q = e_inv.shape[0]
    tr1 = tr2 = 0.0
    cb = np.zeros((q, q))
    for st, d in zip(group_stats, deltas, strict=True):
        f = st.n / n
        cols = _used_columns(d)
        a = st.weight[:, None] * st.gamma
        b = f * st.weight[:, None] * d[:, cols]
        c = e_inv[:, cols] @ (b.T @ st.gamma) / f  # (q, k)
        pg = b @ c[cols]  # B_g C_g (k, k)
        tr1 += float(np.trace(a) - np.trace(pg))
        tr2 += float(np.sum(a * a.T) - 2.0 * np.sum(a * pg.T))
        cb[:, cols] += c @ b
    tr2 += float(np.sum(cb * cb.T))
    if df <= 0:
        return ScaledShifted(chisq, df, math.nan, math.nan, tr1, tr2)
    a = math.sqrt(df / tr2)
    return ScaledShifted(chisq, df, 1.0 / a, df - a * tr1, tr1, tr2)


def satorra2000_difference_test(fit0: OrdinalFit, fit1: OrdinalFit) -> dict[str, float]:
    """Scaled-shifted difference test of two nested ordinal fits, as lavaan's
    ``lavTestLRT(fit1, fit0, method = "satorra.2000")`` for WLSMV / ULSMV.

    ``fit0`` is the restricted model (more df), ``fit1`` the one it is nested in, fitted to
    the same data. lavaan's ``lav_test_diff_Satorra2000`` (``h1 = TRUE``, ``A`` by the delta
    method): ``H = Delta_1^+ Delta_0``, ``A`` spans the orthogonal complement of ``H``'s
    columns, ``M = E_1^-1 A' (A E_1^-1 A')^+ A E_1^-1``; with ``K_g = Delta_1g' W_g Gamma_g
    W_g Delta_1g`` and ``f_g = N_g / N``: ``tr(U Gamma) = sum_g f_g tr(M K_g)``,
    ``tr((U Gamma)^2) = tr((M sum_g f_g K_g)^2)``; ``m = df0 - df1``, ``a = sqrt(m / tr((U
    Gamma)^2))``, ``b = m - a tr(U Gamma)`` and ``chisq.diff = a (chisq0 - chisq1) + b`` on
    ``m`` df (``chisq``: the unscaled DWLS / ULS statistics).

    Returns
    -------
    dict with ``chisq.diff, df.diff, pvalue, a, b, trace.ugamma, trace.ugamma2``. Equal df
    give the plain difference and NaN p, as lavaan.

    Raises
    ------
    ValueError
        Fits that are not ordinal, not fitted, of different data, or with ``fit0`` not
        more restricted than ``fit1``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from policestress import sem
    >>> rng = np.random.default_rng(7)
    >>> f = rng.normal(size=(600, 2)) @ np.linalg.cholesky([[1, 0.5], [0.5, 1]]).T
    >>> d = pd.DataFrame({f"y{i}": np.digitize(0.7 * f[:, i // 3] + 0.7 * rng.normal(size=600),
    ...                   [-1, 0, 1]) + 1 for i in range(6)})
    >>> two = sem.cfa("f =~ y0 + y1 + y2; g =~ y3 + y4 + y5", d, ordered=True, estimator="WLSMV")
    >>> one = sem.cfa("f =~ y0 + y1 + y2 + y3 + y4 + y5", d, ordered=True, estimator="WLSMV")
    >>> res = satorra2000_difference_test(one, two)
    >>> res["df.diff"], res["pvalue"] < 0.001
    (1, True)
    """
    for name, fit in (("fit0", fit0), ("fit1", fit1)):
        if not isinstance(fit, OrdinalFit) or not fit.fitted:
            raise ValueError(f"{name} must be a fitted WLSMV / ULSMV model (ordered items)")
    same = fit0.n_by_group == fit1.n_by_group and all(
        len(s0.obs) == len(s1.obs) and np.allclose(s0.obs, s1.obs)
        for s0, s1 in zip(fit0.group_stats, fit1.group_stats, strict=True)
    )
    if not same:
        raise ValueError("fit0 and fit1 must be fitted to the same data (groups, items, rows)")
    test0, test1 = fit0._tests()[0], fit1._tests()[0]
    m = test0.df - test1.df
    if m < 0:
        raise ValueError(
            f"fit0 must be the restricted model (more df): df0 = {test0.df}, df1 = {test1.df}"
        )
    t_diff = test0.chisq - test1.chisq
    nan = math.nan
    plain = {"chisq.diff": t_diff, "df.diff": m, "pvalue": nan, "a": nan, "b": nan,
             "trace.ugamma": nan, "trace.ugamma2": nan}  # fmt: skip
    if m == 0:
        return plain
    deltas1, _, e_inv = fit1._information_parts()
    deltas0 = fit0._information_parts()[0]
    h = np.linalg.pinv(np.vstack(deltas1), rcond=_GINV_TOL) @ np.vstack(deltas0)
    u, sv, _ = np.linalg.svd(h)
    rank = int(np.sum(sv > _RANK_TOL * sv[0])) if sv.size else 0
    a_mat = u[:, rank:].T  # rows: the orthogonal complement of H's columns
    apa = a_mat @ e_inv @ a_mat.T
    tiny = math.sqrt(np.finfo(float).eps)
    empty = (np.abs(apa.sum(axis=0)) < tiny) & (np.abs(apa.sum(axis=1)) < tiny)
    a_mat = a_mat[~empty]
    if len(a_mat) == 0:
        return plain
    pa = e_inv @ a_mat.T
    paapaap = pa @ np.linalg.pinv(a_mat @ pa, rcond=_GINV_TOL) @ pa.T
    n = fit1.ntotal
    tr1, k_all = 0.0, np.zeros_like(e_inv)
    for st, d in zip(fit1.group_stats, deltas1, strict=True):
        wd = st.weight[:, None] * d
        k = wd.T @ st.gamma @ wd
        tr1 += st.n / n * float(np.sum(paapaap * k))
        k_all += st.n / n * k
    mk = paapaap @ k_all
    tr2 = float(np.sum(mk * mk.T))
    a = math.sqrt(m / tr2)
    b = m - a * tr1
    stat = t_diff * a + b
    return {"chisq.diff": stat, "df.diff": m, "pvalue": float(stats.chi2.sf(stat, m)), "a": a,
            "b": b, "trace.ugamma": tr1, "trace.ugamma2": tr2}  # fmt: skip


# MASS::ginv's tolerance, and R's qr() rank tolerance (lav_mat_ortho_complement)
_GINV_TOL = math.sqrt(np.finfo(float).eps)
_RANK_TOL = 1e-7
