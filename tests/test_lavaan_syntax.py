"""The one lavaan syntax reader (policestress.sem.syntax), shared by every stage."""

from __future__ import annotations

import pytest

from policestress import cfa, invariance
from policestress.sem.syntax import Relation, parameter_name, parse, parse_syntax, relations


def test_relations_read_the_union_of_both_stages():
    syntax = """
    # a comment line
    f1 =~ 1*a + NA*b + lab*c   # trailing comment
    f2 =~ d + start(0.5)*e
          + g                  # continues the statement above (no operator)
    a ~~ b + d; f2 ~ f1
    a ~ 1
    """
    assert relations(syntax) == [
        Relation("f1", "=~", "a", "1"),
        Relation("f1", "=~", "b", "NA"),
        Relation("f1", "=~", "c", "lab"),
        Relation("f2", "=~", "d"),
        Relation("f2", "=~", "e", "start(0.5)"),
        Relation("f2", "=~", "g"),
        Relation("a", "~~", "b"),
        Relation("a", "~~", "d"),
        Relation("f2", "~", "f1"),
        Relation("a", "~1", ""),
    ]


def test_parse_syntax_is_shared_and_drops_modifiers():
    assert cfa.parse_syntax is parse_syntax
    table = parse_syntax("f =~ 1*a + b\ny1 + y2 ~ f")
    assert list(table.columns) == ["lhs", "op", "rhs"]
    assert table.values.tolist() == [
        ["f", "=~", "a"],
        ["f", "=~", "b"],
        ["y1", "~", "f"],
        ["y2", "~", "f"],
    ]
    assert parse_syntax("").empty and list(parse_syntax("# only a comment").columns) == [
        "lhs",
        "op",
        "rhs",
    ]


def test_both_stages_read_the_same_loadings():
    syntax = "visual =~ x1 + x2 + x3; textual =~ x4 + x5\ntextual =~ x6\nx1 ~~ x4"
    table = parse_syntax(syntax)
    mm = invariance.parse_model(syntax)
    loadings = table[table["op"] == "=~"]
    assert {f: loadings.loc[loadings["lhs"] == f, "rhs"].tolist() for f in mm.factors} == (
        mm.indicators
    )
    assert mm.residual_covariances == [("x1", "x4")]
    assert parse_syntax(mm.to_lavaan()).values.tolist() == table.values.tolist()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("f <~ a + b", "unsupported lavaan operator '<~'"),
        ("f ~*~ f", "unsupported lavaan operator '~\\*~'"),
        ("f =~ a + + b", "cannot read term ''"),
        ("f =~ a +", "without an operator|cannot read term"),
        ("f =~ a - b", "cannot read term 'a - b'"),
        ("f =~ 1", "cannot read term '1'"),
        ("a ~ b ~ c", "cannot read term"),
        ("2f =~ a + b", "cannot read left-hand side"),
        ("f a", "without an operator"),
    ],
)
def test_unsupported_syntax_raises_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        relations(bad)
    with pytest.raises(ValueError, match=message):
        parse_syntax(bad)
    with pytest.raises(ValueError, match=message):
        invariance.parse_model(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("f =~ a + 2*b + c", "no modifiers"),
        ("f =~ a + b; y ~ f", "unsupported statement"),
        ("f =~ a + b; a ~ 1", "unsupported statement"),
        ("f =~ a + b; a ~~ a", "only residual covariances"),
    ],
)
def test_parse_model_refuses_valid_lavaan_it_cannot_fit(bad, message):
    relations(bad)  # valid lavaan
    with pytest.raises(ValueError, match=message):
        invariance.parse_model(bad)


def test_parameter_name():
    assert parameter_name("visual =~ x2") == "visual=~x2"
    assert parameter_name(" x3 ~ 1 ") == "x3~1"
    assert parameter_name("x3~~x3") == "x3~~x3"
    for bad in ("visual =~ x2 + x3", "visual =~ 1*x2", "x3", ""):
        with pytest.raises(ValueError):
            parameter_name(bad)


def test_constraints_and_definitions_are_read_not_fitted_by_invariance():
    """:=, ==, <, > are lavaan syntax the engine reads; the invariance reader refuses them."""
    parsed = parse("f =~ a + l2*b + l3*c\nl2 == l3\nl2 > 0\nd := l2 * l3")
    assert [(c.lhs, c.op, c.rhs) for c in parsed.constraints] == [
        ("l2", "==", "l3"),
        ("l2", ">", "0"),
        ("d", ":=", "l2*l3"),
    ]
    assert [r[:3] for r in relations("f =~ a + b\nd := a*b")] == [
        ("f", "=~", "a"),
        ("f", "=~", "b"),
    ]
    with pytest.raises(ValueError, match="unsupported statement"):
        invariance.parse_model("f =~ a + b + c\nd := a*b")
