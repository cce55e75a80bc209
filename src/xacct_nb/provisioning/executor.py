"""Executing a plan: re-plan from the live state, check the confirmation, make each change's IAM
calls in order, and — when the analyst's right to assume changed — wait until IAM lets them in.

Every mutating call needs ``confirm`` equal to the id of the plan computed now from the live
state — the plan the operator reviewed; if anything it was computed from has changed since, the id
differs and the apply is refused with the new id. ``yes=True`` is the automation path (the CLI's
``--yes``): it confirms whatever plan is computed now, so only scripts that show or log that plan
should use it. An env name is never a confirmation. An AWS failure
midway raises :class:`~xacct_nb.errors.ApplyInterrupted` (or its AccessDenied flavour) saying
what was already done; rerunning converges, because every run starts from the live state.
"""

from __future__ import annotations

import logging
import time

import boto3
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from ..clients import make_client
from ..errors import AccessDenied, ApplyInterrupted, ConfirmationRequired, InputError, error_code, explain
from ..progress import ProgressCallback, report
from ..sessions import assume_from_spec, profile_session, whoami
from ..spec import AccessSpec
from .live import IamClients, connect
from .model import SIDES, ApplyResult, Change, Plan, blocked_message
from .planner import build_plan

__all__ = ["apply", "check_confirmation", "destroy", "execute", "wait_until_assumable", "wait_until_readable"]

logger = logging.getLogger(__name__)


def apply(spec: AccessSpec, confirm: str = "", *, main: boto3.Session | None = None,
          consumer: boto3.Session | None = None, analyst: boto3.Session | None = None,
          sides: tuple[str, ...] = SIDES, wait: bool = True, wait_timeout: float = 120,
          progress: ProgressCallback | None = None, yes: bool = False) -> ApplyResult:
    """Make the live state match `spec`. `confirm` must be the id of the plan as computed now
    (`yes=True` instead confirms whatever that plan is: automation only).

    With ``wait``, after an apply that created the role or changed who may assume it, retry
    AssumeRole as the analyst (`analyst` or ``spec.analyst_profile``) until IAM's eventual
    consistency lets it through; `ApplyResult.assumable` reports the outcome.
    """
    iam = connect(spec, main, consumer, sides)
    the_plan = build_plan(spec, iam, destroy=False)
    if the_plan.blocked:
        raise InputError(f"apply refused: {blocked_message(the_plan.blocked)}")
    result = execute(the_plan, confirm, iam, yes=yes)
    checked = []
    # Each consumer's analyst (its analyst_profile; `analyst` stands for the first consumer's).
    for i, sub in enumerate(spec.consumer_specs):
        who = analyst if i == 0 else None
        outcome = None
        if wait and sub.uses_resource_policy and any(_affects_read(c) for c in result.done):
            outcome = wait_until_readable(sub, analyst=who, timeout=wait_timeout, progress=progress)
        elif wait and not sub.uses_resource_policy and any(_affects_assume(c) for c in result.done):
            outcome = wait_until_assumable(sub, analyst=who, timeout=wait_timeout, progress=progress)
        checked.append((sub, outcome))
    outcomes = [o for _, o in checked if o is not None]
    result.assumable = checked[0][1] if not spec.consumers else (all(outcomes) if outcomes else None)
    if spec.consumers:
        result.checked = tuple(checked)
    return result


def destroy(spec: AccessSpec, confirm: str = "", *, main: boto3.Session | None = None,
            consumer: boto3.Session | None = None,
            sides: tuple[str, ...] = SIDES, yes: bool = False) -> ApplyResult:
    """Delete what xacct-nb created for `spec.env`; same-named untagged resources are left alone."""
    iam = connect(spec, main, consumer, sides)
    return execute(build_plan(spec, iam, destroy=True), confirm, iam, yes=yes)


def execute(the_plan: Plan, confirm: str, iam: IamClients, *, yes: bool = False) -> ApplyResult:
    """Make `the_plan`'s changes with `iam`'s clients, if `confirm` is its id (or `yes`)."""
    if not the_plan.has_changes:
        return ApplyResult(the_plan, (), iam.writes)
    if not yes:
        check_confirmation(the_plan, confirm)
    done: list[Change] = []
    for change in the_plan.pending:
        client = iam.client(change.side, change.resource, change.account)
        try:
            for call in change.calls:
                logger.debug("%s: %s", change, call.operation)
                getattr(client, xform_name(call.operation))(**call.params)
        except (ClientError, BotoCoreError) as err:
            raise _interrupted(the_plan, change, done, err) from err
        done.append(change)
    return ApplyResult(the_plan, tuple(done), iam.writes)


def check_confirmation(the_plan: Plan, confirm: str) -> None:
    """Refuse unless `confirm` is the plan's id: empty (nothing confirmed), an env name (never a
    confirmation) and any other id (a plan computed from another state) each get their line."""
    if confirm == the_plan.id:
        return
    verb = "destroy" if the_plan.destroy else "apply"
    if not confirm:
        raise ConfirmationRequired(
            f"{verb} needs confirmation: review plan {the_plan.id} ({the_plan.headline()}), then pass "
            f"confirm={the_plan.id!r} (on the CLI: --yes applies the plan it shows)", plan=the_plan)
    if confirm == the_plan.spec.env:
        raise ConfirmationRequired(
            f"confirm={confirm!r} is the env name, not a plan id: review plan {the_plan.id} "
            f"({the_plan.headline()}), then pass confirm={the_plan.id!r} — for automation only, the "
            "CLI's --yes confirms the plan it computes", plan=the_plan)
    raise ConfirmationRequired(
        f"the plan changed since it was reviewed — new id {the_plan.id} ({the_plan.headline()}): "
        f"review it, then pass confirm={the_plan.id!r} (confirm={confirm!r} named another plan)",
        plan=the_plan)


def wait_until_assumable(spec: AccessSpec, *, analyst: boto3.Session | None = None,
                         timeout: float = 120,
                         progress: ProgressCallback | None = None) -> bool | None:
    """Assume the role as the analyst, retrying while IAM answers AccessDenied (a new role or
    policy can be denied for 10-30 s) with jittered exponential backoff, for at most `timeout` s.

    Returns True once assumed, False if still denied at the deadline, None when there is no
    analyst session or it is not `consumer_principal` (then its answer would prove nothing).
    `progress` gets one line per attempt (default: print).
    """
    callback = progress or print
    checked = _consumer_analyst(spec, analyst, callback, "the role is assumable")
    if checked is None:
        return None
    analyst, who = checked
    start = time.monotonic()
    try:
        assume_from_spec(spec, source=analyst, wait=timeout, progress=callback)
    except AccessDenied as err:
        report(callback, f"{err}", logger)
        return False
    report(callback, f"{who} can assume {spec.role_arn} ({time.monotonic() - start:.1f} s)",
           logger)
    return True


def wait_until_readable(spec: AccessSpec, *, analyst: boto3.Session | None = None,
                        timeout: float = 120, progress: ProgressCallback | None = None) -> bool | None:
    """grant_mode resource_policy: DescribeTable of the first granted table by its ARN as the
    analyst (its own session, no AssumeRole), retrying while denied (both policies propagate) for
    at most `timeout` s. True once allowed, False if still denied, None when there is no analyst
    session or it is not `consumer_principal`."""
    from ..errors import is_access_denied
    from ..retries import backoff

    callback = progress or print
    checked = _consumer_analyst(spec, analyst, callback, "the tables are readable")
    if checked is None:
        return None
    analyst, who = checked
    arn = spec.table_arn(spec.table_names[0])
    ddb = make_client(analyst, "dynamodb", region_name=spec.region)
    start, attempt = time.monotonic(), 1
    while True:
        try:
            ddb.describe_table(TableName=arn)
        except ClientError as err:
            left = timeout - (time.monotonic() - start)
            if not is_access_denied(err) or left <= 0:
                report(callback, f"{who} cannot read {arn} yet: {explain(err, 'DescribeTable')}", logger)
                return False
            pause = min(left, backoff(attempt, 0.5, 8.0))
            report(callback, f"DescribeTable on {arn} denied (attempt {attempt}); the grant is propagating "
                             f"— retrying in {pause:.1f} s", logger)
            time.sleep(pause)
            attempt += 1
            continue
        report(callback, f"{who} can read {arn} ({time.monotonic() - start:.1f} s)", logger)
        return True


def _consumer_analyst(spec: AccessSpec, analyst: boto3.Session | None, callback: ProgressCallback,
                      what: str) -> tuple[boto3.Session, str] | None:
    """The analyst session and its principal ARN when it is `consumer_principal`; None (said,
    when a session exists) otherwise — another principal's answer would prove nothing."""
    if analyst is None and not spec.analyst_profile:
        return None
    analyst = analyst or profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    who = whoami(analyst).principal_arn
    if _principal_key(who) != _principal_key(spec.consumer_principal):
        report(callback, f"not checking that {what}: analyst_profile is {who}, "
                         f"not consumer_principal {spec.consumer_principal}", logger)
        return None
    return analyst, who


def _interrupted(the_plan: Plan, change: Change, done: list[Change],
                 err: Exception) -> ApplyInterrupted:
    verb = "destroy" if the_plan.destroy else "apply"
    fix = ""
    if change.resource in ("resource-policy", "stream-policy") and error_code(err) == "PolicyNotFoundException":
        # ExpectedRevisionId did not match: someone changed the policy after it was read.
        fix = ("the resource policy changed since it was read (a concurrent change, not overwritten) — "
               "review it, then plan again")
    if change.resource == "key-policy" and error_code(err) == "MalformedPolicyDocumentException":
        # KMS's own checks: the lockout safety check, or a principal it cannot resolve.
        fix = ("KMS refused the key policy as written (its lockout check, or a principal that does not exist) — "
               "the key policy is unchanged; check consumer_principal, then plan again")
    cause = explain(err, f"{verb} stopped at '{change}'", fix)
    made = "; ".join(str(c) for c in done) or "nothing"
    left = len(the_plan.pending) - len(done)
    return ApplyInterrupted.of(
        cause, f"{cause} — done before that: {made}; {left} change(s) not made. Fix the cause "
        f"and re-run {verb}: it starts from the live state, so it converges without duplicates",
        plan=the_plan, done=done)


def _affects_assume(change: Change) -> bool:
    """Changes after which IAM may deny the analyst for a while (new grants propagate slowly)."""
    if change.side == "consumer":
        return change.resource in {"policy", "policy-version", "attachment"}
    return (change.resource, change.action) in {("role", "create"), ("trust-policy", "update")}


def _affects_read(change: Change) -> bool:
    return change.resource in {"resource-policy", "policy", "policy-version", "attachment"} \
        and change.action in {"create", "update"}


def _principal_key(arn: str) -> tuple[str, ...]:
    """(account, user|role, name) of a user or role ARN, ignoring its path."""
    *_, account, resource = arn.split(":", 5)
    kind, _, rest = resource.partition("/")
    return account, kind, rest.rsplit("/", 1)[-1]
