"""The plan rows of a spec's ``export`` section: the consumer bucket's policy statement, and a
warning per table whose point-in-time recovery is off (exports need it). Reads only.

A bucket has one policy that others may share, and its statements cannot be tagged: ours are the
statements whose Sids are ``xacct-nb-<env>-ExportWrite`` and ``…-ExportWriteAcl`` (PutObjectAcl,
only for bucket-owner-full-control). Apply puts the policy back with those added or replaced;
destroy with them removed (or deletes the policy when nothing else remains). Every other
statement is carried over as read.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .. import policies
from ..clients import make_client
from ..errors import InputError, error_code
from ..spec import AccessSpec
from .model import Change, IamCall

__all__ = ["bucket_policy_changes", "pitr_changes", "pitr_fix"]


def read_bucket_policy(spec: AccessSpec, s3: Any) -> dict[str, Any] | None:
    """The export bucket's policy (None: it has none); a missing bucket is a one-line error."""
    assert spec.export is not None
    bucket = spec.export.bucket
    try:
        text = s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=spec.consumer_account_id)["Policy"]
    except ClientError as err:
        code = error_code(err)
        if code == "NoSuchBucketPolicy":
            return None
        if code == "NoSuchBucket":
            raise InputError(f"export.bucket: bucket {bucket!r} does not exist — create it in the "
                             f"consumer account {spec.consumer_account_id} or fix the name") from err
        if code in {"AccessDenied", "403"}:
            raise InputError(f"export.bucket: bucket {bucket!r} is not readable by consumer_profile "
                             f"— it must belong to the consumer account {spec.consumer_account_id} "
                             "(exports go to the consumer's bucket)") from err
        raise
    return dict(json.loads(text))


def bucket_policy_changes(spec: AccessSpec, s3: Any, destroy: bool) -> list[Change]:
    assert spec.export is not None
    bucket = spec.export.bucket
    live = read_bucket_policy(spec, s3)
    sids = policies.bucket_statement_sids(spec)
    sid = f"{sids[0]}(+Acl)"
    ours = [s for s in (live or {}).get("Statement", []) if s.get("Sid") in sids]
    others = len((live or {}).get("Statement", [])) - len(ours)
    kept = f"; {others} other statement(s) kept as they are" if others else ""
    if destroy and not ours:
        return [Change("consumer", "bucket-policy", bucket, "no-op", f"no statements {sid}{kept}")]
    if not destroy and policies.same_document({"Statement": ours},
                                              {"Statement": policies.bucket_statements(spec)}):
        return [Change("consumer", "bucket-policy", bucket, "no-op",
                       f"statements {sid} let the role write exports under {spec.export.prefix}/{kept}")]
    wanted = policies.with_bucket_statement(spec, live, keep_ours=not destroy)
    call = (IamCall("PutBucketPolicy", {"Bucket": bucket, "Policy": policies.to_json(wanted)})
            if wanted is not None else IamCall("DeleteBucketPolicy", {"Bucket": bucket}))
    if destroy:
        return [Change("consumer", "bucket-policy", bucket, "delete", f"statements {sid}{kept}", (call,))]
    action = "update" if ours else "create"
    return [Change("consumer", "bucket-policy", bucket, action,
                   f"statements {sid}: the role may write exports under {spec.export.prefix}/{kept}",
                   (call,))]


def pitr_fix(spec: AccessSpec, table: str) -> str:
    return (f"aws dynamodb update-continuous-backups --table-name {table} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true "
            f"--region {spec.region}" + (f" --profile {spec.main_profile}" if spec.main_profile else ""))


def pitr_changes(spec: AccessSpec, main: boto3.Session) -> list[Change]:
    """A row per granted table: "no-op" when PITR is on, "left-alone" (with the command that turns
    it on) when off — xacct-nb never changes tables."""
    ddb = make_client(main, "dynamodb")
    rows = []
    for table in spec.table_names:
        backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        status = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if status == "ENABLED":
            rows.append(Change("main", "pitr", table, "no-op", "point-in-time recovery is on"))
        else:
            rows.append(Change("main", "pitr", table, "left-alone",
                               f"point-in-time recovery is off: exports need it — run {pitr_fix(spec, table)}"))
    return rows
