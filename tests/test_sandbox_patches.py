"""Each fix in xacct_nb.sandbox.patches, shown with the allow AND the deny it must produce.

Every deny below is something stock moto 5.2.5 allows (or an allow it denies); see patches.py.
Resources here are prefixed `patchtest-` so they never meet the provisioning tests' names.
"""

from __future__ import annotations

import pytest

from sandbox_policy_helpers import CONSUMER, MAIN, TABLE_ARN, role, user_session
from sandbox_policy_helpers import assume as _assume
from sandbox_policy_helpers import denied as _denied
from sandbox_policy_helpers import doc as _doc
from sandbox_policy_helpers import trust as _trust
from xacct_nb.errors import explain
from xacct_nb.sandbox import patches


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
    return user_session(iam, name)


@pytest.fixture(scope="module")
def other_consumer_user(sandbox):
    iam = sandbox.session("sandbox-consumer").client("iam")
    name = "patchtest-other"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=_doc([
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]))
    return user_session(iam, name)


def _role(main_iam, trust_document, resources=None):
    return role(main_iam, trust_document, resources and [
        {"Effect": "Allow", "Action": ["dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem",
                                       "dynamodb:DescribeTable"], "Resource": resources}])


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


# --- fix 6: a statement that does not apply is neutral -------------------------------------------

def test_trust_statement_for_another_principal_does_not_deny(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _doc([
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MAIN}:user/admin"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"}, "Action": "sts:AssumeRole"}]))
    _assume(sandbox, consumer_user, arn)  # stock moto: denied by the first statement's principal


def test_deny_statement_in_a_trust_policy_denies(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _doc([
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:user/patchtest-user"},
         "Action": "sts:AssumeRole"}]))
    _denied(lambda: _assume(sandbox, consumer_user, arn))  # stock moto: allowed (no Resource = allow)


def test_unknown_condition_operator_in_a_deny_applies_the_deny(sandbox, main_iam, consumer_user):
    arn = _role(main_iam, _doc([
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CONSUMER}:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
         "Condition": {"DateLessThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}}]))
    _denied(lambda: _assume(sandbox, consumer_user, arn))  # unevaluable, so the Deny counts


def test_condition_operators_unit():
    holds = patches._condition_holds
    assert holds("StringNotEquals", "a", "b") and not holds("StringNotEquals", "a", "a")
    assert holds("StringEqualsIfExists", "a", None) and not holds("StringEquals", "a", None)
    assert holds("ArnLike", "arn:aws:iam::1:role/*", "arn:aws:iam::1:role/x")
    assert not holds("ArnLike", "arn:aws:iam::1:role/*", "arn:aws:iam::2:role/x")


# --- fix 14: ProjectionExpression placeholders are whole names; [n] is a list index -------------

def test_projection_placeholders_are_whole_names(sandbox):
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    name = "patchtest-projection"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    try:
        ddb.put_item(TableName=name, Item={
            "id": {"S": "1"}, "x[0]": {"S": "name"}, "a.b": {"S": "dotted"},
            "x": {"L": [{"S": "first"}, {"M": {"k": {"S": "v"}, "other": {"N": "1"}}}, {"S": "third"}]},
            "a": {"M": {"b": {"S": "nested"}, "c": {"S": "no"}}}})

        def project(expression: str, names: dict) -> dict:
            return ddb.get_item(TableName=name, Key={"id": {"S": "1"}}, ProjectionExpression=expression,
                                ExpressionAttributeNames=names)["Item"]

        assert project("#n", {"#n": "x[0]"}) == {"x[0]": {"S": "name"}}
        assert project("#n", {"#n": "a.b"}) == {"a.b": {"S": "dotted"}}
        assert project("#a.#b", {"#a": "a", "#b": "b"}) == {"a": {"M": {"b": {"S": "nested"}}}}
        assert project("#x[0]", {"#x": "x"}) == {"x": {"L": [{"S": "first"}]}}
        assert project("#x[2], #x[1].#k", {"#x": "x", "#k": "k"}) == {
            "x": {"L": [{"M": {"k": {"S": "v"}}}, {"S": "third"}]}}  # in index order, compacted
        scanned = ddb.scan(TableName=name, ProjectionExpression="#x[1].#k, #n",
                           ExpressionAttributeNames={"#x": "x", "#k": "k", "#n": "a.b"})["Items"]
        assert scanned == [{"x": {"L": [{"M": {"k": {"S": "v"}}}]}, "a.b": {"S": "dotted"}}]
        # a whole map, a whole list and a list element that is a map, beside a nested path:
        # members come back as they are stored (moto's to_json leaves them as its own objects)
        assert project("#a.#c, #a, #x", {"#a": "a", "#c": "c", "#x": "x"}) == {
            "a": {"M": {"b": {"S": "nested"}, "c": {"S": "no"}}},
            "x": {"L": [{"S": "first"}, {"M": {"k": {"S": "v"}, "other": {"N": "1"}}}, {"S": "third"}]}}
        assert project("#x[1]", {"#x": "x"}) == {"x": {"L": [{"M": {"k": {"S": "v"}, "other": {"N": "1"}}}]}}
    finally:
        ddb.delete_table(TableName=name)
