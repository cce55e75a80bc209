"""grant_mode resource_policy end to end on the sandbox (which evaluates resource policies
cross-account): the analyst reads every granted table by ARN with its OWN session (no AssumeRole
is made) and gets exactly the rows a role-mode read returns; the outsider and an unlisted consumer
principal are denied; switching modes never leaves the analyst without access."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pandas as pd
import pytest
import yaml
from botocore.exceptions import ClientError

from xacct_nb.cli import main as cli_main
from xacct_nb.dynamo import RemoteTable
from xacct_nb.errors import AccessDenied, InputError, is_access_denied
from xacct_nb.provisioning import apply, destroy, plan
from xacct_nb.provisioning.executor import execute
from xacct_nb.provisioning.live import connect
from xacct_nb.sessions import assume_from_spec, reading_session
from xacct_nb.spec import AccessSpec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
# orders and customers: payments stays ungranted (the matrix proves it denied), and ledger's
# customer-managed key is left out (resource_policy mode writes the key-policy statement only with manage_key_policy).
BASE["table_access_list"] = [t for t in BASE["table_access_list"] if t["table_name"] in ("orders", "customers")]


@pytest.fixture(scope="module")
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


@pytest.fixture
def spec(aws):
    spec = parse_spec({**BASE, "env": f"e{uuid4().hex[:6]}", "grant_mode": "resource_policy"})
    yield spec
    destroy(spec, yes=True, **aws)


def assume_calls(session) -> list[str]:
    calls: list[str] = []
    session.events.register("before-call.sts.AssumeRole", lambda **_: calls.append("AssumeRole"))
    return calls


def rows(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return df.sort_values(key).reset_index(drop=True)[sorted(df.columns)]


def test_the_analyst_reads_by_arn_with_its_own_session_the_rows_a_role_read_returns(spec, aws, sandbox):
    lines: list[str] = []
    result = apply(spec, yes=True, analyst=sandbox.session("sandbox-analyst"), progress=lines.append, **aws)
    assert result.assumable is True and "can read" in lines[-1]
    assert "readable" in result.text()
    analyst = sandbox.session("sandbox-analyst")
    calls = assume_calls(analyst)
    session = reading_session(spec, source=analyst)
    assert session is analyst
    own = {t: RemoteTable(session, spec.read_name(t)).scan(allow_full_scan=True) for t in spec.table_names}
    assert calls == []  # no AssumeRole: the analyst's own principal read

    role_spec = parse_spec({**spec.to_dict(), "grant_mode": "role"})
    apply(role_spec, yes=True, wait=False, **aws)  # the switch back, so the same tables by the role
    role = assume_from_spec(role_spec, source=sandbox.session("sandbox-analyst"), wait=30)
    for table, df in own.items():
        by_role = RemoteTable(role, table).scan(allow_full_scan=True)
        key = [k for k in ("customer_id", "order_id") if k in by_role.columns]
        assert len(df) > 0
        pd.testing.assert_frame_equal(rows(df, key), rows(by_role, key))


def test_outsider_and_an_unlisted_consumer_principal_are_denied(spec, aws, sandbox):
    apply(spec, yes=True, wait=False, **aws)
    arn = spec.table_arn("orders")
    for profile in ("sandbox-outsider", "sandbox-consumer"):  # the consumer's admin is not named
        ddb = sandbox.session(profile).client("dynamodb")
        with pytest.raises(ClientError) as err:
            ddb.scan(TableName=arn, Limit=1)
        assert is_access_denied(err.value), profile
    with pytest.raises(AccessDenied):  # through RemoteTable: the one-line error
        RemoteTable(sandbox.session("sandbox-consumer"), arn).scan(max_items=1)
    # the Read grant allows no write
    with pytest.raises(ClientError) as err:
        sandbox.session("sandbox-analyst").client("dynamodb").put_item(
            TableName=arn, Item={"customer_id": {"S": "X"}, "order_id": {"S": "Y"}})
    assert is_access_denied(err.value)


def test_reading_session_refuses_a_session_of_another_account(spec, sandbox):
    with pytest.raises(InputError, match="expected the consumer account 222222222222"):
        reading_session(spec, source=sandbox.session("sandbox-outsider"))


def test_cli_scan_reads_by_arn_without_assuming(spec, aws, sandbox, tmp_path):
    apply(spec, yes=True, wait=False, **aws)
    params = tmp_path / "rp.yaml"
    params.write_text(yaml.safe_dump(spec.to_dict()))
    out = tmp_path / "orders.csv"
    assert cli_main(["scan", "--params", str(params), "--table", "orders", "--limit", "7", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 7


def can_read(sandbox, spec: AccessSpec, role_spec: AccessSpec) -> bool:
    """The analyst can read the orders table in one of the two ways."""
    analyst = sandbox.session("sandbox-analyst")
    try:
        analyst.client("dynamodb").describe_table(TableName=spec.table_arn("orders"))
        return True
    except ClientError as err:
        assert is_access_denied(err)
    try:
        role = assume_from_spec(role_spec, source=analyst)
        role.client("dynamodb").describe_table(TableName="orders")
        return True
    except (AccessDenied, ClientError):
        return False


@pytest.mark.parametrize("start", ["role", "resource_policy"])
def test_switching_modes_never_leaves_the_analyst_without_access(spec, aws, sandbox, start):
    role_spec = parse_spec({**spec.to_dict(), "grant_mode": "role"})
    first, second = (role_spec, spec) if start == "role" else (spec, role_spec)
    apply(first, yes=True, wait=False, **aws)
    try:
        assert can_read(sandbox, spec, role_spec)
        iam = connect(second, aws["main"], aws["consumer"])
        probes: list[bool] = []
        for client in (iam.main, iam.consumer, iam.main_ddb):
            client.meta.events.register("after-call.*.*", lambda model, **_: probes.append(
                can_read(sandbox, spec, role_spec)) if not model.name.startswith(("Get", "List", "Describe"))
                else None)
        from xacct_nb.provisioning.planner import build_plan

        switch = build_plan(second, iam, destroy=False)
        result = execute(switch, switch.id, iam)
        assert len(probes) == result.calls > 3 and all(probes), probes
        assert not plan(second, **aws).has_changes
    finally:
        destroy(role_spec, yes=True, **aws)


def test_the_panel_shows_table_names_and_reads_by_arn(spec, aws, sandbox):
    from xacct_nb.widgets import ExplorerPanel

    apply(spec, yes=True, wait=False, **aws)
    panel = ExplorerPanel(reading_session(spec, source=sandbox.session("sandbox-analyst")), spec.read_names,
                          limit=20)
    assert panel.table.label == "orders" and panel.table.value == "orders"
    panel.run()  # the analyst's own session reaches the main account's table only by its ARN
    assert panel.error is None and len(panel.result) == 20
    assert "scan orders" in panel.status.value


def test_verification_matrix_in_resource_policy_mode_passes_and_flags_drift(spec, aws, sandbox):
    from xacct_nb import policies
    from xacct_nb.verify import verify_access

    apply(spec, yes=True, wait=False, **aws)
    matrix = verify_access(spec, analyst=sandbox.session("sandbox-analyst"), main=aws["main"],
                           consumer=aws["consumer"], outsider=sandbox.session("sandbox-outsider"))
    failed = [c for c in matrix.cells if c.result == "FAIL"]
    assert not failed, failed
    assert matrix.cell("orders", "scan").actual == "allowed" and matrix.cell("orders", "write").actual == "denied"
    assert matrix.cell("customers", "write").actual == "allowed"
    assert matrix.cell("grant", "outsider reads by ARN").actual == "denied"
    assert matrix.cell("grant", "unlisted consumer principal reads by ARN").actual == "denied"
    assert matrix.cell("payments", "scan").actual == "denied"  # not in the spec

    ddb = aws["main"].client("dynamodb")
    arn = spec.table_arn("orders")
    reply = ddb.get_resource_policy(ResourceArn=arn)
    document = json.loads(reply["Policy"])
    ours = policies.our_statements(spec, document)[0]
    edited = {**ours, "Action": [*ours["Action"], "dynamodb:PutItem"]}  # our statement, edited by hand
    foreign = {"Sid": "SomeoneElse", "Effect": "Allow", "Principal": {"AWS": spec.consumer_principal},
               "Action": "dynamodb:DeleteItem", "Resource": arn}
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(
        {**document, "Statement": [s for s in document["Statement"] if s != ours] + [edited, foreign]}))
    aws["consumer"].client("iam").detach_user_policy(UserName="analyst", PolicyArn=spec.grant_policy_arn)
    drifted = verify_access(spec, analyst=sandbox.session("sandbox-analyst"), main=aws["main"],
                            consumer=aws["consumer"], outsider=sandbox.session("sandbox-outsider"))
    assert drifted.cell("orders", "our statement as in spec").result == "FAIL"
    assert "SomeoneElse" in drifted.cell("orders", "no foreign statement grants more").detail
    assert drifted.cell("orders", "no foreign statement grants more").result == "FAIL"
    assert "not attached" in drifted.cell("grant", "consumer-side policy attached").detail
    assert drifted.cell("grant", "consumer-side policy attached").result == "FAIL"
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document))  # destroy keeps foreign ones


def test_the_panels_partiql_is_refused_in_resource_policy_mode(spec, aws, sandbox):
    """A statement names the bare table: with the analyst's own session it would run in the
    consumer account (on a table of the same name there, or none) — refused in one line."""
    from xacct_nb.widgets import ExplorerPanel

    apply(spec, yes=True, wait=False, **aws)
    panel = ExplorerPanel(reading_session(spec, source=sandbox.session("sandbox-analyst")), spec.read_names,
                          limit=20)
    panel.mode.value = "partiql"
    panel.statement.value = 'SELECT * FROM "orders"'
    panel.run()
    assert panel.result is None
    assert panel.error is not None and "not available through a resource policy" in panel.error
    assert "grant_mode: role" in panel.error and "\n" not in panel.error
