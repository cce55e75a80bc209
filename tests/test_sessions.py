"""sessions.py against the sandbox: real STS/IAM/DynamoDB over HTTP, IAM enforced, nothing stubbed.

The module fixture builds its own small world (roles in main, a user in consumer with its own
profile in a COPY of the sandbox's config files) so it does not depend on the provisioning code.
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import time
from types import SimpleNamespace

import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from helpers import CONSUMER, MAIN, allow, consumer_world, doc, role_arn, trust
from xacct_nb.cli import main as cli_main
from xacct_nb.errors import AccessDenied, InputError, is_access_denied
from xacct_nb.sandbox import PROFILES
from xacct_nb.sessions import assume, assume_from_spec, profile_session, require_account, whoami
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
