"""The sandbox's evaluation and validation of DynamoDB resource-based policies, as pure functions
(`sandbox/resource_policy.py`); tests/test_sandbox_resource_policies.py proves them over HTTP."""

from __future__ import annotations

import json

import pytest

from xacct_nb.sandbox.resource_policy import (
    Caller,
    Decision,
    PolicyProblem,
    decide,
    evaluate,
    problems_with,
    public_grant,
    resource_policy_arn,
)

T = "arn:aws:dynamodb:us-east-1:111111111111:table/orders"
USER = Caller("arn:aws:iam::222222222222:user/analyst", org_id="o-xacctsandbox")
SESSION = Caller("arn:aws:sts::222222222222:assumed-role/reader/s1")
OUTSIDER = Caller("arn:aws:iam::333333333333:user/admin", org_id="o-elsewhere01")


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, action="dynamodb:GetItem", resource=T, effect="Allow", **extra) -> dict:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize("principal, caller, expected", [
    ({"AWS": USER.arn}, USER, Decision(True, True)),
    ({"AWS": "222222222222"}, USER, Decision(True, False)),
    ({"AWS": "arn:aws:iam::222222222222:root"}, USER, Decision(True, False)),
    ({"AWS": "arn:aws:iam::222222222222:role/reader"}, SESSION, Decision(True, True)),  # a role covers its sessions
    ({"AWS": SESSION.arn}, SESSION, Decision(True, True)),
    ("*", OUTSIDER, Decision(True, True)),
    ({"AWS": ["111111111111", USER.arn]}, OUTSIDER, Decision()),
    ({"Service": "dynamodb.amazonaws.com"}, USER, Decision()),
])
def test_principals(principal, caller, expected):
    assert evaluate(doc(allow(principal)), "dynamodb:GetItem", T, caller) == expected


def test_not_principal_applies_to_everyone_else():
    statement = {"Effect": "Deny", "NotPrincipal": {"AWS": USER.arn}, "Action": "dynamodb:*", "Resource": T}
    assert evaluate(doc(statement), "dynamodb:GetItem", T, OUTSIDER).denied
    assert not evaluate(doc(statement), "dynamodb:GetItem", T, USER).denied


@pytest.mark.parametrize("action, resource, allowed", [
    ("dynamodb:GetItem", T, True),
    ("DynamoDB:getitem", T, True),  # actions are case-insensitive
    ("dynamodb:Query", T, False),
    ("dynamodb:GetItem", T + "/index/by_status", False),  # the table's ARN does not cover its indexes
    ("dynamodb:GetItem", T + "-archive", False),
])
def test_actions_and_resources(action, resource, allowed):
    assert evaluate(doc(allow({"AWS": USER.arn})), action, resource, USER).allowed is allowed


def test_wildcards_cover_indexes_and_not_action():
    index = T + "/index/by_status"
    assert evaluate(doc(allow({"AWS": USER.arn}, "dynamodb:Get*", T + "/index/*")), "dynamodb:GetItem", index,
                    USER).allowed
    assert evaluate(doc(allow({"AWS": USER.arn}, "dynamodb:*", T + "*")), "dynamodb:Query", index, USER).allowed
    not_action = {"Effect": "Allow", "Principal": {"AWS": USER.arn}, "NotAction": "dynamodb:Delete*", "Resource": T}
    assert evaluate(doc(not_action), "dynamodb:GetItem", T, USER).allowed
    assert not evaluate(doc(not_action), "dynamodb:DeleteItem", T, USER).allowed


@pytest.mark.parametrize("condition, caller, applies", [
    ({"StringEquals": {"aws:PrincipalOrgID": "o-xacctsandbox"}}, USER, True),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-xacctsandbox"}}, OUTSIDER, False),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-xacctsandbox"}}, SESSION, False),  # no organization: key absent
    ({"StringEquals": {"aws:principalaccount": "222222222222"}}, USER, True),  # keys are case-insensitive
    ({"StringNotEquals": {"aws:PrincipalAccount": "333333333333"}}, USER, True),
    ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::222222222222:user/*"}}, USER, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/reader"}}, SESSION, True),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/reader"}}, SESSION, True),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::222222222222:*"}}, USER, False),
    ({"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": ["o-a", "o-xacctsandbox"]}}, USER, True),
    ({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-a"]}}, SESSION, True),  # vacuous over nothing
    ({"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a"}}, SESSION, True),
    ({"StringEquals": {"aws:SourceVpce": "vpce-1"}}, USER, False),  # a key the sandbox never has
    ({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}, USER, True),
    ({"Null": {"aws:PrincipalOrgID": "true"}}, SESSION, True),
    ({"Null": {"aws:PrincipalOrgID": "true"}}, USER, False),
    ({"DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}}, USER, False),  # unknown operator
])
def test_conditions_of_an_allow(condition, caller, applies):
    statement = allow("*", Condition=condition)
    assert evaluate(doc(statement), "dynamodb:GetItem", T, caller).allowed is applies


def test_an_unknown_operator_makes_a_deny_apply():
    statement = allow("*", effect="Deny", Condition={"DateGreaterThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}})
    assert evaluate(doc(statement), "dynamodb:GetItem", T, USER).denied


@pytest.mark.parametrize("identity, resource, same_account, reason", [
    ("allow", None, True, None),
    ("neutral", Decision(True, True), True, None),  # same account: the policy naming the caller suffices
    ("neutral", Decision(True, False), True, "because no identity-based policy allows"),  # root: delegated
    ("allow", Decision(denied=True), True, "with an explicit deny in a resource-based policy"),
    ("deny", Decision(True, True), True, "with an explicit deny in an identity-based policy"),
    ("allow", None, False, "because no resource-based policy allows"),
    ("allow", Decision(), False, "because no resource-based policy allows"),
    ("neutral", Decision(True, True), False, "because no identity-based policy allows"),
    ("allow", Decision(True, False), False, None),
    ("deny", Decision(True, True), False, "with an explicit deny in an identity-based policy"),
    ("allow", Decision(True, True, True), False, "with an explicit deny in a resource-based policy"),
])
def test_combination(identity, resource, same_account, reason):
    assert decide(identity, resource, same_account) == reason


@pytest.mark.parametrize("statement, public", [
    (allow("*"), True),
    (allow({"AWS": "*"}), True),
    (allow({"AWS": ["222222222222", "*"]}), True),
    (allow({"AWS": "arn:aws:iam::*:root"}), True),
    ({"Effect": "Allow", "NotPrincipal": {"AWS": "333333333333"}, "Action": "dynamodb:*", "Resource": T}, True),
    (allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-xacctsandbox"}}), False),
    (allow("*", Condition={"StringEquals": {"aws:PrincipalAccount": ["222222222222"]}}), False),
    (allow("*", Condition={"ArnEquals": {"aws:PrincipalArn": USER.arn}}), False),
    (allow("*", Condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}}), True),  # a wildcard value
    (allow("*", Condition={"StringEquals": {"aws:PrincipalArn": "${aws:username}"}}), True),  # a variable
    (allow("*", Condition={"StringNotEquals": {"aws:PrincipalAccount": "333333333333"}}), True),
    (allow("*", Condition={"StringEqualsIfExists": {"aws:PrincipalAccount": "222222222222"}}), True),
    (allow("*", Condition={"StringEquals": {"dynamodb:LeadingKeys": "a"}}), True),  # not a trusted key
    (allow("*", effect="Deny"), False),
    (allow({"AWS": "222222222222"}), False),
])
def test_block_public_access(statement, public):
    assert (public_grant(statement) is not None) is public
    if public:
        with pytest.raises(PolicyProblem, match="Block Public Access"):
            problems_with(doc(statement))
    else:
        problems_with(doc(statement))


def test_size_and_shape():
    body = doc(allow({"AWS": "222222222222"}))
    problems_with(body[:-1] + " " * (20480 - len(body)) + body[-1])  # exactly 20 KB with whitespace
    with pytest.raises(PolicyProblem, match="20 KB"):
        problems_with(body[:-1] + " " * (20481 - len(body)) + body[-1])
    with pytest.raises(PolicyProblem, match="not valid JSON"):
        problems_with("{")
    with pytest.raises(PolicyProblem, match="no Principal"):
        problems_with(doc({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": T}))
    with pytest.raises(PolicyProblem, match="no Statement"):
        problems_with(json.dumps({"Version": "2012-10-17"}))


@pytest.mark.parametrize("resource, governing", [
    (T, T),
    (T + "/index/by_status", T),
    (T + "/stream/2026-01-01T00:00:00.000", T + "/stream/2026-01-01T00:00:00.000"),
    (T + "/backup/01234", None),
    (T + "/export/01234", None),
    ("arn:aws:dynamodb::111111111111:global-table/g", None),
    ("*", None),
])
def test_which_policy_governs(resource, governing):
    assert resource_policy_arn(resource) == governing
