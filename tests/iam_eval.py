"""A small IAM-style evaluator for the property tests: does a set of policy documents allow one
request? Written from the IAM policy evaluation rules, independent of the code under test.

* ``Action``/``NotAction``: case-insensitive wildcards (``*``, ``?``);
* ``Resource``/``NotResource``: case-sensitive wildcards over the WHOLE ARN, ``*`` matching any
  characters — ``/`` and ``:`` included (the permissive reading: a test that finds nothing allowed
  under it finds nothing under IAM's either);
* ``Principal`` (resource policies only): ``"*"``, an account id, ``arn:aws:iam::ACCT:root``
  (any principal of that account) or an exact ARN;
* ``Condition``: StringEquals/StringLike/ArnEquals/ArnLike and their ``Not`` and ``IfExists``
  forms, values against the request context; an absent key makes a positive operator false. Any
  other operator raises, so a document using one cannot slip through untested;
* an explicit Deny anywhere wins, else any applicable Allow allows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any


def glob(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    # fnmatch's [...] classes are not IAM syntax: escape them so they match literally.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _operator(name: str, expected: str, actual: str) -> bool:
    if name in ("StringEquals", "ArnEquals"):
        return expected == actual
    if name in ("StringLike", "ArnLike"):
        return glob(expected, actual)
    raise AssertionError(f"condition operator {name} is not modelled by the test evaluator")


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, str]) -> bool:
    for operator, pairs in (condition or {}).items():
        base = operator.removesuffix("IfExists")
        if_exists = base != operator
        negate = "Not" in base
        base = base.replace("Not", "", 1)
        for key, expected in pairs.items():
            actual = context.get(key)
            if actual is None:
                if not (if_exists or negate):
                    return False
                continue
            hit = any(_operator(base, str(e), actual) for e in _listed(expected))
            if hit == negate:
                return False
    return True


def _principal_matches(principal: Any, caller: str) -> bool:
    if principal == "*":
        return True
    values = _listed(principal.get("AWS", [])) if isinstance(principal, Mapping) else []
    account = caller.split(":")[4]
    return any(v in ("*", account, f"arn:aws:iam::{account}:root", caller) for v in values)


def statement_applies(statement: Mapping[str, Any], action: str, resource: str | None,
                      context: Mapping[str, str], caller: str | None) -> bool:
    if "Action" in statement:
        if not any(glob(p, action, case=False) for p in _listed(statement["Action"])):
            return False
    elif any(glob(p, action, case=False) for p in _listed(statement["NotAction"])):
        return False
    if resource is not None:
        if "Resource" in statement:
            if not any(glob(p, resource) for p in _listed(statement["Resource"])):
                return False
        elif "NotResource" in statement and any(glob(p, resource) for p in _listed(statement["NotResource"])):
            return False
    if caller is not None and "Principal" in statement and not _principal_matches(statement["Principal"], caller):
        return False
    return conditions_hold(statement.get("Condition"), context)


def allowed(documents: Iterable[Mapping[str, Any]], action: str, resource: str | None,
            context: Mapping[str, str] | None = None, caller: str | None = None) -> bool:
    """IAM's verdict for one request under `documents` together (explicit Deny wins)."""
    verdict = False
    for document in documents:
        statements = document["Statement"]
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            if statement_applies(statement, action, resource, context or {}, caller):
                if statement["Effect"] == "Deny":
                    return False
                verdict = True
    return verdict


def allow_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document["Statement"]
    return [s for s in ([statements] if isinstance(statements, Mapping) else statements) if s["Effect"] == "Allow"]
