"""DynamoDB resource-based policies served as AWS serves them (moto 5.2.5 stores them, never evaluates
them, and gets several API details wrong). Evaluation itself is `authorisation.authorise` +
`resource_policy`; this module fixes the serving side:

1. Routing: a table named by another account's ARN (TableName, ResourceArn, RequestItems,
   TransactItems) is served by that account's backend (`DynamoHandler.dynamodb_backend`), and a
   stream by its ARN or shard iterator by the stream owner's (`DynamoDBStreamsHandler.backend`);
   moto looks in the caller's account and answers ResourceNotFound.
2. PutResourcePolicy: refuses a document over 20 KB (whitespace counts), a non-policy, a statement
   without Principal, and — Block Public Access — a public grant (`resource_policy.problems_with`);
   with `ExpectedRevisionId` (other than NO_POLICY) and no policy attached it answers
   PolicyNotFoundException (moto creates the policy); a new policy under which the caller could no
   longer PutResourcePolicy / DeleteResourcePolicy the resource, where it can now (a Deny naming
   it, or the removal of the statement that was its only grant), needs
   `ConfirmRemoveSelfResourceAccess=true` (ValidationException otherwise; moto ignores the flag).
   Stream ARNs are accepted (moto takes the stream label for a table name: ResourceNotFound).
   Revision ids are unique and increasing (moto's is the millisecond clock: two puts in one
   millisecond shared one id, defeating ExpectedRevisionId); the same document again keeps its
   revision id (AWS: idempotent).
3. DeleteResourcePolicy without a policy succeeds (AWS: idempotent) unless ExpectedRevisionId is
   given (PolicyNotFoundException); moto answers ResourceNotFound. It answers the deleted
   policy's RevisionId (moto: nothing). GetResourcePolicy and Delete
   accept stream ARNs.
4. CreateTable's ResourcePolicy gets the same checks as PutResourcePolicy, before the table exists.
5. TransactWriteItems naming a table by ARN is rolled back when it fails (moto snapshots only the
   tables named by name, so a cancelled transaction left the writes it had applied to the others).

With the sandbox's `iam_delay`, a policy change takes effect for authorisation only after the
delay (AWS: eventually consistent; `authorisation.record_policy_change`); GetResourcePolicy
answers the new policy at once. Not modelled: the root user's right to DeleteResourcePolicy
under a Deny (the sandbox has no root user).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import PolicyNotFoundException, ResourceNotFoundException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import ResourcePolicy, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from . import authorisation, resource_policy
from .arns import account_of

NO_POLICY = "NO_POLICY"
_SELF_MANAGEMENT = ("dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy")
_revision_lock = threading.Lock()
_last = [0]


def _next_revision() -> str:
    """Unique, increasing, AWS-shaped (a millisecond timestamp) revision ids."""
    with _revision_lock:
        _last[0] = max(_last[0] + 1, int(time.time() * 1000))
        return str(_last[0])


def _resource_table(backend: DynamoDBBackend, resource_arn: str) -> Table:
    """The table a policy's ResourceArn belongs to: a table ARN, or the table's current stream."""
    arn = resource_arn or ""
    table_arn = arn.split("/stream/")[0]
    table = next((t for t in list(backend.tables.values()) if t.table_arn == table_arn), None)
    name = table_arn.rsplit("/", 1)[-1]
    if table is None or resource_policy.resource_policy_arn(arn) != arn:  # an index has no policy of its own
        raise ResourceNotFoundException(table_name=name)
    if arn != table_arn and arn != f"{table_arn}/stream/{table.latest_stream_label}":
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
    return table


def _put_resource_policy(self: DynamoDBBackend, resource_arn: str, policy_doc: str,
                         expected_revision_id: str | None) -> ResourcePolicy:
    table = _resource_table(self, resource_arn)
    current = self.resource_policies.get(resource_arn)
    if current is None and expected_revision_id not in (None, NO_POLICY):
        raise PolicyNotFoundException(
            f"Resource-based policy not found for the provided ResourceArn: Requested update for policy with "
            f"revision id {expected_revision_id}, but no policy is attached to {table.name}.")
    if current is not None:
        if expected_revision_id == NO_POLICY:
            raise PolicyNotFoundException(
                f"Resource-based policy not found for the provided ResourceArn: Requested policy update expecting "
                f"none to be present for table {table.name}, but a policy exists with revision id "
                f"{current.revision_id}.")
        if expected_revision_id and expected_revision_id != current.revision_id:
            raise PolicyNotFoundException(
                f"Resource-based policy not found for the provided ResourceArn: Requested update for policy with "
                f"revision id {expected_revision_id}, but the policy associated to target table {table.name} has "
                f"revision id {current.revision_id}.")
        if current.policy_doc == policy_doc:
            return current  # idempotent: same document, same revision
    policy = ResourcePolicy(resource_arn=resource_arn, policy_doc=policy_doc)
    policy.revision_id = _next_revision()
    self.resource_policies[resource_arn] = policy
    authorisation.record_policy_change(resource_arn, current.policy_doc if current is not None else None)
    return policy


def _get_resource_policy(self: DynamoDBBackend, resource_arn: str) -> ResourcePolicy:
    _resource_table(self, resource_arn)
    if resource_arn not in self.resource_policies:
        raise PolicyNotFoundException(f"Resource-based policy not found for the provided ResourceArn: {resource_arn}")
    return self.resource_policies[resource_arn]


def _delete_resource_policy(self: DynamoDBBackend, resource_arn: str, expected_revision_id: str | None) -> None:
    table = _resource_table(self, resource_arn)
    policy = self.resource_policies.get(resource_arn)
    if expected_revision_id and (policy is None or policy.revision_id != expected_revision_id):
        found = f"has revision id {policy.revision_id}" if policy else "has no policy"
        raise PolicyNotFoundException(
            f"Resource-based policy not found for the provided ResourceArn: Requested update for policy with "
            f"revision id {expected_revision_id}, but the policy associated to target table {table.name} {found}.")
    if self.resource_policies.pop(resource_arn, None) is not None:  # none attached: nothing to do
        authorisation.record_policy_change(resource_arn, policy.policy_doc if policy is not None else None)


def check_document(document: Any, resource_arn: str, request: Any, confirmed: bool,
                   current: str | None = None) -> None:
    """What PutResourcePolicy (and CreateTable's ResourcePolicy) refuses, as JsonRESTError.
    `request` (the authorised IAM request, None when IAM is not enforced) and `current` (the
    policy in place) decide the self-lockout check."""
    if not isinstance(document, str):
        raise JsonRESTError("ValidationException", "1 validation error detected: Value null at 'policy' failed "
                            "to satisfy constraint: Member must not be null")
    try:
        resource_policy.problems_with(document)
    except resource_policy.PolicyProblem as problem:
        raise JsonRESTError(problem.code, str(problem)) from None
    if request is not None and not confirmed:
        lost = [action for action in _SELF_MANAGEMENT
                if _allowed(request, action, resource_arn, current) and not _allowed(request, action, resource_arn,
                                                                                     document)]
        if lost:
            raise JsonRESTError("ValidationException", f"The policy would remove your ({request._access_key.arn}) "
                                f"{' and '.join(lost)} on {resource_arn}: set ConfirmRemoveSelfResourceAccess "
                                "to true to confirm that you want to remove your own access")


def _allowed(request: Any, action: str, resource_arn: str, document: str | None) -> bool:
    """Whether the caller may `action` the resource (same account) with `document` as its policy."""
    who = authorisation.caller(request)
    decision = resource_policy.evaluate(document, action, resource_arn, who) if document else None
    verdict = authorisation.identity_verdict(request, action, resource_arn)
    return resource_policy.decide(verdict, decision, same_account=True) is None


_MOTO_PUT_HANDLER = DynamoHandler.put_resource_policy


def _put_resource_policy_handler(self: DynamoHandler) -> Any:
    body = self.body if isinstance(self.body, dict) else {}
    arn = str(body.get("ResourceArn") or "")
    current = self.dynamodb_backend.resource_policies.get(arn)
    check_document(body.get("Policy"), arn, getattr(self, "xacct_request", None),
                   bool(body.get("ConfirmRemoveSelfResourceAccess")), current.policy_doc if current else None)
    return _MOTO_PUT_HANDLER(self)


def _delete_resource_policy_handler(self: DynamoHandler) -> Any:
    """DeleteResourcePolicy answers the deleted policy's RevisionId (moto: nothing); none when
    there was no policy."""
    arn = str(self.body.get("ResourceArn") or "") if isinstance(self.body, dict) else ""
    current = self.dynamodb_backend.resource_policies.get(arn)
    self.dynamodb_backend.delete_resource_policy(resource_arn=arn, expected_revision_id=self.body.get(
        "ExpectedRevisionId"))
    return ActionResult({"RevisionId": current.revision_id} if current is not None else {})


# --- 5: TransactWriteItems on tables named by ARN rolls back -------------------------------------

_MOTO_TRANSACT_WRITE = DynamoDBBackend.transact_write_items


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    by_arn = {op.get("TableName") for item in transact_items if isinstance(item, dict)
              for op in item.values() if isinstance(op, dict)}
    saved: dict[str, Table] = {}
    for name in by_arn:
        if isinstance(name, str) and name not in self.tables:
            try:
                table = self.get_table(name)
            except ResourceNotFoundException:
                continue
            saved[table.name] = copy.deepcopy(table)
    try:
        _MOTO_TRANSACT_WRITE(self, transact_items)
    except Exception:
        self.tables.update(saved)  # the transaction failed: none of its writes stay
        raise


# --- 1: streams routed to the stream owner's backend ----------------------------------------------

def _routed_streams_backend(self: DynamoDBStreamsHandler) -> Any:
    named = self._get_param("StreamArn") or str(self._get_param("ShardIterator") or "").split("|", 1)[0]
    account = account_of(named) if isinstance(named, str) and named.startswith("arn:aws:dynamodb:") \
        else self.current_account
    return dynamodbstreams_backends[account][self.region]


def install() -> None:
    DynamoHandler.dynamodb_backend = property(authorisation.routed_dynamodb_backend)  # type: ignore[method-assign, assignment]
    DynamoDBStreamsHandler.backend = property(_routed_streams_backend)  # type: ignore[method-assign, assignment]
    DynamoDBBackend.put_resource_policy = _put_resource_policy  # type: ignore[method-assign]
    DynamoDBBackend.get_resource_policy = _get_resource_policy  # type: ignore[method-assign]
    DynamoDBBackend.delete_resource_policy = _delete_resource_policy  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    DynamoHandler.put_resource_policy = _put_resource_policy_handler  # type: ignore[method-assign]
    DynamoHandler.delete_resource_policy = _delete_resource_policy_handler  # type: ignore[method-assign]
