"""Fixes to moto's IAM enforcement, so the sandbox allows and denies what AWS would for this project.

Measured on moto 5.2.5 (pinned in pyproject.toml). Each fix is small, replaces one moto method, and
has its own allow-and-deny test: tests/test_sandbox_patches.py, and per module test_sandbox_kms.py,
test_sandbox_sts.py, test_sandbox_delay.py, test_sandbox_errors.py, test_sandbox_resources.py
(PartiQL, ARNs). `apply()` installs them all, is idempotent and only affects the process that runs
the sandbox's server.

What moto gets wrong, and what we do about it:

1. DynamoDB requests are authorised against resource "*", never the table, so a policy scoped to
   `arn:aws:dynamodb:REGION:ACCT:table/NAME` denies everything; actions implied by parameters are
   never checked. -> every request is evaluated against `authz_table` (the IAM actions and
   resource ARNs AWS evaluates per operation, incl. parameters, Transact* per item, Batch* per
   table, PartiQL per statement) by `authorisation.py`, which also denies an operation the table
   does not know, and gates IAM/STS/KMS/S3/Streams the same way. Each (action, ARN) is decided by
   the caller's identity policies AND the table's or stream's resource-based policy (cross-account
   both must allow, and only for the operations AWS supports cross-account; an explicit Deny
   anywhere wins) — `authorisation.authorise`, `resource_policy`; `patches_rbac` routes a request
   naming another account's table by ARN to that account and serves the resource-policy APIs as
   AWS does.
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
   key fails a positive operator; an unknown operator fails closed (never allows; a Deny it
   guards applies).
6. A statement whose principal or condition does not match returns DENIED in moto (so in a trust or
   key policy with several statements, one for someone else denies everybody), and a Deny
   statement without Resource (trust policies) returns PERMITTED. -> AWS's rule: a statement
   applies only when action, principal, conditions and resource (or NotAction / NotResource) all
   match; then it allows or denies, otherwise it is neutral.
7. KMS: a table under a customer-managed key needs `kms:Decrypt` on that key, decided by the
   caller's identity policies and the key policy -> `patches_kms.check_table_keys`, called after
   the DynamoDB action itself was allowed (see that module).
8. SourceIdentity on AssumeRole is ignored by moto. -> validated, needs `sts:SetSourceIdentity`
   in the trust AND the caller's identity policies, visible to trust conditions as
   `sts:SourceIdentity`, carried by the session through role chaining (`patches_sts`).
9. Everything takes effect at once, and a session whose role was deleted makes moto fail with
   HTTP 500 (NoSuchEntity while collecting its policies). -> `patches_delay`: identity policies
   and trust documents come from the account as authorisation sees it — optionally as it was
   `iam_delay` seconds ago — and a missing role or user simply has no policies (AccessDenied).
10. Bad DynamoDB requests that moto answers with HTTP 500 or silently accepts (undefined or
   unused expression placeholders, keys of the wrong type, unknown index, unparsable
   expressions) -> AWS's ValidationException (`patches_errors`).
11. DynamoDB exports to S3: AWS's layout and export ARN, the bucket policy must admit the writer,
   S3's ExpectedBucketOwner is checked (`patches_export`).
12. Where AWS succeeds or answers a 4xx, moto fails with HTTP 500: an export without S3Prefix,
   a filter comparing values of different types (false in AWS) (`patches_answers`).
13. Consumed capacity is always 1 unit: item sizes, 4 KB read units, half for eventually
   consistent reads, summed per page as AWS computes them (`patches_capacity`).
14. ProjectionExpression: moto splits on "." before replacing #placeholders, so `#a[0]` is never
   resolved and a NAME holding "." or "[0]" is read as a path -> each placeholder is one whole
   name, `[n]` a list index (`patches_projection`).
15. S3 requests ignore identity-policy conditions (no request context) -> `s3:x-amz-acl`,
   `s3:prefix` and the principal keys are supplied, and an ACL on PutObject needs PutObjectAcl
   too (`patches_s3`).
16. PartiQL: moto's engine silently answers wrongly for BETWEEN, IN, begins_with, NOT, <>,
   numbers, nested paths (and more), projects names case-insensitively, overwrites on INSERT and
   keeps half a failed transaction -> the sandbox evaluates a SELECT's WHERE and projection itself,
   as DynamoDB does, answers DuplicateItem, checks a transaction whole, and refuses in one line what
   it cannot decide (`patches_partiql`, `partiql_where`).
Every patched moto target is checked before any is installed (`guard`): moto's version must be
the pinned one and each target must exist with the signature the fix was written for.

Not fixed (the threat model in README.md lists these as things the sandbox cannot prove):
identity-policy Conditions are still ignored outside KMS, SourceIdentity and S3 (moto has no
request context for them); permissions boundaries are not evaluated; nor are the actions authz_table
marks "no: …" (README lists them); MaxSessionDuration is not enforced on AssumeRole.
"""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, IAMRequest, IAMRequestBase, PermissionResult
from moto.iam.utils import REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK
from moto.utilities.utils import get_partition

from . import (
    authorisation,
    authz_table,
    guard,
    patches_answers,
    patches_capacity,
    patches_delay,
    patches_errors,
    patches_export,
    patches_kms,
    patches_partiql,
    patches_projection,
    patches_rbac,
    patches_s3,
    patches_sts,
)
from .arns import account_of, principal_arn

JSON_DENIALS = True  # fix 2; tests flip it to reproduce moto's raw XML 403
_APPLIED = False


# --- 1 + 2: DynamoDB is authorised per table / index ARN, and denials are JSON ----------------

def _dynamodb_authorizations(handler: DynamoHandler) -> list[tuple[str, str]]:
    """Every (action, resource ARN) AWS would authorise for a DynamoDB request: authz_table's rows."""
    return authorisation.dynamodb_authorizations(handler)


def _iam_request(handler: DynamoHandler) -> IAMRequest | None:
    """The request as moto's IAM sees it, or None while enforcement is off (moto's own counting)."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return None
    path = handler.raw_path + (f"?{urlparse(handler.uri).query}" if urlparse(handler.uri).query else "")
    return IAMRequest(account_id=handler.current_account, method=handler.method, path=path,
                      data=handler.data, body=handler.raw_body, headers=handler.headers,
                      action=handler._get_action())


def _dynamodb_authorize(self: DynamoHandler, resource: str = "*") -> None:
    request = _iam_request(self)
    if request is None:  # enforcement off: no authorisation, but AWS's 4xx and reads all the same
        authorisation.validate(self)
        authorisation.after_authorised(self)
        return
    request.check_signature()
    pairs = _dynamodb_authorizations(self)  # an unknown operation is denied here
    cross_account = authz_table.operation("dynamodb", self._get_action()).cross_account
    for action, arn in pairs:
        request._action = action
        try:
            authorisation.authorise(request, self._get_action(), action, arn, cross_account)
        except AccessDeniedError as denied:
            if not JSON_DENIALS:
                raise
            why = getattr(denied, "why", f"because no identity-based policy allows the {action} action")
            raise JsonRESTError("AccessDeniedException", f"{denied.message} on resource: {arn} {why}") from None
    vars(self)["xacct_request"] = request  # PutResourcePolicy's self-lockout check (patches_rbac)
    authorisation.after_authorised(self)
    patches_kms.check_table_keys(self, request)
    if self._get_action() == "ExportTableToPointInTime":
        patches_export.check_bucket_write(self, request)


# --- 3: AssumeRole checks the trust policy of the role in the account its ARN names ------------

def _is_assuming_role_operation(self: IAMRequestBase, resource_arn: str) -> bool:
    return self._action in REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK and ":role/" in resource_arn


def _check_role_trust_relationship(self: IAMRequestBase, role_arn: str) -> bool:
    trust_document = patches_delay.trust_document(account_of(role_arn), get_partition(self._region),
                                                  role_arn.split("/")[-1])
    if trust_document is None:
        return False  # AWS answers AccessDenied for a role that does not exist (yet)
    caller = self._access_key.arn
    context = {"aws:PrincipalArn": principal_arn(caller), "aws:PrincipalAccount": account_of(caller)}
    external_id = self._data.get("ExternalId")
    if external_id:
        context["sts:ExternalId"] = external_id[0] if isinstance(external_id, list) else external_id
    context.update(patches_sts.context(self))
    trust = IAMPolicy(trust_document)
    return (trust.is_action_permitted(self._action, role_arn, caller, context) == PermissionResult.PERMITTED
            and patches_sts.may_set(self, trust, role_arn, context))


# --- 4: account principals --------------------------------------------------------------------

def _check_principal(self: IAMPolicyStatement, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if not expected or expected == "*":
        return True
    aws = expected.get("AWS") if isinstance(expected, dict) else None
    if aws is None:
        return False  # Service/Federated principals never match an IAM caller
    account = account_of(principal)
    caller = {principal, principal_arn(principal)}
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


def _condition_holds(operator: str, expected: Any, actual: str | None, in_deny: bool = False) -> bool:
    op = operator.removesuffix("IfExists")
    if_exists = op != operator
    negate = op.startswith(("StringNot", "ArnNot"))  # StringNotEquals, ArnNotLike, ...
    base = op.replace("Not", "", 1) if negate else op
    if base not in _OPERATORS:
        # fail closed: what the sandbox cannot evaluate never allows, and a Deny it guards applies
        return in_deny
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
    in_deny = self._statement.get("Effect") == "Deny"
    return all(
        _condition_holds(operator, expected, incoming.get(key), in_deny)
        for operator, pairs in conditions.items()
        for key, expected in pairs.items()
    )


# --- 6: a statement that does not apply is neutral -----------------------------------------------

def _element_matches(statement: IAMPolicyStatement, element: str, value: str) -> bool:
    """`Action`/`Resource` match the value, or `NotAction`/`NotResource` do not."""
    if element in statement._statement:
        return statement._check_element_matches(element, value)
    negated = "Not" + element
    return negated in statement._statement and not statement._check_element_matches(negated, value)


def _statement_result(self: IAMPolicyStatement, action: str, resource: str = "*",
                      principal: str | None = None,
                      incoming_condition_values: dict[str, str] | None = None) -> PermissionResult:
    statement = self._statement
    has_resource = "Resource" in statement or "NotResource" in statement
    applies = (_element_matches(self, "Action", action)
               and (principal is None or self._check_principal(principal))
               and self._check_conditions(incoming_condition_values)
               and (not has_resource or _element_matches(self, "Resource", resource)))
    if not applies:
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if statement.get("Effect") == "Allow" else PermissionResult.DENIED


def apply() -> None:
    """Install the fixes into moto (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    guard.check()  # refuses (one line naming the patch) before anything is replaced
    DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize
    IAMRequestBase._is_assuming_role_operation = _is_assuming_role_operation
    IAMRequestBase._check_role_trust_relationship = _check_role_trust_relationship
    IAMPolicyStatement._check_principal = _check_principal
    IAMPolicyStatement._check_conditions = _check_conditions
    IAMPolicyStatement.is_action_permitted = _statement_result
    patches_kms.install()
    patches_sts.install()
    patches_delay.install()
    patches_errors.install()
    patches_export.install()
    patches_answers.install()
    patches_capacity.install()
    authorisation.install()
    patches_rbac.install()
    patches_projection.install()
    patches_partiql.install()
    patches_s3.install()
    _APPLIED = True

