"""The plan rows of grant_mode ``resource_policy``: our statements in each granted table's
DynamoDB resource-based policy (and its stream's, with Full). Reads only.

A table has one resource policy that others may share, and its statements cannot be tagged: ours
are those whose Sid starts with `policies.rp_sid_prefix` (the env). Apply writes the policy back
with ours added or replaced, destroy with ours removed (DeleteResourcePolicy only when nothing
else is left); every other statement is carried over as read. Every write is conditional on the
revision that was read (``ExpectedRevisionId``; ``NO_POLICY`` when there was none), so a change
made by someone else in between is reported by DynamoDB, never overwritten — and the plan id
covers the documents and revisions read. ``ConfirmRemoveSelfResourceAccess`` is never sent: a
policy that would lock the table's owner out is refused by DynamoDB.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .. import policies
from ..errors import InputError, error_code
from ..spec import AccessSpec, TableAccess
from .model import Change, IamCall

__all__ = ["LiveResourcePolicy", "LiveTablePolicies", "read_table_policies", "resource_policy_changes"]

NO_POLICY = "NO_POLICY"


@dataclass(frozen=True)
class LiveResourcePolicy:
    """One resource policy as read: its document (None: there is none) and revision."""

    arn: str
    document: dict[str, Any] | None = None
    revision: str | None = None


@dataclass(frozen=True)
class LiveTablePolicies:
    table: str
    exists: bool
    policy: LiveResourcePolicy | None = None
    stream: LiveResourcePolicy | None = None  # None: the table has no stream


def read_table_policies(spec: AccessSpec, ddb: Any, former: tuple[str, ...] = ()) -> dict[str, LiveTablePolicies]:
    """The granted tables' resource policies (and their streams'), read as the main account;
    `former`: tables no longer in the spec whose statements of ours are to be removed."""
    out = {}
    for table in (*spec.table_names, *former):
        arn = spec.table_arn(table)
        try:
            described = ddb.describe_table(TableName=table)["Table"]
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            out[table] = LiveTablePolicies(table, False)
            continue
        stream_arn = described.get("LatestStreamArn") if described.get(
            "StreamSpecification", {}).get("StreamEnabled") else None
        out[table] = LiveTablePolicies(table, True, _read(ddb, arn),
                                       _read(ddb, stream_arn) if stream_arn else None)
    return out


def _read(ddb: Any, arn: str) -> LiveResourcePolicy:
    try:
        reply = ddb.get_resource_policy(ResourceArn=arn)
    except ClientError as err:
        if error_code(err) == "PolicyNotFoundException":
            return LiveResourcePolicy(arn)
        raise
    return LiveResourcePolicy(arn, json.loads(reply["Policy"]), reply["RevisionId"])


def resource_policy_changes(spec: AccessSpec, live: dict[str, LiveTablePolicies], *,
                            keep: bool) -> list[Change]:
    """Rows converging our statements on each table to the spec (`keep`) or removing them
    (destroy, or the old half of a switch to role mode)."""
    changes: list[Change] = []
    granted = {t.table_name for t in spec.table_access_list}
    for name, state in live.items():  # a table no longer in the spec: our statements go
        if name not in granted and state.exists:
            assert state.policy is not None
            rows = [_converge(spec, "resource-policy", name, state.policy, [], "no access")]
            if state.stream is not None:
                rows.append(_converge(spec, "stream-policy", f"{name} stream", state.stream, [], "no stream access"))
            changes += [dataclasses.replace(row, detail=f"{name} is no longer in the spec: {row.detail}")
                        for row in rows]
    for table in spec.table_access_list:
        state = live[table.table_name]
        if not state.exists:
            if keep:
                raise InputError(f"table_access_list: table {table.table_name} does not exist in the main "
                                 f"account {spec.main_account_id} ({spec.region}) — a resource policy needs "
                                 "the table: create it first or fix the name")
            continue
        assert state.policy is not None
        want = policies.rp_wanted_statements(spec, table.table_name) if keep else []
        changes.append(_converge(spec, "resource-policy", table.table_name, state.policy, want,
                                 _label(spec, table, want)))
        if state.stream is not None:
            stream_want = (policies.rp_wanted_statements(spec, table.table_name, state.stream.arn, stream=True)
                           if keep else [])
            label = "stream reads (Full)" if stream_want else "no stream access"
            changes.append(_converge(spec, "stream-policy", f"{table.table_name} stream", state.stream,
                                     stream_want, label))
    return changes


def _label(spec: AccessSpec, table: TableAccess, want: list[dict[str, Any]]) -> str:
    if not want:
        return "no access"
    org = f" and every principal of {spec.organization_id}" if spec.organization_id else ""
    if spec.consumers:
        who = "; ".join(f"{t.access_type} to {sub.consumer_principal}" for sub in spec.consumer_specs
                        for t in sub.table_access_list if t.table_name == table.table_name)
        return f"{table.table_name} (+ its indexes): {who or 'no consumer'}{org}"
    return f"{table.access_type} on {table.table_name} (+ its indexes) to {spec.consumer_principal}{org}"


def _was(spec: AccessSpec, table: str, ours: list[dict[str, Any]]) -> str:
    if not ours:
        return "none of ours"
    if spec.consumers:
        return f"{len(ours)} statement(s) of ours"
    sid = policies.rp_sid(spec, spec.consumer_principal, "Table")
    mine = [s for s in ours if s.get("Sid") == sid]
    level = policies.rp_level_of(spec, mine[0], table) if len(mine) == 1 else None
    if level and len(ours) == len(policies.rp_table_statements(spec, TableAccess(table, level))):
        return level
    return f"{len(ours)} statement(s) of ours that differ from any level (edited by hand?)"


def _converge(spec: AccessSpec, resource: str, name: str, live: LiveResourcePolicy,
              want: list[dict[str, Any]], label: str) -> Change:
    ours = policies.our_statements(spec, live.document)
    statements = (live.document or {}).get("Statement", [])
    others = (1 if isinstance(statements, dict) else len(statements)) - len(ours)
    kept = f"; {others} other statement(s) kept as they are" if others else ""
    if policies.canonical(ours) == policies.canonical(want):
        detail = f"our statements grant {label}{kept}" if want else f"no statements of ours{kept}"
        return Change("main", resource, name, "no-op", detail)
    merged = policies.merge_statements(spec, live.document, want)
    expected = live.revision or NO_POLICY
    if merged is None:
        call = IamCall("DeleteResourcePolicy", {"ResourceArn": live.arn, "ExpectedRevisionId": expected})
        return Change("main", resource, name, "delete",
                      f"remove our statements ({_was(spec, name.split(' ')[0], ours)}); none other is left, "
                      f"so the policy goes (revision {live.revision})", (call,))
    size = policies.policy_bytes(merged)
    if size > policies.RESOURCE_POLICY_MAX_BYTES:
        raise InputError(f"table {name}: its resource policy would be {size} bytes with our statements; "
                         f"DynamoDB allows {policies.RESOURCE_POLICY_MAX_BYTES} — remove statements others "
                         "no longer need from it, or use grant_mode: role")
    call = IamCall("PutResourcePolicy", {"ResourceArn": live.arn, "Policy": policies.to_json(merged),
                                         "ExpectedRevisionId": expected})
    revision = f"if still revision {live.revision}" if live.revision else "only if it still has none"
    if not want:
        return Change("main", resource, name, "delete",
                      f"remove our statements ({_was(spec, name.split(' ')[0], ours)}){kept}; {revision}, "
                      f"{size} bytes", (call,))
    action = "update" if ours else "create"
    was = f"{_was(spec, name.split(' ')[0], ours)} → " if ours else ""
    return Change("main", resource, name, action, f"{was}{label}{kept}; {revision}, {size} bytes", (call,))
