"""Many consumers in one spec (issue 24) against the sandbox (IAM enforced), both grant modes:
apply a two-consumer spec, each consumer reads exactly its tables at its levels and is denied the
rest, an unchanged spec plans no change (same id), removing a consumer deletes only its resources,
destroy leaves nothing of ours. Each test uses its own env and destroys at the end."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.cli import main
from xacct_nb.errors import AccessDenied, RoleNotFound, is_access_denied
from xacct_nb.provisioning import apply, destroy, live_state, plan, plan_destroy
from xacct_nb.sessions import reading_session
from xacct_nb.spec import AccessSpec, parse_spec
from xacct_nb.verify import verify_access

ANALYST = "arn:aws:iam::222222222222:user/analyst"
ANALYST2 = "arn:aws:iam::222222222222:user/analyst2"


def two_consumers(mode: str, **extra: Any) -> AccessSpec:
    return parse_spec({
        "env": f"m{uuid4().hex[:6]}", "region": "us-east-1", "main_account_id": "111111111111",
        "main_profile": "sandbox-main", "outsider_profile": "sandbox-outsider", "grant_mode": mode,
        "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                              {"table_name": "customers", "access_type": "ReadWriteUpdate"},
                              {"table_name": "payments", "access_type": "Read"}],
        "consumers": [
            {"account_id": "222222222222", "principal": ANALYST, "consumer_profile": "sandbox-consumer",
             "analyst_profile": "sandbox-analyst", "tables": {"orders": "Read", "customers": "ReadWriteUpdate"}},
            {"account_id": "222222222222", "principal": ANALYST2, "analyst_profile": "sandbox-analyst2",
             "tables": {"customers": "Read", "payments": "Read"}},
        ], **extra})


def only_first(spec: AccessSpec) -> AccessSpec:
    data = spec.to_dict()
    data["consumers"] = data["consumers"][:1]
    return parse_spec(data)


def can(ddb: Any, call: str, **params: Any) -> bool:
    try:
        getattr(ddb, call)(**params)
    except ClientError as err:
        if is_access_denied(err):
            return False
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return True  # authorised (the condition is evaluated after), and nothing was written
        raise
    return True


def access(sandbox, spec: AccessSpec, profile: str) -> dict[str, set[str]]:
    """What `profile` can do on each seeded table through the spec's grant (role mode: the role
    its consumer gets; resource_policy: its own session by ARN)."""
    sub = spec.consumer_spec(profile)
    ddb = reading_session(spec, source=sandbox.session(profile), wait=30).client("dynamodb")
    out: dict[str, set[str]] = {}
    for table in ("orders", "customers", "payments", "payroll"):
        name = sub.read_name(table)
        done = set()
        if can(ddb, "scan", TableName=name, Limit=1):
            done.add("read")
        key = {"customers": {"customer_id": {"S": "C-test-only"}}}.get(table)
        # a write probe that never writes: the shared seeded table must not gain an item
        if key and can(ddb, "update_item", TableName=name, Key=key, UpdateExpression="SET #n = :v",
                       ConditionExpression="attribute_exists(customer_id)",
                       ExpressionAttributeNames={"#n": "note"}, ExpressionAttributeValues={":v": {"S": "x"}}):
            done.add("write")
        out[table] = done
    return out


def leftovers(sandbox, spec: AccessSpec) -> list[str]:
    """Every IAM name (both accounts) and resource-policy statement of the spec's env."""
    names = []
    for profile in ("sandbox-main", "sandbox-consumer"):
        iam = sandbox.session(profile).client("iam")
        names += [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(spec.env)]
        names += [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]
                  if p["PolicyName"].startswith(spec.env)]
    from xacct_nb import policies
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    for table in spec.table_names:
        try:
            document = ddb.get_resource_policy(ResourceArn=spec.table_arn(table))["Policy"]
        except ClientError:
            continue
        import json
        names += [s["Sid"] for s in policies.our_statements(spec, json.loads(document))]
    return names


@pytest.mark.parametrize("mode", ["role", "resource_policy"])
def test_two_consumers_read_exactly_their_tables_then_one_is_removed_then_destroy(sandbox, mode):
    spec = two_consumers(mode)
    first, second = spec.consumer_specs
    try:
        the_plan = plan(spec)
        assert the_plan.has_changes and "2 consumers" in the_plan.headline()
        result = apply(spec, confirm=the_plan.id, wait=True, progress=lambda _line: None)
        assert result.assumable is True, result.text()  # both analysts were checked
        assert len(result.checked) == 2
        again = plan(spec)
        assert not again.has_changes, again.text()
        assert plan(spec).id == again.id  # an unchanged spec: the same id

        want_first = {"orders": {"read"}, "customers": {"read", "write"}, "payments": set(), "payroll": set()}
        want_second = {"orders": set(), "customers": {"read"}, "payments": {"read"}, "payroll": set()}
        assert access(sandbox, spec, "sandbox-analyst") == want_first
        assert access(sandbox, spec, "sandbox-analyst2") == want_second  # customers narrowed to Read

        # live_state shows every consumer's resources, each granting what the spec says.
        state = live_state(spec)
        if mode == "role":
            assert {first.role_name, second.role_name} <= set(state["name"])
            assert set(state[state["name"] == second.table_policy_name("customers")]["grants"]) == {
                "Read on customers (+ its indexes)"}
        else:
            assert {first.grant_policy_name, second.grant_policy_name} <= set(state["name"])
            grants = set(state[state["resource"] == "resource-policy"]["grants"])
            assert f"Read on customers (+ its indexes) to {ANALYST2}" in grants
            assert f"ReadWriteUpdate on customers (+ its indexes) to {ANALYST}" in grants
        assert not state["grants"].str.contains("spec says|match no level|differs").any(), state.to_string()

        # The access matrix runs for every consumer: its tables allowed at its levels, the rest denied.
        matrix = verify_access(spec, wait=30)
        assert matrix.ok, matrix.failures
        targets = {c.target.split(": ")[0] for c in matrix.cells}
        assert targets == {"user/analyst", "user/analyst2"}
        orders_of_second = [c for c in matrix.cells if c.target == "user/analyst2: orders"]
        assert orders_of_second and all(c.expected == "denied" and c.result == "PASS" for c in orders_of_second)
        assert any(c.target == "user/analyst2: customers" and c.check == "write" and c.expected == "denied"
                   and c.result == "PASS" for c in matrix.cells)  # narrowed to Read: its write is denied
        outsider = [c for c in matrix.cells if "outsider" in c.check and c.result != "SKIPPED"]
        assert len(outsider) >= 2 and all(c.expected == "denied" and c.result == "PASS" for c in outsider)

        # An unlisted principal and the outsider get nothing of either consumer's grant.
        for profile in ("sandbox-outsider", "sandbox-consumer"):
            ddb = sandbox.session(profile).client("dynamodb")
            for sub in (first, second):
                assert not can(ddb, "scan", TableName=sub.table_arn("customers"), Limit=1)
                if mode == "role":
                    with pytest.raises(ClientError) as err:
                        sandbox.session(profile).client("sts").assume_role(RoleArn=sub.role_arn,
                                                                           RoleSessionName="probe")
                    assert is_access_denied(err.value)
        if mode == "role":  # one consumer cannot take the other's role
            with pytest.raises(AccessDenied):
                from xacct_nb.sessions import assume_from_spec
                assume_from_spec(first, source=sandbox.session("sandbox-analyst2"))

        # Remove the second consumer: its resources (and only those) are deleted by the next plan.
        fewer = only_first(spec)
        shrink = plan(fewer)
        changing = [c for c in shrink.changes if c.action in ("create", "update", "delete")]
        assert changing and all(c.action in ("delete", "update") for c in changing), shrink.text()
        if mode == "role":
            assert {c.name for c in changing if c.resource in ("role", "policy")} == {
                second.role_name, second.consumer_policy_name,
                second.table_policy_name("customers"), second.table_policy_name("payments")}
        else:
            assert {(c.resource, c.name) for c in changing} >= {("policy", second.grant_policy_name)}
            assert all(c.resource in ("resource-policy", "policy", "attachment") for c in changing)
            assert not any(c.name == first.grant_policy_name for c in changing)
        apply(fewer, confirm=shrink.id, wait=False)
        assert not plan(fewer).has_changes
        assert access(sandbox, fewer, "sandbox-analyst") == want_first
        if mode == "role":  # its role is gone
            with pytest.raises(RoleNotFound):
                access(sandbox, spec, "sandbox-analyst2")
        else:
            assert access(sandbox, spec, "sandbox-analyst2") == {t: set() for t in want_second}
    finally:
        gone = plan_destroy(spec)
        destroy(spec, confirm=gone.id)
    assert leftovers(sandbox, spec) == []
    assert not plan_destroy(spec).has_changes


def test_destroy_of_a_two_consumer_spec_removes_every_consumers_resources(sandbox, tmp_path, capsys):
    spec = two_consumers("role")
    apply(spec, yes=True, wait=True, progress=lambda _line: None)
    assert len(leftovers(sandbox, spec)) == 2 + 2 + 2 + 2  # 2 roles, 2+2 table policies, 2 consumer policies
    # The CLI reads as the consumer its --consumer names: its grant, its tables only.
    params = tmp_path / "two.yaml"
    params.write_text(yaml.safe_dump(spec.to_dict()))
    out = tmp_path / "payments.csv"
    assert main(["scan", "--params", str(params), "--consumer", "sandbox-analyst2", "--table", "payments",
                 "--limit", "3", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 4
    capsys.readouterr()
    assert main(["scan", "--params", str(params), "--consumer", "sandbox-analyst2", "--table", "orders",
                 "--limit", "3", "--out", str(tmp_path / "orders.csv")]) != 0
    assert "orders" in capsys.readouterr().err and not (tmp_path / "orders.csv").exists()
    assert main(["scan", "--params", str(params), "--consumer", "nobody", "--table", "orders",
                 "--limit", "3", "--out", str(tmp_path / "o.csv")]) != 0
    assert "--consumer: 'nobody' is the analyst_profile of no consumer" in capsys.readouterr().err
    gone = plan_destroy(spec)
    assert {c.name for c in gone.changes if c.resource == "role" and c.action == "delete"} == \
        {sub.role_name for sub in spec.consumer_specs}
    destroy(spec, confirm=gone.id)
    assert leftovers(sandbox, spec) == []


def test_switching_a_two_consumer_spec_between_modes_keeps_both_readers(sandbox):
    spec = two_consumers("role")
    try:
        apply(spec, yes=True, wait=False)
        switched = parse_spec({**spec.to_dict(), "grant_mode": "resource_policy"})
        the_plan = plan(switched)
        deletes = {c.name for c in the_plan.changes if c.resource == "role" and c.action == "delete"}
        assert deletes == {sub.role_name for sub in spec.consumer_specs}
        apply(switched, confirm=the_plan.id, wait=True, progress=lambda _line: None)
        assert access(sandbox, switched, "sandbox-analyst2")["payments"] == {"read"}
        assert access(sandbox, switched, "sandbox-analyst2")["orders"] == set()
    finally:
        destroy(spec, yes=True)
        destroy(parse_spec({**spec.to_dict(), "grant_mode": "resource_policy"}), yes=True)
    assert leftovers(sandbox, spec) == []


def test_run_records_redact_every_consumers_profile_secrets(sandbox):
    from xacct_nb.runbook import _profile_secrets

    secret = sandbox.session("sandbox-analyst2").get_credentials().get_frozen_credentials().secret_key
    assert secret in _profile_secrets(two_consumers("role"))  # a second consumer's analyst profile


def test_a_consumer_in_another_account_is_provisioned_there_and_removed_from_there(sandbox):
    outsider = "arn:aws:iam::333333333333:user/admin"
    data = two_consumers("role").to_dict()
    data["consumers"][1] = {"account_id": "333333333333", "principal": outsider,
                            "consumer_profile": "sandbox-outsider", "analyst_profile": "sandbox-outsider",
                            "tables": ["payments"]}
    spec = parse_spec(data)
    second = spec.consumer_specs[1]
    try:
        the_plan = plan(spec)
        theirs = [c for c in the_plan.changes if c.side == "consumer" and c.account == "333333333333"]
        assert {c.name for c in theirs} == {second.consumer_policy_name}, the_plan.text()
        apply(spec, confirm=the_plan.id, wait=True, progress=lambda _line: None)
        iam = sandbox.session("sandbox-outsider").client("iam")
        assert iam.get_policy(PolicyArn=second.consumer_policy_arn)["Policy"]["AttachmentCount"] == 1
        assert access(sandbox, spec, "sandbox-outsider")["payments"] == {"read"}
        assert access(sandbox, spec, "sandbox-outsider")["orders"] == set()
        # Removed from the list: its role and table policies go. Its assume policy is in an account
        # the shorter spec no longer names, which that plan cannot see (docs/grants.md says so): it
        # stays, harmless without the role, until a spec naming that account (here: the full
        # spec's destroy) removes it.
        fewer = only_first(spec)
        shrink = plan(fewer)
        assert second.role_name in {c.name for c in shrink.changes if c.action == "delete"}
        assert not any(c.account == "333333333333" for c in shrink.changes)
        apply(fewer, confirm=shrink.id, wait=False)
        assert iam.get_policy(PolicyArn=second.consumer_policy_arn)["Policy"]["AttachmentCount"] == 1
    finally:
        destroy(spec, yes=True)
    assert leftovers(sandbox, spec) == []
    outsider_policies = [p["PolicyName"] for p in sandbox.session("sandbox-outsider").client("iam").list_policies(
        Scope="Local")["Policies"] if p["PolicyName"].startswith(spec.env)]
    assert outsider_policies == []  # destroy of the two-consumer spec reaches the other account


def single_keys_of_the_first(spec: AccessSpec) -> AccessSpec:
    """The same env written with today's single-consumer keys: the first consumer at its levels."""
    data = spec.to_dict()
    first = data.pop("consumers")[0]
    data.update(consumer_account_id=first["account_id"], consumer_principal=first["principal"],
                consumer_profile=first["consumer_profile"], analyst_profile=first["analyst_profile"],
                table_access_list=[{"table_name": t, "access_type": level} for t, level in first["tables"].items()])
    return parse_spec(data)


@pytest.mark.parametrize("mode", ["role", "resource_policy"])
def test_going_back_from_a_list_to_single_keys_removes_the_other_consumers_grants(sandbox, mode):
    """A spec rewritten from a `consumers:` list to the single keys keeps only its consumer: the
    others' grants are deleted by the next plan, not left in place unseen."""
    spec = two_consumers(mode)
    first, second = spec.consumer_specs
    single = single_keys_of_the_first(spec)
    try:
        apply(spec, yes=True, wait=True, progress=lambda _line: None)
        assert access(sandbox, spec, "sandbox-analyst2")["payments"] == {"read"}
        back = plan(single)
        deleted = {c.name for c in back.changes if c.action == "delete"}
        if mode == "role":
            assert {second.role_name, second.table_policy_name("payments")} <= deleted, back.text()
        else:
            assert second.grant_policy_name in deleted, back.text()
        assert not any(first.role_name == c.name and c.action == "delete" for c in back.changes)
        apply(single, confirm=back.id, wait=False)
        assert not plan(single).has_changes, plan(single).text()
        assert access(sandbox, single, "sandbox-analyst") == {
            "orders": {"read"}, "customers": {"read", "write"}, "payments": set(), "payroll": set()}
        if mode == "role":
            with pytest.raises(RoleNotFound):
                access(sandbox, spec, "sandbox-analyst2")
        else:
            assert access(sandbox, spec, "sandbox-analyst2") == {
                "orders": set(), "customers": set(), "payments": set(), "payroll": set()}
    finally:
        destroy(spec, confirm=plan_destroy(spec).id)
        destroy(single, confirm=plan_destroy(single).id)
    assert leftovers(sandbox, spec) == []
