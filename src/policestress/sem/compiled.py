"""One fitted complete-data ML model refitted to many sets of sample moments, fast.

A Monte Carlo study fits the same model thousands of times. :func:`sem.cfa <policestress.sem.cfa>`
builds the parameter table, the matrices' index maps and data-based start values on every
call; :class:`CompiledML` does that once, from a fitted model, and then refits it to new
sample moments (covariance with divisor ``n``, means) from a start of your choice (in a
simulation: the population values), with the same Fisher scoring and line search as
:mod:`policestress.sem.estimate` but with the derivatives in factored form.

Every derivative of ``Sigma`` with respect to one matrix entry of lavaan's LISREL
representation is a symmetric rank-two matrix ``s (u v' + v u')`` (a loading: ``u = e_r``,
``v = (Lambda Phi)_c``; a (residual) covariance: ``u, v`` the columns of ``Lambda A`` or of
the identity, ``s = 1/2`` on the diagonal; a regression among latent variables:
``u = (Lambda A)_r``, ``v = (Lambda A Psi A')_c``). The expected Hessian of lavaan's ML
discrepancy, ``tr(W dSigma_k W dSigma_l)`` with ``W = Sigma^-1``, is then
``2 s_k s_l [(U'WU)_kl (V'WV)_kl + (U'WV)_kl (U'WV)_lk]``: three ``q x q`` products
instead of ``q`` matrix products of ``p x p`` matrices and a ``q x p^2`` one.

Only single-group models on complete data with the ML estimator (lavaan's default
``information = "expected"``); everything else goes through ``sem.cfa``. Results equal
``sem.cfa`` on the same data (tests/test_sem_compiled.py).

Examples
--------
>>> from semopy.examples import holzinger39
>>> from policestress import sem
>>> hs = holzinger39.get_data()
>>> fit = sem.cfa("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6", hs)
>>> model = CompiledML(fit)
>>> x = hs[fit.observed].to_numpy()[:150]
>>> refit = model.fit_moments(np.cov(x, rowvar=False, bias=True), x.mean(axis=0), 150)
>>> bool(refit.converged), round(refit.measures["chisq"], 3)
(True, 24.978)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from policestress import fitstats
from policestress.sem.estimate import MLObjective, Moments, fisher_scoring

__all__ = ["CompiledML", "MomentFit"]


@dataclass
class MomentFit:
    """One refit: free parameters ``theta`` (the fitted model's order), their covariance
    matrix ``vcov`` (lavaan's ``vcov``: inverse expected information times ``1/n``),
    ``converged``, ``improper`` (a negative variance, or a latent covariance matrix not
    positive definite, as ``SEMFit.warnings`` reports) and ``measures`` (``chisq, df,
    pvalue, cfi, tli, rmsea, srmr``, as ``fit_measures``)."""

    theta: np.ndarray
    vcov: np.ndarray
    converged: bool
    improper: bool
    iterations: int
    measures: dict[str, float]


class CompiledML:
    """A fitted single-group complete-data ML model, ready to refit to new sample moments.

    Parameters
    ----------
    fit : SEMFit
        A fitted model (``sem.cfa`` or ``sem.sem``) with ``estimator="ML"`` on complete data
        (``missing="listwise"``), one group; the parameter table, the model's structure and
        ``df`` are taken from it, its estimates are the default start.
    """

    def __init__(self, fit):
        if not fit.fitted:
            raise ValueError(f"model {fit.name!r} was not fitted: {fit.message}")
        if len(fit.n_by_group) != 1 or fit.missing != "listwise":
            raise ValueError(
                "CompiledML refits single-group complete-data ML models; use sem.cfa for "
                f"{len(fit.n_by_group)} groups with missing={fit.missing!r}"
            )
        if fit.partable.attrs["variables"].ov_x:
            raise ValueError("CompiledML: models with fixed.x covariates are not supported")
        if fit.constraints is not None and fit.constraints.restricts:
            raise ValueError("CompiledML: models with ==, <, > constraints are not supported")
        self.name = fit.name
        self.rep = rep = fit.rep
        spec = rep.specs[0]
        sel = spec.free >= 0
        self.kind, self.r, self.c = spec.kind[sel], spec.r[sel], spec.c[sel]
        free = spec.free[sel]
        self.q = rep.n_free
        n_entries = len(free)
        # entries -> free parameters (a sum over entries that share a label)
        self.agg = np.zeros((self.q, n_entries))
        self.agg[free, np.arange(n_entries)] = 1.0
        # without shared labels every free parameter is one entry: a reordering suffices
        self.order = np.argsort(free) if n_entries == self.q else None
        table_free = fit.partable["free"].to_numpy(dtype=int)
        self._free_rows = np.flatnonzero(table_free > 0)
        self._free_index = table_free[self._free_rows] - 1
        self._fixed = rep.fixed_values.copy()
        on_diagonal = np.isin(self.kind, ("psi", "theta")) & (self.r == self.c)
        self.scale = np.where(on_diagonal, 0.5, 1.0)
        self.p = rep.p
        self.meanstructure = rep.meanstructure
        self.theta0 = fit.theta.copy()
        measures = fit.fit_measures()
        self.df = float(measures["df"])
        self.baseline_df = float(measures["baseline.df"])
        self.variance_entries = np.flatnonzero(on_diagonal)
        self.n_latent = len(fit.latent)
        self._eye = np.eye(self.p)
        self._sel = {k: np.flatnonzero(self.kind == k) for k in np.unique(self.kind)}
        # Newton steps with the exact Hessian (quadratic convergence where Fisher scoring
        # converges linearly, as in a misspecified model) for measurement models without
        # means: their second derivatives of Sigma are the two cases _exact_hessian handles.
        self.newton = not self.meanstructure and set(self._sel) <= {"lambda", "psi", "theta"}

    # -- the discrepancy and its derivatives ----------------------------------------------

    def _matrices(self, theta):
        values = self._fixed.copy()
        values[self._free_rows] = theta[self._free_index]
        return self.rep.matrices(theta, 0, values)

    def _value(self, theta, cov, mean, logdet_s):
        mm = self._matrices(theta)
        try:
            chol = linalg.cho_factor(mm.sigma, lower=True, check_finite=False)
        except (linalg.LinAlgError, ValueError):
            return np.inf, mm, None
        w = linalg.cho_solve(chol, self._eye, check_finite=False)
        f = 2.0 * np.log(np.diag(chol[0])).sum() + np.sum(w * cov) - logdet_s - self.p
        d = mean - mm.mu
        if self.meanstructure:
            f += d @ w @ d
        return float(f), mm, (w, d)

    def _factors(self, mm):
        """U, V (p x entries) of the rank-two derivatives of Sigma, and dmu (entries x p)."""
        n_entries = len(self.kind)
        u = np.zeros((self.p, n_entries))
        v = np.zeros((self.p, n_entries))
        dm = np.zeros((n_entries, self.p))
        a_alpha = mm.a @ mm.alpha
        lam_phi = mm.lam @ mm.phi
        for kind, sel in self._sel.items():
            rr, cc = self.r[sel], self.c[sel]
            if kind == "lambda":
                u[rr, sel] = 1.0
                v[:, sel] = lam_phi[:, cc]
                dm[sel, rr] = a_alpha[cc]
            elif kind == "beta":
                u[:, sel] = mm.m[:, rr]
                v[:, sel] = (mm.m @ mm.psi @ mm.a.T)[:, cc]
                dm[sel] = mm.m[:, rr].T * a_alpha[cc][:, None]
            elif kind == "psi":
                u[:, sel] = mm.m[:, rr]
                v[:, sel] = mm.m[:, cc]
            elif kind == "theta":
                u[rr, sel] = 1.0
                v[cc, sel] = 1.0
            elif kind == "nu":
                dm[sel, rr] = 1.0
            elif kind == "alpha":
                dm[sel] = mm.m[:, rr].T
        return u, v, dm

    def _value_gradient_information(self, theta, cov, mean, logdet_s, observed=False):
        """F, its gradient, its expected Hessian (twice lavaan's unit information) and,
        with ``observed``, its exact Hessian (``None`` where :attr:`newton` is False)."""
        f, mm, aux = self._value(theta, cov, mean, logdet_s)
        if aux is None:
            raise np.linalg.LinAlgError("model-implied covariance not positive definite")
        w, d = aux
        u, v, dm = self._factors(mm)
        if self.meanstructure:
            core = w - w @ (cov + np.outer(d, d)) @ w
        else:
            core = w - w @ cov @ w
        grad = 2.0 * self.scale * np.einsum("ik,ik->k", u, core @ v)
        wu, wv = w @ u, w @ v
        a, b, c = u.T @ wu, v.T @ wv, u.T @ wv
        ss = np.outer(self.scale, self.scale)
        hess = 2.0 * ss * (a * b + c * c.T)
        exact = None
        if observed and self.newton:
            exact = self._exact_hessian(mm, w, w @ cov @ w, core, u, v, a, b, c, hess, ss)
        if self.meanstructure:
            grad = grad + dm @ (-2.0 * w @ d)
            hess = hess + 2.0 * dm @ w @ dm.T
        return f, self._reduce(grad), self._reduce(hess), self._reduce(exact), mm

    def _reduce(self, x):
        """Entry-level gradient or Hessian -> free parameters (shared labels summed)."""
        if x is None:
            return None
        if x.ndim == 1:
            return x[self.order] if self.order is not None else self.agg @ x
        if self.order is not None:
            return x[np.ix_(self.order, self.order)]
        return self.agg @ x @ self.agg.T

    def _exact_hessian(self, mm, w, wsw, core, u, v, a, b, c, expected, ss):
        """Hessian of F for models without regressions or means:
        ``-tr(W dS_k W dS_l) + tr(W dS_k P dS_l) + tr(W dS_l P dS_k) + tr(C d2S_kl)``
        with ``P = W S W`` and ``C = W - W S W``; ``d2S`` is non-zero only for two loadings
        (``Phi_cc' (e_r e_r'' + e_r' e_r')``) and a loading and a factor (co)variance."""
        pu, pv = wsw @ u, wsw @ v
        ap, bp, cp = u.T @ pu, v.T @ pv, u.T @ pv
        cross = ss * (cp.T * c + bp * a + ap * b + cp * c.T)  # tr(W dS_k P dS_l)
        h = -expected + cross + cross.T
        lam, psi = self._sel.get("lambda"), self._sel.get("psi")
        if lam is not None:
            r, col = self.r[lam], self.c[lam]
            h[np.ix_(lam, lam)] += 2.0 * mm.phi[np.ix_(col, col)] * core[np.ix_(r, r)]
            if psi is not None:
                lc = mm.lam.T @ core  # (m, p)
                pa, pb, s = self.r[psi], self.c[psi], self.scale[psi]
                block = (
                    2.0
                    * s[None, :]
                    * (
                        (col[:, None] == pa[None, :]) * lc[pb][:, r].T
                        + (col[:, None] == pb[None, :]) * lc[pa][:, r].T
                    )
                )
                h[np.ix_(lam, psi)] += block
                h[np.ix_(psi, lam)] += block.T
        return h

    # -- fitting ---------------------------------------------------------------------------

    def fit_moments(
        self,
        cov: np.ndarray,
        mean: np.ndarray | None,
        n: int,
        start: np.ndarray | None = None,
        max_iter: int = 100,
        tol: float = 1e-10,
    ) -> MomentFit:
        """Refit to sample moments ``cov`` (divisor ``n``) and ``mean`` of ``n`` cases.

        Newton steps with the exact Hessian where it is positive definite (measurement
        models without means), else Fisher scoring, with step halving, from ``start``
        (default: the compiled fit's estimates); converged when no parameter moves by more
        than ``tol``. Standard errors from the expected information, as lavaan. A run that
        stalls is finished by the engine's :func:`~policestress.sem.estimate.fisher_scoring`
        (Newton and quasi-Newton steps), as ``sem.cfa`` would.
        """
        cov = np.asarray(cov, dtype=float)
        mean = np.zeros(self.p) if mean is None else np.asarray(mean, dtype=float)
        theta = np.array(self.theta0 if start is None else start, dtype=float)
        if n <= 1 or not np.all(np.isfinite(cov)) or not np.all(np.isfinite(mean)):
            return self._failed(theta, 0)
        sign, logdet_s = np.linalg.slogdet(cov)
        if sign <= 0:
            return self._failed(theta, 0)
        iterations, converged = 0, False
        vgi = self._value_gradient_information
        try:
            f, grad, hess, exact, mm = vgi(theta, cov, mean, logdet_s, observed=True)
            while np.isfinite(f) and iterations < max_iter:
                iterations += 1
                step = None
                if exact is not None:
                    try:  # Newton where the exact Hessian is positive definite
                        step = linalg.cho_solve(linalg.cho_factor(exact, check_finite=False), grad)
                    except linalg.LinAlgError:
                        step = None
                if step is None:
                    step = np.linalg.solve(hess, grad)
                t = 1.0
                slack = 64 * np.finfo(float).eps * max(1.0, abs(f))
                while (
                    self._value(theta - t * step, cov, mean, logdet_s)[0]
                    > f - 1e-4 * t * (grad @ step) + slack
                ):
                    t /= 2.0
                    if t < 1e-10:
                        break
                if t < 1e-10:
                    break
                theta = theta - t * step
                f, grad, hess, exact, mm = vgi(theta, cov, mean, logdet_s, observed=True)
                if np.max(np.abs(step)) < tol:
                    converged = True
                    break
        except np.linalg.LinAlgError:
            converged = False
        if not converged:
            objective = MLObjective(self.rep, [Moments(n, mean, cov)])
            theta, converged, more, _ = fisher_scoring(objective, theta)
            iterations += more
            if not converged:
                return self._failed(theta, iterations)
            try:
                f, grad, hess, _, mm = vgi(theta, cov, mean, logdet_s)
            except np.linalg.LinAlgError:
                return self._failed(theta, iterations)
        try:
            vcov = 2.0 / n * np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            vcov = np.full((self.q, self.q), np.nan)
        return MomentFit(
            theta=theta,
            vcov=vcov,
            converged=True,
            improper=self._improper(theta, mm, vcov),
            iterations=iterations,
            measures=self._measures(f, cov, mean, n, mm),
        )

    def _failed(self, theta, iterations) -> MomentFit:
        nan = np.full(self.q, np.nan)
        measures = dict.fromkeys(("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"), np.nan)
        return MomentFit(nan, np.full((self.q, self.q), np.nan), False, False, iterations, measures)

    def _improper(self, theta, mm, vcov) -> bool:
        """A negative variance, a latent covariance matrix not positive definite, or no SEs
        (what ``SEMFit.warnings`` reports after a fit)."""
        values = self.agg.T @ theta  # value of every free entry
        if np.any(values[self.variance_entries] < 0):
            return True
        k = self.n_latent
        if k and np.linalg.eigvalsh(mm.phi[:k, :k]).min() < 0:
            return True
        return not np.all(np.isfinite(np.diag(vcov)))

    def _measures(self, f, cov, mean, n, mm) -> dict[str, float]:
        """chisq, df, pvalue, cfi, tli, rmsea, srmr as ``SEMFit.fit_measures`` computes them."""
        chisq = max(n * f, 0.0)
        df, base_df = self.df, self.baseline_df
        base = n * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])
        sd = np.sqrt(np.diag(cov))
        resid = (cov - mm.sigma) / np.outer(sd, sd)
        parts = [resid[np.tril_indices(self.p)]]
        if self.meanstructure:
            parts.insert(0, (mean - mm.mu) / sd)
        return {
            "chisq": chisq,
            "df": df,
            "pvalue": fitstats.chi2_pvalue(chisq, df),
            "cfi": fitstats.cfi(chisq, df, base, base_df),
            "tli": fitstats.tli(chisq, df, base, base_df),
            "rmsea": fitstats.rmsea(chisq, df, n),
            "srmr": float(np.sqrt(np.mean(np.concatenate(parts) ** 2))),
        }
