"""A PartiQL WHERE clause, read and evaluated on DynamoDB items as DynamoDB does (pure, no moto).

The sandbox's own evaluator for `SELECT … WHERE` (moto's mis-evaluates most forms: see
`patches_partiql`). It reads the clause with the project's tokenizer (`xacct_nb.partiql`) into a
small tree and evaluates it on items in DynamoDB's wire form (`{"S": "x"}`, `{"N": "5"}`, …):

- comparisons `=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`, `BETWEEN … AND …`, `IN [ … ]` / `IN ( … )`;
  values compare only with values of the same type (numbers as numbers, strings by code point —
  the order of their UTF-8 bytes —, binary as unsigned bytes); `=` between different types is
  false and `<>` true;
- `IS [NOT] MISSING`, `IS [NOT] NULL`, `begins_with(path, v)`, `contains(path, v)`,
  `attribute_type(path, 'S')`; `NOT`, `AND`, `OR` (AND binds tighter), parentheses;
- paths: names bare or in double quotes (case-sensitive), `.member`, `[n]`; literals: strings,
  numbers (with a leading `-`), TRUE/FALSE, NULL; `?` takes the statement's parameters in order.

Anything else (SIZE, EXISTS, arithmetic, list/map/set literals, Ion, functions DynamoDB's PartiQL
does not have such as attribute_exists) raises `Unsupported`: one line naming the construct.

Where a condition meets a missing attribute (or an ordering between different types), DynamoDB's
documentation does not say which of two readings applies: PartiQL's (the comparison is MISSING,
neither true nor false, and the item is not returned) or that of DynamoDB condition expressions
(`a <> v` is true and every other comparison false). Both are computed for every item; where they
agree that is the answer, where they disagree (`<>`, `NOT`, `IS NULL` on a missing attribute) the
statement is refused with `Unsupported` rather than answered one way or the other.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..partiql import MALFORMED, Malformed, Token, located_tokens

__all__ = ["Unsupported", "Where", "parse", "split_where"]

_COMPARISONS = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})
_STRUCTURE = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "IS"})
_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL"})
# Functions DynamoDB's PartiQL has not, that operators of condition expressions reach for.
_NOT_PARTIQL = {"attribute_exists": "`path IS NOT MISSING`", "attribute_not_exists": "`path IS MISSING`"}


class Unsupported(Exception):
    """The sandbox cannot evaluate this construct as DynamoDB would (one line: what and why)."""


@dataclass(frozen=True)
class Path:
    segments: tuple[str | int, ...]
    text: str  # as written, for messages


@dataclass(frozen=True)
class Literal:
    wire: dict[str, Any]


@dataclass(frozen=True)
class Param:
    index: int


Operand = Path | Literal | Param


@dataclass(frozen=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True)
class Is:
    operand: Operand
    what: str  # MISSING or NULL
    negated: bool


@dataclass(frozen=True)
class Call:
    name: str  # begins_with, contains, attribute_type
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class Not:
    inner: Condition


@dataclass(frozen=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Or:
    left: Condition
    right: Condition


Condition = Compare | Between | In | Is | Call | Not | And | Or


@dataclass(frozen=True)
class Where:
    """A parsed WHERE clause and the number of `?` parameters it takes."""

    condition: Condition
    parameters: int

    def matches(self, item: dict[str, Any], parameters: list[dict[str, Any]]) -> bool:
        """Whether DynamoDB returns `item`; Unsupported where its answer is not known."""
        suspects: list[str] = []
        partiql, condition_expression = _evaluate(self.condition, item, parameters, suspects)
        if (partiql is True) != condition_expression:
            raise Unsupported(
                f"the sandbox cannot evaluate {suspects[0] if suspects else 'this WHERE clause'} in PartiQL "
                "on an item where that attribute is missing or of another type (DynamoDB does not document "
                "whether such an item is returned) — add `IS NOT MISSING` for that attribute or drop the NOT")
        return condition_expression


def split_where(statement: str) -> tuple[list[Token] | None, str]:
    """(the WHERE clause's tokens or None, the statement without it) for a SELECT or DELETE/UPDATE.

    The clause ends at ORDER BY, RETURNING or the final `;`; what follows it is kept."""
    located = located_tokens(statement)
    depth, start = 0, None
    for position, (token, _) in enumerate(located):
        if token.kind == "symbol" and token.text in "([{":
            depth += 1
        elif token.kind == "symbol" and token.text in ")]}":
            depth -= 1
        elif depth == 0 and token.keyword == "WHERE":
            start = position
            break
    if start is None:
        return None, statement
    end = len(located)
    for position in range(start + 1, len(located)):
        token = located[position][0]
        if token.keyword in ("ORDER", "RETURNING") or token.text == ";":
            end = position
            break
    clause = [token for token, _ in located[start + 1:end]]
    cut_from = located[start][1]
    rest = statement[located[end][1]:] if end < len(located) else ""
    return clause, statement[:cut_from].rstrip() + (" " + rest if rest else "")


def parse(clause: list[Token]) -> Where:
    """The WHERE clause's tree; Malformed (what AWS refuses) or Unsupported (what the sandbox cannot do)."""
    if not clause:
        raise Malformed(f"{MALFORMED}WHERE without a condition")
    parser = _Parser(clause)
    condition = parser.disjunction()
    if parser.position < len(clause):
        raise Malformed(f"{MALFORMED}unexpected {clause[parser.position].text!r} in WHERE")
    return Where(condition, parser.parameters)


class _Parser:
    def __init__(self, toks: list[Token]):
        self.toks, self.position, self.parameters = toks, 0, 0

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.position + ahead
        return self.toks[at] if at < len(self.toks) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise Malformed(f"{MALFORMED}the WHERE clause ends too early")
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.upper() != text:
            raise Malformed(f"{MALFORMED}expected {text} in WHERE, found {token.text!r}")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.keyword in words

    def disjunction(self) -> Condition:
        left = self.conjunction()
        while self.at_keyword("OR"):
            self.take()
            left = Or(left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while self.at_keyword("AND"):
            self.take()
            left = And(left, self.negation())
        return left

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.take()
            return Not(self.negation())
        return self.predicate()

    def predicate(self) -> Condition:
        token = self.peek()
        if token is not None and token.kind == "symbol" and token.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return self._no_operator_after(inner, "a parenthesised condition")
        after = self.peek(1)
        if token is not None and token.kind == "word" and after is not None and after.text == "(":
            return self._no_operator_after(self.call(), f"{token.text}()")
        left = self.operand()
        token = self.peek()
        if token is None:
            raise Malformed(f"{MALFORMED}expected a comparison after {_describe(left)} in WHERE")
        if token.kind == "symbol" and token.text in _COMPARISONS:
            self.take()
            return Compare("<>" if token.text == "!=" else token.text, left, self.operand())
        negated = self.at_keyword("NOT") and (self.peek(1) is not None
                                               and self.peek(1).keyword in ("BETWEEN", "IN"))  # type: ignore[union-attr]
        if negated:
            self.take()
        if self.at_keyword("BETWEEN"):
            self.take()
            low = self.operand()
            self.expect("AND")
            found: Condition = Between(left, low, self.operand())
        elif self.at_keyword("IN"):
            self.take()
            found = In(left, self.options())
        elif self.at_keyword("IS"):
            self.take()
            is_not = self.at_keyword("NOT")
            if is_not:
                self.take()
            what = self.take()
            if what.keyword not in ("MISSING", "NULL"):
                raise Unsupported(f"the sandbox cannot evaluate IS {what.text} in PartiQL; it evaluates IS [NOT] "
                                  "MISSING and IS [NOT] NULL")
            found = Is(left, what.keyword, is_not)
        elif token.kind == "symbol" and token.text in "+-*/%" or token.text == "||":
            raise Unsupported(f"the sandbox cannot evaluate arithmetic ({token.text}) in a PartiQL WHERE clause")
        else:
            raise Malformed(f"{MALFORMED}unexpected {token.text!r} after {_describe(left)} in WHERE")
        return Not(found) if negated else found

    def _no_operator_after(self, condition: Condition, what: str) -> Condition:
        token = self.peek()
        if token is not None and token.kind == "symbol" and token.text in _COMPARISONS:
            raise Unsupported(f"the sandbox cannot evaluate a comparison of {what} with a value in PartiQL")
        return condition

    def call(self) -> Condition:
        name = self.take().text.lower()
        if name in _NOT_PARTIQL:
            raise Unsupported(f"the sandbox cannot evaluate {name} in PartiQL (DynamoDB's PartiQL has no such "
                              f"function: use {_NOT_PARTIQL[name]})")
        if name not in ("begins_with", "contains", "attribute_type"):
            raise Unsupported(f"the sandbox cannot evaluate {name.upper()}() in a PartiQL WHERE clause; it "
                              "evaluates begins_with, contains and attribute_type")
        self.expect("(")
        args = [self.operand()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            args.append(self.operand())
        self.expect(")")
        if len(args) != 2 or not isinstance(args[0], Path):
            raise Malformed(f"{MALFORMED}{name} takes an attribute path and a value")
        if name == "attribute_type" and (not isinstance(args[1], Literal) or args[1].wire.get("S") not in _TYPES):
            raise Unsupported(f"the sandbox cannot evaluate attribute_type with {_describe(args[1])}; give one of "
                              f"{', '.join(sorted(_TYPES))} as a string")
        return Call(name, tuple(args))

    def options(self) -> tuple[Operand, ...]:
        opening = self.take()
        closing = {"[": "]", "(": ")"}.get(opening.text)
        if closing is None:
            raise Malformed(f"{MALFORMED}IN needs a list: IN [v1, v2] or IN (v1, v2)")
        found = [self.operand()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            found.append(self.operand())
        self.expect(closing)
        return tuple(found)

    def operand(self) -> Operand:
        token = self.take()
        if token.kind == "symbol" and token.text == "?":
            self.parameters += 1
            return Param(self.parameters - 1)
        if token.kind == "string":
            return Literal({"S": token.text[1:-1].replace("''", "'")})
        if token.kind == "number" or token.kind == "symbol" and token.text == "-" and self._number_follows():
            text = token.text if token.kind == "number" else "-" + self.take().text
            return Literal({"N": text})
        if token.kind == "ion":
            raise Unsupported("the sandbox cannot evaluate Ion literals (`…`) in PartiQL (nor does DynamoDB)")
        if token.kind == "symbol" and token.text in ("[", "{", "<<"):
            raise Unsupported(f"the sandbox cannot evaluate list, map or set literals ({token.text}…) in a "
                              "PartiQL WHERE clause")
        if token.keyword in ("TRUE", "FALSE"):
            return Literal({"BOOL": token.keyword == "TRUE"})
        if token.keyword == "NULL":
            return Literal({"NULL": True})
        if token.keyword == "MISSING":
            raise Unsupported("the sandbox cannot evaluate MISSING as a value in PartiQL; write `path IS MISSING`")
        if token.name is None or token.keyword in _STRUCTURE:
            raise Malformed(f"{MALFORMED}expected an attribute or a value in WHERE, found {token.text!r}")
        return self.path(token)

    def _number_follows(self) -> bool:
        token = self.peek()
        return token is not None and token.kind == "number"

    def path(self, first: Token) -> Path:
        segments: list[str | int] = [first.name or ""]
        text = first.text
        while (token := self.peek()) is not None and token.kind == "symbol" and token.text in (".", "["):
            self.take()
            if token.text == ".":
                member = self.take()
                if member.name is None:
                    raise Malformed(f"{MALFORMED}expected a name after {text}.")
                segments.append(member.name)
                text += "." + member.text
            else:
                index = self.take()
                if index.kind != "number" or not index.text.isdigit():
                    raise Unsupported(f"the sandbox cannot evaluate {text}[{index.text}]; it evaluates list "
                                      "indexes written as numbers")
                self.expect("]")
                segments.append(int(index.text))
                text += f"[{index.text}]"
        return Path(tuple(segments), text)


def _describe(operand: Operand) -> str:
    if isinstance(operand, Path):
        return operand.text
    if isinstance(operand, Param):
        return "?"
    return str(next(iter(operand.wire.values())))


# --- evaluation: (PartiQL's answer True/False/None = MISSING, the condition-expression answer) ----

Truth = tuple[bool | None, bool]


def _evaluate(condition: Condition, item: dict[str, Any], parameters: list[dict[str, Any]],
              suspects: list[str]) -> Truth:
    if isinstance(condition, And):
        left = _evaluate(condition.left, item, parameters, suspects)
        right = _evaluate(condition.right, item, parameters, suspects)
        both = False if False in (left[0], right[0]) else None if None in (left[0], right[0]) else True
        return both, left[1] and right[1]
    if isinstance(condition, Or):
        left = _evaluate(condition.left, item, parameters, suspects)
        right = _evaluate(condition.right, item, parameters, suspects)
        either = True if True in (left[0], right[0]) else None if None in (left[0], right[0]) else False
        return either, left[1] or right[1]
    if isinstance(condition, Not):
        inner = _evaluate(condition.inner, item, parameters, suspects)
        if inner[0] is not inner[1]:
            suspects.append("NOT")
        return (None if inner[0] is None else not inner[0]), not inner[1]
    found = _atom(condition, item, parameters)
    if found[0] is not found[1]:
        suspects.append(_describe_condition(condition))
    return found


def _describe_condition(condition: Condition) -> str:
    if isinstance(condition, Compare):
        return f"{_describe(condition.left)} {condition.op} {_describe(condition.right)}"
    if isinstance(condition, Between):
        return f"{_describe(condition.operand)} BETWEEN …"
    if isinstance(condition, In):
        return f"{_describe(condition.operand)} IN …"
    if isinstance(condition, Is):
        return f"{_describe(condition.operand)} IS {'NOT ' if condition.negated else ''}{condition.what}"
    if isinstance(condition, Call):
        return f"{condition.name}({_describe(condition.args[0])}, …)"
    return "this condition"


_UNKNOWN: Truth = (None, False)


def _atom(condition: Condition, item: dict[str, Any], parameters: list[dict[str, Any]]) -> Truth:
    if isinstance(condition, Compare):
        return _compare(condition.op, _value(condition.left, item, parameters),
                        _value(condition.right, item, parameters))
    if isinstance(condition, Between):
        value = _value(condition.operand, item, parameters)
        low, high = _value(condition.low, item, parameters), _value(condition.high, item, parameters)
        if low is not None and high is not None and _ordered(low, high) is None:
            raise Unsupported("the sandbox cannot evaluate BETWEEN with bounds of different or unordered types in "
                              "PartiQL")
        if low is not None and high is not None and _ordered(low, high) > 0:  # type: ignore[operator]
            raise Unsupported(f"the sandbox cannot evaluate BETWEEN {_show(low)} AND {_show(high)} in PartiQL: the "
                              "lower bound is above the upper (DynamoDB may refuse it) — swap them")
        return _conjoin(_compare(">=", value, low), _compare("<=", value, high))
    if isinstance(condition, In):
        value = _value(condition.operand, item, parameters)
        if value is None:
            return _UNKNOWN
        hit = any(_canonical(value) == _canonical(option)
                  for option in (_value(o, item, parameters) for o in condition.options) if option is not None)
        return hit, hit
    if isinstance(condition, Is):
        value = _value(condition.operand, item, parameters)
        if condition.what == "MISSING":
            answer = (value is None) != condition.negated
            return answer, answer
        if value is None:  # PartiQL: MISSING IS NULL is true; a condition expression: not NULL
            return (not condition.negated), condition.negated
        answer = ("NULL" in value) != condition.negated
        return answer, answer
    assert isinstance(condition, Call)
    return _call(condition.name, _value(condition.args[0], item, parameters),
                 _value(condition.args[1], item, parameters))


def _conjoin(left: Truth, right: Truth) -> Truth:
    both = False if False in (left[0], right[0]) else None if None in (left[0], right[0]) else True
    return both, left[1] and right[1]


def _call(name: str, value: dict[str, Any] | None, argument: dict[str, Any] | None) -> Truth:
    if value is None or argument is None:
        return _UNKNOWN
    if name == "attribute_type":
        answer = _tag(value) == argument.get("S")
        return answer, answer
    if name == "begins_with":
        if _tag(value) != _tag(argument) or _tag(value) not in ("S", "B"):
            return _UNKNOWN
        prefix, whole = _canonical(argument)[1], _canonical(value)[1]
        answer = whole.startswith(prefix)
        return answer, answer
    # contains
    tag, arg_tag = _tag(value), _tag(argument)
    if tag == "S" and arg_tag == "S":
        answer = _canonical(argument)[1] in _canonical(value)[1]
    elif tag in ("SS", "NS", "BS") and arg_tag == tag[0]:
        answer = _canonical(argument)[1] in _canonical(value)[1]
    elif tag == "L":
        answer = _canonical(argument) in _canonical(value)[1]
    else:
        return _UNKNOWN
    return answer, answer


def _compare(op: str, left: dict[str, Any] | None, right: dict[str, Any] | None) -> Truth:
    if left is None or right is None:
        return (None, op == "<>")
    if op in ("=", "<>"):
        equal = _canonical(left) == _canonical(right)
        answer = equal if op == "=" else not equal
        return answer, answer
    order = _ordered(left, right)
    if order is None:
        return _UNKNOWN
    answer = {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]
    return answer, answer


def _ordered(left: dict[str, Any], right: dict[str, Any]) -> int | None:
    """-1/0/1 for two values of one ordered type (S, N, B); None otherwise."""
    tag = _tag(left)
    if tag != _tag(right) or tag not in ("S", "N", "B"):
        return None
    a, b = _canonical(left)[1], _canonical(right)[1]
    return (a > b) - (a < b)


def _value(operand: Operand, item: dict[str, Any], parameters: list[dict[str, Any]]) -> dict[str, Any] | None:
    if isinstance(operand, Literal):
        return operand.wire
    if isinstance(operand, Param):
        return _wire(parameters[operand.index])
    value: Any = _wire(item.get(operand.segments[0])) if isinstance(operand.segments[0], str) else None
    for segment in operand.segments[1:]:
        if value is None:
            return None
        if isinstance(segment, int):
            elements = value.get("L")
            value = _wire(elements[segment]) if isinstance(elements, list) and segment < len(elements) else None
        else:
            members = value.get("M")
            value = _wire(members.get(segment)) if isinstance(members, dict) else None
    return value


def _wire(value: Any) -> dict[str, Any] | None:
    """moto hands nested members as its own DynamoType objects; everything here is wire JSON."""
    if value is None:
        return None
    if hasattr(value, "to_json"):
        value = value.to_json()
    return value if isinstance(value, dict) else None


def _tag(value: dict[str, Any]) -> str:
    return next(iter(value))


def _number(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        raise Malformed(f"{MALFORMED}{text!r} is not a number") from None


def _binary(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return base64.b64decode(data)


def _canonical(value: dict[str, Any] | None) -> tuple[str, Any]:
    """(type, a Python value that compares and hashes as DynamoDB compares the typed value)."""
    value = _wire(value) or {}
    tag = _tag(value)
    data = value[tag]
    if tag == "S":
        return tag, data
    if tag == "N":
        return tag, _number(data)
    if tag == "B":
        return tag, _binary(data)
    if tag == "SS":
        return tag, frozenset(data)
    if tag == "NS":
        return tag, frozenset(_number(n) for n in data)
    if tag == "BS":
        return tag, frozenset(_binary(b) for b in data)
    if tag == "L":
        return tag, tuple(_canonical(e) for e in data)
    if tag == "M":
        return tag, tuple(sorted((k, _canonical(v)) for k, v in data.items()))
    return tag, data  # BOOL, NULL


def _show(value: dict[str, Any]) -> str:
    return repr(next(iter(value.values())))
