"""S3 requests: identity-policy conditions evaluated with S3's request context (moto 5.2.5).

What moto gets wrong, and what we do about it:

1. moto authorises an S3 request on the caller's identity policies with NO request context, and
   our patched statement treats a missing context as "conditions hold" (moto's behaviour for
   identity policies), so a condition on ``s3:x-amz-acl`` or ``s3:prefix`` is ignored: a role
   allowed ``s3:PutObjectAcl`` only for ``bucket-owner-full-control`` could set ``public-read``,
   and an analyst allowed ``s3:ListBucket`` only under a prefix could list the whole bucket.
   -> S3 requests are authorised with the context AWS supplies for the keys xacct-nb's documents
   use: ``s3:x-amz-acl`` (the request's canned ACL header), ``s3:prefix`` (the listing's
   ``prefix`` parameter), ``aws:PrincipalArn``, ``aws:PrincipalAccount``. A key absent from the
   request fails a positive operator, as on AWS.
2. A PutObject that carries an ACL (``x-amz-acl`` or an ``x-amz-grant-*`` header) needs
   ``s3:PutObjectAcl`` too on AWS; moto checks only PutObject. -> both are checked.
3. The bucket's policy is never consulted, so a principal of another account reaches any bucket
   its own identity policies name. -> as on AWS, a request from another account than the
   bucket's needs an Allow from the bucket policy as well, and an explicit Deny in the bucket
   policy refuses anyone. (Within the bucket's account the identity policies must still allow:
   stricter than AWS, where the bucket policy alone may — the sandbox never allows more.)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from moto.iam.access_control import IAMPolicy, PermissionResult, S3IAMRequest

from .arns import account_of, principal_arn
from .evaluation import combined
from .patches_export import bucket_owner, bucket_policy_decision

ACL_ACTION = "s3:PutObjectAcl"
_ACL_HEADERS = ("x-amz-acl", "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                "x-amz-grant-write-acp")


def request_context(request: S3IAMRequest) -> dict[str, str]:
    """The condition keys of an S3 request that xacct-nb's documents use."""
    caller = request._access_key.arn
    context = {"aws:PrincipalArn": principal_arn(caller), "aws:PrincipalAccount": account_of(caller)}
    headers = {str(k).lower(): str(v) for k, v in request._headers.items()}
    if "x-amz-acl" in headers:
        context["s3:x-amz-acl"] = headers["x-amz-acl"]
    query = parse_qs(urlparse(request._path).query, keep_blank_values=True)
    if "prefix" in query:
        context["s3:prefix"] = query["prefix"][0]
    return context


def _check_action_permitted(self: S3IAMRequest, resource: str) -> None:
    context = request_context(self)
    actions = [self._action]
    headers = {str(k).lower() for k, _ in self._headers.items()}  # werkzeug headers iterate as pairs
    if self._action == "s3:PutObject" and headers.intersection(_ACL_HEADERS):
        actions.append(ACL_ACTION)
    policies: list[Any] = self._access_key.collect_policies()
    caller = self._access_key.arn
    bucket = resource.split(":::", 1)[-1].split("/", 1)[0]
    owner = bucket_owner(bucket)
    for action in actions:
        identity = combined(IAMPolicy(p).is_action_permitted(action, resource, None, context) for p in policies)
        bucket_says = (bucket_policy_decision(bucket, owner, action, resource, caller, context)
                       if owner else PermissionResult.NEUTRAL)
        if PermissionResult.DENIED in (identity, bucket_says) or identity != PermissionResult.PERMITTED:
            self._raise_access_denied()
        if owner and account_of(caller) != owner and bucket_says != PermissionResult.PERMITTED:
            self._raise_access_denied()


def install() -> None:
    S3IAMRequest.check_action_permitted = _check_action_permitted  # type: ignore[method-assign,assignment]
