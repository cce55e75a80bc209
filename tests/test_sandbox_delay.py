"""IAM eventual consistency (patches_delay): with a delay, a new role, a changed trust, a new
attachment or policy version takes effect only after it; with none, at once. Also: a session whose
role was deleted gets AccessDenied, never HTTP 500."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from sandbox_policy_helpers import (
    CONSUMER_ROOT,
    MAIN,
    REGION,
    TABLE_ARN,
    assume,
    consumer_user,
    denied,
    doc,
    dynamodb,
    role,
    trust,
)
from xacct_nb.sandbox import patches_delay

DELAY = 30.0  # on the sandbox's clock: the tests below move a manual clock, they never sleep
SCAN = [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN}]
JUST_BEFORE = DELAY - 0.25  # binary fractions: the clock's sums are exact, the boundary is exact


class ManualClock:
    """The sandbox's clock for IAM delays, moved by the test: however long a request takes on a
    loaded machine, it is decided at the instant the test chose (before or at the delay's end)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def main_iam(sandbox):
    return sandbox.session("sandbox-main").client("iam")


@pytest.fixture(scope="module")
def caller(sandbox):
    return consumer_user(sandbox, "delaytest-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


@pytest.fixture()
def clock(monkeypatch):
    manual = ManualClock()
    monkeypatch.setattr(patches_delay, "clock", manual)
    return manual


@pytest.fixture()
def delayed(sandbox, clock):
    sandbox.set_iam_delay(DELAY)
    yield clock
    sandbox.set_iam_delay(0)


def _scan(sandbox, session):
    return dynamodb(sandbox, session).scan(TableName="orders", Limit=1)["Count"]


def test_new_role_becomes_assumable_exactly_after_the_delay(sandbox, main_iam, caller, delayed):
    arn = role(main_iam, trust(CONSUMER_ROOT), SCAN)
    denied(lambda: assume(sandbox, caller, arn))
    delayed.advance(JUST_BEFORE)
    denied(lambda: assume(sandbox, caller, arn))
    delayed.advance(DELAY - JUST_BEFORE)
    assert _scan(sandbox, assume(sandbox, caller, arn)) == 1


def test_without_delay_a_new_role_works_at_once(sandbox, main_iam, caller):
    assert _scan(sandbox, assume(sandbox, caller, role(main_iam, trust(CONSUMER_ROOT), SCAN))) == 1


def test_attachment_and_policy_version_take_effect_after_the_delay(sandbox, main_iam, caller, delayed):
    sandbox.set_iam_delay(0)
    arn = role(main_iam, trust(CONSUMER_ROOT))
    session = assume(sandbox, caller, arn)
    sandbox.set_iam_delay(DELAY)
    policy = main_iam.create_policy(PolicyName=f"{arn.split('/')[-1]}-scan", PolicyDocument=doc(SCAN))["Policy"]
    main_iam.attach_role_policy(RoleName=arn.split("/")[-1], PolicyArn=policy["Arn"])
    denied(lambda: _scan(sandbox, session))
    delayed.advance(JUST_BEFORE)
    denied(lambda: _scan(sandbox, session))
    delayed.advance(DELAY - JUST_BEFORE)
    assert _scan(sandbox, session) == 1
    main_iam.create_policy_version(PolicyArn=policy["Arn"], SetAsDefault=True, PolicyDocument=doc(
        [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN + "-other"}]))
    delayed.advance(JUST_BEFORE)
    assert _scan(sandbox, session) == 1  # the old version still in effect
    delayed.advance(DELAY - JUST_BEFORE)
    denied(lambda: _scan(sandbox, session))


def test_changed_trust_keeps_its_old_effect_during_the_delay(sandbox, main_iam, caller, delayed):
    arn = role(main_iam, trust(CONSUMER_ROOT))
    delayed.advance(DELAY)
    main_iam.update_assume_role_policy(RoleName=arn.split("/")[-1],
                                       PolicyDocument=trust(f"arn:aws:iam::{MAIN}:root"))
    assume(sandbox, caller, arn)  # still the old trust
    delayed.advance(JUST_BEFORE)
    assume(sandbox, caller, arn)
    delayed.advance(DELAY - JUST_BEFORE)
    denied(lambda: assume(sandbox, caller, arn))


def test_the_delay_runs_on_the_real_clock(sandbox, main_iam, caller):
    """Without a manual clock: the answer agrees with when the request could have been decided.
    Bounds, not a window: a denial must have been possible before the change's end + the delay,
    an allowance only after its start + the delay — true however slow the machine is."""
    assert patches_delay.clock is time.monotonic
    delay = 1.0
    sandbox.set_iam_delay(delay)
    try:
        started = time.monotonic()
        arn = role(main_iam, trust(CONSUMER_ROOT), SCAN)
        created = time.monotonic()
        outcomes = []
        while not outcomes or outcomes[-1][2] == "denied":
            sent = time.monotonic()
            try:
                assume(sandbox, caller, arn)
                outcome = "allowed"
            except ClientError:
                outcome = "denied"
            outcomes.append((sent, time.monotonic(), outcome))
            assert time.monotonic() - started < 120, "never allowed"
        for sent, answered, outcome in outcomes:
            if outcome == "denied":
                assert sent < created + delay
            else:
                assert answered >= started + delay
    finally:
        sandbox.set_iam_delay(0)


def test_session_of_a_deleted_role_is_denied_not_a_server_error(sandbox, main_iam, caller):
    arn = role(main_iam, trust(CONSUMER_ROOT), SCAN)
    session = assume(sandbox, caller, arn)
    assert _scan(sandbox, session) == 1
    name = arn.split("/")[-1]
    main_iam.delete_role_policy(RoleName=name, PolicyName="inline")
    main_iam.delete_role(RoleName=name)
    err = denied(lambda: _scan(sandbox, session))  # moto alone: HTTP 500 (NoSuchEntity while collecting)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    denied(lambda: session.client("sts", region_name=REGION, endpoint_url=sandbox.endpoint_url).assume_role(
        RoleArn=arn, RoleSessionName="again"))


def test_delay_is_checked_and_reachable_from_the_cli():
    from xacct_nb.cli import build_parser
    from xacct_nb.errors import InputError
    from xacct_nb.sandbox import Sandbox

    assert build_parser().parse_args(["sandbox", "--iam-delay", "5"]).iam_delay == 5.0
    assert Sandbox(port=0, iam_delay=2.5).iam_delay == 2.5
    with pytest.raises(InputError, match="iam_delay"):
        Sandbox(port=0, iam_delay=-1)
