"""Fixes to moto's IAM enforcement, so the sandbox allows and denies what AWS would for this project.

Measured on moto 5.2.5 (pinned in pyproject.toml). Each fix is small, replaces one moto method, and
has its own allow-and-deny test in tests/test_sandbox_patches.py. `apply()` is idempotent and only
affects the process that runs the sandbox's server.

What moto gets wrong, and what we do about it:

1. DynamoDB requests are authorised against resource "*", never the table, so a policy scoped to
   `arn:aws:dynamodb:REGION:ACCT:table/NAME` denies everything. -> `_dynamodb_resources` derives
   the ARNs a request touches (TableName, `/index/NAME` when IndexName is set, every table of a
   batch or transaction, ResourceArn) and each one must be allowed.
2. A denied DynamoDB call comes back as an XML body with HTTP 403; botocore's JSON parser then
   reports the error code "403". -> DynamoDB denials are sent as AWS sends them: HTTP 400,
   JSON `AccessDeniedException`, naming the resource. `JSON_DENIALS = False` restores moto's
   answer (tests use it to prove our error handling copes with the bare 403 as well).
3. AssumeRole on a role in ANOTHER account skips the role's trust policy (moto looks the role up
   in the caller's account, finds nothing, and treats the call as an ordinary action), so any
   account can assume any role. -> the role is looked up in the account its ARN names; a role that
   does not exist is denied, as in AWS.
4. Trust-policy principals match only by exact ARN. -> `arn:aws:iam::ACCT:root` and a bare `ACCT`
   match every principal of that account; an assumed-role session matches its role's ARN.
5. Trust conditions: moto evaluates only StringEquals, ignores every other operator (treated as
   true), and treats a condition key that is absent from the request as satisfied, so a role that
   requires `sts:ExternalId` can be assumed without one. -> conditions are evaluated with the keys
   AWS supplies for AssumeRole (sts:ExternalId, aws:PrincipalArn, aws:PrincipalAccount), the
   operators StringEquals/StringLike/ArnEquals/ArnLike (and their Not/IfExists forms); an absent
   key fails a positive operator; an unknown operator fails closed.

Not fixed (the threat model in README.md lists these as things the sandbox cannot prove):
identity-policy Conditions are still ignored (moto has no request context for them); PartiQL
(ExecuteStatement) is authorised as `dynamodb:ExecuteStatement` on "*" instead of
PartiQLSelect/Insert/... on the table; DynamoDB Streams and permissions boundaries are not
evaluated; MaxSessionDuration is not enforced on AssumeRole.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, IAMRequestBase, PermissionResult
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.iam.utils import REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK
from moto.utilities.utils import get_partition

JSON_DENIALS = True  # fix 2; tests flip it to reproduce moto's raw XML 403
_APPLIED = False


# --- 1 + 2: DynamoDB is authorised per table / index ARN, and denials are JSON ----------------

def _dynamodb_resources(handler: DynamoHandler) -> list[str]:
    """Every ARN a DynamoDB request acts on, as AWS would authorise it."""
    body: dict[str, Any] = handler.body if isinstance(handler.body, dict) else {}
    prefix = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/"
    names: list[tuple[str, str | None]] = []
    if body.get("TableName"):
        names.append((body["TableName"], body.get("IndexName")))
    for name in body.get("RequestItems", {}) or {}:  # BatchGetItem / BatchWriteItem
        names.append((name, None))
    for item in body.get("TransactItems", []) or []:  # TransactGet/WriteItems
        for op in item.values():
            if isinstance(op, dict) and op.get("TableName"):
                names.append((op["TableName"], None))
    arns = [prefix + t + (f"/index/{i}" if i else "") for t, i in names]
    if body.get("ResourceArn"):  # tagging, resource policies
        arns.append(body["ResourceArn"])
    return list(dict.fromkeys(arns)) or ["*"]  # ListTables, DescribeLimits... are on "*"


def _dynamodb_authorize(self: DynamoHandler, resource: str = "*") -> None:
    for arn in _dynamodb_resources(self):
        try:
            ActionAuthenticatorMixin._authenticate_and_authorize_normal_action(self, arn)
        except AccessDeniedError as denied:
            if not JSON_DENIALS:
                raise
            raise JsonRESTError(
                "AccessDeniedException",
                f"{denied.message} on resource: {arn} because no identity-based policy allows "
                f"the dynamodb:{self._get_action()} action",
            ) from None


# --- 3: AssumeRole checks the trust policy of the role in the account its ARN names ------------

def _role_by_arn(self: IAMRequestBase, role_arn: str):
    account = role_arn.split(":")[4]
    return iam_backends[account][get_partition(self._region)].get_role_by_arn(role_arn)


def _is_assuming_role_operation(self: IAMRequestBase, resource_arn: str) -> bool:
    return self._action in REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK and ":role/" in resource_arn


def _caller_role_arn(principal: str) -> str | None:
    """arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R (what trust policies and aws:PrincipalArn see)."""
    parts = principal.split(":")
    if len(parts) >= 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:aws:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return None


def _check_role_trust_relationship(self: IAMRequestBase, role_arn: str) -> bool:
    try:
        role = _role_by_arn(self, role_arn)
    except NotFoundException:
        return False  # AWS answers AccessDenied for a role that does not exist
    caller = self._access_key.arn
    context = {
        "aws:PrincipalArn": _caller_role_arn(caller) or caller,
        "aws:PrincipalAccount": caller.split(":")[4],
    }
    external_id = self._data.get("ExternalId")
    if external_id:
        context["sts:ExternalId"] = external_id[0] if isinstance(external_id, list) else external_id
    trust = IAMPolicy(role.assume_role_policy_document)
    return trust.is_action_permitted(self._action, role_arn, caller, context) == PermissionResult.PERMITTED


# --- 4: account principals --------------------------------------------------------------------

def _check_principal(self: IAMPolicyStatement, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if not expected or expected == "*":
        return True
    aws = expected.get("AWS") if isinstance(expected, dict) else None
    if aws is None:
        return False  # Service/Federated principals never match an IAM caller
    account = principal.split(":")[4]
    caller = {principal, _caller_role_arn(principal) or principal}
    allowed = caller | {f"arn:aws:iam::{account}:root", account, "*"}
    return any(p in allowed for p in ([aws] if isinstance(aws, str) else aws))


# --- 5: trust conditions ----------------------------------------------------------------------

def _arn_like(pattern: str, value: str) -> bool:
    # ARN matching is per colon-separated field, with * and ? inside a field.
    p, v = pattern.split(":", 5), value.split(":", 5)
    return len(p) == len(v) and all(fnmatch.fnmatchcase(b, a) for a, b in zip(p, v))


_OPERATORS = {
    "StringEquals": lambda e, v: e == v,
    "StringLike": lambda e, v: fnmatch.fnmatchcase(v, e),
    "ArnEquals": lambda e, v: e == v,
    "ArnLike": _arn_like,
}


def _condition_holds(operator: str, expected: Any, actual: str | None) -> bool:
    op = operator.removesuffix("IfExists")
    if_exists = op != operator
    negate = op.startswith(("StringNot", "ArnNot"))  # StringNotEquals, ArnNotLike, ...
    base = op.replace("Not", "", 1) if negate else op
    if base not in _OPERATORS:
        return False  # fail closed: the sandbox must never allow what it cannot evaluate
    if actual is None:
        return if_exists or negate
    values = expected if isinstance(expected, list) else [expected]
    matched = any(_OPERATORS[base](str(e), actual) for e in values)
    return not matched if negate else matched


def _check_conditions(self: IAMPolicyStatement, incoming: dict[str, str] | None) -> bool:
    conditions = self._statement.get("Condition")
    if not conditions:
        return True
    if incoming is None:
        return True  # identity policies: moto has no request context (documented gap, see above)
    return all(
        _condition_holds(operator, expected, incoming.get(key))
        for operator, pairs in conditions.items()
        for key, expected in pairs.items()
    )


def apply() -> None:
    """Install the fixes into moto (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize
    IAMRequestBase._is_assuming_role_operation = _is_assuming_role_operation
    IAMRequestBase._check_role_trust_relationship = _check_role_trust_relationship
    IAMPolicyStatement._check_principal = _check_principal
    IAMPolicyStatement._check_conditions = _check_conditions
    _APPLIED = True

