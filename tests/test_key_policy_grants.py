"""grant_mode resource_policy with manage_key_policy: our statement in the KMS key policy of a
table under a customer-managed key (ledger in the sandbox), against the sandbox, which enforces
key policies for cross-account decrypts through DynamoDB as AWS does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from xacct_nb.dynamo.table import RemoteTable
from xacct_nb.errors import AccessDenied, InputError, SpecError
from xacct_nb.policies import rp_sid_prefix
from xacct_nb.provisioning import apply, destroy, plan
from xacct_nb.provisioning.key_policy_grants import keeps_owner_admin
from xacct_nb.spec import parse_spec
from xacct_nb.verify import verify_access

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
FOREIGN_SID = "SomeoneElsesAuditRead"


@pytest.fixture(scope="module")
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture
def spec(aws):
    spec = parse_spec({**BASE, "env": f"q{uuid4().hex[:6]}", "grant_mode": "resource_policy",
                       "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                                             {"table_name": "ledger", "access_type": "Read"}]})
    yield spec
    destroy(spec, yes=True, **aws)


def managed(spec):
    return parse_spec({**spec.to_dict(), "manage_key_policy": True})


def key_policy(main) -> tuple[str, dict]:
    arn = main.client("dynamodb").describe_table(TableName="ledger")["Table"]["SSEDescription"]["KMSMasterKeyArn"]
    return arn, json.loads(main.client("kms").get_key_policy(KeyId=arn, PolicyName="default")["Policy"])


def read_ledger(sandbox, spec):
    return RemoteTable(sandbox.session("sandbox-analyst"), spec.read_name("ledger")).scan(allow_full_scan=True)


def test_without_the_statement_the_read_fails_naming_the_key_policy_with_it_it_reads(spec, aws, sandbox):
    apply(spec, yes=True, wait=False, **aws)
    with pytest.raises(AccessDenied) as denied:
        read_ledger(sandbox, spec)
    message = str(denied.value)
    assert "\n" not in message and "key policy" in message and "manage_key_policy: true" in message

    with_key = managed(spec)
    the_plan = plan(with_key, **aws)
    row = next(c for c in the_plan.changes if c.resource == "key-policy")
    assert row.action == "create" and "ledger" in row.name
    assert rp_sid_prefix(spec.env) in row.detail and "kms:ViaService" in row.detail  # the statement shown
    apply(with_key, yes=True, wait=False, **aws)
    assert len(read_ledger(sandbox, spec)) > 0
    assert not plan(with_key, **aws).has_changes  # converged

    # verification probes decrypt through a read of the KMS table
    matrix = verify_access(with_key, analyst=sandbox.session("sandbox-analyst"), **aws)
    decrypt = [c for c in matrix.cells if c.check == "kms_decrypt"]
    assert [c.target for c in decrypt] == ["ledger"] and decrypt[0].result == "PASS", decrypt


def test_destroy_removes_only_our_statement_and_a_foreign_one_survives(spec, aws, sandbox):
    main = aws["main"]
    arn, before = key_policy(main)
    foreign = {"Sid": FOREIGN_SID, "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{spec.main_account_id}:root"},
               "Action": "kms:DescribeKey", "Resource": "*"}
    main.client("kms").put_key_policy(KeyId=arn, PolicyName="default",
                                      Policy=json.dumps({**before, "Statement": [*before["Statement"], foreign]}))
    try:
        with_key = managed(spec)
        apply(with_key, yes=True, wait=False, **aws)
        _, applied = key_policy(main)
        sids = [s.get("Sid", "") for s in applied["Statement"]]
        assert FOREIGN_SID in sids and any(s.startswith(rp_sid_prefix(spec.env)) for s in sids)

        # a spec that stops asking removes ours too (the plan says so), and destroy after apply
        destroy(with_key, yes=True, **aws)
        _, after = key_policy(main)
        assert FOREIGN_SID in [s.get("Sid") for s in after["Statement"]]
        assert not any(str(s.get("Sid", "")).startswith(rp_sid_prefix(spec.env)) for s in after["Statement"])
        assert keeps_owner_admin(after, spec.main_account_id)
    finally:
        _, now = key_policy(main)
        main.client("kms").put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(
            {**now, "Statement": [s for s in now["Statement"] if s.get("Sid") != FOREIGN_SID]}))


def test_a_spec_that_stops_asking_removes_our_statement(spec, aws, sandbox):
    apply(managed(spec), yes=True, wait=False, **aws)
    row = next(c for c in plan(spec, **aws).changes if c.resource == "key-policy")
    assert row.action == "delete" and "remove our statement" in row.detail


def test_a_plan_that_would_lock_the_owner_out_is_refused(spec, aws, sandbox):
    """A key policy whose only admin statement is (by its Sid) ours: removing ours would leave no
    principal of the main account able to change the key policy."""
    main = aws["main"]
    arn, before = key_policy(main)
    admin_as_ours = {**before["Statement"][0], "Sid": rp_sid_prefix(spec.env) + "HandWritten"}
    main.client("kms").put_key_policy(KeyId=arn, PolicyName="default",
                                      Policy=json.dumps({**before, "Statement": [admin_as_ours]}))
    try:
        with pytest.raises(InputError) as refused:
            plan(managed(spec), **aws)
        assert "lock the owner out" in str(refused.value) and "\n" not in str(refused.value)
    finally:
        main.client("kms").put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(before))


def test_owner_admin_check():
    root = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*",
            "Resource": "*"}
    assert keeps_owner_admin({"Statement": [root]}, "111111111111")
    assert not keeps_owner_admin({"Statement": [root]}, "222222222222")
    assert not keeps_owner_admin({"Statement": [{**root, "Action": "kms:Decrypt"}]}, "111111111111")
    assert not keeps_owner_admin({"Statement": [root, {**root, "Effect": "Deny"}]}, "111111111111")
    with_mfa = {**root, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
    assert not keeps_owner_admin({"Statement": [with_mfa]}, "111111111111")


def test_manage_key_policy_is_a_resource_policy_flag():
    with pytest.raises(SpecError) as err:
        parse_spec({**BASE, "manage_key_policy": True})
    assert err.value.field == "manage_key_policy" and "grant_mode: resource_policy" in str(err.value)
    with pytest.raises(SpecError) as err:
        parse_spec({**BASE, "grant_mode": "resource_policy", "manage_key_policy": "yes"})
    assert err.value.field == "manage_key_policy"


def test_the_diagram_draws_the_managed_key_and_highlights_our_statement(spec, aws):
    from xacct_nb.diagram import diagram
    from xacct_nb.diagram_svg import render

    text = diagram(plan(managed(spec), **aws))
    node = re.search(r'^  (KP\d+)\{\{"KMS key [0-9a-f-]+"\}\}$', text, re.M)
    assert node, text
    assert f'-.->|"kms:Decrypt via DynamoDB"| {node[1]}' in text
    assert re.search(rf"^  class (\S+,)?{node[1]}(,\S+)? create$", text, re.M)  # the statement the plan adds
    assert "KMS key" in render(text)


def test_kms_refusing_the_key_policy_stops_apply_with_one_line_saying_it_is_unchanged(spec):
    from botocore.exceptions import ClientError

    from xacct_nb.provisioning.executor import _interrupted
    from xacct_nb.provisioning.model import Change, IamCall, Plan

    change = Change("main", "key-policy", "arn:aws:kms:us-east-1:111111111111:key/k (ledger)", "create", "",
                    (IamCall("PutKeyPolicy", {}),))
    err = ClientError({"Error": {"Code": "MalformedPolicyDocumentException", "Message": "lockout"}}, "PutKeyPolicy")
    stopped = str(_interrupted(Plan(spec, (change,)), change, [], err))
    assert "\n" not in stopped and "key policy is unchanged" in stopped


def test_switching_to_role_mode_removes_our_key_statement(spec, aws, sandbox):
    with_key = managed(spec)
    apply(with_key, yes=True, wait=False, **aws)
    role_spec = parse_spec({**spec.to_dict(), "grant_mode": "role"})
    try:
        row = next(c for c in plan(role_spec, **aws).changes if c.resource == "key-policy")
        assert row.action == "delete"
        apply(role_spec, yes=True, wait=False, **aws)
        _, after = key_policy(aws["main"])
        assert not any(str(s.get("Sid", "")).startswith(rp_sid_prefix(spec.env)) for s in after["Statement"])
    finally:
        destroy(role_spec, yes=True, **aws)


def test_live_state_shows_the_key_policy_with_our_statement(spec, aws):
    from xacct_nb.provisioning import live_state

    apply(managed(spec), yes=True, wait=False, **aws)
    state = live_state(managed(spec), **aws)
    row = state[state.resource == "key-policy"].iloc[0]
    assert row["ours"] and row["attached_to"] == "ledger" and "kms:Decrypt via DynamoDB" in row["grants"]


def test_with_a_consumers_list_each_consumer_is_admitted_for_its_own_tables_under_the_key():
    """One statement per consumer granted a table under the key, conditioned on its tables only;
    a consumer granted none of them gets none."""
    from xacct_nb.policies import rp_sid
    from xacct_nb.provisioning.key_policy_grants import key_policy_statements

    tables = [{"table_name": "ledger", "access_type": "Read"}, {"table_name": "orders", "access_type": "Read"}]
    base = {k: v for k, v in BASE.items() if k not in ("consumer_account_id", "consumer_principal",
                                                       "consumer_profile", "analyst_profile",
                                                       "trusted_principal_arns", "trust_whole_consumer_account")}
    spec = parse_spec({**base, "env": "kq", "grant_mode": "resource_policy", "manage_key_policy": True,
                       "table_access_list": tables, "consumers": [
                           {"account_id": "222222222222", "principal": "arn:aws:iam::222222222222:user/analyst",
                            "analyst_profile": "sandbox-analyst", "tables": ["ledger", "orders"]},
                           {"account_id": "222222222222", "principal": "arn:aws:iam::222222222222:user/analyst2",
                            "analyst_profile": "sandbox-analyst2", "tables": ["orders"]},
                           {"account_id": "333333333333", "principal": "arn:aws:iam::333333333333:user/reader",
                            "analyst_profile": "sandbox-outsider", "tables": ["ledger"]}]})
    statements = key_policy_statements(spec, ("ledger",))
    admitted = {s["Principal"]["AWS"]: s for s in statements}
    assert set(admitted) == {"arn:aws:iam::222222222222:user/analyst", "arn:aws:iam::333333333333:user/reader"}
    for principal, statement in admitted.items():
        assert statement["Sid"] == rp_sid(spec, principal, "Kms")
        assert statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:dynamodb:tableName"] == ["ledger"]
