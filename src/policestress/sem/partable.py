"""lavaan's parameter table: the parsed model plus the parameters ``cfa()``/``sem()`` add.

One row per parameter per group, with lavaan's columns ``id, lhs, op, rhs, user, group,
free, ustart, exo, label, plabel`` (``free`` is 0 for a fixed parameter, else the index of
the free parameter, 1-based, shared by parameters held equal). The rules are lavaan 0.6's
(``lav_partable_flat``, ``lav_partable_add_group_equal``):

* latent variables are the left-hand sides of ``=~``; observed variables everything else;
* the first indicator of each factor has its loading fixed at 1 (``auto.fix.first``) unless
  the syntax gives it a value or ``NA``; with ``std_lv`` the loadings are free and the latent
  (residual) variances fixed at 1;
* residual variances of the observed variables and (residual) variances of the latent ones
  are free (``auto.var``); exogenous latent variables covary (``auto.cov.lv.x``, fixed at 0
  with ``orthogonal``); residuals of purely dependent variables covary in ``sem()``
  (``auto.cov.y``);
* exogenous observed covariates (``fixed.x``) have their variances, covariances and means
  fixed at the sample values and are not counted among the free parameters or the data;
* with a mean structure the observed intercepts are free and the latent means fixed at 0,
  except that with ``group_equal`` ``intercepts`` (and not ``means``) the latent means are
  free in groups 2..G;
* the same label means the same parameter (within and across groups); ``group_equal``
  classes (``loadings, intercepts, means, residuals, residual.covariances, lv.variances,
  lv.covariances, regressions``) tie each group's free parameter to group 1's, except the
  ``group_partial`` ones (``"f=~x2"``, ``"x3~1"``);
* an equality between two labels (``a1 == a2``) is one parameter, as a shared label; the
  other constraints stay functions of the free parameters
  (:mod:`policestress.sem.constraints`).

Examples
--------
>>> from policestress.sem.syntax import parse
>>> pt = partable(parse("visual =~ x1 + x2 + x3"))
>>> pt[["lhs", "op", "rhs", "free", "ustart"]].values.tolist()[:4]
[['visual', '=~', 'x1', 0, 1.0], ['visual', '=~', 'x2', 1, nan], ['visual', '=~', 'x3', 2, nan], ['x1', '~~', 'x1', 3, nan]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from policestress.sem.syntax import ParsedModel, parameter_name

__all__ = ["EQUALITY_CLASSES", "Variables", "variables", "partable"]

EQUALITY_CLASSES = (
    "loadings",
    "intercepts",
    "means",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
    "regressions",
    "thresholds",
)


def _unique(seq) -> list:
    return list(dict.fromkeys(seq))


@dataclass
class Variables:
    """The variable sets lavaan's ``lav_partable_vnames`` derives from a model."""

    lv: list[str]
    ov: list[str]
    ov_x: list[str]  # exogenous observed covariates (fixed.x)
    lv_x: list[str]  # exogenous latent variables
    pure_y: list[str]  # dependent variables that predict nothing
    indicators: dict[str, list[str]]


def variables(parsed: ParsedModel, fixed_x: bool = True) -> Variables:
    """Latent and observed variables of a parsed model, in lavaan's order."""
    terms = parsed.terms
    lv = _unique(t.lhs for t in terms if t.op == "=~")
    indicators = {f: [t.rhs for t in terms if t.op == "=~" and t.lhs == f] for f in lv}
    ov_ind = _unique(t.rhs for t in terms if t.op == "=~" and t.rhs not in lv)
    ys = _unique(t.lhs for t in terms if t.op == "~")
    xs = _unique(t.rhs for t in terms if t.op == "~")
    others = _unique(v for t in terms if t.op in ("~~", "~1", "|") for v in (t.lhs, t.rhs) if v)
    ov = _unique([*ov_ind, *(v for v in ys + xs + others if v not in lv)])
    ov_x = [v for v in xs if v in ov and v not in ys and v not in ov_ind] if fixed_x else []
    # a covariate that the user relates by ~~ to a non-covariate is not exogenous for lavaan
    for t in terms:
        if t.op == "~~" and t.lhs != t.rhs:
            a, b = t.lhs, t.rhs
            if (a in ov_x) != (b in ov_x):
                ov_x = [v for v in ov_x if v not in (a, b)]
    indicator_of = {t.rhs for t in terms if t.op == "=~"}
    lv_x = [f for f in lv if f not in ys and f not in indicator_of]
    pure_y = [v for v in ys if v not in xs and v not in indicator_of]
    return Variables(lv, ov, ov_x, lv_x, pure_y, indicators)


def _group_value(values: list, g: int):
    if len(values) == 1:
        return values[0]
    if g >= len(values):
        raise ValueError(f"a modifier vector c(...) has {len(values)} values for group {g + 1}")
    return values[g]


def _pclass(row, lv: set[str]) -> str:
    op, lhs, rhs = row["op"], row["lhs"], row["rhs"]
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "|":
        return "thresholds"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if op == "~~":
        latent = lhs in lv
        if lhs == rhs:
            return "lv.variances" if latent else "residuals"
        return "lv.covariances" if latent else "residual.covariances"
    return ""


def partable(
    parsed: ParsedModel,
    n_groups: int = 1,
    *,
    model_type: str = "cfa",
    std_lv: bool = False,
    orthogonal: bool = False,
    meanstructure: bool = False,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    fixed_x: bool = True,
) -> pd.DataFrame:
    """The parameter table of a parsed model (see the module docstring for the rules).

    Returns
    -------
    DataFrame with ``id, lhs, op, rhs, user, group, free, ustart, exo, label, plabel,
    start_user, pclass``; ``group`` counts from 1 as in lavaan. Constraints and defined
    parameters are in ``result.attrs["constraints"]``.
    """
    unknown = set(group_equal) - set(EQUALITY_CLASSES)
    if unknown:
        raise ValueError(f"unknown group_equal {sorted(unknown)}; allowed: {EQUALITY_CLASSES}")
    if any(t.op == "|" for t in parsed.terms):
        raise NotImplementedError(
            "thresholds ('|') need ordinal estimation (ordered=), which this engine does not fit"
        )
    v = variables(parsed, fixed_x=fixed_x and model_type == "sem")
    lv = set(v.lv)
    rows: list[dict] = []

    def add(
        g, lhs, op, rhs, user, ustart=math.nan, label="", start=math.nan, exo=0, free=True, equal=""
    ):
        rows.append(
            dict(
                lhs=lhs,
                op=op,
                rhs=rhs,
                user=user,
                group=g + 1,
                ustart=ustart,
                label=label,
                start_user=start,
                exo=exo,
                fixed_flag=not free,
                equal=equal,
            )
        )

    ov_x = set(v.ov_x)
    for g in range(n_groups):
        written = set()
        first_indicator = {f: items[0] for f, items in v.indicators.items() if items}
        for t in parsed.terms:
            fixed = _group_value(t.fixed, g)
            start = _group_value(t.start, g)
            label = _group_value(t.label, g)
            equal = _group_value(t.equal, g)
            lhs, rhs = t.lhs, t.rhs
            key = (lhs, t.op, rhs)
            written.add(key)
            if t.op == "~~":
                written.add((rhs, t.op, lhs))
            if isinstance(fixed, float) and not math.isnan(fixed):
                add(g, lhs, t.op, rhs, 1, ustart=fixed, label=label, free=False, equal=equal)
                continue
            explicit_free = isinstance(fixed, float) and math.isnan(fixed)
            ustart = start if start is not None else math.nan
            auto_fixed = None
            if (
                t.op == "=~"
                and not std_lv
                and first_indicator.get(lhs) == rhs
                and not (explicit_free)
            ):
                auto_fixed = 1.0  # the marker
            if t.op == "~~" and lhs == rhs and lhs in lv and std_lv and not explicit_free:
                auto_fixed = 1.0
            if auto_fixed is not None:
                add(g, lhs, t.op, rhs, 1, ustart=auto_fixed, label=label, free=False, equal=equal)
            else:
                add(g, lhs, t.op, rhs, 1, ustart=ustart, label=label, start=ustart, equal=equal)
        # residual variances of observed variables, variances of latent ones
        for x in v.ov:
            if (x, "~~", x) not in written:
                add(g, x, "~~", x, 0, exo=int(x in ov_x), free=x not in ov_x)
        for f in v.lv:
            if (f, "~~", f) not in written:
                if std_lv:
                    add(g, f, "~~", f, 0, ustart=1.0, free=False)
                else:
                    add(g, f, "~~", f, 0)
        # covariances of exogenous latent variables, residual covariances of pure dependents
        pairs = [(a, b, orthogonal) for i, a in enumerate(v.lv_x) for b in v.lv_x[i + 1 :]]
        if model_type == "sem":
            pairs += [
                (a, b, orthogonal and a in lv)
                for i, a in enumerate(v.pure_y)
                for b in v.pure_y[i + 1 :]
            ]
        for a, b, zero in pairs:
            if (a, "~~", b) not in written:
                if zero:
                    add(g, a, "~~", b, 0, ustart=0.0, free=False)
                else:
                    add(g, a, "~~", b, 0)
        for i, a in enumerate(v.ov_x):
            for b in v.ov_x[i + 1 :]:
                if (a, "~~", b) not in written:
                    add(g, a, "~~", b, 0, exo=1, free=False)
        if meanstructure:
            for x in v.ov:
                if (x, "~1", "") not in written:
                    add(g, x, "~1", "", 0, exo=int(x in ov_x), free=x not in ov_x)
            free_means = "intercepts" in group_equal and "means" not in group_equal and g > 0
            for f in v.lv:
                if (f, "~1", "") not in written:
                    if free_means:
                        add(g, f, "~1", "", 0)
                    else:
                        add(g, f, "~1", "", 0, ustart=0.0, free=False)
    table = pd.DataFrame(rows)
    table.insert(0, "id", np.arange(1, len(table) + 1))
    table["plabel"] = [f".p{i}." for i in table["id"]]
    table["pclass"] = [_pclass(r, lv) for r in table.to_dict("records")]
    table["name"] = table["lhs"] + table["op"] + table["rhs"]
    _assign_free(table, group_equal, group_partial, parsed)
    table.attrs["constraints"] = list(parsed.constraints)
    table.attrs["variables"] = v
    table.attrs["meanstructure"] = meanstructure
    return table.drop(columns=["fixed_flag", "equal"])


def _assign_free(table, group_equal, group_partial, parsed) -> None:
    partial = {parameter_name(p) for p in group_partial}
    unknown = partial - set(table["name"])
    if unknown:
        raise ValueError(f"group_partial names no model parameter: {sorted(unknown)}")
    labels = set(table["label"]) - {""}
    bad_equal = set(table["equal"]) - {""} - labels
    if bad_equal:
        raise ValueError(f"equal() names unknown labels {sorted(bad_equal)}")
    # simple equalities "a == b" between two labels: one parameter, as shared labels
    alias: dict[str, str] = {}
    for c in parsed.constraints:
        if c.op == "==" and c.lhs in labels and c.rhs in labels:
            root_l, root_r = alias.get(c.lhs, c.lhs), alias.get(c.rhs, c.rhs)
            for k, val in list(alias.items()):
                if val == root_r:
                    alias[k] = root_l
            alias[root_r] = root_l
    # every other constraint (:=, ==, <, >) is a function of the free parameters:
    # policestress.sem.constraints
    keys: list = []
    first_group = table[table["group"] == 1].set_index("name")
    fixed = table["fixed_flag"].to_numpy().copy()
    ustart = table["ustart"].to_numpy().copy()
    for i, r in enumerate(table.to_dict("records")):
        label = r["equal"] or r["label"]
        label = alias.get(label, label)
        if label:
            keys.append(("label", label))
            continue
        tied = (
            r["group"] > 1
            and r["pclass"] in group_equal
            and r["name"] not in partial
            and not r["exo"]
            and r["name"] in first_group.index
        )
        if tied:
            ref = first_group.loc[r["name"]]
            if ref["fixed_flag"]:
                if not fixed[i] and r["pclass"] != "means":
                    keys.append(("row", i))
                    continue
                fixed[i] = True
                ustart[i] = ref["ustart"]
                keys.append(None)
                continue
            keys.append(("row", int(ref["id"]) - 1) if not fixed[i] else None)
            continue
        keys.append(("row", i))
    # a label shared by a fixed and a free parameter: lavaan fixes them all
    fixed_labels = {k for k, f in zip(keys, fixed, strict=True) if k and k[0] == "label" and f}
    index: dict = {}
    free = np.zeros(len(table), dtype=int)
    for i, k in enumerate(keys):
        if k is None or fixed[i] or k in fixed_labels:
            continue
        free[i] = index.setdefault(k, len(index) + 1)
    for k in fixed_labels:
        value = next(u for kk, u, f in zip(keys, ustart, fixed, strict=True) if kk == k and f)
        for i, kk in enumerate(keys):
            if kk == k:
                ustart[i] = value
    table["free"] = free
    table["ustart"] = ustart
    table["fixed_flag"] = fixed
