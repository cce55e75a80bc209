"""The access spec: which consumer may read which main-account tables, validated, plus the names.

A spec is the parsed params file (``params/*.yaml``). `parse_spec` turns any YAML value into an
`AccessSpec` or raises `SpecError` with ONE line naming the offending key as a dotted path
(``table_access_list[1].access_type``) and how to fix it; it never raises anything else.

Naming conventions (from the reference Terraform module; keep them exactly, the role ARN is
what consumers hard-code):

* role (main account):           ``{env}-ddb_cross_acc_access_role-{consumer_account_id}``
* one policy per table (main):   ``{env}-DynamoDBTableAccess-{consumer_account_id}-{table}``
* assume policy (consumer):      ``{env}-AssumeDdbCrossAccRole-{main_account_id}``
* table ARN:                     ``arn:aws:dynamodb:{region}:{main_account_id}:table/{table}``

Character sets. IAM names allow ``[A-Za-z0-9+=,.@_-]``; ``env`` is restricted to
``[A-Za-z0-9_-]``, starting with a letter or digit, 1-32 chars, because it also appears in tags,
Terraform identifiers and file names where ``+=,.@`` are awkward. Table names use DynamoDB's own
set ``[A-Za-z0-9_.-]`` (3-255 chars), a subset of IAM's, but the policy name built from one must
still fit in IAM's 128 characters. Only the ``aws`` partition is supported: every ARN built here
starts ``arn:aws:``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import reprlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import strict_yaml
from .errors import SpecError

ACCESS_LEVELS = ("Read", "ReadWriteUpdate", "Full")
# How the grant is made: a role in the main account the consumer assumes (the reference design),
# or statements in each table's DynamoDB resource-based policy naming the consumer principal.
GRANT_MODES = ("role", "resource_policy")
# Keys that configure the role and mean nothing in resource_policy mode (refused there, so a
# spec never says more than it does).
ROLE_ONLY_FIELDS = ("external_id", "max_session_duration", "permissions_boundary_arn",
                    "trusted_principal_arns", "trust_whole_consumer_account",
                    "require_source_identity", "session_name")

MANAGED_BY = "xacct-nb"
# One managed policy per table (the reference design), all attached to one role: IAM's default
# quota is 10 managed policies per role, so an 11th table would fail midway through an apply.
MAX_TABLES = 10
MAX_TRUSTED_PRINCIPALS = 20  # keeps the trust policy within IAM's 2048-character default quota for usual ARNs
MAX_TAGS = 40              # IAM allows 50 per resource; we add RESERVED_TAG_KEYS ourselves
MAX_ROLE_NAME = 64
MAX_POLICY_NAME = 128
SESSION_DURATION_RANGE = (3600, 43200)  # IAM's MaxSessionDuration bounds, in seconds
CONSUMER_KEY_TAG = "consumer-key"
RESERVED_TAG_KEYS = ("managed-by", "env", "consumer-account", CONSUMER_KEY_TAG)

# fullmatch everywhere (a `$` would accept a trailing newline) and ASCII classes only (`\d`
# and `\w` would otherwise accept e.g. Arabic-Indic digits, which AWS rejects later).
_ACCOUNT = re.compile(r"[0-9]{12}")
_ENV = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_OTHER_PARTITION_REGION = re.compile(r"(cn|us-gov|us-iso[a-z]?|eu-isoe)-.*")
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_IAM_NAME = r"[A-Za-z0-9+=,.@_-]"
_PRINCIPAL = re.compile(
    rf"arn:aws:iam::(?P<account>[0-9]{{12}}):(?:user|role)/(?:{_IAM_NAME}+/)*(?P<name>{_IAM_NAME}{{1,64}})")
# aws:PrincipalArn patterns may use the ArnLike wildcards * and ?.
_TRUSTED = re.compile(r"arn:aws:iam::(?P<account>[0-9]{12}):(?:user|role)/[A-Za-z0-9+=,.@_/*?-]{1,512}")
_POLICY_ARN = re.compile(rf"arn:aws:iam::(?P<account>[0-9]{{12}}|aws):policy/(?:{_IAM_NAME}+/)*{_IAM_NAME}{{1,128}}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_+=,.@:/-]{2,1224}")
_SESSION_NAME = re.compile(rf"{_IAM_NAME}{{2,64}}")
_TAG_TEXT = re.compile(r"[A-Za-z0-9_ .:/=+@-]*")  # IAM's tag charset, ASCII letters only


# ---------------------------------------------------------------------------------------------
# Naming conventions (the reference's, exactly)

def role_name(env: str, consumer_account_id: str) -> str:
    return f"{env}-ddb_cross_acc_access_role-{consumer_account_id}"


def table_policy_name(env: str, consumer_account_id: str, table: str) -> str:
    return f"{env}-DynamoDBTableAccess-{consumer_account_id}-{table}"


def consumer_policy_name(env: str, main_account_id: str) -> str:
    return f"{env}-AssumeDdbCrossAccRole-{main_account_id}"


def grant_policy_name(env: str, main_account_id: str) -> str:
    return f"{env}-DdbCrossAccTableAccess-{main_account_id}"


def consumer_suffix(principal: str) -> str:
    """The name suffix of every consumer of a `consumers:` list but the first: "." and 6 hex
    digits of the principal ARN's SHA-256 — deterministic, the same wherever the consumer is
    listed (after the first), and "." keeps a suffixed name from starting with another's prefix."""
    import hashlib

    return "." + hashlib.sha256(principal.encode()).hexdigest()[:6]


def table_arn(region: str, account: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}"


def iam_arn(account: str, kind: str, name: str) -> str:
    """ARN of an IAM role or customer-managed policy at the default path."""
    return f"arn:aws:iam::{account}:{kind}/{name}"


# ---------------------------------------------------------------------------------------------
# The spec

class FrozenMap(Mapping[str, str]):
    """A read-only, hashable str→str mapping, so a frozen `AccessSpec` is really immutable.

    Unlike `types.MappingProxyType` it survives `copy.deepcopy`, pickling and
    `dataclasses.asdict`, which other code may reasonably apply to a spec.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None):
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True)
class TableAccess:
    table_name: str
    access_type: str  # one of ACCESS_LEVELS


@dataclass(frozen=True)
class ExportTarget:
    """Where DynamoDB exports go: a bucket in the consumer account and a key prefix in it."""

    bucket: str
    prefix: str  # no leading or trailing "/"

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    @property
    def objects_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.prefix}/*"


@dataclass(frozen=True)
class Consumer:
    """One entry of the spec's ``consumers:`` list: a principal of `account_id` granted `tables`
    (the spec's tables, or a subset of them at the same or a narrower level)."""

    account_id: str
    principal: str
    tables: tuple[TableAccess, ...]
    consumer_profile: str | None = None
    analyst_profile: str | None = None
    trusted_principal_arns: tuple[str, ...] = ()
    trust_whole_account: bool = False


@dataclass(frozen=True)
class AccessSpec:
    """Who (consumer_principal in consumer_account_id) may do what (access_type) to which tables
    of main_account_id. Build it with `parse_spec`/`load_spec`, which validate every field."""

    env: str
    region: str
    main_account_id: str
    consumer_account_id: str
    main_profile: str | None
    consumer_profile: str | None
    analyst_profile: str | None
    consumer_principal: str
    table_access_list: tuple[TableAccess, ...]
    external_id: str | None = None
    max_session_duration: int = 3600
    permissions_boundary_arn: str | None = None
    trusted_principal_arns: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=FrozenMap)
    outsider_profile: str | None = None
    session_name: str = "xacct-nb"
    # Trust the consumer account's root with no aws:PrincipalArn condition (the reference
    # design): every consumer principal its admins allow may assume. Off: only the principals below.
    trust_whole_consumer_account: bool = False
    # The trust admits only sessions that carry a SourceIdentity (who is reading, in CloudTrail).
    require_source_identity: bool = False
    # DynamoDB exports of the granted tables into the consumer's bucket (optional).
    export: ExportTarget | None = None
    # "role" (assume a role in the main account) or "resource_policy" (the tables' own policies).
    grant_mode: str = "role"
    # resource_policy mode only: also admit every principal of this AWS Organization (through an
    # aws:PrincipalOrgID condition; each still needs an identity policy of its own account).
    organization_id: str | None = None
    # resource_policy mode only: also write (and on destroy remove) our Sid-marked statement in the
    # key policy of each granted table's customer-managed KMS key, admitting the consumer principal.
    manage_key_policy: bool = False
    # Many consumers in one spec (`consumers:`); empty: the single-consumer keys above say it all.
    # With a list, the single-consumer fields above hold its FIRST consumer (so what is not
    # consumer-aware acts on it) and `consumer_specs` gives one single-consumer spec per entry.
    consumers: tuple[Consumer, ...] = ()
    # Set only on the specs `consumer_specs` returns (never parsed from a file): "" for the first
    # consumer (today's names exactly), "." + a digest of the principal for the others.
    name_suffix: str = ""
    listed_consumer: bool = False

    def __post_init__(self) -> None:
        # Copy, so a caller mutating the dict it passed cannot change a frozen spec.
        object.__setattr__(self, "tags", FrozenMap(self.tags))

    # names and ARNs -------------------------------------------------------------------------
    @property
    def consumer_key(self) -> str:
        """The consumer's part of IAM names: its account id (+ `name_suffix` after the first)."""
        return self.consumer_account_id + self.name_suffix

    @property
    def role_name(self) -> str:
        return role_name(self.env, self.consumer_key)

    @property
    def role_arn(self) -> str:
        return iam_arn(self.main_account_id, "role", self.role_name)

    @property
    def consumer_policy_name(self) -> str:
        return consumer_policy_name(self.env, self.main_account_id) + self.name_suffix

    @property
    def consumer_policy_arn(self) -> str:
        return iam_arn(self.consumer_account_id, "policy", self.consumer_policy_name)

    def table_policy_name(self, table_name: str) -> str:
        return table_policy_name(self.env, self.consumer_key, table_name)

    def table_policy_arn(self, table_name: str) -> str:
        return iam_arn(self.main_account_id, "policy", self.table_policy_name(table_name))

    def table_arn(self, table_name: str) -> str:
        return table_arn(self.region, self.main_account_id, table_name)

    @property
    def uses_resource_policy(self) -> bool:
        return self.grant_mode == "resource_policy"

    def read_name(self, table_name: str) -> str:
        """How a reader names the table in TableName: its ARN in resource_policy mode (the analyst's
        own session is in the consumer account, so a bare name would be ITS table), else the name."""
        return self.table_arn(table_name) if self.uses_resource_policy else table_name

    @property
    def read_names(self) -> dict[str, str]:
        """Each granted table → the name a read passes as TableName (see `read_name`)."""
        return {name: self.read_name(name) for name in self.table_names}

    @property
    def grant_policy_name(self) -> str:
        """The consumer-side managed policy of resource_policy mode (the same actions as the tables'
        resource policies grant, on the main account's table ARNs)."""
        return grant_policy_name(self.env, self.main_account_id) + self.name_suffix

    @property
    def grant_policy_arn(self) -> str:
        return iam_arn(self.consumer_account_id, "policy", self.grant_policy_name)

    # descriptions, shared by the IAM provisioning and the Terraform export ---------------------
    @property
    def role_description(self) -> str:
        return (f"Role that provides access to DynamoDB tables for account "
                f"{self.consumer_account_id} on {self.env} env")

    def table_policy_description(self, table_name: str) -> str:
        return (f"Access policy to DynamoDB {table_name} table for account "
                f"{self.consumer_account_id} on {self.env} env")

    @property
    def grant_policy_description(self) -> str:
        return (f"Allows DynamoDB access to tables of {self.main_account_id} granted by their resource "
                f"policies on {self.env} env")

    @property
    def consumer_policy_description(self) -> str:
        return f"Allows assuming {self.role_arn} to access DynamoDB tables on {self.env} env"

    # the consumer principal ------------------------------------------------------------------
    @property
    def trusted_principals(self) -> tuple[str, ...]:
        """The ``aws:PrincipalArn`` values the trust admits; () when it admits the whole account."""
        if self.trust_whole_consumer_account:
            return ()
        return self.trusted_principal_arns or (self.consumer_principal,)

    @property
    def principal_kind(self) -> str:
        """"user" or "role": decides which attach call / Terraform resource the consumer side uses."""
        return self.consumer_principal.split(":", 5)[5].split("/", 1)[0]

    @property
    def principal_name(self) -> str:
        """The user or role name without its path, as IAM's Attach*Policy calls want it."""
        return self.consumer_principal.rsplit("/", 1)[1]

    # tables and tags -------------------------------------------------------------------------
    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.table_name for t in self.table_access_list)

    def table(self, name: str) -> TableAccess:
        for entry in self.table_access_list:
            if entry.table_name == name:
                return entry
        raise SpecError("table_access_list", f"has no table {_show(name)}",
                        f"use one of: {', '.join(self.table_names)}")

    @property
    def resource_tags(self) -> dict[str, str]:
        """Tags for every IAM resource we create; ours come last so user tags cannot override them
        (`parse_spec` also rejects user tags with our keys)."""
        tags = {**self.tags, "managed-by": MANAGED_BY, "env": self.env,
                "consumer-account": self.consumer_account_id}
        if self.listed_consumer:  # how the next plan finds what a consumer removed from the list left
            tags[CONSUMER_KEY_TAG] = self.consumer_key
        return tags

    @property
    def consumer_specs(self) -> tuple[AccessSpec, ...]:
        """One single-consumer spec per consumer (just this spec without a `consumers:` list):
        its account, principal, profiles, trust and tables, and its names (`name_suffix`)."""
        if not self.consumers:
            return (self,)
        return tuple(dataclasses.replace(
            self, consumer_account_id=c.account_id, consumer_principal=c.principal,
            consumer_profile=c.consumer_profile, analyst_profile=c.analyst_profile,
            trusted_principal_arns=c.trusted_principal_arns, trust_whole_consumer_account=c.trust_whole_account,
            table_access_list=c.tables, consumers=(), name_suffix="" if i == 0 else consumer_suffix(c.principal),
            listed_consumer=True) for i, c in enumerate(self.consumers))

    def consumer_spec(self, profile: str | None, field_name: str = "analyst_profile") -> AccessSpec:
        """The consumer whose analyst_profile is `profile` (None: the first): who reads decides
        which grant the reading goes through. `field_name`: what the error names (a CLI flag)."""
        for sub in self.consumer_specs:
            if profile is None or sub.analyst_profile == profile:
                return sub
        known = ", ".join(str(s.analyst_profile) for s in self.consumer_specs)
        raise SpecError(field_name, f"{_show(profile)} is the analyst_profile of no consumer of the spec",
                        f"use one of: {known}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-ready) that `parse_spec` turns back into an equal spec. A spec
        without a `consumers:` list gives exactly the keys it always gave (the plan id hashes this)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
               if f.name not in _INTERNAL_FIELDS}
        if not self.consumers:
            del out["consumers"]
        else:
            for key in CONSUMER_SINGLE_KEYS:
                del out[key]
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Consumer):
        return {"account_id": value.account_id, "principal": value.principal,
                "consumer_profile": value.consumer_profile, "analyst_profile": value.analyst_profile,
                "tables": {t.table_name: t.access_type for t in value.tables},
                "trusted_principal_arns": list(value.trusted_principal_arns),
                "trust_whole_account": value.trust_whole_account}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, TableAccess):
        return {"table_name": value.table_name, "access_type": value.access_type}
    if isinstance(value, ExportTarget):
        return {"bucket": value.bucket, "prefix": value.prefix}
    if isinstance(value, Mapping):
        return dict(value)
    return value


# ---------------------------------------------------------------------------------------------
# Parsing

_INTERNAL_FIELDS = ("name_suffix", "listed_consumer")
FIELDS = tuple(f.name for f in dataclasses.fields(AccessSpec) if f.name not in _INTERNAL_FIELDS)
REQUIRED = ("env", "region", "main_account_id", "consumer_account_id", "consumer_principal",
            "table_access_list")
# What a `consumers:` entry says for each consumer: with the list, these top-level keys are refused.
CONSUMER_SINGLE_KEYS = ("consumer_account_id", "consumer_principal", "consumer_profile", "analyst_profile",
                        "trusted_principal_arns", "trust_whole_consumer_account")
CONSUMER_KEYS = ("account_id", "principal", "consumer_profile", "analyst_profile", "tables",
                 "trusted_principal_arns", "trust_whole_account")
MAX_CONSUMERS = 20
TABLE_KEYS = ("table_name", "access_type")
_INT_FIELDS = frozenset({"max_session_duration"})
_BOOL_FIELDS = frozenset({"trust_whole_consumer_account", "require_source_identity", "manage_key_policy"})
_BOOL_WORDS = {"true": True, "false": False}
_HINTS = {
    "env": "e.g. env: dev",
    "region": "e.g. region: us-east-1",
    "main_account_id": "e.g. main_account_id: '111111111111' (quoted)",
    "consumer_account_id": "e.g. consumer_account_id: '222222222222' (quoted)",
    "consumer_principal": "e.g. consumer_principal: arn:aws:iam::222222222222:user/analyst",
    "table_access_list": "e.g. table_access_list: [{table_name: orders, access_type: Read}]",
}


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> AccessSpec:
    """Read and validate a params YAML file; any problem with the file itself names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise SpecError(str(path), f"cannot read the params file ({reason})",
                        "check the path (see params/*.yaml) and that it is a UTF-8 text file") from None
    try:
        data = strict_yaml.load(text)  # refuses duplicate keys: safe_load keeps the last silently
    except strict_yaml.StrictYamlError as err:
        raise SpecError(err.path, f"{err.problem} in {path} ({err.where})", err.fix) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise SpecError(str(path), f"is not valid YAML{where}: {problem}",
                        "fix the YAML syntax (indentation, quotes, colons)") from None
    return parse_spec(data, overrides)


def parse_spec(data: Any, overrides: Mapping[str, Any] | None = None) -> AccessSpec:
    """Validate `data` (the parsed YAML) plus CLI-style `overrides` (top-level key → value;
    strings of digits are coerced for integer keys) into an `AccessSpec`.

    Raises only `SpecError`, whose `field` is the dotted path of the first offending key.
    """
    if not isinstance(data, Mapping):
        raise SpecError("params", f"must be a mapping of keys to values, got {_type(data)}",
                        f"write `key: value` lines with the keys {', '.join(REQUIRED)}")
    data = {**data, **_coerce_overrides(overrides)}
    _reject_unknown(data, FIELDS, "")
    listed = data.get("consumers") is not None
    if listed:
        both = [key for key in CONSUMER_SINGLE_KEYS if data.get(key) is not None]
        if both:
            raise SpecError(both[0], "is a single-consumer key, and the spec has a consumers: list",
                            "say it in each consumers entry (account_id, principal, consumer_profile, "
                            "analyst_profile, ...) or remove the consumers: list")
        first = _first_consumer_keys(data["consumers"])
        data = {**data, **first}
    for key in REQUIRED:
        if data.get(key) is None:
            raise SpecError(key, "is required", _HINTS[key])

    main = _account(data["main_account_id"], "main_account_id")
    consumer = _account(data["consumer_account_id"], "consumers[0].account_id" if listed else "consumer_account_id")
    if main == consumer:
        raise SpecError("consumers[0].account_id" if listed else "consumer_account_id", "equals main_account_id",
                        "cross-account access needs two different accounts")
    env = _env(data["env"], consumer)
    listed_consumers: tuple[Consumer, ...] = ()
    if listed:  # validated here, so an error names consumers[0].KEY rather than a key the file lacks
        tables = _table_access_list(data["table_access_list"], env, consumer)
        listed_consumers = _consumers(data["consumers"], main, env, tables)
    spec = AccessSpec(
        env=env,
        region=_region(data["region"]),
        main_account_id=main,
        consumer_account_id=consumer,
        main_profile=_profile(data, "main_profile"),
        consumer_profile=_profile(data, "consumer_profile"),
        analyst_profile=_profile(data, "analyst_profile"),
        outsider_profile=_profile(data, "outsider_profile"),
        consumer_principal=_consumer_principal(data["consumer_principal"], consumer),
        table_access_list=_table_access_list(data["table_access_list"], env, consumer),
        external_id=_optional(data, "external_id", _external_id),
        max_session_duration=_optional(data, "max_session_duration", _session_duration, 3600),
        permissions_boundary_arn=_optional(data, "permissions_boundary_arn",
                                           lambda v: _boundary_arn(v, main)),
        trusted_principal_arns=_optional(data, "trusted_principal_arns",
                                         lambda v: _trusted_arns(v, consumer), ()),
        tags=FrozenMap(_optional(data, "tags", _tags, {})),
        session_name=_optional(data, "session_name", _session_name, "xacct-nb"),
        trust_whole_consumer_account=_optional(data, "trust_whole_consumer_account",
                                               lambda v: _flag(v, "trust_whole_consumer_account"), False),
        require_source_identity=_optional(data, "require_source_identity",
                                          lambda v: _flag(v, "require_source_identity"), False),
        export=_optional(data, "export", _export_target),
        grant_mode=_optional(data, "grant_mode", _grant_mode, "role"),
        organization_id=_optional(data, "organization_id", _organization_id),
        manage_key_policy=_optional(data, "manage_key_policy", lambda v: _flag(v, "manage_key_policy"), False),
    )
    if listed:
        spec = dataclasses.replace(spec, consumers=listed_consumers)
        if spec.export is not None:
            raise SpecError("export", "is not supported with a consumers: list yet (the bucket policy names "
                            "one role)", "export from a single-consumer spec, or remove export")
    _check_trust_admits_principal(spec)
    if spec.uses_resource_policy:
        _check_resource_policy_mode(spec)
    elif spec.organization_id is not None:
        raise SpecError("organization_id", "grants through a resource policy, and grant_mode is role",
                        "set grant_mode: resource_policy, or remove organization_id")
    elif spec.manage_key_policy:
        raise SpecError("manage_key_policy", "writes the consumer principal into KMS key policies, which "
                        "grant_mode role never needs (the role is in the key's own account)",
                        "set grant_mode: resource_policy, or remove manage_key_policy")
    return spec


def _first_consumer_keys(value: Any) -> dict[str, Any]:
    """The first consumer's entry as the single-consumer keys (checked again, fully, by `_consumers`)."""
    if not isinstance(value, list):
        raise SpecError("consumers", f"must be a list, got {_type(value)}",
                        "e.g. consumers: [{account_id: '222222222222', principal: arn:aws:iam::222222222222:user/a}]")
    if not value:
        raise SpecError("consumers", "is empty", "list at least one consumer, or use the single-consumer keys")
    if len(value) > MAX_CONSUMERS:
        raise SpecError("consumers", f"has {len(value)} entries; at most {MAX_CONSUMERS} are allowed",
                        "split the consumers over several specs (each with its own env)")
    first = value[0]
    if not isinstance(first, Mapping):
        raise SpecError("consumers[0]", f"must be a mapping, got {_type(first)}",
                        "write {account_id: '222222222222', principal: ARN, analyst_profile: NAME}")
    for key in ("account_id", "principal"):
        if first.get(key) is None:
            raise SpecError(f"consumers[0].{key}", "is required",
                            "each consumer names its account_id and principal")
    keys = {"consumer_account_id": first["account_id"], "consumer_principal": first["principal"]}
    for key in ("consumer_profile", "analyst_profile", "trusted_principal_arns"):
        keys[key] = first.get(key)
    keys["trust_whole_consumer_account"] = first.get("trust_whole_account")
    return keys


def _consumers(value: list[Any], main: str, env: str,
               table_access_list: tuple[TableAccess, ...]) -> tuple[Consumer, ...]:
    """Every entry of `consumers:`, validated like the single-consumer keys, each error naming its
    path (``consumers[1].tables.orders``)."""
    out: list[Consumer] = []
    seen: dict[tuple[str, str], int] = {}
    suffixes: dict[str, int] = {}
    levels = {t.table_name: t.access_type for t in table_access_list}
    for i, entry in enumerate(value):
        path = f"consumers[{i}]"
        if not isinstance(entry, Mapping):
            raise SpecError(path, f"must be a mapping, got {_type(entry)}",
                            "write {account_id: '222222222222', principal: ARN, analyst_profile: NAME}")
        _reject_unknown(entry, CONSUMER_KEYS, path + ".")
        for key in ("account_id", "principal"):
            if entry.get(key) is None:
                raise SpecError(f"{path}.{key}", "is required", "each consumer names its account_id and principal")
        account = _account(entry["account_id"], f"{path}.account_id")
        if account == main:
            raise SpecError(f"{path}.account_id", "equals main_account_id",
                            "cross-account access needs two different accounts")
        principal = _consumer_principal(entry["principal"], account, f"{path}.principal")
        identity = (account, principal)
        if identity in seen:
            raise SpecError(f"{path}.principal", f"{principal} is already consumers[{seen[identity]}]",
                            "list each principal once, with every table it needs")
        seen[identity] = i
        suffix = "" if i == 0 else consumer_suffix(principal)
        if suffix in suffixes:  # 6 hex digits of two ARNs' SHA-256 can coincide; then names would too
            raise SpecError(f"{path}.principal", f"gets the same IAM names as consumers[{suffixes[suffix]}]",
                            "list it in another spec (another env)")
        suffixes[suffix] = i
        raw = entry.get("trust_whole_account")
        trust_whole = False if raw is None else _flag(raw, f"{path}.trust_whole_account")
        raw = entry.get("trusted_principal_arns")
        trusted = () if raw is None else _trusted_arns(raw, account, f"{path}.trusted_principal_arns")
        if trust_whole and trusted:
            raise SpecError(f"{path}.trust_whole_account", "is true but trusted_principal_arns narrows the trust",
                            "set one of them: the whole consumer account, or the listed principals")
        if trusted and not any(arn_like(p, principal) for p in trusted):
            raise SpecError(f"{path}.trusted_principal_arns", "does not include the consumer's principal",
                            f"add {principal} (or a pattern matching it)")
        key = account + suffix
        if len(role_name(env, key)) > MAX_ROLE_NAME:
            room = MAX_ROLE_NAME - len(role_name("", key))
            raise SpecError("env", f"makes the role name of {path} {len(role_name(env, key))} characters; "
                            f"IAM allows {MAX_ROLE_NAME}", f"shorten env to at most {room} characters")
        tables = _consumer_tables(entry.get("tables"), f"{path}.tables", levels, env, key)
        out.append(Consumer(account, principal, tables,
                            consumer_profile=_profile(entry, "consumer_profile", f"{path}.consumer_profile"),
                            analyst_profile=_profile(entry, "analyst_profile", f"{path}.analyst_profile"),
                            trusted_principal_arns=trusted, trust_whole_account=trust_whole))
    profiles: dict[str, int] = {}
    for i, consumer in enumerate(out):
        if consumer.analyst_profile is None:
            continue
        if consumer.analyst_profile in profiles:  # reading picks the consumer by its profile
            raise SpecError(f"consumers[{i}].analyst_profile", f"is also the analyst_profile of "
                            f"consumers[{profiles[consumer.analyst_profile]}]",
                            "give each consumer the profile of its own principal")
        profiles[consumer.analyst_profile] = i
    return tuple(out)


def _consumer_tables(value: Any, path: str, levels: dict[str, str], env: str, key: str) -> tuple[TableAccess, ...]:
    """A consumer's tables: absent/null = every table of the spec at its level; a list of names =
    those tables at the spec's level; a mapping name → level = those tables at that level, which
    may only narrow (never widen) the spec's level for the table."""
    if value is None:
        names: dict[str, Any] = dict.fromkeys(levels)
    elif isinstance(value, list):
        names = {}
        for i, name in enumerate(value):
            name = _string(name, f"{path}[{i}]")
            if name in names:
                raise SpecError(f"{path}[{i}]", f"{_show(name)} is listed twice", "list each table once")
            names[name] = None
    elif isinstance(value, Mapping):
        names = dict(value)
    else:
        raise SpecError(path, f"must be a list of table names or a mapping of table name to level, got "
                        f"{_type(value)}", "e.g. tables: {orders: Read} (or leave it out: every table)")
    if not names:
        raise SpecError(path, "is empty", "name at least one table of table_access_list, or leave tables out")
    order = list(ACCESS_LEVELS)
    out = []
    for name, level in names.items():
        where = f"{path}.{_key(name)}"
        if not isinstance(name, str) or name not in levels:
            close = difflib.get_close_matches(str(name), list(levels), n=1)
            raise SpecError(where, "is not a table of table_access_list",
                            f"did you mean {close[0]}?" if close else f"use one of: {', '.join(levels)}")
        granted = levels[name]
        level = granted if level is None else _access_type(level, where)
        if order.index(level) > order.index(granted):
            raise SpecError(where, f"{level} is wider than table_access_list's {granted} for {name}",
                            f"a consumer's level may only narrow the table's: use {granted} or lower, or raise "
                            "the table's access_type")
        policy = table_policy_name(env, key, name)
        if len(policy) > MAX_POLICY_NAME:
            raise SpecError(where, f"makes the policy name {len(policy)} characters; IAM allows {MAX_POLICY_NAME}",
                            "shorten env or grant a table with a shorter name")
        out.append(TableAccess(name, level))
    position = list(levels)  # the spec's order: the same consumer however its tables are written
    return tuple(sorted(out, key=lambda t: position.index(t.table_name)))


_ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}")


def _organization_id(value: Any) -> str:
    value = _string(value, "organization_id")
    if not _ORGANIZATION.fullmatch(value):
        raise SpecError("organization_id", f"{_show(value)} is not an AWS Organizations id",
                        "use the id AWS Organizations shows, e.g. o-a1b2c3d4e5 ('o-' and 10-32 lowercase "
                        "letters or digits)")
    return value


def _grant_mode(value: Any) -> str:
    if isinstance(value, str) and value in GRANT_MODES:
        return value
    raise SpecError("grant_mode", f"{_show(value)} is not a grant mode", f"use one of: {', '.join(GRANT_MODES)}")


def _check_resource_policy_mode(spec: AccessSpec) -> None:
    """What a resource policy cannot do cross-account is refused here, naming the way that can."""
    for i, consumer in enumerate(spec.consumers):
        for key, value in (("trusted_principal_arns", consumer.trusted_principal_arns),
                           ("trust_whole_account", consumer.trust_whole_account)):
            if value:
                raise SpecError(f"consumers[{i}].{key}", "configures the role, and grant_mode resource_policy "
                                "has none", "remove it, or set grant_mode: role")
    if spec.export is not None:
        raise SpecError("export", "needs DynamoDB exports, which a resource policy cannot grant "
                        "cross-account", "set grant_mode: role (or remove export)")
    defaults = {f.name: f.default for f in dataclasses.fields(AccessSpec)}
    for key in ROLE_ONLY_FIELDS:
        # The default (as `to_dict` writes it) says nothing; any other value would be ignored.
        if getattr(spec, key) != defaults[key]:
            raise SpecError(key, "configures the role, and grant_mode resource_policy has none",
                            "remove it, or set grant_mode: role")


def _coerce_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """CLI `-p key=value` values arrive as strings; integer keys get ints. Others stay as given
    and are validated like file values."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise SpecError("overrides", f"must be a mapping of key to value, got {_type(overrides)}",
                        "pass -p key=value")
    return {key: _coerce(key, value) for key, value in overrides.items()}


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # At most 9 digits: int() of a huge digit string is slow/refused, and no valid value is that long.
    if key in _INT_FIELDS and re.fullmatch(r"[0-9]{1,9}", value):
        return int(value)
    if key in _BOOL_FIELDS and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]
    return value


# --- field validators: each takes the raw value and returns the clean one or raises -----------

def _optional(data: Mapping[Any, Any], key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
    """An absent key and an explicit null (e.g. an empty `tags:` in YAML) both mean the default."""
    value = data.get(key)
    return default if value is None else check(value)


def _string(value: Any, field_name: str) -> str:
    if isinstance(value, str):
        return value
    fix = "quote it" if isinstance(value, (int, float)) else "write a plain string"
    raise SpecError(field_name, f"must be a string, got {_type(value)}", fix)


def _account(value: Any, field_name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads 012345678901 as the int 12345678901: the leading zero is gone, so refuse
        # rather than guess which digits were meant.
        raise SpecError(field_name, "is a number; an account id is a 12-digit string",
                        f"quote it, e.g. {field_name}: '012345678901' (unquoted, YAML drops leading zeros)")
    value = _string(value, field_name)
    if not _ACCOUNT.fullmatch(value):
        raise SpecError(field_name, f"must be exactly 12 digits, got {_show(value)}",
                        "copy the id from the account menu of the AWS console (quoted)")
    return value


def _env(value: Any, consumer: str) -> str:
    value = _string(value, "env")
    if not _ENV.fullmatch(value):
        raise SpecError("env", f"{_show(value)} is not a valid env name",
                        "use 1-32 letters, digits, '_' or '-', starting with a letter or digit")
    name = role_name(value, consumer)
    if len(name) > MAX_ROLE_NAME:
        room = MAX_ROLE_NAME - len(role_name("", consumer))
        raise SpecError("env", f"makes the role name {len(name)} characters; IAM allows {MAX_ROLE_NAME}",
                        f"shorten env to at most {room} characters")
    return value


def _region(value: Any) -> str:
    value = _string(value, "region")
    if not _REGION.fullmatch(value):
        raise SpecError("region", f"{_show(value)} is not an AWS region name", "e.g. us-east-1")
    if _OTHER_PARTITION_REGION.fullmatch(value):
        raise SpecError("region", f"{value} is outside the standard 'aws' partition",
                        "only commercial regions are supported (ARNs are built as arn:aws:...)")
    return value


def _profile(data: Mapping[Any, Any], key: str, path: str | None = None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    path = path or key
    value = _string(value, path)
    if not value or value != value.strip() or not value.isprintable():
        raise SpecError(path, f"{_show(value)} is not a usable profile name",
                        "use the profile's name as in ~/.aws/config, or remove the key")
    return value


def _consumer_principal(value: Any, consumer: str, path: str = "consumer_principal") -> str:
    value = _string(value, path)
    match = _PRINCIPAL.fullmatch(value)
    if not match:
        raise SpecError(path, f"{_show(value)} is not an IAM user or role ARN",
                        f"use arn:aws:iam::{consumer}:user/NAME or arn:aws:iam::{consumer}:role/NAME")
    if match["account"] != consumer:
        raise SpecError(path, f"is in account {match['account']}, not in "
                        f"{'its account_id' if path != 'consumer_principal' else 'consumer_account_id'} "
                        f"{consumer}", "use a user or role of the consumer account")
    return value


def _table_access_list(value: Any, env: str, consumer: str) -> tuple[TableAccess, ...]:
    if not isinstance(value, list):
        raise SpecError("table_access_list", f"must be a list, got {_type(value)}", _HINTS["table_access_list"])
    if not value:
        raise SpecError("table_access_list", "is empty", "grant at least one table")
    if len(value) > MAX_TABLES:  # checked before touching the entries: a huge list is not processed
        raise SpecError("table_access_list", f"has {len(value)} entries; at most {MAX_TABLES} are allowed "
                        "(IAM attaches at most 10 managed policies to a role by default)",
                        "split the tables over several envs: each gets its own role")
    tables: list[TableAccess] = []
    seen: dict[str, int] = {}  # lower-cased name → index; IAM policy names are case-insensitive
    for i, entry in enumerate(value):
        table = _table_entry(entry, f"table_access_list[{i}]", env, consumer)
        first = seen.setdefault(table.table_name.lower(), i)
        if first != i:
            same = "the same name" if tables[first].table_name == table.table_name else \
                "a name differing only in case (IAM policy names are case-insensitive)"
            raise SpecError(f"table_access_list[{i}].table_name",
                            f"{table.table_name} has {same} as table_access_list[{first}]",
                            "list each table once, with the highest access it needs")
        tables.append(table)
    return tuple(tables)


def _table_entry(entry: Any, path: str, env: str, consumer: str) -> TableAccess:
    if not isinstance(entry, Mapping):
        raise SpecError(path, f"must be a mapping, got {_type(entry)}",
                        "write {table_name: NAME, access_type: Read|ReadWriteUpdate|Full}")
    _reject_unknown(entry, TABLE_KEYS, path + ".")
    for key in TABLE_KEYS:
        if entry.get(key) is None:
            raise SpecError(f"{path}.{key}", "is required", "write {table_name: NAME, access_type: Read}")
    name = _table_name(entry["table_name"], f"{path}.table_name", env, consumer)
    return TableAccess(name, _access_type(entry["access_type"], f"{path}.access_type"))


def _table_name(value: Any, field_name: str, env: str, consumer: str) -> str:
    value = _string(value, field_name)
    if not _TABLE.fullmatch(value):
        raise SpecError(field_name, f"{_show(value)} is not a DynamoDB table name",
                        "use 3-255 characters from letters, digits, '_', '.', '-'")
    policy = table_policy_name(env, consumer, value)
    if len(policy) > MAX_POLICY_NAME:
        room = MAX_POLICY_NAME - len(table_policy_name(env, consumer, ""))
        raise SpecError(field_name, f"makes the policy name {len(policy)} characters; IAM allows "
                        f"{MAX_POLICY_NAME}", f"with env {env!r} the table name can have at most {room} "
                        "characters; shorten env or grant a table with a shorter name")
    return value


def _access_type(value: Any, field_name: str) -> str:
    if isinstance(value, str) and value in ACCESS_LEVELS:
        return value
    valid = ", ".join(ACCESS_LEVELS)
    by_case = {level.lower(): level for level in ACCESS_LEVELS}
    if isinstance(value, str) and value.lower() in by_case:
        raise SpecError(field_name, f"{_show(value)} has the wrong case",
                        f"write {by_case[value.lower()]} (valid: {valid})")
    raise SpecError(field_name, f"{_show(value)} is not an access level", f"use one of: {valid}")


def _external_id(value: Any) -> str:
    value = _string(value, "external_id")
    if not _EXTERNAL_ID.fullmatch(value):
        # The value is a shared secret of sorts: describe it, never echo it.
        raise SpecError("external_id", f"is {len(value)} characters or has characters STS rejects",
                        "use 2-1224 characters from letters, digits and _+=,.@:/-")
    return value


EXPORT_KEYS = ("bucket", "prefix")
MAX_PREFIX = 512
# S3's general purpose bucket naming rules (S3 user guide, "Bucket naming rules").
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"[0-9]+(\.[0-9]+){3}")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# The prefix ends up in IAM resource ARNs (``BUCKET/PREFIX/*``) and an ``s3:prefix`` StringLike
# condition, where ``*`` and ``?`` are wildcards that also match "/", and ``${...}`` is a policy
# variable. So it must be a literal: S3's "safe" key characters only, no wildcard, no "$".
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.'()-]+")
_PREFIX_CHARS = "letters, digits, !-_.'() and '/' between non-empty parts, e.g. exports/dynamodb"


def _export_target(value: Any) -> ExportTarget:
    if not isinstance(value, Mapping):
        raise SpecError("export", f"must be a mapping, got {_type(value)}",
                        "write export: {bucket: NAME, prefix: PATH}")
    _reject_unknown(value, EXPORT_KEYS, "export.")
    if value.get("bucket") is None:
        raise SpecError("export.bucket", "is required", "name a bucket of the consumer account")
    bucket = _bucket_name(_string(value["bucket"], "export.bucket"))
    prefix = _export_prefix(_string(value.get("prefix", "xacct-nb-exports"), "export.prefix"))
    return ExportTarget(bucket, prefix)


def _bucket_name(bucket: str) -> str:
    problem = None
    if not _BUCKET.fullmatch(bucket):
        problem = ("is not an S3 bucket name: use 3-63 lowercase letters, digits, '.' and '-', "
                   "starting and ending with a letter or digit")
    elif ".." in bucket:
        problem = "has two adjacent periods, which S3 bucket names cannot have"
    elif _IP_ADDRESS.fullmatch(bucket):
        problem = "is formatted as an IP address, which S3 bucket names cannot be"
    elif bucket.startswith(_BUCKET_RESERVED_PREFIXES) or bucket.endswith(_BUCKET_RESERVED_SUFFIXES):
        problem = "uses a prefix or suffix S3 reserves (xn--, sthree-, amzn-s3-demo-, -s3alias, --ol-s3, ...)"
    if problem:
        raise SpecError("export.bucket", f"{_show(bucket)} {problem}",
                        "use the name of the consumer account's bucket exactly as S3 shows it")
    return bucket


def _export_prefix(prefix: str) -> str:
    """A literal key prefix (see `_PREFIX_SEGMENT`): refused, never cleaned up, when it is not."""
    def refuse(problem: str) -> SpecError:
        return SpecError("export.prefix", f"{_show(prefix)} {problem}", f"use {_PREFIX_CHARS}")

    if not prefix:
        raise refuse("is empty")
    if len(prefix) > MAX_PREFIX:
        raise refuse(f"is {len(prefix)} characters long; at most {MAX_PREFIX} are allowed")
    wild = sorted({c for c in prefix if c in "*?$"})
    if wild:
        raise refuse(f"contains {' '.join(wild)}: IAM would read it as a wildcard or policy variable "
                     "(and * also matches '/'), widening the grant beyond the prefix")
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise refuse("has an empty part (a leading, trailing or doubled '/')")
    if ".." in prefix or "." in prefix.split("/"):
        raise refuse("contains '..' or a '.' part, which would read as a path outside the prefix")
    bad = [part for part in prefix.split("/") if not _PREFIX_SEGMENT.fullmatch(part)]
    if bad:
        chars = sorted({c for c in "".join(bad) if not _PREFIX_SEGMENT.fullmatch(c)})
        raise refuse(f"contains {_show(''.join(chars))}, not a plain S3 key character")
    return prefix


def _session_duration(value: Any) -> int:
    low, high = SESSION_DURATION_RANGE
    if isinstance(value, bool) or not isinstance(value, int):  # bool is an int subclass
        raise SpecError("max_session_duration", f"must be an integer number of seconds, got {_type(value)}",
                        f"write a whole number from {low} to {high}")
    if not low <= value <= high:
        raise SpecError("max_session_duration", f"{value} is outside {low}..{high} seconds",
                        f"IAM accepts {low} (1 h) to {high} (12 h)")
    return value


def _boundary_arn(value: Any, main: str) -> str:
    value = _string(value, "permissions_boundary_arn")
    match = _POLICY_ARN.fullmatch(value)
    if not match:
        raise SpecError("permissions_boundary_arn", f"{_show(value)} is not an IAM policy ARN",
                        f"use arn:aws:iam::{main}:policy/NAME or arn:aws:iam::aws:policy/NAME")
    if match["account"] not in (main, "aws"):
        raise SpecError("permissions_boundary_arn", f"is a policy of account {match['account']}",
                        f"the boundary of a role in {main} must be a policy of {main} or an AWS managed one")
    return value


WHOLE_ACCOUNT_FIX = ("name the principals (or a pattern within a name or a path of your own); if the "
                     "whole account is meant, remove trusted_principal_arns and set "
                     "trust_whole_consumer_account: true")


def _trusted_arns(value: Any, consumer: str, field_path: str = "trusted_principal_arns") -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SpecError(field_path, f"must be a list of ARNs, got {_type(value)}",
                        f"e.g. ['arn:aws:iam::{consumer}:role/analyst']")
    if len(value) > MAX_TRUSTED_PRINCIPALS:
        raise SpecError(field_path, f"has {len(value)} entries; at most "
                        f"{MAX_TRUSTED_PRINCIPALS} fit in a trust policy", "use a wildcard pattern (role/analysts-*)")
    arns: list[str] = []
    for i, arn in enumerate(value):
        path = f"{field_path}[{i}]"
        arn = _string(arn, path)
        match = _TRUSTED.fullmatch(arn)
        if not match:
            if _WHOLE_ACCOUNT_ARN.fullmatch(arn):
                raise SpecError(path, f"{_show(arn)} stands for the whole account", WHOLE_ACCOUNT_FIX)
            raise SpecError(path, f"{_show(arn)} is not an IAM user or role ARN",
                            f"use arn:aws:iam::{consumer}:role/NAME (wildcards * and ? allowed)")
        if match["account"] != consumer:
            raise SpecError(path, f"is in account {match['account']}",
                            f"only principals of {consumer} can assume the role")
        admits = whole_account_pattern(arn)
        if admits:
            raise SpecError(path, f"{_show(arn)} admits {admits} of account {consumer}: whole-account "
                            "trust under another name", WHOLE_ACCOUNT_FIX)
        if arn in arns:
            raise SpecError(path, "is listed twice", "remove the duplicate")
        arns.append(arn)
    return tuple(arns)


# `*`, the account's root, or a wildcard in place of the principal type.
_WHOLE_ACCOUNT_ARN = re.compile(r"\*|arn:aws:iam::([0-9]{12}|\*):(root|\*.*|(user|role)\*.*)")
# What a user or role ARN can hold after "user/" or "role/": a path of printable ASCII segments,
# then a name of IAM's name characters (IAM API reference: Path, UserName/RoleName).
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-")
_PATH_CHARS = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"/"}


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: field by field (``:``), ``*`` any run of characters (``/`` included) and
    ``?`` any one character within a field. Only ``*`` and ``?`` are special (not ``[``)."""
    fields, values = pattern.split(":", 5), arn.split(":", 5)
    return len(fields) == len(values) and all(_glob(f, v) for f, v in zip(fields, values))


def _glob(pattern: str, text: str) -> bool:
    positions = _closure(pattern, frozenset({0}))
    for char in text:
        positions = _step(pattern, positions, char)
    return _accepts(pattern, positions)


def _closure(pattern: str, positions: frozenset[int]) -> frozenset[int]:
    out = set(positions)
    for i in sorted(positions):
        while i < len(pattern) and pattern[i] == "*":  # a * may match nothing
            i += 1
            out.add(i)
    return frozenset(out)


def _step(pattern: str, positions: frozenset[int], char: str) -> frozenset[int]:
    after = set()
    for i in positions:
        if i < len(pattern):
            if pattern[i] == "*":
                after.add(i)
            elif pattern[i] == "?" or pattern[i] == char:
                after.add(i + 1)
    return _closure(pattern, frozenset(after))


def _accepts(pattern: str, positions: frozenset[int]) -> bool:
    return len(pattern) in positions


def whole_account_pattern(arn: str) -> str | None:
    """What a user/role ARN pattern admits when it stands for the whole account, or for every
    principal of a kind under ANY path: "every user" / "every role" when it matches every name
    under every path; "every role with a path" when it matches every role outside the default
    path (`role/*/*`: every service-linked and SSO role, administrators included), "... of 2 or
    more levels" likewise (`role/*/*/*`); None when it names or narrows the principals by some
    text of their own (`role/analysts/*`, `user/a*`, `role/team-?`).

    Decided exactly, not by examples: the pattern (a glob) is run against an automaton of every
    ``PATH/NAME`` IAM allows, over the pattern's own characters plus one stand-in for every other
    name character, path character and ``/``, looking for a principal the pattern misses."""
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    for depth in range(rest.count("/") + 1):
        if _matches_every(rest, depth):
            levels = "" if depth < 2 else f" of {depth} or more levels"
            return f"every {kind}" + (f" with a path{levels}" if depth else "")
    return None


def _matches_every(pattern: str, depth: int) -> bool:
    """Does the glob match every ``PATH/NAME`` whose path has at least `depth` segments?"""
    literals = {c for c in pattern if c not in "*?"}
    alphabet = (literals & (_NAME_CHARS | _PATH_CHARS)) | {"/"}
    alphabet |= {next(iter(sorted(chars - literals)), "/") for chars in (_NAME_CHARS, _PATH_CHARS - _NAME_CHARS)}
    # Principal states: "start" of a segment, in a segment of name characters only ("name": may
    # end here), in a segment with a path-only character ("path": must go on to a "/"); and the
    # number of path segments so far (counted up to `depth`).
    start = ("start", 0, _closure(pattern, frozenset({0})))
    seen, todo = {start}, [start]
    while todo:
        segment, levels, positions = todo.pop()
        if not positions:
            return False  # every principal state can still be completed, the pattern cannot
        if segment == "name" and levels >= depth and not _accepts(pattern, positions):
            return False  # a principal the pattern misses
        for char in alphabet:
            if char == "/":
                if segment == "start":
                    continue  # no empty path segments
                state = ("start", min(levels + 1, depth), _step(pattern, positions, char))
            elif char in _NAME_CHARS:
                state = ("path" if segment == "path" else "name", levels, _step(pattern, positions, char))
            else:
                state = ("path", levels, _step(pattern, positions, char))
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return True


def _flag(value: Any, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise SpecError(field_name, f"must be true or false, got {_show(value)}", f"write {field_name}: true")


def _check_trust_admits_principal(spec: AccessSpec) -> None:
    """A narrowed trust that leaves out consumer_principal would make every assume fail."""
    if spec.trust_whole_consumer_account and spec.trusted_principal_arns:
        raise SpecError("trust_whole_consumer_account", "is true but trusted_principal_arns narrows the trust",
                        "set one of them: the whole consumer account, or the listed principals")
    patterns = spec.trusted_principal_arns
    if patterns and not any(arn_like(p, spec.consumer_principal) for p in patterns):
        raise SpecError("trusted_principal_arns", "does not include consumer_principal",
                        f"add {spec.consumer_principal} (or a pattern matching it)")


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise SpecError("tags", f"must be a mapping of key to value, got {_type(value)}", "e.g. tags: {team: data}")
    if len(value) > MAX_TAGS:
        raise SpecError("tags", f"has {len(value)} entries; at most {MAX_TAGS} are allowed",
                        "IAM allows 50 tags and xacct-nb adds its own")
    tags: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _TAG_TEXT.fullmatch(key):
            raise SpecError(f"tags.{_key(key)}", "is not a valid tag key",
                            "use 1-128 characters from letters, digits, spaces and _.:/=+-@")
        path = f"tags.{key}"
        if key in RESERVED_TAG_KEYS or key.lower().startswith("aws:"):
            raise SpecError(path, "is a reserved tag key", f"xacct-nb sets {', '.join(RESERVED_TAG_KEYS)}; "
                            "AWS reserves aws:*; pick another key")
        text = _string(text, path)
        if len(text) > 256 or not _TAG_TEXT.fullmatch(text):
            raise SpecError(path, "is not a valid tag value",
                            "use at most 256 characters from letters, digits, spaces and _.:/=+-@")
        tags[key] = text
    return tags


def _session_name(value: Any) -> str:
    value = _string(value, "session_name")
    if not _SESSION_NAME.fullmatch(value):
        raise SpecError("session_name", f"{_show(value)} is not a valid role session name",
                        "use 2-64 characters from letters, digits and +=,.@_-")
    return value


# --- helpers ----------------------------------------------------------------------------------

def _reject_unknown(data: Mapping[Any, Any], accepted: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            # The suggestion alone when there is one: the full list would make the line long.
            fix = f"did you mean {close[0]}?" if close else f"one of: {', '.join(accepted)}"
            raise SpecError(f"{prefix}{_key(key)}", "is not a known key", fix)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _make_repr() -> reprlib.Repr:
    short = reprlib.Repr()  # keyword arguments need Python 3.12; set the limits instead
    short.maxlevel, short.maxstring, short.maxother, short.maxlist, short.maxdict = 2, 60, 60, 4, 4
    return short


_REPR = _make_repr()


def _show(value: Any) -> str:
    """A short rendering of a user value: errors stay one readable line even for a huge value
    (reprlib never renders more than a few elements, so this is cheap too)."""
    return _REPR.repr(value)


def _key(key: Any) -> str:
    """A mapping key as a field-path segment: plain when it is a usable name, else its repr."""
    if isinstance(key, str) and key.strip() == key and key and key.isprintable():
        return key if len(key) <= 60 else key[:57] + "..."
    return _show(key)
