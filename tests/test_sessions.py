"""sessions.py against the sandbox: real STS/IAM/DynamoDB over HTTP, IAM enforced, nothing stubbed.

The module fixture builds its own small world (roles in main, a user in consumer with its own
profile in a COPY of the sandbox's config files) so it does not depend on the provisioning code.
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import re
import sys
import time
from types import SimpleNamespace

import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from helpers import CONSUMER, MAIN, allow, consumer_world, doc, role_arn, trust
from xacct_nb.cli import main as cli_main
from xacct_nb.errors import AccessDenied, InputError, is_access_denied
from xacct_nb.sandbox import PROFILES
from xacct_nb.sessions import (
    Identity,
    assume,
    assume_from_spec,
    assumed_role,
    profile_session,
    require_account,
    source_identity_of,
    whoami,
)
from xacct_nb.spec import parse_spec, role_name

PROFILE = "sessiontest-user"
USER_ARN = f"arn:aws:iam::{CONSUMER}:user/{PROFILE}"
EXTERNAL_ID = "sessiontest-ext-1"
ENV = "sessiontest"  # the spec's role: sessiontest-ddb_cross_acc_access_role-222222222222
ORDERS = f"arn:aws:dynamodb:us-east-1:{MAIN}:table/orders"


def _trust(principal: str, **condition) -> str:
    return trust(principal, {"StringEquals": condition} if condition else None)


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    roles = {
        "plain": ("sessiontest-role", _trust(f"arn:aws:iam::{CONSUMER}:root")),
        "extid": (role_name(ENV, CONSUMER),
                  _trust(f"arn:aws:iam::{CONSUMER}:root", **{"sts:ExternalId": EXTERNAL_ID})),
        # chaining target: only the plain role's sessions may assume it
        "chain": ("sessiontest-chain", _trust(role_arn("sessiontest-role"))),
    }
    reads = doc(allow(["dynamodb:DescribeTable", "dynamodb:Scan"], ORDERS),
                allow("sts:AssumeRole", role_arn("sessiontest-chain")))
    with consumer_world(sandbox, tmp_path_factory.mktemp("aws"), user=PROFILE,
                        roles={name: (trust_doc, reads) for name, trust_doc in roles.values()},
                        assume=role_arn("sessiontest-*")) as w:
        yield SimpleNamespace(role=role_arn(roles["plain"][0]), extid_role=role_arn(roles["extid"][0]),
                              chain_role=role_arn(roles["chain"][0]), iam_main=w.iam_main,
                              files=w.files, key=w.key)


def _assert_reads_orders_only(session) -> None:
    ddb = session.client("dynamodb")
    assert ddb.describe_table(TableName="orders")["Table"]["TableArn"] == ORDERS
    with pytest.raises(ClientError) as denied:
        ddb.describe_table(TableName="customers")
    assert is_access_denied(denied.value)


def _count_assume_role(source) -> list:
    calls: list = []
    source.events.register("before-call.sts.AssumeRole", lambda **kw: calls.append(1))
    return calls


# --- profiles and identity --------------------------------------------------------------------

@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_whoami_each_sandbox_profile(sandbox, profile):
    account, user = PROFILES[profile]
    ident = whoami(profile_session(profile))
    assert (ident.account, ident.kind, ident.expires) == (sandbox.accounts[account], "user", None)
    assert ident.arn == f"arn:aws:iam::{sandbox.accounts[account]}:user/{user}"
    assert (ident.region, ident.endpoint) == ("us-east-1", sandbox.endpoint_url)
    assert str(ident) == f"{ident.arn} (account {ident.account})"
    assert list(ident.frame().index) == ["account", "arn", "user_id", "kind", "expires", "region", "endpoint"]
    assert ident.arn in ident._repr_html_()


def test_profile_must_be_named_and_exist(sandbox):
    with pytest.raises(InputError, match="analyst_profile is not set"):
        profile_session(None, field="analyst_profile")
    with pytest.raises(InputError, match=r"analyst_profile: AWS profile 'nope' not found .*sandbox-main"):
        profile_session("nope", field="analyst_profile")


def test_require_account(sandbox):
    session = profile_session("sandbox-consumer")
    assert require_account(session, CONSUMER, "consumer_profile").account == CONSUMER
    with pytest.raises(InputError, match=f"main_profile is account {CONSUMER}, expected {MAIN}"):
        require_account(session, MAIN, "main_profile")


# --- assume -----------------------------------------------------------------------------------

def test_assume_by_profile_name_reads_granted_table_only(sandbox, world):
    session = assume(PROFILE, world.role, session_name="nb-test")
    ident = whoami(session)
    assert ident.account == MAIN and ident.kind == "assumed-role"
    assert ident.arn == f"arn:aws:sts::{MAIN}:assumed-role/sessiontest-role/nb-test"
    assert 58 <= ident.minutes_left() <= 60
    assert "credentials expire in 59 min" in str(ident)
    # the source profile's config survives: region and the sandbox's endpoint_url
    assert session.region_name == "us-east-1"
    assert session.client("dynamodb").meta.endpoint_url == sandbox.endpoint_url
    _assert_reads_orders_only(session)


def test_assume_region_override_keeps_endpoint(sandbox, world):
    session = assume(profile_session(PROFILE), world.role, region="eu-west-1")
    assert session.region_name == "eu-west-1"
    assert session.client("dynamodb").meta.endpoint_url == sandbox.endpoint_url


def test_credentials_refresh_in_botocore_window(world, monkeypatch):
    source = profile_session(PROFILE)
    calls = _count_assume_role(source)
    session = assume(source, world.role, duration=900)  # moto honours DurationSeconds
    assert 14 <= whoami(session).minutes_left() <= 15 and len(calls) == 1
    creds = session.get_credentials()
    first = creds.get_frozen_credentials()
    ddb = session.client("dynamodb")
    ddb.describe_table(TableName="orders")
    assert len(calls) == 1  # fresh: no refresh

    # Jump 800 s ahead: only 100 s are left, inside the mandatory window (900 // 6 = 150 s). Both
    # the credentials' clock and the fetcher's cache clock (module-level _local_now) jump, until
    # the renewal arrives; the new keys then have their full 900 s, as after a real wait.
    now = botocore.credentials._local_now
    clock = lambda: now() + dt.timedelta(seconds=800 if len(calls) == 1 else 0)  # noqa: E731
    monkeypatch.setattr(creds, "_time_fetcher", clock)
    monkeypatch.setattr(botocore.credentials, "_local_now", clock)
    ddb.describe_table(TableName="orders")  # the existing client signs with renewed keys
    assert len(calls) == 2
    second = creds.get_frozen_credentials()
    assert second.access_key != first.access_key and second.token != first.token
    _assert_reads_orders_only(session)
    assert len(calls) == 2  # renewed keys are good for another 15 min


def test_role_chaining_clamps_duration(world):
    first = assume(PROFILE, world.role)
    messages: list[str] = []
    chained = assume(first, world.chain_role, duration=7200, progress=messages.append)
    assert any("role chaining" in m and "3600" in m for m in messages)
    ident = whoami(chained)
    assert ident.arn.startswith(f"arn:aws:sts::{MAIN}:assumed-role/sessiontest-chain/")
    assert ident.minutes_left() <= 60
    with pytest.warns(UserWarning, match="role chaining"):
        assume(first, world.chain_role, duration=7200)
    with pytest.raises(InputError, match="duration 60 s is outside"):
        assume(first, world.chain_role, duration=60)


def test_external_id(world):
    for wrong in (None, "not-it"):
        with pytest.raises(AccessDenied, match="sts:ExternalId"):
            assume(PROFILE, world.extid_role, external_id=wrong)
    session = assume(PROFILE, world.extid_role, external_id=EXTERNAL_ID)
    assert whoami(session).account == MAIN


def test_assume_records_how_it_made_the_session(world):
    session = assume(PROFILE, world.extid_role, external_id=EXTERNAL_ID, session_name="rec",
                     duration=1800)
    recorded = assumed_role(session)
    assert recorded is not None
    assert (recorded.role_arn, recorded.session_name, recorded.external_id, recorded.duration) == (
        world.extid_role, "rec", EXTERNAL_ID, 1800)
    assert EXTERNAL_ID not in repr(recorded)
    assert assumed_role(profile_session(PROFILE)) is None  # not made by assume


def test_assume_from_spec(world):
    spec = parse_spec({
        "env": ENV, "region": "us-east-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
        "analyst_profile": PROFILE, "consumer_principal": USER_ARN, "external_id": EXTERNAL_ID,
        "session_name": "from-spec", "table_access_list": [{"table_name": "orders", "access_type": "Read"}],
    })
    assert spec.role_arn == world.extid_role
    session = assume_from_spec(spec)
    assert whoami(session).arn.endswith(f"/{role_name(ENV, CONSUMER)}/from-spec")
    _assert_reads_orders_only(session)
    no_profile = parse_spec({**spec.to_dict(), "analyst_profile": None})
    with pytest.raises(InputError, match="analyst_profile is not set"):
        assume_from_spec(no_profile)


def _spec(**changes):
    return parse_spec({
        "env": ENV, "region": "us-east-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
        "analyst_profile": PROFILE, "consumer_principal": USER_ARN, "external_id": EXTERNAL_ID,
        "table_access_list": [{"table_name": "orders", "access_type": "Read"}], **changes})


def _ident(arn: str) -> Identity:
    return Identity(account=arn.split(":")[4], arn=arn, user_id="AIDAEXAMPLE", kind="user", expires=None,
                    region=None, endpoint=None)


@pytest.mark.parametrize("arn, expected", [
    (f"arn:aws:iam::{CONSUMER}:user/analyst", "analyst"),
    (f"arn:aws:iam::{CONSUMER}:user/team/jane.doe@example.com", "jane.doe@example.com"),
    (f"arn:aws:sts::{CONSUMER}:assumed-role/AWSReservedSSO_Data_0123/jane@example.com", "jane@example.com"),
    (f"arn:aws:sts::{CONSUMER}:federated-user/bob", "bob"),
    (f"arn:aws:iam::{CONSUMER}:user/a", "a-"),
    (f"arn:aws:iam::{CONSUMER}:user/" + "x" * 80, "x" * 64),
    (f"arn:aws:sts::{CONSUMER}:assumed-role/r/aws:odd name", "aws-odd-name"),
])
def test_source_identity_is_the_operators_name_in_stss_charset(arn, expected):
    value = source_identity_of(_ident(arn))
    assert value == expected
    assert re.fullmatch(r"[A-Za-z0-9_+=,.@-]{2,64}", value) and not value.startswith("aws:")


def test_assume_from_spec_sends_the_analysts_source_identity(world):
    source = profile_session(PROFILE)
    sent: list = []
    source.events.register("before-parameter-build.sts.AssumeRole", lambda params, **kw: sent.append(params))
    assume_from_spec(_spec(), source=source)
    assert sent[0]["SourceIdentity"] == PROFILE and sent[0]["RoleSessionName"] == "xacct-nb"


def test_analyst_in_the_wrong_account_is_refused_before_any_assume(sandbox, world):
    for profile, account in (("sandbox-outsider", "333333333333"), ("sandbox-main", MAIN)):
        source = profile_session(profile)
        calls = _count_assume_role(source)
        start = time.monotonic()
        with pytest.raises(InputError) as err:
            assume_from_spec(_spec(analyst_profile=profile), source=source, wait=60)
        msg = str(err.value)
        assert time.monotonic() - start < 5 and not calls  # no 60 s of retries
        assert msg.startswith(f"analyst_profile is account {account}, expected the consumer account {CONSUMER}")
        assert "\n" not in msg and USER_ARN in msg
        assert f"arn:aws:iam::{MAIN}:root" not in msg and "trust" not in msg  # never: trust the main account
    with pytest.raises(InputError, match="analyst_profile is account 333333333333"):
        assume_from_spec(_spec(analyst_profile="sandbox-outsider"))


def _with_profile(world, monkeypatch, text: str) -> None:
    """Append a profile to the world's COPY of the config and use that copy from now on."""
    config = world.files / "config-extra"
    config.write_text((world.files / "config").read_text() + text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))


def test_a_role_arn_profile_that_is_the_role_is_used_as_is(sandbox, world, monkeypatch):
    _with_profile(world, monkeypatch, f"\n[profile as-role]\nrole_arn = {world.extid_role}\n"
                  f"source_profile = {PROFILE}\nexternal_id = {EXTERNAL_ID}\nregion = us-east-1\n"
                  f"endpoint_url = {sandbox.endpoint_url}\n")
    spec = _spec(analyst_profile="as-role")
    session = assume_from_spec(spec)
    ident = whoami(session)
    assert ident.kind == "assumed-role" and ident.principal_arn == spec.role_arn
    _assert_reads_orders_only(session)
    # the CLI's reads take the same way in
    assert cli_main(["whoami", "--params", _params_file(world, spec), "--assume"]) == 0

    required = _spec(analyst_profile="as-role", require_source_identity=True)
    with pytest.raises(InputError) as err:
        assume_from_spec(required)
    msg = str(err.value)
    assert "require_source_identity" in msg and "cannot send a SourceIdentity" in msg and "\n" not in msg


def _params_file(world, spec) -> str:
    path = world.files / f"params-{spec.analyst_profile}.json"
    path.write_text(json.dumps(spec.to_dict()))
    return str(path)


def test_a_credential_process_profile_that_is_the_role_is_used_as_is(sandbox, world, monkeypatch, tmp_path):
    # Stands in for SSO: a process that hands botocore the role's credentials.
    reply = profile_session(PROFILE).client("sts").assume_role(
        RoleArn=world.extid_role, RoleSessionName="jane", ExternalId=EXTERNAL_ID)["Credentials"]
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"Version": 1, "AccessKeyId": reply["AccessKeyId"],
                                 "SecretAccessKey": reply["SecretAccessKey"],
                                 "SessionToken": reply["SessionToken"],
                                 "Expiration": reply["Expiration"].isoformat()}))
    creds.chmod(0o600)
    script = tmp_path / "print-creds.py"
    script.write_text(f"import sys\nsys.stdout.write(open({str(creds)!r}).read())\n")
    _with_profile(world, monkeypatch, f"\n[profile sso-like]\ncredential_process = {sys.executable} {script}\n"
                  f"region = us-east-1\nendpoint_url = {sandbox.endpoint_url}\n")
    session = assume_from_spec(_spec(analyst_profile="sso-like"))
    assert whoami(session).arn == f"arn:aws:sts::{MAIN}:assumed-role/{role_name(ENV, CONSUMER)}/jane"
    _assert_reads_orders_only(session)


def test_denial_lists_causes_in_order(world):
    missing = role_arn("sessiontest-missing")
    with pytest.raises(AccessDenied) as err:
        assume(PROFILE, missing)
    msg = str(err.value)
    assert "\n" not in msg and missing in msg and USER_ARN in msg
    order = [msg.index(s) for s in ("1) trust policy", f"arn:aws:iam::{CONSUMER}:root",
                                    "2) consumer policy", "sts:AssumeRole on", "3) the role must exist")]
    assert order == sorted(order)
    # the analyst has no assume policy at all: same checklist
    with pytest.raises(AccessDenied, match="2\\) consumer policy: arn:aws:iam::222222222222:user/analyst"):
        assume("sandbox-analyst", world.role)


def test_wait_retries_until_trust_is_fixed(world):
    name = "sessiontest-late"
    world.iam_main.create_role(RoleName=name, AssumeRolePolicyDocument=_trust("arn:aws:iam::333333333333:root"))
    world.iam_main.put_role_policy(RoleName=name, PolicyName="read-orders",
                                   PolicyDocument=doc(allow("dynamodb:DescribeTable", ORDERS)))
    messages: list[str] = []

    def progress(message: str) -> None:
        # Fix the trust after the second denial: deterministic, unlike a timer racing the backoff.
        messages.append(message)
        if len(messages) == 2:
            world.iam_main.update_assume_role_policy(
                RoleName=name, PolicyDocument=_trust(f"arn:aws:iam::{CONSUMER}:root"))

    try:
        session = assume(PROFILE, role_arn(name), wait=10, progress=progress)
    finally:
        world.iam_main.delete_role_policy(RoleName=name, PolicyName="read-orders")
        world.iam_main.delete_role(RoleName=name)
    assert len(messages) == 2 and all("retrying in" in m for m in messages)
    assert whoami(session).account == MAIN


def test_wait_is_bounded(world):
    messages: list[str] = []
    start = time.monotonic()
    with pytest.raises(AccessDenied, match="still denied after retrying for 1.5 s"):
        assume(PROFILE, role_arn("sessiontest-missing"), wait=1.5, progress=messages.append)
    # bounded: the deadline plus one attempt's time (generous: these 2-core machines are shared)
    assert time.monotonic() - start < 1.5 + 8 and len(messages) >= 1


# --- secrets ----------------------------------------------------------------------------------

def _secrets(world, session) -> set[str]:
    files = configparser.ConfigParser()
    files.read(world.files / "credentials")
    found = {files[s][k] for s in files.sections() for k in ("aws_access_key_id", "aws_secret_access_key")}
    frozen = session.get_credentials().get_frozen_credentials()
    found |= {frozen.access_key, frozen.secret_key, frozen.token}
    assert len(found) == 2 * (len(PROFILES) + 1) + 3 and all(found)
    return found


def test_no_secret_in_reprs_or_messages(world):
    session = assume(PROFILE, world.extid_role, external_id=EXTERNAL_ID)
    ident = whoami(session)
    texts = [repr(ident), str(ident), ident._repr_html_(), repr(session), str(session),
             repr(session.get_credentials())]
    for role, external_id in ((role_arn("sessiontest-nope"), None), (world.extid_role, "wrong")):
        with pytest.raises(AccessDenied) as err:
            assume(PROFILE, role, external_id=external_id)
        texts += [str(err.value), repr(err.value)]
    leaked = [s for s in _secrets(world, session) if any(s in t for t in texts)]
    assert not leaked


# --- CLI --------------------------------------------------------------------------------------

def test_cli_whoami(world, capsys, tmp_path):
    assert cli_main(["whoami", "--profile", "sandbox-main"]) == 0
    assert f"arn:aws:iam::{MAIN}:user/admin" in capsys.readouterr().out

    params = tmp_path / "p.json"  # JSON is YAML
    params.write_text(json.dumps({
        "env": ENV, "region": "us-east-1", "main_account_id": MAIN, "consumer_account_id": CONSUMER,
        "analyst_profile": PROFILE, "consumer_principal": USER_ARN, "external_id": EXTERNAL_ID,
        "table_access_list": [{"table_name": "orders", "access_type": "Read"}]}))
    assert cli_main(["whoami", "--params", str(params), "--assume"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"analyst: {USER_ARN} (account {CONSUMER})"
    assert out[1].startswith(f"role:    arn:aws:sts::{MAIN}:assumed-role/") and "expire in" in out[1]

    assert cli_main(["whoami"]) == 2
    assert "--profile is not set" in capsys.readouterr().err
    assert cli_main(["whoami", "--profile", "sandbox-main", "--assume"]) == 2


def test_a_read_after_the_role_is_deleted_says_the_role_is_gone(world):
    """The session was assumed; then the role is deleted. The read's error says the role no
    longer exists / trusts the caller and points at verify — not "the policy does not allow"."""
    from xacct_nb import RemoteTable

    name = "sessiontest-deleted"
    world.iam_main.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{CONSUMER}:root"))
    world.iam_main.put_role_policy(RoleName=name, PolicyName="read-orders",
                                   PolicyDocument=doc(allow(["dynamodb:DescribeTable", "dynamodb:Scan"], ORDERS)))
    session = assume(PROFILE, role_arn(name))
    orders = RemoteTable(session, "orders", progress=False)
    assert len(orders.scan(max_items=3)) == 3
    world.iam_main.delete_role_policy(RoleName=name, PolicyName="read-orders")
    world.iam_main.delete_role(RoleName=name)
    with pytest.raises(AccessDenied) as denied:
        orders.scan(max_items=3)
    message = str(denied.value)
    assert f"the role {role_arn(name)} no longer exists or no longer trusts this caller" in message
    assert "xacct-nb verify" in message and "does not allow" not in message


def test_a_denial_by_the_policy_still_says_the_policy(world):
    """The role exists and trusts the caller: the denial is the policy's, as before."""
    from xacct_nb import RemoteTable

    session = assume(PROFILE, world.role)
    with pytest.raises(AccessDenied, match="does not allow dynamodb:Query"):
        RemoteTable(session, "orders", progress=False).query("C0001")
