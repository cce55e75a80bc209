"""Grants for tables under a customer-managed KMS key: the plan finds the key, the table policy
grants kms:Decrypt through DynamoDB, and a key policy that keeps the role out is reported.

Against the sandbox, which enforces KMS as AWS does (identity policies AND the key policy)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.cli import main as cli
from xacct_nb.errors import is_access_denied
from xacct_nb.kms import key_policy_admits
from xacct_nb.policies import same_document, table_policy, to_json
from xacct_nb.provisioning import apply, destroy, plan
from xacct_nb.sessions import assume_from_spec
from xacct_nb.spec import parse_spec
from xacct_nb.verify import verify_access

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
MAIN, REGION = "111111111111", "us-east-1"


def new_spec(*tables: tuple[str, str], **changes):
    return parse_spec({**BASE, "env": f"k{uuid4().hex[:6]}",
                       "table_access_list": [{"table_name": t, "access_type": a} for t, a in tables], **changes})


@pytest.fixture
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture
def analyst(sandbox):
    return sandbox.session("sandbox-analyst")


@pytest.fixture
def cleanup(aws):
    specs: list = []
    yield specs.append
    for spec in specs:
        destroy(spec, yes=True, **aws)


def ledger_key(main) -> str:
    return main.client("dynamodb").describe_table(TableName="ledger")["Table"]["SSEDescription"]["KMSMasterKeyArn"]


def scan_denied(session, table: str) -> ClientError:
    with pytest.raises(ClientError) as err:
        session.client("dynamodb").scan(TableName=table, Limit=1)
    assert is_access_denied(err.value)
    return err.value


# --- in the sandbox ---------------------------------------------------------------------------

def test_cmk_table_is_readable_through_the_granted_role_and_denied_without_kms_decrypt(aws, analyst, cleanup, tmp_path):
    spec = new_spec(("ledger", "Read"), ("orders", "Read"))
    cleanup(spec)
    key = ledger_key(aws["main"])
    the_plan = plan(spec, **aws)
    row = next(c for c in the_plan.changes if c.resource == "kms-key")
    assert (row.name, row.action) == (f"ledger {key}", "no-op") and "root delegation" in row.detail
    assert not the_plan.key_policy_problems
    apply(spec, confirm=the_plan.id, wait=False, **aws)
    policy = aws["main"].client("iam").get_policy_version(
        PolicyArn=spec.table_policy_arn("ledger"), VersionId="v1")["PolicyVersion"]["Document"]
    assert json.loads(to_json(policy)) == table_policy(spec, spec.table("ledger"), key)

    role = assume_from_spec(spec, source=analyst)
    assert role.client("dynamodb").scan(TableName="ledger", Limit=3)["Count"] == 3
    cell = verify_access(spec, extra_tables=[]).cell("ledger", "kms_decrypt")
    assert (cell.expected, cell.actual, cell.result) == ("allowed", "allowed", "PASS")
    assert key in cell.detail and "root delegation" in cell.detail and "~5 min" in cell.detail

    # The Terraform export (CLI: it reads the keys with main_profile) carries the same document.
    params, out = tmp_path / "p.yaml", tmp_path / "x.tf.json"
    params.write_text(yaml.safe_dump(spec.to_dict()))
    assert cli(["export-terraform", "--params", str(params), "--side", "main", "--out", str(out)]) == 0
    block = json.loads(out.read_text())["resource"]["aws_iam_policy"]["ddb_table_policy_ledger"]
    assert same_document(block["policy"], policy)

    # The same grant without the KMS statement (a policy written by hand, or by an older version):
    # DynamoDB may be called, but KMS refuses the decrypt.
    iam = aws["main"].client("iam")
    iam.create_policy_version(PolicyArn=spec.table_policy_arn("ledger"), SetAsDefault=True,
                              PolicyDocument=to_json(table_policy(spec, spec.table("ledger"))))
    err = scan_denied(assume_from_spec(spec, source=analyst), "ledger")
    assert "KMS" in str(err)
    assert role.client("dynamodb").scan(TableName="orders", Limit=1)["Count"] == 1  # no key: unaffected
    drifted = verify_access(spec, extra_tables=[])
    assert {(c.target, c.check) for c in drifted.failures} >= {("ledger", "scan"), ("ledger", "kms_decrypt")}
    assert not {c.target for c in drifted.failures} - {"ledger"}
    # plan sees the drift and restores the KMS grant
    back = plan(spec, **aws)
    assert [c.action for c in back.changes if c.resource == "policy-version" and "ledger" in c.name] == ["update"]


def test_a_key_policy_that_keeps_the_role_out_is_reported_with_what_to_add(aws, analyst, cleanup):
    main = aws["main"]
    kms = main.client("kms")
    admin = main.client("sts").get_caller_identity()["Arn"]
    closed = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "AdminOnly", "Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"}]})
    key = kms.create_key(Policy=closed, Description="xacct-nb test: no root delegation")["KeyMetadata"]["Arn"]
    table = f"closed-{uuid4().hex[:6]}"
    main.client("dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key})
    try:
        spec = new_spec((table, "Read"))
        cleanup(spec)
        the_plan = plan(spec, **aws)
        [problem] = the_plan.key_policy_problems
        assert problem.action == "left-alone" and key in problem.name
        assert "lets neither the account's IAM policies (root delegation) nor a kms:CallerAccount" in problem.detail
        assert f"arn:aws:iam::{MAIN}:root" in problem.detail and "kms:ViaService" in problem.detail
        assert f"attention: table {table}:" in the_plan.text()
        assert not the_plan.blocked  # the grant itself can be applied; reads wait for the key's owner
        apply(spec, confirm=the_plan.id, wait=False, **aws)
        scan_denied(assume_from_spec(spec, source=analyst), table)
    finally:
        main.client("dynamodb").delete_table(TableName=table)


# --- key policies (pure) ----------------------------------------------------------------------

SPEC = new_spec(("ledger", "Read"))
ROLE = SPEC.role_arn


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(principal, action="kms:*", condition=None):
    st = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


VIA = {"StringEquals": {"kms:CallerAccount": MAIN, "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}


@pytest.mark.parametrize("policy, via", [
    (_policy(_allow({"AWS": f"arn:aws:iam::{MAIN}:root"})), "root delegation"),
    (_policy(_allow({"AWS": MAIN}, ["kms:Decrypt", "kms:DescribeKey"])), "root delegation"),
    (_policy(_allow({"AWS": "*"}, ["kms:Decrypt", "kms:DescribeKey"], VIA)), "caller account via DynamoDB"),
    (_policy(_allow({"AWS": ROLE}, "kms:Decrypt")), "the role itself"),
    (_policy(_allow({"AWS": f"arn:aws:iam::{MAIN}:user/admin"})), None),
    (_policy(_allow({"AWS": f"arn:aws:iam::{MAIN}:root"}, "kms:Encrypt")), None),
    (_policy(_allow({"AWS": "*"}, "kms:Decrypt", {"StringEquals": {
        "kms:CallerAccount": MAIN, "kms:ViaService": "s3.us-east-1.amazonaws.com"}})), None),
    (_policy(_allow({"AWS": "*"}, "kms:Decrypt", {"StringEquals": {
        "kms:CallerAccount": "999999999999", "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}})), None),
    (_policy(_allow({"AWS": f"arn:aws:iam::{MAIN}:root"}),
             {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}), None),
])
def test_key_policy_admits(policy, via):
    assert key_policy_admits(policy, SPEC) == via
