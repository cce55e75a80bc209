"""xacct-nb: cross-account DynamoDB access — provision, assume, read.

Provision an IAM role in the main account that the consumer account may assume (one policy per
table and access level), let a consumer principal assume it, and read the remote tables as pandas
DataFrames. Every function takes its ``boto3.Session`` explicitly (or a profile name).

    import xacct_nb as xn

    spec = xn.load_spec("params/dev.yaml")        # validated params: the access spec
    shown = xn.plan(spec)                         # reads both accounts, changes nothing
    xn.apply(spec, confirm=shown.id)              # makes exactly that plan
    role = xn.assume(spec)                        # a self-refreshing boto3.Session in main
    orders = xn.RemoteTable(role, "orders")
    df = orders.query("C0001")
    xn.verify_access(spec).assert_ok()            # probes what the role can and cannot do
    xn.destroy(spec, confirm=xn.plan_destroy(spec).id)  # or yes=True: automation only

The names below are the stable public API (see the README); submodules may change. Imports are
lazy, so ``import xacct_nb`` stays fast for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    # params → spec
    "AccessSpec": "spec", "TableAccess": "spec", "load_spec": "spec", "parse_spec": "spec",
    # plan / apply
    "ApplyResult": "provisioning", "Change": "provisioning", "Plan": "provisioning",
    "apply": "provisioning", "destroy": "provisioning", "live_state": "provisioning",
    "plan": "provisioning", "plan_destroy": "provisioning",
    "wait_until_assumable": "provisioning",
    # sessions
    "Identity": "sessions", "assume": "sessions", "assume_from_spec": "sessions",
    "profile_session": "sessions", "whoami": "sessions",
    # tables
    "KeySchema": "dynamo", "RemoteTable": "dynamo", "TableInfo": "dynamo",
    "describe_all": "dynamo", "to_csv": "dynamo", "to_jsonl": "dynamo", "to_parquet": "dynamo",
    "write_frame": "dynamo", "read_export": "dynamo.export_reader",
    # verification
    "AccessMatrix": "verify", "verify_access": "verify",
    # the local rehearsal
    "Sandbox": "sandbox",
    # progress and errors
    "ProgressEvent": "progress",
    # every exception class of the package (errors.py)
    "AccessDenied": "errors", "ApplyDenied": "errors", "ApplyInterrupted": "errors", "AwsError": "errors",
    "ConfirmationRequired": "errors", "CredentialsExpired": "errors", "ExportChecksumError": "errors",
    "ExtraMissing": "errors", "GarbledBody": "errors", "InputError": "errors", "ItemChanged": "errors",
    "MotoMismatch": "errors", "NoPartiQLForm": "errors", "PartiQLMalformed": "errors",
    "ProjectionWarning": "errors", "RoleNotFound": "errors", "SpecError": "errors", "StrictYamlError": "errors",
    "VerificationFailed": "errors", "XacctError": "errors",
}

__all__ = [
    "AccessDenied", "AccessMatrix", "AccessSpec", "ApplyDenied", "ApplyInterrupted", "ApplyResult",
    "AwsError", "Change", "ConfirmationRequired", "CredentialsExpired", "ExportChecksumError", "ExtraMissing",
    "GarbledBody", "Identity", "InputError", "ItemChanged", "KeySchema", "MotoMismatch", "NoPartiQLForm",
    "PartiQLMalformed",
    "Plan", "ProgressEvent",
    "ProjectionWarning", "RemoteTable", "RoleNotFound", "Sandbox", "SpecError", "StrictYamlError",
    "TableAccess", "TableInfo", "VerificationFailed", "XacctError", "apply", "assume", "assume_from_spec",
    "describe_all", "destroy", "live_state", "load_spec", "parse_spec", "plan", "plan_destroy",
    "profile_session", "read_export", "to_csv", "to_jsonl", "to_parquet", "verify_access",
    "wait_until_assumable", "whoami", "write_frame", "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xacct_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and IDEs see
    from .dynamo import KeySchema, RemoteTable, TableInfo, describe_all, to_csv, to_jsonl, to_parquet, write_frame
    from .dynamo.export_reader import read_export
    from .errors import (
        AccessDenied,
        ApplyDenied,
        ApplyInterrupted,
        AwsError,
        ConfirmationRequired,
        CredentialsExpired,
        ExportChecksumError,
        ExtraMissing,
        GarbledBody,
        InputError,
        ItemChanged,
        MotoMismatch,
        NoPartiQLForm,
        PartiQLMalformed,
        ProjectionWarning,
        RoleNotFound,
        SpecError,
        StrictYamlError,
        VerificationFailed,
        XacctError,
    )
    from .progress import ProgressEvent
    from .provisioning import (
        ApplyResult,
        Change,
        Plan,
        apply,
        destroy,
        live_state,
        plan,
        plan_destroy,
        wait_until_assumable,
    )
    from .sandbox import Sandbox
    from .sessions import Identity, assume, assume_from_spec, profile_session, whoami
    from .spec import AccessSpec, TableAccess, load_spec, parse_spec
    from .verify import AccessMatrix, verify_access
