"""The plan's note on ``trusted_principal_arns``: which users and roles of the consumer account
each pattern admits today, read with the consumer profile. Reads only.

A pattern with ``*`` or ``?`` admits every principal whose ARN it matches (`spec.arn_like`, IAM's
ArnLike), including ones created later; the spec refuses patterns that admit a whole kind of
principal (`spec.whole_account_pattern`), and this note shows the operator what the others admit
now — an ``AWSReservedSSO_AdministratorAccess`` role under ``role/aws-reserved/*`` is plain to see.
When the consumer profile may not list users and roles, the note says so instead.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..errors import error_code, is_access_denied
from ..spec import AccessSpec, arn_like
from .model import Change

__all__ = ["SHOWN_MATCHES", "trust_match_changes"]

SHOWN_MATCHES = 10  # principals named per pattern; the rest are counted


def trust_match_changes(spec: AccessSpec, iam: Any | None) -> list[Change]:
    """One "trust-match" row (no-op: a note) per trusted_principal_arns entry, listing the consumer
    account's users and roles it matches; `iam` is the consumer's IAM client (None: not connected)."""
    patterns = spec.trusted_principal_arns
    if not patterns:
        return []
    if iam is None:
        return _unchecked(patterns, "this plan does not read the consumer account (plan its side "
                                    "to list them)")
    try:
        principals = _principal_arns(iam)
    except ClientError as err:
        if not is_access_denied(err):
            raise
        return _unchecked(patterns, f"consumer_profile may not list users and roles ({error_code(err)})")
    rows = []
    for pattern in patterns:
        hits = [arn for arn in principals if arn_like(pattern, arn)]
        shown = [arn.split(":", 5)[5] for arn in hits[:SHOWN_MATCHES]]
        more = f" and {len(hits) - SHOWN_MATCHES} more" if len(hits) > SHOWN_MATCHES else ""
        detail = (f"admits {len(hits)} existing principal(s) now: {', '.join(shown)}{more}" if hits
                  else "admits no existing principal now")
        rows.append(Change("consumer", "trust-match", pattern, "no-op", detail))
    return rows


def _principal_arns(iam: Any) -> list[str]:
    arns = [user["Arn"] for page in iam.get_paginator("list_users").paginate() for user in page["Users"]]
    arns += [role["Arn"] for page in iam.get_paginator("list_roles").paginate() for role in page["Roles"]]
    return sorted(arns)


def _unchecked(patterns: tuple[str, ...], why: str) -> list[Change]:
    return [Change("consumer", "trust-match", pattern, "no-op", f"matching principals not listed: {why}")
            for pattern in patterns]
