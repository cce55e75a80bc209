"""DynamoDB answers that moto 5.2.5 gets wrong where AWS succeeds or answers a 4xx.

1. ``ExportTableToPointInTime`` without ``S3Prefix`` (optional in AWS: the export goes to the
   bucket's root, ``AWSDynamoDB/<export id>/``) fails in moto with ``KeyError: 'S3Prefix'``
   (HTTP 500). -> the missing prefix is passed on as "none"; the export (``patches_export``)
   writes at the root and its description carries no ``S3Prefix``, as AWS's does.
2. A comparison across types (``tier > :n`` with ``tier`` a string and ``:n`` a number; ``<``,
   ``<=``, ``>=``, ``BETWEEN``) raises moto's ``TypeError`` (str vs Decimal) inside the filter, an
   HTTP 500 (or, with ``patches_errors``, a ValidationException). AWS evaluates it as false: the
   item does not match. -> the filter's ordering operators and BETWEEN are false unless both
   sides are of one orderable type (S, N or B), then compared as moto compares them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from moto.dynamodb.comparisons import FuncBetween, OpGreaterThan, OpGreaterThanOrEqual, OpLessThan, OpLessThanOrEqual
from moto.dynamodb.responses import DynamoHandler

ORDERED_TYPES = frozenset({"S", "N", "B"})  # what <, <=, >, >=, BETWEEN order (AWS)
ORDERINGS = {OpLessThan: operator.lt, OpLessThanOrEqual: operator.le, OpGreaterThan: operator.gt,
             OpGreaterThanOrEqual: operator.ge}


# --- 1: S3Prefix is optional -------------------------------------------------------------------

def _prefix_optional(method: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    @functools.wraps(method)
    def export(self: DynamoHandler) -> Any:
        if isinstance(self.body, dict):
            self.body.setdefault("S3Prefix", None)
        return method(self)
    return export


# --- 2: comparisons across types are false ------------------------------------------------------

def _type_of(operand: Any, value: Any, item: Any) -> str | None:
    """The DynamoDB type of an operand's value (S, N, B, ...; None when absent)."""
    get_type = getattr(operand, "get_type", None)
    if get_type is not None:
        return get_type(item)
    if isinstance(value, bool) or value is None:
        return None
    return "N" if isinstance(value, int | Decimal) else "S" if isinstance(value, str) else \
        "B" if isinstance(value, bytes) else None


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def expr(self: Any, item: Any) -> bool:
        lhs, rhs = self.lhs.expr(item), self.rhs.expr(item)
        kind = _type_of(self.lhs, lhs, item)
        return kind in ORDERED_TYPES and kind == _type_of(self.rhs, rhs, item) and compare(lhs, rhs)
    return expr


def _between(self: FuncBetween, item: Any) -> bool:
    values = [(operand, operand.expr(item)) for operand in (self.attr, self.start, self.end)]
    kinds = {_type_of(operand, value, item) for operand, value in values}
    if len(kinds) != 1 or not kinds <= ORDERED_TYPES:
        return False
    attr, start, end = (value for _, value in values)
    return bool(start <= attr <= end)


def install() -> None:
    DynamoHandler.export_table_to_point_in_time = _prefix_optional(  # type: ignore[method-assign, assignment]
        DynamoHandler.export_table_to_point_in_time)
    for op, compare in ORDERINGS.items():
        op.expr = _ordered(compare)  # type: ignore[method-assign, assignment]
    FuncBetween.expr = _between  # type: ignore[method-assign]
