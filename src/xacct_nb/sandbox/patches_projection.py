"""Fix 14: ProjectionExpression paths as AWS reads them.

moto 5.2 splits a projection on ``.`` and only then replaces ``#placeholders``, so
``#a0[0]`` (element 0 of the list named by ``#a0``) is never resolved (the name is then reported
unused), and a NAME that holds ``[0]`` or ``.`` after substitution (``{"#a": "x[0]"}``) is read
as a list index or a nested path. AWS substitutes each placeholder as one whole name. Here the
parser yields paths of segments — names (``str``) and list indexes (:class:`ListIndex`) — and
``Item.project`` walks them on the typed item.
"""

from __future__ import annotations

import re
from typing import Any

from moto.dynamodb.exceptions import InvalidProjectionExpression, MockValidationException
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.responses import ProjectionExpressionParser, check_projection_expression
from moto.dynamodb.utils import find_duplicates

__all__ = ["ListIndex", "install", "parse_projection"]

_TOKEN = re.compile(r"\s*(?:([^.\[\]\s]+)|\[\s*(\d+)\s*\]|(\.))")


class ListIndex(int):
    """A list index in a projection path (plain ints could be names' look-alikes)."""


def parse_projection(expression: str, names: dict[str, str], found: list[str]) -> list[Any]:
    """``#a0.#a1[2]`` → ``["shipping", "lines", ListIndex(2)]``, each ``#name`` replaced whole."""
    segments: list[Any] = []
    position, expect_name = 0, True
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            break
        name, index, dot = match.groups()
        if dot is not None:
            if expect_name:
                break
            expect_name = True
        elif index is not None:
            if expect_name:
                break
            segments.append(ListIndex(int(index)))
        else:
            if not expect_name:
                break
            if name.startswith("#"):
                if name not in names:
                    raise MockValidationException(
                        "Invalid ProjectionExpression: An expression attribute name used in the "
                        f"document path is not defined; attribute name: {name}")
                found.append(name)
                name = names[name]
            segments.append(name)
            expect_name = False
        position = match.end()
    if position < len(expression.rstrip()) or expect_name:
        raise MockValidationException(f"Invalid ProjectionExpression: Syntax error; token: {expression!r}")
    return segments


def _parse(self: ProjectionExpressionParser) -> list[list[Any]]:
    if not self.projection_expression:
        return []
    expressions = [x.strip() for x in self.projection_expression.split(",")]
    duplicates = find_duplicates(expressions)
    if duplicates:
        raise InvalidProjectionExpression(*duplicates)
    for expression in expressions:
        check_projection_expression(expression)
    return [parse_projection(e, self.expression_attribute_names, self.expr_attr_names_found)
            for e in expressions]


def _child(value: DynamoType, segment: Any) -> DynamoType | None:
    if isinstance(segment, ListIndex):
        return value.child_attr(int(segment)) if value.is_list() else None
    return value.child_attr(segment) if value.is_map() else None


def _merge(into: dict[str, Any], path: list[Any], leaf: dict[str, Any]) -> None:
    """Put `leaf` (wire) at `path` inside `into` (a wire map's contents), making maps and lists
    on the way: AWS returns the projected elements of a list in index order, compacted."""
    head, rest = path[0], path[1:]
    if not rest:
        into[head] = leaf
        return
    nxt = rest[0]
    if isinstance(nxt, ListIndex):
        holder = into.setdefault(head, {"L": {}})  # index → element, compacted at the end
        if len(rest) == 1:
            holder["L"][int(nxt)] = leaf
            return
        if isinstance(rest[1], ListIndex):
            raise MockValidationException("the sandbox does not project lists of lists (x[0][1])")
        element = holder["L"].setdefault(int(nxt), {"M": {}})
        _merge(element["M"], rest[1:], leaf)
    else:
        holder = into.setdefault(head, {"M": {}})
        _merge(holder["M"], rest, leaf)


def _compact(value: Any) -> dict[str, Any]:
    """Wire JSON all the way down (moto's to_json leaves the members of a map or list as
    DynamoType objects), with the projected lists' index → element dicts compacted in order."""
    if isinstance(value, DynamoType):
        value = value.to_json()
    if "L" in value:
        elements = value["L"]
        ordered = [elements[i] for i in sorted(elements)] if isinstance(elements, dict) else elements
        return {"L": [_compact(e) for e in ordered]}
    if "M" in value:
        return {"M": {k: _compact(v) for k, v in value["M"].items()}}
    return value


def _project(self: Item, projection_expressions: list[list[Any]]) -> Item:
    result: dict[str, Any] = {}
    for path in projection_expressions:
        value = self.attrs.get(path[0])
        for segment in path[1:]:
            if value is None:
                break
            value = _child(value, segment)
        if value is not None:
            _merge(result, list(path), value.to_json())
    attrs = {name: _compact(v) for name, v in result.items()}
    return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)


def install() -> None:
    ProjectionExpressionParser.parse = _parse  # type: ignore[method-assign]
    Item.project = _project  # type: ignore[method-assign]
