"""Sessions: a named profile, the assumed cross-account role, and who a session really is.

`assume()` returns an ordinary `boto3.Session` in the main account whose credentials renew
themselves, using botocore's own machinery (the same pieces botocore uses for a config profile
with `role_arn`, which boto3 does not expose for a role chosen at run time — boto3 issue #443):

* `AssumeRoleCredentialFetcher` calls sts:AssumeRole with a client made from the SOURCE session,
  re-reading the source credentials on every call (so a source that itself refreshes — an SSO
  profile, another assumed role — keeps working);
* `RefreshableCredentials` holds the result and calls the fetcher again inside its refresh
  windows (advisory: one caller refreshes, the rest keep using the old keys; mandatory: everyone
  waits), under a lock, so threads (parallel scans) share one renewal.

The first AssumeRole is done here, eagerly, so a denial surfaces at once with a useful message —
and can be retried while a freshly created role propagates through IAM.

`assume_from_spec` is the analyst's way in. It checks the analyst profile's account before any
AssumeRole; accepts a profile that already IS the granted role (a ``role_arn`` + ``source_profile``
profile, SSO, ``credential_process``) and uses it as-is; otherwise it assumes the role with a
SourceIdentity derived from the analyst's own name, so the main account's CloudTrail shows who read.

Nothing returned here shows a credential in its repr/str: boto3.Session's repr shows the region
only, botocore's credential objects have the default object repr, and `Identity` holds no keys.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    RefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from . import retries
from ._botocore_private import assume_again, assumed_role_arn, botocore_session, credential_expiry, role_fetcher
from .clients import make_client
from .errors import AccessDenied, InputError, RoleNotFound, XacctError, error_code, explain, is_access_denied
from .progress import ProgressCallback, report

if TYPE_CHECKING:
    import pandas as pd

    from .spec import AccessSpec

logger = logging.getLogger(__name__)

# AWS's AssumeRole DurationSeconds bounds; role chaining caps a session at one hour.
MIN_DURATION, MAX_DURATION, CHAINED_MAX_DURATION = 900, 43200, 3600
# botocore's default refresh windows (credentials.py: _DEFAULT_ADVISORY/MANDATORY_REFRESH_TIMEOUT).
ADVISORY_REFRESH, MANDATORY_REFRESH = 15 * 60, 10 * 60
# First-AssumeRole retry while IAM propagates: jittered exponential backoff, 0.5 s doubling to 8 s.
FIRST_DELAY, MAX_DELAY = 0.5, 8.0
# STS's SourceIdentity: 2-64 characters of this set (so never the "aws:" prefix STS reserves).
_NOT_IN_SOURCE_IDENTITY = re.compile(r"[^A-Za-z0-9_+=,.@-]")


# --- profiles ---------------------------------------------------------------------------------

def profile_session(profile: str | None, region: str | None = None, *,
                    field: str = "profile") -> boto3.Session:
    """A session for an explicitly named profile. Never falls back to ambient credentials."""
    if not profile:
        raise InputError(f"{field} is not set — name an AWS profile; xacct-nb never falls back "
                         "to default or environment credentials")
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        known = botocore.session.Session().available_profiles  # reads the files, not the profile
        listed = ", ".join(sorted(known)[:20]) or "none"
        raise InputError(f"{field}: AWS profile {profile!r} not found (available: {listed}) — add it "
                         "to your AWS config or fix the name") from None


# --- identity ---------------------------------------------------------------------------------

_KINDS = {"user": "user", "assumed-role": "assumed-role", "role": "role",
          "federated-user": "federated", "root": "root"}


@dataclass(frozen=True)
class Identity:
    """Who a session is (sts:GetCallerIdentity) and until when its credentials last."""

    account: str
    arn: str
    user_id: str
    kind: str  # user | assumed-role | role | root | federated
    expires: dt.datetime | None
    region: str | None
    endpoint: str | None

    @property
    def name(self) -> str:
        """The user, session or federated name (the last part of the ARN; "root" for root)."""
        return self.arn.split(":", 5)[5].rsplit("/", 1)[-1]

    @property
    def principal_arn(self) -> str:
        """The ARN a trust policy sees: an assumed-role session is its role."""
        if self.kind != "assumed-role":
            return self.arn
        role = self.arn.split(":", 5)[5].split("/")[1]
        return f"arn:aws:iam::{self.account}:role/{role}"

    def minutes_left(self) -> int | None:
        if self.expires is None:
            return None
        return int((self.expires - dt.datetime.now(dt.UTC)).total_seconds() // 60)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        values = {name: "—" if value is None else value for name, value in asdict(self).items()}
        if self.expires is None:
            values["expires"] = "does not expire (long-term credentials)"
        return pd.DataFrame({"value": list(values.values())}, index=list(values))

    def _repr_html_(self) -> str:
        return self.frame().to_html()

    def __str__(self) -> str:
        text = f"{self.arn} (account {self.account})"
        left = self.minutes_left()
        if left is None:
            return text
        return text + (f", credentials expire in {left} min" if left >= 0
                       else f", credentials EXPIRED {-left} min ago")


def whoami(session: boto3.Session) -> Identity:
    sts = make_client(session, "sts")
    try:
        reply = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as err:
        raise explain(err, "identifying the caller (sts:GetCallerIdentity)") from err
    arn = reply["Arn"]
    resource = arn.split(":", 5)[5]
    return Identity(account=reply["Account"], arn=arn, user_id=reply["UserId"],
                    kind=_KINDS.get(resource.split("/")[0], resource.split("/")[0]),
                    expires=_expiry(session), region=session.region_name,
                    endpoint=sts.meta.endpoint_url)


def _expiry(session: boto3.Session) -> dt.datetime | None:
    # botocore has no public accessor for the expiry (see _botocore_private); static keys have none.
    # Read after the GetCallerIdentity call above, which renewed the credentials if they needed it.
    expiry = credential_expiry(session.get_credentials())
    return expiry.astimezone(dt.UTC) if expiry else None  # botocore parses to tzlocal


def require_account(session: boto3.Session, account_id: str, field: str) -> Identity:
    ident = whoami(session)
    if ident.account != account_id:
        raise InputError(f"{field} is account {ident.account}, expected {account_id} — "
                         f"{ident.arn} belongs to another account; use a profile of {account_id}")
    return ident


# --- assuming the role ------------------------------------------------------------------------

def assume(source: boto3.Session | str | AccessSpec, role_arn: str | None = None, *,
           session_name: str = "xacct-nb", external_id: str | None = None, duration: int = 3600,
           region: str | None = None, source_identity: str | None = None, wait: float = 0,
           progress: ProgressCallback | None = None) -> boto3.Session:
    """Assume `role_arn` from `source` (a Session or a profile name); return a Session in the
    role's account that keeps the source's profile config (region, endpoint_url) and renews its
    credentials before they expire. `region` overrides the source's region. `source_identity`
    is sent as the AssumeRole SourceIdentity (the trust must allow sts:SetSourceIdentity).
    ``assume(spec)`` assumes an access spec's role as its analyst (:func:`assume_from_spec`).

    `wait` > 0 retries an AccessDenied first AssumeRole for up to that many seconds (a new role or
    trust policy takes a while to propagate), reporting each retry to `progress`.
    """
    from .spec import AccessSpec

    if isinstance(source, AccessSpec):
        if role_arn is not None:
            raise InputError("assume(spec): the role comes from the spec — drop role_arn")
        return assume_from_spec(source, wait=wait, progress=progress)
    if not role_arn:
        raise InputError("assume(source, role_arn): role_arn is missing — pass the role's ARN, "
                         "or an access spec: assume(load_spec('params/dev.yaml'))")
    if isinstance(source, str):
        source = profile_session(source, region)
    return _assume_as(source, whoami(source), role_arn, session_name=session_name,
                      external_id=external_id, duration=duration, region=region,
                      source_identity=source_identity, wait=wait, progress=progress)


def _assume_as(source: boto3.Session, caller: Identity, role_arn: str, *, session_name: str,
               external_id: str | None, duration: int, region: str | None,
               source_identity: str | None, wait: float, progress: ProgressCallback | None,
               role_exists: Callable[[], bool | None] = lambda: None) -> boto3.Session:
    duration = _check_duration(duration, caller, progress)
    args: dict[str, str | int] = {"RoleSessionName": session_name, "DurationSeconds": duration}
    if external_id:
        args["ExternalId"] = external_id
    if source_identity:
        args["SourceIdentity"] = source_identity
    advisory, mandatory = _refresh_windows(duration)
    core = botocore_session(source)
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=_client_creator(core, region or source.region_name),
        source_credentials=core.get_credentials(), role_arn=role_arn, extra_args=args,
        # The fetcher caches the last response and re-uses it until this window: make it the
        # same as the credentials' advisory window, so every refresh really calls AssumeRole.
        expiry_window_seconds=advisory)
    asked: list[bool | None] = []

    def exists_once() -> bool | None:  # asked at the first denial, not again
        if not asked:
            asked.append(role_exists())
        return asked[0]

    try:
        first = _first_assume(fetcher, role_arn, wait, progress, exists_once)
    except (ClientError, BotoCoreError) as err:
        exists = exists_once() if is_access_denied(err) else None
        raise _assume_error(err, role_arn, caller, external_id, source_identity, wait, exists) from err
    credentials = RefreshableCredentials.create_from_metadata(
        first, refresh_using=fetcher.fetch_credentials, method="assume-role",
        advisory_timeout=advisory, mandatory_timeout=mandatory)
    session = _session_like(core, credentials, region)
    _ASSUMED[session] = AssumedRole(role_arn=role_arn, session_name=session_name,
                                    external_id=external_id or None,
                                    source_identity=source_identity or None, duration=duration)
    return session


@dataclass(frozen=True, repr=False)
class AssumedRole:
    """What :func:`assume` was asked for (no secrets): enough for another process (a Dask worker)
    to assume the same role the same way."""

    role_arn: str
    session_name: str
    external_id: str | None
    source_identity: str | None
    duration: int

    def __repr__(self) -> str:
        external = "None" if self.external_id is None else "'***'"
        return (f"AssumedRole(role_arn={self.role_arn!r}, session_name={self.session_name!r}, "
                f"external_id={external}, duration={self.duration})")


# Recorded by assume itself, keyed by the session it returns (gone with the session): no need to
# read botocore's fetcher internals back to learn how a session was made.
_ASSUMED: weakref.WeakKeyDictionary[boto3.Session, AssumedRole] = weakref.WeakKeyDictionary()


def assumed_role(session: boto3.Session) -> AssumedRole | None:
    """How :func:`assume` made ``session`` (role, session name, external id, source identity,
    duration); None for any session it did not make (a profile's own, SSO, a role profile)."""
    return _ASSUMED.get(session)


def assume_from_spec(spec: AccessSpec, *, source: boto3.Session | None = None, wait: float = 0,
                     progress: ProgressCallback | None = None) -> boto3.Session:
    """A session of the spec's role for its analyst profile (or `source`), in the spec's region:
    the source itself when it already is the role, else the role assumed with a SourceIdentity.
    With a `consumers:` list, the consumer that `source` is decides the role (`reader_spec`)."""
    spec = reader_spec(spec, source)
    if source is None:
        source = profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    _refuse_role_profile_without_source_identity(spec, source)
    caller = analyst_identity(spec, source)
    if is_granted_role(spec, caller):
        return source
    return _assume_as(source, caller, spec.role_arn, session_name=spec.session_name,
                      external_id=spec.external_id, duration=spec.max_session_duration,
                      region=spec.region, source_identity=source_identity_of(caller),
                      wait=wait, progress=progress, role_exists=lambda: role_exists(spec))


def reading_session(spec: AccessSpec, *, source: boto3.Session | None = None, wait: float = 0,
                    progress: ProgressCallback | None = None) -> boto3.Session:
    """The session that reads the spec's tables: with grant_mode ``role`` the assumed role
    (:func:`assume_from_spec`); with ``resource_policy`` the analyst's own session, checked to be
    a principal of the consumer account — no AssumeRole. Name the tables with
    ``spec.read_name(table)`` (their ARNs in resource_policy mode: a bare name would be a table of
    the analyst's own account). `wait` is only used in role mode (for AssumeRole)."""
    spec = reader_spec(spec, source)
    if not spec.uses_resource_policy:
        return assume_from_spec(spec, source=source, wait=wait, progress=progress)
    if source is None:
        source = profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    ident = whoami(source)
    if ident.account != spec.consumer_account_id:
        raise InputError(
            f"analyst_profile is account {ident.account}, expected the consumer account "
            f"{spec.consumer_account_id} — grant_mode resource_policy reads with the consumer principal's "
            f"own session; use a profile of {spec.consumer_principal}")
    if source.region_name != spec.region:  # the client's endpoint must be the tables' region
        raise InputError(f"the analyst session is in region {source.region_name}, the spec's tables in "
                         f"{spec.region} — pass a session with region_name={spec.region!r}")
    return source


def reader_spec(spec: AccessSpec, source: boto3.Session | None = None) -> AccessSpec:
    """The single-consumer spec a reading goes through: `spec` itself without a `consumers:` list;
    with one, the consumer that `source` is (its principal, ignoring the path, or a session of its
    role), else the first consumer (whose analyst_profile is the default)."""
    if not spec.consumers:
        return spec
    subs = spec.consumer_specs
    if source is None:
        return subs[0]
    ident = whoami(source)
    for sub in subs:
        if is_granted_role(sub, ident) or _same_principal(ident.principal_arn, sub.consumer_principal):
            return sub
    return subs[0]  # a principal the list does not name: AWS denies it whatever is tried


def _same_principal(a: str, b: str) -> bool:
    """Same account, kind and name (IAM answers the ARN of a user with its path, specs may omit it)."""
    def key(arn: str) -> tuple[str, ...]:
        *_, account, resource = arn.split(":", 5)
        kind, _, rest = resource.partition("/")
        return account, kind, rest.rsplit("/", 1)[-1]
    return key(a) == key(b)


def role_exists(spec: AccessSpec) -> bool | None:
    """Whether the spec's role exists, asked in the main account with `main_profile` (the
    consumer side cannot tell: AWS answers AccessDenied for a missing role too). None when there
    is no main_profile, or it cannot tell."""
    if not spec.main_profile:
        return None
    try:
        main = profile_session(spec.main_profile, spec.region, field="main_profile")
        require_account(main, spec.main_account_id, "main_profile")
        make_client(main, "iam").get_role(RoleName=spec.role_name)
    except ClientError as err:
        return False if error_code(err) == "NoSuchEntity" else None
    except (BotoCoreError, XacctError):
        return None
    return True


def is_granted_role(spec: AccessSpec, ident: Identity) -> bool:
    """True for a session of the spec's role itself (an existing role profile, SSO, ...)."""
    return ident.kind == "assumed-role" and ident.principal_arn == spec.role_arn


def analyst_identity(spec: AccessSpec, source: boto3.Session) -> Identity:
    """Who the analyst session is, refused before any AssumeRole unless it is a principal of the
    consumer account or already the granted role (in the main account)."""
    ident = whoami(source)
    if ident.account != spec.consumer_account_id and not is_granted_role(spec, ident):
        raise InputError(
            f"analyst_profile is account {ident.account}, expected the consumer account "
            f"{spec.consumer_account_id} — {ident.arn} is not a consumer principal; use a profile of "
            f"{spec.consumer_principal}, or one that already is the role {spec.role_arn}")
    return ident


def source_identity_of(caller: Identity) -> str:
    """A SourceIdentity naming the operator: their user or session name with characters STS
    rejects replaced by '-', cut to 64 and padded to 2 (no ':' survives, so no "aws:" prefix)."""
    return _NOT_IN_SOURCE_IDENTITY.sub("-", caller.name)[:64].ljust(2, "-")


def _refuse_role_profile_without_source_identity(spec: AccessSpec, source: boto3.Session) -> None:
    """With require_source_identity, a role_arn profile of the granted role cannot work: botocore
    assumes it without a SourceIdentity, which the trust refuses. Say so instead of that denial."""
    profile_role = botocore_session(source).get_scoped_config().get("role_arn")  # the profile's own config
    if spec.require_source_identity and profile_role == spec.role_arn:
        raise InputError(
            f"analyst_profile {source.profile_name!r} assumes {spec.role_arn} itself (role_arn), but "
            "require_source_identity is set and profiles with role_arn cannot send a SourceIdentity — "
            f"use a profile of {spec.consumer_principal} (xacct-nb then assumes the role and sets it)")


def _check_duration(duration: int, caller: Identity, progress: ProgressCallback | None) -> int:
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InputError(f"duration {duration} s is outside AWS's {MIN_DURATION}-{MAX_DURATION} s "
                         "range for AssumeRole — pass a value in range")
    if caller.kind == "assumed-role" and duration > CHAINED_MAX_DURATION:
        # Role chaining: AWS rejects DurationSeconds > 3600 whatever the role's maximum.
        msg = (f"{caller.arn} is itself an assumed role (role chaining): AWS caps the session at "
               f"{CHAINED_MAX_DURATION} s, so asking for {CHAINED_MAX_DURATION} instead of {duration}")
        if progress:
            report(progress, msg, logger)
        else:
            warnings.warn(msg, stacklevel=3)
        return CHAINED_MAX_DURATION
    return duration


def _refresh_windows(duration: int) -> tuple[int, int]:
    """botocore's 15/10 min windows, shrunk for short sessions: with a 900 s session the default
    advisory window would be open from the start and every request would call AssumeRole."""
    return min(ADVISORY_REFRESH, duration // 3), min(MANDATORY_REFRESH, duration // 6)


def _client_creator(core: botocore.session.Session, region: str | None) -> Callable[..., Any]:
    # The fetcher passes the source's current keys explicitly; the client still takes endpoint_url
    # and the rest of its config from the source session's profile. Handlers registered on the
    # source session (e.g. before-call.sts.AssumeRole) see every refresh.
    def create(service: str, **kwargs: Any) -> Any:
        return make_client(core, service, region_name=region, **kwargs)

    return create


def _first_assume(fetcher: AssumeRoleCredentialFetcher, role_arn: str, wait: float,
                  progress: ProgressCallback | None,
                  role_exists: Callable[[], bool | None] = lambda: None) -> dict:
    """Call AssumeRole now; while it is denied and `wait` allows, back off and try again.
    botocore cannot do this wait: an AccessDenied is final to it, not a transient error.
    A role that does not exist (`role_exists`, asked once) is no propagation delay: no retry."""
    deadline = time.monotonic() + wait
    attempt = 1
    while True:
        try:
            return fetcher.fetch_credentials()
        except ClientError as err:
            remaining = deadline - time.monotonic()
            if not is_access_denied(err) or remaining <= 0:
                raise
            exists = role_exists()
            if exists is False:
                raise
            why = ("the role exists (checked with main_profile), so IAM has not propagated the "
                   "change yet" if exists else "IAM changes take a while to propagate")
            pause = min(remaining, retries.backoff(attempt, FIRST_DELAY, MAX_DELAY))
            report(progress, f"AssumeRole on {role_arn} denied (attempt {attempt}); {why} — "
                             f"retrying in {pause:.1f} s", logger)
            time.sleep(pause)
            attempt += 1


def _assume_error(err: Exception, role_arn: str, caller: Identity, external_id: str | None,
                  source_identity: str | None, wait: float, exists: bool | None = None) -> XacctError:
    action = f"assuming {role_arn} as {caller.arn}"
    if not is_access_denied(err):
        return explain(err, action)
    role_account = role_arn.split(":")[4]
    if exists is False:
        return RoleNotFound(
            f"{action}: the role does not exist in account {role_account} (checked with main_profile), "
            "so this is no propagation delay — create it first (xacct-nb run 01, then 02, or xacct-nb "
            "apply), or fix env / the account ids in the params", "NoSuchEntity")
    if caller.account == role_account:
        # Never advise trusting the role's own account: that would widen access. A caller there
        # is either already the role (use it as-is) or the wrong profile.
        return AccessDenied(
            f"{action}: access denied — {caller.arn} is in the role's own account {role_account}; "
            "use a profile of the consumer principal, or one that already is the role", "AccessDenied")
    # From the consumer side the three causes look identical (AWS answers AccessDenied for a
    # missing role too), so say what to check, most common first.
    actions = "sts:AssumeRole and sts:SetSourceIdentity" if source_identity else "sts:AssumeRole"
    extid = ("and its sts:ExternalId condition equals the external id given" if external_id else
             "(if it requires sts:ExternalId, pass external_id)")
    waited = f" (still denied after retrying for {wait:g} s)" if wait > 0 else ""
    return AccessDenied(
        f"{action}: access denied{waited} — check, most likely first: "
        f"1) trust policy: the role's trust policy must allow {actions} to "
        f"arn:aws:iam::{caller.account}:root with aws:PrincipalArn {caller.principal_arn} {extid}; "
        f"2) consumer policy: {caller.principal_arn} needs an identity policy allowing "
        f"{actions} on {role_arn}; " + (
            f"the role exists in account {role_account} (checked with main_profile)" if exists else
            f"3) the role must exist in account {role_account} (a missing role is also "
            "reported as access denied; set main_profile to have it checked)"), "AccessDenied")


# --- the returned session ---------------------------------------------------------------------

class _AssumedRoleProvider(CredentialProvider):
    """A one-entry provider chain that hands botocore our refreshing credentials."""

    METHOD = "assume-role"

    def __init__(self, credentials: RefreshableCredentials):
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def _session_like(source: botocore.session.Session, credentials: RefreshableCredentials,
                  region: str | None) -> boto3.Session:
    """A new session with the source's profile/config (so endpoint_url, region, retries and the
    config files stay the same) but the given credentials instead of the profile's own."""
    core = botocore.session.Session()
    for name, value in source.instance_variables().items():  # profile, region, config files...
        core.set_config_variable(name, value)
    if region:
        core.set_config_variable("region", region)
    core.set_default_client_config(source.get_default_client_config())
    # Replacing the provider chain (instead of set_credentials, which stores static keys) keeps the
    # RefreshableCredentials object itself, so every client signs with renewed keys.
    core.register_component("credential_provider", CredentialResolver([_AssumedRoleProvider(credentials)]))
    return boto3.Session(botocore_session=core)


def role_now_refused(session: boto3.Session) -> str | None:
    """For a session from :func:`assume`: the role's ARN when AssumeRole of it is denied NOW (the
    role was deleted, or its trust no longer admits the caller), else None — also for sessions
    that are not ours to re-assume. One fresh AssumeRole call; used to explain a denial."""
    fetcher = role_fetcher(botocore_session(session).get_credentials())
    if fetcher is None:
        return None
    try:
        assume_again(fetcher)
    except ClientError as err:
        return assumed_role_arn(fetcher) if is_access_denied(err) else None
    except BotoCoreError:
        return None
    return None
