"""The sandbox's DynamoDB exports (patches_export), each fix with an allow and a deny case, and
`xacct-nb export` end to end: provisioned by apply, exported by the role into the consumer's
bucket, read back by the analyst — equal to the scan."""

from __future__ import annotations

import json
import re
from uuid import uuid4

import pandas as pd
import pytest
import yaml
from botocore.exceptions import ClientError

from test_provisioning import BASE, new_spec
from xacct_nb import RemoteTable, read_export
from xacct_nb.cli import main
from xacct_nb.dynamo.export_job import export_url, start_export, wait_for_export
from xacct_nb.errors import AwsError, InputError
from xacct_nb.provisioning import apply, destroy
from xacct_nb.sandbox.patches_export import ITEMS_PER_FILE
from xacct_nb.sandbox.seed import EXPORT_BUCKET
from xacct_nb.sessions import assume_from_spec

ORDER_KEYS = ["customer_id", "order_id"]


@pytest.fixture(scope="module")
def world(sandbox):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = new_spec(export={"bucket": EXPORT_BUCKET, "prefix": f"exports/{uuid4().hex[:6]}"})
    apply(spec, yes=True, wait=False, **aws)
    yield spec, assume_from_spec(spec), aws
    destroy(spec, yes=True, **aws)


def _keys_under(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=EXPORT_BUCKET, Prefix=prefix).get("Contents", [])]


def _by_key(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(ORDER_KEYS).reset_index(drop=True).sort_index(axis=1)


def test_export_follows_aws_layout_and_reads_back_as_the_scan(world, sandbox):
    spec, role, aws = world
    described = wait_for_export(role, start_export(role, spec, "orders")["ExportArn"], poll_seconds=0.2)
    assert re.fullmatch(r"arn:aws:dynamodb:us-east-1:111111111111:table/orders/export/\d{14}-[0-9a-f]{8}",
                        described["ExportArn"])
    assert described["S3BucketOwner"] == spec.consumer_account_id
    url = export_url(described)
    folder = url[len(f"s3://{EXPORT_BUCKET}/"):]
    keys = _keys_under(aws["consumer"].client("s3"), folder)
    files = -(-sandbox.counts["orders"] // ITEMS_PER_FILE)
    assert {k[len(folder):] for k in keys if "/data/" not in k} == {
        "_started", "manifest-summary.json", "manifest-files.json"}
    assert sum("/data/" in k and k.endswith(".json.gz") for k in keys) == files
    analyst = sandbox.session("sandbox-analyst")
    scanned = _by_key(RemoteTable(role, "orders", progress=False).scan(allow_full_scan=True))
    ddf = read_export(analyst, url, engine="dask", key_names=ORDER_KEYS)
    assert ddf.npartitions == files
    pd.testing.assert_frame_equal(_by_key(ddf.compute()), scanned)
    pd.testing.assert_frame_equal(_by_key(read_export(analyst, url, key_names=ORDER_KEYS)), scanned)


def test_export_is_denied_when_our_bucket_statement_is_missing(world):
    spec, role, aws = world
    s3 = aws["consumer"].client("s3")
    kept = s3.get_bucket_policy(Bucket=EXPORT_BUCKET)["Policy"]
    s3.delete_bucket_policy(Bucket=EXPORT_BUCKET)
    try:
        started = start_export(role, spec, "orders")
        with pytest.raises(AwsError, match="S3AccessDenied: .* run xacct-nb apply"):
            wait_for_export(role, started["ExportArn"], poll_seconds=0.2)
        assert _keys_under(s3, export_url(started)[len(f"s3://{EXPORT_BUCKET}/"):]) == []
    finally:
        s3.put_bucket_policy(Bucket=EXPORT_BUCKET, Policy=kept)


@pytest.mark.parametrize("acl_statement", ["missing", "public-read"])
def test_cross_account_export_needs_put_object_acl_for_bucket_owner_full_control(world, acl_statement):
    """Into another account's bucket the export sets bucket-owner-full-control on its objects: the
    bucket must allow s3:PutObjectAcl for exactly that ACL (a grant for another ACL is no help)."""
    from xacct_nb import policies

    spec, role, aws = world
    s3 = aws["consumer"].client("s3")
    kept = s3.get_bucket_policy(Bucket=EXPORT_BUCKET)["Policy"]
    write, acl = policies.bucket_statements(spec)
    statements = [write] if acl_statement == "missing" else [
        write, {**acl, "Condition": {"StringEquals": {"s3:x-amz-acl": "public-read"}}}]
    s3.put_bucket_policy(Bucket=EXPORT_BUCKET, Policy=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": statements}))
    try:
        started = start_export(role, spec, "orders")
        with pytest.raises(AwsError, match="S3AccessDenied"):
            wait_for_export(role, started["ExportArn"], poll_seconds=0.2)
    finally:
        s3.put_bucket_policy(Bucket=EXPORT_BUCKET, Policy=kept)


def test_export_is_authorised_on_the_table_arn_and_needs_pitr(world):
    spec, role, _ = world
    ddb = role.client("dynamodb")
    for table in ("payments",):  # not granted: denied on its ARN (moto alone would allow on "*")
        with pytest.raises(ClientError) as caught:
            ddb.export_table_to_point_in_time(TableArn=spec.table_arn(table), S3Bucket=EXPORT_BUCKET,
                                              S3Prefix=spec.export.prefix)
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
        assert f"table/{table}" in caught.value.response["Error"]["Message"]
    with pytest.raises(InputError, match="point-in-time recovery is off.*update-continuous-backups"):
        start_export(role, spec, "customers")  # granted, PITR off in the seed


def test_incremental_exports_fail_in_the_sandbox_with_the_reason(world):
    from datetime import UTC, datetime, timedelta

    spec, role, _ = world
    started = start_export(role, spec, "orders", since=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(AwsError, match="UnsupportedInSandbox"):
        wait_for_export(role, started["ExportArn"], poll_seconds=0.2)


def test_expected_bucket_owner_is_checked(sandbox):
    outsider = sandbox.session("sandbox-outsider").client("s3")
    outsider.create_bucket(Bucket="outsiders-owned-bucket")
    consumer = sandbox.session("sandbox-consumer").client("s3")
    consumer.list_objects_v2(Bucket=EXPORT_BUCKET, ExpectedBucketOwner="222222222222")  # allowed
    with pytest.raises(ClientError) as caught:
        consumer.list_objects_v2(Bucket="outsiders-owned-bucket", ExpectedBucketOwner="222222222222")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_cli_export_wait_then_read(world, tmp_path, capsys):
    spec, _, _ = world
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump(json.loads(json.dumps(spec.to_dict()))))
    assert main(["export", "--params", str(params), "--table", "orders", "--wait"]) == 0
    out = capsys.readouterr().out
    assert "status: COMPLETED" in out and "export ARN: arn:aws:dynamodb:" in out
    url = re.search(r"location: (s3://\S+)", out).group(1)
    assert read_export(sandbox_analyst(), url).attrs["xacct"]["items"] > 0
    for argv, code, message in [
        (["--table", "payments"], 2, "not in the spec's table list"),
        (["--table", "customers"], 2, "point-in-time recovery is off"),
        (["--table", "orders", "--incremental-since", "yesterday"], 2, "is not a time"),
        (["--table", "orders", "--incremental-since", "2026-01-01T00:00", "--until", "2026-01-01T00:05"],
         2, "15 minutes to 24 hours"),
        (["--table", "orders", "--until", "2026-01-01T00:05"], 2, "--until needs --incremental-since"),
    ]:
        assert main(["export", "--params", str(params), *argv]) == code
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    params.write_text(yaml.safe_dump({**BASE, "env": spec.env}))
    assert main(["export", "--params", str(params), "--table", "orders"]) == 2
    assert "no export section" in capsys.readouterr().err


def sandbox_analyst():
    import boto3

    return boto3.Session(profile_name="sandbox-analyst")
