"""DynamoDB answers bad requests with AWS's 4xx errors, never HTTP 500.

moto 5.2.5 crashes (HTTP 500, which the AWS CLI and SDKs retry) or silently succeeds on several
requests AWS refuses with `ValidationException`. Checked here after authorisation (as AWS does:
a caller without the permission learns nothing about the table), before moto's handler:

- expression placeholders: a `:value` or `#name` used in an expression but not defined, or defined
  but never used (AWS's messages);
- `Key` (GetItem, DeleteItem, UpdateItem) must be exactly the table's key attributes with their
  defined types; `ExclusiveStartKey` (Scan, Query) must use the defined types;
- `IndexName` must name an index of the table.

Whatever input still makes moto crash inside an operation (a parse error it does not catch) is
answered `ValidationException` naming the failure, instead of an HTML 500.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler

EXPRESSIONS = ("KeyConditionExpression", "FilterExpression", "ProjectionExpression",
               "ConditionExpression", "UpdateExpression")
KEYED_OPERATIONS = {"get_item", "delete_item", "update_item"}
PAGED_OPERATIONS = {"scan", "query"}
CHECKED_OPERATIONS = ("get_item", "delete_item", "update_item", "put_item", "scan", "query",
                      "execute_statement", "batch_execute_statement", "execute_transaction",
                      "batch_get_item", "batch_write_item", "transact_get_items",
                      "transact_write_items")
# What moto raises when it fails to parse input it should have rejected.
MOTO_PARSE_CRASHES = (KeyError, TypeError, ValueError, IndexError, AttributeError)


def invalid(message: str) -> JsonRESTError:
    return JsonRESTError("ValidationException", message)


def check_placeholders(body: dict[str, Any]) -> None:
    text = " ".join(body[name] for name in EXPRESSIONS if isinstance(body.get(name), str))
    for sigil, parameter, kind in ((":", "ExpressionAttributeValues", "value"),
                                   ("#", "ExpressionAttributeNames", "name")):
        used = set(re.findall(re.escape(sigil) + r"[A-Za-z0-9_]+", text))
        defined = set(body.get(parameter) or {})
        if used - defined:
            raise invalid(f"Invalid expression: An expression attribute {kind} used in expression "
                          f"is not defined; attribute {kind}: {sorted(used - defined)[0]}")
        if defined - used:
            raise invalid(f"Value provided in {parameter} unused in expressions: "
                          f"keys: {{{', '.join(sorted(defined - used))}}}")


def check_keys(handler: DynamoHandler, operation: str, body: dict[str, Any]) -> None:
    table = _table(handler, body.get("TableName"))
    if table is None:
        return  # moto answers ResourceNotFoundException
    types = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
    if operation in KEYED_OPERATIONS and isinstance(body.get("Key"), dict):
        if set(body["Key"]) != set(table.table_key_attrs) or not _typed_as(body["Key"], types):
            raise invalid("The provided key element does not match the schema")
    if operation in PAGED_OPERATIONS:
        index = body.get("IndexName")
        if index and index not in {i.name for i in table.all_indexes()}:
            raise invalid(f"The table does not have the specified index: {index}")
        start = body.get("ExclusiveStartKey")
        if isinstance(start, dict) and not _typed_as(start, types):
            raise invalid("The provided starting key is invalid: "
                          "The provided key element does not match the schema")


def _typed_as(key: dict[str, Any], types: dict[str, str]) -> bool:
    """Every attribute with a defined type carries exactly that type."""
    return all(not isinstance(value, dict) or name not in types or list(value) == [types[name]]
               for name, value in key.items())


def _table(handler: DynamoHandler, name: Any) -> Any:
    if not isinstance(name, str):
        return None
    backend = dynamodb_backends[handler.current_account][handler.region]
    return backend.tables.get(name) or next(
        (t for t in backend.tables.values() if t.table_arn == name), None)


def _answered_as_aws(operation: str, method: Callable[[DynamoHandler], Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(self: DynamoHandler) -> Any:
        body = self.body if isinstance(self.body, dict) else {}
        check_placeholders(body)
        check_keys(self, operation, body)
        try:
            return method(self)
        except MOTO_PARSE_CRASHES as crash:
            raise invalid(f"the sandbox (moto) could not process this {operation} request: "
                          f"{type(crash).__name__}: {crash}") from None
    return checked


def install() -> None:
    for operation in CHECKED_OPERATIONS:
        setattr(DynamoHandler, operation, _answered_as_aws(operation, getattr(DynamoHandler, operation)))
