"""A parallel Scan as a Dask DataFrame, and as a partitioned Parquet dataset written by Dask workers.

    ddf = RemoteTable(role, "orders").to_dask(segments=8)      # lazy; one partition per segment
    ddf.compute()                                              # on whatever scheduler is active

Partitions
    Partition ``i`` is scan segment ``i`` of ``segments`` (DynamoDB's parallel scan), read whole
    by one task with :meth:`RemoteTable.scan` (the same converter, so the same values). A worker
    that dies mid-read loses only its task; Dask runs it again from the segment's start, so the
    result is still the clean read. The partitions' index is each partition's own 0..n-1.

Credentials on the workers
    No secret goes into the task graph by default: each task carries an :class:`AssumeRecipe`
    (profile name, role ARN, external id, session name, region), from which each worker process
    assumes the role itself, once (one session cached per process and recipe), with the same
    self-refreshing credentials as :func:`xacct_nb.assume`. Workers need the profile (the same
    AWS config files). For clusters without it, ``credentials="frozen"`` ships the session's
    current short-lived keys (:class:`FrozenCredentials`), checked before each partition: a task
    refuses to start with less than :data:`MIN_LEFT_SECONDS` left. Neither object's ``repr``
    shows a secret.

dtypes (``meta``)
    Dask needs every partition's columns and dtypes before reading. They come from the table's
    key schema (key attributes first, typed by it) and a sample: the first
    ``sample_items / segments`` items (at least one) of EVERY segment, read in parallel with the
    same options and converted together by the same rules as :meth:`RemoteTable.scan`. Each
    partition is converted on its own and then conformed to that meta: a column the partition
    lacks is all-missing of the meta's dtype; a column whose dtype differs is cast when no value
    changes (``Int64`` → ``float64`` when every value is exact, anything → ``object``, numbers →
    exact ``Decimal`` in an object column). An attribute the sample never saw is not an error:
    when the collection is computed, each partition reports its column names and dtypes (not its
    data) to one small task, which adds every column the meta lacks (its dtype where the
    partitions agree, else ``object``), and every partition is conformed to that — so the result
    equals ``scan`` value for value (``ddf.columns`` lists the sampled columns; the computed
    frame has them all). The price: no partition is finished before every segment is read. A
    value the meta's dtype cannot hold (e.g. ``1.5`` in a column sampled as ``Int64``) fails the
    partition with a one-line error naming the column and the fix (``numbers="decimal"`` or
    ``dtypes={column: "object"}``) instead of changing a value silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._botocore_private import assume_role_arguments, botocore_session, credential_expiry
from ..atomicfile import atomic_path
from ..clients import make_client
from ..errors import CredentialsExpired, InputError, XacctError
from ..extras import require

if TYPE_CHECKING:
    import dask.dataframe as dd

    from ..spec import AccessSpec
    from .table import RemoteTable

__all__ = ["MIN_LEFT_SECONDS", "AssumeRecipe", "FrozenCredentials", "WorkerCredentials",
           "conform", "scan_to_dataset", "to_dask", "write_parquet_dataset"]

logger = logging.getLogger(__name__)

SCHEDULER_TIMEOUT = "10s"  # connecting to a --dask tcp:// scheduler
MIN_LEFT_SECONDS = 300  # frozen credentials with less than this left start no partition
SAMPLE_ITEMS = 1000
_PER_SEGMENT = ("cannot apply per partition: every partition reads its whole segment — use scan() "
                "for a bounded read")
# Options of scan() that to_dask does not take, and why.
_REFUSED = {"max_items": _PER_SEGMENT, "max_rcu": _PER_SEGMENT, "start_key": _PER_SEGMENT,
            "allow_full_scan": "to_dask always reads the whole table (or index) — drop it",
            "dtype_backend": "the partitions use scan's default dtypes — use scan() or to_arrow()",
            "flatten_maps": "dotted columns are not known before every map is read — use scan()"}


# --- credentials on the workers ------------------------------------------------------------------

_SESSIONS: dict[AssumeRecipe, boto3.Session] = {}  # one per worker process and recipe
_SESSIONS_LOCK = threading.Lock()


@dataclass(frozen=True, repr=False)
class AssumeRecipe:
    """How a worker process gets the role's session itself: open ``profile``, then (with
    ``role_arn``) assume the role as :func:`xacct_nb.assume` does. No secrets: safe to ship."""

    profile: str
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str = "xacct-nb"
    region: str | None = None
    source_identity: str | None = None
    duration: int = 3600

    def __repr__(self) -> str:
        external = "None" if self.external_id is None else "'***'"
        return (f"AssumeRecipe(profile={self.profile!r}, role_arn={self.role_arn!r}, "
                f"external_id={external}, session_name={self.session_name!r}, region={self.region!r})")

    @classmethod
    def from_spec(cls, spec: AccessSpec, source_identity: str | None = None) -> AssumeRecipe:
        """The spec's analyst assuming the spec's role (``source_identity``: see
        :func:`xacct_nb.sessions.source_identity_of`; :func:`assume_from_spec` always sends one)."""
        if not spec.analyst_profile:
            raise InputError("analyst_profile is not set — the workers open that profile")
        return cls(profile=spec.analyst_profile, role_arn=spec.role_arn, external_id=spec.external_id,
                   session_name=spec.session_name, region=spec.region,
                   source_identity=source_identity, duration=spec.max_session_duration)

    @classmethod
    def from_session(cls, session: boto3.Session) -> AssumeRecipe:
        """The recipe of a session from :func:`xacct_nb.assume` (or a plain profile session)."""
        core = botocore_session(session)
        profile = core.get_config_variable("profile")
        if not profile:
            raise InputError("to_dask: this session has no profile the workers could open — pass "
                             "credentials=AssumeRecipe(profile, role_arn, ...) or credentials='frozen'")
        assume_args = assume_role_arguments(core.get_credentials())
        if not assume_args:  # the profile itself (keys, SSO, a role_arn profile)
            return cls(profile=profile, region=session.region_name)
        return cls(profile=profile, role_arn=assume_args["RoleArn"],
                   external_id=assume_args.get("ExternalId"),
                   session_name=assume_args.get("RoleSessionName", "xacct-nb"),
                   region=session.region_name, source_identity=assume_args.get("SourceIdentity"),
                   duration=int(assume_args.get("DurationSeconds", 3600)))

    def session(self) -> boto3.Session:
        """This process's session for the recipe: made once, refreshed by botocore."""
        with _SESSIONS_LOCK:
            cached = _SESSIONS.get(self)
            if cached is None:
                cached = _SESSIONS[self] = self._open()
            return cached

    def _open(self) -> boto3.Session:
        from ..sessions import assume, profile_session

        try:
            source = profile_session(self.profile, self.region)
        except InputError as err:
            raise InputError(f"worker on {os.uname().nodename}: {err} — give the workers the same "
                             "AWS config files, or pass credentials='frozen' (--worker-credentials "
                             "frozen)") from None
        if self.role_arn is None:
            return source
        return assume(source, self.role_arn, session_name=self.session_name,
                      external_id=self.external_id, duration=self.duration, region=self.region,
                      source_identity=self.source_identity)


@dataclass(frozen=True, repr=False)
class FrozenCredentials:
    """A session's current short-lived keys, for workers without the profile. They are in the
    task graph (so on the scheduler too) and cannot be refreshed: keep reads shorter than them."""

    access_key: str
    secret_key: str
    token: str | None
    expires: dt.datetime | None
    region: str | None
    endpoint_url: str | None  # the DynamoDB endpoint, when a profile sets one (the sandbox)

    def __repr__(self) -> str:
        return f"FrozenCredentials(expires={self.expires}, region={self.region!r}, secrets hidden)"

    @classmethod
    def from_session(cls, session: boto3.Session) -> FrozenCredentials:
        credentials = session.get_credentials()
        if credentials is None:
            raise CredentialsExpired("to_dask: the session has no credentials — assume the role first")
        frozen = credentials.get_frozen_credentials()  # refreshes first when needed
        expiry = credential_expiry(credentials)
        endpoint = make_client(session, "dynamodb").meta.endpoint_url
        default = not endpoint or endpoint.endswith(".amazonaws.com")
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsExpired("to_dask: the session has no credentials — assume the role first")
        return cls(access_key=frozen.access_key, secret_key=frozen.secret_key, token=frozen.token,
                   expires=expiry.astimezone(dt.UTC) if expiry else None, region=session.region_name,
                   endpoint_url=None if default else endpoint)

    def session(self) -> boto3.Session:
        """A session of these keys, refused when they expire within :data:`MIN_LEFT_SECONDS`."""
        if self.expires is not None:
            left = (self.expires - dt.datetime.now(dt.UTC)).total_seconds()
            if left < MIN_LEFT_SECONDS:
                raise CredentialsExpired(
                    f"the frozen credentials shipped to the workers expire in {max(left, 0):.0f} s — "
                    "start the read again with fresh ones, or use the default credentials recipe "
                    "(workers with the profile refresh their own)")
        return _EndpointSession(self.endpoint_url, aws_access_key_id=self.access_key,
                                aws_secret_access_key=self.secret_key, aws_session_token=self.token,
                                region_name=self.region)


class _EndpointSession(boto3.Session):
    """A session whose clients use ``endpoint_url`` (what a profile's endpoint_url does; frozen
    keys come without the profile)."""

    def __init__(self, endpoint_url: str | None, **keys: Any):
        super().__init__(**keys)
        self._endpoint_url = endpoint_url

    def client(self, *args: Any, **kwargs: Any) -> Any:
        if self._endpoint_url and kwargs.get("endpoint_url") is None:
            kwargs["endpoint_url"] = self._endpoint_url
        return super().client(*args, **kwargs)


WorkerCredentials = AssumeRecipe | FrozenCredentials


def worker_credentials(session: boto3.Session, credentials: Any) -> WorkerCredentials:
    """``credentials`` as to_dask takes it: None (the session's recipe), "frozen", or an object."""
    if credentials is None or credentials == "recipe":
        return AssumeRecipe.from_session(session)
    if credentials == "frozen":
        return FrozenCredentials.from_session(session)
    if isinstance(credentials, AssumeRecipe | FrozenCredentials):
        return credentials
    raise InputError(f"credentials must be None, 'recipe', 'frozen', an AssumeRecipe or "
                     f"FrozenCredentials, not {type(credentials).__name__}")


# --- the Dask DataFrame --------------------------------------------------------------------------

def to_dask(table: RemoteTable, *, segments: int, credentials: Any = None,
            sample_items: int = SAMPLE_ITEMS, dtypes: Mapping[str, Any] | None = None,
            **scan_options: Any) -> dd.DataFrame:
    """The whole table (or index) as a Dask DataFrame of ``segments`` partitions (see the module
    docstring). ``scan_options`` are :meth:`RemoteTable.scan`'s filter/projection/value options."""
    require("dask", "to_dask")
    import dask
    import dask.dataframe as dd

    from .table import _check_segments

    _check_segments(segments)
    _refuse_per_partition_options(scan_options)
    source = worker_credentials(table.session, credentials)
    meta = sample_meta(table, segments, sample_items, scan_options, dtypes)
    token = uuid.uuid4().hex[:12]
    # Each segment is read by its own task; then only the partitions' column names and dtypes
    # (small) meet in one task, which decides the columns the meta lacks; then each partition is
    # conformed where it was read. The data never moves to reconcile the schema.
    read = [dask.delayed(read_segment, pure=False)(
        segment, source, table.name, segments, scan_options,
        dask_key_name=f"scan-{table.name}-{token}-{segment}") for segment in range(segments)]
    found = [dask.delayed(columns_of)(df, dask_key_name=f"columns-{table.name}-{token}-{segment}")
             for segment, df in enumerate(read)]
    schema = dask.delayed(reconcile)(found, meta, scan_options.get("projection"),
                                     dask_key_name=f"schema-{table.name}-{token}")
    parts = [dask.delayed(conform_partition)(df, meta, schema, segment, table.name,
                                             dask_key_name=f"conform-{table.name}-{token}-{segment}")
             for segment, df in enumerate(read)]
    # Dask would cast object columns to strings (`dataframe.convert-string`): bytes, Decimal,
    # sets and dicts must stay what scan makes of them; text columns already are pandas' str.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _refuse_per_partition_options(options: Mapping[str, Any]) -> None:
    for name in options:
        if name in _REFUSED:
            raise InputError(f"to_dask takes no {name}=: {_REFUSED[name]}")


_CONVERTER_OPTIONS = ("numbers", "sets", "flatten_maps")


def sample_meta(table: RemoteTable, segments: int, sample_items: int, options: Mapping[str, Any],
                dtypes: Mapping[str, Any] | None) -> pd.DataFrame:
    """An empty frame with the sample's columns and dtypes (key attributes always present)."""
    meta = sample_frame(table, segments, sample_items, options).iloc[:0].copy()
    meta.attrs.clear()
    for name, dtype in (dtypes or {}).items():
        meta[name] = pd.Series(dtype=dtype)
    return meta


def sample_frame(table: RemoteTable, segments: int, sample_items: int,
                 options: Mapping[str, Any]) -> pd.DataFrame:
    """The first ``sample_items / segments`` items (at least one) of EVERY segment, read in
    parallel and converted together by scan's rules. (A parallel scan bounded by
    ``max_items`` stops at whichever segment answers first: often one page of one segment.)"""
    from concurrent.futures import ThreadPoolExecutor
    from typing import cast

    from .arrow import ArrowItems
    from .frame import FrameBuilder

    if isinstance(sample_items, bool) or not isinstance(sample_items, int) or sample_items < 1:
        raise InputError(f"sample_items must be a whole number ≥ 1, not {sample_items!r}")
    convert = {k: v for k, v in options.items() if k in _CONVERTER_OPTIONS}
    read_options = {k: v for k, v in options.items() if k not in _CONVERTER_OPTIONS}
    FrameBuilder(**convert)  # bad converter options fail before any read
    per_segment = max(1, -(-sample_items // segments))

    def first_items(segment: int) -> tuple[tuple[str, ...], list[Any]]:
        read = table._scan_read(segments=segments, start_key=only_segment(segment, segments),
                                max_items=per_segment, **read_options)
        return read.key_names, list(read.pages())

    with ThreadPoolExecutor(max_workers=min(segments, 8)) as pool:
        results = list(pool.map(first_items, range(segments)))
    builder = FrameBuilder(key_names=results[0][0], **convert)
    for _, pages in results:
        for items in pages:
            builder.add_items(cast(ArrowItems, items))
    return builder.to_frame()


def read_segment(segment: int, source: WorkerCredentials, table_name: str, segments: int,
                 options: Mapping[str, Any]) -> pd.DataFrame:
    """Scan segment ``segment`` of ``segments`` whole, on a worker, with scan's dtypes."""
    from .table import ProjectionWarning, RemoteTable

    table = RemoteTable(source.session(), table_name, progress=False)
    with warnings.catch_warnings():  # one segment cannot tell; the schema task decides for all
        warnings.simplefilter("ignore", ProjectionWarning)
        return table.scan(segments=segments, start_key=only_segment(segment, segments),
                          allow_full_scan=True, **options)


def columns_of(df: pd.DataFrame) -> tuple[list[tuple[str, str]], int]:
    """A partition's column names and dtypes, and its row count: what the schema task needs."""
    return [(str(name), str(dtype)) for name, dtype in df.dtypes.items()], len(df)


def reconcile(found: list[tuple[list[tuple[str, str]], int]], meta: pd.DataFrame,
              projection: Any = None) -> dict[str, Any]:
    """``extra``: the columns some partition has and the meta lacks, in order of first
    appearance, each of the one dtype every partition that has it agrees on, else ``object``;
    ``projection_missing``: projected names that no partition returned (for the whole read, not
    per partition)."""
    from .expressions import projection_missing

    seen: dict[str, set[str]] = {}
    for columns, _ in found:
        for name, dtype in columns:
            if name not in meta.columns:
                seen.setdefault(name, set()).add(dtype)
    extra = {name: pd.api.types.pandas_dtype(next(iter(kinds))) if len(kinds) == 1 else np.dtype(object)
             for name, kinds in seen.items()}
    rows = sum(n for _, n in found)
    returned = [str(c) for c in meta.columns] + list(extra)
    return {"extra": extra,
            "projection_missing": projection_missing(projection, returned) if rows else []}


def conform_partition(df: pd.DataFrame, meta: pd.DataFrame, schema: Mapping[str, Any],
                      segment: int, table_name: str) -> pd.DataFrame:
    """A partition conformed to the meta plus the columns only later partitions showed. Its
    attrs are the whole read's (the same in every partition, so the computed frame keeps them):
    ``attrs["xacct"]["projection_missing"]``."""
    try:
        out = conform(df, meta, schema["extra"])
    except InputError as err:
        raise InputError(f"partition {segment} of {table_name}: {err}") from None
    out.attrs = {"xacct": {"projection_missing": list(schema["projection_missing"])}}
    return out


def only_segment(segment: int, segments: int) -> list[dict | None]:
    """A start key that reads segment ``segment`` from its start and marks the others done."""
    return [{} if s == segment else None for s in range(segments)]


def conform(df: pd.DataFrame, meta: pd.DataFrame,
            extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """``df`` with exactly ``meta``'s columns and dtypes, then the ``extra`` columns (those
    only some partitions have), no value changed (else InputError)."""
    wanted: dict[Any, Any] = dict(meta.dtypes.items())
    wanted.update(extra or {})
    unknown = [c for c in df.columns if c not in wanted]
    if unknown:
        raise InputError(f"attribute {unknown[0]!r} was not in the sample the columns were taken "
                         "from — pass projection= naming the columns you need, or a larger "
                         "sample_items=")
    columns = {name: _conform_column(df[name], dtype, len(df), str(name))
               if name in df.columns else _missing(dtype, len(df))
               for name, dtype in wanted.items()}
    out = pd.DataFrame(columns, index=df.index)
    out.attrs = dict(df.attrs)
    return out


def _missing(dtype: Any, length: int) -> pd.Series:
    if pd.api.types.is_object_dtype(dtype):
        return pd.Series([None] * length, dtype=object)
    return pd.Series(pd.array([None] * length, dtype=dtype))


def _conform_column(column: pd.Series, dtype: Any, length: int, name: str) -> pd.Series:
    if column.dtype == dtype:
        return column
    if column.isna().all():
        return _missing(dtype, length)
    if pd.api.types.is_object_dtype(dtype):
        return _to_object(column, numbers_as_decimal=_is_number(column))
    if dtype == np.float64 and str(column.dtype) == "Int64":
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.nanmax(np.abs(values), initial=0) <= 2**53:
            return pd.Series(values, index=column.index)
    raise InputError(f"column {name!r} holds {column.dtype} values here but {dtype} in the sample "
                     f"— pass dtypes={{{name!r}: 'object'}}, numbers='decimal', or a larger "
                     "sample_items=")


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)


def _to_object(column: pd.Series, *, numbers_as_decimal: bool) -> pd.Series:
    """Python values with None for missing, as scan's object columns hold them; numbers as exact
    ``Decimal`` (what scan makes of a column that also holds numbers no float can)."""
    values = column.astype(object).where(column.notna(), None)
    if numbers_as_decimal:
        values = values.map(lambda v: None if v is None else Decimal(repr(v)) if isinstance(v, float)
                            else Decimal(int(v)))
    return values


# --- a partitioned Parquet dataset ---------------------------------------------------------------

def write_parquet_dataset(client: Any, source: WorkerCredentials, table_name: str, segments: int,
                          read: Mapping[str, Any], out: str | os.PathLike[str], *,
                          progress: bool = False) -> dict[str, Any]:
    """Each segment read by a Dask task as a typed Arrow table (:meth:`RemoteTable.to_arrow`)
    into ``part-NNNNN.parquet`` of a temporary folder beside ``out``; then the schemas unified
    (every file cast to the one schema) and the folder renamed to ``out``. Workers write the
    files, so ``out`` must be on a filesystem they share with this process. Returns the read's
    totals (rows, pages, consumed_rcu, partitions)."""
    target = _check_new_folder(out)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        futures = client.map(write_partition, range(segments), source=source, table_name=table_name,
                             segments=segments, read=dict(read), folder=str(staging), pure=False)
        if progress:
            from distributed import progress as show_progress

            show_progress(futures)
        results = client.gather(futures)
        unify_dataset(staging, [r["path"] for r in results])
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"rows": sum(r["rows"] for r in results), "pages": sum(r["pages"] for r in results),
            "consumed_rcu": sum(r["consumed_rcu"] for r in results), "partitions": segments}


def _check_new_folder(out: str | os.PathLike[str]) -> Path:
    target = Path(out)
    if target.exists():
        raise InputError(f"--out {out}: already exists — name a new folder (the dataset is "
                         "written to a temporary one and renamed at the end)")
    return target


def write_partition(segment: int, *, source: WorkerCredentials, table_name: str, segments: int,
                    read: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """One segment as one Parquet file; its numbers for the summary."""
    from .arrow import read_stats, write_parquet
    from .table import RemoteTable

    table = RemoteTable(source.session(), table_name, progress=False)
    arrow = table.to_arrow("scan", segments=segments, start_key=only_segment(segment, segments),
                           allow_full_scan=True, **read)
    stats = read_stats(arrow)
    path = write_parquet(arrow, Path(folder) / f"part-{segment:05d}.parquet")
    return {"path": str(path), "rows": arrow.num_rows, "pages": stats.get("pages", 0),
            "consumed_rcu": stats.get("consumed_rcu", 0.0)}


def unify_dataset(folder: Path, paths: list[str]) -> pa.Schema:
    """Cast every file to one schema: the union of the columns, each of one type (Arrow's
    permissive promotion: null → any, int64 → decimal128, ...); a column whose types cannot be
    promoted is an error naming it."""
    schemas = [pq.read_schema(p) for p in paths]
    try:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise XacctError(f"the partitions' Parquet schemas do not agree ({err}) — read that "
                         "column with scan(), or project it out with --projection") from None
    unified = merged_number_metadata(unified, schemas)
    for path, schema in zip(paths, schemas):
        if not schema.equals(unified, check_metadata=True):
            _rewrite(path, unified)
    logger.debug("unified %d partitions of %s", len(paths), folder)
    return unified


def merged_number_metadata(unified: pa.Schema, schemas: list[pa.Schema]) -> pa.Schema:
    """What the number flags of :mod:`.arrow` say of the whole dataset: a flag is true only when
    every partition that has the column says so, and the kind is the widest (int < decimal <
    text) — Arrow's promotion keeps the first partition's field metadata as it is."""
    from .arrow import FLOAT_EXACT, INTEGERS, NUMBER

    fields = []
    for unified_field in unified:
        metadata = dict(unified_field.metadata or {})
        if NUMBER in metadata:
            seen = [s.field(unified_field.name).metadata or {} for s in schemas
                    if unified_field.name in s.names]
            numbered = [m for m in seen if NUMBER in m]
            metadata[NUMBER] = max((m[NUMBER] for m in numbered), key=_NUMBER_KINDS.index)
            for flag in (INTEGERS, FLOAT_EXACT):
                metadata[flag] = b"true" if all(m.get(flag) == b"true" for m in numbered) else b"false"
        fields.append(unified_field.with_metadata(metadata or None))
    return pa.schema(fields, metadata=unified.metadata)


_NUMBER_KINDS = [b"int", b"decimal", b"text"]


def _rewrite(path: str, schema: pa.Schema) -> None:
    table = pq.read_table(path)
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in schema]
    with atomic_path(path) as temp:  # inside the staging folder, but a file is never half-written
        pq.write_table(pa.Table.from_arrays(columns, schema=schema), temp)



# --- the CLI: `xacct-nb scan ... --dask local|tcp://HOST:PORT --out DIR` ----------------------------

def check_dask_arguments(address: str, limit: int | None, max_rcu: float | None, out: str) -> None:
    """Refuse, before any AWS call, what --dask cannot do."""
    require("dask", "scan --dask")
    _check_new_folder(out)
    if address != "local" and not address.startswith(("tcp://", "tls://")):
        raise InputError(f"--dask {address}: use 'local' (a LocalCluster on this machine) or a "
                         "scheduler address tcp://HOST:PORT")
    if limit is not None or max_rcu is not None:
        raise InputError("--limit/--max-rcu cannot apply per partition: --dask reads every segment "
                         "whole — drop them, or read without --dask")


def scan_to_dataset(session: boto3.Session, request: Mapping[str, Any], address: str, *,
                    credentials: str = "recipe") -> str:
    """The CLI's --dask scan: a partitioned Parquet dataset; returns the one-line summary."""
    from .reader import QUIET_ENV
    from .table import FULL_SCAN_ITEM_LIMIT, RemoteTable

    read = {k: v for k, v in request["read"].items()
            if k not in ("segments", "allow_full_scan", "max_items", "max_rcu")}
    segments, table_name, out = request["read"]["segments"], request["table"], request["out"]
    table = RemoteTable(session, table_name, progress=False)
    count = table.describe().item_count or 0
    if count > FULL_SCAN_ITEM_LIMIT and not request["read"]["allow_full_scan"]:
        raise InputError(f"table {table_name} has about {count:,} items: --dask reads it whole — "
                         "add --all")
    source = worker_credentials(session, credentials)
    bar = sys.stderr.isatty() and os.environ.get(QUIET_ENV, "") in ("", "0")
    started = time.perf_counter()
    with dask_client(address) as client:
        totals = write_parquet_dataset(client, source, table_name, segments, read, out, progress=bar)
    where = table_name + (f" index {read['index']}" if read.get("index") else "")
    return (f"scan {where}: {totals['rows']:,} rows, {totals['pages']} pages, "
            f"{totals['consumed_rcu']:g} RCU, {time.perf_counter() - started:.1f} s, complete, "
            f"{totals['partitions']} partitions → {out}")


@contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A Client of a new LocalCluster (worker processes) for "local", else of that scheduler."""
    from distributed import Client, LocalCluster

    if address == "local":
        with LocalCluster(processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise XacctError(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}) — "
                         "start it (`dask scheduler`) and its workers, check the address, or use "
                         "--dask local") from None
    with client:
        yield client
