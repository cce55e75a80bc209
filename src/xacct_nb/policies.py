"""IAM policy documents for the cross-account role, built from an `AccessSpec` (pure functions).

Three documents make the access work:

* the **trust policy** of the role in the main account (`trust_policy`): the consumer account
  (``arn:aws:iam::CONSUMER:root``) may call ``sts:AssumeRole``. Trusting ``:root`` delegates the
  decision to the consumer's own IAM policies, so a consumer principal also needs
* the **consumer policy** (`consumer_policy`), attached to ``consumer_principal`` in the
  consumer account: it allows ``sts:AssumeRole`` on that one role and nothing else;
* one **table policy** per table (`table_policy`), attached to the role, granting one of:

  ``Read``
      GetItem, BatchGetItem, Query, Scan, ConditionCheckItem, DescribeTable, PartiQLSelect.
      Reads items, queries the table and its indexes (TransactGetItems is authorised as GetItem).
      Nothing that changes data.
  ``ReadWriteUpdate``
      Read plus PutItem, UpdateItem, PartiQLInsert, PartiQLUpdate: creates, replaces and
      updates items, but cannot delete them (no DeleteItem, BatchWriteItem or PartiQLDelete).
  ``Full``
      ``dynamodb:*`` on the table, its indexes and its streams — everything, including deleting
      items and the table itself (DeleteTable) and changing it (UpdateTable). As in the
      reference design; grant it only to a consumer that owns the data's lifecycle.

  Every level covers ``table/NAME`` and ``table/NAME/index/*`` (Query/Scan on an index is
  authorised against the index ARN); ``Full`` also ``table/NAME/stream/*``. ``ListTables`` only
  works on ``*`` and is deliberately not granted: consumers address tables by name.

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

# Keys whose value may be a string or a list of strings with the same meaning.
_LIST_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource"})
_PRINCIPAL_KEYS = frozenset({"Principal", "NotPrincipal"})


def table_resources(spec: AccessSpec, table: TableAccess) -> list[str]:
    arn = spec.table_arn(table.table_name)
    resources = [arn, f"{arn}/index/*"]
    if table.access_type == "Full":
        resources.append(f"{arn}/stream/*")
    return resources


def table_policy(spec: AccessSpec, table: TableAccess) -> dict[str, Any]:
    """The managed policy granting `table.access_type` on one table (see the module docstring)."""
    return _document({
        "Sid": _sid(table.access_type, table.table_name),
        "Effect": "Allow",
        "Action": sorted(ACTIONS[table.access_type]),
        "Resource": table_resources(spec, table),
    })


def trust_policy(spec: AccessSpec) -> dict[str, Any]:
    """The role's trust policy: the consumer account may assume it, optionally only with the
    external id and only from the `trusted_principal_arns` (an ``aws:PrincipalArn`` condition,
    which unlike a principal ARN in ``Principal`` keeps working if that principal is recreated)."""
    statement: dict[str, Any] = {
        "Sid": "TrustConsumerAccount",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{spec.consumer_account_id}:root"},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, Any] = {}
    if spec.external_id is not None:
        condition["StringEquals"] = {"sts:ExternalId": spec.external_id}
    if spec.trusted_principal_arns:
        # ArnEquals compares literally; only ArnLike expands * and ?.
        wild = any(c in arn for arn in spec.trusted_principal_arns for c in "*?")
        condition["ArnLike" if wild else "ArnEquals"] = {"aws:PrincipalArn": list(spec.trusted_principal_arns)}
    if condition:
        statement["Condition"] = condition
    return _document(statement)


def consumer_policy(spec: AccessSpec) -> dict[str, Any]:
    """The consumer-side policy: `consumer_principal` may assume the role, and nothing else."""
    return _document({
        "Sid": "AssumeDdbCrossAccRole",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
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
