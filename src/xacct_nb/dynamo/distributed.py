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
import threading
import uuid
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._botocore_private import botocore_session, credential_expiry
from ..atomicfile import atomic_path
from ..clients import make_client
from ..errors import CredentialsExpired, InputError, XacctError
from ..extras import require
from ._wire import MAX_EXACT_INT
from .arrow_parse import ArrowItems
from .arrow_types import FLOAT_EXACT, INTEGERS, NUMBER
from .expressions import projection_missing
from .read_options import ProjectionWarning, ReadOptions
from .to_pandas import FrameBuilder

if TYPE_CHECKING:
    import dask.dataframe as dd

    from ..spec import AccessSpec

__all__ = ["MIN_LEFT_SECONDS", "AssumeRecipe", "FrozenCredentials", "WorkerCredentials",
           "conform", "merged_number_metadata", "to_dask", "unify_dataset", "worker_credentials"]

logger = logging.getLogger(__name__)

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
        from ..sessions import assumed_role

        assumed = assumed_role(session)  # recorded by assume() itself
        if assumed is None:  # the profile itself (keys, SSO, a role_arn profile)
            return cls(profile=profile, region=session.region_name)
        return cls(profile=profile, role_arn=assumed.role_arn, external_id=assumed.external_id,
                   session_name=assumed.session_name, region=session.region_name,
                   source_identity=assumed.source_identity, duration=assumed.duration)

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

def to_dask(table: Any, options: ReadOptions, *, credentials: Any = None,
            sample_items: int = SAMPLE_ITEMS, dtypes: Mapping[str, Any] | None = None) -> dd.DataFrame:
    """The whole table (or index) of a :class:`RemoteTable` as a Dask DataFrame of
    ``options.segments`` partitions (see the module docstring). (``table`` is not typed here:
    this module never imports :mod:`.table`, which imports it.)"""
    require("dask", "to_dask")
    import dask
    import dask.dataframe as dd

    for name, why in _REFUSED.items():  # refused whatever their value, before it is checked
        options.refuse("to_dask", [name], why)
    options.check()
    segments = options.segments
    source = worker_credentials(table.session, credentials)
    meta = sample_meta(table, options, sample_items, dtypes)
    token = uuid.uuid4().hex[:12]
    open_table = type(table)  # shipped by reference: the workers import it themselves
    # Each segment is read by its own task; then only the partitions' column names and dtypes
    # (small) meet in one task, which decides the columns the meta lacks; then each partition is
    # conformed where it was read. The data never moves to reconcile the schema.
    read = [dask.delayed(read_segment, pure=False)(
        segment, source, table.name, options, open_table,
        dask_key_name=f"scan-{table.name}-{token}-{segment}") for segment in range(segments)]
    found = [dask.delayed(columns_of)(df, dask_key_name=f"columns-{table.name}-{token}-{segment}")
             for segment, df in enumerate(read)]
    schema = dask.delayed(reconcile)(found, meta, options.projection,
                                     dask_key_name=f"schema-{table.name}-{token}")
    parts = [dask.delayed(conform_partition)(df, meta, schema, segment, table.name,
                                             dask_key_name=f"conform-{table.name}-{token}-{segment}")
             for segment, df in enumerate(read)]
    # Dask would cast object columns to strings (`dataframe.convert-string`): bytes, Decimal,
    # sets and dicts must stay what scan makes of them; text columns already are pandas' str.
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(parts, meta=meta, verify_meta=False)


def sample_meta(table: Any, options: ReadOptions, sample_items: int,
                dtypes: Mapping[str, Any] | None) -> pd.DataFrame:
    """An empty frame with the sample's columns and dtypes (key attributes always present)."""
    meta = sample_frame(table, options.segments, sample_items, options).iloc[:0].copy()
    meta.attrs.clear()
    for name, dtype in (dtypes or {}).items():
        meta[name] = pd.Series(dtype=dtype)
    return meta


def sample_frame(table: Any, segments: int, sample_items: int,
                 options: ReadOptions | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The first ``sample_items / segments`` items (at least one) of EVERY segment, read in
    parallel and converted together by scan's rules. (A parallel scan bounded by
    ``max_items`` stops at whichever segment answers first: often one page of one segment.)"""
    if isinstance(sample_items, bool) or not isinstance(sample_items, int) or sample_items < 1:
        raise InputError(f"sample_items must be a whole number ≥ 1, not {sample_items!r}")
    if not isinstance(options, ReadOptions):
        options = ReadOptions(**(options or {}))
    options = options.replace(segments=segments)
    options.check()  # bad converter options fail before any read
    per_segment = max(1, -(-sample_items // segments))

    def first_items(segment: int) -> tuple[tuple[str, ...], list[ArrowItems]]:
        read = table.open_read(options.replace(start_key=only_segment(segment, segments),
                                               max_items=per_segment))
        return read.key_names, list(read.pages())

    with ThreadPoolExecutor(max_workers=min(segments, 8)) as pool:
        results = list(pool.map(first_items, range(segments)))
    builder = FrameBuilder(key_names=results[0][0], numbers=options.numbers, sets=options.sets,
                           flatten_maps=options.flatten_maps)
    for _, pages in results:
        for items in pages:
            builder.add_items(items)
    return builder.to_frame()


def read_segment(segment: int, source: WorkerCredentials, table_name: str, options: ReadOptions,
                 open_table: Callable[..., Any]) -> pd.DataFrame:
    """Scan segment ``segment`` of ``options.segments`` whole, on a worker, with scan's dtypes
    (``open_table``: the RemoteTable class)."""
    table = open_table(source.session(), table_name, progress=False)
    with warnings.catch_warnings():  # one segment cannot tell; the schema task decides for all
        warnings.simplefilter("ignore", ProjectionWarning)
        return table.read_frame(options.replace(
            start_key=only_segment(segment, options.segments), allow_full_scan=True))


def columns_of(df: pd.DataFrame) -> tuple[list[tuple[str, str]], int]:
    """A partition's column names and dtypes, and its row count: what the schema task needs."""
    return [(str(name), str(dtype)) for name, dtype in df.dtypes.items()], len(df)


def reconcile(found: list[tuple[list[tuple[str, str]], int]], meta: pd.DataFrame,
              projection: Any = None) -> dict[str, Any]:
    """``extra``: the columns some partition has and the meta lacks, in order of first
    appearance, each of the one dtype every partition that has it agrees on, else ``object``;
    ``projection_missing``: projected names that no partition returned (for the whole read, not
    per partition)."""
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
        if np.nanmax(np.abs(values), initial=0) <= MAX_EXACT_INT:  # the one float rule
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
    """What the number flags of :mod:`.arrow_types` say of the whole dataset: a flag is true only when
    every partition that has the column says so, and the kind is the widest (int < decimal <
    text) — Arrow's promotion keeps the first partition's field metadata as it is."""
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
