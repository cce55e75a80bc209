"""A failed DynamoDB call of a :class:`RemoteTable` → our one-line error that names the fix.

Throttling that outlasted botocore's retries, an expired or invalid key, a missing table, a
denial (telling a role that is gone from a policy that does not allow the action), a key
condition that does not match the key; everything else through :func:`xacct_nb.errors.explain`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..clients import make_client
from ..errors import (
    EXPIRED_CODES,
    AccessDenied,
    AwsError,
    InputError,
    XacctError,
    aws_message,
    error_code,
    explain,
    is_access_denied,
    is_throttle,
)
from .rawpages import GarbledBody

__all__ = ["READ_OPERATIONS", "failed_fetch", "translate", "where"]

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable",
                             "ConditionCheckItem", "PartiQLSelect"})


def where(table: str, index: str | None = None) -> str:
    return f"index {index} of table {table}" if index else f"table {table}"


def failed_fetch(session: boto3.Session, table: str, err: BaseException, client: Any,
                 operation: str, index: str | None) -> XacctError:
    """A page that could not be fetched: throttled past botocore's attempts, or :func:`translate`."""
    if is_throttle(err):
        attempts = client.meta.config.retries.get("total_max_attempts")
        return AwsError(
            f"{where(table, index)} is throttled: dynamodb:{operation} still got "
            f"{error_code(err)} after {attempts} attempts — lower segments=, set "
            "max_rcu=, or retry later", error_code(err))
    return translate(session, table, err, operation, index)


def translate(session: boto3.Session, table: str, err: BaseException, operation: str,
              index: str | None = None, *, key_for: Callable[[], Any] | None = None) -> XacctError:
    """``err`` of ``dynamodb:operation`` on the table (or index) as one line (``key_for``: the
    key schema, asked only when the key condition did not match it)."""
    action = f"dynamodb:{operation} on {where(table, index)}"
    if isinstance(err, GarbledBody):
        return AwsError(f"{where(table, index)}: {err}", "GarbledBody")
    code = error_code(err)
    if _embedded_code(err) in EXPIRED_CODES:  # moto: invalid keys arrive as an XML 403
        return explain(ClientError({"Error": {"Code": _embedded_code(err)}}, operation), action)
    if code == "ResourceNotFoundException":
        return InputError(f"table {table} not found in account {_account(session)} "
                          f"(region {session.region_name}) — check the name / the granted tables")
    if is_access_denied(err):
        from ..sessions import role_now_refused

        gone = role_now_refused(session)  # one AssumeRole: tells "gone" from "not allowed"
        if gone:
            return AccessDenied(
                f"{action}: access denied — the role {gone} no longer exists or no longer "
                "trusts this caller (assuming it again is denied too): run `xacct-nb verify` "
                "to see which, then re-provision (xacct-nb apply) or ask the main account's "
                "owner", error_code(err) or "AccessDenied")
        if isinstance(err, ClientError) and "KMS key access denied" in aws_message(err):  # KMS refused, via DynamoDB
            return explain(err, action, _kms_fix(table))
        return explain(err, action, _denied_fix(table, operation, index))
    if isinstance(err, ClientError) and code == "ValidationException" \
            and "key schema" in aws_message(err).lower() and key_for is not None:
        return InputError(f"{action}: the key condition does not match the key: {key_for()}")
    return explain(err, action)


def _kms_fix(table: str) -> str:
    return (f"{table} is encrypted with a customer-managed KMS key, and its key policy (or this caller's "
            "own policy) does not let this caller use kms:Decrypt through DynamoDB — grant_mode resource_policy: "
            "set manage_key_policy: true and apply (or add the statement the plan names to the key policy); "
            "grant_mode role: see the plan's kms-key row")


def _denied_fix(table: str, operation: str, index: str | None) -> str:
    resource = f"{table}/index/*" if index else table
    if operation in READ_OPERATIONS:
        return (f"the role's policy for {table} does not allow dynamodb:{operation} on "
                f"{resource} — is {table} in the spec's table list and the role "
                "provisioned? see `xacct-nb verify`")
    return (f"the role's policy for {table} does not allow dynamodb:{operation} — access "
            "level is probably Read (writes need ReadWriteUpdate or Full); "
            "see `xacct-nb verify`")


def _account(session: boto3.Session) -> str:
    """The session's account, for messages only (sts:GetCallerIdentity needs no permission)."""
    try:
        return make_client(session, "sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError):
        return "(unknown)"


def _embedded_code(err: BaseException) -> str:
    """The error code inside an XML body that botocore's JSON parser could not read."""
    if not isinstance(err, ClientError):
        return ""
    match = re.search(r"<Code>([^<]+)</Code>", err.response.get("Error", {}).get("Message") or "")
    return match.group(1) if match else ""
