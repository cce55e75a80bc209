"""KMS enforcement (patches_kms): a table under a customer-managed key is readable only by callers
that KMS itself would let decrypt — identity policies AND the key policy, with DynamoDB's context."""

from __future__ import annotations

import json
import uuid

import pytest

from sandbox_policy_helpers import (
    CONSUMER_ROOT,
    MAIN,
    REGION,
    assume,
    consumer_user,
    denied,
    doc,
    dynamodb,
    role,
    trust,
)
from xacct_nb.sandbox.seed import TABLES, default_key_policy

VIA_DYNAMODB = {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com",
                                 "kms:CallerAccount": MAIN}}


@pytest.fixture(scope="module")
def main(sandbox):
    return sandbox.session("sandbox-main")


@pytest.fixture(scope="module")
def analyst(sandbox):
    return consumer_user(sandbox, "kmstest-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


@pytest.fixture(scope="module")
def ledger(main):
    """The seeded table and its key: a customer-managed key whose policy delegates to IAM."""
    sse = main.client("dynamodb").describe_table(TableName="ledger")["Table"]["SSEDescription"]
    return {"table": "ledger", "arn": f"arn:aws:dynamodb:{REGION}:{MAIN}:table/ledger",
            "key": sse["KMSMasterKeyArn"]}


def _reader(sandbox, main, analyst, table_arn, *statements):
    """A session of a new role that may scan `table_arn`, plus `statements`."""
    arn = role(main.client("iam"), trust(CONSUMER_ROOT), [
        {"Effect": "Allow", "Action": ["dynamodb:Scan", "dynamodb:DescribeTable"], "Resource": table_arn},
        *statements])
    return dynamodb(sandbox, assume(sandbox, analyst, arn))


def _decrypt(key_arn, effect="Allow", condition=None):
    statement = {"Effect": effect, "Action": "kms:Decrypt", "Resource": key_arn}
    if condition:
        statement["Condition"] = condition
    return statement


def test_seeded_ledger_uses_a_customer_managed_key_with_the_default_policy(main, ledger):
    assert ledger["key"].startswith(f"arn:aws:kms:{REGION}:{MAIN}:key/")
    policy = main.client("kms").get_key_policy(KeyId=ledger["key"], PolicyName="default")["Policy"]
    assert json.loads(policy) == json.loads(default_key_policy(MAIN))


def test_decrypt_grant_with_dynamodb_context_reads_and_its_absence_is_denied(sandbox, main, analyst, ledger):
    granted = _reader(sandbox, main, analyst, ledger["arn"], _decrypt(ledger["key"], condition=VIA_DYNAMODB))
    assert granted.scan(TableName="ledger")["Count"] == 30

    ungranted = _reader(sandbox, main, analyst, ledger["arn"])
    assert ungranted.describe_table(TableName="ledger")["Table"]["TableName"] == "ledger"  # no key use
    err = denied(lambda: ungranted.scan(TableName="ledger"))
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert "KMS key access denied" in err.response["Error"]["Message"]
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("statement", [
    pytest.param(lambda key: _decrypt(key, condition={"StringEquals": {
        "kms:ViaService": f"s3.{REGION}.amazonaws.com"}}), id="condition-for-another-service"),
    pytest.param(lambda key: _decrypt(key.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())), id="another-key"),
    pytest.param(lambda key: {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key}, id="not-decrypt"),
])
def test_grants_that_do_not_cover_this_decrypt_are_denied(sandbox, main, analyst, ledger, statement):
    reader = _reader(sandbox, main, analyst, ledger["arn"], statement(ledger["key"]))
    denied(lambda: reader.scan(TableName="ledger"))


def test_explicit_deny_on_the_key_wins_over_an_allow(sandbox, main, analyst, ledger):
    reader = _reader(sandbox, main, analyst, ledger["arn"], {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                     _decrypt(ledger["key"], effect="Deny"))
    denied(lambda: reader.scan(TableName="ledger"))


def test_wildcard_kms_grant_reads(sandbox, main, analyst, ledger):
    reader = _reader(sandbox, main, analyst, ledger["arn"], {"Effect": "Allow", "Action": "kms:De*", "Resource": "*"})
    assert reader.scan(TableName="ledger", Limit=2)["Count"] == 2


@pytest.fixture()
def own_key_table(main):
    """A fresh encrypted table whose key policy a test may rewrite (the seeded key stays default)."""
    kms, ddb = main.client("kms"), main.client("dynamodb")
    key = kms.create_key(Description="patchtest")["KeyMetadata"]
    name = f"patchtest-enc-{uuid.uuid4().hex[:6]}"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES["ledger"],
                     SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]})
    ddb.put_item(TableName=name, Item={"entry_id": {"S": "L1"}})
    return {"table": name, "arn": f"arn:aws:dynamodb:{REGION}:{MAIN}:table/{name}", "key": key["Arn"],
            "kms": kms}


def _set_key_policy(table, *statements):
    table["kms"].put_key_policy(KeyId=table["key"], PolicyName="default", Policy=doc(list(statements)))


def test_table_created_with_a_key_id_or_alias_describes_the_key_arn(main):
    kms, ddb = main.client("kms"), main.client("dynamodb")
    key = kms.create_key(Description="patchtest")["KeyMetadata"]
    alias = f"alias/patchtest-{uuid.uuid4().hex[:6]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    for given in (key["KeyId"], alias):
        name = f"patchtest-enc-{uuid.uuid4().hex[:6]}"
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES["ledger"],
                         SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": given})
        assert ddb.describe_table(TableName=name)["Table"]["SSEDescription"]["KMSMasterKeyArn"] == key["Arn"]


def test_key_policy_without_root_delegation_denies_an_iam_grant(sandbox, main, analyst, own_key_table):
    _set_key_policy(own_key_table, {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MAIN}:user/admin"},
                                    "Action": "kms:*", "Resource": "*"})
    reader = _reader(sandbox, main, analyst, own_key_table["arn"], _decrypt(own_key_table["key"]))
    denied(lambda: reader.scan(TableName=own_key_table["table"]))


def test_key_policy_naming_the_role_grants_without_an_iam_statement(sandbox, main, analyst, own_key_table):
    iam = main.client("iam")
    arn = role(iam, trust(CONSUMER_ROOT), [{"Effect": "Allow", "Action": "dynamodb:Scan",
                                            "Resource": own_key_table["arn"]}])
    admins = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MAIN}:user/admin"},
              "Action": "kms:*", "Resource": "*"}  # a statement that does not apply must not deny
    _set_key_policy(own_key_table, admins, {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Decrypt",
                                            "Resource": "*", "Condition": VIA_DYNAMODB})
    reader = dynamodb(sandbox, assume(sandbox, analyst, arn))
    assert reader.scan(TableName=own_key_table["table"])["Count"] == 1

    _set_key_policy(own_key_table, admins, {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Decrypt",
                                            "Resource": "*", "Condition": {"StringEquals": {
                                                "kms:CallerAccount": CONSUMER_ROOT.split(":")[4]}}})
    denied(lambda: reader.scan(TableName=own_key_table["table"]))  # the role calls from the main account


def test_key_policy_deny_wins_over_root_delegation(sandbox, main, analyst, own_key_table):
    _set_key_policy(own_key_table, json.loads(default_key_policy(MAIN))["Statement"][0],
                    {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
                     "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}})
    reader = _reader(sandbox, main, analyst, own_key_table["arn"], _decrypt(own_key_table["key"]))
    denied(lambda: reader.scan(TableName=own_key_table["table"]))
