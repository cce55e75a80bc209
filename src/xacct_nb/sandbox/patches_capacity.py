"""Consumed read capacity as DynamoDB computes it (moto 5.2.5 reports 1 unit for every read).

AWS's rules (Developer Guide, "DynamoDB item sizes and formats" and "Read consumption"):

- An item's size is the sum, over its attributes, of the attribute name's UTF-8 bytes plus the
  value's size: a string its UTF-8 bytes; a number 1 byte per two significant digits (leading and
  trailing zeroes trimmed, rounded up) plus 1; a binary its raw bytes; a boolean or null 1 byte;
  a set the sum of its elements; a list or map 3 bytes plus, per element, its size (a map
  element's name counts, as an attribute name does) plus 1 byte.
- One read unit covers 4 KB: GetItem costs its item's size rounded up to 4 KB (at least one
  unit, also when there is no item), whatever the projection; BatchGetItem costs each item that
  way, summed per table; Query and Scan cost the summed size of the items READ for the page
  (before any FilterExpression; after a Limit), rounded up to 4 KB once per page (at least one
  unit). An eventually consistent read (the default, and always on a global secondary index)
  costs half.

Fix: moto's Table.query/Table.scan are asked for the page before filter and projection (which
are then applied exactly as moto applies them), the size of what was read is noted for the
request, and the handler answers with that capacity — only when the request asked for it
(`ReturnConsumedCapacity` TOTAL or INDEXES; moto always adds it to BatchGetItem). Not modelled:
the legacy `QueryFilter`/`ScanFilter` parameters (moto applies them while reading), transactions
(twice the units) and writes (moto still reports its own figure).
"""

from __future__ import annotations

import base64
import functools
import inspect
import math
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

READ_UNIT_BYTES = 4096
CONTAINER_OVERHEAD = 3  # a list or map, whatever its contents
ELEMENT_OVERHEAD = 1  # per element of a list or map

_page = threading.local()  # bytes read by the Table.query/scan of the request in this thread


# --- sizes --------------------------------------------------------------------------------------

def number_size(text: str) -> int:
    """1 byte per two significant digits (leading/trailing zeroes trimmed), plus 1."""
    try:
        digits = "".join(map(str, Decimal(text).as_tuple().digits)).strip("0")
    except InvalidOperation:
        digits = text
    return math.ceil(max(len(digits), 1) / 2) + 1


def _binary_size(value: Any) -> int:
    # moto keeps binary values as the base64 text of the request (server mode) or as bytes
    return len(value) if isinstance(value, bytes | bytearray) else len(base64.b64decode(value))


def value_size(value: DynamoType) -> int:
    kind, raw = value.type, value.value
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(number_size(v) for v in raw)
    if kind == "BS":
        return sum(_binary_size(v) for v in raw)
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(value_size(DynamoType(v)) + ELEMENT_OVERHEAD for v in raw)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(len(name.encode("utf-8")) + value_size(DynamoType(v)) + ELEMENT_OVERHEAD
                                        for name, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(attrs: dict[str, DynamoType]) -> int:
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in attrs.items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# --- what was read ------------------------------------------------------------------------------

def _read_before_filter(original: Callable[..., Any], filter_name: str,
                        projection_name: str) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def read(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        arguments = bound.arguments
        filter_expression = arguments.get(filter_name)
        projection = arguments.get(projection_name)
        arguments[filter_name] = None
        arguments[projection_name] = None
        results, scanned_count, last_key = original(*bound.args, **bound.kwargs)
        _page.read_bytes = getattr(_page, "read_bytes", 0) + sum(item_size(r.attrs) for r in results)
        # then exactly what moto does after reading the page
        if filter_expression is not None:
            results = [item for item in results if filter_expression.expr(item)]
        if projection:
            results = [r.project(projection) for r in results]
        return results, scanned_count, last_key
    return read


# --- the answer ---------------------------------------------------------------------------------

def _capacity(handler: DynamoHandler, table_name: str, units: float, index: str | None,
              mode: str) -> dict[str, Any]:
    described: dict[str, Any] = {"TableName": table_name, "CapacityUnits": units}
    if mode == "INDEXES":
        described["Table"] = {"CapacityUnits": 0.0 if index else units}
        if index:
            kind = "GlobalSecondaryIndexes" if _is_global_index(handler, table_name, index) \
                else "LocalSecondaryIndexes"
            described[kind] = {index: {"CapacityUnits": units}}
    return described


def _mode(body: dict[str, Any]) -> str | None:
    mode = body.get("ReturnConsumedCapacity", "NONE")
    return mode if mode in ("TOTAL", "INDEXES") else None


def _is_global_index(handler: DynamoHandler, table_name: str, index: str | None) -> bool:
    if not index:
        return False
    table = handler.dynamodb_backend.get_table(table_name)
    return any(i.name == index for i in table.global_indexes or [])


def _full_item_size(handler: DynamoHandler, table_name: str, key: dict[str, Any]) -> int:
    item = handler.dynamodb_backend.get_item(table_name, key)
    return item_size(item.attrs) if item is not None else 0


def _paged(method: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    @functools.wraps(method)
    def answered(self: DynamoHandler) -> Any:
        _page.read_bytes = 0
        result = method(self)
        body = self.body if isinstance(self.body, dict) else {}
        mode = _mode(body)
        if mode and isinstance(result.result, dict):
            name, index = body.get("TableName", ""), body.get("IndexName")
            consistent = bool(body.get("ConsistentRead")) and not _is_global_index(self, name, index)
            result.result["ConsumedCapacity"] = _capacity(
                self, name, read_units(_page.read_bytes, consistent), index, mode)
        return result
    return answered


def _get_item(method: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    @functools.wraps(method)
    def answered(self: DynamoHandler) -> Any:
        result = method(self)
        body = self.body if isinstance(self.body, dict) else {}
        mode = _mode(body)
        if mode and isinstance(result.result, dict):
            name = body["TableName"]
            size = _full_item_size(self, name, body["Key"])  # a projection does not lower the cost
            result.result["ConsumedCapacity"] = _capacity(
                self, name, read_units(size, bool(body.get("ConsistentRead"))), None, mode)
        return result
    return answered


def _batch_get_item(method: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    @functools.wraps(method)
    def answered(self: DynamoHandler) -> Any:
        result = method(self)
        body = self.body if isinstance(self.body, dict) else {}
        mode = _mode(body)
        if isinstance(result.result, dict):
            result.result.pop("ConsumedCapacity", None)  # AWS sends it only when asked
            if mode:
                result.result["ConsumedCapacity"] = [
                    _capacity(self, name, sum(
                        read_units(_full_item_size(self, name, key), bool(request.get("ConsistentRead")))
                        for key in request.get("Keys", [])), None, mode)
                    for name, request in body.get("RequestItems", {}).items()]
        return result
    return answered


def install() -> None:
    Table.query = _read_before_filter(Table.query, "filter_expression",  # type: ignore[method-assign]
                                      "projection_expressions")
    Table.scan = _read_before_filter(Table.scan, "filter_expression",  # type: ignore[method-assign]
                                     "projection_expression")
    DynamoHandler.query = _paged(DynamoHandler.query)  # type: ignore[method-assign]
    DynamoHandler.scan = _paged(DynamoHandler.scan)  # type: ignore[method-assign]
    DynamoHandler.get_item = _get_item(DynamoHandler.get_item)  # type: ignore[method-assign]
    batch = _batch_get_item(DynamoHandler.batch_get_item)
    DynamoHandler.batch_get_item = batch  # type: ignore[method-assign, assignment]
