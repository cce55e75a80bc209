"""SourceIdentity on AssumeRole, as AWS checks and records it (moto 5.2.5 ignores the parameter).

- The value must be 2–64 characters of `[A-Za-z0-9_+=,.@-]` (so it cannot carry the reserved
  `aws:` prefix either); otherwise STS answers `ValidationError` (HTTP 400), nothing is assumed.
- Setting it is a permission of its own, `sts:SetSourceIdentity`: the role's trust policy must
  allow it for the caller, and so must the caller's identity policies (on AWS the identity side
  is needed when the caller is in another account; the sandbox, like moto for `sts:AssumeRole`
  itself, asks the identity policies in every case).
- Trust conditions see it as `sts:SourceIdentity` (for both actions).
- The session carries it: the AssumeRole answer includes `SourceIdentity`, and a session that has
  one passes it on when it assumes another role (role chaining); asking for a different value
  then is denied, as AWS does not let a chained session change it.
"""

from __future__ import annotations

import re
from typing import Any

from moto.core.exceptions import _RESTError  # the XML error base of moto 5.2 (not exported)
from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, IAMRequestBase, PermissionResult
from moto.sts.models import AssumedRole, sts_backends
from moto.sts.responses import TokenResponse
from moto.utilities.utils import get_partition

from .evaluation import identity_decision

SET_SOURCE_IDENTITY = "sts:SetSourceIdentity"
_VALID = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")


class SourceIdentityInvalid(_RESTError):
    """STS's ValidationError (HTTP 400). An HTTPException, unlike moto's STSValidationError, so that
    moto answers it properly when it is raised during authorisation (AWS validates first)."""

    code = 400

    def __init__(self, message: str):
        super().__init__("ValidationError", message)


def validate(value: str) -> None:
    """AWS's constraints on SourceIdentity."""
    if not _VALID.fullmatch(value):
        raise SourceIdentityInvalid(
            f"1 validation error detected: Value '{value}' at 'sourceIdentity' failed to satisfy "
            "constraint: Member must have length between 2 and 64 and satisfy regular expression "
            "pattern: [\\w+=,.@-]*")


def requested(request: IAMRequestBase) -> str | None:
    """The SourceIdentity the AssumeRole request asks for, validated, or None."""
    value = request._data.get("SourceIdentity")
    value = value[0] if isinstance(value, list) else value
    if value is not None:
        validate(value)
    return value


def inherited(access_key_id: str, account_id: str, region: str) -> str | None:
    """The SourceIdentity of the calling session (role chaining), if it is an assumed role."""
    session = _session(access_key_id, account_id, region)
    return getattr(session, "source_identity", None) if session else None


def context(request: IAMRequestBase) -> dict[str, str]:
    """`sts:SourceIdentity` for the trust conditions, when the new session will carry one."""
    value = requested(request) or _inherited_by(request)
    return {"sts:SourceIdentity": value} if value else {}


def may_set(request: IAMRequestBase, trust: IAMPolicy, role_arn: str, conditions: dict[str, str]) -> bool:
    """sts:SetSourceIdentity allowed by the trust policy and the caller's identity policies, and
    not a change of the value a chained session already carries."""
    value, chained = requested(request), _inherited_by(request)
    if value and chained and value != chained:
        return False
    if not (value or chained):
        return True
    caller = request._access_key.arn
    by_trust = trust.is_action_permitted(SET_SOURCE_IDENTITY, role_arn, caller, conditions)
    by_identity = identity_decision(request._access_key.collect_policies(), SET_SOURCE_IDENTITY,
                                    role_arn, conditions)
    return by_trust == PermissionResult.PERMITTED and by_identity == PermissionResult.PERMITTED


def _inherited_by(request: IAMRequestBase) -> str | None:
    key_id = getattr(request._access_key, "_access_key_id", "")
    return inherited(key_id, request.account_id, request._region)


def _assume_role(self: TokenResponse) -> ActionResult:
    """moto's AssumeRole, plus the SourceIdentity it accepted (or inherited) on session and answer."""
    value = self._get_param("SourceIdentity")
    if value is not None:
        validate(value)  # also while enforcement is off
    value = value or inherited(self.get_access_key(), self.current_account, self.region)
    answer = _MOTO_ASSUME_ROLE(self)
    result: dict[str, Any] = answer.result  # type: ignore[assignment]
    if value is not None:
        result["Credentials"].source_identity = value
        result["SourceIdentity"] = value
    return answer


def _session(access_key_id: str, account_id: str, region: str) -> AssumedRole | None:
    backend = sts_backends[account_id][get_partition(region)]
    return backend.get_assumed_role_from_access_key(access_key_id)


_MOTO_ASSUME_ROLE = TokenResponse.assume_role


def install() -> None:
    TokenResponse.assume_role = _assume_role  # type: ignore[method-assign]
