"""IAM policy documents built from a spec (pure: no sandbox, no network)."""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from typing import Any

import pytest

from helpers import CONSUMER, MAIN
from xacct_nb.policies import (
    ACTIONS,
    READ_ACTIONS,
    RWU_ACTIONS,
    canonical,
    consumer_policy,
    same_document,
    table_policy,
    table_resources,
    to_json,
    trust_policy,
)
from xacct_nb.spec import ACCESS_LEVELS, AccessSpec, TableAccess, parse_spec

PRINCIPAL = f"arn:aws:iam::{CONSUMER}:user/analyst"
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate"}
DELETES = {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLDelete", "dynamodb:DeleteTable"}


def make_spec(**changes: Any) -> AccessSpec:
    data = {
        "env": "dev", "region": "eu-west-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
        "consumer_principal": PRINCIPAL,
        "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                              {"table_name": "customers", "access_type": "ReadWriteUpdate"},
                              {"table_name": "my-table.v2", "access_type": "Full"}],
    }
    return parse_spec({**data, **changes})


def only_statement(doc: dict[str, Any]) -> dict[str, Any]:
    assert doc["Version"] == "2012-10-17"
    assert len(doc["Statement"]) == 1
    return doc["Statement"][0]


# ---------------------------------------------------------------------------------------------
# Access levels

def test_action_lists_are_exactly_the_documented_ones() -> None:
    assert set(READ_ACTIONS) == {f"dynamodb:{a}" for a in (
        "GetItem", "BatchGetItem", "Query", "Scan", "ConditionCheckItem", "DescribeTable", "PartiQLSelect")}
    assert set(RWU_ACTIONS) == set(READ_ACTIONS) | WRITES
    assert list(ACTIONS["Full"]) == ["dynamodb:*"]
    assert set(ACTIONS) == set(ACCESS_LEVELS)


def test_read_cannot_write_and_rwu_cannot_delete() -> None:
    assert not set(READ_ACTIONS) & (WRITES | DELETES)
    assert not set(RWU_ACTIONS) & DELETES
    assert not any("*" in action for action in RWU_ACTIONS)


@pytest.mark.parametrize("level", ACCESS_LEVELS)
def test_table_policy_per_level(level: str) -> None:
    spec = make_spec(table_access_list=[{"table_name": "orders", "access_type": level}])
    statement = only_statement(table_policy(spec, spec.table("orders")))
    arn = f"arn:aws:dynamodb:eu-west-1:{MAIN}:table/orders"
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == sorted(ACTIONS[level])
    assert statement["Resource"][:2] == [arn, f"{arn}/index/*"]
    assert (f"{arn}/stream/*" in statement["Resource"]) == (level == "Full")
    assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])  # IAM rejects other characters in a Sid


def test_table_resources_use_the_main_account_and_region() -> None:
    spec = make_spec()
    arn = f"arn:aws:dynamodb:eu-west-1:{MAIN}:table/my-table.v2"
    assert table_resources(spec, spec.table("my-table.v2")) == [arn, f"{arn}/index/*", f"{arn}/stream/*"]
    assert table_resources(spec, TableAccess("orders", "Read")) == [
        f"arn:aws:dynamodb:eu-west-1:{MAIN}:table/orders", f"arn:aws:dynamodb:eu-west-1:{MAIN}:table/orders/index/*"]


def test_sid_is_derived_from_level_and_table_name() -> None:
    spec = make_spec()
    assert only_statement(table_policy(spec, spec.table("my-table.v2")))["Sid"] == "FullMyTableV2"
    assert only_statement(table_policy(spec, spec.table("orders")))["Sid"] == "ReadOrders"


# ---------------------------------------------------------------------------------------------
# Trust and consumer policies

def test_trust_policy_trusts_the_consumer_account_root() -> None:
    statement = only_statement(trust_policy(make_spec()))
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{CONSUMER}:root"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert "Condition" not in statement


def test_trust_policy_with_external_id() -> None:
    statement = only_statement(trust_policy(make_spec(external_id="ext-42")))
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-42"}}


def test_trust_policy_narrowed_to_exact_principals_uses_arn_equals() -> None:
    arns = [PRINCIPAL, f"arn:aws:iam::{CONSUMER}:role/ci"]
    statement = only_statement(trust_policy(make_spec(trusted_principal_arns=arns)))
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": arns}}


def test_trust_policy_with_wildcards_uses_arn_like_and_keeps_external_id() -> None:
    arns = [f"arn:aws:iam::{CONSUMER}:user/ana*"]
    statement = only_statement(trust_policy(make_spec(trusted_principal_arns=arns, external_id="ext-42")))
    assert statement["Condition"] == {"ArnLike": {"aws:PrincipalArn": arns},
                                      "StringEquals": {"sts:ExternalId": "ext-42"}}


def test_consumer_policy_allows_only_assuming_the_role() -> None:
    spec = make_spec()
    statement = only_statement(consumer_policy(spec))
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == f"arn:aws:iam::{MAIN}:role/dev-ddb_cross_acc_access_role-{CONSUMER}"
    assert set(statement) == {"Sid", "Effect", "Action", "Resource"}


# ---------------------------------------------------------------------------------------------
# Comparison and serialisation

def test_same_document_ignores_order_and_string_vs_list() -> None:
    spec = make_spec(trusted_principal_arns=[PRINCIPAL, f"arn:aws:iam::{CONSUMER}:role/ci"], external_id="ext-42")
    wanted = table_policy(spec, spec.table("customers"))
    shuffled = copy.deepcopy(wanted)
    shuffled["Statement"][0]["Action"].reverse()
    shuffled["Statement"][0]["Resource"].reverse()
    assert same_document(wanted, shuffled)
    # IAM may hand back a single statement as a dict, one-element lists as strings.
    single = {"Statement": {"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": [spec.role_arn],
                            "Sid": "AssumeDdbCrossAccRole"}, "Version": "2012-10-17"}
    assert same_document(consumer_policy(spec), single)
    trust = trust_policy(spec)
    loose = copy.deepcopy(trust)
    statement = loose["Statement"][0]
    statement["Principal"]["AWS"] = [statement["Principal"]["AWS"]]
    statement["Condition"]["StringEquals"]["sts:ExternalId"] = ["ext-42"]
    statement["Condition"]["ArnEquals"]["aws:PrincipalArn"].reverse()
    assert same_document(trust, loose)


def test_same_document_sees_real_differences() -> None:
    spec = make_spec()
    wanted = table_policy(spec, spec.table("orders"))
    for change in (
        lambda s: s["Action"].append("dynamodb:DeleteItem"),
        lambda s: s["Resource"].pop(),
        lambda s: s.update(Effect="Deny"),
        lambda s: s.update(Sid="Other"),
    ):
        other = copy.deepcopy(wanted)
        change(other["Statement"][0])
        assert not same_document(wanted, other)
    assert not same_document(wanted, {**wanted, "Version": "2008-10-17"})


def test_same_document_accepts_json_and_url_encoded_json() -> None:
    spec = make_spec(external_id="a/b:c")
    doc = trust_policy(spec)
    text = json.dumps(doc, indent=2)
    encoded = urllib.parse.quote(text, safe="")
    assert encoded.startswith("%7B")
    assert same_document(doc, text) and same_document(encoded, doc) and same_document(encoded, to_json(doc))
    assert not same_document(encoded, consumer_policy(spec))
    with pytest.raises(ValueError):
        same_document("not json", doc)


def test_canonical_keeps_sid_and_version_sorts_and_does_not_mutate() -> None:
    doc = {"Version": "2012-10-17", "Statement": {"Sid": "B", "Effect": "Allow", "Action": ["b", "a"],
                                                  "Resource": "r"}}
    before = copy.deepcopy(doc)
    assert canonical(doc) == {"Statement": [{"Action": ["a", "b"], "Effect": "Allow", "Resource": ["r"], "Sid": "B"}],
                              "Version": "2012-10-17"}
    assert list(canonical(doc)) == ["Statement", "Version"]
    assert doc == before


def test_to_json_is_compact_stable_and_lossless() -> None:
    spec = make_spec()
    doc = table_policy(spec, spec.table("customers"))
    text = to_json(doc)
    assert " " not in text and "\n" not in text
    assert text.index('"Statement"') < text.index('"Version"')  # sorted keys
    assert json.loads(text) == doc
    reordered = dict(reversed(list(doc.items())))
    assert to_json(reordered) == text
