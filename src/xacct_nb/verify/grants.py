"""Verification cells of grant_mode resource_policy: who else can read (the outsider, an unlisted
consumer principal — live, by table ARN) and drift of the grant itself: our statement on each
table as the spec writes it (not edited by hand, not missing), no foreign statement granting our
principal more than the spec's level, and the consumer-side policy present and attached."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .. import kms, policies
from ..clients import make_client
from ..errors import error_code
from ..provisioning.live import read_policy
from ..spec import AccessSpec, TableAccess
from .model import Cell, Outcome, cell
from .probes import KMS_KEYS, attempt

GRANT = "grant"  # target of the grant's own checks


def key_cells(spec: AccessSpec, main: boto3.Session | None) -> tuple[dict[str, Any], list[Cell]]:
    """Granted table → its customer-managed key's policy as read (key_policy_grants.LiveKeyPolicy),
    or a cell saying why the keys could not be read."""
    from ..provisioning.key_policy_grants import read_key_policies

    if main is None:
        return {}, []
    try:
        keys = read_key_policies(spec, main)
    except (ClientError, BotoCoreError) as err:
        outcome = Outcome("error", f"reading the tables' KMS keys as the main account: {err}")
        return {}, [cell(KMS_KEYS, "discover", "kms", "allowed", outcome)]
    return {table: key for key in keys.values() for table in key.tables}, []


def kms_decrypt_cell(spec: AccessSpec, key: Any, probed: list[Cell]) -> Cell:
    """The Scan probe by ARN decrypted with the table's key as the analyst: its answer, with what
    the key policy says about the consumer principal."""
    from ..provisioning.key_policy_grants import key_policy_statements

    ours = policies.our_statements(spec, key.document)
    if ours and policies.canonical(ours) == policies.canonical(key_policy_statements(spec, key.tables)):
        says = "the key policy has our statement for the consumer principal (manage_key_policy)"
    elif ours:
        says = "our key-policy statement differs from the spec (edited by hand?) — run plan to see"
    else:
        says = ("the key policy has no statement of ours: another statement must admit the consumer principal "
                "(or set manage_key_policy: true)")
    scan = next(c for c in probed if c.check == "scan")
    detail = (f"customer-managed key {key.key_arn}: {says}. DynamoDB caches the table key ~{kms.KEY_CACHE_MINUTES} "
              "min, so a revoked kms:Decrypt keeps reading that long")
    return Cell(scan.target, "kms_decrypt", scan.access, scan.expected, scan.actual, scan.result,
                f"{detail}; {scan.detail}" if scan.detail else detail)


def reader_cells(spec: AccessSpec, label: str, session: boto3.Session | None, missing: str) -> list[Cell]:
    """A principal that the resource policies do not name scans the first table by ARN: denied."""
    check = f"{label} reads by ARN"
    if session is None:
        return [cell(GRANT, check, "trust", "denied", Outcome("skipped", missing))]
    ddb = make_client(session, "dynamodb", region_name=spec.region)
    arn = spec.table_arn(spec.table_names[0])
    return [cell(GRANT, check, "trust", "denied", attempt(lambda: ddb.scan(TableName=arn, Limit=1),
                                                         f"Scan on {arn}"))]


def drift_cells(spec: AccessSpec, main: boto3.Session | None, consumer: boto3.Session | None,
                main_note: str) -> list[Cell]:
    cells = []
    if main is None:
        cells.append(cell(GRANT, "table policies as in spec", "drift", "allowed",
                          Outcome("skipped", f"no main-account session: {main_note}")))
    else:
        ddb = make_client(main, "dynamodb", region_name=spec.region)
        for table in spec.table_access_list:
            cells += _table_drift(spec, ddb, table)
    if consumer is None:
        cells.append(cell(GRANT, "consumer-side policy attached", "drift", "allowed",
                          Outcome("skipped", "consumer_profile is not set")))
    else:
        cells.append(cell(GRANT, "consumer-side policy attached", "drift", "allowed", _consumer_drift(spec, consumer)))
    return cells


def _table_drift(spec: AccessSpec, ddb: Any, table: TableAccess) -> list[Cell]:
    name = table.table_name
    try:
        reply = ddb.get_resource_policy(ResourceArn=spec.table_arn(name))
        document = json.loads(reply["Policy"])
    except ClientError as err:
        if error_code(err) != "PolicyNotFoundException":
            return [cell(name, "our statement as in spec", table.access_type, "allowed",
                         Outcome("error", f"GetResourcePolicy: {error_code(err)}"))]
        document = None
    except BotoCoreError as err:
        return [cell(name, "our statement as in spec", table.access_type, "allowed", Outcome("error", str(err)))]
    ours = policies.our_statements(spec, document)
    want = policies.rp_table_statements(spec, table)
    if spec.listed_consumer:  # the other consumers' statements are ours too: compare this one's Sids
        ours = [s for s in ours if s.get("Sid") in {w["Sid"] for w in want}]
    if policies.canonical(ours) == policies.canonical(want):
        mine = Outcome("allowed", f"{table.access_type} to {spec.consumer_principal}")
    elif not ours:
        mine = Outcome("denied", "missing: no statement of ours on the table — run apply")
    else:
        mine = Outcome("denied", "our statement differs from the spec (edited by hand?) — run plan to see, apply "
                                 "to restore")
    cells = [cell(name, "our statement as in spec", table.access_type, "allowed", mine)]
    more = _foreign_grants_beyond(spec, document, table)
    cells.append(cell(name, "no foreign statement grants more", table.access_type, "allowed",
                      Outcome("allowed", "none") if not more else
                      Outcome("denied", "statement(s) " + ", ".join(more) + f" grant {spec.consumer_principal} "
                              f"more than {table.access_type}")))
    return cells


def _foreign_grants_beyond(spec: AccessSpec, document: dict[str, Any] | None, table: TableAccess) -> list[str]:
    """Sids (or positions) of foreign Allow statements naming our principal (or its account, or
    everyone) with actions beyond the level's."""
    level = set(policies.RP_ACTIONS[table.access_type])
    statements = (document or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    found = []
    for i, st in enumerate(statements):
        if policies.is_our_statement(spec, st) or st.get("Effect") != "Allow":
            continue
        if not _names_principal(spec, st.get("Principal")):
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if "NotAction" in st or any(a not in level for a in actions):
            found.append(str(st.get("Sid") or f"#{i}"))
    return found


def _names_principal(spec: AccessSpec, principal: Any) -> bool:
    if principal == "*":
        return True
    values = principal.get("AWS", []) if isinstance(principal, dict) else []
    values = [values] if isinstance(values, str) else values
    return any(v in ("*", spec.consumer_principal, spec.consumer_account_id,
                     f"arn:aws:iam::{spec.consumer_account_id}:root") for v in values)


def _consumer_drift(spec: AccessSpec, consumer: boto3.Session) -> Outcome:
    try:
        live = read_policy(make_client(consumer, "iam"), spec.grant_policy_arn)
    except (ClientError, BotoCoreError) as err:
        return Outcome("error", f"reading {spec.grant_policy_name}: {err}")
    if live is None:
        return Outcome("denied", f"missing: {spec.grant_policy_name} does not exist — run apply")
    if not live.ours:
        return Outcome("denied", f"{spec.grant_policy_name} exists without tag managed-by=xacct-nb")
    if (spec.principal_kind, spec.principal_name) not in live.entities:
        return Outcome("denied", f"{spec.grant_policy_name} is not attached to {spec.consumer_principal} — run apply")
    if not policies.same_document(live.document, policies.grant_policy(spec)):
        return Outcome("denied", f"{spec.grant_policy_name} differs from the spec — run apply")
    return Outcome("allowed", f"{spec.grant_policy_name} attached to {spec.consumer_principal}")
