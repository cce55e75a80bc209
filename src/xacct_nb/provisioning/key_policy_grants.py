"""grant_mode ``resource_policy`` with ``manage_key_policy: true``: our statement in the key policy
of each granted table's customer-managed KMS key. Reads only; the rows carry the writes.

Cross-account, DynamoDB decrypts a table's key *as the caller*: the consumer principal's read of a
table under a customer-managed key needs the key policy to admit that principal (and its own
identity policy to allow kms:Decrypt: the consumer-side grant policy has that statement when
this is on). Our statement admits exactly the consumer principal (and, with ``organization_id``,
the organization's principals), for ``kms:Decrypt`` and ``kms:DescribeKey`` only — item reads and
writes both decrypt the table key; DynamoDB itself made the data key when the table was created —
and only through DynamoDB in the spec's region (``kms:ViaService``) for the granted tables under
that key (``kms:EncryptionContext:aws:dynamodb:tableName``).

A key policy is shared, and its statements cannot be tagged: ours are those whose Sid starts with
`policies.rp_sid_prefix` (the env), exactly as in tables' resource policies. Apply writes the
policy back with ours added or replaced; destroy (or a spec that stops asking) with ours removed;
every other statement is carried over as read. The owner is never locked out: a plan whose policy
would lose the statement that lets the main account administer the key (``kms:PutKeyPolicy`` for
its root or one of its principals) is refused — KMS's own lockout check would refuse the write,
but the operator gets one line before anything is written. KMS has no revision ids for key
policies: the plan id covers the document read, so apply refuses when it changed since the review,
and only a change in the second between that re-read and the write could be overwritten.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

import boto3

from .. import kms, policies
from ..clients import make_client
from ..errors import InputError
from ..spec import AccessSpec
from .model import Change, IamCall

__all__ = ["KEY_POLICY_MAX_BYTES", "LiveKeyPolicy", "key_policy_changes", "key_policy_statements",
           "keeps_owner_admin", "read_key_policies"]

KEY_POLICY_MAX_BYTES = 32 * 1024  # KMS's limit for a key policy document
ADMIN_ACTION = "kms:PutKeyPolicy"  # who may change the key policy administers the key


@dataclass(frozen=True)
class LiveKeyPolicy:
    """One customer-managed key of the granted tables: its ARN, the granted tables it encrypts and
    its key policy ("default", the only name KMS has) as read."""

    key_arn: str
    tables: tuple[str, ...]
    document: dict[str, Any]


def read_key_policies(spec: AccessSpec, main: boto3.Session) -> dict[str, LiveKeyPolicy]:
    """The key policies of the granted tables' customer-managed keys, read as the main account."""
    ddb = make_client(main, "dynamodb", region_name=spec.region)
    kms_client = make_client(main, "kms", region_name=spec.region)
    tables: dict[str, list[str]] = {}
    for table in spec.table_names:
        key_arn = kms.table_key_arn(ddb, kms_client, table)
        if key_arn is not None:
            tables.setdefault(key_arn, []).append(table)
    return {arn: LiveKeyPolicy(arn, tuple(names),
                               json.loads(kms_client.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]))
            for arn, names in tables.items()}


def key_policy_statements(spec: AccessSpec, tables: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Our statements in the key policy of a key that encrypts `tables` (granted tables)."""
    def condition_for(names: list[str]) -> dict[str, Any]:
        return {"StringEquals": {"kms:ViaService": policies.dynamodb_service(spec.region),
                                 "kms:EncryptionContext:aws:dynamodb:tableName": sorted(names)}}

    condition = condition_for(list(tables))
    statements: list[dict[str, Any]] = []
    for sub in spec.consumer_specs:  # with a consumers: list, each for the tables of its own subset
        theirs = [t for t in tables if t in sub.table_names]
        if theirs:
            statements.append({
                "Sid": policies.rp_sid(spec, sub.consumer_principal, "Kms"), "Effect": "Allow",
                "Principal": {"AWS": sub.consumer_principal}, "Action": list(policies.KMS_ACTIONS),
                "Resource": "*", "Condition": condition_for(theirs)})
    if spec.organization_id:
        statements.append({
            "Sid": policies.rp_sid(spec, f"org:{spec.organization_id}", "Kms"), "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": list(policies.KMS_ACTIONS), "Resource": "*",
            "Condition": {"StringEquals": {**condition["StringEquals"],
                                           "aws:PrincipalOrgID": spec.organization_id}}})
    return statements


def keeps_owner_admin(document: dict[str, Any] | None, main_account_id: str) -> bool:
    """Whether an unconditional Allow of kms:PutKeyPolicy names the main account's root or one of
    its principals (and no unconditional Deny takes it away): the owner can still manage the key."""
    statements = (document or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    admin = [s for s in statements if isinstance(s, dict) and not s.get("Condition") and _allows_admin(s)
             and _names_main_account(s, main_account_id)]
    return any(s.get("Effect") == "Allow" for s in admin) and not any(s.get("Effect") == "Deny" for s in admin)


def _allows_admin(statement: dict[str, Any]) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    return any(fnmatch.fnmatchcase(ADMIN_ACTION.lower(), str(a).lower()) for a in actions)


def _names_main_account(statement: dict[str, Any], account: str) -> bool:
    principal = statement.get("Principal", {})
    named = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
    named = [named] if isinstance(named, str) else named
    return any(p == account or str(p).startswith(f"arn:aws:iam::{account}:") for p in named)


def key_policy_changes(spec: AccessSpec, live: dict[str, LiveKeyPolicy], *, keep: bool) -> list[Change]:
    """One row per key: our statements converged to the spec (`keep` and the spec asks for them)
    or removed (destroy, a spec that stops asking, the old half of a switch to role mode)."""
    manage = keep and spec.manage_key_policy
    rows = []
    for key in live.values():
        want = key_policy_statements(spec, key.tables) if manage else []
        rows.append(_converge(spec, key, want))
    return rows


def _show(statements: list[dict[str, Any]]) -> str:
    return " ".join(policies.to_json(s) for s in statements)


def _converge(spec: AccessSpec, key: LiveKeyPolicy, want: list[dict[str, Any]]) -> Change:
    ours = policies.our_statements(spec, key.document)
    statements = key.document.get("Statement", [])
    others = (1 if isinstance(statements, dict) else len(statements)) - len(ours)
    kept = f"; {others} other statement(s) kept as they are" if others else ""
    name = f"{key.key_arn} ({', '.join(key.tables)})"
    if policies.canonical(ours) == policies.canonical(want):
        admitted = ", ".join(str(st["Principal"]["AWS"]) for st in want if st["Principal"]["AWS"] != "*")
        detail = (f"our statements admit {admitted or 'the organization'} to decrypt through DynamoDB{kept}" if want
                  else f"no statement of ours{kept}")
        return Change("main", "key-policy", name, "no-op", detail)
    merged = policies.merge_statements(spec, key.document, want)
    if merged is None or not keeps_owner_admin(merged, spec.main_account_id):
        raise InputError(f"key policy of {key.key_arn}: without our statements it would let no principal of "
                         f"the main account {spec.main_account_id} change it (no unconditional Allow of "
                         f"{ADMIN_ACTION}) — refusing to lock the owner out: add an admin statement (AWS's default "
                         "'Enable IAM User Permissions' for the account root) to the key policy first")
    size = policies.policy_bytes(merged)
    if size > KEY_POLICY_MAX_BYTES:
        raise InputError(f"key policy of {key.key_arn} would be {size} bytes with our statement; KMS allows "
                         f"{KEY_POLICY_MAX_BYTES} — remove statements others no longer need from it, or set "
                         "manage_key_policy: false and add the statement yourself")
    call = IamCall("PutKeyPolicy", {"KeyId": key.key_arn, "PolicyName": "default",
                                    "Policy": policies.to_json(merged)})
    if not want:
        return Change("main", "key-policy", name, "delete",
                      f"remove our statement(s) {_show(ours)}{kept}; {size} bytes", (call,))
    if ours:
        return Change("main", "key-policy", name, "update",
                      f"before: {_show(ours)} → after: {_show(want)}{kept}; {size} bytes", (call,))
    return Change("main", "key-policy", name, "create", f"add {_show(want)}{kept}; {size} bytes", (call,))
