"""The sandbox refuses to start on a moto its fixes were not written for.

Every fix in `patches*.py` replaces a moto internal. A moto upgrade that renames one, or changes
its parameters, would leave the fix silently inert (the sandbox then allows what AWS denies) or
make it fail mid-request. So before anything is patched, `check()` verifies moto's version
against the pin (pyproject.toml: moto[server]==MOTO_PIN) and that each target in `TARGETS` exists
with the parameters the fix was written for; otherwise it raises `MotoMismatch`, one line naming
the patch. tests/test_sandbox_guard.py checks that every moto attribute the patches replace is
listed here, and that this list matches the installed moto.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, NamedTuple

from ..errors import MotoMismatch

MOTO_PIN = "5.2.5"


class Target(NamedTuple):
    patch: str  # the fix, as its module's docstring numbers it
    module: str
    name: str  # "Class.method", "Class" or a module attribute
    params: tuple[str, ...] | None  # the parameter names moto 5.2.5 has; None = not callable-checked


_HANDLER_OPERATIONS = ("get_item", "delete_item", "update_item", "put_item", "scan", "query",
                       "execute_statement", "batch_execute_statement", "execute_transaction",
                       "batch_get_item", "batch_write_item", "transact_get_items", "transact_write_items",
                       "export_table_to_point_in_time", "create_table")
_IAM_CHANGES = {
    "create_role": ("role_name", "assume_role_policy_document", "path", "permissions_boundary",
                    "description", "tags", "max_session_duration", "linked_service"),
    "update_assume_role_policy": ("role_name", "policy_document"),
    "delete_role": ("role_name",),
    "put_role_policy": ("role_name", "policy_name", "policy_json"),
    "delete_role_policy": ("role_name", "policy_name"),
    "attach_role_policy": ("policy_arn", "role_name"),
    "detach_role_policy": ("policy_arn", "role_name"),
    "put_user_policy": ("user_name", "policy_name", "policy_json"),
    "delete_user_policy": ("user_name", "policy_name"),
    "attach_user_policy": ("policy_arn", "user_name"),
    "detach_user_policy": ("policy_arn", "user_name"),
    "put_group_policy": ("group_name", "policy_name", "policy_json"),
    "delete_group_policy": ("group_name", "policy_name"),
    "attach_group_policy": ("policy_arn", "group_name"),
    "detach_group_policy": ("policy_arn", "group_name"),
    "add_user_to_group": ("group_name", "user_name"),
    "remove_user_from_group": ("group_name", "user_name"),
    "create_policy": ("description", "path", "policy_document", "policy_name", "tags"),
    "create_policy_version": ("policy_arn", "policy_document", "set_as_default"),
    "set_default_policy_version": ("policy_arn", "version_id"),
    "delete_policy_version": ("policy_arn", "version_id"),
    "delete_policy": ("policy_arn",),
}
_ACCESS = "moto.iam.access_control"
_DDB = "moto.dynamodb.responses"

TARGETS: tuple[Target, ...] = (
    Target("patches 1-2 (DynamoDB authorised per table ARN)", _DDB,
           "DynamoHandler._authenticate_and_authorize_normal_action", ("self", "resource")),
    Target("patches 3 (cross-account AssumeRole)", _ACCESS, "IAMRequestBase._is_assuming_role_operation",
           ("self", "resource_arn")),
    Target("patches 3 (cross-account AssumeRole)", _ACCESS, "IAMRequestBase._check_role_trust_relationship",
           ("self", "role_arn")),
    Target("patches 4 (account principals)", _ACCESS, "IAMPolicyStatement._check_principal",
           ("self", "principal")),
    Target("patches 5 (trust conditions)", _ACCESS, "IAMPolicyStatement._check_conditions",
           ("self", "incoming_condition_values")),
    Target("patches 6 (neutral statements)", _ACCESS, "IAMPolicyStatement.is_action_permitted",
           ("self", "action", "resource", "principal", "incoming_condition_values")),
    Target("patches_kms (table keys)", "moto.dynamodb.models", "DynamoDBBackend.create_table",
           ("self", "name", "schema", "throughput", "attr", "global_indexes", "indexes", "streams",
            "billing_mode", "sse_specification", "tags", "deletion_protection_enabled", "warm_throughput")),
    Target("patches_sts (SourceIdentity)", "moto.sts.responses", "TokenResponse.assume_role", ("self",)),
    Target("patches_delay (IAM policies as authorisation sees them)", _ACCESS,
           "AssumedRoleAccessKey.collect_policies", ("self",)),
    Target("patches_delay (IAM policies as authorisation sees them)", _ACCESS,
           "IAMUserAccessKey.collect_policies", ("self",)),
    *(Target("patches_delay (IAM changes recorded)", "moto.iam.models", f"IAMBackend.{name}", ("self", *params))
      for name, params in _IAM_CHANGES.items()),
    *(Target("patches_errors / patches_capacity / patches_answers / authorisation (DynamoDB answers)", _DDB,
             f"DynamoHandler.{operation}", ("self",)) for operation in _HANDLER_OPERATIONS),
    Target("authorisation (every request through authz_table)", "moto.core.authorization",
           "ActionAuthenticatorMixin._authenticate_and_authorize_action", ("self", "iam_request_cls", "resource")),
    Target("authorisation (PartiQL targets as moto reads them)", "moto.dynamodb.parsing.partiql",
           "get_query_metadata", ("statement",)),
    Target("patches_partiql 16 (PartiQL WHERE as DynamoDB evaluates it)", "moto.dynamodb.parsing.partiql", "query",
           ("statement", "source_data", "parameters")),
    Target("patches_partiql 16 (PartiQL WHERE as DynamoDB evaluates it)", "moto.dynamodb.models",
           "DynamoDBBackend.execute_statement", ("self", "statement", "parameters")),
    Target("patches_partiql 16 (PartiQL WHERE as DynamoDB evaluates it)", "moto.dynamodb.models",
           "DynamoDBBackend.execute_transaction", ("self", "statements")),
    Target("patches_partiql 16 (PartiQL WHERE as DynamoDB evaluates it)", "moto.dynamodb.models",
           "DynamoDBBackend.batch_execute_statement", ("self", "statements")),
    Target("patches_projection (names are names)", _DDB, "ProjectionExpressionParser.parse", ("self",)),
    Target("patches_projection (names are names)", "moto.dynamodb.models.dynamo_type", "Item.project",
           ("self", "projection_expressions")),
    Target("patches_s3 (S3 conditions and bucket policies)", _ACCESS, "S3IAMRequest.check_action_permitted",
           ("self", "resource")),
    Target("patches_export 1-4 (export layout)", "moto.dynamodb.models", "TableExport", None),
    Target("patches_export 1-4 (export layout)", "moto.dynamodb.models.table_export", "TableExport.__init__",
           ("self", "s3_bucket", "s3_prefix", "region_name", "account_id", "table", "export_format",
            "export_type")),
    Target("patches_export 1-4 (export layout)", "moto.dynamodb.models.table_export", "TableExport.run", ("self",)),
    Target("patches_export 1-4 (export layout)", "moto.dynamodb.models.table_export",
           "TableExport._backup_to_s3_file", ("self", "s3_backend")),
    Target("patches_export 1-4 (export layout)", "moto.dynamodb.models.table_export", "TableExport.response",
           ("self",)),
    Target("patches_export 5 (ExpectedBucketOwner)", "moto.s3.responses", "S3Response._bucket_response",
           ("self", "request", "full_url")),
    Target("patches_export 5 (ExpectedBucketOwner)", "moto.s3.responses", "S3Response._key_response",
           ("self", "request", "full_url")),
    *(Target("patches_answers 2 (comparisons across types)", "moto.dynamodb.comparisons",
             f"{name}.expr", ("self", "item")) for name in ("OpLessThan", "OpLessThanOrEqual", "OpGreaterThan",
                                                            "OpGreaterThanOrEqual", "FuncBetween")),
    Target("patches_rbac 1 (routing to the owner's backend)", _DDB, "DynamoHandler.dynamodb_backend", None),
    Target("patches_rbac 1 (routing to the owner's backend)", "moto.dynamodbstreams.responses",
           "DynamoDBStreamsHandler.backend", None),
    Target("patches_rbac 2-3 (resource-policy APIs)", "moto.dynamodb.models",
           "DynamoDBBackend.put_resource_policy", ("self", "resource_arn", "policy_doc", "expected_revision_id")),
    Target("patches_rbac 2-3 (resource-policy APIs)", "moto.dynamodb.models",
           "DynamoDBBackend.get_resource_policy", ("self", "resource_arn")),
    Target("patches_rbac 2-3 (resource-policy APIs)", "moto.dynamodb.models",
           "DynamoDBBackend.delete_resource_policy", ("self", "resource_arn", "expected_revision_id")),
    Target("patches_rbac 2-3 (resource-policy APIs)", "moto.dynamodb.models.table", "ResourcePolicy.__init__",
           ("self", "resource_arn", "policy_doc")),
    Target("patches_rbac 2 (PutResourcePolicy checks)", _DDB, "DynamoHandler.put_resource_policy", ("self",)),
    Target("patches_rbac 3 (DeleteResourcePolicy answers)", _DDB, "DynamoHandler.delete_resource_policy", ("self",)),
    Target("patches_rbac 5 (TransactWriteItems by ARN rolls back)", "moto.dynamodb.models",
           "DynamoDBBackend.transact_write_items", ("self", "transact_items")),
    Target("patches_capacity (read units)", "moto.dynamodb.models.table", "Table.query",
           ("self", "hash_key", "range_comparison", "range_objs", "limit", "exclusive_start_key",
            "scan_index_forward", "projection_expressions", "index_name", "consistent_read",
            "filter_expression", "hash_key_conditions", "range_key_conditions", "filter_kwargs")),
    Target("patches_capacity (read units)", "moto.dynamodb.models.table", "Table.scan",
           ("self", "filters", "limit", "exclusive_start_key", "filter_expression", "index_name",
            "consistent_read", "projection_expression", "segments")),
)

_checked = False


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def problem(target: Target) -> str | None:
    """What is wrong with one target in the installed moto, or None."""
    try:
        found: Any = importlib.import_module(target.module)
    except ImportError:
        return f"module {target.module} is gone"
    for part in target.name.split("."):
        if not hasattr(found, part):
            return f"{target.module}.{target.name} is gone"
        found = getattr(found, part)
    if target.params is None:
        return None
    try:
        params = tuple(inspect.signature(found).parameters)
    except (TypeError, ValueError):
        return f"{target.module}.{target.name} is no longer a function"
    if params != target.params:
        return (f"{target.module}.{target.name} now takes ({', '.join(params)}), "
                f"the fix was written for ({', '.join(target.params)})")
    return None


def problems(targets: tuple[Target, ...] = TARGETS, installed: str | None = None) -> list[str]:
    """Every reason to refuse, one line each (empty: moto is the one the fixes were written for)."""
    installed = moto_version() if installed is None else installed
    found = []
    if installed != MOTO_PIN:
        found.append(f"moto {installed} is installed but the sandbox's patches were written for moto "
                     f"{MOTO_PIN} — reinstall with `pip install moto[server]=={MOTO_PIN}` "
                     "(the version pyproject.toml pins)")
    for target in targets:
        wrong = problem(target)
        if wrong:
            found.append(f"sandbox patch {target.patch} cannot be applied: {wrong} — the sandbox needs "
                         f"moto {MOTO_PIN}; update that patch before moving the pin")
    return found


def check(targets: tuple[Target, ...] = TARGETS, installed: str | None = None) -> None:
    """Refuse (MotoMismatch, one line: the first problem) unless moto is what the fixes expect.
    Checked once per process, before the first patch is installed (later the targets ARE ours)."""
    global _checked
    if _checked and targets is TARGETS and installed is None:
        return
    found = problems(targets, installed)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise MotoMismatch(found[0] + more)
    if targets is TARGETS and installed is None:
        _checked = True
