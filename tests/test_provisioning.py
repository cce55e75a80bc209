"""Provisioning against the sandbox (IAM enforced): plan, apply, re-apply, changes, destroy, CLI.

Every test uses its own env name (so its own role and policy names) and destroys at the end;
the consumer side attaches to the shared `analyst` user, which is fine because the policy name
carries the env.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.cli import main
from xacct_nb.errors import AccessDenied, ConfirmationRequired, InputError, SpecError, is_access_denied
from xacct_nb.policies import consumer_policy, same_document, table_policy, trust_policy
from xacct_nb.provisioning import apply, destroy, plan, plan_destroy, wait_until_assumable
from xacct_nb.spec import AccessSpec, load_spec, parse_spec
from xacct_nb.terraform import write_terraform

ROOT = Path(__file__).resolve().parents[1]
# local.yaml's accounts and profiles with two tables of its own (these tests are about what
# apply/destroy do, not about the demo's grants, which cover every seeded table)
BASE = {**yaml.safe_load((ROOT / "params" / "local.yaml").read_text()),
        "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                              {"table_name": "customers", "access_type": "ReadWriteUpdate"}]}


def new_spec(**overrides) -> AccessSpec:
    return parse_spec({**BASE, "env": f"t{uuid4().hex[:6]}", **overrides})


def same_env(spec: AccessSpec, **overrides) -> AccessSpec:
    return parse_spec({**spec.to_dict(), **overrides})


def tables(**levels: str) -> list[dict[str, str]]:
    return [{"table_name": name, "access_type": level} for name, level in levels.items()]


def quiet(_line: str) -> None:
    pass


def live_document(iam, arn: str):
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


def tag_dict(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def attached_to_role(iam, role: str) -> set[str]:
    return {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}


def attached_to_user(iam, user: str) -> set[str]:
    return {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}


def exists(call, **kwargs) -> bool:
    try:
        call(**kwargs)
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchEntity"
        return False
    return True


def can_assume(sandbox, profile: str, spec: AccessSpec) -> bool:
    sts = sandbox.session(profile).client("sts")
    try:
        sts.assume_role(RoleArn=spec.role_arn, RoleSessionName="test")
    except ClientError as err:
        assert is_access_denied(err)
        return False
    return True


def changed(the_plan) -> set[tuple[str, str, str]]:
    return {(c.resource, c.name, c.action) for c in the_plan.changes if c.action != "no-op"}


@pytest.fixture(scope="module")
def main_iam(sandbox):
    return sandbox.session("sandbox-main").client("iam")


@pytest.fixture(scope="module")
def consumer_iam(sandbox):
    return sandbox.session("sandbox-consumer").client("iam")


@pytest.fixture(scope="module")
def aws(sandbox):
    """Sessions reused across calls: a fresh profile session re-reads botocore's models (~60 ms a
    client). Tests that check the profile defaults (and the CLI) pass none."""
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture
def spec(aws):
    spec = new_spec()
    yield spec
    destroy(spec, yes=True, **aws)


def test_apply_from_scratch_creates_exactly_the_spec(spec, sandbox, main_iam, consumer_iam):
    first = plan(spec)
    assert {c.action for c in first.changes} == {"create"}
    lines: list[str] = []
    result = apply(spec, confirm=first.id, progress=lines.append)
    assert result.plan.id == first.id and result.done == first.changes
    assert result.assumable is True and spec.role_arn in lines[-1]

    role = main_iam.get_role(RoleName=spec.role_name)["Role"]
    assert same_document(role["AssumeRolePolicyDocument"], trust_policy(spec))
    assert tag_dict(role["Tags"]) == spec.resource_tags
    assert (role["Description"], role["MaxSessionDuration"]) == (spec.role_description, 3600)
    assert attached_to_role(main_iam, spec.role_name) == {spec.table_policy_arn(t) for t in spec.table_names}
    for table in spec.table_access_list:
        arn = spec.table_policy_arn(table.table_name)
        assert same_document(live_document(main_iam, arn), table_policy(spec, table))
        assert tag_dict(main_iam.get_policy(PolicyArn=arn)["Policy"]["Tags"]) == spec.resource_tags
    assert same_document(live_document(consumer_iam, spec.consumer_policy_arn), consumer_policy(spec))
    assert spec.consumer_policy_arn in attached_to_user(consumer_iam, "analyst")

    assert can_assume(sandbox, "sandbox-analyst", spec)
    assert not can_assume(sandbox, "sandbox-outsider", spec)


def test_reapply_plans_only_no_ops_and_makes_no_write_call(spec, aws):
    apply(spec, yes=True, wait=False, **aws)
    again = plan(spec, **aws)
    assert not again.has_changes and {c.action for c in again.changes} == {"no-op"}
    assert again.summary()["no-op"] == len(again.changes) and "no changes" in again.text()
    result = apply(spec, **aws)  # nothing to change, so nothing to confirm
    assert (result.calls, result.done, result.assumable) == (0, (), None)
    assert list(again.frame().columns) == ["side", "resource", "name", "action", "detail"]
    assert len(again.frame()) == len(again.changes) and "<table" in again._repr_html_()


def test_access_level_flips_add_versions_and_never_exceed_five(spec, aws, main_iam):
    apply(spec, yes=True, wait=False, **aws)
    arn, level = spec.table_policy_arn("orders"), "Read"
    for flip in range(6):
        level = "Full" if level == "Read" else "Read"
        flipped = same_env(spec, table_access_list=tables(orders=level, customers="ReadWriteUpdate"))
        result = apply(flipped, yes=True, **aws)
        assert changed(result.plan) == {("policy-version", spec.table_policy_name("orders"), "update")}
        # One CreatePolicyVersion; once five versions exist, first one DeletePolicyVersion.
        assert result.calls == (1 if flip < 4 else 2)
        versions = main_iam.list_policy_versions(PolicyArn=arn)["Versions"]
        assert len(versions) == min(flip + 2, 5)
        assert same_document(live_document(main_iam, arn), table_policy(flipped, flipped.table("orders")))
    assert level == "Read"
    assert {v["VersionId"] for v in versions} == {"v3", "v4", "v5", "v6", "v7"}  # the oldest went


def test_adding_and_removing_tables(spec, aws, main_iam):
    apply(spec, yes=True, wait=False, **aws)
    later = same_env(spec, table_access_list=tables(orders="Read", payments="Full"))
    the_plan = plan(later, **aws)
    customers, payments = spec.table_policy_name("customers"), later.table_policy_name("payments")
    assert changed(the_plan) == {("attachment", customers, "delete"), ("policy", customers, "delete"),
                                 ("policy", payments, "create"), ("attachment", payments, "create")}
    apply(later, confirm=the_plan.id, wait=False, **aws)
    assert not exists(main_iam.get_policy, PolicyArn=spec.table_policy_arn("customers"))
    assert attached_to_role(main_iam, spec.role_name) == {spec.table_policy_arn("orders"),
                                                         spec.table_policy_arn("payments")}
    assert same_document(live_document(main_iam, spec.table_policy_arn("payments")),
                         table_policy(later, later.table("payments")))


def test_destroy_removes_ours_and_leaves_an_untagged_lookalike_policy(spec, aws, main_iam, consumer_iam):
    apply(spec, yes=True, wait=False, **aws)
    ghost = spec.table_policy_name("ghost")  # our name prefix, but not created (tagged) by us
    ghost_arn = main_iam.create_policy(PolicyName=ghost, PolicyDocument=json.dumps(
        table_policy(spec, spec.table("orders"))))["Policy"]["Arn"]
    try:
        the_plan = plan_destroy(spec, **aws)
        assert ("policy", ghost, "left-alone") in changed(the_plan)
        result = destroy(spec, confirm=the_plan.id, **aws)
        assert ghost in result.text() and "left alone" in result.text()

        assert not plan_destroy(spec, **aws).has_changes
        assert not exists(main_iam.get_role, RoleName=spec.role_name)
        for table in spec.table_names:
            assert not exists(main_iam.get_policy, PolicyArn=spec.table_policy_arn(table))
        assert not exists(consumer_iam.get_policy, PolicyArn=spec.consumer_policy_arn)
        assert spec.consumer_policy_arn not in attached_to_user(consumer_iam, "analyst")
        assert exists(main_iam.get_policy, PolicyArn=ghost_arn)
    finally:
        main_iam.delete_policy(PolicyArn=ghost_arn)


def test_an_untagged_lookalike_role_blocks_apply_and_survives_destroy(sandbox, aws, main_iam):
    spec = new_spec()
    main_iam.create_role(RoleName=spec.role_name, AssumeRolePolicyDocument=json.dumps(trust_policy(spec)))
    try:
        the_plan = plan(spec, **aws)
        assert [(c.resource, c.name) for c in the_plan.blocked] == [("role", spec.role_name)]
        with pytest.raises(InputError, match="will not touch them: role " + spec.role_name):
            apply(spec, confirm=the_plan.id, **aws)
        assert plan(spec, **aws).id == the_plan.id  # nothing was created
        assert ("role", spec.role_name, "left-alone") in changed(plan_destroy(spec, **aws))
        assert destroy(spec, yes=True, **aws).calls == 0
        assert exists(main_iam.get_role, RoleName=spec.role_name)
    finally:
        main_iam.delete_role(RoleName=spec.role_name)


def test_without_the_consumer_policy_the_analyst_cannot_assume(spec, aws, sandbox, consumer_iam):
    # The whole consumer account is trusted, so only the consumer policy decides who gets in.
    spec = same_env(spec, trust_whole_consumer_account=True)
    apply(spec, yes=True, wait=False, **aws)
    assert can_assume(sandbox, "sandbox-analyst", spec)
    other = f"bob-{spec.env}"
    consumer_iam.create_user(UserName=other)
    moved = same_env(spec, consumer_principal=f"arn:aws:iam::222222222222:user/{other}", analyst_profile=None)
    try:
        the_plan = plan(moved, **aws)
        assert changed(the_plan) == {("attachment", spec.consumer_policy_name, "delete"),
                                     ("attachment", spec.consumer_policy_name, "create")}
        apply(moved, confirm=the_plan.id, **aws)
        assert attached_to_user(consumer_iam, other) == {spec.consumer_policy_arn}
        assert not can_assume(sandbox, "sandbox-analyst", spec)
    finally:
        destroy(moved, yes=True, **aws)
        consumer_iam.delete_user(UserName=other)


def test_by_default_the_trust_admits_only_the_consumer_principal(spec, aws, sandbox, consumer_iam):
    apply(spec, yes=True, wait=False, **aws)
    other = f"eve-{spec.env}"
    consumer_iam.create_user(UserName=other)
    key = consumer_iam.create_access_key(UserName=other)["AccessKey"]
    # Even with the consumer policy attached to it, another consumer user is kept out by the trust.
    consumer_iam.attach_user_policy(UserName=other, PolicyArn=spec.consumer_policy_arn)
    try:
        sts = boto3.client("sts", endpoint_url=sandbox.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        with pytest.raises(ClientError) as denied:
            sts.assume_role(RoleArn=spec.role_arn, RoleSessionName="eve")
        assert is_access_denied(denied.value)
        assert can_assume(sandbox, "sandbox-analyst", spec)
    finally:
        consumer_iam.detach_user_policy(UserName=other, PolicyArn=spec.consumer_policy_arn)
        consumer_iam.delete_access_key(UserName=other, AccessKeyId=key["AccessKeyId"])
        consumer_iam.delete_user(UserName=other)


def test_nothing_changes_without_the_plan_id(spec, aws, main_iam):
    first = plan(spec, **aws)
    with pytest.raises(ConfirmationRequired) as refused:
        apply(spec, **aws)
    assert first.id in str(refused.value) and refused.value.exit_code == 2
    # the env name is no confirmation: it would confirm any plan, today's or next year's
    with pytest.raises(ConfirmationRequired, match=f"is the env name, not a plan id: review plan {first.id}"):
        apply(spec, confirm=spec.env, **aws)
    with pytest.raises(ConfirmationRequired, match=f"the plan changed since it was reviewed — new id {first.id}"):
        apply(spec, confirm="0badc0de", **aws)
    assert spec.role_name not in [r["RoleName"] for r in main_iam.list_roles()["Roles"]]  # all refused
    assert plan(spec, **aws).id == first.id  # same id: same live state, still all "create"
    apply(spec, confirm=first.id, wait=False, **aws)
    teardown = plan_destroy(spec, **aws)
    with pytest.raises(ConfirmationRequired, match=teardown.id):
        destroy(spec, **aws)
    with pytest.raises(ConfirmationRequired, match="env name"):
        destroy(spec, confirm=spec.env, **aws)
    assert plan_destroy(spec, **aws).id == teardown.id


def test_a_reviewed_id_is_refused_once_the_state_it_was_read_from_changes(spec, aws, main_iam):
    """The id covers what was read, not only the rows: a policy version added behind our back
    leaves every row as it was, and still the reviewed id no longer confirms."""
    apply(spec, yes=True, wait=False, **aws)
    flipped = same_env(spec, table_access_list=tables(orders="Full", customers="Read"))
    reviewed = plan(flipped, **aws)
    assert reviewed.has_changes
    customers = spec.table_policy_arn("customers")
    main_iam.create_policy_version(PolicyArn=customers, PolicyDocument=json.dumps(live_document(main_iam, customers)),
                                   SetAsDefault=False)
    now = plan(flipped, **aws)
    assert [c.row() for c in now.changes] == [c.row() for c in reviewed.changes]  # same rows ...
    assert now.id != reviewed.id                                                   # ... other state
    with pytest.raises(ConfirmationRequired) as refused:
        apply(flipped, confirm=reviewed.id, wait=False, **aws)
    assert str(refused.value).startswith(f"the plan changed since it was reviewed — new id {now.id}")
    assert not plan(spec, **aws).has_changes  # nothing was applied: the live state is still spec's
    assert apply(flipped, confirm=now.id, wait=False, **aws).done


def test_sessions_must_be_given_and_in_the_spec_accounts(sandbox):
    with pytest.raises(InputError, match="main_profile is account 222222222222, expected 111111111111"):
        plan(new_spec(main_profile="sandbox-consumer"))
    with pytest.raises(InputError, match="consumer_profile is account 333333333333"):
        plan(new_spec(), consumer=sandbox.session("sandbox-outsider"))
    with pytest.raises(InputError, match="main_profile is not set"):
        plan(new_spec(main_profile=None))
    with pytest.raises(InputError, match="consumer_profile: AWS profile 'no-such-profile' not found"):
        plan(new_spec(consumer_profile="no-such-profile"))
    with pytest.raises(SpecError, match="consumer_principal: .*user/nobody does not exist"):
        plan(new_spec(consumer_principal="arn:aws:iam::222222222222:user/nobody"))


def test_a_role_that_does_not_exist_is_said_at_once_not_waited_for(sandbox):
    never_applied = new_spec()  # its role does not exist: main_profile can tell, so no retries
    lines: list[str] = []
    started = time.monotonic()
    assert wait_until_assumable(never_applied, timeout=30, progress=lines.append) is False
    assert time.monotonic() - started < 5  # not the 30 s of retries
    assert any("does not exist" in line for line in lines), lines
    # An analyst profile that is not consumer_principal proves nothing: not checked at all.
    assert wait_until_assumable(new_spec(analyst_profile="sandbox-outsider"), progress=quiet) is None
    assert wait_until_assumable(new_spec(analyst_profile=None)) is None


def test_waiting_for_an_existing_role_is_bounded_and_reports_each_attempt(sandbox, main_iam):
    spec = new_spec()  # the role exists but does not (yet) trust the analyst: retried, bounded
    main_iam.create_role(RoleName=spec.role_name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::333333333333:root"}}]}))
    try:
        lines: list[str] = []
        started = time.monotonic()
        assert wait_until_assumable(spec, timeout=1.5, progress=lines.append) is False
        assert time.monotonic() - started < 1.5 + 8  # the deadline plus one attempt, generously
        assert sum("denied" in line for line in lines) >= 2, lines  # a retry, then the final denial
    finally:
        main_iam.delete_role(RoleName=spec.role_name)


@pytest.fixture
def limited_main(sandbox, main_iam, monkeypatch):
    """A main-account user allowed everything except iam:AttachRolePolicy."""
    name = f"limited-{uuid4().hex[:6]}"
    main_iam.create_user(UserName=name)
    main_iam.put_user_policy(UserName=name, PolicyName="all-but-attach", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                      {"Effect": "Deny", "Action": "iam:AttachRolePolicy", "Resource": "*"}]}))
    key = main_iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint_url)  # keys alone carry no endpoint
    yield boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        region_name="us-east-1")
    main_iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    main_iam.delete_user_policy(UserName=name, PolicyName="all-but-attach")
    main_iam.delete_user(UserName=name)


def test_an_interrupted_apply_says_what_it_did_and_a_rerun_converges(spec, aws, limited_main, main_iam):
    with pytest.raises(AccessDenied) as failed:
        apply(spec, yes=True, main=limited_main, consumer=aws["consumer"], wait=False)
    message = str(failed.value)
    assert f"stopped at 'create attachment {spec.table_policy_name('orders')}" in message
    assert f"create role {spec.role_name}" in message and "re-run apply" in message
    assert [c.resource for c in failed.value.done] == ["role", "policy"]

    rerun = apply(spec, yes=True, wait=False, **aws)
    assert ("role", "create") not in {(c.resource, c.action) for c in rerun.done}
    assert not plan(spec, **aws).has_changes
    ours = [p for p in main_iam.list_policies(Scope="Local")["Policies"]
            if p["PolicyName"].startswith(spec.table_policy_name(""))]
    assert sorted(p["PolicyName"] for p in ours) == sorted(spec.table_policy_name(t) for t in spec.table_names)
    assert all(len(main_iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"]) == 1 for p in ours)
    assert attached_to_role(main_iam, spec.role_name) == {p["Arn"] for p in ours}


def test_terraform_export_carries_the_documents_apply_created(spec, aws, main_iam, consumer_iam, tmp_path):
    apply(spec, yes=True, wait=False, **aws)
    exported = json.loads(write_terraform(spec, tmp_path / "x.tf.json").read_text())["resource"]
    role = exported["aws_iam_role"]["ddb_access_role"]
    assert role["name"] == spec.role_name
    assert same_document(role["assume_role_policy"],
                         main_iam.get_role(RoleName=spec.role_name)["Role"]["AssumeRolePolicyDocument"])
    blocks = exported["aws_iam_policy"].values()
    assert len(blocks) == len(spec.table_names) + 1
    for block in blocks:
        main = block["provider"] == "aws.main"
        account = spec.main_account_id if main else spec.consumer_account_id
        arn = f"arn:aws:iam::{account}:policy/{block['name']}"
        assert same_document(block["policy"], live_document(main_iam if main else consumer_iam, arn))


def cli(*args: str) -> subprocess.CompletedProcess:
    # The child inherits os.environ, where the sandbox fixture put AWS_CONFIG_FILE & co.
    return subprocess.run([sys.executable, "-m", "xacct_nb.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_plan_apply_export_destroy(sandbox, tmp_path, capsys, monkeypatch):
    env = f"t{uuid4().hex[:6]}"
    params = tmp_path / f"{env}.yaml"
    params.write_text(yaml.safe_dump({**BASE, "env": env}))
    spec = load_spec(params)
    try:
        shown = cli("plan", "--params", str(params))
        assert shown.returncode == 0 and f"Plan {plan(spec).id}" in shown.stdout and "create" in shown.stdout
        dry = cli("apply", "--params", str(params))
        reviewed = plan(spec).id
        assert dry.returncode == 0 and f"dry run: nothing changed; to apply exactly this plan: --confirm {reviewed}" \
            in dry.stdout
        assert {c.action for c in plan(spec).changes} == {"create"}

        # the plan changes after the review (another table granted): the reviewed id is refused
        wider = tmp_path / "wider.yaml"
        wider.write_text(yaml.safe_dump({**BASE, "env": env, "table_access_list": [
            *BASE["table_access_list"], {"table_name": "payroll", "access_type": "Read"}]}))
        stale = cli("apply", "--params", str(wider), "--confirm", reviewed)
        assert stale.returncode == 2 and "the plan changed since it was reviewed" in stale.stderr, stale.stderr
        assert plan(spec).changes and {c.action for c in plan(spec).changes} == {"create"}  # nothing made
        both = cli("apply", "--params", str(params), "--confirm", reviewed, "--yes")
        assert both.returncode == 2 and "--confirm and --yes: give one" in both.stderr

        done = cli("apply", "--params", str(params), "--confirm", reviewed)
        assert done.returncode == 0, done.stderr
        assert "Applied plan" in done.stdout and "is assumable" in done.stdout
        assert done.stdout.count("SIDE") == 1, "apply prints the change table twice"
        assert not plan(spec).has_changes

        # In-process from here on (a child process costs ~1.5 s): same main(), same exit codes.
        assert main(["apply", "--params", str(params), "-p", "main_profile=sandbox-consumer", "--yes"]) == 2
        assert "main_profile is account 222222222222" in capsys.readouterr().err
        monkeypatch.chdir(tmp_path)
        assert main(["export-terraform", "--params", str(params), "--side", "main"]) == 0
        assert "aws_iam_role" in json.loads((tmp_path / f"{env}-xacct-nb.tf.json").read_text())["resource"]

        gone = cli("destroy", "--params", str(params), "--yes")
        assert gone.returncode == 0 and "Destroyed plan" in gone.stdout
        assert not plan_destroy(spec).has_changes
    finally:
        destroy(spec, yes=True)


def test_per_side_plans_and_live_state(spec, aws, main_iam):
    """Notebook 01 plans/applies only the main side, 02 only the consumer side."""
    from xacct_nb.provisioning import live_state

    main_only = plan(spec, main=aws["main"], sides=("main",))
    assert main_only.changes and {c.side for c in main_only.changes} == {"main"}
    apply(spec, yes=True, main=aws["main"], sides=("main",), wait=False)
    assert {c.side for c in plan(spec, **aws).changes if c.action == "create"} == {"consumer"}

    # a level changed behind our back shows in the live state next to what the spec says
    flipped = same_env(spec, table_access_list=tables(orders="Full", customers="ReadWriteUpdate"))
    apply(flipped, yes=True, main=aws["main"], sides=("main",), wait=False)
    state = live_state(spec, main=aws["main"], sides=("main",)).set_index("name")
    assert state.loc[spec.role_name, "grants"] == (
        f"sts:AssumeRole to arn:aws:iam::{spec.consumer_account_id}:root, with conditions "
        f'{{"ArnEquals": {{"aws:PrincipalArn": ["{spec.consumer_principal}"]}}}}')
    orders = state.loc[spec.table_policy_name("orders"), "grants"]
    assert orders.startswith("Full on orders") and "spec says Read" in orders
    assert state.loc[spec.table_policy_name("customers"), "attached_to"] == f"role {spec.role_name}"
    with pytest.raises(InputError, match="sides"):
        plan(spec, sides=("mian",))


def test_cli_destroy_into_a_closed_pipe_finishes_without_traceback(sandbox, tmp_path):
    """`xacct-nb destroy … --yes | head -2`: the reader leaves early; destroy still completes,
    exits 0, and prints no BrokenPipe traceback."""
    env = f"t{uuid4().hex[:6]}"
    params = tmp_path / f"{env}.yaml"
    params.write_text(yaml.safe_dump({**BASE, "env": env}))
    spec = load_spec(params)
    apply(spec, yes=True, wait=False, progress=quiet)
    try:
        read, write = os.pipe()
        os.close(read)  # the reader (head) is gone before the first line
        proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "destroy", "--params",
                               str(params), "--yes"], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60)
        os.close(write)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
        assert not plan_destroy(spec).has_changes  # the destroy happened
    finally:
        destroy(spec, yes=True)
