"""Property: no input can silently widen a grant (issue 19).

Hostile mutations of a valid spec — wildcards, ``..``, ``/``, ``$``, unicode look-alikes, very
long and empty names, other accounts, whole-account trust patterns — in table names (index-like
names too), the export prefix and bucket, the principals and the trust patterns, and duplicated
keys in the YAML text. Every such spec is either refused by validation (pure, no network: nothing
reached AWS), or EVERY document it produces allows only what the spec names. That is checked by
evaluating the documents (tests/iam_eval.py, written from IAM's rules) on concrete requests:

* out of scope, never allowed: another table (``orders2``, a prefix or suffix of a granted name,
  another case), its index/stream/backup/export ARNs, the granted tables in another account or
  region, another KMS key, another bucket's objects, objects of the export bucket outside the
  prefix (``private/secret.txt``, ``PREFIX2/x``, ``x/PREFIX/y``), listing outside the prefix,
  ACLs other than bucket-owner-full-control, other roles, and — in the trust — principals of
  other accounts and consumer principals no trusted pattern names;
* in scope, allowed (so the evaluator is not vacuously denying): each table at its level, the
  export's writes under the prefix, the analyst's assume and reads, the consumer principal's trust.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CONSUMER, MAIN
from iam_eval import allow_statements, allowed, glob
from xacct_nb.errors import SpecError
from xacct_nb.policies import consumer_policy, table_policy, trust_policy, with_bucket_statement
from xacct_nb.spec import AccessSpec, load_spec, parse_spec, role_name, table_arn

OTHER_ACCOUNT = "999999999999"
BASE: dict[str, Any] = {
    "env": "dev", "region": "us-east-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
    "consumer_principal": f"arn:aws:iam::{CONSUMER}:user/analyst",
    "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                          {"table_name": "customers", "access_type": "ReadWriteUpdate"},
                          {"table_name": "ledger", "access_type": "Full"}],
    "export": {"bucket": "consumer-exports", "prefix": "ddb/exports"},
    "trusted_principal_arns": [f"arn:aws:iam::{CONSUMER}:user/analyst",
                               f"arn:aws:iam::{CONSUMER}:role/analysts/*"],
    "external_id": "ext-id-42",
}

DDB_ACTIONS = [f"dynamodb:{a}" for a in (
    "GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "DeleteTable",
    "UpdateTable", "ExportTableToPointInTime", "DescribeExport", "CreateBackup", "DeleteBackup",
    "GetRecords", "PutResourcePolicy", "ListTables", "PartiQLSelect", "PartiQLDelete")]
S3_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload",
              "s3:DeleteObject", "s3:ListBucket", "s3:PutBucketPolicy", "s3:PutBucketAcl"]
OTHER_ACTIONS = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession", "kms:Decrypt",
                 "kms:DescribeKey", "kms:Encrypt", "iam:PassRole", "iam:CreateRole"]
ACTIONS = DDB_ACTIONS + S3_ACTIONS + OTHER_ACTIONS

# --- hostile values ----------------------------------------------------------------------------

HOSTILE = [
    "*", "?", "**", "*/*", "orders*", "ord?rs", "*orders", "..", "../..", "a/../b", ".", "/", "/x",
    "x/", "a//b", "", " ", "orders\n", "orders ", "${aws:username}", "$x", "orders/index/*",
    "orders/index/by_status", "orders/*", "orders:x", "ΩMEGA", "ｏｒｄｅｒｓ", "orders\u200b", "ordérs",
    "a" * 300, "x" * 64, "x" * 65, "x" * 513, "root", "user/*", "role/*", "role/*/*", "%2A", "a%2F..",
    "[a-z]*", "{a,b}", "o\\rders", "ORDERS", "orders.v2", "a-b_c", "exports/2026", "x!-_.'()y",
]
_HOSTILE_CHARS = "*?$/.:[]{}\\%!'() -_é\u200bΩ\n\tA0"


@st.composite
def hostile(draw, base: str) -> str:
    """A hostile string: one from the list, or `base` with hostile characters spliced in, or `base`
    repeated to a huge length."""
    how = draw(st.integers(0, 3))
    if how == 0:
        return draw(st.sampled_from(HOSTILE))
    if how == 1:
        cut = draw(st.integers(0, len(base)))
        return base[:cut] + draw(st.text(alphabet=_HOSTILE_CHARS, min_size=1, max_size=6)) + base[cut:]
    if how == 2:
        return base * draw(st.integers(2, 60))
    return draw(st.text(alphabet=_HOSTILE_CHARS + "abcorders", max_size=12))


def _principal_like(draw: Any) -> str:
    account = draw(st.sampled_from([CONSUMER, CONSUMER, MAIN, OTHER_ACCOUNT, "*", "22222222222"]))
    kind = draw(st.sampled_from(["user", "role", "root", "*", "user*", "group"]))
    if kind == "root":
        return f"arn:aws:iam::{account}:root"
    return f"arn:aws:iam::{account}:{kind}/{draw(hostile('analysts/alice'))}"


@st.composite
def mutated_spec(draw) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from([
            "table_name", "add_table", "prefix", "bucket", "trusted", "principal", "env", "region",
            "whole", "drop_export", "drop_trusted", "account"]))
        tables = data["table_access_list"]
        if target == "table_name":
            entry = draw(st.sampled_from(tables))
            entry["table_name"] = draw(hostile(entry["table_name"]))
        elif target == "add_table":
            tables.append({"table_name": draw(hostile("orders")),
                           "access_type": draw(st.sampled_from(["Read", "ReadWriteUpdate", "Full"]))})
        elif target in ("prefix", "bucket") and "export" in data:
            data["export"][target] = draw(hostile(data["export"][target]))
        elif target == "trusted" and "trusted_principal_arns" in data:
            arns = data["trusted_principal_arns"]
            arns[draw(st.integers(0, len(arns) - 1))] = _principal_like(draw)
        elif target == "principal":
            data["consumer_principal"] = _principal_like(draw)
        elif target in ("env", "region"):
            data[target] = draw(hostile(data[target]))
        elif target == "whole":
            data["trust_whole_consumer_account"] = True
            if draw(st.booleans()):
                data.pop("trusted_principal_arns", None)
        elif target == "drop_export":
            data.pop("export", None)
        elif target == "drop_trusted":
            data.pop("trusted_principal_arns", None)
        elif target == "account":
            data[draw(st.sampled_from(["main_account_id", "consumer_account_id"]))] = draw(
                st.sampled_from([OTHER_ACCOUNT, "*", "1111111111*", MAIN, CONSUMER, ""]))
    return data


def _no_network():
    return mock.patch.object(socket.socket, "connect", side_effect=AssertionError("network call"))


# --- what a spec names, and what it does not ----------------------------------------------------

def _other(spec: AccessSpec) -> str:
    """An account the spec does not name (mutations may make either account 999999999999)."""
    return next(a for a in (OTHER_ACCOUNT, "888888888888") if a not in (spec.main_account_id, spec.consumer_account_id))


def _documents(spec: AccessSpec) -> dict[str, Any]:
    key = f"arn:aws:kms:{spec.region}:{spec.main_account_id}:key/granted-key"
    role = [table_policy(spec, t, key if t.access_type == "Full" else None) for t in spec.table_access_list]
    bucket = with_bucket_statement(spec, None, keep_ours=True) if spec.export else None
    return {"role": role, "consumer": [consumer_policy(spec)], "trust": trust_policy(spec),
            "bucket": bucket, "key": key}


def _other_tables(spec: AccessSpec) -> set[str]:
    names = set(spec.table_names)
    others = {"orders2", "zz-other", "payments"}
    for name in names:
        others |= {name + "2", "x" + name, name[:-1], name + "-other", name.upper(), name.lower(),
                   name[1:], name + ".v2", "v2." + name}
    return {n for n in others - names if n}


def _out_of_scope(spec: AccessSpec, key: str) -> list[str]:
    region, main = spec.region, spec.main_account_id
    other_region = "eu-west-3" if region != "eu-west-3" else "us-west-2"
    arns = []
    for name in _other_tables(spec):
        base = table_arn(region, main, name)
        arns += [base, f"{base}/index/i", f"{base}/stream/s", f"{base}/backup/b", f"{base}/export/e"]
    for name in spec.table_names:
        arns += [table_arn(other_region, main, name), table_arn(region, _other(spec), name),
                 table_arn(region, spec.consumer_account_id, name)]
    arns += [key.replace("granted-key", "other-key"), key.replace(main, _other(spec))]
    bucket = spec.export.bucket if spec.export else "consumer-exports"
    prefix = spec.export.prefix if spec.export else "ddb/exports"
    arns += [f"arn:aws:s3:::{bucket}/private/secret.txt", f"arn:aws:s3:::{bucket}/{prefix}2/x",
             f"arn:aws:s3:::{bucket}/x/{prefix}/y", f"arn:aws:s3:::{bucket}/{prefix}",
             f"arn:aws:s3:::other-bucket/{prefix}/x", f"arn:aws:s3:::{bucket}x/{prefix}/x",
             "arn:aws:s3:::other-bucket"]
    other_env_role = role_name(spec.env + "x" if len(spec.env) < 32 else "other", spec.consumer_account_id)
    arns += [f"arn:aws:iam::{main}:role/other", f"arn:aws:iam::{main}:role/{other_env_role}",
             f"arn:aws:iam::{_other(spec)}:role/{spec.role_name}",
             f"arn:aws:iam::{spec.consumer_account_id}:role/{spec.role_name}", "*"]
    return arns


def _context(spec: AccessSpec, caller: str | None = None) -> dict[str, str]:
    """The most a requester could put in the request context: every condition key our documents
    use, set to the value that satisfies it (so out-of-scope requests fail on their resource)."""
    prefix = spec.export.prefix if spec.export else "ddb/exports"
    context = {"kms:ViaService": f"dynamodb.{spec.region}.amazonaws.com", "s3:x-amz-acl": "bucket-owner-full-control",
               "s3:prefix": f"{prefix}/x", "sts:SourceIdentity": "someone",
               "sts:ExternalId": spec.external_id or "guess"}
    if caller:
        context["aws:PrincipalArn"] = caller
    return context


def _trust_callers(spec: AccessSpec) -> list[str]:
    consumer = spec.consumer_account_id
    return [f"arn:aws:iam::{_other(spec)}:user/analyst", f"arn:aws:iam::{_other(spec)}:role/analysts/alice",
            f"arn:aws:iam::{spec.main_account_id}:role/other", f"arn:aws:iam::{consumer}:role/Admin",
            f"arn:aws:iam::{consumer}:user/admin", f"arn:aws:iam::{consumer}:user/analyst2",
            f"arn:aws:iam::{consumer}:role/OrganizationAccountAccessRole",
            f"arn:aws:iam::{consumer}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1",
            f"arn:aws:iam::{consumer}:role/analysts/alice", spec.consumer_principal]


def _listed(spec: AccessSpec, caller: str) -> bool:
    """The trust may admit `caller` only when the spec says so: a consumer-account principal that
    one of its patterns names (or any of them when the whole account is trusted on purpose)."""
    if caller.split(":")[4] != spec.consumer_account_id:
        return False
    return spec.trust_whole_consumer_account or any(glob(p, caller) for p in spec.trusted_principals)


def check_grants(spec: AccessSpec) -> None:
    docs = _documents(spec)
    context = _context(spec)
    outside = _out_of_scope(spec, docs["key"])
    # 1. nothing out of scope, for any action, under the role's policies or the analyst's
    for who in ("role", "consumer"):
        leaks = [(a, r) for a in ACTIONS for r in outside if allowed(docs[who], a, r, context)]
        assert not leaks, (who, leaks[:5])
    # ...nor by the bucket policy, for the role or anyone else
    if docs["bucket"] is not None:
        for caller in [spec.role_arn, f"arn:aws:iam::{_other(spec)}:role/x", f"arn:aws:iam::{MAIN}:role/other"]:
            leaks = [(a, r) for a in S3_ACTIONS for r in outside
                     if allowed([docs["bucket"]], a, r, context, caller=caller)]
            assert not leaks, (caller, leaks[:5])
        inside = f"arn:aws:s3:::{spec.export.bucket}/{spec.export.prefix}/AWSDynamoDB/x/data/0.json.gz"
        assert allowed([docs["bucket"]], "s3:PutObject", inside, context, caller=spec.role_arn)
        assert not allowed([docs["bucket"]], "s3:PutObject", inside, context,
                           caller=f"arn:aws:iam::{_other(spec)}:role/{spec.role_name}")
    # 2. every Allow names only names of the spec: the table policies' resources stay on their table
    for table, document in zip(spec.table_access_list, docs["role"]):
        own = table_arn(spec.region, spec.main_account_id, table.table_name)
        for statement in allow_statements(document):
            for other in spec.table_names:
                if other != table.table_name:
                    assert not allowed([{"Statement": [statement]}], "dynamodb:GetItem",
                                       table_arn(spec.region, spec.main_account_id, other), context)
            if any(a.startswith("dynamodb:") for a in json.dumps(statement["Action"]).split('"')):
                assert allowed([{"Statement": [statement]}], "dynamodb:DescribeExport", f"{own}/export/e",
                               context) or allowed([{"Statement": [statement]}], "dynamodb:GetItem", own, context)
    # 3. in scope: allowed (the evaluator is not vacuously denying)
    for table in spec.table_access_list:
        arn = table_arn(spec.region, spec.main_account_id, table.table_name)
        assert allowed(docs["role"], "dynamodb:GetItem", arn, context)
        assert allowed(docs["role"], "dynamodb:Query", f"{arn}/index/any", context)
        assert allowed(docs["role"], "dynamodb:PutItem", arn, context) == (table.access_type != "Read")
        assert allowed(docs["role"], "dynamodb:DeleteTable", arn, context) == (table.access_type == "Full")
        assert not allowed(docs["role"], "dynamodb:PutResourcePolicy", arn, context)
    assert allowed(docs["consumer"], "sts:AssumeRole", spec.role_arn, context)
    if spec.export:
        objects = f"arn:aws:s3:::{spec.export.bucket}/{spec.export.prefix}/AWSDynamoDB/x/data/0.json.gz"
        bucket_arn = f"arn:aws:s3:::{spec.export.bucket}"
        assert allowed(docs["role"], "s3:PutObject", objects, context)
        assert allowed(docs["role"], "s3:PutObjectAcl", objects, context)
        public = {**context, "s3:x-amz-acl": "public-read"}
        assert not allowed(docs["role"], "s3:PutObjectAcl", objects, public)
        assert not allowed(docs["role"], "s3:PutObjectAcl", objects, {})  # no ACL header: no grant
        assert allowed(docs["consumer"], "s3:GetObject", objects, context)
        assert allowed(docs["consumer"], "s3:ListBucket", bucket_arn, context)
        for prefix in ("", "private/", f"{spec.export.prefix}2/", f"x/{spec.export.prefix}/", "*"):
            assert not allowed(docs["consumer"], "s3:ListBucket", bucket_arn, {**context, "s3:prefix": prefix})
    # 4. the trust admits only principals the spec lists, and never another account
    for caller in _trust_callers(spec):
        verdict = allowed([docs["trust"]], "sts:AssumeRole", spec.role_arn, _context(spec, caller), caller=caller)
        assert verdict == _listed(spec, caller), (caller, verdict, spec.trusted_principals)
    without_id = {**_context(spec, spec.consumer_principal), "sts:ExternalId": "wrong"}
    assert allowed([docs["trust"]], "sts:AssumeRole", spec.role_arn, without_id,
                   caller=spec.consumer_principal) == (spec.external_id is None)


# --- the properties -----------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_are_refused_or_grant_only_what_they_name(data):
    with _no_network():  # validation is pure: a refusal happens before any AWS call
        try:
            spec = parse_spec(data)
        except SpecError as err:
            assert "\n" not in str(err)
            return
    check_grants(spec)


ACCEPTED = [  # specs that pass validation with unusual but legitimate names: checked in full
    BASE,
    {**BASE, "table_access_list": [{"table_name": "orders.v2", "access_type": "Full"},
                                   {"table_name": "a-b_c", "access_type": "Read"},
                                   {"table_name": "ORDERS", "access_type": "ReadWriteUpdate"}]},
    {**BASE, "export": {"bucket": "b.a-c", "prefix": "x!-_.'()y/2026"}},
    {**BASE, "trusted_principal_arns": [f"arn:aws:iam::{CONSUMER}:user/a*",
                                        f"arn:aws:iam::{CONSUMER}:role/aws-reserved/*"]},
    {**{k: v for k, v in BASE.items() if k != "trusted_principal_arns"}, "trust_whole_consumer_account": True},
    {**{k: v for k, v in BASE.items() if k not in ("export", "external_id")}},
]


@pytest.mark.parametrize("data", ACCEPTED)
def test_accepted_specs_grant_only_what_they_name(data):
    check_grants(parse_spec(data))


def test_the_check_catches_widened_grants():
    """The property's check is not vacuous: wildcards slipped past validation are caught."""
    from xacct_nb.spec import ExportTarget, TableAccess

    spec = parse_spec(BASE)
    fields = {f: getattr(spec, f) for f in spec.__dataclass_fields__}
    for widened in ({"export": ExportTarget(spec.export.bucket, "*")},
                    {"export": ExportTarget(spec.export.bucket, "ddb*")},
                    {"table_access_list": (TableAccess("ord*", "Read"),)},
                    {"region": "*"}):
        with pytest.raises(AssertionError):
            check_grants(AccessSpec(**{**fields, **widened}))


# --- duplicated keys in the text ----------------------------------------------------------------

_KEY_LINE = re.compile(r"^(\s*)(- )?([A-Za-z_]+):(?: |$)", re.M)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_duplicated_key_anywhere_is_refused(data):
    text = yaml.safe_dump(BASE, sort_keys=False, allow_unicode=True)
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    index = data.draw(st.sampled_from(candidates))
    indent, item, key = _KEY_LINE.match(lines[index]).groups()
    value = data.draw(st.sampled_from(["Full", "*", "dev2", f"arn:aws:iam::{CONSUMER}:user/*", "x"]))
    duplicate = f"{indent}{'  ' if item else ''}{key}: {json.dumps(value)}"
    if lines[index].endswith(":"):  # a nested block follows: the duplicate goes before the key
        at = index
    elif item:  # the first key of a list item: the duplicate goes after it
        at = index + 1
    else:
        at = data.draw(st.sampled_from([index, index + 1]))
    lines.insert(at, duplicate)
    with tempfile.TemporaryDirectory() as folder, _no_network():
        path = Path(folder) / "params.yaml"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(SpecError) as refused:
            load_spec(path)
    assert "is given twice" in str(refused.value) and refused.value.field.endswith(key)
    assert "\n" not in str(refused.value)
