"""Reading what exists now in each account: the role, our managed policies, their versions,
tags and attachments — and `live_state`, the same as a table for people. Read-only.

Only resources tagged ``managed-by=xacct-nb`` are read in full; a same-named untagged one is
recorded as present but never looked into, since it will never be touched.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .. import kms, policies
from ..clients import make_client
from ..errors import InputError, SpecError, error_code, explain
from ..sessions import profile_session, require_account
from ..spec import ACCESS_LEVELS, MANAGED_BY, AccessSpec, TableAccess
from .model import SIDES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IamClients", "LivePolicy", "LiveRole", "aws_errors", "connect", "key_arn", "live_state",
           "prefixed_policies", "read_policy", "read_role", "require_principal", "table_keys", "tag_list"]

READ_ONLY_PREFIXES = ("Get", "List", "Describe")


class IamClients:
    """The IAM clients of the planned sides (None for a side left out), counting write calls."""

    def __init__(self, main: Any | None, consumer: Any | None, main_session: boto3.Session | None = None,
                 consumer_session: boto3.Session | None = None):
        self.main, self.consumer = main, consumer
        self.main_session = main_session  # reads the tables' encryption (DynamoDB, KMS) and PITR
        # The tables' resource policies (grant_mode resource_policy) are DynamoDB's, not IAM's.
        self.main_ddb = (make_client(main_session, "dynamodb")
                         if main_session is not None else None)
        # Key policies (grant_mode resource_policy with manage_key_policy) are KMS's.
        self.main_kms = (make_client(main_session, "kms")
                         if main_session is not None else None)
        # The export bucket's policy is S3's, not IAM's: its one client, made when first needed.
        self.consumer_s3 = (make_client(consumer_session, "s3")
                            if consumer_session is not None else None)
        self.writes = 0
        # A spec with a `consumers:` list: the IAM client of each consumer account (`for_consumer`).
        self.consumer_accounts: dict[str, Any] = {}
        for client in (main, consumer):
            if client is not None:
                client.meta.events.register("before-call.iam.*", self._count)
        if self.consumer_s3 is not None:
            self.consumer_s3.meta.events.register("before-call.s3.*", self._count)
        if self.main_ddb is not None:
            self.main_ddb.meta.events.register("before-call.dynamodb.*", self._count)
        if self.main_kms is not None:
            self.main_kms.meta.events.register("before-call.kms.*", self._count)

    def add_consumer_account(self, account: str, client: Any) -> None:
        client.meta.events.register("before-call.iam.*", self._count)
        self.consumer_accounts[account] = client

    def consumer_clients(self, spec_account: str) -> dict[str, Any]:
        """The consumer side's IAM client per account: a listed consumer's account each, or
        (single-consumer keys) the one consumer client, under the spec's consumer account."""
        if self.consumer_accounts:
            return dict(self.consumer_accounts)
        return {spec_account: self.consumer} if self.consumer is not None else {}

    def for_consumer(self, account: str) -> IamClients:
        """These clients with `consumer` being the IAM client of `account` (a consumer of the
        spec's list); itself when the spec has no list (or the consumer side is not planned)."""
        if account not in self.consumer_accounts:
            return self
        view = copy.copy(self)
        view.consumer = self.consumer_accounts[account]
        return view

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(side for side in SIDES if self.client(side) is not None)

    def client(self, side: str, resource: str = "", account: str = "") -> Any:
        if side == "consumer" and resource == "bucket-policy":
            return self.consumer_s3
        if side == "main" and resource in ("resource-policy", "stream-policy"):
            return self.main_ddb
        if side == "consumer" and account:
            return self.consumer_accounts[account]
        if side == "main" and resource == "key-policy":
            return self.main_kms
        return self.main if side == "main" else self.consumer

    def _count(self, model: Any, **_: Any) -> None:
        if not model.name.startswith(READ_ONLY_PREFIXES):
            self.writes += 1


def connect(spec: AccessSpec, main: boto3.Session | None, consumer: boto3.Session | None,
             sides: tuple[str, ...] = SIDES) -> IamClients:
    # Library code never falls back to ambient credentials: a session comes from the caller or
    # from the profile the params name, and must belong to the account the params name.
    unknown = set(sides) - set(SIDES)
    if unknown or not sides:
        raise InputError(f"sides={sides!r}: use 'main', 'consumer' or both")
    clients: dict[str, Any] = {}
    connected: dict[str, boto3.Session] = {}
    for side, session, account in (("main", main, spec.main_account_id),
                                   ("consumer", consumer, spec.consumer_account_id)):
        if side in sides:
            session = session or profile_session(getattr(spec, f"{side}_profile"), spec.region,
                                                     field=f"{side}_profile")
            require_account(session, account, f"{side}_profile")
            clients[side] = make_client(session, "iam")
            connected[side] = session
    iam = IamClients(clients.get("main"), clients.get("consumer"), connected.get("main"),
                     connected.get("consumer") if spec.export is not None else None)
    if spec.consumers and "consumer" in sides:
        iam.add_consumer_account(spec.consumer_account_id, clients["consumer"])
        for i, entry in enumerate(spec.consumers):
            if entry.account_id in iam.consumer_accounts:
                continue
            if not entry.consumer_profile:
                raise SpecError(f"consumers[{i}].consumer_profile", f"is needed: no consumer listed before it "
                                f"names a profile of account {entry.account_id}",
                                "name the admin profile of its account (it attaches the consumer's policy)")
            other = profile_session(entry.consumer_profile, spec.region, field=f"consumers[{i}].consumer_profile")
            require_account(other, entry.account_id, f"consumers[{i}].consumer_profile")
            iam.add_consumer_account(entry.account_id, make_client(other, "iam"))
    return iam


def table_keys(spec: AccessSpec, iam: IamClients) -> dict[str, kms.TableKey]:
    """The granted tables' customer-managed keys, read with the main session."""
    return kms.read_table_keys(spec, iam.main_session) if iam.main_session is not None else {}


def key_arn(keys: dict[str, kms.TableKey], table: str) -> str | None:
    key = keys.get(table)
    return key.key_arn if key else None


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action) from err


def _tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _ours(tags: dict[str, str]) -> bool:
    return tags.get("managed-by") == MANAGED_BY


@dataclass(frozen=True)
class LivePolicy:
    arn: str
    tags: dict[str, str]
    document: Any = None
    default_version: str = ""
    versions: tuple[dict[str, Any], ...] = ()
    entities: frozenset[tuple[str, str]] = frozenset()  # (user|role|group, name) it is attached to

    @property
    def ours(self) -> bool:
        return _ours(self.tags)


@dataclass(frozen=True)
class LiveRole:
    tags: dict[str, str]
    trust: Any = None
    description: str = ""
    max_session: int = 3600
    boundary: str | None = None
    attached: tuple[str, ...] = ()  # managed policy ARNs
    inline: tuple[str, ...] = ()

    @property
    def ours(self) -> bool:
        return _ours(self.tags)


def read_policy(iam: Any, arn: str) -> LivePolicy | None:
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise
    tags = _tag_dict(policy.get("Tags"))
    if not _ours(tags):
        return LivePolicy(arn, tags)  # never touched, so its contents do not matter
    version = policy["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    versions = tuple(iam.list_policy_versions(PolicyArn=arn)["Versions"])
    entities: set[tuple[str, str]] = set()
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for kind in ("User", "Role", "Group"):
            entities.update((kind.lower(), e[f"{kind}Name"]) for e in page[f"Policy{kind}s"])
    return LivePolicy(arn, tags, document, version, versions, frozenset(entities))


def read_role(iam: Any, name: str) -> LiveRole | None:
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise
    tags = _tag_dict(role.get("Tags"))
    if not _ours(tags):
        return LiveRole(tags)
    attached = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for p in page["AttachedPolicies"]]
    inline = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
              for n in page["PolicyNames"]]
    return LiveRole(tags, role["AssumeRolePolicyDocument"], role.get("Description", ""),
                     role.get("MaxSessionDuration", 3600),
                     role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
                     tuple(attached), tuple(inline))


def prefixed_policies(iam: Any, prefix: str) -> dict[str, str]:
    """Customer-managed policies whose name starts with `prefix`: name → ARN."""
    return {p["PolicyName"]: p["Arn"]
            for page in iam.get_paginator("list_policies").paginate(Scope="Local")
            for p in page["Policies"] if p["PolicyName"].startswith(prefix)}


def require_principal(spec: AccessSpec, iam: Any) -> None:
    kind, name = spec.principal_kind, spec.principal_name
    try:
        iam.get_user(UserName=name) if kind == "user" else iam.get_role(RoleName=name)
    except ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        raise SpecError("consumer_principal",
                        f"{spec.consumer_principal} does not exist in account {spec.consumer_account_id}",
                        f"create the {kind} first or fix consumer_principal") from None


def live_state(spec: AccessSpec, *, main: boto3.Session | None = None,
               consumer: boto3.Session | None = None,
               sides: tuple[str, ...] = SIDES) -> pd.DataFrame:
    """What exists now, as a DataFrame: the role with its trust and attachments, each table
    policy with the access level its live document grants, the consumer policy. Read-only."""
    import pandas as pd

    iam = connect(spec, main, consumer, sides)
    # Every consumer of a `consumers:` list, one after the other (each with its own names and grants).
    rows = [row for sub in spec.consumer_specs for row in _state_rows(sub, iam.for_consumer(sub.consumer_account_id))]
    return pd.DataFrame(rows, columns=_STATE_COLUMNS)


def _state_rows(spec: AccessSpec, iam: IamClients) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if spec.uses_resource_policy:
        return _resource_policy_state(spec, iam)
    if iam.main is not None:
        with aws_errors("reading the main account's IAM state and table keys"):
            rows += _main_state(spec, iam.main, table_keys(spec, iam))
    if iam.consumer is not None:
        with aws_errors("reading the consumer account's IAM state"):
            live = read_policy(iam.consumer, spec.consumer_policy_arn)
            rows.append(_policy_row("consumer", spec.consumer_policy_name, live,
                                    "sts:AssumeRole on the role" if live and live.ours and policies.same_document(
                                        live.document, policies.consumer_policy(spec)) else "differs from spec"))
    return rows


_STATE_COLUMNS = ["side", "resource", "name", "exists", "ours", "grants", "attached_to", "detail"]


def _resource_policy_state(spec: AccessSpec, iam: IamClients) -> list[dict[str, Any]]:
    """grant_mode resource_policy: each table's resource policy (our statements and the others),
    and the consumer-side policy."""
    from .resource_grants import read_table_policies

    rows: list[dict[str, Any]] = []
    if iam.main_ddb is not None:
        with aws_errors("reading the granted tables' resource policies"):
            live = read_table_policies(spec, iam.main_ddb)
        for table in spec.table_access_list:
            state = live[table.table_name]
            document = state.policy.document if state.policy else None
            ours = policies.our_statements(spec, document)
            if spec.listed_consumer:  # the other consumers' statements are ours too: this one's Sids
                sids = {st["Sid"] for st in policies.rp_table_statements(spec, table)}
                ours = [st for st in ours if st.get("Sid") in sids]
            statements = (document or {}).get("Statement", [])
            others = (1 if isinstance(statements, dict) else len(statements)) - len(ours)
            level = next((lvl for lvl in ACCESS_LEVELS if policies.canonical(ours) == policies.canonical(
                policies.rp_table_statements(spec, TableAccess(table.table_name, lvl)))), None) if ours else None
            grants = f"{level} on {table.table_name} (+ its indexes) to {spec.consumer_principal}" if level else (
                "statements of ours that match no level" if ours else "")
            if level and level != table.access_type:
                grants += f" — spec says {table.access_type}: run apply"
            rows.append({"side": "main", "resource": "resource-policy", "name": table.table_name,
                         "exists": document is not None, "ours": bool(ours), "grants": grants,
                         "attached_to": spec.table_arn(table.table_name),
                         "detail": (f"revision {state.policy.revision}, {others} other statement(s)"
                                    if state.policy and state.policy.revision else
                                    "the table does not exist" if not state.exists else "no resource policy")})
    if iam.main_session is not None:
        rows += _key_policy_state(spec, iam.main_session)
    if iam.consumer is not None:
        with aws_errors("reading the consumer account's IAM state"):
            grant = read_policy(iam.consumer, spec.grant_policy_arn)
        same = bool(grant and grant.ours and policies.same_document(grant.document, policies.grant_policy(spec)))
        rows.append(_policy_row("consumer", spec.grant_policy_name, grant,
                                "the tables' actions on their main-account ARNs" if same else "differs from spec"))
    return rows


def _key_policy_state(spec: AccessSpec, main: boto3.Session) -> list[dict[str, Any]]:
    """grant_mode resource_policy: each customer-managed key of the granted tables, and whether its
    key policy has our statement (manage_key_policy) as the spec writes it."""
    from .key_policy_grants import key_policy_statements, read_key_policies

    with aws_errors("reading the key policies of the granted tables' customer-managed KMS keys"):
        keys = read_key_policies(spec, main)
    rows = []
    for key in keys.values():
        ours = policies.our_statements(spec, key.document)
        same = policies.canonical(ours) == policies.canonical(key_policy_statements(spec, key.tables))
        grants = (f"kms:Decrypt via DynamoDB to {spec.consumer_principal}" if ours and same else
                  "statements of ours that differ from the spec" if ours else "")
        statements = key.document.get("Statement", [])
        others = (1 if isinstance(statements, dict) else len(statements)) - len(ours)
        rows.append({"side": "main", "resource": "key-policy", "name": key.key_arn, "exists": True,
                     "ours": bool(ours), "grants": grants, "attached_to": ", ".join(key.tables),
                     "detail": f"{others} other statement(s)" + (
                         "" if spec.manage_key_policy or ours else
                         "; manage_key_policy is off: the plan names the statement to add")})
    return rows


def _main_state(spec: AccessSpec, iam: Any, keys: dict[str, kms.TableKey]) -> list[dict[str, Any]]:
    role = read_role(iam, spec.role_name)
    rows = [{"side": "main", "resource": "role", "name": spec.role_name, "exists": role is not None,
             "ours": bool(role and role.ours),
             "grants": "sts:AssumeRole to " + ", ".join(_trusted(role.trust)) if role and role.ours else "",
             "attached_to": "", "detail": (f"max session {role.max_session} s, {len(role.attached)} "
                                           "managed policies attached" if role and role.ours else "")}]
    for table in spec.table_access_list:
        live = read_policy(iam, spec.table_policy_arn(table.table_name))
        level = next((lvl for lvl in ACCESS_LEVELS if live and live.document is not None and policies.same_document(
            live.document, policies.table_policy(spec, TableAccess(table.table_name, lvl),
                                                 key_arn(keys, table.table_name)))), None)
        grants = f"{level} on {table.table_name} (+ its indexes)" if level else ""
        if live and live.ours and level != table.access_type:
            grants += f" — spec says {table.access_type}: run apply"
        rows.append(_policy_row("main", spec.table_policy_name(table.table_name), live, grants))
    return rows


def _policy_row(side: str, name: str, live: LivePolicy | None, grants: str) -> dict[str, Any]:
    return {"side": side, "resource": "policy", "name": name, "exists": live is not None,
            "ours": bool(live and live.ours), "grants": grants if live else "",
            "attached_to": ", ".join(f"{k} {n}" for k, n in sorted(live.entities)) if live else "",
            "detail": f"default version {live.default_version} of {len(live.versions)}" if live and live.ours else ""}


def _trusted(trust: Any) -> list[str]:
    doc = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    statements = doc.get("Statement", [])
    out = []
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal", {}).get("AWS", [])
        out += [principal] if isinstance(principal, str) else list(principal)
        if st.get("Condition"):
            out.append("with conditions " + json.dumps(st["Condition"], sort_keys=True))
    return out
