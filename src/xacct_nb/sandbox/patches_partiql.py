"""Fix 16: a PartiQL WHERE clause is evaluated as DynamoDB does, or refused in one line.

moto 5.2.5 runs ExecuteStatement through py-partiql-parser 0.6.3, whose WHERE evaluator answers
wrongly without a word for most forms (measured against the same items evaluated in Python,
tests/test_sandbox_partiql.py): `BETWEEN`, `IN`, `NOT`, `x <> v`, nested paths (`m.x`),
booleans and numbers written in the statement (`n = 5`) match nothing; `a OR b AND c` too;
`IS [NOT] MISSING` answers the wrong items; a string equals a number (`s = 10` matches `"10"`);
even `pk = 'P1'` loses items that hold a set or a nested map; `<`, `<=`, `>`, `>=`,
`begins_with`, `contains`, `[n]`, `AND` fail (HTTP 500, or its ValidationException from
`patches_errors`); attribute names are compared case-insensitively.

So moto never sees the WHERE clause of a SELECT: `partiql_where` reads and evaluates it on the
table's items, and moto runs `SELECT * FROM …` on the items that match. The projection is the
sandbox's too: moto matched names case-insensitively and answered `"a-b"`, `"Upper"` (quoted) and
`m.x` with `{}`; top-level names are projected exactly, anything else (nested paths, functions,
aliases) is refused. What the evaluator cannot decide as DynamoDB would is refused with
`PartiQLRefused` (ValidationException; in BatchExecuteStatement the statement's ValidationError),
one line naming the construct. A SELECT with ORDER BY is refused (moto ignores it).

UPDATE and DELETE keep moto's own matching, which handles only `name = value` joined by AND and
changes every item that matches: a WHERE clause of another form (moto: `sk BETWEEN …` updated
every item of the table), one that does not give the full primary key, a number written in the
statement, `?` in a DELETE, or no WHERE at all is refused the same way. An INSERT of an item whose
key exists is DynamoDB's DuplicateItemException (moto overwrote the item). ExecuteTransaction
checks every statement before any runs (moto kept the writes made before a failing statement).
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import DynamodbException, MockValidationException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.parsing import partiql as moto_partiql

from .. import partiql
from . import partiql_where
from .partiql_where import And, Compare, Literal, Param, Path, Unsupported

__all__ = ["DuplicateItem", "PartiQLRefused", "install", "query"]

_ORIGINAL = moto_partiql.query
_ORIGINAL_EXECUTE = DynamoDBBackend.execute_statement
_ORIGINAL_TRANSACTION = DynamoDBBackend.execute_transaction
_ORIGINAL_BATCH = DynamoDBBackend.batch_execute_statement
_PARAMETER_COUNT = "Number of parameters in request and statement don't match."


class DuplicateItem(DynamodbException):
    """AWS's answer to a PartiQL INSERT of an item whose primary key exists (moto overwrote it)."""

    name = "DuplicateItem"  # BatchExecuteStatement's per-statement code

    def __init__(self) -> None:
        super().__init__("DuplicateItemException", "Duplicate primary key exists in table")
        self.message = "Duplicate primary key exists in table"


class PartiQLRefused(MockValidationException):
    """A statement the sandbox will not answer, because the answer could differ from DynamoDB's."""

    name = "ValidationError"  # what moto's BatchExecuteStatement reports per statement (AWS's code)

    def __init__(self, message: str):
        super().__init__(message)


def query(statement: str, source_data: dict[str, Any], parameters: list[dict[str, Any]]) -> Any:
    """moto's `partiql.query`, with a SELECT's WHERE clause evaluated by the sandbox."""
    try:
        action, table, index = partiql.target(statement)
        if action == "PartiQLSelect":
            clause, without_where = partiql_where.split_where(statement)
            return _select(statement, table, index, clause, without_where, source_data, list(parameters or []))
    except (Unsupported, partiql.Malformed) as refused:
        raise PartiQLRefused(str(refused)) from None
    return _ORIGINAL(statement, source_data, parameters)


def execute_statement(self: DynamoDBBackend, statement: str, parameters: list[dict[str, Any]]) -> Any:
    """moto's ExecuteStatement (also run per statement by BatchExecuteStatement), after `_check`,
    on the one table the statement names.

    moto serialises every item of every table of the account for each statement (1.3–1.9 s for a
    one-item table beside the seeded ones, against ~10 ms for GetItem). DynamoDB's PartiQL reads
    one table (`partiql.target`, which `authorisation` has checked moto reads too), so only that
    table and its indexes are handed over; moto's own code applies the changes it answers."""
    _check(self, statement, parameters)
    try:
        table_name = partiql.target(statement)[1]
    except partiql.Malformed:
        return _ORIGINAL_EXECUTE(self, statement, parameters)
    table = self.tables.get(table_name)
    if table is None:
        return _ORIGINAL_EXECUTE(self, statement, parameters)  # moto's own answer for a missing table
    return _ORIGINAL_EXECUTE(_OneTable(self, table_name, table), statement, parameters)  # type: ignore[arg-type]


class _OneTable:
    """The backend as moto's execute_statement sees it: `tables` holds only the statement's table
    (a view per call: the shared backend is never modified, other requests see every table)."""

    def __init__(self, backend: DynamoDBBackend, name: str, table: Any):
        self._backend = backend
        self.tables = {name: table}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def execute_transaction(self: DynamoDBBackend, statements: list[dict[str, Any]]) -> Any:
    """moto's ExecuteTransaction runs its statements one by one and keeps what ran before a
    failure; DynamoDB writes all or nothing. So every statement is checked before any runs."""
    reasons: list[tuple[str | None, str | None, None]] = []
    for entry in statements:
        try:
            _check(self, entry["Statement"], entry.get("Parameters", []))
            reasons.append((None, None, None))
        except DuplicateItem as duplicate:
            reasons.append(("DuplicateItem", duplicate.message, None))
    if any(code for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)  # as AWS: one reason per statement
    return _ORIGINAL_TRANSACTION(self, statements)


def batch_execute_statement(self: DynamoDBBackend, statements: list[dict[str, Any]]) -> Any:
    """moto's BatchExecuteStatement, where a SELECT must give its table's full primary key with `=`
    (AWS's rule; moto checked only that the key's names appear, so `sk BETWEEN …` passed and the
    statement answered one of several items)."""
    responses = _ORIGINAL_BATCH(self, statements)
    for at, entry in enumerate(statements):
        problem = _batch_select_problem(self, entry["Statement"])
        if problem and at < len(responses) and "Error" not in responses[at]:
            responses[at] = {"TableName": responses[at].get("TableName"),
                             "Error": {"Code": "ValidationError", "Message": problem}}
    return responses


def _batch_select_problem(backend: DynamoDBBackend, statement: str) -> str | None:
    try:
        action, table_name, index = partiql.target(statement)
        table = backend.tables.get(table_name)
        if action != "PartiQLSelect" or table is None or index:
            return None
        clause, _ = partiql_where.split_where(statement)
        where = partiql_where.parse(clause) if clause is not None else None
    except (Unsupported, partiql.Malformed):
        return None  # the statement itself answers that
    keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    pending: list[Any] = [where.condition] if where else []
    given: set[str] = set()
    while pending:
        condition = pending.pop()
        if isinstance(condition, And):
            pending += [condition.left, condition.right]
        elif isinstance(condition, Compare) and condition.op == "=" and isinstance(condition.left, Path) \
                and len(condition.left.segments) == 1 and isinstance(condition.right, (Literal, Param)):
            given.add(str(condition.left.segments[0]))
    missing = [key for key in keys if key not in given]
    if not missing:
        return None
    return ("Select statements within BatchExecuteStatement must specify the primary key in the where clause "
            f"(with =; missing {', '.join(missing)})")


def _check(backend: DynamoDBBackend, statement: str, parameters: list[dict[str, Any]]) -> None:
    """Refuse a write moto would run differently from DynamoDB: an UPDATE or DELETE whose WHERE
    moto matches otherwise, an INSERT of an item that exists (moto overwrote it)."""
    try:
        action, table_name, _ = partiql.target(statement)
        table = backend.tables.get(table_name)
        if table is None or action == "PartiQLSelect":
            return
        keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if action == "PartiQLInsert":
            _, inserted = _ORIGINAL(statement, {}, list(parameters or []))  # moto's parse; nothing is written
            for _, item in inserted.get(table_name, []):
                if item and all(k in item for k in keys) and backend.get_item(table_name, {k: item[k] for k in keys}):
                    raise DuplicateItem()
            return
        verb = action.removeprefix("PartiQL").upper()
        clause, _ = partiql_where.split_where(statement)
        if clause is None:
            raise Unsupported(f"the sandbox cannot run a PartiQL {verb} without WHERE (DynamoDB needs the item's "
                              "full primary key there)")
        _check_moto_can_match(verb, partiql_where.parse(clause), keys)
    except (Unsupported, partiql.Malformed) as refused:
        raise PartiQLRefused(str(refused)) from None


def check_request(body: dict[str, Any]) -> None:
    """What moto would silently ignore in an ExecuteStatement request: `Limit` (AWS evaluates at
    most that many items and pages on with NextToken; moto returns every match in one page)."""
    if "Limit" in body:
        raise PartiQLRefused(f"the sandbox cannot honour Limit={body['Limit']} in ExecuteStatement (its engine "
                             "returns every matching item in one page) — leave Limit out and stop reading "
                             "after the items you need")


def _select(statement: str, table: str, index: str | None, clause: Any, without_where: str,
            source_data: dict[str, Any], parameters: list[dict[str, Any]]) -> Any:
    if any(token.keyword == "ORDER" for token in partiql.tokens(without_where)):
        raise Unsupported("the sandbox cannot evaluate ORDER BY in PartiQL (moto ignores it); sort the result "
                          "yourself or rehearse without ORDER BY")
    names, every_attribute = _projection(without_where)
    where = partiql_where.parse(clause) if clause is not None else None
    if (where.parameters if where else 0) != len(parameters):
        raise partiql.Malformed(_PARAMETER_COUNT)
    source = f"{table}.{index}" if index else table  # moto's key for an index's items
    if source in source_data and where is not None:
        source_data = {**source_data, source: [item for item in source_data[source]
                                               if where.matches(item, parameters)]}
    rows, changes = _ORIGINAL(every_attribute, source_data, [])  # moto: ResourceNotFound for an index
    if names is not None:
        rows = [{name: row[name] for name in names if name in row} for row in rows]
    return rows, changes


def _projection(without_where: str) -> tuple[list[str] | None, str]:
    """(the attribute names a SELECT projects, None for `*`; the statement as `SELECT * FROM …`).

    moto projects by case-insensitive name and drops quoted, hyphenated and nested names (`"a-b"`,
    `"Upper"`, `m.x` came back as `{}`), and answers COUNT(*) with whole items; the sandbox projects
    top-level names exactly and refuses the rest."""
    located = partiql.located_tokens(without_where)
    start = next(at for at, (token, _) in enumerate(located) if token.keyword == "FROM")
    every_attribute = "SELECT * " + without_where[located[start][1]:]
    entries: list[list[partiql.Token]] = [[]]
    for token, _ in located[1:start]:
        if token.text == "," and token.kind == "symbol":
            entries.append([])
        else:
            entries[-1].append(token)
    if [[t.text for t in entry] for entry in entries] == [["*"]]:
        return None, every_attribute
    names = []
    for entry in entries:
        if len(entry) != 1 or entry[0].name is None or entry[0].keyword in ("DISTINCT", "VALUE"):
            shown = " ".join(t.text for t in entry) or "an empty projection"
            raise Unsupported(f"the sandbox cannot evaluate {shown!r} in a PartiQL projection; it projects `*` "
                              "and top-level attribute names (bare or in double quotes)")
        names.append(entry[0].name or "")
    return names, every_attribute


def _check_moto_can_match(verb: str, where: partiql_where.Where, keys: list[str]) -> None:
    """moto matches UPDATE/DELETE items on `name = value` joined by AND, values written as strings
    (or `?` in an UPDATE), and updates or deletes every item that matches: DynamoDB acts on the one
    item whose full primary key the WHERE clause gives."""
    pending: list[Any] = [where.condition]
    named: set[str] = set()
    while pending:
        condition = pending.pop()
        if isinstance(condition, And):
            pending += [condition.left, condition.right]
            continue
        if not (isinstance(condition, Compare) and condition.op == "=" and isinstance(condition.left, Path)
                and len(condition.left.segments) == 1):
            raise Unsupported(f"the sandbox cannot evaluate this WHERE clause of a PartiQL {verb}: it evaluates "
                              "`attribute = value` joined by AND (the item's primary key)")
        value = condition.right
        if not (isinstance(value, Literal) and "S" in value.wire or isinstance(value, Param) and verb == "UPDATE"):
            shown = "?" if isinstance(value, Param) else "a number"
            raise Unsupported(f"the sandbox cannot evaluate {condition.left.text} = {shown} in a PartiQL {verb}: its "
                              "engine (moto) matches strings written in the statement"
                              f"{' or ?' if verb == 'UPDATE' else ''}")
        named.add(str(condition.left.segments[0]))
    missing = [key for key in keys if key not in named]
    if missing:
        raise Unsupported(f"the sandbox cannot run a PartiQL {verb} whose WHERE does not give the full primary key "
                          f"(missing {', '.join(missing)}): DynamoDB acts on one item, moto on every match")


def install() -> None:
    moto_partiql.query = query
    DynamoDBBackend.execute_statement = execute_statement  # type: ignore[method-assign]
    DynamoDBBackend.execute_transaction = execute_transaction  # type: ignore[method-assign]
    DynamoDBBackend.batch_execute_statement = batch_execute_statement  # type: ignore[method-assign]
