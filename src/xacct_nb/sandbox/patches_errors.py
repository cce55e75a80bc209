"""DynamoDB answers bad requests with AWS's 4xx errors, never HTTP 500.

moto 5.2.5 crashes (HTTP 500, which the AWS CLI and SDKs retry) or silently succeeds on some
requests AWS refuses with `ValidationException`. Checked here after authorisation (as AWS does:
a caller without the permission learns nothing about the table), before moto's handler, and only
where moto has no check of its own (its own checks come first, with AWS's messages, as in AWS's
order: parameter syntax, then the table's schema):

- Scan and Query: an expression placeholder (`:value`, `#name`) used but not defined, defined but
  unused, or given without any expression (moto checks these for the item operations only);
- GetItem, DeleteItem, UpdateItem: `Key` with the right attribute names but a wrong type;
- Scan and Query: `ExclusiveStartKey` with a wrong type for a defined attribute.

Whatever input still makes moto crash inside an operation (a parse error it does not catch) is
answered `ValidationException` naming the failure, instead of an HTML 500.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
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


def check_placeholders(operation: str, body: dict[str, Any]) -> None:
    if operation not in PAGED_OPERATIONS or _left_to_moto(body):
        return
    for sigil, parameter, kind in ((":", "ExpressionAttributeValues", "value"),
                                   ("#", "ExpressionAttributeNames", "name")):
        used = {token: name for name in EXPRESSIONS if isinstance(body.get(name), str)
                for token in re.findall(re.escape(sigil) + r"[A-Za-z0-9_]+", body[name])}
        defined = set(body.get(parameter) or {})
        if defined and not any(isinstance(body.get(name), str) for name in EXPRESSIONS):
            raise invalid(f"{parameter} can only be specified when using expressions")
        undefined = sorted(set(used) - defined)
        if undefined:
            where = "document path" if kind == "name" else "expression"
            raise invalid(f"Invalid {used[undefined[0]]}: An expression attribute {kind} used in {where} "
                          f"is not defined; attribute {kind}: {undefined[0]}")
        if defined - set(used):
            # AWS's wording for Scan/Query (verified by moto's tests); item operations add a prefix
            raise invalid(f"Value provided in {parameter} unused in expressions: "
                          f"keys: {{{', '.join(sorted(defined - set(used)))}}}")


def _left_to_moto(body: dict[str, Any]) -> bool:
    """Parameter errors moto already answers as AWS does: empty maps, keys without their sigil."""
    maps = [(":", body.get("ExpressionAttributeValues")), ("#", body.get("ExpressionAttributeNames"))]
    return any(given is not None and (not given or any(not key.startswith(sigil) for key in given))
               for sigil, given in maps)


def check_keys(handler: DynamoHandler, operation: str, body: dict[str, Any]) -> None:
    table = _table(handler, body.get("TableName"))
    if table is None:
        return  # moto answers ResourceNotFoundException
    types = {a["AttributeName"]: a["AttributeType"] for a in table.attr}
    key = body.get("Key")
    if operation in KEYED_OPERATIONS and isinstance(key, dict) and set(key) == set(table.table_key_attrs):
        if not _typed_as(key, types):  # wrong names: moto answers them itself
            raise invalid("The provided key element does not match the schema")
    start = body.get("ExclusiveStartKey")
    if operation in PAGED_OPERATIONS and isinstance(start, dict) and not _typed_as(start, types):
        raise invalid("The provided starting key is invalid: "
                      "The provided key element does not match the schema")


def _typed_as(key: dict[str, Any], types: dict[str, str]) -> bool:
    """Every attribute with a defined type carries exactly that type."""
    return all(not isinstance(value, dict) or name not in types or list(value) == [types[name]]
               for name, value in key.items())


def _table(handler: DynamoHandler, name: Any) -> Any:
    if not isinstance(name, str):
        return None
    backend = handler.dynamodb_backend
    return backend.tables.get(name) or next(
        (t for t in backend.tables.values() if t.table_arn == name), None)


def _answered_as_aws(operation: str, method: Callable[[DynamoHandler], Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def checked(self: DynamoHandler) -> Any:
        body = self.body if isinstance(self.body, dict) else {}
        check_placeholders(operation, body)
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
