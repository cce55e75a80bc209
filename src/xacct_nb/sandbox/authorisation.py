"""Every request the sandbox serves is evaluated against `authz_table` (moto-facing side).

- DynamoDB (`patches._dynamodb_authorize` calls `dynamodb_authorizations`, then `authorise` per
  pair): each (action, ARN) of the table's rows for the request; an operation the table does not
  know is denied. Each pair is decided by the caller's identity policies AND the resource-based
  policy of the table (index ARNs: the base table's policy) or stream (`resource_policy.py`):
  same account, either may allow; another account, both must, and only for the operations
  authz_table marks `cross_account` (others are denied on another account's resource whatever the
  policies say); an explicit Deny anywhere wins.
- Routing: a request naming another account's table or stream by ARN is served by that account's
  backend (`owner_account`; moto would look in the caller's own account and answer
  ResourceNotFound). A request naming tables of two accounts is refused (ValidationException):
  the sandbox serves one account's tables per request.
- DynamoDB Streams, IAM, STS, KMS, S3 (`install` wraps moto's generic authoriser): an operation the
  table does not know is denied before moto evaluates anything; then moto's own check of the
  operation's action, then each action the table says a parameter implies (CreateRole's `Tags` ->
  iam:TagRole, PutObject's `x-amz-acl` -> s3:PutObjectAcl, …). Streams are evaluated on the stream
  ARN, as AWS does (moto: "*").
- CreateTable's `ResourcePolicy` is attached to the new table (moto drops it), after the same
  checks as PutResourcePolicy (`patches_rbac`).
- Organizations: `set_organizations` gives accounts an organization id (the sandbox's
  configuration, `sandbox.ORGANIZATIONS`), which resource policies see as aws:PrincipalOrgID.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.parsing.partiql import get_query_metadata
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicy, PermissionResult

from .. import partiql
from . import authz_table, patches_delay, patches_partiql, resource_policy
from .arns import account_of
from .evaluation import combined

_ORIGINAL = ActionAuthenticatorMixin._authenticate_and_authorize_action


class Denied(AccessDeniedError):
    """AWS's AccessDenied, with the tail of its message (`why`: "because no resource-based policy
    allows the dynamodb:GetItem action", "with an explicit deny in a resource-based policy", …)."""

    def __init__(self, user_arn: str, action: str, why: str):
        super().__init__(user_arn=user_arn, action=action)
        self.why = why


def denied(message: str) -> JsonRESTError:
    return JsonRESTError("AccessDeniedException", message)


_organizations: dict[str, str] = {}  # account id -> organization id (aws:PrincipalOrgID)


def set_organizations(by_account: dict[str, str]) -> None:
    """The organization each account belongs to, as resource-policy conditions see it."""
    _organizations.clear()
    _organizations.update(by_account)


def dynamodb_authorizations(handler: Any) -> list[tuple[str, str]]:
    """Every (action, resource ARN) AWS evaluates for a DynamoDB request (table rows enforced here)."""
    body: dict[str, Any] = handler.body if isinstance(handler.body, dict) else {}
    ctx = authz_table.Context(region=handler.region, account=handler.current_account)
    try:
        pairs = authz_table.authorizations("dynamodb", handler._get_action(), body, ctx)
    except authz_table.Unknown as unknown:
        raise denied(str(unknown)) from None
    except authz_table.Invalid as invalid:
        raise JsonRESTError("ValidationException", str(invalid)) from None
    malformed = [arn for _, arn in pairs if arn.startswith("arn:") and len(arn.split(":", 5)) < 6]
    if malformed:
        raise JsonRESTError("ValidationException", f"Invalid ARN: {malformed[0]!r} is not a resource ARN "
                            "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)")
    owners = sorted({account_of(arn) for _, arn in pairs if arn.startswith(_DYNAMODB_ARN)})
    if len(owners) > 1:
        raise JsonRESTError("ValidationException", f"the sandbox serves one account's tables per request; this "
                            f"one names tables of accounts {', '.join(owners)} — split it per account")
    return pairs


_DYNAMODB_ARN = "arn:aws:dynamodb:"


def owner_account(handler: Any) -> str:
    """The account whose DynamoDB backend serves the request: the one its table ARNs name (a name
    without ARN is the caller's), else the caller's."""
    body: dict[str, Any] = handler.body if isinstance(getattr(handler, "body", None), dict) else {}
    ctx = authz_table.Context(region=handler.region, account=handler.current_account)
    try:
        pairs = authz_table.authorizations("dynamodb", handler._get_action(), body, ctx, enforced_by=None)
    except (authz_table.Unknown, authz_table.Invalid):
        return str(handler.current_account)
    owners = {account_of(arn) for _, arn in pairs if arn.startswith(_DYNAMODB_ARN) and len(arn.split(":", 5)) == 6}
    return owners.pop() if len(owners) == 1 else str(handler.current_account)


def routed_dynamodb_backend(self: DynamoHandler) -> Any:
    """`DynamoHandler.dynamodb_backend` in the sandbox (patches_rbac): the owner's backend."""
    return dynamodb_backends[owner_account(self)][self.region]


# --- one (action, resource) decided by identity AND resource-based policies ----------------------

def caller_for(arn: str) -> resource_policy.Caller:
    return resource_policy.Caller(arn, _organizations.get(account_of(arn)))


def caller(request: Any) -> resource_policy.Caller:
    return caller_for(request._access_key.arn)


def identity_verdict(request: Any, action: str, resource: str) -> str:
    """"allow" / "deny" / "neutral": the caller's identity policies (moto's statement evaluation,
    patched; identity-policy conditions are not evaluated — README's threat model)."""
    result = combined(IAMPolicy(policy).is_action_permitted(action, resource)
                      for policy in request._access_key.collect_policies())
    return {PermissionResult.PERMITTED: "allow", PermissionResult.DENIED: "deny"}.get(result, "neutral")


# PutResourcePolicy / DeleteResourcePolicy are eventually consistent on AWS: with the sandbox's
# `iam_delay`, authorisation sees a resource's previous policy for that long after a change
# (GetResourcePolicy answers at once, as IAM's own reads do in patches_delay).
_policy_changes: dict[str, list[tuple[float, str | None]]] = {}  # ARN -> [(when, policy before)]
_policy_changes_lock = threading.Lock()


def record_policy_change(resource_arn: str, previous: str | None) -> None:
    """A resource policy was put or deleted; `previous` is the document it had (None: none)."""
    if patches_delay.delay_seconds() <= 0:
        return
    with _policy_changes_lock:
        _policy_changes.setdefault(resource_arn, []).append((time.monotonic(), previous))


def _as_authorisation_sees(resource_arn: str, current: str | None) -> str | None:
    delay = patches_delay.delay_seconds()
    with _policy_changes_lock:
        changes = _policy_changes.get(resource_arn, [])
        horizon = time.monotonic() - delay
        while changes and (delay <= 0 or changes[0][0] <= horizon):
            changes.pop(0)  # in effect by now
        return changes[0][1] if changes else current


def policy_document(resource: str) -> str | None:
    """The resource-based policy governing a DynamoDB resource, in the account that owns it (as
    authorisation sees it: see record_policy_change)."""
    governing = resource_policy.resource_policy_arn(resource)
    if governing is None:
        return None
    try:
        backend = dynamodb_backends[account_of(resource)][resource.split(":")[3]]
    except KeyError:  # a region moto does not know: no table there, so no policy either
        return None
    policy = backend.resource_policies.get(governing)
    return _as_authorisation_sees(governing, policy.policy_doc if policy is not None else None)


def authorise(request: Any, operation: str, action: str, resource: str, cross_account: bool) -> None:
    """Raise Denied unless `action` on `resource` is allowed to the caller (module docstring)."""
    if not resource.startswith(_DYNAMODB_ARN):
        request.check_action_permitted(resource)  # "*" (List*, DescribeLimits): identity policies only
        return
    who = caller(request)
    same_account = account_of(resource) == who.account
    if not same_account and not cross_account:
        raise Denied(who.arn, action, f"because {operation} is not available across accounts through a "
                                      "resource-based policy (DynamoDB refuses it for another account's resource)")
    document = policy_document(resource)
    decision = resource_policy.evaluate(document, action, resource, who) if document else None
    why = resource_policy.decide(identity_verdict(request, action, resource), decision, same_account)
    if why is not None:
        raise Denied(who.arn, action, f"{why} the {action} action" if why.startswith("because no") else why)


def validate(handler: Any) -> None:
    """What AWS refuses before authorising (malformed or multi-table PartiQL), when the sandbox
    does not enforce IAM: ValidationException, never moto's HTTP 500."""
    try:
        dynamodb_authorizations(handler)
    except JsonRESTError as error:
        if error.error_type == "ValidationException":
            raise


def after_authorised(handler: Any) -> None:
    """Once the request is authorised (AWS's order: a caller without the grant learns nothing),
    refuse what moto would run differently from DynamoDB."""
    if handler._get_action() in PARTIQL_OPERATIONS and isinstance(handler.body, dict):
        for statement in partiql.statements(handler.body):
            _moto_reads_the_same_table(statement)
        patches_partiql.check_request(handler.body)


PARTIQL_OPERATIONS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})


def _moto_reads_the_same_table(statement: str) -> None:
    """moto runs PartiQL with its own parser (py-partiql-parser), which finds FROM inside quoted
    identifiers: `SELECT "x FROM customers " FROM "orders"` is authorised on `orders` (as AWS
    does) but moto would read `customers`. Such a statement is refused, never run on a table
    other than the one authorised."""
    _, table, index = partiql.target(statement)  # already validated by the table
    try:
        names = get_query_metadata(statement).get_table_names()
    except Exception:  # noqa: BLE001 — moto's parser cannot read it, so moto cannot run it either
        raise JsonRESTError("ValidationException", "Statement wasn't well formed, can't be processed: the "
                            "sandbox's PartiQL engine (moto) cannot parse it") from None
    expected = (table, index) if index else (table,)
    # moto gives a SELECT's target as written ("T"."I") and a DELETE/UPDATE/INSERT's unquoted (T-1)
    if len(names) != 1 or (names[0] != table or index) and _parts(names[0]) != expected:
        raise JsonRESTError("ValidationException", f"Statement refused by the sandbox: its PartiQL engine (moto) "
                            f"would read {names}, DynamoDB reads {table!r}")


def _parts(name: str) -> tuple[str, ...] | None:
    """moto's table name (`"orders"."by_status"`, `orders`) as (table[, index]); None if unreadable."""
    try:
        return tuple(t.name for t in partiql.tokens(name) if t.name is not None)
    except partiql.Malformed:
        return None


def _params(handler: Any) -> dict[str, Any]:
    """The request's parameters as the table names them (S3: its headers, lower-cased)."""
    if handler.service_name == "s3":
        return {name.lower(): value for name, value in handler.headers.items()}
    body = getattr(handler, "body", None)
    if isinstance(body, (str, bytes)) and body[:1] in ("{", b"{"):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict):
        return body
    params: dict[str, Any] = {}
    for name, values in (getattr(handler, "querystring", None) or {}).items():
        params[name.split(".")[0]] = values[0] if isinstance(values, list) and len(values) == 1 else values
    return params


def _gated(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's authoriser, preceded by the table's fail-closed gate and followed by implied actions."""
    enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    if not enforcing or self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return _ORIGINAL(self, iam_request_cls, resource)
    request = _request(self, iam_request_cls)
    service = self.service_name
    params = _params(self)
    try:
        if service == "s3":  # moto names S3 requests by IAM action or operation: the table's action decides
            row = authz_table.s3_operation(str(self.data.get("Action") or self._get_action()))
            own = [(c.action, resource) for c in row.checks if c.enforced == authz_table.SANDBOX
                   and (not c.when or authz_table.present(params, c.when))]
        else:
            name = self._get_action()
            ctx = authz_table.Context(self.region, self.current_account, _resource(name, params, resource))
            own = authz_table.authorizations(service, name, params, ctx)
    except authz_table.Unknown:
        return request._raise_access_denied()
    if service in ("s3", "dynamodbstreams"):  # evaluated on the table's actions and ARNs (moto: its own)
        request.check_signature()
        for action, arn in own:
            request._action = action
            if service == "dynamodbstreams":
                name = self._get_action()
                authorise(request, name, action, arn, authz_table.operation(service, name).cross_account)
            else:
                request.check_action_permitted(arn)
        return None
    extra = own[1:]
    _ORIGINAL(self, iam_request_cls, resource)  # signature, the operation's own action, AssumeRole's trust
    for action, arn in extra:
        request._action = action
        request.check_action_permitted(arn)
    return None


def _resource(operation: str, params: dict[str, Any], resource: str) -> str:
    if operation == "GetRecords":  # moto's shard iterators begin with the stream ARN ("<arn>|1|<id>")
        return str(params.get("ShardIterator") or "").split("|", 1)[0] or "*"
    return resource


def _request(handler: Any, iam_request_cls: type) -> Any:
    parsed = urlparse(handler.uri)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return iam_request_cls(account_id=handler.current_account, method=handler.method, path=path,
                           data=handler.data, body=handler.raw_body, headers=handler.headers,
                           action=handler._get_action())


# --- an implied action that was authorised also takes effect -------------------------------------

_ORIGINAL_CREATE_TABLE = DynamoHandler.create_table


def _create_table(self: DynamoHandler) -> Any:
    """CreateTable with `ResourcePolicy` attaches it, as AWS does (moto 5.2.5 drops it silently).
    `PutResourcePolicy` was authorised with the request (authz_table)."""
    from .patches_rbac import check_document  # (it imports this module)

    policy = self.body.get("ResourcePolicy") if isinstance(self.body, dict) else None
    if policy is not None:  # refused before the table exists, as PutResourcePolicy would refuse it
        arn = authz_table.table_arn(authz_table.Context(self.region, self.current_account), str(self.body["TableName"]))
        check_document(policy, arn, None, confirmed=False)  # no self-lockout: nobody had access yet
    result = _ORIGINAL_CREATE_TABLE(self)
    if policy:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        self.dynamodb_backend.put_resource_policy(table.table_arn, policy, None)
    return result


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _gated  # type: ignore[method-assign]
    DynamoHandler.create_table = _create_table  # type: ignore[method-assign]
