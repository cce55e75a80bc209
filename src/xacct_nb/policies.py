"""IAM policy documents for the cross-account role, built from an `AccessSpec` (pure functions).

Three documents make the access work:

* the **trust policy** of the role in the main account (`trust_policy`): the consumer account
  (``arn:aws:iam::CONSUMER:root``) may call ``sts:AssumeRole`` and ``sts:SetSourceIdentity``,
  by default only as ``consumer_principal`` (or the ``trusted_principal_arns``): an
  ``aws:PrincipalArn`` condition, which keeps working when that principal is deleted and
  recreated (a principal ARN in ``Principal`` would silently turn into a unique id). The spec
  option ``trust_whole_consumer_account`` drops the condition, as the reference design does.
  Trusting ``:root`` delegates the decision to the consumer's own IAM policies, so the principal
  also needs
* the **consumer policy** (`consumer_policy`), attached to ``consumer_principal`` in the
  consumer account: it allows ``sts:AssumeRole`` and ``sts:SetSourceIdentity`` on that one role
  and nothing else (cross-account, a SourceIdentity needs both sides to allow it);
* one **table policy** per table (`table_policy`), attached to the role, granting one of:

  ``Read``
      GetItem, BatchGetItem, Query, Scan, ConditionCheckItem, DescribeTable, PartiQLSelect.
      Reads items, queries the table and its indexes (TransactGetItems is authorised as GetItem).
      Nothing that changes data.
  ``ReadWriteUpdate``
      Read plus PutItem, UpdateItem, PartiQLInsert, PartiQLUpdate: creates, replaces and
      updates items, but cannot delete them (no DeleteItem, BatchWriteItem or PartiQLDelete).
  ``Full``
      ``dynamodb:*`` on the table, its indexes, streams, backups, exports and imports —
      deleting items and the table itself (DeleteTable), changing it (UpdateTable), backups and
      exports it can also describe and delete — EXCEPT what `FULL_DENIED_ACTIONS` denies
      explicitly: the actions that would hand the table to another account or tie it to
      resources outside the grant (its resource-based policy, replicas, Kinesis destinations,
      tags). An explicit Deny, so no other Allow on the role can bring them back.

  Every level covers ``table/NAME`` and ``table/NAME/index/*`` (Query/Scan on an index is
  authorised against the index ARN). ``ListTables`` only works on ``*`` and is deliberately not
  granted: consumers address tables by name.

  A table encrypted with a customer-managed KMS key is read by DynamoDB with that key *on the
  caller's behalf*: its policy then also allows ``kms:Decrypt`` and ``kms:DescribeKey`` on that
  key, only through DynamoDB in the table's region (``kms:ViaService``). The key ARN comes from
  the live table (`xacct_nb.kms`), so the caller passes it in.

`canonical`/`same_document` compare documents the way IAM means them (order-insensitive,
``"x"`` == ``["x"]``), so a policy read back from IAM can be checked against the wanted one.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from .spec import AccessSpec, TableAccess

VERSION = "2012-10-17"

READ_ACTIONS: tuple[str, ...] = tuple(f"dynamodb:{a}" for a in (
    "GetItem", "BatchGetItem", "Query", "Scan", "ConditionCheckItem", "DescribeTable", "PartiQLSelect",
))
# Writes without deletes. DeleteItem and PartiQLDelete delete; BatchWriteItem is left out because
# IAM authorises it as ONE action whatever its requests are, so a policy cannot allow its
# PutRequests without also allowing its DeleteRequests. (TransactWriteItems needs no action of
# its own: IAM checks each Put/Update/Delete in it against the actions below.)
RWU_ACTIONS: tuple[str, ...] = READ_ACTIONS + tuple(f"dynamodb:{a}" for a in (
    "PutItem", "UpdateItem", "PartiQLInsert", "PartiQLUpdate",
))
ACTIONS: dict[str, tuple[str, ...]] = {
    "Read": READ_ACTIONS,
    "ReadWriteUpdate": RWU_ACTIONS,
    "Full": ("dynamodb:*",),
}
# What Full's dynamodb:* must not include (README, "Full"): a resource-based policy would grant
# another account access that outlives the role and that destroy never removes; replicas are
# tables in other regions (outside the grant, paid by the main account); Kinesis destinations
# send every change to a stream the grant does not cover; tags can drive tag-based (ABAC)
# policies and cost allocation elsewhere in the main account.
FULL_DENIED_ACTIONS: tuple[str, ...] = tuple(f"dynamodb:{a}" for a in (
    "PutResourcePolicy", "DeleteResourcePolicy",
    "CreateTableReplica", "DeleteTableReplica",
    "EnableKinesisStreamingDestination", "DisableKinesisStreamingDestination",
    "UpdateKinesisStreamingDestination",
    "TagResource", "UntagResource",
))
# What DynamoDB calls on the caller's behalf to read a table under a customer-managed key.
KMS_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey")
# Full's sub-resources beyond indexes: stream reads, and the backups/exports/imports it starts
# (without these it could start a backup or export but never describe or delete it).
FULL_SUBRESOURCES = ("stream", "backup", "export", "import")
TRUST_ACTIONS = ("sts:AssumeRole", "sts:SetSourceIdentity")
# What DynamoDB's ExportTableToPointInTime does in the bucket as the caller (the role), and what
# the analyst needs to read an export back. AWS's export guide lists s3:PutObjectAcl as well:
# writing to another account's bucket, the export gives the bucket owner full control of its
# objects. Unconditioned, PutObjectAcl would also let the role make the objects public (where the
# bucket allows ACLs), so it is granted only for the canned ACL bucket-owner-full-control.
EXPORT_WRITE_ACTIONS = ("s3:AbortMultipartUpload", "s3:PutObject")
EXPORT_ACL_ACTIONS = ("s3:PutObjectAcl",)
EXPORT_ACL_CONDITION = {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}
EXPORT_READ_ACTIONS = ("s3:GetObject",)
# Bucket-policy statements cannot be tagged: ours are known by this Sid prefix (+ env).
BUCKET_SID_PREFIX = "xacct-nb-"

# Keys whose value may be a string or a list of strings with the same meaning.
_LIST_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource"})
_PRINCIPAL_KEYS = frozenset({"Principal", "NotPrincipal"})


def table_resources(spec: AccessSpec, table: TableAccess) -> list[str]:
    arn = spec.table_arn(table.table_name)
    resources = [arn, f"{arn}/index/*"]
    if table.access_type == "Full":
        resources += [f"{arn}/{kind}/*" for kind in FULL_SUBRESOURCES]
    return resources


def table_policy(spec: AccessSpec, table: TableAccess, kms_key_arn: str | None = None) -> dict[str, Any]:
    """The managed policy granting `table.access_type` on one table (see the module docstring).
    `kms_key_arn`: the table's customer-managed key, if it has one."""
    resources = table_resources(spec, table)
    statements: list[dict[str, Any]] = [{
        "Sid": _sid(table.access_type, table.table_name),
        "Effect": "Allow",
        "Action": sorted(ACTIONS[table.access_type]),
        "Resource": resources,
    }]
    if table.access_type == "Full":
        statements.append({
            "Sid": _sid("KeepInMainAccount", table.table_name),
            "Effect": "Deny",
            "Action": sorted(FULL_DENIED_ACTIONS),
            "Resource": resources,
        })
    if kms_key_arn:
        statements.append(kms_statement(spec, table.table_name, kms_key_arn))
    if spec.export is not None:
        statements += export_statements(spec, table.table_name)
    return {"Version": VERSION, "Statement": statements}


def export_statements(spec: AccessSpec, table_name: str) -> list[dict[str, Any]]:
    """The role may export this table (ExportTableToPointInTime is authorised on the table ARN,
    DescribeExport on its exports) and write the export's objects under the spec's prefix."""
    assert spec.export is not None
    arn = spec.table_arn(table_name)
    return [
        {"Sid": _sid("Export", table_name), "Effect": "Allow",
         "Action": ["dynamodb:DescribeExport", "dynamodb:ExportTableToPointInTime"],
         "Resource": [arn, f"{arn}/export/*"]},
        {"Sid": _sid("WriteExport", table_name), "Effect": "Allow",
         "Action": list(EXPORT_WRITE_ACTIONS), "Resource": spec.export.objects_arn},
        {"Sid": _sid("WriteExportAcl", table_name), "Effect": "Allow",
         "Action": list(EXPORT_ACL_ACTIONS), "Resource": spec.export.objects_arn,
         "Condition": EXPORT_ACL_CONDITION},
    ]


def bucket_statement_sid(spec: AccessSpec) -> str:
    return f"{BUCKET_SID_PREFIX}{spec.env}-ExportWrite"


def bucket_statement_sids(spec: AccessSpec) -> tuple[str, ...]:
    """The Sids of this env's statements in the bucket policy (the first one names them all)."""
    return (bucket_statement_sid(spec), bucket_statement_sid(spec) + "Acl")


def bucket_statement(spec: AccessSpec) -> dict[str, Any]:
    """The consumer bucket's policy statement admitting the role's export writes (cross-account,
    the bucket's owner must allow them too)."""
    assert spec.export is not None
    return {"Sid": bucket_statement_sid(spec), "Effect": "Allow",
            "Principal": {"AWS": spec.role_arn}, "Action": list(EXPORT_WRITE_ACTIONS),
            "Resource": spec.export.objects_arn}


def bucket_statements(spec: AccessSpec) -> list[dict[str, Any]]:
    """Our statements in the consumer bucket's policy: the writes, and PutObjectAcl only for
    bucket-owner-full-control (see EXPORT_ACL_ACTIONS)."""
    assert spec.export is not None
    acl = {"Sid": bucket_statement_sids(spec)[1], "Effect": "Allow",
           "Principal": {"AWS": spec.role_arn}, "Action": list(EXPORT_ACL_ACTIONS),
           "Resource": spec.export.objects_arn, "Condition": EXPORT_ACL_CONDITION}
    return [bucket_statement(spec), acl]


def with_bucket_statement(spec: AccessSpec, live: dict[str, Any] | None, *,
                          keep_ours: bool) -> dict[str, Any] | None:
    """`live` (a bucket policy, or None) without this env's statements, plus ours when
    `keep_ours`; every other statement untouched. None when no statement would remain."""
    sids = bucket_statement_sids(spec)
    others = [s for s in (live or {}).get("Statement", []) if s.get("Sid") not in sids]
    statements = others + (bucket_statements(spec) if keep_ours else [])
    if not statements:
        return None
    document = {k: v for k, v in (live or {}).items() if k != "Statement"} or {"Version": VERSION}
    return {**document, "Statement": statements}


def kms_statement(spec: AccessSpec, table_name: str, kms_key_arn: str) -> dict[str, Any]:
    """`kms:Decrypt`/`kms:DescribeKey` on the table's key, only when DynamoDB in the table's region
    calls KMS for the role (never a direct KMS call: the role cannot decrypt anything itself)."""
    return {
        "Sid": _sid("DecryptViaDynamoDB", table_name),
        "Effect": "Allow",
        "Action": list(KMS_ACTIONS),
        "Resource": kms_key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": dynamodb_service(spec.region)}},
    }


def dynamodb_service(region: str) -> str:
    """The ``kms:ViaService`` value of requests DynamoDB makes in `region`."""
    return f"dynamodb.{region}.amazonaws.com"


def trust_policy(spec: AccessSpec) -> dict[str, Any]:
    """The role's trust policy: the consumer account may assume it (and set a SourceIdentity),
    only as `spec.trusted_principals` unless the whole account is trusted, with the external id
    when one is set and only with a SourceIdentity when that is required."""
    statement: dict[str, Any] = {
        "Sid": "TrustConsumerAccount",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{spec.consumer_account_id}:root"},
        "Action": list(TRUST_ACTIONS),
    }
    condition: dict[str, Any] = {}
    if spec.external_id is not None:
        condition["StringEquals"] = {"sts:ExternalId": spec.external_id}
    if spec.trusted_principals:
        # ArnEquals compares literally; only ArnLike expands * and ?.
        wild = any(c in arn for arn in spec.trusted_principals for c in "*?")
        condition["ArnLike" if wild else "ArnEquals"] = {"aws:PrincipalArn": list(spec.trusted_principals)}
    if spec.require_source_identity:
        # A positive operator on an absent key is false, so this admits only requests that carry one.
        condition["StringLike"] = {"sts:SourceIdentity": "*"}
    if condition:
        statement["Condition"] = condition
    return _document(statement)


def consumer_policy(spec: AccessSpec) -> dict[str, Any]:
    """The consumer-side policy: `consumer_principal` may assume the role (setting a
    SourceIdentity, which cross-account needs this side's permission too), and — with an export
    section — read the exports under the prefix; nothing else."""
    document = _assume_document(spec)
    if spec.export is not None:
        document["Statement"] += [
            {"Sid": "ReadExports", "Effect": "Allow", "Action": list(EXPORT_READ_ACTIONS),
             "Resource": spec.export.objects_arn},
            {"Sid": "ListExports", "Effect": "Allow", "Action": ["s3:ListBucket"],
             "Resource": spec.export.bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": [f"{spec.export.prefix}/*"]}}},
        ]
    return document


def _assume_document(spec: AccessSpec) -> dict[str, Any]:
    return _document({
        "Sid": "AssumeDdbCrossAccRole",
        "Effect": "Allow",
        "Action": list(TRUST_ACTIONS),
        "Resource": spec.role_arn,
    })


def canonical(doc: Any) -> Any:
    """`doc` normalised for an order-insensitive comparison: a single Statement becomes a list,
    string Action/Resource/Principal/Condition values become one-element lists, every list is
    sorted and every dict's keys are sorted. Sid and Version are kept (they are part of the
    document IAM stores)."""
    if isinstance(doc, list):
        return sorted((canonical(item) for item in doc), key=_sort_key)
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key in sorted(doc, key=str):
        value = doc[key]
        if key == "Statement" and isinstance(value, dict):
            value = [value]
        elif key in _LIST_KEYS:
            value = _listify(value)
        elif key in _PRINCIPAL_KEYS and isinstance(value, dict):
            value = {k: _listify(v) for k, v in value.items()}
        elif key == "Condition" and isinstance(value, dict):
            value = {op: {k: _listify(v) for k, v in block.items()} if isinstance(block, dict) else block
                     for op, block in value.items()}
        out[key] = canonical(value)
    return out


def same_document(a: dict[str, Any] | str, b: dict[str, Any] | str) -> bool:
    """True when two policy documents mean the same. Each may be a dict, a JSON string or the
    URL-encoded JSON string IAM's raw API returns. A string that is not JSON raises ValueError."""
    return canonical(_load(a)) == canonical(_load(b))


def to_json(doc: Any) -> str:
    """The exact text sent to IAM: compact and stable (sorted keys), so equal dicts give equal text."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def _document(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [statement]}


def _sid(prefix: str, name: str) -> str:
    """IAM Sids allow only ASCII letters and digits: "my-table.v2" → "MyTableV2"."""
    return prefix + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _load(doc: dict[str, Any] | str) -> Any:
    if not isinstance(doc, str):
        return doc
    text = doc.strip()
    if text[:3].upper() == "%7B":  # IAM's raw API URL-encodes documents ("{" is %7B)
        text = urllib.parse.unquote(text)
    return json.loads(text)


# --- grant_mode: resource_policy ---------------------------------------------------------------
#
# The table's own resource-based policy names the consumer principal; the consumer's identity
# policy (`grant_policy`) allows the same actions on the main account's table ARNs: cross-account,
# both sides must allow. Only what DynamoDB authorises cross-account through a resource policy
# can be granted (AWS developer guide, "API operations supported by resource-based policies"):
# the data plane, DescribeTable/UpdateTable/DeleteTable, and stream reads on the stream's own
# policy. No PartiQL, exports, backups, PITR, TTL, Kinesis destinations or imports.

RP_READ_ACTIONS: tuple[str, ...] = tuple(f"dynamodb:{a}" for a in (
    "GetItem", "BatchGetItem", "Query", "Scan", "ConditionCheckItem", "DescribeTable",
))
# As in role mode: writes without deletes (BatchWriteItem would allow DeleteRequests too).
RP_RWU_ACTIONS: tuple[str, ...] = RP_READ_ACTIONS + ("dynamodb:PutItem", "dynamodb:UpdateItem")
RP_FULL_ACTIONS: tuple[str, ...] = RP_RWU_ACTIONS + tuple(f"dynamodb:{a}" for a in (
    "DeleteItem", "BatchWriteItem", "UpdateTable", "DeleteTable",
))
RP_ACTIONS: dict[str, tuple[str, ...]] = {
    "Read": RP_READ_ACTIONS, "ReadWriteUpdate": RP_RWU_ACTIONS, "Full": RP_FULL_ACTIONS,
}
# Stream reads, granted with Full on the stream's own resource policy (when the table has a stream).
RP_STREAM_ACTIONS: tuple[str, ...] = tuple(f"dynamodb:{a}" for a in (
    "DescribeStream", "GetRecords", "GetShardIterator",
))
# What role mode's Full has and a resource policy cannot grant cross-account (the plan says so).
RP_FULL_CANNOT = ("PartiQL (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction)",
                  "exports and imports", "backups and restores", "point-in-time recovery settings",
                  "TTL settings", "Kinesis streaming destinations", "ListStreams")
# DynamoDB's limit on one resource policy, counting whitespace.
RESOURCE_POLICY_MAX_BYTES = 20 * 1024
# Our statements in a table's policy are known by this Sid prefix (+ the env, escaped): a
# resource policy has no tags, and other statements on it belong to someone else.
RP_SID_PREFIX = "XacctNb"


def rp_sid_prefix(env: str) -> str:
    """``XacctNb`` + the env with every character other than a letter or digit (and ``X``)
    written ``X`` + two hex digits, then ``XX``: Sids allow only letters and digits, and no
    env's prefix is another env's (envs ``a-b`` and ``ab`` differ; ``XX`` ends the env)."""
    escaped = "".join(c if c.isascii() and c.isalnum() and c != "X" else f"X{ord(c):02X}" for c in env)
    return f"{RP_SID_PREFIX}{escaped}XX"


def rp_sid(spec: AccessSpec, principal: str, kind: str) -> str:
    """The Sid of our statement for `principal` (a digest: many consumers, one policy) of `kind`
    ("Table" or "Stream")."""
    import hashlib

    digest = hashlib.sha256(principal.encode()).hexdigest()[:10].upper()
    return f"{rp_sid_prefix(spec.env)}{digest}{kind}"


def is_our_statement(spec: AccessSpec, statement: Any) -> bool:
    return isinstance(statement, dict) and str(statement.get("Sid", "")).startswith(rp_sid_prefix(spec.env))


def rp_table_statements(spec: AccessSpec, table: TableAccess) -> list[dict[str, Any]]:
    """Our statements in `table`'s resource policy: the consumer principal may do the level's
    actions on the table and its indexes (index permissions live in the base table's policy)."""
    arn = spec.table_arn(table.table_name)
    statements: list[dict[str, Any]] = [{
        "Sid": rp_sid(spec, spec.consumer_principal, "Table"), "Effect": "Allow",
        "Principal": {"AWS": spec.consumer_principal},
        "Action": sorted(RP_ACTIONS[table.access_type]),
        "Resource": [arn, f"{arn}/index/*"]}]
    if spec.organization_id:
        statements.append(_org_statement(spec, "Table", sorted(RP_ACTIONS[table.access_type]),
                                         [arn, f"{arn}/index/*"]))
    return statements


def _org_statement(spec: AccessSpec, kind: str, actions: list[str], resource: Any) -> dict[str, Any]:
    """Every principal of the spec's organization — "*" ONLY with the aws:PrincipalOrgID
    condition (a bare "*" would be public; DynamoDB's Block Public Access refuses it too)."""
    assert spec.organization_id
    return {"Sid": rp_sid(spec, f"org:{spec.organization_id}", kind), "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": actions, "Resource": resource,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": spec.organization_id}}}


def rp_stream_statements(spec: AccessSpec, table: TableAccess, stream_arn: str | None) -> list[dict[str, Any]]:
    """Our statements in the table's stream policy: stream reads with Full, when there is a stream."""
    if table.access_type != "Full" or not stream_arn:
        return []
    statements: list[dict[str, Any]] = [{
        "Sid": rp_sid(spec, spec.consumer_principal, "Stream"), "Effect": "Allow",
        "Principal": {"AWS": spec.consumer_principal},
        "Action": sorted(RP_STREAM_ACTIONS), "Resource": stream_arn}]
    if spec.organization_id:
        statements.append(_org_statement(spec, "Stream", sorted(RP_STREAM_ACTIONS), stream_arn))
    return statements


def rp_wanted_statements(spec: AccessSpec, table_name: str, stream_arn: str | None = None, *,
                         stream: bool = False) -> list[dict[str, Any]]:
    """Every statement of ours the table's (or, `stream`, its stream's) resource policy should
    hold: one per consumer granted the table (at that consumer's level, under its own Sid), then
    the organization's (at the table's level). Just `rp_table_statements`/`rp_stream_statements`
    for a spec without a `consumers:` list."""
    table = spec.table(table_name)
    if not spec.consumers:
        return rp_stream_statements(spec, table, stream_arn) if stream else rp_table_statements(spec, table)
    kind = "Stream" if stream else "Table"
    out: list[dict[str, Any]] = []
    for sub in spec.consumer_specs:
        mine = [t for t in sub.table_access_list if t.table_name == table_name]
        if not mine:
            continue
        made = rp_stream_statements(sub, mine[0], stream_arn) if stream else rp_table_statements(sub, mine[0])
        out += [st for st in made if st["Sid"] == rp_sid(sub, sub.consumer_principal, kind)]
    if spec.organization_id:
        made = rp_stream_statements(spec, table, stream_arn) if stream else rp_table_statements(spec, table)
        out += [st for st in made if st["Sid"] == rp_sid(spec, f"org:{spec.organization_id}", kind)]
    return out


def merge_statements(spec: AccessSpec, live: dict[str, Any] | None,
                     ours: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`live` (a resource policy, or None) with this env's statements replaced by `ours`; every
    other statement (and the document's other keys) as read. None when no statement remains."""
    statements = (live or {}).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    others = [s for s in statements if not is_our_statement(spec, s)]
    if not others and not ours:
        return None
    document = {k: v for k, v in (live or {}).items() if k != "Statement"} or {"Version": VERSION}
    return {**document, "Statement": others + ours}


def our_statements(spec: AccessSpec, live: dict[str, Any] | None) -> list[dict[str, Any]]:
    statements = (live or {}).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if is_our_statement(spec, s)]


def policy_bytes(document: dict[str, Any]) -> int:
    """The size DynamoDB counts: the bytes of the text sent (`to_json`, compact)."""
    return len(to_json(document).encode("utf-8"))


def grant_policy(spec: AccessSpec, stream_arns: dict[str, str] | None = None,
                 kms_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """The consumer-side managed policy of resource_policy mode, attached to the consumer
    principal: the same actions as each table's resource policy grants, on the main account's
    table (and index, and for Full stream) ARNs — and kms:Decrypt through DynamoDB on a table's
    customer-managed key (cross-account, the caller's own policy must allow it too)."""
    statements: list[dict[str, Any]] = []
    for table in spec.table_access_list:
        arn = spec.table_arn(table.table_name)
        statements.append({"Sid": _sid(f"{table.access_type}On", table.table_name), "Effect": "Allow",
                           "Action": sorted(RP_ACTIONS[table.access_type]),
                           "Resource": [arn, f"{arn}/index/*"]})
        # The consumer side cannot see stream ARNs: by default Full names the table's streams, and
        # the stream's own resource policy decides which one.
        stream = (stream_arns or {}).get(table.table_name) if stream_arns is not None else f"{arn}/stream/*"
        if table.access_type == "Full" and stream:
            statements.append({"Sid": _sid("StreamOf", table.table_name), "Effect": "Allow",
                               "Action": sorted(RP_STREAM_ACTIONS), "Resource": stream})
        key = (kms_keys or {}).get(table.table_name)
        if key:
            statements.append(kms_statement(spec, table.table_name, key))
    if spec.manage_key_policy and kms_keys is None:
        statements.append(consumer_kms_statement(spec))
    return {"Version": VERSION, "Statement": statements}


def consumer_kms_statement(spec: AccessSpec) -> dict[str, Any]:
    """manage_key_policy: the consumer principal's own half of a cross-account decrypt — kms:Decrypt
    and kms:DescribeKey on the main account's keys in the region, only through DynamoDB and only
    for the granted tables (the encryption context DynamoDB sends). The consumer side cannot read
    which key a table uses; the key policies (our statement there) decide which keys admit it."""
    return {"Sid": "DecryptViaDynamoDBForGrantedTables", "Effect": "Allow", "Action": list(KMS_ACTIONS),
            "Resource": f"arn:aws:kms:{spec.region}:{spec.main_account_id}:key/*",
            "Condition": {"StringEquals": {
                "kms:ViaService": dynamodb_service(spec.region),
                "kms:EncryptionContext:aws:dynamodb:tableName": sorted(spec.table_names)}}}


def rp_level_of(spec: AccessSpec, statement: dict[str, Any], table_name: str) -> str | None:
    """Which level one of our table statements grants, when it is exactly ours for that level."""
    for level in RP_ACTIONS:
        want = rp_table_statements(spec, TableAccess(table_name, level))[0]  # the principal's
        if canonical({**statement, "Sid": want["Sid"]}) == canonical(want):
            return level
    return None
