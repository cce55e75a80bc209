"""The sandbox itself: three accounts, profiles that reach it, seeded data, enforcement on."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from xacct_nb.errors import InputError, is_access_denied
from xacct_nb.sandbox import ACCOUNTS, Sandbox
from xacct_nb.sandbox.seed import items


def test_each_profile_is_its_own_account(sandbox):
    seen = {}
    for profile in ("sandbox-main", "sandbox-consumer", "sandbox-analyst", "sandbox-outsider"):
        # The ordinary path: a profile name, resolved through AWS_CONFIG_FILE.
        seen[profile] = boto3.Session(profile_name=profile).client("sts").get_caller_identity()
    assert seen["sandbox-main"]["Account"] == ACCOUNTS["main"]
    assert seen["sandbox-consumer"]["Account"] == ACCOUNTS["consumer"]
    assert seen["sandbox-analyst"]["Arn"] == "arn:aws:iam::222222222222:user/analyst"
    assert seen["sandbox-outsider"]["Account"] == ACCOUNTS["outsider"]


def test_profiles_carry_the_endpoint(sandbox):
    cfg = sandbox.config_file.read_text()
    assert f"endpoint_url = {sandbox.endpoint_url}" in cfg
    assert oct(sandbox.credentials_file.stat().st_mode & 0o777) == "0o600"


def test_seeded_tables_hold_what_was_seeded(sandbox):
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    # other test modules add tables of their own (patchtest-*), so: the seeded ones are all there
    assert {"customers", "ledger", "orders", "payments"} <= set(ddb.list_tables()["TableNames"])
    expected = list(items("orders", 2000))
    got = ddb.get_item(TableName="orders", Key={"customer_id": expected[97]["customer_id"],
                                                "order_id": expected[97]["order_id"]})["Item"]
    assert got == expected[97]  # wire format round trip, incl. a number past 2**63
    signed = expected[11]
    got = ddb.get_item(TableName="orders", Key={"customer_id": signed["customer_id"],
                                                "order_id": signed["order_id"]})["Item"]["signature"]["B"]
    assert got == signed["signature"]["B"] and len(got) == 16  # real binary, encoded once on the wire
    assert any(byte > 127 for item in expected if "signature" in item for byte in item["signature"]["B"])
    desc = ddb.describe_table(TableName="orders")["Table"]
    assert desc["ItemCount"] == 2000
    assert desc["GlobalSecondaryIndexes"][0]["IndexName"] == "by_status"


def test_unprivileged_principals_are_denied(sandbox):
    analyst = sandbox.session("sandbox-analyst")
    outsider = sandbox.session("sandbox-outsider")
    with pytest.raises(ClientError) as denied:
        analyst.client("dynamodb").list_tables()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as denied:
        analyst.client("iam").list_roles()
    assert is_access_denied(denied.value)
    # The outsider is an admin, but of its own account: the main account's tables aren't there.
    with pytest.raises(ClientError) as missing:
        outsider.client("dynamodb").describe_table(TableName="orders")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_unknown_keys_are_rejected(sandbox):
    bogus = boto3.Session(aws_access_key_id="AKIA" + "IOSFODNN7BOGUS00", aws_secret_access_key="x" * 40,
                          region_name="us-east-1")
    with pytest.raises(ClientError) as err:
        bogus.client("sts", endpoint_url=sandbox.endpoint_url).get_caller_identity()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_taken_port_is_a_one_line_error(sandbox, tmp_path):
    with pytest.raises(InputError) as err:
        Sandbox(port=sandbox.port, state_dir=tmp_path).start()
    assert f"port {sandbox.port}" in str(err.value) and "--port" in str(err.value)
    assert "\n" not in str(err.value)


def test_unwritable_folder_is_a_one_line_error(tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    with pytest.raises(InputError) as err:
        Sandbox(port=0, state_dir=target / "sub").start()
    assert "not writable" in str(err.value) and "--dir" in str(err.value)


def test_cli_reports_a_taken_port_without_traceback(sandbox, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xacct_nb.cli", "sandbox", "--port",
                           str(sandbox.port), "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "already in use" in proc.stderr
