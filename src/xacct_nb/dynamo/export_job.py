"""Starting and following a DynamoDB export (``ExportTableToPointInTime``) into the consumer's bucket.

The role exports: ``S3Bucket``/``S3Prefix`` come from the spec's ``export`` section and
``S3BucketOwner`` is the consumer account, so DynamoDB checks that the bucket really is the
consumer's. A failed export becomes one line naming the fix; :func:`export_url` is what
:func:`~xacct_nb.dynamo.export_reader.read_export` reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..clients import make_client
from ..errors import AwsError, InputError, error_code, explain
from ..spec import AccessSpec

__all__ = ["export_url", "parse_time", "start_export", "wait_for_export"]

# AWS's bounds for an incremental export's window.
MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
# What to do about each FailureCode DescribeExport may report.
_FAILURE_FIXES = {
    "S3AccessDenied": "the bucket policy must admit the role and the role may write under the "
                      "prefix: run xacct-nb apply with the export section",
    "S3NoSuchBucket": "create the bucket in the consumer account, or fix export.bucket",
}


def parse_time(text: str, field: str) -> datetime:
    """ISO 8601 (``2026-12-02T10:00``, ``…Z``, ``…+01:00``); without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{field} {text!r} is not a time — write ISO 8601, e.g. 2026-12-02T10:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _window(since: datetime, until: datetime | None) -> dict[str, Any]:
    end = until or datetime.now(UTC)
    if not MIN_WINDOW <= end - since <= MAX_WINDOW:
        raise InputError(f"--incremental-since {since:%Y-%m-%dT%H:%M}Z to {end:%Y-%m-%dT%H:%M}Z is "
                         f"{end - since}: an incremental export covers 15 minutes to 24 hours — "
                         "move --incremental-since or --until")
    spec: dict[str, Any] = {"ExportFromTime": since, "ExportViewType": "NEW_AND_OLD_IMAGES"}
    if until is not None:
        spec["ExportToTime"] = until
    return {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": spec}


def start_export(role: boto3.Session, spec: AccessSpec, table: str, *,
                 since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Start the export of `table` as the role; returns DynamoDB's ExportDescription."""
    if spec.export is None:
        raise InputError("the params have no export section — add export: {bucket: NAME, prefix: "
                         "PATH} (a bucket of the consumer account) and run xacct-nb apply")
    if table not in spec.table_names:
        raise InputError(f"--table {table}: not in the spec's table list — granted tables: "
                         f"{', '.join(spec.table_names)}")
    if until is not None and since is None:
        raise InputError("--until needs --incremental-since (a full export has no window)")
    request: dict[str, Any] = {
        "TableArn": spec.table_arn(table), "S3Bucket": spec.export.bucket,
        "S3BucketOwner": spec.consumer_account_id, "S3Prefix": spec.export.prefix,
        "ExportFormat": "DYNAMODB_JSON"}
    if since is not None:
        request.update(_window(since, until))
    client = make_client(role, "dynamodb")
    try:
        return dict(client.export_table_to_point_in_time(**request)["ExportDescription"])
    except ClientError as err:
        if error_code(err) == "PointInTimeRecoveryUnavailableException":
            from ..provisioning.export_grants import pitr_fix

            raise InputError(f"table {table}: point-in-time recovery is off, and exports need it — "
                             f"ask the main account to run {pitr_fix(spec, table)}") from err
        raise explain(err, f"starting the export of {table}",
                      "the role needs dynamodb:ExportTableToPointInTime: add the export section "
                      "and run xacct-nb apply") from err


def wait_for_export(role: boto3.Session, export_arn: str, *,
                    progress: Callable[[str], None] | None = None, poll_seconds: float = 2.0,
                    timeout: float | None = None) -> dict[str, Any]:
    """Poll DescribeExport until the export leaves IN_PROGRESS; a FAILED export raises."""
    client = make_client(role, "dynamodb")
    start = time.monotonic()
    while True:
        try:
            described = dict(client.describe_export(ExportArn=export_arn)["ExportDescription"])
        except (ClientError, BotoCoreError) as err:
            raise explain(err, f"following export {export_arn}",
                          "the role needs dynamodb:DescribeExport on table/T/export/*") from err
        status = described.get("ExportStatus")
        if progress is not None:
            progress(f"export {export_arn.rsplit('/', 1)[-1]}: {status}, "
                     f"{time.monotonic() - start:.0f} s")
        if status == "COMPLETED":
            return described
        if status == "FAILED":
            code = str(described.get("FailureCode") or "unknown")
            fix = _FAILURE_FIXES.get(code, "see the FailureMessage; export again once fixed")
            raise AwsError(f"export {export_arn} failed: {code}: {described.get('FailureMessage')} "
                           f"— {fix}", code)
        if timeout is not None and time.monotonic() - start > timeout:
            raise AwsError(f"export {export_arn} still {status} after {timeout:.0f} s — follow it "
                           "later (DescribeExport) and read it once COMPLETED")
        time.sleep(poll_seconds)


def export_url(described: dict[str, Any]) -> str:
    """``s3://bucket/prefix/AWSDynamoDB/<export id>/`` of an ExportDescription."""
    export_id = described["ExportArn"].rsplit("/", 1)[-1]
    prefix = (described.get("S3Prefix") or "").strip("/")
    return f"s3://{described['S3Bucket']}/{prefix + '/' if prefix else ''}AWSDynamoDB/{export_id}/"
