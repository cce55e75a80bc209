"""The security and reliability suite, against the sandbox with IAM enforcement on.

* privilege boundaries through the real role: each level can do exactly what it grants;
* trust: only consumer-account principals holding the consumer policy (and, when narrowed, only
  the named ones) can assume the role;
* faults: an apply interrupted midway converges on rerun and can be destroyed; throttled pages
  and expired credentials mid-scan are absorbed;
* bad input: a clear one-line error and no AWS call, from the CLI and the Python API, also for
  random specs (hypothesis);
* no secrets in CLI output, in what verification records, or in our objects' repr().
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import boto3
import pandas as pd
import pytest
import yaml
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import doc, key_session
from xacct_nb import RemoteTable, provisioning
from xacct_nb.errors import AwsError, SpecError, is_access_denied, one_line
from xacct_nb.sessions import assume_from_spec, profile_session, whoami
from xacct_nb.spec import FIELDS, AccessSpec, load_spec, parse_spec
from xacct_nb.verify import verify_access

ROOT = Path(__file__).resolve().parents[1]
LOCAL = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
MAIN, CONSUMER = LOCAL["main_account_id"], LOCAL["consumer_account_id"]
ANALYST_ARN = LOCAL["consumer_principal"]
RUN = uuid.uuid4().hex[:6]
LEVELS = ("Read", "ReadWriteUpdate", "Full")
TABLES = {level: f"sec-{level.lower()}-{RUN}" for level in LEVELS}
THROWAWAY = {level: f"sec-{level.lower()}-tmp-{RUN}" for level in ("ReadWriteUpdate", "Full")}
ITEMS = 12  # enough pages at page_size=2 for the fault tests; the moto server is ~1 ms/item


def quiet(_line: str) -> None:
    pass


def local_spec(env: str, **changes) -> AccessSpec:
    return parse_spec({**LOCAL, "env": env, **changes})


def outcome(call) -> str:
    """'allowed' or 'denied'; any other AWS error is re-raised (it would hide the answer)."""
    try:
        call()
    except ClientError as err:
        if is_access_denied(err):
            return "denied"
        raise
    return "allowed"


# ---------------------------------------------------------------------------------------------
# The world: three tables (one per level, each with a GSI) and two throwaways, granted by one spec


@pytest.fixture(scope="module")
def world(sandbox):
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    for name in TABLES.values():
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                               {"AttributeName": "grp", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[{"IndexName": "by_grp",
                                                  "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
                                                  "Projection": {"ProjectionType": "ALL"}}])
        ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"id": {"S": f"item-{i:02d}"}, "grp": {"S": "ab"[i % 2]},
                                     "n": {"N": str(i)}}}} for i in range(ITEMS)]})
    for name in THROWAWAY.values():
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    grants = [*TABLES.items(), *THROWAWAY.items()]
    spec = local_spec(f"sec{RUN}", table_access_list=[{"table_name": t, "access_type": level}
                                                      for level, t in grants])
    provisioning.apply(spec, yes=True, progress=quiet)
    yield SimpleNamespace(spec=spec, role=assume_from_spec(spec), ddb=ddb)
    provisioning.destroy(spec, yes=True)
    existing = set(ddb.list_tables()["TableNames"])
    for name in [*TABLES.values(), *THROWAWAY.values()]:
        if name in existing:
            ddb.delete_table(TableName=name)


@pytest.fixture
def consumer_user(sandbox, tmp_path):
    """Factory: a new consumer-account user, optionally with an identity policy allowing
    sts:AssumeRole on the given role ARNs; returns (user name, session). Deleted afterwards."""
    iam = sandbox.session("sandbox-consumer").client("iam")
    made: list[tuple[str, str]] = []

    def make(*assumable: str) -> tuple[str, boto3.Session]:
        name = f"sec-user-{uuid.uuid4().hex[:6]}"
        iam.create_user(UserName=name)
        if assumable:
            iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=doc(
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": list(assumable)}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append((name, key["AccessKeyId"]))
        return name, key_session(sandbox, tmp_path / name, key)

    yield make
    for name, key_id in made:
        iam.delete_access_key(UserName=name, AccessKeyId=key_id)
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            iam.delete_user_policy(UserName=name, PolicyName=policy)
        for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
            iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_user(UserName=name)


# ---------------------------------------------------------------------------------------------
# Privilege boundaries through the real role


def _operations(ddb, table: str) -> dict:
    key = {"id": {"S": "item-01"}}
    fresh = {"id": {"S": f"new-{uuid.uuid4().hex[:8]}"}, "grp": {"S": "c"}}
    return {
        "get": lambda: ddb.get_item(TableName=table, Key=key),
        "query_index": lambda: ddb.query(TableName=table, IndexName="by_grp", KeyConditionExpression="#g = :g",
                                         ExpressionAttributeNames={"#g": "grp"},
                                         ExpressionAttributeValues={":g": {"S": "a"}}),
        "put": lambda: ddb.put_item(TableName=table, Item=fresh),
        "update": lambda: ddb.update_item(TableName=table, Key=key, UpdateExpression="SET touched = :t",
                                          ExpressionAttributeValues={":t": {"BOOL": True}}),
        "delete": lambda: ddb.delete_item(TableName=table, Key={"id": {"S": "item-02"}}),
        "batch_write": lambda: ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": fresh}}]}),
        "update_table": lambda: ddb.update_table(TableName=table, BillingMode="PAY_PER_REQUEST"),
    }


READS = ("get", "query_index")
BOUNDARIES = [
    *[("Read", op, "allowed") for op in READS],
    *[("Read", op, "denied") for op in ("put", "update", "delete", "batch_write", "update_table")],
    *[("ReadWriteUpdate", op, "allowed") for op in (*READS, "put", "update")],
    *[("ReadWriteUpdate", op, "denied") for op in ("delete", "batch_write", "update_table")],
    *[("Full", op, "allowed") for op in (*READS, "put", "update", "delete", "batch_write", "update_table")],
]


@pytest.mark.parametrize("level, operation, expected", BOUNDARIES)
def test_privilege_boundary(world, level, operation, expected):
    ddb = world.role.client("dynamodb")
    assert outcome(_operations(ddb, TABLES[level])[operation]) == expected


def test_delete_table_only_with_full(world):
    """DeleteTable on throwaway tables: if RWU's were (wrongly) allowed, nothing of value is lost."""
    ddb = world.role.client("dynamodb")
    assert outcome(lambda: ddb.delete_table(TableName=THROWAWAY["ReadWriteUpdate"])) == "denied"
    assert outcome(lambda: ddb.delete_table(TableName=THROWAWAY["Full"])) == "allowed"
    remaining = set(world.ddb.list_tables()["TableNames"])
    assert THROWAWAY["ReadWriteUpdate"] in remaining and THROWAWAY["Full"] not in remaining


@pytest.mark.parametrize("table", ["orders", "customers", "payments"])
def test_tables_not_granted_are_unreachable(world, table):
    ddb = world.role.client("dynamodb")
    calls = {
        "describe": lambda: ddb.describe_table(TableName=table),
        "scan": lambda: ddb.scan(TableName=table, Limit=1),
        "put": lambda: ddb.put_item(TableName=table, Item={"x": {"S": "y"}}),
    }
    assert {name: outcome(call) for name, call in calls.items()} == dict.fromkeys(calls, "denied")


# ---------------------------------------------------------------------------------------------
# Trust: who may assume the role


def _assume(session: boto3.Session, role_arn: str) -> str:
    sts = session.client("sts")
    return outcome(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="sec-test"))


def test_trust_admits_only_the_consumer_principal_by_default(world, sandbox, consumer_user):
    arn = world.spec.role_arn
    assert _assume(sandbox.session("sandbox-analyst"), arn) == "allowed"
    # An administrator of another account is still outside the trust.
    assert _assume(sandbox.session("sandbox-outsider"), arn) == "denied"
    # Another consumer user is denied, even with the consumer policy attached: the trust's
    # aws:PrincipalArn condition names consumer_principal only.
    name, user = consumer_user()
    assert _assume(user, arn) == "denied"
    iam = sandbox.session("sandbox-consumer").client("iam")
    iam.attach_user_policy(UserName=name, PolicyArn=world.spec.consumer_policy_arn)
    assert _assume(user, arn) == "denied"


def test_only_whole_account_trust_admits_other_consumer_principals(world, sandbox, consumer_user):
    read = [{"table_name": TABLES["Read"], "access_type": "Read"}]
    wide = local_spec(f"secw{RUN}", trust_whole_consumer_account=True, table_access_list=read)
    listed = local_spec(f"secn{RUN}", trusted_principal_arns=[ANALYST_ARN], table_access_list=read)
    # Its own identity policy allows assuming every role: only the trust condition differs.
    _, other = consumer_user(world.spec.role_arn, wide.role_arn, listed.role_arn)
    for spec in (wide, listed):
        provisioning.apply(spec, yes=True, progress=quiet)
    try:
        assert _assume(other, wide.role_arn) == "allowed"          # control: no principal condition
        assert _assume(other, world.spec.role_arn) == "denied"     # default: consumer_principal only
        assert _assume(other, listed.role_arn) == "denied"         # trusted_principal_arns
        for arn in (wide.role_arn, world.spec.role_arn, listed.role_arn):
            assert _assume(sandbox.session("sandbox-analyst"), arn) == "allowed"
    finally:
        for spec in (wide, listed):
            provisioning.destroy(spec, yes=True)


# ---------------------------------------------------------------------------------------------
# Faults: interrupted apply, throttling, expiring credentials


@pytest.fixture(scope="module")
def no_attach_admin(sandbox, tmp_path_factory):
    """A main-account user who may do everything except iam:AttachRolePolicy: an apply with it
    stops after creating the role and policies, before attaching them."""
    iam = sandbox.session("sandbox-main").client("iam")
    name = f"sec-no-attach-{RUN}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="all-but-attach", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:AttachRolePolicy", "Resource": "*"}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    yield key_session(sandbox, tmp_path_factory.mktemp("no-attach") / "files", key)
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="all-but-attach")
    iam.delete_user(UserName=name)


def _partial_apply(spec: AccessSpec, main: boto3.Session) -> AwsError:
    with pytest.raises(AwsError) as stopped:
        provisioning.apply(spec, yes=True, main=main, progress=quiet)
    return stopped.value


def _ours(iam, env: str) -> tuple[list[str], list[str]]:
    """Names of the roles and customer-managed policies of `env` in one account."""
    roles = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    policies = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(Scope="Local")
                for p in page["Policies"]]
    return ([r for r in roles if r.startswith(f"{env}-")], sorted(p for p in policies if p.startswith(f"{env}-")))


def test_interrupted_apply_converges_on_rerun(sandbox, no_attach_admin):
    spec = local_spec(f"secf{RUN}")
    iam_main = sandbox.session("sandbox-main").client("iam")
    iam_consumer = sandbox.session("sandbox-consumer").client("iam")
    stopped = _partial_apply(spec, no_attach_admin)
    try:
        assert "access denied" in str(stopped) and "\n" not in str(stopped)
        assert iam_main.list_attached_role_policies(RoleName=spec.role_name)["AttachedPolicies"] == []

        provisioning.apply(spec, yes=True, progress=quiet)
        fresh = provisioning.plan(spec)
        assert not fresh.has_changes and {c.action for c in fresh.changes} == {"no-op"}, fresh.text()
        wanted = sorted(spec.table_policy_name(t) for t in spec.table_names)
        assert _ours(iam_main, spec.env) == ([spec.role_name], wanted)  # one role, no orphans
        attached = iam_main.list_attached_role_policies(RoleName=spec.role_name)["AttachedPolicies"]
        assert sorted(p["PolicyName"] for p in attached) == wanted
        assert _ours(iam_consumer, spec.env) == ([], [spec.consumer_policy_name])
    finally:
        provisioning.destroy(spec, yes=True)


def test_destroy_after_partial_apply_cleans_up(sandbox, no_attach_admin):
    spec = local_spec(f"secd{RUN}")
    _partial_apply(spec, no_attach_admin)
    provisioning.destroy(spec, yes=True)
    for profile in ("sandbox-main", "sandbox-consumer"):
        assert _ours(sandbox.session(profile).client("iam"), spec.env) == ([], [])
    assert not provisioning.plan_destroy(spec).has_changes


class _Body:
    """The raw body of a fabricated HTTP response (AWSResponse reads it through stream())."""

    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def _throttle_every(n: int, hits: list):
    """before-send handler: every n-th Scan request gets DynamoDB's throttling answer instead
    of reaching the server (a real HTTP 400 response object, so botocore's whole error and
    retry path runs — no Stubber)."""
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                       "message": "The level of configured provisioned throughput for the table was exceeded"})
    seen = []

    def handler(request, **_):
        seen.append(1)
        if len(seen) % n:
            return None
        hits.append(1)
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"},
                           _Body(body.encode()))

    return handler


def _scan(session: boto3.Session) -> pd.DataFrame:
    frame = RemoteTable(session, TABLES["Read"], progress=False).scan(page_size=2)
    return frame.sort_values("id").reset_index(drop=True)


def test_throttled_scan_is_complete(world):
    expected = _scan(world.role)
    throttled = assume_from_spec(world.spec)
    hits: list = []
    throttled.events.register("before-send.dynamodb.Scan", _throttle_every(3, hits))
    frame = _scan(throttled)
    assert len(hits) >= 2 and len(frame) == ITEMS
    pd.testing.assert_frame_equal(frame, expected, check_like=True)


def test_credentials_expiring_mid_scan_are_refreshed(world):
    expected = _scan(world.role)
    source = profile_session("sandbox-analyst", "us-east-1")
    assumes: list = []
    source.events.register("before-call.sts.AssumeRole", lambda **_: assumes.append(1))
    session = assume_from_spec(world.spec, source=source)
    credentials = session.get_credentials()
    first_key = credentials.get_frozen_credentials().access_key
    calls: list = []

    def expire_before_second_page(**_):
        calls.append(1)
        if len(calls) == 2:
            # TEST-ONLY: botocore has no public way to age credentials. Make the refreshable
            # credentials believe they expired a second ago, and drop the AssumeRole fetcher's
            # cached response (it would otherwise hand back the same, still valid, keys).
            credentials._expiry_time = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            credentials._refresh_using.__self__._cache.clear()

    session.events.register("before-call.dynamodb.Scan", expire_before_second_page)
    assert len(assumes) == 1
    frame = _scan(session)
    assert len(calls) > 2 and len(assumes) == 2  # exactly one new AssumeRole, mid-scan
    assert credentials.get_frozen_credentials().access_key != first_key
    pd.testing.assert_frame_equal(frame, expected, check_like=True)


# ---------------------------------------------------------------------------------------------
# Bad input: one clear line naming the field, and no AWS call


VALID = {**LOCAL, "env": "secbad"}


def _changed(**changes) -> dict:
    return {**VALID, **changes}


def _tables(*entries) -> dict:
    return _changed(table_access_list=list(entries))


def _without(key: str) -> dict:
    return {k: v for k, v in VALID.items() if k != key}


# (case, params file content — a dict is dumped as YAML, a str is written as is, field named)
MALFORMED = [
    ("env-wrong-type", _changed(env=123), "env"),
    ("tables-wrong-type", _changed(table_access_list="orders"), "table_access_list"),
    ("duration-wrong-type", _changed(max_session_duration="1h"), "max_session_duration"),
    ("missing-principal", _without("consumer_principal"), "consumer_principal"),
    ("missing-access-type", _tables({"table_name": "orders"}), "table_access_list[0].access_type"),
    ("unknown-key", _changed(tabel_access_list=[]), "tabel_access_list"),
    ("unknown-table-key", _tables({"table_name": "orders", "access_type": "Read", "mode": "x"}),
     "table_access_list[0].mode"),
    ("account-too-short", _changed(main_account_id="11111"), "main_account_id"),
    ("account-unquoted", _changed(consumer_account_id=222222222222), "consumer_account_id"),
    ("env-bad-name", _changed(env="bad env!"), "env"),
    ("table-bad-name", _tables({"table_name": "no spaces", "access_type": "Read"}),
     "table_access_list[0].table_name"),
    ("access-type-unknown", _tables({"table_name": "orders", "access_type": "Admin"}),
     "table_access_list[0].access_type"),
    ("duplicate-tables", _tables({"table_name": "orders", "access_type": "Read"},
                                 {"table_name": "orders", "access_type": "Full"}),
     "table_access_list[1].table_name"),
    ("huge-list", "\n".join([yaml.safe_dump(_without("table_access_list")), "table_access_list:",
                             *(f"- {{table_name: t{i:05d}, access_type: Read}}" for i in range(10_000))]),
     "table_access_list"),
    ("not-a-mapping", "- env: dev\n- region: us-east-1\n", "params"),
    ("empty-file", "", "params"),
    ("invalid-yaml", "env: [dev\nregion: us-east-1\n", "invalid-yaml.yaml"),
]


@pytest.fixture(scope="module")
def params_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("params")
    for case, content, _ in MALFORMED:
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (folder / f"{case}.yaml").write_text(text)
    (folder / "valid.yaml").write_text(yaml.safe_dump(VALID))
    return folder


@pytest.fixture(scope="module")
def unreachable_env(sandbox, tmp_path_factory) -> dict:
    """Environment for CLI runs whose every AWS endpoint is a closed local port: any AWS call
    fails with a connection error (exit 1) instead of the expected input error (exit 2)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # free now, and nothing listens on it after the close
    folder = tmp_path_factory.mktemp("unreachable")
    config = configparser.ConfigParser()
    config.read(sandbox.config_file)
    for section in config.sections():
        config[section]["endpoint_url"] = f"http://127.0.0.1:{closed}"
    with (folder / "config").open("w") as fh:
        config.write(fh)
    (folder / "credentials").write_text("".join(
        f"[{s.removeprefix('profile ')}]\naws_access_key_id = AKIDFAKE\naws_secret_access_key = fake\n"
        for s in config.sections()))
    return {**os.environ, "AWS_CONFIG_FILE": str(folder / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(folder / "credentials"), "AWS_MAX_ATTEMPTS": "1"}


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xacct_nb.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def cli_runs(params_dir, unreachable_env) -> dict:
    """Every malformed file through `plan` (and the changing verbs for one of them), run two at a
    time: each is a fresh interpreter, and the machine has two cores."""
    runs = {(case, "plan"): ["plan"] for case, _, _ in MALFORMED}
    runs |= {("duplicate-tables", verb): verb.split() for verb in ("apply --yes", "destroy --yes", "verify")}
    runs[("valid", "plan")] = ["plan"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_cli, unreachable_env, *args, "--params", str(params_dir / f"{key[0]}.yaml"))
                   for key, args in runs.items()}
    return {key: future.result() for key, future in futures.items()}


def test_unreachable_endpoint_control(cli_runs):
    """The control: a VALID file does reach for AWS, and fails to connect (exit 1)."""
    run = cli_runs[("valid", "plan")]
    assert run.returncode == 1 and "cannot reach the AWS endpoint" in run.stderr, run.stderr


@pytest.mark.parametrize("case, field", [(case, field) for case, _, field in MALFORMED])
def test_malformed_params_cli(cli_runs, case, field):
    for (name, verb), run in cli_runs.items():
        if name != case:
            continue
        lines = run.stderr.splitlines()
        assert run.returncode == 2, (verb, run.stderr)
        assert len(lines) == 1 and lines[0].startswith("xacct-nb: error: "), (verb, run.stderr)
        assert field in lines[0] and "Traceback" not in run.stderr
        assert run.stdout == ""


@pytest.mark.parametrize("case, field", [(case, field) for case, _, field in MALFORMED])
def test_malformed_params_python(params_dir, case, field):
    with _no_network():
        with pytest.raises(SpecError) as rejected:
            load_spec(params_dir / f"{case}.yaml")
    message = str(rejected.value)
    assert field in rejected.value.field and message.startswith(rejected.value.field)
    assert "\n" not in message and len(message) < 400


class _NetworkUsed(Exception):
    pass


def _no_network():
    """Any socket connection inside raises: parsing a spec must not talk to anything."""
    return mock.patch.object(socket.socket, "connect", side_effect=_NetworkUsed("network call"))


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
_KEYS = st.sampled_from([*FIELDS, "table_name", "access_type"]) | st.text(max_size=12)
_VALID_TABLES = VALID["table_access_list"]


@st.composite
def _mutated_spec(draw):
    """A valid dict with a few random mutations: replace/add/delete a key (top level or in a
    table entry), or the whole document replaced by a random value."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_JSONISH)
    data = {**VALID, "table_access_list": [dict(t) for t in _VALID_TABLES]}
    for _ in range(draw(st.integers(1, 3))):
        tables = data.get("table_access_list")
        entries = [t for t in tables if isinstance(t, dict)] if isinstance(tables, list) else []
        target = draw(st.sampled_from([data, *entries]))
        key = draw(_KEYS)
        if draw(st.integers(0, 3)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(_JSONISH)
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated_spec(), overrides=st.none() | st.dictionaries(_KEYS, _JSONISH, max_size=2))
def test_random_specs_validate_or_raise_spec_error(data, overrides):
    with _no_network():
        try:
            spec = parse_spec(data, overrides)
        except SpecError as err:
            assert "\n" not in str(err) and str(err).startswith(one_line(err.field))
        else:
            assert isinstance(spec, AccessSpec) and parse_spec(spec.to_dict()) == spec


# ---------------------------------------------------------------------------------------------
# No secrets


def _sandbox_secrets(sandbox) -> list[str]:
    creds = configparser.ConfigParser()
    creds.read(sandbox.credentials_file)
    return [creds[s][k] for s in creds.sections() for k in ("aws_access_key_id", "aws_secret_access_key")]


KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}")


def test_cli_never_prints_credentials(sandbox, tmp_path):
    spec = local_spec(f"secs{RUN}")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(spec.to_dict()))
    env = {**os.environ, "AWS_MAX_ATTEMPTS": "3"}
    try:
        runs = [_cli(env, *args, "--params", str(params)) for args in (["plan"], ["apply", "--yes"])]
        with ThreadPoolExecutor(max_workers=2) as pool:  # both only read, after the apply
            runs += pool.map(lambda args: _cli(env, *args, "--params", str(params)),
                             (["verify"], ["whoami", "--assume"]))
    finally:
        provisioning.destroy(spec, yes=True)
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    output = "".join(r.stdout + r.stderr for r in runs)
    assert spec.role_arn in output  # the runs did talk about the role...
    assert not [s for s in _sandbox_secrets(sandbox) if s in output]  # ...and never a key
    assert not KEY_ID.search(output)


def test_objects_hide_credentials(world):
    session = assume_from_spec(world.spec)
    frozen = session.get_credentials().get_frozen_credentials()
    secrets = [frozen.access_key, frozen.secret_key, frozen.token]
    identity = whoami(session)
    matrix = verify_access(world.spec, extra_tables=[])
    shown = [repr(session), str(session), repr(session.get_credentials()), repr(identity), str(identity),
             identity._repr_html_(), repr(RemoteTable(session, TABLES["Read"])),
             matrix.text(), matrix.frame().to_json(), matrix._repr_html_()]
    leaks = [text for text in shown if any(secret in text for secret in secrets)]
    assert not leaks
