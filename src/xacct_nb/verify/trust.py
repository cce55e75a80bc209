"""Trust checks: who may assume the role, and whether the live trust policy drifted from the spec."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .. import policies
from ..clients import make_client
from ..errors import XacctError, explain
from ..sessions import profile_session, source_identity_of, whoami
from ..spec import AccessSpec
from .model import ROLE, Cell, Outcome, cell
from .probes import attempt

AS_SPEC = "as in spec"        # expected state of the live trust policy
# IAM replaces a deleted user's/role's ARN in a trust policy by its unique id (AIDA…/AROA…).
_UNIQUE_ID = re.compile(r"\bA(?:IDA|ROA)[A-Z0-9]{12,}\b")
_WRONG_EXTERNAL_ID = "xacct-nb-not-the-external-id"
_VERIFY_SESSION_NAME = "xacct-nb-verify"




# ---------------------------------------------------------------------------------------------
# Trust checks


def trust_cells(spec: AccessSpec, analyst: boto3.Session | None, outsider: boto3.Session | None,
                 unlisted: boto3.Session | None, main: boto3.Session | None, main_note: str) -> list[Cell]:
    """`analyst`: the consumer principal's session, None when analyst_profile already is the role."""
    cells = [cell(ROLE, "outsider assumes the role", "trust", "denied", _outsider_outcome(spec, outsider))]
    if spec.external_id:
        # Both with the analyst, who IS trusted: only the external id differs from a good call.
        wrong = _WRONG_EXTERNAL_ID if spec.external_id != _WRONG_EXTERNAL_ID else _WRONG_EXTERNAL_ID + "-2"
        for check, external_id in (("assume without the external id", None),
                                   ("assume with a wrong external id", wrong)):
            outcome = (_try_assume(analyst, spec, external_id) if analyst is not None else Outcome(
                "skipped", "analyst_profile already is the role: use a profile of consumer_principal to probe"))
            cells.append(cell(ROLE, check, "trust", "denied", outcome))
    if spec.trusted_principals:
        check = "principal outside the trusted principals assumes"
        outcome = (_unlisted_outcome(spec, unlisted) if unlisted is not None
                   else _trust_document_outcome(spec, main, main_note))
        cells.append(cell(ROLE, check, "trust", "denied", outcome))
    cells.append(cell(ROLE, "trust policy as in spec", "trust", AS_SPEC, _trust_drift_outcome(spec, main, main_note)))
    return cells


def _outsider_outcome(spec: AccessSpec, outsider: boto3.Session | None) -> Outcome:
    if outsider is None and not spec.outsider_profile:
        return Outcome("skipped", "no outsider_profile in the params: the account boundary was not probed")
    try:
        outsider = outsider or profile_session(spec.outsider_profile, spec.region, field="outsider_profile")
        account = whoami(outsider).account
    except XacctError as err:
        return Outcome("error", str(err))
    if account in (spec.main_account_id, spec.consumer_account_id):
        return Outcome("error", f"the outsider session is in account {account}, which is not an "
                                 "outsider — use a profile of a third account")
    # With the right external id, if any: the account boundary alone must keep it out.
    return _try_assume(outsider, spec, spec.external_id)


def _unlisted_outcome(spec: AccessSpec, unlisted: boto3.Session) -> Outcome:
    try:
        ident = whoami(unlisted)
    except XacctError as err:
        return Outcome("error", str(err))
    if ident.account != spec.consumer_account_id or any(
            fnmatch.fnmatchcase(ident.principal_arn, p) for p in spec.trusted_principals):
        return Outcome("error", f"{ident.principal_arn} is not a consumer principal outside the "
                                 "trusted principals, so its answer proves nothing")
    return _try_assume(unlisted, spec, spec.external_id)


def _trust_document_outcome(spec: AccessSpec, main: boto3.Session | None, main_note: str) -> Outcome:
    """No principal outside the list to probe with: check the document IAM evaluates instead."""
    want = policies.trust_policy(spec)
    condition = want["Statement"][0].get("Condition", {})
    operator = next((op for op in ("ArnEquals", "ArnLike") if "aws:PrincipalArn" in condition.get(op, {})), None)
    if operator is None or sorted(condition[operator]["aws:PrincipalArn"]) != sorted(spec.trusted_principals):
        return Outcome("document-differs", "the generated trust policy lacks the aws:PrincipalArn condition")
    rule = f"{operator} aws:PrincipalArn {', '.join(spec.trusted_principals)}"
    if main is None:
        return Outcome("document-checked", f"generated trust policy requires {rule}; the live role's "
                                            f"policy was not read ({main_note})")
    try:
        live = _live_trust(spec, main)
    except (ClientError, BotoCoreError) as err:
        return Outcome("error", str(explain(err, f"reading the trust policy of {spec.role_name}")))
    if not policies.same_document(live, want):
        return Outcome("document-differs", "the live trust policy differs from the spec's — run plan/apply")
    return Outcome("document-checked", f"live trust policy equals the spec's and requires {rule}")


def _live_trust(spec: AccessSpec, main: boto3.Session) -> Any:
    return make_client(main, "iam").get_role(RoleName=spec.role_name)["Role"]["AssumeRolePolicyDocument"]


def _trust_drift_outcome(spec: AccessSpec, main: boto3.Session | None, main_note: str) -> Outcome:
    """Whether the live trust policy is the generated one, and when not, what drifted."""
    if main is None:
        return Outcome("skipped", f"the live trust policy was not read ({main_note})")
    try:
        live = _live_trust(spec, main)
    except (ClientError, BotoCoreError) as err:
        return Outcome("error", str(explain(err, f"reading the trust policy of {spec.role_name}")))
    if policies.same_document(live, policies.trust_policy(spec)):
        return Outcome(AS_SPEC)
    gone = sorted(set(_UNIQUE_ID.findall(json.dumps(live))))
    if gone:
        return Outcome("drifted", f"the trust names {', '.join(gone)}: IAM shows a principal that was deleted "
                                   "by its unique id, and recreating it does not bring access back — run apply "
                                   "(the generated trust names the principal in an aws:PrincipalArn condition, "
                                   "which survives recreation)")
    return Outcome("drifted", "the live trust policy differs from the spec's (changed outside xacct-nb) — "
                               "run plan to see the difference, apply to restore it")


def _try_assume(session: boto3.Session, spec: AccessSpec, external_id: str | None) -> Outcome:
    """AssumeRole once, no retries, with a SourceIdentity as xacct-nb always sends one (so only
    what the check varies differs from a good call); credentials of a (wrongly) successful call
    are dropped."""
    try:
        caller = whoami(session)
    except XacctError as err:
        return Outcome("error", str(err))
    args: dict[str, Any] = {"RoleArn": spec.role_arn, "RoleSessionName": _VERIFY_SESSION_NAME,
                            "SourceIdentity": source_identity_of(caller)}
    if external_id:
        args["ExternalId"] = external_id
    sts = make_client(session, "sts", region_name=spec.region)
    return attempt(lambda: sts.assume_role(**args), f"AssumeRole on {spec.role_arn}")


