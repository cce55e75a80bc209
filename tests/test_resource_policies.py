"""grant_mode resource_policy: the spec key, the pure policy documents, and plan/apply/destroy of
our Sid-marked statements in the tables' resource policies against the sandbox (IAM enforced).

Each test uses its own env (so its own Sids and consumer-side policy name) and destroys at the
end; the tables are the sandbox's shared seeded ones, so every test leaves foreign statements and
other envs' statements exactly as it found them.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb import policies
from xacct_nb.errors import (
    AccessDenied,
    ApplyInterrupted,
    ConfirmationRequired,
    InputError,
    SpecError,
    is_access_denied,
)
from xacct_nb.policies import (
    RESOURCE_POLICY_MAX_BYTES,
    RP_ACTIONS,
    grant_policy,
    merge_statements,
    rp_sid_prefix,
    rp_table_statements,
    same_document,
)
from xacct_nb.provisioning import apply, destroy, plan, plan_destroy
from xacct_nb.provisioning.live import connect
from xacct_nb.provisioning.planner import build_plan
from xacct_nb.spec import AccessSpec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
# orders and customers: payments stays ungranted, and ledger's customer-managed key is left out
# (resource_policy mode writes the key-policy statement only with manage_key_policy).
BASE["table_access_list"] = [t for t in BASE["table_access_list"] if t["table_name"] in ("orders", "customers")]
FOREIGN = {"Sid": "OpsTeamReadsOrders", "Effect": "Allow",
           "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
           "Action": "dynamodb:DescribeTable", "Resource": "*"}


def new_spec(**overrides) -> AccessSpec:
    return parse_spec({**BASE, "env": f"r{uuid4().hex[:6]}", "grant_mode": "resource_policy", **overrides})


# --- the spec ------------------------------------------------------------------------------------

def test_grant_mode_defaults_to_role_and_accepts_resource_policy():
    assert parse_spec(BASE).grant_mode == "role"
    spec = new_spec()
    assert spec.grant_mode == "resource_policy" and spec.uses_resource_policy
    assert parse_spec(spec.to_dict()) == spec  # round trip, role-only defaults included
    assert spec.read_name("orders") == "arn:aws:dynamodb:us-east-1:111111111111:table/orders"
    assert parse_spec(BASE).read_name("orders") == "orders"


def test_grant_mode_refusals_are_one_line_naming_the_fix():
    with pytest.raises(SpecError, match=r"^grant_mode: 'roles' is not a grant mode — use one of: role, "
                       r"resource_policy$"):
        parse_spec({**BASE, "grant_mode": "roles"})
    with pytest.raises(SpecError) as err:
        new_spec(export={"bucket": "consumer-exports"})
    assert err.value.field == "export" and "grant_mode: role" in str(err.value)
    assert "\n" not in str(err.value)
    for key, value in [("external_id", "abc123"), ("max_session_duration", 7200),
                       ("trust_whole_consumer_account", True), ("session_name", "me")]:
        with pytest.raises(SpecError) as err:
            new_spec(**{key: value})
        assert err.value.field == key and "grant_mode: role" in str(err.value)


# --- the pure documents ------------------------------------------------------------------------

def test_levels_map_to_cross_account_actions_only():
    no_cross_account = ("PartiQL", "Export", "Backup", "Restore", "TimeToLive", "Kinesis", "ResourcePolicy",
                        "Import", "ContinuousBackups")
    for level, actions in RP_ACTIONS.items():
        assert not [a for a in actions if any(word in a for word in no_cross_account)], level
        assert "*" not in "".join(actions)
    assert "dynamodb:DeleteItem" not in RP_ACTIONS["ReadWriteUpdate"]
    assert "dynamodb:BatchWriteItem" not in RP_ACTIONS["ReadWriteUpdate"]
    assert "dynamodb:PutItem" not in RP_ACTIONS["Read"]
    assert {"dynamodb:DeleteItem", "dynamodb:DeleteTable"} <= set(RP_ACTIONS["Full"])


def test_table_statement_names_the_principal_table_and_indexes():
    spec = new_spec()
    [statement] = rp_table_statements(spec, spec.table("orders"))
    arn = spec.table_arn("orders")
    assert statement["Principal"] == {"AWS": spec.consumer_principal}
    assert statement["Resource"] == [arn, f"{arn}/index/*"]
    assert statement["Sid"].startswith(rp_sid_prefix(spec.env)) and statement["Sid"].isalnum()
    assert statement["Effect"] == "Allow"


def test_sid_prefixes_of_different_envs_never_prefix_each_other():
    envs = ["a-b", "ab", "aX2Db", "a_b", "dev", "dev2", "Xdev", "de"]
    prefixes = {env: rp_sid_prefix(env) for env in envs}
    assert len(set(prefixes.values())) == len(envs)
    for env, prefix in prefixes.items():
        assert prefix.isalnum()
        assert not [other for other, p in prefixes.items() if other != env and p.startswith(prefix)]


def test_merge_keeps_foreign_statements_and_replaces_ours():
    spec = new_spec()
    ours = rp_table_statements(spec, spec.table("orders"))
    live = {"Version": "2012-10-17", "Id": "keep-me", "Statement": [FOREIGN, {**ours[0], "Action": "dynamodb:*"}]}
    merged = merge_statements(spec, live, ours)
    assert merged == {"Version": "2012-10-17", "Id": "keep-me", "Statement": [FOREIGN, *ours]}
    assert merge_statements(spec, live, []) == {"Version": "2012-10-17", "Id": "keep-me", "Statement": [FOREIGN]}
    assert merge_statements(spec, {"Version": "2012-10-17", "Statement": ours}, []) is None


def test_consumer_side_policy_allows_the_same_actions_on_main_table_arns():
    spec = new_spec()
    document = grant_policy(spec)
    by_table = {s["Resource"][0]: s for s in document["Statement"]}
    for table in spec.table_access_list:
        statement = by_table[spec.table_arn(table.table_name)]
        assert statement["Action"] == sorted(RP_ACTIONS[table.access_type])
        assert "Principal" not in statement


# --- plan / apply / destroy against the sandbox --------------------------------------------------

@pytest.fixture(scope="module")
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture(scope="module")
def ddb(sandbox):
    return sandbox.session("sandbox-main").client("dynamodb")


@pytest.fixture
def spec(aws):
    spec = new_spec()
    yield spec
    destroy(spec, yes=True, **aws)


def resource_policy(ddb, spec: AccessSpec, table: str) -> tuple[dict | None, str | None]:
    try:
        reply = ddb.get_resource_policy(ResourceArn=spec.table_arn(table))
    except ClientError as err:
        assert err.response["Error"]["Code"] == "PolicyNotFoundException"
        return None, None
    return json.loads(reply["Policy"]), reply["RevisionId"]


@pytest.fixture
def foreign_on_orders(ddb, spec):
    """A statement someone else keeps on the orders table (restored afterwards)."""
    arn = spec.table_arn("orders")
    before, _ = resource_policy(ddb, spec, "orders")
    document = {"Version": "2012-10-17", "Statement": [*(before or {}).get("Statement", []), FOREIGN]}
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document))
    yield document
    if before is None:
        ddb.delete_resource_policy(ResourceArn=arn)
    else:
        ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(before))


def test_apply_writes_our_statements_and_the_consumer_policy_keeping_foreign_ones(
        spec, aws, ddb, sandbox, foreign_on_orders):
    first = plan(spec, **aws)
    rows = {(c.resource, c.name): c for c in first.changes}
    assert rows[("resource-policy", "orders")].action == "create"  # ours are added to the existing policy
    assert "1 other statement(s) kept" in rows[("resource-policy", "orders")].detail
    assert rows[("policy", spec.grant_policy_name)].action == "create"
    assert not [c for c in first.changes if c.resource in ("role", "trust-policy")]  # no role in this mode
    put = rows[("resource-policy", "orders")].calls[0]
    assert put.operation == "PutResourcePolicy"
    assert put.params["ExpectedRevisionId"] == resource_policy(ddb, spec, "orders")[1]
    assert "ConfirmRemoveSelfResourceAccess" not in put.params

    result = apply(spec, confirm=first.id, wait=False, **aws)
    assert result.done
    orders, _ = resource_policy(ddb, spec, "orders")
    assert FOREIGN in orders["Statement"]
    assert policies.our_statements(spec, orders) == rp_table_statements(spec, spec.table("orders"))
    customers, _ = resource_policy(ddb, spec, "customers")
    assert policies.our_statements(spec, customers) == rp_table_statements(spec, spec.table("customers"))
    iam = sandbox.session("sandbox-consumer").client("iam")
    attached = iam.list_attached_user_policies(UserName="analyst")["AttachedPolicies"]
    assert spec.grant_policy_arn in {p["PolicyArn"] for p in attached}
    version = iam.get_policy(PolicyArn=spec.grant_policy_arn)["Policy"]["DefaultVersionId"]
    live = iam.get_policy_version(PolicyArn=spec.grant_policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    assert same_document(live, grant_policy(spec, {t: f"{spec.table_arn(t)}/stream/*" for t in spec.table_names}))

    again = plan(spec, **aws)
    assert not again.has_changes

    gone = destroy(spec, yes=True, **aws)
    assert {(c.resource, c.name) for c in gone.done} >= {("resource-policy", "orders"),
                                                         ("resource-policy", "customers")}
    orders, _ = resource_policy(ddb, spec, "orders")
    assert orders["Statement"] == foreign_on_orders["Statement"]  # the foreign statement survives destroy
    assert not policies.our_statements(spec, resource_policy(ddb, spec, "customers")[0])
    attached = iam.list_attached_user_policies(UserName="analyst")["AttachedPolicies"]
    assert spec.grant_policy_arn not in {p["PolicyArn"] for p in attached}


def test_destroy_deletes_the_policy_only_when_nothing_else_is_left(spec, aws, ddb):
    apply(spec, yes=True, wait=False, **aws)
    assert resource_policy(ddb, spec, "customers")[0] is not None
    the_plan = plan_destroy(spec, **aws)
    [row] = [c for c in the_plan.changes if (c.resource, c.name) == ("resource-policy", "customers")]
    if policies.merge_statements(spec, resource_policy(ddb, spec, "customers")[0], []) is None:
        assert [call.operation for call in row.calls] == ["DeleteResourcePolicy"]
    destroy(spec, confirm=the_plan.id, **aws)
    left, _ = resource_policy(ddb, spec, "customers")
    assert left is None or not policies.our_statements(spec, left)


def test_a_concurrent_change_is_reported_not_overwritten(spec, aws, ddb):
    the_plan = plan(spec, **aws)
    iam = connect(spec, aws["main"], aws["consumer"])
    # Someone changes the orders policy after our read: the plan id changes, so confirm fails...
    arn = spec.table_arn("orders")
    before, _ = resource_policy(ddb, spec, "orders")
    other = {"Version": "2012-10-17", "Statement": [*(before or {}).get("Statement", []), FOREIGN]}
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(other))
    try:
        with pytest.raises(ConfirmationRequired, match="the plan changed since it was reviewed"):
            apply(spec, confirm=the_plan.id, wait=False, **aws)
        # ...and a write computed from the old read is conditional on the old revision.
        from xacct_nb.provisioning.executor import execute

        with pytest.raises(ApplyInterrupted, match="changed since it was read"):
            execute(the_plan, the_plan.id, iam)
        assert resource_policy(ddb, spec, "orders")[0] == other  # not overwritten
    finally:
        ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(before)) if before else \
            ddb.delete_resource_policy(ResourceArn=arn)


def test_the_20kb_limit_is_checked_in_the_plan(spec, aws, ddb):
    arn = spec.table_arn("customers")
    before, _ = resource_policy(ddb, spec, "customers")
    ours = rp_table_statements(spec, spec.table("customers"))
    big: dict = {"Version": "2012-10-17", "Statement": []}
    while policies.policy_bytes(merge_statements(spec, big, ours)) <= RESOURCE_POLICY_MAX_BYTES:
        i = len(big["Statement"])
        big["Statement"].append({**FOREIGN, "Sid": f"Filler{i}", "Resource": f"{arn}/index/{'x' * 20}{i}"})
    assert policies.policy_bytes(big) < RESOURCE_POLICY_MAX_BYTES < policies.policy_bytes(
        merge_statements(spec, big, ours))
    ddb.put_resource_policy(ResourceArn=arn, Policy=policies.to_json(big))
    try:
        with pytest.raises(InputError, match=r"table customers: its resource policy would be \d+ bytes"):
            plan(spec, **aws)
    finally:
        ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(before)) if before else \
            ddb.delete_resource_policy(ResourceArn=arn)


def test_switching_modes_adds_the_new_grant_before_removing_the_old(spec, aws, ddb, sandbox):
    role_spec = parse_spec({**spec.to_dict(), "grant_mode": "role"})
    apply(role_spec, yes=True, wait=False, **aws)
    try:
        switch = plan(spec, **aws)
        order = [(c.resource, c.action) for c in switch.changes if c.calls]
        first_role_removal = next(i for i, (res, act) in enumerate(order) if act == "delete")
        last_new_grant = max(i for i, (res, act) in enumerate(order) if act == "create")
        assert last_new_grant < first_role_removal  # both halves, the new one first
        assert ("role", "delete") in order and ("resource-policy", "create") in order or \
            ("resource-policy", "update") in order
        apply(spec, confirm=switch.id, wait=False, **aws)
        iam = sandbox.session("sandbox-main").client("iam")
        with pytest.raises(ClientError):
            iam.get_role(RoleName=role_spec.role_name)
        assert policies.our_statements(spec, resource_policy(ddb, spec, "orders")[0])

        back = plan(role_spec, **aws)
        order = [(c.resource, c.action) for c in back.changes if c.calls]
        assert order.index(("role", "create")) < max(i for i, (res, act) in enumerate(order)
                                                     if res == "resource-policy")
        apply(role_spec, confirm=back.id, wait=False, **aws)
        orders, _ = resource_policy(ddb, spec, "orders")
        assert not policies.our_statements(spec, orders)
        iam.get_role(RoleName=role_spec.role_name)
    finally:
        destroy(role_spec, yes=True, **aws)


def test_a_main_only_plan_keeps_the_old_grant(spec, aws):
    role_spec = parse_spec({**spec.to_dict(), "grant_mode": "role"})
    apply(role_spec, yes=True, wait=False, **aws)
    try:
        main_only = build_plan(spec, connect(spec, aws["main"], None, ("main",)), destroy=False)
        assert not [c for c in main_only.changes if c.resource == "role" and c.action == "delete"]
        assert [c for c in main_only.changes if c.resource == "old-grant"]
    finally:
        destroy(role_spec, yes=True, **aws)


def test_plan_says_what_full_cannot_include(aws):
    spec = new_spec(table_access_list=[{"table_name": "ledger", "access_type": "Full"}])
    try:
        the_plan = plan(spec, **aws)
        text = the_plan.text()
        assert "cannot include PartiQL" in text and "exports" in text and "grant_mode: role" in text
        # ledger is under a customer-managed key: the plan names the exact key-policy statement to add
        [key] = [c for c in the_plan.changes if c.resource == "kms-key"]
        assert key.action == "left-alone" and f'"Principal":{{"AWS":"{spec.consumer_principal}"}}' in key.detail
        assert '"kms:ViaService":"dynamodb.us-east-1.amazonaws.com"' in key.detail
    finally:
        destroy(spec, yes=True, **aws)


def test_a_missing_table_is_refused_in_the_plan(aws):
    spec = new_spec(table_access_list=[{"table_name": "no_such_table", "access_type": "Read"}])
    with pytest.raises(InputError, match="table no_such_table does not exist in the main account"):
        plan(spec, **aws)


def test_terraform_export_in_resource_policy_mode_carries_what_apply_writes(spec, aws, ddb, sandbox):
    from xacct_nb.terraform import export_terraform

    exported = export_terraform(spec)["resource"]
    assert "aws_iam_role" not in exported and "aws_iam_role_policy_attachment" not in exported
    blocks = exported["aws_dynamodb_resource_policy"]
    assert {b["resource_arn"] for b in blocks.values()} == {spec.table_arn(t) for t in spec.table_names}
    apply(spec, yes=True, wait=False, **aws)
    for block in blocks.values():
        live = ddb.get_resource_policy(ResourceArn=block["resource_arn"])["Policy"]
        assert policies.our_statements(spec, json.loads(live)) == policies.our_statements(
            spec, json.loads(block["policy"]))
        assert "WHOLE resource policy" in block["//"]
    consumer = exported["aws_iam_policy"]["ddb_cross_acc_table_access_policy"]
    assert consumer["name"] == spec.grant_policy_name
    iam = sandbox.session("sandbox-consumer").client("iam")
    version = iam.get_policy(PolicyArn=spec.grant_policy_arn)["Policy"]["DefaultVersionId"]
    live = iam.get_policy_version(PolicyArn=spec.grant_policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    assert same_document(live, consumer["policy"])
    assert exported["aws_iam_user_policy_attachment"]["ddb_cross_acc_table_access_attachment"]["user"] == "analyst"


def test_organization_id_only_in_resource_policy_mode_and_never_a_bare_star():
    with pytest.raises(SpecError) as err:
        parse_spec({**BASE, "organization_id": "o-a1b2c3d4e5"})
    assert err.value.field == "organization_id" and "grant_mode: resource_policy" in str(err.value)
    with pytest.raises(SpecError, match="is not an AWS Organizations id"):
        new_spec(organization_id="*")
    spec = new_spec(organization_id="o-a1b2c3d4e5")
    statements = rp_table_statements(spec, spec.table("orders"))
    stars = [s for s in statements if s["Principal"] == {"AWS": "*"}]
    assert len(stars) == 1 and stars[0]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    assert all(s["Sid"].startswith(rp_sid_prefix(spec.env)) for s in statements)


def test_an_organization_grant_admits_its_principals_and_not_others(aws, sandbox):
    spec = new_spec(organization_id=sandbox.organizations["main"])
    try:
        apply(spec, yes=True, wait=False, **aws)
        arn = spec.table_arn("orders")
        # the consumer account's admin is not named, but is in the organization (its own policy allows *)
        sandbox.session("sandbox-consumer").client("dynamodb").scan(TableName=arn, Limit=1)
        with pytest.raises(ClientError) as err:  # the outsider's account is in another organization
            sandbox.session("sandbox-outsider").client("dynamodb").scan(TableName=arn, Limit=1)
        assert is_access_denied(err.value)
        assert not plan(spec, **aws).has_changes
    finally:
        destroy(spec, yes=True, **aws)


def test_live_state_shows_the_resource_policies_and_the_consumer_policy(spec, aws):
    from xacct_nb.provisioning import live_state

    before = live_state(spec, **aws)
    assert list(before["resource"]) == ["resource-policy", "resource-policy", "policy"]
    assert not before["ours"].any()
    apply(spec, yes=True, wait=False, **aws)
    after = live_state(spec, **aws).set_index("name")
    assert after.loc["orders", "grants"].startswith("Read on orders")
    assert after.loc["customers", "grants"].startswith("ReadWriteUpdate on customers")
    assert after.loc[spec.grant_policy_name, "ours"] and "differs" not in after.loc[spec.grant_policy_name, "grants"]


@pytest.fixture
def stream_table(sandbox):
    name = f"rpstream-{uuid4().hex[:8]}"
    main = sandbox.session("sandbox-main").client("dynamodb")
    main.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    main.put_item(TableName=name, Item={"pk": {"S": "a"}})
    yield name, main.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    main.delete_table(TableName=name)


def test_full_grants_stream_reads_on_the_streams_own_policy(stream_table, aws, ddb, sandbox):
    name, stream_arn = stream_table
    spec = new_spec(table_access_list=[{"table_name": name, "access_type": "Full"}])
    try:
        the_plan = plan(spec, **aws)
        [row] = [c for c in the_plan.changes if c.resource == "stream-policy"]
        assert row.action == "create" and row.calls[0].params["ResourceArn"] == stream_arn
        apply(spec, confirm=the_plan.id, wait=False, **aws)
        live = json.loads(ddb.get_resource_policy(ResourceArn=stream_arn)["Policy"])
        assert policies.our_statements(spec, live) == policies.rp_stream_statements(spec, spec.table(name), stream_arn)
        streams = sandbox.session("sandbox-analyst").client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        destroy(spec, yes=True, **aws)
        with pytest.raises(ClientError) as err:
            streams.describe_stream(StreamArn=stream_arn)
        assert is_access_denied(err.value)
    finally:
        destroy(spec, yes=True, **aws)


def test_a_role_plan_whose_main_profile_cannot_read_resource_policies_says_so(aws, sandbox, monkeypatch):
    from sandbox_policy_helpers import doc, user_session

    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint_url)  # a key session, not a profile
    iam = sandbox.session("sandbox-main").client("iam")
    name = f"noread-{uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=doc([
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:GetResourcePolicy", "Resource": "*"}]))
    main = user_session(iam, name)
    role_spec = parse_spec({**BASE, "env": f"r{uuid4().hex[:6]}"})
    the_plan = plan(role_spec, main=main, consumer=aws["consumer"])
    [note] = [c for c in the_plan.changes if c.resource == "old-grant"]
    assert note.action == "no-op" and "not checked" in note.detail and "access denied" in note.detail
    with pytest.raises(AccessDenied):  # in resource_policy mode the read is needed: refused
        plan(new_spec(), main=main, consumer=aws["consumer"])


def test_a_table_taken_out_of_the_spec_loses_our_statements_and_keeps_foreign_ones(
        spec, aws, ddb, sandbox, foreign_on_orders):
    """Our statements cannot be tagged: the consumer-side grant policy of the last apply is the
    record of which tables were granted, so a table removed from the spec is found and revoked."""
    apply(spec, yes=True, wait=False, **aws)
    analyst = sandbox.session("sandbox-analyst").client("dynamodb")
    analyst.scan(TableName=spec.table_arn("orders"), Limit=1)  # granted
    data = spec.to_dict()
    data["table_access_list"] = [t for t in data["table_access_list"] if t["table_name"] != "orders"]
    fewer = parse_spec(data)
    shrink = plan(fewer, **aws)
    rows = {(c.resource, c.name): c for c in shrink.changes}
    assert rows[("resource-policy", "orders")].action in ("update", "delete"), shrink.text()
    assert "no longer in the spec" in rows[("resource-policy", "orders")].detail
    apply(fewer, confirm=shrink.id, wait=False, **aws)
    orders, _ = resource_policy(ddb, spec, "orders")
    assert orders["Statement"] == foreign_on_orders["Statement"]  # only ours went
    with pytest.raises(ClientError) as denied:
        analyst.scan(TableName=spec.table_arn("orders"), Limit=1)
    assert is_access_denied(denied.value)
    assert not plan(fewer, **aws).has_changes  # the record no longer names orders: nothing left to find
    analyst.scan(TableName=spec.table_arn("customers"), Limit=1)  # still granted
