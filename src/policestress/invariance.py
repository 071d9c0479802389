"""Measurement invariance across groups: multi-group confirmatory factor analysis (ML).

semopy 2.3.11 fits groups only separately (configural); it cannot hold a parameter equal
across groups, so metric, scalar and strict invariance need an estimator of their own. This
module is a small one for measurement models (factors measured by observed variables, all
factors correlated, optional residual covariances), with lavaan's (0.6) conventions:

* **ML with a mean structure**, likelihood "normal": ``S_g`` has divisor ``N_g``, the test
  statistic is ``chi2 = sum_g N_g F_g`` with
  ``F_g = log|Sigma_g| + tr(S_g Sigma_g^-1) - log|S_g| - p + (m_g - mu_g)' Sigma_g^-1 (m_g - mu_g)``.
* **Identification** (lavaan's default): the first indicator of each factor has its loading
  fixed to 1 in every group (marker); latent means are fixed to 0 in every group, except that
  when intercepts are held equal (scalar, strict) they are free in groups 2..G (group 1 is the
  reference). Intercepts and residual variances are free per group unless held equal.
* **Equality constraints** share one parameter among the groups (lavaan's ``group.equal``:
  ``loadings``, ``intercepts``, ``residuals``, ``residual.covariances``, ``lv.variances``,
  ``lv.covariances``, ``means``); ``group_partial`` frees named parameters in lavaan's notation
  (``"visual=~x2"``, ``"x3~1"``, ``"x3~~x3"``).
* **Standard errors** from the expected information (lavaan's default ``information =
  "expected"`` with the model-implied, "structured", moments for ML on complete data).
* **Fit**: CFI/TLI against lavaan's baseline (free means and variances per group), RMSEA with
  lavaan's multi-group factor ``sqrt(G)`` and its 90% interval, and SRMR as lavaan's ``srmr``
  (Bentler's, including the mean residuals, averaged over groups weighted by ``N_g / N``). The
  chi-square-based indices come from :mod:`policestress.fitstats`, shared with the CFA stage.

The optimiser is Fisher scoring (Newton steps with the expected information, halved until the
discrepancy decreases) with analytic derivatives; it converges in a few dozen steps. Variances
are not bounded (as in lavaan): a negative variance (Heywood case) is reported with a warning.

Missing data: complete cases on the model's variables and the grouping variable.

Examples
--------
>>> from semopy.examples import holzinger39
>>> hs = holzinger39.get_data()
>>> model = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
>>> table = fit_invariance(hs, model, "school", groups=["Pasteur", "Grant-White"])
>>> print(table[["step", "chi2", "df"]].round(2).to_string(index=False))
      step   chi2  df
configural 115.85  48
    metric 124.04  54
    scalar 164.10  60
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats
from threadpoolctl import threadpool_limits

from policestress import fitstats
from policestress.lavaan_syntax import parameter_name, relations

__all__ = [
    "STEP_CONSTRAINTS",
    "CHEN_CRITERIA",
    "MeasurementModel",
    "MultiGroupFit",
    "parse_model",
    "fit_multigroup_cfa",
    "fit_invariance_models",
    "invariance_table",
    "fit_invariance",
    "latent_mean_differences",
    "select_groups",
    "domain_score_model",
]

# Cumulative equality constraints of the usual sequence of invariance models (lavaan's
# group.equal names). "means" (equal latent means) is accepted as an extra step after scalar
# or strict: it adds "means" to the constraints of the step before it.
STEP_CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
EQUALITY_CLASSES = (
    "loadings",
    "intercepts",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "means",
)
# Chen (2007, Structural Equation Modeling 14, 464-504), N > 300: a change of CFI of -.010 or
# worse, with RMSEA rising by .015 or more (or SRMR by .030 for loadings, .010 for intercepts
# and residuals) signals non-invariance. Reported as thresholds, not as verdicts.
CHEN_CRITERIA = {
    "delta_cfi_min": -0.010,
    "delta_rmsea_max": 0.015,
    "delta_srmr_max": {"metric": 0.030, "scalar": 0.010, "strict": 0.010, "means": 0.010},
}

_KINDS = ("lambda", "phi", "theta", "nu", "alpha")


# --------------------------------------------------------------------------- model syntax


@dataclass
class MeasurementModel:
    """A measurement model: factors, their indicators (first = marker), residual covariances."""

    indicators: dict[str, list[str]]
    residual_covariances: list[tuple[str, str]] = field(default_factory=list)

    @property
    def factors(self) -> list[str]:
        return list(self.indicators)

    @property
    def observed(self) -> list[str]:
        """Observed variables in order of first appearance."""
        seen: dict[str, None] = {}
        for items in self.indicators.values():
            seen.update(dict.fromkeys(items))
        return list(seen)

    def to_lavaan(self) -> str:
        """The model in lavaan syntax (for reports and R cross-checks)."""
        lines = [f"{f} =~ {' + '.join(items)}" for f, items in self.indicators.items()]
        lines += [f"{a} ~~ {b}" for a, b in self.residual_covariances]
        return "\n".join(lines)


def parse_model(model: str | Mapping[str, Sequence[str]] | MeasurementModel) -> MeasurementModel:
    """Read a measurement model from lavaan syntax or a ``{factor: [items]}`` mapping.

    Read with :func:`policestress.lavaan_syntax.relations`; understood: ``f =~ x1 + x2 + x3``
    (the first indicator is the marker) and ``x1 ~~ x2`` (a residual covariance between two
    observed variables). Anything else (regressions, intercepts, variances, labels, fixed
    values) is refused, because this estimator does not fit it.

    Examples
    --------
    >>> m = parse_model("visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6; x1 ~~ x4")
    >>> m.factors, m.residual_covariances
    (['visual', 'textual'], [('x1', 'x4')])
    """
    if isinstance(model, MeasurementModel):
        return model
    indicators: dict[str, list[str]] = {}
    covariances: list[tuple[str, str]] = []
    if isinstance(model, Mapping):
        indicators = {str(f): [str(x) for x in items] for f, items in model.items()}
    else:
        for lhs, op, rhs, modifier in relations(str(model)):
            written = f"{lhs} {op} {modifier + '*' if modifier else ''}{rhs}".strip()
            if modifier is not None:
                raise ValueError(f"cannot read measurement statement {written!r}: no modifiers")
            if op == "=~":
                indicators.setdefault(lhs, []).append(rhs)
            elif op == "~~" and lhs != rhs:
                covariances.append((lhs, rhs))
            elif op == "~~":
                raise ValueError(
                    "only residual covariances between two observed variables are supported, "
                    f"got {written!r}"
                )
            else:
                raise ValueError(
                    f"unsupported statement {written!r}: this estimator fits measurement "
                    "models ('=~' and residual covariances '~~') only"
                )
    for f, items in indicators.items():
        if len(items) < 2:
            raise ValueError(f"factor {f!r} needs at least two indicators, got {items}")
        if len(set(items)) != len(items):
            raise ValueError(f"factor {f!r} lists an indicator twice: {items}")
    if not indicators:
        raise ValueError("the model defines no factor")
    result = MeasurementModel(indicators, covariances)
    unknown = {v for pair in covariances for v in pair} - set(result.observed)
    if unknown:
        raise ValueError(f"residual covariances name variables without a factor: {sorted(unknown)}")
    return result


# --------------------------------------------------------------------------- parameter table


def _parameter_table(
    model: MeasurementModel,
    n_groups: int,
    group_equal: Sequence[str],
    group_partial: Sequence[str],
) -> pd.DataFrame:
    """One row per model parameter per group, with ``pidx`` (-1 = fixed) shared by equalities."""
    obs, facs = model.observed, model.factors
    io = {v: i for i, v in enumerate(obs)}
    fo = {f: i for i, f in enumerate(facs)}
    equal = set(group_equal)
    unknown = equal - set(EQUALITY_CLASSES)
    if unknown:
        raise ValueError(f"unknown group_equal {sorted(unknown)}; allowed: {EQUALITY_CLASSES}")
    partial = {parameter_name(n) for n in group_partial}
    # lavaan frees the latent means of groups 2..G when intercepts are equal and means are not;
    # under "means" they stay fixed at 0 and, as in lavaan, group_partial cannot free them.
    free_latent_means = "intercepts" in equal and "means" not in equal

    columns = ("group", "lhs", "op", "rhs", "kind", "row", "col", "pclass", "free", "value")
    rows = []
    for g in range(n_groups):

        def add(*values, g=g):
            rows.append(dict(zip(columns, (g, *values), strict=True)))

        for f, items in model.indicators.items():
            for k, x in enumerate(items):
                add(f, "=~", x, "lambda", io[x], fo[f], "loadings", k > 0, 1.0 if k == 0 else 0.0)
        for x in obs:
            add(x, "~~", x, "theta", io[x], io[x], "residuals", True, 0.0)
        for a, b in model.residual_covariances:
            r, c = sorted((io[a], io[b]), reverse=True)
            add(a, "~~", b, "theta", r, c, "residual.covariances", True, 0.0)
        for i, f in enumerate(facs):
            add(f, "~~", f, "phi", i, i, "lv.variances", True, 0.0)
        for i, f1 in enumerate(facs):
            for j in range(i + 1, len(facs)):
                add(f1, "~~", facs[j], "phi", j, i, "lv.covariances", True, 0.0)
        for x in obs:
            add(x, "~1", "", "nu", io[x], 0, "intercepts", True, 0.0)
        for i, f in enumerate(facs):
            add(f, "~1", "", "alpha", i, 0, "means", free_latent_means and g > 0, 0.0)

    table = pd.DataFrame(rows)
    table["name"] = table["lhs"] + table["op"] + table["rhs"]
    unknown_partial = partial - set(table["name"])
    if unknown_partial:
        raise ValueError(f"group_partial names no model parameter: {sorted(unknown_partial)}")
    # A free parameter of an equal class (and not freed by group_partial) is one parameter for
    # all groups; "means" fixes every latent mean to group 1's value, 0.
    shared = table["pclass"].isin(equal) & ~table["name"].isin(partial)
    table.loc[shared & (table["pclass"] == "means"), "free"] = False
    table["equal"] = shared & table["free"]
    keys = np.where(table["equal"], table["name"], table["name"] + "@" + table["group"].astype(str))
    pidx = pd.Series(-1, index=table.index)
    free_keys = pd.Series(keys[table["free"].to_numpy()]).unique()
    lookup = {k: i for i, k in enumerate(free_keys)}
    pidx[table["free"]] = [lookup[k] for k in keys[table["free"].to_numpy()]]
    table["pidx"] = pidx.astype(int)
    return table


# --------------------------------------------------------------------------- estimator


class _Estimator:
    """Discrepancy, gradient and expected information of a multi-group measurement model."""

    def __init__(self, table: pd.DataFrame, p: int, m: int, moments: list[tuple]):
        self.table = table
        self.p, self.m = p, m
        self.moments = moments  # per group: (n_g, mean vector, S with divisor n_g)
        self.n = sum(mo[0] for mo in moments)
        self.weights = np.array([mo[0] / self.n for mo in moments])
        self.n_par = int(table["pidx"].max()) + 1
        self.logdet_s = [np.linalg.slogdet(mo[2])[1] for mo in moments]
        self.groups = []
        for g in range(len(moments)):
            rows = table[table["group"] == g]
            spec = {}
            for kind in _KINDS:
                part = rows[rows["kind"] == kind]
                fixed = part[part["pidx"] < 0]
                free = part[part["pidx"] >= 0]
                spec[kind] = (
                    fixed["row"].to_numpy(),
                    fixed["col"].to_numpy(),
                    fixed["value"].to_numpy(),
                    free["row"].to_numpy(),
                    free["col"].to_numpy(),
                    free["pidx"].to_numpy(),
                )
            order = np.concatenate([spec[k][5] for k in _KINDS])
            self.groups.append((spec, order))

    def matrices(self, theta: np.ndarray, g: int) -> dict[str, np.ndarray]:
        spec, _ = self.groups[g]
        p, m = self.p, self.m
        shapes = {"lambda": (p, m), "phi": (m, m), "theta": (p, p), "nu": (p, 1), "alpha": (m, 1)}
        out = {}
        for kind, shape in shapes.items():
            fr, fc, fv, r, c, idx = spec[kind]
            mat = np.zeros(shape)
            mat[fr, fc] = fv
            mat[r, c] = theta[idx]
            if kind in ("phi", "theta"):
                mat[fc, fr] = fv
                mat[c, r] = theta[idx]
            out[kind] = mat
        out["nu"], out["alpha"] = out["nu"][:, 0], out["alpha"][:, 0]
        out["sigma"] = out["lambda"] @ out["phi"] @ out["lambda"].T + out["theta"]
        out["mu"] = out["nu"] + out["lambda"] @ out["alpha"]
        return out

    def _derivatives(self, mats: dict, g: int) -> tuple[np.ndarray, np.ndarray]:
        """d Sigma / d theta_k (K, p, p) and d mu / d theta_k (K, p) for the group's free entries."""
        spec, _ = self.groups[g]
        p = self.p
        lam, phi, alpha = mats["lambda"], mats["phi"], mats["alpha"]
        blocks_s, blocks_m = [], []
        # loadings: dSigma = e_r a_c' + a_c e_r' with a = Lambda Phi; dmu_r = alpha_c
        r, c = spec["lambda"][3], spec["lambda"][4]
        k = np.arange(r.size)
        a = (lam @ phi)[:, c].T
        ds = np.zeros((r.size, p, p))
        ds[k, r, :] = a
        ds[k, :, r] += a
        dm = np.zeros((r.size, p))
        dm[k, r] = alpha[c]
        blocks_s.append(ds)
        blocks_m.append(dm)
        # factor (co)variances: dSigma = l_r l_c' + l_c l_r' (once on the diagonal)
        r, c = spec["phi"][3], spec["phi"][4]
        x = np.einsum("ik,jk->kij", lam[:, r], lam[:, c])
        ds = x + x.transpose(0, 2, 1)
        ds[r == c] /= 2.0
        blocks_s.append(ds)
        blocks_m.append(np.zeros((r.size, p)))
        # residual (co)variances
        r, c = spec["theta"][3], spec["theta"][4]
        k = np.arange(r.size)
        ds = np.zeros((r.size, p, p))
        ds[k, r, c] = 1.0
        ds[k, c, r] = 1.0
        blocks_s.append(ds)
        blocks_m.append(np.zeros((r.size, p)))
        # intercepts and latent means
        r = spec["nu"][3]
        dm = np.zeros((r.size, p))
        dm[np.arange(r.size), r] = 1.0
        blocks_s.append(np.zeros((r.size, p, p)))
        blocks_m.append(dm)
        r = spec["alpha"][3]
        blocks_s.append(np.zeros((r.size, p, p)))
        blocks_m.append(lam[:, r].T.copy())
        return np.concatenate(blocks_s), np.concatenate(blocks_m)

    def _group_discrepancy(self, mats: dict, g: int):
        n_g, mean, s = self.moments[g]
        try:
            chol = linalg.cho_factor(mats["sigma"], lower=True)
        except linalg.LinAlgError:
            return np.inf, None
        w = linalg.cho_solve(chol, np.eye(self.p))
        d = mean - mats["mu"]
        logdet = 2.0 * np.log(np.diag(chol[0])).sum()
        f = logdet + np.sum(w * s) - self.logdet_s[g] - self.p + d @ w @ d
        return float(f), (w, d)

    def discrepancy(self, theta: np.ndarray) -> float:
        """Sum over groups of (N_g / N) F_g; chi-square = N times this at the optimum."""
        total = 0.0
        for g in range(len(self.moments)):
            f, _ = self._group_discrepancy(self.matrices(theta, g), g)
            if not np.isfinite(f):
                return np.inf
            total += self.weights[g] * f
        return total

    def gradient_information(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Discrepancy, its gradient and its expected Hessian (twice the unit information)."""
        total, grad = 0.0, np.zeros(self.n_par)
        hess = np.zeros((self.n_par, self.n_par))
        for g in range(len(self.moments)):
            mats = self.matrices(theta, g)
            f, aux = self._group_discrepancy(mats, g)
            if aux is None:
                raise np.linalg.LinAlgError(
                    "model-implied covariance matrix is not positive definite"
                )
            w, d = aux
            s = self.moments[g][2]
            ds, dm = self._derivatives(mats, g)
            big_g = w - w @ (s + np.outer(d, d)) @ w
            k = ds.shape[0]
            gr = ds.reshape(k, -1) @ big_g.ravel() + dm @ (-2.0 * w @ d)
            # tr(W dS_k W dS_l) for all k, l as one matrix product
            b = np.matmul(w, ds)
            h = b.reshape(k, -1) @ b.transpose(0, 2, 1).reshape(k, -1).T + 2.0 * dm @ w @ dm.T
            _, order = self.groups[g]
            wg = self.weights[g]
            total += wg * f
            np.add.at(grad, order, wg * gr)
            hess[np.ix_(order, order)] += wg * h
        return total, grad, hess

    def start_values(self) -> np.ndarray:
        """Per group: marker-based loadings, half the observed variances, observed means."""
        sums = np.zeros(self.n_par)
        counts = np.zeros(self.n_par)
        for g, (_, mean, s) in enumerate(self.moments):
            rows = self.table[(self.table["group"] == g) & (self.table["pidx"] >= 0)]
            marker = {
                r.col: r.row
                for r in self.table[
                    (self.table["group"] == g)
                    & (self.table["kind"] == "lambda")
                    & (self.table["pidx"] < 0)
                ].itertuples()
            }
            for r in rows.itertuples():
                if r.kind == "lambda":
                    mk = marker[r.col]
                    value = s[r.row, mk] / (0.5 * s[mk, mk])
                elif r.kind == "phi":
                    value = 0.5 * s[marker[r.row], marker[r.row]] if r.row == r.col else 0.0
                elif r.kind == "theta":
                    value = 0.5 * s[r.row, r.row] if r.row == r.col else 0.0
                elif r.kind == "nu":
                    value = mean[r.row]
                else:
                    value = 0.0
                sums[r.pidx] += value
                counts[r.pidx] += 1
        return sums / counts

    def fit(
        self, max_iter: int = 500, tol: float = 1e-10
    ) -> tuple[np.ndarray, np.ndarray, bool, int]:
        """Fisher scoring with step halving; returns (theta, expected Hessian, converged, iters)."""
        theta = self.start_values()
        f, grad, hess = self.gradient_information(theta)
        converged, iterations = False, 0
        while not converged and iterations < max_iter:
            iterations += 1
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError as err:
                raise np.linalg.LinAlgError(
                    "the information matrix is singular: the model is not identified"
                ) from err
            t = 1.0
            # Halve the step until the discrepancy decreases enough (Armijo). Near the optimum
            # the predicted decrease falls below the rounding error of f: the slack lets the
            # scoring steps, driven by the exact gradient, go on to full precision.
            slack = 64 * np.finfo(float).eps * max(1.0, abs(f))
            while self.discrepancy(theta - t * step) > f - 1e-4 * t * (grad @ step) + slack:
                t /= 2.0
                if t < 1e-10:  # no descent along the scoring direction: give up, unconverged
                    return theta, hess, False, iterations
            theta = theta - t * step
            f, grad, hess = self.gradient_information(theta)
            # the full scoring step was negligible: theta is the optimum to ~tol
            converged = bool(np.max(np.abs(step)) < tol)
        return theta, hess, converged, iterations


# --------------------------------------------------------------------------- results


@dataclass
class MultiGroupFit:
    """A fitted multi-group measurement model.

    Attributes
    ----------
    model : MeasurementModel
    group : str
        Name of the grouping variable.
    groups : list
        Group values in order; the first is the reference group.
    group_equal, group_partial : tuple of str
        Equality constraints and the parameters freed from them (lavaan's names; only the
        names that lift one of this model's constraints).
    n_by_group : pandas.Series
        Complete cases per group.
    estimates : pandas.DataFrame
        One row per parameter and group: ``group, lhs, op, rhs, free, equal, est, se, z, p,
        std_all`` (lavaan's ``parameterEstimates`` and ``standardizedSolution(type="std.all")``).
    fit_measures : pandas.Series
        ``n, n_groups, n_par, chi2, df, p, baseline_chi2, baseline_df, cfi, tli, rmsea,
        rmsea_ci_low, rmsea_ci_high, rmsea_pclose, srmr, logl, aic, bic, converged, iterations``.
    implied : dict
        Per group value: model-implied ``sigma`` and ``mu`` and the parameter matrices.
    """

    model: MeasurementModel
    group: str
    groups: list
    group_equal: tuple[str, ...]
    group_partial: tuple[str, ...]
    n_by_group: pd.Series
    estimates: pd.DataFrame
    fit_measures: pd.Series
    implied: dict = field(repr=False)
    vcov: np.ndarray = field(repr=False)


def _complete_cases(
    data: pd.DataFrame, variables: list[str], group: str, groups: Sequence | None
) -> tuple[pd.DataFrame, list]:
    missing = [v for v in [*variables, group] if v not in data.columns]
    if missing:
        raise KeyError(f"data lack the columns {missing}")
    frame = data[[*variables, group]].dropna()
    frame = frame.astype({v: float for v in variables})
    if groups is None:
        groups = sorted(frame[group].unique().tolist())
    else:
        groups = list(groups)
        absent = [g for g in groups if not (frame[group] == g).any()]
        if absent:
            raise ValueError(f"groups {absent} have no complete case in {group!r}")
        frame = frame[frame[group].isin(groups)]
    if len(groups) < 2:
        raise ValueError(f"{group!r} has fewer than two groups with complete data")
    return frame, groups


def _srmr_group(s: np.ndarray, mean: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    """lavaan's Bentler SRMR of one group with means: residuals scaled by the sample SDs."""
    sd = np.sqrt(np.diag(s))
    r_cov = (s - sigma) / np.outer(sd, sd)
    r_mean = (mean - mu) / sd
    tri = np.tril_indices(s.shape[0])
    stats_ = np.concatenate([r_mean, r_cov[tri]])
    return float(np.sqrt(np.mean(stats_**2)))


def fit_multigroup_cfa(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]] | MeasurementModel,
    group: str,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    groups: Sequence | None = None,
) -> MultiGroupFit:
    """Fit a multi-group confirmatory factor model by ML, like lavaan's
    ``cfa(model, data, group=group, group.equal=group_equal, group.partial=group_partial)``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent; complete cases on the model's variables and ``group`` are used.
    model : str or dict
        lavaan syntax (``f =~ x1 + x2 + x3``, residual covariances ``x1 ~~ x2``) or
        ``{factor: [items]}``; the first item of a factor is its marker (loading 1).
    group : str
        Column holding the group.
    group_equal : sequence of str
        Parameter classes held equal across groups: ``loadings``, ``intercepts``,
        ``residuals``, ``residual.covariances``, ``lv.variances``, ``lv.covariances``,
        ``means``.
    group_partial : sequence of str
        Parameters exempt from ``group_equal``, e.g. ``["visual=~x2", "x3~1"]``. As in lavaan,
        it does not free latent means held at 0 by ``means``.
    groups : sequence, optional
        Group values to use, in order; the first is the reference group. Default: the sorted
        distinct values (lavaan's default is their order of appearance: pass
        ``group.label`` to lavaan for the same order).

    Returns
    -------
    MultiGroupFit

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> hs = holzinger39.get_data()
    >>> fit = fit_multigroup_cfa(hs, "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; "
    ...                          "speed =~ x7 + x8 + x9", "school", group_equal=["loadings"])
    >>> round(float(fit.fit_measures["chi2"]), 2), int(fit.fit_measures["df"])
    (124.04, 54)
    """
    mm = parse_model(model)
    obs, facs = mm.observed, mm.factors
    frame, groups = _complete_cases(data, obs, group, groups)
    moments = []
    for value in groups:
        x = frame.loc[frame[group] == value, obs].to_numpy()
        if x.shape[0] <= len(obs):
            raise ValueError(
                f"group {value!r} of {group!r} has {x.shape[0]} complete cases for {len(obs)} "
                "variables: too few for its covariance matrix"
            )
        moments.append((x.shape[0], x.mean(axis=0), np.cov(x, rowvar=False, bias=True)))
    table = _parameter_table(mm, len(groups), tuple(group_equal), tuple(group_partial))
    partial_names = {parameter_name(x) for x in group_partial}
    est = _Estimator(table, len(obs), len(facs), moments)
    # The matrices are small: BLAS threads only add overhead (ten-fold on a busy 2-core machine).
    n, n_groups, p = est.n, len(groups), len(obs)
    with threadpool_limits(limits=1, user_api="blas"):
        theta, hess, converged, iterations = est.fit()
        # unit information = half the expected Hessian of F; total information = N times that
        try:
            vcov = np.linalg.inv(hess * n / 2.0)
        except np.linalg.LinAlgError as err:
            raise np.linalg.LinAlgError(
                "information matrix singular: model not identified"
            ) from err
    if not converged:
        warnings.warn(f"multi-group CFA by {group!r} did not converge", stacklevel=2)

    implied, srmr_g, logl = {}, [], 0.0
    for g, value in enumerate(groups):
        mats = est.matrices(theta, g)
        implied[value] = mats
        n_g, mean, s = moments[g]
        srmr_g.append(_srmr_group(s, mean, mats["sigma"], mats["mu"]))
        d = mean - mats["mu"]
        sign, logdet = np.linalg.slogdet(mats["sigma"])
        logl += (
            -n_g
            / 2.0
            * (
                p * np.log(2 * np.pi)
                + logdet
                + np.trace(np.linalg.solve(mats["sigma"], s))
                + d @ np.linalg.solve(mats["sigma"], d)
            )
        )

    # estimates table in lavaan's layout
    values = np.where(table["pidx"] >= 0, theta[table["pidx"].clip(lower=0)], table["value"])
    se = np.where(table["pidx"] >= 0, np.sqrt(np.diag(vcov))[table["pidx"].clip(lower=0)], np.nan)
    std = np.empty(len(table))
    for i, r in enumerate(table.itertuples()):
        mats = implied[groups[r.group]]
        sd_obs = np.sqrt(np.diag(mats["sigma"]))
        sd_lat = np.sqrt(np.diag(mats["phi"]))
        v = values[i]
        if r.kind == "lambda":
            std[i] = v * sd_lat[r.col] / sd_obs[r.row]
        elif r.kind == "phi":
            std[i] = v / (sd_lat[r.row] * sd_lat[r.col])
        elif r.kind == "theta" and r.row == r.col:
            std[i] = v / sd_obs[r.row] ** 2
        elif r.kind == "theta":
            # lavaan standardizes a residual covariance by the residual variances
            std[i] = v / np.sqrt(mats["theta"][r.row, r.row] * mats["theta"][r.col, r.col])
        elif r.kind == "nu":
            std[i] = v / sd_obs[r.row]
        else:
            std[i] = v / sd_lat[r.row]
    z = values / se
    estimates = pd.DataFrame(
        {
            "group": [groups[g] for g in table["group"]],
            "lhs": table["lhs"],
            "op": table["op"],
            "rhs": table["rhs"],
            "free": table["pidx"] >= 0,
            "equal": table["equal"],
            "est": values,
            "se": se,
            "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)),
            "std_all": std,
        }
    )
    negative = estimates[
        (estimates["op"] == "~~") & (estimates["lhs"] == estimates["rhs"]) & (estimates["est"] < 0)
    ]
    if not negative.empty:
        warnings.warn(
            "negative variance estimates (Heywood case): "
            + ", ".join(f"{r.lhs} in group {r.group}" for r in negative.itertuples()),
            stacklevel=2,
        )

    chi2 = n * est.discrepancy(theta)
    df = n_groups * p * (p + 3) // 2 - est.n_par
    base_chi2 = sum(
        mo[0] * (np.log(np.diag(mo[2])).sum() - ld)
        for mo, ld in zip(moments, est.logdet_s, strict=True)
    )
    base_df = n_groups * p * (p - 1) // 2
    ci = fitstats.rmsea_ci(chi2, df, n, n_groups=n_groups)
    ic = fitstats.information_criteria(logl, est.n_par, n)
    weights = np.array([mo[0] for mo in moments]) / n
    fit_measures = pd.Series(
        {
            "n": n,
            "n_groups": n_groups,
            "n_par": est.n_par,
            "chi2": chi2,
            "df": df,
            "p": fitstats.chi2_pvalue(chi2, df),
            "baseline_chi2": base_chi2,
            "baseline_df": base_df,
            "cfi": fitstats.cfi(chi2, df, base_chi2, base_df),
            "tli": fitstats.tli(chi2, df, base_chi2, base_df),
            "rmsea": fitstats.rmsea(chi2, df, n, n_groups=n_groups),
            "rmsea_ci_low": ci[0],
            "rmsea_ci_high": ci[1],
            "rmsea_pclose": fitstats.rmsea_pclose(chi2, df, n, n_groups=n_groups),
            "srmr": float(weights @ np.array(srmr_g)),
            "logl": logl,
            "aic": ic["aic"],
            "bic": ic["bic"],
            "converged": converged,
            "iterations": iterations,
        },
        dtype=object,
    )
    n_by_group = pd.Series([mo[0] for mo in moments], index=pd.Index(groups, name=group), name="n")
    return MultiGroupFit(
        model=mm,
        group=group,
        groups=groups,
        group_equal=tuple(group_equal),
        # only the names that actually lift a constraint of this model
        group_partial=tuple(
            dict.fromkeys(
                table.loc[
                    table["name"].isin(partial_names) & table["pclass"].isin(group_equal), "name"
                ]
            )
        ),
        n_by_group=n_by_group,
        estimates=estimates,
        fit_measures=fit_measures,
        implied=implied,
        vcov=vcov,
    )


# --------------------------------------------------------------------------- invariance


def _step_constraints(steps: Sequence[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    previous: tuple[str, ...] | None = None
    for step in steps:
        if step == "means":
            if previous is None or "intercepts" not in previous:
                raise ValueError("the 'means' step must follow 'scalar' or 'strict'")
            out[step] = (*previous, "means")
        elif step in STEP_CONSTRAINTS:
            out[step] = STEP_CONSTRAINTS[step]
        else:
            raise ValueError(f"unknown step {step!r}; use {[*STEP_CONSTRAINTS, 'means']}")
        previous = out[step]
    return out


def fit_invariance_models(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]] | MeasurementModel,
    group: str,
    steps: Sequence[str] = ("configural", "metric", "scalar"),
    partial: Sequence[str] | None = None,
    groups: Sequence | None = None,
    progress: bool = False,
) -> dict[str, MultiGroupFit]:
    """Fit the sequence of invariance models; returns ``{step: MultiGroupFit}``.

    Steps (cumulative, lavaan's ``group.equal``): ``configural`` (same pattern),
    ``metric`` (+ loadings), ``scalar`` (+ intercepts; latent means free in groups 2..G),
    ``strict`` (+ residual variances), and optionally ``means`` (+ equal latent means, the
    omnibus test of latent mean differences; it follows ``scalar`` or ``strict``).
    ``partial`` frees the named parameters in every step (lavaan's ``group.partial``).

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> fits = fit_invariance_models(holzinger39.get_data(),
    ...     {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
    ...      "speed": ["x7", "x8", "x9"]}, "school", steps=("configural", "metric"))
    >>> list(fits)
    ['configural', 'metric']
    """
    from tqdm import tqdm

    constraints = _step_constraints(steps)
    fits = {}
    for step in tqdm(constraints, desc=f"invariance by {group}", disable=not progress):
        fits[step] = fit_multigroup_cfa(
            data,
            model,
            group,
            group_equal=constraints[step],
            group_partial=tuple(partial or ()),
            groups=groups,
        )
    return fits


def invariance_table(fits: Mapping[str, MultiGroupFit]) -> pd.DataFrame:
    """Tidy table of invariance steps: fit, chi-square difference test and changes in fit.

    Each row compares a step with the row before it: ``delta_chi2, delta_df, delta_p``
    (likelihood-ratio test of nested ML models, as ``lavTestLRT``), ``delta_cfi``,
    ``delta_rmsea``, ``delta_srmr``. The conventional thresholds of Chen (2007) are given as
    columns (``chen_delta_cfi_min`` = -.010, ``chen_delta_rmsea_max`` = .015,
    ``chen_delta_srmr_max`` = .030 for loadings, .010 for intercepts and residuals) so the
    reader compares; no verdict is drawn.

    Columns: ``group_var, groups`` (reference first), ``step, constraints, partial, n, n_groups, n_par, chi2, df, p, cfi,
    tli, rmsea, rmsea_ci_low, rmsea_ci_high, srmr, aic, bic`` and the comparison columns.
    """
    rows = []
    previous = None
    for step, fit in fits.items():
        fm = fit.fit_measures
        row = {
            "group_var": fit.group,
            "groups": ", ".join(str(g) for g in fit.groups),
            "step": step,
            "constraints": ", ".join(fit.group_equal) or "none",
            "partial": ", ".join(fit.group_partial),
            "n": int(fm["n"]),
            "n_groups": int(fm["n_groups"]),
            "n_par": int(fm["n_par"]),
            **{
                k: float(fm[k])
                for k in (
                    "chi2",
                    "df",
                    "p",
                    "cfi",
                    "tli",
                    "rmsea",
                    "rmsea_ci_low",
                    "rmsea_ci_high",
                    "srmr",
                    "aic",
                    "bic",
                )
            },
        }
        row["df"] = int(row["df"])
        if previous is None:
            cmp = dict.fromkeys(
                [
                    "compared_with",
                    "delta_chi2",
                    "delta_df",
                    "delta_p",
                    "delta_cfi",
                    "delta_rmsea",
                    "delta_srmr",
                    "chen_delta_cfi_min",
                    "chen_delta_rmsea_max",
                    "chen_delta_srmr_max",
                ],
                np.nan,
            )
            cmp["compared_with"] = ""
        else:
            prev_step, pfm = previous
            lrt = fitstats.chi2_difference(fm["chi2"], fm["df"], pfm["chi2"], pfm["df"])
            cmp = {
                "compared_with": prev_step,
                "delta_chi2": float(lrt["delta_chi2"]),
                "delta_df": int(lrt["delta_df"]),
                "delta_p": float(lrt["p"]),
                "delta_cfi": float(fm["cfi"] - pfm["cfi"]),
                "delta_rmsea": float(fm["rmsea"] - pfm["rmsea"]),
                "delta_srmr": float(fm["srmr"] - pfm["srmr"]),
                "chen_delta_cfi_min": CHEN_CRITERIA["delta_cfi_min"],
                "chen_delta_rmsea_max": CHEN_CRITERIA["delta_rmsea_max"],
                "chen_delta_srmr_max": CHEN_CRITERIA["delta_srmr_max"].get(step, np.nan),
            }
        rows.append({**row, **cmp})
        previous = (step, fm)
    table = pd.DataFrame(rows)
    table["delta_df"] = table["delta_df"].astype("Int64")  # empty in the first row
    return table


def fit_invariance(
    data: pd.DataFrame,
    model: str | Mapping[str, Sequence[str]] | MeasurementModel,
    group: str,
    steps: Sequence[str] = ("configural", "metric", "scalar"),
    partial: Sequence[str] | None = None,
    groups: Sequence | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Test measurement invariance across ``group``: the tidy table of :func:`invariance_table`.

    Parameters as :func:`fit_invariance_models`; for latent mean differences fit the models
    with it and pass the scalar fit to :func:`latent_mean_differences`.

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> model = "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
    >>> t = fit_invariance(holzinger39.get_data(), model, "school")
    >>> print(round(t.loc[2, "delta_chi2"], 2), t.loc[2, "delta_df"])
    40.06 6
    """
    fits = fit_invariance_models(data, model, group, steps, partial, groups, progress)
    return invariance_table(fits)


def latent_mean_differences(fit: MultiGroupFit, level: float = 0.95) -> pd.DataFrame:
    """Latent mean of each factor in each group minus the reference group's (fixed at 0).

    Meaningful only under (at least partial) scalar invariance, the model in which lavaan frees
    the latent means of groups 2..G. SEs from the expected information; Wald ``z``, two-sided
    ``p`` and a ``level`` confidence interval; ``std_all`` is lavaan's standardized value (the
    difference divided by the group's latent SD).

    Columns: ``group_var, factor, group, reference, n, n_reference, diff, se, z, p, ci_low,
    ci_high, std_all``.

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> fits = fit_invariance_models(holzinger39.get_data(),
    ...     "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9",
    ...     "school", groups=["Pasteur", "Grant-White"])
    >>> latent_mean_differences(fits["scalar"])["diff"].round(3).tolist()
    [-0.148, 0.576, -0.177]
    """
    est = fit.estimates
    rows = est[(est["op"] == "~1") & est["lhs"].isin(fit.model.factors)]
    free = rows[rows["free"]]
    if free.empty:
        raise ValueError(
            "latent means are fixed in this model: fit it with equal intercepts (scalar)"
        )
    zcrit = stats.norm.ppf(0.5 + level / 2)
    reference = fit.groups[0]
    out = pd.DataFrame(
        {
            "group_var": fit.group,
            "factor": free["lhs"].to_numpy(),
            "group": free["group"].to_numpy(),
            "reference": reference,
            "n": fit.n_by_group.loc[free["group"]].to_numpy(),
            "n_reference": int(fit.n_by_group.loc[reference]),
            "diff": free["est"].to_numpy(),
            "se": free["se"].to_numpy(),
            "z": free["z"].to_numpy(),
            "p": free["p"].to_numpy(),
            "ci_low": (free["est"] - zcrit * free["se"]).to_numpy(),
            "ci_high": (free["est"] + zcrit * free["se"]).to_numpy(),
            "std_all": free["std_all"].to_numpy(),
        }
    )
    order = {f: i for i, f in enumerate(fit.model.factors)}
    return out.sort_values("factor", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def select_groups(
    data: pd.DataFrame,
    group: str,
    variables: Sequence[str],
    min_size: int = 100,
    recode: Mapping | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Complete cases for a multi-group model, with groups too small to fit set aside.

    Parameters
    ----------
    data : pandas.DataFrame
    group : str
        Grouping column.
    variables : sequence of str
        The model's observed variables (complete cases on them and on ``group``).
    min_size : int
        Groups with fewer complete cases are dropped (a multi-group model estimates every
        non-constrained parameter in each group: small groups give unstable solutions).
    recode : mapping, optional
        ``{old value: new value}`` applied first, to merge neighbouring categories (e.g.
        ``{1: 1, 2: 1, 3: 3, 4: 3}`` for years of service).

    Returns
    -------
    (data, groups) : the rows to analyse (recoded) and a table ``group_var, group, n,
    used, reason`` saying what happened to each group.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": [1] * 150 + [2] * 120 + [3] * 20, "x": 1.0})
    >>> kept, info = select_groups(d, "g", ["x"])
    >>> info[["group", "n", "used"]].to_dict("list")
    {'group': [1, 2, 3], 'n': [150, 120, 20], 'used': [True, True, False]}
    """
    frame = data.dropna(subset=[*variables, group]).copy()
    if recode:
        frame[group] = frame[group].map(lambda v: recode.get(v, v))
    counts = frame[group].value_counts().sort_index()
    info = pd.DataFrame({"group_var": group, "group": counts.index, "n": counts.to_numpy()})
    info["used"] = info["n"] >= min_size
    info["reason"] = np.where(info["used"], "", f"fewer than {min_size} complete cases")
    kept = frame[frame[group].isin(info.loc[info["used"], "group"])]
    return kept, info.reset_index(drop=True)


def domain_score_model(domains: Mapping[str, Sequence[str]], prefix: str = "score_") -> dict:
    """Factor model of domains measured by their construct scores: ``{domain: [score columns]}``.

    The default model of the invariance stage: each stress-source domain is a factor whose
    indicators are the scale scores (``score_<construct>`` of analysis.csv) of its constructs;
    the first construct is the marker. Domains with fewer than two constructs are left out
    (a factor needs two indicators to be identified together with the others).

    Examples
    --------
    >>> domain_score_model({"organizational": ["workflow", "appraisal"], "x": ["only"]})
    {'organizational': ['score_workflow', 'score_appraisal']}
    """
    return {d: [f"{prefix}{c}" for c in cons] for d, cons in domains.items() if len(cons) >= 2}


def default_model(codebook, instrument: str = "stress_sources") -> dict:
    """The invariance stage's default model for a site's codebook.

    When every domain has at least three constructs, the domains measured by their construct
    scores (:func:`domain_score_model`): few indicators, fits in seconds. Otherwise a factor
    with two indicators would rest on its correlations with the other factors alone, which
    small groups cannot carry (empirical under-identification), so each construct becomes a
    factor measured by its items.

    Examples
    --------
    >>> from policestress.config import load_site
    >>> sorted(default_model(load_site("y-subbureau-sim").codebook))[:2]
    ['occupational', 'organizational']
    >>> sorted(default_model(load_site("w-subbureau-sim").codebook))[:2]
    ['accountability', 'danger']
    """
    domains = codebook.factor_domains(instrument)
    if domains and all(len(constructs) >= 3 for constructs in domains.values()):
        return domain_score_model(domains)
    return codebook.factor_scales(instrument)
