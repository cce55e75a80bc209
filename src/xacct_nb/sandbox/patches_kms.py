"""KMS enforcement for DynamoDB tables encrypted with a customer-managed key.

On AWS, DynamoDB decrypts a table's key *as the caller*: every item read or write on a table whose
SSE uses a customer-managed key needs `kms:Decrypt` on that key, granted the way KMS grants
anything — by the key policy, which either names the caller (direct) or names the caller's account
root (delegation to that account's IAM policies, which then must allow it too). moto 5.2.5 stores
the key and the key policy but never asks. `check_table_keys` asks, after IAM has allowed the
DynamoDB action itself:

- identity policies of the caller: action `kms:Decrypt` on the key ARN, with the context keys
  DynamoDB supplies (`kms:ViaService` = `dynamodb.REGION.amazonaws.com`, `kms:CallerAccount`,
  `kms:EncryptionContext:aws:dynamodb:tableName` / `:subscriberId`, `aws:PrincipalArn`,
  `aws:PrincipalAccount`), conditions evaluated by the patched moto statement;
- the key policy as a resource policy with the same action, resource and context;
- same account: allowed when the key policy names the caller, or names the account root and an
  identity policy allows; another account: the key policy must admit the caller (root of its
  account or its ARN) *and* an identity policy must allow. An explicit Deny in either wins.
  A table read cross-account through its resource-based policy (the request is served by the
  table owner's backend, patches_rbac) is decided the same way: the owner's key, the consumer
  caller — so the key policy must admit the consumer principal too.

A denial is what AWS sends (HTTP 400, `AccessDeniedException`, "KMS key access denied error: …
(Service: AWSKMS; …)"). AWS-managed keys (`alias/aws/dynamodb`) and AWS-owned keys need nothing.
Also: moto keeps `KMSMasterKeyId` as the caller wrote it, so DescribeTable showed a bare key id or
alias as `SSEDescription.KMSMasterKeyArn`; AWS always answers the key ARN, and so does the sandbox
now (`install`). Not modelled: DynamoDB's ~5-minute cache of the table key (here a revoked grant denies at once),
KMS grants (CreateGrant), key state (disabled / pending deletion keys are treated as usable).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicyStatement, IAMRequest, PermissionResult
from moto.kms.models import Key, kms_backends

from .. import partiql
from .arns import account_of, principal_arn
from .evaluation import identity_decision

DECRYPT = "kms:Decrypt"
# The operations that read or write items; control-plane calls (DescribeTable, UpdateTable,
# tagging, backups) do not use the caller's key permissions.
DATA_ACTIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement",
    "BatchExecuteStatement", "ExecuteTransaction",
})
AWS_KMS_DENIAL = (
    "KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext "
    "refers to a customer master key that does not exist, does not exist in this region, or you "
    "are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: "
    "AccessDeniedException)")


def check_table_keys(handler: DynamoHandler, request: IAMRequest) -> None:
    """Raise AWS's KMS AccessDeniedException unless the caller may decrypt every table key used."""
    if handler._get_action() not in DATA_ACTIONS:
        return
    caller = request._access_key.arn
    for table_name in _table_names(handler):
        key = _customer_managed_key(handler, table_name)
        if key is None:
            continue
        context = _decrypt_context(handler, caller, table_name)
        if not may_decrypt(caller, request._access_key.collect_policies(), key, context):
            raise JsonRESTError("AccessDeniedException", AWS_KMS_DENIAL)


def may_decrypt(caller: str, identity_policies: list[Any], key: Key, context: dict[str, str]) -> bool:
    """KMS's decision for `kms:Decrypt` on `key` by `caller` (see the module docstring)."""
    identity = identity_decision(identity_policies, DECRYPT, key.arn, context)
    direct, delegated, denied = _key_policy_grants(caller, key, context)
    if denied or identity == PermissionResult.DENIED:
        return False
    identity_allows = identity == PermissionResult.PERMITTED
    if account_of(caller) == key.account_id:
        return direct or (delegated and identity_allows)
    return (direct or delegated) and identity_allows


def _key_policy_grants(caller: str, key: Key, context: dict[str, str]) -> tuple[bool, bool, bool]:
    """(allowed naming the caller itself, allowed naming its account root, explicitly denied)."""
    direct = delegated = denied = False
    statements = json.loads(key.policy)["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        result = IAMPolicyStatement(statement).is_action_permitted(DECRYPT, key.arn, caller, context)
        if result == PermissionResult.DENIED:
            denied = True
        elif result == PermissionResult.PERMITTED:
            if _names_caller(statement, caller):
                direct = True
            else:
                delegated = True
    return direct, delegated, denied


def _names_caller(statement: dict[str, Any], caller: str) -> bool:
    """True when the statement's principal is the caller (or everyone), not just its account."""
    principal = statement.get("Principal")
    if principal == "*":
        return True
    named = principal.get("AWS", []) if isinstance(principal, dict) else []
    named = [named] if isinstance(named, str) else named
    return bool({"*", caller, principal_arn(caller)} & set(named))


def _table_names(handler: DynamoHandler) -> list[str]:
    body: dict[str, Any] = handler.body if isinstance(handler.body, dict) else {}
    names = [body["TableName"]] if body.get("TableName") else []
    names += list(body.get("RequestItems", {}) or {})
    for item in body.get("TransactItems", []) or []:
        names += [op["TableName"] for op in item.values() if isinstance(op, dict) and op.get("TableName")]
    names += [found for found in map(partiql.table_of, partiql.statements(body)) if found]
    return list(dict.fromkeys(names))


def _customer_managed_key(handler: DynamoHandler, table_name: str) -> Key | None:
    """The table's customer-managed key; None for an unknown table (DynamoDB then answers
    ResourceNotFound) or an AWS-owned/AWS-managed key (those admit every principal of the account
    that uses DynamoDB). A key that no longer exists makes the table unreadable, as on AWS."""
    backend = handler.dynamodb_backend
    table = backend.tables.get(table_name) or next(
        (t for t in backend.tables.values() if t.table_arn == table_name), None)
    sse = (table.sse_specification or {}) if table is not None else {}
    key_id = sse.get("KMSMasterKeyId") if sse.get("Enabled") else None
    if not key_id:
        return None
    key = _find_key(key_id, backend.account_id, handler.region)
    if key is None:
        raise JsonRESTError("AccessDeniedException", AWS_KMS_DENIAL)
    return None if any(alias.startswith("alias/aws/") for alias in key.aliases) else key


def _find_key(key_id: str, account: str, region: str) -> Key | None:
    """Key by id, ARN or alias, in the account and region its ARN names (else the table's)."""
    if key_id.startswith("arn:"):
        account, region = account_of(key_id), key_id.split(":")[3]
    kms = kms_backends[account][region]
    raw_id = kms.get_key_id(kms.get_alias_name(key_id))
    if raw_id.startswith("alias/"):
        raw_id = kms.get_key_id_from_alias(raw_id) or ""
    return kms.keys.get(raw_id)


def _decrypt_context(handler: DynamoHandler, caller: str, table_name: str) -> dict[str, str]:
    return {
        "kms:ViaService": f"dynamodb.{handler.region}.amazonaws.com",
        "kms:CallerAccount": account_of(caller),
        "kms:EncryptionContext:aws:dynamodb:tableName": table_name.split("/")[-1],
        "kms:EncryptionContext:aws:dynamodb:subscriberId": handler.dynamodb_backend.account_id,  # the owner
        "aws:PrincipalArn": principal_arn(caller),
        "aws:PrincipalAccount": account_of(caller),
    }


def _create_table_naming_its_key_by_arn(self: DynamoDBBackend, name: str, **params: Any) -> Table:
    table = _MOTO_CREATE_TABLE(self, name, **params)
    sse = table.sse_specification or {}
    key_id = sse.get("KMSMasterKeyId")
    if key_id and not key_id.startswith("arn:"):
        key = _find_key(key_id, self.account_id, self.region_name)
        sse["KMSMasterKeyId"] = key.arn if key else key_id
    return table


_MOTO_CREATE_TABLE = DynamoDBBackend.create_table


def install() -> None:
    # same parameters as moto's, passed through as keywords: hence [assignment]
    DynamoDBBackend.create_table = _create_table_naming_its_key_by_arn  # type: ignore[method-assign, assignment]
