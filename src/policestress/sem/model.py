"""The parameter table as matrices (lavaan's LISREL representation) and their derivatives.

Per group: ``Lambda`` (p x m), ``Beta`` (m x m), ``Psi`` (m x m), ``Theta`` (p x p), ``nu``
(p), ``alpha`` (m). Observed variables that take part in regressions (or covary with a latent
variable) become "dummy" latent variables measured without error, as in lavaan; the
model-implied moments are

    Sigma = Lambda A Psi A' Lambda' + Theta,    mu = nu + Lambda A alpha,    A = (I - Beta)^-1.

``Delta`` (lavaan's ``lavInspect(fit, "delta")``) is the Jacobian of the moment vector
``[mu, vech(Sigma)]`` (vech: lower triangle column by column) with respect to the free
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["ModelMatrices", "GroupSpec", "build_specs", "vech_indices"]

KINDS = ("lambda", "beta", "psi", "theta", "nu", "alpha")


def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of lavaan's ``lav_matrix_vech`` (column-wise lower triangle)."""
    cols, rows = np.triu_indices(p)  # (j, i) with j <= i, ordered by j then i
    return rows, cols


@dataclass
class GroupSpec:
    """Where each parameter-table row of one group sits in the matrices."""

    rows: np.ndarray  # partable row positions of this group
    kind: np.ndarray  # matrix name per row
    r: np.ndarray
    c: np.ndarray
    free: np.ndarray  # 0-based free index, -1 when fixed


@dataclass
class ModelMatrices:
    """Matrices of one group at a parameter vector, with the implied moments."""

    lam: np.ndarray
    beta: np.ndarray
    psi: np.ndarray
    theta: np.ndarray
    nu: np.ndarray
    alpha: np.ndarray
    a: np.ndarray  # (I - B)^-1
    m: np.ndarray  # Lambda A
    phi: np.ndarray  # A Psi A': (total) covariance of the latent variables
    sigma: np.ndarray
    mu: np.ndarray


def build_specs(table: pd.DataFrame, observed: list[str], eta: list[str]) -> list[GroupSpec]:
    """Map every parameter-table row to (matrix, row, column) in its group."""
    obs = {v: i for i, v in enumerate(observed)}
    lat = {v: i for i, v in enumerate(eta)}
    specs = []
    for g in sorted(table["group"].unique()):
        sub = table[table["group"] == g]
        kinds, rs, cs = [], [], []
        # plain arrays: itertuples builds a named tuple per row of every fitted model
        for lhs, op, rhs in zip(*(sub[c].to_numpy() for c in ("lhs", "op", "rhs")), strict=True):
            if op == "=~":
                if rhs in lat:
                    kinds.append("beta"), rs.append(lat[rhs]), cs.append(lat[lhs])
                else:
                    kinds.append("lambda"), rs.append(obs[rhs]), cs.append(lat[lhs])
            elif op == "~":
                kinds.append("beta"), rs.append(lat[lhs]), cs.append(lat[rhs])
            elif op == "~~":
                if lhs in lat:
                    i, j = lat[lhs], lat[rhs]
                    kinds.append("psi")
                else:
                    i, j = obs[lhs], obs[rhs]
                    kinds.append("theta")
                rs.append(max(i, j)), cs.append(min(i, j))
            elif op == "~1":
                if lhs in lat:
                    kinds.append("alpha"), rs.append(lat[lhs]), cs.append(0)
                else:
                    kinds.append("nu"), rs.append(obs[lhs]), cs.append(0)
            else:
                raise ValueError(f"operator {op!r} has no place in the model matrices")
        specs.append(
            GroupSpec(
                rows=sub.index.to_numpy(),
                kind=np.array(kinds),
                r=np.array(rs, dtype=int),
                c=np.array(cs, dtype=int),
                free=sub["free"].to_numpy(dtype=int) - 1,
            )
        )
    return specs


class Representation:
    """Matrices, implied moments and their derivatives for every group of a model."""

    def __init__(
        self, table: pd.DataFrame, observed: list[str], eta: list[str], dummies: list[str]
    ):
        self.table = table
        self.observed, self.eta, self.dummies = observed, eta, dummies
        self.p, self.m = len(observed), len(eta)
        self.specs = build_specs(table, observed, eta)
        self.n_free = int(table["free"].max()) if len(table) else 0
        self.fixed_values = table["ustart"].to_numpy(dtype=float)
        obs, lat = {v: i for i, v in enumerate(observed)}, {v: i for i, v in enumerate(eta)}
        self._dummy_pairs = [(obs[d], lat[d]) for d in dummies]
        self.meanstructure = bool(table.attrs.get("meanstructure", False))
        self.used = [np.unique(s.free[s.free >= 0]) for s in self.specs]

    @cached_property
    def _free_rows(self) -> tuple[np.ndarray, np.ndarray]:
        # the table's free column, read once: values() and matrices() run at every
        # iteration of the optimiser, and a column of a frame with attrs deep-copies them
        free = self.table["free"].to_numpy(dtype=int)
        return free > 0, np.maximum(free, 1) - 1

    @cached_property
    def _slots(self) -> list[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
        # per group and matrix: the rows of the group's spec in it, and their (row, column)
        out = []
        for spec in self.specs:
            slots = []
            for kind in KINDS:
                sel = np.flatnonzero(spec.kind == kind)
                slots.append((kind, sel, spec.r[sel], spec.c[sel]))
            out.append(slots)
        return out

    def values(self, theta: np.ndarray) -> np.ndarray:
        """Value of every parameter-table row at the free parameter vector ``theta``."""
        is_free, position = self._free_rows
        return np.where(is_free, theta[position], self.fixed_values)

    def matrices(
        self, theta: np.ndarray, g: int, values: np.ndarray | None = None
    ) -> ModelMatrices:
        spec = self.specs[g]
        vals = (self.values(theta) if values is None else values)[spec.rows]
        p, m = self.p, self.m
        mats = {
            "lambda": np.zeros((p, m)),
            "beta": np.zeros((m, m)),
            "psi": np.zeros((m, m)),
            "theta": np.zeros((p, p)),
            "nu": np.zeros((p, 1)),
            "alpha": np.zeros((m, 1)),
        }
        for i, j in self._dummy_pairs:
            mats["lambda"][i, j] = 1.0
        for kind, sel, r, c in self._slots[g]:
            mat = mats[kind]
            mat[r, c] = vals[sel]
            if kind in ("psi", "theta"):
                mat[c, r] = vals[sel]
        a = np.linalg.inv(np.eye(m) - mats["beta"]) if m else np.zeros((0, 0))
        lam_a = mats["lambda"] @ a
        phi = a @ mats["psi"] @ a.T
        sigma = lam_a @ mats["psi"] @ lam_a.T + mats["theta"]
        mu = mats["nu"][:, 0] + lam_a @ mats["alpha"][:, 0]
        return ModelMatrices(
            mats["lambda"],
            mats["beta"],
            mats["psi"],
            mats["theta"],
            mats["nu"][:, 0],
            mats["alpha"][:, 0],
            a,
            lam_a,
            phi,
            sigma,
            mu,
        )

    def entry_derivatives(
        self, mm: ModelMatrices, kind: np.ndarray, r: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """dSigma (k, p, p) and dmu (k, p) of single matrix entries (kind, r, c)."""
        p = self.p
        k = len(kind)
        ds = np.zeros((k, p, p))
        dm = np.zeros((k, p))
        lam_phi = mm.lam @ mm.phi  # Lambda Phi (p x m): with Beta, Lambda A Psi A'
        a_alpha = mm.a @ mm.alpha
        for name in ("lambda", "beta", "psi", "theta", "nu", "alpha"):
            sel = np.flatnonzero(kind == name)
            if sel.size == 0:
                continue
            rr, cc = r[sel], c[sel]
            if name == "lambda":
                v = lam_phi[:, cc].T  # (k, p)
                ds[sel, rr, :] += v
                ds[sel, :, rr] += v
                dm[sel, rr] = a_alpha[cc]
            elif name == "beta":
                # dA = A E_rc A: dSigma = M_r (Lambda Phi)_c' + transpose, M = Lambda A
                u = mm.m[:, rr].T
                v = (mm.m @ mm.psi @ mm.a.T)[:, cc].T
                x = np.einsum("ki,kj->kij", u, v)
                ds[sel] = x + x.transpose(0, 2, 1)
                dm[sel] = u * a_alpha[cc][:, None]
            elif name == "psi":
                u, v = mm.m[:, rr].T, mm.m[:, cc].T
                x = np.einsum("ki,kj->kij", u, v)
                both = x + x.transpose(0, 2, 1)
                diag = rr == cc
                both[diag] /= 2.0
                ds[sel] = both
            elif name == "theta":
                ds[sel, rr, cc] = 1.0
                ds[sel, cc, rr] = 1.0
            elif name == "nu":
                dm[sel, rr] = 1.0
            else:
                dm[sel] = mm.m[:, rr].T
        return ds, dm

    def derivatives(self, mm: ModelMatrices, g: int) -> tuple[np.ndarray, np.ndarray]:
        """dSigma (q_g, p, p) and dmu (q_g, p) per free parameter used in group ``g``.

        Rows follow ``self.used[g]`` (free indices); parameters held equal are summed.
        """
        spec = self.specs[g]
        sel = spec.free >= 0
        ds, dm = self.entry_derivatives(mm, spec.kind[sel], spec.r[sel], spec.c[sel])
        pos = np.searchsorted(self.used[g], spec.free[sel])
        q = len(self.used[g])
        if len(pos) == q:  # every free parameter in one place (np.add.at is slow)
            order = np.argsort(pos)
            return ds[order], dm[order]
        agg = np.zeros((q, len(pos)))
        agg[pos, np.arange(len(pos))] = 1.0  # sums the entries of a parameter held equal
        out_s = (agg @ ds.reshape(len(pos), -1)).reshape(q, self.p, self.p)
        return out_s, agg @ dm

    def delta(self, theta: np.ndarray, g: int) -> np.ndarray:
        """lavaan's Delta of group ``g``: d [mu, vech(Sigma)] / d theta (all free parameters)."""
        return self.delta_at(self.matrices(theta, g), g)

    def delta_at(self, mm: ModelMatrices, g: int) -> np.ndarray:
        """:meth:`delta` at matrices already computed."""
        ds, dm = self.derivatives(mm, g)
        rows, cols = vech_indices(self.p)
        part = ds[:, rows, cols].T
        if self.meanstructure:
            part = np.vstack([dm.T, part])
        out = np.zeros((part.shape[0], self.n_free))
        out[:, self.used[g]] = part
        return out
