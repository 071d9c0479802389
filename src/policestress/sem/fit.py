"""``cfa()`` and ``sem()`` with lavaan's interface, and the fitted-model object.

Examples
--------
>>> from semopy.examples import holzinger39
>>> hs = holzinger39.get_data()
>>> fit = cfa("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9", hs)
>>> fit.fit_measures()[["chisq", "df", "cfi"]].round(3).tolist()
[85.306, 24.0, 0.931]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from policestress import fitstats
from policestress.sem.constraints import ModelConstraints, constrained_inverse, jacobian, null_space
from policestress.sem.estimate import (
    FIMLObjective,
    MLObjective,
    Moments,
    constrained_scoring,
    fisher_scoring,
    observed_information,
)
from policestress.sem.missing import fiml_gradient, fiml_information
from policestress.sem.model import Representation, vech_indices
from policestress.sem.partable import partable as build_partable
from policestress.sem.semopy_backend import fit_with_semopy, semopy_applicable
from policestress.sem.syntax import ParsedModel, parse
from policestress.threads import one_blas_thread

__all__ = ["SEMFit", "ConvergenceError", "cfa", "sem", "ESTIMATORS", "MISSING"]

ESTIMATORS = ("ML", "MLM", "MLR")
MISSING = ("listwise", "ml")
_MISSING_ALIASES = {"listwise": "listwise", "ml": "ml", "fiml": "ml", "direct": "ml"}


class ConvergenceError(RuntimeError):
    """A model was not fitted, or its estimator did not reach an admissible ML solution."""


# ----------------------------------------------------------------------------- helpers


def _collinear_items(s: np.ndarray, names: list[str], tol: float = 1e-8) -> list[str]:
    """Items of the smallest eigenvector(s) of a not positive definite covariance matrix."""
    vals, vecs = np.linalg.eigh(s)
    small = vals <= tol * max(vals.max(), 1.0)
    if not small.any():
        small = vals == vals.min()
    weights = np.abs(vecs[:, small]).max(axis=1)
    return [names[i] for i in np.flatnonzero(weights > 0.1)]


def _masked_sqrt(v: np.ndarray) -> np.ndarray:
    """Square roots of variances, NaN (not a numpy warning) where a variance is negative:
    a Heywood case has no standard deviation; fit.warnings names it."""
    v = np.asarray(v, dtype=float)
    out = np.full(v.shape, np.nan)
    ok = v >= 0
    out[ok] = np.sqrt(v[ok])
    return out


# ----------------------------------------------------------------------------- result


def modindices_table(rows: list[tuple], columns: list[str], minimum: float, sort: bool):
    """The modification-index rows as lavaan's ``modindices`` table: candidates that would
    not be identified (mi NaN) and those under ``minimum`` left out; with ``sort`` the largest
    mi first (ties, which equivalent parameters produce, by name)."""
    table = pd.DataFrame(rows, columns=columns).dropna(subset=["mi"])
    table = table[table["mi"] > minimum]
    if sort:
        order = table.assign(_mi=table["mi"].round(6)).sort_values(
            ["_mi", "lhs", "op", "rhs", "group"], ascending=[False, True, True, True, True]
        )
        table = table.loc[order.index]
    return table.reset_index(drop=True)


def _sepc_factor(mm, kind: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per candidate entry (matrix ``kind``, row ``r``, column ``c``) the factor that turns
    its EPC into lavaan's ``sepc.all`` (the EPC standardized as ``std.all``)."""
    sd_obs = np.sqrt(np.diag(mm.sigma))
    sd_eta = np.sqrt(np.abs(np.diag(mm.phi)))
    res_obs, res_eta = np.diag(mm.theta), np.diag(mm.psi)
    rules = {
        "lambda": lambda i, j: sd_eta[j] / sd_obs[i],
        "beta": lambda i, j: sd_eta[j] / sd_eta[i],
        "theta": lambda i, j: 1 / np.sqrt(np.abs(res_obs[i] * res_obs[j])),
        "psi": lambda i, j: 1 / np.sqrt(np.abs(res_eta[i] * res_eta[j])),
        "nu": lambda i, j: 1 / sd_obs[i],
        "alpha": lambda i, j: 1 / sd_eta[i],
    }
    out = np.empty(len(kind))
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, rule in rules.items():
            sel = kind == name
            out[sel] = rule(r[sel], c[sel])
    return out


@dataclass
class SEMFit:
    """A fitted model: lavaan's ``lavaan`` object, in the parts this project uses.

    Attributes
    ----------
    name : str
    partable : DataFrame
        lavaan's parameter table with ``est`` (and ``se`` once fitted).
    estimator, missing : str
    group : str or None
    group_labels : list
    n_by_group : list of int
        Observations used per group; ``ntotal`` their sum; ``n_dropped`` rows left out.
    converged : bool
    warnings : list of str
        What lavaan would warn about, and why a model was not fitted.
    """

    name: str
    model_type: str
    parsed: ParsedModel
    partable: pd.DataFrame
    estimator: str
    missing: str
    group: str | None
    group_labels: list
    n_by_group: list[int]
    n_dropped: int
    observed: list[str]
    latent: list[str]
    rep: Representation | None
    moments: list[Moments]
    theta: np.ndarray
    converged: bool
    iterations: int
    warnings: list[str] = field(default_factory=list)
    data: list[np.ndarray] = field(default_factory=list, repr=False)
    syntax: str = ""
    patterns: list = field(default_factory=list, repr=False)  # FIML: missing-data patterns
    h1: list = field(default_factory=list, repr=False)  # FIML: EM estimates of the H1 model
    constraints: ModelConstraints | None = None  # ==, <, >, := of the syntax
    active: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # at bound
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.constraints is None and len(self.partable):
            self.constraints = ModelConstraints.build(self.partable, self.parsed.constraints)
            self.active = np.zeros(len(self.constraints.inequalities), dtype=bool)

    # -- basic quantities ---------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        return int(sum(self.n_by_group))

    @property
    def n_free(self) -> int:
        """Length of the free parameter vector (``theta``)."""
        return int(self.partable["free"].max()) if self.rep is not None else 0

    @property
    def npar(self) -> int:
        """lavaan's ``npar``: free parameters less the rank of the Jacobian of the equality
        constraints (``lav_utils_get_npar``); inequality constraints do not count."""
        if self.rep is None:
            return 0
        if not (self.constraints and self.constraints.equalities):
            return self.n_free
        theta = self.theta if self.fitted else self._start()
        return self.n_free - null_space(self._constraint_jacobian(theta, active_only=False))[1]

    def _start(self) -> np.ndarray:
        """The start values (zeros when the model was refused before any were computed)."""
        return self._cache.get("start", np.zeros(self.n_free))

    def _constraint_jacobian(self, theta: np.ndarray, active_only: bool = True) -> np.ndarray:
        """Jacobian of the equality constraints and (``active_only``) the active inequality
        constraints at ``theta``: lavaan's ``con.jac`` without its inactive rows."""
        con, free = self.constraints, self.partable["free"].to_numpy()
        if con is None or not con.restricts:
            return np.zeros((0, self.n_free))

        def values(t):
            eq = con.equality(t, free) if con.equalities else np.zeros(0)
            if not active_only or not con.inequalities:
                return eq
            return np.concatenate([eq, con.inequality(t, free)[self.active]])

        return jacobian(values, theta)

    def information_inverse(self) -> np.ndarray:
        """Inverse of the unit information, under the constraints as lavaan inverts the
        augmented information (``K (K' I K)^-1 K'``, :func:`~policestress.sem.constraints.constrained_inverse`)."""
        if "information_inverse" not in self._cache:
            info = self.information()
            jac = self._constraint_jacobian(self.theta)
            if jac.shape[0]:
                self._cache["information_inverse"] = constrained_inverse(info, jac)
            else:
                self._cache["information_inverse"] = np.linalg.inv(info)
        return self._cache["information_inverse"]

    @property
    def fitted(self) -> bool:
        """True when the estimator ran (it may still not have converged)."""
        return self.rep is not None and self.theta.size == self.n_free

    @property
    def n(self) -> int:
        """Observations used (all groups)."""
        return self.ntotal

    @property
    def message(self) -> str:
        """``"converged"``, or the warnings (why the model failed, what is improper)."""
        if self.fitted and self.converged and not self.warnings:
            return "converged"
        return "; ".join(self.warnings) or ("converged" if self.converged else "not converged")

    @property
    def sample_cov(self) -> np.ndarray:
        """Group 1's sample covariance (divisor N; under FIML the EM estimate of the H1
        model, lavaan's ``lavInspect(fit, "h1")``)."""
        return self.moments[0].cov

    @property
    def implied_cov(self) -> np.ndarray:
        return self.matrices(0).sigma

    @property
    def latent_cov(self) -> np.ndarray:
        """Group 1's (total) covariance matrix of the latent variables, ``fit.latent`` order."""
        k = len(self.latent)
        return self.matrices(0).phi[:k, :k]

    def matrices(self, g: int = 0):
        """Model matrices and implied moments of group ``g`` (0-based)."""
        return self.rep.matrices(self.theta, g)

    def implied(self) -> list[dict[str, np.ndarray]]:
        """Per group the model-implied ``cov`` and ``mean`` (lavInspect "implied")."""
        out = []
        for g in range(len(self.n_by_group)):
            mm = self.matrices(g)
            out.append({"cov": mm.sigma, "mean": mm.mu})
        return out

    def delta(self, g: int = 0) -> np.ndarray:
        """lavaan's Delta of group ``g`` (moment vector [mu, vech(Sigma)] by free parameter)."""
        return self.rep.delta(self.theta, g)

    def _objective(self):
        if "objective" not in self._cache:
            self._cache["objective"] = _make_objective(
                self.rep, self.moments, self.patterns, self.missing
            )
        return self._cache["objective"]

    @property
    def information_type(self) -> str:
        """lavaan's default: "expected" for ML/MLM on complete data, "observed" for FIML and
        MLR."""
        return "observed" if self.missing == "ml" or self.estimator == "MLR" else "expected"

    def information(self) -> np.ndarray:
        """Unit information (lavInspect "information"; total = N times this): expected, or
        observed (minus the Hessian of the log-likelihood over N, lavaan's
        ``lav_model_hessian``, analytically: :func:`~policestress.sem.estimate.observed_information`)."""
        if "information" not in self._cache:
            obj = self._objective()
            with one_blas_thread():
                if self.information_type == "expected":
                    info = obj.value_gradient_information(self.theta)[2] / 2.0
                else:
                    info = observed_information(self.rep, self.theta, self._h1_patterns())
            self._cache["information"] = info
        return self._cache["information"]

    def _h1_patterns(self) -> list:
        """Per group the data as :class:`~policestress.sem.missing.MissingPatterns` (complete
        data: summarised by their moments)."""
        from policestress.sem.missing import MissingPatterns

        if self.missing == "ml":
            return self.patterns
        return [MissingPatterns.from_moments(mo.mean, mo.cov, mo.n) for mo in self.moments]

    def vcov(self) -> np.ndarray:
        """Covariance matrix of the free parameters (lavaan's ``vcov``)."""
        if "vcov" not in self._cache and self.estimator != "ML":
            try:
                with one_blas_thread():  # as fit_measures
                    self._cache["vcov"] = self._robust()[0].vcov
            except np.linalg.LinAlgError:
                self._cache["vcov"] = np.full((self.n_free, self.n_free), np.nan)
        if "vcov" not in self._cache:
            try:
                self._cache["vcov"] = self.information_inverse() / self.ntotal
            except np.linalg.LinAlgError:
                self._cache["vcov"] = np.full((self.n_free, self.n_free), np.nan)
        return self._cache["vcov"]

    # -- tables -------------------------------------------------------------------------

    def parameter_estimates(
        self, level: float = 0.95, remove_eq: bool = True, remove_ineq: bool = True
    ) -> pd.DataFrame:
        """lavaan's ``parameterEstimates``: ``lhs, op, rhs, group, label, est, se, z, pvalue,
        ci.lower, ci.upper``, then (group 0) the ``:=`` rows and, with ``remove_eq=False`` /
        ``remove_ineq=False``, the ``==`` / ``<`` ``>`` rows, in the order written.

        As lavaan: a standard error below ``sqrt(eps)`` (fixed parameters, a parameter held
        at an inequality bound, a defined parameter fixed by a constraint) is 0 with no z or
        p; a defined parameter's SE is the delta method's; a constraint row's ``est`` is
        ``lhs - rhs`` (``rhs - lhs`` for ``<``) at the estimates, with SE 0.
        """
        pt = self.partable
        free = pt["free"].to_numpy()
        values = self.rep.values(self.theta) if self.fitted else pt["ustart"].to_numpy()
        if self.fitted:
            var = np.diag(self.vcov())
            se_free = _masked_sqrt(var)
            se = np.where(free > 0, se_free[np.maximum(free, 1) - 1], 0.0)
        else:
            se = np.full(len(pt), np.nan)
        table = pd.DataFrame(
            {
                "lhs": pt["lhs"],
                "op": pt["op"],
                "rhs": pt["rhs"],
                "group": pt["group"],
                "label": pt["label"],
                "est": values,
                "se": se,
            }
        )
        con = self.constraints
        if con is not None and con.order and self.fitted:
            est = con.row_values(self.theta, free)
            se_rows = np.zeros(len(con.order))
            if con.definitions:
                jac = jacobian(lambda t: con.defined(t, free), self.theta)
                def_var = np.diag(jac @ self.vcov() @ jac.T).copy()
                # a definition fixed by a constraint has variance zero, up to rounding
                def_var[np.abs(def_var) < np.finfo(float).eps ** 0.75] = 0.0
                def_se = _masked_sqrt(def_var)
                where = [k for k, c in enumerate(con.order) if c[1] == ":="]
                se_rows[where] = def_se
            extra = pd.DataFrame(
                {
                    "lhs": [c[0] for c in con.order],
                    "op": [c[1] for c in con.order],
                    "rhs": [c[2] for c in con.order],
                    "group": 0,
                    "label": [c[0] if c[1] == ":=" else "" for c in con.order],
                    "est": est,
                    "se": se_rows,
                }
            )
            drop = (["=="] if remove_eq else []) + (["<", ">"] if remove_ineq else [])
            extra = extra[~extra["op"].isin(drop)]
            table = pd.concat([table, extra], ignore_index=True)
        small = table["se"].to_numpy() < np.sqrt(np.finfo(float).eps)
        table.loc[small, "se"] = 0.0
        zcrit = stats.norm.ppf(0.5 + level / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(table["se"] > 0, table["est"] / table["se"], np.nan)
        table["z"] = z
        table["pvalue"] = 2 * stats.norm.sf(np.abs(z))
        table["ci.lower"] = table["est"] - zcrit * table["se"]
        table["ci.upper"] = table["est"] + zcrit * table["se"]
        return table.reset_index(drop=True)

    def _std_values(self, theta: np.ndarray) -> np.ndarray:
        """lavaan's ``std.all`` of every parameter-table row (then the defined parameters)."""
        values = self.rep.values(theta)
        out = np.full(len(values), np.nan)
        for g, spec in enumerate(self.rep.specs):
            mm = self.rep.matrices(theta, g, values)
            sd_obs = _masked_sqrt(np.diag(mm.sigma))
            sd_eta = _masked_sqrt(np.diag(mm.phi))
            res_obs = np.diag(mm.theta).copy()
            res_eta = np.diag(mm.psi).copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                for k, row in enumerate(spec.rows):
                    kind, r, c, v = spec.kind[k], spec.r[k], spec.c[k], values[row]
                    if kind == "lambda":
                        out[row] = v * sd_eta[c] / sd_obs[r]
                    elif kind == "beta":
                        out[row] = v * sd_eta[c] / sd_eta[r]
                    elif kind == "theta":
                        out[row] = (
                            v / sd_obs[r] ** 2
                            if r == c
                            else v / np.sqrt(np.abs(res_obs[r] * res_obs[c]))
                        )
                    elif kind == "psi":
                        # lavaan divides a covariance by sqrt(|var_i var_j|): a negative
                        # variance (Heywood case) still gives a correlation
                        out[row] = (
                            v / sd_eta[r] ** 2
                            if r == c
                            else v / np.sqrt(np.abs(res_eta[r] * res_eta[c]))
                        )
                    elif kind == "nu":
                        out[row] = v / sd_obs[r]
                    else:
                        out[row] = v / sd_eta[r]
        return out

    def standardized_solution(self, level: float = 0.95) -> pd.DataFrame:
        """lavaan's ``standardizedSolution`` (type ``std.all``): ``est.std`` and its delta-method
        ``se``, z, p and interval."""
        pt = self.partable
        std = self._std_values(self.theta)
        jac = jacobian(self._std_values, self.theta)
        cov = jac @ self.vcov() @ jac.T
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        se[np.abs(se) < 1e-12] = 0.0
        table = pd.DataFrame(
            {
                "lhs": pt["lhs"],
                "op": pt["op"],
                "rhs": pt["rhs"],
                "group": pt["group"],
                "label": pt["label"],
                "est.std": std,
                "se": se,
            }
        )
        zcrit = stats.norm.ppf(0.5 + level / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, std / se, np.nan)
        table["z"] = z
        table["pvalue"] = 2 * stats.norm.sf(np.abs(z))
        table["ci.lower"] = std - zcrit * se
        table["ci.upper"] = std + zcrit * se
        return table

    def modindices(self, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """lavaan's ``modindices``: score test of freeing each fixed-at-zero parameter alone.

        Candidates per group (as ``lav_partable_full`` and ``lav_object_extended(all.free =
        TRUE)``): loadings of every observed variable on every factor, residual covariances
        of every pair of observed variables, covariances of latent variables not yet in the
        model, and every fixed parameter of the model other than the ``fixed.x`` ones (a
        marker, a fixed value, a latent mean fixed at 0). ``mi = N g^2 / V`` with the unit
        expected information, ``V = I11 - I12 I22^-1 I21``; a candidate whose freeing would
        not be identified (``V`` below ``eps^(1/3)``, e.g. a marker of a one-group model) is
        left out, as lavaan; ``epc = -g / V``; ``sepc.all`` the EPC standardized as
        ``std.all``. In a multi-group model with equal loadings the markers are listed.

        Returns
        -------
        DataFrame with ``lhs, op, rhs, group, mi, epc, sepc.all``, largest ``mi`` first (ties,
        which equivalent parameters produce, by name).
        """
        cols = ["lhs", "op", "rhs", "group", "mi", "epc", "sepc.all"]
        if not self.fitted:
            return pd.DataFrame(columns=cols)
        rep, n = self.rep, self.ntotal
        # lavaan: the score (gradient of the log-likelihood) and the *expected* information,
        # whatever the estimator; under FIML both are sums over the missing-data patterns of
        # their observed variables' moments (lav_mvnorm_missing: "structured", at the
        # model-implied moments). Both are taken once per group in moment space ([mu,]
        # vech Sigma, :mod:`policestress.sem.missing`) and carried to the free parameters and
        # to the candidates by their Jacobians: matrix products, no loop over the patterns.
        patterns = self._h1_patterns()
        rows_v, cols_v = vech_indices(rep.p)

        def moment_jacobian(ds: np.ndarray, dm: np.ndarray) -> np.ndarray:
            part = ds[:, rows_v, cols_v]
            return np.hstack([dm, part]) if rep.meanstructure else part

        expected = np.zeros((self.n_free, self.n_free))
        groups = []
        with one_blas_thread():
            for g in range(len(rep.specs)):
                mm, pats = rep.matrices(self.theta, g), patterns[g]
                # without a mean structure (complete data: one pattern) the score is taken
                # at the sample mean, where its mean part vanishes
                mu = mm.mu if rep.meanstructure else pats.means[0]
                info = fiml_information(
                    pats, mu, mm.sigma, kind="expected", meanstructure=rep.meanstructure
                )
                info *= pats.n / n  # the unit information of all groups: weight n_g / N
                score = fiml_gradient(pats, mu, mm.sigma)
                if not rep.meanstructure:
                    score = score[rep.p :]
                delta_f = moment_jacobian(*rep.derivatives(mm, g))
                used = rep.used[g]
                expected[np.ix_(used, used)] += delta_f @ info @ delta_f.T
                groups.append((mm, info, score, delta_f))
            jac = self._constraint_jacobian(self.theta)
            vcov_unit = (
                constrained_inverse(expected, jac) if jac.shape[0] else np.linalg.inv(expected)
            )
            rows = []
            for g, (mm, info, score, delta_f) in enumerate(groups):
                cand, names = self._modindex_candidates(g)
                if not cand:
                    continue
                kind = np.array([c[0] for c in cand])
                r = np.array([c[1] for c in cand])
                c = np.array([c[2] for c in cand])
                delta_c = moment_jacobian(*rep.entry_derivatives(mm, kind, r, c))
                grad = -(delta_c @ score) / n  # gradient of F / 2 (lavaan's fmin)
                info_c = delta_c @ info
                i11 = np.einsum("km,km->k", info_c, delta_c)
                full12 = np.zeros((len(cand), self.n_free))
                full12[:, rep.used[g]] = info_c @ delta_f.T
                v = i11 - np.einsum("ka,ab,kb->k", full12, vcov_unit, full12)
                v = np.where(v < np.finfo(float).eps ** (1 / 3), np.nan, v)
                mi, epc = n * grad**2 / v, -grad / v
                sepc = epc * _sepc_factor(mm, kind, r, c)
                rows.extend(
                    (*name, g + 1, *values)
                    for name, values in zip(names, zip(mi, epc, sepc, strict=True), strict=True)
                )
        return modindices_table(rows, cols, minimum, sort)

    def _modindex_candidates(self, g: int) -> tuple[list[tuple], list[tuple]]:
        """Group ``g``'s modification-index candidates as matrix entries (kind, row, column)
        and as parameter-table names (lhs, op, rhs), in lavaan's order (see :meth:`modindices`)."""
        rep, spec = self.rep, self.rep.specs[g]
        real = [k for k, f in enumerate(rep.eta) if f in self.latent]
        plain = [i for i, x in enumerate(self.observed) if x not in rep.dummies]
        present = set(zip(spec.kind, spec.r, spec.c, strict=True))
        cand, names = [], []
        for j in real:
            for i in plain:
                if ("lambda", i, j) not in present:
                    cand.append(("lambda", i, j))
                    names.append((rep.eta[j], "=~", self.observed[i]))
        for a in range(len(plain)):
            for b in range(a):
                i, j = plain[a], plain[b]
                if ("theta", max(i, j), min(i, j)) not in present:
                    cand.append(("theta", max(i, j), min(i, j)))
                    names.append((self.observed[j], "~~", self.observed[i]))
        for a in range(rep.m):
            for b in range(a):
                if ("psi", a, b) not in present:
                    cand.append(("psi", a, b))
                    names.append((rep.eta[b], "~~", rep.eta[a]))
        exo = self.partable["exo"].to_numpy()
        lhs, op, rhs = (self.partable[c].to_numpy() for c in ("lhs", "op", "rhs"))
        for k in np.flatnonzero((spec.free < 0) & (exo[spec.rows] == 0)):
            cand.append((spec.kind[k], spec.r[k], spec.c[k]))
            row = spec.rows[k]
            names.append((lhs[row], op[row], rhs[row]))
        return cand, names

    # -- fit measures -------------------------------------------------------------------

    def _exogenous_counts(self) -> int:
        return len(self.partable.attrs["variables"].ov_x)

    def _ndat(self) -> int:
        p = len(self.observed)
        per = p * (p + 1) // 2 + (p if self.rep.meanstructure else 0)
        nx = self._exogenous_counts()
        per -= nx * (nx + 1) // 2 + (nx if self.rep.meanstructure else 0)
        return per * len(self.n_by_group)

    def _baseline_chisq(self) -> float:
        """lavaan's independence model (free variances, and means; exogenous block kept)."""
        if self.missing == "ml":
            from policestress.sem.missing import baseline_fiml, missing_patterns

            # fixed.x: lavaan's baseline keeps the covariates' block saturated (their own
            # complete-data likelihood) and makes the other variables independent of them
            xi = [self.observed.index(x) for x in self.partable.attrs["variables"].ov_x]
            yi = [j for j in range(len(self.observed)) if j not in xi]
            base = 0.0
            for g, pats in enumerate(self.patterns):
                if not xi:
                    base += baseline_fiml(pats).loglik
                    continue
                x = self.data[g]
                base += baseline_fiml(missing_patterns(x[:, yi])).loglik
                base += self._x_marginal_loglik(x, xi)
            return float(2.0 * (sum(h.loglik for h in self.h1) - base))
        ov_x = self.partable.attrs["variables"].ov_x
        xi = [self.observed.index(x) for x in ov_x]
        total = 0.0
        for mo in self.moments:
            s = mo.cov
            rest = [i for i in range(len(self.observed)) if i not in xi]
            logdet0 = np.log(np.diag(s)[rest]).sum()
            if xi:
                logdet0 += np.linalg.slogdet(s[np.ix_(xi, xi)])[1]
            total += mo.n * (logdet0 - np.linalg.slogdet(s)[1])
        return float(total)

    def _baseline_df(self) -> int:
        p = len(self.observed)
        nx = self._exogenous_counts()
        per = p * (p - 1) // 2 - nx * (nx - 1) // 2
        return per * len(self.n_by_group)

    def _srmr(self) -> float:
        out = 0.0
        for g, mo in enumerate(self.moments):
            mm = self.matrices(g)
            sd = np.sqrt(np.diag(mo.cov))
            r = (mo.cov - mm.sigma) / np.outer(sd, sd)
            parts = [r[np.tril_indices(len(sd))]]
            if self.rep.meanstructure:
                parts.insert(0, (mo.mean - mm.mu) / sd)
            out += mo.n / self.ntotal * float(np.sqrt(np.mean(np.concatenate(parts) ** 2)))
        return out

    def _gfi(self) -> float:
        """lavaan's GFI (``lav_fit_gfi``): ``1 - e'We / o'Wo`` per group, weighted by n_g / N,
        with ``o`` the sample moments ([means,] vech S), ``e`` their residuals and ``W`` the
        expected h1 information at the implied moments (lavaan's ``WLS.V``; under FIML the
        missing-data one, and lavaan's FIML "sample" moments: available-case means and
        pairwise covariances on divisor N). The moments of ``fixed.x`` covariates are left
        out, as lavaan does."""
        p = len(self.observed)
        rows, cols = vech_indices(p)
        xi = [self.observed.index(x) for x in self.partable.attrs["variables"].ov_x]
        keep = ~(np.isin(rows, xi) & np.isin(cols, xi))
        ms = self.rep.meanstructure
        if ms:
            keep = np.concatenate([~np.isin(np.arange(p), xi), keep])
        mult = np.where(rows == cols, 1.0, 2.0)
        out = 0.0
        for g, mo in enumerate(self.moments):
            mm = self.matrices(g)
            if self.missing == "ml":
                from policestress.sem.missing import fiml_information

                x = self.data[g]
                n_g = x.shape[0]
                pairwise = pd.DataFrame(x).cov().to_numpy() * (n_g - 1) / n_g
                mo = Moments(n_g, np.nanmean(x, axis=0), pairwise)
                big = fiml_information(self.patterns[g], mm.mu, mm.sigma, kind="expected")
            else:
                w = np.linalg.inv(mm.sigma)
                big = (
                    0.25
                    * (
                        w[np.ix_(rows, rows)] * w[np.ix_(cols, cols)]
                        + w[np.ix_(rows, cols)] * w[np.ix_(cols, rows)]
                    )
                    * np.outer(mult, mult)
                )
                if ms:
                    q = big.shape[0]
                    full = np.zeros((p + q, p + q))
                    full[:p, :p] = w
                    full[p:, p:] = big
                    big = full
            o = mo.cov[rows, cols]
            e = o - mm.sigma[rows, cols]
            if ms:
                o = np.concatenate([mo.mean, o])
                e = np.concatenate([mo.mean - mm.mu, e])
            big = big[np.ix_(keep, keep)]
            o, e = o[keep], e[keep]
            out += mo.n / self.ntotal * (1.0 - (e @ big @ e) / (o @ big @ o))
        return float(out)

    def _loglik(self) -> tuple[float, float]:
        """lavaan's ``logl`` and ``unrestricted.logl``; with ``fixed.x`` the covariates'
        own (saturated) likelihood is left out, as lavaan does."""
        xi = [self.observed.index(x) for x in self.partable.attrs["variables"].ov_x]
        if self.missing == "ml":
            marginal = sum(self._x_marginal_loglik(x, xi) for x in self.data) if xi else 0.0
            logl = self._objective().loglik(self.theta) - marginal
            return logl, float(sum(h.loglik for h in self.h1)) - marginal
        logl = logl_h1 = 0.0
        for g, mo in enumerate(self.moments):
            mm = self.matrices(g)
            logl += fitstats.loglik_normal(mm.sigma, mo.cov, mo.n)
            if self.rep.meanstructure:
                d = mo.mean - mm.mu
                logl -= mo.n / 2 * float(d @ np.linalg.solve(mm.sigma, d))
            logl_h1 += fitstats.loglik_normal(mo.cov, mo.cov, mo.n)
            if xi:
                sxx = mo.cov[np.ix_(xi, xi)]
                marginal = fitstats.loglik_normal(sxx, sxx, mo.n)
                logl -= marginal
                logl_h1 -= marginal
        return logl, logl_h1

    @staticmethod
    def _x_marginal_loglik(x: np.ndarray, xi: list[int]) -> float:
        """The saturated log-likelihood of the (complete) fixed.x covariates ``x[:, xi]``."""
        sxx = np.cov(x[:, xi], rowvar=False, bias=True).reshape(len(xi), len(xi))
        return fitstats.loglik_normal(sxx, sxx, x.shape[0])

    def _robust_groups(self):
        """Per group what :mod:`policestress.sem.robust` needs (data patterns, implied moments,
        Delta, H1 moments)."""
        from policestress.sem import robust
        from policestress.sem.missing import missing_patterns

        out = []
        for g in range(len(self.n_by_group)):
            mm = self.matrices(g)
            pats = self.patterns[g] if self.patterns else missing_patterns(self.data[g])
            h1 = (self.h1[g].mu, self.h1[g].sigma) if self.h1 else None
            mu = mm.mu if self.rep.meanstructure else None
            xi = tuple(self.observed.index(x) for x in self.partable.attrs["variables"].ov_x)
            out.append(robust.RobustGroup(pats, mu, mm.sigma, self.delta(g), h1, xi))
        return out

    def _baseline_groups(self, groups):
        """The baseline model of :meth:`_robust_groups` (fixed.x block kept, as lavaan)."""
        from policestress.sem import robust

        return robust.baseline_groups(
            [gr.patterns for gr in groups],
            self.rep.meanstructure,
            x_idx=groups[0].x_idx,
            h1=[gr.unrestricted() for gr in groups],
        )

    def _robust(self, estimator: str | None = None):
        """(model, baseline) :class:`~policestress.sem.robust.RobustResult` of ``estimator``
        (default the fit's; ``"MLM"`` gives the Satorra-Bentler test of an ML fit)."""
        from policestress.sem import robust

        estimator = estimator or self.estimator
        key = f"robust_{estimator}"
        if key not in self._cache:
            fm = self._plain_measures()
            groups = self._robust_groups()
            base = self._baseline_groups(groups)
            chisq, df = fm["chisq"], int(fm["df"])
            chisq_b, df_b = fm["baseline.chisq"], int(fm["baseline.df"])
            # under constraints E^-1 is lavaan's inverted augmented information
            restricted = self.constraints is not None and self.constraints.restricts
            e_inv = self.information_inverse() if restricted else None
            if estimator == "MLM":
                res = robust.mlm(groups, chisq, df, information_inverse=e_inv)
                res_b = robust.mlm(base, chisq_b, df_b)
            elif estimator == "MLR":
                res = robust.mlr(groups, self.information(), chisq, df, information_inverse=e_inv)
                res_b = robust.mlr(base, robust.baseline_information(base), chisq_b, df_b)
            else:
                raise ValueError(f"no robust correction for estimator {estimator!r}")
            self._cache[key] = (res, res_b, groups, base)
        return self._cache[key]

    def satorra_bentler(self):
        """lavaan's Satorra-Bentler scaled test (``estimator = "MLM"``'s) of this fit, a
        :class:`~policestress.sem.robust.ScaledTest`; complete data only."""
        if self.missing != "listwise":
            raise ValueError("the Satorra-Bentler test needs complete data (missing='listwise')")
        return self._robust("MLM")[0].test

    def _robust_measures(self) -> dict[str, float]:
        from policestress.sem import robust

        res, res_b, _, _ = self._robust()
        n, G = self.ntotal, len(self.n_by_group)
        t, tb = res.test, res_b.test
        out = {
            "chisq.scaled": t.chisq_scaled,
            "df.scaled": t.df,
            "pvalue.scaled": t.pvalue_scaled,
            "chisq.scaling.factor": t.scaling_factor,
            "baseline.chisq.scaled": tb.chisq_scaled,
            "baseline.df.scaled": tb.df,
            "baseline.pvalue.scaled": tb.pvalue_scaled,
            "baseline.chisq.scaling.factor": tb.scaling_factor,
        }
        out |= robust.scaled_fit_indices(t, tb, n, G)
        if self.missing == "ml":
            out |= self._fiml_robust_indices("V3")
        else:
            args = (t.chisq, t.df, t.scaling_factor, tb.chisq, tb.df, tb.scaling_factor)
            out |= robust.robust_fit_indices(*args, n, G)
        return out

    def _fiml_robust_indices(self, version: str) -> dict[str, float]:
        """lavaan's robust CFI/TLI/RMSEA under FIML (``lav_fit_fiml_corrected``): version
        "V3" with a scaled test (MLR), "V6" for plain ML, which lavaan 0.6 reports too."""
        from policestress.sem import robust

        groups = self._robust_groups()
        base = self._baseline_groups(groups)
        fc = robust.fiml_corrected(
            [gr.patterns for gr in groups],
            [gr.unrestricted() for gr in groups],
            [gr.implied() for gr in groups],
            [gr.delta for gr in groups],
            int(self._plain_measures()["df"]),
            [gr.implied() for gr in base],
            version=version,
            constraint_jacobian=self._constraint_jacobian(self.theta),
            baseline_deltas=[gr.delta for gr in base],
            x_idx=groups[0].x_idx,
        )
        args = (fc.xx3, fc.df3, fc.c_hat3, fc.xx3_null, fc.df3_null, fc.c_hat3_null)
        return robust.robust_fit_indices(*args, self.ntotal, len(self.n_by_group))

    def fit_measures(self) -> pd.Series:
        """lavaan's ``fitMeasures``, keyed by lavaan's names: for MLM and MLR also the scaled
        test and lavaan 0.6's scaled and robust CFI/TLI/RMSEA; for ML under FIML the robust
        CFI/TLI/RMSEA (with interval and close-fit p), as lavaan 0.6 reports them there too;
        for ML on complete data neither, as lavaan."""
        if "fit_measures_all" not in self._cache:
            # one BLAS thread, as for the fit: the chain runs stages side by side on every
            # core, and threads waiting for each other cost more than they save here
            with one_blas_thread():
                series = self._plain_measures()
                if self.fitted and series["df"] > 0:
                    if self.estimator != "ML":
                        extra = self._robust_measures()
                    elif self.missing == "ml":
                        extra = self._fiml_robust_indices("V6")
                    else:
                        extra = {}
                    series = pd.concat([series, pd.Series(extra, dtype=float)])
            self._cache["fit_measures_all"] = series
        return self._cache["fit_measures_all"].copy()

    def _plain_measures(self) -> pd.Series:
        if "fit_measures" in self._cache:
            return self._cache["fit_measures"].copy()
        n, G = self.ntotal, len(self.n_by_group)
        out: dict[str, float] = {"npar": self.npar, "ntotal": n, "ngroups": G}
        if not self.fitted:
            return pd.Series(out, dtype=float)
        chisq = max(n * self._objective().value(self.theta), 0.0)
        df = self._ndat() - self.npar
        base, base_df = self._baseline_chisq(), self._baseline_df()
        logl, logl_h1 = self._loglik()
        low, high = fitstats.rmsea_ci(chisq, df, n, n_groups=G)
        gfi = self._gfi()
        # lavaan's AGFI counts every sample moment, the fixed.x covariates' included
        p = len(self.observed)
        nel = (p * (p + 1) // 2 + (p if self.rep.meanstructure else 0)) * G
        out.update(
            {
                "chisq": chisq,
                "df": df,
                "pvalue": fitstats.chi2_pvalue(chisq, df),
                "baseline.chisq": base,
                "baseline.df": base_df,
                "baseline.pvalue": fitstats.chi2_pvalue(base, base_df),
                "cfi": fitstats.cfi(chisq, df, base, base_df),
                "tli": fitstats.tli(chisq, df, base, base_df),
                "nfi": fitstats.nfi(chisq, df, base, base_df),
                "logl": logl,
                "unrestricted.logl": logl_h1,
                **fitstats.information_criteria(logl, self.npar, n).to_dict(),
                "rmsea": fitstats.rmsea(chisq, df, n, n_groups=G),
                "rmsea.ci.lower": low,
                "rmsea.ci.upper": high,
                "rmsea.pvalue": fitstats.rmsea_pclose(chisq, df, n, n_groups=G),
                "srmr": self._srmr(),
                "gfi": gfi,
                "agfi": 1.0 - nel / df * (1.0 - gfi) if df > 0 else math.nan,
            }
        )
        series = pd.Series(out, dtype=float)
        self._cache["fit_measures"] = series
        return series.copy()


# ------------------------------------------------------------------------------ fitting


def _start_values(
    rep: Representation, table: pd.DataFrame, moments: list[Moments], variables
) -> np.ndarray:
    """Start values: user ``start()``, else simple data-based values (lavaan-like)."""
    obs = {v: i for i, v in enumerate(rep.observed)}
    records = table.to_dict("records")  # row access without pandas' per-row copies
    table = pd.DataFrame(table)  # a frame without attrs: no deep copies of them per subset
    table.attrs = {}
    sums = np.zeros(rep.n_free)
    counts = np.zeros(rep.n_free)
    for g, spec in enumerate(rep.specs):
        s, mean = moments[g].cov, moments[g].mean
        sub = table.loc[spec.rows]
        # per factor: leading eigenvector of its observed indicators, scaled to its marker
        load_start: dict[tuple[str, str], float] = {}
        var_start: dict[str, float] = {}
        for f, items in variables.indicators.items():
            o = [x for x in items if x in obs]
            rows = sub[(sub["op"] == "=~") & (sub["lhs"] == f)]
            if len(o) >= 2:
                idx = [obs[x] for x in o]
                vals, vecs = np.linalg.eigh(s[np.ix_(idx, idx)])
                lam = vecs[:, -1] * math.sqrt(max(vals[-1], 1e-6))
                if lam.sum() < 0:
                    lam = -lam
                fixed = rows[(rows["free"] == 0) & rows["rhs"].isin(o)]
                if len(fixed) and fixed["ustart"].iloc[0] != 0:
                    ref = o.index(fixed["rhs"].iloc[0])
                    scale = fixed["ustart"].iloc[0] / lam[ref] if lam[ref] != 0 else 1.0
                else:
                    var_row = sub[(sub["op"] == "~~") & (sub["lhs"] == f) & (sub["rhs"] == f)]
                    fixed_var = (
                        var_row["ustart"].iloc[0]
                        if len(var_row) and (var_row["free"].iloc[0] == 0)
                        else 1.0
                    )
                    scale = 1.0 / math.sqrt(fixed_var) if fixed_var > 0 else 1.0
                for x, value in zip(o, lam * scale, strict=True):
                    load_start[(f, x)] = float(value)
                var_start[f] = float(1.0 / scale**2) if scale != 0 else 0.05
        for k, row in enumerate(spec.rows):
            fidx = spec.free[k]
            if fidx < 0:
                continue
            r = records[row]
            if np.isfinite(r["start_user"]):
                value = r["start_user"]
            elif r["op"] == "=~":
                value = load_start.get((r["lhs"], r["rhs"]), 1.0)
            elif r["op"] == "~~" and r["lhs"] == r["rhs"]:
                if r["lhs"] in obs and r["lhs"] not in rep.dummies:
                    value = 0.5 * s[obs[r["lhs"]], obs[r["lhs"]]]
                elif r["lhs"] in obs:
                    value = s[obs[r["lhs"]], obs[r["lhs"]]] * (
                        0.5 if r["lhs"] not in variables.ov_x else 1.0
                    )
                else:
                    value = var_start.get(r["lhs"], 0.05)
            elif r["op"] == "~~" and r["lhs"] in variables.ov_x and r["rhs"] in variables.ov_x:
                value = s[obs[r["lhs"]], obs[r["rhs"]]]
            elif r["op"] == "~1" and r["lhs"] in obs:
                value = mean[obs[r["lhs"]]]
            else:
                value = 0.0
            sums[fidx] += value
            counts[fidx] += 1
    return sums / np.maximum(counts, 1)


def _make_objective(rep, moments, patterns, missing):
    if missing == "ml":
        return FIMLObjective(
            rep,
            patterns,
            float(sum(_h1_loglik(p, mo) for p, mo in zip(patterns, moments, strict=True))),
        )
    return MLObjective(rep, moments)


def _h1_loglik(pats, mo) -> float:
    from policestress.sem.missing import fiml_loglik

    return fiml_loglik(pats, mo.mean, mo.cov)


def _fill_exogenous(table: pd.DataFrame, observed: list[str], moments: list[Moments]) -> None:
    """fixed.x: exogenous covariates' (co)variances and means fixed at the sample values."""
    obs = {v: i for i, v in enumerate(observed)}
    for i in np.flatnonzero(table["exo"].to_numpy() == 1):
        r = table.iloc[i]
        mo = moments[int(r["group"]) - 1]
        if r["op"] == "~~":
            table.iat[i, table.columns.get_loc("ustart")] = mo.cov[obs[r["lhs"]], obs[r["rhs"]]]
        else:
            table.iat[i, table.columns.get_loc("ustart")] = mo.mean[obs[r["lhs"]]]


def _dummies(parsed: ParsedModel, v) -> list[str]:
    """Observed variables that lavaan represents as latent ones (in regressions)."""
    lv = set(v.lv)
    out = []
    for t in parsed.terms:
        if t.op == "~":
            out += [x for x in (t.lhs, t.rhs) if x not in lv]
        elif t.op == "~~" and ((t.lhs in lv) != (t.rhs in lv)):
            out += [x for x in (t.lhs, t.rhs) if x not in lv]
        elif t.op == "=~" and t.rhs not in lv:
            pass
    # covariances between a dummy and another observed variable must be latent too
    out = list(dict.fromkeys(out))
    changed = True
    while changed:
        changed = False
        for t in parsed.terms:
            if t.op == "~~" and t.lhs != t.rhs and ((t.lhs in out) != (t.rhs in out)):
                for x in (t.lhs, t.rhs):
                    if x not in out and x not in lv:
                        out.append(x)
                        changed = True
    return out


def _identification_problems(table: pd.DataFrame, v) -> list[str]:
    """Structural under-identification lavaan users meet, stated before fitting."""
    problems = []
    lv = set(v.lv)
    for f, items in v.indicators.items():
        latent_items = [x for x in items if x in lv]
        if len(items) == 1 and latent_items:
            rows = table[(table["lhs"] == f) & (table["op"] == "~~") & (table["rhs"] == f)]
            lower = table[
                (table["lhs"] == latent_items[0])
                & (table["op"] == "~~")
                & (table["rhs"] == latent_items[0])
            ]
            if (rows["free"] > 0).all() and (lower["free"] > 0).all():
                problems.append(
                    f"factor {f!r} is measured by one latent variable ({latent_items[0]!r}): its "
                    "variance and that variable's residual variance are not separately "
                    "identified (a second-order factor needs at least two, better three, "
                    "first-order factors); the model is not fitted"
                )
    return problems


def _post_fit_warnings(fit: SEMFit) -> list[str]:
    out = []
    est = fit.parameter_estimates()
    is_var = (est["op"] == "~~") & (est["lhs"] == est["rhs"])
    lv = set(fit.latent)
    for r in est[is_var & (est["est"] < 0)].itertuples():
        kind = "latent" if r.lhs in lv else "observed"
        where = f" in group {fit.group_labels[r.group - 1]!r}" if len(fit.n_by_group) > 1 else ""
        out.append(
            f"negative variance of {kind} variable {r.lhs!r}{where}: {r.est:.4g} (Heywood case)"
        )
    names = fit.latent
    for g in range(len(fit.n_by_group)):
        mm = fit.matrices(g)
        k = len(names)
        if k == 0:
            continue
        phi = mm.phi[:k, :k]
        vals = np.linalg.eigvalsh(phi)
        if vals.min() < 0:
            where = f" in group {fit.group_labels[g]!r}" if len(fit.n_by_group) > 1 else ""
            d = np.sqrt(np.abs(np.diag(phi)))
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = phi / np.outer(d, d)
            np.fill_diagonal(corr, 0.0)
            pairs = [
                f"{names[i]!r} and {names[j]!r} (r = {corr[i, j]:.3f})"
                for i in range(k)
                for j in range(i)
                if abs(corr[i, j]) > 1
            ]
            detail = (
                ("; correlation above 1: " + ", ".join(pairs))
                if pairs
                else (f"; smallest eigenvalue {vals.min():.3g}")
            )
            out.append(
                f"covariance matrix of the latent variables{where} is not positive definite{detail}"
            )
    if not np.all(np.isfinite(np.diag(fit.vcov()))):
        out.append(
            "information matrix singular: standard errors unavailable (model not identified?)"
        )
    return out


def model_frame(
    data: pd.DataFrame,
    variables: list[str],
    name: str,
    group: str | None = None,
    group_label=None,
) -> tuple[pd.DataFrame, list, int]:
    """The model's observed ``variables`` of ``data`` as numbers, in the rows of the groups
    analysed: ``group_label`` in that order, else every group in order of first appearance
    (lavaan's). Returns the frame, the group labels (``[None]`` for one group) and the number
    of rows before groups were selected.

    Raises
    ------
    KeyError
        When a variable of the model is not a column of ``data``.
    """
    absent = [x for x in variables if x not in data.columns]
    if absent:
        raise KeyError(f"model {name!r}: variables not in the data: {absent}")
    frame = data[[*variables, *([group] if group else [])]].copy()
    frame[variables] = frame[variables].apply(pd.to_numeric, errors="coerce")
    n_rows = len(frame)
    if not group:
        return frame, [None], n_rows
    frame = frame[frame[group].notna()]
    labels = (
        list(group_label) if group_label is not None else list(dict.fromkeys(frame[group].tolist()))
    )
    return frame[frame[group].isin(labels)], labels, n_rows


def _fit(
    model,
    data,
    *,
    model_type,
    estimator,
    missing,
    group,
    group_equal,
    group_partial,
    std_lv,
    orthogonal,
    ordered,
    meanstructure,
    group_label,
    name,
    backend="engine",
    bounded=False,
    polish=True,
    max_iter=500,
) -> SEMFit:
    if ordered:
        from policestress.sem.ordinal import fit_ordinal  # WLSMV / ULSMV: sem/ordinal.py

        parsed = parse(model) if isinstance(model, str) else model
        labels = {lab for t in parsed.terms for lab in t.label if lab}
        general = [
            f"{c.lhs} {c.op} {c.rhs}"
            for c in parsed.constraints
            if c.op in ("<", ">") or (c.op == "==" and not {c.lhs, c.rhs} <= labels)
        ]
        if general:
            raise NotImplementedError(
                f"model {name!r}: constraints {general} are not fitted with ordered= (ordinal "
                "estimation); equalities between two labels are"
            )

        return fit_ordinal(
            model, data, model_type=model_type, estimator=estimator, missing=missing,
            group=group, group_equal=group_equal, group_partial=group_partial, std_lv=std_lv,
            orthogonal=orthogonal, ordered=ordered, group_label=group_label, name=name,
            max_iter=max_iter,
        )  # fmt: skip
    estimator = estimator.upper()
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if missing not in _MISSING_ALIASES:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    missing = _MISSING_ALIASES[missing]
    if estimator == "MLM" and missing == "ml":
        raise ValueError(
            "estimator 'MLM' needs complete data (lavaan too): use 'MLR' with missing='ml'"
        )
    parsed = parse(model) if isinstance(model, str) else model
    if meanstructure is None:
        meanstructure = (
            group is not None or missing == "ml" or any(t.op == "~1" for t in parsed.terms)
        )
    from policestress.sem.partable import variables as model_variables

    v = model_variables(parsed, fixed_x=model_type == "sem")
    frame, labels, n_rows = model_frame(data, v.ov, name, group, group_label)
    x_warning = ""
    if missing == "listwise":
        frame = frame.dropna(subset=v.ov)
    else:
        frame = frame[frame[v.ov].notna().any(axis=1)]
        # fixed.x conditions on the covariates: lavaan deletes the cases missing one
        x_missing = frame[v.ov_x].isna().any(axis=1) if v.ov_x else pd.Series(False, frame.index)
        if x_missing.any():
            frame = frame[~x_missing]
            x_warning = (
                f"{int(x_missing.sum())} cases were deleted due to missing values in the "
                f"exogenous covariates ({', '.join(v.ov_x)}), while fixed.x = TRUE (as lavaan)"
            )
    blocks = [
        (frame if group is None else frame[frame[group] == lab])[v.ov].to_numpy(dtype=float)
        for lab in labels
    ]
    moments, patterns, h1 = [], [], []
    for x in blocks:
        if missing == "ml" and len(x):
            from policestress.sem.missing import em_saturated, missing_patterns

            pats = missing_patterns(x)
            em = em_saturated(pats)
            patterns.append(pats)
            h1.append(em)
            moments.append(Moments(pats.n, em.mu, em.sigma))
            continue
        mean = x.mean(axis=0) if len(x) else np.full(len(v.ov), np.nan)
        cov = (
            np.cov(x, rowvar=False, bias=True).reshape(len(v.ov), len(v.ov))
            if len(x) > 1
            else np.full((len(v.ov),) * 2, np.nan)
        )
        moments.append(Moments(len(x), mean, cov))
    table = build_partable(
        parsed,
        len(labels),
        model_type=model_type,
        std_lv=std_lv,
        orthogonal=orthogonal,
        meanstructure=meanstructure,
        group_equal=group_equal,
        group_partial=group_partial,
        fixed_x=model_type == "sem",
    )
    _fill_exogenous(table, v.ov, moments)
    dummies = _dummies(parsed, v)
    eta = [*v.lv, *dummies]
    rep = Representation(table, v.ov, eta, dummies)
    fit = SEMFit(
        name=name,
        model_type=model_type,
        parsed=parsed,
        partable=table,
        estimator=estimator,
        missing=missing,
        group=group,
        group_labels=labels,
        n_by_group=[mo.n for mo in moments],
        n_dropped=n_rows - len(frame),
        observed=v.ov,
        latent=v.lv,
        rep=rep,
        moments=moments,
        theta=np.zeros(0),
        converged=False,
        iterations=0,
        data=blocks,
        syntax=model if isinstance(model, str) else "",
        patterns=patterns,
        h1=h1,
    )
    if x_warning:
        fit.warnings.append(x_warning)
    for g, em in enumerate(h1):
        if not em.converged:
            where = f" of group {labels[g]!r}" if group else ""
            fit.warnings.append(
                f"EM estimate of the unrestricted model{where} did not converge in "
                f"{em.iterations} iterations: chi-square and baseline are approximate"
            )
    # what stops a fit before it starts
    problems = _identification_problems(table, v)
    for g, mo in enumerate(moments):
        where = f" of group {labels[g]!r}" if group else ""
        if mo.n <= 1:
            problems.append(f"{mo.n} observations{where}: too few to fit the model")
            continue
        if np.linalg.eigvalsh(mo.cov).min() <= 1e-10 * max(1.0, np.abs(np.diag(mo.cov)).max()):
            items = _collinear_items(mo.cov, v.ov)
            problems.append(
                f"sample covariance matrix{where} is not positive definite: items "
                f"{', '.join(items)} are collinear (a duplicated or constant column, or a "
                "sum of others); the model is not fitted"
            )
    if problems:
        fit.warnings.extend(problems)
        return fit
    objective = _make_objective(rep, moments, patterns, missing)
    con = fit.constraints
    free = table["free"].to_numpy()

    def minimise(obj, start, tol=1e-10):
        """Fisher scoring, or under ==, <, > constraints its SQP form."""
        if not con.restricts:
            return (*fisher_scoring(obj, start, max_iter=max_iter, tol=tol), fit.active)
        return constrained_scoring(
            obj,
            start,
            lambda t: con.equality(t, free) if con.equalities else np.zeros(0),
            lambda t: con.inequality(t, free) if con.inequalities else np.zeros(0),
            max_iter=max_iter,
            tol=tol,
        )

    with one_blas_thread():
        theta0 = _start_values(rep, table, moments, v)
        fit._cache["start"] = theta0
        if missing == "ml":
            # Start FIML from the ML fit to the EM moments of the unrestricted model: cheap
            # (complete-data formulas) and close to the FIML solution, so the expensive FIML
            # scoring steps are few.
            theta_em, ok, _, _, _ = minimise(MLObjective(rep, moments), theta0, tol=1e-6)
            if ok:
                theta0 = theta_em
        if backend == "semopy":
            reason = semopy_applicable(table, dummies, len(labels))
            if reason is None and con.restricts:
                reason = "constraints (==, <, >)"
            if reason is None and (estimator != "ML" or missing != "listwise"):
                reason = f"estimator {estimator!r} with missing={missing!r}"
            if reason is not None:
                raise ValueError(f"model {name!r}: semopy cannot fit {reason}; use the engine")
            theta, converged, message = fit_with_semopy(
                table,
                v.ov,
                blocks[0],
                moments[0].cov,
                theta0,
                bounded=bounded,
                maxiter=max_iter,
            )
            iterations = 0
            message = "" if converged else f"semopy: {message}"
            if polish and converged and not bounded:
                # Fisher scoring from semopy's solution to the exact optimum (reproducible
                # digits; SLSQP stops ~1e-9 away at a point that depends on BLAS details)
                theta, converged, iterations, message = fisher_scoring(
                    objective, theta, max_iter=max_iter
                )
        else:
            if bounded:
                raise ValueError("bounded variances need backend='semopy'")
            theta, converged, iterations, message, fit.active = minimise(objective, theta0)
        fit.theta, fit.converged, fit.iterations = theta, converged, iterations
        fit._cache["objective"] = objective
        if not converged:
            try:
                _, grad, _ = objective.value_gradient_information(theta, information=False)
                k = int(np.argmax(np.abs(grad)))
                row = table[table["free"] == k + 1].iloc[0]
                where = f" (group {labels[int(row['group']) - 1]!r})" if group else ""
                fit.warnings.append(
                    f"model {name!r} did not converge after {iterations} iterations"
                    f"{': ' + message if message else ''}; largest gradient "
                    f"{abs(grad[k]):.3g} at {row['lhs']}{row['op']}{row['rhs']}{where}"
                )
            except np.linalg.LinAlgError:
                fit.warnings.append(
                    f"model {name!r} did not converge after {iterations} iterations: the "
                    "model-implied covariance matrix is not positive definite"
                )
                return fit
        fit.partable["est"] = rep.values(theta)
        fit.warnings.extend(_post_fit_warnings(fit))
    return fit


def cfa(
    model: str,
    data: pd.DataFrame,
    estimator: str = "ML",
    missing: str = "listwise",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    orthogonal: bool = False,
    ordered: Sequence[str] | None = None,
    *,
    meanstructure: bool | None = None,
    group_label: Sequence | None = None,
    name: str = "model",
    backend: str = "engine",
    bounded: bool = False,
    max_iter: int = 500,
) -> SEMFit:
    """Fit a confirmatory factor model, as ``lavaan::cfa`` with the same arguments.

    A model that cannot be fitted (sample covariance not positive definite, a second-order
    factor over one factor) is returned unfitted with the reason in ``fit.warnings``; a fit
    that does not converge has ``converged = False`` and says why.

    ``ordered``: ``True`` (every indicator) or the names of the ordinal indicators, the
    others then continuous (lavaan's mixed case), with ``estimator``
    ``"WLSMV"`` or ``"ULSMV"``: fitted by :mod:`policestress.sem.ordinal`.

    Parameters beyond lavaan's: ``group_label`` (group order; default order of appearance,
    as lavaan), ``name`` (carried into messages and tables), ``backend`` (``"engine"``, or
    ``"semopy"`` for single-group ML on complete data, fed from the parameter table),
    ``bounded`` (semopy only: keep variances >= 0) and ``max_iter``.

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> fit = cfa("visual =~ NA*x1 + x2 + x3; visual ~~ 1*visual", holzinger39.get_data())
    >>> fit.fit_measures()[["chisq", "df"]].round(3).tolist()
    [0.0, 0.0]
    """
    return _fit(
        model,
        data,
        model_type="cfa",
        estimator=estimator,
        missing=missing,
        group=group,
        group_equal=tuple(group_equal),
        group_partial=tuple(group_partial),
        std_lv=std_lv,
        orthogonal=orthogonal,
        ordered=ordered,
        meanstructure=meanstructure,
        group_label=group_label,
        name=name,
        backend=backend,
        bounded=bounded,
        max_iter=max_iter,
    )


def sem(
    model: str,
    data: pd.DataFrame,
    estimator: str = "ML",
    missing: str = "listwise",
    group: str | None = None,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    std_lv: bool = False,
    orthogonal: bool = False,
    ordered: Sequence[str] | None = None,
    *,
    meanstructure: bool | None = None,
    group_label: Sequence | None = None,
    name: str = "model",
    backend: str = "engine",
    bounded: bool = False,
    max_iter: int = 500,
) -> SEMFit:
    """Fit a structural equation model, as ``lavaan::sem`` (``fixed.x``, ``auto.cov.y``).

    Examples
    --------
    >>> from semopy.examples import holzinger39
    >>> fit = sem("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; textual ~ visual",
    ...           holzinger39.get_data())
    >>> int(fit.fit_measures()["df"])
    8
    """
    return _fit(
        model,
        data,
        model_type="sem",
        estimator=estimator,
        missing=missing,
        group=group,
        group_equal=tuple(group_equal),
        group_partial=tuple(group_partial),
        std_lv=std_lv,
        orthogonal=orthogonal,
        ordered=ordered,
        meanstructure=meanstructure,
        group_label=group_label,
        name=name,
        backend=backend,
        bounded=bounded,
        max_iter=max_iter,
    )
