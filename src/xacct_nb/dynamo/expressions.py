"""Expressions for one request: every attribute name a ``#a`` placeholder, every value a
``:v`` placeholder, so reserved words (``name``, ``status``, ``date``) just work.

``filter`` is a dict of conditions AND-ed together — ``{"status": "SHIPPED"}`` (equality),
``{"amount": (">", 100)}``, ``("between", a, b)``, ``("begins_with", "x")``, ``("contains", "x")``,
``("exists",)``, ``("not_exists",)`` and ``=, <>, !=, <, <=, >, >=`` — or a raw expression string
whose placeholders you define in ``names`` / ``values``. Text typed by a person becomes such a dict
through :func:`xacct_nb.grammar.parse_filters`. A projection is a list of attribute paths
(``"shipping.city"``, ``"lines[0].sku"``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from ..grammar import FILTER_OPERATORS
from .convert import to_wire

__all__ = ["Expressions", "filter_expression", "portable_key", "projection_expression", "request_key"]

_COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">",
                ">=": ">="}
_FILTER_FUNCTIONS = ("begins_with", "contains")
_FILTER_OPS = (*_COMPARISONS, *[op for op in FILTER_OPERATORS if op not in _COMPARISONS])
_PATH_PART = re.compile(r"([^.\[\]]+)((?:\[[0-9]+\])*)")



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

    def path(self, path: str) -> str:
        """``shipping.city`` → ``#a0.#a1``; ``lines[0].sku`` → ``#a2[0].#a3``."""
        parts = []
        for part in str(path).split("."):
            match = _PATH_PART.fullmatch(part)
            if not match:
                raise InputError(f"attribute path {path!r} is not valid — write name, "
                                 "name.sub or name[0].sub")
            parts.append(self.name(match.group(1)) + match.group(2))
        return ".".join(parts)

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


def projection_expression(expr: Expressions, projection: Iterable[str] | str,
                key_names: Iterable[str]) -> str:
    paths = projection.split(",") if isinstance(projection, str) else list(projection)
    paths = [p.strip() for p in paths if str(p).strip()]
    if not paths:
        raise InputError("projection is empty — list attribute names, or leave it out for all")
    return ", ".join(expr.path(p) for p in dict.fromkeys([*paths, *key_names]))


def filter_expression(expr: Expressions, spec: Mapping[str, Any] | str) -> str:
    if isinstance(spec, str):
        return spec  # a raw expression: its placeholders come from names=/values=
    if not isinstance(spec, Mapping) or not spec:
        raise InputError("filter must be a non-empty dict like {'status': 'SHIPPED', "
                         "'amount': ('>', 100)} or an expression string")
    return " AND ".join(_condition(expr, path, cond) for path, cond in spec.items())


def _condition(expr: Expressions, path: str, cond: Any) -> str:
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

