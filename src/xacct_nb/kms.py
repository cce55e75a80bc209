"""Tables encrypted with a customer-managed KMS key: find the key, and check its key policy.

DynamoDB reads such a table with its key *on the caller's behalf*, so the role needs
``kms:Decrypt`` (and ``kms:DescribeKey``) on the key — `policies.kms_statement` grants them
through DynamoDB only — and the key policy must let that grant count. KMS honours an IAM grant
only when the key policy delegates to the account's IAM (a statement for the account root, as
AWS's default key policy has) or itself allows the role, e.g. a ``kms:CallerAccount`` +
``kms:ViaService`` statement like the one of AWS-managed keys. In grant_mode role xacct-nb never
changes key policies (they belong to whoever owns the key): `key_policy_admits` tells the plan
whether one lets the role in, and `key_policy_advice` what to add when it does not. In grant_mode
resource_policy the spec may ask for our statement in the key policy (``manage_key_policy``:
provisioning/key_policy_grants.py).

AWS-owned and AWS-managed keys (``alias/aws/dynamodb``) need nothing: their policies already
admit every principal of the account through DynamoDB. DynamoDB caches a table's key for about
five minutes, so a revoked ``kms:Decrypt`` keeps reading that long.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .clients import make_client
from .errors import error_code
from .policies import KMS_ACTIONS, dynamodb_service
from .spec import AccessSpec

KEY_CACHE_MINUTES = 5  # DynamoDB re-checks a table's key with KMS about this often


@dataclass(frozen=True)
class TableKey:
    """A granted table's customer-managed key and whether its key policy lets the role use it."""

    table: str
    key_arn: str
    admits_role: bool
    via: str  # which key policy statement admits it, or the advice when none does


def read_table_keys(spec: AccessSpec, main: boto3.Session) -> dict[str, TableKey]:
    """`customer_managed_keys` with clients of `main`, a session of the main account."""
    return customer_managed_keys(spec, make_client(main, "dynamodb", region_name=spec.region),
                                 make_client(main, "kms", region_name=spec.region))


def customer_managed_keys(spec: AccessSpec, ddb: Any, kms: Any) -> dict[str, TableKey]:
    """The spec's tables that use a customer-managed key, read as the main account's admin
    (DescribeTable, DescribeKey, GetKeyPolicy). A table that does not exist (yet) has no key."""
    keys: dict[str, TableKey] = {}
    for table in spec.table_names:
        key_arn = _customer_managed_key(ddb, kms, table)
        if key_arn is None:
            continue
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        via = key_policy_admits(policy, spec)
        keys[table] = TableKey(table, key_arn, via is not None, via or key_policy_advice(spec, key_arn))
    return keys


def table_key_arn(ddb: Any, kms: Any, table: str) -> str | None:
    """The ARN of `table`'s customer-managed key; None for an AWS-owned or AWS-managed key or a
    table that does not exist (yet)."""
    return _customer_managed_key(ddb, kms, table)


def _customer_managed_key(ddb: Any, kms: Any, table: str) -> str | None:
    try:
        sse = ddb.describe_table(TableName=table)["Table"].get("SSEDescription") or {}
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return None
        raise
    key_arn = sse.get("KMSMasterKeyArn")
    if sse.get("SSEType") != "KMS" or not key_arn:
        return None  # encrypted with an AWS-owned key: nothing to grant
    manager = kms.describe_key(KeyId=key_arn)["KeyMetadata"].get("KeyManager")
    return key_arn if manager == "CUSTOMER" else None


def key_policy_admits(policy: dict[str, Any], spec: AccessSpec) -> str | None:
    """Which statement of `policy` lets the role decrypt through DynamoDB — "root delegation",
    "caller account via DynamoDB" or "the role itself" — or None when none does, or a Deny
    without conditions takes kms:Decrypt away from everyone."""
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    decrypting = [s for s in statements if _allows_decrypt(s)]
    if any(s.get("Effect") == "Deny" and not s.get("Condition") and _names_role(s, spec) for s in decrypting):
        return None
    for statement in (s for s in decrypting if s.get("Effect") == "Allow"):
        via = _admits(statement, spec)
        if via:
            return via
    return None


def key_policy_advice(spec: AccessSpec, key_arn: str) -> str:
    """What to add to the key policy of `key_arn`, as one line."""
    root = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{spec.main_account_id}:root"}, "Action": "kms:*", "Resource": "*"}
    via = {"Sid": "DynamoDBCallerAccount", "Effect": "Allow", "Principal": {"AWS": "*"},
           "Action": list(KMS_ACTIONS), "Resource": "*",
           "Condition": {"StringEquals": {"kms:CallerAccount": spec.main_account_id,
                                          "kms:ViaService": dynamodb_service(spec.region)}}}
    return (f"the key policy of {key_arn} lets neither the account's IAM policies (root delegation) nor a "
            f"kms:CallerAccount + kms:ViaService statement authorise {spec.role_name}, so reads of the table "
            f"are denied; ask the key's owner to add AWS's default statement {json.dumps(root)} (IAM policies, "
            f"like this table's policy, then decide) or {json.dumps(via)}")


def _allows_decrypt(statement: dict[str, Any]) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    return any(fnmatch.fnmatchcase("kms:decrypt", a.lower()) for a in actions)


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal", {})
    if principal == "*":
        return ["*"]
    aws = principal.get("AWS", []) if isinstance(principal, dict) else []
    return [aws] if isinstance(aws, str) else list(aws)


def _names_role(statement: dict[str, Any], spec: AccessSpec) -> bool:
    """Whether the statement's principals include the role (by name, its account, or everyone)."""
    root = f"arn:aws:iam::{spec.main_account_id}:root"
    return bool({"*", root, spec.main_account_id, spec.role_arn} & set(_principals(statement)))


def _admits(statement: dict[str, Any], spec: AccessSpec) -> str | None:
    principals = _principals(statement)
    condition = statement.get("Condition") or {}
    if spec.role_arn in principals:
        return "the role itself"
    if not condition and {f"arn:aws:iam::{spec.main_account_id}:root", spec.main_account_id} & set(principals):
        return "root delegation"
    equals = condition.get("StringEquals", {})
    if "*" in principals and set(condition) == {"StringEquals"} and set(equals) == {
            "kms:CallerAccount", "kms:ViaService"} and _matches(equals["kms:CallerAccount"], spec.main_account_id) \
            and _matches(equals["kms:ViaService"], dynamodb_service(spec.region)):
        return "caller account via DynamoDB"
    return None


def _matches(expected: str | list[str], value: str) -> bool:
    return value in ([expected] if isinstance(expected, str) else expected)
