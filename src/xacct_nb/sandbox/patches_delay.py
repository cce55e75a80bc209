"""IAM eventual consistency (`xacct-nb sandbox --iam-delay S`, `Sandbox(iam_delay=S)`).

On AWS a new role can be denied for seconds after it was created, and a changed policy keeps its
old effect for a while. The sandbox simulates this deterministically: for `S` seconds after an IAM
change in an account, authorisation in that account sees the account as it was *before* the
change — a new role, user policy or attachment does not exist yet, a changed trust policy or
policy version still has its old document, a deleted role still works.

What is delayed (and only for authorisation — IAM's own Get/List calls answer at once, as AWS's
mostly do): the trust policy AssumeRole evaluates (CreateRole, UpdateAssumeRolePolicy,
DeleteRole), and the identity policies a role session or an IAM user is authorised with: inline
role/user/group policies (Put/Delete*Policy), attachments (Attach/Detach*Policy), managed policy
documents (CreatePolicyVersion, SetDefaultPolicyVersion, DeletePolicyVersion, Create/DeletePolicy)
and group membership; also DynamoDB resource-based policies (Put/DeleteResourcePolicy, see
`authorisation.record_policy_change`: AWS documents them as eventually consistent). Not delayed:
access keys, KMS key policies, DynamoDB tables.

With S = 0 (the default) the current state is used, which also covers a session whose role was
deleted: it has no policies (AccessDenied), where moto 5.2.5 fails with HTTP 500.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.iam.access_control import AssumedRoleAccessKey, IAMUserAccessKey
from moto.iam.models import IAMBackend, iam_backends

# IAMBackend methods whose effect on authorisation is delayed.
DELAYED_CHANGES = (
    "create_role", "update_assume_role_policy", "delete_role",
    "put_role_policy", "delete_role_policy", "attach_role_policy", "detach_role_policy",
    "put_user_policy", "delete_user_policy", "attach_user_policy", "detach_user_policy",
    "put_group_policy", "delete_group_policy", "attach_group_policy", "detach_group_policy",
    "add_user_to_group", "remove_user_from_group",
    "create_policy", "create_policy_version", "set_default_policy_version",
    "delete_policy_version", "delete_policy",
)

_delay_seconds = 0.0
# The clock changes are timed by (seconds, monotonic). Tests put a manual clock here to place a
# request exactly before or at the end of the delay, whatever the machine's load.
clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class AccountView:
    """What authorisation needs of one account's IAM: trust documents and identity documents."""

    trusts: dict[str, str] = field(default_factory=dict)  # role name -> trust policy
    role_documents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    user_documents: dict[str, tuple[str, ...]] = field(default_factory=dict)


# account -> [(time of a change, the view just before it)], oldest first. The server is threaded:
# every read or write of the history holds the lock.
_history: dict[str, list[tuple[float, AccountView]]] = {}
_history_lock = threading.Lock()


def set_delay(seconds: float) -> None:
    """Delay the effect of IAM changes made from now on by `seconds` (0 = immediate)."""
    global _delay_seconds
    with _history_lock:
        _delay_seconds = float(seconds)
        _history.clear()


def delay_seconds() -> float:
    """The delay currently applied to changes (0 = immediate)."""
    return _delay_seconds


def _delayed_view(backend: IAMBackend) -> AccountView | None:
    """The account before the oldest change still within the delay; None when all are in effect."""
    with _history_lock:
        changes = _history.get(backend.account_id, [])
        horizon = clock() - _delay_seconds
        while changes and changes[0][0] <= horizon:
            changes.pop(0)  # in effect by now
        return changes[0][1] if changes else None


def trust_document(account_id: str, partition: str, role_name: str) -> str | None:
    """The trust policy AssumeRole evaluates, or None when the role does not exist (yet)."""
    backend = iam_backends[account_id][partition]
    view = _delayed_view(backend)
    if view is not None:
        return view.trusts.get(role_name)
    role = _current_role(backend, role_name)
    return role.assume_role_policy_document if role else None


def _current_role(backend: IAMBackend, role_name: str) -> Any:
    return next((role for role in backend.roles.values() if role.name == role_name), None)


def view_of(backend: IAMBackend) -> AccountView:
    roles = list(backend.roles.values())
    return AccountView(
        trusts={role.name: role.assume_role_policy_document for role in roles},
        role_documents={role.name: _documents(role) for role in roles},
        user_documents={user.name: _user_documents(backend, user) for user in backend.users.values()},
    )


def _documents(holder: Any) -> tuple[str, ...]:
    """Inline and attached managed policy documents of a role, user or group."""
    inline = tuple(holder.policies.values())
    managed = tuple(_default_document(policy) for policy in holder.managed_policies.values())
    return inline + managed


def _default_document(policy: Any) -> str:
    return next(version.document for version in policy.versions if version.is_default)


def _user_documents(backend: IAMBackend, user: Any) -> tuple[str, ...]:
    groups = [group for group in backend.groups.values() if user in group.users]
    return _documents(user) + tuple(doc for group in groups for doc in _documents(group))


def _recorded(change: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(change)
    def record_then_change(self: IAMBackend, *args: Any, **kwargs: Any) -> Any:
        if _delay_seconds <= 0:
            return change(self, *args, **kwargs)
        before = view_of(self)
        result = change(self, *args, **kwargs)
        with _history_lock:
            _history.setdefault(self.account_id, []).append((clock(), before))
        return result
    return record_then_change


def _role_session_policies(self: AssumedRoleAccessKey) -> list[str]:
    view = _delayed_view(self.backend)
    if view is not None:
        return list(view.role_documents.get(self._owner_role_name, ()))
    role = _current_role(self.backend, self._owner_role_name)
    return list(_documents(role)) if role else []  # a deleted role's session has no rights


def _user_policies(self: IAMUserAccessKey) -> list[str]:
    view = _delayed_view(self.backend)
    if view is not None:
        return list(view.user_documents.get(self._owner_user_name, ()))
    user = self.backend.users.get(self._owner_user_name)
    return list(_user_documents(self.backend, user)) if user else []


def install() -> None:
    for name in DELAYED_CHANGES:
        setattr(IAMBackend, name, _recorded(getattr(IAMBackend, name)))
    # moto's IAMPolicy takes documents as strings as well as its own records: hence [assignment]
    AssumedRoleAccessKey.collect_policies = _role_session_policies  # type: ignore[method-assign]
    IAMUserAccessKey.collect_policies = _user_policies  # type: ignore[method-assign, assignment]
