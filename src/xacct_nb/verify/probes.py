"""Table probes: harmless requests per operation class, as the assumed role, judged by AWS's answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .. import kms
from ..errors import error_code, explain, is_access_denied
from ..spec import AccessSpec
from .model import NOT_GRANTED, OPERATIONS, Cell, Outcome, cell

OTHER_TABLES = "(tables not in the spec)"
KMS_KEYS = "(kms keys of the tables)"
PROBE_TEXT = "xacct-nb-verify-probe"
IMPOSSIBLE = "attribute_exists(#pk) AND attribute_not_exists(#pk)"
_UNKNOWN_KEY = "xacct_nb_probe_key"  # key name used when a table's schema could not be read
_PROBE_VALUES: dict[str, dict[str, Any]] = {
    "S": {"S": PROBE_TEXT}, "N": {"N": "-1.23456789e-120"}, "B": {"B": PROBE_TEXT.encode()}}
_CONDITION_FAILED = frozenset({"ConditionalCheckFailedException"})
# UpdateTable rejections that DynamoDB can only give after IAM has authorised the call.
_ADMIN_REJECTIONS = frozenset({"ValidationException", "ResourceInUseException", "LimitExceededException"})




# ---------------------------------------------------------------------------------------------
# Table probes


class _Schema(NamedTuple):
    """What the probes need to know about a table."""

    key: dict[str, dict]                 # the probe key: key attribute -> typed probe value
    partition: str                       # the table's partition key attribute
    first_index: tuple[str, str, dict] | None  # first GSI/LSI: (name, partition key, probe value)
    billing: str | None                  # None: unknown (the table could not be described)
    status: str | None


def _schema(table: dict[str, Any] | None) -> _Schema:
    if table is None:
        # Placeholder key: an authorised request is then rejected as invalid (shows as "error"),
        # a denied one is still denied — enough for a table that must be denied anyway.
        return _Schema({_UNKNOWN_KEY: _PROBE_VALUES["S"]}, _UNKNOWN_KEY, None, None, None)
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}

    def value(name: str) -> dict:
        return _PROBE_VALUES[types.get(name, "S")]

    key = {k["AttributeName"]: value(k["AttributeName"]) for k in table["KeySchema"]}
    partition = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
    indexes = [*table.get("GlobalSecondaryIndexes", []), *table.get("LocalSecondaryIndexes", [])]
    index = None
    if indexes:
        first = indexes[0]
        hash_key = next(k["AttributeName"] for k in first["KeySchema"] if k["KeyType"] == "HASH")
        index = (first["IndexName"], hash_key, value(hash_key))
    # AWS omits BillingModeSummary for tables that have always been provisioned.
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    return _Schema(key, partition, index, billing, table.get("TableStatus"))


def table_cells(name: str, access: str, allowed: frozenset[str], ddb: Any, main_ddb: Any,
                address: str | None = None) -> list[Cell]:
    """The probes of one table. `address`: what the probing client passes as TableName when it is
    not `name` (the table's ARN, for a consumer principal's own session in resource_policy mode);
    the main session always describes it by name."""
    target = address or name

    def expected(op: str) -> str:
        return "allowed" if op in allowed else "denied"

    if ddb is None:
        skipped = Outcome("skipped", "no session to probe with (the role could not be assumed)")
        return [cell(name, op, access, expected(op), skipped) for op in OPERATIONS]
    seen_by_role: dict[str, Any] = {}  # the describe probe's answer: the schema when main has none

    def describe() -> None:
        seen_by_role.update(ddb.describe_table(TableName=target)["Table"])

    outcomes = {"describe": attempt(describe, f"DescribeTable on {name}")}
    schema = _schema(_describe_as_owner(main_ddb, name) or seen_by_role or None)
    for op, probe in _PROBES.items():
        outcomes[op] = probe(ddb, target, schema)
    return [cell(name, op, access, "n/a" if outcomes[op].actual == "n/a" else expected(op), outcomes[op])
            for op in OPERATIONS]


def _describe_as_owner(main_ddb: Any, name: str) -> dict[str, Any] | None:
    """The table as the main account sees it (None without a main session or on any error: the
    role's own DescribeTable is the fallback, and a missing table shows in the probes)."""
    if main_ddb is None:
        return None
    try:
        return main_ddb.describe_table(TableName=name)["Table"]
    except (ClientError, BotoCoreError):
        return None


def _probe_get(ddb: Any, name: str, s: _Schema) -> Outcome:
    return attempt(lambda: ddb.get_item(TableName=name, Key=s.key, ProjectionExpression="#pk",
                                         ExpressionAttributeNames={"#pk": s.partition}),
                    f"GetItem on {name}")


def _query(ddb: Any, name: str, partition: str, value: dict, index: str | None = None) -> Outcome:
    where = {"IndexName": index} if index else {}
    return attempt(lambda: ddb.query(TableName=name, KeyConditionExpression="#pk = :v",
                                      ExpressionAttributeNames={"#pk": partition},
                                      ExpressionAttributeValues={":v": value},
                                      Select="COUNT", Limit=1, **where),
                    f"Query on {name}" + (f" index {index}" if index else ""))


def _probe_query(ddb: Any, name: str, s: _Schema) -> Outcome:
    return _query(ddb, name, s.partition, s.key[s.partition])


def _probe_query_index(ddb: Any, name: str, s: _Schema) -> Outcome:
    if s.first_index is None:
        return Outcome("n/a", "the table has no secondary index" if s.billing else "schema unknown")
    index, partition, value = s.first_index
    return _query(ddb, name, partition, value, index)


def _probe_scan(ddb: Any, name: str, s: _Schema) -> Outcome:
    return attempt(lambda: ddb.scan(TableName=name, Select="COUNT", Limit=1), f"Scan on {name}")


def _probe_write(ddb: Any, name: str, s: _Schema) -> Outcome:
    put = attempt(lambda: ddb.put_item(TableName=name, Item=s.key, ConditionExpression=IMPOSSIBLE,
                                        ExpressionAttributeNames={"#pk": s.partition}),
                   f"PutItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)
    update = attempt(lambda: ddb.update_item(TableName=name, Key=s.key, ConditionExpression=IMPOSSIBLE,
                                              UpdateExpression="SET #probe = :probe",
                                              ExpressionAttributeNames={"#pk": s.partition,
                                                                        "#probe": "xacct_nb_probe"},
                                              ExpressionAttributeValues={":probe": {"S": PROBE_TEXT}}),
                      f"UpdateItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)
    if put.actual == update.actual:
        return Outcome(put.actual, "; ".join(dict.fromkeys(d for d in (put.detail, update.detail) if d)))
    return Outcome("mixed", f"PutItem {put.actual}, UpdateItem {update.actual}")


def _probe_delete(ddb: Any, name: str, s: _Schema) -> Outcome:
    return attempt(lambda: ddb.delete_item(TableName=name, Key=s.key, ConditionExpression=IMPOSSIBLE,
                                            ExpressionAttributeNames={"#pk": s.partition}),
                    f"DeleteItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)


def _probe_admin(ddb: Any, name: str, s: _Schema) -> Outcome:
    if s.billing is None:
        return Outcome("skipped", "billing mode unknown (table not described): no UpdateTable request "
                                   "would be provably harmless")
    if s.status != "ACTIVE":
        return Outcome("skipped", f"table is {s.status}: the UpdateTable probe runs on ACTIVE tables only")
    return attempt(lambda: ddb.update_table(TableName=name, BillingMode=s.billing),
                    f"UpdateTable on {name}", ok_codes=_ADMIN_REJECTIONS)


_PROBES: dict[str, Callable[[Any, str, _Schema], Outcome]] = {
    "get": _probe_get, "query": _probe_query, "scan": _probe_scan, "query_index": _probe_query_index,
    "write": _probe_write, "delete": _probe_delete, "admin": _probe_admin,
}


def attempt(call: Callable[[], Any], action: str, *, ok_codes: frozenset[str] = frozenset(),
             success_allowed: bool = True) -> Outcome:
    """Run one probe and classify IAM's answer. `ok_codes`: the rejections the probe is designed
    to get once authorised. A success of a probe designed to be rejected is an error."""
    try:
        call()
    except ClientError as err:
        code = error_code(err)
        if is_access_denied(err):
            return Outcome("denied", code)
        if code in ok_codes:
            return Outcome("allowed", code)
        return Outcome("error", str(explain(err, action)))
    except BotoCoreError as err:
        return Outcome("error", str(explain(err, action)))
    if success_allowed:
        return Outcome("allowed")
    return Outcome("error", f"{action} succeeded although its condition cannot hold — "
                             "inspect the table for an item with the probe key")


def table_keys(spec: AccessSpec, main: boto3.Session | None) -> tuple[dict[str, kms.TableKey], list[Cell]]:
    """The spec's tables under a customer-managed key (read as the main account), or a cell
    saying why they could not be read."""
    if main is None:
        return {}, []
    try:
        return kms.read_table_keys(spec, main), []
    except (ClientError, BotoCoreError) as err:
        outcome = Outcome("error", str(explain(err, "reading the tables' KMS keys as the main account")))
        return {}, [cell(KMS_KEYS, "discover", "kms", "allowed", outcome)]


def kms_cell(key: kms.TableKey, probed: list[Cell]) -> Cell:
    """The Scan probe decrypts with the table's key: its answer, with the key and its policy."""
    scan = next(c for c in probed if c.check == "scan")
    policy = f"key policy admits the role by {key.via}" if key.admits_role else key.via
    detail = (f"customer-managed key {key.key_arn}: {policy}. DynamoDB caches the table key ~"
              f"{kms.KEY_CACHE_MINUTES} min, so a revoked kms:Decrypt keeps reading that long — "
              "verify a revocation after that")
    return Cell(scan.target, "kms_decrypt", scan.access, scan.expected, scan.actual, scan.result,
                f"{detail}; {scan.detail}" if scan.detail else detail)


def other_tables(spec: AccessSpec, extra: Iterable[str] | None, main_ddb: Any,
                  main_note: str) -> tuple[list[str], list[Cell]]:
    """Tables to prove denied, and a cell when they could not be found."""
    granted = set(spec.table_names)
    if extra is not None:
        return [t for t in dict.fromkeys(extra) if t not in granted], []
    if main_ddb is None:
        return [], [cell(OTHER_TABLES, "discover", NOT_GRANTED, "denied",
                          Outcome("skipped", f"not probed: {main_note}; pass extra_tables"))]
    try:
        names = [n for page in main_ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]
    except (ClientError, BotoCoreError) as err:
        return [], [cell(OTHER_TABLES, "discover", NOT_GRANTED, "denied",
                          Outcome("error", str(explain(err, "listing the main account's tables"))))]
    return [n for n in names if n not in granted], []
