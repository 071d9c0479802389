"""The one reader of lavaan model syntax (lavaan 0.6's ``lavParseModelString`` rules).

Statements are separated by newlines or ``;``; ``#`` and ``!`` start a comment; a line
without an operator continues the statement before it. Operators: ``=~`` (loadings),
``~~`` (variances, covariances), ``~`` (regressions; ``~ 1`` intercepts, op ``~1`` with an
empty ``rhs`` as in lavaan's parameter table), ``|`` (thresholds, ``x | t1 + t2``), ``==``,
``<``, ``>`` (constraints between arithmetic expressions of labels, defined parameters and
numbers, fitted by :mod:`policestress.sem.constraints`) and ``:=`` (defined parameters). ``+`` lists are allowed
on both sides of ``=~ ~~ ~``. Modifiers written before ``*`` (several may be chained, as
``a*start(.5)*x``): a fixed value (``1``, ``-1``, ``0.5``, ``1e-2``), ``NA`` (free, e.g. a
freed marker), a label (``a``, ``label("a")``), ``equal("a")`` (equal to the parameter
labelled ``a``), ``start(v)`` and per-group vectors ``c(1, NA)``, ``c(a1, a2)``.
``<~``, ``~*~`` and ``%`` are refused with a :class:`ValueError` naming the statement.

Examples
--------
>>> [(t.lhs, t.op, t.rhs, t.fixed, t.label) for t in parse("f =~ NA*x1 + a*x2 + -1*x3").terms]
[('f', '=~', 'x1', [nan], ['']), ('f', '=~', 'x2', [None], ['a']), ('f', '=~', 'x3', [-1.0], [''])]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

__all__ = [
    "Term",
    "Constraint",
    "ParsedModel",
    "parse",
    "relations",
    "parse_syntax",
    "parameter_name",
    "Relation",
]

_OPERATOR = re.compile(r"=~|<~|~\*~|~~|:=|==|~|<|>|\||%")
_MODEL_OPS = ("=~", "~~", "~", "|")
_NAME = r"[A-Za-z_.][\w.]*"
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


@dataclass
class Term:
    """One model relation ``lhs op rhs`` with its modifiers, one entry per group.

    ``fixed`` holds per group a fixed value (float), ``nan`` for an explicit ``NA`` (free) or
    None (nothing said); ``start`` a start value or None; ``label`` a label or ``""``.
    Lists of length one apply to every group.
    """

    lhs: str
    op: str
    rhs: str
    fixed: list = field(default_factory=lambda: [None])
    start: list = field(default_factory=lambda: [None])
    label: list = field(default_factory=lambda: [""])
    equal: list = field(default_factory=lambda: [""])

    @property
    def modified(self) -> bool:
        return any(v is not None for v in self.fixed) or any(self.label) or any(self.equal)


class Constraint(NamedTuple):
    """A constraint (``==``, ``<``, ``>``) or a defined parameter (``:=``)."""

    lhs: str
    op: str
    rhs: str


@dataclass
class ParsedModel:
    """What a lavaan model string says: its relations and its constraints / definitions."""

    terms: list[Term]
    constraints: list[Constraint]


class Relation(NamedTuple):
    """``lhs op rhs`` and the modifier text written before ``rhs`` (or None)."""

    lhs: str
    op: str
    rhs: str
    modifier: str | None = None


def _statements(syntax: str) -> list[str]:
    statements: list[str] = []
    for raw in re.split(r"[\n;]", syntax):
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if _OPERATOR.search(line) and not (statements and statements[-1].rstrip().endswith("+")):
            statements.append(line)
        elif statements:
            statements[-1] += " " + line  # lavaan: a line without an operator continues
        else:
            raise ValueError(f"lavaan statement without an operator: {line!r}")
    return statements


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _value(token: str, statement: str):
    """A modifier value: float (fixed), nan (NA), or a label string."""
    token = token.strip().strip("\"'")
    if token == "NA":
        return math.nan
    if _NUMBER.match(token):
        return float(token)
    if re.fullmatch(_NAME, token):
        return token
    raise ValueError(f"cannot read modifier {token!r} in {statement!r}")


def _vector(text: str, statement: str) -> list:
    inner = re.fullmatch(r"c\((.*)\)", text.strip(), flags=re.S)
    if inner:
        return [_value(v, statement) for v in inner.group(1).split(",")]
    return [_value(text, statement)]


def _apply_modifier(term: Term, modifier: str, statement: str) -> None:
    modifier = modifier.strip()
    call = re.fullmatch(r"(start|label|equal)\((.*)\)", modifier, flags=re.S)
    if call:
        kind, values = call.group(1), _vector(call.group(2), statement)
        if kind == "start":
            if not all(isinstance(v, float) for v in values):
                raise ValueError(f"start() needs numbers in {statement!r}")
            term.start = values
        elif kind == "label":
            term.label = [str(v) for v in values]
        else:
            term.equal = [str(v) for v in values]
        return
    values = _vector(modifier, statement)
    fixed = [v if isinstance(v, float) else None for v in values]
    labels = [v if isinstance(v, str) else "" for v in values]
    if any(v is not None for v in fixed):
        term.fixed = fixed
    if any(labels):
        term.label = labels


def _merge(terms: list[Term], new: Term) -> None:
    """lavaan: a relation written twice is one parameter; later modifiers add to it."""
    for old in terms:
        if (old.lhs, old.op, old.rhs) == (new.lhs, new.op, new.rhs) or (
            new.op == "~~" and (old.lhs, old.op, old.rhs) == (new.rhs, new.op, new.lhs)
        ):
            if any(v is not None for v in new.fixed):
                old.fixed = new.fixed
            if any(v is not None for v in new.start):
                old.start = new.start
            if any(new.label):
                old.label = new.label
            if any(new.equal):
                old.equal = new.equal
            return
    terms.append(new)


def parse(syntax: str) -> ParsedModel:
    """Parse lavaan model syntax into terms (with modifiers) and constraints.

    Examples
    --------
    >>> m = parse("f =~ x1 + start(0.5)*x2; x1 + x2 ~~ x3\\nx1 ~ 1\\nd := a*b")
    >>> [(t.lhs, t.op, t.rhs) for t in m.terms]
    [('f', '=~', 'x1'), ('f', '=~', 'x2'), ('x1', '~~', 'x3'), ('x2', '~~', 'x3'), ('x1', '~1', '')]
    >>> m.constraints
    [Constraint(lhs='d', op=':=', rhs='a*b')]
    """
    terms: list[Term] = []
    constraints: list[Constraint] = []
    for statement in _statements(syntax):
        found = _OPERATOR.search(statement)
        op = found.group()
        lhs_part, rhs_part = statement[: found.start()].strip(), statement[found.end() :].strip()
        if op in ("<~", "~*~", "%"):
            raise ValueError(f"unsupported lavaan operator {op!r} in {statement!r}")
        if op in ("==", "<", ">", ":="):
            if not lhs_part or not rhs_part:
                raise ValueError(f"cannot read constraint {statement!r}")
            if op == ":=" and not re.fullmatch(_NAME, lhs_part):
                raise ValueError(f"cannot read defined parameter name {lhs_part!r}")
            constraints.append(Constraint(lhs_part.replace(" ", ""), op, rhs_part.replace(" ", "")))
            continue
        if _OPERATOR.search(rhs_part):
            raise ValueError(f"cannot read term in {statement!r}: more than one operator")
        for lhs in (s.strip() for s in lhs_part.split("+")):
            if not re.fullmatch(_NAME, lhs):
                raise ValueError(f"cannot read left-hand side {lhs!r} in {statement!r}")
            for raw in _split_top(rhs_part, "+"):
                pieces = [s.strip() for s in _split_top(raw.strip(), "*")]
                name = pieces[-1]
                if op == "|":
                    if not re.fullmatch(r"t\d+", name):
                        raise ValueError(f"cannot read threshold {raw.strip()!r} in {statement!r}")
                elif not (re.fullmatch(_NAME, name) or (name == "1" and op == "~")):
                    raise ValueError(f"cannot read term {raw.strip()!r} in {statement!r}")
                if any(not p for p in pieces):
                    raise ValueError(f"cannot read term {raw.strip()!r} in {statement!r}")
                if name == "1":
                    term = Term(lhs, "~1", "")
                else:
                    term = Term(lhs, op, name)
                for modifier in pieces[:-1]:
                    _apply_modifier(term, modifier, statement)
                _merge(terms, term)
    return ParsedModel(terms, constraints)


def relations(syntax: str) -> list[Relation]:
    """Every relation of ``syntax`` (``+`` lists expanded, in written order) with its modifier text.

    Constraints and defined parameters are not relations and are left out (see :func:`parse`).

    Examples
    --------
    >>> [tuple(r) for r in relations("f =~ 1*a + b  # c\\nx ~ 1")]
    [('f', '=~', 'a', '1'), ('f', '=~', 'b', None), ('x', '~1', '', None)]
    """
    out = []
    for statement in _statements(syntax):
        found = _OPERATOR.search(statement)
        if found.group() in ("==", "<", ">", ":="):
            continue
        for term in parse(statement).terms:
            out.append(Relation(term.lhs, term.op, term.rhs, _modifier_text(statement, term)))
    return out


def _modifier_text(statement: str, term: Term) -> str | None:
    rhs_part = statement[_OPERATOR.search(statement).end() :]
    for raw in _split_top(rhs_part, "+"):
        pieces = [s.strip() for s in _split_top(raw.strip(), "*")]
        name = pieces[-1]
        if (name == "1" and term.op == "~1") or name == term.rhs:
            return "*".join(pieces[:-1]) or None
    return None


def parse_syntax(syntax: str) -> pd.DataFrame:
    """The relations written in lavaan syntax, as a table ``lhs, op, rhs`` (modifiers dropped).

    Examples
    --------
    >>> parse_syntax("f =~ 1*a + b  # c\\na ~~ b")
      lhs  op rhs
    0   f  =~   a
    1   f  =~   b
    2   a  ~~   b
    """
    rows = [(t.lhs, t.op, t.rhs) for t in parse(syntax).terms]
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs"])


def parameter_name(text: str) -> str:
    """One parameter in lavaan's compact notation (``group.partial`` names).

    Examples
    --------
    >>> parameter_name("visual =~ x2"), parameter_name("x3 ~ 1"), parameter_name("x3~~x3")
    ('visual=~x2', 'x3~1', 'x3~~x3')
    """
    found = parse(text)
    if len(found.terms) != 1 or found.constraints or found.terms[0].modified:
        raise ValueError(f"not a single parameter name: {text!r}")
    t = found.terms[0]
    return t.lhs + t.op + t.rhs
