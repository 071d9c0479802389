"""General constraints of lavaan model syntax: ``==``, ``<``, ``>`` and ``:=`` (defined parameters).

lavaan 0.6 (``lav_constraints_parse``, ``lav_partable_constraints_ceq`` / ``_ciq`` / ``_def``)
turns every constraint into a function of the free parameters: ``lhs - rhs`` for ``==``
(zero at a solution), ``lhs - rhs`` for ``>`` and ``rhs - lhs`` for ``<`` (non-negative at
a solution). Either side is an arithmetic expression in parameter labels, defined
parameters (``:=``, evaluated in the order written) and numbers, e.g. ``a1 + a2 == 1.4``,
``a*b == 0.5``, ``b > 0.3``. An equality between two labels only (``a1 == a2``) is the same
parameter, as a shared label, and is resolved in the parameter table; everything else
lives here.

How lavaan counts: ``npar`` is the number of free parameters minus the rank of the
Jacobian of the equality constraints (``lav_utils_get_npar``); ``df = ndat - npar``
(``lav_model_test``); inequality constraints never change ``npar`` or ``df``, active or not.
Standard errors come from the information augmented by the Jacobian of the equality and
the active inequality constraints (``lav_model_information_augment_invert``), which equals
``K (K' I K)^-1 K'`` with ``K`` a basis of the null space of that Jacobian
(:func:`constrained_inverse`).

Examples
--------
>>> from policestress.sem.syntax import parse
>>> import pandas as pd
>>> table = pd.DataFrame({"label": ["a", "b"], "plabel": [".p1.", ".p2."], "free": [1, 2],
...                       "ustart": [float("nan")] * 2})
>>> con = ModelConstraints.build(table, parse("f =~ a*x + b*y\\na + b == 1\\nb > 0.3").constraints)
>>> con.equality(np.array([0.4, 0.5]), table["free"].to_numpy()).round(6).tolist()
[-0.1]
>>> con.inequality(np.array([0.4, 0.5]), table["free"].to_numpy()).round(6).tolist()
[0.2]
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ModelConstraints", "constrained_inverse", "null_space", "safe_expression"]

_FUNCTIONS = ("exp", "log", "sqrt", "abs", "sin", "cos", "tan")


def safe_expression(expr: str, names: set[str]) -> str:
    """An arithmetic expression of lavaan syntax as Python, refusing anything else (calls
    other than exp/log/sqrt/abs/sin/cos/tan, unknown names)."""
    text = expr.replace("^", "**")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot read expression {expr!r}") from err
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
                raise ValueError(f"expression {expr!r}: only {sorted(_FUNCTIONS)} may be called")
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id not in _FUNCTIONS:
                raise ValueError(f"expression {expr!r} names unknown label {node.id!r}")
        elif not isinstance(
            node,
            (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Load, ast.operator,
             ast.unaryop),
        ):  # fmt: skip
            raise ValueError(f"cannot read expression {expr!r}")
    return text


@dataclass
class ModelConstraints:
    """The constraints and defined parameters of one model, as functions of the free
    parameter vector ``theta`` (with the parameter table's ``free`` column and fixed values).

    ``definitions``: ``(name, expression)`` of each ``:=``; ``equalities`` / ``inequalities``:
    ``(constraint, code)`` with the statement (lhs, op, rhs) and the Python expression whose
    value must be zero / non-negative.
    """

    labels: list[str]
    plabels: list[str]
    fixed: np.ndarray
    definitions: list[tuple[str, str]]
    equalities: list[tuple[tuple[str, str, str], str]]
    inequalities: list[tuple[tuple[str, str, str], str]]
    order: list[tuple[str, str, str]]  # every constraint and definition, as written

    @classmethod
    def build(cls, table: pd.DataFrame, constraints) -> ModelConstraints:
        labels = [str(v) for v in table["label"]]
        plabels = [str(v) for v in table["plabel"]]
        names = set(labels) | set(plabels)
        names.discard("")
        definitions, eqs, ineqs, order = [], [], [], []
        for c in constraints:
            lhs, op, rhs = c.lhs.replace(" ", ""), c.op, c.rhs.replace(" ", "")
            order.append((lhs, op, rhs))
            if op == ":=":
                if lhs in names:
                    raise ValueError(f"defined parameter {lhs!r} reuses a parameter label")
                definitions.append((lhs, safe_expression(rhs, names)))
                names.add(lhs)
                continue
            if op == "==" and lhs in labels and rhs in labels:
                continue  # one parameter already (a shared label in the parameter table)
            left, right = safe_expression(lhs, names), safe_expression(rhs, names)
            if op == "==":
                eqs.append(((lhs, op, rhs), f"({left}) - ({right})"))
            elif op == ">":
                ineqs.append(((lhs, op, rhs), f"({left}) - ({right})"))
            elif op == "<":
                ineqs.append(((lhs, op, rhs), f"({right}) - ({left})"))
            else:
                raise ValueError(f"unknown constraint operator {op!r} in {lhs} {op} {rhs}")
        fixed = table["ustart"].to_numpy(dtype=float)
        return cls(labels, plabels, fixed, definitions, eqs, ineqs, order)

    @property
    def empty(self) -> bool:
        return not (self.definitions or self.equalities or self.inequalities)

    @property
    def restricts(self) -> bool:
        """True when the estimates are constrained (``==``, ``<``, ``>``)."""
        return bool(self.equalities or self.inequalities)

    def _scope(self, theta: np.ndarray, free: np.ndarray) -> dict:
        values = np.where(free > 0, theta[np.maximum(free, 1) - 1], self.fixed)
        scope: dict = {f: getattr(np, f) for f in _FUNCTIONS}
        for lab, pl, v in zip(self.labels, self.plabels, values, strict=True):
            if lab and lab not in scope:
                scope[lab] = float(v)
            scope[pl] = float(v)
        for name, code in self.definitions:
            scope[name] = float(eval(code, {"__builtins__": {}}, scope))  # noqa: S307 (checked AST)
        return scope

    def defined(self, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Values of the defined parameters (``:=``), in the order written."""
        scope = self._scope(theta, free)
        return np.array([scope[name] for name, _ in self.definitions])

    def equality(self, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
        """``lhs - rhs`` of each ``==`` (zero when satisfied)."""
        scope = self._scope(theta, free)
        return np.array([eval(code, {"__builtins__": {}}, scope) for _, code in self.equalities])  # noqa: S307

    def inequality(self, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Slack of each ``>`` / ``<`` (non-negative when satisfied)."""
        scope = self._scope(theta, free)
        return np.array(
            [eval(code, {"__builtins__": {}}, scope) for _, code in self.inequalities]  # noqa: S307
        )

    def row_values(self, theta: np.ndarray, free: np.ndarray) -> list[float]:
        """lavaan's ``est`` of each constraint or definition row, in the order written:
        the definition's value, ``lhs - rhs`` of ``==`` and ``>``, ``rhs - lhs`` of ``<``."""
        scope = self._scope(theta, free)
        eq = iter(self.equality(theta, free))
        ineq = iter(self.inequality(theta, free))
        out = []
        general = {c for c, _ in self.equalities}
        for lhs, op, rhs in self.order:
            if op == ":=":
                out.append(scope[lhs])
            elif op == "==" and (lhs, op, rhs) not in general:
                out.append(scope[lhs] - scope[rhs])  # a shared parameter: zero
            elif op == "==":
                out.append(float(next(eq)))
            else:
                out.append(float(next(ineq)))
        return out


def jacobian(fun, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian (exact for the linear constraints, to rounding)."""
    base = np.atleast_1d(np.asarray(fun(theta), dtype=float))
    jac = np.zeros((base.size, theta.size))
    for k in range(theta.size):
        step = h * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += step
        down[k] -= step
        jac[:, k] = (np.asarray(fun(up)) - np.asarray(fun(down))) / (2 * step)
    return jac


def null_space(jac: np.ndarray, tol: float | None = None) -> tuple[np.ndarray, int]:
    """Orthonormal basis ``K`` of the null space of ``jac`` and the rank of ``jac``
    (lavaan's ``qr(con.jac)$rank``: singular values above ``tol``)."""
    q = jac.shape[1]
    if jac.shape[0] == 0:
        return np.eye(q), 0
    _, sv, vt = np.linalg.svd(jac)
    if tol is None:
        tol = max(jac.shape) * np.finfo(float).eps * max(sv.max(), 1.0) * 1e3
    rank = int((sv > tol).sum())
    return vt[rank:].T, rank


def constrained_inverse(information: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """The inverse of the information under the constraints with Jacobian ``jac`` (rows:
    equalities and active inequalities): ``K (K' I K)^-1 K'``, the parameter block of
    lavaan's inverted augmented information. Raises ``LinAlgError`` when singular."""
    k, _ = null_space(jac)
    return k @ np.linalg.inv(k.T @ information @ k) @ k.T
