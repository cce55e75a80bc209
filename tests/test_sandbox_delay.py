"""IAM eventual consistency (patches_delay): with a delay, a new role, a changed trust, a new
attachment or policy version takes effect only after it; with none, at once. Also: a session whose
role was deleted gets AccessDenied, never HTTP 500."""

from __future__ import annotations

import time

import pytest

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

DELAY = 4.0  # long enough that a loaded 2-core CI machine makes its next request inside the window
SCAN = [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN}]


@pytest.fixture(scope="module")
def main_iam(sandbox):
    return sandbox.session("sandbox-main").client("iam")


@pytest.fixture(scope="module")
def caller(sandbox):
    return consumer_user(sandbox, "delaytest-user", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


@pytest.fixture()
def delayed(sandbox):
    sandbox.set_iam_delay(DELAY)
    yield
    sandbox.set_iam_delay(0)


def _scan(sandbox, session):
    return dynamodb(sandbox, session).scan(TableName="orders", Limit=1)["Count"]


def test_new_role_becomes_assumable_only_after_the_delay(sandbox, main_iam, caller, delayed):
    arn = role(main_iam, trust(CONSUMER_ROOT), SCAN)
    denied(lambda: assume(sandbox, caller, arn))
    time.sleep(DELAY)
    assert _scan(sandbox, assume(sandbox, caller, arn)) == 1


def test_without_delay_a_new_role_works_at_once(sandbox, main_iam, caller):
    assert _scan(sandbox, assume(sandbox, caller, role(main_iam, trust(CONSUMER_ROOT), SCAN))) == 1


def test_attachment_and_policy_version_take_effect_after_the_delay(sandbox, main_iam, caller):
    arn = role(main_iam, trust(CONSUMER_ROOT))
    session = assume(sandbox, caller, arn)
    sandbox.set_iam_delay(DELAY)
    try:
        policy = main_iam.create_policy(PolicyName=f"{arn.split('/')[-1]}-scan", PolicyDocument=doc(SCAN))["Policy"]
        main_iam.attach_role_policy(RoleName=arn.split("/")[-1], PolicyArn=policy["Arn"])
        denied(lambda: _scan(sandbox, session))
        time.sleep(DELAY)
        assert _scan(sandbox, session) == 1
        main_iam.create_policy_version(PolicyArn=policy["Arn"], SetAsDefault=True, PolicyDocument=doc(
            [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE_ARN + "-other"}]))
        assert _scan(sandbox, session) == 1  # the old version still in effect
        time.sleep(DELAY)
        denied(lambda: _scan(sandbox, session))
    finally:
        sandbox.set_iam_delay(0)


def test_changed_trust_keeps_its_old_effect_during_the_delay(sandbox, main_iam, caller, delayed):
    arn = role(main_iam, trust(CONSUMER_ROOT))
    time.sleep(DELAY)
    main_iam.update_assume_role_policy(RoleName=arn.split("/")[-1],
                                       PolicyDocument=trust(f"arn:aws:iam::{MAIN}:root"))
    assume(sandbox, caller, arn)  # still the old trust
    time.sleep(DELAY)
    denied(lambda: assume(sandbox, caller, arn))


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
