"""Item edit (issue 23): the planned UpdateItem, sent as the granted role against the sandbox,
refused when the item changed since it was read or the grant is Read, and the append-only log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from xacct_nb.dynamo import KeySchema, RemoteTable
from xacct_nb.errors import AccessDenied, InputError, ItemChanged
from xacct_nb.item_edit import (
    EditLog,
    Remove,
    SetValue,
    edit_log_path,
    plan_put,
    plan_update,
    same_item,
    send,
    typed_value,
    value_text,
)
from xacct_nb.provisioning import apply, destroy
from xacct_nb.sessions import assume_from_spec
from xacct_nb.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
CUSTOMERS_KEY = KeySchema("customer_id", "S")
ITEM = {"customer_id": {"S": "X1"}, "name": {"S": "Ada"}, "balance": {"N": "10.50"},
        "address": {"M": {"city": {"S": "Kyiv"}, "zip": {"S": "01001"}}},
        "tags": {"SS": ["a", "b"]}, "blob": {"B": b"\x00\xff"}, "gone": {"NULL": True}}


# -- values: the grammar's typing, numbers as the exact text -----------------------------------------
@pytest.mark.parametrize("text,type_,wire", [
    ("12.50", "auto", {"N": "12.50"}),          # the exact text: not 12.5, not a float
    ("1e3", "auto", {"N": "1e3"}),
    ("007", "auto", {"S": "007"}),              # not JSON number syntax: text, as in the Filter box
    ("'42'", "auto", {"S": "42"}),
    ("true", "auto", {"BOOL": True}),
    ("TRUE", "auto", {"S": "TRUE"}),
    ("007", "N", {"N": "007"}),
    ("  spaced ", "S", {"S": "  spaced "}),
    ("", "NULL", {"NULL": True}),
    ("aGk=", "B", {"B": b"hi"}),
    ("gift, 'a,b'", "SS", {"SS": ["gift", "a,b"]}),
    ("1, 2.50", "NS", {"NS": ["1", "2.50"]}),
    ('{"city": "Odesa", "n": 1.10, "l": [true, null]}', "JSON",
     {"M": {"city": {"S": "Odesa"}, "n": {"N": "1.10"}, "l": {"L": [{"BOOL": True}, {"NULL": True}]}}}),
    ('{"SS": ["x"]}', "DynamoDB JSON", {"SS": ["x"]}),
    ('{"M": {"b": {"B": "aGk="}}}', "DynamoDB JSON", {"M": {"b": {"B": b"hi"}}}),
])
def test_typed_values(text, type_, wire):
    assert typed_value(text, type_) == wire


@pytest.mark.parametrize("text,type_,message", [
    ("12,5", "N", "is not a number"),
    ("NaN", "N", "is not a number"),
    ("1" * 39, "N", "beyond DynamoDB's numbers"),
    ("yes", "BOOL", "not a boolean"),
    ("", "SS", "a set cannot be empty"),
    ("a, a", "SS", "twice"),
    ("1, 1.0", "NS", "twice"),
    ("{", "JSON", "not JSON"),
    ('{"S": 1}', "DynamoDB JSON", "not a DynamoDB JSON value"),
    ("!!", "B", "not base64"),
    ("x", "float", "unknown value type"),
])
def test_values_that_cannot_be_that_type_are_one_line_errors(text, type_, message):
    with pytest.raises(InputError) as err:
        typed_value(text, type_, field="value of balance")
    assert message in str(err.value) and "value of balance" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("wire", [{"S": "a"}, {"N": "4.50"}, {"BOOL": False}, {"NULL": True}, {"B": b"\x01"},
                                  {"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}, ITEM["address"],
                                  {"L": [{"N": "1.10"}, {"M": {"x": {"NULL": True}}}]},
                                  {"M": {"s": {"SS": ["x"]}, "b": {"B": b"\x02"}}}])
def test_the_edit_box_text_of_a_value_reads_back_into_the_same_value(wire):
    type_, text = value_text(wire)
    assert typed_value(text, type_) == wire


# -- the plan ---------------------------------------------------------------------------------------
def test_the_plan_sets_removes_and_conditions_on_every_attribute_read():
    plan = plan_update("customers", ITEM, CUSTOMERS_KEY, [
        SetValue.typed("balance", "12.50"), SetValue.typed("address.city", "Odesa"),
        Remove.typed("gone"), SetValue.typed("tier", "gold")])
    request = plan.request
    names, values = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]

    def spelled(expression: str) -> str:  # placeholders replaced by what they stand for
        for placeholder in sorted(names, key=len, reverse=True):
            expression = expression.replace(placeholder, names[placeholder])
        for placeholder in sorted(values, key=len, reverse=True):
            expression = expression.replace(placeholder, json.dumps(values[placeholder], default=str))
        return expression

    assert spelled(request["UpdateExpression"]) == (
        'SET balance = {"N": "12.50"}, address.city = {"S": "Odesa"}, tier = {"S": "gold"} REMOVE gone')
    condition = spelled(request["ConditionExpression"]).split(" AND ")
    assert condition[:len(ITEM)] == [f"{n} = {json.dumps(v, default=str)}" for n, v in ITEM.items()]
    assert condition[len(ITEM):] == ["attribute_not_exists(tier)"]  # added: must still be absent
    assert request["Key"] == {"customer_id": {"S": "X1"}} and request["ReturnValues"] == "ALL_NEW"
    assert plan.after["balance"] == {"N": "12.50"} and plan.after["address"]["M"]["city"] == {"S": "Odesa"}
    assert "gone" not in plan.after and plan.after["tier"] == {"S": "gold"}
    assert ITEM["address"]["M"]["city"] == {"S": "Kyiv"}  # the read item is left as it was
    cli = plan.cli("my-role", "us-east-1")
    assert cli.startswith("aws dynamodb update-item") and "--condition-expression" in cli
    assert '"B":"AP8="' in cli  # binary as base64, as the CLI takes it
    assert json.loads(plan.request_json())["Key"] == {"customer_id": {"S": "X1"}}


@pytest.mark.parametrize("edits,message", [
    ([SetValue.typed("customer_id", "X2")], "customer_id is part of the key of table customers"),
    ([Remove.typed("customer_id")], "customer_id is part of the key"),
    ([SetValue.typed("balance", "1"), Remove.typed("balance")], "edited twice"),
    ([SetValue.typed("address", "{}", "JSON"), SetValue.typed("address.zip", "1")], "edited twice"),
    ([Remove.typed("nope")], "nothing to remove"),
    ([SetValue.typed("nope.x", "1")], "nope is not a map"),
    ([SetValue.typed("name", "Ada")], "no change to send"),
    ([], "no change to send"),
])
def test_edits_that_cannot_be_made_are_refused_before_any_call(edits, message):
    with pytest.raises(InputError) as err:
        plan_update("customers", ITEM, CUSTOMERS_KEY, edits)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_index_key_keeps_its_type():
    with pytest.raises(InputError, match="index key of type S"):
        plan_update("orders", {"customer_id": {"S": "C"}, "order_id": {"S": "O"}, "status": {"S": "NEW"}},
                    KeySchema("customer_id", "S", "order_id", "S"), [SetValue.typed("status", "7")],
                    typed_keys={"status": "S"})


def test_same_item_compares_as_dynamodb_does():
    assert same_item({"n": {"N": "4.50"}, "s": {"SS": ["a", "b"]}}, {"s": {"SS": ["b", "a"]}, "n": {"N": "4.5"}})
    assert not same_item({"n": {"N": "4.5"}}, {"n": {"S": "4.5"}})


# -- the append-only log ----------------------------------------------------------------------------
def test_the_log_only_ever_appends(tmp_path):
    path = tmp_path / "runs" / "local" / "edits.jsonl"
    assert path == edit_log_path(tmp_path / "runs", "local")
    path.parent.mkdir(parents=True)
    earlier = b'{"who": "earlier line, not even ours"}\n'
    path.write_bytes(earlier)
    log = EditLog(path)
    for n in range(3):
        fd = log.open()
        EditLog.append(fd, {"n": n, "blob": b"\x00"})
        os.close(fd)
        assert path.read_bytes().startswith(earlier)  # what was there is never rewritten
    assert path.read_bytes().count(b"\n") == 4
    assert [r.get("n") for r in log.records()] == [None, 0, 1, 2]
    flags = _open_flags(log)
    assert flags & os.O_APPEND and not flags & os.O_TRUNC


def _open_flags(log: EditLog) -> int:
    import fcntl

    fd = log.open()
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL)
    finally:
        os.close(fd)


def test_a_log_that_cannot_be_written_stops_the_edit_before_anything_is_sent(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InputError, match="nothing was sent"):
        EditLog(blocked / "edits.jsonl").open()


def test_put_plans_a_new_item_only():
    plan = plan_put("customers", {"customer_id": {"S": "N1"}, "name": {"S": "New"}}, CUSTOMERS_KEY)
    assert plan.request["ConditionExpression"] == "attribute_not_exists(#n0)"
    assert plan.request["ExpressionAttributeNames"] == {"#n0": "customer_id"}
    with pytest.raises(InputError, match="lacks its key attribute customer_id"):
        plan_put("customers", {"name": {"S": "New"}}, CUSTOMERS_KEY)
    with pytest.raises(InputError, match="is of type S, not N"):
        plan_put("customers", {"customer_id": {"N": "1"}}, CUSTOMERS_KEY)


# -- against the sandbox, as the granted role -------------------------------------------------------
@pytest.fixture(scope="module")
def granted(sandbox):
    """customers ReadWriteUpdate, payments Read; yields (role session, main admin's client)."""
    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = parse_spec({**BASE, "env": f"e{uuid4().hex[:6]}", "table_access_list": [
        {"table_name": "customers", "access_type": "ReadWriteUpdate"},
        {"table_name": "payments", "access_type": "Read"}]})
    apply(spec, yes=True, wait=False, **aws)
    role = assume_from_spec(spec, source=sandbox.session("sandbox-analyst"), wait=60)
    yield role, aws["main"].client("dynamodb")
    destroy(spec, yes=True, **aws)


@pytest.fixture
def customer(granted):
    """A customer of this test's own (put by the main account's admin), deleted afterwards."""
    _, admin = granted
    key = {"customer_id": {"S": f"EDIT-{uuid4().hex[:8]}"}}
    admin.put_item(TableName="customers", Item={**key, "name": {"S": "Ada"}, "balance": {"N": "10.50"},
                                                "address": {"M": {"city": {"S": "Kyiv"}}}, "note": {"S": "x"}})
    yield key
    admin.delete_item(TableName="customers", Key=key)


def _read(role, key):
    return RemoteTable(role, "customers").call("GetItem", Key=key)["Item"]


def test_an_edit_is_sent_as_planned_and_logged(granted, customer, tmp_path):
    role, admin = granted
    table = RemoteTable(role, "customers")
    before = table.call("GetItem", Key=customer)["Item"]
    plan = plan_update("customers", before, table.describe().key, [
        SetValue.typed("balance", "12.50"), SetValue.typed("address.city", "Odesa"), Remove.typed("note"),
        SetValue.typed("tier", "gold")])
    log = tmp_path / "edits.jsonl"
    result = send(table, plan, log=log, grant="ReadWriteUpdate")
    stored = admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)["Item"]
    assert same_item(stored, plan.after) and same_item(result.item, plan.after) and not result.unexpected
    assert stored["balance"] == {"N": "12.50"} and "note" not in stored
    (line,) = EditLog(log).records()
    assert line["outcome"] == "applied" and line["who"] == result.who
    assert ":assumed-role/" in line["who"]  # the writing session, by its ARN
    assert line["table"] == "customers" and line["key"] == customer
    assert line["before"] == before and line["after"] == result.item
    assert line["request"] == json.loads(plan.request_json())
    assert line["when"].endswith("Z") and "T" in line["when"]
    text = log.read_text()
    assert "SecretAccessKey" not in text and "SessionToken" not in text
    secret = role.get_credentials().get_frozen_credentials()
    assert secret.secret_key not in text and secret.access_key not in text


@pytest.mark.parametrize("behind_the_back", [
    {"UpdateExpression": "SET balance = :b", "ExpressionAttributeValues": {":b": {"N": "99"}}},
    {"UpdateExpression": "SET address.city = :c", "ExpressionAttributeValues": {":c": {"S": "Lviv"}}},
    {"UpdateExpression": "SET tier = :t", "ExpressionAttributeValues": {":t": {"S": "basic"}}},
    {"UpdateExpression": "REMOVE note"},
])
def test_an_item_changed_since_it_was_read_is_not_written(granted, customer, tmp_path, behind_the_back):
    role, admin = granted
    table = RemoteTable(role, "customers")
    before = table.call("GetItem", Key=customer)["Item"]
    plan = plan_update("customers", before, table.describe().key,
                       [SetValue.typed("name", "Ada L."), SetValue.typed("tier", "gold")])
    admin.update_item(TableName="customers", Key=customer, **behind_the_back)  # another writer
    changed = admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)["Item"]
    log = tmp_path / "edits.jsonl"
    with pytest.raises(ItemChanged) as err:
        send(table, plan, log=log, grant="ReadWriteUpdate")
    assert str(err.value) == "the item changed since it was read — reload it and edit again"
    assert admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)["Item"] == changed
    (line,) = EditLog(log).records()
    assert line["outcome"] == "refused" and "changed since it was read" in line["reason"]
    assert line["after"] is None and line["before"] == before


def test_an_item_deleted_since_it_was_read_is_not_recreated(granted, customer, tmp_path):
    role, admin = granted
    table = RemoteTable(role, "customers")
    before = table.call("GetItem", Key=customer)["Item"]
    plan = plan_update("customers", before, table.describe().key, [SetValue.typed("name", "Ada L.")])
    admin.delete_item(TableName="customers", Key=customer)
    with pytest.raises(ItemChanged):
        send(table, plan, log=tmp_path / "edits.jsonl")
    assert "Item" not in admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)


def test_a_read_grant_cannot_write_and_says_so_in_one_line(granted, tmp_path):
    role, admin = granted
    table = RemoteTable(role, "payments")
    key = {"payment_id": {"N": "1001"}}
    before = table.call("GetItem", Key=key)["Item"]
    plan = plan_update("payments", before, table.describe().key, [SetValue.typed("amount", "1.00")])
    log = tmp_path / "edits.jsonl"
    with pytest.raises(AccessDenied) as err:
        send(table, plan, log=log, grant="Read")
    text = str(err.value)
    assert "\n" not in text and "its grant is Read, and Read grants cannot write" in text
    assert admin.get_item(TableName="payments", Key=key)["Item"] == before
    (line,) = EditLog(log).records()
    assert line["outcome"] == "refused" and "Read grants cannot write" in line["reason"]


def test_a_key_edit_is_refused_before_any_call(granted, customer, tmp_path, monkeypatch):
    role, _ = granted
    table = RemoteTable(role, "customers")
    before, key = table.call("GetItem", Key=customer)["Item"], table.describe().key
    calls: list[str] = []
    monkeypatch.setattr(RemoteTable, "call", lambda self, op, **kw: calls.append(op))
    with pytest.raises(InputError, match="customer_id is part of the key"):
        plan = plan_update("customers", before, key, [SetValue.typed("customer_id", "C9")])
        send(table, plan, log=tmp_path / "edits.jsonl")
    assert calls == [] and not (tmp_path / "edits.jsonl").exists()


def test_a_new_item_is_put_only_where_none_exists(granted, customer, tmp_path):
    role, admin = granted
    table = RemoteTable(role, "customers")
    fresh = {"customer_id": {"S": f"EDIT-{uuid4().hex[:8]}"}, "name": {"S": "New"}}
    try:
        result = send(table, plan_put("customers", fresh, table.describe().key), log=tmp_path / "e.jsonl")
        assert admin.get_item(TableName="customers", Key={"customer_id": fresh["customer_id"]})["Item"] == fresh
        assert result.item == fresh
        existing = {**customer, "name": {"S": "would replace"}}
        with pytest.raises(ItemChanged, match="already has an item with this key"):
            send(table, plan_put("customers", existing, table.describe().key), log=tmp_path / "e.jsonl")
        assert admin.get_item(TableName="customers", Key=customer)["Item"]["name"] == {"S": "Ada"}
        assert [r["outcome"] for r in EditLog(tmp_path / "e.jsonl").records()] == ["applied", "refused"]
    finally:
        admin.delete_item(TableName="customers", Key={"customer_id": fresh["customer_id"]})


def test_the_cli_command_shown_makes_the_same_write(granted, customer, sandbox):
    """The AWS CLI form of the plan, executed against the sandbox, writes what the plan says."""
    import subprocess

    _, admin = granted
    before = admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)["Item"]
    plan = plan_update("customers", before, CUSTOMERS_KEY, [
        SetValue.typed("balance", "7.25"), SetValue.typed("tags", "x, y", "SS"), Remove.typed("note")])
    command = plan.cli("sandbox-main", "us-east-1").replace("\\\n", " ")
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    stored = admin.get_item(TableName="customers", Key=customer, ConsistentRead=True)["Item"]
    assert same_item(stored, plan.after) and stored["balance"] == {"N": "7.25"}
    again = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "ConditionalCheckFailed" in again.stderr  # the item is not as read now


def test_in_resource_policy_mode_the_analyst_edits_by_arn_with_its_own_session(sandbox, tmp_path):
    from xacct_nb.sessions import reading_session

    aws = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    spec = parse_spec({**BASE, "env": f"r{uuid4().hex[:6]}", "grant_mode": "resource_policy",
                       "table_access_list": [{"table_name": "customers", "access_type": "ReadWriteUpdate"}]})
    admin = aws["main"].client("dynamodb")
    key = {"customer_id": {"S": f"EDIT-{uuid4().hex[:8]}"}}
    admin.put_item(TableName="customers", Item={**key, "name": {"S": "Ada"}})
    try:
        apply(spec, yes=True, wait=False, **aws)
        session = reading_session(spec, source=sandbox.session("sandbox-analyst"))
        table = RemoteTable(session, spec.read_name("customers"))
        assert table.name.startswith("arn:aws:dynamodb:")  # the analyst's own account has no such table
        before = table.call("GetItem", Key=key, ConsistentRead=True)["Item"]
        plan = plan_update(table.name, before, table.describe().key, [SetValue.typed("name", "Ada L.")])
        assert plan.request["TableName"] == spec.table_arn("customers")
        log = tmp_path / "edits.jsonl"
        result = send(table, plan, log=log, grant="ReadWriteUpdate", table="customers")
        assert result.who == "arn:aws:iam::222222222222:user/analyst"  # no role: its own session
        assert admin.get_item(TableName="customers", Key=key)["Item"]["name"] == {"S": "Ada L."}
        with pytest.raises(ItemChanged):
            send(table, plan, log=log, grant="ReadWriteUpdate", table="customers")
        assert [(r["table"], r["outcome"]) for r in EditLog(log).records()] == [
            ("customers", "applied"), ("customers", "refused")]
    finally:
        admin.delete_item(TableName="customers", Key=key)
        destroy(spec, yes=True, **aws)


def test_the_plan_says_each_change_with_the_value_it_replaces():
    plan = plan_update("customers", ITEM, CUSTOMERS_KEY, [
        SetValue.typed("balance", "12"), SetValue.typed("address.city", "Odesa"), Remove.typed("gone"),
        SetValue.typed("tier", "gold")])
    assert plan.changes == ("set balance = 12 (N), was 10.50 (N)", "set address.city = Odesa (S), was Kyiv (S)",
                            "remove gone, was NULL", "set tier = gold (S), a new attribute")
