"""verify_access against the sandbox (IAM enforced, real HTTP, nothing stubbed).

The matrix must match the spec, follow it when the spec changes, FAIL when reality differs from
it, report what it could not check as SKIPPED (never PASS) — and change nothing at all.
Each test module applies its own env (a unique name) and destroys it at the end.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from moto.dynamodb.models import dynamodb_backends

from helpers import key_session
from xacct_nb import provisioning
from xacct_nb.cli import main as cli_main
from xacct_nb.spec import parse_spec
from xacct_nb.verify import OPERATIONS, AccessMatrix, Cell, VerificationFailed, verify_access

ROOT = Path(__file__).resolve().parents[1]
LOCAL = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
MAIN, CONSUMER = LOCAL["main_account_id"], LOCAL["consumer_account_id"]
ANALYST_ARN = LOCAL["consumer_principal"]
ORDERS_ARN = f"arn:aws:dynamodb:us-east-1:{MAIN}:table/orders"
DELETED_ANALYST_ID = "AIDA" + "Q3EGUXAMPLE7K2D4"  # how IAM shows a deleted user in a trust policy

# Actual outcome per operation (in OPERATIONS order) for params/local.yaml's grants.
A, D, NA = "allowed", "denied", "n/a"
LOCAL_MATRIX = {
    "orders": (A, A, A, A, A, D, D, D),        # Read; has the GSI by_status
    "customers": (A, A, A, A, NA, A, D, D),    # ReadWriteUpdate; no index
    "payments": (A, A, A, A, NA, D, D, D),     # Read; number keys, no index
    "ledger": (A, A, A, A, NA, D, D, D),       # Read; under a customer-managed KMS key
    "payroll": (D, D, D, D, NA, D, D, D),      # not in the spec
}


def local_spec(env: str, **changes):
    return parse_spec({**LOCAL, "env": env, **changes})


def apply(spec) -> None:
    provisioning.apply(spec, yes=True, progress=lambda _line: None)


@contextmanager
def applied(spec):
    apply(spec)
    try:
        yield spec
    finally:
        provisioning.destroy(spec, yes=True)


def actuals(matrix: AccessMatrix, table: str) -> tuple[str, ...]:
    return tuple(matrix.cell(table, op).actual for op in OPERATIONS)


@pytest.fixture(scope="module")
def spec(sandbox):
    with applied(local_spec(f"vt{uuid.uuid4().hex[:8]}")) as applied_spec:
        yield applied_spec


@pytest.fixture(scope="module")
def iam_main(sandbox):
    return sandbox.session("sandbox-main").client("iam")


def test_local_spec_all_pass(spec):
    matrix = verify_access(spec)
    assert matrix.ok, matrix.text()
    for table, expected in LOCAL_MATRIX.items():
        assert actuals(matrix, table) == expected
    assert matrix.cell("role", "analyst assumes the role").result == "PASS"
    outsider = matrix.cell("role", "outsider assumes the role")
    assert (outsider.actual, outsider.result) == ("denied", "PASS")
    # Other tables the main account may hold (made by other test modules) are denied like payroll.
    others = {c.target for c in matrix.cells} - {"role", *LOCAL_MATRIX}
    assert all(c.actual in ("denied", "n/a") for c in matrix.cells if c.target in others)
    # The only SKIPPED cells are index probes of tables without an index.
    assert {c.check for c in matrix.cells if c.result == "SKIPPED"} == {"query_index"}
    assert matrix.summary()["FAIL"] == 0 and matrix.summary()["PASS"] >= 24
    assert matrix.assert_ok() is matrix


def test_expectations_follow_a_changed_level(spec):
    full = local_spec(spec.env, table_access_list=[{"table_name": "orders", "access_type": "Read"},
                                                   {"table_name": "customers", "access_type": "Full"}])
    apply(full)
    try:
        matrix = verify_access(full)
    finally:
        apply(spec)
    assert matrix.ok, matrix.text()
    assert actuals(matrix, "customers") == (A, A, A, A, NA, A, A, A)
    assert matrix.cell("customers", "delete").expected == "allowed"
    assert actuals(matrix, "orders") == LOCAL_MATRIX["orders"]


def test_extra_grant_on_the_role_fails_and_cli_exits_1(spec, iam_main, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**LOCAL, "env": spec.env}))
    assert cli_main(["verify", "--params", str(params)]) == 0

    # Reality drifts from the spec: someone grants DeleteItem on orders to the role by hand.
    iam_main.put_role_policy(RoleName=spec.role_name, PolicyName="hand-made", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": ORDERS_ARN}]}))
    try:
        matrix = verify_access(spec)
        run = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "verify", "--params", str(params)],
                             capture_output=True, text=True, timeout=60)
    finally:
        iam_main.delete_role_policy(RoleName=spec.role_name, PolicyName="hand-made")

    assert [(c.target, c.check, c.expected, c.actual) for c in matrix.failures] == [
        ("orders", "delete", "denied", "allowed")]
    with pytest.raises(VerificationFailed, match="orders/delete: expected denied, got allowed") as failed:
        matrix.assert_ok()
    assert failed.value.exit_code == 1 and "\n" not in str(failed.value)
    assert run.returncode == 1, run.stderr
    assert any(line.split()[:2] == ["orders", "delete"] and "FAIL" in line.split()
               for line in run.stdout.splitlines()), run.stdout


def test_external_id_and_narrowed_trust(iam_main, consumer_user):
    narrowed = local_spec(f"vx{uuid.uuid4().hex[:8]}", external_id="vt-external-id-42",
                          trusted_principal_arns=[ANALYST_ARN])
    other = consumer_user(narrowed.role_arn)
    with applied(narrowed):
        matrix = verify_access(narrowed)
        live = verify_access(narrowed, unlisted_principal=other, extra_tables=[])
        # Tamper with the live trust: no external id, no principal condition.
        iam_main.update_assume_role_policy(RoleName=narrowed.role_name, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                     "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                                                     "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"}}]}))
        tampered = verify_access(narrowed, extra_tables=[])
        # The analyst was deleted and recreated while a trust named it: IAM shows its unique id.
        iam_main.update_assume_role_policy(RoleName=narrowed.role_name, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": DELETED_ANALYST_ID}}]}))
        orphaned = verify_access(narrowed, extra_tables=[])

    assert matrix.ok, matrix.text()
    assert matrix.cell("role", "trust policy as in spec").result == "PASS"
    for check in ("assume without the external id", "assume with a wrong external id"):
        assert (matrix.cell("role", check).actual, matrix.cell("role", check).result) == ("denied", "PASS")
    unlisted = matrix.cell("role", "principal outside the trusted principals assumes")
    assert (unlisted.actual, unlisted.result) == ("document-checked", "PASS")
    assert "ArnEquals aws:PrincipalArn" in unlisted.detail
    assert matrix.summary()["document-checked"] == 1

    probed = live.cell("role", "principal outside the trusted principals assumes")
    assert (probed.actual, probed.result) == ("denied", "PASS"), live.text()

    assert {c.check: c.actual for c in tampered.failures} == {
        "assume without the external id": "allowed", "assume with a wrong external id": "allowed",
        "principal outside the trusted principals assumes": "document-differs",
        "trust policy as in spec": "drifted"}
    drift = orphaned.cell("role", "trust policy as in spec")
    assert (drift.actual, drift.result) == ("drifted", "FAIL")
    assert DELETED_ANALYST_ID in drift.detail and "recreating it does not bring access back" in drift.detail
    assert "unique id" not in tampered.cell("role", "trust policy as in spec").detail


def test_default_trust_is_checked_without_trusted_principal_arns(spec):
    matrix = verify_access(spec, extra_tables=[])
    assert matrix.ok, matrix.text()
    assert matrix.cell("role", "principal outside the trusted principals assumes").actual == "document-checked"
    assert ANALYST_ARN in matrix.cell("role", "principal outside the trusted principals assumes").detail
    assert matrix.cell("role", "trust policy as in spec").actual == "as in spec"


def test_probes_change_nothing(spec, sandbox):
    """Items and schema of both tables are byte-for-byte the same after a verification in which
    EVERY probe is authorised (both tables Full), so each write/delete/admin request really ran."""
    everything = local_spec(spec.env, table_access_list=[{"table_name": "orders", "access_type": "Full"},
                                                         {"table_name": "customers", "access_type": "Full"}])
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    apply(everything)
    try:
        before = {t: _snapshot(ddb, t) for t in ("orders", "customers")}
        matrix = verify_access(everything)
        after = {t: _snapshot(ddb, t) for t in ("orders", "customers")}
    finally:
        apply(spec)
    assert matrix.ok, matrix.text()
    assert actuals(matrix, "orders") == (A,) * 8
    assert before == after


def test_what_cannot_be_checked_is_skipped_never_passed(spec, sandbox):
    blind = dataclasses.replace(spec, outsider_profile=None, main_profile=None)
    matrix = verify_access(blind)
    outsider = matrix.cell("role", "outsider assumes the role")
    discover = matrix.cell("(tables not in the spec)", "discover")
    assert (outsider.actual, outsider.result) == ("skipped", "SKIPPED")
    assert (discover.actual, discover.result) == ("skipped", "SKIPPED")
    # + the query_index of customers, payments and ledger (no index), and the live trust policy
    # (read with the main profile)
    assert matrix.ok and matrix.summary()["SKIPPED"] == 6
    assert matrix.cell("role", "trust policy as in spec").actual == "skipped"

    named = verify_access(blind, extra_tables=["payroll"])
    # Without the owner's DescribeTable the billing mode is unknown: no admin probe is safe.
    assert actuals(named, "payroll") == LOCAL_MATRIX["payroll"][:7] + ("skipped",)
    # An "outsider" that is really the consumer account proves nothing: an error, not a pass.
    wrong = verify_access(spec, outsider=sandbox.session("sandbox-consumer"), extra_tables=[])
    assert wrong.cell("role", "outsider assumes the role").result == "FAIL"


def test_a_granted_table_that_does_not_exist_is_an_error(spec):
    ghost = local_spec(spec.env, table_access_list=[{"table_name": "orders", "access_type": "Read"},
                                                    {"table_name": "no_such_table", "access_type": "Read"}])
    apply(ghost)
    try:
        matrix = verify_access(ghost, extra_tables=[])
    finally:
        apply(spec)
    cell = matrix.cell("no_such_table", "describe")
    assert (cell.actual, cell.result) == ("error", "FAIL")
    assert "ResourceNotFoundException" in cell.detail and "\n" not in cell.detail
    # Probes the level does not grant are still denied by IAM before the table is looked up.
    assert matrix.cell("no_such_table", "delete").actual == "denied"
    assert not matrix.ok


def test_matrix_renderings():
    cells = (Cell("orders", "get", "Read", "allowed", "allowed", "PASS"),
             Cell("orders", "delete", "Read", "denied", "allowed", "FAIL"),
             Cell("role", "outsider assumes the role", "trust", "denied", "skipped", "SKIPPED", "no outsider"))
    matrix = AccessMatrix("dev", "arn:aws:iam::111111111111:role/r", cells)
    assert not matrix.ok and matrix.failures == [cells[1]]
    assert matrix.summary() == {"PASS": 1, "FAIL": 1, "SKIPPED": 1, "document-checked": 0, "total": 3}
    frame = matrix.frame()
    assert list(frame.columns) == ["target", "check", "access", "expected", "actual", "result", "detail"]
    assert frame["result"].tolist() == ["PASS", "FAIL", "SKIPPED"]
    page = matrix._repr_html_()
    for colour in ("#c6efce", "#ffc7ce", "#e7e6e6"):  # green PASS, red FAIL, grey SKIPPED
        assert colour in page
    text = matrix.text().splitlines()
    assert text[0].startswith("Access verification of env dev") and "1 FAIL" in text[0]
    assert text[1].split()[:3] == ["TARGET", "CHECK", "ACCESS"] and len(text) == 5
    with pytest.raises(VerificationFailed, match=r"failed 1 of 3 checks: orders/delete"):
        matrix.assert_ok()


# --- helpers ----------------------------------------------------------------------------------

VOLATILE = {"ItemCount", "TableSizeBytes", "IndexSizeBytes"}  # AWS refreshes these every ~6 h


def _snapshot(ddb, table: str) -> bytes:
    """Every stored item and the description (minus counters) of `table`, as bytes.

    Items are read from the sandbox server's own store — it runs in this process — rather than
    with a Scan: the same items, the exact stored form, and milliseconds instead of ~3 ms per
    item for the 2000 orders (moto serialises slowly). The description comes through the API."""
    stored = dynamodb_backends[MAIN]["us-east-1"].get_table(table).all_items()
    items = sorted(json.dumps(item.to_json(), sort_keys=True, default=repr) for item in stored)
    description = _without(ddb.describe_table(TableName=table)["Table"], VOLATILE)
    return json.dumps({"items": items, "table": description}, sort_keys=True, default=repr).encode()


def _without(value, keys):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


@pytest.fixture
def consumer_user(sandbox, tmp_path):
    """Factory: a new consumer-account user allowed (by its own policy) to assume a role ARN;
    returns its session. Users are deleted afterwards."""
    iam = sandbox.session("sandbox-consumer").client("iam")
    made: list[tuple[str, str]] = []

    def make(role_arn: str):
        name = f"vt-user-{uuid.uuid4().hex[:6]}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append((name, key["AccessKeyId"]))
        return key_session(sandbox, tmp_path / name, key)

    yield make
    for name, key_id in made:
        iam.delete_access_key(UserName=name, AccessKeyId=key_id)
        iam.delete_user_policy(UserName=name, PolicyName="assume")
        iam.delete_user(UserName=name)




# -- a missing role is said so at once; an existing one is waited for --------------------------

def test_a_role_that_was_never_created_is_reported_at_once_not_retried(sandbox):
    import time

    spec = local_spec(f"never{uuid.uuid4().hex[:6]}")
    messages: list[str] = []
    started = time.monotonic()
    matrix = verify_access(spec, wait=60, progress=messages.append)
    assert time.monotonic() - started < 20  # no minute of "IAM changes take a while to propagate"
    assumed = matrix.cell("role", "analyst assumes the role")
    assert assumed.result == "FAIL" and assumed.actual == "denied"
    assert f"the role does not exist in account {MAIN} (checked with main_profile), so this is no " \
           "propagation delay" in assumed.detail
    assert not [m for m in messages if "retrying" in m]


def test_a_role_that_exists_but_denies_is_waited_for_as_propagation(sandbox):
    from xacct_nb.errors import AccessDenied
    from xacct_nb.sessions import assume_from_spec

    spec = local_spec(f"half{uuid.uuid4().hex[:6]}")
    provisioning.apply(spec, yes=True, sides=("main",), wait=False)  # the role, not the consumer policy
    messages: list[str] = []
    try:
        with pytest.raises(AccessDenied) as denied:
            assume_from_spec(spec, wait=1.5, progress=messages.append)
    finally:
        provisioning.destroy(spec, yes=True)
    assert messages and all("the role exists (checked with main_profile), so IAM has not propagated the "
                            "change yet — retrying in" in m for m in messages)
    assert f"the role exists in account {MAIN} (checked with main_profile)" in str(denied.value)
    assert "does not exist" not in str(denied.value)
