"""User-facing errors: every exception class of the package lives here.

Every error the package raises on purpose is an `XacctError`: its `str()` is ONE line that names
what is wrong and how to fix it, and never contains a credential. The CLI prints that line and
exits with `exit_code` (2 = refused or invalid input, nothing was changed; 1 = AWS failure).

Every one survives ``pickle`` with its attributes (errors cross Dask process boundaries). The
tree (tests/test_errors.py checks it against the classes):

    BotoCoreError
    └── GarbledBody
    Exception
    ├── StrictYamlError
    └── XacctError (exit 1)
        ├── AwsError (exit 1)
        │   ├── AccessDenied (exit 1)
        │   │   └── RoleNotFound (exit 1)
        │   ├── ApplyInterrupted (exit 1)
        │   │   └── ApplyDenied (exit 1) (also AccessDenied)
        │   ├── CredentialsExpired (exit 1)
        │   ├── ExportChecksumError (exit 1)
        │   └── ItemChanged (exit 1)
        ├── InputError (exit 2)
        │   ├── ConfirmationRequired (exit 2)
        │   ├── ExtraMissing (exit 2) (also ImportError)
        │   └── SpecError (exit 2)
        ├── MotoMismatch (exit 2)
        └── VerificationFailed (exit 1)
    UserWarning
    └── ProjectionWarning
    ValueError
    ├── NoPartiQLForm
    └── PartiQLMalformed

`GarbledBody` is a botocore error so that botocore's own retry handlers see it; `StrictYamlError`
is turned into a `SpecError` by `spec.load_spec`; `ProjectionWarning` is a warning, not an error;
`PartiQLMalformed` (what DynamoDB refuses to parse; the sandbox answers it as a ValidationException,
the panel as an InputError) and `NoPartiQLForm` (a Run that has no PartiQL statement: show code
says why) never reach the operator as they are.
The sandbox's answers in moto's own error types (``sandbox/``) are moto's, not ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from .provisioning.model import Change, Plan
    from .verify.model import AccessMatrix

# Error codes that mean "IAM said no". moto answers a denied DynamoDB call with an XML body and
# HTTP 403, which botocore's JSON parser cannot read, so the code it reports is the bare status
# "403"; real DynamoDB says AccessDeniedException, IAM/STS say AccessDenied.
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation", "AuthorizationError"}
)
EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
     "UnrecognizedClientException", "InvalidToken"}
)
THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
     "Throttling", "TooManyRequestsException"}
)


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """`cls` with `args`, without calling its ``__init__`` (pickle then restores ``__dict__``)."""
    err = cls.__new__(cls)
    err.args = args
    return err


class XacctError(Exception):
    """An expected failure with a one-line message for a person."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(one_line(message))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls cls(*self.args): wrong for every subclass whose
        # __init__ takes other arguments than the message (SpecError, VerificationFailed...).
        return _rebuilt, (type(self), self.args), self.__dict__

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error in a notebook cell: the one line, not our internal
        frames. `xacct_nb.notebook.full_traceback()` prints the whole traceback."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}",
                "(whole traceback: from xacct_nb.notebook import full_traceback; full_traceback())"]


class InputError(XacctError):
    """Bad or refused input. Raised before any AWS call, so nothing changed."""

    exit_code = 2


class ExtraMissing(InputError, ImportError):
    """A feature needs an optional part that a plain ``pip install xacct-nb`` leaves out; `extra`
    names the extra that brings it (see :mod:`xacct_nb.extras`)."""

    def __init__(self, feature: str, module: str, extra: str):
        self.extra = extra
        super().__init__(f"{feature} needs {module}, which a plain `pip install xacct-nb` leaves out — "
                         f"pip install 'xacct-nb[{extra}]'")


class SpecError(InputError):
    """An invalid access spec (params file); `field` is the dotted path of the offending key."""

    def __init__(self, field: str, problem: str, fix: str = ""):
        self.field = field
        msg = f"{field}: {problem}"
        if fix:
            msg += f" — {fix}"
        super().__init__(msg)


class ConfirmationRequired(InputError):
    """A change was asked for without the explicit confirmation it needs; `plan` is the plan
    that would have been applied (its id is the confirmation)."""

    def __init__(self, message: str, plan: Plan | None = None):
        self.plan = plan
        super().__init__(message)


class AwsError(XacctError):
    """AWS refused or failed a call; `code` is the AWS error code when there was one."""

    def __init__(self, message: str, code: str | None = None):
        self.code = code
        super().__init__(message)


class AccessDenied(AwsError):
    """IAM denied the call."""


class RoleNotFound(AccessDenied):
    """AssumeRole was denied because the role does not exist (checked in the main account)."""


class CredentialsExpired(AwsError):
    """The credentials in use are expired, invalid or missing."""


class ApplyInterrupted(AwsError):
    """An apply or destroy stopped midway: `done` are the changes made before the failure,
    `plan` the plan being executed. Re-running converges from the live state."""

    def __init__(self, message: str, code: str | None = None, *, plan: Plan | None = None,
                 done: Sequence[Change] = ()):
        self.plan = plan
        self.done = list(done)
        super().__init__(message, code)

    @classmethod
    def of(cls, cause: XacctError, message: str, **details: Any) -> ApplyInterrupted:
        """Wrap `cause`, keeping an AccessDenied an AccessDenied for callers that catch it."""
        kind = ApplyDenied if isinstance(cause, AccessDenied) else cls
        return kind(message, getattr(cause, "code", None), **details)


class ApplyDenied(ApplyInterrupted, AccessDenied):
    """An apply or destroy stopped midway because IAM denied a call."""


class MotoMismatch(XacctError):
    """The installed moto is not the one the sandbox's fixes were written for."""

    exit_code = 2


class ExportChecksumError(AwsError):
    """A data file's MD5 differs from the manifest's: the file is corrupt or was replaced."""


class ItemChanged(AwsError):
    """A conditional write was refused (ConditionalCheckFailedException): the item is no longer
    what was read (or, for a new item, one with that key exists). Nothing was written."""

    def __init__(self, message: str = "the item changed since it was read — reload it and edit again",
                 code: str | None = "ConditionalCheckFailedException"):
        super().__init__(message, code)


class VerificationFailed(XacctError):
    """Reality differs from the spec: at least one cell of the matrix is FAIL."""

    exit_code = 1

    def __init__(self, matrix: AccessMatrix):
        self.matrix = matrix
        cells = "; ".join(f"{c.target}/{c.check}: expected {c.expected}, got {c.actual}"
                          + (f" ({c.detail})" if c.actual == "error" else "") for c in matrix.failures)
        super().__init__(f"access verification of env {matrix.env} failed {len(matrix.failures)} of "
                         f"{len(matrix.cells)} checks: {cells} — the grants differ from the spec: run "
                         "plan/apply for this env and look for policies attached to the role outside xacct-nb")


@dataclass
class StrictYamlError(Exception):
    """A well-formed YAML text that is refused: `path` is the dotted path of the key."""

    path: str
    line: int     # 1-based, of the refused key
    column: int   # 1-based
    problem: str
    fix: str
    first: str = ""  # where the key was given first, for a duplicate

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}" + (f"; first at {self.first}" if self.first else "")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem} ({self.where}) — {self.fix}"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt, (type(self), self.args), self.__dict__


class GarbledBody(BotoCoreError):
    """A DynamoDB response body that cannot be the server's whole answer (cut short or damaged
    on the way) and was still so after every attempt."""

    fmt = ("dynamodb:{operation} got a damaged response body {attempts} times in a row "
           "({problem}) — something between here and DynamoDB (a proxy, a middlebox) cuts or "
           "alters responses; retry later or bypass it")


class ProjectionWarning(UserWarning):
    """A projected attribute that no returned item had (see ``RemoteTable.scan``'s ``projection``)."""


def one_line(text: str) -> str:
    """Collapse whitespace so the message is a single line, and strip any markup AWS sent."""
    # moto's XML bodies must never reach a person; "a < b <= c" is no tag and stays
    text = re.sub(r"</?[A-Za-z][^<>]*>", " ", str(text))
    return re.sub(r"\s+", " ", text).strip()


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def http_status(err: BaseException) -> int | None:
    if isinstance(err, ClientError):
        return err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def is_access_denied(err: BaseException) -> bool:
    """True for an IAM denial, whether it arrives as JSON (AWS) or as a bare XML 403 (moto)."""
    if not isinstance(err, ClientError):
        return False
    return error_code(err) in ACCESS_DENIED_CODES or http_status(err) == 403


def is_throttle(err: BaseException) -> bool:
    return isinstance(err, ClientError) and error_code(err) in THROTTLE_CODES


def is_expired(err: BaseException) -> bool:
    return isinstance(err, ClientError) and error_code(err) in EXPIRED_CODES


def aws_message(err: ClientError) -> str:
    """AWS's own message, made safe to show: one line, no XML."""
    msg = err.response.get("Error", {}).get("Message") or ""
    if not msg or msg.strip().startswith("<") or msg == error_code(err):
        msg = ""
    return one_line(msg)


def explain(err: BaseException, action: str, fix: str = "") -> XacctError:
    """Turn a botocore error into our one-line error: what was being done, why it failed, what to do."""
    if isinstance(err, XacctError):
        return err
    if isinstance(err, ClientError):
        code = error_code(err)
        detail = aws_message(err)
        if is_access_denied(err):
            text = f"{action}: access denied" + (f" ({detail})" if detail else "")
            return AccessDenied(text + (f" — {fix}" if fix else ""), code or "AccessDenied")
        if is_expired(err):
            return CredentialsExpired(
                f"{action}: the credentials are expired or invalid ({code}) — "
                "refresh them (aws sso login / new keys) or re-run the assume step", code)
        text = f"{action}: {code}" + (f": {detail}" if detail else "")
        return AwsError(text + (f" — {fix}" if fix else ""), code)
    name = type(err).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError"}:
        return CredentialsExpired(
            f"{action}: no AWS credentials found — set a profile (AWS_PROFILE or the params' *_profile) "
            "or start the sandbox and export its AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE")
    if name == "ProfileNotFound":
        return InputError(f"{action}: {err} — add the profile to your AWS config or fix the name in the params")
    if name in {"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"}:
        return AwsError(f"{action}: cannot reach the AWS endpoint ({err}) — is the sandbox running / the network up?")
    return AwsError(f"{action}: {name}: {err}")


class PartiQLMalformed(ValueError):
    """A PartiQL statement DynamoDB would refuse before any authorisation (see `xacct_nb.partiql`)."""


class NoPartiQLForm(ValueError):
    """A Run that no PartiQL statement expresses (binary keys, unreadable paths): show code says why."""
