"""Issue 21's attacks with the third client: Node's AWS SDK v3 (@aws-sdk/client-dynamodb, pinned in
tests/node/package.json). tests/node/attack.mjs sends one request with the credentials it is given;
each case sends the same request with boto3 in the same test and wants the same answer (the same
error name, or allowed with the same items). boto3 and the AWS CLI alone: tests/test_sandbox_authz.py.

Without node/npm, or when `npm ci --prefix tests/node` fails (`make node-sdk` runs it), these skip
and say why."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from helpers import MAIN, REGION
from sandbox_policy_helpers import CONSUMER_ROOT, TABLE_ARN, assume, consumer_user, dynamodb, role, trust
from xacct_nb.policies import FULL_DENIED_ACTIONS, READ_ACTIONS

NODE_DIR = Path(__file__).resolve().parent / "node"
SDK = NODE_DIR / "node_modules" / "@aws-sdk" / "client-dynamodb"
CUSTOMERS_ARN = f"arn:aws:dynamodb:{REGION}:{MAIN}:table/customers"
ORDER_KEY = {"customer_id": {"S": "C0001"}, "order_id": {"S": "O000001"}}


def _unavailable() -> str | None:
    """Why the Node SDK cannot run here (None when it can); installs it with `npm ci` if missing."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the Node SDK attacks run @aws-sdk/client-dynamodb on Node.js)"
    if SDK.is_dir():
        return None
    try:
        done = subprocess.run(["npm", "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
                               "--loglevel=error"], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "`npm ci --prefix tests/node` did not finish in 600 s"
    if done.returncode != 0 or not SDK.is_dir():
        head = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][:2]
        return f"`npm ci --prefix tests/node` failed: {' | '.join(head) or done.returncode}"
    return None


@pytest.fixture(scope="module")
def node_sdk():
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    version = json.loads((SDK / "package.json").read_text())["version"]
    assert version.startswith("3."), version
    return version


def node(sandbox, session: boto3.Session, operation: str, params: dict) -> dict[str, Any]:
    """The Node SDK's outcome of one request: {"ok": True, "items": ...} or {"ok": False, "name": ...}."""
    creds = session.get_credentials().get_frozen_credentials()
    credentials = {"accessKeyId": creds.access_key, "secretAccessKey": creds.secret_key}
    if creds.token:
        credentials["sessionToken"] = creds.token
    job = {"endpoint": sandbox.endpoint_url, "region": REGION, "credentials": credentials,
           "operation": operation, "input": params}
    done = subprocess.run(["node", str(NODE_DIR / "attack.mjs")], input=json.dumps(job), cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def boto(sandbox, session: boto3.Session, operation: str, params: dict) -> dict[str, Any]:
    """boto3's outcome of the same request, in the shape attack.mjs prints."""
    client = dynamodb(sandbox, session)
    try:
        output = getattr(client, xform_name(operation))(**params)
    except ClientError as err:
        return {"ok": False, "name": err.response["Error"]["Code"], "message": err.response["Error"]["Message"],
                "status": err.response["ResponseMetadata"]["HTTPStatusCode"]}
    if "Items" in output:
        items = output["Items"]
    elif "Responses" in output:
        items = [response.get("Item") for response in output["Responses"]]
    else:
        items = [output["Item"]] if "Item" in output else None
    return {"ok": True, "items": items}


def both(sandbox, session, operation: str, **params) -> tuple[dict, dict]:
    """(Node's outcome, boto3's outcome), checked to be the same answer."""
    js, py = node(sandbox, session, operation, params), boto(sandbox, session, operation, params)
    assert js["ok"] == py["ok"], (js, py)
    if js["ok"]:
        assert js["items"] == py["items"], (js, py)
    else:
        assert (js["name"], js["status"]) == (py["name"], py["status"]), (js, py)
    return js, py


@pytest.fixture(scope="module")
def caller(sandbox):
    return consumer_user(sandbox, f"node-sdk-{uuid.uuid4().hex[:6]}", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


def _role(sandbox, caller, *statements) -> boto3.Session:
    arn = role(sandbox.session("sandbox-main").client("iam"), trust(CONSUMER_ROOT), list(statements))
    return assume(sandbox, caller, arn)


@pytest.fixture(scope="module")
def read_orders(sandbox, caller):
    """The project's Read level on `orders` only (its actions, on the table and its indexes)."""
    return _role(sandbox, caller, {"Effect": "Allow", "Action": list(READ_ACTIONS),
                                   "Resource": [TABLE_ARN, TABLE_ARN + "/index/*"]})


@pytest.fixture(scope="module")
def full_customers(sandbox, caller):
    """The project's Full level on `customers` (dynamodb:* with its explicit Deny statement)."""
    resources = [CUSTOMERS_ARN, CUSTOMERS_ARN + "/*"]
    return _role(sandbox, caller, {"Effect": "Allow", "Action": "dynamodb:*", "Resource": resources},
                 {"Effect": "Deny", "Action": sorted(FULL_DENIED_ACTIONS), "Resource": resources})


# --- PartiQL reads only what it names, and one table at a time ----------------------------------------

@pytest.mark.parametrize("other", ["orders_archive", "customers"])
def test_partiql_naming_a_second_table_is_a_validation_error(sandbox, node_sdk, read_orders, other):
    js, _ = both(sandbox, read_orders, "ExecuteStatement", Statement=f'SELECT * FROM "orders" , "{other}"')
    assert (js["ok"], js["name"], js["status"]) == (False, "ValidationException", 400), js
    assert "Single Table" in js["message"]
    assert "items" not in js  # nothing of either table came back


@pytest.mark.parametrize("other", ["orders_archive", "customers"])
def test_partiql_is_authorised_on_the_table_it_reads_not_the_text_before(sandbox, node_sdk, read_orders, other):
    js, _ = both(sandbox, read_orders, "ExecuteStatement", Statement=f'SELECT "x FROM orders", pk FROM "{other}"')
    assert (js["ok"], js["name"]) == (False, "AccessDeniedException"), js
    js, _ = both(sandbox, read_orders, "ExecuteStatement",
                 Statement="SELECT order_id FROM \"orders\" WHERE customer_id = 'C0001'")
    assert js["ok"] and js["items"] and all(set(item) == {"order_id"} for item in js["items"]), js


# --- Transact*: each item as its own action ---------------------------------------------------------

def test_read_role_transactional_read_is_allowed_item_by_item(sandbox, node_sdk, read_orders):
    js, _ = both(sandbox, read_orders, "TransactGetItems",
                 TransactItems=[{"Get": {"TableName": "orders", "Key": ORDER_KEY}}])
    assert js["ok"] and len(js["items"]) == 1 and js["items"][0]["order_id"] == ORDER_KEY["order_id"], js
    js, _ = both(sandbox, read_orders, "TransactGetItems", TransactItems=[
        {"Get": {"TableName": "orders", "Key": ORDER_KEY}},
        {"Get": {"TableName": "customers", "Key": {"customer_id": {"S": "C0001"}}}}])
    assert (js["ok"], js["name"]) == (False, "AccessDeniedException"), js


# --- Full: what parameters imply -----------------------------------------------------------------------

def test_full_cannot_add_a_replica(sandbox, node_sdk, full_customers):
    js, py = both(sandbox, full_customers, "UpdateTable", TableName="customers",
                  ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
    assert (js["ok"], js["name"]) == (False, "AccessDeniedException"), js
    assert "dynamodb:CreateTableReplica" in js["message"] and "dynamodb:CreateTableReplica" in py["message"]


# --- another account's table, named by ARN -------------------------------------------------------------

@pytest.mark.parametrize(("operation", "params"), [
    ("DescribeTable", {"TableName": TABLE_ARN}),
    ("GetItem", {"TableName": TABLE_ARN, "Key": ORDER_KEY}),
    ("Scan", {"TableName": TABLE_ARN, "Limit": 1})])
def test_another_accounts_table_by_arn_is_access_denied_not_not_found(sandbox, node_sdk, operation, params):
    consumer = sandbox.session("sandbox-consumer")  # the account's admin, its own keys; no resource policy
    js, _ = both(sandbox, consumer, operation, **params)
    assert (js["ok"], js["name"]) == (False, "AccessDeniedException"), js
    assert "no resource-based policy allows" in js["message"]
