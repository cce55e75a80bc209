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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import strict_yaml
from .errors import InputError
from .grammar import SORT_OPERATORS, parse_filters, parse_key, parse_projection

if TYPE_CHECKING:
    import pandas as pd

    from .progress import ProgressCallback

__all__ = ["SavedRun", "load_queries", "queries_file_for", "run_saved", "save_query"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")


def queries_file_for(params_file: str | os.PathLike) -> Path:
    """params/local.yaml → params/local.queries.yaml."""
    path = Path(params_file)
    return path.with_name(path.name.removesuffix(path.suffix) + ".queries.yaml")


def load_queries(path: str | os.PathLike) -> dict[str, Any]:
    """name → RunInputs of every query in `path` ({} when the file does not exist)."""
    from .widgets import RunInputs

    path = Path(path)
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise InputError(f"{path}: cannot read the saved queries ({reason})") from None
    try:
        data = strict_yaml.load(text)  # the params' loader: no duplicate or merge keys
    except strict_yaml.StrictYamlError as err:
        raise InputError(f"{path}: query {err.path}: {err.problem} ({err.where}) — {err.fix}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise InputError(f"{path}: not valid YAML{where}: {problem} — fix the YAML syntax") from None
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


@dataclass(frozen=True)
class SavedRun:
    """A saved query run in batch: its inputs, the frame (``attrs["xacct"]`` as any read) and the
    panel's status line for it, as plain text."""

    name: str
    inputs: Any  # widgets.RunInputs
    frame: pd.DataFrame
    status: str


def saved_query(path: str | os.PathLike, name: str, granted: Sequence[str]) -> Any:
    """The inputs saved as `name` in `path`, loaded and checked exactly as the panel loads them,
    and refused (one line) when they read a table the spec does not grant any more."""
    from .partiql import Malformed, target

    path = Path(path)
    queries = load_queries(path)
    if name not in queries:
        if not path.exists():
            raise InputError(f"no saved query {name!r}: {path} does not exist — save a Run by name in "
                             "the explorer panel (notebook 03) first")
        raise InputError(f"no saved query {name!r} in {path} — saved: {', '.join(queries) or 'none'}")
    inputs = queries[name]
    tables = [inputs.table]
    if inputs.mode == "partiql":
        try:
            tables.append(target(inputs.statement)[1])
        except Malformed:
            pass  # the Run refuses it in the panel's words
    for table in tables:
        if table not in granted:
            raise InputError(f"{path}: query {name!r} reads table {table}, which the spec no longer "
                             f"grants (granted: {', '.join(granted) or 'none'}) — grant it, or save "
                             "the query again for a granted table")
    return inputs


def run_saved(session: Any, spec: Any, queries_file: str | os.PathLike, name: str, *,
              progress: ProgressCallback | None = None) -> SavedRun:
    """Run the query saved as `name` in `queries_file` as the panel's Run does (the same reading
    function, the same read options, PartiQL as the role), with `session` (e.g.
    ``sessions.reading_session(spec)``). Tables are named as `spec` reads them (their ARNs in
    resource_policy mode). Refused in one line: an unknown name (the line lists the saved ones),
    a file the panel would refuse, a table the spec does not grant."""
    from .dynamo import RemoteTable
    from .widgets import run_inputs, status_text

    inputs = saved_query(queries_file, name, spec.table_names)
    remotes: dict[str, RemoteTable] = {}

    def remote_for(table: str) -> RemoteTable:
        if table not in spec.table_names:  # checked above; a statement is parsed once more here
            raise InputError(f"query {name!r}: table {table} is not granted by the spec")
        if table not in remotes:
            remotes[table] = RemoteTable(session, spec.read_name(table))
        return remotes[table]

    frame = run_inputs(remote_for, inputs, progress=progress)
    return SavedRun(name, inputs, frame, status_text(frame, inputs))
