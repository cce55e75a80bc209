"""Where AWS succeeds (or answers a 4xx), the sandbox does too (patches_answers); moto 5.2.5
answers these with HTTP 500."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest

from xacct_nb.sandbox import REGION

# (id, table, FilterExpression, values, what AWS matches): a comparison across types is false
CROSS_TYPE_FILTERS = [
    ("string-attribute-gt-number", "customers", "tier > :v", {":v": {"N": "5"}}, 0),
    ("string-attribute-le-number", "customers", "tier <= :v", {":v": {"N": "5"}}, 0),
    ("string-attribute-between-numbers", "customers", "tier BETWEEN :v AND :w",
     {":v": {"N": "1"}, ":w": {"N": "9"}}, 0),
    ("number-attribute-lt-string", "orders", "amount < :v", {":v": {"S": "zzz"}}, 0),
    ("number-attribute-ge-string", "orders", "amount >= :v", {":v": {"S": ""}}, 0),
    ("string-attribute-not-gt-number", "customers", "NOT (tier > :v)", {":v": {"N": "5"}}, "all"),
    ("same-type-still-compares", "customers", "tier >= :v", {":v": {"S": "a"}}, "all"),
    ("same-type-between", "orders", "amount BETWEEN :v AND :w", {":v": {"N": "0"}, ":w": {"N": "99999"}}, "all"),
]


@pytest.fixture(scope="module")
def main_ddb(sandbox):
    return sandbox.session("sandbox-main").client("dynamodb")


@pytest.mark.parametrize("table, expression, values, expected", [case[1:] for case in CROSS_TYPE_FILTERS],
                         ids=[case[0] for case in CROSS_TYPE_FILTERS])
def test_comparisons_across_types_are_false(main_ddb, table, expression, values, expected):
    page = main_ddb.scan(TableName=table, FilterExpression=expression, ExpressionAttributeValues=values,
                         Limit=100)
    assert page["ScannedCount"] > 0
    assert page["Count"] == (page["ScannedCount"] if expected == "all" else expected)


def test_export_without_s3_prefix_goes_to_the_bucket_root(sandbox):
    session = sandbox.session("sandbox-main")
    ddb, s3 = session.client("dynamodb"), session.client("s3")
    name, bucket = f"answers-{uuid4().hex[:6]}", f"answers-export-{uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    arn = ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}]
                           )["TableDescription"]["TableArn"]
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}})
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    described = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket)["ExportDescription"]
    assert "S3Prefix" not in described  # as AWS describes an export without one
    deadline = time.monotonic() + 30
    while described["ExportStatus"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.2)
        described = ddb.describe_export(ExportArn=described["ExportArn"])["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED", described.get("FailureMessage")
    export_id = described["ExportArn"].rsplit("/", 1)[-1]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith(f"AWSDynamoDB/{export_id}/") for k in keys)
    assert described["ExportManifest"] == f"AWSDynamoDB/{export_id}/manifest-summary.json"
    assert described["ItemCount"] == 1 and described["BilledSizeBytes"] == len("pk") + len("a")  # the data's size
    assert REGION in arn
    ddb.delete_table(TableName=name)
