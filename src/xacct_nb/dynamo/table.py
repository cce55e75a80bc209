"""Remote DynamoDB tables as pandas DataFrames: ``RemoteTable(session, name)``.

``session`` is an explicit ``boto3.Session`` — normally the assumed role from
:func:`xacct_nb.assume` — never ambient credentials. Reads go through the low-level client with
:mod:`.rawpages` (Scan/Query bodies as the bytes the server sent, parsed by ``pyarrow.json`` in
:class:`.arrow_parse.ArrowPages`) and :class:`.to_pandas.FrameBuilder` (each page → typed column
chunks while the next one downloads, one frame at the end): that pair is where the speed is.
:class:`.reader.PageReader` runs the read itself (segments, budgets, progress); every read's
options travel as one :class:`.read_options.ReadOptions`.

    t = RemoteTable(session, "orders")
    t.describe()                                     # keys, indexes, size, billing, stream
    t.query("C0001", sort=("begins_with", "O00"))
    t.query("SHIPPED", index="by_status", sort=("between", "2026-01", "2026-02"))
    t.scan(filter={"status": "SHIPPED", "amount": (">", 100)},
           projection=["name", ("shipping", "city")], max_items=1000)   # "a.b" is ONE name
    df.attrs["xacct"]       # partial?, reason, pages, items, consumed_rcu, seconds, resume key
    t.get({"customer_id": "C0001", "order_id": "O000001"}); t.get_many(keys)
    for page in t.iter_pages("scan", allow_full_scan=True): ...   # a DataFrame per page
    t.call("PutItem", Item=...)     # any other operation, with the same one-line errors
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import boto3
import pandas as pd
import pyarrow as pa
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import retries
from ..clients import make_client
from ..errors import AwsError, InputError, XacctError
from ..grammar import SORT_OPERATORS, AttributePath, key_value
from ..progress import Progress
from . import rawpages, table_errors
from .arrow_parse import ArrowItems, ArrowPages
from .convert import Numbers, Sets
from .expressions import Expressions, filter_expression, key_signature, projection_expression
from .gcpause import gc_paused
from .parquet import read_stats, with_read_stats
from .read_options import (
    CONVERTER_OPTIONS,
    MAX_SEGMENTS,
    ProjectionWarning,
    ReadOptions,
    report_projection,
    warn_missing,
)
from .reader import PageReader, auto_progress
from .schema import KeySchema, TableInfo, megabytes
from .to_pandas import DtypeBackend, FrameBuilder, arrow_dtype_frame, items_to_frame, with_nullable_dtypes

__all__ = ["FULL_SCAN_ITEM_LIMIT", "MAX_SEGMENTS", "ProjectionWarning", "ReadOptions", "RemoteTable",
           "collect_frame", "describe_all"]

logger = logging.getLogger(__name__)

FULL_SCAN_ITEM_LIMIT = 10_000  # describe's ItemCount up to this: a full scan needs no opt-in
BATCH_GET_SIZE = 100  # BatchGetItem's limit per call
BATCH_ATTEMPTS = 8  # rounds of UnprocessedKeys before giving up


class RemoteTable:
    """A DynamoDB table read through an explicit ``boto3.Session`` (see the module docstring).

    ``config`` (botocore ``Config``) is merged over ours (:func:`xacct_nb.retries.client_config`:
    standard retry mode, 10 attempts), e.g. to change retries; the connection pool is always at
    least as large as the number of segments. ``progress``: see :meth:`scan`.
    """

    def __init__(self, session: boto3.Session, name: str, *, progress: Progress = None,
                 config: Config | None = None):
        if not isinstance(session, boto3.Session):
            raise InputError("RemoteTable needs a boto3.Session (e.g. from xacct_nb.sessions."
                             f"assume), not {type(session).__name__}")
        self.session = session
        self.name = name
        self.progress = progress
        self._config = retries.client_config("dynamodb", config)
        self._clients: dict[int, Any] = {}
        self._info: TableInfo | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteTable({self.name!r}, region={self.region!r})"

    @property
    def region(self) -> str | None:
        return self.session.region_name

    # -- metadata ------------------------------------------------------------------------------
    def describe(self, *, refresh: bool = False) -> TableInfo:
        """Key schema, indexes, size, billing mode and stream (cached; ``refresh=True`` re-reads)."""
        if self._info is None or refresh:
            self._info = TableInfo.from_description(self.call("DescribeTable")["Table"])
        return self._info

    def _repr_html_(self) -> str:
        return self.describe()._repr_html_()

    # -- reads ---------------------------------------------------------------------------------
    def scan(self, *, index: str | None = None, filter: Mapping[AttributePath, Any] | str | None = None,
             projection: Iterable[AttributePath] | str | None = None, max_items: int | None = None,
             max_rcu: float | None = None, segments: int = 1, allow_full_scan: bool = False,
             consistent: bool = False, numbers: Numbers = "float", sets: Sets = "set",
             flatten_maps: bool = False, names: Mapping[str, str] | None = None,
             values: Mapping[str, Any] | None = None, page_size: int | None = None,
             start_key: Any = None, dtype_backend: DtypeBackend | None = None) -> pd.DataFrame:
        """The table (or ``index``) as a DataFrame.

        Filters and projections
            ``filter``: a dict of conditions AND-ed together — ``{"status": "SHIPPED"}``,
            ``{"amount": (">", 100)}``, ``("between", a, b)``, ``("begins_with", "x")``,
            ``("contains", "x")``, ``("exists",)``, ``("not_exists",)``, ``=, <>, !=, <, <=, >, >=``
            — or a raw expression string whose placeholders you define in ``names`` / ``values``
            (Python values). Text as a person types it (``"status=SHIPPED, amount>100"``) becomes
            such a dict with :func:`xacct_nb.grammar.parse_filters`. ``projection``: a list of
            attributes. Names are names, paths are explicit: a ``str`` filter key or projection
            item is ONE attribute name whatever it holds (``"a.b"``, ``"x[0]"``, ``"order
            date"``); a nested path is a tuple of names and list indexes (``("shipping",
            "city")``, ``("lines", 0, "sku")``). A projection given as one string is grammar text
            (``'name, shipping.city, "a.b"'``: bare dots are paths, double quotes make a name).
            Key attributes are always projected, so every row can be identified and a read
            resumed. A projected attribute that no returned item had is reported, never dropped
            silently: ``df.attrs["xacct"]["projection_missing"]`` and a ``ProjectionWarning``.

        Guards and budgets
            Without ``max_items`` or ``max_rcu`` a scan reads — and bills — the whole table or
            index (a filter does not help: DynamoDB reads every item before filtering), so it
            needs ``allow_full_scan=True`` unless describe's item count is at most
            :data:`FULL_SCAN_ITEM_LIMIT` (DescribeTable's count is refreshed about every six
            hours). ``max_items`` stops at exactly that many rows; ``max_rcu`` after the page that
            reaches it (the next page's ``Limit`` is sized from the average item size, so the
            overshoot stays small). A stopped read has ``df.attrs["xacct"]["partial"] = True``,
            the ``reason`` and ``last_evaluated_key`` (a list, one per segment, for parallel
            scans): pass it back as ``start_key=`` to continue where it stopped. ``page_size``
            sets ``Limit``; ``segments`` (1–64) scans in parallel, one thread per segment.

        Values
            ``numbers="float"`` (default: integers ``Int64``, other numbers ``float64`` when
            exact, else ``Decimal``) or ``"decimal"`` (always exact); ``sets="set"`` or ``"list"``;
            ``flatten_maps=True`` spreads map attributes into ``a.b`` columns;
            ``consistent=True`` reads strongly consistent (twice the RCU).
            ``dtype_backend`` as in pandas' own readers: ``"numpy_nullable"`` (``string``,
            ``Int64``, ``boolean``, ``Float64`` when exact; maps, lists, sets, binary and exact
            decimals as the same Python objects as the default) or ``"pyarrow"``
            (``pd.ArrowDtype`` columns, zero-copy from :meth:`to_arrow`'s table: structs,
            lists, ``decimal128``; not with ``flatten_maps``).

        Throttling
            botocore's standard retry mode resends a throttled page as is (same
            ``ExclusiveStartKey``): a read resumes where it was, never from the start. When the
            attempts run out, :class:`~xacct_nb.errors.AwsError` says the table is throttled.

        Progress
            ``progress=True``: a ``tqdm.auto`` bar on multi-page reads; ``False``: silent; a
            callable receives a :class:`~xacct_nb.progress.ProgressEvent` after every page (its
            ``stats`` are the running ``attrs["xacct"]``). ``None`` (default): off when
            ``XACCT_NB_QUIET`` is set to anything but ``0``/empty (papermill runs), otherwise on
            in a Jupyter kernel or when stderr is a terminal.
        """
        return self.read_frame(ReadOptions(
            index=index, filter=filter, projection=projection, max_items=max_items,
            max_rcu=max_rcu, segments=segments, allow_full_scan=allow_full_scan,
            consistent=consistent, numbers=numbers, sets=sets, flatten_maps=flatten_maps,
            names=names, values=values, page_size=page_size, start_key=start_key,
            dtype_backend=dtype_backend))

    def query(self, partition_value: Any, *, sort: Any = None, index: str | None = None,
              filter: Mapping[AttributePath, Any] | str | None = None,
              projection: Iterable[AttributePath] | str | None = None, max_items: int | None = None,
              max_rcu: float | None = None, descending: bool = False, consistent: bool = False,
              numbers: Numbers = "float", sets: Sets = "set", flatten_maps: bool = False,
              names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
              page_size: int | None = None, start_key: Any = None,
              dtype_backend: DtypeBackend | None = None) -> pd.DataFrame:
        """Items of one partition of the table (or ``index``), optionally a sort-key range.

        ``partition_value`` is the value (or ``{name: value}``, checked against the key);
        ``sort`` is ``("=", x)``, ``("<", x)``, ``("<=", x)``, ``(">", x)``, ``(">=", x)``,
        ``("between", a, b)`` or ``("begins_with", prefix)`` (a bare value means ``=``).
        Other options as in :meth:`scan`.
        """
        return self.read_frame(ReadOptions(
            index=index, filter=filter, projection=projection, max_items=max_items,
            max_rcu=max_rcu, descending=descending, consistent=consistent, numbers=numbers,
            sets=sets, flatten_maps=flatten_maps, names=names, values=values,
            page_size=page_size, start_key=start_key, dtype_backend=dtype_backend),
            "query", partition_value, sort)

    def read_frame(self, options: ReadOptions, mode: str = "scan", partition_value: Any = None,
                   sort: Any = None) -> pd.DataFrame:
        """:meth:`scan` (or, with ``mode="query"``, :meth:`query`) with its options as one
        :class:`ReadOptions`."""
        read = self.open_read(options, mode, partition_value, sort)
        if options.dtype_backend is not None:
            df = self._backend_frame(read, options)
        else:
            df = collect_frame(read, options)
        return report_projection(df, options.projection, flatten_maps=options.flatten_maps)

    def iter_pages(self, mode: str = "scan", partition_value: Any = None, *,
                   numbers: Numbers = "float", sets: Sets = "set", flatten_maps: bool = False,
                   **read_args: Any) -> Iterator[pd.DataFrame]:
        """A DataFrame per page, for reads that do not fit in memory. ``mode`` is "scan" (then
        ``read_args`` are :meth:`scan`'s) or "query" (``partition_value`` and :meth:`query`'s).
        Each frame's ``attrs["xacct"]`` holds the running stats; dtypes are decided per page.
        Arguments are checked now, pages are read as you iterate."""
        sort = read_args.pop("sort", None)
        options = ReadOptions(**read_args, numbers=numbers, sets=sets, flatten_maps=flatten_maps)
        options.refuse("iter_pages", ["dtype_backend"], "each page is a frame of the default "
                       "dtypes — use scan() or to_arrow()")
        read = self._mode_read("iter_pages", mode, partition_value, sort, options)

        def frames() -> Iterator[pd.DataFrame]:
            for items in read.pages():
                builder = FrameBuilder(key_names=read.key_names, numbers=numbers, sets=sets,
                                       flatten_maps=flatten_maps)
                builder.add_items(items)
                df = builder.to_frame()
                df.attrs["xacct"] = read.stats()
                yield df

        return frames()

    def to_dask(self, *, segments: int, credentials: Any = None, sample_items: int = 1_000,
                dtypes: Mapping[str, Any] | None = None, **scan_options: Any) -> Any:
        """The whole table (or ``index=``) as a ``dask.dataframe.DataFrame``, one partition per
        scan segment, read by Dask workers that get credentials from a recipe (no secrets in the
        task graph; ``credentials="frozen"`` ships short-lived keys). ``scan_options``: the
        filter/projection/value options of :meth:`scan`. Details, and how dtypes are chosen:
        :mod:`xacct_nb.dynamo.distributed`."""
        from .distributed import to_dask

        return to_dask(self, ReadOptions(segments=segments, **scan_options),
                       credentials=credentials, sample_items=sample_items, dtypes=dtypes)

    def to_arrow(self, mode: str = "scan", partition_value: Any = None, *,
                 explicit_nulls: bool = False, **read_args: Any) -> pa.Table:
        """The read as a typed ``pyarrow.Table`` (the types: :mod:`xacct_nb.dynamo.arrow_types`).

        ``mode`` "scan" takes :meth:`scan`'s arguments, "query" ``partition_value`` and
        :meth:`query`'s — without ``numbers``/``sets``/``flatten_maps``/``dtype_backend``: the
        table holds the exact types (int64, decimal128, structs, lists, binary). Raw page bodies
        are parsed by ``pyarrow.json`` (no Python object per value). ``explicit_nulls=True`` adds
        a ``"<name>/NULL"`` column after each column that had an explicit NULL. The read's stats
        (a frame's ``attrs["xacct"]``) are ``xacct_nb.dynamo.parquet.read_stats(table)``.
        """
        sort = read_args.pop("sort", None)
        options = ReadOptions(**read_args)
        options.refuse("to_arrow", CONVERTER_OPTIONS, "the table holds the exact types — convert "
                       "it yourself, or use scan()")
        read = self._mode_read("to_arrow", mode, partition_value, sort, options)
        return self._collect_arrow(read, explicit_nulls=explicit_nulls,
                                   projection=options.projection)

    def _collect_arrow(self, read: PageReader, *, explicit_nulls: bool = False,
                       projection: Any = None) -> pa.Table:
        """All pages (parsed by Arrow as they arrive) typed once at the end, with the read's
        stats in the table's metadata."""
        pages = ArrowPages()
        for items in read.pages():
            pages.add_items(items)
        table = pages.table(key_names=read.key_names, explicit_nulls=explicit_nulls)
        stats = read.stats()
        if table.num_rows:
            stats["projection_missing"] = warn_missing(projection, table.column_names)
        return with_read_stats(table, stats)

    def _backend_frame(self, read: PageReader, options: ReadOptions) -> pd.DataFrame:
        """A frame in pandas' meaning of ``dtype_backend``: "numpy_nullable" is the default
        frame with nullable dtypes; "pyarrow" comes from :meth:`_collect_arrow`'s typed table."""
        if options.dtype_backend == "numpy_nullable":
            return with_nullable_dtypes(collect_frame(read, options))
        if options.flatten_maps:
            raise InputError("flatten_maps does not work with dtype_backend='pyarrow' — drop "
                             "dtype_backend (or use 'numpy_nullable'), or flatten the struct "
                             "columns yourself")
        table = self._collect_arrow(read)
        df = arrow_dtype_frame(table)
        df.attrs["xacct"] = read_stats(table)
        return df

    def _mode_read(self, caller: str, mode: str, partition_value: Any, sort: Any,
                   options: ReadOptions) -> PageReader:
        if mode == "scan" and partition_value is not None:
            raise InputError(f"{caller}(mode='scan') takes no partition_value — use mode='query'")
        if mode not in ("scan", "query"):
            raise InputError(f"{caller} mode must be 'scan' or 'query', not {mode!r}")
        return self.open_read(options, mode, partition_value, sort)

    def get(self, key: Mapping[str, Any], *, projection: Iterable[AttributePath] | str | None = None,
            consistent: bool = False, numbers: Numbers = "float", sets: Sets = "set") -> pd.DataFrame:
        """One item by its full key as a one-row frame (no rows, key columns only, if absent)."""
        info = self.describe()
        request: dict[str, Any] = {"Key": self._table_key(key), "ConsistentRead": consistent,
                                   "ReturnConsumedCapacity": "TOTAL"}
        if projection is not None:
            expr = Expressions()
            request["ProjectionExpression"] = projection_expression(expr, projection, info.key.names)
            request.update(expr.params())
        item = self.call("GetItem", **request).get("Item")
        df = items_to_frame([item] if item else [], key_names=info.key.names, numbers=numbers,
                            sets=sets)
        return report_projection(df, projection)

    def get_many(self, keys: Iterable[Mapping[str, Any]], *,
                 projection: Iterable[AttributePath] | str | None = None, consistent: bool = False,
                 numbers: Numbers = "float", sets: Sets = "set") -> pd.DataFrame:
        """Items by key via BatchGetItem (100 per call, UnprocessedKeys retried with backoff);
        rows in the order of ``keys``, duplicates once, absent keys left out."""
        info = self.describe()
        wanted: dict[tuple, dict] = {}
        for key in keys:
            wire = self._table_key(key)
            wanted.setdefault(key_signature(wire, info.key.names), wire)
        extra: dict[str, Any] = {"ConsistentRead": consistent}
        if projection is not None:
            expr = Expressions()
            extra["ProjectionExpression"] = projection_expression(expr, projection, info.key.names)
            extra.update(expr.params())
        found: list[dict] = []
        batch = list(wanted.values())
        for start in range(0, len(batch), BATCH_GET_SIZE):
            found += self._batch_get({"Keys": batch[start:start + BATCH_GET_SIZE], **extra})
        order = {sig: n for n, sig in enumerate(wanted)}
        found.sort(key=lambda item: order[key_signature(item, info.key.names)])
        df = items_to_frame(found, key_names=info.key.names, numbers=numbers, sets=sets)
        return report_projection(df, projection)

    def call(self, operation: str, **params: Any) -> dict:
        """Any DynamoDB operation on this table (``TableName`` filled in when it takes one),
        through the same client, with our one-line errors: ``t.call("PutItem", Item=...)``."""
        client = self._client(1)
        if "TableName" in client.meta.service_model.operation_model(operation).input_shape.members:
            params.setdefault("TableName", self.name)
        try:
            return getattr(client, xform_name(operation))(**params)
        except (ClientError, BotoCoreError) as err:
            raise self._fail(err, operation) from err

    # -- building reads ------------------------------------------------------------------------
    def open_read(self, options: ReadOptions, mode: str = "scan", partition_value: Any = None,
                  sort: Any = None) -> PageReader:
        """The read ``options`` describe, checked, not started: :meth:`.reader.PageReader.pages`
        yields its pages' parsed items (for :mod:`.distributed` and custom converters)."""
        if mode == "scan":
            if sort is not None:
                raise InputError("sort= is a query's — use mode='query' with a partition_value")
            options.refuse("scan", ["descending"], "a scan has no order — use a query")
        elif mode == "query":
            options.refuse("query", ["segments"], "a query reads one partition in order — use a "
                           "scan for segments")
        else:
            raise InputError(f"mode must be 'scan' or 'query', not {mode!r}")
        options.check()
        if mode == "scan":
            return self._scan_read(options)
        return self._query_read(partition_value, sort, options)

    def _scan_read(self, o: ReadOptions) -> PageReader:
        info = self.describe()
        key = info.key_for(o.index)
        count, size = info.size_of(o.index)
        if o.max_items is None and o.max_rcu is None and not o.allow_full_scan \
                and count > FULL_SCAN_ITEM_LIMIT:
            raise InputError(f"full scan of {self._where(o.index)} (~{count:,} items, "
                             f"~{megabytes(size)}): pass allow_full_scan=True or max_items=… (or "
                             f"max_rcu=…); tables of up to {FULL_SCAN_ITEM_LIMIT:,} items need "
                             "neither")
        expr = Expressions(o.names, o.values)
        request = self._base_request(expr, o.index, o.filter, o.projection, key, o.consistent)
        total = min(count, o.max_items) if o.max_items is not None else (count or None)
        return self._read("Scan", request, expr, index=o.index, segments=o.segments,
                          start_key=o.start_key, max_items=o.max_items, max_rcu=o.max_rcu,
                          page_size=o.page_size, filtered=o.filter is not None,
                          total_hint=None if o.filter is not None else total)

    def _query_read(self, partition_value: Any, sort: Any, o: ReadOptions) -> PageReader:
        info = self.describe()
        key = info.key_for(o.index)
        expr = Expressions(o.names, o.values)
        request = self._base_request(expr, o.index, o.filter, o.projection, key, o.consistent)
        request["KeyConditionExpression"] = self._key_condition(expr, key, o.index,
                                                                partition_value, sort)
        if o.descending:
            request["ScanIndexForward"] = False
        return self._read("Query", request, expr, index=o.index, segments=1,
                          start_key=o.start_key, max_items=o.max_items, max_rcu=o.max_rcu,
                          page_size=o.page_size, filtered=o.filter is not None,
                          total_hint=o.max_items)

    def _base_request(self, expr: Expressions, index: str | None, filter: Any, projection: Any,
                      key: KeySchema, consistent: bool) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.name, "ReturnConsumedCapacity": "TOTAL"}
        if index:
            request["IndexName"] = index
        if consistent:
            request["ConsistentRead"] = True
        if filter is not None:
            request["FilterExpression"] = filter_expression(expr, filter)
        if projection is not None:
            keys = dict.fromkeys([*key.names, *self.describe().key.names])
            request["ProjectionExpression"] = projection_expression(expr, projection, keys)
        return request

    def _read(self, operation: str, request: dict, expr: Expressions, **options: Any) -> PageReader:
        request.update(expr.params())  # after every expression has taken its placeholders
        progress = auto_progress() if self.progress is None else self.progress
        client = self._client(options["segments"])
        # one parser per read: it carries the attributes' types from page to page
        fetch = functools.partial(self._fetch, parser=ArrowPages())
        return PageReader(self.describe(), client, fetch, operation, request,
                          progress=progress, **options)

    def _key_condition(self, expr: Expressions, key: KeySchema, index: str | None,
                       partition_value: Any, sort: Any) -> str:
        where = self._where(index)
        partition_value = self._named(partition_value, key.partition_key, key, index, "partition")
        if partition_value is None:
            raise InputError(f"query on {where} needs a value for its partition key "
                             f"{key.partition_key}")
        wire = key_value(key.partition_key, key.partition_type, partition_value, where)
        condition = f"{expr.name(key.partition_key)} = {expr.value(wire)}"
        if sort is None:
            return condition
        if key.sort_key is None:
            raise InputError(f"{where} has no sort key (its key is {key}) — drop sort=")
        sort = self._named(sort, key.sort_key, key, index, "sort")
        op, *args = sort if isinstance(sort, tuple) and sort else ("=", sort)
        op = str(op).lower()
        wanted = 2 if op == "between" else 1
        if op not in SORT_OPERATORS or len(args) != wanted:
            raise InputError(f"sort condition {sort!r} on {key.sort_key}: use (op, value) with op "
                             f"one of {', '.join(SORT_OPERATORS)}, or ('between', low, high)")
        if op == "begins_with" and key.sort_type == "N":
            raise InputError(f"begins_with needs a string or binary sort key; {key.sort_key} of "
                             f"{where} is a number — use between")
        placeholders = [expr.value(key_value(key.sort_key, str(key.sort_type), a, where))
                        for a in args]
        target = expr.name(key.sort_key)
        if op == "between":
            sort_text = f"{target} BETWEEN {placeholders[0]} AND {placeholders[1]}"
        elif op == "begins_with":
            sort_text = f"begins_with({target}, {placeholders[0]})"
        else:
            sort_text = f"{target} {op} {placeholders[0]}"
        return f"{condition} AND {sort_text}"

    def _named(self, value: Any, expected: str, key: KeySchema, index: str | None,
               role: str) -> Any:
        """Unwrap ``{name: value}``, refusing a name that is not the expected key attribute."""
        if not isinstance(value, Mapping):
            return value
        if len(value) != 1 or expected not in value:
            named = ", ".join(map(str, value)) or "nothing"
            hint = self._index_hint(next(iter(value), None), role) if len(value) == 1 else ""
            raise InputError(f"a key condition on {named} cannot query {self._where(index)}: its "
                             f"key attributes are {key}{hint}")
        return value[expected]

    def _index_hint(self, name: Any, role: str) -> str:
        matches = [ix.name for ix in self.describe().indexes
                   if (ix.key.partition_key if role == "partition" else ix.key.sort_key) == name]
        if not matches:
            return ""
        return f" — {name} is the {role} key of index {', '.join(matches)}: pass index="

    def _table_key(self, key: Mapping[str, Any]) -> dict:
        info = self.describe()
        if not isinstance(key, Mapping) or set(key) != set(info.key.names):
            given = ", ".join(map(str, key)) if isinstance(key, Mapping) else repr(key)
            raise InputError(f"a key of table {self.name} is a dict with exactly its key "
                             f"attributes {info.key}; got {given}")
        return {n: key_value(n, info.key.type_of(n), key[n], f"table {self.name}")
                for n in info.key.names}

    # -- calls ---------------------------------------------------------------------------------
    def _client(self, segments: int) -> Any:
        """A low-level client (raw Scan/Query pages) whose pool fits `segments` threads."""
        pool = max(getattr(self._config, "max_pool_connections", None) or 10, segments)
        with self._lock:  # boto3 sessions are not thread-safe for client creation
            client = self._clients.get(pool)
            if client is None:
                config = self._config.merge(Config(max_pool_connections=pool))
                client = make_client(self.session, "dynamodb", config=config)
                rawpages.enable_raw_pages(client)  # affects only rawpages' own page calls
                self._clients[pool] = client
            return client

    def _fetch(self, client: Any, operation: str, request: dict, index: str | None,
               parser: ArrowPages) -> dict:
        """One page: its raw body, ``Items`` parsed by ``parser`` when first used (as
        :class:`.arrow_parse.ArrowItems`). botocore resends a throttled request itself (the same page,
        so a read resumes where it was); when its attempts run out the table is really
        throttled. A body that cannot be decoded is resent (:func:`.rawpages.decoded_body`)."""
        request = dict(request)  # this page's own: the caller moves on to the next start key
        mode: Literal["scan", "query"] = "scan" if operation == "Scan" else "query"
        try:
            # parse() decodes the page's envelope now, its items when first used
            page = rawpages.decoded_body(client, mode, parser.parse, **request)
        except (ClientError, BotoCoreError) as err:
            raise self._failed_fetch(err, client, operation, index) from err
        items = page["Items"]
        page["Items"] = ArrowItems(
            lambda: self._items_or_again(items, page, client, mode, request, index, parser),
            len(items))
        return page

    def _items_or_again(self, items: ArrowItems, page: dict, client: Any,
                        mode: Literal["scan", "query"], request: dict, index: str | None,
                        parser: ArrowPages) -> pa.StructArray:
        """The page's items; if its body, whole at its start and end, breaks off inside (a cut
        at an inner "]}" that no CRC32 showed), the same page read again and decoded at once."""
        try:
            return items.array
        except ValueError:
            pass

        def decode_now(body: bytes) -> dict:
            again = parser.parse(body)
            again["Items"].array  # noqa: B018 — parse now: a body still damaged is resent
            return again

        operation = "Scan" if mode == "scan" else "Query"
        try:
            again = rawpages.decoded_body(client, mode, decode_now, **request)
        except (ClientError, BotoCoreError) as err:
            raise self._failed_fetch(err, client, operation, index) from err
        if again.get("LastEvaluatedKey") != page.get("LastEvaluatedKey") \
                or len(again["Items"]) != len(items):
            raise AwsError(f"{self._where(index)}: a damaged page, read again, came back "
                           "different (the table changed meanwhile) — read again", "GarbledBody")
        return again["Items"].array

    def _failed_fetch(self, err: BaseException, client: Any, operation: str,
                      index: str | None) -> XacctError:
        return table_errors.failed_fetch(self.session, self.name, err, client, operation, index)

    def _batch_get(self, keys_and_options: dict) -> list[dict]:
        """BatchGetItem until no key is left unprocessed: botocore cannot resend these (the
        request changes), so this is one of our own retry loops."""
        request = {self.name: keys_and_options}
        found: list[dict] = []
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            reply = self.call("BatchGetItem", RequestItems=request)
            found += reply.get("Responses", {}).get(self.name, [])
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return found
            logger.debug("BatchGetItem on %s left %d keys unprocessed (round %d)", self.name,
                         len(request[self.name]["Keys"]), attempt)
            time.sleep(retries.backoff(attempt))
        raise AwsError(f"table {self.name} is throttled: BatchGetItem left keys unprocessed after "
                       f"{BATCH_ATTEMPTS} rounds — fetch fewer keys at a time or retry later",
                       "UnprocessedKeys")

    # -- errors --------------------------------------------------------------------------------
    def _where(self, index: str | None = None) -> str:
        return table_errors.where(self.name, index)

    def _fail(self, err: BaseException, operation: str, index: str | None = None) -> XacctError:
        return table_errors.translate(self.session, self.name, err, operation, index,
                                      key_for=lambda: self.describe().key_for(index))


def collect_frame(read: PageReader, options: ReadOptions) -> pd.DataFrame:
    """All pages into one frame, column chunk by column chunk (no per-page frames to concat):
    each page is parsed and converted on this thread while the fetching thread gets the next."""
    builder = FrameBuilder(key_names=read.key_names, numbers=options.numbers, sets=options.sets,
                           flatten_maps=options.flatten_maps)
    # No collections for the whole read: converting builds many containers and no cycles, and
    # per-step pauses would switch the collector back on in the middle of the other thread's work.
    with gc_paused():
        for items in read.pages():
            builder.add_items(items)
    df = builder.to_frame()
    df.attrs["xacct"] = read.stats()
    return df


def describe_all(session: boto3.Session, names: Iterable[str]) -> pd.DataFrame:
    """One row per table (keys, indexes, items, size, billing, stream); a table that cannot be
    described gets its one-line error instead, so one bad table does not hide the others."""
    rows = {}
    for name in names:
        try:
            rows[name] = RemoteTable(session, name, progress=False).describe().row()
        except XacctError as err:
            rows[name] = {"error": str(err)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("table")
