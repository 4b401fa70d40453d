"""The plan rule language: a tiny expression language over prices and indicators.

Entry and exit triggers are *conditions* (``close > sma_50 and rsi_14 < 70``,
``crosses_above(sma_20, sma_50)``, ``close < low_20[1]``); stops and targets are *levels*
(``entry - 2 * atr_14``, or a plain distance such as ``2 * atr_14``, see :mod:`strategy`).

Grammar (hand-written tokenizer + recursive descent; nothing is ever ``eval``-ed)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | "true" | "false" | "(" expr ")"
                | NAME ("[" INT "]")?            # x[1] is the previous bar's value
                | FUNC "(" expr ("," expr)* ")"  # crosses_above, crosses_below, abs, min, max

Names are the bar fields ``open high low close volume``, ``entry`` (levels only: the fill price)
and indicator columns understood by :func:`market.indicators.parse_spec` (``sma_20``, ``rsi_14``,
``atr_14``, ``high_20``, ``macd_12_26_9_signal``, ``bb_20_2_upper``, ...).

Two evaluators share the AST: :meth:`Rule.evaluate` over whole arrays (backtests, one pass) and
:meth:`Rule.evaluate_at` at one bar (live). They agree bit for bit, a test holds them together.
A condition is ``False`` on a bar where any value it reads is undefined (indicator warm-up, or
before the first bar for ``x[k]``/crosses); a level is ``NaN`` there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from market.indicators import IndicatorSpec, compute, parse_spec

__all__ = ["BAR_FIELDS", "Rule", "RuleError", "compute_columns", "parse_rule"]

BAR_FIELDS = ("open", "high", "low", "close", "volume")
ENTRY = "entry"
MAX_OFFSET = 1000
MAX_LENGTH = 2000
MAX_NESTING = 40  # parentheses, calls, '-' and 'not' inside one another
MAX_DEPTH = 200  # levels of the expression tree (evaluation recurses over it)
_PRICE_SPECS = frozenset({"sma", "ema", "high", "low", "bb"})  # indicators in price units and at price level
_COLUMN_SUFFIXES = ("_signal", "_hist", "_mid", "_upper", "_lower")
_FUNCS = {"crosses_above": 2, "crosses_below": 2, "abs": 1, "min": 2, "max": 2}
_KEYWORDS = {"and", "or", "not", "true", "false"}
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}

NUM = "number"
BOOL = "condition"


class RuleError(ValueError):
    """A rule that does not parse or names something unknown; ``position`` is a 0-based character index."""

    def __init__(self, message: str, position: int, text: str = ""):
        self.message = message
        self.position = position
        self.text = text
        super().__init__(f"position {position}: {message}")


# --- Tokens ---------------------------------------------------------------------------------------
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),\[\]]))"
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | name | op | end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            tokens.append(Token("end", "", n))
            return tokens
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise RuleError(f"unexpected character {text[pos]!r}", pos, text)
        kind = match.lastgroup  # every alternative of _TOKEN_RE is a named group, so never None
        start = match.start(kind)  # type: ignore[arg-type]
        tokens.append(Token(kind, match.group(kind), start))  # type: ignore[arg-type]
        pos = match.end()


# --- AST ------------------------------------------------------------------------------------------
Need = tuple[str, int]  # (column, bars back)


def _shift(values: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return values
    out = np.empty_like(values)
    out[:k] = np.nan
    out[k:] = values[:-k] if k < len(values) else values[:0]
    return out


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    pos: int
    type = NUM

    def needs(self, k: int) -> set[Need]:
        return set()

    def vec(self, env, k):
        return self.value

    def at(self, env, i):
        return self.value


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    pos: int
    type = BOOL

    def needs(self, k: int) -> set[Need]:
        return set()

    def vec(self, env, k):
        return self.value

    def at(self, env, i):
        return self.value


@dataclass(frozen=True, slots=True)
class Series:
    """A named column read ``offset`` bars back (``low_20[1]``)."""

    column: str
    offset: int
    pos: int
    type = NUM

    def needs(self, k: int) -> set[Need]:
        return {(self.column, self.offset + k)}

    def vec(self, env, k):
        if self.column == ENTRY:
            return env[ENTRY]
        return _shift(env[self.column], self.offset + k)

    def at(self, env, i):
        if self.column == ENTRY:
            return env[ENTRY]
        return float(env[self.column][i - self.offset])


@dataclass(frozen=True, slots=True)
class Neg:
    operand: object
    pos: int
    type = NUM

    def needs(self, k):
        return self.operand.needs(k)

    def vec(self, env, k):
        return -self.operand.vec(env, k)

    def at(self, env, i):
        return -self.operand.at(env, i)


_ARITH_VEC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _div(a: float, b: float) -> float:
    if b == 0.0:  # IEEE like numpy: x/0 is +-inf, 0/0 is nan
        return float(np.divide(np.float64(a), np.float64(b)))
    return a / b


_ARITH_AT = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": _div}


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: object
    right: object
    pos: int
    type = NUM

    def needs(self, k):
        return self.left.needs(k) | self.right.needs(k)

    def vec(self, env, k):
        return _ARITH_VEC[self.op](self.left.vec(env, k), self.right.vec(env, k))

    def at(self, env, i):
        return _ARITH_AT[self.op](float(self.left.at(env, i)), float(self.right.at(env, i)))


_CMP_VEC = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_CMP_AT = {
    "<": float.__lt__,
    "<=": float.__le__,
    ">": float.__gt__,
    ">=": float.__ge__,
    "==": float.__eq__,
    "!=": float.__ne__,
}


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: object
    right: object
    pos: int
    type = BOOL

    def needs(self, k):
        return self.left.needs(k) | self.right.needs(k)

    def vec(self, env, k):
        return _CMP_VEC[self.op](self.left.vec(env, k), self.right.vec(env, k))

    def at(self, env, i):
        return _CMP_AT[self.op](float(self.left.at(env, i)), float(self.right.at(env, i)))


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # and | or
    left: object
    right: object
    pos: int
    type = BOOL

    def needs(self, k):
        return self.left.needs(k) | self.right.needs(k)

    def vec(self, env, k):
        fn = np.logical_and if self.op == "and" else np.logical_or
        return fn(self.left.vec(env, k), self.right.vec(env, k))

    def at(self, env, i):
        if self.op == "and":
            return bool(self.left.at(env, i)) and bool(self.right.at(env, i))
        return bool(self.left.at(env, i)) or bool(self.right.at(env, i))


@dataclass(frozen=True, slots=True)
class Not:
    operand: object
    pos: int
    type = BOOL

    def needs(self, k):
        return self.operand.needs(k)

    def vec(self, env, k):
        return np.logical_not(self.operand.vec(env, k))

    def at(self, env, i):
        return not self.operand.at(env, i)


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple
    pos: int

    @property
    def type(self):
        return BOOL if self.func.startswith("crosses_") else NUM

    def needs(self, k):
        out: set[Need] = set()
        for arg in self.args:
            out |= arg.needs(k)
            if self.func.startswith("crosses_"):
                out |= arg.needs(k + 1)
        return out

    def vec(self, env, k):
        if self.func == "abs":
            return np.abs(self.args[0].vec(env, k))
        if self.func in ("min", "max"):
            fn = np.minimum if self.func == "min" else np.maximum
            return fn(self.args[0].vec(env, k), self.args[1].vec(env, k))
        a, b = self.args
        now_a, now_b = a.vec(env, k), b.vec(env, k)
        was_a, was_b = a.vec(env, k + 1), b.vec(env, k + 1)
        if self.func == "crosses_above":
            return np.logical_and(np.greater(now_a, now_b), np.less_equal(was_a, was_b))
        return np.logical_and(np.less(now_a, now_b), np.greater_equal(was_a, was_b))

    def at(self, env, i):
        if self.func == "abs":
            return abs(float(self.args[0].at(env, i)))
        if self.func in ("min", "max"):
            fn = np.minimum if self.func == "min" else np.maximum
            return float(fn(np.float64(self.args[0].at(env, i)), np.float64(self.args[1].at(env, i))))
        a, b = self.args
        now_a, now_b = float(a.at(env, i)), float(b.at(env, i))
        was_a, was_b = float(a.at(env, i - 1)), float(b.at(env, i - 1))
        if self.func == "crosses_above":
            return now_a > now_b and was_a <= was_b
        return now_a < now_b and was_a >= was_b


# --- Parser ---------------------------------------------------------------------------------------
def _resolve_column(name: str) -> tuple[str, IndicatorSpec | None]:
    """Map an identifier to (column name, the spec that produces it); ValueError if unknown."""
    if name in BAR_FIELDS:
        return name, None
    for suffix in _COLUMN_SUFFIXES:
        if name.endswith(suffix):
            spec = parse_spec(name[: -len(suffix)])
            if name not in spec.columns:
                raise ValueError(f"'{name}' is not an output of {spec.key} (it has {', '.join(spec.columns)})")
            return name, spec
    spec = parse_spec(name)
    if name != spec.key:
        raise ValueError(f"write '{spec.key}' instead of '{name}'")
    if name not in spec.columns:
        raise ValueError(f"{spec.key} has several outputs: use one of {', '.join(spec.columns)}")
    return name, spec


class _Parser:
    def __init__(self, text: str, allow_entry: bool):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.allow_entry = allow_entry
        self.specs: dict[str, IndicatorSpec] = {}
        self.nesting = 0

    def enter(self, tok: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"the rule is nested too deeply (at most {MAX_NESTING} levels)", tok.pos)

    def error(self, message: str, pos: int | None = None) -> RuleError:
        return RuleError(message, self.peek.pos if pos is None else pos, self.text)

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> Token | None:
        tok = self.peek
        if tok.kind in ("op", "name") and tok.text == text:
            self.i += 1
            return tok
        return None

    def expect(self, text: str) -> Token:
        tok = self.accept(text)
        if tok is None:
            raise self.error(f"expected '{text}' but found {self.describe(self.peek)}")
        return tok

    @staticmethod
    def describe(tok: Token) -> str:
        return "the end of the rule" if tok.kind == "end" else f"'{tok.text}'"

    def want(self, node, type_: str, what: str):
        if node.type != type_:
            found = "a condition" if node.type == BOOL else "a number"
            need = "a condition" if type_ == BOOL else "a number"
            raise self.error(f"{what} needs {need}, found {found}", node.pos)
        return node

    def parse(self):
        node = self.expr()
        if self.peek.kind != "end":
            raise self.error(f"unexpected {self.describe(self.peek)}")
        return node

    def expr(self):
        node = self.and_expr()
        while tok := self.accept("or"):
            self.want(node, BOOL, "'or'")
            node = Logic("or", node, self.want(self.and_expr(), BOOL, "'or'"), tok.pos)
        return node

    def and_expr(self):
        node = self.not_expr()
        while tok := self.accept("and"):
            self.want(node, BOOL, "'and'")
            node = Logic("and", node, self.want(self.not_expr(), BOOL, "'and'"), tok.pos)
        return node

    def not_expr(self):
        if tok := self.accept("not"):
            self.enter(tok)
            node = Not(self.want(self.not_expr(), BOOL, "'not'"), tok.pos)
            self.nesting -= 1
            return node
        return self.comparison()

    def comparison(self):
        node = self.sum()
        tok = self.peek
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            self.want(node, NUM, f"'{tok.text}'")
            right = self.want(self.sum(), NUM, f"'{tok.text}'")
            node = Compare(tok.text, node, right, tok.pos)
            nxt = self.peek
            if nxt.kind == "op" and nxt.text in _COMPARE:
                raise self.error("chained comparisons are not allowed: join them with 'and'")
        return node

    def sum(self):
        node = self.product()
        while self.peek.kind == "op" and self.peek.text in ("+", "-"):
            tok = self.take()
            self.want(node, NUM, f"'{tok.text}'")
            node = Arith(tok.text, node, self.want(self.product(), NUM, f"'{tok.text}'"), tok.pos)
        return node

    def product(self):
        node = self.unary()
        while self.peek.kind == "op" and self.peek.text in ("*", "/"):
            tok = self.take()
            self.want(node, NUM, f"'{tok.text}'")
            node = Arith(tok.text, node, self.want(self.unary(), NUM, f"'{tok.text}'"), tok.pos)
        return node

    def unary(self):
        if tok := self.accept("-"):
            self.enter(tok)
            node = Neg(self.want(self.unary(), NUM, "'-'"), tok.pos)
            self.nesting -= 1
            return node
        return self.primary()

    def primary(self):
        tok = self.peek
        if tok.kind == "number":
            self.take()
            value = float(tok.text)
            if not math.isfinite(value):
                raise self.error(f"number {tok.text} is out of range", tok.pos)
            return Num(value, tok.pos)
        if tok.kind == "op" and tok.text == "(":
            self.take()
            self.enter(tok)
            node = self.expr()
            self.expect(")")
            self.nesting -= 1
            return node
        if tok.kind == "name":
            self.take()
            name = tok.text
            if name in ("true", "false"):
                return Bool(name == "true", tok.pos)
            if name in ("and", "or", "not"):
                raise self.error(f"'{name}' needs something before it", tok.pos)
            if self.peek.kind == "op" and self.peek.text == "(":
                return self.call(tok)
            return self.series(tok)
        raise self.error(f"expected a number, a name or '(' but found {self.describe(tok)}")

    def call(self, tok: Token):
        name = tok.text
        if name not in _FUNCS:
            raise self.error(f"unknown function '{name}' (known: {', '.join(sorted(_FUNCS))})", tok.pos)
        self.expect("(")
        self.enter(tok)
        args = [self.want(self.expr(), NUM, f"argument of {name}()")]
        while self.accept(","):
            args.append(self.want(self.expr(), NUM, f"argument of {name}()"))
        close = self.expect(")")
        self.nesting -= 1
        if len(args) != _FUNCS[name]:
            raise self.error(f"{name}() takes {_FUNCS[name]} argument(s), got {len(args)}", close.pos)
        return Call(name, tuple(args), tok.pos)

    def series(self, tok: Token):
        name = tok.text
        if name == ENTRY:
            if not self.allow_entry:
                raise self.error("'entry' (the fill price) can only be used in stop and target rules", tok.pos)
            column = ENTRY
        else:
            try:
                column, spec = _resolve_column(name.lower() if name.lower() in BAR_FIELDS else name)
            except ValueError as exc:
                raise self.error(f"unknown name '{name}': {exc}", tok.pos) from None
            if spec is not None:
                self.specs.setdefault(spec.key, spec)
        offset = 0
        if bracket := self.accept("["):
            num = self.peek
            if num.kind != "number" or not num.text.isdigit():
                raise self.error("expected a whole number of bars inside [ ]")
            self.take()
            offset = int(num.text)
            if column == ENTRY:
                raise self.error("'entry' has no previous bars", bracket.pos)
            if offset > MAX_OFFSET:
                raise self.error(f"at most {MAX_OFFSET} bars back", num.pos)
            self.expect("]")
        return Series(column, offset, tok.pos)


# --- Public ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A parsed rule: ``kind`` is ``condition`` (entry/exit) or ``level`` (stop/target)."""

    text: str
    kind: str
    node: Any = field(repr=False)  # a parsed node (Num, Series, Arith, ...): each has needs/vec/at
    specs: tuple[IndicatorSpec, ...] = ()

    @cached_property
    def needs(self) -> frozenset[Need]:
        """(column, bars back) pairs read by the rule, ``entry`` excluded."""
        return frozenset(n for n in self.node.needs(0) if n[0] != ENTRY)

    @cached_property
    def _needs_list(self) -> tuple[Need, ...]:
        return tuple(sorted(self.needs))

    @cached_property
    def columns(self) -> frozenset[str]:
        return frozenset(col for col, _ in self.needs)

    @cached_property
    def is_price_level(self) -> bool:
        """A level rule that reads a price (``entry``, a bar price, a moving average, a rolling
        high/low, a Bollinger band) gives a price; one built only from ATR/MACD/RSI/volume and
        numbers (``2 * atr_14``) gives a distance from the entry. See :func:`strategy.level_price`."""
        if self.uses_entry:
            return True
        for column in self.columns:
            if column in ("open", "high", "low", "close") or column.split("_")[0] in _PRICE_SPECS:
                return True
        return False

    @cached_property
    def uses_entry(self) -> bool:
        return any(col == ENTRY for col, _ in self.node.needs(0))

    @cached_property
    def lookback(self) -> int:
        """Largest number of bars back the rule reads (0 if it reads only the current bar)."""
        return max((k for _, k in self.needs), default=0)

    def _valid_mask(self, env, n: int) -> np.ndarray:
        mask = np.ones(n, dtype=bool)
        for column, k in sorted(self.needs):
            mask &= ~np.isnan(_shift(env[column], k))
        return mask

    def evaluate(self, env: dict[str, np.ndarray], *, entry: float | np.ndarray | None = None) -> np.ndarray:
        """Vectorised: one value per bar (bool for conditions, float with NaN for levels)."""
        n = len(env["close"])
        if self.uses_entry:
            env = {**env, ENTRY: np.float64(np.nan if entry is None else entry)}  # type: ignore[dict-item]  # a scalar broadcasts as a column
        with np.errstate(all="ignore"):
            raw = self.node.vec(env, 0)
            mask = self._valid_mask(env, n)
            if self.kind == "condition":
                return np.logical_and(np.broadcast_to(raw, (n,)), mask)
            return np.where(mask, np.broadcast_to(np.asarray(raw, dtype=np.float64), (n,)), np.nan)

    def evaluate_at(self, env: dict[str, np.ndarray], i: int, *, entry: float | None = None) -> bool | float:
        """At one bar (live): the same value :meth:`evaluate` gives at index ``i``."""
        for column, k in self._needs_list:
            if i - k < 0 or math.isnan(env[column][i - k]):
                return False if self.kind == "condition" else math.nan
        if self.uses_entry:
            env = {**env, ENTRY: math.nan if entry is None else float(entry)}  # type: ignore[dict-item]  # read at one bar only
        with np.errstate(all="ignore"):
            value = self.node.at(env, i)
        return bool(value) if self.kind == "condition" else float(value)


def _check_depth(root, text: str) -> None:
    """Refuse trees deeper than MAX_DEPTH (long chains like ``a + a + ... + a``), without recursing."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RuleError(f"the rule has too many terms in a row (at most {MAX_DEPTH} levels)", node.pos, text)
        for name in ("operand", "left", "right"):
            child = getattr(node, name, None)
            if child is not None:
                stack.append((child, depth + 1))
        stack.extend((arg, depth + 1) for arg in getattr(node, "args", ()))


def parse_rule(text: str, kind: str = "condition") -> Rule:
    """Parse and type-check a rule; raise :class:`RuleError` with the position of the first problem."""
    if kind not in ("condition", "level"):
        raise ValueError(f"kind must be 'condition' or 'level', got {kind!r}")
    if not isinstance(text, str):
        raise RuleError("a rule must be text", 0, "")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"a rule is at most {MAX_LENGTH} characters", MAX_LENGTH, text)
    if not text.strip():
        raise RuleError("the rule is empty", 0, text)
    parser = _Parser(text, allow_entry=kind == "level")
    node = parser.parse()
    _check_depth(node, text)
    want = BOOL if kind == "condition" else NUM
    if node.type != want:
        what = "an entry/exit rule must be a condition (e.g. close > sma_50)"
        if kind == "level":
            what = "a stop/target rule must be a number (e.g. entry - 2 * atr_14)"
        raise RuleError(what, node.pos, text)
    return Rule(text, kind, node, tuple(parser.specs.values()))


def compute_columns(rules, open_, high, low, close, volume=None) -> dict[str, np.ndarray]:
    """The environment rules read: bar fields plus every indicator column they need, computed once."""
    env = {
        "open": np.asarray(open_, dtype=np.float64),
        "high": np.asarray(high, dtype=np.float64),
        "low": np.asarray(low, dtype=np.float64),
        "close": np.asarray(close, dtype=np.float64),
        "volume": np.asarray(volume if volume is not None else np.zeros(len(close)), dtype=np.float64),
    }
    done: set[str] = set()
    for rule in rules:
        for spec in rule.specs:
            if spec.key not in done:
                done.add(spec.key)
                env.update(compute(spec, env["open"], env["high"], env["low"], env["close"], env["volume"]))
    return env
