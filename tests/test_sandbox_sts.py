"""SourceIdentity (patches_sts): validated, needs sts:SetSourceIdentity in the trust AND the caller's
identity policy, visible to trust conditions, carried by the session and through role chaining."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from sandbox_policy_helpers import CONSUMER_ROOT, MAIN, assume, consumer_user, denied, role, trust

BOTH = ("sts:AssumeRole", "sts:SetSourceIdentity")


@pytest.fixture(scope="module")
def main_iam(sandbox):
    return sandbox.session("sandbox-main").client("iam")


def _caller(sandbox, actions):
    return consumer_user(sandbox, f"sitest-{uuid.uuid4().hex[:6]}", [
        {"Effect": "Allow", "Action": list(actions), "Resource": f"arn:aws:iam::{MAIN}:role/patchtest-*"}])


def _assume_raw(sandbox, session, role_arn, **kw):
    return session.client("sts", endpoint_url=sandbox.endpoint_url).assume_role(
        RoleArn=role_arn, RoleSessionName="sitest", **kw)


def test_source_identity_needs_both_trust_and_identity_permission(sandbox, main_iam):
    both_caller, assume_only_caller = _caller(sandbox, BOTH), _caller(sandbox, ["sts:AssumeRole"])
    trusted = role(main_iam, trust(CONSUMER_ROOT, actions=BOTH))
    answer = _assume_raw(sandbox, both_caller, trusted, SourceIdentity="olena.k@example.com")
    assert answer["SourceIdentity"] == "olena.k@example.com"
    denied(lambda: _assume_raw(sandbox, assume_only_caller, trusted, SourceIdentity="olena"))
    _assume_raw(sandbox, assume_only_caller, trusted)  # without SourceIdentity: no extra permission

    not_in_trust = role(main_iam, trust(CONSUMER_ROOT))
    denied(lambda: _assume_raw(sandbox, both_caller, not_in_trust, SourceIdentity="olena"))
    assert "SourceIdentity" not in _assume_raw(sandbox, both_caller, not_in_trust)


@pytest.mark.parametrize("value", ["has space", "x" * 65, "aws:admin", "olena/k", "é-accent"])
def test_invalid_source_identity_is_a_validation_error(sandbox, main_iam, value):
    trusted = role(main_iam, trust(CONSUMER_ROOT, actions=BOTH))
    with pytest.raises(ClientError) as err:
        _assume_raw(sandbox, _caller(sandbox, BOTH), trusted, SourceIdentity=value)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_trust_condition_on_the_source_identity(sandbox, main_iam):
    caller = _caller(sandbox, BOTH)
    required = role(main_iam, trust(CONSUMER_ROOT, {"StringLike": {"sts:SourceIdentity": "analyst-*"}},
                                    actions=BOTH))
    _assume_raw(sandbox, caller, required, SourceIdentity="analyst-olena")
    denied(lambda: _assume_raw(sandbox, caller, required, SourceIdentity="intruder"))
    denied(lambda: _assume_raw(sandbox, caller, required))  # absent key fails StringLike


def test_chained_session_keeps_its_source_identity(sandbox, main_iam):
    second = role(main_iam, trust(f"arn:aws:iam::{MAIN}:root", actions=BOTH))
    first = role(main_iam, trust(CONSUMER_ROOT, actions=BOTH), [
        {"Effect": "Allow", "Action": list(BOTH), "Resource": second}])
    session = assume(sandbox, _caller(sandbox, BOTH), first, SourceIdentity="olena")
    chained = _assume_raw(sandbox, session, second)
    assert chained["SourceIdentity"] == "olena"
    denied(lambda: _assume_raw(sandbox, session, second, SourceIdentity="someone-else"))


def test_chained_source_identity_needs_the_next_trust_to_allow_it(sandbox, main_iam):
    second = role(main_iam, trust(f"arn:aws:iam::{MAIN}:root"))  # AssumeRole only
    first = role(main_iam, trust(CONSUMER_ROOT, actions=BOTH), [
        {"Effect": "Allow", "Action": list(BOTH), "Resource": second}])
    caller = _caller(sandbox, BOTH)
    _assume_raw(sandbox, assume(sandbox, caller, first), second)  # no source identity: fine
    denied(lambda: _assume_raw(sandbox, assume(sandbox, caller, first, SourceIdentity="olena"), second))

