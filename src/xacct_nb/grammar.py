"""One grammar for what people type: values, keys, filters, sort conditions and projections.

The CLI (``--key``, ``--filter``, ``--sort``, ``--projection``), the explorer panel's text boxes
and the Python API's string forms all parse through these functions, so the same text means the
same thing everywhere. Pure: no I/O, no AWS calls.

Values
    A value for a **key attribute** is typed by the key's declared type (:func:`key_value`):
    ``007`` is the string ``"007"`` for an ``S`` key and the number 7 for an ``N`` key; ``B``
    takes base64 text. A value for **any other attribute** has no declared type, so its text
    decides (:func:`literal`), following JSON: ``'quoted'`` or ``"quoted"`` is always text;
    ``true``/``false`` are booleans; JSON number syntax (``42``, ``-3``, ``4.50``, ``1e3``) is a
    number — ``int`` or an exact ``Decimal``, never a float; everything else (``007``, ``TRUE``,
    ``+5``, ``C0007``) is text.

Filters — conditions separated by commas (a comma inside quotes is text)::

    status=SHIPPED, amount>100          = != <> < <= > >=
    name^=Ali   name begins_with Ali    begins_with
    tags~=blue  tags contains blue      contains
    amount between 10 and 20            (also 10..20)
    coupon exists   coupon not_exists

Sort-key conditions — ``OP VALUE`` or ``OP:VALUE`` with OP one of ``= < <= > >=``,
``^=``/``begins_with``, ``between LOW and HIGH`` (also ``between:LOW:HIGH``, ``LOW..HIGH``).

Operators are read whole: the run of ``= < > ! ^ ~`` characters after the name must be one of the
operators above, so a typo (``>>``, ``=<``, ``=>``, ``==``, ``<>`` in a sort condition) is an
error listing the valid ones, never an operator plus a value that starts with the rest of it.
A value that itself starts with one of those characters must be quoted (``note='>5'``).

Keys — ``NAME=VALUE`` (the name is checked against the key) or a bare ``VALUE``.
Assignments — ``-p KEY=VALUE`` overrides of params and notebook parameters: the text after the
first ``=`` is kept as is, typed later by whoever knows the parameter's type.
Projections — attribute paths separated by commas: ``name, shipping.city, lines[0].sku``.

Names and paths — a bare ``a.b`` is the path "attribute ``a``, then its key ``b``" and ``x[0]``
is "element 0 of list ``x``". An attribute whose NAME holds ``.``, ``[``, ``]``, spaces, ``"``
or an operator character is written in double quotes, as in PartiQL: ``"a.b"=dot``,
``"order date">2026``, ``"x[0]"``, ``shipping."post code"``; a ``"`` inside a quoted name is
doubled (``"say ""hi"" now"``). :func:`parse_path` turns the text into what the Python API takes:
a plain ``str`` for one attribute name, a ``tuple`` of names (``str``) and list indexes
(``int``) for a nested path.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InputError

__all__ = [
    "FILTER_OPERATORS", "SORT_OPERATORS", "AttributePath", "Condition", "key_value", "literal",
    "parse_assignments", "parse_filters", "parse_key", "parse_path", "parse_projection",
    "parse_sort", "show_path", "split_list",
]

# A condition as the API takes it: a bare value means equality, a tuple is (operator, *values).
Condition = Any
SORT_OPERATORS = ("=", "<", "<=", ">", ">=", "begins_with", "between")
FILTER_OPERATORS = ("=", "<>", "<", "<=", ">", ">=", "begins_with", "contains", "between",
                    "exists", "not_exists")
_SYMBOLS = {"=": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">",
            ">=": ">=", "^=": "begins_with", "~=": "contains"}
_SORT_SYMBOLS = ("=", "<", "<=", ">", ">=", "^=")
_OPERATOR_CHARS = "=<>!^~"
VALID_FILTER_OPERATORS = "= != <> < <= > >= ^= (begins_with) ~= (contains) between exists not_exists"
VALID_SORT_OPERATORS = "= < <= > >= ^= (begins_with) between"
_WORDS = ("begins_with", "contains", "between", "not_exists", "exists")
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_QUOTED_NAME = r'"(?:[^"]|"")*"'  # a name in double quotes; "" is one "
_SYMBOL_CONDITION = re.compile(rf"((?:{_QUOTED_NAME}|[^=<>!^~\s\"])(?:{_QUOTED_NAME}|[^=<>!^~\"])*?)"
                               r"\s*([=<>!^~]+)\s*(.*)", re.S)
_WORD_CONDITION = re.compile(rf"((?:{_QUOTED_NAME}|[^\s\"])+)\s+(" + "|".join(_WORDS) + r")\b\s*(.*)",
                             re.S | re.I)
_PATH_SEGMENT = re.compile(rf'({_QUOTED_NAME})|([^."\[\]\s]+)|\[([0-9]+)\]|(\.)')
_RANGE = re.compile(r"(.*?)\s+and\s+(.*)|(.*?)\.\.(.*)", re.S | re.I)
# An attribute as the API takes it: one name (whatever characters it holds), or a nested path
# of names and list indexes, e.g. ("shipping", "city") or ("lines", 0, "sku").
AttributePath = str | tuple[str | int, ...]
_TYPE_HINTS = {"S": "text", "N": "a number or numeric text", "B": "bytes or base64 text"}


def literal(text: str) -> Any:
    """A value for an attribute with no declared type (see the module docstring)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _JSON_NUMBER.fullmatch(text):
        number = Decimal(text)
        integral = "." not in text and "e" not in text.lower()
        return int(text) if integral else number
    return text


def key_value(name: str, type_: str, value: Any, where: str) -> dict[str, Any]:
    """A key attribute's value in wire form, converted to the key's declared type.

    ``value`` may be typed (``7``, ``b"..."``) or text as typed by a person (``"007"``): text for
    an ``N`` key is read as a number, for a ``B`` key as base64. Raises :class:`InputError`
    naming the key when the value cannot be of that type."""
    if type_ == "S" and isinstance(value, (str, int, Decimal, float)) \
            and not isinstance(value, bool):
        return {"S": str(value)}
    if type_ == "N" and not isinstance(value, bool):
        number = _number(value)
        if number is not None:
            return {"N": number}
    if type_ == "B":
        if isinstance(value, (bytes, bytearray)):
            return {"B": bytes(value)}
        if isinstance(value, str):
            try:
                return {"B": base64.b64decode(value, validate=True)}
            except binascii.Error:
                pass
    hint = _TYPE_HINTS.get(type_, "a value of that type")
    raise InputError(f"key {name} of {where} is of type {type_}: {value!r} cannot be converted "
                     f"— pass {hint}")


def _number(value: Any) -> str | None:
    """Wire text of a number (normalised: ``007`` → ``7``), or None when it is not one."""
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else None
    if not isinstance(value, (str, int, Decimal)):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return str(int(number)) if number == number.to_integral_value() and abs(number) < 10**38 \
        and "e" not in str(value).lower() else str(number)


def split_list(text: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside quotes; empty parts dropped."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_filters(text: str | Iterable[str], key_types: Mapping[str, str] | None = None, *,
                  field: str = "filter") -> dict[AttributePath, Condition]:
    """``"status=SHIPPED, amount>100"`` (or a list of such texts) → ``{"status": "SHIPPED",
    "amount": (">", 100)}``; values of attributes in `key_types` (name → S/N/B) are typed by the
    key, others by :func:`literal`. Empty text → ``{}``. `field` names the input in errors
    (``--filter`` on the CLI, ``Filter`` in the panel)."""
    texts = split_list(text) if isinstance(text, str) else [p for t in text for p in split_list(t)]
    out: dict[AttributePath, Condition] = {}
    for part in texts:
        name, condition = _filter_condition(part, key_types or {}, field)
        if name in out:
            raise InputError(f"{field} {part!r}: {show_path(name)} has two conditions — combine them into "
                             "one, e.g. 'amount between 10 and 20'")
        out[name] = condition
    return out


def _filter_condition(text: str, key_types: Mapping[str, str],
                      field: str) -> tuple[AttributePath, Condition]:
    word = _WORD_CONDITION.fullmatch(text.strip())
    if word and not re.search(r"[=<>!^~]", re.sub(_QUOTED_NAME, "", word.group(1))):
        name, op, rest = word.group(1), word.group(2).lower(), word.group(3)
    else:
        symbol = _SYMBOL_CONDITION.fullmatch(text.strip())
        if not symbol:
            raise InputError(f"{field} {text!r}: write NAME=VALUE, or NAME with one of != < <= > "
                             ">= ^= (begins_with) ~= (contains), 'NAME between LOW and HIGH', "
                             "'NAME exists' — quote text that looks like a number: name='42'")
        name, token, rest = symbol.group(1).strip(), symbol.group(2), symbol.group(3)
        if token not in _SYMBOLS:
            raise InputError(f"{field} {text!r}: unknown operator {token!r} — valid: {VALID_FILTER_OPERATORS}")
        op = _SYMBOLS[token]
        _check_value_start(rest, f"{field} {text!r}", VALID_FILTER_OPERATORS)
    path = parse_path(name, field=f"{field} {text!r}:")
    name = path if isinstance(path, str) else name  # messages show a path as it was typed

    def typed(raw: str) -> Any:
        if name in key_types:
            return _unwire(key_value(name, key_types[name], _unquote(raw), f"the {field}"))
        return literal(raw)

    if op in ("exists", "not_exists"):
        if rest.strip():
            raise InputError(f"{field} {text!r}: '{name} {op}' takes no value")
        return path, (op,)
    if op == "between":
        low, high = _range(rest, f"{field} {text!r}")
        return path, ("between", typed(low), typed(high))
    if not rest.strip():
        raise InputError(f"{field} {text!r}: the value is missing — write {name} {op} VALUE")
    return path, typed(rest) if op == "=" else (op, typed(rest))


def parse_sort(text: str, *, field: str = "sort") -> tuple[str, ...] | None:
    """A sort-key condition → ``(op, value)`` or ``("between", low, high)`` with the values as
    typed text: the table types them by its sort key. Empty text → None."""
    text = text.strip()
    if not text:
        return None
    match = re.fullmatch(r"(begins_with|between|[=<>!^~]+)\s*:?\s*(.*)", text, re.S | re.I)
    if not match:
        raise InputError(f"{field} {text!r}: write OP VALUE (or OP:VALUE) with OP one of = < <= > >= "
                         "^= (begins_with), or 'between LOW and HIGH'")
    token, rest = match.group(1), match.group(2)
    if token[0] in _OPERATOR_CHARS and token not in _SORT_SYMBOLS:
        raise InputError(f"{field} {text!r}: unknown operator {token!r} — valid: {VALID_SORT_OPERATORS}")
    op = _SYMBOLS.get(token, token.lower())
    if op != "between":
        _check_value_start(rest, f"{field} {text!r}", VALID_SORT_OPERATORS)
    if op == "between":
        low, high = _range(rest, f"{field} {text!r}")
        return ("between", _unquote(low), _unquote(high))
    if not rest.strip():
        raise InputError(f"{field} {text!r}: the value is missing — e.g. '{op} 2026-01'")
    return (op, _unquote(rest))


def _check_value_start(value: str, where: str, valid: str) -> None:
    """An unquoted value may not start with an operator character: `a > >5` is a typo more often
    than a comparison with the text ">5"."""
    value = value.strip()
    if value[:1] and value[0] in _OPERATOR_CHARS:
        raise InputError(f"{where}: the value starts with {value[0]!r} — quote it if it is text "
                         f"(e.g. '{value}'), or fix the operator (valid: {valid})")


def parse_key(text: str, partition_key: str | None = None, *, field: str = "key") -> Any:
    """``NAME=VALUE`` → ``{NAME: "VALUE"}`` (checked against `partition_key` when given), a bare
    ``VALUE`` → ``"VALUE"``. Values stay text: the table types them by its key."""
    text = text.strip()
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[^\s'\"]+", name.strip()):
        if not text:
            raise InputError(f"{field}: the partition key value is missing — write VALUE or NAME=VALUE")
        return _unquote(text)
    name = name.strip()
    if partition_key is not None and name != partition_key:
        raise InputError(f"{field} {text!r}: the partition key is {partition_key}, not {name} — write "
                         f"{partition_key}=VALUE")
    return {name: _unquote(value)}


def parse_projection(text: str | Iterable[str], *, field: str = "projection") -> list[AttributePath]:
    """``'name, shipping.city, "a.b"'`` → ``["name", ("shipping", "city"), "a.b"]``."""
    parts = split_list(text) if isinstance(text, str) else [p for t in text for p in split_list(t)]
    return [parse_path(part, field=field) for part in parts]


def parse_path(text: str, *, field: str = "attribute") -> AttributePath:
    """An attribute as typed (see "Names and paths" above) → one name (``str``) or a nested path
    (``tuple`` of names and ``int`` list indexes)."""
    text = text.strip()
    segments: list[str | int] = []
    position, expect_name = 0, True
    while position < len(text):
        match = _PATH_SEGMENT.match(text, position)
        if match is None:
            break
        quoted, bare, index, dot = match.groups()
        if dot is not None:
            if expect_name:
                break
            expect_name = True
        elif index is not None:
            if expect_name:
                break
            segments.append(int(index))
        else:
            if not expect_name:
                break
            segments.append(quoted[1:-1].replace('""', '"') if quoted is not None else bare)
            expect_name = False
        position = match.end()
    if position < len(text) or expect_name or not segments or segments[0] == "":
        raise InputError(f"{field} {text!r}: not an attribute name or path — write name, "
                         'name.key or name[0].key; put a name that holds . [ ] spaces or " in '
                         'double quotes: "a.b", "order date" (a " inside is doubled)')
    return segments[0] if len(segments) == 1 and isinstance(segments[0], str) else tuple(segments)


def show_path(path: AttributePath) -> str:
    """A name or path written back in the grammar (quoted where it must be)."""
    if isinstance(path, str):
        return _show_name(path)
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += ("." if text else "") + _show_name(segment)
    return text


def _show_name(name: str) -> str:
    if name and re.fullmatch(r"[^.\[\]\s\"=<>!^~,']+", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def parse_assignments(pairs: Iterable[str] | None, flag: str = "-p") -> dict[str, str]:
    """``["confirm=dev", "limit=5"]`` → ``{"confirm": "dev", "limit": "5"}`` (values stay text)."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {pair!r}: expected KEY=VALUE — e.g. {flag} confirm=dev")
        out[key.strip()] = value
    return out


def _range(text: str, where: str) -> tuple[str, str]:
    if text.startswith(":"):  # between:LOW:HIGH (the CLI's older spelling)
        text = text[1:]
    match = _RANGE.fullmatch(text.strip())
    if match and (match.group(1) is not None or match.group(3) is not None):
        low, high = (match.group(1), match.group(2)) if match.group(1) is not None \
            else (match.group(3), match.group(4))
        if low.strip() and high.strip():
            return low.strip(), high.strip()
    if text.count(":") == 1:
        low, high = text.split(":")
        if low.strip() and high.strip():
            return low.strip(), high.strip()
    raise InputError(f"{where}: write 'between LOW and HIGH' (or LOW..HIGH)")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _unwire(wire: Mapping[str, Any]) -> Any:
    ((tag, value),) = wire.items()
    if tag == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else number
    return value
