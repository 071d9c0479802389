"""Maximum-likelihood estimation: lavaan's ML discrepancy, Fisher scoring, the information.

lavaan's ML fit function (likelihood "normal") is ``F = sum_g (n_g / N) F_g`` with

    F_g = log|Sigma_g| + tr(S_g Sigma_g^-1) - log|S_g| - p + (m_g - mu_g)' Sigma_g^-1 (m_g - mu_g)

(``S_g`` with divisor ``n_g``; the mean term only with a mean structure); the test statistic is
``N F`` at the minimum. The optimiser is Fisher scoring (Newton steps with the expected
information, halved until the discrepancy falls), then, if that stalls, a quasi-Newton run
from scipy followed by scoring again; under ``==``, ``<``, ``>`` constraints its SQP form
(:func:`constrained_scoring`). The information is lavaan's default for complete data,
``information = "expected"`` with the model-implied ("structured") moments; FIML and MLR use
the observed one, analytically (:func:`observed_information`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from policestress.sem.model import Representation, vech_indices

__all__ = [
    "Moments",
    "MLObjective",
    "constrained_scoring",
    "fisher_scoring",
    "observed_information",
]


@dataclass
class Moments:
    """Sample moments of one group: ``n``, mean vector, covariance with divisor ``n``."""

    n: int
    mean: np.ndarray
    cov: np.ndarray


class MLObjective:
    """lavaan's ML discrepancy of complete data, its gradient and expected information."""

    def __init__(self, rep: Representation, moments: list[Moments]):
        self.rep = rep
        self.moments = moments
        self.n = sum(mo.n for mo in moments)
        self.weights = np.array([mo.n / self.n for mo in moments])
        self.logdet_s = [np.linalg.slogdet(mo.cov)[1] for mo in moments]
        self.q = rep.n_free

    def _group(self, theta, g):
        mm = self.rep.matrices(theta, g)
        mo = self.moments[g]
        try:
            chol = linalg.cho_factor(mm.sigma, lower=True)
        except (linalg.LinAlgError, ValueError):
            return np.inf, mm, None
        w = linalg.cho_solve(chol, np.eye(self.rep.p))
        logdet = 2.0 * np.log(np.diag(chol[0])).sum()
        f = logdet + np.sum(w * mo.cov) - self.logdet_s[g] - self.rep.p
        d = mo.mean - mm.mu
        if self.rep.meanstructure:
            f += d @ w @ d
        return float(f), mm, (w, d)

    def value(self, theta: np.ndarray) -> float:
        total = 0.0
        for g in range(len(self.moments)):
            f, _, _ = self._group(theta, g)
            if not np.isfinite(f):
                return np.inf
            total += self.weights[g] * f
        return total

    def value_gradient_information(self, theta: np.ndarray, information: bool = True):
        """F, dF/dtheta and the expected Hessian of F (twice the unit information)."""
        total, grad = 0.0, np.zeros(self.q)
        hess = np.zeros((self.q, self.q)) if information else None
        for g in range(len(self.moments)):
            f, mm, aux = self._group(theta, g)
            if aux is None:
                raise np.linalg.LinAlgError("model-implied covariance not positive definite")
            w, d = aux
            s = self.moments[g].cov
            ds, dm = self.rep.derivatives(mm, g)
            k = ds.shape[0]
            if self.rep.meanstructure:
                core = w - w @ (s + np.outer(d, d)) @ w
                gr = ds.reshape(k, -1) @ core.ravel() + dm @ (-2.0 * w @ d)
            else:
                core = w - w @ s @ w
                gr = ds.reshape(k, -1) @ core.ravel()
            used = self.rep.used[g]
            wg = self.weights[g]
            total += wg * f
            grad[used] += wg * gr
            if information:
                b = np.matmul(w, ds)
                h = b.reshape(k, -1) @ b.transpose(0, 2, 1).reshape(k, -1).T
                if self.rep.meanstructure:
                    h = h + 2.0 * dm @ w @ dm.T
                hess[np.ix_(used, used)] += wg * h
        return total, grad, hess

    def unit_information(self, theta: np.ndarray) -> np.ndarray:
        """lavaan's (unit) expected information: half the expected Hessian of F."""
        return self.value_gradient_information(theta)[2] / 2.0


PREDICTED_DECREASE_FLOOR = 1e-10  # in F; N times this is a chi-square change of ~1e-7


def fisher_scoring(objective, theta0: np.ndarray, max_iter: int = 500, tol: float = 1e-10):
    """Minimise ``objective`` from ``theta0``; returns (theta, converged, iterations, message).

    Fisher scoring first; where it stalls (the expected information is a poor model of the
    curvature near an improper solution or a nearly singular implied covariance), Newton
    steps with the Hessian from differences of the analytic gradient; then, from a far or
    indefinite start, a quasi-Newton run from scipy followed by the same steps.
    """
    theta = np.array(theta0, dtype=float)
    iterations = 0
    try:
        theta, ok, iterations = _scoring(objective, theta, max_iter, tol)
    except np.linalg.LinAlgError:
        ok = False
    if ok:
        return theta, True, iterations, ""
    if np.isfinite(objective.value(theta)):
        theta_n, ok, more = _newton(objective, theta, max_iter=min(20, max_iter))
        iterations += more
        if ok:
            return theta_n, True, iterations, ""

    def fun(t):
        try:
            f, gr, _ = objective.value_gradient_information(t, information=False)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(t)
        return f, gr

    start = theta if np.isfinite(objective.value(theta)) else np.array(theta0, dtype=float)
    res = optimize.minimize(
        fun,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10 * max_iter, "ftol": 1e-15, "gtol": 1e-10},
    )
    theta = res.x
    iterations += res.nit
    try:
        theta, ok, more = _scoring(objective, theta, max_iter, tol)
        iterations += more
    except np.linalg.LinAlgError as err:
        return theta, False, iterations, f"information matrix singular ({err})"
    if not ok and np.isfinite(objective.value(theta)):
        theta, ok, more = _newton(objective, theta, max_iter=min(20, max_iter))
        iterations += more
    return theta, ok, iterations, "" if ok else "no descent along the scoring direction"


def constrained_scoring(
    objective, theta0: np.ndarray, equality, inequality, max_iter: int = 500, tol: float = 1e-10
):
    """Minimise ``objective`` subject to ``equality(theta) = 0`` and ``inequality(theta) >= 0``.

    Sequential quadratic programming with the scoring matrix as the Hessian (Newton-KKT
    steps: ``[[H, J'], [J, 0]] [d; lambda] = [-g; -h]``, halved until an L1 merit function
    falls) and an active set for the inequalities: a violated one joins the equalities, an
    active one whose multiplier says it pulls the wrong way is released. Linear equality
    constraints are met exactly after the first full step, so this is Fisher scoring in
    the reduced space, as lavaan's ``eq.constraints.K``; nonlinear and inequality
    constraints go to the exact optimum that lavaan's ``nlminb.constr`` approaches.

    Returns (theta, converged, iterations, message, active): ``active`` marks the
    inequalities that hold with equality at the solution.
    """
    theta = np.array(theta0, dtype=float)
    n_ineq = np.atleast_1d(inequality(theta)).size
    active = np.atleast_1d(inequality(theta)) < 0 if n_ineq else np.zeros(0, dtype=bool)
    iterations = 0
    for _ in range(2 * n_ineq + 2):
        theta, ok, its, lam, message = _sqp(
            objective, theta, equality, inequality, active, max_iter, tol
        )
        iterations += its
        if not ok or not n_ineq:
            return theta, ok, iterations, message, active
        slack = np.atleast_1d(inequality(theta))
        n_eq = lam.size - int(active.sum())
        lam_ineq = np.zeros(n_ineq)
        lam_ineq[active] = lam[n_eq:]
        violated = ~active & (slack < -1e-9)
        pulling = active & (lam_ineq > 1e-10)  # min F s.t. c >= 0 needs lambda <= 0 here
        if violated.any():
            active = active | violated
        elif pulling.any():
            active = active.copy()
            active[int(np.argmax(np.where(pulling, lam_ineq, -np.inf)))] = False
        else:
            return theta, True, iterations, "", active
    return theta, False, iterations, "the active set of the inequality constraints cycles", active


def _sqp(objective, theta, equality, inequality, active, max_iter, tol):
    from policestress.sem.constraints import jacobian

    def cons(t):
        return np.concatenate(
            [np.atleast_1d(equality(t)), np.atleast_1d(inequality(t))[active]]
        ).astype(float)

    q = theta.size
    rho = 1.0
    lam = np.zeros(cons(theta).size)
    eps = np.finfo(float).eps
    for iterations in range(1, max_iter + 1):
        try:
            f, grad, hess = objective.value_gradient_information(theta)
        except np.linalg.LinAlgError:
            return theta, False, iterations, lam, "model-implied covariance not positive definite"
        h = cons(theta)
        jac = jacobian(cons, theta) if h.size else np.zeros((0, q))
        kkt = np.block([[hess, jac.T], [jac, np.zeros((h.size, h.size))]])
        rhs = -np.concatenate([grad, h])
        try:
            sol = np.linalg.solve(kkt, rhs)
        except np.linalg.LinAlgError:  # redundant constraints: the least-squares solution
            sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        d, lam = sol[:q], sol[q:]
        rho = max(rho, 2.0 * float(np.abs(lam).max(initial=0.0)) + 1.0)

        def merit(t, rho=rho):
            value = objective.value(t)
            return value + rho * float(np.abs(cons(t)).sum()) if np.isfinite(value) else np.inf

        m0 = f + rho * float(np.abs(h).sum())
        slope = float(grad @ d) - rho * float(np.abs(h).sum())
        slack = 64 * eps * max(1.0, abs(m0))
        t = 1.0
        while merit(theta + t * d) > m0 + 1e-4 * t * min(slope, 0.0) + slack:
            t /= 2.0
            if t < 1e-10:
                # rounding stops the line search: converged if the step is below the
                # printed digits and the constraints hold
                done = np.max(np.abs(d)) < 1e-6 and np.max(np.abs(h), initial=0.0) < 1e-8
                return theta, done, iterations, lam, "" if done else "no descent (constraints)"
        theta = theta + t * d
        if np.max(np.abs(t * d)) < tol:
            ok = np.max(np.abs(cons(theta)), initial=0.0) < 1e-8
            return theta, ok, iterations, lam, "" if ok else "constraints not met"
    return theta, False, max_iter, lam, "iteration limit under constraints"


def _newton(objective, theta, max_iter: int = 20, tol: float = 1e-6):
    """Newton steps with a numerical Hessian; converged when the step is below ``tol`` (a
    parameter change far below the printed digits; rounding of the discrepancy stops
    line searches before that in very curved, improper solutions)."""

    def gradient(t):
        return objective.value_gradient_information(t, information=False)[1]

    for iterations in range(1, max_iter + 1):
        try:
            f, grad, _ = objective.value_gradient_information(theta, information=False)
            hess = numerical_hessian(gradient, theta, h=1e-5)
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return theta, False, iterations
        if not grad @ step > 0:  # Hessian not positive definite: not a minimum here
            return theta, False, iterations
        if np.max(np.abs(step)) < tol:
            return theta - step, True, iterations
        t = 1.0
        while objective.value(theta - t * step) > f + 64 * np.finfo(float).eps * max(1, abs(f)):
            t /= 2.0
            if t < 1e-8:
                return theta, False, iterations
        theta = theta - t * step
    return theta, False, max_iter


def _scoring(objective, theta, max_iter, tol):
    f, grad, hess = objective.value_gradient_information(theta)
    if not np.isfinite(f):
        return theta, False, 0
    for iterations in range(1, max_iter + 1):
        if iterations > 100:  # linear convergence this slow: Newton steps take over
            return theta, False, iterations
        step = np.linalg.solve(hess, grad)
        t = 1.0
        slack = 64 * np.finfo(float).eps * max(1.0, abs(f))
        # a predicted decrease this small is below the rounding of the discrepancy (a
        # difference of log-likelihoods): the comparison would only halve at random
        if grad @ step > PREDICTED_DECREASE_FLOOR:
            while objective.value(theta - t * step) > f - 1e-4 * t * (grad @ step) + slack:
                t /= 2.0
                if t < 1e-10:
                    return theta, False, iterations
        theta = theta - t * step
        f, grad, hess = objective.value_gradient_information(theta)
        if np.max(np.abs(step)) < tol:
            return theta, True, iterations
    return theta, False, max_iter


class FIMLObjective:
    """lavaan's FIML discrepancy ``F = 2 (logl_h1 - logl) / N`` (so ``chisq = N F``).

    ``logl`` is the casewise log-likelihood summed over groups
    (:func:`policestress.sem.missing.fiml_loglik`); ``logl_h1`` that of the unrestricted
    model estimated by EM. The gradient is ``-2/N sum_g Delta_g' dlogl_g/dm``; the scoring
    matrix ``2 sum_g (n_g / N) Delta_g' I_g Delta_g`` with ``I_g`` the expected h1
    information per case at the implied moments.
    """

    def __init__(self, rep: Representation, patterns: list, h1_loglik: float):
        self.rep = rep
        self.patterns = patterns
        self.n = sum(p.n for p in patterns)
        self.weights = np.array([p.n / self.n for p in patterns])
        self.h1_loglik = h1_loglik
        self.q = rep.n_free

    def loglik(self, theta: np.ndarray) -> float:
        from policestress.sem.missing import fiml_loglik

        total = 0.0
        for g, pats in enumerate(self.patterns):
            mm = self.rep.matrices(theta, g)
            if not _positive_definite(mm.sigma):
                return -np.inf
            total += fiml_loglik(pats, mm.mu, mm.sigma)
        return total

    def value(self, theta: np.ndarray) -> float:
        ll = self.loglik(theta)
        return 2.0 * (self.h1_loglik - ll) / self.n if np.isfinite(ll) else np.inf

    def value_gradient_information(self, theta: np.ndarray, information: bool = True):
        """F, dF/dtheta and a scoring matrix: twice the complete-data expected information at
        the implied moments, which is cheap (no per-pattern work) and positive definite; with
        little missingness it is close to the FIML one, and the step-halving scoring loop
        needs no more than a descent direction. (SEs use the observed information.)"""
        from policestress.sem.missing import fiml_loglik_gradient

        total, grad = 0.0, np.zeros(self.q)
        hess = np.zeros((self.q, self.q)) if information else None
        p = self.rep.p
        for g, pats in enumerate(self.patterns):
            mm = self.rep.matrices(theta, g)
            if not _positive_definite(mm.sigma):
                raise np.linalg.LinAlgError("model-implied covariance not positive definite")
            ll, dmom = fiml_loglik_gradient(pats, mm.mu, mm.sigma)
            total += ll
            grad -= 2.0 / self.n * functional_gradient(self.rep, mm, g, dmom[:p], dmom[p:])
            if information:
                ds, dm = self.rep.derivatives(mm, g)
                used = self.rep.used[g]
                w = np.linalg.inv(mm.sigma)
                b = np.matmul(w, ds)
                k = ds.shape[0]
                h = b.reshape(k, -1) @ b.transpose(0, 2, 1).reshape(k, -1).T
                h = h + 2.0 * dm @ w @ dm.T
                hess[np.ix_(used, used)] += self.weights[g] * h
        return 2.0 * (self.h1_loglik - total) / self.n, grad, hess

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        return self.value_gradient_information(theta, information=False)[1]


def functional_gradient(
    rep: Representation, mm, g: int, g_mu: np.ndarray | None, g_vech: np.ndarray
) -> np.ndarray:
    """Gradient in the free parameters of ``phi = g_mu' mu + g_vech' vech(Sigma)`` with
    ``g_mu``, ``g_vech`` held fixed: ``Delta_g' [g_mu, g_vech]`` without building ``Delta``.

    The matrix derivatives of ``Sigma = M Psi M' + Theta`` (``M = Lambda A``) and
    ``mu = nu + M alpha``: with ``G`` symmetric, ``tr(G Sigma) = g_vech' vech(Sigma)``,
    d/dLambda = 2 G M Psi A' + g_mu (A alpha)', d/dB = A' Lambda' (2 G M Psi A' + g_mu
    (A alpha)'), d/dPsi = M' G M, d/dTheta = G, d/dnu = g_mu, d/dalpha = M' g_mu; a free
    off-diagonal element of a symmetric matrix counts twice.
    """
    p = rep.p
    rows, cols = vech_indices(p)
    gm = np.zeros((p, p))
    gm[rows, cols] = g_vech
    gm[cols, rows] = g_vech
    gm[np.diag_indices(p)] *= 2.0
    gm /= 2.0  # off-diagonal vech elements move two entries of Sigma
    gmp = gm @ mm.m @ mm.psi @ mm.a.T  # G M Psi A' (p x m)
    d_lam = 2.0 * gmp
    if g_mu is not None:
        a_alpha = mm.a @ mm.alpha
        d_lam = d_lam + np.outer(g_mu, a_alpha)
    d_beta = mm.a.T @ mm.lam.T @ d_lam
    mgm = mm.m.T @ gm @ mm.m
    spec = rep.specs[g]
    sel = spec.free >= 0
    kind, r, c = spec.kind[sel], spec.r[sel], spec.c[sel]
    out = np.zeros(kind.size)
    twice = np.where(r != c, 2.0, 1.0)
    for name, mat in (("lambda", d_lam), ("beta", d_beta)):
        k = kind == name
        out[k] = mat[r[k], c[k]]
    k = kind == "psi"
    out[k] = twice[k] * mgm[r[k], c[k]]
    k = kind == "theta"
    out[k] = twice[k] * gm[r[k], c[k]]
    if g_mu is not None:
        k = kind == "nu"
        out[k] = g_mu[r[k]]
        k = kind == "alpha"
        out[k] = (mm.m.T @ g_mu)[r[k]]
    return np.bincount(spec.free[sel], weights=out, minlength=rep.n_free)


def observed_information(rep: Representation, theta: np.ndarray, patterns: list) -> np.ndarray:
    """Observed information per case (lavaan's default for FIML and MLR): minus the Hessian of
    the total log-likelihood in the free parameters, over ``N``.

    The Hessian is ``sum_g Delta_g' H_g Delta_g + d^2 phi_g / dtheta^2`` with ``H_g`` the
    analytic Hessian in moment space (:func:`~policestress.sem.missing.fiml_information`,
    pattern-wise) and ``phi_g = s_g' m_g(theta)`` for the moment-space gradient ``s_g`` held
    fixed: the model's own curvature, which does not vanish at a restricted optimum. The
    latter is cheap (no data) and comes from central differences of
    :func:`functional_gradient`, exact for the cubic polynomials of a CFA. lavaan differences
    the whole analytic gradient (``lav_model_hessian``); this agrees with it to rounding and
    needs the data only once. ``patterns``: per group a
    :class:`~policestress.sem.missing.MissingPatterns` (complete data: ``from_moments``).
    """
    from policestress.sem.missing import fiml_gradient, fiml_information

    n_total = sum(p.n for p in patterns)
    q = rep.n_free
    info = np.zeros((q, q))
    scores = []
    for g, pats in enumerate(patterns):
        mm = rep.matrices(theta, g)
        # without a mean structure the mean is the sample mean, where the blocks decouple
        mu = mm.mu if rep.meanstructure else pats.means[0]
        a = fiml_information(pats, mu, mm.sigma, "observed", rep.meanstructure)
        delta = rep.delta_at(mm, g)
        info += (pats.n / n_total) * (delta.T @ a @ delta)
        s = fiml_gradient(pats, mu, mm.sigma)
        scores.append((s[: rep.p], s[rep.p :]) if rep.meanstructure else (None, s[rep.p :]))

    def curvature_gradient(t):
        return sum(
            functional_gradient(rep, rep.matrices(t, g), g, s_mu, s_vech)
            for g, (s_mu, s_vech) in enumerate(scores)
        )

    hess_phi = numerical_hessian(curvature_gradient, theta, h=1e-5)
    return info - hess_phi / n_total


def _positive_definite(a: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True


def numerical_hessian(gradient, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Hessian from central differences of an analytic gradient, symmetrised (lavaan's
    ``lav_model_hessian`` does the same for the observed information)."""
    q = theta.size
    out = np.zeros((q, q))
    for k in range(q):
        step = np.zeros(q)
        step[k] = h
        out[:, k] = (gradient(theta + step) - gradient(theta - step)) / (2 * h)
    return (out + out.T) / 2.0
