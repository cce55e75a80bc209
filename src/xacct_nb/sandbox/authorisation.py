"""Every request the sandbox serves is evaluated against `authz_table` (moto-facing side).

- DynamoDB (`patches._dynamodb_authorize` calls `dynamodb_authorizations`): each (action, ARN) of
  the table's rows for the request; an operation the table does not know is denied; a resource in
  another account than the caller's is denied (AWS requires a resource-based policy admitting the
  caller, and moto stores those policies without evaluating them — until the sandbox evaluates
  them, none admits anybody).
- DynamoDB Streams, IAM, STS, KMS, S3 (`install` wraps moto's generic authoriser): an operation the
  table does not know is denied before moto evaluates anything; then moto's own check of the
  operation's action, then each action the table says a parameter implies (CreateRole's `Tags` ->
  iam:TagRole, PutObject's `x-amz-acl` -> s3:PutObjectAcl, …). Streams are evaluated on the stream
  ARN, as AWS does (moto: "*").
- CreateTable's `ResourcePolicy` is attached to the new table (moto drops it).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.parsing.partiql import get_query_metadata
from moto.dynamodb.responses import DynamoHandler

from . import authz_table, partiql
from .arns import account_of

_ORIGINAL = ActionAuthenticatorMixin._authenticate_and_authorize_action


class ResourceAccountDenied(AccessDeniedError):
    """A resource of another account with no resource-based policy that admits the caller."""

    reason = "no resource-based policy allows"


def denied(message: str) -> JsonRESTError:
    return JsonRESTError("AccessDeniedException", message)


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
    return pairs


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
    if [_parts(name) for name in names] != [(table, index) if index else (table,)]:
        raise JsonRESTError("ValidationException", f"Statement refused by the sandbox: its PartiQL engine (moto) "
                            f"would read {names}, DynamoDB reads {table!r}")


def check_resource_account(request: Any, action: str, arn: str) -> None:
    """Deny a DynamoDB resource owned by another account than the caller's (no resource policy)."""
    if not arn.startswith("arn:aws:dynamodb:"):
        return
    caller = request._access_key.arn
    if account_of(arn) != account_of(caller):
        raise ResourceAccountDenied(user_arn=caller, action=action)


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
            check_resource_account(request, action, arn)
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
    result = _ORIGINAL_CREATE_TABLE(self)
    policy = self.body.get("ResourcePolicy") if isinstance(self.body, dict) else None
    if policy:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        self.dynamodb_backend.put_resource_policy(table.table_arn, policy, None)
    return result


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _gated  # type: ignore[method-assign]
    DynamoHandler.create_table = _create_table  # type: ignore[method-assign]
