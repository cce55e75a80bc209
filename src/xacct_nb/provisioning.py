"""Provision the cross-account access with boto3: plan, apply, destroy — idempotent and confirmed.

What exists when an apply is done (names and documents from `spec` and `policies`):

* main account: the role (trust policy, description, MaxSessionDuration, optional permissions
  boundary, tags) and one managed policy per table, attached to the role;
* consumer account: the assume policy, attached to `consumer_principal` (a user or a role).

`plan(spec)` reads the live state of both accounts and lists one `Change` per resource: create,
update, delete, no-op, or left-alone (a same-named resource WITHOUT the tag
``managed-by=xacct-nb``: never updated or deleted, and `apply` refuses to run while one is in
the way). `apply(spec, confirm=plan.id)` re-plans and performs exactly those changes, in an order
AWS accepts; with nothing to change it makes no IAM write call at all (and needs no
confirmation). Policies we own that match our name prefix but whose table left the spec are
detached and deleted. `destroy` removes what is ours: attachments, old policy versions,
policies, then the role.

Every mutating call needs ``confirm`` equal to the plan's id or the env name; an AWS failure
midway raises `AwsError` saying what was already done — rerunning converges, because every run
starts from the live state.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from . import kms, policies
from .errors import AccessDenied, AwsError, ConfirmationRequired, InputError, SpecError, error_code, explain
from .sessions import assume_from_spec, profile_session, require_account, whoami
from .spec import ACCESS_LEVELS, MANAGED_BY, AccessSpec, TableAccess

if TYPE_CHECKING:
    import pandas as pd

SIDES = ("main", "consumer")
RESOURCES = ("role", "trust-policy", "role-settings", "tags", "policy", "policy-version", "attachment", "kms-key")
ACTIONS = ("create", "update", "delete", "no-op", "left-alone")
CHANGING = frozenset({"create", "update", "delete"})
READ_ONLY_PREFIXES = ("Get", "List", "Describe")
MAX_POLICY_VERSIONS = 5  # IAM's hard limit per managed policy
COLUMNS = ("side", "resource", "name", "action", "detail")


# ---------------------------------------------------------------------------------------------
# Public data


@dataclass(frozen=True)
class Change:
    side: str      # "main" | "consumer"
    resource: str  # one of RESOURCES
    name: str
    action: str    # one of ACTIONS
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action} {self.resource} {self.name} ({self.side})"


class _Step(NamedTuple):
    change: Change
    run: Callable[[], None] | None  # None for no-op / left-alone rows


@dataclass
class Plan:
    """What apply (or destroy) would do, computed from the live state. `id` identifies this exact
    spec + set of changes; passing it as ``confirm`` approves exactly this plan."""

    spec: AccessSpec
    changes: list[Change]
    id: str = ""
    destroy: bool = False
    _runs: list[Callable[[], None] | None] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = _plan_id(self.spec, self.changes, self.destroy)

    @property
    def has_changes(self) -> bool:
        return any(c.action in CHANGING for c in self.changes)

    @property
    def blocked(self) -> list[Change]:
        """Untagged resources that carry a name apply needs: apply refuses while they exist."""
        if self.destroy:
            return []
        needed = {self.spec.role_name, self.spec.consumer_policy_name,
                  *(self.spec.table_policy_name(t) for t in self.spec.table_names)}
        return [c for c in self.changes if c.action == "left-alone" and c.name in needed]

    def summary(self) -> dict[str, int]:
        return {action: sum(c.action == action for c in self.changes) for action in ACTIONS}

    def frame(self) -> "pd.DataFrame":
        return _frame(self.changes)

    def headline(self) -> str:
        verb = "destroy" if self.destroy else "apply"
        s = self.spec
        head = (f"Plan {self.id} — {verb} env {s.env} (main {s.main_account_id} → consumer "
                f"{s.consumer_account_id})")
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
        lines = [self.headline(), _table(self.changes)]
        if self.blocked:
            lines.append("apply would be refused: " + _blocked_message(self.blocked))
        lines += [f"attention: table {c.name.split(' ', 1)[0]}: {c.detail}" for c in self.key_policy_problems]
        return "\n".join(lines)

    __str__ = text

    def _repr_html_(self) -> str:
        note = f"<p>{html.escape(_blocked_message(self.blocked))}</p>" if self.blocked else ""
        return f"<p><b>{html.escape(self.headline())}</b></p>{self.frame().to_html(index=False)}{note}"

    def _pending(self) -> Iterator[tuple[Change, Callable[[], None]]]:
        for change, run in zip(self.changes, self._runs):
            if run is not None:
                yield change, run


@dataclass
class ApplyResult:
    plan: Plan
    done: list[Change]
    calls: int                   # IAM write calls made
    assumable: bool | None = None  # None: not checked (no analyst_profile, or nothing to wait for)

    def frame(self) -> "pd.DataFrame":
        return _frame(self.done)

    def text(self) -> str:
        verb = "Destroyed" if self.plan.destroy else "Applied"
        lines = [f"{verb} plan {self.plan.id} (env {self.plan.spec.env}): {len(self.done)} change(s), "
                 f"{self.calls} IAM write call(s)"]
        if self.done:
            lines.append(_table(self.done))
        left = [c for c in self.plan.changes if c.action == "left-alone"]
        if left:
            names = ", ".join(f"{c.resource} {c.name}" for c in left)
            lines.append(f"left alone (not tagged managed-by={MANAGED_BY}): {names}")
        if self.assumable is not None:
            state = "assumable" if self.assumable else "NOT assumable yet"
            lines.append(f"role {self.plan.spec.role_arn} is {state}")
        return "\n".join(lines)

    __str__ = text

    def _repr_html_(self) -> str:
        first, *_ = self.text().splitlines()
        return f"<p><b>{html.escape(first)}</b></p>{self.frame().to_html(index=False)}"


# ---------------------------------------------------------------------------------------------
# Public functions


def session_for_profile(profile: str | None, region: str, *, field: str = "profile") -> boto3.Session:
    """A session for a named profile (`sessions.profile_session`): a missing or unknown profile is
    an InputError naming the params `field`; ambient credentials are never used."""
    return profile_session(profile, region, field=field)


def plan(spec: AccessSpec, *, main: boto3.Session | None = None,
         consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES) -> Plan:
    """What `apply` would change, from the live state of the accounts in `sides` (default both:
    the runbook's notebook 01 plans only "main", 02 only "consumer"). Makes no changes."""
    return _build_plan(spec, _connect(spec, main, consumer, sides), destroy=False)


def plan_destroy(spec: AccessSpec, *, main: boto3.Session | None = None,
                 consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES) -> Plan:
    """What `destroy` would delete (and which same-named foreign resources it would leave alone)."""
    return _build_plan(spec, _connect(spec, main, consumer, sides), destroy=True)


def apply(spec: AccessSpec, confirm: str = "", *, main: boto3.Session | None = None,
          consumer: boto3.Session | None = None, analyst: boto3.Session | None = None,
          sides: tuple[str, ...] = SIDES, wait: bool = True, wait_timeout: float = 120,
          progress: Callable[[str], None] | None = None) -> ApplyResult:
    """Make the live state match `spec`. `confirm` must be the plan's id or the env name.

    With ``wait``, after an apply that created the role or changed who may assume it, retry
    AssumeRole as the analyst (`analyst` or ``spec.analyst_profile``) until IAM's eventual
    consistency lets it through; `ApplyResult.assumable` reports the outcome.
    """
    iam = _connect(spec, main, consumer, sides)
    the_plan = _build_plan(spec, iam, destroy=False)
    if the_plan.blocked:
        raise InputError(f"apply refused: {_blocked_message(the_plan.blocked)}")
    result = _execute(the_plan, confirm, iam)
    if wait and any(_affects_assume(c) for c in result.done):
        result.assumable = wait_until_assumable(spec, analyst=analyst, timeout=wait_timeout, progress=progress)
    return result


def destroy(spec: AccessSpec, confirm: str = "", *, main: boto3.Session | None = None,
            consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES) -> ApplyResult:
    """Delete what xacct-nb created for `spec.env`; same-named untagged resources are left alone."""
    iam = _connect(spec, main, consumer, sides)
    return _execute(_build_plan(spec, iam, destroy=True), confirm, iam)


def live_state(spec: AccessSpec, *, main: boto3.Session | None = None,
               consumer: boto3.Session | None = None, sides: tuple[str, ...] = SIDES):
    """What exists now, as a DataFrame: the role with its trust and attachments, each table
    policy with the access level its live document grants, the consumer policy. Read-only."""
    import pandas as pd

    iam = _connect(spec, main, consumer, sides)
    rows: list[dict[str, Any]] = []
    if iam.main is not None:
        with _aws("reading the main account's IAM state and table keys"):
            rows += _main_state(spec, iam.main, _table_keys(spec, iam))
    if iam.consumer is not None:
        with _aws("reading the consumer account's IAM state"):
            live = _read_policy(iam.consumer, spec.consumer_policy_arn)
            rows.append(_policy_row("consumer", spec.consumer_policy_name, live,
                                    "sts:AssumeRole on the role" if live and live.ours and policies.same_document(
                                        live.document, policies.consumer_policy(spec)) else "differs from spec"))
    return pd.DataFrame(rows, columns=["side", "resource", "name", "exists", "ours", "grants",
                                       "attached_to", "detail"])


def _main_state(spec: AccessSpec, iam: Any, keys: dict[str, kms.TableKey]) -> list[dict[str, Any]]:
    role = _read_role(iam, spec.role_name)
    rows = [{"side": "main", "resource": "role", "name": spec.role_name, "exists": role is not None,
             "ours": bool(role and role.ours),
             "grants": "sts:AssumeRole to " + ", ".join(_trusted(role.trust)) if role and role.ours else "",
             "attached_to": "", "detail": (f"max session {role.max_session} s, {len(role.attached)} "
                                           "managed policies attached" if role and role.ours else "")}]
    for table in spec.table_access_list:
        live = _read_policy(iam, spec.table_policy_arn(table.table_name))
        level = next((lvl for lvl in ACCESS_LEVELS if live and live.document is not None and policies.same_document(
            live.document, policies.table_policy(spec, TableAccess(table.table_name, lvl),
                                                 _key_arn(keys, table.table_name)))), None)
        grants = f"{level} on {table.table_name} (+ its indexes)" if level else ""
        if live and live.ours and level != table.access_type:
            grants += f" — spec says {table.access_type}: run apply"
        rows.append(_policy_row("main", spec.table_policy_name(table.table_name), live, grants))
    return rows


def _policy_row(side: str, name: str, live: _LivePolicy | None, grants: str) -> dict[str, Any]:
    return {"side": side, "resource": "policy", "name": name, "exists": live is not None,
            "ours": bool(live and live.ours), "grants": grants if live else "",
            "attached_to": ", ".join(f"{k} {n}" for k, n in sorted(live.entities)) if live else "",
            "detail": f"default version {live.default_version} of {len(live.versions)}" if live and live.ours else ""}


def _trusted(trust: Any) -> list[str]:
    doc = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    statements = doc.get("Statement", [])
    out = []
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal", {}).get("AWS", [])
        out += [principal] if isinstance(principal, str) else list(principal)
        if st.get("Condition"):
            out.append("with conditions " + json.dumps(st["Condition"], sort_keys=True))
    return out


def wait_until_assumable(spec: AccessSpec, *, analyst: boto3.Session | None = None, timeout: float = 120,
                         progress: Callable[[str], None] | None = None) -> bool | None:
    """Assume the role as the analyst, retrying while IAM answers AccessDenied (a new role or
    policy can be denied for 10-30 s) with jittered exponential backoff, for at most `timeout` s.

    Returns True once assumed, False if still denied at the deadline, None when there is no
    analyst session or it is not `consumer_principal` (then its answer would prove nothing).
    `progress` gets one line per attempt (default: print, flushed).
    """
    report = progress or _print_progress
    if analyst is None and not spec.analyst_profile:
        return None
    analyst = analyst or session_for_profile(spec.analyst_profile, spec.region, field="analyst_profile")
    who = whoami(analyst).principal_arn
    if _principal_key(who) != _principal_key(spec.consumer_principal):
        report(f"not checking that the role is assumable: analyst_profile is {who}, "
               f"not consumer_principal {spec.consumer_principal}")
        return None
    start = time.monotonic()
    try:
        assume_from_spec(spec, source=analyst, wait=timeout, progress=report)
    except AccessDenied as err:
        report(f"{err}")
        return False
    report(f"{who} can assume {spec.role_arn} ({time.monotonic() - start:.1f} s)")
    return True


# ---------------------------------------------------------------------------------------------
# Sessions, identity, write counting


class _Iam:
    """The IAM clients of the planned sides (None for a side left out), counting write calls."""

    def __init__(self, main: Any | None, consumer: Any | None, main_session: boto3.Session | None = None):
        self.main, self.consumer = main, consumer
        self.main_session = main_session  # reads the tables' encryption (DynamoDB, KMS)
        self.writes = 0
        for client in (main, consumer):
            if client is not None:
                client.meta.events.register("before-call.iam.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        if not model.name.startswith(READ_ONLY_PREFIXES):
            self.writes += 1


def _connect(spec: AccessSpec, main: boto3.Session | None, consumer: boto3.Session | None,
             sides: tuple[str, ...] = SIDES) -> _Iam:
    # Library code never falls back to ambient credentials: a session comes from the caller or
    # from the profile the params name, and must belong to the account the params name.
    unknown = set(sides) - set(SIDES)
    if unknown or not sides:
        raise InputError(f"sides={sides!r}: use 'main', 'consumer' or both")
    clients: dict[str, Any] = {}
    connected: dict[str, boto3.Session] = {}
    for side, session, account in (("main", main, spec.main_account_id),
                                   ("consumer", consumer, spec.consumer_account_id)):
        if side in sides:
            session = session or session_for_profile(getattr(spec, f"{side}_profile"), spec.region,
                                                     field=f"{side}_profile")
            require_account(session, account, f"{side}_profile")
            clients[side] = session.client("iam")
            connected[side] = session
    return _Iam(clients.get("main"), clients.get("consumer"), connected.get("main"))


def _table_keys(spec: AccessSpec, iam: _Iam) -> dict[str, kms.TableKey]:
    """The granted tables' customer-managed keys, read with the main session."""
    return kms.read_table_keys(spec, iam.main_session) if iam.main_session is not None else {}


def _key_arn(keys: dict[str, kms.TableKey], table: str) -> str | None:
    key = keys.get(table)
    return key.key_arn if key else None


@contextmanager
def _aws(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise explain(err, action) from err


def _print_progress(line: str) -> None:
    print(line, flush=True)


# ---------------------------------------------------------------------------------------------
# Live state


def _tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _ours(tags: dict[str, str]) -> bool:
    return tags.get("managed-by") == MANAGED_BY


@dataclass(frozen=True)
class _LivePolicy:
    arn: str
    tags: dict[str, str]
    document: Any = None
    default_version: str = ""
    versions: tuple[dict[str, Any], ...] = ()
    entities: frozenset[tuple[str, str]] = frozenset()  # (user|role|group, name) it is attached to

    @property
    def ours(self) -> bool:
        return _ours(self.tags)


@dataclass(frozen=True)
class _LiveRole:
    tags: dict[str, str]
    trust: Any = None
    description: str = ""
    max_session: int = 3600
    boundary: str | None = None
    attached: tuple[str, ...] = ()  # managed policy ARNs
    inline: tuple[str, ...] = ()

    @property
    def ours(self) -> bool:
        return _ours(self.tags)


def _read_policy(iam: Any, arn: str) -> _LivePolicy | None:
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise
    tags = _tag_dict(policy.get("Tags"))
    if not _ours(tags):
        return _LivePolicy(arn, tags)  # never touched, so its contents do not matter
    version = policy["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    versions = tuple(iam.list_policy_versions(PolicyArn=arn)["Versions"])
    entities: set[tuple[str, str]] = set()
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for kind in ("User", "Role", "Group"):
            entities.update((kind.lower(), e[f"{kind}Name"]) for e in page[f"Policy{kind}s"])
    return _LivePolicy(arn, tags, document, version, versions, frozenset(entities))


def _read_role(iam: Any, name: str) -> _LiveRole | None:
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise
    tags = _tag_dict(role.get("Tags"))
    if not _ours(tags):
        return _LiveRole(tags)
    attached = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for p in page["AttachedPolicies"]]
    inline = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
              for n in page["PolicyNames"]]
    return _LiveRole(tags, role["AssumeRolePolicyDocument"], role.get("Description", ""),
                     role.get("MaxSessionDuration", 3600),
                     role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
                     tuple(attached), tuple(inline))


def _prefixed_policies(iam: Any, prefix: str) -> dict[str, str]:
    """Customer-managed policies whose name starts with `prefix`: name → ARN."""
    return {p["PolicyName"]: p["Arn"]
            for page in iam.get_paginator("list_policies").paginate(Scope="Local")
            for p in page["Policies"] if p["PolicyName"].startswith(prefix)}


def _require_principal(spec: AccessSpec, iam: Any) -> None:
    kind, name = spec.principal_kind, spec.principal_name
    try:
        iam.get_user(UserName=name) if kind == "user" else iam.get_role(RoleName=name)
    except ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        raise SpecError("consumer_principal",
                        f"{spec.consumer_principal} does not exist in account {spec.consumer_account_id}",
                        f"create the {kind} first or fix consumer_principal") from None


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class _Want:
    """The desired state of one managed policy."""

    side: str
    name: str
    document: dict[str, Any]
    description: str
    tags: dict[str, str]
    attach: frozenset[tuple[str, str]]
    label: str                                    # what the document grants, for humans
    known: dict[str, dict[str, Any]] = field(default_factory=dict)  # label → other documents


def _table_prefix(spec: AccessSpec) -> str:
    return spec.table_policy_name("")


def _table_want(spec: AccessSpec, table: TableAccess, key_arn: str | None) -> _Want:
    levels = {level: policies.table_policy(spec, TableAccess(table.table_name, level), key_arn)
              for level in ACCESS_LEVELS}
    return _Want("main", spec.table_policy_name(table.table_name), levels[table.access_type],
                 spec.table_policy_description(table.table_name), spec.resource_tags,
                 frozenset({("role", spec.role_name)}),
                 f"{table.access_type} on {table.table_name}" + (" + kms:Decrypt on its key" if key_arn else ""), levels)


def _consumer_want(spec: AccessSpec) -> _Want:
    return _Want("consumer", spec.consumer_policy_name, policies.consumer_policy(spec),
                 spec.consumer_policy_description, spec.resource_tags,
                 frozenset({(spec.principal_kind, spec.principal_name)}), f"sts:AssumeRole on {spec.role_name}")


def _build_plan(spec: AccessSpec, iam: _Iam, destroy: bool) -> Plan:
    main: list[_Step] = []
    consumer: list[_Step] = []
    if iam.main is not None:
        with _aws("reading the main account's IAM state"):
            main = _main_steps(spec, iam.main, destroy, {} if destroy else _table_keys(spec, iam))
    if iam.consumer is not None:
        with _aws("reading the consumer account's IAM state"):
            consumer = _consumer_steps(spec, iam.consumer, destroy)
    # Destroy revokes the consumer's right to assume first; apply builds the role first.
    steps = consumer + main if destroy else main + consumer
    return Plan(spec, [s.change for s in steps], destroy=destroy, _runs=[s.run for s in steps])


def _main_steps(spec: AccessSpec, iam: Any, destroy: bool, keys: dict[str, kms.TableKey]) -> list[_Step]:
    found = _prefixed_policies(iam, _table_prefix(spec))
    wanted = {spec.table_policy_name(t.table_name): t for t in spec.table_access_list}
    live = {name: _read_policy(iam, arn) for name, arn in found.items()}
    role = _read_role(iam, spec.role_name)
    if destroy:
        steps = [s for name in sorted(found) for s in _policy_steps(iam, None, "main", name, live[name])]
        steps += [_row("main", "policy", name, "no-op", "absent") for name in wanted if name not in found]
        ours = {p.arn for p in live.values() if p is not None and p.ours}
        return steps + _role_teardown(spec, iam, role, ours)
    steps = _role_steps(spec, iam, role)
    # Tables that left the spec go first: that also frees attachment slots (10 per role by default).
    for name in sorted(set(found) - set(wanted)):
        steps += _policy_steps(iam, None, "main", name, live[name])
    for name, table in wanted.items():
        steps += _policy_steps(iam, _table_want(spec, table, _key_arn(keys, table.table_name)), "main", name,
                               live.get(name),
                               found.get(name, spec.table_policy_arn(table.table_name)))
    return steps + [_key_step(spec, key) for key in keys.values()]


def _key_step(spec: AccessSpec, key: kms.TableKey) -> _Step:
    """A row per customer-managed key: never changed by xacct-nb, "left-alone" when its key
    policy keeps the role out (then the row says what to add)."""
    name = f"{key.table} {key.key_arn}"
    if not key.admits_role:
        return _row("main", "kms-key", name, "left-alone", key.via)
    return _row("main", "kms-key", name, "no-op",
                f"key policy admits the role ({key.via}); {spec.table_policy_name(key.table)} grants "
                f"kms:Decrypt/DescribeKey via {policies.dynamodb_service(spec.region)}")


def _consumer_steps(spec: AccessSpec, iam: Any, destroy: bool) -> list[_Step]:
    live = _read_policy(iam, spec.consumer_policy_arn)
    if destroy:
        return _policy_steps(iam, None, "consumer", spec.consumer_policy_name, live)
    _require_principal(spec, iam)
    return _policy_steps(iam, _consumer_want(spec), "consumer", spec.consumer_policy_name, live,
                         spec.consumer_policy_arn)


def _row(side: str, resource: str, name: str, action: str, detail: str = "",
         run: Callable[[], None] | None = None) -> _Step:
    return _Step(Change(side, resource, name, action, detail), run)


def _left_alone(side: str, resource: str, name: str) -> _Step:
    return _row(side, resource, name, "left-alone", f"exists without tag managed-by={MANAGED_BY}: not ours")


# --- the role ---------------------------------------------------------------------------------

def _role_steps(spec: AccessSpec, iam: Any, live: _LiveRole | None) -> list[_Step]:
    name = spec.role_name
    if live is None:
        detail = f"{_trust_summary(spec)}; max session {spec.max_session_duration} s"
        return [_row("main", "role", name, "create", detail, partial(_create_role, iam, spec))]
    if not live.ours:
        return [_left_alone("main", "role", name)]
    trust = policies.trust_policy(spec)
    steps = [_row("main", "role", name, "no-op", f"tagged managed-by={MANAGED_BY}")]
    if policies.same_document(live.trust, trust):
        steps.append(_row("main", "trust-policy", name, "no-op", _trust_summary(spec)))
    else:
        steps.append(_row("main", "trust-policy", name, "update", f"replace with: {_trust_summary(spec)}",
                          partial(iam.update_assume_role_policy, RoleName=name,
                                  PolicyDocument=policies.to_json(trust))))
    steps.append(_role_settings_step(spec, iam, live))
    steps.append(_tags_step("main", name, live.tags, spec.resource_tags,
                            partial(iam.tag_role, RoleName=name), partial(iam.untag_role, RoleName=name)))
    return steps


def _trust_summary(spec: AccessSpec) -> str:
    text = f"trusts arn:aws:iam::{spec.consumer_account_id}:root"
    if spec.trusted_principals:
        text += f" narrowed to {len(spec.trusted_principals)} principal ARN(s)"
    if spec.external_id:
        text += " with an external id"
    if spec.require_source_identity:
        text += " requiring a SourceIdentity"
    return text


def _create_role(iam: Any, spec: AccessSpec) -> None:
    extra = {"PermissionsBoundary": spec.permissions_boundary_arn} if spec.permissions_boundary_arn else {}
    trust = policies.to_json(policies.trust_policy(spec))
    iam.create_role(RoleName=spec.role_name, AssumeRolePolicyDocument=trust, Description=spec.role_description,
                    MaxSessionDuration=spec.max_session_duration, Tags=_tag_list(spec.resource_tags), **extra)


def _role_settings_step(spec: AccessSpec, iam: Any, live: _LiveRole) -> _Step:
    name = spec.role_name
    diffs = []
    settings_differ = (live.description, live.max_session) != (spec.role_description, spec.max_session_duration)
    if live.description != spec.role_description:
        diffs.append("description")
    if live.max_session != spec.max_session_duration:
        diffs.append(f"max session {live.max_session} → {spec.max_session_duration} s")
    boundary_differs = live.boundary != spec.permissions_boundary_arn
    if boundary_differs:
        want = spec.permissions_boundary_arn or "none"
        diffs.append(f"permissions boundary {live.boundary or 'none'} → {want}")
    if not diffs:
        return _row("main", "role-settings", name, "no-op",
                    f"max session {live.max_session} s, permissions boundary {live.boundary or 'none'}")

    def run() -> None:
        if settings_differ:
            # Always both: UpdateRole may reset the one left out (moto does; AWS documents neither way).
            iam.update_role(RoleName=name, Description=spec.role_description,
                            MaxSessionDuration=spec.max_session_duration)
        if boundary_differs and spec.permissions_boundary_arn:
            iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=spec.permissions_boundary_arn)
        elif boundary_differs:
            iam.delete_role_permissions_boundary(RoleName=name)

    return _row("main", "role-settings", name, "update", ", ".join(diffs), run)


def _role_teardown(spec: AccessSpec, iam: Any, live: _LiveRole | None, ours: set[str]) -> list[_Step]:
    """Destroy rows for the role. Our policies are detached by their own rows; whatever else is on
    the role (attached by hand) must go too, or DeleteRole fails with DeleteConflict."""
    name = spec.role_name
    if live is None:
        return [_row("main", "role", name, "no-op", "absent")]
    if not live.ours:
        return [_left_alone("main", "role", name)]
    steps = [_row("main", "attachment", arn.rsplit("/", 1)[1], "delete",
                  f"from role/{name} (attached outside xacct-nb)",
                  partial(iam.detach_role_policy, RoleName=name, PolicyArn=arn))
             for arn in live.attached if arn not in ours]
    steps += [_row("main", "policy", f"{name}/{inline}", "delete", "inline policy of the role",
                   partial(iam.delete_role_policy, RoleName=name, PolicyName=inline)) for inline in live.inline]
    return steps + [_row("main", "role", name, "delete", "", partial(iam.delete_role, RoleName=name))]


# --- managed policies (table policies and the consumer policy) ---------------------------------

def _policy_steps(iam: Any, want: _Want | None, side: str, name: str, live: _LivePolicy | None,
                  arn: str = "") -> list[_Step]:
    """Rows converging one managed policy to `want` (None: it must not exist)."""
    if live is None and want is None:
        return [_row(side, "policy", name, "no-op", "absent")]
    if live is None:
        steps = [_row(side, "policy", name, "create", want.label, partial(_create_policy, iam, want))]
        return steps + [_attach_step(iam, side, name, arn, entity) for entity in sorted(want.attach)]
    if not live.ours:
        return [_left_alone(side, "policy", name)]
    if want is None:
        old = len(live.versions) - 1
        steps = [_detach_step(iam, side, name, live.arn, entity) for entity in sorted(live.entities)]
        return steps + [_row(side, "policy", name, "delete", f"with {old} old version(s)" if old else "",
                             partial(_delete_policy, iam, live))]
    steps = [_row(side, "policy", name, "no-op", f"tagged managed-by={MANAGED_BY}"),
             _version_step(iam, want, live),
             _tags_step(side, name, live.tags, want.tags, partial(iam.tag_policy, PolicyArn=live.arn),
                        partial(iam.untag_policy, PolicyArn=live.arn))]
    for entity in sorted(want.attach | live.entities):
        if entity not in live.entities:
            steps.append(_attach_step(iam, side, name, live.arn, entity))
        elif entity not in want.attach:
            steps.append(_detach_step(iam, side, name, live.arn, entity))
        else:
            steps.append(_row(side, "attachment", name, "no-op", f"to {entity[0]}/{entity[1]}"))
    return steps


def _create_policy(iam: Any, want: _Want) -> None:
    iam.create_policy(PolicyName=want.name, PolicyDocument=policies.to_json(want.document),
                      Description=want.description, Tags=_tag_list(want.tags))


def _delete_policy(iam: Any, live: _LivePolicy) -> None:
    # DeletePolicy needs every non-default version gone first (AWS refuses otherwise).
    for version in live.versions:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=live.arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=live.arn)


def _version_step(iam: Any, want: _Want, live: _LivePolicy) -> _Step:
    if policies.same_document(live.document, want.document):
        return _row(want.side, "policy-version", want.name, "no-op",
                    f"default {live.default_version} grants {want.label}")
    was = next((label for label, doc in want.known.items() if policies.same_document(live.document, doc)),
               "a different document")
    prune = _oldest_non_default(live.versions) if len(live.versions) >= MAX_POLICY_VERSIONS else None
    detail = f"{was} → {want.label}: new default version"
    if prune:
        detail += f", deleting the oldest non-default version {prune} (IAM keeps {MAX_POLICY_VERSIONS})"

    def run() -> None:
        if prune:
            iam.delete_policy_version(PolicyArn=live.arn, VersionId=prune)
        iam.create_policy_version(PolicyArn=live.arn, PolicyDocument=policies.to_json(want.document),
                                  SetAsDefault=True)

    return _row(want.side, "policy-version", want.name, "update", detail, run)


def _oldest_non_default(versions: tuple[dict[str, Any], ...]) -> str:
    old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    return old[0]["VersionId"]


def _attach_step(iam: Any, side: str, policy_name: str, arn: str, entity: tuple[str, str]) -> _Step:
    kind, who = entity
    call = getattr(iam, f"attach_{kind}_policy")
    return _row(side, "attachment", policy_name, "create", f"to {kind}/{who}",
                partial(call, **{f"{kind.capitalize()}Name": who, "PolicyArn": arn}))


def _detach_step(iam: Any, side: str, policy_name: str, arn: str, entity: tuple[str, str]) -> _Step:
    kind, who = entity
    call = getattr(iam, f"detach_{kind}_policy")
    return _row(side, "attachment", policy_name, "delete", f"from {kind}/{who}",
                partial(call, **{f"{kind.capitalize()}Name": who, "PolicyArn": arn}))


def _tags_step(side: str, name: str, live: dict[str, str], want: dict[str, str],
               tag: Callable[..., Any], untag: Callable[..., Any]) -> _Step:
    """Converge a resource's tags to exactly `want` (the resource is ours, so foreign tags go)."""
    add = {k: v for k, v in want.items() if live.get(k) != v}
    drop = sorted(set(live) - set(want))
    if not add and not drop:
        return _row(side, "tags", name, "no-op", f"{len(want)} tags as in the spec")

    def run() -> None:
        if add:
            tag(Tags=_tag_list(add))
        if drop:
            untag(TagKeys=drop)

    detail = ", ".join([f"set {k}={v}" for k, v in sorted(add.items())] + [f"remove {k}" for k in drop])
    return _row(side, "tags", name, "update", detail, run)


# ---------------------------------------------------------------------------------------------
# Executing


def _execute(the_plan: Plan, confirm: str, iam: _Iam) -> ApplyResult:
    if not the_plan.has_changes:
        return ApplyResult(the_plan, [], iam.writes)
    if confirm not in (the_plan.id, the_plan.spec.env):
        verb = "destroy" if the_plan.destroy else "apply"
        err = ConfirmationRequired(
            f"{verb} needs confirmation: review plan {the_plan.id} ({the_plan.headline()}), then pass "
            f"confirm={the_plan.id!r} (or the env name {the_plan.spec.env!r}); on the CLI add --yes")
        err.plan = the_plan
        raise err
    done: list[Change] = []
    for change, run in the_plan._pending():
        try:
            run()
        except (ClientError, BotoCoreError) as err:
            raise _interrupted(the_plan, change, done, err) from err
        done.append(change)
    return ApplyResult(the_plan, done, iam.writes)


def _interrupted(the_plan: Plan, change: Change, done: list[Change], err: Exception) -> AwsError:
    verb = "destroy" if the_plan.destroy else "apply"
    cause = explain(err, f"{verb} stopped at '{change}'")
    made = "; ".join(str(c) for c in done) or "nothing"
    left = sum(1 for _ in the_plan._pending()) - len(done)
    kind = type(cause) if isinstance(cause, AwsError) else AwsError  # keep AccessDenied an AccessDenied
    out = kind(f"{cause} — done before that: {made}; {left} change(s) not made. Fix the cause and "
               f"re-run {verb}: it starts from the live state, so it converges without duplicates",
               getattr(cause, "code", None))
    out.done = done
    out.plan = the_plan
    return out


def _affects_assume(change: Change) -> bool:
    """Changes after which IAM may deny the analyst for a while (new grants propagate slowly)."""
    if change.side == "consumer":
        return change.resource in {"policy", "policy-version", "attachment"}
    return (change.resource, change.action) in {("role", "create"), ("trust-policy", "update")}


def _principal_key(arn: str) -> tuple[str, ...]:
    """(account, user|role, name) of a user or role ARN, ignoring its path."""
    *_, account, resource = arn.split(":", 5)
    kind, _, rest = resource.partition("/")
    return account, kind, rest.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Presentation


def _plan_id(spec: AccessSpec, changes: list[Change], destroy: bool) -> str:
    payload = {"spec": spec.to_dict(), "destroy": destroy, "changes": [asdict(c) for c in changes]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]


def _blocked_message(blocked: list[Change]) -> str:
    names = ", ".join(f"{c.resource} {c.name} ({c.side} account)" for c in blocked)
    return (f"these exist without the tag managed-by={MANAGED_BY} and xacct-nb will not touch them: {names} — "
            f"delete or rename them, tag them managed-by={MANAGED_BY} to adopt them, or use another env")


def _frame(changes: list[Change]) -> "pd.DataFrame":
    import pandas as pd  # here, not at import: the CLI and plain scripts do not pay for pandas

    return pd.DataFrame([asdict(c) for c in changes], columns=list(COLUMNS))


def _table(changes: list[Change]) -> str:
    rows = [tuple(c.upper() for c in COLUMNS)] + [tuple(asdict(c).values()) for c in changes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join(("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows)
