"""The code for one explorer Run, as the operator could run it elsewhere: the Python API call, the
boto3 request loop, the AWS CLI command and (where one exists) the PartiQL statement.

The boto3 and CLI forms come from the very request the panel's reader sends (built, not sent),
so they cannot drift from what the panel does; the Python form is the API call the panel makes.
"""

from __future__ import annotations

import json
import pprint
import re
import shlex
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .dynamo import KeySchema, RemoteTable
from .dynamo.convert import wire_json
from .dynamo.read_options import ReadOptions
from .errors import NoPartiQLForm

__all__ = ["partiql_code", "run_code"]


def run_code(remote: RemoteTable, args: Mapping[str, Any], *, session_variable: str = "session",
             cli_profile: str | None = None) -> dict[str, str]:
    """{"Python": …, "boto3": …, "AWS CLI": …, "PartiQL": …} for a Run with read()'s `args`
    (mode, index, key, sort, filter, projection, limit)."""
    mode, limit = args["mode"], args.get("limit")
    options = ReadOptions(index=args.get("index") or None, filter=args.get("filter") or None,
                          projection=args.get("projection") or None, max_items=limit or None)
    if mode == "query":
        reader = remote.open_read(options, "query", args.get("key"), args.get("sort"))
    else:
        reader = remote.open_read(options, "scan")
    request = dict(reader.request)
    operation = reader.operation
    return {"Python": _python(remote.name, args, session_variable),
            "boto3": _boto3(operation, request, limit, session_variable),
            "AWS CLI": _cli(operation, request, limit, cli_profile, remote.region),
            "PartiQL": _partiql(remote.name, args, reader.info.key_for(options.index))}


def partiql_code(statement: str, limit: int | None, *, session_variable: str = "session",
                 cli_profile: str | None = None, region: str | None = None) -> dict[str, str]:
    """The same four forms for a PartiQL Run: the statement is the read."""
    statement = statement.strip().rstrip(";")
    budget = f"while len(items) < {limit}:" if limit else "while True:"
    loop = (f"client = {session_variable}.client(\"dynamodb\")\n"
            f"request = {{\"Statement\": {statement!r}}}\n"
            "items = []\n"
            f"{budget}\n"
            "    page = client.execute_statement(**request)\n"
            "    items += page[\"Items\"]\n"
            "    if \"NextToken\" not in page:\n"
            "        break\n"
            "    request[\"NextToken\"] = page[\"NextToken\"]\n"
            + (f"items = items[:{limit}]  # Max rows\n" if limit else ""))
    python = (f"from xacct_nb.widgets import read_partiql\nfrom xacct_nb import RemoteTable\n\n"
              f"# {session_variable}: the assumed role's boto3.Session (notebook 03: remote)\n"
              f"df = read_partiql(lambda table: RemoteTable({session_variable}, table), {statement!r},\n"
              f"                  limit={limit!r})\n")
    cli = aws_cli(["aws", "dynamodb", "execute-statement", "--statement", statement], cli_profile, region,
                  comment="# one page; repeat with --next-token for more\n")
    return {"Python": python, "boto3": loop, "AWS CLI": cli, "PartiQL": statement + "\n"}


def _python(table: str, args: Mapping[str, Any], session_variable: str) -> str:
    call: list[str] = []
    if args["mode"] == "query":
        call.append(repr(args.get("key")))
        if args.get("sort"):
            call.append(f"sort={args['sort']!r}")
    for name, value in (("index", args.get("index")), ("filter", args.get("filter")),
                        ("projection", args.get("projection"))):
        if value:
            call.append(f"{name}={value!r}")
    if args.get("limit"):
        call.append(f"max_items={args['limit']!r}")
    imports = "from decimal import Decimal\n\n" if "Decimal(" in "".join(call) else ""
    return (f"{imports}from xacct_nb import RemoteTable\n\n"
            f"# {session_variable}: the assumed role's boto3.Session (notebook 03: remote)\n"
            f"df = RemoteTable({session_variable}, {table!r}).{args['mode']}(\n    "
            + ",\n    ".join(call) + ",\n)\n")


def _boto3(operation: str, request: dict[str, Any], limit: int | None, session_variable: str) -> str:
    method = "query" if operation == "Query" else "scan"
    budget = (f"while len(items) < {limit}:" if limit else "while True:")
    cut = f"items = items[:{limit}]  # Max rows\n" if limit else ""
    return (f"client = {session_variable}.client(\"dynamodb\")\n"
            f"request = {pprint.pformat(request, sort_dicts=False, width=96)}\n"
            "items = []\n"
            f"{budget}\n"
            f"    page = client.{method}(**request)\n"
            "    items += page[\"Items\"]\n"
            "    if \"LastEvaluatedKey\" not in page:\n"
            "        break\n"
            "    request[\"ExclusiveStartKey\"] = page[\"LastEvaluatedKey\"]\n"
            f"{cut}")


_CLI_OPTIONS = {"TableName": "--table-name", "IndexName": "--index-name",
                "KeyConditionExpression": "--key-condition-expression",
                "FilterExpression": "--filter-expression",
                "ProjectionExpression": "--projection-expression",
                "ExpressionAttributeNames": "--expression-attribute-names",
                "ExpressionAttributeValues": "--expression-attribute-values",
                "ConsistentRead": "--consistent-read", "ScanIndexForward": "--no-scan-index-forward",
                "ReturnConsumedCapacity": "--return-consumed-capacity"}


def _cli(operation: str, request: dict[str, Any], limit: int | None, profile: str | None,
         region: str | None) -> str:
    words = ["aws", "dynamodb", operation.lower()]
    for name, value in request.items():
        option = _CLI_OPTIONS[name]
        if isinstance(value, bool):
            words.append(option)
        elif isinstance(value, dict):
            words += [option, json.dumps(wire_json(value), ensure_ascii=False, separators=(",", ":"))]
        else:
            words += [option, str(value)]
    if limit:
        words += ["--max-items", str(limit)]  # the CLI pages on until this many
    return aws_cli(words, profile, region)


def aws_cli(words: list[str], profile: str | None, region: str | None, *, comment: str = "") -> str:
    """`words` (``aws dynamodb OPERATION`` and its options) as a copyable command: with
    ``--profile`` (``ROLE_PROFILE`` and a note saying what it stands for when there is none),
    ``--region`` and ``--output json``, one option and its value per line."""
    words = [*words, "--profile", profile or "ROLE_PROFILE", *(["--region", region] if region else []),
             "--output", "json"]
    note = "" if profile else "# ROLE_PROFILE: an AWS CLI profile whose credentials are the granted role's\n"
    return note + comment + " \\\n    ".join(_pairs(words)) + "\n"


def _pairs(words: list[str]) -> list[str]:
    """`aws dynamodb query` on the first line, then one option (and its value) per line."""
    lines = [" ".join(shlex.quote(w) for w in words[:3])]
    for word in words[3:]:
        if word.startswith("--"):
            lines.append(shlex.quote(word))
        else:
            lines[-1] += " " + shlex.quote(word)
    return lines



def _partiql(table: str, args: Mapping[str, Any], key_schema: KeySchema) -> str:
    """The SELECT that reads the same items, or a line saying why there is none."""
    projection = args.get("projection") or []
    columns = ", ".join(_path(p) for p in projection) if projection else "*"
    source = _quoted(table) + (f".{_quoted(args['index'])}" if args.get("index") else "")
    conditions: list[str] = []
    try:
        if args["mode"] == "query":
            key = args.get("key")
            value = next(iter(key.values())) if isinstance(key, Mapping) else key
            partition = _quoted(key_schema.partition_key)
            conditions.append(f"{partition} = {_key_literal(value, key_schema.partition_type)}")
            if args.get("sort") and key_schema.sort_key:
                op, *values = args["sort"]
                typed = tuple(_KeyValue(v, str(key_schema.sort_type)) for v in values)
                conditions.append(_condition(_quoted(key_schema.sort_key), (op, *typed)))
        for name, condition in (args.get("filter") or {}).items():
            conditions.append(_condition(_path(name), condition))
    except NoPartiQLForm as why:
        return f"-- no PartiQL for this Run: {why}\n"
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    note = ("-- Max rows is not part of PartiQL: ExecuteStatement's Limit counts items evaluated "
            "per page (page on with NextToken)\n")
    if args["mode"] != "query":
        note += "-- without a key condition this SELECT is a scan: it reads (and bills) every item\n"
    return f"{note}SELECT {columns} FROM {source}{where}\n"


def _condition(target: str, condition: Any) -> str:
    op, *values = condition if isinstance(condition, tuple) else ("=", condition)
    if op == "between":
        return f"{target} BETWEEN {_literal(values[0])} AND {_literal(values[1])}"
    if op in ("begins_with", "contains"):
        return f"{op}({target}, {_literal(values[0])})"
    if op == "exists":
        return f"{target} IS NOT MISSING"
    if op == "not_exists":
        return f"{target} IS MISSING"
    return f"{target} {op} {_literal(values[0])}"


class _KeyValue:
    """A key value as typed text, to be written by the key's declared type."""

    def __init__(self, text: Any, type_: str):
        self.text, self.type = text, type_


def _key_literal(value: Any, type_: str) -> str:
    if type_ == "N":
        try:
            return str(Decimal(str(value).strip()))
        except ArithmeticError as err:
            raise NoPartiQLForm(f"{value!r} is not a number") from err
    if type_ == "S":
        return _literal(str(value))
    raise NoPartiQLForm("binary key values have no PartiQL literal here")


def _literal(value: Any) -> str:
    if isinstance(value, _KeyValue):
        return _key_literal(value.text, value.type)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise NoPartiQLForm(f"a {type(value).__name__} value ({value!r}) has no PartiQL literal here")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path(path: str) -> str:
    """shipping.city → "shipping"."city"; lines[0].sku → "lines"[0]."sku"."""
    parts = []
    for segment in path.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", segment)
        if not match:
            raise NoPartiQLForm(f"cannot read the path {path!r}")
        parts.append(_quoted(match.group(1)) + match.group(2))
    return ".".join(parts)
