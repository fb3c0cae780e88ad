"""The Einsum language parser (einsumx/lang/parser.py) and the loader's
robustness: every mistake, on any text, is one ``EinsumxError`` placed at
the offending character."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einsumx
from einsumx import EinsumxError, Origin
from einsumx.ir.symbolic import evaluate
from einsumx.lang.ast import Access, Binary, Call, Name, Num, Unary, unparse
from einsumx.lang.parser import parse_comparisons, parse_expression, parse_statement, tokenize

# -- statements ---------------------------------------------------------------


def test_statement_output_and_product():
    s = parse_statement("QK[m,p] = Q[e,p] * K[e,m]")
    assert s.lhs == Access("QK", (Name("m", 3), Name("p", 5)), 0)
    assert s.rhs == Binary("*", Access("Q", (Name("e", 12), Name("p", 14)), 10),
                           Access("K", (Name("e", 21), Name("m", 23)), 19), 17)
    assert s.where == ()


def test_statement_reduction_lists_its_indices():
    s = parse_statement("GM[p] = max(m: QK[m,p])")
    assert isinstance(s.rhs, Call)
    assert s.rhs.func == "max"
    assert [n.id for n in s.rhs.over] == ["m"]
    assert s.rhs.args == (Access("QK", (Name("m", 18), Name("p", 20)), 15),)


def test_statement_reduction_over_two_indices():
    s = parse_statement("Y = sum(m, p: A[m,p])")
    assert [n.id for n in s.rhs.over] == ["m", "p"]


def test_call_without_colon_is_a_map_not_a_reduction():
    s = parse_statement("RM[m1+1,p] = max(RM[m1,p], LM[m1,p])")
    assert s.rhs.func == "max"
    assert s.rhs.over is None
    assert len(s.rhs.args) == 2
    # the step index m1+1 is an expression, kept as written
    assert unparse(s.lhs.indices[0]) == "m1 + 1"


def test_scalar_output_without_brackets():
    s = parse_statement("Y = A[k] * B[k]")
    assert s.lhs.tensor == "Y"
    assert s.lhs.indices == ()
    assert s.lhs.bracketed is False
    # 'T[]' is the bracketed form of a scalar
    assert parse_statement("Y[] = A[k]").lhs.bracketed is True


def test_precedence_and_associativity():
    # a + b*c : the product binds tighter
    assert unparse(parse_statement("Z[k] = A[k] + B[k] * C[k]").rhs) == "A[k] + B[k] * C[k]"
    e = parse_expression("a - b - c")  # left associative: (a - b) - c
    assert e.op == "-" and e.left.op == "-" and e.right == Name("c", 8)
    e = parse_expression("2 ^ 3 ^ 2")  # right associative: 2 ^ (3 ^ 2)
    assert e.left == Num(Fraction(2), 0) and e.right.op == "^"
    assert evaluate(e, lambda n: None) == 512  # 2^9


def test_double_star_is_power():
    assert parse_expression("a ** 2") == Binary("^", Name("a", 0), Num(Fraction(2), 5), 2)


def test_negative_literals_fold_and_minus_inf():
    assert parse_expression("-3") == Num(Fraction(-3), 0)
    assert parse_expression("-inf") == Num(float("-inf"), 0)
    assert parse_statement("RM[0,p] = -inf").rhs == Num(float("-inf"), 10)
    # a minus on a name stays a unary node
    assert parse_expression("-a") == Unary("-", Name("a", 1), 0)


def test_numbers_are_exact():
    assert parse_expression("0.1").value == Fraction(1, 10)
    assert parse_expression("1.5e-3").value == Fraction(3, 2000)
    assert parse_expression("1e5").value == 100000
    assert parse_expression(".5").value == Fraction(1, 2)


def test_comment_is_ignored():
    s = parse_statement("QK[m,p] = Q[e,p] * K[e,m]   # pass 1")
    assert unparse(s.rhs) == "Q[e,p] * K[e,m]"


def test_where_clause_chain_expands_to_two_comparisons():
    s = parse_statement("QK[m,p] = Q[e,p] * K[e,m] where p - W <= m <= p")
    assert [(unparse(c.left), c.op, unparse(c.right)) for c in s.where] == [
        ("p - W", "<=", "m"),
        ("m", "<=", "p"),
    ]


def test_where_clause_separators_comma_and_and():
    s = parse_statement("Y[m,p] = A[m,p] where m <= p, m >= 1 and p < 7")
    assert [(unparse(c.left), c.op, unparse(c.right)) for c in s.where] == [
        ("m", "<=", "p"),
        ("m", ">=", "1"),
        ("p", "<", "7"),
    ]


def test_parse_comparisons():
    cs = parse_comparisons("m1 >= M1")
    assert len(cs) == 1 and cs[0].op == ">=" and cs[0].left == Name("m1", 0) and cs[0].right == Name("M1", 6)
    cs = parse_comparisons("0 <= m < M, p == 3")
    assert [c.op for c in cs] == ["<=", "<", "=="]


def test_parse_expression_size():
    e = parse_expression("seq / M0")
    assert e == Binary("/", Name("seq", 0), Name("M0", 6), 4)
    assert evaluate(parse_expression("(seq + 1) * 2 ^ 3"), lambda n: Fraction(1023)) == 8192  # 1024 * 8


def test_tokenize():
    assert [t.text for t in tokenize("QK[m,p]=Q[e,p]**2")] == [
        "QK", "[", "m", ",", "p", "]", "=", "Q", "[", "e", ",", "p", "]", "^", "2", "",
    ]


# -- syntax errors and their positions ----------------------------------------
# Without an origin, the column is the 1-based offset in the text and the
# line is unknown.

SYNTAX_ERRORS = [
    # (function, text, message, column)
    (parse_statement, "", "empty Einsum", 1),
    (parse_statement, "= Q[e,p]", "an Einsum starts with the output tensor, e.g. 'Z[m,n] = ...'", 1),
    (parse_statement, "QK[m,p] Q[e,p]", "expected '=' after the output tensor, found 'Q'", 9),
    (parse_statement, "Y =", "missing right-hand side after '='", 4),
    (parse_statement, "QK[m,p] = Q[e,p] * K[e,m", "expected ']' to close 'K[', found 'end of text'", 25),
    (parse_statement, "Y = (A[k]", "expected ')' to close '(', found 'end of text'", 10),
    (parse_statement, "Y = A[k] $ B[k]", "unexpected character '$'", 10),
    (parse_statement, "Y = max()", "'max' needs at least one argument", 9),
    (parse_statement, "Y = max(m: )", "'max' needs at least one argument", 12),
    (parse_statement, "Y = where m < p", "expected an expression before 'where'", 5),
    (parse_statement, "Y = A[k] where", "unexpected end of text: expected an expression", 15),
    (parse_statement, "Y[m] = A[m] where m p", "expected a comparison (<=, <, >=, >, ==)", 21),
    (parse_statement, "Y[m] = A[m] where m <= p q", "unexpected 'q'", 26),
    (parse_statement, "Y[m = 1", "expected ']' to close 'Y[', found '='", 5),
    (parse_statement, "Y = A[k] * * B[k]", "unexpected '*': expected an expression", 12),
    (parse_expression, "", "empty expression", 1),
    (parse_expression, "a +", "unexpected end of text: expected an expression", 4),
    (parse_expression, "seq / M0)", "unexpected ')'", 9),
    (parse_expression, "1_000", "unexpected '_000'", 2),
    (parse_comparisons, "", "empty condition", 1),
    (parse_comparisons, "m p", "expected a comparison (<=, <, >=, >, ==)", 3),
    (parse_comparisons, "m <= p,", "unexpected end of text: expected an expression", 8),
]


@pytest.mark.parametrize("fn, text, message, col", SYNTAX_ERRORS, ids=[f"{f.__name__}:{t!r}" for f, t, _, _ in SYNTAX_ERRORS])
def test_syntax_error_message_and_column(fn, text, message, col):
    with pytest.raises(EinsumxError) as info:
        fn(text)
    assert info.value.message == message
    assert info.value.origin.col == col
    assert info.value.origin.line is None


def test_error_column_is_shifted_by_the_origin():
    # The statement starts at column 3 of line 12 of w.yaml; 'K[' opens at
    # offset 19, and the text ends at offset 24, i.e. column 3 + 24 = 27.
    line = "  QK[m,p] = Q[e,p] * K[e,m"
    with pytest.raises(EinsumxError) as info:
        parse_statement(line.strip(), Origin("w.yaml", 12, 3, line))
    err = info.value
    assert (err.origin.file, err.origin.line, err.origin.col) == ("w.yaml", 12, 27)
    assert str(err) == (
        "w.yaml:12:27: expected ']' to close 'K[', found 'end of text'\n"
        "      QK[m,p] = Q[e,p] * K[e,m\n"
        "                              ^"
    )


def test_syntax_error_in_a_workload_has_file_line_and_column():
    text = "ranks: {K: 4}\ntensors: {A: [K]}\neinsums: |\n  Y = A[k] +\n"
    with pytest.raises(EinsumxError) as info:
        einsumx.parse_workload(text, "w.yaml")
    err = info.value
    # line 4 is '  Y = A[k] +'; the text 'Y = A[k] +' starts at column 3 and
    # ends at offset 10, column 13.
    assert err.message == "unexpected end of text: expected an expression"
    assert (err.origin.file, err.origin.line, err.origin.col) == ("w.yaml", 4, 13)


def test_syntax_error_in_a_quoted_scalar_skips_the_quote():
    # '"' is column 10, 'Y' column 11, '$' is offset 9 into the text: column 20
    text = 'ranks: {K: 4}\ntensors: {A: [K]}\neinsums: "Y = A[k] $"\n'
    with pytest.raises(EinsumxError) as info:
        einsumx.parse_workload(text, "w.yaml")
    assert info.value.message == "unexpected character '$'"
    assert (info.value.origin.line, info.value.origin.col) == (3, 20)


def test_deep_nesting_is_an_error_not_a_recursion_error():
    text = "(" * 5000 + "1" + ")" * 5000
    with pytest.raises(EinsumxError) as info:
        parse_expression(text)
    assert info.value.message == "expression nested too deeply"


def test_huge_exponent_is_an_error():
    with pytest.raises(EinsumxError) as info:
        parse_expression("1e400")
    assert info.value.message == "number '1e400' is out of range"


def test_huge_exponent_error_points_at_the_number():
    with pytest.raises(EinsumxError) as info:
        parse_expression("1e400 + 1")
    assert info.value.origin.col == 1  # the number, not the '+' after it


# -- unparse (used in error messages, filter texts and reports) ----------------


@pytest.mark.parametrize("text", ["a - (b - c)", "a / (b / c)", "-(a - b)", "2 ^ 3 ^ 2", "(1 / 2) ^ 2", "a - -b"])
def test_unparse_keeps_the_value(text):
    names = {"a": Fraction(7), "b": Fraction(3), "c": Fraction(2)}
    e = parse_expression(text)
    again = parse_expression(unparse(e))
    assert evaluate(again, lambda n: names[n.id]) == evaluate(e, lambda n: names[n.id])


def test_unparse_negative_base_of_a_power():
    assert evaluate(parse_expression(unparse(parse_expression("(-2)^2"))), lambda n: None) == 4


def test_unparse_decimal_base_of_a_power():
    assert evaluate(parse_expression(unparse(parse_expression("1.5^2"))), lambda n: None) == Fraction(9, 4)


def test_unparse_left_nested_power():
    assert evaluate(parse_expression(unparse(parse_expression("(2^3)^2"))), lambda n: None) == 64


# Expressions without the three shapes above (negative or decimal literal as
# the base of '^', '^' as the base of '^'): there unparse must round-trip.
_names = st.sampled_from(["a", "b", "c"])
_ints = st.integers(0, 20).map(str)


def _expressions():
    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            children.map(lambda c: f"-({c})"),
            st.tuples(_names, st.integers(0, 3)).map(lambda t: f"{t[0]} ^ {t[1]}"),
        )

    return st.recursive(st.one_of(_names, _ints), extend, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_unparse_round_trips(text):
    names = {"a": Fraction(7), "b": Fraction(3), "c": Fraction(-2)}

    def value(s):
        try:
            return evaluate(parse_expression(s), lambda n: names[n.id])
        except EinsumxError as err:  # division by zero: the same error both times
            return err.message

    assert value(unparse(parse_expression(text))) == value(text)


# -- nothing but EinsumxError, whatever the text --------------------------------

TOKENS = [
    "QK", "Q", "K", "V", "GM", "[", "]", "m", "p", "e", "m1", "m0", ",", "=", "*", "+", "-", "/", "^", "**",
    "max(", "sum(", "exp(", "foo(", ":", ")", "(", "where", "and", "<=", "<", ">=", "==", "0", "1", "2.5",
    "1e3", "1e999", "-inf", "inf", "M", "P", "M0", "#", "\n", " ", "$", "'", '"',
]
glued = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)
spaced = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)
any_text = st.one_of(st.text(max_size=60), glued, spaced)


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_parsers_raise_only_einsumx_errors(text):
    for fn in (parse_statement, parse_expression, parse_comparisons):
        try:
            fn(text)
        except EinsumxError as err:
            assert err.message
            assert err.origin.col is not None and 1 <= err.origin.col <= len(text) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_text)
def test_loader_raises_only_einsumx_errors_on_any_text(text):
    try:
        einsumx.parse_workload(text, "t.yaml")
    except EinsumxError as err:
        assert err.message


# A plausible workload whose einsums lines are random.
HEAD = """\
params: {seq: 8, chunk: 4}
ranks:
  M: {size: seq, split: [M1, M0]}
  M1: {size: M / M0, iterative: true}
  M0: chunk
  P: seq
  E: 4
tensors:
  Q: [E, P]
  K: [E, M]
"""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(glued, spaced, st.text(max_size=30)), min_size=1, max_size=4),
    st.sampled_from(["block", "list"]),
    st.one_of(st.none(), spaced),
)
def test_loader_raises_only_einsumx_errors_on_random_einsums(lines, form, where):
    if form == "block":
        body = "einsums: |\n" + "".join("  " + line.replace("\n", " ") + "\n" for line in lines)
    else:
        body = "einsums:\n" + "".join(f"  - {line!r}\n".replace("\\n", " ") for line in lines)
    text = HEAD + body + (f"where: {where!r}\n" if where is not None else "")
    try:
        einsumx.parse_workload(text, "t.yaml")
    except EinsumxError as err:
        assert err.message


# Statement-shaped random lines reach the semantic checks and the analysis
# (including 'inf' as an index and '^' between values, which once crashed).
SHAPES = {"Q": "ep", "K": "em", "X": "mp", "Y": "p", "Z": "mp", "W": ""}


def _index(var):
    return st.sampled_from([var, var, var, f"{var}+1", f"{var}-1", "0", "0.5", "m", "p", f"{var.upper()}-1", "m+p", "2*" + var, "inf"])


def _access(name):
    return st.tuples(*[_index(v) for v in SHAPES[name]]).map(lambda ix: f"{name}[{','.join(ix)}]" if ix else name)


_leaf = st.one_of(st.sampled_from(sorted(SHAPES)).flatmap(_access), st.sampled_from(["2", "-inf", "seq", "0.5", "m"]))
_value = st.recursive(_leaf, lambda c: st.one_of(
    st.tuples(c, st.sampled_from(["+", "-", "*", "/", "^"]), c).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(st.sampled_from(["exp", "max", "relu", "sigmoid", "foo"]), st.lists(c, min_size=1, max_size=2))
    .map(lambda t: f"{t[0]}({', '.join(t[1])})"),
), max_leaves=5)
_rhs = st.one_of(
    _value,
    st.tuples(st.sampled_from(["max", "sum", "prod", "foo"]), st.lists(st.sampled_from(["m", "p", "e"]), min_size=1, max_size=2, unique=True), _value)
    .map(lambda t: f"{t[0]}({','.join(t[1])}: {t[2]})"),
)
_bound = st.sampled_from(["m", "p", "e", "0", "3", "p - 2", "seq", "inf", "0.5", "2*m"])
_filter = st.one_of(st.just(""), st.tuples(_bound, st.sampled_from(["<=", "<", "==", ">="]), _bound).map(lambda t: f" where {t[0]} {t[1]} {t[2]}"))
_statement = st.tuples(st.sampled_from(["X", "Y", "Z", "W"]).flatmap(_access), _rhs, _filter).map(lambda t: f"{t[0]} = {t[1]}{t[2]}")

SHAPED_HEAD = """\
params: {seq: 8}
ranks:
  M: {size: seq, iterative: %s}
  P: seq
  E: 4
tensors: {Q: [E, P], K: [E, M], X: [M, P], Z: [M, P], Y: [P], W: []}
einsums: |
"""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_statement, min_size=1, max_size=4), st.booleans())
def test_loader_and_analysis_raise_only_einsumx_errors_on_shaped_einsums(lines, iterative):
    text = SHAPED_HEAD % ("true" if iterative else "false") + "".join(f"  {line}\n" for line in lines)
    try:
        cascade = einsumx.parse_workload(text, "t.yaml")
        an = einsumx.analyze(cascade)
    except EinsumxError as err:
        assert err.message
        return
    assert all(v >= 0 for v in an.ops.values())


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.integers(-50, 50).map(str), st.sampled_from(["a", "b", "1.5", "0.25", "2.5"])),
    lambda c: st.one_of(
        st.tuples(c, st.sampled_from(["+", "-", "*", "/", "^"]), c).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        c.map(lambda x: f"-({x})"),
    ),
    max_leaves=6,
))
def test_unparse_round_trips_to_the_same_value(text):
    names = {"a": Fraction(3), "b": Fraction(-2)}
    try:
        value = evaluate(parse_expression(text), lambda n: names[n.id])
    except (EinsumxError, ZeroDivisionError, OverflowError):
        return  # a zero divisor or an out-of-range exponent: nothing to compare
    assert evaluate(parse_expression(unparse(parse_expression(text))), lambda n: names[n.id]) == value
