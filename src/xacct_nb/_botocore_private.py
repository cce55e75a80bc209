"""Every use of boto3/botocore internals, in one place (after PynamoDB's ``_botocore_private``).

boto3 and botocore have no public accessor for these; each is read here, through a function that
says what it is, and nowhere else in the package. tests/test_botocore_private.py checks every
entry of `PRIVATE_USES` against the installed botocore, so an upgrade that renames one fails a
test instead of silently changing what the package does (a missing expiry would read as "never
expires", a missing role fetcher as "not a role session").
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import boto3
    import botocore.session


class PrivateUse(NamedTuple):
    owner: str  # the botocore/boto3 class that has it
    attribute: str
    kind: str  # "instance attribute" (set in __init__), "method" or "behaviour"
    used_by: str
    why: str


PRIVATE_USES: tuple[PrivateUse, ...] = (
    PrivateUse("boto3.session.Session", "_session", "instance attribute",
               "sessions.assume, sessions._refuse_role_profile_without_source_identity, "
               "dynamo.distributed.AssumeRecipe.from_session (its profile)",
               "the botocore session under a boto3 Session (config, credential provider chain)"),
    PrivateUse("botocore.credentials.RefreshableCredentials", "_expiry_time", "instance attribute",
               "sessions._expiry, dynamo.distributed.worker_credentials",
               "when assumed-role credentials expire"),
    PrivateUse("botocore.credentials.RefreshableCredentials", "_refresh_using", "instance attribute",
               "sessions.role_now_refused",
               "the fetcher that refreshes a role session (to assume its role once more)"),
    PrivateUse("botocore.credentials.AssumeRoleCredentialFetcher", "_get_credentials", "method",
               "sessions.role_now_refused",
               "one uncached AssumeRole with the session's own arguments (fetch_credentials caches)"),
    PrivateUse("botocore.credentials.AssumeRoleCredentialFetcher", "_role_arn", "instance attribute",
               "sessions.role_now_refused", "the role a role session assumes"),
    PrivateUse("botocore.endpoint.Endpoint", "_do_get_response", "behaviour",
               "dynamo.rawpages (before-parse handler)",
               "merges the handler's customized_response_dict over the parsed response"),
)


def botocore_session(session: boto3.Session) -> botocore.session.Session:
    """The botocore session a boto3 Session wraps."""
    core: botocore.session.Session = session._session
    return core


def credential_expiry(credentials: Any) -> dt.datetime | None:
    """When refreshable credentials expire (None for static keys, which have no expiry)."""
    return getattr(credentials, "_expiry_time", None)


def role_fetcher(credentials: Any) -> Any | None:
    """The AssumeRoleCredentialFetcher that refreshes role credentials; None for any other kind."""
    from botocore.credentials import AssumeRoleCredentialFetcher

    fetcher = getattr(getattr(credentials, "_refresh_using", None), "__self__", None)
    return fetcher if isinstance(fetcher, AssumeRoleCredentialFetcher) else None


def assume_again(fetcher: Any) -> None:
    """One fresh AssumeRole with the fetcher's own arguments, bypassing its cache (raises
    ClientError when the role is gone or no longer trusts the caller)."""
    fetcher._get_credentials()


def assumed_role_arn(fetcher: Any) -> str:
    """The role ARN a fetcher assumes."""
    return str(fetcher._role_arn)
