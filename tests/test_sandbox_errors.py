"""Bad requests get the 4xx error AWS documents, never HTTP 500 (the AWS CLI retries a 500 9 times)."""

from __future__ import annotations

import pytest
from botocore.config import Config

from sandbox_policy_helpers import CONSUMER_ROOT, MAIN, TABLE_ARN, assume, consumer_user, doc, error_code, role, trust

KEY = {"customer_id": {"S": "C0001"}, "order_id": {"S": "O000001"}}
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})

BAD_REQUESTS = [  # (id, operation, parameters, AWS's error code)
    ("bad-filter-operator", "scan", {"FilterExpression": "amount >> :a",
                                     "ExpressionAttributeValues": {":a": {"N": "5"}}}, "ValidationException"),
    ("filter-value-missing", "scan", {"FilterExpression": "amount > :a"}, "ValidationException"),
    ("unused-value", "scan", {"ExpressionAttributeValues": {":a": {"N": "5"}}}, "ValidationException"),
    ("projection-name-missing", "scan", {"ProjectionExpression": "#nope"}, "ValidationException"),
    ("missing-sort-key", "get_item", {"Key": {"customer_id": {"S": "C0001"}}}, "ValidationException"),
    ("missing-table", "scan", {"TableName": "no-such-table"}, "ResourceNotFoundException"),
    # AWS documents ResourceNotFoundException for "a nonexistent table or index" (moto agrees)
    ("unknown-index", "query", {"IndexName": "nope", "KeyConditionExpression": "customer_id = :c",
                                "ExpressionAttributeValues": {":c": {"S": "C0001"}}}, "ResourceNotFoundException"),
    ("key-condition-on-non-key", "query", {"KeyConditionExpression": "amount = :a",
                                           "ExpressionAttributeValues": {":a": {"N": "1"}}}, "ValidationException"),
    ("wrong-key-type", "get_item", {"Key": {"customer_id": {"N": "1"}, "order_id": {"S": "x"}}},
     "ValidationException"),
    ("extra-key-attribute", "get_item", {"Key": {**KEY, "amount": {"N": "1"}}}, "ValidationException"),
    ("wrong-start-key-type", "scan", {"ExclusiveStartKey": {"customer_id": {"N": "1"}, "order_id": {"S": "x"}}},
     "ValidationException"),
    ("put-missing-key", "put_item", {"Item": {"customer_id": {"S": "C1"}}}, "ValidationException"),
    ("put-wrong-key-type", "put_item", {"Item": {"customer_id": {"N": "1"}, "order_id": {"S": "x"}}},
     "ValidationException"),
    ("bad-projection-syntax", "scan", {"ProjectionExpression": "a,,b"}, "ValidationException"),
    ("bad-update-syntax", "update_item", {"Key": KEY, "UpdateExpression": "SET amount = amount ++ 1"},
     "ValidationException"),
    ("bad-condition-syntax", "put_item", {"Item": KEY, "ConditionExpression": "attribute_exists("},
     "ValidationException"),
    ("bad-partiql", "execute_statement", {"Statement": "SELEC * FROM orders"}, "ValidationException"),
]


@pytest.fixture(scope="module")
def ddb(sandbox):
    caller = consumer_user(sandbox, "errtest-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])
    arn = role(sandbox.session("sandbox-main").client("iam"), trust(CONSUMER_ROOT), [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": [TABLE_ARN, TABLE_ARN + "/index/*",
                                                                 f"arn:aws:dynamodb:us-east-1:{MAIN}:table/no-such-table"]}])
    return assume(sandbox, caller, arn).client("dynamodb", endpoint_url=sandbox.endpoint_url, config=NO_RETRIES)


@pytest.mark.parametrize("operation, parameters, expected", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_request_gets_awss_error_code(ddb, operation, parameters, expected):
    call = getattr(ddb, operation)
    if operation != "execute_statement":
        parameters = {"TableName": "orders", **parameters}
    assert error_code(lambda: call(**parameters)) == expected


def test_stale_session_and_deleted_role_get_access_denied(sandbox):
    caller = consumer_user(sandbox, "errtest-stale", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])
    iam = sandbox.session("sandbox-main").client("iam")
    arn = role(iam, trust(CONSUMER_ROOT))
    policy = iam.create_policy(PolicyName=arn.split("/")[-1] + "-scan", PolicyDocument=doc(
        [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN}]))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=arn.split("/")[-1], PolicyArn=policy)
    ddb = assume(sandbox, caller, arn).client("dynamodb", endpoint_url=sandbox.endpoint_url, config=NO_RETRIES)
    assert ddb.scan(TableName="orders", Limit=1)["Count"] == 1
    iam.detach_role_policy(RoleName=arn.split("/")[-1], PolicyArn=policy)  # what destroy does, in order
    iam.delete_policy(PolicyArn=policy)
    assert error_code(lambda: ddb.scan(TableName="orders", Limit=1)) == "AccessDeniedException"
    iam.delete_role(RoleName=arn.split("/")[-1])
    assert error_code(lambda: ddb.scan(TableName="orders", Limit=1)) == "AccessDeniedException"
    assert error_code(lambda: assume(sandbox, caller, arn)) == "AccessDenied"
