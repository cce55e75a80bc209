"""Saved explorer queries: one YAML file per environment next to its params
(``params/local.yaml`` → ``params/local.queries.yaml``), a mapping of name → the panel's inputs.

Loaded strictly, like the params: unknown or duplicate keys, wrong types and text the shared
grammar cannot read are refused with one line naming the file, the query and the field. Saved
atomically (temporary file, then rename); a name that exists is refused, never overwritten.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .grammar import SORT_OPERATORS, parse_filters, parse_key, parse_projection

__all__ = ["load_queries", "queries_file_for", "save_query"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")


def queries_file_for(params_file: str | os.PathLike) -> Path:
    """params/local.yaml → params/local.queries.yaml."""
    path = Path(params_file)
    return path.with_name(path.name.removesuffix(path.suffix) + ".queries.yaml")


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise InputError(f"{loader.name}: line {mark.line + 1}, column {mark.column + 1}: "
                             f"{key!r} appears twice — keep one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_queries(path: str | os.PathLike) -> dict[str, Any]:
    """name → RunInputs of every query in `path` ({} when the file does not exist)."""
    from .widgets import RunInputs

    path = Path(path)
    if not path.exists():
        return {}
    try:
        loader = _UniqueKeyLoader(path.read_text(encoding="utf-8"))
        loader.name = str(path)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: expected a mapping of query name → inputs")
    allowed = {f.name: f.type for f in fields(RunInputs)}
    out: dict[str, Any] = {}
    for name, entry in data.items():
        where = f"{path}: query {name!r}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InputError(f"{where}: a name is 1-64 letters, digits, space, _ . or -")
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: expected a mapping of inputs (table, mode, key, …)")
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r} — fields are {', '.join(allowed)}")
        if "table" not in entry:
            raise InputError(f"{where}: table is missing")
        for field, value in entry.items():
            wanted = int if field == "limit" else str
            if isinstance(value, bool) or not isinstance(value, wanted):
                raise InputError(f"{where}: {field} must be {'a whole number' if wanted is int else 'text'}, "
                                 f"not {value!r}")
        inputs = RunInputs(**entry)
        check_inputs(inputs, where)
        out[name] = inputs
    return out


def check_inputs(inputs: Any, where: str) -> None:
    """The inputs read by the same grammar as the panel's boxes (errors name `where`)."""
    if inputs.mode not in ("scan", "query", "partiql"):
        raise InputError(f"{where}: mode must be scan, query or partiql, not {inputs.mode!r}")
    if inputs.mode == "partiql" and not inputs.statement.strip().upper().startswith("SELECT"):
        raise InputError(f"{where}: statement must be one SELECT for mode partiql")
    if inputs.sort_op and inputs.sort_op not in SORT_OPERATORS:
        raise InputError(f"{where}: sort_op must be one of {', '.join(SORT_OPERATORS)}, not {inputs.sort_op!r}")
    if inputs.limit < 1:
        raise InputError(f"{where}: limit must be ≥ 1, not {inputs.limit}")
    if inputs.mode == "query":
        parse_key(inputs.key, field=f"{where}: key")
    parse_filters(inputs.filter, None, field=f"{where}: filter")
    parse_projection(inputs.projection)


def save_query(path: str | os.PathLike, name: str, inputs: Any) -> Path:
    """Add `inputs` under `name` to `path` (refused if the name exists); atomic."""
    path = Path(path)
    where = f"{path}: query {name!r}"
    if not _NAME.fullmatch(name or ""):
        raise InputError(f"{where}: a name is 1-64 letters, digits, space, _ . or -")
    check_inputs(inputs, where)
    existing = load_queries(path)
    if name in existing:
        raise InputError(f"{where} exists already — choose another name (saved queries are never "
                         "overwritten)")
    data = {n: _plain(q) for n, q in existing.items()}
    data[name] = _plain(inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# xacct-nb saved explorer queries (written by the panel's Save)\n")
            yaml.safe_dump(data, fh, sort_keys=False, allow_unicode=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(inputs: Any) -> dict[str, Any]:
    """Only the fields that differ from an empty input (a short, readable file)."""
    return {k: v for k, v in asdict(inputs).items() if k in ("table", "mode", "limit") or v}
