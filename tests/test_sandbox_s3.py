"""The sandbox's S3 authorisation (patches_s3): identity-policy conditions on s3:x-amz-acl and
s3:prefix are evaluated as AWS does — each with an allow and a deny case — through the grants
xacct-nb itself makes for an export section (the role's ACL-pinned writes, the analyst's
prefix-pinned listing)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from botocore.exceptions import ClientError

from test_provisioning import new_spec
from xacct_nb.provisioning import apply, destroy
from xacct_nb.sandbox.seed import EXPORT_BUCKET
from xacct_nb.sessions import assume_from_spec


@pytest.fixture(scope="module")
def granted(sandbox):
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = new_spec(export={"bucket": EXPORT_BUCKET, "prefix": f"s3cond/{uuid4().hex[:6]}"})
    apply(spec, yes=True, wait=False, **aws)
    owner = aws["consumer"].client("s3")
    owner.put_object(Bucket=EXPORT_BUCKET, Key="private/secret.txt", Body=b"secret")
    yield spec, assume_from_spec(spec).client("s3"), sandbox.session("sandbox-analyst").client("s3")
    destroy(spec, yes=True, **aws)


def _denied(call, **kwargs) -> bool:
    try:
        call(**kwargs)
    except ClientError as err:
        # AccessDenied; moto's own bucket-policy Deny check answers a bare 403
        assert err.response["Error"]["Code"] in ("AccessDenied", "403"), err.response
        return True
    return False


def test_the_role_may_set_only_the_bucket_owner_full_control_acl(granted):
    spec, role, _ = granted
    key = f"{spec.export.prefix}/AWSDynamoDB/x/data/0.json.gz"
    assert not _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x")
    assert not _denied(role.put_object_acl, Bucket=EXPORT_BUCKET, Key=key, ACL="bucket-owner-full-control")
    assert _denied(role.put_object_acl, Bucket=EXPORT_BUCKET, Key=key, ACL="public-read")
    # an ACL on the PutObject itself needs s3:PutObjectAcl as well, with the same condition
    assert not _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x", ACL="bucket-owner-full-control")
    assert _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x", ACL="public-read-write")


def test_the_role_writes_nothing_outside_the_prefix(granted):
    _, role, _ = granted
    assert _denied(role.put_object, Bucket=EXPORT_BUCKET, Key="private/secret.txt", Body=b"overwritten")
    assert _denied(role.put_object_acl, Bucket=EXPORT_BUCKET, Key="private/secret.txt",
                   ACL="bucket-owner-full-control")


def test_the_analyst_lists_and_reads_only_under_the_prefix(granted):
    spec, _, analyst = granted
    assert not _denied(analyst.list_objects_v2, Bucket=EXPORT_BUCKET, Prefix=f"{spec.export.prefix}/AWSDynamoDB/")
    assert _denied(analyst.list_objects_v2, Bucket=EXPORT_BUCKET, Prefix="private/")
    assert _denied(analyst.list_objects_v2, Bucket=EXPORT_BUCKET)  # no prefix: no s3:prefix, no match
    assert _denied(analyst.get_object, Bucket=EXPORT_BUCKET, Key="private/secret.txt")


def test_another_accounts_principal_needs_the_bucket_policy_too(granted, sandbox):
    """The role (main account) writes into the consumer's bucket only while the bucket policy
    admits it: its own identity policy alone is not enough, as on AWS."""
    import json

    spec, role, _ = granted
    owner = sandbox.session("sandbox-consumer").client("s3")
    key = f"{spec.export.prefix}/AWSDynamoDB/y/data/0.json.gz"
    kept = owner.get_bucket_policy(Bucket=EXPORT_BUCKET)["Policy"]
    assert not _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x")
    owner.delete_bucket_policy(Bucket=EXPORT_BUCKET)
    try:
        assert _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x")
        deny = {"Sid": "NoRole", "Effect": "Deny", "Principal": {"AWS": spec.role_arn},
                "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{EXPORT_BUCKET}/*"}
        policy = json.loads(kept)
        owner.put_bucket_policy(Bucket=EXPORT_BUCKET, Policy=json.dumps(
            {**policy, "Statement": [*policy["Statement"], deny]}))
        assert _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x")  # explicit Deny wins
    finally:
        owner.put_bucket_policy(Bucket=EXPORT_BUCKET, Policy=kept)
    assert not _denied(role.put_object, Bucket=EXPORT_BUCKET, Key=key, Body=b"x")
