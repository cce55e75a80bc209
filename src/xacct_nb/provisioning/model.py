"""The plan's data: what would change, as plain values — no clients, no closures.

A :class:`Change` is one row of a plan (side, resource, name, action, detail) plus the IAM calls
that make it (:class:`IamCall`: operation name and parameters). A :class:`Plan` is the list of
them with an id that confirms exactly this plan; :class:`ApplyResult` is what an apply did.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..spec import MANAGED_BY, AccessSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ACTIONS", "CHANGING", "COLUMNS", "RESOURCES", "SIDES", "ApplyResult", "Change",
           "IamCall", "Plan"]

SIDES = ("main", "consumer")
RESOURCES = ("role", "trust-policy", "role-settings", "tags", "policy", "policy-version",
             "attachment", "kms-key", "bucket-policy", "pitr", "trust-match", "resource-policy",
             "stream-policy", "grant-limits", "old-grant", "key-policy")
ACTIONS = ("create", "update", "delete", "no-op", "left-alone")
CHANGING = frozenset({"create", "update", "delete"})
COLUMNS = ("side", "resource", "name", "action", "detail")


@dataclass(frozen=True)
class IamCall:
    """One IAM API call: ``IamCall("TagRole", {"RoleName": "r", "Tags": [...]})``."""

    operation: str
    params: Mapping[str, Any]

    def __str__(self) -> str:
        return self.operation


@dataclass(frozen=True)
class Change:
    """One row of a plan. ``calls`` (empty for no-op and left-alone rows) are made in order, in
    the account of ``side``."""

    side: str      # "main" | "consumer"
    resource: str  # one of RESOURCES
    name: str
    action: str    # one of ACTIONS
    detail: str = ""
    calls: tuple[IamCall, ...] = field(default=(), compare=False, repr=False)
    # The consumer account whose IAM client makes the calls, for consumer-side rows of a spec with a
    # `consumers:` list ("" otherwise: the one consumer account).
    account: str = ""

    def __str__(self) -> str:
        return f"{self.action} {self.resource} {self.name} ({self.side})"

    def row(self) -> dict[str, str]:
        # A listed consumer's row says which consumer account it is made in.
        side = f"{self.side} {self.account}" if self.account else self.side
        return {"side": side, "resource": self.resource, "name": self.name,
                "action": self.action, "detail": self.detail}


@dataclass(frozen=True)
class Plan:
    """What apply (or destroy) would do, computed from the live state. ``id`` identifies this exact
    spec + set of changes (with every IAM call's parameters: the documents it would write) + the
    live state it was computed from (``observed``: per side, a digest of the role, policies,
    documents, versions, attachments and tags read); passing it as ``confirm`` approves exactly
    this plan, and any change to what was read gives another id."""

    spec: AccessSpec
    changes: tuple[Change, ...]
    destroy: bool = False
    sides: tuple[str, ...] = SIDES
    observed: tuple[tuple[str, str], ...] = ()  # (side, digest of the live state read)

    @property
    def id(self) -> str:
        payload = {"spec": self.spec.to_dict(), "destroy": self.destroy,
                   "changes": [[c.row(), [[call.operation, call.params] for call in c.calls]]
                               + ([c.account] if c.account else []) for c in self.changes],
                   "observed": dict(self.observed)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def side(self, side: str) -> Plan:
        """The part of this plan in one account: what notebook 01 (main) or 02 (consumer) plans,
        with the same id those notebooks compute from the same state."""
        return Plan(self.spec, tuple(c for c in self.changes if c.side == side), self.destroy, (side,),
                    tuple((s, d) for s, d in self.observed if s == side))

    @property
    def has_changes(self) -> bool:
        return any(c.action in CHANGING for c in self.changes)

    @property
    def pending(self) -> tuple[Change, ...]:
        """The changes apply would make, in order."""
        return tuple(c for c in self.changes if c.calls)

    @property
    def blocked(self) -> list[Change]:
        """Untagged resources that carry a name apply needs: apply refuses while they exist."""
        if self.destroy:
            return []
        needed: set[str] = set()
        for spec in self.spec.consumer_specs:
            if spec.uses_resource_policy:
                needed |= {spec.grant_policy_name}
            else:
                needed |= {spec.role_name, spec.consumer_policy_name,
                           *(spec.table_policy_name(t) for t in spec.table_names)}
        return [c for c in self.changes if c.action == "left-alone" and c.name in needed]

    def summary(self) -> dict[str, int]:
        return {action: sum(c.action == action for c in self.changes) for action in ACTIONS}

    def frame(self) -> pd.DataFrame:
        return changes_frame(self.changes)

    def headline(self) -> str:
        verb = "destroy" if self.destroy else "apply"
        s = self.spec
        count = f"{len(s.consumers)} consumer{'s' if len(s.consumers) > 1 else ''}"
        to = (f"{count} in " + ", ".join(sorted({c.account_id for c in s.consumers}))
              if s.consumers else f"consumer {s.consumer_account_id}")
        head = f"Plan {self.id} — {verb} env {s.env} (main {s.main_account_id} → {to})"
        if not self.has_changes:
            return f"{head}: no changes"
        counts = self.summary()
        return (f"{head}: {counts['create']} to create, {counts['update']} to update, "
                f"{counts['delete']} to delete, {counts['no-op']} unchanged")

    @property
    def key_policy_problems(self) -> list[Change]:
        """Customer-managed keys whose key policy keeps the role out (xacct-nb never changes them)."""
        return [c for c in self.changes if c.resource == "kms-key" and c.action == "left-alone"]

    def text(self) -> str:
        lines = [self.headline(), changes_table(self.changes)]
        if self.blocked:
            lines.append("apply would be refused: " + blocked_message(self.blocked))
        lines += [f"attention: table {c.name.split(' ', 1)[0]}: {c.detail}" for c in self.key_policy_problems]
        lines += [f"attention: table {c.name}: {c.detail}" for c in self.changes
                  if c.resource == "pitr" and c.action == "left-alone"]
        lines += [f"note: {c.name}: {c.detail}" for c in self.changes
                  if c.resource in ("grant-limits", "old-grant")]
        return "\n".join(lines)

    __str__ = text

    def _repr_html_(self) -> str:
        note = f"<p>{html.escape(blocked_message(self.blocked))}</p>" if self.blocked else ""
        return (f"<p><b>{html.escape(self.headline())}</b></p>"
                f"{self.frame().to_html(index=False)}{note}")


@dataclass
class ApplyResult:
    plan: Plan
    done: tuple[Change, ...]
    calls: int                     # IAM write calls made
    assumable: bool | None = None  # None: not checked (no analyst_profile, or nothing to wait for)
    # A spec with a `consumers:` list: (consumer's spec, its outcome) per consumer; `assumable` is
    # then False if any is False, None if none was checked, else True.
    checked: tuple[tuple[AccessSpec, bool | None], ...] = ()

    def frame(self) -> pd.DataFrame:
        return changes_frame(self.done)

    def text(self) -> str:
        verb = "Destroyed" if self.plan.destroy else "Applied"
        lines = [f"{verb} plan {self.plan.id} (env {self.plan.spec.env}): {len(self.done)} "
                 f"change(s), {self.calls} IAM write call(s)"]
        if self.done:
            lines.append(changes_table(self.done))
        left = [c for c in self.plan.changes if c.action == "left-alone"]
        if left:
            names = ", ".join(f"{c.resource} {c.name}" for c in left)
            lines.append(f"left alone (not tagged managed-by={MANAGED_BY}): {names}")
        for spec, assumable in self.checked or ((self.plan.spec, self.assumable),):
            if assumable is not None and spec.uses_resource_policy:
                state = "readable" if assumable else "NOT readable yet"
                lines.append(f"the granted tables are {state} by {spec.consumer_principal}")
            elif assumable is not None:
                state = "assumable" if assumable else "NOT assumable yet"
                lines.append(f"role {spec.role_arn} is {state}")
        return "\n".join(lines)

    __str__ = text

    def _repr_html_(self) -> str:
        first, *_ = self.text().splitlines()
        return f"<p><b>{html.escape(first)}</b></p>{self.frame().to_html(index=False)}"


def state_digest(*parts: Any) -> str:
    """A digest of live state as read (dataclasses, dicts, sets, dates), independent of the order
    sets and dict keys come in."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(json.dumps(v, sort_keys=True, default=_plain) for v in value)
    return str(value)


def blocked_message(blocked: list[Change]) -> str:
    names = ", ".join(f"{c.resource} {c.name} ({c.side} account)" for c in blocked)
    return (f"these exist without the tag managed-by={MANAGED_BY} and xacct-nb will not touch "
            f"them: {names} — delete or rename them, tag them managed-by={MANAGED_BY} to adopt "
            "them, or use another env")


def changes_frame(changes: Iterator[Change] | tuple[Change, ...] | list[Change]) -> pd.DataFrame:
    import pandas as pd  # here, not at import: the CLI and plain scripts do not pay for pandas

    return pd.DataFrame([c.row() for c in changes], columns=list(COLUMNS))


def changes_table(changes: tuple[Change, ...] | list[Change]) -> str:
    rows = [tuple(c.upper() for c in COLUMNS)] + [tuple(c.row().values()) for c in changes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join(("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  "
                      + r[-1]).rstrip() for r in rows)
