"""What a PartiQL statement does to which table, as IAM authorises it (pure, no moto).

AWS authorises ExecuteStatement / BatchExecuteStatement / ExecuteTransaction per statement, as
`dynamodb:PartiQLSelect|PartiQLInsert|PartiQLUpdate|PartiQLDelete` on the table ARN (or the index
ARN for `SELECT … FROM "table"."index"`), not as `dynamodb:ExecuteStatement` on "*".

The statement is read with a tokenizer, not a pattern: double-quoted identifiers (`""` inside),
single-quoted strings (`''` inside), Ion literals in backticks and `--`/`/* */` comments are single
tokens, so `SELECT "x FROM orders", pk FROM "orders_archive"` names `orders_archive` and nothing
else. DynamoDB's PartiQL reads and writes exactly one table (or index) per statement; a statement
that names a second one (`FROM "a", "b"`, a JOIN, a nested SELECT) is refused with AWS's
ValidationException before any authorisation, as AWS does — never authorised on its first name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import PartiQLMalformed

ACTIONS = {"SELECT": "PartiQLSelect", "INSERT": "PartiQLInsert", "UPDATE": "PartiQLUpdate",
           "DELETE": "PartiQLDelete"}
MALFORMED = "Statement wasn't well formed, can't be processed: "
SINGLE_TABLE = "Only Select from a Single Table or index supported"  # AWS's answer to FROM "a", "b"

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<ion>`[^`]*`)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<unterminated>/\*|["'`])
  | (?P<symbol><>|!=|<=|>=|\|\||<<|>>|[-+*/%=<>.,;:?()\[\]{}])
""", re.VERBOSE | re.DOTALL)
# Words that would bring a second table into a statement (DynamoDB supports none of them).
_SECOND_TABLE = frozenset({"FROM", "JOIN", "SELECT", "INSERT", "UPDATE", "DELETE", "UNION", "INTERSECT",
                           "EXCEPT"})
# What may follow the table (and index) of each verb.
_AFTER_TARGET = {"SELECT": {"WHERE", "ORDER"}, "INSERT": {"VALUE"}, "UPDATE": {"SET", "REMOVE"},
                 "DELETE": {"WHERE"}}


Malformed = PartiQLMalformed  # the tokenizer's name for it


@dataclass(frozen=True)
class Token:
    kind: str  # quoted, string, ion, number, word, symbol
    text: str

    @property
    def keyword(self) -> str:
        """The upper-cased word ("" for anything that is not a bare word)."""
        return self.text.upper() if self.kind == "word" else ""

    @property
    def name(self) -> str | None:
        """The identifier this token spells (quoted or bare), or None."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return self.text if self.kind == "word" else None


def tokens(statement: str) -> list[Token]:
    """The statement's tokens without spaces and comments; Malformed on anything unreadable."""
    return [token for token, _ in located_tokens(statement)]


def located_tokens(statement: str) -> list[tuple[Token, int]]:
    """Each token with the offset where it starts in `statement` (to cut a statement at a token)."""
    found, position = [], 0
    while position < len(statement):
        match = _TOKEN.match(statement, position)
        if match is None:
            raise Malformed(f"{MALFORMED}unexpected character {statement[position]!r} at {position}")
        kind = match.lastgroup or ""
        if kind == "unterminated":
            raise Malformed(f"{MALFORMED}unterminated {match.group()} at {position}")
        if kind not in ("space", "comment"):
            found.append((Token(kind, match.group()), position))
        position = match.end()
    return found


def target(statement: str) -> tuple[str, str, str | None]:
    """(action without the `dynamodb:` prefix, table, index or None) that the statement touches.

    Raises Malformed for what DynamoDB refuses (unknown verb, a second table, unreadable text)."""
    toks = tokens(statement)
    while toks and toks[-1].text == ";":
        toks = toks[:-1]
    if toks and toks[0].keyword == "EXISTS":  # ExecuteTransaction's condition check: EXISTS(SELECT …)
        if len(toks) < 3 or toks[1].text != "(" or toks[-1].text != ")":
            raise Malformed(f"{MALFORMED}EXISTS needs (SELECT …)")
        toks = toks[2:-1]
    if not toks or toks[0].keyword not in ACTIONS:
        raise Malformed(f"{MALFORMED}expected SELECT, INSERT, UPDATE or DELETE")
    verb = toks[0].keyword
    start = _target_start(verb, toks)
    table = toks[start].name if start < len(toks) else None
    if table is None:
        raise Malformed(f"{MALFORMED}expected a table name after {toks[start - 1].text}")
    rest, index = start + 1, None
    if verb == "SELECT" and rest + 1 < len(toks) and toks[rest].text == ".":
        index = toks[rest + 1].name
        if index is None:
            raise Malformed(f"{MALFORMED}expected an index name after {table}.")
        rest += 2
    _check_rest(verb, toks[rest:])
    return ACTIONS[verb], table, index


def table_of(statement: str) -> str | None:
    """The table a statement names, or None when DynamoDB would refuse the statement."""
    try:
        return target(statement)[1]
    except Malformed:
        return None


def _target_start(verb: str, toks: list[Token]) -> int:
    """Where the table name is: after INTO / FROM / UPDATE; for SELECT after its top-level FROM."""
    if verb == "SELECT":
        depth = 0
        for position, token in enumerate(toks[1:], start=1):
            depth += token.text in "([{" and token.kind == "symbol"
            depth -= token.text in ")]}" and token.kind == "symbol"
            if depth == 0 and token.keyword == "FROM":
                return position + 1
        raise Malformed(f"{MALFORMED}SELECT without FROM")
    if verb == "UPDATE":
        return 1
    expected = "INTO" if verb == "INSERT" else "FROM"
    if len(toks) < 2 or toks[1].keyword != expected:
        raise Malformed(f"{MALFORMED}expected {verb} {expected}")
    return 2


def _check_rest(verb: str, rest: list[Token]) -> None:
    if not rest:
        if verb in ("SELECT", "DELETE"):
            return  # a full-table SELECT; moto/AWS decide about DELETE without WHERE
        raise Malformed(f"{MALFORMED}{verb} needs {' or '.join(sorted(_AFTER_TARGET[verb]))}")
    if rest[0].text == "," or rest[0].keyword in _SECOND_TABLE:
        raise Malformed(SINGLE_TABLE if verb == "SELECT" else f"{MALFORMED}{verb} names more than one table")
    if rest[0].keyword not in _AFTER_TARGET[verb]:
        raise Malformed(f"{MALFORMED}unexpected {rest[0].text!r} after the table name")
    second = next((t for t in rest[1:] if t.keyword in _SECOND_TABLE), None)
    if second is not None:
        raise Malformed(SINGLE_TABLE if verb == "SELECT" else f"{MALFORMED}{verb} names more than one table")


def statements(body: dict) -> list[str]:
    """Every statement of an ExecuteStatement, BatchExecuteStatement or ExecuteTransaction body."""
    if body.get("Statement"):
        return [body["Statement"]]
    listed = body.get("Statements") or body.get("TransactStatements") or []
    return [entry["Statement"] for entry in listed if isinstance(entry, dict) and entry.get("Statement")]
