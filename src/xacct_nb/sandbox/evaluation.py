"""Combining policy results the way IAM does, on top of moto's (patched) statement evaluation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult


def combined(results: Iterable[PermissionResult]) -> PermissionResult:
    """An explicit Deny anywhere wins; else any Allow allows; else neutral (implicit deny)."""
    outcome = PermissionResult.NEUTRAL
    for result in results:
        if result == PermissionResult.DENIED:
            return result
        if result == PermissionResult.PERMITTED:
            outcome = result
    return outcome


def identity_decision(policies: Iterable[Any], action: str, resource: str,
                      context: dict[str, str]) -> PermissionResult:
    """What the caller's identity policies say about `action` on `resource`, conditions evaluated
    against `context` (a key absent from it fails a positive condition operator)."""
    return combined(IAMPolicy(policy).is_action_permitted(action, resource, None, context)
                    for policy in policies)
