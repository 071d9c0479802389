"""The one reader of lavaan model syntax, shared by the CFA and invariance stages.

Understood (lavaan's rules): statements separated by newlines or ``;``; ``#`` starts a
comment; a line without an operator continues the statement before it; ``+`` lists on both
sides (``f =~ a + b``, ``a ~~ b + c``); the operators ``=~`` (loadings), ``~~``
(variances, covariances), ``~`` (regressions) and ``~ 1`` (intercepts, read as op ``~1``
with an empty ``rhs``, as in lavaan's parameter table); modifiers before ``*`` (fixed values
``1*x``, ``NA*x``, labels ``a*x``, ``start(.5)*x``), kept apart from the variable name.
Any other operator (``:=``, ``==``, ``<``, ``>``, ``|``, ``<~``, ``~*~``, ``%``) and any
term that is not a variable name raise :class:`ValueError`; what a consumer can fit is its
own check (:func:`policestress.invariance.parse_model` refuses modifiers, for example).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pandas as pd

__all__ = ["Relation", "relations", "parse_syntax", "parameter_name"]

_OPERATOR = re.compile(r"=~|<~|~\*~|~~|~|==|:=|<|>|\||%")
_SUPPORTED = ("=~", "~~", "~")
_NAME = r"[A-Za-z_.][\w.]*"
_TERM = re.compile(rf"^(?:(?P<modifier>.+)\*)?\s*(?P<name>{_NAME}|1)$")


class Relation(NamedTuple):
    """One relation: ``lhs op rhs`` and the modifier written before ``rhs`` (or None)."""

    lhs: str
    op: str
    rhs: str
    modifier: str | None = None


def _statements(syntax: str) -> list[str]:
    statements: list[str] = []
    for raw in re.split(r"[\n;]", syntax):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if _OPERATOR.search(line):
            statements.append(line)
        elif statements:
            statements[-1] += " " + line  # lavaan: a line without an operator continues
        else:
            raise ValueError(f"lavaan statement without an operator: {line!r}")
    return statements


def relations(syntax: str) -> list[Relation]:
    """Every relation written in lavaan ``syntax``, ``+`` lists expanded, in written order.

    Examples
    --------
    >>> [tuple(r) for r in relations("f =~ 1*a + b  # c\\nx ~ 1")]
    [('f', '=~', 'a', '1'), ('f', '=~', 'b', None), ('x', '~1', '', None)]
    """
    out = []
    for statement in _statements(syntax):
        found = _OPERATOR.search(statement)
        op = found.group()
        if op not in _SUPPORTED:
            raise ValueError(
                f"unsupported lavaan operator {op!r} in {statement!r}: "
                "only '=~', '~~', '~' and '~ 1' are read"
            )
        lhs_part, rhs_part = statement[: found.start()], statement[found.end() :]
        for lhs in (s.strip() for s in lhs_part.split("+")):
            if not re.fullmatch(_NAME, lhs):
                raise ValueError(f"cannot read left-hand side {lhs!r} in {statement!r}")
            for term in rhs_part.split("+"):
                hit = _TERM.match(term.strip())
                if not hit or (hit["name"] == "1" and op != "~"):
                    raise ValueError(f"cannot read term {term.strip()!r} in {statement!r}")
                modifier = hit["modifier"].strip() if hit["modifier"] else None
                if hit["name"] == "1":
                    out.append(Relation(lhs, "~1", "", modifier))
                else:
                    out.append(Relation(lhs, op, hit["name"], modifier))
    return out


def parse_syntax(syntax: str) -> pd.DataFrame:
    """The relations written in lavaan syntax, as a table (modifiers dropped).

    Returns
    -------
    DataFrame with ``lhs, op, rhs`` in the order written.

    Examples
    --------
    >>> parse_syntax("f =~ 1*a + b  # c\\na ~~ b")
      lhs  op rhs
    0   f  =~   a
    1   f  =~   b
    2   a  ~~   b
    """
    rows = [r[:3] for r in relations(syntax)]
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs"])


def parameter_name(text: str) -> str:
    """One parameter in lavaan's compact notation (``group.partial``, ``group.equal`` names).

    Examples
    --------
    >>> parameter_name("visual =~ x2"), parameter_name("x3 ~ 1"), parameter_name("x3~~x3")
    ('visual=~x2', 'x3~1', 'x3~~x3')
    """
    found = relations(text)
    if len(found) != 1 or found[0].modifier is not None:
        raise ValueError(f"not a single parameter name: {text!r}")
    lhs, op, rhs, _ = found[0]
    return lhs + op + rhs
