"""DynamoDB exports to S3 as AWS makes them, and S3's ExpectedBucketOwner check (moto 5.2.5).

What moto gets wrong, and what we do about it:

1. ``ExportTableToPointInTime`` writes ONE ``.gz`` object at ``PREFIX/AWSDynamoDB/<uuid>/data/
   <uuid>.gz`` and no manifests; the folder's uuid is not the export id. -> AWS's layout
   (Developer Guide, "DynamoDB table export output format"): ``PREFIX/AWSDynamoDB/<export id>/``
   with ``_started``, ``data/*.json.gz`` (``ITEMS_PER_FILE`` items each, one ``{"Item": …}`` per
   line), ``manifest-files.json`` (one line per file: itemCount, md5Checksum = base64 MD5 of the
   object, etag, dataFileS3Key as a full key) and ``manifest-summary.json``. The ``.checksum``
   files AWS also writes are not written (their format is not documented).
   ``BilledSizeBytes`` is the size of the table's items by AWS's rules (moto: the gzip's size).
2. The export ARN is ``…:table/<the table's whole ARN>/import/<uuid>``. -> ``<table ARN>/export/
   <export id>``, the id shaped like AWS's (``01234567890123-a1b2c3d4``: epoch milliseconds, 8 hex).
3. The export writes into the bucket whatever the bucket policy says. -> the caller (the role)
   must be allowed ``s3:PutObject`` under the prefix by its identity policies and — the bucket
   being in another account — by the bucket's policy; else the export FAILS as on AWS
   (asynchronously: ``FailureCode`` ``S3AccessDenied``, nothing written). Writing into another
   account's bucket, the export also sets the canned ACL ``bucket-owner-full-control`` on its
   objects, so there ``s3:PutObjectAcl`` (with ``s3:x-amz-acl`` = that ACL in the request
   context) must be allowed by both sides as well, as AWS's export guide lists it. Decided when
   the request is authorised (the caller is known then) and applied by the export's thread.
4. Incremental exports are written as full ones (moto keeps no history). -> they fail with
   ``FailureCode`` ``UnsupportedInSandbox``: the sandbox cannot produce change records.
5. S3 ignores ``ExpectedBucketOwner`` (header ``x-amz-expected-bucket-owner``). -> a bucket of
   another account answers 403 AccessDenied, as S3 does.

The authorisation of ``ExportTableToPointInTime``/``DescribeExport`` on the table ARN (not ``*``)
is fix 1 of :mod:`.patches` (``TableArn``/``ExportArn`` are among its ARN parameters).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
from typing import Any
from uuid import uuid4

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.table_export import TableExport
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.iam.access_control import IAMPolicyStatement, IAMRequest, PermissionResult
from moto.s3.exceptions import BucketAccessDeniedError
from moto.s3.responses import S3Response

from .arns import account_of, principal_arn
from .evaluation import identity_decision
from .patches_capacity import item_size

ITEMS_PER_FILE = 500  # small, so even the sandbox's tables export as several files (partitions)
WRITE_ACTION = "s3:PutObject"
ACL_ACTION = "s3:PutObjectAcl"
EXPORT_ACL = "bucket-owner-full-control"
S3_DENIAL = "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"

# The decision of fix 3, from the request's authorisation to the export it creates (same thread).
_pending = threading.local()


def check_bucket_write(handler: Any, request: IAMRequest) -> None:
    """Called after ExportTableToPointInTime itself was allowed: may the caller write the export?"""
    body = handler.body if isinstance(handler.body, dict) else {}
    bucket = body.get("S3Bucket", "")
    owner = body.get("S3BucketOwner") or handler.current_account
    resource = f"arn:aws:s3:::{bucket}/{_prefix(body.get('S3Prefix'))}AWSDynamoDB/_started"
    caller = request._access_key.arn
    context = {"aws:PrincipalArn": principal_arn(caller), "aws:PrincipalAccount": account_of(caller)}
    actions = [WRITE_ACTION]
    if account_of(caller) != owner:  # the objects get the canned ACL for the bucket's owner
        actions.append(ACL_ACTION)
        context["s3:x-amz-acl"] = EXPORT_ACL
    _pending.admitted = all(_may_write(request, action, bucket, owner, resource, caller, context)
                            for action in actions)


def _may_write(request: IAMRequest, action: str, bucket: str, owner: str, resource: str, caller: str,
               context: dict[str, str]) -> bool:
    identity = identity_decision(request._access_key.collect_policies(), action, resource, context)
    bucket_says = bucket_policy_decision(bucket, owner, action, resource, caller, context)
    if PermissionResult.DENIED in (identity, bucket_says):
        return False
    if account_of(caller) == owner:
        return PermissionResult.PERMITTED in (identity, bucket_says)
    return identity == bucket_says == PermissionResult.PERMITTED


def bucket_owner(bucket: str) -> str | None:
    """The account that owns `bucket` in the sandbox (None: no such bucket)."""
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    return str(found[1]) if found else None


def bucket_policy_decision(bucket: str, owner: str, action: str, resource: str, caller: str,
                           context: dict[str, str]) -> PermissionResult:
    """What `bucket`'s policy says about `caller` doing `action` on `resource`."""
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    if found is None or found[1] != owner:
        return PermissionResult.NEUTRAL  # the export fails with S3NoSuchBucket anyway
    policy = s3_backends[owner][found[0]].buckets[bucket].policy
    if not policy:
        return PermissionResult.NEUTRAL
    statements = json.loads(policy)["Statement"]
    outcome = PermissionResult.NEUTRAL
    for statement in statements if isinstance(statements, list) else [statements]:
        result = IAMPolicyStatement(statement).is_action_permitted(action, resource, caller, context)
        if result == PermissionResult.DENIED:
            return result
        if result == PermissionResult.PERMITTED:
            outcome = result
    return outcome


def _prefix(prefix: str | None) -> str:
    return f"{prefix.strip('/')}/" if prefix and prefix.strip("/") else ""


class AwsLayoutExport(TableExport):
    """moto's TableExport writing AWS's layout under an AWS-shaped export ARN (fixes 1-4)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.export_id = f"{int(time.time() * 1000):014d}-{uuid4().hex[:8]}"
        self.arn = f"{self.table.table_arn}/export/{self.export_id}"
        self.start_time = time.time()
        self.end_time: float | None = None
        self.admitted = getattr(_pending, "admitted", True)  # True while enforcement is off
        _pending.admitted = True

    def run(self) -> None:
        if self.export_type == "INCREMENTAL_EXPORT":
            self._fail("UnsupportedInSandbox", "the sandbox keeps no change history, so it cannot "
                                               "make incremental exports; use a full export")
        elif not self.admitted:
            self._fail("S3AccessDenied", S3_DENIAL)
        else:
            super().run()
        self.end_time = time.time()

    def _fail(self, code: str, message: str) -> None:
        self.status, self.failure_code, self.failure_message = "FAILED", code, message

    def _backup_to_s3_file(self, s3_backend: Any) -> None:
        folder = f"{_prefix(self.s3_prefix)}AWSDynamoDB/{self.export_id}"
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=f"{folder}/_started", value=b"")
        items = self.table.all_items()
        lines = [dynamo_json_dump(item.to_json(root_attr_name="Item")) for item in items]
        # AWS bills an export by the size of the table's data (not of the files written)
        self.processed_bytes = sum(item_size(item.attrs) for item in items)
        manifest = []
        for number, start in enumerate(range(0, max(len(lines), 1), ITEMS_PER_FILE)):
            chunk = lines[start:start + ITEMS_PER_FILE]
            body = gzip.compress("".join(line + "\n" for line in chunk).encode("utf-8"))
            key = f"{folder}/data/{number:05d}-{uuid4().hex[:8]}.json.gz"
            s3_backend.put_object(bucket_name=self.s3_bucket, key_name=key, value=body)
            digest = hashlib.md5(body, usedforsecurity=False).digest()
            manifest.append({"itemCount": len(chunk), "md5Checksum": base64.b64encode(digest).decode(),
                             "etag": digest.hex(), "dataFileS3Key": key})
        self.item_count = len(lines)
        files_key = f"{folder}/manifest-files.json"
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=files_key,
                              value="".join(json.dumps(m) + "\n" for m in manifest).encode())
        s3_backend.put_object(bucket_name=self.s3_bucket, key_name=f"{folder}/manifest-summary.json",
                              value=json.dumps(self._summary(files_key)).encode())
        self.status = "COMPLETED"

    def _summary(self, files_key: str) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.start_time))
        return {"version": "2020-06-30", "exportArn": self.arn, "startTime": stamp,
                "endTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "tableArn": self.table.table_arn, "tableId": str(uuid4()), "exportTime": stamp,
                "s3Bucket": self.s3_bucket, "s3Prefix": self.s3_prefix, "s3SseAlgorithm": "AES256",
                "s3SseKmsKeyId": None, "manifestFilesS3Key": files_key,
                "billedSizeBytes": self.processed_bytes, "itemCount": self.item_count,
                "outputFormat": "DYNAMODB_JSON", "exportType": self.export_type}

    def response(self) -> dict[str, Any]:
        described = {k: v for k, v in super().response().items() if v is not None}
        described["ExportManifest"] = f"{_prefix(self.s3_prefix)}AWSDynamoDB/{self.export_id}/manifest-summary.json"
        described["StartTime"] = self.start_time
        if self.end_time is not None:
            described["EndTime"] = self.end_time
        return described


# --- 5: ExpectedBucketOwner --------------------------------------------------------------------

def _owner_checked(original: Any) -> Any:
    def respond(self: S3Response, request: Any, full_url: str) -> Any:
        from moto.s3.models import s3_backends

        expected = request.headers.get("x-amz-expected-bucket-owner")
        bucket = self.parse_bucket_name_from_url(request, full_url)
        found = s3_backends.bucket_accounts.get(bucket) if bucket else None
        if expected and found is not None and found[1] != expected:
            raise BucketAccessDeniedError(bucket)
        return original(self, request, full_url)
    return respond


def install() -> None:
    dynamodb_models.TableExport = AwsLayoutExport  # type: ignore[misc]
    S3Response._bucket_response = _owner_checked(S3Response._bucket_response)  # type: ignore[method-assign]
    S3Response._key_response = _owner_checked(S3Response._key_response)  # type: ignore[method-assign]
