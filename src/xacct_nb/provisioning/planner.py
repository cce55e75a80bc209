"""Planning: compare the live state with the spec and list one :class:`Change` per resource,
each with the IAM calls that would make it. Reads only.

Apply builds the role first and the consumer's right to assume it last; destroy goes the other
way, revoking the consumer's right first. Policies we own whose table left the spec are detached
and deleted (before new ones are attached, freeing the role's attachment slots).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import boto3

from .. import kms, policies
from ..errors import AccessDenied
from ..spec import (
    ACCESS_LEVELS,
    CONSUMER_KEY_TAG,
    MANAGED_BY,
    AccessSpec,
    TableAccess,
    consumer_policy_name,
    grant_policy_name,
    role_name,
    table_policy_name,
)
from .export_grants import bucket_policy_changes, pitr_changes
from .live import (
    IamClients,
    LivePolicy,
    LiveRole,
    aws_errors,
    connect,
    key_arn,
    prefixed_policies,
    read_policy,
    read_role,
    require_principal,
    table_keys,
    tag_list,
)
from .model import CHANGING, SIDES, Change, IamCall, Plan, state_digest
from .trust_matches import trust_match_changes

__all__ = ["MAX_POLICY_VERSIONS", "build_plan", "plan", "plan_destroy"]

MAX_POLICY_VERSIONS = 5  # IAM's hard limit per managed policy


def plan(spec: AccessSpec, *, main: boto3.Session | None = None,
         consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES) -> Plan:
    """What `apply` would change, from the live state of the accounts in `sides` (default both:
    the runbook's notebook 01 plans only "main", 02 only "consumer"). Makes no changes."""
    return build_plan(spec, connect(spec, main, consumer, sides), destroy=False)


def plan_destroy(spec: AccessSpec, *, main: boto3.Session | None = None,
                 consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES) -> Plan:
    """What `destroy` would delete (and which same-named foreign resources it would leave alone)."""
    return build_plan(spec, connect(spec, main, consumer, sides), destroy=True)


def build_plan(spec: AccessSpec, iam: IamClients, destroy: bool) -> Plan:
    """Both grants are planned: the spec's mode converges to the spec, the other mode's grant (if
    any of ours exists) is removed after it — so switching grant_mode is one plan that adds the
    new grant before removing the old one, and destroy removes whatever of ours either mode left."""
    rp_mode = spec.uses_resource_policy
    # One role grant per consumer (a spec without a `consumers:` list has one: itself).
    role_main: list[Change] = []
    role_consumer: list[Change] = []
    role_observed: list[dict[str, str]] = []
    for sub in spec.consumer_specs:
        part = _role_plan(sub, iam.for_consumer(sub.consumer_account_id), destroy or rp_mode)
        role_main += _side(part, "main")
        role_consumer += _in_account(spec, sub, _side(part, "consumer"))
        role_observed.append(dict(part.observed))
    rp = _rp_halves(spec, iam, keep=rp_mode and not destroy)
    if rp_mode:
        new_main, new_consumer, old_main, old_consumer = rp.main, rp.consumer, role_main, role_consumer
    else:
        new_main, new_consumer, old_main, old_consumer = role_main, role_consumer, rp.main, rp.consumer
    # The other mode's rows only where they change something: no-op rows of a grant that does not
    # exist would only clutter the plan.
    old_main = [c for c in old_main if c.action in CHANGING or c.resource == "old-grant"]
    old_consumer = [c for c in old_consumer if c.action in CHANGING]
    if destroy:  # consumer side first (revoking), then the main side
        changes = new_consumer + old_consumer + new_main + old_main
    else:
        if iam.consumer is None and any(c.calls for c in old_main):
            old = "role" if rp_mode else "resource_policy"
            old_main = [Change("main", "old-grant", f"grant_mode {old}", "no-op",
                               "kept for now: a plan of the main side alone cannot see whether the consumer "
                               "side has the new grant yet; a plan of both sides removes it")]
        changes = new_main + new_consumer + old_consumer + old_main
    # What consumers removed from a `consumers:` list left (revoked first, like destroy) — looked
    # for with single-consumer keys too: a spec that went back from a list to the single keys
    # must not leave the other consumers' grants in place.
    gone_main, gone_consumer, gone_seen = _removed_consumers(spec, iam)
    changes = gone_consumer + changes + gone_main
    role_observed.append(gone_seen)
    if len(role_observed) == 1:
        digests = role_observed[0]
    else:
        digests = {side: state_digest([d.get(side, "") for d in role_observed]) for side in iam.sides}
    observed = tuple((side, state_digest(digests.get(side, ""), rp.seen[side])) for side in iam.sides)
    return Plan(spec, tuple(changes), destroy=destroy, sides=iam.sides, observed=observed)


def _in_account(spec: AccessSpec, sub: AccessSpec, changes: list[Change]) -> list[Change]:
    """Consumer-side rows of a listed consumer name its account (the executor's client for them)."""
    if not spec.consumers:
        return changes
    return [dataclasses.replace(c, account=sub.consumer_account_id) for c in changes]


def _removed_consumers(spec: AccessSpec, iam: IamClients) -> tuple[list[Change], list[Change], dict[str, str]]:
    """Rows deleting what consumers no longer in the `consumers:` list left: IAM resources of this
    env tagged with a consumer key (only a listed consumer's resources carry one, so a
    single-consumer spec's — another spec's — are never taken for them) whose key no consumer of
    the spec has. Consumer-side ones are found in the consumer accounts the spec still names;
    those of an account the spec no longer names cannot be seen (the docs say so)."""
    keys = {sub.consumer_key for sub in spec.consumer_specs}
    names = {name for sub in spec.consumer_specs for name in (sub.consumer_policy_name, sub.grant_policy_name)}
    main: list[Change] = []
    consumer: list[Change] = []
    seen: dict[str, list[Any]] = {"main": [], "consumer": []}

    def gone(live: LivePolicy | LiveRole | None) -> str | None:
        if live is None or not live.ours or live.tags.get("env") != spec.env:
            return None
        key = live.tags.get(CONSUMER_KEY_TAG)
        return key if key is not None and key not in keys else None

    if iam.main is not None:
        with aws_errors("reading the main account's IAM state (consumers removed from the spec)"):
            found = prefixed_policies(iam.main, table_policy_name(spec.env, "", "")[:-1])  # "{env}-...Access-"
            roles = _prefixed_roles(iam.main, role_name(spec.env, ""))
            removed_policies = {name: read_policy(iam.main, arn) for name, arn in sorted(found.items())}
            removed_roles = {name: read_role(iam.main, name) for name in sorted(roles) if name not in
                             {sub.role_name for sub in spec.consumer_specs}}
        seen["main"] += [found, roles, removed_policies, removed_roles]
        ours: set[str] = set()
        for name, live in removed_policies.items():
            if gone(live):
                main += _policy_changes(None, "main", name, live)
                ours.add(live.arn)  # type: ignore[union-attr]
        for role in removed_roles.values():
            key = gone(role)
            if key:
                account, _, suffix = key.partition(".")
                former = dataclasses.replace(spec, consumer_account_id=account, name_suffix="." + suffix
                                             if suffix else "", consumers=())
                main += _role_teardown(former, role, ours)
    for account, client in sorted(iam.consumer_clients(spec.consumer_account_id).items()):
        with aws_errors(f"reading consumer account {account}'s IAM state (consumers removed from the spec)"):
            found = {**prefixed_policies(client, consumer_policy_name(spec.env, spec.main_account_id)),
                     **prefixed_policies(client, grant_policy_name(spec.env, spec.main_account_id))}
            live_policies = {name: read_policy(client, arn) for name, arn in sorted(found.items()) if name not in names}
        seen["consumer"] += [account, found, live_policies]
        for name, live in live_policies.items():
            if gone(live):
                rows = _policy_changes(None, "consumer", name, live)
                # a listed consumer's account has its own client; single keys: the consumer client
                consumer += [dataclasses.replace(c, account=account) for c in rows] if iam.consumer_accounts else rows
    return main, consumer, {side: state_digest(seen[side]) for side in iam.sides}


def _prefixed_roles(iam: Any, prefix: str) -> list[str]:
    return [r["RoleName"] for page in iam.get_paginator("list_roles").paginate()
            for r in page["Roles"] if r["RoleName"].startswith(prefix)]


def _role_plan(spec: AccessSpec, iam: IamClients, destroy: bool) -> Plan:
    """The role grant's rows: converging to the spec, or (destroy) removing it."""
    main: list[Change] = []
    consumer: list[Change] = []
    seen: dict[str, list[Any]] = {"main": [], "consumer": []}  # the live state each side's rows stand on
    if iam.main is not None:
        with aws_errors("reading the main account's IAM state and table keys"):
            main = _main_changes(spec, iam.main, destroy, {} if destroy else table_keys(spec, iam),
                                 seen["main"])
    if iam.consumer is not None:
        with aws_errors("reading the consumer account's IAM state"):
            consumer = _consumer_changes(spec, iam.consumer, destroy, seen["consumer"])
    if spec.export is not None:
        main, consumer = _with_export_rows(spec, iam, destroy, main, consumer)
    if not destroy:  # a note: what each trusted_principal_arns pattern admits in the consumer account
        with aws_errors("listing the consumer account's users and roles"):
            consumer = consumer + trust_match_changes(spec, iam.consumer)
    # Destroy revokes the consumer's right to assume first; apply builds the role first.
    changes = consumer + main if destroy else main + consumer
    observed = tuple((side, state_digest(seen[side])) for side in iam.sides)
    return Plan(spec, tuple(changes), destroy=destroy, sides=iam.sides, observed=observed)


# --- grant_mode resource_policy ------------------------------------------------------------------

@dataclass
class _Halves:
    main: list[Change]
    consumer: list[Change]
    seen: dict[str, list[Any]]


def _rp_halves(spec: AccessSpec, iam: IamClients, *, keep: bool) -> _Halves:
    """Rows of the resource_policy grant: our statements on the tables (main) and the managed
    policy of the consumer principal (consumer); `keep` False: their removal."""
    from .key_policy_grants import key_policy_changes, read_key_policies
    from .resource_grants import read_table_policies, resource_policy_changes

    halves = _Halves([], [], {"main": [], "consumer": []})
    # Each consumer's grant policy, read once: the consumer half converges it, and every grant
    # policy of the env names the tables granted last time (see _former_rp_tables).
    grants: dict[tuple[str, str], LivePolicy | None] = {}
    for sub in spec.consumer_specs:
        client = iam.for_consumer(sub.consumer_account_id).consumer
        if client is not None:
            with aws_errors("reading the consumer account's IAM state"):
                grants[(sub.consumer_account_id, sub.grant_policy_name)] = read_policy(client, sub.grant_policy_arn)
    former = _former_rp_tables(spec, iam, grants)
    halves.seen["consumer"].append(former)
    if iam.main_ddb is not None:
        try:
            with aws_errors("reading the granted tables' resource policies"):
                live = read_table_policies(spec, iam.main_ddb, former=former)
            with aws_errors("reading the key policies of the granted tables' customer-managed KMS keys"):
                keys = read_key_policies(spec, iam.main_session) if iam.main_session is not None else {}
        except AccessDenied as err:
            if keep:
                raise
            # grant_mode role with a main profile that may not read resource policies: say what
            # this plan cannot see instead of failing a plan that needs none of it.
            halves.seen["main"].append("unreadable")
            halves.main = [Change("main", "old-grant", "grant_mode resource_policy", "no-op",
                                  f"not checked: {err} — statements of a former resource_policy grant, if any, "
                                  "stay on the tables")]
            live = None
        if live is not None:
            halves.seen["main"].append(live)
            halves.seen["main"].append(keys)
            halves.main = resource_policy_changes(spec, live, keep=keep) + key_policy_changes(spec, keys, keep=keep)
        if keep:
            halves.main += _rp_main_notes(spec, iam)
    for sub in spec.consumer_specs:
        client = iam.for_consumer(sub.consumer_account_id).consumer
        if client is None:
            continue
        grant = grants[(sub.consumer_account_id, sub.grant_policy_name)]
        if keep:
            with aws_errors("reading the consumer account's IAM state"):
                require_principal(sub, client)
        halves.seen["consumer"].append(grant)
        want = _grant_want(sub) if keep else None
        halves.consumer += _in_account(spec, sub, _policy_changes(want, "consumer", sub.grant_policy_name, grant,
                                                                  sub.grant_policy_arn))
    return halves


def _former_rp_tables(spec: AccessSpec, iam: IamClients,
                      read: dict[tuple[str, str], LivePolicy | None]) -> tuple[str, ...]:
    """Tables no longer in the spec that our consumer-side grant policies (every consumer's of
    this env, as last applied) still name: their statements of ours must go too, or a table
    taken out of the spec would stay granted. Our statements cannot be tagged and listing every
    table's resource policy would need rights on tables that are none of ours, so the
    consumer-side policy — written by every apply with the statements — is the record. `read`:
    the grant policies already read, by (account, name)."""
    table_arn = re.compile(rf"^arn:[^:]+:dynamodb:{re.escape(spec.region)}:{spec.main_account_id}:table/([^/]+)")
    found: set[str] = set()
    for account, client in sorted(iam.consumer_clients(spec.consumer_account_id).items()):
        with aws_errors(f"reading consumer account {account}'s grant policies (tables granted before)"):
            listed = prefixed_policies(client, grant_policy_name(spec.env, spec.main_account_id))
            lives = [read[(account, name)] if (account, name) in read else read_policy(client, arn)
                     for name, arn in sorted(listed.items())]
            lives += [live for (where, name), live in read.items() if where == account and name not in listed]
            for live in lives:
                if live is None or not live.ours or live.tags.get("env") != spec.env:
                    continue
                statements = (live.document or {}).get("Statement", [])
                for statement in [statements] if isinstance(statements, dict) else statements:
                    resources = statement.get("Resource", [])
                    for resource in [resources] if isinstance(resources, str) else resources:
                        match = table_arn.match(str(resource))
                        if match:
                            found.add(match.group(1))
    return tuple(sorted(found - set(spec.table_names)))


def _rp_main_notes(spec: AccessSpec, iam: IamClients) -> list[Change]:
    notes = []
    full = [t.table_name for t in spec.table_access_list if t.access_type == "Full"]
    if full:
        notes.append(Change("main", "grant-limits", ", ".join(full), "no-op",
                            "Full through a resource policy grants the data plane, DescribeTable, UpdateTable, "
                            "DeleteTable and stream reads; it cannot include "
                            + "; ".join(policies.RP_FULL_CANNOT) + " — use grant_mode: role for those"))
    keys = {} if spec.manage_key_policy else table_keys(spec, iam)  # managed: the key-policy rows say it
    for key in keys.values():
        statement = {"Sid": policies.rp_sid(spec, spec.consumer_principal, "Kms"), "Effect": "Allow",
                     "Principal": {"AWS": spec.consumer_principal}, "Action": list(policies.KMS_ACTIONS),
                     "Resource": "*",
                     "Condition": {"StringEquals": {"kms:ViaService": policies.dynamodb_service(spec.region)}}}
        notes.append(Change("main", "kms-key", f"{key.table} {key.key_arn}", "left-alone",
                            "customer-managed key: set manage_key_policy: true to let xacct-nb manage this, or "
                            f"add to the key policy {policies.to_json(statement)} and let the principal's identity "
                            f"policy allow the same actions on {key.key_arn}, or the reads of {key.table} fail"))
    return notes


def _grant_want(spec: AccessSpec) -> _Want:
    tables = ", ".join(f"{t.access_type} on {t.table_name}" for t in spec.table_access_list)
    return _Want("consumer", spec.grant_policy_name, policies.grant_policy(spec),
                 spec.grant_policy_description, spec.resource_tags,
                 frozenset({(spec.principal_kind, spec.principal_name)}), tables)


def _side(plan_: Plan, side: str) -> list[Change]:
    return [c for c in plan_.changes if c.side == side]


def _with_export_rows(spec: AccessSpec, iam: IamClients, destroy: bool, main: list[Change],
                      consumer: list[Change]) -> tuple[list[Change], list[Change]]:
    """PITR rows after the main side's; the bucket statement after the consumer policy on apply
    (it names the role, which must exist) and before it on destroy (revoking first)."""
    if iam.main_session is not None and not destroy:
        with aws_errors("reading the granted tables' point-in-time recovery"):
            main = main + pitr_changes(spec, iam.main_session)
    if iam.consumer_s3 is not None:
        with aws_errors(f"reading the policy of export bucket {spec.export.bucket if spec.export else ''}"):
            bucket = bucket_policy_changes(spec, iam.consumer_s3, destroy)
        consumer = bucket + consumer if destroy else consumer + bucket
    return main, consumer


@dataclass(frozen=True)
class _Want:
    """The desired state of one managed policy."""

    side: str
    name: str
    document: dict[str, Any]
    description: str
    tags: dict[str, str]
    attach: frozenset[tuple[str, str]]
    label: str                                    # what the document grants, for humans
    known: dict[str, dict[str, Any]] = field(default_factory=dict)  # label → other documents


def _table_want(spec: AccessSpec, table: TableAccess, key: str | None) -> _Want:
    levels = {level: policies.table_policy(spec, TableAccess(table.table_name, level), key)
              for level in ACCESS_LEVELS}
    label = f"{table.access_type} on {table.table_name}" + (" + kms:Decrypt on its key" if key else "")
    return _Want("main", spec.table_policy_name(table.table_name), levels[table.access_type],
                 spec.table_policy_description(table.table_name), spec.resource_tags,
                 frozenset({("role", spec.role_name)}), label, levels)


def _consumer_want(spec: AccessSpec) -> _Want:
    return _Want("consumer", spec.consumer_policy_name, policies.consumer_policy(spec),
                 spec.consumer_policy_description, spec.resource_tags,
                 frozenset({(spec.principal_kind, spec.principal_name)}),
                 f"sts:AssumeRole on {spec.role_name}")


def _main_changes(spec: AccessSpec, iam: Any, destroy: bool, keys: dict[str, kms.TableKey],
                  seen: list[Any]) -> list[Change]:
    found = prefixed_policies(iam, spec.table_policy_name(""))
    wanted = {spec.table_policy_name(t.table_name): t for t in spec.table_access_list}
    live = {name: read_policy(iam, arn) for name, arn in found.items()}
    role = read_role(iam, spec.role_name)
    seen += [found, live, role, keys]
    if destroy:
        changes = [c for name in sorted(found)
                   for c in _policy_changes(None, "main", name, live[name])]
        changes += [Change("main", "policy", name, "no-op", "absent")
                    for name in wanted if name not in found]
        ours = {p.arn for p in live.values() if p is not None and p.ours}
        return changes + _role_teardown(spec, role, ours)
    changes = _role_changes(spec, role)
    # Tables that left the spec go first: that also frees attachment slots (10 per role by default).
    for name in sorted(set(found) - set(wanted)):
        changes += _policy_changes(None, "main", name, live[name])
    for name, table in wanted.items():
        changes += _policy_changes(_table_want(spec, table, key_arn(keys, table.table_name)), "main", name,
                                   live.get(name), found.get(name, spec.table_policy_arn(table.table_name)))
    return changes + [_key_change(spec, key) for key in keys.values()]


def _key_change(spec: AccessSpec, key: kms.TableKey) -> Change:
    """A row per customer-managed key: never changed by xacct-nb, "left-alone" when its key
    policy keeps the role out (then the row says what to add)."""
    name = f"{key.table} {key.key_arn}"
    if not key.admits_role:
        return Change("main", "kms-key", name, "left-alone", key.via)
    return Change("main", "kms-key", name, "no-op",
                  f"key policy admits the role ({key.via}); {spec.table_policy_name(key.table)} grants "
                  f"kms:Decrypt/DescribeKey via {policies.dynamodb_service(spec.region)}")


def _consumer_changes(spec: AccessSpec, iam: Any, destroy: bool, seen: list[Any]) -> list[Change]:
    live = read_policy(iam, spec.consumer_policy_arn)
    seen.append(live)
    if destroy:
        return _policy_changes(None, "consumer", spec.consumer_policy_name, live)
    require_principal(spec, iam)
    return _policy_changes(_consumer_want(spec), "consumer", spec.consumer_policy_name, live,
                           spec.consumer_policy_arn)


def _left_alone(side: str, resource: str, name: str) -> Change:
    return Change(side, resource, name, "left-alone",
                  f"exists without tag managed-by={MANAGED_BY}: not ours")


# --- the role ---------------------------------------------------------------------------------

def _role_changes(spec: AccessSpec, live: LiveRole | None) -> list[Change]:
    name = spec.role_name
    trust = policies.trust_policy(spec)
    if live is None:
        boundary = ({"PermissionsBoundary": spec.permissions_boundary_arn}
                    if spec.permissions_boundary_arn else {})
        create = IamCall("CreateRole", {
            "RoleName": name, "AssumeRolePolicyDocument": policies.to_json(trust),
            "Description": spec.role_description, "MaxSessionDuration": spec.max_session_duration,
            "Tags": tag_list(spec.resource_tags), **boundary})
        detail = f"{_trust_summary(spec)}; max session {spec.max_session_duration} s"
        return [Change("main", "role", name, "create", detail, (create,))]
    if not live.ours:
        return [_left_alone("main", "role", name)]
    changes = [Change("main", "role", name, "no-op", f"tagged managed-by={MANAGED_BY}")]
    if policies.same_document(live.trust, trust):
        changes.append(Change("main", "trust-policy", name, "no-op", _trust_summary(spec)))
    else:
        update = IamCall("UpdateAssumeRolePolicy",
                         {"RoleName": name, "PolicyDocument": policies.to_json(trust)})
        changes.append(Change("main", "trust-policy", name, "update",
                              f"replace with: {_trust_summary(spec)}", (update,)))
    changes.append(_role_settings_change(spec, live))
    changes.append(_tags_change("main", name, live.tags, spec.resource_tags,
                                ("TagRole", "UntagRole"), {"RoleName": name}))
    return changes


def _trust_summary(spec: AccessSpec) -> str:
    text = f"trusts arn:aws:iam::{spec.consumer_account_id}:root"
    if spec.trusted_principals:
        text += f" narrowed to {len(spec.trusted_principals)} principal ARN(s)"
    if spec.external_id:
        text += " with an external id"
    if spec.require_source_identity:
        text += " requiring a SourceIdentity"
    return text


def _role_settings_change(spec: AccessSpec, live: LiveRole) -> Change:
    name = spec.role_name
    diffs = []
    if live.description != spec.role_description:
        diffs.append("description")
    if live.max_session != spec.max_session_duration:
        diffs.append(f"max session {live.max_session} → {spec.max_session_duration} s")
    calls = []
    if diffs:
        # Always both: UpdateRole may reset the one left out (moto does; AWS documents neither way).
        calls.append(IamCall("UpdateRole", {"RoleName": name, "Description": spec.role_description,
                                            "MaxSessionDuration": spec.max_session_duration}))
    if live.boundary != spec.permissions_boundary_arn:
        want = spec.permissions_boundary_arn
        diffs.append(f"permissions boundary {live.boundary or 'none'} → {want or 'none'}")
        calls.append(IamCall("PutRolePermissionsBoundary",
                             {"RoleName": name, "PermissionsBoundary": want}) if want
                     else IamCall("DeleteRolePermissionsBoundary", {"RoleName": name}))
    if not diffs:
        return Change("main", "role-settings", name, "no-op",
                      f"max session {live.max_session} s, permissions boundary "
                      f"{live.boundary or 'none'}")
    return Change("main", "role-settings", name, "update", ", ".join(diffs), tuple(calls))


def _role_teardown(spec: AccessSpec, live: LiveRole | None, ours: set[str]) -> list[Change]:
    """Destroy rows for the role. Our policies are detached by their own rows; whatever else is on
    the role (attached by hand) must go too, or DeleteRole fails with DeleteConflict."""
    name = spec.role_name
    if live is None:
        return [Change("main", "role", name, "no-op", "absent")]
    if not live.ours:
        return [_left_alone("main", "role", name)]
    changes = [Change("main", "attachment", arn.rsplit("/", 1)[1], "delete",
                      f"from role/{name} (attached outside xacct-nb)",
                      (IamCall("DetachRolePolicy", {"RoleName": name, "PolicyArn": arn}),))
               for arn in live.attached if arn not in ours]
    changes += [Change("main", "policy", f"{name}/{inline}", "delete", "inline policy of the role",
                       (IamCall("DeleteRolePolicy", {"RoleName": name, "PolicyName": inline}),))
                for inline in live.inline]
    return changes + [Change("main", "role", name, "delete", "",
                             (IamCall("DeleteRole", {"RoleName": name}),))]


# --- managed policies (table policies and the consumer policy) ---------------------------------

def _policy_changes(want: _Want | None, side: str, name: str, live: LivePolicy | None,
                    arn: str = "") -> list[Change]:
    """Rows converging one managed policy to `want` (None: it must not exist)."""
    if live is None and want is None:
        return [Change(side, "policy", name, "no-op", "absent")]
    if live is None:
        assert want is not None
        create = IamCall("CreatePolicy", {
            "PolicyName": want.name, "PolicyDocument": policies.to_json(want.document),
            "Description": want.description, "Tags": tag_list(want.tags)})
        changes = [Change(side, "policy", name, "create", want.label, (create,))]
        return changes + [_attachment(side, name, arn, entity, attach=True)
                          for entity in sorted(want.attach)]
    if not live.ours:
        return [_left_alone(side, "policy", name)]
    if want is None:
        old = [v["VersionId"] for v in live.versions if not v["IsDefaultVersion"]]
        # DeletePolicy needs every non-default version gone first (AWS refuses otherwise).
        calls = tuple(IamCall("DeletePolicyVersion", {"PolicyArn": live.arn, "VersionId": v})
                      for v in old) + (IamCall("DeletePolicy", {"PolicyArn": live.arn}),)
        changes = [_attachment(side, name, live.arn, entity, attach=False)
                   for entity in sorted(live.entities)]
        return changes + [Change(side, "policy", name, "delete",
                                 f"with {len(old)} old version(s)" if old else "", calls)]
    changes = [Change(side, "policy", name, "no-op", f"tagged managed-by={MANAGED_BY}"),
               _version_change(want, live),
               _tags_change(side, name, live.tags, want.tags, ("TagPolicy", "UntagPolicy"),
                            {"PolicyArn": live.arn})]
    for entity in sorted(want.attach | live.entities):
        if entity not in live.entities:
            changes.append(_attachment(side, name, live.arn, entity, attach=True))
        elif entity not in want.attach:
            changes.append(_attachment(side, name, live.arn, entity, attach=False))
        else:
            changes.append(Change(side, "attachment", name, "no-op",
                                  f"to {entity[0]}/{entity[1]}"))
    return changes


def _version_change(want: _Want, live: LivePolicy) -> Change:
    if policies.same_document(live.document, want.document):
        return Change(want.side, "policy-version", want.name, "no-op",
                      f"default {live.default_version} grants {want.label}")
    was = next((label for label, doc in want.known.items()
                if policies.same_document(live.document, doc)), "a different document")
    detail = f"{was} → {want.label}: new default version"
    calls = []
    if len(live.versions) >= MAX_POLICY_VERSIONS:
        prune = _oldest_non_default(live.versions)
        detail += (f", deleting the oldest non-default version {prune} "
                   f"(IAM keeps {MAX_POLICY_VERSIONS})")
        calls.append(IamCall("DeletePolicyVersion", {"PolicyArn": live.arn, "VersionId": prune}))
    calls.append(IamCall("CreatePolicyVersion", {
        "PolicyArn": live.arn, "PolicyDocument": policies.to_json(want.document),
        "SetAsDefault": True}))
    return Change(want.side, "policy-version", want.name, "update", detail, tuple(calls))


def _oldest_non_default(versions: tuple[dict[str, Any], ...]) -> str:
    old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    return str(old[0]["VersionId"])


def _attachment(side: str, policy_name: str, arn: str, entity: tuple[str, str], *,
                attach: bool) -> Change:
    kind, who = entity
    verb = "Attach" if attach else "Detach"
    call = IamCall(f"{verb}{kind.capitalize()}Policy",
                   {f"{kind.capitalize()}Name": who, "PolicyArn": arn})
    if attach:
        return Change(side, "attachment", policy_name, "create", f"to {kind}/{who}", (call,))
    return Change(side, "attachment", policy_name, "delete", f"from {kind}/{who}", (call,))


def _tags_change(side: str, name: str, live: dict[str, str], want: dict[str, str],
                 operations: tuple[str, str], target: dict[str, str]) -> Change:
    """Converge a resource's tags to exactly `want` (the resource is ours, so foreign tags go)."""
    add = {k: v for k, v in want.items() if live.get(k) != v}
    drop = sorted(set(live) - set(want))
    if not add and not drop:
        return Change(side, "tags", name, "no-op", f"{len(want)} tags as in the spec")
    tag, untag = operations
    calls = ([IamCall(tag, {**target, "Tags": tag_list(add)})] if add else []) \
        + ([IamCall(untag, {**target, "TagKeys": drop})] if drop else [])
    detail = ", ".join([f"set {k}={v}" for k, v in sorted(add.items())]
                       + [f"remove {k}" for k in drop])
    return Change(side, "tags", name, "update", detail, tuple(calls))
