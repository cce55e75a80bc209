"""Expressions for one request: every attribute name a ``#a`` placeholder, every value a
``:v`` placeholder, so reserved words (``name``, ``status``, ``date``) just work.

``filter`` is a dict of conditions AND-ed together — ``{"status": "SHIPPED"}`` (equality),
``{"amount": (">", 100)}``, ``("between", a, b)``, ``("begins_with", "x")``, ``("contains", "x")``,
``("exists",)``, ``("not_exists",)`` and ``=, <>, !=, <, <=, >, >=`` — or a raw expression string
whose placeholders you define in ``names`` / ``values``. Text typed by a person becomes such a dict
through :func:`xacct_nb.grammar.parse_filters`.

Names are names; paths are explicit. A filter key or projection item that is a ``str`` is ONE
attribute name, whatever characters it holds (``"a.b"``, ``"x[0]"``, ``"order date"``): it is
sent as one ``#a`` placeholder. A nested path is a tuple of names and list indexes:
``("shipping", "city")``, ``("lines", 0, "sku")``. A projection given as one string is text in
the grammar of :func:`xacct_nb.grammar.parse_projection` (``'name, shipping.city, "a.b"'``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ..errors import InputError
from ..grammar import FILTER_OPERATORS, AttributePath, parse_projection, show_path
from .convert import to_wire

__all__ = ["Expressions", "check_path", "filter_expression", "key_signature", "portable_key", "projection_expression",
           "projection_missing", "projection_paths", "request_key"]

_COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">",
                ">=": ">="}
_FILTER_FUNCTIONS = ("begins_with", "contains")
_FILTER_OPS = (*_COMPARISONS, *[op for op in FILTER_OPERATORS if op not in _COMPARISONS])



class Expressions:
    """Collects ExpressionAttributeNames/Values for one request."""

    def __init__(self, names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None):
        self.names = dict(names or {})
        self.values = {}
        for placeholder, value in (values or {}).items():
            self.values[placeholder] = _wire_value(value, f"values[{placeholder!r}]")
        self._placeholders: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        placeholder = self._placeholders.get(attribute)
        if placeholder is None:
            placeholder = self._fresh(f"#a{len(self._placeholders)}", self.names)
            self._placeholders[attribute] = placeholder
            self.names[placeholder] = attribute
        return placeholder

    def path(self, path: AttributePath) -> str:
        """``"a.b"`` (one name) → ``#a0``; ``("shipping", "city")`` → ``#a1.#a2``;
        ``("lines", 0, "sku")`` → ``#a3[0].#a4``."""
        segments = check_path(path)
        text = ""
        for segment in segments:
            if isinstance(segment, int):
                text += f"[{segment}]"
            else:
                text += ("." if text else "") + self.name(segment)
        return text

    def value(self, wire: dict) -> str:
        placeholder = self._fresh(f":v{len(self.values)}", self.values)
        self.values[placeholder] = wire
        return placeholder

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out

    @staticmethod
    def _fresh(placeholder: str, taken: Mapping[str, Any]) -> str:
        if placeholder in taken:
            raise InputError(f"placeholder {placeholder} is used by xacct-nb for escaped names "
                             "and values — name your own placeholders differently (e.g. #s, :s)")
        return placeholder


def _wire_value(value: Any, where: str) -> dict:
    try:
        return to_wire(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: {err}") from None


def check_path(path: Any) -> tuple[str | int, ...]:
    """A filter key or projection item as its segments: a str is one name; a tuple a path."""
    if isinstance(path, str):
        segments: tuple[Any, ...] = (path,)
    elif isinstance(path, tuple):
        segments = path
    else:
        segments = ()
    ok = bool(segments) and isinstance(segments[0], str) and all(
        (isinstance(s, str) and s != "") or (isinstance(s, int) and not isinstance(s, bool) and s >= 0)
        for s in segments)
    if not ok:
        raise InputError(f"attribute {path!r} is not a name or a path — pass a name as a str "
                         "(any characters: 'a.b' is one name) or a nested path as a tuple of names "
                         "and list indexes, e.g. ('shipping', 'city') or ('lines', 0, 'sku')")
    return segments


def projection_paths(projection: Iterable[AttributePath] | str) -> list[AttributePath]:
    """The projection as names and paths: one string is grammar text, a list holds names/paths."""
    paths = parse_projection(projection) if isinstance(projection, str) else list(projection)
    for path in paths:
        check_path(path)
    # ("name",) is the name itself: one spelling, so the key columns added later dedupe with it
    paths = [str(p[0]) if isinstance(p, tuple) and len(p) == 1 else p for p in paths]
    if not paths:
        raise InputError("projection is empty — list attribute names, or leave it out for all")
    return paths


def projection_expression(expr: Expressions, projection: Iterable[AttributePath] | str,
                          key_names: Iterable[str]) -> str:
    paths = projection_paths(projection)
    return ", ".join(expr.path(p) for p in dict.fromkeys([*paths, *key_names]))


def projection_missing(projection: Iterable[AttributePath] | str | None,
                       returned: Iterable[str]) -> list[str]:
    """The projected attributes (top-level names, as the grammar writes them) that no returned
    item had: a name the table does not hold, or a dotted name meant as a path."""
    if projection is None:
        return []
    have = set(returned)
    tops = dict.fromkeys(p if isinstance(p, str) else str(p[0]) for p in projection_paths(projection))
    return [show_path(name) for name in tops if name not in have]


def filter_expression(expr: Expressions, spec: Mapping[str, Any] | str) -> str:
    if isinstance(spec, str):
        return spec  # a raw expression: its placeholders come from names=/values=
    if not isinstance(spec, Mapping) or not spec:
        raise InputError("filter must be a non-empty dict like {'status': 'SHIPPED', "
                         "'amount': ('>', 100)} or an expression string")
    return " AND ".join(_condition(expr, path, cond) for path, cond in spec.items())


def _condition(expr: Expressions, path: AttributePath, cond: Any) -> str:
    target = expr.path(path)
    if not isinstance(cond, tuple):
        return f"{target} = {expr.value(_wire_value(cond, f'filter {path!r}'))}"
    op = str(cond[0]).lower() if cond else ""
    args = [expr.value(_wire_value(a, f"filter {path!r}")) for a in cond[1:]]
    wanted = 2 if op == "between" else 0 if op in ("exists", "not_exists") else 1
    if op not in _FILTER_OPS or len(args) != wanted:
        raise InputError(f"filter {path!r}: {cond!r} is not a condition — use a value, or "
                         f"(op, value) with op one of {', '.join(_FILTER_OPS)}; "
                         "('between', low, high); ('exists',)")
    if op in _COMPARISONS:
        return f"{target} {_COMPARISONS[op]} {args[0]}"
    if op == "between":
        return f"{target} BETWEEN {args[0]} AND {args[1]}"
    if op in _FILTER_FUNCTIONS:
        return f"{op}({target}, {args[0]})"
    return f"attribute_{op}({target})"


# ---------------------------------------------------------------------------------------------
# keys


def portable_key(key: Mapping[str, Any] | None) -> dict | None:
    """A resume key fit for JSON (and df.attrs): B as base64 text, as in DynamoDB's own JSON."""
    if key is None:
        return None
    return {name: {"B": base64.b64encode(av["B"]).decode("ascii")}
            if isinstance(av.get("B"), (bytes, bytearray)) else dict(av)
            for name, av in key.items()}


def request_key(key: Mapping[str, Any]) -> dict:
    """A key as the low-level client's input wants it: raw items and portable keys carry B as
    base64 text, but botocore's serializer base64-encodes whatever it gets, so hand it bytes."""
    out = {}
    for name, av in key.items():
        if not isinstance(av, Mapping) or len(av) != 1:
            raise InputError(f"start key attribute {name!r} is not wire format ({{'S': 'x'}}) — "
                             "pass df.attrs['xacct']['last_evaluated_key'] unchanged")
        if isinstance(av.get("B"), str):
            av = {"B": base64.b64decode(av["B"])}
        out[name] = dict(av)
    return out


def key_signature(item: Mapping[str, Any], names: Iterable[str]) -> tuple:
    """Hashable identity of a key: numbers compared as numbers (DynamoDB normalises '5.0' to '5')."""
    parts = []
    for name in names:
        ((tag, value),) = item[name].items()
        if tag == "N":
            value = Decimal(value)
        elif tag == "B" and isinstance(value, str):
            value = base64.b64decode(value)
        parts.append((name, tag, bytes(value) if isinstance(value, bytearray) else value))
    return tuple(parts)
