"""The spec's export section: validation, the role's export grants, the analyst's read grant, the
consumer bucket's policy statement (ours by Sid; others untouched) and the PITR warning."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from test_provisioning import BASE, live_document, new_spec
from xacct_nb import policies
from xacct_nb.errors import InputError, SpecError
from xacct_nb.provisioning import apply, destroy, plan, plan_destroy
from xacct_nb.spec import parse_spec

BUCKET = "grants-export-bucket"
FOREIGN = {"Sid": "SomeoneElsesAudit", "Effect": "Allow",
           "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "s3:GetObject",
           "Resource": f"arn:aws:s3:::{BUCKET}/audit/*"}


@pytest.mark.parametrize(("export", "field", "fix"), [
    ("bucket", "export", "export: {bucket: NAME, prefix: PATH}"),
    ({"prefix": "x"}, "export.bucket", "name a bucket"),
    ({"bucket": "Bad_Bucket"}, "export.bucket", "lowercase"),
    ({"bucket": "ok-bucket", "prefix": "a//b"}, "export.prefix", "empty part"),
    ({"bucket": "ok-bucket", "prefx": "a"}, "export.prefx", "did you mean prefix?"),
])
def test_bad_export_sections_are_one_line_errors(export, field, fix):
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, "export": export})
    assert caught.value.field == field and fix in str(caught.value) and "\n" not in str(caught.value)


# The prefix goes into IAM ARNs and a StringLike condition: only a literal key prefix is accepted,
# never cleaned up (a leading "/" is refused, not stripped). (prefix, what the error says)
BAD_PREFIXES = [
    ("*", "wildcard"), ("ddb*", "wildcard"), ("a/*/b", "wildcard"), ("a?", "wildcard"),
    ("${aws:username}", "policy variable"), ("$x", "wildcard or policy variable"),
    ("..", "'..'"), ("../..", "'..'"), ("a/../b", "'..'"), ("a..b", "'..'"), ("a/./b", "'.' part"),
    ("/ddb", "empty part"), ("ddb/", "empty part"), ("a//b", "empty part"), ("/", "empty part"),
    ("", "is empty"), ("a b", "not a plain S3 key character"), ("exportś", "not a plain S3 key"),
    ("a\nb", "not a plain S3 key character"), ("a" * 513, "at most 512"), ("a\\b", "not a plain"),
    ("a&b", "not a plain"), ("a[0]", "not a plain"), ("a%2Fb", "not a plain"),
]
GOOD_PREFIXES = ["x", "ddb/exports", "a-b_c.d!e'f(g)h", "2026/01/team.v2", "a" * 512, "A/b/C"]


@pytest.mark.parametrize(("prefix", "says"), BAD_PREFIXES)
def test_export_prefix_must_be_a_literal_key_prefix(prefix, says):
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, "export": {"bucket": BUCKET, "prefix": prefix}})
    assert caught.value.field == "export.prefix" and says in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("prefix", GOOD_PREFIXES)
def test_plain_export_prefixes_are_kept_as_written(prefix):
    spec = parse_spec({**BASE, "export": {"bucket": BUCKET, "prefix": prefix}})
    assert spec.export is not None and spec.export.prefix == prefix
    assert spec.export.objects_arn == f"arn:aws:s3:::{BUCKET}/{prefix}/*"


# S3's bucket naming rules (S3 user guide, "General purpose bucket naming rules").
BAD_BUCKETS = ["ab", "a" * 64, "Bad", "bad_bucket", "-bad", "bad-", ".bad", "bad.", "a..b",
               "192.168.5.4", "xn--bucket", "sthree-bucket", "amzn-s3-demo-bucket", "b-s3alias",
               "b--ol-s3", "b.mrap", "b--x-s3", "b--table-s3", "b*", "b/c", "bücket", "b c"]
GOOD_BUCKETS = ["abc", "a" * 63, "my.bucket-2", "1bucket", "192.168.5.4a", "b.a-c"]


@pytest.mark.parametrize("bucket", BAD_BUCKETS)
def test_export_bucket_follows_s3_naming_rules(bucket):
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, "export": {"bucket": bucket}})
    assert caught.value.field == "export.bucket" and "\n" not in str(caught.value)


@pytest.mark.parametrize("bucket", GOOD_BUCKETS)
def test_valid_bucket_names_are_accepted(bucket):
    assert parse_spec({**BASE, "export": {"bucket": bucket}}).export.bucket == bucket


def test_documents_of_the_export_section():
    spec = parse_spec({**BASE, "export": {"bucket": BUCKET, "prefix": "ddb/exports"}})
    assert spec.export is not None and spec.export.prefix == "ddb/exports"
    assert parse_spec(spec.to_dict()) == spec
    table = policies.table_policy(spec, spec.table("orders"))
    export, write, acl = table["Statement"][-3:]
    assert export["Action"] == ["dynamodb:DescribeExport", "dynamodb:ExportTableToPointInTime"]
    assert export["Resource"] == [spec.table_arn("orders"), spec.table_arn("orders") + "/export/*"]
    assert write["Resource"] == acl["Resource"] == f"arn:aws:s3:::{BUCKET}/ddb/exports/*"
    assert sorted(write["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert "Condition" not in write
    # PutObjectAcl (AWS's export guide lists it) only for the canned ACL that gives the bucket
    # owner full control: never public-read & co.
    assert acl["Action"] == ["s3:PutObjectAcl"]
    assert acl["Condition"] == {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
    bucket = policies.bucket_statements(spec)
    assert [s["Action"] for s in bucket] == [["s3:AbortMultipartUpload", "s3:PutObject"], ["s3:PutObjectAcl"]]
    assert bucket[1]["Condition"] == acl["Condition"]
    consumer = policies.consumer_policy(spec)["Statement"]
    assert [s["Sid"] for s in consumer] == ["AssumeDdbCrossAccRole", "ReadExports", "ListExports"]
    assert consumer[2]["Condition"] == {"StringLike": {"s3:prefix": ["ddb/exports/*"]}}
    # without the section nothing about exports is granted
    plain = parse_spec(BASE)
    assert "Export" not in json.dumps(policies.table_policy(plain, plain.table("orders")))
    assert len(policies.consumer_policy(plain)["Statement"]) == 1


@pytest.fixture(scope="module")
def s3(sandbox):
    client = sandbox.session("sandbox-consumer").client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _bucket_statements(s3) -> list[dict]:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchBucketPolicy"
        return []


def test_bucket_statement_appears_on_apply_and_goes_on_destroy_others_untouched(sandbox, s3):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [FOREIGN]}))
    spec = new_spec(export={"bucket": BUCKET, "prefix": "exports"})
    try:
        shown = plan(spec, **aws)
        rows = {(c.resource, c.name): c for c in shown.changes}
        assert rows[("bucket-policy", BUCKET)].action == "create"
        assert "1 other statement(s) kept" in rows[("bucket-policy", BUCKET)].detail
        assert rows[("pitr", "orders")].action == "no-op"  # the seed turns PITR on for orders only
        assert rows[("pitr", "customers")].action == "left-alone"
        assert "attention: table customers: point-in-time recovery is off" in shown.text()
        assert "update-continuous-backups --table-name customers" in shown.text()
        apply(spec, confirm=shown.id, wait=False, **aws)
        statements = _bucket_statements(s3)
        assert FOREIGN in statements and all(s in statements for s in policies.bucket_statements(spec))
        assert len(statements) == 3
        consumer_doc = live_document(aws["consumer"].client("iam"), spec.consumer_policy_arn)
        assert "ReadExports" in json.dumps(consumer_doc)
        again = plan(spec, **aws)
        assert {c.action for c in again.changes if c.resource == "bucket-policy"} == {"no-op"}
        gone = plan_destroy(spec, **aws)
        assert [c.action for c in gone.changes if c.resource == "bucket-policy"] == ["delete"]
    finally:
        destroy(spec, yes=True, **aws)
    assert _bucket_statements(s3) == [FOREIGN]


def test_destroy_deletes_the_policy_when_ours_was_its_only_statement(sandbox, s3):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    s3.delete_bucket_policy(Bucket=BUCKET)
    spec = new_spec(export={"bucket": BUCKET, "prefix": "only"})
    try:
        apply(spec, yes=True, wait=False, **aws)
        assert _bucket_statements(s3) == policies.bucket_statements(spec)
    finally:
        destroy(spec, yes=True, **aws)
    assert _bucket_statements(s3) == []


def test_a_missing_bucket_stops_the_plan_with_the_fix(sandbox):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = new_spec(export={"bucket": "no-such-export-bucket"})
    with pytest.raises(InputError, match="bucket 'no-such-export-bucket' does not exist — create it"):
        plan(spec, **aws)



def test_terraform_carries_the_export_statements():
    from xacct_nb.terraform import export_terraform

    spec = parse_spec({**BASE, "export": {"bucket": BUCKET, "prefix": "exports"}})
    resources = export_terraform(spec)["resource"]
    bucket = resources["aws_s3_bucket_policy"]["ddb_export_bucket_policy"]
    assert bucket["bucket"] == BUCKET and bucket["provider"] == "aws.consumer"
    assert json.loads(bucket["policy"])["Statement"] == policies.bucket_statements(spec)
    tables = json.dumps(resources["aws_iam_policy"])
    assert "ExportTableToPointInTime" in tables and "ReadExports" in tables
    assert "aws_s3_bucket_policy" not in export_terraform(parse_spec(BASE))["resource"]


def test_a_bucket_of_another_account_is_refused(sandbox):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    sandbox.session("sandbox-outsider").client("s3").create_bucket(Bucket="outsiders-bucket")
    spec = new_spec(export={"bucket": "outsiders-bucket"})
    with pytest.raises(InputError, match="must belong to the consumer account 222222222222"):
        plan(spec, **aws)
