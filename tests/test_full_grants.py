"""Full in the sandbox: dynamodb:* on the table, except what would hand the table to another
account (its resource-based policy) or tie it to resources outside the grant (tags here)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.errors import is_access_denied
from xacct_nb.policies import table_policy, to_json
from xacct_nb.provisioning import apply, destroy
from xacct_nb.sessions import assume_from_spec
from xacct_nb.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())


@pytest.fixture
def full(sandbox):
    """A Full grant on `customers`, applied; yields (spec, the role's DynamoDB client, main IAM)."""
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = parse_spec({**BASE, "env": f"f{uuid4().hex[:6]}",
                       "table_access_list": [{"table_name": "customers", "access_type": "Full"}]})
    apply(spec, yes=True, wait=False, **aws)
    ddb = assume_from_spec(spec, source=sandbox.session("sandbox-analyst")).client("dynamodb")
    yield spec, ddb, aws["main"].client("iam")
    destroy(spec, yes=True, **aws)


def _grant_to_consumer(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "dynamodb:*",
        "Resource": arn}]})


def _calls(spec, ddb):
    arn = spec.table_arn("customers")
    return {
        "PutResourcePolicy": lambda: ddb.put_resource_policy(ResourceArn=arn, Policy=_grant_to_consumer(arn)),
        "TagResource": lambda: ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "consumer"}]),
    }


def test_full_consumer_cannot_put_a_resource_policy_or_tag(full):
    spec, ddb, _ = full
    for action, call in _calls(spec, ddb).items():
        with pytest.raises(ClientError) as err:
            call()
        assert is_access_denied(err.value), action
    assert ddb.describe_table(TableName="customers")["Table"]["TableName"] == "customers"  # still Full


def test_without_the_deny_statement_the_same_calls_go_through(full):
    """The allow half: the Deny statement, not the sandbox, is what stops them."""
    spec, ddb, iam = full
    allow_only = table_policy(spec, spec.table("customers"))
    allow_only["Statement"] = [s for s in allow_only["Statement"] if s["Effect"] == "Allow"]
    iam.create_policy_version(PolicyArn=spec.table_policy_arn("customers"), PolicyDocument=to_json(allow_only),
                              SetAsDefault=True)
    arn = spec.table_arn("customers")
    try:
        for call in _calls(spec, ddb).values():
            call()
    finally:
        ddb.delete_resource_policy(ResourceArn=arn)
        ddb.untag_resource(ResourceArn=arn, TagKeys=["owner"])
