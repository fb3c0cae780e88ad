"""A small hand-written parser for Einsum statements and size expressions.

Grammar (the full version, with examples, is in docs/language.md)::

    statement  := access '=' expr [ 'where' compare { (',' | 'and') compare } ]
    compare    := expr cmp expr { cmp expr }          cmp := <= < >= > ==
    expr       := term { ('+' | '-') term }
    term       := unary { ('*' | '/') unary }
    unary      := '-' unary | power
    power      := atom [ '^' unary ]
    atom       := NUMBER | 'inf' | call | access | NAME | '(' expr ')'
    call       := NAME '(' [ NAME { ',' NAME } ':' ] expr { ',' expr } ')'
    access     := NAME '[' [ expr { ',' expr } ] ']'

Anything after ``#`` is a comment. Every error is an ``EinsumxError`` placed
at the offending character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import EinsumxError, Origin
from .ast import Access, Binary, Call, Compare, Expr, Name, Num, Statement, Unary

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#.*)
  | (?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|\*\*|[-+*/^()\[\],:=<>])
    """,
    re.VERBOSE | re.ASCII,
)

_COMPARE = ("<=", "<", ">=", ">", "==")


@dataclass(frozen=True)
class Token:
    kind: str  # 'number', 'name', 'op', 'end'
    text: str
    pos: int


def tokenize(text: str, origin: Origin | None = None) -> list[Token]:
    """Split ``text`` into tokens; ``**`` is read as ``^``.

    >>> [t.text for t in tokenize("QK[m,p] = Q[e,p]*K[e,m]")][:6]
    ['QK', '[', 'm', ',', 'p', ']']
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(f"unexpected character {text[pos]!r}", origin, pos)
        kind = match.lastgroup
        if kind == "op":
            tokens.append(Token("op", "^" if match.group() == "**" else match.group(), pos))
        elif kind in ("number", "name"):
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _error(message: str, origin: Origin | None, pos: int) -> EinsumxError:
    return EinsumxError(message, origin.shifted(pos) if origin else Origin(col=pos + 1))


class _Parser:
    def __init__(self, text: str, origin: Origin | None):
        self.text = text
        self.origin = origin
        self.tokens = tokenize(text, origin)
        self.i = 0

    # -- token helpers -------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, pos: int | None = None) -> EinsumxError:
        return _error(message, self.origin, self.tok.pos if pos is None else pos)

    def at(self, text: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            found = self.tok.text or "end of text"
            raise self.error(f"expected '{text}' {what}, found '{found}'")
        tok = self.tok
        self.i += 1
        return tok

    def expect_end(self) -> None:
        if self.tok.kind != "end":
            raise self.error(f"unexpected '{self.tok.text}'")

    # -- grammar -------------------------------------------------------
    def statement(self) -> Statement:
        if self.tok.kind != "name":
            raise self.error("an Einsum starts with the output tensor, e.g. 'Z[m,n] = ...'")
        lhs = self.access_or_name()
        if isinstance(lhs, Name):  # a scalar output: 'Y = A[k] * B[k]'
            lhs = Access(lhs.id, (), lhs.pos, bracketed=False)
        self.expect("=", "after the output tensor")
        if self.tok.kind == "end":
            raise self.error("missing right-hand side after '='")
        rhs = self.expr()
        where: list[Compare] = []
        if self.tok.kind == "name" and self.tok.text == "where":
            self.i += 1
            where.append(self.compare_chain(where))
            while self.accept(",") or self._accept_name("and"):
                where.append(self.compare_chain(where))
        self.expect_end()
        return Statement(lhs, rhs, tuple(where), lhs.pos)

    def _accept_name(self, word: str) -> bool:
        if self.tok.kind == "name" and self.tok.text == word:
            self.i += 1
            return True
        return False

    def compare_chain(self, out: list[Compare]) -> Compare:
        """``a <= b <= c`` becomes ``a <= b`` and ``b <= c``; all but the
        last comparison are appended to ``out``."""
        left = self.expr()
        if not (self.tok.kind == "op" and self.tok.text in _COMPARE):
            raise self.error("expected a comparison (<=, <, >=, >, ==)")
        comparisons: list[Compare] = []
        while self.tok.kind == "op" and self.tok.text in _COMPARE:
            op = self.tok.text
            pos = self.tok.pos
            self.i += 1
            right = self.expr()
            comparisons.append(Compare(left, op, right, pos))
            left = right
        out.extend(comparisons[:-1])
        return comparisons[-1]

    def expr(self) -> Expr:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op, pos = self.tok.text, self.tok.pos
            self.i += 1
            node = Binary(op, node, self.term(), pos)
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op, pos = self.tok.text, self.tok.pos
            self.i += 1
            node = Binary(op, node, self.unary(), pos)
        return node

    def unary(self) -> Expr:
        if self.at("-"):
            pos = self.tok.pos
            self.i += 1
            operand = self.unary()
            if isinstance(operand, Num):
                return Num(-operand.value, pos)
            return Unary("-", operand, pos)
        if self.at("+"):
            self.i += 1
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        if self.at("^"):
            pos = self.tok.pos
            self.i += 1
            return Binary("^", base, self.unary(), pos)
        return base

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            if tok.text.isdigit():
                return Num(Fraction(int(tok.text)), tok.pos)
            _, _, exponent = tok.text.lower().partition("e")
            if exponent and abs(int(exponent)) > 308:
                raise self.error(f"number '{tok.text}' is out of range", tok.pos)
            return Num(Fraction(tok.text), tok.pos)
        if tok.kind == "name":
            if tok.text == "inf":
                self.i += 1
                return Num(float("inf"), tok.pos)
            if tok.text == "where":
                raise self.error("expected an expression before 'where'")
            if self.tokens[self.i + 1].text == "(" and self.tokens[self.i + 1].kind == "op":
                return self.call()
            return self.access_or_name()
        if self.accept("("):
            inner = self.expr()
            self.expect(")", "to close '('")
            return inner
        if tok.kind == "end":
            raise self.error("unexpected end of text: expected an expression")
        raise self.error(f"unexpected '{tok.text}': expected an expression")

    def call(self) -> Call:
        name = self.tok
        self.i += 2  # name and '('
        over: tuple[Name, ...] | None = None
        # A reduction lists its index names before ':'
        j = self.i
        names: list[Name] = []
        while self.tokens[j].kind == "name":
            names.append(Name(self.tokens[j].text, self.tokens[j].pos))
            j += 1
            if self.tokens[j].text == "," and self.tokens[j].kind == "op":
                j += 1
                continue
            break
        if names and self.tokens[j].kind == "op" and self.tokens[j].text == ":":
            over = tuple(names)
            self.i = j + 1
        if self.at(")"):
            raise self.error(f"'{name.text}' needs at least one argument")
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        self.expect(")", f"to close '{name.text}('")
        return Call(name.text, tuple(args), name.pos, over)

    def access_or_name(self) -> Expr:
        tok = self.tok
        self.i += 1
        if not self.accept("["):
            return Name(tok.text, tok.pos)
        indices: list[Expr] = []
        if not self.at("]"):
            indices.append(self.expr())
            while self.accept(","):
                indices.append(self.expr())
        self.expect("]", f"to close '{tok.text}['")
        return Access(tok.text, tuple(indices), tok.pos)


def _guarded(parse):
    """Turn Python's recursion limit (absurdly nested parentheses) into the
    one error type."""

    def wrapper(text: str, origin: Origin | None = None):
        try:
            return parse(text, origin)
        except RecursionError:
            raise _error("expression nested too deeply", origin, 0) from None

    wrapper.__doc__ = parse.__doc__
    wrapper.__name__ = parse.__name__
    return wrapper


@_guarded
def parse_statement(text: str, origin: Origin | None = None) -> Statement:
    """Parse one Einsum statement.

    >>> s = parse_statement("GM[p] = max(m: QK[m,p])")
    >>> s.rhs.func, [n.id for n in s.rhs.over]
    ('max', ['m'])
    """
    parser = _Parser(text, origin)
    if parser.tok.kind == "end":
        raise parser.error("empty Einsum")
    return parser.statement()


@_guarded
def parse_expression(text: str, origin: Origin | None = None) -> Expr:
    """Parse a size, index or value expression.

    >>> parse_expression("seq / M0").op
    '/'
    """
    parser = _Parser(text, origin)
    if parser.tok.kind == "end":
        raise parser.error("empty expression")
    node = parser.expr()
    parser.expect_end()
    return node


@_guarded
def parse_comparisons(text: str, origin: Origin | None = None) -> tuple[Compare, ...]:
    """Parse ``a <= b <= c, d < e`` (filters and stopping bounds)."""
    parser = _Parser(text, origin)
    if parser.tok.kind == "end":
        raise parser.error("empty condition")
    out: list[Compare] = []
    out.append(parser.compare_chain(out))
    while parser.accept(",") or parser._accept_name("and"):
        out.append(parser.compare_chain(out))
    parser.expect_end()
    return tuple(out)
