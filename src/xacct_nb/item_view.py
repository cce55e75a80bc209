"""One DynamoDB item as the explorer's item view shows it: a typed tree (every value with its
DynamoDB type), plain JSON and DynamoDB JSON. Pure: the item comes in wire form (a GetItem's
``Item``, as boto3's client returns it), nothing is read here.
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .dynamo.convert import wire_json

__all__ = ["dynamodb_json", "plain_json", "tree_html"]

_TYPE_TITLES = {"S": "string", "N": "number", "B": "binary", "BOOL": "boolean", "NULL": "null",
                "M": "map", "L": "list", "SS": "string set", "NS": "number set", "BS": "binary set"}


def tree_html(item: Mapping[str, Any]) -> str:
    """Nested <details> per map/list (open at the first level), each value tagged with its type."""
    rows = "".join(_node(name, value, depth=0) for name, value in item.items())
    return f"<div class='xacct-item-tree' style='font-family:var(--jp-code-font-family)'>{rows}</div>"


def _tag(type_: str) -> str:
    return (f"<span class='xacct-type' title='{_TYPE_TITLES.get(type_, type_)}' style='color:#fff;"
            f"background:#557;border-radius:3px;padding:0 4px;margin:0 6px;font-size:85%'>{type_}</span>")


def _node(name: str, wire: Mapping[str, Any], depth: int) -> str:
    ((type_, value),) = wire.items()
    label = f"<b>{html.escape(str(name))}</b>{_tag(type_)}"
    if type_ in ("M", "L"):
        children = value.items() if type_ == "M" else enumerate(value)
        inner = "".join(_node(f"[{k}]" if type_ == "L" else str(k), v, depth + 1) for k, v in children)
        count = f"<i>{len(value)} {'entries' if type_ == 'M' else 'elements'}</i>"
        return (f"<details {'open' if depth == 0 else ''} style='margin-left:{depth and 1.2}em'>"
                f"<summary>{label}{count}</summary>{inner}</details>")
    return f"<div style='margin-left:{depth and 1.2}em'>{label}{html.escape(_scalar_text(type_, value))}</div>"


def _scalar_text(type_: str, value: Any) -> str:
    if type_ == "S":
        return json.dumps(value, ensure_ascii=False)
    if type_ == "N":
        return str(value)  # as DynamoDB holds it: no float rounding
    if type_ == "B":
        data = bytes(value) if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)
        return f"{base64.b64encode(data).decode()} ({len(data)} bytes, base64)"
    if type_ == "BOOL":
        return "true" if value else "false"
    if type_ == "NULL":
        return "null"
    if type_ in ("SS", "NS"):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) if type_ == "SS" else str(v)
                               for v in value) + "]"
    if type_ == "BS":
        return "[" + ", ".join(base64.b64encode(bytes(v)).decode() for v in value) + "]"
    return repr(value)


def dynamodb_json(item: Mapping[str, Any]) -> str:
    """The item as DynamoDB JSON (what the CLI prints and takes; binary as base64)."""
    return json.dumps(wire_json(item), ensure_ascii=False, indent=2)



def plain_json(item: Mapping[str, Any]) -> str:
    """The item as plain JSON: numbers exactly as stored (no float rounding), sets as sorted
    lists, binary as base64 text, NULL as null."""
    numbers: dict[str, str] = {}
    marker = uuid.uuid4().hex

    def plain(wire: Mapping[str, Any]) -> Any:
        ((type_, value),) = wire.items()
        if type_ == "M":
            return {k: plain(v) for k, v in value.items()}
        if type_ == "L":
            return [plain(v) for v in value]
        if type_ == "N":
            return number(value)
        if type_ == "NS":
            return [number(v) for v in sorted(value, key=Decimal)]
        if type_ == "SS":
            return sorted(value)
        if type_ == "B":
            return base64.b64encode(bytes(value)).decode() if isinstance(value, (bytes, bytearray)) else value
        if type_ == "BS":
            return sorted(base64.b64encode(bytes(v)).decode() for v in value)
        if type_ == "NULL":
            return None
        return value  # S, BOOL

    def number(text: str) -> str:
        token = f"{marker}{len(numbers)}"
        numbers[token] = str(text)
        return token

    out = json.dumps({k: plain(v) for k, v in item.items()}, ensure_ascii=False, indent=2)
    for token, text in numbers.items():
        out = out.replace(f'"{token}"', text)
    return out
