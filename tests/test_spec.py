"""Access-spec validation and naming conventions (pure: no sandbox, no network)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CONSUMER, MAIN
from xacct_nb.errors import SpecError
from xacct_nb.spec import (
    ACCESS_LEVELS,
    FIELDS,
    REQUIRED,
    AccessSpec,
    TableAccess,
    consumer_policy_name,
    load_spec,
    parse_spec,
    role_name,
    table_arn,
    table_policy_name,
)

ROOT = Path(__file__).resolve().parents[1]
VALID: dict[str, Any] = {
    "env": "local",
    "region": "us-east-1",
    "main_account_id": MAIN,
    "consumer_account_id": CONSUMER,
    "main_profile": "sandbox-main",
    "consumer_profile": "sandbox-consumer",
    "analyst_profile": "sandbox-analyst",
    "consumer_principal": f"arn:aws:iam::{CONSUMER}:user/analyst",
    "table_access_list": [
        {"table_name": "orders", "access_type": "Read"},
        {"table_name": "customers", "access_type": "ReadWriteUpdate"},
    ],
}
DROP = object()  # marks a key to delete in `variant`


def variant(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def table(name: Any = "orders", access: Any = "Read") -> dict[str, Any]:
    return {"table_name": name, "access_type": access}


def spec_error(data: Any, overrides: Any = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(data, overrides)
    return info.value


# ---------------------------------------------------------------------------------------------
# Every rule: (bad input, the field the error must name)

BAD = [
    # top level
    ("top-none", None, "params"),
    ("top-list", [VALID], "params"),
    ("top-string", "env: local", "params"),
    ("top-int", 5, "params"),
    ("unknown-key", variant(envv="x"), "envv"),
    ("unknown-nonstr-key", {**VALID, 1: "x"}, "1"),
    ("unknown-null-key", {**VALID, None: "x"}, "None"),
    # accounts
    ("main-int", variant(main_account_id=111111111111), "main_account_id"),
    ("main-11-digits", variant(main_account_id="11111111111"), "main_account_id"),
    ("main-13-digits", variant(main_account_id="1111111111111"), "main_account_id"),
    ("main-letter", variant(main_account_id="11111111111a"), "main_account_id"),
    ("main-newline", variant(main_account_id=MAIN + "\n"), "main_account_id"),
    ("main-unicode-digits", variant(main_account_id="١" * 12), "main_account_id"),
    ("main-bool", variant(main_account_id=True), "main_account_id"),
    ("main-list", variant(main_account_id=[MAIN]), "main_account_id"),
    ("consumer-int", variant(consumer_account_id=222222222222), "consumer_account_id"),
    ("consumer-short", variant(consumer_account_id="2222"), "consumer_account_id"),
    ("same-accounts", variant(consumer_account_id=MAIN, consumer_principal=f"arn:aws:iam::{MAIN}:user/a"),
     "consumer_account_id"),
    # env
    ("env-empty", variant(env=""), "env"),
    ("env-leading-dash", variant(env="-dev"), "env"),
    ("env-space", variant(env="dev env"), "env"),
    ("env-dot", variant(env="dev.1"), "env"),
    ("env-33", variant(env="a" * 33), "env"),
    ("env-role-name-too-long", variant(env="a" * 26), "env"),
    ("env-int", variant(env=123), "env"),
    ("env-dict", variant(env={"a": 1}), "env"),
    # region
    ("region-upper", variant(region="US-EAST-1"), "region"),
    ("region-no-dash", variant(region="useast1"), "region"),
    ("region-az", variant(region="us-east-1a"), "region"),
    ("region-china", variant(region="cn-north-1"), "region"),
    ("region-govcloud", variant(region="us-gov-west-1"), "region"),
    ("region-int", variant(region=1), "region"),
    # table_access_list
    ("tables-dict", variant(table_access_list={"orders": "Read"}), "table_access_list"),
    ("tables-string", variant(table_access_list="orders"), "table_access_list"),
    ("tables-empty", variant(table_access_list=[]), "table_access_list"),
    ("tables-11", variant(table_access_list=[table(f"t{i:03d}") for i in range(11)]), "table_access_list"),
    ("entry-null", variant(table_access_list=[table(), None]), "table_access_list[1]"),
    ("entry-string", variant(table_access_list=["orders"]), "table_access_list[0]"),
    ("entry-list", variant(table_access_list=[["orders", "Read"]]), "table_access_list[0]"),
    ("entry-no-access", variant(table_access_list=[{"table_name": "orders"}]), "table_access_list[0].access_type"),
    ("entry-no-name", variant(table_access_list=[{"access_type": "Read"}]), "table_access_list[0].table_name"),
    ("entry-null-name", variant(table_access_list=[table(None)]), "table_access_list[0].table_name"),
    ("entry-extra-key", variant(table_access_list=[{**table(), "acces_type": "Full"}]),
     "table_access_list[0].acces_type"),
    ("name-2-chars", variant(table_access_list=[table("ab")]), "table_access_list[0].table_name"),
    ("name-256-chars", variant(table_access_list=[table("a" * 256)]), "table_access_list[0].table_name"),
    ("name-space", variant(table_access_list=[table("my table")]), "table_access_list[0].table_name"),
    ("name-slash", variant(table_access_list=[table("a/b/c")]), "table_access_list[0].table_name"),
    ("name-int", variant(table_access_list=[table(123)]), "table_access_list[0].table_name"),
    ("name-policy-too-long", variant(table_access_list=[table(), table("t" * 90)]), "table_access_list[1].table_name"),
    ("access-lower", variant(table_access_list=[table(), table("b1b", "read")]), "table_access_list[1].access_type"),
    ("access-unknown", variant(table_access_list=[table(access="Write")]), "table_access_list[0].access_type"),
    ("access-int", variant(table_access_list=[table(access=1)]), "table_access_list[0].access_type"),
    ("access-list", variant(table_access_list=[table(access=["Read"])]), "table_access_list[0].access_type"),
    ("duplicate", variant(table_access_list=[table(), table("x12"), table("orders", "Full")]),
     "table_access_list[2].table_name"),
    ("duplicate-case", variant(table_access_list=[table("orders"), table("Orders")]),
     "table_access_list[1].table_name"),
    # max_session_duration
    ("duration-bool", variant(max_session_duration=True), "max_session_duration"),
    ("duration-low", variant(max_session_duration=3599), "max_session_duration"),
    ("duration-high", variant(max_session_duration=43201), "max_session_duration"),
    ("duration-string", variant(max_session_duration="3600"), "max_session_duration"),
    ("duration-float", variant(max_session_duration=3600.0), "max_session_duration"),
    # consumer_principal
    ("principal-other-account", variant(consumer_principal=f"arn:aws:iam::{MAIN}:user/analyst"), "consumer_principal"),
    ("principal-group", variant(consumer_principal=f"arn:aws:iam::{CONSUMER}:group/analysts"), "consumer_principal"),
    ("principal-root", variant(consumer_principal=f"arn:aws:iam::{CONSUMER}:root"), "consumer_principal"),
    ("principal-session", variant(consumer_principal=f"arn:aws:sts::{CONSUMER}:assumed-role/r/s"),
     "consumer_principal"),
    ("principal-no-name", variant(consumer_principal=f"arn:aws:iam::{CONSUMER}:user/"), "consumer_principal"),
    ("principal-bare-name", variant(consumer_principal="analyst"), "consumer_principal"),
    ("principal-china", variant(consumer_principal=f"arn:aws-cn:iam::{CONSUMER}:user/a"), "consumer_principal"),
    # trusted_principal_arns
    ("trusted-string", variant(trusted_principal_arns=f"arn:aws:iam::{CONSUMER}:user/analyst"),
     "trusted_principal_arns"),
    ("trusted-int", variant(trusted_principal_arns=[5]), "trusted_principal_arns[0]"),
    ("trusted-not-arn", variant(trusted_principal_arns=[VALID["consumer_principal"], "analyst"]),
     "trusted_principal_arns[1]"),
    ("trusted-other-account", variant(trusted_principal_arns=[f"arn:aws:iam::{MAIN}:user/analyst"]),
     "trusted_principal_arns[0]"),
    ("trusted-duplicate", variant(trusted_principal_arns=[VALID["consumer_principal"]] * 2),
     "trusted_principal_arns[1]"),
    ("trusted-too-many", variant(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/u{i}" for i in range(21)]),
     "trusted_principal_arns"),
    ("trusted-excludes-principal", variant(trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:role/ci-*"]),
     "trusted_principal_arns"),
    # external_id
    ("external-id-short", variant(external_id="x"), "external_id"),
    ("external-id-long", variant(external_id="x" * 1225), "external_id"),
    ("external-id-space", variant(external_id="has space"), "external_id"),
    ("external-id-int", variant(external_id=12345), "external_id"),
    # permissions_boundary_arn
    ("boundary-role", variant(permissions_boundary_arn=f"arn:aws:iam::{MAIN}:role/x"), "permissions_boundary_arn"),
    ("boundary-other-account", variant(permissions_boundary_arn=f"arn:aws:iam::{CONSUMER}:policy/b"),
     "permissions_boundary_arn"),
    ("boundary-int", variant(permissions_boundary_arn=1), "permissions_boundary_arn"),
    # tags
    ("tags-list", variant(tags=["a"]), "tags"),
    ("tags-value-int", variant(tags={"team": 1}), "tags.team"),
    ("tags-key-int", variant(tags={1: "a"}), "tags.1"),
    ("tags-key-empty", variant(tags={"": "a"}), "tags.''"),
    ("unknown-empty-key", {**VALID, "": "x"}, "''"),
    ("tags-key-129", variant(tags={"k" * 129: "v"}), "tags." + "k" * 57 + "..."),
    ("tags-value-257", variant(tags={"team": "v" * 257}), "tags.team"),
    ("tags-value-newline", variant(tags={"team": "a\nb"}), "tags.team"),
    ("tags-reserved", variant(tags={"managed-by": "me"}), "tags.managed-by"),
    ("tags-aws-prefix", variant(tags={"aws:owner": "me"}), "tags.aws:owner"),
    ("tags-41", variant(tags={f"k{i}": "v" for i in range(41)}), "tags"),
    # profiles
    ("main-profile-empty", variant(main_profile=""), "main_profile"),
    ("consumer-profile-padded", variant(consumer_profile=" sandbox-consumer"), "consumer_profile"),
    ("analyst-profile-int", variant(analyst_profile=5), "analyst_profile"),
    ("outsider-profile-list", variant(outsider_profile=["x"]), "outsider_profile"),
    # session_name
    ("session-name-short", variant(session_name="x"), "session_name"),
    ("session-name-space", variant(session_name="my session"), "session_name"),
    ("session-name-int", variant(session_name=42), "session_name"),
]


@pytest.mark.parametrize("data, field", [pytest.param(d, f, id=i) for i, d, f in BAD])
def test_each_rule_raises_one_line_spec_error_naming_the_field(data: Any, field: str) -> None:
    err = spec_error(data)
    message = str(err)
    assert err.field == field
    assert message.startswith(f"{field}: ")
    assert "\n" not in message and "—" in message  # one line, and it says how to fix it
    assert len(message) < 450  # the unknown-key line lists every accepted key, and keys get added


@pytest.mark.parametrize("key", REQUIRED)
@pytest.mark.parametrize("how", ["missing", "null"])
def test_required_keys(key: str, how: str) -> None:
    err = spec_error(variant(**{key: DROP if how == "missing" else None}))
    assert err.field == key
    assert "is required" in str(err)


def test_unknown_key_suggests_the_closest_or_lists_accepted() -> None:
    message = str(spec_error(variant(consumer_principle="x")))
    assert message.endswith("did you mean consumer_principal?")  # the list would make it long
    unlike = str(spec_error(variant(zzz="x")))
    assert all(name in unlike for name in FIELDS) and len(unlike) < 450


def test_unknown_table_entry_key_suggests_access_type() -> None:
    message = str(spec_error(variant(table_access_list=[{**table(), "acces_type": "Full"}])))
    assert "did you mean access_type?" in message


def test_int_account_id_says_quote_it() -> None:
    assert "quote it" in str(spec_error(variant(main_account_id=12345678901)))


@pytest.mark.parametrize("typed, right", [("read", "Read"), ("readwriteupdate", "ReadWriteUpdate"), ("FULL", "Full")])
def test_access_type_case_mistake_suggests_spelling(typed: str, right: str) -> None:
    assert f"write {right} " in str(spec_error(variant(table_access_list=[table(access=typed)])))


def test_access_type_error_lists_valid_levels() -> None:
    message = str(spec_error(variant(table_access_list=[table(access="Write")])))
    assert all(level in message for level in ACCESS_LEVELS)


def test_external_id_is_never_echoed() -> None:
    secret = "s3cr3t value"
    assert secret not in str(spec_error(variant(external_id=secret)))


def test_huge_table_list_is_rejected_without_being_processed() -> None:
    huge = [object()] * 1_000_000  # entries that would fail if they were looked at
    start = time.perf_counter()
    err = spec_error(variant(table_access_list=huge))
    assert err.field == "table_access_list" and "1000000 entries" in str(err)
    assert time.perf_counter() - start < 0.5


def test_huge_values_keep_the_message_short() -> None:
    assert len(str(spec_error(variant(region="x" * 100_000)))) < 300
    assert len(str(spec_error(variant(**{"k" * 100_000: 1})))) < 600


def test_recursive_yaml_structure_is_a_spec_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert spec_error(variant(table_access_list=loop)).field == "table_access_list[0]"


# ---------------------------------------------------------------------------------------------
# Accepted inputs and boundaries

def test_parses_the_valid_spec() -> None:
    spec = parse_spec(VALID)
    assert spec.table_access_list == (TableAccess("orders", "Read"), TableAccess("customers", "ReadWriteUpdate"))
    assert spec.max_session_duration == 3600 and spec.external_id is None and spec.tags == {}
    assert spec.trusted_principal_arns == () and spec.outsider_profile is None and spec.session_name == "xacct-nb"


def test_env_boundary_for_the_64_char_role_name() -> None:
    assert len(parse_spec(variant(env="a" * 25)).role_name) == 64
    assert "64" in str(spec_error(variant(env="a" * 26)))


def test_table_name_boundary_for_the_128_char_policy_name() -> None:
    room = 128 - len(table_policy_name("local", CONSUMER, ""))
    spec = parse_spec(variant(table_access_list=[table("t" * room)]))
    assert len(spec.table_policy_name(spec.table_names[0])) == 128
    err = spec_error(variant(table_access_list=[table("t" * (room + 1))]))
    assert f"at most {room}" in str(err)


def test_exactly_10_tables_and_3_char_names_are_accepted() -> None:
    # 10 = IAM's default quota of managed policies per role (one policy per table)
    assert len(parse_spec(variant(table_access_list=[table(f"t{i:02d}") for i in range(10)])).table_names) == 10
    with pytest.raises(SpecError, match="at most 10 managed policies"):
        parse_spec(variant(table_access_list=[table(f"t{i:02d}") for i in range(11)]))


@pytest.mark.parametrize("changes", [
    {"max_session_duration": 43200},
    {"max_session_duration": 3600},
    {"region": "ap-southeast-2"},
    {"env": "Dev_2-x"},
    {"consumer_principal": f"arn:aws:iam::{CONSUMER}:role/team/data/Analyst.Role"},
    {"trusted_principal_arns": [f"arn:aws:iam::{CONSUMER}:user/ana*"]},
    {"trusted_principal_arns": [f"arn:aws:iam::{CONSUMER}:user/analys?", f"arn:aws:iam::{CONSUMER}:role/ci"]},
    {"trusted_principal_arns": []},
    {"external_id": "ab"},
    {"external_id": "a" * 1224},
    {"permissions_boundary_arn": "arn:aws:iam::aws:policy/PowerUserAccess"},
    {"permissions_boundary_arn": f"arn:aws:iam::{MAIN}:policy/boundaries/Dev"},
    {"tags": {"team": "data", "cost center": "12/34", "empty": ""}},
    {"tags": None, "external_id": None, "trusted_principal_arns": None, "max_session_duration": None},
    {"main_profile": None, "consumer_profile": DROP, "analyst_profile": None},
    {"table_access_list": [table("a.b-c_D", "Full")]},
])
def test_valid_variants(changes: dict[str, Any]) -> None:
    assert isinstance(parse_spec(variant(**changes)), AccessSpec)


# ---------------------------------------------------------------------------------------------
# Naming conventions (the reference's, exactly)

def test_module_naming_functions_match_the_reference() -> None:
    assert role_name("dev", "123456789012") == "dev-ddb_cross_acc_access_role-123456789012"
    assert table_policy_name("dev", "123456789012", "my-table-1") == "dev-DynamoDBTableAccess-123456789012-my-table-1"
    assert consumer_policy_name("dev", "210987654321") == "dev-AssumeDdbCrossAccRole-210987654321"
    assert table_arn("eu-west-1", "210987654321", "t1") == "arn:aws:dynamodb:eu-west-1:210987654321:table/t1"


def test_spec_names_and_arns() -> None:
    spec = parse_spec(VALID)
    assert spec.role_name == f"local-ddb_cross_acc_access_role-{CONSUMER}"
    assert spec.role_arn == f"arn:aws:iam::{MAIN}:role/local-ddb_cross_acc_access_role-{CONSUMER}"
    assert spec.consumer_policy_name == f"local-AssumeDdbCrossAccRole-{MAIN}"
    assert spec.consumer_policy_arn == f"arn:aws:iam::{CONSUMER}:policy/local-AssumeDdbCrossAccRole-{MAIN}"
    assert spec.table_policy_name("orders") == f"local-DynamoDBTableAccess-{CONSUMER}-orders"
    assert spec.table_policy_arn("orders") == f"arn:aws:iam::{MAIN}:policy/local-DynamoDBTableAccess-{CONSUMER}-orders"
    assert spec.table_arn("orders") == f"arn:aws:dynamodb:us-east-1:{MAIN}:table/orders"
    assert spec.role_description == f"Role that provides access to DynamoDB tables for account {CONSUMER} on local env"


@pytest.mark.parametrize("arn, kind, name", [
    (f"arn:aws:iam::{CONSUMER}:user/analyst", "user", "analyst"),
    (f"arn:aws:iam::{CONSUMER}:role/Analyst", "role", "Analyst"),
    (f"arn:aws:iam::{CONSUMER}:role/team/data/Analyst", "role", "Analyst"),
    (f"arn:aws:iam::{CONSUMER}:user/people/a.b@example.com", "user", "a.b@example.com"),
])
def test_principal_kind_and_name(arn: str, kind: str, name: str) -> None:
    spec = parse_spec(variant(consumer_principal=arn))
    assert (spec.principal_kind, spec.principal_name) == (kind, name)


def test_resource_tags_ours_cannot_be_overridden() -> None:
    spec = parse_spec(variant(tags={"team": "data"}))
    assert spec.resource_tags == {"team": "data", "managed-by": "xacct-nb", "env": "local",
                                  "consumer-account": CONSUMER}
    # Even a spec built without parse_spec keeps our values.
    forged = dataclasses.replace(spec, tags={"env": "prod", "managed-by": "someone"})
    assert forged.resource_tags["env"] == "local" and forged.resource_tags["managed-by"] == "xacct-nb"


def test_table_lookup() -> None:
    spec = parse_spec(VALID)
    assert spec.table_names == ("orders", "customers")
    assert spec.table("customers") == TableAccess("customers", "ReadWriteUpdate")
    err = pytest.raises(SpecError, spec.table, "nope").value
    assert err.field == "table_access_list" and "orders" in str(err)


def test_spec_is_immutable_hashable_and_copyable() -> None:
    spec = parse_spec(variant(tags={"team": "data"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.env = "prod"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.tags["team"] = "x"  # type: ignore[index]
    assert hash(spec) == hash(parse_spec(spec.to_dict()))
    assert copy.deepcopy(spec) == spec and pickle.loads(pickle.dumps(spec)) == spec
    assert dataclasses.asdict(spec)["env"] == "local"


def test_constructor_copies_tags() -> None:
    tags = {"team": "data"}
    spec = dataclasses.replace(parse_spec(VALID), tags=tags)
    tags["team"] = "changed"
    assert spec.tags["team"] == "data"


# ---------------------------------------------------------------------------------------------
# to_dict round trip, overrides, files

FULL = variant(
    external_id="ext-123", max_session_duration=7200,
    permissions_boundary_arn="arn:aws:iam::aws:policy/PowerUserAccess",
    trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/analyst", f"arn:aws:iam::{CONSUMER}:role/ci-*"],
    tags={"team": "data"}, outsider_profile="sandbox-outsider", session_name="nb-session",
)


@pytest.mark.parametrize("data", [VALID, FULL], ids=["minimal", "full"])
def test_to_dict_round_trips(data: dict[str, Any]) -> None:
    spec = parse_spec(data)
    plain = spec.to_dict()
    # Without a consumers: list, exactly the keys it always had (the plan id hashes them).
    assert set(plain) == set(FIELDS) - {"consumers"}
    assert parse_spec(plain) == spec
    assert parse_spec(yaml.safe_load(yaml.safe_dump(plain))) == spec
    assert parse_spec(json.loads(json.dumps(plain))) == spec


def test_overrides_replace_top_level_keys_and_coerce_ints() -> None:
    spec = parse_spec(VALID, {"env": "dev", "max_session_duration": "7200", "external_id": "from-cli"})
    assert spec.role_name == f"dev-ddb_cross_acc_access_role-{CONSUMER}"
    assert spec.max_session_duration == 7200 and spec.external_id == "from-cli"


def test_trust_options_default_to_the_consumer_principal_only() -> None:
    spec = parse_spec(VALID)
    assert not spec.trust_whole_consumer_account and not spec.require_source_identity
    assert spec.trusted_principals == (VALID["consumer_principal"],)
    listed = parse_spec(variant(trusted_principal_arns=[VALID["consumer_principal"]]))
    assert listed.trusted_principals == (VALID["consumer_principal"],)
    assert parse_spec(variant(trust_whole_consumer_account=True)).trusted_principals == ()


def test_whole_account_trust_contradicts_a_principal_list() -> None:
    err = spec_error(variant(trust_whole_consumer_account=True, trusted_principal_arns=[VALID["consumer_principal"]]))
    assert err.field == "trust_whole_consumer_account" and "\n" not in str(err)


@pytest.mark.parametrize("key", ["trust_whole_consumer_account", "require_source_identity"])
def test_flags_take_booleans_and_cli_words(key: str) -> None:
    assert getattr(parse_spec(VALID, {key: "true"}), key) is True
    assert getattr(parse_spec(VALID, {key: "False"}), key) is False
    assert getattr(parse_spec(variant(**{key: True})), key) is True
    for bad in ("yes please", 1, "1"):
        err = spec_error(variant(**{key: bad}))
        assert err.field == key and "true or false" in str(err)


@pytest.mark.parametrize("overrides, field", [
    ({"max_session_duration": "abc"}, "max_session_duration"),
    ({"max_session_duration": "7_200"}, "max_session_duration"),
    ({"max_session_duration": "9" * 5000}, "max_session_duration"),
    ({"bogus": "1"}, "bogus"),
    ({"main_account_id": 111111111111}, "main_account_id"),
    (["env=dev"], "overrides"),
])
def test_bad_overrides(overrides: Any, field: str) -> None:
    assert spec_error(VALID, overrides).field == field


def test_load_spec_reads_the_shipped_params() -> None:
    local = load_spec(ROOT / "params" / "local.yaml")
    assert (local.env, local.region, local.main_account_id, local.consumer_account_id) == \
        ("local", "us-east-1", MAIN, CONSUMER)
    assert (local.main_profile, local.consumer_profile, local.analyst_profile, local.outsider_profile) == \
        ("sandbox-main", "sandbox-consumer", "sandbox-analyst", "sandbox-outsider")
    assert local.consumer_principal == f"arn:aws:iam::{CONSUMER}:user/analyst"
    assert local.table_access_list == (TableAccess("orders", "Read"), TableAccess("customers", "ReadWriteUpdate"),
                                       TableAccess("payments", "Read"), TableAccess("ledger", "Read"))
    dev = load_spec(ROOT / "params" / "dev.yaml.example")
    assert dev.external_id and dev.trusted_principal_arns and dev.tags


@pytest.mark.parametrize("content", [
    "env: [unclosed\n",
    "env: local\n  region: x\n bad: indent\n",
    "a: !!python/object:os.system ls\n",
    "? [a, b]\n: c\n",
])
def test_load_spec_invalid_yaml_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    err = pytest.raises(SpecError, load_spec, path).value
    assert err.field == str(path) and "not valid YAML" in str(err) and "\n" not in str(err)


LOCAL_YAML = (ROOT / "params" / "local.yaml").read_text()

# A duplicated key anywhere is refused (PyYAML's safe_load keeps the last one silently): the
# params text, the dotted path of the key, the line and column of the second occurrence.
DUPLICATES = [
    ("access-type", LOCAL_YAML.replace("    access_type: Read\n", "    access_type: Read\n    access_type: Full\n"),
     "table_access_list[0].access_type", "line 27, column 5; first at line 26, column 5"),
    ("principal", LOCAL_YAML + "consumer_principal: arn:aws:iam::222222222222:user/admin\n",
     "consumer_principal", "first at line 22, column 1"),
    ("env", "env: local\n" + LOCAL_YAML, "env", "line 7, column 1; first at line 1, column 1"),
    ("flow-mapping", "{env: a, region: us-east-1, env: b}\n", "env", "line 1, column 29"),
    ("nested-tags", "tags:\n  team: a\n  team: b\n", "tags.team", "line 3, column 3"),
    ("equal-once-loaded", "tags:\n  1: a\n  1.0: b\n", "tags.1.0", "line 3, column 3"),
    ("quoted-vs-plain", "env: a\n'env': b\n", "env", "line 2, column 1"),
    ("in-export", "export:\n  bucket: a-bucket\n  prefix: x\n  prefix: '*'\n", "export.prefix", "line 4"),
]


@pytest.mark.parametrize(("text", "path", "where"), [d[1:] for d in DUPLICATES], ids=[d[0] for d in DUPLICATES])
def test_duplicate_keys_are_refused_with_line_and_column(tmp_path: Path, text: str, path: str, where: str) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text(text)
    err = pytest.raises(SpecError, load_spec, file).value
    message = str(err)
    assert err.field == path and "\n" not in message
    assert "is given twice" in message and where in message and str(file) in message
    assert "keep one" in message  # the fix


def test_merge_keys_are_refused_and_plain_anchors_still_work(tmp_path: Path) -> None:
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {access_type: Full}\ntable_access_list:\n  - <<: *b\n    access_type: Read\n")
    err = pytest.raises(SpecError, load_spec, merged).value
    assert err.field == "table_access_list[0].<<" and "merge keys" in str(err) and "line 3, column 5" in str(err)
    anchored = tmp_path / "anchored.yaml"
    anchored.write_text(LOCAL_YAML.replace("region: us-east-1", "region: &r us-east-1")
                        + "tags: {region: *r}\n")
    assert load_spec(anchored).tags == {"region": "us-east-1"}


def test_load_spec_unreadable_files_name_the_file(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"env: \xff\xfe\n")
    for path in (tmp_path / "missing.yaml", tmp_path, binary):
        err = pytest.raises(SpecError, load_spec, path).value
        assert err.field == str(path) and "cannot read" in str(err)


def test_load_spec_empty_file_and_overrides(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert pytest.raises(SpecError, load_spec, empty).value.field == "params"
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(VALID))
    assert load_spec(good, {"env": "qa"}).env == "qa"


# ---------------------------------------------------------------------------------------------
# Property: any input whatsoever gives an AccessSpec or a SpecError, never another exception

scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["Read", "Full", MAIN, CONSUMER, VALID["consumer_principal"], "orders"]))
keys = st.sampled_from([*FIELDS, "table_name", "access_type"]) | st.text(max_size=10) | st.integers() | st.none()
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                         max_leaves=10)


def check_total(data: Any, overrides: Any = None) -> None:
    try:
        assert isinstance(parse_spec(data, overrides), AccessSpec)
    except SpecError as err:
        assert "\n" not in str(err) and err.field


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_like)
def test_property_random_values(data: Any) -> None:
    check_total(data)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_like, max_size=len(FIELDS)))
def test_property_random_mutations_of_a_valid_spec(changes: dict[str, Any]) -> None:
    check_total(variant(**changes))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1), st.sampled_from(["table_name", "access_type", "extra"]), json_like | st.just(DROP))
def test_property_random_table_entries(index: int, key: str, value: Any) -> None:
    data = variant()
    entry = data["table_access_list"][index]
    if value is DROP:
        entry.pop(key, None)
    else:
        entry[key] = value
    check_total(data)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, json_like, max_size=3) | json_like)
def test_property_random_overrides(overrides: Any) -> None:
    check_total(VALID, overrides)


# ---------------------------------------------------------------------------------------------
# Trust patterns that stand for the whole consumer account (or every principal of a kind under
# any path) are refused: (pattern after arn:aws:iam::CONSUMER:, what the error says it admits).

WHOLE_ACCOUNT_PATTERNS = [
    ("user/*", "every user"), ("role/*", "every role"), ("role/**", "every role"),
    ("user/?*", "every user"), ("user/*?", "every user"), ("role/*?*", "every role"),
    ("role/*/*", "every role with a path"), ("role/?*/*", "every role with a path"),
    ("role/*/?*", "every role with a path"), ("user/*/*", "every user with a path"),
    ("role/*/**", "every role with a path"),
    ("role/*/*/*", "every role with a path of 2 or more levels"),
]
# ...and these ARNs do not even name a user or role: the account itself or any principal type.
WHOLE_ACCOUNT_ARNS = ["*", f"arn:aws:iam::{CONSUMER}:root", f"arn:aws:iam::{CONSUMER}:*",
                      f"arn:aws:iam::{CONSUMER}:user*", f"arn:aws:iam::{CONSUMER}:role*/x"]
# Patterns narrowed by some text of the principals' own: accepted (the plan lists their matches).
NARROW_PATTERNS = ["user/analyst", "user/a*", "user/ana*", "user/analys?", "user/?nalyst",
                   "role/analysts/*", "role/aws-reserved/*", "role/*/x/*", "user/*t", "role/*-*",
                   "user/*@*", "role/?", "role/??*/x", "role/team-?", "user/data/*/analyst"]


def _trust(pattern: str) -> dict[str, Any]:
    arn = f"arn:aws:iam::{CONSUMER}:{pattern}"
    return variant(trusted_principal_arns=list(dict.fromkeys([arn, VALID["consumer_principal"]])))


@pytest.mark.parametrize(("pattern", "admits"), WHOLE_ACCOUNT_PATTERNS)
def test_trust_patterns_admitting_every_principal_of_a_kind_are_refused(pattern: str, admits: str) -> None:
    err = spec_error(_trust(pattern))
    assert err.field == "trusted_principal_arns[0]" and "\n" not in str(err)
    assert f"admits {admits} of account {CONSUMER}" in str(err)
    assert "trust_whole_consumer_account: true" in str(err)  # the fix, when it is meant


@pytest.mark.parametrize("arn", WHOLE_ACCOUNT_ARNS)
def test_arns_for_the_whole_account_are_refused_as_such(arn: str) -> None:
    err = spec_error(variant(trusted_principal_arns=[arn]))
    assert err.field == "trusted_principal_arns[0]"
    assert "stands for the whole account" in str(err) and "trust_whole_consumer_account: true" in str(err)


@pytest.mark.parametrize("pattern", NARROW_PATTERNS)
def test_narrow_trust_patterns_are_accepted(pattern: str) -> None:
    assert f"arn:aws:iam::{CONSUMER}:{pattern}" in parse_spec(_trust(pattern)).trusted_principal_arns


def test_whole_account_trust_is_still_possible_when_asked_for() -> None:
    spec = parse_spec(variant(trust_whole_consumer_account=True))
    assert spec.trusted_principals == ()
    assert spec_error(variant(trust_whole_consumer_account=True,
                              trusted_principal_arns=[f"arn:aws:iam::{CONSUMER}:user/*"])).field \
        == "trusted_principal_arns[0]"


# The decision is exact, not by examples: check it against brute force over short principals
# built from the patterns' own characters and stand-ins for every other character.
_SAMPLE_CHARS = ["a", "b", "/", "%"]  # a name char, another, the separator, a path-only char


@functools.cache
def _principals(max_len: int) -> list[str]:

    out = []
    for n in range(1, max_len + 1):
        for chars in itertools.product(_SAMPLE_CHARS, repeat=n):
            text = "".join(chars)
            segments = text.split("/")
            if "" in segments or "%" in segments[-1]:
                continue  # empty path segment, or a name with a path-only character
            out.append(text)
    return out


@given(st.text(alphabet="ab/%*?", min_size=1, max_size=5))
@settings(max_examples=200, deadline=None)
def test_whole_account_decision_agrees_with_brute_force(rest: str) -> None:
    from xacct_nb.spec import arn_like, whole_account_pattern

    pattern = f"arn:aws:iam::{CONSUMER}:role/{rest}"
    admits = whole_account_pattern(pattern)
    longest = min(len(rest.replace("*", "")) + 3, 6)
    principals = _principals(longest)
    missed = [p for p in principals if not arn_like(pattern, f"arn:aws:iam::{CONSUMER}:role/{p}")]
    if admits == "every role":
        assert not missed
    elif admits is None:
        # it misses some principal at the default path, and some principal at every path depth
        # up to the pattern's own
        for depth in range(min(rest.count("/"), (longest - 1) // 2) + 1):
            assert any(p.count("/") >= depth for p in missed), (depth, missed[:5])
    else:
        depth = 1 if admits.endswith("with a path") else int(admits.split(" of ")[1].split()[0])
        assert not [p for p in missed if p.count("/") >= depth]
