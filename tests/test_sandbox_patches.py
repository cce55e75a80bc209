"""Each fix in xacct_nb.sandbox.patches, shown with the allow AND the deny it must produce.

Every deny below is something stock moto 5.2.5 allows (or an allow it denies); see patches.py.
Resources here are prefixed `patchtest-` so they never meet the provisioning tests' names.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from xacct_nb.errors import explain, is_access_denied
from xacct_nb.sandbox import patches

MAIN, CONSUMER = "111111111111", "222222222222"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{MAIN}:table/orders"


def _doc(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _trust(principal, condition=None):
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return _doc([st])


@pytest.fixture(scope="module")
def main_iam(sandbox):
    return sandbox.session("sandbox-main").client("iam")


@pytest.fixture(scope="module")
def consumer_user(sandbox):
    """A consumer-account user allowed (by its own identity policy) to assume patchtest-* roles."""
    iam = sandbox.session("sandbox-consumer").client("iam")
    name = "patchtest-user"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=_doc([
        {"Effect": "Allow", "Action": "sts:AssumeRole",
         "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}]))
    return _user_session(sandbox, iam, name)


@pytest.fixture(scope="module")
def other_consumer_user(sandbox):
    iam = sandbox.session("sandbox-consumer").client("iam")
    name = "patchtest-other"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=_doc([
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]))
    return _user_session(sandbox, iam, name)


def _user_session(sandbox, iam, name):
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.Session(aws_access_key_id=key["AccessKeyId"],
                         aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")


def _role(main_iam, trust, resources=None):
    name = f"patchtest-{uuid.uuid4().hex[:8]}"
    arn = main_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if resources:
        main_iam.put_role_policy(RoleName=name, PolicyName="ddb", PolicyDocument=_doc([
            {"Effect": "Allow", "Action": ["dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem",
                                           "dynamodb:DescribeTable"], "Resource": resources}]))
    return arn


def _assume(sandbox, session, role_arn, **kw):
    sts = session.client("sts", endpoint_url=sandbox.endpoint_url)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="patchtest", **kw)["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name="us-east-1")


def _denied(fn):
    with pytest.raises(ClientError) as err:
        fn()
    assert is_access_denied(err.value), err.value.response["Error"]
    return err.value


# --- fix 1: DynamoDB authorised against the table / index ARN ---------------------------------

def test_table_scoped_policy_allows_its_table_and_denies_others(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root"), resources=[TABLE_ARN])
    ddb = _assume(sandbox, consumer_user, arn).client("dynamodb", endpoint_url=sandbox.endpoint_url)
    assert ddb.scan(TableName="orders", Limit=3)["Count"] == 3  # stock moto: denied (resource "*")
    _denied(lambda: ddb.scan(TableName="customers", Limit=1))
    # the index is a resource of its own: without `table/orders/index/*` a GSI query is denied
    _denied(lambda: ddb.query(TableName="orders", IndexName="by_status",
                              KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                              ExpressionAttributeValues={":s": {"S": "SHIPPED"}}))


def test_index_resource_allows_index_queries(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root"),
                resources=[TABLE_ARN, TABLE_ARN + "/index/*"])
    ddb = _assume(sandbox, consumer_user, arn).client("dynamodb", endpoint_url=sandbox.endpoint_url)
    page = ddb.query(TableName="orders", IndexName="by_status", KeyConditionExpression="#s = :s",
                     ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":s": {"S": "SHIPPED"}}, Limit=5)
    assert page["Count"] == 5


def test_batch_requests_need_every_table(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root"), resources=[TABLE_ARN])
    main_iam.put_role_policy(RoleName=arn.split("/")[-1], PolicyName="batch", PolicyDocument=_doc([
        {"Effect": "Allow", "Action": "dynamodb:BatchGetItem", "Resource": TABLE_ARN}]))
    ddb = _assume(sandbox, consumer_user, arn).client("dynamodb", endpoint_url=sandbox.endpoint_url)
    key = {"customer_id": {"S": "C0000"}, "order_id": {"S": "O000000"}}
    assert ddb.batch_get_item(RequestItems={"orders": {"Keys": [key]}})["Responses"]["orders"]
    _denied(lambda: ddb.batch_get_item(RequestItems={
        "orders": {"Keys": [key]}, "customers": {"Keys": [{"customer_id": {"S": "C0000"}}]}}))


# --- fix 2: denials arrive as AWS sends them, and our handling copes with moto's raw 403 too ---

def test_denial_is_json_access_denied_naming_the_resource(sandbox):
    err = _denied(lambda: sandbox.session("sandbox-analyst").client("dynamodb").describe_table(
        TableName="orders"))
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    # the analyst's own credentials address its own account's table of that name
    assert f"arn:aws:dynamodb:us-east-1:{CONSUMER}:table/orders" in err.response["Error"]["Message"]


def test_raw_xml_403_is_still_recognised(sandbox, monkeypatch):
    monkeypatch.setattr(patches, "JSON_DENIALS", False)  # moto's own answer
    err = _denied(lambda: sandbox.session("sandbox-analyst").client("dynamodb").describe_table(
        TableName="orders"))
    assert err.response["Error"]["Code"] == "403"
    message = str(explain(err, "reading table orders", "ask for a grant"))
    assert "access denied" in message and "<" not in message and "\n" not in message


# --- fix 3: cross-account AssumeRole evaluates the role's trust policy -------------------------

def test_outsider_cannot_assume_a_role_trusted_only_by_the_consumer(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root"))
    _assume(sandbox, consumer_user, arn)  # allowed
    outsider = sandbox.session("sandbox-outsider")  # admin with Action "*" in its own account
    _denied(lambda: _assume(sandbox, outsider, arn))  # stock moto: allowed


def test_assuming_a_missing_role_is_denied(sandbox, consumer_user):
    _denied(lambda: _assume(sandbox, consumer_user, f"arn:aws:iam::{MAIN}:role/patchtest-missing"))


def test_consumer_without_identity_permission_is_denied(sandbox, main_iam):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root"))
    _denied(lambda: _assume(sandbox, sandbox.session("sandbox-analyst"), arn))


# --- fix 4: account principals ----------------------------------------------------------------

@pytest.mark.parametrize("principal", [f"arn:aws:iam::{CONSUMER}:root", CONSUMER])
def test_account_principal_admits_any_principal_of_that_account(sandbox, main_iam, consumer_user,
                                                                principal):
    arn = _role(main_iam, _trust(principal))
    _assume(sandbox, consumer_user, arn)  # stock moto: denied (exact-ARN match only)


def test_user_principal_admits_only_that_user(sandbox, main_iam, consumer_user, other_consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:user/patchtest-user"))
    _assume(sandbox, consumer_user, arn)
    _denied(lambda: _assume(sandbox, other_consumer_user, arn))


# --- fix 5: trust conditions ------------------------------------------------------------------

def test_external_id_is_required_and_must_match(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root",
                                 {"StringEquals": {"sts:ExternalId": "s3cret-ext"}}))
    _assume(sandbox, consumer_user, arn, ExternalId="s3cret-ext")
    _denied(lambda: _assume(sandbox, consumer_user, arn))  # stock moto: allowed (absent = ok)
    _denied(lambda: _assume(sandbox, consumer_user, arn, ExternalId="wrong-ext"))


@pytest.mark.parametrize("operator", ["ArnEquals", "ArnLike", "StringLike"])
def test_principal_arn_condition_narrows_the_trust(sandbox, main_iam, consumer_user,
                                                  other_consumer_user, operator):
    allowed = f"arn:aws:iam::{CONSUMER}:user/patchtest-u*" if "Like" in operator \
        else f"arn:aws:iam::{CONSUMER}:user/patchtest-user"
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root",
                                 {operator: {"aws:PrincipalArn": [allowed]}}))
    _assume(sandbox, consumer_user, arn)
    _denied(lambda: _assume(sandbox, other_consumer_user, arn))  # stock moto: allowed


def test_unknown_condition_operator_fails_closed(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _trust(f"arn:aws:iam::{CONSUMER}:root",
                                 {"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}))
    _denied(lambda: _assume(sandbox, consumer_user, arn))


def test_condition_operators_unit():
    holds = patches._condition_holds
    assert holds("StringNotEquals", "a", "b") and not holds("StringNotEquals", "a", "a")
    assert holds("StringEqualsIfExists", "a", None) and not holds("StringEquals", "a", None)
    assert holds("ArnLike", "arn:aws:iam::1:role/*", "arn:aws:iam::1:role/x")
    assert not holds("ArnLike", "arn:aws:iam::1:role/*", "arn:aws:iam::2:role/x")
