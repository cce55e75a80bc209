"""Prove that the consumer can do what the spec grants and nothing more: `verify_access(spec)`.

Verification assumes the role as the analyst, exactly as a consumer would, and sends one
harmless probe per table and operation class. IAM answers each one before DynamoDB looks at the
request, so the answer shows whether the role is *authorised*: a denial means "denied", the
probe's designed rejection (or a read's success) means "allowed". The result is an
`AccessMatrix`: expected vs actual per cell, PASS / FAIL / SKIPPED.

Probes, sent as the assumed role. The probe key is ``xacct-nb-verify-probe`` in every key
attribute (typed from the table's AttributeDefinitions); "allowed" is what an authorised probe gets:

describe     DescribeTable. Allowed: the description. Read-only.
get          GetItem of the probe key, projecting the key only. Allowed: success. Read-only, and the
             probe key is not an item.
query        Query partition key = probe value, Select=COUNT, Limit=1. Allowed: success. Read-only,
             returns a count, never items.
scan         Scan Select=COUNT, Limit=1. Allowed: success. Reads at most one item, returns a count.
query_index  Query on the first GSI (else LSI), Select=COUNT, Limit=1. Allowed: success. Read-only;
             "n/a" when the table has no index.
write        PutItem of the probe key, and UpdateItem SET of one attribute on it, both with the
             condition ``attribute_exists(#pk) AND attribute_not_exists(#pk)``. Allowed:
             ConditionalCheckFailedException. The condition is a contradiction: DynamoDB evaluates
             it after IAM has authorised the call and refuses the write, so nothing is written.
delete       DeleteItem of the probe key with the same impossible condition. Allowed:
             ConditionalCheckFailedException. Nothing is deleted.
admin        UpdateTable with BillingMode set to the table's CURRENT billing mode (read with
             DescribeTable just before). Allowed: success (moto returns the unchanged description)
             or ValidationException / ResourceInUseException / LimitExceededException (AWS
             rejects a request that changes nothing). It asks for the state the table is already
             in, so accepted or rejected, nothing changes. Sent only to an ACTIVE table (a table
             switching billing mode is UPDATING) whose billing mode is known; otherwise SKIPPED.

DeleteTable is NEVER sent: "admin" is proven with UpdateTable alone (the levels grant both or
neither — only Full's ``dynamodb:*`` includes them). A write probe that *succeeds* would mean the
impossible condition held; it is reported as an error, never as "allowed".

Beyond the tables in the spec, verification checks that

* tables NOT in the spec are denied (``extra_tables``; by default every table the main account
  lists, when a main-account session is available);
* the analyst can assume the role, and a principal of another account cannot (the params'
  ``outsider_profile``; without one the check is SKIPPED, never PASS);
* with ``external_id`` set, assuming without it and with a wrong one is denied;
* unless the whole consumer account is trusted, a consumer principal other than
  ``consumer_principal`` (or outside ``trusted_principal_arns``) is denied — probed live when a
  session for such a principal is passed (``unlisted_principal``), otherwise the live role's
  trust policy is compared with the generated one ("document-checked");
* the live trust policy is the one the spec generates ("trust policy as in spec"): a drifted one
  is a FAIL, naming any principal that became a unique id (``AROA…``/``AIDA…``: IAM shows a
  deleted principal that way, and recreating it does not bring access back);
* a table under a customer-managed KMS key is read through DynamoDB with that key: its
  "kms_decrypt" cell repeats the Scan probe's answer with the key and what its key policy says.
  DynamoDB caches a table's key for about 5 minutes, so a revoked ``kms:Decrypt`` keeps reading
  that long: verify a revocation after that.

Verification reads table metadata with the main-account session when it has one (so probes get
the right key schema even for tables the role cannot describe) and never changes anything.
IAM is eventually consistent: right after an apply a changed grant may still show its old
behaviour for a few seconds — re-run before trusting a FAIL that contradicts the apply.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

import boto3

from ..clients import make_client
from ..errors import AccessDenied, InputError, XacctError
from ..progress import ProgressCallback, report
from ..retries import PROBE_ATTEMPTS
from ..sessions import assume_from_spec, profile_session, reading_session, require_account, whoami
from ..spec import AccessSpec
from .model import (
    EXPECTED_ALLOWED,
    NOT_GRANTED,
    OPERATIONS,
    ROLE,
    AccessMatrix,
    Cell,
    Outcome,
    VerificationFailed,
    cell,
)
from .probes import kms_cell, other_tables, table_cells, table_keys
from .trust import trust_cells

logger = logging.getLogger(__name__)



__all__ = ["EXPECTED_ALLOWED", "OPERATIONS", "AccessMatrix", "Cell", "VerificationFailed", "verify_access"]


# ---------------------------------------------------------------------------------------------
# Entry point


def verify_access(spec: AccessSpec, *, analyst: boto3.Session | None = None,
                  outsider: boto3.Session | None = None, extra_tables: Iterable[str] | None = None,
                  main: boto3.Session | None = None, unlisted_principal: boto3.Session | None = None,
                  wait: float = 30, progress: ProgressCallback | None = None,
                  consumer: boto3.Session | None = None) -> AccessMatrix:
    """Probe every table of the spec (and the tables not in it) as the assumed role, and the
    role's trust; see the module docstring. Changes nothing.

    analyst: source session (default: the spec's analyst_profile). outsider: a session of another
    account (default: outsider_profile; none → SKIPPED). main: a main-account session used only to
    read table metadata, list tables and read the role's trust policy (default: main_profile when
    it is configured; none → tables are found from `extra_tables` only). unlisted_principal: a
    consumer principal NOT in trusted_principal_arns. wait: seconds to retry a denied first
    AssumeRole (a fresh role propagates through IAM).

    grant_mode resource_policy: no role — the analyst probes every table by ARN with its own
    session; the outsider and an unlisted consumer principal (default: consumer_profile, when it
    is not consumer_principal) scan by ARN and must be denied; drift cells check our statement on
    each table, foreign statements granting our principal more, and the consumer-side policy
    (`consumer`, default consumer_profile).
    """
    if spec.consumers:
        return _verify_consumers(spec, analyst=analyst, outsider=outsider, extra_tables=extra_tables, main=main,
                                 unlisted_principal=unlisted_principal, wait=wait, progress=progress,
                                 consumer=consumer)
    analyst = analyst or profile_session(spec.analyst_profile, spec.region, field="analyst_profile")
    main, main_note = _main_session(spec, main)
    if spec.uses_resource_policy:
        return _verify_resource_policy(spec, analyst, outsider, extra_tables, main, main_note,
                                       unlisted_principal, consumer, progress)
    report(progress, f"assuming {spec.role_arn} as the analyst", logger)
    role, assumed = _assume(spec, analyst, wait, progress)
    cells = [cell(ROLE, "analyst assumes the role", "trust", "allowed", assumed)]
    # A profile that already is the role (role_arn, SSO) comes back as-is: it cannot probe the trust.
    consumer_side = None if role is analyst else analyst
    cells += trust_cells(spec, consumer_side, outsider, unlisted_principal, main, main_note)

    ddb = make_client(role, "dynamodb", region_name=spec.region, attempts=PROBE_ATTEMPTS) if role else None
    main_ddb = make_client(main, "dynamodb", region_name=spec.region, attempts=PROBE_ATTEMPTS) if main else None
    keys, key_cells = table_keys(spec, main)
    cells += key_cells
    for entry in spec.table_access_list:
        report(progress, f"probing {entry.table_name} ({entry.access_type})", logger)
        probed = table_cells(entry.table_name, entry.access_type, EXPECTED_ALLOWED[entry.access_type],
                              ddb, main_ddb)
        cells += probed
        if entry.table_name in keys:
            cells.append(kms_cell(keys[entry.table_name], probed))
    others, discovery = other_tables(spec, extra_tables, main_ddb, main_note)
    cells += discovery
    for name in others:
        report(progress, f"probing {name} (not in the spec)", logger)
        cells += table_cells(name, NOT_GRANTED, frozenset(), ddb, main_ddb)
    return AccessMatrix(spec.env, spec.role_arn, tuple(cells))



def _verify_resource_policy(spec: AccessSpec, analyst: boto3.Session, outsider: boto3.Session | None,
                            extra_tables: Iterable[str] | None, main: boto3.Session | None, main_note: str,
                            unlisted: boto3.Session | None, consumer: boto3.Session | None,
                            progress: ProgressCallback | None) -> AccessMatrix:
    from .grants import GRANT, drift_cells, key_cells, kms_decrypt_cell, reader_cells

    own = reading_session(spec, source=analyst)  # refuses a session outside the consumer account
    cells = [cell(GRANT, "analyst reads with its own session", "trust", "allowed", Outcome("allowed"))]
    if outsider is None and spec.outsider_profile:
        outsider = profile_session(spec.outsider_profile, spec.region, field="outsider_profile")
    if consumer is None and spec.consumer_profile:
        consumer = profile_session(spec.consumer_profile, spec.region, field="consumer_profile")
    if unlisted is None and consumer is not None and \
            whoami(consumer).principal_arn != spec.consumer_principal:
        unlisted = consumer
    cells += reader_cells(spec, "outsider", outsider, "outsider_profile is not set")
    cells += reader_cells(spec, "unlisted consumer principal", None if spec.organization_id else unlisted,
                          f"organization_id admits every principal of {spec.organization_id} that its own "
                          "account's policies allow" if spec.organization_id else
                          "no session of another consumer principal (consumer_profile)")
    cells += drift_cells(spec, main, consumer, main_note)
    ddb = make_client(own, "dynamodb", region_name=spec.region, attempts=PROBE_ATTEMPTS)
    main_ddb = make_client(main, "dynamodb", region_name=spec.region, attempts=PROBE_ATTEMPTS) if main else None
    keys, key_problems = key_cells(spec, main)
    cells += key_problems
    for entry in spec.table_access_list:
        report(progress, f"probing {entry.table_name} ({entry.access_type}) by ARN", logger)
        probed = table_cells(entry.table_name, entry.access_type, EXPECTED_ALLOWED[entry.access_type],
                             ddb, main_ddb, address=spec.table_arn(entry.table_name))
        cells += probed
        if entry.table_name in keys:  # the Scan probe decrypted with the key, as the analyst
            cells.append(kms_decrypt_cell(spec, keys[entry.table_name], probed))
    others, discovery = other_tables(spec, extra_tables, main_ddb, main_note)
    cells += discovery
    for name in others:
        report(progress, f"probing {name} (not in the spec) by ARN", logger)
        cells += table_cells(name, NOT_GRANTED, frozenset(), ddb, main_ddb, address=spec.table_arn(name))
    return AccessMatrix(spec.env, f"resource policies for {spec.consumer_principal}", tuple(cells))


def _verify_consumers(spec: AccessSpec, *, analyst: boto3.Session | None, outsider: boto3.Session | None,
                      extra_tables: Iterable[str] | None, main: boto3.Session | None,
                      unlisted_principal: boto3.Session | None, wait: float, progress: ProgressCallback | None,
                      consumer: boto3.Session | None) -> AccessMatrix:
    """A spec with a `consumers:` list: the whole matrix once per consumer, as that consumer's
    analyst (its analyst_profile; `analyst` stands for the first's), every cell's target prefixed
    with the consumer's principal name — its tables at its levels allowed, every other table
    (the other consumers' too) denied, the outsider and an unlisted principal denied."""
    cells: list[Cell] = []
    grants = []
    for k, sub in enumerate(spec.consumer_specs):
        who = f"{sub.principal_kind}/{sub.principal_name}"
        grants.append(who)
        source = analyst if k == 0 else None
        if source is None and not sub.analyst_profile:
            cells.append(cell(f"{who}: {ROLE}", "analyst reads", "trust", "allowed",
                              Outcome("skipped", f"consumers[{k}].analyst_profile is not set")))
            continue
        report(progress, f"verifying consumer {k}: {sub.consumer_principal}", logger)
        # The admin session of the first consumer's account also serves a consumer of that account.
        same = consumer if sub.consumer_account_id == spec.consumer_account_id else None
        if same is None and sub.consumer_account_id == spec.consumer_account_id and spec.consumer_profile:
            same = profile_session(spec.consumer_profile, spec.region, field="consumers[0].consumer_profile")
        matrix = verify_access(sub, analyst=source, outsider=outsider, extra_tables=extra_tables, main=main,
                               unlisted_principal=unlisted_principal if k == 0 else None, wait=wait,
                               progress=progress, consumer=same)
        cells += [dataclasses.replace(c, target=f"{who}: {c.target}") for c in matrix.cells]
    return AccessMatrix(spec.env, f"{len(grants)} consumers: " + ", ".join(grants), tuple(cells))


def _main_session(spec: AccessSpec, main: boto3.Session | None) -> tuple[boto3.Session | None, str]:
    """The main-account session, or None and why not. Its account is checked: a wrong profile
    would list (and describe) another account's tables and make the matrix meaningless."""
    if main is None and not spec.main_profile:
        return None, "main_profile is not set"
    try:
        main = main or profile_session(spec.main_profile, spec.region, field="main_profile")
        require_account(main, spec.main_account_id, "main_profile")
    except XacctError as err:
        return None, str(err)
    return main, ""


def _assume(spec: AccessSpec, analyst: boto3.Session, wait: float,
            progress: ProgressCallback | None) -> tuple[boto3.Session | None, Outcome]:
    try:
        return assume_from_spec(spec, source=analyst, wait=wait, progress=progress), Outcome("allowed")
    except InputError:
        raise
    except AccessDenied as err:
        return None, Outcome("denied", str(err))
    except XacctError as err:
        return None, Outcome("error", str(err))


