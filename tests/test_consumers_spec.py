"""The spec's `consumers:` list (issue 24): validation (one line naming the field path and the fix),
names (the first consumer's exactly as today, the others with a deterministic suffix within IAM's
limits), the per-consumer specs, and the resource-policy statements of many consumers. Pure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xacct_nb import policies
from xacct_nb.errors import SpecError
from xacct_nb.provisioning.model import Change, IamCall, Plan
from xacct_nb.spec import (
    ACCESS_LEVELS,
    CONSUMER_KEY_TAG,
    MAX_POLICY_NAME,
    MAX_ROLE_NAME,
    consumer_suffix,
    load_spec,
    parse_spec,
    role_name,
)

ROOT = Path(__file__).resolve().parents[1]
ANALYST = "arn:aws:iam::222222222222:user/analyst"
ANALYST2 = "arn:aws:iam::222222222222:user/analyst2"
OUTSIDER = "arn:aws:iam::333333333333:user/admin"
BASE: dict[str, Any] = {
    "env": "dev", "region": "us-east-1", "main_account_id": "111111111111", "main_profile": "sandbox-main",
    "table_access_list": [{"table_name": "orders", "access_type": "Read"},
                          {"table_name": "customers", "access_type": "ReadWriteUpdate"},
                          {"table_name": "payments", "access_type": "Full"}],
}
SINGLE = {**BASE, "consumer_account_id": "222222222222", "consumer_principal": ANALYST,
          "consumer_profile": "sandbox-consumer", "analyst_profile": "sandbox-analyst"}


def listed(*consumers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**BASE, "consumers": list(consumers), **extra}


FIRST = {"account_id": "222222222222", "principal": ANALYST, "consumer_profile": "sandbox-consumer",
         "analyst_profile": "sandbox-analyst"}
SECOND = {"account_id": "222222222222", "principal": ANALYST2, "analyst_profile": "sandbox-analyst2",
          "tables": {"payments": "Read", "customers": None}}


def refused(data: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    message = str(err.value)
    assert "\n" not in message and " — " in message and message.startswith(f"{err.value.field}: ")
    return err.value


# --- meaning ------------------------------------------------------------------------------------

def test_a_listed_consumer_gets_its_tables_at_its_levels_and_the_first_keeps_todays_names():
    spec = parse_spec(listed(FIRST, SECOND))
    first, second = spec.consumer_specs
    single = parse_spec(SINGLE)
    # The first consumer: today's names exactly (no churn when a single-key spec becomes a list).
    assert (first.role_name, first.consumer_policy_name, first.table_policy_name("orders")) == \
        (single.role_name, single.consumer_policy_name, single.table_policy_name("orders"))
    assert first.role_name == "dev-ddb_cross_acc_access_role-222222222222"
    assert first.table_access_list == single.table_access_list  # no tables: key → every table, its level
    # The second: a suffix from its principal, the same whatever comes after it in the list.
    suffix = "." + hashlib.sha256(ANALYST2.encode()).hexdigest()[:6]
    assert consumer_suffix(ANALYST2) == suffix
    assert second.role_name == f"dev-ddb_cross_acc_access_role-222222222222{suffix}"
    assert second.table_policy_name("payments") == f"dev-DynamoDBTableAccess-222222222222{suffix}-payments"
    assert second.consumer_policy_name == f"dev-AssumeDdbCrossAccRole-111111111111{suffix}"
    assert second.grant_policy_name == f"dev-DdbCrossAccTableAccess-111111111111{suffix}"
    assert [(t.table_name, t.access_type) for t in second.table_access_list] == \
        [("customers", "ReadWriteUpdate"), ("payments", "Read")]  # null level: the table's; the spec's order
    assert (second.consumer_principal, second.analyst_profile) == (ANALYST2, "sandbox-analyst2")
    assert second.resource_tags[CONSUMER_KEY_TAG] == f"222222222222{suffix}"
    assert CONSUMER_KEY_TAG not in single.resource_tags
    # The list's spec stands for its first consumer where code is not consumer-aware.
    assert (spec.consumer_principal, spec.role_name) == (ANALYST, first.role_name)
    # Neither name prefix of one consumer matches the other's (the planner lists policies by prefix).
    assert not second.table_policy_name("x").startswith(first.table_policy_name(""))
    assert not first.table_policy_name("x").startswith(second.table_policy_name(""))


def test_a_single_key_spec_means_exactly_what_it_meant():
    spec = parse_spec(SINGLE)
    assert spec.consumers == () and spec.consumer_specs == (spec,)
    plain = spec.to_dict()
    assert "consumers" not in plain and "name_suffix" not in plain and "listed_consumer" not in plain
    # The plan id's formula before consumers: lists existed — unchanged for a single-key spec.
    plan = Plan(spec, (Change("main", "role", spec.role_name, "create", "x",
                              (IamCall("CreateRole", {"RoleName": spec.role_name}),)),),
                observed=(("main", "abc"),))
    payload = {"spec": plain, "destroy": False,
               "changes": [[c.row(), [[call.operation, call.params] for call in c.calls]] for c in plan.changes],
               "observed": {"main": "abc"}}
    assert plan.id == hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]
    assert policies.rp_wanted_statements(spec, "orders") == policies.rp_table_statements(spec, spec.table("orders"))


def test_round_trip_and_the_local_example_file():
    spec = parse_spec(listed(FIRST, SECOND, grant_mode="resource_policy"))
    assert parse_spec(spec.to_dict()) == spec
    assert parse_spec(yaml.safe_load(yaml.safe_dump(spec.to_dict()))) == spec
    example = load_spec(ROOT / "params" / "consumers.yaml.example")
    assert len(example.consumers) == 2
    assert load_spec(ROOT / "params" / "local.yaml").consumers == ()  # local.yaml means what it meant


def test_rp_statements_one_per_consumer_under_distinct_sids_at_each_level():
    spec = parse_spec(listed(FIRST, SECOND, grant_mode="resource_policy", organization_id="o-abcdefghij"))
    orders = policies.rp_wanted_statements(spec, "orders")
    assert [s["Principal"]["AWS"] for s in orders] == [ANALYST, "*"]  # SECOND has no orders; then the org
    customers = policies.rp_wanted_statements(spec, "customers")
    assert [s["Principal"]["AWS"] for s in customers] == [ANALYST, ANALYST2, "*"]
    assert len({s["Sid"] for s in customers}) == 3
    assert all(policies.is_our_statement(spec, s) for s in customers)
    payments = {s["Principal"]["AWS"]: s for s in policies.rp_wanted_statements(spec, "payments")}
    assert payments[ANALYST2]["Action"] == sorted(policies.RP_ACTIONS["Read"])  # narrowed
    assert payments[ANALYST]["Action"] == sorted(policies.RP_ACTIONS["Full"])
    assert payments["*"]["Action"] == sorted(policies.RP_ACTIONS["Full"])  # the org: the table's level
    stream = policies.rp_wanted_statements(spec, "payments", "arn:stream", stream=True)
    assert [s["Principal"]["AWS"] for s in stream] == [ANALYST, "*"]  # Read has no stream reads


# --- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "field", "words"), [
    (listed(FIRST, SECOND, consumer_principal=ANALYST), "consumer_principal", "consumers: list"),
    (listed(FIRST, analyst_profile="x"), "analyst_profile", "single-consumer key"),
    (listed(FIRST, {**FIRST, "analyst_profile": "other"}), "consumers[1].principal", "already consumers[0]"),
    (listed(FIRST, {**SECOND, "tables": {"orderz": "Read"}}), "consumers[1].tables.orderz", "did you mean orders"),
    (listed(FIRST, {**SECOND, "tables": {"orders": "Full"}}), "consumers[1].tables.orders", "only narrow"),
    (listed(FIRST, {**SECOND, "tables": {"orders": "read"}}), "consumers[1].tables.orders", "wrong case"),
    (listed(FIRST, {**SECOND, "tables": ["orders", "orders"]}), "consumers[1].tables[1]", "twice"),
    (listed(FIRST, {**SECOND, "tables": []}), "consumers[1].tables", "empty"),
    (listed(FIRST, {**SECOND, "tables": "orders"}), "consumers[1].tables", "list of table names"),
    (listed(FIRST, {**SECOND, "account_id": 222222222222}), "consumers[1].account_id", "quote it"),
    (listed(FIRST, {**SECOND, "account_id": "111111111111"}), "consumers[1].account_id", "main_account_id"),
    (listed(FIRST, {**SECOND, "principal": OUTSIDER}), "consumers[1].principal", "333333333333"),
    (listed(FIRST, {**SECOND, "principal": "arn:aws:iam::222222222222:root"}), "consumers[1].principal",
     "not an IAM user or role ARN"),
    (listed(FIRST, {**SECOND, "trusted_principal_arns": ["arn:aws:iam::222222222222:role/*"]}),
     "consumers[1].trusted_principal_arns[0]", "whole-account"),
    (listed(FIRST, {**SECOND, "trusted_principal_arns": ["arn:aws:iam::222222222222:user/other"]}),
     "consumers[1].trusted_principal_arns", "does not include"),
    (listed(FIRST, {**SECOND, "trust_whole_account": "yes"}), "consumers[1].trust_whole_account", "true or false"),
    (listed(FIRST, {**SECOND, "principle": ANALYST2}), "consumers[1].principle", "did you mean principal"),
    (listed(FIRST, {**SECOND, "analyst_profile": "sandbox-analyst"}), "consumers[1].analyst_profile",
     "also the analyst_profile of consumers[0]"),
    (listed(FIRST, "analyst2"), "consumers[1]", "must be a mapping"),
    (listed({"principal": ANALYST}), "consumers[0].account_id", "is required"),
    (listed(), "consumers", "is empty"),
    ({**BASE, "consumers": {"a": 1}}, "consumers", "must be a list"),
    (listed(*[{**SECOND, "principal": f"arn:aws:iam::222222222222:user/u{i}", "analyst_profile": None}
              for i in range(21)]), "consumers", "at most 20"),
    (listed(FIRST, {**SECOND, "trusted_principal_arns": [ANALYST2]}, grant_mode="resource_policy"),
     "consumers[1].trusted_principal_arns", "grant_mode: role"),
    (listed(FIRST, SECOND, export={"bucket": "consumer-exports"}), "export", "not supported"),
    (listed(FIRST, SECOND, env="e" * 19), "env", "role name of consumers[1]"),
])
def test_refusals_are_one_line_naming_the_path_and_the_fix(data, field, words):
    err = refused(data)
    assert err.field == field and words in str(err), str(err)


def test_the_role_name_limit_counts_the_suffix_and_an_env_that_fits_is_accepted():
    longest = "e" * (MAX_ROLE_NAME - len(role_name("", "222222222222" + consumer_suffix(ANALYST2))))
    spec = parse_spec(listed(FIRST, SECOND, env=longest))
    assert all(len(sub.role_name) <= MAX_ROLE_NAME for sub in spec.consumer_specs)
    assert max(len(sub.role_name) for sub in spec.consumer_specs) == MAX_ROLE_NAME
    refused(listed(FIRST, SECOND, env=longest + "e"))


def test_the_policy_name_limit_counts_the_suffix():
    name = "t" * (MAX_POLICY_NAME - len("dev-DynamoDBTableAccess-222222222222-"))  # fits the first consumer
    tables = [{"table_name": name, "access_type": "Read"}]
    parse_spec({**listed(FIRST), "table_access_list": tables})
    err = refused({**listed(FIRST, {**SECOND, "tables": [name]}), "table_access_list": tables})
    assert err.field == f"consumers[1].tables.{name[:57]}..." and "IAM allows 128" in str(err)


# --- properties ---------------------------------------------------------------------------------

LEVEL = st.sampled_from([*ACCESS_LEVELS, "read", "All", None, 3])
TABLE = st.sampled_from(["orders", "customers", "payments", "payroll", "Orders", ""])
# Mostly a consistent (account, principal) pair, so that many generated lists are valid and the
# property's second half (what an accepted list means) is exercised, not only the refusals.
PAIR = st.one_of(
    st.sampled_from([("222222222222", ANALYST), ("222222222222", ANALYST2), ("333333333333", OUTSIDER),
                     ("333333333333", "arn:aws:iam::333333333333:role/p/r")]),
    st.tuples(st.sampled_from(["222222222222", "111111111111", "22", 222222222222]),
              st.sampled_from([ANALYST, OUTSIDER, "*", "arn:aws:iam::222222222222:root"])))
ENTRY = st.builds(lambda pair, rest: {"account_id": pair[0], "principal": pair[1], **rest}, PAIR, st.fixed_dictionaries(
    {},
    optional={"tables": st.one_of(st.dictionaries(TABLE, LEVEL, max_size=4), st.lists(TABLE, max_size=4),
                                  st.none(), st.integers()),
              "analyst_profile": st.sampled_from(["a", "b", "", None]),
              "consumer_profile": st.sampled_from(["c", " c", None])}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ENTRY, max_size=3))
def test_any_consumers_list_is_refused_in_one_line_or_means_no_more_than_the_spec(entries):
    try:
        spec = parse_spec(listed(*entries))
    except SpecError as err:
        message = str(err)
        assert "\n" not in message and " — " in message and len(message) < 400
        assert err.field.startswith(("consumers", "env")), message
        return
    levels = {t.table_name: ACCESS_LEVELS.index(t.access_type) for t in spec.table_access_list}
    identities = [(c.account_id, c.principal) for c in spec.consumers]
    assert len(set(identities)) == len(identities) == len(entries)
    names = set()
    for sub in spec.consumer_specs:
        assert sub.consumer_principal.split(":")[4] == sub.consumer_account_id != spec.main_account_id
        for table in sub.table_access_list:  # a subset of the spec's tables, never a wider level
            assert ACCESS_LEVELS.index(table.access_type) <= levels[table.table_name]
        names |= {sub.role_name, sub.consumer_policy_name}
        assert len(sub.role_name) <= MAX_ROLE_NAME
    assert len(names) == 2 * len(spec.consumers)  # no two consumers share a role or a consumer policy
    assert len({sub.role_name for sub in spec.consumer_specs}) == len(spec.consumers)


# --- the picture and the Terraform export cover every consumer ------------------------------------

def test_diagram_draws_every_consumer_at_its_levels_and_a_removed_one_deleted():
    from xacct_nb.diagram import diagram

    spec = parse_spec(listed(FIRST, SECOND))
    first, second = spec.consumer_specs
    rows = (Change("main", "role", first.role_name, "no-op"),
            Change("main", "role", second.role_name, "create"),
            Change("main", "role", "dev-ddb_cross_acc_access_role-222222222222.abcdef", "delete"))
    text = diagram(Plan(spec, rows))
    assert "P0([\"user/analyst · consumer 222222222222\"])" in text
    assert "P1([\"user/analyst2 · consumer 222222222222\"])" in text
    assert f'G1["role {second.role_name}"]' in text and "P1 -->|\"sts:AssumeRole\"| G1" in text
    assert 'G1 -->|"ReadWriteUpdate"| T1' in text  # customers at SECOND's level (null: the table's)
    assert 'G1 -->|"Read"| T2' in text and 'G -->|"Full"| T2' in text  # payments: narrowed / the table's
    assert "G1 -->" not in text.split("T0")[1].split("\n")[0]  # no edge of SECOND to orders
    assert not any(line.startswith("  G1 -->") and line.endswith("T0") for line in text.splitlines())
    assert "(consumer removed)" in text and "class G1 create" in text and "X0" in text.split("class ")[-1]
    rp = diagram(Plan(parse_spec(listed(FIRST, SECOND, grant_mode="resource_policy")), ()))
    assert 'P1 -->|"Read"| R2' in rp and 'P0 -->|"Full"| R2' in rp and "P1 -->" not in rp.split("R0")[1][:40]


def test_terraform_exports_every_consumer_with_stable_keys_and_providers():
    from xacct_nb.terraform import export_terraform

    other = {"account_id": "333333333333", "principal": OUTSIDER, "consumer_profile": "sandbox-outsider",
             "tables": ["orders"]}
    spec = parse_spec(listed(FIRST, SECOND, other))
    _, second, third = spec.consumer_specs
    tf = export_terraform(spec)
    roles = tf["resource"]["aws_iam_role"]
    tag2, tag3 = second.name_suffix[1:], third.name_suffix[1:]
    assert {key: role["name"] for key, role in roles.items()} == {
        "ddb_access_role": spec.role_name, f"ddb_access_role_{tag2}": second.role_name,
        f"ddb_access_role_{tag3}": third.role_name}
    attachments = tf["resource"]["aws_iam_role_policy_attachment"]
    assert attachments[f"ddb_access_policy_attachment_payments_{tag2}"] == {
        "provider": "aws.main", "role": f"${{aws_iam_role.ddb_access_role_{tag2}.name}}",
        "policy_arn": f"${{aws_iam_policy.ddb_table_policy_payments_{tag2}.arn}}"}
    assert f"ddb_access_policy_attachment_orders_{tag2}" not in attachments
    user_attachments = tf["resource"]["aws_iam_user_policy_attachment"]
    assert user_attachments[f"ddb_cross_acc_assume_attachment_{tag3}"]["provider"] == "aws.consumer_333333333333"
    assert user_attachments[f"ddb_cross_acc_assume_attachment_{tag2}"]["user"] == "analyst2"
    providers = {p["alias"]: p for p in tf["provider"]["aws"]}
    assert providers["consumer_333333333333"]["allowed_account_ids"] == ["333333333333"]
    assert providers["consumer_333333333333"]["profile"] == "sandbox-outsider"
    assert set(export_terraform(spec, "main")["provider"]["aws"][0]) >= {"alias"}
    assert [p["alias"] for p in export_terraform(spec, "main")["provider"]["aws"]] == ["main"]
    rp = export_terraform(parse_spec(listed(FIRST, SECOND, grant_mode="resource_policy")))
    document = json.loads(rp["resource"]["aws_dynamodb_resource_policy"]["ddb_resource_policy_customers"]["policy"])
    assert [s["Principal"]["AWS"] for s in document["Statement"]] == [ANALYST, ANALYST2]
    assert set(rp["resource"]["aws_iam_policy"]) == {"ddb_cross_acc_table_access_policy",
                                                     f"ddb_cross_acc_table_access_policy_{tag2}"}


def test_terraform_of_a_single_key_spec_is_unchanged():
    from xacct_nb.terraform import export_terraform

    for mode in ("role", "resource_policy"):
        single = parse_spec({**SINGLE, "grant_mode": mode})
        as_list = parse_spec(listed(FIRST, grant_mode=mode))
        one, other = export_terraform(single), export_terraform(as_list)
        # the same blocks; only the listed consumer's tag marks it as one of a list
        assert json.dumps(one).replace('"consumer-account": "222222222222"}', "") == json.dumps(other).replace(
            f'"consumer-account": "222222222222", "{CONSUMER_KEY_TAG}": "222222222222"}}', "")


def test_hostile_yaml_in_a_consumers_list(tmp_path):
    path = tmp_path / "p.yaml"
    base = yaml.safe_dump(BASE)
    # a duplicated key inside an entry: refused (safe_load would keep the last silently)
    path.write_text(base + "consumers:\n  - account_id: '222222222222'\n    principal: " + ANALYST
                    + "\n    principal: " + ANALYST2 + "\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "principal" in str(err.value) and "\n" not in str(err.value)
    # an alias repeating an entry: the same principal twice, refused
    path.write_text(base + "consumers:\n  - &one {account_id: '222222222222', principal: " + ANALYST
                    + "}\n  - *one\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.field == "consumers[1].principal"
    # a YAML 1.1 boolean, a number, a nested list where a level goes
    for tables, field in [("{orders: yes}", "consumers[0].tables.orders"),
                          ("{orders: [Read]}", "consumers[0].tables.orders"),
                          ("{12: Read}", "consumers[0].tables.12")]:
        path.write_text(base + "consumers:\n  - {account_id: '222222222222', principal: " + ANALYST
                        + ", tables: " + tables + "}\n")
        with pytest.raises(SpecError) as err:
            load_spec(path)
        assert err.value.field == field, str(err.value)


def test_a_listed_consumers_plan_rows_name_their_account():
    spec = parse_spec(listed(FIRST, SECOND))
    row = Change("consumer", "policy", spec.consumer_specs[1].consumer_policy_name, "create", account="222222222222")
    assert row.row()["side"] == "consumer 222222222222"
    assert Change("consumer", "policy", "p", "create").row()["side"] == "consumer"  # single consumer: as before
    # the account is part of what the plan id confirms
    assert Plan(spec, (row,)).id != Plan(spec, (dataclasses.replace(row, account="333333333333"),)).id
