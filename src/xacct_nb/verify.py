"""Prove that the consumer can do what the spec grants and nothing more: `verify_access(spec)`.

Verification assumes the role as the analyst, exactly as a consumer would, and sends one
harmless probe per table and operation class. IAM answers each one before DynamoDB looks at the
request, so the answer shows whether the role is *authorised*: a denial means "denied", the
probe's designed rejection (or a read's success) means "allowed". The result is an
`AccessMatrix`: expected vs actual per cell, PASS / FAIL / SKIPPED.

Probes, sent as the assumed role. The probe key is ``xacct-nb-verify-probe`` in every key
attribute (typed from the table's AttributeDefinitions); "allowed" is what an authorised probe gets:

describe     DescribeTable. Allowed: the description. Read-only.
get          GetItem of the probe key, projecting the key only. Allowed: success. Read-only, and the
             probe key is not an item.
query        Query partition key = probe value, Select=COUNT, Limit=1. Allowed: success. Read-only,
             returns a count, never items.
scan         Scan Select=COUNT, Limit=1. Allowed: success. Reads at most one item, returns a count.
query_index  Query on the first GSI (else LSI), Select=COUNT, Limit=1. Allowed: success. Read-only;
             "n/a" when the table has no index.
write        PutItem of the probe key, and UpdateItem SET of one attribute on it, both with the
             condition ``attribute_exists(#pk) AND attribute_not_exists(#pk)``. Allowed:
             ConditionalCheckFailedException. The condition is a contradiction: DynamoDB evaluates
             it after IAM has authorised the call and refuses the write, so nothing is written.
delete       DeleteItem of the probe key with the same impossible condition. Allowed:
             ConditionalCheckFailedException. Nothing is deleted.
admin        UpdateTable with BillingMode set to the table's CURRENT billing mode (read with
             DescribeTable just before). Allowed: success (moto returns the unchanged description)
             or ValidationException / ResourceInUseException / LimitExceededException (AWS
             rejects a request that changes nothing). It asks for the state the table is already
             in, so accepted or rejected, nothing changes. Sent only to an ACTIVE table (a table
             switching billing mode is UPDATING) whose billing mode is known; otherwise SKIPPED.

DeleteTable is NEVER sent: "admin" is proven with UpdateTable alone (the levels grant both or
neither — only Full's ``dynamodb:*`` includes them). A write probe that *succeeds* would mean the
impossible condition held; it is reported as an error, never as "allowed".

Beyond the tables in the spec, verification checks that

* tables NOT in the spec are denied (``extra_tables``; by default every table the main account
  lists, when a main-account session is available);
* the analyst can assume the role, and a principal of another account cannot (the params'
  ``outsider_profile``; without one the check is SKIPPED, never PASS);
* with ``external_id`` set, assuming without it and with a wrong one is denied;
* with ``trusted_principal_arns`` set, a consumer principal outside the list is denied — probed
  live when a session for such a principal is passed (``unlisted_principal``), otherwise the
  live role's trust policy is compared with the generated one ("document-checked").

Verification reads table metadata with the main-account session when it has one (so probes get
the right key schema even for tables the role cannot describe) and never changes anything.
IAM is eventually consistent: right after an apply a changed grant may still show its old
behaviour for a few seconds — re-run before trusting a FAIL that contradicts the apply.
"""

from __future__ import annotations

import fnmatch
import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import policies
from .errors import AccessDenied, InputError, XacctError, error_code, explain, is_access_denied
from .progress import ProgressCallback, report
from .sessions import assume_from_spec, profile_session, require_account, whoami
from .spec import AccessSpec

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

OPERATIONS = ("describe", "get", "query", "scan", "query_index", "write", "delete", "admin")
_READS = frozenset(OPERATIONS[:5])
# What each level must allow — written out here, NOT derived from policies.ACTIONS, so that a
# wrong policy document shows up as a FAIL instead of silently moving the expectation with it.
EXPECTED_ALLOWED: dict[str, frozenset[str]] = {
    "Read": _READS,
    "ReadWriteUpdate": _READS | {"write"},
    "Full": frozenset(OPERATIONS),
}
PROBES: dict[str, str] = {
    "describe": "DescribeTable",
    "get": "GetItem of the probe key",
    "query": "Query on the partition key = probe value, Select=COUNT, Limit=1",
    "scan": "Scan Select=COUNT, Limit=1",
    "query_index": "Query on the first secondary index, Select=COUNT, Limit=1",
    "write": "PutItem + UpdateItem of the probe key with an impossible condition",
    "delete": "DeleteItem of the probe key with an impossible condition",
    "admin": "UpdateTable to the billing mode the table already has (DeleteTable is never sent)",
}
RESULTS = ("PASS", "FAIL", "SKIPPED")
COLUMNS = ("target", "check", "access", "expected", "actual", "result", "detail")
ROLE = "role"                 # target of the trust checks
NOT_GRANTED = "not granted"   # access of a table that is not in the spec
OTHER_TABLES = "(tables not in the spec)"
PROBE_TEXT = "xacct-nb-verify-probe"
IMPOSSIBLE = "attribute_exists(#pk) AND attribute_not_exists(#pk)"
_UNKNOWN_KEY = "xacct_nb_probe_key"  # key name used when a table's schema could not be read
_PROBE_VALUES: dict[str, dict[str, Any]] = {
    "S": {"S": PROBE_TEXT}, "N": {"N": "-1.23456789e-120"}, "B": {"B": PROBE_TEXT.encode()}}
_CONDITION_FAILED = frozenset({"ConditionalCheckFailedException"})
# UpdateTable rejections that DynamoDB can only give after IAM has authorised the call.
_ADMIN_REJECTIONS = frozenset({"ValidationException", "ResourceInUseException", "LimitExceededException"})
_WRONG_EXTERNAL_ID = "xacct-nb-not-the-external-id"
_VERIFY_SESSION_NAME = "xacct-nb-verify"
# Few quick retries: a probe is one small request, and a throttled probe is retried by botocore.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})
_STYLES = {
    "PASS": "background-color: #c6efce; color: #006100",
    "FAIL": "background-color: #ffc7ce; color: #9c0006",
    "SKIPPED": "background-color: #e7e6e6; color: #595959",
}

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class Cell:
    """One check: `target` is a table name or "role"; `check` an operation or a trust check."""

    target: str
    check: str
    access: str     # the table's access level, "not granted", or "trust"
    expected: str   # allowed | denied | n/a
    actual: str     # allowed | denied | mixed | error | skipped | n/a | document-checked | document-differs
    result: str     # PASS | FAIL | SKIPPED
    detail: str = ""


class VerificationFailed(XacctError):
    """Reality differs from the spec: at least one cell of the matrix is FAIL."""

    exit_code = 1

    def __init__(self, matrix: AccessMatrix):
        self.matrix = matrix
        cells = "; ".join(f"{c.target}/{c.check}: expected {c.expected}, got {c.actual}"
                          + (f" ({c.detail})" if c.actual == "error" else "") for c in matrix.failures)
        super().__init__(f"access verification of env {matrix.env} failed {len(matrix.failures)} of "
                         f"{len(matrix.cells)} checks: {cells} — the grants differ from the spec: run "
                         "plan/apply for this env and look for policies attached to the role outside xacct-nb")


@dataclass(frozen=True)
class AccessMatrix:
    env: str
    role_arn: str
    cells: tuple[Cell, ...]

    @property
    def failures(self) -> list[Cell]:
        return [c for c in self.cells if c.result == "FAIL"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def cell(self, target: str, check: str) -> Cell:
        for c in self.cells:
            if (c.target, c.check) == (target, check):
                return c
        raise KeyError((target, check))

    def summary(self) -> dict[str, int]:
        counts = {result: sum(c.result == result for c in self.cells) for result in RESULTS}
        counts["document-checked"] = sum(c.actual == "document-checked" for c in self.cells)
        counts["total"] = len(self.cells)
        return counts

    def headline(self) -> str:
        s = self.summary()
        verdict = "OK" if self.ok else "FAILED"
        return (f"Access verification of env {self.env} ({self.role_arn}): {verdict} — "
                f"{s['PASS']} PASS, {s['FAIL']} FAIL, {s['SKIPPED']} SKIPPED")

    def frame(self) -> pd.DataFrame:
        import pandas as pd  # here, not at import: the CLI does not pay for pandas until it renders

        return pd.DataFrame([asdict(c) for c in self.cells], columns=list(COLUMNS))

    def styled(self) -> Styler:
        """The frame coloured by result (green PASS, red FAIL, grey SKIPPED), for notebooks."""
        return (self.frame().style
                .apply(lambda row: [_STYLES[row["result"]]] * len(row), axis=1)
                .set_properties(None, **{"text-align": "left"})
                .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
                .set_caption(html.escape(self.headline()))
                .hide(axis="index"))

    def _repr_html_(self) -> str:
        return self.styled().to_html()

    def text(self) -> str:
        rows = [tuple(c.upper() for c in COLUMNS)] + [tuple(asdict(c).values()) for c in self.cells]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
        lines = [("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]
        return "\n".join([self.headline(), *lines])

    __str__ = text

    def assert_ok(self) -> AccessMatrix:
        """Raise `VerificationFailed` listing the failing cells (a papermill run then fails)."""
        if not self.ok:
            raise VerificationFailed(self)
        return self


def _cell(target: str, check: str, access: str, expected: str, outcome: _Outcome) -> Cell:
    return Cell(target, check, access, expected, outcome.actual, _judge(expected, outcome.actual),
                outcome.detail)


def _judge(expected: str, actual: str) -> str:
    if actual in ("skipped", "n/a"):
        return "SKIPPED"
    if actual == "document-checked":
        return "PASS"
    return "PASS" if actual == expected else "FAIL"


# ---------------------------------------------------------------------------------------------
# Entry point


def verify_access(spec: AccessSpec, *, analyst: boto3.Session | None = None,
                  outsider: boto3.Session | None = None, extra_tables: Iterable[str] | None = None,
                  main: boto3.Session | None = None, unlisted_principal: boto3.Session | None = None,
                  wait: float = 30, progress: ProgressCallback | None = None) -> AccessMatrix:
    """Probe every table of the spec (and the tables not in it) as the assumed role, and the
    role's trust; see the module docstring. Changes nothing.

    analyst: source session (default: the spec's analyst_profile). outsider: a session of another
    account (default: outsider_profile; none → SKIPPED). main: a main-account session used only to
    read table metadata, list tables and read the role's trust policy (default: main_profile when
    it is configured; none → tables are found from `extra_tables` only). unlisted_principal: a
    consumer principal NOT in trusted_principal_arns. wait: seconds to retry a denied first
    AssumeRole (a fresh role propagates through IAM).
    """
    analyst = analyst or profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    main, main_note = _main_session(spec, main)
    report(progress, f"assuming {spec.role_arn} as the analyst", logger)
    role, assumed = _assume(spec, analyst, wait, progress)
    cells = [_cell(ROLE, "analyst assumes the role", "trust", "allowed", assumed)]
    cells += _trust_cells(spec, analyst, outsider, unlisted_principal, main, main_note)

    ddb = role.client("dynamodb", region_name=spec.region, config=_CLIENT_CONFIG) if role else None
    main_ddb = main.client("dynamodb", region_name=spec.region, config=_CLIENT_CONFIG) if main else None
    for entry in spec.table_access_list:
        report(progress, f"probing {entry.table_name} ({entry.access_type})", logger)
        cells += _table_cells(entry.table_name, entry.access_type, EXPECTED_ALLOWED[entry.access_type],
                              ddb, main_ddb)
    others, discovery = _other_tables(spec, extra_tables, main_ddb, main_note)
    cells += discovery
    for name in others:
        report(progress, f"probing {name} (not in the spec)", logger)
        cells += _table_cells(name, NOT_GRANTED, frozenset(), ddb, main_ddb)
    return AccessMatrix(spec.env, spec.role_arn, tuple(cells))


class _Outcome(NamedTuple):
    actual: str
    detail: str = ""


def _main_session(spec: AccessSpec, main: boto3.Session | None) -> tuple[boto3.Session | None, str]:
    """The main-account session, or None and why not. Its account is checked: a wrong profile
    would list (and describe) another account's tables and make the matrix meaningless."""
    if main is None and not spec.main_profile:
        return None, "main_profile is not set"
    try:
        main = main or profile_session(spec.main_profile, spec.region, field="main_profile")
        require_account(main, spec.main_account_id, "main_profile")
    except XacctError as err:
        return None, str(err)
    return main, ""


def _assume(spec: AccessSpec, analyst: boto3.Session, wait: float,
            progress: ProgressCallback | None) -> tuple[boto3.Session | None, _Outcome]:
    try:
        return assume_from_spec(spec, source=analyst, wait=wait, progress=progress), _Outcome("allowed")
    except InputError:
        raise
    except AccessDenied as err:
        return None, _Outcome("denied", str(err))
    except XacctError as err:
        return None, _Outcome("error", str(err))


# ---------------------------------------------------------------------------------------------
# Trust checks


def _trust_cells(spec: AccessSpec, analyst: boto3.Session, outsider: boto3.Session | None,
                 unlisted: boto3.Session | None, main: boto3.Session | None, main_note: str) -> list[Cell]:
    cells = [_cell(ROLE, "outsider assumes the role", "trust", "denied", _outsider_outcome(spec, outsider))]
    if spec.external_id:
        # Both with the analyst, who IS trusted: only the external id differs from a good call.
        wrong = _WRONG_EXTERNAL_ID if spec.external_id != _WRONG_EXTERNAL_ID else _WRONG_EXTERNAL_ID + "-2"
        cells.append(_cell(ROLE, "assume without the external id", "trust", "denied",
                           _try_assume(analyst, spec, None)))
        cells.append(_cell(ROLE, "assume with a wrong external id", "trust", "denied",
                           _try_assume(analyst, spec, wrong)))
    if spec.trusted_principal_arns:
        check = "principal outside trusted_principal_arns assumes"
        outcome = (_unlisted_outcome(spec, unlisted) if unlisted is not None
                   else _trust_document_outcome(spec, main, main_note))
        cells.append(_cell(ROLE, check, "trust", "denied", outcome))
    return cells


def _outsider_outcome(spec: AccessSpec, outsider: boto3.Session | None) -> _Outcome:
    if outsider is None and not spec.outsider_profile:
        return _Outcome("skipped", "no outsider_profile in the params: the account boundary was not probed")
    try:
        outsider = outsider or profile_session(spec.outsider_profile, spec.region, field="outsider_profile")
        account = whoami(outsider).account
    except XacctError as err:
        return _Outcome("error", str(err))
    if account in (spec.main_account_id, spec.consumer_account_id):
        return _Outcome("error", f"the outsider session is in account {account}, which is not an "
                                 "outsider — use a profile of a third account")
    # With the right external id, if any: the account boundary alone must keep it out.
    return _try_assume(outsider, spec, spec.external_id)


def _unlisted_outcome(spec: AccessSpec, unlisted: boto3.Session) -> _Outcome:
    try:
        ident = whoami(unlisted)
    except XacctError as err:
        return _Outcome("error", str(err))
    if ident.account != spec.consumer_account_id or any(
            fnmatch.fnmatchcase(ident.principal_arn, p) for p in spec.trusted_principal_arns):
        return _Outcome("error", f"{ident.principal_arn} is not a consumer principal outside "
                                 "trusted_principal_arns, so its answer proves nothing")
    return _try_assume(unlisted, spec, spec.external_id)


def _trust_document_outcome(spec: AccessSpec, main: boto3.Session | None, main_note: str) -> _Outcome:
    """No principal outside the list to probe with: check the document IAM evaluates instead."""
    want = policies.trust_policy(spec)
    condition = want["Statement"][0].get("Condition", {})
    operator = next((op for op in ("ArnEquals", "ArnLike") if "aws:PrincipalArn" in condition.get(op, {})), None)
    if operator is None or sorted(condition[operator]["aws:PrincipalArn"]) != sorted(spec.trusted_principal_arns):
        return _Outcome("document-differs", "the generated trust policy lacks the aws:PrincipalArn condition")
    rule = f"{operator} aws:PrincipalArn {', '.join(spec.trusted_principal_arns)}"
    if main is None:
        return _Outcome("document-checked", f"generated trust policy requires {rule}; the live role's "
                                            f"policy was not read ({main_note})")
    try:
        live: Any = main.client("iam").get_role(RoleName=spec.role_name)["Role"]["AssumeRolePolicyDocument"]
    except (ClientError, BotoCoreError) as err:
        return _Outcome("error", str(explain(err, f"reading the trust policy of {spec.role_name}")))
    if not policies.same_document(live, want):
        return _Outcome("document-differs", "the live trust policy differs from the spec's — run plan/apply")
    return _Outcome("document-checked", f"live trust policy equals the spec's and requires {rule}")


def _try_assume(session: boto3.Session, spec: AccessSpec, external_id: str | None) -> _Outcome:
    """AssumeRole once, no retries; credentials of a (wrongly) successful call are dropped."""
    args: dict[str, Any] = {"RoleArn": spec.role_arn, "RoleSessionName": _VERIFY_SESSION_NAME}
    if external_id:
        args["ExternalId"] = external_id
    sts = session.client("sts", region_name=spec.region)
    return _attempt(lambda: sts.assume_role(**args), f"AssumeRole on {spec.role_arn}")


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


def _table_cells(name: str, access: str, allowed: frozenset[str], ddb: Any, main_ddb: Any) -> list[Cell]:
    def expected(op: str) -> str:
        return "allowed" if op in allowed else "denied"

    if ddb is None:
        skipped = _Outcome("skipped", "the role could not be assumed")
        return [_cell(name, op, access, expected(op), skipped) for op in OPERATIONS]
    seen_by_role: dict[str, Any] = {}  # the describe probe's answer: the schema when main has none

    def describe() -> None:
        seen_by_role.update(ddb.describe_table(TableName=name)["Table"])

    outcomes = {"describe": _attempt(describe, f"DescribeTable on {name}")}
    schema = _schema(_describe_as_owner(main_ddb, name) or seen_by_role or None)
    for op, probe in _PROBES.items():
        outcomes[op] = probe(ddb, name, schema)
    return [_cell(name, op, access, "n/a" if outcomes[op].actual == "n/a" else expected(op), outcomes[op])
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


def _probe_get(ddb: Any, name: str, s: _Schema) -> _Outcome:
    return _attempt(lambda: ddb.get_item(TableName=name, Key=s.key, ProjectionExpression="#pk",
                                         ExpressionAttributeNames={"#pk": s.partition}),
                    f"GetItem on {name}")


def _query(ddb: Any, name: str, partition: str, value: dict, index: str | None = None) -> _Outcome:
    where = {"IndexName": index} if index else {}
    return _attempt(lambda: ddb.query(TableName=name, KeyConditionExpression="#pk = :v",
                                      ExpressionAttributeNames={"#pk": partition},
                                      ExpressionAttributeValues={":v": value},
                                      Select="COUNT", Limit=1, **where),
                    f"Query on {name}" + (f" index {index}" if index else ""))


def _probe_query(ddb: Any, name: str, s: _Schema) -> _Outcome:
    return _query(ddb, name, s.partition, s.key[s.partition])


def _probe_query_index(ddb: Any, name: str, s: _Schema) -> _Outcome:
    if s.first_index is None:
        return _Outcome("n/a", "the table has no secondary index" if s.billing else "schema unknown")
    index, partition, value = s.first_index
    return _query(ddb, name, partition, value, index)


def _probe_scan(ddb: Any, name: str, s: _Schema) -> _Outcome:
    return _attempt(lambda: ddb.scan(TableName=name, Select="COUNT", Limit=1), f"Scan on {name}")


def _probe_write(ddb: Any, name: str, s: _Schema) -> _Outcome:
    put = _attempt(lambda: ddb.put_item(TableName=name, Item=s.key, ConditionExpression=IMPOSSIBLE,
                                        ExpressionAttributeNames={"#pk": s.partition}),
                   f"PutItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)
    update = _attempt(lambda: ddb.update_item(TableName=name, Key=s.key, ConditionExpression=IMPOSSIBLE,
                                              UpdateExpression="SET #probe = :probe",
                                              ExpressionAttributeNames={"#pk": s.partition,
                                                                        "#probe": "xacct_nb_probe"},
                                              ExpressionAttributeValues={":probe": {"S": PROBE_TEXT}}),
                      f"UpdateItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)
    if put.actual == update.actual:
        return _Outcome(put.actual, "; ".join(dict.fromkeys(d for d in (put.detail, update.detail) if d)))
    return _Outcome("mixed", f"PutItem {put.actual}, UpdateItem {update.actual}")


def _probe_delete(ddb: Any, name: str, s: _Schema) -> _Outcome:
    return _attempt(lambda: ddb.delete_item(TableName=name, Key=s.key, ConditionExpression=IMPOSSIBLE,
                                            ExpressionAttributeNames={"#pk": s.partition}),
                    f"DeleteItem on {name}", ok_codes=_CONDITION_FAILED, success_allowed=False)


def _probe_admin(ddb: Any, name: str, s: _Schema) -> _Outcome:
    if s.billing is None:
        return _Outcome("skipped", "billing mode unknown (table not described): no UpdateTable request "
                                   "would be provably harmless")
    if s.status != "ACTIVE":
        return _Outcome("skipped", f"table is {s.status}: the UpdateTable probe runs on ACTIVE tables only")
    return _attempt(lambda: ddb.update_table(TableName=name, BillingMode=s.billing),
                    f"UpdateTable on {name}", ok_codes=_ADMIN_REJECTIONS)


_PROBES: dict[str, Callable[[Any, str, _Schema], _Outcome]] = {
    "get": _probe_get, "query": _probe_query, "scan": _probe_scan, "query_index": _probe_query_index,
    "write": _probe_write, "delete": _probe_delete, "admin": _probe_admin,
}


def _attempt(call: Callable[[], Any], action: str, *, ok_codes: frozenset[str] = frozenset(),
             success_allowed: bool = True) -> _Outcome:
    """Run one probe and classify IAM's answer. `ok_codes`: the rejections the probe is designed
    to get once authorised. A success of a probe designed to be rejected is an error."""
    try:
        call()
    except ClientError as err:
        code = error_code(err)
        if is_access_denied(err):
            return _Outcome("denied", code)
        if code in ok_codes:
            return _Outcome("allowed", code)
        return _Outcome("error", str(explain(err, action)))
    except BotoCoreError as err:
        return _Outcome("error", str(explain(err, action)))
    if success_allowed:
        return _Outcome("allowed")
    return _Outcome("error", f"{action} succeeded although its condition cannot hold — "
                             "inspect the table for an item with the probe key")


def _other_tables(spec: AccessSpec, extra: Iterable[str] | None, main_ddb: Any,
                  main_note: str) -> tuple[list[str], list[Cell]]:
    """Tables to prove denied, and a cell when they could not be found."""
    granted = set(spec.table_names)
    if extra is not None:
        return [t for t in dict.fromkeys(extra) if t not in granted], []
    if main_ddb is None:
        return [], [_cell(OTHER_TABLES, "discover", NOT_GRANTED, "denied",
                          _Outcome("skipped", f"not probed: {main_note}; pass extra_tables"))]
    try:
        names = [n for page in main_ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]
    except (ClientError, BotoCoreError) as err:
        return [], [_cell(OTHER_TABLES, "discover", NOT_GRANTED, "denied",
                          _Outcome("error", str(explain(err, "listing the main account's tables"))))]
    return [n for n in names if n not in granted], []
