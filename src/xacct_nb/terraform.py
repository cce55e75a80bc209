"""Export an `AccessSpec` as Terraform JSON (``*.tf.json``), for teams that apply IAM with Terraform.

The main side mirrors the reference module — ``aws_iam_role.ddb_access_role``, one
``aws_iam_policy`` per table and one attachment per table — but with one resource block per
table instead of ``for_each``, so the file is plain data that needs no variables. The consumer
side is the assume policy and its attachment to ``consumer_principal``. Both sides use the very
documents of `xacct_nb.policies` (serialised with `policies.to_json`), so Terraform and the
Python provisioning cannot drift apart.

A table under a customer-managed KMS key needs that key in its policy (`policies.kms_statement`):
pass the keys as ``kms_keys`` (table → key ARN, e.g. from `kms.read_table_keys`); the CLI reads
them with the main profile.

A spec with a `consumers:` list exports every consumer: the first consumer's blocks under the
keys above, every other's with its name suffix appended (``ddb_access_role_1a2b3c``), on a
provider ``aws.consumer_ACCOUNT`` when its account is not the first consumer's; in resource_policy
mode one resource policy per table holds every consumer's statements.

Each side has its own aliased provider (``aws.main`` / ``aws.consumer``) pinned with
``allowed_account_ids``: applying with credentials of the wrong account fails before any change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import policies
from .atomicfile import atomic_write_text
from .errors import InputError
from .spec import AccessSpec, TableAccess

SIDES = ("main", "consumer", "both")
ROLE_KEY = "ddb_access_role"
CONSUMER_POLICY_KEY = "ddb_cross_acc_assume_policy"
CONSUMER_ATTACHMENT_KEY = "ddb_cross_acc_assume_attachment"
EXPORT_BUCKET_POLICY_KEY = "ddb_export_bucket_policy"
GRANT_POLICY_KEY = "ddb_cross_acc_table_access_policy"
GRANT_ATTACHMENT_KEY = "ddb_cross_acc_table_access_attachment"


def export_terraform(spec: AccessSpec, side: str = "both", kms_keys: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Terraform JSON for the main account's role and table policies, the consumer's assume
    policy, or both (one configuration applying to two accounts through two providers).
    `kms_keys`: the customer-managed key ARN of each table that has one."""
    if side not in SIDES:
        raise InputError(f"side: {side!r} is not one of {', '.join(SIDES)}")
    sides = ("main", "consumer") if side == "both" else (side,)
    resources: dict[str, dict[str, Any]] = {}
    providers = [_provider(spec, name) for name in sides]
    for name in sides:
        if spec.uses_resource_policy and name == "main":
            parts = [_rp_main_resources(spec)]  # one policy per table holding every consumer's statements
        else:
            parts = []
            for sub in spec.consumer_specs:
                if spec.uses_resource_policy:
                    part = _rp_consumer_resources(sub)
                else:
                    part = _main_resources(sub, kms_keys or {}) if name == "main" else _consumer_resources(sub)
                parts.append(_for_consumer(spec, sub, part, providers) if sub.name_suffix or (
                    name == "consumer" and sub.consumer_account_id != spec.consumer_account_id) else part)
        for part in parts:
            for rtype, blocks in part.items():
                resources.setdefault(rtype, {}).update(blocks)
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0"}}},
        "provider": {"aws": providers},
        "resource": resources,
    }


def _for_consumer(spec: AccessSpec, sub: AccessSpec, part: dict[str, dict[str, Any]],
                  providers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A listed consumer's blocks (after the first): keys suffixed with its name suffix (references
    between them rewritten), and consumer-side blocks of another account on a provider of that
    account (``aws.consumer_ACCOUNT``, added to `providers`)."""
    tag = sub.name_suffix.lstrip(".")
    renames = {f"{rtype}.{key}.": f"{rtype}.{key}_{tag}." for rtype, blocks in part.items() for key in blocks} \
        if tag else {}
    account = sub.consumer_account_id
    alias = "consumer" if account == spec.consumer_account_id else f"consumer_{account}"
    consumer_side = any(b.get("provider") == "aws.consumer" for blocks in part.values() for b in blocks.values())
    if consumer_side and alias != "consumer" and not any(p["alias"] == alias for p in providers):
        block: dict[str, Any] = {"alias": alias, "region": spec.region, "allowed_account_ids": [account]}
        if sub.consumer_profile:
            block["profile"] = _literal(sub.consumer_profile)
        providers.append(block)
    out: dict[str, dict[str, Any]] = {}
    for rtype, blocks in part.items():
        for key, block in blocks.items():
            block = dict(block)
            for field, value in block.items():
                if isinstance(value, str):
                    for old, new in renames.items():
                        value = value.replace("${" + old, "${" + new)
                    block[field] = value
            if block.get("provider") == "aws.consumer":
                block["provider"] = f"aws.{alias}"
            out.setdefault(rtype, {})[f"{key}_{tag}" if tag else key] = block
    return out


def write_terraform(spec: AccessSpec, path: str | Path, side: str = "both",
                    kms_keys: Mapping[str, str] | None = None) -> Path:
    """Write `export_terraform(spec, side, kms_keys)` to `path` (a ``.tf.json`` file, or a
    directory to put ``xacct-nb-{env}.tf.json`` in) and return the file written."""
    path = Path(path)
    if path.is_dir():
        path = path / f"xacct-nb-{spec.env}.tf.json"
    if not path.name.endswith(".tf.json"):
        raise InputError(f"{path}: Terraform only reads files named *.tf.json — use e.g. {path.stem}.tf.json")
    text = json.dumps(export_terraform(spec, side, kms_keys), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def table_key(table_name: str) -> str:
    """A Terraform identifier for a table, stable whatever other tables the spec lists.

    Identifiers allow letters, digits, '_' and '-', so only '.' needs replacing; when it was,
    a short hash of the real name keeps "a.b" and "a_b" apart.
    """
    ident = table_name.replace(".", "_")
    if ident != table_name:
        ident += "_" + hashlib.sha256(table_name.encode()).hexdigest()[:8]
    return ident


def _main_resources(spec: AccessSpec, kms_keys: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    role: dict[str, Any] = {
        "provider": "aws.main",
        "name": spec.role_name,
        "description": spec.role_description,
        "assume_role_policy": _literal(policies.to_json(policies.trust_policy(spec))),
        "max_session_duration": spec.max_session_duration,
        "tags": spec.resource_tags,
    }
    if spec.permissions_boundary_arn:
        role["permissions_boundary"] = spec.permissions_boundary_arn
    table_policies = {f"ddb_table_policy_{table_key(t.table_name)}": _table_policy(spec, t, kms_keys.get(t.table_name))
                      for t in spec.table_access_list}
    attachments = {
        f"ddb_access_policy_attachment_{table_key(t.table_name)}": {
            "provider": "aws.main",
            "role": f"${{aws_iam_role.{ROLE_KEY}.name}}",
            "policy_arn": f"${{aws_iam_policy.ddb_table_policy_{table_key(t.table_name)}.arn}}",
        }
        for t in spec.table_access_list
    }
    return {
        "aws_iam_role": {ROLE_KEY: role},
        "aws_iam_policy": table_policies,
        "aws_iam_role_policy_attachment": attachments,
    }


def _table_policy(spec: AccessSpec, table: TableAccess, kms_key: str | None) -> dict[str, Any]:
    return {
        "provider": "aws.main",
        "name": spec.table_policy_name(table.table_name),
        "description": spec.table_policy_description(table.table_name),
        "policy": _literal(policies.to_json(policies.table_policy(spec, table, kms_key))),
        "tags": spec.resource_tags,
    }


def _consumer_resources(spec: AccessSpec) -> dict[str, dict[str, Any]]:
    resources = _attached_consumer_policy(spec, CONSUMER_POLICY_KEY, CONSUMER_ATTACHMENT_KEY,
                                          spec.consumer_policy_name, spec.consumer_policy_description,
                                          policies.consumer_policy(spec))
    if spec.export is not None:
        resources["aws_s3_bucket_policy"] = {EXPORT_BUCKET_POLICY_KEY: _export_bucket_policy(spec)}
    return resources


def _attached_consumer_policy(spec: AccessSpec, policy_key: str, attachment_key: str, name: str,
                              description: str, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A managed policy in the consumer account, attached to consumer_principal (a user and a role
    need different attachment resources)."""
    policy = {
        "provider": "aws.consumer",
        "name": name,
        "description": description,
        "policy": _literal(policies.to_json(document)),
        "tags": spec.resource_tags,
    }
    kind = spec.principal_kind
    attachment = {"provider": "aws.consumer", kind: spec.principal_name,
                  "policy_arn": f"${{aws_iam_policy.{policy_key}.arn}}"}
    return {"aws_iam_policy": {policy_key: policy},
            f"aws_iam_{kind}_policy_attachment": {attachment_key: attachment}}


def _rp_main_resources(spec: AccessSpec) -> dict[str, dict[str, Any]]:
    """grant_mode resource_policy: one ``aws_dynamodb_resource_policy`` per table with our statement."""
    blocks = {}
    for table in spec.table_access_list:
        document = policies.merge_statements(spec, None, policies.rp_wanted_statements(spec, table.table_name))
        blocks[f"ddb_resource_policy_{table_key(table.table_name)}"] = {
            # Terraform JSON's comment key: kept in the file, ignored by terraform.
            "//": ("aws_dynamodb_resource_policy owns the table's WHOLE resource policy: merge the table's "
                   "other statements into this document before applying (xacct-nb apply keeps them and "
                   "writes conditionally on the revision read; ours are the Sids starting "
                   f"{policies.rp_sid_prefix(spec.env)}). Stream policies (Full) are not exported."),
            "provider": "aws.main",
            "resource_arn": spec.table_arn(table.table_name),
            "policy": _literal(policies.to_json(document)),
        }
    return {"aws_dynamodb_resource_policy": blocks}


def _rp_consumer_resources(spec: AccessSpec) -> dict[str, dict[str, Any]]:
    """grant_mode resource_policy: the consumer-side policy allowing the same actions, attached."""
    return _attached_consumer_policy(spec, GRANT_POLICY_KEY, GRANT_ATTACHMENT_KEY, spec.grant_policy_name,
                                     spec.grant_policy_description, policies.grant_policy(spec))


def _export_bucket_policy(spec: AccessSpec) -> dict[str, Any]:
    assert spec.export is not None
    document = policies.with_bucket_statement(spec, None, keep_ours=True)
    return {
        # Terraform JSON's comment key: kept in the file, ignored by terraform.
        "//": ("aws_s3_bucket_policy owns the WHOLE bucket policy: merge the bucket's other "
               f"statements into this document before applying (xacct-nb apply keeps them; ours "
               f"are Sids {' and '.join(policies.bucket_statement_sids(spec))})"),
        "provider": "aws.consumer",
        "bucket": spec.export.bucket,
        "policy": _literal(policies.to_json(document)),
    }


def _provider(spec: AccessSpec, side: str) -> dict[str, Any]:
    account = spec.main_account_id if side == "main" else spec.consumer_account_id
    profile = spec.main_profile if side == "main" else spec.consumer_profile
    block: dict[str, Any] = {"alias": side, "region": spec.region, "allowed_account_ids": [account]}
    if profile:
        block["profile"] = _literal(profile)
    return block


def _literal(text: str) -> str:
    """Escape a literal for Terraform JSON, where every string is a template: "${" and "%{"
    would start an interpolation or directive. Names, descriptions and tags cannot contain '$'
    or '%' (spec validation), but policy documents (IAM policy variables are "${aws:...}") and
    profile names can."""
    return re.sub(r"([$%])\{", r"\1\1{", text)
