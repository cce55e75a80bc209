"""DynamoDB resource-based policies as the sandbox evaluates and validates them. Pure: no moto, no I/O.

Evaluation (`evaluate`) of one table's or stream's policy for one (action, resource, caller):
- a statement applies when its Principal (or NotPrincipal), Action (or NotAction), Resource (or
  NotResource, none = the resource it is attached to) and Condition all match; then it allows or
  denies, else it is neutral;
- Principal: `"*"` / `{"AWS": "*"}` (everyone), an account id or `arn:aws:iam::ACCT:root` (every
  principal of that account: its IAM policies decide), a user or role ARN (a role matches its
  sessions), an assumed-role session ARN. Service and Federated principals never match an IAM
  caller. `Decision.direct` says whether an Allow named the caller itself (or everyone) rather
  than only its account — AWS's same-account rule needs that distinction (`decide`);
- Action: case-insensitive, `*` and `?` wildcards. Resource: `*` matches any characters
  including `/` (`table/T/index/*` covers every index of T);
- Condition: the keys the sandbox knows for a caller (`context`): aws:PrincipalArn,
  aws:PrincipalAccount, aws:PrincipalOrgID (accounts get an organization id from the sandbox's
  configuration, `Sandbox.organizations`), aws:PrincipalType; operators StringEquals / StringNotEquals /
  StringEqualsIgnoreCase / StringNotEqualsIgnoreCase / StringLike / StringNotLike / ArnEquals /
  ArnNotEquals / ArnLike / ArnNotLike / Null, each with `IfExists` and `ForAnyValue:` /
  `ForAllValues:` (the caller's keys are single-valued). A key absent from the context fails a
  positive operator and satisfies a negated one (AWS's rule); an operator the sandbox does not
  know never makes an Allow apply and always makes a Deny apply (fail safe).

Combination (`decide`), as IAM's evaluation logic: an explicit Deny in the identity policies or in
the resource policy wins; same account: an identity Allow, or a resource-policy Allow naming the
caller directly, suffices; another account: both an identity Allow and a resource-policy Allow
(naming the caller or its account) are needed.

Validation (`problems_with`), what PutResourcePolicy refuses: a document over 20 KB counting
whitespace, one that is not a JSON policy, and (Block Public Access) one that grants public access:
an Allow whose principal is everyone (`*`, or NotPrincipal) unless a condition on a trusted key
(`BPA_TRUSTED_KEYS`) restricts it with values free of wildcards and policy variables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .arns import account_of, principal_arn

MAX_POLICY_BYTES = 20 * 1024
# The keys DynamoDB's Block Public Access accepts as restricting "*" (developer guide, "Blocking
# public access with resource-based policies").
BPA_TRUSTED_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceVpc", "aws:SourceVpce", "aws:UserId",
    "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:PrincipalIsAWSService",
    "aws:Ec2InstanceSourceVpc", "aws:SourceOrgID", "aws:SourceOrgPaths"))


class PolicyProblem(ValueError):
    """Why PutResourcePolicy refuses a document (`code`: the AWS error code)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Caller:
    arn: str                    # as authenticated: user ARN or assumed-role session ARN
    org_id: str | None = None   # the organization of its account (sandbox configuration)

    @property
    def account(self) -> str:
        return account_of(self.arn)


@dataclass(frozen=True)
class Decision:
    allowed: bool = False   # an Allow statement applies
    direct: bool = False    # ... one naming the caller itself (or everyone), not only its account
    denied: bool = False    # a Deny statement applies


def context(caller: Caller) -> dict[str, str]:
    """The global condition keys AWS supplies for an IAM caller that the sandbox can know."""
    found = {"aws:PrincipalArn": principal_arn(caller.arn), "aws:PrincipalAccount": caller.account,
             "aws:PrincipalType": "AssumedRole" if ":assumed-role/" in caller.arn else "User"}
    if caller.org_id:
        found["aws:PrincipalOrgID"] = caller.org_id
    return found


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    found = parsed.get("Statement", []) if isinstance(parsed, dict) else []
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def evaluate(document: str | dict[str, Any], action: str, resource: str, caller: Caller) -> Decision:
    """What one resource policy says about `action` on `resource` by `caller`."""
    allowed = direct = denied = False
    keys = {k.lower(): v for k, v in context(caller).items()}
    for statement in statements(document):
        deny = statement.get("Effect") == "Deny"
        named = _principal(statement, caller)
        if named is None or not _applies(statement, action, resource, keys, deny):
            continue
        if deny:
            denied = True
        elif statement.get("Effect") == "Allow":
            allowed = True
            direct = direct or named == "direct"
    return Decision(allowed, direct, denied)


def decide(identity: str, resource: Decision | None, same_account: bool) -> str | None:
    """None when allowed, else AWS's reason (the tail of its AccessDenied message).
    `identity`: "allow" | "deny" | "neutral" — the caller's identity policies' verdict."""
    resource = resource or Decision()
    if resource.denied:
        return "with an explicit deny in a resource-based policy"
    if identity == "deny":
        return "with an explicit deny in an identity-based policy"
    if same_account:
        if identity == "allow" or (resource.allowed and resource.direct):
            return None
        return "because no identity-based policy allows"
    if not resource.allowed:
        return "because no resource-based policy allows"
    if identity != "allow":
        return "because no identity-based policy allows"
    return None


# --- matching -------------------------------------------------------------------------------------

def _principal(statement: dict[str, Any], caller: Caller) -> str | None:
    """"direct" / "account" when the statement's principal covers the caller, else None."""
    if "NotPrincipal" in statement:
        return None if _names(statement["NotPrincipal"], caller) else "direct"
    return _names(statement.get("Principal"), caller)


def _names(principal: Any, caller: Caller) -> str | None:
    if principal == "*":
        return "direct"
    entries = principal.get("AWS") if isinstance(principal, dict) else None
    if entries is None:
        return None  # Service / Federated / CanonicalUser: never an IAM caller; no Principal: none
    entries = [entries] if isinstance(entries, str) else entries
    if any(e in ("*", caller.arn, principal_arn(caller.arn)) for e in entries):
        return "direct"
    if any(e in (caller.account, f"arn:aws:iam::{caller.account}:root") for e in entries):
        return "account"
    return None


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _element(statement: dict[str, Any], name: str, value: str, ignore_case: bool) -> bool:
    if name in statement:
        return any(_wildcard(p, value, ignore_case) for p in _listed(statement[name]))
    negated = "Not" + name
    if negated in statement:
        return not any(_wildcard(p, value, ignore_case) for p in _listed(statement[negated]))
    return name == "Resource"  # no Resource: the resource the policy is attached to


def _applies(statement: dict[str, Any], action: str, resource: str, keys: dict[str, str], deny: bool) -> bool:
    return (_element(statement, "Action", action, ignore_case=True)
            and _element(statement, "Resource", resource, ignore_case=False)
            and conditions_hold(statement.get("Condition") or {}, keys, deny))


def _arn_like(pattern: str, value: str) -> bool:
    p, v = pattern.split(":", 5), value.split(":", 5)
    return len(p) == len(v) and all(_wildcard(a, b) for a, b in zip(p, v))


_OPERATORS = {
    "StringEquals": lambda e, v: e == v,
    "StringEqualsIgnoreCase": lambda e, v: e.lower() == v.lower(),
    "StringLike": lambda e, v: _wildcard(e, v),
    "ArnEquals": lambda e, v: e == v,
    "ArnLike": _arn_like,
}


def conditions_hold(block: dict[str, Any], keys: dict[str, str], deny: bool) -> bool:
    """Every operator/key pair of a Condition block holds for `keys` (lower-cased key -> value)."""
    return all(_holds(str(operator), str(key), expected, keys.get(str(key).lower()), deny)
               for operator, pairs in block.items() if isinstance(pairs, dict)
               for key, expected in pairs.items())


def _holds(operator: str, key: str, expected: Any, actual: str | None, deny: bool) -> bool:
    qualifier, _, op = operator.rpartition(":")
    op = op.removesuffix("IfExists")
    if_exists = op != operator.rpartition(":")[2]
    if op == "Null" and qualifier == "":
        wants_absent = any(str(e).lower() == "true" for e in _listed(expected))
        return (actual is None) == wants_absent
    negate = op.startswith(("StringNot", "ArnNot"))
    base = op.replace("Not", "", 1) if negate else op
    if base not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return deny  # unknown: never lets an Allow apply, always lets a Deny apply
    if actual is None:
        if qualifier == "ForAllValues":
            return True  # vacuously true over an empty set (AWS's rule)
        return if_exists or (negate and qualifier == "")
    matched = any(_OPERATORS[base](e, actual) for e in _listed(expected))
    return not matched if negate else matched


# --- validation (PutResourcePolicy) ---------------------------------------------------------------

def problems_with(document: str) -> None:
    """Raise PolicyProblem when PutResourcePolicy must refuse `document` (see module docstring)."""
    size = len(document.encode("utf-8"))
    if size > MAX_POLICY_BYTES:
        raise PolicyProblem("ValidationException", f"Policy document size of {size} bytes exceeds the maximum "
                            f"of {MAX_POLICY_BYTES} bytes (20 KB; whitespace counts)")
    try:
        parsed = json.loads(document)
    except ValueError:
        raise PolicyProblem("ValidationException", "Invalid policy document: not valid JSON") from None
    if not isinstance(parsed, dict) or "Statement" not in parsed or not statements(parsed):
        raise PolicyProblem("ValidationException", "Invalid policy document: it has no Statement")
    for number, statement in enumerate(statements(parsed), 1):
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise PolicyProblem("ValidationException", f"Invalid policy document: statement {number} has no "
                                "Principal (a resource-based policy must name one)")
        public = public_grant(statement)
        if public:
            sid = f" {statement['Sid']!r}" if statement.get("Sid") else f" {number}"
            raise PolicyProblem("ValidationException", f"Block Public Access: statement{sid} grants public "
                                f"access ({public}); name the principals, or restrict it with a condition on "
                                "aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn or aws:SourceAccount")


def public_grant(statement: dict[str, Any]) -> str | None:
    """Why an Allow statement grants public access under DynamoDB's Block Public Access, or None."""
    if statement.get("Effect") != "Allow":
        return None
    if "NotPrincipal" in statement:
        reason = "NotPrincipal allows everyone not listed"
    else:
        principal = statement.get("Principal")
        entries = principal.get("AWS", []) if isinstance(principal, dict) else []
        entries = [entries] if isinstance(entries, str) else entries
        if principal == "*" or "*" in entries:
            reason = 'Principal "*"'
        elif any(isinstance(e, str) and ("*" in e or "?" in e) for e in entries):
            reason = "a wildcard in Principal"
        else:
            return None
    return None if _restricted(statement.get("Condition") or {}) else reason


def _restricted(block: dict[str, Any]) -> bool:
    """A positive operator on a trusted key whose values have no wildcard or policy variable."""
    for operator, pairs in block.items():
        op = str(operator).rpartition(":")[2]
        if not isinstance(pairs, dict) or "Not" in op or op.endswith("IfExists") or op == "Null":
            continue
        for key, expected in pairs.items():
            values = _listed(expected)
            if str(key).lower() == "aws:principalisawsservice":
                if all(v.lower() == "true" for v in values):
                    return True
                continue
            if str(key).lower() in BPA_TRUSTED_KEYS and values and not any(
                    "*" in v or "?" in v or "${" in v for v in values):
                return True
    return False


def resource_policy_arn(resource: str) -> str | None:
    """The ARN whose policy governs `resource`: a stream's own, an index's base table's, a table's
    own; None for what cannot have one (backups, exports, imports, global tables)."""
    head, sep, rest = resource.partition(":table/")
    if not sep:
        return None
    parts = rest.split("/")
    if len(parts) == 1 or (len(parts) == 3 and parts[1] == "index"):
        return f"{head}:table/{parts[0]}"
    if len(parts) == 3 and parts[1] == "stream":
        return resource
    return None
