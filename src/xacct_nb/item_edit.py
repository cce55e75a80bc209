"""Editing one item of a table granted ReadWriteUpdate or Full: plan, send, log.

Planning is pure (:func:`plan_update`, :func:`plan_put`): from the item as it was read (DynamoDB
JSON, as GetItem returned it), the table's key and the operator's edits it builds the exact
request — an ``UpdateItem`` whose ``ConditionExpression`` requires every attribute that was read
to still hold the value that was read (and every attribute the edit adds to still be absent), so
a write is refused when anybody changed the item in between. Nothing is sent there.

:func:`send` makes the one AWS call with the reading session (the assumed role, or the analyst's
own session in resource_policy mode), through :meth:`RemoteTable.call`, and appends one line to the
append-only edit log (:class:`EditLog`): who (the caller's ARN, from STS), when, table, key,
before, after, the request, and whether it was applied or refused.

Values are typed as in the rest of the package (:mod:`xacct_nb.grammar`): ``auto`` reads text as
the Filter box does (``'quoted'`` text, ``true``/``false``, JSON number syntax → a number, anything
else text); a number is sent as the exact text typed, never through a float.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .dynamo.convert import wire_json
from .errors import AccessDenied, AwsError, InputError, ItemChanged, XacctError
from .grammar import AttributePath, literal, parse_path, show_path, split_list

__all__ = [
    "EDIT_LEVELS", "VALUE_TYPES", "EditLog", "EditPlan", "EditResult", "Remove", "SetValue",
    "edit_log_path", "grant_levels", "plan_put", "plan_update", "same_item", "send", "typed_value", "value_text",
]

EDIT_LEVELS = frozenset({"ReadWriteUpdate", "Full"})  # the grants whose policies allow UpdateItem
# How the text typed for a value is read: "auto" as the Filter box reads a value; the others say
# the DynamoDB type; JSON is a map/list/scalar in plain JSON; DynamoDB JSON gives every type.
VALUE_TYPES = ("auto", "S", "N", "BOOL", "NULL", "B", "SS", "NS", "JSON", "DynamoDB JSON")
MAX_EXPRESSION = 4096  # bytes: DynamoDB's limit for an UpdateExpression/ConditionExpression
_DIGITS = 38  # DynamoDB numbers: up to 38 significant digits, magnitude 1E-130 .. 9.9E+125


# -- values ----------------------------------------------------------------------------------------

def typed_value(text: str, type_: str = "auto", *, field: str = "value") -> dict[str, Any]:
    """The text typed for a value → its wire form (``{"N": "4.50"}``); one-line InputError
    naming `field` when the text cannot be of that type."""
    if type_ == "auto":
        value = literal(text)
        if isinstance(value, bool):
            return {"BOOL": value}
        if isinstance(value, (int, Decimal)):
            return {"N": _number_text(text.strip(), field)}
        return {"S": value}
    if type_ == "S":
        return {"S": text}
    if type_ == "N":
        return {"N": _number_text(text.strip(), field)}
    if type_ == "BOOL":
        if text.strip() not in ("true", "false"):
            raise InputError(f"{field}: {text!r} is not a boolean — write true or false")
        return {"BOOL": text.strip() == "true"}
    if type_ == "NULL":
        if text.strip() not in ("", "null"):
            raise InputError(f"{field}: a NULL has no value — leave the box empty (or write null)")
        return {"NULL": True}
    if type_ == "B":
        return {"B": _base64(text.strip(), field)}
    if type_ in ("SS", "NS"):
        parts = [_unquote(p) for p in split_list(text)]
        if not parts:
            raise InputError(f"{field}: a set cannot be empty — remove the attribute instead")
        if len(set(parts)) != len(parts):
            raise InputError(f"{field}: the set names a value twice — a set holds each value once")
        if type_ == "NS":
            numbers = [_number_text(p, field) for p in parts]
            if len({Decimal(n) for n in numbers}) != len(numbers):
                raise InputError(f"{field}: the set names a number twice — a set holds each value once")
            return {"NS": numbers}
        return {"SS": parts}
    if type_ == "JSON":
        return _from_json(_exact_json(text, field, "JSON", '{"city": "Kyiv", "zip": "01001"} or [1, 2]'), field)
    if type_ == "DynamoDB JSON":
        return _check_wire(_exact_json(text, field, "DynamoDB JSON", '{"M": {"city": {"S": "Kyiv"}}}'), field)
    raise InputError(f"{field}: unknown value type {type_!r} — one of {', '.join(VALUE_TYPES)}")


class _JsonNumber(str):
    """A number in JSON text, kept as its exact text (json's float would round it)."""


def _exact_json(text: str, field: str, kind: str, example: str) -> Any:
    """JSON with every number kept as its text (no float rounding); NaN/Infinity refused."""
    try:
        return json.loads(text, parse_float=_JsonNumber, parse_int=_JsonNumber, parse_constant=_no_constant)
    except (ValueError, TypeError) as err:
        raise InputError(f"{field}: not {kind} ({_short(err)}) — e.g. {example}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number DynamoDB can hold")


def _short(err: Exception) -> str:
    return str(err).split(":")[0]


def _number_text(text: str, field: str) -> str:
    """`text` if DynamoDB can hold it as a number, else a one-line InputError. The text itself
    is what is sent: 4.50 stays 4.50 (DynamoDB compares numbers by value)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or text != text.strip() or "_" in text:
        raise InputError(f"{field}: {text!r} is not a number — write digits, e.g. 42, -3.5, 1e3 "
                         "(quote it, or pick type S, for text)")
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))  # no context rounding
    if digits > _DIGITS or (number and not Decimal("1E-130") <= abs(number) < Decimal("1E+126")):
        raise InputError(f"{field}: {text} is beyond DynamoDB's numbers (38 significant digits, "
                         "magnitude 1E-130 to 9.9E+125) — store it as text (type S)")
    return text


def _base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field}: not base64 — binary is typed as base64 text, e.g. aGVsbG8=") from None


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _from_json(value: Any, field: str) -> dict[str, Any]:
    if isinstance(value, _JsonNumber):
        return {"N": _number_text(str(value), field)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_from_json(v, field) for v in value]}
    return {"M": {str(k): _from_json(v, field) for k, v in value.items()}}


def _check_wire(value: Any, field: str) -> dict[str, Any]:
    """A DynamoDB JSON value, checked: one type tag, a value of that type (binary as base64)."""
    bad = InputError(f"{field}: not a DynamoDB JSON value — write {{\"TYPE\": value}} with TYPE one of "
                     "S N B BOOL NULL M L SS NS BS, e.g. {\"SS\": [\"a\", \"b\"]}")
    if not isinstance(value, dict) or len(value) != 1:
        raise bad
    ((tag, inner),) = value.items()
    if tag == "S" and isinstance(inner, str) and not isinstance(inner, _JsonNumber):
        return {"S": str(inner)}
    if tag == "N" and isinstance(inner, str):
        return {"N": _number_text(str(inner), field)}
    if tag == "BOOL" and isinstance(inner, bool):
        return {"BOOL": inner}
    if tag == "NULL" and inner is True:
        return {"NULL": True}
    if tag == "B" and isinstance(inner, str):
        return {"B": _base64(inner, field)}
    if tag == "M" and isinstance(inner, dict):
        return {"M": {str(k): _check_wire(v, f"{field} {k}") for k, v in inner.items()}}
    if tag == "L" and isinstance(inner, list):
        return {"L": [_check_wire(v, f"{field}[{n}]") for n, v in enumerate(inner)]}
    if tag in ("SS", "NS", "BS") and isinstance(inner, list) and all(isinstance(v, str) for v in inner):
        if not inner:
            raise InputError(f"{field}: a set cannot be empty — remove the attribute instead")
        members = [str(v) for v in inner]
        if tag == "NS":
            members = [_number_text(v, field) for v in members]
        if len({Decimal(v) if tag == "NS" else v for v in members}) != len(members):
            raise InputError(f"{field}: the set names a value twice — a set holds each value once")
        return {tag: [_base64(v, field) for v in members] if tag == "BS" else members}
    raise bad


def value_text(wire: Mapping[str, Any]) -> tuple[str, str]:
    """(type, text) that :func:`typed_value` reads back into exactly `wire`: what the edit box
    shows for an attribute's current value."""
    ((tag, value),) = wire.items()
    if tag in ("S", "N"):
        return tag, str(value)
    if tag == "BOOL":
        return "BOOL", "true" if value else "false"
    if tag == "NULL":
        return "NULL", ""
    if tag == "B":
        return "B", base64.b64encode(bytes(value)).decode()
    if tag in ("SS", "NS") and not any("," in v or v != v.strip() or v[:1] in "'\"" for v in value):
        return tag, ", ".join(str(v) for v in value)
    if tag in ("M", "L") and _plain(wire):
        return "JSON", _plain_json(wire)
    return "DynamoDB JSON", json.dumps(wire_json(wire), ensure_ascii=False, indent=1)


def _plain(wire: Mapping[str, Any]) -> bool:
    """Whether plain JSON says all of `wire` (no sets, no binary anywhere in it)."""
    ((tag, value),) = wire.items()
    if tag == "M":
        return all(_plain(v) for v in value.values())
    if tag == "L":
        return all(_plain(v) for v in value)
    return tag in ("S", "N", "BOOL", "NULL")


def _plain_json(wire: Mapping[str, Any]) -> str:
    """A map or list as plain JSON with every number as its exact text (json would print a float)."""
    numbers: dict[str, str] = {}
    marker = f"\x00n{id(numbers)}:"

    def plain(node: Mapping[str, Any]) -> Any:
        ((tag, value),) = node.items()
        if tag == "M":
            return {k: plain(v) for k, v in value.items()}
        if tag == "L":
            return [plain(v) for v in value]
        if tag == "N":
            token = f"{marker}{len(numbers)}"
            numbers[token] = str(value)
            return token
        return None if tag == "NULL" else value

    text = json.dumps(plain(wire), ensure_ascii=False, indent=1)
    for token, number in numbers.items():
        text = text.replace(json.dumps(token), number)
    return text



# -- edits -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SetValue:
    """Set the attribute (or nested path) to a value in wire form."""

    path: AttributePath
    value: dict[str, Any]

    @classmethod
    def typed(cls, path: str | AttributePath, text: str, type_: str = "auto") -> SetValue:
        """From what the operator typed: a path in the grammar's words, the value's text and type."""
        where = path if isinstance(path, str) else show_path(path)
        parsed = parse_path(path, field="attribute") if isinstance(path, str) else path
        return cls(parsed, typed_value(text, type_, field=f"value of {where}"))


@dataclass(frozen=True)
class Remove:
    """Remove the attribute (or the nested path)."""

    path: AttributePath

    @classmethod
    def typed(cls, path: str | AttributePath) -> Remove:
        return cls(parse_path(path, field="attribute") if isinstance(path, str) else path)


Edit = SetValue | Remove


def _segments(path: AttributePath) -> tuple[str | int, ...]:
    return (path,) if isinstance(path, str) else tuple(path)


# -- plans -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EditPlan:
    """One write, planned: `request` is exactly what :func:`send` passes to boto3."""

    operation: str  # "UpdateItem" | "PutItem"
    table: str  # as the request names it (an ARN in resource_policy mode)
    key: dict[str, Any]
    before: dict[str, Any] | None  # the item as it was read (None: a new item)
    after: dict[str, Any]  # the item the write makes
    request: dict[str, Any]
    changes: tuple[str, ...] = ()  # "set amount = 12.50", "remove note": what the operator asked

    def request_json(self) -> str:
        """The request as JSON (binary as base64), as the API reference writes it."""
        return json.dumps(wire_json(self.request), ensure_ascii=False, indent=2)

    def cli(self, profile: str | None = None, region: str | None = None) -> str:
        """The same request as an AWS CLI command."""
        from .explorer_code import aws_cli

        words = ["aws", "dynamodb", "update-item" if self.operation == "UpdateItem" else "put-item"]
        for name, value in self.request.items():
            option = "--" + "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
            words += [option, json.dumps(wire_json(value), ensure_ascii=False, separators=(",", ":"))
                      if isinstance(value, dict) else str(value)]
        return aws_cli(words, profile, region)

    def summary(self) -> str:
        return "; ".join(self.changes)



class _Names:
    """#n0, #n1... for attribute names; :v0... for new values; :c0... for the values read."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}

    def name(self, text: str) -> str:
        if text not in self.names:
            self.names[text] = f"#n{len(self.names)}"
        return self.names[text]

    def path(self, path: AttributePath) -> str:
        out = ""
        for segment in _segments(path):
            out += f"[{segment}]" if isinstance(segment, int) else ("." if out else "") + self.name(segment)
        return out

    def value(self, prefix: str, wire: dict[str, Any]) -> str:
        placeholder = f":{prefix}{sum(1 for k in self.values if k[1] == prefix)}"
        self.values[placeholder] = wire
        return placeholder


def plan_update(table: str, item: Mapping[str, Any], key: Any, edits: Iterable[Edit], *,
                typed_keys: Mapping[str, str] | None = None) -> EditPlan:
    """The ``UpdateItem`` that makes `edits` to `item` (as read) — refused if the item changed.

    `key` is the table's :class:`~xacct_nb.dynamo.KeySchema` (its attributes cannot be edited);
    `typed_keys` maps index key attributes to their declared type (S/N/B), which a new value
    must keep. Raises a one-line InputError, before any call, for an edit that cannot be made."""
    edits = list(edits)
    if not edits:
        raise InputError("no change to send — set or remove an attribute first")
    before = {k: v for k, v in item.items()}
    missing = [name for name in key.names if name not in before]
    if missing:
        raise InputError(f"the item lacks its key attribute {', '.join(missing)} — edit an item as "
                         "GetItem returned it")
    after = _deep_copy(before)
    seen: list[tuple[str | int, ...]] = []
    changes: list[str] = []
    for edit in edits:
        segments = _segments(edit.path)
        where = show_path(edit.path)
        top = segments[0]
        if not isinstance(top, str) or top == "":
            raise InputError(f"attribute {where}: not an attribute name")
        if top in key.names:
            raise InputError(f"{top} is part of the key of table {table} — a key attribute cannot be "
                             "edited (write a new item with the new key, then delete the old one)")
        for other in seen:
            if segments[:len(other)] == other or other[:len(segments)] == segments:
                raise InputError(f"attribute {where} is edited twice (also as {show_path(other)}) — "
                                 "make one edit per attribute")
        seen.append(segments)
        if isinstance(edit, SetValue):
            if len(segments) == 1 and top in (typed_keys or {}):
                wanted = (typed_keys or {})[top]
                tag = next(iter(edit.value))
                if tag != wanted:
                    raise InputError(f"{top} is an index key of type {wanted}: a {tag} value would be "
                                     f"refused — give it a {wanted} value")
            old = _value_at(after, segments)
            _apply_set(after, segments, edit.value, where)
            changes.append(f"set {where} = {_brief(edit.value)}"
                           + (f", was {_brief(old)}" if old is not None else ", a new attribute"))
        else:
            old = _value_at(after, segments)
            _apply_remove(after, segments, where)
            changes.append(f"remove {where}" + (f", was {_brief(old)}" if old is not None else ""))
    if same_item(after, before):
        raise InputError("no change to send: the item already holds these values")
    names = _Names()
    sets = [f"{names.path(e.path)} = {names.value('v', e.value)}" for e in edits if isinstance(e, SetValue)]
    removes = [names.path(e.path) for e in edits if isinstance(e, Remove)]
    update = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "") if part)
    # every attribute read must still hold the value read; every one added must still be absent
    conditions = [f"{names.name(n)} = {names.value('c', v)}" for n, v in before.items()]
    conditions += [f"attribute_not_exists({names.name(str(_segments(e.path)[0]))})" for e in edits
                   if str(_segments(e.path)[0]) not in before]
    condition = " AND ".join(dict.fromkeys(conditions))
    for what, text in (("UpdateExpression", update), ("ConditionExpression", condition)):
        if len(text.encode()) > MAX_EXPRESSION:
            raise InputError(f"the {what} would be {len(text.encode())} bytes, over DynamoDB's "
                             f"{MAX_EXPRESSION} — edit fewer attributes at a time")
    item_key = {name: before[name] for name in key.names}
    request = {"TableName": table, "Key": item_key, "UpdateExpression": update,
               "ConditionExpression": condition,
               "ExpressionAttributeNames": {v: k for k, v in names.names.items()},
               "ExpressionAttributeValues": names.values, "ReturnValues": "ALL_NEW"}
    return EditPlan("UpdateItem", table, item_key, before, after, request, tuple(changes))


def plan_put(table: str, item: Mapping[str, Any], key: Any) -> EditPlan:
    """The ``PutItem`` of a NEW item: refused (ConditionalCheckFailed) when an item with that key
    exists, so it never replaces one."""
    for name in key.names:
        if name not in item:
            raise InputError(f"the new item lacks its key attribute {name} — give it a "
                             f"{key.type_of(name)} value")
        tag = next(iter(item[name]))
        if tag != key.type_of(name):
            raise InputError(f"key {name} of table {table} is of type {key.type_of(name)}, not {tag} — "
                             f"give it a {key.type_of(name)} value")
    names = _Names()
    request = {"TableName": table, "Item": dict(item),
               "ConditionExpression": f"attribute_not_exists({names.name(key.partition_key)})",
               "ExpressionAttributeNames": {v: k for k, v in names.names.items()}}
    item_key = {name: item[name] for name in key.names}
    return EditPlan("PutItem", table, item_key, None, dict(item), request,
                    (f"put a new item with {len(item)} attributes",))


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _container(after: dict[str, Any], segments: Sequence[str | int], where: str) -> Any:
    """The map or list that holds the last segment (error when a step of the path is absent)."""
    holder: Any = after
    for n, segment in enumerate(segments[:-1]):
        if n == 0:
            node = holder.get(segment)
        elif isinstance(segment, int):
            node = holder[segment] if isinstance(holder, list) and segment < len(holder) else None
        else:
            node = holder.get(segment) if isinstance(holder, dict) else None
        wanted = "L" if isinstance(segments[n + 1], int) else "M"
        if node is None or wanted not in node:
            step = show_path(tuple(segments[:n + 1]) if n else str(segments[0]))
            raise InputError(f"attribute {where}: {step} is not a {'list' if wanted == 'L' else 'map'} "
                             "on this item — set the whole top-level attribute instead")
        holder = node[wanted]
    return holder


def _apply_set(after: dict[str, Any], segments: Sequence[str | int], value: dict, where: str) -> None:
    holder = _container(after, segments, where)
    last = segments[-1]
    if isinstance(last, int):
        if last >= len(holder):
            raise InputError(f"attribute {where}: the list has {len(holder)} elements — set an "
                             "existing element, or the whole list")
    holder[last] = value


def _apply_remove(after: dict[str, Any], segments: Sequence[str | int], where: str) -> None:
    holder = _container(after, segments, where)
    last = segments[-1]
    present = last < len(holder) if isinstance(last, int) else last in holder
    if not present:
        raise InputError(f"attribute {where}: the item has no such attribute — nothing to remove")
    del holder[last]


def _value_at(item: Mapping[str, Any], segments: Sequence[str | int]) -> dict[str, Any] | None:
    """The value at a path of the item (None: no such path)."""
    node: Any = {"M": item}
    for segment in segments:
        inner = node.get("L" if isinstance(segment, int) else "M") if isinstance(node, dict) else None
        if inner is None or (isinstance(segment, int) and segment >= len(inner)) \
                or (isinstance(segment, str) and segment not in inner):
            return None
        node = inner[segment]
    return node if isinstance(node, dict) else None


def _brief(wire: Mapping[str, Any], width: int = 40) -> str:
    type_, text = value_text(wire)
    if type_ == "NULL":
        return "NULL"
    text = " ".join(text.split()) or '""'
    text = text if len(text) <= width else text[:width - 1] + "…"
    return f"{text} ({type_})" if type_ not in ("JSON", "DynamoDB JSON") else text


def same_item(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as DynamoDB compares items: numbers by value (4.50 = 4.5), sets unordered."""
    return _canonical({"M": dict(a)}) == _canonical({"M": dict(b)})


def _canonical(wire: Mapping[str, Any]) -> Any:
    ((tag, value),) = wire.items()
    if tag == "M":
        return ("M", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    if tag == "L":
        return ("L", tuple(_canonical(v) for v in value))
    if tag == "N":
        return ("N", Decimal(value))
    if tag == "NS":
        return ("NS", frozenset(Decimal(v) for v in value))
    if tag in ("SS", "BS"):
        return (tag, frozenset(bytes(v) if tag == "BS" else v for v in value))
    if tag == "B":
        return ("B", bytes(value))
    return (tag, value)


# -- sending and the log ---------------------------------------------------------------------------

def edit_log_path(runs_dir: str | os.PathLike, env: str) -> Path:
    """runs/<env>/edits.jsonl: beside the environment's run records."""
    return Path(runs_dir) / env / "edits.jsonl"


class EditLog:
    """An append-only JSON-lines file: one line per write tried (applied or refused). Opened with
    O_APPEND for every line (so nothing before it is ever rewritten, even by two writers), each
    line written with one write() and fsync'ed; never truncated, never rewritten."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def open(self) -> int:
        """The file opened for appending (made if needed): done BEFORE the write is sent, so a log
        that cannot be written stops the edit before anything changes."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise InputError(f"edit log {self.path}: cannot append ({err.strerror}) — fix its folder's "
                             "permissions or pass another edit log; nothing was sent") from None

    @staticmethod
    def append(fd: int, record: Mapping[str, Any]) -> None:
        line = (json.dumps(wire_json(record), ensure_ascii=False, sort_keys=False) + "\n").encode()
        written = os.write(fd, line)
        if written != len(line):  # a short write on a regular file: the disk is full
            raise OSError(f"short write to the edit log ({written} of {len(line)} bytes)")
        os.fsync(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every line, parsed (binary stays base64 text)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


@dataclass
class EditResult:
    """A write that was applied: the item as DynamoDB returned it (ALL_NEW)."""

    plan: EditPlan
    item: dict[str, Any]
    who: str
    log: Path | None
    # attributes whose value differs from the plan's (someone wrote between the condition
    # check and now cannot happen; this is a new attribute the read did not see)
    unexpected: list[str] = field(default_factory=list)


def send(remote: Any, plan: EditPlan, *, log: EditLog | str | os.PathLike | None,
         grant: str | None = None, table: str | None = None) -> EditResult:
    """Send `plan` with `remote` (a :class:`~xacct_nb.dynamo.RemoteTable` of the reading session)
    and append its outcome to `log` (an :class:`EditLog` or its path; None: not logged — the
    panel never sends without a log). `grant` (the table's access level) names why a denial
    happened; `table` is how the log names the table (default: the request's TableName).
    Every call appends exactly one line: ``applied``, ``refused`` (with the one-line reason) or
    ``failed`` (another error: for a timeout the write may have happened — reload the item).

    Raises :class:`~xacct_nb.errors.ItemChanged` when the item is not as read any more, an
    :class:`~xacct_nb.errors.AccessDenied` naming the grant when IAM refuses; both are logged
    as refused, and nothing was written."""
    from .sessions import whoami

    if plan.table != remote.name:
        raise InputError(f"the plan writes to {plan.table}, the session's table is {remote.name} — "
                         "plan the edit for this table")
    who = whoami(remote.session).arn  # the writing session's identity: never its credentials
    edit_log = log if isinstance(log, EditLog) or log is None else EditLog(log)
    fd = edit_log.open() if edit_log is not None else None
    record: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "who": who, "table": table or plan.table, "operation": plan.operation, "key": plan.key,
        "outcome": "", "reason": None, "changes": list(plan.changes), "before": plan.before,
        "after": None, "request": plan.request}
    try:
        try:
            reply = remote.call(plan.operation, **{k: v for k, v in plan.request.items() if k != "TableName"})
        except XacctError as err:
            refused = _refusal(err, plan, grant, table or plan.table)
            # failed: an error that is not a refusal — a timeout may hide a write that happened
            record.update(outcome="refused" if refused is not err else "failed", reason=str(refused))
            if fd is not None:
                try:
                    EditLog.append(fd, record)
                except OSError as log_err:
                    raise AwsError(f"{refused} (and the edit log {edit_log.path if edit_log else ''} "
                                   f"could not be appended: {log_err})", "EditLogFailed") from err
            raise refused from err
        item = reply.get("Attributes") if plan.operation == "UpdateItem" else dict(plan.after)
        record.update(outcome="applied", after=item)
        if fd is not None:
            try:
                EditLog.append(fd, record)
            except OSError as err:
                raise AwsError(f"{plan.operation} on {table or plan.table} WAS applied, but the edit "
                               f"log {edit_log.path if edit_log else ''} could not be appended "
                               f"({err}) — note the change by hand; do not send it again",
                               "EditLogFailed") from err
    finally:
        if fd is not None:
            os.close(fd)
    unexpected = sorted(k for k in set(item or {}) | set(plan.after)
                        if not same_item({k: (item or {}).get(k, {"NULL": "absent"})},
                                         {k: plan.after.get(k, {"NULL": "absent"})}))
    return EditResult(plan, dict(item or {}), who, edit_log.path if edit_log else None, unexpected)


def _refusal(err: XacctError, plan: EditPlan, grant: str | None, table: str) -> XacctError:
    """The one line for a refused write (or `err` itself for any other failure)."""
    if isinstance(err, AwsError) and err.code == "ConditionalCheckFailedException":
        if plan.operation == "PutItem":
            return ItemChanged(f"table {table} already has an item with this key — a new item never "
                               "replaces one; edit that item instead")
        return ItemChanged("the item changed since it was read — reload it and edit again")
    if isinstance(err, AccessDenied):
        if grant is not None and grant not in EDIT_LEVELS:
            return AccessDenied(f"dynamodb:{plan.operation} on table {table}: access denied — its grant "
                                f"is {grant}, and {grant} grants cannot write (ask for ReadWriteUpdate "
                                "or Full in the params)", err.code)
        level = f"its grant is {grant}, yet " if grant else ""
        return AccessDenied(f"dynamodb:{plan.operation} on table {table}: access denied — {level}the "
                            "policy in force does not allow this write (run `xacct-nb verify` to see "
                            "what the grant allows)", err.code)
    return err


def grant_levels(spec: Any) -> dict[str, str]:
    """Each granted table → its access_type (Read / ReadWriteUpdate / Full): what the explorer's
    item view needs to know whether to offer edit controls."""
    return {access.table_name: access.access_type for access in spec.table_access_list}
